//! `cargo xtask capture`: golden bytes from real Kafka clients.
//!
//! For each peer (librdkafka through confluent-kafka, and kafka-python) it
//! starts a fresh local broker named `capture` that advertises a recording
//! proxy instead of itself, runs the peer's script from
//! `testdata/golden/scripts/` against the proxy, and writes what crossed the
//! wire to `testdata/golden/<client>/`:
//!
//! - `<seq>-<ApiName>-v<version>-request.bin` and `...-response.bin`: one frame
//!   each, without its 4-byte size prefix;
//! - `manifest.json`: every file with its API, version, correlation id and
//!   direction, and the exact records the script produced.
//!
//! Only a few exchanges of each (API, version) are kept (the first two and
//! the last), so the set stays small; Produce requests and Fetch responses
//! that carry record batches are counted apart from the empty ones, so every
//! codec's batch is kept.

mod proxy;

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde::Serialize;
use serde_json::Value;

use crate::broker::{self, StartOpts, Storage};
use crate::tools::NISSHI_VERSION;
use crate::util::{Result, mkdir, tail, workspace_root};
use proxy::{Exchange, Proxy};

/// Exchanges kept per (API, version) when they carry no records, besides
/// the last one.
const KEEP_PLAIN: usize = 2;
/// Exchanges kept per (API, version) whose records field holds batches.
const KEEP_WITH_RECORDS: usize = 12;
/// How long a peer script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(300);
/// The broker instance the capture uses.
const BROKER_NAME: &str = "capture";

/// Options of `cargo xtask capture`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Opts {
    /// Capture only this peer (default: every peer).
    #[arg(long, value_enum)]
    pub(crate) client: Option<Client>,
    /// Where to write (default: `testdata/golden` of this checkout).
    #[arg(long)]
    pub(crate) out: Option<PathBuf>,
}

/// The peers a capture runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Client {
    /// librdkafka, through the Python package confluent-kafka.
    Librdkafka,
    /// kafka-python.
    KafkaPython,
    /// kafka-python told the broker is Kafka 2.1, so it uses older,
    /// non-flexible request versions.
    #[value(name = "kafka-python-api-2.1")]
    KafkaPythonApi21,
}

impl Client {
    const ALL: [Client; 3] = [
        Client::Librdkafka,
        Client::KafkaPython,
        Client::KafkaPythonApi21,
    ];

    /// The folder under `testdata/golden/`, also the `--client` value.
    fn dir_name(self) -> &'static str {
        match self {
            Client::Librdkafka => "librdkafka",
            Client::KafkaPython => "kafka-python",
            Client::KafkaPythonApi21 => "kafka-python-api-2.1",
        }
    }

    /// The script under `testdata/golden/scripts/` and its extra arguments.
    fn script(self) -> (&'static str, &'static [&'static str]) {
        match self {
            Client::Librdkafka => ("librdkafka.py", &[]),
            Client::KafkaPython => ("kafka_python.py", &[]),
            Client::KafkaPythonApi21 => ("kafka_python.py", &["2.1"]),
        }
    }
}

/// Runs the capture for the peers `opts` names and writes the golden files.
pub(crate) fn run(opts: &Opts) -> Result {
    let python = crate::peers::ensure()?;
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| workspace_root().join("testdata").join("golden"));
    let clients: Vec<Client> = match opts.client {
        Some(c) => vec![c],
        None => Client::ALL.to_vec(),
    };
    for client in clients {
        capture_client(&python, client, &out)?;
    }
    Ok(())
}

fn capture_client(python: &Path, client: Client, out: &Path) -> Result {
    let (script, extra_args) = client.script();
    let script = out.join("scripts").join(script);
    if !script.is_file() {
        return Err(format!("no peer script at {}", script.display()));
    }
    let (mut proxy, listener) = Proxy::bind()?;
    let opts = StartOpts {
        name: BROKER_NAME.into(),
        port: None,
        storage: Storage::Memory,
        tls: false,
        sasl: false,
    };
    let state = broker::start_advertising(&opts, Some(proxy.port()))?;
    let records_file = state
        .dir
        .join(format!("{}-records.json", client.dir_name()));
    let ran = proxy
        .forward_to(listener, state.port)
        .and_then(|()| run_script(python, &script, extra_args, proxy.port(), &records_file));
    let exchanges = proxy.finish();
    let stopped = broker::stop(BROKER_NAME);
    let script_output = ran.map_err(|e| {
        format!(
            "{e}\nthe broker's log is {} (tail below):\n{}",
            state.log.display(),
            crate::util::tail_file(&state.log, 15)
        )
    })?;
    stopped?;
    print!("{script_output}");
    let produced: Value = fs::read_to_string(&records_file)
        .map_err(|e| format!("cannot read {}: {e}", records_file.display()))
        .and_then(|t| serde_json::from_str(&t).map_err(|e| format!("bad records file: {e}")))?;
    write_golden(client, &out.join(client.dir_name()), &exchanges, &produced)
}

/// Runs a peer script against the proxy, with a time limit; returns its output.
fn run_script(
    python: &Path,
    script: &Path,
    extra_args: &[&str],
    port: u16,
    records_file: &Path,
) -> Result<String> {
    let step = format!("peer script {}", script.display());
    let mut child = Command::new(python)
        .arg(script)
        .arg(format!("127.0.0.1:{port}"))
        .arg(records_file)
        .args(extra_args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{step}: cannot start {}: {e}", python.display()))?;
    let deadline = Instant::now() + SCRIPT_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if Instant::now() > deadline => {
                let _ = child.kill();
                break;
            }
            Ok(None) => thread::sleep(Duration::from_millis(50)),
            Err(e) => return Err(format!("{step}: {e}")),
        }
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("{step}: {e}"))?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    if output.status.success() {
        Ok(text)
    } else {
        Err(format!(
            "{step} failed ({}); its last lines:\n{}",
            output.status,
            tail(&text, 25)
        ))
    }
}

/// One file of a capture, as `manifest.json` lists it.
#[derive(Debug, Serialize)]
struct FileEntry {
    file: String,
    api_key: i16,
    api_name: &'static str,
    version: i16,
    correlation_id: i32,
    direction: &'static str,
    /// Which client connection it crossed, in accept order.
    connection: u32,
    /// Whether its records field holds record batches (Produce requests and
    /// Fetch responses).
    has_records: bool,
}

#[derive(Debug, Serialize)]
struct Manifest<'a> {
    client: &'a str,
    client_version: &'a Value,
    package: &'a Value,
    broker: String,
    command: String,
    files: Vec<FileEntry>,
    records: &'a Value,
}

/// Picks the exchanges to keep, names them and writes them with the manifest.
fn write_golden(client: Client, dir: &Path, exchanges: &[Exchange], produced: &Value) -> Result {
    let classified: Vec<(&Exchange, bool)> = exchanges
        .iter()
        .filter_map(|ex| {
            let response = ex.response.as_deref()?;
            let has_records = match ex.api_key {
                0 => contains_record_batch(&ex.request),
                1 => contains_record_batch(response),
                _ => false,
            };
            Some((ex, has_records))
        })
        .collect();
    // The last of each kind is kept too: later exchanges know more (the
    // last Metadata names every topic the consumer reads).
    let mut last: BTreeMap<(i16, i16, bool), usize> = BTreeMap::new();
    for (i, (ex, has_records)) in classified.iter().enumerate() {
        last.insert((ex.api_key, ex.version, *has_records), i);
    }
    let mut kept: Vec<(&Exchange, bool)> = Vec::new();
    let mut counts: BTreeMap<(i16, i16, bool), usize> = BTreeMap::new();
    for (i, &(ex, has_records)) in classified.iter().enumerate() {
        let kind = (ex.api_key, ex.version, has_records);
        let n = counts.entry(kind).or_default();
        let limit = if has_records {
            KEEP_WITH_RECORDS
        } else {
            KEEP_PLAIN
        };
        if *n < limit || last.get(&kind) == Some(&i) {
            *n += 1;
            kept.push((ex, has_records));
        }
    }
    // Named in a stable order: by API, version, then capture order.
    kept.sort_by_key(|(ex, has_records)| (ex.api_key, ex.version, *has_records));

    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| format!("cannot clear {}: {e}", dir.display()))?;
    }
    mkdir(dir)?;
    let mut files = Vec::new();
    for (seq, (ex, has_records)) in kept.iter().enumerate() {
        let api_name = api_name(ex.api_key);
        let stem = format!("{:03}-{api_name}-v{}", seq + 1, ex.version);
        let response = ex.response.as_deref().unwrap_or_default();
        for (direction, bytes, records) in [
            (
                "request",
                ex.request.as_slice(),
                ex.api_key == 0 && *has_records,
            ),
            ("response", response, ex.api_key == 1 && *has_records),
        ] {
            let file = format!("{stem}-{direction}.bin");
            fs::write(dir.join(&file), bytes)
                .map_err(|e| format!("cannot write {}: {e}", dir.join(&file).display()))?;
            files.push(FileEntry {
                file,
                api_key: ex.api_key,
                api_name,
                version: ex.version,
                correlation_id: ex.correlation_id,
                direction,
                connection: ex.connection,
                has_records: records,
            });
        }
    }
    let manifest = Manifest {
        client: client.dir_name(),
        client_version: &produced["client_version"],
        package: &produced["package"],
        broker: format!("nisshi {NISSHI_VERSION}"),
        command: format!("cargo xtask capture --client {}", client.dir_name()),
        files,
        records: &produced["records"],
    };
    let text = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())? + "\n";
    fs::write(dir.join("manifest.json"), text)
        .map_err(|e| format!("cannot write the manifest: {e}"))?;
    summarize(client, dir, &kept, exchanges.len());
    Ok(())
}

fn summarize(client: Client, dir: &Path, kept: &[(&Exchange, bool)], seen: usize) {
    let mut by_api: BTreeMap<i16, Vec<i16>> = BTreeMap::new();
    for (ex, _) in kept {
        let versions = by_api.entry(ex.api_key).or_default();
        if !versions.contains(&ex.version) {
            versions.push(ex.version);
        }
    }
    let size: u64 = fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok()?.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0);
    eprintln!(
        "{}: kept {} of {seen} exchanges ({size} bytes) in {}",
        client.dir_name(),
        kept.len(),
        dir.display()
    );
    for (api, versions) in by_api {
        let versions: Vec<String> = versions.iter().map(|v| format!("v{v}")).collect();
        eprintln!("  {:<20} {}", api_name(api), versions.join(" "));
    }
}

/// Whether `frame` holds a v2 record batch anywhere: a magic byte of 2 where
/// a batch header would put it, a length that fits, and a CRC-32C that
/// matches. Cheap, and exact enough to tell record-carrying frames apart.
fn contains_record_batch(frame: &[u8]) -> bool {
    // baseOffset 8, batchLength 4, partitionLeaderEpoch 4, magic 1, crc 4,
    // then 40 more bytes of header before the first record.
    const MIN_BATCH_LENGTH: usize = 49;
    for start in 0..=frame.len().saturating_sub(12 + MIN_BATCH_LENGTH) {
        let Some(head) = frame.get(start..start + 21) else {
            break;
        };
        if head[16] != 2 {
            continue;
        }
        let length = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        let Ok(length) = usize::try_from(length) else {
            continue;
        };
        if length < MIN_BATCH_LENGTH {
            continue;
        }
        let Some(body) = frame.get(start + 21..start + 12 + length) else {
            continue;
        };
        let crc = u32::from_be_bytes([head[17], head[18], head[19], head[20]]);
        if crc32c(body) == crc {
            return true;
        }
    }
    false
}

/// CRC-32C (Castagnoli), bit by bit: only run over a few small frames.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// Kafka's name of API `key`, as in its message specs.
fn api_name(key: i16) -> &'static str {
    const NAMES: [&str; 88] = [
        "Produce",
        "Fetch",
        "ListOffsets",
        "Metadata",
        "LeaderAndIsr",
        "StopReplica",
        "UpdateMetadata",
        "ControlledShutdown",
        "OffsetCommit",
        "OffsetFetch",
        "FindCoordinator",
        "JoinGroup",
        "Heartbeat",
        "LeaveGroup",
        "SyncGroup",
        "DescribeGroups",
        "ListGroups",
        "SaslHandshake",
        "ApiVersions",
        "CreateTopics",
        "DeleteTopics",
        "DeleteRecords",
        "InitProducerId",
        "OffsetForLeaderEpoch",
        "AddPartitionsToTxn",
        "AddOffsetsToTxn",
        "EndTxn",
        "WriteTxnMarkers",
        "TxnOffsetCommit",
        "DescribeAcls",
        "CreateAcls",
        "DeleteAcls",
        "DescribeConfigs",
        "AlterConfigs",
        "AlterReplicaLogDirs",
        "DescribeLogDirs",
        "SaslAuthenticate",
        "CreatePartitions",
        "CreateDelegationToken",
        "RenewDelegationToken",
        "ExpireDelegationToken",
        "DescribeDelegationToken",
        "DeleteGroups",
        "ElectLeaders",
        "IncrementalAlterConfigs",
        "AlterPartitionReassignments",
        "ListPartitionReassignments",
        "OffsetDelete",
        "DescribeClientQuotas",
        "AlterClientQuotas",
        "DescribeUserScramCredentials",
        "AlterUserScramCredentials",
        "Vote",
        "BeginQuorumEpoch",
        "EndQuorumEpoch",
        "DescribeQuorum",
        "AlterPartition",
        "UpdateFeatures",
        "Envelope",
        "FetchSnapshot",
        "DescribeCluster",
        "DescribeProducers",
        "BrokerRegistration",
        "BrokerHeartbeat",
        "UnregisterBroker",
        "DescribeTransactions",
        "ListTransactions",
        "AllocateProducerIds",
        "ConsumerGroupHeartbeat",
        "ConsumerGroupDescribe",
        "ControllerRegistration",
        "GetTelemetrySubscriptions",
        "PushTelemetry",
        "AssignReplicasToDirs",
        "ListClientMetricsResources",
        "DescribeTopicPartitions",
        "ShareGroupHeartbeat",
        "ShareGroupDescribe",
        "ShareFetch",
        "ShareAcknowledge",
        "AddRaftVoter",
        "RemoveRaftVoter",
        "UpdateRaftVoter",
        "InitializeShareGroupState",
        "ReadShareGroupState",
        "WriteShareGroupState",
        "DeleteShareGroupState",
        "ReadShareGroupStateSummary",
    ];
    usize::try_from(key)
        .ok()
        .and_then(|k| NAMES.get(k))
        .copied()
        .unwrap_or("Unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
    }

    #[test]
    fn api_names() {
        assert_eq!(api_name(0), "Produce");
        assert_eq!(api_name(18), "ApiVersions");
        assert_eq!(api_name(87), "ReadShareGroupStateSummary");
        assert_eq!(api_name(88), "Unknown");
        assert_eq!(api_name(-1), "Unknown");
    }
}
