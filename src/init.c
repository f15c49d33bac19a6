/*-------------------------------------------------------------------------
 *
 * init.c
 *		Entry point of the reporting library: module magic, GUCs, and the
 *		one place where every hook is installed and dispatched to the
 *		modules.
 *
 * The library is meant to be listed in shared_preload_libraries, where change
 * tracking and the scheduler need it; it also loads on demand when one of its
 * SQL functions is first called, so that CREATE EXTENSION and manual
 * refreshes work without preloading.
 *
 * Hooks (installed once, while preloading, each chained to the previous one):
 *	shmem_request, shmem_startup	tracker (tracking.c), capture
 *									(incremental_capture.c), then workers
 *									(worker_state.c, running.c)
 *	ExecutorStart, ExecutorEnd		tracking notes the plan's result relations
 *									(again at the end: a refresh inside the
 *									statement saw only the rows before it)
 *	ProcessUtility					tracking notes COPY, TRUNCATE & co before the
 *									command; lifecycle.c wraps it (DROP DATABASE
 *									& co); tracking notes REFRESH after it
 *	object_access (OAT_DROP)		tracking notes dropped relations and databases
 * and one transaction callback (always): tracking, the incremental capture
 * (incremental_capture.c), then the workers' wake-ups.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <limits.h>

#include "access/xact.h"
#include "catalog/objectaccess.h"
#include "executor/executor.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "postmaster/postmaster.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "tcop/utility.h"
#include "utils/guc.h"

#include "incremental.h"
#include "reporting.h"
#include "run_generations.h"
#include "worker_slots.h"
#include "tracking.h"

PG_MODULE_MAGIC;

/* how long the history of refreshes is kept, in seconds */
int			reporting_history_max_age = 30 * 24 * 60 * 60;
/* runs kept per view (0: no cap) */
int			reporting_history_max_runs = 1000;
/* views scheduled more often than this (seconds) keep only their latest success */
int			reporting_history_frequent_below = 0;
/* scheduling on or paused */
bool		reporting_enabled = true;
/* refresh workers running at once, server-wide */
int			reporting_max_workers = 2;
/* may the scheduler and refresh workers run refreshes as a superuser */
bool		reporting_enable_superuser_refresh = false;

void		_PG_init(void);

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;
static ExecutorStart_hook_type prev_executor_start_hook = NULL;
static ExecutorEnd_hook_type prev_executor_end_hook = NULL;
static ProcessUtility_hook_type prev_process_utility_hook = NULL;
static object_access_hook_type prev_object_access_hook = NULL;

/* shmem_request_hook: every module's shared memory and locks */
static void
reporting_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	reporting_tracking_shmem_request();
	reporting_run_generations_shmem_request();
	reporting_capture_shmem_request();
	reporting_workers_shmem_request();
	reporting_slots_shmem_request();
}

/* shmem_startup_hook: create or attach to every module's shared state */
static void
reporting_shmem_startup(void)
{
	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	reporting_tracking_shmem_startup();
	reporting_run_generations_shmem_startup();
	reporting_capture_shmem_startup();
	reporting_workers_shmem_startup();
	reporting_slots_shmem_startup();
	LWLockRelease(AddinShmemInitLock);
}

/* ExecutorStart_hook: note what the plan writes, then start it */
static void
reporting_executor_start(QueryDesc *queryDesc, int eflags)
{
	if ((eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0)
		reporting_note_plan_writes(queryDesc->plannedstmt);
	if (prev_executor_start_hook)
		prev_executor_start_hook(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

/*
 * ExecutorEnd_hook: note what the plan wrote once more, now that the rows
 * are in: a refresh that ran inside the statement (a writable CTE beside
 * reporting.refresh(), a trigger calling it) recorded the tables before
 * the rest of the statement's rows were written.
 */
static void
reporting_executor_end(QueryDesc *queryDesc)
{
	if ((queryDesc->estate->es_top_eflags & EXEC_FLAG_EXPLAIN_ONLY) == 0)
		reporting_note_plan_writes(queryDesc->plannedstmt);
	if (prev_executor_end_hook)
		prev_executor_end_hook(queryDesc);
	else
		standard_ExecutorEnd(queryDesc);
}

/* the rest of the ProcessUtility chain */
static void
next_process_utility(PlannedStmt *pstmt, const char *queryString,
					 bool readOnlyTree, ProcessUtilityContext context,
					 ParamListInfo params, QueryEnvironment *queryEnv,
					 DestReceiver *dest, QueryCompletion *qc)
{
	if (prev_process_utility_hook)
		prev_process_utility_hook(pstmt, queryString, readOnlyTree, context,
								  params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context,
								params, queryEnv, dest, qc);
}

/* ProcessUtility_hook: tracking before and after, lifecycle around */
static void
reporting_process_utility(PlannedStmt *pstmt, const char *queryString,
						  bool readOnlyTree, ProcessUtilityContext context,
						  ParamListInfo params, QueryEnvironment *queryEnv,
						  DestReceiver *dest, QueryCompletion *qc)
{
	reporting_note_utility(pstmt->utilityStmt, false);
	reporting_lifecycle_utility(pstmt, queryString, readOnlyTree, context, params,
								queryEnv, dest, qc, next_process_utility);
	reporting_note_utility(pstmt->utilityStmt, true);
}

/* object_access_hook: dropped relations and databases */
static void
reporting_object_access(ObjectAccessType access, Oid classId, Oid objectId,
						int subId, void *arg)
{
	if (prev_object_access_hook)
		prev_object_access_hook(access, classId, objectId, subId, arg);
	if (access == OAT_DROP)
		reporting_note_drop(classId, objectId, subId);
}

/*
 * The one transaction callback: tracking and the history generations
 * publish, then workers are woken.
 */
static void
reporting_xact_callback(XactEvent event, void *arg)
{
	reporting_tracking_xact_event(event);
	reporting_run_generations_xact_event(event);
	reporting_capture_xact_event(event);
	reporting_workers_xact_event(event);
}

/* The one subtransaction callback: the capture's releases follow savepoints. */
static void
reporting_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	reporting_capture_subxact_event(event, mySubid, parentSubid);
}

/* Install every hook, once, chained to the previous one (preload only). */
static void
install_hooks(void)
{
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = reporting_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = reporting_shmem_startup;
	prev_executor_start_hook = ExecutorStart_hook;
	ExecutorStart_hook = reporting_executor_start;
	prev_executor_end_hook = ExecutorEnd_hook;
	ExecutorEnd_hook = reporting_executor_end;
	prev_process_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = reporting_process_utility;
	prev_object_access_hook = object_access_hook;
	object_access_hook = reporting_object_access;
}

/*
 * Register the GUCs.  They are all in the "reporting." namespace, which is
 * then reserved so that a typo such as reporting.histroy_max_age is reported
 * instead of silently creating a placeholder.
 */
void
_PG_init(void)
{
	DefineCustomIntVariable("reporting.history_max_age",
							"How long the history of refreshes (reporting.runs) is kept.",
							"Runs older than this are deleted when views are refreshed.",
							&reporting_history_max_age,
							30 * 24 * 60 * 60,
							60,
							INT_MAX,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);

	DefineCustomIntVariable("reporting.history_max_runs",
							"Runs kept in reporting.runs per view; older ones are deleted.",
							"0 keeps every run (still bounded by reporting.history_max_age).",
							&reporting_history_max_runs,
							1000, 0, INT_MAX,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("reporting.history_frequent_below",
							"Views scheduled more often than this keep only their latest successful refresh in the history.",
							"Their failures and skips are kept.  0 turns this off.",
							&reporting_history_frequent_below,
							0, 0, INT_MAX,
							PGC_SIGHUP, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomBoolVariable("reporting.enabled",
							 "Whether the scheduler refreshes registered views on their schedules.",
							 "Off pauses scheduling: in every database from the configuration files, in one with ALTER DATABASE ... SET.  Manual refreshes and refresh_all still work.",
							 &reporting_enabled,
							 true,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("reporting.max_workers",
							"Refreshes that background workers run at once, across the server.",
							"Each needs a background worker (max_worker_processes).",
							&reporting_max_workers,
							2, 0, MAX_BACKENDS,
							PGC_SIGHUP, 0,
							NULL, NULL, NULL);

	DefineCustomBoolVariable("reporting.enable_superuser_refresh",
							 "Whether views owned by a superuser are refreshed by the scheduler and on behalf of other roles.",
							 "Off: their scheduled refreshes and the refreshes other roles ask for are skipped, since they would run the views' queries as a superuser.  A superuser's own reporting.refresh() and refresh_all() still refresh them.",
							 &reporting_enable_superuser_refresh,
							 false,
							 PGC_SIGHUP, 0,
							 NULL, NULL, NULL);

	if (process_shared_preload_libraries_in_progress)
	{
		reporting_tracking_define_gucs();
		reporting_capture_define_gucs();
		install_hooks();
		reporting_register_launcher();
	}
	RegisterXactCallback(reporting_xact_callback, NULL);
	RegisterSubXactCallback(reporting_subxact_callback, NULL);

	MarkGUCPrefixReserved("reporting");
}
