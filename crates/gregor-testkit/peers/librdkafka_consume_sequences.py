# Reads every partition of a topic from the beginning to its end with
# librdkafka and summarises the values (decimal integers) per partition:
# count, sum, first, last, and the values out of order or seen twice.
# Usage: BOOTSTRAP TOPIC PARTITIONS
import json
import sys

from confluent_kafka import Consumer, TopicPartition, OFFSET_BEGINNING

bootstrap, topic, partitions = sys.argv[1], sys.argv[2], int(sys.argv[3])
c = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": "gregor-peer-sequences",
    "enable.auto.commit": False,
    "socket.timeout.ms": 10000,
})
ends = {}
for p in range(partitions):
    low, high = c.get_watermark_offsets(TopicPartition(topic, p), timeout=15)
    ends[p] = high
c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
out = {p: {"count": 0, "sum": 0, "first": None, "last": None, "out_of_order": [], "duplicates": []}
       for p in range(partitions)}
seen = {p: set() for p in range(partitions)}
done = {p for p in range(partitions) if ends[p] == 0}
idle = 0
while len(done) < partitions and idle < 100:
    msgs = c.consume(num_messages=10000, timeout=0.2)
    if not msgs:
        idle += 1
        continue
    idle = 0
    for m in msgs:
        if m.error():
            raise SystemExit(str(m.error()))
        p = m.partition()
        v = int(m.value())
        s = out[p]
        if v in seen[p]:
            if len(s["duplicates"]) < 20:
                s["duplicates"].append(v)
        seen[p].add(v)
        if s["last"] is not None and v <= s["last"] and len(s["out_of_order"]) < 20:
            s["out_of_order"].append(v)
        s["count"] += 1
        s["sum"] += v
        if s["first"] is None:
            s["first"] = v
        s["last"] = v
        if m.offset() + 1 >= ends[p]:
            done.add(p)
c.close()
print(json.dumps({"client": "librdkafka", "ends": {str(p): e for p, e in ends.items()},
                  "partitions": {str(p): s for p, s in out.items()}}))
