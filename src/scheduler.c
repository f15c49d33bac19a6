/*-------------------------------------------------------------------------
 *
 * scheduler.c
 *		The per-database scheduler: a background worker, started by the
 *		launcher in every database where the extension is installed, that
 *		sleeps on its latch until a registered view is due and hands due
 *		views to refresh workers.
 *
 * Each cycle, in one short transaction:
 *	- stop if the extension is gone (or older than this library needs);
 *	- do nothing (and say so) while the schema called "reporting" is not the
 *	  extension's own, superuser-owned schema (catalog.c);
 *	- do nothing while pg_restore is loading this database;
 *	- collect the results of finished refresh workers;
 *	- now and then: mark "running" runs whose worker is gone as interrupted,
 *	  and prune the history (skipping rows other transactions hold);
 *	- unless scheduling is paused here (pause.c: reporting.enabled of the
 *	  server, or of this database): bring the cache of registrations up to
 *	  date (sched_cache.c), read the history of the views due by it, and for
 *	  each view due, in order of due time, gather what decides it (another
 *	  refresh running, a view it is built on due or refreshing, a refusal by
 *	  security.c, sources unchanged), decide (decide.c) and act: record a
 *	  skip, or start a refresh worker (at most reporting.max_workers at
 *	  once, server-wide).  Each view is decided and acted on in its own
 *	  subtransaction, so one view's error leaves the others alone.
 * Then it sleeps until the next view is due, a minute at most, or until
 * woken: by a refresh worker that finished, by a backend that changed a
 * registration, or by SIGHUP.  SIGTERM during a cycle is PostgreSQL's
 * die(): the process ends at the next CHECK_FOR_INTERRUPTS, waits on locks
 * included; between cycles it ends the main loop, a normal exit (code 0:
 * nothing in the server log reads as a crash when a database is dropped).
 *
 * Its own commits use synchronous_commit = local and are followed by
 * pgstat_report_stat(), so that an unreachable synchronous standby never
 * holds it up and autovacuum sees reporting.runs grow.
 *
 * The scheduler runs none of the users' SQL: refreshes run in refresh
 * workers, as the views' owners.  It connects as the bootstrap superuser,
 * which sees every registration (row-level security does not apply).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/dbcommands.h"
#include "commands/extension.h"
#include "catalog/pg_extension.h"
#include "storage/lmgr.h"
#include "utils/inval.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "reporting.h"
#include "worker_slots.h"
#include "pause.h"
#include "sched_cache.h"

/* how often runs left "running" are looked for and the history is pruned */
#define MAINTENANCE_INTERVAL_MS (60 * 1000)
/* how long a refresh worker may take to start before it is given up on */
#define WORKER_START_TIMEOUT_MS 10000
/* the shortest sleep until a view is due: a cycle's own cost is paid at most 100 times a second */
#define MIN_SLEEP_MS 10
/* while paused, how often the database's own setting is read again */
#define PAUSED_SLEEP_MS 5000
/* the longest sleep, so that settings and clock changes are noticed */
#define MAX_SLEEP_MS (60 * 1000)

/* a refresh worker this scheduler started */
typedef struct Dispatched
{
	int			slotno;
	Oid			view;
	BackgroundWorkerHandle *handle;
} Dispatched;

static List *dispatched = NIL;
static TimestampTz last_maintenance = 0;
/* whether the scheduler noted where its reporting.enabled came from (pause.c) */
static bool pause_known = false;

/* On exit: leave the database entry, abandon the slots we wait for. */
static void
scheduler_exit(int code, Datum arg)
{
	ReportingDatabase *db;
	ListCell   *lc;

	foreach(lc, dispatched)
		reporting_release_slot(((Dispatched *) lfirst(lc))->slotno);
	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	db = reporting_find_database(MyDatabaseId, false);
	if (db != NULL && db->scheduler_pid == MyProcPid)
	{
		db->scheduler_pid = 0;
		db->scheduler_latch = NULL;
	}
	LWLockRelease(reporting_workers->lock);
	reporting_wake_launcher();
}

/* Take this database's entry; false when another scheduler holds it. */
static bool
claim_database(void)
{
	ReportingDatabase *db;
	bool		ok = false;

	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	db = reporting_find_database(MyDatabaseId, true);
	if (db != NULL && (db->scheduler_pid == 0 || db->scheduler_pid == MyProcPid ||
					   kill(db->scheduler_pid, 0) != 0))
	{
		db->scheduler_pid = MyProcPid;
		db->scheduler_latch = MyLatch;
		db->no_extension = false;
		db->recheck = false;
		db->settled = true;
		ok = true;
	}
	LWLockRelease(reporting_workers->lock);
	return ok;
}

/* The extension is missing or too old here: say so, and let the launcher know. */
static void
leave_for_good(const char *why)
{
	ReportingDatabase *db;

	elog(DEBUG1, "reporting scheduler: %s; stopping", why);
	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	db = reporting_find_database(MyDatabaseId, false);
	if (db != NULL)
		db->no_extension = true;
	LWLockRelease(reporting_workers->lock);
	proc_exit(0);
}

/*
 * Is the extension installed here, at a version with the scheduler's SQL?
 * The extension object is locked for the rest of the cycle's transaction,
 * so that a concurrent DROP EXTENSION either waits for the cycle or has
 * committed before the check (and then the extension is seen gone).
 */
static const char *
extension_problem(void)
{
	Oid			extoid = get_extension_oid(REPORTING_EXTENSION_NAME, true);

	if (OidIsValid(extoid))
	{
		LockDatabaseObject(ExtensionRelationId, extoid, 0, AccessShareLock);
		/* a drop that committed while we waited is visible now */
		AcceptInvalidationMessages();
		extoid = get_extension_oid(REPORTING_EXTENSION_NAME, true);
	}
	if (!OidIsValid(extoid))
		return "the extension is not installed in this database";
	if (!reporting_extension_at_least(REPORTING_WORKERS_MIN_VERSION))
	{
		ereport(LOG,
				(errmsg("reporting: not scheduling refreshes in database \"%s\": its extension is older than %s",
						get_database_name(MyDatabaseId), REPORTING_WORKERS_MIN_VERSION),
				 errhint("Run ALTER EXTENSION reporting UPDATE in that database.")));
		return "the extension is too old";
	}
	return NULL;
}

/* pg_restore is loading this database: schedule nothing until it is done. */
static bool
restore_in_progress(void)
{
	if (SPI_execute("SELECT 1 FROM pg_catalog.pg_stat_activity"
					" WHERE datid OPERATOR(pg_catalog.=) (SELECT oid FROM pg_catalog.pg_database"
					"       WHERE datname OPERATOR(pg_catalog.=) pg_catalog.current_database())"
					"   AND application_name OPERATOR(pg_catalog.=) 'pg_restore'"
					"   AND pid OPERATOR(pg_catalog.<>) pg_catalog.pg_backend_pid()",
					false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not look for a restore in progress");
	return SPI_processed > 0;
}

/*
 * Lock the view's registration against unregister() and DROP for the rest
 * of the cycle, without waiting: false when it is gone or being changed (a
 * run recorded for it now would violate the history's foreign key, or wait
 * for the transaction that changes it).
 */
static bool
lock_registration(Oid view)
{
	static SPIPlanPtr plan = NULL;
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(view)};

	/* planned once: the scheduler takes this lock for every skip it records */
	if (plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare("SELECT 1 FROM reporting.registrations"
									" WHERE view::pg_catalog.oid OPERATOR(pg_catalog.=) $1"
									"   FOR KEY SHARE SKIP LOCKED",
									1, argtypes);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not plan the lock on registrations");
		plan = p;
	}
	if (SPI_execute_plan(plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not lock the registration of relation %u", view);
	return SPI_processed == 1;
}

/*
 * A refresh worker that could not record its own run (it failed to connect,
 * or died before): record a failure, so that the view backs off instead of
 * being retried at once.
 */
static void
record_lost_worker(TimestampTz claimed_at, Oid view)
{
	ReportingRefreshResult result;

	/* unregistered meanwhile (often why the worker could not record it): nothing to say */
	if (!lock_registration(view))
		return;
	memset(&result, 0, sizeof(result));
	result.started_at = claimed_at;
	result.finished_at = GetCurrentTimestamp();
	reporting_record_run(view, "schedule", "failed", &result, false,
						 "the refresh worker stopped before it could refresh; see the server log",
						 NULL);
}

/* Free the slots of workers that are done, or never started. */
static void
collect_workers(void)
{
	ListCell   *lc;

	foreach(lc, dispatched)
	{
		Dispatched *d = (Dispatched *) lfirst(lc);
		ReportingSlotOutcome outcome;
		ReportingSlotState state = reporting_slot_poll(d->slotno, &outcome);
		pid_t		pid;
		bool		lost = state == SLOT_DONE && outcome.run_id == 0;

		if (state == SLOT_RUNNING)
			continue;
		if (state == SLOT_CLAIMED)
		{
			/* gone without attaching, or never started: the slot is still ours */
			if (GetBackgroundWorkerPid(d->handle, &pid) != BGWH_STOPPED)
			{
				if (!TimestampDifferenceExceeds(outcome.claimed_at, GetCurrentTimestamp(),
												WORKER_START_TIMEOUT_MS))
					continue;
				TerminateBackgroundWorker(d->handle);
			}
			lost = true;
		}
		if (lost)
			record_lost_worker(outcome.claimed_at, d->view);
		reporting_release_slot(d->slotno);
		sched_cache_worker_done(d->view);
		pfree(d->handle);
		pfree(d);
		dispatched = foreach_delete_current(dispatched, lc);
	}
}

/* Views with a refresh worker of ours, for the interrupted-run sweep. */
static void
maintenance(TimestampTz cycle_start)
{
	int			max = reporting_slot_count();
	Oid		   *live = palloc(sizeof(Oid) * (max + 1));
	int			nlive = reporting_slot_live_views(MyDatabaseId, live, max);

	(void) reporting_mark_interrupted(cycle_start, nlive, live);
	reporting_prune_history();
	last_maintenance = cycle_start;
}

/* Record a scheduled run that did not refresh, with the reason, started at "at". */
static void
record_skip(Oid view, const char *reason, TimestampTz at)
{
	ReportingRefreshResult result;

	memset(&result, 0, sizeof(result));
	result.started_at = at;
	result.finished_at = at;
	reporting_record_run(view, "schedule", "skipped", &result, false, reason, NULL);
}

/* Why a due view needs no refresh now, or NULL. */
static char *
skip_reason(Oid view)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(view)};

	if (SPI_execute_with_args("SELECT reporting._skip_reason($1)", 1, argtypes, values,
							  NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not decide whether to skip relation %u", view);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * Why a due view must not be refreshed by the scheduler (security.c: it
 * changed hands since it was registered, or it would run as a superuser
 * while reporting.enable_superuser_refresh is off), or NULL.  Works from
 * the cached registration: no query.
 */
static char *
refusal_reason(SchedView *v)
{
	char	   *reason;
	char	   *hint;

	if (!reporting_refresh_refused(v->view, v->registered_owner, InvalidOid, false,
								   &reason, &hint))
		return NULL;
	return reason;
}

/*
 * Why a due view needs no refresh now, or NULL.  Only views registered
 * refresh_when => 'changed' whose data is not older than their max_age can
 * be skipped; for them reporting._skip_reason() runs the freshness check.
 */
static char *
unchanged_reason(SchedView *v, TimestampTz now)
{
	TimestampTz too_old;

	if (!v->when_changed)
		return NULL;
	if (v->has_max_age && v->last_ok != 0 &&
		sched_add_interval(v->last_ok, &v->max_age, v->tz, &too_old) && too_old <= now)
		return NULL;
	return skip_reason(v->view);
}

/*
 * Is a view this one is built on due now, or being refreshed?  Then this
 * one waits: refreshed before its upstream, it would copy old data.
 */
static bool
upstream_busy(SchedView *v, List *due)
{
	sched_cache_load_upstream(v);
	for (int i = 0; i < v->nupstream; i++)
	{
		SchedView  *up = sched_cache_lookup(v->upstream[i]);

		if (list_member_oid(due, v->upstream[i]) || (up != NULL && up->has_worker) ||
			reporting_view_has_worker(MyDatabaseId, v->upstream[i]) ||
			reporting_running_elsewhere(MyDatabaseId, v->upstream[i], NULL, NULL))
			return true;
	}
	return false;
}

/*
 * What is known of a due view, in the order that decides: the first fact
 * that settles the decision ends the search (the skip reason runs the
 * freshness check, which is the costly one).
 */
static void
gather_facts(SchedView *v, List *due, TimestampTz now, SchedFacts *facts)
{
	char		origin[16];

	memset(facts, 0, sizeof(*facts));
	if ((facts->worker_elsewhere = reporting_view_has_worker(MyDatabaseId, v->view)))
		return;
	if ((facts->running_elsewhere = reporting_running_elsewhere(MyDatabaseId, v->view,
																origin, NULL)))
	{
		facts->manual = strcmp(origin, "manual") == 0;
		return;
	}
	if ((facts->upstream_busy = upstream_busy(v, due)))
		return;
	if ((facts->refusal = refusal_reason(v)) != NULL)
		return;
	facts->unchanged = unchanged_reason(v, now);
}

/*
 * Hand one due view to a refresh worker.  Returns false when no slot or no
 * background worker is free now (the view stays due).
 */
static bool
dispatch(SchedView *v)
{
	const char *why_not;
	int			slotno = reporting_claim_slot(v->view, v->owner, "schedule", &why_not);
	BackgroundWorkerHandle *handle;
	Dispatched *d;

	MemoryContext old;

	if (slotno < 0)
		return false;
	/* the handle outlives this cycle */
	old = MemoryContextSwitchTo(TopMemoryContext);
	handle = reporting_start_refresh_worker(slotno);
	MemoryContextSwitchTo(old);
	if (handle == NULL)
		return false;			/* said in the log by worker_slots.c */
	old = MemoryContextSwitchTo(TopMemoryContext);
	d = palloc(sizeof(Dispatched));
	d->slotno = slotno;
	d->view = v->view;
	d->handle = handle;
	dispatched = lappend(dispatched, d);
	MemoryContextSwitchTo(old);
	v->has_worker = true;
	return true;
}

/*
 * Decide about one due view and act on the decision; returns when to look
 * at it again (DT_NOEND: when woken).  *slots_left turns false when no
 * refresh worker can be had now.
 */
static TimestampTz
act_on_view(SchedView *v, List *due, TimestampTz now, bool *slots_left)
{
	SchedFacts	facts;
	SchedDecision d;
	TimestampTz at;

	gather_facts(v, due, now, &facts);
	d = sched_decide(v, &facts, now);
	switch (d.action)
	{
		case SCHED_WAIT:
			return d.until;
		case SCHED_SKIP:
			if (!lock_registration(v->view))
				return now + SCHED_POLL_USECS;
			at = Max(GetCurrentTimestamp(), v->last_start + 1);
			record_skip(v->view, d.reason, at);
			v->last_start = at;
			/* a recorded run moves the next due time past it (decide.c) */
			Assert(sched_next_due(v) > at);
			return sched_next_due(v);
		case SCHED_DISPATCH:
			if (*slots_left && !dispatch(v))
				*slots_left = false;
			if (v->has_worker)
				return DT_NOEND;
			/* without a slot, a finishing worker wakes us; else retry in a second */
			return dispatched == NIL ? now + SCHED_POLL_USECS : DT_NOEND;
	}
	return DT_NOEND;
}

/* the arguments and result of act_on_view, for sched_run_isolated */
typedef struct ActArgs
{
	SchedView  *v;
	List	   *due;
	TimestampTz now;
	bool	   *slots_left;
	TimestampTz next;
} ActArgs;

static void
act_isolated(void *arg)
{
	ActArgs    *a = (ActArgs *) arg;

	a->next = act_on_view(a->v, a->due, a->now, a->slots_left);
}

/*
 * act_on_view in a subtransaction of its own: an error (a registration
 * dropped meanwhile, a function that fails for this view only) is logged,
 * rolled back, and leaves this view alone for a while; the others go on
 * (issue 12, faults 4 and 14).
 */
static TimestampTz
act_on_view_isolated(SchedView *v, List *due, TimestampTz now, bool *slots_left)
{
	ActArgs		args = {v, due, now, slots_left, DT_NOEND};
	char		message[SCHED_PROBLEM_LEN];

	if (sched_run_isolated(act_isolated, &args, message, sizeof(message)))
		return args.next;
	ereport(LOG,
			(errmsg("reporting: could not schedule the refresh of relation %u: %s",
					v->view, message),
			 errdetail("The other registered views are scheduled as usual; this one is looked at again in %d seconds.",
					   (int) (SCHED_FAULT_WAIT_USECS / USECS_PER_SEC))));
	v->hold_until = now + SCHED_FAULT_WAIT_USECS;
	sched_cache_mark_stale(v);
	return v->hold_until;
}

/* order of due views: the one due first first, then by OID (as 0.4.0) */
static int
due_order(const ListCell *a, const ListCell *b)
{
	SchedView  *va = (SchedView *) lfirst(a);
	SchedView  *vb = (SchedView *) lfirst(b);
	TimestampTz da = sched_next_due(va);
	TimestampTz db = sched_next_due(vb);

	if (da != db)
		return da < db ? -1 : 1;
	return va->view < vb->view ? -1 : (va->view > vb->view ? 1 : 0);
}

/*
 * Act on every due view; return when the next one is due (DT_NOEND when
 * none is scheduled).  Only views due by the cached values are looked at:
 * their history is read again first, since a manual refresh may have made
 * them due later.
 */
static TimestampTz
run_due_views(TimestampTz now)
{
	int			nviews;
	SchedView **views;
	Oid		   *stale = NULL;
	int			nstale = 0;
	List	   *due_views = NIL;
	List	   *due = NIL;
	TimestampTz next = DT_NOEND;
	bool		slots_left = true;
	ListCell   *lc;

	/* before 0.5.0, no trigger says when the registrations change */
	if (!reporting_extension_at_least(SCHED_CACHE_MIN_VERSION))
		sched_cache_invalidate();
	sched_cache_refresh();
	views = sched_cache_views(&nviews);
	for (int i = 0; i < nviews; i++)
	{
		SchedView  *v = views[i];
		SchedDecision d = sched_decide(v, NULL, now);


		if (!v->seen || d.until > now || v->has_worker || v->problem[0] != '\0')
			next = Min(next, v->seen ? d.until : DT_NOEND);
		else
		{
			if (stale == NULL)
				stale = palloc(sizeof(Oid) * nviews);
			stale[nstale++] = v->view;
			sched_cache_mark_stale(v);
		}
	}
	if (nstale > 0)
		sched_cache_refresh();	/* reads their history */
	for (int i = 0; i < nstale; i++)
	{
		SchedView  *v = sched_cache_lookup(stale[i]);

		if (v == NULL)
			continue;
		if (sched_next_due(v) <= now && v->hold_until <= now)
		{
			due_views = lappend(due_views, v);
			due = lappend_oid(due, v->view);
		}
		else
			next = Min(next, sched_decide(v, NULL, now).until);
	}
	list_sort(due_views, due_order);
	foreach(lc, due_views)
		next = Min(next, act_on_view_isolated((SchedView *) lfirst(lc), due, now, &slots_left));
	return next;
}

/* One cycle; returns how long to sleep, in milliseconds. */
static long
scheduler_cycle(void)
{
	TimestampTz now;
	TimestampTz next = DT_NOEND;
	const char *problem;
	long		sleep_ms = MAX_SLEEP_MS;

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	SPI_connect();
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "reporting: scheduling refreshes");
	now = GetCurrentTimestamp();

	if ((problem = extension_problem()) != NULL)
		leave_for_good(problem);
	/* never run objects another role could have put in the extension's place */
	if (!reporting_check_schema(WARNING))
		sleep_ms = MAX_SLEEP_MS;	/* said so; look again in a minute */
	else if (restore_in_progress())
		sleep_ms = 1000;
	else
	{
		collect_workers();
		if (last_maintenance == 0 ||
			TimestampDifferenceExceeds(last_maintenance, now, MAINTENANCE_INTERVAL_MS))
			maintenance(now);
		if (!pause_known)
		{
			reporting_pause_remember_start();
			pause_known = true;
		}
		if (reporting_pause_state() == PAUSE_NONE)
			next = run_due_views(now);
		else
			sleep_ms = PAUSED_SLEEP_MS; /* ALTER DATABASE wakes nobody: look again soon */
	}

	PopActiveSnapshot();
	SPI_finish();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	/* let autovacuum see what the cycle wrote to reporting.runs (fault 6) */
	pgstat_report_stat(sleep_ms >= MAX_SLEEP_MS && next == DT_NOEND);

	/* a worker that never starts wakes nobody: look again soon */
	if (dispatched != NIL)
		sleep_ms = Min(sleep_ms, 1000);
	if (next != DT_NOEND)
	{
		now = GetCurrentTimestamp();
		/* views due a few ms apart are taken in one cycle, not one cycle each */
		sleep_ms = Min(sleep_ms, next <= now ? 0 :
					   Max(MIN_SLEEP_MS, (long) ((next - now + 999) / 1000)));
	}
	return sleep_ms;
}

/* a stop was asked; a cycle (and its transactions) is under way */
static volatile sig_atomic_t stop_requested = false;
static volatile sig_atomic_t in_cycle = false;

/*
 * SIGTERM: during a cycle, die() (any wait ends at once, fault 5);
 * between cycles, end the main loop (a normal exit).
 */
static void
scheduler_sigterm(SIGNAL_ARGS)
{
	int			save_errno = errno;

	stop_requested = true;
	if (in_cycle)
		die(postgres_signal_arg);
	else
		SetLatch(MyLatch);
	errno = save_errno;
}

void
reporting_scheduler_main(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	MemoryContext cycle_context;

	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, scheduler_sigterm);
	BackgroundWorkerUnblockSignals();

	if (reporting_workers == NULL)
		proc_exit(0);
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);
	if (!claim_database())
		proc_exit(0);
	/* its catalog queries are small; compiling them would cost more than running them */
	SetConfigOption("jit", "off", PGC_SUSET, PGC_S_OVERRIDE);
	/* its bookkeeping needs no standby's acknowledgement: a fast shutdown never waits for one */
	SetConfigOption("synchronous_commit", "local", PGC_SUSET, PGC_S_OVERRIDE);
	sched_cache_init();
	before_shmem_exit(scheduler_exit, (Datum) 0);
	pgstat_report_appname("reporting scheduler");

	cycle_context = AllocSetContextCreate(TopMemoryContext, "reporting scheduler cycle",
										  ALLOCSET_DEFAULT_SIZES);
	for (;;)
	{
		long		sleep_ms;
		MemoryContext old;

		if (ConfigReloadPending)
		{
			ConfigReloadPending = false;
			ProcessConfigFile(PGC_SIGHUP);
			reporting_pause_config_reloaded();
		}
		in_cycle = true;
		if (stop_requested)
			break;
		old = MemoryContextSwitchTo(cycle_context);
		sleep_ms = scheduler_cycle();
		in_cycle = false;
		MemoryContextSwitchTo(old);
		MemoryContextReset(cycle_context);

		CHECK_FOR_INTERRUPTS();
		if (sleep_ms > 0 && !stop_requested &&
			(WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
					   sleep_ms, PG_WAIT_EXTENSION) & WL_LATCH_SET) != 0)
			sched_cache_recheck_next();
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
	/*
	 * Asked to stop (DROP DATABASE, CREATE DATABASE from this one,
	 * pg_terminate_backend, shutdown): a normal exit, not logged as a crash;
	 * the launcher decides what comes next.
	 */
	proc_exit(0);
}
