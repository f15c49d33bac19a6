-- reporting 0.1.0: registration, manual refresh, status and history of
-- reporting materialized views.
--
-- Conventions: every function pins search_path; functions and operators
-- are schema-qualified; catalog tables are written only through the C
-- functions (as the extension's owner, after checking the caller), and
-- row-level security shows each user only the views they may manage.

\echo Use "CREATE EXTENSION reporting" to load this file. \quit

-------------------------------------------------------------------------------
-- Catalog
-------------------------------------------------------------------------------

CREATE TABLE reporting.registrations (
    view              pg_catalog.regclass PRIMARY KEY,
    every             pg_catalog.interval,
    cron              pg_catalog.text,
    timezone          pg_catalog.text,
    mode              pg_catalog.text NOT NULL DEFAULT 'auto',
    refresh_when      pg_catalog.text NOT NULL DEFAULT 'changed',
    max_age           pg_catalog.interval,
    lock_timeout      pg_catalog.interval NOT NULL DEFAULT '5 seconds',
    statement_timeout pg_catalog.interval,
    registered_at     pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at        pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT registrations_mode_check
        CHECK (mode OPERATOR(pg_catalog.=) ANY (ARRAY['auto', 'concurrently', 'plain'])),
    CONSTRAINT registrations_refresh_when_check
        CHECK (refresh_when OPERATOR(pg_catalog.=) ANY (ARRAY['changed', 'always'])),
    CONSTRAINT registrations_one_schedule_check
        CHECK (every IS NULL OR cron IS NULL)
);

COMMENT ON TABLE reporting.registrations IS
    'Registered materialized views and how to refresh them; written by reporting.register() and reporting.unregister().';

CREATE TABLE reporting.runs (
    id          pg_catalog.int8 GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    view        pg_catalog.regclass NOT NULL
                REFERENCES reporting.registrations (view) ON DELETE CASCADE,
    origin      pg_catalog.text NOT NULL,
    status      pg_catalog.text NOT NULL,
    mode        pg_catalog.text,
    started_at  pg_catalog.timestamptz NOT NULL,
    finished_at pg_catalog.timestamptz,
    duration    pg_catalog.interval
                GENERATED ALWAYS AS (finished_at OPERATOR(pg_catalog.-) started_at) STORED,
    rows        pg_catalog.int8,
    error       pg_catalog.text,
    sqlstate    pg_catalog.text,
    started_by  pg_catalog.name NOT NULL,
    CONSTRAINT runs_origin_check
        CHECK (origin OPERATOR(pg_catalog.=) ANY (ARRAY['manual', 'refresh_all', 'schedule'])),
    CONSTRAINT runs_status_check
        CHECK (status OPERATOR(pg_catalog.=) ANY (ARRAY['refreshed', 'skipped', 'failed'])),
    CONSTRAINT runs_mode_check
        CHECK (mode OPERATOR(pg_catalog.=) ANY (ARRAY['concurrently', 'plain']))
);

CREATE INDEX runs_view_started_at_idx ON reporting.runs (view, started_at DESC);
CREATE INDEX runs_started_at_idx ON reporting.runs (started_at);

COMMENT ON TABLE reporting.runs IS
    'History of refreshes, one row per run: status is refreshed, skipped or failed; origin says what started it (manual, refresh_all, schedule).';
COMMENT ON COLUMN reporting.runs.error IS
    'Why the run failed (the error message) or was skipped.';

-- Registrations are configuration: pg_dump keeps them.  The history is not.
SELECT pg_catalog.pg_extension_config_dump('reporting.registrations', '');

-- Each user sees and manages only the views they own (or whose owning role
-- they are a member of); superusers see everything.
ALTER TABLE reporting.registrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE reporting.runs ENABLE ROW LEVEL SECURITY;

CREATE POLICY registrations_owner_read ON reporting.registrations FOR SELECT
    USING (EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                   WHERE c.oid OPERATOR(pg_catalog.=) view
                     AND pg_catalog.pg_has_role(c.relowner, 'USAGE')));
CREATE POLICY runs_owner_read ON reporting.runs FOR SELECT
    USING (EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                   WHERE c.oid OPERATOR(pg_catalog.=) view
                     AND pg_catalog.pg_has_role(c.relowner, 'USAGE')));

REVOKE ALL ON reporting.registrations, reporting.runs FROM PUBLIC;
GRANT SELECT ON reporting.registrations, reporting.runs TO PUBLIC;
GRANT USAGE ON SCHEMA reporting TO PUBLIC;

-------------------------------------------------------------------------------
-- Registration and refresh (C)
-------------------------------------------------------------------------------

CREATE FUNCTION reporting.register(
    view              pg_catalog.regclass,
    every             pg_catalog.interval DEFAULT NULL,
    cron              pg_catalog.text DEFAULT NULL,
    timezone          pg_catalog.text DEFAULT NULL,
    mode              pg_catalog.text DEFAULT 'auto',
    refresh_when      pg_catalog.text DEFAULT 'changed',
    max_age           pg_catalog.interval DEFAULT NULL,
    lock_timeout      pg_catalog.interval DEFAULT '5 seconds',
    statement_timeout pg_catalog.interval DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_register';

COMMENT ON FUNCTION reporting.register(pg_catalog.regclass, pg_catalog.interval, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.interval, pg_catalog.interval, pg_catalog.interval) IS
    'Register a materialized view, or change its registration: schedule (every or cron in a timezone; neither means manual), mode (auto, concurrently, plain), refresh_when (changed, always), max_age and timeouts.';

CREATE FUNCTION reporting.unregister(view pg_catalog.regclass)
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_unregister';

COMMENT ON FUNCTION reporting.unregister(pg_catalog.regclass) IS
    'Forget a registered materialized view and its history; the view itself is kept.';

CREATE TYPE reporting.refresh_result AS (
    mode     pg_catalog.text,
    rows     pg_catalog.int8,
    duration pg_catalog.interval
);

COMMENT ON TYPE reporting.refresh_result IS
    'What reporting.refresh() did: the mode it used (concurrently or plain), the rows in the view afterwards, and how long the refresh took.';

CREATE FUNCTION reporting.refresh(
    view pg_catalog.regclass,
    mode pg_catalog.text DEFAULT 'auto')
RETURNS reporting.refresh_result
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_refresh';

COMMENT ON FUNCTION reporting.refresh(pg_catalog.regclass, pg_catalog.text) IS
    'Refresh a registered materialized view now, in the current transaction, as its owner; mode auto follows the registration. Returns the mode used, the rows in the view and the duration.';

CREATE FUNCTION reporting.refresh_all()
RETURNS TABLE (
    view       pg_catalog.regclass,
    status     pg_catalog.text,
    mode       pg_catalog.text,
    started_at pg_catalog.timestamptz,
    duration   pg_catalog.interval,
    rows       pg_catalog.int8,
    error      pg_catalog.text)
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_refresh_all';

COMMENT ON FUNCTION reporting.refresh_all() IS
    'Refresh every registered materialized view the caller may manage, in dependency order, each in its own subtransaction; one row per view with status refreshed, skipped or failed.';

-- Writing functions are for the roles an administrator chooses (see the
-- README): GRANT EXECUTE on them to the roles that own reports.
REVOKE ALL ON FUNCTION
    reporting.register(pg_catalog.regclass, pg_catalog.interval, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.interval, pg_catalog.interval, pg_catalog.interval),
    reporting.unregister(pg_catalog.regclass),
    reporting.refresh(pg_catalog.regclass, pg_catalog.text),
    reporting.refresh_all()
FROM PUBLIC;

-------------------------------------------------------------------------------
-- Sources: what each registered view reads, through the catalog
-------------------------------------------------------------------------------

-- Walk the rewrite rules of each registered view: plain views are looked
-- through; materialized views are sources themselves and are looked through
-- as well (their sources are marked as reached through a materialized view).
CREATE VIEW reporting.sources WITH (security_invoker = true) AS
WITH RECURSIVE walk (view, relid, via, through_matview, depth) AS (
    SELECT r.view::pg_catalog.oid, r.view::pg_catalog.oid,
           ARRAY[]::pg_catalog.regclass[], false, 0
      FROM reporting.registrations r
    UNION
    SELECT w.view, d.refobjid,
           CASE WHEN w.depth OPERATOR(pg_catalog.=) 0 THEN w.via
                ELSE w.via OPERATOR(pg_catalog.||) w.relid::pg_catalog.regclass END,
           w.through_matview OR (w.depth OPERATOR(pg_catalog.>) 0
                                 AND c.relkind OPERATOR(pg_catalog.=) 'm'),
           w.depth OPERATOR(pg_catalog.+) 1
      FROM walk w
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) w.relid
      JOIN pg_catalog.pg_rewrite rw ON rw.ev_class OPERATOR(pg_catalog.=) w.relid
      JOIN pg_catalog.pg_depend d
        ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
       AND d.objid OPERATOR(pg_catalog.=) rw.oid
       AND d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.<>) w.relid
     WHERE (w.depth OPERATOR(pg_catalog.=) 0 OR c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['v', 'm']::"char"[]))
       AND w.depth OPERATOR(pg_catalog.<) 32
)
SELECT DISTINCT ON (w.view, w.relid)
       w.view::pg_catalog.regclass AS view,
       w.relid::pg_catalog.regclass AS source,
       CASE c.relkind WHEN 'r' THEN 'table'
                      WHEN 'p' THEN 'partitioned table'
                      WHEN 'm' THEN 'materialized view'
                      WHEN 'f' THEN 'foreign table' END AS source_kind,
       w.via,
       w.through_matview AS through_materialized_view,
       EXISTS (SELECT 1 FROM reporting.registrations r
                WHERE r.view::pg_catalog.oid OPERATOR(pg_catalog.=) w.relid) AS registered_upstream
  FROM walk w
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) w.relid
 WHERE w.depth OPERATOR(pg_catalog.>) 0
   AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'm', 'f']::"char"[])
 ORDER BY w.view, w.relid, w.through_matview, pg_catalog.cardinality(w.via);

COMMENT ON VIEW reporting.sources IS
    'For each registered view, the tables, partitioned tables, foreign tables and materialized views it reads, found through pg_depend (looking through plain views and materialized views); registered_upstream marks registered views it is built on.';

-- The order refresh_all() follows: each view after every registered view it
-- is built on (directly or through other materialized views).
CREATE FUNCTION reporting._refresh_plan()
RETURNS TABLE (view pg_catalog.regclass, level pg_catalog.int4, upstream pg_catalog.regclass[])
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE edges AS (
        SELECT DISTINCT s.view, s.source AS upstream
          FROM reporting.sources s
         WHERE s.registered_upstream
           AND s.source::pg_catalog.oid OPERATOR(pg_catalog.<>) s.view::pg_catalog.oid
    ), levels (view, level) AS (
        SELECT r.view, 0 FROM reporting.registrations r
        UNION ALL
        SELECT e.view, l.level OPERATOR(pg_catalog.+) 1
          FROM levels l
          JOIN edges e ON e.upstream::pg_catalog.oid OPERATOR(pg_catalog.=) l.view::pg_catalog.oid
         WHERE l.level OPERATOR(pg_catalog.<) 64
    )
    SELECT l.view, pg_catalog.max(l.level)::pg_catalog.int4,
           coalesce((SELECT pg_catalog.array_agg(e.upstream ORDER BY e.upstream::pg_catalog.oid)
                       FROM edges e
                      WHERE e.view::pg_catalog.oid OPERATOR(pg_catalog.=) l.view::pg_catalog.oid),
                    ARRAY[]::pg_catalog.regclass[])
      FROM levels l
     GROUP BY l.view
     ORDER BY 2, l.view::pg_catalog.text COLLATE "C"
$$;

COMMENT ON FUNCTION reporting._refresh_plan() IS
    'Internal: registered views the caller may manage, in dependency order, with the registered views each is built on.';

-------------------------------------------------------------------------------
-- Plain-language descriptions used by reporting.status
-------------------------------------------------------------------------------

-- "5 minutes", "hour", "day", "90 seconds": an interval in the largest unit
-- that divides it evenly, for "every ...".
CREATE FUNCTION reporting._describe_every(every pg_catalog.interval)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    WITH s (secs) AS (SELECT pg_catalog.round(pg_catalog.date_part('epoch', every))::pg_catalog.int8),
    u (secs, n, unit) AS (
        SELECT s.secs, x.n, x.unit
          FROM s, (VALUES (86400, 'day'), (3600, 'hour'), (60, 'minute'), (1, 'second')) x (n, unit)
         WHERE s.secs OPERATOR(pg_catalog.%) x.n OPERATOR(pg_catalog.=) 0
         ORDER BY x.n DESC
         LIMIT 1)
    SELECT CASE WHEN u.secs OPERATOR(pg_catalog./) u.n OPERATOR(pg_catalog.=) 1 THEN u.unit
                ELSE (u.secs OPERATOR(pg_catalog./) u.n)::pg_catalog.text
                     OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) u.unit OPERATOR(pg_catalog.||) 's' END
      FROM u
$$;

-- "just now", "45 seconds ago", "2 minutes ago", "3 hours ago", "4 days ago"
CREATE FUNCTION reporting._describe_age(age pg_catalog.interval)
RETURNS pg_catalog.text
LANGUAGE plpgsql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    secs pg_catalog.float8 := pg_catalog.date_part('epoch', age);
    n pg_catalog.int8;
    unit pg_catalog.text;
BEGIN
    IF secs OPERATOR(pg_catalog.<) 1 THEN
        RETURN 'just now';
    ELSIF secs OPERATOR(pg_catalog.<) 60 THEN
        n := pg_catalog.floor(secs); unit := 'second';
    ELSIF secs OPERATOR(pg_catalog.<) 3600 THEN
        n := pg_catalog.floor(secs OPERATOR(pg_catalog./) 60); unit := 'minute';
    ELSIF secs OPERATOR(pg_catalog.<) 172800 THEN
        n := pg_catalog.floor(secs OPERATOR(pg_catalog./) 3600); unit := 'hour';
    ELSE
        n := pg_catalog.floor(secs OPERATOR(pg_catalog./) 86400); unit := 'day';
    END IF;
    RETURN n::pg_catalog.text OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) unit
        OPERATOR(pg_catalog.||) CASE WHEN n OPERATOR(pg_catalog.=) 1 THEN '' ELSE 's' END
        OPERATOR(pg_catalog.||) ' ago';
END
$$;

-- "every 5 minutes", "daily at 00:05 Europe/Berlin", "manually", ...
CREATE FUNCTION reporting._describe_schedule(every pg_catalog.interval, cron pg_catalog.text, timezone pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    m pg_catalog.text[];
    tz pg_catalog.text := coalesce(timezone, pg_catalog.current_setting('TimeZone'));
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

-- The whole freshness sentence of reporting.status.
CREATE FUNCTION reporting._describe_freshness(
    view_exists pg_catalog.bool, every pg_catalog.interval, cron pg_catalog.text,
    timezone pg_catalog.text, last_refreshed_at pg_catalog.timestamptz,
    last_status pg_catalog.text, last_started_at pg_catalog.timestamptz,
    now pg_catalog.timestamptz)
RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    sentence pg_catalog.text := 'refreshed ' OPERATOR(pg_catalog.||) reporting._describe_schedule(every, cron, timezone);
    tz pg_catalog.text := coalesce(timezone, pg_catalog.current_setting('TimeZone'));
    m pg_catalog.text[];
    local_start pg_catalog.timestamp;
    close_day pg_catalog.date;
    today pg_catalog.date;
BEGIN
    IF NOT view_exists THEN
        RETURN sentence OPERATOR(pg_catalog.||) '; the materialized view no longer exists';
    END IF;
    IF last_refreshed_at IS NULL THEN
        sentence := sentence OPERATOR(pg_catalog.||) '; never refreshed';
    ELSE
        -- an early-morning daily refresh holds the previous day's close
        m := pg_catalog.regexp_match(pg_catalog.btrim(coalesce(cron, '')), '^(\d+)\s+([0-5])\s+\*\s+\*\s+\*$');
        local_start := last_refreshed_at AT TIME ZONE tz;
        IF m IS NOT NULL AND local_start::pg_catalog.time OPERATOR(pg_catalog.<) '06:00' THEN
            close_day := local_start::pg_catalog.date OPERATOR(pg_catalog.-) 1;
            today := (now AT TIME ZONE tz)::pg_catalog.date;
            sentence := sentence OPERATOR(pg_catalog.||) ' — ' OPERATOR(pg_catalog.||)
                CASE WHEN close_day OPERATOR(pg_catalog.=) (today OPERATOR(pg_catalog.-) 1) THEN 'yesterday''s close'
                     ELSE pg_catalog.format('the close of %s', pg_catalog.to_char(close_day, 'FMDay DD Mon YYYY')) END;
        ELSE
            sentence := sentence OPERATOR(pg_catalog.||) '; last refreshed '
                OPERATOR(pg_catalog.||) reporting._describe_age(now OPERATOR(pg_catalog.-) last_refreshed_at);
        END IF;
    END IF;
    IF last_status OPERATOR(pg_catalog.=) 'failed' THEN
        sentence := sentence OPERATOR(pg_catalog.||) '; the last attempt failed '
            OPERATOR(pg_catalog.||) reporting._describe_age(now OPERATOR(pg_catalog.-) last_started_at);
    END IF;
    RETURN sentence;
END
$$;

-------------------------------------------------------------------------------
-- Status and source health
-------------------------------------------------------------------------------

CREATE VIEW reporting.status WITH (security_invoker = true) AS
SELECT r.view,
       c.relowner::pg_catalog.regrole AS owner,
       reporting._describe_schedule(r.every, r.cron, r.timezone) AS schedule,
       r.every, r.cron, r.timezone,
       r.mode, r.refresh_when, r.max_age,
       last.started_at AS last_started_at,
       last.duration AS last_duration,
       last.status AS last_status,
       last.mode AS last_mode,
       last.error AS last_error,
       last.sqlstate AS last_sqlstate,
       ok.started_at AS last_refreshed_at,
       ok.rows,
       pg_catalog.now() OPERATOR(pg_catalog.-) ok.started_at AS age,
       reporting._describe_freshness(c.oid IS NOT NULL, r.every, r.cron, r.timezone,
                                     ok.started_at, last.status, last.started_at,
                                     pg_catalog.now()) AS freshness,
       c.oid IS NOT NULL AS view_exists,
       coalesce(c.relispopulated, false) AS populated,
       r.registered_at
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
         LIMIT 1) ok ON true;

COMMENT ON VIEW reporting.status IS
    'One row per registered view: schedule, mode, the last run and the last successful refresh, the age of the data, and a freshness sentence in plain language.';

-- Figures that explain a report that suddenly got slow: bloat and planner
-- statistics of each table it reads (partitioned tables summed over their
-- partitions).
CREATE VIEW reporting.source_health WITH (security_invoker = true) AS
WITH figures AS (
    SELECT s.view, s.source, s.source_kind,
           pg_catalog.sum(t.n_live_tup)::pg_catalog.int8 AS live_tuples,
           pg_catalog.sum(t.n_dead_tup)::pg_catalog.int8 AS dead_tuples,
           pg_catalog.sum(t.n_mod_since_analyze)::pg_catalog.int8 AS modified_since_analyze,
           pg_catalog.max(t.last_vacuum) AS last_vacuum,
           pg_catalog.max(t.last_autovacuum) AS last_autovacuum,
           pg_catalog.max(t.last_analyze) AS last_analyze,
           pg_catalog.max(t.last_autoanalyze) AS last_autoanalyze
      FROM reporting.sources s
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) s.source::pg_catalog.oid
      LEFT JOIN LATERAL (
            SELECT p.relid FROM pg_catalog.pg_partition_tree(s.source) p
             WHERE p.isleaf AND c.relkind OPERATOR(pg_catalog.=) 'p'
            UNION
            SELECT s.source WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'm']::"char"[])) leaf ON true
      LEFT JOIN pg_catalog.pg_stat_all_tables t ON t.relid OPERATOR(pg_catalog.=) leaf.relid::pg_catalog.oid
     WHERE s.source_kind OPERATOR(pg_catalog.<>) 'foreign table'
     GROUP BY s.view, s.source, s.source_kind
), flagged AS (
    SELECT f.*,
           CASE WHEN f.live_tuples OPERATOR(pg_catalog.+) f.dead_tuples OPERATOR(pg_catalog.>) 0
                THEN pg_catalog.round(f.dead_tuples::pg_catalog.numeric OPERATOR(pg_catalog./)
                                      (f.live_tuples OPERATOR(pg_catalog.+) f.dead_tuples), 3)
                ELSE 0 END AS dead_ratio,
           -- autovacuum's own default threshold: 50 rows plus 10% of the table
           f.modified_since_analyze OPERATOR(pg_catalog.>)
                (50 OPERATOR(pg_catalog.+) (0.1 OPERATOR(pg_catalog.*) f.live_tuples)) AS stale_statistics
      FROM figures f
)
SELECT f.view, f.source, f.source_kind, f.live_tuples, f.dead_tuples, f.dead_ratio,
       f.last_vacuum, f.last_autovacuum, f.last_analyze, f.last_autoanalyze,
       f.modified_since_analyze,
       coalesce(f.stale_statistics, false) AS stale_statistics,
       (f.dead_tuples OPERATOR(pg_catalog.>) 1000 AND f.dead_ratio OPERATOR(pg_catalog.>) 0.2) AS high_bloat,
       (coalesce(f.stale_statistics, false)
        OR (f.dead_tuples OPERATOR(pg_catalog.>) 1000 AND f.dead_ratio OPERATOR(pg_catalog.>) 0.2)) AS needs_attention,
       pg_catalog.concat_ws(' ',
           CASE WHEN f.stale_statistics THEN pg_catalog.format(
               'Planner statistics are stale: %s rows changed since the last analyze; run ANALYZE %s, or lower autovacuum_analyze_scale_factor for it.',
               f.modified_since_analyze, f.source) END,
           CASE WHEN f.dead_tuples OPERATOR(pg_catalog.>) 1000 AND f.dead_ratio OPERATOR(pg_catalog.>) 0.2 THEN pg_catalog.format(
               '%s%% of its rows are dead: run VACUUM %s, look for long-running transactions holding back cleanup, or lower autovacuum_vacuum_scale_factor for it.',
               pg_catalog.round(f.dead_ratio OPERATOR(pg_catalog.*) 100), f.source) END) AS hint
  FROM flagged f;

COMMENT ON VIEW reporting.source_health IS
    'For each table a registered view reads: live and dead tuples, dead ratio, last (auto)vacuum and (auto)analyze, rows modified since the last analyze, and flags with a hint when statistics are stale or bloat is high.';

-------------------------------------------------------------------------------
-- Dropping a registered view removes its registration and history
-------------------------------------------------------------------------------

CREATE FUNCTION reporting._forget_dropped_views()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- during DROP EXTENSION the table may already be gone
    IF pg_catalog.to_regclass('reporting.registrations') IS NULL THEN
        RETURN;
    END IF;
    DELETE FROM reporting.registrations r
     USING pg_catalog.pg_event_trigger_dropped_objects() d
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
       AND d.objsubid OPERATOR(pg_catalog.=) 0
       AND r.view::pg_catalog.oid OPERATOR(pg_catalog.=) d.objid;
END
$$;

REVOKE ALL ON FUNCTION reporting._forget_dropped_views() FROM PUBLIC;

CREATE EVENT TRIGGER reporting_forget_dropped_views ON sql_drop
    EXECUTE FUNCTION reporting._forget_dropped_views();

-- Reading is open to everyone; row-level security on the tables underneath
-- (the views are security_invoker) shows each user only their own views.
GRANT SELECT ON reporting.status, reporting.sources, reporting.source_health TO PUBLIC;
