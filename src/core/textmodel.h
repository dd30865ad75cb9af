/*
 * textmodel.h — a small text model over Chinese character n-grams: feature
 * extraction, a multinomial naive Bayes classifier, and the similarity and
 * distance measures the duplicate finder uses. No database, no threads: pure
 * functions of their input (the per-tenant models live in core/suggest.c).
 *
 * Normalisation. Text is read as UTF-8 code points. Full-width ASCII forms
 * (U+FF01..U+FF5E) become their ASCII twins and the ideographic space
 * U+3000 a space; ASCII letters are lower-cased and every decimal digit
 * becomes '0' (amounts and phone numbers say little about the topic).
 * Whitespace, punctuation (ASCII, Latin-1, general and CJK punctuation,
 * full-width and half-width forms), symbols, emoji and invalid bytes are
 * separators: they are dropped and cut the text into segments. Everything
 * else (CJK ideographs, letters, digits) is a character of a segment.
 *
 * Features. The distinct unigrams and bigrams of the segments (a bigram
 * never spans a separator), each as an exact 64-bit code: a unigram is
 * cp + 1, a bigram (1 << 42) | cp1 << 21 | cp2. Codes are unique (no
 * hashing collisions) and sorted, so two feature sets intersect by a merge.
 *
 * Classifier. Multinomial naive Bayes on binary features (a feature counts
 * once per document), Laplace/Lidstone smoothing alpha, a smoothed class
 * prior. Features never seen in training are ignored, and so, once there are
 * TEXTMODEL_PRUNE_FROM training documents, are features seen in only one.
 * The trained model is stored sparsely (feature → the classes it occurred
 * with), so its memory is linear in the distinct (feature, class) pairs of
 * the training data, not in features × classes. Naive Bayes is overconfident (overlapping n-grams
 * are counted as independent evidence): the probabilities are tempered by a
 * temperature chosen on the held-out examples (least log loss). Training
 * and prediction are deterministic: the same examples in the same order
 * give bit-identical probabilities.
 */
#ifndef YQ_TEXTMODEL_H
#define YQ_TEXTMODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TEXTMODEL_ALPHA 0.2 /* smoothing used by the suggestion models */
#define TEXTMODEL_MAX_CLASSES 65535
/* From this many training documents on, features of a single document are left out. */
#define TEXTMODEL_PRUNE_FROM 50

/* ---- features ---- */

/*
 * The normalised text into out (NUL-terminated, truncated to fit): the
 * segments joined by one space. "ＡＢＣ１２３，申领发票！" → "abc000 申领发票".
 * Returns the length written.
 */
size_t textmodel_normalize(const char *text, char *out, size_t outsz);

enum textmodel_ngrams {
	TEXTMODEL_UNIGRAMS = 1 << 0,
	TEXTMODEL_BIGRAMS = 1 << 1,
};

/* A sorted set of distinct feature codes. */
struct textmodel_feats {
	uint64_t *v;
	size_t n, cap;
};

/* The features of text (which n-grams: enum textmodel_ngrams) into f, replacing
 * its contents. f starts zeroed; textmodel_feats_release frees it. */
void textmodel_features(const char *text, unsigned ngrams, struct textmodel_feats *f);
void textmodel_feats_release(struct textmodel_feats *f);
/* The code of a unigram / bigram (for tests and debugging). */
uint64_t textmodel_unigram(uint32_t cp);
uint64_t textmodel_bigram(uint32_t cp1, uint32_t cp2);

/* ---- similarity and distance (duplicates) ---- */

/* |a ∩ b| / |a ∪ b| of two feature sets; 0 when both are empty. */
double textmodel_jaccard_sets(const struct textmodel_feats *a, const struct textmodel_feats *b);
/* Jaccard similarity of the character bigrams of two texts (unigrams for a
 * text too short to have a bigram). */
double textmodel_jaccard(const char *a, const char *b);
/* Great-circle distance in metres (haversine, mean earth radius 6371 km). */
double textmodel_haversine_m(double lat1, double lon1, double lat2, double lon2);

/* ---- the classifier ---- */

struct textmodel_example {
	const char *text;
	int64_t label;
};

struct textmodel_guess {
	int64_t label;
	double p; /* posterior probability, the guesses of a text sum to 1 */
};

/* Held-out evaluation: trained on the first `train` examples (in the
 * caller's order, oldest first), tested on the following `test`. */
struct textmodel_eval {
	size_t train, test;
	size_t top1, top3; /* test examples whose label was first / among the first three */
};

struct textmodel; /* immutable once built; safe to share between threads */

/*
 * Train on ex[0..n) and, when ev is not NULL, first evaluate: train on the
 * oldest (1 - holdout) share, predict the most recent `holdout` share
 * (0 < holdout < 1; no evaluation with fewer than 5 test examples: ev->test
 * is 0). The returned model is trained on all n examples (n may be 0: a
 * model that guesses nothing). Caller frees with textmodel_free.
 */
struct textmodel *textmodel_build(const struct textmodel_example *ex, size_t n, double alpha,
				  double holdout, struct textmodel_eval *ev);
void textmodel_free(struct textmodel *m);

/* The k most probable labels for text, most probable first (ties: smaller
 * label first) into out; returns how many (0 for an empty model or a text
 * with no known feature). */
size_t textmodel_predict(const struct textmodel *m, const char *text, struct textmodel_guess *out,
			 size_t k);

size_t textmodel_examples(const struct textmodel *m);
size_t textmodel_classes(const struct textmodel *m);
size_t textmodel_vocabulary(const struct textmodel *m); /* distinct features */
size_t textmodel_bytes(const struct textmodel *m);      /* memory held, approximately */
/* The calibration temperature (1 when there was nothing to calibrate on). */
double textmodel_temperature(const struct textmodel *m);

#endif
