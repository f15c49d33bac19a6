/*-------------------------------------------------------------------------
 *
 * runs.c
 *		The history of refreshes: reporting.runs.
 *
 * A refresh in the caller's session (reporting.refresh, refresh_all without
 * workers) appends its row when it is done, in the caller's transaction.  A
 * refresh worker appends a "running" row in a transaction of its own first,
 * so that a refresh in progress is visible and a worker that dies leaves a
 * trace, and completes the row when it is done.  "running" rows whose worker
 * is gone (a crash, a restart) are marked "interrupted" by the scheduler.
 *
 * Every write here runs as the extension's owner with a pinned search_path.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

#include "reporting.h"

/* a nullable text argument */
static void
text_arg(const char *value, Datum *datum, char *null)
{
	*datum = value ? CStringGetTextDatum(value) : (Datum) 0;
	*null = value ? ' ' : 'n';
}

/* Run one statement on the extension's tables, as the extension's owner. */
static void
execute_on_catalog(const char *sql, int nargs, Oid *argtypes, Datum *values,
				   const char *nulls, int expected, const char *what)
{
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;

	SPI_connect();
	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	if (SPI_execute_with_args(sql, nargs, argtypes, values, nulls, false, 0) != expected)
		elog(ERROR, "could not %s", what);
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
	SPI_finish();
}

/*
 * The outcome columns shared by record_run and finish_run, in this order:
 * status, mode, started_at, finished_at, rows, error, sqlstate,
 * tracking_epoch, tracked_sources, source_generations, tracking_database.
 * The sources' generations are kept only for a successful refresh: they are
 * what its freshness is judged by.
 */
#define OUTCOME_ARGS 11

static void
outcome_args(const char *status, const ReportingRefreshResult *result,
			 bool rows_known, const char *error, const char *sqlstate,
			 Oid *argtypes, Datum *values, char *nulls)
{
	static const Oid types[OUTCOME_ARGS] = {TEXTOID, TEXTOID, TIMESTAMPTZOID,
		TIMESTAMPTZOID, INT8OID, TEXTOID, TEXTOID, INT8OID, REGCLASSARRAYOID,
	INT8ARRAYOID, OIDOID};
	bool		tracked = rows_known && result->tracking.valid;

	memcpy(argtypes, types, sizeof(types));
	memset(nulls, ' ', OUTCOME_ARGS);
	values[0] = CStringGetTextDatum(status);
	text_arg(result->mode[0] ? result->mode : NULL, &values[1], &nulls[1]);
	values[2] = TimestampTzGetDatum(result->started_at);
	values[3] = TimestampTzGetDatum(result->finished_at);
	values[4] = Int64GetDatum(result->rows);
	nulls[4] = rows_known ? ' ' : 'n';
	text_arg(error, &values[5], &nulls[5]);
	text_arg(sqlstate, &values[6], &nulls[6]);
	values[7] = Int64GetDatum(result->tracking.epoch);
	nulls[7] = (tracked && result->tracking.epoch_known) ? ' ' : 'n';
	values[8] = result->tracking.sources;
	nulls[8] = tracked ? ' ' : 'n';
	values[9] = result->tracking.generations;
	nulls[9] = tracked ? ' ' : 'n';
	values[10] = ObjectIdGetDatum(result->tracking.database);
	nulls[10] = tracked ? ' ' : 'n';
}

/*
 * The condition of every insert into reporting.runs: the view is still
 * registered, and stays so until we commit (FOR KEY SHARE, the lock the
 * foreign key would take).  A run of a view unregistered meanwhile (by
 * unregister() or DROP) is not recorded, instead of failing on the foreign
 * key: its history went with its registration.
 */
#define REGISTERED_12 \
	" WHERE EXISTS (SELECT FROM reporting.registrations g" \
	"                WHERE g.view OPERATOR(pg_catalog.=) $12 FOR KEY SHARE)"

/*
 * Append one finished run to reporting.runs, unless the view is no longer
 * registered.  started_by is the role that asked for the run.
 */
void
reporting_record_run(Oid relid, const char *origin, const char *status,
					 const ReportingRefreshResult *result, bool rows_known,
					 const char *error, const char *sqlstate)
{
	Oid			argtypes[OUTCOME_ARGS + 3];
	Datum		values[OUTCOME_ARGS + 3];
	char		nulls[OUTCOME_ARGS + 3];

	outcome_args(status, result, rows_known, error, sqlstate, argtypes, values, nulls);
	argtypes[11] = REGCLASSOID;
	values[11] = ObjectIdGetDatum(relid);
	argtypes[12] = TEXTOID;
	values[12] = CStringGetTextDatum(origin);
	argtypes[13] = TEXTOID;
	values[13] = CStringGetTextDatum(GetUserNameFromId(GetUserId(), false));
	nulls[11] = nulls[12] = nulls[13] = ' ';

	/* the columns of the installed version of the SQL objects */
	if (reporting_runs_record_database())
		execute_on_catalog("INSERT INTO reporting.runs"
						   " (status, mode, started_at, finished_at, rows, error, sqlstate,"
						   "  tracking_epoch, tracked_sources, source_generations,"
						   "  tracking_database, view, origin, started_by)"
						   " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14"
						   REGISTERED_12,
						   OUTCOME_ARGS + 3, argtypes, values, nulls, SPI_OK_INSERT,
						   "record a run");
	else if (reporting_tracking_installed())
		execute_on_catalog("INSERT INTO reporting.runs"
						   " (status, mode, started_at, finished_at, rows, error, sqlstate,"
						   "  tracking_epoch, tracked_sources, source_generations,"
						   "  view, origin, started_by)"
						   " SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $12, $13, $14"
						   REGISTERED_12,
						   OUTCOME_ARGS + 3, argtypes, values, nulls, SPI_OK_INSERT,
						   "record a run");
	else
		execute_on_catalog("INSERT INTO reporting.runs"
						   " (status, mode, started_at, finished_at, rows, error, sqlstate,"
						   "  view, origin, started_by)"
						   " SELECT $1, $2, $3, $4, $5, $6, $7, $12, $13, $14"
						   REGISTERED_12,
						   OUTCOME_ARGS + 3, argtypes, values, nulls, SPI_OK_INSERT,
						   "record a run");
}

/*
 * Append a "running" row for a refresh that starts now, and return its id;
 * 0 when the view is no longer registered (nothing is appended).  The
 * caller commits it before refreshing, so that it survives whatever happens
 * to the refresh.
 */
int64
reporting_start_run(Oid relid, const char *origin, const char *started_by,
					TimestampTz started_at)
{
	Oid			argtypes[4] = {REGCLASSOID, TEXTOID, TIMESTAMPTZOID, TEXTOID};
	Datum		values[4];
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;
	bool		isnull;
	int64		id;

	values[0] = ObjectIdGetDatum(relid);
	values[1] = CStringGetTextDatum(origin);
	values[2] = TimestampTzGetDatum(started_at);
	values[3] = CStringGetTextDatum(started_by);

	SPI_connect();
	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	if (SPI_execute_with_args("INSERT INTO reporting.runs"
							  " (view, origin, status, started_at, started_by)"
							  " SELECT $1, $2, 'running', $3, $4"
							  " WHERE EXISTS (SELECT FROM reporting.registrations g"
							  "                WHERE g.view OPERATOR(pg_catalog.=) $1 FOR KEY SHARE)"
							  " RETURNING id",
							  4, argtypes, values, NULL, false, 0) != SPI_OK_INSERT_RETURNING ||
		SPI_processed > 1)
		elog(ERROR, "could not record the start of a run");
	id = SPI_processed == 0 ? 0 :
		DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
	SPI_finish();
	return id;
}

/* Complete the row reporting_start_run() appended. */
void
reporting_finish_run(int64 run_id, const char *status,
					 const ReportingRefreshResult *result, bool rows_known,
					 const char *error, const char *sqlstate)
{
	Oid			argtypes[OUTCOME_ARGS + 1];
	Datum		values[OUTCOME_ARGS + 1];
	char		nulls[OUTCOME_ARGS + 1];

	outcome_args(status, result, rows_known, error, sqlstate, argtypes, values, nulls);
	argtypes[11] = INT8OID;
	values[11] = Int64GetDatum(run_id);
	nulls[11] = ' ';
	if (reporting_runs_record_database())
		execute_on_catalog("UPDATE reporting.runs"
						   " SET status = $1, mode = $2, started_at = $3, finished_at = $4,"
						   "     rows = $5, error = $6, sqlstate = $7, tracking_epoch = $8,"
						   "     tracked_sources = $9, source_generations = $10,"
						   "     tracking_database = $11"
						   " WHERE id OPERATOR(pg_catalog.=) $12",
						   OUTCOME_ARGS + 1, argtypes, values, nulls, SPI_OK_UPDATE,
						   "record the end of a run");
	else
		execute_on_catalog("UPDATE reporting.runs"
						   " SET status = $1, mode = $2, started_at = $3, finished_at = $4,"
						   "     rows = $5, error = $6, sqlstate = $7, tracking_epoch = $8,"
						   "     tracked_sources = $9, source_generations = $10"
						   " WHERE id OPERATOR(pg_catalog.=) $12",
						   OUTCOME_ARGS + 1, argtypes, values, nulls, SPI_OK_UPDATE,
						   "record the end of a run");
}

/*
 * Delete history: runs older than reporting.history_max_age; beyond the
 * newest reporting.history_max_runs of each view; and, for views scheduled
 * more often than reporting.history_frequent_below, every successful refresh
 * but the latest (their failures and skips are kept).  Runs in progress are
 * never deleted, and neither is any view's anchor run, its latest successful
 * refresh: its freshness rests on it (what it recorded of its sources), so
 * an exact, populated view never turns into "never refreshed" because time
 * passed.
 */
/* the latest successful refresh of each view */
#define ANCHOR_RUNS \
	"SELECT DISTINCT ON (a.view) a.id FROM reporting.runs a" \
	" WHERE a.status OPERATOR(pg_catalog.=) 'refreshed'" \
	" ORDER BY a.view, a.started_at DESC, a.id DESC"

/*
 * Rows another transaction has locked (a refresh_all() of a session still
 * open, a user reading them FOR UPDATE) are left for a later pruning: the
 * scheduler never waits on a user's transaction (issue 12, fault 3).
 */
#define SKIP_LOCKED "FOR UPDATE SKIP LOCKED"

void
reporting_prune_history(void)
{
	Oid			argtypes[1] = {INT4OID};
	Datum		values[1];

	values[0] = Int32GetDatum(reporting_history_max_age);
	execute_on_catalog("DELETE FROM reporting.runs WHERE id OPERATOR(pg_catalog.=) ANY (ARRAY("
					   " SELECT id FROM reporting.runs"
					   " WHERE status OPERATOR(pg_catalog.<>) 'running'"
					   "   AND started_at OPERATOR(pg_catalog.<) (pg_catalog.now()"
					   "       OPERATOR(pg_catalog.-) pg_catalog.make_interval(secs => $1))"
					   "   AND id OPERATOR(pg_catalog.<>) ALL (" ANCHOR_RUNS ")"
					   " " SKIP_LOCKED "))",
					   1, argtypes, values, NULL, SPI_OK_DELETE, "prune the history of refreshes");
	if (reporting_history_max_runs > 0)
	{
		values[0] = Int32GetDatum(reporting_history_max_runs);
		execute_on_catalog("DELETE FROM reporting.runs u USING ("
						   "  SELECT id, pg_catalog.row_number() OVER ("
						   "           PARTITION BY view ORDER BY started_at DESC, id DESC) AS n"
						   "    FROM reporting.runs WHERE status OPERATOR(pg_catalog.<>) 'running') old"
						   " WHERE u.id OPERATOR(pg_catalog.=) old.id AND old.n OPERATOR(pg_catalog.>) $1"
						   "   AND u.id OPERATOR(pg_catalog.<>) ALL (" ANCHOR_RUNS ")"
						   "   AND u.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT l.id FROM reporting.runs l"
						   "       WHERE l.id OPERATOR(pg_catalog.=) old.id " SKIP_LOCKED "))",
						   1, argtypes, values, NULL, SPI_OK_DELETE,
						   "cap the history of refreshes");
	}
	if (reporting_history_frequent_below > 0)
	{
		values[0] = Int32GetDatum(reporting_history_frequent_below);
		execute_on_catalog("DELETE FROM reporting.runs u USING ("
						   "  SELECT f.id, pg_catalog.row_number() OVER ("
						   "           PARTITION BY f.view ORDER BY f.started_at DESC, f.id DESC) AS n"
						   "    FROM reporting.runs f"
						   "    JOIN reporting.registrations r ON r.view OPERATOR(pg_catalog.=) f.view"
						   "   WHERE r.every OPERATOR(pg_catalog.<) pg_catalog.make_interval(secs => $1)"
						   "     AND f.status OPERATOR(pg_catalog.=) 'refreshed') old"
						   " WHERE u.id OPERATOR(pg_catalog.=) old.id AND old.n OPERATOR(pg_catalog.>) 1"
						   "   AND u.id OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT l.id FROM reporting.runs l"
						   "       WHERE l.id OPERATOR(pg_catalog.=) old.id " SKIP_LOCKED "))",
						   1, argtypes, values, NULL, SPI_OK_DELETE,
						   "thin the history of frequent refreshes");
	}
}

/*
 * Mark "running" rows whose refresh is no longer running as interrupted:
 * those that started before "before" (the caller took the list of live
 * refreshes after that moment) of views not in live_views.  Returns how
 * many were marked.
 */
int
reporting_mark_interrupted(TimestampTz before, int nlive, const Oid *live_views)
{
	Oid			argtypes[2] = {TIMESTAMPTZOID, OIDARRAYOID};
	Datum		values[2];
	Datum	   *elems = palloc(sizeof(Datum) * Max(nlive, 1));
	int			save_sec_context;
	Oid			save_userid;
	int			nestlevel;
	int			marked;

	for (int i = 0; i < nlive; i++)
		elems[i] = ObjectIdGetDatum(live_views[i]);
	values[0] = TimestampTzGetDatum(before);
	values[1] = PointerGetDatum(construct_array(elems, nlive, OIDOID, sizeof(Oid), true,
												TYPALIGN_INT));
	SPI_connect();
	nestlevel = reporting_enter_catalog_context(&save_sec_context, &save_userid);
	if (SPI_execute_with_args("UPDATE reporting.runs"
							  " SET status = 'interrupted',"
							  "     finished_at = GREATEST(started_at, pg_catalog.now()),"
							  "     error = 'the refresh was interrupted: its worker exited"
							  " or the server restarted before it finished'"
							  " WHERE status OPERATOR(pg_catalog.=) 'running'"
							  "   AND started_at OPERATOR(pg_catalog.<) $1"
							  "   AND NOT view::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($2)",
							  2, argtypes, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "could not mark interrupted runs");
	marked = (int) SPI_processed;
	reporting_leave_catalog_context(nestlevel, save_sec_context, save_userid);
	SPI_finish();
	return marked;
}

/*
 * True once the extension's SQL objects are at 0.2.0 or later, where runs
 * record their sources' generations.  A newer library must keep working with
 * the older SQL objects until ALTER EXTENSION reporting UPDATE has run.
 */
bool
reporting_tracking_installed(void)
{
	Oid			nsp = get_namespace_oid(REPORTING_SCHEMA_NAME, false);
	Oid			runs = get_relname_relid("runs", nsp);

	return OidIsValid(runs) &&
		SearchSysCacheExistsAttName(runs, "tracking_epoch");
}

/*
 * True once the extension's SQL objects are at 0.4.0 or later, where runs
 * record the database their sources' generations belong to.
 */
bool
reporting_runs_record_database(void)
{
	Oid			nsp = get_namespace_oid(REPORTING_SCHEMA_NAME, false);
	Oid			runs = get_relname_relid("runs", nsp);

	return OidIsValid(runs) &&
		SearchSysCacheExistsAttName(runs, "tracking_database");
}
