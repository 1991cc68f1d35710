//! Test support: small fake HTTP peers, each on a random loopback port.
pub mod fake_github;
pub mod fake_llm;
pub mod fake_llm_script;
pub mod fake_opencode;
pub mod fake_railway;
pub mod fake_sinks;
pub mod fake_status;
pub mod harness;
pub mod node_checks;
pub mod real_opencode;
pub mod scale;
pub mod served;
