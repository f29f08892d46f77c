//! The in-browser inference engine (airlock-inference on WebGPU), exposed to the page as
//! `globalThis.airlockEngine.greedy(modelName, prompt, maxTokens, options?)`: loads a model the
//! appliance serves from its `--models` folder, runs greedy decoding on the GPU and resolves
//! with the tokens, the text and timings. The browser e2e suite checks its tokens against the
//! native engine's.

use airlock_inference::gpu::kernels::MatvecShape;
use airlock_inference::gpu::{GpuModel, GpuOptions};
use airlock_inference::loaded::LoadedModel;
use airlock_inference::sampling::argmax;
use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::{JsFuture, future_to_promise};

/// KV cache positions the page engine allocates.
const CONTEXT: usize = 1024;

fn error(message: impl std::fmt::Display) -> JsValue {
    JsValue::from(js_sys::Error::new(&message.to_string()))
}

/// Downloads a model file from the appliance (same origin, session cookie).
async fn fetch_model(name: &str) -> Result<Vec<u8>, JsValue> {
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
    let buffer = JsFuture::from(response.array_buffer()?).await?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// Prompt token ids: a string is tokenized (special tokens parsed), an array is taken as ids.
fn prompt_ids(loaded: &LoadedModel, prompt: &JsValue) -> Result<Vec<u32>, JsValue> {
    if let Some(text) = prompt.as_string() {
        let mut ids = Vec::new();
        if loaded.tokenizer.add_bos
            && let Some(bos) = loaded.tokenizer.bos
        {
            ids.push(bos);
        }
        ids.extend(loaded.tokenizer.encode_with_special(&text));
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
    let bytes = fetch_model(&name).await?;
    let fetched = js_sys::Date::now();
    let loaded = LoadedModel::from_gguf_bytes(bytes).map_err(error)?;
    let ids = prompt_ids(&loaded, &prompt)?;
    let architecture = adapter_architecture().await;
    let gpu_options = GpuOptions {
        matvec_shape: Some(shape_for(&architecture, &options)),
        ..GpuOptions::default()
    };
    let mut gpu = GpuModel::new(&loaded.weights, CONTEXT, gpu_options)
        .await
        .map_err(error)?;
    let adapter = format!("{} {architecture}", gpu.adapter());
    let tokenizer = loaded.tokenizer;
    drop(loaded.weights);
    let uploaded = js_sys::Date::now();
    let mut logits = gpu.forward_async(&ids, 0).await.map_err(error)?;
    let prefilled = js_sys::Date::now();
    let mut tokens = Vec::new();
    while tokens.len() < max_tokens as usize {
        let token = argmax(&logits);
        tokens.push(token);
        if tokens.len() == max_tokens as usize {
            break;
        }
        logits = gpu
            .forward_async(&[token], ids.len() + tokens.len() - 1)
            .await
            .map_err(error)?;
    }
    let decoded = js_sys::Date::now();
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
    set("fetchMs", (fetched - started).into())?;
    set("loadMs", (uploaded - fetched).into())?;
    set("prefillMs", (prefilled - uploaded).into())?;
    set("decodeMs", (decoded - prefilled).into())?;
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
    let _ = Reflect::set(&js_sys::global(), &"airlockEngine".into(), &engine);
}
