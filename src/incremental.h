/*-------------------------------------------------------------------------
 *
 * incremental.h
 *		Incremental reports: the capture of the time ranges writers touch
 *		(incremental_capture.c) and the reports built on it (incremental.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef REPORTING_INCREMENTAL_H
#define REPORTING_INCREMENTAL_H

#include "postgres.h"

#include "access/xact.h"

#include "reporting.h"

/* ranges a report's shared entry keeps before it widens them */
#define CAPTURE_SHARED_RANGES 32

/* GUC reporting.max_incremental_reports: entries in the shared table */
extern int	reporting_max_incremental_reports;

/* what the next refresh of one report must recompute */
typedef struct CaptureClaim
{
	bool		full;			/* recompute everything */
	const char *why;			/* when full: the reason, one literal */
	int			n;				/* dirty ranges, closed, in capture units */
	int64		lo[CAPTURE_SHARED_RANGES];
	int64		hi[CAPTURE_SHARED_RANGES];
	uint64		watermark;		/* the publications the claim covers */
} CaptureClaim;

/* set-up, called from init.c */
extern void reporting_capture_define_gucs(void);
extern void reporting_capture_shmem_request(void);
extern void reporting_capture_shmem_startup(void);
extern void reporting_capture_xact_event(XactEvent event);
extern void reporting_capture_subxact_event(SubXactEvent event, SubTransactionId mySubid,
											SubTransactionId parentSubid);

/* refresh side (incremental.c) */
extern void reporting_capture_claim(Oid report, CaptureClaim *claim);
extern void reporting_capture_release_at_commit(Oid report, uint64 watermark,
												bool clear_full);

/* the refresh hook point (refresh.c) */
extern bool reporting_is_incremental(Oid relid);
extern char *reporting_incremental_arm(Oid relid, ReportingTracking *tracking,
									   char *mode);
extern void reporting_incremental_disarm(void);

#endif							/* REPORTING_INCREMENTAL_H */
