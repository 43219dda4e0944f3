//! `rtr` extensions end to end (see main.rs): keep-alive, extracted files, the script library
//! and `runscript`, batches over several hosts (init, read-only command, get) — and the host's
//! RTR guard refusing hostile batch bodies from the `rtr_forger` fixture before they leave.

use std::path::Path;

use falcon_sim::{KNOWN_HOSTNAME, KNOWN_LINUX_HOSTNAME, KNOWN_USER};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::support::*;

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

/// A well-formed session / batch id that does not exist.
const UNKNOWN_UUID: &str = "fdd6408f-6688-441b-8659-41bcad25441c";

/// `aerie.toml` granting the rtr plugin the files directory and RTR commands up to `tier`.
fn config(work: &Path, tier: &str) -> String {
    let p = work.join(format!("aerie-{tier}.toml"));
    std::fs::write(
        &p,
        format!("[plugins.rtr]\nfiles = true\n\n[rtr]\nmax_tier = \"{tier}\"\n"),
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

async fn open_session(client: &Client, aid: &str) -> String {
    let s = ok_json(&call(client, "rtr_init_session", json!({"host_id": aid})).await);
    s["session_id"].as_str().unwrap().to_string()
}

/// A host that has not been seen for a day (its sensor is offline).
async fn offline_host(client: &Client) -> String {
    let s = ok_json(
        &call(
            client,
            "hosts_search",
            json!({"filter": "last_seen:<='now-1d'", "limit": 1}),
        )
        .await,
    );
    s["results"][0]["device_id"]
        .as_str()
        .expect("the tenant has an offline host")
        .to_string()
}

/// The result entry of `host` in a batch tool's per-host list.
fn entry<'a>(list: &'a Value, host: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|r| r["host_id"] == host)
        .unwrap_or_else(|| panic!("no entry for {host} in {list}"))
}

/// Read tools with writes disabled: pulse, files, scripts, batch init and a batch command with
/// real output per host; bad and unknown ids; the write tools neither listed nor callable.
#[tokio::test(flavor = "multi_thread")]
async fn read_tools_and_their_errors() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "rtr,hosts"], work.path()).await;
    let win = aid_of(&client, KNOWN_HOSTNAME).await;
    let lin = aid_of(&client, KNOWN_LINUX_HOSTNAME).await;
    let session = open_session(&client, &win).await;

    // rtr_pulse_session: the session's device is refreshed.
    sim.clear_requests();
    let r = call(&client, "rtr_pulse_session", json!({"session_id": session})).await;
    let s = ok_json(&r);
    assert_eq!(s["session_id"], session.as_str(), "{s}");
    assert_eq!(s["hostname"], KNOWN_HOSTNAME);
    assert!(text(&r).contains("refreshed"), "{}", text(&r));
    assert_eq!(operations(&sim), ["RTR_ListSessions", "RTR_PulseSession"]);
    let pulse = sim
        .requests()
        .into_iter()
        .find(|r| r.operation.as_deref() == Some("RTR_PulseSession"))
        .unwrap();
    assert!(pulse.body.contains(&win), "{}", pulse.body);
    let e = call_err(&client, "rtr_pulse_session", json!({"session_id": "abc"})).await;
    assert!(e.contains("`abc`"), "{e}");
    let e = call_err(
        &client,
        "rtr_pulse_session",
        json!({"session_id": UNKNOWN_UUID}),
    )
    .await;
    assert!(
        e.to_lowercase().contains("not found") && e.contains(UNKNOWN_UUID),
        "{e}"
    );

    // rtr_list_files: nothing extracted yet in a fresh session.
    let s = ok_json(&call(&client, "rtr_list_files", json!({"session_id": session})).await);
    assert_eq!(s["files"], json!([]), "{s}");
    let e = call_err(&client, "rtr_list_files", json!({"session_id": "s-1"})).await;
    assert!(e.contains("`s-1`"), "{e}");
    let e = call_err(
        &client,
        "rtr_list_files",
        json!({"session_id": UNKNOWN_UUID}),
    )
    .await;
    assert!(e.contains(UNKNOWN_UUID), "{e}");

    // rtr_list_scripts: the library by name, by platform; never the script bodies.
    let s = ok_json(&call(&client, "rtr_list_scripts", json!({})).await);
    let names: Vec<&str> = s["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["collect-logs.sh", "collect-triage.ps1", "list-autoruns.ps1"],
        "{s}"
    );
    assert!(s["results"][0].get("content").is_none(), "{s}");
    let s = ok_json(&call(&client, "rtr_list_scripts", json!({"platform": "linux"})).await);
    assert_eq!(s["total"], 1, "{s}");
    assert_eq!(s["results"][0]["name"], "collect-logs.sh");
    let s = ok_json(&call(&client, "rtr_list_scripts", json!({"name": "triage"})).await);
    assert_eq!(s["results"][0]["name"], "collect-triage.ps1", "{s}");
    let e = call_err(&client, "rtr_list_scripts", json!({"sort": "content.asc"})).await;
    assert!(e.contains("content"), "{e}");
    let e = call_err(&client, "rtr_list_scripts", json!({"platform": "bsd"})).await;
    assert!(e.contains("bsd") || e.contains("platform"), "{e}");

    // rtr_batch_init: two hosts; an offline one fails alone, and alone fails the batch.
    let offline = offline_host(&client).await;
    let r = call(
        &client,
        "rtr_batch_init",
        json!({"host_ids": [win, lin, offline]}),
    )
    .await;
    let s = ok_json(&r);
    let batch = s["batch_id"].as_str().unwrap().to_string();
    assert_eq!(s["hosts"].as_array().unwrap().len(), 2, "{s}");
    assert!(entry(&s["hosts"], &win)["session_id"].is_string());
    assert!(
        entry(&s["failed"], &offline)["error"]
            .as_str()
            .unwrap()
            .contains("offline"),
        "{s}"
    );
    assert!(
        text(&r).contains("sessions on 2 of 3 host(s)"),
        "{}",
        text(&r)
    );
    let e = call_err(&client, "rtr_batch_init", json!({"host_ids": [offline]})).await;
    assert!(e.contains("queue_offline=true"), "{e}");
    let s = ok_json(
        &call(
            &client,
            "rtr_batch_init",
            json!({"host_ids": [offline], "queue_offline": true}),
        )
        .await,
    );
    assert_eq!(s["hosts"][0]["offline_queued"], true, "{s}");
    let e = call_err(&client, "rtr_batch_init", json!({"host_ids": ["WS-1"]})).await;
    assert!(e.contains("`WS-1`"), "{e}");
    let e = call_err(&client, "rtr_batch_init", json!({"host_ids": []})).await;
    assert!(e.contains("at least one host id"), "{e}");

    // rtr_batch_run_command: each host's own output.
    let listing = format!("ls C:\\Users\\{KNOWN_USER}\\Downloads");
    let r = call(
        &client,
        "rtr_batch_run_command",
        json!({"batch_id": batch, "command": listing}),
    )
    .await;
    let s = ok_json(&r);
    assert!(
        entry(&s["results"], &win)["stdout"]
            .as_str()
            .unwrap()
            .contains("invoice.exe"),
        "{s}"
    );
    assert!(
        entry(&s["results"], &lin)["stderr"]
            .as_str()
            .unwrap()
            .contains("No such file"),
        "{s}"
    );
    assert!(
        text(&r).contains("on 2 host(s): 2 finished"),
        "{}",
        text(&r)
    );
    // The batch command is in the host's session log.
    let s = ok_json(
        &call(
            &client,
            "rtr_get_session",
            json!({"session_ids": [session]}),
        )
        .await,
    );
    assert_eq!(
        s["sessions"][0]["recent_commands"][0]["command_string"],
        listing.as_str(),
        "{s}"
    );
    let s = ok_json(
        &call(
            &client,
            "rtr_batch_run_command",
            json!({"batch_id": batch, "command": "ps", "host_ids": [lin]}),
        )
        .await,
    );
    assert_eq!(s["results"].as_array().unwrap().len(), 1, "{s}");
    assert!(
        s["results"][0]["stdout"]
            .as_str()
            .unwrap()
            .contains("falcon-sensor")
    );
    sim.clear_requests();
    for (args, needle) in [
        (json!({"batch_id": batch, "command": "kill 4"}), "read-only"),
        (json!({"batch_id": "b1", "command": "ps"}), "`b1`"),
        (json!({"batch_id": batch, "command": "frob"}), "`frob`"),
        (
            json!({"batch_id": batch, "command": "ps", "host_ids": ["x"]}),
            "`x`",
        ),
    ] {
        let e = call_err(&client, "rtr_batch_run_command", args).await;
        assert!(e.contains(needle), "{needle}: {e}");
    }
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));
    let e = call_err(
        &client,
        "rtr_batch_run_command",
        json!({"batch_id": UNKNOWN_UUID, "command": "ps"}),
    )
    .await;
    assert!(
        e.to_lowercase().contains("not found") && e.contains(UNKNOWN_UUID),
        "{e}"
    );
    let e = call_err(
        &client,
        "rtr_batch_run_command",
        json!({"batch_id": batch, "command": "ps", "host_ids": [offline]}),
    )
    .await;
    assert!(e.contains("not in batch"), "{e}");

    // Writes disabled.
    assert_writes_refused(
        &client,
        &sim,
        &["rtr_run_script", "rtr_batch_get_file"],
        vec![
            (
                "rtr_run_script",
                json!({"session_id": session, "script": "collect-triage.ps1", "confirm": true}),
            ),
            (
                "rtr_batch_get_file",
                json!({"batch_id": batch, "path": "C:\\x"}),
            ),
        ],
    )
    .await;

    // A closed session is not refreshed.
    ok_json(&call(&client, "rtr_close_session", json!({"session_id": session})).await);
    let e = call_err(&client, "rtr_pulse_session", json!({"session_id": session})).await;
    assert!(e.contains("rtr_init_session"), "{e}");
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// `rtr_run_script` previews (script, host, command line; nothing sent), then runs the library
/// script as an admin command; a script for another platform, an unknown script and unsafe
/// arguments are refused before anything runs, and the host's guard holds the default tier.
#[tokio::test(flavor = "multi_thread")]
async fn run_script_preview_then_confirm() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let cfg = config(work.path(), "admin");
    let client = serve_against(
        &sim,
        &["--modules", "rtr,hosts", "--allow-writes", "--config", &cfg],
        work.path(),
    )
    .await;
    let win = aid_of(&client, KNOWN_HOSTNAME).await;
    let session = open_session(&client, &win).await;
    sim.clear_requests();
    let args = json!({"session_id": session, "script": "collect-triage.ps1", "args": "-Quick"});
    let r = call(&client, "rtr_run_script", args.clone()).await;
    let s = ok_json(&r);
    assert!(text(&r).starts_with("PREVIEW"), "{}", text(&r));
    assert!(
        text(&r).contains(&format!(
            "on {KNOWN_HOSTNAME} as an admin command: runscript -CloudFile='collect-triage.ps1' -CommandLine='-Quick'"
        )),
        "{}",
        text(&r)
    );
    assert_eq!(s["script"]["platform"], json!(["windows"]), "{s}");
    assert_eq!(
        operations(&sim),
        ["RTR_ListScripts", "RTR_GetScriptsV2", "RTR_ListSessions"]
    );

    let mut confirmed = args.clone();
    confirmed["confirm"] = json!(true);
    let s = ok_json(&call(&client, "rtr_run_script", confirmed.clone()).await);
    assert_eq!(s["complete"], true, "{s}");
    assert!(
        s["stdout"].as_str().unwrap().contains(&format!(
            "Executing collect-triage.ps1 on {KNOWN_HOSTNAME} with arguments -Quick"
        )),
        "{s}"
    );
    assert_eq!(s["script"]["name"], "collect-triage.ps1");
    assert_eq!(count_op(&sim, "RTR_ExecuteAdminCommand"), 1);
    let s = ok_json(
        &call(
            &client,
            "rtr_list_scripts",
            json!({"name": "collect-triage"}),
        )
        .await,
    );
    assert_eq!(s["results"][0]["run_success_count"], 1, "{s}");

    sim.clear_requests();
    for (args, needle) in [
        (
            json!({"session_id": session, "script": "collect-logs.sh", "confirm": true}),
            "is for linux",
        ),
        (
            json!({"session_id": session, "script": "no-such.ps1", "confirm": true}),
            "rtr_list_scripts",
        ),
        (
            json!({"session_id": session, "script": "collect-triage.ps1", "args": "x; del C:\\y", "confirm": true}),
            "separators",
        ),
        (
            json!({"session_id": session, "script": "it's.ps1"}),
            "quotes",
        ),
        (
            json!({"session_id": "nope", "script": "collect-triage.ps1"}),
            "`nope`",
        ),
    ] {
        let e = call_err(&client, "rtr_run_script", args).await;
        assert!(e.contains(needle), "{needle}: {e}");
    }
    assert_eq!(count_op(&sim, "RTR_ExecuteAdminCommand"), 0);
    let e = call_err(
        &client,
        "rtr_run_script",
        json!({"session_id": UNKNOWN_UUID, "script": "collect-triage.ps1"}),
    )
    .await;
    assert!(e.contains(UNKNOWN_UUID), "{e}");
    client.cancel().await.unwrap();

    // The operator's default tier (read-only): the host's guard refuses the admin command.
    let client = serve_against(
        &sim,
        &["--modules", "rtr,hosts", "--allow-writes"],
        work.path(),
    )
    .await;
    let session = open_session(&client, &win).await;
    confirmed["session_id"] = json!(session);
    sim.clear_requests();
    let e = call_err(&client, "rtr_run_script", confirmed).await;
    assert!(
        e.contains("Denied by aerie's policy") && e.contains("needs the Admin tier"),
        "{e}"
    );
    assert_eq!(count_op(&sim, "RTR_ExecuteAdminCommand"), 0);
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// `rtr_batch_get_file` collects one path from every host of a batch into the files directory
/// (one 7z archive per host, sizes and hashes matching the files on disk), names the hosts
/// where `get` failed, and the session's file list shows what was extracted.
#[tokio::test(flavor = "multi_thread")]
async fn batch_get_file_into_the_files_dir() {
    // Uploads land one status poll after the `get`, as on the real service.
    let sim = sim_with_limited_client(&[], |c| c.rtr_command_polls = 1).await;
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let cfg = config(work.path(), "active-responder");
    let client = serve_against(
        &sim,
        &[
            "--modules",
            "rtr,hosts",
            "--allow-writes",
            "--config",
            &cfg,
            "--files-dir",
            files.path().to_str().unwrap(),
        ],
        work.path(),
    )
    .await;
    let win = aid_of(&client, KNOWN_HOSTNAME).await;
    let lin = aid_of(&client, KNOWN_LINUX_HOSTNAME).await;
    let s = ok_json(&call(&client, "rtr_batch_init", json!({"host_ids": [win, lin]})).await);
    let batch = s["batch_id"].as_str().unwrap().to_string();
    let session = entry(&s["hosts"], &win)["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("C:\\Users\\{KNOWN_USER}\\Downloads\\invoice.exe");
    sim.clear_requests();
    let r = call(
        &client,
        "rtr_batch_get_file",
        json!({"batch_id": batch, "path": path}),
    )
    .await;
    let s = ok_json(&r);
    let saved = entry(&s["files"], &win);
    let name = format!("{win}_invoice.exe.7z");
    assert_eq!(saved["saved_as"], name.as_str(), "{s}");
    let on_disk = std::fs::read(files.path().join(&name)).expect("archive saved");
    assert_eq!(&on_disk[..6], b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive");
    assert_eq!(saved["archive_size"], on_disk.len());
    assert_eq!(
        saved["archive_sha256"],
        hex::encode(Sha256::digest(&on_disk))
    );
    assert!(
        entry(&s["failed"], &lin)["error"]
            .as_str()
            .unwrap()
            .contains("No such file"),
        "{s}"
    );
    assert_eq!(s["pending"], json!([]), "{s}");
    assert!(text(&r).contains("from 1 host(s)") && text(&r).contains("1 failed"));
    // The status was polled until the upload landed, then one archive fetched.
    assert_eq!(
        count_op(&sim, "BatchGetCmdStatus"),
        2,
        "{:?}",
        operations(&sim)
    );
    assert_eq!(count_op(&sim, "RTR_GetExtractedFileContents"), 1);

    // rtr_list_files: the file is in the host's session, with the same hash.
    let s = ok_json(&call(&client, "rtr_list_files", json!({"session_id": session})).await);
    let f = &s["files"][0];
    assert_eq!(f["name"], path.as_str(), "{s}");
    assert_eq!(f["sha256"], saved["file_sha256"]);

    // Bad arguments never reach Falcon.
    sim.clear_requests();
    for (args, needle) in [
        (
            json!({"batch_id": batch, "path": "C:\\a\"b"}),
            "double quotes",
        ),
        (json!({"batch_id": batch, "path": " "}), "path"),
        (json!({"batch_id": "b", "path": "C:\\x"}), "`b`"),
    ] {
        let e = call_err(&client, "rtr_batch_get_file", args).await;
        assert!(e.contains(needle), "{needle}: {e}");
    }
    assert!(sim.requests().is_empty(), "{:?}", operations(&sim));
    let e = call_err(
        &client,
        "rtr_batch_get_file",
        json!({"batch_id": UNKNOWN_UUID, "path": "C:\\x"}),
    )
    .await;
    assert!(e.contains(UNKNOWN_UUID), "{e}");
    client.cancel().await.unwrap();

    // The default tier: the host's guard refuses the implicit `get`, nothing leaves.
    let client = serve_against(
        &sim,
        &[
            "--modules",
            "rtr,hosts",
            "--allow-writes",
            "--files-dir",
            files.path().to_str().unwrap(),
        ],
        work.path(),
    )
    .await;
    let s = ok_json(&call(&client, "rtr_batch_init", json!({"host_ids": [win]})).await);
    sim.clear_requests();
    let e = call_err(
        &client,
        "rtr_batch_get_file",
        json!({"batch_id": s["batch_id"], "path": path}),
    )
    .await;
    assert!(e.contains("`get` needs the ActiveResponder tier"), "{e}");
    assert_eq!(count_op(&sim, "BatchGetCmd"), 0);
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// Missing scopes name the console scope: listing files and batch `get` need
/// `Real time response:write`, scripts `Real time response (admin):write`, sessions and batch
/// commands `Real time response:read`.
#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_are_named() {
    let sim = sim_with_limited_client(&["hosts:read", "real-time-response:read"], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let cfg = config(work.path(), "admin");
    let client = serve_as(
        &sim,
        &[
            "--modules",
            "rtr,hosts",
            "--allow-writes",
            "--config",
            &cfg,
            "--files-dir",
            files.path().to_str().unwrap(),
        ],
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    let win = aid_of(&client, KNOWN_HOSTNAME).await;
    let session = open_session(&client, &win).await;
    let s = ok_json(&call(&client, "rtr_batch_init", json!({"host_ids": [win]})).await);
    let batch = s["batch_id"].as_str().unwrap().to_string();
    ok_json(&call(&client, "rtr_pulse_session", json!({"session_id": session})).await);
    ok_json(
        &call(
            &client,
            "rtr_batch_run_command",
            json!({"batch_id": batch, "command": "pwd"}),
        )
        .await,
    );
    for (tool, args, scope) in [
        (
            "rtr_list_files",
            json!({"session_id": session}),
            "`Real time response:write`",
        ),
        (
            "rtr_batch_get_file",
            json!({"batch_id": batch, "path": "C:\\x"}),
            "`Real time response:write`",
        ),
        (
            "rtr_list_scripts",
            json!({}),
            "`Real time response (admin):write`",
        ),
        (
            "rtr_run_script",
            json!({"session_id": session, "script": "collect-triage.ps1"}),
            "`Real time response (admin):write`",
        ),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(e.contains(scope), "{tool}: {e}");
    }
    client.cancel().await.unwrap();

    let sim2 = sim_with_limited_client(&["hosts:read"], |_| {}).await;
    let client = serve_as(
        &sim2,
        &["--modules", "rtr,hosts"],
        work.path(),
        LIMITED_CLIENT_ID,
        LIMITED_CLIENT_SECRET,
    )
    .await;
    for (tool, args) in [
        ("rtr_pulse_session", json!({"session_id": session})),
        ("rtr_batch_init", json!({"host_ids": [win]})),
        (
            "rtr_batch_run_command",
            json!({"batch_id": batch, "command": "ps"}),
        ),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(e.contains("`Real time response:read`"), "{tool}: {e}");
    }
    client.cancel().await.unwrap();
    sim.shutdown().await;
    sim2.shutdown().await;
}

/// `aerie serve --allow-writes` with only the forger plugin, the given `[rtr]` section and an
/// audit log.
async fn forger(sim: &falcon_sim::Simulator, work: &Path, rtr: &str) -> Client {
    let plugins = work.join("plugins");
    std::fs::create_dir_all(&plugins).unwrap();
    std::fs::copy(fixture("rtr_forger"), plugins.join("rtr_forger.wasm")).unwrap();
    let config = work.join("aerie.toml");
    std::fs::write(&config, format!("[rtr]\n{rtr}\n")).unwrap();
    let audit = work.join("audit.jsonl");
    let (plugins, config, audit) = (
        plugins.to_str().unwrap().to_string(),
        config.to_str().unwrap().to_string(),
        audit.to_str().unwrap().to_string(),
    );
    serve_against(
        sim,
        &[
            "--allow-writes",
            "--no-embedded",
            "--plugins-dir",
            &plugins,
            "--config",
            &config,
            "--audit-log",
            &audit,
        ],
        work,
    )
    .await
}

/// RTR requests that reached the simulator.
fn rtr_sent(sim: &falcon_sim::Simulator) -> usize {
    sim.requests()
        .iter()
        .filter(|r| r.path.starts_with("/real-time-response/"))
        .count()
}

/// A hostile plugin's batch bodies: case-variant and duplicate keys, single-host keys, a command
/// above the operation's tier, a base command that is not the line's first word, an inline
/// script with shell metacharacters — each refused by the host, audited, nothing sent; a clean
/// body goes through.
#[tokio::test(flavor = "multi_thread")]
async fn hostile_batch_bodies_are_refused_on_the_host() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = forger(&sim, work.path(), "max_tier = \"admin\"").await;
    let cases = [
        (
            "forge_batch_command",
            r#"{"base_command":"ls","command_string":"ls","Command_String":"rm -rf C:\\x","batch_id":"b"}"#,
            "`Command_String` differs from `command_string` only by case",
        ),
        (
            "forge_batch_command",
            r#"{"base_command":"ls","command_string":"ls","command_string":"rm -rf C:\\x","batch_id":"b"}"#,
            "`command_string` more than once",
        ),
        (
            "forge_batch_command",
            r#"{"base_command":"ls","command_string":"ls","batch_id":"b","session_id":"s"}"#,
            "unexpected key `session_id`",
        ),
        (
            "forge_batch_command",
            r#"{"base_command":"kill","command_string":"kill 4","batch_id":"b"}"#,
            "BatchCmd runs only ReadOnly commands",
        ),
        (
            "forge_batch_command",
            r#"{"base_command":"ls","command_string":"ls","batch_id":"b","optional_hosts":[1]}"#,
            "`optional_hosts` must be an array of strings",
        ),
        (
            "forge_batch_admin",
            r#"{"base_command":"ls","command_string":"runscript -CloudFile='x'","batch_id":"b"}"#,
            "does not match",
        ),
        (
            "forge_batch_admin",
            "{\"base_command\":\"runscript\",\"command_string\":\"runscript -Raw=```Remove-Item C:\\\\x```\",\"batch_id\":\"b\"}",
            "separator",
        ),
    ];
    let audit = work.path().join("audit.jsonl");
    let denied = || {
        std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|r| r["kind"] == "denied")
            .collect::<Vec<_>>()
    };
    for (tool, body, reason) in cases {
        sim.clear_requests();
        let before = denied().len();
        let e = call_err(&client, tool, json!({ "body": body })).await;
        assert!(
            e.contains("Denied by aerie's policy") && e.contains(reason),
            "{tool} {body}: {e}"
        );
        let d = denied();
        assert_eq!(d.len(), before + 1, "{d:?}");
        assert_eq!(d[d.len() - 1]["tool"], tool);
        assert_eq!(rtr_sent(&sim), 0, "{tool} {body} reached Falcon");
    }
    // The same operations with clean bodies leave (the guard, not the fixture, refused).
    for (tool, body) in [
        (
            "forge_batch_command",
            r#"{"base_command":"ls","command_string":"ls","batch_id":"b","optional_hosts":["a"],"persist_all":false}"#,
        ),
        (
            "forge_batch_admin",
            r#"{"base_command":"runscript","command_string":"runscript -CloudFile='collect-triage.ps1'","batch_id":"b"}"#,
        ),
    ] {
        sim.clear_requests();
        let _ = call(&client, tool, json!({ "body": body })).await;
        assert_eq!(rtr_sent(&sim), 1, "{tool} {body}");
    }
    client.cancel().await.unwrap();

    // The operator's tier holds for batches too: admin batch commands are refused by default.
    let work = tempfile::tempdir().unwrap();
    let client = forger(&sim, work.path(), "").await;
    sim.clear_requests();
    let e = call_err(
        &client,
        "forge_batch_admin",
        json!({"body": r#"{"base_command":"runscript","command_string":"runscript -CloudFile='x'","batch_id":"b"}"#}),
    )
    .await;
    assert!(e.contains("the operator allows up to ReadOnly"), "{e}");
    assert_eq!(rtr_sent(&sim), 0);
    client.cancel().await.unwrap();
    sim.shutdown().await;
}
