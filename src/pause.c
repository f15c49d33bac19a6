/*-------------------------------------------------------------------------
 *
 * pause.c
 *		Pausing the scheduler of one database: ALTER DATABASE d SET
 *		reporting.enabled = off (and RESET to resume), beside the
 *		server-wide reporting.enabled.
 *
 * A database's setting overrides the server's, as for any setting.  A
 * scheduler gets the database's settings only when it connects, so each
 * cycle it reads this database's own entry in pg_db_role_setting again:
 * the pause takes effect at its next cycle (ALTER DATABASE wakes nobody,
 * so within a minute).  When there is no such entry the server's value
 * applies: the scheduler's own value of the setting, unless that came from
 * a database entry present when it connected and RESET since; then the
 * configuration files say (pg_file_settings).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"

#include "pause.h"
#include "reporting.h"

PG_FUNCTION_INFO_V1(reporting_scheduling_paused);

#define ENABLED_NAME "reporting.enabled"

/* did this database have its own reporting.enabled when the scheduler connected? */
static bool pause_database_setting_at_start = false;
/* the configuration files' value, read once per reload: -1 until read */
static int	pause_files_value = -1;
/* the query for this database's own setting, planned once per process */
static SPIPlanPtr pause_setting_plan = NULL;

/*
 * This database's own reporting.enabled (ALTER DATABASE ... SET, for every
 * role), as *value; false when it has none.  SPI must be connected.
 */
static bool
database_setting(bool *value)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(MyDatabaseId)};
	char	   *text;

	if (pause_setting_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare("SELECT pg_catalog.split_part(c, '=', 2)"
									   "  FROM pg_catalog.pg_db_role_setting s,"
									   "       pg_catalog.unnest(s.setconfig) c"
									   " WHERE s.setdatabase OPERATOR(pg_catalog.=) $1"
									   "   AND s.setrole OPERATOR(pg_catalog.=) 0"
									   "   AND pg_catalog.split_part(c, '=', 1) OPERATOR(pg_catalog.=) '" ENABLED_NAME "'",
									   1, argtypes);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not plan the query for the settings of database %u", MyDatabaseId);
		pause_setting_plan = plan;
	}
	if (SPI_execute_plan(pause_setting_plan, values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the settings of database %u", MyDatabaseId);
	if (SPI_processed != 1)
		return false;
	text = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	/* a value ALTER DATABASE accepted always parses; anything else means on */
	if (!parse_bool(text, value))
		*value = true;
	return true;
}

/* reporting.enabled as the configuration files set it (default on). */
static bool
server_setting_from_files(void)
{
	bool		value = true;

	if (SPI_execute("SELECT setting FROM pg_catalog.pg_file_settings"
					" WHERE name OPERATOR(pg_catalog.=) '" ENABLED_NAME "' AND error IS NULL"
					" ORDER BY seqno DESC LIMIT 1", false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the configuration files");
	if (SPI_processed == 1 &&
		!parse_bool(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), &value))
		value = true;
	return value;
}

/*
 * Called by the scheduler once, in a transaction with SPI connected, right
 * after connecting: notes whether its value of reporting.enabled came from
 * this database's entry.
 */
void
reporting_pause_remember_start(void)
{
	bool		value;

	pause_database_setting_at_start = database_setting(&value);
}

/* The configuration files were read again (SIGHUP): forget their value. */
void
reporting_pause_config_reloaded(void)
{
	pause_files_value = -1;
}

/*
 * Whether scheduling is paused in this database now, and by whom.  In a
 * transaction with SPI connected.  Outside the scheduler (for
 * reporting._scheduling_paused) the caller's reset value of the setting
 * stands for the server's.
 */
ReportingPause
reporting_pause_state(void)
{
	bool		value;

	if (database_setting(&value))
		return value ? PAUSE_NONE : PAUSE_DATABASE;
	if (pause_database_setting_at_start)
	{
		if (pause_files_value < 0)
			pause_files_value = server_setting_from_files() ? 1 : 0;
		return pause_files_value ? PAUSE_NONE : PAUSE_SERVER;
	}
	if (!IsBackgroundWorker)
	{
		const char *reset = GetConfigOptionResetString(ENABLED_NAME);

		return reset == NULL || !parse_bool(reset, &value) || value ? PAUSE_NONE : PAUSE_SERVER;
	}
	return reporting_enabled ? PAUSE_NONE : PAUSE_SERVER;
}

/*
 * reporting._scheduling_paused() RETURNS text
 *
 * Why the scheduler of the current database refreshes nothing on schedule
 * now, in words for reporting.status, or NULL when it is not paused.  For
 * status; raises nothing.
 */
Datum
reporting_scheduling_paused(PG_FUNCTION_ARGS)
{
	ReportingPause state;

	SPI_connect();
	state = reporting_pause_state();
	SPI_finish();
	switch (state)
	{
		case PAUSE_NONE:
			break;
		case PAUSE_DATABASE:
			PG_RETURN_TEXT_P(cstring_to_text("scheduling is paused in this database (ALTER DATABASE ... SET reporting.enabled = off)"));
		case PAUSE_SERVER:
			PG_RETURN_TEXT_P(cstring_to_text("scheduling is paused on this server (reporting.enabled = off)"));
	}
	PG_RETURN_NULL();
}
