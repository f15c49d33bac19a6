/*-------------------------------------------------------------------------
 *
 * arguments.c
 *		Checks on the values callers pass to the SQL API: intervals, modes,
 *		NULLs.  Each raises a PostgreSQL-style error naming the argument.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "common/int.h"

#include "reporting.h"

/* the longest interval whose length in microseconds fits an int64, in whole years */
#define MAX_INTERVAL_YEARS 292000

/*
 * The length of an interval in microseconds, counting a month as 30 days as
 * PostgreSQL's own interval comparison does.  Raises 22008 when it does not
 * fit in 64 bits (about 292,000 years): 0.4.0 let it wrap around, and read
 * '593066 years 8 months' as 17.7 days (issue 12, fault 13).
 */
int64
reporting_interval_usecs(const Interval *span)
{
	int64		months;
	int64		days;
	int64		result;

	if (pg_mul_s64_overflow((int64) span->month * DAYS_PER_MONTH, USECS_PER_DAY, &months) ||
		pg_mul_s64_overflow((int64) span->day, USECS_PER_DAY, &days) ||
		pg_add_s64_overflow(span->time, days, &result) ||
		pg_add_s64_overflow(result, months, &result))
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("interval out of range: it must be shorter than %d years",
						MAX_INTERVAL_YEARS)));
	return result;
}

/*
 * Check that an interval argument is strictly positive and fits a timeout
 * setting, and return it in whole milliseconds (rounded up).
 */
int64
reporting_positive_interval_ms(const Interval *span, const char *argname)
{
	int64		usecs = reporting_interval_usecs(span);
	int64		ms;

	if (usecs <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" must be greater than zero", argname)));
	ms = (usecs + 999) / 1000;
	if (ms > INT_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is too large", argname),
				 errdetail("The largest accepted value is %d milliseconds.", INT_MAX)));
	return ms;
}

/* the longest "every" or "max_age": added to now, it must stay a timestamp */
#define MAX_SCHEDULE_YEARS 100

/*
 * Check that a schedule interval is at most MAX_SCHEDULE_YEARS, so that the
 * next refresh time (now plus the interval) is always a valid timestamp and
 * computing it never fails, for the scheduler or reporting.status.  argname
 * names the argument in the error (22023).
 */
void
reporting_check_interval_bound(const Interval *span, const char *argname)
{
	int64		days = span->day + (int64) span->month * DAYS_PER_MONTH +
		span->time / USECS_PER_DAY;

	if (days > (int64) MAX_SCHEDULE_YEARS * 366)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("\"%s\" is too large", argname),
				 errdetail("The largest accepted value is %d years.", MAX_SCHEDULE_YEARS)));
}

/*
 * Check a refresh mode: "auto" (when allowed), "concurrently" or "plain".
 */
void
reporting_check_mode(const char *mode, const char *argname, bool allow_auto)
{
	if ((allow_auto && strcmp(mode, "auto") == 0) ||
		strcmp(mode, "concurrently") == 0 ||
		strcmp(mode, "plain") == 0)
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid value for \"%s\": \"%s\"", argname, mode),
			 errhint("Valid values are \"auto\", \"concurrently\" and \"plain\".")));
}
