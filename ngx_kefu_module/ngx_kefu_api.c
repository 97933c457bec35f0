
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


#include "ngx_kefu_ws.h"
#include "ngx_kefu_api.h"
#include "ngx_kefu_jwt.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route.h"


#define NGX_KEFU_API_MAX_CID      64
#define NGX_KEFU_API_IDS          4     /* for routing a new conversation */
#define NGX_KEFU_API_MAX_NAME     64
#define NGX_KEFU_API_LIST_LIMIT   50
#define NGX_KEFU_API_LIST_MAX     200
#define NGX_KEFU_API_QUEUE_MAX    1000
#define NGX_KEFU_API_INT_MAX      ((int64_t) 999999999999999LL)
#define NGX_KEFU_API_MAX_ATTRS    4096  /* bytes of a visitor's attrs */
#define NGX_KEFU_API_MAX_URL      2048


typedef struct ngx_kefu_api_s  ngx_kefu_api_t;

typedef ngx_int_t (*ngx_kefu_api_start_pt)(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);
typedef ngx_int_t (*ngx_kefu_api_done_pt)(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);


/* one API request, in its pool */
struct ngx_kefu_api_s {
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_loc_conf_t         *kcf;
    ngx_kefu_site_t             *site;
    ngx_str_t                    id;          /* conv, visitor or group */
    ngx_str_t                    action;      /* assign, transfer, close */
    ngx_str_t                    sub;         /* the token's subject */
    ngx_kefu_api_start_pt        start;
    ngx_int_t                    rc;          /* of an error given early */
    unsigned                     visitor:1;   /* id is a visitor's */
    unsigned                     body:1;      /* the method takes a body */
};


/* what a Redis reply handler gets: outlives the request if need be */
typedef struct {
    ngx_http_request_t          *r;           /* NULL: the request is gone */
    ngx_http_cleanup_t          *cln;
    ngx_kefu_api_done_pt         done;
    ngx_int_t                    rc;          /* of a synchronous outcome */
    ngx_uint_t                   sync;        /* 1 in the call, 2 done in it */
} ngx_kefu_api_wait_t;


static ngx_int_t ngx_kefu_api_handler(ngx_http_request_t *r);
static ngx_int_t ngx_kefu_api_route(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static ngx_int_t ngx_kefu_api_auth(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static void ngx_kefu_api_body(ngx_http_request_t *r);
static ngx_int_t ngx_kefu_api_body_json(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t **body);
static ngx_int_t ngx_kefu_api_eval(ngx_http_request_t *r,
    ngx_kefu_script_t *s, int argc, const char **argv, size_t *lens,
    ngx_kefu_api_done_pt done);
static void ngx_kefu_api_reply(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_api_cleanup(void *data);
static ngx_int_t ngx_kefu_api_send(ngx_http_request_t *r, ngx_uint_t status,
    json_t *j);
static ngx_int_t ngx_kefu_api_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);
static ngx_int_t ngx_kefu_api_unavailable(ngx_http_request_t *r);
static ngx_int_t ngx_kefu_api_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
static ngx_int_t ngx_kefu_api_arg_int(ngx_http_request_t *r,
    ngx_kefu_api_t *api, const char *name, int64_t min, int64_t max,
    int64_t *n);
static int64_t ngx_kefu_api_int(redisReply *e);
static json_t *ngx_kefu_api_str(redisReply *e);
static json_t *ngx_kefu_api_json(redisReply *e);
static ngx_int_t ngx_kefu_api_valid(json_t *v, size_t max);

static ngx_int_t ngx_kefu_api_list(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);
static ngx_int_t ngx_kefu_api_list_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_conv(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);
static ngx_int_t ngx_kefu_api_conv_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_log(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);
static ngx_int_t ngx_kefu_api_log_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_agents(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);
static ngx_int_t ngx_kefu_api_agents_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_queue(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);
static ngx_int_t ngx_kefu_api_queue_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_message(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);
static ngx_int_t ngx_kefu_api_event(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);
static ngx_int_t ngx_kefu_api_store(ngx_http_request_t *r,
    ngx_kefu_api_t *api, ngx_str_t *who, const char *type, json_t *tail,
    const char *cid, ngx_uint_t priv, const char *ev, ngx_uint_t open,
    ngx_str_t *group);
static ngx_int_t ngx_kefu_api_store_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_action(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);
static void ngx_kefu_api_action_done(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result);
static ngx_kefu_api_wait_t *ngx_kefu_api_wait(ngx_http_request_t *r,
    ngx_kefu_api_done_pt done);


char *
ngx_kefu_api_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_kefu_loc_conf_t  *kcf = conf;

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

    if (len > (off_t) api->kcf->api_max_body) {
        return ngx_kefu_api_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "too_large", "the body is over "
                                  "kefu_api_max_body");
    }

    rc = ngx_http_read_client_request_body(r, ngx_kefu_api_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    return NGX_DONE;
}


/*
 * <location>/sites/<site>/convs[/<conv>[/messages|events|assign|
 * transfer|close]], .../visitors/<visitor>/messages|events, .../agents,
 * .../queues/<group>.
 */

static ngx_int_t
ngx_kefu_api_route(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    u_char                    *p, *last, *q;
    u_char                     name[64 + 1];
    ngx_str_t                  seg[6];
    ngx_uint_t                 n, post, i;
    const char                *allow;
    ngx_table_elt_t           *h;
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
            goto not_found;
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
        goto not_found;
    }

    for (i = 1; i < n; i++) {
        if (ngx_kefu_valid_id(seg[i].data, seg[i].len) != NGX_OK) {
            goto not_found;
        }
    }

    ngx_memcpy(name, seg[1].data, seg[1].len);
    name[seg[1].len] = '\0';

    api->site = ngx_kefu_site_find(api->kmcf, (char *) name);

    if (api->site == NULL) {
        return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                  "unknown site");
    }

    post = 0;
    allow = "GET";

#define ngx_kefu_api_is(s, lit)                                               \
    ((s).len == sizeof(lit) - 1 && ngx_strncmp((s).data, lit, (s).len) == 0)

    if (ngx_kefu_api_is(seg[2], "convs")) {

        if (n == 3) {
            api->start = ngx_kefu_api_list;

        } else if (n == 4) {
            api->start = ngx_kefu_api_conv;

        } else if (n == 5 && ngx_kefu_api_is(seg[4], "messages")) {
            allow = "GET, POST";
            api->start = r->method == NGX_HTTP_POST ? ngx_kefu_api_message
                                                    : ngx_kefu_api_log;
            post = (r->method == NGX_HTTP_POST);

        } else if (n == 5 && ngx_kefu_api_is(seg[4], "events")) {
            allow = "POST";
            api->start = ngx_kefu_api_event;
            post = 1;

        } else if (n == 5 && (ngx_kefu_api_is(seg[4], "assign")
                              || ngx_kefu_api_is(seg[4], "transfer")
                              || ngx_kefu_api_is(seg[4], "close")))
        {
            allow = "POST";
            api->start = ngx_kefu_api_action;
            api->action = seg[4];
            post = 1;

        } else {
            goto not_found;
        }

    } else if (ngx_kefu_api_is(seg[2], "visitors") && n == 5) {
        allow = "POST";
        post = 1;
        api->visitor = 1;

        if (ngx_kefu_api_is(seg[4], "messages")) {
            api->start = ngx_kefu_api_message;

        } else if (ngx_kefu_api_is(seg[4], "events")) {
            api->start = ngx_kefu_api_event;

        } else {
            goto not_found;
        }

    } else if (ngx_kefu_api_is(seg[2], "agents") && n == 3) {
        api->start = ngx_kefu_api_agents;

    } else if (ngx_kefu_api_is(seg[2], "queues") && n == 4) {
        api->start = ngx_kefu_api_queue;

    } else {
        goto not_found;
    }

#undef ngx_kefu_api_is

    if (n > 3) {
        api->id = seg[3];
    }

    if ((post && r->method != NGX_HTTP_POST)
        || (!post && r->method != NGX_HTTP_GET))
    {
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

    api->body = post;

    return NGX_DECLINED;

not_found:

    return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                              "no such endpoint");
}


/*
 * Authorization: Bearer <JWT> signed with the site's secret, role admin
 * or service, claim site = the site of the URL.  A token that another
 * configured site's secret verifies is that site's: 403, not 401.
 */

static ngx_int_t
ngx_kefu_api_auth(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    json_t           *claims, *v;
    ngx_str_t         token;
    ngx_uint_t        i;
    const char       *err, *role, *e2;
    ngx_table_elt_t  *h;
    ngx_kefu_site_t  *s;

    h = r->headers_in.authorization;

    if (h == NULL || h->value.len < 7
        || ngx_strncasecmp(h->value.data, (u_char *) "Bearer ", 7) != 0)
    {
        err = "an Authorization: Bearer token is required";
        goto unauthorized;
    }

    token.data = h->value.data + 7;
    token.len = h->value.len - 7;

    while (token.len && token.data[0] == ' ') {
        token.data++;
        token.len--;
    }

    if (ngx_kefu_jwt_verify(&token, &api->site->secret, ngx_time(), &claims,
                            &err)
        != NGX_OK)
    {
        s = api->kmcf->sites.elts;

        for (i = 0; i < api->kmcf->sites.nelts; i++) {
            if (&s[i] == api->site
                || ngx_kefu_jwt_verify(&token, &s[i].secret, ngx_time(),
                                       &claims, &e2)
                   != NGX_OK)
            {
                continue;
            }

            v = json_object_get(claims, "site");

            if (json_is_string(v)
                && json_string_length(v) == s[i].name.len
                && ngx_strncmp(json_string_value(v), s[i].name.data,
                               s[i].name.len) == 0)
            {
                json_decref(claims);
                return ngx_kefu_api_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                          "token is for another site");
            }

            json_decref(claims);
        }

        goto unauthorized;
    }

    v = json_object_get(claims, "site");

    if (!json_is_string(v)
        || json_string_length(v) != api->site->name.len
        || ngx_strncmp(json_string_value(v), api->site->name.data,
                       api->site->name.len) != 0)
    {
        json_decref(claims);
        return ngx_kefu_api_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                  "token is for another site");
    }

    v = json_object_get(claims, "role");
    role = json_is_string(v) ? json_string_value(v) : "";

    if (ngx_strcmp(role, "admin") != 0 && ngx_strcmp(role, "service") != 0) {
        json_decref(claims);
        return ngx_kefu_api_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                  "the API takes admin or service tokens");
    }

    v = json_object_get(claims, "sub");

    if (!json_is_string(v)
        || ngx_kefu_valid_id((u_char *) json_string_value(v),
                             json_string_length(v))
           != NGX_OK)
    {
        json_decref(claims);
        err = "token \"sub\" must be an id of 1-128 characters "
              "[A-Za-z0-9._:@-]";
        goto unauthorized;
    }

    api->sub.len = json_string_length(v);
    api->sub.data = ngx_pnalloc(r->pool, api->sub.len);

    if (api->sub.data == NULL) {
        json_decref(claims);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(api->sub.data, json_string_value(v), api->sub.len);
    json_decref(claims);

    return NGX_DECLINED;

unauthorized:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "kefu: API request refused: %s", err);

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
    if (len > (off_t) api->kcf->api_max_body) {
        return ngx_kefu_api_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "too_large", "the body is over "
                                  "kefu_api_max_body");
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

static ngx_int_t
ngx_kefu_api_eval(ngx_http_request_t *r, ngx_kefu_script_t *s, int argc,
    const char **argv, size_t *lens, ngx_kefu_api_done_pt done)
{
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

    if (ngx_kefu_redis_eval(kmcf->redis, s, ngx_kefu_api_reply, w, 0, argc,
                            argv, lens)
        != NGX_OK)
    {
        w->cln->handler = NULL;
        ngx_free(w);
        return ngx_kefu_api_unavailable(r);
    }

    /* notice a client that leaves while Redis works */
    r->read_event_handler = ngx_http_test_reading;

    return NGX_DONE;
}


/* the record an asynchronous step gets, disowned if the request goes */

static ngx_kefu_api_wait_t *
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


static void
ngx_kefu_api_cleanup(void *data)
{
    ngx_kefu_api_wait_t  *w = data;

    /* the reply is still to come: it finds nobody and is dropped */
    w->r = NULL;
}


static void
ngx_kefu_api_reply(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_api_wait_t  *w = data;

    ngx_int_t              rc;
    ngx_connection_t      *c;
    ngx_http_request_t    *r;
    ngx_kefu_api_done_pt   done;

    r = w->r;
    done = w->done;

    if (r == NULL) {
        ngx_free(w);
        return;
    }

    w->cln->handler = NULL;
    ngx_free(w);

    c = r->connection;
    r->read_event_handler = ngx_http_block_reading;

    if (reply == NULL || ngx_kefu_redis_is_loading(reply)) {
        rc = ngx_kefu_api_unavailable(r);

    } else if (reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "kefu: API script failed: %*s", reply->len, reply->str);
        rc = ngx_kefu_api_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                "internal", "storage refused the request");

    } else {
        rc = done(r, ngx_http_get_module_ctx(r, ngx_kefu_module), reply);
    }

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    ngx_http_run_posted_requests(c);
}


/* one JSON document as the whole response; j is consumed */

static ngx_int_t
ngx_kefu_api_send(ngx_http_request_t *r, ngx_uint_t status, json_t *j)
{
    char         *s;
    size_t        len;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);

    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(s);

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        free(s);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, s, len);
    *b->last++ = LF;
    b->last_buf = (r == r->main);
    b->last_in_chain = 1;
    free(s);

    /* an early error: nothing of the body is wanted any more */
    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = len + 1;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_kefu_api_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    return ngx_kefu_api_send(r, status,
                             json_pack("{s:{s:s,s:s}}", "error", "code", code,
                                       "message", message));
}


static ngx_int_t
ngx_kefu_api_unavailable(ngx_http_request_t *r)
{
    return ngx_kefu_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE, "unavailable",
                              "storage is unavailable, retry later");
}


/* a query argument, unescaped; NGX_DECLINED if absent or empty */

static ngx_int_t
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

static ngx_int_t
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


static int64_t
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

static json_t *
ngx_kefu_api_str(redisReply *e)
{
    if (e->type != REDIS_REPLY_STRING || e->len == 0) {
        return json_null();
    }

    return json_stringn(e->str, e->len);
}


/* JSON stored by the module, null if it is not */

static json_t *
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

static ngx_int_t
ngx_kefu_api_valid(json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) <= max
           && ngx_kefu_valid_id((u_char *) json_string_value(v),
                                json_string_length(v))
              == NGX_OK
           ? NGX_OK : NGX_DECLINED;
}


/* GET .../convs?state=&agent=&group=&since=&cursor=&limit= */

static ngx_int_t
ngx_kefu_api_list(ngx_http_request_t *r, ngx_kefu_api_t *api, json_t *body)
{
    u_char      *p;
    u_char       lim[NGX_INT64_LEN], since[NGX_INT64_LEN];
    size_t       lens[7];
    int64_t      limit, t;
    ngx_int_t    rc;
    ngx_str_t    state, agent, group, cursor;
    ngx_uint_t   i;
    const char  *argv[7];

    ngx_str_null(&state);
    ngx_str_null(&agent);
    ngx_str_null(&group);
    ngx_str_null(&cursor);

    if (ngx_kefu_api_arg(r, "state", &state) == NGX_OK
        && !(state.len == 6 && ngx_strncmp(state.data, "queued", 6) == 0)
        && !(state.len == 4 && ngx_strncmp(state.data, "open", 4) == 0)
        && !(state.len == 6 && ngx_strncmp(state.data, "closed", 6) == 0))
    {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"state\" must be queued, open or closed");
    }

    if ((ngx_kefu_api_arg(r, "agent", &agent) == NGX_OK
         && ngx_kefu_valid_id(agent.data, agent.len) != NGX_OK)
        || (ngx_kefu_api_arg(r, "group", &group) == NGX_OK
            && ngx_kefu_valid_id(group.data, group.len) != NGX_OK))
    {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"agent\" and \"group\" must be ids");
    }

    if (ngx_kefu_api_arg(r, "cursor", &cursor) == NGX_OK) {
        p = ngx_strlchr(cursor.data, cursor.data + cursor.len, ':');

        if (p == NULL || p == cursor.data || p - cursor.data > 18
            || ngx_atoof(cursor.data, p - cursor.data) == NGX_ERROR
            || ngx_kefu_valid_id(p + 1, cursor.data + cursor.len - p - 1)
               != NGX_OK)
        {
            return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                      "\"cursor\" is not one this API gave");
        }
    }

    limit = NGX_KEFU_API_LIST_LIMIT;
    rc = ngx_kefu_api_arg_int(r, api, "limit", 1, NGX_KEFU_API_LIST_MAX,
                              &limit);
    if (rc == NGX_ABORT) {
        return api->rc;
    }

    t = -1;
    rc = ngx_kefu_api_arg_int(r, api, "since", 0, NGX_KEFU_API_INT_MAX, &t);
    if (rc == NGX_ABORT) {
        return api->rc;
    }

    argv[0] = (char *) api->site->name.data;
    lens[0] = api->site->name.len;
    argv[1] = (char *) state.data;
    lens[1] = state.len;
    argv[2] = (char *) agent.data;
    lens[2] = agent.len;
    argv[3] = (char *) group.data;
    lens[3] = group.len;
    argv[4] = (char *) since;
    lens[4] = t < 0 ? 0 : ngx_snprintf(since, sizeof(since), "%L", t) - since;
    argv[5] = (char *) cursor.data;
    lens[5] = cursor.len;
    argv[6] = (char *) lim;
    lens[6] = ngx_snprintf(lim, sizeof(lim), "%L", limit) - lim;

    for (i = 1; i < 6; i++) {
        if (argv[i] == NULL) {
            argv[i] = "";
        }
    }

    return ngx_kefu_api_eval(r, &ngx_kefu_script_api_list, 7, argv, lens,
                             ngx_kefu_api_list_done);
}


static ngx_int_t
ngx_kefu_api_list_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    size_t        i;
    json_t       *convs, *c;
    redisReply  **e;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || (reply->elements - 1) % 8)
    {
        return ngx_kefu_api_unavailable(r);
    }

    e = reply->element;
    convs = json_array();

    for (i = 1; convs && i + 7 < reply->elements; i += 8) {
        c = json_pack("{s:s%,s:o,s:I,s:o,s:o,s:o,s:I,s:I}",
                      "conv", e[i]->str, e[i]->len,
                      "state", ngx_kefu_api_str(e[i + 1]),
                      "seq", (json_int_t) ngx_kefu_api_int(e[i + 2]),
                      "agent", ngx_kefu_api_str(e[i + 3]),
                      "visitor", ngx_kefu_api_str(e[i + 4]),
                      "group", ngx_kefu_api_str(e[i + 5]),
                      "created", (json_int_t) ngx_kefu_api_int(e[i + 6]),
                      "updated", (json_int_t) ngx_kefu_api_int(e[i + 7]));

        if (c == NULL || json_array_append_new(convs, c) != 0) {
            json_decref(convs);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    return ngx_kefu_api_send(r, NGX_HTTP_OK,
                             json_pack("{s:o,s:o}", "convs", convs,
                                       "next", ngx_kefu_api_str(e[0])));
}


/* GET .../convs/<conv> */

static ngx_int_t
ngx_kefu_api_conv(ngx_http_request_t *r, ngx_kefu_api_t *api, json_t *body)
{
    size_t       lens[2];
    const char  *argv[2];

    argv[0] = (char *) api->site->name.data;
    lens[0] = api->site->name.len;
    argv[1] = (char *) api->id.data;
    lens[1] = api->id.len;

    return ngx_kefu_api_eval(r, &ngx_kefu_script_api_conv, 2, argv, lens,
                             ngx_kefu_api_conv_done);
}


static ngx_int_t
ngx_kefu_api_conv_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    size_t        i;
    json_t       *c, *v, *read, *list, *last;
    redisReply  **e, *h, *k;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        return ngx_kefu_api_unavailable(r);
    }

    if (reply->element[0]->integer == 0) {
        return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                  "no such conversation");
    }

    if (reply->elements != 6) {
        return ngx_kefu_api_unavailable(r);
    }

    e = reply->element;

    c = json_pack("{s:s%,s:n,s:n,s:n,s:I,s:n,s:I,s:I,s:{},s:[]}",
                  "conv", api->id.data, api->id.len,
                  "state", "agent", "group", "seq", (json_int_t) 0,
                  "visitor", "created", (json_int_t) 0,
                  "updated", (json_int_t) 0, "read", "joined");
    v = json_pack("{s:n,s:n,s:{},s:n,s:[]}", "id", "name", "attrs", "page",
                  "pages");

    if (c == NULL || v == NULL) {
        json_decref(c);
        json_decref(v);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    read = json_object_get(c, "read");

    /* the conversation's hash */
    h = e[1];

    for (i = 0; h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2) {
        k = h->element[i];

        if (k->len > 2 && ngx_strncmp(k->str, "r:", 2) == 0) {
            json_object_setn_new(read, k->str + 2, k->len - 2,
                                 json_integer(ngx_kefu_api_int(
                                                  h->element[i + 1])));

        } else if ((k->len == 3 && ngx_strncmp(k->str, "seq", 3) == 0)
                   || (k->len == 7 && ngx_strncmp(k->str, "created", 7) == 0)
                   || (k->len == 7 && ngx_strncmp(k->str, "updated", 7) == 0))
        {
            json_object_setn_new(c, k->str, k->len,
                                 json_integer(ngx_kefu_api_int(
                                                  h->element[i + 1])));

        } else if ((k->len == 5 && ngx_strncmp(k->str, "state", 5) == 0)
                   || (k->len == 5 && ngx_strncmp(k->str, "agent", 5) == 0)
                   || (k->len == 5 && ngx_strncmp(k->str, "group", 5) == 0))
        {
            json_object_setn_new(c, k->str, k->len,
                                 ngx_kefu_api_str(h->element[i + 1]));

        } else if (k->len == 7 && ngx_strncmp(k->str, "visitor", 7) == 0) {
            json_object_set_new(v, "id", ngx_kefu_api_str(h->element[i + 1]));
        }
    }

    /* the visitor: name and attrs where hello recorded them */
    h = e[2];

    for (i = 0; h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2) {
        k = h->element[i];

        if (k->len == 4 && ngx_strncmp(k->str, "name", 4) == 0) {
            json_object_set_new(v, "name", ngx_kefu_api_str(h->element[i + 1]));

        } else if (k->len == 5 && ngx_strncmp(k->str, "attrs", 5) == 0) {
            json_object_set_new(v, "attrs",
                                ngx_kefu_api_json(h->element[i + 1]));

        } else if (k->len == 4 && ngx_strncmp(k->str, "open", 4) == 0) {
            json_object_set_new(v, "open", ngx_kefu_api_str(h->element[i + 1]));
        }
    }

    /* the page trail, oldest first; the latest is the visitor's page */
    list = json_object_get(v, "pages");
    last = NULL;

    for (i = 0; e[3]->type == REDIS_REPLY_ARRAY && i < e[3]->elements; i++) {
        last = ngx_kefu_api_json(e[3]->element[i]);
        json_array_append_new(list, last);
    }

    if (last) {
        json_object_set(v, "page", last);
    }

    json_object_set_new(c, "visitor", v);

    list = json_array();

    for (i = 0; list && e[4]->type == REDIS_REPLY_ARRAY && i < e[4]->elements;
         i++)
    {
        json_array_append_new(list, ngx_kefu_api_json(e[4]->element[i]));
    }

    json_object_set_new(c, "assignments", list ? list : json_array());

    list = json_object_get(c, "joined");

    for (i = 0; e[5]->type == REDIS_REPLY_ARRAY && i < e[5]->elements; i++) {
        json_array_append_new(list, ngx_kefu_api_str(e[5]->element[i]));
    }

    return ngx_kefu_api_send(r, NGX_HTTP_OK, c);
}


/* GET .../convs/<conv>/messages?before=&after=&limit= */

static ngx_int_t
ngx_kefu_api_log(ngx_http_request_t *r, ngx_kefu_api_t *api, json_t *body)
{
    u_char       b[NGX_INT64_LEN], a[NGX_INT64_LEN], l[NGX_INT64_LEN];
    size_t       lens[5];
    int64_t      before, after, limit;
    ngx_int_t    rc, hb, ha;
    const char  *argv[5];

    hb = ngx_kefu_api_arg_int(r, api, "before", 1, NGX_KEFU_API_INT_MAX,
                              &before);
    if (hb == NGX_ABORT) {
        return api->rc;
    }

    ha = ngx_kefu_api_arg_int(r, api, "after", 0, NGX_KEFU_API_INT_MAX,
                              &after);
    if (ha == NGX_ABORT) {
        return api->rc;
    }

    if (hb == NGX_OK && ha == NGX_OK) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "give \"before\" or \"after\", not both");
    }

    limit = NGX_KEFU_API_LIST_LIMIT;
    rc = ngx_kefu_api_arg_int(r, api, "limit", 1, NGX_KEFU_API_LIST_MAX,
                              &limit);
    if (rc == NGX_ABORT) {
        return api->rc;
    }

    argv[0] = (char *) api->site->name.data;
    lens[0] = api->site->name.len;
    argv[1] = (char *) api->id.data;
    lens[1] = api->id.len;
    argv[2] = (char *) b;
    lens[2] = hb == NGX_OK ? ngx_snprintf(b, sizeof(b), "%L", before) - b : 0;
    argv[3] = (char *) a;
    lens[3] = ha == NGX_OK ? ngx_snprintf(a, sizeof(a), "%L", after) - a : 0;
    argv[4] = (char *) l;
    lens[4] = ngx_snprintf(l, sizeof(l), "%L", limit) - l;

    return ngx_kefu_api_eval(r, &ngx_kefu_script_api_log, 5, argv, lens,
                             ngx_kefu_api_log_done);
}


static ngx_int_t
ngx_kefu_api_log_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    size_t   i;
    json_t  *msgs;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        return ngx_kefu_api_unavailable(r);
    }

    if (reply->element[0]->integer == 0) {
        return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                  "no such conversation");
    }

    msgs = json_array();

    for (i = 2; msgs && i < reply->elements; i++) {
        json_array_append_new(msgs, ngx_kefu_api_json(reply->element[i]));
    }

    return ngx_kefu_api_send(r, NGX_HTTP_OK,
                             json_pack("{s:s%,s:o,s:b}",
                                       "conv", api->id.data, api->id.len,
                                       "msgs", msgs,
                                       "more", reply->elements > 1
                                               && ngx_kefu_api_int(
                                                      reply->element[1])));
}


/* GET .../agents */

static ngx_int_t
ngx_kefu_api_agents(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body)
{
    size_t       lens[1];
    const char  *argv[1];

    argv[0] = (char *) api->site->name.data;
    lens[0] = api->site->name.len;

    return ngx_kefu_api_eval(r, &ngx_kefu_script_api_agents, 1, argv, lens,
                             ngx_kefu_api_agents_done);
}


static ngx_int_t
ngx_kefu_api_agents_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    size_t       i, j;
    json_t      *agents, *a, *g;
    redisReply  *e, *h, *k, *val;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_kefu_api_unavailable(r);
    }

    agents = json_array();

    for (i = 0; agents && i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) {
            continue;
        }

        a = json_pack("{s:o,s:s,s:I,s:I,s:n,s:n,s:[],s:n}",
                      "id", ngx_kefu_api_str(e->element[0]),
                      "state", "offline", "conns", (json_int_t) 0,
                      "load", (json_int_t) 0, "capacity", "name", "groups",
                      "last");
        if (a == NULL) {
            continue;
        }

        h = e->element[1];

        for (j = 0; h->type == REDIS_REPLY_ARRAY && j + 1 < h->elements;
             j += 2)
        {
            k = h->element[j];
            val = h->element[j + 1];

            if ((k->len == 5 && ngx_strncmp(k->str, "state", 5) == 0)
                || (k->len == 4 && ngx_strncmp(k->str, "name", 4) == 0))
            {
                json_object_setn_new(a, k->str, k->len, ngx_kefu_api_str(val));

            } else if ((k->len == 5 && ngx_strncmp(k->str, "conns", 5) == 0)
                       || (k->len == 4 && ngx_strncmp(k->str, "load", 4) == 0)
                       || (k->len == 8
                           && ngx_strncmp(k->str, "capacity", 8) == 0)
                       || (k->len == 4 && ngx_strncmp(k->str, "last", 4) == 0))
            {
                json_object_setn_new(a, k->str, k->len,
                                     json_integer(ngx_kefu_api_int(val)));

            } else if (k->len == 6 && ngx_strncmp(k->str, "groups", 6) == 0) {
                /* a JSON array, or names separated by commas */
                g = ngx_kefu_api_json(val);

                if (!json_is_array(g)) {
                    json_decref(g);
                    g = json_array();

                    if (g && val->type == REDIS_REPLY_STRING) {
                        u_char  *p, *q, *end;

                        p = (u_char *) val->str;
                        end = p + val->len;

                        while (p < end) {
                            q = ngx_strlchr(p, end, ',');
                            if (q == NULL) {
                                q = end;
                            }

                            if (q > p) {
                                json_array_append_new(g,
                                    json_stringn((char *) p, q - p));
                            }

                            p = q + 1;
                        }
                    }
                }

                json_object_set_new(a, "groups", g ? g : json_array());
            }
        }

        json_array_append_new(agents, a);
    }

    return ngx_kefu_api_send(r, NGX_HTTP_OK,
                             json_pack("{s:o}", "agents", agents));
}


/* GET .../queues/<group>?limit= */

static ngx_int_t
ngx_kefu_api_queue(ngx_http_request_t *r, ngx_kefu_api_t *api, json_t *body)
{
    u_char       l[NGX_INT64_LEN];
    size_t       lens[3];
    int64_t      limit;
    ngx_int_t    rc;
    const char  *argv[3];

    limit = NGX_KEFU_API_LIST_MAX;
    rc = ngx_kefu_api_arg_int(r, api, "limit", 1, NGX_KEFU_API_QUEUE_MAX,
                              &limit);
    if (rc == NGX_ABORT) {
        return api->rc;
    }

    argv[0] = (char *) api->site->name.data;
    lens[0] = api->site->name.len;
    argv[1] = (char *) api->id.data;
    lens[1] = api->id.len;
    argv[2] = (char *) l;
    lens[2] = ngx_snprintf(l, sizeof(l), "%L", limit) - l;

    return ngx_kefu_api_eval(r, &ngx_kefu_script_api_queue, 3, argv, lens,
                             ngx_kefu_api_queue_done);
}


static ngx_int_t
ngx_kefu_api_queue_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    size_t        i;
    json_t       *convs, *c;
    redisReply  **e;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || (reply->elements - 1) % 4)
    {
        return ngx_kefu_api_unavailable(r);
    }

    e = reply->element;
    convs = json_array();

    for (i = 1; convs && i + 3 < reply->elements; i += 4) {
        c = json_pack("{s:o,s:I,s:I,s:o,s:I}",
                      "conv", ngx_kefu_api_str(e[i]),
                      "position", (json_int_t) (i - 1) / 4 + 1,
                      "since", (json_int_t) ngx_kefu_api_int(e[i + 1]),
                      "visitor", ngx_kefu_api_str(e[i + 2]),
                      "created", (json_int_t) ngx_kefu_api_int(e[i + 3]));
        if (c) {
            json_array_append_new(convs, c);
        }
    }

    return ngx_kefu_api_send(r, NGX_HTTP_OK,
                             json_pack("{s:s%,s:I,s:o}",
                                       "group", api->id.data, api->id.len,
                                       "length",
                                       (json_int_t) ngx_kefu_api_int(e[0]),
                                       "convs", convs));
}


/*
 * POST .../convs/<conv>/messages, .../visitors/<visitor>/messages:
 * {"cid", "text", "from"?: {"role": "bot"|"system"|"agent", "id", "name"},
 * "private"?, "group"?}.  The same storage step as a WebSocket message.
 */

static ngx_int_t
ngx_kefu_api_message(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body)
{
    u_char       whobuf[2 + NGX_KEFU_MAX_ID_LEN];
    json_t      *cid, *text, *from, *role, *id, *name, *priv, *group, *f, *t;
    ngx_int_t    rc;
    ngx_str_t    who, g;
    const char  *rn;

    cid = json_object_get(body, "cid");
    text = json_object_get(body, "text");
    from = json_object_get(body, "from");
    priv = json_object_get(body, "private");
    group = json_object_get(body, "group");

    if (!json_is_string(cid) || json_string_length(cid) == 0
        || json_string_length(cid) > NGX_KEFU_API_MAX_CID)
    {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"cid\" must be a string of 1-64 "
                                  "characters");
    }

    if (!json_is_string(text) || json_string_length(text) == 0) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"text\" must be a non-empty string");
    }

    if (json_string_length(text) > api->kcf->max_text) {
        return ngx_kefu_api_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "too_large", "\"text\" is over "
                                  "kefu_max_text");
    }

    if (priv && !json_is_boolean(priv)) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"private\" must be a boolean");
    }

    if (group && ngx_kefu_api_valid(group, NGX_KEFU_API_MAX_NAME) != NGX_OK)
    {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"group\" must be a group name");
    }

    if (from && !json_is_object(from)) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"from\" must be an object");
    }

    role = from ? json_object_get(from, "role") : NULL;
    id = from ? json_object_get(from, "id") : NULL;
    name = from ? json_object_get(from, "name") : NULL;
    rn = json_is_string(role) ? json_string_value(role) : "system";

    if (role && !json_is_string(role)) {
        rn = "";
    }

    if (name && !(json_is_string(name)
                  && json_string_length(name) <= NGX_KEFU_MAX_ID_LEN))
    {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"from.name\" must be a string of at most "
                                  "128 bytes");
    }

    who.data = whobuf;

    if (ngx_strcmp(rn, "system") == 0) {
        ngx_str_set(&who, "y:system");
        f = json_pack("{s:s}", "role", "system");

    } else if (ngx_strcmp(rn, "bot") == 0 || ngx_strcmp(rn, "agent") == 0) {

        if (ngx_kefu_api_valid(id, NGX_KEFU_MAX_ID_LEN) != NGX_OK) {
            return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                      "\"from.id\" must be an id of 1-128 "
                                      "characters [A-Za-z0-9._:@-]");
        }

        who.len = ngx_snprintf(whobuf, sizeof(whobuf), "%c:%s", rn[0],
                               json_string_value(id))
                  - whobuf;
        f = json_pack("{s:s,s:O}", "role", rn, "id", id);

    } else {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"from.role\" must be bot, system or "
                                  "agent");
    }

    if (f && json_is_string(name)) {
        json_object_set(f, "name", name);
    }

    t = json_pack("{s:o,s:O,s:O}", "from", f, "text", text, "cid", cid);
    if (t && json_is_true(priv)) {
        json_object_set_new(t, "private", json_true());
    }

    if (t == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    g = api->site->default_group;

    if (group) {
        g.data = (u_char *) json_string_value(group);
        g.len = json_string_length(group);
    }

    rc = ngx_kefu_api_store(r, api, &who, "msg", t, json_string_value(cid),
                            json_is_true(priv), "", 1, &g);
    json_decref(t);

    return rc;
}


/*
 * POST .../convs/<conv>/events, .../visitors/<visitor>/events:
 * {"name", "data"?, "suggested_reply"?, "visitor"?: bool, "cid"?,
 * "open"?: bool}.  A log entry like a message: agents see it in the
 * timeline; the visitor only when "visitor" is true (otherwise it is
 * stored like a private note).
 */

static ngx_int_t
ngx_kefu_api_event(ngx_http_request_t *r, ngx_kefu_api_t *api, json_t *body)
{
    json_t      *name, *data, *reply, *vis, *cid, *open, *t;
    ngx_int_t    rc;
    ngx_str_t    who;

    name = json_object_get(body, "name");
    data = json_object_get(body, "data");
    reply = json_object_get(body, "suggested_reply");
    vis = json_object_get(body, "visitor");
    cid = json_object_get(body, "cid");
    open = json_object_get(body, "open");

    if (ngx_kefu_api_valid(name, NGX_KEFU_API_MAX_NAME) != NGX_OK) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"name\" must be an event name of 1-64 "
                                  "characters [A-Za-z0-9._:@-]");
    }

    if (data && !json_is_object(data)) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"data\" must be an object");
    }

    if (reply && !json_is_null(reply)
        && (!json_is_string(reply) || json_string_length(reply) == 0))
    {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"suggested_reply\" must be a string");
    }

    if (json_is_string(reply)
        && json_string_length(reply) > api->kcf->max_text)
    {
        return ngx_kefu_api_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                                  "too_large", "\"suggested_reply\" is over "
                                  "kefu_max_text");
    }

    if ((vis && !json_is_boolean(vis)) || (open && !json_is_boolean(open))) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"visitor\" and \"open\" must be "
                                  "booleans");
    }

    if (cid && (!json_is_string(cid) || json_string_length(cid) == 0
                || json_string_length(cid) > NGX_KEFU_API_MAX_CID))
    {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"cid\" must be a string of 1-64 "
                                  "characters");
    }

    t = json_pack("{s:O,s:o}", "name", name,
                  "data", data ? json_incref(data) : json_object());

    if (t && json_is_string(reply)) {
        json_object_set(t, "suggested_reply", reply);
    }

    /* for the agents only: stored and delivered like a private note */
    if (t && !json_is_true(vis)) {
        json_object_set_new(t, "private", json_true());
    }

    if (t == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_str_set(&who, "y:event");

    rc = ngx_kefu_api_store(r, api, &who, "event", t,
                            cid ? json_string_value(cid) : NULL,
                            !json_is_true(vis), "event", json_is_true(open),
                            &api->site->default_group);
    json_decref(t);

    return rc;
}


/*
 * The chat's msg script with role "service": an entry of the given type
 * whose fields (after conv, id, seq and ts) are tail's.
 */

static ngx_int_t
ngx_kefu_api_store(ngx_http_request_t *r, ngx_kefu_api_t *api,
    ngx_str_t *who, const char *type, json_t *tail, const char *cid,
    ngx_uint_t priv, const char *ev, ngx_uint_t open, ngx_str_t *group)
{
    char                 *s;
    u_char                idbuf[NGX_INT64_LEN], newconv[NGX_INT64_LEN];
    u_char                tsbuf[NGX_INT64_LEN], ttl[NGX_INT_T_LEN];
    u_char                maxlen[NGX_INT_T_LEN], head[64];
    u_char                mid[64];
    u_char                cidbuf[1 + NGX_INT64_LEN], grace[NGX_INT_T_LEN];
    u_char                ids[NGX_KEFU_API_IDS * (NGX_INT64_LEN + 1)], *p;
    size_t                lens[21];
    json_t               *t;
    int64_t               ts;
    uint64_t              id, conv_id, rid;
    ngx_int_t             rc;
    ngx_uint_t            i;
    const char           *argv[21];
    ngx_kefu_main_conf_t *kmcf;

    kmcf = api->kmcf;

    id = ngx_kefu_id_next(&kmcf->ids);
    conv_id = ngx_kefu_id_next(&kmcf->ids);

    if (id == 0 || conv_id == 0 || !ngx_kefu_redis_ready(kmcf->redis)) {
        return ngx_kefu_api_unavailable(r);
    }

    /* routing a conversation opened for a visitor writes system entries */
    p = ids;

    for (i = 0; api->visitor && i < NGX_KEFU_API_IDS; i++) {
        rid = ngx_kefu_id_next(&kmcf->ids);
        p = ngx_sprintf(p, "%s%uL", i ? " " : "", rid);
    }

    if (cid == NULL) {
        /* no idempotency asked for: a cid of its own */
        *ngx_snprintf(cidbuf, sizeof(cidbuf) - 1, "e%uL", id) = '\0';
        cid = (char *) cidbuf;
    }

    ts = ngx_kefu_now_ms();

    /* {"ts":..,<tail's fields>}, then "{" becomes "," to follow the seq */
    t = json_pack("{s:I}", "ts", (json_int_t) ts);
    if (t == NULL || json_object_update(t, tail) != 0) {
        json_decref(t);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s = json_dumps(t, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(t);

    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s[0] = ',';

    argv[0] = (char *) api->site->name.data;
    lens[0] = api->site->name.len;
    argv[1] = (char *) who->data;
    lens[1] = who->len;
    argv[2] = "service";
    lens[2] = 7;
    argv[3] = api->visitor ? "" : (char *) api->id.data;
    lens[3] = api->visitor ? 0 : api->id.len;
    argv[4] = cid;
    lens[4] = ngx_strlen(cid);
    argv[5] = (char *) idbuf;
    lens[5] = ngx_snprintf(idbuf, sizeof(idbuf), "%uL", id) - idbuf;
    argv[6] = (char *) newconv;
    lens[6] = ngx_snprintf(newconv, sizeof(newconv), "%uL", conv_id)
              - newconv;
    argv[7] = (char *) tsbuf;
    lens[7] = ngx_snprintf(tsbuf, sizeof(tsbuf), "%L", ts) - tsbuf;
    argv[8] = (char *) head;
    lens[8] = ngx_snprintf(head, sizeof(head), "{\"type\":\"%s\",\"conv\":\"",
                           type) - head;
    argv[9] = (char *) mid;
    lens[9] = ngx_snprintf(mid, sizeof(mid), "\",\"id\":\"%uL\",\"seq\":", id)
              - mid;
    argv[10] = s;
    lens[10] = ngx_strlen(s);
    argv[11] = priv ? "1" : "0";
    lens[11] = 1;
    argv[12] = (char *) group->data;
    lens[12] = group->len;
    argv[13] = (char *) ttl;
    lens[13] = ngx_snprintf(ttl, sizeof(ttl), "%T",
                            (time_t) (kmcf->dedup_ttl / 1000)) - ttl;
    argv[14] = (char *) maxlen;
    lens[14] = ngx_snprintf(maxlen, sizeof(maxlen), "%i", kmcf->log_max)
               - maxlen;
    argv[15] = "-";
    lens[15] = 1;
    argv[16] = (char *) ids;
    lens[16] = p - ids;
    argv[17] = (char *) grace;
    lens[17] = ngx_snprintf(grace, sizeof(grace), "%M", api->site->grace)
               - grace;
    argv[18] = api->visitor ? (char *) api->id.data : "";
    lens[18] = api->visitor ? api->id.len : 0;
    argv[19] = ev;
    lens[19] = ngx_strlen(ev);
    argv[20] = open ? "1" : "0";
    lens[20] = 1;

    rc = ngx_kefu_api_eval(r, &ngx_kefu_script_msg, 21, argv, lens,
                           ngx_kefu_api_store_done);
    free(s);

    return rc;
}


static ngx_int_t
ngx_kefu_api_store_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    json_t       *j, *n;
    int64_t       code;
    redisReply  **e;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        return ngx_kefu_api_unavailable(r);
    }

    e = reply->element;
    code = e[0]->integer;

    /* queues the routing of a new conversation could not finish */
    if (reply->elements > 7 && e[7]->type == REDIS_REPLY_STRING
        && e[7]->len)
    {
        ngx_kefu_route_drain(api->kmcf, api->site, (u_char *) e[7]->str,
                             e[7]->len);
    }

    switch (code) {

    case 0:
    case 1:
        break;

    case -3:
        return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                  "the visitor has no open conversation");

    case -4:
        return ngx_kefu_api_error(r, NGX_HTTP_CONFLICT, "conflict",
                                  "the conversation is closed");

    default:
        return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                  "no such conversation");
    }

    if (reply->elements < 6) {
        return ngx_kefu_api_unavailable(r);
    }

    j = json_pack("{s:o,s:o,s:I,s:I,s:b,s:b}",
                  "conv", ngx_kefu_api_str(e[1]),
                  "id", ngx_kefu_api_str(e[3]),
                  "seq", (json_int_t) ngx_kefu_api_int(e[2]),
                  "ts", (json_int_t) ngx_kefu_api_int(e[4]),
                  "dup", code == 1,
                  "created", ngx_kefu_api_int(e[5]) == 1);

    /* a new conversation: where routing put it */
    if (j && reply->elements > 6 && e[6]->type == REDIS_REPLY_STRING
        && e[6]->len)
    {
        n = json_loadb(e[6]->str, e[6]->len, 0, NULL);

        if (json_is_object(n)) {
            json_object_del(n, "type");
            json_object_set(j, "routing", n);
        }

        json_decref(n);
    }

    return ngx_kefu_api_send(r, code == 1 ? NGX_HTTP_OK : NGX_HTTP_CREATED,
                             j);
}


/*
 * POST .../convs/<conv>/assign {"agent"}, .../transfer {"agent"} or
 * {"group"}, .../close {}: the operations the agents' WebSocket actions
 * use (ngx_kefu_route.h), by the token's subject as a supervisor.
 */

static ngx_int_t
ngx_kefu_api_action(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body)
{
    json_t                 *agent, *group;
    ngx_int_t               rc;
    ngx_kefu_actor_t        actor;
    ngx_kefu_api_wait_t    *w;
    ngx_kefu_route_args_t   args;

    agent = json_object_get(body, "agent");
    group = json_object_get(body, "group");

    if ((agent && !json_is_null(agent) && !json_is_string(agent))
        || (group && !json_is_null(group) && !json_is_string(group)))
    {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"agent\" and \"group\" must be strings");
    }

    ngx_memzero(&actor, sizeof(ngx_kefu_actor_t));
    actor.site = api->site;
    actor.id = api->sub;
    actor.role = NGX_KEFU_ROLE_ADMIN;
    actor.supervisor = 1;

    ngx_memzero(&args, sizeof(ngx_kefu_route_args_t));
    args.conv = api->id;

    if (json_is_string(agent)) {
        args.agent.data = (u_char *) json_string_value(agent);
        args.agent.len = json_string_length(agent);
    }

    if (json_is_string(group)) {
        args.group.data = (u_char *) json_string_value(group);
        args.group.len = json_string_length(group);
    }

    w = ngx_kefu_api_wait(r, NULL);
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the outcome may come before the operation returns */
    w->sync = 1;

    if (api->action.data[0] == 'a') {
        ngx_kefu_route_assign(api->kmcf, &actor, &args,
                              ngx_kefu_api_action_done, w);

    } else if (api->action.data[0] == 't') {
        ngx_kefu_route_transfer(api->kmcf, &actor, &args,
                                ngx_kefu_api_action_done, w);

    } else {
        ngx_kefu_route_close(api->kmcf, &actor, &args,
                             ngx_kefu_api_action_done, w);
    }

    if (w->sync == 2) {
        rc = w->rc;
        ngx_free(w);
        return rc;
    }

    w->sync = 0;
    r->read_event_handler = ngx_http_test_reading;

    return NGX_DONE;
}


static void
ngx_kefu_api_action_done(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result)
{
    ngx_kefu_api_wait_t  *w = data;

    json_t              *j;
    ngx_int_t            rc;
    ngx_uint_t           status;
    const char          *err;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = w->r;

    if (r == NULL) {
        ngx_free(w);
        return;
    }

    w->cln->handler = NULL;
    r->read_event_handler = ngx_http_block_reading;

    switch (code) {

    case NGX_KEFU_ROUTE_OK:
    case NGX_KEFU_ROUTE_NOOP:
        j = json_is_object(result) ? json_deep_copy(result) : json_object();

        if (j) {
            json_object_del(j, "type");
            json_object_set_new(j, "changed",
                                json_boolean(code == NGX_KEFU_ROUTE_OK));
        }

        rc = ngx_kefu_api_send(r, NGX_HTTP_OK, j);
        break;

    default:
        /* the API acts as a supervisor: forbidden means no such one */
        status = ngx_kefu_route_http_status(code);
        err = message ? message : "the action failed";

        switch (code) {
        case NGX_KEFU_ROUTE_FORBIDDEN:
            status = NGX_HTTP_NOT_FOUND;
            rc = ngx_kefu_api_error(r, status, "not_found", err);
            break;
        case NGX_KEFU_ROUTE_NOT_FOUND:
            rc = ngx_kefu_api_error(r, status, "not_found", err);
            break;
        case NGX_KEFU_ROUTE_CONFLICT:
            rc = ngx_kefu_api_error(r, status, "conflict", err);
            break;
        case NGX_KEFU_ROUTE_BAD_REQUEST:
            rc = ngx_kefu_api_error(r, status, "bad_request", err);
            break;
        case NGX_KEFU_ROUTE_UNAVAILABLE:
            rc = ngx_kefu_api_unavailable(r);
            break;
        default:
            rc = ngx_kefu_api_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                    "internal", err);
        }
    }

    if (w->sync) {
        w->rc = rc;
        w->sync = 2;
        return;
    }

    ngx_free(w);

    c = r->connection;
    ngx_http_finalize_request(r, rc);
    ngx_http_run_posted_requests(c);
}


/*
 * A visitor said hello: its name and the shop's attrs go to its hash
 * (kefu:{s:<site>}:v:<id>: name, attrs, seen), its page to the front of
 * its page trail.  Fire and forget: a lost update only makes the API show
 * older information, and never delays the visitor.
 */

void
ngx_kefu_api_visitor(ngx_kefu_ws_t *ws, json_t *hello)
{
    char                  *attrs, *page;
    u_char                 key[64 + NGX_KEFU_MAX_ID_LEN], ts[NGX_INT64_LEN];
    size_t                 lens[8], n;
    json_t                *a, *p, *url, *title, *ref, *pg;
    const char            *argv[8];
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ws->main_conf;

    if (ws->role != NGX_KEFU_ROLE_VISITOR
        || !ngx_kefu_redis_ready(kmcf->redis))
    {
        return;
    }

    a = json_object_get(hello, "attrs");
    attrs = json_is_object(a) ? json_dumps(a, JSON_COMPACT) : NULL;

    if (attrs && ngx_strlen(attrs) > NGX_KEFU_API_MAX_ATTRS) {
        ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                      "kefu: visitor \"%V\" attrs over %d bytes not kept",
                      &ws->user_id, NGX_KEFU_API_MAX_ATTRS);
        free(attrs);
        attrs = NULL;
    }

    argv[0] = "HSET";
    lens[0] = 4;
    argv[1] = (char *) key;
    lens[1] = ngx_snprintf(key, sizeof(key), "kefu:{s:%V}:v:%V",
                           &ws->site->name, &ws->user_id) - key;
    argv[2] = "seen";
    lens[2] = 4;
    argv[3] = (char *) ts;
    lens[3] = ngx_snprintf(ts, sizeof(ts), "%L", ngx_kefu_now_ms()) - ts;
    n = 4;

    if (ws->name.len) {
        argv[n] = "name";
        lens[n++] = 4;
        argv[n] = (char *) ws->name.data;
        lens[n++] = ws->name.len;
    }

    if (attrs) {
        argv[n] = "attrs";
        lens[n++] = 5;
        argv[n] = attrs;
        lens[n++] = ngx_strlen(attrs);
    }

    (void) ngx_kefu_redis_command(kmcf->redis, NULL, NULL, (int) n, argv,
                                  lens);
    free(attrs);

    p = json_object_get(hello, "page");
    url = json_is_object(p) ? json_object_get(p, "url") : NULL;

    if (!json_is_string(url) || json_string_length(url) == 0
        || json_string_length(url) > NGX_KEFU_API_MAX_URL)
    {
        return;
    }

    pg = json_pack("{s:O,s:I}", "url", url,
                   "ts", (json_int_t) ngx_kefu_now_ms());

    title = json_object_get(p, "title");
    ref = json_object_get(p, "referrer");

    if (pg && json_is_string(title)
        && json_string_length(title) <= NGX_KEFU_API_MAX_URL)
    {
        json_object_set(pg, "title", title);
    }

    if (pg && json_is_string(ref)
        && json_string_length(ref) <= NGX_KEFU_API_MAX_URL)
    {
        json_object_set(pg, "referrer", ref);
    }

    page = pg ? json_dumps(pg, JSON_COMPACT) : NULL;
    json_decref(pg);

    if (page == NULL) {
        return;
    }

    /* the same trail the visitor's "page" messages extend (the latest 50) */
    argv[0] = "RPUSH";
    lens[0] = 5;
    lens[1] = ngx_snprintf(key, sizeof(key), "kefu:{s:%V}:v:%V:pages",
                           &ws->site->name, &ws->user_id) - key;
    argv[2] = page;
    lens[2] = ngx_strlen(page);

    (void) ngx_kefu_redis_command(kmcf->redis, NULL, NULL, 3, argv, lens);
    free(page);

    argv[0] = "LTRIM";
    argv[2] = "-50";
    lens[2] = 3;
    argv[3] = "-1";
    lens[3] = 2;

    (void) ngx_kefu_redis_command(kmcf->redis, NULL, NULL, 4, argv, lens);
}
