use super::*;
use crate::test_support::{leaf, Issuer};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A scratch directory removed at the end of the test.
pub(crate) struct Scratch(pub PathBuf);

impl Scratch {
    pub(crate) fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("relayd-tls-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub(crate) fn write(&self, name: &str, contents: &[u8]) -> PathBuf {
        let path = self.0.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Debian's openssl, the tool operators make their key files with.
pub(crate) fn openssl(dir: &Path, args: &[&str]) -> Vec<u8> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// A self-signed certificate for a key file made by openssl.
fn certificate_for(dir: &Path, key: &str) -> Vec<u8> {
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            key,
            "-subj",
            "/CN=files.test",
            "-days",
            "2",
        ],
    )
}

#[test]
fn pkcs8_pkcs1_and_sec1_keys_load_and_match() {
    let scratch = Scratch::new("formats");
    let dir = &scratch.0;
    openssl(dir, &["genrsa", "-traditional", "-out", "rsa1.key", "2048"]);
    openssl(
        dir,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "sec1.key",
        ],
    );
    openssl(dir, &["genpkey", "-algorithm", "ed25519", "-out", "ed.key"]);
    for (file, header) in [
        ("rsa1.key", "BEGIN RSA PRIVATE KEY"),
        ("sec1.key", "BEGIN EC PRIVATE KEY"),
        ("ed.key", "BEGIN PRIVATE KEY"),
    ] {
        let key_pem = std::fs::read(dir.join(file)).unwrap();
        assert!(String::from_utf8_lossy(&key_pem).contains(header), "{file}");
        let cert_pem = certificate_for(dir, file);
        let pair =
            Keypair::from_pem(&cert_pem, &key_pem, None).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            pair.key_id,
            KeyId::of_certificate(&pair.chain[0]).unwrap(),
            "{file}"
        );
    }
}

#[test]
fn encrypted_pkcs8_needs_its_password() {
    let scratch = Scratch::new("encrypted");
    let dir = &scratch.0;
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            "plain.key",
        ],
    );
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "plain.key",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:s3cret",
            "-out",
            "enc.key",
        ],
    );
    let cert_pem = certificate_for(dir, "plain.key");
    let encrypted = std::fs::read(dir.join("enc.key")).unwrap();
    assert!(String::from_utf8_lossy(&encrypted).contains("ENCRYPTED PRIVATE KEY"));
    assert_eq!(
        private_key(&encrypted, None).unwrap_err(),
        KeyError::EncryptedWithoutPassword
    );
    assert!(matches!(
        private_key(&encrypted, Some("wrong")),
        Err(KeyError::Decrypt(_))
    ));
    let pair = Keypair::from_pem(&cert_pem, &encrypted, Some("s3cret")).unwrap();
    assert_eq!(
        KeyKind::of_public_key(public_key(&pair.chain[0]).unwrap().as_ref())
            .unwrap()
            .schemes,
        [SignatureScheme::ECDSA_NISTP384_SHA384]
    );
    // OpenSSL's older encrypted PEM is named, not misread.
    openssl(
        dir,
        &[
            "genrsa",
            "-traditional",
            "-aes128",
            "-passout",
            "pass:x",
            "-out",
            "legacy.key",
            "2048",
        ],
    );
    let legacy = std::fs::read(dir.join("legacy.key")).unwrap();
    assert_eq!(
        private_key(&legacy, Some("x")).unwrap_err(),
        KeyError::LegacyEncryption
    );
}

#[test]
fn a_key_of_another_certificate_is_refused() {
    let issuer = Issuer::new("test CA");
    let one = leaf(&issuer, &["one.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let two = leaf(&issuer, &["two.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let error =
        Keypair::from_pem(one.cert_pem.as_bytes(), two.key_pem.as_bytes(), None).unwrap_err();
    assert_eq!(error, KeyError::Mismatch);
    assert_eq!(
        certificates(b"no pem here").unwrap_err(),
        KeyError::NoCertificate
    );
    assert_eq!(
        private_key(one.cert_pem.as_bytes(), None).unwrap_err(),
        KeyError::NoPrivateKey
    );
}

#[test]
fn key_ids_are_the_public_key_hash_and_print_short() {
    let issuer = Issuer::new("test CA");
    let one = leaf(&issuer, &["one.test"], &rcgen::PKCS_RSA_SHA256);
    let id = KeyId::of_certificate(&one.cert).unwrap();
    let spki = public_key(&one.cert).unwrap();
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, spki.as_ref());
    assert_eq!(id.0.as_slice(), digest.as_ref());
    assert_eq!(id.to_string().len(), 16);
    let kind = KeyKind::of_public_key(spki.as_ref()).unwrap();
    assert_eq!(kind.algorithm, SignatureAlgorithm::RSA);
    assert_eq!(kind.schemes[0], SignatureScheme::RSA_PSS_SHA512);
}
