/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *		The per-database scheduler: a background worker, started by the
 *		launcher in every database where the extension is installed, that
 *		sleeps on its latch until a registered view is due and hands due
 *		views to refresh workers.
 *
 * Each cycle, in one short transaction:
 *	- stop if the extension is gone (or older than this library needs);
 *	- do nothing (and say so) while the schema called "reporting" is not the
 *	  extension's own, superuser-owned schema (catalog.c);
 *	- do nothing while pg_restore is loading this database;
 *	- collect the results of finished refresh workers;
 *	- now and then: mark "running" runs whose worker is gone as interrupted,
 *	  and prune the history;
 *	- unless reporting.enabled is off: for every due view, in dependency
 *	  order, record a skip when it must not run as its owner (security.c),
 *	  when its sources are known unchanged (or another refresh of it is
 *	  running), wait while a view it is built on is being
 *	  refreshed, and otherwise start a refresh worker (at most
 *	  reporting.max_workers at once, server-wide).
 * Then it sleeps until the next view is due, a minute at most, or until
 * woken: by a refresh worker that finished, by a backend that changed a
 * registration, or by SIGHUP or SIGTERM.
 *
 * The scheduler runs none of the users' SQL: refreshes run in refresh
 * workers, as the views' owners.  It connects as the bootstrap superuser,
 * which sees every registration (row-level security does not apply).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "catalog/pg_extension.h"
#include "storage/lmgr.h"
#include "utils/inval.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "reporting.h"
#include "worker_slots.h"

/* how often runs left "running" are looked for and the history is pruned */
#define MAINTENANCE_INTERVAL_MS (60 * 1000)
/* how long a refresh worker may take to start before it is given up on */
#define WORKER_START_TIMEOUT_MS 10000
/* the longest sleep, so that settings and clock changes are noticed */
#define MAX_SLEEP_MS (60 * 1000)

/* one due view, as reporting._scheduled() lists it */
typedef struct ScheduledView
{
	Oid			view;
	Oid			owner;
	bool		can_login;
	bool		due;
	TimestampTz next_refresh_at;
	int			nupstream;
	Oid		   *upstream;
} ScheduledView;

/* a refresh worker this scheduler started */
typedef struct Dispatched
{
	int			slotno;
	Oid			view;
	BackgroundWorkerHandle *handle;
} Dispatched;

static volatile sig_atomic_t got_sigterm = false;
static List *dispatched = NIL;
static TimestampTz last_maintenance = 0;

static void
scheduler_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/* On exit: leave the database entry, abandon the slots we wait for. */
static void
scheduler_exit(int code, Datum arg)
{
	ReportingDatabase *db;
	ListCell   *lc;

	foreach(lc, dispatched)
		reporting_release_slot(((Dispatched *) lfirst(lc))->slotno);
	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	db = reporting_find_database(MyDatabaseId, false);
	if (db != NULL && db->scheduler_pid == MyProcPid)
	{
		db->scheduler_pid = 0;
		db->scheduler_latch = NULL;
	}
	LWLockRelease(reporting_workers->lock);
	reporting_wake_launcher();
}

/* Take this database's entry; false when another scheduler holds it. */
static bool
claim_database(void)
{
	ReportingDatabase *db;
	bool		ok = false;

	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	db = reporting_find_database(MyDatabaseId, true);
	if (db != NULL && (db->scheduler_pid == 0 || db->scheduler_pid == MyProcPid ||
					   kill(db->scheduler_pid, 0) != 0))
	{
		db->scheduler_pid = MyProcPid;
		db->scheduler_latch = MyLatch;
		db->no_extension = false;
		db->recheck = false;
		ok = true;
	}
	LWLockRelease(reporting_workers->lock);
	return ok;
}

/* The extension is missing or too old here: say so, and let the launcher know. */
static void
leave_for_good(const char *why)
{
	ReportingDatabase *db;

	elog(DEBUG1, "reporting scheduler: %s; stopping", why);
	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	db = reporting_find_database(MyDatabaseId, false);
	if (db != NULL)
		db->no_extension = true;
	LWLockRelease(reporting_workers->lock);
	proc_exit(0);
}

/*
 * Is the extension installed here, at a version with the scheduler's SQL?
 * The extension object is locked for the rest of the cycle's transaction,
 * so that a concurrent DROP EXTENSION either waits for the cycle or has
 * committed before the check (and then the extension is seen gone).
 */
static const char *
extension_problem(void)
{
	Oid			extoid = get_extension_oid(REPORTING_EXTENSION_NAME, true);

	if (OidIsValid(extoid))
	{
		LockDatabaseObject(ExtensionRelationId, extoid, 0, AccessShareLock);
		/* a drop that committed while we waited is visible now */
		AcceptInvalidationMessages();
		extoid = get_extension_oid(REPORTING_EXTENSION_NAME, true);
	}
	if (!OidIsValid(extoid))
		return "the extension is not installed in this database";
	if (!reporting_extension_at_least(REPORTING_WORKERS_MIN_VERSION))
	{
		ereport(LOG,
				(errmsg("reporting: not scheduling refreshes in database \"%s\": its extension is older than %s",
						get_database_name(MyDatabaseId), REPORTING_WORKERS_MIN_VERSION),
				 errhint("Run ALTER EXTENSION reporting UPDATE in that database.")));
		return "the extension is too old";
	}
	return NULL;
}

/* pg_restore is loading this database: schedule nothing until it is done. */
static bool
restore_in_progress(void)
{
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_stat_activity"
					" WHERE datid OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database"
					"       WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())"
					"   AND application_name OPERATOR(pg_catalog.=) 'pg_restore'"
					"   AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()",
					false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for a restore in progress");
	return SPI_processed > 0;
}

/*
 * A refresh worker that could not record its own run (it failed to connect,
 * or died before): record a failure, so that the view backs off instead of
 * being retried at once.
 */
static void
record_lost_worker(TimestampTz claimed_at, Oid view)
{
	ReportingRefreshResult result;

	memset(&result, 0, sizeof(result));
	result.started_at = claimed_at;
	result.finished_at = GetCurrentTimestamp();
	reporting_record_run(view, "schedule", "failed", &result, false,
						 "the refresh worker stopped before it could refresh; see the server log",
						 NULL);
}

/* Free the slots of workers that are done, or never started. */
static void
collect_workers(void)
{
	ListCell   *lc;

	foreach(lc, dispatched)
	{
		Dispatched *d = (Dispatched *) lfirst(lc);
		ReportingSlotOutcome outcome;
		ReportingSlotState state = reporting_slot_poll(d->slotno, &outcome);
		pid_t		pid;
		bool		lost = state == SLOT_DONE && outcome.run_id == 0;

		if (state == SLOT_RUNNING)
			continue;
		if (state == SLOT_CLAIMED)
		{
			/* gone without attaching, or never started: the slot is still ours */
			if (GetBackgroundWorkerPid(d->handle, &pid) != BGWH_STOPPED)
			{
				if (!TimestampDifferenceExceeds(outcome.claimed_at, GetCurrentTimestamp(),
												WORKER_START_TIMEOUT_MS))
					continue;
				TerminateBackgroundWorker(d->handle);
			}
			lost = true;
		}
		if (lost)
			record_lost_worker(outcome.claimed_at, d->view);
		reporting_release_slot(d->slotno);
		pfree(d->handle);
		pfree(d);
		dispatched = foreach_delete_current(dispatched, lc);
	}
}

/* Views with a refresh worker of ours, for the interrupted-run sweep. */
static void
maintenance(TimestampTz cycle_start)
{
	int			max = reporting_slot_count();
	Oid		   *live = palloc(sizeof(Oid) * (max + 1));
	int			nlive = reporting_slot_live_views(MyDatabaseId, live, max);

	(void) reporting_mark_interrupted(cycle_start, nlive, live);
	reporting_prune_history();
	last_maintenance = cycle_start;
}

/* The scheduled views, in dependency order, in the caller's memory context. */
static List *
load_schedule(TimestampTz now)
{
	MemoryContext outer = CurrentMemoryContext;
	List	   *views = NIL;

	if (SPI_execute("SELECT view::pg_catalog.oid, owner, can_login, next_refresh_at,"
					"       upstream::pg_catalog.oid[]"
					"  FROM reporting._scheduled()", false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the schedule");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Datum		up = SPI_getbinval(tuple, desc, 5, &isnull);
		MemoryContext spi = MemoryContextSwitchTo(outer);
		ScheduledView *sv = palloc0(sizeof(ScheduledView));
		Datum	   *elems;
		bool	   *elemnulls;

		sv->view = DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull));
		sv->owner = DatumGetObjectId(SPI_getbinval(tuple, desc, 2, &isnull));
		sv->can_login = DatumGetBool(SPI_getbinval(tuple, desc, 3, &isnull));
		sv->next_refresh_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 4, &isnull));
		sv->due = !isnull && sv->next_refresh_at <= now;
		if (isnull)
			sv->next_refresh_at = DT_NOEND;
		deconstruct_array(DatumGetArrayTypeP(up), OIDOID, sizeof(Oid), true,
						  TYPALIGN_INT, &elems, &elemnulls, &sv->nupstream);
		sv->upstream = palloc(sizeof(Oid) * Max(1, sv->nupstream));
		for (int j = 0; j < sv->nupstream; j++)
			sv->upstream[j] = DatumGetObjectId(elems[j]);
		views = lappend(views, sv);
		MemoryContextSwitchTo(spi);
	}
	return views;
}

/* Record a scheduled run that did not refresh, with the reason. */
static void
record_skip(Oid view, const char *reason)
{
	ReportingRefreshResult result;

	memset(&result, 0, sizeof(result));
	result.started_at = GetCurrentTimestamp();
	result.finished_at = result.started_at;
	reporting_record_run(view, "schedule", "skipped", &result, false, reason, NULL);
}

/* Why a due view needs no refresh now, or NULL. */
static char *
skip_reason(Oid view)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(view)};

	if (SPI_execute_with_args("SELECT reporting._skip_reason($1)", 1, argtypes, values,
							  NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not decide whether to skip relation %u", view);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * Why a due view must not be refreshed by the scheduler (security.c: it
 * changed hands since it was registered, or it would run as a superuser
 * while reporting.enable_superuser_refresh is off), or NULL.
 */
static char *
refusal_reason(Oid view)
{
	ReportingRegistration reg;
	char	   *reason;
	char	   *hint;

	if (!reporting_load_registration(view, &reg))
		return NULL;
	if (!reporting_refresh_refused(view, reg.owner, InvalidOid, false, &reason, &hint))
		return NULL;
	return reason;
}

/*
 * Is a view this one is built on due now, or being refreshed?  Then this
 * one waits: refreshed before its upstream, it would copy old data.
 */
static bool
waits_for_upstream(ScheduledView *sv, List *due)
{
	for (int i = 0; i < sv->nupstream; i++)
		if (list_member_oid(due, sv->upstream[i]) ||
			reporting_view_has_worker(MyDatabaseId, sv->upstream[i]) ||
			reporting_running_elsewhere(MyDatabaseId, sv->upstream[i], NULL, NULL))
			return true;
	return false;
}

/*
 * Hand one due view to a refresh worker.  Returns false when no slot or no
 * background worker is free now (the view stays due).
 */
static bool
dispatch(ScheduledView *sv)
{
	const char *why_not;
	int			slotno = reporting_claim_slot(sv->view, sv->owner, "schedule", &why_not);
	BackgroundWorkerHandle *handle;
	Dispatched *d;

	MemoryContext old;

	if (slotno < 0)
		return false;
	/* the handle outlives this cycle */
	old = MemoryContextSwitchTo(TopMemoryContext);
	handle = reporting_start_refresh_worker(slotno);
	MemoryContextSwitchTo(old);
	if (handle == NULL)
		return false;			/* said in the log by worker_slots.c */
	old = MemoryContextSwitchTo(TopMemoryContext);
	d = palloc(sizeof(Dispatched));
	d->slotno = slotno;
	d->view = sv->view;
	d->handle = handle;
	dispatched = lappend(dispatched, d);
	MemoryContextSwitchTo(old);
	return true;
}

/*
 * Act on every due view; return when the next one is due (DT_NOEND when
 * none is scheduled).
 */
static TimestampTz
run_due_views(TimestampTz now)
{
	List	   *views = load_schedule(now);
	List	   *due = NIL;
	TimestampTz next = DT_NOEND;
	bool		slots_left = true;
	ListCell   *lc;

	foreach(lc, views)
		if (((ScheduledView *) lfirst(lc))->due)
			due = lappend_oid(due, ((ScheduledView *) lfirst(lc))->view);

	foreach(lc, views)
	{
		ScheduledView *sv = (ScheduledView *) lfirst(lc);
		char	   *reason;
		char		origin[16];

		if (!sv->due)
		{
			next = Min(next, sv->next_refresh_at);
			continue;
		}
		if (reporting_view_has_worker(MyDatabaseId, sv->view))
		{
			/* ours wakes us when it is done; refresh_all's does not */
			next = Min(next, TimestampTzPlusMilliseconds(now, 1000));
			continue;
		}
		if (reporting_running_elsewhere(MyDatabaseId, sv->view, origin, NULL))
		{
			record_skip(sv->view, psprintf("a refresh started by %s was running",
										   strcmp(origin, "manual") == 0 ? "reporting.refresh()" :
										   "reporting.refresh_all()"));
			next = now;			/* the skip moved its next time: look again */
			continue;
		}
		if (waits_for_upstream(sv, due))
		{
			next = Min(next, TimestampTzPlusMilliseconds(now, 1000));
			continue;
		}
		if ((reason = refusal_reason(sv->view)) != NULL ||
			(reason = skip_reason(sv->view)) != NULL)
		{
			record_skip(sv->view, reason);
			next = now;			/* the skip moved its next time: look again */
			continue;
		}
		if (slots_left && !dispatch(sv))
			slots_left = false;
		/* without a slot, a finishing worker wakes us; else retry in a second */
		if (!slots_left && dispatched == NIL)
			next = Min(next, TimestampTzPlusMilliseconds(now, 1000));
	}
	return next;
}

/* One cycle; returns how long to sleep, in milliseconds. */
static long
scheduler_cycle(void)
{
	TimestampTz now;
	TimestampTz next = DT_NOEND;
	const char *problem;
	long		sleep_ms = MAX_SLEEP_MS;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "reporting: scheduling refreshes");
	now = GetCurrentTimestamp();

	if ((problem = extension_problem()) != NULL)
		leave_for_good(problem);
	/* never run objects another role could have put in the extension's place */
	if (!reporting_check_schema(WARNING))
		sleep_ms = MAX_SLEEP_MS;	/* said so; look again in a minute */
	else if (restore_in_progress())
		sleep_ms = 1000;
	else
	{
		collect_workers();
		if (last_maintenance == 0 ||
			TimestampDifferenceExceeds(last_maintenance, now, MAINTENANCE_INTERVAL_MS))
			maintenance(now);
		if (reporting_enabled)
			next = run_due_views(now);
	}

	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);

	/* a worker that never starts wakes nobody: look again soon */
	if (dispatched != NIL)
		sleep_ms = Min(sleep_ms, 1000);
	if (next != DT_NOEND)
	{
		now = GetCurrentTimestamp();
		sleep_ms = Min(sleep_ms, next <= now ? 0 :
					   (long) ((next - now + 999) / 1000));
	}
	return sleep_ms;
}

void
reporting_scheduler_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	MemoryContext cycle_context;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, scheduler_sigterm);
	BackgroundWorkerUnblockSignals();

	if (reporting_workers == NULL)
		proc_exit(0);
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	if (!claim_database())
		proc_exit(0);
	/* its catalog queries are small; compiling them would cost more than running them */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	before_shmem_exit(scheduler_exit, (Datum) 0);
	pgstat_report_appname("reporting scheduler");

	cycle_context = AllocSetContextCreate(TopMemoryContext, "reporting scheduler cycle",
										  ALLOCSET_DEFAULT_SIZES);
	while (!got_sigterm)
	{
		long		sleep_ms;
		MemoryContext old;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		old = MemoryContextSwitchTo(cycle_context);
		sleep_ms = scheduler_cycle();
		MemoryContextSwitchTo(old);
		MemoryContextReset(cycle_context);

		if (sleep_ms > 0 && !got_sigterm)
			(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
							 sleep_ms, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	/*
	 * Asked to stop (DROP DATABASE, CREATE DATABASE from this one,
	 * pg_terminate_backend, shutdown): a normal exit, not logged as a crash;
	 * the launcher decides what comes next.
	 */
	proc_exit(0);
}
