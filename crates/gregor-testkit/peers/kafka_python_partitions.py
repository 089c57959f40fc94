# The partition kafka-python's default partitioner (Java-compatible
# murmur2, its own pure-Python port) chooses for each key of the JSON list file argv[1] (hex
# strings), for each partition count in argv[2] (comma separated). No
# broker: it is a pure function.
# Usage: KEYS_JSON_FILE COUNTS
import json
import sys

from kafka.partitioner.default import murmur2

with open(sys.argv[1]) as f:
    keys = [bytes.fromhex(k) for k in json.load(f)]
out = {}
for count in sys.argv[2].split(","):
    # DefaultPartitioner.partition for a keyed record, without the cluster
    # object it looks the partitions up in.
    out[count] = [(murmur2(k) & 0x7fffffff) % int(count) for k in keys]
print(json.dumps({"client": "kafka-python", "partitions": {"murmur2": out}}))
