/*
 * suggest.h — help for the dispatcher: likely duplicates of a request, and
 * the department and category it probably belongs to, learned from past
 * dispatch decisions (MISSION.md capability 14).
 *
 * Routing hints. Per tenant, two naive Bayes models over the character
 * n-grams of title + content (core/textmodel.h): one predicts the
 * department, one the category. Their examples are the tenant's dispatched
 * requests (not merged or voided), at most SUGGEST_MAX_EXAMPLES of the most
 * recent; the department label is the request's current department, which
 * is the first dispatch as corrected by every later re-dispatch after a
 * return (a return clears it, so a request waiting for re-dispatch teaches
 * nothing until the dispatcher has corrected it); the category label is the
 * category the request was dispatched with. The dispatcher's corrections are
 * therefore exactly what the next model learns from.
 *
 * Models are immutable, reference-counted snapshots in a per-tenant cache
 * (as workcal.c keeps calendars): readers share them without locks; a
 * retrain builds a new snapshot without holding any lock and swaps it in
 * under a mutex. A snapshot older than the caller's max age is rebuilt by
 * the caller that notices, while concurrent callers keep using the old one.
 *
 * Accuracy. Each build also reports how the model does on data it has not
 * seen: the examples in time order (received_at, id), a model trained on the
 * oldest 80 % predicts the most recent 20 % (top-1 and top-3). The model
 * then used for suggestions is trained on all examples.
 *
 * Duplicates. Candidates are the tenant's requests, not merged or voided,
 * that are still open or were received within SUGGEST_DUP_DAYS of the
 * request, and that come from the same enterprise or lie within
 * SUGGEST_DUP_RADIUS_M metres (haversine) of it when both are located. The
 * score is the Jaccard similarity of the character bigrams of title +
 * content; the best SUGGEST_DUP_MAX at or above SUGGEST_DUP_MIN_SCORE are
 * returned.
 */
#ifndef YQ_SUGGEST_H
#define YQ_SUGGEST_H

#include <stdbool.h>
#include <stdint.h>

#include "base/err.h"
#include "core/textmodel.h"

struct db;
struct request;

#define SUGGEST_MAX_EXAMPLES   20000
#define SUGGEST_HOLDOUT        0.2
#define SUGGEST_DUP_DAYS       30
#define SUGGEST_DUP_RADIUS_M   300.0
#define SUGGEST_DUP_MIN_SCORE  0.3
#define SUGGEST_DUP_MAX        5
#define SUGGEST_DUP_CANDIDATES 1000 /* most recent candidates read per criterion */
#define SUGGEST_RETRAIN_KEY    "suggestions.retrain_minutes" /* settings: max model age */

struct suggest_model; /* immutable snapshot, reference-counted */

/* What a model was built from and how it did on held-out data. */
struct suggest_info {
	int64_t tenant_id;
	int64_t trained_at; /* ms */
	int64_t train_ms;   /* time the build took (reading + both models + evaluation) */
	int64_t requests;   /* examples read */
	struct {
		size_t examples, classes, vocabulary, bytes;
		double temperature;         /* probability calibration (textmodel.h) */
		struct textmodel_eval eval; /* eval.test == 0: too few examples to evaluate */
	} dept, cat;
};

/*
 * The tenant's current model, built now when there is none, when force is
 * set, or when it is older than max_age_ms (0 = any age will do). db is a
 * reader connection of the calling thread. *out holds a reference: release
 * with suggest_model_unref.
 */
int suggest_model_acquire(struct db *db, int64_t tenant_id, int64_t now, int64_t max_age_ms,
			  bool force, struct suggest_model **out, struct err *e);
void suggest_model_unref(struct suggest_model *m);
const struct suggest_info *suggest_model_info(const struct suggest_model *m);
/* Forget every cached model (tests, shutdown). */
void suggest_cache_clear(void);

/* A suggested department or category. */
struct suggest_label {
	int64_t id;
	char name[260];
	double p;
};

/*
 * The k most probable departments (or categories) for a text, most probable
 * first, with their names; labels that no longer exist or are inactive are
 * skipped. *n gets how many (0 when the model knows nothing of the text).
 */
int suggest_departments(struct db *db, const struct suggest_model *m, int64_t tenant_id,
			const char *text, struct suggest_label *out, size_t k, size_t *n,
			struct err *e);
int suggest_categories(struct db *db, const struct suggest_model *m, int64_t tenant_id,
		       const char *text, struct suggest_label *out, size_t k, size_t *n,
		       struct err *e);

/* A likely duplicate. */
struct suggest_dup {
	int64_t id;
	char number[24];
	char title[404];
	char state[16];
	int64_t received_at;
	double score; /* Jaccard similarity of the bigrams, 0..1 */
	bool same_enterprise;
	bool nearby;       /* within SUGGEST_DUP_RADIUS_M */
	double distance_m; /* when both are located, else -1 */
};

/* The likely duplicates of r (see above), best first (ties: newer first). */
int suggest_duplicates(struct db *db, const struct request *r, struct suggest_dup *out, size_t k,
		       size_t *n, struct err *e);

/* Title and content as one text for the model (caller frees). */
char *suggest_text(const char *title, const char *content);

#endif
