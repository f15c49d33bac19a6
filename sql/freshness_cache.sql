-- reporting.freshness() answers from a per-backend cache: each thing the
-- answer depends on must make the next call compute it again.  Every case
-- calls freshness() first (filling the cache), changes one thing, and calls
-- it again in the same session.  Needs shared_preload_libraries = 'reporting'.

SET client_min_messages = warning;
CREATE FUNCTION pg_temp.try_refresh(v regclass) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    PERFORM reporting.refresh(v);
    RETURN 'refreshed';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
CREATE FUNCTION pg_temp.f(v regclass)
RETURNS TABLE (fresh boolean, lag_known boolean, reason text, has_next boolean)
LANGUAGE sql AS $$
    SELECT f.fresh, f.lag IS NOT NULL,
           regexp_replace(f.reason, '\d+ (second|minute)s? ago|just now', 'N ago', 'g'),
           f.next_refresh_at IS NOT NULL
      FROM reporting.freshness(v) f $$;

-- the words of an age, and the units they change at
SELECT a, reporting._describe_age(a::interval)
  FROM unnest(ARRAY['0.5 s', '1 s', '59.9 s', '60 s', '3599 s', '3600 s', '47:59:59', '48:00:00', '1 mon', '1 year']) a;

CREATE TABLE cache_sales (id int PRIMARY KEY, amount int NOT NULL);
INSERT INTO cache_sales VALUES (1, 10);
CREATE MATERIALIZED VIEW cache_base AS SELECT 1 AS k, sum(amount) AS s FROM cache_sales;
CREATE UNIQUE INDEX ON cache_base (k);
CREATE VIEW cache_plain AS SELECT k, s FROM cache_base;
CREATE MATERIALIZED VIEW cache_top AS SELECT k, s * 2 AS s FROM cache_plain;
CREATE UNIQUE INDEX ON cache_top (k);

-- not registered yet; then registered (a write to the registrations)
SELECT * FROM pg_temp.f('cache_top');
SELECT reporting.register('cache_base'), reporting.register('cache_top', every => '1 hour');
SELECT * FROM pg_temp.f('cache_top');
SELECT view, status FROM reporting.refresh_all() ORDER BY 1::text COLLATE "C";
SELECT * FROM pg_temp.f('cache_top');
SELECT * FROM pg_temp.f('cache_top');

-- a committed write to a source two reports upstream
INSERT INTO cache_sales VALUES (2, 20);
SELECT * FROM pg_temp.f('cache_top');
SELECT view, status FROM reporting.refresh_all() ORDER BY 1::text COLLATE "C";
SELECT * FROM pg_temp.f('cache_top');

-- this transaction's own write counts, and is not kept once rolled back
BEGIN;
SELECT * FROM pg_temp.f('cache_base');
UPDATE cache_sales SET amount = amount + 1 WHERE id = 1;
SELECT * FROM pg_temp.f('cache_base');
ROLLBACK;
SELECT * FROM pg_temp.f('cache_base');

-- the upstream report unregistered: the top cannot be proven fresh
SELECT reporting.unregister('cache_base');
SELECT * FROM pg_temp.f('cache_top');
SELECT reporting.register('cache_base');
SELECT view, status FROM reporting.refresh_all() ORDER BY 1::text COLLATE "C";
SELECT * FROM pg_temp.f('cache_top');

-- the plain view in between redefined to read a table nobody tracks yet
CREATE TABLE cache_other (k int, s bigint);
INSERT INTO cache_other VALUES (1, 5);
CREATE OR REPLACE VIEW cache_plain AS SELECT k, s FROM cache_base UNION ALL SELECT k, s FROM cache_other;
SELECT * FROM pg_temp.f('cache_top');

-- DDL outside any write: a partition attached to a table a report reads
CREATE TABLE cache_parts (d int, v int) PARTITION BY RANGE (d);
CREATE TABLE cache_parts_1 PARTITION OF cache_parts FOR VALUES FROM (0) TO (10);
CREATE MATERIALIZED VIEW cache_p AS SELECT 1 AS k, count(*) AS n FROM cache_parts;
CREATE UNIQUE INDEX ON cache_p (k);
SELECT reporting.register('cache_p');
SELECT mode FROM reporting.refresh('cache_p');
SELECT * FROM pg_temp.f('cache_p');
CREATE TABLE cache_parts_2 (d int, v int);
INSERT INTO cache_parts_2 VALUES (15, 1);
ALTER TABLE cache_parts ATTACH PARTITION cache_parts_2 FOR VALUES FROM (10) TO (20);
SELECT * FROM pg_temp.f('cache_p');
SELECT mode FROM reporting.refresh('cache_p');
SELECT * FROM pg_temp.f('cache_p');
-- and written after the refresh that recorded it
INSERT INTO cache_parts VALUES (16, 2);
SELECT * FROM pg_temp.f('cache_p');

-- another role gets its own answer (reading generations needs SELECT)
CREATE ROLE regress_cache_reader;
GRANT USAGE ON SCHEMA reporting TO regress_cache_reader;
SELECT mode FROM reporting.refresh('cache_p');
SELECT * FROM pg_temp.f('cache_p');
SET ROLE regress_cache_reader;
SELECT fresh, reason FROM reporting.freshness('cache_p');
RESET ROLE;
SELECT * FROM pg_temp.f('cache_p');

-- REPEATABLE READ: answered, never kept
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM pg_temp.f('cache_p');
COMMIT;

-- assert_fresh() decides through the same answer
SELECT reporting.assert_fresh('cache_p', '0');
INSERT INTO cache_parts VALUES (3, 3);
DO $$ BEGIN PERFORM reporting.assert_fresh('cache_p', '0'); EXCEPTION WHEN SQLSTATE 'RP001' THEN RAISE WARNING 'stale: %', SQLERRM; END $$;
SELECT reporting.assert_fresh('cache_p', '1 hour');
DO $$ BEGIN PERFORM reporting.assert_fresh('cache_top', NULL); EXCEPTION WHEN OTHERS THEN RAISE WARNING '%: %', SQLSTATE, SQLERRM; END $$;
DO $$ BEGIN PERFORM reporting.assert_fresh('cache_other'::regclass, '1 s'); EXCEPTION WHEN OTHERS THEN RAISE WARNING '%: %', SQLSTATE, SQLERRM; END $$;
DO $$ BEGIN PERFORM reporting.freshness('cache_p', '-1 s'); EXCEPTION WHEN OTHERS THEN RAISE WARNING '%: %', SQLSTATE, SQLERRM; END $$;

-- the history alone: a skip recorded by refresh_all(), then a refresh that
-- fails (neither writes a source or the view)
CREATE FUNCTION pg_temp.history(v regclass)
RETURNS TABLE (last_status text, consecutive_failures int, failed_in_sentence boolean, retry_known boolean)
LANGUAGE sql AS $$
    SELECT s.last_status, s.consecutive_failures, s.freshness LIKE '%the last attempt failed%',
           s.retry_at IS NOT NULL
      FROM reporting.status s WHERE s.view = v $$;
CREATE TABLE cache_hist (x int);
INSERT INTO cache_hist VALUES (1);
CREATE FUNCTION cache_hist_check(x int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF current_setting('regress_cache.fail', true) = 'on' THEN
        RAISE EXCEPTION 'refresh made to fail';
    END IF;
    RETURN x;
END $$;
CREATE MATERIALIZED VIEW cache_h AS SELECT 1 AS k, sum(cache_hist_check(x)) AS s FROM cache_hist;
CREATE UNIQUE INDEX ON cache_h (k);
SELECT reporting.register('cache_h', every => '1 hour', sources => '{cache_hist}');
SELECT mode FROM reporting.refresh('cache_h');
SELECT * FROM pg_temp.history('cache_h');
SELECT view, status FROM reporting.refresh_all() WHERE view = 'cache_h'::regclass;
SELECT * FROM pg_temp.history('cache_h');
-- refresh workers of this database now fail it; this session does not
ALTER DATABASE contrib_regression SET regress_cache.fail = on;
SELECT reporting.register('cache_h', every => '1 hour', sources => '{cache_hist}', refresh_when => 'always');
SELECT mode FROM reporting.refresh('cache_h');
SELECT * FROM pg_temp.history('cache_h');
SELECT view, status FROM reporting.refresh_all() WHERE view = 'cache_h'::regclass;
SELECT * FROM pg_temp.history('cache_h');
ALTER DATABASE contrib_regression RESET regress_cache.fail;
SELECT fresh, sentence LIKE '%the last attempt failed%' AS says_failed FROM reporting.freshness('cache_h');

-- the clock alone: the words "last refreshed just now" change after a
-- second with nothing written (polled in new transactions, at most 30 s)
CREATE PROCEDURE pg_temp.wait_for_words(v regclass, words text) LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. 300 LOOP
        IF (SELECT f.sentence FROM reporting.freshness(v) f) LIKE '%' || words || '%' THEN
            RAISE WARNING 'the sentence says "%"', words;
            RETURN;
        END IF;
        COMMIT;
        PERFORM pg_sleep(0.1);
    END LOOP;
    RAISE WARNING 'the sentence never said "%"', words;
END $$;
SELECT mode FROM reporting.refresh('cache_p');
SELECT sentence LIKE '%last refreshed just now%' AS just_now FROM reporting.freshness('cache_p');
CALL pg_temp.wait_for_words('cache_p', 'last refreshed 1 second ago');

-- what a date-dependent report's answer holds until: the next midnight in
-- its owner's time zone
CREATE MATERIALIZED VIEW cache_today AS SELECT current_date AS d, count(*) AS n FROM cache_sales;
CREATE UNIQUE INDEX ON cache_today (d);
SELECT reporting.register('cache_today');
SELECT mode FROM reporting.refresh('cache_today');
SELECT reporting._refresh_setting('cache_today', 'TimeZone') <> current_setting('TimeZone') AS not_the_sessions_zone;
SELECT valid_until = (date_trunc('day', now() AT TIME ZONE z) + interval '1 day') AT TIME ZONE z AS until_owners_midnight
  FROM reporting._freshness_row('cache_today'),
       LATERAL reporting._refresh_setting('cache_today', 'TimeZone') z;
ALTER ROLE CURRENT_USER IN DATABASE contrib_regression SET TimeZone = 'Pacific/Kiritimati';
SELECT valid_until = (date_trunc('day', now() AT TIME ZONE 'Pacific/Kiritimati') + interval '1 day')
                     AT TIME ZONE 'Pacific/Kiritimati' AS until_owners_midnight
  FROM reporting._freshness_row('cache_today');
-- a login default changed where no generation of this database moves
-- (ALTER ROLE ... SET run in another database; here the row it writes,
-- written directly): the cached answer follows the owner's new zone
SELECT (SELECT valid_until FROM reporting._freshness_cached('cache_today'))
       = (SELECT valid_until FROM reporting._freshness_row('cache_today')) AS cached_is_exact;
UPDATE pg_db_role_setting SET setconfig = '{TimeZone=Pacific/Pago_Pago}'
 WHERE setrole = (SELECT oid FROM pg_roles WHERE rolname = current_user)
   AND setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database());
SELECT (SELECT valid_until FROM reporting._freshness_cached('cache_today'))
       = (SELECT valid_until FROM reporting._freshness_row('cache_today')) AS cached_is_exact;
ALTER ROLE CURRENT_USER IN DATABASE contrib_regression RESET TimeZone;

-- DDL in a transaction: its own answers see it, and nothing it saw is kept
-- once it rolls back
CREATE TABLE cache_src (x int);
CREATE TABLE cache_src2 (x int);
CREATE VIEW cache_between AS SELECT x FROM cache_src;
CREATE MATERIALIZED VIEW cache_m AS SELECT 1 AS k, count(*) AS n FROM cache_between;
CREATE UNIQUE INDEX ON cache_m (k);
SELECT reporting.register('cache_m');
SELECT mode FROM reporting.refresh('cache_m');
SELECT * FROM pg_temp.f('cache_m');
-- (what was cached before does not see the transaction's DDL)
BEGIN;
CREATE OR REPLACE VIEW cache_between AS SELECT x FROM cache_src2;
SELECT f.fresh = (r.state = 'unchanged') AS cached_is_exact
  FROM reporting.freshness('cache_m') f, reporting._freshness_row('cache_m') r;
ROLLBACK;
-- (first asked inside the transaction, with nothing cached: a function
-- created empties the cache)
CREATE FUNCTION pg_temp.empty_the_cache() RETURNS int LANGUAGE sql AS 'SELECT 1';
BEGIN;
CREATE OR REPLACE VIEW cache_between AS SELECT x FROM cache_src2;
SELECT fresh FROM reporting.freshness('cache_m');
ROLLBACK;
SELECT * FROM pg_temp.f('cache_m');
-- the plain view in between replaced for good: no change is counted, and
-- the words say what changed (not "0 changes", not "the current time", not
-- "the current date, which has changed")
CREATE MATERIALIZED VIEW cache_md AS SELECT current_date AS d, count(*) AS n FROM cache_between;
SELECT reporting.register('cache_md');
SELECT mode FROM reporting.refresh('cache_md');
CREATE OR REPLACE VIEW cache_between AS SELECT x FROM cache_src2;
SELECT * FROM pg_temp.f('cache_m');
SELECT regexp_replace(sentence, '\d+ (second|minute)s? ago|just now', 'N ago', 'g') AS sentence
  FROM reporting.freshness('cache_md');
DO $$
DECLARE
    detail text;
BEGIN
    PERFORM reporting.assert_fresh('cache_m', '0');
EXCEPTION WHEN SQLSTATE 'RP001' THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RAISE WARNING '%', SQLERRM USING DETAIL = regexp_replace(detail, '\d+ (second|minute)s? ago|just now', 'N ago', 'g');
END $$;
DO $$
DECLARE
    detail text;
BEGIN
    PERFORM reporting.assert_fresh('cache_md', '0');
EXCEPTION WHEN SQLSTATE 'RP001' THEN
    GET STACKED DIAGNOSTICS detail = PG_EXCEPTION_DETAIL;
    RAISE WARNING '%', SQLERRM USING DETAIL = regexp_replace(detail, '\d+ (second|minute)s? ago|just now', 'N ago', 'g');
END $$;
SELECT reporting.unregister('cache_md');
DROP MATERIALIZED VIEW cache_md;
CREATE OR REPLACE VIEW cache_between AS SELECT x FROM cache_src;
SELECT mode FROM reporting.refresh('cache_m');
INSERT INTO cache_src VALUES (1);
SELECT * FROM pg_temp.f('cache_m');

-- role membership and refresh grants decide what a role sees
CREATE ROLE regress_cache_owner;
CREATE ROLE regress_cache_member;
CREATE ROLE regress_cache_grantee;
GRANT USAGE ON SCHEMA reporting TO regress_cache_member, regress_cache_grantee;
GRANT EXECUTE ON FUNCTION
    reporting.register(regclass, interval, text, text, text, text, interval, interval, interval, regclass[], text),
    reporting.refresh(regclass, text), reporting.grant_refresh(regclass, regrole)
  TO regress_cache_owner;
ALTER MATERIALIZED VIEW cache_m OWNER TO regress_cache_owner;
GRANT SELECT ON cache_src, cache_between TO regress_cache_owner, regress_cache_grantee;
GRANT SELECT ON cache_m TO regress_cache_grantee;
SET SESSION AUTHORIZATION regress_cache_owner;
SELECT reporting.register('cache_m');
SELECT mode FROM reporting.refresh('cache_m');
RESET SESSION AUTHORIZATION;
SET ROLE regress_cache_member;
SELECT * FROM pg_temp.f('cache_m');
RESET ROLE;
GRANT regress_cache_owner TO regress_cache_member;
SET ROLE regress_cache_member;
SELECT * FROM pg_temp.f('cache_m');
SELECT * FROM pg_temp.f('cache_m');
RESET ROLE;
REVOKE regress_cache_owner FROM regress_cache_member;
SET ROLE regress_cache_member;
SELECT * FROM pg_temp.f('cache_m');
-- row_security off: the policies on the registrations raise instead of
-- hiding them, as they would without the cache
SET row_security = off;
DO $$ BEGIN PERFORM reporting.freshness('cache_m'); EXCEPTION WHEN OTHERS THEN RAISE WARNING '%: %', SQLSTATE, SQLERRM; END $$;
RESET row_security;
RESET ROLE;
SET ROLE regress_cache_grantee;
SELECT * FROM pg_temp.f('cache_m');
RESET ROLE;
SET SESSION AUTHORIZATION regress_cache_owner;
SELECT reporting.grant_refresh('cache_m', 'regress_cache_grantee');
RESET SESSION AUTHORIZATION;
SET ROLE regress_cache_grantee;
SELECT * FROM pg_temp.f('cache_m');
RESET ROLE;

-- a declared source dropped and created again under its name: the
-- registration still names the old one, so the new one is not watched
CREATE TABLE cache_declared (x int);
INSERT INTO cache_declared VALUES (1);
CREATE FUNCTION cache_count() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM public.cache_declared';
CREATE MATERIALIZED VIEW cache_f AS SELECT 1 AS k, cache_count() AS n;
CREATE UNIQUE INDEX ON cache_f (k);
SELECT reporting.register('cache_f', sources => '{cache_declared}');
SELECT mode FROM reporting.refresh('cache_f');
SELECT * FROM pg_temp.f('cache_f');
BEGIN;
DROP TABLE cache_declared;
CREATE TABLE cache_declared (x int);
COMMIT;
SELECT * FROM pg_temp.f('cache_f');
-- (refreshed since: still not watched)
SELECT mode FROM reporting.refresh('cache_f');
INSERT INTO cache_declared VALUES (1), (2);
SELECT * FROM pg_temp.f('cache_f');
SELECT source, source_kind FROM reporting.staleness('cache_f');
SELECT reporting.unregister('cache_f');
DROP MATERIALIZED VIEW cache_f;
DROP FUNCTION cache_count();
DROP TABLE cache_declared;

SELECT reporting.unregister(view) FROM reporting.registrations;
DROP MATERIALIZED VIEW cache_top, cache_p, cache_today, cache_h, cache_m;
DROP VIEW cache_between;
DROP TABLE cache_src, cache_src2;
REVOKE USAGE ON SCHEMA reporting FROM regress_cache_member, regress_cache_grantee;
REVOKE EXECUTE ON FUNCTION
    reporting.register(regclass, interval, text, text, text, text, interval, interval, interval, regclass[], text),
    reporting.refresh(regclass, text), reporting.grant_refresh(regclass, regrole)
  FROM regress_cache_owner;
DROP ROLE regress_cache_owner, regress_cache_member, regress_cache_grantee;
DROP FUNCTION cache_hist_check(int);
DROP VIEW cache_plain;
DROP MATERIALIZED VIEW cache_base;
DROP TABLE cache_sales, cache_other, cache_parts, cache_hist;
REVOKE USAGE ON SCHEMA reporting FROM regress_cache_reader;
DROP ROLE regress_cache_reader;
