//! GGUF tensor names, spelled once: the loader reads each tensor by them (`weights.rs`) and the
//! GPU engine places each tensor's bytes by them as a streamed model arrives (`gpu/model/`).

/// The token embedding.
pub const TOKEN_EMBD: &str = "token_embd.weight";
/// The output projection (absent when tied to the embedding).
pub const OUTPUT: &str = "output.weight";
/// The final RMSNorm.
pub const OUTPUT_NORM: &str = "output_norm.weight";
/// Llama 3's per-frequency RoPE divisors.
pub const ROPE_FREQS: &str = "rope_freqs.weight";

/// A tensor every transformer block has (or may have).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Block {
    /// RMSNorm before attention.
    AttnNorm,
    /// Query projection.
    Q,
    /// Key projection.
    K,
    /// Value projection.
    V,
    /// Attention output projection.
    Output,
    /// Query bias (Qwen2).
    QBias,
    /// Key bias (Qwen2).
    KBias,
    /// Value bias (Qwen2).
    VBias,
    /// Per-head query RMSNorm (Qwen3).
    QNorm,
    /// Per-head key RMSNorm (Qwen3).
    KNorm,
    /// RMSNorm before the feed-forward block.
    FfnNorm,
    /// Feed-forward gate projection.
    Gate,
    /// Feed-forward up projection.
    Up,
    /// Feed-forward down projection.
    Down,
}

impl Block {
    /// The tensor's name in block `layer`, e.g. `blk.3.attn_q.weight`.
    pub fn of(self, layer: usize) -> String {
        let suffix = match self {
            Block::AttnNorm => "attn_norm.weight",
            Block::Q => "attn_q.weight",
            Block::K => "attn_k.weight",
            Block::V => "attn_v.weight",
            Block::Output => "attn_output.weight",
            Block::QBias => "attn_q.bias",
            Block::KBias => "attn_k.bias",
            Block::VBias => "attn_v.bias",
            Block::QNorm => "attn_q_norm.weight",
            Block::KNorm => "attn_k_norm.weight",
            Block::FfnNorm => "ffn_norm.weight",
            Block::Gate => "ffn_gate.weight",
            Block::Up => "ffn_up.weight",
            Block::Down => "ffn_down.weight",
        };
        format!("blk.{layer}.{suffix}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_tensors_are_named_as_gguf_files_name_them() {
        assert_eq!(Block::Q.of(0), "blk.0.attn_q.weight");
        assert_eq!(Block::KNorm.of(27), "blk.27.attn_k_norm.weight");
        assert_eq!(Block::VBias.of(3), "blk.3.attn_v.bias");
        assert_eq!(Block::Down.of(1), "blk.1.ffn_down.weight");
    }
}
