//! Finds a Rust toolchain that can build wasm32-unknown-unknown: rustup's target where it
//! is installed, else Debian's `rustc-web` building std from source, else a clear error.

use std::path::Path;
use std::process::Command;

use anyhow::bail;

use crate::process::{command, output};

const TARGET: &str = "wasm32-unknown-unknown";

/// How the front end will be compiled.
pub enum WasmToolchain {
    /// rustup with the wasm32 target installed: plain `cargo build --target`.
    Rustup,
    /// Debian's rustc-web: `-Z build-std` with `RUSTC_BOOTSTRAP=1`.
    DebianBuildStd,
}

impl WasmToolchain {
    /// Picks the first toolchain that is present.
    pub fn detect() -> anyhow::Result<Self> {
        let rustup_targets = output(command("rustup").args(["target", "list", "--installed"]));
        if rustup_targets.is_some_and(|t| t.lines().any(|l| l.trim() == TARGET)) {
            return Ok(WasmToolchain::Rustup);
        }
        let debian_rustc = Path::new("/usr/bin/rustc");
        let debian_cargo = Path::new("/usr/bin/cargo");
        let std_source = Path::new("/usr/lib/rustlib/src/rust/library/std");
        let has_lld = ["/usr/bin/rust-lld", "/usr/bin/wasm-ld"]
            .iter()
            .any(|p| Path::new(p).exists())
            || output(command("sh").args(["-c", "ls /usr/bin/wasm-ld-* /usr/bin/lld-*"])).is_some();
        if debian_rustc.exists() && debian_cargo.exists() && std_source.exists() && has_lld {
            return Ok(WasmToolchain::DebianBuildStd);
        }
        bail!(
            "no Rust toolchain here can build {TARGET}.\n  \
             With rustup and a network: rustup target add {TARGET}\n  \
             On Debian without it (as root): apt-get install -y rustc-web cargo-web rust-web-src rust-web-llvm lld-22\n  \
             (or run `cargo xtask setup`)"
        )
    }

    /// The `cargo build` command for the front-end crate in the wasm release profile.
    pub fn cargo_build(&self, package: &str) -> Command {
        let mut cmd = match self {
            WasmToolchain::Rustup => {
                command(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            }
            WasmToolchain::DebianBuildStd => {
                let mut cmd = command("/usr/bin/cargo");
                cmd.env("RUSTC", "/usr/bin/rustc")
                    .env("RUSTC_BOOTSTRAP", "1")
                    .env_remove("RUSTUP_TOOLCHAIN");
                cmd
            }
        };
        cmd.args([
            "build",
            "-p",
            package,
            "--profile",
            "wasm-release",
            "--target",
            TARGET,
        ]);
        if let WasmToolchain::DebianBuildStd = self {
            cmd.args(["-Z", "build-std=std,panic_abort"]);
        }
        cmd
    }

    /// The `cargo build` command for a crate built with wasm threads in `profile`, where this
    /// toolchain can rebuild std with them (Debian's rustc-web can; rustup's stable target
    /// cannot: its std is prebuilt without atomics).
    pub fn cargo_build_threaded(&self, package: &str, profile: &str) -> Option<Command> {
        match self {
            WasmToolchain::Rustup => None,
            WasmToolchain::DebianBuildStd => {
                let mut cmd = command("/usr/bin/cargo");
                cmd.env("RUSTC", "/usr/bin/rustc")
                    .env("RUSTC_BOOTSTRAP", "1")
                    .env_remove("RUSTUP_TOOLCHAIN")
                    .args([
                        "build",
                        "-p",
                        package,
                        "--profile",
                        profile,
                        "--target",
                        TARGET,
                    ])
                    .args(["-Z", "build-std=std,panic_abort"]);
                Some(cmd)
            }
        }
    }

    /// What to print about the choice.
    pub fn describe(&self) -> &'static str {
        match self {
            WasmToolchain::Rustup => "rustup's wasm32-unknown-unknown target",
            WasmToolchain::DebianBuildStd => "Debian rustc-web with -Z build-std",
        }
    }
}
