//! The README's tool table is generated from the plugins' descriptors; this keeps it true, and
//! keeps `tools/list` within its byte budget.

mod support;

use support::*;

const BEGIN: &str = "<!-- tools:begin -->\n";
const END: &str = "<!-- tools:end -->";

/// Average bytes per tool in `tools/list` (name, title, description, schema, annotations), with
/// every tool listed (writes enabled). Measured 502 at the time of writing; DESIGN.md targets
/// 450, see BENCHMARKS.md.
const BUDGET_PER_TOOL: usize = 520;

#[test]
fn readme_tool_table_matches_the_plugins() {
    let cache = shared_cache();
    let out = std::process::Command::new(aerie())
        .args([
            "plugins",
            "list",
            "--markdown",
            "--allow-writes",
            "--cache-dir",
            &cache,
        ])
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let start = readme
        .find(BEGIN)
        .expect("README has the tools:begin marker")
        + BEGIN.len();
    let end = readme.find(END).expect("README has the tools:end marker");
    assert!(
        readme[start..end] == table,
        "README tool table is stale; regenerate it with `aerie plugins list --markdown --allow-writes` \
         and paste it between the markers. Expected:\n{table}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tools_list_stays_within_budget() {
    let work = tempfile::tempdir().unwrap();
    let cache = shared_cache();
    let client = stdio_client(
        &["serve", "--allow-writes", "--cache-dir", &cache],
        &[],
        &work.path().join("stderr.log"),
    )
    .await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(
        tools.len() >= 25,
        "every gateway tool is served: {}",
        tools.len()
    );
    let bytes = serde_json::to_string(&tools).unwrap().len();
    let avg = bytes / tools.len();
    assert!(
        avg <= BUDGET_PER_TOOL,
        "tools/list averages {avg} bytes per tool (budget {BUDGET_PER_TOOL})"
    );
    for t in &tools {
        let schema = serde_json::Value::Object((*t.input_schema).clone());
        assert_eq!(schema["type"], "object", "{}", t.name);
        assert!(t.annotations.is_some() && t.title.is_some(), "{}", t.name);
    }
    client.cancel().await.unwrap();
}
