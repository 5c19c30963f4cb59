//! TLS for the RESP and HTTP listeners, with rustls: the server configuration from PEM files (optionally
//! requiring client certificates signed by a given CA: mutual TLS), and self-signed pairs for development
//! (`keel tls self-signed`). The listeners complete each handshake on the connection's own task.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The TLS settings as Keel uses them.
pub fn acceptor(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let key =
        PrivateKeyDer::from_pem_file(key).map_err(|e| format!("cannot read the private key {}: {e}", key.display()))?;
    // The provider is named rather than taken from crate features, so that another dependency enabling a
    // second one cannot make the choice ambiguous.
    let builder = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS: {e}"))?;
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for ca_cert in
                CertificateDer::pem_file_iter(ca).map_err(|e| format!("cannot read {}: {e}", ca.display()))?
            {
                let ca_cert = ca_cert.map_err(|e| format!("{}: {e}", ca.display()))?;
                roots.add(ca_cert).map_err(|e| format!("{}: {e}", ca.display()))?;
            }
            let provider = Arc::new(rustls::crypto::ring::default_provider());
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| format!("client CA {}: {e}", ca.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(certs, key).map_err(|e| format!("TLS certificate and key: {e}"))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A self-signed certificate for `hosts` and its key, both PEM.
pub fn self_signed(hosts: &[String]) -> Result<(String, String), String> {
    let certified = rcgen::generate_simple_self_signed(hosts.to_vec()).map_err(|e| e.to_string())?;
    Ok((certified.cert.pem(), certified.key_pair.serialize_pem()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_self_signed_pair_makes_an_acceptor_and_bad_files_are_named() {
        let dir = std::env::temp_dir().join(format!("keel-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = self_signed(&["localhost".into()]).unwrap();
        std::fs::write(dir.join("cert.pem"), cert).unwrap();
        std::fs::write(dir.join("key.pem"), key).unwrap();
        assert!(acceptor(&dir.join("cert.pem"), &dir.join("key.pem"), None).is_ok());
        assert!(acceptor(&dir.join("cert.pem"), &dir.join("key.pem"), Some(&dir.join("cert.pem"))).is_ok());
        let Err(error) = acceptor(&dir.join("missing.pem"), &dir.join("key.pem"), None) else {
            panic!("a missing certificate was accepted");
        };
        assert!(error.contains("missing.pem"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
