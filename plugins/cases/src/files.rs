//! Case files: uploads from the operator's files directory (multipart, the boundary fixed by the
//! catalogue's `content-type`), the size and name of a host file as RTR sees it, and files an
//! RTR session already pulled attached to a case.

use aerie_sdk::ids::{self, IocType};
use aerie_sdk::multipart::Multipart;
use aerie_sdk::{Ctx, Output, Plugin, Shape, ToolError, ToolSpec, prune};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::case_id;

/// A name inside the files directory: no separators, quotes or control characters.
fn plain_name(name: &str) -> Result<String, ToolError> {
    let n = name.trim();
    let ok = !n.is_empty()
        && n.len() <= 255
        && !n.contains(['/', '\\', '"'])
        && !n.chars().any(char::is_control)
        && n != "."
        && n != "..";
    if ok {
        Ok(n.to_string())
    } else {
        Err(ToolError::invalid(format!(
            "file `{name}` must be a plain file name in the files directory (no path separators or quotes)"
        )))
    }
}

/// The one record a case-file operation answers with.
fn first(env: &aerie_sdk::Envelope, op: &str) -> Result<Value, ToolError> {
    env.resources
        .first()
        .cloned()
        .map(prune)
        .ok_or_else(|| ToolError::internal(format!("{op} answered without a record")))
}

/// Arguments of `cases_upload_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct UploadArgs {
    case_id: String,
    /// Name in files dir
    file: String,
    description: Option<String>,
}

fn upload(ctx: &Ctx<'_>, a: UploadArgs) -> Result<Output, ToolError> {
    let id = case_id(&a.case_id)?;
    let name = plain_name(&a.file)?;
    let bytes = ctx.read_file(&name)?;
    let sha = hex::encode(Sha256::digest(&bytes));
    // `case_id` and `description` must travel in the form: as query parameters the live API
    // stores the file detached from the case.
    let body = Multipart::new()
        .text("case_id", &id)
        .text("description", a.description.as_deref().unwrap_or_default())
        .file("file", &name, &bytes)
        .finish()?;
    let env = ctx
        .op("entities_files_upload_post_v1")
        .verified_by("cases_get")
        .subject(format!("case {id}"))
        .body_bytes(body)
        .envelope()?;
    let file = first(&env, "the upload")?;
    if file["hash_value"]
        .as_str()
        .is_some_and(|h| !h.eq_ignore_ascii_case(&sha))
    {
        return Err(ToolError::internal(format!(
            "Falcon stored {name} with SHA-256 {} but the local file has {sha}; upload it again",
            file["hash_value"]
        )));
    }
    Ok(Output::json(
        format!(
            "Attached {name} ({} bytes, SHA-256 {sha}) to the case.",
            bytes.len()
        ),
        &json!({"file": file}),
    ))
}

/// Arguments of `cases_rtr_file_metadata`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct MetadataArgs {
    /// AID
    host_id: String,
    path: String,
}

fn host_path(path: &str) -> Result<String, ToolError> {
    let p = path.trim();
    if p.is_empty() || p.len() > 1024 || p.contains('"') || p.chars().any(char::is_control) {
        return Err(ToolError::invalid(
            "path must be one line of at most 1024 characters without double quotes",
        ));
    }
    Ok(p.to_string())
}

fn metadata(ctx: &Ctx<'_>, a: MetadataArgs) -> Result<Output, ToolError> {
    let aid = ids::aid(&a.host_id)?;
    let path = host_path(&a.path)?;
    let env = ctx
        .op("entities_get_rtr_file_metadata_post_v1")
        .subject(format!("file {path} on host {aid}"))
        .body_json(&json!({"aid": aid, "file_path": path}))?
        .envelope()?;
    let meta = first(&env, "the metadata request")?;
    Ok(Output::json(
        format!(
            "{path}: {} bytes.",
            meta["file_size"].as_u64().unwrap_or_default()
        ),
        &json!({"host_id": aid, "path": path, "metadata": meta}),
    ))
}

/// Arguments of `cases_add_rtr_file`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RtrFileArgs {
    case_id: String,
    session_id: String,
    sha256: String,
    /// AID
    host_id: Option<String>,
    description: Option<String>,
}

fn add_rtr_file(ctx: &Ctx<'_>, a: RtrFileArgs) -> Result<Output, ToolError> {
    let id = case_id(&a.case_id)?;
    let session = ids::uuid(&a.session_id, "RTR session id")?;
    let sha = ids::ioc_value(IocType::Sha256, &a.sha256)?;
    let mut body = json!({"case_id": id, "session_id": session, "sha256": sha,
                          "description": a.description.as_deref().unwrap_or_default()});
    if let Some(h) = &a.host_id {
        body["aid"] = json!(ids::aid(h)?);
    }
    let env = ctx
        .op("entities_retrieve_rtr_recent_file_post_v1")
        .verified_by("cases_get")
        .subject(format!("file {sha} of session {session} for case {id}"))
        .body_json(&body)?
        .envelope()?;
    let file = first(&env, "the RTR file request")?;
    Ok(Output::json(
        format!(
            "Attached {} from RTR session {session} to the case.",
            file["name"].as_str().unwrap_or("the file")
        ),
        &json!({"file": file}),
    ))
}

/// Add the case-file tools.
pub(crate) fn register(p: Plugin) -> Plugin {
    p.tool(
        ToolSpec::write(
            "cases_upload_file",
            "Upload case file",
            "Attach a file from the files dir to a case",
        )
        .ops(&["entities_files_upload_post_v1"])
        .output(Shape::Fields("file:object")),
        upload,
    )
    .tool(
        ToolSpec::read(
            "cases_rtr_file_metadata",
            "RTR file metadata",
            "Name and size of a host file, via RTR without fetching it",
        )
        .ops(&["entities_get_rtr_file_metadata_post_v1"])
        .output(Shape::Fields("metadata:object"))
        .not_cacheable(),
        metadata,
    )
    .tool(
        ToolSpec::write(
            "cases_add_rtr_file",
            "Attach RTR file",
            "Attach a file an RTR session pulled (get) to a case, by SHA-256",
        )
        .ops(&["entities_retrieve_rtr_recent_file_post_v1"])
        .output(Shape::Fields("file:object")),
        add_rtr_file,
    )
}

#[cfg(test)]
mod tests {
    use aerie_sdk::testing::MockEnv;
    use serde_json::json;

    use crate::plugin;

    const CASE: &str = "Y2FzZTo4NjkzZGViNDpjMmQ5ZWZhOTcyYjE0ZTk3";

    #[test]
    fn upload_puts_the_case_in_the_form_and_checks_the_hash() {
        let sha = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let env = MockEnv::new().file("notes.txt", b"hello").reply(
            "entities_files_upload_post_v1",
            200,
            json!({"resources": [{"id": "f1", "case_id": CASE, "name": "notes.txt", "hash_value": sha}]}),
        );
        let out = plugin()
            .call(
                &env,
                "cases_upload_file",
                &json!({"case_id": CASE, "file": "notes.txt", "description": "d"}).to_string(),
            )
            .unwrap();
        assert_eq!(out.structured.unwrap()["file"]["id"], "f1");
        let req = &env.calls_to("entities_files_upload_post_v1")[0];
        let body = String::from_utf8_lossy(req.body.as_deref().unwrap()).to_string();
        assert!(
            body.contains("name=\"case_id\"\r\n\r\n") && body.contains(CASE),
            "{body}"
        );
        assert!(body.contains("filename=\"notes.txt\""), "{body}");
        assert!(req.query.is_empty(), "{:?}", req.query);
        // A different stored hash is reported, not passed off as success.
        let env = MockEnv::new().file("notes.txt", b"hello").reply(
            "entities_files_upload_post_v1",
            200,
            json!({"resources": [{"id": "f1", "hash_value": "00"}]}),
        );
        assert!(
            plugin()
                .call(
                    &env,
                    "cases_upload_file",
                    &json!({"case_id": CASE, "file": "notes.txt"}).to_string()
                )
                .is_err()
        );
        let e = plugin()
            .call(
                &env,
                "cases_upload_file",
                &json!({"case_id": CASE, "file": "../x"}).to_string(),
            )
            .unwrap_err();
        assert!(e.to_string().contains("plain file name"), "{e}");
    }
}
