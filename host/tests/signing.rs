//! Signed plugins: keygen, sign, trusted keys and pins, `require_signed` (even with a warm
//! compile cache), and `aerie plugin check`.

mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::*;

fn run(args: &[&str]) -> Output {
    Command::new(aerie())
        .args(args)
        .env("HOME", "/nonexistent")
        .output()
        .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into()
}

fn list(dir: &Path, config: &Path, cache: &Path) -> (String, String) {
    let out = run(&[
        "plugins",
        "list",
        "--no-embedded",
        "--plugins-dir",
        dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
        "--cache-dir",
        cache.to_str().unwrap(),
    ]);
    (ok(&out), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn require_signed_refuses_unsigned_and_badly_signed_plugins() {
    let work = tempfile::tempdir().unwrap();
    let dir = plugins_dir(&["hello", "adversary", "swap_a"]);
    let cache = work.path().join("cache");
    let key = work.path().join("team.key");
    let keygen = ok(&run(&["plugin", "keygen", "--out", key.to_str().unwrap()]));
    let public = std::fs::read_to_string(key.with_extension("pub"))
        .unwrap()
        .trim()
        .to_string();
    assert!(keygen.contains(&public));

    // Warm the compile cache with every plugin while signatures are not required.
    let open = work.path().join("open.toml");
    std::fs::write(&open, "").unwrap();
    let (stdout, _) = list(dir.path(), &open, &cache);
    assert!(
        stdout.contains("adversary") && stdout.contains("hello"),
        "{stdout}"
    );

    let hello = dir.path().join("hello.wasm");
    ok(&run(&[
        "plugin",
        "sign",
        hello.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]));
    // A signature copied onto another component does not verify.
    std::fs::copy(
        dir.path().join("hello.wasm.sig"),
        dir.path().join("swap_a.wasm.sig"),
    )
    .unwrap();

    let strict = work.path().join("strict.toml");
    std::fs::write(
        &strict,
        format!("[signing]\nrequire_signed = true\ntrusted_keys = [\"{public}\"]\n"),
    )
    .unwrap();
    let (stdout, stderr) = list(dir.path(), &strict, &cache);
    assert!(stdout.contains("hello 0.1.0"), "{stdout}");
    assert!(
        !stdout.contains("adversary") && !stdout.contains("swapper"),
        "cached code must not bypass signing: {stdout}"
    );
    let line = |name: &str| {
        stderr
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_default()
            .to_string()
    };
    assert!(line("adversary.wasm").contains("unsigned"), "{stderr}");
    assert!(line("swap_a.wasm").contains("bad signature"), "{stderr}");

    // A key the policy does not trust is refused under require_signed.
    let other = work.path().join("other.key");
    ok(&run(&[
        "plugin",
        "keygen",
        "--out",
        other.to_str().unwrap(),
    ]));
    ok(&run(&[
        "plugin",
        "sign",
        dir.path().join("adversary.wasm").to_str().unwrap(),
        "--key",
        other.to_str().unwrap(),
    ]));
    let (stdout, stderr) = list(dir.path(), &strict, &cache);
    assert!(!stdout.contains("adversary"), "{stdout}");
    assert!(
        line_of(&stderr, "adversary.wasm").contains("not in [signing] trusted_keys"),
        "{stderr}"
    );

    // A pinned digest loads without a signature.
    let digest = {
        use std::io::Read;
        let mut b = Vec::new();
        std::fs::File::open(dir.path().join("adversary.wasm"))
            .unwrap()
            .read_to_end(&mut b)
            .unwrap();
        sha256(&b)
    };
    std::fs::remove_file(dir.path().join("adversary.wasm.sig")).unwrap();
    let pinned = work.path().join("pinned.toml");
    std::fs::write(
        &pinned,
        format!("[signing]\nrequire_signed = true\npinned = [\"sha256:{digest}\"]\n"),
    )
    .unwrap();
    let (stdout, _) = list(dir.path(), &pinned, &cache);
    assert!(stdout.contains("adversary 1.0.0"), "{stdout}");
}

fn line_of(text: &str, needle: &str) -> String {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_default()
        .to_string()
}

fn sha256(bytes: &[u8]) -> String {
    // The digest `aerie plugin check` prints, read back from its output.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.wasm");
    std::fs::write(&p, bytes).unwrap();
    let out = ok(&run(&[
        "plugin",
        "check",
        p.to_str().unwrap(),
        "--no-cache",
    ]));
    out.split("sha256 ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn plugin_check_reports_grants_or_what_to_fix() {
    let out = ok(&run(&[
        "plugin",
        "check",
        fixture("adversary").to_str().unwrap(),
        "--no-cache",
    ]));
    assert!(out.contains("ok — plugin adversary 1.0.0"), "{out}");
    assert!(
        out.contains("declared_op") && out.contains("+ QueryDevicesByFilter"),
        "{out}"
    );
    assert!(
        out.contains("write_files — not served: write tool; writes are disabled"),
        "{out}"
    );

    let bad = run(&[
        "plugin",
        "check",
        fixture("bad_name").to_str().unwrap(),
        "--no-cache",
    ]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("tool name `Bad-Name` must match"));
    let wrong = run(&[
        "plugin",
        "check",
        fixture("wrong_world").to_str().unwrap(),
        "--no-cache",
    ]);
    assert!(
        String::from_utf8_lossy(&wrong.stderr)
            .contains("does not match the aerie:plugin/tool-group")
    );
}
