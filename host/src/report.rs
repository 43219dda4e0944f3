//! Human-readable reports for `aerie plugins list` and `aerie config check`.

use std::fmt::Write;
use std::path::Path;
use std::sync::Arc;

use crate::app::{App, HostServices};
use crate::audit::Audit;
use crate::policy::Policy;
use crate::registry::{
    MAX_SIGNATURE_BYTES, Origin, Plugin, ReadFailure, Refusal, Registry, Source, load_all,
    read_regular,
};
use crate::runtime::Runtime;
use crate::runtime::tools::Tier;
use crate::server::Options;
use crate::signing;

/// Plugins, versions, tools, tiers and granted operations.
pub fn plugins(app: &App) -> String {
    let snap = app.registry.snapshot();
    let mut out = String::new();
    for p in snap.plugins.values() {
        let _ = writeln!(
            out,
            "{} {} ({}) — {}",
            p.name, p.version, p.origin, p.description
        );
        for t in &p.tools {
            let tier = if t.desc.tier == Tier::Write {
                "write"
            } else {
                "read"
            };
            let state = if t.grant.enabled { "" } else { " [disabled]" };
            let ops: Vec<&str> = t.grant.granted.iter().map(String::as_str).collect();
            let _ = writeln!(
                out,
                "  {:<32} {:<5}{} ops: {}",
                t.desc.name,
                tier,
                state,
                ops.join(", ")
            );
        }
    }
    if snap.plugins.is_empty() {
        out.push_str("no plugins loaded\n");
    }
    out
}

/// The tool table for the README: one line per tool, grouped by plugin, from the descriptors.
pub fn tools_markdown(app: &App) -> String {
    let snap = app.registry.snapshot();
    let mut out = String::new();
    for p in snap.plugins.values() {
        let _ = writeln!(
            out,
            "**{}** — {}
",
            p.name, p.description
        );
        let _ = writeln!(
            out,
            "| Tool | Tier | What it does |
|---|---|---|"
        );
        for t in &p.tools {
            let mut tier = if t.desc.tier == Tier::Write {
                "write".to_string()
            } else {
                "read".to_string()
            };
            if t.desc.destructive {
                tier.push_str(", destructive");
            }
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                t.desc.name,
                tier,
                t.desc.description.replace('|', "\\|").replace('\n', " ")
            );
        }
        out.push('\n');
    }
    out
}

/// The effective policy per plugin: what is granted, what is withheld and why.
pub fn policy(app: &App) -> String {
    let snap = app.registry.snapshot();
    let policy = &app.services.policy;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "writes: {}",
        if policy.allow_writes {
            "enabled"
        } else {
            "disabled (--allow-writes to enable)"
        }
    );
    let _ = writeln!(
        out,
        "rtr: max tier {:?}, blocked {:?}",
        policy.rtr.max_tier, policy.rtr.blocked
    );
    let _ = writeln!(
        out,
        "signing: {}",
        if policy.signing.require_signed {
            "required"
        } else {
            "optional"
        }
    );
    for p in snap.plugins.values() {
        out.push_str(&grants(p, policy));
    }
    out.push_str(&profiles(app));
    out
}

/// What each configured profile sees: its tools (as `tools/list` would show them) and budget.
pub fn profiles(app: &App) -> String {
    let snap = app.registry.snapshot();
    let profiles = &app.controls.profiles;
    let mut out = String::new();
    let names: Vec<&str> = profiles.names().collect();
    if names.is_empty() {
        return out;
    }
    let default = profiles.default_profile();
    for name in names {
        let Some(p) = profiles.get(name) else {
            continue;
        };
        let tools: Vec<&str> = snap
            .tools
            .keys()
            .filter(|t| snap.tool(t).is_some_and(|(_, tool)| p.allows_tool(tool)))
            .map(String::as_str)
            .collect();
        let budget = p.budget.map_or_else(
            || "unlimited".to_string(),
            |b| format!("{b} calls per session"),
        );
        let _ = writeln!(
            out,
            "\nprofile {name}{} — budget {budget}, {} tools: {}",
            if p.name == default.name {
                " (default)"
            } else {
                ""
            },
            tools.len(),
            tools.join(", ")
        );
    }
    out
}

/// One plugin's limits and, per tool, granted and withheld operations.
pub fn grants(p: &Plugin, policy: &Policy) -> String {
    let mut out = String::new();
    let limits = policy.limits(&p.name);
    let _ = writeln!(
        out,
        "\n[{}] {} ({}) — memory {} MiB, cpu {} ms, deadline {} s, concurrency {}, files {}",
        p.name,
        p.version,
        p.origin,
        limits.memory_mib,
        limits.cpu_ms,
        limits.deadline_secs,
        limits.concurrency,
        if policy.plugin(&p.name).files {
            "yes"
        } else {
            "no"
        }
    );
    for t in &p.tools {
        match &t.grant.disabled_reason {
            Some(r) => {
                let _ = writeln!(out, "  {} — not served: {r}", t.desc.name);
            }
            None => {
                let _ = writeln!(out, "  {}", t.desc.name);
            }
        }
        for op in &t.grant.granted {
            let _ = writeln!(out, "    + {op}");
        }
        for (op, why) in &t.grant.withheld {
            let _ = writeln!(out, "    - {op}: {why}");
        }
    }
    out
}

/// `aerie plugin check`: load one component as the server would (signature, world, descriptor,
/// names, schemas, operations) and report its grants. Returns the report and whether it passed.
pub async fn check_component(path: &Path, opts: Options) -> anyhow::Result<(String, bool)> {
    Ok(match check_loaded(path, opts).await? {
        Ok((report, _)) => (report, true),
        Err(report) => (report, false),
    })
}

/// [`check_component`], with the loaded plugin when it passed (`aerie plugin push` names the
/// artifact after it); the report alone when it did not.
pub async fn check_loaded(
    path: &Path,
    opts: Options,
) -> anyhow::Result<Result<(String, Arc<Plugin>), String>> {
    let policy = opts.file.policy(opts.allow_writes, opts.modules.as_deref());
    // The plugins directory's reader, so a FIFO, device or oversized file is refused at once
    // with the messages `serve` logs, instead of blocking or being read whole.
    let refused = |reason: String| Refusal {
        origin: Origin::File(path.to_path_buf()),
        name: None,
        reason,
    };
    let bytes = match read_regular(path, opts.file.max_component_bytes(), "max_component_mib") {
        Ok(b) => b,
        Err(ReadFailure::Missing) => {
            anyhow::bail!(
                "cannot read {}: no such file (or a symlink to nothing)",
                path.display()
            )
        }
        Err(ReadFailure::Refused(why)) => {
            return Ok(Err(refused(format!("component file {why}")).to_string()));
        }
    };
    let sig_path = signing::signature_path(path);
    let signature = match read_regular(&sig_path, MAX_SIGNATURE_BYTES, "signature files") {
        Ok(s) => Some(s.to_vec()),
        Err(ReadFailure::Missing) => None,
        Err(ReadFailure::Refused(why)) => {
            let why = format!("signature file {} {why}", sig_path.display());
            return Ok(Err(refused(why).to_string()));
        }
    };
    let source = Source::file(path.to_path_buf(), bytes, signature);
    let runtime = Runtime::new(opts.cache_dir.as_deref())?;
    let registry = Arc::new(Registry::new(Default::default()));
    let services = Arc::new(HostServices {
        policy: policy.clone(),
        egress: None,
        tenants: Default::default(),
        clients: None,
        files: None,
        audit: Arc::new(Audit::default()),
        registry,
    });
    let (snap, refusals) = load_all(
        &runtime,
        &policy,
        services,
        std::slice::from_ref(&source),
        None,
    )
    .await;
    if let Some(r) = refusals.first() {
        return Ok(Err(r.to_string()));
    }
    let Some(p) = snap.plugins.values().next() else {
        return Ok(Err(format!(
            "{}: not loaded (excluded by --modules?)",
            path.display()
        )));
    };
    let mut out = format!(
        "{}: ok — plugin {} {}, {} tools, sha256 {}\n",
        path.display(),
        p.name,
        p.version,
        p.tools.len(),
        p.digest
    );
    out.push_str(&grants(p, &policy));
    Ok(Ok((out, p.clone())))
}
