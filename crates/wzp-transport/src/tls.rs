//! TLS for WZP: the relay's persistent identity and how clients decide to trust it.
//!
//! The relay has an Ed25519 key kept in a file. Its certificate is built
//! deterministically from that key (fixed serial, names and validity; Ed25519
//! signatures are deterministic), so the SHA-256 of the certificate — the
//! relay's fingerprint — stays the same across restarts and can be pinned.
//!
//! Clients trust a relay in one of three ways, never "accept anything":
//! - [`Trust::Pinned`]: the fingerprint must match; a different one is
//!   [`TransportError::RelayKeyChanged`].
//! - [`Trust::FirstUse`]: no pin yet; the relay's fingerprint is recorded so the
//!   caller can pin it (trust on first use, as SSH does).
//! - [`Trust::Ca`]: the certificate must chain to a configured CA and match the
//!   server name, as on the web.

use std::fmt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::DigitallySignedStruct;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

use crate::error::{Result, TransportError};
use crate::fsutil::write_atomic;

/// SHA-256 of a relay's certificate (DER), shown as 32 colon-separated hex pairs.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct RelayFingerprint(pub [u8; 32]);

impl RelayFingerprint {
    /// The fingerprint of a DER certificate.
    #[must_use]
    pub fn of_cert(der: &[u8]) -> Self {
        Self(Sha256::digest(der).into())
    }

    /// Parses the hex form (colons optional).
    pub fn parse(s: &str) -> Result<Self> {
        let clean: String = s.trim().chars().filter(|c| *c != ':').collect();
        let mut out = [0u8; 32];
        hex::decode_to_slice(&clean, &mut out).map_err(|e| {
            TransportError::Tls(format!(
                "invalid relay fingerprint {s:?}: {e} (want 64 hex digits)"
            ))
        })?;
        Ok(Self(out))
    }
}

impl fmt::Display for RelayFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for RelayFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelayFingerprint({self})")
    }
}

/// The relay's TLS identity: its key and the certificate made from it.
pub struct RelayIdentity {
    key_pkcs8: Vec<u8>,
    cert_der: Vec<u8>,
    chain: Vec<Vec<u8>>,
}

impl fmt::Debug for RelayIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelayIdentity({})", self.fingerprint())
    }
}

impl RelayIdentity {
    /// A fresh random identity (not stored anywhere).
    pub fn generate() -> Result<Self> {
        let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        Self::from_pkcs8(key.serialize_der())
    }

    /// The identity for an Ed25519 key in PKCS#8 DER.
    pub fn from_pkcs8(key_pkcs8: Vec<u8>) -> Result<Self> {
        let key_der = PrivatePkcs8KeyDer::from(key_pkcs8.as_slice());
        let key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&key_der, &rcgen::PKCS_ED25519)?;
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "wzp-relay".to_string()])?;
        // Everything fixed, so the same key always yields the same certificate bytes.
        params.serial_number = Some(rcgen::SerialNumber::from_slice(&[1]));
        params.not_before = rcgen::date_time_ymd(2024, 1, 1);
        params.not_after = rcgen::date_time_ymd(9999, 12, 31);
        let mut dn = rcgen::DistinguishedName::new();
        dn.push(rcgen::DnType::CommonName, "wzp relay");
        params.distinguished_name = dn;
        let cert = params.self_signed(&key)?;
        Ok(Self {
            key_pkcs8,
            cert_der: cert.der().to_vec(),
            chain: Vec::new(),
        })
    }

    /// A CA-issued identity: a PEM certificate chain (leaf first) and its PEM private key.
    pub fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<Self> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| TransportError::Io {
                path: p.to_path_buf(),
                source,
            })
        };
        let bad = |p: &Path, reason: String| TransportError::BadFile {
            path: p.to_path_buf(),
            reason,
        };
        let certs = pem_blocks(&read(cert_path)?, "CERTIFICATE").map_err(|r| bad(cert_path, r))?;
        let mut keys = pem_blocks(&read(key_path)?, "PRIVATE KEY").map_err(|r| bad(key_path, r))?;
        let (Some(leaf), Some(key)) = (certs.first(), keys.pop()) else {
            return Err(bad(
                cert_path,
                "no CERTIFICATE block, or no PKCS#8 PRIVATE KEY block in the key file".into(),
            ));
        };
        Ok(Self {
            key_pkcs8: key,
            cert_der: leaf.clone(),
            chain: certs[1..].to_vec(),
        })
    }

    /// Loads the identity kept at `path`, creating and storing a new one if the
    /// file does not exist. The file holds the PKCS#8 key in PEM.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => {
                let mut keys = pem_blocks(&bytes, "PRIVATE KEY").map_err(|reason| {
                    TransportError::BadFile {
                        path: path.to_path_buf(),
                        reason,
                    }
                })?;
                let key = keys.pop().ok_or_else(|| TransportError::BadFile {
                    path: path.to_path_buf(),
                    reason: "no PRIVATE KEY block".into(),
                })?;
                Self::from_pkcs8(key).map_err(|e| TransportError::BadFile {
                    path: path.to_path_buf(),
                    reason: format!("not an Ed25519 PKCS#8 key: {e}"),
                })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let id = Self::generate()?;
                write_atomic(path, pem_encode("PRIVATE KEY", &id.key_pkcs8).as_bytes())?;
                tracing::info!(path = %path.display(), fingerprint = %id.fingerprint(), "created relay identity");
                Ok(id)
            }
            Err(source) => Err(TransportError::Io {
                path: path.to_path_buf(),
                source,
            }),
        }
    }

    /// The relay's fingerprint: SHA-256 of its certificate.
    #[must_use]
    pub fn fingerprint(&self) -> RelayFingerprint {
        RelayFingerprint::of_cert(&self.cert_der)
    }

    /// The certificate, DER.
    #[must_use]
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    pub(crate) fn rustls_chain(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let mut chain = vec![CertificateDer::from(self.cert_der.clone())];
        chain.extend(self.chain.iter().cloned().map(CertificateDer::from));
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_pkcs8.clone()));
        (chain, key)
    }
}

/// Splits PEM text into the DER bodies of blocks whose label ends with `label`.
fn pem_blocks(text: &[u8], label: &str) -> std::result::Result<Vec<Vec<u8>>, String> {
    use base64::Engine as _;
    let text = std::str::from_utf8(text).map_err(|_| "not PEM text".to_string())?;
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if let Some(l) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            body = l.ends_with(label).then(String::new);
        } else if line.starts_with("-----END ") {
            if let Some(b) = body.take() {
                let der = base64::engine::general_purpose::STANDARD
                    .decode(b.as_bytes())
                    .map_err(|e| format!("bad base64 in PEM block: {e}"))?;
                out.push(der);
            }
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    Ok(out)
}

fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut s = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        s.push_str(&String::from_utf8_lossy(chunk));
        s.push('\n');
    }
    s.push_str(&format!("-----END {label}-----\n"));
    s
}

/// How a client decides to trust a relay.
#[derive(Debug, Clone)]
pub enum Trust {
    /// Only a relay with this fingerprint.
    Pinned(RelayFingerprint),
    /// Any relay, recording its fingerprint for the caller to pin. Use only for a
    /// relay never contacted before, and show the fingerprint to the user.
    FirstUse,
    /// Certificates that chain to these CA certificates (DER) and match the server name.
    Ca(Vec<Vec<u8>>),
}

impl Trust {
    /// CA trust from a PEM file of one or more CA certificates.
    pub fn ca_from_pem_file(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|source| TransportError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let certs =
            pem_blocks(&bytes, "CERTIFICATE").map_err(|reason| TransportError::BadFile {
                path: path.to_path_buf(),
                reason,
            })?;
        if certs.is_empty() {
            return Err(TransportError::BadFile {
                path: path.to_path_buf(),
                reason: "no CERTIFICATE block".into(),
            });
        }
        Ok(Self::Ca(certs))
    }
}

pub(crate) fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Verifies the relay by fingerprint, and records what it saw so a mismatch can
/// be reported as [`TransportError::RelayKeyChanged`] rather than a bare TLS alert.
#[derive(Debug)]
pub(crate) struct FingerprintVerifier {
    expected: Option<RelayFingerprint>,
    seen: Arc<Mutex<Option<RelayFingerprint>>>,
    provider: Arc<CryptoProvider>,
}

impl FingerprintVerifier {
    pub(crate) fn new(
        expected: Option<RelayFingerprint>,
        seen: Arc<Mutex<Option<RelayFingerprint>>>,
    ) -> Self {
        Self {
            expected,
            seen,
            provider: provider(),
        }
    }
}

impl ServerCertVerifier for FingerprintVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let fp = RelayFingerprint::of_cert(end_entity);
        if let Ok(mut seen) = self.seen.lock() {
            *seen = Some(fp);
        }
        match self.expected {
            Some(want) if want != fp => Err(rustls::Error::General(format!(
                "relay key changed: pinned {want}, presented {fp}"
            ))),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        // The pin covers the certificate; this proves the relay holds its key.
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_certificate() {
        let a = RelayIdentity::generate().unwrap();
        let b = RelayIdentity::from_pkcs8(a.key_pkcs8.clone()).unwrap();
        assert_eq!(a.cert_der(), b.cert_der());
        assert_eq!(a.fingerprint(), b.fingerprint());
        assert_ne!(
            a.fingerprint(),
            RelayIdentity::generate().unwrap().fingerprint()
        );
    }

    #[test]
    fn load_or_create_persists() {
        let dir = std::env::temp_dir().join(format!("wzp-tls-test-{}", std::process::id()));
        let path = dir.join("relay.key");
        let a = RelayIdentity::load_or_create(&path).unwrap();
        let b = RelayIdentity::load_or_create(&path).unwrap();
        assert_eq!(a.fingerprint(), b.fingerprint());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
        std::fs::write(&path, "garbage").unwrap();
        assert!(matches!(
            RelayIdentity::load_or_create(&path),
            Err(TransportError::BadFile { .. })
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn fingerprint_text_round_trip() {
        let fp = RelayIdentity::generate().unwrap().fingerprint();
        assert_eq!(RelayFingerprint::parse(&fp.to_string()).unwrap(), fp);
        assert!(RelayFingerprint::parse("abcd").is_err());
    }
}
