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
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "utils/acl.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "nodes/makefuncs.h"
#include "tcop/utility.h"
#include "utils/snapmgr.h"
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
#include "reporting_view.h"
#include "unique_key.h"

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
 * Why the view cannot be refreshed concurrently at all, or NULL when it
 * can (once populated).  *hint receives how to fix it.
 */
static const char *
concurrent_obstacle(bool usable_unique_index, const char **hint)
{
	const char *version = GetConfigOption("server_version_num", false, false);

	if (atoi(version) < REPORTING_MIN_CONCURRENT_VERSION)
	{
		*hint = "Upgrade PostgreSQL to 15.6 or later.";
		return "This server is older than PostgreSQL 15.6, whose REFRESH MATERIALIZED VIEW CONCURRENTLY is unsafe (CVE-2024-0985).";
	}
	if (!usable_unique_index)
	{
		*hint = "Create a unique index with no WHERE clause on one or more columns of the materialized view.";
		return "It has no usable unique index.";
	}
	return NULL;
}

/*
 * Resolve a requested mode to the one a refresh will use, "concurrently" or
 * "plain".  "auto" picks CONCURRENTLY whenever the view allows it.  An
 * explicit "concurrently" that can never work raises 55000 saying why and
 * how to fix it (when raise is true) or falls back to NULL.  A view that
 * was never populated cannot be refreshed concurrently yet: its first
 * refresh is plain whatever the mode, and an explicit "concurrently" says
 * so with a NOTICE (the run records mode "plain"); later ones are
 * concurrent (issue 12, fault 9).
 */
static const char *
choose_mode(const char *display_name, bool populated, bool usable_unique_index,
			const char *mode, bool raise)
{
	const char *hint = NULL;
	const char *obstacle;

	if (strcmp(mode, "plain") == 0)
		return "plain";
	obstacle = concurrent_obstacle(usable_unique_index, &hint);
	if (obstacle == NULL && populated)
		return "concurrently";
	if (strcmp(mode, "auto") == 0)
		return "plain";
	if (obstacle == NULL)
	{
		ereport(NOTICE,
				(errmsg("materialized view \"%s\" has never been populated, so this refresh is plain",
						display_name),
				 errdetail("REFRESH MATERIALIZED VIEW CONCURRENTLY needs a populated view; the refreshes after this one are concurrent.")));
		return "plain";
	}
	if (!raise)
		return NULL;
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("cannot refresh materialized view \"%s\" concurrently", display_name),
			 errdetail_internal("%s", obstacle),
			 errhint("%s", hint)));
	return NULL;				/* keep compiler quiet */
}

/* reporting_choose_mode for a view not loaded (registration checks) */
const char *
reporting_choose_mode(Oid relid, const char *mode, bool raise)
{
	return choose_mode(reporting_display_name(relid), reporting_matview_is_populated(relid),
					   reporting_has_usable_unique_index(relid), mode, raise);
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
	const ReportingView *view;
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
			   ctx->view->display_name,
			   GetUserNameFromId(ctx->view->owner, true), ctx->settings);
}

/* Error context of the REFRESH statement, worded as SPI words its own. */
static void
refresh_statement_context(void *arg)
{
	errcontext("SQL statement \"%s\"", (const char *) arg);
}

/*
 * Run REFRESH MATERIALIZED VIEW [CONCURRENTLY] on the locked view, through
 * ProcessUtility as SPI would (utility hooks and event triggers see it),
 * with a snapshot taken now, and return the rows it wrote: REFRESH counts
 * them (QueryCompletion, PostgreSQL 14 and later) but SPI does not pass the
 * count on, and counting again would scan the whole view.
 */
static uint64
run_refresh_statement(const ReportingView *view, bool concurrently)
{
	RefreshMatViewStmt *stmt = makeNode(RefreshMatViewStmt);
	PlannedStmt *pstmt = makeNode(PlannedStmt);
	QueryCompletion qc;
	ErrorContextCallback callback;
	char	   *sql;

	stmt->concurrent = concurrently;
	stmt->skipData = false;
	stmt->relation = makeRangeVar(view->schema_name, view->rel_name, -1);
	sql = psprintf("REFRESH MATERIALIZED VIEW %s%s", concurrently ? "CONCURRENTLY " : "",
				   view->qualified_name);
	pstmt->commandType = CMD_UTILITY;
	pstmt->canSetTag = true;
	pstmt->utilityStmt = (Node *) stmt;
	pstmt->stmt_location = -1;
	pstmt->stmt_len = 0;

	callback.callback = refresh_statement_context;
	callback.arg = sql;
	callback.previous = error_context_stack;
	error_context_stack = &callback;
	InitializeQueryCompletion(&qc);
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	ProcessUtility(pstmt, sql, false, PROCESS_UTILITY_QUERY, NULL, NULL,
				   None_Receiver, &qc);
	PopActiveSnapshot();
	CommandCounterIncrement();
	error_context_stack = callback.previous;
	return qc.nprocessed;
}

/*
 * The refresh of an incremental report: the statement incremental.c armed
 * (SPI connected).  Returns the rows the report holds now.
 */
static uint64
run_incremental_statement(const ReportingView *view, const char *sql)
{
	bool		isnull;

	if (SPI_execute(sql, false, 0) < 0)
		elog(ERROR, "could not run \"%s\"", sql);
	/* not read-only: a snapshot that sees what the statement wrote */
	if (SPI_execute(psprintf("SELECT pg_catalog.count(*) FROM %s", view->qualified_name),
					false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not count the rows of %s", view->display_name);
	return (uint64) DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
											   1, &isnull));
}

/*
 * Refresh the view as its owner, with the owner's login defaults for the
 * settings that change results (settings.c), under the refresh deadline:
 * REFRESH MATERIALIZED VIEW, or for an incremental report the statement
 * incremental.c armed (incremental_sql).  Returns the rows the view holds
 * now.
 */
static uint64
refresh_as_owner(const ReportingView *view, bool concurrently, const char *incremental_sql)
{
	Oid			owner = view->owner;
	Oid			save_userid;
	int			save_sec_context;
	int			settings_level;
	RefreshDeadline deadline;
	ErrorContextCallback callback;
	RefreshErrorContext ctx;
	uint64		rows = 0;

	settings_level = reporting_apply_owner_settings(owner);
	ctx.view = view;
	ctx.settings = reporting_describe_settings();
	callback.callback = refresh_error_context;
	callback.arg = &ctx;
	callback.previous = error_context_stack;
	error_context_stack = &callback;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
	deadline_arm(&deadline, view->reg.statement_timeout_ms);
	last_refresh_timed_out = false;
	PG_TRY();
	{
		rows = incremental_sql != NULL ?
			run_incremental_statement(view, incremental_sql) :
			run_refresh_statement(view, concurrently);
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
 * Wait for a refresh of relid in progress to finish, and keep others from
 * starting until this transaction ends (the refresh lock, as
 * reporting_lock_refresh takes it).  unregister() calls it before it
 * deletes the registration, so that it takes its locks in the order every
 * refresh takes them (refresh lock, view, registrations and runs) and
 * cannot deadlock with one.  Waits at most lock_timeout_ms (the view's
 * registered lock_timeout); 55P03 after that.
 */
void
reporting_wait_for_refresh(Oid relid, int64 lock_timeout_ms)
{
	int			nestlevel = NewGUCNestLevel();

	set_lock_timeout(lock_timeout_ms);
	(void) reporting_lock_refresh(relid, true);
	AtEOXact_GUC(true, nestlevel);
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
check_refresh_on_behalf(const ReportingView *view, const char *requested_mode)
{
	if (has_privs_of_role(GetUserId(), view->owner))
		return;
	if (strcmp(requested_mode, "auto") != 0 && !superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("only the owner of materialized view \"%s\" may choose how it is refreshed",
						view->display_name),
				 errhint("Call reporting.refresh() without a mode: the registered one is used.")));
	if (session_has_temporary_objects())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot refresh materialized view \"%s\" as its owner in a session with temporary tables or types",
						view->display_name),
				 errdetail("The view's query runs as role \"%s\"; this session's temporary objects would come first in every name it looks up.",
						   GetUserNameFromId(view->owner, false)),
				 errhint("Refresh it from a session without temporary objects, or with reporting.refresh_all(), whose refresh workers have none.")));
}

/*
 * Refresh one registered view now, in the current transaction, after
 * checking that the caller may ask for it (it may manage the view, or holds
 * a refresh grant) and, once the view is locked, that the refresh may run as
 * the view's owner (security.c).  view was loaded by reporting_view_load().
 * requester is the role that asked for the refresh (InvalidOid for the
 * scheduler).  requested_mode "auto" follows the registration's mode.
 * Fills *result (its mode as soon as it is known, so that a caller catching
 * an error can report it).  Raises 55000 during recovery, 42501/55000 when
 * refreshing on someone's behalf is refused, 55P03 after lock_timeout, and
 * whatever the view's query raises.
 */
void
reporting_refresh_loaded(ReportingView *view, const char *requested_mode,
						 const char *origin, Oid requester, ReportingRefreshResult *result)
{
	Oid			relid = view->relid;
	const char *mode;
	bool		was_populated;
	int			nestlevel;
	MemoryContext outer = CurrentMemoryContext;
	bool		incremental = reporting_is_incremental(relid);

	reporting_check_not_in_recovery();
	memset(result, 0, sizeof(*result));
	result->started_at = GetCurrentTimestamp();
	check_refresh_on_behalf(view, requested_mode);
	if (incremental && strcmp(requested_mode, "auto") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("mode \"%s\" does not apply to incremental report \"%s\"",
						requested_mode, view->display_name),
				 errdetail("An incremental report recomputes the buckets that changed, or everything when it must (see reporting.incrementals)."),
				 errhint("Call reporting.refresh() without a mode.")));
	if (strcmp(requested_mode, "auto") == 0)
		requested_mode = view->reg.mode;
	mode = choose_mode(view->display_name, view->populated, view->usable_unique_index,
					   requested_mode, true);
	/* an incremental report's run says incremental until it knows it is full */
	strlcpy(result->mode, incremental ? "incremental" : mode, sizeof(result->mode));

	SPI_connect();
	nestlevel = reporting_pin_search_path();
	set_lock_timeout(view->reg.lock_timeout_ms);
	(void) reporting_lock_refresh(relid, true);
	result->started_at = GetCurrentTimestamp();
	reporting_running_begin(relid, origin, result->mode, result->started_at);
	PG_TRY();
	{
		capture_tracking(relid, &result->tracking, outer);
		/* the snapshot REFRESH uses is taken after this lock, and after the capture */
		LockRelationOid(relid, strcmp(mode, "concurrently") == 0 || incremental ?
						ExclusiveLock : AccessExclusiveLock);
		/*
		 * The owner cannot change while we hold the lock: read it again, and
		 * check again, with the owner it has now, that the caller may ask (a
		 * refresh grant lapses with a change of owner) and that the refresh
		 * may run as it.
		 */
		reporting_view_reread_locked(view);
		reporting_check_refreshable(relid);
		reporting_check_refresh_allowed(relid, view->reg.owner, requester,
										strcmp(origin, "manual") == 0);
		was_populated = view->populated;
		result->rows = (int64) refresh_as_owner(view, strcmp(mode, "concurrently") == 0,
												incremental ?
												reporting_incremental_arm(relid, &result->tracking,
																		  result->mode) : NULL);
		result->finished_at = GetCurrentTimestamp();
		view->populated = true;
		/* what registration could not check on an empty view */
		if (!was_populated && strcmp(view->reg.mode, "plain") != 0)
			reporting_warn_null_keys(relid, view->owner);
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
 * reporting_refresh_loaded() for a view not loaded yet (register(...,
 * refresh => 'now')).  Raises what reporting_view_load() raises.
 */
void
reporting_refresh_view(Oid relid, const char *requested_mode, const char *origin,
					   Oid requester, ReportingRefreshResult *result)
{
	reporting_check_not_in_recovery();
	reporting_refresh_loaded(reporting_view_load(relid), requested_mode, origin,
							 requester, result);
}

/*
 * Refuse a refresh on a hot standby, before anything is read or written:
 * 55000, with a hint.  Its views are refreshed on the primary and
 * replicated.
 */
void
reporting_check_not_in_recovery(void)
{
	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot refresh during recovery"),
				 errdetail("This server is a hot standby; its materialized views are refreshed on the primary and replicated."),
				 errhint("Refresh on the primary server.")));
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
