//! The `airlock-generate` binary end to end on a tiny fixture model: greedy tokens equal to
//! transformers' on the f32 CPU reference and the GPU engine (both KV-cache precisions), the
//! int8 CPU engine's pinned tokens (`fixtures/models/int8_greedy.json`), and clear refusals.

mod common;

use std::process::Command;

use common::{dir, ids, reference};

fn cli(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_airlock-generate"))
        .args(args)
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("airlock-generate runs")
}

/// The ids after `tokens: ` on stderr (`--show-tokens`).
fn shown_tokens(stderr: &str) -> Vec<u32> {
    let line = stderr
        .lines()
        .find_map(|l| l.strip_prefix("tokens: "))
        .unwrap_or_else(|| panic!("no tokens line in {stderr}"));
    serde_json::from_str(line).unwrap()
}

#[test]
fn greedy_tokens_match_transformers_on_every_engine_and_kv_cache() {
    let model = dir("llama").join("model-q8_0.gguf");
    let reference = reference("llama");
    let transformers = ids(&reference["cases"]["gguf-q8_0"]["greedy"]);
    let pinned: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir("").join("int8_greedy.json")).unwrap())
            .unwrap();
    let int8 = ids(&pinned["llama"]);
    let prompt = reference["prompt"].as_str().unwrap();
    for (extra, expected) in [
        (&["--engine", "cpu-reference"][..], &transformers),
        (&["--engine", "cpu"], &int8),
        (&["--engine", "gpu", "--kv-cache", "f32"], &transformers),
        (&["--engine", "gpu"], &transformers),
    ] {
        let mut args = vec![
            "--model",
            model.to_str().unwrap(),
            "--prompt",
            prompt,
            "--max-tokens",
            "8",
            "--temperature",
            "0",
            "--show-tokens",
        ];
        args.extend_from_slice(extra);
        let out = cli(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{extra:?}: {stderr}");
        assert_eq!(shown_tokens(&stderr), expected[..8], "{extra:?}");
        assert!(stderr.contains("decode"), "speeds are printed: {stderr}");
        assert!(!out.stdout.is_empty(), "the continuation is printed");
    }
}

#[test]
fn bad_arguments_and_files_are_clear_errors() {
    let model = dir("llama").join("model-q8_0.gguf");
    let model = model.to_str().unwrap();
    for (args, expected) in [
        (vec!["--prompt", "x"], "--model is required"),
        (
            vec!["--model", model, "--prompt", "x", "--kv-cache", "f8"],
            "--kv-cache",
        ),
        (
            vec!["--model", model, "--prompt", "x", "--temperature", "-1"],
            "temperature",
        ),
        (
            vec!["--model", model, "--prompt", "x", "--max-tokens", "many"],
            "not a valid number",
        ),
        (
            vec!["--model", "/nonexistent/model.gguf", "--prompt", "x"],
            "/nonexistent/model.gguf",
        ),
        (
            vec!["--model", model, "--prompt", "x", "--frobnicate"],
            "unknown option",
        ),
    ] {
        let out = cli(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}
