/*-------------------------------------------------------------------------
 *
 * sched_cache.h
 *		The scheduler's cache of registrations and of what their history
 *		says, invalidated when they change.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REPORTING_SCHED_CACHE_H
#define REPORTING_SCHED_CACHE_H

#include "decide.h"

/* the version whose registrations table tells schedulers when it changed */
#define SCHED_CACHE_MIN_VERSION "0.5.0"

extern bool sched_run_isolated(void (*fn) (void *arg), void *arg, char *message,
							   size_t message_len);
extern void sched_cache_init(void);
extern void sched_cache_refresh(void);
extern void sched_cache_invalidate(void);
extern void sched_cache_recheck_next(void);
extern SchedView **sched_cache_views(int *nviews);
extern SchedView *sched_cache_lookup(Oid view);
extern void sched_cache_load_runs(SchedView *v);
extern void sched_cache_mark_stale(SchedView *v);
extern void sched_read_runs(SchedView *v);
extern pg_tz *sched_default_timezone(void);
extern void sched_cache_load_upstream(SchedView *v);
extern void sched_cache_forget(Oid view);
extern void sched_cache_worker_done(Oid view);
extern void sched_parse_registration(SchedView *v, const char *every_text,
									 const char *cron, const char *timezone,
									 const char *max_age_text);

#endif							/* REPORTING_SCHED_CACHE_H */
