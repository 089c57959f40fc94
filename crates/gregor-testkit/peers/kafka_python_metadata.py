# Prints the cluster's brokers and topics as kafka-python sees them.
import json
import sys

from kafka import KafkaAdminClient

admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=15000)
cluster = admin.describe_cluster()
topics = admin.describe_topics()
print(json.dumps({
    "client": "kafka-python",
    "brokers": sorted(
        ({"id": b["broker_id"], "host": b["host"], "port": b["port"]} for b in cluster["brokers"]),
        key=lambda b: b["id"],
    ),
    "topics": {t["name"]: len(t["partitions"]) for t in topics if t["error_code"] == 0},
}))
admin.close()
