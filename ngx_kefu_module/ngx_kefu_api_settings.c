
/*
 * The site's settings over the HTTP API (docs/api.md, "Site settings"):
 * GET <api>/sites/<site>/settings reads them (admin and service tokens),
 * PUT replaces the stored document (admin tokens).  A bad document is 400
 * with "field" naming what is wrong.
 */


#include "ngx_kefu_api.h"
#include "ngx_kefu_settings.h"


static ngx_int_t ngx_kefu_api_settings_got(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_settings_put_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_settings_answer(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *stored, int64_t version);


ngx_int_t
ngx_kefu_api_settings_get(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body)
{
    ngx_kefu_call_t  call;

    if (ngx_kefu_settings_get_args(&call, &api->site->name) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_settings_get, &call,
                                  ngx_kefu_api_settings_got);
}


static ngx_int_t
ngx_kefu_api_settings_got(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    json_t     *stored;
    ngx_int_t   rc;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        return ngx_kefu_api_unavailable(r);
    }

    stored = reply->element[0]->len
             ? json_loadb(reply->element[0]->str, reply->element[0]->len, 0,
                          NULL)
             : NULL;

    rc = ngx_kefu_api_settings_answer(r, api, stored,
                                      ngx_kefu_api_int(reply->element[1]));

    if (stored) {
        json_decref(stored);
    }

    return rc;
}


/* the body is the whole document: {"hours": .., "texts": .., ...} */

ngx_int_t
ngx_kefu_api_settings_put(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body)
{
    char        *doc;
    u_char          *by;
    ngx_int_t        rc;
    ngx_str_t        field, err, d, b;
    ngx_kefu_call_t  call;

    if (!api->admin) {
        return ngx_kefu_api_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                  "settings are changed with admin tokens");
    }

    if (ngx_kefu_settings_check(body, r->pool, r->connection->log, &field,
                                &err)
        != NGX_OK)
    {
        return ngx_kefu_api_bad_field(r, &field, &err);
    }

    doc = json_dumps(body, JSON_COMPACT);
    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    by = ngx_pnalloc(r->pool, api->sub.len + 2);
    if (by == NULL) {
        free(doc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* kept in the request's pool for the answer */
    api->action.len = ngx_strlen(doc);
    api->action.data = ngx_pnalloc(r->pool, api->action.len);
    if (api->action.data == NULL) {
        free(doc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(api->action.data, doc, api->action.len);

    d.data = (u_char *) doc;
    d.len = ngx_strlen(doc);
    b.data = by;
    b.len = ngx_sprintf(by, "m:%V", &api->sub) - by;

    if (ngx_kefu_settings_put_args(&call, &api->site->name, &d,
                                   ngx_kefu_now_ms(), &b)
        != NGX_OK)
    {
        free(doc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_kefu_api_eval_call(r, &ngx_kefu_script_settings_put, &call,
                                ngx_kefu_api_settings_put_done);

    free(doc);

    return rc;
}


static ngx_int_t
ngx_kefu_api_settings_put_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    json_t     *stored;
    ngx_int_t   rc;

    stored = json_loadb((char *) api->action.data, api->action.len, 0, NULL);

    if (reply->type != REDIS_REPLY_INTEGER) {
        if (stored) {
            json_decref(stored);
        }

        return ngx_kefu_api_unavailable(r);
    }

    rc = ngx_kefu_api_settings_answer(r, api, stored, reply->integer);

    if (stored) {
        json_decref(stored);
    }

    return rc;
}


static ngx_int_t
ngx_kefu_api_settings_answer(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *stored, int64_t version)
{
    return ngx_kefu_api_send(r, NGX_HTTP_OK,
               json_pack("{s:o,s:O,s:I}",
                         "settings", ngx_kefu_settings_merge(api->site,
                                                             stored),
                         "stored", stored ? stored : json_null(),
                         "version", (json_int_t) version));
}
