# Prints a topic's configs as kafka-python's KafkaAdminClient describes them.
import json
import sys

from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

admin = KafkaAdminClient(bootstrap_servers=sys.argv[1], request_timeout_ms=15000)
topic = sys.argv[2]
described = admin.describe_configs(
    [ConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all"
)
entries = described.get("topic", {}).get(topic, {})
print(json.dumps({
    "client": "kafka-python",
    "configs": {name: e["value"] for name, e in entries.items()},
}))
admin.close()
