-- Issue 9, part 1: the extension's schema.  Each attack below made an
-- ordinary role superuser, or could, with version 0.3.0:
--  1. a schema "reporting" created beforehand by another role (or open to
--     CREATE, or holding its objects) is refused, by CREATE EXTENSION and
--     by ALTER EXTENSION UPDATE from 0.3.0, and nothing of the install stays;
--  2. after the install, a schema renamed into the place of ours is never
--     used: not by the SECURITY DEFINER event triggers, not by the C paths;
--  3. functions, operators and casts planted in public (first on the
--     search_path) never run during CREATE EXTENSION, ALTER EXTENSION
--     UPDATE from 0.3.0, or the API.
-- A trap is a function that, called by a superuser, makes its owner a
-- superuser, and anyhow records who called it; "trap_calls" must stay 0.

CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    state text; msg text;
BEGIN
    EXECUTE sql;
    RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    RETURN state || ': ' || msg;
END $$;

CREATE ROLE regress_sec_mallory;
SELECT format('GRANT CREATE ON DATABASE %I TO regress_sec_mallory', current_database()) \gexec
CREATE TABLE public.trap_log (called_by name, was_superuser bool);
GRANT INSERT ON public.trap_log TO PUBLIC;
CREATE FUNCTION public.trap() RETURNS void LANGUAGE plpgsql
SET search_path = pg_catalog AS $$
BEGIN
    INSERT INTO public.trap_log
    SELECT current_user, rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user;
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        ALTER ROLE regress_sec_mallory SUPERUSER;
    END IF;
END $$;
ALTER FUNCTION public.trap() OWNER TO regress_sec_mallory;
GRANT EXECUTE ON FUNCTION public.trap() TO PUBLIC;
CREATE VIEW pg_temp.verdict AS
SELECT (SELECT count(*) FROM public.trap_log) AS trap_calls,
       (SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_sec_mallory') AS mallory_is_superuser;

SET client_min_messages = warning;
DROP EXTENSION reporting CASCADE;
DROP SCHEMA reporting;      -- CREATE EXTENSION made it; DROP EXTENSION leaves it
RESET client_min_messages;
\set SHOW_CONTEXT never

-- 1a. a schema "reporting" that mallory created (and so owns) is refused
CREATE SCHEMA reporting AUTHORIZATION regress_sec_mallory;
\set VERBOSITY default
CREATE EXTENSION reporting;
\set VERBOSITY terse
SELECT count(*) AS extensions FROM pg_extension WHERE extname = 'reporting';
SELECT count(*) AS objects_left FROM pg_class WHERE relnamespace = 'reporting'::regnamespace;

-- 1b. owned by a superuser but open to CREATE for mallory, or for PUBLIC
ALTER SCHEMA reporting OWNER TO CURRENT_USER;
GRANT CREATE ON SCHEMA reporting TO regress_sec_mallory;
CREATE EXTENSION reporting;
REVOKE CREATE ON SCHEMA reporting FROM regress_sec_mallory;
GRANT CREATE ON SCHEMA reporting TO PUBLIC;
CREATE EXTENSION reporting;
REVOKE CREATE ON SCHEMA reporting FROM PUBLIC;

-- 1c. holding an object mallory put there while she could
CREATE FUNCTION reporting.helper() RETURNS void LANGUAGE sql AS 'SELECT public.trap()';
ALTER FUNCTION reporting.helper() OWNER TO regress_sec_mallory;
CREATE EXTENSION reporting;
DROP FUNCTION reporting.helper();

-- a superuser's own empty schema is fine
CREATE EXTENSION reporting;
SELECT extversion FROM pg_extension WHERE extname = 'reporting';
SELECT * FROM pg_temp.verdict;

-- 1d. ALTER EXTENSION UPDATE from 0.3.0, which accepted mallory's schema
SET client_min_messages = warning;
DROP EXTENSION reporting CASCADE;
DROP SCHEMA reporting;
RESET client_min_messages;
CREATE SCHEMA reporting AUTHORIZATION regress_sec_mallory;
CREATE EXTENSION reporting VERSION '0.3.0';
SELECT extversion FROM pg_extension WHERE extname = 'reporting';
ALTER EXTENSION reporting UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'reporting';
-- the attack of issue 9 on 0.3.0: mallory swaps her schema for another
-- whose "registrations" table runs her trap when the event trigger writes it
SET ROLE regress_sec_mallory;
ALTER SCHEMA reporting RENAME TO reporting_old;
CREATE SCHEMA reporting;
-- (0.3.0's partition event trigger names reporting.track_change())
CREATE FUNCTION reporting.track_change() RETURNS trigger LANGUAGE plpgsql AS
    $$BEGIN RETURN NULL; END$$;
CREATE TABLE reporting.registrations (view regclass);
CREATE FUNCTION reporting.fire() RETURNS trigger LANGUAGE plpgsql AS
    $$BEGIN PERFORM public.trap(); RETURN NULL; END$$;
CREATE TRIGGER fire AFTER DELETE ON reporting.registrations
    FOR EACH STATEMENT EXECUTE FUNCTION reporting.fire();
RESET ROLE;
-- on 0.3.0 the attack works: a superuser drops any table, and the event
-- trigger runs mallory's trap as that superuser
CREATE TABLE public.anything ();
DROP TABLE public.anything;
SELECT * FROM pg_temp.verdict;
ALTER ROLE regress_sec_mallory NOSUPERUSER;
TRUNCATE public.trap_log;
-- the update refuses the swapped schema before running anything of it
ALTER EXTENSION reporting UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'reporting';
SELECT * FROM pg_temp.verdict;
SET client_min_messages = warning;
DROP SCHEMA reporting CASCADE;
DROP EXTENSION reporting CASCADE;
DROP SCHEMA reporting_old CASCADE;
RESET client_min_messages;

-- 2. After a proper install, a schema renamed into the place of ours (only
-- a superuser can rename it now; say one does by mistake, and mallory
-- creates the "reporting" she then may) is never used.
CREATE EXTENSION reporting;
CREATE TABLE public.sec_orders (id int PRIMARY KEY);
CREATE MATERIALIZED VIEW public.sec_count AS SELECT 1 AS k, count(*) AS n FROM public.sec_orders;
CREATE UNIQUE INDEX ON public.sec_count (k);
SELECT reporting.register('public.sec_count', every => '1 hour');
ALTER SCHEMA reporting RENAME TO reporting_real;
SET ROLE regress_sec_mallory;
CREATE SCHEMA reporting;
CREATE TABLE reporting.registrations (view regclass);
CREATE TABLE reporting.runs (view regclass);
CREATE FUNCTION reporting.fire() RETURNS trigger LANGUAGE plpgsql AS
    $$BEGIN PERFORM public.trap(); RETURN NULL; END$$;
CREATE TRIGGER fire AFTER DELETE ON reporting.registrations
    FOR EACH STATEMENT EXECUTE FUNCTION reporting.fire();
CREATE TRIGGER fire AFTER INSERT OR UPDATE OR DELETE ON reporting.runs
    FOR EACH STATEMENT EXECUTE FUNCTION reporting.fire();
CREATE FUNCTION reporting._refresh_plan() RETURNS TABLE (view regclass, level int, upstream regclass[])
    LANGUAGE plpgsql AS $$BEGIN PERFORM public.trap(); END$$;
CREATE FUNCTION reporting._add_trigger(regclass, text, text, text, text) RETURNS void
    LANGUAGE plpgsql AS $$BEGIN PERFORM public.trap(); END$$;
-- what describing a dropped report's schedule once called by name (0.5.0
-- development: the NOTICE of a registration dropped for good)
CREATE FUNCTION reporting._default_timezone() RETURNS text
    LANGUAGE plpgsql AS $$BEGIN PERFORM public.trap(); RETURN 'UTC'; END$$;
CREATE FUNCTION reporting._describe_every(interval) RETURNS text
    LANGUAGE plpgsql AS $$BEGIN PERFORM public.trap(); RETURN 'x'; END$$;
-- what freshness() computes its answer with
CREATE FUNCTION reporting._freshness_reads(regclass, OUT relids oid[], OUT views oid[], OUT valid_until timestamptz)
    LANGUAGE plpgsql AS $$BEGIN PERFORM public.trap(); END$$;
CREATE FUNCTION reporting._freshness_row(regclass) RETURNS SETOF record
    LANGUAGE plpgsql AS $$BEGIN PERFORM public.trap(); END$$;
RESET ROLE;
-- the C paths refuse to use it
\set VERBOSITY default
SELECT reporting_real.refresh_all();
\set VERBOSITY terse
SELECT pg_temp.try($$SELECT reporting_real.refresh('public.sec_count')$$);
SELECT pg_temp.try($$SELECT reporting_real.register('public.sec_count')$$);
SELECT pg_temp.try($$SELECT reporting_real.grant_refresh('public.sec_count', 'regress_sec_mallory')$$);
SELECT pg_temp.try($$SELECT reporting_real.freshness('public.sec_count')$$);
SELECT pg_temp.try($$SELECT reporting_real.assert_fresh('public.sec_count', '1 hour')$$);
-- the event trigger that forgets dropped views finds the real table by OID
DROP MATERIALIZED VIEW public.sec_count;
SELECT count(*) AS registrations_left FROM reporting_real.registrations;
-- the one that tracks new partitions does nothing
CREATE TABLE public.sec_parted (id int) PARTITION BY RANGE (id);
CREATE TABLE public.sec_part PARTITION OF public.sec_parted FOR VALUES FROM (0) TO (10);
SELECT * FROM pg_temp.verdict;
-- renamed back, everything works again
DROP SCHEMA reporting CASCADE;
ALTER SCHEMA reporting_real RENAME TO reporting;
CREATE MATERIALIZED VIEW public.sec_count AS SELECT 1 AS k, count(*) AS n FROM public.sec_orders;
CREATE UNIQUE INDEX ON public.sec_count (k);
SELECT reporting.register('public.sec_count');
SELECT mode FROM reporting.refresh('public.sec_count');
-- and a superuser who gives CREATE on it away is stopped at the next call
GRANT CREATE ON SCHEMA reporting TO regress_sec_mallory;
SELECT pg_temp.try($$SELECT reporting.refresh('public.sec_count')$$);
REVOKE CREATE ON SCHEMA reporting FROM regress_sec_mallory;
SELECT reporting.unregister('public.sec_count');

-- 3. Traps in public, first on the search_path, during CREATE EXTENSION,
-- ALTER EXTENSION UPDATE from 0.3.0, and calls of the API
CREATE FUNCTION public.trap_oid(oid, oid) RETURNS bool LANGUAGE plpgsql AS
    $$BEGIN PERFORM public.trap(); RETURN true; END$$;
CREATE FUNCTION public.trap_regclass(regclass, regclass) RETURNS bool LANGUAGE plpgsql AS
    $$BEGIN PERFORM public.trap(); RETURN true; END$$;
CREATE FUNCTION public.trap_texteq(text, text) RETURNS bool LANGUAGE plpgsql AS
    $$BEGIN PERFORM public.trap(); RETURN true; END$$;
CREATE FUNCTION public.trap_text(text, text) RETURNS text LANGUAGE plpgsql AS
    $$BEGIN PERFORM public.trap(); RETURN $1; END$$;
CREATE OPERATOR public.= (LEFTARG = oid, RIGHTARG = oid, FUNCTION = public.trap_oid);
CREATE OPERATOR public.= (LEFTARG = regclass, RIGHTARG = regclass, FUNCTION = public.trap_regclass);
CREATE OPERATOR public.= (LEFTARG = text, RIGHTARG = text, FUNCTION = public.trap_texteq);
CREATE OPERATOR public.<> (LEFTARG = oid, RIGHTARG = oid, FUNCTION = public.trap_oid);
CREATE OPERATOR public.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = public.trap_text);
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql AS
    $$BEGIN PERFORM public.trap(); RETURN pg_catalog.now(); END$$;
CREATE FUNCTION public.pg_has_role(oid, text) RETURNS bool LANGUAGE plpgsql AS
    $$BEGIN PERFORM public.trap(); RETURN true; END$$;
CREATE FUNCTION public.pg_get_userbyid(oid) RETURNS name LANGUAGE plpgsql AS
    $$BEGIN PERFORM public.trap(); RETURN 'x'; END$$;
CREATE FUNCTION public.to_regnamespace(text) RETURNS regnamespace LANGUAGE plpgsql AS
    $$BEGIN PERFORM public.trap(); RETURN NULL; END$$;
CREATE FUNCTION public.quote_ident(text) RETURNS text LANGUAGE plpgsql AS
    $$BEGIN PERFORM public.trap(); RETURN $1; END$$;
CREATE FUNCTION public.count(anyelement) RETURNS bigint LANGUAGE plpgsql AS
    $$BEGIN PERFORM public.trap(); RETURN 0; END$$;
-- an implicit cast from a type of mallory's, and functions that beat the
-- built-in ones for text arguments through an implicit cast
CREATE TYPE public.trap_name AS (n text);
CREATE FUNCTION public.trap_cast(text) RETURNS public.trap_name LANGUAGE plpgsql AS
    $$BEGIN PERFORM public.trap(); RETURN ROW($1); END$$;
CREATE CAST (text AS public.trap_name) WITH FUNCTION public.trap_cast(text) AS IMPLICIT;
CREATE FUNCTION public.format(public.trap_name) RETURNS text LANGUAGE plpgsql AS
    $$BEGIN PERFORM public.trap(); RETURN ''; END$$;
CREATE FUNCTION public.pg_extension_config_dump(public.trap_name, text) RETURNS void LANGUAGE plpgsql AS
    $$BEGIN PERFORM public.trap(); END$$;
SET search_path = public, pg_catalog;
SET client_min_messages = warning;
DROP EXTENSION reporting CASCADE;
RESET client_min_messages;
CREATE EXTENSION reporting;
SELECT * FROM pg_temp.verdict;
SET client_min_messages = warning;
DROP EXTENSION reporting CASCADE;
RESET client_min_messages;
CREATE EXTENSION reporting VERSION '0.3.0';
CREATE MATERIALIZED VIEW public.sec_count2 AS SELECT 1 AS k, count(*) AS n FROM public.sec_orders;
CREATE UNIQUE INDEX ON public.sec_count2 (k);
SELECT reporting.register('public.sec_count2');
ALTER EXTENSION reporting UPDATE;
SELECT * FROM pg_temp.verdict;
-- and the API, called by a superuser with that search_path
SELECT reporting.register('public.sec_count2', every => '1 hour');
SELECT reporting.grant_refresh('public.sec_count2', 'regress_sec_mallory');
SELECT mode FROM reporting.refresh('public.sec_count2');
SELECT view, status FROM reporting.refresh_all();
SELECT view, registered_owner, refresh_grantees, refresh_blocked IS NULL AS scheduled
  FROM reporting.status;
SELECT reporting.revoke_refresh('public.sec_count2', 'regress_sec_mallory');
SELECT reporting.unregister('public.sec_count2');
SELECT * FROM pg_temp.verdict;
RESET search_path;

-- clean up
SET client_min_messages = warning;
DROP VIEW pg_temp.verdict;
DROP MATERIALIZED VIEW public.sec_count2, public.sec_count;
DROP TABLE public.sec_orders, public.sec_parted;
DROP OPERATOR public.= (oid, oid), public.= (regclass, regclass), public.= (text, text),
    public.<> (oid, oid), public.|| (text, text);
DROP CAST (text AS public.trap_name);
DROP FUNCTION public.trap_oid(oid, oid), public.trap_regclass(regclass, regclass),
    public.trap_texteq(text, text), public.trap_text(text, text),
    public.now(), public.pg_has_role(oid, text), public.pg_get_userbyid(oid),
    public.to_regnamespace(text), public.quote_ident(text), public.count(anyelement),
    public.trap_cast(text), public.format(public.trap_name),
    public.pg_extension_config_dump(public.trap_name, text);
DROP TYPE public.trap_name;
DROP TABLE public.trap_log;
DROP FUNCTION public.trap();
SELECT format('REVOKE CREATE ON DATABASE %I FROM regress_sec_mallory', current_database()) \gexec
DROP OWNED BY regress_sec_mallory;
DROP ROLE regress_sec_mallory;
