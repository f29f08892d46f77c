//! `airlockEngine.generate(model, prompt, options)`: the full generation loop of the native
//! engine (`Generator`: sampling, stop tokens and strings, whole-UTF-8 streaming,
//! cancellation, context end) on the page's WebGPU engine, every GPU read awaited. Models stay
//! loaded between calls (one generation at a time per model) until `airlockEngine.unload`.
//!
//! Options (all optional): `maxTokens` (256), `temperature` (0 = greedy), `topK` (0 = all),
//! `topP` (1), `repeatPenalty` (1), `seed` (0), `stop` (strings), `chat` (wrap the prompt as a
//! user turn in the model's chat template), `onText` (called with each new piece of text),
//! `signal` (an `AbortSignal`), `shape` ("thread" | "workgroup"), `engine` ("auto" | "gpu" |
//! "cpu"; default: the Models panel's setting).

use std::cell::RefCell;
use std::collections::HashMap;

use airlock_inference::cache_record::CacheRecord;
use airlock_inference::chat::Message;
use airlock_inference::generate::{Generator, Next, Output, Request, StopReason};
use airlock_inference::loaded::stop_tokens;
use airlock_inference::sampling::{SamplingParams, Want};
use airlock_inference::tokenizer::Tokenizer;
use js_sys::{Array, Function, Object, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

use crate::engine::runner::Runner;
use crate::engine::{LoadOptions, Loaded, error, load_with, prompt_ids};
use crate::model::engine_choice::{EngineKind, Preference};

/// A loaded model, or a marker that a call is using (or loading) it.
enum Slot {
    Idle(Box<Loaded>),
    Busy,
}

thread_local! {
    static MODELS: RefCell<HashMap<String, Slot>> = RefCell::new(HashMap::new());
}

/// Takes model `name` for one generation: the kept one, or a fresh load (also when the call
/// names the other engine than the kept one runs on). Errs while another call holds it.
pub(crate) async fn take(
    name: &str,
    options: &LoadOptions,
) -> Result<(Box<Loaded>, bool), JsValue> {
    let kept = MODELS.with(|models| {
        let mut models = models.borrow_mut();
        match models.insert(name.to_owned(), Slot::Busy) {
            Some(Slot::Idle(loaded)) => Ok(Some(loaded)),
            Some(Slot::Busy) => Err(error(format!(
                "model {name:?} is busy with another generation"
            ))),
            None => Ok(None),
        }
    })?;
    let wanted = match options.engine {
        Some(Preference::Cpu) => Some(EngineKind::Cpu),
        Some(Preference::Gpu) => Some(EngineKind::Gpu),
        Some(Preference::Auto) | None => None,
    };
    if let Some(loaded) = kept
        && wanted.is_none_or(|kind| kind == loaded.runner.kind())
    {
        return Ok((loaded, true));
    }
    match load_with(name, options).await {
        Ok(loaded) => Ok((Box::new(loaded), false)),
        Err(e) => {
            MODELS.with(|models| models.borrow_mut().remove(name));
            Err(e)
        }
    }
}

/// Gives the model back for the next call (unless it was unloaded meanwhile).
pub(crate) fn give_back(name: &str, loaded: Box<Loaded>) {
    MODELS.with(|models| {
        if let Some(slot) = models.borrow_mut().get_mut(name) {
            *slot = Slot::Idle(loaded);
        }
    });
}

fn field(options: &JsValue, key: &str) -> Option<JsValue> {
    if options.is_undefined() || options.is_null() {
        return None;
    }
    Reflect::get(options, &key.into())
        .ok()
        .filter(|v| !v.is_undefined() && !v.is_null())
}

fn number(options: &JsValue, key: &str, default: f64) -> Result<f64, JsValue> {
    match field(options, key) {
        None => Ok(default),
        Some(v) => v
            .as_f64()
            .filter(|n| n.is_finite())
            .ok_or_else(|| error(format!("option {key} must be a finite number"))),
    }
}

fn whole(options: &JsValue, key: &str, default: f64) -> Result<u64, JsValue> {
    let n = number(options, key, default)?;
    if n < 0.0 || n.fract() != 0.0 || n > 9.0e15 {
        return Err(error(format!(
            "option {key} must be a whole number ≥ 0, got {n}"
        )));
    }
    Ok(n as u64)
}

fn sampling(options: &JsValue) -> Result<SamplingParams, JsValue> {
    let params = SamplingParams {
        temperature: number(options, "temperature", 0.0)? as f32,
        top_k: whole(options, "topK", 0.0)? as usize,
        top_p: number(options, "topP", 1.0)? as f32,
        repetition_penalty: number(options, "repeatPenalty", 1.0)? as f32,
        seed: whole(options, "seed", 0.0)?,
    };
    params.validate().map_err(error)?;
    Ok(params)
}

fn stop_strings(options: &JsValue) -> Result<Vec<String>, JsValue> {
    let Some(value) = field(options, "stop") else {
        return Ok(Vec::new());
    };
    let array: Array = value
        .dyn_into()
        .map_err(|_| error("option stop must be an array of strings"))?;
    array
        .iter()
        .map(|s| {
            s.as_string()
                .ok_or_else(|| error("option stop must be an array of strings"))
        })
        .collect()
}

/// Prompt ids: with `chat`, a string prompt becomes a user turn in the model's template.
fn prompt(loaded: &Loaded, prompt: &JsValue, options: &JsValue) -> Result<Vec<u32>, JsValue> {
    let chat = field(options, "chat").is_some_and(|v| v.is_truthy());
    if !chat {
        return prompt_ids(&loaded.tokenizer, prompt);
    }
    let text = prompt
        .as_string()
        .ok_or_else(|| error("a chat prompt is a string"))?;
    let rendered = loaded
        .chat
        .render(&[Message::new("user", &text)], true)
        .map_err(error)?;
    loaded.tokenizer.prompt_ids(&rendered).map_err(error)
}

/// The name a stop reason has in results and audit records.
pub(crate) fn stop_name(reason: StopReason) -> &'static str {
    match reason {
        StopReason::MaxTokens => "max_tokens",
        StopReason::StopToken => "stop_token",
        StopReason::StopString => "stop_string",
        StopReason::ContextFull => "context_full",
        StopReason::Cancelled => "cancelled",
    }
}

async fn generate(name: String, text: JsValue, options: JsValue) -> Result<JsValue, JsValue> {
    // Everything about the options is checked before a model is loaded or taken.
    let sampling = sampling(&options)?;
    let stop_strings = stop_strings(&options)?;
    let max_tokens = whole(&options, "maxTokens", 256.0)? as usize;
    if max_tokens == 0 {
        return Err(error("option maxTokens must be at least 1"));
    }
    let on_text = match field(&options, "onText") {
        None => None,
        Some(f) => Some(
            f.dyn_into::<Function>()
                .map_err(|_| error("option onText must be a function"))?,
        ),
    };
    let signal = field(&options, "signal");
    let started = js_sys::Date::now();
    let (mut loaded, cached) = take(&name, &LoadOptions::from_js(&options)?).await?;
    let load_ms = js_sys::Date::now() - started;
    let result = run(
        &mut loaded,
        &text,
        &options,
        Request {
            prompt: Vec::new(),
            max_tokens,
            sampling,
            stop_tokens: Vec::new(),
            stop_strings,
            tools: None,
        },
        on_text.as_ref(),
        signal.as_ref(),
    )
    .await;
    give_back(&name, loaded);
    let result = result?;
    Reflect::set(&result, &"cached".into(), &cached.into())?;
    Reflect::set(&result, &"loadMs".into(), &load_ms.into())?;
    Ok(result.into())
}

/// Wall-clock milliseconds of a generation's two phases.
pub(crate) struct Timing {
    /// The prompt's forward pass.
    pub prefill_ms: f64,
    /// Every token after it.
    pub decode_ms: f64,
    /// Prompt tokens the KV cache already held, which did not run again.
    pub reused: usize,
}

/// Runs `generator` to its end on `runner`: the prompt (what `held` says the cache already
/// holds of it is not run again), then each token it asks for, every GPU read awaited.
/// `held` follows every pass. The browser's counterpart of the native `generate` loop.
pub(crate) async fn drive(
    runner: &mut Runner,
    held: &mut CacheRecord,
    tokenizer: &Tokenizer,
    generator: &mut Generator<'_>,
    cancelled: impl Fn() -> bool,
    emit: &mut dyn FnMut(&str),
) -> Result<(StopReason, Timing), JsValue> {
    // Greedy sampling without a repetition penalty picks on the GPU (burn's argmax) and reads
    // back one index instead of every logit.
    let want = generator.wants();
    let started = js_sys::Date::now();
    let prompt = generator.prompt();
    let reused = held.reusable(prompt);
    let mut output = pass(runner, held, want, &prompt[reused..], reused).await?;
    let prefilled = js_sys::Date::now();
    let token_bytes = |id: u32| tokenizer.token_bytes(id);
    let stop = loop {
        match generator.step(&mut output, &token_bytes, cancelled(), emit) {
            Next::Forward { token, position } => {
                output = pass(runner, held, want, &[token], position).await?;
            }
            Next::Done(reason) => break reason,
        }
    };
    let timing = Timing {
        prefill_ms: prefilled - started,
        decode_ms: js_sys::Date::now() - prefilled,
        reused,
    };
    Ok((stop, timing))
}

/// One forward pass, recorded in `held` (forgotten when it fails: the cache is then unknown).
async fn pass(
    runner: &mut Runner,
    held: &mut CacheRecord,
    want: Want,
    tokens: &[u32],
    start: usize,
) -> Result<Output, JsValue> {
    match runner.forward_for(want, tokens, start).await {
        Ok(output) => {
            held.ran(start, tokens);
            Ok(output)
        }
        Err(e) => {
            held.clear();
            Err(error(e))
        }
    }
}

/// One generation on a taken model.
async fn run(
    loaded: &mut Loaded,
    text: &JsValue,
    options: &JsValue,
    mut request: Request,
    on_text: Option<&Function>,
    signal: Option<&JsValue>,
) -> Result<Object, JsValue> {
    request.prompt = prompt(loaded, text, options)?;
    request.stop_tokens = stop_tokens(&loaded.chat, &loaded.tokenizer);
    let mut generator = Generator::new(&request, loaded.runner.capacity()).map_err(error)?;
    let aborted =
        || signal.is_some_and(|s| Reflect::get(s, &"aborted".into()).is_ok_and(|a| a.is_truthy()));
    // A callback that throws ends the generation like an abort (its error is returned).
    let mut callback_error = None;
    let mut emit = |piece: &str| {
        if let (Some(f), false, None) = (on_text, piece.is_empty(), &callback_error)
            && let Err(e) = f.call1(&JsValue::NULL, &piece.into())
        {
            callback_error = Some(e);
        }
    };
    let (stop, timing) = drive(
        &mut loaded.runner,
        &mut loaded.held,
        &loaded.tokenizer,
        &mut generator,
        aborted,
        &mut emit,
    )
    .await?;
    let generation = generator.finish(stop, &mut emit, 0.0, 0.0);
    if let Some(e) = callback_error {
        return Err(e);
    }
    let result = Object::new();
    let set = |key: &str, value: JsValue| Reflect::set(&result, &key.into(), &value).map(|_| ());
    let tokens: Array = generation
        .tokens
        .iter()
        .map(|t| JsValue::from(*t))
        .collect();
    set("tokens", tokens.into())?;
    set("text", generation.text.into())?;
    set("stopReason", stop_name(generation.stop).into())?;
    set("promptTokens", JsValue::from(request.prompt.len() as u32))?;
    set("adapter", loaded.adapter.clone().into())?;
    loaded.runner.report(&loaded.decision.reason, &result)?;
    set("prefillMs", timing.prefill_ms.into())?;
    set("decodeMs", timing.decode_ms.into())?;
    set("reusedTokens", JsValue::from(timing.reused as u32))?;
    Ok(result)
}

/// Whether model `name` is loaded and idle.
pub(crate) fn is_loaded(name: &str) -> bool {
    MODELS.with(|models| matches!(models.borrow().get(name), Some(Slot::Idle(_))))
}

/// Runs `f` on model `name` when it is loaded and idle.
pub(crate) fn with_loaded<T>(name: &str, f: impl FnOnce(&Loaded) -> T) -> Option<T> {
    MODELS.with(|models| match models.borrow().get(name) {
        Some(Slot::Idle(loaded)) => Some(f(loaded)),
        _ => None,
    })
}

/// Frees model `name` when idle; true if it was loaded.
pub(crate) fn unload(name: &str) -> bool {
    MODELS.with(|models| {
        let mut models = models.borrow_mut();
        match models.get(name) {
            Some(Slot::Idle(_)) => models.remove(name).is_some(),
            _ => false,
        }
    })
}

/// Adds `generate` and `unload` to `engine` (the `airlockEngine` object).
pub fn install(engine: &Object) {
    let run = Closure::<dyn Fn(String, JsValue, JsValue) -> Promise>::new(
        |name: String, prompt: JsValue, options: JsValue| {
            future_to_promise(generate(name, prompt, options))
        },
    );
    let _ = Reflect::set(engine, &"generate".into(), run.as_ref());
    run.forget();
    let unload = Closure::<dyn Fn(String) -> bool>::new(|name: String| unload(&name));
    let _ = Reflect::set(engine, &"unload".into(), unload.as_ref());
    unload.forget();
}
