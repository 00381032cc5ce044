use super::*;
use relayd_config::{parse_str, LoadOptions};
use rustls::{CipherSuite, NamedGroup};

/// The protocol `p` of a config with these lines in its body (each option
/// on its own line, starting at line 2).
fn protocol(body: &str) -> Protocol {
    let text = format!(
        "protocol p {{\n{body}\n}}\nrelay r {{\n listen on 127.0.0.1 port 8443 tls\n protocol p\n forward to 127.0.0.1 port 80\n}}\n"
    );
    let config = parse_str(&text, "relayd.conf", &LoadOptions::default())
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    config.protocols[0].clone()
}

fn map(body: &str) -> Result<TlsSettings, OptionError> {
    settings(&protocol(body))
}

#[test]
fn defaults_are_relayds() {
    let settings = map(" tcp nodelay").unwrap();
    assert_eq!(settings.versions.len(), 2);
    assert!(settings.server_cipher_order);
    assert!(!settings.session_tickets);
    assert_eq!(settings.provider.cipher_suites.len(), 9);
    assert!(settings.warnings.is_empty(), "{:?}", settings.warnings);
}

#[test]
fn switches_versions_order_and_tickets() {
    let settings =
        map(" tls { no tlsv1.3, no cipher-server-preference, session tickets }").unwrap();
    assert_eq!(settings.versions, [&rustls::version::TLS12]);
    assert!(!settings.server_cipher_order);
    assert!(settings.session_tickets);
    let settings = map(" tls no tlsv1.2").unwrap();
    assert_eq!(settings.versions, [&rustls::version::TLS13]);
}

#[test]
fn ciphers_and_curves_reach_the_provider() {
    let settings =
        map(" tls ciphers \"ECDHE-ECDSA-CHACHA20-POLY1305\"\n tls ecdhe \"P-384,X25519\"").unwrap();
    let suites: Vec<CipherSuite> = settings
        .provider
        .cipher_suites
        .iter()
        .map(|s| s.suite())
        .collect();
    assert_eq!(suites.len(), 4);
    assert_eq!(
        suites[3],
        CipherSuite::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
    );
    let groups: Vec<NamedGroup> = settings
        .provider
        .kx_groups
        .iter()
        .map(|g| g.name())
        .collect();
    assert_eq!(groups, [NamedGroup::secp384r1, NamedGroup::X25519]);
}

#[test]
fn what_relayd_ignores_is_a_warning_naming_its_line() {
    let settings =
        map(" tls sslv3\n tls tlsv1.0\n tls { tlsv1.1, client-renegotiation }\n tls no tlsv1.0")
            .unwrap();
    let lines: Vec<String> = settings.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(lines.len(), 3, "{lines:?}");
    assert!(
        lines[0].starts_with("relayd.conf:2: protocol p: tls sslv3 ignored"),
        "{lines:?}"
    );
    // `no tlsv1.0` on line 5 wins over line 3: TLS 1.0 is off, nothing to say.
    assert!(
        lines[1].starts_with("relayd.conf:4: protocol p: tls tlsv1.1 ignored"),
        "{lines:?}"
    );
    assert!(
        lines[2].starts_with("relayd.conf:4: protocol p: tls client-renegotiation ignored"),
        "{lines:?}"
    );
}

#[test]
fn cipher_terms_and_curves_rustls_lacks_are_warnings() {
    let settings =
        map(" tls ciphers \"HIGH:CAMELLIA:!aNULL\"\n tls ecdhe \"P-521,P-256\"").unwrap();
    let lines: Vec<String> = settings.warnings.iter().map(|w| w.to_string()).collect();
    assert_eq!(
        lines,
        [
            "relayd.conf:2: protocol p: tls ciphers: CAMELLIA selects no cipher suite rustls has, skipped",
            "relayd.conf:3: protocol p: tls ecdhe: rustls has no curve P-521, skipped",
        ]
    );
}

#[test]
fn edh_is_refused_naming_file_line_and_option() {
    let error = map(" tcp nodelay\n tls edh").unwrap_err();
    assert_eq!((error.origin.line, error.option), (3, "edh"));
    assert!(
        error
            .to_string()
            .starts_with("relayd.conf:3: protocol p: tls edh: edh asks for"),
        "{error}"
    );
    let error = map(" tls edh params legacy").unwrap_err();
    assert!(
        error.to_string().contains("edh params legacy asks"),
        "{error}"
    );
    // `no edh` and `edh params none` ask for nothing.
    assert!(map(" tls no edh").is_ok());
    assert!(map(" tls edh params none").is_ok());
}

#[test]
fn a_cipher_string_without_rustls_suites_is_refused() {
    let error = map(" tls ciphers \"DHE-RSA-AES256-SHA:AES128-SHA\"").unwrap_err();
    assert_eq!((error.origin.line, error.option), (2, "ciphers"));
    assert!(
        error
            .to_string()
            .contains("\"DHE-RSA-AES256-SHA:AES128-SHA\" selects no cipher suite"),
        "{error}"
    );
    let error = map(" tls ecdhe \"secp521r1\"").unwrap_err();
    assert_eq!((error.origin.line, error.option), (2, "ecdhe"));
}

#[test]
fn versions_without_suites_are_off_or_refused() {
    // Only TLS 1.3 suites: TLS 1.2 is off, with a word why.
    let settings = map(" tls ciphers \"TLSv1.3\"").unwrap();
    assert_eq!(settings.versions, [&rustls::version::TLS13]);
    assert!(settings.warnings[0].message.contains("no TLS 1.2 suite"));
    // Only TLS 1.2 enabled, only TLS 1.3 suites: nothing left.
    let error = map(" tls no tlsv1.3\n tls ciphers \"TLS_AES_128_GCM_SHA256\"").unwrap_err();
    assert_eq!(error.option, "protocols");
    // TLS 1.0 and 1.1 only: relayd accepts it, rustls speaks neither.
    let error = map(" tls { no tlsv1.2, no tlsv1.3, tlsv1.0 }").unwrap_err();
    assert_eq!((error.origin.line, error.option), (2, "protocols"));
}
