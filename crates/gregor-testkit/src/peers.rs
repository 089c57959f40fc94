//! The interop peers: real clients no one here wrote.
//!
//! `cargo xtask peers` installs them into a virtualenv and `cargo xtask
//! integration` exports its python as `GREGOR_PYTHON`. Each helper runs one
//! small script from `peers/` that prints one JSON document.

use std::{
    env,
    path::PathBuf,
    process::{Command, Stdio},
};

use serde_json::Value;

/// The peers' python, or `None` (after printing why) outside xtask.
///
/// # Panics
/// When `GREGOR_REQUIRE_BROKER=1` but `GREGOR_PYTHON` is unset.
pub fn python(test: &str) -> Option<PathBuf> {
    match env::var_os("GREGOR_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if env::var("GREGOR_REQUIRE_BROKER").as_deref() == Ok("1") => {
            panic!("{test}: GREGOR_PYTHON is not set; `cargo xtask integration` installs the peers")
        }
        None => {
            eprintln!("skipping {test}: GREGOR_PYTHON is not set (run `cargo xtask peers`)");
            None
        }
    }
}

/// Runs a peer script with `args` and parses the JSON it prints.
pub fn run_script(python: &PathBuf, script: &str, args: &[&str]) -> Result<Value, String> {
    let out = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "peer script failed ({}):\n{}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).map_err(|e| format!("peer printed no JSON ({e}): {stdout}"))
}

/// Cluster metadata as librdkafka (confluent-kafka) sees it:
/// `{"brokers": [{"id", "host", "port"}], "topics": {name: partitions}}`.
pub fn librdkafka_metadata(python: &PathBuf, bootstrap: &str) -> Result<Value, String> {
    run_script(
        python,
        include_str!("../peers/librdkafka_metadata.py"),
        &[bootstrap],
    )
}

/// Cluster metadata as kafka-python sees it, in the same shape.
pub fn kafka_python_metadata(python: &PathBuf, bootstrap: &str) -> Result<Value, String> {
    run_script(
        python,
        include_str!("../peers/kafka_python_metadata.py"),
        &[bootstrap],
    )
}

/// A topic's configs as librdkafka's `AdminClient.describe_configs` reports
/// them: `{"client": "librdkafka", "configs": {name: value}}`.
pub fn librdkafka_topic_configs(
    python: &PathBuf,
    bootstrap: &str,
    topic: &str,
) -> Result<Value, String> {
    run_script(
        python,
        include_str!("../peers/librdkafka_topic_configs.py"),
        &[bootstrap, topic],
    )
}

/// A topic's configs as kafka-python's `KafkaAdminClient.describe_configs`
/// reports them, in the same shape.
pub fn kafka_python_topic_configs(
    python: &PathBuf,
    bootstrap: &str,
    topic: &str,
) -> Result<Value, String> {
    run_script(
        python,
        include_str!("../peers/kafka_python_topic_configs.py"),
        &[bootstrap, topic],
    )
}

/// Starts a peer script without waiting for it, stdin and stdout piped:
/// it prints JSON lines as things happen and stops when stdin closes.
pub fn spawn_script(
    python: &PathBuf,
    script: &str,
    args: &[&str],
) -> Result<std::process::Child, String> {
    Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))
}

/// A librdkafka consumer that joins `group` subscribed to `topic` (range
/// assignor, client id `client_id`), prints `{"assigned": [[topic,
/// partition], ...]}` once it has its partitions, and stays in the group
/// until its stdin is closed (two minutes at most). Read the line with
/// [`read_json_line`]; drop stdin and wait to make it leave.
pub fn librdkafka_group_member(
    python: &PathBuf,
    bootstrap: &str,
    group: &str,
    topic: &str,
    client_id: &str,
) -> Result<std::process::Child, String> {
    spawn_script(
        python,
        include_str!("../peers/librdkafka_group_member.py"),
        &[bootstrap, group, topic, client_id],
    )
}

/// The next JSON line a [`spawn_script`] child printed (blocking).
pub fn read_json_line(child: &mut std::process::Child) -> Result<Value, String> {
    use std::io::BufRead;
    let stdout = child
        .stdout
        .as_mut()
        .ok_or("the child's stdout is not piped")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| format!("cannot read the peer's output: {e}"))?;
    serde_json::from_str(line.trim()).map_err(|e| format!("peer printed no JSON ({e}): {line:?}"))
}

/// Per-partition summary of a topic whose values are decimal integers, as
/// librdkafka reads it from the beginning to the end:
/// `{"ends": {p: end_offset}, "partitions": {p: {"count", "sum", "first",
/// "last", "out_of_order": [..], "duplicates": [..]}}}` (each list capped at
/// 20 values).
pub fn librdkafka_consume_sequences(
    python: &PathBuf,
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Result<Value, String> {
    run_script(
        python,
        include_str!("../peers/librdkafka_consume_sequences.py"),
        &[bootstrap, topic, &partitions.to_string()],
    )
}

/// Every record of a topic as librdkafka reads it:
/// `{"records": {p: [{"offset", "key", "value", "headers": [[k, v]],
/// "timestamp"}]}}`, bytes as hex and null as `null`.
pub fn librdkafka_consume_records(
    python: &PathBuf,
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Result<Value, String> {
    run_script(
        python,
        include_str!("../peers/librdkafka_consume_records.py"),
        &[bootstrap, topic, &partitions.to_string()],
    )
}

/// Every record of a topic as kafka-python reads it, in the shape of
/// [`librdkafka_consume_records`].
pub fn kafka_python_consume_records(
    python: &PathBuf,
    bootstrap: &str,
    topic: &str,
    partitions: i32,
) -> Result<Value, String> {
    run_script(
        python,
        include_str!("../peers/kafka_python_consume_records.py"),
        &[bootstrap, topic, &partitions.to_string()],
    )
}

/// Produces the records in the JSON file `records` (a list of
/// `{"partition", "key", "value", "headers": [[k, v]]}`, bytes as hex)
/// with librdkafka and `codec`; returns `{"acked": n, "errors": [..]}`.
pub fn librdkafka_produce_records(
    python: &PathBuf,
    bootstrap: &str,
    topic: &str,
    codec: &str,
    records: &std::path::Path,
) -> Result<Value, String> {
    run_script(
        python,
        include_str!("../peers/librdkafka_produce_records.py"),
        &[bootstrap, topic, codec, &records.to_string_lossy()],
    )
}

/// Like [`librdkafka_produce_records`], with kafka-python.
pub fn kafka_python_produce_records(
    python: &PathBuf,
    bootstrap: &str,
    topic: &str,
    codec: &str,
    records: &std::path::Path,
) -> Result<Value, String> {
    run_script(
        python,
        include_str!("../peers/kafka_python_produce_records.py"),
        &[bootstrap, topic, codec, &records.to_string_lossy()],
    )
}

/// The partition each of librdkafka's `partitioners` (e.g. `consistent`,
/// `murmur2_random`) chooses for every key of the JSON file `keys` (a list
/// of hex strings), for each `(topic, partition count)`:
/// `{"partitions": {partitioner: {count: [partition per key]}}}`.
pub fn librdkafka_partitioners(
    python: &PathBuf,
    bootstrap: &str,
    keys: &std::path::Path,
    partitioners: &[&str],
    topics: &[(&str, i32)],
) -> Result<Value, String> {
    let topics: Vec<String> = topics.iter().map(|(t, n)| format!("{t}:{n}")).collect();
    run_script(
        python,
        include_str!("../peers/librdkafka_partitioners.py"),
        &[
            bootstrap,
            &keys.to_string_lossy(),
            &partitioners.join(","),
            &topics.join(","),
        ],
    )
}

/// The partition kafka-python's default (murmur2) partitioner chooses for
/// every key of the JSON file `keys` (hex strings), per partition count:
/// `{"partitions": {"murmur2": {count: [partition per key]}}}`. Needs no
/// broker.
pub fn kafka_python_partitions(
    python: &PathBuf,
    keys: &std::path::Path,
    counts: &[i32],
) -> Result<Value, String> {
    let counts: Vec<String> = counts.iter().map(ToString::to_string).collect();
    run_script(
        python,
        include_str!("../peers/kafka_python_partitions.py"),
        &[&keys.to_string_lossy(), &counts.join(",")],
    )
}

/// A librdkafka (confluent-kafka) consumer group member that processes
/// and reports every record and commits on revocation; see
/// `peers/librdkafka_group_consumer.py` for its arguments and the lines it
/// prints. Stop it by writing `stop` to its stdin (or closing it).
pub fn librdkafka_group_consumer(
    python: &PathBuf,
    args: &[&str],
) -> Result<std::process::Child, String> {
    spawn_script(
        python,
        include_str!("../peers/librdkafka_group_consumer.py"),
        args,
    )
}
