/*-------------------------------------------------------------------------
 *
 * capture_ranges.h
 *		Bounded sets of closed int64 ranges that widen rather than drop
 *		values: the capture's per-transaction, shared and claimed ranges.
 *		See capture_ranges.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REPORTING_CAPTURE_RANGES_H
#define REPORTING_CAPTURE_RANGES_H

#include "postgres.h"

extern int	capture_ranges_add(int64 *lo, int64 *hi, uint64 *stamp, int n, int capacity,
							   int64 add_lo, int64 add_hi, uint64 add_stamp);

#endif							/* REPORTING_CAPTURE_RANGES_H */
