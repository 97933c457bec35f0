
/*
 * hello: who is on this connection.  A token signed with the site's secret
 * (HS256) names the visitor, agent or admin; where the site allows it, a
 * visitor without a token gets a new id and a signed token to present on
 * every later connect.  Anything wrong is "unauthorized" and close 4401.
 */


#include "ngx_kefu_ws.h"
#include "ngx_kefu_jwt.h"
#include "ngx_kefu_attach.h"
#include "ngx_kefu_zone.h"
#include "ngx_kefu_conv.h"
#include "ngx_kefu_chat.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_presence.h"
#include "ngx_kefu_status.h"
#include "ngx_kefu_settings.h"
#include "ngx_kefu_bot.h"
#include "ngx_kefu_session.h"
#include "ngx_kefu_revoke.h"
#include "ngx_kefu_search.h"
#include "ngx_kefu_app.h"
#include "ngx_kefu_hello.h"
#include "ngx_kefu_retain.h"

#include <openssl/rand.h>


/* how long a minted anonymous visitor token stays good */
#define NGX_KEFU_VISITOR_TOKEN_TTL  (365 * 86400)


static void ngx_kefu_hello_refuse(ngx_kefu_ws_t *ws, const char *message,
    const char *cid);
static void ngx_kefu_hello_undo(ngx_kefu_ws_t *ws);
static void ngx_kefu_hello_visitor_store(ngx_kefu_ws_t *ws,
    ngx_kefu_req_t *req);
static ngx_int_t ngx_kefu_hello_ascii(ngx_str_t *s);
static void ngx_kefu_hello_ignore(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static ngx_int_t ngx_kefu_hello_identity(ngx_kefu_ws_t *ws, json_t *claims,
    ngx_uint_t role, const char **err);
static ngx_int_t ngx_kefu_hello_anonymous(ngx_kefu_ws_t *ws,
    ngx_str_t *token);
static ngx_int_t ngx_kefu_hello_name(ngx_kefu_ws_t *ws,
    ngx_kefu_req_t *req);
static ngx_int_t ngx_kefu_set_str(ngx_kefu_ws_t *ws, ngx_str_t *dst,
    const char *src);
/* the longest hello cid kept for the answer that comes after Redis's */
#define NGX_KEFU_HELLO_CID_MAX  64


typedef struct {
    uint64_t                     sid;
    ngx_kefu_main_conf_t        *kmcf;
    json_t                      *resume;
    ngx_str_t                    token;
    char                        *cid;      /* hello's, echoed on error */
    u_char                       data[];
} ngx_kefu_welcome_t;


static void ngx_kefu_welcome(ngx_kefu_ws_t *ws, ngx_str_t *token,
    ngx_kefu_req_t *req);
static ngx_int_t ngx_kefu_welcome_register(ngx_kefu_ws_t *ws);
static ngx_kefu_welcome_t *ngx_kefu_welcome_new(ngx_kefu_ws_t *ws,
    ngx_str_t *token, ngx_kefu_req_t *req);
static void ngx_kefu_welcome_subscribe(ngx_kefu_ws_t *ws,
    ngx_kefu_welcome_t *wc);
static void ngx_kefu_welcome_subscribed(ngx_kefu_ws_t *ws);
static void ngx_kefu_welcome_read(ngx_kefu_ws_t *ws,
    ngx_kefu_welcome_t *wc);
static void ngx_kefu_welcome_index(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static ngx_int_t ngx_kefu_welcome_summary(ngx_kefu_call_t *call,
    ngx_uint_t i, void *data);
static void ngx_kefu_welcome_handler(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static json_t *ngx_kefu_welcome_convs(ngx_kefu_ws_t *ws, redisReply *reply);
static json_t *ngx_kefu_welcome_json(ngx_kefu_ws_t *ws,
    ngx_kefu_welcome_t *wc, json_t *convs);
static void ngx_kefu_welcome_join(ngx_kefu_ws_t *ws, ngx_kefu_welcome_t *wc,
    redisReply *reply);


/*
 * the hello's site, looked up before the rest is refused (a site that is
 * a string); NGX_DECLINED: answered already
 */

static ngx_int_t
ngx_kefu_hello_site(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req,
    ngx_kefu_site_t **site)
{
    const char       *cid;
    ngx_kefu_site_t  *s;

    cid = req->cid;

    if (ws->hello_done) {
        ngx_kefu_app_error(ws, "bad_request", "already authenticated", cid);
        return NGX_DECLINED;
    }

    s = req->site.data ? ngx_kefu_site_find(ws->main_conf,
                                            (char *) req->site.data)
                       : NULL;

    if (req->site.data && s == NULL) {
        ngx_kefu_hello_refuse(ws, "unknown site", cid);
        return NGX_DECLINED;
    }

    if (req->code) {
        if (req->close) {
            ngx_kefu_hello_refuse(ws, req->message, req->error_cid);

        } else {
            ngx_kefu_app_error(ws, req->code, req->message, req->error_cid);
        }

        return NGX_DECLINED;
    }

    *site = s;

    return NGX_OK;
}


/* what hello asks of the connection: its group, language and status */

static ngx_int_t
ngx_kefu_hello_options(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    /* where a visitor's new conversation goes: asked for, or the default */
    if (req->group.len) {
        if (ngx_kefu_set_str(ws, &ws->group, (char *) req->group.data)
            != NGX_OK)
        {
            ngx_kefu_hello_refuse(ws, "\"group\" must be a group name",
                                  req->cid);
            return NGX_DECLINED;
        }

    } else {
        ws->group = ws->site->default_group;
    }

    ws->lang_en = req->lang_en;

    if (req->status) {
        ws->status_online = (req->status == 1);
    }

    return NGX_OK;
}


/* no token: a visitor of a site that allows it gets one minted */

static void
ngx_kefu_hello_untokened(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    ngx_str_t  minted;

    if (req->role != NGX_KEFU_ROLE_VISITOR || !ws->site->anonymous) {
        ngx_kefu_hello_refuse(ws, "a token is required", req->cid);
        return;
    }

    ws->anonymous = 1;

    if (ngx_kefu_hello_anonymous(ws, &minted) != NGX_OK) {
        ngx_kefu_app_error(ws, "internal", "cannot create a visitor",
                           req->cid);
        ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_INTERNAL, "internal error");
        return;
    }

    if (ngx_kefu_hello_name(ws, req) != NGX_OK) {
        return;
    }

    ngx_kefu_welcome(ws, &minted, req);
}


/* the token: verified, for this site and role, not revoked; its claims */

static ngx_int_t
ngx_kefu_hello_token(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    json_t      *claims, *v;
    ngx_str_t    token;
    const char  *err, *cid;

    cid = req->cid;

    token.data = (u_char *) json_string_value(req->token);
    token.len = json_string_length(req->token);

    if (ngx_kefu_jwt_verify(&token, &ws->site->secret, ngx_time(), &claims,
                            &err)
        != NGX_OK)
    {
        ngx_kefu_hello_refuse(ws, err, cid);
        return NGX_DECLINED;
    }

    if (ngx_kefu_hello_identity(ws, claims, req->role, &err) != NGX_OK
        || ngx_kefu_revoke_check(ws->main_conf, ws->site, claims, &err)
           != NGX_OK)
    {
        json_decref(claims);
        ngx_kefu_hello_refuse(ws, err, cid);
        return NGX_DECLINED;
    }

    /* a revocation by jti finds the session by it (ngx_kefu_revoke.c) */
    v = json_object_get(claims, "jti");

    if (json_is_string(v)
        && ngx_kefu_set_str(ws, &ws->jti, json_string_value(v)) != NGX_OK)
    {
        json_decref(claims);
        ngx_kefu_hello_refuse(ws, "token \"jti\" is too long", cid);
        return NGX_DECLINED;
    }

    if (ws->name.len == 0 && ngx_kefu_hello_name(ws, req) != NGX_OK) {
        json_decref(claims);
        return NGX_DECLINED;
    }

    /* agents' claims (groups, capacity) are needed for routing later */
    if (req->role == NGX_KEFU_ROLE_VISITOR) {
        ws->anonymous = json_is_true(json_object_get(claims, "anon"));
        json_decref(claims);

    } else {
        ws->claims = claims;
    }

    return NGX_OK;
}


/* the message's own checks are done (ngx_kefu_validate.c) */

void
ngx_kefu_hello(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    ngx_kefu_site_t  *s;

    if (ngx_kefu_hello_site(ws, req, &s) != NGX_OK) {
        return;
    }

    ws->site = s;
    ws->role = req->role;

    if (ngx_kefu_hello_options(ws, req) != NGX_OK) {
        return;
    }

    if (req->token == NULL) {
        ngx_kefu_hello_untokened(ws, req);
        return;
    }

    if (ngx_kefu_hello_token(ws, req) != NGX_OK) {
        return;
    }

    ngx_kefu_welcome(ws, NULL, req);
}


/* a display name from hello, where the token gives none */

static ngx_int_t
ngx_kefu_hello_name(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    if (req->name_bad
        || (req->name
            && ngx_kefu_set_str(ws, &ws->name, json_string_value(req->name))
               != NGX_OK))
    {
        ngx_kefu_hello_refuse(ws, "\"name\" must be a string of at most "
                              "128 bytes", req->cid);
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the token must be for this site and this role, and name someone */

static ngx_int_t
ngx_kefu_hello_identity(ngx_kefu_ws_t *ws, json_t *claims, ngx_uint_t role,
    const char **err)
{
    size_t   i;
    json_t  *v, *g;

    v = json_object_get(claims, "site");

    if (v == NULL) {
        *err = "token has no \"site\" claim";
        return NGX_DECLINED;
    }

    if (ngx_kefu_jwt_site_is(claims, &ws->site->name) != NGX_OK) {
        *err = "token is for another site";
        return NGX_DECLINED;
    }

    v = json_object_get(claims, "role");

    if (!json_is_string(v)
        || ngx_strcmp(json_string_value(v), ngx_kefu_roles[role]) != 0)
    {
        *err = "token is for another role";
        return NGX_DECLINED;
    }

    if (ngx_kefu_jwt_sub(claims, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    v = json_object_get(claims, "sub");

    if (ngx_kefu_set_str(ws, &ws->user_id, json_string_value(v)) != NGX_OK) {
        *err = "out of memory";
        return NGX_ERROR;
    }

    v = json_object_get(claims, "name");

    if (json_is_string(v)
        && ngx_kefu_set_str(ws, &ws->name, json_string_value(v)) != NGX_OK)
    {
        *err = "token \"name\" is too long";
        return NGX_DECLINED;
    }

    if (role == NGX_KEFU_ROLE_VISITOR) {
        return NGX_OK;
    }

    v = json_object_get(claims, "groups");

    if (v && !json_is_array(v)) {
        *err = "token \"groups\" must be an array of group names";
        return NGX_DECLINED;
    }

    json_array_foreach(v, i, g) {
        if (!json_is_string(g)
            || ngx_kefu_valid_id((u_char *) json_string_value(g),
                                 json_string_length(g))
               != NGX_OK)
        {
            *err = "token \"groups\" must be an array of group names "
                   "(1-128 characters [A-Za-z0-9._@-])";
            return NGX_DECLINED;
        }
    }

    v = json_object_get(claims, "capacity");

    if (v && (!json_is_integer(v) || json_integer_value(v) < 0)) {
        *err = "token \"capacity\" must be a non-negative integer";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* a new visitor: an unguessable id and a token that proves it later */

static ngx_int_t
ngx_kefu_hello_anonymous(ngx_kefu_ws_t *ws, ngx_str_t *token)
{
    u_char     rnd[12], id[2 + 24 + 1];
    json_t    *claims;
    ngx_int_t  rc;

    if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
        return NGX_ERROR;
    }

    *ngx_hex_dump(ngx_cpymem(id, "v_", 2), rnd, sizeof(rnd)) = '\0';

    if (ngx_kefu_set_str(ws, &ws->user_id, (char *) id) != NGX_OK) {
        return NGX_ERROR;
    }

    claims = json_pack("{s:s,s:s,s:s%,s:I,s:b}",
                       "sub", id,
                       "role", "visitor",
                       "site", ws->site->name.data, ws->site->name.len,
                       "exp", (json_int_t) ngx_time()
                              + NGX_KEFU_VISITOR_TOKEN_TTL,
                       "anon", 1);
    if (claims == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_kefu_jwt_sign(ws->connection->pool, claims, &ws->site->secret,
                           token);
    json_decref(claims);

    return rc;
}


/*
 * Authentication succeeded: register the session (host-wide in the zone,
 * and with this worker so that asynchronous replies find it), then ask
 * Redis for the participant's conversations.  welcome goes out with them;
 * the replay of what a resuming client missed follows it.
 */

static void
ngx_kefu_welcome(ngx_kefu_ws_t *ws, ngx_str_t *token, ngx_kefu_req_t *req)
{
    ngx_kefu_welcome_t  *wc;

    if (ngx_kefu_welcome_register(ws) != NGX_OK) {
        return;
    }

    ws->hello_done = 1;

    if (ws->role == NGX_KEFU_ROLE_VISITOR) {
        ngx_kefu_hello_visitor_store(ws, req);
        ngx_kefu_bot_intent(ws, "attrs", req->attrs);
        ngx_kefu_bot_intent(ws, "page", json_object_get(req->page, "url"));
    }

    wc = ngx_kefu_welcome_new(ws, token, req);
    if (wc == NULL) {
        ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_INTERNAL, "internal error");
        return;
    }

    ngx_kefu_welcome_subscribe(ws, wc);
}


/* the session, host-wide in the zone; NGX_DECLINED: refused, answered */

static ngx_int_t
ngx_kefu_welcome_register(ngx_kefu_ws_t *ws)
{
    ngx_str_t              addr;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ws->main_conf;

    if (RAND_bytes((u_char *) &ws->session_id, sizeof(uint64_t)) != 1) {
        ws->session_id = ((uint64_t) ngx_random() << 32) ^ ngx_random();
    }

    switch (ngx_kefu_session_register(ws)) {

    case NGX_BUSY:
        ngx_kefu_log_addr(ws, &addr);
        ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                      "kefu: %ui anonymous sessions from %V already, "
                      "refusing visitor \"%V\"",
                      kmcf->anonymous_per_address, &addr, &ws->user_id);

        ngx_kefu_app_error(ws, "unavailable", "too many anonymous "
                           "sessions from this address", NULL);
        ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_TRY_LATER,
                         "too many sessions from this address");
        return NGX_DECLINED;

    case NGX_OK:
        return NGX_OK;

    case NGX_DECLINED:
        ngx_log_error(NGX_LOG_ERR, ws->connection->log, 0,
                      "kefu: session zone is full, refusing %s \"%V\"",
                      ngx_kefu_roles[ws->role], &ws->user_id);

        ngx_kefu_app_error(ws, "unavailable", "server is at capacity", NULL);
        ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_TRY_LATER,
                         "server is at capacity");
        return NGX_DECLINED;

    default:
        ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_INTERNAL, "internal error");
        return NGX_DECLINED;
    }
}


/* what welcome waits with: the session, a minted token, hello's cid */

static ngx_kefu_welcome_t *
ngx_kefu_welcome_new(ngx_kefu_ws_t *ws, ngx_str_t *token,
    ngx_kefu_req_t *req)
{
    size_t               cid_len;
    json_t              *resume;
    const char          *cid;
    ngx_kefu_welcome_t  *wc;

    resume = req->resume;
    cid = req->cid;
    cid_len = cid ? ngx_strlen(cid) : 0;

    if (cid_len > NGX_KEFU_HELLO_CID_MAX) {
        cid = NULL;
        cid_len = 0;
    }

    wc = ngx_calloc(sizeof(ngx_kefu_welcome_t)
                    + (token ? token->len : 0) + cid_len + 1,
                    ws->connection->log);
    if (wc == NULL) {
        return NULL;
    }

    wc->sid = ws->session_id;
    wc->kmcf = ws->main_conf;
    wc->resume = resume ? json_incref(resume) : NULL;

    if (token) {
        wc->token.data = wc->data;
        wc->token.len = token->len;
        ngx_memcpy(wc->data, token->data, token->len);
    }

    if (cid) {
        /* the hello's answer comes after Redis's: it keeps its cid */
        wc->cid = (char *) wc->data + (token ? token->len : 0);
        ngx_memcpy(wc->cid, cid, cid_len + 1);
    }

    return wc;
}


/*
 * Subscribe to the participant's channel before reading its
 * conversations: a conversation opened or assigned in between is then
 * either in the summaries or announced on the channel, never lost.
 */

static void
ngx_kefu_welcome_subscribe(ngx_kefu_ws_t *ws, ngx_kefu_welcome_t *wc)
{
    u_char                chan[sizeof(NGX_KEFU_CH_SITE "}:u:v:") + 64
                               + NGX_KEFU_MAX_ID_LEN];
    ngx_str_t             channel;
    ngx_kefu_member_t    *m;
    ngx_kefu_main_conf_t *kmcf;

    kmcf = ws->main_conf;

    if (kmcf->redis && !ngx_kefu_redis_ready(kmcf->redis)) {
        ngx_kefu_welcome_handler(kmcf->redis, NULL, wc);
        return;
    }

    channel.data = chan;
    channel.len = ngx_snprintf(chan, sizeof(chan),
                               NGX_KEFU_CH_SITE "%V}:u:%c:%V",
                               &ws->site->name, "?vam"[ws->role],
                               &ws->user_id)
                  - chan;

    /* what the channel brings before welcome is out waits for it */
    ngx_kefu_ws_hold(ws);

    m = ngx_kefu_channel_join(ws, &channel, 0);

    if (m == NULL && kmcf->redis) {
        ngx_kefu_welcome_handler(kmcf->redis, NULL, wc);
        return;
    }

    if (m && kmcf->redis && !m->conv->subscribed) {
        /* delivery calls ngx_kefu_welcome_subscribed() to go on */
        ws->welcome = wc;
        ws->subscribed = ngx_kefu_welcome_subscribed;
        return;
    }

    ngx_kefu_welcome_read(ws, wc);
}


/* Redis confirmed the subscription of a connection waiting for welcome */

static void
ngx_kefu_welcome_subscribed(ngx_kefu_ws_t *ws)
{
    ngx_kefu_welcome_t  *wc;

    wc = ws->welcome;
    ws->welcome = NULL;

    ngx_kefu_welcome_read(ws, wc);
}


void
ngx_kefu_welcome_cancel(ngx_kefu_ws_t *ws)
{
    ngx_kefu_welcome_t  *wc;

    wc = ws->welcome;

    if (wc == NULL) {
        return;
    }

    ws->welcome = NULL;
    ws->subscribed = NULL;

    if (wc->resume) {
        json_decref(wc->resume);
    }

    ngx_free(wc);
}


static void
ngx_kefu_welcome_read(ngx_kefu_ws_t *ws, ngx_kefu_welcome_t *wc)
{
    u_char                who[NGX_KEFU_WHO_LEN];
    ngx_str_t             w, role;
    ngx_kefu_call_t       call;
    ngx_kefu_main_conf_t *kmcf;

    kmcf = ws->main_conf;

    w = ngx_kefu_who(ws->role, &ws->user_id, who);
    role.data = (u_char *) ngx_kefu_roles[ws->role];
    role.len = ngx_strlen(ngx_kefu_roles[ws->role]);

    /* the index in the site's slot, then each conversation in its own */
    if (ngx_kefu_summaries_args(&call, &ws->site->name, &w, &role) != NGX_OK
        || ngx_kefu_redis_eval_call(kmcf->redis, &ngx_kefu_script_summaries,
                                    ngx_kefu_welcome_index, wc, &call)
           != NGX_OK)
    {
        ngx_kefu_welcome_handler(kmcf->redis, NULL, wc);
    }
}


/* the participant's conversations: one summary call each, pipelined */

typedef struct {
    redisReply                  *index;
    ngx_str_t                    who;
    ngx_str_t                    role;
} ngx_kefu_welcome_list_t;


static void
ngx_kefu_welcome_index(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_welcome_t  *wc = data;

    u_char                    who[NGX_KEFU_WHO_LEN];
    ngx_kefu_ws_t            *ws;
    ngx_kefu_welcome_list_t   wl;

    ws = ngx_kefu_local_session(wc->kmcf, wc->sid);

    if (ws == NULL || reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        ngx_kefu_welcome_handler(rd, NULL, wc);
        return;
    }

    if (reply->elements == 0) {
        ngx_kefu_welcome_handler(rd, ngx_kefu_redis_empty_reply(), wc);
        return;
    }

    wl.index = reply;
    wl.who = ngx_kefu_who(ws->role, &ws->user_id, who);
    wl.role.data = (u_char *) ngx_kefu_roles[ws->role];
    wl.role.len = ngx_strlen(ngx_kefu_roles[ws->role]);

    if (ngx_kefu_redis_gather_each(rd, &ngx_kefu_script_summary,
                                   reply->elements, ngx_kefu_welcome_summary,
                                   &wl, 1, ngx_kefu_welcome_handler, wc)
        != NGX_OK)
    {
        ngx_kefu_welcome_handler(rd, NULL, wc);
    }
}


static ngx_int_t
ngx_kefu_welcome_summary(ngx_kefu_call_t *call, ngx_uint_t i, void *data)
{
    ngx_kefu_welcome_list_t  *wl = data;

    ngx_str_t    conv;
    redisReply  *e;

    e = wl->index->element[i];

    if (e->type != REDIS_REPLY_STRING) {
        return NGX_ERROR;
    }

    conv.data = (u_char *) e->str;
    conv.len = e->len;

    return ngx_kefu_summary_args(call, &conv, &wl->who, &wl->role);
}


static void
ngx_kefu_welcome_handler(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_welcome_t  *wc = data;

    json_t                *w;
    ngx_kefu_ws_t         *ws;
    ngx_kefu_main_conf_t  *kmcf;

    /* also called directly, with no Redis configured */
    kmcf = wc->kmcf;
    ws = ngx_kefu_local_session(kmcf, wc->sid);

    if (ws == NULL) {
        goto done;
    }

    if (kmcf->redis == NULL) {
        /* no kefu_redis: identity only, no conversations to report */
        reply = NULL;

    } else if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
               || reply->elements % 8)
    {
        /*
         * The connection stays: the client may say hello again once
         * storage is back (within kefu_hello_timeout).
         */
        ngx_kefu_ws_release(ws, 0);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable, "
                           "retry hello", wc->cid);
        ngx_kefu_hello_undo(ws);
        goto done;
    }

    w = ngx_kefu_welcome_json(ws, wc, ngx_kefu_welcome_convs(ws, reply));
    if (w == NULL) {
        ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_INTERNAL, "internal error");
        goto done;
    }

    ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                  "kefu: %s \"%V\" of site \"%V\" authenticated",
                  ngx_kefu_roles[ws->role], &ws->user_id, &ws->site->name);

    ngx_kefu_ws_release(ws, 1);
    (void) ngx_kefu_app_send(ws, w);
    json_decref(w);

    /* agents are counted present; agents and admins hear presence; an
     * agent's last connection closing starts its grace period */
    ngx_kefu_presence_hello(ws);
    ngx_kefu_queue_hello(ws);
    (void) ngx_kefu_session_on_close(ws, ngx_kefu_presence_bye);

    /* live from now on, or replayed from what a resuming client saw */
    ngx_kefu_welcome_join(ws, wc, reply);

done:

    if (wc->resume) {
        json_decref(wc->resume);
    }

    ngx_free(wc);
}


/* the conversations hello found, 8 fields each, as welcome's "convs" */

static json_t *
ngx_kefu_welcome_convs(ngx_kefu_ws_t *ws, redisReply *reply)
{
    size_t        i, n;
    json_t       *convs, *c, *lb;
    redisReply  **e;

    convs = json_array();
    e = reply ? reply->element : NULL;
    n = reply ? reply->elements : 0;

    for (i = 0; convs && i + 7 < n; i += 8) {
        c = json_pack("{s:s%,s:s%,s:I,s:I}",
                      "conv", e[i]->str, e[i]->len,
                      "state", e[i + 1]->str, e[i + 1]->len,
                      "seq", (json_int_t) e[i + 2]->integer,
                      "unread", (json_int_t) e[i + 6]->integer);
        if (c == NULL) {
            continue;
        }

        if (e[i + 3]->len) {
            json_object_set_new(c, "agent", json_stringn(e[i + 3]->str,
                                                         e[i + 3]->len));
        }

        if (e[i + 4]->len && ws->role != NGX_KEFU_ROLE_VISITOR) {
            json_object_set_new(c, "visitor", json_stringn(e[i + 4]->str,
                                                           e[i + 4]->len));
        }

        /* a rule's labels: for agents and admins (docs/automation.md) */
        if (e[i + 7]->len && ws->role != NGX_KEFU_ROLE_VISITOR) {
            lb = json_loadb(e[i + 7]->str, e[i + 7]->len, 0, NULL);

            if (json_is_array(lb)) {
                json_object_set(c, "labels", lb);
            }

            json_decref(lb);
        }

        json_array_append_new(convs, c);
    }

    return convs;
}


/* the welcome message: identity, conversations, what the client may do */

static json_t *
ngx_kefu_welcome_json(ngx_kefu_ws_t *ws, ngx_kefu_welcome_t *wc,
    json_t *convs)
{
    u_char   session[16 + 1];
    json_t  *w, *a, *u;

    *ngx_snprintf(session, 16, "%016xL", ws->session_id) = '\0';

    w = json_pack("{s:s,s:s,s:s,s:s%,s:o,s:I,s:I}",
                  "type", "welcome",
                  "session", session,
                  "role", ngx_kefu_roles[ws->role],
                  "id", ws->user_id.data, ws->user_id.len,
                  "convs", convs,
                  "heartbeat", (json_int_t) (ws->conf->ping_interval / 1000),
                  "ts", (json_int_t) ngx_kefu_now_ms());
    if (w == NULL) {
        return NULL;
    }

    if (ws->name.len) {
        json_object_set_new(w, "name", json_stringn((char *) ws->name.data,
                                                    ws->name.len));
    }

    if (wc->token.len) {
        json_object_set_new(w, "token", json_stringn((char *) wc->token.data,
                                                     wc->token.len));
    }

    /* a visitor learns whether anyone can answer, and how to look */
    if (ws->role == NGX_KEFU_ROLE_VISITOR) {
        a = ngx_kefu_avail_json(ws);

        if (a) {
            json_object_del(a, "type");
            json_object_set_new(w, "availability", a);
        }

        json_object_set_new(w, "settings", ngx_kefu_settings_public(ws->site));
    }

    /* agents' consoles read through the HTTP API with their token */
    if (ws->role != NGX_KEFU_ROLE_VISITOR && ws->main_conf->api_uri.len) {
        json_object_set_new(w, "api",
                            json_pack("{s:s%}", "url",
                                      ws->main_conf->api_uri.data,
                                      ws->main_conf->api_uri.len));
    }

    /* where and what a client may upload (docs/attachments.md) */
    u = ngx_kefu_upload_info(ws->main_conf, ws->site);

    if (u) {
        json_object_set_new(w, "upload", u);
    }

    return w;
}


/* live from now on, or replayed from what a resuming client saw */

static void
ngx_kefu_welcome_join(ngx_kefu_ws_t *ws, ngx_kefu_welcome_t *wc,
    redisReply *reply)
{
    size_t        i, n;
    json_t       *r;
    uint64_t      seq, from;
    ngx_str_t     conv;
    redisReply  **e;

    e = reply ? reply->element : NULL;
    n = reply ? reply->elements : 0;

    for (i = 0; i + 7 < n; i += 8) {
        if (e[i + 1]->len == 6 && ngx_strncmp(e[i + 1]->str, "closed", 6) == 0
            && wc->resume == NULL)
        {
            continue;
        }

        conv.data = (u_char *) e[i]->str;
        conv.len = e[i]->len;
        seq = (uint64_t) e[i + 2]->integer;
        from = seq;

        r = wc->resume ? json_object_getn(wc->resume, e[i]->str, e[i]->len)
                       : NULL;

        if (json_is_integer(r) && json_integer_value(r) >= 0
            && (uint64_t) json_integer_value(r) < seq)
        {
            from = (uint64_t) json_integer_value(r);
        }

        (void) ngx_kefu_conv_join(ws, &conv, from);
    }
}


/*
 * kefu:{s:<site>}:v:<id>: the visitor's name, attrs and when it was last
 * seen, on the command connection ahead of anything else this connection
 * sends, so its first message already finds them.
 */

static void
ngx_kefu_hello_visitor_store(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    char        *attrs;
    u_char       key[96 + NGX_KEFU_MAX_ID_LEN], ts[NGX_INT64_LEN];
    u_char       ttl[NGX_TIME_T_LEN];
    size_t       lens[12], klen;
    ngx_uint_t   n, i;
    const char  *argv[12];
    static char *suffix[] = { "", ":convs", ":pages" };

    attrs = req->attrs ? json_dumps(req->attrs, JSON_COMPACT) : NULL;

    argv[0] = "HSET";
    lens[0] = 4;
    argv[1] = (char *) key;
    lens[1] = ngx_snprintf(key, sizeof(key), "kefu:{s:%V}:v:%V",
                           &ws->site->name, &ws->user_id) - key;
    argv[2] = "seen";
    lens[2] = 4;
    argv[3] = (char *) ts;
    lens[3] = ngx_snprintf(ts, sizeof(ts), "%L", ngx_kefu_now_ms()) - ts;
    /* how long it is kept idle: the scripts that close its conversations
     * and store its messages keep it that much longer (docs/storage.md) */
    argv[4] = "ttl";
    lens[4] = 3;
    argv[5] = (char *) ttl;
    lens[5] = ngx_snprintf(ttl, sizeof(ttl), "%T",
                           ngx_kefu_visitor_seconds(ws->site, ws->anonymous))
              - ttl;
    n = 6;

    if (ws->name.len) {
        argv[n] = "name";
        lens[n++] = 4;
        argv[n] = (char *) ws->name.data;
        lens[n++] = ws->name.len;
    }

    /* a User-Agent is not UTF-8 by rule: only printable ASCII is kept */
    if (ws->user_agent.len
        && ngx_kefu_hello_ascii(&ws->user_agent) == NGX_OK)
    {
        argv[n] = "ua";
        lens[n++] = 2;
        argv[n] = (char *) ws->user_agent.data;
        lens[n++] = ws->user_agent.len;
    }

    if (attrs) {
        argv[n] = "attrs";
        lens[n++] = 5;
        argv[n] = attrs;
        lens[n++] = ngx_strlen(attrs);
    }

    (void) ngx_kefu_redis_command(ws->main_conf->redis, ngx_kefu_hello_ignore,
                                  NULL, n, argv, lens);
    free(attrs);

    /* the record, its conversations' index and its page trail: idle from
     * now on (the index and the trail may not exist yet: then no-ops) */
    klen = lens[1];

    for (i = 0; i < sizeof(suffix) / sizeof(char *); i++) {
        argv[0] = "EXPIRE";
        lens[0] = 6;
        argv[1] = (char *) key;
        lens[1] = ngx_cpymem(key + klen, suffix[i], ngx_strlen(suffix[i]))
                  - key;
        argv[2] = (char *) ttl;
        lens[2] = lens[5];

        (void) ngx_kefu_redis_command(ws->main_conf->redis,
                                      ngx_kefu_hello_ignore, NULL, 3, argv,
                                      lens);
    }

    /* found by search by its id and name */
    ngx_kefu_search_index_visitor(ws->main_conf, ws->site, &ws->user_id,
                                  ws->name.len ? &ws->name : NULL, NULL);

    if (req->page) {
        ngx_kefu_page(ws, req->page, NULL);
    }
}


static void
ngx_kefu_hello_ignore(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
}


static ngx_int_t
ngx_kefu_hello_ascii(ngx_str_t *s)
{
    size_t  i;

    for (i = 0; i < s->len; i++) {
        if (s->data[i] < 0x20 || s->data[i] > 0x7e) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* back to before hello: unregistered, unauthenticated */

static void
ngx_kefu_hello_undo(ngx_kefu_ws_t *ws)
{
    ngx_kefu_session_end(ws);

    ws->hello_done = 0;
}


static void
ngx_kefu_hello_refuse(ngx_kefu_ws_t *ws, const char *message,
    const char *cid)
{
    ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                  "kefu: hello refused: %s", message);

    ngx_kefu_app_error(ws, "unauthorized", message, cid);
    ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_UNAUTHORIZED, message);
}


static ngx_int_t
ngx_kefu_set_str(ngx_kefu_ws_t *ws, ngx_str_t *dst, const char *src)
{
    size_t  len;

    len = ngx_strlen(src);

    if (len > NGX_KEFU_MAX_ID_LEN) {
        return NGX_DECLINED;
    }

    /* NUL-terminated too: jansson and the log take it as it is */
    dst->data = ngx_pnalloc(ws->connection->pool, len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, src, len + 1);
    dst->len = len;

    return NGX_OK;
}
