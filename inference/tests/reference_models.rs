//! The engine against `transformers` on tiny random Llama / Qwen2 / Qwen3 models
//! (fixtures/models, written by make_tiny_models.py): logits within 1e-3 of the logit range at
//! the recorded prompt positions and the same greedy continuation, for f32 and f16 safetensors
//! and for every GGUF block type; plus the GGUF tokenizer against the HF tokenizer's ids.

mod common;

use airlock_inference::model::{CpuModel, LoadFormat};
use airlock_inference::tokenizer::Tokenizer;
use common::{dir, gguf_tokenizer, gguf_weights, greedy, ids, reference, safetensors_weights};
use serde_json::Value;

const FAMILIES: [&str; 3] = ["llama", "qwen2", "qwen3"];
const GGUF_TYPES: [&str; 6] = ["f16", "q8_0", "q4_0", "q4_1", "q4_k", "q6_k"];

fn safetensors_model(family: &str, file: &str, format: LoadFormat) -> CpuModel {
    CpuModel::new(safetensors_weights(family, file, format), 256)
}

fn gguf_model(family: &str, label: &str) -> (CpuModel, Tokenizer) {
    (
        CpuModel::new(gguf_weights(family, label), 256),
        gguf_tokenizer(family, label),
    )
}

/// Largest |ours − reference| over the recorded positions, divided by the reference logit range.
fn scaled_error(model: &mut CpuModel, prompt: &[u32], case: &Value) -> f32 {
    let all = model.forward_all(prompt, 0, true).unwrap();
    let positions = ids(&case["positions"]);
    let mut worst = 0f32;
    for (p, expected) in positions.iter().zip(case["logits"].as_array().unwrap()) {
        let expected: Vec<f32> = expected
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap() as f32)
            .collect();
        let got = &all[*p as usize];
        assert_eq!(got.len(), expected.len());
        let (lo, hi) = expected
            .iter()
            .fold((f32::MAX, f32::MIN), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        let diff = got
            .iter()
            .zip(&expected)
            .fold(0f32, |m, (a, b)| m.max((a - b).abs()));
        worst = worst.max(diff / (hi - lo));
    }
    worst
}

fn check(family: &str, case_name: &str, model: &mut CpuModel) {
    let reference = reference(family);
    let prompt = ids(&reference["prompt_ids"]);
    let case = &reference["cases"][case_name];
    let error = scaled_error(model, &prompt, case);
    assert!(
        error < 1e-3,
        "{family} {case_name}: logits off by {error} of the range"
    );
    let expected = ids(&case["greedy"]);
    assert_eq!(expected.len(), 32);
    let got = greedy(model, &prompt, expected.len());
    assert_eq!(
        got, expected,
        "{family} {case_name}: greedy continuation differs"
    );
}

#[test]
fn f32_safetensors_match_transformers_for_every_family() {
    for family in FAMILIES {
        check(
            family,
            "f32",
            &mut safetensors_model(family, "model.safetensors", LoadFormat::F32),
        );
    }
}

#[test]
fn f16_safetensors_match_transformers_for_every_family() {
    for family in FAMILIES {
        check(
            family,
            "f16",
            &mut safetensors_model(family, "model-f16.safetensors", LoadFormat::F32),
        );
    }
}

#[test]
fn every_gguf_block_type_matches_transformers_on_the_dequantized_weights() {
    for family in FAMILIES {
        for label in GGUF_TYPES {
            let (mut model, _) = gguf_model(family, label);
            check(family, &format!("gguf-{label}"), &mut model);
        }
    }
}

#[test]
fn int8_load_stays_close_to_the_f32_reference() {
    for family in FAMILIES {
        let reference = reference(family);
        let prompt = ids(&reference["prompt_ids"]);
        let mut model = safetensors_model(family, "model.safetensors", LoadFormat::Int8);
        let error = scaled_error(&mut model, &prompt, &reference["cases"]["f32"]);
        let mut int4 = safetensors_model(family, "model.safetensors", LoadFormat::Int4);
        let error4 = scaled_error(&mut int4, &prompt, &reference["cases"]["f32"]);
        eprintln!("{family}: int8 {error}, int4 {error4} of the logit range");
        assert!(
            error < 0.05,
            "{family}: int8 logits off by {error} of the range"
        );
        assert!(
            error4 > error,
            "int4 ({error4}) should lose more than int8 ({error})"
        );
        assert!(
            error4 < 0.5,
            "{family}: int4 logits off by {error4} of the range"
        );
    }
}

#[test]
fn gguf_tokenizer_matches_the_hugging_face_tokenizer() {
    for family in FAMILIES {
        let reference = reference(family);
        let (_, tokenizer) = gguf_model(family, "q8_0");
        let prompt = reference["prompt"].as_str().unwrap();
        assert_eq!(
            tokenizer.encode(prompt).unwrap(),
            ids(&reference["prompt_ids"]),
            "{family}"
        );
        assert_eq!(tokenizer.decode(&ids(&reference["prompt_ids"])), prompt);
    }
}

#[test]
fn tokenizer_json_matches_the_hugging_face_tokenizer() {
    for family in FAMILIES {
        let reference = reference(family);
        let text = std::fs::read_to_string(dir(family).join("tokenizer.json")).unwrap();
        let tokenizer = Tokenizer::from_tokenizer_json(&text).unwrap();
        let prompt = reference["prompt"].as_str().unwrap();
        assert_eq!(
            tokenizer.encode(prompt).unwrap(),
            ids(&reference["prompt_ids"]),
            "{family}"
        );
        assert_eq!(tokenizer.eos, tokenizer.token_id("<|endoftext|>"));
    }
}

#[test]
fn a_prompt_longer_than_the_context_is_an_error_not_a_crash() {
    let (mut model, _) = gguf_model("llama", "q8_0");
    let long = vec![1u32; 300];
    let error = model.forward(&long, 0).unwrap_err();
    assert!(
        error.to_string().contains("context length exceeded"),
        "{error}"
    );
    assert!(
        model
            .forward(&[9999], 0)
            .unwrap_err()
            .to_string()
            .contains("outside the vocabulary")
    );
}

/// The two largest values of `logits`, and the index of the largest.
fn top_two(logits: &[f32]) -> (usize, f32, f32) {
    let mut best = (0, f32::MIN, f32::MIN);
    for (i, v) in logits.iter().enumerate() {
        if *v > best.1 {
            best = (i, *v, best.1);
        } else if *v > best.2 {
            best.2 = *v;
        }
    }
    best
}

/// The int8 products on every GGUF block type: logits near transformers', and, teacher-forced
/// along the reference's greedy continuation, the same argmax wherever the reference's lead
/// over the runner-up is clearly larger than int8 rounding (random tiny models have near-ties
/// that any activation rounding flips, llama.cpp's included).
#[test]
fn int8_products_keep_every_gguf_block_type_near_transformers_and_its_clear_choices() {
    use airlock_inference::model::cpu::Products;
    for family in FAMILIES {
        for label in GGUF_TYPES {
            let reference = reference(family);
            let prompt = ids(&reference["prompt_ids"]);
            let case = &reference["cases"][&format!("gguf-{label}")];
            let weights = gguf_weights(family, label);
            let mut int8 = CpuModel::with_products(weights.clone(), 256, Products::Int8);
            let error = scaled_error(&mut int8, &prompt, case);
            assert!(
                error < 0.04,
                "{family} {label}: logits off by {error} of the range"
            );
            let expected = ids(&case["greedy"]);
            let mut forced = prompt.clone();
            forced.extend(&expected[..expected.len() - 1]);
            let mut f32_model = CpuModel::new(weights, 256);
            let want = f32_model.forward_all(&forced, 0, true).unwrap();
            let got = int8.forward_all(&forced, 0, true).unwrap();
            let (mut clear, mut agree) = (0, 0);
            for (step, token) in expected.iter().enumerate() {
                let at = prompt.len() - 1 + step;
                let (best, first, second) = top_two(&want[at]);
                assert_eq!(
                    best as u32, *token,
                    "{family} {label}: the reference's own choice"
                );
                let range = first - want[at].iter().fold(f32::MAX, |m, v| m.min(*v));
                if first - second > 2.0 * error * range {
                    clear += 1;
                    agree += usize::from(top_two(&got[at]).0 as u32 == *token);
                }
            }
            eprintln!(
                "{family} {label}: int8 off by {error} of the range; {agree} of {clear} clear choices kept"
            );
            assert!(
                clear >= 8,
                "{family} {label}: only {clear} clear choices to check"
            );
            assert_eq!(agree, clear, "{family} {label}: a clear choice changed");
        }
    }
}

#[test]
fn the_int8_engines_greedy_tokens_of_the_browser_fixtures_are_pinned() {
    use airlock_inference::model::cpu::Products;
    let pinned: Value =
        serde_json::from_str(&std::fs::read_to_string(dir("").join("int8_greedy.json")).unwrap())
            .unwrap();
    for (family, label) in [("llama", "q8_0"), ("qwen2", "q6_k"), ("qwen3", "q4_k")] {
        let prompt = ids(&reference(family)["prompt_ids"]);
        let weights = gguf_weights(family, label);
        let mut int8 = CpuModel::with_products(weights, 256, Products::Int8);
        assert_eq!(
            greedy(&mut int8, &prompt, 32),
            ids(&pinned[family]),
            "{family} {label}: the browser e2e suite checks its CPU engine against these"
        );
    }
}
