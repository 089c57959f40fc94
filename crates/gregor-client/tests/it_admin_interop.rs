//! Interop: topics Gregor's admin creates look the same to librdkafka
//! (confluent-kafka) and kafka-python, partitions and configs alike, and
//! the cluster metadata Gregor reads matches what they read.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use gregor_client::admin::{Admin, ConfigResource, NewTopic};
use gregor_testkit::peers;
use serde_json::Value;

const TIMEOUT: Duration = Duration::from_secs(20);

fn unique(name: &str) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    format!("admin-interop-{name}-{}-{nanos}", std::process::id())
}

async fn setup(test: &str) -> Option<(Admin, String, PathBuf)> {
    let bootstrap = gregor_testkit::bootstrap(test)?;
    let python = peers::python(test)?;
    let admin = Admin::connect(&bootstrap)
        .await
        .unwrap()
        .with_timeout(TIMEOUT);
    Some((admin, bootstrap, python))
}

/// Runs a (blocking) peer script off the runtime.
async fn peer<F>(f: F) -> Value
where
    F: FnOnce() -> Result<Value, String> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.unwrap().unwrap()
}

/// `{"configs": {name: value}}` as a map.
fn configs_of(v: &Value) -> BTreeMap<String, Option<String>> {
    v["configs"]
        .as_object()
        .unwrap_or_else(|| panic!("no configs in {v}"))
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().map(str::to_owned)))
        .collect()
}

/// `{"topics": {name: partitions}}` as a map.
fn topics_of(v: &Value) -> BTreeMap<String, u64> {
    v["topics"]
        .as_object()
        .unwrap_or_else(|| panic!("no topics in {v}"))
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap()))
        .collect()
}

/// `{"brokers": [{"id", "host", "port"}]}` as sorted tuples.
fn brokers_of(v: &Value) -> Vec<(i64, String, i64)> {
    let mut out: Vec<(i64, String, i64)> = v["brokers"]
        .as_array()
        .unwrap_or_else(|| panic!("no brokers in {v}"))
        .iter()
        .map(|b| {
            (
                b["id"].as_i64().unwrap(),
                b["host"].as_str().unwrap().to_owned(),
                b["port"].as_i64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn topics_created_here_have_the_same_partitions_and_configs_for_every_client() {
    let test = "topics_created_here_have_the_same_partitions_and_configs_for_every_client";
    let Some((admin, bootstrap, python)) = setup(test).await else {
        return;
    };
    let t = unique("configs");
    let wanted = [
        ("retention.ms", "7200000"),
        ("cleanup.policy", "compact"),
        ("max.message.bytes", "2000000"),
    ];
    let mut topic = NewTopic::new(&t, 3, 1);
    for (k, v) in wanted {
        topic = topic.with_config(k, v);
    }
    admin.create_topics(&[topic]).await.into_result().unwrap();

    let resource = ConfigResource::Topic(t.clone());
    let ours: BTreeMap<String, Option<String>> = admin
        .describe_configs(std::slice::from_ref(&resource))
        .await
        .into_result()
        .unwrap()
        .remove(0)
        .1
        .entries
        .into_iter()
        .map(|e| (e.name, e.value))
        .collect();
    for (k, v) in wanted {
        assert_eq!(ours.get(k), Some(&Some(v.to_owned())), "{k} in {ours:?}");
    }

    let (py, b, name) = (python.clone(), bootstrap.clone(), t.clone());
    let rdkafka = peer(move || peers::librdkafka_topic_configs(&py, &b, &name)).await;
    assert_eq!(configs_of(&rdkafka), ours, "librdkafka: {rdkafka}");
    let (py, b, name) = (python.clone(), bootstrap.clone(), t.clone());
    let kafka_python = peer(move || peers::kafka_python_topic_configs(&py, &b, &name)).await;
    assert_eq!(
        configs_of(&kafka_python),
        ours,
        "kafka-python: {kafka_python}"
    );

    // Partitions: the same count everywhere.
    let described = admin.describe_topics(&[&t]).await.into_result().unwrap();
    assert_eq!(described[0].1.partitions.len(), 3);
    let (py, b) = (python.clone(), bootstrap.clone());
    let rd = peer(move || peers::librdkafka_metadata(&py, &b)).await;
    assert_eq!(topics_of(&rd).get(&t), Some(&3), "librdkafka: {rd}");
    let (py, b) = (python.clone(), bootstrap.clone());
    let kp = peer(move || peers::kafka_python_metadata(&py, &b)).await;
    assert_eq!(topics_of(&kp).get(&t), Some(&3), "kafka-python: {kp}");

    admin.delete_topics(&[&t]).await.into_result().unwrap();
}

#[tokio::test]
async fn metadata_read_here_matches_librdkafka_and_kafka_python() {
    let test = "metadata_read_here_matches_librdkafka_and_kafka_python";
    let Some((admin, bootstrap, python)) = setup(test).await else {
        return;
    };
    let (one, four) = (unique("one"), unique("four"));
    admin
        .create_topics(&[NewTopic::new(&one, 1, 1), NewTopic::new(&four, 4, 1)])
        .await
        .into_result()
        .unwrap();

    let cluster = admin.describe_cluster().await.unwrap();
    let our_brokers: Vec<(i64, String, i64)> = cluster
        .brokers
        .iter()
        .map(|b| (i64::from(b.id.0), b.host.clone(), i64::from(b.port)))
        .collect();
    let listed = admin.list_topics(false).await.unwrap();
    let our_topics: BTreeMap<String, u64> = listed
        .iter()
        .map(|t| (t.name.clone(), t.partitions.len() as u64))
        .collect();
    assert_eq!(our_topics.get(&one), Some(&1));
    assert_eq!(our_topics.get(&four), Some(&4));

    let (py, b) = (python.clone(), bootstrap.clone());
    let rd = peer(move || peers::librdkafka_metadata(&py, &b)).await;
    let (py, b) = (python.clone(), bootstrap.clone());
    let kp = peer(move || peers::kafka_python_metadata(&py, &b)).await;
    for theirs in [&rd, &kp] {
        assert_eq!(brokers_of(theirs), our_brokers, "{theirs}");
        let their_topics = topics_of(theirs);
        assert_eq!(their_topics.get(&one), Some(&1), "{theirs}");
        assert_eq!(their_topics.get(&four), Some(&4), "{theirs}");
        // Other tests create and delete topics meanwhile: compare the
        // topics both snapshots have.
        for (name, n) in &their_topics {
            if let Some(ours) = our_topics.get(name) {
                assert_eq!(ours, n, "{name}: {theirs}");
            }
        }
    }
    admin
        .delete_topics(&[&one, &four])
        .await
        .into_result()
        .unwrap();
}
