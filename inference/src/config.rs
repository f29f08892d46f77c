//! The model's shape, from a Hugging Face `config.json` or from GGUF metadata, for the three
//! families the engine runs: Llama (2, 3.x with rope scaling), Qwen2/2.5 (q/k/v bias) and
//! Qwen3 (q/k RMSNorm). Missing or inconsistent values are errors, never guesses.

use serde_json::Value;

use crate::gguf::{GgufFile, MetaValue};

/// Model family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// Llama 2 / 3.x (and SmolLM2, which uses the Llama architecture).
    Llama,
    /// Qwen2 / Qwen2.5 (attention projections carry biases).
    Qwen2,
    /// Qwen3 (RMSNorm on q and k per head).
    Qwen3,
}

/// Llama 3 style rotary frequency scaling.
#[derive(Clone, Debug, PartialEq)]
pub struct RopeScaling {
    /// Overall factor.
    pub factor: f32,
    /// Low-frequency factor.
    pub low_freq_factor: f32,
    /// High-frequency factor.
    pub high_freq_factor: f32,
    /// Context length the model was trained with before scaling.
    pub original_context: usize,
}

/// Everything the forward pass needs to know about the model's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelConfig {
    /// Family.
    pub family: Family,
    /// Hidden size.
    pub hidden: usize,
    /// Transformer blocks.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (grouped-query attention when fewer than `heads`).
    pub kv_heads: usize,
    /// Dimension of one head.
    pub head_dim: usize,
    /// MLP inner size.
    pub intermediate: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Longest context.
    pub context: usize,
    /// RMSNorm epsilon.
    pub rms_eps: f32,
    /// RoPE base frequency.
    pub rope_theta: f32,
    /// Llama 3 RoPE scaling, if any.
    pub rope_scaling: Option<RopeScaling>,
    /// Output projection shares the token embedding.
    pub tied_embeddings: bool,
    /// q/k/v projections have biases (Qwen2).
    pub qkv_bias: bool,
    /// Per-head RMSNorm on q and k (Qwen3).
    pub qk_norm: bool,
}

/// Why a configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "model configuration: {}", self.0)
    }
}

impl std::error::Error for ConfigError {}

fn family_of(name: &str) -> Result<Family, ConfigError> {
    match name {
        "llama" => Ok(Family::Llama),
        "qwen2" => Ok(Family::Qwen2),
        "qwen3" => Ok(Family::Qwen3),
        other => Err(ConfigError(format!(
            "architecture {other:?} is not supported (llama, qwen2, qwen3)"
        ))),
    }
}

impl ModelConfig {
    /// Reads a Hugging Face `config.json`.
    pub fn from_hf_json(text: &str) -> Result<Self, ConfigError> {
        let json: Value =
            serde_json::from_str(text).map_err(|e| ConfigError(format!("config.json: {e}")))?;
        let family = family_of(
            json["model_type"]
                .as_str()
                .ok_or_else(|| ConfigError("no model_type".into()))?,
        )?;
        let int = |key: &str| {
            json[key]
                .as_u64()
                .map(|v| v as usize)
                .ok_or_else(|| ConfigError(format!("missing {key}")))
        };
        let float = |key: &str, default: f64| json[key].as_f64().unwrap_or(default) as f32;
        let hidden = int("hidden_size")?;
        let heads = int("num_attention_heads")?;
        let kv_heads = json["num_key_value_heads"]
            .as_u64()
            .map(|v| v as usize)
            .unwrap_or(heads);
        let head_dim = json["head_dim"]
            .as_u64()
            .map(|v| v as usize)
            .unwrap_or(hidden / heads.max(1));
        // transformers ≥ 5 writes `rope_parameters`; older files `rope_theta` + `rope_scaling`.
        let rope = match &json["rope_parameters"] {
            Value::Object(_) => &json["rope_parameters"],
            _ => &json["rope_scaling"],
        };
        let rope_theta = json["rope_theta"]
            .as_f64()
            .or(rope["rope_theta"].as_f64())
            .unwrap_or(10_000.0) as f32;
        let rope_type = rope["rope_type"].as_str().or(rope["type"].as_str());
        let rope_scaling = match (rope, rope_type) {
            (Value::Null, _) | (_, Some("default")) => None,
            (s, Some("llama3")) => Some(RopeScaling {
                factor: s["factor"].as_f64().unwrap_or(1.0) as f32,
                low_freq_factor: s["low_freq_factor"].as_f64().unwrap_or(1.0) as f32,
                high_freq_factor: s["high_freq_factor"].as_f64().unwrap_or(4.0) as f32,
                original_context: s["original_max_position_embeddings"]
                    .as_u64()
                    .unwrap_or(8192) as usize,
            }),
            (other, _) => return Err(ConfigError(format!("unsupported RoPE scaling {other}"))),
        };
        let config = Self {
            family,
            hidden,
            layers: int("num_hidden_layers")?,
            heads,
            kv_heads,
            head_dim,
            intermediate: int("intermediate_size")?,
            vocab: int("vocab_size")?,
            context: int("max_position_embeddings")?,
            rms_eps: float("rms_norm_eps", 1e-6),
            rope_theta,
            rope_scaling,
            tied_embeddings: json["tie_word_embeddings"].as_bool().unwrap_or(false),
            qkv_bias: family == Family::Qwen2 || json["attention_bias"].as_bool().unwrap_or(false),
            qk_norm: family == Family::Qwen3,
        };
        config.validate()
    }

    /// Reads GGUF metadata (`{arch}.*` keys) and the tensor directory (tied embeddings).
    pub fn from_gguf(file: &GgufFile) -> Result<Self, ConfigError> {
        let arch = file
            .metadata
            .get("general.architecture")
            .and_then(MetaValue::as_str)
            .ok_or_else(|| ConfigError("no general.architecture".into()))?;
        let family = family_of(arch)?;
        let get = |key: &str| file.metadata.get(&format!("{arch}.{key}"));
        let int = |key: &str| {
            get(key)
                .and_then(MetaValue::as_u64)
                .map(|v| v as usize)
                .ok_or_else(|| ConfigError(format!("missing {arch}.{key}")))
        };
        let float = |key: &str, default: f32| match get(key) {
            Some(MetaValue::F64(v)) => *v as f32,
            _ => default,
        };
        let hidden = int("embedding_length")?;
        let heads = int("attention.head_count")?;
        let vocab = match get("vocab_size").and_then(MetaValue::as_u64) {
            Some(v) => v as usize,
            None => match file.metadata.get("tokenizer.ggml.tokens") {
                Some(MetaValue::Array(tokens)) => tokens.len(),
                _ => return Err(ConfigError("no vocabulary size".into())),
            },
        };
        let config = Self {
            family,
            hidden,
            layers: int("block_count")?,
            heads,
            kv_heads: int("attention.head_count_kv").unwrap_or(heads),
            head_dim: int("attention.key_length").unwrap_or(hidden / heads.max(1)),
            intermediate: int("feed_forward_length")?,
            vocab,
            context: int("context_length")?,
            rms_eps: float("attention.layer_norm_rms_epsilon", 1e-6),
            rope_theta: float("rope.freq_base", 10_000.0),
            rope_scaling: None,
            tied_embeddings: file.tensor("output.weight").is_none(),
            qkv_bias: file.tensor("blk.0.attn_q.bias").is_some(),
            qk_norm: file.tensor("blk.0.attn_q_norm.weight").is_some(),
        };
        config.validate()
    }

    fn validate(self) -> Result<Self, ConfigError> {
        let fail = |why: String| Err(ConfigError(why));
        if [
            self.hidden,
            self.layers,
            self.heads,
            self.kv_heads,
            self.head_dim,
            self.intermediate,
            self.vocab,
            self.context,
        ]
        .contains(&0)
        {
            return fail(format!("a dimension is zero: {self:?}"));
        }
        if !self.heads.is_multiple_of(self.kv_heads) {
            return fail(format!(
                "{} query heads do not group evenly into {} key/value heads",
                self.heads, self.kv_heads
            ));
        }
        if !self.head_dim.is_multiple_of(2) {
            return fail(format!(
                "head dimension {} is odd; rotary embedding needs pairs",
                self.head_dim
            ));
        }
        if !(self.rms_eps > 0.0 && self.rope_theta > 0.0) {
            return fail("rms_norm_eps and rope_theta must be positive".into());
        }
        Ok(self)
    }

    /// Query heads per key/value head.
    pub fn group_size(&self) -> usize {
        self.heads / self.kv_heads
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_families_from_hf_config() {
        let llama3 = r#"{"model_type":"llama","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,
            "num_key_value_heads":2,"intermediate_size":128,"vocab_size":300,"max_position_embeddings":256,
            "rms_norm_eps":1e-5,"rope_theta":500000.0,"tie_word_embeddings":true,
            "rope_scaling":{"rope_type":"llama3","factor":8.0,"low_freq_factor":1.0,"high_freq_factor":4.0,"original_max_position_embeddings":8192}}"#;
        let c = ModelConfig::from_hf_json(llama3).unwrap();
        assert_eq!(
            (
                c.family,
                c.head_dim,
                c.group_size(),
                c.tied_embeddings,
                c.qkv_bias
            ),
            (Family::Llama, 16, 2, true, false)
        );
        assert_eq!(c.rope_scaling.as_ref().unwrap().factor, 8.0);
        let qwen2 = r#"{"model_type":"qwen2","hidden_size":64,"num_hidden_layers":2,"num_attention_heads":4,
            "num_key_value_heads":1,"intermediate_size":128,"vocab_size":300,"max_position_embeddings":256}"#;
        let q = ModelConfig::from_hf_json(qwen2).unwrap();
        assert!(q.qkv_bias && !q.qk_norm && q.group_size() == 4);
        let qwen3 = r#"{"model_type":"qwen3","hidden_size":64,"head_dim":32,"num_hidden_layers":2,"num_attention_heads":4,
            "num_key_value_heads":2,"intermediate_size":128,"vocab_size":300,"max_position_embeddings":256}"#;
        let q3 = ModelConfig::from_hf_json(qwen3).unwrap();
        assert!(q3.qk_norm && q3.head_dim == 32);
    }

    #[test]
    fn refuses_inconsistent_or_unknown_models() {
        let bad_groups = r#"{"model_type":"llama","hidden_size":60,"num_hidden_layers":2,"num_attention_heads":6,
            "num_key_value_heads":4,"intermediate_size":128,"vocab_size":300,"max_position_embeddings":256}"#;
        assert!(
            ModelConfig::from_hf_json(bad_groups)
                .unwrap_err()
                .0
                .contains("group evenly")
        );
        let gpt2 = r#"{"model_type":"gpt2"}"#;
        assert!(
            ModelConfig::from_hf_json(gpt2)
                .unwrap_err()
                .0
                .contains("not supported")
        );
        assert!(ModelConfig::from_hf_json("{").is_err());
        let missing = r#"{"model_type":"llama","hidden_size":64}"#;
        assert!(
            ModelConfig::from_hf_json(missing)
                .unwrap_err()
                .0
                .contains("missing")
        );
    }
}
