//! Hardening of plugin loading against a hostile plugins directory: descriptor bounds, size caps
//! checked before reading, non-regular entries, name takeover, refusals remembered by digest,
//! and compile-cache entries bound to their component.

mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use aerie::registry::bounds;
use rmcp::service::RunningService;
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{RoleClient, ServiceExt};
use serde_json::json;
use support::*;

fn run(args: &[&str]) -> Output {
    Command::new(aerie())
        .args(args)
        .env("HOME", "/nonexistent")
        .env_remove("FALCON_CLIENT_ID")
        .env_remove("FALCON_CLIENT_SECRET")
        .output()
        .unwrap()
}

/// `aerie plugins list` over `dir` with `extra` flags: (stdout, stderr).
fn list(dir: &Path, extra: &[&str]) -> (String, String) {
    let mut args = vec!["plugins", "list", "--plugins-dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = run(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "plugins list failed: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into(), stderr)
}

fn line_of(text: &str, needle: &str) -> String {
    text.lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle:?} in:\n{text}"))
        .to_string()
}

/// `aerie <args>` as an MCP client over stdio (initialized), and the server's pid.
async fn serve(args: &[&str], log: &Path) -> (RunningService<RoleClient, ()>, u32) {
    let (transport, _) =
        TokioChildProcess::builder(tokio::process::Command::new(aerie()).configure(|c| {
            c.args(args)
                .env_remove("FALCON_CLIENT_ID")
                .env_remove("FALCON_CLIENT_SECRET")
                .env("HOME", "/nonexistent");
        }))
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    let pid = transport.id().expect("child pid");
    let client = tokio::time::timeout(Duration::from_secs(60), ().serve(transport))
        .await
        .expect("initialize is answered")
        .unwrap_or_else(|e| {
            let stderr = std::fs::read_to_string(log).unwrap_or_default();
            panic!("client connects: {e}; the server's stderr:\n{stderr}")
        });
    (client, pid)
}

fn sighup(pid: u32) {
    let ok = Command::new("kill")
        .args(["-HUP", &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

/// Wait until `log` contains `needle` at least `count` times; returns the log.
async fn wait_for(log: &Path, needle: &str, count: usize) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if text.matches(needle).count() >= count {
            return text;
        }
        assert!(
            Instant::now() < deadline,
            "{needle:?} not logged {count} times:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn greet(client: &RunningService<RoleClient, ()>) {
    let r = call(client, "hello_greet", json!({"name": "x"})).await;
    assert_eq!(text(&r), "Hello, x!", "the good plugin serves");
}

#[test]
fn oversized_descriptors_are_refused_naming_the_cap() {
    let dir = plugins_dir(&["bloat_tools", "bloat_schema", "hello"]);
    let (stdout, stderr) = list(dir.path(), &["--no-embedded", "--no-cache"]);
    assert!(stdout.contains("hello 0.1.0"), "{stdout}");
    assert!(!stdout.contains("bloat"), "{stdout}");
    let tools = line_of(&stderr, "bloat_tools.wasm");
    assert!(
        tools.contains("declares 10000 tools; at most 256 per plugin"),
        "{tools}"
    );
    let schema = line_of(&stderr, "bloat_schema.wasm");
    assert!(
        schema.contains("tool `bloat_schema_tool`: input schema is")
            && schema.contains(&format!("bytes; at most {}", bounds::MAX_SCHEMA_BYTES)),
        "{schema}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn first_party_plugins_fit_well_within_the_bounds() {
    let work = tempfile::tempdir().unwrap();
    let cache = shared_cache();
    let (client, _) = serve(
        &["serve", "--allow-writes", "--cache-dir", &cache],
        &work.path().join("stderr.log"),
    )
    .await;
    let tools = client.list_all_tools().await.unwrap();
    assert!(tools.len() > 20, "{} tools", tools.len());
    for t in &tools {
        let schema = serde_json::to_string(&t.input_schema).unwrap();
        let desc = t.description.as_deref().unwrap_or_default();
        let title = t.title.as_deref().unwrap_or_default();
        assert!(schema.len() * 4 <= bounds::MAX_SCHEMA_BYTES, "{}", t.name);
        assert!(
            desc.len() * 4 <= bounds::MAX_DESCRIPTION_BYTES,
            "{}",
            t.name
        );
        assert!(title.len() * 2 <= bounds::MAX_TITLE_BYTES, "{}", t.name);
    }
    for r in client.list_all_resources().await.unwrap() {
        let read = client
            .read_resource(rmcp::model::ReadResourceRequestParams::new(r.uri.clone()))
            .await
            .unwrap();
        let len = serde_json::to_string(&read.contents).unwrap().len();
        assert!(len * 4 <= bounds::MAX_RESOURCE_TEXT_BYTES, "{}", r.uri);
    }
    client.cancel().await.unwrap();
    // Tools per plugin, from `plugins list` (tools are the indented lines under each plugin).
    let out = run(&["plugins", "list", "--no-cache", "--allow-writes"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let mut per_plugin = Vec::new();
    for l in stdout.lines() {
        if !l.starts_with(' ') {
            per_plugin.push(0usize);
        } else if let Some(n) = per_plugin.last_mut() {
            *n += 1;
        }
    }
    assert!(per_plugin.len() >= 6, "{stdout}");
    assert!(
        per_plugin.iter().all(|n| n * 4 <= bounds::MAX_TOOLS),
        "{per_plugin:?}"
    );
}

/// Peak resident memory of a process, in KiB.
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    line_of(&status, "VmHWM:")
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_huge_component_is_refused_before_it_is_read() {
    let dir = plugins_dir(&["hello"]);
    let work = tempfile::tempdir().unwrap();
    // 2 GiB of holes: costs no disk, but reading it whole would cost 2 GiB of memory or more.
    std::fs::File::create(dir.path().join("big.wasm"))
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    let log = work.path().join("stderr.log");
    let cache = shared_cache();
    let (client, pid) = serve(
        &[
            "serve",
            "--no-embedded",
            "--cache-dir",
            &cache,
            "--plugins-dir",
            dir.path().to_str().unwrap(),
        ],
        &log,
    )
    .await;
    greet(&client).await;
    let text = std::fs::read_to_string(&log).unwrap();
    let line = line_of(&text, "big.wasm");
    assert!(
        line.contains("at most 64 MiB (max_component_mib)"),
        "{line}"
    );
    let peak = peak_rss_kib(pid) >> 10;
    assert!(peak < 512, "peak RSS {peak} MiB: the file was read");
    client.cancel().await.unwrap();

    // The cap is configurable: at 1 MiB, hello (about 0.1 MiB) still loads.
    let config = work.path().join("aerie.toml");
    std::fs::write(&config, "max_component_mib = 1\n").unwrap();
    let (stdout, stderr) = list(
        dir.path(),
        &[
            "--no-embedded",
            "--no-cache",
            "--config",
            config.to_str().unwrap(),
        ],
    );
    assert!(stdout.contains("hello 0.1.0"), "{stdout}");
    assert!(
        line_of(&stderr, "big.wasm").contains("at most 1 MiB (max_component_mib)"),
        "{stderr}"
    );
}

fn mkfifo(path: &Path) {
    let ok = Command::new("mkfifo").arg(path).status().unwrap();
    assert!(ok.success(), "mkfifo {}", path.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn fifos_and_pseudo_files_are_refused_alone_and_never_block() {
    let dir = plugins_dir(&["hello", "swap_a"]);
    let work = tempfile::tempdir().unwrap();
    // A FIFO as a signature beside a real component, a FIFO as a component, and a symlink to
    // a file that fails to read.
    mkfifo(&dir.path().join("swap_a.wasm.sig"));
    mkfifo(&dir.path().join("fifo.wasm"));
    std::os::unix::fs::symlink("/proc/self/mem", dir.path().join("mem.wasm")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero.wasm")).unwrap();
    let log = work.path().join("stderr.log");
    let cache = shared_cache();
    let (client, pid) = serve(
        &[
            "serve",
            "--no-embedded",
            "--cache-dir",
            &cache,
            "--plugins-dir",
            dir.path().to_str().unwrap(),
        ],
        &log,
    )
    .await;
    greet(&client).await;
    let text = std::fs::read_to_string(&log).unwrap();
    let sig = line_of(&text, "swap_a.wasm.sig");
    assert!(sig.contains("not a regular file (a FIFO)"), "{sig}");
    assert!(
        line_of(&text, "fifo.wasm").contains("not a regular file (a FIFO)"),
        "{text}"
    );
    assert!(line_of(&text, "mem.wasm").contains("refused"), "{text}");
    assert!(
        line_of(&text, "zero.wasm").contains("not a regular file (a character device)"),
        "{text}"
    );
    let names = tool_names(&client).await;
    assert!(!names.iter().any(|n| n == "which"), "{names:?}");

    // A reload meets the same entries and neither blocks nor fails.
    sighup(pid);
    wait_for(&log, "fifo.wasm", 2).await;
    wait_for(&log, "mem.wasm", 2).await;
    greet(&client).await;
    client.cancel().await.unwrap();
}

const IMPOSTOR_POLICY: &str = "[plugins.rtr]\nfiles = true\nconfig = { secret = \"s3cret\" }\n";

async fn impostor_server(
    config: &str,
    work: &Path,
) -> (RunningService<RoleClient, ()>, PathBuf, tempfile::TempDir) {
    let dir = plugins_dir(&["impostor"]);
    let files = work.join("files");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(files.join("secret.txt"), "file secret").unwrap();
    let config_path = work.join("aerie.toml");
    std::fs::write(&config_path, config).unwrap();
    let log = work.join("stderr.log");
    let cache = shared_cache();
    let (client, _) = serve(
        &[
            "serve",
            "--cache-dir",
            &cache,
            "--config",
            config_path.to_str().unwrap(),
            "--files-dir",
            files.to_str().unwrap(),
            "--plugins-dir",
            dir.path().to_str().unwrap(),
        ],
        &log,
    )
    .await;
    (client, log, dir)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_directory_plugin_cannot_take_an_embedded_plugins_name_or_policy() {
    let work = tempfile::tempdir().unwrap();
    let (client, log, _dir) = impostor_server(IMPOSTOR_POLICY, work.path()).await;
    let names = tool_names(&client).await;
    assert!(
        names.iter().any(|n| n.starts_with("rtr_")),
        "the embedded rtr plugin keeps its name: {names:?}"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("impostor_")),
        "{names:?}"
    );
    for (tool, args) in [
        ("impostor_config", json!({})),
        ("impostor_read", json!({"name": "secret.txt"})),
    ] {
        let r = call(&client, tool, args).await;
        assert!(is_error(&r), "{tool}: {}", text(&r));
        assert!(!text(&r).contains("secret"), "{tool}: {}", text(&r));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    let line = line_of(&text, "impostor.wasm");
    assert!(
        line.contains("the name `rtr` is already taken by the embedded plugin")
            && line.contains("[plugins.rtr] source = \"dir\""),
        "{line}"
    );
    assert!(!text.contains("plugin overridden"), "{text}");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_operator_can_let_a_directory_plugin_replace_an_embedded_one() {
    let work = tempfile::tempdir().unwrap();
    let config = format!("{IMPOSTOR_POLICY}source = \"dir\"\n");
    let (client, log, _dir) = impostor_server(&config, work.path()).await;
    let names = tool_names(&client).await;
    assert!(!names.iter().any(|n| n.starts_with("rtr_")), "{names:?}");
    let r = call(&client, "impostor_config", json!({})).await;
    assert_eq!(text(&r), "s3cret", "the chosen plugin gets [plugins.rtr]");
    let r = call(&client, "impostor_read", json!({"name": "secret.txt"})).await;
    assert_eq!(text(&r), "file secret");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(
        text.contains("embedded plugin replaced, as [plugins.rtr] source = \"dir\" says"),
        "{text}"
    );
    client.cancel().await.unwrap();
}

#[test]
fn two_directory_plugins_with_one_name_are_refused_until_one_is_picked() {
    let dir = plugins_dir(&["hello"]);
    std::fs::copy(fixture("hello"), dir.path().join("zz_hello.wasm")).unwrap();
    let (stdout, stderr) = list(dir.path(), &["--no-embedded", "--no-cache"]);
    assert!(!stdout.contains("hello 0.1.0"), "{stdout}");
    for file in ["/hello.wasm", "zz_hello.wasm"] {
        let line = line_of(&stderr, &format!("{file}) refused"));
        assert!(
            line.contains("the name `hello` is declared by")
                && line.contains("hello.wasm and ")
                && line.contains("[plugins.hello] source = \"hello.wasm\" or \"zz_hello.wasm\""),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_components_are_not_examined_again_until_they_change() {
    let dir = plugins_dir(&["hello", "bloat_tools"]);
    let work = tempfile::tempdir().unwrap();
    let log = work.path().join("stderr.log");
    let cache = shared_cache();
    let (client, pid) = serve(
        &[
            "serve",
            "--no-embedded",
            "--cache-dir",
            &cache,
            "--plugins-dir",
            dir.path().to_str().unwrap(),
        ],
        &log,
    )
    .await;
    greet(&client).await;
    wait_for(&log, "declares 10000 tools", 1).await;
    sighup(pid);
    let text = wait_for(&log, "refused earlier (digest sha256:", 1).await;
    let line = line_of(&text, "refused earlier");
    assert!(
        line.contains("bloat_tools.wasm") && line.contains("declares 10000 tools"),
        "{line}"
    );
    // Another reload: still not examined again.
    sighup(pid);
    wait_for(&log, "refused earlier (digest sha256:", 2).await;
    assert_eq!(
        std::fs::read_to_string(&log)
            .unwrap()
            .matches("declares 10000 tools")
            .count(),
        3,
        "one refusal per load, two of them from memory"
    );

    // New bytes under the same name are examined afresh.
    let tmp = dir.path().join("bloat_tools.wasm.tmp");
    std::fs::copy(fixture("bad_schema"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.path().join("bloat_tools.wasm")).unwrap();
    let text = wait_for(&log, "must have \"type\": \"object\"", 1).await;
    let fresh = line_of(&text, "bad_schema_tool");
    assert!(!fresh.contains("refused earlier"), "{fresh}");
    greet(&client).await;
    client.cancel().await.unwrap();
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// The compiled artefact of the fixture `name` in `cache` (its sidecar is `<artefact>.meta`).
/// The cache file of fixture `name` whose name ends with `suffix` (`.cwasm`, `.describe.json`).
fn entry_of(cache: &Path, name: &str, suffix: &str) -> PathBuf {
    let digest = sha256_hex(&std::fs::read(fixture(name)).unwrap());
    std::fs::read_dir(cache)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(&digest) && n.ends_with(suffix)
        })
        .unwrap_or_else(|| panic!("no {suffix} cache entry for {name}"))
}

fn meta_of(entry: &Path) -> PathBuf {
    PathBuf::from(format!("{}.meta", entry.display()))
}

/// Both kinds of cache entry, the compiled code and the recorded description (which decides
/// the tools and grants a plugin gets), are bound to their component: one planted under
/// another plugin's name is rejected and the plugin's own bytes are used again. A description
/// is read at start-up; the code is loaded at the first call.
#[tokio::test(flavor = "multi_thread")]
async fn a_cache_entry_swapped_for_another_plugins_is_rejected() {
    use std::os::unix::fs::PermissionsExt;
    let work = tempfile::tempdir().unwrap();
    let cache = work.path().join("cache");
    let cache_arg = cache.to_str().unwrap().to_string();
    let both = plugins_dir(&["hello", "adversary"]);
    let (stdout, _) = list(both.path(), &["--no-embedded", "--cache-dir", &cache_arg]);
    assert!(stdout.contains("hello 0.1.0") && stdout.contains("adversary"));
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache), 0o700);
    let entries = |name| {
        [
            entry_of(&cache, name, ".cwasm"),
            entry_of(&cache, name, ".describe.json"),
        ]
    };
    let [hello, hello_desc] = entries("hello");
    let [adversary, adversary_desc] = entries("adversary");
    for f in [&hello, &hello_desc, &adversary, &adversary_desc] {
        assert_eq!(mode(f), 0o600, "{}", f.display());
        assert_eq!(mode(&meta_of(f)), 0o600, "{}", f.display());
    }
    let only_hello = plugins_dir(&["hello"]);
    let hello_args = [
        "--no-embedded",
        "--plugins-dir",
        only_hello.path().to_str().unwrap(),
        "--cache-dir",
        &cache_arg,
    ];
    let plant = |from: &Path, to: &Path, sidecar: bool| {
        std::fs::copy(from, to).unwrap();
        if sidecar {
            std::fs::copy(meta_of(from), meta_of(to)).unwrap();
        }
    };
    // Code: served from hello's own bytes at the first call, never the planted code.
    let calls_hello = async |why: &str| {
        let stderr = greets(&hello_args, work.path()).await;
        let line = line_of(&stderr, "compile-cache entry rejected");
        assert!(line.contains(why), "{line}");
    };
    plant(&adversary, &hello, true);
    calls_hello("belongs to another component").await;
    plant(&adversary, &hello, false);
    calls_hello("does not match the SHA-256 recorded for it").await;

    // Description: hello is listed as itself, never with the planted tools.
    let lists_hello = |why: &str| {
        let mut args = vec!["plugins", "list"];
        args.extend_from_slice(&hello_args[..]);
        let out = run(&args);
        let (stdout, stderr) = (
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
        );
        assert!(
            stdout.contains("hello 0.1.0") && stdout.contains("hello_greet"),
            "{stdout}"
        );
        assert!(
            !stdout.contains("adversary"),
            "used the planted description: {stdout}"
        );
        let line = line_of(&stderr, "cached description rejected");
        assert!(line.contains(why), "{line}");
    };
    plant(&adversary_desc, &hello_desc, true);
    lists_hello("belongs to another component");
    plant(&adversary_desc, &hello_desc, false);
    lists_hello("does not match the SHA-256 recorded for it");

    // Both were stored again from hello's own bytes, owner-only, and are used without complaint.
    let stderr = greets(&hello_args, work.path()).await;
    assert!(!stderr.contains("rejected"), "{stderr}");
    assert_eq!(mode(&entry_of(&cache, "hello", ".cwasm")), 0o600);
    assert_eq!(mode(&entry_of(&cache, "hello", ".describe.json")), 0o600);
}

/// `aerie serve ARGS`, one call of hello's tool, and the server's stderr.
async fn greets(args: &[&str], work: &Path) -> String {
    let log = work.join("serve.log");
    let mut all = vec!["serve"];
    all.extend_from_slice(args);
    let (client, _) = serve(&all, &log).await;
    greet(&client).await;
    client.cancel().await.unwrap();
    std::fs::read_to_string(&log).unwrap()
}

/// `aerie plugin check <path>` with a 20 s deadline: (finished, success, stderr). A run past
/// the deadline is killed and reported as unfinished.
fn plugin_check_within_deadline(path: &Path, extra: &[&str]) -> (bool, bool, String) {
    let work = tempfile::tempdir().unwrap();
    let stderr_path = work.path().join("stderr.log");
    let mut child = Command::new(aerie())
        .args(["plugin", "check", path.to_str().unwrap(), "--no-cache"])
        .args(extra)
        .env("HOME", "/nonexistent")
        .env_remove("FALCON_CLIENT_ID")
        .env_remove("FALCON_CLIENT_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    match status {
        Some(s) => (true, s.success(), stderr),
        None => (false, false, stderr),
    }
}

/// `plugin check` read its argument (and the signature beside it) with a plain read, so a FIFO
/// blocked it forever and a huge file was read whole: it now uses the plugins directory's
/// reader and refuses them at once with the same messages.
#[test]
fn plugin_check_refuses_fifos_devices_and_oversize_files_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.wasm");
    mkfifo(&fifo);
    let big = dir.path().join("big.wasm");
    // Holes: no disk, but reading it whole would cost 2 GiB.
    std::fs::File::create(&big)
        .unwrap()
        .set_len(2 << 30)
        .unwrap();
    // A real component whose signature is a FIFO.
    let signed = dir.path().join("hello.wasm");
    std::fs::copy(fixture("hello"), &signed).unwrap();
    mkfifo(&dir.path().join("hello.wasm.sig"));
    let config = dir.path().join("aerie.toml");
    std::fs::write(&config, "max_component_mib = 1\n").unwrap();
    let small_cap = ["--config", config.to_str().unwrap()];
    let cases: [(&Path, &[&str], &str); 5] = [
        (&fifo, &[], "component file not a regular file (a FIFO)"),
        (
            Path::new("/dev/zero"),
            &[],
            "component file not a regular file (a character device)",
        ),
        (&big, &[], "at most 64 MiB (max_component_mib)"),
        (&big, &small_cap, "at most 1 MiB (max_component_mib)"),
        (&signed, &[], "hello.wasm.sig not a regular file (a FIFO)"),
    ];
    for (path, extra, expected) in cases {
        let (finished, ok, stderr) = plugin_check_within_deadline(path, extra);
        assert!(
            finished,
            "plugin check {} blocked: {stderr}",
            path.display()
        );
        assert!(!ok, "plugin check {} succeeded", path.display());
        assert!(stderr.contains(expected), "{}: {stderr}", path.display());
    }
    // A missing file names the path.
    let missing = dir.path().join("missing.wasm");
    let (finished, ok, stderr) = plugin_check_within_deadline(&missing, &[]);
    assert!(finished && !ok);
    assert!(stderr.contains("missing.wasm"), "{stderr}");
}
