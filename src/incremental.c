/*-------------------------------------------------------------------------
 *
 * incremental.c
 *		Incremental reports: a table whose rows the extension keeps equal to
 *		a query over one fact table's time range, recomputing only the
 *		buckets that changed (see "Incremental reports" in DESIGN.md).
 *
 * reporting.create_incremental (SQL, in the upgrade script) creates the
 * table, its guard, the capture trigger on the fact table
 * (incremental_capture.c), records the report here and registers it; its
 * first refresh fills it.  A refresh of a registered report reaches this
 * file through one hook point in refresh.c: reporting_incremental_arm()
 * returns the statement that refresh.c runs as the report's owner, with the
 * owner's settings and the report's statement timeout, instead of REFRESH
 * MATERIALIZED VIEW.  That statement, CALL reporting._refresh_incremental(),
 * refuses to run unless it was armed for that report in this backend.
 *
 * A refresh:
 *	1. claims the dirty ranges (before any snapshot it takes);
 *	2. recomputes everything when the claim says so (restart, PREPARE),
 *	   when a table or view the query reads changed other than through the
 *	   fact table, was altered, truncated, attached or detached (a
 *	   fingerprint of their relfilenodes and catalog rows), when a capture
 *	   trigger is missing or disabled, or when the dirty buckets exceed the
 *	   report's full_refresh_above share of its buckets;
 *	3. otherwise, per merged range of dirty buckets, deletes the report's
 *	   rows in it and inserts the query's rows for it (the fact range
 *	   reaching lookback buckets further back);
 *	all in the refreshing transaction, so readers see the old rows or the
 *	new, never a mix, and are never blocked (DELETE and INSERT take ROW
 *	EXCLUSIVE; refresh.c holds EXCLUSIVE on the report, which readers do not
 *	conflict with).
 *
 * Writes into the report by anyone else are refused by a statement trigger
 * (reporting._guard) that lets through only the statements this file runs.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_inherits.h"
#include "storage/lmgr.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

#include "incremental.h"

PG_FUNCTION_INFO_V1(reporting_refresh_incremental);
PG_FUNCTION_INFO_V1(reporting_guard);
PG_FUNCTION_INFO_V1(reporting_last_buckets);
PG_FUNCTION_INFO_V1(reporting_record_incremental);

/* the report an armed refresh may recompute, and where it says what it did */
static Oid	incr_armed = InvalidOid;
static ReportingTracking *incr_tracking = NULL;
static char *incr_mode = NULL;

/* the report whose rows this backend is writing right now */
static Oid	incr_writing = InvalidOid;

/* what this backend's latest incremental refresh did, for reporting.runs */
static Oid	incr_last_report = InvalidOid;
static int64 incr_last_buckets = 0;

/* one incremental report, as reporting.incrementals records it */
typedef struct IncrementalDef
{
	char	   *query;
	Oid			time_type;
	char	   *bucket_column;
	Oid			bucket_type;
	char	   *time_zone;
	double		full_above;
	char	   *fingerprint;	/* as its last refresh recorded it, or NULL */
	Oid			fact;
	char	   *search_path;	/* the query's, from its creation */
} IncrementalDef;

/*
 * The last report whose catalog checks (reporting._incremental_obstacle)
 * passed in this backend: its fingerprint then, the catalog epoch read
 * before the checks (catalog_epoch.c), and whether it reads a source
 * besides its fact table's family, whose generations must be compared at
 * every refresh.  While the epoch has not moved, no relation's catalog rows
 * (the fingerprint's, the capture triggers, partitions) changed, so a
 * refresh whose recorded fingerprint is the same needs no catalog check.
 */
static Oid	checked_report = InvalidOid;
static uint64 checked_epoch = 0;
static char checked_fingerprint[33];
static bool checked_other_sources = true;

/* Run one read of the extension's tables as its owner; returns rows. */
static uint64
catalog_query(const char *sql, int nargs, Oid *argtypes, Datum *values,
			  const char *nulls, bool read_only)
{
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;
	int			rc;

	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	rc = SPI_execute_with_args(sql, nargs, argtypes, values, nulls, read_only, 0);
	if (rc < 0)
		elog(ERROR, "could not run \"%s\": %s", sql, SPI_result_code_string(rc));
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
	return SPI_processed;
}

/*
 * Raise 42501 unless the current role may read relation relid: an
 * incremental report's refreshes lock its fact table and read the catalog
 * rows of what its query reads, which must be the owner's to read.
 */
static void
check_may_read(Oid relid)
{
	AclResult	aclresult = pg_class_aclcheck(relid, GetUserId(), ACL_SELECT);

	if (aclresult != ACLCHECK_OK)
		aclcheck_error(aclresult, get_relkind_objtype(get_rel_relkind(relid)),
					   get_rel_name(relid));
}

/*
 * True when relid is a table recorded as an incremental report (on SQL
 * objects that know of them).  Used by the checks every entry point makes,
 * so it costs a syscache test for anything but a plain table.
 */
bool
reporting_is_incremental(Oid relid)
{
	Oid			nsp;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		found;

	if (get_rel_relkind(relid) != RELKIND_RELATION)
		return false;
	nsp = get_namespace_oid(REPORTING_SCHEMA_NAME, true);
	if (!OidIsValid(nsp) || !OidIsValid(get_relname_relid("incrementals", nsp)))
		return false;
	SPI_connect();
	found = catalog_query("SELECT 1 FROM reporting.incrementals"
						  " WHERE report OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
						  1, argtypes, values, NULL, true) > 0;
	SPI_finish();
	return found;
}

/*
 * The hook point of refresh.c: arm the refresh of the incremental report
 * relid and return the statement to run as its owner.  tracking holds the
 * generations refresh.c read for this run; mode (16 bytes) receives
 * "incremental" or "full".
 */
char *
reporting_incremental_arm(Oid relid, ReportingTracking *tracking, char *mode)
{
	incr_armed = relid;
	incr_tracking = tracking;
	incr_mode = mode;
	return psprintf("CALL reporting._refresh_incremental(%u)", relid);
}

/*
 * Forget an armed refresh that never ran (its transaction ended first);
 * called at the end of every transaction.
 */
void
reporting_incremental_disarm(void)
{
	incr_armed = InvalidOid;
	incr_tracking = NULL;
	incr_mode = NULL;
}

/* Load a report's definition (SPI connected). */
static void
load_definition(Oid relid, IncrementalDef *def)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	HeapTuple	tup;
	TupleDesc	desc;
	bool		isnull;

	if (catalog_query("SELECT query, time_type::pg_catalog.oid, bucket_column::pg_catalog.text,"
					  " bucket_type::pg_catalog.oid, time_zone, full_refresh_above, fingerprint,"
					  " fact::pg_catalog.oid, search_path"
					  " FROM reporting.incrementals"
					  " WHERE report OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
					  1, argtypes, values, NULL, true) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" is not an incremental report",
						reporting_display_name(relid))));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	def->query = SPI_getvalue(tup, desc, 1);
	def->time_type = DatumGetObjectId(SPI_getbinval(tup, desc, 2, &isnull));
	def->bucket_column = SPI_getvalue(tup, desc, 3);
	def->bucket_type = DatumGetObjectId(SPI_getbinval(tup, desc, 4, &isnull));
	def->time_zone = SPI_getvalue(tup, desc, 5);
	def->full_above = DatumGetFloat8(SPI_getbinval(tup, desc, 6, &isnull));
	def->fingerprint = SPI_getvalue(tup, desc, 7);
	def->fact = DatumGetObjectId(SPI_getbinval(tup, desc, 8, &isnull));
	def->search_path = SPI_getvalue(tup, desc, 9);
}

/*
 * The settings the report's query runs with, at a new GUC nest level over
 * its owner's (settings.c): TimeZone is the report's time_zone, the zone
 * its buckets start in, so that a ::date in the query and the buckets agree
 * whatever the owner's default; search_path is the one its names were
 * resolved with at creation.  A later ALTER ROLE ... SET of either changes
 * nothing the report computes.  Returns the nest level to undo.
 */
static int
pin_query_settings(const IncrementalDef *def)
{
	int			nestlevel = NewGUCNestLevel();

	(void) set_config_option("TimeZone", def->time_zone, PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	if (def->search_path != NULL)
		(void) set_config_option("search_path", def->search_path, PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nestlevel;
}

/* True when the catalog checks of relid passed at the current catalog epoch. */
static bool
catalog_checks_hold(Oid relid, const IncrementalDef *def, uint64 epoch)
{
	return checked_report == relid && checked_epoch == epoch
		&& def->fingerprint != NULL
		&& strcmp(def->fingerprint, checked_fingerprint) == 0;
}

/*
 * Why this refresh must recompute everything though the capture has ranges
 * (see reporting._incremental_obstacle), or NULL.  epoch: the catalog epoch
 * read before the report's definition.  Skips the SQL when the catalog
 * checks already passed at this epoch and no other source's generations
 * need comparing (see checked_report).
 */
static char *
obstacle(Oid relid, const IncrementalDef *def, uint64 epoch)
{
	Oid			argtypes[4] = {OIDOID, REGCLASSARRAYOID, INT8ARRAYOID, BOOLOID};
	Datum		values[4];
	char		nulls[4] = {' ', ' ', ' ', ' '};
	bool		valid = incr_tracking != NULL && incr_tracking->valid;
	char	   *reason;
	bool		isnull;
	bool		others;

	if (valid && !checked_other_sources && catalog_checks_hold(relid, def, epoch))
		return NULL;
	values[0] = ObjectIdGetDatum(relid);
	values[1] = valid ? incr_tracking->sources : (Datum) 0;
	values[2] = valid ? incr_tracking->generations : (Datum) 0;
	values[3] = BoolGetDatum(valid && incr_tracking->epoch_known);
	if (!valid)
		nulls[1] = nulls[2] = 'n';
	(void) catalog_query("SELECT reporting._incremental_obstacle($1::pg_catalog.regclass, $2, $3, $4),"
						 " EXISTS (SELECT 1 FROM reporting.incrementals i, pg_catalog.unnest($2) s"
						 "  WHERE i.report OPERATOR(pg_catalog.=) $1::pg_catalog.regclass"
						 "    AND s OPERATOR(pg_catalog.<>) ALL (reporting._relation_family(i.fact)))",
						 4, argtypes, values, nulls, false);
	reason = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	others = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull));
	checked_report = InvalidOid;
	if (reason == NULL && valid && def->fingerprint != NULL
		&& strlen(def->fingerprint) < sizeof(checked_fingerprint)
		&& reporting_catalog_epoch() == epoch)
	{
		checked_report = relid;
		checked_epoch = epoch;
		strlcpy(checked_fingerprint, def->fingerprint, sizeof(checked_fingerprint));
		checked_other_sources = others;
	}
	return reason;
}

/* A captured value as a local timestamp of the report's time zone. */
static Datum
local_of(int64 value, const IncrementalDef *def)
{
	if (def->time_type == TIMESTAMPTZOID)
		return DirectFunctionCall2(timestamptz_zone,
								   CStringGetTextDatum(def->time_zone),
								   Int64GetDatum(value));
	return Int64GetDatum(value);	/* timestamp, or a date's midnight */
}

/*
 * The earliest (latest, when upper) instant that the local timestamp
 * local of the report's time zone can stand for.  Around a change of the
 * zone's UTC offset a local time stands for two instants (clocks going
 * back) or none (going forward), and AT TIME ZONE picks one: a range read
 * from it would miss the other instant's rows.  The candidates are local
 * minus each UTC offset in force within 3 hours of AT TIME ZONE's pick
 * (offsets change months apart, by at most a few hours); a candidate that
 * stands for no instant of local only widens the range, which is safe for
 * a fact range (the rows of other buckets read are filtered out) but not
 * for the buckets kept.
 */
static TimestampTz
zone_bound(Datum local, const IncrementalDef *def, bool upper)
{
	Datum		tz = CStringGetTextDatum(def->time_zone);
	Timestamp	l = DatumGetTimestamp(local);
	TimestampTz pick = DatumGetTimestampTz(DirectFunctionCall2(timestamp_zone, tz, local));
	TimestampTz best = pick;

	if (TIMESTAMP_NOT_FINITE(l) || TIMESTAMP_NOT_FINITE(pick))
		return pick;
	for (int k = -1; k <= 1; k++)
	{
		TimestampTz probe = pick + k * 3 * USECS_PER_HOUR;
		Timestamp	seen = DatumGetTimestamp(DirectFunctionCall2(timestamptz_zone, tz,
																 TimestampTzGetDatum(probe)));
		TimestampTz candidate = l - (seen - probe);

		if (upper ? candidate > best : candidate < best)
			best = candidate;
	}
	return best;
}

/*
 * A local timestamp of the report's time zone as a bound of the fact range
 * to read, a value of the time column's type: the lower bound (the earliest
 * instant it can stand for) or the upper one (the latest).
 */
static Datum
fact_value(Datum local, const IncrementalDef *def, bool upper)
{
	if (def->time_type == TIMESTAMPTZOID)
		return TimestampTzGetDatum(zone_bound(local, def, upper));
	if (def->time_type == DATEOID)
		return DirectFunctionCall1(timestamp_date, local);
	return local;
}

/*
 * An SQL condition keeping the rows of column expression col whose bucket is
 * in [$n, $n+1) (local timestamps of the report's zone).  A timestamptz
 * bucket is compared as the local time it stands for, exactly (a local
 * range turned into instants would lose one of the two buckets of a
 * repeated hour); $n+2 and $n+3, the widest instants of the range, let an
 * index narrow it first.  Sets *nparams to the parameters it uses.
 */
static char *
bucket_filter(const char *col, int n, const IncrementalDef *def, int *nparams)
{
	if (def->bucket_type == TIMESTAMPTZOID)
	{
		const char *tz = quote_literal_cstr(def->time_zone);

		*nparams = 4;
		return psprintf("%s OPERATOR(pg_catalog.>=) $%d AND %s OPERATOR(pg_catalog.<) $%d"
						" AND (%s AT TIME ZONE %s) OPERATOR(pg_catalog.>=) $%d"
						" AND (%s AT TIME ZONE %s) OPERATOR(pg_catalog.<) $%d",
						col, n + 2, col, n + 3, col, tz, n, col, tz, n + 1);
	}
	*nparams = 2;
	if (def->bucket_type == DATEOID)
		return psprintf("%s OPERATOR(pg_catalog.>=) ($%d::pg_catalog.timestamp)::pg_catalog.date"
						" AND %s OPERATOR(pg_catalog.<) ($%d::pg_catalog.timestamp)::pg_catalog.date",
						col, n, col, n + 1);
	return psprintf("%s OPERATOR(pg_catalog.>=) $%d::pg_catalog.timestamp"
					" AND %s OPERATOR(pg_catalog.<) $%d::pg_catalog.timestamp",
					col, n, col, n + 1);
}

/* Run one statement that writes the report, as the current user (its owner). */
static uint64
write_report(Oid relid, const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	int			rc;

	incr_writing = relid;
	PG_TRY();
	{
		rc = SPI_execute_with_args(sql, nargs, argtypes, values, NULL, false, 0);
	}
	PG_FINALLY();
	{
		incr_writing = InvalidOid;
	}
	PG_END_TRY();
	if (rc != SPI_OK_DELETE && rc != SPI_OK_INSERT)
		elog(ERROR, "could not write incremental report \"%s\"",
			 reporting_display_name(relid));
	return SPI_processed;
}

/* Delete every row and insert the query's rows over all time. */
static void
recompute_all(Oid relid, const IncrementalDef *def, const char *qualified)
{
	Oid			argtypes[2] = {def->time_type, def->time_type};
	Datum		values[2];

	values[0] = fact_value(TimestampGetDatum(DT_NOBEGIN), def, false);
	values[1] = fact_value(TimestampGetDatum(DT_NOEND), def, true);
	(void) write_report(relid, psprintf("DELETE FROM %s", qualified), 0, NULL, NULL);
	(void) write_report(relid, psprintf("INSERT INTO %s SELECT * FROM (%s) q",
										qualified, def->query),
						2, argtypes, values);
}

/*
 * Recompute the buckets [bucket_from, bucket_to) (local timestamps) from
 * the fact rows in [fact_from, bucket_to).  The query's rows are filtered
 * on its bucket column (rows of the lookback buckets before bucket_from
 * are not the report's to replace) above an OFFSET 0, which keeps the
 * planner from pushing that filter into the query: there it would be
 * evaluated on every fact row read, here on the few grouped rows.
 */
static void
recompute_range(Oid relid, const IncrementalDef *def, const char *qualified,
				Datum fact_from, Datum bucket_from, Datum bucket_to)
{
	Oid			argtypes[6] = {def->time_type, def->time_type, TIMESTAMPOID, TIMESTAMPOID,
	TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		values[6];
	const char *col = quote_identifier(def->bucket_column);
	char	   *q_col = psprintf("q.%s", col);
	int			nparams;
	char	   *keep_report = bucket_filter(col, 1, def, &nparams);
	char	   *keep_query = bucket_filter(q_col, 3, def, &nparams);

	values[0] = fact_value(fact_from, def, false);
	values[1] = fact_value(bucket_to, def, true);
	values[2] = bucket_from;
	values[3] = bucket_to;
	if (nparams == 4)
	{
		values[4] = TimestampTzGetDatum(zone_bound(bucket_from, def, false));
		values[5] = TimestampTzGetDatum(zone_bound(bucket_to, def, true));
	}
	/* the DELETE's $1 to $4 are the INSERT's $3 to $6 */
	(void) write_report(relid,
						psprintf("DELETE FROM %s WHERE %s", qualified, keep_report),
						nparams, argtypes + 2, values + 2);
	(void) write_report(relid,
						psprintf("INSERT INTO %s SELECT * FROM"
								 " (SELECT * FROM (%s) q0 OFFSET 0) q WHERE %s",
								 qualified, def->query, keep_query),
						2 + nparams, argtypes, values);
}

/*
 * The merged ranges of dirty buckets for the claim, with their bucket
 * counts, into *ranges (bucket_from, bucket_to, fact_from, buckets), and
 * the report's bucket count in *total when more than one bucket is dirty
 * (0 otherwise).  Returns the dirty bucket count,
 * or -1 when a range reaches an infinite time (then only a full recompute
 * is exact).
 */
static int64
dirty_buckets(Oid relid, const IncrementalDef *def, const CaptureClaim *claim,
			  int64 *total, SPITupleTable **ranges)
{
	Datum	   *lo = palloc(sizeof(Datum) * Max(1, claim->n));
	Datum	   *hi = palloc(sizeof(Datum) * Max(1, claim->n));
	Oid			argtypes[3] = {OIDOID, TIMESTAMPARRAYOID, TIMESTAMPARRAYOID};
	Datum		values[3];
	int64		dirty = 0;
	bool		isnull;

	*total = 0;
	*ranges = NULL;
	if (claim->n == 0)
		return 0;				/* nothing written: nothing to ask */
	for (int i = 0; i < claim->n; i++)
	{
		if (claim->lo[i] == PG_INT64_MIN || claim->hi[i] == PG_INT64_MAX)
			return -1;
		lo[i] = local_of(claim->lo[i], def);
		hi[i] = local_of(claim->hi[i], def);
	}
	values[0] = ObjectIdGetDatum(relid);
	values[1] = PointerGetDatum(construct_array(lo, claim->n, TIMESTAMPOID,
												sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[2] = PointerGetDatum(construct_array(hi, claim->n, TIMESTAMPOID,
												sizeof(int64), FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	(void) catalog_query("SELECT bucket_from, bucket_to, fact_from, buckets"
						 " FROM reporting._dirty_buckets($1::pg_catalog.regclass, $2, $3)",
						 3, argtypes, values, NULL, true);
	*ranges = SPI_tuptable;
	for (uint64 r = 0; r < SPI_processed; r++)
		dirty += DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[r],
											 SPI_tuptable->tupdesc, 4, &isnull));
	/* the share of buckets matters only for more than one */
	if (dirty > 1)
	{
		(void) catalog_query("SELECT reporting._bucket_total($1::pg_catalog.regclass, $2, $3)",
							 3, argtypes, values, NULL, false);
		*total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
											 SPI_tuptable->tupdesc, 1, &isnull));
		if (isnull)
			*total = 0;
	}
	return dirty;
}

/*
 * Record what this refresh did, and the fingerprint it was checked against
 * (NULL: the one recorded, which the checks found current).  The
 * fingerprint must be one read before the refresh's queries took their
 * snapshots: DDL that commits during a refresh without conflicting with
 * its locks (ATTACH PARTITION, a capture trigger disabled and enabled
 * again) then differs from it at the next refresh, which recomputes
 * everything; a fingerprint read afterwards would take that DDL as seen.
 */
static void
record_refresh(Oid relid, const char *kind, int64 buckets, const char *reason,
			   const char *fingerprint)
{
	Oid			argtypes[5] = {OIDOID, TEXTOID, INT8OID, TEXTOID, TEXTOID};
	Datum		values[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(kind);
	values[2] = Int64GetDatum(buckets);
	values[3] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[3] = reason ? ' ' : 'n';
	values[4] = fingerprint ? CStringGetTextDatum(fingerprint) : (Datum) 0;
	nulls[4] = fingerprint ? ' ' : 'n';
	(void) catalog_query("UPDATE reporting.incrementals"
						 " SET fingerprint = coalesce($5, fingerprint),"
						 "     last_kind = $2, last_buckets = $3, last_full_reason = $4"
						 " WHERE report OPERATOR(pg_catalog.=) $1::pg_catalog.regclass",
						 5, argtypes, values, nulls, false);
	incr_last_report = relid;
	incr_last_buckets = buckets;
}

/* True when no prepared transaction is pending in this database. */
static bool
no_prepared_transactions(void)
{
	return catalog_query("SELECT 1 FROM pg_catalog.pg_prepared_xacts"
						 " WHERE database OPERATOR(pg_catalog.=) pg_catalog.current_database()",
						 0, NULL, NULL, NULL, true) == 0;
}

/*
 * CALL reporting._refresh_incremental(report oid)
 *
 * Bring the incremental report up to date (see the top of this file).  Runs
 * only when refresh.c armed it for this report, as the report's owner;
 * raises 42501 otherwise.
 */
Datum
reporting_refresh_incremental(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	IncrementalDef def;
	CaptureClaim claim;
	char	   *reason = NULL;
	char	   *qualified;
	int64		total = 0,
				dirty = 0;
	SPITupleTable *ranges = NULL;
	bool		own_snapshot_first;
	bool		clear_full;
	uint64		epoch;
	int			settings_level;

	if (!OidIsValid(incr_armed) || incr_armed != relid)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("reporting._refresh_incremental() can only be called by a refresh of the report"),
				 errhint("Call reporting.refresh() on the report instead.")));
	incr_armed = InvalidOid;
	/* a snapshot taken before the claim may miss what the claim removes */
	own_snapshot_first = IsolationUsesXactSnapshot();
	reporting_capture_claim(relid, &claim);

	SPI_connect();
	load_definition(relid, &def);
	/*
	 * The fact table and its partitions, locked before the catalog checks
	 * (ACCESS SHARE, as the query would: writers do not wait): TRUNCATE and
	 * the ALTERs that take ACCESS EXCLUSIVE cannot commit between the checks
	 * (which take a snapshot of their own after this lock) and the query's
	 * snapshot, and every invalidation committed before is taken in.  DDL
	 * with weaker locks can: the fingerprint recorded is the one checked,
	 * so the next refresh sees it (record_refresh).
	 */
	check_may_read(def.fact);	/* as the owner, before any lock */
	LockRelationOid(def.fact, AccessShareLock);
	(void) find_all_inheritors(def.fact, AccessShareLock, NULL);
	epoch = reporting_catalog_epoch();
	settings_level = pin_query_settings(&def);
	qualified = reporting_qualified_name(relid);
	clear_full = no_prepared_transactions();
	if (claim.full)
		reason = pstrdup(claim.why);
	if (reason == NULL)
		reason = obstacle(relid, &def, epoch);
	if (reason == NULL)
	{
		dirty = dirty_buckets(relid, &def, &claim, &total, &ranges);
		if (dirty < 0)
			reason = "a changed row has an infinite time";
		else if (total > 0 && dirty > 1 && dirty > def.full_above * total)
			reason = psprintf("%lld of its %lld buckets changed, more than full_refresh_above",
							  (long long) dirty, (long long) total);
	}
	if (reason != NULL)
	{
		char	   *fingerprint;

		/* read before the recompute's snapshot (see record_refresh) */
		(void) catalog_query("SELECT reporting._incremental_fingerprint($1::pg_catalog.regclass)",
							 1, (Oid[]) {OIDOID}, (Datum[]) {ObjectIdGetDatum(relid)}, NULL, false);
		fingerprint = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		recompute_all(relid, &def, qualified);
		(void) catalog_query("SELECT reporting._bucket_total($1::pg_catalog.regclass)",
							 1, (Oid[]) {OIDOID}, (Datum[]) {ObjectIdGetDatum(relid)}, NULL, false);
		{
			bool		isnull;

			total = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0],
												SPI_tuptable->tupdesc, 1, &isnull));
			if (isnull)
				total = 0;
		}
		record_refresh(relid, "full", total, reason, fingerprint);
		strlcpy(incr_mode, "full", 16);
	}
	else
	{
		for (uint64 r = 0; ranges != NULL && r < ranges->numvals; r++)
		{
			HeapTuple	tup = ranges->vals[r];
			bool		isnull;

			recompute_range(relid, &def, qualified,
							SPI_getbinval(tup, ranges->tupdesc, 3, &isnull),
							SPI_getbinval(tup, ranges->tupdesc, 1, &isnull),
							SPI_getbinval(tup, ranges->tupdesc, 2, &isnull));
		}
		/* the checks found the recorded fingerprint current */
		record_refresh(relid, "incremental", dirty, NULL, NULL);
		strlcpy(incr_mode, "incremental", 16);
	}
	AtEOXact_GUC(true, settings_level);
	SPI_finish();
	if (!own_snapshot_first)
		reporting_capture_release_at_commit(relid, claim.watermark,
											reason != NULL && clear_full);
	PG_RETURN_VOID();
}

/*
 * reporting._guard() RETURNS trigger
 *
 * BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ... FOR EACH STATEMENT on an
 * incremental report: refuses every write but the extension's own refresh
 * (42809, like a write into a materialized view).  A table no longer
 * recorded as an incremental report (unregistered) is writable again.
 */
Datum
reporting_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("reporting._guard() must be called as a trigger")));
	relid = RelationGetRelid(trigdata->tg_relation);
	if (incr_writing == relid || !reporting_is_incremental(relid))
		return PointerGetDatum(NULL);
	ereport(ERROR,
			(errcode(ERRCODE_WRONG_OBJECT_TYPE),
			 errmsg("cannot change incremental report \"%s\"",
					reporting_display_name(relid)),
			 errdetail("Its rows are written only by its refreshes, from its query."),
			 errhint("Change the tables its query reads, then call reporting.refresh(); reporting.unregister() makes it a plain table.")));
	PG_RETURN_NULL();
}

/*
 * reporting._last_buckets(report regclass) RETURNS bigint
 *
 * The buckets this backend's latest refresh of the incremental report
 * recomputed (all of them for a full recompute), or NULL when its latest
 * refresh was of another report: what reporting.runs records with the run.
 */
Datum
reporting_last_buckets(PG_FUNCTION_ARGS)
{
	if (incr_last_report != PG_GETARG_OID(0))
		PG_RETURN_NULL();
	PG_RETURN_INT64(incr_last_buckets);
}

/* positions of reporting._record_incremental's arguments */
#define RECORD_INCREMENTAL_ARGS 13

/*
 * reporting._record_incremental(report regclass, query text, fact regclass,
 *		time_column name, time_type regtype, bucket_column name,
 *		bucket_type regtype, bucket_width interval, time_zone text,
 *		lookback int4, full_refresh_above float8, relations regclass[],
 *		search_path text)
 *		RETURNS void
 *
 * Record a new incremental report in reporting.incrementals, as the
 * extension's owner, for create_incremental (which runs as its caller and
 * has validated the arguments).  The caller must own the table (or have its
 * owner's privileges), and the table must carry the guard trigger.  Raises
 * 22004 for a NULL argument, 42501 otherwise.
 */
Datum
reporting_record_incremental(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			argtypes[RECORD_INCREMENTAL_ARGS] = {OIDOID, TEXTOID, OIDOID, NAMEOID,
		OIDOID, NAMEOID, OIDOID, INTERVALOID, TEXTOID, INT4OID, FLOAT8OID, REGCLASSARRAYOID,
	TEXTOID};
	Datum		values[RECORD_INCREMENTAL_ARGS];
	Oid			guard_args[1] = {OIDOID};
	bool		guarded;

	for (int i = 0; i < RECORD_INCREMENTAL_ARGS; i++)
	{
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("the arguments of reporting._record_incremental() must not be null")));
		values[i] = PG_GETARG_DATUM(i);
	}
	relid = PG_GETARG_OID(0);
	SPI_connect();
	guarded = catalog_query("SELECT 1 FROM pg_catalog.pg_trigger t"
							" WHERE t.tgrelid OPERATOR(pg_catalog.=) $1"
							" AND t.tgfoid OPERATOR(pg_catalog.=) 'reporting._guard()'::pg_catalog.regprocedure",
							1, guard_args, values, NULL, true) > 0;
	if (get_rel_relkind(relid) != RELKIND_RELATION ||
		!pg_class_ownercheck(relid, GetUserId()) || !guarded)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("table \"%s\" cannot be recorded as an incremental report",
						reporting_display_name(relid)),
				 errhint("Use reporting.create_incremental().")));
	check_may_read(DatumGetObjectId(values[2]));
	{
		ArrayType  *relations = DatumGetArrayTypeP(values[11]);
		Datum	   *elems;
		bool	   *elem_nulls;
		int			n;

		deconstruct_array(relations, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT,
						  &elems, &elem_nulls, &n);
		for (int i = 0; i < n; i++)
			if (!elem_nulls[i])
				check_may_read(DatumGetObjectId(elems[i]));
	}
	(void) catalog_query("INSERT INTO reporting.incrementals (report, query, fact, time_column,"
						 " time_type, bucket_column, bucket_type, bucket_width, time_zone, lookback,"
						 " full_refresh_above, relations, search_path)"
						 " VALUES ($1::pg_catalog.regclass, $2, $3::pg_catalog.regclass, $4,"
						 " $5::pg_catalog.regtype, $6, $7::pg_catalog.regtype, $8, $9, $10, $11, $12, $13)",
						 RECORD_INCREMENTAL_ARGS, argtypes, values, NULL, false);
	SPI_finish();
	PG_RETURN_VOID();
}
