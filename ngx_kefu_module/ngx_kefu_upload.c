
/*
 * The upload (docs/attachments.md):
 *
 *   POST <kefu_upload location>?site=&conv=&name=
 *   Authorization: Bearer <the WebSocket's token>
 *
 * with the file as the raw body, or as the last part (named "file") of a
 * multipart/form-data body.  In order: the token and the participant (and
 * the visitor's hourly quota) are checked in Redis before a byte of the
 * body is read; nginx reads the body into a temporary file (never into
 * memory, client_max_body_size applies); the worker then copies it in
 * slices of NGX_KEFU_UPLOAD_SLICE bytes, letting other events run between
 * them, hashing it (SHA-256) and sniffing its type from the first bytes;
 * the optional scanner gets it; a rename puts it at
 * <kefu_upload_path>/<site>/<sha[0..1]>/<sha>, so two hosts sharing the
 * directory write the same name for the same bytes, atomically; Redis
 * records the reference and counts the quota; 201 with the attachment.
 *
 * Every error is {"error":{"code","message"}} (ngx_kefu_api.c).  The
 * request's cleanup stops whatever is still under way: the slice event,
 * the scan, the temporary file.
 */


#include "ngx_kefu_upload_int.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_jwt.h"
#include <openssl/rand.h>
#include "ngx_kefu_revoke.h"


/* a file uploaded before its conversation exists is kept this long */
#define NGX_KEFU_UPLOAD_PENDING  86400


static ngx_int_t ngx_kefu_upload_method(ngx_http_request_t *r);
static ngx_int_t ngx_kefu_upload_request(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static ngx_int_t ngx_kefu_upload_site(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static ngx_int_t ngx_kefu_upload_conv(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static ngx_int_t ngx_kefu_upload_start(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static ngx_int_t ngx_kefu_upload_auth(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static ngx_int_t ngx_kefu_upload_token(ngx_http_request_t *r,
    ngx_kefu_upload_t *u, json_t **claims);
static ngx_int_t ngx_kefu_upload_who(ngx_http_request_t *r,
    ngx_kefu_upload_t *u, json_t *sub, ngx_uint_t service);
static ngx_int_t ngx_kefu_upload_owned(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_upload_quota(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static ngx_int_t ngx_kefu_upload_checked(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static void ngx_kefu_upload_body(ngx_http_request_t *r);
static ngx_int_t ngx_kefu_upload_spooled(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static ngx_int_t ngx_kefu_upload_size(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static ngx_int_t ngx_kefu_upload_tmp(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static void ngx_kefu_upload_slice(ngx_event_t *ev);
static ngx_int_t ngx_kefu_upload_typed(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static void ngx_kefu_upload_scanned(void *data, ngx_int_t rc,
    ngx_str_t *name);
static ngx_int_t ngx_kefu_upload_refused(ngx_http_request_t *r,
    ngx_int_t rc, ngx_str_t *name);
static ngx_int_t ngx_kefu_upload_place(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static ngx_int_t ngx_kefu_upload_record(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static ngx_int_t ngx_kefu_upload_store(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static ngx_int_t ngx_kefu_upload_stored(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static void ngx_kefu_upload_finish(ngx_http_request_t *r, ngx_int_t rc);
static ngx_int_t ngx_kefu_upload_too_large(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static void ngx_kefu_upload_drop(ngx_kefu_upload_t *u);
static void ngx_kefu_upload_cleanup(void *data);


/* the request */

ngx_int_t
ngx_kefu_upload_handler(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_kefu_upload_t     *u;
    ngx_http_cleanup_t    *cln;

    if (r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD)) {
        return ngx_kefu_upload_serve(r);
    }

    u = ngx_pcalloc(r->pool, sizeof(ngx_kefu_upload_t));
    if (u == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    u->api.kmcf = ngx_http_get_module_main_conf(r, ngx_kefu_module);
    u->api.kcf = ngx_http_get_module_loc_conf(r, ngx_kefu_module);
    u->ucf = u->api.kmcf->upload;
    u->r = r;
    u->fd = NGX_INVALID_FILE;

    ngx_http_set_ctx(r, u, ngx_kefu_module);

    rc = ngx_kefu_upload_method(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    cln = ngx_http_cleanup_add(r, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_kefu_upload_cleanup;
    cln->data = u;

    rc = ngx_kefu_upload_request(r, u);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_kefu_upload_start(r, u);

    if (rc != NGX_DONE) {
        ngx_http_finalize_request(r, rc);
    }

    return NGX_DONE;
}


/* an upload is a main request's POST: NGX_DECLINED, or the error */

static ngx_int_t
ngx_kefu_upload_method(ngx_http_request_t *r)
{
    ngx_table_elt_t  *h;

    if (r != r->main) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "an upload cannot be a subrequest");
    }

    if (r->method != NGX_HTTP_POST) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, HEAD, POST");

        return ngx_kefu_api_error(r, NGX_HTTP_NOT_ALLOWED,
                                  "method_not_allowed", "uploads are POST, "
                                  "files GET");
    }

    return NGX_DECLINED;
}


/*
 * What the request says without Redis: the site, the token, the
 * conversation, the multipart boundary, the name and the length.
 * NGX_DECLINED when all of it is acceptable, or the response.
 */

static ngx_int_t
ngx_kefu_upload_request(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    ngx_int_t  rc;
    ngx_str_t  raw;

    rc = ngx_kefu_upload_site(r, u);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    u->limits = &u->api.site->upload;

    rc = ngx_kefu_upload_auth(r, u);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_kefu_upload_conv(r, u);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_kefu_upload_boundary(r, u);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* the name: the argument, or a multipart part's filename later */
    rc = ngx_kefu_api_arg(r, "name", &raw);

    if (rc == NGX_OK) {
        rc = ngx_kefu_upload_name(r, u, &raw);
        if (rc != NGX_DECLINED) {
            return rc;
        }

    } else if (u->boundary.len == 0) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"name\" is required");
    }

    /* refused before a byte of it is read */
    if (r->headers_in.content_length_n
        > u->limits->max_size
          + (u->boundary.len ? NGX_KEFU_UPLOAD_MULTIPART : 0))
    {
        return ngx_kefu_upload_too_large(r, u);
    }

    return NGX_DECLINED;
}


/* ?site=: NGX_DECLINED once u->api.site is found */

static ngx_int_t
ngx_kefu_upload_site(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    u_char     name[65];
    ngx_str_t  site;

    if (ngx_kefu_api_arg(r, "site", &site) != NGX_OK) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"site\" is required");
    }

    if (site.len > 64) {
        return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                  "unknown site");
    }

    *ngx_cpymem(name, site.data, site.len) = '\0';
    u->api.site = ngx_kefu_site_find(u->api.kmcf, (char *) name);

    if (u->api.site == NULL) {
        return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                  "unknown site");
    }

    return NGX_DECLINED;
}


/* ?conv=: required but for a visitor (its open conversation) */

static ngx_int_t
ngx_kefu_upload_conv(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    ngx_int_t  rc;
    ngx_str_t  conv;

    rc = ngx_kefu_api_arg(r, "conv", &conv);

    if (rc == NGX_OK) {
        if (ngx_kefu_valid_id(conv.data, conv.len) != NGX_OK) {
            return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                      "\"conv\" must be a conversation id");
        }

        u->conv = conv;

    } else if (u->role != NGX_KEFU_ROLE_VISITOR) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"conv\" is required");
    }

    return NGX_DECLINED;
}


/*
 * The checks that need Redis: the conversation is the uploader's, or a
 * visitor's quota; NGX_DONE once one is under way
 */

static ngx_int_t
ngx_kefu_upload_start(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    int64_t           hour;
    ngx_int_t         rc;
    ngx_str_t         role;
    ngx_kefu_call_t   call;

    hour = ngx_time() / 3600;

    u->hour = hour;

    /* given back by the one ngx_http_finalize_request() of the end */
    r->main->count++;

    if (u->conv.len) {
        /* the conversation named: the uploader's? (its slot) */
        role.data = (u_char *) (u->role == NGX_KEFU_ROLE_VISITOR ? "visitor"
                                : u->role == NGX_KEFU_ROLE_AGENT ? "agent"
                                : "admin");
        role.len = ngx_strlen(role.data);

        rc = ngx_kefu_upload_owner_args(&call, &u->api.site->name, &role,
                                        &u->id, &u->conv) != NGX_OK
             ? NGX_HTTP_INTERNAL_SERVER_ERROR
             : ngx_kefu_api_eval_call(r, &ngx_kefu_script_upload_owner, &call,
                                      ngx_kefu_upload_owned);

    } else if (u->role == NGX_KEFU_ROLE_VISITOR) {
        rc = ngx_kefu_upload_quota(r, u);

    } else {
        /* only a visitor's upload may go to its open conversation */
        rc = ngx_kefu_api_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                "not your conversation");
    }

    return rc;
}


/*
 * The token of the WebSocket's hello (visitor, anonymous visitor, agent,
 * admin) or of the API (service).  A token another configured site's
 * secret verifies is that site's: 403, not 401.
 */

static ngx_int_t
ngx_kefu_upload_auth(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    json_t      *claims, *v;
    ngx_int_t    rc;
    const char  *err, *role;

    rc = ngx_kefu_upload_token(r, u, &claims);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    v = json_object_get(claims, "role");
    role = json_is_string(v) ? json_string_value(v) : "";

    if (ngx_strcmp(role, "visitor") == 0) {
        u->role = NGX_KEFU_ROLE_VISITOR;

    } else if (ngx_strcmp(role, "agent") == 0) {
        u->role = NGX_KEFU_ROLE_AGENT;

    } else if (ngx_strcmp(role, "admin") == 0
               || ngx_strcmp(role, "service") == 0)
    {
        u->role = NGX_KEFU_ROLE_ADMIN;

    } else {
        json_decref(claims);
        err = "token \"role\" must be visitor, agent, admin or service";
        goto unauthorized;
    }

    if (ngx_kefu_jwt_sub(claims, &err) != NGX_OK
        || ngx_kefu_revoke_check(u->api.kmcf, u->api.site, claims, &err)
           != NGX_OK)
    {
        json_decref(claims);
        goto unauthorized;
    }

    rc = ngx_kefu_upload_who(r, u, json_object_get(claims, "sub"),
                             ngx_strcmp(role, "service") == 0);

    json_decref(claims);

    return rc;

unauthorized:

    return ngx_kefu_api_unauthorized(r, "upload", err);
}


/*
 * The bearer token, verified with the site's secret: NGX_DECLINED with
 * its claims (the caller's reference), or the response.  A token another
 * site's secret verifies is forbidden rather than unauthorized.
 */

static ngx_int_t
ngx_kefu_upload_token(ngx_http_request_t *r, ngx_kefu_upload_t *u,
    json_t **claims)
{
    ngx_str_t         token;
    ngx_uint_t        i;
    const char       *err, *e2;
    ngx_kefu_site_t  *s, *site;

    site = u->api.site;
    err = ngx_kefu_api_bearer(r, &token);

    if (err) {
        return ngx_kefu_api_unauthorized(r, "upload", err);
    }

    if (ngx_kefu_jwt_verify(&token, &site->secret, ngx_time(), claims,
                            &err)
        != NGX_OK)
    {
        s = u->api.kmcf->sites.elts;

        for (i = 0; i < u->api.kmcf->sites.nelts; i++) {
            if (&s[i] == site
                || s[i].secret.len == 0
                || ngx_kefu_jwt_verify(&token, &s[i].secret, ngx_time(),
                                       claims, &e2)
                   != NGX_OK)
            {
                continue;
            }

            json_decref(*claims);
            return ngx_kefu_api_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                      "token is for another site");
        }

        return ngx_kefu_api_unauthorized(r, "upload", err);
    }

    if (ngx_kefu_jwt_site_is(*claims, &site->name) != NGX_OK) {
        json_decref(*claims);
        return ngx_kefu_api_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                  "token is for another site");
    }

    return NGX_DECLINED;
}


/* the uploader's id (sub) and who signs the attachment, as its msg says */

static ngx_int_t
ngx_kefu_upload_who(ngx_http_request_t *r, ngx_kefu_upload_t *u, json_t *sub,
    ngx_uint_t service)
{
    u->id.len = json_string_length(sub);
    u->id.data = ngx_pnalloc(r->pool, u->id.len + 2);
    u->who.data = ngx_pnalloc(r->pool, u->id.len + 2);

    if (u->id.data == NULL || u->who.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(u->id.data, json_string_value(sub), u->id.len);

    if (service) {
        ngx_str_set(&u->who, "api");

    } else {
        u->who.len = ngx_sprintf(u->who.data, "%c:%V", "?vam"[u->role],
                                 &u->id)
                     - u->who.data;
    }

    return NGX_DECLINED;
}


/*
 * A file name is only ever shown: its last path component, UTF-8, no
 * control characters, at most 255 bytes.  NGX_DECLINED (go on), or the
 * rc of the error response given (which may be NGX_OK).
 */

ngx_int_t
ngx_kefu_upload_name(ngx_http_request_t *r, ngx_kefu_upload_t *u,
    ngx_str_t *raw)
{
    u_char  *p, *last, *start;

    start = raw->data;
    last = raw->data + raw->len;

    for (p = raw->data; p < last; p++) {
        if (*p == '/' || *p == '\\') {
            start = p + 1;
        }
    }

    for (p = start; p < last; p++) {
        if (*p < 0x20 || *p == 0x7f || *p == '"') {
            return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                      "\"name\" must not contain control "
                                      "characters or quotes");
        }
    }

    if (last - start == 0 || last - start > NGX_KEFU_UPLOAD_MAX_NAME
        || (last - start == 1 && *start == '.')
        || (last - start == 2 && start[0] == '.' && start[1] == '.')
        || ngx_kefu_utf8_validate(NGX_KEFU_UTF8_ACCEPT, start, last - start)
           != NGX_KEFU_UTF8_ACCEPT)
    {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"name\" must be a file name of 1-255 "
                                  "bytes of UTF-8");
    }

    u->att.name.data = start;
    u->att.name.len = last - start;

    return NGX_DECLINED;
}


/* the conversation named is the uploader's: a visitor's quota next */

static ngx_int_t
ngx_kefu_upload_owned(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    ngx_kefu_upload_t *u = (ngx_kefu_upload_t *) api;

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1
        && reply->element[0]->type == REDIS_REPLY_INTEGER
        && reply->element[0]->integer == 0
        && u->role == NGX_KEFU_ROLE_VISITOR)
    {
        return ngx_kefu_upload_quota(r, u);
    }

    return ngx_kefu_upload_checked(r, api, reply);
}


/* a visitor's open conversation (none named) and quota: the site's slot */

static ngx_int_t
ngx_kefu_upload_quota(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    ngx_kefu_call_t  call;

    if (ngx_kefu_upload_check_args(&call, &u->api.site->name, &u->id,
                                   &u->conv, u->limits->quota, u->hour)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_upload_check, &call,
                                  ngx_kefu_upload_checked);
}


static ngx_int_t
ngx_kefu_upload_checked(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    ngx_kefu_upload_t *u = (ngx_kefu_upload_t *) api;

    u_char      msg[128];
    ngx_int_t   rc;
    redisReply **e;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        return ngx_kefu_api_unavailable(r);
    }

    e = reply->element;

    switch (e[0]->integer) {

    case 0:
        break;

    case -2:
        *ngx_snprintf(msg, sizeof(msg) - 1, "over the quota of %i files an "
                      "hour, retry later", u->limits->quota) = '\0';
        return ngx_kefu_api_error(r, NGX_HTTP_TOO_MANY_REQUESTS,
                                  "rate_limited", (char *) msg);

    default:
        return ngx_kefu_api_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                  "not your conversation");
    }

    if (reply->elements > 1 && e[1]->type == REDIS_REPLY_STRING
        && e[1]->len)
    {
        u->conv.data = ngx_pnalloc(r->pool, e[1]->len);
        if (u->conv.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        u->conv.len = e[1]->len;
        ngx_memcpy(u->conv.data, e[1]->str, e[1]->len);

    } else {
        u->conv.len = 0;
    }

    /* never in memory: a 100 MB upload costs the worker a few buffers */
    r->request_body_in_file_only = 1;
    r->request_body_in_clean_file = 1;
    r->request_body_file_log_level = 0;

    rc = ngx_http_read_client_request_body(r, ngx_kefu_upload_body);

    if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        return rc;
    }

    /* the body reading holds the request now; our reference goes */
    ngx_http_finalize_request(r, NGX_DONE);

    return NGX_DONE;
}


static void
ngx_kefu_upload_body(ngx_http_request_t *r)
{
    ngx_int_t            rc;
    ngx_kefu_upload_t   *u;

    u = ngx_http_get_module_ctx(r, ngx_kefu_module);

    rc = ngx_kefu_upload_spooled(r, u);

    if (rc == NGX_DECLINED && u->boundary.len) {
        rc = ngx_kefu_upload_multipart(r, u);
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_kefu_upload_size(r, u);
    }

    if (rc == NGX_DECLINED) {
        rc = ngx_kefu_upload_tmp(r, u);
    }

    if (rc != NGX_DECLINED) {
        ngx_http_finalize_request(r, rc);
        return;
    }

    u->started = ngx_time();

    u->ev.handler = ngx_kefu_upload_slice;
    u->ev.data = r;
    u->ev.log = r->connection->log;

    /* a client that leaves meanwhile runs the cleanup */
    r->read_event_handler = ngx_http_test_reading;
    r->write_event_handler = ngx_http_request_empty_handler;

    ngx_kefu_upload_slice(&u->ev);
}


/* the body nginx spooled to its temporary file, and the copy's buffers */

static ngx_int_t
ngx_kefu_upload_spooled(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    ngx_buf_t  *b;

    b = (r->request_body && r->request_body->bufs)
        ? r->request_body->bufs->buf : NULL;

    if (b == NULL || !b->in_file || b->file_last == 0) {
        if (b && !b->in_file && b->last > b->pos) {
            /* cannot happen with request_body_in_file_only */
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "the file is empty");
    }

    u->in = b->file;
    u->pos = b->file_pos;
    u->end = b->file_last;

    u->head = ngx_pnalloc(r->pool, NGX_KEFU_UPLOAD_HEAD);
    u->chunk = ngx_pnalloc(r->pool, NGX_KEFU_UPLOAD_CHUNK);
    u->md = EVP_MD_CTX_new();

    if (u->head == NULL || u->chunk == NULL || u->md == NULL
        || EVP_DigestInit_ex(u->md, EVP_sha256(), NULL) != 1)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return NGX_DECLINED;
}


/* the file's own bytes (a multipart part's, or the whole body) */

static ngx_int_t
ngx_kefu_upload_size(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    if (u->end - u->pos == 0) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "the file is empty");
    }

    if (u->end - u->pos > u->limits->max_size) {
        return ngx_kefu_upload_too_large(r, u);
    }

    u->att.size = u->end - u->pos;

    return NGX_DECLINED;
}


/* <path>/<site>/tmp/<random>: a random name, never the client's */

static ngx_int_t
ngx_kefu_upload_tmp(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    u_char  *p;
    u_char   rnd[12];

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    u->tmp = ngx_pnalloc(r->pool, u->ucf->path.len + u->api.site->name.len
                                  + sizeof("//tmp/") + 2 * sizeof(rnd));
    if (u->tmp == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = ngx_sprintf(u->tmp, "%V/%V/tmp/", &u->ucf->path, &u->api.site->name);
    p = ngx_hex_dump(p, rnd, sizeof(rnd));
    *p = '\0';

    u->fd = ngx_open_file(u->tmp, NGX_FILE_RDWR, NGX_FILE_CREATE_OR_OPEN,
                          0640);

    if (u->fd == NGX_INVALID_FILE && ngx_errno == NGX_ENOENT) {
        if (ngx_create_full_path(u->tmp, 0750) == 0) {
            u->fd = ngx_open_file(u->tmp, NGX_FILE_RDWR,
                                  NGX_FILE_CREATE_OR_OPEN, 0640);
        }
    }

    if (u->fd == NGX_INVALID_FILE) {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      "kefu: cannot create \"%s\"", u->tmp);
        u->tmp = NULL;
        return ngx_kefu_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "unavailable", "file storage is unavailable");
    }

    return NGX_DECLINED;
}


/*
 * One slice: copy and hash at most NGX_KEFU_UPLOAD_SLICE bytes, then let
 * the worker's other events run (the next cycle takes the next slice).
 */

static void
ngx_kefu_upload_slice(ngx_event_t *ev)
{
    size_t               size, done;
    ssize_t              n, w;
    ngx_int_t            rc;
    ngx_http_request_t  *r;
    ngx_kefu_upload_t   *u;

    r = ev->data;
    u = ngx_http_get_module_ctx(r, ngx_kefu_module);

    for (done = 0; done < NGX_KEFU_UPLOAD_SLICE && u->pos < u->end;
         done += n)
    {
        size = (size_t) ngx_min((off_t) NGX_KEFU_UPLOAD_CHUNK,
                                u->end - u->pos);

        n = ngx_read_file(u->in, u->chunk, size, u->pos);

        if (n <= 0) {
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "kefu: cannot read the upload's temporary file");
            ngx_kefu_upload_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (EVP_DigestUpdate(u->md, u->chunk, n) != 1) {
            ngx_kefu_upload_finish(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        for (w = 0; w < n; /* void */) {
            size = ngx_write_fd(u->fd, u->chunk + w, n - w);

            if (size == (size_t) NGX_FILE_ERROR) {
                ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                              "kefu: cannot write \"%s\"", u->tmp);
                ngx_kefu_upload_drop(u);
                ngx_kefu_upload_finish(r,
                    ngx_kefu_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                       "unavailable",
                                       "file storage is unavailable"));
                return;
            }

            w += size;
        }

        if (u->head_len < NGX_KEFU_UPLOAD_HEAD) {
            size = ngx_min((size_t) n, NGX_KEFU_UPLOAD_HEAD - u->head_len);
            ngx_memcpy(u->head + u->head_len, u->chunk, size);
            u->head_len += size;
        }

        u->pos += n;

        /* the type is known from the head: refuse before copying the rest */
        if (!u->typed
            && (u->head_len == NGX_KEFU_UPLOAD_HEAD || u->pos == u->end))
        {
            u->typed = 1;
            rc = ngx_kefu_upload_typed(r, u);

            if (rc != NGX_DECLINED) {
                ngx_kefu_upload_finish(r, rc);
                return;
            }
        }
    }

    if (u->pos < u->end) {
        ngx_post_event(ev, &ngx_posted_next_events);
        return;
    }

    ngx_kefu_upload_finish(r, ngx_kefu_upload_store(r, u));
}


/* NGX_DECLINED (go on), or the rc of the error response given (415) */

static ngx_int_t
ngx_kefu_upload_typed(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    u_char                  *p, *name, msg[256], allowed[128];
    ngx_int_t                rc;
    ngx_str_t                ext;
    ngx_uint_t               i;
    ngx_kefu_upload_type_t  *t;

    t = ngx_kefu_upload_sniff(u->head, u->head_len, &u->att.width,
                              &u->att.height);

    p = allowed;

    for (i = 0; ngx_kefu_upload_types[i].name; i++) {
        if (u->limits->types & ((ngx_uint_t) 1 << i)) {
            p = ngx_slprintf(p, allowed + sizeof(allowed) - 1, "%s%s",
                             p == allowed ? "" : ", ",
                             ngx_kefu_upload_types[i].name);
        }
    }

    *p = '\0';

    if (t == NULL) {
        *ngx_snprintf(msg, sizeof(msg) - 1, "the file's bytes are of no "
                      "type this site accepts (%s)", allowed) = '\0';
        goto refused;
    }

    if (t->never) {
        *ngx_snprintf(msg, sizeof(msg) - 1, "the file is %s, which is never "
                      "accepted: a browser would run what it contains",
                      t->what) = '\0';
        goto refused;
    }

    if (!(u->limits->types & ((ngx_uint_t) 1 << (t - ngx_kefu_upload_types))))
    {
        *ngx_snprintf(msg, sizeof(msg) - 1, "the file is %s, not a type "
                      "this site accepts (%s)", t->what, allowed) = '\0';
        goto refused;
    }

    rc = ngx_kefu_upload_ext_fits(t, &u->att.name, &ext);

    if (rc == NGX_DECLINED) {
        *ngx_snprintf(msg, sizeof(msg) - 1, "the file is %s but its name "
                      "ends in .%*s", t->what,
                      ngx_min(ext.len, (size_t) 32), ext.data) = '\0';
        goto refused;
    }

    if (rc == NGX_DONE) {
        /* no extension: the one of its type, so downloads open right */
        name = ngx_pnalloc(r->pool, u->att.name.len + 16);
        if (name == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        p = ngx_cpymem(name, u->att.name.data, u->att.name.len);

        if (p[-1] != '.') {
            *p++ = '.';
        }

        p = ngx_sprintf(p, "%s", ngx_kefu_upload_ext(t));

        if (p - name <= NGX_KEFU_UPLOAD_MAX_NAME) {
            u->att.name.data = name;
            u->att.name.len = p - name;
        }
    }

    u->att.type = t;

    if (!t->image) {
        u->att.width = -1;
        u->att.height = -1;
    }

    return NGX_DECLINED;

refused:

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "kefu: upload refused: %s", msg);

    ngx_kefu_upload_drop(u);

    return ngx_kefu_api_error(r, NGX_HTTP_UNSUPPORTED_MEDIA_TYPE,
                              "unsupported_media_type", (char *) msg);
}


/* all copied: the hash, then the scan or straight to the rename */

static ngx_int_t
ngx_kefu_upload_store(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    u_char        md[EVP_MAX_MD_SIZE];
    unsigned int  mdlen;

    if (EVP_DigestFinal_ex(u->md, md, &mdlen) != 1 || mdlen != 32) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_hex_dump(u->att.sha, md, 32);

    if (u->ucf->scan == NULL) {
        ngx_kefu_upload_scanned(u, NGX_OK, NULL);
        return NGX_DONE;
    }

    u->scan = ngx_kefu_scan_start(u->ucf, r->pool, r->connection->log,
                                  u->fd, u->att.size, ngx_kefu_upload_scanned,
                                  u);
    if (u->scan == NULL) {
        ngx_kefu_upload_drop(u);
        return ngx_kefu_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "unavailable", "the virus scanner is "
                                  "unavailable, retry later");
    }

    return NGX_DONE;
}


static void
ngx_kefu_upload_scanned(void *data, ngx_int_t rc, ngx_str_t *name)
{
    ngx_kefu_upload_t *u = data;

    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    r = u->r;
    c = r->connection;
    u->scan = NULL;

    /* nothing of a refused file is left once the client hears of it */
    if (rc != NGX_OK) {
        ngx_kefu_upload_drop(u);
    }

    if (rc == NGX_ERROR || rc == NGX_DECLINED) {
        rc = ngx_kefu_upload_refused(r, rc, name);

    } else {
        rc = ngx_kefu_upload_place(r, u);

        if (rc == NGX_DECLINED) {
            rc = ngx_kefu_upload_record(r, u);
        }
    }

    ngx_kefu_upload_finish(r, rc);

    ngx_http_run_posted_requests(c);
}


/* the scanner's answer other than clean: unavailable, or what it found */

static ngx_int_t
ngx_kefu_upload_refused(ngx_http_request_t *r, ngx_int_t rc, ngx_str_t *name)
{
    u_char  msg[160];

    if (rc == NGX_ERROR) {
        return ngx_kefu_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "unavailable", "the virus scanner is "
                                  "unavailable, retry later");
    }

    *ngx_snprintf(msg, sizeof(msg) - 1, "the virus scanner refused the "
                  "file: %*s", ngx_min(name->len, (size_t) 100),
                  name->data) = '\0';
    ngx_log_error(NGX_LOG_WARN, r->connection->log, 0,
                  "kefu: upload refused: %s", msg);

    return ngx_kefu_api_error(r, 422, "infected", (char *) msg);
}


/*
 * The file renamed into <path>/<site>/<sha[0..1]>/<sha>: NGX_DECLINED, or
 * the response.  Same bytes, same name: a rename over an equal file
 * changes nothing.
 */

static ngx_int_t
ngx_kefu_upload_place(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    u_char     path[NGX_MAX_PATH];
    ngx_str_t  final;

    if (ngx_kefu_upload_file_path(u->ucf, &u->api.site->name, u->att.sha,
                                  path, sizeof(path), &final)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_close_file(u->fd);
    u->fd = NGX_INVALID_FILE;

    if (ngx_rename_file(u->tmp, path) == NGX_FILE_ERROR
        && (ngx_errno != NGX_ENOENT
            || ngx_create_full_path(path, 0750) != 0
            || ngx_rename_file(u->tmp, path) == NGX_FILE_ERROR))
    {
        ngx_log_error(NGX_LOG_CRIT, r->connection->log, ngx_errno,
                      "kefu: cannot rename \"%s\" to \"%s\"", u->tmp, path);
        ngx_kefu_upload_drop(u);
        return ngx_kefu_api_error(r, NGX_HTTP_SERVICE_UNAVAILABLE,
                                  "unavailable", "file storage is unavailable");
    }

    u->stored = 1;

    /* the sweep keeps what was renamed into place a moment ago */
    (void) ngx_set_file_time(path, NGX_INVALID_FILE, ngx_time());

    return NGX_DECLINED;
}


/*
 * Redis records the reference (its conversation's, or pending for a
 * while) and counts the visitor's quota; 201 follows
 * (ngx_kefu_upload_stored).
 */

static ngx_int_t
ngx_kefu_upload_record(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    u_char           owner[NGX_INT64_LEN + 2];
    int64_t          hour;
    ngx_str_t        sha, own, vis;
    ngx_kefu_call_t  call;

    hour = ngx_time() / 3600;

    sha.data = u->att.sha;
    sha.len = NGX_KEFU_SHA256_HEX;

    if (u->conv.len) {
        own = u->conv;

    } else {
        own.data = owner;
        own.len = ngx_sprintf(owner, "p:%L",
                              (int64_t) (ngx_time() + NGX_KEFU_UPLOAD_PENDING)
                              * 1000)
                  - owner;
    }

    if (u->role == NGX_KEFU_ROLE_VISITOR) {
        vis = u->id;

    } else {
        ngx_str_null(&vis);
    }

    /* the sweep looks at it after one interval, and then now and then */
    if (ngx_kefu_upload_done_args(&call, &u->api.site->name, &sha, &own,
                                  &vis, hour,
                                  ngx_kefu_now_ms()
                                  + (int64_t) ngx_max(u->ucf->sweep,
                                                      (ngx_msec_t) 1000))
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_upload_done, &call,
                                  ngx_kefu_upload_stored);
}


static ngx_int_t
ngx_kefu_upload_stored(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    ngx_kefu_upload_t *u = (ngx_kefu_upload_t *) api;

    json_t  *att;

    att = ngx_kefu_attach_json(u->api.site, &u->who, &u->att);
    if (att == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the uploader's own preview, scoped to its conversation (or itself) */
    if (ngx_kefu_attach_link(u->api.kmcf, u->api.site, att,
                             u->conv.len ? (char *) u->conv.data
                                         : (char *) u->who.data,
                             u->conv.len ? u->conv.len : u->who.len)
        != NGX_OK)
    {
        json_decref(att);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_send(r, NGX_HTTP_CREATED,
                             json_pack("{s:o}", "attachment", att));
}


static ngx_int_t
ngx_kefu_upload_too_large(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    u_char  msg[128];

    *ngx_snprintf(msg, sizeof(msg) - 1, "the file is larger than this "
                  "site's upload limit of %O bytes", u->limits->max_size)
        = '\0';

    return ngx_kefu_api_error(r, NGX_HTTP_REQUEST_ENTITY_TOO_LARGE,
                              "too_large", (char *) msg);
}


/* NGX_DONE: still under way; otherwise the response rc */

static void
ngx_kefu_upload_finish(ngx_http_request_t *r, ngx_int_t rc)
{
    if (rc == NGX_DONE) {
        return;
    }

    ngx_http_finalize_request(r, rc);
}


static void
ngx_kefu_upload_drop(ngx_kefu_upload_t *u)
{
    if (u->fd != NGX_INVALID_FILE) {
        ngx_close_file(u->fd);
        u->fd = NGX_INVALID_FILE;
    }

    if (u->tmp && !u->stored) {
        (void) ngx_delete_file(u->tmp);
        u->tmp = NULL;
    }
}


static void
ngx_kefu_upload_cleanup(void *data)
{
    ngx_kefu_upload_t *u = data;

    if (u->ev.posted) {
        ngx_delete_posted_event(&u->ev);
    }

    if (u->scan) {
        ngx_kefu_scan_cancel(u->scan);
        u->scan = NULL;
    }

    ngx_kefu_upload_drop(u);

    if (u->md) {
        EVP_MD_CTX_free(u->md);
        u->md = NULL;
    }
}
