//! The RTR command guard: decides at the host, on the request body, whether a Real Time
//! Response command may run. A plugin is untrusted, so this is the only check that counts.

use serde::Deserialize;

/// RTR permission tiers, lowest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    /// Inspect only (ls, ps, netstat, reg query …).
    ReadOnly,
    /// Change the host (kill, rm, get, reg set …).
    ActiveResponder,
    /// Run arbitrary programs and scripts (run, put, runscript …).
    Admin,
}

/// Operator policy for RTR commands.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RtrPolicy {
    /// Highest tier allowed at all.
    pub max_tier: Tier,
    /// Commands never allowed, whatever the tier (e.g. `["rm", "shutdown"]`). Blocked wins.
    pub blocked: Vec<String>,
}

impl Default for RtrPolicy {
    fn default() -> Self {
        RtrPolicy {
            max_tier: Tier::ReadOnly,
            blocked: Vec::new(),
        }
    }
}

const READ_ONLY: &[&str] = &[
    "cat", "cd", "clear", "csrutil", "env", "eventlog", "filehash", "getsid", "help", "history",
    "ifconfig", "ipconfig", "ls", "mount", "netstat", "ps", "pwd", "users",
];
const ACTIVE_RESPONDER: &[&str] = &[
    "cp", "encrypt", "get", "kill", "map", "memdump", "mkdir", "mv", "restart", "rm", "shutdown",
    "umount", "unmap", "xmemdump", "zip",
];
const ADMIN: &[&str] = &["put", "put-and-run", "run", "runscript", "falconscript"];

/// The tier a command needs, or `None` when the command is unknown.
fn tier_of(base: &str, sub: Option<&str>) -> Option<Tier> {
    if base == "reg" {
        // `reg query` only reads; every other `reg` verb changes the registry.
        return match sub {
            Some("query") => Some(Tier::ReadOnly),
            Some("set" | "delete" | "load" | "unload") => Some(Tier::ActiveResponder),
            _ => None,
        };
    }
    if READ_ONLY.contains(&base) {
        Some(Tier::ReadOnly)
    } else if ACTIVE_RESPONDER.contains(&base) {
        Some(Tier::ActiveResponder)
    } else if ADMIN.contains(&base) {
        Some(Tier::Admin)
    } else {
        None
    }
}

/// The tier an execute operation is for.
pub fn operation_tier(operation: &str) -> Option<Tier> {
    let op = operation.to_ascii_lowercase();
    if op.contains("admin") {
        Some(Tier::Admin)
    } else if op.contains("activeresponder") {
        Some(Tier::ActiveResponder)
    } else if op.contains("execute") || op.contains("command") {
        Some(Tier::ReadOnly)
    } else {
        None
    }
}

#[derive(Deserialize)]
struct Body {
    base_command: Option<String>,
    command_string: Option<String>,
}

impl RtrPolicy {
    /// Check an RTR execute request. `Err` carries the reason given to the plugin and audit.
    pub fn check(&self, operation: &str, body: Option<&[u8]>) -> Result<(), String> {
        let body: Body = body.and_then(|b| serde_json::from_slice(b).ok()).ok_or(
            "RTR command request must have a JSON body with base_command and command_string",
        )?;
        let base = body.base_command.unwrap_or_default();
        let line = body.command_string.unwrap_or_default();
        // Only plain printable ASCII: no look-alike letters, no control characters or newlines.
        if let Some(c) = base
            .chars()
            .chain(line.chars())
            .find(|c| !(c.is_ascii_graphic() || *c == ' '))
        {
            return Err(format!(
                "RTR command contains a disallowed character {c:?}; use plain ASCII"
            ));
        }
        if line.contains([';', '|', '&', '`', '>', '<']) || line.contains("$(") {
            return Err(
                "RTR command contains a command separator or redirection; send one command".into(),
            );
        }
        let mut tokens = line.split_whitespace();
        let first = tokens
            .next()
            .unwrap_or_default()
            .trim_matches(['"', '\''])
            .to_ascii_lowercase();
        let base = base.to_ascii_lowercase();
        if first != base {
            return Err(format!(
                "base_command `{base}` does not match the command string's first word `{first}`"
            ));
        }
        let sub = tokens
            .next()
            .map(|t| t.trim_matches(['"', '\'']).to_ascii_lowercase());
        let full = match &sub {
            Some(s) if base == "reg" => format!("reg {s}"),
            _ => base.clone(),
        };
        if self
            .blocked
            .iter()
            .any(|b| b.eq_ignore_ascii_case(&base) || b.eq_ignore_ascii_case(&full))
        {
            return Err(format!(
                "RTR command `{full}` is blocked by the operator's policy"
            ));
        }
        let needed = tier_of(&base, sub.as_deref())
            .ok_or_else(|| format!("unknown RTR command `{full}`"))?;
        let op_tier = operation_tier(operation)
            .ok_or_else(|| format!("{operation} is not an RTR execute operation"))?;
        if needed > op_tier {
            return Err(format!(
                "RTR command `{full}` needs the {needed:?} tier; {operation} runs only {op_tier:?} commands"
            ));
        }
        if needed > self.max_tier {
            return Err(format!(
                "RTR command `{full}` needs the {needed:?} tier; the operator allows up to {:?} ([rtr] max_tier)",
                self.max_tier
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(base: &str, line: &str) -> Vec<u8> {
        serde_json::json!({"base_command": base, "command_string": line, "session_id": "s"})
            .to_string()
            .into_bytes()
    }

    fn check(p: &RtrPolicy, op: &str, base: &str, line: &str) -> Result<(), String> {
        p.check(op, Some(&body(base, line)))
    }

    #[test]
    fn read_only_commands_pass_by_default() {
        let p = RtrPolicy::default();
        assert!(check(&p, "RTR_ExecuteCommand", "ls", "ls C:\\Windows").is_ok());
        assert!(check(&p, "RTR_ExecuteCommand", "reg", "reg query HKLM\\Software").is_ok());
        assert!(check(&p, "RTR_ExecuteCommand", "ps", "PS").is_ok());
    }

    #[test]
    fn base_command_must_be_the_first_token() {
        let p = RtrPolicy {
            max_tier: Tier::Admin,
            blocked: vec![],
        };
        assert!(
            check(&p, "RTR_ExecuteAdminCommand", "ls", "rm -rf /")
                .unwrap_err()
                .contains("does not match")
        );
        // `lsblk` is not `ls`.
        assert!(
            check(&p, "RTR_ExecuteCommand", "ls", "lsblk")
                .unwrap_err()
                .contains("does not match")
        );
        assert!(
            check(&p, "RTR_ExecuteCommand", "lsblk", "lsblk")
                .unwrap_err()
                .contains("unknown")
        );
    }

    #[test]
    fn separators_lookalikes_and_case_do_not_bypass() {
        let p = RtrPolicy {
            max_tier: Tier::Admin,
            blocked: vec!["rm".into()],
        };
        assert!(
            check(&p, "RTR_ExecuteCommand", "ls", "ls; rm x")
                .unwrap_err()
                .contains("separator")
        );
        assert!(
            check(&p, "RTR_ExecuteCommand", "ls", "ls && rm x")
                .unwrap_err()
                .contains("separator")
        );
        assert!(
            check(&p, "RTR_ExecuteCommand", "ls", "ls\nrm x")
                .unwrap_err()
                .contains("character")
        );
        assert!(
            check(&p, "RTR_ExecuteActiveResponderCommand", "RM", "RM x")
                .unwrap_err()
                .contains("blocked")
        );
        assert!(
            check(&p, "RTR_ExecuteActiveResponderCommand", "rm", "\"rm\" x")
                .unwrap_err()
                .contains("blocked")
        );
        // Cyrillic "м" in place of "m".
        assert!(
            check(&p, "RTR_ExecuteActiveResponderCommand", "rм", "rм x")
                .unwrap_err()
                .contains("character")
        );
    }

    #[test]
    fn tiers_are_enforced_by_operation_and_policy() {
        let p = RtrPolicy::default();
        assert!(
            check(&p, "RTR_ExecuteCommand", "kill", "kill 4")
                .unwrap_err()
                .contains("tier")
        );
        assert!(
            check(&p, "RTR_ExecuteActiveResponderCommand", "kill", "kill 4")
                .unwrap_err()
                .contains("max_tier")
        );
        let ar = RtrPolicy {
            max_tier: Tier::ActiveResponder,
            blocked: vec![],
        };
        assert!(check(&ar, "RTR_ExecuteActiveResponderCommand", "kill", "kill 4").is_ok());
        assert!(
            check(&ar, "RTR_ExecuteCommand", "reg", "reg set HKLM\\x")
                .unwrap_err()
                .contains("tier")
        );
        assert!(
            check(&ar, "RTR_ExecuteAdminCommand", "run", "run x.exe")
                .unwrap_err()
                .contains("max_tier")
        );
        let blocked = RtrPolicy {
            max_tier: Tier::Admin,
            blocked: vec!["reg query".into()],
        };
        assert!(
            check(&blocked, "RTR_ExecuteCommand", "reg", "reg query HKLM")
                .unwrap_err()
                .contains("blocked")
        );
    }

    #[test]
    fn missing_body_is_refused() {
        assert!(
            RtrPolicy::default()
                .check("RTR_ExecuteCommand", None)
                .is_err()
        );
        assert!(
            RtrPolicy::default()
                .check("RTR_ExecuteCommand", Some(b"not json"))
                .is_err()
        );
    }
}
