/*
 * workcal.h — the working-day calendar (工作日) and the time-limit engine.
 *
 * A working day is Monday–Friday, minus statutory holidays that fall on a
 * weekday, plus make-up working weekend days (调休). The calendar is yearly
 * data per tenant: calendar_years says which years are known, calendar_days
 * lists the exceptions ('holiday' = a weekday off, 'workday' = a weekend day
 * worked). The years the State Council has published are shipped in this
 * module (workcal_builtin) and loaded into a tenant by `yiqiban init`,
 * `yiqiban demo`, or on first use. A day of a year that is not known falls
 * back to plain Monday–Friday and sets the caller's `uncertain` flag, so the
 * caller can warn that a deadline may move when the year is published.
 *
 * Time is Asia/Shanghai civil time: a fixed UTC+8 (China has had no daylight
 * saving time since 1991), computed by arithmetic, never through the TZ
 * database. Dates are counted as days since 1970-01-01 ("day numbers").
 *
 * Rules (standards.md, "Working days"):
 *  - N working days: the acceptance day never counts, whatever the hour; the
 *    deadline is the end (23:59:59.999 Shanghai) of the Nth working day after
 *    the acceptance date. N must be at least 1.
 *  - Working hours count only the configured periods (default 09:00-12:00
 *    and 13:30-17:30) of working days; the acceptance instant itself counts.
 *  - A pause moves a deadline in hours by exactly the working time inside the
 *    pause; a deadline in days by the number of working days whose working
 *    periods intersect the pause (a day on which the clock stood still during
 *    working hours, even partly, is given back whole).
 *
 * A struct workcal is an immutable, reference-counted snapshot: many HTTP
 * threads read it without locks. workcal_get() hands out snapshots from a
 * cache keyed by tenant id; every write of a tenant's calendar bumps
 * calendar_meta.version in the same transaction, and a reader that sees a
 * newer version builds a new snapshot and swaps it into the cache under a
 * mutex (old snapshots live until their last reader lets go).
 */
#ifndef YQ_WORKCAL_H
#define YQ_WORKCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;
struct db_pool;

#define WORKCAL_TZ_OFFSET_MS (8 * 3600 * 1000LL) /* Asia/Shanghai = UTC+8, no DST */
#define WORKCAL_DAY_MS (86400 * 1000LL)
#define WORKCAL_MIN_YEAR 1970     /* dates and instants outside these years are refused */
#define WORKCAL_MAX_YEAR 2199
#define WORKCAL_MAX_ENTRIES 60    /* exceptions per year */
#define WORKCAL_MAX_WORKDAYS 1000 /* largest limit in working days */
#define WORKCAL_MAX_MINUTES 525600 /* largest limit in working minutes */
#define WORKCAL_MAX_PERIODS 4     /* working periods per day */
#define WORKCAL_NAME_MAX_CHARS 32 /* holiday names, in characters */
#define WORKCAL_SOURCE_MAX_CHARS 100
#define WORKCAL_SOON_DEFAULT 0.8
#define WORKCAL_HOURS_DEFAULT "09:00-12:00,13:30-17:30"
#define WORKCAL_HOURS_KEY "workhours" /* key in the settings table */

/* ---- civil dates and Shanghai time ---- */

/* Day number (days since 1970-01-01) of a proleptic Gregorian date. */
int64_t workcal_days_from_civil(int year, int month, int day);
void workcal_civil_from_days(int64_t days, int *year, int *month, int *day);
/* ISO weekday of a day number: 1 = Monday ... 7 = Sunday. */
int workcal_weekday(int64_t days);
/* Strict "YYYY-MM-DD" within WORKCAL_MIN_YEAR..WORKCAL_MAX_YEAR; false otherwise. */
bool workcal_parse_date(const char *s, int64_t *days);
/* "YYYY-MM-DD" into out (at least 11 bytes). */
void workcal_format_date(int64_t days, char *out, size_t n);
/* Shanghai civil day of a UTC instant, and milliseconds since that day's local midnight. */
int64_t workcal_local_day(int64_t utc_ms);
int64_t workcal_local_ms(int64_t utc_ms);
/* UTC instant of ms_of_day after local midnight of a day. */
int64_t workcal_utc_ms(int64_t days, int64_t ms_of_day);
/* "2025-09-30T23:59:59.999+08:00" into out (at least 30 bytes). */
void workcal_format_local(int64_t utc_ms, char *out, size_t n);
/*
 * ISO 8601 / RFC 3339 instant with an explicit offset:
 * "YYYY-MM-DDTHH:MM[:SS[.fraction]](Z|+HH:MM|-HH:MM|+HHMM|+HH)"; a fraction
 * beyond milliseconds is truncated. False when malformed or outside the years.
 */
bool workcal_parse_instant(const char *s, int64_t *utc_ms);
/* Is the instant inside the supported years (its Shanghai date)? */
bool workcal_instant_ok(int64_t utc_ms);

/* ---- working hours ---- */

struct workcal_period {
	int start, end; /* minutes after local midnight, start < end <= 1440 */
};

struct workcal_hours {
	int n; /* 1..WORKCAL_MAX_PERIODS, ascending, not overlapping */
	struct workcal_period p[WORKCAL_MAX_PERIODS];
};

void workcal_hours_default(struct workcal_hours *h);
/* Parse "09:00-12:00,13:30-17:30"; ERR_UNPROCESSABLE naming field "workhours". */
int workcal_hours_parse(const char *s, struct workcal_hours *h, struct err *e);
/* The canonical text of h into out (at least 64 bytes). */
void workcal_hours_format(const struct workcal_hours *h, char *out, size_t n);
/* Working minutes of one working day. */
int workcal_hours_minutes(const struct workcal_hours *h);

/* ---- the calendar ---- */

enum workcal_kind {
	WORKCAL_HOLIDAY,  /* listed: a weekday off */
	WORKCAL_WORKDAY,  /* listed: a weekend day worked (调休) */
	WORKCAL_WEEKDAY,  /* not listed, Monday–Friday */
	WORKCAL_WEEKEND,  /* not listed, Saturday or Sunday */
};

const char *workcal_kind_name(enum workcal_kind k); /* "holiday", "workday", "weekday", "weekend" */
/* Kind of a listed day from its name ("holiday" or "workday"); -1 otherwise. */
int workcal_kind_parse(const char *s);

/* One exception of a year. */
struct workcal_entry {
	int64_t day;            /* day number */
	enum workcal_kind kind; /* WORKCAL_HOLIDAY or WORKCAL_WORKDAY */
	char name[132];         /* "春节"; UTF-8, at most WORKCAL_NAME_MAX_CHARS characters */
};

/* A known year. */
struct workcal_year_info {
	int year;
	char source[404];  /* where the data came from: "builtin: 国办发明电〔2024〕12号" */
	int64_t loaded_at; /* UTC ms */
	int entries;       /* exceptions listed */
};

struct workcal; /* immutable snapshot, reference counted */

/*
 * Check a year's exceptions before storing or adding them: at most
 * WORKCAL_MAX_ENTRIES (field "days"); every day inside the year
 * ("days[i].day"), listed once; 'holiday' only on Monday–Friday and 'workday'
 * only on Saturday/Sunday ("days[i].kind"); names of at most
 * WORKCAL_NAME_MAX_CHARS characters of valid UTF-8 ("days[i].name").
 * Returns 0 or ERR_UNPROCESSABLE with e filled.
 */
int workcal_check_year(int year, const struct workcal_entry *days, size_t n, struct err *e);

/* A new calendar with no known year and the given hours (NULL = default);
 * one reference, owned by the caller. */
struct workcal *workcal_new(const struct workcal_hours *hours);
/* Add a known year to a calendar nobody else holds yet (checked as above;
 * entries may be in any order; source NULL = ""). */
int workcal_add_year(struct workcal *cal, int year, const char *source, int64_t loaded_at,
		     const struct workcal_entry *days, size_t n, struct err *e);
/* A calendar of the built-in years only (tests, tools). Caller unrefs. */
struct workcal *workcal_new_builtin(const struct workcal_hours *hours);
struct workcal *workcal_ref(struct workcal *cal);
/* Drop a reference; the snapshot is freed with its last one. NULL is a no-op. */
void workcal_unref(struct workcal *cal);

/* The years shipped with the program, ascending; *n gets the count. */
const int *workcal_builtin_years(size_t *n);
/*
 * The exceptions of a shipped year into out (up to max), sorted by day, and
 * its source text. Returns 0, or ERR_NOT_FOUND when the year is not shipped.
 */
int workcal_builtin(int year, struct workcal_entry *out, size_t max, size_t *n,
		    const char **source);

int64_t workcal_version(const struct workcal *cal);
/* Has the tenant ever had the built-in years loaded (calendar_meta.builtin_loaded)? */
bool workcal_seeded(const struct workcal *cal);
const struct workcal_hours *workcal_hours(const struct workcal *cal);
/* Is the year known? info (may be NULL) gets its description. */
bool workcal_year_known(const struct workcal *cal, int year, struct workcal_year_info *info);
/* The known years, ascending (borrowed from the snapshot). */
const int *workcal_years(const struct workcal *cal, size_t *n);
/* The exceptions of a year, sorted by day (borrowed; *n = 0 when none or not known). */
const struct workcal_entry *workcal_year_entries(const struct workcal *cal, int year, size_t *n);
/* Working days in a year (plain Monday–Friday when the year is not known). */
int workcal_year_workdays(const struct workcal *cal, int year, bool *uncertain);

/*
 * Is the day a working day? A day of a year that is not known counts as a
 * working day on Monday–Friday and sets *uncertain to true. Every function
 * below taking `bool *uncertain` only ever sets it to true (never back to
 * false), so one flag can collect a chain of calls; it may be NULL.
 */
bool workcal_is_workday(const struct workcal *cal, int64_t day, bool *uncertain);
/* The kind of a day, and its name (NULL when not listed). */
enum workcal_kind workcal_day_kind(const struct workcal *cal, int64_t day, const char **name,
				   bool *uncertain);

/*
 * Deadline of n working days from an acceptance instant: the end
 * (23:59:59.999 Shanghai) of the nth working day after the acceptance date.
 * Returns 0, or ERR_UNPROCESSABLE when n is outside 1..WORKCAL_MAX_WORKDAYS
 * or the instant or the result is outside the supported years.
 */
int workcal_add_workdays(const struct workcal *cal, int64_t start_ms, int64_t n,
			 int64_t *deadline_ms, bool *uncertain);
/*
 * The instant at which `minutes` (0..WORKCAL_MAX_MINUTES) of working time
 * have passed since start_ms. Time outside the working periods of working
 * days does not count; a start outside them begins at the next period. The
 * result is the end of a period when the time runs out exactly there.
 */
int workcal_add_workhours(const struct workcal *cal, int64_t start_ms, int64_t minutes,
			  int64_t *due_ms, bool *uncertain);
/* Same in milliseconds (ms >= 0). */
int workcal_add_workms(const struct workcal *cal, int64_t start_ms, int64_t ms, int64_t *due_ms,
		       bool *uncertain);
/* Working time in [a, b) in milliseconds, and in whole minutes (rounded down); 0 if b <= a. */
int64_t workcal_workms_between(const struct workcal *cal, int64_t a_ms, int64_t b_ms,
			       bool *uncertain);
int64_t workcal_workminutes_between(const struct workcal *cal, int64_t a_ms, int64_t b_ms,
				    bool *uncertain);

enum workcal_unit {
	WORKCAL_UNIT_DAYS,  /* the limit is in working days */
	WORKCAL_UNIT_HOURS, /* the limit is in working hours / minutes */
};

/*
 * A deadline moved for a pause [pause_start, pause_end):
 *  hours: by exactly the working time inside the pause (continuing from the
 *         deadline as workcal_add_workms does);
 *  days:  by k working days (as workcal_add_workdays from the deadline's
 *         date), k = the working days whose working periods intersect the
 *         pause; k = 0 leaves the deadline unchanged.
 * An empty or reversed pause leaves it unchanged. Returns 0 or ERR_UNPROCESSABLE.
 */
int workcal_extend_for_pause(const struct workcal *cal, int64_t deadline_ms,
			     int64_t pause_start_ms, int64_t pause_end_ms, enum workcal_unit unit,
			     int64_t *out_ms, bool *uncertain);

enum workcal_due {
	WORKCAL_ON_TIME,
	WORKCAL_DUE_SOON, /* elapsed working time >= soon_fraction of the working time allowed */
	WORKCAL_OVERDUE,  /* now is after the deadline */
};

const char *workcal_due_name(enum workcal_due d); /* "on_time", "due_soon", "overdue" */
/*
 * State of a time limit at `now`: overdue after the deadline (the deadline
 * instant itself is still in time); due soon once the working time elapsed
 * since start reaches soon_fraction (outside (0, 1]: WORKCAL_SOON_DEFAULT)
 * of the working time between start and deadline, or when that is zero.
 */
enum workcal_due workcal_state(const struct workcal *cal, int64_t now_ms, int64_t start_ms,
			       int64_t deadline_ms, double soon_fraction, bool *uncertain);

/*
 * How long the state of a time limit stays what it is at `now`: an instant
 * after now such that workcal_state (with the same arguments but the time)
 * is the same at every instant in [now, until); INT64_MAX once overdue. The
 * state only moves forward with time (on time, due soon, overdue), so until
 * is checked at until - 1; if the calendar cannot tell, now + 1.
 */
int64_t workcal_state_until(const struct workcal *cal, int64_t now_ms, int64_t start_ms,
			    int64_t deadline_ms, double soon_fraction);

/* ---- storage (tables calendar_years, calendar_days, calendar_meta; setting "workhours") ---- */

/*
 * The tenant's current snapshot, from the cache or built from the database
 * (a reader connection is fine). *out holds a reference: workcal_unref() it.
 * The snapshot may not be seeded yet (workcal_seeded); workcal_acquire seeds.
 * Inside a write job it reads the writer's view; do not call it in a job
 * after changing the calendar in that same job (should the job roll back,
 * the cache would hold a snapshot of a version that never committed).
 */
int workcal_get(struct db *db, int64_t tenant_id, struct workcal **out, struct err *e);
/*
 * Like workcal_get on the pool's reader of this thread, loading the built-in
 * years first (a write job, as who) if the tenant never had them.
 */
int workcal_acquire(struct db_pool *pool, const struct actor *who, struct workcal **out,
		    struct err *e);
/* Forget every cached snapshot (tests that reopen databases; shutdown). */
void workcal_cache_clear(void);

/* Write-job argument for workcal_seed. */
struct workcal_seed {
	const struct actor *who;
	int64_t tenant_id;
	int64_t now;
	int loaded; /* out: built-in years added */
};
/*
 * Write job: once per tenant, add every built-in year the tenant does not
 * have (years an administrator stored are kept) and mark the tenant seeded.
 * A no-op for a seeded tenant, so an administrator's deletions stick.
 * Audited ("calendar", "seed").
 */
int workcal_seed(struct db *db, void *arg, struct err *e);

/* Write-job argument for workcal_put_year / workcal_delete_year. */
struct workcal_year_write {
	const struct actor *who;
	int64_t tenant_id;
	int year;
	const char *source;                /* put: may be NULL */
	const struct workcal_entry *days;  /* put: borrowed */
	size_t n;
	int64_t now;
	bool replaced;                     /* out (put): the year was known before */
};
/* Write job: replace (or add) a year's exceptions after workcal_check_year. Audited. */
int workcal_put_year(struct db *db, void *arg, struct err *e);
/* Write job: forget a year (ERR_NOT_FOUND if not known). Audited. */
int workcal_delete_year(struct db *db, void *arg, struct err *e);

/* Write-job argument for workcal_put_hours. */
struct workcal_hours_write {
	const struct actor *who;
	int64_t tenant_id;
	struct workcal_hours hours; /* validated by workcal_hours_parse */
	int64_t now;
};
/* Write job: store the working hours of the tenant. Audited. */
int workcal_put_hours(struct db *db, void *arg, struct err *e);

#endif
