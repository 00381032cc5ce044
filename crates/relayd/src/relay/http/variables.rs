//! The `$` macros relayd expands in filter rule values: `$HOST`,
//! `$REMOTE_ADDR`, `$REMOTE_PORT`, `$SERVER_ADDR`, `$SERVER_PORT`,
//! `$SERVER_NAME`, `$TIMEOUT`.

use super::error_page::SERVER_NAME;
use std::net::SocketAddr;

/// What the variables stand for in one request.
pub struct Variables {
    pub host: String,
    pub remote: SocketAddr,
    pub server: SocketAddr,
    pub timeout_secs: u64,
}

pub fn expand(text: &str, vars: &Variables) -> String {
    if !text.contains('$') {
        return text.to_string();
    }
    // Longest names first: `$SERVER_ADDR` must not be read as `$SERVER`.
    let table = [
        ("$REMOTE_ADDR", vars.remote.ip().to_string()),
        ("$REMOTE_PORT", vars.remote.port().to_string()),
        ("$SERVER_ADDR", vars.server.ip().to_string()),
        ("$SERVER_PORT", vars.server.port().to_string()),
        ("$SERVER_NAME", SERVER_NAME.to_string()),
        ("$TIMEOUT", vars.timeout_secs.to_string()),
        ("$HOST", vars.host.clone()),
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    'outer: while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at..];
        for (name, value) in &table {
            if let Some(after) = rest.strip_prefix(name) {
                out.push_str(value);
                rest = after;
                continue 'outer;
            }
        }
        out.push('$');
        rest = &rest[1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variable_expands() {
        let vars = Variables {
            host: "example.com".into(),
            remote: "127.0.0.2:4000".parse().unwrap(),
            server: "127.0.0.1:80".parse().unwrap(),
            timeout_secs: 600,
        };
        assert_eq!(
            expand("$REMOTE_ADDR:$REMOTE_PORT $SERVER_ADDR:$SERVER_PORT $SERVER_NAME $TIMEOUT $HOST $X", &vars),
            "127.0.0.2:4000 127.0.0.1:80 relayd 600 example.com $X"
        );
    }
}
