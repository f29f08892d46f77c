//! The editor's inline completion provider: the active model fills in the middle between
//! the text before and after the cursor, the ghost text growing token by token; the
//! editor's abort (the next keystroke) stops the engine at its next token; the status bar
//! hears how each request ended.

use std::cell::Cell;
use std::rc::Rc;

use js_sys::{Function, Object, Promise, Reflect};
use leptos::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use super::backend::{self, Params, Prompt};
use crate::model::completion::{clean, windows};
use crate::ui::IdeState;
use crate::ui::assistant::state::CompletionStatus;

/// Tokens a completion may write.
const MAX_TOKENS: usize = 48;

async fn complete(
    state: IdeState,
    prefix: String,
    suffix: String,
    signal: web_sys::AbortSignal,
    on_partial: Function,
) -> Result<JsValue, JsValue> {
    let Some(model) = state.assistant.active_model.get_untracked() else {
        state
            .assistant
            .completion
            .set(CompletionStatus::Off("load a model for completion".into()));
        return Ok(JsValue::NULL);
    };
    // A cancelled request may still be finishing its token: wait (briefly) for the model.
    if !super::wait_idle(&model, 2000, || signal.aborted()).await {
        if !signal.aborted() {
            state
                .assistant
                .completion
                .set(CompletionStatus::Off(format!(
                    "{model} is busy or not loaded"
                )));
        }
        return Ok(JsValue::NULL);
    }
    let (prefix, suffix) = {
        let joined = format!("{prefix}{suffix}");
        windows(&joined, prefix.len())
    };
    let cancel = Rc::new(Cell::new(false));
    let on_abort = {
        let cancel = cancel.clone();
        Closure::<dyn Fn()>::new(move || cancel.set(true))
    };
    signal.set_onabort(Some(on_abort.as_ref().unchecked_ref()));
    let result = backend::generate(
        &model,
        Prompt::Complete {
            prefix: prefix.clone(),
            suffix: suffix.clone(),
        },
        Params {
            max_tokens: MAX_TOKENS,
            temperature: 0.0,
            stop: vec!["\n\n\n".into()],
        },
        cancel,
        // Ghost text grows as tokens arrive: the cleaned completion so far, each time it changes.
        &mut {
            let (prefix, suffix) = (prefix.clone(), suffix.clone());
            let mut text = String::new();
            let mut shown = String::new();
            move |piece: &str| {
                text.push_str(piece);
                if let Some(partial) = clean(&text, &prefix, &suffix)
                    && partial != shown
                {
                    let _ = on_partial.call1(&JsValue::NULL, &JsValue::from(&partial));
                    shown = partial;
                }
            }
        },
    )
    .await;
    signal.set_onabort(None);
    drop(on_abort);
    match result {
        Ok(outcome) => {
            super::audit::record("completion", &model, Ok(&outcome), None);
            if outcome.stop == "cancelled" {
                state.assistant.completion.set(CompletionStatus::Cancelled {
                    tokens: outcome.output_tokens,
                });
                return Ok(JsValue::NULL);
            }
            state
                .assistant
                .last_completion_ms
                .set(Some(outcome.total_ms));
            Ok(clean(&outcome.text, &prefix, &suffix)
                .map(JsValue::from)
                .unwrap_or(JsValue::NULL))
        }
        Err(e) => {
            super::audit::record("completion", &model, Err(&e), None);
            Err(JsValue::from(js_sys::Error::new(&e)))
        }
    }
}

/// Installs the provider; `state.completion_enabled` and `state.completion_debounce_ms`
/// are pushed to the editor whenever they change.
pub fn install(state: IdeState) {
    let provider =
        Closure::<dyn Fn(JsValue, String, String, web_sys::AbortSignal, Function) -> Promise>::new(
            move |_path: JsValue,
                  prefix: String,
                  suffix: String,
                  signal: web_sys::AbortSignal,
                  on_partial: Function| {
                future_to_promise(complete(state, prefix, suffix, signal, on_partial))
            },
        );
    let on_status = Closure::<dyn Fn(JsValue)>::new(move |status: JsValue| {
        let field = |k: &str| Reflect::get(&status, &k.into()).ok();
        let kind = field("state")
            .and_then(|v| v.as_string())
            .unwrap_or_default();
        let ms = field("ms").and_then(|v| v.as_f64());
        match kind.as_str() {
            "running" => state.assistant.completion.set(CompletionStatus::Running),
            "first" => state.assistant.completion.set(CompletionStatus::Streaming {
                first_ms: ms.unwrap_or(0.0),
            }),
            "shown" => state.assistant.completion.set(CompletionStatus::Shown {
                ms: ms.unwrap_or(0.0),
            }),
            "empty" => state.assistant.completion.set(CompletionStatus::Empty {
                ms: ms.unwrap_or(0.0),
            }),
            "error" => state.assistant.completion.set(CompletionStatus::Off(
                field("message")
                    .and_then(|v| v.as_string())
                    .unwrap_or_default(),
            )),
            // "cancelled": the engine's own report (tokens decoded) arrives from `complete`.
            _ => {}
        }
    });
    let provider: Function = provider.into_js_value().unchecked_into();
    let on_status: Function = on_status.into_js_value().unchecked_into();
    Effect::new(move |_| {
        let options = Object::new();
        let _ = Reflect::set(&options, &"provider".into(), &provider);
        let _ = Reflect::set(&options, &"onStatus".into(), &on_status);
        let _ = Reflect::set(
            &options,
            &"enabled".into(),
            &state.assistant.completion_enabled.get().into(),
        );
        let _ = Reflect::set(
            &options,
            &"debounceMs".into(),
            &f64::from(state.assistant.completion_debounce_ms.get()).into(),
        );
        crate::editor::set_completion(&options);
    });
}
