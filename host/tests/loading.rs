//! Bad plugins are refused with clear errors naming the plugin and what to fix, and the server
//! still starts with the good ones.

mod support;

use std::process::Command;

use support::*;

fn plugins_list(dir: &std::path::Path) -> (String, String) {
    let out = Command::new(aerie())
        .args([
            "plugins",
            "list",
            "--no-embedded",
            "--no-cache",
            "--plugins-dir",
        ])
        .arg(dir)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "plugins list failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[test]
fn bad_plugins_are_refused_and_good_ones_load() {
    let dir = plugins_dir(&[
        "adversary",
        "hello",
        "bad_name",
        "bad_schema",
        "clash",
        "unknown_op",
        "wrong_world",
    ]);
    std::fs::write(dir.path().join("not_a_component.wasm"), b"\0asm\x01\0\0\0").unwrap();
    std::fs::write(dir.path().join("garbage.wasm"), b"this is not wasm").unwrap();
    let truncated = std::fs::read(fixture("hello")).unwrap();
    std::fs::write(
        dir.path().join("truncated.wasm"),
        &truncated[..truncated.len() / 2],
    )
    .unwrap();

    let (stdout, stderr) = plugins_list(dir.path());
    assert!(
        stdout.contains("adversary 1.0.0") && stdout.contains("hello 0.1.0"),
        "{stdout}"
    );
    assert!(stdout.contains("hello_greet"));
    for (what, expect) in [
        ("bad_name", "tool name `Bad-Name` must match"),
        ("bad_schema", "must have \"type\": \"object\""),
        (
            "clash",
            "tool `echo` is already provided by plugin `adversary`",
        ),
        ("unknown_op", "unknown operation `NoSuchOperationXyz`"),
        ("wrong_world", "does not match the aerie:plugin/tool-group"),
        ("not_a_component", "not a valid WebAssembly component"),
        ("garbage", "not a valid WebAssembly component"),
        ("truncated", "not a valid WebAssembly component"),
    ] {
        let line = stderr
            .lines()
            .find(|l| l.contains(&format!("{what}.wasm")) || l.contains(&format!("`{what}`")));
        let line = line.unwrap_or_else(|| panic!("no refusal for {what} in:\n{stderr}"));
        assert!(
            line.contains(expect),
            "{what}: expected {expect:?} in {line}"
        );
    }
}

#[test]
fn the_operator_picks_which_plugin_serves_a_shared_name() {
    // Two copies of the same plugin: `[plugins.hello] source` says which file serves the name
    // (without it both are refused), and the log says why the other was refused.
    let dir = plugins_dir(&["hello"]);
    std::fs::copy(fixture("hello"), dir.path().join("zz_hello.wasm")).unwrap();
    let config = dir.path().join("aerie.toml");
    std::fs::write(&config, "[plugins.hello]\nsource = \"zz_hello.wasm\"\n").unwrap();
    let out = Command::new(aerie())
        .args(["plugins", "list", "--no-embedded", "--no-cache", "--config"])
        .arg(&config)
        .arg("--plugins-dir")
        .arg(dir.path())
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(stdout.matches("hello 0.1.0").count(), 1, "{stdout}");
    assert!(stdout.contains("zz_hello.wasm"), "{stdout}");
    assert!(
        stderr.contains("belongs to")
            && stderr.contains("[plugins.hello] source = \"zz_hello.wasm\""),
        "{stderr}"
    );
}
