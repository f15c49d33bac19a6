/*-------------------------------------------------------------------------
 *
 * lifecycle.c
 *		Keeping the background workers out of the way of commands on
 *		databases and on the extension itself.
 *
 * A scheduler or refresh worker connected to a database would make DROP
 * DATABASE, ALTER DATABASE ... RENAME / SET TABLESPACE and CREATE DATABASE
 * ... TEMPLATE fail ("database is being accessed by other users").  Before
 * such a command runs, the database's scheduling is paused and its workers
 * are asked to stop (they do within moments; the server itself waits up to
 * five seconds for them); the pause ends when the command is over, whether
 * it succeeded or not.
 *
 * DROP EXTENSION reporting stops the database's refresh workers first (their
 * refreshes roll back), so that it never waits for a long refresh; the
 * scheduler, woken at commit, finds the extension gone and stops.  CREATE
 * and ALTER EXTENSION reporting wake the launcher at commit, which starts a
 * scheduler in the database.
 *
 * reporting.pause_scheduling() uses the same pause for a while of the
 * database owner's choosing: a test database (Django's test runner copies
 * the application's database) must not have the scheduler refresh its
 * reports behind the tests' back.
 *
 * Keeping a registration across DROP + CREATE of a view in one transaction
 * is done by the event triggers of the 0.5.0 script (issue 13), not here.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <signal.h>

#include "commands/dbcommands.h"
#include "commands/defrem.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include "reporting.h"
#include "worker_slots.h"

/* how long a paused database stays paused if the command never says it is over */
#define PAUSE_SECONDS 60

/* the longest pause reporting.pause_scheduling() grants: one week */
#define PAUSE_MAX_USECS (7 * USECS_PER_DAY)
/*
 * Signal the refresh workers of a database (SIGTERM: they roll their
 * refresh back, record it as interrupted and exit) and, with
 * scheduler_too, its scheduler.
 */
static void
signal_database_workers(Oid dboid, bool scheduler_too)
{
	int			max = reporting_slot_count();
	pid_t	   *pids = palloc(sizeof(pid_t) * (max + 1));
	int			npids = reporting_slot_worker_pids(dboid, pids, max);

	if (scheduler_too && (pids[npids] = reporting_scheduler_pid(dboid)) != 0)
		npids++;
	for (int i = 0; i < npids; i++)
		kill(pids[i], SIGTERM);
	pfree(pids);
}

/*
 * WARNING when background workers may run short for a scheduler here:
 * the launcher, a scheduler per database with the extension (this one
 * included) and reporting.max_workers refresh workers each need one of
 * max_worker_processes.  Without a free one, no view of this database would
 * ever be refreshed on schedule, silently.
 */
static void
warn_if_workers_short(void)
{
	int			schedulers = reporting_schedulers_running(MyDatabaseId) + 1;
	int			needed = 1 + schedulers + reporting_max_workers;

	if (!process_shared_preload_libraries_done || reporting_workers == NULL ||
		needed <= max_worker_processes)
		return;
	ereport(WARNING,
			(errmsg("refreshes may not be scheduled in database \"%s\"",
					get_database_name(MyDatabaseId)),
			 errdetail("The reporting launcher, %d schedulers (one per database with the extension) and reporting.max_workers = %d refresh workers need %d background workers; max_worker_processes is %d.",
					   schedulers, reporting_max_workers, needed, max_worker_processes),
			 errhint("Raise max_worker_processes (it needs a restart), or drop the extension from databases that do not need it.")));
}

/* Pause scheduling in a database (or end the pause), and stop its workers. */
static void
pause_database(Oid dboid, bool pause)
{
	ReportingDatabase *db;

	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	db = reporting_find_database(dboid, pause);
	if (db != NULL)
		db->paused_until = pause ?
			TimestampTzPlusMilliseconds(GetCurrentTimestamp(), PAUSE_SECONDS * 1000) : 0;
	LWLockRelease(reporting_workers->lock);
	if (pause)
		signal_database_workers(dboid, true);
	else
		reporting_wake_launcher();
}

/* The database a command needs to itself, or InvalidOid. */
static Oid
database_needed_alone(Node *parsetree)
{
	const char *name = NULL;

	if (IsA(parsetree, DropdbStmt))
		name = ((DropdbStmt *) parsetree)->dbname;
	else if (IsA(parsetree, RenameStmt) &&
			 ((RenameStmt *) parsetree)->renameType == OBJECT_DATABASE)
		name = ((RenameStmt *) parsetree)->subname;
	else if (IsA(parsetree, AlterDatabaseStmt))
	{
		ListCell   *lc;

		foreach(lc, ((AlterDatabaseStmt *) parsetree)->options)
			if (strcmp(((DefElem *) lfirst(lc))->defname, "tablespace") == 0)
				name = ((AlterDatabaseStmt *) parsetree)->dbname;
	}
	else if (IsA(parsetree, CreatedbStmt))
	{
		ListCell   *lc;

		foreach(lc, ((CreatedbStmt *) parsetree)->options)
		{
			DefElem    *opt = (DefElem *) lfirst(lc);

			if (strcmp(opt->defname, "template") == 0 && opt->arg != NULL)
				name = defGetString(opt);
		}
	}
	return name ? get_database_oid(name, true) : InvalidOid;
}

/* Is this DROP EXTENSION dropping reporting? */
static bool
drops_this_extension(Node *parsetree)
{
	DropStmt   *stmt;
	ListCell   *lc;

	if (!IsA(parsetree, DropStmt))
		return false;
	stmt = (DropStmt *) parsetree;
	if (stmt->removeType != OBJECT_EXTENSION)
		return false;
	foreach(lc, stmt->objects)
		if (strcmp(strVal(lfirst(lc)), REPORTING_EXTENSION_NAME) == 0)
			return true;
	return false;
}

/* Does this CREATE or ALTER EXTENSION install or update reporting? */
static bool
installs_this_extension(Node *parsetree)
{
	if (IsA(parsetree, CreateExtensionStmt))
		return strcmp(((CreateExtensionStmt *) parsetree)->extname,
					  REPORTING_EXTENSION_NAME) == 0;
	if (IsA(parsetree, AlterExtensionStmt))
		return strcmp(((AlterExtensionStmt *) parsetree)->extname,
					  REPORTING_EXTENSION_NAME) == 0;
	return false;
}

/*
 * Run a utility command through "next" (the rest of the ProcessUtility
 * chain), stepping aside first when it needs a database to itself, stopping
 * refresh workers before DROP EXTENSION reporting, and waking the launcher
 * after CREATE or ALTER EXTENSION reporting.  Called by init.c's hook.
 */
void
reporting_lifecycle_utility(PlannedStmt *pstmt, const char *queryString,
							bool readOnlyTree, ProcessUtilityContext context,
							ParamListInfo params, QueryEnvironment *queryEnv,
							DestReceiver *dest, QueryCompletion *qc,
							ProcessUtility_hook_type next)
{
	Node	   *parsetree = pstmt->utilityStmt;
	Oid			alone = database_needed_alone(parsetree);

	if (OidIsValid(alone))
	{
		pause_database(alone, true);
		PG_TRY();
		{
			next(pstmt, queryString, readOnlyTree, context, params,
			 queryEnv, dest, qc);
		}
		PG_CATCH();
		{
			pause_database(alone, false);
			PG_RE_THROW();
		}
		PG_END_TRY();
		/* a dropped database stays paused until the launcher forgets it */
		if (!IsA(parsetree, DropdbStmt))
			pause_database(alone, false);
		return;
	}
	if (drops_this_extension(parsetree))
	{
		signal_database_workers(MyDatabaseId, false);
		reporting_wake_scheduler_at_commit();
	}
	next(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	if (installs_this_extension(parsetree))
	{
		if (!reporting_database_has_room(MyDatabaseId))
			ereport(WARNING,
					(errmsg("refreshes will not be scheduled in database \"%s\"",
							get_database_name(MyDatabaseId)),
					 errdetail("The reporting scheduler serves at most %d databases per server.",
							   REPORTING_MAX_DATABASES),
					 errhint("Manual refreshes and reporting.refresh_all() work; drop the extension from databases that do not need it.")));
		else
			warn_if_workers_short();
		reporting_wake_launcher_at_commit();
	}
}

/*
 * reporting.pause_scheduling(duration interval) RETURNS void
 *
 * No scheduled refresh in the current database for "duration" from now: the
 * scheduler of the database and its refresh workers are stopped (their
 * refreshes roll back) and the launcher starts no new one until then.  A
 * duration of zero ends the pause at once.  Manual refreshes and
 * refresh_all() are not affected.  Without the library preloaded nothing is
 * scheduled, and this does nothing.
 *
 * Errors: 42501 unless the caller owns the database (or is a superuser);
 * 22023 for a negative duration, one with months, or one over a week.
 */
PG_FUNCTION_INFO_V1(reporting_pause_scheduling);
Datum
reporting_pause_scheduling(PG_FUNCTION_ARGS)
{
	Interval   *span = PG_GETARG_INTERVAL_P(0);
	int64		usecs = span->time + (int64) span->day * USECS_PER_DAY;
	ReportingDatabase *db;

	if (!pg_database_ownercheck(MyDatabaseId, GetUserId()))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("must be owner of database %s to pause its scheduling",
						get_database_name(MyDatabaseId)),
				 errhint("Pause scheduling in a database of your own, such as a test database.")));
	if (span->month != 0 || usecs < 0 || usecs > PAUSE_MAX_USECS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid pause duration"),
				 errdetail("A pause lasts from 0 (which ends it) to 7 days, without months.")));
	if (reporting_workers == NULL)
		PG_RETURN_VOID();
	LWLockAcquire(reporting_workers->lock, LW_EXCLUSIVE);
	db = reporting_find_database(MyDatabaseId, usecs > 0);
	if (db != NULL)
		db->paused_until = usecs > 0 ?
			TimestampTzPlusMilliseconds(GetCurrentTimestamp(), usecs / 1000) : 0;
	LWLockRelease(reporting_workers->lock);
	if (usecs > 0)
		signal_database_workers(MyDatabaseId, true);
	else
		reporting_wake_launcher();
	PG_RETURN_VOID();
}

/*
 * reporting.scheduling_paused_until() RETURNS timestamptz
 *
 * Until when scheduling is paused in the current database (by
 * reporting.pause_scheduling(), or while a command needs the database to
 * itself), or NULL when it is not paused or the library is not preloaded.
 */
PG_FUNCTION_INFO_V1(reporting_scheduling_paused_until);
Datum
reporting_scheduling_paused_until(PG_FUNCTION_ARGS)
{
	ReportingDatabase *db;
	TimestampTz until = 0;

	if (reporting_workers == NULL)
		PG_RETURN_NULL();
	LWLockAcquire(reporting_workers->lock, LW_SHARED);
	db = reporting_find_database(MyDatabaseId, false);
	if (db != NULL)
		until = db->paused_until;
	LWLockRelease(reporting_workers->lock);
	if (until <= GetCurrentTimestamp())
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(until);
}
