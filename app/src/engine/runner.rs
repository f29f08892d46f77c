//! The engine a loaded model runs on in the page, behind one awaited forward pass: WebGPU
//! (every GPU read awaited), the CPU's int8 SIMD kernels in the engine worker on its threads
//! (`worker.rs`), or — where the page cannot run that worker — the same kernels on the page's
//! thread, handing the event loop back between batches of prompt tokens and between tokens.

use airlock_inference::generate::{Forward, Output};
use airlock_inference::gpu::GpuModel;
use airlock_inference::model::CpuModel;
use airlock_inference::model::cpu::BATCH;
use airlock_inference::sampling::Want;
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;

use super::worker::EngineWorker;
use crate::model::engine_choice::EngineKind;

/// A model with its KV cache, on one engine.
pub(crate) enum Runner {
    /// On WebGPU.
    Gpu(GpuModel),
    /// On the CPU, in the engine worker's threads.
    Worker(EngineWorker),
    /// On the CPU, on the page's own thread.
    Cpu(CpuModel),
}

impl Runner {
    /// Which engine.
    pub fn kind(&self) -> EngineKind {
        match self {
            Runner::Gpu(_) => EngineKind::Gpu,
            Runner::Worker(_) | Runner::Cpu(_) => EngineKind::Cpu,
        }
    }

    /// Threads the CPU engine runs on (0: WebGPU).
    pub fn threads(&self) -> usize {
        match self {
            Runner::Gpu(_) => 0,
            Runner::Worker(worker) => worker.threads(),
            Runner::Cpu(_) => 1,
        }
    }

    /// Where the CPU engine runs, in words (`None` on WebGPU).
    pub fn cpu_place(&self) -> Option<String> {
        match self {
            Runner::Gpu(_) => None,
            Runner::Worker(worker) => {
                let threads = worker.threads();
                let plural = if threads == 1 { "" } else { "s" };
                Some(format!("{threads} thread{plural} in a worker"))
            }
            Runner::Cpu(_) => Some("on the page's thread".into()),
        }
    }

    /// Positions the KV cache holds.
    pub fn capacity(&self) -> usize {
        match self {
            Runner::Gpu(gpu) => gpu.capacity(),
            Runner::Worker(worker) => worker.capacity(),
            Runner::Cpu(cpu) => cpu.capacity(),
        }
    }

    /// The product kernels' shape, for results and measurements.
    pub fn shape(&self) -> String {
        match self {
            Runner::Gpu(gpu) => format!("{:?}", gpu.matvec_shape()),
            Runner::Worker(_) | Runner::Cpu(_) => "Int8Simd128".into(),
        }
    }

    /// The KV cache's precision.
    pub fn kv_cache(&self) -> String {
        match self {
            Runner::Gpu(gpu) => format!("{:?}", gpu.kv_precision()),
            Runner::Worker(_) | Runner::Cpu(_) => "F32".into(),
        }
    }

    /// Puts the engine's facts on a JS result object: `shape`, `kvCache`, `engine`,
    /// `threads` (0 on WebGPU) and `engineReason` (why the load chose it).
    pub fn report(&self, reason: &str, result: &js_sys::Object) -> Result<(), JsValue> {
        let set = |key: &str, value: JsValue| {
            js_sys::Reflect::set(result, &key.into(), &value).map(|_| ())
        };
        set("shape", self.shape().into())?;
        set("kvCache", self.kv_cache().into())?;
        set("engine", self.kind().name().into())?;
        set("threads", (self.threads() as u32).into())?;
        set("engineReason", reason.into())
    }

    /// Runs `tokens` at positions `start..` and returns what `want` asks for.
    pub async fn forward_for(
        &mut self,
        want: Want,
        tokens: &[u32],
        start: usize,
    ) -> Result<Output, String> {
        match self {
            Runner::Gpu(gpu) => gpu
                .forward_for_async(want, tokens, start)
                .await
                .map_err(|e| e.to_string()),
            Runner::Worker(worker) => {
                let (last, earlier) = tokens.split_last().ok_or("no tokens to run")?;
                for (i, batch) in earlier.chunks(BATCH).enumerate() {
                    worker.run(None, batch, start + i * BATCH).await?;
                }
                worker
                    .run(Some(want), &[*last], start + earlier.len())
                    .await?
                    .ok_or_else(|| "the engine worker returned nothing".to_owned())
            }
            Runner::Cpu(cpu) => {
                let (last, earlier) = tokens.split_last().ok_or("no tokens to run")?;
                for (i, batch) in earlier.chunks(BATCH).enumerate() {
                    yield_to_page().await;
                    cpu.forward(batch, start + i * BATCH)
                        .map_err(|e| e.to_string())?;
                }
                yield_to_page().await;
                cpu.forward_for(want, &[*last], start + earlier.len())
                    .map_err(|e| e.to_string())
            }
        }
    }
}

/// Lets the page paint and handle input before the next stretch of CPU work (a message to
/// ourselves: unlike `setTimeout`, never clamped to 4 ms).
async fn yield_to_page() {
    let promise = Promise::new(&mut |resolve, _| {
        let Ok(channel) = web_sys::MessageChannel::new() else {
            let _ = resolve.call0(&JsValue::NULL);
            return;
        };
        let on_message = Closure::once_into_js(move || {
            let _ = resolve.call0(&JsValue::NULL);
        });
        channel
            .port1()
            .set_onmessage(Some(on_message.unchecked_ref()));
        let _ = channel.port2().post_message(&JsValue::NULL);
    });
    let _ = JsFuture::from(promise).await;
}
