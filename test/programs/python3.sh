#!/usr/bin/env bash
# python3 on hmalloc: dicts, json round trips, four threads building strings
# and lists, sorting, big integers.  The printed checksums must match the
# glibc run.  Also runs once with MALLOC_CONF=stats_print:true to see that
# hmalloc really served the process (it prints its statistics at exit).
. "$(dirname "$0")/progtest.bash"

if [ -x /usr/bin/python3 ]; then
	py=/usr/bin/python3
else
	pt_need python3
	py=$(command -v python3)
fi

cat >"$pt_tmp/work.py" <<'EOF'
import hashlib, json, random, sys, threading

if hasattr(sys, "set_int_max_str_digits"):
    sys.set_int_max_str_digits(0)

def digest(obj):
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:16]

rng = random.Random(20240611)

# Dicts: build, update, delete, rebuild.
d = {}
for i in range(200000):
    d["k%07d" % rng.randrange(10**7)] = [i, str(i) * (i % 7), i * i]
for k in list(d)[::3]:
    del d[k]
for i in range(50000):
    d.setdefault("n%d" % i, {}).update({"a": i, "b": [i] * (i % 5)})
print("dict", len(d), digest(sorted(d.items())[:2000]))

# JSON round trips of a nested structure that grows each pass.
doc = {"items": [], "meta": {"seed": 20240611}}
for r in range(30):
    doc["items"].append({"id": r, "tags": ["t%d" % (r * j % 97) for j in range(200)],
                         "vals": [rng.random() for _ in range(300)],
                         "sub": {"s%d" % j: {"x": j, "y": "z" * j} for j in range(50)}})
    text = json.dumps(doc, sort_keys=True)
    back = json.loads(text)
    assert back == doc, "json round trip mismatch at pass %d" % r
    doc = back
print("json", len(text), hashlib.sha256(text.encode()).hexdigest()[:16])

# Threads: four workers build strings and lists; each writes its own slot.
results = [None] * 4
def worker(n):
    r = random.Random(1000 + n)
    parts, lists = [], []
    for i in range(40000):
        s = "".join(chr(97 + r.randrange(26)) for _ in range(r.randrange(1, 40)))
        parts.append(s)
        lists.append([s] * (i % 4) + [i])
        if len(parts) > 5000:
            del parts[: r.randrange(1, 5000)]
        if len(lists) > 3000:
            lists = lists[1500:]
    blob = "|".join(parts)
    results[n] = (len(blob), hashlib.sha256(blob.encode()).hexdigest()[:16],
                  sum(len(l) for l in lists))
threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print("threads", digest(results))

# Sorting: 300k tuples, two keys, and strings.
rows = [(rng.randrange(1000), rng.random(), "r%d" % i) for i in range(300000)]
rows.sort()
by_name = sorted(rows, key=lambda t: (t[2][::-1], t[0]))
words = sorted(("%x" % rng.getrandbits(48)) for _ in range(200000))
print("sort", digest(rows[::1000]), digest(by_name[::1000]), digest(words[::997]))

# Big integers.
f = 1
for i in range(2, 4001):
    f *= i
a, b = 0, 1
for _ in range(20000):
    a, b = b, a + b
p = pow(3, 100000, 10**2000 + 7)
big = int("7" * 5000) * int("3" * 4000) // (f % 10**500 + 1)
print("bigint", len(str(f)), digest(str(f)[-500:]), len(str(a)),
      str(a)[:20], digest(p), digest(big))
sys.stdout.flush()
EOF

# PYTHONMALLOC=malloc: every object, not only those over 512 bytes, comes
# from malloc (pymalloc would serve the small ones from its own pools).
export PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1 PYTHONMALLOC=malloc
pt_run glibc glibc "$py" -s "$pt_tmp/work.py"
pt_run hmalloc hm "$py" -s "$pt_tmp/work.py"
pt_compare_runs glibc hm
grep -q '^bigint ' "$pt_tmp/hm.out" || pt_fail "incomplete output under hmalloc"

# Did hmalloc serve the process?  Ask it to print its statistics at exit.
if [ -n "$pt_lib" ]; then
	conf="${MALLOC_CONF:+$MALLOC_CONF,}stats_print:true"
	pt_run hmalloc stats MALLOC_CONF="$conf" "$py" -s -c \
		'import json; print(len(json.dumps([{"k%d" % i: i} for i in range(10000)])))'
	grep -q '___ Begin hmalloc statistics ___' "$pt_tmp/stats.err" "$pt_tmp/stats.out" ||
		pt_fail "hmalloc did not serve the program: no statistics report at exit with MALLOC_CONF=$conf"
	pt_log "ok: hmalloc printed its statistics at exit"
fi
exit 0
