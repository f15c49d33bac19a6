#!/usr/bin/python3
"""The change-tracking oracle of the reporting extension (issue 10).

Generates a random workload against a real server with the extension
installed, and after every step checks the one promise of change tracking:
a report that reporting.status calls unchanged (sources_changed = false)
shows exactly what its query shows now, row for row, with multiplicity:

    (TABLE mv EXCEPT ALL (query)) UNION ALL ((query) EXCEPT ALL TABLE mv)

is empty, the query being pg_get_viewdef of the view.  A materialized view
read by a report counts as a source as it is now (its current contents):
this checks direct tracking.  Where reporting.status has the column "fresh"
(0.4.0: transitive, and the clock), a report called fresh must also equal
its query with every materialized view it reads replaced, recursively, by
that view's query; four more reports then test freshness beyond tracking
(the date, the time, a table read inside a function, declared or not).

The workload: a partitioned table three levels deep with a default partition,
an inheritance tree, rules, an auto-updatable view and one with an INSTEAD OF
trigger (SPI), a foreign key with ON DELETE / ON UPDATE CASCADE;
INSERT/UPDATE/DELETE/MERGE, UPDATE that moves rows between partitions,
writable CTEs, COPY FROM STDIN, TRUNCATE (CASCADE, parents with children),
ATTACH/DETACH PARTITION, INHERIT/NO INHERIT, DROP and re-creation of a child
and of a partition, rollbacks, savepoints with ROLLBACK TO, prepared
transactions committed or rolled back later from another connection; reports
on parents, children, partitions, joins, plain views and other materialized
views, refreshed at random (reporting.refresh, in autocommit or between
writes of one transaction, refresh_all, REFRESH outside the extension), and
now and then dropped, re-created and registered again.

Connects with libpq's environment (PGHOST, PGPORT, PGUSER), creates (and
first drops) its own database, and needs max_prepared_transactions >= 4.

    tracking_oracle.py [--seed N] [--steps N] [--keep-going] [--log FILE]

Seed and steps default to REPORTING_ORACLE_SEED and REPORTING_ORACLE_STEPS,
else 1 and 500.  On the first violation it prints the seed, the step, the
last statements, the report, its status, and the differing rows, and exits 1
(with --keep-going it refreshes that report, goes on, and exits 1 at the
end).  It exits 2 when it could not run, or when it judged no report
unchanged at all (a run that checks nothing).  --log writes every statement
of the run, replayable with psql.
"""

import argparse
import collections
import io
import os
import random
import sys
import time

try:
    import psycopg2
    import psycopg2.extensions
except ImportError:  # pragma: no cover
    sys.stderr.write("tracking_oracle.py needs psycopg2 (Debian: python3-psycopg2)\n")
    sys.exit(2)

DEFAULT_SEED = 1
DEFAULT_STEPS = 500
LOG_TAIL = 20          # statements shown with a violation
MAX_PENDING_PREPARED = 2

# --- the schema -------------------------------------------------------------

# p: range on d, three levels: p1 [0,100) is itself partitioned on v (p1_a
# below 50, p1_b from 50); p2 [100,200) is dropped and re-created; p3
# [200,300) is detached and attached again; p_def takes the rest ([300,400)
# and the ranges of detached or dropped partitions).
# h: inheritance, h -> h1, h -> h2 -> h2a; hx is a free table that joins and
# leaves h (INHERIT / NO INHERIT); h2a leaves and rejoins h2; h1 and h2a are
# dropped and re-created.
SCHEMA = r"""
CREATE TABLE p (id int NOT NULL, d int NOT NULL, v int NOT NULL) PARTITION BY RANGE (d);
CREATE TABLE p1 PARTITION OF p FOR VALUES FROM (0) TO (100) PARTITION BY RANGE (v);
CREATE TABLE p1_a PARTITION OF p1 FOR VALUES FROM (MINVALUE) TO (50);
CREATE TABLE p1_b PARTITION OF p1 FOR VALUES FROM (50) TO (MAXVALUE);
CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (100) TO (200);
CREATE TABLE p3 PARTITION OF p FOR VALUES FROM (200) TO (300);
CREATE TABLE p_def PARTITION OF p DEFAULT;

CREATE TABLE h (id int NOT NULL, v int NOT NULL);
CREATE TABLE h1 () INHERITS (h);
CREATE TABLE h2 () INHERITS (h);
CREATE TABLE h2a () INHERITS (h2);
CREATE TABLE hx (id int NOT NULL, v int NOT NULL);

CREATE TABLE c (id int PRIMARY KEY, v int NOT NULL);
CREATE TABLE o (id int NOT NULL, cid int NOT NULL REFERENCES c ON DELETE CASCADE ON UPDATE CASCADE,
                v int NOT NULL);

CREATE TABLE t (id int NOT NULL, v int NOT NULL);
CREATE VIEW tview AS SELECT id, v FROM t WHERE v % 2 = 0;

-- an INSERT on q is rewritten into an INSERT on h2
CREATE TABLE q (id int NOT NULL, v int NOT NULL);
CREATE RULE q_to_h2 AS ON INSERT TO q DO INSTEAD INSERT INTO h2 VALUES (NEW.id, NEW.v);
-- a DELETE on t also writes hx
CREATE RULE t_deleted AS ON DELETE TO t DO ALSO INSERT INTO hx VALUES (OLD.id, OLD.v);
-- auto-updatable views
CREATE VIEW pv AS SELECT id, d, v FROM p1;
CREATE VIEW hv AS SELECT id, v FROM h;
-- a view written through an INSTEAD OF trigger (SPI)
CREATE VIEW sv AS SELECT id, d, v FROM p;
CREATE FUNCTION sv_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO p VALUES (NEW.id, NEW.d, NEW.v);
    RETURN NEW;
END $$;
CREATE TRIGGER sv_insert INSTEAD OF INSERT ON sv FOR EACH ROW EXECUTE FUNCTION sv_insert();

-- read by a report whose owner may only SELECT it (no TRIGGER privilege)
CREATE TABLE ro (id int NOT NULL, v int NOT NULL);

-- read inside a function: a source the catalog does not show
CREATE FUNCTION t_count() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM public.t';

-- not registered, read by a report
CREATE MATERIALIZED VIEW m_unreg AS SELECT 1 AS k, count(*) AS n FROM t;
CREATE UNIQUE INDEX ON m_unreg (k);
"""

# Reports: name, query, unique key.  Upstream ones come first.
REPORTS = [
    ("m_p", "SELECT d / 100 AS b, count(*) AS n, sum(v) AS s FROM p GROUP BY 1", "b"),
    ("m_p1", "SELECT v / 25 AS b, count(*) AS n, sum(id) AS s FROM p1 GROUP BY 1", "b"),
    ("m_p1a", "SELECT id, count(*) AS n, sum(v) AS s FROM p1_a GROUP BY id", "id"),
    ("m_p3", "SELECT 1 AS k, count(*) AS n, coalesce(sum(v), 0) AS s FROM p3", "k"),
    ("m_pdef", "SELECT d / 10 AS b, count(*) AS n, sum(v) AS s FROM p_def GROUP BY 1", "b"),
    ("m_h", "SELECT v % 10 AS b, count(*) AS n, sum(id) AS s FROM h GROUP BY 1", "b"),
    ("m_h2", "SELECT id, count(*) AS n, sum(v) AS s FROM h2 GROUP BY id", "id"),
    ("m_honly", "SELECT 1 AS k, count(*) AS n, coalesce(sum(v), 0) AS s FROM ONLY h", "k"),
    ("m_hx", "SELECT id, count(*) AS n, sum(v) AS s FROM hx GROUP BY id", "id"),
    ("m_join", "SELECT c.id, c.v, count(o.id) AS n, coalesce(sum(o.v), 0) AS s "
               "FROM c LEFT JOIN o ON o.cid = c.id GROUP BY c.id, c.v", "id"),
    # o only: written without being named by ON DELETE / ON UPDATE CASCADE
    # (RI actions) and TRUNCATE c CASCADE
    ("m_o", "SELECT cid, count(*) AS n, sum(v) AS s FROM o GROUP BY cid", "cid"),
    ("m_t", "SELECT v % 7 AS b, count(*) AS n FROM tview GROUP BY 1", "b"),
    ("m_mm", "SELECT 1 AS k, (SELECT coalesce(sum(n), 0) FROM m_p) AS p_rows, "
             "(SELECT coalesce(sum(n), 0) FROM m_h) AS h_rows, "
             "(SELECT count(*) FROM m_join) AS customers", "k"),
    ("m_mm2", "SELECT k, p_rows + h_rows AS rows FROM m_mm", "k"),
    # on a materialized view that is not registered
    ("m_un", "SELECT k, n FROM m_unreg", "k"),
]
REPORT_QUERY = {name: (query, key) for name, query, key in REPORTS}
# the materialized views each report reads (for transitive freshness)
UPSTREAM = {"m_mm": ["m_p", "m_h", "m_join"], "m_mm2": ["m_mm"], "m_un": ["m_unreg"]}

# Reports for freshness beyond tracking (issue 11), kept apart from REPORTS so
# that the random workload of a seed stays what it was: refreshed at step 0
# and by refresh_all() only.  name, query, unique key, declared sources.
EXTRA_REPORTS = [
    # depends on the date only: fresh while the date has not changed
    ("m_day", "SELECT v % 5 AS b, count(*) FILTER (WHERE d_ok) AS n "
              "FROM (SELECT v, current_date > date '2000-01-01' AS d_ok FROM t) x GROUP BY 1", "b", None),
    # depends on the time: never fresh
    ("m_now", "SELECT v % 5 AS b, count(*) FILTER (WHERE now() > '2000-01-01') AS n FROM t GROUP BY 1", "b", None),
    # reads t inside a function: unknown unless t is declared
    ("m_fn", "SELECT 1 AS k, t_count() AS n", "k", None),
    ("m_fn_decl", "SELECT 1 AS k, t_count() AS n", "k", "t"),
]
# reports no other report reads: these may be dropped and re-created
LEAF_REPORTS = ["m_p1", "m_p1a", "m_p3", "m_pdef", "m_h2", "m_honly", "m_hx", "m_o", "m_t", "m_mm2", "m_un"]

# a report owned by RO_ROLE, which may only read ro
RO_ROLE = "reporting_oracle_reader"
RO_REPORT = "SELECT id, count(*) AS n, sum(v) AS s FROM ro GROUP BY id"

# Partitioned family: what a direct write into each may hold: d in [dlo, dhi),
# v in [vlo, vhi).
P_RANGES = {
    "p": (0, 400, 0, 100), "p1": (0, 100, 0, 100), "pv": (0, 100, 0, 100),
    "p1_a": (0, 100, 0, 50), "p1_b": (0, 100, 50, 100), "p2": (100, 200, 0, 100),
    "p3": (200, 300, 0, 100), "p_def": (300, 400, 0, 100), "sv": (0, 400, 0, 100),
}
P_TABLES = ["p", "p1", "p1_a", "p1_b", "p2", "p3", "p_def"]
H_TABLES = ["h", "h1", "h2", "h2a", "hx", "t", "ro"]    # (id, v)
VIEWS = {"pv", "sv", "tview", "hv", "q"}               # always there (q is a table with a rule)


class Violation(Exception):
    pass


class Oracle:
    def __init__(self, args):
        self.args = args
        self.seed = args.seed
        self.rng = random.Random(args.seed)
        self.dbname = args.dbname
        self.next_id = 1
        self.step_no = 0
        self.tail = collections.deque(maxlen=400)   # (step, statement)
        self.full_log = open(args.log, "w") if args.log else None
        self.pending = []                             # gids of prepared transactions
        self.prepared_total = 0
        self.viewdefs = {}                            # oid -> query
        self.last_refresh_step = {}                   # report -> step of its last refresh
        # statistics
        self.checks = 0
        self.verdicts = collections.defaultdict(lambda: collections.Counter())
        self.steps_by_kind = collections.Counter()
        self.failed_by_kind = collections.Counter()
        self.errors = collections.Counter()
        self.violations = []
        self.has_fresh = False                        # reporting.status has "fresh" (0.4.0)
        self.has_cache = False                        # reporting.freshness() is cached (0.5.0)
        self.cache_checks = 0
        self.upstream_defs = {}                       # upstream view -> query

    # --- connections and statements ---------------------------------------

    def connect(self, dbname):
        conn = psycopg2.connect(dbname=dbname, application_name="reporting_oracle")
        conn.autocommit = True
        return conn

    def setup_database(self):
        admin = self.connect("postgres")
        cur = admin.cursor()
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.dbname,))
        if cur.fetchone():
            # prepared transactions left by an earlier run keep it alive
            cur.execute("SELECT gid FROM pg_prepared_xacts WHERE database = %s", (self.dbname,))
            gids = [r[0] for r in cur.fetchall()]
            if gids:
                old = self.connect(self.dbname)
                for gid in gids:
                    old.cursor().execute("ROLLBACK PREPARED %s", (gid,))
                old.close()
            cur.execute('DROP DATABASE %s WITH (FORCE)' % self.ident(self.dbname))
        cur.execute('CREATE DATABASE %s' % self.ident(self.dbname))
        admin.close()
        self.w = self.connect(self.dbname)        # the workload
        self.x = self.connect(self.dbname)        # checks, and COMMIT/ROLLBACK PREPARED
        for conn in (self.w, self.x):
            cur = conn.cursor()
            cur.execute("SET client_min_messages = warning")
        # a write behind a prepared transaction's lock gives up quickly
        self.w.cursor().execute("SET lock_timeout = '500ms'")
        self.w.cursor().execute("SET statement_timeout = '5min'")
        self.x.cursor().execute("SET lock_timeout = '10s'")
        self.x.cursor().execute("SET statement_timeout = '10min'")
        cur = self.w.cursor()
        cur.execute("SHOW max_prepared_transactions")
        self.prepared_ok = int(cur.fetchone()[0]) >= MAX_PENDING_PREPARED + 2
        self.step_no = -1      # the schema, rows and reports; step 0 refreshes them
        cur.execute("CREATE EXTENSION IF NOT EXISTS reporting")
        cur.execute(SCHEMA)
        self.record(self.step_no, SCHEMA.strip())
        # m_ro belongs to a role that was granted SELECT on ro, nothing more
        for sql in [
                "DO $$ BEGIN CREATE ROLE %s; EXCEPTION WHEN duplicate_object THEN NULL; END $$" % RO_ROLE,
                "GRANT CREATE ON SCHEMA public TO %s" % RO_ROLE,
                "GRANT SELECT ON ro TO %s" % RO_ROLE,
                "GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA reporting TO %s" % RO_ROLE,
                "SET ROLE %s" % RO_ROLE,
                "CREATE MATERIALIZED VIEW m_ro AS %s" % RO_REPORT,
                "CREATE UNIQUE INDEX ON m_ro (id)",
                "SELECT reporting.register('m_ro', lock_timeout => '1 second')",
                "RESET ROLE"]:
            self.run_sql(self.w, sql)
        # some rows everywhere
        for tbl in P_TABLES + ["h", "h1", "h2", "h2a", "hx", "t", "ro", "c"]:
            for _ in range(2):
                self.run_sql(self.w, self.insert_sql(tbl, self.rng.randint(2, 5)))
        for _ in range(3):
            self.run_sql(self.w, self.insert_sql("o", 3))
        self.run_sql(self.w, "REFRESH MATERIALIZED VIEW m_unreg")
        for name, _, _ in REPORTS:
            for sql in self.create_report_sql(name):
                self.run_sql(self.w, sql)
        # reporting.status.fresh and register(sources => ...) came with 0.4.0;
        # without them (0.3.0) the oracle still checks tracking
        cur.execute("""SELECT EXISTS (SELECT FROM pg_attribute
                        WHERE attrelid = 'reporting.status'::regclass AND attname = 'fresh'
                          AND NOT attisdropped)""")
        self.has_fresh = cur.fetchone()[0]
        # 0.5.0: reporting.freshness() answers from a per-backend cache; it
        # must give what _freshness_row() computes afresh
        cur.execute("SELECT to_regprocedure('reporting._freshness_row(regclass)') IS NOT NULL")
        self.has_cache = cur.fetchone()[0]
        extra = EXTRA_REPORTS if self.has_fresh else []
        for name, query, key, sources in extra:
            self.run_sql(self.w, "CREATE MATERIALIZED VIEW %s AS %s" % (name, query))
            self.run_sql(self.w, "CREATE UNIQUE INDEX ON %s (%s)" % (name, key))
            self.run_sql(self.w, "SELECT reporting.register('%s', lock_timeout => '1 second'%s)"
                         % (name, ", sources => '{%s}'" % sources if sources else ""))
        self.step_no = 0
        for name in list(REPORT_QUERY) + ["m_ro"] + [e[0] for e in extra]:
            self.run_sql(self.w, "SELECT mode FROM reporting.refresh('%s')" % name)
            self.last_refresh_step[name] = 0

    @staticmethod
    def ident(name):
        return '"' + name.replace('"', '""') + '"'

    def create_report_sql(self, name):
        query, key = REPORT_QUERY[name]
        mode = self.rng.choice(["auto", "auto", "plain"])
        return [
            "CREATE MATERIALIZED VIEW %s AS %s" % (name, query),
            "CREATE UNIQUE INDEX ON %s (%s)" % (name, key),
            "SELECT reporting.register('%s', mode => '%s', lock_timeout => '1 second')" % (name, mode),
        ]

    def record(self, step, sql):
        self.tail.append((step, sql))
        if self.full_log:
            self.full_log.write("-- step %d\n%s;\n" % (step, sql.rstrip().rstrip(";")))

    def run_sql(self, conn, sql):
        """Run one statement (a COPY is a tuple), logging it."""
        if isinstance(sql, tuple):
            _, head, rows = sql
            data = "".join("\t".join(str(x) for x in r) + "\n" for r in rows)
            self.record(self.step_no, "%s;\n%s\\." % (head, data))
            conn.cursor().copy_expert(head, io.StringIO(data))
            return None
        self.record(self.step_no, sql)
        cur = conn.cursor()
        cur.execute(sql)
        return cur

    # --- catalog state ------------------------------------------------------

    def state(self):
        """{table: parent or None} of the tables in public."""
        cur = self.x.cursor()
        cur.execute("""
            SELECT c.relname, p.relname
              FROM pg_class c
              JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
              LEFT JOIN pg_inherits i ON i.inhrelid = c.oid
              LEFT JOIN pg_class p ON p.oid = i.inhparent
             WHERE c.relkind IN ('r', 'p')""")
        return dict(cur.fetchall())

    # --- statement generators -------------------------------------------------

    def new_ids(self, n):
        first = self.next_id
        self.next_id += n
        return list(range(first, first + n))

    def some_id(self):
        return self.rng.randint(1, max(1, self.next_id - 1))

    def p_row(self, tbl, rid):
        dlo, dhi, vlo, vhi = P_RANGES[tbl]
        if self.step_no > 0 and self.rng.random() < 0.03:   # now and then a row that does not fit
            dlo, dhi = 0, 400
        return (rid, self.rng.randrange(dlo, dhi), self.rng.randrange(vlo, vhi))

    def insert_sql(self, tbl, n=None):
        n = n or self.rng.randint(1, 4)
        ids = self.new_ids(n)
        if tbl in P_RANGES:
            rows = [self.p_row(tbl, i) for i in ids]
            return "INSERT INTO %s (id, d, v) VALUES %s" % (
                tbl, ", ".join("(%d, %d, %d)" % r for r in rows))
        if tbl == "o":
            return ("INSERT INTO o (id, cid, v) SELECT %d + row_number() OVER (), id, %d "
                    "FROM (SELECT id FROM c ORDER BY id LIMIT %d OFFSET %d) s"
                    % (ids[0] - 1, self.rng.randrange(100), n, self.rng.randrange(4)))
        rows = [(i, self.rng.randrange(100)) for i in ids]
        return "INSERT INTO %s (id, v) VALUES %s" % (tbl, ", ".join("(%d, %d)" % r for r in rows))

    def where(self):
        m = self.rng.randint(2, 6)
        return "id %% %d = %d" % (m, self.rng.randrange(m))

    def update_sql(self, tbl):
        k = self.rng.randint(1, 30)
        only = "ONLY " if tbl == "h" and self.rng.random() < 0.3 else ""
        if tbl in ("p", "p1", "pv"):
            dlo, dhi, _, _ = P_RANGES[tbl]
            r = self.rng.random()
            if r < 0.4:     # moves rows between partitions
                return "UPDATE %s SET d = %d WHERE %s" % (tbl, self.rng.randrange(dlo, dhi), self.where())
            if r < 0.6:
                return "UPDATE %s SET d = %d, v = %d WHERE %s" % (
                    tbl, self.rng.randrange(dlo, dhi), self.rng.randrange(100), self.where())
            return "UPDATE %s SET v = (v + %d) %% 100 WHERE %s" % (tbl, k, self.where())
        if tbl == "p1_a":
            return "UPDATE p1_a SET v = (v + %d) %% 50 WHERE %s" % (k, self.where())
        if tbl == "p1_b":
            return "UPDATE p1_b SET v = 50 + (v + %d) %% 50 WHERE %s" % (k, self.where())
        if tbl == "c" and self.rng.random() < 0.4:
            # ON UPDATE CASCADE rewrites o
            return "UPDATE c SET id = %d WHERE id = (SELECT max(id) FROM c WHERE %s)" % (
                self.new_ids(1)[0], self.where())
        if tbl == "o" and self.rng.random() < 0.4:
            return ("UPDATE o SET cid = (SELECT min(id) FROM c) WHERE %s AND EXISTS (SELECT FROM c)"
                    % self.where())
        return "UPDATE %s%s SET v = v + %d WHERE %s" % (only, tbl, k, self.where())

    def delete_sql(self, tbl):
        only = "ONLY " if tbl == "h" and self.rng.random() < 0.3 else ""
        return "DELETE FROM %s%s WHERE %s" % (only, tbl, self.where())

    def merge_sql(self, tbl):
        n = self.rng.randint(1, 4)
        ids = [self.some_id() if self.rng.random() < 0.6 else self.new_ids(1)[0] for _ in range(n)]
        ids = sorted(set(ids))
        if tbl in P_RANGES:
            rows = [self.p_row(tbl, i) for i in ids]
            src = "(VALUES %s) s (id, d, v)" % ", ".join("(%d, %d, %d)" % r for r in rows)
            upd = "UPDATE SET d = s.d, v = s.v" if tbl in ("p", "p1") else "UPDATE SET v = s.v"
            ins = "INSERT (id, d, v) VALUES (s.id, s.d, s.v)"
        else:
            rows = [(i, self.rng.randrange(100)) for i in ids]
            src = "(VALUES %s) s (id, v)" % ", ".join("(%d, %d)" % r for r in rows)
            upd = "UPDATE SET v = s.v"
            ins = "INSERT (id, v) VALUES (s.id, s.v)"
        return ("MERGE INTO %s t USING %s ON t.id = s.id "
                "WHEN MATCHED AND s.v %% 5 = 0 THEN DELETE "
                "WHEN MATCHED THEN %s WHEN NOT MATCHED THEN %s" % (tbl, src, upd, ins))

    def copy_sql(self, tbl):
        n = self.rng.randint(1, 5)
        ids = self.new_ids(n)
        if tbl in P_RANGES:
            return ("copy", "COPY %s (id, d, v) FROM STDIN" % tbl, [self.p_row(tbl, i) for i in ids])
        return ("copy", "COPY %s (id, v) FROM STDIN" % tbl, [(i, self.rng.randrange(100)) for i in ids])

    def cte_sql(self, st):
        hs = [x for x in ("h1", "h2", "h2a", "hx") if x in st]
        choices = []
        if hs:
            src = self.rng.choice(hs)
            choices.append(
                "WITH moved AS (DELETE FROM %s WHERE %s RETURNING id, v) "
                "INSERT INTO p (id, d, v) SELECT id, (id * 7) %% 400, v %% 100 FROM moved"
                % (src, self.where()))
        tgt = self.rng.choice(["p", "p1"])
        dlo, dhi, _, _ = P_RANGES[tgt]
        choices.append(
            "WITH u AS (UPDATE %s SET d = %d WHERE %s RETURNING id, v) "
            "INSERT INTO t (id, v) SELECT id, v FROM u" % (tgt, self.rng.randrange(dlo, dhi), self.where()))
        ins_into = self.rng.choice([x for x in ("h2a", "h1", "hx") if x in st] or ["hx"])
        ids = self.new_ids(2)
        choices.append(
            "WITH a AS (INSERT INTO %s (id, v) VALUES (%d, %d), (%d, %d) RETURNING id), "
            "b AS (DELETE FROM hx WHERE %s RETURNING id) "
            "SELECT (SELECT count(*) FROM a) AS inserted, (SELECT count(*) FROM b) AS deleted"
            % (ins_into, ids[0], self.rng.randrange(100), ids[1], self.rng.randrange(100), self.where()))
        choices.append(
            "WITH d AS (DELETE FROM c WHERE %s RETURNING id) "
            "UPDATE t SET v = v + 1 WHERE id IN (SELECT id FROM d) OR %s" % (self.where(), self.where()))
        return self.rng.choice(choices)

    def dml_sql(self, st):
        """One random DML statement."""
        tables = [x for x in P_TABLES + H_TABLES + ["c", "o"] if x in st]
        r = self.rng.random()
        if r < 0.30:
            tgt = self.rng.choice(tables + ["pv", "sv", "tview", "hv", "q", "p", "h"])
            return self.insert_sql(tgt)
        if r < 0.50:
            tgt = self.rng.choice(tables + ["pv", "tview", "hv", "p", "p1"])
            return self.update_sql(tgt)
        if r < 0.62:
            tgt = self.rng.choice(tables + ["pv", "tview", "hv"])
            return self.delete_sql(tgt)
        if r < 0.75:
            # not t: MERGE refuses a table with rules
            tgt = self.rng.choice([x for x in tables if x not in ("o", "t")])
            return self.merge_sql(tgt)
        if r < 0.87:
            tgt = self.rng.choice([x for x in tables if x not in ("o", "c")] + ["sv"])
            return self.copy_sql(tgt)
        return self.cte_sql(st)

    def truncate_sql(self, st):
        opts = ["TRUNCATE c CASCADE", "TRUNCATE o", "TRUNCATE h", "TRUNCATE ONLY h", "TRUNCATE h2",
                "TRUNCATE p", "TRUNCATE p1", "TRUNCATE p_def", "TRUNCATE hx", "TRUNCATE t",
                "TRUNCATE p3", "TRUNCATE p1_a, hx", "TRUNCATE ro"]
        if "h1" in st:
            opts.append("TRUNCATE h1")
        if "p2" in st:
            opts.append("TRUNCATE p2, t")
        return self.rng.choice(opts)

    def ddl_sqls(self, st):
        """A list of statements that change the trees."""
        opts = []
        if st.get("p3") == "p":
            opts.append(["ALTER TABLE p DETACH PARTITION p3"])
        else:
            opts.append([
                "WITH m AS (DELETE FROM p_def WHERE d >= 200 AND d < 300 RETURNING id, d, v) "
                "INSERT INTO p3 SELECT * FROM m",
                "UPDATE p3 SET d = 200 + abs(d) % 100 WHERE d < 200 OR d >= 300",
                "ALTER TABLE p ATTACH PARTITION p3 FOR VALUES FROM (200) TO (300)"])
        if st.get("p1_b") == "p1":
            if self.rng.random() < 0.5:
                opts.append(["ALTER TABLE p1 DETACH PARTITION p1_b"])
        else:
            opts.append([
                "UPDATE p1_b SET v = 50 + abs(v) % 50 WHERE v < 50",
                "UPDATE p1_b SET d = abs(d) % 100 WHERE d < 0 OR d >= 100",
                "ALTER TABLE p1 ATTACH PARTITION p1_b FOR VALUES FROM (50) TO (MAXVALUE)"])
        if "p2" in st:
            opts.append(["DROP TABLE p2"])
        else:
            ids = self.new_ids(2)
            rows = ", ".join("(%d, %d, %d)" % (i, self.rng.randrange(100, 200), self.rng.randrange(100))
                             for i in ids)
            if self.rng.random() < 0.5:
                opts.append([
                    "CREATE TABLE p2 (LIKE p)",
                    "WITH m AS (DELETE FROM p_def WHERE d >= 100 AND d < 200 RETURNING id, d, v) "
                    "INSERT INTO p2 SELECT * FROM m",
                    "INSERT INTO p2 VALUES %s" % rows,
                    "ALTER TABLE p ATTACH PARTITION p2 FOR VALUES FROM (100) TO (200)"])
            else:
                opts.append([
                    "DELETE FROM p_def WHERE d >= 100 AND d < 200",
                    "CREATE TABLE p2 PARTITION OF p FOR VALUES FROM (100) TO (200)",
                    "INSERT INTO p VALUES %s" % rows])
        if "h1" in st:
            opts.append(["DROP TABLE h1"])
        else:
            if self.rng.random() < 0.5:
                opts.append(["CREATE TABLE h1 () INHERITS (h)", self.insert_sql("h1")])
            else:
                opts.append(["CREATE TABLE h1 (id int NOT NULL, v int NOT NULL)", self.insert_sql("h1"),
                             "ALTER TABLE h1 INHERIT h"])
        if "h2a" in st:
            if st["h2a"] == "h2":
                opts.append(["ALTER TABLE h2a NO INHERIT h2"])
            else:
                opts.append(["ALTER TABLE h2a INHERIT h2"])
            opts.append(["DROP TABLE h2a"])
        else:
            opts.append(["CREATE TABLE h2a (id int NOT NULL, v int NOT NULL)", self.insert_sql("h2a"),
                         "ALTER TABLE h2a INHERIT h2"])
        if st.get("hx") == "h":
            opts.append(["ALTER TABLE hx NO INHERIT h"])
        else:
            opts.append(["ALTER TABLE hx INHERIT h"])
        return self.rng.choice(opts)

    def refresh_sql(self, name=None):
        name = name or self.rng.choice(list(REPORT_QUERY) + ["m_ro"])
        mode = "" if self.rng.random() < 0.8 else ", 'plain'"
        return "SELECT mode FROM reporting.refresh('%s'%s)" % (name, mode)

    # --- steps ----------------------------------------------------------------

    def run_txn(self, kind, actions, ending="COMMIT", begin="BEGIN", savepoint_each=False):
        """Run actions (statements, or ('savepoint', [statements])) in one
        transaction.  An error rolls it all back, except inside a savepoint.
        Returns True if it ended as asked."""
        refreshed = set()
        try:
            self.run_sql(self.w, begin)
            for a in actions:
                if isinstance(a, tuple) and a[0] == "savepoint":
                    _, inner, undo = a
                    self.run_sql(self.w, "SAVEPOINT s")
                    try:
                        for s in inner:
                            self.run_sql(self.w, s)
                        self.run_sql(self.w, "ROLLBACK TO SAVEPOINT s" if undo else "RELEASE SAVEPOINT s")
                    except psycopg2.Error as e:
                        self.note_error(kind, e)
                        self.run_sql(self.w, "ROLLBACK TO SAVEPOINT s")
                    continue
                if savepoint_each:
                    self.run_sql(self.w, "SAVEPOINT a")
                    try:
                        self.run_sql(self.w, a)
                        self.run_sql(self.w, "RELEASE SAVEPOINT a")
                    except psycopg2.Error as e:
                        self.note_error(kind, e)
                        self.run_sql(self.w, "ROLLBACK TO SAVEPOINT a")
                        continue
                else:
                    self.run_sql(self.w, a)
                if isinstance(a, str) and a.startswith("SELECT mode FROM reporting.refresh("):
                    refreshed.add(a.split("'")[1])
            self.run_sql(self.w, ending)
        except psycopg2.Error as e:
            self.note_error(kind, e)
            self.failed_by_kind[kind] += 1
            if self.w.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE:
                self.run_sql(self.w, "ROLLBACK")
            return False
        if ending == "COMMIT":
            for name in refreshed:
                self.last_refresh_step[name] = self.step_no
        return True

    def run_single(self, kind, sql):
        """One statement in autocommit."""
        try:
            cur = self.run_sql(self.w, sql)
        except psycopg2.Error as e:
            self.note_error(kind, e)
            self.failed_by_kind[kind] += 1
            return None
        return cur

    def note_error(self, kind, e):
        msg = (e.pgerror or str(e)).strip().splitlines()[0] if (e.pgerror or str(e)) else "?"
        self.record(self.step_no, "-- failed: %s" % msg)
        self.errors["%s: %s" % (e.pgcode, msg[:90])] += 1

    def step(self):
        st = self.state()
        kinds = [("txn", 34), ("autocommit", 20), ("refresh", 24), ("refresh_in_txn", 6),
                 ("truncate", 4), ("ddl", 9), ("refresh_all", 2), ("refresh_outside", 3),
                 ("recreate_report", 1), ("refresh_chain", 4)]
        if self.pending:
            kinds.append(("finish_prepared", 25))
        names = [k for k, _ in kinds]
        kind = self.rng.choices(names, weights=[w for _, w in kinds])[0]
        self.steps_by_kind[kind] += 1
        if kind == "txn":
            actions = [self.dml_sql(st) for _ in range(self.rng.randint(1, 3))]
            if self.rng.random() < 0.25:
                undo = self.rng.random() < 0.7
                actions.insert(self.rng.randint(0, len(actions)),
                               ("savepoint", [self.dml_sql(st) for _ in range(self.rng.randint(1, 2))], undo))
            r = self.rng.random()
            if (r < 0.12 and self.prepared_ok and len(self.pending) < MAX_PENDING_PREPARED):
                self.prepared_total += 1
                # unique in the cluster, whatever other runs left behind
                gid = "%s_%d_%d" % (self.dbname, self.seed, self.step_no)
                if self.run_txn(kind, actions, ending="PREPARE TRANSACTION '%s'" % gid):
                    self.pending.append(gid)
            elif r < 0.25:
                self.run_txn(kind, actions, ending="ROLLBACK")
            else:
                self.run_txn(kind, actions, savepoint_each=self.rng.random() < 0.2)
        elif kind == "autocommit":
            self.run_single(kind, self.dml_sql(st))
        elif kind == "truncate":
            sql = self.truncate_sql(st)
            r = self.rng.random()
            if r < 0.5:
                self.run_single(kind, sql)
            else:
                actions = [self.dml_sql(st), sql] if self.rng.random() < 0.5 else [sql, self.dml_sql(st)]
                self.run_txn(kind, actions, ending="ROLLBACK" if r < 0.65 else "COMMIT")
        elif kind == "ddl":
            sqls = self.ddl_sqls(st)
            if len(sqls) == 1 and self.rng.random() < 0.5:
                self.run_single(kind, sqls[0])
            else:
                if self.rng.random() < 0.4:
                    sqls = sqls + [self.dml_sql(st)]
                self.run_txn(kind, sqls, ending="ROLLBACK" if self.rng.random() < 0.1 else "COMMIT")
        elif kind == "refresh":
            for _ in range(self.rng.randint(1, 2)):
                sql = self.refresh_sql()
                if self.run_single(kind, sql) is not None:
                    self.last_refresh_step[sql.split("'")[1]] = self.step_no
        elif kind == "refresh_in_txn":
            # writes before and after a refresh in one transaction
            actions = [self.dml_sql(st), self.refresh_sql(), self.dml_sql(st)]
            if self.rng.random() < 0.5:
                actions.insert(0, self.dml_sql(st))
            r = self.rng.random()
            if r < 0.15:
                self.run_txn(kind, actions[1:2], begin="BEGIN ISOLATION LEVEL REPEATABLE READ")
            else:
                self.run_txn(kind, actions, ending="ROLLBACK" if r < 0.3 else "COMMIT")
        elif kind == "refresh_all":
            cur = self.run_single(kind, "SELECT view::text, status, error FROM reporting.refresh_all()")
            if cur is not None:
                for view, status, _ in cur.fetchall():
                    if status == "refreshed":
                        self.last_refresh_step[view] = self.step_no
        elif kind == "refresh_chain":
            # every report on reports and what it is built on, upstream
            # first: without this they are hardly ever fresh through their
            # chain
            self.run_single(kind, "REFRESH MATERIALIZED VIEW m_unreg")
            if self.rng.random() < 0.5:
                cur = self.run_single(kind, "SELECT view::text, status, error FROM reporting.refresh_all()")
                for view, status, _ in (cur.fetchall() if cur is not None else []):
                    if status == "refreshed":
                        self.last_refresh_step[view] = self.step_no
            else:
                for name in UPSTREAM["m_mm"] + ["m_mm", "m_mm2", "m_un"]:
                    if self.run_single(kind, self.refresh_sql(name)) is not None:
                        self.last_refresh_step[name] = self.step_no
        elif kind == "refresh_outside":
            name = self.rng.choice(list(REPORT_QUERY) + ["m_ro", "m_unreg"])
            how = "CONCURRENTLY " if self.rng.random() < 0.5 else ""
            self.run_single(kind, "REFRESH MATERIALIZED VIEW %s%s" % (how, name))
        elif kind == "recreate_report":
            name = self.rng.choice(LEAF_REPORTS)
            sqls = ["DROP MATERIALIZED VIEW %s" % name] + self.create_report_sql(name)
            if self.rng.random() < 0.7:
                sqls.append(self.refresh_sql(name))
            if self.run_txn(kind, sqls):
                self.last_refresh_step[name] = self.step_no
        elif kind == "finish_prepared":
            gid = self.pending.pop(self.rng.randrange(len(self.pending)))
            how = "COMMIT" if self.rng.random() < 0.75 else "ROLLBACK"
            try:
                self.run_sql(self.x, "%s PREPARED '%s'" % (how, gid))
            except psycopg2.Error as e:
                self.note_error(kind, e)
                self.failed_by_kind[kind] += 1

    # --- the check ------------------------------------------------------------

    def diff_sql(self, mv, query):
        return ("SELECT 'only in the report' AS side, a.* FROM (TABLE %s EXCEPT ALL (%s)) a "
                "UNION ALL "
                "SELECT 'only in its query', b.* FROM ((%s) EXCEPT ALL TABLE %s) b" % (mv, query, query, mv))

    def truth_query(self, name, query):
        """The query of a report with every materialized view it reads
        replaced by that view's own truth (a CTE of the same name hides the
        relation): what a report that has missed nothing, transitively,
        must show."""
        ups = UPSTREAM.get(name)
        if not ups:
            return query
        ctes = []
        for up in ups:
            if up not in self.upstream_defs:
                cur = self.x.cursor()
                cur.execute("SELECT pg_get_viewdef(%s::regclass)", (up,))
                self.upstream_defs[up] = cur.fetchone()[0].strip().rstrip(";")
            ctes.append("%s AS (%s)" % (up, self.truth_query(up, self.upstream_defs[up])))
        return "WITH %s %s" % (", ".join(ctes), query)

    def check(self):
        cur = self.x.cursor()
        cur.execute("""SELECT view::text, view::oid, sources_changed, source_changes, unknown_reason, %s
                         FROM reporting.status WHERE view_exists ORDER BY 1"""
                    % ("fresh" if self.has_fresh else "NULL::boolean"))
        rows = cur.fetchall()
        resync = []
        for name, oid, changed, changes, reason, fresh in rows:
            verdict = {False: "unchanged", True: "changed", None: "unknown"}[changed]
            query = self.viewdefs.get(oid)
            if query is None:
                cur.execute("SELECT pg_get_viewdef(%s::oid)", (oid,))
                query = cur.fetchone()[0].strip().rstrip(";")
                self.viewdefs[oid] = query
            mv = self.ident(name)
            cur.execute(self.diff_sql(mv, query))
            diff = cur.fetchall()
            columns = [d[0] for d in cur.description]
            self.checks += 1
            self.verdicts[name][verdict] += 1
            if diff:
                self.verdicts[name][verdict + ", differed"] += 1
            if changed is False and diff:
                self.violation(name, query, diff, columns,
                               "is called unchanged (sources_changed = false) but differs from its query")
                resync.append(name)
                continue
            if fresh:
                # called fresh: equal to its query with every materialized
                # view it reads brought up to date, recursively
                truth = self.truth_query(name, query)
                if truth != query:
                    cur.execute(self.diff_sql(mv, truth))
                    diff = cur.fetchall()
                self.verdicts[name]["fresh"] += 1
                if diff:
                    self.verdicts[name]["fresh, differed"] += 1
                    self.violation(name, truth, diff, columns,
                                   "is called fresh (status.fresh) but differs from its query "
                                   "with the materialized views it reads brought up to date")
                    resync.append(name)
        if self.has_cache:
            self.check_cache([r[0] for r in rows])
        # with --keep-going: go on from refreshed reports (only now: a refresh
        # changes what the reports read after it see)
        for name in resync:
            self.record(self.step_no, "-- the oracle refreshes %s after the violation" % name)
            try:
                self.run_sql(self.x, "SELECT mode FROM reporting.refresh('%s')" % name)
                self.last_refresh_step[name] = self.step_no
            except psycopg2.Error as e:
                self.note_error("resync", e)

    def check_cache(self, names):
        """reporting.freshness() (cached in this connection across steps)
        against _freshness_row() computed afresh, in one statement (one now())."""
        cur = self.x.cursor()
        for name in names:
            cur.execute("""SELECT f.fresh, f.reason, f.sentence, f.next_refresh_at,
                                  CASE WHEN r.as_of_now THEN f.as_of = now() ELSE f.as_of IS NOT DISTINCT FROM r.as_of END,
                                  r.state = 'unchanged', r.reason, r.sentence, r.next_refresh_at
                             FROM reporting.freshness(%s::regclass) f, reporting._freshness_row(%s::regclass) r""",
                        (name, name))
            row = cur.fetchone()
            self.cache_checks += 1
            cached = (row[0], row[1], row[2], row[3])
            computed = (row[5], row[6], row[7], row[8])
            if cached != computed or not row[4]:
                text = ("VIOLATION: reporting.freshness('%s') from its cache differs from the answer computed afresh\n"
                        "  seed %d, step %d\n  cached:   %r (as_of right: %s)\n  computed: %r"
                        % (name, self.seed, self.step_no, cached, row[4], computed))
                stmts = list(self.tail)[-LOG_TAIL:]
                text += "\n  the last statements:\n" + "\n".join("    [%d] %s" % (s_, q) for s_, q in stmts)
                print(text, flush=True)
                self.violations.append((self.step_no, name))
                if not self.args.keep_going:
                    raise Violation(text)

    def violation(self, name, query, diff, columns, what):
        out = []
        out.append("VIOLATION: report %s %s" % (name, what))
        out.append("  seed %d, step %d (replay: --seed %d --steps %d)"
                   % (self.seed, self.step_no, self.seed, self.step_no))
        out.append("  query: %s" % " ".join(query.split()))
        cur = self.x.cursor()
        cur.execute("SELECT source::text, changed, changes, reason FROM reporting.staleness(%s::regclass)",
                    (name,))
        out.append("  staleness: %s" % "; ".join(
            "%s changed=%s changes=%s%s" % (s, c, n, (" reason=" + r) if r else "") for s, c, n, r in cur))
        out.append("  differing rows (%d): %s" % (len(diff), ", ".join(columns)))
        for r in diff[:20]:
            out.append("    " + " | ".join(str(x) for x in r))
        since = self.last_refresh_step.get(name, 0)
        out.append("  its last refresh by the oracle: step %d; statements since then (at most 60):" % since)
        stmts = [(s, q) for s, q in self.tail if s >= since]
        for s, q in stmts[-60:]:
            out.append("    [%d] %s" % (s, q.replace("\n", "\n         ")))
        out.append("  the last %d statements:" % LOG_TAIL)
        for s, q in list(self.tail)[-LOG_TAIL:]:
            out.append("    [%d] %s" % (s, q.replace("\n", "\n         ")))
        text = "\n".join(out)
        if len(self.violations) < 10:
            print(text, flush=True)
        else:
            print("VIOLATION: report %s at step %d (details left out after 10)" % (name, self.step_no), flush=True)
        self.violations.append((self.step_no, name))
        if not self.args.keep_going:
            raise Violation(text)

    # --- the run ----------------------------------------------------------------

    def finish_pending(self):
        while self.pending:
            gid = self.pending.pop(0)
            self.run_sql(self.x, "COMMIT PREPARED '%s'" % gid)

    def summary(self, seconds):
        out = ["", "oracle summary: seed %d, %d steps in %.1f s, %d checks, %d violation(s)"
               % (self.seed, self.step_no, seconds, self.checks, len(self.violations))]
        total = collections.Counter()
        for name in sorted(self.verdicts):
            total.update(self.verdicts[name])
        out.append("  verdicts (all reports): " + self.verdict_text(total))
        for name in sorted(self.verdicts):
            out.append("    %-8s %s" % (name, self.verdict_text(self.verdicts[name])))
        out.append("  steps: " + ", ".join("%s %d (%d failed)" % (k, n, self.failed_by_kind[k])
                                           for k, n in sorted(self.steps_by_kind.items())))
        out.append("  prepared transactions: %d" % self.prepared_total)
        if self.has_cache:
            out.append("  freshness() answers compared with their computation afresh: %d" % self.cache_checks)
        if self.errors:
            out.append("  errors the workload met (expected: rows that fit no partition, lock timeouts "
                       "behind prepared transactions, ...):")
            for msg, n in self.errors.most_common(12):
                out.append("    %5d  %s" % (n, msg))
        if self.violations:
            out.append("  violations (step, report): " + ", ".join("%d %s" % v for v in self.violations))
        print("\n".join(out), flush=True)

    def verdict_text(self, c):
        text = ", ".join("%s %d (%d differed)" % (v, c[v], c[v + ", differed"])
                         for v in ("unchanged", "changed", "unknown"))
        if self.has_fresh:
            text += "; fresh %d (%d differed)" % (c["fresh"], c["fresh, differed"])
        return text

    def run(self):
        started = time.monotonic()
        self.setup_database()
        self.check()
        try:
            for n in range(1, self.args.steps + 1):
                self.step_no = n
                self.step()
                self.check()
            self.step_no += 1
            self.record(self.step_no, "-- the oracle ends the prepared transactions left")
            self.finish_pending()
            self.check()
        except Violation:
            self.summary(time.monotonic() - started)
            return 1
        self.summary(time.monotonic() - started)
        if self.violations:
            return 1
        unchanged = sum(v["unchanged"] for v in self.verdicts.values())
        if unchanged == 0:
            print("oracle: no report was ever called unchanged: this run checked nothing", flush=True)
            return 2
        return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=int(os.environ.get("REPORTING_ORACLE_SEED", DEFAULT_SEED)))
    parser.add_argument("--steps", type=int,
                        default=int(os.environ.get("REPORTING_ORACLE_STEPS", DEFAULT_STEPS)))
    parser.add_argument("--dbname", default=os.environ.get("REPORTING_ORACLE_DB", "reporting_oracle"))
    parser.add_argument("--keep-going", action="store_true",
                        default=os.environ.get("REPORTING_ORACLE_KEEP_GOING", "") not in ("", "0"),
                        help="after a violation, refresh that report and go on")
    parser.add_argument("--log", help="write every statement of the run to this file")
    args = parser.parse_args()
    print("oracle: seed %d, %d steps, database %s" % (args.seed, args.steps, args.dbname), flush=True)
    oracle = Oracle(args)
    try:
        status = oracle.run()
    except psycopg2.Error as e:
        print("oracle: could not run: %s (step %d)" % (str(e).strip(), oracle.step_no), file=sys.stderr)
        for s, q in list(oracle.tail)[-LOG_TAIL:]:
            print("    [%d] %s" % (s, q), file=sys.stderr)
        status = 2
    finally:
        if oracle.full_log:
            oracle.full_log.close()
    sys.exit(status)


if __name__ == "__main__":
    main()
