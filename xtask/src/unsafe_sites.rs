//! Keeps `unsafe` to its reviewed sites: the workspace denies `unsafe_code`, and the only
//! files allowed to lift that are the model-file memory map, the sandbox's child setup
//! (resource limits, seccomp and descriptors between `fork` and `exec`) and the CPU engine's
//! SIMD kernels (bounds-checked vector loads).

use std::path::{Path, PathBuf};

use anyhow::bail;

/// The files that may allow `unsafe_code`, once each.
const ALLOWED: &[&str] = &[
    "inference/src/file_image.rs",
    "appliance/src/sandbox/child.rs",
    "inference/src/model/kernels/x86.rs",
    "inference/src/model/kernels/wasm.rs",
];

/// Fails when any Rust file not in `ALLOWED` lifts the `unsafe_code` lint (allow, expect
/// or warn), or when one in `ALLOWED` lifts it more than once.
pub fn check(root: &Path) -> anyhow::Result<()> {
    let lint = "unsafe_code";
    let lifts: Vec<String> = ["allow", "expect", "warn"]
        .iter()
        .map(|level| format!("{level}({lint})"))
        .collect();
    let mut files = Vec::new();
    rust_files(root, &mut files)?;
    let mut offenders = Vec::new();
    for file in files {
        let relative = file.strip_prefix(root).unwrap_or(&file);
        let text = std::fs::read_to_string(&file)?;
        let sites: usize = lifts.iter().map(|l| text.matches(l.as_str()).count()).sum();
        let allowed = usize::from(ALLOWED.iter().any(|a| relative == Path::new(a)));
        if sites > allowed {
            offenders.push(format!("{} ({sites} mentions)", relative.display()));
        }
    }
    if !offenders.is_empty() {
        bail!(
            "the unsafe-code lint may only be lifted once, in {}; also lifted in: {}",
            ALLOWED.join(", "),
            offenders.join(", ")
        );
    }
    Ok(())
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if entry.file_type()?.is_dir() {
            if !matches!(name.as_ref(), "target" | "node_modules" | ".git") {
                rust_files(&path, out)?;
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(files: &[(&str, &str)]) -> PathBuf {
        static TREES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "airlock-unsafe-sites-{}-{}",
            std::process::id(),
            TREES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        for (path, text) in files {
            let path = root.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        root
    }

    #[test]
    fn only_the_reviewed_sites_may_lift_the_unsafe_lint() {
        let lift = format!("#[{}(unsafe_code)]\nfn f() {{}}\n", "allow");
        let ok = tree(&[
            (ALLOWED[0], &lift),
            (ALLOWED[1], &lift),
            ("app/src/lib.rs", "fn g() {}\n"),
        ]);
        assert!(check(&ok).is_ok());
        let bad = tree(&[
            (ALLOWED[0], &lift),
            ("app/src/lib.rs", "fn g() {}\n"),
            ("appliance/src/x.rs", &lift.replace("allow", "expect")),
        ]);
        let error = check(&bad).unwrap_err().to_string();
        assert!(error.contains("appliance/src/x.rs"), "{error}");
        let twice = tree(&[(ALLOWED[1], &lift.repeat(2))]);
        assert!(check(&twice).is_err());
        for root in [ok, bad, twice] {
            std::fs::remove_dir_all(root).unwrap();
        }
    }
}
