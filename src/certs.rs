//! A private CA and certificates made on the spot, for the lab's TLS topologies (`lab up --tls`) and the
//! TLS tests: the managed services are TLS-only, so the lab must be able to be too.

use std::path::{Path, PathBuf};

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};

use crate::error::{AppError, AppResult};

/// PEM files written into a directory.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// The CA certificate clients verify against (`--tls-ca`).
    pub ca: PathBuf,
    /// The server (and client) certificate.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
}

fn err(e: impl std::fmt::Display) -> AppError {
    AppError::Lab(format!("making TLS certificates: {e}"))
}

/// The files [`make`] writes in `dir` (a detached TLS lab finds its CA again there).
pub fn in_dir(dir: &Path) -> TlsFiles {
    TlsFiles { ca: dir.join("ca.crt"), cert: dir.join("server.crt"), key: dir.join("server.key") }
}

/// Makes a CA and one certificate signed by it for `names` (DNS names or IP addresses), in `dir`.
pub fn make(dir: &Path, names: &[&str]) -> AppResult<TlsFiles> {
    let ca_key = KeyPair::generate().map_err(err)?;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.distinguished_name.push(DnType::CommonName, "redis-failover-probe lab CA");
    let ca = CertifiedIssuer::self_signed(ca_params, ca_key).map_err(err)?;
    let key = KeyPair::generate().map_err(err)?;
    let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).map_err(err)?;
    params.distinguished_name.push(DnType::CommonName, names.first().copied().unwrap_or("localhost"));
    let cert = params.signed_by(&key, &ca).map_err(err)?;
    let files = in_dir(dir);
    let write = |p: &Path, text: String| std::fs::write(p, text).map_err(err);
    write(&files.ca, ca.pem())?;
    write(&files.cert, cert.pem())?;
    write(&files.key, key.serialize_pem())?;
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_ca_a_certificate_and_a_key() {
        let dir = tempfile::tempdir().unwrap();
        let f = make(dir.path(), &["localhost", "127.0.0.1"]).unwrap();
        for p in [&f.ca, &f.cert, &f.key] {
            let text = std::fs::read_to_string(p).unwrap();
            assert!(text.starts_with("-----BEGIN"), "{}", p.display());
        }
        // The CA parses as a trust anchor for the client configuration.
        let target = crate::settings::Target {
            tls: true,
            tls_ca: Some(f.ca.clone()),
            ..crate::settings::Target::local(vec!["localhost:1".parse().unwrap()], crate::mode::Mode::Standalone)
        };
        assert!(crate::tls::client_config(&target).is_ok());
    }
}
