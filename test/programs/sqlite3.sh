#!/usr/bin/env bash
# sqlite3 on hmalloc: 100k rows inserted into an indexed table from a
# recursive CTE, then joins, aggregates, group by, window functions and an
# in-memory sort.  The query results must match the glibc run.
. "$(dirname "$0")/progtest.bash"

pt_need sqlite3

cat >"$pt_tmp/work.sql" <<'EOF'
PRAGMA journal_mode = OFF;
PRAGMA synchronous = OFF;
PRAGMA cache_size = -20000;
CREATE TABLE t(id INTEGER PRIMARY KEY, grp INTEGER, val INTEGER, name TEXT, pad BLOB);
CREATE INDEX t_grp_val ON t(grp, val);
CREATE INDEX t_name ON t(name);
-- A linear congruential sequence: deterministic "random" values.
WITH RECURSIVE seq(i, x) AS (
    SELECT 1, 20240611
    UNION ALL
    SELECT i + 1, (x * 1103515245 + 12345) % 2147483648 FROM seq WHERE i < 100000
)
INSERT INTO t(id, grp, val, name, pad)
SELECT i, x % 997, (x / 997) % 1000000,
       printf('n%06d-%s', x % 500000, substr('abcdefghijklmnopqrstuvwxyz', 1 + x % 26, 1 + x % 11)),
       zeroblob(x % 300)
FROM seq;
CREATE TABLE g(grp INTEGER PRIMARY KEY, label TEXT);
INSERT INTO g SELECT DISTINCT grp, 'group-' || grp FROM t;
.headers on
.mode list
SELECT count(*), sum(val), min(val), max(val), sum(length(pad)), count(DISTINCT grp), count(DISTINCT name) FROM t;
SELECT grp, count(*), sum(val), avg(val), min(name), max(name) FROM t GROUP BY grp ORDER BY sum(val) DESC, grp LIMIT 20;
SELECT g.label, count(*) AS n, total(t.val) FROM t JOIN g USING (grp) WHERE t.val BETWEEN 1000 AND 400000 GROUP BY g.label HAVING n > 40 ORDER BY n DESC, g.label LIMIT 15;
SELECT name, val FROM t WHERE name LIKE 'n0001%' ORDER BY name, id LIMIT 20;
SELECT id, grp, val, rank() OVER (PARTITION BY grp ORDER BY val DESC, id) AS r FROM t WHERE grp < 3 ORDER BY grp, r LIMIT 30;
SELECT substr(name, 9) AS suffix, count(*), group_concat(id % 10, '') FROM (SELECT * FROM t ORDER BY id LIMIT 3000) GROUP BY suffix ORDER BY suffix;
UPDATE t SET val = val + 1, name = name || '-u' WHERE grp % 5 = 0;
DELETE FROM t WHERE val % 7 = 0;
SELECT count(*), sum(val), count(DISTINCT name) FROM t;
SELECT sum(length(s)) FROM (SELECT group_concat(name, ',') AS s FROM t GROUP BY grp);
PRAGMA integrity_check;
EOF

pt_run glibc glibc sqlite3 "$pt_tmp/glibc.db" -bail -init /dev/null ".read $pt_tmp/work.sql"
pt_run hmalloc hm sqlite3 "$pt_tmp/hm.db" -bail -init /dev/null ".read $pt_tmp/work.sql"
pt_compare_runs glibc hm
grep -qx 'ok' "$pt_tmp/hm.out" || pt_fail "PRAGMA integrity_check did not say ok under hmalloc"
exit 0
