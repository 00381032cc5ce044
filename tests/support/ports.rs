//! TCP ports for the relays and backends of the tests.

use std::net::TcpListener;
use std::sync::Mutex;

/// A TCP port on 127.0.0.1 free at the time of the call and never handed
/// out before in this test process: the kernel may give a just-released
/// ephemeral port again, and two relays of one config on the same port make
/// the config invalid. All tests share one process, so no two tests get
/// the same port either.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("bind 127.0.0.1:0");
        if !handed_out.contains(&port) {
            handed_out.push(port);
            return port;
        }
    }
}
