//! Against a real broker: the kafka-go style `Conn` writes, reads, seeks,
//! lists offsets and administers topics.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use gregor_net::conn::{Acks, Conn, Header, Message, TopicConfig, Whence};
use gregor_net::{Connector, Error};
use gregor_protocol::{Compression, ErrorCode};
use gregor_testkit::BrokerKind;

const TIMEOUT: Duration = Duration::from_secs(20);

fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("conn-{name}-{}-{nanos}", std::process::id())
}

/// Creates a fresh topic and returns a `Conn` bound to its partition 0.
async fn fresh_topic(bootstrap: &str, name: &str, partitions: i32) -> (String, Conn) {
    let connector = Connector::default();
    let topic = unique(name);
    let mut admin = Conn::dial(&connector, bootstrap).await.unwrap();
    admin.set_timeout(Some(TIMEOUT));
    admin
        .create_topics(&[TopicConfig::new(topic.as_str(), partitions, 1)])
        .await
        .unwrap();
    let mut conn = dial_leader_retrying(&connector, bootstrap, &topic, 0).await;
    conn.set_timeout(Some(TIMEOUT));
    (topic, conn)
}

/// A new topic's leader may take a moment to be elected.
async fn dial_leader_retrying(connector: &Connector, bootstrap: &str, topic: &str, p: i32) -> Conn {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        match Conn::dial_leader(connector, bootstrap, topic, p).await {
            Ok(conn) => return conn,
            Err(e) if e.is_retriable() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("dial_leader {topic}/{p}: {e}"),
        }
    }
}

/// Reads from the current offset until `n` messages arrived.
async fn read_n(conn: &mut Conn, n: usize) -> Vec<Message> {
    let mut out = Vec::new();
    while out.len() < n {
        let mut batch = conn.read_batch(1, 1 << 20).await.unwrap();
        out.extend(&mut batch);
        batch.close().unwrap();
    }
    assert_eq!(out.len(), n, "read more than written");
    out
}

fn b(s: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(s.as_bytes()))
}

fn at(ms: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms)
}

#[tokio::test]
async fn writes_and_reads_back_exactly() {
    let Some(bootstrap) = gregor_testkit::bootstrap("writes_and_reads_back_exactly") else {
        return;
    };
    let (topic, mut conn) = fresh_topic(&bootstrap, "exact", 1).await;
    assert_eq!(conn.offset(), Some(0));
    assert_eq!(conn.required_acks(), Acks::All);
    let written = [
        Message::new("k0", "v0")
            .with_header("h1", "x")
            .with_header("h1", "y")
            .with_time(at(1_700_000_000_000)),
        Message::value("no key").with_time(at(1_700_000_000_001)),
        Message::default()
            .with_key(b("tombstone"))
            .with_time(at(1_700_000_000_002)),
        {
            let mut m = Message::new("", "").with_time(at(1_700_000_000_003));
            m.headers.push(Header::null("null-header"));
            m
        },
    ];
    let result = conn.write_messages(&written).await.unwrap();
    assert_eq!(result.base_offset, Some(0));
    assert_eq!(result.count, 4);
    let more = conn
        .write_messages(&[Message::new("k4", "v4")])
        .await
        .unwrap();
    assert_eq!(more.base_offset, Some(4));

    let read = read_n(&mut conn, 5).await;
    for (i, (got, want)) in read.iter().zip(&written).enumerate() {
        assert_eq!(&*got.topic, topic);
        assert_eq!(got.partition, 0);
        assert_eq!(got.offset, i as i64);
        assert_eq!(got.key, want.key, "key of {i}");
        assert_eq!(got.value, want.value, "value of {i}");
        assert_eq!(got.headers, want.headers, "headers of {i}");
        assert_eq!(got.time, want.time, "time of {i}");
    }
    assert_eq!(read[4].key, b("k4"));
    assert!(read[4].time.is_some());
    assert_eq!(conn.offset(), Some(5));

    // Caught up: an empty batch after max wait, at the high watermark.
    let mut batch = conn.read_batch(1, 1 << 20).await.unwrap();
    assert_eq!(batch.high_watermark(), 5);
    assert_eq!(batch.offset(), 5);
    assert!(batch.next().is_none());

    // read_message reads one at a time, and a half-read batch leaves the
    // offset at the first message not seen.
    assert_eq!(conn.seek(0, Whence::First).await.unwrap(), 0);
    for i in 0..2 {
        let m = conn.read_message(1 << 20).await.unwrap();
        assert_eq!(m.offset, i);
        assert_eq!(m.value, written[i as usize].value);
    }
    {
        let mut batch = conn.read_batch(1, 1 << 20).await.unwrap();
        assert_eq!(batch.next().unwrap().offset, 2);
    }
    assert_eq!(conn.offset(), Some(3));
}

#[tokio::test]
async fn every_codec_round_trips() {
    let Some(bootstrap) = gregor_testkit::bootstrap("every_codec_round_trips") else {
        return;
    };
    let (_topic, mut conn) = fresh_topic(&bootstrap, "codecs", 1).await;
    let codecs = [
        Compression::None,
        Compression::GZIP,
        Compression::Snappy,
        Compression::Lz4,
        Compression::ZSTD,
    ];
    for (i, codec) in codecs.into_iter().enumerate() {
        let messages: Vec<Message> = (0..3)
            .map(|j| {
                Message::new(format!("{}-{j}", codec.name()), "x".repeat(100 * (j + 1)))
                    .with_header("codec", codec.name())
            })
            .collect();
        let w = if i % 2 == 0 {
            conn.set_compression(codec);
            conn.write_messages(&messages).await.unwrap()
        } else {
            conn.write_compressed_messages(codec, &messages)
                .await
                .unwrap()
        };
        assert_eq!(w.base_offset, Some(3 * i as i64), "{}", codec.name());
    }
    let read = read_n(&mut conn, 15).await;
    for (i, m) in read.iter().enumerate() {
        let codec = codecs[i / 3];
        let j = i % 3;
        assert_eq!(m.offset, i as i64);
        assert_eq!(m.key, b(&format!("{}-{j}", codec.name())));
        assert_eq!(m.value.as_ref().unwrap().len(), 100 * (j + 1));
        assert_eq!(m.headers, vec![Header::new("codec", codec.name())]);
    }

    // A fetch from the middle of a compressed batch gets the whole batch
    // back; the records before the offset are skipped.
    assert_eq!(conn.seek(7, Whence::Absolute).await.unwrap(), 7);
    let m = conn.read_message(1 << 20).await.unwrap();
    assert_eq!((m.offset, m.key), (7, b("snappy-1")));
    assert_eq!(conn.offset(), Some(8));
}

#[tokio::test]
async fn acks_none_is_fire_and_forget() {
    let Some(bootstrap) = gregor_testkit::bootstrap("acks_none_is_fire_and_forget") else {
        return;
    };
    let (_topic, mut conn) = fresh_topic(&bootstrap, "acks0", 1).await;
    conn.set_required_acks(Acks::None);
    for i in 0..3 {
        let w = conn
            .write_messages(&[Message::new(format!("k{i}"), format!("v{i}"))])
            .await
            .unwrap();
        assert_eq!((w.base_offset, w.count), (None, 1));
    }
    // The broker answers nothing, so wait for the writes to show.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while conn.read_last_offset().await.unwrap() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "acks=0 writes never landed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let read = read_n(&mut conn, 3).await;
    for (i, m) in read.iter().enumerate() {
        assert_eq!((m.offset, m.value.clone()), (i as i64, b(&format!("v{i}"))));
    }
    // The connection is still in step after requests without responses.
    conn.set_required_acks(Acks::Leader);
    let w = conn
        .write_messages(&[Message::value("acked")])
        .await
        .unwrap();
    assert_eq!(w.base_offset, Some(3));
}

#[tokio::test]
async fn seeks_and_offsets() {
    let Some(bootstrap) = gregor_testkit::bootstrap("seeks_and_offsets") else {
        return;
    };
    let (_topic, mut conn) = fresh_topic(&bootstrap, "seek", 1).await;
    assert_eq!(conn.read_offsets().await.unwrap(), (0, 0));
    let messages: Vec<Message> = (0..10).map(|i| Message::value(format!("m{i}"))).collect();
    conn.write_messages(&messages).await.unwrap();

    assert_eq!(conn.read_first_offset().await.unwrap(), 0);
    assert_eq!(conn.read_last_offset().await.unwrap(), 10);
    assert_eq!(conn.read_offsets().await.unwrap(), (0, 10));

    assert_eq!(conn.seek(5, Whence::Absolute).await.unwrap(), 5);
    assert_eq!(conn.read_message(1 << 20).await.unwrap().offset, 5);
    assert_eq!(conn.seek(0, Whence::Current).await.unwrap(), 6);
    assert_eq!(conn.seek(-2, Whence::Current).await.unwrap(), 4);
    assert_eq!(conn.seek(3, Whence::Current).await.unwrap(), 7);
    assert_eq!(conn.seek(2, Whence::First).await.unwrap(), 2);
    assert_eq!(conn.read_message(1 << 20).await.unwrap().value, b("m2"));
    assert_eq!(conn.seek(-1, Whence::Last).await.unwrap(), 9);
    assert_eq!(conn.read_message(1 << 20).await.unwrap().value, b("m9"));
    assert_eq!(conn.seek(0, Whence::Last).await.unwrap(), 10);
    assert_eq!(conn.offset(), Some(10));

    // Out of range: an error naming the partition, and the offset stays.
    for (offset, whence) in [
        (11, Whence::Absolute),
        (1, Whence::Last),
        (-1, Whence::First),
    ] {
        let err = conn.seek(offset, whence).await.unwrap_err();
        match &err {
            Error::OffsetOutOfRange {
                first,
                last,
                partition,
                ..
            } => assert_eq!((*first, *last, *partition), (0, 10, 0)),
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("partition 0"), "{err}");
        assert_eq!(conn.offset(), Some(10));
    }

    // Unchecked, Kafka says so on the next read.
    assert_eq!(conn.seek_unchecked(100).unwrap(), 100);
    match conn.read_batch(1, 1 << 20).await {
        Err(Error::Broker {
            code,
            topic,
            partition,
            ..
        }) => {
            assert_eq!(code, ErrorCode::OffsetOutOfRange);
            assert_eq!(topic.as_deref(), conn.topic());
            assert_eq!(partition, Some(0));
        }
        // Measured: nisshi 0.8.1 answers a fetch past the end with no
        // records and no error, as if waiting for offset 100 to be written.
        Ok(mut batch) if BrokerKind::current() == BrokerKind::Nisshi => {
            assert!(batch.next().is_none());
            assert_eq!(batch.high_watermark(), 10);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(conn.offset(), Some(100));
}

#[tokio::test]
async fn offset_for_a_timestamp() {
    let Some(bootstrap) = gregor_testkit::bootstrap("offset_for_a_timestamp") else {
        return;
    };
    let (_topic, conn) = fresh_topic(&bootstrap, "time", 1).await;
    let (t0, t1, t2) = (1_700_000_000_000, 1_700_000_010_000, 1_700_000_020_000);
    conn.write_messages(&[Message::value("before").with_time(at(t0 - 5))])
        .await
        .unwrap();
    for (i, t) in [t0, t1, t2].into_iter().enumerate() {
        conn.write_messages(&[Message::value(format!("at t{i}")).with_time(at(t))])
            .await
            .unwrap();
    }
    let find = |ms: u64| conn.read_offset_for_time(at(ms));
    assert_eq!(find(t1).await.unwrap(), Some(2));
    assert_eq!(find(t1 - 1).await.unwrap(), Some(2));
    assert_eq!(find(t1 + 1).await.unwrap(), Some(3));
    assert_eq!(find(t0).await.unwrap(), Some(1));
    assert_eq!(find(0).await.unwrap(), Some(0));
    assert_eq!(find(t2 + 1).await.unwrap(), None);
}

#[tokio::test]
async fn partitions_brokers_and_dial_partition() {
    let Some(bootstrap) = gregor_testkit::bootstrap("partitions_brokers_and_dial_partition") else {
        return;
    };
    let (topic, conn) = fresh_topic(&bootstrap, "parts", 3).await;
    let mut partitions = conn.read_partitions(&[&topic]).await.unwrap();
    partitions.sort_by_key(|p| p.partition);
    assert_eq!(
        partitions.iter().map(|p| p.partition).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    let brokers = conn.brokers().await.unwrap();
    assert!(!brokers.is_empty());
    for p in &partitions {
        assert_eq!(p.topic, topic);
        let leader = p.leader.as_ref().expect("a leader");
        assert!(brokers.contains(leader), "{leader:?} not in {brokers:?}");
        assert!(p.replicas.contains(&leader.id));
    }
    // With no topics, a bound connection lists its own topic.
    assert_eq!(conn.read_partitions(&[]).await.unwrap().len(), 3);
    let controller = conn.controller().await.unwrap();
    assert!(brokers.contains(&controller));

    let connector = Connector::default();
    let mut p2 = Conn::dial_partition(&connector, &partitions[2])
        .await
        .unwrap();
    p2.set_timeout(Some(TIMEOUT));
    assert_eq!(
        (p2.topic(), p2.partition()),
        (Some(topic.as_str()), Some(2))
    );
    p2.write_messages(&[Message::new("to", "two")])
        .await
        .unwrap();
    let m = read_n(&mut p2, 1).await.remove(0);
    assert_eq!((m.partition, m.offset, m.value), (2, 0, b("two")));
    // Partition 0 saw none of it.
    assert_eq!(conn.read_last_offset().await.unwrap(), 0);
}

#[tokio::test]
async fn delete_topics_removes_the_topic() {
    let Some(bootstrap) = gregor_testkit::bootstrap("delete_topics_removes_the_topic") else {
        return;
    };
    let (topic, conn) = fresh_topic(&bootstrap, "delete", 1).await;
    // Creating it again is not an error (kafka-go semantics).
    conn.create_topics(&[TopicConfig::new(topic.as_str(), 1, 1)])
        .await
        .unwrap();
    conn.delete_topics(&[&topic]).await.unwrap();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    loop {
        match conn.read_partitions(&[&topic]).await {
            Err(Error::Broker {
                code: ErrorCode::UnknownTopicOrPartition,
                topic: Some(t),
                ..
            }) => {
                assert_eq!(t, topic);
                break;
            }
            other => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "still there: {other:?}"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    let err = conn.delete_topics(&[&topic]).await.unwrap_err();
    assert!(err.to_string().contains(&topic), "{err}");
}

#[tokio::test]
async fn unknown_topic_is_named() {
    let Some(bootstrap) = gregor_testkit::bootstrap("unknown_topic_is_named") else {
        return;
    };
    let topic = unique("missing");
    let err = Conn::dial_leader(&Connector::default(), bootstrap.as_str(), &topic, 0)
        .await
        .unwrap_err();
    match &err {
        Error::Broker { code, topic: t, .. } => {
            assert_eq!(*code, ErrorCode::UnknownTopicOrPartition);
            assert_eq!(t.as_deref(), Some(topic.as_str()));
        }
        other => panic!("{other}"),
    }
    assert!(err.to_string().contains(&topic), "{err}");

    // A partition past the topic's last one is named too.
    let (existing, _) = fresh_topic(&bootstrap, "few", 1).await;
    let err = Conn::dial_leader(&Connector::default(), bootstrap.as_str(), &existing, 5)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::UnknownPartition { topic, partition: 5, partitions: 1, .. } if *topic == existing),
        "{err}"
    );
    assert!(err.to_string().contains(&existing), "{err}");

    // An unbound connection says so instead of guessing a partition.
    let mut unbound = Conn::dial(&Connector::default(), bootstrap.as_str())
        .await
        .unwrap();
    assert!(matches!(
        unbound.read_batch(1, 1024).await,
        Err(Error::Unbound {
            operation: "read_batch",
            ..
        })
    ));
    unbound.bind(&existing, 0).await.unwrap();
    assert_eq!(unbound.offset(), Some(0));
}

#[tokio::test]
async fn a_batch_larger_than_max_bytes_is_still_read() {
    let Some(bootstrap) = gregor_testkit::bootstrap("a_batch_larger_than_max_bytes_is_still_read")
    else {
        return;
    };
    let (_topic, mut conn) = fresh_topic(&bootstrap, "big", 1).await;
    let big = "z".repeat(200 * 1024);
    conn.write_messages(&[Message::new("big", big.clone()), Message::value("after")])
        .await
        .unwrap();
    // Whether the broker sends the oversized batch whole (KIP-74) or cut
    // off, the read returns it instead of looping or failing.
    let mut batch = conn.read_batch(1, 1000).await.unwrap();
    let m = batch.next().expect("the big message");
    assert_eq!(m.value.as_ref().map(Bytes::len), Some(big.len()));
    assert_eq!(batch.next().map(|m| m.offset), Some(1));
}

// Against a scripted broker: what the real one cannot be made to do.

mod support;

mod scripted {
    use bytes::Bytes;
    use gregor_net::Error;
    use gregor_net::conn::Conn;
    use gregor_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
    use gregor_protocol::messages::list_offsets_response::{
        ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
    };
    use gregor_protocol::messages::metadata_response::{
        MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
    };
    use gregor_protocol::messages::{
        FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse, MetadataRequest,
        MetadataResponse, RequestHeader,
    };
    use gregor_protocol::records::RecordBatchBuilder;
    use gregor_protocol::{StrBytes, Uuid};
    use tokio::io::DuplexStream;

    use super::support::{FakeBroker, PATIENCE, connect_duplex, full_table, test_config};

    type Broker = FakeBroker<DuplexStream>;

    /// A `Conn` bound to `t` partition 0 at offset 0, through a broker that
    /// gives no topic id (as before Kafka 2.8), and that broker.
    async fn bound() -> (Conn, Broker) {
        let (connection, mut broker) = connect_duplex(&full_table(), &test_config()).await;
        let mut conn = Conn::from_connection(connection);
        let server = async {
            let (h, _) = broker.read::<MetadataRequest>().await;
            let md = MetadataResponse::default()
                .with_brokers(vec![
                    MetadataResponseBroker::default()
                        .with_node_id(1)
                        .with_host(StrBytes::from("fake"))
                        .with_port(9092),
                ])
                .with_topics(vec![
                    MetadataResponseTopic::default()
                        .with_name(Some(StrBytes::from("t")))
                        .with_topic_id(Uuid::ZERO)
                        .with_partitions(vec![
                            MetadataResponsePartition::default()
                                .with_partition_index(0)
                                .with_leader_id(1),
                        ]),
                ]);
            broker.respond::<MetadataRequest>(&h, &md).await;
            let (h, req) = broker.read::<ListOffsetsRequest>().await;
            assert_eq!(req.topics[0].partitions[0].timestamp, -2, "first offset");
            let lo = ListOffsetsResponse::default().with_topics(vec![
                ListOffsetsTopicResponse::default()
                    .with_name(StrBytes::from("t"))
                    .with_partitions(vec![
                        ListOffsetsPartitionResponse::default()
                            .with_partition_index(0)
                            .with_offset(0),
                    ]),
            ]);
            broker.respond::<ListOffsetsRequest>(&h, &lo).await;
        };
        let (bound, ()) = tokio::join!(conn.bind("t", 0), server);
        bound.unwrap();
        (conn, broker)
    }

    fn big_batch() -> Bytes {
        let mut b = RecordBatchBuilder::new();
        b.append(1, Some(b"k"), Some(&[7; 5000][..]), &[]).unwrap();
        b.build().unwrap()
    }

    /// Reads a Fetch and returns its header and partition limit; without a
    /// topic id the fetch must name the topic, so at most v12.
    async fn read_fetch(broker: &mut Broker) -> (RequestHeader, i32) {
        let (h, req) = broker.read::<FetchRequest>().await;
        assert_eq!(h.request_api_version, 12, "fetch by name");
        assert_eq!(&*req.topics[0].topic, "t");
        let p = &req.topics[0].partitions[0];
        assert_eq!(p.fetch_offset, 0);
        (h, p.partition_max_bytes)
    }

    async fn answer(broker: &mut Broker, h: &RequestHeader, records: Bytes) {
        let resp = FetchResponse::default().with_responses(vec![
            FetchableTopicResponse::default()
                .with_topic(StrBytes::from("t"))
                .with_partitions(vec![
                    PartitionData::default()
                        .with_partition_index(0)
                        .with_high_watermark(1)
                        .with_records(Some(records)),
                ]),
        ]);
        broker.respond::<FetchRequest>(h, &resp).await;
    }

    #[tokio::test]
    async fn a_cut_batch_grows_the_fetch_to_its_size() {
        let (mut conn, mut broker) = bound().await;
        let batch = big_batch();
        let server = async {
            let (h, max) = read_fetch(&mut broker).await;
            assert_eq!(max, 100);
            answer(&mut broker, &h, batch.slice(..60)).await;
            let (h, max) = read_fetch(&mut broker).await;
            assert_eq!(max as usize, batch.len(), "grown to the batch's size");
            answer(&mut broker, &h, batch.clone()).await;
        };
        let (read, ()) = tokio::time::timeout(PATIENCE, async {
            tokio::join!(
                async {
                    let mut b = conn.read_batch(1, 100).await?;
                    Ok::<_, Error>(b.next())
                },
                server
            )
        })
        .await
        .unwrap();
        let m = read.unwrap().expect("the message");
        assert_eq!((m.offset, m.value.map(|v| v.len())), (0, Some(5000)));
        assert_eq!(conn.offset(), Some(1));
    }

    #[tokio::test]
    async fn a_batch_that_never_completes_is_record_too_large() {
        let (mut conn, mut broker) = bound().await;
        let batch = big_batch();
        let server = async {
            // However much is asked for, the broker cuts at 60 bytes.
            for _ in 0..2 {
                let (h, _) = read_fetch(&mut broker).await;
                answer(&mut broker, &h, batch.slice(..60)).await;
            }
        };
        let (read, ()) = tokio::time::timeout(PATIENCE, async {
            tokio::join!(conn.read_batch(1, 100), server)
        })
        .await
        .unwrap();
        let err = read.unwrap_err();
        match &err {
            Error::RecordTooLarge {
                topic,
                partition,
                offset,
                size,
                ..
            } => {
                assert_eq!((topic.as_str(), *partition, *offset), ("t", 0, 0));
                assert_eq!(*size, Some(batch.len()));
            }
            other => panic!("{other}"),
        }
        assert!(err.to_string().contains("topic t partition 0"), "{err}");
        assert_eq!(conn.offset(), Some(0), "nothing was read");
    }

    #[tokio::test]
    async fn a_batch_beyond_the_frame_limit_fails_at_once() {
        let (mut conn, mut broker) = bound().await;
        // Base offset 0, then a length of 1 GiB: bigger than any fetch.
        let mut head = vec![0u8; 8];
        head.extend_from_slice(&(1i32 << 30).to_be_bytes());
        head.extend_from_slice(&[0; 20]);
        let server = async {
            let (h, _) = read_fetch(&mut broker).await;
            answer(&mut broker, &h, Bytes::from(head)).await;
        };
        let (read, ()) = tokio::time::timeout(PATIENCE, async {
            tokio::join!(conn.read_batch(1, 100), server)
        })
        .await
        .unwrap();
        assert!(
            matches!(read, Err(Error::RecordTooLarge { size: Some(s), .. }) if s == (1 << 30) + 12),
            "{read:?}"
        );
    }

    #[tokio::test]
    async fn corrupt_records_name_the_partition() {
        let (mut conn, mut broker) = bound().await;
        let mut bad = big_batch().to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        let server = async {
            let (h, _) = read_fetch(&mut broker).await;
            answer(&mut broker, &h, Bytes::from(bad)).await;
        };
        let (read, ()) = tokio::time::timeout(PATIENCE, async {
            tokio::join!(conn.read_batch(1, 1 << 20), server)
        })
        .await
        .unwrap();
        let err = read.unwrap_err();
        assert!(
            matches!(&err, Error::CorruptRecords { topic, partition: 0, offset: 0, .. } if topic == "t"),
            "{err}"
        );
        assert!(!err.is_retriable());
    }
}
