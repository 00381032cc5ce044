//! Backends and clients shared by the relay end-to-end tests
//! (tests/relay_*.rs): tiny TCP servers on 127.0.0.0/8 run in threads of
//! the test, so every byte the relay moves can be checked on both ends.

#![allow(dead_code)]

use e2e::{stdout_text, summary_rows, wait_until, Daemon};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

/// What a backend does with each connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Sends back everything it reads; half-closes after the client did.
    Echo,
    /// Writes its name and a newline, then echoes like `Echo`.
    Named,
    /// Reads until the client half-closes, then answers `got N bytes`.
    ReplyAfterEof,
    /// Writes the address it sees the connection coming from, then echoes.
    TellPeer,
    /// Resets the connection (RST) once it has read something.
    ResetOnData,
}

/// A TCP server on `addr`, stopped (and every connection closed) on drop.
pub struct Backend {
    pub addr: SocketAddr,
    pub name: String,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    /// Checksum and length of everything each connection received, sent
    /// when that connection's client half-closed.
    pub received: mpsc::Receiver<(u64, u64)>,
    accepted: Arc<Mutex<u32>>,
    listener: Option<TcpListener>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Backend {
    pub fn start(addr: &str, name: &str, behaviour: Behaviour) -> Backend {
        let listener = TcpListener::bind(addr).unwrap_or_else(|e| panic!("bind {addr}: {e}"));
        let addr = listener.local_addr().unwrap();
        let waker = listener.try_clone().expect("clone the listener");
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(Mutex::new(0));
        let (sums_tx, received) = mpsc::channel();
        let thread = {
            let (stop, connections, accepted) =
                (stop.clone(), connections.clone(), accepted.clone());
            let name = name.to_string();
            thread::spawn(move || {
                for stream in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        return;
                    }
                    let Ok(stream) = stream else {
                        // A shut down listener fails at once: stop spinning.
                        thread::sleep(Duration::from_millis(10));
                        continue;
                    };
                    *accepted.lock().unwrap() += 1;
                    // A copy would keep a connection meant to be reset open.
                    if behaviour != Behaviour::ResetOnData {
                        connections
                            .lock()
                            .unwrap()
                            .push(stream.try_clone().unwrap());
                    }
                    let (name, sums) = (name.clone(), sums_tx.clone());
                    thread::spawn(move || serve(stream, behaviour, &name, sums));
                }
            })
        };
        Backend {
            addr,
            name: name.to_string(),
            stop,
            connections,
            received,
            accepted,
            listener: Some(waker),
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u32 {
        *self.accepted.lock().unwrap()
    }

    /// Stops listening and closes every open connection, like a killed
    /// server process would.
    pub fn kill(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Shutting a listening socket down wakes its accept() (from any
        // network namespace, unlike connecting to it).
        if let Some(listener) = self.listener.take() {
            let _ = nix::sys::socket::shutdown(
                std::os::fd::AsRawFd::as_raw_fd(&listener),
                nix::sys::socket::Shutdown::Read,
            );
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        for connection in self.connections.lock().unwrap().drain(..) {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

fn serve(mut stream: TcpStream, behaviour: Behaviour, name: &str, sums: mpsc::Sender<(u64, u64)>) {
    let greeting = match behaviour {
        Behaviour::Named => Some(name.to_string()),
        Behaviour::TellPeer => stream.peer_addr().ok().map(|a| a.ip().to_string()),
        _ => None,
    };
    if let Some(greeting) = greeting {
        if stream
            .write_all(format!("{greeting}\n").as_bytes())
            .is_err()
        {
            return;
        }
    }
    let mut sum = Checksum::default();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(_) if behaviour == Behaviour::ResetOnData => {
                let fd = std::os::fd::AsFd::as_fd(&stream);
                let linger = nix::sys::socket::sockopt::Linger;
                let _ = nix::sys::socket::setsockopt(
                    &fd,
                    linger,
                    &libc::linger {
                        l_onoff: 1,
                        l_linger: 0,
                    },
                );
                return;
            }
            Ok(n) => {
                sum.add(&buffer[..n]);
                if behaviour != Behaviour::ReplyAfterEof && stream.write_all(&buffer[..n]).is_err()
                {
                    return;
                }
            }
            Err(_) => return,
        }
    }
    let _ = sums.send((sum.value(), sum.len));
    if behaviour == Behaviour::ReplyAfterEof {
        // Later than the half-close, so only a relay that kept this
        // direction open delivers it.
        thread::sleep(Duration::from_millis(200));
        let _ = stream.write_all(format!("got {} bytes\n", sum.len).as_bytes());
    }
    let _ = stream.shutdown(Shutdown::Write);
}

/// An order-sensitive checksum of a byte stream (FNV-1a), independent of
/// how reads split the stream.
pub struct Checksum {
    state: u64,
    pub len: u64,
}

impl Default for Checksum {
    fn default() -> Self {
        Checksum {
            state: 0xcbf2_9ce4_8422_2325,
            len: 0,
        }
    }
}

impl Checksum {
    pub fn add(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.state = (self.state ^ u64::from(byte)).wrapping_mul(0x100_0000_01b3);
        }
        self.len += bytes.len() as u64;
    }

    pub fn value(&self) -> u64 {
        self.state
    }

    pub fn of(bytes: &[u8]) -> u64 {
        let mut sum = Checksum::default();
        sum.add(bytes);
        sum.value()
    }
}

/// Deterministic test data: `len` bytes that are not all alike.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

pub fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the relay");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}

/// Reads one `\n`-terminated line.
pub fn read_line(stream: &mut TcpStream) -> io::Result<String> {
    let mut line = Vec::new();
    let mut byte = [0u8];
    loop {
        match stream.read(&mut byte)? {
            0 => break,
            _ if byte[0] == b'\n' => break,
            _ => line.push(byte[0]),
        }
    }
    Ok(String::from_utf8_lossy(&line).into_owned())
}

/// Connects through the relay to a `Named` backend and returns its name.
pub fn which_backend(port: u16) -> String {
    let mut stream = connect(port);
    read_line(&mut stream).expect("backend name")
}

/// Waits until relayctl shows every host of the daemon `up`.
pub fn wait_hosts_up(daemon: &Daemon, count: usize) {
    let up = wait_until(Duration::from_secs(20), || {
        let rows = summary_rows(&stdout_text(&daemon.relayctl(&["show", "hosts"])));
        rows.iter()
            .filter(|r| r.kind == "host" && r.status == "up")
            .count()
            >= count
    });
    assert!(
        up,
        "hosts not up: {}\nlog:\n{}",
        stdout_text(&daemon.relayctl(&["show", "hosts"])),
        daemon.log_text()
    );
}

/// Writes `data`, half-closes, and reads everything back; returns what
/// came back.
pub fn round_trip(stream: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    let mut reader = stream.try_clone().unwrap();
    let reading = thread::spawn(move || {
        let mut back = Vec::new();
        reader.read_to_end(&mut back).map(|_| back)
    });
    stream.write_all(data).expect("write to the relay");
    stream.shutdown(Shutdown::Write).unwrap();
    reading.join().unwrap().expect("read from the relay")
}

/// Connects to 127.0.0.1:`port` from `source` (any 127.0.0.0/8 address),
/// so tests can play many clients.
pub fn connect_from(source: &str, port: u16) -> TcpStream {
    connect_between(
        source,
        std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, port),
    )
}

/// Connects to `destination` from `source`.
pub fn connect_between(source: &str, destination: std::net::SocketAddrV4) -> TcpStream {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    let source: std::net::Ipv4Addr = source.parse().expect("IPv4 source");
    bind(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(std::net::SocketAddrV4::new(source, 0)),
    )
    .expect("bind the client address");
    connect(
        std::os::fd::AsRawFd::as_raw_fd(&fd),
        &SockaddrIn::from(destination),
    )
    .expect("connect to the relay");
    let stream = TcpStream::from(fd);
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
}
