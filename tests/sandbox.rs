//! Commands run with no network at the OS level. Every probe aims at a listener this test
//! opens on the host's own loopback (or at a name under the reserved `.example` domain), so
//! even a broken sandbox could not send anything off the machine.

use std::time::{Duration, Instant};

use airlock_appliance::sandbox::{Collected, CommandSpec, INHERITED_ENV, Sandbox};

async fn sh(script: &str, timeout: Duration, max_output_bytes: usize) -> Collected {
    let dir = tempfile::tempdir().unwrap();
    let spec = CommandSpec {
        argv: ["/bin/bash", "--noprofile", "--norc", "-c", script]
            .map(String::from)
            .to_vec(),
        cwd: dir.path().to_owned(),
        timeout,
        max_output_bytes,
        extra_env: Vec::new(),
        writable_git: false,
    };
    Sandbox::from_env()
        .run_collected(&spec)
        .await
        .expect("sandbox starts")
}

async fn quick(script: &str) -> Collected {
    sh(script, Duration::from_secs(30), 1 << 20).await
}

/// A TCP listener on the host loopback: reachable from the host, never from the sandbox.
fn host_listener() -> (std::net::TcpListener, u16) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

fn assert_nothing_connected(listener: &std::net::TcpListener, what: &str) {
    assert!(
        listener.accept().is_err(),
        "{what} reached the host listener"
    );
}

#[test]
fn the_probe_finds_a_network_free_sandbox() {
    let status = Sandbox::from_env().probe();
    assert!(status.available, "{}", status.detail);
    let broken = Sandbox::with_program("/bin/false").probe();
    assert!(
        !broken.available,
        "a sandbox that cannot start must read as unavailable"
    );
    let missing = Sandbox::with_program("/nonexistent/unshare").probe();
    assert!(!missing.available && missing.detail.contains("cannot start"));
}

#[tokio::test]
async fn tcp_clients_cannot_connect_anywhere() {
    let (listener, port) = host_listener();
    let url = format!("http://127.0.0.1:{port}/");
    for (tool, script) in [
        ("curl", format!("curl -sS --max-time 5 {url}")),
        ("wget", format!("wget -T 5 -t 1 -O- {url}")),
        (
            "python urllib",
            format!(
                "python3 -c 'import urllib.request; urllib.request.urlopen(\"{url}\", timeout=5)'"
            ),
        ),
        (
            "bash /dev/tcp",
            format!("exec 3<>/dev/tcp/127.0.0.1/{port}"),
        ),
    ] {
        let ran = quick(&script).await;
        assert_ne!(
            ran.outcome.exit_code,
            Some(0),
            "{tool} succeeded: {}",
            ran.stdout
        );
        assert!(
            !ran.outcome.timed_out,
            "{tool} should fail at once, not hang"
        );
        let said = ran.stderr.to_lowercase();
        assert!(
            said.contains("unreachable")
                || said.contains("couldn't connect")
                || said.contains("failed to connect")
                || said.contains("connection refused")
                || said.contains("errno 101"),
            "{tool}: {}",
            ran.stderr
        );
        assert_nothing_connected(&listener, tool);
    }
}

#[tokio::test]
async fn name_resolution_and_udp_fail() {
    let lookup = quick("getent hosts airlock-sandbox-probe.example").await;
    assert_ne!(lookup.outcome.exit_code, Some(0));
    let python = quick(
        "python3 -c 'import socket; socket.getaddrinfo(\"airlock-sandbox-probe.example\", 80)'",
    )
    .await;
    assert!(
        python
            .stderr
            .contains("Temporary failure in name resolution"),
        "the resolver was not reachable at all: {}",
        python.stderr
    );

    let receiver = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    receiver.set_nonblocking(true).unwrap();
    let port = receiver.local_addr().unwrap().port();
    let udp = quick(&format!("echo leak > /dev/udp/127.0.0.1/{port}")).await;
    assert_ne!(udp.outcome.exit_code, Some(0));
    assert!(udp.stderr.contains("unreachable"), "{}", udp.stderr);
    let mut buffer = [0u8; 16];
    assert!(receiver.recv(&mut buffer).is_err(), "a datagram arrived");
}

#[tokio::test]
async fn local_commands_work_with_a_scrubbed_environment_and_no_sockets() {
    let ls = quick("echo hello > f.txt && ls").await;
    assert_eq!(ls.outcome.exit_code, Some(0), "{}", ls.stderr);
    assert_eq!(ls.stdout.trim(), "f.txt");
    let cargo = quick("cargo --version").await;
    assert_eq!(cargo.outcome.exit_code, Some(0), "{}", cargo.stderr);
    assert!(cargo.stdout.starts_with("cargo "));
    let env = quick("env").await;
    let names: Vec<&str> = env
        .stdout
        .lines()
        .filter_map(|l| l.split_once('=').map(|(k, _)| k))
        .collect();
    let shell_own = ["TERM", "PWD", "SHLVL", "_", "OLDPWD"];
    let allowed: Vec<&str> = INHERITED_ENV
        .iter()
        .chain(shell_own.iter())
        .copied()
        .collect();
    for name in &names {
        assert!(
            allowed.contains(name),
            "{name} leaked into the sandbox: {names:?}"
        );
    }
    let fds = quick("ls -l /proc/self/fd/").await;
    assert!(
        !fds.stdout.contains("socket:"),
        "inherited sockets: {}",
        fds.stdout
    );
    let net = quick("cat /proc/net/dev").await;
    let interfaces: Vec<&str> = net
        .stdout
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(interfaces, ["lo"]);
}

#[tokio::test]
async fn a_timeout_kills_double_forked_and_setsid_children() {
    let marker = format!("987.{}", std::process::id());
    let script = format!(
        "setsid sleep {marker}1 & (sleep {marker}2 &) ; nohup sleep {marker}3 >/dev/null 2>&1 & echo started; sleep {marker}4"
    );
    let ran = sh(&script, Duration::from_secs(2), 1 << 20).await;
    assert!(ran.outcome.timed_out);
    assert_eq!(ran.stdout.trim(), "started");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let survivors = processes_mentioning(&marker);
        if survivors.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running after the timeout: {survivors:?}"
        );
        std::thread::yield_now();
    }
}

fn processes_mentioning(marker: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(marker) && !c.contains("bash"))
        .collect()
}

#[tokio::test]
async fn runaway_output_is_stopped_and_reported() {
    let ran = sh("yes airlock", Duration::from_secs(30), 10_000).await;
    assert!(ran.outcome.output_limit_exceeded);
    assert!(
        ran.stdout.len() <= 10_000 && ran.stdout.len() > 5_000,
        "{}",
        ran.stdout.len()
    );
}

#[tokio::test]
async fn only_the_workspace_and_a_private_tmp_are_writable() {
    let marker = format!("airlock-sandbox-{}", std::process::id());
    let ran = quick(&format!(
        "echo ws > inside.txt && echo ws-ok; touch /etc/{marker} || echo etc-refused; touch \"$HOME/{marker}\" && echo home-private; echo t > /tmp/{marker} && echo tmp-ok"
    ))
    .await;
    for expected in ["ws-ok", "etc-refused", "home-private", "tmp-ok"] {
        assert!(
            ran.stdout.contains(expected),
            "{expected}: {} / {}",
            ran.stdout,
            ran.stderr
        );
    }
    assert!(
        ran.stderr.contains("Read-only file system"),
        "{}",
        ran.stderr
    );
    assert!(!std::path::Path::new(&format!("/etc/{marker}")).exists());
    let home = std::env::var("HOME").unwrap();
    assert!(
        !std::path::Path::new(&home).join(&marker).exists(),
        "home writes stay in the sandbox's throwaway home"
    );
    assert!(
        !std::path::Path::new(&format!("/tmp/{marker}")).exists(),
        "the sandbox's /tmp is private"
    );
}

#[tokio::test]
async fn home_folders_are_hidden_but_toolchains_still_work() {
    let home = std::env::var("HOME").unwrap();
    let secret =
        std::path::Path::new(&home).join(format!(".airlock-secret-{}", std::process::id()));
    std::fs::write(&secret, "ssh-key-material").unwrap();
    let ran = quick(&format!("cat {0} || echo hidden; cargo --version; touch \"$HOME/.cargo/airlock-x\" || echo toolchain-read-only", secret.display())).await;
    std::fs::remove_file(&secret).unwrap();
    assert!(
        !ran.stdout.contains("ssh-key-material"),
        "a home file was readable: {}",
        ran.stdout
    );
    assert!(
        ran.stdout.contains("hidden") && ran.stdout.contains("toolchain-read-only"),
        "{} / {}",
        ran.stdout,
        ran.stderr
    );
    assert!(
        ran.stdout.contains("cargo "),
        "cargo still runs: {}",
        ran.stderr
    );
}

#[tokio::test]
async fn a_planted_unshare_or_mount_on_path_changes_nothing() {
    // An attacker's folder first on PATH (as an activated .venv/bin would be), holding fake
    // `unshare` and `mount` that would run on the host with the network and leave a mark.
    let dir = tempfile::tempdir().unwrap();
    let bin = dir.path().join("bin");
    let mark = dir.path().join("escaped");
    std::fs::create_dir(&bin).unwrap();
    for tool in ["unshare", "mount"] {
        let path = bin.join(tool);
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\ntouch {}\nexec /bin/sh -c 'echo planted'\n",
                mark.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let sandbox = Sandbox::from_env();
    assert!(sandbox.probe().available);
    let spec = CommandSpec {
        argv: ["/bin/sh", "-c", "cat /proc/net/dev; echo \"PATH=$PATH\""]
            .map(String::from)
            .to_vec(),
        cwd: dir.path().to_owned(),
        timeout: Duration::from_secs(30),
        max_output_bytes: 1 << 20,
        extra_env: vec![("PATH".into(), format!("{}:/usr/bin:/bin", bin.display()))],
        writable_git: false,
    };
    let collected = sandbox.run_collected(&spec).await.unwrap();
    assert!(!mark.exists(), "a planted program ran on the host");
    assert!(
        !collected.stdout.contains("planted"),
        "{}",
        collected.stdout
    );
    let interfaces: Vec<&str> = collected
        .stdout
        .lines()
        .skip(2)
        .take_while(|l| l.contains('|') || l.contains(':'))
        .filter_map(|l| l.split(':').next().map(str::trim))
        .filter(|n| !n.starts_with("PATH="))
        .collect();
    assert_eq!(interfaces, ["lo"], "{}", collected.stdout);
    assert!(
        collected
            .stdout
            .contains(&format!("PATH={}:/usr/bin:/bin", bin.display())),
        "the command keeps its own PATH: {}",
        collected.stdout
    );
    // A program that does not build the namespaces is never taken for the sandbox.
    let fake = Sandbox::with_program(bin.join("unshare")).probe();
    assert!(!fake.available, "{}", fake.detail);
    let resolved = airlock_appliance::sandbox::resolve_system_program("unshare").unwrap();
    assert!(
        resolved.starts_with("/usr") || resolved.starts_with("/bin"),
        "{}",
        resolved.display()
    );
}

#[tokio::test]
async fn shared_memory_run_and_host_unix_sockets_are_out_of_reach() {
    // A Unix socket the host listens on under /run (where docker.sock and session buses live).
    let socket_path =
        std::path::PathBuf::from(format!("/run/airlock-test-{}.sock", std::process::id()));
    let _ = std::fs::remove_file(&socket_path);
    let listener = std::os::unix::net::UnixListener::bind(&socket_path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let shm_mark = format!("/dev/shm/airlock-test-{}", std::process::id());
    let script = format!(
        "python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect(\"{}\")' && echo CONNECTED; \
         echo x > {shm_mark} && echo SHM_WRITTEN; touch /boot/x 2>/dev/null && echo BOOT_WRITTEN; echo done",
        socket_path.display()
    );
    let out = quick(&script).await;
    let _ = std::fs::remove_file(&socket_path);
    assert!(out.stdout.contains("done"), "{} {}", out.stdout, out.stderr);
    assert!(
        !out.stdout.contains("CONNECTED"),
        "reached a host Unix socket: {}",
        out.stdout
    );
    assert!(
        listener.accept().is_err(),
        "the host socket saw a connection"
    );
    assert!(
        !std::path::Path::new(&shm_mark).exists(),
        "a write to /dev/shm reached the host"
    );
    assert!(!out.stdout.contains("BOOT_WRITTEN"));
}

#[tokio::test]
async fn commands_cannot_plant_git_hooks_or_rewrite_the_policy() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join(".git/hooks")).unwrap();
    std::fs::write(dir.path().join(".git/config"), "[core]\n").unwrap();
    std::fs::create_dir_all(dir.path().join(".airlock")).unwrap();
    std::fs::write(dir.path().join(".airlock/policy.toml"), "# policy\n").unwrap();
    let attack = "printf '#!/bin/sh\\ncurl evil' > .git/hooks/pre-commit; \
                  printf '[core]\\n\\tfsmonitor = /tmp/x\\n' >> .git/config; \
                  echo 'allow = [\"*\"]' >> .airlock/policy.toml; \
                  echo ok > normal.txt; echo done";
    let spec = CommandSpec {
        argv: ["/bin/bash", "--noprofile", "--norc", "-c", attack]
            .map(String::from)
            .to_vec(),
        cwd: dir.path().to_owned(),
        timeout: Duration::from_secs(30),
        max_output_bytes: 1 << 20,
        extra_env: Vec::new(),
        writable_git: false,
    };
    let out = Sandbox::from_env().run_collected(&spec).await.unwrap();
    assert!(out.stdout.contains("done"), "{} {}", out.stdout, out.stderr);
    assert!(
        !dir.path().join(".git/hooks/pre-commit").exists(),
        "a hook was planted"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".git/config")).unwrap(),
        "[core]\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join(".airlock/policy.toml")).unwrap(),
        "# policy\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("normal.txt")).unwrap(),
        "ok\n",
        "the workspace stays writable"
    );
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.stderr
    );
}
