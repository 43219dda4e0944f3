//! A plugin's content beyond text: the image, audio and embedded-resource blocks of a tool
//! result and the bytes of a binary resource, checked and turned into MCP content. The bytes
//! travel as `list<u8>` through the WIT and leave as base64, as MCP wants them.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rmcp::model::{ContentBlock, ResourceContents};

use super::tools;

/// Most content blocks one result may carry after its text.
pub const MAX_BLOCKS: usize = 16;

/// Longest MIME type or embedded-resource URI, in bytes.
const MAX_LABEL_BYTES: usize = 2048;

/// Bytes `contents` takes on the wire (base64 for a blob).
pub fn contents_bytes(contents: &tools::Contents) -> usize {
    match contents {
        tools::Contents::Text(t) => t.len(),
        tools::Contents::Blob(b) => b.len().div_ceil(3) * 4,
    }
}

/// Bytes the blocks take on the wire, counted in the result's size cap.
pub fn blocks_bytes(blocks: &[tools::ContentBlock]) -> usize {
    blocks
        .iter()
        .map(|b| match b {
            tools::ContentBlock::Image(m) | tools::ContentBlock::Audio(m) => {
                m.data.len().div_ceil(3) * 4 + m.mime_type.len()
            }
            tools::ContentBlock::Resource(r) => {
                r.uri.len() + r.mime_type.len() + contents_bytes(&r.contents)
            }
        })
        .sum()
}

/// `contents` under `uri` as MCP resource contents.
pub fn resource_contents(
    uri: &str,
    mime_type: &str,
    contents: &tools::Contents,
) -> ResourceContents {
    match contents {
        tools::Contents::Text(t) => ResourceContents::text(t.clone(), uri),
        tools::Contents::Blob(b) => ResourceContents::blob(STANDARD.encode(b), uri),
    }
    .with_mime_type(mime_type)
}

/// Whether `s` is a MIME type: `type/subtype`, printable ASCII without spaces.
fn is_mime(s: &str) -> bool {
    s.len() <= MAX_LABEL_BYTES
        && s.split_once('/')
            .is_some_and(|(t, sub)| !t.is_empty() && !sub.is_empty())
        && s.bytes().all(|b| b.is_ascii_graphic())
}

/// Check the blocks a plugin returned and turn them into MCP content, or say what is wrong
/// with the first bad one (the plugin's fault; the caller withholds the result).
pub fn blocks(blocks: Vec<tools::ContentBlock>) -> Result<Vec<ContentBlock>, String> {
    if blocks.len() > MAX_BLOCKS {
        return Err(format!(
            "{} content blocks; at most {MAX_BLOCKS}",
            blocks.len()
        ));
    }
    blocks
        .into_iter()
        .enumerate()
        .map(|(i, b)| {
            let bad = |what: String| format!("content block {i}: {what}");
            let media = |m: &tools::Binary, kind: &str| {
                if !is_mime(&m.mime_type) || !m.mime_type.starts_with(&format!("{kind}/")) {
                    return Err(bad(format!(
                        "MIME type `{}` is not an {kind}/ type",
                        super::truncate_str(&m.mime_type, 64)
                    )));
                }
                if m.data.is_empty() {
                    return Err(bad(format!("the {kind} has no data")));
                }
                Ok(STANDARD.encode(&m.data))
            };
            Ok(match b {
                tools::ContentBlock::Image(m) => {
                    ContentBlock::image(media(&m, "image")?, m.mime_type)
                }
                tools::ContentBlock::Audio(m) => {
                    ContentBlock::audio(media(&m, "audio")?, m.mime_type)
                }
                tools::ContentBlock::Resource(r) => {
                    if r.uri.is_empty()
                        || r.uri.len() > MAX_LABEL_BYTES
                        || !r.uri.bytes().all(|b| b.is_ascii_graphic())
                    {
                        return Err(bad(
                            "an embedded resource needs a URI of printable ASCII".into()
                        ));
                    }
                    if !is_mime(&r.mime_type) {
                        return Err(bad(format!(
                            "`{}` is not a MIME type",
                            super::truncate_str(&r.mime_type, 64)
                        )));
                    }
                    ContentBlock::resource(resource_contents(&r.uri, &r.mime_type, &r.contents))
                }
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(mime: &str, data: &[u8]) -> tools::ContentBlock {
        tools::ContentBlock::Image(tools::Binary {
            data: data.to_vec(),
            mime_type: mime.into(),
        })
    }

    #[test]
    fn blocks_become_base64_content() {
        let out = blocks(vec![
            image("image/png", b"\x89PNG"),
            tools::ContentBlock::Resource(tools::EmbeddedResource {
                uri: "test://r".into(),
                mime_type: "application/octet-stream".into(),
                contents: tools::Contents::Blob(vec![1, 2, 3]),
            }),
        ])
        .unwrap();
        let json = serde_json::to_value(&out).unwrap();
        assert_eq!(json[0]["type"], "image");
        assert_eq!(json[0]["data"], "iVBORw==");
        assert_eq!(json[1]["resource"]["blob"], "AQID");
        assert_eq!(json[1]["resource"]["mimeType"], "application/octet-stream");
    }

    #[test]
    fn bad_blocks_are_named() {
        let e = blocks(vec![image("image/png", b"x"), image("text/html", b"x")]).unwrap_err();
        assert!(e.contains("content block 1") && e.contains("image/"), "{e}");
        assert!(
            blocks(vec![image("image/png", b"")])
                .unwrap_err()
                .contains("no data")
        );
        let many = vec![image("image/png", b"x"); MAX_BLOCKS + 1];
        assert!(blocks(many).unwrap_err().contains("at most 16"));
        let r = tools::ContentBlock::Resource(tools::EmbeddedResource {
            uri: "".into(),
            mime_type: "text/plain".into(),
            contents: tools::Contents::Text("t".into()),
        });
        assert!(blocks(vec![r]).unwrap_err().contains("URI"));
    }

    #[test]
    fn sizes_count_base64() {
        assert_eq!(blocks_bytes(&[image("image/png", &[0; 3])]), 4 + 9);
        assert_eq!(contents_bytes(&tools::Contents::Blob(vec![0; 4])), 8);
    }
}
