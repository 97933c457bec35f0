
/*
 * The HTTP API: kefu_api on a prefix location.  JSON in and out, a Bearer
 * JWT of the site (role admin or service) on every request, every error
 * {"error":{"code","message"}} with its status.  URLs, bodies and replies
 * are in docs/api.md.
 *
 * A request waits for Redis holding one reference (r->main->count, taken
 * by the body reading or here) and gives it back with exactly one
 * ngx_http_finalize_request().  What the Redis reply handler gets is a
 * small heap record, never the request: a client that leaves meanwhile
 * runs the request's cleanup, which only clears the record's pointer, and
 * the late reply is then dropped.
 */


#include "ngx_kefu_api.h"
#include "ngx_kefu_jwt.h"
#include "ngx_kefu_revoke.h"
#include "ngx_kefu_settings.h"


static ngx_int_t ngx_kefu_api_handler(ngx_http_request_t *r);
static ngx_int_t ngx_kefu_api_route(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static ngx_int_t ngx_kefu_api_split(ngx_http_request_t *r, ngx_str_t *seg,
    ngx_uint_t *np);
static ngx_int_t ngx_kefu_api_endpoint(ngx_http_request_t *r,
    ngx_kefu_api_t *api, ngx_str_t *seg, ngx_uint_t n, ngx_uint_t *post,
    const char **allow);
static ngx_int_t ngx_kefu_api_endpoint_conv(ngx_http_request_t *r,
    ngx_kefu_api_t *api, ngx_str_t *seg, ngx_uint_t n, ngx_uint_t *post,
    const char **allow);
static ngx_int_t ngx_kefu_api_not_allowed(ngx_http_request_t *r,
    const char *allow);
static ngx_int_t ngx_kefu_api_auth(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static ngx_uint_t ngx_kefu_api_other_site(ngx_kefu_api_t *api,
    ngx_str_t *token);
static ngx_int_t ngx_kefu_api_claims(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *claims, const char **err);
static const char *ngx_kefu_api_agent_may(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *claims);
static ngx_int_t ngx_kefu_api_groups(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *v);
static void ngx_kefu_api_body(ngx_http_request_t *r);
static size_t ngx_kefu_api_body_max(ngx_kefu_api_t *api);
static ngx_int_t ngx_kefu_api_too_large(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static ngx_int_t ngx_kefu_api_body_json(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t **body);
static void ngx_kefu_api_reply(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static ngx_int_t ngx_kefu_api_replied(ngx_http_request_t *r,
    ngx_kefu_api_t *api, void *data);
static void ngx_kefu_api_cleanup(void *data);


char *
ngx_kefu_api_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_kefu_loc_conf_t  *kcf = conf;

    ngx_kefu_main_conf_t      *kmcf;
    ngx_http_core_loc_conf_t  *clcf;

    if (kcf->api) {
        return "is duplicate";
    }

    if (kcf->enable) {
        return "cannot share a location with \"kefu_chat\"";
    }

    kcf->api = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_kefu_api_handler;

    /* where agents' consoles find the API (welcome's "api") */
    kmcf = ngx_http_conf_get_module_main_conf(cf, ngx_kefu_module);

    if (kmcf->api_uri.len == 0 && !clcf->named
#if (NGX_PCRE)
        && clcf->regex == NULL
#endif
        )
    {
        kmcf->api_uri = clcf->name;

        while (kmcf->api_uri.len > 1
               && kmcf->api_uri.data[kmcf->api_uri.len - 1] == '/')
        {
            kmcf->api_uri.len--;
        }
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_kefu_api_handler(ngx_http_request_t *r)
{
    off_t            len;
    ngx_int_t        rc;
    ngx_str_t       *ct;
    ngx_kefu_api_t  *api;

    api = ngx_pcalloc(r->pool, sizeof(ngx_kefu_api_t));
    if (api == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    api->kmcf = ngx_http_get_module_main_conf(r, ngx_kefu_module);
    api->kcf = ngx_http_get_module_loc_conf(r, ngx_kefu_module);

    ngx_http_set_ctx(r, api, ngx_kefu_module);

    if (r != r->main) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "the API cannot be a subrequest");
    }

    /* NGX_DECLINED: go on; anything else: the response is given */

    rc = ngx_kefu_api_route(r, api);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_kefu_api_auth(r, api);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (!api->body) {
        rc = ngx_http_discard_request_body(r);
        if (rc != NGX_OK) {
            return rc;
        }

        /* given back by the one ngx_http_finalize_request() of the end */
        r->main->count++;

        rc = api->start(r, api, NULL);

        if (rc != NGX_DONE) {
            ngx_http_finalize_request(r, rc);
        }

        return NGX_DONE;
    }

    len = r->headers_in.content_length_n;

    if (len > 0 || r->headers_in.chunked) {
        ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                        : NULL;

        if (ct == NULL || ct->len < 16
            || ngx_strncasecmp(ct->data, (u_char *) "application/json", 16)
               != 0
            || (ct->len > 16 && ct->data[16] != ';' && ct->data[16] != ' '))
        {
            return ngx_kefu_api_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                                      "unsupported_media_type",
                                      "the body must be application/json");
        }
    }

    if (len > (off_t) ngx_kefu_api_body_max(api)) {
        return ngx_kefu_api_too_large(r, api);
    }

    rc = ngx_http_read_client_request_body(r, ngx_kefu_api_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * <location>/sites/<site>/convs[/<conv>[/messages|events|assign|
 * transfer|close|handoff]], .../visitors/<visitor>/messages|events, .../agents,
 * .../queues/<group>.
 */

static ngx_int_t
ngx_kefu_api_route(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    u_char       name[64 + 1];
    ngx_str_t    seg[6];
    ngx_uint_t   n, post;
    const char  *allow;

    if (ngx_kefu_api_split(r, seg, &n) != NGX_OK) {
        goto not_found;
    }

    ngx_memcpy(name, seg[1].data, seg[1].len);
    name[seg[1].len] = '\0';

    api->site = ngx_kefu_site_find(api->kmcf, (char *) name);

    if (api->site == NULL) {
        return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                  "unknown site");
    }

    /*
     * post: 0 GET, 1 POST, 2 PUT (each with a body), 3 DELETE; allow: the
     * methods the endpoint takes
     */
    post = 0;
    allow = "GET";

    if (ngx_kefu_api_endpoint(r, api, seg, n, &post, &allow) != NGX_OK) {
        goto not_found;
    }

    if (n > 3) {
        api->id = seg[3];
    }

    if ((post == 1 && (r->method != NGX_HTTP_POST || api->agents_ok))
        || (post == 3 && r->method != NGX_HTTP_DELETE)
        || (!post && r->method != NGX_HTTP_GET))
    {
        return ngx_kefu_api_not_allowed(r, allow);
    }

    /* POST and PUT take a body, GET and DELETE none */
    api->body = (post == 1 || post == 2);

    return NGX_DECLINED;

not_found:

    return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                              "no such endpoint");
}


/*
 * The URI after the location in at most 6 segments, "sites" and valid ids;
 * NGX_DECLINED for anything else
 */

static ngx_int_t
ngx_kefu_api_split(ngx_http_request_t *r, ngx_str_t *seg, ngx_uint_t *np)
{
    u_char                    *p, *last, *q;
    ngx_uint_t                 n, i;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    p = r->uri.data;
    last = p + r->uri.len;

    if (r->uri.len >= clcf->name.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
    {
        p += clcf->name.len;
    }

    for (n = 0; p < last; n++) {
        while (p < last && *p == '/') {
            p++;
        }

        if (p == last) {
            break;
        }

        if (n == 6) {
            return NGX_DECLINED;
        }

        q = ngx_strlchr(p, last, '/');
        if (q == NULL) {
            q = last;
        }

        seg[n].data = p;
        seg[n].len = q - p;
        p = q;
    }

    if (n < 3 || seg[0].len != 5 || ngx_strncmp(seg[0].data, "sites", 5)
        || seg[1].len > 64)
    {
        return NGX_DECLINED;
    }

    for (i = 1; i < n; i++) {
        if (ngx_kefu_valid_id(seg[i].data, seg[i].len) != NGX_OK) {
            return NGX_DECLINED;
        }
    }

    *np = n;

    return NGX_OK;
}


#define ngx_kefu_api_is(s, lit)                                               \
    ((s).len == sizeof(lit) - 1 && ngx_strncmp((s).data, lit, (s).len) == 0)


/* the endpoint of seg[2..n-1]: its start handler, methods, body or not */

static ngx_int_t
ngx_kefu_api_endpoint(ngx_http_request_t *r, ngx_kefu_api_t *api,
    ngx_str_t *seg, ngx_uint_t n, ngx_uint_t *post, const char **allow)
{
    if (ngx_kefu_api_is(seg[2], "convs")) {
        return ngx_kefu_api_endpoint_conv(r, api, seg, n, post, allow);
    }

    if (ngx_kefu_api_is(seg[2], "visitors") && n == 4) {
        /* erasing a visitor: everything stored about it */
        *allow = "DELETE";
        *post = 3;
        api->visitor = 1;
        api->start = ngx_kefu_api_erase;

    } else if (ngx_kefu_api_is(seg[2], "visitors") && n == 5
               && ngx_kefu_api_is(seg[4], "export"))
    {
        api->visitor = 1;
        api->start = ngx_kefu_api_export;

    } else if (ngx_kefu_api_is(seg[2], "revocations") && n == 3) {
        *allow = "GET, POST";
        *post = (r->method == NGX_HTTP_POST);
        api->start = *post ? ngx_kefu_api_revoke : ngx_kefu_api_revocations;

    } else if (ngx_kefu_api_is(seg[2], "visitors") && n == 5) {
        *allow = "POST";
        *post = 1;
        api->visitor = 1;

        if (ngx_kefu_api_is(seg[4], "messages")) {
            api->start = ngx_kefu_api_message;

        } else if (ngx_kefu_api_is(seg[4], "events")) {
            api->start = ngx_kefu_api_event;

        } else {
            return NGX_DECLINED;
        }

    } else if (ngx_kefu_api_is(seg[2], "agents") && n == 3) {
        api->start = ngx_kefu_api_agents;

    } else if (ngx_kefu_api_is(seg[2], "queues") && n == 4) {
        api->start = ngx_kefu_api_queue;

    } else if (ngx_kefu_api_is(seg[2], "settings") && n == 3) {
        /* PUT replaces the stored document: "post" 2 */
        *allow = "GET, PUT";
        *post = (r->method == NGX_HTTP_PUT) ? 2 : 0;
        api->start = *post ? ngx_kefu_api_settings_put
                           : ngx_kefu_api_settings_get;

    } else if ((ngx_kefu_api_is(seg[2], "rules")
                || ngx_kefu_api_is(seg[2], "faq"))
               && n == 4 && ngx_kefu_api_is(seg[3], "try"))
    {
        /* explains what the rules and the FAQ bot would do: admins */
        *allow = "POST";
        *post = 1;
        api->start = ngx_kefu_api_is(seg[2], "rules")
                     ? ngx_kefu_api_rules_try : ngx_kefu_api_faq_try;

    } else if (ngx_kefu_api_is(seg[2], "search") && n == 3) {
        api->start = ngx_kefu_api_search;
        api->agents_ok = 1;

    } else if (ngx_kefu_api_is(seg[2], "canned") && (n == 3 || n == 4)) {
        /* the caller's own canned replies: PUT and DELETE one by key */
        api->agents_ok = 1;

        if (n == 3) {
            api->start = ngx_kefu_api_canned_get;

        } else if (r->method == NGX_HTTP_PUT) {
            api->start = ngx_kefu_api_canned_put;
            *post = 2;

        } else if (r->method == NGX_HTTP_DELETE) {
            api->start = ngx_kefu_api_canned_delete;
            *post = 3;

        } else {
            *allow = "PUT, DELETE";
            *post = 1;
        }

    } else {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* .../convs[/<conv>[/messages|events|assign|transfer|close|handoff]] */

static ngx_int_t
ngx_kefu_api_endpoint_conv(ngx_http_request_t *r, ngx_kefu_api_t *api,
    ngx_str_t *seg, ngx_uint_t n, ngx_uint_t *post, const char **allow)
{
    if (n == 3) {
        api->start = ngx_kefu_api_list;

    } else if (n == 4) {
        api->start = ngx_kefu_api_conv;

    } else if (n == 5 && ngx_kefu_api_is(seg[4], "messages")) {
        *allow = "GET, POST";
        api->start = r->method == NGX_HTTP_POST ? ngx_kefu_api_message
                                                : ngx_kefu_api_log;
        *post = (r->method == NGX_HTTP_POST);

    } else if (n == 5 && ngx_kefu_api_is(seg[4], "events")) {
        *allow = "POST";
        api->start = ngx_kefu_api_event;
        *post = 1;

    } else if (n == 5 && (ngx_kefu_api_is(seg[4], "assign")
                          || ngx_kefu_api_is(seg[4], "transfer")
                          || ngx_kefu_api_is(seg[4], "close")
                          || ngx_kefu_api_is(seg[4], "handoff")))
    {
        *allow = "POST";
        api->start = ngx_kefu_api_action;
        api->action = seg[4];
        *post = 1;

    } else {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


#undef ngx_kefu_api_is


static ngx_int_t
ngx_kefu_api_not_allowed(ngx_http_request_t *r, const char *allow)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "Allow");
    h->value.data = (u_char *) allow;
    h->value.len = ngx_strlen(allow);

    return ngx_kefu_api_error(r, NGX_HTTP_NOT_ALLOWED,
                              "method_not_allowed",
                              "method not allowed here");
}


/*
 * Authorization: Bearer <JWT> signed with the site's secret, role admin
 * or service, claim site = the site of the URL.  A token that another
 * configured site's secret verifies is that site's: 403, not 401.
 */

static ngx_int_t
ngx_kefu_api_auth(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    json_t           *claims;
    ngx_int_t         rc;
    ngx_str_t         token;
    const char       *err;

    err = ngx_kefu_api_bearer(r, &token);

    if (err) {
        goto unauthorized;
    }

    if (ngx_kefu_jwt_verify(&token, &api->site->secret, ngx_time(), &claims,
                            &err)
        != NGX_OK)
    {
        if (ngx_kefu_api_other_site(api, &token)) {
            return ngx_kefu_api_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                      "token is for another site");
        }

        goto unauthorized;
    }

    rc = ngx_kefu_api_claims(r, api, claims, &err);
    json_decref(claims);

    switch (rc) {

    case NGX_OK:
        break;

    case NGX_HTTP_FORBIDDEN:
        return ngx_kefu_api_error(r, NGX_HTTP_FORBIDDEN, "forbidden", err);

    case NGX_HTTP_UNAUTHORIZED:
        goto unauthorized;

    default:
        return rc;
    }

    if (api->agent) {
        api->reader.data = ngx_pnalloc(r->pool, api->sub.len + 2);
        if (api->reader.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        api->reader.len = ngx_sprintf(api->reader.data, "a:%V", &api->sub)
                          - api->reader.data;
    }

    return NGX_DECLINED;

unauthorized:

    return ngx_kefu_api_unauthorized(r, "API request", err);
}


/* a token the site's secret does not verify: another site's that names it */

static ngx_uint_t
ngx_kefu_api_other_site(ngx_kefu_api_t *api, ngx_str_t *token)
{
    json_t           *claims;
    ngx_uint_t        i;
    const char       *err;
    ngx_kefu_site_t  *s;

    s = api->kmcf->sites.elts;

    for (i = 0; i < api->kmcf->sites.nelts; i++) {
        if (&s[i] == api->site
            || ngx_kefu_jwt_verify(token, &s[i].secret, ngx_time(), &claims,
                                   &err)
               != NGX_OK)
        {
            continue;
        }

        if (ngx_kefu_jwt_site_is(claims, &s[i].name) == NGX_OK) {
            json_decref(claims);
            return 1;
        }

        json_decref(claims);
    }

    return 0;
}


/*
 * A verified token's claims: its site, role, sub, and revocation; sets
 * api->sub, admin and agent.  NGX_OK; NGX_HTTP_FORBIDDEN or
 * NGX_HTTP_UNAUTHORIZED with *err saying why (never pointing into
 * claims); NGX_HTTP_INTERNAL_SERVER_ERROR.
 */

static ngx_int_t
ngx_kefu_api_claims(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *claims, const char **err)
{
    json_t      *v;
    const char  *role;

    if (ngx_kefu_jwt_site_is(claims, &api->site->name) != NGX_OK) {
        *err = "token is for another site";
        return NGX_HTTP_FORBIDDEN;
    }

    v = json_object_get(claims, "role");
    role = json_is_string(v) ? json_string_value(v) : "";

    if (ngx_strcmp(role, "agent") == 0) {
        /*
         * search and canned replies take an agent's token for what they
         * do; elsewhere it only reads what the console shows (contract
         * v2, "Agents' view")
         */
        *err = api->agents_ok ? NULL : ngx_kefu_api_agent_may(r, api, claims);

        if (*err) {
            return NGX_HTTP_FORBIDDEN;
        }

        if (ngx_kefu_api_groups(r, api, json_object_get(claims, "groups"))
            != NGX_OK)
        {
            *err = "token \"groups\" must be an array of group names";
            return NGX_HTTP_UNAUTHORIZED;
        }

    } else if (ngx_strcmp(role, "admin") != 0
               && ngx_strcmp(role, "service") != 0)
    {
        *err = "the API takes admin, service or agent tokens";
        return NGX_HTTP_FORBIDDEN;
    }

    if (ngx_kefu_jwt_sub(claims, err) != NGX_OK) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    v = json_object_get(claims, "sub");

    if (ngx_kefu_revoke_check(api->kmcf, api->site, claims, err) != NGX_OK) {
        return NGX_HTTP_UNAUTHORIZED;
    }

    api->sub.len = json_string_length(v);
    api->sub.data = ngx_pnalloc(r->pool, api->sub.len);

    if (api->sub.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(api->sub.data, json_string_value(v), api->sub.len);
    api->admin = (ngx_strcmp(role, "admin") == 0);
    api->agent = (ngx_strcmp(role, "agent") == 0);

    return NGX_OK;
}


/* an agent token's groups (what it may search besides its own) */

static ngx_int_t
ngx_kefu_api_groups(ngx_http_request_t *r, ngx_kefu_api_t *api, json_t *v)
{
    size_t      i;
    json_t     *g;
    ngx_str_t  *s;

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (!json_is_array(v) || json_array_size(v) > 64) {
        return NGX_ERROR;
    }

    api->groups = ngx_array_create(r->pool, json_array_size(v) + 1,
                                   sizeof(ngx_str_t));
    if (api->groups == NULL) {
        return NGX_ERROR;
    }

    json_array_foreach(v, i, g) {
        if (!json_is_string(g)
            || ngx_kefu_valid_id((u_char *) json_string_value(g),
                                 json_string_length(g))
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        s = ngx_array_push(api->groups);
        if (s == NULL) {
            return NGX_ERROR;
        }

        s->len = json_string_length(g);
        s->data = ngx_pnalloc(r->pool, s->len);
        if (s->data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(s->data, json_string_value(g), s->len);
    }

    return NGX_OK;
}


/*
 * What an agent's token may do: read, and only what the agent sees over
 * WebSocket: its conversations (the endpoints narrow them), its groups'
 * queues, the site's agents and settings.  A whitelist, so that an
 * endpoint added later (export, revocations, ...) is refused to agents
 * until someone decides otherwise.  NULL if allowed, else why not.
 */

static const char *
ngx_kefu_api_agent_may(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *claims)
{
    size_t   i;
    json_t  *groups, *g;

    if (r->method != NGX_HTTP_GET) {
        return "an agent's token only reads";
    }

    if (api->start == ngx_kefu_api_list
        || api->start == ngx_kefu_api_conv
        || api->start == ngx_kefu_api_log
        || api->start == ngx_kefu_api_agents
        || api->start == ngx_kefu_api_settings_get)
    {
        return NULL;
    }

    if (api->start != ngx_kefu_api_queue) {
        return "not for an agent's token";
    }

    groups = json_object_get(claims, "groups");

    if (groups == NULL) {
        /* no claim: the site's default group, as for routing */
        return (api->id.len == api->site->default_group.len
                && ngx_strncmp(api->id.data, api->site->default_group.data,
                               api->id.len) == 0)
               ? NULL : "not a group of yours";
    }

    json_array_foreach(groups, i, g) {
        if (json_is_string(g) && json_string_length(g) == api->id.len
            && ngx_strncmp(json_string_value(g), api->id.data, api->id.len)
               == 0)
        {
            return NULL;
        }
    }

    return "not a group of yours";
}


/*
 * The body is read (into memory or a temporary file): parse, go on.
 * ngx_kefu_api_body_json() gives NGX_DECLINED and the object, or the rc
 * of the error response it gave.
 */

static void
ngx_kefu_api_body(ngx_http_request_t *r)
{
    json_t          *body;
    ngx_int_t        rc;
    ngx_kefu_api_t  *api;

    api = ngx_http_get_module_ctx(r, ngx_kefu_module);

    rc = ngx_kefu_api_body_json(r, api, &body);

    if (rc == NGX_DECLINED) {
        rc = api->start(r, api, body);
        json_decref(body);
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }
}


/*
 * The settings document (and an unsaved one given to rules/try and
 * faq/try) may be as large as the settings' own bound: an admin's FAQ
 * must not need kefu_api_max_body raised to be saved.
 */

static size_t
ngx_kefu_api_body_max(ngx_kefu_api_t *api)
{
    size_t  max;

    max = api->kcf->api_max_body;

    if ((api->start == ngx_kefu_api_settings_put
         || api->start == ngx_kefu_api_rules_try
         || api->start == ngx_kefu_api_faq_try)
        && max < NGX_KEFU_SETTINGS_MAX)
    {
        max = NGX_KEFU_SETTINGS_MAX;
    }

    return max;
}


static ngx_int_t
ngx_kefu_api_too_large(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    return ngx_kefu_api_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                              "too_large",
                              ngx_kefu_api_body_max(api)
                              == api->kcf->api_max_body
                              ? "the body is over kefu_api_max_body"
                              : "the settings document is over 256 KB");
}


static ngx_int_t
ngx_kefu_api_body_json(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t **body)
{
    u_char        *data, *p;
    off_t          len;
    ssize_t        n;
    ngx_buf_t     *b;
    ngx_chain_t   *cl;
    json_error_t   err;
    u_char         msg[200];

    *body = NULL;
    len = 0;

    for (cl = r->request_body ? r->request_body->bufs : NULL; cl;
         cl = cl->next)
    {
        b = cl->buf;
        len += b->in_file ? b->file_last - b->file_pos : b->last - b->pos;
    }

    /* a chunked body has no length to refuse it by in advance */
    if (len > (off_t) ngx_kefu_api_body_max(api)) {
        return ngx_kefu_api_too_large(r, api);
    }

    if (len == 0) {
        if (api->start == ngx_kefu_api_action) {
            *body = json_object();
            return *body ? NGX_DECLINED : NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "a JSON object is required");
    }

    data = ngx_pnalloc(r->pool, (size_t) len);
    if (data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = data;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (!b->in_file) {
            p = ngx_cpymem(p, b->pos, b->last - b->pos);
            continue;
        }

        /* spooled to disk: a bounded read of a local temporary file */
        n = ngx_read_file(b->file, p, (size_t) (b->file_last - b->file_pos),
                          b->file_pos);

        if (n != b->file_last - b->file_pos) {
            ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                          "kefu: cannot read the request body's "
                          "temporary file");
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p += n;
    }

    *body = json_loadb((char *) data, (size_t) len, JSON_REJECT_DUPLICATES,
                       &err);

    if (*body == NULL) {
        *ngx_snprintf(msg, sizeof(msg) - 1, "malformed JSON: %s",
                      err.text) = '\0';
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  (char *) msg);
    }

    if (!json_is_object(*body)) {
        json_decref(*body);
        *body = NULL;
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "the body must be a JSON object");
    }

    return NGX_DECLINED;
}


/* one script call; its reply finishes the request via done() */

ngx_int_t
ngx_kefu_api_eval(ngx_http_request_t *r, ngx_kefu_script_t *s, int argc,
    const char **argv, size_t *lens, ngx_kefu_api_done_pt done)
{
    return ngx_kefu_api_eval_keys(r, s, 0, argc, argv, lens, done);
}


/* the same, with the call's keys declared (ngx_kefu_script_args.h) */

ngx_int_t
ngx_kefu_api_eval_call(ngx_http_request_t *r, ngx_kefu_script_t *s,
    ngx_kefu_call_t *call, ngx_kefu_api_done_pt done)
{
    return ngx_kefu_api_eval_keys(r, s, call->nkeys, call->argc, call->argv,
                                  call->lens, done);
}


/*
 * One call of s per item, built by args, pipelined
 * (ngx_kefu_redis_gather_each()): done gets the replies in one array
 * (flat: their elements one after another)
 */

ngx_int_t
ngx_kefu_api_gather(ngx_http_request_t *r, ngx_kefu_script_t *s,
    ngx_uint_t n, ngx_kefu_gather_args_pt args, void *args_data,
    ngx_uint_t flat, ngx_kefu_api_done_pt done)
{
    ngx_kefu_api_wait_t   *w;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_http_get_module_main_conf(r, ngx_kefu_module);

    if (!ngx_kefu_redis_ready(kmcf->redis)) {
        return ngx_kefu_api_unavailable(r);
    }

    if (n == 0) {
        return done(r, ngx_http_get_module_ctx(r, ngx_kefu_module),
                    ngx_kefu_redis_empty_reply());
    }

    w = ngx_kefu_api_wait(r, done);
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_kefu_redis_gather_each(kmcf->redis, s, n, args, args_data, flat,
                                   ngx_kefu_api_reply, w)
        != NGX_OK)
    {
        w->cln->handler = NULL;
        ngx_free(w);
        return ngx_kefu_api_unavailable(r);
    }

    r->read_event_handler = ngx_http_test_reading;

    return NGX_DONE;
}


/* the same for a plain command (s NULL) */

ngx_int_t
ngx_kefu_api_command(ngx_http_request_t *r, int argc, const char **argv,
    size_t *lens, ngx_kefu_api_done_pt done)
{
    return ngx_kefu_api_eval_keys(r, NULL, 0, argc, argv, lens, done);
}


/* a script with nkeys declared keys first, or a plain command */

ngx_int_t
ngx_kefu_api_eval_keys(ngx_http_request_t *r, ngx_kefu_script_t *s,
    int nkeys, int argc, const char **argv, size_t *lens,
    ngx_kefu_api_done_pt done)
{
    ngx_int_t              rc;
    ngx_kefu_api_wait_t   *w;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_http_get_module_main_conf(r, ngx_kefu_module);

    if (!ngx_kefu_redis_ready(kmcf->redis)) {
        return ngx_kefu_api_unavailable(r);
    }

    w = ngx_kefu_api_wait(r, done);
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (s) {
        rc = ngx_kefu_redis_eval(kmcf->redis, s, ngx_kefu_api_reply, w, nkeys,
                                 argc, argv, lens);

    } else {
        rc = ngx_kefu_redis_command(kmcf->redis, ngx_kefu_api_reply, w, argc,
                                    argv, lens);
    }

    if (rc != NGX_OK) {
        w->cln->handler = NULL;
        ngx_free(w);
        return ngx_kefu_api_unavailable(r);
    }

    /* notice a client that leaves while Redis works */
    r->read_event_handler = ngx_http_test_reading;

    return NGX_DONE;
}


/* the record an asynchronous step gets, disowned if the request goes */

ngx_kefu_api_wait_t *
ngx_kefu_api_wait(ngx_http_request_t *r, ngx_kefu_api_done_pt done)
{
    ngx_http_cleanup_t   *cln;
    ngx_kefu_api_wait_t  *w;

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NULL;
    }

    w = ngx_alloc(sizeof(ngx_kefu_api_wait_t), r->connection->log);
    if (w == NULL) {
        return NULL;
    }

    w->r = r;
    w->cln = cln;
    w->done = done;
    w->rc = NGX_OK;
    w->sync = 0;

    cln->handler = ngx_kefu_api_cleanup;
    cln->data = w;

    return w;
}


/*
 * An asynchronous step's outcome: NULL where the request went meanwhile
 * (w freed), or where the outcome came within the call that started the
 * step (w->sync: w keeps rc for the caller, which goes on and frees it);
 * else the request to go on with, w freed.
 */

ngx_http_request_t *
ngx_kefu_api_wait_done(ngx_kefu_api_wait_t *w, ngx_int_t rc)
{
    ngx_http_request_t  *r;

    r = w->r;

    if (r == NULL) {
        ngx_free(w);
        return NULL;
    }

    w->cln->handler = NULL;

    if (w->sync) {
        /* the caller goes on */
        w->rc = rc;
        w->sync = 2;
        return NULL;
    }

    ngx_free(w);

    r->read_event_handler = ngx_http_block_reading;

    return r;
}


/*
 * After the call that started a step that may end within it (w->sync set
 * to 1 before): NGX_DONE, the request waits for the outcome; NGX_OK, the
 * outcome came in the call, *rc, and w is freed.
 */

ngx_int_t
ngx_kefu_api_started(ngx_http_request_t *r, ngx_kefu_api_wait_t *w,
    ngx_int_t *rc)
{
    if (w->sync == 2) {
        *rc = w->rc;
        ngx_free(w);
        return NGX_OK;
    }

    w->sync = 0;
    r->read_event_handler = ngx_http_test_reading;

    return NGX_DONE;
}


/*
 * An asynchronous step's outcome (ngx_kefu_api_wait_done()), then the
 * request goes on: step answers it, or starts another step (NGX_DONE: not
 * finalized); then what it posted runs.  The connection is taken before
 * step: a step may finish the request and so free it (an over-limit
 * upload's does: the use after free of ab93c20).
 */

void
ngx_kefu_api_resume(ngx_kefu_api_wait_t *w, ngx_int_t rc,
    ngx_kefu_api_step_pt step, void *data)
{
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = ngx_kefu_api_wait_done(w, rc);
    if (r == NULL) {
        return;
    }

    c = r->connection;

    rc = step(r, ngx_http_get_module_ctx(r, ngx_kefu_module), data);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    ngx_http_run_posted_requests(c);
}


static void
ngx_kefu_api_cleanup(void *data)
{
    ngx_kefu_api_wait_t  *w = data;

    /* the reply is still to come: it finds nobody and is dropped */
    w->r = NULL;
}


/* a script's reply and the done handler it goes to */
typedef struct {
    redisReply                  *reply;
    ngx_kefu_api_done_pt         done;
} ngx_kefu_api_replied_t;


static void
ngx_kefu_api_reply(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_api_wait_t  *w = data;

    ngx_kefu_api_replied_t  rp;

    /* w goes in ngx_kefu_api_resume() */
    rp.reply = reply;
    rp.done = w->done;

    ngx_kefu_api_resume(w, NGX_OK, ngx_kefu_api_replied, &rp);
}


static ngx_int_t
ngx_kefu_api_replied(ngx_http_request_t *r, ngx_kefu_api_t *api, void *data)
{
    ngx_kefu_api_replied_t  *rp = data;

    redisReply  *reply;

    reply = rp->reply;

    if (reply == NULL || ngx_kefu_redis_is_loading(reply)) {
        return ngx_kefu_api_unavailable(r);
    }

    if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, r->connection->log, 0,
                      "kefu: API script failed: %*s", reply->len, reply->str);
        return ngx_kefu_api_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "internal", "storage refused the request");
    }

    return rp->done(r, api, reply);
}


ngx_int_t
ngx_kefu_api_unavailable(ngx_http_request_t *r)
{
    return ngx_kefu_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                              "storage is unavailable, retry later");
}


/* a query argument, unescaped; NGX_DECLINED if absent or empty */

ngx_int_t
ngx_kefu_api_arg(ngx_http_request_t *r, const char *name, ngx_str_t *value)
{
    u_char     *dst, *src;
    ngx_str_t   raw;

    if (ngx_http_arg(r, (u_char *) name, ngx_strlen(name), &raw) != NGX_OK
        || raw.len == 0)
    {
        return NGX_DECLINED;
    }

    dst = ngx_pnalloc(r->pool, raw.len);
    if (dst == NULL) {
        return NGX_ERROR;
    }

    value->data = dst;
    src = raw.data;
    ngx_unescape_uri(&dst, &src, raw.len, NGX_UNESCAPE_URI);
    value->len = dst - value->data;

    return value->len ? NGX_OK : NGX_DECLINED;
}


/*
 * An integer argument within bounds: NGX_OK, NGX_DECLINED if absent, or
 * NGX_ABORT with the error response given (its rc in api->rc).
 */

ngx_int_t
ngx_kefu_api_arg_int(ngx_http_request_t *r, ngx_kefu_api_t *api,
    const char *name, int64_t min, int64_t max, int64_t *n)
{
    u_char     msg[128];
    ngx_str_t  v;

    if (ngx_kefu_api_arg(r, name, &v) != NGX_OK) {
        return NGX_DECLINED;
    }

    *n = (v.len <= 18) ? ngx_atoof(v.data, v.len) : NGX_ERROR;

    if (*n == NGX_ERROR || *n < min || *n > max) {
        *ngx_snprintf(msg, sizeof(msg) - 1, "\"%s\" must be an integer from "
                      "%L to %L", name, min, max) = '\0';
        api->rc = ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     (char *) msg);
        return NGX_ABORT;
    }

    return NGX_OK;
}


int64_t
ngx_kefu_api_int(redisReply *e)
{
    off_t  n;

    if (e->type == REDIS_REPLY_INTEGER) {
        return e->integer;
    }

    if (e->type != REDIS_REPLY_STRING || e->len == 0 || e->len > 18) {
        return 0;
    }

    n = ngx_atoof((u_char *) e->str, e->len);

    return n == NGX_ERROR ? 0 : n;
}


/* a string from Redis, null when empty or absent */

json_t *
ngx_kefu_api_str(redisReply *e)
{
    if (e->type != REDIS_REPLY_STRING || e->len == 0) {
        return json_null();
    }

    return json_stringn(e->str, e->len);
}


/* JSON stored by the module, null if it is not */

json_t *
ngx_kefu_api_json(redisReply *e)
{
    json_t  *j;

    if (e->type != REDIS_REPLY_STRING || e->len == 0) {
        return json_null();
    }

    j = json_loadb(e->str, e->len, 0, NULL);

    return j ? j : json_null();
}


/* an identifier in a body: a string of the id alphabet, at most max */

ngx_int_t
ngx_kefu_api_valid(json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) <= max
           && ngx_kefu_valid_id((u_char *) json_string_value(v),
                                json_string_length(v))
              == NGX_OK
           ? NGX_OK : NGX_DECLINED;
}


/*
 * The token of an "Authorization: Bearer <token>" header (the API and the
 * upload location), or the reason there is none (else NULL).
 */

const char *
ngx_kefu_api_bearer(ngx_http_request_t *r, ngx_str_t *token)
{
    ngx_table_elt_t  *h;

    h = r->headers_in.authorization;

    if (h == NULL || h->value.len < 7
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ", 7) != 0)
    {
        return "an Authorization: Bearer token is required";
    }

    token->data = h->value.data + 7;
    token->len = h->value.len - 7;

    while (token->len && token->data[0] == ' ') {
        token->data++;
        token->len--;
    }

    return NULL;
}


/* 401 with a Bearer challenge and the reason; logged as what was refused */

ngx_int_t
ngx_kefu_api_unauthorized(ngx_http_request_t *r, const char *what,
    const char *err)
{
    ngx_table_elt_t  *h;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "kefu: %s refused: %s", what, err);

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h->hash = 1;
    ngx_str_set(&h->key, "WWW-Authenticate");
    ngx_str_set(&h->value, "Bearer realm=\"kefu\"");

    return ngx_kefu_api_error(r, NGX_HTTP_UNAUTHORIZED, "unauthorized", err);
}


/*
 * 400 naming the field of a document that was refused ("<field>: <err>"),
 * as the settings' checks tell them
 */

ngx_int_t
ngx_kefu_api_bad_field(ngx_http_request_t *r, ngx_str_t *field,
    ngx_str_t *err)
{
    return ngx_kefu_api_send(r, NGX_HTTP_BAD_REQUEST,
               json_pack("{s:{s:s,s:o,s:s%}}", "error",
                         "code", "bad_request",
                         "message", json_sprintf("%.*s: %.*s",
                                                 (int) field->len,
                                                 field->data,
                                                 (int) err->len, err->data),
                         "field", field->data, field->len));
}
