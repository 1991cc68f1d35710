use super::*;

const TOKEN: &str = "ghp_0123456789abcdefGHIJKLmnopqrstuv";

fn redactor(pairs: &[(&str, &str)]) -> Redactor {
    let mut s = Secrets::new();
    for (l, v) in pairs {
        s.add(l, v);
    }
    Redactor::new(&s)
}

#[test]
fn raw_secret_is_replaced_everywhere() {
    let r = redactor(&[("GITHUB_TOKEN", TOKEN)]);
    let out = r
        .redact(&format!("bad credentials {TOKEN} and again {TOKEN}."))
        .into_owned();
    assert_eq!(out, "bad credentials <redacted> and again <redacted>.");
}

#[test]
fn text_without_secrets_is_borrowed() {
    let r = redactor(&[("GITHUB_TOKEN", TOKEN)]);
    assert!(matches!(r.redact("nothing here"), Cow::Borrowed(_)));
    assert!(matches!(
        Redactor::new(&Secrets::new()).redact("x"),
        Cow::Borrowed(_)
    ));
}

#[test]
fn base64_forms_are_replaced() {
    let r = redactor(&[("GITHUB_TOKEN", TOKEN)]);
    for engine in [&STANDARD, &URL_SAFE, &STANDARD_NO_PAD, &URL_SAFE_NO_PAD] {
        let encoded = engine.encode(TOKEN);
        let out = r.redact(&format!("echo: {encoded} end")).into_owned();
        assert!(!out.contains(&encoded), "{out}");
        assert!(out.contains(PLACEHOLDER), "{out}");
    }
}

#[test]
fn base64_of_a_longer_text_containing_the_secret_is_replaced_at_every_offset() {
    let r = redactor(&[("GITHUB_TOKEN", TOKEN)]);
    for prefix in ["", "x", "xy", "x-access-token:", "Authorization: token "] {
        for engine in [&STANDARD, &URL_SAFE] {
            let encoded = engine.encode(format!("{prefix}{TOKEN}-suffix"));
            let out = r.redact(&encoded);
            // Only a few characters at each edge (shared with the surrounding bytes) may remain.
            let kept = out.replace(PLACEHOLDER, "");
            assert!(out.contains(PLACEHOLDER), "{prefix:?}: {out}");
            assert!(
                kept.len() <= encoded.len() - 40,
                "{prefix:?}: kept {kept} of {encoded}"
            );
        }
    }
}

#[test]
fn basic_auth_pair_is_replaced() {
    let mut s = Secrets::new();
    s.add_basic_auth("OPENCODE_SERVER_PASSWORD", "opencode", "s3cret-passw0rd");
    let r = Redactor::new(&s);
    let header = format!("Basic {}", STANDARD.encode("opencode:s3cret-passw0rd"));
    let out = r.redact(&format!("sent {header}")).into_owned();
    assert_eq!(out, "sent Basic <redacted>");
    assert_eq!(r.redact("pw s3cret-passw0rd"), "pw <redacted>");
}

#[test]
fn url_credentials_and_secret_params_are_registered() {
    let mut s = Secrets::new();
    s.add_url(
        "OPENAI_BASE_URL",
        "https://user:p%40ss-word-1@llm.example/v1?api-key=k-123456789&model=gpt",
    );
    let r = Redactor::new(&s);
    let out = r.redact("p@ss-word-1 p%40ss-word-1 k-123456789 user:p@ss-word-1 gpt");
    assert_eq!(
        out, "<redacted> <redacted> <redacted> <redacted> gpt",
        "{out}"
    );
}

#[test]
fn display_url_drops_userinfo_and_secret_params() {
    let shown =
        display_url("https://user:hunter2hunter2@llm.example/v1?api-key=abcdefgh123&model=gpt-4o");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(!shown.contains("abcdefgh123"), "{shown}");
    assert!(!shown.contains("user"), "{shown}");
    assert!(shown.contains("model=gpt-4o"), "{shown}");
    assert!(shown.starts_with("https://llm.example/v1?"), "{shown}");
    assert_eq!(
        display_url("http://localhost:4096"),
        "http://localhost:4096/"
    );
}

#[test]
fn short_values_are_reported_not_matched() {
    let mut s = Secrets::new();
    s.add("OPENCODE_SERVER_PASSWORD", "pw");
    assert_eq!(s.too_short(), ["OPENCODE_SERVER_PASSWORD"]);
    assert!(Redactor::new(&s).is_empty());
}

#[test]
fn overlapping_secrets_are_covered_end_to_end() {
    let r = redactor(&[("A", "abcdefgh1234"), ("B", "1234zyxwvuts")]);
    assert_eq!(r.redact("[abcdefgh1234zyxwvuts]"), "[<redacted>]");
}

#[test]
fn json_strings_and_keys_are_redacted() {
    let r = redactor(&[("GITHUB_TOKEN", TOKEN)]);
    let mut v = serde_json::json!({"a": [format!("x {TOKEN}")], TOKEN: 1, "n": 2});
    r.redact_json(&mut v);
    let text = v.to_string();
    assert!(!text.contains(TOKEN), "{text}");
    assert_eq!(v["n"], 2);
}

#[test]
fn multibyte_text_around_a_secret_survives() {
    let r = redactor(&[("K", "clé-secrète-🔑-42")]);
    assert_eq!(r.redact("→clé-secrète-🔑-42←"), "→<redacted>←");
}

#[test]
fn global_registration_grows_and_writer_redacts() {
    use std::io::Write;
    register_value("TEST_GLOBAL_SECRET", "global-secret-value-1");
    assert_eq!(redact("x global-secret-value-1"), "x <redacted>");
    register_value("TEST_GLOBAL_SECRET_2", "global-secret-value-2");
    assert_eq!(
        redact("global-secret-value-1 global-secret-value-2"),
        "<redacted> <redacted>"
    );
    let mut buf = Vec::new();
    let mut w = Writer::new(&mut buf);
    w.write_all(b"log global-secret-value-2\n").unwrap();
    assert_eq!(String::from_utf8(buf).unwrap(), "log <redacted>\n");
}

#[test]
fn debug_never_prints_values() {
    let mut s = Secrets::new();
    s.add("GITHUB_TOKEN", TOKEN);
    assert!(!format!("{s:?}").contains(TOKEN));
}
