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
    bail!("the browser tests need Chromium: apt-get install -y chromium (or set AIRLOCK_CHROMIUM)")
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
        "the GPU engine tests need a Vulkan driver: apt-get install -y mesa-vulkan-drivers libvulkan1 (lavapipe runs on the CPU)"
    )
}

/// Installs the npm packages pinned in package-lock.json when node_modules is missing or stale.
pub fn npm_dependencies(root: &Path) -> anyhow::Result<()> {
    if output(command("node").arg("--version")).is_none() {
        bail!("Node.js is required to bundle the editor: apt-get install -y nodejs npm");
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

/// What a command needs besides cargo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// `cargo xtask run` / `build` / `web`: the wasm toolchain and Node.js.
    Run,
    /// `cargo xtask test`: those, Chromium and a Vulkan driver.
    Test,
}

/// Which pieces are missing now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Missing {
    /// The wasm toolchain.
    pub wasm: bool,
    /// Chromium.
    pub browser: bool,
    /// Node.js and npm.
    pub node: bool,
    /// A Vulkan driver.
    pub gpu: bool,
}

impl Missing {
    /// Looks at this machine. `AIRLOCK_SIMULATE_MISSING=wasm,browser,node,gpu` makes pieces
    /// read as missing, to test what a fresh machine gets (`xtask/tests/fresh_machine.rs`).
    pub fn detect() -> Self {
        let simulated = std::env::var("AIRLOCK_SIMULATE_MISSING").unwrap_or_default();
        let gone = |piece: &str| simulated.split(',').any(|p| p.trim() == piece);
        Self {
            wasm: gone("wasm") || WasmToolchain::detect().is_err(),
            browser: gone("browser") || chromium().is_err(),
            node: gone("node") || output(command("npm").arg("--version")).is_none(),
            gpu: gone("gpu") || !vulkan_driver_present(),
        }
    }
}

/// Whether this process may install system packages: root, unless
/// `AIRLOCK_SIMULATE_USER=1` asks to behave as an ordinary user (tests).
fn is_root() -> bool {
    std::env::var_os("AIRLOCK_SIMULATE_USER").is_none()
        && output(command("id").arg("-u")).is_some_and(|u| u.trim() == "0")
}

/// The package manager to run: `apt-get`, or `AIRLOCK_APT` (tests record its calls).
fn apt() -> std::process::Command {
    command(std::env::var_os("AIRLOCK_APT").unwrap_or_else(|| "apt-get".into()))
}

/// The Debian packages `purpose` needs given what is `missing`.
pub fn packages(purpose: Purpose, missing: Missing) -> Vec<&'static str> {
    let mut wanted = Vec::new();
    if missing.wasm {
        wanted.extend(WASM_PACKAGES);
    }
    if missing.node {
        wanted.extend(NODE_PACKAGES);
    }
    if purpose == Purpose::Test {
        if missing.browser {
            wanted.extend(BROWSER_PACKAGES);
        }
        if missing.gpu {
            wanted.extend(GPU_PACKAGES);
        }
    }
    wanted
}

/// The refusal for a user who cannot install: the exact command to run.
pub fn install_command(wanted: &[&str]) -> String {
    format!(
        "sudo apt-get update && sudo apt-get install -y {}",
        wanted.join(" ")
    )
}

/// Installs what `purpose` needs and is missing (as root, through apt-get, saying what), or
/// stops with the exact command to run; then the npm modules from the lock file.
pub fn ensure(root: &Path, purpose: Purpose) -> anyhow::Result<()> {
    let wanted = packages(purpose, Missing::detect());
    if !wanted.is_empty() {
        if !is_root() {
            bail!(
                "missing Debian packages ({}); install them with:\n  {}",
                wanted.join(", "),
                install_command(&wanted)
            );
        }
        eprintln!("xtask: installing {}", wanted.join(" "));
        run(apt().arg("update").arg("-q"))?;
        run(apt()
            .args(["install", "-y", "-q"])
            .args(&wanted)
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    npm_dependencies(root)
}

/// `cargo xtask setup`: everything the tests need (a shortcut; `run` and `test` do it too).
pub fn setup(root: &Path) -> anyhow::Result<()> {
    ensure(root, Purpose::Test)?;
    eprintln!("xtask: setup complete");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_purpose_asks_for_what_it_needs() {
        let all = Missing {
            wasm: true,
            browser: true,
            node: true,
            gpu: true,
        };
        let run = packages(Purpose::Run, all);
        assert!(run.contains(&"rustc-web") && run.contains(&"nodejs"));
        assert!(!run.contains(&"chromium") && !run.contains(&"mesa-vulkan-drivers"));
        let test = packages(Purpose::Test, all);
        for p in [
            "rustc-web",
            "nodejs",
            "npm",
            "chromium",
            "mesa-vulkan-drivers",
            "libvulkan1",
        ] {
            assert!(test.contains(&p), "{p}");
        }
        assert!(packages(Purpose::Test, Missing::default()).is_empty());
        assert_eq!(
            install_command(&["chromium", "npm"]),
            "sudo apt-get update && sudo apt-get install -y chromium npm"
        );
    }
}
