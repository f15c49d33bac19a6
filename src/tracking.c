/*-------------------------------------------------------------------------
 *
 * tracking.c
 *		Change tracking: knowing, exactly and cheaply, whether a report can
 *		have missed a committed change to one of its sources.
 *
 * A statement-level trigger (reporting.track_change) on every source table
 * notes the table in a per-transaction set; it writes nothing and takes no
 * lock.  When the transaction commits, a transaction callback bumps a
 * change generation per (database, table) in shared memory.  A refresh reads
 * the generations of its sources before it takes its snapshot and records
 * them; the report is fresh while every generation still equals what was
 * recorded.  See "The staleness invariant" in DESIGN.md.
 *
 * Shared state and locking
 * ------------------------
 * TrackerShared and the hash table of TrackerEntry are guarded by one
 * LWLock (tranche "reporting"):
 *	- the set of entries and the "prepared" marks change only under the lock
 *	  held exclusively (a commit that writes a table the tracker has not seen
 *	  yet, a PREPARE, clearing marks);
 *	- an entry's generation and last_change are atomics: a commit bumps them
 *	  holding the lock shared, so committers never wait for each other;
 *	- readers hold the lock shared.
 * The epoch is set once when shared memory is initialised (every postmaster
 * start and every crash restart) and never changes afterwards, so it may be
 * read without the lock.  When the table is full, "overflowed" is set and
 * every table without an entry reads as unknown until the next restart; a
 * table written by a prepared transaction is marked "prepared" (unknown)
 * until no prepared transaction remains in the cluster.
 *
 * The per-transaction set lives in TopTransactionContext.  Each member
 * counts the bumps it owes at commit: one for the writes so far, plus one
 * more for writes made after a refresh in the same transaction recorded the
 * table, so that such writes are never taken as included in that refresh.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "commands/trigger.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "tcop/utility.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "reporting.h"

PG_FUNCTION_INFO_V1(reporting_track_change);

typedef struct TrackerKey
{
	Oid			dbid;
	Oid			relid;
} TrackerKey;

typedef struct TrackerEntry
{
	TrackerKey	key;
	pg_atomic_uint64 generation;	/* committed changes since the epoch began */
	pg_atomic_uint64 last_change;	/* commit time (TimestampTz) of the latest */
	bool		prepared;		/* written by a prepared transaction */
	int64		prepared_stamp; /* prepare_stamp when it was marked */
} TrackerEntry;

typedef struct TrackerShared
{
	LWLock	   *lock;
	int64		epoch;			/* changes at every shared memory init */
	bool		overflowed;		/* a change found the table full */
	int			nprepared;		/* entries with prepared set */
	int64		prepare_stamp;	/* prepared transactions published so far */
} TrackerShared;

/* one table written by the current transaction */
typedef struct PendingTable
{
	Oid			relid;
	int			bumps;			/* generations to add at commit */
	bool		recorded;		/* a refresh in this transaction read it */
	bool		published;		/* bumped already, during commit */
} PendingTable;

/* GUC: entries in the shared table */
int			reporting_max_tracked_tables = 10000;

static TrackerShared *tracker = NULL;
static HTAB *tracker_hash = NULL;

static PendingTable *pending = NULL;
static int	npending = 0;
static int	maxpending = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ProcessUtility_hook_type prev_process_utility_hook = NULL;

/* Request the shared memory and the LWLock (postmaster, preload only). */
static void
tracker_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(TrackerShared)));
	RequestAddinShmemSpace(hash_estimate_size(reporting_max_tracked_tables,
											  sizeof(TrackerEntry)));
	RequestNamedLWLockTranche("reporting", 1);
}

/* Create or attach to the shared state; a new epoch when it is created. */
static void
tracker_shmem_startup(void)
{
	HASHCTL		info;
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	tracker = ShmemInitStruct("reporting tracker", sizeof(TrackerShared), &found);
	if (!found)
	{
		tracker->lock = &(GetNamedLWLockTranche("reporting"))->lock;
		tracker->epoch = (int64) GetCurrentTimestamp();
		tracker->overflowed = false;
		tracker->nprepared = 0;
		tracker->prepare_stamp = 0;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(TrackerKey);
	info.entrysize = sizeof(TrackerEntry);
	tracker_hash = ShmemInitHash("reporting tracker generations",
								 reporting_max_tracked_tables,
								 reporting_max_tracked_tables,
								 &info, HASH_ELEM | HASH_BLOBS);
	LWLockRelease(AddinShmemInitLock);
}

/* True when this backend can track changes (the library was preloaded). */
bool
reporting_tracking_active(void)
{
	return tracker != NULL;
}

/* The current epoch, or 0 when tracking is off. */
int64
reporting_tracking_epoch(void)
{
	return tracker ? tracker->epoch : 0;
}

/*
 * Note that the current transaction changed relid.  Called by the trigger on
 * every write statement, so it only appends to a small array.
 */
void
reporting_note_change(Oid relid)
{
	MemoryContext old;

	if (tracker == NULL)
		return;
	for (int i = 0; i < npending; i++)
	{
		if (pending[i].relid == relid)
		{
			if (pending[i].recorded)
			{
				pending[i].bumps++;
				pending[i].recorded = false;
			}
			return;
		}
	}
	old = MemoryContextSwitchTo(TopTransactionContext);
	if (npending == maxpending)
	{
		maxpending = maxpending ? maxpending * 2 : 8;
		pending = pending ? repalloc(pending, maxpending * sizeof(PendingTable))
			: palloc(maxpending * sizeof(PendingTable));
	}
	MemoryContextSwitchTo(old);
	pending[npending].relid = relid;
	pending[npending].bumps = 1;
	pending[npending].recorded = false;
	pending[npending].published = false;
	npending++;
}

/* Move an entry's last_change forward to now (never back). */
static void
entry_touch(TrackerEntry *entry, TimestampTz now)
{
	uint64		seen = pg_atomic_read_u64(&entry->last_change);

	while ((TimestampTz) seen < now &&
		   !pg_atomic_compare_exchange_u64(&entry->last_change, &seen, (uint64) now))
		;
}

/*
 * Bump the entries that exist, holding the lock shared: the common case,
 * where committers do not wait for one another.  Returns true when some
 * table still needs an entry.
 */
static bool
publish_existing(TimestampTz now)
{
	bool		missing = false;

	LWLockAcquire(tracker->lock, LW_SHARED);
	for (int i = 0; i < npending; i++)
	{
		TrackerKey	key = {MyDatabaseId, pending[i].relid};
		TrackerEntry *entry = hash_search(tracker_hash, &key, HASH_FIND, NULL);

		if (entry == NULL)
		{
			missing = true;
			continue;
		}
		pg_atomic_fetch_add_u64(&entry->generation, pending[i].bumps);
		entry_touch(entry, now);
		pending[i].published = true;
	}
	LWLockRelease(tracker->lock);
	return missing;
}

/*
 * Create the missing entries and bump them, and mark the tables of a
 * prepared transaction, holding the lock exclusively.  A full table only
 * sets the overflow flag.
 */
static void
publish_exclusive(TimestampTz now, bool prepared)
{
	LWLockAcquire(tracker->lock, LW_EXCLUSIVE);
	if (prepared)
		tracker->prepare_stamp++;
	for (int i = 0; i < npending; i++)
	{
		TrackerKey	key = {MyDatabaseId, pending[i].relid};
		TrackerEntry *entry;
		bool		found;

		entry = (hash_get_num_entries(tracker_hash) < reporting_max_tracked_tables)
			? hash_search(tracker_hash, &key, HASH_ENTER_NULL, &found)
			: hash_search(tracker_hash, &key, HASH_FIND, &found);
		if (entry == NULL)
		{
			tracker->overflowed = true;
			continue;
		}
		if (!found)
		{
			pg_atomic_init_u64(&entry->generation, 0);
			pg_atomic_init_u64(&entry->last_change, 0);
			entry->prepared = false;
		}
		if (!pending[i].published)
		{
			pg_atomic_fetch_add_u64(&entry->generation, pending[i].bumps);
			entry_touch(entry, now);
		}
		if (prepared)
		{
			if (!entry->prepared)
				tracker->nprepared++;
			entry->prepared = true;
			entry->prepared_stamp = tracker->prepare_stamp;
		}
	}
	LWLockRelease(tracker->lock);
}

/*
 * Publish the transaction's changes.  Runs after the commit is visible to
 * other transactions and must not fail: no allocation, no error.
 */
static void
tracker_publish(bool prepared)
{
	TimestampTz now = GetCurrentTimestamp();

	if (prepared || publish_existing(now))
		publish_exclusive(now, prepared);
}

/* Transaction callback: publish on commit or prepare, forget otherwise. */
static void
tracker_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (npending > 0 && tracker != NULL)
				tracker_publish(false);
			break;
		case XACT_EVENT_PREPARE:
			if (npending > 0 && tracker != NULL)
				tracker_publish(true);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			break;
		default:
			return;				/* pre-commit events: keep the set */
	}
	/* TopTransactionContext is going away with the set in it */
	pending = NULL;
	npending = 0;
	maxpending = 0;
}

/*
 * Read the generation of each table in relids (all in the current
 * database), before the caller takes the snapshot of a refresh.  Tables
 * the current transaction has written count with the bumps they will get at
 * its commit, and are marked recorded so that later writes in the same
 * transaction owe one more.  Unknown generations come back as -1 with
 * *reason set.
 */
void
reporting_read_generations(int n, const Oid *relids, int64 *generations,
						   TimestampTz *last_changes, const char **reasons,
						   bool for_refresh)
{
	for (int i = 0; i < n; i++)
	{
		generations[i] = -1;
		last_changes[i] = 0;
		reasons[i] = tracker == NULL ?
			"change tracking is off: reporting is not in shared_preload_libraries" : NULL;
	}
	if (tracker == NULL)
		return;

	LWLockAcquire(tracker->lock, LW_SHARED);
	for (int i = 0; i < n; i++)
	{
		TrackerKey	key = {MyDatabaseId, relids[i]};
		TrackerEntry *entry = hash_search(tracker_hash, &key, HASH_FIND, NULL);

		if (entry == NULL && tracker->overflowed)
			reasons[i] = "the change tracker's table is full (raise reporting.max_tracked_tables)";
		else if (entry != NULL && entry->prepared)
			reasons[i] = "a prepared transaction changed it";
		else
		{
			generations[i] = entry ? (int64) pg_atomic_read_u64(&entry->generation) : 0;
			last_changes[i] = entry ? (TimestampTz) pg_atomic_read_u64(&entry->last_change) : 0;
		}
	}
	LWLockRelease(tracker->lock);

	for (int i = 0; i < n; i++)
	{
		for (int j = 0; j < npending; j++)
		{
			if (pending[j].relid != relids[i])
				continue;
			if (generations[i] >= 0)
				generations[i] += pending[j].bumps;
			if (for_refresh)
				pending[j].recorded = true;
		}
	}
}

/*
 * The number of prepared transactions published so far.  Read it before
 * checking that no prepared transaction is left, then pass it to
 * reporting_clear_prepared_marks: marks made by transactions prepared after
 * the read are kept.
 */
int64
reporting_prepare_stamp(void)
{
	int64		stamp;

	if (tracker == NULL)
		return 0;
	LWLockAcquire(tracker->lock, LW_SHARED);
	stamp = tracker->nprepared > 0 ? tracker->prepare_stamp : -1;
	LWLockRelease(tracker->lock);
	return stamp;
}

/*
 * Forget the "prepared" marks made up to stamp, once the caller has seen
 * that no prepared transaction is left: those that committed have made
 * their changes visible by now, so the marked tables count as changed (their
 * generation moves) and are known again.
 */
void
reporting_clear_prepared_marks(int64 stamp)
{
	HASH_SEQ_STATUS scan;
	TrackerEntry *entry;
	TimestampTz now = GetCurrentTimestamp();

	if (tracker == NULL)
		return;
	LWLockAcquire(tracker->lock, LW_EXCLUSIVE);
	hash_seq_init(&scan, tracker_hash);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		if (entry->prepared && entry->prepared_stamp <= stamp)
		{
			entry->prepared = false;
			pg_atomic_fetch_add_u64(&entry->generation, 1);
			entry_touch(entry, now);
			tracker->nprepared--;
		}
	}
	LWLockRelease(tracker->lock);
}

/*
 * Changes that fire no trigger: a REFRESH of a materialized view (the
 * "change" of a report that others are built on) and attaching or detaching
 * a partition.  Noted once the command has succeeded.
 */
static void
tracker_process_utility(PlannedStmt *pstmt, const char *queryString,
						bool readOnlyTree, ProcessUtilityContext context,
						ParamListInfo params, QueryEnvironment *queryEnv,
						DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;

	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context,
								  params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);

	if (tracker == NULL)
		return;
	if (IsA(parsetree, RefreshMatViewStmt))
	{
		RefreshMatViewStmt *stmt = (RefreshMatViewStmt *) parsetree;

		reporting_note_change(RangeVarGetRelid(stmt->relation, NoLock, true));
	}
	else if (IsA(parsetree, AlterTableStmt))
	{
		AlterTableStmt *stmt = (AlterTableStmt *) parsetree;
		ListCell   *lc;

		foreach(lc, stmt->cmds)
		{
			AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

			if (cmd->subtype == AT_AttachPartition ||
				cmd->subtype == AT_DetachPartition ||
				cmd->subtype == AT_DetachPartitionFinalize)
				reporting_note_change(RangeVarGetRelid(stmt->relation, NoLock, true));
		}
	}
}

/*
 * reporting.track_change(): the statement-level trigger on source tables,
 * and the row-level one (enabled REPLICA) on tables that receive logical
 * replication, whose apply worker fires row triggers only.  Both are AFTER
 * triggers, whose result is ignored.  Without the preloaded library it does
 * nothing, so that a write never fails because of tracking.
 */
Datum
reporting_track_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("reporting.track_change() must be called as a trigger")));
	reporting_note_change(RelationGetRelid(trigdata->tg_relation));
	return PointerGetDatum(NULL);
}

/*
 * Install the hooks.  Shared memory only exists when the library is
 * preloaded; the transaction callback is harmless either way.
 */
void
reporting_tracking_init(void)
{
	/* a PGC_POSTMASTER setting can only be defined while preloading */
	if (process_shared_preload_libraries_in_progress)
	{
		DefineCustomIntVariable("reporting.max_tracked_tables",
								"Tables whose changes can be tracked, across all databases.",
								"When more tables are written, reports on the others read as unknown until a restart.",
								&reporting_max_tracked_tables,
								10000, 100, INT_MAX / 2,
								PGC_POSTMASTER, 0,
								NULL, NULL, NULL);
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = tracker_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = tracker_shmem_startup;
		prev_process_utility_hook = ProcessUtility_hook;
		ProcessUtility_hook = tracker_process_utility;
	}
	RegisterXactCallback(tracker_xact_callback, NULL);
}
