//! Publishing plugins through an OCI registry: `aerie plugin push` and `pull` against Debian's
//! `docker-registry` (the CNCF distribution registry) on loopback, into the plugins directory
//! of a running `aerie serve` that requires signatures. The signature and pin checks are the
//! ones loading runs: nothing the registry says makes an unsigned component load.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rmcp::model::CallToolRequestParams;
use rmcp::service::{NotificationContext, RunningService};
use rmcp::transport::{ConfigureCommandExt, TokioChildProcess};
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::{aerie, fixture, free_port, shared_cache, text};

/// A `docker-registry` on 127.0.0.1 with its storage in a temporary directory; killed (by its
/// pid) on drop.
struct Registry {
    child: std::process::Child,
    port: u16,
    storage: PathBuf,
    _dir: tempfile::TempDir,
}

/// Basic credentials of [`Registry::with_password`] (test-only), and their htpasswd line: the
/// registry accepts only bcrypt.
const USER: &str = "aerie";
const PASSWORD: &str = "registry-test-password";
const HTPASSWD: &str = "aerie:$2a$05$2Ykvbrxodk/UVG6EGmlPE.JGmODN545whnbuu3LPr62T1LPwAPRB2\n";

impl Registry {
    fn start() -> Registry {
        Registry::launch(false)
    }

    /// A registry that requires [`USER`] and [`PASSWORD`].
    fn with_password() -> Registry {
        Registry::launch(true)
    }

    fn launch(password: bool) -> Registry {
        let program = std::env::var_os("AERIE_DOCKER_REGISTRY")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/usr/bin/docker-registry"));
        assert!(
            program.exists(),
            "{} is missing: install Debian's registry with `apt-get install docker-registry` \
             (or point AERIE_DOCKER_REGISTRY at a distribution registry binary)",
            program.display()
        );
        let dir = tempfile::tempdir().unwrap();
        let storage = dir.path().join("storage");
        let port = free_port();
        let config = dir.path().join("config.yml");
        let auth = if password {
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, HTPASSWD).unwrap();
            format!(
                "auth:\n  htpasswd:\n    realm: aerie-test\n    path: {}\n",
                file.display()
            )
        } else {
            String::new()
        };
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n{auth}http:\n  addr: 127.0.0.1:{port}\n",
                storage.display()
            ),
        )
        .unwrap();
        let child = Command::new(&program)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("registry.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let registry = Registry {
            child,
            port,
            storage,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the registry did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        registry
    }

    /// `127.0.0.1:<port>/<repo>`.
    fn repo(&self, repo: &str) -> String {
        format!("127.0.0.1:{}/{repo}", self.port)
    }

    fn api(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/v2/{path}", self.port)
    }

    /// The stored bytes of a blob (the filesystem driver's layout).
    fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.storage
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// A manifest as JSON, through the distribution API.
    async fn manifest(&self, repo: &str, reference: &str) -> Value {
        reqwest::Client::new()
            .get(self.api(&format!("{repo}/manifests/{reference}")))
            .header("Accept", "application/vnd.oci.image.manifest.v1+json")
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Upload a blob through the distribution API; returns its digest.
    async fn put_blob(&self, repo: &str, bytes: &[u8]) -> String {
        let digest = format!("sha256:{}", hex::encode(Sha256::digest(bytes)));
        let http = reqwest::Client::new();
        let started = http
            .post(self.api(&format!("{repo}/blobs/uploads/")))
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
        let location = started.headers()["location"].to_str().unwrap().to_string();
        let location = if location.starts_with("http") {
            location
        } else {
            format!("http://127.0.0.1:{}{location}", self.port)
        };
        let sep = if location.contains('?') { '&' } else { '?' };
        http.put(format!("{location}{sep}digest={digest}"))
            .header("Content-Type", "application/octet-stream")
            .body(bytes.to_vec())
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
        digest
    }

    /// Put a manifest under `tag` through the distribution API.
    async fn put_manifest(&self, repo: &str, tag: &str, manifest: &Value) {
        reqwest::Client::new()
            .put(self.api(&format!("{repo}/manifests/{tag}")))
            .header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
            .body(serde_json::to_vec(manifest).unwrap())
            .send()
            .await
            .unwrap()
            .error_for_status()
            .unwrap();
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `aerie <args>` in `cwd` (so no stray ./aerie.toml applies), without registry credentials.
fn run(cwd: &Path, args: &[&str]) -> Output {
    run_with(cwd, args, &[])
}

/// [`run`] with environment variables.
fn run_with(cwd: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(aerie());
    cmd.args(args)
        .current_dir(cwd)
        .env("HOME", "/nonexistent")
        .env_remove("AERIE_CONFIG")
        .env_remove("AERIE_PLUGINS_DIR")
        .env_remove("AERIE_OCI_USERNAME")
        .env_remove("AERIE_OCI_PASSWORD");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into()
}

fn failed(out: &Output) -> String {
    assert!(
        !out.status.success(),
        "succeeded but should not have:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into()
}

/// The `pin it: REF@sha256:…` line of push or pull.
fn pinned(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("pin it: "))
        .unwrap_or_else(|| panic!("no digest printed: {stdout}"))
        .to_string()
}

/// A work directory with a signing key, its config, and copies of fixtures to publish.
struct Work {
    dir: tempfile::TempDir,
    /// `[signing] require_signed` trusting only the work key.
    strict: PathBuf,
}

impl Work {
    fn new() -> Work {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("team.key");
        ok(&run(
            dir.path(),
            &["plugin", "keygen", "--out", key.to_str().unwrap()],
        ));
        let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
        let strict = dir.path().join("strict.toml");
        std::fs::write(
            &strict,
            format!(
                "[signing]\nrequire_signed = true\ntrusted_keys = [\"{}\"]\n",
                public.trim()
            ),
        )
        .unwrap();
        Work { dir, strict }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// A copy of fixture `name` as `<as_name>.wasm`, signed with `key` (None: unsigned).
    fn component(&self, name: &str, as_name: &str, key: Option<&str>) -> PathBuf {
        let p = self.path().join(format!("{as_name}.wasm"));
        std::fs::copy(fixture(name), &p).unwrap();
        if let Some(key) = key {
            let key = self.path().join(key);
            if !key.exists() {
                ok(&run(
                    self.path(),
                    &["plugin", "keygen", "--out", key.to_str().unwrap()],
                ));
            }
            ok(&run(
                self.path(),
                &[
                    "plugin",
                    "sign",
                    p.to_str().unwrap(),
                    "--key",
                    key.to_str().unwrap(),
                ],
            ));
        }
        p
    }

    fn push(&self, file: &Path, reference: &str, extra: &[&str]) -> Output {
        self.push_with(file, reference, extra, &[])
    }

    fn push_with(
        &self,
        file: &Path,
        reference: &str,
        extra: &[&str],
        envs: &[(&str, &str)],
    ) -> Output {
        let mut args = vec!["plugin", "push", file.to_str().unwrap(), reference];
        args.extend_from_slice(&["--no-embedded", "--no-cache"]);
        args.extend_from_slice(extra);
        run_with(self.path(), &args, envs)
    }

    /// `plugin pull` into `dir`, under `config` (None: no config at all).
    fn pull(&self, reference: &str, dir: &Path, config: Option<&Path>) -> Output {
        self.pull_with(reference, dir, config, &[])
    }

    fn pull_with(
        &self,
        reference: &str,
        dir: &Path,
        config: Option<&Path>,
        envs: &[(&str, &str)],
    ) -> Output {
        let mut args = vec![
            "plugin",
            "pull",
            reference,
            "--plugins-dir",
            dir.to_str().unwrap(),
        ];
        if let Some(c) = config {
            args.extend_from_slice(&["--config", c.to_str().unwrap()]);
        }
        run_with(self.path(), &args, envs)
    }
}

#[derive(Clone, Default)]
struct ListChanged(Arc<AtomicUsize>);

impl ClientHandler for ListChanged {
    async fn on_tool_list_changed(&self, _ctx: NotificationContext<RoleClient>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// `aerie serve` (stdio) over the plugins directory `dir`, requiring signatures by `config`;
/// its log goes to `log`.
async fn serve(
    dir: &Path,
    config: &Path,
    log: &Path,
) -> (RunningService<RoleClient, ListChanged>, ListChanged) {
    serve_with(dir, config, log, &[]).await
}

/// [`serve`] with `extra` flags.
async fn serve_with(
    dir: &Path,
    config: &Path,
    log: &Path,
    extra: &[&str],
) -> (RunningService<RoleClient, ListChanged>, ListChanged) {
    let cache = shared_cache();
    let mut args = vec![
        "serve",
        "--no-embedded",
        "--cache-dir",
        cache.as_str(),
        "--plugins-dir",
        dir.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let counter = ListChanged::default();
    let (transport, _) =
        TokioChildProcess::builder(tokio::process::Command::new(aerie()).configure(|c| {
            c.args(&args).env("HOME", "/nonexistent");
        }))
        .stderr(Stdio::from(std::fs::File::create(log).unwrap()))
        .spawn()
        .unwrap();
    (counter.clone().serve(transport).await.unwrap(), counter)
}

/// The plugins' tools (aerie's own `aerie_*` tools are always there).
async fn tools(client: &RunningService<RoleClient, ListChanged>) -> Vec<String> {
    let mut names: Vec<String> = client
        .list_all_tools()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name.to_string())
        .filter(|n| !n.starts_with("aerie_"))
        .collect();
    names.sort();
    names
}

/// Wait until `cond` holds on the server's log, or fail with the log.
async fn wait_for_log(log: &Path, what: &str, cond: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if cond(&text) {
            return text;
        }
        assert!(Instant::now() < deadline, "no {what} in the log:\n{text}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_plugin_pulled_by_digest_into_a_running_server_is_served() {
    let registry = Registry::start();
    let work = Work::new();
    let plugins = tempfile::tempdir().unwrap();
    let log = work.path().join("serve.log");
    let hello = work.component("hello", "hello", Some("team.key"));

    // Unsigned is refused at push unless asked for.
    let unsigned = work.component("hello", "bare", None);
    let e = failed(&work.push(&unsigned, &registry.repo("aerie/bare:1.0"), &[]));
    assert!(
        e.contains("no signature file") && e.contains("--unsigned"),
        "{e}"
    );

    let pushed = ok(&work.push(&hello, &registry.repo("aerie/hello:1.0"), &[]));
    assert!(pushed.contains("(signed)"), "{pushed}");
    let by_digest = pinned(&pushed);
    assert!(
        by_digest.starts_with(&registry.repo("aerie/hello@sha256:")),
        "{by_digest}"
    );

    // The artifact: the wasm config, the component, the signature, name and version.
    let manifest = registry.manifest("aerie/hello", "1.0").await;
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    let layers = manifest["layers"].as_array().unwrap();
    assert_eq!(layers[0]["mediaType"], "application/wasm");
    assert_eq!(
        layers[1]["mediaType"],
        "application/vnd.aerie.plugin.signature.v1+json"
    );
    assert_eq!(manifest["annotations"]["dev.aerie.plugin.name"], "hello");
    assert_eq!(
        manifest["annotations"]["org.opencontainers.image.version"],
        "0.1.0"
    );

    let (client, changed) = serve(plugins.path(), &work.strict, &log).await;
    assert!(tools(&client).await.is_empty());

    let pulled = ok(&work.pull(&by_digest, plugins.path(), Some(&work.strict)));
    assert!(pulled.contains("pulled hello 0.1.0 (signed)"), "{pulled}");
    assert_eq!(
        pinned(&pulled),
        by_digest,
        "pull prints the digest it verified"
    );
    assert_eq!(
        std::fs::read(plugins.path().join("hello.wasm")).unwrap(),
        std::fs::read(&hello).unwrap()
    );
    assert!(plugins.path().join("hello.wasm.sig").exists());
    let left: Vec<_> = std::fs::read_dir(plugins.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "temporary files left: {left:?}");

    // Hot swap serves it, and the client is told.
    let deadline = Instant::now() + Duration::from_secs(60);
    while changed.0.load(Ordering::SeqCst) == 0 {
        assert!(
            Instant::now() < deadline,
            "no tools/list_changed after the pull:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(tools(&client).await, vec!["hello_greet".to_string()]);
    let r = client
        .call_tool(
            CallToolRequestParams::new("hello_greet")
                .with_arguments(json!({"name": "registry"}).as_object().unwrap().clone()),
        )
        .await
        .unwrap();
    assert_eq!(text(&r), "Hello, registry!");
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn unsigned_and_wrongly_signed_plugins_are_refused_under_require_signed() {
    let registry = Registry::start();
    let work = Work::new();
    let plugins = tempfile::tempdir().unwrap();
    let log = work.path().join("serve.log");

    let unsigned = work.component("swap_a", "swapper", None);
    let pushed = ok(&work.push(
        &unsigned,
        &registry.repo("aerie/swapper:unsigned"),
        &["--unsigned"],
    ));
    assert!(pushed.contains("(unsigned)"), "{pushed}");
    let stranger = work.component("adversary", "adversary", Some("stranger.key"));
    ok(&work.push(&stranger, &registry.repo("aerie/stranger:1.0"), &[]));

    // Pulled under the server's config, neither is written.
    let e = failed(&work.pull(
        &registry.repo("aerie/swapper:unsigned"),
        plugins.path(),
        Some(&work.strict),
    ));
    assert!(
        e.contains("no signature layer") && e.contains("require_signed"),
        "{e}"
    );
    let e = failed(&work.pull(
        &registry.repo("aerie/stranger:1.0"),
        plugins.path(),
        Some(&work.strict),
    ));
    assert!(e.contains("not in [signing] trusted_keys"), "{e}");
    assert_eq!(
        std::fs::read_dir(plugins.path()).unwrap().count(),
        0,
        "nothing written"
    );

    // Pulled without that config (someone else's pull, or a copy), the load refuses them.
    let (client, _) = serve(plugins.path(), &work.strict, &log).await;
    ok(&work.pull(
        &registry.repo("aerie/swapper:unsigned"),
        plugins.path(),
        None,
    ));
    ok(&work.pull(&registry.repo("aerie/stranger:1.0"), plugins.path(), None));
    let logged = wait_for_log(&log, "refusal of both", |t| {
        t.contains("unsigned, and require_signed is set")
            && t.contains("not in [signing] trusted_keys")
    })
    .await;
    assert!(
        logged.contains("swapper.wasm") && logged.contains("adversary.wasm"),
        "{logged}"
    );
    assert!(
        tools(&client).await.is_empty(),
        "nothing unsigned is served"
    );
    client.cancel().await.unwrap();

    // A pin is the other way in, and must be the component's exact digest.
    let digest = format!(
        "{:x}",
        Sha256::digest(std::fs::read(fixture("swap_a")).unwrap())
    );
    let other = format!("{:x}", Sha256::digest(b"another component"));
    let pinned_config = |pin: &str| {
        let p = work.path().join(format!("pinned-{}.toml", &pin[..8]));
        std::fs::write(
            &p,
            format!("[signing]\nrequire_signed = true\npinned = [\"sha256:{pin}\"]\n"),
        )
        .unwrap();
        p
    };
    let fresh = tempfile::tempdir().unwrap();
    let e = failed(&work.pull(
        &registry.repo("aerie/swapper:unsigned"),
        fresh.path(),
        Some(&pinned_config(&other)),
    ));
    assert!(
        e.contains("unsigned") && e.contains(&digest),
        "names the digest to pin: {e}"
    );
    ok(&work.pull(
        &registry.repo("aerie/swapper:unsigned"),
        fresh.path(),
        Some(&pinned_config(&digest)),
    ));
    assert!(fresh.path().join("swapper.wasm").exists());
}

#[tokio::test(flavor = "multi_thread")]
async fn tampered_artifacts_and_wrong_references_are_refused() {
    let registry = Registry::start();
    let work = Work::new();
    let plugins = tempfile::tempdir().unwrap();
    let hello = work.component("hello", "hello", Some("team.key"));
    let pushed = ok(&work.push(&hello, &registry.repo("aerie/hello:1.0"), &[]));
    let by_digest = pinned(&pushed);

    // Unknown tag, unknown digest, no registry there.
    let e = failed(&work.pull(&registry.repo("aerie/hello:2.0"), plugins.path(), None));
    assert!(e.contains("unknown reference"), "{e}");
    let wrong = registry.repo(&format!("aerie/hello@sha256:{}", "0".repeat(64)));
    let e = failed(&work.pull(&wrong, plugins.path(), None));
    assert!(e.contains("unknown reference"), "{e}");
    let e = failed(&work.pull(
        &format!("127.0.0.1:{}/aerie/hello:1.0", free_port()),
        plugins.path(),
        None,
    ));
    assert!(e.contains("unreachable"), "{e}");

    // The tag re-pointed at a manifest whose component is another one, keeping hello's
    // signature layer: the registry "says" it is signed; the signature check says otherwise,
    // with or without a config. The digest pin still gets the original.
    let mut forged = registry.manifest("aerie/hello", "1.0").await;
    let swapped = std::fs::read(fixture("swap_a")).unwrap();
    let swapped_digest = registry.put_blob("aerie/hello", &swapped).await;
    forged["layers"][0]["digest"] = json!(swapped_digest);
    forged["layers"][0]["size"] = json!(swapped.len());
    registry.put_manifest("aerie/hello", "1.0", &forged).await;
    for config in [None, Some(work.strict.as_path())] {
        let e = failed(&work.pull(&registry.repo("aerie/hello:1.0"), plugins.path(), config));
        assert!(e.contains("different component bytes"), "{e}");
    }
    assert_eq!(
        std::fs::read_dir(plugins.path()).unwrap().count(),
        0,
        "nothing written"
    );
    ok(&work.pull(&by_digest, plugins.path(), Some(&work.strict)));
    std::fs::remove_file(plugins.path().join("hello.wasm")).unwrap();
    std::fs::remove_file(plugins.path().join("hello.wasm.sig")).unwrap();

    // The component's stored bytes changed under its digest (tampered storage): the client's
    // digest check refuses it before anything is written.
    let layer = registry
        .manifest("aerie/hello", by_digest.rsplit('@').next().unwrap())
        .await["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let blob = registry.blob_file(&layer);
    let mut bytes = std::fs::read(&blob).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&blob, &bytes).unwrap();
    let e = failed(&work.pull(&by_digest, plugins.path(), None));
    assert!(
        e.contains("do not match their digest") && e.contains("tampered"),
        "{e}"
    );
    assert_eq!(
        std::fs::read_dir(plugins.path()).unwrap().count(),
        0,
        "nothing written"
    );

    // Not a plugin artifact: a config of another media type.
    let mut image = forged.clone();
    let config_digest = registry.put_blob("aerie/other", b"{}").await;
    image["config"] = json!({
        "mediaType": "application/vnd.oci.image.config.v1+json",
        "digest": config_digest,
        "size": 2,
    });
    let swapped_digest = registry.put_blob("aerie/other", &swapped).await;
    image["layers"] = json!([{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": swapped_digest, "size": swapped.len()}]);
    registry.put_manifest("aerie/other", "1.0", &image).await;
    let e = failed(&work.pull(&registry.repo("aerie/other:1.0"), plugins.path(), None));
    assert!(
        e.contains("not a wasm artifact") && e.contains("application/vnd.oci.image.config.v1+json"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn serve_pulls_pinned_plugins_before_loading_and_refuses_unsigned_ones() {
    let registry = Registry::start();
    let work = Work::new();
    let plugins = tempfile::tempdir().unwrap();
    let hello = work.component("hello", "hello", Some("team.key"));
    let by_digest = pinned(&ok(&work.push(
        &hello,
        &registry.repo("aerie/hello:1.0"),
        &[],
    )));
    let log = work.path().join("serve.log");
    let (client, _) = serve_with(plugins.path(), &work.strict, &log, &["--pull", &by_digest]).await;
    assert_eq!(tools(&client).await, vec!["hello_greet".to_string()]);
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains(&by_digest),
        "the pull is logged with its digest: {logged}"
    );
    client.cancel().await.unwrap();

    // Unsigned under require_signed: start-up stops, naming why; nothing is written.
    let bare = work.component("swap_a", "swapper", None);
    ok(&work.push(&bare, &registry.repo("aerie/swapper:1.0"), &["--unsigned"]));
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(aerie())
        .args(["serve", "--no-embedded", "--no-cache", "--plugins-dir"])
        .arg(empty.path())
        .arg("--config")
        .arg(&work.strict)
        .args(["--pull", &registry.repo("aerie/swapper:1.0")])
        .env("HOME", "/nonexistent")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let e = failed(&out);
    assert!(
        e.contains("no signature layer") && e.contains("require_signed"),
        "{e}"
    );
    assert_eq!(std::fs::read_dir(empty.path()).unwrap().count(), 0);
}

#[test]
fn registry_credentials_come_from_the_environment_and_are_never_shown() {
    let registry = Registry::with_password();
    let work = Work::new();
    let plugins = tempfile::tempdir().unwrap();
    let hello = work.component("hello", "hello", Some("team.key"));
    let reference = registry.repo("aerie/hello:1.0");
    let wrong_password = "wrong-registry-password";
    // Everything that handles the request at trace level (not the compiler: slow and beside the
    // point).
    let trace = (
        "AERIE_LOG",
        "info,aerie=trace,oci_client=trace,reqwest=trace,hyper=trace,hyper_util=trace",
    );

    let e = failed(&work.push(&hello, &reference, &[]));
    assert!(
        e.contains("refused access") && e.contains("AERIE_OCI_USERNAME"),
        "{e}"
    );
    let only_user = [("AERIE_OCI_USERNAME", USER)];
    let e = failed(&work.push_with(&hello, &reference, &[], &only_user));
    assert!(
        e.contains("set both AERIE_OCI_USERNAME and AERIE_OCI_PASSWORD"),
        "{e}"
    );
    let wrong = [
        ("AERIE_OCI_USERNAME", USER),
        ("AERIE_OCI_PASSWORD", wrong_password),
        trace,
    ];
    let refused = work.push_with(&hello, &reference, &[], &wrong);
    assert!(failed(&refused).contains("refused access"));

    let right = [
        ("AERIE_OCI_USERNAME", USER),
        ("AERIE_OCI_PASSWORD", PASSWORD),
        trace,
    ];
    let pushed = work.push_with(&hello, &reference, &[], &right);
    let by_digest = pinned(&ok(&pushed));
    let e = failed(&work.pull(&by_digest, plugins.path(), None));
    assert!(e.contains("refused access"), "{e}");
    let pulled = work.pull_with(&by_digest, plugins.path(), Some(&work.strict), &right);
    ok(&pulled);
    assert!(plugins.path().join("hello.wasm").exists());

    // In no output, even at trace level: neither the password nor its basic-auth encoding.
    use base64::Engine;
    for (out, password) in [
        (&refused, wrong_password),
        (&pushed, PASSWORD),
        (&pulled, PASSWORD),
    ] {
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("TRACE"), "trace logging was on: {all}");
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{password}"));
        assert!(!all.contains(password) && !all.contains(&basic), "{all}");
    }
}
