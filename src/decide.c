/*-------------------------------------------------------------------------
 *
 * decide.c
 *		When a registered view is due, and what the scheduler does with it
 *		then: wait until a moment, skip it with a reason, or hand it to a
 *		refresh worker.
 *
 * These are pure functions of a SchedView (decide.h) and the current time:
 * no catalog access, no shared memory, no clock.  The rules, the same as
 * reporting._next_refresh() documented since 0.3.0, with one addition that
 * makes them unable to spin:
 *	- every => i: i after the latest run of any kind started (a manual
 *	  refresh or a skip restarts the interval), or after registration;
 *	- cron: the next matching minute after that, in the view's time zone;
 *	- max_age: never later than max_age after the latest successful
 *	  refresh;
 *	- refresh => 'soon' at registration: at once, until a run starts;
 *	- after failures since the latest success: 10 seconds after the latest
 *	  failure, doubling with each further one, an hour at most.
 * The addition: every one of these times is counted from a run, and none
 * is at or before the latest run's start, so a run that is recorded (a skip
 * included) always moves the next due time into the future.  0.4.0 let the
 * backoff and max_age times stay in the past after a recorded skip, and the
 * scheduler wrote skips in a loop (issue 12, fault 1).
 *
 * The idea of deciding in C from cached rows, instead of running SQL for
 * every job at every poll, is pg_cron's (src/pg_cron.c); the code is ours.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/int.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "decide.h"

/*
 * ts + span, with the months and days of span counted in calendar terms in
 * the time zone tz (so that '1 day' across a daylight-saving change is the
 * same wall-clock time the next day, whoever computes it), the rest in
 * microseconds.  PostgreSQL's timestamptz_pl_interval does the same in the
 * session's zone.  Returns false, leaving *result alone, when the result is
 * not a valid timestamp.
 */
bool
sched_add_interval(TimestampTz ts, const Interval *span, pg_tz *tz, TimestampTz *result)
{
	TimestampTz out = ts;

	if (TIMESTAMP_NOT_FINITE(ts))
		return false;
	if (span->month != 0 || span->day != 0)
	{
		struct pg_tm tm;
		fsec_t		fsec;
		int			tzoff;
		int64		month;
		int64		julian;

		if (timestamp2tm(ts, &tzoff, &tm, &fsec, NULL, tz) != 0)
			return false;
		month = (int64) tm.tm_year * MONTHS_PER_YEAR + (tm.tm_mon - 1) + span->month;
		if (month < 0 || month / MONTHS_PER_YEAR > 300000)
			return false;
		tm.tm_year = (int) (month / MONTHS_PER_YEAR);
		tm.tm_mon = (int) (month % MONTHS_PER_YEAR) + 1;
		tm.tm_mday = Min(tm.tm_mday, day_tab[isleap(tm.tm_year)][tm.tm_mon - 1]);
		julian = (int64) date2j(tm.tm_year, tm.tm_mon, tm.tm_mday) + span->day;
		if (julian < 0 || julian > INT_MAX)
			return false;
		j2date((int) julian, &tm.tm_year, &tm.tm_mon, &tm.tm_mday);
		tzoff = DetermineTimeZoneOffset(&tm, tz);
		if (tm2timestamp(&tm, fsec, &tzoff, &out) != 0)
			return false;
	}
	if (pg_add_s64_overflow(out, span->time, &out) || !IS_VALID_TIMESTAMP(out))
		return false;
	*result = out;
	return true;
}

/* the wait after the given number of consecutive failures (at least one) */
static int64
backoff_usecs(int failures)
{
	int64		wait = SCHED_BACKOFF_FIRST_USECS;

	for (int i = 1; i < failures && wait < SCHED_BACKOFF_MAX_USECS; i++)
		wait *= 2;
	return Min(wait, SCHED_BACKOFF_MAX_USECS);
}

/* the time a schedule (every or cron) makes the view due, counted from "from" */
static TimestampTz
schedule_due(const SchedView *v, TimestampTz from)
{
	TimestampTz due;

	if (v->has_every)
		return sched_add_interval(from, &v->every, v->tz, &due) ? due : DT_NOEND;
	if (v->has_cron)
	{
		due = reporting_cron_next(&v->cron, v->tz, from);
		return due == 0 ? DT_NOEND : due;
	}
	return DT_NOEND;
}

/*
 * When the view is due next, from its registration and its history; always
 * after its latest run started.  DT_NOEND: never (refreshed only by hand, or
 * its registration cannot be scheduled).
 */
TimestampTz
sched_next_due(const SchedView *v)
{
	TimestampTz from = v->last_start != 0 ? v->last_start : v->registered_at;
	TimestampTz due;

	if (v->problem[0] != '\0')
		return DT_NOEND;
	/* refresh => 'soon': at once, until a run starts */
	if (v->refresh_requested_at != 0 &&
		(v->last_start == 0 || v->last_start < v->refresh_requested_at))
		return v->refresh_requested_at;
	if (!v->has_every && !v->has_cron)
		return DT_NOEND;
	if (v->failures > 0)
	{
		/* a skip after the failure restarts the wait: never due again at once */
		TimestampTz base = Max(v->last_failure, v->last_start);
		int64		wait = backoff_usecs(v->failures);

		return base > DT_NOEND - wait ? DT_NOEND : base + wait;
	}
	due = schedule_due(v, from);
	if (v->has_max_age && v->last_ok != 0)
	{
		TimestampTz too_old;

		if (!sched_add_interval(v->last_ok, &v->max_age, v->tz, &too_old))
			too_old = DT_NOEND;
		/* too old, and an attempt since did not refresh it: try again soon */
		if (too_old <= v->last_start)
			too_old = v->last_start + SCHED_MAX_AGE_RETRY_USECS;
		due = Min(due, too_old);
	}
	return due;
}

/*
 * What to do with the view now.  facts is read only when the view is due;
 * callers that find the view not due by sched_next_due() need not fill it
 * in (NULL is allowed then).  Waiting for another refresh polls every
 * second; a view with a worker of ours waits to be woken when it is done.
 */
SchedDecision
sched_decide(const SchedView *v, const SchedFacts *facts, TimestampTz now)
{
	SchedDecision d = {SCHED_WAIT, DT_NOEND, NULL};
	TimestampTz due = sched_next_due(v);

	if (v->problem[0] != '\0')
	{
		d.reason = v->problem;
		return d;
	}
	if (v->has_worker)
		return d;
	if (v->hold_until > now)
		due = Max(due, v->hold_until);
	if (due > now || facts == NULL)
	{
		d.until = due;
		return d;
	}
	if (facts->worker_elsewhere)
	{
		/* refresh_all() handed it to a worker: no skip to record, look again soon */
		d.until = now + SCHED_POLL_USECS;
		return d;
	}
	if (facts->running_elsewhere)
	{
		/* its start already moved the schedule, unless it began before the last run */
		d.action = SCHED_SKIP;
		d.reason = facts->manual ?
			"a refresh started by reporting.refresh() was running" :
			"a refresh started by reporting.refresh_all() was running";
		return d;
	}
	if (facts->upstream_busy)
	{
		d.until = now + SCHED_POLL_USECS;
		return d;
	}
	if (facts->refusal != NULL || facts->unchanged != NULL)
	{
		d.action = SCHED_SKIP;
		d.reason = facts->refusal != NULL ? facts->refusal : facts->unchanged;
		return d;
	}
	d.action = SCHED_DISPATCH;
	return d;
}
