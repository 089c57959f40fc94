//! Group membership against the real broker: a member killed without
//! leaving, and static membership (KIP-345).

mod it_consumer_support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gregor_client::consumer::{AssignmentStrategy, Consumer, ConsumerConfig, TopicPartition};
use it_consumer_support::*;

/// Processed records: (partition, offset, member).
type Log = Arc<Mutex<Vec<(i32, i64, &'static str)>>>;

/// Runs a poll loop in a task, throttled, logging what it processes.
fn run(consumer: Consumer, name: &'static str, log: Log) -> tokio::task::JoinHandle<Consumer> {
    tokio::spawn(async move {
        loop {
            let batch = consumer
                .poll_batch(20, Duration::from_millis(100))
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            let done = batch.is_empty() && name.ends_with("-once");
            {
                let mut l = log.lock().unwrap();
                for r in &batch {
                    l.push((r.partition, r.offset, name));
                }
            }
            if done {
                return consumer;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
}

/// The partitions a member owns now, from its listener's events.
fn owned(events: &Recorder) -> BTreeSet<i32> {
    let mut owned = BTreeSet::new();
    for e in events.events() {
        match e {
            Seen::Assigned(p, _) => owned.extend(p.iter().map(|tp| tp.partition)),
            Seen::Revoked(p, _) | Seen::Lost(p, _) => {
                for tp in p {
                    owned.remove(&tp.partition);
                }
            }
        }
    }
    owned
}

async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_member_s_partitions_move_after_the_session_timeout_with_nothing_lost() {
    let Some(bootstrap) = gregor_testkit::bootstrap("killed member") else {
        return;
    };
    let topic = unique("killed");
    let group = unique("killed-group");
    create_topic(&bootstrap, &topic, 4).await;
    produce_keyed(&bootstrap, &topic, 4, 0..2000).await;
    let config = || {
        group_config(&group)
            .assignment_strategies([AssignmentStrategy::Range])
            .auto_commit_interval(Duration::from_millis(300))
            .build()
            .unwrap()
    };
    let log: Log = Arc::default();

    let victim = Consumer::new(cluster(&bootstrap).await, config());
    let victim_events = Recorder::default();
    victim
        .subscribe_with([topic.as_str()], victim_events.clone())
        .unwrap();
    let survivor = Consumer::new(cluster(&bootstrap).await, config());
    let survivor_events = Recorder::default();
    survivor
        .subscribe_with([topic.as_str()], survivor_events.clone())
        .unwrap();
    let victim_task = run(victim, "victim", log.clone());
    let survivor_task = run(survivor, "survivor", log.clone());
    // Both own two partitions and have processed (and auto-committed)
    // some records of them.
    wait_until("both members to work", TIMEOUT, || {
        let (v, s) = (owned(&victim_events), owned(&survivor_events));
        let l = log.lock().unwrap();
        let worked = |who: &str, mine: &BTreeSet<i32>| {
            l.iter()
                .filter(|r| r.2 == who && mine.contains(&r.0))
                .count()
                > 50
        };
        v.len() == 2 && s.len() == 2 && worked("victim", &v) && worked("survivor", &s)
    })
    .await;
    let owned_by_victim = owned(&victim_events);
    // Let an auto-commit of the current generation happen.
    tokio::time::sleep(Duration::from_millis(700)).await;

    // Kill it: the task (and with it the consumer) is dropped mid-work, no
    // commit, no LeaveGroup.
    victim_task.abort();
    let _ = victim_task.await;
    let killed_at = Instant::now();
    let victim_done = log
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.2 == "victim")
        .count();
    // What it committed last, as the broker has it.
    let probe = Consumer::new(cluster(&bootstrap).await, config());
    let committed: BTreeMap<i32, i64> = probe
        .committed(&partitions(&topic, 4))
        .await
        .unwrap()
        .into_iter()
        .filter(|(tp, _)| owned_by_victim.contains(&tp.partition))
        .map(|(tp, o)| (tp.partition, o.map_or(0, |o| o.offset)))
        .collect();

    // The survivor takes everything over once the coordinator gives up on
    // the victim, and reads it all.
    wait_until(
        "the survivor to read everything",
        Duration::from_secs(40),
        || {
            let l = log.lock().unwrap();
            let seen: BTreeSet<(i32, i64)> = l.iter().map(|r| (r.0, r.1)).collect();
            seen.len() == 2000
        },
    )
    .await;
    let moved_after = survivor_events
        .events()
        .iter()
        .filter_map(|e| match e {
            Seen::Assigned(p, _) if p.iter().any(|tp| owned_by_victim.contains(&tp.partition)) => {
                Some(())
            }
            _ => None,
        })
        .count();
    assert!(moved_after >= 1, "the survivor got the victim's partitions");
    let took = killed_at.elapsed();
    survivor_task.abort();
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log.iter().filter(|r| r.2 == "victim").count(),
        victim_done,
        "the victim processed nothing after it was killed"
    );

    // Nothing lost, and duplicates only from the victim's last commit on.
    let mut by_offset: BTreeMap<(i32, i64), Vec<&str>> = BTreeMap::new();
    for (p, o, who) in &log {
        by_offset.entry((*p, *o)).or_default().push(who);
    }
    assert_eq!(by_offset.len(), 2000);
    let mut duplicates = 0;
    for ((p, o), who) in &by_offset {
        if who.len() > 1 {
            duplicates += 1;
            assert_eq!(who.len(), 2, "{p}/{o} read by {who:?}");
            assert!(owned_by_victim.contains(p));
            assert!(
                *o >= committed[p],
                "{p}/{o} read twice but committed up to {}",
                committed[p]
            );
        }
    }
    // The survivor started each taken-over partition at the commit.
    for p in &owned_by_victim {
        let first = log
            .iter()
            .filter(|r| r.0 == *p && r.2 == "survivor")
            .map(|r| r.1)
            .min()
            .unwrap();
        assert_eq!(first, committed[p], "partition {p}");
    }
    eprintln!(
        "killed member: partitions moved and everything read {took:?} after the kill; \
         {duplicates} records read twice (after the last commit {committed:?})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_static_member_restarting_within_the_session_gets_its_partitions_back_without_a_rebalance()
 {
    let Some(bootstrap) = gregor_testkit::bootstrap("static membership") else {
        return;
    };
    let topic = unique("static");
    let group = unique("static-group");
    create_topic(&bootstrap, &topic, 4).await;
    produce_keyed(&bootstrap, &topic, 4, 0..400).await;
    let config = |instance: &str| -> ConsumerConfig {
        group_config(&group)
            .group_instance_id(instance)
            .session_timeout(Duration::from_secs(15))
            .assignment_strategies([AssignmentStrategy::Range])
            .build()
            .unwrap()
    };
    let a = Consumer::new(cluster(&bootstrap).await, config("static-a"));
    let a_events = Recorder::default();
    a.subscribe_with([topic.as_str()], a_events.clone())
        .unwrap();
    let b = Consumer::new(cluster(&bootstrap).await, config("static-b"));
    let b_events = Recorder::default();
    b.subscribe_with([topic.as_str()], b_events.clone())
        .unwrap();
    let log: Log = Arc::default();
    let a_task = run(a, "a", log.clone());
    let b_task = run(b, "b", log.clone());
    // Settled: two partitions each, and both read.
    wait_until("a stable two-member group", TIMEOUT, || {
        let last = |r: &Recorder| {
            let mut owned = BTreeSet::new();
            for e in r.events() {
                match e {
                    Seen::Assigned(p, _) => owned.extend(p),
                    Seen::Revoked(p, _) | Seen::Lost(p, _) => owned.retain(|x| !p.contains(x)),
                }
            }
            owned
        };
        last(&a_events).len() == 2 && last(&b_events).len() == 2
    })
    .await;
    let a_owned: BTreeSet<TopicPartition> = match a_events.events().last() {
        Some(Seen::Assigned(p, _)) => p.clone(),
        other => panic!("{other:?}"),
    };
    let b_revocations = b_events.revocations();
    let b_assignments = b_events.events().len() - b_revocations;

    // A restarts: closed (a static member sends no LeaveGroup) and back
    // with the same instance id well within the session timeout.
    a_task.abort();
    let a = match a_task.await {
        Err(e) if e.is_cancelled() => None,
        other => other.ok(),
    };
    drop(a);
    let restarted = Consumer::new(cluster(&bootstrap).await, config("static-a"));
    let again = Recorder::default();
    restarted
        .subscribe_with([topic.as_str()], again.clone())
        .unwrap();
    let restarted_task = run(restarted, "a2", log.clone());
    wait_until("the restarted member's assignment", TIMEOUT, || {
        !again.events().is_empty()
    })
    .await;
    match again.events().first() {
        Some(Seen::Assigned(p, _)) => assert_eq!(*p, a_owned, "the same partitions back"),
        other => panic!("{other:?}"),
    }
    // Give a rebalance (if any) time to show, then check B saw none.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        b_events.revocations(),
        b_revocations,
        "B saw a revocation: {:?}",
        b_events.events()
    );
    assert_eq!(
        b_events.events().len() - b_events.revocations(),
        b_assignments,
        "B was reassigned"
    );
    // And the restarted member reads on from A's commits.
    let total = log
        .lock()
        .unwrap()
        .iter()
        .map(|r| (r.0, r.1))
        .collect::<BTreeSet<_>>()
        .len();
    assert!(total <= 400);
    restarted_task.abort();
    b_task.abort();
}
