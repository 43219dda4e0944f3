//! Compact JSON Schemas for tool arguments, derived from the arguments struct.
//!
//! An agent pays for every byte of `tools/list`, so the derived schema is trimmed to what a model
//! and the host's validator use: `type`, `properties`, `required`, `enum`, `items`, bounds,
//! `default`, short `description`s and `additionalProperties: false`. `minItems` is dropped too:
//! handlers reject an empty id list with a message naming what is missing (see [`crate::ids::list`]). Subschemas are inlined;
//! `$schema`, `title`, `format`, `$defs` and `null` alternatives for optional fields are dropped
//! (an optional field is simply not `required`).

use schemars::JsonSchema;
use schemars::generate::SchemaSettings;
use serde_json::{Map, Value};

/// Keywords kept in a compact schema; everything else is dropped.
const KEEP: &[&str] = &[
    "type",
    "properties",
    "required",
    "enum",
    "const",
    "items",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "maxItems",
    "pattern",
    "default",
    "description",
    "additionalProperties",
    "anyOf",
    "oneOf",
];

/// The compact schema of `T` as a JSON value.
pub fn schema_for<T: JsonSchema>() -> Value {
    let generator = SchemaSettings::draft07()
        .with(|s| {
            s.inline_subschemas = true;
            s.meta_schema = None;
        })
        .into_generator();
    let schema = generator.into_root_schema_for::<T>();
    let mut v = compact(schema.to_value());
    // Only the top level is closed: nested objects are closed by `deny_unknown_fields` on their
    // struct, and repeating the keyword in every item schema costs bytes on every tools/list.
    if let Value::Object(m) = &mut v {
        m.insert("additionalProperties".into(), Value::Bool(false));
    }
    // The tool has its own description; the struct's doc comment would repeat it.
    if let Value::Object(m) = &mut v {
        m.remove("description");
    }
    v
}

/// Trim a generated schema (see the module docs).
pub fn compact(v: Value) -> Value {
    let Value::Object(mut m) = v else { return v };

    // `Option<T>` arrives as `type: [T, "null"]` or `anyOf: [T, {type: null}]`.
    if let Some(Value::Array(types)) = m.get("type") {
        let non_null: Vec<Value> = types.iter().filter(|t| *t != "null").cloned().collect();
        let collapsed = if non_null.len() == 1 {
            non_null.into_iter().next().unwrap_or(Value::Null)
        } else {
            Value::Array(non_null)
        };
        m.insert("type".into(), collapsed);
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(Value::Array(alts)) = m.get(key) {
            let alts: Vec<Value> = alts
                .iter()
                .filter(|a| !is_null_schema(a))
                .cloned()
                .collect();
            if alts.len() == 1 {
                m.remove(key);
                if let Some(Value::Object(inner)) = alts.into_iter().next() {
                    for (k, v) in inner {
                        m.entry(k).or_insert(v);
                    }
                }
            } else {
                m.insert(key.into(), Value::Array(alts));
            }
        }
    }
    // Documented unit variants arrive as `oneOf: [{const, description}, …]`; an `enum` is the
    // same contract in a fraction of the bytes.
    for key in ["oneOf", "anyOf"] {
        let consts: Option<Vec<Value>> = m.get(key).and_then(Value::as_array).and_then(|alts| {
            let groups: Option<Vec<Vec<Value>>> = alts
                .iter()
                .map(
                    |a| match (a.get("const"), a.get("enum").and_then(Value::as_array)) {
                        (Some(c), _) if c.is_string() => Some(vec![c.clone()]),
                        (None, Some(e)) if e.iter().all(Value::is_string) => Some(e.clone()),
                        _ => None,
                    },
                )
                .collect();
            groups.map(|g| g.concat())
        });
        if let Some(values) = consts {
            m.remove(key);
            m.insert("enum".into(), Value::Array(values));
        }
    }
    if let Some(Value::Array(e)) = m.get_mut("enum") {
        e.retain(|x| !x.is_null());
    }

    let mut out = Map::new();
    for (k, v) in m {
        if !KEEP.contains(&k.as_str()) {
            continue;
        }
        let v = match k.as_str() {
            "properties" => match v {
                Value::Object(props) => {
                    Value::Object(props.into_iter().map(|(n, s)| (n, compact(s))).collect())
                }
                other => other,
            },
            "items" | "additionalProperties" => compact(v),
            "anyOf" | "oneOf" => match v {
                Value::Array(a) => Value::Array(a.into_iter().map(compact).collect()),
                other => other,
            },
            _ => v,
        };
        out.insert(k, v);
    }
    // Unsigned integers come with `minimum: 0`; deserialisation already rejects negatives with a
    // clear message, so the bytes are not worth it.
    if out.get("minimum").and_then(Value::as_u64) == Some(0) {
        out.remove("minimum");
    }
    // An enum of strings says its type already.
    if out
        .get("enum")
        .and_then(Value::as_array)
        .is_some_and(|e| e.iter().all(Value::is_string))
        && out.get("type").and_then(Value::as_str) == Some("string")
    {
        out.remove("type");
    }
    // Zero-value defaults (0, false) are what an absent field means anyway.
    if matches!(out.get("default"), Some(Value::Bool(false)))
        || out.get("default").and_then(Value::as_u64) == Some(0)
    {
        out.remove("default");
    }
    out.remove("additionalProperties");
    if out
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        out.remove("required");
    }
    Value::Object(out)
}

fn is_null_schema(v: &Value) -> bool {
    v.get("type").and_then(Value::as_str) == Some("null")
        || v.get("const").is_some_and(Value::is_null)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    /// Arguments of a test tool.
    #[derive(Deserialize, JsonSchema)]
    #[allow(dead_code, reason = "only the schema is tested")]
    struct Args {
        /// Hostname.
        hostname: Option<String>,
        /// Max results.
        #[schemars(range(min = 1, max = 500))]
        #[serde(default = "ten")]
        limit: u32,
        /// Status.
        status: Option<Status>,
        /// Ids.
        ids: Vec<String>,
        /// Apply it.
        #[serde(default)]
        confirm: bool,
    }

    // No doc comment on the type: it would become the field's description.
    #[derive(Deserialize, JsonSchema)]
    #[serde(rename_all = "snake_case")]
    #[allow(dead_code, reason = "only the schema is tested")]
    enum Status {
        /// Documented variants must still compact to a plain enum.
        New,
        InProgress,
    }

    fn ten() -> u32 {
        10
    }

    #[test]
    fn compact_schema_shape() {
        let s = schema_for::<Args>();
        assert_eq!(
            s,
            json!({
                "type": "object",
                "additionalProperties": false,
                "required": ["ids"],
                "properties": {
                    "hostname": {"type": "string", "description": "Hostname."},
                    "limit": {"type": "integer", "minimum": 1, "maximum": 500, "default": 10, "description": "Max results."},
                    "status": {"enum": ["in_progress", "new"], "description": "Status."},
                    "ids": {"type": "array", "items": {"type": "string"}, "description": "Ids."},
                    "confirm": {"type": "boolean", "description": "Apply it."}
                }
            })
        );
        let text = s.to_string();
        for noise in ["$schema", "title", "format", "$defs", "definitions", "null"] {
            assert!(!text.contains(noise), "{noise} left in {text}");
        }
    }
}
