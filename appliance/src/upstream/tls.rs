//! TLS to an upstream: rustls over the connection to the pinned address, the server's
//! certificate verified for the host name of the base URL against the administrator's CA file
//! only — no system or bundled roots (an air-gapped team runs its own CA, and a public root
//! has no business vouching for a server on a private subnet).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A client configuration trusting exactly the certificates in `ca_file` (PEM).
pub fn client_config(ca_file: &Path) -> Result<Arc<ClientConfig>, String> {
    let shown = ca_file.display();
    let mut roots = RootCertStore::empty();
    let certificates = CertificateDer::pem_file_iter(ca_file)
        .map_err(|e| format!("cannot read the CA file {shown}: {e}"))?;
    for certificate in certificates {
        let certificate =
            certificate.map_err(|e| format!("the CA file {shown} is not valid PEM: {e}"))?;
        roots
            .add(certificate)
            .map_err(|e| format!("the CA file {shown} holds an unusable certificate: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("the CA file {shown} holds no certificate"));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Runs the TLS handshake on `tcp`, verifying the certificate for `host` (a DNS name or an
/// address, as the base URL gives it).
pub async fn connect(
    config: Arc<ClientConfig>,
    host: &str,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, String> {
    let name = ServerName::try_from(host.to_owned())
        .map_err(|e| format!("{host:?} cannot be checked against a certificate: {e}"))?;
    TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {host} failed: {e}"))
}
