//! TLS from the first byte a client sends up to the handshake, as a
//! `listen on ... tls` relay runs it (`relayd_tls`): rustls' Acceptor
//! reads the ClientHello, relayd's SNI resolver picks the key for its
//! server name, the server configuration relayd builds from the default
//! `tls` options takes the connection, and the rest of the input goes
//! through the handshake. No panic on any bytes.
//!
//! Built without AddressSanitizer by scripts/fuzz.sh (an ASan build of
//! aws-lc takes a quarter of an hour), and left out of the CI step.
#![no_main]

use libfuzzer_sys::fuzz_target;
use relayd_config::{parse_str, LoadOptions};
use relayd_tls::server::{server_config, ServerParts};
use relayd_tls::sni::SniResolver;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::Acceptor;
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::io::Read;
use std::sync::{Arc, OnceLock};

const CONFIG: &str = "http protocol p {\n tls keypair a\n tls keypair b\n}\n\
    relay r {\n listen on 127.0.0.1 port 8443 tls\n protocol p\n\
    forward to 127.0.0.1 port 80\n}\n";

struct Server {
    sni: Arc<SniResolver>,
    config: Arc<ServerConfig>,
}

fn key_for(names: &[&str], alg: &'static rcgen::SignatureAlgorithm) -> Arc<CertifiedKey> {
    let key = rcgen::KeyPair::generate_for(alg).expect("a key");
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let params = rcgen::CertificateParams::new(names).expect("certificate parameters");
    let cert = params.self_signed(&key).expect("a certificate");
    let der = PrivateKeyDer::try_from(key.serialize_der()).expect("a key in DER");
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(der)
        .expect("a signing key");
    Arc::new(CertifiedKey::new(
        vec![CertificateDer::from(cert.der().to_vec())],
        signing,
    ))
}

fn server() -> &'static Server {
    static SERVER: OnceLock<Server> = OnceLock::new();
    SERVER.get_or_init(|| {
        let config = parse_str(CONFIG, "fuzz.conf", &LoadOptions::default()).expect("the config");
        let settings = relayd_tls::settings(&config.protocols[0]).expect("tls settings");
        let sni = Arc::new(
            SniResolver::new(vec![
                key_for(
                    &["a.example", "*.a.example"],
                    &rcgen::PKCS_ECDSA_P256_SHA256,
                ),
                key_for(&["b.example"], &rcgen::PKCS_ED25519),
            ])
            .expect("an SNI resolver"),
        );
        let parts = ServerParts {
            certificates: sni.clone(),
            client_roots: None,
            tickets: None,
        };
        let config = server_config(&settings, parts).expect("a server config");
        Server { sni, config }
    })
}

fuzz_target!(|data: &[u8]| {
    let server = server();
    let mut input = data;
    let mut acceptor = Acceptor::default();
    let accepted = loop {
        match acceptor.read_tls(&mut input) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        match acceptor.accept() {
            Ok(Some(accepted)) => break accepted,
            Ok(None) => continue,
            Err(_) => return,
        }
    };
    let name = accepted.client_hello().server_name().map(str::to_string);
    let _ = server.sni.choose(name.as_deref());
    let Ok(mut connection) = accepted.into_connection(server.config.clone()) else {
        return;
    };
    let mut sink = Vec::new();
    loop {
        while connection.wants_write() {
            if connection.write_tls(&mut sink).is_err() {
                return;
            }
        }
        sink.clear();
        match connection.read_tls(&mut input) {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        if connection.process_new_packets().is_err() {
            return;
        }
        let mut plain = [0u8; 1024];
        let _ = connection.reader().read(&mut plain);
    }
});
