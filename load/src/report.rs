//! The human-readable table: one column per server, then each compared server's ratio to the
//! first aerie column.

use std::fmt::Write as _;

use serde_json::Value;

/// One row: label, JSON pointer into a target's figures, decimals.
const ROWS: &[(&str, &str, usize)] = &[
    (
        "start-up to first tools/list, median (ms)",
        "/startup/median_ms",
        1,
    ),
    ("tools listed", "/tools/count", 0),
    ("tools/list bytes per tool", "/tools/bytes_per_tool", 0),
    (
        "  without output schemas",
        "/tools/bytes_per_tool_without_output_schema",
        0,
    ),
    ("idle RSS after start-up (MiB)", "/idle_rss_mib", 1),
    (
        "server CPU per search call, 0 ms upstream (ms)",
        "/cpu/cpu_ms_per_call",
        3,
    ),
    (
        "wall time per call, 0 ms upstream (ms)",
        "/cpu/wall_ms_per_call",
        3,
    ),
    (
        "upstream requests per call",
        "/cpu/upstream_requests_per_call",
        2,
    ),
    ("latency p50 (ms)", "/latency/p50_ms", 1),
    ("latency p99 (ms)", "/latency/p99_ms", 1),
    ("throughput (calls/s)", "/throughput/calls_per_s", 1),
    ("ideal (calls/s)", "/throughput/ideal_calls_per_s", 1),
    ("% of ideal", "/throughput/percent_of_ideal", 1),
];

/// Render the report.
pub fn table(report: &Value) -> String {
    let targets = report["targets"].as_array().cloned().unwrap_or_default();
    let first = targets.first().cloned().unwrap_or(Value::Null);
    let compared: Vec<&Value> = targets.iter().filter(|t| t["compared"] == true).collect();
    let mut header: Vec<String> = vec!["".into()];
    header.extend(
        targets
            .iter()
            .map(|t| t["name"].as_str().unwrap_or("?").to_string()),
    );
    header.extend(
        compared
            .iter()
            .map(|t| format!("{} ÷ aerie", t["name"].as_str().unwrap_or("?"))),
    );

    let mut rows = vec![header];
    for (label, ptr, decimals) in ROWS {
        let cell = |t: &Value| {
            t.pointer(ptr)
                .and_then(Value::as_f64)
                .map_or("-".to_string(), |v| format!("{v:.decimals$}"))
        };
        let mut row = vec![label.to_string()];
        row.extend(targets.iter().map(cell));
        row.extend(compared.iter().map(|t| {
            match (
                t.pointer(ptr).and_then(Value::as_f64),
                first.pointer(ptr).and_then(Value::as_f64),
            ) {
                (Some(a), Some(b)) if b != 0.0 => format!("{:.1}×", a / b),
                _ => "-".to_string(),
            }
        }));
        rows.push(row);
    }

    let widths: Vec<usize> = (0..rows[0].len())
        .map(|c| rows.iter().map(|r| r[c].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "network: {}",
        report["network"].as_str().unwrap_or("?")
    );
    let c = &report["config"];
    let _ = writeln!(
        out,
        "simulator: {} (X-CS-Region {}); latency/throughput at {} ms upstream, {} in flight",
        report["simulator"].as_str().unwrap_or("?"),
        if c["region_header"] == true {
            "sent"
        } else {
            "left out"
        },
        c["latency_ms"],
        c["in_flight"],
    );
    for t in &targets {
        let _ = writeln!(
            out,
            "{}: {} → {} {}",
            t["name"].as_str().unwrap_or("?"),
            t["command"].as_str().unwrap_or("?"),
            t["tool"].as_str().unwrap_or("?"),
            t["tool_args"]
        );
    }
    let _ = writeln!(out);
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let pad = widths[i] - s.chars().count();
                if i == 0 {
                    format!("{s}{}", " ".repeat(pad))
                } else {
                    format!("{}{s}", " ".repeat(pad))
                }
            })
            .collect();
        let _ = writeln!(out, "{}", cells.join("  ").trim_end());
    }
    out
}
