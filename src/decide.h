/*-------------------------------------------------------------------------
 *
 * decide.h
 *		The scheduler's decision for one registered view, as a pure function
 *		of what is known about the view and the current time.
 *
 * The scheduler (scheduler.c) keeps one SchedView per registration
 * (sched_cache.c fills them in); decide.c only reads them.  Nothing here
 * touches the database, shared memory or the clock, so the same inputs
 * always give the same answer, and every answer other than "dispatch" names
 * a moment in the future or a reason: a loop that acts on a decision and
 * decides again cannot spin.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REPORTING_DECIDE_H
#define REPORTING_DECIDE_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "pgtime.h"

#include "reporting.h"

/* the longest message kept for a broken registration */
#define SCHED_PROBLEM_LEN 256

/* failures back off from 10 seconds, doubling, to an hour at most */
#define SCHED_BACKOFF_FIRST_USECS (10 * USECS_PER_SEC)
#define SCHED_BACKOFF_MAX_USECS (3600 * USECS_PER_SEC)
/* a view past its max_age whose attempt did not refresh is looked at again after this */
#define SCHED_MAX_AGE_RETRY_USECS (10 * USECS_PER_SEC)
/* how soon a view that waits for another refresh is looked at again */
#define SCHED_POLL_USECS USECS_PER_SEC
/* how long a view whose scheduling raised an error is left alone */
#define SCHED_FAULT_WAIT_USECS (10 * USECS_PER_SEC)

/* one registered view: its registration, then what its history says */
typedef struct SchedView
{
	Oid			view;			/* hash key: the materialized view */

	/* the registration (reloaded when registrations change) */
	bool		has_every;
	Interval	every;
	bool		has_cron;
	ReportingCron cron;
	pg_tz	   *tz;				/* the zone every and cron are computed in */
	bool		has_max_age;
	Interval	max_age;
	TimestampTz registered_at;
	TimestampTz refresh_requested_at;	/* 0 when none */
	Oid			owner;			/* the view's owner now */
	Oid			registered_owner;	/* its owner at registration (0.4.0 on) */
	bool		can_login;
	bool		when_changed;	/* refresh_when => 'changed' */
	char		problem[SCHED_PROBLEM_LEN]; /* why it cannot be scheduled; "" if none */
	bool		seen;			/* still registered at the last reload */

	/* what its history says (reloaded when it comes due) */
	bool		runs_loaded;
	TimestampTz last_start;		/* latest run of any kind; 0 when none */
	TimestampTz last_ok;		/* latest successful refresh; 0 when none */
	TimestampTz last_failure;	/* end of the latest failure since last_ok */
	int			failures;		/* failed or interrupted runs since last_ok */

	/* its place in the scheduler's work */
	TimestampTz hold_until;		/* acting on it failed: not before this */
	bool		has_worker;		/* a refresh worker of ours refreshes it */
	bool		upstream_loaded;
	int			nupstream;		/* registered views it is built on */
	Oid		   *upstream;		/* in TopMemoryContext */
} SchedView;

/* what the scheduler found out about a view that is due, before deciding */
typedef struct SchedFacts
{
	bool		worker_elsewhere;	/* a refresh_all() worker refreshes it now */
	bool		running_elsewhere;	/* refresh() or refresh_all() refreshes it now */
	bool		manual;			/* ... and that refresh is reporting.refresh() */
	bool		upstream_busy;	/* a view it is built on is due or refreshing */
	const char *refusal;		/* it must not run as its owner (security.c) */
	const char *unchanged;		/* why a refresh would change nothing */
} SchedFacts;

typedef enum SchedAction
{
	SCHED_WAIT,					/* look again at "until" (DT_NOEND: when woken) */
	SCHED_SKIP,					/* record a skipped run with "reason" */
	SCHED_DISPATCH				/* start a refresh worker */
} SchedAction;

typedef struct SchedDecision
{
	SchedAction action;
	TimestampTz until;			/* SCHED_WAIT */
	const char *reason;			/* SCHED_SKIP; SCHED_WAIT of a broken view */
} SchedDecision;

extern bool sched_add_interval(TimestampTz ts, const Interval *span, pg_tz *tz,
							   TimestampTz *result);
extern TimestampTz sched_next_due(const SchedView *v);
extern SchedDecision sched_decide(const SchedView *v, const SchedFacts *facts,
								  TimestampTz now);

#endif							/* REPORTING_DECIDE_H */
