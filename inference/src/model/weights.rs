//! A model's tensors, loaded from GGUF (kept in their block types) or safetensors (f32, or
//! quantized at load into Airlock's block-32 format), checked against the configuration.

use super::error::{ModelError, invalid};
use super::matrix::{Matrix, Storage};
use super::names::{self, Block};
use crate::config::{Family, ModelConfig};
use crate::file_image::FileImage;
use crate::gguf::{GgmlType, GgufFile, dequantize};
use crate::quant::{Bits, quantize};
use crate::safetensors::{SafeTensors, to_f32};

/// How RoPE pairs the dimensions of a head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RopeStyle {
    /// (0,1), (2,3)…: llama.cpp's layout for Llama (its converter permutes q/k rows).
    Interleaved,
    /// (i, i + d/2): Hugging Face's `rotate_half`, and llama.cpp's NEOX layout for Qwen.
    Halves,
}

/// How safetensors matrices are kept in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadFormat {
    /// Widened to f32 exactly.
    F32,
    /// Airlock block-32 int8.
    Int8,
    /// Airlock block-32 int4.
    Int4,
}

/// The tensors of one transformer block.
#[derive(Debug, Clone)]
pub struct LayerWeights {
    /// RMSNorm before attention.
    pub attn_norm: Vec<f32>,
    /// Query projection.
    pub q: Matrix,
    /// Key projection.
    pub k: Matrix,
    /// Value projection.
    pub v: Matrix,
    /// Attention output projection.
    pub o: Matrix,
    /// q/k/v biases (Qwen2).
    pub qkv_bias: Option<[Vec<f32>; 3]>,
    /// Per-head q and k RMSNorm weights (Qwen3).
    pub qk_norm: Option<[Vec<f32>; 2]>,
    /// RMSNorm before the MLP.
    pub ffn_norm: Vec<f32>,
    /// SwiGLU gate.
    pub gate: Matrix,
    /// SwiGLU up.
    pub up: Matrix,
    /// SwiGLU down.
    pub down: Matrix,
}

/// Everything the forward pass reads.
#[derive(Debug, Clone)]
pub struct Weights {
    /// The model's shape.
    pub config: ModelConfig,
    /// Token embedding, `vocab × hidden`.
    pub embedding: Matrix,
    /// Output projection; `None` when tied to the embedding.
    pub output: Option<Matrix>,
    /// Final RMSNorm.
    pub output_norm: Vec<f32>,
    /// The blocks.
    pub layers: Vec<LayerWeights>,
    /// RoPE pairing.
    pub rope_style: RopeStyle,
    /// Per-frequency divisors (GGUF `rope_freqs.weight`, Llama 3 scaling).
    pub rope_freq_factors: Option<Vec<f32>>,
}

impl Weights {
    /// The output projection (the embedding when tied).
    pub fn output_matrix(&self) -> &Matrix {
        self.output.as_ref().unwrap_or(&self.embedding)
    }
}

/// Reads tensors from a GGUF image (or, with `bytes: None`, only their shapes).
struct GgufSource<'a> {
    file: &'a GgufFile,
    bytes: Option<&'a FileImage>,
}

impl GgufSource<'_> {
    fn info(&self, name: &str) -> Result<&crate::gguf::TensorInfo, ModelError> {
        self.file
            .tensor(name)
            .ok_or_else(|| invalid(format!("tensor {name} is missing")))
    }

    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
        let info = self.info(name)?;
        if info.dims != [len as u64] {
            return Err(invalid(format!(
                "tensor {name} has shape {:?}, expected [{len}]",
                info.dims
            )));
        }
        let Some(bytes) = self.bytes else {
            return Ok(vec![0.0; len]);
        };
        let data = self
            .file
            .tensor_bytes(bytes.bytes(), info)
            .map_err(|e| invalid(e.to_string()))?;
        dequantize(info.ggml_type, data, len).map_err(|e| invalid(format!("{name}: {e}")))
    }

    fn optional_vector(&self, name: &str, len: usize) -> Result<Option<Vec<f32>>, ModelError> {
        match self.file.tensor(name) {
            Some(_) => self.vector(name, len).map(Some),
            None => Ok(None),
        }
    }

    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Matrix, ModelError> {
        let info = self.info(name)?;
        if info.dims != [cols as u64, rows as u64] {
            return Err(invalid(format!(
                "tensor {name} has ggml shape {:?}, expected [{cols}, {rows}]",
                info.dims
            )));
        }
        let row_bytes = info.ggml_type.byte_len(cols as u64).ok_or_else(|| {
            invalid(format!(
                "tensor {name}: rows of {cols} do not fill whole {:?} blocks",
                info.ggml_type
            ))
        })? as usize;
        let Some(bytes) = self.bytes else {
            return Ok(Matrix {
                rows,
                cols,
                storage: Storage::Pending {
                    ggml_type: info.ggml_type,
                    row_bytes,
                },
            });
        };
        let data = self
            .file
            .tensor_bytes(bytes.bytes(), info)
            .map_err(|e| invalid(e.to_string()))?;
        let storage = if info.ggml_type == GgmlType::F32 {
            Storage::F32(
                dequantize(GgmlType::F32, data, rows * cols).map_err(|e| invalid(e.to_string()))?,
            )
        } else {
            Storage::Ggml {
                ggml_type: info.ggml_type,
                bytes: bytes.clone(),
                offset: info.file_offset as usize,
                row_bytes,
            }
        };
        Ok(Matrix {
            rows,
            cols,
            storage,
        })
    }
}

/// Loads a GGUF model whose file image is `bytes` (already parsed into `file`).
pub fn load_gguf(bytes: &FileImage, file: &GgufFile) -> Result<Weights, ModelError> {
    load_gguf_from(file, Some(bytes))
}

/// The shapes of a GGUF model from its header alone: matrices are `Storage::Pending` and
/// vectors zero, so the GPU engine can allocate before the tensor data streams in (every
/// shape and type is still checked here).
pub fn load_gguf_layout(file: &GgufFile) -> Result<Weights, ModelError> {
    let mut weights = load_gguf_from(file, None)?;
    weights.rope_freq_factors = None;
    Ok(weights)
}

fn load_gguf_from(file: &GgufFile, bytes: Option<&FileImage>) -> Result<Weights, ModelError> {
    let config = ModelConfig::from_gguf(file).map_err(|e| invalid(e.to_string()))?;
    let source = GgufSource { file, bytes };
    let c = &config;
    let (q_dim, kv_dim) = (c.heads * c.head_dim, c.kv_heads * c.head_dim);
    let mut layers = Vec::with_capacity(c.layers);
    for i in 0..c.layers {
        let qkv_bias = if c.qkv_bias {
            Some([
                source.vector(&Block::QBias.of(i), q_dim)?,
                source.vector(&Block::KBias.of(i), kv_dim)?,
                source.vector(&Block::VBias.of(i), kv_dim)?,
            ])
        } else {
            None
        };
        let qk_norm = if c.qk_norm {
            Some([
                source.vector(&Block::QNorm.of(i), c.head_dim)?,
                source.vector(&Block::KNorm.of(i), c.head_dim)?,
            ])
        } else {
            None
        };
        layers.push(LayerWeights {
            attn_norm: source.vector(&Block::AttnNorm.of(i), c.hidden)?,
            q: source.matrix(&Block::Q.of(i), q_dim, c.hidden)?,
            k: source.matrix(&Block::K.of(i), kv_dim, c.hidden)?,
            v: source.matrix(&Block::V.of(i), kv_dim, c.hidden)?,
            o: source.matrix(&Block::Output.of(i), c.hidden, q_dim)?,
            qkv_bias,
            qk_norm,
            ffn_norm: source.vector(&Block::FfnNorm.of(i), c.hidden)?,
            gate: source.matrix(&Block::Gate.of(i), c.intermediate, c.hidden)?,
            up: source.matrix(&Block::Up.of(i), c.intermediate, c.hidden)?,
            down: source.matrix(&Block::Down.of(i), c.hidden, c.intermediate)?,
        });
    }
    let output = if c.tied_embeddings {
        None
    } else {
        Some(source.matrix(names::OUTPUT, c.vocab, c.hidden)?)
    };
    Ok(Weights {
        embedding: source.matrix(names::TOKEN_EMBD, c.vocab, c.hidden)?,
        output,
        output_norm: source.vector(names::OUTPUT_NORM, c.hidden)?,
        layers,
        rope_style: match c.family {
            Family::Llama => RopeStyle::Interleaved,
            Family::Qwen2 | Family::Qwen3 => RopeStyle::Halves,
        },
        rope_freq_factors: source.optional_vector(names::ROPE_FREQS, c.head_dim / 2)?,
        config,
    })
}

/// Reads tensors from a safetensors image.
struct SafeSource<'a> {
    file: &'a SafeTensors,
    bytes: &'a [u8],
    format: LoadFormat,
}

impl SafeSource<'_> {
    fn values(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, ModelError> {
        let info = self
            .file
            .tensor(name)
            .ok_or_else(|| invalid(format!("tensor {name} is missing")))?;
        if info.shape != shape {
            return Err(invalid(format!(
                "tensor {name} has shape {:?}, expected {shape:?}",
                info.shape
            )));
        }
        let data = self
            .bytes
            .get(info.start..info.end)
            .ok_or_else(|| invalid(format!("data of tensor {name} is truncated")))?;
        Ok(to_f32(info.dtype, data))
    }

    fn vector(&self, name: &str, len: usize) -> Result<Vec<f32>, ModelError> {
        self.values(name, &[len])
    }

    fn matrix(&self, name: &str, rows: usize, cols: usize) -> Result<Matrix, ModelError> {
        let values = self.values(name, &[rows, cols])?;
        let bits = match self.format {
            LoadFormat::F32 => {
                return Ok(Matrix {
                    rows,
                    cols,
                    storage: Storage::F32(values),
                });
            }
            LoadFormat::Int8 => Bits::Eight,
            LoadFormat::Int4 => Bits::Four,
        };
        let block =
            quantize(&values, rows, cols, bits).map_err(|e| invalid(format!("{name}: {e}")))?;
        Ok(Matrix {
            rows,
            cols,
            storage: Storage::Block(block),
        })
    }
}

/// Loads a Hugging Face safetensors model (`model.*` names) described by `config`.
pub fn load_safetensors(
    bytes: &[u8],
    file: &SafeTensors,
    config: ModelConfig,
    format: LoadFormat,
) -> Result<Weights, ModelError> {
    let source = SafeSource {
        file,
        bytes,
        format,
    };
    let c = &config;
    let (q_dim, kv_dim) = (c.heads * c.head_dim, c.kv_heads * c.head_dim);
    let mut layers = Vec::with_capacity(c.layers);
    for i in 0..c.layers {
        let name = |t: &str| format!("model.layers.{i}.{t}");
        let qkv_bias = if c.qkv_bias {
            Some([
                source.vector(&name("self_attn.q_proj.bias"), q_dim)?,
                source.vector(&name("self_attn.k_proj.bias"), kv_dim)?,
                source.vector(&name("self_attn.v_proj.bias"), kv_dim)?,
            ])
        } else {
            None
        };
        let qk_norm = if c.qk_norm {
            Some([
                source.vector(&name("self_attn.q_norm.weight"), c.head_dim)?,
                source.vector(&name("self_attn.k_norm.weight"), c.head_dim)?,
            ])
        } else {
            None
        };
        layers.push(LayerWeights {
            attn_norm: source.vector(&name("input_layernorm.weight"), c.hidden)?,
            q: source.matrix(&name("self_attn.q_proj.weight"), q_dim, c.hidden)?,
            k: source.matrix(&name("self_attn.k_proj.weight"), kv_dim, c.hidden)?,
            v: source.matrix(&name("self_attn.v_proj.weight"), kv_dim, c.hidden)?,
            o: source.matrix(&name("self_attn.o_proj.weight"), c.hidden, q_dim)?,
            qkv_bias,
            qk_norm,
            ffn_norm: source.vector(&name("post_attention_layernorm.weight"), c.hidden)?,
            gate: source.matrix(&name("mlp.gate_proj.weight"), c.intermediate, c.hidden)?,
            up: source.matrix(&name("mlp.up_proj.weight"), c.intermediate, c.hidden)?,
            down: source.matrix(&name("mlp.down_proj.weight"), c.hidden, c.intermediate)?,
        });
    }
    let output = if c.tied_embeddings && file.tensor("lm_head.weight").is_none() {
        None
    } else {
        Some(source.matrix("lm_head.weight", c.vocab, c.hidden)?)
    };
    Ok(Weights {
        embedding: source.matrix("model.embed_tokens.weight", c.vocab, c.hidden)?,
        output,
        output_norm: source.vector("model.norm.weight", c.hidden)?,
        layers,
        rope_style: RopeStyle::Halves,
        rope_freq_factors: None,
        config,
    })
}
