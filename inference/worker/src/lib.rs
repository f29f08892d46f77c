//! The browser's CPU engine in a dedicated Web Worker, built with wasm threads: the model's
//! products split their rows over a pool of workers that share this module's memory
//! (`pool.rs`), and the page's own thread never blocks on them. `static/engine-worker.js`
//! starts it and carries the page's requests; `app/src/engine/worker.rs` is the page's side.

mod pool;

use airlock_inference::file_image::FileImage;
use airlock_inference::generate::Forward;
use airlock_inference::gguf::GgufFile;
use airlock_inference::model::cpu::Products;
use airlock_inference::model::{CpuModel, load_gguf};
use wasm_bindgen::prelude::*;

pub use pool::{Pool, run_pool_thread};

/// A model on the CPU engine with its KV cache and the pool its products run on.
#[wasm_bindgen]
pub struct Engine {
    model: CpuModel,
    pool: rayon::ThreadPool,
}

#[wasm_bindgen]
impl Engine {
    /// Reads a whole GGUF file and readies it for `context` positions on `pool`'s threads.
    #[wasm_bindgen(constructor)]
    pub fn new(pool: Pool, bytes: Vec<u8>, context: usize) -> Result<Engine, JsError> {
        let file = GgufFile::parse(&bytes).map_err(|e| JsError::new(&e.to_string()))?;
        let image = FileImage::from_vec(bytes);
        let weights = load_gguf(&image, &file).map_err(|e| JsError::new(&e.to_string()))?;
        let model = CpuModel::with_products(weights, context, Products::Int8);
        Ok(Engine {
            model,
            pool: pool.into_inner(),
        })
    }

    /// Threads the products run on.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Positions the KV cache holds.
    pub fn capacity(&self) -> usize {
        self.model.capacity()
    }

    /// Runs `tokens` at positions `start..` into the KV cache (a prompt's earlier batches).
    pub fn prefill(&mut self, tokens: &[u32], start: usize) -> Result<(), JsError> {
        let model = &mut self.model;
        self.pool
            .install(|| model.forward(tokens, start).map(drop))
            .map_err(|e| JsError::new(&e.to_string()))
    }

    /// Runs `tokens` and returns the most likely next token.
    pub fn argmax(&mut self, tokens: &[u32], start: usize) -> Result<u32, JsError> {
        let model = &mut self.model;
        self.pool
            .install(|| model.forward_greedy(tokens, start))
            .map_err(|e| JsError::new(&e.to_string()))
    }

    /// Runs `tokens` and returns every next-token logit.
    pub fn logits(&mut self, tokens: &[u32], start: usize) -> Result<Vec<f32>, JsError> {
        let model = &mut self.model;
        self.pool
            .install(|| Forward::forward(model, tokens, start))
            .map_err(|e| JsError::new(&e.to_string()))
    }
}

/// This module, for the pool's workers to instantiate.
#[wasm_bindgen(js_name = engineModule)]
pub fn wasm_module() -> JsValue {
    wasm_bindgen::module()
}

/// This module's shared memory, for the pool's workers to run on.
#[wasm_bindgen(js_name = engineMemory)]
pub fn wasm_memory() -> JsValue {
    wasm_bindgen::memory()
}

/// The SIMD kernels against the portable loop, in this build (threads change the compiler's
/// target features, so the worker checks its own kernels).
#[wasm_bindgen(js_name = kernelSelfTest)]
pub fn kernel_self_test() -> Result<String, JsError> {
    airlock_inference::model::kernels::self_test::run().map_err(|e| JsError::new(&e))
}
