//! Random DNS IDs for the queries a relay sends, from the kernel's random
//! pool (getrandom(2)), drawn in batches so a query costs no system call.
//! The backend sees an ID the client did not choose: a client cannot steer
//! it, and a forged answer must guess it and the query socket's port.

use std::io::ErrorKind;

/// IDs drawn per getrandom(2) call.
const BATCH: usize = 256;

/// A source of random non-zero 16-bit IDs.
pub struct IdSource {
    batch: [u16; BATCH],
    /// IDs of `batch` not handed out yet.
    left: usize,
}

impl IdSource {
    pub fn new() -> IdSource {
        IdSource {
            batch: [0; BATCH],
            left: 0,
        }
    }

    /// A random ID, never 0.
    pub fn next_id(&mut self) -> u16 {
        loop {
            if self.left == 0 {
                self.refill();
            }
            self.left -= 1;
            let id = self.batch[self.left];
            if id != 0 {
                return id;
            }
        }
    }

    fn refill(&mut self) {
        let mut bytes = [0u8; BATCH * 2];
        let mut filled = 0;
        while filled < bytes.len() {
            let rest = &mut bytes[filled..];
            // SAFETY: the kernel writes at most `rest.len()` bytes into
            // `rest`, which lives across the call.
            let got = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
            match usize::try_from(got) {
                Ok(n) => filled += n,
                Err(_) if std::io::Error::last_os_error().kind() == ErrorKind::Interrupted => {}
                // No getrandom(2) (a seccomp filter, an old kernel): the
                // rest comes from a generator seeded with the clock, so
                // relaying goes on with weaker IDs rather than stopping.
                Err(_) => {
                    fallback_fill(&mut bytes[filled..]);
                    break;
                }
            }
        }
        for (id, pair) in self.batch.iter_mut().zip(bytes.chunks_exact(2)) {
            *id = u16::from_ne_bytes([pair[0], pair[1]]);
        }
        self.left = BATCH;
    }
}

fn fallback_fill(bytes: &mut [u8]) {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut state = nanos ^ (u64::from(std::process::id()) << 32) | 1;
    for byte in bytes {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_non_zero_and_spread() {
        let mut ids = IdSource::new();
        let drawn: Vec<u16> = (0..4 * BATCH).map(|_| ids.next_id()).collect();
        assert!(drawn.iter().all(|&id| id != 0));
        let distinct: HashSet<u16> = drawn.iter().copied().collect();
        // 1024 draws from 65535 values: about 8 collide.
        assert!(distinct.len() > 950, "{} distinct", distinct.len());
    }
}
