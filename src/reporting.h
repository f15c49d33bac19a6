/*-------------------------------------------------------------------------
 *
 * reporting.h
 *		Declarations shared by the reporting extension's C files.
 *
 * Each .c file owns one concern: init.c (entry point, GUCs), catalog.c
 * (access to the extension's own tables and to the view being managed),
 * register.c (register/unregister), refresh.c (refreshing one view),
 * refresh_all.c (every registered view, in dependency order),
 * schedule.c (validating schedules).
 *
 *-------------------------------------------------------------------------
 */
#ifndef REPORTING_H
#define REPORTING_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "pgtime.h"
#include "utils/timestamp.h"

#define REPORTING_EXTENSION_NAME "reporting"
#define REPORTING_SCHEMA_NAME "reporting"

/* the server release from which REFRESH ... CONCURRENTLY is safe (CVE-2024-0985) */
#define REPORTING_MIN_CONCURRENT_VERSION 150006

/* GUCs (init.c) */
extern int	reporting_history_max_age;

/* catalog.c: the view being managed */
extern void reporting_check_manageable(Oid relid);
extern char *reporting_qualified_name(Oid relid);
extern char *reporting_display_name(Oid relid);
extern bool reporting_matview_is_populated(Oid relid);

/* catalog.c: the extension's own tables */
typedef struct ReportingRegistration
{
	Oid			view;
	char		mode[16];		/* auto, concurrently or plain */
	int64		lock_timeout_ms;
	int64		statement_timeout_ms;	/* 0 when none */
} ReportingRegistration;

extern bool reporting_load_registration(Oid relid, ReportingRegistration *reg);
extern void reporting_require_registration(Oid relid, ReportingRegistration *reg);
extern int	reporting_enter_catalog_context(int *save_sec_context, Oid *save_userid);
extern void reporting_leave_catalog_context(int nestlevel, int save_sec_context,
											Oid save_userid);
extern int	reporting_pin_search_path(void);
extern void reporting_unpin_search_path(int nestlevel);

/* staleness.c: what a refresh records of its sources */
typedef struct ReportingTracking
{
	bool		valid;			/* captured at all */
	bool		epoch_known;	/* tracking on, and the snapshot came after */
	int64		epoch;
	Datum		sources;		/* regclass[] */
	Datum		generations;	/* int8[], NULL where unknown */
} ReportingTracking;

extern void reporting_capture_generations(Oid relid, ReportingTracking *tracking,
										  MemoryContext resultcxt);
extern bool reporting_tracking_installed(void);

/* refresh.c */
typedef struct ReportingRefreshResult
{
	char		mode[16];		/* concurrently or plain */
	int64		rows;
	TimestampTz started_at;
	TimestampTz finished_at;
	ReportingTracking tracking;
} ReportingRefreshResult;

extern void reporting_refresh_view(Oid relid, const char *requested_mode,
								   ReportingRefreshResult *result);
extern void reporting_record_run(Oid relid, const char *origin, const char *status,
								 const ReportingRefreshResult *result, bool rows_known,
								 const char *error, const char *sqlstate);
extern const char *reporting_choose_mode(Oid relid, const char *mode, bool raise);
extern bool reporting_has_usable_unique_index(Oid relid);
extern bool reporting_last_refresh_timed_out(void);

/* tracking.c */
extern int	reporting_max_tracked_tables;
extern void reporting_tracking_init(void);
extern bool reporting_tracking_active(void);
extern int64 reporting_tracking_epoch(void);
extern void reporting_note_change(Oid relid);
extern void reporting_read_generations(int n, const Oid *relids, int64 *generations,
									   TimestampTz *last_changes, const char **reasons,
									   bool for_refresh);
extern int64 reporting_prepare_stamp(void);
extern void reporting_clear_prepared_marks(int64 stamp);

/* schedule.c: a parsed 5-field cron expression, one bit per allowed value */
typedef struct ReportingCron
{
	uint64		minutes;		/* bits 0-59 */
	uint32		hours;			/* bits 0-23 */
	uint32		days;			/* bits 1-31 */
	uint32		months;			/* bits 1-12 */
	uint32		weekdays;		/* bits 0-6, Sunday is 0 */
	bool		days_star;		/* day-of-month field was "*" */
	bool		weekdays_star;	/* day-of-week field was "*" */
} ReportingCron;

extern void reporting_parse_cron(const char *expr, ReportingCron *cron);
extern void reporting_validate_timezone(const char *tzname);
extern TimestampTz reporting_cron_next(const ReportingCron *cron, pg_tz *tz,
									   TimestampTz after);
extern pg_tz *reporting_schedule_timezone(const char *tzname);

/* arguments.c: checking what callers pass to the SQL API */
extern int64 reporting_interval_usecs(const Interval *span);
extern int64 reporting_positive_interval_ms(const Interval *span, const char *argname);
extern void reporting_check_mode(const char *mode, const char *argname, bool allow_auto);

#endif							/* REPORTING_H */
