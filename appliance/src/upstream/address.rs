//! Which addresses an upstream may have: inside the administrator's allowlist, and never a
//! link-local, cloud-metadata, multicast, broadcast or unspecified address, nor the
//! appliance's own listeners, whatever the allowlist says. A pure [`check`].

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use anyhow::Context;
use ipnet::IpNet;

/// The addresses an upstream may resolve to.
#[derive(Clone, Debug, Default)]
pub struct Allowlist(Vec<IpNet>);

impl Allowlist {
    /// Parses CIDRs (`10.0.0.0/24`) and exact addresses (`10.0.0.5`, `fd00::5`).
    pub fn parse(entries: &[String]) -> anyhow::Result<Self> {
        if entries.is_empty() {
            anyhow::bail!("`allow` must list the addresses the server may have");
        }
        let nets = entries
            .iter()
            .map(|entry| {
                let entry = entry.trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .with_context(|| format!("{entry:?} in `allow` is not a CIDR or an address"))
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(Self(nets))
    }

    /// True when `ip` lies inside one of the entries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }
}

/// Why an address was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AddressRefused {
    /// A link-local or cloud-metadata address (169.254.0.0/16, fe80::/10, …).
    Metadata(IpAddr),
    /// Multicast, broadcast or unspecified.
    NotUnicast(IpAddr),
    /// The appliance's own listener.
    Itself(SocketAddr),
    /// Outside the allowlist.
    NotAllowed(IpAddr),
}

impl fmt::Display for AddressRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Metadata(ip) => write!(
                f,
                "{ip} is a link-local or cloud-metadata address, which is never reachable"
            ),
            Self::NotUnicast(ip) => write!(f, "{ip} is not a single host's address"),
            Self::Itself(addr) => write!(f, "{addr} is the appliance itself"),
            Self::NotAllowed(ip) => {
                write!(f, "{ip} is not in the upstream's allowlist")
            }
        }
    }
}

/// Addresses no allowlist can open: cloud metadata services outside 169.254.0.0/16.
const METADATA: [IpAddr; 2] = [
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
];

/// Whether the appliance may connect to `addr` for an upstream with `allow`; `own` are the
/// appliance's listeners.
pub fn check(
    addr: SocketAddr,
    allow: &Allowlist,
    own: &[SocketAddr],
) -> Result<(), AddressRefused> {
    let ip = canonical(addr.ip());
    let link_local = match ip {
        IpAddr::V4(v4) => v4.is_link_local(),
        IpAddr::V6(v6) => (v6.segments()[0] & 0xffc0) == 0xfe80,
    };
    if link_local || METADATA.contains(&ip) {
        return Err(AddressRefused::Metadata(ip));
    }
    let not_unicast = ip.is_unspecified()
        || ip.is_multicast()
        || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
    if not_unicast {
        return Err(AddressRefused::NotUnicast(ip));
    }
    if ip.is_loopback() && own.iter().any(|o| o.port() == addr.port()) {
        return Err(AddressRefused::Itself(SocketAddr::new(ip, addr.port())));
    }
    if !allow.contains(ip) {
        return Err(AddressRefused::NotAllowed(ip));
    }
    Ok(())
}

/// An IPv4-mapped IPv6 address (`::ffff:169.254.169.254`) judged as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn only_allowlisted_unicast_addresses_pass() {
        let allow = Allowlist::parse(&[
            "10.0.0.0/24".into(),
            "127.0.0.1".into(),
            "169.254.0.0/16".into(),
            "0.0.0.0/0".into(),
        ])
        .unwrap();
        let own = [addr("127.0.0.1:7777")];
        assert_eq!(check(addr("10.0.0.5:8000"), &allow, &own), Ok(()));
        assert_eq!(check(addr("127.0.0.1:8080"), &allow, &own), Ok(()));
        for (bad, why) in [
            ("169.254.169.254:80", "metadata"),
            ("[::ffff:169.254.169.254]:80", "metadata"),
            ("[fe80::1]:80", "metadata"),
            ("100.100.100.200:80", "metadata"),
            ("[fd00:ec2::254]:80", "metadata"),
            ("224.0.0.1:80", "unicast"),
            ("255.255.255.255:80", "unicast"),
            ("0.0.0.0:80", "unicast"),
            ("127.0.0.1:7777", "itself"),
        ] {
            let refused = check(addr(bad), &allow, &own).unwrap_err();
            let matches = match why {
                "metadata" => matches!(refused, AddressRefused::Metadata(_)),
                "unicast" => matches!(refused, AddressRefused::NotUnicast(_)),
                _ => matches!(refused, AddressRefused::Itself(_)),
            };
            assert!(matches, "{bad}: {refused:?}");
        }
        let narrow = Allowlist::parse(&["10.0.0.0/24".into()]).unwrap();
        assert_eq!(
            check(addr("10.0.1.5:80"), &narrow, &own),
            Err(AddressRefused::NotAllowed("10.0.1.5".parse().unwrap()))
        );
        assert!(check(addr("[::ffff:10.0.0.9]:80"), &narrow, &own).is_ok());
        assert!(Allowlist::parse(&[]).is_err());
        assert!(Allowlist::parse(&["team.example".into()]).is_err());
    }
}
