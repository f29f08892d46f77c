//! The WGSL kernels of `shaders/`, compiled once per device: the matrix-vector product and the
//! embedding lookup for every weight format, plus RMSNorm, RoPE, attention and element-wise ops.

use std::collections::HashMap;

/// A weight layout a kernel can read (GGUF block types and Airlock's own).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// f32 values.
    F32,
    /// f16 values.
    F16,
    /// GGUF Q8_0.
    Q8_0,
    /// GGUF Q4_0.
    Q4_0,
    /// GGUF Q4_1.
    Q4_1,
    /// GGUF Q5_0.
    Q5_0,
    /// GGUF Q5_1.
    Q5_1,
    /// GGUF Q4_K.
    Q4K,
    /// GGUF Q6_K.
    Q6K,
    /// Airlock block-32 int8 (scale + words interleaved per block on upload).
    Airlock8,
    /// Airlock block-32 int4.
    Airlock4,
}

impl Format {
    fn source(self) -> &'static str {
        match self {
            Format::F32 => include_str!("../../../shaders/formats/f32.wgsl"),
            Format::F16 => include_str!("../../../shaders/formats/f16.wgsl"),
            Format::Q8_0 => include_str!("../../../shaders/formats/q8_0.wgsl"),
            Format::Q4_0 => include_str!("../../../shaders/formats/q4_0.wgsl"),
            Format::Q4_1 => include_str!("../../../shaders/formats/q4_1.wgsl"),
            Format::Q5_0 => include_str!("../../../shaders/formats/q5_0.wgsl"),
            Format::Q5_1 => include_str!("../../../shaders/formats/q5_1.wgsl"),
            Format::Q4K => include_str!("../../../shaders/formats/q4_k.wgsl"),
            Format::Q6K => include_str!("../../../shaders/formats/q6_k.wgsl"),
            Format::Airlock8 => include_str!("../../../shaders/formats/a8.wgsl"),
            Format::Airlock4 => include_str!("../../../shaders/formats/a4.wgsl"),
        }
    }
}

const BYTES: &str = include_str!("../../../shaders/bytes.wgsl");
const MATVEC: &str = include_str!("../../../shaders/matvec.wgsl");
const EMBED: &str = include_str!("../../../shaders/embed.wgsl");
const RMS_NORM: &str = include_str!("../../../shaders/rms_norm.wgsl");
const ROPE_STORE: &str = include_str!("../../../shaders/rope_store.wgsl");
const ATTENTION: &str = include_str!("../../../shaders/attention.wgsl");
const ELEMENTWISE: &str = include_str!("../../../shaders/elementwise.wgsl");

/// Tokens a prefill pass runs side by side (`LANES` in matvec.wgsl: kernels dequantize each
/// weight block once per pass and use it for every lane).
pub const PREFILL_LANES: usize = 8;

/// How the matrix-vector kernel spreads a row over threads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatvecShape {
    /// A workgroup per row, threads share the row and reduce (real GPUs).
    Workgroup,
    /// A thread per row, no barriers (CPU-emulated adapters: lavapipe, SwiftShader).
    Thread,
}

/// How the KV cache stores keys and values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KvPrecision {
    /// f32: every adapter.
    F32,
    /// f16: half the memory and bandwidth; needs `shader-f16`.
    F16,
}

impl KvPrecision {
    /// Bytes per stored value.
    pub fn bytes(self) -> usize {
        match self {
            KvPrecision::F32 => 4,
            KvPrecision::F16 => 2,
        }
    }

    /// The WGSL prelude that defines `kv_t`, the KV-cache element type (an `enable`
    /// directive must open the module, so this goes first).
    fn prelude(self) -> &'static str {
        match self {
            KvPrecision::F32 => "alias kv_t = f32;\n",
            KvPrecision::F16 => "enable f16;\nalias kv_t = f16;\n",
        }
    }
}

/// Every compiled pipeline.
pub struct Kernels {
    /// The matrix-vector shape compiled.
    pub shape: MatvecShape,
    /// The KV-cache element type compiled into `rope_store` and `attention`.
    pub kv: KvPrecision,
    matvec: HashMap<Format, wgpu::ComputePipeline>,
    matvec_lanes: HashMap<Format, wgpu::ComputePipeline>,
    /// The token embedding of one token.
    pub embed: wgpu::ComputePipeline,
    /// The token embedding for a prefill batch.
    pub embed_lanes: wgpu::ComputePipeline,
    /// RMSNorm over groups.
    pub rms_norm: wgpu::ComputePipeline,
    /// Biases, q/k norm, RoPE and the KV-cache store.
    pub rope_store: wgpu::ComputePipeline,
    /// One query against the KV cache.
    pub attention: wgpu::ComputePipeline,
    /// act = silu(gate) · up.
    pub swiglu: wgpu::ComputePipeline,
}

fn pipeline(
    device: &wgpu::Device,
    label: &str,
    source: &str,
    entry: &str,
) -> wgpu::ComputePipeline {
    pipeline_with(device, label, source, entry, &[])
}

fn pipeline_with(
    device: &wgpu::Device,
    label: &str,
    source: &str,
    entry: &str,
    constants: &[(&str, f64)],
) -> wgpu::ComputePipeline {
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(label),
        source: wgpu::ShaderSource::Wgsl(source.into()),
    });
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(label),
        layout: None,
        module: &module,
        entry_point: Some(entry),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            ..Default::default()
        },
        cache: None,
    })
}

impl Kernels {
    /// Compiles the shared kernels, the matrix-vector kernels for `formats` and the embedding
    /// kernels for `embedding` (the token-embedding matrix's format).
    pub fn new(
        device: &wgpu::Device,
        formats: &[Format],
        embedding: Format,
        shape: MatvecShape,
        kv: KvPrecision,
        head_dim: usize,
    ) -> Self {
        let head = [("HEAD_DIM", head_dim as f64)];
        let (entry, lanes_entry) = match shape {
            MatvecShape::Workgroup => ("main", "main_lanes"),
            MatvecShape::Thread => ("per_row", "per_row_lanes"),
        };
        let prelude = |format: Format| format!("{BYTES}\n{}\n", format.source());
        let mut matvec = HashMap::new();
        let mut matvec_lanes = HashMap::new();
        for &format in formats {
            if matvec.contains_key(&format) {
                continue;
            }
            let source = format!("{}{MATVEC}", prelude(format));
            let label = |what: &str| format!("{what} {format:?}");
            matvec.insert(format, pipeline(device, &label("matvec"), &source, entry));
            matvec_lanes.insert(
                format,
                pipeline(device, &label("matvec lanes"), &source, lanes_entry),
            );
        }
        let embed_source = format!("{}{EMBED}", prelude(embedding));
        let rope_store = format!("{}{ROPE_STORE}", kv.prelude());
        let attention = format!("{}{ATTENTION}", kv.prelude());
        Self {
            shape,
            kv,
            matvec,
            matvec_lanes,
            embed: pipeline(device, "embed", &embed_source, "main"),
            embed_lanes: pipeline(device, "embed lanes", &embed_source, "lanes"),
            rms_norm: pipeline(device, "rms_norm", RMS_NORM, "main"),
            rope_store: pipeline_with(device, "rope_store", &rope_store, "main", &head),
            attention: pipeline_with(device, "attention", &attention, "main", &head),
            swiglu: pipeline(device, "swiglu", ELEMENTWISE, "swiglu"),
        }
    }

    /// The matrix-vector pipeline for `format` (compiled in `new`).
    pub fn matvec(&self, format: Format) -> &wgpu::ComputePipeline {
        &self.matvec[&format]
    }

    /// The matrix-vector pipeline for `format` over `PREFILL_LANES` tokens at once.
    pub fn matvec_lanes(&self, format: Format) -> &wgpu::ComputePipeline {
        &self.matvec_lanes[&format]
    }
}
