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

-------------------------------------------------------------------------------
-- Refresh workers, their slots and the refresh paths (issue 12, part 1)
-------------------------------------------------------------------------------

-- (workers section)

-------------------------------------------------------------------------------
-- The scheduler: decisions, faults and scale (issue 12, part 2)
-------------------------------------------------------------------------------

-- The scheduler keeps the registrations in memory (src/sched_cache.c) and
-- reads them again only when told they changed: by a relcache invalidation
-- of the table that this statement trigger sends at commit.
CREATE FUNCTION reporting._registrations_changed()
RETURNS trigger
LANGUAGE C
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_registrations_changed';

COMMENT ON FUNCTION reporting._registrations_changed() IS
    'Internal: tells the schedulers of the database, at commit, that reporting.registrations changed.';

REVOKE ALL ON FUNCTION reporting._registrations_changed() FROM PUBLIC;

CREATE TRIGGER registrations_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON reporting.registrations
    FOR EACH STATEMENT EXECUTE FUNCTION reporting._registrations_changed();

-- Why the scheduler cannot schedule a registration (a time zone missing
-- from this server's tzdata, an interval out of range), or NULL; the
-- scheduler logs the same words and goes on with the other views.
CREATE FUNCTION reporting._schedule_problem(view pg_catalog.regclass)
RETURNS pg_catalog.text
LANGUAGE C STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_schedule_problem';

COMMENT ON FUNCTION reporting._schedule_problem(pg_catalog.regclass) IS
    'Internal: why the scheduler cannot schedule the view''s registration (for example a time zone this server does not know), or NULL.';

-- Why the scheduler of this database refreshes nothing on schedule now
-- (ALTER DATABASE ... SET reporting.enabled = off, or off for the server),
-- or NULL; for reporting.status.
CREATE FUNCTION reporting._scheduling_paused()
RETURNS pg_catalog.text
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_scheduling_paused';

COMMENT ON FUNCTION reporting._scheduling_paused() IS
    'Internal: why scheduled refreshes are paused in this database (its own reporting.enabled, or the server''s), or NULL.';

-- A schedule in words, in the zone the scheduler computes it in (a new
-- session's TimeZone in this database), not the reader's SET TimeZone: a
-- reader in Asia/Tokyo of a UTC server's "0 6 * * *" reads "daily at 06:00
-- UTC", beside a next_refresh_at of 06:00 UTC (issue 12, fault 10).
CREATE OR REPLACE FUNCTION reporting._describe_schedule(every pg_catalog.interval, cron pg_catalog.text, timezone pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m pg_catalog.text[];
    tz pg_catalog.text := coalesce(timezone, reporting._default_timezone());
    days pg_catalog.text[] := ARRAY['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
    c pg_catalog.text := pg_catalog.lower(pg_catalog.btrim(cron));
BEGIN
    IF every IS NOT NULL THEN
        RETURN 'every ' OPERATOR(pg_catalog.||) reporting._describe_every(every);
    ELSIF cron IS NULL THEN
        RETURN 'manually';
    END IF;
    c := CASE c WHEN '@daily' THEN '0 0 * * *' WHEN '@midnight' THEN '0 0 * * *'
                WHEN '@hourly' THEN '0 * * * *' WHEN '@weekly' THEN '0 0 * * 0'
                WHEN '@monthly' THEN '0 0 1 * *' WHEN '@yearly' THEN '0 0 1 1 *'
                WHEN '@annually' THEN '0 0 1 1 *' ELSE c END;
    m := pg_catalog.regexp_match(c, '^(\d+)\s+(\d+)\s+\*\s+\*\s+\*$');
    IF m IS NOT NULL THEN
        RETURN pg_catalog.format('daily at %s:%s %s', pg_catalog.lpad(m[2], 2, '0'), pg_catalog.lpad(m[1], 2, '0'), tz);
    END IF;
    m := pg_catalog.regexp_match(c, '^(\d+)\s+(\d+)\s+\*\s+\*\s+([0-7])$');
    IF m IS NOT NULL THEN
        RETURN pg_catalog.format('weekly on %s at %s:%s %s', days[m[3]::pg_catalog.int4 OPERATOR(pg_catalog.+) 1],
                                 pg_catalog.lpad(m[2], 2, '0'), pg_catalog.lpad(m[1], 2, '0'), tz);
    END IF;
    m := pg_catalog.regexp_match(c, '^(\d+)\s+(\d+)\s+(\d+)\s+\*\s+\*$');
    IF m IS NOT NULL THEN
        RETURN pg_catalog.format('monthly on day %s at %s:%s %s', m[3],
                                 pg_catalog.lpad(m[2], 2, '0'), pg_catalog.lpad(m[1], 2, '0'), tz);
    END IF;
    m := pg_catalog.regexp_match(c, '^(\d+)\s+\*\s+\*\s+\*\s+\*$');
    IF m IS NOT NULL THEN
        RETURN pg_catalog.format('hourly at minute %s', m[1]);
    END IF;
    m := pg_catalog.regexp_match(c, '^\*/(\d+)\s+\*\s+\*\s+\*\s+\*$');
    IF m IS NOT NULL THEN
        RETURN 'every ' OPERATOR(pg_catalog.||) reporting._describe_every(pg_catalog.make_interval(mins => m[1]::pg_catalog.int4));
    END IF;
    RETURN pg_catalog.format('on cron schedule "%s" (%s)', cron, tz);
END
$$;

-- The next scheduled refresh, computed by the scheduler's own code
-- (src/decide.c) instead of a plpgsql copy of its rules: the same answer
-- in reporting.status as in the scheduler, never in the past after a
-- recorded skip, computed in the zone the scheduler uses, and no row
-- (instead of "timestamp out of range" for every reader) for a
-- registration that cannot be scheduled.
CREATE OR REPLACE FUNCTION reporting._next_refresh(view pg_catalog.regclass)
RETURNS TABLE (next_refresh_at pg_catalog.timestamptz,
               consecutive_failures pg_catalog.int4,
               retry_at pg_catalog.timestamptz)
LANGUAGE C STABLE STRICT ROWS 1
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_next_refresh';

-------------------------------------------------------------------------------
-- Redefining reports in migrations (issue 13)
-------------------------------------------------------------------------------

-- (redefinition section)

-------------------------------------------------------------------------------
-- Incremental reports (issue 14)
-------------------------------------------------------------------------------

-- (incremental section)
