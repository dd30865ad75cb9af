/*
 * api_ecode.c — 政企码: an enterprise's signed code (JSON, SVG, PNG), the
 * public card a scan opens (JSON and a small HTML page), the rotating
 * check-in code the enterprise shows, and its verification by inspectors.
 *
 * Reading a code needs enterprise.read with the enterprise in scope (else
 * 404); the check-in code is shown only to the enterprise itself
 * (enterprise.self); verifying needs checkin.verify and leaves an audit row
 * (entity "checkin") for every attempt, right or wrong. The public routes
 * take the tenant from the verified token: no login, no lookup table.
 */
#include "api/api.h"

#include <string.h>

#include "base/arena.h"
#include "base/jsonv.h"
#include "base/util.h"
#include "core/ecode.h"
#include "core/enterprise.h"
#include "base/banned.h"

#define IMAGE_MAX (32u << 20)

/* Where the portal lets an enterprise raise a request with its code. */
#define REQUEST_PATH "/#/portal/requests/new?enterprise_code="

static int no_enterprise(struct req *r)
{
	return req_fail(r, ERR_NOT_FOUND, "id", "找不到该企业", "no such enterprise");
}

/* The enterprise of the {id} parameter if the caller's scope reaches it; an
 * enterprise out of scope answers exactly like one that does not exist. */
static int load_enterprise(struct req *r, struct enterprise *en)
{
	int64_t id;
	int rc = req_param_id(r, "id", &id);
	if (rc)
		return rc;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	rc = enterprise_get(db, r->actor.tenant_id, id, en, &r->err);
	if (rc == ERR_NOT_FOUND)
		return no_enterprise(r);
	if (rc)
		return rc;
	struct scope_row row = {.enterprise_id = en->id, .grid_id = en->grid_id,
				.grid_path = en->grid_path};
	if (!scope_allows(&r->actor, r->scope, &row))
		return no_enterprise(r);
	return 0;
}

/* Sign the enterprise's code, creating the tenant's first signing key if needed. */
static int sign_code(struct req *r, const struct enterprise *en, char tok[ECODE_TOKEN_MAX],
		     int64_t *kid)
{
	int64_t now = now_ms();
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	int rc = ecode_sign(db, r->actor.tenant_id, en->id, now, tok, kid, &r->err);
	if (rc != ERR_NOT_FOUND)
		return rc;
	struct ecode_key_job j = {.who = &r->actor, .tenant_id = r->actor.tenant_id, .now = now};
	err_clear(&r->err);
	rc = req_write(r, ecode_ensure_key, &j);
	if (!rc)
		rc = ecode_sign(db, r->actor.tenant_id, en->id, now, tok, kid, &r->err);
	return rc;
}

static int h_code(struct req *r)
{
	struct enterprise en;
	char tok[ECODE_TOKEN_MAX];
	int64_t kid = 0;
	struct buf url;
	int rc = load_enterprise(r, &en);
	if (!rc)
		rc = sign_code(r, &en, tok, &kid);
	if (rc)
		return rc;
	buf_init(&url, 0);
	ecode_url(r->app->cfg.public_url, tok, &url);
	json_t *out = json_pack("{s:s,s:s,s:I,s:I}", "url", url.p, "token", tok, "kid",
				(json_int_t)kid, "enterprise_id", (json_int_t)en.id);
	buf_release(&url);
	return reply_json(r, 200, out);
}

/* The code as an image: svg (with the name as caption) or png (?scale=). */
static int code_image(struct req *r, bool svg)
{
	struct enterprise en;
	char tok[ECODE_TOKEN_MAX];
	int64_t kid = 0, scale = ECODE_QR_SCALE_DEFAULT;
	struct buf url, img;
	int rc = load_enterprise(r, &en);
	if (!rc && !svg)
		rc = req_query_int(r, "scale", ECODE_QR_SCALE_DEFAULT, 1, ECODE_QR_SCALE_MAX,
				   &scale);
	if (!rc)
		rc = sign_code(r, &en, tok, &kid);
	if (rc)
		return rc;
	buf_init(&url, 0);
	buf_init(&img, IMAGE_MAX);
	ecode_url(r->app->cfg.public_url, tok, &url);
	if (svg)
		rc = ecode_qr_svg(url.p, en.name, &img, &r->err);
	else
		rc = ecode_qr_png(url.p, (int)scale, &img, &r->err);
	if (!rc)
		reply_raw(r, 200, svg ? "image/svg+xml; charset=utf-8" : "image/png", img.p,
			  img.len);
	buf_release(&img);
	buf_release(&url);
	return rc;
}

static int h_code_svg(struct req *r)
{
	return code_image(r, true);
}

static int h_code_png(struct req *r)
{
	return code_image(r, false);
}

static int h_checkin_code(struct req *r)
{
	struct enterprise en;
	struct ecode_checkin c;
	int rc = load_enterprise(r, &en);
	if (!rc)
		rc = ecode_checkin_current(req_db(r), r->actor.tenant_id, en.id, now_ms(), &c,
					   &r->err);
	if (rc)
		return rc;
	return reply_json(r, 200,
			  json_pack("{s:I,s:s,s:s,s:I,s:I,s:I}", "enterprise_id", (json_int_t)en.id,
				    "code", c.code, "qr_token", c.token, "step", (json_int_t)c.step,
				    "next_at", (json_int_t)c.next_at, "expires_at",
				    (json_int_t)c.expires_at));
}

static int h_verify(struct req *r)
{
	static const char *const allowed[] = {"enterprise_id", "code", "qr_token", NULL};
	struct ecode_checkin_attempt a = {.who = &r->actor,
					  .tenant_id = r->actor.tenant_id,
					  .now = now_ms(),
					  .window = ECODE_CHECKIN_WINDOW};
	json_t *b = req_body_json(r);
	if (!b)
		return r->err.code;
	int rc = jsonv_only(b, allowed, &r->err);
	if (!rc)
		rc = jsonv_str(b, "qr_token", false, 64, &a.token, &r->err);
	if (!rc && a.token && (jsonv_has(b, "code") || jsonv_has(b, "enterprise_id")))
		rc = req_fail(r, ERR_BAD_REQUEST, "qr_token",
			      "请提供 enterprise_id 和 code，或只提供 qr_token",
			      "give either enterprise_id and code, or qr_token alone");
	if (!rc && !a.token) {
		rc = jsonv_int(b, "enterprise_id", true, 1, INT64_MAX, &a.enterprise_id, &r->err);
		if (!rc)
			rc = jsonv_str(b, "code", true, 16, &a.code, &r->err);
	}
	if (rc)
		return rc;
	rc = req_write(r, ecode_checkin_verify, &a);
	if (rc)
		return rc;
	if (a.limited) {
		req_header_add(r, "Retry-After", "600");
		return req_fail(
			r, ERR_RATE_LIMITED, a.token ? "qr_token" : "code",
			"该企业的签到码错误次数过多，请 10 分钟后再试",
			"too many wrong check-in codes for this enterprise; try again in 10 "
			"minutes");
	}
	if (!a.ok)
		return req_fail(r, ERR_UNPROCESSABLE, a.token ? "qr_token" : "code",
				"签到码已过期或错误", "check-in code expired or wrong");
	struct enterprise en;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	rc = enterprise_get(db, r->actor.tenant_id, a.enterprise_id, &en, &r->err);
	if (rc)
		return rc;
	json_t *ent = json_pack("{s:I,s:s,s:s}", "id", (json_int_t)en.id, "name", en.name,
				"credit_code", en.credit_code);
	return reply_json(r, 200,
			  json_pack("{s:b,s:o,s:I,s:I}", "ok", 1, "enterprise", ent, "verified_at",
				    (json_int_t)a.now, "step", (json_int_t)a.step));
}

/* ---- public: what a scan of the code opens ---- */

static bool out_of_business(const struct enterprise *en)
{
	return strcmp(en->status, "deregistered") == 0 || strcmp(en->status, "revoked") == 0;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/*
 * The enterprise a token names. A bad token and an unknown enterprise give one
 * answer; a deregistered or revoked one is 404 too, saying so.
 */
static int public_enterprise(struct req *r, struct enterprise *en)
{
	struct ecode_claims c;
	struct db *db = req_db(r);
	if (!db)
		return r->err.code;
	int rc = ecode_verify(db, 0, req_param(r, "token"), &c, &r->err);
	if (!rc)
		rc = enterprise_get(db, c.tenant_id, c.enterprise_id, en, &r->err);
	if (rc == ERR_NOT_FOUND)
		return req_fail(r, ERR_NOT_FOUND, "token", "找不到该政企码",
				"no such enterprise code");
	if (rc)
		return rc;
	if (out_of_business(en))
		return req_fail(r, ERR_NOT_FOUND, "token", "该企业已注销或被吊销，不再经营",
				"the enterprise is no longer in business");
	return 0;
}

static int h_public_card(struct req *r)
{
	struct enterprise en;
	int rc = public_enterprise(r, &en);
	if (rc)
		return rc;
	const char *tok = req_param(r, "token");
	char *req_path = arena_printf(r->arena, REQUEST_PATH "%s", tok);
	return reply_json(
		r, 200,
		json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s,s:s}", "name", en.name,
			  "credit_code", en.credit_code, "kind", en.kind, "kind_zh",
			  or_empty(enterprise_kind_zh(en.kind)), "status", en.status, "status_zh",
			  or_empty(enterprise_status_zh(en.status)), "address", en.address,
			  "industry_section", en.industry_section, "industry_section_zh",
			  or_empty(industry_section_zh(en.industry_section)), "industry_division",
			  en.industry_division, "request_path", req_path));
}

/* Append s HTML-escaped (text and attribute values). */
static void html(struct buf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '&':
			buf_adds(b, "&amp;");
			break;
		case '<':
			buf_adds(b, "&lt;");
			break;
		case '>':
			buf_adds(b, "&gt;");
			break;
		case '"':
			buf_adds(b, "&quot;");
			break;
		case '\'':
			buf_adds(b, "&#39;");
			break;
		default:
			buf_addc(b, *s);
		}
	}
}

static const char page_head[] =
	"<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n<meta charset=\"utf-8\">\n"
	"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	"<meta name=\"referrer\" content=\"no-referrer\">\n<title>";

static const char page_style[] =
	"</title>\n<style>\n"
	"body{margin:0;font-family:system-ui,-apple-system,\"PingFang SC\",\"Microsoft YaHei\","
	"sans-serif;background:#f4f5f7;color:#1f2329;line-height:1.5}\n"
	"main{max-width:36rem;margin:0 auto;padding:1rem}\n"
	".card{background:#fff;border-radius:.5rem;padding:1rem 1.25rem;"
	"box-shadow:0 1px 3px rgba(0,0,0,.12)}\n"
	"h1{font-size:1.3rem;margin:.25rem 0 1rem}\n"
	".tag{font-size:.8rem;color:#c0392b;letter-spacing:.1em}\n"
	"dl{margin:0}dt{color:#646a73;font-size:.85rem;margin-top:.6rem}dd{margin:0;"
	"word-break:break-all}\n"
	".btn{display:block;text-align:center;margin:1.25rem 0;padding:.8rem;border-radius:.4rem;"
	"background:#c0392b;color:#fff;text-decoration:none;font-weight:600}\n"
	".note{font-size:.85rem;color:#646a73;border-left:3px solid #c0392b;padding-left:.75rem}\n"
	"</style>\n</head>\n<body>\n<main>\n";

static void page_end(struct buf *b)
{
	buf_adds(b, "</main>\n</body>\n</html>\n");
}

static void html_field(struct buf *b, const char *label, const char *value)
{
	buf_adds(b, "<dt>");
	buf_adds(b, label);
	buf_adds(b, "</dt><dd>");
	html(b, *value ? value : "—");
	buf_adds(b, "</dd>\n");
}

static int reply_page(struct req *r, int status, struct buf *b)
{
	reply_raw(r, status, "text/html; charset=utf-8", b->p, b->len);
	req_header_add(r, "Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
			     "form-action 'none'; frame-ancestors 'none'");
	buf_release(b);
	return 0;
}

static int h_public_page(struct req *r)
{
	struct enterprise en;
	struct buf b;
	buf_init(&b, 0);
	buf_adds(&b, page_head);
	if (public_enterprise(r, &en)) {
		/* A page, not the JSON error: a phone's browser opened this. */
		buf_adds(&b, "政企码无效 / Invalid code");
		buf_adds(&b, page_style);
		buf_adds(&b,
			 "<div class=\"card\"><p class=\"tag\">政企码 · ENTERPRISE CODE</p><h1>");
		html(&b, r->err.message_zh);
		buf_adds(&b, "</h1><p>");
		html(&b, r->err.message);
		buf_adds(&b, "</p></div>\n");
		page_end(&b);
		int status = err_http_status(r->err.code);
		err_clear(&r->err);
		return reply_page(r, status, &b);
	}
	const char *tok = req_param(r, "token");
	const char *sec = industry_section_zh(en.industry_section);
	char industry[160];
	snprintf(industry, sizeof industry, "%s%s%s%s%s", en.industry_section, sec ? " " : "",
		 sec ? sec : "", en.industry_division[0] ? " / " : "", en.industry_division);
	buf_adds(&b, "政企码 · ");
	html(&b, en.name);
	buf_adds(&b, page_style);
	buf_adds(&b, "<div class=\"card\">\n<p class=\"tag\">政企码 · ENTERPRISE CODE</p>\n<h1>");
	html(&b, en.name);
	buf_adds(&b, "</h1>\n<dl>\n");
	html_field(&b, "统一社会信用代码 / Credit code", en.credit_code);
	html_field(&b, "类型 / Kind", or_empty(enterprise_kind_zh(en.kind)));
	html_field(&b, "状态 / Status", or_empty(enterprise_status_zh(en.status)));
	html_field(&b, "地址 / Address", en.address);
	html_field(&b, "行业 / Industry", industry);
	buf_adds(&b, "</dl>\n</div>\n");
	/* The web portal (a later issue) handles this path: it opens the request
	 * form with the enterprise taken from enterprise_code, after the
	 * enterprise logs in. */
	buf_adds(&b, "<a class=\"btn\" href=\"" REQUEST_PATH);
	html(&b, tok);
	buf_adds(&b, "\">提出诉求 / Raise a request</a>\n");
	buf_adds(
		&b,
		"<p class=\"note\">执法人员须知：入企检查前请登录易企办，核验企业出示的动态签到码，"
		"每次入企均记录在案、可追溯；企业有权拒绝无码检查。<br>"
		"For inspectors: before entering, log in to yiqiban and verify the rotating "
		"check-in code the enterprise shows you. Every visit is recorded and traceable; "
		"an enterprise may refuse an inspection without a code.</p>\n");
	page_end(&b);
	return reply_page(r, 200, &b);
}

const struct route api_ecode_routes[] = {
	{"GET", "/api/v1/enterprises/{id}/code", h_code, PERM_ENTERPRISE_READ, 0, 0,
	 "企业的政企码（链接与令牌）/ an enterprise's code (URL and token)"},
	{"GET", "/api/v1/enterprises/{id}/code.svg", h_code_svg, PERM_ENTERPRISE_READ, 0, 0,
	 "政企码二维码 SVG / the code as an SVG QR image"},
	{"GET", "/api/v1/enterprises/{id}/code.png", h_code_png, PERM_ENTERPRISE_READ, 0, 0,
	 "政企码二维码 PNG / the code as a PNG QR image"},
	{"GET", "/api/v1/enterprises/{id}/checkin-code", h_checkin_code, PERM_ENTERPRISE_SELF, 0, 0,
	 "企业当前的动态签到码 / the enterprise's current check-in code"},
	{"POST", "/api/v1/checkin/verify", h_verify, PERM_CHECKIN_VERIFY, 4096, 0,
	 "核验签到码（扫码入企）/ verify an enterprise's check-in code on site"},
	{"GET", "/api/v1/public/e/{token}", h_public_card, PERM_PUBLIC, 0, 0,
	 "扫码查看企业公开信息 / the public card a scanned code opens"},
	{"GET", "/e/{token}", h_public_page, PERM_PUBLIC, 0, 0,
	 "扫码落地页（HTML）/ the page a scanned code opens (HTML)"},
	{0},
};
