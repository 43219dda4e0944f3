//! `prompts/get` for a prompt that asks for a missing argument: the person is asked
//! (elicitation) for each required argument the client left out that declares a question, and
//! the answers fill them in. A session is asked directly; a 2026-07-28 client gets an
//! input-required result and sends `prompts/get` again with the answers, bound like a tool
//! call's rounds to the caller, the prompt and the arguments it gave.

use rmcp::model::{GetPromptRequestParams, InputRequiredResult, JsonObject};
use rmcp::service::RequestContext;
use rmcp::{ErrorData as McpError, RoleServer};
use serde_json::{Value, json};

use crate::app::App;
use crate::client_input::{Asker, Question};
use crate::controls::Caller;

/// The arguments to render with: the client's, plus what the person answered; or the
/// input-required result that ends this round (the client has questions to answer first).
pub async fn arguments(
    app: &App,
    caller: &Caller,
    request: &GetPromptRequestParams,
    ctx: &RequestContext<RoleServer>,
) -> Result<Result<JsonObject, InputRequiredResult>, McpError> {
    let mut given = request.arguments.clone().unwrap_or_default();
    let wanted = app.prompt_questions(caller, &request.name, &given);
    if wanted.is_empty() {
        return Ok(Ok(given));
    }
    let binding = format!(
        "prompts/get\n{}\n{}\n{}",
        super::principal(ctx),
        request.name,
        crate::controls::approvals::args_digest(&Value::Object(given.clone()))
    );
    let timeout = app.controls.approvals.elicit_timeout();
    let asker = Asker::for_request(
        ctx,
        &binding,
        request.request_state.as_deref(),
        request.input_responses.as_ref(),
        timeout,
    )?;
    let questions: Vec<Question> = wanted
        .iter()
        .map(|(name, message)| {
            let schema = json!({"type": "object", "properties": {name: {"type": "string"}}, "required": [name]});
            Question::elicit(&name.to_ascii_lowercase(), message, schema)
        })
        .collect();
    // Pending: the client answers in the next round (below).
    if let Ok(answers) = asker.ask(&questions, Some(timeout)).await {
        for ((name, _), answer) in wanted.iter().zip(answers) {
            let value = answer
                .ok()
                .filter(|a| a["action"] == "accept")
                .and_then(|a| a["content"][name].as_str().map(str::to_string));
            // Not given (declined, cancelled, unsupported): rendering names what is missing.
            if let Some(v) = value {
                given.insert(name.clone(), Value::String(v));
            }
        }
    }
    Ok(match asker.input_required()? {
        Some(more) => Err(more),
        None => Ok(given),
    })
}
