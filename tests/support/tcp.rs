//! The TCP backend of the tests (a server on 127.0.0.0/8 run in threads of
//! the test, so every byte a relay moves or a check sends can be checked
//! on both ends) and the TCP clients that talk to relays.

use std::fmt::Debug;
use std::io::{self, Read, Write};
use std::net::{
    Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream, ToSocketAddrs,
};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::data::Checksum;

/// What a [`TcpBackend`] does with each connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TcpBehaviour {
    /// Accepts and closes at once: enough for `check tcp`.
    AcceptAndClose,
    /// Accepts and never answers; the connection stays open until the
    /// backend stops.
    Silent,
    /// Sends these bytes as soon as it accepts (a banner), then closes.
    Banner(Vec<u8>),
    /// Reads the request until it holds `until` (or pauses for 100 ms),
    /// answers `answer` and closes.
    Reply { until: Vec<u8>, answer: Vec<u8> },
    /// Sends back everything it reads; half-closes after the client did.
    Echo,
    /// Writes this name and a newline, then echoes like `Echo`.
    Named(String),
    /// Reads until the client half-closes, then answers `got N bytes`.
    ReplyAfterEof,
    /// Writes the address it sees the connection coming from, then echoes.
    TellPeer,
    /// Resets the connection (RST) once it has read something.
    ResetOnData,
}

impl TcpBehaviour {
    /// Answers `pong\n` to a line (`ping\n`), then closes.
    pub fn pong() -> TcpBehaviour {
        TcpBehaviour::Reply {
            until: b"\n".to_vec(),
            answer: b"pong\n".to_vec(),
        }
    }

    /// An HTTP/1.0 answer with this status line and body, after the head
    /// of the request.
    pub fn http_answer(status: &str, body: &str) -> TcpBehaviour {
        TcpBehaviour::Reply {
            until: b"\r\n\r\n".to_vec(),
            answer: format!(
                "HTTP/1.0 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            )
            .into_bytes(),
        }
    }

    /// Whether its connections stay open until the peer or
    /// [`TcpBackend::kill`] ends them. The others end by themselves and
    /// must not be held (a held copy would keep them open).
    fn keeps_connections(&self) -> bool {
        matches!(
            self,
            TcpBehaviour::Silent
                | TcpBehaviour::Echo
                | TcpBehaviour::Named(_)
                | TcpBehaviour::ReplyAfterEof
                | TcpBehaviour::TellPeer
        )
    }
}

/// A TCP server, one thread per connection, stopped (and every connection
/// it keeps closed) on drop or [`TcpBackend::kill`].
pub struct TcpBackend {
    pub addr: SocketAddr,
    /// Checksum and length of everything each echoing connection
    /// received, sent when that connection's client half-closed.
    pub received: mpsc::Receiver<(u64, u64)>,
    stop: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    accepted: Arc<AtomicU32>,
    listener: Option<TcpListener>,
    thread: Option<thread::JoinHandle<()>>,
}

impl TcpBackend {
    /// Listens on `addr` (port 0 for any free port).
    pub fn start(addr: impl ToSocketAddrs + Debug, behaviour: TcpBehaviour) -> TcpBackend {
        let listener = TcpListener::bind(&addr).unwrap_or_else(|e| panic!("bind {addr:?}: {e}"));
        let addr = listener.local_addr().expect("backend address");
        let waker = listener.try_clone().expect("clone the listener");
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(AtomicU32::new(0));
        let (sums_tx, received) = mpsc::channel();
        let thread = {
            let (stop, connections, accepted) =
                (stop.clone(), connections.clone(), accepted.clone());
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
                    accepted.fetch_add(1, Ordering::SeqCst);
                    if behaviour.keeps_connections() {
                        let copy = stream.try_clone().expect("clone a connection");
                        connections
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(copy);
                    }
                    match &behaviour {
                        TcpBehaviour::AcceptAndClose => drop(stream),
                        TcpBehaviour::Silent => {}
                        _ => {
                            let (behaviour, sums) = (behaviour.clone(), sums_tx.clone());
                            thread::spawn(move || serve(stream, &behaviour, sums));
                        }
                    }
                }
            })
        };
        TcpBackend {
            addr,
            received,
            stop,
            connections,
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
        self.accepted.load(Ordering::SeqCst)
    }

    /// Stops listening and closes every open connection, like a killed
    /// server process would.
    pub fn kill(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Shutting a listening socket down wakes its accept() (from any
        // network namespace, unlike connecting to it) and refuses new
        // connections.
        if let Some(listener) = self.listener.take() {
            let _ =
                nix::sys::socket::shutdown(listener.as_raw_fd(), nix::sys::socket::Shutdown::Read);
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let mut connections = self.connections.lock().unwrap_or_else(|e| e.into_inner());
        for connection in connections.drain(..) {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for TcpBackend {
    fn drop(&mut self) {
        self.kill();
    }
}

fn serve(mut stream: TcpStream, behaviour: &TcpBehaviour, sums: mpsc::Sender<(u64, u64)>) {
    let greeting = match behaviour {
        TcpBehaviour::Banner(banner) => {
            let _ = stream.write_all(banner);
            return;
        }
        TcpBehaviour::Reply { until, answer } => return reply(stream, until, answer),
        TcpBehaviour::Named(name) => Some(name.clone()),
        TcpBehaviour::TellPeer => stream.peer_addr().ok().map(|a| a.ip().to_string()),
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
    let answers_at_eof = *behaviour == TcpBehaviour::ReplyAfterEof;
    let mut sum = Checksum::default();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(_) if *behaviour == TcpBehaviour::ResetOnData => return reset_on_drop(&stream),
            Ok(n) => {
                sum.add(&buffer[..n]);
                if !answers_at_eof && stream.write_all(&buffer[..n]).is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
    let _ = sums.send((sum.value(), sum.len));
    if answers_at_eof {
        // Later than the half-close, so only a relay that kept this
        // direction open delivers it.
        thread::sleep(Duration::from_millis(200));
        let _ = stream.write_all(format!("got {} bytes\n", sum.len).as_bytes());
    }
    let _ = stream.shutdown(Shutdown::Write);
}

fn reply(mut stream: TcpStream, until: &[u8], answer: &[u8]) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                request.extend_from_slice(&buf[..n]);
                if request.windows(until.len()).any(|w| w == until) {
                    break;
                }
            }
        }
    }
    let _ = stream.write_all(answer);
}

/// Makes closing `stream` (its last descriptor) send a reset instead of
/// a FIN: SO_LINGER with a zero timeout.
pub fn reset_on_drop(stream: &TcpStream) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    nix::sys::socket::setsockopt(stream, nix::sys::socket::sockopt::Linger, &linger)
        .expect("set SO_LINGER");
}

/// A client connection to 127.0.0.1:`port`, reads time out after 20 s.
pub fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the relay");
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("set a read timeout");
    stream
}

/// Connects to 127.0.0.1:`port` from `source` (any 127.0.0.0/8 address),
/// so tests can play many clients.
pub fn connect_from(source: &str, port: u16) -> TcpStream {
    connect_between(source, SocketAddrV4::new(Ipv4Addr::LOCALHOST, port))
}

/// Connects to `destination` from `source`; reads time out after 20 s.
pub fn connect_between(source: &str, destination: SocketAddrV4) -> TcpStream {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    let source: Ipv4Addr = source.parse().expect("IPv4 source");
    bind(
        fd.as_raw_fd(),
        &SockaddrIn::from(SocketAddrV4::new(source, 0)),
    )
    .expect("bind the client address");
    connect(fd.as_raw_fd(), &SockaddrIn::from(destination)).expect("connect to the relay");
    let stream = TcpStream::from(fd);
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("set a read timeout");
    stream
}

/// Reads one `\n`-terminated line (without the `\n`).
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

/// Connects through the relay on `port` to a `Named` backend and returns
/// its name.
pub fn which_backend(port: u16) -> String {
    let mut stream = connect(port);
    read_line(&mut stream).expect("backend name")
}

/// Writes `data`, half-closes, and reads everything back; returns what
/// came back.
pub fn round_trip(stream: &mut TcpStream, data: &[u8]) -> Vec<u8> {
    let mut reader = stream.try_clone().expect("clone the client socket");
    let reading = thread::spawn(move || {
        let mut back = Vec::new();
        reader.read_to_end(&mut back).map(|_| back)
    });
    stream.write_all(data).expect("write to the relay");
    stream
        .shutdown(Shutdown::Write)
        .expect("half-close towards the relay");
    reading
        .join()
        .expect("the reading thread")
        .expect("read from the relay")
}
