"""Golden capture peer: kafka-python.

Run by `cargo xtask capture` as
`python kafka_python.py BOOTSTRAP OUT.json [API_VERSION]` against the capture
proxy; with API_VERSION (say `2.1`) kafka-python speaks to the broker as to
that Kafka version, so it uses older, non-flexible request versions. It creates one topic per compression codec,
produces a fixed set of records to each with an idempotent producer, consumes
them back in a consumer group (committing, fetching the committed offsets and
listing offsets on the way), and writes what it produced to OUT.json so the
tests can compare the captured record batches with it.

kafka-python refuses null header values and records whose key and value are
both null, so its set has neither.
"""

import json
import sys
import time
import types

try:
    import snappy  # noqa: F401
except ImportError:
    # kafka-python compresses snappy through python-snappy, which the peers'
    # virtualenv does not hold; python-snappy 0.7 is itself a thin layer over
    # cramjam's raw snappy functions, so the same layer stands in for it.
    import cramjam

    snappy = types.ModuleType("snappy")
    snappy.compress = lambda data: bytes(cramjam.snappy.compress_raw(bytes(data)))
    snappy.decompress = lambda data: bytes(cramjam.snappy.decompress_raw(bytes(data)))
    sys.modules["snappy"] = snappy

import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

CLIENT = "kafka-python"
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
BASE_TS = 1700000000000
GROUP = "golden-kafka-python-group"


def topic_of(codec):
    return f"golden-{codec}"


def records_for(codec):
    """The records produced with `codec`: (key, value, headers, timestamp)."""
    return [
        (b"key-0", f"value-0 ({codec})".encode(), [("h1", b"v1"), ("empty", b"")], BASE_TS),
        (None, b"a value with a null key", [], BASE_TS + 1),
        (b"key-2", None, [("tombstone", b"yes")], BASE_TS + 2),
        (b"", b"", [("bin", b"\x00\x01\xfe\xff")], BASE_TS + 3),
        # Earlier than the batch's first record: a negative timestamp delta.
        (b"key-4", "ünïcödé ✓".encode(), [], BASE_TS - 5),
        (b"key-5", ("compressible " * 40).encode(), [("h", b"x" * 50)], BASE_TS + 1000),
    ]


def hexb(b):
    return None if b is None else bytes(b).hex()


def main():
    bootstrap, out = sys.argv[1], sys.argv[2]
    label = CLIENT
    common = {"bootstrap_servers": bootstrap}
    if len(sys.argv) > 3:
        label = f"{CLIENT}-api-{sys.argv[3]}"
        common["api_version"] = tuple(int(x) for x in sys.argv[3].split("."))
    common["client_id"] = f"golden-{label}"

    admin = KafkaAdminClient(**common)
    admin.create_topics(
        [NewTopic(topic_of(c), num_partitions=1, replication_factor=1) for c in CODECS],
        timeout_ms=10000,
    )
    admin.list_topics()
    admin.close()

    produced = []
    for codec in CODECS:
        producer = KafkaProducer(
            **common,
            compression_type=None if codec == "none" else codec,
            enable_idempotence=True,
            acks="all",
            # One batch per topic: everything is produced before the first send.
            linger_ms=200,
        )
        topic = topic_of(codec)
        recs = records_for(codec)
        futures = [
            producer.send(topic, key=key, value=value, headers=headers, partition=0, timestamp_ms=ts)
            for key, value, headers, ts in recs
        ]
        producer.flush(30)
        for fut, (key, value, headers, ts) in zip(futures, recs):
            meta = fut.get(timeout=30)
            produced.append(
                {
                    "topic": topic,
                    "partition": 0,
                    "offset": meta.offset,
                    "key": hexb(key),
                    "value": hexb(value),
                    "headers": [{"key": k, "value": hexb(v)} for k, v in headers],
                    "timestamp": ts,
                    "codec": codec,
                }
            )
        producer.close(timeout=10)

    consumer = KafkaConsumer(
        **common,
        group_id=GROUP,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=100,
    )
    consumer.subscribe([topic_of(c) for c in CODECS])
    want = {(r["topic"], r["offset"]): r for r in produced}
    seen = {}
    deadline = time.time() + 60
    while len(seen) < len(want) and time.time() < deadline:
        for _tp, msgs in consumer.poll(timeout_ms=500).items():
            for msg in msgs:
                seen[(msg.topic, msg.offset)] = msg
    if len(seen) < len(want):
        raise SystemExit(f"consumed {len(seen)} of {len(want)} records")
    for k, msg in seen.items():
        r = want[k]
        got = {
            "key": hexb(msg.key),
            "value": hexb(msg.value),
            "headers": [{"key": hk, "value": hexb(hv)} for hk, hv in msg.headers],
            "timestamp": msg.timestamp,
        }
        exp = {x: r[x] for x in got}
        if got != exp:
            raise SystemExit(f"consumed {got} but produced {exp}")

    # Stay in the group for a few heartbeats.
    end = time.time() + 0.6
    while time.time() < end:
        consumer.poll(timeout_ms=100)
    consumer.commit()
    tps = [TopicPartition(topic_of(c), 0) for c in CODECS]
    for tp in tps:
        committed = consumer.committed(tp)
        if committed != len(records_for("none")):
            raise SystemExit(f"committed offset of {tp}: {committed}")
    # ListOffsets, earliest/latest and by timestamp; the broker's answers are
    # its business, so they are only printed.
    low = consumer.beginning_offsets(tps[:1])
    high = consumer.end_offsets(tps[:1])
    by_time = consumer.offsets_for_times({tps[0]: BASE_TS + 2})
    print(f"watermarks {low}..{high}, offset for time {by_time}")
    consumer.close()

    with open(out, "w", encoding="utf-8") as f:
        json.dump(
            {
                "client": label,
                "client_version": kafka.__version__,
                "package": f"kafka-python {kafka.__version__}",
                "records": produced,
            },
            f,
            indent=1,
        )
    print(f"{label} {kafka.__version__}: produced and consumed {len(produced)} records")


if __name__ == "__main__":
    main()
