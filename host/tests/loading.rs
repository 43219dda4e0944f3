//! Bad plugins are refused with clear errors naming the plugin and what to fix, and the server
//! still starts with the good ones.

mod support;

use std::process::Command;

use support::*;

fn plugins_list(dir: &std::path::Path) -> (String, String) {
    let args = [
        "plugins",
        "list",
        "--no-embedded",
        "--no-cache",
        "--plugins-dir",
    ];
    aerie_ok(args.iter().map(|a| a.as_ref()).chain([dir.as_os_str()]))
}

/// [`aerie_ok`]'s stdout.
fn aerie_stdout<'a>(args: impl IntoIterator<Item = &'a std::ffi::OsStr>) -> String {
    aerie_ok(args).0
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

/// What the binary knows of its embedded plugins without compiling them (built by `host/build.rs`
/// from `host/describe`, a native build of the same crates) is exactly what each component's
/// own `describe()` and `describe-features()` return.
#[tokio::test(flavor = "multi_thread")]
async fn built_in_descriptions_are_what_the_components_return() {
    let h = aerie::testing::Harness::builder().start().await.unwrap();
    let services: std::sync::Arc<dyn aerie::runtime::Services> = h.app.services.clone();
    assert!(aerie::embedded::PLUGINS.len() >= 14);
    for (package, bytes, digest, built_in) in aerie::embedded::PLUGINS {
        let compiled = h.app.runtime.compile(bytes, digest).unwrap();
        let described = h
            .app
            .runtime
            .describe(&compiled, services.clone())
            .await
            .unwrap();
        let built_in: serde_json::Value = serde_json::from_str(built_in)
            .unwrap_or_else(|e| panic!("{package}'s built-in description: {e}"));
        assert_eq!(
            serde_json::to_value(&described).unwrap(),
            built_in,
            "{package}: the built-in description differs from the component's"
        );
    }
}

/// A start from an empty compile cache compiles nothing before serving: the embedded plugins'
/// tools are listed and callable at once (their code compiles at the first call), and the
/// server then fills the cache in the background, which `aerie plugins compile` finds full.
#[tokio::test(flavor = "multi_thread")]
async fn an_empty_cache_is_filled_in_the_background_after_start() {
    let sim = falcon_sim::Simulator::start(Default::default())
        .await
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let base = sim.base_url();
    let envs = [
        ("FALCON_CLIENT_ID", falcon_sim::DEMO_CLIENT_ID),
        ("FALCON_CLIENT_SECRET", falcon_sim::DEMO_CLIENT_SECRET),
        ("FALCON_BASE_URL", base.as_str()),
    ];
    let log = work.path().join("stderr.log");
    let args = ["serve", "--cache-dir", cache.to_str().unwrap()];
    let client = stdio_client(&args, &envs, &log).await;
    let names = tool_names(&client).await;
    assert!(names.len() >= 80, "{names:?}");
    let r = call(&client, "hosts_search", serde_json::json!({"limit": 2})).await;
    assert!(!is_error(&r), "{}", text(&r));

    let artefacts = || {
        std::fs::read_dir(&cache)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".cwasm"))
                    .count()
            })
            .unwrap_or(0)
    };
    let plugins = aerie::embedded::PLUGINS.len();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(600);
    while artefacts() < plugins {
        assert!(
            std::time::Instant::now() < deadline,
            "{} of {plugins} plugins compiled into the cache after 10 minutes; log:\n{}",
            artefacts(),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The cached code serves, loaded rather than compiled again.
    let r = call(
        &client,
        "spotlight_search",
        serde_json::json!({"severity": "critical", "limit": 1}),
    )
    .await;
    assert!(!is_error(&r), "{}", text(&r));
    client.cancel().await.unwrap();
    let stderr = std::fs::read_to_string(&log).unwrap();
    assert!(
        !stderr.contains("rejected"),
        "a background-compiled artefact was refused: {stderr}"
    );
    assert!(
        stderr.contains("embedded plugins compiled into the cache in the background"),
        "{stderr}"
    );

    let stdout = aerie_stdout([
        "plugins".as_ref(),
        "compile".as_ref(),
        "--cache-dir".as_ref(),
        cache.as_os_str(),
    ]);
    assert!(
        stdout.contains(&format!(
            "0 plugin(s) compiled into {}, {plugins} already there",
            cache.display()
        )),
        "{stdout}"
    );
}

/// `aerie plugins compile` fills an empty cache, says so, and refuses `--no-cache`.
#[test]
fn plugins_compile_fills_the_cache_and_needs_one() {
    let out = Command::new(aerie())
        .args(["plugins", "compile", "--no-cache"])
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("there is no compile cache to fill: drop --no-cache"),
        "{stderr}"
    );

    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let compile = || {
        let args = ["plugins", "compile", "--modules", "hosts", "--cache-dir"];
        aerie_stdout(args.iter().map(|a| a.as_ref()).chain([cache.as_os_str()]))
    };
    let at = cache.display();
    assert_eq!(
        compile(),
        format!("1 plugin(s) compiled into {at}, 0 already there\n")
    );
    assert_eq!(
        compile(),
        format!("0 plugin(s) compiled into {at}, 1 already there\n")
    );
}

/// The background compiler is a child of the server that dies with it: a server killed while
/// it compiles leaves no compiler running.
#[test]
fn a_killed_server_leaves_no_compiler_behind() {
    let work = tempfile::tempdir().unwrap();
    let mut server = Command::new(aerie())
        .args(["serve", "--cache-dir"])
        .arg(work.path().join("cache"))
        .env("HOME", "/nonexistent")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let server_pid = server.id().to_string();
    let compiler = || {
        std::fs::read_dir("/proc").unwrap().find_map(|e| {
            let pid = e.ok()?.file_name().into_string().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let ppid = stat
                .rsplit(')')
                .next()?
                .split_whitespace()
                .nth(1)?
                .to_string();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            (ppid == server_pid
                && String::from_utf8_lossy(&cmdline).contains("precompile-embedded"))
            .then_some(pid)
        })
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let child = loop {
        if let Some(pid) = compiler() {
            break pid;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no background compiler started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    server.kill().unwrap();
    server.wait().unwrap();
    // Compiling the 14 plugins takes several seconds (tens in a debug build): one that
    // outlived its server would still be here.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    // Gone, or a zombie waiting for init to reap it.
    let alive = || {
        std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|s| {
            !s.rsplit(')')
                .next()
                .unwrap_or("")
                .trim_start()
                .starts_with('Z')
        })
    };
    while alive() {
        assert!(
            std::time::Instant::now() < deadline,
            "the compiler (pid {child}) outlived its server"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
