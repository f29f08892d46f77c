//! What `cargo xtask test` and `setup` do on a machine missing Chromium, Node.js, the wasm
//! toolchain and the Vulkan driver (simulated by `AIRLOCK_SIMULATE_MISSING`): as an ordinary
//! user they stop at once with the exact install command; as root they install the Debian
//! packages through apt (here a recorder standing in for `apt-get`) and go on.

use std::process::Command;

const ALL: &str = "wasm,browser,node,gpu";
const PACKAGES: &str = "rustc-web cargo-web rust-web-src rust-web-llvm lld-22 nodejs npm chromium mesa-vulkan-drivers libvulkan1";

fn xtask(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command.args(args).env("AIRLOCK_SIMULATE_MISSING", ALL);
    command
}

#[test]
fn an_ordinary_user_gets_the_exact_install_command_and_a_failure() {
    let out = xtask(&["test"])
        .env("AIRLOCK_SIMULATE_USER", "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "sudo apt-get update && sudo apt-get install -y {PACKAGES}"
        )),
        "{stderr}"
    );
    assert!(!stderr.contains("xtask: $"), "nothing ran first: {stderr}");
}

#[test]
fn root_installs_the_missing_packages_and_goes_on() {
    let dir = tempfile_dir();
    let log = dir.join("apt.log");
    let recorder = dir.join("apt-get");
    std::fs::write(
        &recorder,
        format!("#!/bin/sh\necho \"$@\" >> {}\n", log.display()),
    )
    .unwrap();
    std::fs::set_permissions(
        &recorder,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = xtask(&["setup"])
        .env_remove("AIRLOCK_SIMULATE_USER")
        .env("AIRLOCK_APT", &recorder)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    if !is_root {
        assert!(
            !out.status.success() && stderr.contains("sudo apt-get"),
            "{stderr}"
        );
        return;
    }
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("xtask: installing {PACKAGES}")),
        "{stderr}"
    );
    let calls = std::fs::read_to_string(&log).unwrap();
    assert_eq!(calls, format!("update -q\ninstall -y -q {PACKAGES}\n"));
    std::fs::remove_dir_all(dir).unwrap();
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("airlock-fresh-machine-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
