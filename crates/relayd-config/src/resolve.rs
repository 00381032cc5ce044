//! Turning words of the configuration into addresses and ports: IPv4 and
//! IPv6 literals, host names (through the caller's resolver or the system
//! one), `addr/len` prefixes, and ports by number or by /etc/services name.

use crate::{PortRange, Prefix, Resolver};
use std::net::{IpAddr, ToSocketAddrs};

/// Where service names come from.
pub const SERVICES_FILE: &str = "/etc/services";

/// Used when /etc/services cannot be read, so the usual names still work.
const BUILTIN_SERVICES: &[(&str, u16)] = &[
    ("ftp", 21),
    ("ssh", 22),
    ("smtp", 25),
    ("domain", 53),
    ("http", 80),
    ("www", 80),
    ("https", 443),
];

/// Looks up host names and service names for one load.
pub struct Resolve<'a> {
    resolver: Option<&'a Resolver>,
    /// The text of /etc/services, read at the first service name; `None`
    /// inside when the file cannot be read.
    services: Option<Option<String>>,
}

impl<'a> Resolve<'a> {
    pub fn new(resolver: Option<&'a Resolver>) -> Self {
        Resolve {
            resolver,
            services: None,
        }
    }

    /// Addresses of `host`: an IP literal, or a name resolved now. At most
    /// `max` addresses, in resolver order, without duplicates.
    pub fn addresses(&self, host: &str, max: usize) -> Result<Vec<IpAddr>, String> {
        if let Some(addr) = parse_ip(host) {
            return Ok(vec![addr]);
        }
        if host.is_empty() {
            return Err("empty host name".to_string());
        }
        let found = match self.resolver {
            Some(resolve) => resolve(host).map_err(|e| format!("cannot resolve {host}: {e}"))?,
            None => (host, 0)
                .to_socket_addrs()
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .map(|sa| sa.ip())
                .collect(),
        };
        let mut unique: Vec<IpAddr> = Vec::new();
        for addr in found {
            if !unique.contains(&addr) {
                unique.push(addr);
            }
        }
        unique.truncate(max.max(1));
        if unique.is_empty() {
            return Err(format!("cannot resolve {host}: no addresses"));
        }
        Ok(unique)
    }

    /// The first address of `host`.
    pub fn address(&self, host: &str) -> Result<IpAddr, String> {
        Ok(self.addresses(host, 1)?[0])
    }

    /// `addr[/len]`; without a length the prefix is the whole address.
    pub fn prefix(&self, host: &str, len: Option<i64>) -> Result<Prefix, String> {
        let addr = self.address(host)?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(len) if (0..=i64::from(max)).contains(&len) => len as u8,
            Some(len) => return Err(format!("invalid prefixlen {len}")),
        };
        Ok(Prefix { addr, len })
    }

    /// A port word: number, service name, or with `allow_range`,
    /// `lo:hi` (each a number or name).
    pub fn port(&mut self, word: &str, allow_range: bool) -> Result<PortRange, String> {
        match word.split_once(':') {
            Some((lo, hi)) if allow_range => {
                let lo = self.single_port(lo)?;
                let hi = self.single_port(hi)?;
                if lo > hi {
                    return Err(format!("invalid port range {word}: {lo} is above {hi}"));
                }
                Ok(PortRange { lo, hi })
            }
            Some(_) => Err(format!("invalid port {word}: a range is not allowed here")),
            None => {
                let port = self.single_port(word)?;
                Ok(PortRange { lo: port, hi: port })
            }
        }
    }

    fn single_port(&mut self, word: &str) -> Result<u16, String> {
        if let Ok(n) = word.parse::<i64>() {
            return match u16::try_from(n) {
                Ok(p) if p > 0 => Ok(p),
                _ => Err(format!("invalid port: {n}")),
            };
        }
        let services = self
            .services
            .get_or_insert_with(|| std::fs::read_to_string(SERVICES_FILE).ok());
        let port = match services {
            Some(text) => service_port(text, word),
            None => BUILTIN_SERVICES
                .iter()
                .find(|(name, _)| *name == word)
                .map(|(_, port)| *port),
        };
        port.ok_or_else(|| format!("unknown port {word}"))
    }
}

/// An IPv4 or IPv6 literal.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    text.parse().ok()
}

/// The port of service `name` (or alias) in services(5) text, lines
/// `name port/proto [aliases...] [# comment]`: its first tcp line, else
/// its first udp line. The text is searched, not turned into a map: a
/// load looks up a few names, and only the lines holding the name are
/// read (most of a fuzzed or mistyped name's cost was splitting every
/// line of the file).
pub fn service_port(text: &str, name: &str) -> Option<u16> {
    if name.is_empty() {
        return None;
    }
    let mut udp = None;
    let mut last_line = None;
    for (at, _) in text.match_indices(name) {
        let start = text[..at].rfind('\n').map_or(0, |i| i + 1);
        if last_line == Some(start) {
            continue;
        }
        last_line = Some(start);
        let end = text[at..].find('\n').map_or(text.len(), |i| at + i);
        match line_port(&text[start..end], name) {
            Some((port, "tcp")) => return Some(port),
            Some((port, "udp")) => {
                udp.get_or_insert(port);
            }
            _ => {}
        }
    }
    udp
}

/// The port and protocol of one services(5) line when `name` is its
/// service name or one of its aliases.
fn line_port<'a>(line: &'a str, name: &str) -> Option<(u16, &'a str)> {
    let line = line.split('#').next().unwrap_or("");
    let mut fields = line.split_whitespace();
    let (first, port_proto) = (fields.next()?, fields.next()?);
    if first != name && !fields.any(|alias| alias == name) {
        return None;
    }
    let (port, proto) = port_proto.split_once('/')?;
    Some((port.parse().ok()?, proto))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_file_is_parsed_tcp_first() {
        let text = "# comment\nhttp 80/tcp www # web\nfoobar 5/tcp\nfoo 1000/udp\nfoo 1001/tcp\n\
                    bar 7/udp\nbar 8/udp\nbad x/tcp\nwww 81/tcp\nx 9/sctp\n";
        assert_eq!(service_port(text, "http"), Some(80));
        assert_eq!(service_port(text, "www"), Some(80));
        assert_eq!(service_port(text, "foo"), Some(1001));
        assert_eq!(service_port(text, "bar"), Some(7));
        assert_eq!(service_port(text, "bad"), None);
        assert_eq!(service_port(text, "x"), None);
        assert_eq!(service_port(text, "web"), None);
        assert_eq!(service_port(text, "comment"), None);
        assert_eq!(service_port(text, "ww"), None);
        assert_eq!(service_port(text, "foobar"), Some(5));
        assert_eq!(service_port(text, ""), None);
    }

    #[test]
    fn ports_and_ranges() {
        let mut r = Resolve::new(None);
        assert_eq!(
            r.port("8080", false).unwrap(),
            PortRange { lo: 8080, hi: 8080 }
        );
        assert_eq!(
            r.port("8000:8010", true).unwrap(),
            PortRange { lo: 8000, hi: 8010 }
        );
        assert!(r.port("8000:8010", false).is_err());
        assert!(r.port("0", false).is_err());
        assert!(r.port("70000", false).is_err());
        assert!(r.port("no-such-service-name", false).is_err());
    }

    #[test]
    fn prefixes_check_their_length() {
        let r = Resolve::new(None);
        let p = r.prefix("10.0.0.0", Some(8)).unwrap();
        assert_eq!(p.len, 8);
        assert_eq!(r.prefix("::1", None).unwrap().len, 128);
        assert!(r.prefix("10.0.0.0", Some(33)).is_err());
    }

    #[test]
    fn names_go_through_the_given_resolver() {
        let resolver = |name: &str| -> std::io::Result<Vec<IpAddr>> {
            match name {
                "www.example.com" => Ok(vec![
                    "192.0.2.1".parse().unwrap(),
                    "192.0.2.1".parse().unwrap(),
                    "2001:db8::1".parse().unwrap(),
                ]),
                _ => Err(std::io::Error::other("unknown host")),
            }
        };
        let r = Resolve::new(Some(&resolver));
        let addrs = r.addresses("www.example.com", 16).unwrap();
        assert_eq!(addrs.len(), 2);
        assert!(r.address("nope.example.com").unwrap_err().contains("nope"));
    }
}
