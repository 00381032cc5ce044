//! relayctl: sends one request to relayd over its control socket and prints
//! the answer the way OpenBSD's relayctl(8) does (or as JSON with `-j`).

mod command;
mod format;
mod handshake;
mod json;
mod options;
mod reply;

use relayd_proto::control::{ControlClient, ControlRequest, CONTROL_VERSION};
use relayd_proto::ImsgError;
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
    // A relayd that accepts but does not answer (stuck, or its control
    // socket full) must not hang relayctl: reads and writes time out.
    if let Err(e) = set_timeout(&stream, options.timeout) {
        eprintln!("relayctl: {}: {e}", options.socket);
        return ExitCode::FAILURE;
    }
    let mut channel = ControlClient::new(stream);
    let hello = ControlRequest::Hello {
        version: CONTROL_VERSION,
    };
    if let Err(e) = channel.send(&hello, None) {
        eprintln!(
            "relayctl: {}",
            timed_out(
                &format!("write error: {e}"),
                is_timeout(&e),
                options.timeout
            )
        );
        return ExitCode::FAILURE;
    }
    // The request only once relayd said it speaks our version: one that
    // does not closes the connection.
    if let Err(problem) = handshake::expect_hello(&mut channel, CONTROL_VERSION) {
        eprintln!(
            "relayctl: {}",
            timed_out(&problem.to_string(), problem.timed_out(), options.timeout)
        );
        return ExitCode::FAILURE;
    }
    if conversation.streams() {
        // monitor: events come when they come.
        if let Err(e) = set_timeout(channel.stream(), None) {
            eprintln!("relayctl: {}: {e}", options.socket);
            return ExitCode::FAILURE;
        }
    }
    if let Err(e) = channel.send(&request, None) {
        eprintln!("relayctl: write error: {e}");
        return ExitCode::FAILURE;
    }
    match talk(&mut channel, conversation, options.timeout) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(problem) => {
            eprintln!("relayctl: {problem}");
            ExitCode::FAILURE
        }
    }
}

fn set_timeout(stream: &UnixStream, timeout: Option<Duration>) -> io::Result<()> {
    stream.set_read_timeout(timeout)?;
    stream.set_write_timeout(timeout)
}

/// What to say when a read failed: the timeout in words when it ran out.
fn timed_out(problem: &str, ran_out: bool, timeout: Option<Duration>) -> String {
    match timeout {
        Some(timeout) if ran_out => format!(
            "relayd did not answer within {} seconds (-t)",
            timeout.as_secs()
        ),
        _ => problem.to_string(),
    }
}

/// Whether an error is a read or write that ran out of time.
fn is_timeout(error: &ImsgError) -> bool {
    matches!(error, ImsgError::Io(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut))
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
fn talk(
    channel: &mut ControlClient,
    mut conversation: Conversation,
    timeout: Option<Duration>,
) -> Result<bool, String> {
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
            Err(e) => return Err(timed_out(&e.to_string(), is_timeout(&e), timeout)),
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
