use crate::sign::*;
use crate::test_support::{leaf, Issuer};
use crate::KeyId;
use rustls::SignatureScheme;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

#[test]
fn the_store_signs_only_with_schemes_that_fit_the_key() {
    let issuer = Issuer::new("CA");
    let ecdsa = leaf(&issuer, &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let rsa = leaf(&issuer, &["b.test"], &rcgen::PKCS_RSA_SHA256);
    let mut store = KeyStore::new();
    let ecdsa_id = store.insert(&ecdsa.key).unwrap();
    let rsa_id = store.insert(&rsa.key).unwrap();
    assert_eq!(ecdsa_id, KeyId::of_certificate(&ecdsa.cert).unwrap());
    assert!(store
        .sign(&ecdsa_id, SignatureScheme::ECDSA_NISTP256_SHA256, b"m")
        .is_ok());
    assert_eq!(
        store
            .sign(&ecdsa_id, SignatureScheme::RSA_PSS_SHA256, b"m")
            .unwrap_err(),
        SignError::SchemeMismatch {
            key: ecdsa_id,
            scheme: SignatureScheme::RSA_PSS_SHA256
        }
    );
    assert!(store
        .sign(&ecdsa_id, SignatureScheme::ECDSA_NISTP384_SHA384, b"m")
        .is_err());
    assert!(store
        .sign(&rsa_id, SignatureScheme::RSA_PSS_SHA256, b"m")
        .is_ok());
    assert!(store.sign(&rsa_id, SignatureScheme::ED25519, b"m").is_err());
    let stranger = KeyId([7; 32]);
    assert_eq!(
        store
            .sign(&stranger, SignatureScheme::ED25519, b"m")
            .unwrap_err(),
        SignError::UnknownKey(stranger)
    );
}

/// A transport to a ca on another thread that answers after `delay`.
struct ThreadCa {
    requests: mpsc::Sender<SignRequest>,
}

impl SendRequest for ThreadCa {
    fn send(&self, request: SignRequest) -> Result<(), SignError> {
        self.requests
            .send(request)
            .map_err(|_| SignError::ChannelClosed)
    }
}

/// A ca thread over `store` answering each request after `delay`.
fn ca_thread(store: KeyStore, delay: Duration, timeout: Duration) -> Arc<ChannelSigner<ThreadCa>> {
    let (requests, incoming) = mpsc::channel::<SignRequest>();
    let signer = Arc::new(ChannelSigner::new(ThreadCa { requests }, timeout));
    let answers = Arc::downgrade(&signer);
    thread::spawn(move || {
        for request in incoming {
            thread::sleep(delay);
            let answer = store.sign(&request.key_id, request.scheme, &request.message);
            let Some(signer) = answers.upgrade() else {
                return;
            };
            signer.deliver(request.request_id, answer);
        }
    });
    signer
}

#[test]
fn channel_signer_correlates_answers_by_id() {
    let issuer = Issuer::new("CA");
    let key = leaf(&issuer, &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let mut store = KeyStore::new();
    let id = store.insert(&key.key).unwrap();
    let signer = ca_thread(store, Duration::ZERO, Duration::from_secs(5));
    let threads: Vec<_> = (0..8)
        .map(|n| {
            let signer = signer.clone();
            thread::spawn(move || {
                signer.sign(&id, SignatureScheme::ECDSA_NISTP256_SHA256, &[n; 32])
            })
        })
        .collect();
    for thread in threads {
        assert!(!thread.join().unwrap().unwrap().is_empty());
    }
    assert_eq!(signer.in_flight(), 0);
    assert_eq!(
        signer
            .sign(&id, SignatureScheme::RSA_PSS_SHA256, b"m")
            .unwrap_err(),
        SignError::SchemeMismatch {
            key: id,
            scheme: SignatureScheme::RSA_PSS_SHA256
        }
    );
}

#[test]
fn a_late_ca_fails_the_signature_at_the_deadline_and_its_answer_is_dropped() {
    let issuer = Issuer::new("CA");
    let key = leaf(&issuer, &["a.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let mut store = KeyStore::new();
    let id = store.insert(&key.key).unwrap();
    let timeout = Duration::from_millis(100);
    let signer = ca_thread(store, Duration::from_millis(300), timeout);
    let started = Instant::now();
    let error = signer
        .sign(&id, SignatureScheme::ECDSA_NISTP256_SHA256, b"m")
        .unwrap_err();
    assert_eq!(error, SignError::Timeout(timeout));
    assert!(started.elapsed() < Duration::from_millis(290));
    assert_eq!(signer.in_flight(), 0);
    // The late answer finds nobody waiting.
    assert!(!signer.deliver(1, Ok(vec![1])));
}

#[test]
fn a_closed_channel_fails_at_once() {
    let (requests, incoming) = mpsc::channel();
    drop(incoming);
    let signer = ChannelSigner::new(ThreadCa { requests }, Duration::from_secs(5));
    let id = KeyId([1; 32]);
    assert_eq!(
        signer
            .sign(&id, SignatureScheme::ED25519, b"m")
            .unwrap_err(),
        SignError::ChannelClosed
    );
    assert_eq!(signer.in_flight(), 0);
}
