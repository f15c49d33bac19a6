#!/usr/bin/python3
"""The incremental-report oracle of the reporting extension (issue 14).

Generates a random workload against a real server with the extension
installed (and preloaded), refreshes the incremental reports at random, and
after every refresh done with no writer in flight checks the one promise of
incremental reports: reporting.verify(report) is empty, i.e. the report
equals its query over all time, row for row.

The workload, on a fact table partitioned by range of its timestamptz time
column (two partitions and a default), a second fact table with a date
column, and a dimension table:
INSERT into old and new buckets, UPDATE moving rows between buckets (and
partitions), UPDATE of values only, DELETE, COPY FROM STDIN, rolled-back
transactions, savepoints rolled back, writes from a second connection whose
transaction stays open across a refresh and commits after it, a writer
thread committing while refreshes run, changes of the dimension table, and
now and then TRUNCATE of a partition.  Reports: daily sums joined with the
dimension, hourly counts (timestamp buckets), a rolling 3-day window
(lookback 2), and daily counts on the date-typed fact table.

Connects with libpq's environment (PGHOST, PGPORT, PGUSER), creates (and
first drops) its own database.

    incremental_oracle.py [--seed N] [--steps N] [--log FILE]

Seed and steps default to REPORTING_INCREMENTAL_ORACLE_SEED and
REPORTING_INCREMENTAL_ORACLE_STEPS, else 1 and 400.  On the first violation
it prints the seed, the step, the last statements, the report and the
differing rows, and exits 1.  It prints how many operations ran, how many
refreshes were incremental and full (and, every
REPORTING_INCREMENTAL_ORACLE_PROGRESS steps, how far it got).
"""

import argparse
import io
import os
import random
import sys
import threading

try:
    import psycopg2
except ImportError:  # pragma: no cover
    sys.stderr.write("incremental_oracle.py needs psycopg2 (Debian: python3-psycopg2)\n")
    sys.exit(2)

DB = "reporting_incremental_oracle"
BASE = "2026-01-01 00:00+00"
DAYS = 60

SCHEMA = r"""
CREATE TABLE dim (code int PRIMARY KEY, name text NOT NULL);
INSERT INTO dim SELECT i, 'cat' || i FROM generate_series(0, 4) i;
CREATE TABLE f (id bigserial, t timestamptz NOT NULL, cat int NOT NULL, v int NOT NULL,
                PRIMARY KEY (id, t)) PARTITION BY RANGE (t);
CREATE TABLE f_a PARTITION OF f FOR VALUES FROM ('2026-01-01 00:00+00') TO ('2026-01-21 00:00+00');
CREATE TABLE f_b PARTITION OF f FOR VALUES FROM ('2026-01-21 00:00+00') TO ('2026-02-10 00:00+00');
CREATE TABLE f_def PARTITION OF f DEFAULT;
CREATE TABLE g (id bigserial PRIMARY KEY, d date NOT NULL, v int NOT NULL);
"""

REPORTS = [
    ("r_daily", r"""SELECT (f.t AT TIME ZONE 'UTC')::date AS day, dim.name, count(*) AS n, sum(f.v) AS total
                      FROM public.f JOIN public.dim ON dim.code = f.cat
                     WHERE f.t >= $1 AND f.t < $2 GROUP BY 1, 2""",
     dict(time_column="f.t", bucket_column="day", time_zone="UTC", unique_key="{day,name}")),
    ("r_hourly", r"""SELECT date_trunc('hour', f.t AT TIME ZONE 'Europe/Paris') AS hour, count(*) AS n
                       FROM public.f WHERE f.t >= $1 AND f.t < $2 GROUP BY 1""",
     dict(time_column="f.t", bucket_column="hour", time_zone="Europe/Paris", bucket_width="1 hour")),
    ("r_rolling", r"""SELECT s.day::date AS day,
                             (SELECT coalesce(sum(f.v), 0) FROM public.f
                               WHERE f.t >= $1 AND f.t < $2
                                 AND f.t >= s.day - interval '2 days' AND f.t < s.day + interval '1 day') AS three_days
                        FROM generate_series(greatest(date_trunc('day', $1::timestamptz) + interval '2 days',
                                                      '2025-12-20 00:00+00'::timestamptz),
                                             least(date_trunc('day', $2::timestamptz - interval '1 microsecond'),
                                                   '2026-03-20 00:00+00'::timestamptz),
                                             interval '1 day') s (day)""",
     dict(time_column="f.t", bucket_column="day", time_zone="UTC", lookback=2)),
    ("r_dates", r"""SELECT g.d AS day, count(*) AS n, sum(g.v) AS total
                      FROM public.g WHERE g.d >= $1 AND g.d < $2 GROUP BY 1""",
     dict(time_column="g.d", bucket_column="day", time_zone="UTC")),
]


class Violation(Exception):
    pass


class Oracle:
    def __init__(self, seed, steps, log):
        self.rng = random.Random(seed)
        self.seed = seed
        self.steps = steps
        self.log = log
        self.tail = []
        self.progress = int(os.environ.get("REPORTING_INCREMENTAL_ORACLE_PROGRESS", "0"))
        self.ops = 0
        self.kinds = {"incremental": 0, "full": 0}
        admin = psycopg2.connect(dbname="postgres")
        admin.autocommit = True
        with admin.cursor() as c:
            c.execute("DROP DATABASE IF EXISTS " + DB)
            c.execute("CREATE DATABASE " + DB)
        admin.close()
        self.conn = self.connect()
        self.other = self.connect()
        self.other_open = False
        self.run(self.conn, "SET client_min_messages = warning")
        self.run(self.conn, "CREATE EXTENSION reporting")
        self.run(self.conn, SCHEMA)
        for _ in range(300):
            self.insert(self.conn)
        for _ in range(50):
            self.insert_g(self.conn)
        for name, query, args in REPORTS:
            named = ", ".join("%s => %s" % (k, self.lit(v)) for k, v in args.items())
            self.run(self.conn, "SELECT reporting.create_incremental(%s, %s, %s)"
                     % (self.lit(name), self.lit(query), named))
        self.check_all("after creation")

    @staticmethod
    def connect():
        c = psycopg2.connect(dbname=DB)
        c.autocommit = True
        return c

    @staticmethod
    def lit(value):
        if isinstance(value, int):
            return str(value)
        return "'" + str(value).replace("'", "''") + "'"

    def run(self, conn, sql, fetch=False):
        self.tail.append(sql)
        self.tail = self.tail[-20:]
        if self.log:
            self.log.write(sql.rstrip().rstrip(";") + ";\n")
        with conn.cursor() as c:
            c.execute(sql)
            return c.fetchall() if fetch else None

    def time(self):
        # mostly recent days, sometimes old ones, sometimes outside every partition
        r = self.rng.random()
        if r < 0.6:
            day = DAYS - 1 - self.rng.randrange(3)
        elif r < 0.95:
            day = self.rng.randrange(DAYS)
        else:
            day = DAYS + 20 + self.rng.randrange(10)
        return "timestamptz '%s' + interval '%d minutes'" % (BASE, day * 1440 + self.rng.randrange(1440))

    def insert(self, conn):
        self.run(conn, "INSERT INTO f (t, cat, v) VALUES (%s, %d, %d)"
                 % (self.time(), self.rng.randrange(5), self.rng.randrange(100)))

    def insert_g(self, conn):
        self.run(conn, "INSERT INTO g (d, v) VALUES (date '2026-01-01' + %d, %d)"
                 % (self.rng.randrange(DAYS), self.rng.randrange(100)))

    def some_row(self, table="f"):
        return "(SELECT id FROM %s ORDER BY id OFFSET %d LIMIT 1)" % (table, self.rng.randrange(200))

    def step(self, conn):
        op = self.rng.randrange(100)
        if op < 35:
            self.insert(conn)
        elif op < 50:
            self.run(conn, "UPDATE f SET t = %s WHERE id = %s" % (self.time(), self.some_row()))
        elif op < 58:
            self.run(conn, "UPDATE f SET v = v + 1 WHERE id = %s" % self.some_row())
        elif op < 66:
            self.run(conn, "DELETE FROM f WHERE id = %s" % self.some_row())
        elif op < 72:
            self.insert_g(conn)
        elif op < 75:
            self.run(conn, "UPDATE g SET d = d + %d WHERE id = %s" % (self.rng.randrange(-5, 5), self.some_row("g")))
        elif op < 78:
            self.run(conn, "DELETE FROM g WHERE id = %s" % self.some_row("g"))
        elif op < 83:
            self.copy(conn)
        elif op < 88:
            self.run(conn, "BEGIN")
            self.insert(conn)
            self.run(conn, "UPDATE f SET t = %s WHERE id = %s" % (self.time(), self.some_row()))
            self.run(conn, "ROLLBACK")
        elif op < 91:
            self.run(conn, "BEGIN")
            self.insert(conn)
            self.run(conn, "SAVEPOINT s")
            self.run(conn, "DELETE FROM f WHERE id = %s" % self.some_row())
            self.run(conn, "ROLLBACK TO SAVEPOINT s")
            self.run(conn, "COMMIT")
        elif op < 93:
            self.run(conn, "UPDATE dim SET name = name || 'x' WHERE code = %d" % self.rng.randrange(5))
        elif op < 94 and not self.other_open:
            # (it would wait for the other connection's open transaction)
            self.run(conn, "TRUNCATE f_def")
        else:
            self.insert(conn)
        self.ops += 1

    def copy(self, conn):
        rows = []
        for _ in range(self.rng.randrange(1, 6)):
            day = self.rng.randrange(DAYS)
            rows.append("2026-01-01 00:00+00\t%d\t%d\n" % (self.rng.randrange(5), self.rng.randrange(100)))
            rows[-1] = "%s\t%d\t%d\n" % (
                "2026-01-%02d %02d:%02d+00" % (1 + day % 31, self.rng.randrange(24), self.rng.randrange(60))
                if day < 31 else "2026-02-%02d 12:00+00" % (1 + (day - 31) % 28),
                self.rng.randrange(5), self.rng.randrange(100))
        self.tail.append("COPY f (t, cat, v) FROM STDIN -- %d rows" % len(rows))
        if self.log:
            self.log.write("COPY f (t, cat, v) FROM STDIN;\n" + "".join(rows) + "\\.\n")
        with conn.cursor() as c:
            c.copy_expert("COPY f (t, cat, v) FROM STDIN", io.StringIO("".join(rows)))

    def refresh(self, name):
        mode = self.run(self.conn, "SELECT mode FROM reporting.refresh('%s')" % name, fetch=True)[0][0]
        self.kinds[mode] += 1

    def check(self, name, when):
        rows = self.run(self.conn, "SELECT difference, row_data::text FROM reporting.verify('%s')" % name,
                        fetch=True)
        if rows:
            raise Violation("report %s differs from its query %s:\n  %s"
                            % (name, when, "\n  ".join("%s %s" % r for r in rows[:20])))

    def check_all(self, when):
        for name, _, _ in REPORTS:
            self.check(name, when)

    def writer_thread(self, stop, seed):
        conn = self.connect()
        rng = random.Random(seed)
        while not stop.is_set():
            with conn.cursor() as c:
                c.execute("INSERT INTO f (t, cat, v) VALUES (timestamptz '%s' + interval '%d minutes', %d, %d)"
                          % (BASE, rng.randrange(DAYS * 1440), rng.randrange(5), rng.randrange(100)))
            self.ops += 1
        conn.close()

    def main(self):
        step = 0
        while step < self.steps:
            step += 1
            self.step(self.conn)
            r = self.rng.random()
            if r < 0.05 and not self.other_open:
                # a transaction of another connection stays open across a refresh
                self.run(self.other, "BEGIN")
                # (inserts only: a row lock it held would block this thread)
                self.insert(self.other)
                self.insert(self.other)
                self.other_open = True
            elif r < 0.10 and self.other_open:
                self.run(self.other, "COMMIT")
                self.other_open = False
            if self.rng.random() < 0.08:
                name = self.rng.choice(REPORTS)[0]
                if self.rng.random() < 0.2:
                    # refreshes while a writer thread commits meanwhile
                    stop = threading.Event()
                    t = threading.Thread(target=self.writer_thread, args=(stop, self.rng.randrange(1 << 30)))
                    t.start()
                    for _ in range(3):
                        self.refresh(name)
                    stop.set()
                    t.join()
                self.refresh(name)
                if not self.other_open:
                    self.check(name, "at step %d" % step)
            if self.progress and step % self.progress == 0:
                print("step %d: %d write operations, %d incremental and %d full refreshes, every verify() empty so far"
                      % (step, self.ops, self.kinds["incremental"], self.kinds["full"]), flush=True)
        if self.other_open:
            self.run(self.other, "COMMIT")
        for name, _, _ in REPORTS:
            self.refresh(name)
        self.check_all("at the end")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=int(os.environ.get("REPORTING_INCREMENTAL_ORACLE_SEED", "1")))
    ap.add_argument("--steps", type=int, default=int(os.environ.get("REPORTING_INCREMENTAL_ORACLE_STEPS", "300")))
    ap.add_argument("--log")
    args = ap.parse_args()
    log = open(args.log, "w") if args.log else None
    try:
        o = Oracle(args.seed, args.steps, log)
        o.main()
    except Violation as v:
        print("incremental oracle: VIOLATION, seed %d" % args.seed)
        print(v)
        print("last statements:\n  " + "\n  ".join(o.tail if 'o' in dir() else []))
        return 1
    except psycopg2.Error as e:
        print("incremental oracle: could not run: %s" % e)
        return 2
    finally:
        if log:
            log.close()
    print("incremental oracle: seed %d, %d steps, %d write operations, %d incremental and %d full refreshes, "
          "every verify() empty" % (args.seed, args.steps, o.ops, o.kinds["incremental"], o.kinds["full"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
