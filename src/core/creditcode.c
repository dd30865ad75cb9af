/* creditcode.c — see creditcode.h and shared/reference/standards.md. */
#include "core/creditcode.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "base/banned.h"

static const char alphabet[] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
static const int weights18[17] = {1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28};
static const int weights_org[8] = {3, 7, 9, 10, 5, 8, 4, 2};

static int value31(char c)
{
	const char *p = c ? strchr(alphabet, c) : NULL;
	return p ? (int)(p - alphabet) : -1;
}

/* GB 11714: digits 0-9, letters A-Z count 10-35. */
static int value_org(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return -1;
}

char credit_code_check_char(const char *c)
{
	int sum = 0;
	for (int i = 0; i < 17; i++) {
		int v = value31(c[i]);
		if (v < 0)
			return 0;
		sum += v * weights18[i];
	}
	int r = 31 - sum % 31;
	return alphabet[r == 31 ? 0 : r];
}

char credit_code_org_check(const char *org)
{
	int sum = 0;
	for (int i = 0; i < 8; i++) {
		int v = value_org(org[i]);
		if (v < 0)
			return 0;
		sum += v * weights_org[i];
	}
	int r = 11 - sum % 11;
	return r == 10 ? 'X' : r == 11 ? '0' : (char)('0' + r);
}

void credit_code_check(const char *s, struct credit_result *out)
{
	memset(out, 0, sizeof *out);
	out->entity_type = "";
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	if (n != 18 || utf8_len(s, n) != 18) {
		out->status = CREDIT_BAD_LENGTH;
		return;
	}
	for (size_t i = 0; i < 18; i++)
		out->normalized[i] = (char)toupper((unsigned char)s[i]);
	out->normalized[18] = '\0';
	for (int i = 0; i < 18; i++)
		if (value31(out->normalized[i]) < 0) {
			out->status = CREDIT_BAD_CHAR;
			out->position = i + 1;
			return;
		}
	const char *c = out->normalized;
	if (c[0] == '9') {
		if (c[1] == '1')
			out->entity_type = "enterprise";
		else if (c[1] == '2')
			out->entity_type = "individual";
		else if (c[1] == '3')
			out->entity_type = "cooperative";
	}
	/* The organisation-code check digit; individual businesses registered
	 * without an organisation code carry other values there, so it is only
	 * checked where the nine characters form an organisation code. */
	char org = credit_code_org_check(c + 8);
	if (org && org != c[16]) {
		out->status = CREDIT_BAD_ORG_CHECK;
		out->position = 17;
		out->expected = org;
		return;
	}
	char want = credit_code_check_char(c);
	if (want != c[17]) {
		out->status = CREDIT_BAD_CHECK_CHAR;
		out->position = 18;
		out->expected = want;
	}
}

int credit_code_validate(const char *s, bool allow_bad_check, const char *field,
			 struct credit_result *out, bool *warning, struct err *e)
{
	credit_code_check(s ? s : "", out);
	if (warning)
		*warning = false;
	switch (out->status) {
	case CREDIT_OK:
		return 0;
	case CREDIT_BAD_LENGTH:
		return err_set(e, ERR_UNPROCESSABLE, field, "统一社会信用代码应为 18 位",
			       "credit code must have 18 characters");
	case CREDIT_BAD_CHAR:
		return err_set(e, ERR_UNPROCESSABLE, field,
			       "统一社会信用代码第 %d 位字符无效（不能使用 I、O、Z、S、V）",
			       "credit code has an invalid character at position %d (I, O, Z, S, V "
			       "are not used)",
			       out->position);
	case CREDIT_BAD_ORG_CHECK:
	case CREDIT_BAD_CHECK_CHAR:
		if (allow_bad_check) {
			if (warning)
				*warning = true;
			return 0;
		}
		return err_set(e, ERR_UNPROCESSABLE, field,
			       "统一社会信用代码第 %d 位校验未通过（应为 %c）；如确认代码无误，管理员可强制录入",
			       "credit code fails its check at position %d (expected '%c'); an "
			       "administrator may override if the code is known to be real",
			       out->position, out->expected);
	}
	return 0;
}
