/*-------------------------------------------------------------------------
 *
 * capture_ranges.c
 *		Bounded sets of closed int64 ranges that widen rather than drop
 *		values: what the capture (incremental_capture.c) keeps per
 *		transaction, per report in shared memory, and in a refresh's claim.
 *
 * A set is n ranges [lo[i], hi[i]] in arrays of a fixed capacity, sorted by
 * lo and disjoint, each optionally with a stamp (the latest publication in
 * it).  Adding a range merges it with every range it overlaps; when the set
 * then fills its capacity, the two neighbours closest together are merged
 * into one, so that a slot is always free for the next value.  Every step
 * is one pass over the set: bulk writes (COPY, INSERT ... SELECT, a large
 * UPDATE) add a value per row, and the shared set is added to at every
 * commit under an exclusive lock, so a set that stays full must cost no
 * more than an empty one.  (Unsorted sets merged by comparing every pair
 * cost a COPY about 860 CPU instructions per row, the capture's largest
 * part.)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "capture_ranges.h"

/*
 * Merge range k + 1 into range k, closing the gap between them (stamps keep
 * the newer); returns the new count.
 */
static int
merge_into_previous(int64 *lo, int64 *hi, uint64 *stamp, int n, int k)
{
	hi[k] = Max(hi[k], hi[k + 1]);
	if (stamp)
		stamp[k] = Max(stamp[k], stamp[k + 1]);
	for (int j = k + 1; j + 1 < n; j++)
	{
		lo[j] = lo[j + 1];
		hi[j] = hi[j + 1];
		if (stamp)
			stamp[j] = stamp[j + 1];
	}
	return n - 1;
}

/* Merge the two neighbours closest together; returns the new count. */
static int
merge_closest_neighbours(int64 *lo, int64 *hi, uint64 *stamp, int n)
{
	int			best = 0;
	uint64		best_gap = PG_UINT64_MAX;

	for (int k = 0; k + 1 < n; k++)
	{
		uint64		gap = (uint64) lo[k + 1] - (uint64) hi[k];

		if (gap < best_gap)
		{
			best_gap = gap;
			best = k;
		}
	}
	return merge_into_previous(lo, hi, stamp, n, best);
}

/*
 * Add the closed range [add_lo, add_hi] (add_lo <= add_hi) with add_stamp to
 * the set of n sorted, disjoint ranges in lo, hi and stamp (NULL for a set
 * without stamps), arrays of capacity entries, n < capacity.  Returns the
 * new count, below capacity again: every value of the set and of the range
 * stays covered, ranges only widen.  A range that absorbs others keeps the
 * newest stamp.  Raises nothing.
 */
int
capture_ranges_add(int64 *lo, int64 *hi, uint64 *stamp, int n, int capacity,
				   int64 add_lo, int64 add_hi, uint64 add_stamp)
{
	int			first = 0;
	int			last;

	Assert(n < capacity && add_lo <= add_hi);
	/* the ranges before add_lo, then those overlapping the new one */
	while (first < n && hi[first] < add_lo)
		first++;
	last = first;
	while (last < n && lo[last] <= add_hi)
		last++;
	if (last > first)
	{
		/* it overlaps ranges first .. last - 1: widen first over them */
		lo[first] = Min(lo[first], add_lo);
		hi[first] = Max(hi[last - 1], add_hi);
		if (stamp)
			stamp[first] = Max(stamp[first], add_stamp);
		while (last - 1 > first)
		{
			n = merge_into_previous(lo, hi, stamp, n, first);
			last--;
		}
		return n;
	}
	/* a range of its own, at first (most often the end: times grow) */
	for (int k = n; k > first; k--)
	{
		lo[k] = lo[k - 1];
		hi[k] = hi[k - 1];
		if (stamp)
			stamp[k] = stamp[k - 1];
	}
	lo[first] = add_lo;
	hi[first] = add_hi;
	if (stamp)
		stamp[first] = add_stamp;
	n++;
	if (n == capacity)
		n = merge_closest_neighbours(lo, hi, stamp, n);
	return n;
}
