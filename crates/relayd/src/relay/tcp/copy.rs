//! One direction of a session copied through a user-space buffer: used
//! with `tcp { no splice }` and where the kernel refuses to splice. The
//! buffer exists only while data is in flight, so idle sessions hold none.

use crate::relay::core::clock::{ActivityClock, Way};
use std::io;
use tokio::net::TcpStream;

const BUFFER_SIZE: usize = 64 * 1024;

/// Why copying stopped before the end of the stream.
pub enum CopyError {
    Read(io::Error),
    Write(io::Error),
}

/// Moves bytes from `src` to `dst` until `src` reaches end of file, which
/// returns `Ok`, counting what it reads as moved `way`. The caller
/// half-closes `dst`.
pub async fn copy_direction(
    src: &TcpStream,
    dst: &TcpStream,
    clock: &ActivityClock,
    way: Way,
) -> Result<(), CopyError> {
    loop {
        clock.rest();
        let readable = src.readable().await;
        clock.wake();
        readable.map_err(CopyError::Read)?;
        let mut buffer = vec![0u8; BUFFER_SIZE];
        // Keep reading while the source has data, so a busy stream reuses
        // one buffer; drop it when the source runs dry.
        loop {
            let len = match src.try_read(&mut buffer) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(CopyError::Read(e)),
            };
            clock.moved(way, len);
            let mut written = 0;
            while written < len {
                dst.writable().await.map_err(CopyError::Write)?;
                match dst.try_write(&buffer[written..len]) {
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Err(CopyError::Write(e)),
                }
            }
        }
    }
}
