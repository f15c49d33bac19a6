-- Incremental reports: creation, the capture of every kind of write,
-- bucket-wise refreshes, full recomputes and why, the guard, verify().
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE TABLE inc_regions (code text PRIMARY KEY, name text NOT NULL);
INSERT INTO inc_regions VALUES ('n', 'North'), ('s', 'South');
CREATE TABLE inc_orders (
    id serial,
    region text NOT NULL REFERENCES inc_regions,
    created_at timestamptz NOT NULL,
    amount numeric NOT NULL,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE inc_orders_2026_01 PARTITION OF inc_orders
    FOR VALUES FROM ('2026-01-01 00:00+00') TO ('2026-02-01 00:00+00');
CREATE TABLE inc_orders_rest PARTITION OF inc_orders DEFAULT;
INSERT INTO inc_orders (region, created_at, amount)
SELECT CASE WHEN i % 3 = 0 THEN 'n' ELSE 's' END,
       timestamptz '2026-01-01 00:00+00' + i * interval '97 minutes', i % 50
  FROM generate_series(1, 1000) i;

SELECT reporting.create_incremental('inc_daily', $q$
    SELECT (o.created_at AT TIME ZONE 'UTC')::date AS day, r.name AS region,
           count(*) AS orders, sum(o.amount) AS revenue
      FROM inc_orders o JOIN inc_regions r ON r.code = o.region
     WHERE o.created_at >= $1 AND o.created_at < $2
     GROUP BY 1, 2 $q$,
    time_column => 'inc_orders.created_at', bucket_column => 'day',
    time_zone => 'UTC', unique_key => '{day,region}')::text AS created;

-- a table owned by the caller, registered, filled by a first (full) refresh
SELECT c.relkind, pg_get_userbyid(c.relowner) = current_user AS owned
  FROM pg_class c WHERE c.oid = 'inc_daily'::regclass;
SELECT count(*) > 0 AS filled FROM inc_daily;
SELECT view::text FROM reporting.registrations;
SELECT mode, status FROM reporting.runs ORDER BY id;
SELECT count(*) AS differences FROM reporting.verify('inc_daily');

-- nothing changed: nothing recomputed
SELECT mode, rows > 0 AS has_rows FROM reporting.refresh('inc_daily');
SELECT last_kind, last_buckets FROM reporting.incrementals;

-- INSERT into an old and a new bucket, UPDATE moving a row across buckets
-- and partitions, DELETE, COPY: each bucket touched is recomputed
INSERT INTO inc_orders (region, created_at, amount) VALUES
    ('n', '2026-01-03 10:00+00', 1000), ('s', '2026-03-01 09:00+00', 7);
UPDATE inc_orders SET created_at = '2026-02-10 12:00+00' WHERE id = 5;
DELETE FROM inc_orders WHERE id = 300;
COPY inc_orders (region, created_at, amount) FROM STDIN;
n	2026-01-20 01:00+00	3
s	2026-01-20 02:00+00	4
\.
SELECT count(*) > 0 AS stale FROM reporting.verify('inc_daily');
SELECT mode FROM reporting.refresh('inc_daily');
SELECT last_kind, last_buckets FROM reporting.incrementals;
SELECT count(*) AS differences FROM reporting.verify('inc_daily');
SELECT mode, buckets FROM reporting.runs ORDER BY id DESC LIMIT 1;

-- a rolled-back write leaves the report correct
BEGIN;
INSERT INTO inc_orders (region, created_at, amount) VALUES ('n', '2026-01-05 10:00+00', 99);
ROLLBACK;
SELECT mode FROM reporting.refresh('inc_daily');
SELECT count(*) AS differences FROM reporting.verify('inc_daily');

-- writes and a refresh in one transaction: the refresh sees the
-- transaction's own writes, and they are recomputed once more after commit
BEGIN;
INSERT INTO inc_orders (region, created_at, amount) VALUES ('n', '2026-01-07 10:00+00', 70);
DELETE FROM inc_orders WHERE id = 400;
SELECT mode FROM reporting.refresh('inc_daily');
SELECT last_buckets > 0 AS recomputed FROM reporting.incrementals;
SELECT count(*) AS differences FROM reporting.verify('inc_daily');
COMMIT;
SELECT mode FROM reporting.refresh('inc_daily');
SELECT count(*) AS differences FROM reporting.verify('inc_daily');

-- a BEFORE trigger that moves the row after ours would have looked: the
-- row is captured as stored
CREATE FUNCTION inc_shift() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.created_at := NEW.created_at + interval '10 days'; RETURN NEW; END $$;
CREATE TRIGGER zzz_shift BEFORE INSERT ON inc_orders_2026_01
    FOR EACH ROW EXECUTE FUNCTION inc_shift();
INSERT INTO inc_orders (region, created_at, amount) VALUES ('s', '2026-01-02 10:00+00', 500);
DROP TRIGGER zzz_shift ON inc_orders_2026_01;
SELECT mode FROM reporting.refresh('inc_daily');
SELECT last_full_reason FROM reporting.incrementals;
SELECT count(*) AS differences FROM reporting.verify('inc_daily');
-- one that fires after the capture: everything is recomputed while it exists
CREATE TRIGGER "~~late_shift" BEFORE INSERT ON inc_orders_2026_01
    FOR EACH ROW EXECUTE FUNCTION inc_shift();
INSERT INTO inc_orders (region, created_at, amount) VALUES ('s', '2026-01-02 11:00+00', 50);
SELECT mode FROM reporting.refresh('inc_daily');
SELECT last_full_reason FROM reporting.incrementals;
SELECT count(*) AS differences FROM reporting.verify('inc_daily');
DROP TRIGGER "~~late_shift" ON inc_orders_2026_01;
-- a disabled capture trigger: everything, until it is enabled again
CREATE FUNCTION inc_capture_triggers(how text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE t record;
BEGIN
    FOR t IN SELECT tgname FROM pg_trigger
              WHERE tgrelid = 'inc_orders'::regclass
                AND tgfoid = 'reporting._capture()'::regprocedure LOOP
        EXECUTE format('ALTER TABLE inc_orders %s TRIGGER %I', how, t.tgname);
    END LOOP;
END $$;
SELECT inc_capture_triggers('DISABLE');
INSERT INTO inc_orders (region, created_at, amount) VALUES ('s', '2026-01-04 11:00+00', 50);
SELECT mode FROM reporting.refresh('inc_daily');
SELECT last_full_reason LIKE 'a capture trigger on table % is missing or not enabled always' AS says_why
  FROM reporting.incrementals;
SELECT inc_capture_triggers('ENABLE ALWAYS');
SELECT mode FROM reporting.refresh('inc_daily');
SELECT mode FROM reporting.refresh('inc_daily');
-- disabled, written through and enabled again before any refresh: the
-- change of the triggers is seen
SELECT inc_capture_triggers('DISABLE');
INSERT INTO inc_orders (region, created_at, amount) VALUES ('s', '2026-01-05 11:00+00', 51);
SELECT inc_capture_triggers('ENABLE ALWAYS');
SELECT mode FROM reporting.refresh('inc_daily');
SELECT count(*) AS differences FROM reporting.verify('inc_daily');
SELECT count(*) AS differences FROM reporting.verify('inc_daily');

-- a change of another source recomputes everything, and says why
UPDATE inc_regions SET name = 'Northern' WHERE code = 'n';
SELECT mode FROM reporting.refresh('inc_daily');
SELECT last_kind, last_full_reason FROM reporting.incrementals;
SELECT count(*) AS differences FROM reporting.verify('inc_daily');

-- TRUNCATE of a partition: everything
TRUNCATE inc_orders_rest;
SELECT mode FROM reporting.refresh('inc_daily');
SELECT last_full_reason FROM reporting.incrementals;
SELECT count(*) AS differences FROM reporting.verify('inc_daily');

-- changes over more than full_refresh_above of the buckets: everything
UPDATE inc_orders SET amount = amount + 1;
SELECT mode FROM reporting.refresh('inc_daily');
SELECT last_full_reason LIKE '% buckets changed, more than full_refresh_above' AS over_threshold
  FROM reporting.incrementals;
SELECT count(*) AS differences FROM reporting.verify('inc_daily');

-- writes by anyone but a refresh are refused
INSERT INTO inc_daily VALUES ('2020-01-01', 'x', 1, 1);
UPDATE inc_daily SET orders = 0;
DELETE FROM inc_daily;
TRUNCATE inc_daily;
CALL reporting._refresh_incremental('inc_daily'::regclass::oid);

-- registering it again (without sources =>) keeps what its query reads
SELECT reporting.register('inc_daily', every => '1 hour');
SELECT sources::text[] FROM reporting.registrations WHERE view = 'inc_daily'::regclass;

-- refresh_all refreshes it too
INSERT INTO inc_orders (region, created_at, amount) VALUES ('n', '2026-01-09 10:00+00', 1);
SELECT count(*) > 0 AS refreshed FROM reporting.refresh_all();
SELECT count(*) AS differences FROM reporting.verify('inc_daily');

-- more values than the capture keeps ranges: ranges widen, no value is
-- dropped.  One transaction writes 40 rows over 10 days in shuffled order
-- (a transaction keeps at most 7 ranges), then 40 transactions write one
-- row each at 40 different hours (the shared entry keeps at most 31).
INSERT INTO inc_orders (region, created_at, amount)
SELECT 's', timestamptz '2026-01-20 00:00+00' + ((i * 7) % 10) * interval '3 days' + i * interval '1 minute', i
  FROM generate_series(1, 40) i;
CREATE PROCEDURE inc_one_by_one() LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 40 LOOP
        INSERT INTO inc_orders (region, created_at, amount)
        VALUES ('n', timestamptz '2026-02-20 00:00+00' + ((i * 13) % 40) * interval '6 hours', i);
        COMMIT;
    END LOOP;
END $$;
CALL inc_one_by_one();
DROP PROCEDURE inc_one_by_one();
SELECT mode FROM reporting.refresh('inc_daily');
SELECT count(*) AS differences FROM reporting.verify('inc_daily');

-- a rolling window reaching back: lookback buckets; created inside a
-- transaction whose lock_timeout it leaves as it found it
BEGIN;
SET LOCAL lock_timeout = '7s';
SELECT reporting.create_incremental('inc_rolling', $q$
    SELECT d.day::date AS day, (SELECT coalesce(sum(o.amount), 0) FROM inc_orders o
                          WHERE o.created_at >= $1 AND o.created_at < $2
                            AND o.created_at >= d.day - interval '2 days'
                            AND o.created_at < d.day + interval '1 day') AS three_days
      FROM generate_series(greatest(date_trunc('day', $1::timestamptz) + interval '2 days', '2026-01-01'),
                           date_trunc('day', least($2, '2026-04-01'::timestamptz) - interval '1 microsecond'),
                           interval '1 day') d (day) $q$,
    time_column => 'inc_orders.created_at', bucket_column => 'day',
    time_zone => 'UTC', lookback => 2)::text AS created;
SHOW lock_timeout;
COMMIT;
SELECT count(*) AS differences FROM reporting.verify('inc_rolling');
INSERT INTO inc_orders (region, created_at, amount) VALUES ('n', '2026-01-15 10:00+00', 40);
SELECT mode FROM reporting.refresh('inc_rolling');
SELECT last_buckets FROM reporting.incrementals WHERE report = 'inc_rolling'::regclass;
SELECT count(*) AS differences FROM reporting.verify('inc_rolling');

-- bad input
SELECT reporting.create_incremental('inc_bad', 'SELECT 1 AS day', 'inc_orders.created_at', 'day');
SELECT reporting.create_incremental('inc_bad', 'SELECT created_at AS day FROM inc_orders WHERE created_at >= $1 AND created_at < $2',
                                    'inc_orders.nope', 'day');
SELECT reporting.create_incremental('inc_bad', 'SELECT id AS day FROM inc_orders WHERE created_at >= $1 AND created_at < $2',
                                    'inc_orders.created_at', 'day');
SELECT reporting.create_incremental('inc_bad', 'SELECT created_at AS day FROM inc_orders WHERE created_at >= $1 AND created_at < $2',
                                    'inc_orders.created_at', 'day', bucket_width => '-1 day');
SELECT reporting.create_incremental('inc_bad', 'SELECT created_at AS day FROM inc_orders WHERE created_at >= $1 AND created_at < $2',
                                    'inc_orders.created_at', 'day', lookback => -1);
SELECT reporting.create_incremental('inc_bad', 'SELECT created_at AS day FROM inc_orders WHERE created_at >= $1 AND created_at < $2',
                                    'inc_orders.created_at', 'day', time_zone => 'Mars/Olympus');
SELECT reporting.create_incremental('inc_bad', 'SELECT created_at AS day FROM inc_orders WHERE created_at >= $1 AND created_at < $2',
                                    'inc_orders.id', 'day');
SELECT reporting.create_incremental('inc_bad', 'SELECT created_at AS day FROM inc_orders WHERE created_at >= $1 AND created_at < $2',
                                    'inc_orders.created_at', 'nope');
SELECT reporting.verify('inc_regions');
-- create_incremental's last step: only for the owner of an incremental report
SELECT reporting._note_population_gap('inc_regions');
CREATE ROLE inc_stranger;
GRANT USAGE ON SCHEMA reporting TO inc_stranger;
SET ROLE inc_stranger;
SELECT reporting._note_population_gap('inc_daily');
RESET ROLE;
DROP OWNED BY inc_stranger;
DROP ROLE inc_stranger;
SELECT count(*) AS leftovers FROM pg_class WHERE relname = 'inc_bad';

-- unregistering makes it a plain table again
SELECT reporting.unregister('inc_rolling');
INSERT INTO inc_rolling VALUES ('1999-01-01', 0);
DROP TABLE inc_rolling;
SELECT count(*) AS capture_triggers_left FROM pg_trigger
 WHERE tgfoid = 'reporting._capture()'::regprocedure;
-- dropping the table forgets it, and its capture triggers go too
DROP TABLE inc_daily;
SELECT count(*) AS registered FROM reporting.registrations;
SELECT count(*) AS capture_triggers_left FROM pg_trigger
 WHERE tgfoid = 'reporting._capture()'::regprocedure;
DROP TABLE inc_orders, inc_regions;
DROP FUNCTION inc_shift();
DROP FUNCTION inc_capture_triggers(text);
