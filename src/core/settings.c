/* settings.c — see settings.h. */
#include "core/settings.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "core/audit.h"
#include "db/db.h"
#include "base/banned.h"

static const struct setting_def defs[] = {
	{"login.max_failures", 5, 1, 100, "failed logins in a row that lock an account"},
	{"login.lock_minutes", 15, 1, 1440, "how long a locked account stays locked"},
	{"urgency.urgent_sign_minutes", 120, 10, 7200,
	 "an urgent request must be signed for within this many working minutes (at most)"},
	{"urgency.critical_sign_minutes", 30, 5, 7200,
	 "a critical request must be signed for within this many working minutes (at most)"},
	{"team.max_enterprises_per_official", 30, 1, 10000,
	 "enterprises one official may serve before the blind-spot report lists them"},
	{"reminder.fraction_percent", 80, 1, 100,
	 "the digital employee reminds the handler once this share of the handling limit has passed"},
	{"escalation.leader_after_days", 1, 1, 30,
	 "working days after the level-1 escalation (department heads) before the leaders are told"},
	{"visit.auto_close_days", 0, 0, 60,
	 "working days after the reply before an unrated request is closed (0 = the visit deadline)"},
	{"rates.weight_response", 10, 0, 100,
	 "weight of the response rate in the composite score, percent (the three weights sum to 100)"},
	{"rates.weight_resolution", 50, 0, 100, "weight of the resolution rate in the composite score, percent"},
	{"rates.weight_satisfaction", 40, 0, 100,
	 "weight of the satisfaction rate in the composite score, percent"},
	{"rates.basic_satisfied_percent", 90, 0, 100,
	 "how much a 'basically satisfied' rating counts in the satisfaction rate, percent of 'satisfied'"},
	{"rates.target_resolution_percent", 98, 0, 100, "the resolution rate the district aims at, percent"},
	{"attachments.max_bytes", 10485760, 1024, 33554432,
	 "largest attachment file, bytes (images and PDF; at most 32 MiB)"},
	{"attachments.max_per_request", 10, 1, 100, "attachments one request may carry"},
	{"visits.max_distance_m", 500, 10, 100000,
	 "a visit recorded farther than this from the enterprise's location, metres, is flagged"},
	{"visits.max_photos", 9, 1, 50, "photos one visit record may carry"},
	{"visits.recompute_chunk", 2000, 1, 100000,
	 "enterprises per write job when a policy change recomputes the visit states or a campaign "
	 "resolves its targets (other writes go between jobs)"},
	{"visits.recompute_pause_ms", 20, 0, 60000,
	 "rest between two such jobs, milliseconds: the district's own writes commit in between "
	 "without waiting for a job (0: back to back)"},
	{"blindspots.dispatch_hours", 24, 1, 720,
	 "a request received (or returned) and not dispatched for this many hours is unanswered"},
	{"suggestions.retrain_minutes", 60, 1, 10080,
	 "the routing model is rebuilt from the dispatch decisions when it is older than this"},
	{NULL, 0, 0, 0, NULL},
};

const struct setting_def *settings_defs(void)
{
	return defs;
}

const struct setting_def *settings_def(const char *key)
{
	for (const struct setting_def *d = defs; d->key; d++)
		if (strcmp(d->key, key) == 0)
			return d;
	return NULL;
}

int settings_get_int(struct db *db, int64_t tenant_id, const char *key, int64_t *out,
		     struct err *e)
{
	const struct setting_def *d = settings_def(key);
	struct db_stmt *st = NULL;
	if (!d)
		return err_set(e, ERR_BAD_REQUEST, key, "未知设置项“%s”", "unknown setting '%s'",
			       key);
	*out = d->def;
	int rc = db_queryf(db, &st, e, "SELECT value FROM settings WHERE tenant_id = $1 AND key = $2",
			   "it", tenant_id, key);
	if (rc)
		return rc;
	rc = db_step(st, e);
	int64_t v;
	if (rc == DB_ROW && parse_i64(db_column_text(st, 0), &v) && v >= d->min && v <= d->max)
		*out = v;
	db_finalize(st);
	return rc < 0 ? rc : 0;
}

int settings_set_int(struct db *db, const struct actor *who, const char *key, int64_t v,
		     struct err *e)
{
	const struct setting_def *d = settings_def(key);
	char val[32];
	if (!d)
		return err_set(e, ERR_BAD_REQUEST, key, "未知设置项“%s”", "unknown setting '%s'",
			       key);
	if (v < d->min || v > d->max)
		return err_set(e, ERR_UNPROCESSABLE, key, "设置项“%s”应在 %" PRId64 " 到 %" PRId64 " 之间",
			       "setting '%s' must be between %" PRId64 " and %" PRId64, key, d->min,
			       d->max);
	snprintf(val, sizeof val, "%" PRId64, v);
	int rc = db_execf(db, e, "DELETE FROM settings WHERE tenant_id = $1 AND key = $2", "it",
			  who->tenant_id, key);
	if (!rc)
		rc = db_execf(db, e,
			      "INSERT INTO settings (tenant_id, key, value, updated_at) "
			      "VALUES ($1, $2, $3, $4)",
			      "itti", who->tenant_id, key, val, now_ms());
	if (rc)
		return rc;
	json_t *sum = json_pack("{s:s,s:I}", "key", key, "value", (json_int_t)v);
	rc = audit_append(db, who, who->tenant_id, "setting", 0, "set", sum, e);
	json_decref(sum);
	return rc;
}

int settings_validate(struct db *db, int64_t tenant_id, struct err *e)
{
	int64_t w[3];
	static const char *const keys[3] = {"rates.weight_response", "rates.weight_resolution",
					    "rates.weight_satisfaction"};
	for (int i = 0; i < 3; i++) {
		int rc = settings_get_int(db, tenant_id, keys[i], &w[i], e);
		if (rc)
			return rc;
	}
	int64_t sum = w[0] + w[1] + w[2];
	if (sum != 100)
		return err_set(e, ERR_UNPROCESSABLE, "rates.weight_response",
			       "综合评分的三项权重 rates.weight_response、rates.weight_resolution、"
			       "rates.weight_satisfaction 之和应为 100（现为 %" PRId64 "）",
			       "the weights rates.weight_response + rates.weight_resolution + "
			       "rates.weight_satisfaction must sum to 100 (they sum to %" PRId64 ")",
			       sum);
	return 0;
}
