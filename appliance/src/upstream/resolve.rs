//! Name resolution done once per call: every answer must pass [`super::address::check`],
//! and the connection goes to the first answer, pinned — a DNS answer that changes after the
//! check cannot redirect the call.

use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;

use super::address::{AddressRefused, check};
use super::config::Upstream;

/// A resolver; the system's in the product, a scripted one in tests.
pub trait Resolve: Send + Sync {
    /// The addresses `host` has now.
    fn resolve<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;
}

/// The operating system's resolver (`getaddrinfo` through tokio).
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
    ) -> Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host, 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// Why no address was pinned.
#[derive(Debug)]
pub enum PinError {
    /// The name did not resolve.
    Unresolved(String),
    /// An answer is not allowed.
    Refused(AddressRefused),
}

/// Resolves the upstream's host once and returns the address to connect to: an address
/// literal as is, a name's first answer — and only when every answer passes the check.
pub async fn pin(
    upstream: &Upstream,
    resolver: &dyn Resolve,
    own: &[SocketAddr],
) -> Result<SocketAddr, PinError> {
    let answers = match upstream.host.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => resolver
            .resolve(&upstream.host)
            .await
            .map_err(|e| PinError::Unresolved(format!("{}: {e}", upstream.host)))?,
    };
    let Some(first) = answers.first() else {
        return Err(PinError::Unresolved(format!(
            "{}: no address",
            upstream.host
        )));
    };
    for ip in &answers {
        check(SocketAddr::new(*ip, upstream.port), &upstream.allow, own)
            .map_err(PinError::Refused)?;
    }
    Ok(SocketAddr::new(*first, upstream.port))
}
