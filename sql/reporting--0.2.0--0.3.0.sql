-- reporting 0.2.0 -> 0.3.0: the scheduler.
--
-- Background workers refresh registered views on their schedules; a refresh
-- worker appends a "running" row to reporting.runs when it starts, so runs
-- gain the statuses "running" and "interrupted".  reporting.status gains
-- the next refresh time, consecutive failures and the retry time, and
-- reporting.running lists the refreshes in progress.

\echo Use "ALTER EXTENSION reporting UPDATE TO '0.3.0'" to load this file. \quit

ALTER TABLE reporting.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE reporting.runs ADD CONSTRAINT runs_status_check
    CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['refreshed', 'skipped', 'failed', 'running', 'interrupted']));

COMMENT ON COLUMN reporting.runs.status IS
    'refreshed, skipped (with the reason in error), failed (with the error and its SQLSTATE), running (a refresh worker is at it now) or interrupted (its worker was stopped, or the server restarted, before it finished).';

-- Row estimates for the set-returning functions reporting's views are built
-- on: with the default (1000 rows each) a status query looks expensive
-- enough to be JIT-compiled, which costs a tenth of a second for nothing.
ALTER FUNCTION reporting._sources_of(pg_catalog.regclass) ROWS 5;
ALTER FUNCTION reporting._tracked_sources(pg_catalog.regclass) ROWS 5;
ALTER FUNCTION reporting.staleness(pg_catalog.regclass) ROWS 5;
ALTER FUNCTION reporting._refresh_plan() ROWS 20;

-------------------------------------------------------------------------------
-- When each view is refreshed next
-------------------------------------------------------------------------------

-- The time zone a cron schedule without its own is read in: the server's
-- setting (as this database and role see it), not the session's SET value.
CREATE FUNCTION reporting._default_timezone()
RETURNS pg_catalog.text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.reset_val FROM pg_catalog.pg_settings s WHERE s.name OPERATOR(pg_catalog.=) 'TimeZone'
$$;

-- The next scheduled refresh of a view (no row for a view refreshed only
-- manually):
--   - every => i: i after the last run started (a run of any kind, so a
--     manual refresh or a skip restarts the interval), or after registration;
--   - cron: the next matching time after that, in the view's time zone;
--   - max_age: never later than max_age after the last successful refresh;
--   - after failures (failed or interrupted runs since the last successful
--     refresh): 10 seconds after the last one, doubling with each further
--     failure, at most an hour, whatever the schedule says.
CREATE FUNCTION reporting._next_refresh(view pg_catalog.regclass)
RETURNS TABLE (next_refresh_at pg_catalog.timestamptz,
               consecutive_failures pg_catalog.int4,
               retry_at pg_catalog.timestamptz)
LANGUAGE plpgsql STABLE ROWS 1
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reg reporting.registrations;
    last_start pg_catalog.timestamptz;
    last_ok pg_catalog.timestamptz;
    last_failure pg_catalog.timestamptz;
    failures pg_catalog.int4;
    due pg_catalog.timestamptz;
BEGIN
    SELECT * INTO reg FROM reporting.registrations g
     WHERE g.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid;
    IF NOT FOUND OR (reg.every IS NULL AND reg.cron IS NULL) THEN
        RETURN;
    END IF;
    SELECT pg_catalog.max(u.started_at),
           pg_catalog.max(u.started_at) FILTER (WHERE u.status OPERATOR(pg_catalog.=) 'refreshed')
      INTO last_start, last_ok
      FROM reporting.runs u
     WHERE u.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid;
    SELECT pg_catalog.count(*)::pg_catalog.int4,
           pg_catalog.max(coalesce(u.finished_at, u.started_at))
      INTO failures, last_failure
      FROM reporting.runs u
     WHERE u.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
       AND u.status OPERATOR(pg_catalog.=) ANY (ARRAY['failed', 'interrupted'])
       AND (last_ok IS NULL OR u.started_at OPERATOR(pg_catalog.>) last_ok);

    IF failures OPERATOR(pg_catalog.>) 0 THEN
        due := last_failure OPERATOR(pg_catalog.+)
               LEAST('1 hour'::pg_catalog.interval,
                                '10 seconds'::pg_catalog.interval OPERATOR(pg_catalog.*)
                                (2 OPERATOR(pg_catalog.^) LEAST(failures OPERATOR(pg_catalog.-) 1, 12)));
        RETURN QUERY SELECT due, failures, due;
        RETURN;
    END IF;

    IF reg.every IS NOT NULL THEN
        due := coalesce(last_start, reg.registered_at) OPERATOR(pg_catalog.+) reg.every;
    ELSE
        due := reporting.cron_next(reg.cron, coalesce(reg.timezone, reporting._default_timezone()),
                                   coalesce(last_start, reg.registered_at));
    END IF;
    IF reg.max_age IS NOT NULL AND last_ok IS NOT NULL THEN
        due := LEAST(due, last_ok OPERATOR(pg_catalog.+) reg.max_age);
    END IF;
    RETURN QUERY SELECT due, 0, NULL::pg_catalog.timestamptz;
END
$$;

COMMENT ON FUNCTION reporting._next_refresh(pg_catalog.regclass) IS
    'Internal: when the scheduler refreshes the view next, its consecutive failures, and when it retries after a failure.';

-- What the scheduler works from: every scheduled view with its owner (the
-- refresh runs as the owner), whether the owner may log in, its next
-- refresh, and, for a view due now, the registered views it is built on
-- (the scheduler holds it back while one of those is due or refreshing).
CREATE FUNCTION reporting._scheduled()
RETURNS TABLE (view pg_catalog.regclass, owner pg_catalog.oid, can_login pg_catalog.bool,
               next_refresh_at pg_catalog.timestamptz, upstream pg_catalog.regclass[])
LANGUAGE sql STABLE ROWS 20
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT r.view, c.relowner, a.rolcanlogin, n.next_refresh_at,
           CASE WHEN n.next_refresh_at OPERATOR(pg_catalog.<=) pg_catalog.clock_timestamp() THEN
               ARRAY(SELECT s.source FROM reporting._sources_of(r.view) s
                       JOIN reporting.registrations u
                         ON u.view::pg_catalog.oid OPERATOR(pg_catalog.=) s.source::pg_catalog.oid)
           ELSE ARRAY[]::pg_catalog.regclass[] END
      FROM reporting.registrations r
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.view::pg_catalog.oid
      JOIN pg_catalog.pg_roles a ON a.oid OPERATOR(pg_catalog.=) c.relowner
     CROSS JOIN LATERAL reporting._next_refresh(r.view) n
     ORDER BY n.next_refresh_at, r.view::pg_catalog.oid
$$;

REVOKE ALL ON FUNCTION reporting._scheduled() FROM PUBLIC;

-------------------------------------------------------------------------------
-- Refreshes in progress
-------------------------------------------------------------------------------

CREATE FUNCTION reporting._running()
RETURNS TABLE (view pg_catalog.regclass, pid pg_catalog.int4, origin pg_catalog.text,
               mode pg_catalog.text, started_at pg_catalog.timestamptz)
LANGUAGE C VOLATILE ROWS 5
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_running';

COMMENT ON FUNCTION reporting._running() IS
    'Internal: the refreshes running now in this database, from shared memory (empty without the preloaded library).';

CREATE VIEW reporting.running WITH (security_invoker = true) AS
SELECT x.view,
       x.origin,
       x.mode,
       x.pid,
       x.started_at,
       pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) x.started_at AS elapsed,
       e.expected AS expected_duration,
       CASE WHEN e.expected OPERATOR(pg_catalog.>) '0'::pg_catalog.interval
            THEN LEAST(99, pg_catalog.round(100 OPERATOR(pg_catalog.*)
                     pg_catalog.date_part('epoch', pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) x.started_at)
                     OPERATOR(pg_catalog./) pg_catalog.date_part('epoch', e.expected)))::pg_catalog.int4
       END AS percent_done
  FROM reporting._running() x
  -- only views the caller may see registered (row-level security)
  JOIN reporting.registrations r ON r.view OPERATOR(pg_catalog.=) x.view
  LEFT JOIN LATERAL (
        SELECT pg_catalog.percentile_cont(0.5) WITHIN GROUP (ORDER BY d.duration) AS expected
          FROM (SELECT u.duration FROM reporting.runs u
                 WHERE u.view OPERATOR(pg_catalog.=) x.view
                   AND u.status OPERATOR(pg_catalog.=) 'refreshed'
                   AND u.mode OPERATOR(pg_catalog.=) x.mode
                 ORDER BY u.started_at DESC LIMIT 10) d) e ON true;

COMMENT ON VIEW reporting.running IS
    'Refreshes running now: view, who started it (manual, refresh_all, schedule), mode, process, start, elapsed time, the expected duration (median of the last 10 successful refreshes in the same mode) and how far along that makes it.';

GRANT SELECT ON reporting.running TO PUBLIC;

-------------------------------------------------------------------------------
-- Status: the next refresh, failures and retries
-------------------------------------------------------------------------------

CREATE OR REPLACE VIEW reporting.status WITH (security_invoker = true) AS
SELECT r.view,
       c.relowner::pg_catalog.regrole AS owner,
       reporting._describe_schedule(r.every, r.cron, r.timezone) AS schedule,
       r.every, r.cron, r.timezone,
       r.mode, r.refresh_when, r.max_age,
       last.started_at AS last_started_at,
       last.duration AS last_duration,
       last.status AS last_status,
       last.mode AS last_mode,
       CASE WHEN last.status OPERATOR(pg_catalog.=) ANY (ARRAY['failed', 'interrupted']) THEN last.error END AS last_error,
       last.sqlstate AS last_sqlstate,
       ok.started_at AS last_refreshed_at,
       ok.rows,
       pg_catalog.now() OPERATOR(pg_catalog.-) ok.started_at AS age,
       reporting._describe_freshness(c.oid IS NOT NULL, r.every, r.cron, r.timezone,
                                     ok.started_at, last.status, last.started_at,
                                     pg_catalog.now(), f.sources_changed, f.changes, f.reason) AS freshness,
       c.oid IS NOT NULL AS view_exists,
       coalesce(c.relispopulated, false) AS populated,
       r.registered_at,
       f.sources_changed,
       f.last_source_change,
       f.changes AS source_changes,
       CASE WHEN f.sources_changed IS NULL THEN f.reason END AS unknown_reason,
       n.next_refresh_at,
       coalesce(n.consecutive_failures, 0) AS consecutive_failures,
       n.retry_at
  FROM reporting.registrations r
  LEFT JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.view::pg_catalog.oid
  LEFT JOIN LATERAL (
        SELECT u.started_at, u.duration, u.status, u.mode, u.error, u.sqlstate
          FROM reporting.runs u
         WHERE u.view OPERATOR(pg_catalog.=) r.view
         ORDER BY u.started_at DESC, u.id DESC
         LIMIT 1) last ON true
  LEFT JOIN LATERAL (
        SELECT u.started_at, u.rows
          FROM reporting.runs u
         WHERE u.view OPERATOR(pg_catalog.=) r.view
           AND u.status OPERATOR(pg_catalog.=) 'refreshed'
         ORDER BY u.started_at DESC, u.id DESC
         LIMIT 1) ok ON true
  LEFT JOIN LATERAL reporting._freshness_state(r.view) f ON c.oid IS NOT NULL
  LEFT JOIN LATERAL reporting._next_refresh(r.view) n ON c.oid IS NOT NULL;

COMMENT ON VIEW reporting.status IS
    'One row per registered view: schedule, mode, the last run and the last successful refresh, the age of the data, whether its sources changed since (sources_changed: true, false, or NULL for unknown), a freshness sentence in plain language, and when the scheduler refreshes it next (next_refresh_at; after failures, retry_at with a growing backoff).';
