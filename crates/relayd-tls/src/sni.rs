//! Choosing the certificate by the client's server name (SNI) among a
//! relay's keypairs: the first keypair whose names match, else the first
//! keypair (relayd's default). Names are the certificate's DNS
//! subjectAltNames, or its subject CN when it has none (as libtls checks);
//! `*.example.com` matches one label in place of the star.

use der::Decode;
use rustls::pki_types::CertificateDer;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use std::sync::Arc;
use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::SubjectAltName;

use crate::keys::KeyError;

const SUBJECT_ALT_NAME: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("2.5.29.17");
const COMMON_NAME: der::oid::ObjectIdentifier = der::oid::ObjectIdentifier::new_unwrap("2.5.4.3");

/// A relay's certificates, chosen by SNI.
#[derive(Debug)]
pub struct SniResolver {
    /// In configuration order; the first is the default.
    keys: Vec<(Vec<String>, Arc<CertifiedKey>)>,
}

#[derive(Debug, thiserror::Error)]
pub enum SniError {
    #[error("a TLS server needs at least one keypair")]
    NoKeypair,
    #[error("keypair without a certificate")]
    EmptyChain,
    #[error(transparent)]
    Certificate(#[from] KeyError),
}

impl SniResolver {
    pub fn new(keys: Vec<Arc<CertifiedKey>>) -> Result<SniResolver, SniError> {
        if keys.is_empty() {
            return Err(SniError::NoKeypair);
        }
        let keys = keys
            .into_iter()
            .map(|key| {
                let leaf = key.cert.first().ok_or(SniError::EmptyChain)?;
                Ok((certificate_names(leaf)?, key))
            })
            .collect::<Result<_, SniError>>()?;
        Ok(SniResolver { keys })
    }

    /// The key for `server_name`, or the default.
    pub fn choose(&self, server_name: Option<&str>) -> &Arc<CertifiedKey> {
        let chosen = server_name.and_then(|sni| {
            self.keys
                .iter()
                .find(|(names, _)| names.iter().any(|name| name_matches(name, sni)))
        });
        &chosen.unwrap_or(&self.keys[0]).1
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.choose(client_hello.server_name()).clone())
    }
}

/// One certificate for every client (a minted inspection certificate).
#[derive(Debug)]
pub struct SingleCert(pub Arc<CertifiedKey>);

impl ResolvesServerCert for SingleCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// The DNS names a certificate is valid for: its subjectAltNames, or the
/// subject's common names when it has no DNS subjectAltName.
pub fn certificate_names(cert: &CertificateDer<'_>) -> Result<Vec<String>, KeyError> {
    let parsed = x509_cert::Certificate::from_der(cert)
        .map_err(|e| KeyError::BadCertificate(e.to_string()))?;
    let tbs = &parsed.tbs_certificate;
    let mut names = Vec::new();
    for extension in tbs.extensions.iter().flatten() {
        if extension.extn_id != SUBJECT_ALT_NAME {
            continue;
        }
        let alt_names = SubjectAltName::from_der(extension.extn_value.as_bytes())
            .map_err(|e| KeyError::BadCertificate(e.to_string()))?;
        for name in alt_names.0 {
            if let GeneralName::DnsName(dns) = name {
                names.push(dns.as_str().to_ascii_lowercase());
            }
        }
    }
    if names.is_empty() {
        let attributes = tbs.subject.0.iter().flat_map(|rdn| rdn.0.iter());
        for attribute in attributes.filter(|a| a.oid == COMMON_NAME) {
            let value = &attribute.value;
            let text = value
                .decode_as::<Utf8StringRef<'_>>()
                .map(|s| s.as_str().to_string())
                .or_else(|_| {
                    value
                        .decode_as::<PrintableStringRef<'_>>()
                        .map(|s| s.as_str().to_string())
                })
                .or_else(|_| {
                    value
                        .decode_as::<Ia5StringRef<'_>>()
                        .map(|s| s.as_str().to_string())
                });
            if let Ok(text) = text {
                names.push(text.to_ascii_lowercase());
            }
        }
    }
    Ok(names)
}

/// `name` (from a certificate, lower case) matches the client's `sni`.
/// A wildcard stands for exactly one whole label, leftmost only, and needs
/// two labels after it.
fn name_matches(name: &str, sni: &str) -> bool {
    let sni = sni.trim_end_matches('.').to_ascii_lowercase();
    match name.strip_prefix("*.") {
        Some(parent) => {
            parent.contains('.')
                && sni
                    .split_once('.')
                    .is_some_and(|(label, rest)| !label.is_empty() && rest == parent)
        }
        None => name == sni,
    }
}

#[cfg(test)]
mod tests {
    use super::name_matches;

    #[test]
    fn wildcards_match_one_leftmost_label() {
        assert!(name_matches("www.example.com", "WWW.Example.com."));
        assert!(name_matches("*.example.com", "a.example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(!name_matches("*.com", "example.com"));
        assert!(!name_matches("www.example.com", "example.com"));
    }
}
