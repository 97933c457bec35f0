
/*
 * Canned replies over the API (docs/api.md, "Canned replies"): the site's
 * (from its settings) and the caller's personal ones, kept in Redis; the
 * checks are ngx_kefu_canned.c's.
 *
 *   GET    <api>/sites/<site>/canned          the site's and the caller's
 *   PUT    <api>/sites/<site>/canned/<key>    the caller's, created/replaced
 *   DELETE <api>/sites/<site>/canned/<key>
 */


#include "ngx_kefu_api.h"
#include "ngx_kefu_canned.h"
#include "ngx_kefu_settings.h"


static ngx_int_t ngx_kefu_canned_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_canned_call(ngx_http_request_t *r,
    ngx_kefu_api_t *api, const char *op, const char *doc);


/* the settings' replies, then the caller's own */

ngx_int_t
ngx_kefu_api_canned_get(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body)
{
    if (!api->agent && !api->admin) {
        /* a service has no personal replies */
        return ngx_kefu_canned_done(r, api, NULL);
    }

    return ngx_kefu_canned_call(r, api, "get", "");
}


ngx_int_t
ngx_kefu_api_canned_put(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body)
{
    char       *doc;
    json_t     *e;
    ngx_int_t   rc;
    ngx_str_t   field, err;

    if (!api->agent && !api->admin) {
        return ngx_kefu_api_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                  "personal canned replies belong to agents "
                                  "and admins: the site's are in its "
                                  "settings");
    }

    if (json_object_get(body, "key")
        && !(json_is_string(json_object_get(body, "key"))
             && json_string_length(json_object_get(body, "key"))
                == api->id.len
             && ngx_strncmp(json_string_value(json_object_get(body, "key")),
                            api->id.data, api->id.len) == 0))
    {
        return ngx_kefu_api_send(r, NGX_HTTP_BAD_REQUEST,
                   json_pack("{s:{s:s,s:s,s:s}}", "error",
                             "code", "bad_request",
                             "message", "key: must be the key of the URL, "
                                        "or left out",
                             "field", "key"));
    }

    if (api->id.len > 64) {
        return ngx_kefu_api_send(r, NGX_HTTP_BAD_REQUEST,
                   json_pack("{s:{s:s,s:s,s:s}}", "error",
                             "code", "bad_request",
                             "message", "key: must be a shortcut of 1-64 "
                                        "characters [A-Za-z0-9._@-]",
                             "field", "key"));
    }

    if (ngx_kefu_canned_entry(body, r->pool, &field, &err, "", 0) != NGX_OK) {
        return ngx_kefu_api_bad_field(r, &field, &err);
    }

    e = json_deep_copy(body);
    if (e == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set_new(e, "key", json_stringn((char *) api->id.data,
                                               api->id.len));
    json_object_set_new(e, "updated", json_integer(ngx_kefu_now_ms()));

    doc = json_dumps(e, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(e);

    if (doc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the answer is the reply as stored */
    api->data = ngx_pnalloc(r->pool, ngx_strlen(doc) + 1);
    if (api->data == NULL) {
        free(doc);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(api->data, doc, ngx_strlen(doc) + 1);
    free(doc);

    rc = ngx_kefu_canned_call(r, api, "put", api->data);

    return rc;
}


ngx_int_t
ngx_kefu_api_canned_delete(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body)
{
    if (!api->agent && !api->admin) {
        return ngx_kefu_api_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                  "personal canned replies belong to agents "
                                  "and admins");
    }

    return ngx_kefu_canned_call(r, api, "del", "");
}


static ngx_int_t
ngx_kefu_canned_call(ngx_http_request_t *r, ngx_kefu_api_t *api,
    const char *op, const char *doc)
{
    u_char           who[2 + NGX_KEFU_MAX_ID_LEN];
    ngx_str_t        owner, o, d;
    ngx_kefu_call_t  call;

    if (api->sub.len > NGX_KEFU_MAX_ID_LEN) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    owner.data = who;
    owner.len = ngx_sprintf(who, "%c:%V", api->agent ? 'a' : 'm', &api->sub)
                - who;
    o.data = (u_char *) op;
    o.len = ngx_strlen(op);
    d.data = (u_char *) doc;
    d.len = ngx_strlen(doc);

    if (ngx_kefu_canned_args(&call, &api->site->name, &owner, &o, &api->id,
                             &d, 200)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_canned, &call,
                                  ngx_kefu_canned_done);
}


static ngx_int_t
ngx_kefu_canned_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    size_t                i;
    json_t               *site, *mine, *e;
    ngx_kefu_site_rt_t   *rt;

    if (r->method == NGX_HTTP_DELETE) {
        if (reply->type != REDIS_REPLY_INTEGER) {
            return ngx_kefu_api_unavailable(r);
        }

        if (reply->integer == 0) {
            return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                      "no canned reply of yours has this "
                                      "key");
        }

        return ngx_kefu_api_send(r, NGX_HTTP_OK,
                                 json_pack("{s:s%,s:b}", "key",
                                           api->id.data, api->id.len,
                                           "deleted", 1));
    }

    if (r->method == NGX_HTTP_PUT) {
        if (reply->type != REDIS_REPLY_INTEGER) {
            return ngx_kefu_api_unavailable(r);
        }

        if (reply->integer < 0) {
            return ngx_kefu_api_error(r, NGX_HTTP_CONFLICT, "conflict",
                                      "at most 200 canned replies each: "
                                      "delete one first");
        }

        e = json_loads(api->data, 0, NULL);

        return ngx_kefu_api_send(r, reply->integer == 1 ? NGX_HTTP_CREATED
                                                        : NGX_HTTP_OK,
                                 e);
    }

    mine = json_array();

    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        for (i = 0; mine && i < reply->elements; i++) {
            e = ngx_kefu_api_json(reply->element[i]);

            if (json_is_object(e)) {
                json_array_append_new(mine, e);

            } else {
                json_decref(e);
            }
        }

    } else if (reply) {
        json_decref(mine);
        return ngx_kefu_api_unavailable(r);
    }

    /* the worker's copy of the settings: at most a round trip behind */
    rt = api->site->rt;
    site = rt && rt->doc ? json_object_get(rt->doc, "canned") : NULL;

    return ngx_kefu_api_send(r, NGX_HTTP_OK,
                             json_pack("{s:o,s:o}",
                                       "site", site ? json_incref(site)
                                                    : json_array(),
                                       "personal", mine ? mine
                                                        : json_array()));
}
