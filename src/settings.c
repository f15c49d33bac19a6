/*-------------------------------------------------------------------------
 *
 * settings.c
 *		The settings a refresh runs its query with: the owner's login
 *		defaults, never the caller's session values.
 *
 * A report's rows can depend on settings: created_at::date on TimeZone,
 * to_char() on lc_time, an unqualified table name inside a function on
 * search_path.  Django sets TimeZone to UTC on every connection, while the
 * scheduler's workers have the database's; so every refresh path (manual,
 * refresh_all in the session or in workers, the scheduler) applies, for each
 * setting that changes results, the value a new session of the view's owner
 * in this database would start with:
 *
 *	1. ALTER ROLE owner IN DATABASE this SET ...
 *	2. ALTER ROLE owner SET ...
 *	3. ALTER DATABASE this SET ...
 *	4. the server's configuration (postgresql.conf, ALTER SYSTEM), else the
 *	   built-in default.
 *
 * This is PostgreSQL's own precedence for a new session (see
 * process_settings() in src/backend/utils/init/postinit.c), except that
 * settings given on the server's command line and a client's startup
 * options are not seen.  The values are applied at a new GUC nest level, as
 * a function's SET clause would, and undone afterwards.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_db_role_setting.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/memutils.h"

#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "catalog/pg_class.h"
#include "fmgr.h"

#include "reporting.h"
#include "settings.h"

PG_FUNCTION_INFO_V1(reporting_refresh_setting);
PG_FUNCTION_INFO_V1(reporting_login_setting);

/* the settings that can change a query's result */
static const char *const result_settings[] = {
	"TimeZone", "search_path", "DateStyle", "IntervalStyle",
	"extra_float_digits", "lc_monetary", "lc_numeric", "lc_time",
	"default_text_search_config", "bytea_output", "xmlbinary", "xmloption",
	"timezone_abbreviations", "row_security", "array_nulls",
	"transform_null_equals", "standard_conforming_strings",
	"quote_all_identifiers"
};

#define NUM_RESULT_SETTINGS lengthof(result_settings)

/*
 * reporting_setting_changes_results
 *		True when a setting named name (NULL: every setting, as RESET ALL)
 *		is one that can change a query's result, which refreshes run with
 *		their owner's default of: for tracking.c, which counts ALTER ROLE /
 *		ALTER DATABASE ... SET of such a setting as a change of every report
 *		there.  Raises nothing.
 */
bool
reporting_setting_changes_results(const char *name)
{
	if (name == NULL)
		return true;
	for (int i = 0; i < NUM_RESULT_SETTINGS; i++)
		if (pg_strcasecmp(name, result_settings[i]) == 0)
			return true;
	return false;
}

/*
 * The value of setting "name" in one pg_db_role_setting row, or NULL.  Later
 * entries win, as ProcessGUCArray applies them in order.
 */
static char *
value_in_setconfig(Datum setconfig, const char *name)
{
	ArrayType  *array = DatumGetArrayTypeP(setconfig);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	char	   *found = NULL;

	deconstruct_array(array, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		char	   *item;
		char	   *eq;

		if (nulls[i])
			continue;
		item = TextDatumGetCString(elems[i]);
		eq = strchr(item, '=');
		if (eq == NULL)
			continue;
		*eq = '\0';
		if (pg_strcasecmp(item, name) == 0)
			found = eq + 1;
	}
	return found;
}

/* The setconfig array of (database, role), or (Datum) 0 when there is none. */
static Datum
load_setconfig(Relation rel, Oid database, Oid role)
{
	ScanKeyData keys[2];
	SysScanDesc scan;
	HeapTuple	tuple;
	Datum		result = (Datum) 0;

	ScanKeyInit(&keys[0], Anum_pg_db_role_setting_setdatabase, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(database));
	ScanKeyInit(&keys[1], Anum_pg_db_role_setting_setrole, BTEqualStrategyNumber,
				F_OIDEQ, ObjectIdGetDatum(role));
	scan = systable_beginscan(rel, DbRoleSettingDatidRolidIndexId, true, NULL, 2, keys);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
	{
		bool		isnull;
		Datum		d = heap_getattr(tuple, Anum_pg_db_role_setting_setconfig,
									 RelationGetDescr(rel), &isnull);

		if (!isnull)
			result = PointerGetDatum(DatumGetArrayTypePCopy(d));
	}
	systable_endscan(scan);
	return result;
}

/*
 * The server-level value of every result-changing setting: what the
 * configuration files say (pg_file_settings, read as the extension's
 * owner), else the built-in default.  Reading the files is costly, so the
 * values are kept for the life of the backend and read again only after a
 * configuration reload (PgReloadTime).
 */
static const char *server_cache[NUM_RESULT_SETTINGS];
static TimestampTz server_cache_loaded = 0;

static void
load_server_values(void)
{
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;
	const char *fresh[NUM_RESULT_SETTINGS];

	SPI_connect();
	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	if (SPI_execute("SELECT s.name,"
					"       coalesce((SELECT f.setting FROM pg_catalog.pg_file_settings f"
					"                  WHERE pg_catalog.lower(f.name) OPERATOR(pg_catalog.=) pg_catalog.lower(s.name)"
					"                    AND f.applied ORDER BY f.seqno DESC LIMIT 1),"
					"                s.boot_val)"
					"  FROM pg_catalog.pg_settings s", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the server's settings");
	for (int i = 0; i < NUM_RESULT_SETTINGS; i++)
	{
		fresh[i] = NULL;
		for (uint64 row = 0; row < SPI_processed; row++)
		{
			char	   *name = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 1);

			if (pg_strcasecmp(name, result_settings[i]) == 0)
			{
				char	   *v = SPI_getvalue(SPI_tuptable->vals[row], SPI_tuptable->tupdesc, 2);

				fresh[i] = v ? MemoryContextStrdup(TopMemoryContext, v) : NULL;
				break;
			}
		}
	}
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
	SPI_finish();
	for (int i = 0; i < NUM_RESULT_SETTINGS; i++)
	{
		if (server_cache[i] != NULL)
			pfree((void *) server_cache[i]);
		server_cache[i] = fresh[i];
	}
	server_cache_loaded = PgReloadTime;
}

/* Fill values[i] where it is NULL with the server-level value. */
static void
server_values(const char **values)
{
	if (server_cache_loaded == 0 || server_cache_loaded != PgReloadTime)
		load_server_values();
	for (int i = 0; i < NUM_RESULT_SETTINGS; i++)
		if (values[i] == NULL)
			values[i] = server_cache[i];
}

/*
 * The value each result-changing setting has in a new session of owner in
 * this database, in the precedence order given at the top of this file.
 */
static void
owner_values(Oid owner, const char **values)
{
	Relation	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	Datum		levels[3];

	levels[0] = load_setconfig(rel, MyDatabaseId, owner);
	levels[1] = load_setconfig(rel, InvalidOid, owner);
	levels[2] = load_setconfig(rel, MyDatabaseId, InvalidOid);
	table_close(rel, AccessShareLock);

	for (int i = 0; i < NUM_RESULT_SETTINGS; i++)
	{
		values[i] = NULL;
		for (int level = 0; level < 3 && values[i] == NULL; level++)
			if (levels[level] != (Datum) 0)
				values[i] = value_in_setconfig(levels[level], result_settings[i]);
	}
	server_values(values);
}

/*
 * Apply, at a new GUC nest level, the owner's login defaults for every
 * setting that changes a query's result.  Returns the nest level to pass to
 * reporting_restore_settings(); on error, (sub)transaction abort undoes
 * them.  owner: the role the refresh runs as.  Raises what set_config_option
 * raises for a value that is no longer valid (22023), naming the setting.
 */
int
reporting_apply_owner_settings(Oid owner)
{
	const char *values[NUM_RESULT_SETTINGS];
	int			nestlevel;

	owner_values(owner, values);
	nestlevel = NewGUCNestLevel();
	for (int i = 0; i < NUM_RESULT_SETTINGS; i++)
		if (values[i] != NULL)
			(void) set_config_option(result_settings[i], values[i],
									 PGC_USERSET, PGC_S_SESSION,
									 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/* Undo reporting_apply_owner_settings(). */
void
reporting_restore_settings(int nestlevel)
{
	AtEOXact_GUC(true, nestlevel);
}

/*
 * The settings in effect that most often explain a surprising result, for
 * an error's context: TimeZone "UTC", search_path ""$user", public" and
 * DateStyle "ISO, MDY".
 */
char *
reporting_describe_settings(void)
{
	return psprintf("TimeZone \"%s\", search_path \"%s\" and DateStyle \"%s\"",
					GetConfigOption("TimeZone", false, false),
					GetConfigOption("search_path", false, false),
					GetConfigOption("DateStyle", false, false));
}

/*
 * reporting._refresh_setting(view regclass, name text) RETURNS text
 *
 * The value of one of the settings that change results (TimeZone, ...) that
 * a refresh of view runs with: its owner's login default.  NULL for a
 * relation that does not exist or a setting that is not one of those.
 */
Datum
reporting_refresh_setting(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	const char *values[NUM_RESULT_SETTINGS];
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		PG_RETURN_NULL();
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	owner_values(owner, values);
	for (int i = 0; i < NUM_RESULT_SETTINGS; i++)
		if (pg_strcasecmp(result_settings[i], name) == 0 && values[i] != NULL)
			PG_RETURN_TEXT_P(cstring_to_text(values[i]));
	PG_RETURN_NULL();
}

/*
 * reporting._login_setting(name text) RETURNS text
 *
 * The value of one of the settings that change results (TimeZone,
 * search_path, ...) that the current role's refreshes run with: its login
 * default in this database (the top of this file).  NULL for a setting that
 * is not one of those.  For create_incremental, which resolves the names
 * and the zone of a report's query as its refreshes will.
 */
Datum
reporting_login_setting(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *values[NUM_RESULT_SETTINGS];

	owner_values(GetUserId(), values);
	for (int i = 0; i < NUM_RESULT_SETTINGS; i++)
		if (pg_strcasecmp(result_settings[i], name) == 0 && values[i] != NULL)
			PG_RETURN_TEXT_P(cstring_to_text(values[i]));
	PG_RETURN_NULL();
}
