//! Which addresses the appliance may listen on. Only loopback is accepted: there is no
//! option that opens Airlock to the network.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The IPv4 loopback address the appliance always binds.
pub const LOOPBACK_V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// The IPv6 loopback address the appliance also binds when the host has IPv6.
pub const LOOPBACK_V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);

/// Refusal for a bind address that is not one of the two loopback addresses.
#[derive(Debug, PartialEq, Eq)]
pub struct NonLoopbackBind(pub String);

impl std::fmt::Display for NonLoopbackBind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "refusing to bind {:?}: Airlock listens on loopback only (127.0.0.1 or ::1); \
             there is no way to expose it to the network",
            self.0
        )
    }
}

impl std::error::Error for NonLoopbackBind {}

/// Parses a user-supplied bind address and accepts only `127.0.0.1`, `::1` or `localhost`.
pub fn parse_bind_address(text: &str) -> Result<IpAddr, NonLoopbackBind> {
    let trimmed = text.trim().trim_start_matches('[').trim_end_matches(']');
    if trimmed.eq_ignore_ascii_case("localhost") {
        return Ok(LOOPBACK_V4);
    }
    match trimmed.parse::<IpAddr>() {
        Ok(ip) if ip == LOOPBACK_V4 || ip == LOOPBACK_V6 => Ok(ip),
        _ => Err(NonLoopbackBind(text.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_the_two_loopback_addresses() {
        assert_eq!(parse_bind_address("127.0.0.1"), Ok(LOOPBACK_V4));
        assert_eq!(parse_bind_address("::1"), Ok(LOOPBACK_V6));
        assert_eq!(parse_bind_address("[::1]"), Ok(LOOPBACK_V6));
        assert_eq!(parse_bind_address("localhost"), Ok(LOOPBACK_V4));
        for bad in [
            "0.0.0.0",
            "::",
            "192.168.1.4",
            "10.0.0.1",
            "127.0.0.2",
            "example.com",
            "",
        ] {
            let err = parse_bind_address(bad).unwrap_err();
            assert!(err.to_string().contains("loopback only"), "{bad}: {err}");
        }
    }
}
