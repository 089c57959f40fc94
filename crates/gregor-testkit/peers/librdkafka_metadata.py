# Prints the cluster's brokers and topics as librdkafka sees them.
import json
import sys

from confluent_kafka.admin import AdminClient

admin = AdminClient({"bootstrap.servers": sys.argv[1], "socket.timeout.ms": 10000})
md = admin.list_topics(timeout=15)
print(json.dumps({
    "client": "librdkafka",
    "brokers": sorted(
        ({"id": b.id, "host": b.host, "port": b.port} for b in md.brokers.values()),
        key=lambda b: b["id"],
    ),
    "topics": {name: len(t.partitions) for name, t in md.topics.items() if t.error is None},
}))
