//! Real models from registry packages (see shared/README.md), located by `cargo xtask test`
//! (downloaded once into a cache outside the checkout, sha256-verified) and passed in
//! `AIRLOCK_SMOLLM2_GGUF`, `AIRLOCK_TINYCODER_GGUF` and (opt-in) `AIRLOCK_QWEN_CODER_GGUF`.
//! Ignored by default: `cargo test -- --ignored` runs them.

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

/// Checks tokenizer and greedy continuation of a real model against
/// fixtures/real/<name>.json (made by make_real_references.py).
fn check_against_references(name: &str, path: &str) {
    use airlock_inference::generate::{Request, generate};
    use airlock_inference::loaded::{EngineKind, LoadedModel};
    use airlock_inference::sampling::SamplingParams;
    use std::sync::atomic::AtomicBool;

    let fixture = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(format!("tests/fixtures/real/{name}.json"));
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture).unwrap()).unwrap();
    let ids = |v: &serde_json::Value| -> Vec<u32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_u64().unwrap() as u32)
            .collect()
    };
    let loaded = LoadedModel::open(std::path::Path::new(path)).unwrap();
    for case in reference["tokenizer"].as_array().unwrap() {
        let text = case["text"].as_str().unwrap();
        let ours = if case["special"].as_bool().unwrap() {
            loaded.tokenizer.encode_with_special(text).unwrap()
        } else {
            loaded.tokenizer.encode(text).unwrap()
        };
        assert_eq!(ours, ids(&case["ids"]), "{name}: tokens of {text:?}");
        assert_eq!(loaded.tokenizer.decode(&ours), text, "{name}: round trip");
    }
    let engines = [EngineKind::CpuReference, EngineKind::Cpu, EngineKind::Gpu];
    for (kind, case) in engines.iter().flat_map(|k| {
        reference["greedy"]
            .as_array()
            .unwrap()
            .iter()
            .map(move |c| (*k, c))
    }) {
        let mut engine = loaded.engine(kind, 512).unwrap();
        let expected = ids(&case["transformers"]);
        let request = Request {
            prompt: ids(&case["prompt_ids"]),
            max_tokens: expected.len(),
            sampling: SamplingParams::default(),
            stop_tokens: vec![],
            stop_strings: vec![],
            tools: None,
        };
        let got = generate(
            engine.as_mut(),
            &|_| vec![],
            &request,
            &AtomicBool::new(false),
            &mut |_| {},
        )
        .unwrap()
        .tokens;
        let label = case["label"].as_str().unwrap();
        assert!(expected.len() >= 16);
        assert_eq!(
            got, expected,
            "{name} {label} on {kind:?}: greedy continuation"
        );
        let llama_cpp = ids(&case["llama_cpp"]);
        let agree = got
            .iter()
            .zip(&llama_cpp)
            .take_while(|(a, b)| a == b)
            .count();
        eprintln!(
            "{name} {label} on {kind:?}: equal to transformers; first {agree} tokens equal llama.cpp's"
        );
    }
}

#[test]
#[ignore = "needs the SmolLM2 model file; cargo xtask test provides it"]
fn smollm2_tokens_and_greedy_continuations_match_the_references() {
    let path = std::env::var("AIRLOCK_SMOLLM2_GGUF").expect("AIRLOCK_SMOLLM2_GGUF");
    check_against_references("smollm2", &path);
}

#[test]
#[ignore = "needs the tinycoder file; cargo xtask test provides it"]
fn sentencepiece_tokens_match_llama_cpp() {
    let path = std::env::var("AIRLOCK_TINYCODER_GGUF").expect("AIRLOCK_TINYCODER_GGUF");
    check_against_references("tinycoder-spm", &path);
}

#[test]
#[ignore = "opt-in: needs the 491 MB Qwen2.5-Coder file (cargo xtask test --qwen provides it)"]
fn qwen_coder_tokens_and_greedy_continuations_match_the_references() {
    let path = std::env::var("AIRLOCK_QWEN_CODER_GGUF").expect("AIRLOCK_QWEN_CODER_GGUF");
    check_against_references("qwen2.5-coder", &path);
}
