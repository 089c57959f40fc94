//! Apache Kafka through testcontainers, compiled only with xtask's `docker`
//! feature so the everyday build does not pay for a Docker client.

use crate::util::Result;

/// Starts `image` (KRaft, one node, advertised on a free loopback port), runs
/// `f` with its bootstrap address, and removes the container afterwards.
#[cfg(feature = "docker")]
pub(crate) fn with_kafka(image: &str, f: impl FnOnce(&str) -> Result) -> Result {
    use testcontainers::{
        GenericImage, ImageExt,
        core::{IntoContainerPort, WaitFor},
        runners::SyncRunner,
    };
    let (name, tag) = image.split_once(':').unwrap_or((image, "latest"));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))?;
    let env = [
        ("KAFKA_NODE_ID", "1".to_string()),
        ("KAFKA_PROCESS_ROLES", "broker,controller".into()),
        (
            "KAFKA_LISTENERS",
            "PLAINTEXT://:9092,CONTROLLER://:9093".into(),
        ),
        (
            "KAFKA_ADVERTISED_LISTENERS",
            format!("PLAINTEXT://127.0.0.1:{port}"),
        ),
        ("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER".into()),
        (
            "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT".into(),
        ),
        ("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@localhost:9093".into()),
        ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1".into()),
        ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1".into()),
        ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1".into()),
        ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0".into()),
    ];
    let mut request = GenericImage::new(name, tag)
        .with_wait_for(WaitFor::message_on_stdout("Kafka Server started"))
        .with_mapped_port(port, 9092.tcp());
    for (k, v) in env {
        request = request.with_env_var(k, v);
    }
    let container = request
        .start()
        .map_err(|e| format!("could not start {image}: {e}"))?;
    let result = f(&format!("127.0.0.1:{port}"));
    drop(container);
    result
}

/// Without the `docker` feature, re-runs this very command with it enabled.
#[cfg(not(feature = "docker"))]
pub(crate) fn with_kafka(_image: &str, _f: impl FnOnce(&str) -> Result) -> Result {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cmd = crate::util::cargo();
    cmd.args([
        "run",
        "--quiet",
        "--package",
        "xtask",
        "--features",
        "docker",
        "--",
    ])
    .args(args)
    .current_dir(crate::util::workspace_root());
    crate::util::run("xtask with the docker feature", &mut cmd)
}
