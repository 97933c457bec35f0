
/*
 * The HTTP API's revocations (docs/api.md, "Revoking tokens"):
 * POST /sites/<site>/revocations adds a "jti" or a "sub" to the site's
 * denylist, GET lists it.  What every worker does with it is in
 * ngx_kefu_revoke.c.
 */


#include "ngx_kefu_api.h"
#include "ngx_kefu_revoke.h"


static const char *ngx_kefu_api_revoke_what(json_t *body, ngx_str_t *value,
    u_char *kind);
static const char *ngx_kefu_api_revoke_until(ngx_kefu_api_t *api,
    json_t *exp, int64_t ms, int64_t *t);
static ngx_int_t ngx_kefu_api_revoke_added(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_revoke_listed(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);


/*
 * {"jti": "..."} or {"sub": "..."}, and "exp": when the tokens it names
 * expire (seconds, as in a token; default and at most
 * NGX_KEFU_REVOKE_MAX_TTL from now).
 */

ngx_int_t
ngx_kefu_api_revoke(ngx_http_request_t *r, ngx_kefu_api_t *api, json_t *body)
{
    u_char          *p, *member, *head;
    int64_t          ms, t;
    ngx_str_t        value, m, h;
    u_char           kind;
    const char      *err;
    ngx_kefu_call_t  call;

    ms = ngx_kefu_now_ms();

    err = ngx_kefu_api_revoke_what(body, &value, &kind);

    if (err == NULL) {
        err = ngx_kefu_api_revoke_until(api, json_object_get(body, "exp"), ms,
                                        &t);
    }

    if (err) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request", err);
    }

    member = ngx_pnalloc(r->pool, 2 + value.len);
    head = ngx_pnalloc(r->pool, api->site->name.len + 2);

    if (member == NULL || head == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    member[0] = kind;
    member[1] = ':';
    ngx_memcpy(member + 2, value.data, value.len);

    p = ngx_cpymem(head, api->site->name.data, api->site->name.len);
    *p++ = ' ';
    *p++ = kind;

    m.data = member;
    m.len = 2 + value.len;
    h.data = head;
    h.len = p - head;

    if (ngx_kefu_revoke_add_args(&call, &api->site->name, &m, t, ms,
                                 NGX_KEFU_REVOKE_MAX, &h, &value)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* for the answer: the body is gone by then */
    api->id.data = member + 2;
    api->id.len = value.len;
    api->kind = kind;

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_revoke_add, &call,
                                  ngx_kefu_api_revoke_added);
}


/* what is revoked: a "jti" ('j') or a "sub" ('s'); NULL, or what is wrong */

static const char *
ngx_kefu_api_revoke_what(json_t *body, ngx_str_t *value, u_char *kind)
{
    u_char  *p;
    json_t  *jti, *sub, *v;

    jti = json_object_get(body, "jti");
    sub = json_object_get(body, "sub");

    if ((jti == NULL) == (sub == NULL)) {
        return "give one of \"jti\" and \"sub\"";
    }

    v = jti ? jti : sub;
    *kind = jti ? 'j' : 's';

    if (!json_is_string(v) || json_string_length(v) == 0
        || json_string_length(v) > NGX_KEFU_REVOKE_JTI_MAX
        || (sub && ngx_kefu_valid_id((u_char *) json_string_value(v),
                                     json_string_length(v))
                   != NGX_OK))
    {
        return jti ? "\"jti\" must be a string of 1-128 bytes"
                   : "\"sub\" must be an id of 1-128 characters "
                     "[A-Za-z0-9._:@-]";
    }

    value->data = (u_char *) json_string_value(v);
    value->len = json_string_length(v);

    /* a jti is any string: one with a space or a newline cannot be sent */
    for (p = value->data; p < value->data + value->len; p++) {
        if (*p < 0x21 || *p == 0x7f) {
            return "\"jti\" must not hold spaces or control characters";
        }
    }

    return NULL;
}


/* until when (ms) the entry holds: the tokens' "exp" plus the clock
 * leeway, at most NGX_KEFU_REVOKE_MAX_TTL from now; NULL, or what is
 * wrong */

static const char *
ngx_kefu_api_revoke_until(ngx_kefu_api_t *api, json_t *exp, int64_t ms,
    int64_t *t)
{
    double  d;

    if (exp == NULL || json_is_null(exp)) {
        *t = ms + NGX_KEFU_REVOKE_MAX_TTL;
        return NULL;
    }

    /* a NumericDate, as in the token: fractions allowed, and dropped */
    d = json_is_number(exp) ? json_number_value(exp) : -1;

    /* also false for a NaN */
    if (!(d >= 0 && d * 1000 <= (double) (ms + NGX_KEFU_REVOKE_MAX_TTL))) {
        return "\"exp\" must be the tokens' expiry in seconds, at most 366 "
               "days from now";
    }

    /* a token is taken until its exp plus the clock leeway */
    *t = (int64_t) d * 1000 + (int64_t) api->kmcf->token_leeway;

    return NULL;
}


static ngx_int_t
ngx_kefu_api_revoke_added(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    u_char      msg[128];
    json_t     *j;
    int64_t     until;
    ngx_str_t   id;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        return ngx_kefu_api_unavailable(r);
    }

    if (ngx_kefu_api_int(reply->element[0]) == 0 || reply->elements < 2) {
        *ngx_snprintf(msg, sizeof(msg) - 1, "the site's denylist holds %ui "
                      "entries already; they expire with their tokens",
                      (ngx_uint_t) NGX_KEFU_REVOKE_MAX) = '\0';
        return ngx_kefu_api_error(r, NGX_HTTP_CONFLICT, "conflict",
                                  (char *) msg);
    }

    id = api->id;
    until = ngx_kefu_api_int(reply->element[1]);

    ngx_kefu_revoke_added(api->kmcf, api->site, api->kind, &id, until);

    j = json_pack("{s:s%,s:I}", api->kind == 'j' ? "jti" : "sub",
                  (char *) id.data, id.len,
                  "until", (json_int_t) until);

    return ngx_kefu_api_send(r, NGX_HTTP_OK, j);
}


ngx_int_t
ngx_kefu_api_revocations(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body)
{
    ngx_kefu_revoke_list_t  list;

    ngx_kefu_revoke_list(&list, &api->site->name);

    return ngx_kefu_api_command(r, NGX_KEFU_REVOKE_LIST_ARGS, list.argv,
                                list.lens, ngx_kefu_api_revoke_listed);
}


static ngx_int_t
ngx_kefu_api_revoke_listed(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    size_t       i;
    json_t      *list, *e;
    redisReply  *m, *s;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_kefu_api_unavailable(r);
    }

    list = json_array();
    if (list == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    for (i = 0; i + 1 < reply->elements; i += 2) {
        m = reply->element[i];
        s = reply->element[i + 1];

        if (m->type != REDIS_REPLY_STRING || m->len < 3 || m->str[1] != ':') {
            continue;
        }

        e = json_pack("{s:s%,s:I}", m->str[0] == 'j' ? "jti" : "sub",
                      m->str + 2, (size_t) m->len - 2,
                      "until", (json_int_t) ngx_kefu_api_int(s));

        if (e == NULL || json_array_append_new(list, e) != 0) {
            json_decref(list);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_kefu_api_send(r, NGX_HTTP_OK,
                             json_pack("{s:o}", "revocations", list));
}
