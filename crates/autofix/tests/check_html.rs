//! `autofix check --html FILE` on the demo project, rendered by headless Chromium (the Debian
//! `chromium` package `.ci/run` installs): the screenshot must show the page and its charts.

use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_autofix");

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|bin| {
        Command::new(bin)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    })
}

fn screenshot(browser: &str, html: &Path, png: &Path, profile: &Path) {
    let out = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--hide-scrollbars",
            "--window-size=1200,2200",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--screenshot={}", png.display()))
        .arg(format!("file://{}", html.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success() && png.is_file(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// RGB pixels of a PNG.
fn pixels(png: &Path) -> Vec<[u8; 3]> {
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(png).expect("open screenshot"),
    ));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("one frame");
    let step = info.color_type.samples();
    assert!(step >= 3, "colour screenshot, got {:?}", info.color_type);
    buf[..info.buffer_size()]
        .chunks(step)
        .map(|p| [p[0], p[1], p[2]])
        .collect()
}

fn near(p: [u8; 3], c: [u8; 3]) -> bool {
    p.iter().zip(c).all(|(a, b)| a.abs_diff(b) <= 40)
}

#[test]
fn the_html_report_renders_with_its_charts() {
    let Some(browser) = chromium() else {
        test_data::unavailable(
            "chromium is not installed",
            ".ci/run installs the Debian package",
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("autofix-html-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let html = dir.join("report.html");
    let out = Command::new(BIN)
        .args(["check", "--html"])
        .arg(&html)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .expect("run autofix");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&html).expect("report written");
    assert_eq!(
        text.matches("<svg").count(),
        3,
        "one chart per demo incident"
    );
    for service in ["image-worker", "reports-api", "storefront-api"] {
        assert!(text.contains(service), "{service} in the report");
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains('\x1b'), "piped output has no colour codes");
    assert!(
        stdout
            .lines()
            .any(|l| l.starts_with("reports-api") && l.contains('█')),
        "a sparkline per finding: {stdout}"
    );

    let png = dir.join("shot.png");
    screenshot(browser, &html, &png, &dir.join("profile"));
    let px = pixels(&png);
    let background = px.iter().filter(|p| near(**p, [250, 250, 250])).count();
    assert!(
        background < px.len() * 97 / 100,
        "the page is not blank: {background} of {} pixels are background",
        px.len()
    );
    let blue = px.iter().filter(|p| near(**p, [31, 119, 180])).count();
    let red = px.iter().filter(|p| near(**p, [214, 39, 40])).count();
    assert!(blue > 500, "the series lines are drawn ({blue} px)");
    assert!(red > 200, "the threshold lines are drawn ({red} px)");
    let _ = std::fs::remove_dir_all(&dir);
}
