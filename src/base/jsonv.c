/* jsonv.c — see jsonv.h. */
#include "base/jsonv.h"
#include "base/util.h"

#include <string.h>

#include "base/banned.h"

json_t *jsonv_parse_object(const char *data, size_t len, struct err *e)
{
	json_error_t je;
	json_t *j;

	if (len == 0) {
		err_set(e, ERR_BAD_REQUEST, "body", "请求体为空，应为 JSON 对象",
			"request body is empty; a JSON object is expected");
		return NULL;
	}
	if (!utf8_valid(data, len)) {
		err_set(e, ERR_BAD_REQUEST, "body", "请求体不是有效的 UTF-8 编码",
			"request body is not valid UTF-8");
		return NULL;
	}
	j = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je);
	if (!j) {
		err_set(e, ERR_BAD_REQUEST, "body", "JSON 格式错误（第 %d 行第 %d 列）：%s",
			"malformed JSON at line %d column %d: %s", je.line, je.column, je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		err_set(e, ERR_BAD_REQUEST, "body", "请求体应为 JSON 对象",
			"request body must be a JSON object");
		return NULL;
	}
	return j;
}

int jsonv_only(json_t *obj, const char *const *allowed, struct err *e)
{
	const char *key;
	json_t *v;
	json_object_foreach(obj, key, v) {
		bool ok = false;
		for (const char *const *a = allowed; *a; a++)
			if (strcmp(*a, key) == 0) {
				ok = true;
				break;
			}
		if (!ok)
			return err_set(e, ERR_BAD_REQUEST, key, "未知字段“%s”", "unknown field '%s'",
				       key);
	}
	return 0;
}

bool jsonv_has(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	return v && !json_is_null(v);
}

static json_t *need(json_t *obj, const char *key, bool required, struct err *e, int *rc)
{
	json_t *v = json_object_get(obj, key);
	*rc = 0;
	if (!v || json_is_null(v)) {
		if (required)
			*rc = err_set(e, ERR_BAD_REQUEST, key, "缺少必填字段“%s”",
				      "missing required field '%s'", key);
		return NULL;
	}
	return v;
}

int jsonv_str(json_t *obj, const char *key, bool required, size_t max_chars, const char **out,
	      struct err *e)
{
	int rc;
	json_t *v = need(obj, key, required, e, &rc);
	if (!v)
		return rc;
	if (!json_is_string(v))
		return err_set(e, ERR_BAD_REQUEST, key, "字段“%s”应为字符串",
			       "field '%s' must be a string", key);
	const char *s = json_string_value(v);
	size_t n = json_string_length(v);
	if (strlen(s) != n)
		return err_set(e, ERR_BAD_REQUEST, key, "字段“%s”含有空字符",
			       "field '%s' contains a NUL character", key);
	if (max_chars && utf8_len(s, n) > max_chars)
		return err_set(e, ERR_UNPROCESSABLE, key, "字段“%s”超过 %zu 个字符",
			       "field '%s' is longer than %zu characters", key, max_chars);
	*out = s;
	return 0;
}

int jsonv_text(json_t *obj, const char *key, bool required, size_t max_chars, const char **out,
	       struct err *e)
{
	const char *s = NULL;
	int rc = jsonv_str(obj, key, required, max_chars, &s, e);
	if (rc || !s)
		return rc;
	if (required && s[strspn(s, " \t\r\n")] == '\0')
		return err_set(e, ERR_UNPROCESSABLE, key, "字段“%s”不能为空",
			       "field '%s' must not be empty", key);
	*out = s;
	return 0;
}

int jsonv_int(json_t *obj, const char *key, bool required, int64_t min, int64_t max,
	      int64_t *out, struct err *e)
{
	int rc;
	json_t *v = need(obj, key, required, e, &rc);
	if (!v)
		return rc;
	if (!json_is_integer(v))
		return err_set(e, ERR_BAD_REQUEST, key, "字段“%s”应为整数",
			       "field '%s' must be an integer", key);
	json_int_t n = json_integer_value(v);
	if (n < min || n > max)
		return err_set(e, ERR_UNPROCESSABLE, key, "字段“%s”应在 %lld 到 %lld 之间",
			       "field '%s' must be between %lld and %lld", key, (long long)min,
			       (long long)max);
	*out = n;
	return 0;
}

int jsonv_bool(json_t *obj, const char *key, bool required, bool *out, struct err *e)
{
	int rc;
	json_t *v = need(obj, key, required, e, &rc);
	if (!v)
		return rc;
	if (!json_is_boolean(v))
		return err_set(e, ERR_BAD_REQUEST, key, "字段“%s”应为 true 或 false",
			       "field '%s' must be true or false", key);
	*out = json_is_true(v);
	return 0;
}

int jsonv_str_array(json_t *obj, const char *key, bool required, size_t max_items, json_t **out,
		    struct err *e)
{
	int rc;
	size_t i;
	json_t *v = need(obj, key, required, e, &rc), *it;
	if (!v)
		return rc;
	if (!json_is_array(v))
		return err_set(e, ERR_BAD_REQUEST, key, "字段“%s”应为字符串数组",
			       "field '%s' must be an array of strings", key);
	if (max_items && json_array_size(v) > max_items)
		return err_set(e, ERR_UNPROCESSABLE, key, "字段“%s”最多 %zu 项",
			       "field '%s' has more than %zu items", key, max_items);
	json_array_foreach(v, i, it) {
		if (!json_is_string(it))
			return err_set(e, ERR_BAD_REQUEST, key, "字段“%s”应为字符串数组",
				       "field '%s' must be an array of strings", key);
	}
	*out = v;
	return 0;
}

int text_check(const char *v, const char *field, const char *zh, size_t max_chars,
	       bool required, struct err *e)
{
	char mzh[200], men[200];
	if (!v || v[strspn(v, " \t\r\n")] == '\0') {
		if (!required)
			return 0;
		snprintf(mzh, sizeof mzh, "%s不能为空", zh);
		snprintf(men, sizeof men, "'%s' is required and must not be empty", field);
		return err_set_msg(e, v ? ERR_UNPROCESSABLE : ERR_BAD_REQUEST, field, mzh, men);
	}
	size_t n = strlen(v);
	if (!utf8_valid(v, n))
		return err_set(e, ERR_BAD_REQUEST, field, "字段“%s”不是有效的 UTF-8",
			       "'%s' is not valid UTF-8", field);
	for (const unsigned char *p = (const unsigned char *)v; *p; p++)
		if ((*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') || *p == 0x7f) {
			snprintf(mzh, sizeof mzh, "%s不能包含控制字符", zh);
			snprintf(men, sizeof men, "'%s' must not contain control characters", field);
			return err_set_msg(e, ERR_UNPROCESSABLE, field, mzh, men);
		}
	if (utf8_len(v, n) > max_chars) {
		snprintf(mzh, sizeof mzh, "%s不能超过 %zu 个字符", zh, max_chars);
		snprintf(men, sizeof men, "'%s' must not exceed %zu characters", field, max_chars);
		return err_set_msg(e, ERR_UNPROCESSABLE, field, mzh, men);
	}
	return 0;
}
