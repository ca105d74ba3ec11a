-- bench/workload.sql: a fixed SQLite workload for bench/run.py, run whole
-- by the sqlite3 shell under each allocator.  An in-memory database (so
-- SQLite's page cache is malloc'd), 200,000 rows inserted with a secondary
-- index, then queries.  Values come from arithmetic on the row number, so
-- the data are the same on every run; the last line is checksum=<hex>.
PRAGMA cache_size = -65536;
CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER, name TEXT, val REAL,
                payload TEXT);
CREATE INDEX t_k ON t (k);
CREATE INDEX t_name ON t (name);
CREATE TABLE results (q TEXT, v INTEGER);
BEGIN;
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
INSERT INTO t (id, k, name, val, payload)
SELECT i,
       (i * 7919) % 50021,
       'name-' || ((i * 104729) % 99991),
       ((i * 31337) % 100000) / 1000.0,
       substr(hex(((i * 2654435761) % 4294967296)), 1, 4 + (i % 11)) ||
           printf('%0*d', 10 + (i * 13) % 90, i)
FROM n;
COMMIT;
BEGIN;
UPDATE t SET val = val * 2 WHERE k % 10 = 3;
DELETE FROM t WHERE k % 17 = 0;
COMMIT;
INSERT INTO results SELECT 'count', count(*) FROM t;
INSERT INTO results SELECT 'sumk', sum(k) FROM t;
INSERT INTO results SELECT 'groups', sum(c * g) % 1000000007 FROM
    (SELECT k % 1000 AS g, count(*) AS c FROM t GROUP BY g);
INSERT INTO results SELECT 'range', sum(id) % 1000000007 FROM t
    WHERE k BETWEEN 1000 AND 20000;
INSERT INTO results SELECT 'names', count(DISTINCT name) FROM t;
INSERT INTO results SELECT 'order', sum(id * rn) % 1000000007 FROM
    (SELECT id, row_number() OVER (ORDER BY payload, id) AS rn FROM t
     ORDER BY payload LIMIT 5000);
INSERT INTO results SELECT 'join', count(*) FROM t AS a JOIN t AS b
    ON a.k = b.k AND a.id < b.id;
INSERT INTO results SELECT 'like', count(*) FROM t WHERE name LIKE 'name-1%7';
INSERT INTO results SELECT 'lookups', sum(x) FROM
    (SELECT (SELECT count(*) FROM t WHERE k = (j * 37) % 50021) AS x FROM
        (WITH RECURSIVE m(j) AS (SELECT 1 UNION ALL SELECT j + 1 FROM m
                                 WHERE j < 20000) SELECT j FROM m));
INSERT INTO results SELECT 'lenpay', sum(length(payload)) FROM t;
SELECT q, v FROM results;
SELECT printf('checksum=%016x',
    (SELECT sum((v % 1000000007) * (rowid * 2654435761 % 1000003)) FROM results));
