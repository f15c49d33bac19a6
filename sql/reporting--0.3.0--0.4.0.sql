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
    forgotten pg_catalog.int8;
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
    GET DIAGNOSTICS forgotten = ROW_COUNT;
    -- the trigger maintenance names reporting.* itself: only while that
    -- name is ours (own_schema is the extension's schema's name)
    IF forgotten OPERATOR(pg_catalog.>) 0
       AND own_schema OPERATOR(pg_catalog.=) 'reporting'
       AND pg_catalog.to_regprocedure('reporting._detach_unneeded_triggers()') IS NOT NULL THEN
        PERFORM reporting._detach_unneeded_triggers();
    END IF;
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

-- (tracking section)



-------------------------------------------------------------------------------
-- End
-------------------------------------------------------------------------------
