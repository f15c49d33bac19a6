/*-------------------------------------------------------------------------
 *
 * run_generations.h
 *		A generation per view of its history in reporting.runs.  See
 *		run_generations.c.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REPORTING_RUN_GENERATIONS_H
#define REPORTING_RUN_GENERATIONS_H

#include "postgres.h"

#include "access/xact.h"

/* set-up and transaction events, called from init.c */
extern void reporting_run_generations_shmem_request(void);
extern void reporting_run_generations_shmem_startup(void);
extern void reporting_run_generations_xact_event(XactEvent event);

/* reading */
extern bool reporting_run_generations(int n, const Oid *views, uint64 *generations,
									  uint64 *everything, int64 *prepare_stamp, bool verdict);
extern void reporting_run_generations_forget_prepared(int64 stamp);

#endif							/* REPORTING_RUN_GENERATIONS_H */
