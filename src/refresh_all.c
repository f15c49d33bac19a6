/*-------------------------------------------------------------------------
 *
 * refresh_all.c
 *		reporting.refresh_all(): every registered view the caller may manage,
 *		in dependency order, each in its own subtransaction so that one
 *		failure neither undoes nor stops the others.
 *
 * A view whose upstream registered view failed (or was itself skipped for
 * that reason) is skipped, with the reason, because refreshing it would only
 * copy the upstream's old data again.  A view registered with
 * refresh_when => 'changed' whose sources are known unchanged is skipped
 * too: refreshing it would change nothing.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/resowner.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

#include "reporting.h"

PG_FUNCTION_INFO_V1(reporting_refresh_all);

/* one view to refresh, with the registered views it reads */
typedef struct PlannedView
{
	Oid			view;
	int			nupstream;
	Oid		   *upstream;
} PlannedView;

/* one row of refresh_all's result */
typedef struct ViewOutcome
{
	Oid			view;
	const char *status;
	ReportingRefreshResult result;
	const char *error;
} ViewOutcome;

/*
 * The views to refresh, in dependency order, as reporting._refresh_plan()
 * gives them to the caller: row-level security limits it to the views the
 * caller may manage.  The list lives in the caller's memory context.
 */
static List *
load_plan(void)
{
	MemoryContext outer = CurrentMemoryContext;
	List	   *plan = NIL;
	int			nestlevel;

	SPI_connect();
	nestlevel = reporting_pin_search_path();
	if (SPI_execute("SELECT view::pg_catalog.oid, upstream::pg_catalog.oid[]"
					" FROM reporting._refresh_plan()", true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not plan the refresh of registered views");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		bool		isnull;
		Datum		up = SPI_getbinval(tuple, SPI_tuptable->tupdesc, 2, &isnull);
		MemoryContext spi = MemoryContextSwitchTo(outer);
		PlannedView *pv = palloc0(sizeof(PlannedView));
		Datum	   *elems;
		bool	   *elemnulls;

		pv->view = DatumGetObjectId(SPI_getbinval(tuple, SPI_tuptable->tupdesc, 1, &isnull));
		deconstruct_array(DatumGetArrayTypeP(up), OIDOID, sizeof(Oid), true,
						  TYPALIGN_INT, &elems, &elemnulls, &pv->nupstream);
		pv->upstream = palloc(sizeof(Oid) * Max(1, pv->nupstream));
		for (int j = 0; j < pv->nupstream; j++)
			pv->upstream[j] = DatumGetObjectId(elems[j]);
		plan = lappend(plan, pv);
		MemoryContextSwitchTo(spi);
	}
	reporting_unpin_search_path(nestlevel);
	SPI_finish();
	return plan;
}

/* Delete runs older than reporting.history_max_age. */
static void
prune_history(void)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1] = {Int32GetDatum(reporting_history_max_age)};
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;

	SPI_connect();
	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	if (SPI_execute_with_args("DELETE FROM reporting.runs WHERE started_at"
							  " OPERATOR(pg_catalog.<) (pg_catalog.now()"
							  " OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "could not prune the history of refreshes");
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
	SPI_finish();
}

/*
 * True for errors that must end refresh_all rather than mark one view
 * failed: a cancel request or the caller's own statement timeout.
 */
static bool
must_propagate(ErrorData *edata)
{
	return edata->sqlerrcode == ERRCODE_QUERY_CANCELED &&
		!reporting_last_refresh_timed_out();
}

/*
 * Refresh one view in a subtransaction and record the run.  On failure the
 * subtransaction is rolled back (the view is left as it was) and the error
 * is returned in *outcome.
 */
static void
refresh_in_subtransaction(ViewOutcome *outcome)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		reporting_refresh_view(outcome->view, "auto", &outcome->result);
		reporting_record_run(outcome->view, "refresh_all", "refreshed",
							 &outcome->result, true, NULL, NULL);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		outcome->status = "refreshed";
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		if (must_propagate(edata))
			ReThrowError(edata);

		outcome->status = "failed";
		outcome->error = edata->message;
		outcome->result.finished_at = GetCurrentTimestamp();
		reporting_record_run(outcome->view, "refresh_all", "failed",
							 &outcome->result, false,
							 edata->message, unpack_sql_state(edata->sqlerrcode));
	}
	PG_END_TRY();
}

/*
 * The first upstream view of pv that failed in this call (or was skipped
 * because its own upstream failed), or InvalidOid.
 */
static Oid
blocking_upstream(PlannedView *pv, List *not_refreshed)
{
	for (int i = 0; i < pv->nupstream; i++)
		if (list_member_oid(not_refreshed, pv->upstream[i]))
			return pv->upstream[i];
	return InvalidOid;
}

/*
 * Why the view needs no refresh now (registered refresh_when => 'changed'
 * and its sources known unchanged), or NULL.  Asked as the caller.
 */
static char *
skip_reason(Oid relid)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	char	   *reason = NULL;
	int			nestlevel;
	MemoryContext outer = CurrentMemoryContext;

	if (!reporting_tracking_installed())
		return NULL;
	SPI_connect();
	nestlevel = reporting_pin_search_path();
	if (SPI_execute_with_args("SELECT reporting._skip_reason($1)", 1, argtypes,
							  values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not decide whether to skip relation %u", relid);
	if (SPI_processed == 1)
	{
		char	   *value = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		if (value != NULL)
			reason = MemoryContextStrdup(outer, value);
	}
	reporting_unpin_search_path(nestlevel);
	SPI_finish();
	return reason;
}

/* Record and describe a skipped view. */
static void
skip_view(ViewOutcome *outcome, const char *reason)
{
	outcome->status = "skipped";
	outcome->error = reason;
	outcome->result.started_at = GetCurrentTimestamp();
	outcome->result.finished_at = outcome->result.started_at;
	reporting_record_run(outcome->view, "refresh_all", "skipped",
						 &outcome->result, false, outcome->error, NULL);
}

/* Append one result row. */
static void
emit_outcome(ReturnSetInfo *rsinfo, ViewOutcome *outcome)
{
	Datum		values[7];
	bool		nulls[7] = {false, false, false, false, false, false, false};
	bool		refreshed = strcmp(outcome->status, "refreshed") == 0;

	values[0] = ObjectIdGetDatum(outcome->view);
	values[1] = CStringGetTextDatum(outcome->status);
	nulls[2] = outcome->result.mode[0] == '\0';
	values[2] = nulls[2] ? (Datum) 0 : CStringGetTextDatum(outcome->result.mode);
	values[3] = TimestampTzGetDatum(outcome->result.started_at);
	values[4] = DirectFunctionCall2(timestamp_mi,
									TimestampTzGetDatum(outcome->result.finished_at),
									TimestampTzGetDatum(outcome->result.started_at));
	values[5] = Int64GetDatum(outcome->result.rows);
	nulls[5] = !refreshed;
	nulls[6] = outcome->error == NULL;
	values[6] = nulls[6] ? (Datum) 0 : CStringGetTextDatum(outcome->error);
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * reporting.refresh_all() RETURNS TABLE(view regclass, status text,
 *		mode text, started_at timestamptz, duration interval, rows bigint,
 *		error text)
 */
Datum
reporting_refresh_all(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *plan;
	List	   *not_refreshed = NIL;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, 0);
	prune_history();
	plan = load_plan();

	foreach(lc, plan)
	{
		PlannedView *pv = (PlannedView *) lfirst(lc);
		ViewOutcome outcome;
		Oid			upstream;
		char	   *reason;

		CHECK_FOR_INTERRUPTS();
		/* a view dropped behind our back is simply no longer there */
		if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(pv->view)))
			continue;

		memset(&outcome, 0, sizeof(outcome));
		outcome.view = pv->view;
		upstream = blocking_upstream(pv, not_refreshed);
		if (OidIsValid(upstream))
		{
			skip_view(&outcome,
					  psprintf("upstream materialized view \"%s\" was not refreshed",
							   reporting_display_name(upstream)));
			not_refreshed = lappend_oid(not_refreshed, pv->view);
		}
		else if ((reason = skip_reason(pv->view)) != NULL)
			skip_view(&outcome, reason);
		else
		{
			refresh_in_subtransaction(&outcome);
			if (strcmp(outcome.status, "failed") == 0)
				not_refreshed = lappend_oid(not_refreshed, pv->view);
		}
		emit_outcome(rsinfo, &outcome);
	}
	return (Datum) 0;
}
