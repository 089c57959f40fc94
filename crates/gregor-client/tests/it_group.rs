//! Consumer groups against the real broker: joining, committing and
//! resuming, clear errors, a member killed without leaving, and static
//! membership.

mod it_consumer_support;

use std::collections::BTreeSet;
use std::time::Duration;

use gregor_client::Error;
use gregor_client::consumer::{AssignmentStrategy, Consumer, ConsumerRecord};
use it_consumer_support::*;

/// Polls until `n` records came.
async fn poll_n(consumer: &Consumer, n: usize) -> Vec<ConsumerRecord> {
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
                .poll_batch(n - out.len(), Duration::from_millis(300))
                .await
                .unwrap(),
        );
    }
    out
}

/// Polls (handing the records to `sink`) until `cond` holds.
async fn poll_until(
    consumer: &Consumer,
    sink: &mut Vec<ConsumerRecord>,
    what: &str,
    mut cond: impl FnMut(&Consumer) -> bool,
) {
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while !cond(consumer) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        sink.extend(
            consumer
                .poll_batch(100, Duration::from_millis(100))
                .await
                .unwrap(),
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_reads_everything_and_a_successor_resumes_after_its_commit() {
    let Some(bootstrap) = gregor_testkit::bootstrap("group resume") else {
        return;
    };
    let topic = unique("resume");
    let group = unique("resume-group");
    create_topic(&bootstrap, &topic, 3).await;
    produce_keyed(&bootstrap, &topic, 3, 0..300).await;

    let config = group_config(&group)
        .enable_auto_commit(false)
        .build()
        .unwrap();
    let consumer = Consumer::new(cluster(&bootstrap).await, config);
    let listener = Recorder::default();
    consumer
        .subscribe_with([topic.as_str()], listener.clone())
        .unwrap();
    let first = poll_n(&consumer, 200).await;
    assert_eq!(consumer.assignment().len(), 3);
    consumer.commit().await.unwrap();
    let committed = consumer.committed(&partitions(&topic, 3)).await.unwrap();
    let total: i64 = committed
        .values()
        .map(|o| o.as_ref().map_or(0, |o| o.offset))
        .sum();
    assert_eq!(total, 200, "{committed:?}");
    let stats = consumer.stats();
    assert_eq!(stats.rebalances, 1);
    consumer.close().await.unwrap();
    // The listener saw the assignment and the revocation on close.
    let events = listener.events();
    assert!(
        matches!(events.first(), Some(Seen::Assigned(p, _)) if p.len() == 3),
        "{events:?}"
    );
    assert!(
        matches!(events.last(), Some(Seen::Revoked(p, _)) if p.len() == 3),
        "{events:?}"
    );

    // The successor starts where the commit left off.
    let config = group_config(&group).build().unwrap();
    let consumer = Consumer::new(cluster(&bootstrap).await, config);
    consumer.subscribe([topic.as_str()]).unwrap();
    let rest = poll_n(&consumer, 100).await;
    let mut keys: BTreeSet<String> = first.iter().map(key).collect();
    for r in &rest {
        assert!(keys.insert(key(r)), "{} read twice", key(r));
    }
    assert_eq!(keys.len(), 300);
    // Auto-commit on close commits what was processed.
    consumer.close().await.unwrap();
    let config = group_config(&group).build().unwrap();
    let consumer = Consumer::new(cluster(&bootstrap).await, config);
    let committed = consumer.committed(&partitions(&topic, 3)).await.unwrap();
    assert!(
        committed
            .values()
            .all(|o| o.as_ref().map(|o| o.offset) == Some(100)),
        "{committed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_group_that_cannot_be_joined_is_named_in_the_error() {
    let Some(bootstrap) = gregor_testkit::bootstrap("inconsistent protocol") else {
        return;
    };
    let topic = unique("inconsistent");
    let group = unique("inconsistent-group");
    create_topic(&bootstrap, &topic, 2).await;
    let range = group_config(&group)
        .assignment_strategies([AssignmentStrategy::Range])
        .build()
        .unwrap();
    let a = Consumer::new(cluster(&bootstrap).await, range);
    a.subscribe([topic.as_str()]).unwrap();
    let mut sink = Vec::new();
    poll_until(&a, &mut sink, "the first member's assignment", |c| {
        c.assignment().len() == 2
    })
    .await;

    // A member offering only a protocol the group does not use.
    let rr = group_config(&group)
        .assignment_strategies([AssignmentStrategy::RoundRobin])
        .build()
        .unwrap();
    let b = Consumer::new(cluster(&bootstrap).await, rr);
    b.subscribe([topic.as_str()]).unwrap();
    let err = loop {
        match b.poll_batch(10, TIMEOUT).await {
            Err(e) => break e,
            Ok(r) => assert!(r.is_empty()),
        }
    };
    match &err {
        Error::Group { group: g, .. } => assert_eq!(g, &group),
        other => panic!("expected a group error, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains(&group) && text.contains("INCONSISTENT_GROUP_PROTOCOL"),
        "{text}"
    );
    assert!(!err.is_retriable());
    drop(b);
    a.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_subscribed_topic_is_named_with_the_group() {
    let Some(bootstrap) = gregor_testkit::bootstrap("missing subscribed topic") else {
        return;
    };
    let topic = unique("nowhere");
    let group = unique("nowhere-group");
    let consumer = Consumer::new(
        cluster(&bootstrap).await,
        group_config(&group).build().unwrap(),
    );
    consumer.subscribe([topic.as_str()]).unwrap();
    let err = consumer.poll_batch(10, TIMEOUT).await.unwrap_err();
    match &err {
        Error::UnknownTopic { group: g, topic: t } => {
            assert_eq!(
                (g.as_deref(), t.as_str()),
                (Some(group.as_str()), topic.as_str())
            );
        }
        other => panic!("expected UnknownTopic, got {other}"),
    }
    assert!(err.to_string().contains(&group), "{err}");
    // The group settles with nothing to assign; once the topic exists, the
    // member (its leader) sees it, rebalances and reads it.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while consumer.stats().rebalances == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no empty assignment"
        );
        assert!(
            consumer
                .poll_batch(10, Duration::from_millis(100))
                .await
                .unwrap()
                .is_empty()
        );
    }
    assert!(consumer.assignment().is_empty());
    create_topic(&bootstrap, &topic, 2).await;
    produce_keyed(&bootstrap, &topic, 2, 0..10).await;
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while got.len() < 10 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} records",
            got.len()
        );
        got.extend(
            consumer
                .poll_batch(10, Duration::from_millis(200))
                .await
                .unwrap(),
        );
    }
    assert_eq!(consumer.assignment().len(), 2);
    consumer.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_that_stops_polling_leaves_and_rejoins_at_its_next_poll() {
    let Some(bootstrap) = gregor_testkit::bootstrap("max poll interval") else {
        return;
    };
    let topic = unique("liveness");
    let group = unique("liveness-group");
    create_topic(&bootstrap, &topic, 2).await;
    let config = || {
        group_config(&group)
            .assignment_strategies([AssignmentStrategy::Range])
            .max_poll_interval(Duration::from_secs(2))
            .build()
            .unwrap()
    };
    let slow = Consumer::new(cluster(&bootstrap).await, config());
    let slow_events = Recorder::default();
    slow.subscribe_with([topic.as_str()], slow_events.clone())
        .unwrap();
    let busy = Consumer::new(cluster(&bootstrap).await, config());
    busy.subscribe([topic.as_str()]).unwrap();
    let mut sink = Vec::new();
    // Both poll until each owns one partition.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while slow.assignment().len() != 1 || busy.assignment().len() != 1 {
        assert!(tokio::time::Instant::now() < deadline, "no balanced group");
        sink.extend(
            slow.poll_batch(10, Duration::from_millis(50))
                .await
                .unwrap(),
        );
        sink.extend(
            busy.poll_batch(10, Duration::from_millis(50))
                .await
                .unwrap(),
        );
    }
    // The slow member stops polling: past the interval it gives up its
    // partition (as lost: it cannot have processed anything meanwhile) and
    // the other member takes both.
    poll_until(&busy, &mut sink, "the busy member to own both", |c| {
        c.assignment().len() == 2
    })
    .await;
    assert!(slow.assignment().is_empty());
    assert!(
        slow_events
            .events()
            .iter()
            .any(|e| matches!(e, Seen::Lost(p, _) if p.len() == 1)),
        "{:?}",
        slow_events.events()
    );
    // Polling again rejoins.
    let deadline = tokio::time::Instant::now() + TIMEOUT;
    while slow.assignment().len() != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the slow member did not rejoin"
        );
        sink.extend(
            slow.poll_batch(10, Duration::from_millis(50))
                .await
                .unwrap(),
        );
        sink.extend(
            busy.poll_batch(10, Duration::from_millis(50))
                .await
                .unwrap(),
        );
    }
    slow.close().await.unwrap();
    busy.close().await.unwrap();
}
