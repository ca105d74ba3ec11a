# bench/workload.py: a fixed Python workload for bench/run.py, run whole
# under each allocator: dicts of small objects, JSON encode/decode, string
# building and sorting.  Seeded; prints checksum=<hex> of its results.
import hashlib
import json
import random
import sys

scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
rng = random.Random(31337)
digest = hashlib.sha256()
rounds = max(1, int(6 * scale))

for rnd in range(rounds):
    # Records as dicts, as a web service holds them.
    records = []
    for i in range(20000):
        records.append({
            "id": i,
            "name": "user%d_%d" % (rng.randrange(100000), rnd),
            "score": rng.random(),
            "tags": [rng.choice("abcdefghij") * rng.randrange(1, 8)
                     for _ in range(rng.randrange(0, 6))],
        })
    # JSON round trip.
    text = json.dumps(records, sort_keys=True)
    back = json.loads(text)
    digest.update(str(len(text)).encode())
    # Sorting by several keys.
    back.sort(key=lambda r: (-len(r["tags"]), r["name"], r["id"]))
    digest.update(json.dumps([r["id"] for r in back[:200]]).encode())
    # Group into a dict of lists, then count words.
    groups = {}
    for r in back:
        groups.setdefault(r["name"][:5], []).append(r["score"])
    summary = sorted((k, len(v), round(sum(v), 6)) for k, v in groups.items())
    digest.update(repr(summary[:100]).encode())
    counts = {}
    for r in back:
        for t in r["tags"]:
            counts[t] = counts.get(t, 0) + 1
    digest.update(repr(sorted(counts.items())).encode())
    # String building.
    parts = ["%s=%d" % (r["name"], r["id"]) for r in back if r["id"] % 3 == 0]
    joined = ",".join(parts)
    digest.update(hashlib.sha256(joined.encode()).digest())
    del records, back, groups, counts, parts, joined, text

print("checksum=%s" % digest.hexdigest()[:16])
