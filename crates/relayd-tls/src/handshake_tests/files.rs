//! `relayd -n`'s check of the TLS files: each problem names the file and
//! the configuration line.

use crate::files::{check_files, KeypairFiles, RealFiles};
use crate::keys::tests::{openssl, Scratch};
use crate::test_support::*;
use relayd_config::{parse_str, LoadOptions};
use std::path::Path;

#[test]
fn keypair_files_fall_back_from_name_port_to_name() {
    let dir = Path::new("/etc/ssl");
    let with_port = KeypairFiles::locate(dir, "www.example.com", 443, |_| true);
    assert_eq!(with_port.certificate, dir.join("www.example.com:443.crt"));
    assert_eq!(with_port.key, dir.join("private/www.example.com:443.key"));
    assert_eq!(with_port.ocsp, dir.join("www.example.com:443.ocsp"));
    let plain = KeypairFiles::locate(dir, "::1", 443, |_| false);
    assert_eq!(plain.certificate, dir.join("::1.crt"));
    assert_eq!(plain.key, dir.join("private/::1.key"));
    assert_eq!(plain.ocsp, dir.join("::1.ocsp"));
}

#[test]
fn missing_encrypted_and_mismatched_keys_fail_naming_file_and_line() {
    let scratch = Scratch::new("check");
    let dir = &scratch.0;
    let issuer = Issuer::new("CA");
    let good = leaf(&issuer, &["good.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    let other = leaf(&issuer, &["other.test"], &rcgen::PKCS_ECDSA_P256_SHA256);
    scratch.write("good.test:8443.crt", good.cert_pem.as_bytes());
    scratch.write("private/good.test:8443.key", good.key_pem.as_bytes());
    scratch.write("mismatch.test.crt", good.cert_pem.as_bytes());
    scratch.write("private/mismatch.test.key", other.key_pem.as_bytes());
    scratch.write("locked.test.crt", good.cert_pem.as_bytes());
    scratch.write("plain.key", good.key_pem.as_bytes());
    openssl(
        dir,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "plain.key",
            "-passout",
            "pass:pw",
            "-out",
            "private/locked.test.key",
        ],
    );
    scratch.write("127.0.0.1.crt", good.cert_pem.as_bytes());
    scratch.write("private/127.0.0.1.key", good.key_pem.as_bytes());
    let text = "\
protocol p {
 tls keypair good.test
 tls keypair mismatch.test
 tls keypair locked.test
 tls keypair missing.test
 tls ca file \"/nonexistent/ca.pem\"
}
relay with_keypairs {
 listen on 127.0.0.1 port 8443 tls
 protocol p
 forward with tls to 127.0.0.1 port 80
}
relay by_address {
 listen on 127.0.0.1 port 9443 tls
 forward to 127.0.0.1 port 80
}
";
    let config = parse_str(text, "relayd.conf", &LoadOptions::default()).unwrap();
    let problems: Vec<String> = check_files(&config, dir, &RealFiles)
        .iter()
        .map(|p| p.to_string())
        .collect();
    let dir = dir.display();
    assert_eq!(problems.len(), 5, "{problems:#?}");
    assert!(problems[0].starts_with(&format!("relayd.conf:3: private key {dir}/private/mismatch.test.key: private key does not match")), "{problems:#?}");
    assert!(problems[1].starts_with(&format!("relayd.conf:4: private key {dir}/private/locked.test.key: private key is encrypted and no password")), "{problems:#?}");
    assert!(
        problems[2].starts_with(&format!(
            "relayd.conf:5: certificate {dir}/missing.test.crt: No such file"
        )),
        "{problems:#?}"
    );
    assert!(
        problems[3].starts_with(&format!(
            "relayd.conf:5: private key {dir}/private/missing.test.key: No such file"
        )),
        "{problems:#?}"
    );
    assert!(
        problems[4].starts_with("relayd.conf:6: ca file /nonexistent/ca.pem: No such file"),
        "{problems:#?}"
    );
}
