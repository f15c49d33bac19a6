/*-------------------------------------------------------------------------
 *
 * schedule.c
 *		Parsing and validating refresh schedules: 5-field cron expressions
 *		and time zone names.
 *
 * A cron expression is parsed into one bitmask per field, the form the
 * scheduler needs to compute the next due time.  Fields follow the standard
 * crontab(5) syntax: "*", numbers, ranges "a-b", steps "x/n", lists "a,b",
 * month and weekday names (jan-dec, sun-sat), 7 for Sunday, and the macros
 * @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "fmgr.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "reporting.h"

PG_FUNCTION_INFO_V1(reporting_cron_next_sql);

typedef struct CronField
{
	const char *name;			/* for messages: "minute", "hour", ... */
	int			min;
	int			max;
	const char *const *names;	/* symbolic values, indexed from min */
} CronField;

static const char *const month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec", NULL
};

static const char *const weekday_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

static const CronField cron_fields[5] = {
	{"minute", 0, 59, NULL},
	{"hour", 0, 23, NULL},
	{"day-of-month", 1, 31, NULL},
	{"month", 1, 12, month_names},
	{"day-of-week", 0, 7, weekday_names},
};

static const struct
{
	const char *macro;
	const char *expansion;
}			cron_macros[] = {
	{"@yearly", "0 0 1 1 *"},
	{"@annually", "0 0 1 1 *"},
	{"@monthly", "0 0 1 * *"},
	{"@weekly", "0 0 * * 0"},
	{"@daily", "0 0 * * *"},
	{"@midnight", "0 0 * * *"},
	{"@hourly", "0 * * * *"},
};

/* Raise the one error every malformed cron expression gets. */
static void
cron_error(const char *expr, const char *detail_fmt, const char *field,
		   const char *text)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid cron expression \"%s\"", expr),
			 errdetail_internal(detail_fmt, field, text),
			 errhint("A cron expression has five fields: minute, hour, day of month, month and day of week, for example '5 0 * * *' for every day at 00:05.")));
}

/*
 * Read one value of a field: a number or, where the field has them, a name.
 * Advances *pos past it.  Returns false when nothing valid is there.
 */
static bool
cron_read_value(const CronField *field, const char **pos, int *value)
{
	const char *p = *pos;

	if (isdigit((unsigned char) *p))
	{
		int			v = 0;

		while (isdigit((unsigned char) *p))
		{
			v = v * 10 + (*p - '0');
			if (v > 1000)
				return false;
			p++;
		}
		*value = v;
		*pos = p;
		return true;
	}
	if (field->names != NULL)
	{
		for (int i = 0; field->names[i] != NULL; i++)
		{
			if (pg_strncasecmp(p, field->names[i], 3) == 0 &&
				!isalpha((unsigned char) p[3]))
			{
				*value = field->min + i;
				*pos = p + 3;
				return true;
			}
		}
	}
	return false;
}

/*
 * Parse one item of a list ("*", "a", "a-b", each optionally "/step") and
 * set its bits.
 */
static void
cron_parse_item(const char *expr, const CronField *field, const char *item,
				uint64 *bits)
{
	const char *p = item;
	int			lo = field->min;
	int			hi = field->max;
	int			step = 1;

	if (*p == '*')
		p++;
	else
	{
		if (!cron_read_value(field, &p, &lo))
			cron_error(expr, "The %s field has an invalid value \"%s\".",
					   field->name, item);
		hi = lo;
		if (*p == '-')
		{
			p++;
			if (!cron_read_value(field, &p, &hi))
				cron_error(expr, "The %s field has an invalid range \"%s\".",
						   field->name, item);
		}
	}
	if (*p == '/')
	{
		p++;
		if (!cron_read_value(field, &p, &step) || step == 0)
			cron_error(expr, "The %s field has an invalid step \"%s\".",
					   field->name, item);
		if (item[0] != '*' && hi == lo)
			hi = field->max;
	}
	if (*p != '\0')
		cron_error(expr, "The %s field has an invalid value \"%s\".",
				   field->name, item);
	if (lo < field->min || hi > field->max || lo > hi)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cron expression \"%s\"", expr),
				 errdetail("The %s field \"%s\" is out of range %d-%d.",
						   field->name, item, field->min, field->max)));
	for (int v = lo; v <= hi; v += step)
		*bits |= UINT64CONST(1) << v;
}

/* Parse one whitespace-free field, a comma-separated list of items. */
static uint64
cron_parse_field(const char *expr, const CronField *field, char *text)
{
	uint64		bits = 0;
	char	   *item = text;

	for (;;)
	{
		char	   *comma = strchr(item, ',');

		if (comma != NULL)
			*comma = '\0';
		if (*item == '\0')
			cron_error(expr, "The %s field has an empty list item%s.",
					   field->name, "");
		cron_parse_item(expr, field, item, &bits);
		if (comma == NULL)
			break;
		item = comma + 1;
	}
	return bits;
}

/*
 * Parse a cron expression, raising 22023 with a detail naming the faulty
 * field when it is not a valid standard 5-field expression.
 */
void
reporting_parse_cron(const char *expr, ReportingCron *cron)
{
	char	   *copy;
	char	   *fields[5];
	int			nfields = 0;
	char	   *p;
	uint64		bits[5];

	for (int i = 0; i < lengthof(cron_macros); i++)
		if (pg_strcasecmp(expr, cron_macros[i].macro) == 0)
		{
			reporting_parse_cron(cron_macros[i].expansion, cron);
			return;
		}

	copy = pstrdup(expr);
	p = copy;
	for (;;)
	{
		while (isspace((unsigned char) *p))
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (nfields == 5)
		{
			nfields++;
			break;
		}
		fields[nfields++] = p;
		while (*p != '\0' && !isspace((unsigned char) *p))
			p++;
	}
	if (nfields != 5)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid cron expression \"%s\"", expr),
				 errdetail("A cron expression must have exactly 5 fields."),
				 errhint("The fields are minute, hour, day of month, month and day of week, for example '5 0 * * *' for every day at 00:05.")));

	for (int i = 0; i < 5; i++)
		bits[i] = cron_parse_field(expr, &cron_fields[i], fields[i]);

	memset(cron, 0, sizeof(*cron));
	cron->minutes = bits[0];
	cron->hours = (uint32) bits[1];
	cron->days = (uint32) bits[2];
	cron->months = (uint32) bits[3];
	/* Sunday may be written 0 or 7 */
	cron->weekdays = (uint32) ((bits[4] | (bits[4] >> 7)) & 0x7F);
	cron->days_star = (fields[2][0] == '*');
	cron->weekdays_star = (fields[4][0] == '*');
	pfree(copy);
}

/*
 * Raise 22023 unless tzname is a time zone PostgreSQL knows, as accepted by
 * SET timezone and AT TIME ZONE.
 */
void
reporting_validate_timezone(const char *tzname)
{
	if (tzname[0] == '\0' || pg_tzset(tzname) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("time zone \"%s\" not recognized", tzname),
				 errhint("Use a name from pg_timezone_names, such as 'Europe/Berlin' or 'UTC'.")));
}

/*
 * A local calendar position, minute resolution, used to walk a cron
 * schedule forward in wall-clock time.
 */
typedef struct CronCursor
{
	int			year;
	int			month;			/* 1-12 */
	int			day;			/* 1-31 */
	int			hour;			/* 0-23 */
	int			minute;			/* 0-59 */
} CronCursor;

static int
days_in_month(int year, int month)
{
	return day_tab[isleap(year)][month - 1];
}

/* Move to the start of the next month, day, hour or minute. */
static void
cursor_next_month(CronCursor *c)
{
	c->minute = c->hour = 0;
	c->day = 1;
	if (++c->month > 12)
	{
		c->month = 1;
		c->year++;
	}
}

static void
cursor_next_day(CronCursor *c)
{
	c->minute = c->hour = 0;
	if (++c->day > days_in_month(c->year, c->month))
		cursor_next_month(c);
}

static void
cursor_next_hour(CronCursor *c)
{
	c->minute = 0;
	if (++c->hour > 23)
		cursor_next_day(c);
}

static void
cursor_next_minute(CronCursor *c)
{
	if (++c->minute > 59)
		cursor_next_hour(c);
}

/*
 * Whether the schedule runs on a date.  As in cron(8): when both the
 * day-of-month and day-of-week fields are restricted, either may match;
 * when one of them starts with "*", both must.
 */
static bool
cron_day_matches(const ReportingCron *cron, const CronCursor *c)
{
	bool		dom = (cron->days >> c->day) & 1;
	bool		dow = (cron->weekdays >> j2day(date2j(c->year, c->month, c->day))) & 1;

	if (cron->days_star || cron->weekdays_star)
		return dom && dow;
	return dom || dow;
}

/* every hour of the day: the hour field is "*" (or lists them all) */
#define CRON_ALL_HOURS ((uint32) 0xFFFFFF)

/* the most a time zone's offset changes at once (DST, or a zone changing sides) */
#define MAX_ZONE_SHIFT_USECS (3 * USECS_PER_HOUR)

/* Does instant t read as the wall-clock time "local" (to the minute) in tz? */
static bool
instant_reads_as(TimestampTz t, const struct pg_tm *local, pg_tz *tz)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;

	if (timestamp2tm(t, &tzoff, &tm, &fsec, NULL, tz) != 0)
		return false;
	return tm.tm_year == local->tm_year && tm.tm_mon == local->tm_mon &&
		tm.tm_mday == local->tm_mday && tm.tm_hour == local->tm_hour &&
		tm.tm_min == local->tm_min;
}

/*
 * The instant after "after" at which the wall-clock time "local" occurs in
 * tz, or 0 when none is later than "after".  A local time that does not
 * exist (clocks went forward) is read as PostgreSQL reads it.  One that
 * happens twice (clocks went back) is both the instants, when every_hour
 * (the schedule runs every real hour, as cron(8) runs wildcard jobs), and
 * otherwise only the one PostgreSQL chooses, the later, so that a daily job
 * runs once.
 */
static TimestampTz
local_instant_after(const struct pg_tm *local, pg_tz *tz, TimestampTz after, bool every_hour)
{
	struct pg_tm tm = *local;
	int			tzoff = DetermineTimeZoneOffset(&tm, tz);
	TimestampTz usual;
	TimestampTz best = 0;

	if (tm2timestamp(&tm, 0, &tzoff, &usual) != 0)
		return 0;
	if (every_hour)
	{
		/* the offsets in effect a little before and a little after */
		TimestampTz around[2] = {usual - MAX_ZONE_SHIFT_USECS, usual + MAX_ZONE_SHIFT_USECS};

		for (int i = 0; i < 2; i++)
		{
			struct pg_tm probe;
			fsec_t		fsec;
			int			off;
			TimestampTz t;

			if (timestamp2tm(around[i], &off, &probe, &fsec, NULL, tz) != 0)
				continue;
			tm = *local;
			if (tm2timestamp(&tm, 0, &off, &t) != 0 || t <= after ||
				!instant_reads_as(t, local, tz))
				continue;
			if (best == 0 || t < best)
				best = t;
		}
	}
	if (best == 0 && usual > after)
		best = usual;
	return best;
}

/*
 * The first time strictly after "after" at which the schedule runs, in time
 * zone tz, or 0 when it never runs (as "0 0 31 2 *").
 *
 * The walk is in wall-clock time, so a job runs once per matching local
 * time across daylight-saving changes: a local time skipped when clocks go
 * forward runs at the same distance past the change (02:30 becomes 03:30).
 * A local time repeated when clocks go back runs at both occurrences when
 * the hour field is "*" (hourly and more frequent jobs run every real hour,
 * as cron(8) runs its wildcard jobs), and otherwise once, at its second
 * occurrence (PostgreSQL reads an ambiguous local time as the later one).
 * The walk starts a few hours before "after", in case "after" falls in a
 * repeated hour whose second occurrence is still to come.
 */
TimestampTz
reporting_cron_next(const ReportingCron *cron, pg_tz *tz, TimestampTz after)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	CronCursor	c;
	bool		every_hour = (cron->hours & CRON_ALL_HOURS) == CRON_ALL_HOURS;
	int64		into_minute = after % USECS_PER_MINUTE;
	TimestampTz start;
	TimestampTz best = 0;
	Timestamp	first_naive = 0;

	/* the next whole minute; before 2000 the remainder is negative */
	if (into_minute < 0)
		into_minute += USECS_PER_MINUTE;
	start = after - into_minute + USECS_PER_MINUTE;
	if (every_hour)
		start -= MAX_ZONE_SHIFT_USECS;
	if (timestamp2tm(start, &tzoff, &tm, &fsec, NULL, tz) != 0)
		return 0;
	c.year = tm.tm_year;
	c.month = tm.tm_mon;
	c.day = tm.tm_mday;
	c.hour = tm.tm_hour;
	c.minute = tm.tm_min;

	/* a date that matches recurs within 28 years (the calendar's cycle) */
	while (c.year <= tm.tm_year + 29)
	{
		if (!((cron->months >> c.month) & 1))
			cursor_next_month(&c);
		else if (!cron_day_matches(cron, &c))
			cursor_next_day(&c);
		else if (!((cron->hours >> c.hour) & 1))
			cursor_next_hour(&c);
		else if (!((cron->minutes >> c.minute) & 1))
			cursor_next_minute(&c);
		else
		{
			struct pg_tm local;
			TimestampTz candidate;

			memset(&local, 0, sizeof(local));
			local.tm_year = c.year;
			local.tm_mon = c.month;
			local.tm_mday = c.day;
			local.tm_hour = c.hour;
			local.tm_min = c.minute;
			candidate = local_instant_after(&local, tz, after, every_hour);
			if (candidate != 0 && (best == 0 || candidate < best))
				best = candidate;
			/*
			 * Local times map to instants in order, except across a
			 * repeated hour: there a later local time (02:20, first
			 * occurrence) can come before an earlier one (02:00, second),
			 * so look a few hours of local time further.
			 */
			if (best != 0)
			{
				int			zero = 0;
				Timestamp	naive;

				if (!every_hour || tm2timestamp(&local, 0, &zero, &naive) != 0)
					return best;
				if (first_naive == 0)
					first_naive = naive;
				else if (naive > first_naive + MAX_ZONE_SHIFT_USECS)
					return best;
			}
			cursor_next_minute(&c);
		}
	}
	return best;
}

/* The time zone a schedule runs in: the named one, or the session's. */
pg_tz *
reporting_schedule_timezone(const char *tzname)
{
	if (tzname == NULL)
		return session_timezone;
	reporting_validate_timezone(tzname);
	return pg_tzset(tzname);
}

/*
 * reporting.cron_next(cron text, timezone text DEFAULT NULL,
 *		after timestamptz DEFAULT now()) RETURNS timestamptz
 *
 * When a cron schedule next runs after a given time, in a time zone (by
 * default the session's).  Invalid expressions and time zones get 22023.
 */
Datum
reporting_cron_next_sql(PG_FUNCTION_ARGS)
{
	char	   *expr;
	ReportingCron cron;
	pg_tz	   *tz;
	TimestampTz next;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	expr = text_to_cstring(PG_GETARG_TEXT_PP(0));
	reporting_parse_cron(expr, &cron);
	tz = reporting_schedule_timezone(PG_ARGISNULL(1) ? NULL :
									 text_to_cstring(PG_GETARG_TEXT_PP(1)));
	next = reporting_cron_next(&cron, tz, PG_GETARG_TIMESTAMPTZ(2));
	if (next == 0)
		PG_RETURN_NULL();
	PG_RETURN_TIMESTAMPTZ(next);
}
