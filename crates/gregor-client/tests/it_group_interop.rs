//! Offsets committed by Gregor are where librdkafka resumes, and the
//! reverse: both sides of one consumer group, taking turns.

mod it_consumer_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::time::Duration;

use gregor_client::consumer::{AssignmentStrategy, Consumer};
use it_consumer_support::*;

/// Runs the librdkafka member until it has processed `n` records (it then
/// commits and leaves); returns (first, last) offset per partition.
fn librdkafka_reads(
    python: &std::path::PathBuf,
    bootstrap: &str,
    topic: &str,
    group: &str,
    n: usize,
) -> BTreeMap<i32, (i64, i64)> {
    let mut child = gregor_testkit::peers::librdkafka_group_consumer(
        python,
        &[bootstrap, topic, group, "range", "-", &n.to_string()],
    )
    .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut seen: BTreeMap<i32, (i64, i64)> = BTreeMap::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("R ") {
            let mut parts = rest.split(' ');
            let p: i32 = parts.next().unwrap().parse().unwrap();
            let o: i64 = parts.next().unwrap().parse().unwrap();
            let e = seen.entry(p).or_insert((o, o - 1));
            assert_eq!(o, e.1 + 1, "partition {p} read in order");
            e.1 = o;
        } else {
            assert!(!line.contains("commit_failed"), "{line}");
        }
    }
    assert!(child.wait().unwrap().success());
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gregor_and_librdkafka_resume_from_each_other_s_commits() {
    let Some(bootstrap) = gregor_testkit::bootstrap("offset interop") else {
        return;
    };
    let Some(python) = gregor_testkit::peers::python("offset interop") else {
        return;
    };
    let topic = unique("interop");
    let group = unique("interop-group");
    create_topic(&bootstrap, &topic, 3).await;
    produce_keyed(&bootstrap, &topic, 3, 0..600).await;
    let config = || {
        group_config(&group)
            .assignment_strategies([AssignmentStrategy::Range])
            .enable_auto_commit(false)
            .build()
            .unwrap()
    };

    // Gregor reads some, commits, leaves.
    let gregor = Consumer::new(cluster(&bootstrap).await, config());
    gregor.subscribe([topic.as_str()]).unwrap();
    let mut got = 0;
    while got < 150 {
        got += gregor
            .poll_batch(150 - got, Duration::from_millis(300))
            .await
            .unwrap()
            .len();
    }
    gregor.commit().await.unwrap();
    let by_gregor: BTreeMap<i32, i64> = gregor
        .committed(&partitions(&topic, 3))
        .await
        .unwrap()
        .into_iter()
        .map(|(tp, o)| (tp.partition, o.map_or(0, |o| o.offset)))
        .collect();
    assert_eq!(by_gregor.values().sum::<i64>(), 150);
    gregor.close().await.unwrap();

    // librdkafka starts exactly there.
    let (b, t, g, py) = (
        bootstrap.clone(),
        topic.clone(),
        group.clone(),
        python.clone(),
    );
    let seen = tokio::task::spawn_blocking(move || librdkafka_reads(&py, &b, &t, &g, 150))
        .await
        .unwrap();
    for (p, (first, _)) in &seen {
        assert_eq!(
            *first, by_gregor[p],
            "librdkafka resumed partition {p} at Gregor's commit"
        );
    }

    // And Gregor resumes where librdkafka committed.
    let gregor = Consumer::new(cluster(&bootstrap).await, config());
    let committed = gregor.committed(&partitions(&topic, 3)).await.unwrap();
    for (p, (_, last)) in &seen {
        let c = committed[&gregor_client::consumer::TopicPartition::new(topic.as_str(), *p)]
            .as_ref()
            .map(|o| o.offset);
        assert_eq!(c, Some(last + 1), "librdkafka's commit for partition {p}");
    }
    gregor.subscribe([topic.as_str()]).unwrap();
    let mut first: BTreeMap<i32, i64> = BTreeMap::new();
    let mut total = 0;
    while total < 300 {
        let batch = gregor
            .poll_batch(300, Duration::from_millis(300))
            .await
            .unwrap();
        total += batch.len();
        for r in batch {
            first.entry(r.partition).or_insert(r.offset);
        }
    }
    for (p, offset) in &first {
        let expected = seen.get(p).map_or(by_gregor[p], |(_, last)| last + 1);
        assert_eq!(*offset, expected, "Gregor resumed partition {p}");
    }
    assert_eq!(total, 300);
    gregor.close().await.unwrap();
}
