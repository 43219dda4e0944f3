//! Every `rtr` tool end to end: the real `aerie` binary, the embedded plugin and the simulator's
//! RTR sessions, commands and files, through rmcp's client — real output from the well-known
//! host, file transfer through the operator's files directory, chunked output, and each tool's
//! error paths (bad argument, not found, missing scope, writes disabled, preview without confirm).

mod support;

use std::path::Path;

use falcon_sim::{KNOWN_HOSTNAME, KNOWN_USER};
use serde_json::json;
use sha2::{Digest, Sha256};
use support::*;

/// A well-formed session / request id that does not exist.
const UNKNOWN_UUID: &str = "fdd6408f-6688-441b-8659-41bcad25441c";

const WRITE_TOOLS: &[&str] = &[
    "rtr_run_response_command",
    "rtr_upload_file",
    "rtr_download_file",
];

/// `aerie.toml` granting the rtr plugin the files directory and admin commands.
fn config(work: &Path) -> String {
    let p = work.join("aerie.toml");
    std::fs::write(
        &p,
        "[plugins.rtr]\nfiles = true\n\n[rtr]\nmax_tier = \"admin\"\n",
    )
    .unwrap();
    p.to_str().unwrap().to_string()
}

type Client = rmcp::service::RunningService<rmcp::RoleClient, ()>;

async fn open_session(client: &Client, aid: &str) -> String {
    let s = ok_json(&call(client, "rtr_init_session", json!({"host_id": aid})).await);
    assert_eq!(s["device_id"], aid, "{s}");
    s["session_id"].as_str().unwrap().to_string()
}

/// Read tools with writes disabled: a session on the known host, read-only commands with real
/// output, session status, command results, closing; bad and unknown ids; write tools neither
/// listed nor callable.
#[tokio::test(flavor = "multi_thread")]
async fn read_tools_and_their_errors() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "rtr,hosts"], work.path()).await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;

    // rtr_init_session.
    let r = call(&client, "rtr_init_session", json!({"host_id": aid})).await;
    let s = ok_json(&r);
    let session = s["session_id"].as_str().unwrap().to_string();
    assert_eq!(s["device_id"], aid.as_str());
    assert!(text(&r).contains(&session));
    let e = call_err(
        &client,
        "rtr_init_session",
        json!({"host_id": "WS-FIN-042"}),
    )
    .await;
    assert!(e.contains("`WS-FIN-042`"), "{e}");
    let e = call_err(
        &client,
        "rtr_init_session",
        json!({"host_id": "0123456789abcdef0123456789abcdef"}),
    )
    .await;
    assert!(e.contains("0123456789abcdef0123456789abcdef"), "{e}");

    // rtr_run_command: the user's Downloads holds the sample; ps lists the sensor.
    let r = call(
        &client,
        "rtr_run_command",
        json!({"session_id": session, "command": format!("ls C:\\Users\\{KNOWN_USER}\\Downloads")}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["complete"], true);
    assert!(s["stdout"].as_str().unwrap().contains("invoice.exe"), "{s}");
    let ls_request = s["cloud_request_id"].as_str().unwrap().to_string();
    let s = ok_json(
        &call(
            &client,
            "rtr_run_command",
            json!({"session_id": session, "command": "ps"}),
        )
        .await,
    );
    assert!(
        s["stdout"]
            .as_str()
            .unwrap()
            .contains("CSFalconService.exe"),
        "{s}"
    );
    for (args, needle) in [
        (json!({"session_id": "abc", "command": "ps"}), "`abc`"),
        (
            json!({"session_id": session, "command": "frobnicate now"}),
            "`frobnicate` is not an RTR command",
        ),
        (
            json!({"session_id": session, "command": "rm C:\\x"}),
            "rtr_run_response_command",
        ),
        (json!({"session_id": session, "command": " "}), "1-4096"),
    ] {
        let e = call_err(&client, "rtr_run_command", args).await;
        assert!(e.contains(needle), "{needle}: {e}");
    }
    let e = call_err(
        &client,
        "rtr_run_command",
        json!({"session_id": UNKNOWN_UUID, "command": "ps"}),
    )
    .await;
    assert!(e.contains(UNKNOWN_UUID), "{e}");

    // rtr_get_command_result: the same output again by cloud_request_id.
    let s = ok_json(
        &call(
            &client,
            "rtr_get_command_result",
            json!({"cloud_request_id": ls_request}),
        )
        .await,
    );
    assert!(s["stdout"].as_str().unwrap().contains("invoice.exe"), "{s}");
    let e = call_err(
        &client,
        "rtr_get_command_result",
        json!({"cloud_request_id": "42"}),
    )
    .await;
    assert!(e.contains("`42`"), "{e}");
    let e = call_err(
        &client,
        "rtr_get_command_result",
        json!({"cloud_request_id": UNKNOWN_UUID}),
    )
    .await;
    assert!(
        e.to_lowercase().contains("not found") && e.contains(UNKNOWN_UUID),
        "{e}"
    );

    // rtr_get_session: host and the commands run so far, newest first.
    let s = ok_json(
        &call(
            &client,
            "rtr_get_session",
            json!({"session_ids": [session]}),
        )
        .await,
    );
    let sess = &s["sessions"][0];
    assert_eq!(sess["id"], session.as_str());
    assert_eq!(sess["device_id"], aid.as_str());
    let cmds: Vec<&str> = sess["recent_commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["base_command"].as_str().unwrap())
        .collect();
    assert_eq!(&cmds[..2], ["ps", "ls"], "{s}");
    let e = call_err(&client, "rtr_get_session", json!({"session_ids": ["x"]})).await;
    assert!(e.contains("`x`"), "{e}");
    let e = call_err(
        &client,
        "rtr_get_session",
        json!({"session_ids": [UNKNOWN_UUID]}),
    )
    .await;
    assert!(
        e.to_lowercase().contains("not found") && e.contains(UNKNOWN_UUID),
        "{e}"
    );

    // Writes disabled: not listed, refused, nothing sent.
    assert_writes_refused(
        &client,
        &sim,
        WRITE_TOOLS,
        vec![
            (
                "rtr_run_response_command",
                json!({"session_id": session, "command": "kill 4242", "confirm": true}),
            ),
            (
                "rtr_upload_file",
                json!({"session_id": session, "file": "a.txt"}),
            ),
            (
                "rtr_download_file",
                json!({"session_id": session, "path": "C:\\x"}),
            ),
        ],
    )
    .await;

    // rtr_close_session: the session is then reported deleted.
    let s = ok_json(&call(&client, "rtr_close_session", json!({"session_id": session})).await);
    assert_eq!(s["closed"], session.as_str());
    let s = ok_json(
        &call(
            &client,
            "rtr_get_session",
            json!({"session_ids": [session]}),
        )
        .await,
    );
    assert!(s["sessions"][0]["deleted_at"].is_string(), "{s}");
    assert_eq!(count_op(&sim, "RTR_DeleteSession"), 1);
    let e = call_err(&client, "rtr_close_session", json!({"session_id": "nope"})).await;
    assert!(e.contains("`nope`"), "{e}");
    let e = call_err(
        &client,
        "rtr_close_session",
        json!({"session_id": UNKNOWN_UUID}),
    )
    .await;
    assert!(e.contains(UNKNOWN_UUID), "{e}");
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// Response commands with writes enabled: the preview names host and command and sends no
/// command; confirm runs it through the active-responder endpoint and it shows in the session.
#[tokio::test(flavor = "multi_thread")]
async fn response_command_preview_then_confirm() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let cfg = config(work.path());
    let client = serve_against(
        &sim,
        &["--modules", "rtr,hosts", "--allow-writes", "--config", &cfg],
        work.path(),
    )
    .await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;
    let session = open_session(&client, &aid).await;
    sim.clear_requests();
    let r = call(
        &client,
        "rtr_run_response_command",
        json!({"session_id": session, "command": "kill 4120"}),
    )
    .await;
    let s = ok_json(&r);
    assert!(text(&r).starts_with("PREVIEW"), "{}", text(&r));
    assert!(text(&r).contains(&format!("Would run `kill 4120` on {KNOWN_HOSTNAME}")));
    assert_eq!(s["tier"], "active_responder");
    assert_eq!(count_op(&sim, "RTR_ExecuteActiveResponderCommand"), 0);
    assert_eq!(operations(&sim), ["RTR_ListSessions"]);

    let r = call(
        &client,
        "rtr_run_response_command",
        json!({"session_id": session, "command": "kill 4120", "confirm": true}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["complete"], true);
    assert_eq!(s["stdout"], "Process 4120 killed\n");
    assert_eq!(count_op(&sim, "RTR_ExecuteActiveResponderCommand"), 1);
    let s = ok_json(
        &call(
            &client,
            "rtr_get_command_result",
            json!({"cloud_request_id": s["cloud_request_id"], "tier": "active_responder"}),
        )
        .await,
    );
    assert_eq!(s["stdout"], "Process 4120 killed\n");
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
        "kill 4120"
    );
    // Bad arguments and an unknown session: refused, nothing executed.
    sim.clear_requests();
    for (args, needle) in [
        (
            json!({"session_id": session, "command": "ls C:\\"}),
            "rtr_run_command",
        ),
        (
            json!({"session_id": session, "command": "nc -l 4444"}),
            "`nc`",
        ),
        (json!({"session_id": "s1", "command": "kill 1"}), "`s1`"),
        (
            json!({"session_id": UNKNOWN_UUID, "command": "kill 1"}),
            UNKNOWN_UUID,
        ),
    ] {
        let e = call_err(&client, "rtr_run_response_command", args).await;
        assert!(e.contains(needle), "{needle}: {e}");
    }
    assert_eq!(count_op(&sim, "RTR_ExecuteActiveResponderCommand"), 0);
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// File transfer through the operator's files directory: upload reads a file placed there and
/// puts it on the host; download collects a host file into the directory as a 7z archive and
/// reports its path, size and SHA-256, which match the file on disk.
#[tokio::test(flavor = "multi_thread")]
async fn upload_and_download_through_the_files_dir() {
    let sim = sim_with_limited_client(&[], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let cfg = config(work.path());
    let files_arg = files.path().to_str().unwrap();
    let client = serve_against(
        &sim,
        &[
            "--modules",
            "rtr,hosts",
            "--allow-writes",
            "--config",
            &cfg,
            "--files-dir",
            files_arg,
        ],
        work.path(),
    )
    .await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;
    let session = open_session(&client, &aid).await;

    // Download.
    let r = call(
        &client,
        "rtr_download_file",
        json!({"session_id": session, "path": format!("C:\\Users\\{KNOWN_USER}\\Downloads\\invoice.exe")}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["saved_as"], "invoice.exe.7z", "{s}");
    let on_disk = std::fs::read(files.path().join("invoice.exe.7z")).expect("archive saved");
    assert_eq!(s["archive_size"], on_disk.len(), "{s}");
    assert_eq!(
        s["archive_sha256"],
        hex::encode(Sha256::digest(&on_disk)),
        "{s}"
    );
    assert_eq!(&on_disk[..6], b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive");
    assert_eq!(s["file_sha256"].as_str().unwrap().len(), 64);
    assert!(s["file_size"].as_u64().unwrap() > 0);
    assert_eq!(count_op(&sim, "RTR_GetExtractedFileContents"), 1);
    // save_as chooses the name; a missing host file is the host's error; bad names are refused.
    let s = ok_json(
        &call(
            &client,
            "rtr_download_file",
            json!({"session_id": session, "path": "C:\\Windows\\System32\\drivers\\etc\\hosts", "save_as": "hosts-file.7z"}),
        )
        .await,
    );
    assert!(files.path().join("hosts-file.7z").exists(), "{s}");
    let e = call_err(
        &client,
        "rtr_download_file",
        json!({"session_id": session, "path": "C:\\no\\such\\file.exe"}),
    )
    .await;
    assert!(e.contains("C:\\no\\such\\file.exe"), "{e}");
    for (args, needle) in [
        (
            json!({"session_id": session, "path": "C:\\x", "save_as": "../escape.7z"}),
            "plain file name",
        ),
        (json!({"session_id": session, "path": ""}), "path"),
        (json!({"session_id": "s", "path": "C:\\x"}), "`s`"),
    ] {
        let e = call_err(&client, "rtr_download_file", args).await;
        assert!(e.contains(needle), "{needle}: {e}");
    }
    assert!(!work.path().join("escape.7z").exists());

    // Upload: a file the operator placed in the files dir.
    let payload = b"Write-Output 'collected by aerie'\r\n".to_vec();
    std::fs::write(files.path().join("collect.ps1"), &payload).unwrap();
    sim.clear_requests();
    let r = call(
        &client,
        "rtr_upload_file",
        json!({"session_id": session, "file": "collect.ps1"}),
    )
    .await;
    let s = ok_json(&r);
    assert_eq!(s["file"], "collect.ps1");
    assert_eq!(s["size"], payload.len());
    assert_eq!(s["sha256"], hex::encode(Sha256::digest(&payload)));
    assert_eq!(s["result"]["complete"], true, "{s}");
    let ops = operations(&sim);
    assert!(
        ops.contains(&"RTR_CreatePut_FilesV2".to_string()),
        "{ops:?}"
    );
    let put = sim
        .requests()
        .into_iter()
        .find(|r| r.operation.as_deref() == Some("RTR_ExecuteAdminCommand"))
        .expect("put ran as an admin command");
    assert!(put.body.contains("put collect.ps1"), "{}", put.body);
    // Uploading the same file again reuses the put-file.
    ok_json(
        &call(
            &client,
            "rtr_upload_file",
            json!({"session_id": session, "file": "collect.ps1"}),
        )
        .await,
    );
    assert_eq!(count_op(&sim, "RTR_CreatePut_FilesV2"), 1);
    // A different file with the same name is refused rather than shadowing it.
    std::fs::write(files.path().join("collect.ps1"), b"other").unwrap();
    let e = call_err(
        &client,
        "rtr_upload_file",
        json!({"session_id": session, "file": "collect.ps1"}),
    )
    .await;
    assert!(e.contains("already exists"), "{e}");
    // Not found and bad names.
    let e = call_err(
        &client,
        "rtr_upload_file",
        json!({"session_id": session, "file": "missing.bin"}),
    )
    .await;
    assert!(
        e.contains("missing.bin") && e.to_lowercase().contains("not found"),
        "{e}"
    );
    let e = call_err(
        &client,
        "rtr_upload_file",
        json!({"session_id": session, "file": "../etc/passwd"}),
    )
    .await;
    assert!(e.contains("plain file name"), "{e}");
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// Output longer than one chunk is read chunk by chunk and returned whole.
#[tokio::test(flavor = "multi_thread")]
async fn chunked_output_is_returned_whole() {
    let sim = sim_with_limited_client(&[], |c| c.rtr_chunk_size = 64).await;
    let work = tempfile::tempdir().unwrap();
    let client = serve_against(&sim, &["--modules", "rtr,hosts"], work.path()).await;
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;
    let session = open_session(&client, &aid).await;
    sim.clear_requests();
    let s = ok_json(
        &call(
            &client,
            "rtr_run_command",
            json!({"session_id": session, "command": "ps"}),
        )
        .await,
    );
    let out = s["stdout"].as_str().unwrap();
    assert_eq!(s["complete"], true);
    // The first and the last process of the simulated Windows list.
    assert!(out.starts_with("Name "), "{out}");
    assert!(
        out.contains("System") && out.trim_end().ends_with(&format!("CORP\\{KNOWN_USER}")),
        "{out}"
    );
    let chunks = out.len().div_ceil(64);
    assert!(chunks > 3, "{out}");
    let seqs: Vec<String> = sim
        .requests()
        .into_iter()
        .filter(|r| r.operation.as_deref() == Some("RTR_CheckCommandStatus"))
        .map(|r| r.query)
        .collect();
    assert_eq!(seqs.len(), chunks, "{seqs:?}");
    assert!(
        seqs.last()
            .unwrap()
            .contains(&format!("sequence_id={}", chunks - 1))
    );
    client.cancel().await.unwrap();
    sim.shutdown().await;
}

/// Missing scopes: the session needs `Real time response:read`, response commands
/// `Real time response:write`, put `Real time response (admin):write`.
#[tokio::test(flavor = "multi_thread")]
async fn missing_scopes_are_named() {
    let sim = sim_with_limited_client(&["hosts:read", "real-time-response:read"], |_| {}).await;
    let work = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("a.txt"), b"a").unwrap();
    let cfg = config(work.path());
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
    let aid = aid_of(&client, KNOWN_HOSTNAME).await;
    let session = open_session(&client, &aid).await;
    let s = ok_json(
        &call(
            &client,
            "rtr_run_command",
            json!({"session_id": session, "command": "pwd"}),
        )
        .await,
    );
    assert_eq!(s["complete"], true);
    for (tool, args, scope) in [
        (
            "rtr_run_response_command",
            json!({"session_id": session, "command": "kill 1", "confirm": true}),
            "`Real time response:write`",
        ),
        (
            "rtr_download_file",
            json!({"session_id": session, "path": "C:\\x"}),
            "`Real time response:write`",
        ),
        (
            "rtr_upload_file",
            json!({"session_id": session, "file": "a.txt"}),
            "Real time response (admin):write`",
        ),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(e.contains(scope), "{tool}: {e}");
    }
    client.cancel().await.unwrap();

    // No RTR scope at all.
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
        ("rtr_init_session", json!({"host_id": aid})),
        (
            "rtr_run_command",
            json!({"session_id": session, "command": "ps"}),
        ),
        ("rtr_get_session", json!({"session_ids": [session]})),
        (
            "rtr_get_command_result",
            json!({"cloud_request_id": UNKNOWN_UUID}),
        ),
        ("rtr_close_session", json!({"session_id": session})),
    ] {
        let e = call_err(&client, tool, args).await;
        assert!(e.contains("`Real time response:read`"), "{tool}: {e}");
    }
    client.cancel().await.unwrap();
    sim.shutdown().await;
    sim2.shutdown().await;
}
