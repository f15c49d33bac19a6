/*-------------------------------------------------------------------------
 *
 * running.c
 *		Who is refreshing what, now: one entry per backend in shared memory,
 *		set while that backend runs a refresh (in a session or in a refresh
 *		worker), read by reporting.running and by the scheduler.
 *
 * Each backend writes only its own entry (indexed by its PGPROC number), so
 * writers never wait.  The writer clears pid first and sets it last, with
 * write barriers in between; a reader copies an entry and keeps it only
 * when pid was the same before and after the copy.  Without the preloaded
 * library there is no shared memory and nothing is published.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"

#include "reporting.h"

PG_FUNCTION_INFO_V1(reporting_running);

typedef struct RunningEntry
{
	volatile pid_t pid;			/* 0: no refresh */
	Oid			dboid;
	Oid			view;
	TimestampTz started_at;
	char		origin[16];
	char		mode[16];
} RunningEntry;

static RunningEntry *running = NULL;
static bool published = false;

Size
reporting_running_shmem_size(void)
{
	return mul_size(MaxBackends, sizeof(RunningEntry));
}

void
reporting_running_shmem_init(void)
{
	bool		found;

	running = ShmemInitStruct("reporting running refreshes",
							  reporting_running_shmem_size(), &found);
	if (!found)
		memset(running, 0, reporting_running_shmem_size());
}

static RunningEntry *
my_entry(void)
{
	if (running == NULL || MyProc == NULL || MyProc->pgprocno >= MaxBackends)
		return NULL;
	return &running[MyProc->pgprocno];
}

/* Publish the refresh this backend starts now. */
void
reporting_running_begin(Oid relid, const char *origin, const char *mode,
						TimestampTz started_at)
{
	RunningEntry *entry = my_entry();

	if (entry == NULL)
		return;
	entry->pid = 0;
	pg_write_barrier();
	entry->dboid = MyDatabaseId;
	entry->view = relid;
	entry->started_at = started_at;
	strlcpy(entry->origin, origin, sizeof(entry->origin));
	strlcpy(entry->mode, mode, sizeof(entry->mode));
	pg_write_barrier();
	entry->pid = MyProcPid;
	published = true;
}

/* The refresh is over (done, failed, or its transaction is aborting). */
void
reporting_running_end(void)
{
	RunningEntry *entry = my_entry();

	if (entry == NULL || !published)
		return;
	entry->pid = 0;
	pg_write_barrier();
	published = false;
}

/* A consistent copy of entry i, or false when it holds no refresh. */
static bool
read_entry(int i, RunningEntry *copy)
{
	pid_t		pid = running[i].pid;

	if (pid == 0)
		return false;
	pg_read_barrier();
	memcpy(copy, (const void *) &running[i], sizeof(RunningEntry));
	pg_read_barrier();
	return running[i].pid == pid && copy->pid == pid;
}

/*
 * Is another backend refreshing relid in dboid now?  If so, say who (origin
 * and pid) when asked.
 */
bool
reporting_running_elsewhere(Oid dboid, Oid relid, char *origin, pid_t *pid)
{
	RunningEntry copy;

	if (running == NULL)
		return false;
	for (int i = 0; i < MaxBackends; i++)
	{
		if (!read_entry(i, &copy) || copy.pid == MyProcPid ||
			copy.dboid != dboid || copy.view != relid)
			continue;
		if (origin)
			strlcpy(origin, copy.origin, 16);
		if (pid)
			*pid = copy.pid;
		return true;
	}
	return false;
}

/*
 * reporting._running() RETURNS TABLE(view regclass, pid int, origin text,
 *		mode text, started_at timestamptz): the refreshes running now in the
 *		current database.  reporting.running adds what the caller may see.
 */
Datum
reporting_running(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	RunningEntry copy;

	InitMaterializedSRF(fcinfo, 0);
	if (running == NULL)
		return (Datum) 0;
	for (int i = 0; i < MaxBackends; i++)
	{
		Datum		values[5];
		bool		nulls[5] = {false, false, false, false, false};

		if (!read_entry(i, &copy) || copy.dboid != MyDatabaseId)
			continue;
		values[0] = ObjectIdGetDatum(copy.view);
		values[1] = Int32GetDatum(copy.pid);
		values[2] = CStringGetTextDatum(copy.origin);
		values[3] = CStringGetTextDatum(copy.mode);
		values[4] = TimestampTzGetDatum(copy.started_at);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
