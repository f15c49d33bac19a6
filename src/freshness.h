/*-------------------------------------------------------------------------
 *
 * freshness.h
 *		reporting.freshness() and its cache; the words of an age.  See
 *		freshness.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REPORTING_FRESHNESS_H
#define REPORTING_FRESHNESS_H

#include "postgres.h"

#include "datatype/timestamp.h"

extern char *reporting_age_words(double secs);
extern char *reporting_freshness_words(const char *schedule, const char *cron,
									   const char *tzname, bool refreshed,
									   TimestampTz last_refreshed_at, bool failed,
									   TimestampTz last_started_at, TimestampTz now);

#endif							/* REPORTING_FRESHNESS_H */
