//! TLS for the RESP and HTTP listeners, with rustls: the server configuration from PEM files (optionally
//! requiring client certificates signed by a given CA: mutual TLS; a key optionally encrypted as PKCS#8),
//! swapped at run time when CONFIG SET names the files again, and self-signed pairs for development
//! (`keel tls self-signed`). The listeners complete each handshake on the connection's own task.

use keel_engine::Settings;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// How long a client may take to complete its handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The acceptor every TLS listener takes for each new connection: CONFIG SET of the TLS files replaces it,
/// and connections already open keep theirs.
pub struct TlsSlot(parking_lot::RwLock<TlsAcceptor>);

impl TlsSlot {
    pub fn new(acceptor: TlsAcceptor) -> Arc<TlsSlot> {
        Arc::new(TlsSlot(parking_lot::RwLock::new(acceptor)))
    }

    /// The acceptor for a connection arriving now.
    pub fn current(&self) -> TlsAcceptor {
        self.0.read().clone()
    }
}

/// The acceptor the settings' TLS files make, or None when they name no certificate and key.
pub fn acceptor_for(settings: &Settings) -> Result<Option<TlsAcceptor>, String> {
    let (cert, key) = (settings.tls_cert_file.as_str(), settings.tls_key_file.as_str());
    if cert.is_empty() && key.is_empty() {
        return Ok(None);
    }
    let ca = (!settings.tls_ca_cert_file.is_empty()).then(|| Path::new(&settings.tls_ca_cert_file));
    acceptor(cert.as_ref(), key.as_ref(), &settings.tls_key_file_pass, ca).map(Some)
}

/// The reloader CONFIG SET calls (see `Server::tls_reloader`): reads the files the new settings name and
/// returns what puts the acceptor they make in `slot`; TLS cannot be turned off while its listeners run.
pub fn reloader(slot: Arc<TlsSlot>) -> keel_engine::server::TlsReloader {
    Box::new(move |settings: &Settings| {
        let acceptor = acceptor_for(settings)?.ok_or("TLS is serving: a certificate and a key are required")?;
        let slot = slot.clone();
        Ok(Box::new(move || {
            *slot.0.write() = acceptor;
            tracing::info!("TLS certificate and key read again (CONFIG SET): new connections use them");
        }))
    })
}

/// A private key from a PEM file: plain (PKCS#8, PKCS#1 or SEC1), or PKCS#8 encrypted with `password`.
fn private_key(path: &Path, password: &str) -> Result<PrivateKeyDer<'static>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("cannot read the private key {}: {e}", path.display()))?;
    if text.contains("Proc-Type: 4,ENCRYPTED") {
        return Err(format!(
            "{}: encrypted in OpenSSL's legacy PEM format, which Keel cannot read: convert it to PKCS#8 \
             (openssl pkcs8 -topk8 -v2 aes-256-cbc -in key.pem -out key-pkcs8.pem)",
            path.display()
        ));
    }
    let Some(start) = text.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") else {
        return PrivateKeyDer::from_pem_slice(text.as_bytes())
            .map_err(|e| format!("cannot read the private key {}: {e}", path.display()));
    };
    if password.is_empty() {
        return Err(format!("{}: the private key is encrypted: set tls-key-file-pass", path.display()));
    }
    let (_, document) = pkcs8::SecretDocument::from_pem(&text[start..])
        .map_err(|e| format!("{}: not a PEM encrypted private key: {e}", path.display()))?;
    let encrypted = pkcs8::EncryptedPrivateKeyInfo::try_from(document.as_bytes())
        .map_err(|e| format!("{}: not a PKCS#8 encrypted private key: {e}", path.display()))?;
    let key = encrypted
        .decrypt(password)
        .map_err(|_| format!("{}: cannot decrypt the private key with tls-key-file-pass", path.display()))?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.as_bytes().to_vec())))
}

/// The TLS settings as Keel uses them.
pub fn acceptor(cert: &Path, key: &Path, key_password: &str, client_ca: Option<&Path>) -> Result<TlsAcceptor, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| format!("cannot read the certificate {}: {e}", cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: not a PEM certificate chain: {e}", cert.display()))?;
    if certs.is_empty() {
        return Err(format!("{}: no certificate in it", cert.display()));
    }
    let key = private_key(key, key_password)?;
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
        assert!(acceptor(&dir.join("cert.pem"), &dir.join("key.pem"), "", None).is_ok());
        assert!(acceptor(&dir.join("cert.pem"), &dir.join("key.pem"), "", Some(&dir.join("cert.pem"))).is_ok());
        let Err(error) = acceptor(&dir.join("missing.pem"), &dir.join("key.pem"), "", None) else {
            panic!("a missing certificate was accepted");
        };
        assert!(error.contains("missing.pem"), "{error}");
        std::fs::remove_dir_all(dir).unwrap();
    }
}
