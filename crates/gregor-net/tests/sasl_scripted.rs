//! SASL against a scripted broker on a local TCP port: the exact bytes of
//! each mechanism, the broker's refusals, and KIP-368 re-authentication on
//! a live pipelined connection.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use gregor_net::{
    Connection, Connector, Error, OAuthToken, OAuthTokenProvider, SaslConfig, SaslMechanism,
    TokenError,
};
use gregor_protocol::StrBytes;
use gregor_protocol::messages::{
    MetadataRequest, RequestHeader, SaslAuthenticateRequest, SaslAuthenticateResponse,
    SaslHandshakeRequest, SaslHandshakeResponse,
};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256, Sha512};
use support::{FakeBroker, PATIENCE, full_table, response_tag, tagged_request, test_config};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

type Broker = FakeBroker<TcpStream>;

/// A listener and a connector that authenticates with `sasl`.
async fn setup(sasl: SaslConfig) -> (TcpListener, Connector, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let connector = Connector::new(test_config()).with_sasl(sasl);
    (listener, connector, addr)
}

/// Accepts one connection and plays the ApiVersions handshake.
async fn accept(listener: &TcpListener) -> Broker {
    let (stream, _) = listener.accept().await.unwrap();
    let mut broker = FakeBroker::new(stream);
    broker.handshake(&full_table()).await;
    broker
}

/// Reads a SaslHandshake for `mechanism` (at v1) and accepts it.
async fn handshake(broker: &mut Broker, mechanism: &str) -> RequestHeader {
    let (header, req) = broker.read::<SaslHandshakeRequest>().await;
    assert_eq!(header.request_api_version, 1, "SaslHandshake v1");
    assert_eq!(req.mechanism.as_str(), mechanism);
    let resp = SaslHandshakeResponse::default().with_mechanisms(vec![StrBytes::from(mechanism)]);
    broker.respond::<SaslHandshakeRequest>(&header, &resp).await;
    header
}

/// Reads a SaslAuthenticate and returns its header and bytes.
async fn read_auth(broker: &mut Broker) -> (RequestHeader, Vec<u8>) {
    let (header, req) = broker.read::<SaslAuthenticateRequest>().await;
    (header, req.auth_bytes.to_vec())
}

fn auth_ok(bytes: &[u8], lifetime_ms: i64) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_auth_bytes(bytes.to_vec())
        .with_session_lifetime_ms(lifetime_ms)
}

fn auth_failed(message: &str) -> SaslAuthenticateResponse {
    SaslAuthenticateResponse::default()
        .with_error_code(58)
        .with_error_message(Some(StrBytes::from(message)))
}

/// Answers one tagged Metadata request.
async fn echo(broker: &mut Broker) {
    assert_eq!(broker.echo(1).await, 1, "a Metadata request");
}

async fn metadata(conn: &Connection, tag: &str) -> String {
    let resp = timeout(PATIENCE, conn.send(&tagged_request(tag)))
        .await
        .expect("no hang")
        .expect("metadata");
    response_tag(&resp)
}

#[tokio::test]
async fn plain_sends_nul_user_nul_password() {
    let (listener, connector, addr) = setup(SaslConfig::plain("alice", "pa55 word")).await;
    let server = async {
        let mut b = accept(&listener).await;
        handshake(&mut b, "PLAIN").await;
        let (header, bytes) = read_auth(&mut b).await;
        assert_eq!(bytes, b"\0alice\0pa55 word");
        b.respond::<SaslAuthenticateRequest>(&header, &auth_ok(b"", 0))
            .await;
        echo(&mut b).await;
        b
    };
    let client = async {
        let conn = connector.connect(addr.as_str()).await.unwrap();
        assert_eq!(metadata(&conn, "after-auth").await, "after-auth");
        conn
    };
    let (_b, _conn) = timeout(PATIENCE, async { tokio::join!(server, client) })
        .await
        .unwrap();
}

#[tokio::test]
async fn oauthbearer_sends_the_gs2_message_with_extensions() {
    let token = OAuthToken::new("eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.")
        .with_extension("traceId", "t-42")
        .with_extension("logicalCluster", "lkc-1");
    let sasl = SaslConfig::oauth_bearer(gregor_net::StaticTokenProvider::new(token));
    let (listener, connector, addr) = setup(sasl).await;
    let server = async {
        let mut b = accept(&listener).await;
        handshake(&mut b, "OAUTHBEARER").await;
        let (header, bytes) = read_auth(&mut b).await;
        assert_eq!(
            bytes,
            b"n,,\x01auth=Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.\
              \x01logicalCluster=lkc-1\x01traceId=t-42\x01\x01"
        );
        b.respond::<SaslAuthenticateRequest>(&header, &auth_ok(b"", 0))
            .await;
        echo(&mut b).await;
        b
    };
    let client = async {
        let conn = connector.connect(addr.as_str()).await.unwrap();
        assert_eq!(metadata(&conn, "x").await, "x");
        conn
    };
    timeout(PATIENCE, async { tokio::join!(server, client) })
        .await
        .unwrap();
}

#[tokio::test]
async fn oauthbearer_error_report_is_acknowledged_and_reported() {
    let (listener, connector, addr) = setup(SaslConfig::oauth_bearer_token("expired")).await;
    let server = async {
        let mut b = accept(&listener).await;
        handshake(&mut b, "OAUTHBEARER").await;
        let (header, _) = read_auth(&mut b).await;
        let report = br#"{"status":"invalid_token"}"#;
        b.respond::<SaslAuthenticateRequest>(&header, &auth_ok(report, 0))
            .await;
        let (header, bytes) = read_auth(&mut b).await;
        assert_eq!(bytes, [0x01], "the client acknowledges the error report");
        b.respond::<SaslAuthenticateRequest>(&header, &auth_failed("token expired"))
            .await;
        b
    };
    let (_b, result) = timeout(PATIENCE, async {
        tokio::join!(server, connector.connect(addr.as_str()))
    })
    .await
    .unwrap();
    let err = result.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::Authentication { .. }), "{err:?}");
    assert!(
        text.contains("token expired") && text.contains("invalid_token"),
        "{text}"
    );
}

/// RFC 7677's example, with the client nonce fixed through the documented
/// hook, checked byte for byte.
#[tokio::test]
async fn scram_sha256_matches_rfc7677() {
    let sasl = SaslConfig::scram_sha256("user", "pencil")
        .with_nonce_generator(|| "rOprNGfwEbeRWgbNEkqO".to_owned());
    let (listener, connector, addr) = setup(sasl).await;
    let server = async {
        let mut b = accept(&listener).await;
        handshake(&mut b, "SCRAM-SHA-256").await;
        let (header, first) = read_auth(&mut b).await;
        assert_eq!(first, b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        let server_first = b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
                             s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        b.respond::<SaslAuthenticateRequest>(&header, &auth_ok(server_first, 0))
            .await;
        let (header, last) = read_auth(&mut b).await;
        assert_eq!(
            String::from_utf8(last).unwrap(),
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,\
             p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        let server_final = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
        b.respond::<SaslAuthenticateRequest>(&header, &auth_ok(server_final, 0))
            .await;
        echo(&mut b).await;
        b
    };
    let client = async {
        let conn = connector.connect(addr.as_str()).await.unwrap();
        assert_eq!(metadata(&conn, "scram").await, "scram");
        conn
    };
    timeout(PATIENCE, async { tokio::join!(server, client) })
        .await
        .unwrap();
}

/// The server side of SCRAM, written from RFC 5802 for these tests.
struct ScramServer {
    sha512: bool,
    password: &'static str,
    iterations: u32,
    /// Sign the final message with a wrong key (an impostor broker).
    forge: bool,
}

impl ScramServer {
    fn hmac(&self, key: &[u8], data: &[u8]) -> Vec<u8> {
        if self.sha512 {
            let mut m = Hmac::<Sha512>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        } else {
            let mut m = Hmac::<Sha256>::new_from_slice(key).unwrap();
            m.update(data);
            m.finalize().into_bytes().to_vec()
        }
    }

    fn hash(&self, data: &[u8]) -> Vec<u8> {
        if self.sha512 {
            Sha512::digest(data).to_vec()
        } else {
            Sha256::digest(data).to_vec()
        }
    }

    fn salted(&self, salt: &[u8]) -> Vec<u8> {
        if self.sha512 {
            let mut out = vec![0; 64];
            pbkdf2::pbkdf2_hmac::<Sha512>(
                self.password.as_bytes(),
                salt,
                self.iterations,
                &mut out,
            );
            out
        } else {
            let mut out = vec![0; 32];
            pbkdf2::pbkdf2_hmac::<Sha256>(
                self.password.as_bytes(),
                salt,
                self.iterations,
                &mut out,
            );
            out
        }
    }

    /// Plays the two SaslAuthenticate rounds; returns whether the client's
    /// proof was right (and answers with an error if not).
    async fn run(&self, b: &mut Broker, user: &str, lifetime_ms: i64) -> bool {
        let (header, first) = read_auth(b).await;
        let first = String::from_utf8(first).unwrap();
        let bare = first
            .strip_prefix("n,,")
            .expect("gs2 header without channel binding");
        let (name, client_nonce) = bare.split_once(",r=").unwrap();
        assert_eq!(name, format!("n={user}"));
        let nonce = format!("{client_nonce}srv-nonce-1");
        let salt = b"gregor-test-salt";
        let server_first = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(salt),
            self.iterations
        );
        b.respond::<SaslAuthenticateRequest>(&header, &auth_ok(server_first.as_bytes(), 0))
            .await;

        let (header, last) = read_auth(b).await;
        let last = String::from_utf8(last).unwrap();
        let (without_proof, proof) = last.split_once(",p=").unwrap();
        assert_eq!(without_proof, format!("c=biws,r={nonce}"));
        let auth_message = format!("{bare},{server_first},{without_proof}");
        let salted = self.salted(salt);
        let client_key = self.hmac(&salted, b"Client Key");
        let stored_key = self.hash(&client_key);
        let signature = self.hmac(&stored_key, auth_message.as_bytes());
        let recovered: Vec<u8> = STANDARD
            .decode(proof)
            .unwrap()
            .iter()
            .zip(&signature)
            .map(|(p, s)| p ^ s)
            .collect();
        if self.hash(&recovered) != stored_key {
            let msg = "Authentication failed during authentication due to invalid credentials \
                       with SASL mechanism SCRAM";
            b.respond::<SaslAuthenticateRequest>(&header, &auth_failed(msg))
                .await;
            return false;
        }
        let key = if self.forge {
            b"forged".to_vec()
        } else {
            salted
        };
        let server_key = self.hmac(&key, b"Server Key");
        let verifier = self.hmac(&server_key, auth_message.as_bytes());
        let server_final = format!("v={}", STANDARD.encode(verifier));
        b.respond::<SaslAuthenticateRequest>(
            &header,
            &auth_ok(server_final.as_bytes(), lifetime_ms),
        )
        .await;
        true
    }
}

#[tokio::test]
async fn scram_sha512_against_a_scram_server() {
    let (listener, connector, addr) = setup(SaslConfig::scram_sha512("bob", "hunter2")).await;
    let scram = ScramServer {
        sha512: true,
        password: "hunter2",
        iterations: 4096,
        forge: false,
    };
    let server = async {
        let mut b = accept(&listener).await;
        handshake(&mut b, "SCRAM-SHA-512").await;
        assert!(scram.run(&mut b, "bob", 0).await, "the client's proof");
        echo(&mut b).await;
        b
    };
    let client = async {
        let conn = connector.connect(addr.as_str()).await.unwrap();
        assert_eq!(metadata(&conn, "512").await, "512");
        conn
    };
    timeout(PATIENCE, async { tokio::join!(server, client) })
        .await
        .unwrap();
}

#[tokio::test]
async fn wrong_password_is_one_clear_non_retriable_error() {
    let (listener, connector, addr) = setup(SaslConfig::scram_sha256("bob", "wrong")).await;
    let scram = ScramServer {
        sha512: false,
        password: "hunter2",
        iterations: 4096,
        forge: false,
    };
    let server = async {
        let mut b = accept(&listener).await;
        handshake(&mut b, "SCRAM-SHA-256").await;
        assert!(!scram.run(&mut b, "bob", 0).await);
        // The client closes the connection and sends nothing more.
        b.expect_eof().await;
    };
    let (_, result) = timeout(PATIENCE, async {
        tokio::join!(server, connector.connect(addr.as_str()))
    })
    .await
    .unwrap();
    let err = result.unwrap_err();
    assert!(!err.is_retriable(), "{err:?}");
    match &err {
        Error::Authentication {
            mechanism, message, ..
        } => {
            assert_eq!(*mechanism, SaslMechanism::ScramSha256);
            assert!(message.contains("invalid credentials"), "{message}");
        }
        other => panic!("expected an authentication error, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.starts_with("SASL SCRAM-SHA-256 authentication with broker 127.0.0.1:"),
        "{text}"
    );
    assert!(
        !text.contains("wrong"),
        "the password must not leak: {text}"
    );
}

#[tokio::test]
async fn forged_server_signature_is_refused() {
    let (listener, connector, addr) = setup(SaslConfig::scram_sha256("bob", "hunter2")).await;
    let scram = ScramServer {
        sha512: false,
        password: "hunter2",
        iterations: 4096,
        forge: true,
    };
    let server = async {
        let mut b = accept(&listener).await;
        handshake(&mut b, "SCRAM-SHA-256").await;
        scram.run(&mut b, "bob", 0).await;
        b.expect_eof().await;
    };
    let (_, result) = timeout(PATIENCE, async {
        tokio::join!(server, connector.connect(addr.as_str()))
    })
    .await
    .unwrap();
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Authentication { .. }), "{err:?}");
    assert!(
        err.to_string().contains("server signature is wrong"),
        "{err}"
    );
}

#[tokio::test]
async fn too_few_iterations_are_refused() {
    let (listener, connector, addr) = setup(SaslConfig::scram_sha256("bob", "hunter2")).await;
    let server = async {
        let mut b = accept(&listener).await;
        handshake(&mut b, "SCRAM-SHA-256").await;
        let (header, first) = read_auth(&mut b).await;
        let nonce = String::from_utf8(first)
            .unwrap()
            .rsplit_once("r=")
            .unwrap()
            .1
            .to_owned();
        let server_first = format!("r={nonce}xyz,s=c2FsdA==,i=1024");
        b.respond::<SaslAuthenticateRequest>(&header, &auth_ok(server_first.as_bytes(), 0))
            .await;
        b.expect_eof().await;
    };
    let (_, result) = timeout(PATIENCE, async {
        tokio::join!(server, connector.connect(addr.as_str()))
    })
    .await
    .unwrap();
    let err = result.unwrap_err();
    assert!(!err.is_retriable());
    assert!(err.to_string().contains("1024 SCRAM iterations"), "{err}");
}

#[tokio::test]
async fn unsupported_mechanism_lists_the_enabled_ones() {
    let (listener, connector, addr) = setup(SaslConfig::plain("alice", "secret")).await;
    let server = async {
        let mut b = accept(&listener).await;
        let (header, req) = b.read::<SaslHandshakeRequest>().await;
        assert_eq!(req.mechanism.as_str(), "PLAIN");
        let resp = SaslHandshakeResponse::default()
            .with_error_code(33)
            .with_mechanisms(vec![
                StrBytes::from("SCRAM-SHA-256"),
                StrBytes::from("SCRAM-SHA-512"),
            ]);
        b.respond::<SaslHandshakeRequest>(&header, &resp).await;
        b.expect_eof().await;
    };
    let (_, result) = timeout(PATIENCE, async {
        tokio::join!(server, connector.connect(addr.as_str()))
    })
    .await
    .unwrap();
    let err = result.unwrap_err();
    assert!(!err.is_retriable());
    match &err {
        Error::UnsupportedSaslMechanism {
            mechanism, enabled, ..
        } => {
            assert_eq!(*mechanism, SaslMechanism::Plain);
            assert_eq!(enabled, &["SCRAM-SHA-256", "SCRAM-SHA-512"]);
        }
        other => panic!("expected UnsupportedSaslMechanism, got {other:?}"),
    }
    assert!(
        err.to_string().ends_with(
            "does not enable SASL mechanism PLAIN; it enables SCRAM-SHA-256, SCRAM-SHA-512"
        ),
        "{err}"
    );
}

/// The lifetime the scripted broker grants: re-authentication is due after
/// 85-95% of it. Long enough that a loaded machine sends the requests meant
/// to go before it in time.
const LIFETIME_MS: i64 = 1000;
/// Long enough that re-authentication is due.
const PAST_DUE: Duration = Duration::from_millis(1100);

/// Plays a PLAIN re-authentication and returns the correlation ids used.
async fn plain_reauth(b: &mut Broker, lifetime_ms: i64) -> (i32, i32) {
    let h = handshake(b, "PLAIN").await;
    let (header, bytes) = read_auth(b).await;
    assert_eq!(bytes, b"\0alice\0secret");
    b.respond::<SaslAuthenticateRequest>(&header, &auth_ok(b"", lifetime_ms))
        .await;
    (h.correlation_id, header.correlation_id)
}

#[tokio::test]
async fn reauthenticates_before_the_first_request_after_it_is_due() {
    let (listener, connector, addr) = setup(SaslConfig::plain("alice", "secret")).await;
    let server = async {
        let mut b = accept(&listener).await;
        let first = plain_reauth(&mut b, LIFETIME_MS).await;
        // Before the due time: no re-authentication.
        echo(&mut b).await;
        // The client waited past the due time: re-authentication comes
        // first, then the request that triggered it.
        let again = plain_reauth(&mut b, LIFETIME_MS).await;
        assert!(
            again.0.wrapping_sub(first.1).unsigned_abs() > 1 << 29,
            "re-authentication uses correlation ids far from the connection's: {first:?} {again:?}"
        );
        echo(&mut b).await;
        // And again: the new session's lifetime is honoured too.
        plain_reauth(&mut b, 0).await;
        echo(&mut b).await;
        // The last session had no lifetime: no more re-authentication.
        echo(&mut b).await;
        b
    };
    let client = async {
        let conn = connector.connect(addr.as_str()).await.unwrap();
        assert_eq!(metadata(&conn, "early").await, "early");
        tokio::time::sleep(PAST_DUE).await;
        assert_eq!(metadata(&conn, "late").await, "late");
        tokio::time::sleep(PAST_DUE).await;
        assert_eq!(metadata(&conn, "later").await, "later");
        tokio::time::sleep(PAST_DUE).await;
        assert_eq!(metadata(&conn, "no-more").await, "no-more");
        conn
    };
    timeout(PATIENCE, async { tokio::join!(server, client) })
        .await
        .unwrap();
}

/// A tag big enough that its response arrives in many reads, so it is
/// handed on in pieces while a SASL response is awaited.
fn big_tag() -> String {
    format!("in-flight-{}", "x".repeat(300_000))
}

#[tokio::test]
async fn responses_in_flight_pass_through_reauthentication() {
    let (listener, connector, addr) = setup(SaslConfig::plain("alice", "secret")).await;
    let server = async {
        let mut b = accept(&listener).await;
        plain_reauth(&mut b, LIFETIME_MS).await;
        // A request arrives and is held, in flight.
        let (held, req) = b.read::<MetadataRequest>().await;
        assert_eq!(support::request_tag(&req), big_tag());
        // Past the due time the next request triggers re-authentication,
        // whose handshake arrives before it.
        let (h, req) = b.read::<SaslHandshakeRequest>().await;
        assert_eq!(req.mechanism.as_str(), "PLAIN");
        // The held request's response goes out first, during
        // re-authentication, as a broker would send it.
        b.respond::<MetadataRequest>(&held, &support::tagged_response(&big_tag()))
            .await;
        let resp = SaslHandshakeResponse::default().with_mechanisms(vec![StrBytes::from("PLAIN")]);
        b.respond::<SaslHandshakeRequest>(&h, &resp).await;
        let (header, bytes) = read_auth(&mut b).await;
        assert_eq!(bytes, b"\0alice\0secret");
        b.respond::<SaslAuthenticateRequest>(&header, &auth_ok(b"", 0))
            .await;
        // Only now the request that triggered it.
        let (header, req) = b.read::<MetadataRequest>().await;
        assert_eq!(support::request_tag(&req), "trigger");
        b.respond::<MetadataRequest>(&header, &support::tagged_response("trigger"))
            .await;
        b
    };
    let client = async {
        let conn = connector.connect(addr.as_str()).await.unwrap();
        let held = {
            let conn = conn.clone();
            tokio::spawn(async move { metadata(&conn, &big_tag()).await })
        };
        tokio::time::sleep(PAST_DUE).await;
        assert_eq!(conn.in_flight(), 1);
        assert_eq!(metadata(&conn, "trigger").await, "trigger");
        assert_eq!(held.await.unwrap(), big_tag());
        assert!(!conn.is_dead());
        conn
    };
    timeout(PATIENCE, async { tokio::join!(server, client) })
        .await
        .unwrap();
}

#[tokio::test]
async fn failed_reauthentication_kills_the_connection_with_the_reason() {
    let (listener, connector, addr) = setup(SaslConfig::plain("alice", "secret")).await;
    let server = async {
        let mut b = accept(&listener).await;
        plain_reauth(&mut b, LIFETIME_MS).await;
        handshake(&mut b, "PLAIN").await;
        let (header, _) = read_auth(&mut b).await;
        b.respond::<SaslAuthenticateRequest>(&header, &auth_failed("password rotated"))
            .await;
        b.expect_eof().await;
    };
    let client = async {
        let conn = connector.connect(addr.as_str()).await.unwrap();
        tokio::time::sleep(PAST_DUE).await;
        let err = timeout(PATIENCE, conn.send(&tagged_request("x")))
            .await
            .expect("no hang")
            .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("password rotated"), "{text}");
        assert!(text.contains("SASL PLAIN authentication"), "{text}");
        assert!(conn.is_dead());
    };
    timeout(PATIENCE, async { tokio::join!(server, client) })
        .await
        .unwrap();
}

/// Counts the tokens it hands out: `token-1`, `token-2`, ...
#[derive(Debug, Default, Clone)]
struct Counting(Arc<AtomicUsize>);

#[async_trait]
impl OAuthTokenProvider for Counting {
    async fn token(&self) -> Result<OAuthToken, TokenError> {
        let n = self.0.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(OAuthToken::new(format!("token-{n}")))
    }
}

#[tokio::test]
async fn oauth_reauthentication_asks_for_a_fresh_token() {
    let provider = Counting::default();
    let (listener, connector, addr) = setup(SaslConfig::oauth_bearer(provider.clone())).await;
    let server = async {
        let mut b = accept(&listener).await;
        for (n, lifetime) in [(1, LIFETIME_MS), (2, 0)] {
            handshake(&mut b, "OAUTHBEARER").await;
            let (header, bytes) = read_auth(&mut b).await;
            let expected = format!("n,,\x01auth=Bearer token-{n}\x01\x01");
            assert_eq!(String::from_utf8(bytes).unwrap(), expected);
            b.respond::<SaslAuthenticateRequest>(&header, &auth_ok(b"", lifetime))
                .await;
        }
        echo(&mut b).await;
        b
    };
    let client = async {
        let conn = connector.connect(addr.as_str()).await.unwrap();
        tokio::time::sleep(PAST_DUE).await;
        assert_eq!(metadata(&conn, "fresh").await, "fresh");
        conn
    };
    timeout(PATIENCE, async { tokio::join!(server, client) })
        .await
        .unwrap();
    assert_eq!(provider.0.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn token_provider_failure_is_an_authentication_error() {
    #[derive(Debug)]
    struct Down;
    #[async_trait]
    impl OAuthTokenProvider for Down {
        async fn token(&self) -> Result<OAuthToken, TokenError> {
            Err(TokenError::new("identity provider unreachable"))
        }
    }
    let (listener, connector, addr) = setup(SaslConfig::oauth_bearer(Down)).await;
    let server = async {
        let (stream, _) = listener.accept().await.unwrap();
        let mut b = FakeBroker::new(stream);
        b.handshake(&full_table()).await;
        b.expect_eof().await;
    };
    let (_, result) = timeout(PATIENCE, async {
        tokio::join!(server, connector.connect(addr.as_str()))
    })
    .await
    .unwrap();
    let err = result.unwrap_err();
    assert!(matches!(err, Error::Authentication { .. }), "{err:?}");
    assert!(
        err.to_string().contains("identity provider unreachable"),
        "{err}"
    );
}

#[test]
fn debug_output_never_shows_secrets() {
    let sasl = SaslConfig::scram_sha512("carol", "correct horse battery staple");
    let shown = format!(
        "{sasl:?} {:?}",
        Connector::default().with_sasl(sasl.clone())
    );
    assert!(shown.contains("carol"), "{shown}");
    assert!(!shown.contains("battery"), "{shown}");
    let token = SaslConfig::oauth_bearer_token("very-secret-token");
    assert!(!format!("{token:?}").contains("very-secret"));
}
