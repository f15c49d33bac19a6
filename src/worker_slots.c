/*-------------------------------------------------------------------------
 *
 * worker_slots.c
 *		The refresh-worker slots: the only file that reads or writes them.
 *
 * A refresh handed to a refresh worker lives in a slot.  A requester (a
 * scheduler, or a backend running refresh_all()) claims a free slot, starts
 * a dynamic worker with the slot's number and serial, and waits; the worker
 * attaches (SLOT_RUNNING), refreshes, publishes its result and, on its way
 * out, marks the slot SLOT_DONE; the requester reads the result and frees
 * the slot.  At most reporting.max_workers slots are claimed or running at
 * once, server-wide.
 *
 * Serials.  Every claim gives the slot a new serial (a server-wide counter,
 * never 0).  Every transition checks it: the worker was started with the
 * serial of its claim and can neither attach to, publish into nor free a
 * slot that changed hands since; a requester remembers the serial of each
 * slot it holds (held[], backend-local) and can only release those.
 *
 * Requesters that go away.  A slot is given back however its requester
 * ends: on ERROR by the requester's own cleanup (refresh_all() uses
 * PG_ENSURE_ERROR_CLEANUP, as contrib/pg_prewarm/autoprewarm.c does), on
 * FATAL and pg_terminate_backend() by a before_shmem_exit callback that
 * every requester registers once, and in any case (a requester killed
 * outright) by the next claim, which reclaims every slot whose requester or
 * worker process no longer exists.  A claimed or finished slot whose
 * requester is gone is freed; a running one is left to its worker, which
 * frees it when it exits.
 *
 * Locking: one LWLock (tranche "reporting worker slots") guards the whole
 * table.  Nothing that can raise an error runs while it is held, except
 * BackendPidGetProc(), which takes ProcArrayLock after it (never before).
 * Latches are set after releasing it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/procarray.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "reporting.h"
#include "worker_slots.h"

PG_FUNCTION_INFO_V1(reporting_worker_slots);

typedef struct SlotEntry
{
	ReportingSlotState state;
	uint32		serial;			/* of the current (or last) claim */
	pid_t		requester;		/* who waits for the result; 0 when nobody */
	pid_t		worker_pid;		/* 0 until the worker attaches */
	bool		published;		/* the worker has written its outcome */
	ReportingSlotTask task;
	ReportingSlotOutcome outcome;
} SlotEntry;

typedef struct SlotTable
{
	LWLock	   *lock;
	uint32		last_serial;
	int			nslots;
	SlotEntry	slots[FLEXIBLE_ARRAY_MEMBER];
} SlotTable;

static SlotTable *slots_table = NULL;

/* requester side: the serial of each slot this process holds (0: none) */
static uint32 *slots_held = NULL;

/* requester side: "could not start a refresh worker", at most once a minute */
#define SLOTS_LOG_INTERVAL_MS (60 * 1000)
static TimestampTz slots_last_logged = 0;
static int	slots_unlogged = 0;

/* worker side: the slot this refresh worker attached to */
static int	slots_my_slotno = -1;
static uint32 slots_my_serial = 0;

static const char *const slots_state_names[] = {"free", "claimed", "running", "done"};

/* one slot per possible background worker; max_workers bounds claims */
static int
slots_size(void)
{
	return Max(max_worker_processes, 1);
}

static Size
slots_shmem_size(void)
{
	return add_size(offsetof(SlotTable, slots),
					mul_size(slots_size(), sizeof(SlotEntry)));
}

/* Request the slots' shared memory and LWLock (preload only; from init.c). */
void
reporting_slots_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(slots_shmem_size()));
	RequestNamedLWLockTranche("reporting worker slots", 1);
}

/* Create or attach to the slot table (from init.c, AddinShmemInitLock held). */
void
reporting_slots_shmem_startup(void)
{
	bool		found;

	slots_table = ShmemInitStruct("reporting worker slots", slots_shmem_size(), &found);
	if (!found)
	{
		memset(slots_table, 0, slots_shmem_size());
		slots_table->lock = &(GetNamedLWLockTranche("reporting worker slots"))->lock;
		slots_table->nslots = slots_size();
	}
}

/* True when refreshes can be handed to workers at all (library preloaded). */
bool
reporting_slots_available(void)
{
	return slots_table != NULL;
}

/* Number of slots (max_worker_processes); 0 without the preloaded library. */
int
reporting_slot_count(void)
{
	return slots_table != NULL ? slots_table->nslots : 0;
}

/* Is this process still there?  Takes ProcArrayLock (shared). */
static bool
slots_process_alive(pid_t pid)
{
	return pid != 0 && BackendPidGetProc(pid) != NULL;
}

/*
 * Give back the slots whose requester or worker is gone.  Caller holds the
 * lock exclusively.  A requester that died without its exit callbacks
 * (FATAL inside one, or a bug) would otherwise keep its slots until restart.
 */
static void
slots_reclaim_orphans(void)
{
	for (int i = 0; i < slots_table->nslots; i++)
	{
		SlotEntry  *slot = &slots_table->slots[i];

		if (slot->state == SLOT_FREE)
			continue;
		if (slot->state == SLOT_RUNNING && !slots_process_alive(slot->worker_pid))
		{
			/* the worker vanished without its exit callback */
			slot->worker_pid = 0;
			slot->state = SLOT_DONE;
			if (!slot->published)
			{
				strlcpy(slot->outcome.status, "interrupted", sizeof(slot->outcome.status));
				strlcpy(slot->outcome.error, "the refresh worker exited before it finished",
						sizeof(slot->outcome.error));
			}
		}
		if (slot->requester != 0 && !slots_process_alive(slot->requester))
			slot->requester = 0;
		if (slot->requester == 0 && slot->state != SLOT_RUNNING)
			slot->state = SLOT_FREE;
	}
}

/*
 * Release one slot this process holds, if it still holds it (same serial,
 * same requester).  Caller holds the lock exclusively.  A running slot is
 * left to its worker, which frees it when it exits.
 */
static void
slots_release_locked(int slotno)
{
	SlotEntry  *slot = &slots_table->slots[slotno];

	if (slots_held == NULL)
		return;
	if (slots_held[slotno] != 0 && slot->serial == slots_held[slotno] &&
		slot->requester == MyProcPid)
	{
		slot->requester = 0;
		if (slot->state != SLOT_RUNNING)
			slot->state = SLOT_FREE;
	}
	slots_held[slotno] = 0;
}

/*
 * before_shmem_exit callback of every requester: FATAL, pg_terminate_backend()
 * and normal exits give back every slot this process still holds.
 */
static void
slots_requester_exit(int code, Datum arg)
{
	if (slots_table == NULL || slots_held == NULL)
		return;
	LWLockAcquire(slots_table->lock, LW_EXCLUSIVE);
	for (int i = 0; i < slots_table->nslots; i++)
		if (slots_held[i] != 0)
			slots_release_locked(i);
	LWLockRelease(slots_table->lock);
}

/*
 * Make this process a requester: from now on its exit gives back its slots.
 * Idempotent.  Call it before PG_ENSURE_ERROR_CLEANUP blocks that claim
 * slots (their own callback must be the most recent one registered).
 */
void
reporting_slots_become_requester(void)
{
	if (slots_held != NULL || slots_table == NULL)
		return;
	slots_held = MemoryContextAllocZero(TopMemoryContext,
										sizeof(uint32) * slots_table->nslots);
	before_shmem_exit(slots_requester_exit, (Datum) 0);
}

/*
 * Claim a slot for a refresh of relid in the current database, to run as
 * owner (origin: "schedule" or "refresh_all").  Returns the slot's number,
 * or -1 with *why_not set: reporting.max_workers refreshes are running
 * already, or a worker is refreshing this view already.  Slots of vanished
 * requesters and workers are reclaimed first.  Errors: only those of
 * GetUserNameFromId (a dropped role), before anything is claimed.
 */
int
reporting_claim_slot(Oid relid, Oid owner, const char *origin, const char **why_not)
{
	bool		scheduled = strcmp(origin, "schedule") == 0;
	/* a scheduled run is started by nobody in particular: say whose it is */
	const char *started_by = GetUserNameFromId(scheduled ? owner : GetUserId(), false);
	int			free_slot = -1;
	int			busy = 0;
	SlotEntry  *slot;

	reporting_slots_become_requester();
	LWLockAcquire(slots_table->lock, LW_EXCLUSIVE);
	slots_reclaim_orphans();
	for (int i = 0; i < slots_table->nslots; i++)
	{
		slot = &slots_table->slots[i];
		if (slot->state == SLOT_FREE)
		{
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (slot->state == SLOT_DONE)
			continue;
		busy++;
		if (slot->task.dboid == MyDatabaseId && slot->task.view == relid)
		{
			LWLockRelease(slots_table->lock);
			*why_not = "a refresh worker is refreshing this view already";
			return -1;
		}
	}
	if (free_slot < 0 || busy >= reporting_max_workers)
	{
		LWLockRelease(slots_table->lock);
		*why_not = "reporting.max_workers refreshes are running already";
		return -1;
	}
	slot = &slots_table->slots[free_slot];
	memset(slot, 0, sizeof(*slot));
	if (++slots_table->last_serial == 0)
		slots_table->last_serial = 1;
	slot->serial = slots_table->last_serial;
	slot->state = SLOT_CLAIMED;
	slot->requester = MyProcPid;
	slot->task.dboid = MyDatabaseId;
	slot->task.view = relid;
	slot->task.owner = owner;
	/* the scheduler asks on nobody's behalf (security.c) */
	slot->task.requested_by = scheduled ? InvalidOid : GetUserId();
	strlcpy(slot->task.origin, origin, sizeof(slot->task.origin));
	strlcpy(slot->task.started_by, started_by, sizeof(slot->task.started_by));
	slot->outcome.claimed_at = GetCurrentTimestamp();
	slots_held[free_slot] = slot->serial;
	LWLockRelease(slots_table->lock);
	return free_slot;
}

/*
 * Say that no refresh worker could be started: at most once a minute per
 * process, with the count of the attempts not said (a scheduler retries
 * every due view every second).
 */
static void
slots_log_no_worker(void)
{
	TimestampTz now = GetCurrentTimestamp();

	if (slots_last_logged != 0 &&
		!TimestampDifferenceExceeds(slots_last_logged, now, SLOTS_LOG_INTERVAL_MS))
	{
		slots_unlogged++;
		return;
	}
	if (slots_unlogged > 0)
		ereport(LOG,
				(errmsg("reporting: could not start a refresh worker"),
				 errdetail("No background worker slot is free; %d other attempts failed in the last minute.",
						   slots_unlogged),
				 errhint("Raise max_worker_processes (the launcher, one scheduler per database and reporting.max_workers refresh workers need one each).")));
	else
		ereport(LOG,
				(errmsg("reporting: could not start a refresh worker"),
				 errdetail("No background worker slot is free."),
				 errhint("Raise max_worker_processes (the launcher, one scheduler per database and reporting.max_workers refresh workers need one each).")));
	slots_last_logged = now;
	slots_unlogged = 0;
}

/*
 * Start the dynamic background worker for a slot this process claimed; it
 * tells this process (bgw_notify_pid) when it starts and stops.  The worker
 * gets the slot's number as its argument and the claim's serial in
 * bgw_extra.  NULL when no worker can be registered (max_worker_processes
 * reached; logged, at most once a minute); the slot is then released.
 */
BackgroundWorkerHandle *
reporting_start_refresh_worker(int slotno)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	uint32		serial = slots_held[slotno];

	reporting_describe_worker(&worker, "reporting_refresh_worker_main",
							  "reporting refresh worker", BGW_NEVER_RESTART,
							  Int32GetDatum(slotno));
	memcpy(worker.bgw_extra, &serial, sizeof(uint32));
	if (serial == 0 || !RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		reporting_release_slot(slotno);
		if (serial != 0)
			slots_log_no_worker();
		return NULL;
	}
	return handle;
}

/*
 * The state of a slot this process holds; with SLOT_DONE, *outcome is the
 * worker's result.  outcome->claimed_at and run_id are filled in any state.
 * SLOT_FREE means the slot is no longer ours (released or reclaimed).
 */
ReportingSlotState
reporting_slot_poll(int slotno, ReportingSlotOutcome *outcome)
{
	SlotEntry  *slot = &slots_table->slots[slotno];
	ReportingSlotState state = SLOT_FREE;

	memset(outcome, 0, sizeof(*outcome));
	if (slots_held == NULL)
		return SLOT_FREE;
	LWLockAcquire(slots_table->lock, LW_SHARED);
	if (slots_held[slotno] != 0 && slot->serial == slots_held[slotno] &&
		slot->requester == MyProcPid)
	{
		state = slot->state;
		if (state == SLOT_DONE)
			*outcome = slot->outcome;
		outcome->claimed_at = slot->outcome.claimed_at;
		outcome->run_id = slot->outcome.run_id;
	}
	LWLockRelease(slots_table->lock);
	return state;
}

/*
 * Give back a slot this process holds: done with its result, its worker
 * never started, or no longer waited for.  A slot that changed hands is left
 * alone; a running one is freed by its worker when it exits.
 */
void
reporting_release_slot(int slotno)
{
	LWLockAcquire(slots_table->lock, LW_EXCLUSIVE);
	slots_release_locked(slotno);
	LWLockRelease(slots_table->lock);
}

/* Is a refresh worker refreshing relid in dboid (claimed or running)? */
bool
reporting_view_has_worker(Oid dboid, Oid relid)
{
	bool		found = false;

	if (slots_table == NULL)
		return false;
	LWLockAcquire(slots_table->lock, LW_SHARED);
	for (int i = 0; i < slots_table->nslots && !found; i++)
	{
		SlotEntry  *slot = &slots_table->slots[i];

		found = (slot->state == SLOT_CLAIMED || slot->state == SLOT_RUNNING) &&
			slot->task.dboid == dboid && slot->task.view == relid;
	}
	LWLockRelease(slots_table->lock);
	return found;
}

/*
 * The slots of dboid with a refresh worker: claimed or running (views), or
 * running with a worker attached (pids).  At most max; returns how many.
 */
static int
slots_scan(Oid dboid, Oid *views, pid_t *pids, int max)
{
	int			n = 0;

	if (slots_table == NULL)
		return 0;
	LWLockAcquire(slots_table->lock, LW_SHARED);
	for (int i = 0; i < slots_table->nslots && n < max; i++)
	{
		SlotEntry  *slot = &slots_table->slots[i];

		if (slot->task.dboid != dboid)
			continue;
		if (views != NULL && (slot->state == SLOT_CLAIMED || slot->state == SLOT_RUNNING))
			views[n++] = slot->task.view;
		else if (pids != NULL && slot->state == SLOT_RUNNING && slot->worker_pid != 0)
			pids[n++] = slot->worker_pid;
	}
	LWLockRelease(slots_table->lock);
	return n;
}

/*
 * The views of dboid that have a refresh worker (claimed or running), at
 * most max of them, into views[]; returns how many.
 */
int
reporting_slot_live_views(Oid dboid, Oid *views, int max)
{
	return slots_scan(dboid, views, NULL, max);
}

/* The pids of the refresh workers running in dboid, at most max; how many. */
int
reporting_slot_worker_pids(Oid dboid, pid_t *pids, int max)
{
	return slots_scan(dboid, NULL, pids, max);
}

/* Is the slot still the claim this worker was started for?  Lock held. */
static bool
slots_mine(SlotEntry *slot)
{
	return slot->serial == slots_my_serial && slot->worker_pid == MyProcPid;
}

/*
 * before_shmem_exit callback of a refresh worker: whatever happened, hand
 * the slot back (to a live requester with the result, else free) and wake
 * the requester.  A slot that changed hands is not touched.
 */
static void
slots_worker_exit(int code, Datum arg)
{
	SlotEntry  *slot = &slots_table->slots[slots_my_slotno];
	pid_t		requester = 0;

	LWLockAcquire(slots_table->lock, LW_EXCLUSIVE);
	if (slots_mine(slot))
	{
		if (!slot->published)
		{
			strlcpy(slot->outcome.status, "interrupted", sizeof(slot->outcome.status));
			strlcpy(slot->outcome.error, "the refresh worker exited before it finished",
					sizeof(slot->outcome.error));
			slot->outcome.finished_at = GetCurrentTimestamp();
		}
		slot->worker_pid = 0;
		if (slot->requester != 0 && slots_process_alive(slot->requester))
		{
			requester = slot->requester;
			slot->state = SLOT_DONE;
		}
		else
		{
			slot->requester = 0;
			slot->state = SLOT_FREE;
		}
	}
	LWLockRelease(slots_table->lock);
	/* the postmaster also notifies the requester; this is quicker */
	if (requester != 0)
	{
		PGPROC	   *proc = BackendPidGetProc(requester);

		if (proc)
			SetLatch(&proc->procLatch);
	}
}

/*
 * A refresh worker takes over the slot it was started for: false when the
 * slot is no longer that claim (its requester gave up, or it changed
 * hands).  On success *task is what to do, and the slot is handed back
 * when this process exits, however it exits.
 */
bool
reporting_slot_attach(int slotno, uint32 serial, ReportingSlotTask *task)
{
	SlotEntry  *slot;
	bool		ok;

	if (slots_table == NULL || slotno < 0 || slotno >= slots_table->nslots)
		return false;
	slot = &slots_table->slots[slotno];
	LWLockAcquire(slots_table->lock, LW_EXCLUSIVE);
	ok = slot->state == SLOT_CLAIMED && slot->serial == serial;
	if (ok)
	{
		slot->state = SLOT_RUNNING;
		slot->worker_pid = MyProcPid;
		*task = slot->task;
	}
	LWLockRelease(slots_table->lock);
	if (ok)
	{
		slots_my_slotno = slotno;
		slots_my_serial = serial;
		before_shmem_exit(slots_worker_exit, (Datum) 0);
	}
	return ok;
}

/* The worker's row in reporting.runs, for a requester that must record a loss. */
void
reporting_slot_set_run(int64 run_id)
{
	SlotEntry  *slot = &slots_table->slots[slots_my_slotno];

	LWLockAcquire(slots_table->lock, LW_EXCLUSIVE);
	if (slots_mine(slot))
		slot->outcome.run_id = run_id;
	LWLockRelease(slots_table->lock);
}

/* The worker's result, for its requester (claimed_at and run_id are kept). */
void
reporting_slot_publish(const ReportingSlotOutcome *outcome)
{
	SlotEntry  *slot = &slots_table->slots[slots_my_slotno];

	LWLockAcquire(slots_table->lock, LW_EXCLUSIVE);
	if (slots_mine(slot))
	{
		TimestampTz claimed_at = slot->outcome.claimed_at;
		int64		run_id = slot->outcome.run_id;

		slot->outcome = *outcome;
		slot->outcome.claimed_at = claimed_at;
		slot->outcome.run_id = run_id;
		slot->published = true;
	}
	LWLockRelease(slots_table->lock);
}

/*
 * reporting.worker_slots() RETURNS TABLE(slot int, state text, serial bigint,
 *		database oid, view oid, origin text, requester_alive bool,
 *		worker_alive bool, claimed_at timestamptz, status text)
 *
 * The slot table, for superusers (42501 otherwise): which refreshes are
 * handed to workers, and whether the processes holding each slot exist.
 * Empty without the preloaded library.
 */
Datum
reporting_worker_slots(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	SlotEntry  *copy;
	int			n;

	if (!superuser())
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("permission denied for function worker_slots"),
				 errdetail("Only superusers may read the refresh-worker slots.")));
	InitMaterializedSRF(fcinfo, 0);
	if (slots_table == NULL)
		return (Datum) 0;
	n = slots_table->nslots;
	copy = palloc(sizeof(SlotEntry) * n);
	LWLockAcquire(slots_table->lock, LW_SHARED);
	memcpy(copy, slots_table->slots, sizeof(SlotEntry) * n);
	LWLockRelease(slots_table->lock);
	for (int i = 0; i < n; i++)
	{
		SlotEntry  *slot = &copy[i];
		Datum		values[10];
		bool		nulls[10];
		bool		used = slot->state != SLOT_FREE;

		memset(nulls, !used, sizeof(nulls));
		nulls[0] = nulls[1] = nulls[2] = false;
		values[0] = Int32GetDatum(i);
		values[1] = CStringGetTextDatum(slots_state_names[slot->state]);
		values[2] = Int64GetDatum((int64) slot->serial);
		values[3] = ObjectIdGetDatum(slot->task.dboid);
		values[4] = ObjectIdGetDatum(slot->task.view);
		values[5] = CStringGetTextDatum(slot->task.origin);
		values[6] = BoolGetDatum(slots_process_alive(slot->requester));
		values[7] = BoolGetDatum(slots_process_alive(slot->worker_pid));
		values[8] = TimestampTzGetDatum(slot->outcome.claimed_at);
		nulls[9] = !used || !slot->published;
		values[9] = nulls[9] ? (Datum) 0 : CStringGetTextDatum(slot->outcome.status);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
