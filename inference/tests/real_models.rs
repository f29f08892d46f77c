//! Real models from registry packages (see shared/README.md), located by `cargo xtask test`
//! (downloaded once into a cache outside the checkout, sha256-verified) and passed in
//! `AIRLOCK_SMOLLM2_GGUF`. Ignored by default: `cargo test -- --ignored` runs them.

use airlock_inference::config::{Family, ModelConfig};
use airlock_inference::gguf::{GgmlType, GgufFile, dequantize};

fn smollm2() -> Vec<u8> {
    let path = std::env::var("AIRLOCK_SMOLLM2_GGUF").expect(
        "AIRLOCK_SMOLLM2_GGUF names SmolLM2-135M-Instruct.Q4_1.gguf (cargo xtask test sets it)",
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
#[ignore = "needs the SmolLM2 model file; cargo xtask test provides it"]
fn smollm2_q4_1_parses_and_every_tensor_dequantizes() {
    let bytes = smollm2();
    let file = GgufFile::parse(&bytes).unwrap();
    let meta = &file.metadata;
    assert_eq!(meta["general.architecture"].as_str(), Some("llama"));
    assert_eq!(meta["llama.block_count"].as_u64(), Some(30));
    assert_eq!(meta["llama.embedding_length"].as_u64(), Some(576));
    assert_eq!(meta["tokenizer.ggml.model"].as_str(), Some("gpt2"));
    let vocab = match &meta["tokenizer.ggml.tokens"] {
        airlock_inference::gguf::MetaValue::Array(tokens) => tokens.len(),
        other => panic!("tokens: {other:?}"),
    };
    assert_eq!(vocab, 49152);
    assert_eq!(
        file.tensors.len(),
        272,
        "30 blocks × 9 tensors + token embedding + output norm"
    );
    let mut seen = std::collections::BTreeSet::new();
    for tensor in &file.tensors {
        let data = file.tensor_bytes(&bytes, tensor).unwrap();
        let values = dequantize(tensor.ggml_type, data, tensor.elements() as usize).unwrap();
        assert!(
            values.iter().all(|v| v.is_finite()),
            "{} has non-finite weights",
            tensor.name
        );
        seen.insert(format!("{:?}", tensor.ggml_type));
    }
    assert!(seen.contains(&format!("{:?}", GgmlType::Q4_1)), "{seen:?}");
    let config = ModelConfig::from_gguf(&file).unwrap();
    assert_eq!(
        (
            config.family,
            config.layers,
            config.hidden,
            config.heads,
            config.kv_heads
        ),
        (Family::Llama, 30, 576, 9, 3)
    );
    assert_eq!(
        (
            config.head_dim,
            config.intermediate,
            config.vocab,
            config.context
        ),
        (64, 1536, 49152, 8192)
    );
    assert!(
        config.tied_embeddings,
        "SmolLM2 ties its output projection to the embedding"
    );
    assert!(!config.qkv_bias && !config.qk_norm);
}
