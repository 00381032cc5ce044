//! An HTTPS backend on rustls that records the SNI of every handshake,
//! for the inspection tests: which name did the relay send on each
//! backend connection? Each connection answers one request (200 with a
//! length, keep-alive, the body names the connection) and then, by its
//! [`Ending`], closes at once or at the next request without answering
//! it, so that a relayed session needs a new backend connection.
//! Connections are served one after the other on one thread, each read
//! bounded by 5 s; the thread stops on drop.

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ServerConfig, ServerConnection, StreamOwned};
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// How a connection ends after its one answer.
#[derive(Clone, Copy, Debug)]
pub enum Ending {
    /// close_notify and close right after the answer (an idle close).
    AfterAnswer,
    /// Wait for the next request and close without answering it.
    AtNextRequest,
}

pub struct SniBackend {
    pub port: u16,
    names: Arc<Mutex<Vec<Option<String>>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SniBackend {
    /// Serves on `listener` (bound where the caller wants it: inside a
    /// test's namespace) with this certificate chain and key.
    pub fn start(listener: TcpListener, cert: &Path, key: &Path, ending: Ending) -> SniBackend {
        let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect())
            .unwrap_or_else(|e| panic!("{}: {e}", cert.display()));
        let key =
            PrivateKeyDer::from_pem_file(key).unwrap_or_else(|e| panic!("{}: {e}", key.display()));
        let config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("the backend's certificate and key fit");
        let config = Arc::new(config);
        let port = listener.local_addr().expect("bound").port();
        listener
            .set_nonblocking(true)
            .expect("nonblocking listener");
        let names = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (names, stop) = (names.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut served = 0;
                while !stop.load(Ordering::Relaxed) {
                    match listener.accept() {
                        Ok((socket, _)) => {
                            served += 1;
                            // A connection the relay gave up on is its business.
                            let _ = serve(&config, socket, served, ending, &names);
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                            std::thread::sleep(Duration::from_millis(20))
                        }
                        Err(e) => panic!("accept: {e}"),
                    }
                }
            })
        };
        SniBackend {
            port,
            names,
            stop,
            thread: Some(thread),
        }
    }

    /// The SNI of each handshake so far, in order (`None`: no name sent).
    pub fn names(&self) -> Vec<Option<String>> {
        self.names.lock().expect("names").clone()
    }
}

impl Drop for SniBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One connection: handshake (its SNI recorded), one answer, its ending.
fn serve(
    config: &Arc<ServerConfig>,
    socket: TcpStream,
    number: usize,
    ending: Ending,
    names: &Mutex<Vec<Option<String>>>,
) -> io::Result<()> {
    socket.set_nonblocking(false)?;
    socket.set_read_timeout(Some(Duration::from_secs(5)))?;
    let connection = ServerConnection::new(config.clone()).map_err(io::Error::other)?;
    let mut tls = StreamOwned::new(connection, socket);
    while tls.conn.is_handshaking() {
        tls.conn.complete_io(&mut tls.sock)?;
    }
    let name = tls.conn.server_name().map(str::to_string);
    names.lock().expect("names").push(name);
    read_head(&mut tls)?;
    let body = format!("connection {number}\n");
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tls.write_all(answer.as_bytes())?;
    tls.flush()?;
    if let Ending::AtNextRequest = ending {
        // Whatever comes (the next request, or the relay's close) ends it.
        let _ = tls.read(&mut [0u8; 512]);
    }
    tls.conn.send_close_notify();
    tls.conn.complete_io(&mut tls.sock)?;
    Ok(())
}

/// Reads a request head (a GET: no body), up to its blank line.
fn read_head(tls: &mut StreamOwned<ServerConnection, TcpStream>) -> io::Result<()> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if tls.read(&mut byte)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        head.push(byte[0]);
    }
    Ok(())
}
