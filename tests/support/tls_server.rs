//! An HTTPS server for the TLS checks: python3's http.server wrapped in
//! TLS, with a certificate openssl(1) makes for the test.

use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::ports::free_port;
use crate::process::wait_until;
use crate::scratch::ScratchDir;

/// Serves the files of its directory over HTTPS on 127.0.0.1 (GET and
/// HEAD answer 200); killed on drop.
pub struct TlsServer {
    pub port: u16,
    child: Child,
    /// The served directory (also holds the certificate and key).
    dir: ScratchDir,
}

impl TlsServer {
    /// A running server, or why there is none (python3 or openssl missing
    /// or failing).
    pub fn start() -> Result<TlsServer, String> {
        let dir = ScratchDir::new("tls-server");
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        let made = Command::new("openssl")
            .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
            .args(["ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
            .args(["-subj", "/CN=localhost", "-keyout"])
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("openssl(1): {e}"))?;
        if !made.success() {
            return Err(format!("openssl(1) could not make a certificate: {made}"));
        }
        Self::serve(dir, cert, key)
    }

    /// A server with this certificate (chain) and key.
    pub fn start_with(cert: &Path, key: &Path) -> Result<TlsServer, String> {
        Self::serve(
            ScratchDir::new("tls-server"),
            cert.to_path_buf(),
            key.to_path_buf(),
        )
    }

    fn serve(dir: ScratchDir, cert: PathBuf, key: PathBuf) -> Result<TlsServer, String> {
        let port = free_port();
        let server = format!(
            "import http.server, ssl\n\
             server = http.server.HTTPServer(('127.0.0.1', {port}), http.server.SimpleHTTPRequestHandler)\n\
             context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)\n\
             context.load_cert_chain('{}', '{}')\n\
             server.socket = context.wrap_socket(server.socket, server_side=True)\n\
             server.serve_forever()\n",
            cert.display(),
            key.display()
        );
        let child = Command::new("python3")
            .arg("-c")
            .arg(server)
            .current_dir(&dir.path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("python3: {e}"))?;
        let server = TlsServer { port, child, dir };
        let listening = wait_until(Duration::from_secs(5), || {
            TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
        });
        if listening {
            Ok(server)
        } else {
            Err("the python3 HTTPS server did not listen within 5 s".to_string())
        }
    }

    /// Serves `contents` as `/name`.
    pub fn serve_file(&self, name: &str, contents: &str) {
        self.dir.write(name, contents);
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
