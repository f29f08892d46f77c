//! The load-time measurement behind the engine choice: a few layers of the model's shape with
//! made-up weights (`synthetic::shaped_like`: speed depends on shapes and block types, not
//! values), timed per decode step on the CPU kernels and on WebGPU. Kept per adapter and
//! shape in the browser's localStorage, so only the first load of a shape pays for it.

use airlock_inference::gpu::{GpuModel, GpuOptions};
use airlock_inference::model::cpu::Products;
use airlock_inference::model::matrix::{Matrix, Storage};
use airlock_inference::model::{CpuModel, Weights, synthetic};
use wasm_bindgen::prelude::*;

use super::error;
use crate::model::engine_choice::Probe;

/// Layers in the probe model (the GPU's fixed cost per step is shared by these, as by a
/// real model's many).
const LAYERS: usize = 4;
/// Vocabulary of the probe model (the output product is measured by the layers' own).
const VOCAB: usize = 256;
/// Timed steps per engine, after one untimed warm-up step.
const STEPS: usize = 4;

fn now() -> f64 {
    web_sys::window()
        .and_then(|w| w.performance())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

fn type_name(m: &Matrix) -> String {
    match &m.storage {
        Storage::Ggml { ggml_type, .. } | Storage::Pending { ggml_type, .. } => {
            format!("{ggml_type:?}")
        }
        Storage::F32(_) => "F32".into(),
        Storage::Block(_) => "Block".into(),
    }
}

/// The localStorage key for `layout` on `adapter`.
fn key(layout: &Weights, adapter: &str) -> String {
    let c = &layout.config;
    let types: Vec<String> = layout.layers.first().map_or_else(Vec::new, |l| {
        [&l.q, &l.k, &l.v, &l.o, &l.gate, &l.up, &l.down]
            .into_iter()
            .map(type_name)
            .collect()
    });
    format!(
        "airlock.engine-probe.v1|{adapter}|{}x{}x{}x{}x{}|{}",
        c.hidden,
        c.intermediate,
        c.heads,
        c.kv_heads,
        c.head_dim,
        types.join(",")
    )
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// Times the probe model on both engines, or returns the kept measurement.
pub(crate) async fn measure(
    layout: &Weights,
    adapter: &str,
    gpu_options: GpuOptions,
) -> Result<Probe, JsValue> {
    let key = key(layout, adapter);
    if let Some(kept) = storage().and_then(|s| s.get_item(&key).ok().flatten())
        && let Some((cpu, gpu)) = kept.split_once(',')
        && let (Ok(cpu_ms), Ok(gpu_ms)) = (cpu.parse(), gpu.parse())
    {
        return Ok(Probe {
            layers: LAYERS.min(layout.layers.len()),
            cpu_ms,
            gpu_ms,
        });
    }
    let weights = synthetic::shaped_like(layout, LAYERS, VOCAB);
    let layers = weights.layers.len();
    let context = STEPS + 1;
    let mut cpu = CpuModel::with_products(weights.clone(), context, Products::Int8);
    cpu.forward(&[1], 0).map_err(error)?;
    let started = now();
    for step in 1..=STEPS {
        cpu.forward(&[1], step).map_err(error)?;
    }
    let cpu_ms = (now() - started) / STEPS as f64;
    let mut gpu = GpuModel::new(&weights, context, gpu_options)
        .await
        .map_err(|e| error(format!("the WebGPU probe failed: {e}")))?;
    gpu.forward_greedy_async(&[1], 0).await.map_err(error)?;
    let started = now();
    for step in 1..=STEPS {
        gpu.forward_greedy_async(&[1], step).await.map_err(error)?;
    }
    let gpu_ms = (now() - started) / STEPS as f64;
    if let Some(s) = storage() {
        let _ = s.set_item(&key, &format!("{cpu_ms},{gpu_ms}"));
    }
    Ok(Probe {
        layers,
        cpu_ms,
        gpu_ms,
    })
}
