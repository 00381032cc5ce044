//! Tests of the manual pages in man/: they pass `mandoc -T lint`, render,
//! document every flag of relayd, and relayd.conf.5 documents exactly the
//! keywords the grammar (crates/relayd-config/src/grammar.pest) accepts.
//! Its EXAMPLES must pass `relayd -n`.

use e2e::{
    bin, man_examples, read_text, repo_root, tools_installed, ScratchDir, SslDir, SSL_DIR_VAR,
};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PAGES: [&str; 3] = ["man/relayd.8", "man/relayd.conf.5", "man/relayctl.8"];
const GRAMMAR: &str = "crates/relayd-config/src/grammar.pest";
const CONF_PAGE: &str = "man/relayd.conf.5";

/// Grammar literals that relayd.conf.5 rightly leaves out.
const GRAMMAR_ONLY: &[(&str, &str)] = &[
    ("backup", "reserved by relayd's lexer, used by no statement"),
    ("cache", "reserved by relayd's lexer, used by no statement"),
    (
        "external",
        "reserved by relayd's lexer, used by no statement",
    ),
    ("real", "reserved by relayd's lexer, used by no statement"),
];

/// `.Ic` words of relayd.conf.5 that are not grammar literals.
const PAGE_ONLY: &[(&str, &str)] = &[];

fn repo_file(relative: &str) -> PathBuf {
    repo_root().join(relative)
}

// ---------------------------------------------------------------------------
// Word extraction
// ---------------------------------------------------------------------------

/// The words of the double-quoted literals of a pest grammar, lower case,
/// without punctuation-only literals (`"{"`, `","`, `"\n"`). Skips `//` and
/// `/* */` comments and single-quoted character literals.
fn pest_keywords(grammar: &str) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    let mut chars = grammar.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '/' if chars.peek() == Some(&'*') => {
                chars.next();
                let mut previous = ' ';
                for c in chars.by_ref() {
                    if previous == '*' && c == '/' {
                        break;
                    }
                    previous = c;
                }
            }
            '\'' => {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => {
                            chars.next();
                        }
                        '\'' => break,
                        _ => {}
                    }
                }
            }
            '"' => {
                let mut literal = String::new();
                while let Some(c) = chars.next() {
                    match c {
                        // Escapes stand for punctuation or blanks: never part
                        // of a keyword.
                        '\\' => {
                            chars.next();
                            literal.push(' ');
                        }
                        '"' => break,
                        _ => literal.push(c),
                    }
                }
                words.extend(keyword_words(&literal));
            }
            _ => {}
        }
    }
    lower_case(words)
}

/// The words of `text` that hold a letter or digit, as written.
fn keyword_words(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter(|word| word.chars().any(|c| c.is_ascii_alphanumeric()))
        .map(str::to_string)
        .collect()
}

fn lower_case(words: BTreeSet<String>) -> BTreeSet<String> {
    words.iter().map(|w| w.to_ascii_lowercase()).collect()
}

/// mdoc macros that can appear on a line after another macro; a word equal
/// to one of them starts a new macro instead of being an argument.
const MDOC_MACROS: &[&str] = &[
    "Ac", "Ad", "An", "Ao", "Ap", "Aq", "Ar", "At", "Bc", "Bd", "Bf", "Bl", "Bo", "Bq", "Brc",
    "Bro", "Brq", "Bsx", "Bx", "Cd", "Cm", "Dc", "Do", "Dq", "Dv", "Dx", "Ec", "Ed", "El", "Em",
    "Eo", "Er", "Ev", "Fa", "Fl", "Fn", "Ft", "Fx", "Ic", "In", "It", "Li", "Lk", "Ms", "Mt", "Nm",
    "No", "Ns", "Nx", "Oc", "Oo", "Op", "Ox", "Pa", "Pc", "Pf", "Po", "Pq", "Qc", "Ql", "Qo", "Qq",
    "Sc", "So", "Sq", "Ss", "Sh", "Sx", "Sy", "Ta", "Tn", "Ux", "Va", "Vt", "Xc", "Xo", "Xr",
];

/// Splits an mdoc macro line into arguments, keeping "quoted strings" whole.
fn mdoc_arguments(line: &str) -> Vec<String> {
    let mut arguments = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for c in line.chars() {
        match c {
            '"' => quoted = !quoted,
            ' ' | '\t' if !quoted => {
                if !current.is_empty() {
                    arguments.push(std::mem::take(&mut current));
                }
            }
            _ => current.push(c),
        }
    }
    if !current.is_empty() {
        arguments.push(current);
    }
    arguments
}

/// Words given to any of `macros` (such as `Ic`) on the macro lines of an
/// mdoc page, as written, without delimiters such as `|` or `,`.
fn mdoc_words(page: &str, macros: &[&str]) -> BTreeSet<String> {
    let mut words = BTreeSet::new();
    for line in page.lines() {
        let Some(body) = line.strip_prefix('.') else {
            continue;
        };
        if body.starts_with("\\\"") {
            continue;
        }
        let mut current_macro = "";
        for argument in mdoc_arguments(body) {
            if MDOC_MACROS.contains(&argument.as_str()) {
                current_macro = if macros.contains(&argument.as_str()) {
                    "keep"
                } else {
                    ""
                };
            } else if current_macro == "keep" {
                words.extend(keyword_words(&argument));
            }
        }
    }
    words
}

fn allowed(list: &[(&str, &str)], word: &str) -> bool {
    list.iter().any(|(allowed, _reason)| *allowed == word)
}

fn grammar_keywords() -> BTreeSet<String> {
    let path = repo_file(GRAMMAR);
    assert!(
        path.exists(),
        "{GRAMMAR} is missing: the keyword coverage of {CONF_PAGE} is checked against it"
    );
    pest_keywords(&without_keyword_index(&read_text(&path)))
}

/// The grammar without its `keyword` rule: that rule indexes the words of
/// the `k_` rules by first letter (`"a" ~ ("gentx" | "ppend")`), so its
/// literals are fragments; the words themselves are read from the `k_`
/// rules.
fn without_keyword_index(grammar: &str) -> String {
    let mut kept = String::with_capacity(grammar.len());
    let mut in_index = false;
    for line in grammar.lines() {
        if line.starts_with("keyword = @{") {
            in_index = true;
        }
        if !in_index {
            kept.push_str(line);
            kept.push('\n');
        }
        if in_index && line.starts_with('}') {
            in_index = false;
        }
    }
    kept
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn man_pages_pass_mandoc_lint() {
    if !tools_installed(&["mandoc"]) {
        return;
    }
    for page in PAGES {
        let output = Command::new("mandoc")
            .args(["-T", "lint", "-W", "warning"])
            .arg(repo_file(page))
            .output()
            .expect("run mandoc");
        let messages = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            output.status.success() && messages.trim().is_empty(),
            "mandoc -T lint -W warning {page}:\n{messages}"
        );
    }
}

#[test]
fn man_pages_render_with_the_sections_operators_look_for() {
    if !tools_installed(&["mandoc"]) {
        return;
    }
    for page in PAGES {
        let output = Command::new("mandoc")
            .args(["-T", "ascii"])
            .arg(repo_file(page))
            .output()
            .expect("run mandoc");
        assert!(output.status.success(), "mandoc -T ascii {page} failed");
        let text = without_overstrike(&String::from_utf8_lossy(&output.stdout));
        for section in ["NAME", "DESCRIPTION", "FILES", "EXAMPLES", "SEE ALSO"] {
            assert!(
                text.lines().any(|line| line == section),
                "{page} has no {section} section"
            );
        }
    }
    let daemon = read_text(&repo_file("man/relayd.8"));
    let config = read_text(&repo_file(CONF_PAGE));
    for (name, page) in [("relayd.8", &daemon), ("relayd.conf.5", &config)] {
        assert!(
            page.contains(".Sh LINUX NOTES"),
            "{name} must say how Linux differs"
        );
    }
}

/// Rendered text without terminal emphasis: mandoc -T ascii prints bold
/// as `N\bN` and underline as `_\bN`, the character before each
/// backspace is struck over.
fn without_overstrike(rendered: &str) -> String {
    let mut plain = String::with_capacity(rendered.len());
    for c in rendered.chars() {
        if c == '\u{8}' {
            plain.pop();
        } else {
            plain.push(c);
        }
    }
    plain
}

#[test]
fn every_grammar_keyword_is_documented() {
    let grammar = grammar_keywords();
    let documented = lower_case(mdoc_words(&read_text(&repo_file(CONF_PAGE)), &["Ic", "Cm"]));
    let missing: Vec<&String> = grammar
        .iter()
        .filter(|word| !documented.contains(*word) && !allowed(GRAMMAR_ONLY, word))
        .collect();
    assert!(
        missing.is_empty(),
        "keywords of {GRAMMAR} not documented as .Ic or .Cm in {CONF_PAGE}: {missing:?}"
    );
}

#[test]
fn every_documented_keyword_is_in_the_grammar() {
    let grammar = grammar_keywords();
    let documented = lower_case(mdoc_words(&read_text(&repo_file(CONF_PAGE)), &["Ic"]));
    let unknown: Vec<&String> = documented
        .iter()
        .filter(|word| !grammar.contains(*word) && !allowed(PAGE_ONLY, word))
        .collect();
    assert!(
        unknown.is_empty(),
        ".Ic words of {CONF_PAGE} the grammar does not accept \
         (use .Cm for values checked after parsing): {unknown:?}"
    );
}

#[test]
fn relayd_8_documents_every_flag_of_relayd() {
    let help = Command::new(bin("relayd"))
        .arg("-h")
        .output()
        .expect("run relayd -h");
    let help = String::from_utf8_lossy(&help.stdout);
    let page = mdoc_words(&read_text(&repo_file("man/relayd.8")), &["Fl"]);
    let mut flags = BTreeSet::new();
    // Short flags as clap prints them: `-d`, `-v...`, `-h,`.
    for word in help.split_whitespace() {
        let mut chars = word.chars();
        let (Some('-'), Some(letter)) = (chars.next(), chars.next()) else {
            continue;
        };
        let ends_there = match chars.next() {
            None => true,
            Some(c) => !c.is_ascii_alphanumeric() && c != '-',
        };
        if letter.is_ascii_alphabetic() && letter != 'h' && ends_there {
            flags.insert(letter.to_string());
        }
    }
    assert!(!flags.is_empty(), "no flags found in relayd -h:\n{help}");
    let undocumented: Vec<&String> = flags.iter().filter(|f| !page.contains(*f)).collect();
    assert!(
        undocumented.is_empty(),
        "relayd flags missing from man/relayd.8: {undocumented:?}"
    );
}

/// The literal blocks of the EXAMPLES section of relayd.conf.5, joined into
/// one configuration (later examples use the tables and macros of earlier
/// ones).
fn conf_examples(page: &str) -> String {
    man_examples(page).join("\n")
}

#[test]
fn relayd_conf_examples_pass_relayd_check() {
    let config = conf_examples(&read_text(&repo_file(CONF_PAGE)));
    assert!(config.contains("relay"), "no example configuration found");
    let dir = ScratchDir::new("man-examples");
    let path = dir.write("examples.conf", &config);
    // The keypairs the examples name, where RELAYD_SSL_DIR puts /etc/ssl.
    if !tools_installed(&["openssl"]) {
        return;
    }
    let ssl = SslDir::new("man-examples-ssl");
    ssl.keypair("www.example.com", &["www.example.com"]);
    let output = Command::new(bin("relayd"))
        .env(SSL_DIR_VAR, &ssl.dir.path)
        .arg("-n")
        .arg("-f")
        .arg(&path)
        .output()
        .expect("run relayd -n");
    // The examples are valid relayd.conf; the only errors allowed are the
    // daemon's refusals of what it does not implement yet (TLS relays,
    // HTTP filter rules), which relayd.conf(5) LINUX NOTES lists.
    let stderr = String::from_utf8_lossy(&output.stderr);
    let unexpected: Vec<&str> = stderr
        .lines()
        .filter(|line| !line.contains("not implemented yet"))
        .filter(|line| !line.starts_with("relayd: no valid configuration"))
        .collect();
    assert!(
        output.status.success() || unexpected.is_empty(),
        "the EXAMPLES of {CONF_PAGE} fail relayd -n:\n{stderr}\nconfiguration:\n{config}"
    );
}

#[test]
fn pest_keywords_skip_comments_escapes_and_punctuation() {
    let grammar = r#"
        // "commented" words do not count
        a = { "listen" ~ "on" ~ "{" ~ "," ~ "\n" ~ "\"" ~ '"' ~ "least-states" }
        /* "blocked" */ b = @{ ^"TLSv1.2" ~ 'a'..'z' ~ "\\" }
    "#;
    let words: Vec<String> = pest_keywords(grammar).into_iter().collect();
    assert_eq!(words, ["least-states", "listen", "on", "tlsv1.2"]);
}

#[test]
fn overstrike_is_removed_from_rendered_text() {
    assert_eq!(
        without_overstrike("N\u{8}NA\u{8}AM\u{8}ME\u{8}E _\u{8}x"),
        "NAME x"
    );
}

#[test]
fn mdoc_words_stop_at_the_next_macro() {
    let page = ".\\\" .Ic ignored\n\
                .It Ic log Pq Ic state changes Ns | Ns Ic host checks\n\
                .It Ic check Cm https Ar path Op Ic host Ar name\n\
                text .Ic not-a-macro-line\n";
    let ic: Vec<String> = mdoc_words(page, &["Ic"]).into_iter().collect();
    assert_eq!(ic, ["changes", "check", "checks", "host", "log", "state"]);
    let cm: Vec<String> = mdoc_words(page, &["Cm"]).into_iter().collect();
    assert_eq!(cm, ["https"]);
}

/// The words relayctl accepts after `prefix`, as it lists them when a
/// command is incomplete; empty for a complete command. A complete command
/// tries the missing socket given here: it fails, or (`monitor`) waits for
/// the daemon and is killed.
fn relayctl_next_words(relayctl: &Path, prefix: &[String]) -> Vec<String> {
    let mut child = Command::new(relayctl)
        .args(["-s", "/nonexistent/relayctl-man-test.sock"])
        .args(prefix)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run relayctl");
    let deadline = Instant::now() + Duration::from_secs(3);
    while child.try_wait().expect("wait for relayctl").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Vec::new();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.read_to_string(&mut stderr);
    }
    let Some((_, list)) = stderr.split_once("valid commands/args:") else {
        return Vec::new();
    };
    list.split_whitespace()
        .filter(|word| !word.starts_with('<'))
        .map(str::to_string)
        .collect()
}

#[test]
fn relayctl_8_documents_every_command_and_nothing_else() {
    let relayctl = bin("relayctl");
    let mut commands = BTreeSet::new();
    let mut pending = vec![Vec::<String>::new()];
    while let Some(prefix) = pending.pop() {
        for word in relayctl_next_words(&relayctl, &prefix) {
            let mut longer = prefix.clone();
            longer.push(word.clone());
            commands.insert(word);
            pending.push(longer);
        }
    }
    assert!(
        commands.contains("show"),
        "could not read relayctl's commands: {commands:?}"
    );
    let page = mdoc_words(&read_text(&repo_file("man/relayctl.8")), &["Cm"]);
    let undocumented: Vec<&String> = commands.iter().filter(|c| !page.contains(*c)).collect();
    assert!(
        undocumented.is_empty(),
        "relayctl commands missing from man/relayctl.8: {undocumented:?}"
    );
    let unknown: Vec<&String> = page.iter().filter(|c| !commands.contains(*c)).collect();
    assert!(
        unknown.is_empty(),
        ".Cm words of man/relayctl.8 that relayctl does not accept: {unknown:?}"
    );
    let flags = mdoc_words(&read_text(&repo_file("man/relayctl.8")), &["Fl"]);
    for flag in ["j", "s"] {
        assert!(
            flags.contains(flag),
            "man/relayctl.8 does not document -{flag}"
        );
    }
}
