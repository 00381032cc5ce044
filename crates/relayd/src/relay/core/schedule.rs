//! Which host of a table a new session goes to: the scheduling modes of
//! relayd.conf(5), as pure functions over the table's hosts in file order.
//!
//! The hash modes follow relayd: the hash picks an index among *all* hosts
//! of the table, so a client keeps its host while the set of hosts is
//! stable, and when that host is not usable the hash is shifted and tried
//! again a few times before the next usable host in order is taken.

use relayd_config::Mode;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};

/// How often a shifted hash is tried before falling back to the next host.
const MAX_HASH_RETRIES: usize = 5;

/// One host of a table as the scheduler sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Up (or the table is not checked), not disabled, not already tried
    /// by this session.
    pub usable: bool,
    /// Sessions of this relay process currently connected to the host.
    pub active_sessions: u32,
}

/// What a session brings to the choice.
#[derive(Debug, Clone, Copy)]
pub struct Request {
    pub client: IpAddr,
    /// The relay's listening address the client connected to.
    pub listen: SocketAddr,
    /// `mode ... KEY`, already hashed.
    pub key: u64,
}

/// Picks the index of a host of `hosts`, or `None` when none is usable.
/// `cursor` is the table's round-robin position (kept between calls);
/// `random` returns a number below its argument.
pub fn pick(
    mode: Mode,
    hosts: &[Candidate],
    request: &Request,
    cursor: &mut usize,
    random: impl FnOnce(usize) -> usize,
) -> Option<usize> {
    if !hosts.iter().any(|h| h.usable) {
        return None;
    }
    let chosen = match mode {
        Mode::RoundRobin => first_usable_from(hosts, *cursor),
        Mode::Random => first_usable_from(hosts, random(hosts.len())),
        Mode::SourceHash => by_hash(hosts, hash_of(request, true, false)),
        Mode::Hash => by_hash(hosts, hash_of(request, false, true)),
        Mode::LoadBalance => by_hash(hosts, hash_of(request, true, true)),
        Mode::LeastStates => least_states(hosts, *cursor),
    }?;
    if matches!(mode, Mode::RoundRobin | Mode::LeastStates) {
        *cursor = chosen + 1;
    }
    Some(chosen)
}

/// The first usable host at or after `start`, wrapping around.
fn first_usable_from(hosts: &[Candidate], start: usize) -> Option<usize> {
    let n = hosts.len();
    (0..n).map(|i| (start + i) % n).find(|&i| hosts[i].usable)
}

fn by_hash(hosts: &[Candidate], mut hash: u64) -> Option<usize> {
    let n = hosts.len() as u64;
    let mut index = (hash % n) as usize;
    for _ in 0..hosts.len().min(MAX_HASH_RETRIES) {
        index = (hash % n) as usize;
        if hosts[index].usable {
            return Some(index);
        }
        hash >>= 1;
    }
    first_usable_from(hosts, index)
}

/// The usable host with the fewest sessions; ties go round robin from
/// `cursor`, so equally loaded hosts share new sessions.
fn least_states(hosts: &[Candidate], cursor: usize) -> Option<usize> {
    let n = hosts.len();
    (0..n)
        .map(|i| (cursor + i) % n)
        .filter(|&i| hosts[i].usable)
        .min_by_key(|&i| hosts[i].active_sessions)
}

/// relayd hashes the client address (without port) for source-hash and
/// loadbalance, and the relay's own address and port for hash and
/// loadbalance, all seeded with the key.
fn hash_of(request: &Request, client: bool, listen: bool) -> u64 {
    // Keys come from the configuration only: every relay process computes
    // the same value, so prefork does not break client affinity.
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new_with_keys(request.key, !request.key);
    if client {
        request.client.hash(&mut hasher);
    }
    if listen {
        request.listen.ip().hash(&mut hasher);
        request.listen.port().hash(&mut hasher);
    }
    hasher.finish()
}

/// The 64-bit key of `mode ... KEY`: a `0x` hex value as written, any other
/// string hashed. Without a key the relay's name seeds the hash, so all
/// relay processes agree.
pub fn hash_key(key: Option<&str>, relay_name: &str) -> u64 {
    if let Some(hex) = key.and_then(|k| k.strip_prefix("0x").or_else(|| k.strip_prefix("0X"))) {
        let tail = &hex[hex.len().saturating_sub(16)..];
        if let Ok(value) = u64::from_str_radix(tail, 16) {
            return value;
        }
    }
    #[allow(deprecated)]
    let mut hasher = std::hash::SipHasher::new();
    key.unwrap_or(relay_name).hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn up(n: usize) -> Vec<Candidate> {
        vec![
            Candidate {
                usable: true,
                active_sessions: 0
            };
            n
        ]
    }

    fn request(client: &str) -> Request {
        Request {
            client: client.parse().unwrap(),
            listen: "127.0.0.1:8080".parse().unwrap(),
            key: hash_key(None, "www"),
        }
    }

    fn no_random(_: usize) -> usize {
        unreachable!("only random mode draws")
    }

    #[test]
    fn roundrobin_cycles_over_usable_hosts_in_order() {
        let mut hosts = up(3);
        hosts[1].usable = false;
        let mut cursor = 0;
        let picks: Vec<_> = (0..4)
            .map(|_| {
                pick(
                    Mode::RoundRobin,
                    &hosts,
                    &request("10.0.0.1"),
                    &mut cursor,
                    no_random,
                )
            })
            .collect();
        assert_eq!(picks, [Some(0), Some(2), Some(0), Some(2)]);
    }

    #[test]
    fn no_usable_host_means_no_pick_in_every_mode() {
        let mut hosts = up(2);
        hosts.iter_mut().for_each(|h| h.usable = false);
        for mode in [
            Mode::RoundRobin,
            Mode::LoadBalance,
            Mode::Hash,
            Mode::SourceHash,
            Mode::Random,
            Mode::LeastStates,
        ] {
            assert_eq!(
                pick(mode, &hosts, &request("10.0.0.1"), &mut 0, |_| 0),
                None
            );
        }
    }

    #[test]
    fn source_hash_keeps_each_client_on_one_host_and_spreads_clients() {
        let hosts = up(4);
        let mut seen = HashMap::new();
        for i in 0..200 {
            let client = format!("10.0.{}.{}", i / 250, i % 250 + 1);
            let first = pick(
                Mode::SourceHash,
                &hosts,
                &request(&client),
                &mut 0,
                no_random,
            );
            for _ in 0..3 {
                let again = pick(
                    Mode::SourceHash,
                    &hosts,
                    &request(&client),
                    &mut 0,
                    no_random,
                );
                assert_eq!(again, first, "{client} moved");
            }
            *seen.entry(first.unwrap()).or_insert(0) += 1;
        }
        assert_eq!(seen.len(), 4, "every host gets clients: {seen:?}");
        assert!(seen.values().all(|&n| n > 20), "{seen:?}");
    }

    #[test]
    fn source_hash_moves_only_the_clients_of_a_host_that_goes_down() {
        let mut hosts = up(3);
        let clients: Vec<String> = (1..100).map(|i| format!("192.168.1.{i}")).collect();
        let before: Vec<_> = clients
            .iter()
            .map(|c| pick(Mode::SourceHash, &hosts, &request(c), &mut 0, no_random).unwrap())
            .collect();
        hosts[1].usable = false;
        for (client, old) in clients.iter().zip(before) {
            let new = pick(
                Mode::SourceHash,
                &hosts,
                &request(client),
                &mut 0,
                no_random,
            )
            .unwrap();
            assert_ne!(new, 1);
            if old != 1 {
                assert_eq!(new, old, "{client} moved although its host is up");
            }
        }
    }

    #[test]
    fn hash_sends_every_client_of_a_relay_to_the_same_host() {
        let hosts = up(5);
        let first = pick(Mode::Hash, &hosts, &request("10.0.0.1"), &mut 0, no_random);
        for i in 2..50 {
            let client = format!("10.0.0.{i}");
            assert_eq!(
                pick(Mode::Hash, &hosts, &request(&client), &mut 0, no_random),
                first
            );
        }
    }

    #[test]
    fn loadbalance_is_stable_per_client_and_uses_the_key() {
        let hosts = up(8);
        let mut with_key = request("10.1.2.3");
        let plain = pick(Mode::LoadBalance, &hosts, &with_key, &mut 0, no_random);
        assert_eq!(
            pick(Mode::LoadBalance, &hosts, &with_key, &mut 0, no_random),
            plain
        );
        let mut differs = false;
        for key in 0..20 {
            with_key.key = hash_key(Some(&format!("key{key}")), "www");
            differs |= pick(Mode::LoadBalance, &hosts, &with_key, &mut 0, no_random) != plain;
        }
        assert!(differs, "the key never changed the pick");
    }

    #[test]
    fn random_takes_the_drawn_host_or_the_next_usable_one() {
        let mut hosts = up(4);
        hosts[2].usable = false;
        let req = request("10.0.0.1");
        assert_eq!(pick(Mode::Random, &hosts, &req, &mut 0, |n| n - 1), Some(3));
        assert_eq!(pick(Mode::Random, &hosts, &req, &mut 0, |_| 2), Some(3));
        assert_eq!(pick(Mode::Random, &hosts, &req, &mut 0, |_| 0), Some(0));
    }

    #[test]
    fn least_states_prefers_the_host_with_fewer_sessions() {
        let mut hosts = up(3);
        hosts[0].active_sessions = 5;
        hosts[1].active_sessions = 1;
        hosts[2].active_sessions = 3;
        let req = request("10.0.0.1");
        let mut cursor = 0;
        assert_eq!(
            pick(Mode::LeastStates, &hosts, &req, &mut cursor, no_random),
            Some(1)
        );
        hosts[1].usable = false;
        assert_eq!(
            pick(Mode::LeastStates, &hosts, &req, &mut cursor, no_random),
            Some(2)
        );
        // Equal loads share new sessions in turn.
        let even = up(3);
        let picks: Vec<_> = (0..3)
            .map(|_| pick(Mode::LeastStates, &even, &req, &mut cursor, no_random).unwrap())
            .collect();
        let mut sorted = picks.clone();
        sorted.sort();
        assert_eq!(sorted, [0, 1, 2]);
    }

    #[test]
    fn hex_keys_are_taken_as_written() {
        assert_eq!(hash_key(Some("0x1f"), "www"), 0x1f);
        assert_eq!(hash_key(None, "www"), hash_key(None, "www"));
        assert_ne!(hash_key(None, "www"), hash_key(None, "mail"));
    }
}
