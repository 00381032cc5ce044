//! The read buffers of HTTP wires, handed from a wire that is done to the
//! next one of the same thread. A one-request client connection used to
//! cost a fresh 16 KiB allocation, and glibc merges its small free chunks
//! (`malloc_consolidate`) before every allocation of that size and moves
//! the heap's end (brk) back and forth as such buffers come and go: 4-5 %
//! of a relay process's CPU in one-connection-per-request load.
//!
//! Bounded: at most [`KEPT`] buffers of the first size per thread (512 KiB
//! to 1 MiB); a buffer that grew for a streaming body is freed, not kept.

use std::cell::RefCell;
use std::ops::{Deref, DerefMut};

/// Room for a typical head plus a small body in one read.
pub const INITIAL_CAPACITY: usize = 16 * 1024;
/// Kept buffers per thread: about the sessions a relay process opens in
/// a burst; more would be memory held for load that has gone.
const KEPT: usize = 32;

thread_local! {
    static SPARE: RefCell<Vec<Vec<u8>>> = const { RefCell::new(Vec::new()) };
}

/// A wire's buffer: a `Vec<u8>` that goes back to the thread's spares
/// when dropped.
pub struct Buffer(Vec<u8>);

impl Buffer {
    /// An empty buffer with room for [`INITIAL_CAPACITY`] bytes at least.
    pub fn new() -> Buffer {
        let spare = SPARE
            .try_with(|spare| spare.borrow_mut().pop())
            .ok()
            .flatten();
        Buffer(spare.unwrap_or_else(|| Vec::with_capacity(INITIAL_CAPACITY)))
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // A buffer that streamed a body (256 KiB) is not worth keeping;
        // one that grew a little past the first size by `reserve`'s
        // doubling is.
        let capacity = self.0.capacity();
        if !(INITIAL_CAPACITY..=2 * INITIAL_CAPACITY).contains(&capacity) {
            return;
        }
        let mut buffer = std::mem::take(&mut self.0);
        buffer.clear();
        // `try_with`: a thread being torn down frees its buffers instead.
        let _ = SPARE.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            if spare.len() < KEPT {
                spare.push(buffer);
            }
        });
    }
}

impl Deref for Buffer {
    type Target = Vec<u8>;
    fn deref(&self) -> &Vec<u8> {
        &self.0
    }
}

impl DerefMut for Buffer {
    fn deref_mut(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spares() -> usize {
        SPARE.with(|spare| spare.borrow().len())
    }

    #[test]
    fn a_dropped_buffer_is_the_next_one_empty() {
        std::thread::spawn(|| {
            let mut first = Buffer::new();
            first.extend_from_slice(b"GET / HTTP/1.1\r\n");
            let address = first.as_ptr();
            drop(first);
            assert_eq!(spares(), 1);
            let second = Buffer::new();
            assert_eq!(second.as_ptr(), address);
            assert!(second.is_empty());
            assert!(second.capacity() >= INITIAL_CAPACITY);
            assert_eq!(spares(), 0);
        })
        .join()
        .unwrap();
    }

    #[test]
    fn grown_buffers_are_freed_and_the_spares_are_bounded() {
        std::thread::spawn(|| {
            let mut grown = Buffer::new();
            grown.reserve(256 * 1024);
            drop(grown);
            assert_eq!(spares(), 0);
            let many: Vec<Buffer> = (0..KEPT + 10).map(|_| Buffer::new()).collect();
            drop(many);
            assert_eq!(spares(), KEPT);
        })
        .join()
        .unwrap();
    }
}
