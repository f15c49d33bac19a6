/*-------------------------------------------------------------------------
 *
 * launcher.c
 *		The launcher: one background worker per server, started with the
 *		preloaded library once the server accepts writes (never on a
 *		standby; at promotion), that keeps a scheduler running in every
 *		database where the extension is installed.
 *
 * The launcher connects to no database; it reads pg_database (a shared
 * catalog) every few seconds.  For a database it has not seen, it starts a
 * scheduler there, which stops at once, saying so, when the extension is
 * not installed; the launcher then leaves that database alone until a
 * backend creates or updates the extension there (woken at commit) — so a
 * database where the extension is created later is picked up at once, and
 * one created from a template that has it within seconds.  Templates and
 * databases that do not accept connections are skipped: a connection would
 * keep CREATE DATABASE from copying them.  A scheduler that fails is
 * started again after a delay; one asked to stop by DROP DATABASE and
 * friends is not restarted while they run (lifecycle.c).
 *
 * The launcher itself is restarted by the postmaster when it exits with an
 * error, pg_terminate_backend included.  It does nothing during a binary
 * upgrade (not even registered).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/genam.h"
#include "access/heapam.h"
#include "access/tableam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_database.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "reporting.h"

/* how often pg_database is read for new and dropped databases */
#define SCAN_INTERVAL_MS 5000
/* how long a failed scheduler waits before it is started again */
#define SCHEDULER_RETRY_MS 10000
/* schedulers being started at once */
#define MAX_STARTING 2
/* the launcher restarts this long after it exits with an error */
#define LAUNCHER_RESTART_SECONDS 5

/* a scheduler this launcher started, by database */
typedef struct StartedScheduler
{
	Oid			dboid;
	BackgroundWorkerHandle *handle;
} StartedScheduler;

static volatile sig_atomic_t got_sigterm = false;
static List *started = NIL;

static void
launcher_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

static void
launcher_exit(int code, Datum arg)
{
	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	if (reporting_workers->launcher_pid == MyProcPid)
	{
		reporting_workers->launcher_pid = 0;
		reporting_workers->launcher_latch = NULL;
	}
	LWLockRelease(reporting_workers->lock);
}

/* The databases a scheduler may run in: not templates, accepting connections. */
static List *
schedulable_databases(void)
{
	List	   *dboids = NIL;
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tuple = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database form = (Form_pg_database) GETSTRUCT(tuple);

		if (form->datallowconn && !form->datistemplate &&
			form->datconnlimit != DATCONNLIMIT_INVALID_DB)
		{
			MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

			dboids = lappend_oid(dboids, form->oid);
			MemoryContextSwitchTo(old);
		}
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	return dboids;
}

static StartedScheduler *
started_for(Oid dboid)
{
	ListCell   *lc;

	foreach(lc, started)
	{
		StartedScheduler *s = (StartedScheduler *) lfirst(lc);

		if (s->dboid == dboid)
			return s;
	}
	return NULL;
}

/* Is a scheduler alive in this database (started by us, or by a predecessor)? */
static bool
scheduler_alive(ReportingDatabase *db)
{
	StartedScheduler *s = started_for(db->dboid);
	pid_t		pid;

	if (s != NULL)
	{
		if (GetBackgroundWorkerPid(s->handle, &pid) != BGWH_STOPPED)
			return true;
		started = list_delete_ptr(started, s);
		pfree(s->handle);
		pfree(s);
		/* stopped without finding the extension missing: it failed */
		if (!db->no_extension && db->scheduler_pid == 0)
			db->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
													   SCHEDULER_RETRY_MS);
	}
	return db->scheduler_pid != 0 && kill(db->scheduler_pid, 0) == 0;
}

static void
start_scheduler(ReportingDatabase *db)
{
	Oid			dboid = db->dboid;
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	StartedScheduler *s;

	reporting_describe_worker(&worker, "reporting_scheduler_main", "reporting scheduler",
							  BGW_NEVER_RESTART, ObjectIdGetDatum(dboid));
	snprintf(worker.bgw_name, BGW_MAXLEN, "reporting scheduler for database %u", dboid);
	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(LOG,
				(errmsg("reporting: could not start a scheduler for database %u", dboid),
				 errdetail("No background worker slot is free; trying again in %d seconds.",
						   SCHEDULER_RETRY_MS / 1000),
				 errhint("Raise max_worker_processes.")));
		db->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), SCHEDULER_RETRY_MS);
		return;
	}
	s = MemoryContextAlloc(TopMemoryContext, sizeof(StartedScheduler));
	s->dboid = dboid;
	s->handle = handle;
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		started = lappend(started, s);
		MemoryContextSwitchTo(old);
	}
}

/* Forget databases that no longer exist (or may not be scheduled). */
static void
forget_databases(List *dboids)
{
	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	for (int i = 0; i < REPORTING_MAX_DATABASES; i++)
	{
		ReportingDatabase *db = &reporting_workers->dbs[i];

		if (db->dboid != InvalidOid && !list_member_oid(dboids, db->dboid) &&
			db->scheduler_pid == 0 && started_for(db->dboid) == NULL)
			memset(db, 0, sizeof(*db));
	}
	LWLockRelease(reporting_workers->lock);
}

/*
 * Schedulers started and not yet settled in their database (or checking
 * it); schedulers that stopped are forgotten here.
 */
static int
schedulers_starting(void)
{
	int			n = 0;
	ListCell   *lc;

	foreach(lc, started)
	{
		StartedScheduler *s = (StartedScheduler *) lfirst(lc);
		ReportingDatabase *db = reporting_find_database(s->dboid, false);
		pid_t		pid;

		if (GetBackgroundWorkerPid(s->handle, &pid) == BGWH_STOPPED)
		{
			if (db != NULL && !db->no_extension && db->scheduler_pid == 0)
				db->retry_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
														   SCHEDULER_RETRY_MS);
			pfree(s->handle);
			pfree(s);
			started = foreach_delete_current(started, lc);
			continue;
		}
		if (db == NULL || db->scheduler_pid == 0)
			n++;
	}
	return n;
}

/*
 * Start the schedulers that should run and do not, a few at a time: on a
 * server with many databases, checking them all at once would take every
 * background worker slot.
 */
static void
launch_schedulers(List *dboids)
{
	TimestampTz now = GetCurrentTimestamp();
	ListCell   *lc;

	foreach(lc, dboids)
	{
		Oid			dboid = lfirst_oid(lc);
		ReportingDatabase *db;
		bool		start;

		LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
		if (schedulers_starting() >= MAX_STARTING)
		{
			LWLockRelease(reporting_workers->lock);
			break;
		}
		db = reporting_find_database(dboid, true);
		start = db != NULL && !scheduler_alive(db) &&
			(!db->no_extension || db->recheck) &&
			db->paused_until <= now && db->retry_at <= now;
		if (start)
		{
			db->no_extension = false;
			db->recheck = false;
			start_scheduler(db);
		}
		LWLockRelease(reporting_workers->lock);
	}
}

/*
 * Say in the server log, once per change, that reporting.max_workers = 0
 * stops all scheduling: schedulers then find no slot for any refresh.
 */
static void
launcher_check_max_workers(bool *told)
{
	if (reporting_max_workers > 0)
	{
		*told = false;
		return;
	}
	if (*told)
		return;
	ereport(LOG,
			(errmsg("reporting: reporting.max_workers is 0, so no registered view is refreshed on schedule"),
			 errdetail("Scheduled refreshes run in refresh workers, and none may run."),
			 errhint("Set reporting.max_workers to 1 or more; to pause scheduling, set reporting.enabled to off.")));
	*told = true;
}

void
reporting_launcher_main(Datum main_arg)
{
	TimestampTz last_scan = 0;
	List	   *dboids = NIL;
	bool		told_no_workers = false;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, launcher_sigterm);
	BackgroundWorkerUnblockSignals();

	if (reporting_workers == NULL)
		proc_exit(0);
	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	if (reporting_workers->launcher_pid != 0 && kill(reporting_workers->launcher_pid, 0) == 0)
	{
		LWLockRelease(reporting_workers->lock);
		proc_exit(0);
	}
	reporting_workers->launcher_pid = MyProcPid;
	reporting_workers->launcher_latch = MyLatch;
	LWLockRelease(reporting_workers->lock);
	before_shmem_exit(launcher_exit, (Datum) 0);

	/* no database: pg_database is a shared catalog */
	BackgroundWorkerInitializeConnection(NULL, NULL, 0);

	while (!got_sigterm)
	{
		TimestampTz now = GetCurrentTimestamp();

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
		}
		launcher_check_max_workers(&told_no_workers);
		if (last_scan == 0 || reporting_workers->rescan ||
			TimestampDifferenceExceeds(last_scan, now, SCAN_INTERVAL_MS))
		{
			reporting_workers->rescan = false;
			list_free(dboids);
			dboids = schedulable_databases();
			forget_databases(dboids);
			last_scan = now;
		}
		launch_schedulers(dboids);

		/* woken by schedulers that start or stop and by CREATE EXTENSION */
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 SCAN_INTERVAL_MS, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	/* a clean stop (shutdown): exit code 0 is not restarted, 1 is */
	proc_exit(1);
}

/* Register the launcher (from _PG_init, while preloading). */
void
reporting_register_launcher(void)
{
	BackgroundWorker worker;

	if (IsBinaryUpgrade)
		return;
	reporting_describe_worker(&worker, "reporting_launcher_main", "reporting launcher",
							  LAUNCHER_RESTART_SECONDS, (Datum) 0);
	RegisterBackgroundWorker(&worker);
}
