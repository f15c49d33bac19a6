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

-- (scheduler section)

-------------------------------------------------------------------------------
-- Redefining reports in migrations (issue 13)
-------------------------------------------------------------------------------

-- (redefinition section)

-------------------------------------------------------------------------------
-- Incremental reports (issue 14)
-------------------------------------------------------------------------------

-- An incremental report is a table the extension keeps equal to a query
-- with $1 and $2, a half-open range of one fact table's time column,
-- recomputing only the buckets whose fact rows changed (src/incremental.c,
-- src/incremental_capture.c).

CREATE TABLE reporting.incrementals (
    report             pg_catalog.regclass PRIMARY KEY
                       REFERENCES reporting.registrations (view) ON DELETE CASCADE
                       DEFERRABLE INITIALLY DEFERRED,
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
    fingerprint        pg_catalog.text,
    last_kind          pg_catalog.text,
    last_buckets       pg_catalog.int8,
    last_full_reason   pg_catalog.text,
    created_at         pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    CONSTRAINT incrementals_lookback_check CHECK (lookback OPERATOR(pg_catalog.>=) 0),
    CONSTRAINT incrementals_full_check
        CHECK (full_refresh_above OPERATOR(pg_catalog.>) 0 AND full_refresh_above OPERATOR(pg_catalog.<=) 1)
);

COMMENT ON TABLE reporting.incrementals IS
    'Incremental reports: their query, fact table and time column, buckets, and what their last refresh did (last_kind incremental or full, last_buckets, last_full_reason).';

SELECT pg_catalog.pg_extension_config_dump('reporting.incrementals', '');

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
    'Internal: BEFORE INSERT and AFTER UPDATE OR DELETE row trigger on the fact table of an incremental report (arguments: the report''s OID, the time column); notes the time values written for the commit to publish.';

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
                   (SELECT pg_catalog.string_agg(t.xmin::pg_catalog.text, ',' ORDER BY t.oid)
                      FROM pg_catalog.pg_trigger t WHERE t.tgrelid OPERATOR(pg_catalog.=) c.oid)),
               ';' ORDER BY c.oid))
      FROM (SELECT DISTINCT f.f
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
                   OPERATOR(pg_catalog.=) $1::pg_catalog.oid::pg_catalog.text) OPERATOR(pg_catalog.<>) 2 THEN
            RETURN pg_catalog.format('a capture trigger on table %s is missing or not enabled always', member);
        END IF;
        -- a BEFORE INSERT row trigger firing after the capture could change the row
        IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                    WHERE t.tgrelid OPERATOR(pg_catalog.=) member::pg_catalog.oid
                      AND t.tgenabled OPERATOR(pg_catalog.<>) 'D'
                      AND t.tgfoid OPERATOR(pg_catalog.<>) 'reporting._capture()'::pg_catalog.regprocedure::pg_catalog.oid
                      AND (t.tgtype::pg_catalog.int4 OPERATOR(pg_catalog.&) 7) OPERATOR(pg_catalog.=) 7
                      AND t.tgname::pg_catalog.text COLLATE "C" OPERATOR(pg_catalog.>)
                          ('~reporting_capture_' OPERATOR(pg_catalog.||) $1::pg_catalog.oid) COLLATE "C") THEN
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
    relations pg_catalog.regclass[])
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_record_incremental';
COMMENT ON FUNCTION reporting._record_incremental(pg_catalog.regclass, pg_catalog.text, pg_catalog.regclass, pg_catalog.name, pg_catalog.regtype, pg_catalog.name, pg_catalog.regtype, pg_catalog.interval, pg_catalog.text, pg_catalog.int4, pg_catalog.float8, pg_catalog.regclass[]) IS
    'Internal: records a new incremental report for create_incremental; only for a guarded table the caller owns.';
-- create_incremental runs as its caller: it needs these two
GRANT EXECUTE ON FUNCTION reporting._record_incremental(pg_catalog.regclass, pg_catalog.text, pg_catalog.regclass, pg_catalog.name, pg_catalog.regtype, pg_catalog.name, pg_catalog.regtype, pg_catalog.interval, pg_catalog.text, pg_catalog.int4, pg_catalog.float8, pg_catalog.regclass[]),
    reporting._fact_members(pg_catalog.regclass) TO PUBLIC;

-- An incremental report's sources are what its query reads (a table has no
-- rewrite rule for the catalog to show them): registering it again without
-- sources => keeps them.
CREATE FUNCTION reporting._keep_incremental_sources()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.sources IS NULL THEN
        SELECT pg_catalog.array_agg(r ORDER BY r) INTO NEW.sources
          FROM reporting.incrementals i
         CROSS JOIN LATERAL pg_catalog.unnest(i.relations) r
          JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r::pg_catalog.oid
         WHERE i.report OPERATOR(pg_catalog.=) NEW.view
           AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'm', 'f']::"char"[]);
    END IF;
    RETURN NEW;
END
$$;
REVOKE ALL ON FUNCTION reporting._keep_incremental_sources() FROM PUBLIC;
COMMENT ON FUNCTION reporting._keep_incremental_sources() IS
    'Internal: keeps the sources of an incremental report when it is registered again without sources.';

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
                    OPERATOR(pg_catalog.=) OLD.report::pg_catalog.oid::pg_catalog.text LOOP
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
    tz pg_catalog.text := coalesce($6, pg_catalog.current_setting('TimeZone'));
    q pg_catalog.text;
    cols pg_catalog.text;
    rel pg_catalog.regclass;
    k pg_catalog.int4;
    key pg_catalog.name[] := coalesce($8, ARRAY[$4]);
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

    -- the fact table and its time column: "table.column" or a column only
    -- one relation of the query has
    parts := pg_catalog.parse_ident($3);
    col := parts[pg_catalog.array_length(parts, 1)];
    IF pg_catalog.array_length(parts, 1) OPERATOR(pg_catalog.>) 1 THEN
        fact := pg_catalog.array_to_string(parts[1:pg_catalog.array_length(parts, 1) OPERATOR(pg_catalog.-) 1], '.')::pg_catalog.regclass;
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
    EXECUTE pg_catalog.format('CREATE TABLE %s (%s)', $1, cols);
    rel := $1::pg_catalog.regclass;
    EXECUTE pg_catalog.format('ALTER TABLE %s ADD UNIQUE (%s)', rel,
        (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(u), ', ') FROM pg_catalog.unnest(key) u));
    EXECUTE pg_catalog.format('CREATE TRIGGER reporting_guard BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON %s'
                              ' FOR EACH STATEMENT EXECUTE FUNCTION reporting._guard()', rel);
    EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER reporting_guard', rel);
    -- the capture trigger blocks the fact table's writers until this
    -- transaction ends; never wait for them for long
    PERFORM pg_catalog.set_config('lock_timeout', '5s', true);
    -- BEFORE INSERT, named to fire after every other BEFORE INSERT trigger
    -- (the refresh checks that none sorts after it); AFTER UPDATE OR DELETE
    EXECUTE pg_catalog.format('CREATE TRIGGER %I BEFORE INSERT ON %s'
                              ' FOR EACH ROW EXECUTE FUNCTION reporting._capture(%L, %L)',
                              '~reporting_capture_' OPERATOR(pg_catalog.||) rel::pg_catalog.oid, fact,
                              rel::pg_catalog.oid::pg_catalog.text, col);
    EXECUTE pg_catalog.format('CREATE TRIGGER %I AFTER UPDATE OR DELETE ON %s'
                              ' FOR EACH ROW EXECUTE FUNCTION reporting._capture(%L, %L)',
                              'reporting_capture_' OPERATOR(pg_catalog.||) rel::pg_catalog.oid, fact,
                              rel::pg_catalog.oid::pg_catalog.text, col);
    FOR a IN SELECT m FROM reporting._fact_members(fact) m LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', a.m,
                                  '~reporting_capture_' OPERATOR(pg_catalog.||) rel::pg_catalog.oid);
        EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE ALWAYS TRIGGER %I', a.m,
                                  'reporting_capture_' OPERATOR(pg_catalog.||) rel::pg_catalog.oid);
    END LOOP;

    SELECT * INTO a FROM reporting._analyze_incremental(q, ttype);
    PERFORM reporting._record_incremental(rel, q, fact, col, ttype, $4, btype, $5, tz, $7, $11, a.relations);
    PERFORM reporting.register(rel, every => $9, cron => $10,
        sources => (SELECT pg_catalog.array_agg(r) FROM pg_catalog.unnest(a.relations) r
                     JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r::pg_catalog.oid
                    WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'm', 'f']::"char"[])));
    PERFORM reporting.refresh(rel);
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
    PERFORM pg_catalog.set_config('TimeZone', coalesce(reporting._refresh_setting($1, 'TimeZone'), old_tz), true);
    PERFORM pg_catalog.set_config('search_path', coalesce(reporting._refresh_setting($1, 'search_path'), old_path), true);
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
