/*-------------------------------------------------------------------------
 *
 * pause.h
 *		Whether scheduling is paused in a database: reporting.enabled as
 *		the server sets it, overridden by ALTER DATABASE ... SET.
 *
 *-------------------------------------------------------------------------
 */
#ifndef REPORTING_PAUSE_H
#define REPORTING_PAUSE_H

#include "postgres.h"

/* where a pause comes from */
typedef enum ReportingPause
{
	PAUSE_NONE,					/* scheduling runs */
	PAUSE_DATABASE,				/* ALTER DATABASE ... SET reporting.enabled = off */
	PAUSE_SERVER				/* reporting.enabled = off for the server */
} ReportingPause;

extern void reporting_pause_remember_start(void);
extern ReportingPause reporting_pause_state(void);
extern void reporting_pause_config_reloaded(void);

#endif							/* REPORTING_PAUSE_H */
