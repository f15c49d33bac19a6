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
        RAISE NOTICE 'registration of dropped materialized view "%.%" removed', NEW.schema_name, NEW.view_name
            USING DETAIL = pg_catalog.format('It was refreshed manually only; its refresh grants and history (%s %s) are deleted.',
                                             runs_gone, CASE WHEN runs_gone OPERATOR(pg_catalog.=) 1 THEN 'run' ELSE 'runs' END),
                  HINT = 'To change a report''s query and keep its registration, use reporting.redefine(), or drop and create it in one transaction.';
    ELSIF schedule IS NOT NULL THEN
        RAISE NOTICE 'registration of dropped materialized view "%.%" removed', NEW.schema_name, NEW.view_name
            USING DETAIL = pg_catalog.format('Its schedule (%s) no longer runs; its refresh grants and history (%s %s) are deleted.',
                                             schedule, runs_gone, CASE WHEN runs_gone OPERATOR(pg_catalog.=) 1 THEN 'run' ELSE 'runs' END),
                  HINT = 'To change a report''s query and keep its registration, use reporting.redefine(), or drop and create it in one transaction.';
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

-- (incremental section)
