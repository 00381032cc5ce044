//! relayctl(8)'s command grammar: a small tree of keywords where every word
//! may be abbreviated to any unique prefix (`sh su` is `show summary`), as
//! relayctl's parser.c does. Parsing yields the control request to send.

use relayd_proto::control::{ControlRequest, Target};
use std::fmt;

/// Why the command line was refused; printed to stderr as relayctl does,
/// followed by the list of valid words at that point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    /// What would have been accepted where parsing stopped (empty when the
    /// problem is an extra word at the end).
    pub valid: Vec<&'static str>,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.message)?;
        if !self.valid.is_empty() {
            writeln!(f, "valid commands/args:")?;
            for word in &self.valid {
                writeln!(f, "  {word}")?;
            }
        }
        Ok(())
    }
}

/// One step of the grammar.
enum Node {
    /// Keywords, each leading to the next node.
    Keywords(&'static [(&'static str, Node)]),
    /// A complete command.
    Done(fn() -> ControlRequest),
    /// An id or name completing a command.
    Target(&'static str, fn(Target) -> ControlRequest),
    /// A file name completing a command.
    Path(fn(String) -> ControlRequest),
    /// A number of seconds that may complete a command, or not.
    Seconds(fn(Option<u32>) -> ControlRequest),
    /// A table and a host completing a command.
    TableHost(fn(Target, String) -> ControlRequest),
}

use Node::{Done, Keywords, Path, Seconds, TableHost, Target as Id};

static GRAMMAR: Node = Keywords(&[
    ("monitor", Done(|| ControlRequest::Monitor)),
    (
        "show",
        Keywords(&[
            ("summary", Done(|| ControlRequest::ShowSummary)),
            ("hosts", Done(|| ControlRequest::ShowHosts)),
            ("redirects", Done(|| ControlRequest::ShowRedirects)),
            ("relays", Done(|| ControlRequest::ShowRelays)),
            ("routers", Done(|| ControlRequest::ShowRouters)),
            ("sessions", Done(|| ControlRequest::ShowSessions)),
            ("metrics", Done(|| ControlRequest::ShowMetrics)),
        ]),
    ),
    ("load", Path(ControlRequest::Load)),
    ("poll", Done(|| ControlRequest::Poll)),
    ("reload", Done(|| ControlRequest::Reload)),
    ("stop", Done(|| ControlRequest::Shutdown)),
    (
        "drain",
        Seconds(|seconds| ControlRequest::Drain { seconds }),
    ),
    (
        "redirect",
        Keywords(&[
            (
                "disable",
                Id("<redirectid>", ControlRequest::RedirectDisable),
            ),
            ("enable", Id("<redirectid>", ControlRequest::RedirectEnable)),
        ]),
    ),
    (
        "table",
        Keywords(&[
            ("disable", Id("<tableid>", ControlRequest::TableDisable)),
            ("enable", Id("<tableid>", ControlRequest::TableEnable)),
            (
                "add",
                TableHost(|table, host| ControlRequest::TableAdd { table, host }),
            ),
            (
                "remove",
                TableHost(|table, host| ControlRequest::TableRemove {
                    table,
                    host: Target::parse(&host),
                }),
            ),
        ]),
    ),
    (
        "host",
        Keywords(&[
            ("disable", Id("<hostid>", ControlRequest::HostDisable)),
            ("enable", Id("<hostid>", ControlRequest::HostEnable)),
        ]),
    ),
    (
        "router",
        Keywords(&[
            ("disable", Id("<routerid>", ControlRequest::RouterDisable)),
            ("enable", Id("<routerid>", ControlRequest::RouterEnable)),
        ]),
    ),
    (
        "log",
        Keywords(&[
            ("verbose", Done(|| ControlRequest::LogVerbose)),
            ("brief", Done(|| ControlRequest::LogBrief)),
        ]),
    ),
]);

fn valid_words(node: &Node) -> Vec<&'static str> {
    match node {
        Keywords(choices) => choices.iter().map(|(word, _)| *word).collect(),
        Done(_) => vec!["<cr>"],
        Id(placeholder, _) => vec![placeholder],
        Path(_) => vec!["<path>"],
        Seconds(_) => vec!["<seconds>", "<cr>"],
        TableHost(_) => vec!["<tableid> <host>"],
    }
}

fn refuse(message: String, node: &Node) -> ParseError {
    ParseError {
        message,
        valid: valid_words(node),
    }
}

/// Parses the words after the options, e.g. `["sh", "h"]`.
pub fn parse<S: AsRef<str>>(words: &[S]) -> Result<ControlRequest, ParseError> {
    let mut node = &GRAMMAR;
    let mut words = words.iter().map(AsRef::as_ref);
    let request = loop {
        match node {
            Done(make) => break make(),
            Id(_, make) => match words.next() {
                Some(word) => break make(Target::parse(word)),
                None => return Err(refuse("missing argument:".into(), node)),
            },
            Path(make) => match words.next() {
                Some(word) if !word.is_empty() => break make(word.to_string()),
                Some(word) => return Err(refuse(format!("unknown argument: {word}"), node)),
                None => return Err(refuse("missing argument:".into(), node)),
            },
            TableHost(make) => match (words.next(), words.next()) {
                (Some(table), Some(host)) => break make(Target::parse(table), host.to_string()),
                _ => return Err(refuse("missing argument:".into(), node)),
            },
            Seconds(make) => match words.next() {
                Some(word) => match word.parse::<u32>() {
                    Ok(seconds) => break make(Some(seconds)),
                    Err(_) => return Err(refuse(format!("not a number of seconds: {word}"), node)),
                },
                None => break make(None),
            },
            Keywords(choices) => {
                let Some(word) = words.next() else {
                    return Err(refuse("missing argument:".into(), node));
                };
                let mut matching = choices.iter().filter(|(kw, _)| kw.starts_with(word));
                match (matching.next(), matching.next()) {
                    (Some((_, next)), None) => node = next,
                    (Some(_), Some(_)) => {
                        return Err(refuse(format!("ambiguous argument: {word}"), node))
                    }
                    (None, _) => return Err(refuse(format!("unknown argument: {word}"), node)),
                }
            }
        }
    };
    match words.next() {
        Some(extra) => Err(ParseError {
            message: format!("superfluous argument: {extra}"),
            valid: Vec::new(),
        }),
        None => Ok(request),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(line: &str) -> ControlRequest {
        let words: Vec<&str> = line.split_whitespace().collect();
        parse(&words).unwrap_or_else(|e| panic!("{line}: {e}"))
    }

    fn err(line: &str) -> ParseError {
        let words: Vec<&str> = line.split_whitespace().collect();
        parse(&words).expect_err(line)
    }

    #[test]
    fn full_words_and_unique_prefixes() {
        assert_eq!(ok("show summary"), ControlRequest::ShowSummary);
        assert_eq!(ok("show su"), ControlRequest::ShowSummary);
        assert_eq!(ok("sh h"), ControlRequest::ShowHosts);
        assert_eq!(ok("sh red"), ControlRequest::ShowRedirects);
        assert_eq!(ok("sh rel"), ControlRequest::ShowRelays);
        assert_eq!(ok("sh ro"), ControlRequest::ShowRouters);
        assert_eq!(ok("sh se"), ControlRequest::ShowSessions);
        assert_eq!(ok("m"), ControlRequest::Monitor);
        assert_eq!(ok("p"), ControlRequest::Poll);
        assert_eq!(ok("rel"), ControlRequest::Reload);
        assert_eq!(ok("st"), ControlRequest::Shutdown);
        assert_eq!(
            ok("table add web:80 10.0.0.5"),
            ControlRequest::TableAdd {
                table: Target::Name("web:80".into()),
                host: "10.0.0.5".into()
            }
        );
        assert_eq!(
            ok("tab rem 2 7"),
            ControlRequest::TableRemove {
                table: Target::Id(2),
                host: Target::Id(7)
            }
        );
        assert_eq!(err("table add web").message, "missing argument:");
        assert_eq!(ok("drain"), ControlRequest::Drain { seconds: None });
        assert_eq!(ok("dr 20"), ControlRequest::Drain { seconds: Some(20) });
        assert_eq!(err("drain soon").message, "not a number of seconds: soon");
        assert!(err("drain 5 6").message.starts_with("superfluous"));
        assert_eq!(ok("log v"), ControlRequest::LogVerbose);
        assert_eq!(ok("log b"), ControlRequest::LogBrief);
        assert_eq!(err("lo b").message, "ambiguous argument: lo");
    }

    #[test]
    fn targets_are_ids_when_numeric_else_names() {
        assert_eq!(ok("host dis 4"), ControlRequest::HostDisable(Target::Id(4)));
        assert_eq!(
            ok("host en www.example.org"),
            ControlRequest::HostEnable(Target::Name("www.example.org".into()))
        );
        assert_eq!(
            ok("table disable web:8080"),
            ControlRequest::TableDisable(Target::Name("web:8080".into()))
        );
        assert_eq!(ok("t e 2"), ControlRequest::TableEnable(Target::Id(2)));
        assert_eq!(
            ok("red d 1"),
            ControlRequest::RedirectDisable(Target::Id(1))
        );
        assert_eq!(
            ok("redirect enable www"),
            ControlRequest::RedirectEnable(Target::Name("www".into()))
        );
        assert_eq!(
            ok("ro d uplinks"),
            ControlRequest::RouterDisable(Target::Name("uplinks".into()))
        );
        assert_eq!(
            ok("router enable 1"),
            ControlRequest::RouterEnable(Target::Id(1))
        );
        assert_eq!(err("router disable").valid, vec!["<routerid>"]);
    }

    #[test]
    fn load_takes_a_path() {
        assert_eq!(
            ok("load /etc/relayd.conf"),
            ControlRequest::Load("/etc/relayd.conf".into())
        );
        assert_eq!(ok("loa x"), ControlRequest::Load("x".into()));
    }

    #[test]
    fn ambiguous_unknown_missing_and_superfluous_words() {
        let e = err("s");
        assert_eq!(e.message, "ambiguous argument: s");
        assert!(e.valid.contains(&"show") && e.valid.contains(&"stop"));
        assert_eq!(err("re").message, "ambiguous argument: re");
        assert_eq!(err("show r").message, "ambiguous argument: r");
        assert_eq!(err("frobnicate").message, "unknown argument: frobnicate");
        assert_eq!(err("show").message, "missing argument:");
        assert_eq!(err("show").valid.len(), 7);
        assert_eq!(err("").message, "missing argument:");
        let e = err("host disable");
        assert_eq!(
            (e.message.as_str(), e.valid),
            ("missing argument:", vec!["<hostid>"])
        );
        assert_eq!(err("load").valid, vec!["<path>"]);
        let e = err("show summary now");
        assert_eq!(e.message, "superfluous argument: now");
        assert!(e.valid.is_empty());
        assert_eq!(err("poll 1").message, "superfluous argument: 1");
    }

    #[test]
    fn error_text_lists_the_valid_words() {
        let text = err("log").to_string();
        assert_eq!(
            text,
            "missing argument:\nvalid commands/args:\n  verbose\n  brief\n"
        );
    }
}
