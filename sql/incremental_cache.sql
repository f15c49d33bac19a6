-- A backend keeps what it worked out from the catalogs for a refresh (the
-- tables a view reads; that an incremental report's capture triggers and
-- fingerprint still hold) until a relcache invalidation: each change below
-- comes after a refresh that used the kept answer, and must be seen.
SET client_min_messages = warning;
\set SHOW_CONTEXT never
CREATE TABLE cache_orders (
    id serial,
    created_at timestamptz NOT NULL,
    amount int NOT NULL,
    PRIMARY KEY (id, created_at)
) PARTITION BY RANGE (created_at);
CREATE TABLE cache_orders_jan PARTITION OF cache_orders
    FOR VALUES FROM ('2026-01-01 00:00+00') TO ('2026-02-01 00:00+00');
CREATE TABLE cache_orders_rest PARTITION OF cache_orders DEFAULT;
INSERT INTO cache_orders (created_at, amount)
SELECT timestamptz '2026-01-01 00:00+00' + i * interval '97 minutes', i % 50
  FROM generate_series(1, 1000) i;

-- a report on its fact table alone: no other source's generations to compare
SELECT reporting.create_incremental('cache_daily', $q$
    SELECT (created_at AT TIME ZONE 'UTC')::date AS day, count(*) AS orders, sum(amount) AS amount
      FROM cache_orders WHERE created_at >= $1 AND created_at < $2 GROUP BY 1 $q$,
    time_column => 'cache_orders.created_at', bucket_column => 'day',
    time_zone => 'UTC')::text AS created;

CREATE FUNCTION cache_write(at timestamptz) RETURNS void LANGUAGE sql AS
    $$ INSERT INTO cache_orders (created_at, amount) VALUES (at, 7) $$;
-- a write, then two refreshes: the second finds the checks already passed
CREATE FUNCTION cache_settle() RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM cache_write('2026-01-02 10:00+00');
    PERFORM reporting.refresh('cache_daily');
    PERFORM cache_write('2026-01-03 10:00+00');
    RETURN (SELECT mode FROM reporting.refresh('cache_daily'));
END $$;

SELECT cache_settle() AS settled;
-- TRUNCATE of a partition
TRUNCATE cache_orders_rest;
SELECT mode FROM reporting.refresh('cache_daily');
SELECT last_full_reason FROM reporting.incrementals;
SELECT count(*) AS differences FROM reporting.verify('cache_daily');

SELECT cache_settle() AS settled;
-- a capture trigger disabled, written through and enabled again
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT tgname FROM pg_trigger WHERE tgrelid = 'cache_orders'::regclass
                AND tgfoid = 'reporting._capture()'::regprocedure LOOP
        EXECUTE format('ALTER TABLE cache_orders DISABLE TRIGGER %I', t.tgname);
    END LOOP;
    PERFORM cache_write('2026-01-20 10:00+00');
    FOR t IN SELECT tgname FROM pg_trigger WHERE tgrelid = 'cache_orders'::regclass
                AND tgfoid = 'reporting._capture()'::regprocedure LOOP
        EXECUTE format('ALTER TABLE cache_orders ENABLE ALWAYS TRIGGER %I', t.tgname);
    END LOOP;
END $$;
SELECT mode FROM reporting.refresh('cache_daily');
SELECT count(*) AS differences FROM reporting.verify('cache_daily');

SELECT cache_settle() AS settled;
-- a BEFORE INSERT trigger firing after the capture
CREATE FUNCTION cache_shift() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.created_at := NEW.created_at + interval '10 days'; RETURN NEW; END $$;
CREATE TRIGGER "~~late_shift" BEFORE INSERT ON cache_orders_jan
    FOR EACH ROW EXECUTE FUNCTION cache_shift();
SELECT cache_write('2026-01-04 10:00+00');
SELECT mode FROM reporting.refresh('cache_daily');
SELECT last_full_reason FROM reporting.incrementals;
DROP TRIGGER "~~late_shift" ON cache_orders_jan;
SELECT count(*) AS differences FROM reporting.verify('cache_daily');

SELECT cache_settle() AS settled;
-- a partition attached with rows of its own
CREATE TABLE cache_orders_feb (LIKE cache_orders);
ALTER TABLE cache_orders_feb DROP COLUMN id, ADD COLUMN id int NOT NULL DEFAULT 0;
INSERT INTO cache_orders_feb (created_at, amount) VALUES ('2026-02-03 10:00+00', 1);
DELETE FROM cache_orders_rest WHERE created_at >= '2026-02-01' AND created_at < '2026-03-01';
ALTER TABLE cache_orders ATTACH PARTITION cache_orders_feb
    FOR VALUES FROM ('2026-02-01 00:00+00') TO ('2026-03-01 00:00+00');
SELECT mode FROM reporting.refresh('cache_daily');
SELECT count(*) AS differences FROM reporting.verify('cache_daily');

-- the tables a materialized view reads, through a plain view redefined
CREATE TABLE cache_a (v int);
CREATE TABLE cache_b (v int);
CREATE VIEW cache_pick AS SELECT v FROM cache_a;
CREATE MATERIALIZED VIEW cache_mv AS SELECT count(*) AS n FROM cache_pick;
SELECT reporting.register('cache_mv');
SELECT mode FROM reporting.refresh('cache_mv');
SELECT mode FROM reporting.refresh('cache_mv');
CREATE OR REPLACE VIEW cache_pick AS SELECT v FROM cache_b;
SELECT mode FROM reporting.refresh('cache_mv');
-- the refresh recorded the table it now reads: unchanged until written
SELECT sources_changed FROM reporting.status WHERE view = 'cache_mv'::regclass;
INSERT INTO cache_b VALUES (1);
SELECT sources_changed FROM reporting.status WHERE view = 'cache_mv'::regclass;
-- and declared sources registered again
SELECT mode FROM reporting.refresh('cache_mv');
CREATE TABLE cache_c (v int);
SELECT reporting.register('cache_mv', sources => '{cache_c}');
SELECT mode FROM reporting.refresh('cache_mv');
SELECT sources_changed FROM reporting.status WHERE view = 'cache_mv'::regclass;
INSERT INTO cache_c VALUES (1);
SELECT sources_changed FROM reporting.status WHERE view = 'cache_mv'::regclass;

SELECT reporting.unregister('cache_mv');
DROP MATERIALIZED VIEW cache_mv;
DROP VIEW cache_pick;
DROP TABLE cache_a, cache_b, cache_c;
DROP TABLE cache_daily;
DROP TABLE cache_orders;
DROP FUNCTION cache_settle();
DROP FUNCTION cache_write(timestamptz);
DROP FUNCTION cache_shift();
