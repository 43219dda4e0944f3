//! Caps on what one plugin's descriptor may declare, so a hostile or buggy plugin cannot make
//! every `tools/list` (and the schema compiler) slow or huge. First-party plugins use a small
//! fraction of each (see the `first_party_plugins_fit_the_bounds` test).

use crate::runtime::tools;

/// Tools per plugin.
pub const MAX_TOOLS: usize = 256;
/// Bytes of one tool's input schema (JSON text).
pub const MAX_SCHEMA_BYTES: usize = 64 << 10;
/// Bytes of a tool's or resource's description, or the plugin's.
pub const MAX_DESCRIPTION_BYTES: usize = 8 << 10;
/// Bytes of a tool's title, a resource's name or MIME type, or the plugin's version.
pub const MAX_TITLE_BYTES: usize = 256;
/// Operation ids one tool may declare.
pub const MAX_OPERATIONS_PER_TOOL: usize = 64;
/// Resources per plugin.
pub const MAX_RESOURCES: usize = 64;
/// Bytes of one resource's text.
pub const MAX_RESOURCE_TEXT_BYTES: usize = 256 << 10;
/// Bytes of a resource URI.
pub const MAX_URI_BYTES: usize = 1024;
/// Bytes of the whole descriptor: every string in it together. The `mcp` features have the
/// same cap of their own.
pub const MAX_DESCRIPTOR_BYTES: usize = 2 << 20;
/// Prompts, resource templates and completers per plugin, each.
pub const MAX_PROMPTS: usize = 64;
/// Arguments of one prompt.
pub const MAX_PROMPT_ARGUMENTS: usize = 16;
/// Messages of one prompt.
pub const MAX_PROMPT_MESSAGES: usize = 32;
/// Bytes of one prompt's messages together (text, media, embedded resources).
pub const MAX_PROMPT_BYTES: usize = 256 << 10;
/// Bytes of one tool's output schema (JSON text); it is listed in every `tools/list`.
pub const MAX_OUTPUT_SCHEMA_BYTES: usize = 16 << 10;

/// Every string in a descriptor, counted once, to check the total before anything is parsed.
fn descriptor_bytes(d: &tools::Descriptor) -> usize {
    let tools: usize = d
        .tools
        .iter()
        .map(|t| {
            t.name.len()
                + t.title.len()
                + t.description.len()
                + t.input_schema.len()
                + t.operations.iter().map(String::len).sum::<usize>()
        })
        .sum();
    let resources: usize = d
        .resources
        .iter()
        .map(|r| {
            r.uri.len()
                + r.name.len()
                + r.description.len()
                + r.mime_type.len()
                + crate::runtime::content::contents_bytes(&r.contents)
        })
        .sum();
    d.name.len() + d.version.len() + d.description.len() + tools + resources
}

/// `Err` naming the field and the cap when `len` exceeds `max`.
pub(super) fn cap(what: &str, len: usize, max: usize) -> Result<(), String> {
    if len > max {
        return Err(format!("{what} is {len} bytes; at most {max}"));
    }
    Ok(())
}

/// Enforce [`bounds`] (counts, then each field, then the total) on lengths alone, before
/// anything is parsed or compiled.
pub(super) fn check_bounds(d: &tools::Descriptor) -> Result<(), String> {
    if d.tools.len() > MAX_TOOLS {
        return Err(format!(
            "declares {} tools; at most {MAX_TOOLS} per plugin",
            d.tools.len()
        ));
    }
    if d.resources.len() > MAX_RESOURCES {
        return Err(format!(
            "declares {} resources; at most {MAX_RESOURCES} per plugin",
            d.resources.len()
        ));
    }
    cap("plugin version", d.version.len(), MAX_TITLE_BYTES)?;
    cap(
        "plugin description",
        d.description.len(),
        MAX_DESCRIPTION_BYTES,
    )?;
    for t in &d.tools {
        // The name is checked (and shown) by `build_tools`; keep an oversized one out of messages.
        let name = crate::runtime::truncate_str(&t.name, 64);
        cap(
            &format!("tool `{name}`: input schema"),
            t.input_schema.len(),
            MAX_SCHEMA_BYTES,
        )?;
        cap(
            &format!("tool `{name}`: description"),
            t.description.len(),
            MAX_DESCRIPTION_BYTES,
        )?;
        cap(
            &format!("tool `{name}`: title"),
            t.title.len(),
            MAX_TITLE_BYTES,
        )?;
        if t.operations.len() > MAX_OPERATIONS_PER_TOOL {
            return Err(format!(
                "tool `{name}` declares {} operations; at most {MAX_OPERATIONS_PER_TOOL} per tool",
                t.operations.len()
            ));
        }
    }
    for r in &d.resources {
        let uri = crate::runtime::truncate_str(&r.uri, 128);
        cap(
            &format!("resource `{uri}`: URI"),
            r.uri.len(),
            MAX_URI_BYTES,
        )?;
        let what = match r.contents {
            tools::Contents::Text(_) => "text",
            tools::Contents::Blob(_) => "blob (as base64)",
        };
        cap(
            &format!("resource `{uri}`: {what}"),
            crate::runtime::content::contents_bytes(&r.contents),
            MAX_RESOURCE_TEXT_BYTES,
        )?;
        cap(
            &format!("resource `{uri}`: description"),
            r.description.len(),
            MAX_DESCRIPTION_BYTES,
        )?;
        cap(
            &format!("resource `{uri}`: name"),
            r.name.len(),
            MAX_TITLE_BYTES,
        )?;
        cap(
            &format!("resource `{uri}`: MIME type"),
            r.mime_type.len(),
            MAX_TITLE_BYTES,
        )?;
    }
    let total = descriptor_bytes(d);
    if total > MAX_DESCRIPTOR_BYTES {
        return Err(format!(
            "descriptor is {total} bytes; at most {MAX_DESCRIPTOR_BYTES} in all"
        ));
    }
    Ok(())
}

/// Enforce the bounds of the `mcp` features on lengths alone, before anything is parsed.
pub(super) fn check_feature_bounds(f: &crate::runtime::mcp::Features) -> Result<(), String> {
    for (what, n) in [
        ("prompts", f.prompts.len()),
        ("resource templates", f.resource_templates.len()),
        ("completers", f.completers.len()),
    ] {
        if n > MAX_PROMPTS {
            return Err(format!(
                "declares {n} {what}; at most {MAX_PROMPTS} per plugin"
            ));
        }
    }
    if f.output_schemas.len() > MAX_TOOLS {
        return Err(format!(
            "declares {} output schemas; at most {MAX_TOOLS}",
            f.output_schemas.len()
        ));
    }
    for (tool, schema) in &f.output_schemas {
        let tool = crate::runtime::truncate_str(tool, 64);
        cap(
            &format!("tool `{tool}`: output schema"),
            schema.len(),
            MAX_OUTPUT_SCHEMA_BYTES,
        )?;
    }
    for p in &f.prompts {
        super::features::check_prompt_bounds(p)?;
    }
    for t in &f.resource_templates {
        let uri = crate::runtime::truncate_str(&t.uri_template, 128);
        let at = |what: &str| format!("resource template `{uri}`: {what}");
        cap(&at("URI template"), t.uri_template.len(), MAX_URI_BYTES)?;
        cap(&at("name"), t.name.len(), MAX_TITLE_BYTES)?;
        cap(&at("MIME type"), t.mime_type.len(), MAX_TITLE_BYTES)?;
        cap(
            &at("description"),
            t.description.len(),
            MAX_DESCRIPTION_BYTES,
        )?;
    }
    let total = super::features::feature_bytes(f);
    if total > MAX_DESCRIPTOR_BYTES {
        return Err(format!(
            "mcp features are {total} bytes; at most {MAX_DESCRIPTOR_BYTES} in all"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::tools::{Descriptor, Resource, Tier, Tool as ToolDesc};

    fn tool(name: &str) -> ToolDesc {
        ToolDesc {
            name: name.into(),
            title: name.into(),
            description: "d".into(),
            input_schema: r#"{"type":"object"}"#.into(),
            tier: Tier::Read,
            destructive: false,
            idempotent: true,
            cacheable: false,
            operations: vec![],
            needs: vec![],
        }
    }

    fn resource(i: usize) -> Resource {
        Resource {
            uri: format!("falcon://r/{i}"),
            name: "r".into(),
            description: "d".into(),
            mime_type: "text/plain".into(),
            contents: tools::Contents::Text("t".into()),
        }
    }

    fn descriptor() -> Descriptor {
        Descriptor {
            name: "p".into(),
            version: "1".into(),
            description: "d".into(),
            tools: vec![tool("t")],
            resources: vec![resource(0)],
        }
    }

    fn refusal(d: &Descriptor) -> String {
        check_bounds(d).unwrap_err()
    }

    #[test]
    fn every_descriptor_bound_is_enforced_with_the_cap_named() {
        assert!(check_bounds(&descriptor()).is_ok());
        let mut d = descriptor();
        d.tools = (0..=MAX_TOOLS).map(|i| tool(&format!("t{i}"))).collect();
        assert_eq!(refusal(&d), "declares 257 tools; at most 256 per plugin");
        let mut d = descriptor();
        d.resources = (0..=MAX_RESOURCES).map(resource).collect();
        assert_eq!(refusal(&d), "declares 65 resources; at most 64 per plugin");
        let mut d = descriptor();
        d.resources[0].contents = tools::Contents::Text("x".repeat(MAX_RESOURCE_TEXT_BYTES + 1));
        assert!(
            refusal(&d).contains("resource `falcon://r/0`: text is 262145 bytes; at most 262144")
        );
        let mut d = descriptor();
        d.tools[0].description = "x".repeat(MAX_DESCRIPTION_BYTES + 1);
        assert!(refusal(&d).contains("tool `t`: description is"));
        let mut d = descriptor();
        d.tools[0].title = "x".repeat(MAX_TITLE_BYTES + 1);
        assert!(refusal(&d).contains("tool `t`: title is"));
        let mut d = descriptor();
        d.tools[0].input_schema = "x".repeat(MAX_SCHEMA_BYTES + 1);
        assert!(refusal(&d).contains("tool `t`: input schema is 65537 bytes; at most 65536"));
        let mut d = descriptor();
        d.tools[0].operations = vec!["Op".into(); MAX_OPERATIONS_PER_TOOL + 1];
        assert!(refusal(&d).contains("declares 65 operations; at most 64 per tool"));
        // Each field within its cap, the whole over the total.
        let mut d = descriptor();
        d.resources = (0..MAX_RESOURCES)
            .map(|i| Resource {
                contents: tools::Contents::Text("x".repeat(MAX_RESOURCE_TEXT_BYTES)),
                ..resource(i)
            })
            .collect();
        assert!(
            refusal(&d).contains("at most 2097152 in all"),
            "{}",
            refusal(&d)
        );
    }

    #[test]
    fn feature_bounds_are_enforced_with_the_cap_named() {
        use crate::runtime::mcp;
        let prompt = |i: usize| mcp::Prompt {
            name: format!("p{i}"),
            title: "t".into(),
            description: "d".into(),
            arguments: vec![],
            messages: vec![mcp::Message {
                role: mcp::Role::User,
                content: mcp::Content::Text("x".into()),
            }],
            tools: vec![],
            optional_tools: vec![],
        };
        let f = |prompts: Vec<mcp::Prompt>, schemas: Vec<(String, String)>| mcp::Features {
            output_schemas: schemas,
            prompts,
            resource_templates: vec![],
            completers: vec![],
        };
        assert!(check_feature_bounds(&f(vec![prompt(0)], vec![])).is_ok());
        let many = f((0..=MAX_PROMPTS).map(prompt).collect(), vec![]);
        assert_eq!(
            check_feature_bounds(&many).unwrap_err(),
            "declares 65 prompts; at most 64 per plugin"
        );
        let mut big = prompt(0);
        big.messages[0].content = mcp::Content::Text("x".repeat(MAX_PROMPT_BYTES + 1));
        assert!(
            check_feature_bounds(&f(vec![big], vec![]))
                .unwrap_err()
                .contains("prompt `p0`: messages is 262145 bytes; at most 262144")
        );
        let schema = vec![("t".into(), "x".repeat(MAX_OUTPUT_SCHEMA_BYTES + 1))];
        assert!(
            check_feature_bounds(&f(vec![], schema))
                .unwrap_err()
                .contains("tool `t`: output schema is 16385 bytes; at most 16384")
        );
    }
}
