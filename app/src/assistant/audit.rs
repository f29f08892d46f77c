//! The assistant's audit records: model, token counts and outcome of each chat, completion
//! and apply — never the text.

use airlock_protocol::chat::AssistantEvent;
use airlock_protocol::routes;

use super::backend::Outcome;

/// Records one generation or apply (failures to record are shown by the Air-Gap indicator,
/// not here).
pub fn record(kind: &str, model: &str, outcome: Result<&Outcome, &str>, path: Option<String>) {
    let event = match outcome {
        Ok(o) => AssistantEvent {
            kind: kind.into(),
            model: model.into(),
            prompt_tokens: o.prompt_tokens as u32,
            output_tokens: o.output_tokens as u32,
            outcome: o.stop.into(),
            path,
        },
        Err(e) => AssistantEvent {
            kind: kind.into(),
            model: model.into(),
            prompt_tokens: 0,
            output_tokens: 0,
            outcome: format!("error: {e}"),
            path,
        },
    };
    wasm_bindgen_futures::spawn_local(async move {
        let _ = crate::api::post_typed(routes::ASSISTANT_LOG, &event).await;
    });
}

/// Records an applied code block.
pub fn record_apply(model: &str, path: &str) {
    let event = AssistantEvent {
        kind: "apply".into(),
        model: model.into(),
        prompt_tokens: 0,
        output_tokens: 0,
        outcome: "ok".into(),
        path: Some(path.into()),
    };
    wasm_bindgen_futures::spawn_local(async move {
        let _ = crate::api::post_typed(routes::ASSISTANT_LOG, &event).await;
    });
}

/// Records an undone agent edit (`outcome`: `ok`, or why the file was kept).
pub fn record_undo(model: &str, path: &str, outcome: &str) {
    let event = AssistantEvent {
        kind: "undo".into(),
        model: model.into(),
        prompt_tokens: 0,
        output_tokens: 0,
        outcome: outcome.into(),
        path: Some(path.into()),
    };
    wasm_bindgen_futures::spawn_local(async move {
        let _ = crate::api::post_typed(routes::ASSISTANT_LOG, &event).await;
    });
}
