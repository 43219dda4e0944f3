//! The README's tool table is generated from the plugins' descriptors; this keeps it true, and
//! keeps `tools/list` within its byte budget.

mod support;

use support::*;

const BEGIN: &str = "<!-- tools:begin -->\n";
const END: &str = "<!-- tools:end -->";

/// Average bytes per tool in `tools/list` of what a model is shown (name, title, description,
/// input schema, annotations), with every tool listed (writes enabled). Measured 443 with 109 tools
/// (14 groups) once descriptions were tightened; the budget is DESIGN.md's target, see BENCHMARKS.md.
const BUDGET_PER_TOOL: usize = 450;
/// Average bytes of a declared output schema. Counted apart: clients validate results with it
/// and do not show it to the model (BENCHMARKS.md, "What output schemas cost"). Measured 150.
const OUTPUT_SCHEMA_BUDGET: usize = 200;
/// Tools without a fixed result shape: they return the called tool's own result.
const NO_OUTPUT_SCHEMA: &[&str] = &["aerie_call_tool", "aerie_run_approved"];

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
    let schemas: Vec<usize> = tools
        .iter()
        .filter_map(|t| t.output_schema.as_ref())
        .map(|s| serde_json::to_string(s).unwrap().len())
        .collect();
    let shown: Vec<rmcp::model::Tool> = tools
        .iter()
        .cloned()
        .map(|mut t| {
            t.output_schema = None;
            t
        })
        .collect();
    let bytes = serde_json::to_string(&shown).unwrap().len();
    let avg = bytes / tools.len();
    assert!(
        avg <= BUDGET_PER_TOOL,
        "tools/list averages {avg} bytes per tool without output schemas (budget {BUDGET_PER_TOOL})"
    );
    let schema_avg = schemas.iter().sum::<usize>() / schemas.len().max(1);
    assert!(
        schema_avg <= OUTPUT_SCHEMA_BUDGET,
        "output schemas average {schema_avg} bytes (budget {OUTPUT_SCHEMA_BUDGET})"
    );
    // Every tool returns structured content, so every one with a fixed shape declares it.
    let missing: Vec<&str> = tools
        .iter()
        .filter(|t| t.output_schema.is_none() && !NO_OUTPUT_SCHEMA.contains(&t.name.as_ref()))
        .map(|t| t.name.as_ref())
        .collect();
    assert!(
        missing.is_empty(),
        "tools without an output schema: {missing:?}"
    );
    for t in &tools {
        let schema = serde_json::Value::Object((*t.input_schema).clone());
        assert_eq!(schema["type"], "object", "{}", t.name);
        assert!(t.title.is_some(), "{}", t.name);
    }
    // Hints equal to the MCP defaults (readOnly false, destructive true, idempotent false, open
    // world true) are left out; what is left still says what each tool does.
    let hints = |name: &str| {
        let t = tools.iter().find(|t| t.name == name).unwrap();
        serde_json::to_value(&t.annotations).unwrap()
    };
    assert_eq!(
        hints("hosts_search"),
        serde_json::json!({"readOnlyHint": true})
    );
    assert_eq!(
        hints("hunting_create_ioc"),
        serde_json::json!({"destructiveHint": false})
    );
    assert_eq!(
        hints("hosts_contain"),
        serde_json::json!({"idempotentHint": true})
    );
    assert_eq!(
        hints("rtr_run_script"),
        serde_json::Value::Null,
        "all defaults: destructive"
    );
    // Plugin tools' schemas are listed without the `additionalProperties: false` every one has
    // (29 B each); the host still validates against it and names an unknown argument.
    assert!(
        tools
            .iter()
            .filter(|t| !t.name.starts_with("aerie_"))
            .all(|t| !t.input_schema.contains_key("additionalProperties"))
    );
    let e = call_err(
        &client,
        "hosts_search",
        serde_json::json!({"hostnme": "WS-1"}),
    )
    .await;
    assert!(
        e.contains("Invalid arguments") && e.contains("hostnme"),
        "{e}"
    );
    client.cancel().await.unwrap();
}

const EXAMPLE_HEADING: &str = "## Configuration: `aerie.toml`";

/// The example `aerie.toml` in docs/ passes `aerie config check` when copied into a directory
/// with its relative paths created: no path that does not exist, no plugin its own `modules`
/// line leaves out, no placeholder digest.
#[test]
fn example_config_passes_config_check() {
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/aerie.example.toml"
    ))
    .unwrap();
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("plugins")).unwrap();
    std::fs::create_dir(work.path().join("files")).unwrap();
    std::fs::write(work.path().join("aerie.toml"), &example).unwrap();
    let out = std::process::Command::new(aerie())
        .args([
            "config",
            "check",
            "--config",
            "aerie.toml",
            "--cache-dir",
            &shared_cache(),
        ])
        .current_dir(work.path())
        .env_remove("FALCON_CLIENT_ID")
        .env_remove("FALCON_CLIENT_SECRET")
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    // Nothing in it applies to nothing: a warning (other than for the credentials the test
    // leaves out) means the example misleads.
    let warnings: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("WARN") && !l.contains("no Falcon credentials"))
        .collect();
    assert!(warnings.is_empty(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("rtr_upload_file — not served"), "{stdout}");
}

/// The README shows exactly the checked example.
#[test]
fn readme_config_example_is_the_checked_one() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/aerie.example.toml"
    ))
    .unwrap();
    let section = readme
        .find(EXAMPLE_HEADING)
        .map(|i| &readme[i..])
        .expect("README has the configuration section");
    let start = section
        .find("```toml\n")
        .expect("the section has a toml block")
        + 8;
    let len = section[start..].find("```").expect("the block is closed");
    assert!(
        section[start..start + len] == example,
        "README's aerie.toml example differs from docs/aerie.example.toml (the checked one); paste that file into the block"
    );
}

/// CI runs exactly the README's test command, so the set-up the README promises is what CI
/// proves on a fresh machine.
#[test]
fn ci_runs_the_readmes_test_command() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let ci = std::fs::read_to_string(format!("{root}/.ci/run")).unwrap();
    let marker = "# Run the tests";
    let at = readme
        .find(marker)
        .expect("README has a `# Run the tests` line");
    let command = readme[at..]
        .lines()
        .nth(1)
        .expect("the test command follows the comment")
        .trim();
    assert!(command.contains("cargo test --workspace"), "{command}");
    assert!(
        ci.lines().any(|l| l.trim() == command),
        ".ci/run does not run the README's test command `{command}`"
    );
}
