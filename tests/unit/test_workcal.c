/*
 * test_workcal.c — the working-day calendar and the time-limit engine
 * (src/core/workcal.c).
 *
 * The shipped years are checked day by day against an expectation built
 * here, independently, from the tables of shared/reference/standards.md
 * (days off as published, weekends included, and the make-up days), with
 * weekdays from Sakamoto's formula rather than the module's arithmetic.
 * Deadlines are checked on hand-worked cases (the reference's worked example
 * first) and on seeded random properties; storage runs against a real
 * SQLite database in a temporary directory, with write jobs run inside a
 * write transaction as the pool's savepoints do.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <pthread.h>

#include <cmocka.h>

#include "core/workcal.h"
#include "db/db.h"
#include "db/migrate.h"
#include "base/banned.h"

/* ---- helpers ---- */

static int64_t D(const char *date)
{
	int64_t d = 0;
	if (!workcal_parse_date(date, &d))
		fail_msg("bad test date %s", date);
	return d;
}

static int64_t T(const char *iso)
{
	int64_t ms = 0;
	if (!workcal_parse_instant(iso, &ms))
		fail_msg("bad test instant %s", iso);
	return ms;
}

static void assert_local(int64_t ms, const char *want)
{
	char got[40];
	workcal_format_local(ms, got, sizeof got);
	if (strcmp(got, want) != 0)
		fail_msg("got %s, want %s", got, want);
}

/* Sakamoto: 0 = Sunday ... 6 = Saturday. Independent of workcal's day numbers. */
static int sakamoto(int y, int m, int d)
{
	static const int t[] = {0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4};
	if (m < 3)
		y -= 1;
	return (y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7;
}

static int mdays(int y, int m)
{
	static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : n[m - 1];
}

/* ---- the reference tables, as published (standards.md) ---- */

struct ref_holiday {
	const char *first, *last; /* days off, inclusive, weekends included */
};

static const struct ref_holiday ref_off[] = {
	/* 2025 */
	{"2025-01-01", "2025-01-01"}, {"2025-01-28", "2025-02-04"}, {"2025-04-04", "2025-04-06"},
	{"2025-05-01", "2025-05-05"}, {"2025-05-31", "2025-06-02"}, {"2025-10-01", "2025-10-08"},
	/* 2026 */
	{"2026-01-01", "2026-01-03"}, {"2026-02-15", "2026-02-23"}, {"2026-04-04", "2026-04-06"},
	{"2026-05-01", "2026-05-05"}, {"2026-06-19", "2026-06-21"}, {"2026-09-25", "2026-09-27"},
	{"2026-10-01", "2026-10-07"},
};

static const char *const ref_makeup[] = {
	"2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11",
	"2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10",
};

/* Expected working day, by string comparison of "YYYY-MM-DD" only. */
static bool ref_workday(const char *date, int y, int m, int d)
{
	for (size_t i = 0; i < sizeof ref_makeup / sizeof *ref_makeup; i++)
		if (strcmp(date, ref_makeup[i]) == 0)
			return true;
	for (size_t i = 0; i < sizeof ref_off / sizeof *ref_off; i++)
		if (strcmp(date, ref_off[i].first) >= 0 && strcmp(date, ref_off[i].last) <= 0)
			return false;
	int wd = sakamoto(y, m, d);
	return wd != 0 && wd != 6;
}

/* ---- civil dates and time zone ---- */

static void test_civil_roundtrip(void **state)
{
	(void)state;
	int64_t n = 0; /* counted independently from 1970-01-01 */
	for (int y = 1970; y <= 2199; y++)
		for (int m = 1; m <= 12; m++)
			for (int d = 1; d <= mdays(y, m); d++, n++) {
				int yy, mm, dd;
				assert_int_equal(workcal_days_from_civil(y, m, d), n);
				workcal_civil_from_days(n, &yy, &mm, &dd);
				assert_true(yy == y && mm == m && dd == d);
				int iso = sakamoto(y, m, d);
				assert_int_equal(workcal_weekday(n), iso == 0 ? 7 : iso);
			}
	assert_int_equal(workcal_weekday(0), 4); /* 1970-01-01 Thursday */
	assert_int_equal(workcal_weekday(D("2025-09-26")), 5);
	assert_int_equal(workcal_weekday(D("2025-09-28")), 7);
	assert_int_equal(workcal_weekday(-1), 3);

	int64_t x;
	const char *bad[] = {"2025-02-29", "2025-13-01", "2025-00-10", "2025-1-01", "2025-01-1",
			     "20250101", "2025-01-01 ", "1969-12-31", "2200-01-01", "", "abcd-ef-gh",
			     "2025/01/01", "2025-04-31"};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (workcal_parse_date(bad[i], &x))
			fail_msg("accepted bad date '%s'", bad[i]);
	assert_true(workcal_parse_date("2024-02-29", &x));
	char s[16];
	workcal_format_date(x, s, sizeof s);
	assert_string_equal(s, "2024-02-29");
}

static void test_utc8(void **state)
{
	(void)state;
	/* 16:00Z is midnight of the next day in Shanghai */
	int64_t mid = T("2025-09-25T16:00:00Z");
	assert_int_equal(workcal_local_day(mid), D("2025-09-26"));
	assert_int_equal(workcal_local_ms(mid), 0);
	assert_int_equal(workcal_local_day(mid - 1), D("2025-09-25"));
	assert_int_equal(workcal_local_ms(mid - 1), WORKCAL_DAY_MS - 1);
	assert_local(mid, "2025-09-26T00:00:00.000+08:00");
	assert_local(mid - 1, "2025-09-25T23:59:59.999+08:00");
	assert_int_equal(workcal_utc_ms(D("2025-09-26"), 0), mid);
	assert_int_equal(mid, T("2025-09-26T00:00:00+08:00"));
	assert_int_equal(mid, T("2025-09-26T00:00+08:00"));
	assert_int_equal(mid, T("2025-09-26T00:00:00.000+0800"));
	assert_int_equal(mid, T("2025-09-26T00:00:00+08"));
	assert_int_equal(mid, T("2025-09-25T12:00:00-04:00"));
	assert_int_equal(mid + 500, T("2025-09-26T00:00:00.5+08:00"));
	assert_int_equal(mid + 123, T("2025-09-26T00:00:00.123456789+08:00"));
	assert_int_equal(mid, 1758816000000LL); /* epoch ms of 2025-09-25T16:00:00Z */
	/* the epoch itself: 08:00 in Shanghai */
	assert_int_equal(workcal_local_day(0), 0);
	assert_int_equal(workcal_local_ms(0), 8 * 3600000LL);
	assert_int_equal(workcal_local_day(-8 * 3600000LL - 1), -1);

	int64_t x;
	const char *bad[] = {
		"2025-09-26T00:00:00",        /* no offset: ambiguous */
		"2025-09-26",                 /* a date is not an instant */
		"2025-09-26T24:00:00+08:00",  "2025-09-26T10:60:00+08:00",
		"2025-09-26T10:00:60+08:00",  "2025-02-29T10:00:00+08:00",
		"2025-09-26T10:00:00+24:00",  "2025-09-26T10:00:00.+08:00",
		"2025-09-26T10:00:00+08:00x", "2025-09-26X10:00:00+08:00",
		"2025-09-26T10:00:00.1234567890Z", "1969-12-31T00:00:00+08:00",
		"2200-01-01T00:00:00+08:00", "",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
		if (workcal_parse_instant(bad[i], &x))
			fail_msg("accepted bad instant '%s'", bad[i]);
	/* 1970-01-01 00:00 Shanghai is the first instant, just before the epoch */
	assert_true(workcal_parse_instant("1970-01-01T00:00:00+08:00", &x));
	assert_int_equal(x, -8 * 3600000LL);
	assert_false(workcal_instant_ok(x - 1));
}

/* ---- the shipped years ---- */

static void test_builtin_every_day(void **state)
{
	(void)state;
	struct workcal *cal = workcal_new_builtin(NULL);
	int count[2] = {0, 0};

	for (int y = 2025; y <= 2026; y++)
		for (int m = 1; m <= 12; m++)
			for (int d = 1; d <= mdays(y, m); d++) {
				char date[32];
				bool uncertain = false;
				snprintf(date, sizeof date, "%04d-%02d-%02d", y, m, d);
				bool want = ref_workday(date, y, m, d);
				bool got = workcal_is_workday(cal, D(date), &uncertain);
				if (got != want)
					fail_msg("%s: workcal says %s, the reference %s", date,
						 got ? "working" : "off", want ? "working" : "off");
				assert_false(uncertain);
				count[y - 2025] += want;
				/* kinds: exceptions only where Monday–Friday is wrong */
				const char *name;
				enum workcal_kind k = workcal_day_kind(cal, D(date), &name, NULL);
				int wd = sakamoto(y, m, d);
				bool weekend = wd == 0 || wd == 6;
				if (want == !weekend) {
					assert_int_equal(k, weekend ? WORKCAL_WEEKEND : WORKCAL_WEEKDAY);
					assert_null(name);
				} else {
					assert_int_equal(k, want ? WORKCAL_WORKDAY : WORKCAL_HOLIDAY);
					assert_non_null(name);
					assert_true(name[0]);
				}
			}
	/*
	 * 2025: 261 weekdays − 18 weekday holidays + 5 make-up days = 248.
	 * 2026: 261 weekdays − 19 weekday holidays + 6 make-up days = 248.
	 */
	assert_int_equal(count[0], 248);
	assert_int_equal(count[1], 248);
	assert_int_equal(workcal_year_workdays(cal, 2025, NULL), 248);
	assert_int_equal(workcal_year_workdays(cal, 2026, NULL), 248);

	const char *name;
	assert_int_equal(workcal_day_kind(cal, D("2026-02-16"), &name, NULL), WORKCAL_HOLIDAY);
	assert_string_equal(name, "春节");
	assert_int_equal(workcal_day_kind(cal, D("2025-09-28"), &name, NULL), WORKCAL_WORKDAY);
	assert_string_equal(name, "国庆节、中秋节");
	workcal_unref(cal);
}

static void test_builtin_tables(void **state)
{
	(void)state;
	struct workcal_entry days[WORKCAL_MAX_ENTRIES];
	struct err e;
	size_t n, ny;
	const char *source;
	const int *years = workcal_builtin_years(&ny);

	assert_int_equal(ny, 2);
	assert_int_equal(years[0], 2025);
	assert_int_equal(years[1], 2026);
	assert_int_equal(workcal_builtin(2025, days, WORKCAL_MAX_ENTRIES, &n, &source), 0);
	assert_int_equal(n, 18 + 5);
	assert_non_null(strstr(source, "国办发明电〔2024〕12号"));
	assert_int_equal(workcal_check_year(2025, days, n, &e), 0);
	for (size_t i = 1; i < n; i++)
		assert_true(days[i - 1].day < days[i].day);
	assert_int_equal(workcal_builtin(2026, days, WORKCAL_MAX_ENTRIES, &n, &source), 0);
	assert_int_equal(n, 19 + 6);
	assert_int_equal(workcal_check_year(2026, days, n, &e), 0);
	assert_int_equal(workcal_builtin(2027, days, WORKCAL_MAX_ENTRIES, &n, &source),
			 ERR_NOT_FOUND);
}

/* ---- working days ---- */

struct wd_case {
	const char *start; /* acceptance instant */
	int n;
	const char *due;   /* expected deadline, local */
};

static void test_add_workdays(void **state)
{
	(void)state;
	static const struct wd_case cases[] = {
		/* the reference's worked example, at any hour of the Friday */
		{"2025-09-26T00:00:00+08:00", 3, "2025-09-30T23:59:59.999+08:00"},
		{"2025-09-26T09:00:00+08:00", 3, "2025-09-30T23:59:59.999+08:00"},
		{"2025-09-26T23:59:59.999+08:00", 3, "2025-09-30T23:59:59.999+08:00"},
		{"2025-09-25T16:00:00Z", 3, "2025-09-30T23:59:59.999+08:00"},
		/* one ms earlier it is still Thursday in Shanghai: Fri, Sun(调休), Mon */
		{"2025-09-25T15:59:59.999Z", 3, "2025-09-29T23:59:59.999+08:00"},
		{"2025-09-26T10:00:00+08:00", 1, "2025-09-28T23:59:59.999+08:00"},
		{"2025-09-26T10:00:00+08:00", 4, "2025-10-09T23:59:59.999+08:00"},
		{"2025-09-26T10:00:00+08:00", 6, "2025-10-11T23:59:59.999+08:00"},
		/* across 春节 2026: the Saturday before is a make-up day */
		{"2026-02-13T15:00:00+08:00", 1, "2026-02-14T23:59:59.999+08:00"},
		{"2026-02-13T15:00:00+08:00", 2, "2026-02-24T23:59:59.999+08:00"},
		{"2026-02-14T15:00:00+08:00", 1, "2026-02-24T23:59:59.999+08:00"},
		{"2026-02-24T15:00:00+08:00", 4, "2026-02-28T23:59:59.999+08:00"},
		/* accepted on a holiday, or on a weekend */
		{"2025-10-03T11:00:00+08:00", 1, "2025-10-09T23:59:59.999+08:00"},
		{"2026-02-18T11:00:00+08:00", 1, "2026-02-24T23:59:59.999+08:00"},
		{"2025-09-27T11:00:00+08:00", 1, "2025-09-28T23:59:59.999+08:00"},
		{"2025-03-01T11:00:00+08:00", 1, "2025-03-03T23:59:59.999+08:00"},
		{"2025-03-02T11:00:00+08:00", 5, "2025-03-07T23:59:59.999+08:00"},
		/* 春节 2025 */
		{"2025-01-24T11:00:00+08:00", 1, "2025-01-26T23:59:59.999+08:00"},
		{"2025-01-24T11:00:00+08:00", 3, "2025-02-05T23:59:59.999+08:00"},
		/* across the year boundary: 2026-01-04 (Sunday) is a make-up day */
		{"2025-12-31T11:00:00+08:00", 1, "2026-01-04T23:59:59.999+08:00"},
		{"2025-12-31T11:00:00+08:00", 2, "2026-01-05T23:59:59.999+08:00"},
		{"2025-12-30T11:00:00+08:00", 2, "2026-01-04T23:59:59.999+08:00"},
		/* a complaint: 15 working days */
		{"2026-09-18T11:00:00+08:00", 15, "2026-10-15T23:59:59.999+08:00"},
	};
	struct workcal *cal = workcal_new_builtin(NULL);

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int64_t due = 0;
		bool uncertain = false;
		assert_int_equal(workcal_add_workdays(cal, T(cases[i].start), cases[i].n, &due,
						      &uncertain),
				 0);
		char got[40];
		workcal_format_local(due, got, sizeof got);
		if (strcmp(got, cases[i].due) != 0)
			fail_msg("%s + %d working days: got %s, want %s", cases[i].start,
				 cases[i].n, got, cases[i].due);
		assert_false(uncertain);
	}
	/* n must be at least 1: the acceptance day never counts */
	int64_t due = 42;
	int64_t s = T("2025-09-26T10:00:00+08:00");
	assert_int_equal(workcal_add_workdays(cal, s, 0, &due, NULL), ERR_UNPROCESSABLE);
	assert_int_equal(workcal_add_workdays(cal, s, -1, &due, NULL), ERR_UNPROCESSABLE);
	assert_int_equal(workcal_add_workdays(cal, s, WORKCAL_MAX_WORKDAYS + 1, &due, NULL),
			 ERR_UNPROCESSABLE);
	assert_int_equal(due, 42);
	assert_int_equal(workcal_add_workdays(cal, s, WORKCAL_MAX_WORKDAYS, &due, NULL), 0);
	/* too close to the end of the supported years */
	assert_int_equal(workcal_add_workdays(cal, T("2199-12-30T10:00:00+08:00"), 5, &due, NULL),
			 ERR_UNPROCESSABLE);
	workcal_unref(cal);
}

static void test_add_workdays_property(void **state)
{
	(void)state;
	struct workcal *cal = workcal_new_builtin(NULL);
	uint64_t seed = 20250926;
	int64_t lo = T("2024-10-01T00:00:00+08:00"), span = 800 * WORKCAL_DAY_MS;

	for (int i = 0; i < 2000; i++) {
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		int64_t a = lo + (int64_t)((seed >> 11) % (uint64_t)span);
		int n = 1 + (int)((seed >> 5) % 40);
		int64_t due;
		assert_int_equal(workcal_add_workdays(cal, a, n, &due, NULL), 0);
		/* the end of a working day ... */
		assert_int_equal(workcal_local_ms(due), WORKCAL_DAY_MS - 1);
		assert_true(workcal_is_workday(cal, workcal_local_day(due), NULL));
		/* ... the nth after the acceptance date */
		int k = 0;
		for (int64_t d = workcal_local_day(a) + 1; d <= workcal_local_day(due); d++)
			k += workcal_is_workday(cal, d, NULL);
		assert_int_equal(k, n);
	}
	workcal_unref(cal);
}

static void test_uncertain_years(void **state)
{
	(void)state;
	struct workcal *cal = workcal_new_builtin(NULL);
	bool uncertain = false;
	int64_t due;

	assert_true(workcal_is_workday(cal, D("2026-06-01"), &uncertain));
	assert_false(uncertain);
	/* 2027 is not known: plain Monday–Friday, flagged */
	assert_true(workcal_is_workday(cal, D("2027-01-01"), &uncertain)); /* a Friday */
	assert_true(uncertain);
	uncertain = false;
	assert_false(workcal_is_workday(cal, D("2027-01-02"), &uncertain));
	assert_true(uncertain);
	uncertain = false;
	assert_false(workcal_is_workday(cal, D("2024-12-29"), &uncertain));
	assert_true(uncertain);

	uncertain = false;
	assert_int_equal(workcal_add_workdays(cal, T("2026-12-30T10:00:00+08:00"), 1, &due,
					      &uncertain),
			 0);
	assert_local(due, "2026-12-31T23:59:59.999+08:00");
	assert_false(uncertain);
	assert_int_equal(workcal_add_workdays(cal, T("2026-12-30T10:00:00+08:00"), 2, &due,
					      &uncertain),
			 0);
	assert_local(due, "2027-01-01T23:59:59.999+08:00");
	assert_true(uncertain);
	assert_false(workcal_year_known(cal, 2027, NULL));
	uncertain = false;
	assert_int_equal(workcal_year_workdays(cal, 2027, &uncertain), 261);
	assert_true(uncertain);

	/* once 2027 is added it is certain */
	struct workcal *c2 = workcal_new_builtin(NULL);
	struct workcal_entry hol = {.day = D("2027-01-01"), .kind = WORKCAL_HOLIDAY};
	struct err e;
	snprintf(hol.name, sizeof hol.name, "元旦");
	assert_int_equal(workcal_add_year(c2, 2027, "test", 0, &hol, 1, &e), 0);
	uncertain = false;
	assert_int_equal(workcal_add_workdays(c2, T("2026-12-30T10:00:00+08:00"), 2, &due,
					      &uncertain),
			 0);
	assert_local(due, "2027-01-04T23:59:59.999+08:00");
	assert_false(uncertain);
	workcal_unref(c2);
	workcal_unref(cal);
}

/* ---- working hours ---- */

struct wh_case {
	const char *start;
	int minutes;
	const char *due;
};

static void test_add_workhours(void **state)
{
	(void)state;
	static const struct wh_case cases[] = {
		/* Friday 16:00 + 2 h: 90 min on Friday, 30 on the next working day, which
		 * is Sunday 2025-09-28 (调休) */
		{"2025-09-26T16:00:00+08:00", 120, "2025-09-28T09:30:00.000+08:00"},
		/* an ordinary week */
		{"2025-03-05T16:00:00+08:00", 120, "2025-03-06T09:30:00.000+08:00"},
		{"2025-03-07T17:00:00+08:00", 60, "2025-03-10T09:30:00.000+08:00"},
		/* before opening, in the lunch break, after closing */
		{"2025-03-05T07:00:00+08:00", 60, "2025-03-05T10:00:00.000+08:00"},
		{"2025-03-05T12:30:00+08:00", 60, "2025-03-05T14:30:00.000+08:00"},
		{"2025-03-05T11:30:00+08:00", 60, "2025-03-05T14:00:00.000+08:00"},
		{"2025-03-05T18:00:00+08:00", 30, "2025-03-06T09:30:00.000+08:00"},
		/* on a holiday: the next working day is after 国庆 */
		{"2025-10-01T10:00:00+08:00", 60, "2025-10-09T10:00:00.000+08:00"},
		/* time running out exactly at the end of a period */
		{"2025-03-05T09:00:00+08:00", 180, "2025-03-05T12:00:00.000+08:00"},
		{"2025-03-05T09:00:00+08:00", 420, "2025-03-05T17:30:00.000+08:00"},
		{"2025-03-05T09:00:00+08:00", 421, "2025-03-06T09:01:00.000+08:00"},
		/* seconds are kept */
		{"2025-03-05T10:15:30.250+08:00", 1, "2025-03-05T10:16:30.250+08:00"},
		/* zero minutes: the start itself */
		{"2025-03-05T20:00:00+08:00", 0, "2025-03-05T20:00:00.000+08:00"},
		/* two working days of hours across 春节 2026 */
		{"2026-02-13T17:00:00+08:00", 480, "2026-02-24T09:30:00.000+08:00"},
	};
	struct workcal *cal = workcal_new_builtin(NULL);

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int64_t due;
		assert_int_equal(workcal_add_workhours(cal, T(cases[i].start), cases[i].minutes, &due,
						       NULL),
				 0);
		char got[40];
		workcal_format_local(due, got, sizeof got);
		if (strcmp(got, cases[i].due) != 0)
			fail_msg("%s + %d working minutes: got %s, want %s", cases[i].start,
				 cases[i].minutes, got, cases[i].due);
	}
	int64_t due;
	assert_int_equal(workcal_add_workhours(cal, T(cases[0].start), -1, &due, NULL),
			 ERR_UNPROCESSABLE);
	assert_int_equal(workcal_add_workhours(cal, T(cases[0].start), WORKCAL_MAX_MINUTES + 1,
					       &due, NULL),
			 ERR_UNPROCESSABLE);
	workcal_unref(cal);

	/* with an afternoon ending at 16:30, the same Friday gives 10:30 */
	struct workcal_hours h;
	struct err e;
	assert_int_equal(workcal_hours_parse("09:00-12:00,13:30-16:30", &h, &e), 0);
	cal = workcal_new_builtin(&h);
	assert_int_equal(workcal_add_workhours(cal, T("2025-09-26T16:00:00+08:00"), 120, &due,
					       NULL),
			 0);
	assert_local(due, "2025-09-28T10:30:00.000+08:00");
	workcal_unref(cal);
}

static void test_between(void **state)
{
	(void)state;
	struct workcal *cal = workcal_new_builtin(NULL);
	/* a full ordinary day, a week, a holiday week */
	assert_int_equal(workcal_workminutes_between(cal, T("2025-03-05T00:00:00+08:00"),
						     T("2025-03-06T00:00:00+08:00"), NULL),
			 420);
	assert_int_equal(workcal_workminutes_between(cal, T("2025-03-03T00:00:00+08:00"),
						     T("2025-03-10T00:00:00+08:00"), NULL),
			 5 * 420);
	assert_int_equal(workcal_workminutes_between(cal, T("2025-10-01T00:00:00+08:00"),
						     T("2025-10-09T00:00:00+08:00"), NULL),
			 0);
	/* Friday 16:00 to Sunday (调休) 09:30 */
	assert_int_equal(workcal_workminutes_between(cal, T("2025-09-26T16:00:00+08:00"),
						     T("2025-09-28T09:30:00+08:00"), NULL),
			 120);
	/* reversed or empty */
	assert_int_equal(workcal_workms_between(cal, T("2025-03-06T00:00:00+08:00"),
						T("2025-03-05T00:00:00+08:00"), NULL),
			 0);
	assert_int_equal(workcal_workms_between(cal, 5, 5, NULL), 0);
	/* minutes round down */
	assert_int_equal(workcal_workminutes_between(cal, T("2025-03-05T10:00:00+08:00"),
						     T("2025-03-05T10:00:59.999+08:00"), NULL),
			 0);
	/* a whole year: 248 days of 7 h */
	assert_int_equal(workcal_workminutes_between(cal, T("2025-01-01T00:00:00+08:00"),
						     T("2026-01-01T00:00:00+08:00"), NULL),
			 248 * 420);
	workcal_unref(cal);
}

/* minutes_between(a, add(a, m)) == m, and add() is the earliest such instant */
static void test_hours_property(void **state)
{
	(void)state;
	struct workcal_hours odd;
	struct err e;
	assert_int_equal(workcal_hours_parse("08:15-11:45,12:00-12:01,14:00-18:00,19:00-24:00",
					     &odd, &e),
			 0);
	struct workcal *cals[2] = {workcal_new_builtin(NULL), workcal_new_builtin(&odd)};
	uint64_t seed = 12345;
	int64_t lo = T("2024-12-01T00:00:00+08:00"), span = 800 * WORKCAL_DAY_MS;

	for (int i = 0; i < 10000; i++) {
		struct workcal *cal = cals[i & 1];
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		int64_t a = lo + (int64_t)((seed >> 11) % (uint64_t)span);
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		int64_t m = (int64_t)((seed >> 13) % 20000);
		int64_t b;
		assert_int_equal(workcal_add_workhours(cal, a, m, &b, NULL), 0);
		assert_true(b >= a);
		if (workcal_workminutes_between(cal, a, b, NULL) != m ||
		    workcal_workms_between(cal, a, b, NULL) != m * 60000)
			fail_msg("case %d: a=%lld m=%lld b=%lld between=%lld ms", i, (long long)a,
				 (long long)m, (long long)b,
				 (long long)workcal_workms_between(cal, a, b, NULL));
		if (m > 0)
			assert_int_equal(workcal_workms_between(cal, a, b - 1, NULL), m * 60000 - 1);
	}
	workcal_unref(cals[0]);
	workcal_unref(cals[1]);
}

static void test_hours_parse(void **state)
{
	(void)state;
	struct workcal_hours h;
	struct err e;
	char s[64];

	workcal_hours_default(&h);
	workcal_hours_format(&h, s, sizeof s);
	assert_string_equal(s, WORKCAL_HOURS_DEFAULT);
	assert_int_equal(workcal_hours_minutes(&h), 420);
	assert_int_equal(workcal_hours_parse("08:30-12:00,14:30-18:00", &h, &e), 0);
	workcal_hours_format(&h, s, sizeof s);
	assert_string_equal(s, "08:30-12:00,14:30-18:00");
	assert_int_equal(workcal_hours_parse("00:00-24:00", &h, &e), 0);
	assert_int_equal(workcal_hours_minutes(&h), 1440);
	assert_int_equal(workcal_hours_parse("09:00-12:00,12:00-13:00", &h, &e), 0);

	const char *bad[] = {
		"", "9:00-12:00", "09:00-12:00,", "09:00-12:00;13:30-17:30", "12:00-09:00",
		"09:00-09:00", "13:30-17:30,09:00-12:00", "09:00-12:00,11:00-13:00",
		"24:30-25:00", "09:60-10:00", "09:00-12:00 ", " 09:00-12:00",
		"01:00-02:00,03:00-04:00,05:00-06:00,07:00-08:00,09:00-10:00", "09:00",
		"09:00-24:01",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		err_clear(&e);
		if (workcal_hours_parse(bad[i], &h, &e) != ERR_UNPROCESSABLE)
			fail_msg("accepted working hours '%s'", bad[i]);
		assert_string_equal(e.field, "workhours");
		assert_true(e.message[0] && e.message_zh[0]);
	}
}

/* ---- pauses ---- */

struct pause_case {
	enum workcal_unit unit;
	const char *deadline, *from, *to, *want;
};

static void test_pause(void **state)
{
	(void)state;
	static const struct pause_case cases[] = {
		/* hours: exactly the working time inside the pause */
		{WORKCAL_UNIT_HOURS, "2025-03-05T15:00:00+08:00", "2025-03-03T11:00:00+08:00",
		 "2025-03-03T14:00:00+08:00", "2025-03-05T16:30:00.000+08:00"}, /* 60 + 30 min */
		{WORKCAL_UNIT_HOURS, "2025-03-05T17:00:00+08:00", "2025-03-03T11:00:00+08:00",
		 "2025-03-03T14:00:00+08:00", "2025-03-06T10:00:00.000+08:00"},
		{WORKCAL_UNIT_HOURS, "2025-03-12T15:00:00+08:00", "2025-03-07T17:00:00+08:00",
		 "2025-03-10T10:00:00+08:00", "2025-03-12T16:30:00.000+08:00"}, /* 30 + 60 */
		{WORKCAL_UNIT_HOURS, "2025-03-12T15:00:00+08:00", "2025-03-08T09:00:00+08:00",
		 "2025-03-09T18:00:00+08:00", "2025-03-12T15:00:00.000+08:00"}, /* weekend only */
		{WORKCAL_UNIT_HOURS, "2025-09-30T17:00:00+08:00", "2025-09-26T16:00:00+08:00",
		 "2025-09-28T09:30:00+08:00", "2025-10-09T10:30:00.000+08:00"}, /* 120, over 国庆 */
		/* days: the working days whose working periods the pause touches */
		{WORKCAL_UNIT_DAYS, "2025-03-14T23:59:59.999+08:00", "2025-03-10T10:00:00+08:00",
		 "2025-03-10T11:00:00+08:00", "2025-03-17T23:59:59.999+08:00"},
		{WORKCAL_UNIT_DAYS, "2025-03-14T23:59:59.999+08:00", "2025-03-10T10:00:00+08:00",
		 "2025-03-11T10:00:00+08:00", "2025-03-18T23:59:59.999+08:00"},
		{WORKCAL_UNIT_DAYS, "2025-03-14T23:59:59.999+08:00", "2025-03-07T18:00:00+08:00",
		 "2025-03-10T08:00:00+08:00", "2025-03-14T23:59:59.999+08:00"}, /* nights, weekend */
		{WORKCAL_UNIT_DAYS, "2025-03-14T23:59:59.999+08:00", "2025-03-10T12:10:00+08:00",
		 "2025-03-10T13:20:00+08:00", "2025-03-14T23:59:59.999+08:00"}, /* lunch only */
		{WORKCAL_UNIT_DAYS, "2025-03-14T23:59:59.999+08:00", "2025-03-10T17:29:00+08:00",
		 "2025-03-10T17:31:00+08:00", "2025-03-17T23:59:59.999+08:00"}, /* one minute */
		{WORKCAL_UNIT_DAYS, "2025-03-14T23:59:59.999+08:00", "2025-03-03T00:00:00+08:00",
		 "2025-03-10T00:00:00+08:00", "2025-03-21T23:59:59.999+08:00"}, /* a week: 5 */
		/* over 国庆: only 09-30 counts; the deadline moves onto the make-up Saturday */
		{WORKCAL_UNIT_DAYS, "2025-10-10T23:59:59.999+08:00", "2025-09-30T17:00:00+08:00",
		 "2025-10-09T09:00:00+08:00", "2025-10-11T23:59:59.999+08:00"},
		/* empty and reversed pauses change nothing */
		{WORKCAL_UNIT_DAYS, "2025-03-14T23:59:59.999+08:00", "2025-03-10T10:00:00+08:00",
		 "2025-03-10T10:00:00+08:00", "2025-03-14T23:59:59.999+08:00"},
		{WORKCAL_UNIT_HOURS, "2025-03-14T15:00:00+08:00", "2025-03-11T10:00:00+08:00",
		 "2025-03-10T10:00:00+08:00", "2025-03-14T15:00:00.000+08:00"},
	};
	struct workcal *cal = workcal_new_builtin(NULL);

	for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
		int64_t out;
		assert_int_equal(workcal_extend_for_pause(cal, T(cases[i].deadline), T(cases[i].from),
							  T(cases[i].to), cases[i].unit, &out,
							  NULL),
				 0);
		char got[40];
		workcal_format_local(out, got, sizeof got);
		if (strcmp(got, cases[i].want) != 0)
			fail_msg("case %zu: got %s, want %s", i, got, cases[i].want);
	}
	/* hours: the remaining working time is the same before and after a pause */
	int64_t start = T("2025-03-03T09:00:00+08:00"), due, moved;
	int64_t ps = T("2025-03-03T10:00:00+08:00"), pe = T("2025-03-04T15:00:00+08:00");
	assert_int_equal(workcal_add_workhours(cal, start, 16 * 60, &due, NULL), 0);
	assert_int_equal(workcal_extend_for_pause(cal, due, ps, pe, WORKCAL_UNIT_HOURS, &moved,
						  NULL),
			 0);
	assert_int_equal(workcal_workms_between(cal, start, moved, NULL) -
				 workcal_workms_between(cal, ps, pe, NULL),
			 16 * 60 * 60000LL);
	workcal_unref(cal);
}

/* ---- due state ---- */

static void test_state(void **state)
{
	(void)state;
	struct workcal *cal = workcal_new_builtin(NULL);
	int64_t start = T("2025-03-03T09:00:00+08:00"), due;

	/* 10 working hours: Monday 09:00 → Tuesday 12:00 */
	assert_int_equal(workcal_add_workhours(cal, start, 600, &due, NULL), 0);
	assert_local(due, "2025-03-04T12:00:00.000+08:00");
	/* 7 h elapsed (Monday 17:30 .. Tuesday 09:00) = 70 % */
	assert_int_equal(workcal_state(cal, T("2025-03-03T20:00:00+08:00"), start, due, 0.8, NULL),
			 WORKCAL_ON_TIME);
	assert_int_equal(workcal_state(cal, T("2025-03-04T09:59:59+08:00"), start, due, 0.8, NULL),
			 WORKCAL_ON_TIME);
	/* 8 h = 80 % */
	assert_int_equal(workcal_state(cal, T("2025-03-04T10:00:00+08:00"), start, due, 0.8, NULL),
			 WORKCAL_DUE_SOON);
	assert_int_equal(workcal_state(cal, due, start, due, 0.8, NULL), WORKCAL_DUE_SOON);
	assert_int_equal(workcal_state(cal, due + 1, start, due, 0.8, NULL), WORKCAL_OVERDUE);
	/* another fraction; out-of-range fractions mean the default */
	assert_int_equal(workcal_state(cal, T("2025-03-03T14:30:00+08:00"), start, due, 0.5, NULL),
			 WORKCAL_ON_TIME);
	assert_int_equal(workcal_state(cal, T("2025-03-03T15:29:59+08:00"), start, due, 0.5, NULL),
			 WORKCAL_ON_TIME);
	assert_int_equal(workcal_state(cal, T("2025-03-03T15:30:00+08:00"), start, due, 0.5, NULL),
			 WORKCAL_DUE_SOON);
	assert_int_equal(workcal_state(cal, T("2025-03-04T09:59:59+08:00"), start, due, 0, NULL),
			 WORKCAL_ON_TIME);
	assert_int_equal(workcal_state(cal, T("2025-03-04T10:00:00+08:00"), start, due, 7, NULL),
			 WORKCAL_DUE_SOON);

	/* days: the worked example, accepted Friday 10:00 */
	start = T("2025-09-26T10:00:00+08:00");
	assert_int_equal(workcal_add_workdays(cal, start, 3, &due, NULL), 0);
	/* total 360 + 420 + 420 + 420 = 1620 min; Monday noon: 360 + 420 + 180 = 960 (59 %) */
	assert_int_equal(workcal_state(cal, T("2025-09-29T12:00:00+08:00"), start, due, 0.8, NULL),
			 WORKCAL_ON_TIME);
	/* Tuesday 11:00: 360 + 420 + 420 + 120 = 1320 (81 %) */
	assert_int_equal(workcal_state(cal, T("2025-09-30T11:00:00+08:00"), start, due, 0.8, NULL),
			 WORKCAL_DUE_SOON);
	assert_int_equal(workcal_state(cal, T("2025-09-30T23:00:00+08:00"), start, due, 0.8, NULL),
			 WORKCAL_DUE_SOON);
	assert_int_equal(workcal_state(cal, T("2025-10-01T00:00:00+08:00"), start, due, 0.8, NULL),
			 WORKCAL_OVERDUE);
	assert_string_equal(workcal_due_name(WORKCAL_DUE_SOON), "due_soon");
	workcal_unref(cal);
}

/* How long a state lasts: exactly until the instant it changes. */
static void test_state_until(void **state)
{
	(void)state;
	struct workcal *cal = workcal_new_builtin(NULL);
	int64_t start = T("2025-03-03T09:00:00+08:00"), due;

	assert_int_equal(workcal_add_workhours(cal, start, 600, &due, NULL), 0);
	/* on time until 8 of the 10 hours have passed, due soon to the deadline, then overdue */
	assert_int_equal(workcal_state_until(cal, T("2025-03-03T20:00:00+08:00"), start, due, 0.8),
			 T("2025-03-04T10:00:00+08:00"));
	assert_int_equal(workcal_state_until(cal, start - 3600000, start, due, 0.8),
			 T("2025-03-04T10:00:00+08:00"));
	assert_int_equal(workcal_state_until(cal, T("2025-03-04T10:00:00+08:00"), start, due, 0.8),
			 due + 1);
	assert_int_equal(workcal_state_until(cal, due, start, due, 0.8), due + 1);
	assert_int_equal(workcal_state_until(cal, due + 1, start, due, 0.8), INT64_MAX);
	/* no working time allowed: due soon at once */
	int64_t sat = T("2025-03-08T10:00:00+08:00");
	assert_int_equal(workcal_state_until(cal, sat, sat, sat + 3600000, 0.8), sat + 3600001);

	/* at random: the state is the same on [now, until) and another at until */
	struct workcal_hours odd;
	struct err e;
	assert_int_equal(workcal_hours_parse("08:15-11:45,12:00-12:01,14:00-18:00,19:00-24:00",
					     &odd, &e),
			 0);
	struct workcal *cals[2] = {cal, workcal_new_builtin(&odd)};
	uint64_t seed = 777;
	int64_t lo = T("2025-01-01T00:00:00+08:00"), span = 600 * WORKCAL_DAY_MS;
#define NEXT() (seed = seed * 6364136223846793005ULL + 1442695040888963407ULL, seed >> 11)
	for (int i = 0; i < 20000; i++) {
		struct workcal *c = cals[i & 1];
		int64_t a = lo + (int64_t)(NEXT() % (uint64_t)span), d;
		if (i % 3)
			assert_int_equal(workcal_add_workhours(c, a, (int64_t)(NEXT() % 3000), &d, NULL), 0);
		else
			assert_int_equal(workcal_add_workdays(c, a, 1 + (int64_t)(NEXT() % 20), &d, NULL), 0);
		double f = i % 5 ? 0.8 : (double)(NEXT() % 1000) / 1000.0;
		int64_t now = a - 2 * WORKCAL_DAY_MS +
			      (int64_t)(NEXT() % (uint64_t)(d - a + 4 * WORKCAL_DAY_MS + 1));
		enum workcal_due s0 = workcal_state(c, now, a, d, f, NULL);
		int64_t u = workcal_state_until(c, now, a, d, f);
		assert_true(u > now);
		if (u == INT64_MAX) {
			assert_int_equal(s0, WORKCAL_OVERDUE);
			continue;
		}
		if (workcal_state(c, u - 1, a, d, f, NULL) != s0 ||
		    workcal_state(c, now + (int64_t)(NEXT() % (uint64_t)(u - now)), a, d, f, NULL) != s0 ||
		    workcal_state(c, u, a, d, f, NULL) == s0)
			fail_msg("case %d: now=%lld start=%lld due=%lld f=%g until=%lld", i,
				 (long long)now, (long long)a, (long long)d, f, (long long)u);
	}
#undef NEXT
	workcal_unref(cals[0]);
	workcal_unref(cals[1]);
}

/* ---- checking a year ---- */

static void test_check_year(void **state)
{
	(void)state;
	struct workcal_entry d[WORKCAL_MAX_ENTRIES + 1];
	struct err e;

	memset(d, 0, sizeof d);
	d[0] = (struct workcal_entry){.day = D("2027-01-01"), .kind = WORKCAL_HOLIDAY};
	d[1] = (struct workcal_entry){.day = D("2027-02-06"), .kind = WORKCAL_WORKDAY}; /* Sat */
	d[2] = (struct workcal_entry){.day = D("2027-02-08"), .kind = WORKCAL_HOLIDAY}; /* Mon */
	assert_int_equal(workcal_check_year(2027, d, 3, &e), 0);

	d[2].day = D("2027-02-07"); /* a Sunday as 'holiday' */
	assert_int_equal(workcal_check_year(2027, d, 3, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "days[2].kind");
	d[2] = (struct workcal_entry){.day = D("2027-02-08"), .kind = WORKCAL_WORKDAY}; /* Mon */
	assert_int_equal(workcal_check_year(2027, d, 3, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "days[2].kind");
	d[2] = (struct workcal_entry){.day = D("2026-12-31"), .kind = WORKCAL_HOLIDAY};
	assert_int_equal(workcal_check_year(2027, d, 3, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "days[2].day");
	d[2] = d[0];
	assert_int_equal(workcal_check_year(2027, d, 3, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "days[2].day");
	d[2] = (struct workcal_entry){.day = D("2027-02-08"), .kind = 7};
	assert_int_equal(workcal_check_year(2027, d, 3, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "days[2].kind");
	d[2] = (struct workcal_entry){.day = D("2027-02-08"), .kind = WORKCAL_HOLIDAY};
	memset(d[2].name, 'x', 33);
	assert_int_equal(workcal_check_year(2027, d, 3, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "days[2].name");
	memset(d[2].name, 0, sizeof d[2].name);
	assert_int_equal(workcal_check_year(2027, d, WORKCAL_MAX_ENTRIES + 1, &e),
			 ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "days");
	assert_int_equal(workcal_check_year(1969, d, 0, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "year");
	assert_int_equal(workcal_check_year(2027, d, 0, &e), 0);
	assert_int_equal(workcal_kind_parse("holiday"), WORKCAL_HOLIDAY);
	assert_int_equal(workcal_kind_parse("workday"), WORKCAL_WORKDAY);
	assert_int_equal(workcal_kind_parse("weekend"), -1);
	assert_int_equal(workcal_kind_parse(NULL), -1);
}

/* ---- storage ---- */

struct fixture {
	char dir[64];
	char path[128];
	struct db *db;
	int64_t tenant, other;
	struct actor who;
};

static int64_t add_tenant(struct db *db, const char *code)
{
	struct err e = {0};
	int64_t id = 0;
	assert_int_equal(db_begin(db, true, &e), 0);
	assert_int_equal(db_query_i64(db, &id, &e,
				      "INSERT INTO tenants (code, name, created_at) "
				      "VALUES ($1, $1, 0) RETURNING id",
				      "t", code),
			 0);
	assert_int_equal(db_commit(db, &e), 0);
	return id;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct err e = {0};

	assert_non_null(f);
	snprintf(f->dir, sizeof f->dir, "/tmp/yq-test-workcal-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof f->path, "%s/t.db", f->dir);
	assert_int_equal(db_open(f->path, DB_OPEN_CREATE, &f->db, &e), 0);
	assert_int_equal(migrate_up(f->db, NULL, &e), 0);
	f->tenant = add_tenant(f->db, "erqi");
	f->other = add_tenant(f->db, "other");
	f->who.tenant_id = f->tenant;
	snprintf(f->who.login, sizeof f->who.login, "tester");
	workcal_cache_clear(); /* tenant ids repeat across test databases */
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char p[160];

	workcal_cache_clear();
	db_close(f->db);
	unlink(f->path);
	snprintf(p, sizeof p, "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof p, "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int run(struct fixture *f, db_write_fn fn, void *arg, struct err *e)
{
	int rc;
	err_clear(e);
	assert_int_equal(db_begin(f->db, true, e), 0);
	rc = fn(f->db, arg, e);
	if (rc == 0)
		assert_int_equal(db_commit(f->db, e), 0);
	else
		db_rollback(f->db);
	return rc;
}

static int64_t count(struct fixture *f, const char *sql, int64_t tenant)
{
	struct err e;
	int64_t n = -1;
	assert_int_equal(db_query_i64(f->db, &n, &e, sql, "i", tenant), 0);
	return n;
}

static struct workcal *get(struct fixture *f, int64_t tenant)
{
	struct workcal *cal = NULL;
	struct err e;
	if (workcal_get(f->db, tenant, &cal, &e))
		fail_msg("workcal_get: %s", e.message);
	return cal;
}

static void test_storage_seed(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct workcal *cal = get(f, f->tenant);

	/* a new tenant: nothing known, not seeded */
	assert_false(workcal_seeded(cal));
	assert_false(workcal_year_known(cal, 2025, NULL));
	workcal_unref(cal);

	struct workcal_seed s = {.who = &f->who, .tenant_id = f->tenant, .now = 1000};
	assert_int_equal(run(f, workcal_seed, &s, &e), 0);
	assert_int_equal(s.loaded, 2);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM calendar_days WHERE tenant_id = $1",
			       f->tenant),
			 23 + 25);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND "
				  "entity = 'calendar' AND action = 'seed'",
			       f->tenant),
			 1);
	cal = get(f, f->tenant);
	assert_true(workcal_seeded(cal));
	struct workcal_year_info info;
	assert_true(workcal_year_known(cal, 2025, &info));
	assert_int_equal(info.entries, 23);
	assert_int_equal(info.loaded_at, 1000);
	assert_non_null(strstr(info.source, "builtin"));
	assert_int_equal(workcal_year_workdays(cal, 2025, NULL), 248);
	assert_true(workcal_is_workday(cal, D("2025-09-28"), NULL));
	/* the cache hands out the same snapshot while nothing changes */
	struct workcal *again = get(f, f->tenant);
	assert_ptr_equal(cal, again);
	workcal_unref(again);
	workcal_unref(cal);

	/* seeding again is a no-op */
	assert_int_equal(run(f, workcal_seed, &s, &e), 0);
	assert_int_equal(s.loaded, 0);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1", f->tenant),
			 1);
	/* the other tenant is untouched */
	assert_int_equal(count(f, "SELECT COUNT(*) FROM calendar_days WHERE tenant_id = $1",
			       f->other),
			 0);
	cal = get(f, f->other);
	assert_false(workcal_year_known(cal, 2025, NULL));
	workcal_unref(cal);
}

static void test_storage_years(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct workcal_seed s = {.who = &f->who, .tenant_id = f->tenant, .now = 1000};
	assert_int_equal(run(f, workcal_seed, &s, &e), 0);
	struct workcal *before = get(f, f->tenant);
	int64_t v0 = workcal_version(before);

	/* add 2027 */
	struct workcal_entry d[2] = {
		{.day = D("2027-01-01"), .kind = WORKCAL_HOLIDAY},
		{.day = D("2027-02-06"), .kind = WORKCAL_WORKDAY},
	};
	snprintf(d[0].name, sizeof d[0].name, "元旦");
	snprintf(d[1].name, sizeof d[1].name, "春节");
	struct workcal_year_write w = {.who = &f->who, .tenant_id = f->tenant, .year = 2027,
				       .source = "国办发明电〔2026〕1号", .days = d, .n = 2,
				       .now = 2000};
	assert_int_equal(run(f, workcal_put_year, &w, &e), 0);
	assert_false(w.replaced);
	struct workcal *cal = get(f, f->tenant);
	assert_ptr_not_equal(cal, before);
	assert_true(workcal_version(cal) > v0);
	/* the old snapshot is still intact for whoever holds it */
	assert_false(workcal_year_known(before, 2027, NULL));
	workcal_unref(before);
	bool uncertain = false;
	assert_false(workcal_is_workday(cal, D("2027-01-01"), &uncertain));
	assert_true(workcal_is_workday(cal, D("2027-02-06"), &uncertain));
	assert_false(uncertain);
	size_t n;
	const struct workcal_entry *en = workcal_year_entries(cal, 2027, &n);
	assert_int_equal(n, 2);
	assert_string_equal(en[0].name, "元旦");
	workcal_unref(cal);

	/* replace it: one entry only */
	w.n = 1;
	w.days = &d[1];
	assert_int_equal(run(f, workcal_put_year, &w, &e), 0);
	assert_true(w.replaced);
	cal = get(f, f->tenant);
	assert_true(workcal_is_workday(cal, D("2027-01-01"), NULL));
	workcal_year_entries(cal, 2027, &n);
	assert_int_equal(n, 1);
	workcal_unref(cal);

	/* a bad year is refused with the field, and nothing changes */
	struct workcal_entry bad = {.day = D("2027-02-07"), .kind = WORKCAL_HOLIDAY};
	struct workcal_year_write wb = w;
	wb.days = &bad;
	assert_int_equal(run(f, workcal_put_year, &wb, &e), ERR_UNPROCESSABLE);
	assert_string_equal(e.field, "days[0].kind");

	/* delete 2025: gone, and a later seed does not bring it back */
	struct workcal_year_write del = {.who = &f->who, .tenant_id = f->tenant, .year = 2025,
					 .now = 3000};
	assert_int_equal(run(f, workcal_delete_year, &del, &e), 0);
	assert_int_equal(run(f, workcal_delete_year, &del, &e), ERR_NOT_FOUND);
	assert_string_equal(e.field, "year");
	assert_int_equal(run(f, workcal_seed, &s, &e), 0);
	assert_int_equal(s.loaded, 0);
	cal = get(f, f->tenant);
	assert_false(workcal_year_known(cal, 2025, NULL));
	uncertain = false;
	assert_true(workcal_is_workday(cal, D("2025-10-01"), &uncertain));
	assert_true(uncertain);
	assert_true(workcal_year_known(cal, 2026, NULL));
	workcal_unref(cal);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM calendar_days WHERE tenant_id = $1 "
				  "AND day LIKE '2025-%'",
			       f->tenant),
			 0);

	/* a seed keeps a year an administrator stored before it */
	struct workcal_year_write w26 = {.who = &f->who, .tenant_id = f->other, .year = 2026,
					 .source = "admin", .days = d, .n = 0, .now = 4000};
	assert_int_equal(run(f, workcal_put_year, &w26, &e), 0);
	struct workcal_seed s2 = {.who = &f->who, .tenant_id = f->other, .now = 5000};
	assert_int_equal(run(f, workcal_seed, &s2, &e), 0);
	assert_int_equal(s2.loaded, 1);
	cal = get(f, f->other);
	struct workcal_year_info info;
	assert_true(workcal_year_known(cal, 2026, &info));
	assert_string_equal(info.source, "admin");
	assert_true(workcal_is_workday(cal, D("2026-10-01"), NULL)); /* admin's empty year */
	assert_false(workcal_is_workday(cal, D("2025-10-01"), NULL));
	workcal_unref(cal);
}

static void test_storage_hours(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct workcal *cal = get(f, f->tenant);
	char s[64];
	workcal_hours_format(workcal_hours(cal), s, sizeof s);
	assert_string_equal(s, WORKCAL_HOURS_DEFAULT);
	workcal_unref(cal);

	struct workcal_hours_write w = {.who = &f->who, .tenant_id = f->tenant, .now = 1000};
	assert_int_equal(workcal_hours_parse("08:30-12:00,14:30-18:00", &w.hours, &e), 0);
	assert_int_equal(run(f, workcal_put_hours, &w, &e), 0);
	cal = get(f, f->tenant);
	workcal_hours_format(workcal_hours(cal), s, sizeof s);
	assert_string_equal(s, "08:30-12:00,14:30-18:00");
	workcal_unref(cal);
	cal = get(f, f->other);
	workcal_hours_format(workcal_hours(cal), s, sizeof s);
	assert_string_equal(s, WORKCAL_HOURS_DEFAULT);
	workcal_unref(cal);
	assert_int_equal(count(f, "SELECT COUNT(*) FROM audit_log WHERE tenant_id = $1 AND "
				  "action = 'workhours'",
			       f->tenant),
			 1);

	/* a stored value that does not parse falls back to the default */
	assert_int_equal(db_exec(f->db,
				 "UPDATE settings SET value = 'garbage' WHERE key = 'workhours';"
				 "UPDATE calendar_meta SET version = version + 1",
				 &e),
			 0);
	cal = get(f, f->tenant);
	workcal_hours_format(workcal_hours(cal), s, sizeof s);
	assert_string_equal(s, WORKCAL_HOURS_DEFAULT);
	workcal_unref(cal);
}

/* Readers on their own connections while the calendar keeps changing. */
struct reader_arg {
	const char *path;
	int64_t tenant;
	int errors;
};

static void *reader(void *p)
{
	struct reader_arg *a = p;
	struct db *db = NULL;
	struct err e;
	if (db_open(a->path, DB_OPEN_READONLY, &db, &e)) {
		a->errors++;
		return NULL;
	}
	for (int i = 0; i < 300; i++) {
		struct workcal *cal = NULL;
		if (workcal_get(db, a->tenant, &cal, &e)) {
			a->errors++;
			continue;
		}
		/* 2025 is never touched by the writer below */
		if (workcal_year_workdays(cal, 2025, NULL) != 248)
			a->errors++;
		workcal_unref(cal);
	}
	db_close(db);
	return NULL;
}

static void test_concurrent_readers(void **state)
{
	struct fixture *f = *state;
	struct err e;
	struct workcal_seed s = {.who = &f->who, .tenant_id = f->tenant, .now = 1000};
	assert_int_equal(run(f, workcal_seed, &s, &e), 0);

	pthread_t th[6];
	struct reader_arg args[6];
	for (int i = 0; i < 6; i++) {
		args[i] = (struct reader_arg){f->path, f->tenant, 0};
		assert_int_equal(pthread_create(&th[i], NULL, reader, &args[i]), 0);
	}
	struct workcal_entry d = {.day = D("2027-01-01"), .kind = WORKCAL_HOLIDAY};
	for (int i = 0; i < 30; i++) {
		struct workcal_year_write w = {.who = &f->who, .tenant_id = f->tenant, .year = 2027,
					       .days = &d, .n = (size_t)(i & 1), .now = 2000 + i};
		assert_int_equal(run(f, workcal_put_year, &w, &e), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(args[i].errors, 0);
	}
	struct workcal *cal = get(f, f->tenant);
	assert_false(workcal_is_workday(cal, D("2027-01-01"), NULL)); /* last write: n = 29 & 1 */
	workcal_unref(cal);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_civil_roundtrip),
		cmocka_unit_test(test_utc8),
		cmocka_unit_test(test_builtin_every_day),
		cmocka_unit_test(test_builtin_tables),
		cmocka_unit_test(test_add_workdays),
		cmocka_unit_test(test_add_workdays_property),
		cmocka_unit_test(test_uncertain_years),
		cmocka_unit_test(test_add_workhours),
		cmocka_unit_test(test_between),
		cmocka_unit_test(test_hours_property),
		cmocka_unit_test(test_hours_parse),
		cmocka_unit_test(test_pause),
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_state_until),
		cmocka_unit_test(test_check_year),
		cmocka_unit_test_setup_teardown(test_storage_seed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storage_years, setup, teardown),
		cmocka_unit_test_setup_teardown(test_storage_hours, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_readers, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
