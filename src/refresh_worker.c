/*-------------------------------------------------------------------------
 *
 * refresh_worker.c
 *		The short-lived background worker that runs one refresh.
 *
 * A scheduler or refresh_all claims a slot (worker_slots.c) and starts this
 * worker with the slot's number and the claim's serial.  The worker always
 * connects as the bootstrap superuser, whatever the owner's LOGIN and
 * CONNECT attributes (a role without LOGIN, or without CONNECT on the
 * database, could not connect, and its refreshes would fail before anything
 * could be recorded), then makes the owner its session user; the view's
 * query runs as the owner with the owner's settings, exactly as a manual
 * refresh does (refresh.c: SetUserIdAndSecContext and settings.c).  It
 * then:
 *
 *	1. appends a "running" row to reporting.runs and commits it;
 *	2. takes the view's refresh lock: a scheduled refresh does not wait for
 *	   another refresh of the same view, it records a skip; refresh_all's
 *	   waits, bounded by the view's lock_timeout;
 *	3. refreshes the view in its own transaction, with the view's
 *	   lock_timeout and statement_timeout, and completes the row;
 *	4. on an error rolls back (the view stays as it was) and records the
 *	   failure with its SQLSTATE.
 *
 * SIGTERM (DROP DATABASE, DROP EXTENSION, pg_terminate_backend, shutdown)
 * cancels the refresh, which is then recorded as interrupted.  The worker
 * never restarts itself; a worker that dies without recording leaves a
 * "running" row that the scheduler marks interrupted.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "tcop/tcopprot.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "reporting.h"
#include "reporting_view.h"
#include "worker_slots.h"

static volatile sig_atomic_t terminating = false;

/* SIGTERM: cancel what runs now (a clean ERROR), remember to stop */
static void
worker_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	terminating = true;
	InterruptPending = true;
	QueryCancelPending = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/* Copy the outcome into the slot for the requester. */
static void
publish_result(const char *status, const ReportingRefreshResult *result,
			   bool rows_known, const char *error, const char *sqlstate)
{
	ReportingSlotOutcome outcome;

	memset(&outcome, 0, sizeof(outcome));
	strlcpy(outcome.status, status, sizeof(outcome.status));
	strlcpy(outcome.mode, result->mode, sizeof(outcome.mode));
	outcome.rows = result->rows;
	outcome.rows_known = rows_known;
	outcome.started_at = result->started_at;
	outcome.finished_at = result->finished_at;
	strlcpy(outcome.error, error ? error : "", sizeof(outcome.error));
	strlcpy(outcome.sqlstate, sqlstate ? sqlstate : "", sizeof(outcome.sqlstate));
	reporting_slot_publish(&outcome);
}

static void
begin_transaction(const char *activity)
{
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	/* SPI wants an outer snapshot; each statement still takes its own */
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, activity);
}

static void
end_transaction(void)
{
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
}

/* Step 1, in its own committed transaction: the "running" row. */
static int64
start_run(const ReportingSlotTask *task)
{
	int64		run_id;

	begin_transaction("reporting: starting a refresh");
	/* the session is the owner's, whatever its LOGIN and CONNECT */
	SetSessionAuthorization(task->owner, superuser_arg(task->owner));
	run_id = reporting_start_run(task->view, task->origin, task->started_by,
								 GetCurrentTimestamp());
	if (run_id == 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("materialized view \"%s\" is no longer registered",
						reporting_display_name(task->view)),
				 errdetail("It was unregistered or dropped after its refresh was asked for.")));
	end_transaction();
	reporting_slot_set_run(run_id);
	return run_id;
}

/*
 * Steps 2 and 3.  *status says what happened: refreshed, or skipped when a
 * scheduled refresh found another refresh of the view running.
 */
static void
refresh(int64 run_id, const ReportingSlotTask *task, ReportingRefreshResult *result,
		const char **status)
{
	Oid			relid = task->view;
	const char *origin = task->origin;
	ReportingView *view;

	begin_transaction("reporting: refreshing");
	memset(result, 0, sizeof(*result));
	view = reporting_view_load(relid);
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("reporting: refreshing %s", view->display_name));
	result->started_at = GetCurrentTimestamp();
	if (strcmp(origin, "schedule") == 0 && !reporting_lock_refresh(relid, false))
	{
		result->finished_at = result->started_at;
		*status = "skipped";
		reporting_finish_run(run_id, "skipped", result, false,
							 "another refresh of this view was running", NULL);
	}
	else
	{
		reporting_refresh_loaded(view, "auto", origin, task->requested_by, result);
		*status = "refreshed";
		reporting_finish_run(run_id, "refreshed", result, true, NULL, NULL);
	}
	end_transaction();
}

/* Step 4: roll back, then record the failure in a new transaction. */
static void
record_failure(int64 run_id, ReportingRefreshResult *result, ErrorData *edata)
{
	const char *status = terminating ? "interrupted" : "failed";
	const char *sqlstate = unpack_sql_state(edata->sqlerrcode);
	const char *message = terminating ?
		"the refresh was interrupted: its worker was asked to stop" : edata->message;

	result->finished_at = GetCurrentTimestamp();
	publish_result(status, result, false, message, sqlstate);
	/* the cancel that stopped the refresh must not stop the recording */
	QueryCancelPending = false;
	if (run_id > 0)
	{
		begin_transaction("reporting: recording a failed refresh");
		reporting_finish_run(run_id, status, result, false, message, sqlstate);
		end_transaction();
	}
}

/*
 * Entry point of a refresh worker (PGDLLEXPORT, named in bgw_function_name
 * by worker_slots.c).  main_arg is the slot's number, bgw_extra the claim's
 * serial: a worker whose claim was given up on exits at once.
 */
void
reporting_refresh_worker_main(Datum main_arg)
{
	int			slotno = DatumGetInt32(main_arg);
	uint32		serial;
	ReportingSlotTask task;
	volatile int64 run_id = 0;
	ReportingRefreshResult result;
	MemoryContext worker_context;

	pqsignal(SIGTERM, worker_sigterm);
	BackgroundWorkerUnblockSignals();

	memcpy(&serial, MyBgworkerEntry->bgw_extra, sizeof(uint32));
	if (!reporting_slot_attach(slotno, serial, &task))
	{
		elog(DEBUG1, "reporting refresh worker: slot %d was given up on before the worker started", slotno);
		proc_exit(0);
	}

	/* as the bootstrap superuser: the owner is reached in refresh.c */
	BackgroundWorkerInitializeConnectionByOid(task.dboid, InvalidOid, 0);
	memset(&result, 0, sizeof(result));
	result.started_at = GetCurrentTimestamp();
	worker_context = AllocSetContextCreate(TopMemoryContext, "reporting refresh worker",
										   ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		const char *status;

		run_id = start_run(&task);
		refresh(run_id, &task, &result, &status);
		publish_result(status, &result, strcmp(status, "refreshed") == 0,
					   strcmp(status, "skipped") == 0 ?
					   "another refresh of this view was running" : NULL, NULL);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		HOLD_INTERRUPTS();
		MemoryContextSwitchTo(worker_context);
		edata = CopyErrorData();
		EmitErrorReport();
		FlushErrorState();
		AbortCurrentTransaction();
		RESUME_INTERRUPTS();
		record_failure(run_id, &result, edata);
	}
	PG_END_TRY();
	proc_exit(0);
}
