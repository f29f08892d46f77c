//! Builds the browser's CPU engine worker (`inference/worker`) with wasm threads: std rebuilt
//! with atomics, a shared imported memory of up to 4 GiB, SIMD128 throughout, then
//! wasm-bindgen's glue (which turns on its threads support for a shared memory). Only a
//! toolchain that builds std can do this; elsewhere the worker is left out and the page's
//! CPU engine runs on the page's own thread.

use std::path::{Path, PathBuf};

use crate::process::run;
use crate::target_dir;
use crate::toolchain::WasmToolchain;

const CRATE: &str = "airlock-engine-worker";
const LIB: &str = "airlock_engine_worker";
/// Release, at full optimization (`Cargo.toml`).
const PROFILE: &str = "wasm-engine";
/// Threads (`atomics`, `bulk-memory`, shared memory, imported so every worker shares it, and
/// the thread-local storage symbols wasm-bindgen sets up per thread), SIMD128 everywhere, and
/// the whole 32-bit address space for a model file and its cache.
const RUSTFLAGS: &str = "-C target-feature=+atomics,+bulk-memory,+mutable-globals,+simd128 \
     -C link-arg=--shared-memory -C link-arg=--import-memory \
     -C link-arg=--max-memory=4294967296 \
     -C link-arg=--export=__wasm_init_tls -C link-arg=--export=__tls_size \
     -C link-arg=--export=__tls_align -C link-arg=--export=__tls_base";

/// The worker's module and glue, staged for publishing.
pub struct Staged {
    /// wasm-bindgen's JS glue.
    pub glue: PathBuf,
    /// The module.
    pub wasm: PathBuf,
}

/// Builds the worker into `staging/engine`, or says why it is left out.
pub fn build(
    root: &Path,
    toolchain: &WasmToolchain,
    staging: &Path,
) -> anyhow::Result<Option<Staged>> {
    let Some(mut cargo) = toolchain.cargo_build_threaded(CRATE, PROFILE) else {
        eprintln!(
            "xtask: {} cannot rebuild std with wasm threads: the engine worker is left out \
             (the page's CPU engine then runs on the page's own thread)",
            toolchain.describe()
        );
        return Ok(None);
    };
    // Its own target folder: different RUSTFLAGS would otherwise rebuild the app's
    // dependencies on every alternation.
    let target = target_dir(root).join("engine-worker");
    run(cargo
        .current_dir(root)
        .env("CARGO_TARGET_DIR", &target)
        .env("RUSTFLAGS", RUSTFLAGS))?;
    let wasm = target.join(format!("wasm32-unknown-unknown/{PROFILE}/{LIB}.wasm"));
    let out = staging.join("engine");
    wasm_bindgen_cli_support::Bindgen::new()
        .input_path(&wasm)
        .web(true)?
        .omit_default_module_path(false)
        .typescript(false)
        .generate(&out)
        .map_err(|e| anyhow::anyhow!("wasm-bindgen failed on {}: {e:#}", wasm.display()))?;
    Ok(Some(Staged {
        glue: out.join(format!("{LIB}.js")),
        wasm: out.join(format!("{LIB}_bg.wasm")),
    }))
}
