//! What the forked child does before it becomes `unshare`: hard resource limits, a seccomp
//! filter, and no inherited file descriptors. Everything the command starts inherits all
//! three and cannot undo them (raising a hard limit needs `CAP_SYS_RESOURCE` in the host's
//! user namespace; seccomp filters can only be added to, never removed).
//!
//! This is the second reviewed `unsafe` site of the workspace: `pre_exec` runs between
//! `fork` and `exec`, where only async-signal-safe calls are allowed. The closure below
//! makes raw syscalls only (`close_range`, `setrlimit`, `prctl`, `seccomp`) and allocates
//! nothing: the BPF programs are compiled before the fork.
#![allow(unsafe_code)]

use std::collections::BTreeMap;
use std::io;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// CPU seconds a command may use.
pub const CPU_SECONDS: u64 = 600;
/// Largest file a command may write.
pub const MAX_FILE_BYTES: u64 = 1 << 30;
/// Processes the user may have (RLIMIT_NPROC; counted per user namespace).
pub const MAX_PROCESSES: u64 = 4096;
/// Writable private memory (heap, anonymous maps) one process may hold: RLIMIT_DATA, which,
/// unlike RLIMIT_AS, leaves the large address-space reservations of V8 or wasm runtimes alone.
pub const MAX_DATA_BYTES: u64 = 8 << 30;

/// Socket families a command may open: Unix (its own, in its own namespaces) and IP (only a
/// loopback exists). Packet, netlink, vsock, Bluetooth, … are refused with `EAFNOSUPPORT`.
const SOCKET_FAMILIES: [u64; 3] = [
    libc::AF_UNIX as u64,
    libc::AF_INET as u64,
    libc::AF_INET6 as u64,
];

/// The limits and filters, compiled once per command before the fork.
pub struct ChildSetup {
    filters: Vec<BpfProgram>,
}

impl ChildSetup {
    /// Compiles the seccomp filters for this machine's architecture; fails (and the command
    /// does not run) where seccomp filters cannot be built.
    pub fn new() -> io::Result<Self> {
        let arch = TargetArch::try_from(std::env::consts::ARCH).map_err(io::Error::other)?;
        let socket_rule = SeccompRule::new(
            SOCKET_FAMILIES
                .iter()
                .map(|family| {
                    SeccompCondition::new(0, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, *family)
                })
                .collect::<Result<_, _>>()
                .map_err(io::Error::other)?,
        )
        .map_err(io::Error::other)?;
        let sockets = SeccompFilter::new(
            BTreeMap::from([(libc::SYS_socket, vec![socket_rule])]),
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EAFNOSUPPORT as u32),
            arch,
        )
        .map_err(io::Error::other)?;
        // io_uring bypasses per-syscall filtering (and has been a rich source of kernel bugs).
        let io_uring = SeccompFilter::new(
            [
                libc::SYS_io_uring_setup,
                libc::SYS_io_uring_enter,
                libc::SYS_io_uring_register,
            ]
            .into_iter()
            .map(|call| (call, Vec::new()))
            .collect(),
            SeccompAction::Allow,
            SeccompAction::Errno(libc::ENOSYS as u32),
            arch,
        )
        .map_err(io::Error::other)?;
        let filters = [sockets, io_uring]
            .into_iter()
            .map(|f| BpfProgram::try_from(f).map_err(io::Error::other))
            .collect::<io::Result<_>>()?;
        Ok(Self { filters })
    }

    /// Makes `command` run the setup in its child, before `exec`.
    pub fn install(self, command: &mut std::process::Command) {
        use std::os::unix::process::CommandExt;
        let mut setup = self;
        // SAFETY: the closure only makes raw syscalls on memory compiled before the fork
        // (see the module comment) and returns an error instead of panicking.
        unsafe {
            command.pre_exec(move || setup.in_child());
        }
    }

    /// Runs in the forked child: descriptors, limits, filters, in that order.
    fn in_child(&mut self) -> io::Result<()> {
        // Every descriptor but stdio closes at exec, whatever the appliance inherited
        // (std's own exec-error pipe is already close-on-exec).
        // SAFETY: a plain syscall on integer arguments.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_close_range,
                3u32,
                u32::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        for (resource, limit) in [
            (libc::RLIMIT_CPU, CPU_SECONDS),
            (libc::RLIMIT_FSIZE, MAX_FILE_BYTES),
            (libc::RLIMIT_NPROC, MAX_PROCESSES),
            (libc::RLIMIT_DATA, MAX_DATA_BYTES),
            (libc::RLIMIT_CORE, 0),
        ] {
            let value = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            // SAFETY: `value` lives on this stack frame for the call.
            if unsafe { libc::setrlimit(resource, &value) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        for filter in &self.filters {
            seccompiler::apply_filter(filter).map_err(|_| io::Error::last_os_error())?;
        }
        Ok(())
    }
}
