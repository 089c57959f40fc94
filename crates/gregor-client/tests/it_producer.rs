//! The producer against a real broker: sync and async sends land where
//! the partitioner says, in order; reports, flush and close; bad input
//! fails clearly without losing anything else.

mod it_producer_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use gregor_client::Error;
use gregor_client::producer::partitioner::{Murmur2, Partitioner, PartitionerContext};
use gregor_client::producer::{
    Acks, Persistence, ProduceErrorKind, Producer, ProducerConfig, ProducerRecord,
};
use it_producer_support::{cluster, create_topic, read_all, unique};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_and_async_sends_land_where_murmur2_says_in_order() {
    let Some(bootstrap) = gregor_testkit::bootstrap("sync_and_async_sends") else {
        return;
    };
    let topic = unique("basic");
    create_topic(&bootstrap, &topic, 3).await;
    let producer = Producer::new(cluster(&bootstrap).await, ProducerConfig::default());

    // Synchronous: one at a time.
    let meta = producer
        .send(ProducerRecord::to(topic.clone()).key("k-0").value("first"))
        .await
        .unwrap();
    let all: Vec<i32> = (0..3).collect();
    let cx = PartitionerContext::new(&topic, 3, &all);
    assert_eq!(
        Some(meta.partition),
        Murmur2.partition(Some(b"k-0"), None, &cx)
    );
    assert_eq!(meta.offset, Some(0));

    // Asynchronous: queue 3000, then await.
    let mut deliveries = Vec::new();
    for i in 1..3000u32 {
        let key = format!("k-{}", i % 50);
        let record = ProducerRecord::to(topic.clone())
            .key(key)
            .value(format!("v-{i}"));
        deliveries.push(producer.enqueue(record).await.unwrap());
    }
    let mut last = [-1i64; 3];
    for (i, d) in deliveries.into_iter().enumerate() {
        let i = i + 1;
        let m = d.await.unwrap();
        let key = format!("k-{}", i % 50);
        assert_eq!(
            Some(m.partition),
            Murmur2.partition(Some(key.as_bytes()), None, &cx),
            "{key}"
        );
        let off = m.offset.unwrap();
        assert!(
            off > last[m.partition as usize],
            "offsets grow per partition"
        );
        last[m.partition as usize] = off;
    }
    producer.flush().await;
    let stats = producer.stats();
    assert_eq!(stats.records, 3000);
    assert!(stats.batches >= 3 && stats.requests >= 1, "{stats:?}");

    // Read back: each key's values in send order.
    let mut total = 0;
    for p in 0..3 {
        let msgs = read_all(&bootstrap, &topic, p).await;
        total += msgs.len();
        let mut seen = std::collections::HashMap::<Bytes, u32>::new();
        for m in msgs {
            let v = String::from_utf8(m.value.unwrap().to_vec()).unwrap();
            let n: u32 = v.trim_start_matches("v-").parse().unwrap_or(0);
            let prev = seen.insert(m.key.unwrap(), n);
            assert!(prev.is_none_or(|p| p < n), "order kept per key");
        }
    }
    assert_eq!(total, 3000);
    let report = producer.close(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_flush_and_close() {
    let Some(bootstrap) = gregor_testkit::bootstrap("reports_flush_and_close") else {
        return;
    };
    let topic = unique("reports");
    create_topic(&bootstrap, &topic, 2).await;
    let delivered = Arc::new(AtomicUsize::new(0));
    let counted = delivered.clone();
    let producer = Producer::builder(cluster(&bootstrap).await)
        .config(
            ProducerConfig::builder()
                .linger(Duration::from_secs(3600))
                .delivery_timeout(Duration::from_secs(3700))
                .build()
                .unwrap(),
        )
        .on_delivery(move |r| {
            assert!(r.result.is_ok(), "{:?}", r.result);
            counted.fetch_add(1, Ordering::Relaxed);
        })
        .build();
    // Fire and forget: the futures are dropped.
    for i in 0..100u64 {
        let delivery = producer
            .enqueue(ProducerRecord::to(topic.clone()).value("x").opaque(i))
            .await
            .unwrap();
        drop(delivery);
    }
    // A linger of an hour: only flush sends them.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(delivered.load(Ordering::Relaxed), 0);
    tokio::time::timeout(Duration::from_secs(20), producer.flush())
        .await
        .expect("flush finishes");
    assert_eq!(delivered.load(Ordering::Relaxed), 100);

    let pending = producer
        .enqueue(ProducerRecord::to(topic.clone()).value("last"))
        .await
        .unwrap();
    let report = producer.close(Duration::from_secs(10)).await;
    assert!(report.is_clean(), "{report:?}");
    assert!(pending.await.is_ok(), "close delivers what is queued");
    let err = producer
        .send(ProducerRecord::to(topic.clone()).value("late"))
        .await
        .unwrap_err();
    assert!(matches!(err.kind, ProduceErrorKind::Closed), "{err}");
    assert_eq!(err.persisted, Persistence::NotPersisted);
    let n: usize = [0, 1]
        .iter()
        .map(|p| read_all_blocking(&bootstrap, &topic, *p))
        .sum();
    assert_eq!(n, 101);
}

fn read_all_blocking(bootstrap: &str, topic: &str, p: i32) -> usize {
    tokio::task::block_in_place(|| {
        tokio::runtime::Handle::current().block_on(read_all(bootstrap, topic, p))
    })
    .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_fails_clearly_and_loses_nothing_else() {
    let Some(bootstrap) = gregor_testkit::bootstrap("bad_input") else {
        return;
    };
    let topic = unique("bad");
    create_topic(&bootstrap, &topic, 2).await;
    let producer = Producer::new(
        cluster(&bootstrap).await,
        ProducerConfig::builder()
            .max_request_size(64 * 1024)
            .metadata_wait(Duration::from_secs(2))
            .build()
            .unwrap(),
    );
    // Good records in flight around every bad one.
    let mut good = Vec::new();
    for i in 0..200u32 {
        good.push(
            producer
                .enqueue(ProducerRecord::to(topic.clone()).value(format!("{i}")))
                .await
                .unwrap(),
        );
    }
    // Too large.
    let err = producer
        .send(ProducerRecord::to(topic.clone()).value(vec![0u8; 100 * 1024]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind,
            ProduceErrorKind::RecordTooLarge {
                setting: "max_request_size",
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(err.persisted, Persistence::NotPersisted);
    assert!(err.to_string().contains(&topic), "{err}");
    // Unknown topic: named, after the metadata wait.
    let missing = unique("missing");
    let started = std::time::Instant::now();
    let err = producer
        .send(ProducerRecord::to(missing.clone()).value("v"))
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind, ProduceErrorKind::UnknownTopic { .. }),
        "{err}"
    );
    assert!(err.to_string().contains(&missing), "{err}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    // An explicit partition the topic lacks.
    let err = producer
        .send(ProducerRecord::to(topic.clone()).value("v").partition(9))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err.kind,
            ProduceErrorKind::UnknownPartition { partitions: 2 }
        ),
        "{err}"
    );
    // Invalid config: refused at build time, naming the field.
    let err = ProducerConfig::builder()
        .acks(Acks::Leader)
        .idempotence(true)
        .build()
        .unwrap_err();
    assert!(matches!(err, Error::Config { field: "acks", .. }), "{err}");
    // The good ones all made it.
    for d in good {
        d.await.unwrap();
    }
    // A closed producer refuses at once, and says so.
    let report = producer.close(Duration::from_secs(5)).await;
    assert!(report.is_clean(), "{report:?}");
    let err = producer
        .try_send(ProducerRecord::to(topic.clone()).value("v"))
        .unwrap_err();
    assert!(matches!(err.kind, ProduceErrorKind::Closed), "{err}");
    let as_client: Error = err.into();
    assert!(as_client.to_string().contains("closed"), "{as_client}");
    let total: usize = [0, 1]
        .iter()
        .map(|p| read_all_blocking(&bootstrap, &topic, *p))
        .sum();
    assert_eq!(total, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn try_send_fails_fast_when_the_buffer_is_full_and_send_waits() {
    let Some(bootstrap) = gregor_testkit::bootstrap("buffer_full") else {
        return;
    };
    let topic = unique("full");
    create_topic(&bootstrap, &topic, 1).await;
    let producer = Producer::new(
        cluster(&bootstrap).await,
        ProducerConfig::builder()
            .batch_size(1024)
            .buffer_memory(4096)
            .linger(Duration::from_secs(600))
            .delivery_timeout(Duration::from_secs(700))
            .build()
            .unwrap(),
    );
    // The first try_send only starts loading the metadata.
    let first = producer.try_send(ProducerRecord::to(topic.clone()).value("v"));
    if let Err(e) = &first {
        assert!(matches!(e.kind, ProduceErrorKind::MetadataPending), "{e}");
    }
    let value = Bytes::from(vec![1u8; 900]);
    let mut sent = Vec::new();
    let mut full = None;
    for _ in 0..100 {
        match producer.try_send(ProducerRecord::to(topic.clone()).value(value.clone())) {
            Ok(d) => sent.push(d),
            Err(e) if matches!(e.kind, ProduceErrorKind::MetadataPending) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => {
                full = Some(e);
                break;
            }
        }
    }
    let full = full.expect("the buffer fills");
    assert!(
        matches!(
            full.kind,
            ProduceErrorKind::BufferFull {
                buffer_memory: 4096
            }
        ),
        "{full}"
    );
    assert_eq!(sent.len(), 4, "four 1 KiB batches fit in 4 KiB");
    // `enqueue` (and `send`) wait for room instead: waiting makes every
    // batch ready despite the linger, so room frees up.
    let last = tokio::time::timeout(
        Duration::from_secs(20),
        producer.enqueue(ProducerRecord::to(topic.clone()).value(value.clone())),
    )
    .await
    .expect("enqueue gets room")
    .unwrap();
    // Its own batch lingers (an hour) until flushed.
    tokio::time::timeout(Duration::from_secs(20), producer.flush())
        .await
        .expect("flush finishes");
    assert_eq!(last.await.unwrap().offset, Some(4));
    for d in sent {
        d.await.unwrap();
    }
}

#[test]
fn the_blocking_producer_works_without_a_runtime() {
    let Some(bootstrap) = gregor_testkit::bootstrap("blocking_producer") else {
        return;
    };
    let topic = unique("blocking");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(create_topic(&bootstrap, &topic, 1));
    let producer =
        gregor_client::producer::blocking::Producer::connect(&bootstrap, ProducerConfig::default())
            .unwrap();
    let meta = producer
        .send(ProducerRecord::to(topic.clone()).key("k").value("sync"))
        .unwrap();
    assert_eq!(meta.offset, Some(0));
    // From several threads at once; deliveries awaited later.
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let producer = producer.clone();
            let topic = topic.clone();
            std::thread::spawn(move || {
                let pending: Vec<_> = (0..50)
                    .map(|i| {
                        producer
                            .enqueue(ProducerRecord::to(topic.clone()).value(format!("{t}-{i}")))
                            .unwrap()
                    })
                    .collect();
                let n = pending.len();
                for d in pending {
                    d.wait().unwrap();
                }
                n
            })
        })
        .collect();
    let sent: usize = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert_eq!(sent, 200);
    let d = producer
        .try_send(ProducerRecord::to(topic.clone()).value("try"))
        .unwrap();
    producer.flush();
    assert!(d.try_result().unwrap().is_ok());
    assert_eq!(producer.stats().records, 202);
    let report = producer.close(Duration::from_secs(5));
    assert!(report.is_clean(), "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_and_one_deliver_without_idempotence() {
    let Some(bootstrap) = gregor_testkit::bootstrap("acks_zero_and_one") else {
        return;
    };
    for acks in [Acks::None, Acks::Leader] {
        let topic = unique("acks");
        create_topic(&bootstrap, &topic, 1).await;
        let config = ProducerConfig::builder().acks(acks).build().unwrap();
        assert!(
            !config.idempotence(),
            "the default gives way to acks {acks:?}"
        );
        let producer = Producer::new(cluster(&bootstrap).await, config);
        let mut deliveries = Vec::new();
        for i in 0..100u32 {
            deliveries.push(
                producer
                    .enqueue(ProducerRecord::to(topic.clone()).value(format!("{i}")))
                    .await
                    .unwrap(),
            );
        }
        for (i, d) in deliveries.into_iter().enumerate() {
            let m = d.await.unwrap();
            match acks {
                Acks::None => assert_eq!(m.offset, None, "no answer, no offset"),
                _ => assert_eq!(m.offset, Some(i as i64)),
            }
        }
        producer.close(Duration::from_secs(5)).await;
        // acks = 0 has no answer to wait for: give the broker a moment.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            let n = read_all(&bootstrap, &topic, 0).await.len();
            if n == 100 || tokio::time::Instant::now() > deadline {
                assert_eq!(n, 100, "acks {acks:?}");
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}
