//! `cargo xtask integration --docker`: Apache Kafka in a container.
//!
//! Needs a Docker engine. Where none answers (as on our own machines) it
//! stops at once with a one-line reason instead of hanging.

use std::process::{Command, Stdio};

use crate::integration::Opts;
use crate::util::Result;

/// The official image, KRaft single node.
pub(crate) const KAFKA_IMAGE: &str = "apache/kafka:4.0.0";

/// Whether a Docker engine answers.
fn engine_answers() -> bool {
    Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs the integration tests against Kafka in a container.
pub(crate) fn run(opts: &Opts) -> Result {
    if !engine_answers() {
        return Err(
            "--docker needs a Docker engine and none answers here (`docker info` failed); \
             use the local broker (no flag) or --bootstrap HOST:PORT"
                .into(),
        );
    }
    crate::testcontainer::with_kafka(KAFKA_IMAGE, |bootstrap| {
        let python = crate::peers::ensure()?;
        let mut cmd = crate::integration::test_command(opts);
        cmd.env("GREGOR_PYTHON", python)
            .env("GREGOR_BOOTSTRAP", bootstrap)
            .env("GREGOR_BROKER_KIND", "kafka");
        crate::util::run("integration tests", &mut cmd)
    })
}
