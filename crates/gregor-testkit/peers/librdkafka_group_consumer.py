# A librdkafka (confluent-kafka) member of a consumer group, for the
# consumer group tests. It processes every record it gets (prints it),
# commits what it processed when partitions are revoked and when it
# stops, never commits lost partitions, and reports as it goes:
#
#   {"event": "ready"}                          subscribed
#   {"event": "assigned", "partitions": [...], "t": secs}
#   {"event": "revoked",  "partitions": [...], "t": secs}   after the commit
#   {"event": "lost",     "partitions": [...], "t": secs}
#   R <partition> <offset> <key>                one processed record
#   {"event": "closed", "t": secs}              left the group
#
# Arguments: bootstrap topic group strategy [instance_id|-] [max_records]
# [delay_secs]. It stops after max_records records (0: never), or when a
# line "stop" arrives on stdin.
import json
import sys
import threading
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

bootstrap, topic, group, strategy = sys.argv[1:5]
instance = sys.argv[5] if len(sys.argv) > 5 and sys.argv[5] != "-" else None
max_records = int(sys.argv[6]) if len(sys.argv) > 6 else 0
delay = float(sys.argv[7]) if len(sys.argv) > 7 else 0.0

out_lock = threading.Lock()


def emit(line):
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def event(name, partitions=None):
    doc = {"event": name, "t": time.time()}
    if partitions is not None:
        doc["partitions"] = sorted(p.partition for p in partitions)
    emit(json.dumps(doc))


config = {
    "bootstrap.servers": bootstrap,
    "group.id": group,
    "partition.assignment.strategy": strategy,
    "enable.auto.commit": False,
    "enable.auto.offset.store": False,
    "auto.offset.reset": "earliest",
    "session.timeout.ms": 6000,
    "heartbeat.interval.ms": 500,
    "max.poll.interval.ms": 60000,
    "fetch.wait.max.ms": 100,
}
if instance:
    config["group.instance.id"] = instance
consumer = Consumer(config)
processed = {}  # partition -> next offset to consume


def commit(partitions):
    offsets = [
        TopicPartition(topic, p.partition, processed[p.partition])
        for p in partitions
        if p.partition in processed
    ]
    if offsets:
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as e:
            emit(json.dumps({"event": "commit_failed", "error": str(e)}))


def on_assign(c, partitions):
    event("assigned", partitions)


def on_revoke(c, partitions):
    commit(partitions)
    for p in partitions:
        processed.pop(p.partition, None)
    event("revoked", partitions)


def on_lost(c, partitions):
    for p in partitions:
        processed.pop(p.partition, None)
    event("lost", partitions)


stop = threading.Event()


def watch_stdin():
    for line in sys.stdin:
        if line.strip() == "stop":
            break
    stop.set()


threading.Thread(target=watch_stdin, daemon=True).start()
consumer.subscribe([topic], on_assign=on_assign, on_revoke=on_revoke, on_lost=on_lost)
event("ready")
count = 0
while not stop.is_set() and (max_records == 0 or count < max_records):
    msg = consumer.poll(0.1)
    if msg is None:
        continue
    if msg.error():
        emit(json.dumps({"event": "error", "error": str(msg.error())}))
        continue
    key = msg.key().decode() if msg.key() is not None else ""
    emit("R %d %d %s" % (msg.partition(), msg.offset(), key))
    processed[msg.partition()] = msg.offset() + 1
    count += 1
    if delay:
        time.sleep(delay)
# Commit what was processed, then leave (the revocation on close commits
# again, harmlessly).
commit([TopicPartition(topic, p) for p in list(processed)])
consumer.close()
event("closed")
