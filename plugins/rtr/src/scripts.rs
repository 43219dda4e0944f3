//! The RTR script library (falcon-api-2.md §11.3): list the custom scripts, and run one on a
//! session's host with `runscript -CloudFile` — an admin command, previewed unless confirmed.

use aerie_sdk::{Ctx, Fql, Hydrate, Output, Page, Search, SearchArgs, ToolError, ids, project};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::{Command, Tier, host_label, render_result, run, session_record};

fn d20() -> u32 {
    20
}

// Script platforms (no doc comment: it would repeat in the schema).
#[derive(Debug, Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Platform {
    Windows,
    Mac,
    Linux,
}

impl Platform {
    fn as_str(self) -> &'static str {
        match self {
            Platform::Windows => "windows",
            Platform::Mac => "mac",
            Platform::Linux => "linux",
        }
    }
}

/// Fields a script listing keeps (never the script's content).
const SCRIPT_SUMMARY: &[&str] = &[
    "id",
    "name",
    "description",
    "platform",
    "permission_type",
    "sha256",
    "size",
    "modified_timestamp",
    "run_attempt_count",
    "run_success_count",
];

const SCRIPTS: Hydrate = Hydrate::query("RTR_GetScriptsV2", "ids", 100);

pub(crate) const SEARCH: Search = Search::new("RTR_ListScripts", "scripts")
    .hydrate(SCRIPTS)
    .summary(SCRIPT_SUMMARY)
    .sortable(&["name", "created_timestamp", "modified_timestamp"])
    .default_sort("name|asc")
    .pipe_sort();

/// Arguments of `rtr_list_scripts`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListArgs {
    /// Name contains
    name: Option<String>,
    platform: Option<Platform>,
    /// FQL, ANDed
    filter: Option<String>,
    /// field.asc|desc
    sort: Option<String>,
    #[schemars(range(min = 1, max = 100))]
    #[serde(default = "d20")]
    limit: u32,
    #[serde(default)]
    offset: u32,
}

impl SearchArgs for ListArgs {
    fn fql(&self) -> Result<Fql, ToolError> {
        let name = self
            .name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty());
        Ok(Fql::new()
            .opt(name, |f, n| f.matches("name", n))
            .opt(self.platform, |f, p| f.eq("platform", p.as_str())))
    }

    fn page(&self) -> Page<'_> {
        Page::offset(
            self.filter.as_deref(),
            self.sort.as_deref(),
            self.limit,
            self.offset,
        )
    }
}

/// A script name or argument string that can be single-quoted on the command line as is.
fn quotable<'a>(v: &'a str, what: &str, max: usize) -> Result<&'a str, ToolError> {
    let v = v.trim();
    // The host's RTR guard refuses separators and redirections in any command line; say so
    // before a preview that could never run.
    if v.len() > max
        || v.contains(['\'', ';', '|', '&', '`', '<', '>'])
        || v.contains("$(")
        || v.chars().any(|c| !(c.is_ascii_graphic() || c == ' '))
    {
        return Err(ToolError::invalid(format!(
            "{what} must be at most {max} plain ASCII characters without quotes ('), command separators or redirections (; | & ` < > $( )"
        )));
    }
    Ok(v)
}

/// Arguments of `rtr_run_script`.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunArgs {
    session_id: String,
    script: String,
    args: Option<String>,
    #[serde(default)]
    confirm: bool,
}

/// The library script named exactly `name`.
fn find_script(ctx: &Ctx<'_>, name: &str) -> Result<Value, ToolError> {
    let filter = Fql::new().eq("name", name).build();
    let ids = ctx
        .op("RTR_ListScripts")
        .query_opt("filter", filter)
        .query("limit", 100)
        .envelope()?
        .ids();
    ctx.hydrate(&SCRIPTS, &ids)?
        .into_iter()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(name))
        .ok_or_else(|| {
            ToolError::not_found(format!(
                "script `{name}` is not in the RTR script library; rtr_list_scripts lists the scripts"
            ))
        })
}

pub(crate) fn run_script(ctx: &Ctx<'_>, a: RunArgs) -> Result<Output, ToolError> {
    let session = ids::uuid(&a.session_id, "session id")?;
    let name = quotable(&a.script, "script", 255)?;
    if name.is_empty() {
        return Err(ToolError::invalid(
            "script must name a script of the library (see rtr_list_scripts)",
        ));
    }
    let args = quotable(a.args.as_deref().unwrap_or(""), "args", 2048)?;
    let script = find_script(ctx, name)?;
    let s = session_record(ctx, &session)?;
    let host = host_label(&s).to_string();
    // A script runs only on the platforms it was written for; say so before it is sent.
    let platform = s
        .get("platform_name")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_ascii_lowercase();
    let platforms: Vec<&str> = script
        .get("platform")
        .and_then(Value::as_array)
        .map(|p| p.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !platform.is_empty() && !platforms.is_empty() && !platforms.contains(&platform.as_str()) {
        return Err(ToolError::invalid(format!(
            "script `{name}` is for {}; {host} runs {platform}",
            platforms.join(", ")
        )));
    }
    let mut line = format!("runscript -CloudFile='{name}'");
    if !args.is_empty() {
        line.push_str(&format!(" -CommandLine='{args}'"));
    }
    let summary = project(
        &script,
        &["id", "name", "description", "platform", "sha256"],
    );
    if !a.confirm {
        return Ok(Output::preview(
            format!("Would run script `{name}` on {host} as an admin command: {line}"),
            json!({"session_id": session, "host": host, "script": summary, "command": line, "tier": Tier::Admin}),
        ));
    }
    let cmd = Command {
        base: "runscript".into(),
        line,
        tier: Tier::Admin,
    };
    let mut result = run(ctx, &session, &cmd)?;
    result["script"] = summary;
    Ok(render_result(result))
}
