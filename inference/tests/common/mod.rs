//! Helpers shared by the tests over the tiny reference models (fixtures/models).

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;

use airlock_inference::config::ModelConfig;
use airlock_inference::file_image::FileImage;
use airlock_inference::generate::{Forward, Request, generate};
use airlock_inference::gguf::GgufFile;
use airlock_inference::model::{LoadFormat, Weights, load_gguf, load_safetensors};
use airlock_inference::safetensors::SafeTensors;
use airlock_inference::sampling::SamplingParams;
use airlock_inference::tokenizer::Tokenizer;
use serde_json::Value;

/// The fixture folder of one family.
pub fn dir(family: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/models")
        .join(family)
}

/// The family's reference.json (prompt, transformers logits and greedy tokens).
pub fn reference(family: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir(family).join("reference.json")).unwrap())
        .unwrap()
}

/// A JSON array of token ids.
pub fn ids(value: &Value) -> Vec<u32> {
    value
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect()
}

fn gguf(family: &str, label: &str) -> (FileImage, GgufFile) {
    let bytes = FileImage::map(&dir(family).join(format!("model-{label}.gguf"))).unwrap();
    let file = GgufFile::parse(bytes.bytes()).unwrap();
    (bytes, file)
}

/// Weights of `model-<label>.gguf`.
pub fn gguf_weights(family: &str, label: &str) -> Weights {
    let (bytes, file) = gguf(family, label);
    load_gguf(&bytes, &file).unwrap()
}

/// The tokenizer embedded in `model-<label>.gguf`.
pub fn gguf_tokenizer(family: &str, label: &str) -> Tokenizer {
    Tokenizer::from_gguf(&gguf(family, label).1).unwrap()
}

/// Weights of a safetensors file with the family's config.json.
pub fn safetensors_weights(family: &str, file: &str, format: LoadFormat) -> Weights {
    let config = ModelConfig::from_hf_json(
        &std::fs::read_to_string(dir(family).join("config.json")).unwrap(),
    )
    .unwrap();
    let bytes = std::fs::read(dir(family).join(file)).unwrap();
    let parsed = SafeTensors::parse(&bytes).unwrap();
    load_safetensors(&bytes, &parsed, config, format).unwrap()
}

/// `count` greedy tokens after `prompt`.
pub fn greedy(model: &mut dyn Forward, prompt: &[u32], count: usize) -> Vec<u32> {
    let request = Request {
        prompt: prompt.to_vec(),
        max_tokens: count,
        sampling: SamplingParams::default(),
        stop_tokens: vec![],
        stop_strings: vec![],
        tools: None,
    };
    generate(
        model,
        &|_| vec![],
        &request,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap()
    .tokens
}
