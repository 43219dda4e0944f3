//! A prompt argument that declares a question (`prompt-argument.ask`) is asked for when the
//! client leaves it out, through the official Python SDK (`clients/prompt_ask.py`) in both
//! generations: a 2025-11-25 session is asked mid-request, a 2026-07-28 client answers an
//! input-required round and sends `prompts/get` again. The prompt is the conformance fixture's
//! `test_input_required_result_prompt` (argument `context`).

mod support;

use serde_json::{Value, json};
use support::*;

const PROMPT: &str = "test_input_required_result_prompt";
const QUESTION: &str = "What context should the prompt use?";

fn run(mode: &str, cases: &Value, plugins: &std::path::Path, log: &std::path::Path) -> Value {
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/prompt_ask.py");
    let out = std::process::Command::new("python3")
        .arg(script)
        .args([mode, PROMPT, &cases.to_string(), "--"])
        .arg(aerie())
        .args(["serve", "--no-embedded", "--no-cache", "--plugins-dir"])
        .arg(plugins)
        .env("XDG_RUNTIME_DIR", log.parent().unwrap())
        .stderr(std::fs::File::create(log).unwrap())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{mode}: client failed; see {}",
        log.display()
    );
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{mode}: {e}: {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn a_missing_argument_is_asked_for_in_both_generations() {
    let dir = plugins_dir(&["conformance"]);
    let work = tempfile::tempdir().unwrap();
    let cases = json!([
        {"answer": "accept", "value": "the WS-FIN-042 alert"},
        {"answer": "decline"},
        {"answer": "accept", "value": "unused", "args": {"context": "given by the client"}},
    ]);
    for mode in ["auto", "legacy"] {
        let r = run(
            mode,
            &cases,
            dir.path(),
            &work.path().join(format!("{mode}.log")),
        );
        // Asked once, and the answer fills the argument in.
        assert_eq!(r[0]["asked"], json!([QUESTION]), "{mode}: {r}");
        assert_eq!(
            r[0]["texts"],
            json!(["Use this context: the WS-FIN-042 alert"]),
            "{mode}: {r}"
        );
        // Declined: the request fails naming the argument.
        let e = r[1]["error"]
            .as_str()
            .unwrap_or_else(|| panic!("{mode}: {r}"));
        assert!(e.contains("needs argument `context`"), "{mode}: {e}");
        // Given: nobody is asked.
        assert_eq!(r[2]["asked"], json!([]), "{mode}: {r}");
        assert_eq!(
            r[2]["texts"],
            json!(["Use this context: given by the client"]),
            "{mode}: {r}"
        );
    }
}
