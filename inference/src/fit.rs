//! "Will it fit": what a model needs on a GPU, computed from its GGUF header alone (no tensor
//! data), the way the engine allocates it — weights in their file formats, split into row
//! shards where a matrix exceeds the largest storage binding, the KV cache at the chosen
//! context (f16 where the adapter has `shader-f16`, else f32), activations for one token and
//! for a prefill batch, the RoPE table and the logits. The appliance's `airlock models fit`,
//! the model manifest and the IDE's Models panel all use these numbers.

use serde::{Deserialize, Serialize};

use crate::config::Family;
use crate::fim::FimFormat;
use crate::gguf::{GgufFile, MetaValue};
use crate::model::load_gguf_layout;

/// Token lanes of a prefill batch (the engine's `PREFILL_LANES`).
const PREFILL_LANES: u64 = 8;

/// What the fit calculator and the Models panel need to know about a model file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// `llama`, `qwen2` or `qwen3`.
    pub family: String,
    /// `general.name`, when the file has one.
    pub name: Option<String>,
    /// Parameters (elements of every tensor).
    pub params: u64,
    /// The tensor formats present, e.g. `["F32", "Q4_1"]`.
    pub quant_types: Vec<String>,
    /// The context length the model was trained for.
    pub context_length: u64,
    /// Whether the file carries a chat template.
    pub chat_template: bool,
    /// The fill-in-the-middle format its vocabulary supports, if any.
    pub fim: Option<String>,
    /// Bytes of every tensor as the engine uploads them.
    pub weight_bytes: u64,
    /// The largest single tensor, which must fit a storage binding (or be sharded by rows).
    pub largest_tensor_bytes: u64,
    /// Bytes of one row of that tensor (the sharding unit).
    pub largest_row_bytes: u64,
    /// Transformer blocks.
    pub layers: u64,
    /// Model width.
    pub hidden: u64,
    /// Attention heads.
    pub heads: u64,
    /// Key/value heads.
    pub kv_heads: u64,
    /// Width of one head.
    pub head_dim: u64,
    /// Feed-forward width.
    pub intermediate: u64,
    /// Vocabulary size.
    pub vocab: u64,
}

impl ModelInfo {
    /// Reads a GGUF header (no tensor data is needed).
    pub fn from_header(file: &GgufFile) -> Result<Self, String> {
        let weights = load_gguf_layout(file).map_err(|e| e.to_string())?;
        let c = &weights.config;
        let family = match c.family {
            Family::Llama => "llama",
            Family::Qwen2 => "qwen2",
            Family::Qwen3 => "qwen3",
        };
        let mut quant_types: Vec<String> = file
            .tensors
            .iter()
            .map(|t| format!("{:?}", t.ggml_type))
            .collect();
        quant_types.sort();
        quant_types.dedup();
        let largest = file
            .tensors
            .iter()
            .max_by_key(|t| t.byte_len)
            .ok_or("the file has no tensors")?;
        let rows = largest.dims.iter().skip(1).product::<u64>().max(1);
        let tokens: Vec<&str> = match file.metadata.get("tokenizer.ggml.tokens") {
            Some(MetaValue::Array(items)) => items.iter().filter_map(MetaValue::as_str).collect(),
            _ => Vec::new(),
        };
        let fim = FimFormat::detect_in(|t| {
            tokens
                .iter()
                .any(|v| *v == t || v.strip_prefix('\u{2581}') == Some(t))
        });
        Ok(Self {
            family: family.into(),
            name: file
                .metadata
                .get("general.name")
                .and_then(MetaValue::as_str)
                .map(str::to_owned),
            params: file.tensors.iter().map(|t| t.elements()).sum(),
            quant_types,
            context_length: c.context as u64,
            chat_template: file.metadata.contains_key("tokenizer.chat_template"),
            fim: fim.map(|f| f.name().to_owned()),
            weight_bytes: file.tensors.iter().map(|t| t.byte_len).sum(),
            largest_tensor_bytes: largest.byte_len,
            largest_row_bytes: largest.byte_len / rows,
            layers: c.layers as u64,
            hidden: c.hidden as u64,
            heads: c.heads as u64,
            kv_heads: c.kv_heads as u64,
            head_dim: c.head_dim as u64,
            intermediate: c.intermediate as u64,
            vocab: c.vocab as u64,
        })
    }

    /// Bytes of the KV cache for `context` positions at `kv_bytes` per value.
    pub fn kv_cache_bytes(&self, context: u64, kv_bytes: u64) -> u64 {
        2 * self.layers * context * self.kv_heads * self.head_dim * kv_bytes
    }

    /// Bytes of the activations, RoPE table and logits for `context` positions.
    pub fn activation_bytes(&self, context: u64) -> u64 {
        let (q, kv) = (self.heads * self.head_dim, self.kv_heads * self.head_dim);
        let lane =
            2 * self.hidden + (q + 2 * kv) + q + 3 * self.intermediate + self.heads * context;
        let floats = (1 + PREFILL_LANES) * lane + self.vocab + context * self.head_dim;
        floats * 4 + PREFILL_LANES * 4
    }
}

/// What a GPU offers, as WebGPU reports it (`adapter.limits`, `adapter.features`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Limits {
    /// `maxStorageBufferBindingSize`.
    pub max_binding: u64,
    /// `maxBufferSize`.
    pub max_buffer: u64,
    /// Whether the adapter has `shader-f16` (halves the KV cache).
    pub shader_f16: bool,
    /// Memory the GPU may give the model, when known (`--vram`); browsers do not say.
    pub memory: Option<u64>,
}

impl Limits {
    /// The CPU engine in a page: everything lives in one wasm32 memory (at most 4 GiB, of
    /// which the IDE itself keeps about 256 MiB), with no per-buffer limit; f32 KV cache.
    pub fn wasm_cpu() -> Self {
        Limits {
            max_binding: u64::MAX / 4,
            max_buffer: u64::MAX / 4,
            shader_f16: false,
            memory: Some((4096 - 256) * 1024 * 1024),
        }
    }
}

/// Whether a model fits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Verdict {
    /// Every tensor fits one binding and the total fits the memory.
    Fits,
    /// Fits, with the largest matrices split into row shards.
    FitsSharded,
    /// Does not fit, for the reason given.
    TooLarge {
        /// Plain words.
        reason: String,
    },
}

/// The fit calculator's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Fit {
    /// Context positions the KV cache holds.
    pub context: u64,
    /// Bytes per KV value (2 with `shader-f16`, else 4).
    pub kv_bytes: u64,
    /// Weights.
    pub weights: u64,
    /// KV cache.
    pub kv_cache: u64,
    /// Activations, RoPE table and logits.
    pub activations: u64,
    /// Everything.
    pub total: u64,
    /// The verdict.
    pub verdict: Verdict,
}

/// What `info` needs at `context` positions on a GPU with `limits`.
pub fn fit(info: &ModelInfo, context: u64, limits: &Limits) -> Fit {
    let kv_bytes = if limits.shader_f16 { 2 } else { 4 };
    let kv_cache = info.kv_cache_bytes(context, kv_bytes);
    let activations = info.activation_bytes(context);
    let total = info.weight_bytes + kv_cache + activations;
    let per_layer_cache = kv_cache / (2 * info.layers.max(1));
    let binding = limits.max_binding.min(limits.max_buffer);
    let verdict = if context > info.context_length {
        Verdict::TooLarge {
            reason: format!(
                "the model was trained for {} positions; {context} asked",
                info.context_length
            ),
        }
    } else if per_layer_cache > binding {
        Verdict::TooLarge {
            reason: format!(
                "one layer's KV cache ({}) exceeds the GPU's largest buffer binding ({}); choose a shorter context",
                bytes(per_layer_cache),
                bytes(binding)
            ),
        }
    } else if info.largest_row_bytes + 8 > binding {
        Verdict::TooLarge {
            reason: format!(
                "a weight row ({}) exceeds the GPU's largest buffer binding ({})",
                bytes(info.largest_row_bytes),
                bytes(binding)
            ),
        }
    } else if let Some(memory) = limits.memory.filter(|m| total > *m) {
        Verdict::TooLarge {
            reason: format!(
                "needs {} but only {} is available",
                bytes(total),
                bytes(memory)
            ),
        }
    } else if info.largest_tensor_bytes + 8 > binding {
        Verdict::FitsSharded
    } else {
        Verdict::Fits
    };
    Fit {
        context,
        kv_bytes,
        weights: info.weight_bytes,
        kv_cache,
        activations,
        total,
        verdict,
    }
}

/// GPUs of `vram` bytes a team server (vLLM with tensor parallelism, f16 KV cache) needs to
/// serve `info` at `context` positions for `concurrent` requests: weights split evenly, 10%
/// of each GPU kept for the runtime, a power of two that divides the KV heads.
pub fn gpus_needed(info: &ModelInfo, context: u64, concurrent: u64, vram: u64) -> Option<u64> {
    let need = info.weight_bytes + concurrent * info.kv_cache_bytes(context, 2);
    let usable = vram / 10 * 9;
    if usable == 0 {
        return None;
    }
    let mut gpus = 1;
    while gpus * usable < need {
        gpus *= 2;
        if gpus > info.kv_heads.max(1) * 8 {
            return None;
        }
    }
    Some(gpus)
}

/// Bytes in binary units, for people.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// A parameter count for people: `135M`, `0.5B`, `0.2M`.
pub fn params(n: u64) -> String {
    let n = n as f64;
    if n >= 1e9 {
        format!("{:.1}B", n / 1e9)
    } else if n >= 1e7 {
        format!("{:.0}M", n / 1e6)
    } else {
        format!("{:.1}M", n / 1e6)
    }
}

/// Parses `8G`, `512M`, `80GiB`, `1073741824`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{text:?} is not a size like 8G or 512M"))?;
    let scale = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1u64,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        _ => return Err(format!("{text:?} has an unknown unit (use K, M, G or T)")),
    };
    if !value.is_finite() || value <= 0.0 {
        return Err(format!("{text:?} must be a positive size"));
    }
    Ok((value * scale as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> ModelInfo {
        ModelInfo {
            family: "llama".into(),
            name: None,
            params: 135_000_000,
            quant_types: vec!["Q4_1".into()],
            context_length: 8192,
            chat_template: true,
            fim: None,
            weight_bytes: 96 << 20,
            largest_tensor_bytes: 17 << 20,
            largest_row_bytes: 360,
            layers: 30,
            hidden: 576,
            heads: 9,
            kv_heads: 3,
            head_dim: 64,
            intermediate: 1536,
            vocab: 49152,
        }
    }

    #[test]
    fn verdicts() {
        let roomy = Limits {
            max_binding: 1 << 30,
            max_buffer: 1 << 30,
            shader_f16: true,
            memory: None,
        };
        let f = fit(&info(), 1024, &roomy);
        assert_eq!(f.verdict, Verdict::Fits);
        assert_eq!(f.kv_cache, 2 * 30 * 1024 * 3 * 64 * 2);
        assert_eq!(f.total, f.weights + f.kv_cache + f.activations);
        let f32_kv = fit(
            &info(),
            1024,
            &Limits {
                shader_f16: false,
                ..roomy
            },
        );
        assert_eq!(f32_kv.kv_cache, 2 * f.kv_cache);
        let small = Limits {
            max_binding: 8 << 20,
            ..roomy
        };
        assert_eq!(fit(&info(), 1024, &small).verdict, Verdict::FitsSharded);
        let tiny = Limits {
            max_binding: 256,
            ..roomy
        };
        assert!(matches!(
            fit(&info(), 1024, &tiny).verdict,
            Verdict::TooLarge { .. }
        ));
        let short = Limits {
            memory: Some(64 << 20),
            ..roomy
        };
        assert!(
            matches!(fit(&info(), 1024, &short).verdict, Verdict::TooLarge { reason } if reason.contains("only 64.0 MiB is available"))
        );
        // The page's CPU engine: everything in one wasm32 memory, no per-buffer limit.
        assert_eq!(
            fit(&info(), 1024, &Limits::wasm_cpu()).verdict,
            Verdict::Fits
        );
        let mut seven_b = info();
        seven_b.weight_bytes = 4 << 30;
        assert!(matches!(
            fit(&seven_b, 1024, &Limits::wasm_cpu()).verdict,
            Verdict::TooLarge { .. }
        ));
        assert!(
            matches!(fit(&info(), 100_000, &roomy).verdict, Verdict::TooLarge { reason } if reason.contains("trained"))
        );
    }

    #[test]
    fn team_server_gpus() {
        let mut big = info();
        big.weight_bytes = 140 << 30;
        big.kv_heads = 8;
        assert_eq!(gpus_needed(&info(), 8192, 4, 24 << 30), Some(1));
        assert_eq!(gpus_needed(&big, 8192, 1, 80 << 30), Some(2));
        assert_eq!(gpus_needed(&big, 8192, 1, 24 << 30), Some(8));
        assert_eq!(gpus_needed(&big, 8192, 1, 1 << 30), None);
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("8G").unwrap(), 8 << 30);
        assert_eq!(parse_bytes("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1.5g").unwrap(), 3 << 29);
        assert!(parse_bytes("eight").is_err());
        assert!(parse_bytes("8X").is_err());
        assert!(parse_bytes("0").is_err());
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(12), "12 B");
        assert_eq!(params(134_515_008), "135M");
        assert_eq!(params(494_032_768), "494M");
        assert_eq!(params(7_615_616_512), "7.6B");
        assert_eq!(params(183_000), "0.2M");
    }
}
