
/*
 * "Try it" for rules and the FAQ (admin tokens; docs/automation.md "HTTP API"):
 *
 *   POST <api>/sites/<site>/rules/try  {"text"?, "when"?, "attrs"?, "page"?,
 *       "group"?, "state"?, "event"?: {"name", "data"}, "lang"?, "hours"?,
 *       "rules"?: unsaved rules}  ->  {"rules": [{"id", "name"?, "fires",
 *       "why", "not"?, "actions"}]}
 *   POST <api>/sites/<site>/faq/try  {"text", "lang"?, "faq"?: unsaved}
 *       ->  {"decision", "entries": [{"id", "question", "score", "why"}]}
 *
 * Nothing is stored and nothing is sent: the stored settings' compiled
 * rules and FAQ (this worker's), or the unsaved ones given, checked as a
 * PUT of the settings would check them.
 */


#include "ngx_kefu_api.h"
#include "ngx_kefu_settings.h"
#include "ngx_kefu_bot.h"


static ngx_int_t ngx_kefu_api_bot_conf(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body, const char *key,
    ngx_kefu_bot_conf_t **bc, ngx_kefu_bot_conf_t **own, ngx_str_t *field,
    ngx_str_t *err);
static ngx_int_t ngx_kefu_api_bot_bad(ngx_http_request_t *r,
    const char *field, const char *err);
static ngx_int_t ngx_kefu_api_rules_try_input(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body, ngx_kefu_rule_ctx_t *ctx);
static ngx_int_t ngx_kefu_api_rules_try_when(ngx_http_request_t *r,
    json_t *body, ngx_kefu_rule_ctx_t *ctx);
static ngx_int_t ngx_kefu_api_rules_try_conv(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body, ngx_kefu_rule_ctx_t *ctx);


static ngx_int_t
ngx_kefu_api_bot_bad(ngx_http_request_t *r, const char *field,
    const char *err)
{
    return ngx_kefu_api_send(r, NGX_HTTP_BAD_REQUEST,
               json_pack("{s:{s:s,s:o,s:s}}", "error", "code", "bad_request",
                         "message", json_sprintf("%s: %s", field, err),
                         "field", field));
}


/*
 * The stored settings' compiled form, or one of the unsaved body[key]:
 * NGX_OK, NGX_DECLINED (the field and what is wrong) or NGX_ERROR.
 */

static ngx_int_t
ngx_kefu_api_bot_conf(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body, const char *key, ngx_kefu_bot_conf_t **bc,
    ngx_kefu_bot_conf_t **own, ngx_str_t *field, ngx_str_t *err)
{
    json_t              *v, *doc;
    ngx_kefu_site_rt_t  *rt;

    *own = NULL;
    *bc = NULL;
    v = json_object_get(body, key);

    if (v == NULL || json_is_null(v)) {
        rt = api->site->rt;
        *bc = rt ? rt->bot : NULL;
        return NGX_OK;
    }

    doc = json_pack("{s:O}", key, v);
    if (doc == NULL) {
        return NGX_ERROR;
    }

    if (ngx_kefu_bot_check(doc, r->pool, field, err) != NGX_OK) {
        json_decref(doc);
        return NGX_DECLINED;
    }

    *own = ngx_kefu_bot_compile(doc, r->connection->log);
    json_decref(doc);

    if (*own == NULL) {
        return NGX_ERROR;
    }

    *bc = *own;

    return NGX_OK;
}


static ngx_uint_t
ngx_kefu_api_bot_str(json_t *v, size_t max)
{
    return v == NULL || (json_is_string(v) && json_string_length(v) <= max);
}


ngx_int_t
ngx_kefu_api_rules_try(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body)
{
    json_t               *res;
    ngx_int_t             rc;
    ngx_str_t             field, err;
    ngx_kefu_rule_ctx_t   ctx;
    ngx_kefu_bot_conf_t  *bc, *own;

    if (!api->admin) {
        return ngx_kefu_api_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                  "rules are tried with admin tokens");
    }

    ngx_memzero(&ctx, sizeof(ngx_kefu_rule_ctx_t));

    rc = ngx_kefu_api_rules_try_input(r, api, body, &ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_kefu_api_rules_try_when(r, body, &ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_kefu_api_rules_try_conv(r, api, body, &ctx);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_kefu_api_bot_conf(r, api, body, "rules", &bc, &own, &field,
                               &err);
    if (rc == NGX_DECLINED) {
        /* a bad unsaved document: 400 naming the field, as PUT settings */
        return ngx_kefu_api_bad_field(r, &field, &err);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    res = ngx_kefu_rules_eval(bc, &ctx, 1, r->pool);
    ngx_kefu_bot_conf_free(own);

    if (res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_send(r, NGX_HTTP_OK,
                             json_pack("{s:o}", "rules", res));
}


/* the message's text and the event tried */

static ngx_int_t
ngx_kefu_api_rules_try_input(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body, ngx_kefu_rule_ctx_t *ctx)
{
    json_t  *v, *ev;

    v = json_object_get(body, "text");

    if (!ngx_kefu_api_bot_str(v, api->kcf->max_text)) {
        return ngx_kefu_api_bot_bad(r, "text", "must be a string of at most "
                                    "kefu_max_text bytes");
    }

    if (v) {
        ctx->text.data = (u_char *) json_string_value(v);
        ctx->text.len = json_string_length(v);
    }

    ev = json_object_get(body, "event");

    if (ev && !(json_is_object(ev)
                && json_is_string(json_object_get(ev, "name"))
                && (json_object_get(ev, "data") == NULL
                    || json_is_object(json_object_get(ev, "data")))))
    {
        return ngx_kefu_api_bot_bad(r, "event", "must be {\"name\", "
                                    "\"data\"?: {...}}");
    }

    if (ev) {
        ctx->event = json_string_value(json_object_get(ev, "name"));
        ctx->data = json_object_get(ev, "data");
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_kefu_api_rules_try_when(ngx_http_request_t *r, json_t *body,
    ngx_kefu_rule_ctx_t *ctx)
{
    json_t      *when, *type, *v;
    ngx_uint_t   k;
    const char  *s;
    const char  *types[] = { "message", "conv_created", "event",
                             "waiting", "offline", NULL };

    /* the trigger: when.type, else an event's, else a message */
    when = json_object_get(body, "when");
    ctx->when = json_object_get(body, "event") ? NGX_KEFU_WHEN_EVENT
                                               : NGX_KEFU_WHEN_MESSAGE;

    if (when) {
        type = json_object_get(when, "type");
        s = json_is_string(type) ? json_string_value(type) : "";

        for (k = 0; types[k]; k++) {
            if (ngx_strcmp(s, types[k]) == 0) {
                break;
            }
        }

        if (!json_is_object(when) || types[k] == NULL) {
            return ngx_kefu_api_bot_bad(r, "when.type", "must be message, "
                                        "conv_created, event, waiting or "
                                        "offline");
        }

        ctx->when = k;

        v = json_object_get(when, "name");

        if (v && !json_is_string(v)) {
            return ngx_kefu_api_bot_bad(r, "when.name", "must be a string");
        }

        if (v) {
            ctx->event = json_string_value(v);
        }

        v = json_object_get(when, "seconds");

        if (v && !json_is_integer(v)) {
            return ngx_kefu_api_bot_bad(r, "when.seconds", "must be an "
                                        "integer (how long it waited)");
        }

        ctx->waited = v ? json_integer_value(v) : 0;
    }

    return NGX_DECLINED;
}


/* the conversation the rules see: attrs, page, group, state, hours, lang */

static ngx_int_t
ngx_kefu_api_rules_try_conv(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body, ngx_kefu_rule_ctx_t *ctx)
{
    json_t              *v;
    const char          *s;
    ngx_kefu_site_rt_t  *rt;

    ctx->attrs = json_object_get(body, "attrs");

    if (ctx->attrs && !json_is_object(ctx->attrs)) {
        return ngx_kefu_api_bot_bad(r, "attrs", "must be an object");
    }

    v = json_object_get(body, "page");

    if (!ngx_kefu_api_bot_str(v, 2048)) {
        return ngx_kefu_api_bot_bad(r, "page", "must be a string");
    }

    if (v) {
        ctx->page.data = (u_char *) json_string_value(v);
        ctx->page.len = json_string_length(v);
    }

    v = json_object_get(body, "group");

    if (!ngx_kefu_api_bot_str(v, NGX_KEFU_API_MAX_NAME)) {
        return ngx_kefu_api_bot_bad(r, "group", "must be a group name");
    }

    if (v) {
        ctx->group.data = (u_char *) json_string_value(v);
        ctx->group.len = json_string_length(v);

    } else {
        ctx->group = api->site->default_group;
    }

    v = json_object_get(body, "state");
    s = json_is_string(v) ? json_string_value(v) : "";

    if (v && ngx_strcmp(s, "bot") != 0 && ngx_strcmp(s, "queued") != 0
        && ngx_strcmp(s, "open") != 0)
    {
        return ngx_kefu_api_bot_bad(r, "state", "must be bot, queued or "
                                    "open");
    }

    ctx->state = v ? s : NULL;

    /* business hours: as given, else the site's now */
    v = json_object_get(body, "hours");
    s = json_is_string(v) ? json_string_value(v) : "";

    if (v && ngx_strcmp(s, "inside") != 0 && ngx_strcmp(s, "outside") != 0) {
        return ngx_kefu_api_bot_bad(r, "hours", "must be inside or outside");
    }

    rt = api->site->rt;
    ctx->hours = v ? (ngx_strcmp(s, "inside") == 0)
                  : (rt == NULL || rt->open);

    v = json_object_get(body, "lang");

    if (v && !(json_is_string(v)
               && (ngx_strcmp(json_string_value(v), "zh") == 0
                   || ngx_strcmp(json_string_value(v), "en") == 0)))
    {
        return ngx_kefu_api_bot_bad(r, "lang", "must be zh or en");
    }

    return NGX_DECLINED;
}


ngx_int_t
ngx_kefu_api_faq_try(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body)
{
    json_t               *text, *lang, *res;
    ngx_int_t             rc;
    ngx_str_t             field, err;
    ngx_uint_t            en;
    ngx_kefu_bot_conf_t  *bc, *own;

    if (!api->admin) {
        return ngx_kefu_api_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                  "the FAQ is tried with admin tokens");
    }

    text = json_object_get(body, "text");

    if (!json_is_string(text) || json_string_length(text) == 0
        || json_string_length(text) > api->kcf->max_text)
    {
        return ngx_kefu_api_bot_bad(r, "text", "must be a non-empty string "
                                    "of at most kefu_max_text bytes");
    }

    lang = json_object_get(body, "lang");

    if (lang && !(json_is_string(lang)
                  && (ngx_strcmp(json_string_value(lang), "zh") == 0
                      || ngx_strcmp(json_string_value(lang), "en") == 0)))
    {
        return ngx_kefu_api_bot_bad(r, "lang", "must be zh or en");
    }

    en = lang && ngx_strcmp(json_string_value(lang), "en") == 0;

    rc = ngx_kefu_api_bot_conf(r, api, body, "faq", &bc, &own, &field,
                               &err);
    if (rc == NGX_DECLINED) {
        /* a bad unsaved document: 400 naming the field, as PUT settings */
        return ngx_kefu_api_bad_field(r, &field, &err);
    }

    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    res = ngx_kefu_faq_decide(bc, (u_char *) json_string_value(text),
                              json_string_length(text), en, r->pool);
    ngx_kefu_bot_conf_free(own);

    if (res == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_send(r, NGX_HTTP_OK, res);
}
