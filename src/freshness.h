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
extern TimestampTz reporting_age_words_until(TimestampTz since, TimestampTz now);

#endif							/* REPORTING_FRESHNESS_H */
