//! Human-readable reports for `aerie plugins list` and `aerie config check`.

use std::fmt::Write;

use crate::app::App;
use crate::runtime::tools::Tier;

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
    for p in snap.plugins.values() {
        let limits = policy.limits(&p.name);
        let _ = writeln!(
            out,
            "\n[{}] {} — memory {} MiB, cpu {} ms, deadline {} s, concurrency {}, files {}",
            p.name,
            p.version,
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
    }
    out
}
