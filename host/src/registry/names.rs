//! Who owns a plugin name: `[plugins.<name>] source` and the rules when several plugins
//! declare one name.

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;

use super::{Origin, Plugin, Refusal};

/// `[plugins.<name>] source`: which origin may serve a plugin name when more than one declares
/// it. Policy (config values, files access, limits, grants) is keyed by name, so the name must
/// belong to one origin the operator chose, never to whichever file claims it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(try_from = "String")]
pub enum PluginSource {
    /// `"embedded"`: only the plugin built into the binary; directory plugins of this name
    /// are refused.
    Embedded,
    /// `"dir"`: the one directory plugin of this name replaces the embedded one.
    Dir,
    /// `"<file>.wasm"`: only this file in the plugins directory.
    File(String),
}

impl TryFrom<String> for PluginSource {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        match s.as_str() {
            "embedded" => Ok(PluginSource::Embedded),
            "dir" => Ok(PluginSource::Dir),
            f if f.ends_with(".wasm") && !f.contains(['/', '\\']) => {
                Ok(PluginSource::File(f.to_string()))
            }
            _ => Err(format!(
                "source `{s}` must be \"embedded\", \"dir\" or a file name in the plugins directory such as \"hello.wasm\""
            )),
        }
    }
}

impl PluginSource {
    fn admits(&self, origin: &Origin) -> bool {
        match (self, origin) {
            (PluginSource::Embedded, Origin::Embedded) => true,
            (PluginSource::Dir, Origin::File(_)) => true,
            (PluginSource::File(f), Origin::File(p)) => file_name(p) == f.as_str(),
            _ => false,
        }
    }

    fn as_toml(&self) -> String {
        match self {
            PluginSource::Embedded => "\"embedded\"".into(),
            PluginSource::Dir => "\"dir\"".into(),
            PluginSource::File(f) => format!("{f:?}"),
        }
    }
}

fn file_name(p: &Path) -> &str {
    p.file_name().and_then(|n| n.to_str()).unwrap_or_default()
}

/// Of the plugins declaring `name` (in load order), the one that serves it, and refusals for
/// the rest. Without `[plugins.<name>] source`: a lone plugin serves; the embedded plugin wins
/// over directory ones; several directory plugins are all refused, except that on a reload the
/// one already serving (`incumbent`) keeps the name, as a tool clash is settled.
pub(super) fn choose(
    name: &str,
    mut candidates: Vec<Arc<Plugin>>,
    pick: Option<&PluginSource>,
    incumbent: Option<&Origin>,
) -> (Option<Arc<Plugin>>, Vec<Refusal>) {
    let key = format!("[plugins.{name}] source");
    let refuse = |p: &Arc<Plugin>, reason: String| Refusal {
        origin: p.origin.clone(),
        name: Some(name.to_string()),
        reason,
    };
    if let Some(pick) = pick {
        let Some(i) = candidates.iter().position(|p| pick.admits(&p.origin)) else {
            if *pick == PluginSource::Dir
                && let Some(i) = candidates.iter().position(|p| p.origin == Origin::Embedded)
            {
                tracing::warn!(
                    plugin = name,
                    "{key} = \"dir\", but no directory plugin of that name loaded; serving the embedded one"
                );
                return (Some(candidates.swap_remove(i)), Vec::new());
            }
            tracing::warn!(
                plugin = name,
                "{key} = {}, which is not present; nothing serves `{name}`",
                pick.as_toml()
            );
            let r = candidates
                .iter()
                .map(|p| {
                    refuse(
                        p,
                        format!("{key} = {} picks another origin", pick.as_toml()),
                    )
                })
                .collect();
            return (None, r);
        };
        let dir_plugins: Vec<&Arc<Plugin>> = candidates
            .iter()
            .filter(|p| matches!(p.origin, Origin::File(_)))
            .collect();
        if *pick == PluginSource::Dir && dir_plugins.len() > 1 {
            // "dir" names no file, and two directory plugins claim the name: still ambiguous.
            let r = ambiguous(name, &dir_plugins, &key);
            return (
                None,
                dir_plugins.iter().map(|p| refuse(p, r.clone())).collect(),
            );
        }
        let winner = candidates.remove(i);
        let mut refusals = Vec::new();
        for p in &candidates {
            if p.origin == Origin::Embedded {
                tracing::info!(plugin = name, by = %winner.origin, "embedded plugin replaced, as {key} = {} says", pick.as_toml());
                continue;
            }
            refusals.push(refuse(
                p,
                format!(
                    "the name `{name}` belongs to {} ({key} = {})",
                    winner.origin,
                    pick.as_toml()
                ),
            ));
        }
        return (Some(winner), refusals);
    }
    if candidates.len() == 1 {
        return (candidates.pop(), Vec::new());
    }
    let holder = candidates
        .iter()
        .position(|p| p.origin == Origin::Embedded)
        .or_else(|| incumbent.and_then(|o| candidates.iter().position(|p| p.origin == *o)));
    let Some(i) = holder else {
        let all: Vec<&Arc<Plugin>> = candidates.iter().collect();
        let r = ambiguous(name, &all, &key);
        let refusals = candidates.iter().map(|p| refuse(p, r.clone())).collect();
        return (None, refusals);
    };
    let winner = candidates.remove(i);
    let how = if winner.origin == Origin::Embedded {
        format!("set {key} = \"dir\" to replace the embedded plugin")
    } else {
        format!("set {key} to pick which file serves it")
    };
    let refusals = candidates
        .iter()
        .map(|p| {
            refuse(
                p,
                format!(
                    "the name `{name}` is already taken by {} plugin; {how}",
                    match &winner.origin {
                        Origin::Embedded => "the embedded".to_string(),
                        o => format!("the serving {o}"),
                    }
                ),
            )
        })
        .collect();
    (Some(winner), refusals)
}

/// The refusal for several directory plugins declaring one name: names them all and the key.
fn ambiguous(name: &str, plugins: &[&Arc<Plugin>], key: &str) -> String {
    let all: Vec<String> = plugins.iter().map(|p| p.origin.to_string()).collect();
    let files: Vec<String> = plugins
        .iter()
        .map(|p| format!("{:?}", origin_file(&p.origin)))
        .collect();
    format!(
        "the name `{name}` is declared by {}; set {key} = {} to pick which one serves it",
        all.join(" and "),
        files.join(" or ")
    )
}

fn origin_file(o: &Origin) -> &str {
    match o {
        Origin::Embedded => "embedded",
        Origin::File(p) => file_name(p),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plugin_source_is_parsed_with_a_clear_error() {
        let parse = |s: &str| PluginSource::try_from(s.to_string());
        assert_eq!(parse("embedded"), Ok(PluginSource::Embedded));
        assert_eq!(parse("dir"), Ok(PluginSource::Dir));
        assert_eq!(parse("x.wasm"), Ok(PluginSource::File("x.wasm".into())));
        assert!(
            parse("../x.wasm")
                .unwrap_err()
                .contains("file name in the plugins directory")
        );
        assert!(parse("Dir").is_err());
        assert!(PluginSource::File("x.wasm".into()).admits(&Origin::File("/d/x.wasm".into())));
        assert!(!PluginSource::File("x.wasm".into()).admits(&Origin::File("/d/y.wasm".into())));
        assert!(!PluginSource::Dir.admits(&Origin::Embedded));
    }
}
