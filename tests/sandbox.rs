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

#[tokio::test]
async fn secrets_are_hidden_and_registry_credentials_too() {
    // Outside /tmp and the home folders, which are private or hidden anyway.
    let secrets = tempfile::tempdir_in("/var/tmp").unwrap();
    let token = secrets.path().join("token");
    std::fs::write(&token, "TOKEN-SECRET").unwrap();
    let audit = secrets.path().join("audit");
    std::fs::create_dir(&audit).unwrap();
    std::fs::write(audit.join("audit-000001.jsonl"), "AUDIT-SECRET").unwrap();
    let home = tempfile::tempdir_in("/var/tmp").unwrap();
    std::fs::create_dir_all(home.path().join(".cargo/bin")).unwrap();
    std::fs::write(home.path().join(".cargo/bin/tool"), "TOOLCHAIN-OK").unwrap();
    std::fs::write(home.path().join(".cargo/credentials.toml"), "CARGO-SECRET").unwrap();
    let workspace = tempfile::tempdir().unwrap();
    let script = format!(
        "cat {token} {audit}/* $HOME/.cargo/credentials.toml $HOME/.cargo/bin/tool 2>&1; ls -A {audit}; echo done",
        token = token.display(),
        audit = audit.display()
    );
    let spec = CommandSpec {
        argv: ["/bin/bash", "--noprofile", "--norc", "-c", &script]
            .map(String::from)
            .to_vec(),
        cwd: workspace.path().to_owned(),
        timeout: Duration::from_secs(30),
        max_output_bytes: 1 << 20,
        extra_env: vec![("HOME".into(), home.path().display().to_string())],
        writable_git: false,
    };
    let out = Sandbox::from_env()
        .hiding([token.clone(), audit.clone()])
        .run_collected(&spec)
        .await
        .unwrap();
    assert!(out.stdout.contains("done"), "{} {}", out.stdout, out.stderr);
    for secret in ["TOKEN-SECRET", "AUDIT-SECRET", "CARGO-SECRET"] {
        assert!(
            !out.stdout.contains(secret),
            "{secret} leaked: {}",
            out.stdout
        );
    }
    assert!(out.stdout.contains("TOOLCHAIN-OK"), "{}", out.stdout);
    // The host still has them.
    assert_eq!(std::fs::read_to_string(&token).unwrap(), "TOKEN-SECRET");
}

#[tokio::test]
async fn memory_and_other_limits_are_hard_and_foreign_sockets_and_io_uring_refused() {
    let script = r#"
import ctypes, errno, resource, socket
print("DATA", resource.getrlimit(resource.RLIMIT_DATA)[1])
try:
    resource.setrlimit(resource.RLIMIT_DATA, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
    print("RAISED")
except (ValueError, OSError):
    print("KEPT")
try:
    block = bytearray(9 << 30)
    print("ALLOCATED")
except MemoryError:
    print("MEMORY_REFUSED")
for name, kind in [("AF_PACKET", socket.SOCK_DGRAM), ("AF_NETLINK", socket.SOCK_RAW),
                   ("AF_VSOCK", socket.SOCK_STREAM), ("AF_UNIX", socket.SOCK_STREAM),
                   ("AF_INET", socket.SOCK_STREAM)]:
    try:
        socket.socket(getattr(socket, name), kind).close()
        print(name, "OPENED")
    except OSError as e:
        print(name, errno.errorcode[e.errno])
libc = ctypes.CDLL(None, use_errno=True)
params = ctypes.create_string_buffer(120)
rc = libc.syscall(425, 4, params)
print("IO_URING", "OPENED" if rc >= 0 else errno.errorcode[ctypes.get_errno()])
"#;
    let out = quick(&format!(
        "python3 -c '{script}'; ulimit -H -t -d; echo done"
    ))
    .await;
    let stdout = &out.stdout;
    assert!(stdout.contains("done"), "{stdout} {}", out.stderr);
    let data_limit = airlock_appliance::sandbox::MAX_DATA_BYTES;
    assert!(stdout.contains(&format!("DATA {data_limit}")), "{stdout}");
    assert!(
        stdout.contains("KEPT") && !stdout.contains("RAISED"),
        "{stdout}"
    );
    assert!(stdout.contains("MEMORY_REFUSED"), "{stdout}");
    for family in ["AF_PACKET", "AF_NETLINK", "AF_VSOCK"] {
        assert!(
            stdout.contains(&format!("{family} EAFNOSUPPORT")),
            "{stdout}"
        );
    }
    assert!(
        stdout.contains("AF_UNIX OPENED") && stdout.contains("AF_INET OPENED"),
        "{stdout}"
    );
    assert!(stdout.contains("IO_URING ENOSYS"), "{stdout}");
    let cpu = airlock_appliance::sandbox::CPU_SECONDS.to_string();
    assert!(
        stdout.lines().any(|l| l.ends_with(&cpu)),
        "hard CPU limit: {stdout}"
    );
}

/// Set in the re-executed copy of this test that holds an inherited descriptor.
const INHERITED_FD_CHILD: &str = "AIRLOCK_TEST_INHERITED_FD";

#[tokio::test]
async fn no_descriptor_the_appliance_inherited_reaches_a_command() {
    if std::env::var_os(INHERITED_FD_CHILD).is_none() {
        // Re-run this very test with descriptor 57 open and inheritable, as a careless
        // parent process of the appliance would leave it.
        let me = std::env::current_exe().unwrap();
        let status = std::process::Command::new("/bin/bash")
            .args(["-c", "exec 57</etc/hostname; exec \"$0\" \"$@\""])
            .arg(me)
            .args([
                "--exact",
                "no_descriptor_the_appliance_inherited_reaches_a_command",
                "--nocapture",
            ])
            .env(INHERITED_FD_CHILD, "1")
            .status()
            .unwrap();
        assert!(status.success());
        return;
    }
    assert!(
        std::fs::read_link("/proc/self/fd/57").is_ok(),
        "the test process holds descriptor 57"
    );
    let out = quick("ls /proc/$$/fd; echo done").await;
    assert!(out.stdout.contains("done"), "{} {}", out.stdout, out.stderr);
    let fds: Vec<&str> = out.stdout.lines().take_while(|l| *l != "done").collect();
    assert_eq!(fds, ["0", "1", "2"], "{}", out.stdout);
}

#[tokio::test]
async fn a_host_unix_socket_anywhere_on_disk_is_out_of_reach() {
    // Outside /tmp, /run and the home folders, which are private or hidden anyway: a socket
    // file on a read-only mount could still be connected to.
    let dir = tempfile::tempdir_in("/var/tmp").unwrap();
    let path = dir.path().join("agent.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    listener.set_nonblocking(true).unwrap();
    let out = quick(&format!(
        "python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); s.connect(\"{}\")' && echo CONNECTED; echo done",
        path.display()
    ))
    .await;
    assert!(out.stdout.contains("done"), "{} {}", out.stdout, out.stderr);
    assert!(!out.stdout.contains("CONNECTED"), "{}", out.stdout);
    assert!(
        listener.accept().is_err(),
        "the host socket saw a connection"
    );
}
