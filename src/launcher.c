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
 * Each pass is linear in the number of databases: worker_state.c brings its
 * table up to date with pg_database and copies it in one hold of its lock,
 * with nothing that can fail meanwhile; the launcher decides on the copy
 * (its own schedulers in a hash table) and writes back one entry per
 * scheduler it starts.  "Could not start a scheduler" is logged at most
 * once a minute.
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
#include "utils/hsearch.h"
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

/* a scheduler this launcher started, by database (launcher_started) */
typedef struct StartedScheduler
{
	Oid			dboid;			/* hash key */
	BackgroundWorkerHandle *handle;
} StartedScheduler;

static volatile sig_atomic_t got_sigterm = false;
static HTAB *launcher_started = NULL;

/* "could not start a scheduler": at most one line a minute */
#define LOG_INTERVAL_MS (60 * 1000)
static TimestampTz launcher_last_logged = 0;
static int	launcher_unlogged = 0;

static void
launcher_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	got_sigterm = true;
	SetLatch(MyLatch);
	errno = save_errno;
}

/*
 * before_shmem_exit: leave the launcher's place.  An error that ended the
 * launcher while it held the workers' lock must not deadlock it here.
 */
static void
launcher_exit(int code, Datum arg)
{
	LWLockReleaseAll();
	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	if (reporting_workers->launcher_pid == MyProcPid)
	{
		reporting_workers->launcher_pid = 0;
		reporting_workers->launcher_latch = NULL;
	}
	LWLockRelease(reporting_workers->lock);
}

/*
 * The databases a scheduler may run in: not templates, accepting
 * connections.  An array in the caller's memory context; *n is its length.
 */
static Oid *
schedulable_databases(int *n)
{
	int			size = 64;
	Oid		   *dboids = palloc(sizeof(Oid) * size);
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tuple;

	*n = 0;
	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	PushActiveSnapshot(GetTransactionSnapshot());
	rel = table_open(DatabaseRelationId, AccessShareLock);
	scan = table_beginscan_catalog(rel, 0, NULL);
	while (HeapTupleIsValid(tuple = heap_getnext(scan, ForwardScanDirection)))
	{
		Form_pg_database form = (Form_pg_database) GETSTRUCT(tuple);

		if (!form->datallowconn || form->datistemplate ||
			form->datconnlimit == DATCONNLIMIT_INVALID_DB)
			continue;
		if (*n == size)
		{
			size *= 2;
			dboids = repalloc(dboids, sizeof(Oid) * size);
		}
		dboids[(*n)++] = form->oid;
	}
	table_endscan(scan);
	table_close(rel, AccessShareLock);
	PopActiveSnapshot();
	CommitTransactionCommand();
	/* allocated before the transaction: repalloc keeps it in the caller's context */
	return dboids;
}

/* Forget a scheduler we started that has stopped. */
static void
forget_started(StartedScheduler *s)
{
	Oid			dboid = s->dboid;

	pfree(s->handle);
	(void) hash_search(launcher_started, &dboid, HASH_REMOVE, NULL);
}

/* Is a scheduler alive in this database (started by us, or by a predecessor)? */
static bool
scheduler_alive(ReportingDatabase *db)
{
	StartedScheduler *s = hash_search(launcher_started, &db->dboid, HASH_FIND, NULL);
	pid_t		pid;

	if (s != NULL && GetBackgroundWorkerPid(s->handle, &pid) != BGWH_STOPPED)
		return true;
	return db->scheduler_pid != 0 && kill(db->scheduler_pid, 0) == 0;
}

/* Say that a scheduler could not be started: at most once a minute. */
static void
log_no_worker(Oid dboid)
{
	TimestampTz now = GetCurrentTimestamp();

	if (launcher_last_logged != 0 &&
		!TimestampDifferenceExceeds(launcher_last_logged, now, LOG_INTERVAL_MS))
	{
		launcher_unlogged++;
		return;
	}
	if (launcher_unlogged > 0)
		ereport(LOG,
				(errmsg("reporting: could not start a scheduler for database %u", dboid),
				 errdetail("No background worker slot is free; %d other attempts failed in the last minute.",
						   launcher_unlogged),
				 errhint("Raise max_worker_processes.")));
	else
		ereport(LOG,
				(errmsg("reporting: could not start a scheduler for database %u", dboid),
				 errdetail("No background worker slot is free; trying again in %d seconds.",
						   SCHEDULER_RETRY_MS / 1000),
				 errhint("Raise max_worker_processes.")));
	launcher_last_logged = now;
	launcher_unlogged = 0;
}

/* Start a scheduler in dboid; false when no background worker is free. */
static bool
start_scheduler(Oid dboid)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	StartedScheduler *s;
	MemoryContext old;
	bool		ok;

	reporting_describe_worker(&worker, "reporting_scheduler_main", "reporting scheduler",
							  BGW_NEVER_RESTART, ObjectIdGetDatum(dboid));
	snprintf(worker.bgw_name, BGW_MAXLEN, "reporting scheduler for database %u", dboid);
	old = MemoryContextSwitchTo(TopMemoryContext);
	ok = RegisterDynamicBackgroundWorker(&worker, &handle);
	MemoryContextSwitchTo(old);
	if (!ok)
	{
		log_no_worker(dboid);
		return false;
	}
	s = hash_search(launcher_started, &dboid, HASH_ENTER, NULL);
	s->handle = handle;
	return true;
}

/*
 * Forget the schedulers we started that have stopped (one that stopped
 * without settling in, and not because the extension is missing, failed:
 * it is retried later; one that had settled in may start again at once);
 * return how many are still starting.
 */
static int
settle_started(ReportingDatabase *copy, TimestampTz now)
{
	int			starting = 0;

	for (int i = 0; i < REPORTING_MAX_DATABASES; i++)
	{
		ReportingDatabase *db = &copy[i];
		StartedScheduler *s;
		pid_t		pid;

		if (db->dboid == InvalidOid ||
			(s = hash_search(launcher_started, &db->dboid, HASH_FIND, NULL)) == NULL)
			continue;
		if (GetBackgroundWorkerPid(s->handle, &pid) != BGWH_STOPPED)
		{
			if (db->scheduler_pid == 0)
				starting++;
			continue;
		}
		forget_started(s);
		/* one that ran and stopped (a pause, DROP DATABASE) is no failure */
		if (!db->no_extension && db->scheduler_pid == 0 && !db->settled)
		{
			db->retry_at = TimestampTzPlusMilliseconds(now, SCHEDULER_RETRY_MS);
			reporting_database_launched(i, db->dboid, false, db->retry_at);
		}
	}
	return starting;
}

/*
 * One pass: bring the database table up to date with pg_database, then
 * start the schedulers that should run and do not, a few at a time (on a
 * server with many databases, checking them all at once would take every
 * background worker slot).  Linear in the number of databases; the shared
 * lock is held only inside worker_state.c's functions, where nothing fails.
 */
static void
launcher_pass(Oid *listed, int nlisted)
{
	ReportingDatabase *copy = palloc(sizeof(ReportingDatabase) * REPORTING_MAX_DATABASES);
	bool	   *is_listed = palloc(sizeof(bool) * REPORTING_MAX_DATABASES);
	Oid		   *keep = palloc(sizeof(Oid) * (hash_get_num_entries(launcher_started) + 1));
	int			nkeep = 0;
	HASH_SEQ_STATUS seq;
	StartedScheduler *s;
	TimestampTz now = GetCurrentTimestamp();
	int			starting;

	hash_seq_init(&seq, launcher_started);
	while ((s = hash_seq_search(&seq)) != NULL)
		keep[nkeep++] = s->dboid;
	reporting_databases_sync(listed, nlisted, keep, nkeep, copy, is_listed);
	starting = settle_started(copy, now);

	for (int i = 0; i < REPORTING_MAX_DATABASES && starting < MAX_STARTING; i++)
	{
		ReportingDatabase *db = &copy[i];

		if (!is_listed[i] || scheduler_alive(db) ||
			(db->no_extension && !db->recheck) ||
			db->paused_until > now || db->retry_at > now)
			continue;
		if (start_scheduler(db->dboid))
		{
			reporting_database_launched(i, db->dboid, true, 0);
			starting++;
		}
		else
			reporting_database_launched(i, db->dboid, false,
										TimestampTzPlusMilliseconds(now, SCHEDULER_RETRY_MS));
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

/*
 * Entry point of the launcher (PGDLLEXPORT; registered by
 * reporting_register_launcher).  main_arg is unused.
 */
void
reporting_launcher_main(Datum main_arg)
{
	TimestampTz last_scan = 0;
	Oid		   *dboids = NULL;
	int			ndboids = 0;
	bool		told_no_workers = false;
	MemoryContext scan_context;
	MemoryContext pass_context;
	HASHCTL		ctl;

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

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(StartedScheduler);
	launcher_started = hash_create("reporting launcher schedulers", 64, &ctl,
								   HASH_ELEM | HASH_BLOBS);
	scan_context = AllocSetContextCreate(TopMemoryContext, "reporting launcher scan",
										 ALLOCSET_DEFAULT_SIZES);
	pass_context = AllocSetContextCreate(TopMemoryContext, "reporting launcher pass",
										 ALLOCSET_DEFAULT_SIZES);

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
			MemoryContext old;

			reporting_workers->rescan = false;
			MemoryContextReset(scan_context);
			old = MemoryContextSwitchTo(scan_context);
			dboids = schedulable_databases(&ndboids);
			MemoryContextSwitchTo(old);
			last_scan = now;
		}
		{
			MemoryContext old = MemoryContextSwitchTo(pass_context);

			launcher_pass(dboids, ndboids);
			MemoryContextSwitchTo(old);
			MemoryContextReset(pass_context);
		}

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
