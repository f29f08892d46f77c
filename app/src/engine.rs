//! The in-browser inference engine (airlock-inference on WebGPU), exposed to the page as
//! `globalThis.airlockEngine.greedy(modelName, prompt, maxTokens, options?)`: streams a model
//! the appliance serves from its `--models` folder onto the GPU tensor by tensor (the wasm heap
//! holds the header and about one tensor, never the file), runs greedy decoding and resolves
//! with the tokens, the text and timings. The browser e2e suite checks its tokens against the
//! native engine's. `generation.rs` adds `generate` (sampling, stops, streaming, cancellation)
//! over models it keeps loaded.

use airlock_inference::chat::ChatFormat;
use airlock_inference::generate::{Generator, Request, StopReason};
use airlock_inference::gguf::{GgufError, GgufFile};
use airlock_inference::gpu::kernels::MatvecShape;
use airlock_inference::gpu::{GpuModel, GpuOptions};
use airlock_inference::loaded::chat_format;
use airlock_inference::model::load_gguf_layout;
use airlock_inference::sampling::SamplingParams;
use airlock_inference::tokenizer::Tokenizer;
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

use crate::generation::drive;

/// KV cache positions the page engine allocates.
const CONTEXT: usize = 1024;

pub(crate) fn error(message: impl std::fmt::Display) -> JsValue {
    JsValue::from(js_sys::Error::new(&message.to_string()))
}

/// A model download in progress: the response body read chunk by chunk, keeping only the
/// bytes not yet handed on (the header, then at most about one tensor).
struct ModelStream {
    reader: web_sys::ReadableStreamDefaultReader,
    /// File length from Content-Length.
    total: u64,
    /// Bytes from file offset `start` on.
    buffer: Vec<u8>,
    start: u64,
    /// Largest `buffer` seen: the wasm heap cost of loading.
    peak: usize,
}

impl ModelStream {
    async fn open(name: &str) -> Result<Self, JsValue> {
        let window = web_sys::window().ok_or_else(|| error("no window"))?;
        let url = format!(
            "/api/models/file?path={}",
            js_sys::encode_uri_component(name)
        );
        let response: web_sys::Response = JsFuture::from(window.fetch_with_str(&url))
            .await?
            .dyn_into()?;
        if !response.ok() {
            return Err(error(format!(
                "the appliance refused model {name:?}: HTTP {}",
                response.status()
            )));
        }
        let total = response
            .headers()
            .get("content-length")?
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| error("the model download has no length"))?;
        let body = response
            .body()
            .ok_or_else(|| error("the model download has no body"))?;
        let reader = body.get_reader().dyn_into()?;
        Ok(Self {
            reader,
            total,
            buffer: Vec::new(),
            start: 0,
            peak: 0,
        })
    }

    /// Appends the next chunk; false at the end of the stream.
    async fn read(&mut self) -> Result<bool, JsValue> {
        let result = JsFuture::from(self.reader.read()).await?;
        if Reflect::get(&result, &"done".into())?.as_bool() == Some(true) {
            return Ok(false);
        }
        let chunk = Uint8Array::new(&Reflect::get(&result, &"value".into())?);
        self.buffer.extend(chunk.to_vec());
        self.peak = self.peak.max(self.buffer.len());
        Ok(true)
    }

    /// Reads until the GGUF header parses.
    async fn header(&mut self) -> Result<GgufFile, JsValue> {
        loop {
            match GgufFile::parse_header(&self.buffer, self.total) {
                Ok(file) => return Ok(file),
                Err(GgufError::Truncated(_)) if (self.buffer.len() as u64) < self.total => {
                    if !self.read().await? {
                        return Err(error("the model download ended inside the header"));
                    }
                }
                Err(e) => return Err(error(e)),
            }
        }
    }

    /// The bytes `offset..offset + len` of the file; everything before is dropped.
    async fn range(&mut self, offset: u64, len: u64) -> Result<&[u8], JsValue> {
        loop {
            if offset > self.start {
                let drop = ((offset - self.start) as usize).min(self.buffer.len());
                self.buffer.drain(..drop);
                self.start += drop as u64;
            }
            if self.start == offset && self.buffer.len() as u64 >= len {
                return Ok(&self.buffer[..len as usize]);
            }
            if !self.read().await? {
                return Err(error(format!(
                    "the model download ended at byte {} of {}",
                    self.start + self.buffer.len() as u64,
                    self.total
                )));
            }
        }
    }
}

/// A model on the page's GPU with what generating from it needs.
pub(crate) struct Loaded {
    /// The model and its KV cache.
    pub gpu: GpuModel,
    /// Its tokenizer.
    pub tokenizer: Tokenizer,
    /// The chat format its template names, if known.
    pub chat: Option<ChatFormat>,
    /// Largest number of file bytes the page held at once while loading.
    pub peak: usize,
    /// Adapter name and the browser's vendor/architecture.
    pub adapter: String,
}

/// Streams a GGUF model from the appliance straight onto the GPU: the header first (shapes,
/// tokenizer), then each tensor's bytes into its buffers as they arrive.
pub(crate) async fn load(name: &str, options: &JsValue) -> Result<Loaded, JsValue> {
    let mut stream = ModelStream::open(name).await?;
    let file = stream.header().await?;
    let weights = load_gguf_layout(&file).map_err(error)?;
    let tokenizer = Tokenizer::from_gguf(&file).map_err(error)?;
    let chat = chat_format(&file);
    let architecture = adapter_architecture().await;
    let gpu_options = GpuOptions {
        matvec_shape: Some(shape_for(&architecture, options)),
        ..GpuOptions::default()
    };
    let mut gpu = GpuModel::new(&weights, CONTEXT, gpu_options)
        .await
        .map_err(error)?;
    drop(weights);
    let mut tensors = file.tensors.clone();
    tensors.sort_by_key(|t| t.file_offset);
    for tensor in &tensors {
        let bytes = stream.range(tensor.file_offset, tensor.byte_len).await?;
        gpu.write_tensor(&tensor.name, tensor.ggml_type, bytes)
            .map_err(error)?;
    }
    let missing = gpu.missing_tensors();
    if !missing.is_empty() {
        return Err(error(format!(
            "the model file lacks {}",
            missing.join(", ")
        )));
    }
    let adapter = format!("{} {architecture}", gpu.adapter());
    Ok(Loaded {
        gpu,
        tokenizer,
        chat,
        peak: stream.peak,
        adapter,
    })
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

/// The browser's own description of its WebGPU adapter (`vendor/architecture`, e.g.
/// `google/swiftshader`), which wgpu does not pass through.
async fn adapter_architecture() -> String {
    let lookup = async {
        let gpu = Reflect::get(&js_sys::global(), &"navigator".into())
            .ok()
            .and_then(|n| Reflect::get(&n, &"gpu".into()).ok())?;
        let request: js_sys::Function = Reflect::get(&gpu, &"requestAdapter".into())
            .ok()?
            .dyn_into()
            .ok()?;
        let promise: Promise = request.call0(&gpu).ok()?.dyn_into().ok()?;
        let adapter = JsFuture::from(promise).await.ok()?;
        let info = Reflect::get(&adapter, &"info".into()).ok()?;
        let field = |key: &str| {
            Reflect::get(&info, &key.into())
                .ok()
                .and_then(|v| v.as_string())
                .unwrap_or_default()
        };
        Some(format!("{}/{}", field("vendor"), field("architecture")))
    };
    lookup.await.unwrap_or_default()
}

/// Thread-per-row kernels on software adapters (SwiftShader), workgroup-per-row elsewhere;
/// `options.shape` ("thread" | "workgroup") overrides for measurements.
fn shape_for(architecture: &str, options: &JsValue) -> MatvecShape {
    let requested = Reflect::get(options, &"shape".into())
        .ok()
        .and_then(|v| v.as_string());
    match requested.as_deref() {
        Some("thread") => MatvecShape::Thread,
        Some("workgroup") => MatvecShape::Workgroup,
        _ if architecture.contains("swiftshader") => MatvecShape::Thread,
        _ => MatvecShape::Workgroup,
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
        mut gpu,
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
    };
    let mut generator = Generator::new(&request, gpu.capacity()).map_err(error)?;
    let (_, timing) = drive(&mut gpu, &tokenizer, &mut generator, || false, &mut |_| {}).await?;
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
    set("shape", format!("{:?}", gpu.matvec_shape()).into())?;
    set("kvCache", format!("{:?}", gpu.kv_precision()).into())?;
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
    crate::generation::install(&engine);
    let _ = Reflect::set(&js_sys::global(), &"airlockEngine".into(), &engine);
}
