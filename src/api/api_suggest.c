/*
 * api_suggest.c — hints for the dispatcher over HTTP (core/suggest.h):
 * likely duplicates of a request and the department and category it
 * probably belongs to, the routing model's held-out accuracy, and a retrain
 * on demand. The model is rebuilt on its own when it is older than the
 * tenant setting suggestions.retrain_minutes at the next call that needs it.
 */
#include "api/api.h"

#include <stdlib.h>

#include "base/jsonv.h"
#include "base/util.h"
#include "core/request.h"
#include "core/settings.h"
#include "core/suggest.h"
#include "base/banned.h"

/* The tenant's model, rebuilt when forced or older than the setting. */
static int model(struct req *r, bool force, struct suggest_model **m)
{
	int64_t minutes = 60;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	int rc = settings_get_int(db, r->actor.tenant_id, SUGGEST_RETRAIN_KEY, &minutes, &r->err);
	if (!rc)
		rc = suggest_model_acquire(db, r->actor.tenant_id, now_ms(), minutes * 60000, force,
					   m, &r->err);
	return rc;
}

static json_t *accuracy(size_t hits, size_t n)
{
	return n ? json_real((double)hits / (double)n) : json_null();
}

static json_t *labels_json(const struct suggest_label *l, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_pack("{s:I,s:s,s:f}", "id", (json_int_t)l[i].id,
						   "name", l[i].name, "p", l[i].p));
	return a;
}

static int h_suggestions(struct req *r)
{
	struct request q;
	struct suggest_model *m = NULL;
	struct suggest_label dl[3], cl[3];
	struct suggest_dup dup[SUGGEST_DUP_MAX];
	size_t nd = 0, nc = 0, ndup = 0;
	int64_t id;
	struct db *db = req_db(r);
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	if (!db)
		return r->err.code;
	if ((rc = request_get(db, r->actor.tenant_id, id, &q, &r->err)))
		return rc;
	if (!request_visible(&r->actor, r->scope, &q)) {
		request_release(&q);
		return req_fail(r, ERR_NOT_FOUND, "id", "找不到该诉求", "no such request");
	}
	char *text = suggest_text(q.title, q.content);
	rc = model(r, false, &m);
	if (!rc)
		rc = suggest_departments(db, m, r->actor.tenant_id, text, dl, 3, &nd, &r->err);
	if (!rc)
		rc = suggest_categories(db, m, r->actor.tenant_id, text, cl, 3, &nc, &r->err);
	if (!rc)
		rc = suggest_duplicates(db, &q, dup, SUGGEST_DUP_MAX, &ndup, &r->err);
	free(text);
	request_release(&q);
	if (rc) {
		suggest_model_unref(m);
		return rc;
	}
	json_t *dups = json_array();
	for (size_t i = 0; i < ndup; i++) {
		const struct suggest_dup *d = &dup[i];
		const char *reason = d->same_enterprise && d->nearby ? "same_enterprise+nearby"
				     : d->same_enterprise            ? "same_enterprise"
								     : "nearby";
		json_t *j = json_pack("{s:I,s:s,s:s,s:s,s:I,s:f,s:s}", "id", (json_int_t)d->id,
				      "number", d->number, "title", d->title, "state", d->state,
				      "received_at", (json_int_t)d->received_at, "score", d->score,
				      "reason", reason);
		json_object_set_new(j, "distance_m",
				    d->distance_m >= 0 ? json_real(d->distance_m) : json_null());
		json_array_append_new(dups, j);
	}
	const struct suggest_info *in = suggest_model_info(m);
	json_t *mj =
		json_pack("{s:I,s:I,s:o,s:I,s:o}", "trained_at", (json_int_t)in->trained_at,
			  "examples", (json_int_t)in->dept.examples, "holdout_accuracy",
			  accuracy(in->dept.eval.top1, in->dept.eval.test), "category_examples",
			  (json_int_t)in->cat.examples, "category_holdout_accuracy",
			  accuracy(in->cat.eval.top1, in->cat.eval.test));
	suggest_model_unref(m);
	return reply_json(r, 200,
			  json_pack("{s:I,s:o,s:o,s:o,s:o}", "request_id", (json_int_t)id,
				    "duplicates", dups, "departments", labels_json(dl, nd),
				    "categories", labels_json(cl, nc), "model", mj));
}

static json_t *part_json(size_t examples, size_t classes, size_t vocabulary, size_t bytes,
			 double temperature, const struct textmodel_eval *ev)
{
	json_t *j = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "examples", (json_int_t)examples,
			      "classes", (json_int_t)classes, "vocabulary", (json_int_t)vocabulary,
			      "bytes", (json_int_t)bytes, "train", (json_int_t)ev->train, "test",
			      (json_int_t)ev->test);
	json_object_set_new(j, "top1_accuracy", accuracy(ev->top1, ev->test));
	json_object_set_new(j, "top3_accuracy", accuracy(ev->top3, ev->test));
	json_object_set_new(j, "temperature", json_real(temperature));
	return j;
}

static int reply_model(struct req *r, struct suggest_model *m)
{
	int64_t minutes = 60;
	const struct suggest_info *in = suggest_model_info(m);
	int rc = settings_get_int(req_db(r), r->actor.tenant_id, SUGGEST_RETRAIN_KEY, &minutes,
				  &r->err);
	if (rc) {
		suggest_model_unref(m);
		return rc;
	}
	json_t *j = json_pack(
		"{s:I,s:I,s:I,s:I,s:s,s:s,s:o,s:o}", "trained_at", (json_int_t)in->trained_at,
		"train_ms", (json_int_t)in->train_ms, "requests", (json_int_t)in->requests,
		"retrain_minutes", (json_int_t)minutes, "features",
		"character unigrams and bigrams of title + content (normalised)", "holdout",
		"time-ordered: trained on the oldest 80 %, tested on the most recent 20 %",
		"department",
		part_json(in->dept.examples, in->dept.classes, in->dept.vocabulary, in->dept.bytes,
			  in->dept.temperature, &in->dept.eval),
		"category",
		part_json(in->cat.examples, in->cat.classes, in->cat.vocabulary, in->cat.bytes,
			  in->cat.temperature, &in->cat.eval));
	suggest_model_unref(m);
	return reply_json(r, 200, j);
}

static int h_model(struct req *r)
{
	struct suggest_model *m = NULL;
	int rc = model(r, false, &m);
	return rc ? rc : reply_model(r, m);
}

static int h_retrain(struct req *r)
{
	static const char *const allowed[] = {NULL};
	struct suggest_model *m = NULL;
	if (r->body.len) {
		json_t *b = req_body_json(r);
		if (!b)
			return r->err.code;
		int rc = jsonv_only(b, allowed, &r->err);
		if (rc)
			return rc;
	}
	int rc = model(r, true, &m);
	return rc ? rc : reply_model(r, m);
}

const struct route api_suggest_routes[] = {
	{"GET", "/api/v1/requests/{id}/suggestions", h_suggestions, PERM_REQUEST_DISPATCH, 0, 0,
	 "派单建议：疑似重复诉求、承办部门与分类 / likely duplicates, department and category"},
	{"POST", "/api/v1/suggestions/retrain", h_retrain, PERM_REQUEST_DISPATCH, 1024, 0,
	 "按派单结果重新训练分派模型 / rebuild the routing model from the dispatch decisions"},
	{"GET", "/api/v1/suggestions/model", h_model, PERM_REQUEST_DISPATCH, 0, 0,
	 "分派模型与留出集准确率 / the routing model and its held-out accuracy"},
	{0},
};
