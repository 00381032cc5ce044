//! The relay's bounded cache of inspection results, by backend
//! certificate: a backend presents the same certificate to every
//! connection, so the ca signs once per certificate, not per session.

use rustls::pki_types::CertificateDer;
use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

/// Entries a relay keeps unless told otherwise.
pub const DEFAULT_CACHE_SIZE: usize = 1024;

/// SHA-256 of a backend certificate's DER: the cache key.
pub fn backend_fingerprint(cert: &CertificateDer<'_>) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.as_ref());
    let mut key = [0; 32];
    key.copy_from_slice(digest.as_ref());
    key
}

/// At most `capacity` values; the least recently used goes first.
#[derive(Debug)]
pub struct MintedCache<V> {
    capacity: usize,
    inner: Mutex<Entries<V>>,
}

#[derive(Debug)]
struct Entries<V> {
    values: HashMap<[u8; 32], V>,
    /// Least recently used first.
    order: VecDeque<[u8; 32]>,
}

impl<V: Clone> MintedCache<V> {
    pub fn new(capacity: usize) -> MintedCache<V> {
        MintedCache {
            capacity: capacity.max(1),
            inner: Mutex::new(Entries {
                values: HashMap::new(),
                order: VecDeque::new(),
            }),
        }
    }

    pub fn get(&self, backend: &CertificateDer<'_>) -> Option<V> {
        let key = backend_fingerprint(backend);
        let mut entries = self.entries();
        let value = entries.values.get(&key)?.clone();
        entries.touch(key);
        Some(value)
    }

    pub fn insert(&self, backend: &CertificateDer<'_>, value: V) {
        let key = backend_fingerprint(backend);
        let mut entries = self.entries();
        if entries.values.insert(key, value).is_none() && entries.values.len() > self.capacity {
            if let Some(oldest) = entries.order.pop_front() {
                entries.values.remove(&oldest);
            }
        }
        entries.touch(key);
    }

    pub fn len(&self) -> usize {
        self.entries().values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets everything (reload with a new CA).
    pub fn clear(&self) {
        let mut entries = self.entries();
        entries.values.clear();
        entries.order.clear();
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries<V>> {
        // A panic while holding the lock leaves consistent maps behind.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl<V> Entries<V> {
    fn touch(&mut self, key: [u8; 32]) {
        self.order.retain(|k| k != &key);
        self.order.push_back(key);
    }
}
