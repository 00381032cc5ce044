//! Session tickets shared by every relay process: the parent generates the
//! keys and rotates them ([`TicketKeyRotation`]: a new key every 30
//! minutes, each accepted for 2 hours after it stopped encrypting, as
//! relayd), sends the set to every relay, and each relay's
//! [`SharedTicketer`] encrypts with the newest key and decrypts with any
//! key of the set, so a client resumes on whichever process accepts it.
//!
//! A ticket is `key name (16) || nonce (12) || AES-256-GCM(state)`, the key
//! name as associated data.

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use rustls::server::ProducesTickets;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::RwLock;
use std::time::Duration;

/// How often the parent makes a new key (relayd: `TLS_TICKET_REKEY_TIME`).
pub const TICKET_ROTATION: Duration = Duration::from_secs(30 * 60);
/// How long a ticket is valid (relayd: `TLS_SESSION_LIFETIME`).
pub const TICKET_LIFETIME: Duration = Duration::from_secs(2 * 60 * 60);

const NAME_LEN: usize = 16;

/// One ticket key as the parent sends it to the relays.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketKey {
    pub name: [u8; NAME_LEN],
    pub secret: [u8; 32],
    /// Seconds since the Unix epoch when it was made.
    pub created: u64,
}

impl fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketKey")
            .field("name", &self.name)
            .field("created", &self.created)
            .finish_non_exhaustive()
    }
}

/// The keys in use, newest first: the first encrypts, all decrypt.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketKeySet {
    pub keys: Vec<TicketKey>,
}

#[derive(Debug, thiserror::Error)]
#[error("no random bytes for a session ticket key")]
pub struct RandomError;

/// The parent's side: makes and retires ticket keys.
#[derive(Debug)]
pub struct TicketKeyRotation {
    set: TicketKeySet,
    random: SystemRandom,
}

impl TicketKeyRotation {
    /// A rotation with its first key, made at `now` (Unix seconds).
    pub fn new(now: u64) -> Result<TicketKeyRotation, RandomError> {
        let mut rotation = TicketKeyRotation {
            set: TicketKeySet::default(),
            random: SystemRandom::new(),
        };
        rotation.rotate(now)?;
        Ok(rotation)
    }

    /// Adds a new key made at `now` and drops the keys no ticket can still
    /// use: those that stopped encrypting more than a lifetime ago.
    pub fn rotate(&mut self, now: u64) -> Result<(), RandomError> {
        let mut key = TicketKey {
            name: [0; NAME_LEN],
            secret: [0; 32],
            created: now,
        };
        self.random.fill(&mut key.name).map_err(|_| RandomError)?;
        self.random.fill(&mut key.secret).map_err(|_| RandomError)?;
        self.set.keys.insert(0, key);
        let keep = (TICKET_ROTATION + TICKET_LIFETIME).as_secs();
        self.set
            .keys
            .retain(|k| now.saturating_sub(k.created) < keep);
        Ok(())
    }

    /// What to send to every relay after a rotation.
    pub fn keys(&self) -> &TicketKeySet {
        &self.set
    }
}

struct LoadedKey {
    name: [u8; NAME_LEN],
    key: LessSafeKey,
}

/// A relay's ticketer over the parent's current key set.
pub struct SharedTicketer {
    keys: RwLock<Vec<LoadedKey>>,
    random: SystemRandom,
}

impl fmt::Debug for SharedTicketer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedTicketer")
            .field("keys", &self.read().len())
            .finish()
    }
}

impl SharedTicketer {
    pub fn new(set: &TicketKeySet) -> SharedTicketer {
        let ticketer = SharedTicketer {
            keys: RwLock::new(Vec::new()),
            random: SystemRandom::new(),
        };
        ticketer.update(set);
        ticketer
    }

    /// Replaces the keys by the parent's newest set (on every rotation).
    pub fn update(&self, set: &TicketKeySet) {
        let loaded = set
            .keys
            .iter()
            .filter_map(|k| {
                let key = UnboundKey::new(&AES_256_GCM, &k.secret).ok()?;
                Some(LoadedKey {
                    name: k.name,
                    key: LessSafeKey::new(key),
                })
            })
            .collect();
        *self.keys.write().unwrap_or_else(|p| p.into_inner()) = loaded;
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<LoadedKey>> {
        // A panicking writer leaves a whole vector behind: keep using it.
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }
}

impl ProducesTickets for SharedTicketer {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        TICKET_LIFETIME.as_secs() as u32
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let keys = self.read();
        let newest = keys.first()?;
        let mut nonce = [0u8; NONCE_LEN];
        self.random.fill(&mut nonce).ok()?;
        let mut sealed = plain.to_vec();
        newest
            .key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(&newest.name),
                &mut sealed,
            )
            .ok()?;
        let mut ticket = Vec::with_capacity(NAME_LEN + NONCE_LEN + sealed.len());
        ticket.extend_from_slice(&newest.name);
        ticket.extend_from_slice(&nonce);
        ticket.extend_from_slice(&sealed);
        Some(ticket)
    }

    fn decrypt(&self, ticket: &[u8]) -> Option<Vec<u8>> {
        let (name, rest) = ticket.split_at_checked(NAME_LEN)?;
        let (nonce, sealed) = rest.split_at_checked(NONCE_LEN)?;
        let keys = self.read();
        let key = keys.iter().find(|k| k.name == name)?;
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut opened = sealed.to_vec();
        let plain = key
            .key
            .open_in_place(nonce, Aad::from(&key.name), &mut opened)
            .ok()?;
        Some(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotation_keeps_keys_for_a_lifetime_after_their_turn() {
        let start = 1_000_000;
        let mut rotation = TicketKeyRotation::new(start).unwrap();
        let step = TICKET_ROTATION.as_secs();
        for n in 1..=10 {
            rotation.rotate(start + n * step).unwrap();
        }
        // A key encrypts for 30 minutes, then decrypts for 2 hours: the
        // newest and the four before it (made 30 to 120 minutes ago).
        let set = rotation.keys();
        assert_eq!(set.keys.len(), 5);
        assert_eq!(set.keys[0].created, start + 10 * step);
        assert!(set.keys.windows(2).all(|w| w[0].name != w[1].name));
        assert!(format!("{:?}", set.keys[0]).contains("created"));
        assert!(!format!("{:?}", set.keys[0]).contains("secret"));
    }

    #[test]
    fn tickets_open_with_any_key_of_the_set_and_nothing_else() {
        let mut rotation = TicketKeyRotation::new(0).unwrap();
        let ticketer = SharedTicketer::new(rotation.keys());
        let ticket = ticketer.encrypt(b"session state").unwrap();
        assert_eq!(ticketer.decrypt(&ticket).unwrap(), b"session state");
        // After a rotation the old key still opens it.
        rotation.rotate(TICKET_ROTATION.as_secs()).unwrap();
        ticketer.update(rotation.keys());
        assert_eq!(ticketer.decrypt(&ticket).unwrap(), b"session state");
        let newer = ticketer.encrypt(b"newer").unwrap();
        assert_ne!(newer[..NAME_LEN], ticket[..NAME_LEN]);
        // A flipped bit, a truncated ticket, an unknown key: nothing.
        let mut forged = ticket.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert!(ticketer.decrypt(&forged).is_none());
        assert!(ticketer.decrypt(&ticket[..20]).is_none());
        let stranger = SharedTicketer::new(TicketKeyRotation::new(0).unwrap().keys());
        assert!(stranger.decrypt(&ticket).is_none());
    }
}
