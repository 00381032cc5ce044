//! relayctl: sends one request to relayd over its control socket and prints
//! the answer the way OpenBSD's relayctl(8) does (or as JSON with `-j`).

mod command;
mod format;
mod handshake;
mod json;
mod options;
mod reply;

use relayd_proto::control::{ControlClient, ControlRequest, CONTROL_VERSION};
use reply::{Conversation, Format, Step};
use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn main() -> ExitCode {
    let options = match options::parse_options(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(problem) => {
            eprintln!("relayctl: {problem}");
            eprintln!("{}", options::USAGE);
            return ExitCode::FAILURE;
        }
    };
    let request = match command::parse(&options.words) {
        Ok(request) => request,
        Err(problem) => {
            eprint!("{problem}");
            return ExitCode::FAILURE;
        }
    };
    let format = if options.json {
        Format::Json
    } else {
        Format::Text
    };
    let conversation = Conversation::new(&request, format);
    let stream = match connect(&options.socket, conversation.retries_connect()) {
        Ok(stream) => stream,
        Err(e) => {
            eprintln!("relayctl: connect: {}: {e}", options.socket);
            return ExitCode::FAILURE;
        }
    };
    let mut channel = ControlClient::new(stream);
    let hello = ControlRequest::Hello {
        version: CONTROL_VERSION,
    };
    if let Err(e) = channel.send(&hello, None) {
        eprintln!("relayctl: write error: {e}");
        return ExitCode::FAILURE;
    }
    // The request only once relayd said it speaks our version: one that
    // does not closes the connection.
    if let Err(problem) = handshake::expect_hello(&mut channel, CONTROL_VERSION) {
        eprintln!("relayctl: {problem}");
        return ExitCode::FAILURE;
    }
    if let Err(e) = channel.send(&request, None) {
        eprintln!("relayctl: write error: {e}");
        return ExitCode::FAILURE;
    }
    match talk(&mut channel, conversation) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(problem) => {
            eprintln!("relayctl: {problem}");
            ExitCode::FAILURE
        }
    }
}

/// Connects to the control socket; `monitor` keeps trying while the daemon
/// is not (yet) listening.
fn connect(path: &str, retry: bool) -> io::Result<UnixStream> {
    loop {
        match UnixStream::connect(path) {
            Err(e)
                if retry
                    && matches!(
                        e.kind(),
                        io::ErrorKind::NotFound | io::ErrorKind::ConnectionRefused
                    ) =>
            {
                std::thread::sleep(Duration::from_millis(100));
            }
            other => return other,
        }
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Reads replies until the answer is complete; `Ok(success)`.
fn talk(channel: &mut ControlClient, mut conversation: Conversation) -> Result<bool, String> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let mut print = |text: &str| -> Result<(), String> {
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))
    };
    print(&conversation.preamble())?;
    loop {
        let received = match channel.recv() {
            Ok(Some(received)) => received,
            Ok(None) => return conversation.on_eof(),
            Err(e) => return Err(e.to_string()),
        };
        match conversation.handle(&received.header, &received.msg, now())? {
            Step::More { output } => print(&output)?,
            Step::Finish { output, success } => {
                print(&output)?;
                return Ok(success);
            }
        }
    }
}
