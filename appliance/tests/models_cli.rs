//! `airlock models import | list | verify | remove | fit` as a person runs them, on the tiny
//! fixture models: hashes, manifest, damage detection, refusals, and the fit table.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixture(family: &str, file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../inference/tests/fixtures/models")
        .join(family)
        .join(file)
}

fn airlock(store: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("models")
        .arg("--store")
        .arg(store)
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn import_list_verify_remove() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let source_dir = dir.path().join("downloads");
    std::fs::create_dir(&source_dir).unwrap();
    let model = source_dir.join("tiny-chat.gguf");
    std::fs::copy(fixture("qwen2", "model-chat-fim-q8_0.gguf"), &model).unwrap();
    let out = airlock(&store, &["import", model.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("hard-linked"),
        "same filesystem: {}",
        text(&out)
    );
    let expected = sha256(&model);
    assert!(text(&out).contains(&expected));

    let manifest: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(store.join("manifest.json")).unwrap())
            .unwrap();
    let entry = &manifest["models"][0];
    assert_eq!(entry["name"], "tiny-chat.gguf");
    assert_eq!(entry["sha256"], expected.as_str());
    assert_eq!(entry["bytes"], std::fs::metadata(&model).unwrap().len());
    assert_eq!(entry["info"]["family"], "qwen2");
    assert_eq!(entry["info"]["context_length"], 1024);
    assert_eq!(entry["info"]["chat_template"], true);
    assert_eq!(entry["info"]["fim"], "qwen");
    assert_eq!(
        entry["info"]["quant_types"],
        serde_json::json!(["F32", "Q8_0"])
    );
    assert!(entry["info"]["params"].as_u64().unwrap() > 100_000);

    // Importing the same file again changes nothing; a different file under the name is refused.
    let again = airlock(&store, &["import", model.to_str().unwrap()]);
    assert!(again.status.success() && text(&again).contains("already in the store"));
    let other = source_dir.join("other.gguf");
    std::fs::copy(fixture("llama", "model-q8_0.gguf"), &other).unwrap();
    let clash = airlock(
        &store,
        &[
            "import",
            other.to_str().unwrap(),
            "--name",
            "tiny-chat.gguf",
        ],
    );
    assert!(!clash.status.success());
    assert!(
        text(&clash).contains("different model named tiny-chat.gguf"),
        "{}",
        text(&clash)
    );
    assert!(
        airlock(&store, &["import", other.to_str().unwrap()])
            .status
            .success()
    );

    let list = airlock(&store, &["list"]);
    assert!(list.status.success());
    let listed = text(&list);
    assert!(
        listed.contains("tiny-chat.gguf") && listed.contains("other.gguf"),
        "{listed}"
    );
    assert!(
        listed.contains("FIM (qwen)") && listed.contains("ok"),
        "{listed}"
    );

    assert!(airlock(&store, &["verify"]).status.success());

    // One byte changed in place (the store file is the same inode as the download).
    let mut bytes = std::fs::read(store.join("tiny-chat.gguf")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(store.join("tiny-chat.gguf"), &bytes).unwrap();
    let verify = airlock(&store, &["verify"]);
    assert_eq!(verify.status.code(), Some(1), "{}", text(&verify));
    assert!(
        text(&verify).contains("tiny-chat.gguf: DAMAGED"),
        "{}",
        text(&verify)
    );
    assert!(text(&verify).contains("other.gguf: ok"));

    // A truncated file is damaged already by its size.
    std::fs::write(store.join("other.gguf"), b"GGUF").unwrap();
    assert!(text(&airlock(&store, &["list"])).contains("DAMAGED: its size is 4 bytes"));

    let removed = airlock(&store, &["remove", "other.gguf"]);
    assert!(removed.status.success());
    assert!(!store.join("other.gguf").exists());
    assert!(!text(&airlock(&store, &["list"])).contains("other.gguf"));
    let missing = airlock(&store, &["remove", "other.gguf"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing).contains("no model named other.gguf"));

    // Every change made from the command line is in the store's own audit chain.
    let log = std::fs::read_to_string(store.join("audit/audit.jsonl")).unwrap();
    for needle in [
        "\"model.import\",\"target\":\"tiny-chat.gguf\"",
        "\"model.verify\",\"target\":\"tiny-chat.gguf\",\"outcome\":\"DAMAGED",
        "\"model.remove\",\"target\":\"other.gguf\",\"outcome\":\"ok\"",
        "\"model.remove\",\"target\":\"other.gguf\",\"outcome\":\"error",
    ] {
        assert!(log.contains(needle), "{needle} in {log}");
    }
    let verified = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["audit", "verify", "--dir"])
        .arg(store.join("audit"))
        .output()
        .unwrap();
    assert!(verified.status.success(), "{}", text(&verified));
}

#[test]
fn bad_input_is_refused_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let junk = dir.path().join("junk.gguf");
    std::fs::write(&junk, b"not a model at all").unwrap();
    let out = airlock(&store, &["import", junk.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out).contains("not a usable GGUF file"),
        "{}",
        text(&out)
    );
    let bad_name = dir.path().join("has space.gguf");
    std::fs::copy(fixture("llama", "model-q8_0.gguf"), &bad_name).unwrap();
    let out = airlock(&store, &["import", bad_name.to_str().unwrap()]);
    assert!(
        text(&out).contains("not a usable model name"),
        "{}",
        text(&out)
    );
    let absent = airlock(&store, &["import", "/no/such/file.gguf"]);
    assert!(
        text(&absent).contains("cannot read /no/such/file.gguf"),
        "{}",
        text(&absent)
    );
    // Only the store's audit chain, which records the refusals.
    let leftovers: Vec<_> = std::fs::read_dir(&store)
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name())
                .filter(|n| n != "audit" && n != "audit.key")
                .collect()
        })
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "nothing half-written: {leftovers:?}");
}

#[test]
fn fit_prints_the_table_and_sizes_a_team_server() {
    let dir = tempfile::tempdir().unwrap();
    let model = fixture("qwen2", "model-q8_0.gguf");
    let out = airlock(
        dir.path(),
        &[
            "fit",
            model.to_str().unwrap(),
            "--context",
            "128",
            "--vram",
            "8G",
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let table = text(&out);
    for line in [
        "weights",
        "KV cache",
        "activations",
        "total",
        "verdict       fits",
        "team server   1 GPU of 8.0 GiB",
    ] {
        assert!(table.contains(line), "{line} in {table}");
    }
    let json = airlock(
        dir.path(),
        &[
            "fit",
            model.to_str().unwrap(),
            "--context",
            "128",
            "--json",
            "--no-f16",
        ],
    );
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    // f32 KV: 2 layers × 128 positions × 2 heads × 16 dims × 4 bytes × (keys + values).
    assert_eq!(value["fit"]["kv_cache"], 2 * 128 * 2 * 16 * 4 * 2);
    let too_long = airlock(
        dir.path(),
        &["fit", model.to_str().unwrap(), "--context", "100000"],
    );
    assert_eq!(too_long.status.code(), Some(1));
    assert!(
        text(&too_long).contains("trained for 256 positions"),
        "{}",
        text(&too_long)
    );
    let tiny_binding = airlock(
        dir.path(),
        &["fit", model.to_str().unwrap(), "--binding", "64"],
    );
    assert_eq!(tiny_binding.status.code(), Some(1));
    let bad = airlock(
        dir.path(),
        &["fit", model.to_str().unwrap(), "--vram", "lots"],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad).contains("not a size"), "{}", text(&bad));
}
