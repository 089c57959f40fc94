//! Servers that misbehave, over real TCP: each must give a clear error,
//! never a panic or a hang, and fail every request in flight with the same
//! error.

mod support;

use std::sync::Arc;

use gregor_net::{CloseReason, Connection, Error};
use gregor_protocol::messages::MetadataRequest;
use support::{FakeBroker, PATIENCE, full_table, tagged_request, tagged_response, test_config};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

/// Requests in flight when the server misbehaves.
const IN_FLIGHT: usize = 5;

#[derive(Debug, Clone, Copy)]
enum Misbehavior {
    Garbage,
    Oversized,
    TruncatedThenClose,
    WrongCorrelationId,
    HttpText,
    Close,
}

async fn listener() -> (TcpListener, std::net::SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    (listener, addr)
}

async fn accept(listener: &TcpListener) -> FakeBroker<TcpStream> {
    FakeBroker::new(listener.accept().await.unwrap().0)
}

/// Connects, puts [`IN_FLIGHT`] requests in flight, lets the server do `m`,
/// and returns every request's error and that of a request made afterwards.
async fn misbehave_mid_pipeline(m: Misbehavior) -> (Vec<Error>, Error) {
    let (listener, addr) = listener().await;
    let server = tokio::spawn(async move {
        let mut broker = accept(&listener).await;
        broker.handshake(&full_table()).await;
        let mut headers = Vec::new();
        for _ in 0..IN_FLIGHT {
            headers.push(broker.read::<MetadataRequest>().await.0);
        }
        let first = headers[0].correlation_id;
        match m {
            Misbehavior::Garbage => {
                broker
                    .write_raw(b"\xde\xad\xbe\xef this is not a Kafka frame")
                    .await;
            }
            Misbehavior::Oversized => {
                let mut frame = (200 * 1024 * 1024_i32).to_be_bytes().to_vec();
                frame.extend_from_slice(&first.to_be_bytes());
                broker.write_raw(&frame).await;
            }
            Misbehavior::TruncatedThenClose => {
                let mut frame = 100_i32.to_be_bytes().to_vec();
                frame.extend_from_slice(&first.to_be_bytes());
                frame.extend_from_slice(&[0; 6]);
                broker.write_raw(&frame).await;
                return;
            }
            Misbehavior::WrongCorrelationId => {
                let mut wrong = headers[0].clone();
                wrong.correlation_id = first.wrapping_add(1000);
                broker
                    .respond::<MetadataRequest>(&wrong, &tagged_response("x"))
                    .await;
            }
            Misbehavior::HttpText => {
                broker
                    .write_raw(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
                    .await;
            }
            Misbehavior::Close => return,
        }
        // Hold the connection until the client drops it.
        broker.expect_eof().await;
    });

    let conn = Connection::connect(addr, &test_config()).await.unwrap();
    let tasks: Vec<_> = (0..IN_FLIGHT)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.send(&tagged_request(&format!("t{i}"))).await })
        })
        .collect();
    let mut errors = Vec::new();
    for t in tasks {
        let result = timeout(PATIENCE, t)
            .await
            .expect("no hang")
            .expect("no panic");
        errors.push(result.expect_err("every request in flight fails"));
    }
    assert!(conn.is_dead());
    let later = timeout(PATIENCE, conn.send(&MetadataRequest::default()))
        .await
        .expect("no hang")
        .expect_err("a dead connection fails at once");
    timeout(PATIENCE, server).await.unwrap().unwrap();
    (errors, later)
}

/// Checks every error is `Dead` with one shared cause, and returns it.
fn shared_cause(errors: &[Error], later: &Error) -> Arc<Error> {
    let causes: Vec<Arc<Error>> = errors
        .iter()
        .chain([later])
        .map(|e| match e {
            Error::Dead { cause } => cause.clone(),
            other => panic!("expected Dead, got {other:?}"),
        })
        .collect();
    for c in &causes {
        assert!(Arc::ptr_eq(c, &causes[0]), "one shared cause");
    }
    for e in errors {
        assert_eq!(e.to_string(), later.to_string());
        assert!(e.broker().addr().starts_with("127.0.0.1:"));
    }
    causes[0].clone()
}

#[tokio::test]
async fn garbage_fails_everything_in_flight() {
    let (errors, later) = timeout(PATIENCE, misbehave_mid_pipeline(Misbehavior::Garbage))
        .await
        .unwrap();
    let cause = shared_cause(&errors, &later);
    assert!(
        matches!(
            cause.as_ref(),
            Error::Protocol {
                source: gregor_protocol::Error::BadLength { .. },
                ..
            }
        ),
        "{cause:?}"
    );
    let text = later.to_string();
    assert!(
        text.contains("frame size") && text.contains("is invalid"),
        "{text}"
    );
    assert!(!later.is_retriable());
}

#[tokio::test]
async fn an_oversized_frame_fails_everything_in_flight() {
    let (errors, later) = timeout(PATIENCE, misbehave_mid_pipeline(Misbehavior::Oversized))
        .await
        .unwrap();
    let cause = shared_cause(&errors, &later);
    assert!(
        matches!(
            cause.as_ref(),
            Error::Protocol {
                source: gregor_protocol::Error::FrameTooLarge { .. },
                ..
            }
        ),
        "{cause:?}"
    );
    let text = later.to_string();
    assert!(
        text.contains("209715200 bytes exceeds the maximum frame size"),
        "{text}"
    );
    assert!(
        text.contains("(Metadata)"),
        "names the API it was reading: {text}"
    );
}

#[tokio::test]
async fn a_truncated_frame_then_close_fails_everything_in_flight() {
    let (errors, later) = timeout(
        PATIENCE,
        misbehave_mid_pipeline(Misbehavior::TruncatedThenClose),
    )
    .await
    .unwrap();
    let cause = shared_cause(&errors, &later);
    assert!(
        matches!(
            cause.as_ref(),
            Error::Closed {
                reason: CloseReason::ByPeerMidFrame {
                    received: 14,
                    expected: Some(104)
                },
                ..
            }
        ),
        "{cause:?}"
    );
    let text = later.to_string();
    assert!(
        text.contains("partway through a response (14 of 104 bytes"),
        "{text}"
    );
    assert!(later.is_retriable());
}

#[tokio::test]
async fn a_wrong_correlation_id_fails_everything_in_flight() {
    let (errors, later) = timeout(
        PATIENCE,
        misbehave_mid_pipeline(Misbehavior::WrongCorrelationId),
    )
    .await
    .unwrap();
    let cause = shared_cause(&errors, &later);
    let Error::CorrelationMismatch {
        expected: Some(expected),
        received,
        ..
    } = *cause
    else {
        panic!("{cause:?}");
    };
    assert_eq!(received, expected.wrapping_add(1000));
    let text = later.to_string();
    assert!(
        text.contains(&format!("correlation id {received}"))
            && text.contains(&format!("correlation id {expected}")),
        "{text}"
    );
    assert!(!later.is_retriable());
}

#[tokio::test]
async fn http_text_mid_stream_fails_everything_in_flight() {
    let (errors, later) = timeout(PATIENCE, misbehave_mid_pipeline(Misbehavior::HttpText))
        .await
        .unwrap();
    let cause = shared_cause(&errors, &later);
    // Only the first frame is sniffed for HTTP; later, "HTTP" is a size.
    assert!(
        matches!(
            cause.as_ref(),
            Error::Protocol {
                source: gregor_protocol::Error::FrameTooLarge { .. },
                ..
            }
        ),
        "{cause:?}"
    );
}

#[tokio::test]
async fn a_close_fails_everything_in_flight() {
    let (errors, later) = timeout(PATIENCE, misbehave_mid_pipeline(Misbehavior::Close))
        .await
        .unwrap();
    let cause = shared_cause(&errors, &later);
    assert!(
        matches!(
            cause.as_ref(),
            Error::Closed {
                reason: CloseReason::ByPeer,
                ..
            }
        ),
        "{cause:?}"
    );
    assert!(
        later
            .to_string()
            .contains("the broker closed the connection")
    );
    assert!(later.is_retriable());
}

/// Connects to a server that answers the ApiVersions request with `reply`
/// (then closes if `close`, else holds on until the client leaves).
async fn connect_to_replier(reply: &'static [u8], close: bool) -> Error {
    let (listener, addr) = listener().await;
    let server = tokio::spawn(async move {
        let mut broker = accept(&listener).await;
        broker
            .read_request()
            .await
            .expect("the ApiVersions request");
        broker.write_raw(reply).await;
        if !close {
            broker.expect_eof().await;
        }
    });
    let result = timeout(PATIENCE, Connection::connect(addr, &test_config()))
        .await
        .expect("no hang");
    timeout(PATIENCE, server).await.unwrap().unwrap();
    result.expect_err("connect fails")
}

#[tokio::test]
async fn an_http_server_is_named_at_connect() {
    let err = connect_to_replier(b"HTTP/1.1 400 Bad Request\r\n\r\n", false).await;
    assert!(
        matches!(
            err,
            Error::Protocol {
                source: gregor_protocol::Error::NotKafka { .. },
                ..
            }
        ),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("does not speak Kafka") && text.contains("HTTP"),
        "{text}"
    );
}

#[tokio::test]
async fn a_tls_listener_is_named_at_connect() {
    let err = connect_to_replier(&[0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46], false).await;
    assert!(err.to_string().contains("TLS"), "{err}");
    assert!(!err.is_retriable());
}

#[tokio::test]
async fn a_close_during_the_handshake_fails_the_connect() {
    let err = connect_to_replier(b"", true).await;
    assert!(
        matches!(
            err,
            Error::Closed {
                reason: CloseReason::ByPeer,
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_connect_error() {
    let (listener, addr) = listener().await;
    drop(listener);
    let err = timeout(PATIENCE, Connection::connect(addr, &test_config()))
        .await
        .unwrap()
        .unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err:?}");
    assert!(err.is_retriable());
    assert!(
        err.to_string()
            .starts_with(&format!("could not connect to broker {addr}")),
        "{err}"
    );
}
