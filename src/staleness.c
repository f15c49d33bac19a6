/*-------------------------------------------------------------------------
 *
 * staleness.c
 *		What a refresh records of its sources' change generations, and the
 *		SQL-callable reading of current generations that reporting.status,
 *		reporting.staleness() and reporting.assert_fresh() compare with it.
 *
 * A view's sources for tracking are given by reporting._tracked_sources():
 * each table it reads directly or through plain views, with its ancestors
 * and descendants (writes are noted on the relation written only), and each
 * materialized view it reads, whose "change" is its own refresh.  A refresh records the generation of every
 * one of those tables; a source that cannot be tracked comes with the
 * reason, and is recorded with an unknown (NULL) generation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "utils/fmgroids.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/hsearch.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "catalog/pg_inherits.h"
#include "utils/acl.h"

#include "reporting.h"
#include "tracking.h"

PG_FUNCTION_INFO_V1(reporting_generation);

/*
 * What pending prepared transactions mean for tracking in this database.
 * Once none is left in the cluster, the tables marked by prepared
 * transactions become known again (see tracking.c).  A transaction prepared
 * before the current epoch (before the server restarted) and still pending
 * here was noted by a backend that is gone: nobody knows what it wrote, so
 * every generation of this database is unknown until it ends.  Returns that
 * reason, in the caller's memory context, or NULL.
 */
static bool survivors_gone = false;

static const char *
prepared_transactions_blocker(void)
{
	int64		stamp = reporting_prepare_stamp();
	Oid			argtypes[1] = {TIMESTAMPTZOID};
	Datum		values[1];
	MemoryContext outer = CurrentMemoryContext;
	const char *reason = NULL;
	bool		isnull;
	int64		pending;
	char	   *gid;

	/*
	 * Nothing to settle and no survivor of a restart left (survivors only
	 * ever go away, and this backend lives within one epoch): no query.
	 */
	if (!reporting_tracking_active() || (stamp < 0 && survivors_gone))
		return NULL;
	values[0] = TimestampTzGetDatum((TimestampTz) reporting_tracking_epoch());
	SPI_connect();
	if (SPI_execute_with_args("SELECT pg_catalog.count(*),"
							  "       pg_catalog.min(gid) FILTER ("
							  "         WHERE prepared OPERATOR(pg_catalog.<) $1"
							  "           AND database OPERATOR(pg_catalog.=) pg_catalog.current_database())"
							  "  FROM pg_catalog.pg_prepared_xacts",
							  1, argtypes, values, NULL, true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read pg_prepared_xacts");
	pending = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	gid = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	if (pending == 0 && stamp >= 0)
		reporting_clear_prepared_marks(stamp);
	survivors_gone = (gid == NULL);
	if (gid != NULL)
		reason = MemoryContextStrdup(outer,
									 psprintf("transaction \"%s\" was prepared before the server restarted, so what it wrote is unknown until it ends",
											  gid));
	SPI_finish();
	return reason;
}

/*
 * The summed generation of a set of tables (a source and its ancestors and
 * descendants): -1 with *reason when any of them is unknown.
 */
static int64
sum_generations(int n, Oid *members, TimestampTz *last_change,
				const char **reason)
{
	int64	   *gens = palloc(sizeof(int64) * Max(n, 1));
	TimestampTz *times = palloc(sizeof(TimestampTz) * Max(n, 1));
	const char **reasons = palloc(sizeof(char *) * Max(n, 1));
	int64		sum = 0;

	*last_change = 0;
	*reason = NULL;
	reporting_read_generations(n, members, gens, times, reasons, false);
	for (int i = 0; i < n; i++)
	{
		if (gens[i] < 0)
		{
			*reason = reasons[i];
			return -1;
		}
		sum += gens[i];
		*last_change = Max(*last_change, times[i]);
	}
	return sum;
}

/* The direct parents of relid (partitions and inheritance children). */
static List *
get_parents_of(Oid relid)
{
	Relation	rel;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	List	   *parents = NIL;

	rel = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(rel, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		parents = lappend_oid(parents, ((Form_pg_inherits) GETSTRUCT(tuple))->inhparent);
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return parents;
}

/* the OIDs in a regclass[] datum */
static int
array_oids(Datum array, Oid **oids)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n;

	deconstruct_array(DatumGetArrayTypeP(array), REGCLASSOID, sizeof(Oid), true,
					  TYPALIGN_INT, &elems, &nulls, &n);
	*oids = palloc(sizeof(Oid) * Max(n, 1));
	for (int i = 0; i < n; i++)
		(*oids)[i] = DatumGetObjectId(elems[i]);
	return n;
}

/*
 * The tables a refresh records for a view, from reporting._tracked_sources:
 * every member of every trackable source (a table with its ancestors and
 * descendants, a materialized view), and each untrackable source itself,
 * flagged in *untracked.  Call inside SPI.
 */
static int
query_recorded_tables(Oid relid, Oid **tables, bool **untracked)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	int			n = 0;
	int			max = 16;

	if (SPI_execute_with_args("SELECT source, members, reason"
							  " FROM reporting._tracked_sources($1)",
							  1, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the tracked sources of relation %u", relid);
	*tables = palloc(sizeof(Oid) * max);
	*untracked = palloc(sizeof(bool) * max);
	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			source = DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull));
		Oid		   *members = &source;
		int			nmembers = 1;
		bool		trackable;

		(void) SPI_getbinval(tuple, desc, 3, &isnull);
		trackable = isnull;
		if (trackable)
			nmembers = array_oids(SPI_getbinval(tuple, desc, 2, &isnull), &members);
		for (int m = 0; m < nmembers; m++)
		{
			if (n == max)
			{
				max *= 2;
				*tables = repalloc(*tables, sizeof(Oid) * max);
				*untracked = repalloc(*untracked, sizeof(bool) * max);
			}
			(*tables)[n] = members[m];
			(*untracked)[n] = !trackable;
			n++;
		}
	}
	return n;
}

/*
 * The answers of query_recorded_tables, per view, worked out from the
 * catalogs only (dependencies, partitions, relation kinds, declared
 * sources): kept while no relcache invalidation arrives (catalog_epoch.c;
 * a change of reporting.registrations queues one too, see
 * reporting._registrations_changed), so that a refresh does not walk the
 * catalogs each time (about 4 ms a refresh, most of it planning).
 */
typedef struct RecordedTables
{
	Oid			view;			/* hash key */
	int			n;
	Oid		   *tables;
	bool	   *untracked;
} RecordedTables;

static HTAB *recorded_cache = NULL;
static MemoryContext recorded_cxt = NULL;
static uint64 recorded_epoch = 0;

static int
list_recorded_tables(Oid relid, Oid **tables, bool **untracked)
{
	uint64		epoch = reporting_catalog_epoch();
	RecordedTables *entry;
	bool		found;
	int			n;

	if (recorded_cache == NULL || recorded_epoch != epoch)
	{
		HASHCTL		ctl;

		if (recorded_cxt == NULL)
			recorded_cxt = AllocSetContextCreate(TopMemoryContext,
												 "reporting recorded tables",
												 ALLOCSET_SMALL_SIZES);
		MemoryContextReset(recorded_cxt);
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(RecordedTables);
		ctl.hcxt = recorded_cxt;
		recorded_cache = hash_create("reporting recorded tables", 32, &ctl,
									 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		recorded_epoch = epoch;
	}
	entry = hash_search(recorded_cache, &relid, HASH_FIND, NULL);
	if (entry == NULL)
	{
		n = query_recorded_tables(relid, tables, untracked);
		/* an invalidation while it was read: do not keep it */
		if (reporting_catalog_epoch() != epoch)
			return n;
		entry = hash_search(recorded_cache, &relid, HASH_ENTER, &found);
		entry->n = n;
		entry->tables = MemoryContextAlloc(recorded_cxt, sizeof(Oid) * Max(n, 1));
		entry->untracked = MemoryContextAlloc(recorded_cxt, sizeof(bool) * Max(n, 1));
		memcpy(entry->tables, *tables, sizeof(Oid) * n);
		memcpy(entry->untracked, *untracked, sizeof(bool) * n);
		return n;
	}
	*tables = palloc(sizeof(Oid) * Max(entry->n, 1));
	*untracked = palloc(sizeof(bool) * Max(entry->n, 1));
	memcpy(*tables, entry->tables, sizeof(Oid) * entry->n);
	memcpy(*untracked, entry->untracked, sizeof(bool) * entry->n);
	return entry->n;
}

/*
 * Record, for a refresh about to take its snapshot, the generation of every
 * table its sources stand for: each table with its ancestors and
 * descendants, each materialized view.  Per table, not summed per source, so
 * that a partition attached or detached can never cancel out a change.  A
 * source that cannot be tracked is recorded itself, with a NULL generation.
 * Must run before the snapshot is taken.  In a REPEATABLE READ or
 * SERIALIZABLE transaction the snapshot may be older than this read, so
 * nothing can be proven: the epoch is left unknown.  The database is
 * recorded too: a copy of this database (CREATE DATABASE ... TEMPLATE) has
 * the same runs but generations of its own.  Call inside SPI, as the
 * extension's owner; the arrays are built in resultcxt, which must outlive
 * the SPI connection.
 */
void
reporting_capture_generations(Oid relid, ReportingTracking *tracking,
							  MemoryContext resultcxt)
{
	MemoryContext spicxt;
	const char *blocker;
	Oid		   *tables;
	bool	   *untracked;
	int64	   *gens;
	TimestampTz *times;
	const char **reasons;
	Datum	   *table_datums;
	Datum	   *gen_datums;
	bool	   *gen_nulls;
	int			n;
	int			dims[1];
	int			lbs[1] = {1};

	memset(tracking, 0, sizeof(*tracking));
	blocker = prepared_transactions_blocker();
	n = list_recorded_tables(relid, &tables, &untracked);

	gens = palloc(sizeof(int64) * Max(n, 1));
	times = palloc(sizeof(TimestampTz) * Max(n, 1));
	reasons = palloc(sizeof(char *) * Max(n, 1));
	reporting_read_generations(n, tables, gens, times, reasons, true);

	table_datums = palloc(sizeof(Datum) * Max(n, 1));
	gen_datums = palloc(sizeof(Datum) * Max(n, 1));
	gen_nulls = palloc(sizeof(bool) * Max(n, 1));
	for (int i = 0; i < n; i++)
	{
		table_datums[i] = ObjectIdGetDatum(tables[i]);
		gen_nulls[i] = untracked[i] || gens[i] < 0 || blocker != NULL;
		gen_datums[i] = gen_nulls[i] ? (Datum) 0 : Int64GetDatum(gens[i]);
	}

	dims[0] = n;
	spicxt = MemoryContextSwitchTo(resultcxt);
	tracking->sources = PointerGetDatum(construct_array(table_datums, n, REGCLASSOID,
														sizeof(Oid), true, TYPALIGN_INT));
	tracking->generations = PointerGetDatum(construct_md_array(gen_datums, gen_nulls, 1,
															   dims, lbs, INT8OID, 8,
															   FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	MemoryContextSwitchTo(spicxt);
	tracking->epoch_known = reporting_tracking_active() && !IsolationUsesXactSnapshot();
	tracking->epoch = reporting_tracking_epoch();
	tracking->database = MyDatabaseId;
	tracking->valid = true;
}

/*
 * May the current role see how often relid changes?  When it may read the
 * relation, or a relation of its family (an ancestor or a descendant: what
 * a view reading that one depends on): _generation is open to everyone and
 * must not tell a role how busy a table it cannot read is.
 */
static bool
may_watch(Oid relid)
{
	List	   *family;
	ListCell   *lc;
	List	   *up = list_make1_oid(relid);

	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK)
		return true;
	/* ancestors, level by level */
	for (int depth = 0; up != NIL && depth < 32; depth++)
	{
		List	   *next = NIL;

		foreach(lc, up)
		{
			List	   *parents = get_parents_of(lfirst_oid(lc));
			ListCell   *pc;

			foreach(pc, parents)
			{
				if (pg_class_aclcheck(lfirst_oid(pc), GetUserId(), ACL_SELECT) == ACLCHECK_OK)
					return true;
				next = lappend_oid(next, lfirst_oid(pc));
			}
		}
		up = next;
	}
	family = find_all_inheritors(relid, NoLock, NULL);
	foreach(lc, family)
		if (pg_class_aclcheck(lfirst_oid(lc), GetUserId(), ACL_SELECT) == ACLCHECK_OK)
			return true;
	return false;
}

/*
 * reporting._generation(members regclass[])
 *		RETURNS record (epoch int8, generation int8, last_change timestamptz,
 *		reason text, own_write bool)
 *
 * The current generation of one source (summed over its members), for
 * comparison with what a refresh recorded.  epoch and generation are NULL,
 * with a reason, when they are unknown.  own_write says the current
 * transaction has written a member: its changes count, but are not
 * committed yet.  SQL objects before 0.4.0 declare four columns.
 */
Datum
reporting_generation(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[5];
	bool		nulls[5] = {false, false, false, false, false};
	Oid		   *members;
	int			n;
	TimestampTz last_change;
	const char *reason;
	const char *blocker;
	int64		gen;
	bool		own_write = false;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	blocker = prepared_transactions_blocker();
	n = array_oids(PG_GETARG_DATUM(0), &members);
	gen = sum_generations(n, members, &last_change, &reason);
	if (blocker != NULL && n > 0)
	{
		gen = -1;
		reason = blocker;
	}
	for (int i = 0; i < n; i++)
	{
		own_write |= reporting_written_by_this_transaction(members[i]);
		if (!may_watch(members[i]))
		{
			gen = -1;
			reason = psprintf("role \"%s\" may not read %s",
							  GetUserNameFromId(GetUserId(), false),
							  reporting_display_name(members[i]));
			last_change = 0;
		}
	}

	values[0] = Int64GetDatum(reporting_tracking_epoch());
	nulls[0] = !reporting_tracking_active();
	values[1] = Int64GetDatum(gen);
	nulls[1] = gen < 0;
	values[2] = TimestampTzGetDatum(last_change);
	nulls[2] = gen < 0 || last_change == 0;
	values[3] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[3] = reason == NULL;
	values[4] = BoolGetDatum(own_write);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
