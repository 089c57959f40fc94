# Reports the partition librdkafka's built-in partitioners choose for each
# key. For every partitioner named in argv[3] (comma separated) and every
# topic in argv[4] (comma separated NAME:PARTITIONS), produces one record
# per key (hex strings in the JSON list file argv[2]) and records the
# partition from its delivery report.
# Usage: BOOTSTRAP KEYS_JSON_FILE PARTITIONERS TOPICS
import json
import sys

from confluent_kafka import Producer

bootstrap, keys_file = sys.argv[1], sys.argv[2]
partitioners, topics = sys.argv[3].split(","), sys.argv[4].split(",")
with open(keys_file) as f:
    keys = [bytes.fromhex(k) for k in json.load(f)]
out = {}
for name in partitioners:
    p = Producer({"bootstrap.servers": bootstrap, "partitioner": name, "linger.ms": 20})
    per_count = {}
    for spec in topics:
        topic, count = spec.rsplit(":", 1)
        chosen = [None] * len(keys)
        errors = []

        def report(err, msg, chosen=chosen, errors=errors):
            if err:
                errors.append(str(err))
            else:
                chosen[int(msg.value())] = msg.partition()

        for i, k in enumerate(keys):
            p.produce(topic, key=k, value=str(i).encode(), on_delivery=report)
            p.poll(0)
        p.flush(60)
        if errors:
            raise SystemExit("; ".join(errors[:5]))
        per_count[count] = chosen
    out[name] = per_count
print(json.dumps({"client": "librdkafka", "version": __import__("confluent_kafka").libversion()[0],
                  "partitions": out}))
