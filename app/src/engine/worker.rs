//! The page's side of the CPU engine worker (`inference/worker`, `static/engine-worker.js`):
//! starts it with its pool threads, hands it the model file, and runs forward passes as
//! request/reply messages — the CPU work happens on the worker's threads, never on the page's.

use airlock_inference::generate::Output;
use airlock_inference::sampling::Want;
use js_sys::{Array, Float32Array, Object, Promise, Reflect, Uint8Array, Uint32Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use crate::model::engine_worker::Reply;

/// The engine worker (terminated, its memory with it, when dropped).
pub(crate) struct EngineWorker {
    worker: web_sys::Worker,
    threads: usize,
    capacity: usize,
}

/// The worker script's address, when this build has one and this page can share memory
/// with a worker (cross-origin isolated, `SharedArrayBuffer` present).
pub(crate) fn script() -> Option<String> {
    let global = js_sys::global();
    let isolated = Reflect::get(&global, &"crossOriginIsolated".into())
        .ok()?
        .as_bool()?;
    let shared = Reflect::has(&global, &"SharedArrayBuffer".into()).ok()?;
    if !isolated || !shared {
        return None;
    }
    let document = web_sys::window()?.document()?;
    let meta = document
        .query_selector("meta[name=airlock-engine-worker]")
        .ok()??;
    meta.get_attribute("content").filter(|url| !url.is_empty())
}

/// The browser's count of logical cores.
pub(crate) fn cores() -> usize {
    web_sys::window().map_or(1, |w| w.navigator().hardware_concurrency() as usize)
}

fn text(e: JsValue) -> String {
    crate::api::js_error_text(&e)
}

fn set(object: &Object, key: &str, value: impl Into<JsValue>) {
    let _ = Reflect::set(object, &key.into(), &value.into());
}

fn unexpected(reply: &Reply) -> String {
    format!("the engine worker answered out of turn: {reply:?}")
}

impl EngineWorker {
    /// Starts the worker with `threads` pool threads; resolves once all have started.
    pub async fn start(script: &str, threads: usize) -> Result<Self, String> {
        let options = web_sys::WorkerOptions::new();
        options.set_type(web_sys::WorkerType::Module);
        options.set_name("airlock-engine");
        let worker = web_sys::Worker::new_with_options(script, &options).map_err(text)?;
        let mut this = Self {
            worker,
            threads,
            capacity: 0,
        };
        let message = Object::new();
        set(&message, "op", "start");
        set(&message, "threads", threads as u32);
        match this.call(&message, &Array::new()).await? {
            (Reply::Started { threads }, _) => {
                this.threads = threads;
                Ok(this)
            }
            (other, _) => Err(unexpected(&other)),
        }
    }

    /// Hands the worker a whole GGUF file (moved, not copied, once in a JS buffer) and readies
    /// a KV cache of `context` positions.
    pub async fn load(&mut self, bytes: Vec<u8>, context: usize) -> Result<(), String> {
        let buffer = Uint8Array::new_with_length(bytes.len() as u32);
        buffer.copy_from(&bytes);
        drop(bytes);
        let message = Object::new();
        set(&message, "op", "load");
        set(&message, "bytes", buffer.buffer());
        set(&message, "context", context as u32);
        let transfer = Array::of1(&buffer.buffer());
        match self.call(&message, &transfer).await? {
            (Reply::Loaded { threads, capacity }, _) => {
                self.threads = threads;
                self.capacity = capacity;
                Ok(())
            }
            (other, _) => Err(unexpected(&other)),
        }
    }

    /// Pool threads.
    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Positions the KV cache holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Runs `tokens` at positions `start..`; returns what `want` asks for (nothing for
    /// `None`: a prompt's earlier batches).
    pub async fn run(
        &mut self,
        want: Option<Want>,
        tokens: &[u32],
        start: usize,
    ) -> Result<Option<Output>, String> {
        let message = Object::new();
        set(&message, "op", "forward");
        let want_name = match want {
            None => "none",
            Some(Want::Argmax) => "argmax",
            Some(Want::Logits) => "logits",
        };
        set(&message, "want", want_name);
        set(&message, "tokens", Uint32Array::from(tokens));
        set(&message, "start", start as u32);
        match (want, self.call(&message, &Array::new()).await?) {
            (None, (Reply::Done, _)) => Ok(None),
            (Some(Want::Argmax), (Reply::Token { token }, _)) => Ok(Some(Output::Argmax(token))),
            (Some(Want::Logits), (Reply::Logits, data)) => {
                let logits: Float32Array = Reflect::get(&data, &"logits".into())
                    .map_err(text)?
                    .dyn_into()
                    .map_err(|_| "the engine worker's logits are not a Float32Array".to_owned())?;
                Ok(Some(Output::Logits(logits.to_vec())))
            }
            (_, (other, _)) => Err(unexpected(&other)),
        }
    }

    /// The worker's own SIMD kernels against the portable loop.
    pub async fn self_test(&mut self) -> Result<String, String> {
        let message = Object::new();
        set(&message, "op", "selfTest");
        match self.call(&message, &Array::new()).await? {
            (Reply::SelfTest { text }, _) => Ok(text),
            (other, _) => Err(unexpected(&other)),
        }
    }

    /// Posts `message` and waits for the worker's reply (its typed header, and the whole
    /// reply for any payload); a failure the worker reports, or the worker dying, is an error.
    async fn call(
        &mut self,
        message: &Object,
        transfer: &Array,
    ) -> Result<(Reply, JsValue), String> {
        let worker = self.worker.clone();
        let reply = Promise::new(&mut |resolve, reject| {
            let on_message = Closure::once_into_js(move |event: web_sys::MessageEvent| {
                let _ = resolve.call1(&JsValue::NULL, &event.data());
            });
            let on_error = Closure::once_into_js(move |event: web_sys::Event| {
                let why = event
                    .dyn_ref::<web_sys::ErrorEvent>()
                    .map(|e| e.message())
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| "its script did not load".into());
                let _ = reject.call1(&JsValue::NULL, &why.into());
            });
            worker.set_onmessage(Some(on_message.unchecked_ref()));
            worker.set_onerror(Some(on_error.unchecked_ref()));
        });
        self.worker
            .post_message_with_transfer(message, transfer)
            .map_err(text)?;
        let data = JsFuture::from(reply)
            .await
            .map_err(|e| format!("the engine worker failed: {}", text(e)))?;
        let header = Reflect::get(&data, &"header".into())
            .ok()
            .and_then(|h| h.as_string())
            .unwrap_or_default();
        match Reply::parse(&header) {
            Reply::Failed { message } => Err(message),
            reply => Ok((reply, data)),
        }
    }
}

impl Drop for EngineWorker {
    fn drop(&mut self) {
        self.worker.set_onmessage(None);
        self.worker.set_onerror(None);
        self.worker.terminate();
    }
}
