/*-------------------------------------------------------------------------
 *
 * sched_cache.c
 *		The scheduler's cache of registered views: their registrations,
 *		parsed once, and the little their history says about when they are
 *		due (decide.h, SchedView).
 *
 * Registrations are read again, in one query, only after an invalidation:
 * a relcache invalidation of reporting.registrations (a statement trigger
 * on the table sends one at commit, see reporting._registrations_changed),
 * of a registered view (dropped, changed hands, redefined), or a syscache
 * invalidation of pg_authid (an owner lost LOGIN or became a superuser).
 * The history of a view is read when the cache is built (one query for
 * every view, after a restart too) and again, by an index scan of that view
 * alone, each time the view comes due by the cached values, and after a
 * worker of ours refreshed it: a manual refresh can only make a view due
 * later, so the cache may be early, never late.
 *
 * A registration that cannot be scheduled (a time zone missing from this
 * server's tzdata after a restore, a schedule out of range) is kept with
 * its problem, which reporting._schedule_problem() also reports; the other
 * views are not affected (issue 12, fault 4).
 *
 * Everything here is local to the scheduler process: no locks.  The idea
 * of a relcache callback over the job table is pg_cron's; the code is ours.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

#include "sched_cache.h"

static HTAB *sched_views = NULL;
static bool sched_valid = false;
static Oid	sched_registrations_oid = InvalidOid;
/* woken by the latch: compare the registrations' fingerprint at the next refresh */
static bool sched_recheck = false;
/* the registrations' fingerprint when they were last read */
static int64 sched_fingerprint = -1;
/* some cached view's history is to be read (runs_loaded false) */
static bool sched_runs_missing = true;
/* SCHED_RUNS_QUERY, planned once per registrations table */
static SPIPlanPtr sched_runs_plan = NULL;

/* relcache callback: the registrations, or a registered view, changed */
static void
sched_relcache_callback(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == sched_registrations_oid ||
		!OidIsValid(sched_registrations_oid))
		sched_valid = false;
	else if (sched_views != NULL &&
			 hash_search(sched_views, &relid, HASH_FIND, NULL) != NULL)
		sched_valid = false;
}

/* syscache callback on pg_authid: an owner's LOGIN or superuser changed */
static void
sched_syscache_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	sched_valid = false;
}

/* Create the cache and register its invalidation callbacks (once per process). */
void
sched_cache_init(void)
{
	HASHCTL		ctl;

	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(SchedView);
	sched_views = hash_create("reporting scheduler views", 256, &ctl,
							  HASH_ELEM | HASH_BLOBS);
	CacheRegisterRelcacheCallback(sched_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, sched_syscache_callback, (Datum) 0);
}

/* the longest schedule interval registration accepts (arguments.c) */
#define SCHED_MAX_YEARS 100

/*
 * Is the interval at least min_usecs long and at most SCHED_MAX_YEARS,
 * computed without overflow (months count 30 days, as registration does)?
 */
static bool
interval_in_bounds(const Interval *span, int64 min_usecs)
{
	int64		days = span->day + (int64) span->month * DAYS_PER_MONTH +
		span->time / USECS_PER_DAY;

	if (days > (int64) SCHED_MAX_YEARS * 366)
		return false;
	return reporting_interval_usecs(span) >= min_usecs;
}

/*
 * The zone of schedules registered without one: TimeZone as a new session
 * of this database gets it (its reset value: the role's or the database's
 * setting, else the server's), never a value SET in the session, so that
 * the scheduler, which SETs nothing, and a reader of reporting.status who
 * SET another zone compute the same times (issue 12, fault 10).
 */
pg_tz *
sched_default_timezone(void)
{
	const char *name = GetConfigOptionResetString("TimeZone");
	pg_tz	   *tz = name != NULL ? pg_tzset(name) : NULL;

	return tz != NULL ? tz : session_timezone;
}

/*
 * Fill in the schedule of v from its registration's columns (NULL when not
 * set), or the reason it cannot be scheduled in v->problem.  Raises
 * whatever parsing raises; sched_parse_registration isolates it.
 */
static void
parse_registration(const char *every_text, const char *cron,
						   const char *timezone, const char *max_age_text,
						   SchedView *v)
{
	TimestampTz probe;

	v->problem[0] = '\0';
	v->has_every = every_text != NULL;
	v->has_cron = cron != NULL;
	v->has_max_age = max_age_text != NULL;
	v->tz = timezone != NULL ? reporting_schedule_timezone(timezone) : sched_default_timezone();
	if (v->has_every)
		v->every = *DatumGetIntervalP(DirectFunctionCall3(interval_in,
														  CStringGetDatum(every_text),
														  ObjectIdGetDatum(InvalidOid),
														  Int32GetDatum(-1)));
	if (v->has_max_age)
		v->max_age = *DatumGetIntervalP(DirectFunctionCall3(interval_in,
															CStringGetDatum(max_age_text),
															ObjectIdGetDatum(InvalidOid),
															Int32GetDatum(-1)));
	if (v->has_cron)
		reporting_parse_cron(cron, &v->cron);
	/* what registration checks since 0.4.0; older rows and restores may not */
	if (v->has_every && (v->every.month != 0 || !interval_in_bounds(&v->every, USECS_PER_SEC) ||
						 !sched_add_interval(GetCurrentTimestamp(), &v->every, v->tz, &probe)))
		snprintf(v->problem, SCHED_PROBLEM_LEN,
				 "\"every\" (%s) is not between 1 second and %d years", every_text,
				 SCHED_MAX_YEARS);
	else if (v->has_max_age &&
			 (!interval_in_bounds(&v->max_age, 1) ||
			  !sched_add_interval(GetCurrentTimestamp(), &v->max_age, v->tz, &probe)))
		snprintf(v->problem, SCHED_PROBLEM_LEN,
				 "\"max_age\" (%s) is not between 1 microsecond and %d years", max_age_text,
				 SCHED_MAX_YEARS);
}

/*
 * Run fn(arg) in a subtransaction of its own.  Returns true when it
 * succeeded (the subtransaction is then committed into the caller's
 * transaction); false when it raised an ERROR, which is then rolled back,
 * with the error's message in message (message_len bytes).  The caller's
 * memory context and resource owner are kept.  The pattern is
 * PostgreSQL's own for PL exception blocks (pl_exec.c).
 */
bool
sched_run_isolated(void (*fn) (void *arg), void *arg, char *message, size_t message_len)
{
	MemoryContext outer = CurrentMemoryContext;
	ResourceOwner owner = CurrentResourceOwner;
	volatile bool ok = true;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(outer);
	PG_TRY();
	{
		fn(arg);
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(outer);
		CurrentResourceOwner = owner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(outer);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(outer);
		CurrentResourceOwner = owner;
		snprintf(message, message_len, "%s", edata->message);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* the arguments of parse_registration, for sched_run_isolated */
typedef struct ParseArgs
{
	SchedView  *v;
	const char *every_text;
	const char *cron;
	const char *timezone;
	const char *max_age_text;
} ParseArgs;

static void
parse_isolated(void *arg)
{
	ParseArgs  *a = (ParseArgs *) arg;

	parse_registration(a->every_text, a->cron, a->timezone, a->max_age_text, a->v);
}

/*
 * Fill in the schedule of v from its registration's columns, as text (NULL
 * when not set; every_text and max_age_text are interval literals as
 * stored).  Any error parsing them raises (an unknown time zone, 22023; a
 * cron expression 0.4.0 did not check) is caught in a subtransaction and
 * kept as v->problem, so that one bad registration cannot stop the others.
 */
void
sched_parse_registration(SchedView *v, const char *every_text, const char *cron,
						 const char *timezone, const char *max_age_text)
{
	ParseArgs	args = {v, every_text, cron, timezone, max_age_text};

	(void) sched_run_isolated(parse_isolated, &args, v->problem, SCHED_PROBLEM_LEN);
}

/*
 * Read every registration into the cache; keep the history of those kept.
 * The queries here run with read_only false so that each takes a snapshot
 * of its own, after the invalidations just accepted: with the cycle's
 * older snapshot, a registration committed in between would be missed, and
 * its invalidation already spent.
 */
static void
load_registrations(void)
{
	HASH_SEQ_STATUS seq;
	SchedView  *v;

	/* registrations record their owner from 0.4.0 on */
	bool		has_owner = reporting_extension_at_least(REPORTING_SECURITY_MIN_VERSION);

	if (SPI_execute(has_owner ?
					"SELECT r.view::pg_catalog.oid, r.every::pg_catalog.text, r.cron,"
					"       r.timezone, r.max_age::pg_catalog.text, r.registered_at,"
					"       r.refresh_requested_at, c.relowner, a.rolcanlogin,"
					"       r.refresh_when OPERATOR(pg_catalog.=) 'changed', r.owner"
					"  FROM reporting.registrations r"
					"  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.view::pg_catalog.oid"
					"  JOIN pg_catalog.pg_authid a ON a.oid OPERATOR(pg_catalog.=) c.relowner" :
					"SELECT r.view::pg_catalog.oid, r.every::pg_catalog.text, r.cron,"
					"       r.timezone, r.max_age::pg_catalog.text, r.registered_at,"
					"       r.refresh_requested_at, c.relowner, a.rolcanlogin,"
					"       r.refresh_when OPERATOR(pg_catalog.=) 'changed', 0::pg_catalog.oid"
					"  FROM reporting.registrations r"
					"  JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) r.view::pg_catalog.oid"
					"  JOIN pg_catalog.pg_authid a ON a.oid OPERATOR(pg_catalog.=) c.relowner",
					false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the registrations");

	hash_seq_init(&seq, sched_views);
	while ((v = hash_seq_search(&seq)) != NULL)
		v->seen = false;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		HeapTuple	tuple = SPI_tuptable->vals[i];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		bool		isnull;
		bool		found;
		Oid			view = DatumGetObjectId(SPI_getbinval(tuple, desc, 1, &isnull));
		Datum		d;
		char		old_problem[SCHED_PROBLEM_LEN];

		v = hash_search(sched_views, &view, HASH_ENTER, &found);
		if (!found)
		{
			memset(((char *) v) + sizeof(Oid), 0, sizeof(SchedView) - sizeof(Oid));
		}
		v->seen = true;
		strlcpy(old_problem, v->problem, SCHED_PROBLEM_LEN);
		sched_parse_registration(v, SPI_getvalue(tuple, desc, 2), SPI_getvalue(tuple, desc, 3),
								 SPI_getvalue(tuple, desc, 4), SPI_getvalue(tuple, desc, 5));
		/* said once per problem; reporting._schedule_problem() says it to status */
		if (v->problem[0] != '\0' && strcmp(v->problem, old_problem) != 0)
			ereport(WARNING,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("reporting: cannot schedule materialized view \"%s\": %s",
							reporting_display_name(view), v->problem),
					 errhint("Register it again with a schedule this server accepts; the other views are scheduled as usual.")));
		v->registered_at = DatumGetTimestampTz(SPI_getbinval(tuple, desc, 6, &isnull));
		d = SPI_getbinval(tuple, desc, 7, &isnull);
		v->refresh_requested_at = isnull ? 0 : DatumGetTimestampTz(d);
		v->owner = DatumGetObjectId(SPI_getbinval(tuple, desc, 8, &isnull));
		v->can_login = DatumGetBool(SPI_getbinval(tuple, desc, 9, &isnull));
		v->when_changed = DatumGetBool(SPI_getbinval(tuple, desc, 10, &isnull));
		d = SPI_getbinval(tuple, desc, 11, &isnull);
		v->registered_owner = isnull ? InvalidOid : DatumGetObjectId(d);
		/* a redefined view may read other views now */
		if (v->upstream != NULL)
			pfree(v->upstream);
		v->upstream = NULL;
		v->upstream_loaded = false;
	}
	hash_seq_init(&seq, sched_views);
	while ((v = hash_seq_search(&seq)) != NULL)
		if (!v->seen && !v->has_worker)
			sched_cache_forget(v->view);
}

/* what the history says of each view in $1 (an oid[]), one row per view */
#define SCHED_RUNS_QUERY \
	"SELECT v.oid, s.last_start, s.last_ok, f.failures, f.last_failure" \
	"  FROM pg_catalog.unnest($1) v(oid)" \
	" CROSS JOIN LATERAL (" \
	"   SELECT pg_catalog.max(u.started_at) AS last_start," \
	"          pg_catalog.max(u.started_at) FILTER" \
	"            (WHERE u.status OPERATOR(pg_catalog.=) 'refreshed') AS last_ok" \
	"     FROM reporting.runs u" \
	"    WHERE u.view OPERATOR(pg_catalog.=) v.oid::pg_catalog.regclass) s" \
	" CROSS JOIN LATERAL (" \
	"   SELECT pg_catalog.count(*)::pg_catalog.int4 AS failures," \
	"          pg_catalog.max(COALESCE(u.finished_at, u.started_at)) AS last_failure" \
	"     FROM reporting.runs u" \
	"    WHERE u.view OPERATOR(pg_catalog.=) v.oid::pg_catalog.regclass" \
	"      AND u.status OPERATOR(pg_catalog.=) ANY (ARRAY['failed', 'interrupted'])" \
	"      AND (s.last_ok IS NULL OR u.started_at OPERATOR(pg_catalog.>) s.last_ok)) f"

/* Run SCHED_RUNS_QUERY for the given views; the rows are in SPI_tuptable. */
static void
query_runs(int nviews, const Oid *views)
{
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1];
	Datum	   *elems = palloc(sizeof(Datum) * Max(nviews, 1));

	for (int i = 0; i < nviews; i++)
		elems[i] = ObjectIdGetDatum(views[i]);
	values[0] = PointerGetDatum(construct_array(elems, nviews, OIDOID, sizeof(Oid), true,
												TYPALIGN_INT));
	if (!IsBackgroundWorker)
	{
		/* reporting._next_refresh in a backend: once, no plan to keep */
		if (SPI_execute_with_args(SCHED_RUNS_QUERY, 1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the history of refreshes");
		return;
	}
	if (sched_runs_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(SCHED_RUNS_QUERY, 1, argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not plan the query for the history of refreshes");
		sched_runs_plan = plan;
	}
	if (SPI_execute_plan(sched_runs_plan, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the history of refreshes");
}

/* Fill in v's history from row i of SCHED_RUNS_QUERY's result. */
static void
fill_runs(SchedView *v, uint64 i)
{
	HeapTuple	tuple = SPI_tuptable->vals[i];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		isnull;
	Datum		d;

	d = SPI_getbinval(tuple, desc, 2, &isnull);
	v->last_start = isnull ? 0 : DatumGetTimestampTz(d);
	d = SPI_getbinval(tuple, desc, 3, &isnull);
	v->last_ok = isnull ? 0 : DatumGetTimestampTz(d);
	v->failures = DatumGetInt32(SPI_getbinval(tuple, desc, 4, &isnull));
	d = SPI_getbinval(tuple, desc, 5, &isnull);
	v->last_failure = isnull ? 0 : DatumGetTimestampTz(d);
	v->runs_loaded = true;
}

/*
 * Read what the history says of the given cached views: one query, by the
 * index on (view, started_at) for each.  Runs still "running" count as
 * started.
 */
static void
load_runs(int nviews, Oid *views)
{
	query_runs(nviews, views);
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Oid			view = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i],
														  SPI_tuptable->tupdesc, 1, &isnull));
		SchedView  *v = sched_cache_lookup(view);

		if (v != NULL)
			fill_runs(v, i);
	}
}

/*
 * Fill in the history of a view that is not in the cache (v->view set), for
 * reporting._next_refresh() in any backend; SPI must be connected.
 */
void
sched_read_runs(SchedView *v)
{
	query_runs(1, &v->view);
	if (SPI_processed == 1)
		fill_runs(v, 0);
}

/*
 * A fingerprint of the registrations' rows: their number and the sum of
 * their xmins (any insert, update or delete changes it).  Relcache
 * invalidations alone do not do: a backend that registers a view sets our
 * latch from its commit callback, before it sends its invalidations, so the
 * cycle that wakes may run before they arrive, and then sleep for long.
 */
static int64
registrations_fingerprint(void)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute("SELECT pg_catalog.count(*) OPERATOR(pg_catalog.*) 1000003 OPERATOR(pg_catalog.+)"
					"       COALESCE(pg_catalog.sum(xmin::pg_catalog.text::pg_catalog.int8), 0)"
					"  FROM reporting.registrations", false, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "could not read the registrations");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(DirectFunctionCall1(numeric_int8, d));
}

/* The scheduler was woken by its latch: compare the fingerprint at the next refresh. */
void
sched_cache_recheck_next(void)
{
	sched_recheck = true;
}

/*
 * Bring the cache up to date, in the caller's transaction (with SPI
 * connected and a snapshot): the registrations after an invalidation, the
 * history of views that have none loaded yet (all of them after a start).
 */
void
sched_cache_refresh(void)
{
	HASH_SEQ_STATUS seq;
	SchedView  *v;
	Oid		   *missing;
	int			nmissing = 0;
	Oid			registrations;

	AcceptInvalidationMessages();
	/* the extension may have been dropped and created again meanwhile */
	registrations = get_relname_relid("registrations",
									  get_namespace_oid(REPORTING_SCHEMA_NAME, false));
	if (sched_valid && sched_recheck && registrations == sched_registrations_oid &&
		registrations_fingerprint() != sched_fingerprint)
		sched_valid = false;
	sched_recheck = false;
	if (!sched_valid || registrations != sched_registrations_oid)
	{
		/* valid from here on, unless an invalidation arrives while loading */
		sched_valid = true;
		if (registrations != sched_registrations_oid && sched_runs_plan != NULL)
		{
			SPI_freeplan(sched_runs_plan);
			sched_runs_plan = NULL;
		}
		sched_registrations_oid = registrations;
		/* before the load: a change in between is seen as one at the next check */
		sched_fingerprint = registrations_fingerprint();
		load_registrations();
		sched_runs_missing = true;
	}
	if (!sched_runs_missing)
		return;
	missing = palloc(sizeof(Oid) * Max(hash_get_num_entries(sched_views), 1));
	hash_seq_init(&seq, sched_views);
	while ((v = hash_seq_search(&seq)) != NULL)
		if (!v->runs_loaded)
			missing[nmissing++] = v->view;
	if (nmissing > 0)
		load_runs(nmissing, missing);
	sched_runs_missing = false;
}

/* Every cached view, in an array allocated in the caller's memory context. */
SchedView **
sched_cache_views(int *nviews)
{
	HASH_SEQ_STATUS seq;
	SchedView  *v;
	SchedView **all = palloc(sizeof(SchedView *) * Max(hash_get_num_entries(sched_views), 1));
	int			n = 0;

	hash_seq_init(&seq, sched_views);
	while ((v = hash_seq_search(&seq)) != NULL)
		all[n++] = v;
	*nviews = n;
	return all;
}

/* The cached view, or NULL when it is not registered (as far as we know). */
SchedView *
sched_cache_lookup(Oid view)
{
	return hash_search(sched_views, &view, HASH_FIND, NULL);
}

/* Read v's history again at the next sched_cache_refresh(). */
void
sched_cache_mark_stale(SchedView *v)
{
	v->runs_loaded = false;
	sched_runs_missing = true;
}

/* Read the history of one view again (it came due, or was refreshed). */
void
sched_cache_load_runs(SchedView *v)
{
	load_runs(1, &v->view);
}

/*
 * The registered views v is built on (through plain views and unregistered
 * materialized views, as reporting._sources_of() finds them), read once per
 * registration and kept until it changes.
 */
void
sched_cache_load_upstream(SchedView *v)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(v->view)};

	if (v->upstream_loaded)
		return;
	if (SPI_execute_with_args("SELECT s.source::pg_catalog.oid"
							  "  FROM reporting._sources_of($1) s"
							  "  JOIN reporting.registrations u"
							  "    ON u.view::pg_catalog.oid OPERATOR(pg_catalog.=) s.source::pg_catalog.oid",
							  1, argtypes, values, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not read the sources of relation %u", v->view);
	v->upstream = MemoryContextAlloc(TopMemoryContext, sizeof(Oid) * Max(SPI_processed, 1));
	v->nupstream = 0;
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		v->upstream[v->nupstream++] =
			DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull));
	}
	v->upstream_loaded = true;
}

/* Drop a view from the cache (it is no longer registered). */
void
sched_cache_forget(Oid view)
{
	SchedView  *v = sched_cache_lookup(view);

	if (v == NULL)
		return;
	if (v->upstream != NULL)
		pfree(v->upstream);
	hash_search(sched_views, &view, HASH_REMOVE, NULL);
}

/*
 * A refresh worker of ours is done with the view: read its history again
 * when it is next looked at, and forget it if it was unregistered meanwhile.
 */
void
sched_cache_worker_done(Oid view)
{
	SchedView  *v = sched_cache_lookup(view);

	if (v == NULL)
		return;
	v->has_worker = false;
	sched_cache_mark_stale(v);
	if (!v->seen)
		sched_cache_forget(view);
}

/*
 * Read the registrations again at the next refresh of the cache: for an
 * extension older than 0.5.0, whose registrations table has no trigger to
 * say when it changed, the scheduler calls this at every cycle.
 */
void
sched_cache_invalidate(void)
{
	sched_valid = false;
}
