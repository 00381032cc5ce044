//! relayd.conf(5) FILTER RULES on one HTTP message: rules of the
//! message's direction are tested in order; `match` rules apply their
//! actions at once, the last matching `pass`/`block` rule (or the first
//! `quick` one) decides and applies its actions at the end, as relayd's
//! `relay_test` does. Tags and labels live for the whole connection.

mod path_strip;
mod url_digest;

use super::glob;
use super::variables::{expand, Variables};
use http::header::{HeaderMap, HeaderName, HeaderValue, COOKIE, HOST, SET_COOKIE};
use path_strip::strip_path;
use relayd_config::{
    AddressFamily, Direction, EntityKey, EntityKind, EntityMatch, EntityOption, FilterRule, Prefix,
    RuleAction,
};
use std::hash::Hasher;
use std::net::IpAddr;

/// The message the rules look at and change.
pub struct Message<'a> {
    pub direction: Direction,
    /// Request method; `None` for responses (rules with `method` skip them).
    pub method: Option<&'a str>,
    /// Request path (without the query); rewritten by `path` actions.
    pub path: String,
    pub query: Option<String>,
    pub headers: &'a mut HeaderMap,
}

/// What stays between the requests of one connection (relayd's
/// `se_tag`, `se_label`).
#[derive(Debug, Default)]
pub struct Marks {
    pub tag: Option<String>,
    pub label: Option<String>,
}

/// The outcome of the rules for one message.
#[derive(Debug, Default)]
pub struct Verdict {
    pub blocked: bool,
    /// `forward to <table>` of a matching rule.
    pub forward_to: Option<String>,
    /// Hash of the values of `hash` actions, if any.
    pub hash: Option<u64>,
}

/// Where the connection comes from and goes to, for `from`/`to`,
/// `inet`/`inet6` and the `$` variables.
pub struct Endpoints<'a> {
    pub client: IpAddr,
    pub server: IpAddr,
    pub variables: &'a Variables,
}

pub fn evaluate(
    rules: &[FilterRule],
    message: &mut Message,
    endpoints: &Endpoints,
    marks: &mut Marks,
) -> Verdict {
    let mut verdict = Verdict::default();
    let mut actions: Vec<&EntityMatch> = Vec::new();
    let mut deciding: Option<&FilterRule> = None;
    for rule in rules {
        if !applies(rule, message, endpoints, marks) {
            continue;
        }
        if rule.action == RuleAction::Match {
            mark(rule, marks, &mut verdict);
            actions.extend(rule.entities.iter());
            continue;
        }
        verdict.blocked = rule.action == RuleAction::Block;
        deciding = Some(rule);
        if rule.quick {
            break;
        }
    }
    if let Some(rule) = deciding {
        mark(rule, marks, &mut verdict);
        actions.extend(rule.entities.iter());
    }
    let mut hasher: Option<std::collections::hash_map::DefaultHasher> = None;
    for entity in actions {
        apply(entity, message, endpoints, &mut hasher);
    }
    verdict.hash = hasher.map(|h| h.finish());
    verdict
}

/// Tag, label and table of a matching rule take effect at once.
fn mark(rule: &FilterRule, marks: &mut Marks, verdict: &mut Verdict) {
    if rule.untag {
        marks.tag = None;
    }
    if let Some(tag) = &rule.tag {
        marks.tag = Some(tag.clone());
    }
    if rule.unlabel {
        marks.label = None;
    }
    if let Some(label) = &rule.label {
        marks.label = Some(label.clone());
    }
    if let Some(table) = &rule.forward_to {
        verdict.forward_to = Some(table.clone());
    }
}

fn applies(rule: &FilterRule, message: &Message, endpoints: &Endpoints, marks: &Marks) -> bool {
    if rule.direction != message.direction {
        return false;
    }
    if let Some(family) = rule.family {
        let inet6 = family == AddressFamily::Inet6;
        if endpoints.client.is_ipv6() != inet6 || endpoints.server.is_ipv6() != inet6 {
            return false;
        }
    }
    if rule.from.is_some_and(|p| !contains(&p, endpoints.client))
        || rule.to.is_some_and(|p| !contains(&p, endpoints.server))
    {
        return false;
    }
    if let Some(method) = &rule.method {
        if message.method != Some(method.as_str()) {
            return false;
        }
    }
    if let Some(tagged) = &rule.tagged {
        if marks.tag.as_ref() != Some(tagged) {
            return false;
        }
    }
    rule.entities
        .iter()
        .all(|entity| entity_matches(entity, message, rule.action))
}

fn contains(prefix: &Prefix, addr: IpAddr) -> bool {
    let to_bits = |ip: IpAddr| match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, 32u32),
        IpAddr::V6(v6) => (u128::from(v6), 128u32),
    };
    let addr = match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    };
    let (want, width) = to_bits(prefix.addr);
    let (have, have_width) = to_bits(addr);
    if width != have_width {
        return false;
    }
    let len = u32::from(prefix.len).min(width);
    if len == 0 {
        return true;
    }
    let mask = u128::MAX << (128 - len);
    want & mask == have & mask
}

/// The rule's keys: one written key or the keys of a `file`.
fn keys(entity: &EntityMatch) -> Vec<&str> {
    match &entity.key {
        Some(EntityKey::Value(key)) => vec![key.as_str()],
        Some(EntityKey::File { keys, .. }) => keys.iter().map(String::as_str).collect(),
        None => Vec::new(),
    }
}

fn any_key(entity: &EntityMatch, text: &str, fold: bool) -> bool {
    keys(entity)
        .iter()
        .any(|key| glob::matches(key, text, fold))
}

fn adds(entity: &EntityMatch) -> bool {
    matches!(
        entity.option,
        Some(EntityOption::Append | EntityOption::Set)
    )
}

fn entity_matches(entity: &EntityMatch, message: &Message, action: RuleAction) -> bool {
    let request = message.direction == Direction::Request;
    match entity.kind {
        EntityKind::Header => {
            if adds(entity) {
                return true;
            }
            let Some((_, value)) = find_header(entity, message.headers) else {
                return false;
            };
            entity
                .value
                .as_deref()
                .is_none_or(|want| glob::matches(want, &value, false))
        }
        EntityKind::Path => {
            if !request || entity.key.is_none() {
                return true;
            }
            if !any_key(entity, &message.path, false) {
                return false;
            }
            match (&entity.value, entity.option) {
                (Some(want), None) => {
                    glob::matches(want, message.query.as_deref().unwrap_or(""), true)
                }
                _ => true,
            }
        }
        EntityKind::Query => {
            if !request || entity.key.is_none() {
                return true;
            }
            query_value(entity, message.query.as_deref()).is_some()
        }
        EntityKind::Url => {
            if !request || entity.key.is_none() {
                return true;
            }
            let Some(host) = header_text(message.headers, &HOST) else {
                return true;
            };
            // relayd logs every URL a `log` option sees, matched or not.
            if action != RuleAction::Block && entity.option == Some(EntityOption::Log) {
                return true;
            }
            let candidates = url_candidates(&host, &message.path, message.query.as_deref());
            if entity.digest {
                // relayd hashes each lookup string and compares hex digests
                // case-insensitively; the key's length picks the algorithm.
                return candidates.iter().any(|candidate| {
                    keys(entity)
                        .iter()
                        .any(|key| url_digest::matches(key, candidate))
                });
            }
            candidates
                .iter()
                .any(|candidate| any_key(entity, candidate, true))
        }
        EntityKind::Cookie => {
            if adds(entity) {
                return true;
            }
            let Some(cookies) = header_text(message.headers, &cookie_header(message.direction))
            else {
                return false;
            };
            entity.key.is_none() || cookie_value(entity, &cookies).is_some()
        }
    }
}

fn cookie_header(direction: Direction) -> HeaderName {
    match direction {
        Direction::Request => COOKIE,
        Direction::Response => SET_COOKIE,
    }
}

fn header_text(headers: &HeaderMap, name: &HeaderName) -> Option<String> {
    headers
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
}

/// The first header whose name matches a key (case-insensitively), with
/// its value.
fn find_header(entity: &EntityMatch, headers: &HeaderMap) -> Option<(HeaderName, String)> {
    headers.iter().find_map(|(name, value)| {
        any_key(entity, name.as_str(), true).then(|| {
            (
                name.clone(),
                String::from_utf8_lossy(value.as_bytes()).into_owned(),
            )
        })
    })
}

fn pairs(text: &str, separator: char) -> impl Iterator<Item = (&str, &str)> {
    text.split(separator).filter_map(|pair| {
        let pair = pair.trim();
        (!pair.is_empty()).then(|| pair.split_once('=').unwrap_or((pair, "")))
    })
}

fn query_value(entity: &EntityMatch, query: Option<&str>) -> Option<String> {
    pairs(query?, '&')
        .find(|(key, value)| {
            any_key(entity, key, false)
                && entity
                    .value
                    .as_deref()
                    .is_none_or(|want| glob::matches(want, value, false))
        })
        .map(|(_, value)| value.to_string())
}

fn cookie_value(entity: &EntityMatch, cookies: &str) -> Option<String> {
    pairs(cookies, ';')
        .find(|(key, value)| {
            any_key(entity, key, false)
                && entity
                    .value
                    .as_deref()
                    .is_none_or(|want| glob::matches(want, value, false))
        })
        .map(|(_, value)| value.to_string())
}

/// relayd's `RELAY_MAXLOOKUPLEVELS`: a URL lookup tries at most this many
/// host names (the host and its parent domains) and one fewer directory
/// prefixes of the path.
const LOOKUP_LEVELS: usize = 5;

/// relayd's URL lookups (`relay_lookup_url`): the host and up to four of
/// its parent domains (down to two labels) combined with the full path
/// and query, the path, and up to four directory prefixes of the path.
fn url_candidates(host: &str, path: &str, query: Option<&str>) -> Vec<String> {
    let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
    let labels: Vec<&str> = host.split('.').collect();
    let mut hosts = vec![host.clone()];
    let parents = labels.len().saturating_sub(2).min(LOOKUP_LEVELS - 1);
    for level in 0..parents {
        hosts.push(labels[labels.len() - 2 - level..].join("."));
    }
    let mut paths = Vec::new();
    if let Some(query) = query {
        paths.push(format!("{path}?{query}"));
    }
    paths.push(path.to_string());
    // Each prefix ends in `/`; a trailing `/` of the path adds nothing, the
    // full path already covers it.
    let prefixes = path
        .match_indices('/')
        .map(|(slash, _)| slash)
        .take_while(|&slash| slash + 1 < path.len())
        .take(LOOKUP_LEVELS - 1);
    for slash in prefixes {
        paths.push(path[..=slash].to_string());
    }
    hosts
        .iter()
        .flat_map(|h| paths.iter().map(move |p| format!("{h}{p}")))
        .collect()
}

fn apply(
    entity: &EntityMatch,
    message: &mut Message,
    endpoints: &Endpoints,
    hasher: &mut Option<std::collections::hash_map::DefaultHasher>,
) {
    let request = message.direction == Direction::Request;
    let value = entity
        .value
        .as_deref()
        .map(|v| expand(v, endpoints.variables));
    let key = keys(entity).first().map(|k| k.to_string());
    let feed = |hasher: &mut Option<std::collections::hash_map::DefaultHasher>, text: &str| {
        hasher
            .get_or_insert_with(Default::default)
            .write(text.as_bytes());
    };
    match (entity.kind, entity.option) {
        (_, None) => {}
        (EntityKind::Header, Some(option)) => {
            let found = find_header(entity, message.headers);
            match option {
                EntityOption::Set | EntityOption::Append => {
                    let (Some(name), Some(value)) = (key, value) else {
                        return;
                    };
                    let (Ok(name), Ok(value)) =
                        (HeaderName::try_from(name), HeaderValue::try_from(value))
                    else {
                        return;
                    };
                    if option == EntityOption::Set || found.is_none() {
                        message.headers.insert(name, value);
                    } else {
                        message.headers.append(name, value);
                    }
                }
                EntityOption::Remove => {
                    let doomed: Vec<HeaderName> = message
                        .headers
                        .keys()
                        .filter(|name| any_key(entity, name.as_str(), true))
                        .cloned()
                        .collect();
                    for name in doomed {
                        message.headers.remove(name);
                    }
                }
                EntityOption::Hash => {
                    if let Some((_, value)) = found {
                        feed(hasher, &value);
                    }
                }
                EntityOption::Log => {
                    if let Some((name, value)) = found {
                        tracing::info!("[{name}: {value}]");
                    }
                }
                EntityOption::Strip(_) => {}
            }
        }
        (EntityKind::Path, Some(option)) if request => match option {
            EntityOption::Set => {
                if let Some(value) = value {
                    message.path = value;
                }
            }
            EntityOption::Append => {
                if let Some(suffix) = value.or(key) {
                    message.path.push_str(&suffix);
                }
            }
            EntityOption::Remove => message.path = "/".to_string(),
            EntityOption::Hash => feed(hasher, &message.path.clone()),
            EntityOption::Log => tracing::info!("[{}]", message.path),
            EntityOption::Strip(count) => message.path = strip_path(&message.path, count),
        },
        (EntityKind::Query, Some(option)) if request => {
            let found = query_value(entity, message.query.as_deref());
            match (option, found) {
                (EntityOption::Hash, Some(v)) => feed(hasher, &v),
                (EntityOption::Log, Some(v)) => {
                    tracing::info!("[{}: {v}]", key.unwrap_or_default())
                }
                _ => {}
            }
        }
        (EntityKind::Url, Some(option)) if request => {
            let host = header_text(message.headers, &HOST).unwrap_or_default();
            // A digest rule logs its key, as relayd does: the URL behind
            // the hash is what the digest hides.
            let url = match (entity.digest, key) {
                (true, Some(key)) if option == EntityOption::Log => key,
                _ => format!("{host}{}", message.path),
            };
            match option {
                EntityOption::Hash => feed(hasher, &url),
                EntityOption::Log => tracing::info!("[{url}]"),
                _ => {}
            }
        }
        (EntityKind::Cookie, Some(option)) => {
            let header = cookie_header(message.direction);
            match option {
                EntityOption::Set | EntityOption::Append => {
                    let (Some(key), Some(value)) = (key, value) else {
                        return;
                    };
                    let Ok(cookie) = HeaderValue::try_from(format!("{key}={value};")) else {
                        return;
                    };
                    if option == EntityOption::Set || !message.headers.contains_key(&header) {
                        message.headers.insert(header, cookie);
                    } else {
                        message.headers.append(header, cookie);
                    }
                }
                EntityOption::Remove => {
                    message.headers.remove(&header);
                }
                EntityOption::Hash | EntityOption::Log => {
                    let cookies = header_text(message.headers, &header).unwrap_or_default();
                    if let Some(v) = cookie_value(entity, &cookies) {
                        if option == EntityOption::Hash {
                            feed(hasher, &v);
                        } else {
                            tracing::info!("[{}: {v}]", key.unwrap_or_default());
                        }
                    }
                }
                EntityOption::Strip(_) => {}
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::{evaluate, url_candidates, Endpoints, Marks, Message, Verdict};
    use crate::relay::http::variables::Variables;
    use http::header::{HeaderMap, HeaderValue, HOST};
    use relayd_config::{parse_str, Direction, FilterRule, LoadOptions};

    /// The filter rules of `http protocol p { RULES }`.
    fn rules(text: &str) -> Vec<FilterRule> {
        let config = format!(
            "http protocol p {{\n{text}\n}}\n\
             relay r {{\n listen on 127.0.0.1 port 8080\n protocol p\n \
             forward to 127.0.0.1 port 80\n}}\n"
        );
        let config = parse_str(&config, "t.conf", &LoadOptions::default()).expect("valid rules");
        config.protocol("p").expect("protocol p").rules.clone()
    }

    /// Runs `rules` on `GET path?query` for `Host: www.example.com`; the
    /// verdict and the path the backend would get.
    fn run(
        rules: &[FilterRule],
        path: &str,
        query: Option<&str>,
    ) -> (Verdict, String, Option<String>) {
        let mut headers = HeaderMap::new();
        headers.insert(HOST, HeaderValue::from_static("www.example.com"));
        let mut message = Message {
            direction: Direction::Request,
            method: Some("GET"),
            path: path.to_string(),
            query: query.map(str::to_string),
            headers: &mut headers,
        };
        let local = "127.0.0.1:80".parse().expect("address");
        let variables = Variables {
            host: "www.example.com".into(),
            remote: local,
            server: local,
            timeout_secs: 600,
        };
        let endpoints = Endpoints {
            client: local.ip(),
            server: local.ip(),
            variables: &variables,
        };
        let verdict = evaluate(rules, &mut message, &endpoints, &mut Marks::default());
        (verdict, message.path, message.query)
    }

    #[test]
    fn url_lookups_walk_domains_and_directories() {
        let all = url_candidates("www.example.com:80", "/a/b.html", Some("x=1"));
        for want in [
            "www.example.com/a/b.html?x=1",
            "www.example.com/a/b.html",
            "www.example.com/a/",
            "example.com/",
            "example.com/a/b.html",
        ] {
            assert!(all.iter().any(|c| c == want), "{want} in {all:?}");
        }
        assert!(!all.iter().any(|c| c.starts_with("com/")));
    }

    #[test]
    fn url_lookups_stop_at_relayds_levels() {
        let all = url_candidates("a.b.c.d.e.f.com", "/1/2/3/4/5/6", None);
        assert!(all.iter().any(|c| c == "c.d.e.f.com/"), "{all:?}");
        assert!(!all.iter().any(|c| c.starts_with("b.c.d.e.f.com/")));
        assert!(all.iter().any(|c| c == "a.b.c.d.e.f.com/1/2/3/"));
        assert!(!all.iter().any(|c| c == "a.b.c.d.e.f.com/1/2/3/4/"));
        assert!(all.iter().any(|c| c == "f.com/1/2/3/4/5/6"));
        // A trailing slash is not looked up twice.
        let dir = url_candidates("example.com", "/a/", None);
        assert_eq!(dir, ["example.com/a/", "example.com/"]);
    }

    #[test]
    fn url_digest_rules_match_the_hash_of_a_lookup() {
        // sha1 and md5 of "www.example.com/private/".
        let sha1 = rules("block request url digest \"b7c8285042e9f951077c121a909f43a5ac322c60\"");
        let md5 = rules("block request url digest \"58164e72968eaed8e55e1a127c35ba6c\"");
        for rules in [&sha1, &md5] {
            assert!(run(rules, "/private/file.html", Some("a=b")).0.blocked);
            assert!(run(rules, "/private/", None).0.blocked);
            assert!(!run(rules, "/public/file.html", None).0.blocked);
            assert!(!run(rules, "/private", None).0.blocked);
        }
        // The digest is of the lookup string, not of the key written plainly.
        let plain = rules("block request url \"b7c8285042e9f951077c121a909f43a5ac322c60\"");
        assert!(!run(&plain, "/private/x", None).0.blocked);
    }

    #[test]
    fn path_strip_drops_leading_directories_and_keeps_the_query() {
        let strip = rules("match request path strip 1");
        let (verdict, path, query) = run(&strip, "/api/v1/users", Some("id=7"));
        assert!(!verdict.blocked);
        assert_eq!(path, "/v1/users");
        assert_eq!(query.as_deref(), Some("id=7"));
        assert_eq!(run(&strip, "/", None).1, "/");
        assert_eq!(
            run(&rules("match request path strip 0"), "/a/b", None).1,
            "/a/b"
        );
        assert_eq!(
            run(&rules("match request path strip 9"), "/a/b/c", None).1,
            "/c"
        );
    }
}
