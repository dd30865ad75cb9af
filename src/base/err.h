/*
 * err.h — errors as values.
 *
 * Core functions that can fail take a `struct err *` and fill it: a code from
 * enum err_code, the input field at fault (may be empty), and a message in
 * Chinese and in English. The failing code never prints; the API layer turns
 * a struct err into {"error":{"code","message","message_zh","field"}} with the
 * matching HTTP status, the CLI prints it.
 */
#ifndef YQ_ERR_H
#define YQ_ERR_H

#include <stdbool.h>

enum err_code {
	ERR_OK = 0,
	ERR_BAD_REQUEST = -1,     /* 400 malformed input: JSON syntax, types, missing fields */
	ERR_UNAUTHENTICATED = -2, /* 401 no or expired credentials */
	ERR_FORBIDDEN = -3,       /* 403 authenticated, not allowed */
	ERR_NOT_FOUND = -4,       /* 404 */
	ERR_METHOD = -5,          /* 405 route exists, method does not */
	ERR_CONFLICT = -6,        /* 409 unique key taken, state changed */
	ERR_TOO_LARGE = -7,       /* 413 body over the limit */
	ERR_UNPROCESSABLE = -8,   /* 422 well-formed but violates a rule */
	ERR_RATE_LIMITED = -9,    /* 429 too many attempts, locked out */
	ERR_INTERNAL = -10,       /* 500 bug or environment failure */
	ERR_UNAVAILABLE = -11,    /* 503 shutting down, database not reachable */
};

struct err {
	int code;           /* enum err_code */
	char field[64];     /* input field at fault, "" if none; dotted path for nested */
	char message[256];  /* English, lowercase, says what failed */
	char message_zh[256]; /* Chinese */
};

/* Reset to ERR_OK with empty strings. */
void err_clear(struct err *e);

/*
 * Fill e and return code. zh_fmt and en_fmt are printf formats that consume
 * the same arguments in the same order. field may be NULL. Returns `code` so a
 * caller can write `return err_set(e, ...)`.
 */
int err_set(struct err *e, int code, const char *field, const char *zh_fmt,
	    const char *en_fmt, ...) __attribute__((format(printf, 5, 6)));

/* Like err_set with messages already formatted (each may need different arguments). */
int err_set_msg(struct err *e, int code, const char *field, const char *zh, const char *en);

/* Short machine code for the API ("bad_request", "forbidden", ...). */
const char *err_code_name(int code);

/* HTTP status for a code (400, 401, ...). */
int err_http_status(int code);

#endif
