# Reads every record of a topic's partitions with kafka-python and prints
# them byte for byte (hex; null as None), in offset order per partition.
# Usage: BOOTSTRAP TOPIC PARTITIONS
import json
import sys

from kafka import KafkaConsumer, TopicPartition

bootstrap, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                  group_id=None, consumer_timeout_ms=5000, request_timeout_ms=20000)
tps = [TopicPartition(topic, p) for p in range(partitions)]
c.assign(tps)
c.seek_to_beginning(*tps)
ends = c.end_offsets(tps)
hexed = lambda b: None if b is None else b.hex()
records = {str(p): [] for p in range(partitions)}
remaining = {tp for tp in tps if ends[tp] > 0}
while remaining:
    polled = c.poll(timeout_ms=2000, max_records=1000)
    if not polled:
        break
    for tp, msgs in polled.items():
        for m in msgs:
            records[str(tp.partition)].append({
                "offset": m.offset, "key": hexed(m.key), "value": hexed(m.value),
                "headers": [[k, hexed(v)] for k, v in (m.headers or [])],
                "timestamp": m.timestamp,
            })
            if m.offset + 1 >= ends[tp]:
                remaining.discard(tp)
c.close()
print(json.dumps({"client": "kafka-python", "records": records}))
