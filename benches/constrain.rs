//! Bench: the cost per token of schema-constrained tool calls (`inference/src/constrain.rs`)
//! with real tokenizers. A realistic call (`apply_edit` writing a small Python file) is
//! tokenized and replayed token by token; at each step the logits are random with the real next
//! token ranked first (the usual case: the model already wants a valid token) or below 200 tokens the
//! language does not allow there (the mask finds none of its first 64 candidates valid and
//! scans the whole vocabulary). Prints one
//! JSON object: microseconds per token for masking plus accepting, and candidates checked.
//! `cargo xtask bench` runs it on SmolLM2 (and Qwen2.5-Coder when cached); directly:
//! `cargo run --release -p airlock-benches --bin bench-constrain -- FILE.gguf [FILE.gguf…]`

use std::time::Instant;

use airlock_inference::constrain::{Constraint, ToolGrammar};
use airlock_inference::file_image::FileImage;
use airlock_inference::gguf::GgufFile;
use airlock_inference::sampling::{Rng, argmax};
use airlock_inference::tokenizer::Tokenizer;
use serde_json::{Value, json};

const CALL: &str = "\n{\"name\": \"apply_edit\", \"arguments\": {\"path\": \"hello.py\", \"content\": \"def main():\\n    print(\\\"hello\\\")\\n\\n\\nif __name__ == \\\"__main__\\\":\\n    main()\\n\"}}\n</tool_call>";

/// Replays `ids` (the call's tokens) under the constraint with the right token at `rank`.
fn replay(tokenizer: &Tokenizer, grammar: &ToolGrammar, ids: &[u32], rank: usize) -> Value {
    let vocab = tokenizer.vocab_size();
    let bytes = |t: u32| tokenizer.token_bytes(t);
    let stops: Vec<u32> = tokenizer.eos.iter().copied().collect();
    let is_stop = |t: u32| stops.contains(&t);
    let mut rng = Rng::new(1);
    let mut constraint = Constraint::new(grammar);
    constraint.accept(b"<tool_call>");
    let (mut micros, mut checked, mut agreed) = (0.0, 0usize, 0usize);
    for &want in ids {
        let mut logits: Vec<f32> = (0..vocab).map(|_| rng.next_f32()).collect();
        // The wanted token sits at `rank` among the logits, below `rank` tokens the call's
        // language does not allow here (`rank` 0: the model's top choice is valid).
        let top: f32 = 2.0;
        let mut above = 0;
        while above < rank {
            let t = (rng.next_u64() % vocab as u64) as u32;
            if t != want && !is_stop(t) && !constraint.allows(Some(&bytes(t))) {
                logits[t as usize] = top + 1.0 + above as f32 * 1e-3;
                above += 1;
            }
        }
        logits[want as usize] = top;
        let started = Instant::now();
        checked += constraint.mask(&mut logits, &bytes, &is_stop);
        let pick = argmax(&logits);
        constraint.accept(&bytes(want));
        micros += started.elapsed().as_secs_f64() * 1e6;
        agreed += usize::from(pick == want);
    }
    assert!(!constraint.in_call(), "the call completed");
    json!({
        "rank_of_wanted_token": rank,
        "tokens": ids.len(),
        "us_per_token": micros / ids.len() as f64,
        "candidates_checked_per_token": checked as f64 / ids.len() as f64,
        "picked_the_wanted_token": agreed,
    })
}

fn main() {
    let files: Vec<String> = std::env::args()
        .skip(1)
        .chain(std::env::var("AIRLOCK_SMOLLM2_GGUF").ok())
        .collect();
    assert!(
        !files.is_empty(),
        "FILE.gguf arguments (or AIRLOCK_SMOLLM2_GGUF)"
    );
    let grammar = ToolGrammar::from_declarations(&airlock_protocol::tools::declarations())
        .expect("the agent's tools can be constrained");
    let mut results = Vec::new();
    for file in files.iter().take(2) {
        let image = FileImage::map(std::path::Path::new(file)).expect("model file");
        let gguf = GgufFile::parse(image.bytes()).expect("GGUF");
        let tokenizer = Tokenizer::from_gguf(&gguf).expect("tokenizer");
        let ids = tokenizer.encode(CALL).expect("tokenize");
        results.push(json!({
            "model": std::path::Path::new(file).file_name().map(|n| n.to_string_lossy().into_owned()),
            "vocab": tokenizer.vocab_size(),
            "top_choice_valid": replay(&tokenizer, &grammar, &ids, 0),
            "top_200_not_allowed": replay(&tokenizer, &grammar, &ids, 200),
        }));
    }
    println!(
        "{}",
        json!({ "bench": "constrained_tool_calls", "results": results })
    );
}
