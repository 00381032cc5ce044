//! The result codes of a host check, as relayd's `enum host_error`
//! (`host->he`): what the hce reports with each host's status, what
//! `relayctl show hosts` prints after `error:` and what the AgentX
//! subagent serves as relaydHostErrno.
//!
//! The order and the strings are relayd's (`host_error()` in util.c), because
//! they show up in logs (`host X, check tcp (3ms,tcp connect ok), ...`) and in
//! `relayctl` output; keep both stable. The numeric value ([`HostError::code`])
//! is relayd's `HCE_*` value, which OPENBSD-RELAYD-MIB clients read.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, Default,
)]
#[repr(u16)]
pub enum HostError {
    #[default]
    None = 0,
    Abort,
    IntervalTimeout,
    IcmpOk,
    IcmpReadTimeout,
    IcmpWriteTimeout,
    TcpSocketError,
    TcpSocketLimit,
    TcpSocketOption,
    TcpConnectFail,
    TcpConnectTimeout,
    TcpConnectOk,
    TcpWriteTimeout,
    TcpWriteFail,
    TcpReadTimeout,
    TcpReadFail,
    ScriptOk,
    ScriptFail,
    TlsConnectError,
    TlsConnectFail,
    TlsConnectOk,
    TlsConnectTimeout,
    TlsReadTimeout,
    TlsWriteTimeout,
    TlsReadError,
    TlsWriteError,
    SendExpectFail,
    SendExpectOk,
    HttpCodeError,
    HttpCodeFail,
    HttpCodeOk,
    HttpDigestError,
    HttpDigestFail,
    HttpDigestOk,
    /// Not in relayd (which reports a killed script as `script failed`):
    /// the script ran past the table timeout and was killed.
    ScriptTimeout,
}

impl HostError {
    /// relayd's `HCE_*` value (relaydHostErrno). Codes past relayd's last
    /// (`ScriptTimeout`) are this relayd's own.
    pub fn code(self) -> u16 {
        self as u16
    }

    /// relayd's text for this code.
    pub fn as_str(self) -> &'static str {
        use HostError::*;
        match self {
            None => "none",
            Abort => "aborted",
            IntervalTimeout => "interval timeout",
            IcmpOk => "icmp ok",
            IcmpReadTimeout => "icmp read timeout",
            IcmpWriteTimeout => "icmp write timeout",
            TcpSocketError => "tcp socket error",
            TcpSocketLimit => "tcp socket limit",
            TcpSocketOption => "tcp socket option",
            TcpConnectFail => "tcp connect failed",
            TcpConnectTimeout => "tcp connect timeout",
            TcpConnectOk => "tcp connect ok",
            TcpWriteTimeout => "tcp write timeout",
            TcpWriteFail => "tcp write failed",
            TcpReadTimeout => "tcp read timeout",
            TcpReadFail => "tcp read failed",
            ScriptOk => "script ok",
            ScriptFail => "script failed",
            TlsConnectError => "tls connect error",
            TlsConnectFail => "tls connect failed",
            TlsConnectOk => "tls connect ok",
            TlsConnectTimeout => "tls connect timeout",
            TlsReadTimeout => "tls read timeout",
            TlsWriteTimeout => "tls write timeout",
            TlsReadError => "tls read error",
            TlsWriteError => "tls write error",
            SendExpectFail => "send/expect failed",
            SendExpectOk => "send/expect ok",
            HttpCodeError => "http code malformed",
            HttpCodeFail => "http code mismatch",
            HttpCodeOk => "http code ok",
            HttpDigestError => "http digest malformed",
            HttpDigestFail => "http digest mismatch",
            HttpDigestOk => "http digest ok",
            ScriptTimeout => "script timeout",
        }
    }
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_relayds_hce_values() {
        // relayd.h `enum host_error`, in its order from HCE_NONE = 0.
        let relayd = [
            (HostError::None, 0),
            (HostError::Abort, 1),
            (HostError::IntervalTimeout, 2),
            (HostError::IcmpOk, 3),
            (HostError::IcmpReadTimeout, 4),
            (HostError::IcmpWriteTimeout, 5),
            (HostError::TcpSocketError, 6),
            (HostError::TcpSocketLimit, 7),
            (HostError::TcpSocketOption, 8),
            (HostError::TcpConnectFail, 9),
            (HostError::TcpConnectTimeout, 10),
            (HostError::TcpConnectOk, 11),
            (HostError::TcpWriteTimeout, 12),
            (HostError::TcpWriteFail, 13),
            (HostError::TcpReadTimeout, 14),
            (HostError::TcpReadFail, 15),
            (HostError::ScriptOk, 16),
            (HostError::ScriptFail, 17),
            (HostError::TlsConnectError, 18),
            (HostError::TlsConnectFail, 19),
            (HostError::TlsConnectOk, 20),
            (HostError::TlsConnectTimeout, 21),
            (HostError::TlsReadTimeout, 22),
            (HostError::TlsWriteTimeout, 23),
            (HostError::TlsReadError, 24),
            (HostError::TlsWriteError, 25),
            (HostError::SendExpectFail, 26),
            (HostError::SendExpectOk, 27),
            (HostError::HttpCodeError, 28),
            (HostError::HttpCodeFail, 29),
            (HostError::HttpCodeOk, 30),
            (HostError::HttpDigestError, 31),
            (HostError::HttpDigestFail, 32),
            (HostError::HttpDigestOk, 33),
            // Ours, after relayd's last.
            (HostError::ScriptTimeout, 34),
        ];
        for (error, code) in relayd {
            assert_eq!(error.code(), code, "{error}");
        }
    }

    #[test]
    fn display_uses_relayd_strings() {
        assert_eq!(HostError::TcpConnectFail.to_string(), "tcp connect failed");
        assert_eq!(HostError::SendExpectFail.to_string(), "send/expect failed");
        assert_eq!(HostError::HttpCodeError.to_string(), "http code malformed");
        assert_eq!(HostError::IntervalTimeout.to_string(), "interval timeout");
    }
}
