//! Logging for every relayd process, through `tracing`.
//!
//! In the foreground (`-d`) lines go to stderr, which the children inherit
//! from the parent, so one terminal shows every engine. Daemonized, lines go
//! to syslog (daemon facility) as datagrams on `/dev/log`; the socket is
//! connected before a child chroots, so logging keeps working inside the
//! chroot. Each line is prefixed with the process name (`hce`, `relay 2`).
//!
//! The verbosity can change at run time (`relayctl log verbose|brief`), so
//! the level lives in an atomic checked on every event rather than in a
//! filter fixed at start.

use std::fmt::Write as _;
use std::io::Write as _;
use std::os::unix::net::UnixDatagram;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Metadata, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::prelude::*;

/// Where the syslog daemon listens on Linux.
const SYSLOG_PATH: &str = "/dev/log";
/// syslog(3) LOG_DAEMON.
const FACILITY_DAEMON: u8 = 3;

/// 0: info and above (relayd's default), 1: debug (`-v`), 2+: trace.
static VERBOSITY: AtomicU8 = AtomicU8::new(0);

/// Sets how much is logged from now on, in this process.
pub fn set_verbosity(level: u8) {
    VERBOSITY.store(level, Ordering::Relaxed);
}

/// The current verbosity, to hand on to children and show in replies.
pub fn verbosity() -> u8 {
    VERBOSITY.load(Ordering::Relaxed)
}

fn max_level() -> Level {
    level_for(verbosity())
}

fn level_for(verbosity: u8) -> Level {
    match verbosity {
        0 => Level::INFO,
        1 => Level::DEBUG,
        _ => Level::TRACE,
    }
}

/// Where log lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Destination {
    Stderr,
    Syslog,
}

enum Sink {
    Stderr,
    Syslog(UnixDatagram),
    /// No syslog daemon listens: drop lines rather than fail.
    Nowhere,
}

struct LineLayer {
    process: String,
    sink: Mutex<Sink>,
}

/// Installs the global subscriber for this process. `process` names the
/// process in every line (`parent`, `hce`, `relay 1`). Call once, before
/// chroot (the syslog socket is connected here).
pub fn init(process: &str, destination: Destination, verbosity: u8) {
    set_verbosity(verbosity);
    let sink = match destination {
        Destination::Stderr => Sink::Stderr,
        Destination::Syslog => match connect_syslog() {
            Ok(socket) => Sink::Syslog(socket),
            Err(_) => Sink::Nowhere,
        },
    };
    let layer = LineLayer {
        process: process.to_string(),
        sink: Mutex::new(sink),
    };
    // A second init (tests calling twice) keeps the first subscriber.
    let _ = tracing_subscriber::registry().with(layer).try_init();
}

fn connect_syslog() -> std::io::Result<UnixDatagram> {
    let socket = UnixDatagram::unbound()?;
    socket.connect(SYSLOG_PATH)?;
    Ok(socket)
}

fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Collects an event's message and fields as `message key=value ...`.
#[derive(Default)]
struct LineVisitor {
    message: String,
    fields: String,
}

impl Visit for LineVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            let _ = write!(self.fields, " {}={}", field.name(), value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value:?}");
        } else {
            let _ = write!(self.fields, " {}={:?}", field.name(), value);
        }
    }
}

impl<S: Subscriber> Layer<S> for LineLayer {
    fn enabled(&self, metadata: &Metadata<'_>, _ctx: Context<'_, S>) -> bool {
        *metadata.level() <= max_level()
    }

    fn register_callsite(
        &self,
        _metadata: &'static Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        // The level changes at run time: decide per event, never cache.
        tracing::subscriber::Interest::sometimes()
    }

    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let level = event.metadata().level();
        if *level > max_level() {
            return;
        }
        let mut visitor = LineVisitor::default();
        event.record(&mut visitor);
        let text = format!("{}: {}{}", self.process, visitor.message, visitor.fields);
        let Ok(mut sink) = self.sink.lock() else {
            return;
        };
        match &mut *sink {
            Sink::Stderr => {
                // One write per line, so lines of different processes
                // sharing the terminal never interleave.
                let line = format!("{text}\n");
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
            Sink::Syslog(socket) => {
                let priority = (FACILITY_DAEMON << 3) | severity(level);
                let line = format!("<{priority}>relayd[{}]: {text}", std::process::id());
                let _ = socket.send(line.as_bytes());
            }
            Sink::Nowhere => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbosity_maps_to_levels() {
        assert_eq!(level_for(0), Level::INFO);
        assert_eq!(level_for(1), Level::DEBUG);
        assert_eq!(level_for(5), Level::TRACE);
    }

    #[test]
    fn events_reach_syslog_as_daemon_facility_datagrams() {
        let (ours, theirs) = UnixDatagram::pair().unwrap();
        let layer = LineLayer {
            process: "hce".into(),
            sink: Mutex::new(Sink::Syslog(ours)),
        };
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(host = 3, "host down");
            tracing::trace!("not at this verbosity");
        });
        theirs.set_nonblocking(true).unwrap();
        let mut buffer = [0u8; 512];
        let n = theirs.recv(&mut buffer).unwrap();
        let line = String::from_utf8_lossy(&buffer[..n]);
        // LOG_DAEMON (3 << 3) | LOG_WARNING (4) = 28.
        let expected = format!("<28>relayd[{}]: hce: host down host=3", std::process::id());
        assert_eq!(line, expected);
        assert!(theirs.recv(&mut buffer).is_err(), "trace is filtered out");
    }

    #[test]
    fn syslog_severities_follow_syslog_h() {
        assert_eq!(severity(&Level::ERROR), 3);
        assert_eq!(severity(&Level::INFO), 6);
        assert_eq!((FACILITY_DAEMON << 3) | severity(&Level::INFO), 30);
    }
}
