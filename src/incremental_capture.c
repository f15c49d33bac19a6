/*-------------------------------------------------------------------------
 *
 * incremental_capture.c
 *		The capture behind incremental reports: which ranges of a fact
 *		table's time column each committed transaction touched.
 *
 * Writers
 * -------
 * Each incremental report puts two row triggers running reporting._capture
 * on its fact table (ENABLE ALWAYS so that replicas and
 * session_replication_role = replica are seen too; cloned by PostgreSQL
 * onto every partition, present and future), named and keyed by the
 * report's id in reporting.incrementals rather than its table's OID, so
 * that they keep working after pg_dump and pg_restore (which give the
 * table a new OID but restore the id, the triggers and their arguments):
 *	- BEFORE INSERT, named "~reporting_capture_<id>" so that it sorts
 *	  (fires) after every BEFORE INSERT trigger with an ASCII name: it sees
 *	  the row as it will be stored; a refresh that finds a BEFORE INSERT row
 *	  trigger sorting after it recomputes everything.  A BEFORE trigger
 *	  costs an INSERT far less than an AFTER one (no queued event, no
 *	  second fetch of the row): measured by bench/writers_callgrind,
 *	  131,273 instructions per single-row INSERT with AFTER ROW against
 *	  125,559 without capture (4.4 %), 128,874 with BEFORE INSERT (2.6 %);
 *	- AFTER UPDATE OR DELETE, which sees the old row as stored and the new
 *	  one as stored after every BEFORE trigger.
 * Together they see INSERT (the new row), UPDATE (old and new), DELETE (the
 * old row), COPY, rows routed into partitions and both halves of an UPDATE
 * that moves a row between partitions.  Each value goes into a
 * per-transaction set of closed ranges per report, at most
 * CAPTURE_TXN_RANGES - 1, sorted; when the set is full, the two
 * neighbouring ranges closest together are merged: ranges widen, values are
 * never lost (capture_ranges.c, one pass per value, so that COPY and other
 * bulk writes pay the same per row whether the set is full or not).
 *
 * At commit (transaction callback, after the commit is visible, like the
 * generations of tracking.c) the ranges are merged into the report's shared
 * entry, stamped with a new publication number.  A transaction that aborts
 * publishes nothing; a subtransaction that aborts leaves its values in
 * (a needless recompute, never a missed one).  A PREPARE marks the entry
 * "full": its rows become visible when another backend commits it.
 *
 * Refreshes
 * ---------
 * A refresh claims the entry's ranges (and the highest publication number,
 * its watermark) before it takes its snapshot, so any range it does not see
 * belongs to a commit its snapshot may miss, which stays for the next
 * refresh.  Only when the refreshing transaction commits are the ranges
 * stamped at or below the watermark removed; a range widened meanwhile
 * carries a newer stamp and stays.  A report has no entry after a restart,
 * until its first refresh makes one: that refresh, and any refresh that
 * finds the entry marked full, recomputes everything.
 *
 * Shared state and locking
 * ------------------------
 * CaptureShared and the hash of CaptureEntry are guarded by one LWLock
 * (tranche "reporting incremental"), held exclusively to publish, claim,
 * release and create entries: all are short loops over at most
 * CAPTURE_SHARED_RANGES ranges.
 *
 * The idea of dirty time ranges maintained from row changes is the
 * invalidation log of TimescaleDB's continuous aggregates; nothing is
 * borrowed from its code.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"

#include "capture_ranges.h"
#include "incremental.h"

PG_FUNCTION_INFO_V1(reporting_capture);
PG_FUNCTION_INFO_V1(reporting_forget_capture);

/* ranges one transaction keeps per report before it widens them */
#define CAPTURE_TXN_RANGES 8

/*
 * A report's entry is keyed by its database and its id in
 * reporting.incrementals (the id column), not by its table's OID: the id
 * survives pg_dump and pg_restore, and the capture triggers carry it.
 */
typedef struct CaptureKey
{
	Oid			dbid;
	int32		id;
} CaptureKey;

typedef struct CaptureEntry
{
	CaptureKey	key;
	bool		full;			/* recompute everything (a PREPARE) */
	uint64		full_stamp;		/* publication that set full */
	int			n;
	int64		lo[CAPTURE_SHARED_RANGES];
	int64		hi[CAPTURE_SHARED_RANGES];
	uint64		stamp[CAPTURE_SHARED_RANGES];	/* latest publication in it */
} CaptureEntry;

typedef struct CaptureShared
{
	LWLock	   *lock;
	uint64		stamp;			/* publications so far */
} CaptureShared;

/* one report's values written by the current transaction */
typedef struct PendingCapture
{
	int32		id;				/* the report's id */
	int			n;
	int64		lo[CAPTURE_TXN_RANGES];
	int64		hi[CAPTURE_TXN_RANGES];
} PendingCapture;

/*
 * A claim to release when the refreshing transaction commits, or (watermark
 * 0, forget) a report whose entry goes when the transaction that removed it
 * commits.  subid: the subtransaction that asked; if it aborts, so does the
 * release (a refresh rolled back to a savepoint recomputed nothing).
 */
typedef struct PendingRelease
{
	int32		id;				/* the report's id */
	uint64		watermark;
	bool		clear_full;
	bool		forget;
	SubTransactionId subid;
} PendingRelease;

int			reporting_max_incremental_reports = 1000;

static CaptureShared *capture_shared = NULL;
static HTAB *capture_hash = NULL;

/* per transaction, in TopTransactionContext */
static PendingCapture *capture_pending = NULL;
static int	capture_npending = 0;
static int	capture_maxpending = 0;
static PendingRelease *capture_releases = NULL;
static int	capture_nreleases = 0;
static int	capture_maxreleases = 0;

static void make_room(const CaptureKey *key);
static void queue_release(int32 id, uint64 watermark, bool clear_full, bool forget);

/* the id of the report last looked up, in this transaction */
static Oid	capture_id_relid = InvalidOid;
static int32 capture_id_value = 0;

/* the column the last trigger call read, per (trigger, relation) */
static Oid	capture_cached_trigger = InvalidOid;
static Oid	capture_cached_relation = InvalidOid;
static AttrNumber capture_cached_attnum = InvalidAttrNumber;
static Oid	capture_cached_type = InvalidOid;

#define REASON_NO_ENTRY "no change of its fact table was captured since the server started"
#define REASON_TABLE_FULL "the capture's table is full (raise reporting.max_incremental_reports)"
#define REASON_PREPARED "a prepared transaction changed its fact table"
#define REASON_NOT_PRELOADED "changes are captured only when reporting is in shared_preload_libraries"
#define REASON_NOT_RECORDED "it is not recorded in reporting.incrementals"

/* Define reporting.max_incremental_reports (preload only). */
void
reporting_capture_define_gucs(void)
{
	DefineCustomIntVariable("reporting.max_incremental_reports",
							"Incremental reports whose changes can be captured, across all databases.",
							"A report without room is recomputed whole at every refresh.",
							&reporting_max_incremental_reports,
							1000, 10, INT_MAX / 2,
							PGC_POSTMASTER, 0,
							NULL, NULL, NULL);
}

/* Request the shared memory and the LWLock (postmaster, preload only). */
void
reporting_capture_shmem_request(void)
{
	RequestAddinShmemSpace(MAXALIGN(sizeof(CaptureShared)));
	RequestAddinShmemSpace(hash_estimate_size(reporting_max_incremental_reports,
											  sizeof(CaptureEntry)));
	RequestNamedLWLockTranche("reporting incremental", 1);
}

/* Create or attach to the shared state.  Called with AddinShmemInitLock held. */
void
reporting_capture_shmem_startup(void)
{
	HASHCTL		info;
	bool		found;

	capture_shared = ShmemInitStruct("reporting incremental capture",
									 sizeof(CaptureShared), &found);
	if (!found)
	{
		capture_shared->lock = &(GetNamedLWLockTranche("reporting incremental"))->lock;
		capture_shared->stamp = 0;
	}
	memset(&info, 0, sizeof(info));
	info.keysize = sizeof(CaptureKey);
	info.entrysize = sizeof(CaptureEntry);
	capture_hash = ShmemInitHash("reporting incremental ranges",
								 reporting_max_incremental_reports,
								 reporting_max_incremental_reports,
								 &info, HASH_ELEM | HASH_BLOBS);
}

/* The pending set of one report (by id), made on first use. */
static PendingCapture *
pending_for(int32 id)
{
	MemoryContext old;
	PendingCapture *p;

	for (int i = 0; i < capture_npending; i++)
		if (capture_pending[i].id == id)
			return &capture_pending[i];
	if (capture_npending == capture_maxpending)
	{
		old = MemoryContextSwitchTo(TopTransactionContext);
		capture_maxpending = capture_maxpending ? capture_maxpending * 2 : 4;
		capture_pending = capture_pending ?
			repalloc(capture_pending, capture_maxpending * sizeof(PendingCapture)) :
			palloc(capture_maxpending * sizeof(PendingCapture));
		MemoryContextSwitchTo(old);
	}
	p = &capture_pending[capture_npending++];
	p->id = id;
	p->n = 0;
	return p;
}

/* Add one value to a report's pending ranges, widening them when full. */
static void
pending_add(int32 id, int64 value)
{
	PendingCapture *p = pending_for(id);

	p->n = capture_ranges_add(p->lo, p->hi, NULL, p->n, CAPTURE_TXN_RANGES,
							  value, value, 0);
}

/*
 * A time value in capture units: microseconds (UTC for timestamptz, local
 * for timestamp and date); infinities map to the ends of int64.
 */
static int64
capture_value(Datum d, Oid type)
{
	DateADT		date;

	if (type != DATEOID)
		return DatumGetInt64(d);
	date = DatumGetDateADT(d);
	if (DATE_IS_NOBEGIN(date))
		return PG_INT64_MIN;
	if (DATE_IS_NOEND(date))
		return PG_INT64_MAX;
	return (int64) date * USECS_PER_DAY;
}

/* The time column's number and type in rel, by the name the trigger gives. */
static void
capture_column(TriggerData *trigdata, AttrNumber *attnum, Oid *type)
{
	Relation	rel = trigdata->tg_relation;
	TupleDesc	desc = RelationGetDescr(rel);
	const char *name = trigdata->tg_trigger->tgargs[1];

	if (capture_cached_trigger == trigdata->tg_trigger->tgoid &&
		capture_cached_relation == RelationGetRelid(rel))
	{
		*attnum = capture_cached_attnum;
		*type = capture_cached_type;
		return;
	}
	*attnum = InvalidAttrNumber;
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
		{
			*attnum = att->attnum;
			*type = att->atttypid;
			break;
		}
	}
	if (*attnum == InvalidAttrNumber)
		*type = InvalidOid;
	capture_cached_trigger = trigdata->tg_trigger->tgoid;
	capture_cached_relation = RelationGetRelid(rel);
	capture_cached_attnum = *attnum;
	capture_cached_type = *type;
}

/* Note the time value of one stored row (a slot), unless it is NULL. */
static void
capture_slot(int32 id, TupleTableSlot *slot, AttrNumber attnum, Oid type)
{
	bool		isnull;
	Datum		d = slot_getattr(slot, attnum, &isnull);

	if (!isnull)
		pending_add(id, capture_value(d, type));
}

/*
 * reporting._capture() RETURNS trigger
 *
 * BEFORE INSERT, and AFTER UPDATE OR DELETE, ... FOR EACH ROW on a fact
 * table, with two arguments: the id of the incremental report (the id column
 * of reporting.incrementals, which survives a dump and restore), and the name
 * of the time column.  Notes the old and new values of the column for the commit
 * to publish.  Never raises for a write: a column it cannot find (dropped,
 * renamed) is the refresh's business (it recomputes everything).  Raises
 * 39P01 when not called as such a trigger.
 */
Datum
reporting_capture(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TriggerEvent event;
	AttrNumber	attnum;
	Oid			type;
	int32		id;
	Datum		result;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		trigdata->tg_trigger->tgnargs != 2 ||
		(TRIGGER_FIRED_BEFORE(trigdata->tg_event) &&
		 !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("reporting._capture() must be called as a BEFORE INSERT or AFTER ROW trigger with two arguments")));
	/* a BEFORE trigger returns the row unchanged; an AFTER one, anything */
	result = PointerGetDatum(trigdata->tg_trigtuple);
	if (capture_shared == NULL)
		return result;			/* not preloaded: refreshes are full */
	event = trigdata->tg_event;
	id = (int32) strtol(trigdata->tg_trigger->tgargs[0], NULL, 10);
	capture_column(trigdata, &attnum, &type);
	if (attnum == InvalidAttrNumber ||
		(type != TIMESTAMPTZOID && type != TIMESTAMPOID && type != DATEOID))
		return result;
	if (TRIGGER_FIRED_BY_INSERT(event))
		capture_slot(id, trigdata->tg_trigslot, attnum, type);
	else if (TRIGGER_FIRED_BY_DELETE(event))
		capture_slot(id, trigdata->tg_trigslot, attnum, type);
	else if (TRIGGER_FIRED_BY_UPDATE(event))
	{
		capture_slot(id, trigdata->tg_trigslot, attnum, type);
		capture_slot(id, trigdata->tg_newslot, attnum, type);
	}
	return result;
}

/* The shared table's key of report id in this database. */
static CaptureKey
capture_key(int32 id)
{
	CaptureKey	key = {MyDatabaseId, id};

	return key;
}

/* Add one range with a stamp to a shared entry, widening when it is full. */
static void
entry_add(CaptureEntry *entry, int64 lo, int64 hi, uint64 stamp)
{
	entry->n = capture_ranges_add(entry->lo, entry->hi, entry->stamp, entry->n,
								  CAPTURE_SHARED_RANGES, lo, hi, stamp);
}

/*
 * Publish the committed transaction's ranges (or, for a PREPARE, mark the
 * reports full).  Reports without an entry have had no refresh since the
 * server started: their next refresh recomputes everything anyway.
 */
static void
publish(bool prepared)
{
	uint64		stamp;

	LWLockAcquire(capture_shared->lock, LW_EXCLUSIVE);
	stamp = ++capture_shared->stamp;
	for (int i = 0; i < capture_npending; i++)
	{
		PendingCapture *p = &capture_pending[i];
		CaptureKey	key = capture_key(p->id);
		CaptureEntry *entry = hash_search(capture_hash, &key, HASH_FIND, NULL);

		if (entry == NULL)
			continue;
		if (prepared)
		{
			entry->full = true;
			entry->full_stamp = stamp;
			continue;
		}
		for (int r = 0; r < p->n; r++)
			entry_add(entry, p->lo[r], p->hi[r], stamp);
	}
	LWLockRelease(capture_shared->lock);
}

/* Remove what committed refreshes claimed. */
static void
release_claims(void)
{
	LWLockAcquire(capture_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < capture_nreleases; i++)
	{
		PendingRelease *rel = &capture_releases[i];
		CaptureKey	key = capture_key(rel->id);
		CaptureEntry *entry = hash_search(capture_hash, &key, HASH_FIND, NULL);
		int			kept = 0;

		if (entry == NULL)
			continue;
		if (rel->forget)
		{
			(void) hash_search(capture_hash, &key, HASH_REMOVE, NULL);
			continue;
		}
		for (int r = 0; r < entry->n; r++)
		{
			if (entry->stamp[r] <= rel->watermark)
				continue;
			entry->lo[kept] = entry->lo[r];
			entry->hi[kept] = entry->hi[r];
			entry->stamp[kept] = entry->stamp[r];
			kept++;
		}
		entry->n = kept;
		if (rel->clear_full && entry->full && entry->full_stamp <= rel->watermark)
			entry->full = false;
	}
	LWLockRelease(capture_shared->lock);
}

/* Forget the transaction's sets (their memory goes with the transaction). */
static void
forget_transaction(void)
{
	capture_pending = NULL;
	capture_npending = capture_maxpending = 0;
	capture_releases = NULL;
	capture_nreleases = capture_maxreleases = 0;
	capture_cached_trigger = InvalidOid;
	capture_cached_relation = InvalidOid;
	capture_id_relid = InvalidOid;
	reporting_incremental_disarm();
}

/*
 * The transaction callback's half: publish at commit, mark at PREPARE,
 * release committed claims, forget at the end of every transaction.
 */
void
reporting_capture_xact_event(XactEvent event)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
			if (capture_shared != NULL && capture_npending > 0 &&
				TransactionIdIsValid(GetTopTransactionIdIfAny()))
				publish(false);
			if (capture_shared != NULL && capture_nreleases > 0)
				release_claims();
			break;
		case XACT_EVENT_PREPARE:
			if (capture_shared != NULL && capture_npending > 0)
				publish(true);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			break;
		default:
			return;
	}
	forget_transaction();
}

/*
 * Add the ranges the current transaction wrote so far to a claim: a refresh
 * in the transaction that wrote them sees those rows, and they are
 * published (and recomputed once more) only when it commits.
 */
static void
claim_own_writes(int32 id, CaptureClaim *claim)
{
	for (int i = 0; i < capture_npending; i++)
	{
		PendingCapture *p = &capture_pending[i];

		if (p->id != id)
			continue;
		for (int r = 0; r < p->n; r++)
			claim->n = capture_ranges_add(claim->lo, claim->hi, NULL, claim->n,
										  CAPTURE_SHARED_RANGES, p->lo[r], p->hi[r], 0);
	}
}

/*
 * The id of the report whose column (report or id) is value, read from
 * reporting.incrementals as the extension's owner; false when none is.
 */
static bool
incrementals_id(const char *column, Oid type, Datum value, int32 *id)
{
	Oid			argtypes[1] = {type};
	Datum		values[1] = {value};
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;
	bool		isnull = true;
	Datum		d = (Datum) 0;

	SPI_connect();
	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	if (SPI_execute_with_args(psprintf("SELECT id FROM reporting.incrementals"
									   " WHERE %s OPERATOR(pg_catalog.=) $1", column),
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read reporting.incrementals");
	if (SPI_processed == 1)
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
	SPI_finish();
	if (!isnull)
		*id = DatumGetInt32(d);
	return !isnull;
}

/*
 * The id of the incremental report relid (reporting.incrementals.id), read
 * as the extension's owner; false when it is not recorded.  Remembers the
 * last one for the rest of the transaction (a refresh asks at its claim and
 * again at its release).
 */
static bool
capture_id_of(Oid relid, int32 *id)
{
	if (relid == capture_id_relid)
	{
		*id = capture_id_value;
		return true;
	}
	if (!incrementals_id("report", REGCLASSOID, ObjectIdGetDatum(relid), id))
		return false;
	capture_id_relid = relid;
	capture_id_value = *id;
	return true;
}

/*
 * What the next refresh of report must recompute, read before the refresh
 * takes its snapshot: the dirty ranges (capture units, see capture_value)
 * (with the current transaction's own writes) and the watermark to release
 * at commit, or full with the reason.  Makes
 * the report's entry when it has none (then the claim is full).  Reads the
 * report's id in reporting.incrementals (as the extension's owner; its own
 * snapshot, which the refresh does not use); raises only if that read
 * fails.
 */
void
reporting_capture_claim(Oid report, CaptureClaim *claim)
{
	CaptureKey	key;
	int32		id;
	CaptureEntry *entry;
	bool		found = false;

	memset(claim, 0, sizeof(*claim));
	if (capture_shared == NULL)
	{
		claim->full = true;
		claim->why = REASON_NOT_PRELOADED;
		return;
	}
	if (!capture_id_of(report, &id))
	{
		claim->full = true;
		claim->why = REASON_NOT_RECORDED;
		return;
	}
	key = capture_key(id);
	make_room(&key);
	LWLockAcquire(capture_shared->lock, LW_EXCLUSIVE);
	claim->watermark = capture_shared->stamp;
	entry = hash_search(capture_hash, &key, HASH_FIND, NULL);
	if (entry != NULL)
		found = true;
	else if (hash_get_num_entries(capture_hash) < reporting_max_incremental_reports)
		entry = hash_search(capture_hash, &key, HASH_ENTER_NULL, &found);
	if (entry == NULL)
	{
		claim->full = true;
		claim->why = REASON_TABLE_FULL;
	}
	else if (!found)
	{
		/* a new entry: nothing was captured before it */
		entry->full = false;
		entry->full_stamp = 0;
		entry->n = 0;
		claim->full = true;
		claim->why = REASON_NO_ENTRY;
	}
	else
	{
		if (entry->full)
		{
			claim->full = true;
			claim->why = REASON_PREPARED;
		}
		claim->n = entry->n;
		memcpy(claim->lo, entry->lo, sizeof(int64) * entry->n);
		memcpy(claim->hi, entry->hi, sizeof(int64) * entry->n);
	}
	LWLockRelease(capture_shared->lock);
	claim_own_writes(key.id, claim);
}

/* Queue a release (or a forget) for the commit of this transaction. */
static void
queue_release(int32 id, uint64 watermark, bool clear_full, bool forget)
{
	MemoryContext old;

	if (capture_nreleases == capture_maxreleases)
	{
		old = MemoryContextSwitchTo(TopTransactionContext);
		capture_maxreleases = capture_maxreleases ? capture_maxreleases * 2 : 4;
		capture_releases = capture_releases ?
			repalloc(capture_releases, capture_maxreleases * sizeof(PendingRelease)) :
			palloc(capture_maxreleases * sizeof(PendingRelease));
		MemoryContextSwitchTo(old);
	}
	capture_releases[capture_nreleases].id = id;
	capture_releases[capture_nreleases].watermark = watermark;
	capture_releases[capture_nreleases].clear_full = clear_full;
	capture_releases[capture_nreleases].forget = forget;
	capture_releases[capture_nreleases].subid = GetCurrentSubTransactionId();
	capture_nreleases++;
}

/*
 * The subtransaction callback's half: the releases a subtransaction queued
 * go with it when it aborts, and pass to its parent when it commits.
 */
void
reporting_capture_subxact_event(SubXactEvent event, SubTransactionId mySubid,
								SubTransactionId parentSubid)
{
	int			kept = 0;

	if (capture_nreleases == 0)
		return;
	if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (int i = 0; i < capture_nreleases; i++)
			if (capture_releases[i].subid == mySubid)
				capture_releases[i].subid = parentSubid;
		return;
	}
	if (event != SUBXACT_EVENT_ABORT_SUB)
		return;
	for (int i = 0; i < capture_nreleases; i++)
		if (capture_releases[i].subid != mySubid)
			capture_releases[kept++] = capture_releases[i];
	capture_nreleases = kept;
}

/*
 * reporting._forget_capture() RETURNS trigger
 *
 * AFTER DELETE ... FOR EACH ROW on reporting.incrementals: the shared
 * entry of the report removed goes when the transaction commits, so that
 * dropped reports do not use up reporting.max_incremental_reports.
 */
Datum
reporting_forget_capture(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	bool		isnull;
	Datum		id;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BY_DELETE(trigdata->tg_event))
		elog(ERROR, "reporting._forget_capture() must be fired by DELETE");
	id = heap_getattr(trigdata->tg_trigtuple,
					  SPI_fnumber(RelationGetDescr(trigdata->tg_relation), "id"),
					  RelationGetDescr(trigdata->tg_relation), &isnull);
	if (!isnull && capture_shared != NULL)
		queue_release(DatumGetInt32(id), 0, false, true);
	return PointerGetDatum(trigdata->tg_trigtuple);
}

/* True when a report of this database has the id. */
static bool
capture_id_recorded(int32 id)
{
	int32		same;

	return incrementals_id("id", INT4OID, Int32GetDatum(id), &same);
}

/*
 * When the shared table is full and has no entry for key: remove the
 * entries no report can use any more, those of databases dropped since
 * (pg_database is shared) and those of this database's reports that are
 * gone (dropped with the extension, or with a server's crash between the
 * drop and its commit).  Catalogs are read without the LWLock held.
 */
static void
make_room(const CaptureKey *key)
{
	HASH_SEQ_STATUS scan;
	CaptureEntry *entry;
	CaptureKey *keys;
	bool	   *gone;
	int			n = 0;
	int			max;

	LWLockAcquire(capture_shared->lock, LW_SHARED);
	max = hash_get_num_entries(capture_hash);
	if (max < reporting_max_incremental_reports ||
		hash_search(capture_hash, key, HASH_FIND, NULL) != NULL)
	{
		LWLockRelease(capture_shared->lock);
		return;
	}
	keys = palloc(sizeof(CaptureKey) * max);
	hash_seq_init(&scan, capture_hash);
	while ((entry = hash_seq_search(&scan)) != NULL)
		if (n < max)
			keys[n++] = entry->key;
		else
		{
			hash_seq_term(&scan);
			break;
		}
	LWLockRelease(capture_shared->lock);

	gone = palloc0(sizeof(bool) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		if (!SearchSysCacheExists1(DATABASEOID, ObjectIdGetDatum(keys[i].dbid)))
			gone[i] = true;
		else if (keys[i].dbid == MyDatabaseId)
			gone[i] = !capture_id_recorded(keys[i].id);
	}
	LWLockAcquire(capture_shared->lock, LW_EXCLUSIVE);
	for (int i = 0; i < n; i++)
		if (gone[i])
			(void) hash_search(capture_hash, &keys[i], HASH_REMOVE, NULL);
	LWLockRelease(capture_shared->lock);
}

/*
 * Remove the ranges a refresh of report claimed (stamped at or below
 * watermark) once its transaction commits; clear_full also clears a "full" mark set before
 * the claim.  Nothing happens if the transaction aborts.
 */
void
reporting_capture_release_at_commit(Oid report, uint64 watermark, bool clear_full)
{
	int32		id;

	if (capture_shared == NULL || !capture_id_of(report, &id))
		return;
	queue_release(id, watermark, clear_full, false);
}
