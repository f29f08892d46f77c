//! The in-browser inference engine (airlock-inference on WebGPU or on the CPU), exposed to the
//! page as `globalThis.airlockEngine.greedy(modelName, prompt, maxTokens, options?)`: picks
//! the engine (the user's setting, or a timed probe of the model's shape, `probe.rs`), then
//! streams a model the appliance serves from its `--models` folder onto the GPU tensor by
//! tensor (the wasm heap holds the header and about one tensor, never the file) or, for the
//! CPU engine, into the page's memory; runs greedy decoding and resolves with the tokens, the
//! text, timings and the engine with its reason. The browser e2e suite checks its tokens against the
//! native engine's. `generation.rs` adds `generate` (sampling, stops, streaming, cancellation)
//! over models it keeps loaded.

pub mod cache;
pub mod probe;
pub mod runner;
pub mod stream;
pub mod worker;

use std::cell::Cell;
use std::rc::Rc;

use airlock_inference::cache_record::CacheRecord;
use airlock_inference::chat::ChatTemplate;
use airlock_inference::file_image::FileImage;
use airlock_inference::fim::FimFormat;
use airlock_inference::generate::{Generator, Request, StopReason};
use airlock_inference::gpu::kernels::MatvecShape;
use airlock_inference::gpu::{GpuModel, GpuOptions};
use airlock_inference::loaded::chat_template;
use airlock_inference::model::cpu::Products;
use airlock_inference::model::{CpuModel, load_gguf, load_gguf_layout};
use airlock_inference::sampling::SamplingParams;
use airlock_inference::tokenizer::Tokenizer;
use airlock_protocol::models::{ModelHealth, ModelList, ModelSummary};
use airlock_protocol::routes;
use js_sys::{Array, Object, Promise, Reflect};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::generation::drive;
use crate::model::engine_choice::{
    Decision, EngineKind, Preference, decide, fit_in_page, needs_probe,
};
use crate::model::engine_worker::{Placement, placement};
use runner::Runner;
use stream::{ModelStream, OnProgress};
use worker::EngineWorker;

/// Most KV cache positions the page engine allocates for one model: room for an agent's tool
/// declarations and a few steps, or a chat with an open file (a model trained on fewer gets
/// its own length, see [`context_for`]).
pub(crate) const CONTEXT: usize = 4096;

/// KV cache positions for a model trained on `trained` positions.
pub(crate) fn context_for(trained: usize) -> usize {
    CONTEXT.min(trained.max(1))
}

/// Why a loaded model was not kept in the browser's cache, in plain words.
fn cache_failure(raw: &str) -> String {
    match crate::model::errors::classify(raw) {
        crate::model::errors::Failure::Quota => format!(
            "not kept for next time: the browser's storage for this site is full (clear the model cache or free disk space; {raw})"
        ),
        _ => format!("not kept in the browser's cache: {raw}"),
    }
}

/// A JavaScript error carrying `message`.
pub(crate) fn error(message: impl std::fmt::Display) -> JsValue {
    JsValue::from(js_sys::Error::new(&message.to_string()))
}

/// What a load is told besides the model's name.
#[derive(Clone, Default)]
pub(crate) struct LoadOptions {
    /// The kernel shape, when forced (`options.shape`).
    pub shape: Option<MatvecShape>,
    /// Called as bytes arrive and tensors land.
    pub on_progress: Option<OnProgress>,
    /// Set to stop the load.
    pub cancel: Option<Rc<Cell<bool>>>,
    /// The engine asked for (`options.engine`); `None`: the Models panel's setting.
    pub engine: Option<Preference>,
    /// The CPU engine's threads (`options.threads`; 0: the page's own thread); `None`: every
    /// core, up to a cap.
    pub threads: Option<usize>,
}

/// Where the Models panel keeps the engine setting.
const ENGINE_SETTING: &str = "airlock.engine";

/// The engine setting the Models panel saved (automatic when none).
pub(crate) fn saved_preference() -> Preference {
    web_sys::window()
        .and_then(|w| w.local_storage().ok().flatten())
        .and_then(|s| s.get_item(ENGINE_SETTING).ok().flatten())
        .and_then(|v| Preference::parse(&v).ok())
        .unwrap_or_default()
}

/// Saves the Models panel's engine setting for the next loads.
pub(crate) fn save_preference(preference: Preference) {
    if let Some(s) = web_sys::window().and_then(|w| w.local_storage().ok().flatten()) {
        let _ = s.set_item(ENGINE_SETTING, preference.name());
    }
}

impl LoadOptions {
    /// From a JS options object (`shape`: "thread" | "workgroup"; `engine`: "auto" | "gpu" |
    /// "cpu"; `threads`: a whole number, 0 for the page's own thread).
    pub fn from_js(options: &JsValue) -> Result<Self, JsValue> {
        let text = |key: &str| {
            Reflect::get(options, &key.into())
                .ok()
                .and_then(|v| v.as_string())
        };
        let shape = text("shape").and_then(|s| match s.as_str() {
            "thread" => Some(MatvecShape::Thread),
            "workgroup" => Some(MatvecShape::Workgroup),
            _ => None,
        });
        let engine = text("engine")
            .map(|e| Preference::parse(&e))
            .transpose()
            .map_err(error)?;
        let threads = match Reflect::get(options, &"threads".into()) {
            Ok(v) if v.is_undefined() || v.is_null() => None,
            Ok(v) => Some(
                v.as_f64()
                    .filter(|n| n.fract() == 0.0 && (0.0..=256.0).contains(n))
                    .map(|n| n as usize)
                    .ok_or_else(|| error("options.threads is a whole number from 0 to 256"))?,
            ),
            Err(_) => None,
        };
        Ok(Self {
            shape,
            engine,
            threads,
            ..Self::default()
        })
    }
}

/// A model on one of the page's engines with what generating from it needs.
pub(crate) struct Loaded {
    /// The model and its KV cache.
    pub runner: Runner,
    /// The tokens that cache holds, for the next prompt to reuse.
    pub held: CacheRecord,
    /// Which engine and why.
    pub decision: Decision,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// Its chat template (or the documented fallback).
    pub chat: ChatTemplate,
    /// Its fill-in-the-middle format, if its vocabulary has one.
    pub fim: Option<FimFormat>,
    /// Largest number of file bytes the page held at once while loading.
    pub peak: usize,
    /// Adapter name and the browser's vendor/architecture.
    pub adapter: String,
    /// Whether the bytes came from the browser's cache.
    pub from_cache: bool,
    /// Why the model was not kept in the browser's cache, if it was not.
    pub cache_note: Option<String>,
}

/// Why a load from one source failed.
enum Failure {
    /// The bytes did not hash to the manifest's SHA-256.
    Mismatch,
    /// Anything else, said in plain words.
    Other(JsValue),
}

impl From<JsValue> for Failure {
    fn from(e: JsValue) -> Self {
        Failure::Other(e)
    }
}

/// The store's record of `name`, if the appliance lists it.
pub(crate) async fn lookup(name: &str) -> Option<ModelSummary> {
    let list: ModelList = crate::api::get_typed(routes::MODELS).await.ok()?;
    list.models.into_iter().find(|m| m.record.name == name)
}

/// Loads model `name` (JS options object: `shape`).
pub(crate) async fn load(name: &str, options: &JsValue) -> Result<Loaded, JsValue> {
    load_with(name, &LoadOptions::from_js(options)?).await
}

/// Loads model `name`: from the browser's cache when it holds bytes with the manifest's
/// SHA-256, else from the appliance (keeping a copy in the cache on the way). Bytes that do
/// not hash to the manifest's SHA-256 are never used: a bad cache entry is dropped and the
/// model fetched again; a bad download is an error.
pub(crate) async fn load_with(name: &str, options: &LoadOptions) -> Result<Loaded, JsValue> {
    let summary = lookup(name).await;
    if let Some(summary) = &summary
        && let ModelHealth::Damaged { reason } = &summary.health
    {
        return Err(error(format!(
            "the appliance refused model {name:?}: it is damaged ({reason})"
        )));
    }
    let sha = summary.as_ref().map(|s| s.record.sha256.clone());
    if let Some(sha) = &sha
        && let Some(cached) = cache::find(sha).await
    {
        let total = summary.as_ref().map_or(0, |s| s.record.bytes);
        match load_from(&cached, total, Some(sha), true, options).await {
            Ok(loaded) => return Ok(loaded),
            Err(Failure::Mismatch) => cache::drop_entry(sha).await,
            Err(Failure::Other(e)) => return Err(e),
        }
    }
    let window = web_sys::window().ok_or_else(|| error("no window"))?;
    let url = format!(
        "{}?path={}",
        routes::MODEL_FILE,
        js_sys::encode_uri_component(name)
    );
    let response: web_sys::Response = JsFuture::from(window.fetch_with_str(&url))
        .await?
        .dyn_into()?;
    if !response.ok() {
        let status = response.status();
        let text = JsFuture::from(response.text()?)
            .await?
            .as_string()
            .unwrap_or_default();
        let message = serde_json::from_str::<crate::api::ErrorBody>(&text)
            .map(|b| format!(" — {}", b.message))
            .unwrap_or_default();
        return Err(error(format!(
            "the appliance refused model {name:?}: HTTP {status}{message}"
        )));
    }
    let total = response
        .headers()
        .get("content-length")?
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| error("the model download has no length"))?;
    // Keep a copy in the cache while reading: the body is split in two streams.
    let (response, stored) = match (&sha, response.body()) {
        (Some(sha), Some(body)) => {
            let branches = body.tee();
            let reading: web_sys::ReadableStream = branches.get(0).dyn_into()?;
            let keeping: web_sys::ReadableStream = branches.get(1).dyn_into()?;
            let stored = cache::store(sha, &keeping).await;
            let response = web_sys::Response::new_with_opt_readable_stream(Some(&reading))?;
            (response, Some(stored))
        }
        _ => (response, None),
    };
    let result = load_from(&response, total, sha.as_deref(), false, options).await;
    let mut loaded = match result {
        Ok(loaded) => loaded,
        Err(failure) => {
            // The cache's half of the stream fails too; its write is abandoned.
            if let Some(Ok(promise)) = &stored {
                let ignore = Closure::<dyn FnMut(JsValue)>::new(|_: JsValue| {});
                let _ = promise.catch(&ignore);
                ignore.forget();
            }
            if let Some(sha) = &sha {
                cache::drop_entry(sha).await;
            }
            let damaged = match lookup(name).await.map(|s| s.health) {
                Some(ModelHealth::Damaged { reason }) => Some(reason),
                _ => None,
            };
            return Err(match (failure, damaged) {
                (_, Some(reason)) => error(format!(
                    "model {name:?} is damaged and was not used: {reason}"
                )),
                (Failure::Mismatch, None) => error(format!(
                    "the bytes of model {name:?} do not match its SHA-256; it was not used"
                )),
                (Failure::Other(e), None) => e,
            });
        }
    };
    loaded.cache_note = match stored {
        Some(Ok(promise)) => match JsFuture::from(promise).await {
            Ok(_) => None,
            Err(e) => Some(cache_failure(&crate::api::js_error_text(&e))),
        },
        Some(Err(e)) => Some(cache_failure(&crate::api::js_error_text(&e))),
        None => Some("not kept in the browser's cache: the appliance does not list it".into()),
    };
    if loaded.cache_note.is_some()
        && let Some(sha) = &sha
    {
        cache::drop_entry(sha).await;
    }
    Ok(loaded)
}

/// Streams a GGUF model from `response` straight onto the GPU: the header first (shapes,
/// tokenizer), then each tensor's bytes into its buffers as they arrive; then the hash.
async fn load_from(
    response: &web_sys::Response,
    total: u64,
    sha256: Option<&str>,
    from_cache: bool,
    options: &LoadOptions,
) -> Result<Loaded, Failure> {
    let mut stream = ModelStream::new(
        response,
        total,
        from_cache,
        options.on_progress.clone(),
        options.cancel.clone(),
    )?;
    let file = stream.header().await?;
    let weights = load_gguf_layout(&file).map_err(error)?;
    let context = context_for(weights.config.context);
    let tokenizer = Tokenizer::from_gguf(&file).map_err(error)?;
    let chat = chat_template(&file, &tokenizer).map_err(error)?;
    let fim = FimFormat::detect(&tokenizer);
    let architecture = adapter_architecture().await;
    let gpu_options = GpuOptions {
        matvec_shape: Some(options.shape.unwrap_or_else(|| shape_for(&architecture))),
        ..GpuOptions::default()
    };
    let page_memory = airlock_inference::fit::Limits::wasm_cpu()
        .memory
        .unwrap_or(u64::MAX);
    let decision = fit_in_page(
        choose(&weights, options, &architecture, &gpu_options).await,
        total,
        page_memory,
        !architecture.is_empty(),
    )
    .map_err(error)?;
    let (runner, adapter, peak) = match decision.engine {
        EngineKind::Cpu => {
            drop(weights);
            // The worker starts before the file is read whole: one that cannot start leaves
            // the bytes with the page's own engine.
            let script = worker::script();
            let started = match placement(options.threads, worker::cores(), script.is_some()) {
                Placement::Worker(threads) => {
                    EngineWorker::start(script.as_deref().unwrap_or_default(), threads).await
                }
                Placement::Page => Err(String::new()),
            };
            let (bytes, hash) = stream.whole(file.tensors.len()).await?;
            if sha256.is_some_and(|expected| expected != hash) {
                return Err(Failure::Mismatch);
            }
            let held = bytes.len();
            match started {
                Ok(mut engine) => {
                    engine.load(bytes, context).await.map_err(|e| {
                        error(format!("the CPU engine could not load the model: {e}"))
                    })?;
                    let runner = Runner::Worker(engine);
                    let place = runner.cpu_place().unwrap_or_default();
                    let adapter = format!("CPU (int8 WebAssembly SIMD, {place})");
                    (runner, adapter, held)
                }
                Err(why) => {
                    let image = FileImage::from_vec(bytes);
                    let weights = load_gguf(&image, &file).map_err(error)?;
                    let cpu = CpuModel::with_products(weights, context, Products::Int8);
                    let adapter = if why.is_empty() {
                        "CPU (int8 WebAssembly SIMD, on the page's thread)".to_owned()
                    } else {
                        format!(
                            "CPU (int8 WebAssembly SIMD, on the page's thread: the engine worker did not start — {why})"
                        )
                    };
                    (Runner::Cpu(cpu), adapter, held)
                }
            }
        }
        EngineKind::Gpu => {
            let gpu = place_on_gpu(&mut stream, &weights, &file, context, gpu_options).await?;
            drop(weights);
            let (hash, peak) = stream.finish().await?;
            if sha256.is_some_and(|expected| expected != hash) {
                return Err(Failure::Mismatch);
            }
            let adapter = format!("{} {architecture}", gpu.adapter());
            (Runner::Gpu(gpu), adapter, peak)
        }
    };
    Ok(Loaded {
        runner,
        held: CacheRecord::default(),
        decision,
        tokenizer,
        chat,
        fim,
        peak,
        adapter,
        from_cache,
        cache_note: None,
    })
}

/// The engine for this load: the user's choice, or the faster one on a probe of the model's
/// shape (a probe that fails leaves WebGPU untried: the CPU).
async fn choose(
    layout: &airlock_inference::model::Weights,
    options: &LoadOptions,
    architecture: &str,
    gpu_options: &GpuOptions,
) -> Decision {
    let preference = options.engine.unwrap_or_else(saved_preference);
    let adapter = request_adapter().await.map(|_| architecture.to_owned());
    if !needs_probe(preference, adapter.is_some()) {
        return decide(preference, adapter.as_deref(), None);
    }
    let label = adapter.clone().unwrap_or_default();
    match probe::measure(layout, &label, gpu_options.clone()).await {
        Ok(measured) => decide(preference, adapter.as_deref(), Some(measured)),
        Err(e) => Decision {
            engine: EngineKind::Cpu,
            reason: format!(
                "WebGPU failed its probe ({})",
                crate::api::js_error_text(&e)
            ),
        },
    }
}

/// Streams each tensor's bytes onto the GPU as they arrive.
async fn place_on_gpu(
    stream: &mut ModelStream,
    weights: &airlock_inference::model::Weights,
    file: &airlock_inference::gguf::GgufFile,
    context: usize,
    gpu_options: GpuOptions,
) -> Result<GpuModel, Failure> {
    let mut gpu = GpuModel::new(weights, context, gpu_options)
        .await
        .map_err(|e| error(format!("the model could not be placed on the GPU: {e}")))?;
    let mut tensors = file.tensors.clone();
    tensors.sort_by_key(|t| t.file_offset);
    for tensor in &tensors {
        let bytes = stream.range(tensor.file_offset, tensor.byte_len).await?;
        gpu.write_tensor(&tensor.name, tensor.ggml_type, bytes)
            .map_err(error)?;
        stream.tensor_placed(tensors.len());
    }
    let missing = gpu.missing_tensors();
    if !missing.is_empty() {
        return Err(error(format!("the model file lacks {}", missing.join(", "))).into());
    }
    Ok(gpu)
}

/// Prompt token ids: a string is tokenized (special tokens parsed), an array is taken as ids.
pub(crate) fn prompt_ids(tokenizer: &Tokenizer, prompt: &JsValue) -> Result<Vec<u32>, JsValue> {
    if let Some(text) = prompt.as_string() {
        let mut ids = Vec::new();
        if tokenizer.add_bos
            && let Some(bos) = tokenizer.bos
        {
            ids.push(bos);
        }
        ids.extend(tokenizer.encode_with_special(&text).map_err(error)?);
        return Ok(ids);
    }
    let array: Array = prompt
        .clone()
        .dyn_into()
        .map_err(|_| error("the prompt is a string or an array of token ids"))?;
    array
        .iter()
        .map(|v| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f < f64::from(u32::MAX))
                .map(|f| f as u32)
                .ok_or_else(|| error("token ids are non-negative integers"))
        })
        .collect()
}

/// The browser's WebGPU adapter (`navigator.gpu.requestAdapter()`), if it offers one.
pub(crate) async fn request_adapter() -> Option<JsValue> {
    let gpu = Reflect::get(&js_sys::global(), &"navigator".into())
        .ok()
        .and_then(|n| Reflect::get(&n, &"gpu".into()).ok())?;
    let request: js_sys::Function = Reflect::get(&gpu, &"requestAdapter".into())
        .ok()?
        .dyn_into()
        .ok()?;
    let promise: Promise = request.call0(&gpu).ok()?.dyn_into().ok()?;
    let adapter = JsFuture::from(promise).await.ok()?;
    (!adapter.is_null() && !adapter.is_undefined()).then_some(adapter)
}

/// `vendor/architecture` from an adapter's `info` (e.g. `google/swiftshader`), which wgpu does
/// not pass through.
pub(crate) fn describe_adapter(adapter: &JsValue) -> String {
    let info = Reflect::get(adapter, &"info".into()).unwrap_or(JsValue::UNDEFINED);
    let field = |key: &str| {
        Reflect::get(&info, &key.into())
            .ok()
            .and_then(|v| v.as_string())
            .unwrap_or_default()
    };
    format!("{}/{}", field("vendor"), field("architecture"))
}

/// The browser's own description of its WebGPU adapter.
async fn adapter_architecture() -> String {
    request_adapter()
        .await
        .map(|a| describe_adapter(&a))
        .unwrap_or_default()
}

/// Thread-per-row kernels on software adapters (SwiftShader), workgroup-per-row elsewhere
/// (`options.shape`, "thread" | "workgroup", overrides for measurements).
fn shape_for(architecture: &str) -> MatvecShape {
    if architecture.contains("swiftshader") {
        MatvecShape::Thread
    } else {
        MatvecShape::Workgroup
    }
}

async fn greedy(
    name: String,
    prompt: JsValue,
    max_tokens: u32,
    options: JsValue,
) -> Result<JsValue, JsValue> {
    let started = js_sys::Date::now();
    let Loaded {
        mut runner,
        decision,
        tokenizer,
        peak,
        adapter,
        ..
    } = load(&name, &options).await?;
    let uploaded = js_sys::Date::now();
    let request = Request {
        prompt: prompt_ids(&tokenizer, &prompt)?,
        max_tokens: max_tokens as usize,
        sampling: SamplingParams::default(),
        stop_tokens: Vec::new(),
        stop_strings: Vec::new(),
        tools: None,
    };
    let mut generator = Generator::new(&request, runner.capacity()).map_err(error)?;
    let (_, timing) = drive(
        &mut runner,
        &mut CacheRecord::default(),
        &tokenizer,
        &mut generator,
        || false,
        &mut |_| {},
    )
    .await?;
    let tokens = generator
        .finish(StopReason::MaxTokens, &mut |_| {}, 0.0, 0.0)
        .tokens;
    let ids = &request.prompt;
    let result = Object::new();
    let set = |key: &str, value: JsValue| Reflect::set(&result, &key.into(), &value).map(|_| ());
    set(
        "tokens",
        tokens
            .iter()
            .map(|t| JsValue::from(*t))
            .collect::<Array>()
            .into(),
    )?;
    set("text", tokenizer.decode(&tokens).into())?;
    set("promptTokens", JsValue::from(ids.len() as u32))?;
    set("adapter", adapter.into())?;
    runner.report(&decision.reason, &result)?;
    set("loadMs", (uploaded - started).into())?;
    set("peakBufferedBytes", JsValue::from(peak as f64))?;
    set("prefillMs", timing.prefill_ms.into())?;
    set("decodeMs", timing.decode_ms.into())?;
    Ok(result.into())
}

/// Puts `airlockEngine` on the global object.
pub fn install() {
    let run = Closure::<dyn Fn(String, JsValue, u32, JsValue) -> Promise>::new(
        |name: String, prompt: JsValue, max_tokens: u32, options: JsValue| {
            future_to_promise(greedy(name, prompt, max_tokens, options))
        },
    );
    let engine = Object::new();
    let _ = Reflect::set(&engine, &"greedy".into(), run.as_ref());
    run.forget();
    // The CPU engine's WebAssembly SIMD kernels against the portable loop (they only run in
    // a page, so the browser suite checks them here).
    let self_test = Closure::<dyn Fn() -> Result<String, JsValue>>::new(|| {
        airlock_inference::model::kernels::self_test::run().map_err(error)
    });
    let _ = Reflect::set(&engine, &"kernelSelfTest".into(), self_test.as_ref());
    self_test.forget();
    // The same check in the engine worker's own (threaded) build, and that its threads start.
    let worker_test = Closure::<dyn Fn(u32) -> Promise>::new(|threads: u32| {
        future_to_promise(async move {
            let script =
                worker::script().ok_or_else(|| error("this page cannot run the engine worker"))?;
            let mut engine = EngineWorker::start(&script, threads as usize)
                .await
                .map_err(error)?;
            let text = engine.self_test().await.map_err(error)?;
            Ok(format!("{text} (engine worker, {} threads)", engine.threads()).into())
        })
    });
    let _ = Reflect::set(&engine, &"workerSelfTest".into(), worker_test.as_ref());
    worker_test.forget();
    crate::generation::install(&engine);
    let _ = Reflect::set(&js_sys::global(), &"airlockEngine".into(), &engine);
}
