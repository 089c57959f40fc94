"""Golden capture peer: librdkafka (through confluent-kafka).

Run by `cargo xtask capture` as `python librdkafka.py BOOTSTRAP OUT.json`
against the capture proxy. It creates one topic per compression codec,
produces a fixed set of records to each with an idempotent producer, consumes
them back in a consumer group (committing, fetching the committed offsets and
listing offsets on the way), and writes what it produced to OUT.json so the
tests can compare the captured record batches with it.
"""

import json
import sys
import time

import confluent_kafka
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

CLIENT = "librdkafka"
CODECS = ["none", "gzip", "snappy", "lz4", "zstd"]
BASE_TS = 1700000000000
GROUP = "golden-librdkafka-group"


def topic_of(codec):
    return f"golden-{codec}"


def records_for(codec):
    """The records produced with `codec`: (key, value, headers, timestamp)."""
    return [
        (b"key-0", f"value-0 ({codec})".encode(), [("h1", b"v1"), ("empty", b""), ("null", None)], BASE_TS),
        (None, b"a value with a null key", [], BASE_TS + 1),
        (b"key-2", None, [("tombstone", b"yes")], BASE_TS + 2),
        (None, None, [("both-null", b"\x00\x01\xfe\xff")], BASE_TS + 3),
        # Earlier than the batch's first record: a negative timestamp delta.
        (b"key-4", "ünïcödé ✓".encode(), [], BASE_TS - 5),
        (b"key-5", ("compressible " * 40).encode(), [("h", b"x" * 50)], BASE_TS + 1000),
    ]


def hexb(b):
    return None if b is None else b.hex()


def main():
    bootstrap, out = sys.argv[1], sys.argv[2]
    common = {"bootstrap.servers": bootstrap, "client.id": f"golden-{CLIENT}"}

    admin = AdminClient(common)
    futures = admin.create_topics(
        [NewTopic(topic_of(c), num_partitions=1, replication_factor=1) for c in CODECS],
        operation_timeout=10,
    )
    for f in futures.values():
        f.result(timeout=30)
    admin.list_topics(timeout=10)

    produced = []
    for codec in CODECS:
        producer = Producer(
            {
                **common,
                "compression.type": codec,
                "enable.idempotence": True,
                # One batch per topic: everything is produced before the first send.
                "linger.ms": 200,
            }
        )
        delivered = {}

        def on_delivery(err, msg, index):
            if err is not None:
                raise SystemExit(f"delivery failed: {err}")
            delivered[index] = msg.offset()

        topic = topic_of(codec)
        recs = records_for(codec)
        for i, (key, value, headers, ts) in enumerate(recs):
            producer.produce(
                topic,
                key=key,
                value=value,
                headers=headers,
                partition=0,
                timestamp=ts,
                on_delivery=lambda err, msg, i=i: on_delivery(err, msg, i),
            )
        if producer.flush(30) != 0:
            raise SystemExit("flush timed out")
        for i, (key, value, headers, ts) in enumerate(recs):
            produced.append(
                {
                    "topic": topic,
                    "partition": 0,
                    "offset": delivered[i],
                    "key": hexb(key),
                    "value": hexb(value),
                    "headers": [{"key": k, "value": hexb(v)} for k, v in headers],
                    "timestamp": ts,
                    "codec": codec,
                }
            )

    consumer = Consumer(
        {
            **common,
            "group.id": GROUP,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
            "heartbeat.interval.ms": 100,
        }
    )
    consumer.subscribe([topic_of(c) for c in CODECS])
    want = {(r["topic"], r["offset"]): r for r in produced}
    seen = {}
    deadline = time.time() + 60
    while len(seen) < len(want) and time.time() < deadline:
        msg = consumer.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            raise SystemExit(f"consume failed: {msg.error()}")
        seen[(msg.topic(), msg.offset())] = msg
    if len(seen) < len(want):
        raise SystemExit(f"consumed {len(seen)} of {len(want)} records")
    for k, msg in seen.items():
        r = want[k]
        got = {
            "key": hexb(msg.key()),
            "value": hexb(msg.value()),
            "headers": [{"key": hk, "value": hexb(hv)} for hk, hv in (msg.headers() or [])],
            "timestamp": msg.timestamp()[1],
        }
        exp = {x: r[x] for x in got}
        if got != exp:
            raise SystemExit(f"consumed {got} but produced {exp}")

    # Stay in the group for a few heartbeats.
    end = time.time() + 0.6
    while time.time() < end:
        consumer.poll(0.1)
    consumer.commit(asynchronous=False)
    tps = [TopicPartition(topic_of(c), 0) for c in CODECS]
    committed = consumer.committed(tps, timeout=10)
    for tp in committed:
        if tp.offset != len(records_for("none")):
            raise SystemExit(f"committed offset {tp}")
    # ListOffsets, latest/earliest and by timestamp; the broker's answers are
    # its business, so they are only printed.
    low, high = consumer.get_watermark_offsets(tps[0], timeout=10, cached=False)
    by_time = consumer.offsets_for_times([TopicPartition(topic_of("none"), 0, BASE_TS + 2)], timeout=10)
    print(f"watermarks {low}..{high}, offset for time {by_time[0].offset}")
    consumer.close()

    with open(out, "w", encoding="utf-8") as f:
        json.dump(
            {
                "client": CLIENT,
                "client_version": confluent_kafka.libversion()[0],
                "package": f"confluent-kafka {confluent_kafka.__version__}",
                "records": produced,
            },
            f,
            indent=1,
        )
    print(f"{CLIENT} {confluent_kafka.libversion()[0]}: produced and consumed {len(produced)} records")


if __name__ == "__main__":
    main()
