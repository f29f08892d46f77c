//! Evidence that the appliance talks to nobody but loopback: its own open sockets, read
//! from `/proc`, each classified as loopback-only or not. Every socket descriptor is
//! accounted for: TCP/UDP, Unix, raw, packet and netlink sockets are read from their
//! tables, and one that is in none of them (vsock, Bluetooth, …) is reported as `other`.

use std::collections::HashSet;
use std::fs;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use serde::Serialize;

/// One socket owned by this process.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct OwnSocket {
    /// `tcp`, `tcp6`, `udp`, `udp6`, `raw`, `raw6`, `unix`, `packet`, `netlink` or `other`.
    pub protocol: &'static str,
    /// Local address and port (a Unix socket's path; the inode where there is no address).
    pub local: String,
    /// Peer address and port (unspecified for listeners; empty where there is none).
    pub remote: String,
    /// True when both ends are loopback (or the peer is unspecified), and for Unix and
    /// netlink sockets, which stay on the machine; false for raw, packet and other sockets.
    pub loopback_only: bool,
    /// The socket's inode (to account for every descriptor).
    #[serde(skip)]
    pub inode: Option<u64>,
}

/// Tables of `/proc/PID/net/` in the TCP/UDP format.
const IP_TABLES: [&str; 6] = ["tcp", "tcp6", "udp", "udp6", "raw", "raw6"];

/// Lists this process's TCP and UDP sockets (Linux). Errors when `/proc` is unreadable, so
/// callers report "unknown" instead of a false "all clear".
pub fn own_sockets() -> std::io::Result<Vec<OwnSocket>> {
    sockets_of("self")
}

/// Lists the TCP and UDP sockets of process `pid` (`"self"` or a number), as seen in that
/// process's own network namespace.
pub fn sockets_of(pid: &str) -> std::io::Result<Vec<OwnSocket>> {
    let inodes = socket_inodes(pid)?;
    let mut sockets = Vec::new();
    let table = |name: &str| fs::read_to_string(format!("/proc/{pid}/net/{name}")).ok();
    for protocol in IP_TABLES {
        if let Some(text) = table(protocol) {
            sockets.extend(parse_table(protocol, &text, &inodes));
        }
    }
    let mut seen: HashSet<u64> = sockets.iter().filter_map(|s| s.inode).collect();
    for (protocol, inode_column) in [("unix", 6), ("packet", 8), ("netlink", 9)] {
        if let Some(text) = table(protocol) {
            for socket in parse_local_table(protocol, inode_column, &text, &inodes) {
                seen.extend(socket.inode);
                sockets.push(socket);
            }
        }
    }
    // A socket closed while the tables were read is in none of them: only descriptors
    // still open afterwards count as unknown.
    let still_open = socket_inodes(pid).unwrap_or_default();
    let mut unknown: Vec<u64> = inodes
        .difference(&seen)
        .filter(|inode| still_open.contains(inode))
        .copied()
        .collect();
    unknown.sort_unstable();
    sockets.extend(unknown.into_iter().map(|inode| OwnSocket {
        protocol: "other",
        local: format!("inode {inode}"),
        remote: String::new(),
        loopback_only: false,
        inode: Some(inode),
    }));
    Ok(sockets)
}

/// `pid` and all its descendants (from `/proc/PID/task/*/children`).
pub fn process_tree(pid: u32) -> Vec<u32> {
    let mut all = vec![pid];
    let mut index = 0;
    while index < all.len() {
        let current = all[index];
        if let Ok(tasks) = fs::read_dir(format!("/proc/{current}/task")) {
            for task in tasks.flatten() {
                if let Ok(children) = fs::read_to_string(task.path().join("children")) {
                    all.extend(
                        children
                            .split_whitespace()
                            .filter_map(|c| c.parse::<u32>().ok()),
                    );
                }
            }
        }
        index += 1;
    }
    all.sort_unstable();
    all.dedup();
    all
}

fn socket_inodes(pid: &str) -> std::io::Result<HashSet<u64>> {
    let mut inodes = HashSet::new();
    for entry in fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(target) = fs::read_link(entry?.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|t| t.strip_suffix(']'))
            && let Ok(inode) = inode.parse()
        {
            inodes.insert(inode);
        }
    }
    Ok(inodes)
}

/// Parses one `/proc/net/{tcp,udp}[6]` table, keeping rows whose inode is in `inodes`.
pub fn parse_table(protocol: &'static str, table: &str, inodes: &HashSet<u64>) -> Vec<OwnSocket> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let inode: u64 = fields.get(9)?.parse().ok()?;
            if !inodes.contains(&inode) {
                return None;
            }
            let local = parse_address(fields.get(1)?)?;
            let remote = parse_address(fields.get(2)?)?;
            let loopback_only = !protocol.starts_with("raw")
                && local.ip().is_loopback()
                && (remote.ip().is_loopback() || remote.ip().is_unspecified());
            Some(OwnSocket {
                protocol,
                local: local.to_string(),
                remote: remote.to_string(),
                loopback_only,
                inode: Some(inode),
            })
        })
        .collect()
}

/// Parses `/proc/net/{unix,packet,netlink}`, whose inode is in column `inode_column`.
pub fn parse_local_table(
    protocol: &'static str,
    inode_column: usize,
    table: &str,
    inodes: &HashSet<u64>,
) -> Vec<OwnSocket> {
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let inode: u64 = fields.get(inode_column)?.parse().ok()?;
            if !inodes.contains(&inode) {
                return None;
            }
            let local = match protocol {
                "unix" => fields
                    .get(7)
                    .map_or("(unnamed)".into(), |p| (*p).to_owned()),
                _ => format!("inode {inode}"),
            };
            Some(OwnSocket {
                protocol,
                local,
                remote: String::new(),
                loopback_only: protocol != "packet",
                inode: Some(inode),
            })
        })
        .collect()
}

/// Parses `0100007F:1F90` (IPv4) or a 32-hex-digit IPv6 address with port; the kernel
/// prints each 32-bit word in host byte order.
fn parse_address(text: &str) -> Option<SocketAddr> {
    let (ip_hex, port_hex) = text.split_once(':')?;
    let port = u16::from_str_radix(port_hex, 16).ok()?;
    let words: Option<Vec<u32>> = (0..ip_hex.len() / 8)
        .map(|i| u32::from_str_radix(ip_hex.get(i * 8..i * 8 + 8)?, 16).ok())
        .collect();
    let words = words?;
    let ip = match words.len() {
        1 => IpAddr::V4(Ipv4Addr::from(words[0].to_ne_bytes())),
        4 => {
            let mut bytes = [0u8; 16];
            for (i, w) in words.iter().enumerate() {
                bytes[i * 4..i * 4 + 4].copy_from_slice(&w.to_ne_bytes());
            }
            let v6 = Ipv6Addr::from(bytes);
            v6.to_ipv4_mapped()
                .map(IpAddr::V4)
                .unwrap_or(IpAddr::V6(v6))
        }
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_kernel_tables() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
           0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 111 1 0 100 0 0 10 0\n\
           1: 0A00020F:D2F0 22D8B85D:01BB 01 00000000:00000000 00:00000000 00000000     0        0 222 1 0 100 0 0 10 0\n\
           2: 0100007F:1F91 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 333 1 0 100 0 0 10 0\n";
        let inodes: HashSet<u64> = [111, 222].into();
        let rows = parse_table("tcp", table, &inodes);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].local, "127.0.0.1:8080");
        assert!(rows[0].loopback_only);
        assert_eq!(rows[1].remote, "93.184.216.34:443");
        assert!(!rows[1].loopback_only);
        let v6 = "sl local rem\n 0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 0 0 0 0 0 444\n";
        let rows = parse_table("tcp6", v6, &[444].into());
        assert_eq!(rows[0].local, "[::1]:8080");
        let raw = table.replace("111", "555");
        let rows = parse_table("raw", &raw, &[555].into());
        assert!(
            !rows[0].loopback_only,
            "a raw socket is never loopback-only"
        );
    }

    #[test]
    fn parses_unix_and_packet_tables() {
        let unix = "Num       RefCount Protocol Flags    Type St Inode Path\n\
            0000000000000000: 00000002 00000000 00010000 0001 01 777 /run/app.sock\n\
            0000000000000000: 00000003 00000000 00000000 0001 03 778\n";
        let rows = parse_local_table("unix", 6, unix, &[777, 778].into());
        assert_eq!(rows[0].local, "/run/app.sock");
        assert_eq!(rows[1].local, "(unnamed)");
        assert!(rows.iter().all(|r| r.loopback_only));
        let packet = "sk       RefCnt Type Proto  Iface R Rmem   User   Inode\n\
            0000000000000000 3      3    0003   0     1 0      0      999\n";
        let rows = parse_local_table("packet", 8, packet, &[999].into());
        assert!(!rows[0].loopback_only);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn sees_its_own_listener() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sockets = own_sockets().unwrap();
        assert!(
            sockets
                .iter()
                .any(|s| s.local == addr.to_string() && s.loopback_only),
            "{sockets:?}"
        );
    }
}
