//! Macros of relayd.conf(5): `name="value"` definitions in the file and
//! `-D name=value` definitions on the command line, which win.

use std::collections::HashMap;

/// Bare words relayd's lexer turns into keywords. A macro cannot be defined
/// with one of these names in the file (the definition would not parse).
pub const RESERVED_WORDS: &[&str] = &[
    "agentx",
    "append",
    "backlog",
    "backup",
    "binary",
    "block",
    "buffer",
    "ca",
    "cache",
    "cert",
    "changes",
    "check",
    "checks",
    "ciphers",
    "code",
    "connection",
    "context",
    "cookie",
    "demote",
    "destination",
    "digest",
    "disable",
    "ecdhe",
    "edh",
    "error",
    "errors",
    "expect",
    "external",
    "file",
    "forward",
    "from",
    "hash",
    "header",
    "headerlen",
    "host",
    "http",
    "icmp",
    "include",
    "inet",
    "inet6",
    "interface",
    "interval",
    "ip",
    "key",
    "keypair",
    "label",
    "least-states",
    "listen",
    "loadbalance",
    "log",
    "lookup",
    "match",
    "method",
    "mode",
    "nat",
    "no",
    "nodelay",
    "nothing",
    "on",
    "params",
    "parent",
    "pass",
    "password",
    "path",
    "pftag",
    "port",
    "prefork",
    "priority",
    "protocol",
    "query",
    "quick",
    "random",
    "real",
    "redirect",
    "relay",
    "remove",
    "request",
    "response",
    "retry",
    "return",
    "roundrobin",
    "route",
    "router",
    "rtable",
    "rtlabel",
    "sack",
    "script",
    "send",
    "session",
    "set",
    "snmp",
    "socket",
    "source-hash",
    "splice",
    "ssl",
    "state",
    "sticky-address",
    "strip",
    "style",
    "table",
    "tag",
    "tagged",
    "tcp",
    "tickets",
    "timeout",
    "tls",
    "to",
    "transparent",
    "trap",
    "ttl",
    "url",
    "value",
    "websockets",
    "with",
];

pub fn is_reserved_word(word: &str) -> bool {
    RESERVED_WORDS.contains(&word)
}

/// Characters of a macro name, as `$name` is read: letters, digits, `_`.
pub fn is_macro_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

#[derive(Debug)]
struct Macro {
    value: String,
    /// Defined with `-D`: definitions in the file do not replace it.
    from_command_line: bool,
}

/// The macros known at one point of the file, in definition order.
#[derive(Debug, Default)]
pub struct MacroTable {
    macros: HashMap<String, Macro>,
}

impl MacroTable {
    /// A table holding the `-D` definitions. Fails on an empty or malformed
    /// name, naming the offending definition.
    pub fn with_command_line(defines: &[(String, String)]) -> Result<Self, String> {
        let mut table = MacroTable::default();
        for (name, value) in defines {
            if name.is_empty() || !name.chars().all(is_macro_name_char) {
                return Err(format!(
                    "invalid macro name \"{name}\" in -D {name}={value}: \
                     use letters, digits and '_'"
                ));
            }
            table.macros.insert(
                name.clone(),
                Macro {
                    value: value.clone(),
                    from_command_line: true,
                },
            );
        }
        Ok(table)
    }

    /// Defines `name` from the file. A `-D` definition of the same name
    /// wins and is kept. Fails when the name cannot be a macro name.
    pub fn define(&mut self, name: &str, value: &str) -> Result<(), String> {
        if name.is_empty() || !name.chars().all(is_macro_name_char) {
            return Err(format!(
                "invalid macro name \"{name}\": use letters, digits and '_'"
            ));
        }
        if is_reserved_word(name) {
            return Err(format!(
                "macro name \"{name}\" is a reserved word and cannot be used"
            ));
        }
        if let Some(existing) = self.macros.get(name) {
            if existing.from_command_line {
                return Ok(());
            }
        }
        self.macros.insert(
            name.to_string(),
            Macro {
                value: value.to_string(),
                from_command_line: false,
            },
        );
        Ok(())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.macros.get(name).map(|m| m.value.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_wins_over_file() {
        let mut table =
            MacroTable::with_command_line(&[("addr".into(), "10.0.0.9".into())]).unwrap();
        table.define("addr", "10.0.0.1").unwrap();
        table.define("other", "x").unwrap();
        assert_eq!(table.get("addr"), Some("10.0.0.9"));
        assert_eq!(table.get("other"), Some("x"));
        assert_eq!(table.get("missing"), None);
    }

    #[test]
    fn reserved_and_malformed_names_are_refused() {
        let mut table = MacroTable::default();
        assert!(table.define("table", "x").unwrap_err().contains("reserved"));
        assert!(table.define("a-b", "x").is_err());
        assert!(MacroTable::with_command_line(&[("".into(), "x".into())]).is_err());
    }

    #[test]
    fn reserved_words_are_sorted_and_unique() {
        let mut sorted = RESERVED_WORDS.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, RESERVED_WORDS);
    }
}
