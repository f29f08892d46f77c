//! Bench: how long the workspace tree listing takes on a 50,000-file workspace (the size
//! the IDE must stay fast on). Prints one JSON object; run with
//! `cargo run --release -p airlock-benches --bin bench-tree`.

use std::time::Instant;

use airlock_appliance::workspace::WorkspaceRoot;
use airlock_appliance::workspace::tree::{MAX_TREE_ENTRIES, list_tree};

/// Files in the synthetic workspace.
const FILES: usize = 50_000;
/// Files per folder.
const PER_DIR: usize = 100;
/// Timed repetitions after one warm-up.
const RUNS: usize = 5;

fn main() {
    let dir = tempfile::tempdir().expect("tempdir");
    for i in 0..FILES {
        let folder = dir.path().join(format!("pkg{:03}/src", i / PER_DIR));
        if i % PER_DIR == 0 {
            std::fs::create_dir_all(&folder).expect("mkdir");
        }
        std::fs::write(folder.join(format!("file{i}.rs")), "fn f() {}\n").expect("write");
    }
    std::fs::write(dir.path().join(".gitignore"), "target/\n").expect("write");
    let root = WorkspaceRoot::open(dir.path()).expect("open");
    let warm = list_tree(&root, MAX_TREE_ENTRIES);
    let mut timings = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let listing = list_tree(&root, MAX_TREE_ENTRIES);
        timings.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(listing.entries.len(), warm.entries.len());
    }
    timings.sort_by(f64::total_cmp);
    let json_bytes = serde_json::to_vec(
        &warm
            .entries
            .iter()
            .map(|e| (&e.path, e.kind, e.size))
            .collect::<Vec<_>>(),
    )
    .map(|v| v.len())
    .unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "bench": "tree_listing",
            "files": FILES,
            "entries": warm.entries.len(),
            "truncated": warm.truncated,
            "median_ms": timings[RUNS / 2],
            "min_ms": timings[0],
            "max_ms": timings[RUNS - 1],
            "approx_json_bytes": json_bytes,
        })
    );
}
