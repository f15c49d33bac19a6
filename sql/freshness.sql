-- Freshness that never lies: through the materialized views a report reads,
-- with the clock, with sources the catalog cannot see, and the same result
-- whoever refreshes.  Needs shared_preload_libraries = 'reporting'.  Prints
-- booleans, counts and reasons, never times.

CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text; msg text; detail text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL;
    RETURN regexp_replace(state || ': ' || msg || CASE WHEN detail <> '' THEN ' / ' || detail ELSE '' END,
                          '(\d+ (second|minute)s? ago|just now)', 'N ago', 'g');
END $$;
CREATE FUNCTION pg_temp.verdict(v regclass)
RETURNS TABLE (fresh boolean, sources_changed boolean, clock text, behind regclass, unknown_reason text)
LANGUAGE sql AS $$
    SELECT fresh, sources_changed, depends_on_clock, behind_upstream, unknown_reason
      FROM reporting.status WHERE view = v $$;

SET client_min_messages = warning;

-- a chain of three reports: a report on a stale report is stale, and says
-- which upstream is behind
CREATE TABLE sales (id int PRIMARY KEY, amount int NOT NULL);
INSERT INTO sales VALUES (1, 10);
CREATE MATERIALIZED VIEW chain_a AS SELECT 1 AS k, sum(amount) AS s FROM sales;
CREATE UNIQUE INDEX ON chain_a (k);
CREATE MATERIALIZED VIEW chain_b AS SELECT k, s * 2 AS s FROM chain_a;
CREATE UNIQUE INDEX ON chain_b (k);
CREATE MATERIALIZED VIEW chain_c AS SELECT k, s + 1 AS s FROM chain_b;
CREATE UNIQUE INDEX ON chain_c (k);
SELECT reporting.register('chain_a'), reporting.register('chain_b'), reporting.register('chain_c');
SELECT view, status FROM reporting.refresh_all() ORDER BY view::text COLLATE "C";
SELECT * FROM pg_temp.verdict('chain_c');
INSERT INTO sales VALUES (2, 20);
SELECT view, fresh, sources_changed, behind_upstream FROM reporting.status
 WHERE view::text LIKE 'chain%' ORDER BY view::text COLLATE "C";
SELECT freshness FROM reporting.status WHERE view = 'chain_c'::regclass;
SELECT pg_temp.try($$SELECT reporting.assert_fresh('chain_c', '0')$$);
-- refresh_all does not skip the downstream ones: they refresh after chain_a
SELECT view, status FROM reporting.refresh_all() ORDER BY view::text COLLATE "C";
SELECT view, fresh FROM reporting.status WHERE view::text LIKE 'chain%' ORDER BY view::text COLLATE "C";
SELECT s = 61 AS chain_c_has_the_new_sale FROM chain_c;

-- a middle view that is not registered: the top cannot be proven fresh
CREATE MATERIALIZED VIEW middle AS SELECT 1 AS k, count(*) AS n FROM sales;
CREATE MATERIALIZED VIEW top_report AS SELECT k, n FROM middle;
CREATE UNIQUE INDEX ON top_report (k);
SELECT reporting.register('top_report', refresh => 'now');
SELECT * FROM pg_temp.verdict('top_report');
-- registered, it is followed
CREATE UNIQUE INDEX ON middle (k);
SELECT reporting.register('middle', refresh => 'now');
SELECT mode FROM reporting.refresh('top_report');
SELECT fresh FROM pg_temp.verdict('top_report');
INSERT INTO sales VALUES (3, 30);
SELECT fresh, sources_changed, behind FROM pg_temp.verdict('top_report');

-- the clock: a report on "the day before today" depends on the date only;
-- it may be skipped while the date has not changed in its refresh time zone
CREATE TABLE visits (d date);
CREATE MATERIALIZED VIEW recent AS
  SELECT current_date - 1 AS since, count(*) AS n FROM visits WHERE d >= current_date - 1;
CREATE UNIQUE INDEX ON recent (since);
SELECT reporting.register('recent', every => '1 hour', refresh => 'now');
SELECT * FROM pg_temp.verdict('recent');
SELECT freshness LIKE '%the date it depends on has not changed' AS says_so FROM reporting.status WHERE view = 'recent'::regclass;
SELECT view, status, error FROM reporting.refresh_all() WHERE view = 'recent'::regclass;
-- a refresh records the clock its query saw: the start of its transaction
BEGIN;
SELECT mode FROM reporting.refresh('recent');
SELECT clock_at = now() AS clock_of_the_transaction, started_at > clock_at AS started_after
  FROM reporting.runs WHERE view = 'recent'::regclass ORDER BY id DESC LIMIT 1;
COMMIT;
-- a refresh that started today in a transaction begun yesterday (before
-- midnight) computed yesterday's window: not fresh, although it started today
UPDATE reporting.runs SET clock_at = clock_at - interval '1 day'
 WHERE view = 'recent'::regclass AND status = 'refreshed';
SELECT fresh, sources_changed, clock FROM pg_temp.verdict('recent');
SELECT mode FROM reporting.refresh('recent');
SELECT fresh FROM pg_temp.verdict('recent');
-- a day later (backdated history) the window has moved: not skipped
UPDATE reporting.runs SET started_at = started_at - interval '1 day', finished_at = finished_at - interval '1 day',
                          clock_at = clock_at - interval '1 day'
 WHERE view = 'recent'::regclass;
SELECT fresh, sources_changed, clock FROM pg_temp.verdict('recent');
SELECT regexp_replace(reason, 'time zone \S+', 'time zone X') AS reason FROM reporting.freshness('recent');
SELECT view, status FROM reporting.refresh_all() WHERE view = 'recent'::regclass;
SELECT fresh FROM pg_temp.verdict('recent');

-- a report on the last 5 minutes depends on the time: never skipped, never
-- called fresh, exact as of its last refresh
CREATE TABLE events (at timestamptz);
CREATE MATERIALIZED VIEW last_minutes AS
  SELECT count(*) AS n FROM events WHERE at > now() - interval '5 minutes';
CREATE MATERIALIZED VIEW local_clock AS SELECT localtimestamp::date AS d;
CREATE MATERIALIZED VIEW dice AS SELECT random() < 2 AS rolled;
SELECT reporting.register('last_minutes', refresh => 'now'),
       reporting.register('local_clock', refresh => 'now'),
       reporting.register('dice', refresh => 'now');
SELECT view, fresh, depends_on_clock, unknown_reason FROM reporting.status
 WHERE view IN ('last_minutes'::regclass, 'local_clock'::regclass, 'dice'::regclass) ORDER BY view::text COLLATE "C";
SELECT reason FROM reporting.freshness('last_minutes');
SELECT reason FROM reporting.freshness('dice');
SELECT view, status FROM reporting.refresh_all()
 WHERE view IN ('last_minutes'::regclass, 'local_clock'::regclass, 'dice'::regclass) ORDER BY view::text COLLATE "C";
SELECT pg_temp.try($$SELECT reporting.assert_fresh('last_minutes', '1 hour')$$);
SELECT pg_temp.try($$SELECT reporting.assert_fresh('last_minutes', '0')$$);
SELECT as_of = last_refreshed_at AS exact_as_of_its_refresh FROM reporting.status WHERE view = 'last_minutes'::regclass;

-- sources the catalog cannot see: a function reading a table
CREATE TABLE settings_table (v int);
INSERT INTO settings_table VALUES (1);
CREATE FUNCTION setting_count() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM public.settings_table';
CREATE MATERIALIZED VIEW hidden AS SELECT setting_count() AS n;
SELECT reporting.register('hidden', mode => 'plain', refresh => 'now');
SELECT * FROM pg_temp.verdict('hidden');
SELECT view, status FROM reporting.refresh_all() WHERE view = 'hidden'::regclass;
-- declared, it is tracked like any other
SELECT reporting.register('hidden', mode => 'plain', sources => '{settings_table}', refresh => 'now');
SELECT fresh, sources_changed, unknown_reason FROM pg_temp.verdict('hidden');
SELECT source, source_kind FROM reporting.sources WHERE view = 'hidden'::regclass;
INSERT INTO settings_table VALUES (2);
SELECT fresh, sources_changed FROM pg_temp.verdict('hidden');
-- a sequence and a text search configuration change with no table changing
CREATE SEQUENCE ticket_numbers;
CREATE MATERIALIZED VIEW tickets AS SELECT last_value FROM ticket_numbers;
CREATE MATERIALIZED VIEW searchable AS SELECT to_tsvector('english', 'reports are fresh') AS doc;
SELECT reporting.register('tickets', mode => 'plain', refresh => 'now'),
       reporting.register('searchable', mode => 'plain', refresh => 'now');
SELECT view, fresh, unknown_reason FROM reporting.status
 WHERE view IN ('tickets'::regclass, 'searchable'::regclass) ORDER BY view::text COLLATE "C";
-- more that the catalog does not link: a system catalog read directly, the
-- session's user or settings, text read as a time, age() of one argument,
-- TABLESAMPLE
CREATE MATERIALIZED VIEW catalog_reader AS SELECT count(*) AS n FROM pg_class WHERE relname LIKE 'zz%';
CREATE MATERIALIZED VIEW session_reader AS SELECT session_user::text AS who, current_setting('application_name') AS app;
CREATE MATERIALIZED VIEW text_clock AS SELECT count(*) AS n FROM events WHERE at < 'now'::text::timestamptz;
CREATE MATERIALIZED VIEW aged AS SELECT count(*) AS n FROM visits WHERE age(d::timestamp) < interval '1 year';
CREATE MATERIALIZED VIEW sampled AS SELECT count(*) AS n FROM visits TABLESAMPLE BERNOULLI (50);
SELECT reporting.register(v, mode => 'plain', refresh => 'now')
  FROM unnest(ARRAY['catalog_reader', 'session_reader', 'text_clock', 'aged', 'sampled']::regclass[]) AS v;
SELECT view, fresh, depends_on_clock, regexp_replace(unknown_reason, 'time zone \S+', 'time zone X') AS unknown_reason
  FROM reporting.status
 WHERE view IN ('catalog_reader'::regclass, 'session_reader'::regclass, 'text_clock'::regclass,
                'aged'::regclass, 'sampled'::regclass)
 ORDER BY view::text COLLATE "C";
DROP MATERIALIZED VIEW catalog_reader, session_reader, text_clock, aged, sampled;
-- declaring something that is not a table is refused
SELECT pg_temp.try($$SELECT reporting.register('hidden', sources => '{ticket_numbers}')$$);
SELECT pg_temp.try($$SELECT reporting.register('hidden', sources => ARRAY[NULL]::regclass[])$$);
SELECT pg_temp.try($$SELECT reporting.register('hidden', refresh => 'later')$$);

-- the same rows whoever refreshes: the owner's TimeZone and search_path,
-- not the caller's session values
CREATE ROLE regress_reporting_tokyo;
GRANT CREATE ON SCHEMA public TO regress_reporting_tokyo;
ALTER ROLE regress_reporting_tokyo SET TimeZone = 'Asia/Tokyo';
SET ROLE regress_reporting_tokyo;
CREATE TABLE tokyo_orders (id int PRIMARY KEY, created_at timestamptz NOT NULL);
INSERT INTO tokyo_orders VALUES (1, '2025-01-01 23:30:00+00');
CREATE TABLE tokyo_lookup (k int);
INSERT INTO tokyo_lookup VALUES (1), (2);
CREATE FUNCTION tokyo_lookups() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT count(*) FROM tokyo_lookup';
CREATE MATERIALIZED VIEW tokyo_days AS
  SELECT created_at::date AS day, count(*) AS n, tokyo_lookups() AS lookups FROM tokyo_orders GROUP BY 1;
CREATE UNIQUE INDEX ON tokyo_days (day);
RESET ROLE;
SELECT reporting.register('tokyo_days', sources => '{tokyo_lookup}');
SET TimeZone = 'UTC';
SELECT mode FROM reporting.refresh('tokyo_days');
TABLE tokyo_days;
SET TimeZone = 'America/Los_Angeles';
SET search_path = pg_catalog;
SELECT mode FROM reporting.refresh('public.tokyo_days', 'plain');
TABLE public.tokyo_days;
RESET search_path;
RESET TimeZone;
SELECT reporting.register('tokyo_days', sources => '{tokyo_lookup}', refresh_when => 'always');
SELECT view, status FROM reporting.refresh_all() WHERE view = 'tokyo_days'::regclass;
TABLE tokyo_days;
SELECT reporting._refresh_setting('tokyo_days', 'TimeZone');
-- an error names the settings the refresh ran with
SET ROLE regress_reporting_tokyo;
CREATE MATERIALIZED VIEW tokyo_broken AS SELECT 1 / (tokyo_lookups() - 2) AS x WITH NO DATA;
RESET ROLE;
SELECT reporting.register('tokyo_broken', mode => 'plain');
\set VERBOSITY default
SELECT reporting.refresh('tokyo_broken');
\set VERBOSITY terse

-- freshness(): one row, never raises for a stale view
SELECT fresh, as_of IS NOT NULL AS has_as_of, lag IS NOT NULL AS has_lag, reason IS NULL AS no_reason,
       next_refresh_at IS NULL AS manual
  FROM reporting.freshness('chain_a');
SELECT fresh, reason FROM reporting.freshness('chain_c');
SELECT fresh FROM reporting.freshness('chain_c', '1 hour');
CREATE MATERIALIZED VIEW not_registered AS SELECT 1 AS x;
SELECT fresh, reason FROM reporting.freshness('not_registered');
SELECT pg_temp.try($$SELECT reporting.freshness(NULL)$$);
SELECT pg_temp.try($$SELECT reporting.freshness('chain_a', '-1 second')$$);
-- as_of is now while unchanged, the start of the last refresh once a
-- change is missing; lag is now minus as_of
SELECT mode FROM reporting.refresh('chain_a');
SELECT as_of = now() AS as_of_now, lag = '0' AS no_lag FROM reporting.freshness('chain_a');
INSERT INTO sales VALUES (4, 40);
SELECT f.as_of = s.last_refreshed_at AS as_of_last_refresh, f.lag = now() - s.last_refreshed_at AS lag_since
  FROM reporting.freshness('chain_a') f, reporting.status s WHERE s.view = 'chain_a'::regclass;

-- exact words: this transaction's own writes are not called committed
SELECT mode FROM reporting.refresh('chain_a');
BEGIN;
INSERT INTO sales VALUES (5, 50);
SELECT pg_temp.try($$SELECT reporting.assert_fresh('chain_a', '0')$$);
SELECT freshness LIKE '%not committed yet%' AS says_uncommitted FROM reporting.status WHERE view = 'chain_a'::regclass;
ROLLBACK;
INSERT INTO sales VALUES (6, 60);
SELECT pg_temp.try($$SELECT reporting.assert_fresh('chain_a', '0')$$);

-- pruning never erases the run a view's freshness rests on
SELECT mode FROM reporting.refresh('chain_a');
UPDATE reporting.runs SET started_at = started_at - interval '400 days', finished_at = finished_at - interval '400 days';
SELECT count(*) > 0 AS refreshed_any FROM reporting.refresh_all();
SELECT last_refreshed_at IS NOT NULL AS still_refreshed, fresh FROM reporting.status WHERE view = 'chain_a'::regclass;
SELECT pg_temp.try($$SELECT reporting.assert_fresh('chain_a', '0')$$);

-- refresh => 'soon': the scheduler refreshes a new report right after commit
CREATE MATERIALIZED VIEW soon_report AS SELECT 1 AS k, count(*) AS n FROM sales WITH NO DATA;
CREATE UNIQUE INDEX ON soon_report (k);
-- (owned by a role that is not a superuser: the scheduler does not run a
-- superuser's queries unless reporting.enable_superuser_refresh is on)
GRANT SELECT ON sales TO regress_reporting_tokyo;
ALTER MATERIALIZED VIEW soon_report OWNER TO regress_reporting_tokyo;
SELECT reporting.register('soon_report', refresh => 'soon');
-- (the scheduler, woken by the commit, may have started it already)
SELECT coalesce(next_refresh_at <= now(), EXISTS (SELECT 1 FROM reporting.runs WHERE view = 'soon_report'::regclass)) AS due_now_or_started
  FROM reporting.status WHERE view = 'soon_report'::regclass;
DO $$
BEGIN
    FOR i IN 1..300 LOOP
        EXIT WHEN EXISTS (SELECT 1 FROM reporting.runs WHERE view = 'soon_report'::regclass AND status = 'refreshed');
        PERFORM pg_sleep(0.1);
        PERFORM pg_stat_clear_snapshot();
    END LOOP;
END $$;
SELECT origin, status FROM reporting.runs WHERE view = 'soon_report'::regclass;
SELECT populated, next_refresh_at IS NULL AS then_manual FROM reporting.status WHERE view = 'soon_report'::regclass;

DROP MATERIALIZED VIEW chain_c, chain_b, chain_a, top_report, middle, recent, last_minutes, local_clock, dice,
    hidden, tickets, searchable, not_registered, soon_report;
DROP TABLE sales, visits, events, settings_table;
DROP SEQUENCE ticket_numbers;
DROP FUNCTION setting_count();
DROP OWNED BY regress_reporting_tokyo CASCADE;
DROP ROLE regress_reporting_tokyo;
SELECT count(*) AS registrations_left FROM reporting.registrations;
