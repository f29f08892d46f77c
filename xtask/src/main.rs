//! `cargo xtask`: builds and tests Airlock without tools that download at run time.
//!
//! - `cargo xtask run [-- airlock serve args]`: build everything, then serve the IDE.
//! - `cargo xtask build`: build the front end into `static/dist` and the release binary.
//! - `cargo xtask web`: build only the front end.
//! - `cargo xtask test [--qwen]`: every test (unit, integration, real models, browser e2e);
//!   `--qwen` adds the opt-in Qwen2.5-Coder tests (a 491 MB download, cached): the real-model
//!   agent runs (`tests/e2e-real/`), in the browser and, with a llama-server, on it.
//! - `cargo xtask bench`: the benchmarks (JSON), including the engine on SmolLM2 natively and
//!   in headless Chromium.
//! - `cargo xtask dist [--debug] [--out DIR]`: the operator's artifact — `airlock` with the
//!   front end embedded, launcher, systemd user unit, install/uninstall scripts, DEPLOY.md —
//!   as `dist/airlock-VERSION-ARCH-linux.tar.gz` plus its `.sha256`.
//! - `cargo xtask models [--qwen]`: fetch (once, sha256-checked) and print the real model files.
//! - `cargo xtask lint`: rustfmt and clippy, warnings as errors.
//! - `cargo xtask setup`: install the Debian and npm pieces (as root), or say what to install.

mod dist;
mod engine_worker;
mod models;
mod prereqs;
mod process;
mod toolchain;
mod unsafe_sites;
mod web;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

fn main() -> std::process::ExitCode {
    match run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let command = args.next().unwrap_or_else(|| "help".into());
    let rest: Vec<String> = args.skip_while(|a| a == "--").collect();
    let root = workspace_root()?;
    match command.as_str() {
        "setup" => prereqs::setup(&root),
        "web" => {
            prereqs::ensure(&root, prereqs::Purpose::Run)?;
            web::build(&root).map(|_| ())
        }
        "build" => {
            prereqs::ensure(&root, prereqs::Purpose::Run)?;
            web::build(&root)?;
            build_appliance(&root, true).map(|_| ())
        }
        "run" => {
            prereqs::ensure(&root, prereqs::Purpose::Run)?;
            web::build(&root)?;
            let binary = build_appliance(&root, true)?;
            let mut serve = vec!["serve".to_owned()];
            if rest.is_empty() {
                serve.extend(["--workspace".into(), ".".into()]);
            }
            serve.extend(rest);
            process::run(
                process::command(&binary)
                    .args(&serve)
                    .current_dir(std::env::current_dir()?),
            )
        }
        "test" => test(&root, rest.iter().any(|a| a == "--qwen")),
        "dist" => {
            prereqs::ensure(&root, prereqs::Purpose::Run)?;
            web::build(&root)?;
            let binary = build_appliance(&root, !rest.iter().any(|a| a == "--debug"))?;
            let out = rest
                .iter()
                .position(|a| a == "--out")
                .and_then(|i| rest.get(i + 1))
                .map(PathBuf::from)
                .unwrap_or_else(|| root.join("dist"));
            std::fs::create_dir_all(&out)?;
            println!("{}", dist::package(&root, &binary, &out)?.display());
            Ok(())
        }
        "bench" => bench(&root),
        "models" => {
            println!("{}", models::ensure(&models::SMOLLM2)?.display());
            if rest.iter().any(|a| a == "--qwen") {
                println!("{}", models::ensure(&models::QWEN_CODER)?.display());
            }
            Ok(())
        }
        "lint" => lint(&root),
        "help" | "--help" | "-h" => {
            println!(
                "{}",
                include_str!("main.rs")
                    .lines()
                    .take_while(|l| l.starts_with("//!"))
                    .map(|l| l
                        .strip_prefix("//! ")
                        .unwrap_or(l.trim_start_matches("//!")))
                    .collect::<Vec<_>>()
                    .join("\n")
            );
            Ok(())
        }
        other => bail!("unknown command {other:?}; try `cargo xtask help`"),
    }
}

/// The repository root (the folder holding the workspace Cargo.toml).
fn workspace_root() -> anyhow::Result<PathBuf> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    Ok(manifest_dir
        .parent()
        .context("xtask has no parent folder")?
        .to_path_buf())
}

/// The shared cargo target folder.
pub fn target_dir(root: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"))
}

fn cargo() -> std::process::Command {
    let mut cargo = process::command(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        // Mesa's Vulkan loader complains on every device open without one.
        cargo.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    cargo
}

/// Builds the `airlock` binary (release or debug) with the freshly built front end embedded.
fn build_appliance(root: &Path, release: bool) -> anyhow::Result<PathBuf> {
    let mut build = cargo();
    build
        .current_dir(root)
        .args(["build", "-p", "airlock-appliance", "--bin", "airlock"])
        .env("AIRLOCK_BUILD", dist::build_line(root));
    if release {
        build.arg("--release");
    }
    process::run(&mut build)?;
    let profile = if release { "release" } else { "debug" };
    Ok(target_dir(root).join(profile).join("airlock"))
}

/// Every test: Rust unit and integration tests, the real-model tests, then the browser
/// end-to-end suite. `with_qwen` adds the opt-in Qwen2.5-Coder test (491 MB download).
fn test(root: &Path, with_qwen: bool) -> anyhow::Result<()> {
    prereqs::ensure(root, prereqs::Purpose::Test)?;
    let chromium = prereqs::chromium()?;
    prereqs::vulkan()?;
    prereqs::npm_dependencies(root)?;
    web::build(root)?;
    process::run(cargo().current_dir(root).args([
        "test",
        "--workspace",
        "--exclude",
        "airlock-app",
    ]))?;
    process::run(
        cargo()
            .current_dir(root)
            .args(["test", "-p", "airlock-app", "--lib"]),
    )?;
    let smollm2 = models::ensure(&models::SMOLLM2)?;
    let mut real = cargo();
    real.current_dir(root)
        .args([
            "test",
            "--release",
            "-p",
            "airlock-inference",
            "--test",
            "real_models",
            "--",
            "--ignored",
        ])
        .env("AIRLOCK_SMOLLM2_GGUF", &smollm2)
        .env(
            "AIRLOCK_TINYCODER_GGUF",
            models::ensure(&models::TINYCODER)?,
        );
    if with_qwen {
        real.env(
            "AIRLOCK_QWEN_CODER_GGUF",
            models::ensure(&models::QWEN_CODER)?,
        );
    } else {
        real.args(["--skip", "qwen_coder"]);
    }
    process::run(&mut real)?;
    let binary = build_appliance(root, false)?;
    // The operator's artifact, packaged from this (debug) binary: install, start, uninstall.
    let dist_dir = target_dir(root).join("dist-test");
    std::fs::create_dir_all(&dist_dir)?;
    let tarball = dist::package(root, &binary, &dist_dir)?;
    process::run(
        cargo()
            .current_dir(root)
            .args([
                "test",
                "-p",
                "airlock-integration-tests",
                "--test",
                "dist",
                "--",
                "--ignored",
            ])
            .env("AIRLOCK_DIST_TARBALL", &tarball),
    )?;
    let llama_server = team_server_test(root, &smollm2)?;
    process::run(
        process::command("node")
            .current_dir(root)
            .args(["--test", "--test-concurrency=1", "tests/e2e/"])
            .env("AIRLOCK_BIN", &binary)
            .env("AIRLOCK_SMOLLM2_GGUF", &smollm2)
            .env("AIRLOCK_CHROMIUM", &chromium),
    )?;
    // The real-model agent runs: Qwen2.5-Coder in the browser's own engine, and on llama.cpp's
    // server as the team server where one was built (that file skips itself otherwise).
    if !with_qwen {
        return Ok(());
    }
    let mut real = process::command("node");
    real.current_dir(root)
        .args(["--test", "--test-concurrency=1", "tests/e2e-real/"])
        .env("AIRLOCK_BIN", &binary)
        .env("AIRLOCK_CHROMIUM", &chromium)
        .env(
            "AIRLOCK_QWEN_CODER_GGUF",
            models::ensure(&models::QWEN_CODER)?,
        );
    match llama_server {
        Some(server) => {
            real.env("AIRLOCK_LLAMA_SERVER", server);
        }
        None => println!("xtask: no llama-server — the team-server agent run is skipped"),
    }
    process::run(&mut real)
}

/// The proxy against llama.cpp's real `llama-server` (`AIRLOCK_LLAMA_SERVER`, or the one
/// docs/TEAM-SERVER.md builds into the peers' cache); said plainly when there is none.
/// Returns the server binary used, if any.
fn team_server_test(root: &Path, smollm2: &Path) -> anyhow::Result<Option<std::path::PathBuf>> {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_default();
    let server = std::env::var_os("AIRLOCK_LLAMA_SERVER")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| cache.join("airlock-peers/bin/llama-server"));
    if !server.is_file() {
        println!(
            "xtask: no llama-server at {} — the real team-server test is skipped (docs/TEAM-SERVER.md builds one)",
            server.display()
        );
        return Ok(None);
    }
    process::run(
        cargo()
            .current_dir(root)
            .args([
                "test",
                "-p",
                "airlock-integration-tests",
                "--test",
                "team_server",
            ])
            .args(["--", "--ignored"])
            .env("AIRLOCK_LLAMA_SERVER", &server)
            .env("AIRLOCK_SMOLLM2_GGUF", smollm2),
    )?;
    Ok(Some(server))
}

/// Runs every bench (each prints JSON): the bench binaries, then the engine and the assistant in headless
/// Chromium against a release appliance.
fn bench(root: &Path) -> anyhow::Result<()> {
    let smollm2 = models::ensure(&models::SMOLLM2)?;
    for bin in ["bench-tree", "bench-engine", "bench-constrain"] {
        process::run(
            cargo()
                .current_dir(root)
                .args([
                    "run",
                    "--release",
                    "-q",
                    "-p",
                    "airlock-benches",
                    "--bin",
                    bin,
                ])
                .env("AIRLOCK_SMOLLM2_GGUF", &smollm2),
        )?;
    }
    let chromium = prereqs::chromium()?;
    prereqs::npm_dependencies(root)?;
    web::build(root)?;
    let binary = build_appliance(root, true)?;
    for script in ["benches/browser.mjs", "benches/assistant.mjs"] {
        process::run(
            process::command("node")
                .current_dir(root)
                .arg(script)
                .env("AIRLOCK_BIN", &binary)
                .env("AIRLOCK_CHROMIUM", &chromium)
                .env("AIRLOCK_SMOLLM2_GGUF", &smollm2),
        )?;
    }
    Ok(())
}

/// Formatting and clippy, warnings as errors.
fn lint(root: &Path) -> anyhow::Result<()> {
    unsafe_sites::check(root)?;
    process::run(cargo().current_dir(root).args(["fmt", "--all", "--check"]))?;
    process::run(cargo().current_dir(root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))
}
