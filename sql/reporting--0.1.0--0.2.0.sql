-- reporting 0.1.0 -> 0.2.0: change tracking.
--
-- A statement-level C trigger on every table a registered view reads notes
-- the table in a per-transaction set; at commit the table's change
-- generation is bumped in shared memory.  Refreshes record their sources'
-- generations, and status, staleness() and assert_fresh() compare.

\echo Use "ALTER EXTENSION reporting UPDATE TO '0.2.0'" to load this file. \quit

ALTER TABLE reporting.runs
    ADD COLUMN tracking_epoch     pg_catalog.int8,
    ADD COLUMN tracked_sources    pg_catalog.regclass[],
    ADD COLUMN source_generations pg_catalog.int8[];

COMMENT ON COLUMN reporting.runs.tracking_epoch IS
    'The change tracker''s epoch when the refresh read its sources'' generations; NULL when nothing could be proven (tracking off, or a REPEATABLE READ or SERIALIZABLE transaction).';
COMMENT ON COLUMN reporting.runs.tracked_sources IS
    'The tables (partitions, materialized views) whose change generations the refresh recorded, aligned with source_generations; a source that cannot be tracked is listed with a NULL generation.';
COMMENT ON COLUMN reporting.runs.source_generations IS
    'Each source''s change generation read before the refresh took its snapshot; NULL where it could not be tracked.';

-------------------------------------------------------------------------------
-- Schedules
-------------------------------------------------------------------------------

CREATE FUNCTION reporting.cron_next(
    cron     pg_catalog.text,
    timezone pg_catalog.text DEFAULT NULL,
    after    pg_catalog.timestamptz DEFAULT pg_catalog.now())
RETURNS pg_catalog.timestamptz
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_cron_next_sql';

COMMENT ON FUNCTION reporting.cron_next(pg_catalog.text, pg_catalog.text, pg_catalog.timestamptz) IS
    'When a 5-field cron schedule next runs after "after", in "timezone" (default: the session''s): once per matching local time across daylight-saving changes.';

-------------------------------------------------------------------------------
-- The trigger and the sources it watches
-------------------------------------------------------------------------------

-- No SET clause: it runs no SQL, and a SET would cost every write a GUC
-- save and restore.
CREATE FUNCTION reporting.track_change()
RETURNS trigger
LANGUAGE C
AS 'MODULE_PATHNAME', 'reporting_track_change';

COMMENT ON FUNCTION reporting.track_change() IS
    'Statement-level trigger on the tables registered views read: notes the table as changed by the current transaction. Does nothing without shared_preload_libraries = ''reporting''.';

-- What one view reads, found by walking the rewrite rules of the view
-- through plain views and materialized views.  A function of one view, so
-- that status, staleness and refreshes of one view walk only its own tree.
CREATE FUNCTION reporting._sources_of(view pg_catalog.regclass)
RETURNS TABLE (source pg_catalog.regclass, source_kind pg_catalog.text,
               via pg_catalog.regclass[], through_materialized_view pg_catalog.bool)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE walk (relid, via, through_matview, depth) AS (
        SELECT $1::pg_catalog.oid, ARRAY[]::pg_catalog.regclass[], false, 0
        UNION
        SELECT d.refobjid,
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
    SELECT DISTINCT ON (w.relid)
           w.relid::pg_catalog.regclass,
           CASE c.relkind WHEN 'r' THEN 'table'
                          WHEN 'p' THEN 'partitioned table'
                          WHEN 'm' THEN 'materialized view'
                          WHEN 'f' THEN 'foreign table' END,
           w.via,
           w.through_matview
      FROM walk w
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) w.relid
     WHERE w.depth OPERATOR(pg_catalog.>) 0
       AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'm', 'f']::"char"[])
     ORDER BY w.relid, w.through_matview, pg_catalog.cardinality(w.via)
$$;

CREATE OR REPLACE VIEW reporting.sources WITH (security_invoker = true) AS
SELECT r.view, s.source, s.source_kind, s.via, s.through_materialized_view,
       EXISTS (SELECT 1 FROM reporting.registrations u
                WHERE u.view::pg_catalog.oid OPERATOR(pg_catalog.=) s.source::pg_catalog.oid) AS registered_upstream
  FROM reporting.registrations r
 CROSS JOIN LATERAL reporting._sources_of(r.view) s;

-- For each source a view's freshness depends on: the tables whose change
-- generations stand for it (a partitioned table with all its partitions; a
-- materialized view, changed by its own refresh) and, when it cannot be
-- tracked, why.
CREATE FUNCTION reporting._tracked_sources(view pg_catalog.regclass)
RETURNS TABLE (source pg_catalog.regclass, source_kind pg_catalog.text,
               members pg_catalog.regclass[], reason pg_catalog.text)
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.source, s.source_kind, m.members,
           CASE WHEN s.source_kind OPERATOR(pg_catalog.=) 'foreign table'
                THEN 'changes to a foreign table happen on another server and cannot be seen'
                WHEN s.source_kind OPERATOR(pg_catalog.=) 'materialized view' THEN NULL
                ELSE coalesce(
                     (SELECT pg_catalog.format('table %s has no change-tracking trigger; register the view again to add it', u.member)
                        FROM pg_catalog.unnest(m.members) AS u (member)
                       WHERE NOT EXISTS (
                             SELECT 1 FROM pg_catalog.pg_trigger t
                              WHERE t.tgrelid OPERATOR(pg_catalog.=) u.member::pg_catalog.oid
                                AND t.tgname OPERATOR(pg_catalog.=) 'reporting_track_changes'
                                AND t.tgfoid OPERATOR(pg_catalog.=) 'reporting.track_change()'::pg_catalog.regprocedure::pg_catalog.oid
                                AND t.tgenabled OPERATOR(pg_catalog.=) 'A')
                       ORDER BY u.member::pg_catalog.oid
                       LIMIT 1),
                     -- logical replication applies changes firing row triggers only
                     (SELECT pg_catalog.format('table %s receives logical replication and has no row-level change-tracking trigger; register the view again to add it', u.member)
                        FROM pg_catalog.unnest(m.members) AS u (member)
                       WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_subscription_rel sr
                                      WHERE sr.srrelid OPERATOR(pg_catalog.=) u.member::pg_catalog.oid)
                         AND NOT EXISTS (
                             SELECT 1 FROM pg_catalog.pg_trigger t
                              WHERE t.tgrelid OPERATOR(pg_catalog.=) u.member::pg_catalog.oid
                                AND t.tgname OPERATOR(pg_catalog.=) 'reporting_track_replicated'
                                AND t.tgfoid OPERATOR(pg_catalog.=) 'reporting.track_change()'::pg_catalog.regprocedure::pg_catalog.oid
                                AND t.tgenabled OPERATOR(pg_catalog.=) 'R')
                       ORDER BY u.member::pg_catalog.oid
                       LIMIT 1))
           END
      FROM reporting._sources_of($1) s
      CROSS JOIN LATERAL (
            SELECT CASE WHEN s.source_kind OPERATOR(pg_catalog.=) 'partitioned table'
                        THEN (SELECT pg_catalog.array_agg(p.relid ORDER BY p.relid::pg_catalog.oid)
                                FROM pg_catalog.pg_partition_tree(s.source) p)
                        ELSE ARRAY[s.source] END AS members) m
     WHERE NOT s.through_materialized_view
$$;

COMMENT ON FUNCTION reporting._tracked_sources(pg_catalog.regclass) IS
    'Internal: the sources a view''s freshness depends on, the tables tracked for each, and why a source cannot be tracked.';

-- Put the trigger on every table the view's freshness depends on that does
-- not carry it yet.  Created by the extension's owner so that it can be
-- enabled ALWAYS (logical replication apply counts too), but only on tables
-- on which the requesting role holds the TRIGGER privilege: a table's owner
-- decides whether its writes are tracked.
CREATE FUNCTION reporting._attach_triggers(view pg_catalog.regclass, requester pg_catalog.oid)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    member pg_catalog.regclass;
    subscribed pg_catalog.bool;
BEGIN
    FOR member, subscribed IN
        SELECT DISTINCT u.member,
               EXISTS (SELECT 1 FROM pg_catalog.pg_subscription_rel sr
                        WHERE sr.srrelid OPERATOR(pg_catalog.=) u.member::pg_catalog.oid)
          FROM reporting._tracked_sources(view) t
         CROSS JOIN pg_catalog.unnest(t.members) AS u (member)
          JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) u.member::pg_catalog.oid
         WHERE c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])
    LOOP
        IF NOT pg_catalog.has_table_privilege(requester, member, 'TRIGGER') THEN
            IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                            WHERE g.tgrelid OPERATOR(pg_catalog.=) member::pg_catalog.oid
                              AND g.tgname OPERATOR(pg_catalog.=) 'reporting_track_changes') THEN
                RAISE WARNING 'cannot track changes to table "%"', member
                    USING DETAIL = pg_catalog.format('Role "%s" has no TRIGGER privilege on it, so the freshness of "%s" is unknown for this source.',
                                                     requester::pg_catalog.regrole, view),
                          HINT = pg_catalog.format('GRANT TRIGGER ON %s TO %s, then register the view again.',
                                                   member, requester::pg_catalog.regrole);
            END IF;
            CONTINUE;
        END IF;
        -- statement level, ALWAYS: every local write, in any replication role
        PERFORM reporting._add_trigger(member, 'reporting_track_changes',
            'AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE', 'STATEMENT', 'ALWAYS');
        -- row level, REPLICA: what logical replication applies, which fires
        -- no statement trigger; only on tables that receive it, so that
        -- other writers pay nothing for it
        IF subscribed THEN
            PERFORM reporting._add_trigger(member, 'reporting_track_replicated',
                'AFTER INSERT OR UPDATE OR DELETE', 'ROW', 'REPLICA');
        END IF;
    END LOOP;
END
$$;

-- Create one of the tracking triggers unless the table has it already; a
-- failure only warns.
CREATE FUNCTION reporting._add_trigger(member pg_catalog.regclass, name pg_catalog.text,
                                       events pg_catalog.text, level pg_catalog.text,
                                       enabled pg_catalog.text)
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    -- the partition event trigger may have added it meanwhile
    IF EXISTS (SELECT 1 FROM pg_catalog.pg_trigger g
                WHERE g.tgrelid OPERATOR(pg_catalog.=) member::pg_catalog.oid
                  AND g.tgname OPERATOR(pg_catalog.=) name) THEN
        RETURN;
    END IF;
    EXECUTE pg_catalog.format('CREATE TRIGGER %I %s ON %s FOR EACH %s EXECUTE FUNCTION reporting.track_change()',
                              name, events, member, level);
    EXECUTE pg_catalog.format('ALTER TABLE %s ENABLE %s TRIGGER %I', member, enabled, name);
EXCEPTION WHEN OTHERS THEN
    RAISE WARNING 'cannot track changes to table "%"', member
        USING DETAIL = pg_catalog.format('Adding the trigger failed: %s', SQLERRM);
END
$$;

REVOKE ALL ON FUNCTION reporting._add_trigger(pg_catalog.regclass, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text) FROM PUBLIC;

REVOKE ALL ON FUNCTION reporting._attach_triggers(pg_catalog.regclass, pg_catalog.oid) FROM PUBLIC;

-- Remove the trigger from tables no registered view depends on any more.
CREATE FUNCTION reporting._detach_unneeded_triggers()
RETURNS void
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    member pg_catalog.regclass;
    trigger_name pg_catalog.name;
BEGIN
    FOR member, trigger_name IN
        SELECT g.tgrelid::pg_catalog.regclass, g.tgname
          FROM pg_catalog.pg_trigger g
         WHERE g.tgname OPERATOR(pg_catalog.=) ANY (ARRAY['reporting_track_changes', 'reporting_track_replicated'])
           AND g.tgfoid OPERATOR(pg_catalog.=) 'reporting.track_change()'::pg_catalog.regprocedure::pg_catalog.oid
           AND NOT EXISTS (
                SELECT 1
                  FROM reporting.registrations r
                 CROSS JOIN LATERAL reporting._tracked_sources(r.view) t
                 WHERE g.tgrelid::pg_catalog.regclass OPERATOR(pg_catalog.=) ANY (t.members))
    LOOP
        EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', trigger_name, member);
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION reporting._detach_unneeded_triggers() FROM PUBLIC;

CREATE OR REPLACE FUNCTION reporting._forget_dropped_views()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    forgotten pg_catalog.int8;
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
    GET DIAGNOSTICS forgotten = ROW_COUNT;
    IF forgotten OPERATOR(pg_catalog.>) 0 THEN
        PERFORM reporting._detach_unneeded_triggers();
    END IF;
END
$$;

-- A partition created or attached under a tracked table is tracked too,
-- so a partitioned source stays known as it grows.  A failure here only
-- warns: the user's DDL must not fail because of tracking.
CREATE FUNCTION reporting._track_new_partitions()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part pg_catalog.regclass;
BEGIN
    FOR part IN
        SELECT DISTINCT i.inhrelid::pg_catalog.regclass
          FROM pg_catalog.pg_event_trigger_ddl_commands() c
          JOIN pg_catalog.pg_inherits i
            ON c.objid OPERATOR(pg_catalog.=) i.inhrelid OR c.objid OPERATOR(pg_catalog.=) i.inhparent
          JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) i.inhrelid
         WHERE c.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
           AND k.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p']::"char"[])
           AND k.relispartition
           AND EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                        WHERE t.tgrelid OPERATOR(pg_catalog.=) i.inhparent
                          AND t.tgname OPERATOR(pg_catalog.=) 'reporting_track_changes'
                          AND t.tgfoid OPERATOR(pg_catalog.=) 'reporting.track_change()'::pg_catalog.regprocedure::pg_catalog.oid)
           AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_trigger t
                            WHERE t.tgrelid OPERATOR(pg_catalog.=) i.inhrelid
                              AND t.tgname OPERATOR(pg_catalog.=) 'reporting_track_changes')
    LOOP
        PERFORM reporting._add_trigger(part, 'reporting_track_changes',
            'AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE', 'STATEMENT', 'ALWAYS');
    END LOOP;
END
$$;

REVOKE ALL ON FUNCTION reporting._track_new_partitions() FROM PUBLIC;

CREATE EVENT TRIGGER reporting_track_new_partitions ON ddl_command_end
    WHEN TAG IN ('CREATE TABLE', 'ALTER TABLE')
    EXECUTE FUNCTION reporting._track_new_partitions();

-------------------------------------------------------------------------------
-- Reading generations: staleness(), assert_fresh(), status
-------------------------------------------------------------------------------

CREATE FUNCTION reporting._generation(
    members pg_catalog.regclass[],
    OUT epoch pg_catalog.int8, OUT generation pg_catalog.int8,
    OUT last_change pg_catalog.timestamptz, OUT reason pg_catalog.text)
RETURNS record
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_generation';

COMMENT ON FUNCTION reporting._generation(pg_catalog.regclass[]) IS
    'Internal: the current change generation of a source (summed over its tables), with the tracker''s epoch; NULL with a reason when unknown.';

CREATE FUNCTION reporting.staleness(view pg_catalog.regclass)
RETURNS TABLE (source pg_catalog.regclass, source_kind pg_catalog.text,
               changed pg_catalog.bool, changes pg_catalog.int8,
               last_change pg_catalog.timestamptz, reason pg_catalog.text)
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    WITH reg AS (
        SELECT r.view FROM reporting.registrations r
         WHERE r.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
    ), last AS (
        SELECT u.tracking_epoch, u.tracked_sources, u.source_generations
          FROM reporting.runs u
         WHERE u.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
           AND u.status OPERATOR(pg_catalog.=) 'refreshed'
         ORDER BY u.started_at DESC, u.id DESC
         LIMIT 1
    ), recorded AS (
        -- what the last refresh recorded, one generation per table
        SELECT x.tbl, x.gen
          FROM last CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(last.tracked_sources),
                                                  pg_catalog.unnest(last.source_generations)) AS x (tbl, gen)
    ), facts AS (
        SELECT EXISTS (SELECT 1 FROM last) AS refreshed,
               (SELECT l.tracking_epoch FROM last l) AS recorded_epoch,
               coalesce((SELECT l.tracked_sources IS NOT NULL FROM last l), false) AS has_record,
               (SELECT g.epoch FROM reporting._generation(ARRAY[]::pg_catalog.regclass[]) g) AS epoch
    ), now_read AS (
        -- every table each source stands for, with its generation now
        SELECT t.source, t.source_kind, t.reason AS untracked, u.member,
               g.generation, g.last_change, g.reason AS unknown,
               rec.gen AS recorded, rec.tbl IS NOT NULL AS was_recorded
          FROM reg
         CROSS JOIN LATERAL reporting._tracked_sources(reg.view) t
         CROSS JOIN LATERAL pg_catalog.unnest(t.members) AS u (member)
         CROSS JOIN LATERAL reporting._generation(ARRAY[u.member]) g
          LEFT JOIN recorded rec ON rec.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) u.member::pg_catalog.oid
    ), per_source AS (
        SELECT n.source, n.source_kind,
               pg_catalog.min(n.untracked) AS untracked,
               pg_catalog.min(n.unknown) AS unknown,
               pg_catalog.bool_or(n.generation OPERATOR(pg_catalog.<>) n.recorded) AS some_changed,
               pg_catalog.bool_or(NOT n.was_recorded OR n.recorded IS NULL) AS some_unrecorded,
               coalesce(pg_catalog.sum(n.generation OPERATOR(pg_catalog.-) n.recorded)
                        FILTER (WHERE n.generation OPERATOR(pg_catalog.>) n.recorded), 0)::pg_catalog.int8 AS changes,
               pg_catalog.max(n.last_change) AS last_change
          FROM now_read n
         GROUP BY n.source, n.source_kind
    ), verdict AS (
        SELECT p.*,
               CASE WHEN p.untracked IS NOT NULL THEN p.untracked
                    WHEN p.unknown IS NOT NULL THEN p.unknown
                    WHEN NOT f.refreshed THEN 'never refreshed'
                    WHEN NOT f.has_record THEN 'the last refresh recorded nothing about its sources (it ran before change tracking was installed)'
                    WHEN f.recorded_epoch IS NULL THEN 'the last refresh could not prove what it saw (change tracking was off, or it ran in a REPEATABLE READ or SERIALIZABLE transaction)'
                    WHEN f.recorded_epoch OPERATOR(pg_catalog.<>) f.epoch THEN 'unknown since the server restarted'
                    WHEN coalesce(p.some_changed, false) THEN NULL
                    WHEN p.some_unrecorded THEN 'part of it was not tracked when the view was last refreshed'
               END AS why_unknown
          FROM per_source p, facts f
    )
    SELECT * FROM (
    SELECT v.source, v.source_kind,
           CASE WHEN v.why_unknown IS NULL THEN coalesce(v.some_changed, false) END,
           CASE WHEN v.why_unknown IS NULL THEN v.changes END,
           v.last_change, v.why_unknown
      FROM verdict v
    UNION ALL
    -- a table read at the last refresh and no longer (a detached or dropped
    -- partition, a redefined view): what it contributed is gone
    SELECT rec.tbl, 'no longer read', true, NULL, NULL, NULL
      FROM recorded rec, facts f
     WHERE rec.gen IS NOT NULL
       AND f.recorded_epoch OPERATOR(pg_catalog.=) f.epoch
       AND NOT EXISTS (SELECT 1 FROM now_read n
                        WHERE n.member::pg_catalog.oid OPERATOR(pg_catalog.=) rec.tbl::pg_catalog.oid)
    ) AS s (source, source_kind, changed, changes, last_change, reason)
    ORDER BY s.source::pg_catalog.text COLLATE "C"
$$;

COMMENT ON FUNCTION reporting.staleness(pg_catalog.regclass) IS
    'One row per source of a registered view: whether committed changes to it can be missing from the view (changed true), cannot (false) or it is unknown (NULL, with the reason), how many, and when it last changed.';

-- The view-level verdict: changed if any source changed, unchanged if every
-- source is known unchanged, unknown otherwise.
CREATE FUNCTION reporting._freshness_state(view pg_catalog.regclass,
    OUT sources_changed pg_catalog.bool, OUT changes pg_catalog.int8,
    OUT last_source_change pg_catalog.timestamptz, OUT reason pg_catalog.text)
RETURNS record
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN pg_catalog.bool_or(s.changed) THEN true
                WHEN pg_catalog.count(*) OPERATOR(pg_catalog.=) pg_catalog.count(s.changed)
                     AND EXISTS (SELECT 1 FROM reporting.runs u
                                  WHERE u.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
                                    AND u.status OPERATOR(pg_catalog.=) 'refreshed'
                                    AND u.tracked_sources IS NOT NULL
                                    AND u.tracking_epoch IS NOT NULL) THEN false END,
           coalesce(pg_catalog.sum(s.changes) FILTER (WHERE s.changed), 0)::pg_catalog.int8,
           pg_catalog.max(s.last_change),
           pg_catalog.min(s.reason)
      FROM reporting.staleness($1) s
$$;

-- Why refresh_all() may skip a view: registered refresh_when => 'changed',
-- sources known unchanged, populated, and not older than its max_age.
CREATE FUNCTION reporting._skip_reason(view pg_catalog.regclass)
RETURNS pg_catalog.text
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT 'sources unchanged since the last refresh'
      FROM reporting.registrations r
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.view::pg_catalog.oid
     WHERE r.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
       AND r.refresh_when OPERATOR(pg_catalog.=) 'changed'
       AND c.relispopulated
       AND (r.max_age IS NULL OR (
            SELECT pg_catalog.max(u.started_at) FROM reporting.runs u
             WHERE u.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
               AND u.status OPERATOR(pg_catalog.=) 'refreshed')
            OPERATOR(pg_catalog.>) (pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) r.max_age))
       AND (SELECT f.sources_changed FROM reporting._freshness_state($1) f) IS FALSE
$$;

CREATE FUNCTION reporting.assert_fresh(view pg_catalog.regclass, within pg_catalog.interval)
RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    state record;
    refreshed_at pg_catalog.timestamptz;
    age pg_catalog.interval;
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

    SELECT * INTO state FROM reporting._freshness_state(view);
    IF state.sources_changed IS FALSE THEN
        RETURN;
    END IF;
    SELECT pg_catalog.max(u.started_at) INTO refreshed_at FROM reporting.runs u
     WHERE u.view::pg_catalog.oid OPERATOR(pg_catalog.=) view::pg_catalog.oid
       AND u.status OPERATOR(pg_catalog.=) 'refreshed';
    age := pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) refreshed_at;
    -- any change it missed came after its last refresh started
    IF age OPERATOR(pg_catalog.<) within THEN
        RETURN;
    END IF;

    IF refreshed_at IS NULL THEN
        RAISE EXCEPTION 'materialized view "%" has never been refreshed', view
            USING ERRCODE = 'RP001',
                  HINT = 'Refresh it with reporting.refresh() or reporting.refresh_all().';
    ELSIF state.sources_changed THEN
        RAISE EXCEPTION 'materialized view "%" has missed changes for up to %', view,
                        reporting._describe_duration(age)
            USING ERRCODE = 'RP001',
                  DETAIL = pg_catalog.format('%s committed %s to its sources since its last refresh %s; the latest was %s.',
                                             state.changes,
                                             CASE WHEN state.changes OPERATOR(pg_catalog.=) 1 THEN 'change' ELSE 'changes' END,
                                             reporting._describe_age(age),
                                             reporting._describe_age(pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) state.last_source_change)),
                  HINT = 'Refresh it, or accept more staleness with a larger "within".';
    ELSE
        RAISE EXCEPTION 'freshness of materialized view "%" is unknown, and its last refresh was % ago', view,
                        reporting._describe_duration(age)
            USING ERRCODE = 'RP001',
                  DETAIL = pg_catalog.format('Its freshness is unknown: %s.', state.reason),
                  HINT = 'Refresh it to make its freshness known again.';
    END IF;
END
$$;

COMMENT ON FUNCTION reporting.assert_fresh(pg_catalog.regclass, pg_catalog.interval) IS
    'Return quietly when the view has missed no committed change, or missed changes for less than "within"; otherwise raise SQLSTATE RP001 saying how stale it is and why.';

-- "12 minutes", "2 hours", "3 days": an age without "ago"
CREATE FUNCTION reporting._describe_duration(age pg_catalog.interval)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE WHEN d OPERATOR(pg_catalog.=) 'just now' THEN 'less than a second'
                ELSE pg_catalog.regexp_replace(d, ' ago$', '') END
      FROM reporting._describe_age(age) AS d
$$;

-- The freshness sentence, now with what tracking knows.
CREATE FUNCTION reporting._describe_freshness(
    view_exists pg_catalog.bool, every pg_catalog.interval, cron pg_catalog.text,
    timezone pg_catalog.text, last_refreshed_at pg_catalog.timestamptz,
    last_status pg_catalog.text, last_started_at pg_catalog.timestamptz,
    now pg_catalog.timestamptz, sources_changed pg_catalog.bool,
    changes pg_catalog.int8, unknown_reason pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT reporting._describe_freshness(view_exists, every, cron, timezone, last_refreshed_at,
                                         last_status, last_started_at, now)
        OPERATOR(pg_catalog.||)
        CASE WHEN NOT view_exists OR last_refreshed_at IS NULL THEN ''
             WHEN sources_changed IS FALSE THEN '; sources unchanged since the last refresh'
             WHEN sources_changed THEN pg_catalog.format('; %s source %s since the last refresh', changes,
                                      CASE WHEN changes OPERATOR(pg_catalog.=) 1 THEN 'change' ELSE 'changes' END)
             WHEN unknown_reason OPERATOR(pg_catalog.=) 'unknown since the server restarted' THEN '; unknown since the server restarted'
             WHEN unknown_reason LIKE 'change tracking is off%' THEN '; change tracking is off (reporting is not in shared_preload_libraries)'
             ELSE '; freshness unknown: ' OPERATOR(pg_catalog.||) coalesce(unknown_reason, 'no source can be tracked')
        END
$$;

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
       CASE WHEN last.status OPERATOR(pg_catalog.=) 'failed' THEN last.error END AS last_error,
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
       CASE WHEN f.sources_changed IS NULL THEN f.reason END AS unknown_reason
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
  LEFT JOIN LATERAL reporting._freshness_state(r.view) f ON c.oid IS NOT NULL;

COMMENT ON VIEW reporting.status IS
    'One row per registered view: schedule, mode, the last run and the last successful refresh, the age of the data, whether its sources changed since (sources_changed: true, false, or NULL for unknown), and a freshness sentence in plain language.';

-- Views registered before this version get their triggers now, on behalf of
-- their owners; their freshness is known from their next refresh on.
SELECT reporting._attach_triggers(r.view, c.relowner)
  FROM reporting.registrations r
  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.view::pg_catalog.oid;
