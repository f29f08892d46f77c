#!/usr/bin/env bash
# One run of the CPU engine beside its peers on the same files and thread counts (issue #14):
# our native CPU engine (bench-engine --cpu-only: all cores and one thread), our page's CPU
# engine in headless Chromium (benches/browser.mjs), llama.cpp natively and wllama in the same
# Chromium (../shared/peers). SmolLM2-135M Q4_1 and Qwen2.5-Coder-0.5B Q4_K_M from
# ~/.cache/airlock/models (`cargo xtask models --qwen`). Run it on an idle machine: on two
# cores anything else running skews every line. Writes JSON into OUT (default a dated folder
# under benches/results/).
#   benches/cpu-vs-peers.sh [OUT]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/airlock/target}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
out="${1:-benches/results/$(date +%Y-%m-%d)}"
mkdir -p "$out"
models="${XDG_CACHE_HOME:-$HOME/.cache}/airlock/models"
smol="$models/SmolLM2-135M-Instruct.Q4_1.gguf"
qwen="$models/qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"
peers="${AIRLOCK_PEERS:-../shared/peers}"
cargo build --release -q -p airlock-benches --bin bench-engine
cargo xtask web
cargo build -q -p airlock-appliance --bin airlock
echo "load before: $(cat /proc/loadavg)" > "$out/run.log"
"$CARGO_TARGET_DIR/release/bench-engine" --model "$smol" --cpu-only > "$out/ours-native-smol.json"
"$CARGO_TARGET_DIR/release/bench-engine" --model "$qwen" --cpu-only > "$out/ours-native-qwen.json"
AIRLOCK_BIN="$CARGO_TARGET_DIR/debug/airlock" AIRLOCK_CHROMIUM=/usr/bin/chromium \
  AIRLOCK_SMOLLM2_GGUF="$smol" AIRLOCK_QWEN_CODER_GGUF="$qwen" node benches/browser.mjs > "$out/ours-browser.json"
"$peers/llamacpp.sh" "$smol" --threads 1,2 --reps 3 > "$out/llamacpp-smol.jsonl"
"$peers/llamacpp.sh" "$qwen" --threads 1,2 --reps 3 > "$out/llamacpp-qwen.jsonl"
"$peers/wllama.sh" "$smol" --threads 1,2 --reps 3 > "$out/wllama-smol.jsonl"
"$peers/wllama.sh" "$qwen" --threads 1,2 --reps 3 --prompt-words 54 > "$out/wllama-qwen.jsonl"
echo "load after: $(cat /proc/loadavg)" >> "$out/run.log"
echo "results in $out"
