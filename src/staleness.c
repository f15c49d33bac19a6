/*-------------------------------------------------------------------------
 *
 * staleness.c
 *		What a refresh records of its sources' change generations, and the
 *		SQL-callable reading of current generations that reporting.status,
 *		reporting.staleness() and reporting.assert_fresh() compare with it.
 *
 * A view's sources for tracking are given by reporting._tracked_sources():
 * each table it reads directly or through plain views (a partitioned table
 * with all its partitions), and each materialized view it reads, whose
 * "change" is its own refresh.  A refresh records the generation of every
 * one of those tables; a source that cannot be tracked comes with the
 * reason, and is recorded with an unknown (NULL) generation.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#include "reporting.h"

PG_FUNCTION_INFO_V1(reporting_generation);

/*
 * Once no prepared transaction is left in the cluster, the tables marked by
 * prepared transactions become known again (see tracking.c).
 */
static void
settle_prepared_marks(void)
{
	int64		stamp = reporting_prepare_stamp();

	if (stamp < 0)
		return;
	SPI_connect();
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_prepared_xacts", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read pg_prepared_xacts");
	if (SPI_processed == 0)
		reporting_clear_prepared_marks(stamp);
	SPI_finish();
}

/*
 * The summed generation of a set of tables (a source and, for a partitioned
 * table, its partitions): -1 with *reason when any of them is unknown.
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
 * Record, for a refresh about to take its snapshot, the generation of every
 * table its sources stand for: each table, each partition of a partitioned
 * table, each materialized view.  Per table, not summed per source, so that
 * a partition attached or detached can never cancel out a change.  A source
 * that cannot be tracked is recorded itself, with a NULL generation.  Must
 * run before the snapshot is taken.  In a REPEATABLE READ or SERIALIZABLE
 * transaction the snapshot may be older than this read, so nothing can be
 * proven: the epoch is left unknown.  Call inside SPI, as the extension's
 * owner; the arrays are built in resultcxt, which must outlive the SPI
 * connection.
 */
void
reporting_capture_generations(Oid relid, ReportingTracking *tracking,
							  MemoryContext resultcxt)
{
	MemoryContext spicxt;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	List	   *tables = NIL;
	List	   *known = NIL;
	List	   *gens = NIL;
	Datum	   *table_datums;
	Datum	   *gen_datums;
	bool	   *gen_nulls;
	int			n;
	int			dims[1];
	int			lbs[1] = {1};
	ListCell   *lc1,
			   *lc2,
			   *lc3;
	int			i;

	memset(tracking, 0, sizeof(*tracking));
	settle_prepared_marks();
	if (SPI_execute_with_args("SELECT source, members, reason"
							  " FROM reporting._tracked_sources($1)",
							  1, argtypes, values, NULL, true, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not list the tracked sources of relation %u", relid);

	for (uint64 row = 0; row < SPI_processed; row++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[row];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		Oid			source = DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull));
		Oid		   *members;
		int			nmembers;

		(void) SPI_getbinval(tuple, desc, 3, &isnull);
		if (!isnull)
		{
			/* untracked source: recorded as unknown */
			tables = lappend_oid(tables, source);
			known = lappend_int(known, 0);
			gens = lappend(gens, NULL);
			continue;
		}
		nmembers = array_oids(SPI_getbinval(tuple, desc, 2, &isnull), &members);
		for (int m = 0; m < nmembers; m++)
		{
			int64	   *gen = palloc(sizeof(int64));
			TimestampTz last_change;
			const char *reason;

			reporting_read_generations(1, &members[m], gen, &last_change, &reason, true);
			tables = lappend_oid(tables, members[m]);
			known = lappend_int(known, *gen >= 0);
			gens = lappend(gens, gen);
		}
	}

	n = list_length(tables);
	table_datums = palloc(sizeof(Datum) * Max(n, 1));
	gen_datums = palloc(sizeof(Datum) * Max(n, 1));
	gen_nulls = palloc(sizeof(bool) * Max(n, 1));
	i = 0;
	forthree(lc1, tables, lc2, known, lc3, gens)
	{
		table_datums[i] = ObjectIdGetDatum(lfirst_oid(lc1));
		gen_nulls[i] = !lfirst_int(lc2);
		gen_datums[i] = gen_nulls[i] ? (Datum) 0 : Int64GetDatum(*(int64 *) lfirst(lc3));
		i++;
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
	tracking->valid = true;
}

/*
 * reporting._generation(members regclass[])
 *		RETURNS record (epoch int8, generation int8, last_change timestamptz,
 *		reason text)
 *
 * The current generation of one source (summed over its members), for
 * comparison with what a refresh recorded.  epoch and generation are NULL,
 * with a reason, when they are unknown.
 */
Datum
reporting_generation(PG_FUNCTION_ARGS)
{
	TupleDesc	tupdesc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	Oid		   *members;
	int			n;
	TimestampTz last_change;
	const char *reason;
	int64		gen;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	settle_prepared_marks();
	n = array_oids(PG_GETARG_DATUM(0), &members);
	gen = sum_generations(n, members, &last_change, &reason);

	values[0] = Int64GetDatum(reporting_tracking_epoch());
	nulls[0] = !reporting_tracking_active();
	values[1] = Int64GetDatum(gen);
	nulls[1] = gen < 0;
	values[2] = TimestampTzGetDatum(last_change);
	nulls[2] = gen < 0 || last_change == 0;
	values[3] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[3] = reason == NULL;
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(tupdesc), values, nulls)));
}
