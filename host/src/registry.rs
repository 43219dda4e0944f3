//! Plugins → tools. Loads embedded and directory plugins, validates their descriptors, applies
//! the policy, and publishes the result as one immutable [`Snapshot`] that can be swapped
//! atomically (calls in flight keep the snapshot they started with).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arc_swap::ArcSwap;
use serde::Deserialize;
use serde_json::Value;

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
    pub bytes: Arc<[u8]>,
    /// Its detached signature file, if one sits beside it.
    pub signature: Option<Vec<u8>>,
    /// The plugin name, when known before loading (embedded plugins), so `--modules` can skip
    /// a plugin without compiling it.
    pub name_hint: Option<String>,
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

/// Default cap on a directory component's size, in MiB (`max_component_mib` in `aerie.toml`).
/// First-party components are under 0.5 MiB.
pub const DEFAULT_MAX_COMPONENT_MIB: u64 = 64;
/// Cap on a detached signature file (a real one is about 300 bytes).
pub(crate) const MAX_SIGNATURE_BYTES: u64 = 64 << 10;

/// Why a plugins-directory entry could not be read.
pub(crate) enum ReadFailure {
    /// Nothing at that path.
    Missing,
    /// Something is there but is not acceptable; what to fix.
    Refused(String),
}

/// Read a regular file of at most `max` bytes, without ever blocking on or reading from
/// anything else. The checks run on the opened handle (fstat), not the path, so a file swapped
/// for a FIFO after listing cannot slip through; symlinks are followed, but only to a regular
/// file. `cap_key` names the setting that raises `max`.
pub(crate) fn read_regular(path: &Path, max: u64, cap_key: &str) -> Result<Arc<[u8]>, ReadFailure> {
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // Opening a FIFO for reading blocks until a writer appears, unless non-blocking; a
        // terminal must not become our controlling one.
        opts.custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY);
    }
    let mut file = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(ReadFailure::Missing),
        Err(e) => return Err(ReadFailure::Refused(format!("cannot open it: {e}"))),
    };
    let meta = file
        .metadata()
        .map_err(|e| ReadFailure::Refused(format!("cannot stat it: {e}")))?;
    if !meta.is_file() {
        return Err(ReadFailure::Refused(format!(
            "not a regular file ({}); only regular files are read",
            file_kind(&meta.file_type())
        )));
    }
    let len = meta.len();
    if len > max {
        return Err(ReadFailure::Refused(format!(
            "is {len} bytes ({}); at most {} ({cap_key})",
            human(len),
            human(max)
        )));
    }
    if len == 0 {
        // Also what /proc and similar pseudo-files report; never worth reading.
        return Err(ReadFailure::Refused("is empty".into()));
    }
    // One buffer of exactly the size fstat reported, read in place: no growth, no second copy.
    let Ok(n) = usize::try_from(len) else {
        return Err(ReadFailure::Refused(format!("is too large ({len} bytes)")));
    };
    let mut buf: Arc<[u8]> = std::iter::repeat_n(0u8, n).collect();
    let Some(slot) = Arc::get_mut(&mut buf) else {
        // Unreachable: `buf` was created on the line above and is not shared.
        return Err(ReadFailure::Refused("internal: buffer is shared".into()));
    };
    file.read_exact(slot)
        .map_err(|e| ReadFailure::Refused(format!("cannot read it: {e}")))?;
    Ok(buf)
}

/// `n` bytes in whole MiB (rounded down), or KiB below 1 MiB.
fn human(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{} MiB", n >> 20)
    } else {
        format!("{} KiB", n >> 10)
    }
}

fn file_kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

/// Read every `*.wasm` in `dir` (and its `.sig`), sorted by name so loading is deterministic.
/// An entry that is not a regular file, is larger than `max_component_bytes`, or cannot be read
/// is refused on its own; the others still load. Only an unreadable directory is an error.
pub fn read_dir(
    dir: &Path,
    max_component_bytes: u64,
) -> std::io::Result<(Vec<Source>, Vec<Refusal>)> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    paths.sort();
    let mut out = Vec::new();
    let mut refused = Vec::new();
    for p in paths {
        let refuse = |reason: String| Refusal {
            origin: Origin::File(p.clone()),
            name: None,
            reason,
        };
        let bytes = match read_regular(&p, max_component_bytes, "max_component_mib") {
            Ok(b) => b,
            Err(ReadFailure::Missing) if p.symlink_metadata().is_ok() => {
                refused.push(refuse("component file is a symlink to nothing".into()));
                continue;
            }
            // Gone between listing and opening: nothing to load, nothing to refuse.
            Err(ReadFailure::Missing) => continue,
            Err(ReadFailure::Refused(why)) => {
                refused.push(refuse(format!("component file {why}")));
                continue;
            }
        };
        let sig_path = crate::signing::signature_path(&p);
        let signature = match read_regular(&sig_path, MAX_SIGNATURE_BYTES, "signature files") {
            Ok(s) => Some(s.to_vec()),
            Err(ReadFailure::Missing) => None,
            Err(ReadFailure::Refused(why)) => {
                refused.push(refuse(format!(
                    "signature file {} {why}",
                    sig_path.display()
                )));
                continue;
            }
        };
        out.push(Source {
            origin: Origin::File(p),
            bytes,
            signature,
            name_hint: None,
        });
    }
    Ok((out, refused))
}

fn valid_name(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Caps on what one plugin's descriptor may declare, so a hostile or buggy plugin cannot make
/// every `tools/list` (and the schema compiler) slow or huge. First-party plugins use a small
/// fraction of each (see the `first_party_plugins_fit_the_bounds` test).
pub mod bounds {
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
    /// Bytes of the whole descriptor: every string in it together.
    pub const MAX_DESCRIPTOR_BYTES: usize = 2 << 20;
}

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
            r.uri.len() + r.name.len() + r.description.len() + r.mime_type.len() + r.text.len()
        })
        .sum();
    d.name.len() + d.version.len() + d.description.len() + tools + resources
}

/// `Err` naming the field and the cap when `len` exceeds `max`.
fn cap(what: &str, len: usize, max: usize) -> Result<(), String> {
    if len > max {
        return Err(format!("{what} is {len} bytes; at most {max}"));
    }
    Ok(())
}

/// Enforce [`bounds`] (counts, then each field, then the total) on lengths alone, before
/// anything is parsed or compiled.
fn check_bounds(d: &tools::Descriptor) -> Result<(), String> {
    use bounds::*;
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
        cap(
            &format!("resource `{uri}`: text"),
            r.text.len(),
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
            schema: Arc::new(obj.clone()),
            validator,
            grant,
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
    let compiled = runtime
        .compile(&source.bytes)
        .map_err(|e: LoadError| refuse(None, e.to_string()))?;
    let d = runtime
        .describe(&compiled, services)
        .await
        .map_err(|e| refuse(None, e.to_string()))?;
    let tools = build_tools(policy, Catalogue::builtin(), &d).map_err(|r| {
        refuse(
            Some(crate::runtime::truncate_str(&d.name, 80).to_string()),
            r,
        )
    })?;
    let limits = policy.limits(&d.name);
    Ok(Plugin {
        name: d.name,
        version: d.version,
        description: d.description,
        origin: source.origin.clone(),
        digest: compiled.digest.clone(),
        tools,
        resources: d.resources,
        instance: runtime.instance(compiled, limits),
    })
}

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
fn choose(
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
        let digest = crate::runtime::sha256_hex(&source.bytes);
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
        snap.plugins.insert(p.name.clone(), p);
    }
    (snap, refusals)
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
    use super::bounds::*;
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
        }
    }

    fn resource(i: usize) -> Resource {
        Resource {
            uri: format!("falcon://r/{i}"),
            name: "r".into(),
            description: "d".into(),
            mime_type: "text/plain".into(),
            text: "t".into(),
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
        d.resources[0].text = "x".repeat(MAX_RESOURCE_TEXT_BYTES + 1);
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
                text: "x".repeat(MAX_RESOURCE_TEXT_BYTES),
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
