//! TLS clients as an operator runs them: curl and openssl s_client.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

/// `curl -sS` to `https://NAME:PORT/PATH` with NAME resolved to 127.0.0.1
/// and `ca` as the only trusted certificate; more arguments before the URL.
pub fn curl_https(name: &str, port: u16, ca: &Path, args: &[&str], urls: &[&str]) -> Output {
    let mut command = Command::new("curl");
    command
        .args(["-sS", "--max-time", "20", "--cacert"])
        .arg(ca)
        .arg("--resolve")
        .arg(format!("{name}:{port}:127.0.0.1"))
        .args(args);
    for path in urls {
        command.arg(format!("https://{name}:{port}{path}"));
    }
    command.output().expect("run curl")
}

/// `openssl s_client` to 127.0.0.1:PORT with SNI `name`, verifying against
/// `ca`; sends `input` and reads until the relay closes.
pub fn s_client(port: u16, name: &str, ca: &Path, input: &[u8]) -> Output {
    let mut child = Command::new("openssl")
        .args(["s_client", "-quiet", "-verify_return_error", "-connect"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["-servername", name, "-CAfile"])
        .arg(ca)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run openssl s_client");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write to s_client");
    child.wait_with_output().expect("s_client output")
}

/// A client's output as text.
pub fn output_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
