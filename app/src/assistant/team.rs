//! The team server as a backend: the same "generate" as the in-browser engine, sent through
//! the appliance's relay (`/api/llm/v1/…`) and read as server-sent events as they arrive.
//! A team model is named `team:ID` in the IDE, so one active-model setting covers both.

use std::cell::Cell;
use std::rc::Rc;

use airlock_inference::chat::Message;
use airlock_inference::tool_calls::{CLOSE, OPEN, call_from_json};
use airlock_protocol::llm::{
    ChatRequest, Chunk, CompletionRequest, LlmFunctionCall, LlmMessage, LlmToolCall,
};
use airlock_protocol::routes;

use super::backend::{Outcome, Params, Prompt};
use crate::api::js_error_text;

/// How the IDE names a team model.
pub const PREFIX: &str = "team:";

/// The server's model id when `model` is a team model.
pub fn id(model: &str) -> Option<&str> {
    model.strip_prefix(PREFIX)
}

/// Context assumed for a team model whose server and admin policy do not say (the server
/// enforces its own).
pub const CONTEXT: usize = 32_768;

/// The context to fit a conversation for team model `id` in: what the team's model list says
/// (the admin policy's `context_tokens`, vLLM's `max_model_len`, llama.cpp's trained length),
/// else [`CONTEXT`].
pub fn context(models: &[airlock_protocol::llm::LlmModel], id: &str) -> usize {
    models
        .iter()
        .find(|m| m.id == id)
        .and_then(|m| m.context)
        .map_or(CONTEXT, |n| n as usize)
}

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
    let forced = matches!(
        prompt,
        Prompt::Agent {
            force_call: true,
            ..
        }
    );
    let (url, body, shown) = request(model, &prompt, &params);
    let body = body.map_err(|e| e.to_string())?;
    let abort = web_sys::AbortController::new().map_err(|e| js_error_text(&e))?;
    RUNNING.with(|r| *r.borrow_mut() = Some((abort.clone(), cancel.clone())));
    let mut result = stream(url, &body, shown, &abort, &cancel, started, on_text).await;
    RUNNING.with(|r| *r.borrow_mut() = None);
    // Under `response_format` the answer is the call's bare JSON.
    if forced
        && let Ok(outcome) = &mut result
        && outcome.tool_calls.is_empty()
        && !outcome.text.contains(OPEN)
    {
        outcome.text = format!("{OPEN}{}{CLOSE}", outcome.text.trim());
    }
    result
}

thread_local! {
    /// The request in flight and its cancel flag, so Stop can abort it mid-wait.
    static RUNNING: std::cell::RefCell<Option<(web_sys::AbortController, Rc<Cell<bool>>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Aborts the team-server request in flight, if its cancel flag is set: a stalled server is
/// left at once rather than at its next piece.
pub fn abort_if_cancelled() {
    RUNNING.with(|r| {
        if let Some((abort, cancel)) = r.borrow().as_ref()
            && cancel.get()
        {
            abort.abort();
        }
    });
}

async fn stream(
    url: &str,
    body: &serde_json::Value,
    shown: String,
    abort: &web_sys::AbortController,
    cancel: &Rc<Cell<bool>>,
    started: f64,
    on_text: &mut dyn FnMut(&str),
) -> Result<Outcome, String> {
    let response = match crate::api::post_stream(url, body, &abort.signal()).await {
        Ok(response) => response,
        Err(_) if cancel.get() => {
            return Ok(Outcome {
                prompt_text: shown,
                context: CONTEXT,
                stop: "cancelled",
                ..Outcome::default()
            });
        }
        Err(e) => return Err(e.message),
    };
    let mut lines = crate::api::Lines::new(&response)?;
    let mut outcome = Outcome {
        prompt_text: shown,
        context: CONTEXT,
        stop: "stop_token",
        ..Outcome::default()
    };
    let mut calls: Vec<(Option<String>, String, String)> = Vec::new();
    let mut pieces = 0;
    loop {
        if cancel.get() {
            abort.abort();
            outcome.stop = "cancelled";
            break;
        }
        let line = match lines.next().await {
            Ok(Some(line)) => line,
            Ok(None) => break,
            Err(_) if cancel.get() => {
                outcome.stop = "cancelled";
                break;
            }
            Err(e) => return Err(e),
        };
        let Some(data) = line.strip_prefix("data:") else {
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
            let deltas = choice.delta.as_ref().or(choice.message.as_ref());
            for piece in deltas.iter().flat_map(|d| &d.tool_calls) {
                if calls.len() <= piece.index {
                    calls.resize(piece.index + 1, (None, String::new(), String::new()));
                }
                let call = &mut calls[piece.index];
                if piece.id.is_some() {
                    call.0.clone_from(&piece.id);
                }
                if let Some(function) = &piece.function {
                    call.1.push_str(function.name.as_deref().unwrap_or(""));
                    call.2.push_str(function.arguments.as_deref().unwrap_or(""));
                }
                pieces += 1;
            }
            if choice.finish_reason.as_deref() == Some("length") {
                outcome.stop = "max_tokens";
            }
        }
    }
    outcome.tool_calls = calls
        .into_iter()
        .map(|(id, name, arguments)| {
            let arguments = if arguments.trim().is_empty() {
                "{}".to_owned()
            } else {
                arguments
            };
            let body = serde_json::json!({ "name": name, "arguments": arguments }).to_string();
            call_from_json(&body).map(|mut call| {
                call.id = id;
                call
            })
        })
        .collect();
    if outcome.output_tokens == 0 {
        outcome.output_tokens = pieces;
    }
    outcome.total_ms = js_sys::Date::now() - started;
    outcome.decode_ms = outcome.total_ms - outcome.first_text_ms;
    Ok(outcome)
}

/// The relay path, the request body, and the prompt as shown for "show prompt".
fn request(
    model: &str,
    prompt: &Prompt,
    params: &Params,
) -> (&'static str, serde_json::Result<serde_json::Value>, String) {
    let chat = |messages: &[Message], tools: &[serde_json::Value], force_call: bool| {
        let request = ChatRequest {
            model: model.to_owned(),
            messages: messages.iter().map(to_llm).collect(),
            stream: true,
            max_tokens: params.max_tokens,
            temperature: params.temperature,
            stop: params.stop.clone(),
            tools: tools.to_vec(),
            response_format: force_call.then(airlock_protocol::tools::call_format),
        };
        let shown = messages
            .iter()
            .map(|m| format!("[{}]\n{}", m.role, m.content))
            .collect::<Vec<_>>()
            .join("\n\n");
        (routes::LLM_CHAT, serde_json::to_value(request), shown)
    };
    match prompt {
        Prompt::Chat(messages) => chat(messages, &[], false),
        Prompt::Agent {
            messages,
            tools,
            force_call,
        } => chat(messages, tools, *force_call),
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
    }
}

/// A turn in OpenAI's shape (calls with their ids, arguments as JSON text).
fn to_llm(message: &Message) -> LlmMessage {
    LlmMessage {
        role: message.role.clone(),
        content: message.content.clone(),
        tool_calls: message
            .tool_calls
            .iter()
            .enumerate()
            .map(|(i, call)| LlmToolCall {
                id: call.id.clone().unwrap_or_else(|| format!("call_{i}")),
                kind: "function".into(),
                function: LlmFunctionCall {
                    name: call.name.clone(),
                    arguments: call.arguments.to_string(),
                },
            })
            .collect(),
        tool_call_id: message.tool_call_id.clone(),
    }
}
