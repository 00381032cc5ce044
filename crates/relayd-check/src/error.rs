//! The result codes of a host check, as relayd's `enum host_error`.
//!
//! The order and the strings are relayd's (`host_error()` in util.c), because
//! they show up in logs (`host X, check tcp (3ms,tcp connect ok), ...`) and in
//! `relayctl` output; keep both stable. The numeric value (`as u16`) is the
//! same as relayd's so it can travel over imsg unchanged.

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
    fn numeric_values_follow_relayd() {
        assert_eq!(HostError::None as u16, 0);
        assert_eq!(HostError::IntervalTimeout as u16, 2);
        assert_eq!(HostError::TcpConnectOk as u16, 11);
        assert_eq!(HostError::HttpDigestOk as u16, 33);
    }

    #[test]
    fn display_uses_relayd_strings() {
        assert_eq!(HostError::TcpConnectFail.to_string(), "tcp connect failed");
        assert_eq!(HostError::SendExpectFail.to_string(), "send/expect failed");
        assert_eq!(HostError::HttpCodeError.to_string(), "http code malformed");
        assert_eq!(HostError::IntervalTimeout.to_string(), "interval timeout");
    }
}
