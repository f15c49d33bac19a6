/*-------------------------------------------------------------------------
 *
 * freshness.c
 *		reporting.freshness(): one row per call, answered from a per-backend
 *		cache while nothing the answer depends on has changed; and the words
 *		of the freshness sentence ("refreshed every 5 minutes; last refreshed
 *		3 minutes ago").
 *
 * Computing the answer (reporting._freshness_row(), in SQL) walks the
 * view's sources, its upstream reports and its history: milliseconds.  An
 * API guarding every request with freshness() needs microseconds, and the
 * answer changes only when one of these does, each of which the cache
 * checks on every call:
 *
 *	- a committed write to a relation the verdict read (the view, every
 *	  upstream materialized view it follows, the tables standing for their
 *	  sources) or to reporting.registrations or reporting.refresh_grants
 *	  (which decide the registrations and runs a role sees): their change
 *	  generations (tracking.c) are compared with those the answer was
 *	  computed from.
 *	  The relations get tracking entries when the answer is computed, so
 *	  that every later commit to them is counted;
 *	- a committed change to the history (reporting.runs) of the view or of
 *	  an upstream report it follows: their history generations
 *	  (run_generations.c);
 *	- DDL: a relcache invalidation of a relation it read forgets it, and
 *	  syscache invalidations of functions, schemas and roles empty the
 *	  cache (the DDL that changes results without writing rows also bumps
 *	  every generation); so do changes of role membership, which decide
 *	  the registrations and runs a role sees;
 *	- login defaults (ALTER ROLE / DATABASE ... SET, maybe run in another
 *	  database), for an answer that depends on the date in its owner's
 *	  time zone: a stamp of pg_db_role_setting;
 *	- the caller: role, display settings (TimeZone, DateStyle,
 *	  IntervalStyle, search_path), row_security (off, the policies on the
 *	  registrations and runs raise rather than hide), a configuration
 *	  reload, the tracker's epoch;
 *	- the clock: the answer's valid_until (the next midnight of a date a
 *	  query depends on).
 *
 * The generations are read before the answer is computed (a commit becomes
 * visible before its generations move: one counted then is in the answer,
 * one not counted yet moves them later).  Neither used nor kept in a
 * transaction with an xid: it may have changed the catalog (a view
 * redefined, a grant, a role's settings), which its own answers see, and
 * which no invalidation or generation tells of before it ends (a rollback
 * would leave a kept answer computed from a catalog that never was).  Not
 * kept: an answer computed in a transaction that wrote one of those
 * relations or history (its own changes count, uncommitted), under
 * REPEATABLE READ or SERIALIZABLE (whose snapshot may be older than the
 * generations), or while
 * a generation is unknown (tracking off, a prepared transaction pending).
 * The time-dependent fields (fresh for a "within", as_of while unchanged,
 * lag, and the ages and close-of-day words of the sentence) are computed at
 * every call.
 *
 * reporting._freshness_cached() returns the whole row, for reporting.status.
 *
 * The idea of keying a cached plan or answer on invalidation callbacks is
 * PostgreSQL's own (src/backend/utils/cache/plancache.c, relcache.c).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/pg_db_role_setting.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
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
#include "utils/rls.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"

#include "freshness.h"
#include "run_generations.h"
#include "reporting.h"
#include "tracking.h"

PG_FUNCTION_INFO_V1(reporting_freshness);
PG_FUNCTION_INFO_V1(reporting_describe_age);
PG_FUNCTION_INFO_V1(reporting_describe_freshness);
PG_FUNCTION_INFO_V1(reporting_assert_fresh);
PG_FUNCTION_INFO_V1(reporting_freshness_cached);
PG_FUNCTION_INFO_V1(reporting_freshness_verdict);

/* The generations an answer was computed from. */
typedef struct FreshnessStamp
{
	int64	   *generations;	/* of relids, from tracking.c */
	const char **reasons;		/* tracking.c's reasons; none when kept */
	uint64	   *run_generations;	/* of views, from run_generations.c */
	uint64		everything;		/* run_generations.c's database-wide one */
	uint64		role_settings;	/* of pg_db_role_setting (role_settings_stamp) */
} FreshnessStamp;

/*
 * What a cached answer holds: the whole row (freshness(), status), or the
 * verdict alone (the skip decisions of the scheduler and refresh_all()),
 * which the history changes only through the view's successful refreshes,
 * not with every skip or failure recorded.
 */
typedef enum AnswerKind
{
	ANSWER_WHOLE = 0,
	ANSWER_VERDICT = 1
} AnswerKind;

typedef struct FreshnessKey
{
	Oid			view;
	int			kind;			/* AnswerKind */
} FreshnessKey;

/* One view's answer, and what it was computed from. */
typedef struct FreshnessEntry
{
	FreshnessKey key;			/* hash key */
	MemoryContext cxt;			/* holds everything below; NULL if empty */
	bool		stale;			/* a relation it read changed in the catalog */

	/* the row of reporting._freshness_row(), and what freshness() needs */
	HeapTuple	row;
	TupleDesc	desc;
	char	   *state;			/* unchanged, changed, unknown, unregistered */
	bool		as_of_now;		/* as_of is the time of the call */
	bool		as_of_null;
	TimestampTz as_of;
	char	   *reason;			/* NULL for none */
	bool		next_null;
	TimestampTz next_refresh_at;

	/* the freshness sentence, whose ages are told at each call */
	char	   *schedule;		/* reporting._describe_schedule()'s words */
	char	   *cron;			/* NULL for none */
	char	   *timezone_name;	/* the registration's; NULL: the session's */
	bool		refreshed;
	TimestampTz last_refreshed_at;
	bool		failed;
	TimestampTz last_started_at;
	char	   *verdict_words;	/* _describe_verdict()'s, "" for none */

	/* what it holds for */
	Oid			userid;
	char	   *search_path;
	pg_tz	   *timezone;
	int			date_style;
	int			date_order;
	int			interval_style;
	bool		row_security;	/* off: RLS raises instead of hiding rows */
	TimestampTz reload_time;
	int64		epoch;
	TimestampTz computed_at;	/* now() of the computing transaction */
	TimestampTz valid_until;	/* DT_NOEND for no bound */
	int			nrelids;
	Oid		   *relids;
	int			nviews;
	Oid		   *views;
	FreshnessStamp stamp;
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

/* True when cron is "M H * * *" with H a single digit 0-5: a daily refresh
 * early in the morning, which holds the previous day's close. */
static bool
early_daily_cron(const char *cron)
{
	char	   *copy = pstrdup(cron);
	char	   *fields[6];
	int			n = 0;
	char	   *save = NULL;

	for (char *tok = strtok_r(copy, " \t\n\r\f\v", &save); tok != NULL && n < 6;
		 tok = strtok_r(NULL, " \t\n\r\f\v", &save))
		fields[n++] = tok;
	if (n != 5 || strspn(fields[0], "0123456789") != strlen(fields[0]) ||
		strlen(fields[1]) != 1 || fields[1][0] < '0' || fields[1][0] > '5')
		return false;
	for (int i = 2; i < 5; i++)
		if (strcmp(fields[i], "*") != 0)
			return false;
	return true;
}

/* The local date (Julian day) and hour of ts in tz. */
static int
local_day(TimestampTz ts, pg_tz *tz, int *hour)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			offset;

	if (timestamp2tm(ts, &offset, &tm, &fsec, NULL, tz) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("timestamp out of range")));
	if (hour)
		*hour = tm.tm_hour;
	return date2j(tm.tm_year, tm.tm_mon, tm.tm_mday);
}

/*
 * reporting_freshness_words
 *		The freshness sentence of reporting.status up to its verdict:
 *		"refreshed <schedule>", then "; never refreshed", or the close an
 *		early-morning daily cron refresh holds (" — yesterday's close", " —
 *		the close of Saturday 08 Mar 2025", in tz), or "; last refreshed <age>";
 *		then "; the last attempt failed <age>" after a failure.  schedule is
 *		reporting._describe_schedule()'s words; cron may be NULL; tz is the
 *		registration's time zone (NULL: the session's); times in µs.
 *		Raises 22008 for a time out of range.
 */
char *
reporting_freshness_words(const char *schedule, const char *cron, const char *tzname,
						  bool refreshed, TimestampTz last_refreshed_at,
						  bool failed, TimestampTz last_started_at, TimestampTz now)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfo(&buf, "refreshed %s", schedule);
	if (!refreshed)
		appendStringInfoString(&buf, "; never refreshed");
	else
	{
		pg_tz	   *tz = reporting_schedule_timezone(tzname);
		int			hour;
		int			start_day = local_day(last_refreshed_at, tz, &hour);

		if (cron != NULL && early_daily_cron(cron) && hour < 6)
		{
			int			close_day = start_day - 1;
			int			year,
						month,
						day;

			if (close_day == local_day(now, tz, NULL) - 1)
				appendStringInfoString(&buf, " — yesterday's close");
			else
			{
				j2date(close_day, &year, &month, &day);
				appendStringInfo(&buf, " — the close of %s %02d %s %04d",
								 days[j2day(close_day)], day, months[month - 1], year);
			}
		}
		else
			appendStringInfo(&buf, "; last refreshed %s",
							 reporting_age_words((now - last_refreshed_at) / (double) USECS_PER_SEC));
	}
	if (failed)
		appendStringInfo(&buf, "; the last attempt failed %s",
						 reporting_age_words((now - last_started_at) / (double) USECS_PER_SEC));
	return buf.data;
}

/*
 * reporting._describe_freshness(view_exists bool, every interval, cron
 * text, timezone text, last_refreshed_at timestamptz, last_status text,
 * last_started_at timestamptz, now timestamptz) returns text: the sentence
 * of reporting_freshness_words (a view that no longer exists says so).
 * Raises what reporting._describe_schedule() raises.
 */
Datum
reporting_describe_freshness(PG_FUNCTION_ARGS)
{
	Oid			argtypes[3] = {INTERVALOID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[3];
	char	   *schedule;
	char	   *cron = PG_ARGISNULL(2) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *tzname = PG_ARGISNULL(3) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(3));
	bool		failed;
	char	   *sentence;
	MemoryContext outer = CurrentMemoryContext;

	for (int i = 0; i < 3; i++)
	{
		values[i] = PG_GETARG_DATUM(i + 1);
		nulls[i] = PG_ARGISNULL(i + 1) ? 'n' : ' ';
	}
	if (PG_ARGISNULL(7))
		PG_RETURN_NULL();
	/* the SQL below names the schema "reporting": it must be ours */
	(void) reporting_check_schema(ERROR);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	SPI_execute_with_args("SELECT reporting._describe_schedule($1, $2, $3)",
						  3, argtypes, values, nulls, true, 1);
	schedule = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	schedule = MemoryContextStrdup(outer, schedule ? schedule : "");
	SPI_finish();

	if (!PG_ARGISNULL(0) && !PG_GETARG_BOOL(0))
		PG_RETURN_TEXT_P(cstring_to_text(psprintf("refreshed %s; the materialized view no longer exists",
												  schedule)));
	failed = !PG_ARGISNULL(5) && strcmp(text_to_cstring(PG_GETARG_TEXT_PP(5)), "failed") == 0;
	if (failed && PG_ARGISNULL(6))
		PG_RETURN_NULL();
	sentence = reporting_freshness_words(schedule, cron, tzname, !PG_ARGISNULL(4),
										 PG_ARGISNULL(4) ? 0 : PG_GETARG_TIMESTAMPTZ(4),
										 failed, PG_ARGISNULL(6) ? 0 : PG_GETARG_TIMESTAMPTZ(6),
										 PG_GETARG_TIMESTAMPTZ(7));
	PG_RETURN_TEXT_P(cstring_to_text(sentence));
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

/*
 * A relation changed in the catalog: forget the answers that read it (all
 * of them for InvalidOid).  Plain views are not among what an answer read,
 * but the DDL that changes what they return also bumps every generation
 * (tracking.c, ddl_changes_results); temporary tables, which REFRESH ...
 * CONCURRENTLY makes, invalidate nothing here.
 */
static void
invalidate_relation(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS scan;
	FreshnessEntry *entry;

	if (!OidIsValid(relid))
	{
		cache_invalidated = true;
		return;
	}
	if (freshness_cache == NULL)
		return;
	hash_seq_init(&scan, freshness_cache);
	while ((entry = hash_seq_search(&scan)) != NULL)
	{
		if (entry->cxt == NULL || entry->stale)
			continue;
		if (entry->key.view == relid)
			entry->stale = true;
		for (int i = 0; i < entry->nrelids && !entry->stale; i++)
			entry->stale = entry->relids[i] == relid;
	}
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
		CacheRegisterRelcacheCallback(invalidate_relation, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, invalidate_all_syscache, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, invalidate_all_syscache, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, invalidate_all_syscache, (Datum) 0);
		/* role membership decides which registrations and runs one sees */
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, invalidate_all_syscache, (Datum) 0);
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
	ctl.keysize = sizeof(FreshnessKey);
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
		&& entry->row_security == row_security
		&& entry->reload_time == PgReloadTime
		&& strcmp(entry->search_path, namespace_search_path) == 0;
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
 * No prepared transaction is left in the cluster: let the history
 * generations be trusted again (see run_generations.c).
 */
static void
forget_prepared_history(int64 stamp)
{
	bool		none_left;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	SPI_execute("SELECT NOT EXISTS (SELECT 1 FROM pg_catalog.pg_prepared_xacts)", true, 1);
	none_left = SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &(bool){false}));
	SPI_finish();
	if (none_left)
		reporting_run_generations_forget_prepared(stamp);
}

/*
 * A stamp of the login defaults of every role and database
 * (pg_db_role_setting): a date-dependent verdict compares dates in the time
 * zone its view's refreshes run with, its owner's login default.  ALTER
 * ROLE / ALTER DATABASE ... SET may run in another database, where no
 * generation of this one moves, and sends no invalidation a callback sees;
 * the catalog snapshot is renewed by them, so a scan tells.  The table
 * holds a row per role or database with settings: a few.
 */
static uint64
role_settings_stamp(void)
{
	Relation	rel = table_open(DbRoleSettingRelationId, AccessShareLock);
	SysScanDesc scan = systable_beginscan(rel, InvalidOid, false, NULL, 0, NULL);
	HeapTuple	tuple;
	uint64		stamp = 0;

	while (HeapTupleIsValid(tuple = systable_getnext(scan)))
		stamp = hash_combine64(stamp,
							   hash_bytes_extended((const unsigned char *) tuple->t_data + tuple->t_data->t_hoff,
												   tuple->t_len - tuple->t_data->t_hoff, 0));
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return stamp;
}

/*
 * Read the generations of relids and views into stamp (allocated in cxt).
 * create gives relations without a tracking entry one; role_settings reads
 * the stamp of the login defaults too (0 otherwise).  Returns false when
 * an answer computed now must not be kept (see the file header).
 */
static bool
read_stamp(int nrelids, const Oid *relids, int nviews, const Oid *views, int kind,
		   bool create, bool role_settings, MemoryContext cxt, FreshnessStamp *stamp)
{
	TimestampTz *changes = palloc(Max(nrelids, 1) * sizeof(TimestampTz));
	int64		prepare_stamp;

	stamp->generations = MemoryContextAlloc(cxt, Max(nrelids, 1) * sizeof(int64));
	stamp->reasons = MemoryContextAlloc(cxt, Max(nrelids, 1) * sizeof(char *));
	stamp->run_generations = MemoryContextAlloc(cxt, Max(nviews, 1) * sizeof(uint64));
	if (wrote_any(nrelids, relids))
		return false;
	stamp->role_settings = role_settings ? role_settings_stamp() : 0;
	reporting_read_generations(nrelids, relids, stamp->generations, changes,
							   stamp->reasons, create);
	pfree(changes);
	for (int i = 0; i < nrelids; i++)
		if (stamp->reasons[i] != NULL)
			return false;
	if (reporting_run_generations(nviews, views, stamp->run_generations,
								  &stamp->everything, &prepare_stamp, kind == ANSWER_VERDICT))
		return true;
	if (prepare_stamp < 0)
		return false;
	forget_prepared_history(prepare_stamp);
	return reporting_run_generations(nviews, views, stamp->run_generations,
									 &stamp->everything, &prepare_stamp, kind == ANSWER_VERDICT);
}

static bool
same_stamp(const FreshnessStamp *a, const FreshnessStamp *b, int nrelids, int nviews)
{
	return a->everything == b->everything &&
		a->role_settings == b->role_settings &&
		memcmp(a->generations, b->generations, nrelids * sizeof(int64)) == 0 &&
		memcmp(a->run_generations, b->run_generations, nviews * sizeof(uint64)) == 0;
}

/*
 * True when the entry still holds at now: same caller, clock and
 * generations, and nothing of it written by this transaction.
 */
static bool
entry_holds(const FreshnessEntry *entry, TimestampTz now)
{
	FreshnessStamp current;
	bool		holds;

	if (entry->cxt == NULL || entry->stale || !same_caller(entry) ||
		now < entry->computed_at || now >= entry->valid_until ||
		entry->epoch != reporting_tracking_epoch())
		return false;
	holds = read_stamp(entry->nrelids, entry->relids, entry->nviews, entry->views, entry->key.kind,
					   false, entry->valid_until != DT_NOEND, CurrentMemoryContext, &current) &&
		same_stamp(&current, &entry->stamp, entry->nrelids, entry->nviews);
	pfree(current.generations);
	pfree(current.reasons);
	pfree(current.run_generations);
	return holds;
}

static int
column(TupleDesc desc, const char *name)
{
	int			attno = SPI_fnumber(desc, name);

	if (attno <= 0)
		elog(ERROR, "reporting._freshness_row() has no column \"%s\"", name);
	return attno;
}

static Datum
field(const FreshnessEntry *entry, const char *name, bool *isnull)
{
	return heap_getattr(entry->row, column(entry->desc, name), entry->desc, isnull);
}

static char *
text_field(const FreshnessEntry *entry, const char *name)
{
	bool		isnull;
	Datum		d = field(entry, name, &isnull);

	return isnull ? NULL : MemoryContextStrdup(entry->cxt, TextDatumGetCString(d));
}

static TimestampTz
timestamp_field(const FreshnessEntry *entry, const char *name, TimestampTz otherwise, bool *isnull)
{
	Datum		d = field(entry, name, isnull);

	return *isnull ? otherwise : DatumGetTimestampTz(d);
}

static Oid *
oid_array_field(const FreshnessEntry *entry, const char *name, int *n)
{
	bool		isnull;
	Datum		d = field(entry, name, &isnull);
	Datum	   *elems;
	Oid		   *oids;

	*n = 0;
	if (isnull)
		return MemoryContextAlloc(entry->cxt, sizeof(Oid));
	deconstruct_array(DatumGetArrayTypeP(d), OIDOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, NULL, n);
	oids = MemoryContextAlloc(entry->cxt, Max(*n, 1) * sizeof(Oid));
	for (int i = 0; i < *n; i++)
		oids[i] = DatumGetObjectId(elems[i]);
	return oids;
}

/*
 * Take in the row of _freshness_row(): the answer, what it read, until when
 * the clock leaves it alone, and the pieces of its sentence.
 */
static void
fill_entry(FreshnessEntry *entry, HeapTuple tuple, TupleDesc desc)
{
	MemoryContext old = MemoryContextSwitchTo(entry->cxt);
	bool		isnull;
	bool		failed_null;
	Datum		d;

	entry->row = heap_copytuple(tuple);
	entry->desc = CreateTupleDescCopy(desc);
	MemoryContextSwitchTo(old);

	entry->state = text_field(entry, "state");
	d = field(entry, "as_of_now", &isnull);
	entry->as_of_now = !isnull && DatumGetBool(d);
	entry->as_of = timestamp_field(entry, "as_of", 0, &entry->as_of_null);
	entry->reason = text_field(entry, "reason");
	entry->next_refresh_at = timestamp_field(entry, "next_refresh_at", 0, &entry->next_null);
	entry->relids = oid_array_field(entry, "relids", &entry->nrelids);
	entry->views = oid_array_field(entry, "views", &entry->nviews);
	entry->valid_until = timestamp_field(entry, "valid_until", DT_NOEND, &isnull);

	entry->schedule = text_field(entry, "schedule");
	entry->cron = text_field(entry, "cron");
	entry->timezone_name = text_field(entry, "timezone");
	entry->last_refreshed_at = timestamp_field(entry, "last_refreshed_at", 0, &isnull);
	entry->refreshed = !isnull;
	entry->last_started_at = timestamp_field(entry, "last_started_at", 0, &isnull);
	d = field(entry, "last_failed", &failed_null);
	entry->failed = !failed_null && DatumGetBool(d) && !isnull;
	entry->verdict_words = text_field(entry, "verdict_words");
}

/* The freshness sentence of an entry at now ("not registered" for none). */
static char *
entry_sentence(const FreshnessEntry *entry, TimestampTz now)
{
	if (entry->schedule == NULL)
		return pstrdup("not registered");
	return psprintf("%s%s",
					reporting_freshness_words(entry->schedule, entry->cron, entry->timezone_name,
											  entry->refreshed, entry->last_refreshed_at,
											  entry->failed, entry->last_started_at, now),
					entry->verdict_words ? entry->verdict_words : "");
}

/*
 * Compute the answer into a fresh entry, in a new memory context under
 * parent, with reporting._freshness_row(), as the caller.
 */
static void
compute_entry(FreshnessEntry *entry, Oid view, int kind, TimestampTz now, MemoryContext parent)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(view)};

	memset(entry, 0, sizeof(FreshnessEntry));
	entry->key.view = view;
	entry->key.kind = kind;
	entry->cxt = AllocSetContextCreate(parent, "reporting freshness entry",
									   ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		/* the SQL below names the schema "reporting": it must be ours */
		(void) reporting_check_schema(ERROR);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		if (SPI_execute_with_args("SELECT * FROM reporting._freshness_row($1)",
								  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT ||
			SPI_processed != 1)
			elog(ERROR, "reporting._freshness_row() returned no row");
		fill_entry(entry, SPI_tuptable->vals[0], SPI_tuptable->tupdesc);
		SPI_finish();
	}
	PG_CATCH();
	{
		MemoryContextDelete(entry->cxt);
		entry->cxt = NULL;
		PG_RE_THROW();
	}
	PG_END_TRY();
}

static bool
same_oids(int n1, const Oid *a, int n2, const Oid *b)
{
	return n1 == n2 && memcmp(a, b, n1 * sizeof(Oid)) == 0;
}

/* Record the caller an entry about to be kept was computed for. */
static void
stamp_caller(FreshnessEntry *entry, TimestampTz now)
{
	entry->userid = GetUserId();
	entry->search_path = MemoryContextStrdup(entry->cxt, namespace_search_path);
	entry->timezone = session_timezone;
	entry->date_style = DateStyle;
	entry->date_order = DateOrder;
	entry->interval_style = IntervalStyle;
	entry->row_security = row_security;
	entry->reload_time = PgReloadTime;
	entry->epoch = reporting_tracking_epoch();
	entry->computed_at = now;
}

/*
 * What the answer for view will read (reporting._freshness_reads()), in
 * cxt.
 */
static void
guess_reads(Oid view, MemoryContext cxt, int *nrelids, Oid **relids, int *nviews, Oid **views)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(view)};
	FreshnessEntry shape;

	memset(&shape, 0, sizeof(shape));
	shape.cxt = cxt;
	/* the SQL below names the schema "reporting": it must be ours */
	(void) reporting_check_schema(ERROR);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute_with_args("SELECT relids, views FROM reporting._freshness_reads($1)",
							  1, argtypes, values, NULL, false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "reporting._freshness_reads() returned no row");
	shape.row = SPI_tuptable->vals[0];
	shape.desc = SPI_tuptable->tupdesc;
	*relids = oid_array_field(&shape, "relids", nrelids);
	*views = oid_array_field(&shape, "views", nviews);
	SPI_finish();
}

/*
 * Compute the answer for view into *result, and say whether it may be kept.
 * The generations of what it reads are read first: a commit becomes visible
 * before its generations move, so one counted then is seen by the answer,
 * and one not counted yet makes the generations differ at the next call.
 * What it reads is guessed from the entry computed before (old, may be
 * NULL) or asked first; an answer that read something else is not kept.
 */
static bool
compute_keepable(Oid view, int kind, TimestampTz now, const FreshnessEntry *old,
				 FreshnessEntry *result)
{
	MemoryContext scratch = AllocSetContextCreate(CurrentMemoryContext, "reporting freshness stamp",
												  ALLOCSET_SMALL_SIZES);
	int			nrelids;
	int			nviews;
	Oid		   *relids;
	Oid		   *views;
	FreshnessStamp before;
	bool		keep;

	if (old != NULL)
	{
		nrelids = old->nrelids;
		nviews = old->nviews;
		relids = MemoryContextAlloc(scratch, Max(nrelids, 1) * sizeof(Oid));
		memcpy(relids, old->relids, nrelids * sizeof(Oid));
		views = MemoryContextAlloc(scratch, Max(nviews, 1) * sizeof(Oid));
		memcpy(views, old->views, nviews * sizeof(Oid));
	}
	else
		guess_reads(view, scratch, &nrelids, &relids, &nviews, &views);

	keep = read_stamp(nrelids, relids, nviews, views, kind, true, true, scratch, &before);
	compute_entry(result, view, kind, now, CacheMemoryContext);
	keep = keep &&
		same_oids(nrelids, relids, result->nrelids, result->relids) &&
		same_oids(nviews, views, result->nviews, result->views);
	if (keep)
	{
		result->stamp.generations = MemoryContextAlloc(result->cxt, Max(nrelids, 1) * sizeof(int64));
		memcpy(result->stamp.generations, before.generations, nrelids * sizeof(int64));
		result->stamp.reasons = NULL;
		result->stamp.run_generations = MemoryContextAlloc(result->cxt, Max(nviews, 1) * sizeof(uint64));
		memcpy(result->stamp.run_generations, before.run_generations, nviews * sizeof(uint64));
		result->stamp.everything = before.everything;
		result->stamp.role_settings = result->valid_until != DT_NOEND ? before.role_settings : 0;
		stamp_caller(result, now);
	}
	MemoryContextDelete(scratch);
	return keep;
}

/*
 * The entry for view: the cached one while it holds, else computed again.
 * An answer that must not be kept (see the file header) is computed into
 * *transient, which the caller passes to release_entry.
 */
static FreshnessEntry *
lookup_entry(Oid view, int kind, TimestampTz now, FreshnessEntry *transient)
{
	FreshnessKey key;
	FreshnessEntry *entry;
	bool		found;
	bool		keep;

	AcceptInvalidationMessages();
	ensure_cache();

	/*
	 * A transaction that ran DDL changing results (a view in between
	 * redefined, a role's settings) sees its effect, which no invalidation or
	 * generation tells the cache of before it commits (or rolls back): it
	 * neither uses the cache nor fills it.  Its writes are seen through the
	 * generations (their relations, their history rows).
	 */
	if (reporting_results_ddl_pending())
	{
		compute_entry(transient, view, kind, now, CurrentMemoryContext);
		return transient;
	}
	memset(&key, 0, sizeof(key));
	key.view = view;
	key.kind = kind;
	entry = hash_search(freshness_cache, &key, HASH_ENTER, &found);
	if (!found)
		entry->cxt = NULL;
	else if (entry_holds(entry, now))
		return entry;

	if (IsolationUsesXactSnapshot())
	{
		compute_entry(transient, view, kind, now, CurrentMemoryContext);
		return transient;
	}
	keep = compute_keepable(view, kind, now, entry->cxt ? entry : NULL, transient);

	/* the SQL above may have brought invalidations that emptied the cache */
	if (!keep || cache_invalidated || freshness_cache == NULL)
		return transient;
	entry = hash_search(freshness_cache, &key, HASH_ENTER, &found);
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

	entry = lookup_entry(PG_GETARG_OID(0), ANSWER_WHOLE, now, &transient);
	answer_at(entry, now, PG_GETARG_DATUM(1), PG_ARGISNULL(1), &answer);

	values[0] = BoolGetDatum(answer.fresh);
	values[1] = TimestampTzGetDatum(answer.as_of);
	nulls[1] = answer.as_of_null;
	values[2] = answer.lag ? IntervalPGetDatum(answer.lag) : (Datum) 0;
	nulls[2] = answer.lag == NULL;
	values[3] = entry->reason ? CStringGetTextDatum(entry->reason) : (Datum) 0;
	nulls[3] = entry->reason == NULL;
	values[4] = CStringGetTextDatum(entry_sentence(entry, now));
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
	entry = lookup_entry(view, ANSWER_WHOLE, now, &transient);
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
	/* the SQL below names the schema "reporting": it must be ours */
	(void) reporting_check_schema(ERROR);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	SPI_execute_with_args("SELECT reporting._assert_fresh_detail($1, $2)",
						  2, argtypes, values, NULL, false, 1);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * reporting._freshness_cached(view regclass) returns the row of
 * reporting._freshness_row() (see there), from the cache while it holds,
 * with as_of the time of the call while the view holds every committed
 * change.  NULL for a relation that no longer exists.  STRICT; raises what
 * _freshness_row() raises.
 */
Datum
reporting_freshness_cached(PG_FUNCTION_ARGS)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Oid			view = PG_GETARG_OID(0);
	FreshnessEntry transient;
	FreshnessEntry *entry;
	TupleDesc	desc;
	Datum	   *values;
	bool	   *nulls;
	HeapTuple	tuple;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(view)))
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "reporting._freshness_cached() must return a record");
	entry = lookup_entry(view, ANSWER_WHOLE, now, &transient);
	if (entry->desc->natts != desc->natts)
		elog(ERROR, "reporting._freshness_cached() and reporting._freshness_row() return different rows");
	values = palloc(desc->natts * sizeof(Datum));
	nulls = palloc(desc->natts * sizeof(bool));
	heap_deform_tuple(entry->row, entry->desc, values, nulls);
	if (entry->as_of_now)
	{
		int			attno = column(entry->desc, "as_of");

		values[attno - 1] = TimestampTzGetDatum(now);
		nulls[attno - 1] = false;
	}
	if (entry->schedule != NULL)
	{
		int			attno = column(entry->desc, "sentence");

		values[attno - 1] = CStringGetTextDatum(entry_sentence(entry, now));
		nulls[attno - 1] = false;
	}
	tuple = heap_form_tuple(BlessTupleDesc(desc), values, nulls);
	release_entry(entry, &transient);
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}

/*
 * reporting._freshness_verdict(view regclass, OUT state text, OUT clock
 * text, OUT last_refreshed_at timestamptz): the verdict of
 * reporting._freshness_row() on the view (unchanged, changed, unknown or
 * unregistered), whether its query depends on the clock, and when its last
 * successful refresh started; from a cache that the skips and failures
 * recorded for the view leave alone (the scheduler records one at each
 * decision).  For the skip decisions of the scheduler and refresh_all().
 * NULL for a relation that no longer exists.  STRICT; raises what
 * _freshness_row() raises.
 */
Datum
reporting_freshness_verdict(PG_FUNCTION_ARGS)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();
	Oid			view = PG_GETARG_OID(0);
	FreshnessEntry transient;
	FreshnessEntry *entry;
	TupleDesc	desc;
	Datum		values[3];
	bool		nulls[3];
	HeapTuple	tuple;

	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(view)))
		PG_RETURN_NULL();
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "reporting._freshness_verdict() must return a record");
	entry = lookup_entry(view, ANSWER_VERDICT, now, &transient);
	values[0] = CStringGetTextDatum(entry->state);
	nulls[0] = false;
	values[1] = field(entry, "clock", &nulls[1]);
	values[2] = TimestampTzGetDatum(entry->last_refreshed_at);
	nulls[2] = !entry->refreshed;
	tuple = heap_form_tuple(BlessTupleDesc(desc), values, nulls);
	release_entry(entry, &transient);
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}
