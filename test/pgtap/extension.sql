-- pgTAP: the guarantees the extension's objects make, checked in the
-- catalog, plus the essay's flow end to end through the extension.
-- Run by pg_prove in a database where pgtap and reporting are installed.
BEGIN;
SELECT plan(52);

SELECT has_schema('reporting', 'CREATE EXTENSION reporting creates schema reporting');
SELECT has_table('reporting', 'registrations', 'registrations are stored in reporting.registrations');
SELECT has_table('reporting', 'runs', 'the history is stored in reporting.runs');
SELECT has_view('reporting', 'status', 'reporting.status exists');
SELECT has_view('reporting', 'sources', 'reporting.sources exists');
SELECT has_view('reporting', 'source_health', 'reporting.source_health exists');
SELECT has_view('reporting', 'running', 'reporting.running lists refreshes in progress');
SELECT ok(has_table_privilege('public', 'reporting.running', 'SELECT'), 'anyone may read reporting.running');
SELECT has_column('reporting', 'status', 'next_refresh_at', 'status says when the scheduler refreshes next');
SELECT ok(NOT has_function_privilege('public', 'reporting._scheduled()', 'EXECUTE'),
    'the scheduler''s internal schedule is not callable by PUBLIC');
SELECT has_function('reporting', 'register',
    ARRAY['regclass', 'interval', 'text', 'text', 'text', 'text', 'interval', 'interval', 'interval', 'regclass[]', 'text'],
    'register has the documented signature');
SELECT has_function('reporting', 'unregister', ARRAY['regclass'], 'unregister has the documented signature');
SELECT has_function('reporting', 'refresh', ARRAY['regclass', 'text'], 'refresh has the documented signature');
SELECT has_function('reporting', 'refresh_all', ARRAY[]::text[], 'refresh_all has the documented signature');
SELECT columns_are('reporting', 'runs',
    ARRAY['id', 'view', 'origin', 'status', 'mode', 'started_at', 'finished_at', 'duration',
          'rows', 'error', 'sqlstate', 'started_by', 'tracking_epoch', 'tracked_sources', 'source_generations', 'tracking_database',
          'clock_at', 'buckets'],
    'runs has the documented columns');

-- security properties of every function in the schema
SELECT is_empty($$
    SELECT p.oid::regprocedure FROM pg_proc p
     WHERE p.pronamespace = 'reporting'::regnamespace
       AND p.oid <> 'reporting.track_change()'::regprocedure
       -- incremental reports: these run the user's own query text, resolved
       -- with the caller's (create_incremental) or the owner's (a refresh)
       -- search_path, as REFRESH of a materialized view does; the capture
       -- trigger fires for every row written and runs no SQL
       AND p.oid NOT IN ('reporting._capture()'::regprocedure,
                         'reporting._analyze_incremental(text, regtype)'::regprocedure,
                         'reporting._refresh_incremental(oid)'::regprocedure,
                         'reporting.create_incremental(text, text, text, name, interval, text, int4, name[], interval, text, float8)'::regprocedure)
       AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false)$$,
    'every function that runs SQL pins search_path to pg_catalog, pg_temp');
SELECT is((SELECT proconfig FROM pg_proc WHERE oid = 'reporting.track_change()'::regprocedure), NULL,
    'the trigger function kept for triggers of earlier versions has no SET clause, which would cost every write a GUC save and restore');
SELECT has_function('reporting', 'staleness', ARRAY['regclass'], 'staleness has the documented signature');
SELECT has_function('reporting', 'freshness', ARRAY['regclass', 'interval'], 'freshness has the documented signature');
SELECT ok(has_function_privilege('public', 'reporting.freshness(regclass, interval)', 'EXECUTE'),
    'anyone may ask how fresh a report is (row-level security shows only their own)');
SELECT columns_are('reporting', 'status',
    ARRAY['view', 'owner', 'schedule', 'every', 'cron', 'timezone', 'mode', 'refresh_when', 'max_age',
          'last_started_at', 'last_duration', 'last_status', 'last_mode', 'last_error', 'last_sqlstate',
          'last_refreshed_at', 'rows', 'age', 'freshness', 'view_exists', 'populated', 'registered_at',
          'sources_changed', 'last_source_change', 'source_changes', 'unknown_reason', 'next_refresh_at',
          'consecutive_failures', 'retry_at', 'registered_owner', 'refresh_grantees', 'refresh_blocked',
          'refresh_blocked_hint', 'fresh', 'as_of', 'lag', 'depends_on_clock',
          'behind_upstream', 'declared_sources', 'schedule_problem', 'scheduling_paused'],
    'status has the documented columns');
SELECT has_function('reporting', 'assert_fresh', ARRAY['regclass', 'interval'], 'assert_fresh has the documented signature');
SELECT is((SELECT extversion FROM pg_extension WHERE extname = 'reporting'),
    (SELECT default_version FROM pg_available_extensions WHERE name = 'reporting'),
    'CREATE EXTENSION installs the default version (through the upgrade scripts)');
SELECT is((SELECT array_agg(p.proname::text COLLATE "C" ORDER BY p.proname::text COLLATE "C") FROM pg_proc p
     WHERE p.pronamespace = 'reporting'::regnamespace AND p.prosecdef),
    ARRAY['_forget_dropped_views', '_forget_unclaimed_registration', '_keep_registrations'],
    'only the functions that set aside, hand over and forget the registrations of dropped views run as SECURITY DEFINER');
SELECT isnt_definer('reporting', 'refresh', ARRAY['regclass', 'text'], 'refresh is SECURITY INVOKER');
SELECT isnt_definer('reporting', 'refresh_all', ARRAY[]::text[], 'refresh_all is SECURITY INVOKER');
SELECT ok(NOT has_function_privilege('public', 'reporting.register(regclass, interval, text, text, text, text, interval, interval, interval, regclass[], text)', 'EXECUTE'),
    'register is revoked from PUBLIC');
SELECT ok(NOT has_function_privilege('public', 'reporting.refresh_all()', 'EXECUTE'),
    'refresh_all is revoked from PUBLIC');

-- the catalog tables
SELECT is_empty($$
    SELECT c.relname, p.privilege_type
      FROM pg_class c, aclexplode(c.relacl) p
     WHERE c.relnamespace = 'reporting'::regnamespace AND c.relkind IN ('r', 'S')
       AND p.grantee = 0 AND p.privilege_type <> 'SELECT'$$,
    'PUBLIC cannot write the catalog tables');
SELECT is((SELECT array_agg(c.relname::text COLLATE "C" ORDER BY c.relname::text COLLATE "C") FROM pg_class c
     WHERE c.relnamespace = 'reporting'::regnamespace AND c.relkind = 'r' AND c.relrowsecurity),
    ARRAY['incrementals', 'refresh_grants', 'registrations', 'runs'],
    'row-level security is enabled on every catalog table');
SELECT is((SELECT array_agg(c::regclass::text ORDER BY c::regclass::text COLLATE "C") FROM pg_extension e, unnest(e.extconfig) c WHERE e.extname = 'reporting'),
    ARRAY['reporting.incrementals', 'reporting.incrementals_id_seq', 'reporting.refresh_grants', 'reporting.registrations'],
    'registrations, refresh grants and incremental reports (with the sequence of their ids) are dumped by pg_dump; the history is not');

-- issue 9: no path to superuser
SELECT is((SELECT n.nspowner FROM pg_namespace n WHERE n.nspname = 'reporting'),
    (SELECT e.extowner FROM pg_extension e WHERE e.extname = 'reporting'),
    'the schema belongs to the superuser who installed the extension');
SELECT ok((SELECT rolsuper FROM pg_roles r JOIN pg_namespace n ON n.nspowner = r.oid WHERE n.nspname = 'reporting'),
    'the schema''s owner is a superuser');
SELECT is_empty($$
    SELECT p.grantee FROM pg_namespace n, aclexplode(n.nspacl) p
     WHERE n.nspname = 'reporting' AND p.privilege_type = 'CREATE' AND p.grantee <> n.nspowner$$,
    'no other role may create objects in the schema');
SELECT is((SELECT bool_or(trusted) FROM pg_available_extension_versions WHERE name = 'reporting'), false,
    'the extension is not trusted: only a superuser installs it');
SELECT is(current_setting('reporting.enable_superuser_refresh'), 'off',
    'refreshes that would run as a superuser nobody asked for are off by default');
SELECT col_not_null('reporting', 'registrations', 'owner', 'every registration records the view''s owner');
SELECT ok(NOT has_function_privilege('public', 'reporting.grant_refresh(regclass, regrole)', 'EXECUTE')
          AND NOT has_function_privilege('public', 'reporting.revoke_refresh(regclass, regrole)', 'EXECUTE'),
    'grant_refresh and revoke_refresh are revoked from PUBLIC');
SELECT has_column('reporting', 'status', 'refresh_blocked', 'status says why the scheduler does not refresh a view');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'reporting'::regnamespace AND c.relkind = 'v'
       AND NOT coalesce(c.reloptions @> ARRAY['security_invoker=true'], false)$$,
    'every view applies the reader''s row-level security (security_invoker)');
SELECT is_empty($$
    SELECT c.relname FROM pg_class c
     WHERE c.relnamespace = 'reporting'::regnamespace AND c.relkind IN ('r', 'v')
       AND obj_description(c.oid, 'pg_class') IS NULL
    UNION ALL
    SELECT p.proname FROM pg_proc p
     WHERE p.pronamespace = 'reporting'::regnamespace AND p.proname NOT LIKE '\_%'
       AND obj_description(p.oid, 'pg_proc') IS NULL$$,
    'every table, view and public function has a comment');
SELECT is((SELECT evtenabled::text FROM pg_event_trigger WHERE evtname = 'reporting_forget_dropped_views'), 'O',
    'the drop event trigger is installed and enabled');
SELECT is((SELECT evtenabled::text FROM pg_event_trigger WHERE evtname = 'reporting_keep_registrations'), 'O',
    'the event trigger that hands a dropped view''s registration to its successor is installed and enabled');
SELECT is_empty($$SELECT evtname FROM pg_event_trigger
                   WHERE evtname NOT IN ('reporting_forget_dropped_views', 'reporting_keep_registrations')$$,
    'no event trigger keeps change-tracking triggers in step: tracking needs none');

-- the essay's flow, through the extension
CREATE TABLE tap_orders (id bigint PRIMARY KEY, customer_id bigint, created_at timestamptz NOT NULL,
                         total_cents bigint NOT NULL, status text NOT NULL);
INSERT INTO tap_orders (id, created_at, total_cents, status) VALUES
    (1, '2025-01-01 10:00:00+00', 5000, 'paid'),
    (2, '2025-01-01 12:00:00+00', 2500, 'paid'),
    (3, '2025-01-01 14:00:00+00', 9000, 'failed');
CREATE MATERIALIZED VIEW tap_daily_revenue AS
  WITH paid_orders AS (SELECT (created_at AT TIME ZONE 'UTC')::date AS day, total_cents FROM tap_orders WHERE status = 'paid')
  SELECT day, count(*) AS order_count, sum(total_cents) AS revenue_cents FROM paid_orders GROUP BY day
  WITH NO DATA;
CREATE UNIQUE INDEX tap_daily_revenue_day_idx ON tap_daily_revenue (day);

SELECT lives_ok($$SELECT reporting.register('tap_daily_revenue', every => '5 minutes')$$,
    'the daily revenue view registers with a 5-minute schedule');
-- an explicit concurrently on another never-populated view: plain the first time
CREATE MATERIALIZED VIEW tap_empty AS SELECT 1 AS k WITH NO DATA;
CREATE UNIQUE INDEX ON tap_empty (k);
SELECT reporting.register('tap_empty', mode => 'concurrently');
SELECT is((SELECT mode FROM reporting.refresh('tap_empty', 'concurrently')), 'plain',
    'a never-populated view asked to refresh concurrently is refreshed plainly the first time');
SELECT reporting.unregister('tap_empty');
DROP MATERIALIZED VIEW tap_empty;
SELECT results_eq($$SELECT view::text, status, mode, rows FROM reporting.refresh_all()$$,
    $$VALUES ('tap_daily_revenue', 'refreshed', 'plain', 1::bigint)$$,
    'refresh_all populates it, plainly the first time');
SELECT is((SELECT order_count::int FROM tap_daily_revenue WHERE day = '2025-01-01'), 2,
    'the refreshed view counts only paid orders');
SELECT is((SELECT mode FROM reporting.refresh('tap_daily_revenue')), 'concurrently',
    'once populated, auto mode refreshes concurrently');
SELECT matches((SELECT freshness FROM reporting.status WHERE view = 'tap_daily_revenue'::regclass),
    '^refreshed every 5 minutes; last refreshed ',
    'status says how often and how long ago, in plain words');
SELECT is((SELECT count(*)::int FROM reporting.runs WHERE view = 'tap_daily_revenue'::regclass), 2,
    'each refresh is one row of history');
SELECT throws_ok($$SELECT reporting.register('tap_orders')$$, '42809', NULL,
    'a table is refused where a materialized view is needed');

SELECT * FROM finish();
ROLLBACK;
