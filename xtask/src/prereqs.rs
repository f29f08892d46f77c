//! The pieces outside cargo that builds and tests need (Node.js and npm packages, Chromium,
//! a wasm toolchain): found, installed by `setup`, or named in a clear error.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::process::{command, output, run};
use crate::toolchain::WasmToolchain;

/// Debian packages for the wasm toolchain when rustup has no wasm32 target.
const WASM_PACKAGES: &[&str] = &[
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    "rust-web-llvm",
    "lld-22",
];
/// Debian packages for the browser tests.
const BROWSER_PACKAGES: &[&str] = &["chromium"];
/// Debian packages for the native GPU engine tests (Mesa's lavapipe Vulkan driver).
const GPU_PACKAGES: &[&str] = &["mesa-vulkan-drivers", "libvulkan1"];
/// Debian packages for the JavaScript bundle.
const NODE_PACKAGES: &[&str] = &["nodejs", "npm"];

/// The Chromium binary for browser tests.
pub fn chromium() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("AIRLOCK_CHROMIUM") {
        return Ok(PathBuf::from(path));
    }
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return Ok(PathBuf::from(candidate));
        }
    }
    bail!(
        "the browser tests need Chromium: apt-get install -y chromium (or set AIRLOCK_CHROMIUM), or run `cargo xtask setup`"
    )
}

/// Whether a Vulkan driver is installed (any ICD manifest), so wgpu can find an adapter.
pub fn vulkan_driver_present() -> bool {
    ["/usr/share/vulkan/icd.d", "/etc/vulkan/icd.d"]
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .flatten()
        .any(|entry| entry.path().extension().is_some_and(|e| e == "json"))
}

/// Fails with the install line when no Vulkan driver exists (the GPU engine tests need one).
pub fn vulkan() -> anyhow::Result<()> {
    if vulkan_driver_present() {
        return Ok(());
    }
    bail!(
        "the GPU engine tests need a Vulkan driver: apt-get install -y mesa-vulkan-drivers libvulkan1 (lavapipe runs on the CPU), or run `cargo xtask setup`"
    )
}

/// Installs the npm packages pinned in package-lock.json when node_modules is missing or stale.
pub fn npm_dependencies(root: &Path) -> anyhow::Result<()> {
    if output(command("node").arg("--version")).is_none() {
        bail!(
            "Node.js is required to bundle the editor: apt-get install -y nodejs npm, or run `cargo xtask setup`"
        );
    }
    let lock = root.join("package-lock.json");
    let installed = root.join("node_modules/.package-lock.json");
    let stale = match (
        installed.metadata().and_then(|m| m.modified()),
        lock.metadata().and_then(|m| m.modified()),
    ) {
        (Ok(installed), Ok(lock)) => installed < lock,
        _ => true,
    };
    if stale {
        run(command("npm")
            .current_dir(root)
            .args(["ci", "--no-audit", "--no-fund"]))
        .context("npm ci failed; the npm registry must be reachable once to fill node_modules")?;
    }
    Ok(())
}

/// Installs everything missing (as root through apt-get), or prints the command to run.
pub fn setup(root: &Path) -> anyhow::Result<()> {
    let mut wanted: Vec<&str> = Vec::new();
    if WasmToolchain::detect().is_err() {
        wanted.extend(WASM_PACKAGES);
    }
    if chromium().is_err() {
        wanted.extend(BROWSER_PACKAGES);
    }
    if output(command("npm").arg("--version")).is_none() {
        wanted.extend(NODE_PACKAGES);
    }
    if !vulkan_driver_present() {
        wanted.extend(GPU_PACKAGES);
    }
    if !wanted.is_empty() {
        let is_root = output(command("id").arg("-u")).is_some_and(|u| u.trim() == "0");
        if !is_root {
            bail!(
                "missing Debian packages; run as root: apt-get install -y {}",
                wanted.join(" ")
            );
        }
        run(command("apt-get").arg("update").arg("-q"))?;
        run(command("apt-get")
            .args(["install", "-y", "-q"])
            .args(&wanted)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    npm_dependencies(root)?;
    eprintln!("xtask: setup complete");
    Ok(())
}
