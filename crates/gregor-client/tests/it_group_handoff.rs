//! Exactly-once handoff in a mixed group: three Gregor members and one
//! librdkafka member share 100,000 keyed records on 12 partitions while
//! members join and leave. Every member commits what it processed when
//! partitions are revoked, so every record is processed exactly once, and
//! no partition is ever owned by two members at once (checked on the
//! ownership intervals the assigned / revoked callbacks report, on one
//! wall clock). Run for range, round robin and cooperative-sticky.

mod it_consumer_support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gregor_client::consumer::{AssignmentStrategy, Consumer};
use it_consumer_support::*;
use tokio::sync::OnceCell;

const RECORDS: u64 = 100_000;
const PARTITIONS: i32 = 12;
/// The whole run, for one strategy.
const RUN_LIMIT: Duration = Duration::from_secs(150);

/// One topic with the data for every strategy's run (each uses its own
/// group); the runs take turns so they do not compete for the two cores.
static TOPIC: OnceCell<String> = OnceCell::const_new();
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Everything processed, by anyone: (key, partition, offset, member).
type Processed = Arc<Mutex<Vec<(String, i32, i64, String)>>>;
/// Ownership changes: (member, event, partitions, time).
type Ownership = Arc<Mutex<Vec<(String, &'static str, Vec<i32>, f64)>>>;

async fn topic(bootstrap: &str) -> String {
    TOPIC
        .get_or_init(|| async {
            let topic = unique("handoff");
            create_topic(bootstrap, &topic, PARTITIONS).await;
            let started = Instant::now();
            produce_keyed(bootstrap, &topic, PARTITIONS, 0..RECORDS).await;
            eprintln!("produced {RECORDS} records in {:?}", started.elapsed());
            topic
        })
        .await
        .clone()
}

/// A Gregor member running its poll loop in a task.
struct GregorMember {
    name: String,
    stop: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
    listener: Recorder,
}

impl GregorMember {
    /// Joins and processes until stopped, then closes (leaving the group).
    /// `listener_commits`: commit in the listener's `on_revoked` (manual
    /// commits) rather than by auto-commit.
    async fn start(
        name: &str,
        bootstrap: &str,
        topic: &str,
        group: &str,
        strategy: AssignmentStrategy,
        listener_commits: bool,
        processed: Processed,
    ) -> GregorMember {
        let config = group_config(group)
            .assignment_strategies([strategy])
            .enable_auto_commit(!listener_commits)
            .auto_commit_interval(Duration::from_millis(700))
            .build()
            .unwrap();
        let consumer = Consumer::new(cluster(bootstrap).await, config);
        let listener = if listener_commits {
            Recorder::committing()
        } else {
            Recorder::default()
        };
        consumer.subscribe_with([topic], listener.clone()).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let (name_, stop_) = (name.to_owned(), stop.clone());
        let task = tokio::spawn(async move {
            while !stop_.load(Ordering::Relaxed) {
                let batch = match consumer.poll_batch(50, Duration::from_millis(100)).await {
                    Ok(b) => b,
                    Err(e) => panic!("{name_}: {e}"),
                };
                if batch.is_empty() {
                    continue;
                }
                {
                    let mut p = processed.lock().unwrap();
                    for r in &batch {
                        p.push((key(r), r.partition, r.offset, name_.clone()));
                    }
                }
                // Slow enough that members come and go mid-stream.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            consumer.close().await.unwrap();
        });
        GregorMember {
            name: name.to_owned(),
            stop,
            task,
            listener,
        }
    }

    async fn stop(self, ownership: &Ownership) {
        self.stop.store(true, Ordering::Relaxed);
        self.task.await.unwrap();
        let mut o = ownership.lock().unwrap();
        for seen in self.listener.events() {
            let (kind, set, t) = match seen {
                Seen::Assigned(s, t) => ("assigned", s, t),
                Seen::Revoked(s, t) => ("revoked", s, t),
                Seen::Lost(s, t) => ("lost", s, t),
            };
            o.push((
                self.name.clone(),
                kind,
                set.iter().map(|tp| tp.partition).collect(),
                t,
            ));
        }
    }
}

/// The librdkafka member: a child process and the thread reading it.
struct PeerMember {
    child: Child,
    reader: std::thread::JoinHandle<()>,
}

impl PeerMember {
    fn start(
        python: &std::path::PathBuf,
        args: &[&str],
        processed: Processed,
        ownership: Ownership,
    ) -> (PeerMember, std::sync::mpsc::Receiver<()>) {
        let mut child = gregor_testkit::peers::librdkafka_group_consumer(python, args).unwrap();
        let stdout = child.stdout.take().unwrap();
        let (ready_tx, ready) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let line = line.unwrap();
                if let Some(rest) = line.strip_prefix("R ") {
                    let mut parts = rest.splitn(3, ' ');
                    let p: i32 = parts.next().unwrap().parse().unwrap();
                    let o: i64 = parts.next().unwrap().parse().unwrap();
                    let k = parts.next().unwrap_or_default().to_owned();
                    processed
                        .lock()
                        .unwrap()
                        .push((k, p, o, "rdkafka".to_owned()));
                    continue;
                }
                let doc: serde_json::Value = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("peer line {line:?}: {e}"));
                let event = doc["event"].as_str().unwrap_or_default();
                let t = doc["t"].as_f64().unwrap_or_default();
                let parts: Vec<i32> = doc["partitions"]
                    .as_array()
                    .map(|a| a.iter().map(|v| v.as_i64().unwrap() as i32).collect())
                    .unwrap_or_default();
                match event {
                    "ready" => {
                        let _ = ready_tx.send(());
                    }
                    "assigned" | "revoked" | "lost" | "closed" => {
                        let kind = match event {
                            "assigned" => "assigned",
                            "revoked" => "revoked",
                            "lost" => "lost",
                            _ => "closed",
                        };
                        ownership
                            .lock()
                            .unwrap()
                            .push(("rdkafka".to_owned(), kind, parts, t));
                    }
                    other => panic!("librdkafka member reported {other}: {line}"),
                }
            }
        });
        (PeerMember { child, reader }, ready)
    }

    fn stop(mut self) {
        let mut stdin = self.child.stdin.take().unwrap();
        let _ = writeln!(stdin, "stop");
        drop(stdin);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "librdkafka member exited with {status}");
        self.reader.join().unwrap();
    }
}

/// Checks that no partition was owned by two members at once, and returns
/// how many owners each partition had over the run.
fn check_ownership(ownership: &[(String, &'static str, Vec<i32>, f64)]) -> BTreeMap<i32, usize> {
    // Each member's intervals, from its events in order.
    let mut intervals: BTreeMap<i32, Vec<(f64, f64, String)>> = BTreeMap::new();
    let mut open: BTreeMap<(String, i32), f64> = BTreeMap::new();
    for (member, kind, parts, t) in ownership {
        match *kind {
            "assigned" => {
                for p in parts {
                    open.insert((member.clone(), *p), *t);
                }
            }
            "revoked" | "lost" => {
                for p in parts {
                    if let Some(start) = open.remove(&(member.clone(), *p)) {
                        intervals
                            .entry(*p)
                            .or_default()
                            .push((start, *t, member.clone()));
                    }
                }
            }
            "closed" => {
                let mine: Vec<(String, i32)> =
                    open.keys().filter(|(m, _)| m == member).cloned().collect();
                for key in mine {
                    let start = open.remove(&key).unwrap();
                    intervals
                        .entry(key.1)
                        .or_default()
                        .push((start, *t, member.clone()));
                }
            }
            _ => unreachable!(),
        }
    }
    assert!(open.is_empty(), "ownership never ended: {open:?}");
    let mut owners = BTreeMap::new();
    for (p, mut list) in intervals {
        list.sort_by(|a, b| a.0.total_cmp(&b.0));
        for w in list.windows(2) {
            assert!(
                w[1].0 >= w[0].1,
                "partition {p} owned by {} from {:.3} while {} owned it until {:.3}",
                w[1].2,
                w[1].0,
                w[0].2,
                w[0].1
            );
        }
        let distinct: BTreeSet<&String> = list.iter().map(|i| &i.2).collect();
        owners.insert(p, distinct.len());
    }
    owners
}

/// Counts the revocations before each member's last one (its leave) that
/// took everything it owned (eager) and that took only some (cooperative).
fn revocation_shapes(ownership: &[(String, &'static str, Vec<i32>, f64)]) -> (usize, usize) {
    let mut by_member: BTreeMap<&str, Vec<(&str, &Vec<i32>)>> = BTreeMap::new();
    for (member, kind, parts, _) in ownership {
        by_member.entry(member).or_default().push((kind, parts));
    }
    let (mut full, mut partial) = (0, 0);
    for events in by_member.values() {
        let last_revoke = events.iter().rposition(|e| e.0 == "revoked");
        let mut owned: BTreeSet<i32> = BTreeSet::new();
        for (i, (kind, parts)) in events.iter().enumerate() {
            match *kind {
                "assigned" => owned.extend(parts.iter()),
                "revoked" => {
                    let set: BTreeSet<i32> = parts.iter().copied().collect();
                    if Some(i) != last_revoke && !set.is_empty() {
                        if set == owned {
                            full += 1;
                        } else {
                            partial += 1;
                        }
                    }
                    owned.retain(|p| !set.contains(p));
                }
                _ => {}
            }
        }
    }
    (full, partial)
}

async fn handoff(strategy: AssignmentStrategy, rdkafka_name: &str) {
    let Some(bootstrap) = gregor_testkit::bootstrap("handoff") else {
        return;
    };
    let Some(python) = gregor_testkit::peers::python("handoff") else {
        return;
    };
    let _turn = TURN.lock().await;
    let topic = topic(&bootstrap).await;
    let group = unique(&format!("handoff-{rdkafka_name}"));
    let processed: Processed = Arc::default();
    let ownership: Ownership = Arc::default();
    let started = Instant::now();
    let count = || processed.lock().unwrap().len() as u64;
    let wait_for = |n: u64, what: &'static str| {
        let processed = processed.clone();
        async move {
            while (processed.lock().unwrap().len() as u64) < n {
                assert!(started.elapsed() < RUN_LIMIT, "stuck before {what}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            eprintln!("{:>6.1?} {what} ({n} processed)", started.elapsed());
        }
    };

    let g1 = GregorMember::start(
        "gregor-1",
        &bootstrap,
        &topic,
        &group,
        strategy,
        false,
        processed.clone(),
    )
    .await;
    let (peer, ready) = PeerMember::start(
        &python,
        &[&bootstrap, &topic, &group, rdkafka_name, "-", "0", "0.0001"],
        processed.clone(),
        ownership.clone(),
    );
    ready
        .recv_timeout(Duration::from_secs(30))
        .expect("librdkafka member ready");
    wait_for(15_000, "gregor-2 joins").await;
    let g2 = GregorMember::start(
        "gregor-2",
        &bootstrap,
        &topic,
        &group,
        strategy,
        true,
        processed.clone(),
    )
    .await;
    wait_for(35_000, "gregor-3 joins").await;
    let g3 = GregorMember::start(
        "gregor-3",
        &bootstrap,
        &topic,
        &group,
        strategy,
        false,
        processed.clone(),
    )
    .await;
    wait_for(55_000, "gregor-1 leaves").await;
    g1.stop(&ownership).await;
    wait_for(75_000, "librdkafka leaves").await;
    tokio::task::spawn_blocking(move || peer.stop())
        .await
        .unwrap();
    wait_for(RECORDS, "everything processed").await;
    // A moment for stragglers (there must be none).
    tokio::time::sleep(Duration::from_millis(500)).await;
    g2.stop(&ownership).await;
    g3.stop(&ownership).await;
    let elapsed = started.elapsed();

    let processed = processed.lock().unwrap().clone();
    let mut by_key: BTreeMap<&str, Vec<&(String, i32, i64, String)>> = BTreeMap::new();
    for p in &processed {
        by_key.entry(p.0.as_str()).or_default().push(p);
    }
    let twice: Vec<_> = by_key.iter().filter(|(_, v)| v.len() > 1).take(5).collect();
    assert!(
        twice.is_empty(),
        "{} records processed more than once, e.g. {twice:?}",
        processed.len() as u64 - by_key.len() as u64
    );
    assert_eq!(by_key.len() as u64, RECORDS, "records missing");
    assert_eq!(count(), RECORDS);
    let per_member: BTreeMap<&str, usize> = processed.iter().fold(BTreeMap::new(), |mut m, p| {
        *m.entry(p.3.as_str()).or_default() += 1;
        m
    });
    assert_eq!(
        per_member.len(),
        4,
        "every member processed some: {per_member:?}"
    );
    let owners = check_ownership(&ownership.lock().unwrap());
    assert_eq!(owners.len(), PARTITIONS as usize);
    assert!(
        owners.values().any(|n| *n > 1),
        "partitions moved: {owners:?}"
    );
    // Eager members give up everything at each rebalance; cooperative ones
    // only what moves.
    let (full, partial) = revocation_shapes(&ownership.lock().unwrap());
    if strategy == AssignmentStrategy::CooperativeSticky {
        assert!(
            partial > 0 && full == 0,
            "cooperative: {full} full, {partial} partial revocations"
        );
    } else {
        assert!(
            full > 0 && partial == 0,
            "eager: {full} full, {partial} partial revocations"
        );
    }
    eprintln!(
        "{rdkafka_name}: {RECORDS} records exactly once in {elapsed:?}; per member {per_member:?}; owners per partition {owners:?}; revocations: {full} full, {partial} partial"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_range() {
    handoff(AssignmentStrategy::Range, "range").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_round_robin() {
    handoff(AssignmentStrategy::RoundRobin, "roundrobin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handoff_cooperative_sticky() {
    handoff(AssignmentStrategy::CooperativeSticky, "cooperative-sticky").await;
}
