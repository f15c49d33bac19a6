/*-------------------------------------------------------------------------
 *
 * refresh_all.c
 *		reporting.refresh_all(): every registered view the caller may manage,
 *		in dependency order, independent views in parallel.
 *
 * With the preloaded library, each refresh runs in a refresh worker (as the
 * view's owner, in its own transaction): up to reporting.max_workers at
 * once, a view only after every registered view it is built on is done.
 * The caller waits, polling its latch, and returns one row per view in
 * dependency order.  A worker that cannot start in time is reported as a
 * failure; a cancel (or the caller's statement_timeout) stops the workers,
 * and so does FATAL or pg_terminate_backend() (PG_ENSURE_ERROR_CLEANUP):
 * their slots are always given back (worker_slots.c).  While
 * reporting.max_workers refreshes run elsewhere it waits for a slot: it
 * never runs extra refreshes in the caller's session.  Session and worker
 * refreshes are never mixed so that a worker could wait for the caller:
 * only when no worker can be started at all and none of ours runs does the
 * rest of the call go on in the session (each refresh holding a slot), and
 * no worker is started after that.
 *
 * Otherwise it refreshes in the caller's session, one view after another,
 * each in its own subtransaction so that one failure neither undoes nor
 * stops the others; it says why.  That is also the path when the caller's
 * transaction has written data: workers could not see it, and could wait
 * for its locks.
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

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_class.h"
#include "access/xlog.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"
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
#include "reporting_view.h"
#include "worker_slots.h"

PG_FUNCTION_INFO_V1(reporting_refresh_all);

/* how long a refresh worker may take to start before it is given up on */
#define WORKER_START_TIMEOUT_MS 10000
/* how often the caller looks at its workers when nothing wakes it */
#define POLL_MS 100

/* one row of refresh_all's result */
typedef struct ViewOutcome
{
	Oid			view;
	const char *status;
	ReportingRefreshResult result;
	const char *error;
} ViewOutcome;

typedef enum PlannedState
{
	PLANNED_WAITING,			/* not started: waits for its upstream or a worker */
	PLANNED_RUNNING,			/* handed to a refresh worker */
	PLANNED_DONE,				/* outcome known */
	PLANNED_GONE				/* dropped meanwhile: no row */
} PlannedState;

/* one view to refresh, with the registered views it reads */
typedef struct PlannedView
{
	Oid			view;
	int			nupstream;
	Oid		   *upstream;
	PlannedState state;
	int			slotno;
	BackgroundWorkerHandle *handle;
	ViewOutcome outcome;
} PlannedView;

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

		pv->slotno = -1;
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
		reporting_refresh_loaded(reporting_view_load(outcome->view), "auto", "refresh_all",
								 GetUserId(), &outcome->result);
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

/*
 * Why the view must not be refreshed for the caller (security.c: it changed
 * hands since it was registered, or it would run as a superuser the caller
 * is not), or NULL.  Such a view is skipped, with the reason, in the
 * session and in workers alike.
 */
static char *
refusal_reason(Oid relid)
{
	ReportingRegistration reg;
	char	   *reason;
	char	   *hint;

	if (!reporting_load_registration(relid, &reg))
		return NULL;			/* unregistered meanwhile: the refresh says so */
	if (!reporting_refresh_refused(relid, reg.owner, GetUserId(), false, &reason, &hint))
		return NULL;
	return reason;
}

/*
 * Why the view must not or need not be refreshed (refusal_reason, then
 * skip_reason) into *reason, NULL when it is to be refreshed.  Nothing locks
 * the view meanwhile (a lock here would make workers refreshing it wait for
 * this session), so it may be dropped under the catalog lookups: they run in
 * a subtransaction, and false means the view is gone.  Other errors are
 * raised.
 */
static bool
why_not_refresh(Oid relid, char **reason)
{
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool gone = false;

	*reason = NULL;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		char	   *why = refusal_reason(relid);

		*reason = why != NULL ? why : skip_reason(relid);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
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
		if (SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
			ReThrowError(edata);
		gone = true;
	}
	PG_END_TRY();
	return !gone;
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

/* The planned view for relid, or NULL when it is not in this call. */
static PlannedView *
find_planned(List *plan, Oid relid)
{
	ListCell   *lc;

	foreach(lc, plan)
		if (((PlannedView *) lfirst(lc))->view == relid)
			return (PlannedView *) lfirst(lc);
	return NULL;
}

/*
 * Decide what to do with a view whose turn it may be.  Returns true when it
 * was settled here (skipped, or it is gone); false when it is ready to be
 * refreshed, or (with *wait) must wait for an upstream view still running.
 */
static bool
settle_without_refresh(PlannedView *pv, List *plan, List **not_refreshed, bool *wait)
{
	Oid			upstream;
	char	   *reason;

	*wait = false;
	/* a view dropped behind our back is simply no longer there */
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(pv->view)))
	{
		pv->state = PLANNED_GONE;
		return true;
	}
	for (int i = 0; i < pv->nupstream; i++)
	{
		PlannedView *up = find_planned(plan, pv->upstream[i]);

		if (up != NULL && (up->state == PLANNED_WAITING || up->state == PLANNED_RUNNING))
		{
			*wait = true;
			return false;
		}
	}
	pv->outcome.view = pv->view;
	upstream = blocking_upstream(pv, *not_refreshed);
	if (OidIsValid(upstream))
	{
		skip_view(&pv->outcome,
				  psprintf("upstream materialized view \"%s\" was not refreshed",
						   reporting_display_name(upstream)));
		*not_refreshed = lappend_oid(*not_refreshed, pv->view);
	}
	else if (!why_not_refresh(pv->view, &reason))
	{
		pv->state = PLANNED_GONE;
		return true;
	}
	else if (reason != NULL)
		skip_view(&pv->outcome, reason);
	else
		return false;
	pv->state = PLANNED_DONE;
	return true;
}

/* Refresh one view in this session (no worker), recording the outcome. */
static void
refresh_here(PlannedView *pv, List **not_refreshed)
{
	pv->outcome.view = pv->view;
	refresh_in_subtransaction(&pv->outcome);
	if (strcmp(pv->outcome.status, "failed") == 0)
		*not_refreshed = lappend_oid(*not_refreshed, pv->view);
	pv->state = PLANNED_DONE;
}

/* Every view, one after another, in this session. */
static void
refresh_all_in_session(List *plan)
{
	List	   *not_refreshed = NIL;
	ListCell   *lc;

	foreach(lc, plan)
	{
		PlannedView *pv = (PlannedView *) lfirst(lc);
		bool		wait;

		CHECK_FOR_INTERRUPTS();
		if (!settle_without_refresh(pv, plan, &not_refreshed, &wait))
			refresh_here(pv, &not_refreshed);
	}
}

/*
 * Why refresh workers cannot be used for this call, or NULL when they can.
 * *expected is set when the reason is the caller's own doing (its
 * transaction wrote data), which is not worth a NOTICE.
 */
static const char *
in_session_reason(bool *expected)
{
	*expected = false;
	if (!reporting_slots_available())
		return "reporting is not in shared_preload_libraries";
	if (reporting_max_workers == 0)
		return "reporting.max_workers is 0";
	if (!reporting_extension_at_least(REPORTING_WORKERS_MIN_VERSION))
		return "the extension's SQL objects are older than " REPORTING_WORKERS_MIN_VERSION
			" (run ALTER EXTENSION reporting UPDATE)";
	*expected = true;
	if (TransactionIdIsValid(GetTopTransactionIdIfAny()))
		return "this transaction has written data, which refresh workers could not see";
	return NULL;
}

/* What became of a ready view */
typedef enum StartResult
{
	STARTED,					/* running in a worker, or refreshed here */
	NO_SLOT,					/* reporting.max_workers busy: wait for a slot */
	BEING_REFRESHED				/* someone else's worker has it: wait for that */
} StartResult;

/* The owner of relid, or InvalidOid when it was dropped meanwhile. */
static Oid
owner_if_exists(Oid relid)
{
	HeapTuple	tuple = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(tuple))
		return InvalidOid;
	owner = ((Form_pg_class) GETSTRUCT(tuple))->relowner;
	ReleaseSysCache(tuple);
	return owner;
}

/*
 * Refresh a ready view in this session, holding a worker slot meanwhile, so
 * that refreshes in sessions count towards reporting.max_workers like
 * workers do.  NO_SLOT when none is free: the caller waits for one.
 */
static StartResult
refresh_here_in_slot(PlannedView *pv, List **not_refreshed)
{
	const char *why_not;
	Oid			owner = owner_if_exists(pv->view);
	int			slotno;

	if (!OidIsValid(owner))
	{
		pv->state = PLANNED_GONE;
		return STARTED;
	}
	slotno = reporting_claim_slot(pv->view, owner, "refresh_all", &why_not);
	if (slotno < 0)
		return reporting_view_has_worker(MyDatabaseId, pv->view) ? BEING_REFRESHED : NO_SLOT;
	pv->slotno = slotno;
	refresh_here(pv, not_refreshed);
	reporting_release_slot(slotno);
	pv->slotno = -1;
	return STARTED;
}

/*
 * Hand a ready view to a refresh worker.  A view is never refreshed in this
 * session while one of our workers runs, nor a worker started once a view
 * was refreshed here (*in_session): this session holds the locks of what it
 * refreshed until its transaction ends, and a worker refreshing a view built
 * on one of them would wait for the caller (fault 7).  So only when no
 * worker can be started at all and none of ours runs does the rest of the
 * call continue here, saying so once.
 */
static StartResult
start_worker_for(PlannedView *pv, int nrunning, List **not_refreshed, bool *in_session)
{
	const char *why_not;
	Oid			owner;

	if (*in_session)
		return refresh_here_in_slot(pv, not_refreshed);
	/* dropped since it was planned: simply no longer there */
	if (!OidIsValid(owner = owner_if_exists(pv->view)))
	{
		pv->state = PLANNED_GONE;
		return STARTED;
	}
	pv->slotno = reporting_claim_slot(pv->view, owner, "refresh_all", &why_not);
	if (pv->slotno < 0)
		return reporting_view_has_worker(MyDatabaseId, pv->view) ? BEING_REFRESHED : NO_SLOT;
	pv->handle = reporting_start_refresh_worker(pv->slotno);
	if (pv->handle != NULL)
	{
		pv->state = PLANNED_RUNNING;
		return STARTED;
	}
	pv->slotno = -1;
	if (nrunning > 0)
		return NO_SLOT;
	ereport(NOTICE,
			(errmsg("refresh_all() is refreshing the remaining views in this session: no refresh worker could be started"),
			 errhint("Raise max_worker_processes: the launcher, one scheduler per database and reporting.max_workers refresh workers need one each.")));
	*in_session = true;
	return refresh_here_in_slot(pv, not_refreshed);
}

/*
 * Record a failure the worker could not record itself, unless the view was
 * unregistered meanwhile (its history went with it).
 */
static void
record_lost_run(ViewOutcome *o, const char *error, const char *sqlstate)
{
	ReportingRegistration reg;

	if (reporting_load_registration(o->view, &reg))
		reporting_record_run(o->view, "refresh_all", "failed", &o->result, false,
							 error, sqlstate);
}

/*
 * The outcome of a finished worker, from its slot.  A worker that failed
 * before it could append its row to reporting.runs (run_id 0) has its
 * failure recorded here, so that no failure goes unrecorded.
 */
static void
take_result(PlannedView *pv, const ReportingSlotOutcome *slot, List **not_refreshed)
{
	ViewOutcome *o = &pv->outcome;
	bool		refreshed = strcmp(slot->status, "refreshed") == 0;

	o->view = pv->view;
	o->status = refreshed ? "refreshed" :
		strcmp(slot->status, "skipped") == 0 ? "skipped" : "failed";
	strlcpy(o->result.mode, slot->mode, sizeof(o->result.mode));
	o->result.rows = slot->rows;
	o->result.started_at = slot->started_at ? slot->started_at : slot->claimed_at;
	o->result.finished_at = slot->finished_at ? slot->finished_at : GetCurrentTimestamp();
	o->error = slot->error[0] ? pstrdup(slot->error) : NULL;
	if (!refreshed)
		*not_refreshed = lappend_oid(*not_refreshed, pv->view);
	if (slot->run_id == 0 && !refreshed)
		record_lost_run(o, o->error ? o->error : "the refresh worker stopped before it could refresh; see the server log",
						slot->sqlstate[0] ? slot->sqlstate : NULL);
	reporting_release_slot(pv->slotno);
	pv->slotno = -1;
	pv->state = PLANNED_DONE;
}

/* A worker that never attached to its slot: record why, free the slot. */
static void
give_up_on_worker(PlannedView *pv, TimestampTz claimed_at, const char *why,
				  List **not_refreshed)
{
	ViewOutcome *o = &pv->outcome;

	TerminateBackgroundWorker(pv->handle);
	reporting_release_slot(pv->slotno);
	pv->slotno = -1;
	o->view = pv->view;
	o->result.started_at = claimed_at;
	o->result.finished_at = GetCurrentTimestamp();
	o->status = "failed";
	o->error = why;
	record_lost_run(o, why, NULL);
	*not_refreshed = lappend_oid(*not_refreshed, pv->view);
	pv->state = PLANNED_DONE;
}

/* Look at one running view's worker. */
static void
check_worker(PlannedView *pv, List **not_refreshed)
{
	ReportingSlotOutcome outcome;
	ReportingSlotState state = reporting_slot_poll(pv->slotno, &outcome);
	pid_t		pid;

	if (state == SLOT_DONE)
		take_result(pv, &outcome, not_refreshed);
	else if (state == SLOT_FREE)
		give_up_on_worker(pv, outcome.claimed_at,
						  "the refresh worker's slot was reclaimed; see the server log",
						  not_refreshed);
	else if (state == SLOT_CLAIMED &&
			 GetBackgroundWorkerPid(pv->handle, &pid) == BGWH_STOPPED)
		give_up_on_worker(pv, outcome.claimed_at,
						  "the refresh worker exited before it started; see the server log",
						  not_refreshed);
	else if (state == SLOT_CLAIMED &&
			 TimestampDifferenceExceeds(outcome.claimed_at, GetCurrentTimestamp(),
										WORKER_START_TIMEOUT_MS))
		give_up_on_worker(pv, outcome.claimed_at,
						  "the refresh worker did not start within 10 seconds",
						  not_refreshed);
}

/* Start what is ready; returns how many views are still running. */
static int
start_ready_views(List *plan, List **not_refreshed, bool *in_session, int *remaining)
{
	int			nrunning = 0;
	ListCell   *lc;

	foreach(lc, plan)
		if (((PlannedView *) lfirst(lc))->state == PLANNED_RUNNING)
			nrunning++;
	foreach(lc, plan)
	{
		PlannedView *pv = (PlannedView *) lfirst(lc);
		bool		wait;

		if (pv->state != PLANNED_WAITING)
			continue;
		if (settle_without_refresh(pv, plan, not_refreshed, &wait))
			(*remaining)--;
		else if (!wait)
		{
			StartResult started = start_worker_for(pv, nrunning, not_refreshed, in_session);

			if (started == NO_SLOT)
				break;			/* keep the order: the next free slot is its */
			if (started == BEING_REFRESHED)
				continue;		/* others may go ahead meanwhile */
			if (pv->state == PLANNED_RUNNING)
				nrunning++;
			else
				(*remaining)--;
		}
	}
	return nrunning;
}

/*
 * Stop our workers (on a cancel, an error, FATAL or pg_terminate_backend():
 * a PG_ENSURE_ERROR_CLEANUP callback): their refreshes roll back, and their
 * slots are given back, as is the slot held by a refresh in this session
 * that the error interrupted.
 */
static void
stop_workers(int code, Datum arg)
{
	List	   *plan = (List *) DatumGetPointer(arg);
	ListCell   *lc;

	foreach(lc, plan)
	{
		PlannedView *pv = (PlannedView *) lfirst(lc);

		if (pv->slotno < 0)
			continue;
		if (pv->state == PLANNED_RUNNING)
			TerminateBackgroundWorker(pv->handle);
		reporting_release_slot(pv->slotno);
		pv->slotno = -1;
	}
}

/* Start views as their turn comes and collect their workers until all are done. */
static void
run_workers(List *plan)
{
	List	   *not_refreshed = NIL;
	int			remaining = list_length(plan);
	bool		in_session = false;

	while (remaining > 0)
	{
		ListCell   *lc;

		if (start_ready_views(plan, &not_refreshed, &in_session, &remaining) == 0 &&
			remaining == 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 POLL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
		foreach(lc, plan)
		{
			PlannedView *pv = (PlannedView *) lfirst(lc);

			if (pv->state == PLANNED_RUNNING)
			{
				check_worker(pv, &not_refreshed);
				if (pv->state == PLANNED_DONE)
					remaining--;
			}
		}
	}
}

/*
 * Every view, in refresh workers; however this ends (a cancel, an error,
 * FATAL, pg_terminate_backend()), stop them and give their slots back.
 */
static void
refresh_all_in_workers(List *plan)
{
	/* the slots' own exit callback first: ours must be the latest */
	reporting_slots_become_requester();
	PG_ENSURE_ERROR_CLEANUP(stop_workers, PointerGetDatum(plan));
	{
		run_workers(plan);
	}
	PG_END_ENSURE_ERROR_CLEANUP(stop_workers, PointerGetDatum(plan));
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
	bool		expected;
	const char *why_in_session = in_session_reason(&expected);
	List	   *plan;
	ListCell   *lc;

	reporting_check_not_in_recovery();
	InitMaterializedSRF(fcinfo, 0);
	reporting_prune_history();
	plan = load_plan();

	if (why_in_session != NULL && plan != NIL)
	{
		ereport(expected ? DEBUG1 : NOTICE,
				(errmsg("refresh_all() is refreshing one view at a time in this session: %s",
						why_in_session)));
		refresh_all_in_session(plan);
	}
	else
		refresh_all_in_workers(plan);

	foreach(lc, plan)
	{
		PlannedView *pv = (PlannedView *) lfirst(lc);

		if (pv->state == PLANNED_DONE)
			emit_outcome(rsinfo, &pv->outcome);
	}
	return (Datum) 0;
}
