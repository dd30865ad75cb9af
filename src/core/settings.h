/*
 * settings.h — per-tenant settings with defaults and allowed ranges.
 * Known keys are listed in one table (settings.c); unknown keys are refused.
 */
#ifndef YQ_SETTINGS_H
#define YQ_SETTINGS_H

#include <stdint.h>

#include "base/err.h"
#include "core/authz.h"

struct db;

struct setting_def {
	const char *key;      /* "login.max_failures" */
	int64_t def, min, max;
	const char *doc;
};

const struct setting_def *settings_defs(void); /* terminated by key == NULL */
const struct setting_def *settings_def(const char *key);
int settings_get_int(struct db *db, int64_t tenant_id, const char *key, int64_t *out,
		     struct err *e);
/* Inside a write job; audited. */
int settings_set_int(struct db *db, const struct actor *who, const char *key, int64_t v,
		     struct err *e);
/* Rules across keys, checked after a change of several (inside the same write job):
 * the composite-score weights rates.weight_* sum to 100. ERR_UNPROCESSABLE. */
int settings_validate(struct db *db, int64_t tenant_id, struct err *e);

#endif
