/*-------------------------------------------------------------------------
 *
 * run_generations.c
 *		A generation per registered view that moves whenever a committed
 *		transaction inserted, updated or deleted one of its rows in
 *		reporting.runs: what the freshness cache (freshness.c) compares to
 *		know that a view's history, and so its last refresh, failures and
 *		next refresh, are what its cached answer was computed from.
 *
 * A row trigger on reporting.runs (the extension's own table, never a
 * user's) notes the view of each row written in a small per-transaction
 * list; commit bumps the views' counters in shared memory, creating
 * entries as needed.  A TRUNCATE of the table, or a commit that finds the
 * table of counters full, bumps the counter every answer depends on.  A
 * transaction that prepares after writing history is published by whoever
 * commits it, who does not know what it wrote: from then on until no
 * prepared transaction is left, the counters are not to be trusted
 * (reporting_run_generations() says so).
 *
 * The shape (noted in the transaction, published at commit, counters read
 * under a shared lock) is tracking.c's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"

#include "run_generations.h"

PG_FUNCTION_INFO_V1(reporting_note_run_change);

/* views whose counters shared memory holds, server-wide */
#define MAX_RUN_GENERATIONS 16384

typedef struct RunKey
{
	Oid			dbid;
	Oid			view;
} RunKey;

typedef struct RunEntry
{
	RunKey		key;
	pg_atomic_uint64 generation;	/* any of its rows changed */
	pg_atomic_uint64 verdict_generation;	/* a "refreshed" row changed */
} RunEntry;

/* a view noted by this transaction */
typedef struct PendingView
{
	Oid			view;
	bool		verdict;		/* a "refreshed" row of it changed */
} PendingView;

typedef struct RunGenerationsShared
{
	LWLock	   *lock;
	pg_atomic_uint64 everything;	/* bumped by TRUNCATE and by a full table */
	int64		prepare_stamp;	/* prepares that wrote history so far */
	bool		prepared;		/* one may be pending */
} RunGenerationsShared;

static RunGenerationsShared *shared = NULL;
static HTAB *run_hash = NULL;

/* this transaction's noted views (TopTransactionContext) */
static PendingView *pending = NULL;
static int	npending = 0;
static int	maxpending = 0;
static bool pending_everything = false;

static Size
shared_size(void)
{
	return add_size(MAXALIGN(sizeof(RunGenerationsShared)),
					hash_estimate_size(MAX_RUN_GENERATIONS, sizeof(RunEntry)));
}

/* Called from the shmem_request hook (init.c). */
void
reporting_run_generations_shmem_request(void)
{
	RequestAddinShmemSpace(shared_size());
	RequestNamedLWLockTranche("reporting run generations", 1);
}

/* Called from the shmem_startup hook, holding AddinShmemInitLock (init.c). */
void
reporting_run_generations_shmem_startup(void)
{
	bool		found;
	HASHCTL		info;

	shared = ShmemInitStruct("reporting run generations", sizeof(RunGenerationsShared), &found);
	if (!found)
	{
		shared->lock = &(GetNamedLWLockTranche("reporting run generations"))->lock;
		pg_atomic_init_u64(&shared->everything, 0);
		shared->prepare_stamp = 0;
		shared->prepared = false;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(RunKey);
	info.entrysize = sizeof(RunEntry);
	run_hash = ShmemInitHash("reporting run generations hash",
							 MAX_RUN_GENERATIONS, MAX_RUN_GENERATIONS,
							 &info, HASH_ELEM | HASH_BLOBS);
}

static void
note_view(Oid view, bool verdict)
{
	MemoryContext old;

	for (int i = 0; i < npending; i++)
		if (pending[i].view == view)
		{
			pending[i].verdict |= verdict;
			return;
		}
	if (npending == maxpending)
	{
		old = MemoryContextSwitchTo(TopTransactionContext);
		maxpending = maxpending ? maxpending * 2 : 8;
		pending = pending ? repalloc(pending, maxpending * sizeof(PendingView))
			: palloc(maxpending * sizeof(PendingView));
		MemoryContextSwitchTo(old);
	}
	pending[npending].view = view;
	pending[npending].verdict = verdict;
	npending++;
}

/* The column of reporting.runs called name (its number). */
static int
runs_column(TupleDesc desc, const char *name)
{
	int			attno = SPI_fnumber(desc, name);

	if (attno <= 0)
		elog(ERROR, "reporting.runs has no column \"%s\"", name);
	return attno;
}

/* Note the view of a runs row, and whether the row is a successful refresh. */
static void
note_row(HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		view = heap_getattr(tuple, runs_column(desc, "view"), desc, &isnull);
	Datum		status;
	bool		status_null;

	if (isnull)
		return;
	status = heap_getattr(tuple, runs_column(desc, "status"), desc, &status_null);
	note_view(DatumGetObjectId(view),
			  !status_null && strcmp(TextDatumGetCString(status), "refreshed") == 0);
}

/*
 * reporting._note_run_change(): trigger function of reporting.runs, AFTER
 * INSERT OR UPDATE OR DELETE FOR EACH ROW, and AFTER TRUNCATE FOR EACH
 * STATEMENT.  Notes the view of the row (old and new for an update); a
 * truncate notes everything.  Raises nothing but the trigger manager's
 * "not called by trigger manager" (39P01 class) when misused.
 */
Datum
reporting_note_run_change(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	desc;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("reporting._note_run_change() must be called as a trigger")));
	if (shared == NULL)
		return PointerGetDatum(NULL);
	if (TRIGGER_FIRED_BY_TRUNCATE(trigdata->tg_event))
	{
		pending_everything = true;
		return PointerGetDatum(NULL);
	}
	desc = RelationGetDescr(trigdata->tg_relation);
	if (trigdata->tg_trigtuple != NULL)
		note_row(trigdata->tg_trigtuple, desc);
	if (trigdata->tg_newtuple != NULL)
		note_row(trigdata->tg_newtuple, desc);
	return PointerGetDatum(NULL);
}

/* Commit: bump the noted views' counters.  Must not fail. */
static void
publish(void)
{
	bool		missing = false;

	LWLockAcquire(shared->lock, LW_SHARED);
	for (int i = 0; i < npending; i++)
	{
		RunKey		key = {MyDatabaseId, pending[i].view};
		RunEntry   *entry = hash_search(run_hash, &key, HASH_FIND, NULL);

		if (entry == NULL)
		{
			missing = true;
			continue;
		}
		pg_atomic_fetch_add_u64(&entry->generation, 1);
		if (pending[i].verdict)
			pg_atomic_fetch_add_u64(&entry->verdict_generation, 1);
	}
	LWLockRelease(shared->lock);
	if (!missing)
		return;

	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < npending; i++)
	{
		RunKey		key = {MyDatabaseId, pending[i].view};
		bool		found;
		RunEntry   *entry = hash_search(run_hash, &key, HASH_FIND, &found);

		if (entry != NULL)
			continue;			/* bumped above */
		entry = hash_search(run_hash, &key, HASH_ENTER_NULL, &found);
		if (entry == NULL)
			pending_everything = true;
		else
		{
			pg_atomic_init_u64(&entry->generation, 1);
			pg_atomic_init_u64(&entry->verdict_generation, pending[i].verdict ? 1 : 0);
		}
	}
	LWLockRelease(shared->lock);
}

/* Prepare: from now on the counters cannot be trusted (see file header). */
static void
mark_prepared(void)
{
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	shared->prepare_stamp++;
	shared->prepared = true;
	LWLockRelease(shared->lock);
}

/* Transaction events, dispatched by init.c. */
void
reporting_run_generations_xact_event(XactEvent event)
{
	if (shared == NULL)
		return;
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (npending > 0)
				publish();
			if (pending_everything)
				pg_atomic_fetch_add_u64(&shared->everything, 1);
			break;
		case XACT_EVENT_PREPARE:
			if (npending > 0 || pending_everything)
				mark_prepared();
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			break;
		default:
			return;
	}
	pending = NULL;
	npending = 0;
	maxpending = 0;
	pending_everything = false;
}

/* True when this transaction changed history of view (verdict: a "refreshed" row). */
static bool
written_here(Oid view, bool verdict)
{
	for (int i = 0; i < npending; i++)
		if (pending[i].view == view)
			return !verdict || pending[i].verdict;
	return false;
}

/*
 * reporting_run_generations
 *		Read the history generation of each of n views of the current
 *		database into generations[] and the database-wide one into
 *		*everything; with verdict, the generation that moves only when a
 *		"refreshed" row of the view changed (what a freshness verdict reads
 *		of the history), else the one that moves with any row.  Returns
 *		false, reading nothing, when they cannot be trusted: the library is
 *		not preloaded, a prepared transaction may have written history, or
 *		this transaction has changed such rows of one of the views (they are
 *		not committed) or truncated the history.  *prepare_stamp gets the
 *		stamp to pass to reporting_run_generations_forget_prepared.
 */
bool
reporting_run_generations(int n, const Oid *views, uint64 *generations,
						  uint64 *everything, int64 *prepare_stamp, bool verdict)
{
	*prepare_stamp = -1;
	if (shared == NULL || pending_everything)
		return false;
	for (int i = 0; i < n; i++)
		if (written_here(views[i], verdict))
			return false;
	LWLockAcquire(shared->lock, LW_SHARED);
	*prepare_stamp = shared->prepare_stamp;
	if (shared->prepared)
	{
		LWLockRelease(shared->lock);
		return false;
	}
	for (int i = 0; i < n; i++)
	{
		RunKey		key = {MyDatabaseId, views[i]};
		RunEntry   *entry = hash_search(run_hash, &key, HASH_FIND, NULL);

		generations[i] = entry == NULL ? 0 :
			pg_atomic_read_u64(verdict ? &entry->verdict_generation : &entry->generation);
	}
	*everything = pg_atomic_read_u64(&shared->everything);
	LWLockRelease(shared->lock);
	return true;
}

/*
 * reporting_run_generations_forget_prepared
 *		No prepared transaction is left (the caller checked, after reading
 *		stamp from reporting_run_generations): trust the counters again,
 *		unless another transaction prepared since.  Bumps the database-wide
 *		counter, since what the prepared ones wrote is now visible.
 */
void
reporting_run_generations_forget_prepared(int64 stamp)
{
	if (shared == NULL)
		return;
	LWLockAcquire(shared->lock, LW_EXCLUSIVE);
	if (shared->prepared && shared->prepare_stamp == stamp)
	{
		shared->prepared = false;
		pg_atomic_fetch_add_u64(&shared->everything, 1);
	}
	LWLockRelease(shared->lock);
}
