//! The team server as a backend: the same "generate" as the in-browser engine, sent through
//! the appliance's relay (`/api/llm/v1/…`) and read as server-sent events as they arrive.
//! A team model is named `team:ID` in the IDE, so one active-model setting covers both.

use std::cell::Cell;
use std::rc::Rc;

use airlock_protocol::llm::{ChatRequest, Chunk, CompletionRequest, LlmMessage};
use airlock_protocol::routes;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;

use super::backend::{Outcome, Params, Prompt};
use crate::api::js_error_text;

/// How the IDE names a team model.
pub const PREFIX: &str = "team:";

/// The server's model id when `model` is a team model.
pub fn id(model: &str) -> Option<&str> {
    model.strip_prefix(PREFIX)
}

/// Context assumed for a team model when trimming a conversation (the server enforces its own).
pub const CONTEXT: usize = 32_768;

/// Runs one generation on the team server; `cancel` aborts the request (the appliance then
/// closes the upstream call and records it as cancelled).
pub async fn generate(
    model: &str,
    prompt: Prompt,
    params: Params,
    cancel: Rc<Cell<bool>>,
    on_text: &mut dyn FnMut(&str),
) -> Result<Outcome, String> {
    let started = js_sys::Date::now();
    let (url, body, shown) = match &prompt {
        Prompt::Chat(messages) => {
            let request = ChatRequest {
                model: model.to_owned(),
                messages: messages
                    .iter()
                    .map(|m| LlmMessage {
                        role: m.role.clone(),
                        content: m.content.clone(),
                    })
                    .collect(),
                stream: true,
                max_tokens: params.max_tokens,
                temperature: params.temperature,
                stop: params.stop.clone(),
            };
            let shown = messages
                .iter()
                .map(|m| format!("[{}]\n{}", m.role, m.content))
                .collect::<Vec<_>>()
                .join("\n\n");
            (routes::LLM_CHAT, serde_json::to_value(request), shown)
        }
        Prompt::Complete { prefix, suffix } => {
            let request = CompletionRequest {
                model: model.to_owned(),
                prompt: prefix.clone(),
                suffix: Some(suffix.clone()),
                stream: true,
                max_tokens: params.max_tokens,
                temperature: params.temperature,
                stop: params.stop.clone(),
            };
            (
                routes::LLM_COMPLETIONS,
                serde_json::to_value(request),
                prefix.clone(),
            )
        }
    };
    let body = body.map_err(|e| e.to_string())?;
    let abort = web_sys::AbortController::new().map_err(|e| js_error_text(&e))?;
    let response = crate::api::post_stream(url, &body, &abort.signal())
        .await
        .map_err(|e| e.message)?;
    let reader: web_sys::ReadableStreamDefaultReader = response
        .body()
        .ok_or("the team server sent no answer")?
        .get_reader()
        .unchecked_into();
    let decoder = web_sys::TextDecoder::new().map_err(|e| js_error_text(&e))?;
    let mut pending = String::new();
    let mut outcome = Outcome {
        prompt_text: shown,
        context: CONTEXT,
        stop: "stop_token",
        ..Outcome::default()
    };
    let mut pieces = 0;
    loop {
        if cancel.get() {
            abort.abort();
            outcome.stop = "cancelled";
            break;
        }
        let chunk = JsFuture::from(reader.read())
            .await
            .map_err(|e| js_error_text(&e))?;
        let done = js_sys::Reflect::get(&chunk, &"done".into())
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(true);
        if done {
            break;
        }
        let value: js_sys::Uint8Array = js_sys::Reflect::get(&chunk, &"value".into())
            .map_err(|e| js_error_text(&e))?
            .unchecked_into();
        let options = web_sys::TextDecodeOptions::new();
        options.set_stream(true);
        pending.push_str(
            &decoder
                .decode_with_js_u8_array_and_options(&value, &options)
                .map_err(|e| js_error_text(&e))?,
        );
        while let Some(newline) = pending.find('\n') {
            let line: String = pending.drain(..=newline).collect();
            let Some(data) = line.trim_end().strip_prefix("data:") else {
                continue;
            };
            let data = data.trim();
            if data == "[DONE]" {
                continue;
            }
            let Ok(event) = serde_json::from_str::<Chunk>(data) else {
                continue;
            };
            if let Some(error) = event.error {
                return Err(format!("team server: {}", error.message));
            }
            if let Some(usage) = event.usage {
                outcome.prompt_tokens = usage.prompt_tokens as usize;
                outcome.output_tokens = usage.completion_tokens as usize;
            }
            for choice in &event.choices {
                let text = choice.text();
                if !text.is_empty() {
                    if outcome.first_text_ms == 0.0 {
                        outcome.first_text_ms = js_sys::Date::now() - started;
                    }
                    pieces += 1;
                    outcome.text.push_str(text);
                    on_text(text);
                }
                if choice.finish_reason.as_deref() == Some("length") {
                    outcome.stop = "max_tokens";
                }
            }
        }
    }
    if outcome.output_tokens == 0 {
        outcome.output_tokens = pieces;
    }
    outcome.total_ms = js_sys::Date::now() - started;
    outcome.decode_ms = outcome.total_ms - outcome.first_text_ms;
    Ok(outcome)
}
