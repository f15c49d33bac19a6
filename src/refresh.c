/*-------------------------------------------------------------------------
 *
 * refresh.c
 *		Refreshing one registered materialized view: choosing CONCURRENTLY or
 *		plain, applying the report's lock_timeout and statement_timeout,
 *		running REFRESH as the view's owner, and recording the run.
 *
 * Everything here runs in the caller's transaction; the caller decides what
 * an error means (reporting.refresh lets it abort the statement,
 * reporting.refresh_all catches it in a subtransaction).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "utils/acl.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/elog.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/timeout.h"

#include "incremental.h"
#include "reporting.h"
#include "settings.h"

PG_FUNCTION_INFO_V1(reporting_refresh);

/*
 * The statement timeout of one refresh.  REFRESH runs inside the caller's
 * statement, so the server's own statement_timeout timer (started when the
 * caller's statement began) does not apply; we arm the same timer for the
 * refresh and put the caller's deadline back afterwards.
 */
typedef struct RefreshDeadline
{
	bool		armed;
	bool		outer_active;
	TimestampTz outer_finish;
	TimestampTz finish;
} RefreshDeadline;

static bool last_refresh_timed_out = false;



/*
 * True when the view has a unique index that REFRESH ... CONCURRENTLY can
 * use: valid, immediate, on plain columns only, with no WHERE clause.  Read
 * from pg_index without locking the view, so that two refreshes deciding at
 * once cannot deadlock on a lock upgrade.
 */
bool
reporting_has_usable_unique_index(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		found;

	SPI_connect();
	if (SPI_execute_with_args("SELECT 1 FROM pg_catalog.pg_index i"
							  " WHERE i.indrelid OPERATOR(pg_catalog.=) $1"
							  " AND i.indisunique AND i.indisvalid AND i.indimmediate"
							  " AND i.indpred IS NULL AND i.indexprs IS NULL",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read indexes of relation %u", relid);
	found = SPI_processed > 0;
	SPI_finish();
	return found;
}

/*
 * Why the view cannot be refreshed concurrently right now, or NULL when it
 * can.  *hint receives how to fix it.
 */
static const char *
concurrent_obstacle(Oid relid, const char **hint)
{
	const char *version = GetConfigOption("server_version_num", false, false);

	if (atoi(version) < REPORTING_MIN_CONCURRENT_VERSION)
	{
		*hint = "Upgrade PostgreSQL to 15.6 or later.";
		return "This server is older than PostgreSQL 15.6, whose REFRESH MATERIALIZED VIEW CONCURRENTLY is unsafe (CVE-2024-0985).";
	}
	if (!reporting_matview_is_populated(relid))
	{
		*hint = "Refresh it once with mode => 'plain'.";
		return "It has never been populated.";
	}
	if (!reporting_has_usable_unique_index(relid))
	{
		*hint = "Create a unique index with no WHERE clause on one or more columns of the materialized view.";
		return "It has no usable unique index.";
	}
	return NULL;
}

/*
 * Resolve a requested mode to the one a refresh will use, "concurrently" or
 * "plain".  "auto" picks CONCURRENTLY whenever the view allows it.  An
 * explicit "concurrently" that cannot work raises an error saying why and how
 * to fix it (when raise is true) or falls back to NULL.
 */
const char *
reporting_choose_mode(Oid relid, const char *mode, bool raise)
{
	const char *hint = NULL;
	const char *obstacle;

	if (strcmp(mode, "plain") == 0)
		return "plain";
	obstacle = concurrent_obstacle(relid, &hint);
	if (obstacle == NULL)
		return "concurrently";
	if (strcmp(mode, "auto") == 0)
		return "plain";
	if (!raise)
		return NULL;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("cannot refresh materialized view \"%s\" concurrently",
					reporting_display_name(relid)),
			 errdetail_internal("%s", obstacle),
			 errhint("%s", hint)));
	return NULL;				/* keep compiler quiet */
}

/* Arm the statement timeout for one refresh, keeping any earlier deadline. */
static void
deadline_arm(RefreshDeadline *deadline, int64 timeout_ms)
{
	memset(deadline, 0, sizeof(*deadline));
	if (timeout_ms <= 0)
		return;
	deadline->outer_active = get_timeout_active(STATEMENT_TIMEOUT);
	if (deadline->outer_active)
		deadline->outer_finish = get_timeout_finish_time(STATEMENT_TIMEOUT);
	deadline->finish = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
												   timeout_ms);
	if (deadline->outer_active && deadline->outer_finish <= deadline->finish)
		return;
	enable_timeout_at(STATEMENT_TIMEOUT, deadline->finish);
	deadline->armed = true;
}

/* Put the caller's statement timeout back as it was. */
static void
deadline_disarm(RefreshDeadline *deadline)
{
	if (!deadline->armed)
		return;
	if (deadline->outer_active)
		enable_timeout_at(STATEMENT_TIMEOUT, deadline->outer_finish);
	else
		disable_timeout(STATEMENT_TIMEOUT, false);
	deadline->armed = false;
}

/*
 * True when the error being handled was the statement timeout of the last
 * refresh, as opposed to a cancel request or the caller's own timeout, which
 * must not be swallowed.
 */
bool
reporting_last_refresh_timed_out(void)
{
	return last_refresh_timed_out;
}

/* Apply the report's lock_timeout for the statements that follow. */
static void
set_lock_timeout(int64 lock_timeout_ms)
{
	char		value[32];

	snprintf(value, sizeof(value), INT64_FORMAT, lock_timeout_ms);
	(void) set_config_option("lock_timeout", value, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
}

/* what an error during a refresh's query says about the refresh */
typedef struct RefreshErrorContext
{
	Oid			relid;
	Oid			owner;
	char	   *settings;
} RefreshErrorContext;

/*
 * Error context of a refresh: which view, as whom, with which settings, so
 * that a result or an error that depends on them can be explained.
 */
static void
refresh_error_context(void *arg)
{
	RefreshErrorContext *ctx = (RefreshErrorContext *) arg;

	errcontext("refreshing materialized view \"%s\" as role \"%s\" with %s",
			   reporting_display_name(ctx->relid),
			   GetUserNameFromId(ctx->owner, true), ctx->settings);
}

/*
 * Run one statement as the view's owner, with the owner's login defaults for
 * the settings that change results (settings.c), under the refresh deadline.
 */
static void
execute_as_owner(Oid relid, Oid owner, const char *sql, int64 statement_timeout_ms)
{
	Oid			save_userid;
	int			save_sec_context;
	int			settings_level;
	RefreshDeadline deadline;
	ErrorContextCallback callback;
	RefreshErrorContext ctx;

	settings_level = reporting_apply_owner_settings(owner);
	ctx.relid = relid;
	ctx.owner = owner;
	ctx.settings = reporting_describe_settings();
	callback.callback = refresh_error_context;
	callback.arg = &ctx;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	deadline_arm(&deadline, statement_timeout_ms);
	last_refresh_timed_out = false;
	PG_TRY();
	{
		if (SPI_execute(sql, false, 0) != SPI_OK_UTILITY)
			elog(ERROR, "unexpected result of \"%s\"", sql);
	}
	PG_CATCH();
	{
		last_refresh_timed_out = deadline.armed &&
			GetCurrentTimestamp() >= deadline.finish;
		deadline_disarm(&deadline);
		PG_RE_THROW();
	}
	PG_END_TRY();
	deadline_disarm(&deadline);
	SetUserIdAndSecContext(save_userid, save_sec_context);
	error_context_stack = callback.previous;
	reporting_restore_settings(settings_level);
}

/* rows in the view, counted as its owner */
static int64
count_rows(Oid owner, const char *qualified)
{
	Oid			save_userid;
	int			save_sec_context;
	char	   *sql = psprintf("SELECT pg_catalog.count(*) FROM %s", qualified);
	bool		isnull;
	int64		rows;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	/* not read-only: the count must see what the refresh just wrote */
	if (SPI_execute(sql, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count rows of %s", qualified);
	rows = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
									   SPI_tuptable->tupdesc, 1, &isnull));
	SetUserIdAndSecContext(save_userid, save_sec_context);
	return rows;
}

/*
 * Record the generations of the view's sources, as the extension's owner
 * (the list of sources comes from the extension's tables).
 */
static void
capture_tracking(Oid relid, ReportingTracking *tracking, MemoryContext resultcxt)
{
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;

	memset(tracking, 0, sizeof(*tracking));
	if (!reporting_tracking_installed())
		return;					/* SQL objects older than 0.2.0 */
	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	reporting_capture_generations(relid, tracking, resultcxt);
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
}

/*
 * The lock that keeps two refreshes of one view from overlapping, whoever
 * started them: an advisory lock in the current database on (pg_class,
 * view), sub-id 3 (pg_advisory_lock uses 1 and 2), held until the end of
 * the refreshing transaction.  With wait, a refresh already running is
 * waited for (bounded by lock_timeout, which the caller has set) and the
 * caller is told; without, false is returned at once.
 */
bool
reporting_lock_refresh(Oid relid, bool wait)
{
	LOCKTAG		tag;
	char		origin[16];
	pid_t		pid = 0;

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, RelationRelationId, relid, 3);
	if (LockAcquire(&tag, ExclusiveLock, false, true) != LOCKACQUIRE_NOT_AVAIL)
		return true;
	if (!wait)
		return false;

	if (reporting_running_elsewhere(MyDatabaseId, relid, origin, &pid))
		ereport(NOTICE,
				(errmsg("waiting for another refresh of materialized view \"%s\" to finish",
						reporting_display_name(relid)),
				 errdetail("A refresh started by %s is running in process %d.",
						   strcmp(origin, "manual") == 0 ? "reporting.refresh()" :
						   strcmp(origin, "schedule") == 0 ? "the scheduler" :
						   "reporting.refresh_all()", (int) pid)));
	PG_TRY();
	{
		(void) LockAcquire(&tag, ExclusiveLock, false, false);
	}
	PG_CATCH();
	{
		if (geterrcode() == ERRCODE_LOCK_NOT_AVAILABLE)
		{
			FlushErrorState();
			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("another refresh of materialized view \"%s\" is still running",
							reporting_display_name(relid)),
					 errdetail("Gave up waiting for it after lock_timeout."),
					 errhint("Two refreshes of one view never overlap; try again when it has finished, or register the view with a longer lock_timeout.")));
		}
		PG_RE_THROW();
	}
	PG_END_TRY();
	return true;
}

/*
 * True when this session has temporary tables or types: a refresh that runs
 * a view's query as another role here would resolve unqualified names in
 * the functions it calls to them first (pg_temp comes first in every
 * search_path for relations and types), so the caller could put objects of
 * its own under the owner's query.
 */
static bool
session_has_temporary_objects(void)
{
	Oid			temp = LookupExplicitNamespace("pg_temp", true);
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1];
	bool		found;

	if (!OidIsValid(temp))
		return false;
	values[0] = ObjectIdGetDatum(temp);
	SPI_connect();
	if (SPI_execute_with_args("SELECT 1 WHERE EXISTS (SELECT 1 FROM pg_catalog.pg_class"
							  "                       WHERE relnamespace OPERATOR(pg_catalog.=) $1)"
							  "   OR EXISTS (SELECT 1 FROM pg_catalog.pg_type"
							  "               WHERE typnamespace OPERATOR(pg_catalog.=) $1)",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for temporary objects");
	found = SPI_processed > 0;
	SPI_finish();
	return found;
}

/*
 * A refresh asked for by a role without the owner's privileges (a refresh
 * grantee, or a superuser) runs the owner's query in the caller's session:
 * it may not choose the mode (a plain refresh would hold the ACCESS
 * EXCLUSIVE lock, blocking every reader of the owner's report, for as long
 * as the caller's transaction lasts), and the session may hold no
 * temporary table or type.  Raises 42501 or 55000.
 */
static void
check_refresh_on_behalf(Oid relid, Oid owner, const char *requested_mode)
{
	if (has_privs_of_role(GetUserId(), owner))
		return;
	if (strcmp(requested_mode, "auto") != 0 && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only the owner of materialized view \"%s\" may choose how it is refreshed",
						reporting_display_name(relid)),
				 errhint("Call reporting.refresh() without a mode: the registered one is used.")));
	if (session_has_temporary_objects())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot refresh materialized view \"%s\" as its owner in a session with temporary tables or types",
						reporting_display_name(relid)),
				 errdetail("The view's query runs as role \"%s\"; this session's temporary objects would come first in every name it looks up.",
						   GetUserNameFromId(owner, false)),
				 errhint("Refresh it from a session without temporary objects, or with reporting.refresh_all(), whose refresh workers have none.")));
}

/*
 * Refresh one registered view now, in the current transaction, after
 * checking that the caller may ask for it (it may manage the view, or holds
 * a refresh grant) and, once the view is locked, that the refresh may run as
 * the view's owner (security.c).  requester is the role that asked for the
 * refresh (InvalidOid for the scheduler).  requested_mode "auto" follows the
 * registration's mode.  Fills *result (its mode as soon as it is known, so
 * that a caller catching an error can report it).
 */
void
reporting_refresh_view(Oid relid, const char *requested_mode, const char *origin,
					   Oid requester, ReportingRefreshResult *result)
{
	ReportingRegistration reg;
	const char *mode;
	char	   *qualified;
	Oid			owner;
	int			nestlevel;
	MemoryContext outer = CurrentMemoryContext;
	bool		incremental = reporting_is_incremental(relid);

	memset(result, 0, sizeof(*result));
	result->started_at = GetCurrentTimestamp();
	reporting_check_refreshable(relid);
	reporting_require_registration(relid, &reg);
	check_refresh_on_behalf(relid, reporting_owner_of(relid), requested_mode);
	if (strcmp(requested_mode, "auto") == 0)
		requested_mode = reg.mode;
	mode = reporting_choose_mode(relid, requested_mode, true);
	strlcpy(result->mode, mode, sizeof(result->mode));

	qualified = reporting_qualified_name(relid);

	SPI_connect();
	nestlevel = reporting_pin_search_path();
	set_lock_timeout(reg.lock_timeout_ms);
	(void) reporting_lock_refresh(relid, true);
	result->started_at = GetCurrentTimestamp();
	reporting_running_begin(relid, origin, mode, result->started_at);
	PG_TRY();
	{
		capture_tracking(relid, &result->tracking, outer);
		/* the snapshot REFRESH uses is taken after this lock, and after the capture */
		LockRelationOid(relid, strcmp(mode, "concurrently") == 0 || incremental ?
						ExclusiveLock : AccessExclusiveLock);
		/*
		 * The owner cannot change while we hold the lock: check again, with
		 * the owner it has now, that the caller may ask (a refresh grant
		 * lapses with a change of owner) and that the refresh may run as it.
		 */
		reporting_check_refreshable(relid);
		reporting_check_refresh_allowed(relid, reg.owner, requester,
										strcmp(origin, "manual") == 0);
		owner = reporting_owner_of(relid);
		execute_as_owner(relid, owner, incremental ?
						 reporting_incremental_arm(relid, &result->tracking, result->mode) :
						 psprintf("REFRESH MATERIALIZED VIEW %s%s",
								  strcmp(mode, "concurrently") == 0 ? "CONCURRENTLY " : "",
								  qualified),
						 reg.statement_timeout_ms);
		result->finished_at = GetCurrentTimestamp();
		result->rows = count_rows(owner, qualified);
	}
	PG_FINALLY();
	{
		reporting_running_end();
	}
	PG_END_TRY();
	reporting_unpin_search_path(nestlevel);
	SPI_finish();
}

/*
 * True once the extension's SQL objects are at 0.2.0 or later, where runs
 * record their sources' generations.  A newer library must keep working with
 * the older SQL objects until ALTER EXTENSION reporting UPDATE has run.
 */
bool
reporting_tracking_installed(void)
{
	Oid			nsp = get_namespace_oid(REPORTING_SCHEMA_NAME, false);
	Oid			runs = get_relname_relid("runs", nsp);

	return OidIsValid(runs) &&
		SearchSysCacheExistsAttName(runs, "tracking_epoch");
}

/*
 * True once the extension's SQL objects are at 0.4.0 or later, where runs
 * record the database their sources' generations belong to.
 */
bool
reporting_runs_record_database(void)
{
	Oid			nsp = get_namespace_oid(REPORTING_SCHEMA_NAME, false);
	Oid			runs = get_relname_relid("runs", nsp);

	return OidIsValid(runs) &&
		SearchSysCacheExistsAttName(runs, "tracking_database");
}

/*
 * reporting.refresh(view regclass, mode text DEFAULT 'auto')
 *		RETURNS TABLE(mode text, rows bigint, duration interval)
 *
 * Refresh one view now, in the caller's transaction, and return what was
 * done.  Not STRICT, so that a NULL gets an error rather than silence.
 */
Datum
reporting_refresh(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *mode;
	ReportingRefreshResult result;
	TupleDesc	tupdesc;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("\"%s\" must not be null", PG_ARGISNULL(0) ? "view" : "mode")));
	relid = PG_GETARG_OID(0);
	mode = text_to_cstring(PG_GETARG_TEXT_PP(1));
	reporting_check_mode(mode, "mode", true);

	reporting_refresh_view(relid, mode, "manual", GetUserId(), &result);
	reporting_record_run(relid, "manual", "refreshed", &result, true, NULL, NULL);

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	tupdesc = BlessTupleDesc(tupdesc);
	values[0] = CStringGetTextDatum(result.mode);
	values[1] = Int64GetDatum(result.rows);
	values[2] = IntervalPGetDatum(DatumGetIntervalP(
		DirectFunctionCall2(timestamp_mi,
							TimestampTzGetDatum(result.finished_at),
							TimestampTzGetDatum(result.started_at))));
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}
