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
AS 'MODULE_PATHNAME', 'reporting_describe_age';

CREATE OR REPLACE FUNCTION reporting._describe_freshness(
    view_exists pg_catalog.bool, every pg_catalog.interval, cron pg_catalog.text,
    timezone pg_catalog.text, last_refreshed_at pg_catalog.timestamptz,
    last_status pg_catalog.text, last_started_at pg_catalog.timestamptz,
    now pg_catalog.timestamptz)
RETURNS pg_catalog.text
LANGUAGE C STABLE
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
       AND c.relname OPERATOR(pg_catalog.=) 'registrations';
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
           pg_catalog.bool_or(x.uncommitted) AS uncommitted
      INTO s FROM reporting.staleness($1) x;
    changes := coalesce(s.changes, 0);
    last_source_change := s.last_change;
    uncommitted := coalesce(s.uncommitted, false);
    IF s.any_changed THEN
        state := 'changed';
        sources_changed := true;
    ELSIF s.n OPERATOR(pg_catalog.=) s.known AND coalesce(provable, false) THEN
        state := 'unchanged';
        sources_changed := false;
    ELSE
        state := 'unknown';
        reason := coalesce(s.reason, CASE WHEN last_refreshed_at IS NULL THEN 'never refreshed' END,
                           'the last refresh could not prove what it saw (change tracking was off, or it ran in a REPEATABLE READ or SERIALIZABLE transaction)');
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
--                     reporting.registrations
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
    verdict_words := CASE WHEN f.last_refreshed_at IS NULL THEN ''
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
AS 'MODULE_PATHNAME', 'reporting_freshness_cached';

COMMENT ON FUNCTION reporting._freshness_cached(pg_catalog.regclass) IS
    'Internal: reporting._freshness_row() answered from the per-backend cache while nothing it depends on has changed.';

-- The history noted per view for the cache (src/run_generations.c).
CREATE FUNCTION reporting._note_run_change()
RETURNS trigger
LANGUAGE C
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

-- reporting.status: what it says of each view comes from the cache (one
-- lookup per view while nothing changed); a view that no longer exists
-- gets its last runs from the history.
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
       r.sources AS declared_sources
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
