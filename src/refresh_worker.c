/*-------------------------------------------------------------------------
 *
 * refresh_worker.c
 *		The short-lived background worker that runs one refresh.
 *
 * A scheduler or refresh_all claims a slot (worker_state.c) and starts this
 * worker with the slot's number.  The worker connects to the slot's database
 * as the view's owner (or, when the owner may not log in, connects and then
 * becomes the owner for the whole session: PostgreSQL 15 lets a background
 * worker connect only as a role with LOGIN), so that the refresh never runs
 * as a superuser that did not ask for it.  It then:
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

static volatile sig_atomic_t terminating = false;
static int	my_slotno = -1;

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

/*
 * On exit, whatever happened: hand the slot back (to the requester with the
 * result, or free when nobody waits) and wake the requester.
 */
static void
worker_exit(int code, Datum arg)
{
	ReportingWorkerSlot *slot = &reporting_workers->slots[my_slotno];
	pid_t		requester;

	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	if (slot->status[0] == '\0')
	{
		strlcpy(slot->status, "interrupted", sizeof(slot->status));
		strlcpy(slot->error, "the refresh worker exited before it finished",
				sizeof(slot->error));
		slot->finished_at = GetCurrentTimestamp();
	}
	requester = slot->requester;
	slot->state = requester != 0 ? SLOT_DONE : SLOT_FREE;
	slot->worker_pid = 0;
	LWLockRelease(reporting_workers->lock);
	/* the postmaster also notifies the requester; this is quicker */
	if (requester != 0)
	{
		PGPROC	   *proc = BackendPidGetProc(requester);

		if (proc)
			SetLatch(&proc->procLatch);
	}
}

/* Take the slot over; false when it is not the one we were started for. */
static bool
attach_slot(int slotno, uint32 serial)
{
	ReportingWorkerSlot *slot = &reporting_workers->slots[slotno];
	bool		ok;

	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	ok = slot->state == SLOT_CLAIMED && slot->serial == serial;

	if (ok)
	{
		slot->state = SLOT_RUNNING;
		slot->worker_pid = MyProcPid;
	}
	LWLockRelease(reporting_workers->lock);
	return ok;
}

/* Copy the outcome into the slot for the requester. */
static void
publish_result(const char *status, const ReportingRefreshResult *result,
			   bool rows_known, const char *error, const char *sqlstate)
{
	ReportingWorkerSlot *slot = &reporting_workers->slots[my_slotno];

	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	strlcpy(slot->status, status, sizeof(slot->status));
	strlcpy(slot->mode, result->mode, sizeof(slot->mode));
	slot->rows = result->rows;
	slot->rows_known = rows_known;
	slot->started_at = result->started_at;
	slot->finished_at = result->finished_at;
	strlcpy(slot->error, error ? error : "", sizeof(slot->error));
	strlcpy(slot->sqlstate, sqlstate ? sqlstate : "", sizeof(slot->sqlstate));
	LWLockRelease(reporting_workers->lock);
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
start_run(ReportingWorkerSlot *slot, const char *origin)
{
	int64		run_id;

	begin_transaction("reporting: starting a refresh");
	if (!slot->owner_can_login)
		SetSessionAuthorization(slot->owner, superuser_arg(slot->owner));
	run_id = reporting_start_run(slot->view, origin, slot->started_by, GetCurrentTimestamp());
	end_transaction();
	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	slot->run_id = run_id;
	LWLockRelease(reporting_workers->lock);
	return run_id;
}

/*
 * Steps 2 and 3.  *status says what happened: refreshed, or skipped when a
 * scheduled refresh found another refresh of the view running.
 */
static void
refresh(int64 run_id, Oid relid, const char *origin, ReportingRefreshResult *result,
		const char **status)
{
	begin_transaction("reporting: refreshing");
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("reporting: refreshing %s", reporting_display_name(relid)));
	memset(result, 0, sizeof(*result));
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
		reporting_refresh_view(relid, "auto", origin,
							   reporting_workers->slots[my_slotno].requested_by, result);
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

/* Connect as the view's owner when it may log in, else as the bootstrap superuser. */
static void
connect_for(ReportingWorkerSlot *slot)
{
	BackgroundWorkerInitializeConnectionByOid(slot->dboid,
											  slot->owner_can_login ? slot->owner : InvalidOid,
											  0);
}

void
reporting_refresh_worker_main(Datum main_arg)
{
	int			slotno = DatumGetInt32(main_arg);
	uint32		serial;
	ReportingWorkerSlot *slot;
	char		origin[16];
	Oid			relid;
	volatile int64 run_id = 0;
	ReportingRefreshResult result;
	MemoryContext worker_context;

	pqsignal(SIGTERM, worker_sigterm);
	BackgroundWorkerUnblockSignals();

	memcpy(&serial, MyBgworkerEntry->bgw_extra, sizeof(uint32));
	if (reporting_workers == NULL || !attach_slot(slotno, serial))
	{
		elog(DEBUG1, "reporting refresh worker: slot %d was given up on before the worker started", slotno);
		proc_exit(0);
	}
	my_slotno = slotno;
	before_shmem_exit(worker_exit, (Datum) 0);
	slot = &reporting_workers->slots[slotno];
	strlcpy(origin, slot->origin, sizeof(origin));
	relid = slot->view;

	connect_for(slot);
	memset(&result, 0, sizeof(result));
	result.started_at = GetCurrentTimestamp();
	worker_context = AllocSetContextCreate(TopMemoryContext, "reporting refresh worker",
										   ALLOCSET_DEFAULT_SIZES);
	PG_TRY();
	{
		const char *status;

		run_id = start_run(slot, origin);
		refresh(run_id, relid, origin, &result, &status);
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
