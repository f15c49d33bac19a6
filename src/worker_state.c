/*-------------------------------------------------------------------------
 *
 * worker_state.c
 *		Shared state of the launcher, the per-database schedulers and the
 *		refresh workers: who runs where, the refresh slots, and the wake-ups
 *		sent when registrations or the extension change.
 *
 * Refresh slots
 * -------------
 * A refresh handed to a worker lives in a slot: the requester (a scheduler,
 * or a backend running refresh_all) claims it, starts a dynamic worker with
 * the slot's number, and waits; the worker attaches (SLOT_RUNNING), does the
 * refresh, writes the result and marks the slot SLOT_DONE on its way out; the
 * requester reads the result and frees the slot.  A requester that goes away
 * abandons its slots (requester = 0): the worker then frees the slot itself.
 * At most reporting.max_workers slots are in use at once, server-wide.
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

/* slots: one per possible background worker, bounded by max_workers at claim */
static int
slot_count(void)
{
	return Max(max_worker_processes, 1);
}

static Size
workers_shmem_size(void)
{
	return add_size(offsetof(ReportingWorkerShared, slots),
					mul_size(slot_count(), sizeof(ReportingWorkerSlot)));
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
		reporting_workers->nslots = slot_count();
	}
	reporting_running_shmem_init();
}

/* True when refreshes can be handed to workers at all. */
bool
reporting_workers_available(void)
{
	return reporting_workers != NULL;
}

/*
 * Claim a slot for a refresh of relid in the current database.  Returns the
 * slot's number, or -1 with *why_not set: reporting.max_workers refreshes
 * are running already, or this view is being refreshed by a worker.
 */
int
reporting_claim_slot(Oid relid, Oid owner, bool can_login, const char *origin,
					 const char **why_not)
{
	ReportingWorkerShared *ws = reporting_workers;
	int			free_slot = -1;
	int			busy = 0;
	/* a scheduled run is started by nobody in particular: say whose it is */
	const char *started_by = GetUserNameFromId(strcmp(origin, "schedule") == 0 ?
											   owner : GetUserId(), false);

	LWLockAcquire(ws->lock, LW_EXCLUSIVE);
	for (int i = 0; i < ws->nslots; i++)
	{
		ReportingWorkerSlot *slot = &ws->slots[i];

		if (slot->state == SLOT_FREE)
		{
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (slot->state != SLOT_DONE)
			busy++;
		if (slot->state != SLOT_DONE && slot->dboid == MyDatabaseId && slot->view == relid)
		{
			LWLockRelease(ws->lock);
			*why_not = "a refresh worker is refreshing this view already";
			return -1;
		}
	}
	if (free_slot < 0 || busy >= reporting_max_workers)
	{
		LWLockRelease(ws->lock);
		*why_not = "reporting.max_workers refreshes are running already";
		return -1;
	}
	{
		ReportingWorkerSlot *slot = &ws->slots[free_slot];
		uint32		serial = slot->serial + 1;

		memset(slot, 0, sizeof(*slot));
		slot->serial = serial;
		slot->state = SLOT_CLAIMED;
		slot->dboid = MyDatabaseId;
		slot->view = relid;
		slot->owner = owner;
		/* the scheduler asks on nobody's behalf (security.c) */
		slot->requested_by = strcmp(origin, "schedule") == 0 ? InvalidOid : GetUserId();
		slot->owner_can_login = can_login;
		strlcpy(slot->origin, origin, sizeof(slot->origin));
		strlcpy(slot->started_by, started_by, sizeof(slot->started_by));
		slot->requester = MyProcPid;
		slot->claimed_at = GetCurrentTimestamp();
	}
	LWLockRelease(ws->lock);
	return free_slot;
}

/* The requester has read the result (or the worker never started). */
void
reporting_release_slot(int slotno)
{
	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	reporting_workers->slots[slotno].state = SLOT_FREE;
	reporting_workers->slots[slotno].requester = 0;
	LWLockRelease(reporting_workers->lock);
}

/*
 * The requester will not wait for the result: a finished slot, or one whose
 * worker has not attached yet (it will find the slot gone and exit), is
 * freed now; a running one by its worker when it is done.
 */
void
reporting_abandon_slot(int slotno)
{
	ReportingWorkerSlot *slot = &reporting_workers->slots[slotno];

	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	if (slot->requester == MyProcPid)
	{
		if (slot->state == SLOT_DONE || slot->state == SLOT_CLAIMED)
			slot->state = SLOT_FREE;
		slot->requester = 0;
	}
	LWLockRelease(reporting_workers->lock);
}

/* Is a refresh worker refreshing relid in dboid (claimed or running)? */
bool
reporting_view_has_worker(Oid dboid, Oid relid)
{
	bool		found = false;

	if (reporting_workers == NULL)
		return false;
	LWLockAcquire(reporting_workers->lock, LW_SHARED);
	for (int i = 0; i < reporting_workers->nslots && !found; i++)
	{
		ReportingWorkerSlot *slot = &reporting_workers->slots[i];

		found = (slot->state == SLOT_CLAIMED || slot->state == SLOT_RUNNING) &&
			slot->dboid == dboid && slot->view == relid;
	}
	LWLockRelease(reporting_workers->lock);
	return found;
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
 * Start the dynamic background worker for a claimed slot; it tells this
 * process (bgw_notify_pid) when it starts and stops.  NULL when no worker
 * can be registered (max_worker_processes reached); the slot is then freed.
 */
BackgroundWorkerHandle *
reporting_start_refresh_worker(int slotno)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	ReportingWorkerSlot *slot = &reporting_workers->slots[slotno];

	reporting_describe_worker(&worker, "reporting_refresh_worker_main",
							  "reporting refresh worker", BGW_NEVER_RESTART,
							  Int32GetDatum(slotno));
	memcpy(worker.bgw_extra, &slot->serial, sizeof(uint32));

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		reporting_release_slot(slotno);
		return NULL;
	}
	return handle;
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

/*
 * Signal the refresh workers of a database (SIGTERM: they roll their
 * refresh back, record it as interrupted and exit) and, with
 * scheduler_too, its scheduler.
 */
void
reporting_signal_database_workers(Oid dboid, bool scheduler_too)
{
	pid_t		pids[REPORTING_MAX_DATABASES + 64];
	int			npids = 0;
	ReportingWorkerShared *ws = reporting_workers;

	if (ws == NULL)
		return;
	LWLockAcquire(ws->lock, LW_SHARED);
	for (int i = 0; i < ws->nslots && npids < lengthof(pids); i++)
		if (ws->slots[i].state == SLOT_RUNNING && ws->slots[i].dboid == dboid &&
			ws->slots[i].worker_pid != 0)
			pids[npids++] = ws->slots[i].worker_pid;
	if (scheduler_too)
	{
		ReportingDatabase *db = reporting_find_database(dboid, false);

		if (db != NULL && db->scheduler_pid != 0 && npids < lengthof(pids))
			pids[npids++] = db->scheduler_pid;
	}
	LWLockRelease(ws->lock);
	for (int i = 0; i < npids; i++)
		kill(pids[i], SIGTERM);
}

/* Register the launcher (from _PG_init, while preloading). */
void
reporting_workers_init(void)
{
	if (process_shared_preload_libraries_in_progress)
		reporting_register_launcher();
}
