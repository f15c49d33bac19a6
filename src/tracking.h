/*-------------------------------------------------------------------------
 *
 * tracking.h
 *		Change tracking: what the writing backends note, what commits
 *		publish, and what refreshes and status read.  See tracking.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REPORTING_TRACKING_H
#define REPORTING_TRACKING_H

#include "postgres.h"

#include "access/xact.h"
#include "nodes/parsenodes.h"
#include "nodes/plannodes.h"
#include "utils/timestamp.h"

/* GUC reporting.max_tracked_tables: entries in the shared table */
extern int	reporting_max_tracked_tables;

/* set-up, called from init.c */
extern void reporting_tracking_define_gucs(void);
extern void reporting_tracking_shmem_request(void);
extern void reporting_tracking_shmem_startup(void);
extern void reporting_tracking_xact_event(XactEvent event);

/* the hooks' halves, called from init.c */
extern void reporting_note_plan_writes(PlannedStmt *pstmt);
extern void reporting_note_utility(Node *parsetree, bool finished);
extern void reporting_note_drop(Oid classId, Oid objectId, int subId);

/* state */
extern bool reporting_tracking_active(void);
extern int64 reporting_tracking_epoch(void);
extern void reporting_note_change(Oid relid);

/* reading generations */
extern void reporting_read_generations(int n, const Oid *relids, int64 *generations,
									   TimestampTz *last_changes, const char **reasons,
									   bool for_refresh);
extern bool reporting_written_by_this_transaction(Oid relid);
extern bool reporting_results_ddl_pending(void);
extern int64 reporting_prepare_stamp(void);
extern void reporting_clear_prepared_marks(int64 stamp);

#endif							/* REPORTING_TRACKING_H */
