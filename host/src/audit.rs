//! The audit log: JSON Lines, one record per tool call, egress request and refusal. Records
//! hold digests, ids and outcomes — never arguments' values, secrets or tokens.

use std::io::Write;
use std::path::Path;
use std::sync::Mutex;

use serde_json::{Value, json};

/// Where audit records go. Disabled when no path was configured.
#[derive(Default)]
pub struct Audit {
    file: Option<Mutex<std::fs::File>>,
}

impl Audit {
    /// Append to `path` (created 0600 if new).
    pub fn open(path: &Path) -> std::io::Result<Audit> {
        let mut opts = std::fs::OpenOptions::new();
        opts.create(true).append(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        Ok(Audit {
            file: Some(Mutex::new(opts.open(path)?)),
        })
    }

    /// Whether records are being written.
    pub fn enabled(&self) -> bool {
        self.file.is_some()
    }

    /// Write one record of `kind` with `fields` (an object) and a timestamp.
    pub fn record(&self, kind: &str, fields: Value) {
        crate::metrics::observe_audit(kind, &fields);
        let Some(file) = &self.file else { return };
        let mut rec = json!({ "ts": now_rfc3339(), "kind": kind });
        if let (Some(obj), Value::Object(extra)) = (rec.as_object_mut(), fields) {
            obj.extend(extra);
        }
        let mut line = rec.to_string();
        line.push('\n');
        // One write per record under the lock keeps lines whole with concurrent writers.
        if let Ok(mut f) = file.lock()
            && let Err(e) = f.write_all(line.as_bytes())
        {
            tracing::error!(error = %e, "audit write failed");
        }
    }
}

/// Current UTC time as RFC 3339 with milliseconds.
pub fn now_rfc3339() -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = now.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_454), (2026, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn records_are_json_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.jsonl");
        let a = Audit::open(&path).unwrap();
        a.record("tool_call", json!({"tool": "x"}));
        a.record("egress", json!({"status": 200}));
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["kind"], "tool_call");
        assert_eq!(lines[1]["status"], 200);
    }
}
