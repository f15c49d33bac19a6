/*-------------------------------------------------------------------------
 *
 * reporting.h
 *		Declarations shared by the reporting extension's C files.
 *
 * Each .c file owns one concern: init.c (entry point, GUCs), catalog.c
 * (access to the extension's own tables and to the view being managed),
 * register.c (register/unregister), refresh.c (refreshing one view),
 * refresh_all.c (every registered view, in dependency order),
 * schedule.c (validating schedules), runs.c (the history of refreshes),
 * worker_state.c (shared state of the launcher and schedulers),
 * worker_slots.c (the refresh-worker slots, worker_slots.h), running.c (who is refreshing what, now), launcher.c,
 * scheduler.c, refresh_worker.c (the background workers), lifecycle.c
 * (getting out of the way of DROP DATABASE, DROP EXTENSION and friends),
 * security.c (who a refresh may run as, and delegated refresh).
 *
 *-------------------------------------------------------------------------
 */
#ifndef REPORTING_H
#define REPORTING_H

#include "postgres.h"

#include "access/xact.h"
#include "datatype/timestamp.h"
#include "pgtime.h"
#include "postmaster/bgworker.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "tcop/utility.h"
#include "utils/timestamp.h"

#define REPORTING_EXTENSION_NAME "reporting"
#define REPORTING_SCHEMA_NAME "reporting"

/* the server release from which REFRESH ... CONCURRENTLY is safe (CVE-2024-0985) */
#define REPORTING_MIN_CONCURRENT_VERSION 150006

/* GUCs (init.c) */
extern int	reporting_history_max_age;
extern int	reporting_history_max_runs;
extern int	reporting_history_frequent_below;
extern bool reporting_enabled;
extern int	reporting_max_workers;
extern bool reporting_enable_superuser_refresh;

/* dependencies.c: what a query depends on besides its tables */
struct Query;
extern List *reporting_query_tree_dependencies(struct Query *query, List **objects);

/* catalog_epoch.c: relcache invalidations seen by this backend */
extern uint64 reporting_catalog_epoch(void);

/* catalog.c: the view being managed */
extern void reporting_check_manageable(Oid relid);
extern char *reporting_qualified_name(Oid relid);
extern char *reporting_display_name(Oid relid);
extern bool reporting_matview_is_populated(Oid relid);
extern Oid	reporting_relation_owner(Oid relid, bool *can_login);
extern Oid	reporting_owner_of(Oid relid);
extern bool reporting_extension_at_least(const char *version);

/* the oldest version of the SQL objects that refresh workers and schedulers need */
#define REPORTING_WORKERS_MIN_VERSION "0.3.0"
/* the version of the SQL objects from which tracking needs no trigger */
#define REPORTING_HOOK_TRACKING_VERSION "0.4.0"
/* the oldest version with registered owners and delegated refresh */
#define REPORTING_SECURITY_MIN_VERSION "0.4.0"

/* catalog.c: the extension's own tables */
typedef struct ReportingRegistration
{
	Oid			view;
	char		mode[16];		/* auto, concurrently or plain */
	int64		lock_timeout_ms;
	int64		statement_timeout_ms;	/* 0 when none */
	Oid			owner;			/* the view's owner when it was registered;
								 * InvalidOid before 0.4.0 */
} ReportingRegistration;

extern bool reporting_load_registration(Oid relid, ReportingRegistration *reg);
extern void reporting_require_registration(Oid relid, ReportingRegistration *reg);
extern int	reporting_enter_catalog_context(int *save_sec_context, Oid *save_userid);
extern void reporting_leave_catalog_context(int nestlevel, int save_sec_context,
											Oid save_userid);
extern int	reporting_pin_search_path(void);

/* catalog.c: is the schema called "reporting" the extension's own, and safe? */
typedef enum ReportingSchemaProblem
{
	SCHEMA_TRUSTED,
	SCHEMA_NO_EXTENSION,		/* the extension is not installed */
	SCHEMA_SWAPPED,				/* "reporting" is not pg_extension.extnamespace */
	SCHEMA_NOT_SUPERUSER_OWNED, /* its owner is not a superuser */
	SCHEMA_OPEN_TO_CREATE		/* another role may CREATE in it */
} ReportingSchemaProblem;

extern ReportingSchemaProblem reporting_schema_problem(void);
extern bool reporting_check_schema(int elevel);
extern void reporting_unpin_search_path(int nestlevel);

/* security.c: who a refresh may run as, and who may ask for one */
typedef enum ReportingRefusal
{
	REFRESH_ALLOWED,
	REFUSED_OWNER_CHANGED,		/* the view changed hands since registration */
	REFUSED_SUPERUSER_OWNER		/* it would run as a superuser nobody asked */
} ReportingRefusal;

extern ReportingRefusal reporting_refresh_refusal(Oid relid, Oid registered_owner,
												  Oid requester, bool manual, Oid *owner);
extern bool reporting_refresh_refused(Oid relid, Oid registered_owner, Oid requester,
									  bool manual, char **reason, char **hint);
extern void reporting_check_refresh_allowed(Oid relid, Oid registered_owner,
											Oid requester, bool manual);
extern void reporting_check_refreshable(Oid relid);

/* staleness.c: what a refresh records of its sources */
typedef struct ReportingTracking
{
	bool		valid;			/* captured at all */
	bool		epoch_known;	/* tracking on, and the snapshot came after */
	int64		epoch;
	Oid			database;		/* generations are per database */
	Datum		sources;		/* regclass[] */
	Datum		generations;	/* int8[], NULL where unknown */
} ReportingTracking;

extern void reporting_capture_generations(Oid relid, ReportingTracking *tracking,
										  MemoryContext resultcxt);

/* refresh.c */
typedef struct ReportingRefreshResult
{
	char		mode[16];		/* concurrently or plain */
	int64		rows;
	TimestampTz started_at;
	TimestampTz finished_at;
	ReportingTracking tracking;
} ReportingRefreshResult;

extern void reporting_refresh_view(Oid relid, const char *requested_mode,
								   const char *origin, Oid requester,
								   ReportingRefreshResult *result);
extern const char *reporting_choose_mode(Oid relid, const char *mode, bool raise);
struct ReportingView;
extern void reporting_refresh_loaded(struct ReportingView *view, const char *requested_mode,
									 const char *origin, Oid requester,
									 ReportingRefreshResult *result);
extern bool reporting_has_usable_unique_index(Oid relid);
extern bool reporting_last_refresh_timed_out(void);
extern void reporting_check_not_in_recovery(void);

/* runs.c: the history of refreshes (reporting.runs) */
extern void reporting_record_run(Oid relid, const char *origin, const char *status,
								 const ReportingRefreshResult *result, bool rows_known,
								 const char *error, const char *sqlstate);
extern int64 reporting_start_run(Oid relid, const char *origin, const char *started_by,
								 TimestampTz started_at);
extern void reporting_finish_run(int64 run_id, const char *status,
								 const ReportingRefreshResult *result, bool rows_known,
								 const char *error, const char *sqlstate);
extern void reporting_prune_history(void);
extern bool reporting_tracking_installed(void);
extern bool reporting_runs_record_database(void);
extern int	reporting_mark_interrupted(TimestampTz before, int nlive, const Oid *live_views);

/* refresh.c: one refresh of a view at a time, whoever starts it */
extern bool reporting_lock_refresh(Oid relid, bool wait);
extern void reporting_wait_for_refresh(Oid relid, int64 lock_timeout_ms);

/* running.c: the refresh each backend is running now */
extern void reporting_running_begin(Oid relid, const char *origin, const char *mode,
									TimestampTz started_at);
extern void reporting_running_end(void);
extern bool reporting_running_elsewhere(Oid dboid, Oid relid, char *origin, pid_t *pid);
extern Size reporting_running_shmem_size(void);
extern void reporting_running_shmem_init(void);

/* worker_state.c: shared state of the launcher and the schedulers */
#define REPORTING_MAX_DATABASES 1024
/* what the launcher knows of one database */
typedef struct ReportingDatabase
{
	Oid			dboid;			/* InvalidOid: free entry */
	pid_t		scheduler_pid;	/* 0 when none runs */
	Latch	   *scheduler_latch;
	TimestampTz paused_until;	/* no scheduler before this (DROP DATABASE ...) */
	TimestampTz retry_at;		/* after a scheduler failed */
	bool		no_extension;	/* the scheduler found no usable extension */
	bool		recheck;		/* the extension was created or updated */
	bool		settled;		/* the scheduler last started here claimed it */
} ReportingDatabase;

typedef struct ReportingWorkerShared
{
	LWLock	   *lock;
	pid_t		launcher_pid;
	Latch	   *launcher_latch;
	bool		rescan;			/* read pg_database now: a database may be new */
	ReportingDatabase dbs[REPORTING_MAX_DATABASES];
} ReportingWorkerShared;

extern ReportingWorkerShared *reporting_workers;

extern void reporting_workers_shmem_request(void);
extern void reporting_workers_shmem_startup(void);
extern void reporting_workers_xact_event(XactEvent event);
extern ReportingDatabase *reporting_find_database(Oid dboid, bool create);
extern bool reporting_database_has_room(Oid dboid);
extern void reporting_wake_scheduler_at_commit(void);
extern void reporting_wake_launcher_at_commit(void);
extern void reporting_wake_launcher(void);
extern pid_t reporting_scheduler_pid(Oid dboid);
extern void reporting_databases_sync(Oid *listed, int nlisted, Oid *keep, int nkeep,
									 ReportingDatabase *copy, bool *is_listed);
extern void reporting_database_launched(int index, Oid dboid, bool started,
										TimestampTz retry_at);
extern int	reporting_schedulers_running(Oid dboid);
extern void reporting_describe_worker(BackgroundWorker *worker, const char *function,
									  const char *type, int restart_time, Datum arg);

/* launcher.c, scheduler.c, refresh_worker.c: background worker entry points */
extern PGDLLEXPORT void reporting_launcher_main(Datum main_arg);
extern PGDLLEXPORT void reporting_scheduler_main(Datum main_arg);
extern PGDLLEXPORT void reporting_refresh_worker_main(Datum main_arg);
extern void reporting_register_launcher(void);

/* lifecycle.c: the ProcessUtility hook's half that steps aside for DROP DATABASE & co */
extern void reporting_lifecycle_utility(PlannedStmt *pstmt, const char *queryString,
										bool readOnlyTree, ProcessUtilityContext context,
										ParamListInfo params, QueryEnvironment *queryEnv,
										DestReceiver *dest, QueryCompletion *qc,
										ProcessUtility_hook_type next);

/* schedule.c: a parsed 5-field cron expression, one bit per allowed value */
typedef struct ReportingCron
{
	uint64		minutes;		/* bits 0-59 */
	uint32		hours;			/* bits 0-23 */
	uint32		days;			/* bits 1-31 */
	uint32		months;			/* bits 1-12 */
	uint32		weekdays;		/* bits 0-6, Sunday is 0 */
	bool		days_star;		/* day-of-month field was "*" */
	bool		weekdays_star;	/* day-of-week field was "*" */
} ReportingCron;

extern void reporting_parse_cron(const char *expr, ReportingCron *cron);
extern void reporting_validate_timezone(const char *tzname);
extern TimestampTz reporting_cron_next(const ReportingCron *cron, pg_tz *tz,
									   TimestampTz after);
extern pg_tz *reporting_schedule_timezone(const char *tzname);

/* arguments.c: checking what callers pass to the SQL API */
extern int64 reporting_interval_usecs(const Interval *span);
extern int64 reporting_positive_interval_ms(const Interval *span, const char *argname);
extern void reporting_check_mode(const char *mode, const char *argname, bool allow_auto);
extern void reporting_check_interval_bound(const Interval *span, const char *argname);

#endif							/* REPORTING_H */
