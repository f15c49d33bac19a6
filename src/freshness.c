/*-------------------------------------------------------------------------
 *
 * freshness.c
 *		reporting.freshness(): one row per call, answered from a per-backend
 *		cache while nothing the answer depends on has changed; and the words
 *		of an age ("3 minutes ago") with the instant they change.
 *
 * Computing the answer (reporting._freshness_row(), in SQL) walks the
 * view's sources, its upstream reports and its history: milliseconds.  An
 * API guarding every request with freshness() needs microseconds, and the
 * answer changes only when one of these does, each of which the cache
 * checks on every call:
 *
 *	- a committed write to a relation the verdict read (the view, every
 *	  upstream materialized view it follows, the tables standing for their
 *	  sources) or to the extension's registrations and runs: their change
 *	  generations (tracking.c) are compared with those the answer was
 *	  computed from.  The relations get tracking entries when the answer is
 *	  computed, so that every later commit to them is counted;
 *	- DDL: any relcache invalidation, and syscache invalidations of
 *	  functions, schemas and roles, empty the cache (the DDL that changes
 *	  results without writing rows also bumps every generation);
 *	- the caller: role, display settings (TimeZone, DateStyle,
 *	  IntervalStyle, search_path), a configuration reload, the tracker's
 *	  epoch;
 *	- the clock: the answer's valid_until (the next midnight of a date a
 *	  query depends on) and the next instant the words of an age in the
 *	  sentence change.
 *
 * Not cached: an answer computed in a transaction that wrote one of those
 * relations (its own changes count, uncommitted), or under REPEATABLE READ
 * or SERIALIZABLE, whose snapshot may be older than the generations.  The
 * time-dependent fields (fresh for a "within", as_of while unchanged, lag)
 * are computed at every call.
 *
 * The idea of keying a cached plan or answer on invalidation callbacks is
 * PostgreSQL's own (src/backend/utils/cache/plancache.c, relcache.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "datatype/timestamp.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "postmaster/postmaster.h"
#include "storage/sinval.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "freshness.h"
#include "reporting.h"
#include "tracking.h"

PG_FUNCTION_INFO_V1(reporting_freshness);
PG_FUNCTION_INFO_V1(reporting_describe_age);
PG_FUNCTION_INFO_V1(reporting_assert_fresh);

/* One view's answer, and what it was computed from. */
typedef struct FreshnessEntry
{
	Oid			view;			/* hash key */
	MemoryContext cxt;			/* holds everything below; NULL if empty */

	/* the answer */
	char	   *state;			/* unchanged, changed, unknown, unregistered */
	bool		as_of_now;		/* as_of is the time of the call */
	bool		as_of_null;
	TimestampTz as_of;
	char	   *reason;			/* NULL for none */
	char	   *sentence;
	bool		next_null;
	TimestampTz next_refresh_at;

	/* what it holds for */
	Oid			userid;
	char	   *search_path;
	pg_tz	   *timezone;
	int			date_style;
	int			date_order;
	int			interval_style;
	TimestampTz reload_time;
	int64		epoch;
	TimestampTz computed_at;	/* now() of the computing transaction */
	TimestampTz valid_until;	/* DT_NOEND for no bound */
	int			nrelids;
	Oid		   *relids;
	int64	   *generations;
	const char **reasons;		/* tracking.c's static reason strings */
} FreshnessEntry;

static HTAB *freshness_cache = NULL;
static bool cache_invalidated = false;
static bool callbacks_registered = false;

/* ------------------------------------------------------------------------
 * The words of an age
 * ------------------------------------------------------------------------
 */

/* An interval in seconds, as date_part('epoch', interval) counts it. */
static double
interval_seconds(const Interval *span)
{
	return span->time / (double) USECS_PER_SEC
		+ (DAYS_PER_YEAR * SECS_PER_DAY) * (span->month / MONTHS_PER_YEAR)
		+ ((double) DAYS_PER_MONTH * SECS_PER_DAY) * (span->month % MONTHS_PER_YEAR)
		+ (double) SECS_PER_DAY * span->day;
}

/*
 * The unit an age of secs seconds is told in: its length in seconds, and
 * its name; 0 for "just now".
 */
static int
age_unit(double secs, const char **name)
{
	if (secs < 1)
		return 0;
	if (secs < SECS_PER_MINUTE)
	{
		*name = "second";
		return 1;
	}
	if (secs < SECS_PER_HOUR)
	{
		*name = "minute";
		return SECS_PER_MINUTE;
	}
	if (secs < 2 * SECS_PER_DAY)
	{
		*name = "hour";
		return SECS_PER_HOUR;
	}
	*name = "day";
	return SECS_PER_DAY;
}

/*
 * reporting_age_words
 *		"just now", "1 second ago", "45 seconds ago", "2 minutes ago", "3
 *		hours ago" (up to 47), "4 days ago": an age in the largest unit that
 *		fits, rounded down.  Returns a palloc'd string.
 */
char *
reporting_age_words(double secs)
{
	const char *name = NULL;
	int			unit = age_unit(secs, &name);
	int64		n;

	if (unit == 0)
		return pstrdup("just now");
	n = (int64) floor(secs / unit);
	return psprintf(INT64_FORMAT " %s%s ago", n, name, n == 1 ? "" : "s");
}

/*
 * reporting_age_words_until
 *		The first instant after now at which the words of the age of an event
 *		at "since" (reporting_age_words(now - since)) change.  Both in
 *		TimestampTz units (µs); since <= now is expected, a later since gives
 *		the instant it stops being "just now".
 */
TimestampTz
reporting_age_words_until(TimestampTz since, TimestampTz now)
{
	double		secs = (now - since) / (double) USECS_PER_SEC;
	const char *name = NULL;
	int			unit = age_unit(secs, &name);
	double		next;

	if (unit == 0)
		next = 1;
	else
		next = (floor(secs / unit) + 1) * unit;
	return since + (TimestampTz) (next * USECS_PER_SEC);
}

/*
 * reporting._describe_age(age interval) returns text: the words of an age
 * (see reporting_age_words).  IMMUTABLE STRICT; raises nothing.
 */
Datum
reporting_describe_age(PG_FUNCTION_ARGS)
{
	Interval   *span = PG_GETARG_INTERVAL_P(0);

	PG_RETURN_TEXT_P(cstring_to_text(reporting_age_words(interval_seconds(span))));
}

/* ------------------------------------------------------------------------
 * The cache
 * ------------------------------------------------------------------------
 */

static void
invalidate_all(Datum arg, Oid relid)
{
	cache_invalidated = true;
}

static void
invalidate_all_syscache(Datum arg, int cacheid, uint32 hashvalue)
{
	cache_invalidated = true;
}

/* Empty the cache: every entry's memory goes with it. */
static void
reset_cache(void)
{
	HASH_SEQ_STATUS scan;
	FreshnessEntry *entry;

	if (freshness_cache == NULL)
		return;
	hash_seq_init(&scan, freshness_cache);
	while ((entry = hash_seq_search(&scan)) != NULL)
		if (entry->cxt != NULL)
			MemoryContextDelete(entry->cxt);
	hash_destroy(freshness_cache);
	freshness_cache = NULL;
}

static void
ensure_cache(void)
{
	HASHCTL		ctl;

	if (!callbacks_registered)
	{
		CacheRegisterRelcacheCallback(invalidate_all, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, invalidate_all_syscache, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, invalidate_all_syscache, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, invalidate_all_syscache, (Datum) 0);
		callbacks_registered = true;
	}
	if (cache_invalidated)
	{
		reset_cache();
		cache_invalidated = false;
	}
	if (freshness_cache != NULL)
		return;
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(FreshnessEntry);
	ctl.hcxt = CacheMemoryContext;
	freshness_cache = hash_create("reporting freshness cache", 64, &ctl,
								  HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
}

/* True when the caller's role and display settings are those of the entry. */
static bool
same_caller(const FreshnessEntry *entry)
{
	return entry->userid == GetUserId()
		&& entry->timezone == session_timezone
		&& entry->date_style == DateStyle
		&& entry->date_order == DateOrder
		&& entry->interval_style == IntervalStyle
		&& entry->reload_time == PgReloadTime
		&& strcmp(entry->search_path, namespace_search_path) == 0;
}

static bool
same_reason(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

/* True when this transaction wrote one of the relids. */
static bool
wrote_any(int n, const Oid *relids)
{
	for (int i = 0; i < n; i++)
		if (reporting_written_by_this_transaction(relids[i]))
			return true;
	return false;
}

/*
 * True when the entry still holds at now: same caller, clock and
 * generations, and nothing of it written by this transaction.
 */
static bool
entry_holds(const FreshnessEntry *entry, TimestampTz now)
{
	int64		gens[64];
	TimestampTz changes[64];
	const char *reasons[64];
	int64	   *g = gens;
	TimestampTz *c = changes;
	const char **r = reasons;
	bool		holds = true;

	if (entry->cxt == NULL || !same_caller(entry) ||
		now < entry->computed_at || now >= entry->valid_until ||
		entry->epoch != reporting_tracking_epoch() ||
		wrote_any(entry->nrelids, entry->relids))
		return false;
	if (entry->nrelids > lengthof(gens))
	{
		g = palloc(entry->nrelids * sizeof(int64));
		c = palloc(entry->nrelids * sizeof(TimestampTz));
		r = palloc(entry->nrelids * sizeof(char *));
	}
	reporting_read_generations(entry->nrelids, entry->relids, g, c, r, false);
	for (int i = 0; i < entry->nrelids && holds; i++)
		holds = g[i] == entry->generations[i] && same_reason(r[i], entry->reasons[i]);
	if (g != gens)
	{
		pfree(g);
		pfree(c);
		pfree(r);
	}
	return holds;
}

static char *
text_or_null(HeapTuple tuple, TupleDesc desc, int attno, MemoryContext cxt)
{
	bool		isnull;
	Datum		d = SPI_getbinval(tuple, desc, attno, &isnull);

	if (isnull)
		return NULL;
	return MemoryContextStrdup(cxt, TextDatumGetCString(d));
}

static TimestampTz
timestamp_or(HeapTuple tuple, TupleDesc desc, int attno, TimestampTz otherwise, bool *isnull)
{
	Datum		d = SPI_getbinval(tuple, desc, attno, isnull);

	return *isnull ? otherwise : DatumGetTimestampTz(d);
}

/* Fill the entry's answer and relids from the row of _freshness_row(). */
static void
fill_entry(FreshnessEntry *entry, HeapTuple tuple, TupleDesc desc, TimestampTz now)
{
	MemoryContext cxt = entry->cxt;
	bool		isnull;
	Datum		d;
	TimestampTz last_refreshed,
				last_started;
	bool		no_refresh,
				no_start,
				failed;

	entry->state = text_or_null(tuple, desc, 1, cxt);
	d = SPI_getbinval(tuple, desc, 2, &isnull);
	entry->as_of_now = !isnull && DatumGetBool(d);
	entry->as_of = timestamp_or(tuple, desc, 3, 0, &entry->as_of_null);
	entry->reason = text_or_null(tuple, desc, 4, cxt);
	entry->sentence = text_or_null(tuple, desc, 5, cxt);
	entry->next_refresh_at = timestamp_or(tuple, desc, 6, 0, &entry->next_null);

	d = SPI_getbinval(tuple, desc, 7, &isnull);
	entry->nrelids = 0;
	if (!isnull)
	{
		ArrayType  *array = DatumGetArrayTypeP(d);
		Datum	   *elems;
		int			n;

		deconstruct_array(array, OIDOID, sizeof(Oid), true, TYPALIGN_INT,
						  &elems, NULL, &n);
		entry->relids = MemoryContextAlloc(cxt, Max(n, 1) * sizeof(Oid));
		for (int i = 0; i < n; i++)
			entry->relids[i] = DatumGetObjectId(elems[i]);
		entry->nrelids = n;
	}

	entry->valid_until = timestamp_or(tuple, desc, 8, DT_NOEND, &isnull);
	last_refreshed = timestamp_or(tuple, desc, 9, 0, &no_refresh);
	last_started = timestamp_or(tuple, desc, 10, 0, &no_start);
	d = SPI_getbinval(tuple, desc, 11, &isnull);
	failed = !isnull && DatumGetBool(d);
	if (!no_refresh)
		entry->valid_until = Min(entry->valid_until,
								 reporting_age_words_until(last_refreshed, now));
	if (failed && !no_start)
		entry->valid_until = Min(entry->valid_until,
								 reporting_age_words_until(last_started, now));
}

/*
 * Record what the answer holds for: the caller, and the generations of its
 * relations, giving those without a tracking entry one so that every later
 * commit to them is counted.
 */
static void
stamp_entry(FreshnessEntry *entry, TimestampTz now)
{
	TimestampTz *changes;

	entry->userid = GetUserId();
	entry->search_path = MemoryContextStrdup(entry->cxt, namespace_search_path);
	entry->timezone = session_timezone;
	entry->date_style = DateStyle;
	entry->date_order = DateOrder;
	entry->interval_style = IntervalStyle;
	entry->reload_time = PgReloadTime;
	entry->epoch = reporting_tracking_epoch();
	entry->computed_at = now;
	entry->generations = MemoryContextAlloc(entry->cxt, Max(entry->nrelids, 1) * sizeof(int64));
	entry->reasons = MemoryContextAlloc(entry->cxt, Max(entry->nrelids, 1) * sizeof(char *));
	changes = palloc(Max(entry->nrelids, 1) * sizeof(TimestampTz));
	reporting_read_generations(entry->nrelids, entry->relids, entry->generations,
							   changes, entry->reasons, true);
	pfree(changes);
}

/*
 * Compute the answer into entry (whose cxt is fresh) with
 * reporting._freshness_row(), as the caller.
 */
static void
compute_entry(FreshnessEntry *entry, Oid view, TimestampTz now)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(view)};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT f.state, f.as_of_now, f.as_of, f.reason, f.sentence,"
							  " f.next_refresh_at, f.relids, f.valid_until,"
							  " f.last_refreshed_at, f.last_started_at, f.last_failed"
							  " FROM reporting._freshness_row($1) f",
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "reporting._freshness_row() returned no row");
	fill_entry(entry, SPI_tuptable->vals[0], SPI_tuptable->tupdesc, now);
	SPI_finish();
}

/*
 * The entry for view, computed again unless it still holds.  An answer that
 * must not be kept (see the file header) is computed into a transient entry
 * in the caller's memory context.
 */
static FreshnessEntry *
lookup_entry(Oid view, TimestampTz now, FreshnessEntry *transient)
{
	FreshnessEntry *entry;
	bool		found;
	bool		keep;

	AcceptInvalidationMessages();
	ensure_cache();
	entry = hash_search(freshness_cache, &view, HASH_ENTER, &found);
	if (!found)
		entry->cxt = NULL;
	else if (entry_holds(entry, now))
		return entry;

	keep = !IsolationUsesXactSnapshot();
	memset(transient, 0, sizeof(FreshnessEntry));
	transient->view = view;
	transient->cxt = AllocSetContextCreate(keep ? CacheMemoryContext : CurrentMemoryContext,
										   "reporting freshness entry",
										   ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		compute_entry(transient, view, now);
		keep = keep && !wrote_any(transient->nrelids, transient->relids);
		if (keep)
			stamp_entry(transient, now);
	}
	PG_CATCH();
	{
		MemoryContextDelete(transient->cxt);
		PG_RE_THROW();
	}
	PG_END_TRY();

	/* the SQL above may have brought invalidations that emptied the cache */
	if (!keep || cache_invalidated || freshness_cache == NULL)
		return transient;
	entry = hash_search(freshness_cache, &view, HASH_ENTER, &found);
	if (found && entry->cxt != NULL)
		MemoryContextDelete(entry->cxt);
	*entry = *transient;
	transient->cxt = NULL;
	return entry;
}

/* One answer of reporting.freshness(), for a call at now. */
typedef struct FreshnessAnswer
{
	bool		fresh;
	bool		registered;
	bool		as_of_null;
	TimestampTz as_of;
	Interval   *lag;			/* NULL when as_of is */
} FreshnessAnswer;

/* Check the arguments of freshness() and assert_fresh() (see there). */
static void
check_arguments(FunctionCallInfo fcinfo, bool within_required)
{
	if (PG_ARGISNULL(0) || (within_required && PG_ARGISNULL(1)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("\"%s\" must not be null", PG_ARGISNULL(0) ? "view" : "within")));
	if (!PG_ARGISNULL(1))
	{
		Interval	zero = {0, 0, 0};

		if (DatumGetBool(DirectFunctionCall2(interval_lt, PG_GETARG_DATUM(1),
											 IntervalPGetDatum(&zero))))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("\"within\" must not be negative")));
	}
}

/*
 * The time-dependent part of the answer: as_of (now while the view holds
 * every committed change), lag, and fresh (unchanged; with within, a lag of
 * at most within).
 */
static void
answer_at(const FreshnessEntry *entry, TimestampTz now, Datum within, bool within_null,
		  FreshnessAnswer *answer)
{
	answer->registered = strcmp(entry->state, "unregistered") != 0;
	answer->as_of_null = !entry->as_of_now && entry->as_of_null;
	answer->as_of = entry->as_of_now ? now : entry->as_of;
	answer->lag = NULL;
	if (!answer->as_of_null)
		answer->lag = DatumGetIntervalP(DirectFunctionCall2(timestamp_mi,
															TimestampTzGetDatum(now),
															TimestampTzGetDatum(answer->as_of)));
	if (within_null)
		answer->fresh = strcmp(entry->state, "unchanged") == 0;
	else
		answer->fresh = answer->lag != NULL &&
			DatumGetBool(DirectFunctionCall2(interval_le, IntervalPGetDatum(answer->lag), within));
}

/* Forget a transient entry (see lookup_entry); a cached one stays. */
static void
release_entry(FreshnessEntry *entry, FreshnessEntry *transient)
{
	if (entry == transient && transient->cxt != NULL)
		MemoryContextDelete(transient->cxt);
}

/*
 * reporting.freshness(view regclass, within interval DEFAULT NULL)
 *		One row, never raising for a stale view: fresh (no committed change
 *		missing; with "within", the lag at most that), as_of (up to when the
 *		view holds every committed change; NULL when unknown), lag (now() -
 *		as_of), reason (why it is not fresh, NULL when it is), the freshness
 *		sentence of reporting.status, and next_refresh_at.  An unregistered
 *		view gives fresh false and the reason.
 *
 * Raises 22004 when view is NULL, 22023 when within is negative.
 */
Datum
reporting_freshness(PG_FUNCTION_ARGS)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	FreshnessEntry transient;
	FreshnessEntry *entry;
	FreshnessAnswer answer;
	TupleDesc	desc;
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};
	HeapTuple	tuple;

	check_arguments(fcinfo, false);
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "reporting.freshness() must return a record");

	entry = lookup_entry(PG_GETARG_OID(0), now, &transient);
	answer_at(entry, now, PG_GETARG_DATUM(1), PG_ARGISNULL(1), &answer);

	values[0] = BoolGetDatum(answer.fresh);
	values[1] = TimestampTzGetDatum(answer.as_of);
	nulls[1] = answer.as_of_null;
	values[2] = answer.lag ? IntervalPGetDatum(answer.lag) : (Datum) 0;
	nulls[2] = answer.lag == NULL;
	values[3] = entry->reason ? CStringGetTextDatum(entry->reason) : (Datum) 0;
	nulls[3] = entry->reason == NULL;
	values[4] = CStringGetTextDatum(entry->sentence ? entry->sentence : "");
	values[5] = TimestampTzGetDatum(entry->next_refresh_at);
	nulls[5] = entry->next_null;
	tuple = heap_form_tuple(BlessTupleDesc(desc), values, nulls);
	release_entry(entry, &transient);
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

/*
 * reporting.assert_fresh(view regclass, within interval) returns void
 *		Returns quietly when the view holds every committed change (through
 *		the materialized views it reads) or is behind by at most within (the
 *		answer of freshness(view, within), from its cache).  Otherwise
 *		reporting._assert_fresh_detail() raises RP001 with the exact words.
 *
 * Raises 22004 when an argument is NULL, 22023 when within is negative,
 * 42704 when the view is not registered, RP001 when it is stale.
 */
Datum
reporting_assert_fresh(PG_FUNCTION_ARGS)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	FreshnessEntry transient;
	FreshnessEntry *entry;
	FreshnessAnswer answer;
	Oid			view = PG_GETARG_OID(0);
	Oid			argtypes[2] = {REGCLASSOID, INTERVALOID};
	Datum		values[2];

	check_arguments(fcinfo, true);
	entry = lookup_entry(view, now, &transient);
	answer_at(entry, now, PG_GETARG_DATUM(1), false, &answer);
	release_entry(entry, &transient);
	if (!answer.registered)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("materialized view \"%s\" is not registered",
						reporting_display_name(view)),
				 errhint("Register it first with reporting.register().")));
	if (answer.fresh)
		PG_RETURN_VOID();

	values[0] = ObjectIdGetDatum(view);
	values[1] = PG_GETARG_DATUM(1);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	SPI_execute_with_args("SELECT reporting._assert_fresh_detail($1, $2)",
						  2, argtypes, values, NULL, false, 1);
	SPI_finish();
	PG_RETURN_VOID();
}
