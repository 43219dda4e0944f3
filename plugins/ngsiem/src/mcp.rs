//! The NG-SIEM group's MCP features: completion of CQL repository names.

use aerie_sdk::{Ctx, Plugin, ToolError, Vars};

/// The repositories every Falcon tenant has (reference: NG-SIEM search repositories).
const REPOSITORIES: &[&str] = &[
    "search-all",
    "investigate_view",
    "third-party",
    "falcon_for_it_view",
    "forensics_view",
];

/// Repository names for `typed`: the standard ones, then any the operator lists in
/// `[plugins.ngsiem.config] repositories = "a,b"`. No Falcon call: the list is known.
fn repositories(ctx: &Ctx<'_>, typed: &str, _: &Vars) -> Result<Vec<String>, ToolError> {
    let extra = ctx.config("repositories").unwrap_or_default();
    let names = REPOSITORIES
        .iter()
        .map(|r| r.to_string())
        .chain(extra.split(',').map(|r| r.trim().to_string()))
        .filter(|r| !r.is_empty());
    Ok(aerie_sdk::suggest(names, typed.trim()))
}

/// Add the group's completers to `p`.
pub(crate) fn add(p: Plugin) -> Plugin {
    p.completer("repository", "ngsiem_query", repositories)
}

#[cfg(test)]
mod tests {
    use aerie_sdk::Vars;
    use aerie_sdk::testing::MockEnv;

    #[test]
    fn repositories_complete_from_the_standard_list_and_the_operators() {
        let env = MockEnv::new().config("repositories", "soc_custom, ");
        let p = crate::plugin();
        let got = p
            .complete(&env, "repository", "s", &Vars::default())
            .unwrap();
        assert_eq!(
            got,
            [
                "search-all",
                "soc_custom",
                "investigate_view",
                "forensics_view"
            ]
        );
        assert!(env.calls().is_empty(), "no Falcon call");
    }
}
