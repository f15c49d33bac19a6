/*-------------------------------------------------------------------------
 *
 * worker_state.c
 *		Shared state of the launcher and the per-database schedulers: who
 *		runs where, and the wake-ups sent when registrations or the
 *		extension change.  The refresh-worker slots are worker_slots.c's.
 *
 * Databases
 * ---------
 * One entry per database the launcher has looked at.  A scheduler publishes
 * its pid and latch in its database's entry; backends wake it at commit
 * when registrations changed, and wake the launcher when the extension was
 * created or updated.  DROP DATABASE and friends pause a database (see
 * lifecycle.c).
 *
 * Everything is guarded by one LWLock.  Latches are set after releasing it.
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
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/timestamp.h"

#include "reporting.h"

ReportingWorkerShared *reporting_workers = NULL;

static bool wake_scheduler_at_commit = false;
static bool wake_launcher_at_commit = false;

static Size
workers_shmem_size(void)
{
	return sizeof(ReportingWorkerShared);
}

/* Request the workers' shared memory and LWLock (preload only; from init.c). */
void
reporting_workers_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(workers_shmem_size()));
	RequestAddinShmemSpace(MAXALIGN(reporting_running_shmem_size()));
	RequestNamedLWLockTranche("reporting workers", 1);
}

/*
 * Create or attach to the workers' shared state (from init.c, with
 * AddinShmemInitLock held).
 */
void
reporting_workers_shmem_startup(void)
{
	bool		found;

	reporting_workers = ShmemInitStruct("reporting workers", workers_shmem_size(), &found);
	if (!found)
	{
		memset(reporting_workers, 0, workers_shmem_size());
		reporting_workers->lock = &(GetNamedLWLockTranche("reporting workers"))->lock;
	}
	reporting_running_shmem_init();
}

/*
 * Describe one of the extension's background workers: all of them use
 * shared memory and a database connection (the launcher's reads shared
 * catalogs only), and run once the server accepts writes, never on a
 * standby.  A dynamic worker tells its starter (bgw_notify_pid) when it
 * starts and stops.
 */
void
reporting_describe_worker(BackgroundWorker *worker, const char *function,
						  const char *type, int restart_time, Datum arg)
{
	memset(worker, 0, sizeof(*worker));
	worker->bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker->bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker->bgw_restart_time = restart_time;
	strlcpy(worker->bgw_library_name, "reporting", BGW_MAXLEN);
	strlcpy(worker->bgw_function_name, function, BGW_MAXLEN);
	strlcpy(worker->bgw_name, type, BGW_MAXLEN);
	strlcpy(worker->bgw_type, type, BGW_MAXLEN);
	worker->bgw_main_arg = arg;
	worker->bgw_notify_pid = IsUnderPostmaster ? MyProcPid : 0;
}

/*
 * The entry of a database, or NULL.  With create, a free entry is taken
 * for it (NULL when the table is full).  The caller holds the lock
 * exclusively when creating, at least shared otherwise.
 */
ReportingDatabase *
reporting_find_database(Oid dboid, bool create)
{
	ReportingDatabase *free_entry = NULL;

	for (int i = 0; i < REPORTING_MAX_DATABASES; i++)
	{
		ReportingDatabase *db = &reporting_workers->dbs[i];

		if (db->dboid == dboid)
			return db;
		if (db->dboid == InvalidOid && free_entry == NULL)
			free_entry = db;
	}
	if (create && free_entry != NULL)
	{
		memset(free_entry, 0, sizeof(*free_entry));
		free_entry->dboid = dboid;
	}
	return create ? free_entry : NULL;
}

/*
 * Whether the launcher has (or can make) an entry for a database: the table
 * holds REPORTING_MAX_DATABASES.
 */
bool
reporting_database_has_room(Oid dboid)
{
	bool		room = false;

	if (reporting_workers == NULL)
		return true;
	LWLockAcquire(reporting_workers->lock, LW_SHARED);
	for (int i = 0; i < REPORTING_MAX_DATABASES && !room; i++)
		room = reporting_workers->dbs[i].dboid == dboid ||
			reporting_workers->dbs[i].dboid == InvalidOid;
	LWLockRelease(reporting_workers->lock);
	return room;
}

/* qsort/bsearch order of database OIDs */
static int
oid_order(const void *a, const void *b)
{
	Oid			x = *(const Oid *) a;
	Oid			y = *(const Oid *) b;

	return x < y ? -1 : x > y ? 1 : 0;
}

static bool
oid_listed(Oid dboid, const Oid *sorted, int n)
{
	return n > 0 && bsearch(&dboid, sorted, n, sizeof(Oid), oid_order) != NULL;
}

/*
 * The launcher's pass over the database table, in one exclusive hold of the
 * lock and with nothing that can fail while it is held: forget the entries
 * of databases that are not in listed and have neither a scheduler nor one
 * being started (keep), give an entry to each listed database that has none
 * (while the table has room), and copy the whole table into
 * copy[REPORTING_MAX_DATABASES], with is_listed[i] saying whether copy[i]
 * is a listed database.  listed and keep are sorted here.  Costs
 * O(entries + databases) binary searches, not entries x databases.
 */
void
reporting_databases_sync(Oid *listed, int nlisted, Oid *keep, int nkeep,
						 ReportingDatabase *copy, bool *is_listed)
{
	ReportingDatabase *dbs = reporting_workers->dbs;
	bool	   *has_entry = palloc0(sizeof(bool) * Max(nlisted, 1));
	int			next_free = 0;

	qsort(listed, nlisted, sizeof(Oid), oid_order);
	qsort(keep, nkeep, sizeof(Oid), oid_order);
	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	for (int i = 0; i < REPORTING_MAX_DATABASES; i++)
	{
		Oid		   *found;

		if (dbs[i].dboid == InvalidOid)
			continue;
		found = nlisted > 0 ? bsearch(&dbs[i].dboid, listed, nlisted, sizeof(Oid), oid_order) : NULL;
		if (found != NULL)
			has_entry[found - listed] = true;
		else if (dbs[i].scheduler_pid == 0 && !oid_listed(dbs[i].dboid, keep, nkeep))
			memset(&dbs[i], 0, sizeof(dbs[i]));
	}
	for (int j = 0; j < nlisted; j++)
	{
		if (has_entry[j])
			continue;
		while (next_free < REPORTING_MAX_DATABASES && dbs[next_free].dboid != InvalidOid)
			next_free++;
		if (next_free == REPORTING_MAX_DATABASES)
			break;
		memset(&dbs[next_free], 0, sizeof(dbs[next_free]));
		dbs[next_free].dboid = listed[j];
	}
	memcpy(copy, dbs, sizeof(ReportingDatabase) * REPORTING_MAX_DATABASES);
	LWLockRelease(reporting_workers->lock);
	for (int i = 0; i < REPORTING_MAX_DATABASES; i++)
		is_listed[i] = copy[i].dboid != InvalidOid && oid_listed(copy[i].dboid, listed, nlisted);
	pfree(has_entry);
}

/*
 * The launcher acted on the database in entry index (if that entry still
 * holds dboid): a scheduler was started (clear its flags), or the next
 * attempt waits until retry_at (when not 0).  Nothing here can fail.
 */
void
reporting_database_launched(int index, Oid dboid, bool started, TimestampTz retry_at)
{
	ReportingDatabase *db = &reporting_workers->dbs[index];

	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	if (db->dboid == dboid)
	{
		if (started)
		{
			db->no_extension = false;
			db->recheck = false;
			db->settled = false;
		}
		if (retry_at != 0)
			db->retry_at = retry_at;
	}
	LWLockRelease(reporting_workers->lock);
}

/*
 * How many databases have a scheduler running, other than dboid.  For the
 * warning of CREATE EXTENSION when background workers may run short.
 */
int
reporting_schedulers_running(Oid dboid)
{
	int			n = 0;

	if (reporting_workers == NULL)
		return 0;
	LWLockAcquire(reporting_workers->lock, LW_SHARED);
	for (int i = 0; i < REPORTING_MAX_DATABASES; i++)
		if (reporting_workers->dbs[i].dboid != InvalidOid &&
			reporting_workers->dbs[i].dboid != dboid &&
			reporting_workers->dbs[i].scheduler_pid != 0)
			n++;
	LWLockRelease(reporting_workers->lock);
	return n;
}

/* Wake the current database's scheduler when this transaction commits. */
void
reporting_wake_scheduler_at_commit(void)
{
	wake_scheduler_at_commit = true;
}

/*
 * Ask the launcher to look at the current database again (the extension
 * was created or updated) when this transaction commits.
 */
void
reporting_wake_launcher_at_commit(void)
{
	wake_launcher_at_commit = true;
}

void
reporting_wake_launcher(void)
{
	Latch	   *latch;

	if (reporting_workers == NULL)
		return;
	LWLockAcquire(reporting_workers->lock, LW_SHARED);
	latch = reporting_workers->launcher_pid != 0 ? reporting_workers->launcher_latch : NULL;
	LWLockRelease(reporting_workers->lock);
	if (latch)
		SetLatch(latch);
}

/* After commit: set the latches asked for.  Nothing here can fail. */
static void
wake_after_commit(void)
{
	ReportingDatabase *db;
	Latch	   *scheduler = NULL;

	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	db = reporting_find_database(MyDatabaseId, wake_launcher_at_commit);
	if (db != NULL)
	{
		if (wake_launcher_at_commit)
		{
			db->recheck = true;
			db->retry_at = 0;
			reporting_workers->rescan = true;
		}
		if (db->scheduler_pid != 0)
			scheduler = db->scheduler_latch;
	}
	LWLockRelease(reporting_workers->lock);
	if (scheduler)
		SetLatch(scheduler);
	if (wake_launcher_at_commit)
		reporting_wake_launcher();
}

/* Transaction events (dispatched by init.c). */
void
reporting_workers_xact_event(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if ((wake_scheduler_at_commit || wake_launcher_at_commit) &&
				reporting_workers != NULL)
				wake_after_commit();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* a refresh interrupted by an error is no longer running */
			reporting_running_end();
			break;
		default:
			return;
	}
	wake_scheduler_at_commit = false;
	wake_launcher_at_commit = false;
}

/* The pid of the scheduler running in dboid, or 0. */
pid_t
reporting_scheduler_pid(Oid dboid)
{
	ReportingDatabase *db;
	pid_t		pid = 0;

	if (reporting_workers == NULL)
		return 0;
	LWLockAcquire(reporting_workers->lock, LW_SHARED);
	db = reporting_find_database(dboid, false);
	if (db != NULL)
		pid = db->scheduler_pid;
	LWLockRelease(reporting_workers->lock);
	return pid;
}
