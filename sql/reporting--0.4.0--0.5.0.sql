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

-- "just now", "45 seconds ago", ... and the freshness sentence up to its
-- verdict: in C (src/freshness.c), where the cache tells them at each call.
CREATE OR REPLACE FUNCTION reporting._describe_age(age pg_catalog.interval)
RETURNS pg_catalog.text
LANGUAGE C IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_describe_age';

CREATE OR REPLACE FUNCTION reporting._describe_freshness(
    view_exists pg_catalog.bool, every pg_catalog.interval, cron pg_catalog.text,
    timezone pg_catalog.text, last_refreshed_at pg_catalog.timestamptz,
    last_status pg_catalog.text, last_started_at pg_catalog.timestamptz,
    now pg_catalog.timestamptz)
RETURNS pg_catalog.text
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_describe_freshness';

-- What the verdict on a view reads (see _freshness_row): relids, views,
-- and valid_until.
CREATE FUNCTION reporting._freshness_reads(view pg_catalog.regclass,
    OUT relids pg_catalog.oid[], OUT views pg_catalog.oid[],
    OUT valid_until pg_catalog.timestamptz)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    catalog_relids pg_catalog.oid[];
BEGIN
    SELECT pg_catalog.array_agg(c.oid ORDER BY c.oid) INTO catalog_relids
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_extension e ON e.extnamespace OPERATOR(pg_catalog.=) c.relnamespace
     WHERE e.extname OPERATOR(pg_catalog.=) 'reporting'
       AND c.relname OPERATOR(pg_catalog.=) ANY (ARRAY['registrations', 'refresh_grants']);
    IF NOT EXISTS (SELECT 1 FROM reporting.registrations g
                    WHERE g.view::pg_catalog.oid OPERATOR(pg_catalog.=) view::pg_catalog.oid) THEN
        relids := catalog_relids;
        views := ARRAY[]::pg_catalog.oid[];
        RETURN;
    END IF;
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
    SELECT (SELECT pg_catalog.array_agg(DISTINCT x.relid ORDER BY x.relid)
              FROM (SELECT w.v AS relid FROM visited w
                    UNION
                    SELECT m::pg_catalog.oid FROM visited w
                     CROSS JOIN LATERAL reporting._tracked_sources(w.v::pg_catalog.regclass) t
                     CROSS JOIN LATERAL pg_catalog.unnest(t.members) AS m
                    UNION
                    SELECT pg_catalog.unnest(catalog_relids)) x),
           (SELECT pg_catalog.array_agg(w.v ORDER BY w.v) FROM visited w),
           -- a query that depends on the date: its verdict changes at the next
           -- midnight in the time zone its refreshes run with
           (SELECT pg_catalog.min((pg_catalog.date_trunc('day', pg_catalog.now() AT TIME ZONE z.tz)
                                   OPERATOR(pg_catalog.+) '1 day'::pg_catalog.interval) AT TIME ZONE z.tz)
              FROM visited w
             CROSS JOIN LATERAL (SELECT coalesce(reporting._refresh_setting(w.v::pg_catalog.regclass, 'TimeZone'), 'UTC') AS tz) z
             WHERE EXISTS (SELECT 1 FROM reporting._query_dependencies(w.v::pg_catalog.regclass) q
                            WHERE q.kind OPERATOR(pg_catalog.=) 'clock_date'))
      INTO relids, views, valid_until;
END
$$;

COMMENT ON FUNCTION reporting._freshness_reads(pg_catalog.regclass) IS
    'Internal: what the verdict on a view reads: the relations whose change generations stand for its sources (through the upstream reports it follows), those reports, and until when the clock leaves the verdict alone.';

-- The clock a refresh's query saw: the start of its transaction (what
-- CURRENT_DATE and now() returned to it), which a refresh run in a
-- transaction begun before midnight has on the previous day although it
-- started after.  Set when a run is recorded as refreshed, in the
-- refreshing transaction; NULL for runs recorded before 0.5.0 (their
-- started_at stands in).
ALTER TABLE reporting.runs ADD COLUMN clock_at pg_catalog.timestamptz;

COMMENT ON COLUMN reporting.runs.clock_at IS
    'For a successful refresh: the start of the transaction that ran it, the time CURRENT_DATE and now() had for its query.';

CREATE FUNCTION reporting._set_run_clock()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.status OPERATOR(pg_catalog.=) 'refreshed'
       AND (TG_OP OPERATOR(pg_catalog.=) 'INSERT' OR OLD.status OPERATOR(pg_catalog.<>) 'refreshed') THEN
        NEW.clock_at := pg_catalog.transaction_timestamp();
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER runs_set_clock BEFORE INSERT OR UPDATE OF status ON reporting.runs
    FOR EACH ROW EXECUTE FUNCTION reporting._set_run_clock();

-- _freshness: a date-dependent report compares the date its query saw.
CREATE OR REPLACE FUNCTION reporting._freshness(view pg_catalog.regclass, depth pg_catalog.int4 DEFAULT 0,
    OUT state pg_catalog.text, OUT sources_changed pg_catalog.bool,
    OUT changes pg_catalog.int8, OUT last_source_change pg_catalog.timestamptz,
    OUT reason pg_catalog.text, OUT clock pg_catalog.text,
    OUT upstream pg_catalog.regclass, OUT uncommitted pg_catalog.bool,
    OUT last_refreshed_at pg_catalog.timestamptz, OUT as_of pg_catalog.timestamptz)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    declared pg_catalog.regclass[];
    s record;
    d record;
    u record;
    f record;
    provable pg_catalog.bool;
    tz pg_catalog.text;
    refreshed_clock pg_catalog.timestamptz;
BEGIN
    SELECT r.sources INTO declared FROM reporting.registrations r
     WHERE r.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid;
    SELECT pg_catalog.max(x.started_at) INTO last_refreshed_at FROM reporting.runs x
     WHERE x.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
       AND x.status OPERATOR(pg_catalog.=) 'refreshed';
    SELECT x.tracked_sources IS NOT NULL AND x.tracking_epoch IS NOT NULL,
           coalesce(x.clock_at, x.started_at)
      INTO provable, refreshed_clock
      FROM reporting.runs x
     WHERE x.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
       AND x.status OPERATOR(pg_catalog.=) 'refreshed'
     ORDER BY x.started_at DESC, x.id DESC LIMIT 1;

    -- the sources the view reads directly (and through plain views)
    SELECT pg_catalog.bool_or(x.changed) AS any_changed,
           pg_catalog.count(*) AS n, pg_catalog.count(x.changed) AS known,
           pg_catalog.sum(x.changes) FILTER (WHERE x.changed) AS changes,
           pg_catalog.max(x.last_change) FILTER (WHERE x.changed) AS last_change,
           pg_catalog.min(x.reason) AS reason,
           pg_catalog.bool_or(x.uncommitted) AS uncommitted,
           pg_catalog.bool_or(x.source_kind OPERATOR(pg_catalog.=) 'no longer read') AS gone
      INTO s FROM reporting.staleness($1) x;
    changes := coalesce(s.changes, 0);
    last_source_change := s.last_change;
    uncommitted := coalesce(s.uncommitted, false);
    IF s.any_changed THEN
        state := 'changed';
        sources_changed := true;
        -- no change counted: what changed is what it reads (a plain view in
        -- between replaced, the view or one it reads redefined)
        IF changes OPERATOR(pg_catalog.=) 0 AND coalesce(s.gone, false) THEN
            reason := 'its query reads other relations than at its last refresh';
        END IF;
    ELSIF s.n OPERATOR(pg_catalog.=) s.known AND coalesce(provable, false) THEN
        state := 'unchanged';
        sources_changed := false;
    ELSE
        state := 'unknown';
        reason := coalesce(s.reason, CASE WHEN last_refreshed_at IS NULL THEN 'never refreshed' END,
                           'the last refresh could not prove what it saw (change tracking was off, or it ran in a REPEATABLE READ or SERIALIZABLE transaction)');
    END IF;

    -- a source declared at registration that no longer exists (dropped, or
    -- dropped and created again under its name): what the query reads
    -- through its functions is no longer watched
    IF state OPERATOR(pg_catalog.=) 'unchanged'
       AND EXISTS (SELECT 1 FROM pg_catalog.unnest(declared) AS g(source)
                    WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                                       WHERE c.oid OPERATOR(pg_catalog.=) g.source::pg_catalog.oid)) THEN
        state := 'unknown';
        reason := 'a source declared at its registration no longer exists (dropped, or dropped and created again); register it again with reporting.register(..., sources => ...)';
    END IF;

    -- what the query depends on besides its tables
    FOR d IN SELECT q.kind, q.object FROM reporting._query_dependencies($1) q
              ORDER BY pg_catalog.array_position(ARRAY['volatile', 'clock_time', 'catalog', 'session', 'function', 'sequence', 'text_search', 'clock_date'], q.kind),
                       q.object COLLATE "C"
    LOOP
        IF d.kind OPERATOR(pg_catalog.=) ANY (ARRAY['volatile', 'clock_time']) THEN
            clock := 'time';
            IF state OPERATOR(pg_catalog.=) 'unchanged' THEN
                state := 'changed';
                reason := CASE WHEN d.kind OPERATOR(pg_catalog.=) 'volatile'
                               THEN pg_catalog.format('its query calls %s, whose result changes at every run', d.object)
                               ELSE pg_catalog.format('its query depends on the current time (%s)', d.object) END;
            END IF;
        ELSIF d.kind OPERATOR(pg_catalog.=) 'function' AND declared IS NULL AND state OPERATOR(pg_catalog.<>) 'changed' THEN
            IF state OPERATOR(pg_catalog.=) 'unchanged' THEN
                state := 'unknown';
                reason := pg_catalog.format('its query calls %s, which can read tables the catalog does not link to the view; declare them with reporting.register(..., sources => ...)', d.object);
            END IF;
        ELSIF d.kind OPERATOR(pg_catalog.=) ANY (ARRAY['sequence', 'text_search', 'catalog', 'session']) AND state OPERATOR(pg_catalog.=) 'unchanged' THEN
            state := 'unknown';
            reason := CASE d.kind
                      WHEN 'sequence' THEN pg_catalog.format('its query uses %s, whose values change without any table changing', d.object)
                      WHEN 'catalog' THEN pg_catalog.format('its query reads system catalog %s, which changes without going through the executor', d.object)
                      WHEN 'session' THEN pg_catalog.format('its query uses %s, whose value depends on the session that refreshes it', d.object)
                      ELSE pg_catalog.format('its query uses %s, whose result depends on a text search configuration that can change without notice', d.object) END;
        ELSIF d.kind OPERATOR(pg_catalog.=) 'clock_date' AND clock IS NULL THEN
            clock := 'date';
            tz := coalesce(reporting._refresh_setting($1, 'TimeZone'), 'UTC');
            IF state OPERATOR(pg_catalog.=) 'unchanged'
               AND (pg_catalog.now() AT TIME ZONE tz)::pg_catalog.date
                   OPERATOR(pg_catalog.<>) (refreshed_clock AT TIME ZONE tz)::pg_catalog.date THEN
                state := 'changed';
                reason := pg_catalog.format('its query depends on the current date (CURRENT_DATE), which has changed in time zone %s since the last refresh', tz);
            END IF;
        END IF;
    END LOOP;

    -- as of when it is exact, before looking upstream
    as_of := CASE WHEN last_refreshed_at IS NULL OR NOT coalesce(provable, false) THEN NULL
                  WHEN state OPERATOR(pg_catalog.=) 'unchanged' THEN pg_catalog.now()
                  ELSE last_refreshed_at END;

    -- the materialized views it reads: behind them is behind too
    FOR u IN SELECT t.source FROM reporting._tracked_sources($1) t
              WHERE t.source_kind OPERATOR(pg_catalog.=) 'materialized view'
                AND t.source::pg_catalog.oid OPERATOR(pg_catalog.<>) $1::pg_catalog.oid
              ORDER BY t.source::pg_catalog.text COLLATE "C"
    LOOP
        IF NOT EXISTS (SELECT 1 FROM reporting.registrations r
                        WHERE r.view::pg_catalog.oid OPERATOR(pg_catalog.=) u.source::pg_catalog.oid) THEN
            IF state OPERATOR(pg_catalog.=) 'unchanged' THEN
                state := 'unknown';
                upstream := u.source;
                reason := pg_catalog.format('upstream materialized view %s is not registered, so whether it is behind its own sources is unknown; register it', u.source);
            END IF;
            as_of := NULL;
            CONTINUE;
        END IF;
        IF depth OPERATOR(pg_catalog.>=) 16 THEN
            state := 'unknown';
            reason := 'its materialized views are nested too deep to follow';
            as_of := NULL;
            EXIT;
        END IF;
        SELECT * INTO f FROM reporting._freshness(u.source, depth OPERATOR(pg_catalog.+) 1);
        as_of := LEAST(as_of, f.as_of);
        IF f.as_of IS NULL THEN
            as_of := NULL;
        END IF;
        IF f.state OPERATOR(pg_catalog.=) 'changed' AND state OPERATOR(pg_catalog.<>) 'changed' THEN
            state := 'changed';
            sources_changed := true;
            upstream := u.source;
            reason := pg_catalog.format('upstream materialized view %s is behind: %s', u.source,
                coalesce(f.reason, pg_catalog.format('%s %s to its sources since its last refresh%s',
                                                     f.changes, CASE WHEN f.changes OPERATOR(pg_catalog.=) 1 THEN 'change' ELSE 'changes' END,
                                                     CASE WHEN f.uncommitted THEN ' (counting this transaction''s own, not committed yet)' ELSE '' END)));
        ELSIF f.state OPERATOR(pg_catalog.=) 'unknown' AND state OPERATOR(pg_catalog.=) 'unchanged' THEN
            state := 'unknown';
            upstream := u.source;
            reason := pg_catalog.format('upstream materialized view %s: %s', u.source, f.reason);
        END IF;
    END LOOP;
    IF state OPERATOR(pg_catalog.=) 'unknown' THEN
        sources_changed := NULL;
    END IF;
END
$$;

-- Everything reporting.freshness() and reporting.status say about one
-- registered view, computed from the catalog, with what it depends on:
--   state             unchanged, changed, unknown (see _freshness), or
--                     unregistered
--   as_of_now         as_of is "now" (the view holds every committed change)
--   relids            the relations whose change generations the verdict
--                     read: the view, every upstream materialized view it
--                     follows, the tables standing for their sources, and
--                     reporting.registrations and reporting.refresh_grants
--                     (whose rows decide what a grantee sees)
--   views             the registered views whose history (reporting.runs)
--                     it read: the view and the upstream reports it follows
--   valid_until       when the clock alone may change the verdict (the date a
--                     query depends on), NULL for never
--   schedule, cron, timezone, last_refreshed_at, last_failed,
--   last_started_at, verdict_words: the pieces of the sentence, whose ages
--                     the cache tells at each call (freshness.c)
-- and the columns of reporting.status that come from the history.
CREATE FUNCTION reporting._freshness_row(view pg_catalog.regclass,
    OUT state pg_catalog.text, OUT as_of_now pg_catalog.bool, OUT as_of pg_catalog.timestamptz,
    OUT reason pg_catalog.text, OUT sentence pg_catalog.text,
    OUT next_refresh_at pg_catalog.timestamptz, OUT relids pg_catalog.oid[],
    OUT views pg_catalog.oid[], OUT valid_until pg_catalog.timestamptz,
    OUT last_refreshed_at pg_catalog.timestamptz, OUT last_started_at pg_catalog.timestamptz,
    OUT last_failed pg_catalog.bool,
    OUT sources_changed pg_catalog.bool, OUT changes pg_catalog.int8,
    OUT last_source_change pg_catalog.timestamptz, OUT verdict_reason pg_catalog.text,
    OUT clock pg_catalog.text, OUT upstream pg_catalog.regclass, OUT uncommitted pg_catalog.bool,
    OUT schedule pg_catalog.text, OUT last_duration pg_catalog.interval,
    OUT last_status pg_catalog.text, OUT last_mode pg_catalog.text,
    OUT last_error pg_catalog.text, OUT last_sqlstate pg_catalog.text,
    OUT rows pg_catalog.int8, OUT consecutive_failures pg_catalog.int4,
    OUT retry_at pg_catalog.timestamptz, OUT cron pg_catalog.text,
    OUT timezone pg_catalog.text, OUT verdict_words pg_catalog.text)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    f record;
    r record;
    last record;
    n record;
BEGIN
    SELECT g.* INTO r FROM reporting.registrations g
     WHERE g.view::pg_catalog.oid OPERATOR(pg_catalog.=) view::pg_catalog.oid;
    IF NOT FOUND THEN
        state := 'unregistered';
        as_of_now := false;
        reason := pg_catalog.format('materialized view %s is not registered', view);
        sentence := 'not registered';
        SELECT x.relids, x.views INTO relids, views FROM reporting._freshness_reads(view) x;
        RETURN;
    END IF;
    SELECT * INTO f FROM reporting._freshness(view);
    SELECT u.status, u.started_at, u.duration, u.mode, u.error, u.sqlstate INTO last
      FROM reporting.runs u
     WHERE u.view::pg_catalog.oid OPERATOR(pg_catalog.=) view::pg_catalog.oid
     ORDER BY u.started_at DESC, u.id DESC LIMIT 1;
    SELECT u.rows INTO rows FROM reporting.runs u
     WHERE u.view::pg_catalog.oid OPERATOR(pg_catalog.=) view::pg_catalog.oid
       AND u.status OPERATOR(pg_catalog.=) 'refreshed'
     ORDER BY u.started_at DESC, u.id DESC LIMIT 1;
    SELECT * INTO n FROM reporting._next_refresh(view);

    state := f.state;
    as_of_now := f.state OPERATOR(pg_catalog.=) 'unchanged' AND f.as_of IS NOT NULL;
    as_of := f.as_of;
    reason := CASE WHEN f.state OPERATOR(pg_catalog.=) 'unchanged' THEN NULL
                   WHEN f.reason IS NOT NULL THEN f.reason
                   ELSE pg_catalog.format('%s %s to its sources since its last refresh%s', f.changes,
                                          CASE WHEN f.changes OPERATOR(pg_catalog.=) 1 THEN 'change' ELSE 'changes' END,
                                          CASE WHEN f.uncommitted THEN ' (counting this transaction''s own, not committed yet)' ELSE '' END) END;
    -- (relations replaced, no change counted: say so, whatever clock the
    -- query also depends on)
    verdict_words := CASE WHEN f.last_refreshed_at IS NULL THEN ''
                          WHEN f.state OPERATOR(pg_catalog.=) 'changed' AND f.sources_changed
                               AND f.upstream IS NULL AND f.changes OPERATOR(pg_catalog.=) 0
                          THEN '; ' OPERATOR(pg_catalog.||) coalesce(f.reason, 'sources changed since the last refresh')
                          ELSE reporting._describe_verdict(f.state, f.changes, f.reason, f.clock, f.upstream, f.uncommitted) END;
    sentence := reporting._describe_freshness(true, r.every, r.cron, r.timezone, f.last_refreshed_at,
                                              last.status, last.started_at, pg_catalog.now())
                OPERATOR(pg_catalog.||) verdict_words;
    cron := r.cron;
    timezone := r.timezone;
    next_refresh_at := n.next_refresh_at;
    consecutive_failures := coalesce(n.consecutive_failures, 0);
    retry_at := n.retry_at;
    last_refreshed_at := f.last_refreshed_at;
    last_started_at := last.started_at;
    last_failed := last.status OPERATOR(pg_catalog.=) 'failed';
    sources_changed := f.sources_changed;
    changes := f.changes;
    last_source_change := f.last_source_change;
    verdict_reason := f.reason;
    clock := f.clock;
    upstream := f.upstream;
    uncommitted := f.uncommitted;
    schedule := reporting._describe_schedule(r.every, r.cron, r.timezone);
    last_duration := last.duration;
    last_status := last.status;
    last_mode := last.mode;
    last_error := CASE WHEN last.status OPERATOR(pg_catalog.=) ANY (ARRAY['failed', 'interrupted']) THEN last.error END;
    last_sqlstate := last.sqlstate;

    SELECT x.relids, x.views, x.valid_until INTO relids, views, valid_until
      FROM reporting._freshness_reads(view) x;
END
$$;

COMMENT ON FUNCTION reporting._freshness_row(pg_catalog.regclass) IS
    'Internal: everything reporting.freshness() and reporting.status say about one view, computed from the catalog, with the relations and histories it read and when the clock alone may change it.';

-- The same row from the per-backend cache (src/freshness.c): as_of is now
-- while the view holds every committed change.
CREATE FUNCTION reporting._freshness_cached(view pg_catalog.regclass,
    OUT state pg_catalog.text, OUT as_of_now pg_catalog.bool, OUT as_of pg_catalog.timestamptz,
    OUT reason pg_catalog.text, OUT sentence pg_catalog.text,
    OUT next_refresh_at pg_catalog.timestamptz, OUT relids pg_catalog.oid[],
    OUT views pg_catalog.oid[], OUT valid_until pg_catalog.timestamptz,
    OUT last_refreshed_at pg_catalog.timestamptz, OUT last_started_at pg_catalog.timestamptz,
    OUT last_failed pg_catalog.bool,
    OUT sources_changed pg_catalog.bool, OUT changes pg_catalog.int8,
    OUT last_source_change pg_catalog.timestamptz, OUT verdict_reason pg_catalog.text,
    OUT clock pg_catalog.text, OUT upstream pg_catalog.regclass, OUT uncommitted pg_catalog.bool,
    OUT schedule pg_catalog.text, OUT last_duration pg_catalog.interval,
    OUT last_status pg_catalog.text, OUT last_mode pg_catalog.text,
    OUT last_error pg_catalog.text, OUT last_sqlstate pg_catalog.text,
    OUT rows pg_catalog.int8, OUT consecutive_failures pg_catalog.int4,
    OUT retry_at pg_catalog.timestamptz, OUT cron pg_catalog.text,
    OUT timezone pg_catalog.text, OUT verdict_words pg_catalog.text)
RETURNS record
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_freshness_cached';

COMMENT ON FUNCTION reporting._freshness_cached(pg_catalog.regclass) IS
    'Internal: reporting._freshness_row() answered from the per-backend cache while nothing it depends on has changed.';

-- The verdict alone, from a cache the skips and failures recorded for the
-- view leave alone: for the skip decisions of the scheduler and
-- refresh_all(), which record a skip at each decision.
CREATE FUNCTION reporting._freshness_verdict(view pg_catalog.regclass,
    OUT state pg_catalog.text, OUT clock pg_catalog.text,
    OUT last_refreshed_at pg_catalog.timestamptz)
RETURNS record
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_freshness_verdict';

COMMENT ON FUNCTION reporting._freshness_verdict(pg_catalog.regclass) IS
    'Internal: the verdict of reporting._freshness_row() (state, clock, last_refreshed_at) from a cache that only successful refreshes of the view, not its recorded skips, make it compute again.';

-- Why refresh_all() and the scheduler may skip a view (as in 0.4.0), now
-- from the cached verdict: a skip costs a lookup, not the whole check.
CREATE OR REPLACE FUNCTION reporting._skip_reason(view pg_catalog.regclass)
RETURNS pg_catalog.text
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN (
    SELECT CASE WHEN f.clock OPERATOR(pg_catalog.=) 'date'
                THEN 'sources unchanged since the last refresh, and the date has not changed'
                ELSE 'sources unchanged since the last refresh' END
      FROM reporting.registrations r
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.view::pg_catalog.oid
     CROSS JOIN LATERAL reporting._freshness_verdict($1) f
     WHERE r.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
       AND r.refresh_when OPERATOR(pg_catalog.=) 'changed'
       AND c.relispopulated
       AND (r.max_age IS NULL OR f.last_refreshed_at
            OPERATOR(pg_catalog.>) (pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) r.max_age))
       AND f.state OPERATOR(pg_catalog.=) 'unchanged');
END
$$;

-- The history noted per view for the cache (src/run_generations.c).
CREATE FUNCTION reporting._note_run_change()
RETURNS trigger
LANGUAGE C
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_note_run_change';

CREATE TRIGGER runs_note_change AFTER INSERT OR UPDATE OR DELETE ON reporting.runs
    FOR EACH ROW EXECUTE FUNCTION reporting._note_run_change();
CREATE TRIGGER runs_note_truncate AFTER TRUNCATE ON reporting.runs
    FOR EACH STATEMENT EXECUTE FUNCTION reporting._note_run_change();

-- reporting.freshness(): the same row as in 0.4.0, from the cache when
-- nothing it depends on has changed.  Replacing the function keeps the
-- EXECUTE privileges granted on it.
CREATE OR REPLACE FUNCTION reporting.freshness(view pg_catalog.regclass, within pg_catalog.interval DEFAULT NULL,
    OUT fresh pg_catalog.bool, OUT as_of pg_catalog.timestamptz, OUT lag pg_catalog.interval,
    OUT reason pg_catalog.text, OUT sentence pg_catalog.text,
    OUT next_refresh_at pg_catalog.timestamptz)
RETURNS record
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
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
    ELSIF f.state OPERATOR(pg_catalog.=) 'changed' AND f.sources_changed THEN
        RAISE EXCEPTION 'materialized view "%" may be behind its sources', view
            USING ERRCODE = 'RP001',
                  DETAIL = pg_catalog.format('%s. Its last refresh started %s.', pg_catalog.initcap(pg_catalog.left(coalesce(f.reason, 'its sources changed since its last refresh'), 1)) OPERATOR(pg_catalog.||) pg_catalog.substr(coalesce(f.reason, 'its sources changed since its last refresh'), 2), since),
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
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_assert_fresh';


-------------------------------------------------------------------------------
-- Refresh workers, their slots and the refresh paths (issue 12, part 1)
-------------------------------------------------------------------------------

-- The refresh-worker slots, for superusers: a slot whose requester and
-- worker are both gone is a leak (worker_slots.c reclaims it at the next
-- claim).
CREATE FUNCTION reporting.worker_slots(
    OUT slot pg_catalog.int4,
    OUT state pg_catalog.text,
    OUT serial pg_catalog.int8,
    OUT database pg_catalog.oid,
    OUT view pg_catalog.oid,
    OUT origin pg_catalog.text,
    OUT requester_alive pg_catalog.bool,
    OUT worker_alive pg_catalog.bool,
    OUT claimed_at pg_catalog.timestamptz,
    OUT status pg_catalog.text)
RETURNS SETOF record
LANGUAGE C VOLATILE ROWS 8
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_worker_slots';

REVOKE ALL ON FUNCTION reporting.worker_slots() FROM PUBLIC;

COMMENT ON FUNCTION reporting.worker_slots() IS
    'The refresh-worker slots (superusers only): state, the claim''s serial, the database and view, whether the requester and the worker still exist. Empty without the preloaded library.';

CREATE VIEW reporting.worker_slots WITH (security_invoker = true) AS
SELECT * FROM reporting.worker_slots();

REVOKE ALL ON reporting.worker_slots FROM PUBLIC;

COMMENT ON VIEW reporting.worker_slots IS
    'The refresh-worker slots (superusers only); see reporting.worker_slots().';

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
    -- (nothing here is called through the schema's name: the event
    -- triggers call this function as the extension's owner, and the schema
    -- now called "reporting" may not be the extension's; see security.c)
    tz pg_catalog.text := coalesce(timezone, (SELECT s.reset_val FROM pg_catalog.pg_settings s
                                               WHERE s.name OPERATOR(pg_catalog.=) 'TimeZone'));
    days pg_catalog.text[] := ARRAY['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
    c pg_catalog.text := pg_catalog.lower(pg_catalog.btrim(cron));
    span pg_catalog.interval := every;
    words pg_catalog.text;
BEGIN
    IF every IS NULL AND cron IS NULL THEN
        RETURN 'manually';
    END IF;
    IF every IS NULL THEN
        m := pg_catalog.regexp_match(c, '^\*/(\d+)\s+\*\s+\*\s+\*\s+\*$');
        IF m IS NOT NULL THEN
            span := pg_catalog.make_interval(mins => m[1]::pg_catalog.int4);
        END IF;
    END IF;
    IF span IS NOT NULL THEN
        -- "5 minutes", "hour", "90 seconds": the largest unit that divides it
        SELECT CASE WHEN u.secs OPERATOR(pg_catalog./) u.n OPERATOR(pg_catalog.=) 1 THEN u.unit
                    ELSE (u.secs OPERATOR(pg_catalog./) u.n)::pg_catalog.text
                         OPERATOR(pg_catalog.||) ' ' OPERATOR(pg_catalog.||) u.unit OPERATOR(pg_catalog.||) 's' END
          INTO words
          FROM (SELECT s.secs, x.n, x.unit
                  FROM (SELECT pg_catalog.round(pg_catalog.date_part('epoch', span))::pg_catalog.int8 AS secs) s,
                       (VALUES (86400, 'day'), (3600, 'hour'), (60, 'minute'), (1, 'second')) x (n, unit)
                 WHERE s.secs OPERATOR(pg_catalog.%) x.n OPERATOR(pg_catalog.=) 0
                 ORDER BY x.n DESC
                 LIMIT 1) u;
        RETURN 'every ' OPERATOR(pg_catalog.||) words;
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
--
-- What this section guarantees (issue 13):
--  1. A registered materialized view dropped and created again under the
--     same name in one transaction (or built beside and renamed into its
--     place) keeps its registration, its history and its refresh grants:
--     the drop only sets them aside (dropped_registrations); the CREATE or
--     RENAME that brings the name back moves them to the new OID; at
--     commit, what nobody took back is removed, with a NOTICE naming the
--     schedule that is gone.
--  2. reporting.redefine(view, query) replaces a view's query keeping its
--     name, registration, history, owner, grants, comments, indexes and the
--     views built on it, blocking readers only from the swap to the commit.

-- Registrations, runs and grants are keyed by the view's OID; a view that
-- is created again gets a new OID, and they follow it.
ALTER TABLE reporting.runs DROP CONSTRAINT runs_view_fkey;
ALTER TABLE reporting.runs ADD CONSTRAINT runs_view_fkey FOREIGN KEY (view)
    REFERENCES reporting.registrations (view) ON UPDATE CASCADE ON DELETE CASCADE;
ALTER TABLE reporting.refresh_grants DROP CONSTRAINT refresh_grants_view_fkey;
ALTER TABLE reporting.refresh_grants ADD CONSTRAINT refresh_grants_view_fkey FOREIGN KEY (view)
    REFERENCES reporting.registrations (view) ON UPDATE CASCADE ON DELETE CASCADE;

-- Registrations of views dropped by the current transaction, waiting for a
-- view of the same name; empty outside such a transaction.
CREATE TABLE reporting.dropped_registrations (
    view        pg_catalog.oid PRIMARY KEY,
    schema_name pg_catalog.name NOT NULL,
    view_name   pg_catalog.name NOT NULL,
    dropped_at  pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp()
);

COMMENT ON TABLE reporting.dropped_registrations IS
    'Registrations of materialized views dropped by a transaction still in progress: a materialized view created (or renamed) under the same name before it commits takes them over; at commit the others are removed.  Always empty between transactions.';

REVOKE ALL ON reporting.dropped_registrations FROM PUBLIC;

-- Dropping a registered view sets its registration aside instead of
-- deleting it (replaces the 0.4.0 version; the schema is still found by
-- OID, through pg_extension.extnamespace).
CREATE OR REPLACE FUNCTION reporting._forget_dropped_views()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    own_schema pg_catalog.name;
BEGIN
    SELECT n.nspname INTO own_schema
      FROM pg_catalog.pg_extension e
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
     WHERE e.extname OPERATOR(pg_catalog.=) 'reporting';
    -- during DROP EXTENSION the extension or its tables may already be gone
    IF own_schema IS NULL
       OR pg_catalog.to_regclass(pg_catalog.format('%I.dropped_registrations', own_schema)) IS NULL THEN
        RETURN;
    END IF;
    EXECUTE pg_catalog.format(
        'INSERT INTO %1$I.dropped_registrations (view, schema_name, view_name)'
        ' SELECT d.objid, d.schema_name, d.object_name'
        '   FROM pg_catalog.pg_event_trigger_dropped_objects() d'
        '   JOIN %1$I.registrations r ON r.view::pg_catalog.oid OPERATOR(pg_catalog.=) d.objid'
        '  WHERE d.classid OPERATOR(pg_catalog.=) ''pg_catalog.pg_class''::pg_catalog.regclass'
        '    AND d.objsubid OPERATOR(pg_catalog.=) 0'
        ' ON CONFLICT (view) DO NOTHING', own_schema);
END
$$;

-- A materialized view created, or renamed, under the name of one dropped
-- earlier in the transaction takes over its registration, history and
-- grants.
CREATE FUNCTION reporting._keep_registrations()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    own_schema pg_catalog.name;
    cmd record;
    nothing_aside pg_catalog.bool;
    old_view pg_catalog.oid;
    runs_kept pg_catalog.int8;
BEGIN
    SELECT n.nspname INTO own_schema
      FROM pg_catalog.pg_extension e
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
     WHERE e.extname OPERATOR(pg_catalog.=) 'reporting';
    IF own_schema IS NULL
       OR pg_catalog.to_regclass(pg_catalog.format('%I.dropped_registrations', own_schema)) IS NULL THEN
        RETURN;
    END IF;
    EXECUTE pg_catalog.format('SELECT NOT EXISTS (SELECT 1 FROM %I.dropped_registrations)', own_schema)
       INTO nothing_aside;
    IF nothing_aside THEN
        RETURN;         -- the usual case: nothing set aside
    END IF;
    FOR cmd IN
        SELECT DISTINCT c.oid, n.nspname, c.relname
          FROM pg_catalog.pg_event_trigger_ddl_commands() d
          JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.objid
          JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
           AND c.relkind OPERATOR(pg_catalog.=) 'm'
    LOOP
        EXECUTE pg_catalog.format(
            'DELETE FROM %I.dropped_registrations p'
            ' WHERE p.view OPERATOR(pg_catalog.=) (SELECT q.view FROM %I.dropped_registrations q'
            '   WHERE q.schema_name OPERATOR(pg_catalog.=) $1 AND q.view_name OPERATOR(pg_catalog.=) $2'
            '   ORDER BY q.dropped_at DESC LIMIT 1)'
            ' RETURNING p.view', own_schema, own_schema)
           INTO old_view USING cmd.nspname, cmd.relname;
        CONTINUE WHEN old_view IS NULL;
        EXECUTE pg_catalog.format(
            'UPDATE %I.registrations SET view = $1::pg_catalog.regclass'
            ' WHERE view::pg_catalog.oid OPERATOR(pg_catalog.=) $2', own_schema)
           USING cmd.oid, old_view;
        -- reports that declared the old one among their sources read the new one
        EXECUTE pg_catalog.format(
            'UPDATE %I.registrations'
            '   SET sources = pg_catalog.array_replace(sources, $2::pg_catalog.oid::pg_catalog.regclass, $1::pg_catalog.regclass)'
            ' WHERE $2::pg_catalog.oid::pg_catalog.regclass OPERATOR(pg_catalog.=) ANY (sources)', own_schema)
           USING cmd.oid, old_view;
        EXECUTE pg_catalog.format(
            'SELECT pg_catalog.count(*) FROM %I.runs'
            ' WHERE view::pg_catalog.oid OPERATOR(pg_catalog.=) $1', own_schema)
           INTO runs_kept USING cmd.oid;
        RAISE NOTICE 'materialized view "%.%" keeps the registration of the one dropped before it',
                     cmd.nspname, cmd.relname
            USING DETAIL = pg_catalog.format('Its schedule, refresh grants and history (%s %s) now belong to the new view.',
                                                 runs_kept, CASE WHEN runs_kept OPERATOR(pg_catalog.=) 1 THEN 'run' ELSE 'runs' END);
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION reporting._keep_registrations() FROM PUBLIC;

CREATE EVENT TRIGGER reporting_keep_registrations ON ddl_command_end
    WHEN TAG IN ('CREATE MATERIALIZED VIEW', 'ALTER MATERIALIZED VIEW', 'ALTER TABLE')
    EXECUTE FUNCTION reporting._keep_registrations();

-- At commit (a deferred constraint trigger), a registration set aside that
-- no view took back is removed, and the user is told which schedule is
-- gone.
CREATE FUNCTION reporting._forget_unclaimed_registration()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    schedule pg_catalog.text;
    removed pg_catalog.int8;
    runs_gone pg_catalog.int8;
BEGIN
    EXECUTE pg_catalog.format(
        'DELETE FROM %I.dropped_registrations WHERE view OPERATOR(pg_catalog.=) $1 RETURNING view',
        TG_TABLE_SCHEMA) USING NEW.view;
    GET DIAGNOSTICS removed = ROW_COUNT;
    IF removed OPERATOR(pg_catalog.=) 0 THEN
        RETURN NULL;    -- a view of the same name took it back
    END IF;
    EXECUTE pg_catalog.format(
        'SELECT %1$I._describe_schedule(r.every, r.cron, r.timezone),'
        '       (SELECT pg_catalog.count(*) FROM %1$I.runs u WHERE u.view OPERATOR(pg_catalog.=) r.view)'
        '  FROM %1$I.registrations r WHERE r.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1',
        TG_TABLE_SCHEMA) INTO schedule, runs_gone USING NEW.view;
    EXECUTE pg_catalog.format(
        'DELETE FROM %I.registrations WHERE view::pg_catalog.oid OPERATOR(pg_catalog.=) $1',
        TG_TABLE_SCHEMA) USING NEW.view;
    IF schedule OPERATOR(pg_catalog.=) 'manually' THEN
        RAISE NOTICE 'registration of dropped report "%.%" removed', NEW.schema_name, NEW.view_name
            USING DETAIL = pg_catalog.format('It was refreshed manually only; its refresh grants and history (%s %s) are deleted.',
                                             runs_gone, CASE WHEN runs_gone OPERATOR(pg_catalog.=) 1 THEN 'run' ELSE 'runs' END),
                  HINT = 'To change a materialized view''s query and keep its registration, use reporting.redefine(), or drop and create it in one transaction.';
    ELSIF schedule IS NOT NULL THEN
        RAISE NOTICE 'registration of dropped report "%.%" removed', NEW.schema_name, NEW.view_name
            USING DETAIL = pg_catalog.format('Its schedule (%s) no longer runs; its refresh grants and history (%s %s) are deleted.',
                                             schedule, runs_gone, CASE WHEN runs_gone OPERATOR(pg_catalog.=) 1 THEN 'run' ELSE 'runs' END),
                  HINT = 'To change a materialized view''s query and keep its registration, use reporting.redefine(), or drop and create it in one transaction.';
    END IF;
    RETURN NULL;
END
$$;

REVOKE ALL ON FUNCTION reporting._forget_unclaimed_registration() FROM PUBLIC;

CREATE CONSTRAINT TRIGGER dropped_registrations_forget
    AFTER INSERT ON reporting.dropped_registrations
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION reporting._forget_unclaimed_registration();

-------------------------------------------------------------------------------
-- reporting.redefine(view, query)
-------------------------------------------------------------------------------

-- The helpers below are SECURITY INVOKER, like redefine() itself: they do
-- only what their caller could do with plain SQL, so PUBLIC keeps EXECUTE
-- on them (redefine() calls them as its caller).

-- The views and materialized views built on a relation, directly or through
-- each other, each with its distance from it (the longest path): recreate
-- them in ascending order, drop them in descending order.
CREATE FUNCTION reporting._views_built_on(view pg_catalog.regclass)
RETURNS TABLE (dependent pg_catalog.oid, depth pg_catalog.int4)
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE built_on (rel, depth) AS (
        SELECT $1::pg_catalog.oid, 0
        UNION ALL
        SELECT r.ev_class, b.depth OPERATOR(pg_catalog.+) 1
          FROM built_on b
          JOIN pg_catalog.pg_depend d
            ON d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
           AND d.refobjid OPERATOR(pg_catalog.=) b.rel
           AND d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_rewrite'::pg_catalog.regclass
          JOIN pg_catalog.pg_rewrite r ON r.oid OPERATOR(pg_catalog.=) d.objid
         WHERE r.ev_class OPERATOR(pg_catalog.<>) b.rel
    )
    SELECT b.rel, pg_catalog.max(b.depth)::pg_catalog.int4
      FROM built_on b
     WHERE b.depth OPERATOR(pg_catalog.>) 0
     GROUP BY b.rel
$$;


-- Everything about a view that its recreation must give back: kind, owner,
-- options, grants, comments, indexes.  Read under the caller's pinned
-- search_path (pg_catalog), so that its definition names every relation
-- with its schema.
CREATE FUNCTION reporting._view_snapshot(rel pg_catalog.oid, depth pg_catalog.int4)
RETURNS pg_catalog.jsonb
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.jsonb_build_object(
        'oid', c.oid, 'depth', $2, 'kind', c.relkind, 'schema', n.nspname, 'name', c.relname,
        'owner', o.rolname, 'populated', c.relispopulated,
        'definition', pg_catalog.rtrim(pg_catalog.pg_get_viewdef(c.oid), ';'),
        'options', coalesce(pg_catalog.array_to_string(c.reloptions, ', '), ''),
        'tablespace', (SELECT t.spcname FROM pg_catalog.pg_tablespace t WHERE t.oid OPERATOR(pg_catalog.=) c.reltablespace),
        'acl', c.relacl::pg_catalog.text[],
        'comment', pg_catalog.obj_description(c.oid, 'pg_class'),
        'column_comments', (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('column', a.attname, 'comment', ds.description)), '[]')
                              FROM pg_catalog.pg_attribute a
                              JOIN pg_catalog.pg_description ds
                                ON ds.objoid OPERATOR(pg_catalog.=) a.attrelid
                               AND ds.classoid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                               AND ds.objsubid OPERATOR(pg_catalog.=) a.attnum
                             WHERE a.attrelid OPERATOR(pg_catalog.=) c.oid AND a.attnum OPERATOR(pg_catalog.>) 0),
        'indexes', (SELECT coalesce(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                               'oid', i.indexrelid, 'name', ic.relname, 'unique', i.indisunique,
                               'clustered', i.indisclustered,
                               'definition', pg_catalog.pg_get_indexdef(i.indexrelid),
                               'comment', pg_catalog.obj_description(i.indexrelid, 'pg_class'))
                           ORDER BY ic.relname), '[]')
                      FROM pg_catalog.pg_index i
                      JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid
                     WHERE i.indrelid OPERATOR(pg_catalog.=) c.oid))
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
      JOIN pg_catalog.pg_roles o ON o.oid OPERATOR(pg_catalog.=) c.relowner
     WHERE c.oid OPERATOR(pg_catalog.=) $1
$$;


-- Give a recreated view the grants and comments its predecessor had
-- (snapshot "v"), as its owner.  A grant made by a role holding a grant
-- option is given again by the owner.
CREATE FUNCTION reporting._restore_grants_and_comments(target pg_catalog.regclass, v pg_catalog.jsonb)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    g record;
BEGIN
    IF v OPERATOR(pg_catalog.->) 'acl' OPERATOR(pg_catalog.<>) 'null'::pg_catalog.jsonb THEN
        EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM PUBLIC', target);
        FOR g IN SELECT DISTINCT a.grantee FROM pg_catalog.pg_class c, pg_catalog.aclexplode(c.relacl) a
                  WHERE c.oid OPERATOR(pg_catalog.=) target AND a.grantee OPERATOR(pg_catalog.<>) 0 LOOP
            EXECUTE pg_catalog.format('REVOKE ALL ON %s FROM %s', target, g.grantee::pg_catalog.regrole);
        END LOOP;
        FOR g IN SELECT a.grantee, a.privilege_type, a.is_grantable
                   FROM pg_catalog.aclexplode(ARRAY(SELECT pg_catalog.jsonb_array_elements_text(v OPERATOR(pg_catalog.->) 'acl'))::pg_catalog.aclitem[]) a LOOP
            EXECUTE pg_catalog.format('GRANT %s ON %s TO %s%s', g.privilege_type, target,
                CASE WHEN g.grantee OPERATOR(pg_catalog.=) 0 THEN 'PUBLIC' ELSE g.grantee::pg_catalog.regrole::pg_catalog.text END,
                CASE WHEN g.is_grantable THEN ' WITH GRANT OPTION' ELSE '' END);
        END LOOP;
    END IF;
    IF v OPERATOR(pg_catalog.->>) 'comment' IS NOT NULL THEN
        EXECUTE pg_catalog.format('COMMENT ON %s %s IS %L',
            CASE v OPERATOR(pg_catalog.->>) 'kind' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END,
            target, v OPERATOR(pg_catalog.->>) 'comment');
    END IF;
    FOR g IN SELECT x OPERATOR(pg_catalog.->>) 'column' AS col, x OPERATOR(pg_catalog.->>) 'comment' AS txt
               FROM pg_catalog.jsonb_array_elements(coalesce(v OPERATOR(pg_catalog.->) 'column_comments', '[]')) x LOOP
        -- a column the new definition no longer has takes its comment with it
        CONTINUE WHEN NOT EXISTS (SELECT 1 FROM pg_catalog.pg_attribute a
                                   WHERE a.attrelid OPERATOR(pg_catalog.=) target
                                     AND a.attname OPERATOR(pg_catalog.=) g.col AND NOT a.attisdropped);
        EXECUTE pg_catalog.format('COMMENT ON COLUMN %s.%I IS %L', target, g.col, g.txt);
    END LOOP;
END
$$;


-- Create a view or materialized view built on the redefined one again from
-- its snapshot, as its owner, with its indexes, grants and comments (its
-- registration follows through the reporting_keep_registrations trigger).
CREATE FUNCTION reporting._recreate_view(v pg_catalog.jsonb, base pg_catalog.text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    matview pg_catalog.bool := v OPERATOR(pg_catalog.->>) 'kind' OPERATOR(pg_catalog.=) 'm';
    target pg_catalog.text := pg_catalog.format('%I.%I', v OPERATOR(pg_catalog.->>) 'schema', v OPERATOR(pg_catalog.->>) 'name');
    idx pg_catalog.jsonb;
    state pg_catalog.text;
    msg pg_catalog.text;
BEGIN
    PERFORM pg_catalog.set_config('role', v OPERATOR(pg_catalog.->>) 'owner', true);
    BEGIN
        EXECUTE pg_catalog.format('CREATE %s %s%s%s AS %s%s',
            CASE WHEN matview THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END, target,
            CASE WHEN v OPERATOR(pg_catalog.->>) 'options' OPERATOR(pg_catalog.<>) ''
                 THEN pg_catalog.format(' WITH (%s)', v OPERATOR(pg_catalog.->>) 'options') ELSE '' END,
            CASE WHEN matview AND v OPERATOR(pg_catalog.->>) 'tablespace' IS NOT NULL
                 THEN pg_catalog.format(' TABLESPACE %I', v OPERATOR(pg_catalog.->>) 'tablespace') ELSE '' END,
            v OPERATOR(pg_catalog.->>) 'definition',
            CASE WHEN NOT matview THEN ''
                 WHEN (v OPERATOR(pg_catalog.->>) 'populated')::pg_catalog.bool THEN ' WITH DATA'
                 ELSE ' WITH NO DATA' END);
        FOR idx IN SELECT x FROM pg_catalog.jsonb_array_elements(coalesce(v OPERATOR(pg_catalog.->) 'indexes', '[]')) x LOOP
            EXECUTE idx OPERATOR(pg_catalog.->>) 'definition';
            IF (idx OPERATOR(pg_catalog.->>) 'clustered')::pg_catalog.bool THEN
                EXECUTE pg_catalog.format('ALTER MATERIALIZED VIEW %s CLUSTER ON %I', target, idx OPERATOR(pg_catalog.->>) 'name');
            END IF;
            IF idx OPERATOR(pg_catalog.->>) 'comment' IS NOT NULL THEN
                EXECUTE pg_catalog.format('COMMENT ON INDEX %I.%I IS %L', v OPERATOR(pg_catalog.->>) 'schema',
                                          idx OPERATOR(pg_catalog.->>) 'name', idx OPERATOR(pg_catalog.->>) 'comment');
            END IF;
        END LOOP;
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        RAISE EXCEPTION '% "%" built on materialized view "%" cannot be created again on its new definition',
                        CASE WHEN matview THEN 'materialized view' ELSE 'view' END, target, base
            USING ERRCODE = state,
                  DETAIL = pg_catalog.format('Recreating it from its definition failed: %s.', msg),
                  HINT = 'Drop or change that view first (in the same migration), then redefine.';
    END;
    PERFORM reporting._restore_grants_and_comments(target::pg_catalog.regclass, v);
END
$$;


-- Refuse, before anything is built, a redefinition whose views built on the
-- view could not be dropped and created again as their owners: the view's
-- owner must be a member of each of their owners (42501).
CREATE FUNCTION reporting._check_views_built_on(view pg_catalog.regclass, nsp pg_catalog.text, relname pg_catalog.text)
RETURNS void
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    d record;
BEGIN
    SELECT n.nspname, c.relname AS name, o.rolname INTO d
      FROM reporting._views_built_on(view) b
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) b.dependent
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
      JOIN pg_catalog.pg_roles o ON o.oid OPERATOR(pg_catalog.=) c.relowner
      JOIN pg_catalog.pg_class v ON v.oid OPERATOR(pg_catalog.=) view
     WHERE NOT pg_catalog.pg_has_role(v.relowner, c.relowner, 'MEMBER')
     ORDER BY b.depth, n.nspname, c.relname
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'cannot redefine materialized view "%.%": view "%.%" built on it belongs to role "%"',
                        nsp, relname, d.nspname, d.name, d.rolname
            USING ERRCODE = '42501',
                  DETAIL = 'The views built on a redefined view are dropped and created again as their owners.',
                  HINT = 'Grant membership in that role to the view''s owner, or drop that view first.';
    END IF;
END
$$;

-- Build one index of the redefined view (snapshot "idx") on the new
-- definition "tmp_name", under a temporary name, from the old index's
-- definition: pg_get_indexdef() writes "CREATE [UNIQUE] INDEX name ON
-- schema.table USING ...", of which everything from USING on is kept.
CREATE FUNCTION reporting._rebuild_index(idx pg_catalog.jsonb, nsp pg_catalog.text,
    relname pg_catalog.text, tmp_name pg_catalog.text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    def pg_catalog.text := idx OPERATOR(pg_catalog.->>) 'definition';
    head pg_catalog.text := pg_catalog.format('CREATE %sINDEX %I ON %I.%I ',
        CASE WHEN (idx OPERATOR(pg_catalog.->>) 'unique')::pg_catalog.bool THEN 'UNIQUE ' ELSE '' END,
        idx OPERATOR(pg_catalog.->>) 'name', nsp, relname);
    state pg_catalog.text;
    msg pg_catalog.text;
BEGIN
    IF pg_catalog.left(def, pg_catalog.length(head)) OPERATOR(pg_catalog.<>) head THEN
        RAISE EXCEPTION 'unexpected definition of index "%": %', idx OPERATOR(pg_catalog.->>) 'name', def
            USING ERRCODE = 'XX000';
    END IF;
    EXECUTE pg_catalog.format('CREATE %sINDEX %I ON %I.%I %s',
        CASE WHEN (idx OPERATOR(pg_catalog.->>) 'unique')::pg_catalog.bool THEN 'UNIQUE ' ELSE '' END,
        pg_catalog.left(idx OPERATOR(pg_catalog.->>) 'name', 40) OPERATOR(pg_catalog.||) '_redefine_' OPERATOR(pg_catalog.||) (idx OPERATOR(pg_catalog.->>) 'oid'),
        nsp, tmp_name, pg_catalog.substr(def, pg_catalog.length(head) OPERATOR(pg_catalog.+) 1));
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    IF state OPERATOR(pg_catalog.=) 'XX000' THEN
        RAISE;
    END IF;
    RAISE EXCEPTION 'index "%" of materialized view "%.%" cannot be rebuilt on its new definition',
                    idx OPERATOR(pg_catalog.->>) 'name', nsp, relname
        USING ERRCODE = state,
              DETAIL = pg_catalog.format('Rebuilding it from its definition failed: %s.', msg),
              HINT = 'Keep the columns the index uses in the new query, or drop the index first.';
END
$$;

-- A lock_timeout value (milliseconds, as text) that ends at "deadline":
-- at least 1, since 0 would mean no timeout at all.
CREATE FUNCTION reporting._milliseconds_until(deadline pg_catalog.timestamptz)
RETURNS pg_catalog.text
LANGUAGE sql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT GREATEST(1, pg_catalog.ceil(pg_catalog.date_part('epoch',
               $1 OPERATOR(pg_catalog.-) pg_catalog.clock_timestamp()) OPERATOR(pg_catalog.*) 1000))::pg_catalog.int8::pg_catalog.text
$$;

-- reporting.redefine(view, query): replace the query of a materialized
-- view, keeping everything attached to it.
--   view   the materialized view; the caller must own it (be a member of
--          its owning role, or a superuser): 42501 otherwise
--   query  the new SELECT (a trailing semicolon is allowed)
-- Phase 1, build (readers not blocked): the new definition is built WITH
-- DATA beside the old one, as the view's owner with the owner's settings
-- (as a refresh would run), and the old indexes are rebuilt on it from
-- their definitions.  Phase 2, swap: the old view and the views built on it
-- are locked, waiting at most the registration's lock_timeout for all of
-- them together (55P03), then
-- dropped, the new one takes the name, and the views built on it are
-- created again from their definitions (materialized ones WITH DATA), each
-- as its owner; grants, comments, indexes, registrations, history and
-- refresh grants are kept.  The locks are held until the caller's
-- transaction ends: call it in a short transaction (a migration of its own).
-- Errors: 22004 NULL argument, 42809 not a materialized view, 22023 empty
-- or unpopulated query, the build's own error (e.g. 42703), the SQLSTATE
-- of an index or dependent view that no longer fits, 2BP01 when another
-- kind of object (a function body, ...) depends on the view, 55P03 lock
-- timeout.  Any error changes nothing.
-- The build-beside-then-swap idea is the usual online schema change recipe
-- (pg_repack, gh-ost); the code is ours.
-- Whether the new query of a report is exactly one SELECT (src/redefine.c).
CREATE FUNCTION reporting._query_problem(query pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE C IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_query_problem';

COMMENT ON FUNCTION reporting._query_problem(pg_catalog.text) IS
    'Internal: NULL when the text is exactly one SELECT, otherwise why not (for reporting.redefine()).';

CREATE FUNCTION reporting.redefine(view pg_catalog.regclass, query pg_catalog.text)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    old pg_catalog.jsonb;
    deps pg_catalog.jsonb[];
    dep pg_catalog.jsonb;
    idx pg_catalog.jsonb;
    nsp pg_catalog.text;
    relname pg_catalog.text;
    tmp_name pg_catalog.text;
    sql pg_catalog.text := pg_catalog.regexp_replace(query, '[[:space:];]+$', '');
    owner_name pg_catalog.text;
    caller_role pg_catalog.text := pg_catalog.current_setting('role');
    timeout pg_catalog.interval;
    setting pg_catalog.text;
    value pg_catalog.text;
    state pg_catalog.text;
    msg pg_catalog.text;
    msg_detail pg_catalog.text;
    old_lock_timeout pg_catalog.text := pg_catalog.current_setting('lock_timeout');
    deadline pg_catalog.timestamptz;
    old_client_min_messages pg_catalog.text := pg_catalog.current_setting('client_min_messages');
    problem pg_catalog.text;
BEGIN
    IF view IS NULL OR query IS NULL THEN
        RAISE EXCEPTION 'view and query must not be null' USING ERRCODE = '22004';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) view
                      AND c.relkind OPERATOR(pg_catalog.=) 'm') THEN
        RAISE EXCEPTION '"%" is not a materialized view', view USING ERRCODE = '42809',
            HINT = 'Only a materialized view can be redefined; replace a plain view with CREATE OR REPLACE VIEW.';
    END IF;
    old := reporting._view_snapshot(view, 0);
    nsp := old OPERATOR(pg_catalog.->>) 'schema';
    relname := old OPERATOR(pg_catalog.->>) 'name';
    owner_name := old OPERATOR(pg_catalog.->>) 'owner';
    IF NOT pg_catalog.pg_has_role(owner_name, 'MEMBER') THEN
        RAISE EXCEPTION 'must be owner of materialized view %.%', nsp, relname USING ERRCODE = '42501',
            HINT = 'Only the view''s owner (a member of its owning role, or a superuser) may redefine it.';
    END IF;
    IF sql OPERATOR(pg_catalog.=) '' THEN
        RAISE EXCEPTION 'the new query of materialized view "%.%" is empty', nsp, relname USING ERRCODE = '22023';
    END IF;
    -- one SELECT and nothing else: the text is run as the view's owner
    problem := reporting._query_problem(sql);
    IF problem IS NOT NULL THEN
        RAISE EXCEPTION 'the new query of materialized view "%.%" must be a single SELECT', nsp, relname
            USING ERRCODE = '22023', DETAIL = pg_catalog.format('The text given %s.', problem),
                  HINT = 'Pass the query only, as in CREATE MATERIALIZED VIEW ... AS <query>, without WITH DATA.';
    END IF;
    PERFORM reporting._check_views_built_on(view, nsp, relname);

    -- phase 1: build beside, as the owner with the owner's settings
    PERFORM pg_catalog.set_config('role', owner_name, true);
    FOREACH setting IN ARRAY ARRAY['TimeZone', 'DateStyle', 'IntervalStyle', 'extra_float_digits',
        'lc_monetary', 'lc_numeric', 'lc_time', 'default_text_search_config', 'bytea_output',
        'xmlbinary', 'xmloption', 'timezone_abbreviations', 'row_security', 'array_nulls',
        'transform_null_equals', 'standard_conforming_strings', 'quote_all_identifiers'] LOOP
        value := reporting._refresh_setting(view, setting);
        IF value IS NOT NULL THEN
            PERFORM pg_catalog.set_config(setting, value, true);
        END IF;
    END LOOP;
    tmp_name := pg_catalog.left(relname, 40) OPERATOR(pg_catalog.||) '_redefine_' OPERATOR(pg_catalog.||) view::pg_catalog.oid;
    BEGIN
        PERFORM pg_catalog.set_config('search_path', coalesce(reporting._refresh_setting(view, 'search_path'), '"$user", public'), true);
        EXECUTE pg_catalog.format('CREATE MATERIALIZED VIEW %I.%I%s%s AS %s WITH DATA', nsp, tmp_name,
            CASE WHEN old OPERATOR(pg_catalog.->>) 'options' OPERATOR(pg_catalog.<>) ''
                 THEN pg_catalog.format(' WITH (%s)', old OPERATOR(pg_catalog.->>) 'options') ELSE '' END,
            CASE WHEN old OPERATOR(pg_catalog.->>) 'tablespace' IS NOT NULL
                 THEN pg_catalog.format(' TABLESPACE %I', old OPERATOR(pg_catalog.->>) 'tablespace') ELSE '' END,
            sql);
        PERFORM pg_catalog.set_config('search_path', 'pg_catalog, pg_temp', true);
    EXCEPTION WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        RAISE EXCEPTION 'could not build the new definition of materialized view "%.%"', nsp, relname
            USING ERRCODE = state, DETAIL = pg_catalog.format('The new query failed: %s.', msg),
                  HINT = 'The query runs as the view''s owner, with the owner''s search_path and settings, as its refreshes do.';
    END;
    IF NOT (SELECT c.relispopulated FROM pg_catalog.pg_class c
             WHERE c.oid OPERATOR(pg_catalog.=) pg_catalog.format('%I.%I', nsp, tmp_name)::pg_catalog.regclass) THEN
        RAISE EXCEPTION 'the new definition of materialized view "%.%" was built with no data', nsp, relname
            USING ERRCODE = '22023', HINT = 'Pass only the SELECT, without WITH NO DATA.';
    END IF;
    FOR idx IN SELECT x FROM pg_catalog.jsonb_array_elements(coalesce(old OPERATOR(pg_catalog.->) 'indexes', '[]')) x LOOP
        PERFORM reporting._rebuild_index(idx, nsp, relname, tmp_name);
    END LOOP;

    -- phase 2: swap, waiting at most the registration's lock_timeout
    SELECT r.lock_timeout INTO timeout FROM reporting.registrations r
     WHERE r.view::pg_catalog.oid OPERATOR(pg_catalog.=) redefine.view::pg_catalog.oid;
    timeout := coalesce(timeout, '5 seconds');
    -- one deadline for every lock of the swap, not lock_timeout for each
    deadline := pg_catalog.clock_timestamp() OPERATOR(pg_catalog.+) timeout;
    -- (LOCK TABLE refuses materialized views: the DROPs take the locks;
    -- the notices of the registrations moving along are left out: one
    -- notice at the end says what was kept)
    PERFORM pg_catalog.set_config('client_min_messages', 'warning', true);
    PERFORM reporting._check_views_built_on(view, nsp, relname);
    SELECT pg_catalog.array_agg(reporting._view_snapshot(b.dependent, b.depth) ORDER BY b.depth, b.dependent)
      INTO deps FROM reporting._views_built_on(view) b;
    BEGIN
        -- views built on it, the farthest first; then the view itself
        FOR i IN REVERSE coalesce(pg_catalog.array_length(deps, 1), 0)..1 LOOP
            PERFORM pg_catalog.set_config('lock_timeout', reporting._milliseconds_until(deadline), true);
            EXECUTE pg_catalog.format('DROP %s %I.%I',
                CASE deps[i] OPERATOR(pg_catalog.->>) 'kind' WHEN 'm' THEN 'MATERIALIZED VIEW' ELSE 'VIEW' END,
                deps[i] OPERATOR(pg_catalog.->>) 'schema', deps[i] OPERATOR(pg_catalog.->>) 'name');
        END LOOP;
        PERFORM pg_catalog.set_config('lock_timeout', reporting._milliseconds_until(deadline), true);
        EXECUTE pg_catalog.format('DROP MATERIALIZED VIEW %I.%I', nsp, relname);
    EXCEPTION
        WHEN lock_not_available THEN
            RAISE EXCEPTION 'could not lock materialized view "%.%" to swap in its new definition', nsp, relname
                USING ERRCODE = 'lock_not_available',
                      DETAIL = pg_catalog.format('Another session held a lock on it, or on a view built on it, for longer than its lock_timeout (%s); nothing was changed.', timeout),
                      HINT = 'Try again when long reads and refreshes of it are over, or register it with a longer lock_timeout.';
        WHEN dependent_objects_still_exist THEN
            GET STACKED DIAGNOSTICS msg_detail = PG_EXCEPTION_DETAIL;
            RAISE EXCEPTION 'cannot redefine materialized view "%.%" because other objects depend on it', nsp, relname
                USING ERRCODE = 'dependent_objects_still_exist', DETAIL = msg_detail,
                      HINT = 'Only views and materialized views built on it are created again; drop the other objects first.';
    END;
    PERFORM pg_catalog.set_config('lock_timeout', old_lock_timeout, true);
    EXECUTE pg_catalog.format('ALTER MATERIALIZED VIEW %I.%I RENAME TO %I', nsp, tmp_name, relname);
    FOR idx IN SELECT x FROM pg_catalog.jsonb_array_elements(coalesce(old OPERATOR(pg_catalog.->) 'indexes', '[]')) x LOOP
        EXECUTE pg_catalog.format('ALTER INDEX %I.%I RENAME TO %I', nsp,
            pg_catalog.left(idx OPERATOR(pg_catalog.->>) 'name', 40) OPERATOR(pg_catalog.||) '_redefine_' OPERATOR(pg_catalog.||) (idx OPERATOR(pg_catalog.->>) 'oid'),
            idx OPERATOR(pg_catalog.->>) 'name');
        IF (idx OPERATOR(pg_catalog.->>) 'clustered')::pg_catalog.bool THEN
            EXECUTE pg_catalog.format('ALTER MATERIALIZED VIEW %I.%I CLUSTER ON %I', nsp, relname, idx OPERATOR(pg_catalog.->>) 'name');
        END IF;
        IF idx OPERATOR(pg_catalog.->>) 'comment' IS NOT NULL THEN
            EXECUTE pg_catalog.format('COMMENT ON INDEX %I.%I IS %L', nsp, idx OPERATOR(pg_catalog.->>) 'name',
                                      idx OPERATOR(pg_catalog.->>) 'comment');
        END IF;
    END LOOP;
    PERFORM reporting._restore_grants_and_comments(pg_catalog.format('%I.%I', nsp, relname)::pg_catalog.regclass, old);
    FOREACH dep IN ARRAY coalesce(deps, '{}') LOOP
        PERFORM reporting._recreate_view(dep, pg_catalog.format('%s.%s', nsp, relname));
        PERFORM pg_catalog.set_config('role', owner_name, true);
    END LOOP;
    PERFORM pg_catalog.set_config('role', caller_role, true);
    PERFORM pg_catalog.set_config('client_min_messages', old_client_min_messages, true);
    RAISE NOTICE 'materialized view "%.%" redefined', nsp, relname
        USING DETAIL = pg_catalog.format('Indexes rebuilt: %s; views built on it created again: %s; registration kept: %s.',
            pg_catalog.jsonb_array_length(old OPERATOR(pg_catalog.->) 'indexes'),
            coalesce(pg_catalog.array_length(deps, 1), 0),
            CASE WHEN EXISTS (SELECT 1 FROM reporting.registrations r
                               WHERE r.view OPERATOR(pg_catalog.=) pg_catalog.format('%I.%I', nsp, relname)::pg_catalog.regclass)
                 THEN 'yes' ELSE 'no (it was not registered)' END);
END
$$;

COMMENT ON FUNCTION reporting.redefine(pg_catalog.regclass, pg_catalog.text) IS
    'Replace the query of a materialized view, keeping its name, registration, history, refresh grants, owner, grants, comments, indexes and the views built on it: the new definition is built beside the old one without blocking readers, then swapped in (waiting at most the registration''s lock_timeout); any error changes nothing.  Only the view''s owner may.';

REVOKE ALL ON FUNCTION reporting.redefine(pg_catalog.regclass, pg_catalog.text) FROM PUBLIC;

-------------------------------------------------------------------------------
-- Test databases: pause scheduling (issue 13)
-------------------------------------------------------------------------------

CREATE FUNCTION reporting.pause_scheduling(duration pg_catalog.interval)
RETURNS void
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_pause_scheduling';

COMMENT ON FUNCTION reporting.pause_scheduling(pg_catalog.interval) IS
    'No scheduled refresh in this database for the given time (at most 7 days; 0 ends the pause): for test databases.  Manual refreshes and refresh_all() still work.  Only the database''s owner may.';

REVOKE ALL ON FUNCTION reporting.pause_scheduling(pg_catalog.interval) FROM PUBLIC;

CREATE FUNCTION reporting.scheduling_paused_until()
RETURNS pg_catalog.timestamptz
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_scheduling_paused_until';

COMMENT ON FUNCTION reporting.scheduling_paused_until() IS
    'Until when scheduling is paused in this database (reporting.pause_scheduling(), or while a command needs the database to itself); NULL when it is not.';

GRANT EXECUTE ON FUNCTION reporting.scheduling_paused_until() TO PUBLIC;

-------------------------------------------------------------------------------
-- Incremental reports (issue 14)
-------------------------------------------------------------------------------

-- An incremental report is a table the extension keeps equal to a query
-- with $1 and $2, a half-open range of one fact table's time column,
-- recomputing only the buckets whose fact rows changed (src/incremental.c,
-- src/incremental_capture.c).

-- Each report's id names its capture triggers and keys its capture in
-- shared memory: unlike its table's OID, it survives pg_dump and
-- pg_restore (the table and the sequence are dumped).
CREATE SEQUENCE reporting.incrementals_id_seq AS pg_catalog.int4;

CREATE TABLE reporting.incrementals (
    report             pg_catalog.regclass PRIMARY KEY
                       REFERENCES reporting.registrations (view) ON DELETE CASCADE
                       DEFERRABLE INITIALLY DEFERRED,
    id                 pg_catalog.int4 NOT NULL UNIQUE
                       DEFAULT pg_catalog.nextval('reporting.incrementals_id_seq'::pg_catalog.regclass),
    query              pg_catalog.text NOT NULL,
    fact               pg_catalog.regclass NOT NULL,
    time_column        pg_catalog.name NOT NULL,
    time_type          pg_catalog.regtype NOT NULL,
    bucket_column      pg_catalog.name NOT NULL,
    bucket_type        pg_catalog.regtype NOT NULL,
    bucket_width       pg_catalog.interval NOT NULL,
    time_zone          pg_catalog.text NOT NULL,
    lookback           pg_catalog.int4 NOT NULL,
    full_refresh_above pg_catalog.float8 NOT NULL,
    relations          pg_catalog.regclass[] NOT NULL,
    search_path        pg_catalog.text NOT NULL,
    fingerprint        pg_catalog.text,
    last_kind          pg_catalog.text,
    last_buckets       pg_catalog.int8,
    last_full_reason   pg_catalog.text,
    next_full_reason   pg_catalog.text,
    created_at         pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT incrementals_lookback_check CHECK (lookback OPERATOR(pg_catalog.>=) 0),
    CONSTRAINT incrementals_full_check
        CHECK (full_refresh_above OPERATOR(pg_catalog.>) 0 AND full_refresh_above OPERATOR(pg_catalog.<=) 1)
);

COMMENT ON TABLE reporting.incrementals IS
    'Incremental reports: their query, fact table and time column, buckets, and what their last refresh did (last_kind incremental or full, last_buckets, last_full_reason).';
COMMENT ON COLUMN reporting.incrementals.next_full_reason IS
    'Why the next refresh must recompute everything though the capture has the changed ranges (set by create_incremental when a write may have committed between its first refresh and the creation of its capture triggers); cleared by the next refresh that records a fingerprint.';

SELECT pg_catalog.pg_extension_config_dump('reporting.incrementals', '');
ALTER SEQUENCE reporting.incrementals_id_seq OWNED BY reporting.incrementals.id;
SELECT pg_catalog.pg_extension_config_dump('reporting.incrementals_id_seq', '');
COMMENT ON COLUMN reporting.incrementals.search_path IS
    'The search_path its query runs with at every refresh and in verify() (its owner''s login default when it was created); TimeZone is time_zone.';
COMMENT ON COLUMN reporting.incrementals.id IS
    'The report''s id: its capture triggers on the fact table are named ~reporting_capture_<id> and reporting_capture_<id> and pass it as their first argument; it survives pg_dump and pg_restore, which give the table a new OID.';

ALTER TABLE reporting.incrementals ENABLE ROW LEVEL SECURITY;
CREATE POLICY incrementals_owner_read ON reporting.incrementals FOR SELECT
    USING (EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                   WHERE c.oid OPERATOR(pg_catalog.=) report
                     AND pg_catalog.pg_has_role(c.relowner, 'USAGE')));
REVOKE ALL ON reporting.incrementals FROM PUBLIC;
GRANT SELECT ON reporting.incrementals TO PUBLIC;

-- Runs say which kind of refresh an incremental report had, and how many
-- buckets it recomputed (all of them for a full recompute).
ALTER TABLE reporting.runs DROP CONSTRAINT runs_mode_check;
ALTER TABLE reporting.runs ADD CONSTRAINT runs_mode_check
    CHECK (mode OPERATOR(pg_catalog.=) ANY (ARRAY['concurrently', 'plain', 'incremental', 'full']));
ALTER TABLE reporting.runs ADD COLUMN buckets pg_catalog.int8;
COMMENT ON COLUMN reporting.runs.buckets IS
    'For an incremental report: the buckets the run recomputed (mode incremental), or all of them (mode full).';

CREATE FUNCTION reporting._last_buckets(report pg_catalog.regclass)
RETURNS pg_catalog.int8
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_last_buckets';
COMMENT ON FUNCTION reporting._last_buckets(pg_catalog.regclass) IS
    'Internal: the buckets this session''s latest refresh of the incremental report recomputed.';
REVOKE ALL ON FUNCTION reporting._last_buckets(pg_catalog.regclass) FROM PUBLIC;

CREATE FUNCTION reporting._runs_buckets()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.status OPERATOR(pg_catalog.=) 'refreshed'
       AND NEW.mode OPERATOR(pg_catalog.=) ANY (ARRAY['incremental', 'full'])
       AND NEW.buckets IS NULL THEN
        NEW.buckets := reporting._last_buckets(NEW.view);
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION reporting._runs_buckets() FROM PUBLIC;

CREATE TRIGGER runs_buckets BEFORE INSERT OR UPDATE ON reporting.runs
    FOR EACH ROW EXECUTE FUNCTION reporting._runs_buckets();

-- The trigger functions: the capture on fact tables, the guard on reports.
CREATE FUNCTION reporting._capture()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'reporting_capture';
COMMENT ON FUNCTION reporting._capture() IS
    'Internal: BEFORE INSERT and AFTER UPDATE OR DELETE row trigger on the fact table of an incremental report (arguments: the report''s id in reporting.incrementals, the time column); notes the time values written for the commit to publish.';

CREATE FUNCTION reporting._guard()
RETURNS trigger
LANGUAGE C
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_guard';
COMMENT ON FUNCTION reporting._guard() IS
    'Internal: statement trigger on an incremental report; refuses every write but its refreshes.';

CREATE PROCEDURE reporting._refresh_incremental(report pg_catalog.oid)
LANGUAGE C
AS 'MODULE_PATHNAME', 'reporting_refresh_incremental';
COMMENT ON PROCEDURE reporting._refresh_incremental(pg_catalog.oid) IS
    'Internal: what reporting.refresh() runs, as the report''s owner, for an incremental report; refuses to run otherwise.';

CREATE FUNCTION reporting._analyze_incremental(query pg_catalog.text, time_type pg_catalog.regtype,
    OUT relations pg_catalog.regclass[], OUT uses_range pg_catalog.bool,
    OUT column_names pg_catalog.text[], OUT column_types pg_catalog.text[])
LANGUAGE C VOLATILE STRICT
AS 'MODULE_PATHNAME', 'reporting_analyze_incremental';
COMMENT ON FUNCTION reporting._analyze_incremental(pg_catalog.text, pg_catalog.regtype) IS
    'Internal: the relations a query reads (views expanded), whether it uses $1 and $2, and its output columns.';

-- The first instant of the bucket holding local time t.
CREATE FUNCTION reporting._bucket_floor(t pg_catalog.timestamp, width pg_catalog.interval)
RETURNS pg_catalog.timestamp
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN width OPERATOR(pg_catalog.=) '1 hour'::pg_catalog.interval THEN pg_catalog.date_trunc('hour', t)
        WHEN width OPERATOR(pg_catalog.=) '1 day'::pg_catalog.interval THEN pg_catalog.date_trunc('day', t)
        WHEN width OPERATOR(pg_catalog.=) '7 days'::pg_catalog.interval THEN pg_catalog.date_trunc('week', t)
        WHEN width OPERATOR(pg_catalog.=) '1 month'::pg_catalog.interval THEN pg_catalog.date_trunc('month', t)
        WHEN width OPERATOR(pg_catalog.=) '3 months'::pg_catalog.interval THEN pg_catalog.date_trunc('quarter', t)
        WHEN width OPERATOR(pg_catalog.=) '1 year'::pg_catalog.interval THEN pg_catalog.date_trunc('year', t)
        ELSE pg_catalog.date_bin(width, t, '2000-01-03 00:00'::pg_catalog.timestamp)
    END
$$;
COMMENT ON FUNCTION reporting._bucket_floor(pg_catalog.timestamp, pg_catalog.interval) IS
    'Internal: the start of the bucket of width holding local time t (calendar units by date_trunc, others by date_bin from Monday 2000-01-03).';

-- The merged ranges of buckets that changed values (local times, closed
-- ranges [lo, hi]) make dirty, each with the fact range to read for it.
CREATE FUNCTION reporting._dirty_buckets(report pg_catalog.regclass, lo pg_catalog.timestamp[],
                                         hi pg_catalog.timestamp[])
RETURNS TABLE (bucket_from pg_catalog.timestamp, bucket_to pg_catalog.timestamp,
               fact_from pg_catalog.timestamp, buckets pg_catalog.int8)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH d AS (SELECT i.bucket_width AS w, i.lookback AS back FROM reporting.incrementals i
                WHERE i.report OPERATOR(pg_catalog.=) $1),
    spans AS (
        SELECT pg_catalog.tsrange(reporting._bucket_floor(u.lo, d.w),
                                  reporting._bucket_floor(u.hi, d.w)
                                  OPERATOR(pg_catalog.+) (d.w OPERATOR(pg_catalog.*) (1 OPERATOR(pg_catalog.+) d.back))) AS s
          FROM d, ROWS FROM (pg_catalog.unnest($2), pg_catalog.unnest($3)) AS u (lo, hi)),
    merged AS (SELECT pg_catalog.unnest(pg_catalog.range_agg(s)) AS m FROM spans)
    SELECT pg_catalog.lower(m.m), pg_catalog.upper(m.m),
           pg_catalog.lower(m.m) OPERATOR(pg_catalog.-) (d.w OPERATOR(pg_catalog.*) d.back),
           (SELECT pg_catalog.count(*) FROM pg_catalog.generate_series(pg_catalog.lower(m.m),
                pg_catalog.upper(m.m) OPERATOR(pg_catalog.-) d.w, d.w))
      FROM merged m, d
$$;
COMMENT ON FUNCTION reporting._dirty_buckets(pg_catalog.regclass, pg_catalog.timestamp[], pg_catalog.timestamp[]) IS
    'Internal: the merged ranges of buckets an incremental report must recompute for changed local times [lo, hi], with the fact range each reads (lookback buckets further back).';

-- The buckets an incremental report spans, from its first to its last, or
-- to the first and last changed local times lo and hi when they reach
-- further (a report about to grow).
CREATE FUNCTION reporting._bucket_total(report pg_catalog.regclass,
                                        lo pg_catalog.timestamp[] DEFAULT NULL,
                                        hi pg_catalog.timestamp[] DEFAULT NULL)
RETURNS pg_catalog.int8
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    i reporting.incrementals;
    first_b pg_catalog.timestamp;
    last_b pg_catalog.timestamp;
    conv pg_catalog.text;
BEGIN
    SELECT * INTO i FROM reporting.incrementals x WHERE x.report OPERATOR(pg_catalog.=) $1;
    conv := CASE i.bucket_type
        WHEN 'pg_catalog.timestamptz'::pg_catalog.regtype THEN '(%s(%I) AT TIME ZONE %L)'
        ELSE '%s(%I)::pg_catalog.timestamp /* %L */' END;
    EXECUTE pg_catalog.format('SELECT ' || conv || ', ' || conv || ' FROM %s',
                              'pg_catalog.min', i.bucket_column, i.time_zone,
                              'pg_catalog.max', i.bucket_column, i.time_zone, $1)
       INTO first_b, last_b;
    first_b := LEAST(first_b, (SELECT pg_catalog.min(x) FROM pg_catalog.unnest($2) x));
    last_b := GREATEST(last_b, (SELECT pg_catalog.max(x) FROM pg_catalog.unnest($3) x));
    IF first_b IS NULL OR pg_catalog.isfinite(first_b) IS NOT TRUE OR pg_catalog.isfinite(last_b) IS NOT TRUE THEN
        RETURN 0;
    END IF;
    RETURN 1 OPERATOR(pg_catalog.+)
        pg_catalog.floor(pg_catalog.date_part('epoch', last_b OPERATOR(pg_catalog.-) first_b)
                         OPERATOR(pg_catalog./) pg_catalog.date_part('epoch', i.bucket_width))::pg_catalog.int8;
END
$$;
COMMENT ON FUNCTION reporting._bucket_total(pg_catalog.regclass, pg_catalog.timestamp[], pg_catalog.timestamp[]) IS
    'Internal: about how many buckets an incremental report spans, from its first to its last, or to the changed times lo and hi when they reach further.';

-- The tables a write into the fact table can land in: it and its
-- descendants (partitions, inheritance children).
CREATE FUNCTION reporting._fact_members(fact pg_catalog.regclass)
RETURNS SETOF pg_catalog.regclass
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE down (relid) AS (
        SELECT $1::pg_catalog.oid
        UNION
        SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN down d ON i.inhparent OPERATOR(pg_catalog.=) d.relid)
    SELECT d.relid::pg_catalog.regclass FROM down d
$$;

-- A fingerprint of what the query reads: every relation and its family,
-- with its relfilenode (TRUNCATE, rewrites) and the catalog rows DDL
-- rewrites (ALTER, ATTACH/DETACH, CREATE OR REPLACE VIEW, and any change of
-- a trigger: a capture trigger disabled, written through, enabled again).
CREATE FUNCTION reporting._incremental_fingerprint(report pg_catalog.regclass)
RETURNS pg_catalog.text
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT pg_catalog.md5(pg_catalog.string_agg(
               pg_catalog.format('%s:%s:%s:%s:%s', c.oid, c.relfilenode, c.xmin,
                   (SELECT pg_catalog.string_agg(r.xmin::pg_catalog.text, ',' ORDER BY r.oid)
                      FROM pg_catalog.pg_rewrite r WHERE r.ev_class OPERATOR(pg_catalog.=) c.oid),
                   -- every trigger but the capture triggers of other reports
                   -- (another report created or dropped changes nothing here)
                   (SELECT pg_catalog.string_agg(t.xmin::pg_catalog.text, ',' ORDER BY t.oid)
                      FROM pg_catalog.pg_trigger t WHERE t.tgrelid OPERATOR(pg_catalog.=) c.oid
                       AND NOT (t.tgfoid OPERATOR(pg_catalog.=) 'reporting._capture()'::pg_catalog.regprocedure::pg_catalog.oid
                                AND pg_catalog.split_part(pg_catalog.encode(t.tgargs, 'escape'), '\000', 1)
                                    OPERATOR(pg_catalog.<>) x.id::pg_catalog.text))),
               ';' ORDER BY c.oid))
      FROM (SELECT DISTINCT f.f, i.id
              FROM reporting.incrementals i
             CROSS JOIN LATERAL pg_catalog.unnest(i.relations OPERATOR(pg_catalog.||) i.report) s (s)
             CROSS JOIN LATERAL pg_catalog.unnest(reporting._relation_family(s.s)) f (f)
             WHERE i.report OPERATOR(pg_catalog.=) $1) x
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) x.f::pg_catalog.oid
$$;
COMMENT ON FUNCTION reporting._incremental_fingerprint(pg_catalog.regclass) IS
    'Internal: changes when a relation an incremental report reads (or the report) is altered, truncated, rewritten, attached or detached.';

-- Why a refresh of an incremental report must recompute everything though
-- its capture has the changed ranges, or NULL.  sources and generations:
-- what the refresh read of the tracker (NULL when unknown).
CREATE FUNCTION reporting._incremental_obstacle(report pg_catalog.regclass,
    sources pg_catalog.regclass[], generations pg_catalog.int8[], known pg_catalog.bool)
RETURNS pg_catalog.text
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    i reporting.incrementals;
    member pg_catalog.regclass;
    prev_sources pg_catalog.regclass[];
    prev_generations pg_catalog.int8[];
    fact_family pg_catalog.regclass[];
    k pg_catalog.int4;
    j pg_catalog.int4;
BEGIN
    SELECT * INTO i FROM reporting.incrementals x WHERE x.report OPERATOR(pg_catalog.=) $1;
    IF i.next_full_reason IS NOT NULL THEN
        RETURN i.next_full_reason;
    END IF;
    IF i.fingerprint IS NULL THEN
        RETURN 'it was never refreshed';
    END IF;
    IF i.fingerprint OPERATOR(pg_catalog.<>) reporting._incremental_fingerprint($1) THEN
        RETURN 'a table or view its query reads was altered, truncated, attached or detached';
    END IF;
    FOR member IN SELECT m FROM reporting._fact_members(i.fact) m
                   JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) m::pg_catalog.oid
                  WHERE c.relkind OPERATOR(pg_catalog.=) 'r' LOOP
        -- both capture triggers (tgtype: 7 is BEFORE ROW INSERT, 25 AFTER
        -- ROW UPDATE OR DELETE), enabled always, for this report
        IF (SELECT pg_catalog.count(DISTINCT t.tgtype) FROM pg_catalog.pg_trigger t
             WHERE t.tgrelid OPERATOR(pg_catalog.=) member::pg_catalog.oid
               AND t.tgfoid OPERATOR(pg_catalog.=) 'reporting._capture()'::pg_catalog.regprocedure::pg_catalog.oid
               AND t.tgenabled OPERATOR(pg_catalog.=) 'A'
               AND t.tgtype OPERATOR(pg_catalog.=) ANY (ARRAY[7, 25]::pg_catalog.int2[])
               AND pg_catalog.split_part(pg_catalog.encode(t.tgargs, 'escape'), '\000', 1)
                   OPERATOR(pg_catalog.=) i.id::pg_catalog.text) OPERATOR(pg_catalog.<>) 2 THEN
            RETURN pg_catalog.format('a capture trigger on table %s is missing or not enabled always', member);
        END IF;
        -- a BEFORE INSERT row trigger firing after the capture could change the row
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                    WHERE t.tgrelid OPERATOR(pg_catalog.=) member::pg_catalog.oid
                      AND t.tgenabled OPERATOR(pg_catalog.<>) 'D'
                      AND t.tgfoid OPERATOR(pg_catalog.<>) 'reporting._capture()'::pg_catalog.regprocedure::pg_catalog.oid
                      AND (t.tgtype::pg_catalog.int4 OPERATOR(pg_catalog.&) 7) OPERATOR(pg_catalog.=) 7
                      AND t.tgname::pg_catalog.text COLLATE "C" OPERATOR(pg_catalog.>)
                          ('~reporting_capture_' OPERATOR(pg_catalog.||) i.id) COLLATE "C") THEN
            RETURN pg_catalog.format('a BEFORE INSERT trigger on table %s fires after the capture', member);
        END IF;
    END LOOP;
    -- a change of any other source: compare with the last successful run
    SELECT pg_catalog.array_agg(DISTINCT f) INTO fact_family
      FROM pg_catalog.unnest(reporting._relation_family(i.fact)) f;
    IF EXISTS (SELECT 1 FROM pg_catalog.unnest($2) s WHERE s OPERATOR(pg_catalog.<>) ALL (fact_family)) THEN
        IF NOT known OR $2 IS NULL THEN
            RETURN 'the change generations of its other sources are unknown';
        END IF;
        SELECT u.tracked_sources, u.source_generations INTO prev_sources, prev_generations
          FROM reporting.runs u
         WHERE u.view OPERATOR(pg_catalog.=) $1 AND u.status OPERATOR(pg_catalog.=) 'refreshed'
         ORDER BY u.started_at DESC, u.id DESC LIMIT 1;
        FOR k IN 1 .. coalesce(pg_catalog.array_length($2, 1), 0) LOOP
            CONTINUE WHEN $2[k] OPERATOR(pg_catalog.=) ANY (fact_family);
            j := pg_catalog.array_position(prev_sources, $2[k]);
            IF j IS NULL OR $3[k] IS NULL OR prev_generations[j] IS NULL
               OR prev_generations[j] OPERATOR(pg_catalog.<>) $3[k] THEN
                RETURN pg_catalog.format('%s, which it reads besides its fact table, changed', $2[k]);
            END IF;
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION reporting._incremental_obstacle(pg_catalog.regclass, pg_catalog.regclass[], pg_catalog.int8[], pg_catalog.bool) IS
    'Internal: why the next refresh of an incremental report must recompute everything (DDL, TRUNCATE, a missing capture trigger, a change of another source), or NULL.';

COMMENT ON FUNCTION reporting._fact_members(pg_catalog.regclass) IS
    'Internal: a fact table and its descendants (partitions, inheritance children), where its rows can be written.';

REVOKE ALL ON FUNCTION reporting._capture(), reporting._guard(),
    reporting._bucket_floor(pg_catalog.timestamp, pg_catalog.interval),
    reporting._dirty_buckets(pg_catalog.regclass, pg_catalog.timestamp[], pg_catalog.timestamp[]),
    reporting._bucket_total(pg_catalog.regclass, pg_catalog.timestamp[], pg_catalog.timestamp[]),
    reporting._fact_members(pg_catalog.regclass),
    reporting._incremental_fingerprint(pg_catalog.regclass),
    reporting._incremental_obstacle(pg_catalog.regclass, pg_catalog.regclass[], pg_catalog.int8[], pg_catalog.bool)
    FROM PUBLIC;
-- create_incremental (as the caller) needs these; they check their caller
-- or only read what the caller may read
GRANT EXECUTE ON FUNCTION reporting._capture(), reporting._guard(),
    reporting._analyze_incremental(pg_catalog.text, pg_catalog.regtype),
    reporting._bucket_floor(pg_catalog.timestamp, pg_catalog.interval) TO PUBLIC;
GRANT EXECUTE ON PROCEDURE reporting._refresh_incremental(pg_catalog.oid) TO PUBLIC;

-- Record a new incremental report (as the extension's owner, after
-- checking that the caller owns the table and it is guarded; C).
CREATE FUNCTION reporting._record_incremental(report pg_catalog.regclass, query pg_catalog.text,
    fact pg_catalog.regclass, time_column pg_catalog.name, time_type pg_catalog.regtype,
    bucket_column pg_catalog.name, bucket_type pg_catalog.regtype, bucket_width pg_catalog.interval,
    time_zone pg_catalog.text, lookback pg_catalog.int4, full_refresh_above pg_catalog.float8,
    relations pg_catalog.regclass[], search_path pg_catalog.text)
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_record_incremental';
COMMENT ON FUNCTION reporting._record_incremental(pg_catalog.regclass, pg_catalog.text, pg_catalog.regclass, pg_catalog.name, pg_catalog.regtype, pg_catalog.name, pg_catalog.regtype, pg_catalog.interval, pg_catalog.text, pg_catalog.int4, pg_catalog.float8, pg_catalog.regclass[], pg_catalog.text) IS
    'Internal: records a new incremental report for create_incremental; only for a guarded table the caller owns.';
-- create_incremental runs as its caller: it needs these two
GRANT EXECUTE ON FUNCTION reporting._record_incremental(pg_catalog.regclass, pg_catalog.text, pg_catalog.regclass, pg_catalog.name, pg_catalog.regtype, pg_catalog.name, pg_catalog.regtype, pg_catalog.interval, pg_catalog.text, pg_catalog.int4, pg_catalog.float8, pg_catalog.regclass[], pg_catalog.text),
    reporting._fact_members(pg_catalog.regclass) TO PUBLIC;

-- An incremental report's sources are what its query reads (a table has no
-- rewrite rule for the catalog to show them), always: registering it again
-- without sources => keeps them, and sources given are added to them (a
-- change of a table its query reads that were not among its sources would
-- go unseen, and its buckets never recomputed).
CREATE FUNCTION reporting._keep_incremental_sources()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    reads pg_catalog.regclass[];
BEGIN
    SELECT pg_catalog.array_agg(r ORDER BY r) INTO reads
      FROM reporting.incrementals i
     CROSS JOIN LATERAL pg_catalog.unnest(i.relations) r
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r::pg_catalog.oid
     WHERE i.report OPERATOR(pg_catalog.=) NEW.view
       AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'm', 'f']::"char"[]);
    IF reads IS NOT NULL THEN
        SELECT pg_catalog.array_agg(DISTINCT s ORDER BY s) INTO NEW.sources
          FROM pg_catalog.unnest(pg_catalog.array_cat(NEW.sources, reads)) s;
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION reporting._keep_incremental_sources() FROM PUBLIC;
COMMENT ON FUNCTION reporting._keep_incremental_sources() IS
    'Internal: an incremental report''s sources always include what its query reads, whether it is registered again with sources or without.';

CREATE TRIGGER registrations_incremental_sources BEFORE INSERT OR UPDATE ON reporting.registrations
    FOR EACH ROW EXECUTE FUNCTION reporting._keep_incremental_sources();

-- When an incremental report is forgotten (unregistered, or its table
-- dropped), its capture triggers leave the fact table, so that writers stop
-- paying for them; a fact table locked for more than 2 seconds keeps them
-- (harmless: they note values for no one), with a WARNING saying how to
-- drop them later.
CREATE FUNCTION reporting._drop_capture_triggers()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t record;
    old_timeout pg_catalog.text := pg_catalog.current_setting('lock_timeout');
BEGIN
    FOR t IN SELECT g.tgname, g.tgrelid::pg_catalog.regclass AS rel FROM pg_catalog.pg_trigger g
              WHERE g.tgfoid OPERATOR(pg_catalog.=) 'reporting._capture()'::pg_catalog.regprocedure::pg_catalog.oid
                AND NOT g.tgisinternal AND g.tgparentid OPERATOR(pg_catalog.=) 0
                AND pg_catalog.split_part(pg_catalog.encode(g.tgargs, 'escape'), '\000', 1)
                    OPERATOR(pg_catalog.=) OLD.id::pg_catalog.text LOOP
        BEGIN
            PERFORM pg_catalog.set_config('lock_timeout', '2s', true);
            EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
            PERFORM pg_catalog.set_config('lock_timeout', old_timeout, true);
        EXCEPTION WHEN lock_not_available THEN
            PERFORM pg_catalog.set_config('lock_timeout', old_timeout, true);
            RAISE WARNING 'could not drop trigger "%" on table %', t.tgname, t.rel
                  USING DETAIL = 'Another transaction held a lock on the table for more than 2 seconds. The trigger is harmless: it captures changes for an incremental report that no longer exists.',
                        HINT = pg_catalog.format('Drop it later with: DROP TRIGGER %I ON %s;', t.tgname, t.rel);
        END;
    END LOOP;
    RETURN OLD;
END
$$;
REVOKE ALL ON FUNCTION reporting._drop_capture_triggers() FROM PUBLIC;
COMMENT ON FUNCTION reporting._drop_capture_triggers() IS
    'Internal: drops the capture triggers of an incremental report that is forgotten.';

CREATE TRIGGER incrementals_drop_capture AFTER DELETE ON reporting.incrementals
    FOR EACH ROW EXECUTE FUNCTION reporting._drop_capture_triggers();

-- ... and its entry in shared memory goes when that transaction commits, so
-- that dropped reports do not use up reporting.max_incremental_reports
CREATE FUNCTION reporting._forget_capture()
RETURNS trigger
LANGUAGE C
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_forget_capture';
REVOKE ALL ON FUNCTION reporting._forget_capture() FROM PUBLIC;
COMMENT ON FUNCTION reporting._forget_capture() IS
    'Internal: removes the shared capture entry of an incremental report that is forgotten, when the transaction commits.';
CREATE TRIGGER incrementals_forget_capture AFTER DELETE ON reporting.incrementals
    FOR EACH ROW EXECUTE FUNCTION reporting._forget_capture();

-- A refresh records a fingerprint: whatever next_full_reason asked for is
-- done (a full recompute) or was never needed.  Only create_incremental's
-- _note_population_gap sets both at once, and keeps its reason.
CREATE FUNCTION reporting._clear_next_full_reason()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.next_full_reason IS NOT DISTINCT FROM OLD.next_full_reason THEN
        NEW.next_full_reason := NULL;
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION reporting._clear_next_full_reason() FROM PUBLIC;
COMMENT ON FUNCTION reporting._clear_next_full_reason() IS
    'Internal: a refresh of an incremental report that records its fingerprint clears next_full_reason.';

CREATE TRIGGER incrementals_clear_next_full BEFORE UPDATE OF fingerprint ON reporting.incrementals
    FOR EACH ROW EXECUTE FUNCTION reporting._clear_next_full_reason();

-- create_incremental fills the report before it puts the capture triggers
-- on the fact table, so that the fact table's writers never wait for the
-- fill.  A write that commits after the fill's snapshot and before the
-- triggers exist is in neither: the change generations tell.  The fill (a
-- refresh) recorded the generation of every table of the fact table's
-- family before its snapshot; once the triggers exist (their creation waited
-- for every writer of the fact table to end), equal generations prove that
-- no write committed in between.  Returns why the next refresh must
-- recompute everything, or NULL.
CREATE FUNCTION reporting._population_gap(report pg_catalog.regclass)
RETURNS pg_catalog.text
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    i reporting.incrementals;
    u record;
    g record;
    m pg_catalog.regclass;
    k pg_catalog.int4;
BEGIN
    SELECT * INTO i FROM reporting.incrementals x WHERE x.report OPERATOR(pg_catalog.=) $1;
    SELECT r.tracking_epoch, r.tracking_database, r.tracked_sources, r.source_generations INTO u
      FROM reporting.runs r
     WHERE r.view OPERATOR(pg_catalog.=) $1 AND r.status OPERATOR(pg_catalog.=) 'refreshed'
     ORDER BY r.started_at DESC, r.id DESC LIMIT 1;
    IF NOT FOUND OR u.tracking_epoch IS NULL
       OR u.tracking_database IS DISTINCT FROM
          (SELECT d.oid FROM pg_catalog.pg_database d WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) THEN
        RETURN 'writes to its fact table may have committed between its first refresh and the creation of its capture triggers (the first refresh recorded no change generations)';
    END IF;
    FOR m IN SELECT f FROM reporting._fact_members(i.fact) f LOOP
        k := pg_catalog.array_position(u.tracked_sources, m);
        SELECT * INTO g FROM reporting._generation(ARRAY[m]);
        IF k IS NULL OR u.source_generations[k] IS NULL OR g.generation IS NULL
           OR g.epoch IS DISTINCT FROM u.tracking_epoch
           OR g.generation OPERATOR(pg_catalog.<>) u.source_generations[k] THEN
            RETURN pg_catalog.format('table %s was written between its first refresh and the creation of its capture triggers', m);
        END IF;
    END LOOP;
    RETURN NULL;
END
$$;
REVOKE ALL ON FUNCTION reporting._population_gap(pg_catalog.regclass) FROM PUBLIC;
COMMENT ON FUNCTION reporting._population_gap(pg_catalog.regclass) IS
    'Internal: why writes to the fact table may have committed between the first refresh of a new incremental report and the creation of its capture triggers, or NULL when the change generations prove none did.';

-- Record what _population_gap finds as the report's next_full_reason (C:
-- only for the report's owner, as the extension's owner).
CREATE FUNCTION reporting._note_population_gap(report pg_catalog.regclass)
RETURNS pg_catalog.text
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_note_population_gap';
COMMENT ON FUNCTION reporting._note_population_gap(pg_catalog.regclass) IS
    'Internal: for create_incremental, once the capture triggers exist: marks the new report for a full recompute at its next refresh when writes may have escaped both its first refresh and the capture; returns the reason, or NULL.';
REVOKE ALL ON FUNCTION reporting._note_population_gap(pg_catalog.regclass) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION reporting._note_population_gap(pg_catalog.regclass) TO PUBLIC;

-- The value of a result-changing setting that the current role's refreshes
-- run with (its login default): create_incremental resolves a query's names
-- and its default zone with these.
CREATE FUNCTION reporting._login_setting(name pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE C STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_login_setting';
COMMENT ON FUNCTION reporting._login_setting(pg_catalog.text) IS
    'Internal: the value of a result-changing setting (TimeZone, search_path, ...) that the current role''s refreshes run with: its login default in this database.';

-- reporting.create_incremental: see the README ("Incremental reports").
CREATE FUNCTION reporting.create_incremental(
    name               pg_catalog.text,
    query              pg_catalog.text,
    time_column        pg_catalog.text,
    bucket_column      pg_catalog.name,
    bucket_width       pg_catalog.interval DEFAULT '1 day',
    time_zone          pg_catalog.text DEFAULT NULL,
    lookback           pg_catalog.int4 DEFAULT 0,
    unique_key         pg_catalog.name[] DEFAULT NULL,
    every              pg_catalog.interval DEFAULT NULL,
    cron               pg_catalog.text DEFAULT NULL,
    full_refresh_above pg_catalog.float8 DEFAULT 0.5)
RETURNS pg_catalog.regclass
LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
    a record;
    fact pg_catalog.regclass;
    col pg_catalog.name;
    parts pg_catalog.text[];
    ttype pg_catalog.regtype;
    btype pg_catalog.regtype;
    -- by default the zone its refreshes run in: the owner's login default,
    -- not this session's TimeZone (a report's query runs with the former)
    tz pg_catalog.text := coalesce($6, reporting._login_setting('TimeZone'),
                                   pg_catalog.current_setting('TimeZone'));
    session_path pg_catalog.text := pg_catalog.current_setting('search_path');
    q pg_catalog.text;
    cols pg_catalog.text;
    rel pg_catalog.regclass;
    k pg_catalog.int4;
    key pg_catalog.name[] := coalesce($8, ARRAY[$4]);
    old_timeout pg_catalog.text;
    cid pg_catalog.text;
BEGIN
    IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL OR $4 IS NULL OR $5 IS NULL OR $7 IS NULL OR $11 IS NULL THEN
        RAISE EXCEPTION 'name, query, time_column, bucket_column, bucket_width, lookback and full_refresh_above must not be null'
              USING ERRCODE = '22004';
    END IF;
    IF $5 OPERATOR(pg_catalog.<=) '0'::pg_catalog.interval
       OR (pg_catalog.date_part('month', $5) OPERATOR(pg_catalog.<>) 0
           OR pg_catalog.date_part('year', $5) OPERATOR(pg_catalog.<>) 0)
          AND $5 OPERATOR(pg_catalog.<>) ALL (ARRAY['1 month', '3 months', '1 year']::pg_catalog.interval[]) THEN
        RAISE EXCEPTION 'invalid bucket width "%"', $5
              USING ERRCODE = '22023',
                    HINT = 'Use a positive interval of days, hours, minutes or seconds, or 1 month, 3 months or 1 year.';
    END IF;
    IF $7 OPERATOR(pg_catalog.<) 0 THEN
        RAISE EXCEPTION 'lookback must not be negative' USING ERRCODE = '22023',
              HINT = 'lookback is the number of buckets before a bucket that its rows read (6 for a rolling 7-day figure with daily buckets).';
    END IF;
    IF $11 OPERATOR(pg_catalog.<=) 0 OR $11 OPERATOR(pg_catalog.>) 1 THEN
        RAISE EXCEPTION 'full_refresh_above must be above 0 and at most 1' USING ERRCODE = '22023';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_names z WHERE z.name OPERATOR(pg_catalog.=) tz)
       AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_timezone_abbrevs z WHERE z.abbrev OPERATOR(pg_catalog.=) tz) THEN
        RAISE EXCEPTION 'time zone "%" is not recognized', tz USING ERRCODE = '22023';
    END IF;
    q := pg_catalog.regexp_replace($2, '[\s;]+$', '');

    -- names in the query and time_column are resolved as refreshes will,
    -- with the owner's login search_path (the report's own name, below,
    -- with this session's)
    PERFORM pg_catalog.set_config('search_path',
        coalesce(reporting._login_setting('search_path'), session_path), true);
    -- the fact table and its time column: "table.column" or a column only
    -- one relation of the query has
    parts := pg_catalog.parse_ident($3);
    col := parts[pg_catalog.array_length(parts, 1)];
    IF pg_catalog.array_length(parts, 1) OPERATOR(pg_catalog.>) 1 THEN
        -- quoted again: parse_ident removed the quotes of "Sales $"."Orders"
        fact := (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(p.p), '.' ORDER BY p.o)
                   FROM pg_catalog.unnest(parts[1:pg_catalog.array_length(parts, 1) OPERATOR(pg_catalog.-) 1])
                        WITH ORDINALITY AS p (p, o))::pg_catalog.regclass;
    END IF;
    -- parse with the time column's type: find it first
    IF fact IS NOT NULL THEN
        SELECT t.atttypid INTO ttype FROM pg_catalog.pg_attribute t
         WHERE t.attrelid OPERATOR(pg_catalog.=) fact AND t.attname OPERATOR(pg_catalog.=) col AND NOT t.attisdropped;
        IF ttype IS NULL THEN
            RAISE EXCEPTION 'column "%" of relation % does not exist', col, fact USING ERRCODE = '42703';
        END IF;
    END IF;
    IF ttype IS NULL THEN
        -- unqualified: parse once with timestamptz to find the relations
        SELECT * INTO a FROM reporting._analyze_incremental(q, 'pg_catalog.timestamptz');
        FOREACH rel IN ARRAY a.relations LOOP
            IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute t JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.attrelid
                        WHERE t.attrelid OPERATOR(pg_catalog.=) rel AND t.attname OPERATOR(pg_catalog.=) col
                          AND NOT t.attisdropped AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])) THEN
                IF fact IS NOT NULL THEN
                    RAISE EXCEPTION 'time column "%" is ambiguous', col USING ERRCODE = '42702',
                          HINT = 'Name the fact table too: time_column => ''table.column''.';
                END IF;
                fact := rel;
            END IF;
        END LOOP;
        IF fact IS NULL THEN
            RAISE EXCEPTION 'no table the query reads has a column "%"', col USING ERRCODE = '42703';
        END IF;
        SELECT t.atttypid INTO ttype FROM pg_catalog.pg_attribute t
         WHERE t.attrelid OPERATOR(pg_catalog.=) fact AND t.attname OPERATOR(pg_catalog.=) col;
    END IF;
    IF (SELECT c.relkind FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) fact)
       OPERATOR(pg_catalog.<>) ALL (ARRAY['r', 'p']::"char"[]) THEN
        RAISE EXCEPTION 'fact relation % is not a table', fact USING ERRCODE = '42809',
              HINT = 'The time column must be a column of a table or partitioned table that the query reads.';
    END IF;
    IF ttype OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog.timestamptz', 'pg_catalog.timestamp', 'pg_catalog.date']::pg_catalog.regtype[]) THEN
        RAISE EXCEPTION 'time column "%" of % is of type %', col, fact, ttype USING ERRCODE = '42804',
              HINT = 'The time column must be of type timestamptz, timestamp or date.';
    END IF;
    -- its capture triggers go on the fact table: find out now, not after
    -- the fill
    IF NOT pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
                                    WHERE c.oid OPERATOR(pg_catalog.=) fact), 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', fact USING ERRCODE = '42501',
              HINT = 'An incremental report''s capture triggers go on its fact table, enabled ALWAYS: create the report as the table''s owner (or a member of its role).';
    END IF;
    -- the capture sees an INSERT's row before PostgreSQL computes its
    -- generated columns
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_attribute t
                WHERE t.attrelid OPERATOR(pg_catalog.=) fact AND t.attname OPERATOR(pg_catalog.=) col
                  AND t.attgenerated OPERATOR(pg_catalog.<>) '') THEN
        RAISE EXCEPTION 'time column "%" of % is a generated column', col, fact USING ERRCODE = '0A000',
              HINT = 'Use the column it is computed from as the time column, and compute the bucket in the query.';
    END IF;

    SELECT * INTO a FROM reporting._analyze_incremental(q, ttype);
    IF NOT a.uses_range THEN
        RAISE EXCEPTION 'the query of an incremental report must use $1 and $2' USING ERRCODE = '42P02',
              HINT = pg_catalog.format('Restrict the fact table to the half-open range %s >= $1 AND %s < $2.', col, col);
    END IF;
    IF NOT fact OPERATOR(pg_catalog.=) ANY (a.relations) THEN
        RAISE EXCEPTION 'the query does not read fact table %', fact USING ERRCODE = '42P10';
    END IF;
    k := pg_catalog.array_position(a.column_names, $4::pg_catalog.text);
    IF k IS NULL THEN
        RAISE EXCEPTION 'the query has no output column "%"', $4 USING ERRCODE = '42703',
              HINT = 'bucket_column names the query''s output column holding each row''s bucket.';
    END IF;
    btype := pg_catalog.to_regtype(a.column_types[k]);
    IF btype IS NULL OR btype OPERATOR(pg_catalog.<>) ALL (ARRAY['pg_catalog.timestamptz', 'pg_catalog.timestamp', 'pg_catalog.date']::pg_catalog.regtype[]) THEN
        RAISE EXCEPTION 'bucket column "%" is of type %', $4, a.column_types[k] USING ERRCODE = '42804',
              HINT = 'The bucket column must be of type date, timestamp or timestamptz.';
    END IF;
    IF NOT $4 OPERATOR(pg_catalog.=) ANY (key) OR EXISTS (
        SELECT 1 FROM pg_catalog.unnest(key) u WHERE u::pg_catalog.text OPERATOR(pg_catalog.<>) ALL (a.column_names)) THEN
        RAISE EXCEPTION 'invalid unique key %', key USING ERRCODE = '42P10',
              HINT = 'The unique key is a list of the query''s output columns that includes the bucket column.';
    END IF;

    SELECT pg_catalog.string_agg(pg_catalog.format('%I %s', n, t), ', ' ORDER BY o)
      INTO cols FROM ROWS FROM (pg_catalog.unnest(a.column_names), pg_catalog.unnest(a.column_types)) WITH ORDINALITY AS u (n, t, o);
    PERFORM pg_catalog.set_config('search_path', session_path, true);
    EXECUTE pg_catalog.format('CREATE TABLE %s (%s)', $1, cols);
    rel := $1::pg_catalog.regclass;
    EXECUTE pg_catalog.format('ALTER TABLE %s ADD UNIQUE (%s)', rel,
        (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(u), ', ') FROM pg_catalog.unnest(key) u));
    EXECUTE pg_catalog.format('CREATE TRIGGER reporting_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s'
                              ' FOR EACH STATEMENT EXECUTE FUNCTION reporting._guard()', rel);
    EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER reporting_guard', rel);

    PERFORM reporting._record_incremental(rel, q, fact, col, ttype, $4, btype, $5, tz, $7, $11, a.relations,
        coalesce(reporting._login_setting('search_path'), session_path));
    SELECT x.id::pg_catalog.text INTO cid FROM reporting.incrementals x WHERE x.report OPERATOR(pg_catalog.=) rel;
    PERFORM reporting.register(rel, every => $9, cron => $10,
        sources => (SELECT pg_catalog.array_agg(r) FROM pg_catalog.unnest(a.relations) r
                     JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r::pg_catalog.oid
                    WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'm', 'f']::"char"[])));
    -- fill it first: reading the fact table does not stop its writers
    PERFORM reporting.refresh(rel);

    -- then the capture triggers, which make the fact table's writers wait
    -- until this transaction ends; never wait for them for long
    old_timeout := pg_catalog.current_setting('lock_timeout');
    PERFORM pg_catalog.set_config('lock_timeout', '5s', true);
    -- BEFORE INSERT, named to fire after every other BEFORE INSERT trigger
    -- (the refresh checks that none sorts after it); AFTER UPDATE OR DELETE
    EXECUTE pg_catalog.format('CREATE TRIGGER %I BEFORE INSERT ON %s'
                              ' FOR EACH ROW EXECUTE FUNCTION reporting._capture(%L, %L)',
                              '~reporting_capture_' OPERATOR(pg_catalog.||) cid, fact, cid, col);
    EXECUTE pg_catalog.format('CREATE TRIGGER %I AFTER UPDATE OR DELETE ON %s'
                              ' FOR EACH ROW EXECUTE FUNCTION reporting._capture(%L, %L)',
                              'reporting_capture_' OPERATOR(pg_catalog.||) cid, fact, cid, col);
    FOR a IN SELECT m FROM reporting._fact_members(fact) m LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', a.m,
                                  '~reporting_capture_' OPERATOR(pg_catalog.||) cid);
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', a.m,
                                  'reporting_capture_' OPERATOR(pg_catalog.||) cid);
    END LOOP;
    PERFORM pg_catalog.set_config('lock_timeout', old_timeout, true);
    -- a write committed between the fill and the triggers: the next
    -- refresh recomputes everything
    PERFORM reporting._note_population_gap(rel);
    RETURN rel;
END
$$;

COMMENT ON FUNCTION reporting.create_incremental(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.name, pg_catalog.interval, pg_catalog.text, pg_catalog.int4, pg_catalog.name[], pg_catalog.interval, pg_catalog.text, pg_catalog.float8) IS
    'Create an incremental report: a table owned by the caller, kept equal to query (with $1, $2: a half-open range of time_column of one fact table) by recomputing only the buckets (bucket_column, of bucket_width in time_zone, reading lookback buckets back) whose fact rows changed; registered like any report, filled by its first refresh.';

REVOKE ALL ON FUNCTION reporting.create_incremental(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.name, pg_catalog.interval, pg_catalog.text, pg_catalog.int4, pg_catalog.name[], pg_catalog.interval, pg_catalog.text, pg_catalog.float8) FROM PUBLIC;

-- whoever may register reports may create incremental ones
DO $$
DECLARE
    g pg_catalog.text;
BEGIN
    FOR g IN SELECT DISTINCT pg_catalog.quote_ident(r.rolname) FROM pg_catalog.pg_roles r
              WHERE NOT r.rolsuper
                AND pg_catalog.has_function_privilege(r.oid, 'reporting.register(pg_catalog.regclass, pg_catalog.interval, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.interval, pg_catalog.interval, pg_catalog.interval, pg_catalog.regclass[], pg_catalog.text)', 'EXECUTE') LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION reporting.create_incremental(pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.name, pg_catalog.interval, pg_catalog.text, pg_catalog.int4, pg_catalog.name[], pg_catalog.interval, pg_catalog.text, pg_catalog.float8) TO %s', g);
    END LOOP;
END
$$;

-- reporting.verify: the rows where an incremental report differs from its
-- query over all time, run with the report owner's TimeZone and
-- search_path (as its refreshes run).
CREATE FUNCTION reporting.verify(report pg_catalog.regclass)
RETURNS TABLE (difference pg_catalog.text, row_data pg_catalog.jsonb)
LANGUAGE plpgsql VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    i reporting.incrementals;
    sql pg_catalog.text;
    old_tz pg_catalog.text := pg_catalog.current_setting('TimeZone');
    old_path pg_catalog.text := pg_catalog.current_setting('search_path');
    lo_tz pg_catalog.timestamptz := '-infinity';
    hi_tz pg_catalog.timestamptz := 'infinity';
    lo_ts pg_catalog.timestamp := '-infinity';
    hi_ts pg_catalog.timestamp := 'infinity';
    lo_d pg_catalog.date := '-infinity';
    hi_d pg_catalog.date := 'infinity';
BEGIN
    -- only its owner sees its definition (row-level security)
    IF NOT pg_catalog.pg_has_role((SELECT c.relowner FROM pg_catalog.pg_class c
                                    WHERE c.oid OPERATOR(pg_catalog.=) $1), 'USAGE') THEN
        RAISE EXCEPTION 'must be owner of table %', $1 USING ERRCODE = '42501';
    END IF;
    SELECT * INTO i FROM reporting.incrementals x WHERE x.report OPERATOR(pg_catalog.=) $1;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'relation % is not an incremental report', $1 USING ERRCODE = '55000',
              HINT = 'Create one with reporting.create_incremental().';
    END IF;
    sql := pg_catalog.format(
        'WITH q AS MATERIALIZED (SELECT * FROM (%s) q), r AS MATERIALIZED (SELECT * FROM %s) '
        '(SELECT ''missing''::pg_catalog.text, pg_catalog.to_jsonb(x) FROM (SELECT * FROM q EXCEPT ALL SELECT * FROM r) x) '
        'UNION ALL (SELECT ''extra''::pg_catalog.text, pg_catalog.to_jsonb(y) FROM (SELECT * FROM r EXCEPT ALL SELECT * FROM q) y)',
        i.query, $1);
    -- the query runs as at its refreshes: TimeZone is the report's
    -- time_zone, search_path the one it was created with
    PERFORM pg_catalog.set_config('TimeZone', i.time_zone, true);
    PERFORM pg_catalog.set_config('search_path', i.search_path, true);
    BEGIN
        IF i.time_type OPERATOR(pg_catalog.=) 'pg_catalog.timestamptz'::pg_catalog.regtype THEN
            RETURN QUERY EXECUTE sql USING lo_tz, hi_tz;
        ELSIF i.time_type OPERATOR(pg_catalog.=) 'pg_catalog.timestamp'::pg_catalog.regtype THEN
            RETURN QUERY EXECUTE sql USING lo_ts, hi_ts;
        ELSE
            RETURN QUERY EXECUTE sql USING lo_d, hi_d;
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM pg_catalog.set_config('TimeZone', old_tz, true);
        PERFORM pg_catalog.set_config('search_path', old_path, true);
        RAISE;
    END;
    PERFORM pg_catalog.set_config('TimeZone', old_tz, true);
    PERFORM pg_catalog.set_config('search_path', old_path, true);
END
$$;

COMMENT ON FUNCTION reporting.verify(pg_catalog.regclass) IS
    'The rows where an incremental report differs from its query over all time (difference: missing, a row the query returns that the report lacks; extra, the reverse), with the report owner''s TimeZone and search_path; no row when it is correct.';
GRANT EXECUTE ON FUNCTION reporting.verify(pg_catalog.regclass) TO PUBLIC;

-------------------------------------------------------------------------------
-- Status: the columns of every concern above
-------------------------------------------------------------------------------

-- reporting.status: what it says of each view comes from the cache (one
-- lookup per view while nothing changed); a view that no longer exists
-- gets its last runs from the history; and why the scheduler cannot
-- schedule it (schedule_problem) or schedules nothing in this database now
-- (scheduling_paused).
--
CREATE OR REPLACE VIEW reporting.status WITH (security_invoker = true) AS
SELECT r.view,
       c.relowner::pg_catalog.regrole AS owner,
       coalesce(f.schedule, reporting._describe_schedule(r.every, r.cron, r.timezone)) AS schedule,
       r.every, r.cron, r.timezone,
       r.mode, r.refresh_when, r.max_age,
       coalesce(f.last_started_at, gone.started_at) AS last_started_at,
       coalesce(f.last_duration, gone.duration) AS last_duration,
       coalesce(f.last_status, gone.status) AS last_status,
       coalesce(f.last_mode, gone.mode) AS last_mode,
       coalesce(f.last_error, CASE WHEN gone.status OPERATOR(pg_catalog.=) ANY (ARRAY['failed', 'interrupted']) THEN gone.error END) AS last_error,
       coalesce(f.last_sqlstate, gone.sqlstate) AS last_sqlstate,
       coalesce(f.last_refreshed_at, gone_ok.started_at) AS last_refreshed_at,
       coalesce(f.rows, gone_ok.rows) AS rows,
       pg_catalog.now() OPERATOR(pg_catalog.-) coalesce(f.last_refreshed_at, gone_ok.started_at) AS age,
       CASE WHEN c.oid IS NULL
            THEN reporting._describe_freshness(false, r.every, r.cron, r.timezone, gone_ok.started_at,
                                               gone.status, gone.started_at, pg_catalog.now())
            ELSE f.sentence END AS freshness,
       c.oid IS NOT NULL AS view_exists,
       coalesce(c.relispopulated, false) AS populated,
       r.registered_at,
       f.sources_changed,
       f.last_source_change,
       f.changes AS source_changes,
       CASE WHEN f.state OPERATOR(pg_catalog.=) 'unknown' THEN f.verdict_reason END AS unknown_reason,
       f.next_refresh_at,
       coalesce(f.consecutive_failures, 0) AS consecutive_failures,
       f.retry_at,
       r.owner AS registered_owner,
       ARRAY(SELECT g.grantee FROM reporting.refresh_grants g
              WHERE g.view OPERATOR(pg_catalog.=) r.view
                AND g.granted_by::pg_catalog.oid OPERATOR(pg_catalog.=) c.relowner
                AND r.owner::pg_catalog.oid OPERATOR(pg_catalog.=) c.relowner
              ORDER BY g.grantee::pg_catalog.text COLLATE "C") AS refresh_grantees,
       b.reason AS refresh_blocked,
       b.hint AS refresh_blocked_hint,
       coalesce(f.state OPERATOR(pg_catalog.=) 'unchanged', false) AS fresh,
       f.as_of,
       pg_catalog.now() OPERATOR(pg_catalog.-) f.as_of AS lag,
       f.clock AS depends_on_clock,
       f.upstream AS behind_upstream,
       r.sources AS declared_sources,
       CASE WHEN c.oid IS NOT NULL THEN reporting._schedule_problem(r.view) END AS schedule_problem,
       coalesce(reporting._scheduling_paused(),
                (SELECT pg_catalog.format('scheduling is paused until %s (reporting.pause_scheduling())', p.until)
                   FROM (SELECT reporting.scheduling_paused_until() AS until) p
                  WHERE p.until IS NOT NULL)) AS scheduling_paused
  FROM reporting.registrations r
  LEFT JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.view::pg_catalog.oid
  LEFT JOIN LATERAL reporting._freshness_cached(r.view) f ON c.oid IS NOT NULL
  LEFT JOIN LATERAL (
        SELECT u.started_at, u.duration, u.status, u.mode, u.error, u.sqlstate
          FROM reporting.runs u
         WHERE u.view OPERATOR(pg_catalog.=) r.view AND c.oid IS NULL
         ORDER BY u.started_at DESC, u.id DESC
         LIMIT 1) gone ON true
  LEFT JOIN LATERAL (
        SELECT u.started_at, u.rows
          FROM reporting.runs u
         WHERE u.view OPERATOR(pg_catalog.=) r.view AND c.oid IS NULL
           AND u.status OPERATOR(pg_catalog.=) 'refreshed'
         ORDER BY u.started_at DESC, u.id DESC
         LIMIT 1) gone_ok ON true
  LEFT JOIN LATERAL reporting._refresh_blocked(r.view, r.owner) b ON c.oid IS NOT NULL;

COMMENT ON VIEW reporting.status IS
    'One row per registered view: schedule, mode, the last run and the last successful refresh, whether it can be missing committed changes (fresh; sources_changed true, false or NULL for unknown, through the materialized views it reads, with depends_on_clock and behind_upstream), as_of and lag, a freshness sentence in plain language, when the scheduler refreshes it next, its owner when registered, the roles granted its refresh, why the scheduler will not refresh it with what to do (refresh_blocked, refresh_blocked_hint), why it cannot schedule it (schedule_problem), and whether scheduling is paused in this database (scheduling_paused).';
