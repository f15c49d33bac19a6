/*-------------------------------------------------------------------------
 *
 * register.c
 *		reporting.register and reporting.unregister: validating a view's
 *		refresh settings and storing them in reporting.registrations.
 *
 * Every argument is checked before anything is written, so a call that
 * fails leaves no trace.  Registering twice updates the registration.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/snapmgr.h"
#include "utils/lsyscache.h"
#include "catalog/pg_class.h"

#include "reporting.h"
#include "unique_key.h"

PG_FUNCTION_INFO_V1(reporting_register);
PG_FUNCTION_INFO_V1(reporting_unregister);

/* positions of reporting.register's arguments */
enum
{
	ARG_VIEW,
	ARG_EVERY,
	ARG_CRON,
	ARG_TIMEZONE,
	ARG_MODE,
	ARG_REFRESH_WHEN,
	ARG_MAX_AGE,
	ARG_LOCK_TIMEOUT,
	ARG_STATEMENT_TIMEOUT,
	ARG_SOURCES,				/* from 0.4.0 */
	ARG_REFRESH,				/* from 0.4.0 */
	NUM_REGISTER_ARGS
};

/* the arguments of the SQL objects before 0.4.0 */
#define NUM_REGISTER_ARGS_03 (ARG_STATEMENT_TIMEOUT + 1)

static const char *const register_arg_names[NUM_REGISTER_ARGS] = {
	"view", "every", "cron", "timezone", "mode", "refresh_when", "max_age",
	"lock_timeout", "statement_timeout", "sources", "refresh"
};

/* An argument that older SQL objects do not pass counts as NULL. */
static bool
arg_is_null(FunctionCallInfo fcinfo, int argno)
{
	return argno >= PG_NARGS() || PG_ARGISNULL(argno);
}

/*
 * Check the declared sources: tables, partitioned tables, materialized
 * views or foreign tables the view reads in ways the catalog does not show
 * (inside functions).  Raises 22004 for a NULL element and 42809 for a
 * relation of another kind.
 */
static void
check_sources(FunctionCallInfo fcinfo)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	if (arg_is_null(fcinfo, ARG_SOURCES))
		return;
	deconstruct_array(PG_GETARG_ARRAYTYPE_P(ARG_SOURCES), REGCLASSOID, sizeof(Oid), true,
					  TYPALIGN_INT, &elems, &nulls, &n);
	for (int i = 0; i < n; i++)
	{
		Oid			source;
		char		relkind;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("\"sources\" must not contain nulls")));
		source = DatumGetObjectId(elems[i]);
		relkind = get_rel_relkind(source);
		if (relkind == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_TABLE),
					 errmsg("relation with OID %u does not exist", source)));
		if (relkind != RELKIND_RELATION && relkind != RELKIND_PARTITIONED_TABLE &&
			relkind != RELKIND_MATVIEW && relkind != RELKIND_FOREIGN_TABLE)
			ereport(ERROR,
					(errcode(ERRCODE_WRONG_OBJECT_TYPE),
					 errmsg("\"%s\" cannot be a declared source", reporting_display_name(source)),
					 errdetail("Declared sources are tables, partitioned tables, materialized views or foreign tables."),
					 errhint("Declare the tables it reads instead.")));
	}
}

/* The "refresh" argument: NULL, "now" or "soon". */
static const char *
refresh_request(FunctionCallInfo fcinfo)
{
	char	   *refresh;

	if (arg_is_null(fcinfo, ARG_REFRESH))
		return NULL;
	refresh = text_to_cstring(PG_GETARG_TEXT_PP(ARG_REFRESH));
	if (strcmp(refresh, "now") != 0 && strcmp(refresh, "soon") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for \"refresh\": \"%s\"", refresh),
				 errhint("Valid values are \"now\" (refresh it in this call) and \"soon\" (the scheduler refreshes it right after this transaction commits).")));
	return refresh;
}

/* Raise 22004 when a required argument is NULL. */
static void
require_not_null(FunctionCallInfo fcinfo, int argno)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("\"%s\" must not be null", register_arg_names[argno])));
}

/* Check the schedule arguments: every, cron and timezone. */
static void
check_schedule(FunctionCallInfo fcinfo)
{
	if (!PG_ARGISNULL(ARG_EVERY) && !PG_ARGISNULL(ARG_CRON))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("cannot use both \"every\" and \"cron\""),
				 errhint("Give an interval with \"every\" or a cron expression with \"cron\", not both.")));
	if (!PG_ARGISNULL(ARG_EVERY))
	{
		Interval   *every = PG_GETARG_INTERVAL_P(ARG_EVERY);

		if (every->month != 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"every\" cannot contain months or years"),
					 errhint("Use \"cron\" for calendar schedules, for example '0 0 1 * *' for the first of every month.")));
		reporting_check_interval_bound(every, "every");
		if (reporting_interval_usecs(every) < USECS_PER_SEC)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"every\" must be at least 1 second")));
	}
	if (!PG_ARGISNULL(ARG_TIMEZONE))
	{
		if (PG_ARGISNULL(ARG_CRON))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"timezone\" applies only to a \"cron\" schedule"),
					 errhint("Intervals given with \"every\" do not depend on a time zone.")));
		reporting_validate_timezone(text_to_cstring(PG_GETARG_TEXT_PP(ARG_TIMEZONE)));
	}
	if (!PG_ARGISNULL(ARG_CRON))
	{
		char	   *expr = text_to_cstring(PG_GETARG_TEXT_PP(ARG_CRON));
		ReportingCron cron;
		pg_tz	   *tz;

		reporting_parse_cron(expr, &cron);
		tz = reporting_schedule_timezone(PG_ARGISNULL(ARG_TIMEZONE) ? NULL :
										 text_to_cstring(PG_GETARG_TEXT_PP(ARG_TIMEZONE)));
		if (reporting_cron_next(&cron, tz, GetCurrentTransactionStartTimestamp()) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("cron expression \"%s\" never matches a date", expr),
					 errhint("Check the day-of-month and month fields, for example 31 in a month that has 30 days.")));
	}
}

/* Check the refresh settings: mode, refresh_when, max_age and timeouts. */
static void
check_settings(FunctionCallInfo fcinfo, Oid relid)
{
	char	   *mode;
	char	   *refresh_when;

	require_not_null(fcinfo, ARG_MODE);
	require_not_null(fcinfo, ARG_REFRESH_WHEN);
	require_not_null(fcinfo, ARG_LOCK_TIMEOUT);

	mode = text_to_cstring(PG_GETARG_TEXT_PP(ARG_MODE));
	reporting_check_mode(mode, "mode", true);
	refresh_when = text_to_cstring(PG_GETARG_TEXT_PP(ARG_REFRESH_WHEN));
	if (strcmp(refresh_when, "changed") != 0 && strcmp(refresh_when, "always") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for \"refresh_when\": \"%s\"", refresh_when),
				 errhint("Valid values are \"changed\" and \"always\".")));

	if (!PG_ARGISNULL(ARG_MAX_AGE))
	{
		/* no timeout setting: only positive, and small enough to add to now */
		reporting_check_interval_bound(PG_GETARG_INTERVAL_P(ARG_MAX_AGE), "max_age");
		if (reporting_interval_usecs(PG_GETARG_INTERVAL_P(ARG_MAX_AGE)) <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"max_age\" must be greater than zero")));
	}
	(void) reporting_positive_interval_ms(PG_GETARG_INTERVAL_P(ARG_LOCK_TIMEOUT),
										  "lock_timeout");
	if (!PG_ARGISNULL(ARG_STATEMENT_TIMEOUT))
		(void) reporting_positive_interval_ms(PG_GETARG_INTERVAL_P(ARG_STATEMENT_TIMEOUT),
											  "statement_timeout");

	/* an explicit "concurrently" must be possible: say so now, not at 3 a.m. */
	if (strcmp(mode, "concurrently") == 0 &&
		!reporting_has_usable_unique_index(relid))
		(void) reporting_choose_mode(relid, mode, true);
}

/*
 * Say what the view's unique key means for refreshes: with none, refreshes
 * are plain and block readers; with NULLs in its key columns, every
 * concurrent refresh deletes and re-inserts those rows, because NULL never
 * equals NULL in the comparison REFRESH ... CONCURRENTLY makes.
 */
static void
advise_on_unique_key(Oid relid, const char *mode)
{
	char	   *display = reporting_display_name(relid);

	if (strcmp(mode, "plain") == 0)
		return;
	if (!reporting_has_usable_unique_index(relid))
	{
		ereport(NOTICE,
				(errmsg("materialized view \"%s\" has no usable unique index, so it will be refreshed without CONCURRENTLY", display),
				 errdetail("A plain refresh blocks every reader of the view until it commits."),
				 errhint("Create a unique index with no WHERE clause on one or more columns of the materialized view.")));
		return;
	}
	reporting_warn_null_keys(relid, reporting_owner_of(relid));
}

/*
 * Insert or update the registration, as the extension's owner.  From 0.4.0
 * on it records the view's owner now (security.c: the scheduler stops when
 * the view changes hands), the declared sources and, for refresh => 'soon',
 * the time of the request (the scheduler refreshes the view as soon as it
 * sees it); registering again after a change of owner drops the refresh
 * grants the previous owner gave.
 */
static void
store_registration(FunctionCallInfo fcinfo, bool soon)
{
	Oid			argtypes[NUM_REGISTER_ARGS] = {REGCLASSOID, INTERVALOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, INTERVALOID, INTERVALOID, INTERVALOID,
	REGCLASSARRAYOID, BOOLOID};
	Datum		values[NUM_REGISTER_ARGS];
	char		nulls[NUM_REGISTER_ARGS];
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;
	bool		current = PG_NARGS() == NUM_REGISTER_ARGS &&
		reporting_extension_at_least(REPORTING_SECURITY_MIN_VERSION);

	for (int i = 0; i < NUM_REGISTER_ARGS; i++)
	{
		values[i] = arg_is_null(fcinfo, i) ? (Datum) 0 : PG_GETARG_DATUM(i);
		nulls[i] = arg_is_null(fcinfo, i) ? 'n' : ' ';
	}
	values[ARG_REFRESH] = BoolGetDatum(soon);
	nulls[ARG_REFRESH] = ' ';

	SPI_connect();
	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	if (SPI_execute_with_args(current ?
							  "INSERT INTO reporting.registrations AS r"
							  " (view, every, cron, timezone, mode, refresh_when,"
							  "  max_age, lock_timeout, statement_timeout, sources,"
							  "  refresh_requested_at, owner)"
							  " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10,"
							  "        CASE WHEN $11 THEN pg_catalog.now() END,"
							  "        c.relowner::pg_catalog.regrole"
							  "   FROM pg_catalog.pg_class c"
							  "  WHERE c.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid"
							  " ON CONFLICT (view) DO UPDATE SET"
							  " every = excluded.every, cron = excluded.cron,"
							  " timezone = excluded.timezone, mode = excluded.mode,"
							  " refresh_when = excluded.refresh_when,"
							  " max_age = excluded.max_age,"
							  " lock_timeout = excluded.lock_timeout,"
							  " statement_timeout = excluded.statement_timeout,"
							  " sources = excluded.sources,"
							  " refresh_requested_at = coalesce(excluded.refresh_requested_at, r.refresh_requested_at),"
							  " owner = excluded.owner,"
							  " updated_at = pg_catalog.now()" :
							  "INSERT INTO reporting.registrations AS r"
							  " (view, every, cron, timezone, mode, refresh_when,"
							  "  max_age, lock_timeout, statement_timeout)"
							  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
							  " ON CONFLICT (view) DO UPDATE SET"
							  " every = excluded.every, cron = excluded.cron,"
							  " timezone = excluded.timezone, mode = excluded.mode,"
							  " refresh_when = excluded.refresh_when,"
							  " max_age = excluded.max_age,"
							  " lock_timeout = excluded.lock_timeout,"
							  " statement_timeout = excluded.statement_timeout,"
							  " updated_at = pg_catalog.now()",
							  current ? NUM_REGISTER_ARGS : NUM_REGISTER_ARGS_03,
							  argtypes, values, nulls,
							  false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not store the registration");
	/* refresh grants given by a previous owner no longer count: forget them */
	if (current &&
		SPI_execute_with_args("DELETE FROM reporting.refresh_grants g"
							  " USING pg_catalog.pg_class c"
							  " WHERE g.view OPERATOR(pg_catalog.=) $1"
							  "   AND c.oid OPERATOR(pg_catalog.=) $1::pg_catalog.oid"
							  "   AND g.granted_by::pg_catalog.oid OPERATOR(pg_catalog.<>) c.relowner",
							  1, argtypes, values, nulls, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not forget refresh grants of a previous owner");
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
	SPI_finish();
}

/*
 * SQL objects of versions 0.2.0 and 0.3.0 track changes with triggers on
 * source tables: while they are installed (until ALTER EXTENSION reporting
 * UPDATE), keep those triggers in step with the registrations: add them to
 * the sources of relid (when valid), on behalf of the calling role, and
 * remove them from tables no registered view reads any more.  Runs as the
 * extension's owner.  From 0.4.0 on, changes are seen by the library's
 * hooks: registering touches no user table.
 */
static void
maintain_triggers(Oid relid)
{
	Oid			argtypes[2] = {REGCLASSOID, OIDOID};
	Datum		values[2] = {ObjectIdGetDatum(relid), ObjectIdGetDatum(GetUserId())};
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;

	if (!reporting_tracking_installed() ||
		reporting_extension_at_least(REPORTING_HOOK_TRACKING_VERSION))
		return;
	SPI_connect();
	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	if (OidIsValid(relid) &&
		SPI_execute_with_args("SELECT reporting._attach_triggers($1, $2)",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not add change-tracking triggers");
	if (SPI_execute("SELECT reporting._detach_unneeded_triggers()", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not remove change-tracking triggers");
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
	SPI_finish();
}

/*
 * reporting.register(view regclass, every interval, cron text, timezone text,
 *		mode text, refresh_when text, max_age interval, lock_timeout interval,
 *		statement_timeout interval, sources regclass[], refresh text)
 *		RETURNS void
 *
 * Register a view or replace its registration, after checking every
 * argument (see README for each one and the SQLSTATE of each mistake).
 * sources: tables the view reads that the catalog does not show (inside
 * functions), tracked like the others.  refresh: 'now' refreshes it in this
 * call (as reporting.refresh() would), 'soon' has the scheduler refresh it
 * right after this transaction commits, without blocking the caller.  SQL
 * objects before 0.4.0 pass the first nine arguments only.
 */
Datum
reporting_register(PG_FUNCTION_ARGS)
{
	Oid			relid;
	int			nestlevel;
	const char *refresh;

	require_not_null(fcinfo, ARG_VIEW);
	relid = PG_GETARG_OID(ARG_VIEW);
	reporting_check_manageable(relid);

	nestlevel = reporting_pin_search_path();
	check_schedule(fcinfo);
	check_settings(fcinfo, relid);
	check_sources(fcinfo);
	refresh = refresh_request(fcinfo);
	advise_on_unique_key(relid, text_to_cstring(PG_GETARG_TEXT_PP(ARG_MODE)));
	store_registration(fcinfo, refresh != NULL && strcmp(refresh, "soon") == 0);
	maintain_triggers(relid);
	reporting_unpin_search_path(nestlevel);
	if (refresh != NULL && strcmp(refresh, "now") == 0)
	{
		ReportingRefreshResult result;

		/* the refresh must see the registration just stored */
		CommandCounterIncrement();
		PushCopiedSnapshot(GetActiveSnapshot());
		UpdateActiveSnapshotCommandId();
		reporting_refresh_view(relid, "auto", "manual", GetUserId(), &result);
		reporting_record_run(relid, "manual", "refreshed", &result, true, NULL, NULL);
		PopActiveSnapshot();
	}
	/* the scheduler looks at the new schedule as soon as this commits */
	reporting_wake_scheduler_at_commit();
	PG_RETURN_VOID();
}

/*
 * reporting.unregister(view regclass) RETURNS void
 *
 * Forget a view: its registration and its history.  The view itself is left
 * as it is.
 */
Datum
reporting_unregister(PG_FUNCTION_ARGS)
{
	Oid			relid;
	ReportingRegistration reg;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("\"view\" must not be null")));
	relid = PG_GETARG_OID(0);
	reporting_check_manageable(relid);
	reporting_require_registration(relid, &reg);
	/* a refresh in progress first: it locks the view, then our tables */
	reporting_wait_for_refresh(relid, reg.lock_timeout_ms);

	values[0] = ObjectIdGetDatum(relid);
	SPI_connect();
	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	if (SPI_execute_with_args("DELETE FROM reporting.registrations"
							  " WHERE view OPERATOR(pg_catalog.=) $1",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not delete the registration");
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
	SPI_finish();
	maintain_triggers(InvalidOid);
	reporting_wake_scheduler_at_commit();
	PG_RETURN_VOID();
}
