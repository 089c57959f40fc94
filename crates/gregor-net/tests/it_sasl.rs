//! SASL/SCRAM against the SCRAM broker `cargo xtask integration` starts
//! (`GREGOR_SASL_BOOTSTRAP`, `GREGOR_SASL_USER`, `GREGOR_SASL_PASSWORD`: a
//! user with both SCRAM-SHA-256 and SCRAM-SHA-512 credentials on a
//! plaintext listener). Skipped, saying so, when it is not there.

use std::time::{Duration, Instant};

use gregor_net::{Connection, ConnectionConfig, Connector, Error, SaslConfig, SaslMechanism};
use gregor_protocol::messages::MetadataRequest;

struct SaslBroker {
    bootstrap: String,
    user: String,
    password: String,
}

fn sasl_broker(test: &str) -> Option<SaslBroker> {
    let bootstrap = gregor_testkit::bootstrap_for("GREGOR_SASL_", test)?;
    let var = |name: &str| {
        std::env::var(name)
            .unwrap_or_else(|_| panic!("{test}: GREGOR_SASL_BOOTSTRAP is set but {name} is not"))
    };
    Some(SaslBroker {
        bootstrap,
        user: var("GREGOR_SASL_USER"),
        password: var("GREGOR_SASL_PASSWORD"),
    })
}

fn config() -> ConnectionConfig {
    ConnectionConfig::builder()
        .client_id("gregor-it-sasl")
        .connect_timeout(Duration::from_secs(10))
        .request_timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn authenticated_metadata(broker: &SaslBroker, sasl: SaslConfig) {
    let conn = Connector::new(config())
        .with_sasl(sasl)
        .connect(broker.bootstrap.as_str())
        .await
        .unwrap();
    let md = conn
        .send(&MetadataRequest::default().with_topics(None))
        .await
        .unwrap();
    assert!(!md.brokers.is_empty(), "{md:?}");
    // Several requests on the authenticated connection, pipelined.
    let req = MetadataRequest::default().with_topics(None);
    let (a, b) = tokio::join!(conn.send(&req), conn.send(&req));
    a.unwrap();
    b.unwrap();
}

#[tokio::test]
async fn scram_sha256_then_metadata() {
    let Some(broker) = sasl_broker("scram_sha256_then_metadata") else {
        return;
    };
    let sasl = SaslConfig::scram_sha256(&broker.user, &broker.password);
    authenticated_metadata(&broker, sasl).await;
}

#[tokio::test]
async fn scram_sha512_then_metadata() {
    let Some(broker) = sasl_broker("scram_sha512_then_metadata") else {
        return;
    };
    let sasl = SaslConfig::scram_sha512(&broker.user, &broker.password);
    authenticated_metadata(&broker, sasl).await;
}

#[tokio::test]
async fn wrong_password_is_one_clear_non_retriable_error() {
    let Some(broker) = sasl_broker("wrong_password_is_one_clear_non_retriable_error") else {
        return;
    };
    for sasl in [
        SaslConfig::scram_sha256(&broker.user, "not-the-password"),
        SaslConfig::scram_sha512(&broker.user, "not-the-password"),
        SaslConfig::scram_sha512("nobody-by-this-name", "whatever"),
    ] {
        let mechanism = sasl.mechanism();
        let started = Instant::now();
        let err = Connector::new(config())
            .with_sasl(sasl)
            .connect(broker.bootstrap.as_str())
            .await
            .unwrap_err();
        eprintln!("{mechanism}: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "one attempt, no retries: took {:?}",
            started.elapsed()
        );
        assert!(!err.is_retriable(), "{err:?}");
        match &err {
            Error::Authentication {
                mechanism: m,
                message,
                broker: b,
            } => {
                assert_eq!(*m, mechanism);
                assert_eq!(b.addr(), broker.bootstrap);
                assert!(!message.is_empty());
            }
            other => panic!("expected an authentication error, got {other:?}"),
        }
        assert!(!err.to_string().contains("not-the-password"), "{err}");
    }
    // The broker holds no grudge: the right password still works.
    let sasl = SaslConfig::scram_sha256(&broker.user, &broker.password);
    authenticated_metadata(&broker, sasl).await;
}

#[tokio::test]
async fn a_mechanism_the_broker_lacks() {
    let Some(broker) = sasl_broker("a_mechanism_the_broker_lacks") else {
        return;
    };
    let err = Connector::new(config())
        .with_sasl(SaslConfig::oauth_bearer_token("token"))
        .connect(broker.bootstrap.as_str())
        .await
        .unwrap_err();
    eprintln!("OAUTHBEARER against the SCRAM broker: {err}");
    assert!(!err.is_retriable(), "{err:?}");
    match &err {
        Error::UnsupportedSaslMechanism {
            mechanism, enabled, ..
        } => {
            assert_eq!(*mechanism, SaslMechanism::OAuthBearer);
            assert!(
                enabled.iter().any(|m| m.starts_with("SCRAM-SHA-")),
                "{enabled:?}"
            );
        }
        // A broker may also take the handshake and refuse the token.
        Error::Authentication { mechanism, .. } => {
            assert_eq!(*mechanism, SaslMechanism::OAuthBearer);
        }
        other => panic!("expected a SASL error, got {other:?}"),
    }
}

#[tokio::test]
async fn unauthenticated_requests_are_refused() {
    let Some(broker) = sasl_broker("unauthenticated_requests_are_refused") else {
        return;
    };
    // Without SASL the broker must not serve Metadata; how it refuses
    // (closing, an error) is its business, but it must not hang.
    let outcome = tokio::time::timeout(Duration::from_secs(20), async {
        let conn = Connection::connect(broker.bootstrap.as_str(), &config()).await?;
        conn.send(&MetadataRequest::default().with_topics(None))
            .await
    })
    .await
    .expect("no hang");
    match outcome {
        Ok(md) => assert!(
            md.brokers.is_empty(),
            "an unauthenticated client got cluster metadata: {md:?}"
        ),
        Err(e) => eprintln!("unauthenticated client: {e}"),
    }
}
