//! Pipelining, cancellation, timeouts and closing, against a scripted fake
//! broker over an in-memory pipe.

mod support;

use std::sync::Arc;
use std::time::Duration;

use gregor_net::{CloseReason, Connection, Error};
use gregor_protocol::messages::{MetadataRequest, ProduceRequest};
use gregor_protocol::{ApiKey, Message};
use support::{
    PATIENCE, connect_duplex, full_table, request_tag, response_tag, tagged_request,
    tagged_response, test_config,
};
use tokio::task::JoinSet;
use tokio::time::timeout;

fn config_with(
    f: impl FnOnce(gregor_net::ConnectionConfigBuilder) -> gregor_net::ConnectionConfigBuilder,
) -> gregor_net::ConnectionConfig {
    f(test_config().to_builder()).build().unwrap()
}

#[test]
fn connection_is_a_shareable_handle() {
    fn assert_traits<T: Clone + Send + Sync + 'static>() {}
    assert_traits::<Connection>();
    assert_traits::<Error>();
}

/// Spawns one tagged request per tag; each task checks it got its own answer.
fn spawn_tagged(
    conn: &Connection,
    tags: impl IntoIterator<Item = String>,
) -> Vec<tokio::task::JoinHandle<()>> {
    tags.into_iter()
        .map(|tag| {
            let conn = conn.clone();
            tokio::spawn(async move {
                let resp = conn.send(&tagged_request(&tag)).await.expect("response");
                assert_eq!(response_tag(&resp), tag);
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_concurrent_requests_all_get_their_own_response() {
    let config = config_with(|b| b.max_in_flight(100));
    let (conn, mut broker) = connect_duplex(&full_table(), &config).await;
    let tasks = spawn_tagged(&conn, (0..100).map(|i| format!("topic-{i}")));

    // Read every request before answering any, then answer in order.
    let mut headers = Vec::new();
    for _ in 0..100 {
        let (header, req) = timeout(PATIENCE, broker.read::<MetadataRequest>())
            .await
            .unwrap();
        assert_eq!(header.request_api_version, MetadataRequest::VERSIONS.max);
        headers.push((header, request_tag(&req)));
    }
    assert_eq!(conn.in_flight(), 100);
    let mut ids: Vec<i32> = headers.iter().map(|(h, _)| h.correlation_id).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 100, "correlation ids are unique");
    for (header, tag) in &headers {
        broker
            .respond::<MetadataRequest>(header, &tagged_response(tag))
            .await;
    }
    for t in tasks {
        timeout(PATIENCE, t).await.unwrap().unwrap();
    }
    assert_eq!(conn.in_flight(), 0);
    assert!(!conn.is_dead());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_half_the_requests_in_flight_leaves_the_rest_correct() {
    let config = config_with(|b| b.max_in_flight(100));
    let (conn, mut broker) = connect_duplex(&full_table(), &config).await;
    let tasks = spawn_tagged(&conn, (0..100).map(|i| format!("t{i}")));

    let mut headers = Vec::new();
    for _ in 0..100 {
        let (header, req) = timeout(PATIENCE, broker.read::<MetadataRequest>())
            .await
            .unwrap();
        headers.push((header, request_tag(&req)));
    }
    // Every request is on the wire; cancel every other caller.
    let mut kept = Vec::new();
    for (i, t) in tasks.into_iter().enumerate() {
        if i % 2 == 0 {
            t.abort();
            assert!(t.await.unwrap_err().is_cancelled());
        } else {
            kept.push(t);
        }
    }
    assert_eq!(
        conn.in_flight(),
        100,
        "cancelled requests still await their responses"
    );
    for (header, tag) in &headers {
        broker
            .respond::<MetadataRequest>(header, &tagged_response(tag))
            .await;
    }
    for t in kept {
        timeout(PATIENCE, t).await.unwrap().unwrap();
    }
    // The discarded responses were consumed and the connection still works.
    let server = broker.echo(1);
    let req = tagged_request("after");
    let (resp, _) = tokio::join!(conn.send(&req), server);
    assert_eq!(response_tag(&resp.unwrap()), "after");
    assert_eq!(conn.in_flight(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_at_any_point_never_corrupts_the_stream() {
    // Few slots, so callers are cancelled while waiting for a slot, while
    // queued, and while their request is on the wire.
    let config = config_with(|b| b.max_in_flight(4));
    let (conn, mut broker) = connect_duplex(&full_table(), &config).await;
    let server = tokio::spawn(async move {
        let answered = broker.echo(usize::MAX).await;
        (answered, broker)
    });
    let mut set = JoinSet::new();
    for i in 0..200u64 {
        let conn = conn.clone();
        set.spawn(async move {
            let tag = format!("c{i}");
            let req = tagged_request(&tag);
            let send = conn.send(&req);
            if i % 2 == 0 {
                // Give up after a varying moment.
                let patience = Duration::from_micros((i * 37) % 700);
                if let Ok(resp) = timeout(patience, send).await {
                    assert_eq!(response_tag(&resp.unwrap()), tag);
                }
            } else {
                assert_eq!(response_tag(&send.await.unwrap()), tag);
            }
        });
    }
    while let Some(done) = timeout(PATIENCE, set.join_next()).await.unwrap() {
        done.unwrap();
    }
    timeout(PATIENCE, async {
        while conn.in_flight() > 0 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    assert!(!conn.is_dead());
    drop(conn);
    let (answered, _) = timeout(PATIENCE, server).await.unwrap().unwrap();
    assert!((100..=200).contains(&answered), "{answered}");
}

#[tokio::test]
async fn a_request_timeout_fails_it_and_closes_the_connection() {
    let config = config_with(|b| b.request_timeout(Duration::from_millis(500)));
    let (conn, mut broker) = connect_duplex(&full_table(), &config).await;
    let tasks: Vec<_> = (0..3)
        .map(|i| {
            let conn = conn.clone();
            tokio::spawn(async move { conn.send(&tagged_request(&format!("x{i}"))).await })
        })
        .collect();
    // Read the requests but never answer.
    for _ in 0..3 {
        broker.read::<MetadataRequest>().await;
    }
    let mut errors = Vec::new();
    for t in tasks {
        errors.push(timeout(PATIENCE, t).await.unwrap().unwrap().unwrap_err());
    }
    let timed_out: Vec<_> = errors
        .iter()
        .filter(|e| {
            matches!(
                e,
                Error::Timeout {
                    sent: true,
                    api: ApiKey::Metadata,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(
        timed_out.len(),
        1,
        "the oldest request times out: {errors:?}"
    );
    assert!(timed_out[0].to_string().contains("timed out after 500ms"));
    for e in &errors {
        assert!(e.is_retriable());
        assert!(matches!(e.root(), Error::Timeout { .. }), "{e:?}");
    }
    assert!(conn.is_dead());
    assert!(broker.read_request().await.is_none(), "connection closed");

    // The others, and later requests, fail with one shared cause.
    let later = conn.send(&MetadataRequest::default()).await.unwrap_err();
    let causes: Vec<_> = errors
        .iter()
        .chain([&later])
        .filter_map(|e| match e {
            Error::Dead { cause } => Some(cause.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(causes.len(), 3);
    assert!(causes.iter().all(|c| Arc::ptr_eq(c, &causes[0])));
}

#[tokio::test]
async fn waiting_for_a_slot_counts_against_the_timeout_but_spares_the_connection() {
    let config = config_with(|b| {
        b.max_in_flight(1)
            .request_timeout(Duration::from_millis(300))
    });
    let (conn, mut broker) = support::connect_duplex_sized(&full_table(), &config, 256).await;
    // A one-way request too big for the pipe holds the only slot while the
    // broker is not reading.
    let big = ProduceRequest::default()
        .with_acks(0)
        .with_transactional_id(Some("x".repeat(20_000).into()));
    let blocked = tagged_request("blocked");
    let (a, b) = tokio::join!(conn.send_no_response(&big), conn.send(&blocked));
    let (a, b) = (a.unwrap_err(), b.unwrap_err());
    assert!(matches!(a, Error::Timeout { sent: true, .. }), "{a:?}");
    assert!(matches!(b, Error::Timeout { sent: false, .. }), "{b:?}");
    assert!(b.to_string().contains("never sent"), "{b}");
    assert!(!conn.is_dead(), "nothing half-done on the wire");

    // Once the broker reads, the queued frame completes and the slot frees.
    let server = async {
        let (_, req) = broker.read::<ProduceRequest>().await;
        assert_eq!(req.transactional_id.as_deref().map(str::len), Some(20_000));
        broker.echo(1).await
    };
    let after = tagged_request("after");
    let (resp, _) = tokio::join!(conn.send(&after), server);
    assert_eq!(response_tag(&resp.unwrap()), "after");
}

#[tokio::test]
async fn requests_without_a_response_do_not_disturb_the_others() {
    let (conn, mut broker) = connect_duplex(&full_table(), &test_config()).await;
    let produce = ProduceRequest::default().with_acks(0).with_timeout_ms(1000);
    timeout(PATIENCE, conn.send_no_response(&produce))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conn.in_flight(), 0);
    let (header, req) = broker.read::<ProduceRequest>().await;
    assert_eq!(req.acks, 0);
    assert_eq!(header.request_api_version, ProduceRequest::VERSIONS.max);

    let server = broker.echo(1);
    let req = tagged_request("next");
    let (resp, _) = tokio::join!(conn.send(&req), server);
    assert_eq!(response_tag(&resp.unwrap()), "next");
}

#[tokio::test]
async fn an_idle_connection_closes_itself() {
    let config = config_with(|b| b.idle_timeout(Some(Duration::from_millis(600))));
    let (conn, mut broker) = connect_duplex(&full_table(), &config).await;
    // Activity postpones the idle close.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let req = tagged_request("a");
    let (resp, _) = tokio::join!(conn.send(&req), broker.echo(1));
    resp.unwrap();
    assert!(!conn.is_dead());

    let cause = timeout(PATIENCE, conn.closed()).await.unwrap();
    assert!(
        matches!(
            cause.as_ref(),
            Error::Closed {
                reason: CloseReason::Idle(_),
                ..
            }
        ),
        "{cause:?}"
    );
    assert!(cause.to_string().contains("idle for 600ms"), "{cause}");
    broker.expect_eof().await;
    let err = conn.send(&MetadataRequest::default()).await.unwrap_err();
    assert!(err.is_retriable(), "a pool just reconnects: {err}");
}

#[tokio::test]
async fn dropping_every_handle_closes_the_stream() {
    let (conn, mut broker) = connect_duplex(&full_table(), &test_config()).await;
    let other = conn.clone();
    drop(conn);
    assert!(!other.is_dead(), "a clone keeps it open");
    drop(other);
    broker.expect_eof().await;
}

#[tokio::test]
async fn close_fails_the_requests_in_flight() {
    let (conn, mut broker) = connect_duplex(&full_table(), &test_config()).await;
    let task = {
        let conn = conn.clone();
        tokio::spawn(async move { conn.send(&tagged_request("z")).await })
    };
    broker.read::<MetadataRequest>().await;
    conn.close();
    let err = timeout(PATIENCE, task).await.unwrap().unwrap().unwrap_err();
    assert!(
        matches!(
            err.root(),
            Error::Closed {
                reason: CloseReason::ByClient,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("closed by this client"), "{err}");
    broker.expect_eof().await;
}

#[tokio::test]
async fn an_undecodable_response_fails_the_request_and_the_connection() {
    let (conn, mut broker) = connect_duplex(&full_table(), &test_config()).await;
    let server = async {
        let (header, _) = broker.read::<MetadataRequest>().await;
        // The right correlation id, then a body that is not a MetadataResponse.
        let mut frame = Vec::new();
        frame.extend_from_slice(&8i32.to_be_bytes());
        frame.extend_from_slice(&header.correlation_id.to_be_bytes());
        // An empty tagged-field section ends the flexible header.
        frame.push(0);
        frame.extend_from_slice(&[0xff, 0xff, 0xff]);
        broker.write_raw(&frame).await;
    };
    let req = tagged_request("q");
    let (resp, ()) = tokio::join!(conn.send(&req), server);
    let err = resp.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Protocol {
                api: Some(ApiKey::Metadata),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("MetadataResponse"), "{err}");
    assert!(conn.is_dead());
    broker.expect_eof().await;
}
