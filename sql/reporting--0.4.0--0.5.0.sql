-- reporting 0.4.0 -> 0.5.0: freshness at the cost of a lookup, a scheduler
-- that survives faults, reports redefined in migrations, incremental reports.
--
-- Each section below belongs to one concern; keep them apart.  Like the rest
-- of the scripts: every operator is OPERATOR(pg_catalog.x) and every function
-- schema-qualified, since the script runs with the extension's schema on its
-- search_path.

\echo Use "ALTER EXTENSION reporting UPDATE TO '0.5.0'" to load this file. \quit

-------------------------------------------------------------------------------
-- Freshness: one row per view at the cost of a lookup (issue 11)
-------------------------------------------------------------------------------

-- (freshness section)
--
-- reporting.freshness() answers from a per-backend cache (src/freshness.c)
-- while nothing it depends on has changed: the change generations of every
-- table and materialized view its verdict reads (through upstream reports),
-- of the extension's registrations and runs, the catalog (relcache and
-- syscache invalidations), the caller's role and display settings, and the
-- clock (the words of an age, a date the query depends on).  What it
-- computes when something has changed is _freshness_row(), below: the
-- function of 0.4.0, which also says what the answer depends on.

-- "just now", "45 seconds ago", ...: in C, beside the instant its words
-- change (src/freshness.c), so that a cached sentence is never out of date.
CREATE OR REPLACE FUNCTION reporting._describe_age(age pg_catalog.interval)
RETURNS pg_catalog.text
LANGUAGE C IMMUTABLE STRICT
AS 'MODULE_PATHNAME', 'reporting_describe_age';

-- The answer of reporting.freshness(), with what it depends on:
--   state             unchanged, changed or unknown (see _freshness)
--   as_of_now         as_of is "now" (the view holds every committed change)
--   relids            the relations whose change generations the verdict read:
--                     the view, every upstream materialized view it follows,
--                     the tables standing for their sources, and the
--                     extension's registrations and runs
--   valid_until       when the verdict may change by the clock alone (the
--                     date a query depends on; the close-of-day words of a
--                     cron schedule), NULL for never
--   last_refreshed_at, last_started_at, last_failed: for the ages in the sentence
CREATE FUNCTION reporting._freshness_row(view pg_catalog.regclass,
    OUT state pg_catalog.text, OUT as_of_now pg_catalog.bool, OUT as_of pg_catalog.timestamptz,
    OUT reason pg_catalog.text, OUT sentence pg_catalog.text,
    OUT next_refresh_at pg_catalog.timestamptz, OUT relids pg_catalog.oid[],
    OUT valid_until pg_catalog.timestamptz, OUT last_refreshed_at pg_catalog.timestamptz,
    OUT last_started_at pg_catalog.timestamptz, OUT last_failed pg_catalog.bool)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    f record;
    r record;
    last record;
    catalog_relids pg_catalog.oid[];
BEGIN
    SELECT pg_catalog.array_agg(c.oid ORDER BY c.oid) INTO catalog_relids
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_extension e ON e.extnamespace OPERATOR(pg_catalog.=) c.relnamespace
     WHERE e.extname OPERATOR(pg_catalog.=) 'reporting'
       AND c.relname OPERATOR(pg_catalog.=) ANY (ARRAY['registrations', 'runs']);
    SELECT g.* INTO r FROM reporting.registrations g
     WHERE g.view::pg_catalog.oid OPERATOR(pg_catalog.=) view::pg_catalog.oid;
    IF NOT FOUND THEN
        state := 'unregistered';
        as_of_now := false;
        reason := pg_catalog.format('materialized view %s is not registered', view);
        sentence := 'not registered';
        relids := catalog_relids;
        RETURN;
    END IF;
    SELECT * INTO f FROM reporting._freshness(view);
    SELECT u.status, u.started_at INTO last FROM reporting.runs u
     WHERE u.view::pg_catalog.oid OPERATOR(pg_catalog.=) view::pg_catalog.oid
     ORDER BY u.started_at DESC, u.id DESC LIMIT 1;
    state := f.state;
    as_of_now := f.state OPERATOR(pg_catalog.=) 'unchanged' AND f.as_of IS NOT NULL;
    as_of := f.as_of;
    reason := CASE WHEN f.state OPERATOR(pg_catalog.=) 'unchanged' THEN NULL
                   WHEN f.reason IS NOT NULL THEN f.reason
                   ELSE pg_catalog.format('%s %s to its sources since its last refresh%s', f.changes,
                                          CASE WHEN f.changes OPERATOR(pg_catalog.=) 1 THEN 'change' ELSE 'changes' END,
                                          CASE WHEN f.uncommitted THEN ' (counting this transaction''s own, not committed yet)' ELSE '' END) END;
    sentence := reporting._describe_freshness(true, r.every, r.cron, r.timezone, f.last_refreshed_at,
                                              last.status, last.started_at, pg_catalog.now())
                OPERATOR(pg_catalog.||)
                CASE WHEN f.last_refreshed_at IS NULL THEN ''
                     ELSE reporting._describe_verdict(f.state, f.changes, f.reason, f.clock, f.upstream, f.uncommitted) END;
    SELECT n.next_refresh_at INTO next_refresh_at FROM reporting._next_refresh(view) n;
    last_refreshed_at := f.last_refreshed_at;
    last_started_at := last.started_at;
    last_failed := last.status OPERATOR(pg_catalog.=) 'failed';

    -- what the verdict read: the views _freshness follows (registered
    -- upstream materialized views), and the tables standing for their sources
    WITH RECURSIVE up (v, depth) AS (
        SELECT view::pg_catalog.oid, 0
        UNION
        SELECT t.source::pg_catalog.oid, up.depth OPERATOR(pg_catalog.+) 1
          FROM up CROSS JOIN LATERAL reporting._tracked_sources(up.v::pg_catalog.regclass) t
         WHERE t.source_kind OPERATOR(pg_catalog.=) 'materialized view'
           AND t.source::pg_catalog.oid OPERATOR(pg_catalog.<>) up.v
           AND up.depth OPERATOR(pg_catalog.<) 17
           AND EXISTS (SELECT 1 FROM reporting.registrations g
                        WHERE g.view::pg_catalog.oid OPERATOR(pg_catalog.=) t.source::pg_catalog.oid)
    ), visited AS (
        SELECT DISTINCT up.v FROM up
    )
    SELECT pg_catalog.array_agg(DISTINCT x.relid ORDER BY x.relid),
           -- a query that depends on the date: its verdict changes at the next
           -- midnight in the time zone its refreshes run with
           (SELECT pg_catalog.min((pg_catalog.date_trunc('day', pg_catalog.now() AT TIME ZONE z.tz)
                                   OPERATOR(pg_catalog.+) '1 day'::pg_catalog.interval) AT TIME ZONE z.tz)
              FROM visited w
             CROSS JOIN LATERAL (SELECT coalesce(reporting._refresh_setting(w.v::pg_catalog.regclass, 'TimeZone'), 'UTC') AS tz) z
             WHERE EXISTS (SELECT 1 FROM reporting._query_dependencies(w.v::pg_catalog.regclass) q
                            WHERE q.kind OPERATOR(pg_catalog.=) 'clock_date'))
      INTO relids, valid_until
      FROM (SELECT w.v AS relid FROM visited w
            UNION
            SELECT m::pg_catalog.oid FROM visited w
             CROSS JOIN LATERAL reporting._tracked_sources(w.v::pg_catalog.regclass) t
             CROSS JOIN LATERAL pg_catalog.unnest(t.members) AS m
            UNION
            SELECT pg_catalog.unnest(catalog_relids)) x;
    -- the close-of-day words of a cron schedule change with the date in
    -- some time zone: every time zone's midnight falls on a quarter hour
    IF r.cron IS NOT NULL THEN
        valid_until := LEAST(valid_until,
            pg_catalog.to_timestamp((pg_catalog.floor(pg_catalog.date_part('epoch', pg_catalog.now()) OPERATOR(pg_catalog./) 900) OPERATOR(pg_catalog.+) 1) OPERATOR(pg_catalog.*) 900));
    END IF;
END
$$;

COMMENT ON FUNCTION reporting._freshness_row(pg_catalog.regclass) IS
    'Internal: the answer of reporting.freshness() computed from the catalog, with the relations whose change generations it read and when the clock alone may change it.';

-- reporting.freshness(): the same row as in 0.4.0, from the cache when
-- nothing it depends on has changed.  Replacing the function keeps the
-- EXECUTE privileges granted on it.
CREATE OR REPLACE FUNCTION reporting.freshness(view pg_catalog.regclass, within pg_catalog.interval DEFAULT NULL,
    OUT fresh pg_catalog.bool, OUT as_of pg_catalog.timestamptz, OUT lag pg_catalog.interval,
    OUT reason pg_catalog.text, OUT sentence pg_catalog.text,
    OUT next_refresh_at pg_catalog.timestamptz)
RETURNS record
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'reporting_freshness';

COMMENT ON FUNCTION reporting.freshness(pg_catalog.regclass, pg_catalog.interval) IS
    'One row that never raises for a stale view: fresh (no committed change missing, or the lag within "within"), as_of (up to when it holds every committed change), lag (now minus as_of), reason, the freshness sentence, and when the scheduler refreshes it next.  Answered from a per-backend cache while nothing it depends on has changed.';

-- assert_fresh(): the answer of freshness() decides, from its cache; only a
-- stale view goes on to _assert_fresh_detail(), which says exactly how
-- stale it is and why (the words of 0.4.0).
CREATE FUNCTION reporting._assert_fresh_detail(view pg_catalog.regclass, within pg_catalog.interval)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    f record;
    lag pg_catalog.interval;
    since pg_catalog.text;
BEGIN
    IF view IS NULL OR within IS NULL THEN
        RAISE EXCEPTION '"%" must not be null', CASE WHEN view IS NULL THEN 'view' ELSE 'within' END
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF within OPERATOR(pg_catalog.<) '0'::pg_catalog.interval THEN
        RAISE EXCEPTION '"within" must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM reporting.registrations r
                    WHERE r.view::pg_catalog.oid OPERATOR(pg_catalog.=) view::pg_catalog.oid) THEN
        RAISE EXCEPTION 'materialized view "%" is not registered', view
            USING ERRCODE = 'undefined_object',
                  HINT = 'Register it first with reporting.register().';
    END IF;

    SELECT * INTO f FROM reporting._freshness(view);
    lag := pg_catalog.now() OPERATOR(pg_catalog.-) f.as_of;
    IF f.state OPERATOR(pg_catalog.=) 'unchanged' OR lag OPERATOR(pg_catalog.<=) within THEN
        RETURN;
    END IF;
    since := reporting._describe_age(pg_catalog.now() OPERATOR(pg_catalog.-) f.last_refreshed_at);

    IF f.last_refreshed_at IS NULL THEN
        RAISE EXCEPTION 'materialized view "%" has never been refreshed', view
            USING ERRCODE = 'RP001',
                  HINT = 'Refresh it with reporting.refresh() or reporting.refresh_all(), or register it with refresh => ''now''.';
    ELSIF f.state OPERATOR(pg_catalog.=) 'changed' AND f.upstream IS NOT NULL THEN
        RAISE EXCEPTION 'materialized view "%" is built on "%", which is behind its sources', view, f.upstream
            USING ERRCODE = 'RP001',
                  DETAIL = pg_catalog.format('%s. Its own last refresh started %s.', pg_catalog.initcap(pg_catalog.left(f.reason, 1)) OPERATOR(pg_catalog.||) pg_catalog.substr(f.reason, 2), since),
                  HINT = pg_catalog.format('Refresh %s, then this view (reporting.refresh_all() does both in order).', f.upstream);
    ELSIF f.state OPERATOR(pg_catalog.=) 'changed' AND f.changes OPERATOR(pg_catalog.>) 0 THEN
        RAISE EXCEPTION 'materialized view "%" has missed % % to its sources', view, f.changes,
                        CASE WHEN f.changes OPERATOR(pg_catalog.=) 1 THEN 'change' ELSE 'changes' END
            USING ERRCODE = 'RP001',
                  DETAIL = CASE WHEN f.last_source_change IS NULL
                                     OR (f.uncommitted AND f.last_source_change OPERATOR(pg_catalog.<) f.last_refreshed_at)
                                THEN pg_catalog.format('They were made by this transaction and are not committed yet. Its last refresh started %s.', since)
                                WHEN f.uncommitted
                                THEN pg_catalog.format('The latest committed change was %s; this transaction''s own changes, not committed yet, are counted too. Its last refresh started %s.',
                                                       reporting._describe_age(pg_catalog.now() OPERATOR(pg_catalog.-) f.last_source_change), since)
                                ELSE pg_catalog.format('The latest was committed %s. Its last refresh started %s.',
                                                       reporting._describe_age(pg_catalog.now() OPERATOR(pg_catalog.-) f.last_source_change), since) END,
                  HINT = 'Refresh it, or accept more staleness with a larger "within".';
    ELSIF f.state OPERATOR(pg_catalog.=) 'changed' THEN
        RAISE EXCEPTION 'materialized view "%" depends on the % and was last refreshed %', view,
                        CASE WHEN f.clock OPERATOR(pg_catalog.=) 'date' THEN 'current date' ELSE 'current time' END, since
            USING ERRCODE = 'RP001',
                  DETAIL = pg_catalog.format('%s.', pg_catalog.initcap(pg_catalog.left(f.reason, 1)) OPERATOR(pg_catalog.||) pg_catalog.substr(f.reason, 2)),
                  HINT = 'Refresh it, or accept more staleness with a larger "within".';
    ELSE
        RAISE EXCEPTION 'freshness of materialized view "%" is unknown, and its last refresh started %', view, since
            USING ERRCODE = 'RP001',
                  DETAIL = pg_catalog.format('Its freshness is unknown: %s.', f.reason),
                  HINT = 'Refresh it to make its freshness known again.';
    END IF;
END
$$;

COMMENT ON FUNCTION reporting._assert_fresh_detail(pg_catalog.regclass, pg_catalog.interval) IS
    'Internal: raise RP001 with the exact words for a view reporting.assert_fresh() found stale (returns quietly if it has become fresh since).';

CREATE OR REPLACE FUNCTION reporting.assert_fresh(view pg_catalog.regclass, within pg_catalog.interval)
RETURNS void
LANGUAGE C VOLATILE
AS 'MODULE_PATHNAME', 'reporting_assert_fresh';

-------------------------------------------------------------------------------
-- Refresh workers, their slots and the refresh paths (issue 12, part 1)
-------------------------------------------------------------------------------

-- (workers section)

-------------------------------------------------------------------------------
-- The scheduler: decisions, faults and scale (issue 12, part 2)
-------------------------------------------------------------------------------

-- (scheduler section)

-------------------------------------------------------------------------------
-- Redefining reports in migrations (issue 13)
-------------------------------------------------------------------------------

-- (redefinition section)

-------------------------------------------------------------------------------
-- Incremental reports (issue 14)
-------------------------------------------------------------------------------

-- (incremental section)
