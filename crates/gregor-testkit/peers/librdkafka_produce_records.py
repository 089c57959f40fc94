# Produces the records given as JSON file argv[4] (a list of {"partition",
# "key", "value", "headers"}, bytes as hex, null as None) with librdkafka
# and the codec on argv[3], then prints how many were acknowledged.
# Usage: BOOTSTRAP TOPIC CODEC RECORDS_JSON_FILE
import json
import sys

from confluent_kafka import Producer

bootstrap, topic, codec, records = sys.argv[1], sys.argv[2], sys.argv[3], json.load(open(sys.argv[4]))
p = Producer({"bootstrap.servers": bootstrap, "compression.type": codec,
              "enable.idempotence": True, "linger.ms": 5})
unhex = lambda h: None if h is None else bytes.fromhex(h)
acked, errors = [], []
def report(err, msg):
    if err:
        errors.append(str(err))
    else:
        acked.append(msg.offset())
for r in records:
    p.produce(topic, partition=r["partition"], key=unhex(r["key"]), value=unhex(r["value"]),
              headers=[(k, unhex(v)) for k, v in r["headers"]], on_delivery=report)
p.flush(30)
print(json.dumps({"client": "librdkafka", "acked": len(acked), "errors": errors}))
