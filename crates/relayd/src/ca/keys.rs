//! The ca's private keys: loaded from the files the parent opened, each
//! checked against its certificate, held by key id, and the one operation
//! on them.

use relayd_config::Config;
use relayd_proto::messages::{KeyOperation, Refusal, RelayFile, RelayFileKind};
use relayd_tls::keys::{self, KeyError};
use relayd_tls::sign::{KeyStore, SignError};
use relayd_tls::KeyId;
use rustls::SignatureScheme;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::sync::{Arc, RwLock};

/// A file the parent passed, with what reading it gave.
pub struct KeyFile {
    pub file: RelayFile,
    pub contents: io::Result<Vec<u8>>,
}

impl KeyFile {
    pub fn read(file: RelayFile, fd: OwnedFd) -> KeyFile {
        let mut contents = Vec::new();
        let contents = std::fs::File::from(fd)
            .read_to_end(&mut contents)
            .map(|_| contents);
        KeyFile { file, contents }
    }
}

/// The keys of the running configuration and of the one before it.
#[derive(Default)]
pub struct Keys {
    stores: RwLock<(Arc<KeyStore>, Arc<KeyStore>)>,
}

impl Keys {
    /// A committed configuration's keys; the running ones become the
    /// previous ones, the previous ones are dropped.
    pub fn replace(&self, store: KeyStore) {
        let mut stores = self
            .stores
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let current = std::mem::replace(&mut stores.0, Arc::new(store));
        stores.1 = current;
    }

    /// Signs for a relay, with the key its id names.
    pub fn sign(&self, op: &KeyOperation) -> Result<Vec<u8>, SignError> {
        let (current, previous) = {
            let stores = self
                .stores
                .read()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            (stores.0.clone(), stores.1.clone())
        };
        let key = KeyId(op.key_id);
        let store = if current.contains(&key) || !previous.contains(&key) {
            current
        } else {
            previous
        };
        store.sign(&key, SignatureScheme::from(op.scheme), &op.message)
    }
}

/// Why a key file cannot be used, with its place.
fn refusal(file: &RelayFile, why: &dyn std::fmt::Display) -> Refusal {
    Refusal::Keypair {
        keypair: file.name.clone(),
        reason: format!(
            "{}:{}: {} {}: {why}",
            file.origin.file, file.origin.line, file.kind, file.path
        ),
    }
}

fn contents(file: &KeyFile) -> Result<&[u8], Refusal> {
    file.contents
        .as_deref()
        .map_err(|e| refusal(&file.file, &format!("cannot read it: {e}")))
}

/// Loads every key of a configuration, each after checking it is the
/// private key of the certificate sent with it: the keypairs' keys, and
/// the inspection CA keys (`tls ca key`), decrypted here with the
/// password of the relay's protocol, so no other process ever holds them
/// in plain text.
pub fn load(files: Vec<KeyFile>, config: &Config) -> Result<KeyStore, Refusal> {
    let mut store = KeyStore::new();
    let keys = files
        .iter()
        .filter(|f| matches!(f.file.kind, RelayFileKind::Key | RelayFileKind::CaKey));
    for key_file in keys {
        let (password, certificate_kind) = match key_file.file.kind {
            RelayFileKind::CaKey => (
                ca_key_password(config, &key_file.file),
                RelayFileKind::CaCertificate,
            ),
            _ => (None, RelayFileKind::Certificate),
        };
        let key = keys::private_key(contents(key_file)?, password)
            .map_err(|e| refusal(&key_file.file, &e))?;
        let certificate = files
            .iter()
            .find(|f| {
                f.file.kind == certificate_kind
                    && f.file.relay_id == key_file.file.relay_id
                    && f.file.listen == key_file.file.listen
                    && (certificate_kind == RelayFileKind::CaCertificate
                        || f.file.name == key_file.file.name)
            })
            .ok_or_else(|| refusal(&key_file.file, &"its certificate did not come with it"))?;
        let chain = keys::certificates(contents(certificate)?)
            .map_err(|e| refusal(&certificate.file, &e))?;
        let leaf = chain
            .first()
            .ok_or_else(|| refusal(&certificate.file, &KeyError::NoCertificate))?;
        keys::matching_key_id(leaf, &key).map_err(|e| refusal(&key_file.file, &e))?;
        store
            .insert(&key)
            .map_err(|e| refusal(&key_file.file, &e))?;
    }
    Ok(store)
}

/// `tls ca key PATH password PW` of the relay `file` is for.
fn ca_key_password<'a>(config: &'a Config, file: &RelayFile) -> Option<&'a str> {
    let relay = config.relays.iter().find(|r| r.id == file.relay_id)?;
    let protocol = relay
        .protocol
        .as_deref()
        .and_then(|name| config.protocol(name))?;
    protocol.tls.ca_key_password.as_deref()
}
