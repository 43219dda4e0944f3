//! The Falcon operation catalogue: operation id → method, path template, scope, access.
//!
//! The table is data (`host/catalogue/*.toml`, one file per API family; the fields are described
//! in `host/catalogue/README.md`), compiled into the binary. Plugins name
//! operations by id; only the host knows where they live, so a plugin cannot reach any URL that
//! is not in this table.

use std::collections::HashMap;

use serde::Deserialize;

/// Whether an operation only reads or changes the tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Access {
    /// Reads only.
    Read,
    /// Changes the tenant; needs writes enabled.
    Write,
}

/// A host-side check that runs on the request before it leaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Guard {
    /// RTR command tiers: the command in the body must be allowed by the policy.
    RtrCommand,
}

/// One Falcon API operation.
#[derive(Debug, Clone, Deserialize)]
pub struct Operation {
    /// Falcon operation id, e.g. `QueryDevicesByFilter`.
    pub id: String,
    /// HTTP method.
    pub method: String,
    /// Path template with `{name}` placeholders.
    pub path: String,
    /// API client scope Falcon requires, as the console names it.
    pub scope: String,
    /// Read or write.
    pub access: Access,
    /// Optional guard.
    #[serde(default)]
    pub guard: Option<Guard>,
    /// For `guard = "rtr-command"`: the command tier the operation runs and its body's shape.
    #[serde(default)]
    pub rtr: Option<crate::policy::RtrOperation>,
    /// Request body type when not `application/json` (multipart uploads).
    #[serde(default, rename = "content-type")]
    pub content_type: Option<String>,
    /// How the host releases what this operation creates when the call that created it ends
    /// without releasing it (deadline, cancellation, shutdown, crash).
    #[serde(default)]
    pub on_abandon: Option<OnAbandon>,
}

/// A release the host runs for a resource an operation created and the call left behind, e.g.
/// `StartSearchV1` → `StopSearchV1` for an NG-SIEM job, which otherwise runs (and counts against
/// the tenant's query quota) until it idles out.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OnAbandon {
    /// The operation that releases the resource.
    pub operation: String,
    /// Its path parameter that takes the created resource's id; the others are copied from the
    /// creating request's path parameters of the same name.
    pub id_param: String,
    /// Top-level string field of the creating response's JSON body holding that id.
    pub id_field: String,
}

#[derive(Deserialize)]
struct File {
    operation: Vec<Operation>,
}

/// Errors building a request path from a template.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PathError {
    /// A `{name}` placeholder had no value.
    #[error("path parameter `{0}` is missing")]
    Missing(String),
    /// A value was given for a name the template does not have.
    #[error("operation has no path parameter `{0}`")]
    Unknown(String),
}

/// The operation table.
#[derive(Debug)]
pub struct Catalogue {
    ops: HashMap<String, Operation>,
}

// `CATALOGUE: &[(file name, text)]`, written by build.rs from `host/catalogue/*.toml`.
include!(concat!(env!("OUT_DIR"), "/catalogue.rs"));

impl Catalogue {
    /// The catalogue compiled into this binary.
    pub fn builtin() -> &'static Catalogue {
        static BUILTIN: std::sync::OnceLock<Catalogue> = std::sync::OnceLock::new();
        // The table is part of the build and covered by the `builtin_table_parses` test.
        BUILTIN
            .get_or_init(|| Catalogue::parse_files(CATALOGUE).expect("built-in catalogue is valid"))
    }

    /// Parse one catalogue table.
    pub fn parse(text: &str) -> Result<Catalogue, String> {
        Catalogue::parse_files(&[("catalogue", text)])
    }

    /// Parse several catalogue files (name, text) into one table; an id may appear only once.
    pub fn parse_files(files: &[(&str, &str)]) -> Result<Catalogue, String> {
        let mut ops: HashMap<String, Operation> = HashMap::new();
        let mut origin: HashMap<String, &str> = HashMap::new();
        for (name, text) in files {
            let file: File = toml::from_str(text).map_err(|e| format!("{name}: {e}"))?;
            for op in file.operation {
                if !op.path.starts_with('/') {
                    return Err(format!(
                        "{name}: operation {}: path must start with '/'",
                        op.id
                    ));
                }
                check_guard(&op).map_err(|e| format!("{name}: {e}"))?;
                let id = op.id.clone();
                if let Some(first) = origin.insert(id.clone(), name) {
                    return Err(format!(
                        "operation {id} is listed twice ({first} and {name})"
                    ));
                }
                ops.insert(id, op);
            }
        }
        for op in ops.values() {
            check_on_abandon(op, &ops)?;
        }
        Ok(Catalogue { ops })
    }

    /// Look up an operation by id.
    pub fn get(&self, id: &str) -> Option<&Operation> {
        self.ops.get(id)
    }

    /// Every operation, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Operation> {
        self.ops.values()
    }
}

/// A guard and its description come together, and an implicit command is one the guard knows
/// at a tier the operation runs: a table error here would otherwise open or close a hole at
/// call time.
fn check_guard(op: &Operation) -> Result<(), String> {
    use crate::policy::RtrBody;
    let id = &op.id;
    match (op.guard, &op.rtr) {
        (Some(Guard::RtrCommand), None) => {
            return Err(format!(
                "operation {id}: guard = \"rtr-command\" needs an `rtr` table (tier, body)"
            ));
        }
        (None, Some(_)) => {
            return Err(format!(
                "operation {id}: an `rtr` table needs guard = \"rtr-command\""
            ));
        }
        _ => {}
    }
    let Some(rtr) = &op.rtr else {
        return Ok(());
    };
    match (&rtr.implicit_command, rtr.body) {
        (None, RtrBody::BatchGet) => Err(format!(
            "operation {id}: body \"batch-get\" needs implicit_command"
        )),
        (Some(_), RtrBody::Session | RtrBody::Batch) => Err(format!(
            "operation {id}: implicit_command is only for a body without base_command (batch-get)"
        )),
        (Some(cmd), _) => match crate::policy::command_tier(cmd) {
            Some(t) if t <= rtr.tier => Ok(()),
            Some(t) => Err(format!(
                "operation {id}: implicit_command `{cmd}` needs {t:?}, above the operation's tier"
            )),
            None => Err(format!(
                "operation {id}: implicit_command `{cmd}` is not a known RTR command"
            )),
        },
        (None, _) => Ok(()),
    }
}

/// A release must be runnable from what the host sees: every path parameter of the releasing
/// operation comes from the creating request or is the created id.
fn check_on_abandon(op: &Operation, ops: &HashMap<String, Operation>) -> Result<(), String> {
    let Some(rule) = &op.on_abandon else {
        return Ok(());
    };
    let id = &op.id;
    let target = ops.get(&rule.operation).ok_or_else(|| {
        format!(
            "operation {id}: on_abandon names unknown operation {}",
            rule.operation
        )
    })?;
    let names = target.path_params();
    if !names.contains(&rule.id_param.as_str()) {
        return Err(format!(
            "operation {id}: on_abandon id_param `{}` is not a path parameter of {}",
            rule.id_param, rule.operation
        ));
    }
    let own = op.path_params();
    if let Some(missing) = names
        .iter()
        .find(|n| **n != rule.id_param && !own.contains(n))
    {
        return Err(format!(
            "operation {id}: on_abandon cannot fill `{missing}` of {} (not a path parameter of {id})",
            rule.operation
        ));
    }
    Ok(())
}

/// Characters left as-is in a path segment: RFC 3986 unreserved. Everything else, including
/// `/`, `?`, `#` and `%`, is encoded so a value can never change the path's shape.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

impl Operation {
    /// Names of the path template's `{name}` placeholders, in order.
    pub fn path_params(&self) -> Vec<&str> {
        self.path
            .split('{')
            .skip(1)
            .filter_map(|p| p.split_once('}').map(|(name, _)| name))
            .collect()
    }

    /// Fill the path template, percent-encoding each value.
    pub fn render_path(&self, params: &[(String, String)]) -> Result<String, PathError> {
        let mut out = String::with_capacity(self.path.len());
        let mut rest = self.path.as_str();
        let mut names = Vec::new();
        while let Some(start) = rest.find('{') {
            out.push_str(&rest[..start]);
            let Some(len) = rest[start..].find('}') else {
                break;
            };
            let name = &rest[start + 1..start + len];
            let value = params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v)
                .ok_or_else(|| PathError::Missing(name.to_string()))?;
            if value.is_empty() || value == "." || value == ".." {
                return Err(PathError::Missing(name.to_string()));
            }
            out.extend(percent_encoding::utf8_percent_encode(value, SEGMENT));
            names.push(name);
            rest = &rest[start + len + 1..];
        }
        out.push_str(rest);
        if let Some((k, _)) = params.iter().find(|(k, _)| !names.contains(&k.as_str())) {
            return Err(PathError::Unknown(k.clone()));
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(path: &str) -> Operation {
        Operation {
            id: "X".into(),
            method: "GET".into(),
            path: path.into(),
            scope: "s".into(),
            access: Access::Read,
            guard: None,
            rtr: None,
            content_type: None,
            on_abandon: None,
        }
    }

    #[test]
    fn builtin_table_parses() {
        let c = Catalogue::builtin();
        assert!(c.get("QueryDevicesByFilter").is_some());
        for op in c.iter() {
            assert!(
                matches!(
                    op.method.as_str(),
                    "GET" | "POST" | "PATCH" | "PUT" | "DELETE"
                ),
                "{}",
                op.id
            );
        }
    }

    #[test]
    fn path_values_are_encoded_and_cannot_escape() {
        let o = op("/humio/api/v1/repositories/{repository}/queryjobs/{id}");
        let p = o
            .render_path(&[
                ("repository".into(), "search-all".into()),
                ("id".into(), "../../x?y#z".into()),
            ])
            .unwrap();
        assert_eq!(
            p,
            "/humio/api/v1/repositories/search-all/queryjobs/..%2F..%2Fx%3Fy%23z"
        );
        assert_eq!(
            o.render_path(&[
                ("repository".into(), "a".into()),
                ("id".into(), "..".into())
            ]),
            Err(PathError::Missing("id".into()))
        );
        assert_eq!(
            o.render_path(&[("repository".into(), "a".into())]),
            Err(PathError::Missing("id".into()))
        );
        assert_eq!(
            op("/a").render_path(&[("x".into(), "1".into())]),
            Err(PathError::Unknown("x".into()))
        );
    }

    /// Every RTR operation that executes or carries a command is guarded, so a new one cannot
    /// be added to the table unguarded. Status checks (GET, no body) carry no command.
    #[test]
    fn every_rtr_command_operation_is_guarded() {
        let c = Catalogue::builtin();
        let mut guarded = Vec::new();
        for op in c.iter() {
            let id = op.id.as_str();
            let batch_cmd = id.starts_with("Batch") && id.ends_with("Cmd");
            let carries_command = op.path.starts_with("/real-time-response/")
                && op.method != "GET"
                && (op.path.contains("command") || batch_cmd || id.contains("Execute"));
            if carries_command {
                assert_eq!(op.guard, Some(Guard::RtrCommand), "{id} is not guarded");
                assert!(op.rtr.is_some(), "{id} has no rtr table");
                guarded.push(id);
            }
            if batch_cmd || id.contains("Execute") {
                assert!(
                    carries_command,
                    "{id} is not recognised as a command operation"
                );
            }
        }
        guarded.sort();
        assert_eq!(
            guarded,
            [
                "BatchActiveResponderCmd",
                "BatchAdminCmd",
                "BatchCmd",
                "BatchGetCmd",
                "RTR_ExecuteActiveResponderCommand",
                "RTR_ExecuteAdminCommand",
                "RTR_ExecuteCommand",
            ]
        );
        let get = c.get("BatchGetCmd").and_then(|o| o.rtr.as_ref()).unwrap();
        assert_eq!(get.implicit_command.as_deref(), Some("get"));
    }

    #[test]
    fn guard_tables_are_checked() {
        let base = "[[operation]]\nid='G'\nmethod='POST'\npath='/g'\nscope='s'\naccess='write'\n";
        let parse = |extra: &str| Catalogue::parse(&format!("{base}{extra}"));
        assert!(
            parse("guard='rtr-command'\n")
                .unwrap_err()
                .contains("needs an `rtr` table")
        );
        assert!(
            parse("rtr={tier='admin',body='batch'}\n")
                .unwrap_err()
                .contains("needs guard")
        );
        assert!(
            parse("guard='rtr-command'\nrtr={tier='read-only',body='batch-get',implicit_command='get'}\n")
                .unwrap_err()
                .contains("above the operation's tier")
        );
        assert!(
            parse("guard='rtr-command'\nrtr={tier='admin',body='batch-get'}\n")
                .unwrap_err()
                .contains("needs implicit_command")
        );
        assert!(
            parse(
                "guard='rtr-command'\nrtr={tier='admin',body='batch-get',implicit_command='frob'}\n"
            )
            .unwrap_err()
            .contains("not a known")
        );
        assert!(parse("guard='rtr-command'\nrtr={tier='admin',body='batch'}\n").is_ok());
    }

    #[test]
    fn on_abandon_rules_are_checked() {
        let c = Catalogue::builtin();
        let start = c.get("StartSearchV1").unwrap();
        assert_eq!(
            start.on_abandon,
            Some(OnAbandon {
                operation: "StopSearchV1".into(),
                id_param: "id".into(),
                id_field: "id".into(),
            })
        );
        assert_eq!(
            c.get("StopSearchV1").unwrap().path_params(),
            ["repository", "id"]
        );
        let t = |rule: &str| {
            Catalogue::parse(&format!(
                "[[operation]]\nid='S'\nmethod='POST'\npath='/r/{{repo}}/jobs'\nscope='s'\naccess='read'\non_abandon = {rule}\n\
                 [[operation]]\nid='D'\nmethod='DELETE'\npath='/r/{{repo}}/jobs/{{id}}'\nscope='s'\naccess='read'\n\
                 [[operation]]\nid='X'\nmethod='DELETE'\npath='/x/{{other}}/{{id}}'\nscope='s'\naccess='read'\n"
            ))
        };
        assert!(t("{operation='D', id_param='id', id_field='id'}").is_ok());
        let e = t("{operation='Nope', id_param='id', id_field='id'}").unwrap_err();
        assert!(e.contains("unknown operation Nope"), "{e}");
        let e = t("{operation='D', id_param='job', id_field='id'}").unwrap_err();
        assert!(e.contains("`job` is not a path parameter"), "{e}");
        let e = t("{operation='X', id_param='id', id_field='id'}").unwrap_err();
        assert!(e.contains("cannot fill `other`"), "{e}");
        assert!(
            t("{operation='D', id_param='id', id_field='id', extra=1}").is_err(),
            "unknown keys are errors"
        );
    }

    #[test]
    fn duplicates_are_refused() {
        let t = "[[operation]]\nid='A'\nmethod='GET'\npath='/a'\nscope='s'\naccess='read'\n";
        assert!(
            Catalogue::parse(&format!("{t}{t}"))
                .unwrap_err()
                .contains("twice")
        );
    }
}
