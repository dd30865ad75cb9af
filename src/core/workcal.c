/*
 * workcal.c — see workcal.h: civil-date arithmetic in UTC+8, the shipped
 * holiday years, immutable calendar snapshots with a per-tenant cache, the
 * deadline arithmetic, and the storage of a tenant's calendar.
 */
#include "core/workcal.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "base/xalloc.h"
#include "core/audit.h"
#include "db/db.h"
#include "base/banned.h"

/* ---- civil dates and Shanghai time ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;
	if (a % b != 0 && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian). */
int64_t workcal_days_from_civil(int year, int month, int day)
{
	int64_t y = (int64_t)year - (month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t mp = (month + 9) % 12;
	int64_t doy = (153 * mp + 2) / 5 + day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void workcal_civil_from_days(int64_t days, int *year, int *month, int *day)
{
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	*day = (int)(doy - (153 * mp + 2) / 5 + 1);
	*month = (int)m;
	*year = (int)(yoe + era * 400 + (m <= 2));
}

int workcal_weekday(int64_t days)
{
	/* 1970-01-01 was a Thursday (4) */
	int64_t r = (days + 3) % 7;
	return (int)(r < 0 ? r + 7 : r) + 1;
}

static int year_of(int64_t days)
{
	int y, m, d;
	workcal_civil_from_days(days, &y, &m, &d);
	return y;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	return m == 2 && leap(y) ? 29 : n[m - 1];
}

static int64_t min_day(void)
{
	return workcal_days_from_civil(WORKCAL_MIN_YEAR, 1, 1);
}

static int64_t end_day(void)
{
	return workcal_days_from_civil(WORKCAL_MAX_YEAR + 1, 1, 1);
}

static bool digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		char c = (*p)[i];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*p += n;
	*out = v;
	return true;
}

static bool valid_ymd(int y, int m, int d)
{
	return y >= WORKCAL_MIN_YEAR && y <= WORKCAL_MAX_YEAR && m >= 1 && m <= 12 && d >= 1 &&
	       d <= month_days(y, m);
}

bool workcal_parse_date(const char *s, int64_t *days)
{
	const char *p = s;
	int y, m, d;
	if (!s || !digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &m) || *p++ != '-' ||
	    !digits(&p, 2, &d) || *p)
		return false;
	if (!valid_ymd(y, m, d))
		return false;
	*days = workcal_days_from_civil(y, m, d);
	return true;
}

void workcal_format_date(int64_t days, char *out, size_t n)
{
	int y, m, d;
	workcal_civil_from_days(days, &y, &m, &d);
	snprintf(out, n, "%04d-%02d-%02d", y, m, d);
}

int64_t workcal_local_day(int64_t utc_ms)
{
	return floor_div(utc_ms + WORKCAL_TZ_OFFSET_MS, WORKCAL_DAY_MS);
}

int64_t workcal_local_ms(int64_t utc_ms)
{
	return utc_ms + WORKCAL_TZ_OFFSET_MS - workcal_local_day(utc_ms) * WORKCAL_DAY_MS;
}

int64_t workcal_utc_ms(int64_t days, int64_t ms_of_day)
{
	return days * WORKCAL_DAY_MS + ms_of_day - WORKCAL_TZ_OFFSET_MS;
}

/* v as exactly `width` decimal digits at p. */
static void digits_at(char *p, int v, int width)
{
	while (width--) {
		p[width] = (char)('0' + v % 10);
		v /= 10;
	}
}

void workcal_format_local(int64_t utc_ms, char *out, size_t n)
{
	int y, m, d;
	int64_t t = workcal_local_ms(utc_ms);
	workcal_civil_from_days(workcal_local_day(utc_ms), &y, &m, &d);
	if (y < 0 || y > 9999 || n < sizeof "YYYY-MM-DDTHH:MM:SS.mmm+08:00") {
		snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03d+08:00", y, m, d,
			 (int)(t / 3600000), (int)(t / 60000 % 60), (int)(t / 1000 % 60),
			 (int)(t % 1000));
		return;
	}
	/* the same text without printf: every deadline of every listed request has one */
	memcpy(out, "YYYY-MM-DDTHH:MM:SS.mmm+08:00", sizeof "YYYY-MM-DDTHH:MM:SS.mmm+08:00");
	digits_at(out, y, 4);
	digits_at(out + 5, m, 2);
	digits_at(out + 8, d, 2);
	digits_at(out + 11, (int)(t / 3600000), 2);
	digits_at(out + 14, (int)(t / 60000 % 60), 2);
	digits_at(out + 17, (int)(t / 1000 % 60), 2);
	digits_at(out + 20, (int)(t % 1000), 3);
}

bool workcal_instant_ok(int64_t utc_ms)
{
	/* keep the arithmetic far from overflow before dividing */
	if (utc_ms < -WORKCAL_DAY_MS * 1000000 || utc_ms > WORKCAL_DAY_MS * 1000000)
		return false;
	int64_t day = workcal_local_day(utc_ms);
	return day >= min_day() && day < end_day();
}

bool workcal_parse_instant(const char *s, int64_t *utc_ms)
{
	const char *p = s;
	int y, mo, d, h, mi, sec = 0, oh = 0, om = 0, sign = 1;
	int64_t frac = 0;

	if (!s || !digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d))
		return false;
	if (*p != 'T' && *p != 't' && *p != ' ')
		return false;
	p++;
	if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi))
		return false;
	if (*p == ':') {
		p++;
		if (!digits(&p, 2, &sec))
			return false;
		if (*p == '.' || *p == ',') {
			int nd = 0;
			p++;
			for (; *p >= '0' && *p <= '9'; p++, nd++)
				if (nd < 3)
					frac = frac * 10 + (*p - '0');
			if (nd == 0 || nd > 9)
				return false;
			for (; nd < 3; nd++)
				frac *= 10;
		}
	}
	if (*p == 'Z' || *p == 'z') {
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p == '-' ? -1 : 1;
		p++;
		if (!digits(&p, 2, &oh))
			return false;
		if (*p == ':') {
			p++;
			if (!digits(&p, 2, &om))
				return false;
		} else if (*p >= '0' && *p <= '9' && !digits(&p, 2, &om)) {
			return false;
		}
	} else {
		return false; /* an offset is required: local times are ambiguous */
	}
	if (*p || !valid_ymd(y, mo, d) || h > 23 || mi > 59 || sec > 59 || oh > 23 || om > 59)
		return false;
	int64_t ms = workcal_days_from_civil(y, mo, d) * WORKCAL_DAY_MS + h * 3600000LL +
		     mi * 60000LL + sec * 1000LL + frac - sign * (oh * 3600000LL + om * 60000LL);
	if (!workcal_instant_ok(ms))
		return false;
	*utc_ms = ms;
	return true;
}

/* ---- working hours ---- */

void workcal_hours_default(struct workcal_hours *h)
{
	*h = (struct workcal_hours){2, {{9 * 60, 12 * 60}, {13 * 60 + 30, 17 * 60 + 30}}};
}

static bool parse_hhmm(const char **p, int *min)
{
	int h, m;
	if (!digits(p, 2, &h) || **p != ':')
		return false;
	(*p)++;
	if (!digits(p, 2, &m) || m > 59 || h > 24 || (h == 24 && m != 0))
		return false;
	*min = h * 60 + m;
	return true;
}

int workcal_hours_parse(const char *s, struct workcal_hours *out, struct err *e)
{
	struct workcal_hours h = {0};
	const char *p = s;

	if (!s || !*s)
		return err_set(e, ERR_UNPROCESSABLE, "workhours", "工作时间不能为空",
			       "working hours must not be empty");
	for (;;) {
		struct workcal_period pd;
		if (!parse_hhmm(&p, &pd.start) || *p++ != '-' || !parse_hhmm(&p, &pd.end))
			return err_set(e, ERR_UNPROCESSABLE, "workhours",
				       "工作时间“%.40s”格式应如 09:00-12:00,13:30-17:30",
				       "working hours '%.40s' must look like 09:00-12:00,13:30-17:30",
				       s);
		if (pd.start >= pd.end)
			return err_set(e, ERR_UNPROCESSABLE, "workhours",
				       "第 %d 段工作时间应先开始后结束（“%.40s”）",
				       "period %d of working hours '%.40s' must end after it starts",
				       h.n + 1, s);
		if (h.n == WORKCAL_MAX_PERIODS)
			return err_set(e, ERR_UNPROCESSABLE, "workhours", "工作时间最多 %d 段",
				       "working hours have at most %d periods", WORKCAL_MAX_PERIODS);
		if (h.n && pd.start < h.p[h.n - 1].end)
			return err_set(e, ERR_UNPROCESSABLE, "workhours",
				       "工作时间“%.40s”的各段应按时间先后排列且不重叠",
				       "periods of working hours '%.40s' must be in order and not overlap",
				       s);
		h.p[h.n++] = pd;
		if (!*p)
			break;
		if (*p++ != ',')
			return err_set(e, ERR_UNPROCESSABLE, "workhours",
				       "工作时间“%.40s”格式应如 09:00-12:00,13:30-17:30",
				       "working hours '%.40s' must look like 09:00-12:00,13:30-17:30",
				       s);
	}
	*out = h;
	return 0;
}

void workcal_hours_format(const struct workcal_hours *h, char *out, size_t n)
{
	size_t len = 0;
	if (n)
		out[0] = '\0';
	for (int i = 0; i < h->n && len < n; i++) {
		int w = snprintf(out + len, n - len, "%s%02d:%02d-%02d:%02d", i ? "," : "",
				 h->p[i].start / 60, h->p[i].start % 60, h->p[i].end / 60,
				 h->p[i].end % 60);
		if (w < 0)
			break;
		len += (size_t)w;
	}
}

int workcal_hours_minutes(const struct workcal_hours *h)
{
	int m = 0;
	for (int i = 0; i < h->n; i++)
		m += h->p[i].end - h->p[i].start;
	return m;
}

/* ---- kinds ---- */

static const char *const kind_names[] = {
	[WORKCAL_HOLIDAY] = "holiday",
	[WORKCAL_WORKDAY] = "workday",
	[WORKCAL_WEEKDAY] = "weekday",
	[WORKCAL_WEEKEND] = "weekend",
};

const char *workcal_kind_name(enum workcal_kind k)
{
	return (unsigned)k < ARRAY_SIZE(kind_names) ? kind_names[k] : "?";
}

int workcal_kind_parse(const char *s)
{
	if (s && strcmp(s, "holiday") == 0)
		return WORKCAL_HOLIDAY;
	if (s && strcmp(s, "workday") == 0)
		return WORKCAL_WORKDAY;
	return -1;
}

/* ---- the shipped years ---- */

/* One holiday as the State Council publishes it: the days off (weekends
 * included) and the make-up working days. Expanded into exceptions below. */
struct builtin_holiday {
	const char *name;
	const char *first, *last; /* days off, inclusive */
	const char *makeup[3];    /* make-up working days, NULL-terminated */
};

struct builtin_year {
	int year;
	const char *source;
	struct builtin_holiday h[8]; /* terminated by name == NULL */
};

static const struct builtin_year builtin_data[] = {
	{2025, "builtin: 国办发明电〔2024〕12号",
	 {
		 {"元旦", "2025-01-01", "2025-01-01", {NULL}},
		 {"春节", "2025-01-28", "2025-02-04", {"2025-01-26", "2025-02-08", NULL}},
		 {"清明节", "2025-04-04", "2025-04-06", {NULL}},
		 {"劳动节", "2025-05-01", "2025-05-05", {"2025-04-27", NULL}},
		 {"端午节", "2025-05-31", "2025-06-02", {NULL}},
		 {"国庆节、中秋节", "2025-10-01", "2025-10-08", {"2025-09-28", "2025-10-11", NULL}},
		 {NULL, NULL, NULL, {NULL}},
	 }},
	{2026, "builtin: 国务院办公厅关于2026年部分节假日安排的通知（2025-11-04）",
	 {
		 {"元旦", "2026-01-01", "2026-01-03", {"2026-01-04", NULL}},
		 {"春节", "2026-02-15", "2026-02-23", {"2026-02-14", "2026-02-28", NULL}},
		 {"清明节", "2026-04-04", "2026-04-06", {NULL}},
		 {"劳动节", "2026-05-01", "2026-05-05", {"2026-05-09", NULL}},
		 {"端午节", "2026-06-19", "2026-06-21", {NULL}},
		 {"中秋节", "2026-09-25", "2026-09-27", {NULL}},
		 {"国庆节", "2026-10-01", "2026-10-07", {"2026-09-20", "2026-10-10", NULL}},
		 {NULL, NULL, NULL, {NULL}},
	 }},
};

#define NBUILTIN ARRAY_SIZE(builtin_data)

static struct {
	size_t n;
	struct workcal_entry e[WORKCAL_MAX_ENTRIES];
} builtin_expanded[NBUILTIN];
static int builtin_year_list[NBUILTIN];
static pthread_once_t builtin_once = PTHREAD_ONCE_INIT;

static int entry_cmp(const void *a, const void *b)
{
	const struct workcal_entry *x = a, *y = b;
	return x->day < y->day ? -1 : x->day > y->day;
}

static void add_builtin(size_t i, int64_t day, enum workcal_kind kind, const char *name)
{
	if (builtin_expanded[i].n == WORKCAL_MAX_ENTRIES)
		abort(); /* the table above is wrong */
	struct workcal_entry *en = &builtin_expanded[i].e[builtin_expanded[i].n++];
	en->day = day;
	en->kind = kind;
	snprintf(en->name, sizeof en->name, "%s", name);
}

static void expand_builtin(void)
{
	for (size_t i = 0; i < NBUILTIN; i++) {
		builtin_year_list[i] = builtin_data[i].year;
		for (const struct builtin_holiday *h = builtin_data[i].h; h->name; h++) {
			int64_t first, last, mk;
			if (!workcal_parse_date(h->first, &first) || !workcal_parse_date(h->last, &last))
				abort(); /* the table above is wrong */
			for (int64_t d = first; d <= last; d++)
				if (workcal_weekday(d) <= 5)
					add_builtin(i, d, WORKCAL_HOLIDAY, h->name);
			for (int k = 0; h->makeup[k]; k++) {
				if (!workcal_parse_date(h->makeup[k], &mk))
					abort();
				add_builtin(i, mk, WORKCAL_WORKDAY, h->name);
			}
		}
		qsort(builtin_expanded[i].e, builtin_expanded[i].n, sizeof(struct workcal_entry),
		      entry_cmp);
	}
}

const int *workcal_builtin_years(size_t *n)
{
	pthread_once(&builtin_once, expand_builtin);
	*n = NBUILTIN;
	return builtin_year_list;
}

int workcal_builtin(int year, struct workcal_entry *out, size_t max, size_t *n,
		    const char **source)
{
	pthread_once(&builtin_once, expand_builtin);
	for (size_t i = 0; i < NBUILTIN; i++) {
		if (builtin_data[i].year != year)
			continue;
		size_t k = builtin_expanded[i].n < max ? builtin_expanded[i].n : max;
		memcpy(out, builtin_expanded[i].e, k * sizeof *out);
		*n = k;
		if (source)
			*source = builtin_data[i].source;
		return 0;
	}
	*n = 0;
	return ERR_NOT_FOUND;
}

/* ---- snapshots ---- */

struct cal_year {
	struct workcal_year_info info;
	int64_t first_day;             /* day number of 1 January */
	uint8_t work[46];              /* bit i: day first_day + i is a working day */
	struct workcal_entry *entries; /* sorted by day; info.entries of them */
};

struct workcal {
	atomic_int refs;
	int64_t tenant_id;
	int64_t version;          /* calendar_meta.version it was built from */
	bool seeded;              /* calendar_meta.builtin_loaded */
	struct workcal_hours hours;
	struct cal_year *years;   /* sorted by year */
	int *year_list;           /* the same years, for workcal_years() */
	size_t nyears;
};

int workcal_check_year(int year, const struct workcal_entry *days, size_t n, struct err *e)
{
	char f[32];
	if (year < WORKCAL_MIN_YEAR || year > WORKCAL_MAX_YEAR)
		return err_set(e, ERR_UNPROCESSABLE, "year", "年份应在 %d 到 %d 之间",
			       "year must be between %d and %d", WORKCAL_MIN_YEAR, WORKCAL_MAX_YEAR);
	if (n > WORKCAL_MAX_ENTRIES)
		return err_set(e, ERR_UNPROCESSABLE, "days", "一年最多列出 %d 天",
			       "a year lists at most %d days", WORKCAL_MAX_ENTRIES);
	for (size_t i = 0; i < n; i++) {
		const struct workcal_entry *d = &days[i];
		char date[16];
		workcal_format_date(d->day, date, sizeof date);
		if (d->day < min_day() || d->day >= end_day() || year_of(d->day) != year) {
			snprintf(f, sizeof f, "days[%zu].day", i);
			return err_set(e, ERR_UNPROCESSABLE, f, "日期 %s 不在 %d 年内",
				       "day %s is not in %d", date, year);
		}
		for (size_t j = 0; j < i; j++)
			if (days[j].day == d->day) {
				snprintf(f, sizeof f, "days[%zu].day", i);
				return err_set(e, ERR_UNPROCESSABLE, f, "日期 %s 重复列出",
					       "day %s is listed twice", date);
			}
		int wd = workcal_weekday(d->day);
		snprintf(f, sizeof f, "days[%zu].kind", i);
		if (d->kind == WORKCAL_HOLIDAY && wd > 5)
			return err_set(e, ERR_UNPROCESSABLE, f,
				       "%s 是周末，不能列为 holiday（holiday 指放假的工作日）",
				       "%s is a weekend day; 'holiday' is for a weekday off", date);
		if (d->kind == WORKCAL_WORKDAY && wd <= 5)
			return err_set(e, ERR_UNPROCESSABLE, f,
				       "%s 是工作日，不能列为 workday（workday 指调休上班的周末）",
				       "%s is a weekday; 'workday' is for a weekend day worked", date);
		if (d->kind != WORKCAL_HOLIDAY && d->kind != WORKCAL_WORKDAY)
			return err_set(e, ERR_UNPROCESSABLE, f, "类型应为 holiday 或 workday",
				       "kind must be 'holiday' or 'workday'");
		size_t len = strnlen(d->name, sizeof d->name);
		if (len == sizeof d->name || !utf8_valid(d->name, len) ||
		    utf8_len(d->name, len) > WORKCAL_NAME_MAX_CHARS) {
			snprintf(f, sizeof f, "days[%zu].name", i);
			return err_set(e, ERR_UNPROCESSABLE, f, "名称最多 %d 个字符",
				       "name has at most %d characters", WORKCAL_NAME_MAX_CHARS);
		}
	}
	return 0;
}

struct workcal *workcal_new(const struct workcal_hours *hours)
{
	struct workcal *cal = xcalloc(1, sizeof *cal);
	atomic_init(&cal->refs, 1);
	if (hours)
		cal->hours = *hours;
	else
		workcal_hours_default(&cal->hours);
	return cal;
}

static void set_bit(struct cal_year *y, int64_t day, bool on)
{
	int64_t i = day - y->first_day;
	if (on)
		y->work[i >> 3] |= (uint8_t)(1u << (i & 7));
	else
		y->work[i >> 3] &= (uint8_t)~(1u << (i & 7));
}

/* Add or replace a year without checking the entries (stored data is taken
 * as it is; days outside the year are ignored). */
static void put_year(struct workcal *cal, int year, const char *source, int64_t loaded_at,
		     const struct workcal_entry *days, size_t n)
{
	size_t at = 0;
	while (at < cal->nyears && cal->years[at].info.year < year)
		at++;
	if (at == cal->nyears || cal->years[at].info.year != year) {
		cal->years = xrealloc(cal->years, (cal->nyears + 1) * sizeof *cal->years);
		cal->year_list = xrealloc(cal->year_list, (cal->nyears + 1) * sizeof(int));
		memmove(&cal->years[at + 1], &cal->years[at],
			(cal->nyears - at) * sizeof *cal->years);
		memmove(&cal->year_list[at + 1], &cal->year_list[at],
			(cal->nyears - at) * sizeof(int));
		cal->nyears++;
	} else {
		free(cal->years[at].entries);
	}
	struct cal_year *y = &cal->years[at];
	memset(y, 0, sizeof *y);
	cal->year_list[at] = year;
	y->info.year = year;
	snprintf(y->info.source, sizeof y->info.source, "%s", source ? source : "");
	y->info.loaded_at = loaded_at;
	y->first_day = workcal_days_from_civil(year, 1, 1);
	int64_t ndays = workcal_days_from_civil(year + 1, 1, 1) - y->first_day;
	for (int64_t d = y->first_day; d < y->first_day + ndays; d++)
		set_bit(y, d, workcal_weekday(d) <= 5);
	y->entries = xcalloc(n ? n : 1, sizeof *y->entries);
	for (size_t i = 0; i < n; i++) {
		if (days[i].day < y->first_day || days[i].day >= y->first_day + ndays)
			continue;
		y->entries[y->info.entries++] = days[i];
		set_bit(y, days[i].day, days[i].kind == WORKCAL_WORKDAY);
	}
	qsort(y->entries, (size_t)y->info.entries, sizeof *y->entries, entry_cmp);
}

int workcal_add_year(struct workcal *cal, int year, const char *source, int64_t loaded_at,
		     const struct workcal_entry *days, size_t n, struct err *e)
{
	int rc = workcal_check_year(year, days, n, e);
	if (rc)
		return rc;
	put_year(cal, year, source, loaded_at, days, n);
	return 0;
}

struct workcal *workcal_new_builtin(const struct workcal_hours *hours)
{
	struct workcal *cal = workcal_new(hours);
	struct workcal_entry days[WORKCAL_MAX_ENTRIES];
	size_t n, ny;
	const char *source;
	const int *years = workcal_builtin_years(&ny);
	for (size_t i = 0; i < ny; i++)
		if (workcal_builtin(years[i], days, WORKCAL_MAX_ENTRIES, &n, &source) == 0)
			put_year(cal, years[i], source, 0, days, n);
	cal->seeded = true;
	return cal;
}

struct workcal *workcal_ref(struct workcal *cal)
{
	if (cal)
		atomic_fetch_add(&cal->refs, 1);
	return cal;
}

void workcal_unref(struct workcal *cal)
{
	if (!cal || atomic_fetch_sub(&cal->refs, 1) != 1)
		return;
	for (size_t i = 0; i < cal->nyears; i++)
		free(cal->years[i].entries);
	free(cal->years);
	free(cal->year_list);
	free(cal);
}

int64_t workcal_version(const struct workcal *cal)
{
	return cal->version;
}

bool workcal_seeded(const struct workcal *cal)
{
	return cal->seeded;
}

const struct workcal_hours *workcal_hours(const struct workcal *cal)
{
	return &cal->hours;
}

static const struct cal_year *find_year(const struct workcal *cal, int year)
{
	size_t lo = 0, hi = cal->nyears;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int y = cal->years[mid].info.year;
		if (y == year)
			return &cal->years[mid];
		if (y < year)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

bool workcal_year_known(const struct workcal *cal, int year, struct workcal_year_info *info)
{
	const struct cal_year *y = find_year(cal, year);
	if (y && info)
		*info = y->info;
	return y != NULL;
}

const int *workcal_years(const struct workcal *cal, size_t *n)
{
	*n = cal->nyears;
	return cal->year_list;
}

const struct workcal_entry *workcal_year_entries(const struct workcal *cal, int year, size_t *n)
{
	const struct cal_year *y = find_year(cal, year);
	*n = y ? (size_t)y->info.entries : 0;
	return y ? y->entries : NULL;
}

bool workcal_is_workday(const struct workcal *cal, int64_t day, bool *uncertain)
{
	const struct cal_year *y = find_year(cal, year_of(day));
	if (!y) {
		if (uncertain)
			*uncertain = true;
		return workcal_weekday(day) <= 5;
	}
	int64_t i = day - y->first_day;
	return (y->work[i >> 3] >> (i & 7)) & 1u;
}

enum workcal_kind workcal_day_kind(const struct workcal *cal, int64_t day, const char **name,
				   bool *uncertain)
{
	const struct cal_year *y = find_year(cal, year_of(day));
	if (name)
		*name = NULL;
	if (y) {
		struct workcal_entry key = {.day = day};
		const struct workcal_entry *en = bsearch(&key, y->entries, (size_t)y->info.entries,
							 sizeof key, entry_cmp);
		if (en) {
			if (name)
				*name = en->name;
			return en->kind;
		}
	} else if (uncertain) {
		*uncertain = true;
	}
	return workcal_weekday(day) <= 5 ? WORKCAL_WEEKDAY : WORKCAL_WEEKEND;
}

int workcal_year_workdays(const struct workcal *cal, int year, bool *uncertain)
{
	int n = 0;
	int64_t first = workcal_days_from_civil(year, 1, 1);
	int64_t end = workcal_days_from_civil(year + 1, 1, 1);
	for (int64_t d = first; d < end; d++)
		n += workcal_is_workday(cal, d, uncertain);
	return n;
}

/* ---- deadlines ---- */

int workcal_add_workdays(const struct workcal *cal, int64_t start_ms, int64_t n,
			 int64_t *deadline_ms, bool *uncertain)
{
	if (n < 1 || n > WORKCAL_MAX_WORKDAYS || !workcal_instant_ok(start_ms))
		return ERR_UNPROCESSABLE;
	int64_t day = workcal_local_day(start_ms), stop = end_day();
	while (n > 0) {
		if (++day >= stop)
			return ERR_UNPROCESSABLE;
		if (workcal_is_workday(cal, day, uncertain))
			n--;
	}
	*deadline_ms = workcal_utc_ms(day + 1, 0) - 1;
	return 0;
}

int workcal_add_workms(const struct workcal *cal, int64_t start_ms, int64_t ms, int64_t *due_ms,
		       bool *uncertain)
{
	if (ms < 0 || ms > WORKCAL_MAX_MINUTES * 60000LL || !workcal_instant_ok(start_ms))
		return ERR_UNPROCESSABLE;
	if (ms == 0) {
		*due_ms = start_ms;
		return 0;
	}
	int64_t day = workcal_local_day(start_ms), t = workcal_local_ms(start_ms);
	int64_t stop = end_day();
	for (; day < stop; day++, t = 0) {
		if (!workcal_is_workday(cal, day, uncertain))
			continue;
		for (int i = 0; i < cal->hours.n; i++) {
			int64_t s = cal->hours.p[i].start * 60000LL, e = cal->hours.p[i].end * 60000LL;
			if (t >= e)
				continue;
			int64_t from = t > s ? t : s;
			if (ms <= e - from) {
				*due_ms = workcal_utc_ms(day, from + ms);
				return 0;
			}
			ms -= e - from;
			t = e;
		}
	}
	return ERR_UNPROCESSABLE;
}

int workcal_add_workhours(const struct workcal *cal, int64_t start_ms, int64_t minutes,
			  int64_t *due_ms, bool *uncertain)
{
	if (minutes < 0 || minutes > WORKCAL_MAX_MINUTES)
		return ERR_UNPROCESSABLE;
	return workcal_add_workms(cal, start_ms, minutes * 60000LL, due_ms, uncertain);
}

/* Working time of day `day` inside [lo, hi) (ms of the local day). */
static int64_t day_overlap(const struct workcal *cal, int64_t lo, int64_t hi)
{
	int64_t sum = 0;
	for (int i = 0; i < cal->hours.n; i++) {
		int64_t s = cal->hours.p[i].start * 60000LL, e = cal->hours.p[i].end * 60000LL;
		int64_t x = lo > s ? lo : s, y = hi < e ? hi : e;
		if (y > x)
			sum += y - x;
	}
	return sum;
}

/* Clamp an instant into the supported range (for spans reaching past it). */
static int64_t clamp_instant(int64_t ms)
{
	int64_t lo = workcal_utc_ms(min_day(), 0), hi = workcal_utc_ms(end_day(), 0);
	return ms < lo ? lo : ms > hi ? hi : ms;
}

int64_t workcal_workms_between(const struct workcal *cal, int64_t a_ms, int64_t b_ms,
			       bool *uncertain)
{
	a_ms = clamp_instant(a_ms);
	b_ms = clamp_instant(b_ms);
	if (b_ms <= a_ms)
		return 0;
	int64_t da = workcal_local_day(a_ms), db = workcal_local_day(b_ms);
	int64_t ta = workcal_local_ms(a_ms), tb = workcal_local_ms(b_ms), sum = 0;
	for (int64_t d = da; d <= db; d++) {
		if (d == db && tb == 0)
			break; /* [a, b) ends at this day's midnight */
		if (!workcal_is_workday(cal, d, uncertain))
			continue;
		sum += day_overlap(cal, d == da ? ta : 0, d == db ? tb : WORKCAL_DAY_MS);
	}
	return sum;
}

int64_t workcal_workminutes_between(const struct workcal *cal, int64_t a_ms, int64_t b_ms,
				    bool *uncertain)
{
	return workcal_workms_between(cal, a_ms, b_ms, uncertain) / 60000;
}

int workcal_extend_for_pause(const struct workcal *cal, int64_t deadline_ms,
			     int64_t pause_start_ms, int64_t pause_end_ms, enum workcal_unit unit,
			     int64_t *out_ms, bool *uncertain)
{
	if (!workcal_instant_ok(deadline_ms))
		return ERR_UNPROCESSABLE;
	*out_ms = deadline_ms;
	if (pause_end_ms <= pause_start_ms)
		return 0;
	if (unit == WORKCAL_UNIT_HOURS) {
		int64_t paused = workcal_workms_between(cal, pause_start_ms, pause_end_ms, uncertain);
		return workcal_add_workms(cal, deadline_ms, paused, out_ms, uncertain);
	}
	int64_t a = clamp_instant(pause_start_ms), b = clamp_instant(pause_end_ms);
	if (b <= a)
		return 0;
	int64_t da = workcal_local_day(a), db = workcal_local_day(b), k = 0;
	int64_t ta = workcal_local_ms(a), tb = workcal_local_ms(b);
	for (int64_t d = da; d <= db; d++) {
		if (d == db && tb == 0)
			break;
		if (workcal_is_workday(cal, d, uncertain) &&
		    day_overlap(cal, d == da ? ta : 0, d == db ? tb : WORKCAL_DAY_MS) > 0)
			k++;
	}
	if (k == 0)
		return 0;
	if (k > WORKCAL_MAX_WORKDAYS)
		return ERR_UNPROCESSABLE;
	return workcal_add_workdays(cal, deadline_ms, k, out_ms, uncertain);
}

const char *workcal_due_name(enum workcal_due d)
{
	switch (d) {
	case WORKCAL_ON_TIME:
		return "on_time";
	case WORKCAL_DUE_SOON:
		return "due_soon";
	case WORKCAL_OVERDUE:
		return "overdue";
	}
	return "?";
}

enum workcal_due workcal_state(const struct workcal *cal, int64_t now_ms, int64_t start_ms,
			       int64_t deadline_ms, double soon_fraction, bool *uncertain)
{
	if (now_ms > deadline_ms)
		return WORKCAL_OVERDUE;
	if (!(soon_fraction > 0 && soon_fraction <= 1))
		soon_fraction = WORKCAL_SOON_DEFAULT;
	int64_t total = workcal_workms_between(cal, start_ms, deadline_ms, uncertain);
	int64_t elapsed = workcal_workms_between(cal, start_ms, now_ms, uncertain);
	/* in millionths, exactly: elapsed / total >= fraction */
	int64_t f = (int64_t)(soon_fraction * 1000000.0 + 0.5);
	if (total <= 0 || elapsed * 1000000 >= f * total)
		return WORKCAL_DUE_SOON;
	return WORKCAL_ON_TIME;
}

int64_t workcal_state_until(const struct workcal *cal, int64_t now_ms, int64_t start_ms,
			    int64_t deadline_ms, double soon_fraction)
{
	enum workcal_due d = workcal_state(cal, now_ms, start_ms, deadline_ms, soon_fraction, NULL);
	int64_t until;
	if (d == WORKCAL_OVERDUE)
		return INT64_MAX;
	until = deadline_ms + 1; /* the deadline instant itself is still in time */
	if (d == WORKCAL_ON_TIME) {
		/* due soon from the instant the elapsed working time reaches the fraction */
		if (!(soon_fraction > 0 && soon_fraction <= 1))
			soon_fraction = WORKCAL_SOON_DEFAULT;
		int64_t f = (int64_t)(soon_fraction * 1000000.0 + 0.5);
		int64_t total = workcal_workms_between(cal, start_ms, deadline_ms, NULL);
		int64_t need = (f * total + 999999) / 1000000, soon;
		if (workcal_add_workms(cal, start_ms, need, &soon, NULL) != 0)
			return now_ms + 1;
		if (soon < until)
			until = soon;
	}
	if (until <= now_ms + 1)
		return now_ms + 1;
	/* monotone in time: the same state just before until means the same all along */
	if (workcal_state(cal, until - 1, start_ms, deadline_ms, soon_fraction, NULL) != d)
		return now_ms + 1;
	return until;
}

/* ---- storage ---- */

static int read_meta(struct db *db, int64_t tenant, int64_t *version, bool *seeded,
		     struct err *e)
{
	struct db_stmt *st = NULL;
	*version = 0;
	*seeded = false;
	int rc = db_queryf(db, &st, e,
			   "SELECT version, builtin_loaded FROM calendar_meta WHERE tenant_id = $1",
			   "i", tenant);
	if (rc)
		return rc;
	rc = db_step(st, e);
	if (rc == DB_ROW) {
		*version = db_column_int64(st, 0);
		*seeded = db_column_int64(st, 1) != 0;
	}
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

/*
 * Changes of this process's calendars: the cache (below) trusts a snapshot
 * without asking the database while no change has committed since it was
 * read (and for at most CACHE_TRUST_MS, for changes by other processes).
 * A change bumps the generation once its transaction has committed — before
 * that, a reader would still read the old version and keep it as new.
 */
static atomic_uint_fast64_t generation;

/* Bump the tenant's calendar version (and maybe mark it seeded); inside a write job. */
static int bump(struct db *db, int64_t tenant, int64_t now, bool seeded, struct err *e)
{
	int rc = db_execf(db, e,
			  "UPDATE calendar_meta SET version = version + 1, updated_at = $2, "
			  "builtin_loaded = CASE WHEN $3 <> 0 THEN 1 ELSE builtin_loaded END "
			  "WHERE tenant_id = $1",
			  "iii", tenant, now, (int64_t)seeded);
	if (!rc && db_changes(db) == 0)
		rc = db_execf(db, e,
			      "INSERT INTO calendar_meta (tenant_id, version, builtin_loaded, "
			      "updated_at) VALUES ($1, 1, $2, $3)",
			      "iii", tenant, (int64_t)seeded, now);
	if (!rc) /* after the change: in autocommit it has committed now */
		db_bump_on_commit(db, &generation);
	return rc;
}

struct row_year {
	int year;
	int64_t loaded_at;
	char *source;
};

/* Build a snapshot of the tenant from the database. */
static int load(struct db *db, int64_t tenant, struct workcal **out, struct err *e)
{
	struct db_stmt *st = NULL;
	struct row_year *ys = NULL;
	struct workcal_entry *ds = NULL;
	size_t ny = 0, nd = 0, capy = 0, capd = 0;
	struct workcal *cal = workcal_new(NULL);
	int rc;

	cal->tenant_id = tenant;
	if ((rc = read_meta(db, tenant, &cal->version, &cal->seeded, e)))
		goto out;
	rc = db_queryf(db, &st, e, "SELECT value FROM settings WHERE tenant_id = $1 AND key = $2",
		       "it", tenant, WORKCAL_HOURS_KEY);
	if (rc)
		goto out;
	if ((rc = db_step(st, e)) == DB_ROW) {
		struct err ignored;
		struct workcal_hours h;
		/* a stored value that no longer parses falls back to the default */
		if (workcal_hours_parse(db_column_text(st, 0), &h, &ignored) == 0)
			cal->hours = h;
	}
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;

	rc = db_queryf(db, &st, e,
		       "SELECT year, source, loaded_at FROM calendar_years WHERE tenant_id = $1 "
		       "ORDER BY year",
		       "i", tenant);
	if (rc)
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		if (ny == capy) {
			capy = capy ? 2 * capy : 8;
			ys = xrealloc(ys, capy * sizeof *ys);
		}
		ys[ny].year = (int)db_column_int64(st, 0);
		ys[ny].source = xstrdup(db_column_text(st, 1));
		ys[ny].loaded_at = db_column_int64(st, 2);
		ny++;
	}
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;

	rc = db_queryf(db, &st, e,
		       "SELECT day, kind, name FROM calendar_days WHERE tenant_id = $1 ORDER BY day",
		       "i", tenant);
	if (rc)
		goto out;
	while ((rc = db_step(st, e)) == DB_ROW) {
		int64_t day;
		int kind = workcal_kind_parse(db_column_text(st, 1));
		if (!workcal_parse_date(db_column_text(st, 0), &day) || kind < 0)
			continue; /* not ours to repair; the constraint keeps this from happening */
		if (nd == capd) {
			capd = capd ? 2 * capd : 64;
			ds = xrealloc(ds, capd * sizeof *ds);
		}
		ds[nd].day = day;
		ds[nd].kind = (enum workcal_kind)kind;
		snprintf(ds[nd].name, sizeof ds[nd].name, "%s", db_column_text(st, 2));
		nd++;
	}
	db_finalize(st);
	st = NULL;
	if (rc < 0)
		goto out;
	rc = 0;

	/* days come sorted, so each year's days are one run */
	size_t k = 0;
	for (size_t i = 0; i < ny; i++) {
		if (ys[i].year < WORKCAL_MIN_YEAR || ys[i].year > WORKCAL_MAX_YEAR)
			continue;
		int64_t first = workcal_days_from_civil(ys[i].year, 1, 1);
		int64_t end = workcal_days_from_civil(ys[i].year + 1, 1, 1);
		while (k < nd && ds[k].day < first)
			k++;
		size_t j = k;
		while (j < nd && ds[j].day < end)
			j++;
		put_year(cal, ys[i].year, ys[i].source, ys[i].loaded_at, ds + k, j - k);
		k = j;
	}
out:
	db_finalize(st);
	for (size_t i = 0; i < ny; i++)
		free(ys[i].source);
	free(ys);
	free(ds);
	if (rc) {
		workcal_unref(cal);
		cal = NULL;
	}
	*out = cal;
	return rc;
}

/* The cache: one current snapshot per tenant (few tenants: a linear scan). */
#define CACHE_TRUST_MS 1000

struct cache_slot {
	int64_t tenant_id;
	struct workcal *cal;     /* holds one reference */
	uint64_t generation;     /* of changes, when the stored version was last read */
	int64_t checked_ns;      /* then (monotonic) */
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cache_slot *cache;
static size_t ncache, capcache;

static struct cache_slot *cache_find(int64_t tenant)
{
	for (size_t i = 0; i < ncache; i++)
		if (cache[i].tenant_id == tenant)
			return &cache[i];
	return NULL;
}

int workcal_get(struct db *db, int64_t tenant_id, struct workcal **out, struct err *e)
{
	int64_t version, t0 = mono_ns();
	uint64_t gen;
	/* false: db reads a snapshot older than some change, keep nothing from it */
	bool trusted = db_generation(db, &generation, &gen);
	bool seeded;
	struct workcal *cal = NULL;
	int rc;

	*out = NULL;
	/* Inside a write job the version may be one not yet committed: always read it,
	 * and keep in the cache only what is known to be committed (below). */
	bool in_job = db_defers(db);
	/* no change committed here since the version was read, and not long ago: trust it */
	pthread_mutex_lock(&cache_mu);
	struct cache_slot *s = cache_find(tenant_id);
	if (!in_job && s && s->cal->seeded && s->generation == gen &&
	    t0 - s->checked_ns < CACHE_TRUST_MS * 1000000LL)
		cal = workcal_ref(s->cal);
	pthread_mutex_unlock(&cache_mu);
	if (cal) {
		*out = cal;
		return 0;
	}
	if ((rc = read_meta(db, tenant_id, &version, &seeded, e)))
		return rc;
	pthread_mutex_lock(&cache_mu);
	s = cache_find(tenant_id);
	if (s && s->cal->version == version) {
		cal = workcal_ref(s->cal);
		if (!in_job && trusted) {
			s->generation = gen;
			s->checked_ns = t0;
		}
	}
	pthread_mutex_unlock(&cache_mu);
	if (cal) {
		*out = cal;
		return 0;
	}
	if ((rc = load(db, tenant_id, &cal, e)))
		return rc;
	if (in_job || !trusted) {
		*out = cal;
		return 0;
	}
	pthread_mutex_lock(&cache_mu);
	s = cache_find(tenant_id);
	if (!s) {
		if (ncache == capcache) {
			capcache = capcache ? 2 * capcache : 8;
			cache = xrealloc(cache, capcache * sizeof *cache);
		}
		s = &cache[ncache++];
		*s = (struct cache_slot){tenant_id, NULL, 0, 0};
	}
	if (!s->cal || s->cal->version <= cal->version) {
		workcal_unref(s->cal);
		s->cal = workcal_ref(cal);
		s->generation = gen;
		s->checked_ns = t0;
	}
	pthread_mutex_unlock(&cache_mu);
	*out = cal;
	return 0;
}

void workcal_cache_clear(void)
{
	pthread_mutex_lock(&cache_mu);
	for (size_t i = 0; i < ncache; i++)
		workcal_unref(cache[i].cal);
	free(cache);
	cache = NULL;
	ncache = capcache = 0;
	pthread_mutex_unlock(&cache_mu);
}

int workcal_acquire(struct db_pool *pool, const struct actor *who, struct workcal **out,
		    struct err *e)
{
	struct db *db = db_pool_reader(pool, e);
	int rc;

	*out = NULL;
	if (!db)
		return e->code ? e->code : ERR_UNAVAILABLE;
	if ((rc = workcal_get(db, who->tenant_id, out, e)))
		return rc;
	if (workcal_seeded(*out))
		return 0;
	workcal_unref(*out);
	*out = NULL;
	struct workcal_seed s = {.who = who, .tenant_id = who->tenant_id, .now = now_ms()};
	if ((rc = db_pool_write(pool, workcal_seed, &s, e)))
		return rc;
	return workcal_get(db, who->tenant_id, out, e);
}

/* Replace the stored exceptions and the calendar_years row of one year. */
static int store_year(struct db *db, int64_t tenant, int year, const char *source,
		      const struct workcal_entry *days, size_t n, int64_t now, struct err *e)
{
	char first[16], last[16], date[16];
	workcal_format_date(workcal_days_from_civil(year, 1, 1), first, sizeof first);
	workcal_format_date(workcal_days_from_civil(year, 12, 31), last, sizeof last);
	int rc = db_execf(db, e,
			  "DELETE FROM calendar_days WHERE tenant_id = $1 AND day >= $2 AND day <= $3",
			  "itt", tenant, first, last);
	for (size_t i = 0; !rc && i < n; i++) {
		workcal_format_date(days[i].day, date, sizeof date);
		rc = db_execf(db, e,
			      "INSERT INTO calendar_days (tenant_id, day, kind, name) "
			      "VALUES ($1, $2, $3, $4)",
			      "ittt", tenant, date, workcal_kind_name(days[i].kind), days[i].name);
	}
	if (!rc)
		rc = db_execf(db, e, "DELETE FROM calendar_years WHERE tenant_id = $1 AND year = $2",
			      "ii", tenant, (int64_t)year);
	if (!rc)
		rc = db_execf(db, e,
			      "INSERT INTO calendar_years (tenant_id, year, source, loaded_at) "
			      "VALUES ($1, $2, $3, $4)",
			      "iiti", tenant, (int64_t)year, source ? source : "", now);
	return rc;
}

static int year_exists(struct db *db, int64_t tenant, int year, bool *exists, struct err *e)
{
	int64_t n = 0;
	int rc = db_query_i64(db, &n, e,
			      "SELECT COUNT(*) FROM calendar_years WHERE tenant_id = $1 AND year = $2",
			      "ii", tenant, (int64_t)year);
	*exists = n > 0;
	return rc;
}

static json_t *entries_json(const struct workcal_entry *days, size_t n)
{
	json_t *a = json_array();
	char date[16];
	for (size_t i = 0; i < n; i++) {
		workcal_format_date(days[i].day, date, sizeof date);
		json_array_append_new(a, json_pack("{s:s,s:s,s:s}", "day", date, "kind",
						   workcal_kind_name(days[i].kind), "name",
						   days[i].name));
	}
	return a;
}

int workcal_seed(struct db *db, void *arg, struct err *e)
{
	struct workcal_seed *s = arg;
	struct workcal_entry days[WORKCAL_MAX_ENTRIES];
	int64_t version;
	bool seeded;
	size_t ny, n;
	const char *source;
	json_t *loaded = NULL;
	int rc;

	s->loaded = 0;
	if ((rc = read_meta(db, s->tenant_id, &version, &seeded, e)) || seeded)
		return rc;
	loaded = json_array();
	const int *years = workcal_builtin_years(&ny);
	for (size_t i = 0; i < ny; i++) {
		bool exists;
		if ((rc = year_exists(db, s->tenant_id, years[i], &exists, e)))
			goto out;
		if (exists || workcal_builtin(years[i], days, WORKCAL_MAX_ENTRIES, &n, &source))
			continue;
		if ((rc = store_year(db, s->tenant_id, years[i], source, days, n, s->now, e)))
			goto out;
		json_array_append_new(loaded, json_integer(years[i]));
		s->loaded++;
	}
	if ((rc = bump(db, s->tenant_id, s->now, true, e)))
		goto out;
	json_t *sum = json_pack("{s:O}", "years", loaded);
	rc = audit_append(db, s->who, s->tenant_id, "calendar", 0, "seed", sum, e);
	json_decref(sum);
out:
	json_decref(loaded);
	return rc;
}

int workcal_put_year(struct db *db, void *arg, struct err *e)
{
	struct workcal_year_write *w = arg;
	int rc;

	if ((rc = workcal_check_year(w->year, w->days, w->n, e)))
		return rc;
	if (w->source && utf8_len(w->source, strlen(w->source)) > WORKCAL_SOURCE_MAX_CHARS)
		return err_set(e, ERR_UNPROCESSABLE, "source", "来源最多 %d 个字符",
			       "source has at most %d characters", WORKCAL_SOURCE_MAX_CHARS);
	if ((rc = year_exists(db, w->tenant_id, w->year, &w->replaced, e)) ||
	    (rc = store_year(db, w->tenant_id, w->year, w->source, w->days, w->n, w->now, e)) ||
	    (rc = bump(db, w->tenant_id, w->now, false, e)))
		return rc;
	json_t *sum = json_pack("{s:i,s:s,s:b,s:o}", "year", w->year, "source",
				w->source ? w->source : "", "replaced", w->replaced, "days",
				entries_json(w->days, w->n));
	rc = audit_append(db, w->who, w->tenant_id, "calendar", w->year, "put_year", sum, e);
	json_decref(sum);
	return rc;
}

int workcal_delete_year(struct db *db, void *arg, struct err *e)
{
	struct workcal_year_write *w = arg;
	char first[16], last[16];
	int64_t n = 0;
	bool exists;
	int rc;

	if ((rc = year_exists(db, w->tenant_id, w->year, &exists, e)))
		return rc;
	if (!exists)
		return err_set(e, ERR_NOT_FOUND, "year", "日历中没有 %d 年", "year %d is not in the calendar",
			       w->year);
	workcal_format_date(workcal_days_from_civil(w->year, 1, 1), first, sizeof first);
	workcal_format_date(workcal_days_from_civil(w->year, 12, 31), last, sizeof last);
	if ((rc = db_query_i64(db, &n, e,
			       "SELECT COUNT(*) FROM calendar_days WHERE tenant_id = $1 "
			       "AND day >= $2 AND day <= $3",
			       "itt", w->tenant_id, first, last)) ||
	    (rc = db_execf(db, e,
			   "DELETE FROM calendar_days WHERE tenant_id = $1 AND day >= $2 AND day <= $3",
			   "itt", w->tenant_id, first, last)) ||
	    (rc = db_execf(db, e, "DELETE FROM calendar_years WHERE tenant_id = $1 AND year = $2",
			   "ii", w->tenant_id, (int64_t)w->year)) ||
	    (rc = bump(db, w->tenant_id, w->now, false, e)))
		return rc;
	json_t *sum = json_pack("{s:i,s:I}", "year", w->year, "days", (json_int_t)n);
	rc = audit_append(db, w->who, w->tenant_id, "calendar", w->year, "delete_year", sum, e);
	json_decref(sum);
	return rc;
}

int workcal_put_hours(struct db *db, void *arg, struct err *e)
{
	struct workcal_hours_write *w = arg;
	struct workcal_hours check;
	char text[128];
	int rc;

	workcal_hours_format(&w->hours, text, sizeof text);
	if ((rc = workcal_hours_parse(text, &check, e)))
		return rc;
	if ((rc = db_execf(db, e, "DELETE FROM settings WHERE tenant_id = $1 AND key = $2", "it",
			   w->tenant_id, WORKCAL_HOURS_KEY)) ||
	    (rc = db_execf(db, e,
			   "INSERT INTO settings (tenant_id, key, value, updated_at) "
			   "VALUES ($1, $2, $3, $4)",
			   "itti", w->tenant_id, WORKCAL_HOURS_KEY, text, w->now)) ||
	    (rc = bump(db, w->tenant_id, w->now, false, e)))
		return rc;
	json_t *sum = json_pack("{s:s}", "workhours", text);
	rc = audit_append(db, w->who, w->tenant_id, "calendar", 0, "workhours", sum, e);
	json_decref(sum);
	return rc;
}
