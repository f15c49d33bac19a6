-- reporting 0.3.0 -> 0.4.0: no path to superuser, and change tracking
-- without triggers.
--
-- Each section below belongs to one concern; keep them apart.

\echo Use "ALTER EXTENSION reporting UPDATE TO '0.4.0'" to load this file. \quit

-------------------------------------------------------------------------------
-- Security: the schema, owners, delegated refresh
-------------------------------------------------------------------------------

-- (security section)



-------------------------------------------------------------------------------
-- Change tracking without triggers
-------------------------------------------------------------------------------

-- Writes are now noted by the library's hooks in the writing backend (the
-- executor, COPY, TRUNCATE, ATTACH/DETACH, INHERIT/NO INHERIT, DROP of a
-- child, logical-replication apply): no trigger on any user table, no lock
-- taken by register() or unregister().  A write is noted for the relation
-- written only, so a source stands for itself with its ancestors and its
-- descendants.

ALTER TABLE reporting.runs ADD COLUMN tracking_database pg_catalog.oid;

COMMENT ON COLUMN reporting.runs.tracking_database IS
    'The database whose change generations the refresh recorded: a copy made with CREATE DATABASE ... TEMPLATE has the same runs but generations of its own, so there the freshness is unknown until the next refresh.';

-- A relation with every ancestor and descendant (partitions and
-- inheritance children, at any depth).
CREATE FUNCTION reporting._relation_family(rel pg_catalog.regclass)
RETURNS pg_catalog.regclass[]
LANGUAGE sql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
    WITH RECURSIVE down (relid) AS (
        SELECT $1::pg_catalog.oid
        UNION
        SELECT i.inhrelid FROM pg_catalog.pg_inherits i
          JOIN down d ON i.inhparent OPERATOR(pg_catalog.=) d.relid
    ), up (relid) AS (
        SELECT $1::pg_catalog.oid
        UNION
        SELECT i.inhparent FROM pg_catalog.pg_inherits i
          JOIN up u ON i.inhrelid OPERATOR(pg_catalog.=) u.relid
    )
    SELECT pg_catalog.array_agg(f.relid::pg_catalog.regclass ORDER BY f.relid)
      FROM (SELECT relid FROM down UNION SELECT relid FROM up) f
$$;

COMMENT ON FUNCTION reporting._relation_family(pg_catalog.regclass) IS
    'Internal: a relation with all its ancestors and descendants; a write to any of them may change what a reader of the relation sees.';

CREATE OR REPLACE FUNCTION reporting._tracked_sources(view pg_catalog.regclass)
RETURNS TABLE (source pg_catalog.regclass, source_kind pg_catalog.text,
               members pg_catalog.regclass[], reason pg_catalog.text)
LANGUAGE sql STABLE ROWS 5
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT s.source, s.source_kind, m.members,
           CASE WHEN s.source_kind OPERATOR(pg_catalog.=) 'foreign table'
                THEN 'changes to a foreign table happen on another server and cannot be seen'
                WHEN s.source_kind OPERATOR(pg_catalog.=) 'materialized view' THEN NULL
                -- Citus writes distributed tables through its own plan
                -- nodes, on other servers: do not guess which tables
                WHEN EXISTS (SELECT 1 FROM pg_catalog.pg_extension e
                              WHERE e.extname OPERATOR(pg_catalog.=) 'citus')
                THEN 'Citus is installed in this database: it writes distributed tables without PostgreSQL''s executor, so their changes cannot be seen'
                ELSE (SELECT CASE WHEN c.relkind OPERATOR(pg_catalog.=) 'f'
                                  THEN pg_catalog.format('%s is a foreign table: changes to it happen on another server and cannot be seen', c.oid::pg_catalog.regclass)
                                  ELSE pg_catalog.format('%s is a system catalog, which changes without going through the executor and cannot be tracked', c.oid::pg_catalog.regclass) END
                        FROM pg_catalog.unnest(m.members) AS u (member)
                        JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) u.member::pg_catalog.oid
                       WHERE c.relkind OPERATOR(pg_catalog.=) 'f'
                          OR c.oid OPERATOR(pg_catalog.<) 16384
                       ORDER BY c.oid
                       LIMIT 1)
           END
      FROM reporting._sources_of($1) s
      CROSS JOIN LATERAL (
            SELECT CASE WHEN s.source_kind OPERATOR(pg_catalog.=) 'materialized view'
                        THEN ARRAY[s.source]
                        ELSE reporting._relation_family(s.source) END AS members) m
     WHERE NOT s.through_materialized_view
$$;

COMMENT ON FUNCTION reporting._tracked_sources(pg_catalog.regclass) IS
    'Internal: the sources a view''s freshness depends on, the relations whose change generations stand for each (a table with its ancestors and descendants; a materialized view itself), and why a source cannot be tracked.';

CREATE OR REPLACE FUNCTION reporting.staleness(view pg_catalog.regclass)
RETURNS TABLE (source pg_catalog.regclass, source_kind pg_catalog.text,
               changed pg_catalog.bool, changes pg_catalog.int8,
               last_change pg_catalog.timestamptz, reason pg_catalog.text)
LANGUAGE sql VOLATILE ROWS 5
SET search_path = pg_catalog, pg_temp
AS $$
    WITH reg AS (
        SELECT r.view FROM reporting.registrations r
         WHERE r.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
    ), last AS (
        SELECT u.tracking_epoch, u.tracking_database, u.tracked_sources, u.source_generations
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
               (SELECT l.tracking_database FROM last l) AS recorded_database,
               coalesce((SELECT l.tracked_sources IS NOT NULL FROM last l), false) AS has_record,
               (SELECT g.epoch FROM reporting._generation(ARRAY[]::pg_catalog.regclass[]) g) AS epoch,
               (SELECT d.oid FROM pg_catalog.pg_database d
                 WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database()) AS database
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
                    WHEN f.recorded_database IS NULL THEN 'the last refresh ran before the extension was updated to 0.4.0'
                    WHEN f.recorded_database OPERATOR(pg_catalog.<>) f.database THEN 'the last refresh was recorded in the database this one was copied from'
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
    -- partition or child, a redefined view): what it contributed is gone
    SELECT rec.tbl, 'no longer read', true, NULL, NULL, NULL
      FROM recorded rec, facts f
     WHERE rec.gen IS NOT NULL
       AND f.recorded_epoch OPERATOR(pg_catalog.=) f.epoch
       AND f.recorded_database OPERATOR(pg_catalog.=) f.database
       AND NOT EXISTS (SELECT 1 FROM now_read n
                        WHERE n.member::pg_catalog.oid OPERATOR(pg_catalog.=) rec.tbl::pg_catalog.oid)
    ) AS s (source, source_kind, changed, changes, last_change, reason)
    ORDER BY s.source::pg_catalog.text COLLATE "C"
$$;

-- No triggers to keep in step any more.
DROP EVENT TRIGGER reporting_track_new_partitions;
DROP FUNCTION reporting._track_new_partitions();

CREATE OR REPLACE FUNCTION reporting._forget_dropped_views()
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

DROP FUNCTION reporting._detach_unneeded_triggers();
DROP FUNCTION reporting._attach_triggers(pg_catalog.regclass, pg_catalog.oid);
DROP FUNCTION reporting._add_trigger(pg_catalog.regclass, pg_catalog.text, pg_catalog.text,
                                     pg_catalog.text, pg_catalog.text);

-- Remove the triggers of earlier versions from users' tables, waiting at
-- most a moment for each table's lock: a trigger that cannot be dropped now
-- (a long transaction holds the table, or it has pending trigger events) is
-- harmless and is left, with a WARNING saying how to drop it later.
DO $$
DECLARE
    t record;
    saved pg_catalog.text := pg_catalog.current_setting('lock_timeout');
BEGIN
    PERFORM pg_catalog.set_config('lock_timeout', '2s', true);
    FOR t IN
        SELECT g.tgrelid::pg_catalog.regclass AS rel, g.tgname
          FROM pg_catalog.pg_trigger g
         WHERE g.tgfoid OPERATOR(pg_catalog.=) 'reporting.track_change()'::pg_catalog.regprocedure::pg_catalog.oid
         ORDER BY g.tgrelid::pg_catalog.regclass::pg_catalog.text COLLATE "C", g.tgname
    LOOP
        BEGIN
            EXECUTE pg_catalog.format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
        EXCEPTION WHEN lock_not_available THEN
            RAISE WARNING 'could not drop trigger "%" on table %', t.tgname, t.rel
                USING DETAIL = 'Another transaction held a lock on the table for more than 2 seconds. The trigger is harmless: the extension now sees changes without it.',
                      HINT = pg_catalog.format('Drop it later with: DROP TRIGGER %I ON %s;', t.tgname, t.rel);
        WHEN object_in_use THEN
            RAISE WARNING 'could not drop trigger "%" on table %', t.tgname, t.rel
                USING DETAIL = 'The table is in use by this transaction. The trigger is harmless: the extension now sees changes without it.',
                      HINT = pg_catalog.format('Drop it later with: DROP TRIGGER %I ON %s;', t.tgname, t.rel);
        END;
    END LOOP;
    PERFORM pg_catalog.set_config('lock_timeout', saved, true);
END
$$;

COMMENT ON FUNCTION reporting.track_change() IS
    'Kept for the change-tracking triggers of versions before 0.4.0 that could not be dropped during the update; harmless (it notes a change the library''s hooks see anyway). Nothing creates such triggers any more.';



-------------------------------------------------------------------------------
-- End
-------------------------------------------------------------------------------
