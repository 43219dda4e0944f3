//! Plugins → tools. Loads embedded and directory plugins, validates their descriptors, applies
//! the policy, and publishes the result as one immutable [`Snapshot`] that can be swapped
//! atomically (calls in flight keep the snapshot they started with).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::Value;

pub mod bounds;
mod features;
mod names;
mod read;
pub mod uri_template;

use bounds::check_bounds;
pub use features::{Features, OutputSchema, Template, check_prompt};
pub use names::PluginSource;
use names::choose;
pub use read::{DEFAULT_MAX_COMPONENT_MIB, read_dir};
pub(crate) use read::{MAX_SIGNATURE_BYTES, ReadFailure, read_regular};

use crate::catalogue::Catalogue;
use crate::policy::{Policy, ToolGrant};
use crate::runtime::{Instance, LoadError, Runtime, Services, tools};

/// Where a plugin came from.
#[derive(Debug, Clone, PartialEq)]
pub enum Origin {
    /// Built into the binary.
    Embedded,
    /// A file in `--plugins-dir`.
    File(PathBuf),
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Embedded => f.write_str("embedded"),
            Origin::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// Component bytes to load.
pub struct Source {
    /// Where they came from.
    pub origin: Origin,
    /// The component.
    pub bytes: bytes::Bytes,
    /// Its SHA-256 (hex); for embedded plugins taken at build time.
    pub digest: String,
    /// Its detached signature file, if one sits beside it.
    pub signature: Option<Vec<u8>>,
    /// The plugin name, when known before loading (embedded plugins), so `--modules` can skip
    /// a plugin without compiling it.
    pub name_hint: Option<String>,
    /// What its `describe()` returns, when known at build time (embedded plugins): loading
    /// then compiles nothing, the code is compiled on the first call.
    pub description: Option<&'static str>,
}

impl Source {
    /// A component read from `path`.
    pub fn file(path: PathBuf, bytes: Arc<[u8]>, signature: Option<Vec<u8>>) -> Source {
        Source {
            origin: Origin::File(path),
            digest: crate::runtime::sha256_hex(&bytes),
            bytes: bytes::Bytes::from_owner(bytes),
            signature,
            name_hint: None,
            description: None,
        }
    }
}

/// A tool ready to serve.
pub struct Tool {
    /// The descriptor as the plugin gave it.
    pub desc: tools::Tool,
    /// Parsed input schema.
    pub schema: Arc<serde_json::Map<String, Value>>,
    /// Compiled validator for the schema.
    pub validator: jsonschema::Validator,
    /// What the policy allows.
    pub grant: ToolGrant,
    /// The schema its structured results must match, if it declared one.
    pub output: Option<OutputSchema>,
}

/// A loaded plugin.
pub struct Plugin {
    /// Name, version, description, resources.
    pub name: String,
    /// Version string.
    pub version: String,
    /// One line on the group.
    pub description: String,
    /// Where it came from.
    pub origin: Origin,
    /// SHA-256 of the component.
    pub digest: String,
    /// Tools, in descriptor order.
    pub tools: Vec<Tool>,
    /// Static resources.
    pub resources: Vec<tools::Resource>,
    /// Prompts, resource templates and completers (the optional `mcp` export).
    pub features: Features,
    /// The callable instance.
    pub instance: Instance,
}

/// Everything being served at one moment.
#[derive(Default)]
pub struct Snapshot {
    /// Plugins by name.
    pub plugins: BTreeMap<String, Arc<Plugin>>,
    /// Tool name → (plugin, index into its tools).
    pub tools: BTreeMap<String, (Arc<Plugin>, usize)>,
    /// Resource URI → (plugin, index into its resources).
    pub resources: BTreeMap<String, (Arc<Plugin>, usize)>,
    /// Prompt name → (plugin, index into its prompts).
    pub prompts: BTreeMap<String, (Arc<Plugin>, usize)>,
    /// URI template → (plugin, index into its templates).
    pub templates: BTreeMap<String, (Arc<Plugin>, usize)>,
    /// Completer name → (plugin, index into its completers).
    pub completers: BTreeMap<String, (Arc<Plugin>, usize)>,
    /// Component digest → why those bytes were refused at compile, describe or validation.
    /// Kept only for components still present, so it is bounded by the directory.
    pub refused: BTreeMap<String, Remembered>,
    /// Plugins that loaded but are not served (refused for their name or a clash, or left out
    /// by `--modules`), kept so a reload does not compile and describe them again.
    pub parked: Vec<Arc<Plugin>>,
}

impl Snapshot {
    /// Look up an enabled tool.
    pub fn tool(&self, name: &str) -> Option<(&Arc<Plugin>, &Tool)> {
        let (p, i) = self.tools.get(name)?;
        let t = &p.tools[*i];
        t.grant.enabled.then_some((p, t))
    }
}

/// A plugin that was refused, and why.
#[derive(Debug)]
pub struct Refusal {
    /// Where it came from.
    pub origin: Origin,
    /// Plugin name when known.
    pub name: Option<String>,
    /// What to fix.
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.name {
            Some(n) => write!(f, "plugin `{n}` ({}) refused: {}", self.origin, self.reason),
            None => write!(f, "plugin {} refused: {}", self.origin, self.reason),
        }
    }
}

/// The live registry.
pub struct Registry {
    current: ArcSwap<Snapshot>,
}

impl Registry {
    /// A registry serving `snapshot`.
    pub fn new(snapshot: Snapshot) -> Registry {
        Registry {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    /// The snapshot to serve a request with.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// Publish a new snapshot in one step.
    pub fn publish(&self, snapshot: Snapshot) {
        self.current.store(Arc::new(snapshot));
    }
}

/// Whether `s` is a valid plugin, tool, prompt, argument or completer name.
pub(crate) fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Check a descriptor and build its tools; every error names what to fix.
fn build_tools(
    policy: &Policy,
    catalogue: &Catalogue,
    d: &tools::Descriptor,
) -> Result<Vec<Tool>, String> {
    if !valid_name(&d.name) {
        return Err(format!(
            "plugin name `{}` must match ^[a-z0-9_]{{1,64}}$",
            crate::runtime::truncate_str(&d.name, 80)
        ));
    }
    check_bounds(d)?;
    let mut out: Vec<Tool> = Vec::new();
    for t in &d.tools {
        if !valid_name(&t.name) {
            return Err(format!(
                "tool name `{}` must match ^[a-z0-9_]{{1,64}}$",
                t.name
            ));
        }
        if t.name.starts_with(crate::controls::builtins::PREFIX) {
            return Err(format!(
                "tool name `{}` starts with `{}`, which is reserved for aerie's built-in tools",
                t.name,
                crate::controls::builtins::PREFIX
            ));
        }
        if out.iter().any(|o| o.desc.name == t.name) {
            return Err(format!("tool `{}` is declared twice", t.name));
        }
        let schema: Value = serde_json::from_str(&t.input_schema)
            .map_err(|e| format!("tool `{}`: input schema is not JSON: {e}", t.name))?;
        let Value::Object(obj) = &schema else {
            return Err(format!(
                "tool `{}`: input schema must be a JSON object",
                t.name
            ));
        };
        if obj.get("type").and_then(Value::as_str) != Some("object") {
            return Err(format!(
                "tool `{}`: input schema must have \"type\": \"object\"",
                t.name
            ));
        }
        let validator = jsonschema::validator_for(&schema).map_err(|e| {
            format!(
                "tool `{}`: input schema is not valid JSON Schema: {e}",
                t.name
            )
        })?;
        if let Some(op) = t.operations.iter().find(|op| catalogue.get(op).is_none()) {
            return Err(format!(
                "tool `{}` declares unknown operation `{op}` (not in the catalogue)",
                t.name
            ));
        }
        let grant = policy.grant(
            catalogue,
            &d.name,
            &t.name,
            t.tier == tools::Tier::Write,
            &t.operations,
        );
        out.push(Tool {
            desc: t.clone(),
            schema: Arc::new(listed_schema(obj.clone())),
            validator,
            grant,
            output: None,
        });
    }
    for r in &d.resources {
        if r.uri.is_empty() || !r.uri.contains("://") {
            return Err(format!(
                "resource URI `{}` must be absolute, e.g. falcon://fql/hosts",
                r.uri
            ));
        }
    }
    Ok(out)
}

/// Check a directory plugin's signature or pin against the policy. Embedded plugins are part
/// of the binary and need none.
fn verify(policy: &Policy, source: &Source) -> Result<(), Refusal> {
    if source.origin == Origin::Embedded {
        return Ok(());
    }
    policy
        .signing
        .check(&source.bytes, source.signature.as_deref())
        .map_err(|reason| Refusal {
            origin: source.origin.clone(),
            name: None,
            reason,
        })
}

/// The input schema as `tools/list` shows it: without the top-level
/// `"additionalProperties": false`, which is on every tool and would cost 29 B each. Arguments are
/// still validated against the full schema, so an unknown one is refused with an error naming it.
pub fn listed_schema(mut schema: serde_json::Map<String, Value>) -> serde_json::Map<String, Value> {
    if schema.get("additionalProperties") == Some(&Value::Bool(false)) {
        schema.remove("additionalProperties");
    }
    schema
}

/// Compile, describe and validate one source (signatures are checked by the caller).
pub async fn load_one(
    runtime: &Runtime,
    policy: &Policy,
    services: Arc<dyn Services>,
    source: &Source,
) -> Result<Plugin, Refusal> {
    let refuse = |name: Option<String>, reason: String| Refusal {
        origin: source.origin.clone(),
        name,
        reason,
    };
    let (description, code) = runtime
        .load(
            source.bytes.clone(),
            &source.digest,
            source.description,
            services,
        )
        .await
        .map_err(|e: LoadError| refuse(None, e.to_string()))?;
    let (d, f) = (description.descriptor, description.features);
    let named = |r: String| {
        refuse(
            Some(crate::runtime::truncate_str(&d.name, 80).to_string()),
            r,
        )
    };
    let mut tools = build_tools(policy, Catalogue::builtin(), &d).map_err(named)?;
    let features = features::build(&mut tools, f.as_ref()).map_err(named)?;
    let limits = policy.limits(&d.name);
    Ok(Plugin {
        name: d.name,
        version: d.version,
        description: d.description,
        origin: source.origin.clone(),
        digest: source.digest.clone(),
        tools,
        resources: d.resources,
        features,
        instance: runtime.instance(code, limits),
    })
}

/// A refusal remembered by content digest, so unchanged bytes are not compiled and described
/// again on every reload.
#[derive(Debug, Clone)]
pub struct Remembered {
    /// Plugin name when known.
    pub name: Option<String>,
    /// Why it was refused.
    pub reason: String,
}

/// Load `sources` in order (embedded first, then the directory) into a snapshot. When several
/// plugins declare one name, [`choose`] decides (by `[plugins.<name>] source`); a tool or
/// resource clash refuses the later plugin. Refused plugins are returned, the rest still load.
///
/// With `previous` (a hot reload), a component whose bytes are unchanged is reused without
/// compiling or describing it again, bytes refused before are refused again at once, and a file
/// that is now refused keeps serving the version that was good before: a bad new version never
/// replaces a good one.
pub async fn load_all(
    runtime: &Runtime,
    policy: &Policy,
    services: Arc<dyn Services>,
    sources: &[Source],
    previous: Option<&Snapshot>,
) -> (Snapshot, Vec<Refusal>) {
    let mut refusals = Vec::new();
    let mut refused: BTreeMap<String, Remembered> = BTreeMap::new();
    let mut by_name: BTreeMap<String, Vec<Arc<Plugin>>> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut parked: Vec<Arc<Plugin>> = Vec::new();
    let prior = |pred: &dyn Fn(&Plugin) -> bool| {
        previous.and_then(|s| {
            s.plugins
                .values()
                .chain(&s.parked)
                .find(|p| pred(p))
                .cloned()
        })
    };
    for source in sources {
        if source
            .name_hint
            .as_deref()
            .is_some_and(|n| !policy.loads(n))
        {
            continue;
        }
        let digest = source.digest.clone();
        let earlier = previous.and_then(|s| s.refused.get(&digest));
        let loaded = match verify(policy, source) {
            Err(r) => Err(r),
            Ok(()) => match prior(&|p| p.digest == digest && p.origin == source.origin) {
                Some(p) => Ok(p),
                None => match earlier {
                    Some(e) => {
                        refused.insert(digest.clone(), e.clone());
                        Err(Refusal {
                            origin: source.origin.clone(),
                            name: e.name.clone(),
                            reason: format!(
                                "refused earlier (digest sha256:{}…), not examined again until the file changes: {}",
                                &digest[..16],
                                e.reason
                            ),
                        })
                    }
                    None => {
                        let r = load_one(runtime, policy, services.clone(), source).await;
                        if let Err(r) = &r {
                            // Compiling, describing and validating depend only on the bytes
                            // and the policy, which is fixed for the process's life.
                            refused.insert(
                                digest.clone(),
                                Remembered {
                                    name: r.name.clone(),
                                    reason: r.reason.clone(),
                                },
                            );
                        }
                        r.map(Arc::new)
                    }
                },
            },
        };
        let p = match loaded {
            Ok(p) => p,
            Err(r) => {
                let kept = prior(&|p| p.origin == source.origin);
                if let Some(k) = &kept {
                    tracing::warn!(plugin = %k.name, version = %k.version, "keeping the previous version: {r}");
                }
                refusals.push(r);
                match kept {
                    Some(k) => k,
                    None => continue,
                }
            }
        };
        if !policy.loads(&p.name) {
            tracing::debug!(plugin = %p.name, "not loaded: not in --modules");
            parked.push(p);
            continue;
        }
        let same = by_name.entry(p.name.clone()).or_default();
        if same.is_empty() {
            order.push(p.name.clone());
        }
        same.push(p);
    }
    let mut plugins: BTreeMap<String, Arc<Plugin>> = BTreeMap::new();
    for (name, candidates) in by_name {
        let pick = policy.plugins.get(&name).and_then(|pp| pp.source.as_ref());
        let incumbent = previous
            .and_then(|s| s.plugins.get(&name))
            .map(|p| &p.origin);
        let all = candidates.clone();
        let (winner, lost) = choose(&name, candidates, pick, incumbent);
        refusals.extend(lost);
        parked.extend(
            all.into_iter()
                .filter(|p| !winner.as_ref().is_some_and(|w| Arc::ptr_eq(w, p))),
        );
        if let Some(w) = winner {
            plugins.insert(name, w);
        }
    }
    // On a reload, plugins already serving claim their tools first: a newcomer that clashes
    // with them is refused, rather than displacing what clients are using.
    if let Some(prev) = previous {
        order.sort_by_key(|n| !prev.plugins.contains_key(n));
    }
    let mut snap = Snapshot {
        refused,
        parked,
        ..Snapshot::default()
    };
    for name in order {
        let Some(p) = plugins.remove(&name) else {
            continue;
        };
        let clash = p.tools.iter().find_map(|t| {
            snap.tools.get(&t.desc.name).map(|(o, _)| {
                format!(
                    "tool `{}` is already provided by plugin `{}`",
                    t.desc.name, o.name
                )
            })
        });
        let clash = clash.or_else(|| {
            p.resources.iter().find_map(|r| {
                snap.resources.get(&r.uri).map(|(o, _)| {
                    format!(
                        "resource `{}` is already provided by plugin `{}`",
                        r.uri, o.name
                    )
                })
            })
        });
        let clash = clash.or_else(|| feature_clash(&snap, &p));
        if let Some(reason) = clash {
            refusals.push(Refusal {
                origin: p.origin.clone(),
                name: Some(p.name.clone()),
                reason,
            });
            snap.parked.push(p);
            continue;
        }
        for (i, t) in p.tools.iter().enumerate() {
            snap.tools.insert(t.desc.name.clone(), (p.clone(), i));
        }
        for (i, r) in p.resources.iter().enumerate() {
            snap.resources.insert(r.uri.clone(), (p.clone(), i));
        }
        for (i, x) in p.features.prompts.iter().enumerate() {
            snap.prompts.insert(x.name.clone(), (p.clone(), i));
        }
        for (i, x) in p.features.templates.iter().enumerate() {
            snap.templates
                .insert(x.desc.uri_template.clone(), (p.clone(), i));
        }
        for (i, x) in p.features.completers.iter().enumerate() {
            snap.completers.insert(x.name.clone(), (p.clone(), i));
        }
        snap.plugins.insert(p.name.clone(), p);
    }
    (snap, refusals)
}

/// Why `p`'s prompts, templates or completers cannot join `snap`: a name another plugin (or,
/// for prompts, the host) already serves.
fn feature_clash(snap: &Snapshot, p: &Plugin) -> Option<String> {
    let taken = |kind: &str, name: &str, by: Option<&Arc<Plugin>>| {
        by.map(|o| format!("{kind} `{name}` is already provided by plugin `{}`", o.name))
    };
    p.features
        .prompts
        .iter()
        .find_map(|x| {
            if crate::prompts::is_host_prompt(&x.name) {
                return Some(format!("prompt `{}` is one of aerie's own prompts", x.name));
            }
            taken("prompt", &x.name, snap.prompts.get(&x.name).map(|(o, _)| o))
        })
        .or_else(|| {
            p.features.templates.iter().find_map(|x| {
                let uri = &x.desc.uri_template;
                taken(
                    "resource template",
                    uri,
                    snap.templates.get(uri).map(|(o, _)| o),
                )
            })
        })
        .or_else(|| {
            p.features.completers.iter().find_map(|x| {
                taken(
                    "completer",
                    &x.name,
                    snap.completers.get(&x.name).map(|(o, _)| o),
                )
            })
        })
}

impl Snapshot {
    /// Whether `other` remembers the same refused and parked components as this one.
    pub fn same_memory(&self, other: &Snapshot) -> bool {
        self.refused.keys().eq(other.refused.keys())
            && self
                .parked
                .iter()
                .map(|p| (&p.digest, &p.origin))
                .eq(other.parked.iter().map(|p| (&p.digest, &p.origin)))
    }

    /// Whether `other` serves the same plugins (by content) as this one.
    pub fn same_plugins(&self, other: &Snapshot) -> bool {
        self.plugins.len() == other.plugins.len()
            && self
                .plugins
                .iter()
                .zip(&other.plugins)
                .all(|((a, pa), (b, pb))| a == b && pa.digest == pb.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_prefix_is_reserved() {
        let d = tools::Descriptor {
            name: "p".into(),
            version: "1".into(),
            description: "d".into(),
            tools: vec![tools::Tool {
                name: "aerie_budget".into(),
                title: "t".into(),
                description: "d".into(),
                input_schema: r#"{"type":"object"}"#.into(),
                tier: tools::Tier::Read,
                destructive: false,
                idempotent: true,
                cacheable: false,
                operations: vec![],
                needs: vec![],
            }],
            resources: vec![],
        };
        match build_tools(&Policy::default(), Catalogue::builtin(), &d) {
            Err(e) => assert!(e.contains("reserved for aerie's built-in tools"), "{e}"),
            Ok(_) => panic!("a plugin tool named aerie_* was accepted"),
        }
    }
}
