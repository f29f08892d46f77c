//! The operator's artifact (`cargo xtask dist`): the tarball's checksum holds, `install.sh`
//! installs into a temporary prefix, the launcher the systemd unit runs starts the appliance
//! on loopback, its launch URL opens the IDE, and `uninstall.sh` removes every installed
//! file. `cargo xtask test` packages the artifact and runs this with `--ignored`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn run(command: &mut Command) -> String {
    let out = command.output().expect("the command starts");
    assert!(
        out.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn http(port: u16, target: &str, cookie: Option<&str>) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let cookie = cookie
        .map(|c| format!("Cookie: {c}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: text/html\r\n{cookie}Connection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
#[ignore = "needs the packaged artifact: run through `cargo xtask test`"]
fn the_artifact_installs_starts_serves_the_ide_and_uninstalls() {
    let tarball = PathBuf::from(
        std::env::var_os("AIRLOCK_DIST_TARBALL")
            .expect("AIRLOCK_DIST_TARBALL is not set; run through `cargo xtask test`"),
    );
    let sum = std::fs::read_to_string(format!("{}.sha256", tarball.display())).unwrap();
    let out = Command::new("sha256sum").arg(&tarball).output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next(),
        sum.split_whitespace().next(),
        "the published checksum is the tarball's"
    );

    let root = tempfile::tempdir().unwrap();
    let (unpacked, prefix, home) = (
        root.path().join("unpacked"),
        root.path().join("prefix"),
        root.path().join("home"),
    );
    for dir in [&unpacked, &home] {
        std::fs::create_dir_all(dir).unwrap();
    }
    run(Command::new("tar")
        .arg("-xzf")
        .arg(&tarball)
        .arg("-C")
        .arg(&unpacked));
    let package = std::fs::read_dir(&unpacked)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let env = |c: &mut Command| {
        c.env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_RUNTIME_DIR", root.path().join("run"));
    };
    let mut install = Command::new(package.join("install.sh"));
    install.arg("--prefix").arg(&prefix).arg("--no-systemd");
    env(&mut install);
    let said = run(&mut install);
    assert!(said.contains("Installed airlock 0."), "{said}");
    let unit = std::fs::read_to_string(home.join(".config/systemd/user/airlock.service")).unwrap();
    assert!(
        unit.contains(&format!(
            "ExecStart={}/bin/airlock-launch",
            prefix.display()
        )),
        "{unit}"
    );
    let version = run(Command::new(prefix.join("bin/airlock")).arg("--version"));
    assert!(version.starts_with("airlock 0."), "{version}");
    assert!(version.contains("commit "), "build info: {version}");

    // The launcher, configured the way DEPLOY.md says, as the unit would run it.
    let workspace = root.path().join("work");
    std::fs::create_dir_all(home.join(".config/airlock")).unwrap();
    std::fs::write(
        home.join(".config/airlock/airlock.env"),
        format!(
            "AIRLOCK_WORKSPACE={}\nAIRLOCK_PORT=0\n",
            workspace.display()
        ),
    )
    .unwrap();
    let mut launch = Command::new(prefix.join("bin/airlock-launch"));
    launch.stdout(Stdio::piped()).stderr(Stdio::null());
    env(&mut launch);
    let mut child = launch.spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.starts_with("http://"))
        .expect("the launcher prints the launch URL");
    let rest = url.trim_start_matches("http://127.0.0.1:");
    let (port, target) = rest.split_once('/').unwrap();
    let port: u16 = port.parse().unwrap();
    let login = http(port, &format!("/{target}"), None);
    assert!(login.starts_with("HTTP/1.1 303"), "{login}");
    let cookie = login
        .lines()
        .find_map(|l| l.strip_prefix("set-cookie: "))
        .and_then(|c| c.split(';').next())
        .expect("a session cookie")
        .to_owned();
    let page = http(port, "/", Some(&cookie));
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    assert!(page.contains("<title>Airlock"), "the IDE page: {page}");
    assert!(workspace.is_dir(), "the launcher made the workspace");
    run(Command::new("kill").arg(child.id().to_string()));
    assert!(child.wait().unwrap().success(), "graceful stop on SIGTERM");

    let mut uninstall = Command::new(prefix.join("share/airlock/uninstall.sh"));
    env(&mut uninstall);
    let said = run(&mut uninstall);
    assert!(said.contains("removed"), "{said}");
    assert_eq!(
        files_under(&prefix),
        Vec::<PathBuf>::new(),
        "nothing left in the prefix"
    );
    assert!(!home.join(".config/systemd/user/airlock.service").exists());
    assert!(workspace.is_dir(), "the workspace is the user's and stays");
}
