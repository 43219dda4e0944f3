//! What a component imports, read before it is compiled.
//!
//! Compiling a component that embeds an interpreter (Python, JavaScript) takes a minute; the
//! linker would then refuse one built against the wrong WIT or for a host API aerie does not
//! offer. Reading the import names first refuses it at once, with what to change. The linker
//! still checks every type afterwards: this is a faster error, not the check.

use wasmparser::{Parser, Payload};

/// The packages a plugin may import from: aerie's own WIT and the WASI p2 interfaces the host
/// links with an empty context.
const OFFERED: &[&str] = &[
    "aerie:plugin/",
    "wasi:io/",
    "wasi:clocks/",
    "wasi:random/",
    "wasi:cli/",
    "wasi:filesystem/",
    "wasi:sockets/",
];

/// The version of aerie's WIT package this host serves.
const AERIE_VERSION: &str = "0.2.0";

/// Names of the top-level imports of a component.
fn top_level_imports(bytes: &[u8]) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    // Every (nested) module and component starts with a version header and ends with `End`.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        match payload.map_err(|e| e.to_string())? {
            Payload::Version { .. } => depth += 1,
            Payload::End(_) => depth -= 1,
            Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    names.push(import.map_err(|e| e.to_string())?.name.name.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(names)
}

/// Refuse a component that imports what the host does not offer, saying what to change.
/// Bytes the parser cannot read are left to the compiler, whose error is more precise.
pub fn check(bytes: &[u8]) -> Result<(), String> {
    let Ok(names) = top_level_imports(bytes) else {
        return Ok(());
    };
    for name in names {
        if let Some(version) = name
            .strip_prefix("aerie:plugin/")
            .and_then(|n| n.split_once('@'))
        {
            if version.1 != AERIE_VERSION {
                return Err(format!(
                    "it was built against aerie:plugin@{} ({name}); this host serves \
                     aerie:plugin@{AERIE_VERSION}: rebuild it with the current SDK or kit",
                    version.1
                ));
            }
            continue;
        }
        if OFFERED.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let hint = if name.starts_with("wasi:http/") {
            " (plugins reach Falcon through aerie:plugin/falcon only; a JavaScript component \
             must be built with WASI http and fetch-event disabled, as aerie's JS kit does)"
        } else {
            ""
        };
        return Err(format!(
            "it imports {name}, which aerie does not offer to plugins{hint}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component_importing(names: &[&str]) -> Vec<u8> {
        let imports: String = names
            .iter()
            .map(|n| format!("(import \"{n}\" (instance))"))
            .collect();
        wat::parse_str(format!("(component {imports})")).unwrap()
    }

    #[test]
    fn offered_imports_pass() {
        let c = component_importing(&[
            "aerie:plugin/falcon@0.2.0",
            "wasi:io/streams@0.2.6",
            "wasi:cli/environment@0.2.0",
        ]);
        assert_eq!(check(&c), Ok(()));
    }

    #[test]
    fn http_is_refused_with_a_hint() {
        let e = check(&component_importing(&["wasi:http/types@0.2.10"])).unwrap_err();
        assert!(
            e.contains("wasi:http/types@0.2.10") && e.contains("fetch-event"),
            "{e}"
        );
    }

    #[test]
    fn an_older_wit_is_refused_with_the_fix() {
        let e = check(&component_importing(&["aerie:plugin/falcon@0.1.0"])).unwrap_err();
        assert!(
            e.contains("aerie:plugin@0.1.0") && e.contains("rebuild"),
            "{e}"
        );
    }

    #[test]
    fn nested_imports_are_not_the_components_own() {
        // A nested component's imports are satisfied inside the outer one.
        let c = wat::parse_str(
            r#"(component (component (import "wasi:http/types@0.2.0" (instance))))"#,
        )
        .unwrap();
        assert_eq!(check(&c), Ok(()));
    }
}
