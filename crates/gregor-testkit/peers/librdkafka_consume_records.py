# Reads every record of a topic's partitions with librdkafka and prints
# them byte for byte (hex; null as None), in offset order per partition.
# Usage: BOOTSTRAP TOPIC PARTITIONS
import json
import sys

from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING

bootstrap, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": "gregor-peer-records",
    "enable.auto.commit": False,
    "socket.timeout.ms": 10000,
})
ends = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=15)[1] for p in range(partitions)}
c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
hexed = lambda b: None if b is None else b.hex()
records = {str(p): [] for p in range(partitions)}
done = {p for p in range(partitions) if ends[p] == 0}
idle = 0
while len(done) < partitions and idle < 100:
    msgs = c.consume(num_messages=1000, timeout=0.2)
    if not msgs:
        idle += 1
        continue
    idle = 0
    for m in msgs:
        if m.error():
            raise SystemExit(str(m.error()))
        headers = [[k, hexed(v)] for k, v in (m.headers() or [])]
        records[str(m.partition())].append({
            "offset": m.offset(), "key": hexed(m.key()), "value": hexed(m.value()),
            "headers": headers, "timestamp": m.timestamp()[1],
        })
        if m.offset() + 1 >= ends[m.partition()]:
            done.add(m.partition())
c.close()
print(json.dumps({"client": "librdkafka", "records": records}))
