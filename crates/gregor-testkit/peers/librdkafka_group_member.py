# Joins a consumer group through librdkafka and stays in it until stdin closes.
# Args: bootstrap group topic client_id. Prints one JSON line once assigned:
# {"client": "librdkafka", "assigned": [[topic, partition], ...]}.
import json
import select
import sys
import time

from confluent_kafka import Consumer

bootstrap, group, topic, client_id = sys.argv[1:5]
consumer = Consumer({
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "client.id": client_id,
    "enable.auto.commit": False,
    "auto.offset.reset": "earliest",
    "session.timeout.ms": 10000,
    "partition.assignment.strategy": "range",
})
assigned = []


def on_assign(c, partitions):
    assigned.extend((p.topic, p.partition) for p in partitions)


consumer.subscribe([topic], on_assign=on_assign)
deadline = time.time() + 60
while not assigned and time.time() < deadline:
    consumer.poll(0.1)
print(json.dumps({"client": "librdkafka", "assigned": sorted(assigned)}), flush=True)
# Stay a member (librdkafka heartbeats in the background) until told to go.
stop_at = time.time() + 120
while time.time() < stop_at:
    ready, _, _ = select.select([sys.stdin], [], [], 0.1)
    if ready and not sys.stdin.read(1):
        break
    consumer.poll(0)
consumer.close()
