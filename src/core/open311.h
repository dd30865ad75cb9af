/*
 * open311.h — Open311 GeoReport v2 over yiqiban's requests (no HTTP here).
 *
 * Services are request categories with a non-empty open311_code: the code is
 * the service_code, the category's name the service_name, its parent's name
 * the group. A service's definition is its rows of open311_attributes (form
 * fields with a datatype; list types carry their values). Requests filed
 * through Open311 are ordinary requests of channel 'open311' and type 'help'
 * (求助), plus a row of open311_requests (media_url, address_id, contact
 * details) and the attribute answers in open311_request_attributes.
 *
 * What Open311 shows of a request is public: requests of published services
 * (or filed through Open311), with the status mapped to open / closed (closed
 * = closed, merged or voided; everything else, including replied-and-waiting-
 * for-the-rating, is open), the latest public note as status_notes, the
 * handling department as agency_responsible, the reply deadline as
 * expected_datetime, the description only of requests filed through Open311.
 * Never contact data, enterprises or internal notes.
 *
 * This file also holds the protocol helpers the HTTP layer needs: a strict
 * application/x-www-form-urlencoded parser, the same form from a JSON body,
 * and one writer that renders a document as XML or as JSON (the spec's
 * "Spark convention": a list element becomes an array, an element with
 * children an object), so both formats carry exactly the same content.
 */
#ifndef YQ_OPEN311_H
#define YQ_OPEN311_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/buf.h"
#include "base/err.h"
#include "core/authz.h"

struct db;

enum open311_fmt { OPEN311_JSON, OPEN311_XML };

/* ---- forms ---- */

#define OPEN311_FORM_MAX_KEY 64    /* bytes of a decoded key */
#define OPEN311_FORM_MAX_PAIRS 200 /* pairs in one body */

struct open311_pair {
	char *key; /* decoded, valid UTF-8, no control characters */
	char *val; /* decoded, valid UTF-8, no NUL; tab and line breaks allowed */
};

struct open311_form {
	struct open311_pair *v; /* owned */
	size_t n, cap;
};

/*
 * Parse an application/x-www-form-urlencoded body into f (which must be
 * zeroed or released). Pairs are split on '&', empty pairs are skipped, a
 * pair without '=' has an empty value; '+' is a space and %XX a byte. Strict:
 * a '%' without two hex digits, %00, invalid UTF-8 (overlong forms,
 * surrogates), control characters in keys or values (other than tab, CR and
 * LF in values), empty or overlong keys and too many pairs are ERR_BAD_REQUEST
 * naming the key (or "body" when the key itself is unreadable). On error f
 * keeps what was parsed before; release it either way.
 */
int open311_form_parse(struct open311_form *f, const char *body, size_t len, struct err *e);
/*
 * The same form from a JSON object: strings as they are, numbers in their
 * shortest text, null as absent; "attribute" may be an object whose values
 * are strings, numbers or arrays of them (attribute[code] / attribute[code][]).
 * Booleans, nested objects and other shapes are ERR_BAD_REQUEST naming the key.
 */
int open311_form_from_json(struct open311_form *f, json_t *obj, struct err *e);
void open311_form_release(struct open311_form *f);
/* The value of the first pair with this key, NULL if none. */
const char *open311_form_get(const struct open311_form *f, const char *key);

/* ---- rendering ---- */

#define OPEN311_WRITER_DEPTH 8

/*
 * A document written once for both formats. Lists and objects nest; inside
 * a list the names are the XML element names of the items (JSON ignores
 * them), inside an object they are the keys. The top element is the XML
 * root. A NULL string is JSON null and an empty XML element.
 */
struct open311_writer {
	enum open311_fmt fmt;
	struct buf *out; /* borrowed */
	int depth;
	struct {
		const char *name; /* borrowed: string literals */
		bool list;
		bool any; /* something written inside (JSON commas) */
	} stack[OPEN311_WRITER_DEPTH];
};

/* Start a document into out (the XML declaration for XML). */
void open311_writer_init(struct open311_writer *w, enum open311_fmt fmt, struct buf *out);
void open311_list_begin(struct open311_writer *w, const char *name);
void open311_obj_begin(struct open311_writer *w, const char *name);
/* Close the innermost list or object. */
void open311_end(struct open311_writer *w);
void open311_str(struct open311_writer *w, const char *name, const char *v);
void open311_int(struct open311_writer *w, const char *name, int64_t v);
void open311_num(struct open311_writer *w, const char *name, double v);
void open311_bool(struct open311_writer *w, const char *name, bool v);
/* An instant as ISO 8601 in Shanghai time ("2026-01-15T09:30:00+08:00"); 0 = null. */
void open311_time(struct open311_writer *w, const char *name, int64_t utc_ms);

/*
 * Append s as XML character data: & < > " ' escaped, CR as &#13; (so it
 * survives end-of-line normalisation), invalid UTF-8 and characters XML 1.0
 * does not allow (C0 controls other than tab and line breaks, U+FFFE, U+FFFF)
 * replaced by U+FFFD.
 */
void open311_xml_escape(struct buf *out, const char *s, size_t n);
/* "2026-01-15T09:30:00+08:00" (at least 26 bytes). */
void open311_format_time(int64_t utc_ms, char *out, size_t n);
/* The spec's error body: [{"code":403,"description":"..."}] or <errors><error>... */
void open311_render_error(enum open311_fmt fmt, int code, const char *description,
			  struct buf *out);

/* ---- services ---- */

struct open311_service {
	int64_t category_id;
	char code[64];         /* service_code */
	char name[256];        /* service_name */
	char group[256];       /* the parent category's name, "" at the top */
	char category_code[64];
	char department[256];  /* the usual handling department, "" if none */
	int handle_days;       /* the reply limit of a 'help' request of this category */
	bool metadata;         /* has attributes */
};

/* Published, active services in catalogue order. */
int open311_services(struct db *db, int64_t tenant_id,
		     int (*each)(const struct open311_service *s, void *ctx), void *ctx,
		     struct err *e);
/* One published service; ERR_NOT_FOUND naming service_code. */
int open311_service_get(struct db *db, int64_t tenant_id, const char *code,
			struct open311_service *out, struct err *e);
/* The service's description: its handling department and reply limit. */
void open311_service_description(const struct open311_service *s, char *out, size_t n);
/* The notice of a request of a limit of `days` working days ("" for days <= 0). */
void open311_notice(int days, char *out, size_t n);
/* When the services or their definitions last changed (discovery's changeset); 0 if never. */
int open311_changeset(struct db *db, int64_t tenant_id, int64_t *at, struct err *e);

enum open311_datatype {
	O311_STRING,
	O311_NUMBER,
	O311_DATETIME,
	O311_TEXT,
	O311_SINGLE,
	O311_MULTI,
	O311__COUNT
};
const char *open311_datatype_name(enum open311_datatype t);
int open311_datatype_parse(const char *s); /* -1 if unknown */

struct open311_attribute {
	char code[64];
	enum open311_datatype datatype;
	bool required;
	bool variable;
	char description[1024];
	char datatype_description[1024];
	int64_t order;
	json_t *values; /* owned: [{"key":"...","name":"..."}], [] for other types */
};

struct open311_attrs {
	struct open311_attribute *v; /* owned */
	size_t n;
};

/* The attributes of a category in their order. */
int open311_attrs_load(struct db *db, int64_t tenant_id, int64_t category_id,
		       struct open311_attrs *out, struct err *e);
void open311_attrs_release(struct open311_attrs *a);

/* Write-job argument of open311_attrs_put: replace a category's attributes. */
struct open311_attrs_write {
	const struct actor *who;
	int64_t tenant_id;
	int64_t category_id;
	json_t *attributes; /* borrowed: [{code, datatype, required, variable, description,
			     * datatype_description, order, values: [{key, name}]}] */
	int64_t now;
};
/* Validates every item (errors name "attributes[i].field") and replaces the set. */
int open311_attrs_put(struct db *db, void *arg, struct err *e);

/* ---- filing a request ---- */

#define OPEN311_MAX_ATTR_VALUES 64

/* A validated POST, ready for the write job. Strings are borrowed from the form. */
struct open311_submission {
	const struct actor *who; /* the API key's user */
	int64_t tenant_id;
	int64_t session_id;      /* the API key */
	int64_t now;
	struct open311_service service;
	/* the request */
	const char *content;     /* the description, or content_buf */
	char content_buf[768];   /* made from the service and the address without a description */
	char contact_name[160];
	const char *phone, *address, *address_id, *email, *device_id, *account_id, *media_url;
	bool has_location;
	double lat, lon;
	int64_t enterprise_id;   /* the key's enterprise, if an enterprise user filed it */
	size_t nattr;
	struct {
		char code[64];
		const char *value;  /* borrowed from the form */
	} attr[OPEN311_MAX_ATTR_VALUES];
	/* out */
	int64_t id;
	char number[24];
};

/*
 * Check a POST form against the service it names and fill s (who, tenant_id,
 * session_id and now set by the caller). Reads only (a reader connection).
 * Unknown keys, a missing or unknown service_code (ERR_NOT_FOUND), a missing
 * location, bad contact data, unknown attributes, missing required ones and
 * values that do not fit their datatype fail naming the form key.
 */
int open311_submission_prepare(struct db *db, const struct open311_form *f,
			       struct open311_submission *s, struct err *e);
/* Write job (arg = struct open311_submission *): the request, its Open311 row and answers. */
int open311_submit(struct db *db, void *arg, struct err *e);

/* ---- reading requests ---- */

struct open311_request {
	int64_t id;
	char number[24];       /* our readable number: the Open311 token */
	bool closed;
	char service_code[64];
	char service_name[256];
	char *description;     /* heap; NULL when not public */
	char *status_notes;    /* heap; NULL if none */
	char agency[256];
	char service_notice[512];
	int64_t requested_at, updated_at, expected_at; /* expected 0 = no deadline yet */
	char address[512];
	char address_id[128];
	bool has_location;
	double lat, lon;
	char media_url[1024];
};
void open311_request_release(struct open311_request *r);

/* Query of GET requests: the spec's filters and the page extensions. */
#define OPEN311_MAX_CODES 16
#define OPEN311_MAX_IDS 1000
#define OPEN311_MAX_SPAN_MS (90LL * 86400000)

struct open311_query {
	int64_t ids[OPEN311_MAX_IDS]; /* service_request_id: overrides everything else */
	size_t nids;
	const char *codes[OPEN311_MAX_CODES];
	size_t ncodes;
	bool has_start, has_end, has_updated_after, has_updated_before;
	int64_t start, end;           /* requested_datetime, inclusive */
	int64_t updated_after, updated_before; /* updated_datetime, exclusive */
	bool open, closed;            /* status; both false = any */
	int64_t page, page_size;      /* 1-based; 1000 at most */
};

/*
 * Apply the spec's defaults to q at `now`: without start_date, end_date,
 * updated_after and updated_before the range is the last 90 days; with only
 * one of start and end it is the 90 days after or before it; start and end
 * may not span more than 90 days. ERR_BAD_REQUEST naming the parameter.
 */
int open311_query_finish(struct open311_query *q, int64_t now, struct err *e);
int open311_request_list(struct db *db, int64_t tenant_id, const struct open311_query *q,
			 int (*each)(const struct open311_request *r, void *ctx), void *ctx,
			 struct err *e);
/* One public request; ERR_NOT_FOUND naming service_request_id. */
int open311_request_get(struct db *db, int64_t tenant_id, int64_t id,
			struct open311_request *out, struct err *e);
/* The request id behind a token (our request number); ERR_NOT_FOUND naming token. */
int open311_token_get(struct db *db, int64_t tenant_id, const char *token, int64_t *id,
		      struct err *e);

#endif
