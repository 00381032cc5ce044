//! The relays' listening sockets across reloads. The parent keeps a copy
//! of every listening socket it handed to a relay process, by the process
//! and the socket's shape (address, port, TCP or UDP, backlog, buffer,
//! tls); a new configuration that listens the same way gets the same
//! socket again, so its listen backlog lives on: a connection queued there
//! while the relay processes switch over is accepted under the new
//! configuration, not reset. Sockets of a new shape are opened; those the
//! new configuration no longer has close when it runs (the relay processes
//! close theirs at `Start`), so a reload that is refused or aborted
//! changes nothing.

use super::sockets::{relay_listens, ListenShape, RelaySocket, SocketError};
use relayd_config::Config;
use std::collections::HashMap;
use std::os::fd::OwnedFd;

/// One relay process's socket of one shape (several when relays of one
/// configuration listen the same way).
type Key = (u32, ListenShape);

#[derive(Default)]
pub struct Listeners {
    /// The sockets of the running configuration.
    running: HashMap<Key, Vec<OwnedFd>>,
    /// The sockets of the configuration being rolled out.
    pending: Option<HashMap<Key, Vec<OwnedFd>>>,
}

impl Listeners {
    /// The sockets of `config` for relay processes `instances`: the running
    /// socket of the same shape for that process, a new one otherwise.
    /// Nothing running changes until `commit`.
    pub fn prepare(
        &mut self,
        config: &Config,
        instances: impl IntoIterator<Item = u32>,
    ) -> Result<Vec<(u32, RelaySocket)>, SocketError> {
        let listens = relay_listens(config);
        let mut pending: HashMap<Key, Vec<OwnedFd>> = HashMap::new();
        let mut sockets = Vec::new();
        for instance in instances {
            for listen in &listens {
                let key = (instance, listen.shape);
                let taken = pending.get(&key).map_or(0, Vec::len);
                let kept = match self.running.get(&key).and_then(|fds| fds.get(taken)) {
                    Some(fd) => fd.try_clone().map_err(|source| SocketError::Duplicate {
                        relay: listen.relay_name.clone(),
                        addr: listen.shape.addr,
                        source,
                    })?,
                    None => listen.open()?,
                };
                let sent = kept.try_clone().map_err(|source| SocketError::Duplicate {
                    relay: listen.relay_name.clone(),
                    addr: listen.shape.addr,
                    source,
                })?;
                pending.entry(key).or_default().push(kept);
                sockets.push((instance, listen.socket(sent)));
            }
        }
        self.pending = Some(pending);
        Ok(sockets)
    }

    /// The configuration prepared runs: its sockets are kept, the others
    /// close.
    pub fn commit(&mut self) {
        if let Some(pending) = self.pending.take() {
            self.running = pending;
        }
    }

    /// The configuration prepared was refused: the sockets it opened close.
    pub fn abort(&mut self) {
        self.pending = None;
    }

    /// A drain: the parent's copies close (the relay processes close
    /// theirs), so the sockets close and new connections are refused.
    pub fn close_all(&mut self) {
        self.pending = None;
        self.running.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn config(ports: &[u16]) -> Config {
        let mut text = String::new();
        for (n, port) in ports.iter().enumerate() {
            text += &format!(
                "relay r{n} {{\n listen on 127.0.0.1 port {port}\n \
                 forward to 127.0.0.1 port 9\n}}\n"
            );
        }
        relayd_config::parse_str(&text, "t.conf", &Default::default()).unwrap()
    }

    /// Two distinct free ports: both probes stay bound until both ports
    /// are read, or the kernel may hand out the first one again.
    fn two_free_ports() -> (u16, u16) {
        let bind = || std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let (first, second) = (bind(), bind());
        let port = |l: &std::net::TcpListener| l.local_addr().unwrap().port();
        (port(&first), port(&second))
    }

    /// The kernel's socket behind a descriptor (its inode).
    fn inode(fd: &OwnedFd) -> u64 {
        let link = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap();
        let text = link.to_string_lossy();
        text.trim_start_matches("socket:[")
            .trim_end_matches(']')
            .parse()
            .unwrap()
    }

    fn inodes(sockets: &[(u32, RelaySocket)]) -> Vec<(u32, u64)> {
        sockets.iter().map(|(i, s)| (*i, inode(&s.fd))).collect()
    }

    #[test]
    fn a_reload_hands_the_same_sockets_and_opens_only_new_ones() {
        let (a, b) = two_free_ports();
        let mut listeners = Listeners::default();
        let first = listeners.prepare(&config(&[a]), [0, 1]).unwrap();
        listeners.commit();
        let second = listeners.prepare(&config(&[b, a]), [0, 1]).unwrap();
        let (first, second) = (inodes(&first), inodes(&second));
        assert_eq!(second.len(), 4);
        // Relay r1 listens on a now: the same socket for each process.
        assert_eq!([second[1], second[3]], [first[0], first[1]]);
        assert!(!first.contains(&second[0]) && !first.contains(&second[2]));
        assert_ne!(first[0].1, first[1].1, "one socket per process");
    }

    #[test]
    fn an_aborted_reload_keeps_the_running_sockets_and_closes_its_own() {
        let (a, b) = two_free_ports();
        let mut listeners = Listeners::default();
        let first = inodes(&listeners.prepare(&config(&[a]), [0]).unwrap());
        listeners.commit();
        drop(listeners.prepare(&config(&[b]), [0]).unwrap());
        listeners.abort();
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", b)).is_ok(),
            "the refused configuration's socket is closed"
        );
        let again = inodes(&listeners.prepare(&config(&[a]), [0]).unwrap());
        assert_eq!(again, first);
        listeners.commit();
        drop(listeners.prepare(&config(&[b]), [0]).unwrap());
        listeners.commit();
        assert!(
            std::net::TcpListener::bind(("127.0.0.1", a)).is_ok(),
            "a socket the running configuration dropped is closed"
        );
    }
}
