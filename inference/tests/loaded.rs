//! Opening model files natively: memory-mapped, with the same weights as reading the file into
//! memory, and a clear error (never a panic) for a missing, empty or cut-off file.

mod common;

use airlock_inference::loaded::{EngineKind, LoadedModel};
use common::{dir, greedy, ids, reference};

#[test]
fn a_mapped_file_gives_the_same_tokens_as_one_read_into_memory() {
    let path = dir("llama").join("model-q8_0.gguf");
    let prompt = ids(&reference("llama")["prompt_ids"]);
    let mapped = LoadedModel::open(&path).unwrap();
    let read = LoadedModel::from_gguf_bytes(std::fs::read(&path).unwrap()).unwrap();
    let tokens = |model: &LoadedModel| {
        let mut engine = model.engine(EngineKind::CpuReference, 64).unwrap();
        greedy(engine.as_mut(), &prompt, 12)
    };
    let expected = ids(&reference("llama")["cases"]["gguf-q8_0"]["greedy"]);
    assert_eq!(tokens(&mapped), expected[..12]);
    assert_eq!(tokens(&read), expected[..12]);
}

#[test]
fn missing_empty_and_cut_off_files_are_clear_errors() {
    let scratch = std::env::temp_dir().join(format!("airlock-loaded-{}", std::process::id()));
    std::fs::create_dir_all(&scratch).unwrap();
    let error = |path: &std::path::Path| match LoadedModel::open(path) {
        Ok(_) => panic!("{} opened", path.display()),
        Err(e) => e.to_string(),
    };
    let missing = scratch.join("absent.gguf");
    assert!(
        error(&missing).contains("absent.gguf"),
        "{}",
        error(&missing)
    );
    let empty = scratch.join("empty.gguf");
    std::fs::write(&empty, b"").unwrap();
    assert!(
        error(&empty).to_lowercase().contains("truncated"),
        "{}",
        error(&empty)
    );
    let whole = std::fs::read(dir("llama").join("model-q8_0.gguf")).unwrap();
    let cut = scratch.join("cut.gguf");
    std::fs::write(&cut, &whole[..whole.len() / 2]).unwrap();
    let message = error(&cut);
    assert!(
        message.contains("truncated") || message.contains("beyond") || message.contains("end"),
        "{message}"
    );
    std::fs::remove_dir_all(&scratch).unwrap();
}
