-- reporting 0.3.0 -> 0.4.0: no path to superuser, and change tracking
-- without triggers.
--
-- Each section below belongs to one concern; keep them apart.

\echo Use "ALTER EXTENSION reporting UPDATE TO '0.4.0'" to load this file. \quit

-------------------------------------------------------------------------------
-- Security: the schema, owners, delegated refresh
-------------------------------------------------------------------------------

-- (security section)
--
-- What this section guarantees (issue 9):
--  1. The extension is installed (or updated) only into a schema that
--     nobody but a superuser can change: owned by a superuser, with CREATE
--     for no other role, holding no object another role owns.  This
--     script is the last of the CREATE EXTENSION chain, so refusing here
--     undoes the whole install.
--  2. Registrations record the view's owner; refreshes that would run as a
--     superuser nobody asked for, or as an owner the view passed to after
--     it was registered, are refused (src/security.c), and status says so.
--  3. A view's owner can let another role refresh it (refresh_grants).
--  4. The SECURITY DEFINER event-trigger functions find the extension's
--     tables through pg_extension.extnamespace, not through whatever schema
--     is called "reporting" now.
--
-- Like the rest of the scripts: every operator is OPERATOR(pg_catalog.x)
-- and every function schema-qualified, since the script runs with the
-- extension's schema on its search_path.

DO $check$
DECLARE
    nsp pg_catalog.oid;
    nsp_owner pg_catalog.oid;
    culprit pg_catalog.text;
    culprit_said pg_catalog.text;
BEGIN
    SELECT e.extnamespace, n.nspowner INTO nsp, nsp_owner
      FROM pg_catalog.pg_extension e
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
     WHERE e.extname OPERATOR(pg_catalog.=) 'reporting';

    -- ALTER EXTENSION UPDATE after the schema was renamed: the objects this
    -- script names "reporting.x" would be someone else's
    IF pg_catalog.to_regnamespace('reporting')::pg_catalog.oid IS DISTINCT FROM nsp THEN
        RAISE EXCEPTION 'schema "reporting" is not the schema extension "reporting" was installed in'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('The extension''s schema is now called %s, and the schema called "reporting" may hold another role''s objects.',
                                             pg_catalog.quote_ident(nsp::pg_catalog.regnamespace::pg_catalog.text)),
                  HINT = 'A superuser must rename the schemas back with ALTER SCHEMA ... RENAME TO before updating.';
    END IF;

    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles a
                    WHERE a.oid OPERATOR(pg_catalog.=) nsp_owner AND a.rolsuper) THEN
        RAISE EXCEPTION 'schema "reporting" is owned by role "%", which is not a superuser',
                        pg_catalog.pg_get_userbyid(nsp_owner)
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = 'The owner of the extension''s schema could rename it and put a schema of its own in its place, or put objects in it, and the extension''s superuser code (its event triggers and its scheduler) would then run that role''s objects.',
                  HINT = pg_catalog.format('Check that the schema holds nothing you did not create, then have a superuser run ALTER SCHEMA reporting OWNER TO %s and try again; or drop the schema and let CREATE EXTENSION reporting create it.',
                                           pg_catalog.quote_ident(CURRENT_USER::pg_catalog.text));
    END IF;

    SELECT CASE WHEN x.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(x.grantee)) END,
           CASE WHEN x.grantee OPERATOR(pg_catalog.=) 0::pg_catalog.oid THEN 'PUBLIC'
                ELSE pg_catalog.format('Role "%s"', pg_catalog.pg_get_userbyid(x.grantee)) END
      INTO culprit, culprit_said
      FROM pg_catalog.pg_namespace n
     CROSS JOIN LATERAL pg_catalog.aclexplode(n.nspacl) x
      LEFT JOIN pg_catalog.pg_roles a ON a.oid OPERATOR(pg_catalog.=) x.grantee
     WHERE n.oid OPERATOR(pg_catalog.=) nsp
       AND x.privilege_type OPERATOR(pg_catalog.=) 'CREATE'
       AND x.grantee OPERATOR(pg_catalog.<>) n.nspowner
       AND NOT coalesce(a.rolsuper, false)
     ORDER BY 1
     LIMIT 1;
    IF culprit IS NOT NULL THEN
        RAISE EXCEPTION 'roles that are not superusers may create objects in schema "reporting"'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('%s holds CREATE on it, so it could put objects of its own where the extension looks for its own, and the extension''s superuser code would run them.', culprit_said),
                  HINT = pg_catalog.format('Run REVOKE CREATE ON SCHEMA reporting FROM %s (and from every other role that is not a superuser), check what they created there, and try again.', culprit);
    END IF;

    -- objects put there by a role that could create in it earlier
    SELECT pg_catalog.format('%s %s, owned by role "%s"', o.kind, o.name,
                             pg_catalog.pg_get_userbyid(o.owner))
      INTO culprit
      FROM (SELECT 'relation' AS kind, c.oid::pg_catalog.regclass::pg_catalog.text AS name, c.relowner AS owner
              FROM pg_catalog.pg_class c WHERE c.relnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT 'function', p.oid::pg_catalog.regprocedure::pg_catalog.text, p.proowner
              FROM pg_catalog.pg_proc p WHERE p.pronamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT 'type', t.oid::pg_catalog.regtype::pg_catalog.text, t.typowner
              FROM pg_catalog.pg_type t WHERE t.typnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT 'operator', o.oid::pg_catalog.regoperator::pg_catalog.text, o.oprowner
              FROM pg_catalog.pg_operator o WHERE o.oprnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT 'collation', l.collname::pg_catalog.text, l.collowner
              FROM pg_catalog.pg_collation l WHERE l.collnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT 'conversion', v.conname::pg_catalog.text, v.conowner
              FROM pg_catalog.pg_conversion v WHERE v.connamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT 'operator class', k.opcname::pg_catalog.text, k.opcowner
              FROM pg_catalog.pg_opclass k WHERE k.opcnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT 'operator family', f.opfname::pg_catalog.text, f.opfowner
              FROM pg_catalog.pg_opfamily f WHERE f.opfnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT 'text search configuration', g.cfgname::pg_catalog.text, g.cfgowner
              FROM pg_catalog.pg_ts_config g WHERE g.cfgnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT 'text search dictionary', d.dictname::pg_catalog.text, d.dictowner
              FROM pg_catalog.pg_ts_dict d WHERE d.dictnamespace OPERATOR(pg_catalog.=) nsp
            UNION ALL
            SELECT 'statistics object', s.stxname::pg_catalog.text, s.stxowner
              FROM pg_catalog.pg_statistic_ext s WHERE s.stxnamespace OPERATOR(pg_catalog.=) nsp) o
      JOIN pg_catalog.pg_roles a ON a.oid OPERATOR(pg_catalog.=) o.owner
     WHERE NOT a.rolsuper
     ORDER BY o.kind, o.name COLLATE "C"
     LIMIT 1;
    IF culprit IS NOT NULL THEN
        RAISE EXCEPTION 'schema "reporting" holds objects owned by roles that are not superusers'
            USING ERRCODE = 'insufficient_privilege',
                  DETAIL = pg_catalog.format('The first is %s.  The extension''s superuser code could end up running such objects.', culprit),
                  HINT = 'Drop those objects or move them to another schema (ALTER ... SET SCHEMA), and try again.';
    END IF;
END
$check$;

-- The scheduler of this database must not be half-way through a cycle
-- while the tables change under it: wait for it, and keep it out until
-- this update commits (see src/security.c).
CREATE FUNCTION reporting._lock_out_scheduler()
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_lock_out_scheduler';

COMMENT ON FUNCTION reporting._lock_out_scheduler() IS
    'Internal, for upgrade scripts: keep the scheduler of this database out of the extension''s tables until the transaction ends.';

REVOKE ALL ON FUNCTION reporting._lock_out_scheduler() FROM PUBLIC;

SELECT reporting._lock_out_scheduler();

-------------------------------------------------------------------------------
-- Registrations record the view's owner
-------------------------------------------------------------------------------

-- registrations of views that are gone (the event trigger removes them;
-- only one that was disabled leaves some) have no owner to record
DELETE FROM reporting.registrations r
 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                    WHERE c.oid OPERATOR(pg_catalog.=) r.view::pg_catalog.oid);

ALTER TABLE reporting.registrations ADD COLUMN owner pg_catalog.regrole;
UPDATE reporting.registrations r
   SET owner = c.relowner::pg_catalog.regrole
  FROM pg_catalog.pg_class c
 WHERE c.oid OPERATOR(pg_catalog.=) r.view::pg_catalog.oid;
ALTER TABLE reporting.registrations ALTER COLUMN owner SET NOT NULL;

-- A registration written without its owner (restoring a dump of an older
-- version, whose registrations have no owner column) gets the view's
-- owner at that moment, as registering it would record.
CREATE FUNCTION reporting._registration_owner()
RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF NEW.owner IS NULL THEN
        NEW.owner := (SELECT c.relowner::pg_catalog.regrole FROM pg_catalog.pg_class c
                       WHERE c.oid OPERATOR(pg_catalog.=) NEW.view::pg_catalog.oid);
    END IF;
    RETURN NEW;
END
$$;

REVOKE ALL ON FUNCTION reporting._registration_owner() FROM PUBLIC;

CREATE TRIGGER registrations_owner BEFORE INSERT ON reporting.registrations
    FOR EACH ROW EXECUTE FUNCTION reporting._registration_owner();

COMMENT ON COLUMN reporting.registrations.owner IS
    'The view''s owner when it was registered.  When the view changes hands (ALTER ... OWNER TO, REASSIGN OWNED), the scheduler and refresh_all() stop refreshing it, and the refresh grants stop counting, until it is registered again.';

-------------------------------------------------------------------------------
-- Delegated refresh
-------------------------------------------------------------------------------

CREATE TABLE reporting.refresh_grants (
    view       pg_catalog.regclass NOT NULL
               REFERENCES reporting.registrations (view) ON DELETE CASCADE,
    grantee    pg_catalog.regrole NOT NULL,
    granted_by pg_catalog.regrole NOT NULL,
    granted_at pg_catalog.timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (view, grantee)
);

COMMENT ON TABLE reporting.refresh_grants IS
    'Roles a view''s owner allowed to refresh it (reporting.grant_refresh); the refresh runs as the owner.  A grant counts only while granted_by still owns the view and registered it; written by grant_refresh() and revoke_refresh().';

-- configuration: pg_dump keeps it, after the registrations it refers to
SELECT pg_catalog.pg_extension_config_dump('reporting.refresh_grants', '');

ALTER TABLE reporting.refresh_grants ENABLE ROW LEVEL SECURITY;

-- a grantee sees its own grants; whoever may manage the view sees all of its
CREATE POLICY refresh_grants_read ON reporting.refresh_grants FOR SELECT
    USING (pg_catalog.pg_has_role(grantee::pg_catalog.oid, 'USAGE')
           OR EXISTS (SELECT 1 FROM pg_catalog.pg_class c
                       WHERE c.oid OPERATOR(pg_catalog.=) refresh_grants.view::pg_catalog.oid
                         AND pg_catalog.pg_has_role(c.relowner, 'USAGE')));

-- a role granted the refresh of a view sees its registration and history
-- (status, refresh_all), as long as the grant counts
CREATE POLICY registrations_grantee_read ON reporting.registrations FOR SELECT
    USING (EXISTS (SELECT 1 FROM reporting.refresh_grants g
                     JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) g.view::pg_catalog.oid
                    WHERE g.view OPERATOR(pg_catalog.=) registrations.view
                      AND g.granted_by::pg_catalog.oid OPERATOR(pg_catalog.=) c.relowner
                      AND registrations.owner::pg_catalog.oid OPERATOR(pg_catalog.=) c.relowner
                      AND pg_catalog.pg_has_role(g.grantee::pg_catalog.oid, 'USAGE')));
CREATE POLICY runs_grantee_read ON reporting.runs FOR SELECT
    USING (EXISTS (SELECT 1 FROM reporting.refresh_grants g
                     JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) g.view::pg_catalog.oid
                     JOIN reporting.registrations r ON r.view OPERATOR(pg_catalog.=) g.view
                    WHERE g.view OPERATOR(pg_catalog.=) runs.view
                      AND g.granted_by::pg_catalog.oid OPERATOR(pg_catalog.=) c.relowner
                      AND r.owner::pg_catalog.oid OPERATOR(pg_catalog.=) c.relowner
                      AND pg_catalog.pg_has_role(g.grantee::pg_catalog.oid, 'USAGE')));

REVOKE ALL ON reporting.refresh_grants FROM PUBLIC;
GRANT SELECT ON reporting.refresh_grants TO PUBLIC;

CREATE FUNCTION reporting.grant_refresh(view pg_catalog.regclass, role pg_catalog.regrole)
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_grant_refresh';

COMMENT ON FUNCTION reporting.grant_refresh(pg_catalog.regclass, pg_catalog.regrole) IS
    'Let a role refresh a registered materialized view with reporting.refresh() and refresh_all(), without owning it; the refresh still runs as the view''s owner.  Only the view''s owner may grant it; the grant lapses when the view changes owner.';

CREATE FUNCTION reporting.revoke_refresh(view pg_catalog.regclass, role pg_catalog.regrole)
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_revoke_refresh';

COMMENT ON FUNCTION reporting.revoke_refresh(pg_catalog.regclass, pg_catalog.regrole) IS
    'Take back a refresh grant given with reporting.grant_refresh(); only the view''s owner may.';

REVOKE ALL ON FUNCTION
    reporting.grant_refresh(pg_catalog.regclass, pg_catalog.regrole),
    reporting.revoke_refresh(pg_catalog.regclass, pg_catalog.regrole)
FROM PUBLIC;

-- Why the scheduler does not refresh a view, for reporting.status.
CREATE FUNCTION reporting._refresh_blocked(view pg_catalog.regclass,
    registered_owner pg_catalog.regrole,
    OUT reason pg_catalog.text, OUT hint pg_catalog.text)
RETURNS record
LANGUAGE C STABLE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_refresh_blocked';

COMMENT ON FUNCTION reporting._refresh_blocked(pg_catalog.regclass, pg_catalog.regrole) IS
    'Internal: why the scheduler will not refresh the view (it changed owner after registration, or it is owned by a superuser while reporting.enable_superuser_refresh is off) and what to do; NULLs when it will.';

-------------------------------------------------------------------------------
-- Event triggers: the extension's tables by OID, never by a schema's name
-------------------------------------------------------------------------------

-- The schema is found through pg_extension.extnamespace and named with
-- format(%I), so a schema another role renamed into the place of ours is
-- never used, whatever it is called.
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
    -- during DROP EXTENSION the extension or its table may already be gone
    IF own_schema IS NULL
       OR pg_catalog.to_regclass(pg_catalog.format('%I.registrations', own_schema)) IS NULL THEN
        RETURN;
    END IF;
    EXECUTE pg_catalog.format(
        'DELETE FROM %I.registrations r'
        '  USING pg_catalog.pg_event_trigger_dropped_objects() d'
        ' WHERE d.classid OPERATOR(pg_catalog.=) ''pg_catalog.pg_class''::pg_catalog.regclass'
        '   AND d.objsubid OPERATOR(pg_catalog.=) 0'
        '   AND r.view::pg_catalog.oid OPERATOR(pg_catalog.=) d.objid', own_schema);
END
$$;

-- Adds triggers to new partitions by calling reporting.* by name: it does
-- nothing unless "reporting" is the extension's own schema.
CREATE OR REPLACE FUNCTION reporting._track_new_partitions()
RETURNS event_trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    part pg_catalog.regclass;
BEGIN
    IF pg_catalog.to_regnamespace('reporting')::pg_catalog.oid IS DISTINCT FROM
       (SELECT e.extnamespace FROM pg_catalog.pg_extension e
         WHERE e.extname OPERATOR(pg_catalog.=) 'reporting') THEN
        RAISE WARNING 'schema "reporting" is not the schema extension "reporting" was installed in'
            USING DETAIL = 'New partitions are not given change-tracking triggers.',
                  HINT = 'A superuser must rename the schemas back with ALTER SCHEMA ... RENAME TO.';
        RETURN;
    END IF;
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

-------------------------------------------------------------------------------
-- Status: the registered owner, refresh grants, and why the scheduler waits
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
       n.retry_at,
       r.owner AS registered_owner,
       ARRAY(SELECT g.grantee FROM reporting.refresh_grants g
              WHERE g.view OPERATOR(pg_catalog.=) r.view
                AND g.granted_by::pg_catalog.oid OPERATOR(pg_catalog.=) c.relowner
                AND r.owner::pg_catalog.oid OPERATOR(pg_catalog.=) c.relowner
              ORDER BY g.grantee::pg_catalog.text COLLATE "C") AS refresh_grantees,
       b.reason AS refresh_blocked,
       b.hint AS refresh_blocked_hint
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
  LEFT JOIN LATERAL reporting._next_refresh(r.view) n ON c.oid IS NOT NULL
  LEFT JOIN LATERAL reporting._refresh_blocked(r.view, r.owner) b ON c.oid IS NOT NULL;

COMMENT ON VIEW reporting.status IS
    'One row per registered view: schedule, mode, the last run and the last successful refresh, the age of the data, whether its sources changed since (sources_changed: true, false, or NULL for unknown), a freshness sentence in plain language, when the scheduler refreshes it next (next_refresh_at; after failures, retry_at with a growing backoff), its owner when registered, the roles granted its refresh, and why the scheduler will not refresh it with what to do (refresh_blocked, refresh_blocked_hint).';



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

-- Sources the catalog cannot link to a view (tables read inside functions)
-- can be declared at registration.
ALTER TABLE reporting.registrations ADD COLUMN sources pg_catalog.regclass[];

COMMENT ON COLUMN reporting.registrations.sources IS
    'Sources declared with reporting.register(..., sources => ...): tables the view reads that pg_depend does not show (inside functions); tracked like the others.';

-- What one view reads, through plain views and materialized views; now
-- sequences too (their changes cannot be tracked, and that must be said).
CREATE OR REPLACE FUNCTION reporting._sources_of(view pg_catalog.regclass)
RETURNS TABLE (source pg_catalog.regclass, source_kind pg_catalog.text,
               via pg_catalog.regclass[], through_materialized_view pg_catalog.bool)
LANGUAGE plpgsql STABLE ROWS 5
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
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
                          WHEN 'f' THEN 'foreign table'
                          WHEN 'S' THEN 'sequence' END,
           w.via,
           w.through_matview
      FROM walk w
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) w.relid
     WHERE w.depth OPERATOR(pg_catalog.>) 0
       AND c.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'm', 'f', 'S']::"char"[])
     ORDER BY w.relid, w.through_matview, pg_catalog.cardinality(w.via);
END
$$;

-- The sources of a view: those the catalog shows, then the declared ones
-- it does not.
CREATE FUNCTION reporting._all_sources_of(view pg_catalog.regclass)
RETURNS TABLE (source pg_catalog.regclass, source_kind pg_catalog.text,
               via pg_catalog.regclass[], through_materialized_view pg_catalog.bool)
LANGUAGE plpgsql STABLE ROWS 5
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT s.source, s.source_kind, s.via, s.through_materialized_view
      FROM reporting._sources_of($1) s
    UNION ALL
    SELECT d.source,
           CASE c.relkind WHEN 'r' THEN 'table'
                          WHEN 'p' THEN 'partitioned table'
                          WHEN 'm' THEN 'materialized view'
                          WHEN 'f' THEN 'foreign table'
                          WHEN 'S' THEN 'sequence'
                          WHEN 'v' THEN 'view' END,
           ARRAY[]::pg_catalog.regclass[], false
      FROM reporting.registrations r
     CROSS JOIN LATERAL pg_catalog.unnest(r.sources) AS d (source)
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) d.source::pg_catalog.oid
     WHERE r.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
       AND NOT EXISTS (SELECT 1 FROM reporting._sources_of($1) s
                        WHERE s.source::pg_catalog.oid OPERATOR(pg_catalog.=) d.source::pg_catalog.oid);
END
$$;

COMMENT ON FUNCTION reporting._all_sources_of(pg_catalog.regclass) IS
    'Internal: what a view reads, from the catalog (through plain and materialized views) and as declared at registration.';

-- What a registered view reads: what the catalog shows, and what was
-- declared at registration.
CREATE OR REPLACE VIEW reporting.sources WITH (security_invoker = true) AS
SELECT r.view, s.source, s.source_kind, s.via, s.through_materialized_view,
       EXISTS (SELECT 1 FROM reporting.registrations u
                WHERE u.view::pg_catalog.oid OPERATOR(pg_catalog.=) s.source::pg_catalog.oid) AS registered_upstream
  FROM reporting.registrations r
 CROSS JOIN LATERAL reporting._all_sources_of(r.view) s;

-- A relation with every ancestor and descendant (partitions and
-- inheritance children, at any depth).
CREATE FUNCTION reporting._relation_family(rel pg_catalog.regclass)
RETURNS pg_catalog.regclass[]
LANGUAGE plpgsql STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN (
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
      FROM (SELECT relid FROM down UNION SELECT relid FROM up) f);
END
$$;

COMMENT ON FUNCTION reporting._relation_family(pg_catalog.regclass) IS
    'Internal: a relation with all its ancestors and descendants; a write to any of them may change what a reader of the relation sees.';

CREATE OR REPLACE FUNCTION reporting._tracked_sources(view pg_catalog.regclass)
RETURNS TABLE (source pg_catalog.regclass, source_kind pg_catalog.text,
               members pg_catalog.regclass[], reason pg_catalog.text)
LANGUAGE plpgsql STABLE ROWS 5
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
    SELECT s.source, s.source_kind, m.members,
           CASE WHEN s.source_kind OPERATOR(pg_catalog.=) 'foreign table'
                THEN 'changes to a foreign table happen on another server and cannot be seen'
                WHEN s.source_kind OPERATOR(pg_catalog.=) 'materialized view' THEN NULL
                WHEN s.source_kind OPERATOR(pg_catalog.=) 'sequence'
                THEN pg_catalog.format('sequence %s changes without the executor, so its changes cannot be seen', s.source)
                WHEN s.source_kind OPERATOR(pg_catalog.=) 'view'
                THEN pg_catalog.format('declared source %s is a plain view: declare the tables it reads', s.source)
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
      FROM reporting._all_sources_of($1) s
      CROSS JOIN LATERAL (
            SELECT CASE WHEN s.source_kind OPERATOR(pg_catalog.=) ANY (ARRAY['materialized view', 'sequence', 'view'])
                        THEN ARRAY[s.source]
                        ELSE reporting._relation_family(s.source) END AS members) m
     WHERE NOT s.through_materialized_view;
END
$$;

COMMENT ON FUNCTION reporting._tracked_sources(pg_catalog.regclass) IS
    'Internal: the sources a view''s freshness depends on, the relations whose change generations stand for each (a table with its ancestors and descendants; a materialized view itself), and why a source cannot be tracked.';

-- reporting.staleness() compares the database as well: see the freshness
-- section, which replaces it.

-- No triggers to keep in step any more.
DROP EVENT TRIGGER reporting_track_new_partitions;
DROP FUNCTION reporting._track_new_partitions();


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
-- Freshness that never lies
-------------------------------------------------------------------------------

-- register() gains "sources" (tables the catalog does not show) and
-- "refresh" ('now' or 'soon').  Replacing the function keeps the EXECUTE
-- privileges granted on the old one.
ALTER TABLE reporting.registrations ADD COLUMN refresh_requested_at pg_catalog.timestamptz;

COMMENT ON COLUMN reporting.registrations.refresh_requested_at IS
    'Set by reporting.register(..., refresh => ''soon''): the scheduler refreshes the view as soon as it sees it, then schedules it as usual.';

CREATE TEMPORARY TABLE reporting_register_grantees ON COMMIT DROP AS
SELECT a.grantee::pg_catalog.regrole::pg_catalog.text AS grantee
  FROM pg_catalog.pg_proc p, pg_catalog.aclexplode(p.proacl) a
 WHERE p.oid OPERATOR(pg_catalog.=) 'reporting.register(pg_catalog.regclass, pg_catalog.interval, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.interval, pg_catalog.interval, pg_catalog.interval)'::pg_catalog.regprocedure
   AND a.privilege_type OPERATOR(pg_catalog.=) 'EXECUTE'
   AND a.grantee OPERATOR(pg_catalog.<>) 0
   AND a.grantee OPERATOR(pg_catalog.<>) p.proowner;

DROP FUNCTION reporting.register(pg_catalog.regclass, pg_catalog.interval, pg_catalog.text,
    pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.interval,
    pg_catalog.interval, pg_catalog.interval);

CREATE FUNCTION reporting.register(
    view              pg_catalog.regclass,
    every             pg_catalog.interval DEFAULT NULL,
    cron              pg_catalog.text DEFAULT NULL,
    timezone          pg_catalog.text DEFAULT NULL,
    mode              pg_catalog.text DEFAULT 'auto',
    refresh_when      pg_catalog.text DEFAULT 'changed',
    max_age           pg_catalog.interval DEFAULT NULL,
    lock_timeout      pg_catalog.interval DEFAULT '5 seconds',
    statement_timeout pg_catalog.interval DEFAULT NULL,
    sources           pg_catalog.regclass[] DEFAULT NULL,
    refresh           pg_catalog.text DEFAULT NULL)
RETURNS void
LANGUAGE C VOLATILE
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_register';

COMMENT ON FUNCTION reporting.register(pg_catalog.regclass, pg_catalog.interval, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.interval, pg_catalog.interval, pg_catalog.interval, pg_catalog.regclass[], pg_catalog.text) IS
    'Register a materialized view, or change its registration: schedule (every or cron in a timezone; neither means manual), mode (auto, concurrently, plain), refresh_when (changed, always), max_age, timeouts, sources the catalog cannot see (tables read inside functions), and refresh => ''now'' or ''soon''.';

REVOKE ALL ON FUNCTION reporting.register(pg_catalog.regclass, pg_catalog.interval, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.interval, pg_catalog.interval, pg_catalog.interval, pg_catalog.regclass[], pg_catalog.text) FROM PUBLIC;

DO $$
DECLARE
    g pg_catalog.text;
BEGIN
    FOR g IN SELECT t.grantee FROM reporting_register_grantees t LOOP
        EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION reporting.register(pg_catalog.regclass, pg_catalog.interval, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.text, pg_catalog.interval, pg_catalog.interval, pg_catalog.interval, pg_catalog.regclass[], pg_catalog.text) TO %s', g);
    END LOOP;
END
$$;

DROP TABLE reporting_register_grantees;

-- The next refresh: as before, and at once after refresh => 'soon'.
CREATE OR REPLACE FUNCTION reporting._next_refresh(view pg_catalog.regclass)
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
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT pg_catalog.max(u.started_at),
           pg_catalog.max(u.started_at) FILTER (WHERE u.status OPERATOR(pg_catalog.=) 'refreshed')
      INTO last_start, last_ok
      FROM reporting.runs u
     WHERE u.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid;
    -- register(..., refresh => 'soon'): due at once, until a run starts
    IF reg.refresh_requested_at IS NOT NULL
       AND (last_start IS NULL OR last_start OPERATOR(pg_catalog.<) reg.refresh_requested_at) THEN
        RETURN QUERY SELECT reg.refresh_requested_at, 0, NULL::pg_catalog.timestamptz;
        RETURN;
    END IF;
    IF reg.every IS NULL AND reg.cron IS NULL THEN
        RETURN;
    END IF;
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


-- What a view's query depends on besides the tables pg_depend shows: the
-- clock, functions that may read tables, sequences, text search
-- configurations (see src/dependencies.c).
CREATE FUNCTION reporting._query_dependencies(view pg_catalog.regclass)
RETURNS TABLE (kind pg_catalog.text, object pg_catalog.text)
LANGUAGE C STABLE STRICT ROWS 2
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_query_dependencies';

COMMENT ON FUNCTION reporting._query_dependencies(pg_catalog.regclass) IS
    'Internal: what a view''s query (through plain views) depends on besides the tables the catalog links to it: clock_date, clock_time, volatile, function, sequence, text_search.';

-- The value of a setting that changes results (TimeZone, ...) that a
-- refresh of the view runs with: its owner's login default.
CREATE FUNCTION reporting._refresh_setting(view pg_catalog.regclass, name pg_catalog.text)
RETURNS pg_catalog.text
LANGUAGE C STABLE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_refresh_setting';

COMMENT ON FUNCTION reporting._refresh_setting(pg_catalog.regclass, pg_catalog.text) IS
    'Internal: the value of a result-changing setting (TimeZone, search_path, ...) that refreshes of the view run with: its owner''s login default.';

-- _generation says whether the current transaction wrote a member: its
-- changes count, but are not committed yet.
DROP FUNCTION reporting._generation(pg_catalog.regclass[]);
CREATE FUNCTION reporting._generation(
    members pg_catalog.regclass[],
    OUT epoch pg_catalog.int8, OUT generation pg_catalog.int8,
    OUT last_change pg_catalog.timestamptz, OUT reason pg_catalog.text,
    OUT own_write pg_catalog.bool)
RETURNS record
LANGUAGE C VOLATILE STRICT
SET search_path = pg_catalog, pg_temp
AS 'MODULE_PATHNAME', 'reporting_generation';

COMMENT ON FUNCTION reporting._generation(pg_catalog.regclass[]) IS
    'Internal: the current change generation of a source (summed over its tables), with the tracker''s epoch; NULL with a reason when unknown; own_write when this transaction wrote it.';

-- staleness() gains "uncommitted": this transaction's own writes are among
-- the changes.
DROP FUNCTION reporting.staleness(pg_catalog.regclass);
CREATE FUNCTION reporting.staleness(view pg_catalog.regclass)
RETURNS TABLE (source pg_catalog.regclass, source_kind pg_catalog.text,
               changed pg_catalog.bool, changes pg_catalog.int8,
               last_change pg_catalog.timestamptz, reason pg_catalog.text,
               uncommitted pg_catalog.bool)
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
        SELECT t.source, t.source_kind, t.reason AS untracked, u.member,
               g.generation, g.last_change, g.reason AS unknown, g.own_write,
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
               pg_catalog.bool_or(n.own_write) AS own_write,
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
           v.last_change, v.why_unknown,
           coalesce(v.own_write AND v.some_changed, false)
      FROM verdict v
    UNION ALL
    -- a table read at the last refresh and no longer (a detached or dropped
    -- partition or child, a redefined view): what it contributed is gone;
    -- and one the refresh could not track leaves the view unproven, even
    -- when it is no longer read (rows routed through a parent, unknown then,
    -- stay in a partition detached since)
    SELECT rec.tbl, 'no longer read', CASE WHEN rec.gen IS NOT NULL THEN true END, NULL, NULL,
           CASE WHEN rec.gen IS NULL THEN 'it could not be tracked when the view was last refreshed, and is no longer read' END,
           false
      FROM recorded rec, facts f
     WHERE f.recorded_epoch OPERATOR(pg_catalog.=) f.epoch
       AND f.recorded_database OPERATOR(pg_catalog.=) f.database
       AND NOT EXISTS (SELECT 1 FROM now_read n
                        WHERE n.member::pg_catalog.oid OPERATOR(pg_catalog.=) rec.tbl::pg_catalog.oid)
    ) AS s (source, source_kind, changed, changes, last_change, reason, uncommitted)
    ORDER BY s.source::pg_catalog.text COLLATE "C"
$$;

COMMENT ON FUNCTION reporting.staleness(pg_catalog.regclass) IS
    'One row per source of a registered view: whether changes to it can be missing from the view (changed true), cannot (false) or it is unknown (NULL, with the reason), how many, when it last changed, and whether changes made by the current transaction, not committed yet, are among them.';

-- The whole verdict on one view, through the materialized views it reads:
--   state     unchanged, changed or unknown
--   clock     'date' or 'time' when its query depends on the clock
--   upstream  the materialized view it reads that is behind or unknown
--   as_of     the time up to which it is known to hold every committed
--             change: now while unchanged, the start of its last refresh
--             once something is missing, NULL when nothing can be proven
CREATE FUNCTION reporting._freshness(view pg_catalog.regclass, depth pg_catalog.int4 DEFAULT 0,
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
BEGIN
    SELECT r.sources INTO declared FROM reporting.registrations r
     WHERE r.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid;
    SELECT pg_catalog.max(x.started_at) INTO last_refreshed_at FROM reporting.runs x
     WHERE x.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
       AND x.status OPERATOR(pg_catalog.=) 'refreshed';
    SELECT x.tracked_sources IS NOT NULL AND x.tracking_epoch IS NOT NULL INTO provable
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
                   OPERATOR(pg_catalog.<>) (last_refreshed_at AT TIME ZONE tz)::pg_catalog.date THEN
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

COMMENT ON FUNCTION reporting._freshness(pg_catalog.regclass, pg_catalog.int4) IS
    'Internal: the verdict on one view through the materialized views it reads (unchanged, changed, unknown), why, whether its query depends on the clock, and as of when it is known to hold every committed change.';

-- The view-level verdict of earlier versions, now through _freshness.
CREATE OR REPLACE FUNCTION reporting._freshness_state(view pg_catalog.regclass,
    OUT sources_changed pg_catalog.bool, OUT changes pg_catalog.int8,
    OUT last_source_change pg_catalog.timestamptz, OUT reason pg_catalog.text)
RETURNS record
LANGUAGE sql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE f.state WHEN 'unchanged' THEN false WHEN 'changed' THEN true END,
           f.changes, f.last_source_change, f.reason
      FROM reporting._freshness($1) f
$$;

-- Why refresh_all() and the scheduler may skip a view: registered
-- refresh_when => 'changed', populated, not older than its max_age, and
-- unchanged through its upstream views (a view that depends on the time is
-- never unchanged; one that depends on the date only until the date changes).
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
     CROSS JOIN LATERAL reporting._freshness($1) f
     WHERE r.view::pg_catalog.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid
       AND r.refresh_when OPERATOR(pg_catalog.=) 'changed'
       AND c.relispopulated
       AND (r.max_age IS NULL OR f.last_refreshed_at
            OPERATOR(pg_catalog.>) (pg_catalog.clock_timestamp() OPERATOR(pg_catalog.-) r.max_age))
       AND f.state OPERATOR(pg_catalog.=) 'unchanged');
END
$$;

-- The freshness part of the sentence, in exact words.
CREATE FUNCTION reporting._describe_verdict(state pg_catalog.text, changes pg_catalog.int8,
    reason pg_catalog.text, clock pg_catalog.text, upstream pg_catalog.regclass,
    uncommitted pg_catalog.bool)
RETURNS pg_catalog.text
LANGUAGE sql IMMUTABLE
SET search_path = pg_catalog, pg_temp
AS $$
    SELECT CASE
        WHEN state OPERATOR(pg_catalog.=) 'unchanged' AND clock OPERATOR(pg_catalog.=) 'date'
            THEN '; sources unchanged since the last refresh, and the date it depends on has not changed'
        WHEN state OPERATOR(pg_catalog.=) 'unchanged' THEN '; sources unchanged since the last refresh'
        WHEN state OPERATOR(pg_catalog.=) 'changed' AND upstream IS NOT NULL
            THEN pg_catalog.format('; built on %s, which is behind its sources', upstream)
        WHEN state OPERATOR(pg_catalog.=) 'changed' AND changes OPERATOR(pg_catalog.>) 0
            THEN pg_catalog.format('; %s source %s since the last refresh%s', changes,
                                   CASE WHEN changes OPERATOR(pg_catalog.=) 1 THEN 'change' ELSE 'changes' END,
                                   CASE WHEN uncommitted THEN ' (counting this transaction''s own, not committed yet)' ELSE '' END)
        WHEN state OPERATOR(pg_catalog.=) 'changed' AND clock OPERATOR(pg_catalog.=) 'time'
            THEN '; depends on the current time: exact as of its last refresh'
        WHEN state OPERATOR(pg_catalog.=) 'changed' AND clock OPERATOR(pg_catalog.=) 'date'
            THEN '; depends on the current date, which has changed since its last refresh'
        WHEN state OPERATOR(pg_catalog.=) 'changed' THEN '; sources changed since the last refresh'
        WHEN reason OPERATOR(pg_catalog.=) 'unknown since the server restarted' THEN '; unknown since the server restarted'
        WHEN reason LIKE 'change tracking is off%' THEN '; change tracking is off (reporting is not in shared_preload_libraries)'
        WHEN reason OPERATOR(pg_catalog.=) 'never refreshed' THEN ''
        ELSE '; freshness unknown: ' OPERATOR(pg_catalog.||) coalesce(reason, 'no source can be tracked')
    END
$$;

-- reporting.freshness(): one row, for an API that must not abort its
-- transaction on a stale report.
CREATE FUNCTION reporting.freshness(view pg_catalog.regclass, within pg_catalog.interval DEFAULT NULL,
    OUT fresh pg_catalog.bool, OUT as_of pg_catalog.timestamptz, OUT lag pg_catalog.interval,
    OUT reason pg_catalog.text, OUT sentence pg_catalog.text,
    OUT next_refresh_at pg_catalog.timestamptz)
RETURNS record
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
#variable_conflict use_variable
DECLARE
    f record;
    r record;
    last record;
BEGIN
    IF view IS NULL THEN
        RAISE EXCEPTION '"view" must not be null' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF within OPERATOR(pg_catalog.<) '0'::pg_catalog.interval THEN
        RAISE EXCEPTION '"within" must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT g.* INTO r FROM reporting.registrations g
     WHERE g.view::pg_catalog.oid OPERATOR(pg_catalog.=) view::pg_catalog.oid;
    IF NOT FOUND THEN
        fresh := false;
        reason := pg_catalog.format('materialized view %s is not registered', view);
        sentence := 'not registered';
        RETURN;
    END IF;
    SELECT * INTO f FROM reporting._freshness(view);
    SELECT u.status, u.started_at INTO last FROM reporting.runs u
     WHERE u.view::pg_catalog.oid OPERATOR(pg_catalog.=) view::pg_catalog.oid
     ORDER BY u.started_at DESC, u.id DESC LIMIT 1;
    as_of := f.as_of;
    lag := pg_catalog.now() OPERATOR(pg_catalog.-) f.as_of;
    fresh := CASE WHEN within IS NULL THEN f.state OPERATOR(pg_catalog.=) 'unchanged'
                  ELSE coalesce(lag OPERATOR(pg_catalog.<=) within, false) END;
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
END
$$;

COMMENT ON FUNCTION reporting.freshness(pg_catalog.regclass, pg_catalog.interval) IS
    'One row that never raises for a stale view: fresh (no committed change missing, or the lag within "within"), as_of (up to when it holds every committed change), lag (now minus as_of), reason, the freshness sentence, and when the scheduler refreshes it next.';

GRANT EXECUTE ON FUNCTION reporting.freshness(pg_catalog.regclass, pg_catalog.interval) TO PUBLIC;

CREATE OR REPLACE FUNCTION reporting.assert_fresh(view pg_catalog.regclass, within pg_catalog.interval)
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

COMMENT ON FUNCTION reporting.assert_fresh(pg_catalog.regclass, pg_catalog.interval) IS
    'Return quietly when the view (through the materialized views it reads) has missed no committed change, or is behind by no more than "within"; otherwise raise SQLSTATE RP001 saying exactly how stale it is and why.';

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
                                     ok.started_at, last.status, last.started_at, pg_catalog.now())
           OPERATOR(pg_catalog.||)
           CASE WHEN c.oid IS NULL OR ok.started_at IS NULL THEN ''
                ELSE reporting._describe_verdict(f.state, f.changes, f.reason, f.clock, f.upstream, f.uncommitted) END AS freshness,
       c.oid IS NOT NULL AS view_exists,
       coalesce(c.relispopulated, false) AS populated,
       r.registered_at,
       f.sources_changed,
       f.last_source_change,
       f.changes AS source_changes,
       CASE WHEN f.state OPERATOR(pg_catalog.=) 'unknown' THEN f.reason END AS unknown_reason,
       n.next_refresh_at,
       coalesce(n.consecutive_failures, 0) AS consecutive_failures,
       n.retry_at,
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
  LEFT JOIN LATERAL reporting._freshness(r.view) f ON c.oid IS NOT NULL
  LEFT JOIN LATERAL reporting._next_refresh(r.view) n ON c.oid IS NOT NULL
  LEFT JOIN LATERAL reporting._refresh_blocked(r.view, r.owner) b ON c.oid IS NOT NULL;

COMMENT ON VIEW reporting.status IS
    'One row per registered view: schedule, mode, the last run and the last successful refresh, whether it can be missing committed changes (fresh; sources_changed true, false or NULL for unknown, through the materialized views it reads, with depends_on_clock and behind_upstream), as_of and lag, a freshness sentence in plain language, when the scheduler refreshes it next, its owner when registered, the roles granted its refresh, and why the scheduler will not refresh it with what to do (refresh_blocked, refresh_blocked_hint).';

-------------------------------------------------------------------------------
-- End
-------------------------------------------------------------------------------
