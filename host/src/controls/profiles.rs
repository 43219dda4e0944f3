//! Tool profiles: named sets of tool glob patterns, a write switch, call budgets and a cache TTL,
//! from `[profiles.<name>]` in `aerie.toml`, chosen by `--profile` (stdio, and HTTP keys mapped to
//! none) or by the API key (HTTP). A profile only narrows what the server serves: a write tool
//! needs the server's writes and the profile's.
//!
//! Every name and pattern must match a served tool (checked at start and by `aerie config
//! check`, with the nearest valid name), so a typo never leaves a tool visible that the operator
//! meant to hide, or hides one silently. Patterns for tool groups that are not installed yet go
//! in `optional_tools`, which may match nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;

use crate::policy::check::{Findings, hint};
use crate::registry::{self, Snapshot};
use crate::runtime::tools::Tier;

/// `[profiles]`: every `[profiles.<name>]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(transparent)]
pub struct ProfilesFile(pub BTreeMap<String, ProfileFile>);

/// One `[profiles.<name>]` section.
#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProfileFile {
    /// Tool names or glob patterns (`*`, `?`) to include; default: every tool (unless
    /// `optional_tools` is given, then only those).
    pub tools: Option<Vec<String>>,
    /// Patterns included like `tools` that may match nothing (tool groups not installed yet).
    pub optional_tools: Vec<String>,
    /// Tool names or patterns to leave out, even when included.
    pub exclude: Vec<String>,
    /// Whether this profile may use write tools (also needs the server's `allow_writes`).
    pub allow_writes: bool,
    /// Plugin tool calls per session, all tools together (default: unlimited).
    pub budget: Option<u32>,
    /// Calls per session of one tool, or of all tools a pattern matches together.
    pub budget_per_tool: BTreeMap<String, u32>,
    /// Result cache TTL for this profile's calls, in seconds (default: the global one).
    pub cache_ttl_secs: Option<u64>,
    /// `[tenants]` this profile may use (default: all of them).
    pub tenants: Vec<String>,
}

/// A tool name or a glob over tool names: `*` is any run of characters, `?` any one. Tool
/// names are `[a-z0-9_]`, so nothing else needs a syntax.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// Parse `s`; anything a tool name cannot contain (other than `*` and `?`) is an error.
    pub fn parse(s: &str) -> Result<Pattern, String> {
        if s.is_empty() || s.len() > 128 {
            return Err(format!(
                "`{s}` is not a tool name or pattern (1 to 128 characters)"
            ));
        }
        if let Some(c) = s
            .chars()
            .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '*' | '?'))
        {
            return Err(format!(
                "`{s}` contains `{c}`: tool names are lowercase letters, digits and `_`, and patterns add only `*` and `?`"
            ));
        }
        Ok(Pattern(s.to_string()))
    }

    /// The pattern as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether it has a wildcard (otherwise it names one tool).
    pub fn is_glob(&self) -> bool {
        self.0.contains(['*', '?'])
    }

    /// Whether `name` matches. Linear backtracking over the last `*`: no recursion, and at
    /// most `len(pattern) * len(name)` steps.
    pub fn matches(&self, name: &str) -> bool {
        let (p, n) = (self.0.as_bytes(), name.as_bytes());
        let (mut pi, mut ni) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while ni < n.len() {
            if pi < p.len() && (p[pi] == b'?' || p[pi] == n[ni]) {
                pi += 1;
                ni += 1;
            } else if pi < p.len() && p[pi] == b'*' {
                star = Some((pi, ni));
                pi += 1;
            } else if let Some((sp, sn)) = star {
                pi = sp + 1;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            } else {
                return false;
            }
        }
        p[pi..].iter().all(|&c| c == b'*')
    }
}

/// A per-tool budget: at most `limit` calls per session of the tools `tools` matches, together.
#[derive(Debug, Clone)]
pub struct ToolBudget {
    /// The tool name or pattern, as written in `budget_per_tool`.
    pub tools: Pattern,
    /// Calls allowed per session.
    pub limit: u32,
}

/// One profile.
#[derive(Debug)]
pub struct Profile {
    /// Its name, as in `[profiles.<name>]`; `default` when none is configured.
    pub name: String,
    /// Result cache TTL for this profile's calls (overrides the global `[cache]` TTL; a
    /// per-tool TTL overrides both). `None`: the global setting.
    pub cache_ttl: Option<Duration>,
    /// Included patterns (`tools`); `None`, with no `optional`: every tool.
    include: Option<Vec<Pattern>>,
    /// Included patterns that may match nothing (`optional_tools`).
    optional: Vec<Pattern>,
    /// Excluded patterns.
    exclude: Vec<Pattern>,
    /// Whether write tools are allowed (the server must allow them too).
    allow_writes: bool,
    /// Plugin tool calls per session, all tools together.
    pub budget: Option<u32>,
    /// Per-tool (or per-pattern) budgets.
    pub budget_per_tool: Vec<ToolBudget>,
    /// The `[tenants]` it may use; empty: all.
    pub tenants: Vec<String>,
}

impl Profile {
    /// The profile used when the operator configured none: everything the server serves.
    pub fn unrestricted() -> Profile {
        Profile {
            name: "default".into(),
            cache_ttl: None,
            include: None,
            optional: Vec::new(),
            exclude: Vec::new(),
            allow_writes: true,
            budget: None,
            budget_per_tool: Vec::new(),
            tenants: Vec::new(),
        }
    }

    /// The profile `[profiles.<name>]` describes.
    fn from_file(name: &str, f: &ProfileFile) -> Result<Profile, String> {
        let at = |key: &str, e: String| format!("[profiles.{name}] {key}: {e}");
        let parse = |key: &str, v: &[String]| -> Result<Vec<Pattern>, String> {
            v.iter()
                .map(|s| Pattern::parse(s).map_err(|e| at(key, e)))
                .collect()
        };
        let include = f.tools.as_deref().map(|t| parse("tools", t)).transpose()?;
        let optional = parse("optional_tools", &f.optional_tools)?;
        if f.budget == Some(0) {
            return Err(at(
                "budget",
                "0 would refuse every call; leave the tools out with `tools`/`exclude` instead"
                    .into(),
            ));
        }
        let mut budget_per_tool = Vec::new();
        for (tool, &limit) in &f.budget_per_tool {
            let tools = Pattern::parse(tool).map_err(|e| at("budget_per_tool", e))?;
            if limit == 0 {
                return Err(at(
                    "budget_per_tool",
                    format!("`{tool}` = 0 would refuse every call; exclude it instead"),
                ));
            }
            budget_per_tool.push(ToolBudget { tools, limit });
        }
        Ok(Profile {
            name: name.to_string(),
            cache_ttl: f.cache_ttl_secs.map(Duration::from_secs),
            include,
            optional,
            exclude: parse("exclude", &f.exclude)?,
            allow_writes: f.allow_writes,
            budget: f.budget,
            budget_per_tool,
            tenants: f.tenants.clone(),
        })
    }

    /// Whether the patterns let `name` through (writes aside).
    pub fn includes_name(&self, name: &str) -> bool {
        let included = match &self.include {
            None if self.optional.is_empty() => true,
            inc => inc
                .iter()
                .flatten()
                .chain(&self.optional)
                .any(|p| p.matches(name)),
        };
        included && !self.exclude.iter().any(|p| p.matches(name))
    }

    /// Whether this profile may see and call `tool`: its patterns let the name through, and a
    /// write tool needs the profile's writes (the server's are already applied to the grant).
    pub fn allows_tool(&self, tool: &registry::Tool) -> bool {
        (tool.desc.tier != Tier::Write || self.allow_writes) && self.includes_name(&tool.desc.name)
    }

    /// Whether any call of this profile is counted.
    pub fn has_budget(&self) -> bool {
        self.budget.is_some() || !self.budget_per_tool.is_empty()
    }
}

/// Every configured profile and the default.
#[derive(Debug)]
pub struct Profiles {
    default: Arc<Profile>,
    named: BTreeMap<String, Arc<Profile>>,
}

impl Default for Profiles {
    fn default() -> Self {
        Profiles {
            default: Arc::new(Profile::unrestricted()),
            named: BTreeMap::new(),
        }
    }
}

impl Profiles {
    /// The profiles `file` configures. The default is `selected` (`--profile`) when given, else
    /// `[profiles.default]` when configured, else a profile that allows everything.
    pub fn from_file(file: &ProfilesFile, selected: Option<&str>) -> Result<Profiles, String> {
        let mut named = BTreeMap::new();
        for (name, f) in &file.0 {
            if name.is_empty()
                || name.len() > 64
                || !name
                    .chars()
                    .all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
            {
                return Err(format!(
                    "[profiles.{name}]: a profile name is 1 to 64 of a-z, 0-9, `_` and `-`"
                ));
            }
            named.insert(name.clone(), Arc::new(Profile::from_file(name, f)?));
        }
        let default = match selected {
            Some(name) => named.get(name).cloned().ok_or_else(|| {
                let names: Vec<&str> = named.keys().map(String::as_str).collect();
                format!(
                    "--profile `{name}`: no such profile{} (define it as [profiles.{name}] in aerie.toml; profiles: {})",
                    hint(name, names.iter().copied()),
                    if names.is_empty() { "none".to_string() } else { names.join(", ") }
                )
            })?,
            None => named
                .get("default")
                .cloned()
                .unwrap_or_else(|| Arc::new(Profile::unrestricted())),
        };
        Ok(Profiles { default, named })
    }

    /// The profile named `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Profile>> {
        self.named.get(name).cloned()
    }

    /// The profile of a caller that names none.
    pub fn default_profile(&self) -> Arc<Profile> {
        self.default.clone()
    }

    /// Names of the configured profiles.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.named.keys().map(String::as_str)
    }

    /// `Err` naming the nearest profile when `name` (from `what`, e.g. an API key entry) is not
    /// a configured profile.
    pub fn require(&self, name: &str, what: &str) -> Result<(), String> {
        if self.named.contains_key(name) {
            return Ok(());
        }
        let names: Vec<&str> = self.names().collect();
        Err(format!(
            "{what} maps to profile `{name}`, which is not configured{}; profiles: {}",
            hint(name, names.iter().copied()),
            if names.is_empty() {
                "none".to_string()
            } else {
                names.join(", ")
            }
        ))
    }

    /// Every pattern of every profile against the tools being served (see
    /// [`check_patterns`]); `tools` patterns that name tools not installed yet belong in
    /// `optional_tools`, and a per-tool budget on tools the profile leaves out is a warning.
    pub fn check(&self, snap: &Snapshot, known: &BTreeSet<String>) -> Findings {
        let mut f = Findings::default();
        let tools: Vec<&str> = snap.tools.keys().map(String::as_str).collect();
        for (name, p) in &self.named {
            if let Some(inc) = &p.include {
                check_patterns(
                    &format!("[profiles.{name}] tools"),
                    inc,
                    " (a pattern for tools not installed yet belongs in optional_tools)",
                    snap,
                    known,
                    &mut f,
                );
            }
            check_patterns(
                &format!("[profiles.{name}] exclude"),
                &p.exclude,
                "",
                snap,
                known,
                &mut f,
            );
            let budgeted: Vec<Pattern> =
                p.budget_per_tool.iter().map(|b| b.tools.clone()).collect();
            check_patterns(
                &format!("[profiles.{name}] budget_per_tool"),
                &budgeted,
                "",
                snap,
                known,
                &mut f,
            );
            for b in &p.budget_per_tool {
                let used = tools
                    .iter()
                    .any(|t| b.tools.matches(t) && p.includes_name(t));
                if !used && tools.iter().any(|t| b.tools.matches(t)) {
                    f.warnings.push(format!(
                        "[profiles.{name}] budget_per_tool: `{}` matches only tools the profile leaves out",
                        b.tools.as_str()
                    ));
                }
            }
        }
        f
    }
}

/// Check that each of `patterns` (set under the config key `key`) matches a tool being served:
/// one that matches nothing is a typo that would silently hide, show or ungate the wrong tools,
/// so it is an error naming the nearest tool (or `<group>_*`), with `advice` appended — unless
/// it belongs to a plugin that exists but is not loaded (`known`, e.g. left out by
/// `--modules`), which is a warning.
pub fn check_patterns(
    key: &str,
    patterns: &[Pattern],
    advice: &str,
    snap: &Snapshot,
    known: &BTreeSet<String>,
    f: &mut Findings,
) {
    let tools: Vec<&str> = snap.tools.keys().map(String::as_str).collect();
    let groups: Vec<String> = snap.plugins.keys().map(|p| format!("{p}_*")).collect();
    for pat in patterns {
        if tools.iter().any(|t| pat.matches(t)) {
            continue;
        }
        let s = pat.as_str();
        let unloaded = known
            .iter()
            .find(|k| !snap.plugins.contains_key(*k) && s.starts_with(&format!("{k}_")));
        match unloaded {
            Some(plugin) => f.warnings.push(format!(
                "{key}: `{s}` matches no tool now: plugin `{plugin}` is not loaded"
            )),
            None => f.errors.push(format!(
                "{key}: `{s}` matches no tool{}{advice}",
                hint(
                    s,
                    tools
                        .iter()
                        .copied()
                        .chain(groups.iter().map(String::as_str))
                )
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> Pattern {
        Pattern::parse(s).unwrap()
    }

    #[test]
    fn globs_match_whole_names() {
        assert!(pat("hosts_*").matches("hosts_search"));
        assert!(pat("hosts_*").matches("hosts_"));
        assert!(!pat("hosts_*").matches("xhosts_search"));
        assert!(pat("*_get").matches("detections_get"));
        assert!(!pat("*_get").matches("detections_get_incident"));
        assert!(pat("*_get*").matches("detections_get_incident"));
        assert!(pat("rtr_?et_*").matches("rtr_get_session"));
        assert!(!pat("rtr_?et_*").matches("rtr_gget_session"));
        assert!(pat("*").matches("anything"));
        assert!(pat("a*b*c").matches("aXXbYYbc"));
        assert!(!pat("a*b*c").matches("aXXbYYb"));
        assert!(pat("ngsiem_query").matches("ngsiem_query"));
        assert!(!pat("ngsiem_query").matches("ngsiem_query2"));
        assert!(pat("hosts_*").is_glob() && pat("h?sts").is_glob());
        assert!(!pat("hosts_get").is_glob());
    }

    #[test]
    fn bad_patterns_and_values_are_errors_naming_the_key() {
        let e = Pattern::parse("Hosts-*").unwrap_err();
        assert!(e.contains("contains `H`"), "{e}");
        let load = |toml: &str| {
            let f: ProfilesFile = toml::from_str(toml).unwrap();
            Profiles::from_file(&f, None)
        };
        let e = load("[triage]\ntools = ['hosts_[ab]']\n").unwrap_err();
        assert!(
            e.starts_with("[profiles.triage] tools: `hosts_[ab]` contains `[`"),
            "{e}"
        );
        let e = load("[triage]\nbudget = 0\n").unwrap_err();
        assert!(e.contains("[profiles.triage] budget: 0"), "{e}");
        let e = load("[triage]\nbudget_per_tool = { ngsiem_query = 0 }\n").unwrap_err();
        assert!(
            e.contains("[profiles.triage] budget_per_tool: `ngsiem_query` = 0"),
            "{e}"
        );
        let e = load("[Triage]\n").unwrap_err();
        assert!(e.contains("[profiles.Triage]: a profile name"), "{e}");
        assert!(toml::from_str::<ProfilesFile>("[t]\ntool = ['x']\n").is_err());
    }

    #[test]
    fn selection_and_default() {
        let f: ProfilesFile =
            toml::from_str("[triage]\ntools = ['hosts_*']\n[hunt]\nexclude = ['rtr_*']\n").unwrap();
        let p = Profiles::from_file(&f, None).unwrap();
        assert_eq!(p.default_profile().name, "default");
        assert!(p.default_profile().includes_name("rtr_init_session"));
        let p = Profiles::from_file(&f, Some("hunt")).unwrap();
        assert_eq!(p.default_profile().name, "hunt");
        assert!(!p.default_profile().includes_name("rtr_init_session"));
        assert!(p.default_profile().includes_name("hosts_get"));
        let triage = p.get("triage").unwrap();
        assert!(triage.includes_name("hosts_get") && !triage.includes_name("ngsiem_query"));
        let e = Profiles::from_file(&f, Some("trage")).unwrap_err();
        assert!(e.contains("no such profile; did you mean `triage`?"), "{e}");
        assert!(
            p.require("hnt", "[http] api_keys entry 1")
                .unwrap_err()
                .contains("did you mean `hunt`?")
        );
        let f: ProfilesFile = toml::from_str("[default]\nbudget = 3\n").unwrap();
        let p = Profiles::from_file(&f, None).unwrap();
        assert_eq!(p.default_profile().budget, Some(3));
    }

    #[test]
    fn optional_tools_alone_include_only_themselves() {
        let f: ProfilesFile = toml::from_str("[e]\noptional_tools = ['intel_*']\n").unwrap();
        let p = Profiles::from_file(&f, None).unwrap();
        let e = p.get("e").unwrap();
        assert!(e.includes_name("intel_search_actors"));
        assert!(!e.includes_name("hosts_get"));
    }
}
