# Prints a topic's configs as librdkafka (confluent-kafka's AdminClient) describes them.
import json
import sys

from confluent_kafka.admin import AdminClient, ConfigResource

admin = AdminClient({"bootstrap.servers": sys.argv[1], "socket.timeout.ms": 10000})
resource = ConfigResource("topic", sys.argv[2])
entries = admin.describe_configs([resource])[resource].result(timeout=15)
print(json.dumps({
    "client": "librdkafka",
    "configs": {name: e.value for name, e in entries.items()},
}))
