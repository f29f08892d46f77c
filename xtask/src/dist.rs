//! `cargo xtask dist`: the artifact an operator deploys without a Rust toolchain — one
//! `airlock` binary with the front end embedded, its launcher, a systemd user unit, install
//! and uninstall scripts and DEPLOY.md, as `dist/airlock-VERSION-ARCH-linux.tar.gz` with
//! its SHA-256 beside it. Files come from `xtask/dist/`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};

use crate::process;

/// The build line the binary reports (`airlock --version`): commit and commit date, from git.
pub fn build_line(root: &Path) -> String {
    let git = |args: &[&str]| {
        process::output(process::command("git").current_dir(root).args(args))
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    match (
        git(&["rev-parse", "--short=12", "HEAD"]),
        git(&["log", "-1", "--format=%cs"]),
    ) {
        (Some(commit), Some(date)) => {
            let dirty = git(&["status", "--porcelain", "--untracked-files=no"]).is_some();
            format!(
                "commit {commit}{} {date}",
                if dirty { "+changes" } else { "" }
            )
        }
        _ => "built outside git".into(),
    }
}

/// Packages `binary` into `out`; returns the tarball.
pub fn package(root: &Path, binary: &Path, out: &Path) -> anyhow::Result<PathBuf> {
    let name = format!(
        "airlock-{}-{}-linux",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    );
    let stage = out.join(&name);
    if stage.exists() {
        std::fs::remove_dir_all(&stage)?;
    }
    let files = root.join("xtask/dist");
    let layout: [(PathBuf, &str); 6] = [
        (binary.to_owned(), "bin/airlock"),
        (files.join("airlock-launch"), "bin/airlock-launch"),
        (
            files.join("airlock.service"),
            "share/systemd/user/airlock.service",
        ),
        (files.join("uninstall.sh"), "share/airlock/uninstall.sh"),
        (root.join("docs/DEPLOY.md"), "share/airlock/DEPLOY.md"),
        (files.join("install.sh"), "install.sh"),
    ];
    let mut sums = String::new();
    for (from, to) in &layout {
        let target = stage.join(to);
        std::fs::create_dir_all(target.parent().context("a staged file has a folder")?)?;
        std::fs::copy(from, &target)
            .with_context(|| format!("cannot stage {} as {to}", from.display()))?;
        let bytes = std::fs::read(&target)?;
        sums.push_str(&format!("{}  {to}\n", hex::encode(Sha256::digest(&bytes))));
    }
    std::fs::write(stage.join("SHA256SUMS"), sums)?;
    let tarball = out.join(format!("{name}.tar.gz"));
    process::run(
        process::command("tar")
            .current_dir(out)
            .args(["--owner=0", "--group=0", "-czf"])
            .arg(&tarball)
            .arg(&name),
    )?;
    let digest = hex::encode(Sha256::digest(std::fs::read(&tarball)?));
    std::fs::write(
        out.join(format!("{name}.tar.gz.sha256")),
        format!("{digest}  {name}.tar.gz\n"),
    )?;
    std::fs::remove_dir_all(&stage)?;
    eprintln!("xtask: packaged {} (sha256 {digest})", tarball.display());
    Ok(tarball)
}
