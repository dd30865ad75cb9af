/*
 * creditcode.h — the unified social credit code (统一社会信用代码, GB 32100-2015).
 *
 * 18 characters: registration department (1) + organisation type (1) +
 * region code GB/T 2260 (6) + organisation code GB 11714 (9, the last a check
 * digit) + check character (1), from the alphabet 0-9 A-H J-N P-R T U W-Y
 * (no I, O, Z, S, V). A wrong length or a character outside the alphabet is an
 * error; a failed check (organisation-code check digit or the mod-31 check
 * character) is a warning an administrator may override, because some codes
 * issued early in pilot areas are real but fail it.
 */
#ifndef YQ_CREDITCODE_H
#define YQ_CREDITCODE_H

#include <stdbool.h>

#include "base/err.h"

enum credit_check {
	CREDIT_OK = 0,
	CREDIT_BAD_LENGTH,     /* not 18 characters */
	CREDIT_BAD_CHAR,       /* a character outside the alphabet (after upper-casing) */
	CREDIT_BAD_ORG_CHECK,  /* organisation code check digit (position 17) is wrong */
	CREDIT_BAD_CHECK_CHAR, /* mod-31 check character (position 18) is wrong */
};

struct credit_result {
	enum credit_check status;
	int position;        /* 1-based position at fault (0 if none) */
	char normalized[19]; /* upper-cased code, NUL-terminated ("" for length errors) */
	char expected;       /* for check failures: the character the check expects */
	const char *entity_type; /* "enterprise", "individual", "cooperative" or "" (positions 1-2) */
};

/* Check s (leading/trailing spaces ignored, lower case accepted). */
void credit_code_check(const char *s, struct credit_result *out);

/*
 * Validate for storage. Length and alphabet errors are ERR_UNPROCESSABLE.
 * Check failures are ERR_UNPROCESSABLE too unless allow_bad_check, in which
 * case *warning is set and 0 returned. field names the input field.
 */
int credit_code_validate(const char *s, bool allow_bad_check, const char *field,
			 struct credit_result *out, bool *warning, struct err *e);

/* Compute the check character for the first 17 characters (must be in the alphabet); 0 if not. */
char credit_code_check_char(const char *first17);
/* Compute the organisation-code check character for positions 9-16; 0 if invalid. */
char credit_code_org_check(const char *org8);

#endif
