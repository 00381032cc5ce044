//! Read buffers of the HTTP sessions, kept for the next ones. Every
//! session reads through two (its client's and its backend's), and a
//! one-request session would otherwise allocate and free both: an
//! allocation of this size makes glibc's malloc consolidate its small
//! free lists first, which showed in the profile of short sessions. At
//! most [`KEPT`] wait per thread (1 MiB); a buffer that grew to stream a
//! body is freed as before.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// Spare buffers kept per thread.
const KEPT: usize = 64;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// An empty `Vec<u8>` of a fixed first capacity that goes back to the
/// spares when dropped with that capacity.
pub struct Buffer {
    bytes: Vec<u8>,
    capacity: usize,
}

impl Buffer {
    pub fn new(capacity: usize) -> Buffer {
        let spare = SPARE
            .try_with(|spare| spare.borrow_mut().pop())
            .ok()
            .flatten()
            .filter(|b| b.capacity() == capacity);
        Buffer {
            bytes: spare.unwrap_or_else(|| Vec::with_capacity(capacity)),
            capacity,
        }
    }
}

impl Deref for Buffer {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.bytes
    }
}

impl DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.bytes
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if self.bytes.capacity() != self.capacity {
            return;
        }
        let mut bytes = std::mem::take(&mut self.bytes);
        bytes.clear();
        // A thread going away has no spares left to keep it in.
        let _ = SPARE.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < KEPT {
                spare.push(bytes);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_buffer_is_handed_out_again_empty_and_a_grown_one_is_not() {
        let mut first = Buffer::new(1024);
        first.extend_from_slice(b"secret");
        let at = first.as_ptr();
        drop(first);
        let again = Buffer::new(1024);
        assert_eq!(again.as_ptr(), at, "the same allocation");
        assert!(again.is_empty(), "nothing of the last session");
        let mut grown = again;
        grown.reserve(4096);
        drop(grown);
        assert_eq!(Buffer::new(1024).capacity(), 1024);
    }
}
