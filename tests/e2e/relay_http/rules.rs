//! End-to-end: relayd.conf(5) FILTER RULES on an `http protocol` relay
//! with a real HTTP/1.1 backend: block/pass/match, `quick` and
//! last-match-wins, method, header/path/query/cookie/url matching with
//! globs, `url digest` keys, header and path actions (`path strip`
//! included) with `$` variables, tags and labels, `return error` pages and
//! closing without them. Needs root; skips otherwise.

use e2e::{daemon_can_run, free_port, http_relay_config, Daemon, HttpBackend, HttpClient};

fn start(label: &str, protocol: &str) -> (Daemon, HttpBackend, u16) {
    let backend = HttpBackend::start("one");
    let port = free_port();
    let daemon = Daemon::start(label, &http_relay_config(port, backend.port(), protocol));
    (daemon, backend, port)
}

/// Status of one request on a fresh connection; `None` if closed unanswered.
fn answer_status(port: u16, request: &str) -> Option<u16> {
    let mut client = HttpClient::connect(port);
    client.send(request.as_bytes());
    client.answer().map(|a| a.status())
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: www.example.com\r\n\r\n")
}

#[test]
fn blocked_requests_get_an_escaped_error_page_with_return_error() {
    if !daemon_can_run() {
        return;
    }
    let protocol = "\treturn error style \"h1 { color: blue }\"\n\
                    \tblock request path \"/private/*\" label \"<no> & 'go'\"";
    let (daemon, backend, port) = start("http-rules-page", protocol);
    let mut client = HttpClient::connect(port);
    assert_eq!(client.get("/public").status(), 200, "{}", daemon.log_text());
    let page = client.get("/private/x");
    assert_eq!(page.status(), 403);
    assert_eq!(page.header("Server").as_deref(), Some("relayd"));
    assert_eq!(page.header("Content-Type").as_deref(), Some("text/html"));
    let text = page.text();
    assert!(text.contains("<title>403 Forbidden</title>"), "{text}");
    assert!(text.contains("&lt;no&gt; &amp; &#39;go&#39;"), "{text}");
    assert!(text.contains("h1 { color: blue }"), "{text}");
    assert!(client.closed(), "the session ends after the page");
    let lines = backend.request_lines();
    assert_eq!(lines, ["GET /public HTTP/1.1"]);
}

#[test]
fn blocked_requests_close_the_connection_without_return_error() {
    if !daemon_can_run() {
        return;
    }
    let (_daemon, backend, port) = start("http-rules-close", "\tblock request path \"/x\"");
    assert_eq!(answer_status(port, &get("/x")), None);
    assert_eq!(answer_status(port, &get("/y")), Some(200));
    assert_eq!(backend.seen().len(), 1);
}

#[test]
fn the_last_matching_rule_wins_unless_a_quick_rule_matched_first() {
    if !daemon_can_run() {
        return;
    }
    let protocol = "\treturn error\n\
                    \tblock request path \"/a*\"\n\
                    \tpass request path \"/ab*\"\n\
                    \tblock request quick path \"/q*\"\n\
                    \tpass request path \"/q*\"\n\
                    \tblock request method \"DELETE\"";
    let (daemon, _backend, port) = start("http-rules-order", protocol);
    assert_eq!(
        answer_status(port, &get("/abc")),
        Some(200),
        "{}",
        daemon.log_text()
    );
    assert_eq!(answer_status(port, &get("/ax")), Some(403));
    assert_eq!(answer_status(port, &get("/q1")), Some(403));
    assert_eq!(
        answer_status(
            port,
            "DELETE /z HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"
        ),
        Some(403)
    );
    assert_eq!(answer_status(port, &get("/z")), Some(200));
}

#[test]
fn header_query_cookie_and_url_entities_match_with_globs() {
    if !daemon_can_run() {
        return;
    }
    let protocol = "\treturn error\n\
                    \tblock request header \"user-agent\" value \"*evil*\"\n\
                    \tblock request query \"debug\" value \"1\"\n\
                    \tblock request cookie \"session\" value \"bad*\"\n\
                    \tblock request url \"example.com/forbidden/\"";
    let (daemon, _backend, port) = start("http-rules-entities", protocol);
    let with =
        |header: &str| format!("GET /ok HTTP/1.1\r\nHost: www.example.com\r\n{header}\r\n\r\n");
    assert_eq!(
        answer_status(port, &with("User-Agent: nice")),
        Some(200),
        "{}",
        daemon.log_text()
    );
    assert_eq!(
        answer_status(port, &with("User-Agent: very-evil/1.0")),
        Some(403)
    );
    assert_eq!(answer_status(port, &get("/ok?a=2&debug=1")), Some(403));
    assert_eq!(answer_status(port, &get("/ok?debug=0")), Some(200));
    assert_eq!(
        answer_status(port, &with("Cookie: a=1; session=bad42")),
        Some(403)
    );
    assert_eq!(
        answer_status(port, &with("Cookie: session=good")),
        Some(200)
    );
    assert_eq!(
        answer_status(port, &get("/forbidden/deep/file.html")),
        Some(403)
    );
    assert_eq!(answer_status(port, &get("/allowed/forbidden/")), Some(200));
}

#[test]
fn header_and_path_actions_rewrite_both_directions_with_variables() {
    if !daemon_can_run() {
        return;
    }
    let protocol = "\tmatch request header set \"X-Client\" value \"$REMOTE_ADDR via $SERVER_ADDR:$SERVER_PORT for $HOST\"\n\
                    \tmatch request header append \"X-Append\" value \"two\"\n\
                    \tmatch request header remove \"X-Secret*\"\n\
                    \tmatch request path set \"/old/*\" value \"/new\"\n\
                    \tmatch response header set \"X-Served-By\" value \"$SERVER_NAME $TIMEOUT\"\n\
                    \tmatch response header remove \"X-Request\"";
    let (daemon, backend, port) = start("http-rules-actions", protocol);
    let mut client = HttpClient::connect(port);
    client.send(
        b"GET /old/page HTTP/1.1\r\nHost: www.example.com\r\nX-Append: one\r\n\
          X-Secret-Token: s3cret\r\nX-Secretive: yes\r\n\r\n",
    );
    let answer = client
        .answer()
        .unwrap_or_else(|| panic!("{}", daemon.log_text()));
    assert_eq!(answer.status(), 200);
    assert_eq!(answer.header("X-Served-By").as_deref(), Some("relayd 600"));
    assert_eq!(answer.header("X-Request"), None);
    let seen = backend.seen();
    let request = &seen[0];
    assert_eq!(request.head.start, "GET /new HTTP/1.1");
    assert_eq!(
        request.header("X-Client"),
        Some(format!(
            "127.0.0.1 via 127.0.0.1:{port} for www.example.com"
        ))
    );
    let appended: Vec<&String> = request
        .head
        .headers
        .iter()
        .filter(|l| l.to_ascii_lowercase().starts_with("x-append:"))
        .collect();
    assert_eq!(appended.len(), 2, "{:?}", request.head.headers);
    assert!(
        !request
            .head
            .headers
            .iter()
            .any(|l| l.to_ascii_lowercase().starts_with("x-secret")),
        "{:?}",
        request.head.headers
    );
}

#[test]
fn tags_and_labels_last_for_the_connection() {
    if !daemon_can_run() {
        return;
    }
    let protocol = "\treturn error\n\
                    \tmatch request header \"X-Admin\" tag \"admin\"\n\
                    \tmatch request path \"/logout\" no tag\n\
                    \tblock request tagged \"admin\" path \"/admin*\" label \"admins go elsewhere\"";
    let (daemon, _backend, port) = start("http-rules-tags", protocol);
    let mut client = HttpClient::connect(port);
    assert_eq!(client.get("/admin").status(), 200, "{}", daemon.log_text());
    client.send(b"GET /x HTTP/1.1\r\nHost: t\r\nX-Admin: 1\r\n\r\n");
    assert_eq!(client.answer().expect("answer").status(), 200);
    // The tag stays on the connection; `no tag` removes it.
    assert_eq!(client.get("/logout").status(), 200);
    assert_eq!(client.get("/admin").status(), 200);
    client.send(b"GET /x HTTP/1.1\r\nHost: t\r\nX-Admin: 1\r\n\r\n");
    assert_eq!(client.answer().expect("answer").status(), 200);
    let page = client.get("/admin/panel");
    assert_eq!(page.status(), 403);
    assert!(
        page.text().contains("admins go elsewhere"),
        "{}",
        page.text()
    );
}

#[test]
fn forward_to_moves_matching_requests_to_another_table() {
    if !daemon_can_run() {
        return;
    }
    let (main, other) = (HttpBackend::start("main"), HttpBackend::start("other"));
    let port = free_port();
    let config = format!(
        "prefork 1\n\
         table <main> {{ 127.0.0.1 }}\n\
         table <other> {{ 127.0.0.1 }}\n\
         http protocol p {{\n\
         \tmatch request path \"/other/*\" forward to <other>\n\
         }}\n\
         relay web {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tprotocol p\n\
         \tforward to <main> port {}\n\
         \tforward to <other> port {}\n\
         }}\n",
        main.port(),
        other.port()
    );
    let daemon = Daemon::start("http-rules-forward", &config);
    let mut client = HttpClient::connect(port);
    let first = client.get("/");
    assert_eq!(
        first.header("X-Backend").as_deref(),
        Some("main"),
        "{}",
        daemon.log_text()
    );
    let moved = client.get("/other/page");
    assert_eq!(
        moved.header("X-Backend").as_deref(),
        Some("other"),
        "{}",
        daemon.log_text()
    );
    // The session stays where the last rule sent it.
    assert_eq!(
        client.get("/other/again").header("X-Request").as_deref(),
        Some("2")
    );
    assert_eq!((main.accepted(), other.accepted()), (1, 1));
}

#[test]
fn hash_actions_steer_requests_with_the_same_value_to_the_same_host() {
    if !daemon_can_run() {
        return;
    }
    let first = HttpBackend::start("first");
    // Kept alive for the whole test: the second host of the table.
    let _second = HttpBackend::start_on(&format!("127.0.0.2:{}", first.port()), "second");
    let port = free_port();
    let config = format!(
        "prefork 1\n\
         table <pool> {{ 127.0.0.1, 127.0.0.2 }}\n\
         http protocol p {{\n\
         \tmatch request header hash \"X-User\"\n\
         }}\n\
         relay web {{\n\
         \tlisten on 127.0.0.1 port {port}\n\
         \tprotocol p\n\
         \tforward to <pool> port {} mode hash\n\
         }}\n",
        first.port()
    );
    let daemon = Daemon::start("http-rules-hash", &config);
    let ask = |client: &mut HttpClient, user: u32| {
        client.send(format!("GET / HTTP/1.1\r\nHost: t\r\nX-User: u{user}\r\n\r\n").as_bytes());
        let answer = client
            .answer()
            .unwrap_or_else(|| panic!("{}", daemon.log_text()));
        answer.header("X-Backend").expect("X-Backend")
    };
    let mut keep_alive = HttpClient::connect(port);
    let mut names = std::collections::HashSet::new();
    for user in 0..16 {
        let chosen = ask(&mut HttpClient::connect(port), user);
        assert_eq!(
            ask(&mut HttpClient::connect(port), user),
            chosen,
            "user u{user}"
        );
        assert_eq!(
            ask(&mut keep_alive, user),
            chosen,
            "user u{user} on a kept connection"
        );
        names.insert(chosen);
    }
    assert_eq!(names.len(), 2, "both hosts get users: {names:?}");
}

#[test]
fn url_digest_rules_block_urls_named_by_their_sha1_or_md5() {
    if !daemon_can_run() {
        return;
    }
    // sha1 of "www.example.com/private/" and md5 of "example.com/secret.html"
    // (sha1sum/md5sum of the lookup strings, without a newline); hex digits
    // compare case-insensitively.
    let protocol = "\treturn error\n\
                    \tblock request url digest \"b7c8285042e9f951077c121a909f43a5ac322c60\"\n\
                    \tblock request url digest \"C78C7C8B2CA6C49C3532F72E20FF0BDB\"";
    let (daemon, backend, port) = start("http-rules-digest", protocol);
    assert_eq!(
        answer_status(port, &get("/public/page.html")),
        Some(200),
        "{}",
        daemon.log_text()
    );
    assert_eq!(
        answer_status(port, &get("/private/page.html?x=1")),
        Some(403)
    );
    assert_eq!(answer_status(port, &get("/private/")), Some(403));
    assert_eq!(answer_status(port, &get("/private")), Some(200));
    assert_eq!(answer_status(port, &get("/secret.html")), Some(403));
    assert_eq!(answer_status(port, &get("/secret.html?a=b")), Some(403));
    assert_eq!(answer_status(port, &get("/dir/secret.html")), Some(200));
    let lines = backend.request_lines();
    assert_eq!(
        lines,
        [
            "GET /public/page.html HTTP/1.1",
            "GET /private HTTP/1.1",
            "GET /dir/secret.html HTTP/1.1"
        ]
    );
}

#[test]
fn path_strip_sends_the_backend_a_shorter_path_with_the_query() {
    if !daemon_can_run() {
        return;
    }
    let protocol = "\tmatch request path strip 1";
    let (daemon, backend, port) = start("http-rules-strip", protocol);
    let mut client = HttpClient::connect(port);
    for path in ["/api/v1/users?id=7", "/api/", "/file", "/"] {
        assert_eq!(client.get(path).status(), 200, "{}", daemon.log_text());
    }
    let lines = backend.request_lines();
    assert_eq!(
        lines,
        [
            "GET /v1/users?id=7 HTTP/1.1",
            "GET / HTTP/1.1",
            "GET /file HTTP/1.1",
            "GET / HTTP/1.1"
        ]
    );
}

/// The remaining entity/action pairs of the man page: cookie set, append
/// and remove change the Cookie field the backend sees, and `log` on each
/// entity writes what it matched to the log.
#[test]
fn cookie_actions_and_log_actions_on_every_entity() {
    if !daemon_can_run() {
        return;
    }
    let protocol = "\tmatch request path \"/set\" cookie set \"lang\" value \"en\"\n\
                    \tmatch request path \"/append\" cookie append \"theme\" value \"dark\"\n\
                    \tmatch request path \"/remove\" cookie remove\n\
                    \tmatch request header log \"X-Trace\"\n\
                    \tmatch request query log \"q\"\n\
                    \tmatch request cookie log \"session\"\n\
                    \tmatch request path log \"/logged*\"\n\
                    \tmatch request url log \"www.example.com/logged/\"";
    let (daemon, backend, port) = start("http-rules-cookies-logs", protocol);
    let mut client = HttpClient::connect(port);
    for path in ["/set", "/append", "/remove"] {
        client.send(
            format!("GET {path} HTTP/1.1\r\nHost: t\r\nCookie: session=abc\r\n\r\n").as_bytes(),
        );
        let answer = client
            .answer()
            .unwrap_or_else(|| panic!("{}", daemon.log_text()));
        assert_eq!(answer.status(), 200);
    }
    let cookies = |index: usize| -> Vec<String> {
        backend.seen()[index]
            .head
            .headers
            .iter()
            .filter(|l| l.to_ascii_lowercase().starts_with("cookie:"))
            .cloned()
            .collect()
    };
    assert_eq!(cookies(0), ["Cookie: lang=en;"]);
    assert_eq!(cookies(1), ["Cookie: session=abc", "Cookie: theme=dark;"]);
    assert!(cookies(2).is_empty(), "{:?}", cookies(2));

    client.send(
        b"GET /logged/page?q=needle HTTP/1.1\r\nHost: www.example.com\r\n\
          X-Trace: t-42\r\nCookie: session=s-7\r\n\r\n",
    );
    assert_eq!(client.answer().expect("answer").status(), 200);
    let wanted = [
        "t-42]",
        "[q: needle]",
        "[session: s-7]",
        "[/logged/page]",
        "[www.example.com/logged/page]",
    ];
    let logged = e2e::wait_until(std::time::Duration::from_secs(3), || {
        let log = daemon.log_text();
        wanted.iter().all(|text| log.contains(text))
    });
    assert!(logged, "{}", daemon.log_text());
}
