//! Operator errors that must never weaken a policy silently: `[plugins.<name>]` sections,
//! `disabled_tools`, `operations` and `--modules` entries that name nothing real. A typo in any
//! of them would leave a tool served that the operator meant to remove, so each is an error at
//! start (and in `aerie config check`) naming the nearest valid name.
//!
//! The check needs the loaded plugins (tool names are only known after describing them), so it
//! runs once they are loaded. A plugin that is configured but not loaded is fine when its name is
//! real — an embedded plugin, or a directory plugin refused or left out by `--modules` (known by
//! its name or, when it was never described, its file name) — and is reported as a warning:
//! one `aerie.toml` can serve several `--modules` selections.

use std::collections::BTreeSet;

use crate::catalogue::Catalogue;
use crate::registry::{Origin, Refusal, Snapshot, Source};

use super::Policy;

/// What the check found.
#[derive(Debug, Default, PartialEq)]
pub struct Findings {
    /// Settings that name nothing real: start-up must fail.
    pub errors: Vec<String>,
    /// Settings that apply to nothing now but are not mistakes.
    pub warnings: Vec<String>,
}

impl Findings {
    /// Log the warnings; fail with every error, one per line.
    pub fn enforce(self) -> Result<(), String> {
        for w in &self.warnings {
            tracing::warn!("{w}");
        }
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "configuration names things that do not exist (nothing was served):\n  {}",
                self.errors.join("\n  ")
            ))
        }
    }
}

/// The start-up check: every name in the policy against the loaded plugins, the sources they
/// came from and the catalogue. Warnings are logged; errors fail start-up.
pub fn at_start(
    policy: &Policy,
    snap: &Snapshot,
    sources: &[Source],
    refusals: &[Refusal],
) -> Result<(), String> {
    let known = plugin_names(snap, sources, refusals);
    check(policy, snap, &known, Catalogue::builtin()).enforce()
}

/// Names of every plugin that exists here, loaded or not: the loaded ones, every embedded one
/// (even with `--no-embedded`: the name is real), refused ones, and the file name of each
/// directory component (a plugin left out by `--modules` is never described).
pub fn plugin_names(snap: &Snapshot, sources: &[Source], refusals: &[Refusal]) -> BTreeSet<String> {
    let mut names: BTreeSet<String> = snap.plugins.keys().cloned().collect();
    names.extend(
        crate::embedded::PLUGINS
            .iter()
            .filter_map(|(package, ..)| package.strip_prefix("aerie-plugin-"))
            .map(str::to_string),
    );
    for s in sources {
        names.extend(s.name_hint.clone());
        if let Origin::File(p) = &s.origin
            && let Some(stem) = p.file_stem().and_then(|s| s.to_str())
        {
            names.insert(stem.to_string());
        }
    }
    names.extend(refusals.iter().filter_map(|r| r.name.clone()));
    names
}

/// Check the policy's names against what exists.
pub fn check(
    policy: &Policy,
    snap: &Snapshot,
    known: &BTreeSet<String>,
    catalogue: &Catalogue,
) -> Findings {
    let mut f = Findings::default();
    let listed = |names: &mut dyn Iterator<Item = &str>| {
        let v: Vec<&str> = names.collect();
        if v.is_empty() {
            "none".to_string()
        } else {
            v.join(", ")
        }
    };
    for m in policy.modules.iter().flatten() {
        if !known.contains(m) {
            f.errors.push(format!(
                "--modules (or `modules` in aerie.toml) names `{m}`, which is not a plugin{}; plugins: {}",
                hint(m, known.iter().map(String::as_str)),
                listed(&mut known.iter().map(String::as_str))
            ));
        }
    }
    let op_ids = || catalogue.iter().map(|o| o.id.as_str());
    for (name, pp) in &policy.plugins {
        for op in pp.operations.iter().flatten() {
            if catalogue.get(op).is_none() {
                f.errors.push(format!(
                    "[plugins.{name}] operations names `{op}`, which is not a Falcon operation aerie knows{}",
                    hint(op, op_ids())
                ));
            }
        }
        let Some(plugin) = snap.plugins.get(name) else {
            if known.contains(name) {
                f.warnings.push(format!(
                    "[plugins.{name}] is configured but plugin `{name}` is not loaded (left out by --modules, or refused); its tool names are not checked"
                ));
            } else {
                f.errors.push(format!(
                    "[plugins.{name}] names no plugin{}; plugins: {}",
                    hint(name, known.iter().map(String::as_str)),
                    listed(&mut known.iter().map(String::as_str))
                ));
            }
            continue;
        };
        let tools = || plugin.tools.iter().map(|t| t.desc.name.as_str());
        for t in &pp.disabled_tools {
            if !tools().any(|n| n == t) {
                f.errors.push(format!(
                    "[plugins.{name}] disabled_tools names `{t}`, which is not a tool of plugin `{name}`{}; its tools: {}",
                    hint(t, tools()),
                    listed(&mut tools())
                ));
            }
        }
        for op in pp.operations.iter().flatten() {
            let declared = plugin
                .tools
                .iter()
                .any(|t| t.desc.operations.iter().any(|o| o == op));
            if catalogue.get(op).is_some() && !declared {
                f.warnings.push(format!(
                    "[plugins.{name}] operations names `{op}`, which no tool of plugin `{name}` declares"
                ));
            }
        }
    }
    f
}

/// After a reload: configured plugins that were served before and are not now. Their settings
/// apply to nothing until they come back, which the operator must hear about.
pub fn vanished(policy: &Policy, before: &Snapshot, after: &Snapshot) -> Vec<String> {
    policy
        .plugins
        .keys()
        .filter(|n| before.plugins.contains_key(*n) && !after.plugins.contains_key(*n))
        .map(|n| {
            format!(
                "configured plugin `{n}` is no longer loaded after a reload (its file was removed or refused); [plugins.{n}] applies to nothing until it returns"
            )
        })
        .collect()
}

/// `; did you mean `x`?` for the nearest candidate within a small edit distance, else nothing.
pub(crate) fn hint<'a>(word: &str, candidates: impl Iterator<Item = &'a str>) -> String {
    nearest(word, candidates)
        .map(|c| format!("; did you mean `{c}`?"))
        .unwrap_or_default()
}

/// The candidate closest to `word`, if it is close enough to be a typo of it (case aside).
pub(crate) fn nearest<'a>(
    word: &str,
    candidates: impl Iterator<Item = &'a str>,
) -> Option<&'a str> {
    let w = word.to_ascii_lowercase();
    let limit = (w.chars().count() / 3).clamp(1, 4);
    candidates
        .map(|c| (strsim::levenshtein(&w, &c.to_ascii_lowercase()), c))
        .filter(|(d, _)| *d <= limit)
        .min()
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PluginPolicy;

    fn known() -> BTreeSet<String> {
        ["hosts", "detections", "rtr"]
            .into_iter()
            .map(String::from)
            .collect()
    }

    #[test]
    fn nearest_names_a_typo_not_a_stranger() {
        let c = ["hosts", "detections", "rtr"];
        assert_eq!(nearest("hostz", c.into_iter()), Some("hosts"));
        assert_eq!(nearest("Detection", c.into_iter()), Some("detections"));
        assert_eq!(nearest("ngsiem", c.into_iter()), None);
        assert_eq!(
            nearest(
                "rtr_upload_fille",
                ["rtr_upload_file", "rtr_download_file"].into_iter()
            ),
            Some("rtr_upload_file")
        );
    }

    #[test]
    fn unknown_names_are_errors_and_unloaded_real_ones_warnings() {
        let mut p = Policy {
            modules: Some(["detections".into(), "hostz".into()].into()),
            ..Default::default()
        };
        p.plugins.insert("hostz".into(), PluginPolicy::default());
        p.plugins.insert(
            "rtr".into(),
            PluginPolicy {
                operations: Some(vec!["RTR_ExecuteComand".into()]),
                ..Default::default()
            },
        );
        let f = check(&p, &Snapshot::default(), &known(), Catalogue::builtin());
        assert_eq!(f.errors.len(), 3, "{f:?}");
        assert!(f.errors[0].contains("`hostz`, which is not a plugin; did you mean `hosts`?"));
        assert!(f.errors[1].contains("[plugins.hostz] names no plugin; did you mean `hosts`?"));
        assert!(f.errors[2].contains("did you mean `RTR_ExecuteCommand`?"));
        assert_eq!(f.warnings.len(), 1);
        assert!(f.warnings[0].contains("[plugins.rtr] is configured but"));
        assert!(f.enforce().unwrap_err().contains("did you mean `hosts`?"));
    }
}
