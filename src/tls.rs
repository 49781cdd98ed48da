//! TLS client configuration (rustls, ring): verification on by default, a private CA with `--tls-ca`,
//! or no verification at all with `--insecure`.

use std::sync::Arc;

use fred::types::config::{TlsConfig, TlsConnector, TlsHostMapping};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::error::{AppError, AppResult};
use crate::settings::Target;

/// Builds fred's TLS configuration for a target.
pub fn client_config(target: &Target) -> AppResult<TlsConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| AppError::BadInput(format!("TLS setup: {e}")))?;
    let config = if target.insecure {
        eprintln!("warning: --insecure: the server certificate is NOT verified");
        builder.dangerous().with_custom_certificate_verifier(Arc::new(NoVerification(provider))).with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        match &target.tls_ca {
            Some(path) => {
                let certs = CertificateDer::pem_file_iter(path)
                    .map_err(|e| AppError::BadInput(format!("--tls-ca {}: {e}", path.display())))?;
                for cert in certs {
                    let cert = cert.map_err(|e| AppError::BadInput(format!("--tls-ca {}: {e}", path.display())))?;
                    roots.add(cert).map_err(|e| AppError::BadInput(format!("--tls-ca {}: {e}", path.display())))?;
                }
                if roots.is_empty() {
                    return Err(AppError::BadInput(format!(
                        "--tls-ca {}: no PEM certificate in the file",
                        path.display()
                    )));
                }
            }
            None => {
                // Certificates the system store cannot parse are skipped: the rest still verify.
                for cert in rustls_native_certs::load_native_certs().certs {
                    let _ = roots.add(cert);
                }
            }
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    Ok(TlsConfig { connector: TlsConnector::from(config), hostnames: TlsHostMapping::DefaultHost })
}

/// Accepts any certificate: only for `--insecure`.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
