/*
 * jsonv.h — reading validated values out of a decoded JSON object (jansson).
 *
 * Each getter names the field in its error: a missing required field or a
 * wrong type is ERR_BAD_REQUEST, a value that breaks a rule (too long, out of
 * range) is ERR_UNPROCESSABLE. Optional fields that are absent (or null)
 * leave *out untouched and return 0, and set *present=false when asked.
 * Strings are returned borrowed from the JSON object.
 */
#ifndef YQ_JSONV_H
#define YQ_JSONV_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"

/* Decode a request body: strict UTF-8, no duplicate keys, the top must be an object. */
json_t *jsonv_parse_object(const char *data, size_t len, struct err *e);

/* Fail with the first key of obj not in the NULL-terminated list `allowed`. */
int jsonv_only(json_t *obj, const char *const *allowed, struct err *e);

int jsonv_str(json_t *obj, const char *key, bool required, size_t max_chars, const char **out,
	      struct err *e);
/* Like jsonv_str, but also rejects empty and all-whitespace strings when required. */
int jsonv_text(json_t *obj, const char *key, bool required, size_t max_chars, const char **out,
	       struct err *e);
int jsonv_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max,
	      int64_t *out, struct err *e);
int jsonv_bool(json_t *obj, const char *key, bool required, bool *out, struct err *e);
/* Array of strings; *out borrowed. */
int jsonv_str_array(json_t *obj, const char *key, bool required, size_t max_items,
		    json_t **out, struct err *e);

/*
 * A text already decoded (from JSON, a form or a file): at most max_chars
 * characters of valid UTF-8 without control characters other than tab and
 * line breaks; when required, not NULL, empty or blank. zh names the field in
 * Chinese ("标题"). NULL and not required is fine.
 */
int text_check(const char *v, const char *field, const char *zh, size_t max_chars,
	       bool required, struct err *e);

/* Was key present and not null? */
bool jsonv_has(json_t *obj, const char *key);

#endif
