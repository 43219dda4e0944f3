//! The prevention group's MCP features: prevention policies as resources
//! (`falcon://prevention/policies/{id}`) and completion of policy ids.

use aerie_sdk::{Ctx, Plugin, Template, ToolError, Vars};
use serde_json::Value;

use super::{GetArgs, get};

const POLICY: Template = Template::json(
    "falcon://prevention/policies/{id}",
    "prevention policy",
    "A prevention policy with all its settings and host groups (as prevention_get_policy).",
    "prevention_get_policy",
)
.complete(&[("id", "prevention_policy_id")]);

/// Ids of the tenant's prevention policies (by name) that start with `typed`.
fn policy_ids(ctx: &Ctx<'_>, typed: &str, _: &Vars) -> Result<Vec<String>, ToolError> {
    let env = ctx
        .op("queryCombinedPreventionPolicies")
        .query("sort", "name.asc")
        .query("limit", 100)
        .envelope()?;
    let ids = env
        .resources
        .iter()
        .filter_map(|p| p.get("id").and_then(Value::as_str))
        .map(str::to_string);
    Ok(aerie_sdk::suggest(ids, typed.trim()))
}

/// Add the group's templates and completers to `p`.
pub(crate) fn add(p: Plugin) -> Plugin {
    p.template(&POLICY, |ctx, vars| {
        let id = vars.get("id")?.to_string();
        get(
            ctx,
            GetArgs {
                ids: vec![id.clone()],
            },
        )?
        .single("policies", &format!("prevention policy {id}"))
    })
    .completer(
        "prevention_policy_id",
        "prevention_list_policies",
        policy_ids,
    )
}
