# Produces the records given as JSON file argv[4] (a list of {"partition",
# "key", "value", "headers"}, bytes as hex, null as None) with kafka-python
# and the codec on argv[3], then prints how many were acknowledged.
# Usage: BOOTSTRAP TOPIC CODEC RECORDS_JSON_FILE
import json
import sys

from kafka import KafkaProducer

bootstrap, topic, codec, records = sys.argv[1], sys.argv[2], sys.argv[3], json.load(open(sys.argv[4]))
p = KafkaProducer(bootstrap_servers=bootstrap, acks="all",
                  compression_type=None if codec == "none" else codec, linger_ms=5)
unhex = lambda h: None if h is None else bytes.fromhex(h)
futures = [p.send(topic, partition=r["partition"], key=unhex(r["key"]), value=unhex(r["value"]),
                  headers=[(k, unhex(v)) for k, v in r["headers"]]) for r in records]
acked = sum(1 for f in futures if f.get(timeout=30) is not None)
p.close()
print(json.dumps({"client": "kafka-python", "acked": acked, "errors": []}))
