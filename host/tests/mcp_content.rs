//! Content beyond text, through the real binary and rmcp's client over stdio: a plugin's
//! image, audio and embedded-resource blocks arrive after the text as base64 of the bytes the
//! plugin returned; a binary resource reads as a blob; a block with a wrong MIME type withholds
//! the result (tool error, audited `bad_output`); a tool that needs sampling is refused with
//! -32021 to a client that did not declare it, before it runs (audited `refused_missing_capability`).

mod support;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rmcp::model::{ReadResourceRequestParams, ResourceContents};
use serde_json::{Value, json};
use support::*;

/// The first bytes of every PNG.
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

#[tokio::test(flavor = "multi_thread")]
async fn content_blocks_binary_resources_and_needed_capabilities() {
    let dir = plugins_dir(&["conformance", "bad_output"]);
    let work = tempfile::tempdir().unwrap();
    let audit = work.path().join("audit.jsonl");
    let args = [
        "serve",
        "--no-embedded",
        "--no-cache",
        "--plugins-dir",
        dir.path().to_str().unwrap(),
        "--audit-log",
        audit.to_str().unwrap(),
    ];
    let client = stdio_client(&args, &[], &work.path().join("server.log")).await;

    let r = serde_json::to_value(call(&client, "test_multiple_content_types", json!({})).await)
        .unwrap();
    let content = r["content"].as_array().unwrap();
    let kinds: Vec<&str> = content
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["text", "image", "resource"], "{r}");
    let png = STANDARD
        .decode(content[1]["data"].as_str().unwrap())
        .unwrap();
    assert!(png.starts_with(PNG_MAGIC), "{r}");
    assert_eq!(content[1]["mimeType"], "image/png");
    assert_eq!(content[2]["resource"]["uri"], "test://embedded-resource");
    assert_eq!(
        content[2]["resource"]["text"],
        "This is an embedded resource content."
    );
    let r = serde_json::to_value(call(&client, "test_audio_content", json!({})).await).unwrap();
    let wav = STANDARD
        .decode(r["content"][1]["data"].as_str().unwrap())
        .unwrap();
    assert!(wav.starts_with(b"RIFF") && &wav[8..12] == b"WAVE", "{r}");

    let read = client
        .read_resource(ReadResourceRequestParams::new("test://static-binary"))
        .await
        .unwrap();
    match &read.contents[0] {
        ResourceContents::BlobResourceContents {
            blob, mime_type, ..
        } => {
            assert_eq!(mime_type.as_deref(), Some("image/png"));
            assert!(STANDARD.decode(blob).unwrap().starts_with(PNG_MAGIC));
        }
        other => panic!("not a blob: {other:?}"),
    }

    let e = err_text(&call(&client, "bad_output_content", json!({})).await);
    assert!(
        e.contains("bad content") && e.contains("`text/html` is not an image/ type"),
        "{e}"
    );

    // rmcp's test client declares no sampling capability.
    let refused = client
        .call_tool(rmcp::model::CallToolRequestParams::new(
            "test_missing_capability",
        ))
        .await
        .expect_err("a tool that needs sampling is refused");
    let refused = format!("{refused:?}");
    assert!(
        refused.contains("-32021") && refused.contains("sampling"),
        "{refused}"
    );
    client.cancel().await.unwrap();

    let records: Vec<Value> = std::fs::read_to_string(&audit)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let outcome = |tool: &str| {
        records
            .iter()
            .find(|r| r["tool"] == tool)
            .map(|r| r["outcome"].clone())
    };
    assert_eq!(outcome("bad_output_content"), Some(json!("bad_output")));
    assert_eq!(outcome("test_multiple_content_types"), Some(json!("ok")));
    // Refused before it ran, and audited as such.
    assert_eq!(
        outcome("test_missing_capability"),
        Some(json!("refused_missing_capability"))
    );
}
