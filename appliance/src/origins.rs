//! The exact set of Host values and origins that may talk to one running appliance.

/// Host and origin allowlist for one listening port.
#[derive(Clone, Debug)]
pub struct LocalOrigins {
    port: u16,
    hosts: [String; 3],
    origins: [String; 3],
}

impl LocalOrigins {
    /// Builds the allowlist for the port the appliance actually bound.
    pub fn new(port: u16) -> Self {
        let hosts = [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        let origins = hosts.clone().map(|h| format!("http://{h}"));
        Self {
            port,
            hosts,
            origins,
        }
    }

    /// The port these origins name.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// True when `host` is exactly one of the allowed `Host` header values (port included).
    pub fn is_allowed_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// True when `origin` is exactly one of the allowed origins (`null` never is).
    pub fn is_allowed_origin(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == origin)
    }

    /// The canonical host (`127.0.0.1:PORT`), used where a request's own Host is not usable.
    pub fn canonical_host(&self) -> &str {
        &self.hosts[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_and_origin_must_match_exactly() {
        let o = LocalOrigins::new(4100);
        assert!(o.is_allowed_host("127.0.0.1:4100"));
        assert!(o.is_allowed_host("LOCALHOST:4100"));
        assert!(o.is_allowed_host("[::1]:4100"));
        for bad in [
            "127.0.0.1",
            "127.0.0.1:4101",
            "localhost.evil:4100",
            "evil.com",
            "",
        ] {
            assert!(!o.is_allowed_host(bad), "{bad}");
        }
        assert!(o.is_allowed_origin("http://localhost:4100"));
        for bad in [
            "null",
            "http://localhost:4101",
            "https://localhost:4100",
            "http://localhost:4100/",
        ] {
            assert!(!o.is_allowed_origin(bad), "{bad}");
        }
    }
}
