/*-------------------------------------------------------------------------
 *
 * worker_slots.h
 *		The refresh-worker slots: one refresh handed to a refresh worker, and
 *		its result.  Only worker_slots.c touches the slot array; everyone
 *		else goes through these functions.  See worker_slots.c for the
 *		protocol (states, serials, who frees what).
 *
 *-------------------------------------------------------------------------
 */
#ifndef REPORTING_WORKER_SLOTS_H
#define REPORTING_WORKER_SLOTS_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "postmaster/bgworker.h"

#define REPORTING_SLOT_ERROR_LEN 512

typedef enum ReportingSlotState
{
	SLOT_FREE = 0,
	SLOT_CLAIMED,				/* reserved; the worker has not attached yet */
	SLOT_RUNNING,				/* the worker is refreshing */
	SLOT_DONE					/* finished; the result waits for its requester */
} ReportingSlotState;

/* what a refresh worker is asked to do (copied out of its slot) */
typedef struct ReportingSlotTask
{
	Oid			dboid;
	Oid			view;
	Oid			owner;			/* the view's owner when the slot was claimed */
	Oid			requested_by;	/* who asked (InvalidOid: the scheduler) */
	char		origin[16];		/* schedule or refresh_all */
	char		started_by[NAMEDATALEN];	/* recorded in reporting.runs */
} ReportingSlotTask;

/* what became of it (valid once the slot is SLOT_DONE) */
typedef struct ReportingSlotOutcome
{
	char		status[16];		/* refreshed, skipped, failed or interrupted */
	char		mode[16];
	int64		rows;
	bool		rows_known;
	int64		run_id;			/* its row in reporting.runs; 0 when none */
	TimestampTz claimed_at;
	TimestampTz started_at;
	TimestampTz finished_at;
	char		sqlstate[6];
	char		error[REPORTING_SLOT_ERROR_LEN];
} ReportingSlotOutcome;

/* shared memory (from init.c's hooks) */
extern void reporting_slots_shmem_request(void);
extern void reporting_slots_shmem_startup(void);
extern bool reporting_slots_available(void);

/* requesters: a scheduler, or a backend running refresh_all() */
extern void reporting_slots_become_requester(void);
extern int	reporting_claim_slot(Oid relid, Oid owner, const char *origin,
								 const char **why_not);
extern BackgroundWorkerHandle *reporting_start_refresh_worker(int slotno);
extern ReportingSlotState reporting_slot_poll(int slotno, ReportingSlotOutcome *outcome);
extern void reporting_release_slot(int slotno);
extern void reporting_abandon_slot(int slotno);

/* anyone */
extern bool reporting_view_has_worker(Oid dboid, Oid relid);
extern int	reporting_slot_count(void);
extern int	reporting_slot_live_views(Oid dboid, Oid *views, int max);
extern int	reporting_slot_worker_pids(Oid dboid, pid_t *pids, int max);

/* refresh workers */
extern bool reporting_slot_attach(int slotno, uint32 serial, ReportingSlotTask *task);
extern void reporting_slot_set_run(int64 run_id);
extern void reporting_slot_publish(const ReportingSlotOutcome *outcome);

#endif							/* REPORTING_WORKER_SLOTS_H */
