//! The consumer against the real broker: manual assignment, seeks (by
//! offset, edge and timestamp), pause and resume, lag, and the stream.

mod it_consumer_support;

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::StreamExt;
use gregor_client::Error;
use gregor_client::consumer::{Consumer, ConsumerConfig, Offset, OffsetReset, TopicPartition};
use gregor_net::conn::Message;
use gregor_protocol::messages::DeleteRecordsRequest;
use gregor_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use gregor_testkit::BrokerKind;
use it_consumer_support::*;

/// Polls until `tp`'s position is `expected` (it is resolved in the
/// background).
async fn wait_position(consumer: &Consumer, tp: &TopicPartition, expected: i64) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while consumer.position(tp) != Some(expected) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "position of {tp} is {:?}, not {expected}",
            consumer.position(tp)
        );
        assert!(
            consumer
                .poll_batch(10, Duration::from_millis(50))
                .await
                .unwrap()
                .is_empty()
        );
    }
}

/// Polls until `n` records came (or the timeout).
async fn poll_n(consumer: &Consumer, n: usize) -> Vec<gregor_client::consumer::ConsumerRecord> {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    let mut out = Vec::new();
    while out.len() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} of {n} records came",
            out.len()
        );
        out.extend(
            consumer
                .poll_batch(n - out.len(), Duration::from_millis(500))
                .await
                .unwrap(),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn assigned_partitions_read_from_the_start_and_lag_reaches_zero() {
    let Some(bootstrap) = gregor_testkit::bootstrap("assigned partitions") else {
        return;
    };
    let topic = unique("assign");
    create_topic(&bootstrap, &topic, 3).await;
    produce_keyed(&bootstrap, &topic, 3, 0..300).await;

    let config = ConsumerConfig::builder()
        .offset_reset(OffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .unwrap();
    let consumer = Consumer::new(cluster(&bootstrap).await, config);
    consumer.assign(partitions(&topic, 3)).unwrap();
    let records = poll_n(&consumer, 300).await;
    // Each partition's records in offset order, keys as written.
    let mut per: BTreeMap<i32, Vec<i64>> = BTreeMap::new();
    for r in &records {
        per.entry(r.partition).or_default().push(r.offset);
        let i: u64 = key(r)[1..].parse().unwrap();
        assert_eq!(i % 3, r.partition as u64);
        assert_eq!(r.value_bytes(), format!("v{i}").as_bytes());
    }
    for (p, offsets) in &per {
        assert_eq!(*offsets, (0..100).collect::<Vec<i64>>(), "partition {p}");
    }
    for tp in partitions(&topic, 3) {
        assert_eq!(consumer.position(&tp), Some(100));
        assert_eq!(consumer.lag(&tp), Some(0));
        assert_eq!(consumer.read_lag(&tp).await.unwrap(), 0);
    }
    // Nothing more: the fetcher long-polls, in an incremental fetch
    // session where the broker has them. Measured: nisshi 0.8.1 never
    // opens a session (it answers session id 0), so the fetcher stays on
    // full fetches there; the fake broker test covers sessions.
    assert!(
        consumer
            .poll_batch(10, Duration::from_millis(600))
            .await
            .unwrap()
            .is_empty()
    );
    let stats = consumer.stats();
    if BrokerKind::current() == BrokerKind::Nisshi {
        assert_eq!(stats.incremental_fetches, 0, "{stats:?}");
    } else {
        assert!(
            stats.incremental_fetches > 0,
            "fetch sessions in use: {stats:?}"
        );
    }
    assert_eq!(stats.fetch_session_resets, 0);
    assert_eq!(stats.messages, 300);
    assert!(stats.fetches > 0);
    assert_eq!(stats.assigned_partitions, 3);
    assert_eq!(stats.queue_length, 0);
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seek_by_offset_edge_and_timestamp() {
    let Some(bootstrap) = gregor_testkit::bootstrap("seek") else {
        return;
    };
    let topic = unique("seek");
    create_topic(&bootstrap, &topic, 1).await;
    // Ten records one second apart, in the past.
    let base = SystemTime::now() - Duration::from_secs(3600);
    let messages: Vec<Message> = (0..10)
        .map(|i| {
            Message::new(Bytes::from(format!("k{i}")), Bytes::from(format!("v{i}")))
                .with_time(base + Duration::from_secs(i))
        })
        .collect();
    produce(&bootstrap, &topic, 0, &messages).await;

    let config = ConsumerConfig::builder()
        .offset_reset(OffsetReset::Latest)
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .unwrap();
    let consumer = Consumer::new(cluster(&bootstrap).await, config);
    let tp = TopicPartition::new(topic.as_str(), 0);
    consumer.assign([tp.clone()]).unwrap();
    // Latest: nothing to read.
    assert!(
        consumer
            .poll_batch(10, Duration::from_millis(500))
            .await
            .unwrap()
            .is_empty()
    );
    wait_position(&consumer, &tp, 10).await;

    consumer
        .seek(
            &tp,
            Offset::ForTimestamp(base + Duration::from_millis(6500)),
        )
        .unwrap();
    let r = poll_n(&consumer, 1).await;
    assert_eq!(r[0].offset, 7, "the first record at or after the time");
    assert_eq!(
        r[0].timestamp,
        gregor_client_millis(base + Duration::from_secs(7))
    );

    consumer.seek(&tp, Offset::At(3)).unwrap();
    assert_eq!(consumer.position(&tp), Some(3));
    assert_eq!(poll_n(&consumer, 1).await[0].offset, 3);

    consumer.seek(&tp, Offset::Earliest).unwrap();
    let all = poll_n(&consumer, 10).await;
    assert_eq!(
        all.iter().map(|r| r.offset).collect::<Vec<_>>(),
        (0..10).collect::<Vec<_>>()
    );

    // After the last record: the end of the log.
    consumer
        .seek(&tp, Offset::ForTimestamp(SystemTime::now()))
        .unwrap();
    assert!(
        consumer
            .poll_batch(10, Duration::from_millis(500))
            .await
            .unwrap()
            .is_empty()
    );
    wait_position(&consumer, &tp, 10).await;

    // Seeking a partition not assigned is refused, naming it.
    let other = TopicPartition::new(topic.as_str(), 5);
    let err = consumer.seek(&other, Offset::At(0)).unwrap_err();
    assert!(matches!(err, Error::IllegalState { .. }), "{err}");
    assert!(err.to_string().contains(&format!("{topic}-5")), "{err}");
    consumer.close().await.unwrap();
}

fn gregor_client_millis(t: SystemTime) -> i64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_resume_and_lag_against_the_broker() {
    let Some(bootstrap) = gregor_testkit::bootstrap("pause") else {
        return;
    };
    let topic = unique("pause");
    create_topic(&bootstrap, &topic, 2).await;
    produce_keyed(&bootstrap, &topic, 2, 0..40).await;
    let config = ConsumerConfig::builder()
        .offset_reset(OffsetReset::Earliest)
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .unwrap();
    let consumer = Consumer::new(cluster(&bootstrap).await, config);
    let (p0, p1) = (
        TopicPartition::new(topic.as_str(), 0),
        TopicPartition::new(topic.as_str(), 1),
    );
    consumer.assign([p0.clone(), p1.clone()]).unwrap();
    consumer.pause(std::slice::from_ref(&p1)).unwrap();
    assert_eq!(
        consumer.paused(),
        std::collections::BTreeSet::from([p1.clone()])
    );
    let got = poll_n(&consumer, 20).await;
    assert!(got.iter().all(|r| r.partition == 0));
    // Nothing from the paused partition, however long we wait.
    assert!(
        consumer
            .poll_batch(10, Duration::from_millis(700))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(consumer.lag(&p0), Some(0));
    // The paused partition's lag is known once its position is; ask the
    // broker for it.
    wait_position(&consumer, &p1, 0).await;
    assert_eq!(consumer.read_lag(&p1).await.unwrap(), 20);

    // More data arrives: the lag of the running partition follows the
    // high watermark as it is fetched.
    produce_keyed(&bootstrap, &topic, 2, 40..60).await;
    assert_eq!(poll_n(&consumer, 10).await.len(), 10);
    assert_eq!(consumer.read_lag(&p1).await.unwrap(), 30);

    consumer.resume(std::slice::from_ref(&p1)).unwrap();
    let rest = poll_n(&consumer, 30).await;
    assert!(rest.iter().all(|r| r.partition == 1));
    assert_eq!(consumer.lag(&p1), Some(0));
    assert_eq!(consumer.stats().lag, 0);
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_yields_every_record_and_ends_on_close() {
    let Some(bootstrap) = gregor_testkit::bootstrap("stream") else {
        return;
    };
    let topic = unique("stream");
    create_topic(&bootstrap, &topic, 4).await;
    produce_keyed(&bootstrap, &topic, 4, 0..1000).await;
    let config = ConsumerConfig::builder()
        .offset_reset(OffsetReset::Earliest)
        // A small budget: prefetching pauses and resumes as records go.
        .prefetch_budget(16 * 1024)
        .partition_max_bytes(4 * 1024)
        .fetch_max_wait(Duration::from_millis(100))
        .build()
        .unwrap();
    let consumer = Consumer::new(cluster(&bootstrap).await, config);
    consumer.assign(partitions(&topic, 4)).unwrap();
    let keys: Vec<String> = tokio::time::timeout(
        TIMEOUT,
        consumer
            .stream()
            .take(1000)
            .map(|r| key(&r.unwrap()))
            .collect::<Vec<_>>(),
    )
    .await
    .expect("1000 records in time");
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 1000);
    assert!(consumer.stats().queue_bytes <= 16 * 1024 + 4 * 1024);
    let handle = consumer.handle();
    consumer.close().await.unwrap();
    assert!(handle.commit().await.is_err(), "closed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_policy_none_names_the_partition() {
    let Some(bootstrap) = gregor_testkit::bootstrap("reset none") else {
        return;
    };
    let topic = unique("none");
    create_topic(&bootstrap, &topic, 1).await;
    produce_keyed(&bootstrap, &topic, 1, 0..5).await;
    let group = unique("none-group");
    let config = ConsumerConfig::builder()
        .group_id(group.as_str())
        .offset_reset(OffsetReset::None)
        .enable_auto_commit(false)
        .build()
        .unwrap();
    let consumer = Consumer::new(cluster(&bootstrap).await, config);
    let tp = TopicPartition::new(topic.as_str(), 0);
    consumer.assign([tp.clone()]).unwrap();
    let err = consumer.poll_batch(10, TIMEOUT).await.unwrap_err();
    match &err {
        Error::NoOffset {
            group: g,
            topic: t,
            partition,
        } => {
            assert_eq!(g.as_deref(), Some(group.as_str()));
            assert_eq!((t.as_str(), *partition), (topic.as_str(), 0));
        }
        other => panic!("expected NoOffset, got {other}"),
    }
    assert!(err.to_string().contains(&topic), "{err}");
    // A seek gets it going; a commit then makes it resumable.
    consumer.seek(&tp, Offset::At(2)).unwrap();
    assert_eq!(poll_n(&consumer, 3).await[0].offset, 2);
    consumer.commit().await.unwrap();
    let committed = consumer.committed(std::slice::from_ref(&tp)).await.unwrap();
    assert_eq!(committed[&tp].as_ref().map(|o| o.offset), Some(5));
    consumer.close().await.unwrap();

    // Out of range with policy none: an error naming the offset. The log
    // start moves past offset 1 (DeleteRecords), then a fetch asks for it.
    // (A fetch past the end would do on Kafka, but nisshi 0.8.1 answers
    // that with no records and no error.)
    let cl = cluster(&bootstrap).await;
    let deleted = cl
        .send_to_leader(
            &topic,
            0,
            &DeleteRecordsRequest::default()
                .with_timeout_ms(10_000)
                .with_topics(vec![
                    DeleteRecordsTopic::default()
                        .with_name(topic.as_str())
                        .with_partitions(vec![
                            DeleteRecordsPartition::default()
                                .with_partition_index(0)
                                .with_offset(3),
                        ]),
                ]),
        )
        .await
        .unwrap();
    assert_eq!(deleted.topics[0].partitions[0].error_code, 0);
    let config = ConsumerConfig::builder()
        .group_id(group.as_str())
        .offset_reset(OffsetReset::None)
        .build()
        .unwrap();
    let consumer = Consumer::new(cl.clone(), config);
    consumer.assign([tp.clone()]).unwrap();
    consumer.seek(&tp, Offset::At(1)).unwrap();
    let err = consumer.poll_batch(10, TIMEOUT).await.unwrap_err();
    assert!(
        matches!(err, Error::OffsetOutOfRange { offset: 1, .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&format!("{topic}-0")), "{err}");
    drop(consumer);
    // Policy earliest resets to the new log start instead.
    let config = ConsumerConfig::builder()
        .offset_reset(OffsetReset::Earliest)
        .build()
        .unwrap();
    let consumer = Consumer::new(cl, config);
    consumer.assign([tp.clone()]).unwrap();
    consumer.seek(&tp, Offset::At(1)).unwrap();
    assert_eq!(poll_n(&consumer, 2).await[0].offset, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_topic_is_reported_by_name() {
    let Some(bootstrap) = gregor_testkit::bootstrap("missing topic") else {
        return;
    };
    let topic = unique("missing");
    let config = ConsumerConfig::builder().build().unwrap();
    let consumer = Consumer::new(cluster(&bootstrap).await, config);
    consumer
        .assign([TopicPartition::new(topic.as_str(), 0)])
        .unwrap();
    let err = consumer.poll_batch(10, TIMEOUT).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnknownTopic { topic: t, .. } if *t == topic),
        "{err}"
    );
    assert!(err.is_retriable());
}
