//! TLS, two ways:
//!
//! - against TLS servers started in the test, with certificates made by
//!   rcgen (right CA, wrong CA, expired, issued for another name, mutual
//!   TLS, SASL over TLS): these always run;
//! - against the TLS broker `cargo xtask integration` starts
//!   (`GREGOR_TLS_BOOTSTRAP`, `GREGOR_TLS_CA`): skipped, saying so, when it
//!   is not there.

mod support;

use std::sync::Arc;
use std::time::Duration;

use gregor_net::{Connection, ConnectionConfig, Connector, Error, SaslConfig, TlsConfig};
use gregor_protocol::StrBytes;
use gregor_protocol::messages::{
    MetadataRequest, SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
    SaslHandshakeResponse,
};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use support::{FakeBroker, PATIENCE, full_table, response_tag, tagged_request, test_config};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::timeout;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};

/// A certificate authority made for one test.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { params, key, pem }
    }

    /// A certificate for `names` and its key, both PEM.
    fn issue(&self, names: &[&str], expired: bool) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params
            .distinguished_name
            .push(DnType::CommonName, "gregor test");
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        if expired {
            params.not_before = rcgen::date_time_ymd(2020, 1, 1);
            params.not_after = rcgen::date_time_ymd(2020, 1, 2);
        }
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        (cert.pem(), key.serialize_pem())
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server config presenting `cert`, requiring client certificates
/// signed by `client_ca` if given.
fn server_config(cert: &(String, String), client_ca: Option<&Ca>) -> Arc<rustls::ServerConfig> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert.0.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_slice(cert.1.as_bytes()).unwrap();
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap();
    let builder = match client_ca {
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(ca.pem.as_bytes()) {
                roots.add(c.unwrap()).unwrap();
            }
            let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                provider(),
            )
            .build()
            .unwrap();
            builder.with_client_cert_verifier(verifier)
        }
        None => builder.with_no_client_auth(),
    };
    Arc::new(builder.with_single_cert(chain, key).unwrap())
}

/// What the server's side of one connection should do after TLS.
#[derive(Clone, Copy)]
enum Script {
    /// ApiVersions, then answer one tagged Metadata request.
    Metadata,
    /// ApiVersions, SASL PLAIN for alice/secret, then one Metadata.
    SaslPlain,
    /// As `SaslPlain` with a session lifetime of one second, then a
    /// re-authentication before the Metadata request.
    SaslPlainReauth,
}

/// Serves one TLS connection on a local port; the task returns the
/// server's TLS error, if the handshake failed.
async fn tls_server(
    config: Arc<rustls::ServerConfig>,
    script: Script,
) -> (String, JoinHandle<Option<String>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = match TlsAcceptor::from(config).accept(tcp).await {
            Ok(tls) => tls,
            Err(e) => return Some(e.to_string()),
        };
        let mut b = FakeBroker::new(tls);
        b.handshake(&full_table()).await;
        let lifetimes: &[i64] = match script {
            Script::Metadata => &[],
            Script::SaslPlain => &[0],
            Script::SaslPlainReauth => &[1000, 0],
        };
        for &lifetime in lifetimes {
            let (header, req) = b.read::<SaslHandshakeRequest>().await;
            assert_eq!(req.mechanism.as_str(), "PLAIN");
            let resp =
                SaslHandshakeResponse::default().with_mechanisms(vec![StrBytes::from("PLAIN")]);
            b.respond::<SaslHandshakeRequest>(&header, &resp).await;
            let (header, req) = b.read::<SaslAuthenticateRequest>().await;
            assert_eq!(&req.auth_bytes[..], b"\0alice\0secret");
            let resp = SaslAuthenticateResponse::default().with_session_lifetime_ms(lifetime);
            b.respond::<SaslAuthenticateRequest>(&header, &resp).await;
        }
        b.echo(1).await;
        None
    });
    (addr, task)
}

fn connector(tls: TlsConfig) -> Connector {
    Connector::new(test_config()).with_tls(tls)
}

async fn connect(connector: &Connector, addr: &str) -> Result<Connection, Error> {
    timeout(PATIENCE, connector.connect(addr))
        .await
        .expect("connect must not hang")
}

async fn metadata(conn: &Connection, tag: &str) -> String {
    let resp = timeout(PATIENCE, conn.send(&tagged_request(tag)))
        .await
        .expect("no hang")
        .expect("metadata");
    response_tag(&resp)
}

/// Asserts `err` is a non-retriable [`Error::Tls`] whose reason contains
/// each of `words`.
fn assert_tls_error(err: &Error, words: &[&str]) {
    let Error::Tls { reason, .. } = err else {
        panic!("expected a TLS error, got {err:?}");
    };
    for w in words {
        assert!(reason.contains(w), "{w:?} not in {reason:?}");
    }
    assert!(!err.is_retriable(), "{err}");
    assert!(
        err.to_string()
            .starts_with("TLS handshake with broker 127.0.0.1:"),
        "{err}"
    );
}

#[tokio::test]
async fn right_ca_connects_and_serves_requests() {
    let ca = Ca::new("right CA");
    let cert = ca.issue(&["localhost", "127.0.0.1"], false);
    let (addr, server) = tls_server(server_config(&cert, None), Script::Metadata).await;
    let tls = TlsConfig::builder().ca_pem(&ca.pem).build().unwrap();
    let conn = connect(&connector(tls), &addr).await.unwrap();
    assert_eq!(metadata(&conn, "over-tls").await, "over-tls");
    assert_eq!(server.await.unwrap(), None);
}

#[tokio::test]
async fn ca_from_a_file_and_from_the_environment() {
    let ca = Ca::new("file CA");
    let cert = ca.issue(&["localhost"], false);
    let dir = std::env::temp_dir().join(format!("gregor-it-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ca.pem");
    std::fs::write(&path, &ca.pem).unwrap();
    let garbage = dir.join("garbage.pem");
    std::fs::write(&garbage, "not a certificate").unwrap();

    // A bad file is refused when the config is built, naming the file.
    let err = TlsConfig::builder().ca_file(&garbage).build().unwrap_err();
    assert_eq!(err.input(), format!("CA file {}", garbage.display()));
    assert!(err.to_string().contains("garbage.pem"), "{err}");

    let path_text = path.display().to_string();
    let tls = TlsConfig::from_env_with(|name| match name {
        "KAFKA_SEC_PROTO" => Some("TLS".to_owned()),
        "KAFKA_SEC_CA_CERTS" => Some(path_text.clone()),
        _ => None,
    })
    .unwrap()
    .expect("TLS is on");
    let (addr, server) = tls_server(server_config(&cert, None), Script::Metadata).await;
    // The certificate is for localhost: dial it by that name.
    let port = addr.rsplit_once(':').unwrap().1;
    let conn = connect(&connector(tls), &format!("localhost:{port}"))
        .await
        .unwrap();
    assert_eq!(metadata(&conn, "env").await, "env");
    assert_eq!(server.await.unwrap(), None);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn wrong_ca_is_a_tls_error() {
    let ca = Ca::new("the broker's CA");
    let other = Ca::new("another CA");
    let cert = ca.issue(&["127.0.0.1"], false);
    let (addr, server) = tls_server(server_config(&cert, None), Script::Metadata).await;
    let tls = TlsConfig::builder().ca_pem(&other.pem).build().unwrap();
    let err = connect(&connector(tls), &addr).await.unwrap_err();
    assert_tls_error(&err, &["not signed by a trusted CA", "UnknownIssuer"]);
    assert!(
        server.await.unwrap().is_some(),
        "the server saw the handshake fail"
    );
}

#[tokio::test]
async fn expired_certificate_is_a_tls_error() {
    let ca = Ca::new("CA");
    let cert = ca.issue(&["127.0.0.1"], true);
    let (addr, _server) = tls_server(server_config(&cert, None), Script::Metadata).await;
    let tls = TlsConfig::builder().ca_pem(&ca.pem).build().unwrap();
    let err = connect(&connector(tls), &addr).await.unwrap_err();
    assert_tls_error(&err, &["has expired"]);
}

#[tokio::test]
async fn certificate_for_another_name_is_a_tls_error() {
    let ca = Ca::new("CA");
    let cert = ca.issue(&["kafka-1.example"], false);
    let (addr, _server) = tls_server(server_config(&cert, None), Script::Metadata).await;
    let tls = TlsConfig::builder().ca_pem(&ca.pem).build().unwrap();
    let err = connect(&connector(tls), &addr).await.unwrap_err();
    assert_tls_error(&err, &["not valid for \"127.0.0.1\"", "kafka-1.example"]);

    // Dialled by IP but certified by name: a server-name override fixes it.
    let (addr, server) = tls_server(server_config(&cert, None), Script::Metadata).await;
    let tls = TlsConfig::builder()
        .ca_pem(&ca.pem)
        .server_name("kafka-1.example")
        .build()
        .unwrap();
    assert_eq!(tls.server_name().as_deref(), Some("kafka-1.example"));
    let conn = connect(&connector(tls), &addr).await.unwrap();
    assert_eq!(metadata(&conn, "by-name").await, "by-name");
    assert_eq!(server.await.unwrap(), None);
}

#[tokio::test]
async fn skip_verification_accepts_any_certificate() {
    let ca = Ca::new("unknown CA");
    let cert = ca.issue(&["somewhere.else"], true);
    let (addr, server) = tls_server(server_config(&cert, None), Script::Metadata).await;
    let tls = TlsConfig::from_env_with(|name| match name {
        "KAFKA_SEC_PROTO" => Some("TLS".to_owned()),
        "KAFKA_SEC_SKIP_VERIFY" => Some("true".to_owned()),
        _ => None,
    })
    .unwrap()
    .unwrap();
    assert!(tls.skips_verification());
    let conn = connect(&connector(tls), &addr).await.unwrap();
    assert_eq!(metadata(&conn, "unverified").await, "unverified");
    assert_eq!(server.await.unwrap(), None);
}

#[tokio::test]
async fn mutual_tls() {
    let ca = Ca::new("CA");
    let server_cert = ca.issue(&["127.0.0.1"], false);
    let client_cert = ca.issue(&["client"], false);

    let (addr, server) = tls_server(server_config(&server_cert, Some(&ca)), Script::Metadata).await;
    let tls = TlsConfig::builder()
        .ca_pem(&ca.pem)
        .client_cert_pem(&client_cert.0, &client_cert.1)
        .build()
        .unwrap();
    assert!(tls.has_client_cert());
    let conn = connect(&connector(tls), &addr).await.unwrap();
    assert_eq!(metadata(&conn, "mutual").await, "mutual");
    assert_eq!(server.await.unwrap(), None);

    // Without a client certificate the broker refuses; with TLS 1.3 the
    // refusal arrives after the client's side of the handshake, and is
    // still reported as a TLS error.
    let (addr, server) = tls_server(server_config(&server_cert, Some(&ca)), Script::Metadata).await;
    let tls = TlsConfig::builder().ca_pem(&ca.pem).build().unwrap();
    let err = connect(&connector(tls), &addr).await.unwrap_err();
    assert_tls_error(&err, &["client certificate"]);
    assert!(server.await.unwrap().is_some());

    // A key that does not belong to the certificate is refused at build.
    let other = ca.issue(&["client"], false);
    let err = TlsConfig::builder()
        .ca_pem(&ca.pem)
        .client_cert_pem(&client_cert.0, &other.1)
        .build()
        .unwrap_err();
    assert!(err.input().contains("client certificate PEM"), "{err}");
}

#[tokio::test]
async fn sasl_over_tls() {
    let ca = Ca::new("CA");
    let cert = ca.issue(&["127.0.0.1"], false);
    let (addr, server) = tls_server(server_config(&cert, None), Script::SaslPlain).await;
    let tls = TlsConfig::builder().ca_pem(&ca.pem).build().unwrap();
    let connector = connector(tls).with_sasl(SaslConfig::plain("alice", "secret"));
    let conn = connect(&connector, &addr).await.unwrap();
    assert_eq!(metadata(&conn, "sasl-ssl").await, "sasl-ssl");
    assert_eq!(server.await.unwrap(), None);
}

#[tokio::test]
async fn sasl_reauthentication_over_tls() {
    let ca = Ca::new("CA");
    let cert = ca.issue(&["127.0.0.1"], false);
    let (addr, server) = tls_server(server_config(&cert, None), Script::SaslPlainReauth).await;
    let tls = TlsConfig::builder().ca_pem(&ca.pem).build().unwrap();
    let connector = connector(tls).with_sasl(SaslConfig::plain("alice", "secret"));
    let conn = connect(&connector, &addr).await.unwrap();
    // Past 95% of the one-second session: the next request re-authenticates.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(metadata(&conn, "reauthenticated").await, "reauthenticated");
    assert_eq!(server.await.unwrap(), None);
}

#[tokio::test]
async fn tls_client_against_a_plaintext_port() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    // Like a Kafka plaintext listener: it reads the ClientHello as a frame
    // size far too large, and hangs up.
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 5];
        let _ = tcp.read_exact(&mut buf).await;
        let _ = tcp.shutdown().await;
    });
    let tls = TlsConfig::builder()
        .danger_skip_verification()
        .build()
        .unwrap();
    let err = connect(&connector(tls), &addr).await.unwrap_err();
    assert!(err.to_string().contains("TLS handshake"), "{err}");
    server.await.unwrap();

    // And one that answers in HTTP.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let server = tokio::spawn(async move {
        let (mut tcp, _) = listener.accept().await.unwrap();
        let mut buf = [0u8; 5];
        let _ = tcp.read_exact(&mut buf).await;
        let _ = tcp.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
    });
    let tls = TlsConfig::builder()
        .danger_skip_verification()
        .build()
        .unwrap();
    let err = connect(&connector(tls), &addr).await.unwrap_err();
    assert_tls_error(&err, &["does not speak TLS"]);
    server.await.unwrap();
}

#[tokio::test]
async fn plaintext_client_against_a_tls_port() {
    let ca = Ca::new("CA");
    let cert = ca.issue(&["127.0.0.1"], false);
    let (addr, server) = tls_server(server_config(&cert, None), Script::Metadata).await;
    let err = timeout(PATIENCE, Connection::connect(addr.as_str(), &test_config()))
        .await
        .expect("a clear error, not a hang")
        .unwrap_err();
    assert!(!matches!(err, Error::ConnectTimeout { .. }), "{err}");
    assert!(server.await.unwrap().is_some());
}

// ---- against the TLS broker of `cargo xtask integration` ----

/// The TLS broker's address and CA, or `None` (printing why).
fn tls_broker(test: &str) -> Option<(String, std::path::PathBuf)> {
    let bootstrap = gregor_testkit::bootstrap_for("GREGOR_TLS_", test)?;
    let ca = gregor_testkit::broker::env_path("GREGOR_TLS_CA")
        .unwrap_or_else(|| panic!("{test}: GREGOR_TLS_BOOTSTRAP is set but GREGOR_TLS_CA is not"));
    Some((bootstrap, ca))
}

fn it_config() -> ConnectionConfig {
    ConnectionConfig::builder()
        .client_id("gregor-it-tls")
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

#[tokio::test]
async fn broker_metadata_over_tls_with_the_right_ca() {
    let Some((bootstrap, ca)) = tls_broker("broker_metadata_over_tls_with_the_right_ca") else {
        return;
    };
    let tls = TlsConfig::builder().ca_file(&ca).build().unwrap();
    let connector = Connector::new(it_config()).with_tls(tls);
    let conn = connector.connect(bootstrap.as_str()).await.unwrap();
    let md = conn
        .send(&MetadataRequest::default().with_topics(None))
        .await
        .unwrap();
    assert!(!md.brokers.is_empty(), "{md:?}");

    // The certificate is for localhost too.
    let port = bootstrap.rsplit_once(':').unwrap().1;
    let conn = connector
        .connect(format!("localhost:{port}"))
        .await
        .unwrap();
    conn.send(&MetadataRequest::default().with_topics(None))
        .await
        .unwrap();
}

#[tokio::test]
async fn broker_refuses_a_wrong_ca() {
    let Some((bootstrap, _)) = tls_broker("broker_refuses_a_wrong_ca") else {
        return;
    };
    let other = Ca::new("not the broker's CA");
    let tls = TlsConfig::builder().ca_pem(&other.pem).build().unwrap();
    let err = Connector::new(it_config())
        .with_tls(tls)
        .connect(bootstrap.as_str())
        .await
        .unwrap_err();
    let Error::Tls { reason, .. } = &err else {
        panic!("expected a TLS error, got {err:?}");
    };
    assert!(reason.contains("UnknownIssuer"), "{reason}");
    assert!(!err.is_retriable());
}

#[tokio::test]
async fn broker_name_mismatch_is_refused() {
    let Some((bootstrap, ca)) = tls_broker("broker_name_mismatch_is_refused") else {
        return;
    };
    let tls = TlsConfig::builder()
        .ca_file(&ca)
        .server_name("kafka.invalid")
        .build()
        .unwrap();
    let err = Connector::new(it_config())
        .with_tls(tls)
        .connect(bootstrap.as_str())
        .await
        .unwrap_err();
    let Error::Tls { reason, .. } = &err else {
        panic!("expected a TLS error, got {err:?}");
    };
    assert!(reason.contains("kafka.invalid"), "{reason}");
}

#[tokio::test]
async fn broker_with_skip_verification() {
    let Some((bootstrap, _)) = tls_broker("broker_with_skip_verification") else {
        return;
    };
    let tls = TlsConfig::builder()
        .danger_skip_verification()
        .build()
        .unwrap();
    let conn = Connector::new(it_config())
        .with_tls(tls)
        .connect(bootstrap.as_str())
        .await
        .unwrap();
    conn.send(&MetadataRequest::default().with_topics(None))
        .await
        .unwrap();
}

#[tokio::test]
async fn broker_plaintext_client_gets_a_clear_error() {
    let Some((bootstrap, _)) = tls_broker("broker_plaintext_client_gets_a_clear_error") else {
        return;
    };
    let err = timeout(
        Duration::from_secs(20),
        Connection::connect(bootstrap.as_str(), &it_config()),
    )
    .await
    .expect("a clear error, not a hang")
    .unwrap_err();
    assert!(!matches!(err, Error::ConnectTimeout { .. }), "{err}");
    eprintln!("plaintext client against the TLS port: {err}");
}

#[tokio::test]
async fn tls_client_against_the_plaintext_broker() {
    let Some(bootstrap) = gregor_testkit::bootstrap("tls_client_against_the_plaintext_broker")
    else {
        return;
    };
    let tls = TlsConfig::builder()
        .danger_skip_verification()
        .build()
        .unwrap();
    let err = timeout(
        Duration::from_secs(20),
        Connector::new(it_config())
            .with_tls(tls)
            .connect(bootstrap.as_str()),
    )
    .await
    .expect("a clear error, not a hang")
    .unwrap_err();
    assert!(!matches!(err, Error::ConnectTimeout { .. }), "{err}");
    assert!(err.to_string().contains("TLS"), "{err}");
    eprintln!("TLS client against the plaintext port: {err}");
}
