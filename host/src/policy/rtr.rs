//! The RTR command guard: decides at the host, on the request body, whether a Real Time
//! Response command may run. A plugin is untrusted, so this is the only check that counts.
//!
//! Which operations are guarded, the tier each runs and the shape of its body are data in the
//! catalogue (`guard = "rtr-command"` plus an `rtr` table), never guessed from an operation id.
//! The body is parsed strictly: Falcon's JSON decoder matches keys case-insensitively and keeps
//! the last of duplicate keys, so a body the guard reads one way could run another way upstream.
//! Only the exact keys of the operation's shape, each once and of its type, pass.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

use crate::catalogue::Operation;

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

/// The tier a command line (`get`, `reg query`) needs, or `None` when it is unknown.
pub fn command_tier(command: &str) -> Option<Tier> {
    let mut words = command.split_whitespace();
    let base = words.next()?.to_ascii_lowercase();
    let sub = words.next().map(str::to_ascii_lowercase);
    tier_of(&base, sub.as_deref())
}

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

/// How a guarded operation carries its command: the catalogue's `rtr` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RtrOperation {
    /// The highest command tier the operation runs (Falcon's command set for the endpoint).
    pub tier: Tier,
    /// The shape of the request body.
    pub body: RtrBody,
    /// The command the operation runs without naming it (`BatchGetCmd` runs `get`).
    #[serde(default)]
    pub implicit_command: Option<String>,
}

/// The shapes of RTR command bodies (falcon-api.md §4.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RtrBody {
    /// One host: `base_command`, `command_string`, `session_id`, `persist`, `device_id`, `id`.
    Session,
    /// Many hosts: `base_command`, `command_string`, `batch_id`, `optional_hosts`, `persist_all`.
    Batch,
    /// Batch file fetch, an implicit `get`: `batch_id`, `file_path`, `optional_hosts`.
    BatchGet,
}

/// The JSON type a body field must have.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Strings,
}

/// One accepted body key.
struct Field {
    name: &'static str,
    kind: Kind,
    required: bool,
}

const fn field(name: &'static str, kind: Kind, required: bool) -> Field {
    Field {
        name,
        kind,
        required,
    }
}

const SESSION: &[Field] = &[
    field("base_command", Kind::Str, true),
    field("command_string", Kind::Str, true),
    field("session_id", Kind::Str, false),
    field("persist", Kind::Bool, false),
    field("device_id", Kind::Str, false),
    field("id", Kind::Str, false),
];
const BATCH: &[Field] = &[
    field("base_command", Kind::Str, true),
    field("command_string", Kind::Str, true),
    field("batch_id", Kind::Str, false),
    field("optional_hosts", Kind::Strings, false),
    field("persist_all", Kind::Bool, false),
];
const BATCH_GET: &[Field] = &[
    field("batch_id", Kind::Str, false),
    field("file_path", Kind::Str, true),
    field("optional_hosts", Kind::Strings, false),
];

impl RtrBody {
    fn fields(self) -> &'static [Field] {
        match self {
            RtrBody::Session => SESSION,
            RtrBody::Batch => BATCH,
            RtrBody::BatchGet => BATCH_GET,
        }
    }
}

/// A JSON object's members in order, duplicates kept (serde_json's `Map` would drop them).
struct Members(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Members {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Members, A::Error> {
                let mut out = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    out.push(entry);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Read a body of `shape`: every key exact, known, once, and of its type. Returns the string
/// fields by name.
fn read_body<'a>(
    operation: &str,
    shape: RtrBody,
    members: &'a [(String, Value)],
) -> Result<Vec<(&'static str, &'a str)>, String> {
    let fields = shape.fields();
    let names = || fields.iter().map(|f| f.name).collect::<Vec<_>>().join(", ");
    let mut strings = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in members {
        if seen.contains(&key.as_str()) {
            return Err(format!(
                "{operation} body has the key `{key}` more than once; send each key once"
            ));
        }
        seen.push(key);
        let Some(f) = fields.iter().find(|f| f.name == key) else {
            if let Some(f) = fields.iter().find(|f| f.name.eq_ignore_ascii_case(key)) {
                return Err(format!(
                    "{operation} body key `{key}` differs from `{}` only by case; send `{}`",
                    f.name, f.name
                ));
            }
            return Err(format!(
                "{operation} body has the unexpected key `{key}` (accepted: {})",
                names()
            ));
        };
        let ok = match (f.kind, value) {
            (Kind::Str, Value::String(s)) => {
                strings.push((f.name, s.as_str()));
                true
            }
            (Kind::Bool, Value::Bool(_)) => true,
            (Kind::Strings, Value::Array(a)) => a.iter().all(Value::is_string),
            _ => false,
        };
        if !ok {
            let want = match f.kind {
                Kind::Str => "a string",
                Kind::Bool => "a boolean",
                Kind::Strings => "an array of strings",
            };
            return Err(format!("{operation} body key `{key}` must be {want}"));
        }
    }
    if let Some(f) = fields
        .iter()
        .find(|f| f.required && !seen.contains(&f.name))
    {
        return Err(format!(
            "{operation} body is missing `{}` (accepted: {})",
            f.name,
            names()
        ));
    }
    Ok(strings)
}

impl RtrPolicy {
    /// Check a guarded RTR request. `Err` carries the reason given to the plugin and audit.
    pub fn check(&self, op: &Operation, body: Option<&[u8]>) -> Result<(), String> {
        let operation = op.id.as_str();
        // The catalogue refuses a guarded operation without an `rtr` table at parse time; an
        // operation that reaches here without one is refused rather than waved through.
        let spec = op.rtr.as_ref().ok_or_else(|| {
            format!("{operation} has no RTR command description in the catalogue")
        })?;
        let body = body.ok_or_else(|| format!("{operation} needs a JSON object body"))?;
        let Members(members) = serde_json::from_slice(body)
            .map_err(|e| format!("{operation} body must be one JSON object ({e})"))?;
        let strings = read_body(operation, spec.body, &members)?;
        let get = |name: &str| {
            strings
                .iter()
                .find(|(n, _)| *n == name)
                .map_or("", |(_, v)| *v)
        };
        match &spec.implicit_command {
            Some(cmd) => {
                let path = get("file_path");
                if path.trim().is_empty() {
                    return Err(format!("{operation} body has an empty `file_path`"));
                }
                // The operation runs `<cmd> <file_path>` on the host: check exactly that line.
                self.check_command(operation, spec.tier, cmd, &format!("{cmd} {path}"))
            }
            None => self.check_command(
                operation,
                spec.tier,
                get("base_command"),
                get("command_string"),
            ),
        }
    }

    /// Check one command line against the operation's tier and the operator's policy.
    fn check_command(
        &self,
        operation: &str,
        op_tier: Tier,
        base: &str,
        line: &str,
    ) -> Result<(), String> {
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
    use crate::catalogue::Catalogue;

    fn body(base: &str, line: &str) -> Vec<u8> {
        serde_json::json!({"base_command": base, "command_string": line, "session_id": "s"})
            .to_string()
            .into_bytes()
    }

    fn op(id: &str) -> &'static Operation {
        Catalogue::builtin().get(id).unwrap()
    }

    fn check(p: &RtrPolicy, op_id: &str, base: &str, line: &str) -> Result<(), String> {
        p.check(op(op_id), Some(&body(base, line)))
    }

    fn raw(p: &RtrPolicy, op_id: &str, body: &str) -> Result<(), String> {
        p.check(op(op_id), Some(body.as_bytes()))
    }

    const AR: RtrPolicy = RtrPolicy {
        max_tier: Tier::ActiveResponder,
        blocked: vec![],
    };

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
        let p = RtrPolicy::default();
        assert!(p.check(op("RTR_ExecuteCommand"), None).is_err());
        assert!(
            raw(&p, "RTR_ExecuteCommand", "not json")
                .unwrap_err()
                .contains("one JSON object")
        );
        assert!(
            raw(&p, "RTR_ExecuteCommand", "[1]")
                .unwrap_err()
                .contains("one JSON object")
        );
        assert!(
            raw(&p, "RTR_ExecuteCommand", r#"{"base_command":"ls"}"#)
                .unwrap_err()
                .contains("missing `command_string`")
        );
    }

    #[test]
    fn batch_get_is_an_implicit_get() {
        let body = r#"{"batch_id":"b1","file_path":"C:\\Windows\\x.dll","optional_hosts":["a"]}"#;
        // `get` is active-responder: refused by the default max_tier, by `blocked`, allowed when
        // the operator allows active-responder commands.
        assert!(
            raw(&RtrPolicy::default(), "BatchGetCmd", body)
                .unwrap_err()
                .contains("`get` needs the ActiveResponder tier")
        );
        let blocked = RtrPolicy {
            max_tier: Tier::Admin,
            blocked: vec!["get".into()],
        };
        assert!(
            raw(&blocked, "BatchGetCmd", body)
                .unwrap_err()
                .contains("`get` is blocked")
        );
        assert!(raw(&AR, "BatchGetCmd", body).is_ok());
        // The path is checked like any command line.
        assert!(
            raw(
                &AR,
                "BatchGetCmd",
                r#"{"batch_id":"b","file_path":"x & rm y"}"#
            )
            .unwrap_err()
            .contains("separator")
        );
        assert!(
            raw(&AR, "BatchGetCmd", r#"{"batch_id":"b"}"#)
                .unwrap_err()
                .contains("missing `file_path`")
        );
        assert!(
            raw(&AR, "BatchGetCmd", r#"{"batch_id":"b","file_path":" "}"#)
                .unwrap_err()
                .contains("empty")
        );
        // A command smuggled into the get body is not an accepted key.
        assert!(
            raw(
                &AR,
                "BatchGetCmd",
                r#"{"batch_id":"b","file_path":"x","base_command":"rm"}"#
            )
            .unwrap_err()
            .contains("unexpected key `base_command`")
        );
    }

    #[test]
    fn batch_commands_are_guarded_by_their_tier() {
        let batch = |base: &str, line: &str| {
            serde_json::json!({"base_command": base, "command_string": line, "batch_id": "b", "optional_hosts": ["a"], "persist_all": false}).to_string()
        };
        let admin = RtrPolicy {
            max_tier: Tier::Admin,
            blocked: vec!["rm".into()],
        };
        assert!(raw(&admin, "BatchCmd", &batch("ls", "ls")).is_ok());
        assert!(
            raw(&admin, "BatchCmd", &batch("kill", "kill 4"))
                .unwrap_err()
                .contains("BatchCmd runs only ReadOnly")
        );
        assert!(
            raw(&admin, "BatchActiveResponderCmd", &batch("run", "run x"))
                .unwrap_err()
                .contains("runs only ActiveResponder")
        );
        assert!(raw(&admin, "BatchAdminCmd", &batch("run", "run x")).is_ok());
        assert!(
            raw(&admin, "BatchActiveResponderCmd", &batch("rm", "rm x"))
                .unwrap_err()
                .contains("blocked")
        );
        assert!(
            raw(
                &RtrPolicy::default(),
                "BatchAdminCmd",
                &batch("run", "run x")
            )
            .unwrap_err()
            .contains("max_tier")
        );
        // A single-host key in a batch body is refused.
        assert!(
            raw(
                &admin,
                "BatchCmd",
                r#"{"base_command":"ls","command_string":"ls","session_id":"s"}"#
            )
            .unwrap_err()
            .contains("unexpected key `session_id`")
        );
    }

    #[test]
    fn case_variant_and_duplicate_keys_are_refused() {
        let p = RtrPolicy {
            max_tier: Tier::Admin,
            blocked: vec![],
        };
        // Falcon's decoder matches keys case-insensitively: this would run `rm` upstream.
        assert!(
            raw(
                &p,
                "RTR_ExecuteCommand",
                r#"{"base_command":"ls","command_string":"ls","Command_String":"rm -rf x","session_id":"s"}"#
            )
            .unwrap_err()
            .contains("`Command_String` differs from `command_string` only by case")
        );
        assert!(
            raw(
                &p,
                "RTR_ExecuteCommand",
                r#"{"BASE_COMMAND":"rm","base_command":"ls","command_string":"ls"}"#
            )
            .unwrap_err()
            .contains("only by case")
        );
        // serde_json alone would keep the last duplicate silently; upstream's choice is unknown.
        assert!(
            raw(
                &p,
                "RTR_ExecuteCommand",
                r#"{"base_command":"ls","command_string":"ls","command_string":"rm -rf x"}"#
            )
            .unwrap_err()
            .contains("`command_string` more than once")
        );
        assert!(
            raw(
                &p,
                "BatchGetCmd",
                r#"{"batch_id":"b","file_path":"a","file_path":"b"}"#
            )
            .unwrap_err()
            .contains("more than once")
        );
        // Unicode folding (long s, Kelvin sign) would match upstream too: only exact keys pass.
        assert!(
            raw(
                &p,
                "RTR_ExecuteCommand",
                "{\"base_command\":\"ls\",\"command_string\":\"ls\",\"command_\\u017ftring\":\"rm x\"}"
            )
            .unwrap_err()
            .contains("unexpected key")
        );
        assert!(
            raw(
                &p,
                "RTR_ExecuteCommand",
                r#"{"base_command":"ls","command_string":["rm"]}"#
            )
            .unwrap_err()
            .contains("must be a string")
        );
        assert!(
            raw(
                &p,
                "RTR_ExecuteCommand",
                r#"{"base_command":"ls","command_string":"ls","session_id":"s","persist":false}"#
            )
            .is_ok()
        );
    }
}
