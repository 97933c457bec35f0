
/*
 * The HTTP API's writes: messages and business events through the chat's
 * own msg script (same seq order, same cid dedup), and the actions through
 * routing's operations (ngx_kefu_route.h).  Also what a visitor's hello
 * tells about it, kept for the API to show.
 */


#include "ngx_kefu_ws.h"
#include "ngx_kefu_api.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_attach.h"
#include "ngx_kefu_search.h"
#include "ngx_kefu_settings.h"
#include "ngx_kefu_script_args.h"
#include "ngx_kefu_bot.h"
#include "ngx_kefu_msg_event.h"
#include "ngx_kefu_retain.h"


#define NGX_KEFU_API_MAX_CID      64
#define NGX_KEFU_API_IDS          4     /* for routing a new conversation */
#define NGX_KEFU_API_MAX_ATTRS    4096  /* bytes of a visitor's attrs */
#define NGX_KEFU_API_MAX_URL      2048


static ngx_int_t ngx_kefu_api_store(ngx_http_request_t *r,
    ngx_kefu_api_t *api, ngx_str_t *who, const char *type, json_t *tail,
    const char *cid, ngx_uint_t priv, const char *ev, ngx_uint_t open,
    ngx_str_t *group);
static ngx_int_t ngx_kefu_api_store_opened(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_store_routed(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_store_apply(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *list,
    ngx_int_t (*next)(ngx_http_request_t *r, ngx_kefu_api_t *api));
static void ngx_kefu_api_store_applied(void *data);
static ngx_int_t ngx_kefu_api_store_next(ngx_http_request_t *r,
    ngx_kefu_api_t *api, void *data);
static ngx_int_t ngx_kefu_api_store_next_msg(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static ngx_int_t ngx_kefu_api_store_answer(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static void ngx_kefu_api_msg_cleanup(void *data);
static ngx_int_t ngx_kefu_api_msg_attachment(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body, json_t **textp, json_t **attp);
static ngx_int_t ngx_kefu_api_msg_buttons(ngx_http_request_t *r, json_t *body,
    json_t **buttonsp);
static ngx_int_t ngx_kefu_api_msg_from(ngx_http_request_t *r, json_t *from,
    json_t *buttons, ngx_str_t *who, u_char *whobuf, json_t **f);
static ngx_int_t ngx_kefu_api_store_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static void ngx_kefu_api_action_done(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result);


/*
 * POST .../convs/<conv>/messages, .../visitors/<visitor>/messages:
 * {"cid", "text", "from"?: {"role": "bot"|"system"|"agent", "id", "name"},
 * "private"?, "group"?, "attachment"?}.  The same storage step as a
 * WebSocket message.  An attachment is one uploaded with a service or admin
 * token (docs/attachments.md); "text" may then be empty.
 */

ngx_int_t
ngx_kefu_api_message(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body)
{
    u_char      whobuf[2 + NGX_KEFU_MAX_ID_LEN];
    json_t     *cid, *text, *from, *priv, *group, *f, *t;
    json_t     *att, *buttons;
    ngx_int_t   rc;
    ngx_str_t   who, g;

    cid = json_object_get(body, "cid");
    text = json_object_get(body, "text");
    from = json_object_get(body, "from");
    priv = json_object_get(body, "private");
    group = json_object_get(body, "group");
    att = NULL;
    buttons = NULL;
    f = NULL;

    if (!json_is_string(cid) || json_string_length(cid) == 0
        || json_string_length(cid) > NGX_KEFU_API_MAX_CID)
    {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"cid\" must be a string of 1-64 "
                                  "characters");
    }

    rc = ngx_kefu_api_msg_attachment(r, api, body, &text, &att);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (!json_is_string(text)
        || (json_string_length(text) == 0 && att == NULL))
    {
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

    rc = ngx_kefu_api_msg_buttons(r, body, &buttons);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_kefu_api_msg_from(r, from, buttons, &who, whobuf, &f);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    t = json_pack("{s:o,s:O,s:O}", "from", f, "text", text, "cid", cid);
    if (t && json_is_true(priv)) {
        json_object_set_new(t, "private", json_true());
    }

    if (t && att) {
        json_object_set(t, "attachment", att);
    }

    if (t && buttons) {
        json_object_set(t, "buttons", buttons);
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


/* "attachment": checked, and then the body's; "text" may then be empty */

static ngx_int_t
ngx_kefu_api_msg_attachment(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body, json_t **textp, json_t **attp)
{
    json_t      *att;
    ngx_str_t    uploader;
    const char  *err;

    att = json_object_get(body, "attachment");

    if (att && !json_is_null(att)) {
        ngx_str_set(&uploader, "api");

        att = ngx_kefu_attach_check(api->site, &uploader, att, &err);
        if (att == NULL) {
            return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                      err);
        }

        /* the body owns it from here: freed with it */
        json_object_set_new(body, "attachment", att);

        if (*textp == NULL) {
            *textp = json_string("");
            json_object_set_new(body, "text", *textp);
        }

    } else {
        att = NULL;
    }

    *attp = att;

    return NGX_DECLINED;
}


/* "buttons": the body holds the clean copy */

static ngx_int_t
ngx_kefu_api_msg_buttons(ngx_http_request_t *r, json_t *body,
    json_t **buttonsp)
{
    u_char   errbuf[160];
    json_t  *buttons;

    buttons = json_object_get(body, "buttons");

    if (buttons && !json_is_null(buttons)) {
        buttons = ngx_kefu_buttons_check(buttons, "buttons", errbuf,
                                         sizeof(errbuf));
        if (buttons == NULL) {
            return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                      (char *) errbuf);
        }

        /* the body owns the clean copy: freed with it */
        json_object_set_new(body, "buttons", buttons);

    } else {
        buttons = NULL;
    }

    *buttonsp = buttons;

    return NGX_DECLINED;
}


/* "from": who the message is stored as (who) and its "from" object (f) */

static ngx_int_t
ngx_kefu_api_msg_from(ngx_http_request_t *r, json_t *from, json_t *buttons,
    ngx_str_t *who, u_char *whobuf, json_t **f)
{
    json_t      *role, *id, *name;
    const char  *rn;

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

    who->data = whobuf;

    if (ngx_strcmp(rn, "system") == 0) {
        if (buttons) {
            return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                      "\"buttons\" are for a bot's or an "
                                      "agent's message (\"from.role\")");
        }

        ngx_str_set(who, "y:system");
        *f = json_pack("{s:s}", "role", "system");

    } else if (ngx_strcmp(rn, "bot") == 0 || ngx_strcmp(rn, "agent") == 0) {

        if (ngx_kefu_api_valid(id, NGX_KEFU_MAX_ID_LEN) != NGX_OK) {
            return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                      "\"from.id\" must be an id of 1-128 "
                                      "characters [A-Za-z0-9._@-]");
        }

        who->len = ngx_snprintf(whobuf, 2 + NGX_KEFU_MAX_ID_LEN, "%c:%s",
                                rn[0], json_string_value(id))
                   - whobuf;
        *f = json_pack("{s:s,s:O}", "role", rn, "id", id);

    } else {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"from.role\" must be bot, system or "
                                  "agent");
    }

    if (*f && json_is_string(name)) {
        json_object_set(*f, "name", name);
    }

    return NGX_DECLINED;
}


/*
 * POST .../convs/<conv>/events, .../visitors/<visitor>/events:
 * {"name", "data"?, "suggested_reply"?, "visitor"?: bool, "cid"?,
 * "open"?: bool}.  A log entry like a message: agents see it in the
 * timeline; the visitor only when "visitor" is true (otherwise it is
 * stored like a private note).
 */

static void
ngx_kefu_api_event_free(void *data)
{
    json_decref(data);
}


ngx_int_t
ngx_kefu_api_event(ngx_http_request_t *r, ngx_kefu_api_t *api, json_t *body)
{
    json_t              *name, *data, *reply, *vis, *cid, *open, *t;
    ngx_int_t            rc;
    ngx_str_t            who;
    ngx_pool_cleanup_t  *cln;

    name = json_object_get(body, "name");
    data = json_object_get(body, "data");
    reply = json_object_get(body, "suggested_reply");
    vis = json_object_get(body, "visitor");
    cid = json_object_get(body, "cid");
    open = json_object_get(body, "open");

    if (ngx_kefu_api_valid(name, NGX_KEFU_API_MAX_NAME) != NGX_OK) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"name\" must be an event name of 1-64 "
                                  "characters [A-Za-z0-9._@-]");
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

    /* kept for the event's rules until the request goes */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    api->event = json_pack("{s:O,s:O}", "name", name,
                           "data", json_object_get(t, "data"));

    if (cln == NULL || api->event == NULL) {
        json_decref(api->event);
        api->event = NULL;
        json_decref(t);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_kefu_api_event_free;
    cln->data = api->event;

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

/*
 * A message from the API, as the WebSocket's: msg (lua/msg.lua) into the
 * conversation named; to a target visitor, open first (its open
 * conversation, found or made) and, for one it made, route_new after the
 * message is stored (ngx_kefu_msg.c says why).  On a cluster the
 * conversation's side of open and of route_new (their replies' lists) is
 * applied before msg, resp. the answer (ngx_kefu_route_apply_list()).
 * The call's strings live in the request's pool across the steps.
 */

typedef struct {
    ngx_kefu_msg_args_t          args;
    ngx_kefu_msg_argv_t          call;
    ngx_str_t                   *tail;        /* for search, msg only */
    json_t                      *answer;      /* while route_new runs */
    ngx_uint_t                   created;
    ngx_int_t                  (*next)(ngx_http_request_t *r,
                                       ngx_kefu_api_t *api);
                                              /* after the side applied */
    u_char                       conv[NGX_KEFU_MAX_ID_LEN];
} ngx_kefu_api_msg_t;


static ngx_int_t ngx_kefu_api_store_msg(ngx_http_request_t *r,
    ngx_kefu_api_t *api, ngx_kefu_api_msg_t *m);


/* routing a conversation opened for a visitor writes system entries */

static u_char *
ngx_kefu_api_store_ids(ngx_kefu_main_conf_t *kmcf, ngx_kefu_api_t *api,
    u_char *ids)
{
    u_char      *p;
    uint64_t     rid;
    ngx_uint_t   i;

    p = ids;

    for (i = 0; api->visitor && i < NGX_KEFU_API_IDS; i++) {
        rid = ngx_kefu_id_next(&kmcf->ids);
        p = ngx_sprintf(p, "%s%uL", i ? " " : "", rid);
    }

    return p;
}


/* what the site and the configuration set for a message the API writes */

static void
ngx_kefu_api_store_policy(ngx_kefu_main_conf_t *kmcf, ngx_kefu_api_t *api,
    ngx_kefu_msg_args_t *args, ngx_str_t *group)
{
    args->group = *group;
    /* the shop's backend declares a group by naming it (a visitor's
     * made-up one goes to the default group); a visitor the API writes to
     * first is kept the site's retention */
    args->group_known = 1;
    args->default_group = api->site->default_group;
    args->dedup_ttl = ngx_kefu_dedup_seconds(kmcf, api->site);
    args->visitor_ttl = ngx_kefu_visitor_seconds(api->site, 0);
    args->log_max = kmcf->log_max;
    ngx_str_set(&args->session, "-");
    args->grace = api->site->grace;
    args->cluster = ngx_kefu_redis_cluster(kmcf->redis) ? 1 : 0;
}


/* an attached file is then its conversation's too (checked already) */

static void
ngx_kefu_api_store_file(json_t *tail, ngx_kefu_msg_args_t *args)
{
    json_t  *att;

    att = json_object_get(tail, "attachment");

    if (json_is_object(att)
        && json_is_string(json_object_get(att, "id"))
        && json_string_length(json_object_get(att, "id"))
           > NGX_KEFU_SHA256_HEX)
    {
        args->file.data = (u_char *)
                          json_string_value(json_object_get(att, "id"));
        args->file.len = NGX_KEFU_SHA256_HEX;
    }
}


/* the call's arguments copied into the request's pool, for its steps */

static ngx_kefu_api_msg_t *
ngx_kefu_api_store_keep(ngx_http_request_t *r, ngx_kefu_api_t *api,
    ngx_kefu_msg_args_t *args, const char *type)
{
    ngx_str_t           *saved;
    ngx_kefu_api_msg_t  *m;

    m = ngx_pcalloc(r->pool, sizeof(ngx_kefu_api_msg_t)
                             + ngx_kefu_msg_args_size(args));
    if (m == NULL) {
        return NULL;
    }

    m->args = *args;
    (void) ngx_kefu_msg_args_copy(&m->args, (u_char *) (m + 1));

    /* a message is indexed for search once it is stored */
    if (ngx_strcmp(type, "msg") == 0) {
        saved = ngx_palloc(r->pool, sizeof(ngx_str_t));

        if (saved) {
            *saved = m->args.tail;
            m->tail = saved;
        }
    }

    api->data = m;

    return m;
}


static ngx_int_t
ngx_kefu_api_store(ngx_http_request_t *r, ngx_kefu_api_t *api,
    ngx_str_t *who, const char *type, json_t *tail, const char *cid,
    ngx_uint_t priv, const char *ev, ngx_uint_t open, ngx_str_t *group)
{
    char                 *s;
    u_char                head[64];
    u_char                cidbuf[1 + NGX_INT64_LEN];
    u_char                ids[NGX_KEFU_API_IDS * (NGX_INT64_LEN + 1)], *p;
    int64_t               ts;
    uint64_t              id, conv_id;
    ngx_kefu_api_msg_t   *m;
    ngx_kefu_msg_args_t   args;
    ngx_kefu_main_conf_t *kmcf;

    kmcf = api->kmcf;

    id = ngx_kefu_id_next(&kmcf->ids);
    conv_id = ngx_kefu_id_next(&kmcf->ids);

    if (id == 0 || conv_id == 0 || !ngx_kefu_redis_ready(kmcf->redis)) {
        return ngx_kefu_api_unavailable(r);
    }

    p = ngx_kefu_api_store_ids(kmcf, api, ids);

    if (cid == NULL) {
        /* no idempotency asked for: a cid of its own */
        *ngx_snprintf(cidbuf, sizeof(cidbuf) - 1, "e%uL", id) = '\0';
        cid = (char *) cidbuf;
    }

    ts = ngx_kefu_now_ms();

    s = ngx_kefu_msg_entry_tail(tail, ts, NULL, 0);
    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memzero(&args, sizeof(ngx_kefu_msg_args_t));

    args.site = api->site->name;
    args.who = *who;
    ngx_str_set(&args.role, "service");

    if (!api->visitor) {
        args.conv = api->id;
    }

    args.cid.data = (u_char *) cid;
    args.cid.len = ngx_strlen(cid);
    args.id = id;
    args.newconv = conv_id;
    args.ts = ts;
    args.head.data = head;
    args.head.len = ngx_snprintf(head, sizeof(head),
                                 "{\"type\":\"%s\",\"conv\":\"", type)
                    - head;
    args.tail.data = (u_char *) s;
    args.tail.len = ngx_strlen(s);
    args.private = priv ? 1 : 0;
    args.ids.data = ids;
    args.ids.len = p - ids;

    if (api->visitor) {
        args.target = api->id;
    }

    args.event.data = (u_char *) ev;
    args.event.len = ngx_strlen(ev);
    args.open = open ? 1 : 0;

    ngx_kefu_api_store_policy(kmcf, api, &args, group);
    ngx_kefu_api_store_file(tail, &args);

    m = ngx_kefu_api_store_keep(r, api, &args, type);
    free(s);

    if (m == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_kefu_msg_argv(&m->args, &m->call);

    if (api->visitor) {
        return ngx_kefu_api_eval_keys(r, &ngx_kefu_script_open, 1,
                                      m->call.argc + 1, m->call.argv,
                                      m->call.lens,
                                      ngx_kefu_api_store_opened);
    }

    return ngx_kefu_api_store_msg(r, api, m);
}


/* open's reply: the target visitor's conversation, then msg into it */

static ngx_int_t
ngx_kefu_api_store_opened(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    int64_t              code;
    ngx_kefu_api_msg_t  *m;

    m = api->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        return ngx_kefu_api_unavailable(r);
    }

    code = reply->element[0]->integer;

    if (code == -3) {
        return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                  "the visitor has no open conversation");
    }

    if (code == -5) {
        /* a new conversation's id was taken: nothing written, retry */
        ngx_kefu_stat_inc(api->kmcf, id_collisions);
        return ngx_kefu_api_unavailable(r);
    }

    if ((code != 0 && code != 1) || reply->elements < 2
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[1]->len == 0
        || reply->element[1]->len > NGX_KEFU_MAX_ID_LEN)
    {
        return ngx_kefu_api_unavailable(r);
    }

    m->created = (code == 0);
    m->args.conv.data = m->conv;
    m->args.conv.len = reply->element[1]->len;
    ngx_memcpy(m->conv, reply->element[1]->str, m->args.conv.len);
    ngx_kefu_msg_argv(&m->args, &m->call);

    /* on a cluster msg needs the hash: open's side first */
    return ngx_kefu_api_store_apply(r, api,
                                    reply->elements > 4 ? reply->element[4]
                                                        : NULL,
                                    ngx_kefu_api_store_next_msg);
}


static ngx_int_t
ngx_kefu_api_store_next_msg(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    return ngx_kefu_api_store_msg(r, api, api->data);
}


/*
 * The conversations' sides listed by open's or route_new's reply on a
 * cluster, applied before the request goes on with next; nothing listed
 * (one Redis), or nothing that could be sent (the route sweep applies
 * it), goes on at once.  A request gone meanwhile is not gone on with.
 */

static ngx_int_t
ngx_kefu_api_store_apply(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *list,
    ngx_int_t (*next)(ngx_http_request_t *r, ngx_kefu_api_t *api))
{
    ngx_int_t             rc;
    ngx_kefu_api_msg_t   *m;
    ngx_kefu_api_wait_t  *w;

    m = api->data;

    if (list == NULL || list->type != REDIS_REPLY_ARRAY
        || list->elements < 2)
    {
        return next(r, api);
    }

    w = ngx_kefu_api_wait(r, NULL);
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    m->next = next;

    /* it may complete before ngx_kefu_route_apply_list() returns */
    w->sync = 1;

    if (ngx_kefu_route_apply_list(api->kmcf, api->site, list,
                                  ngx_kefu_api_store_applied, w)
        != NGX_OK)
    {
        w->cln->handler = NULL;
        ngx_free(w);
        return next(r, api);
    }

    if (ngx_kefu_api_started(r, w, &rc) == NGX_DONE) {
        return NGX_DONE;
    }

    return next(r, api);
}


static void
ngx_kefu_api_store_applied(void *data)
{
    ngx_kefu_api_resume(data, NGX_OK, ngx_kefu_api_store_next, NULL);
}


static ngx_int_t
ngx_kefu_api_store_next(ngx_http_request_t *r, ngx_kefu_api_t *api,
    void *data)
{
    ngx_kefu_api_msg_t  *m;

    m = api->data;

    return m->next(r, api);
}


/* msg, or msg_slot in a cluster (ngx_kefu_msg_event.c) */

static ngx_int_t
ngx_kefu_api_store_msg(ngx_http_request_t *r, ngx_kefu_api_t *api,
    ngx_kefu_api_msg_t *m)
{
    ngx_kefu_msg_eval_t  ev;

    ngx_kefu_msg_eval_args(api->kmcf, &m->args, &m->call, &ev);

    return ngx_kefu_api_eval_keys(r, ev.script, ev.nkeys, ev.argc, ev.argv,
                                  ev.lens, ngx_kefu_api_store_done);
}


static void
ngx_kefu_api_msg_cleanup(void *data)
{
    ngx_kefu_api_msg_t  *m = data;

    json_decref(m->answer);
    m->answer = NULL;
}


/* route_new's reply: where the conversation the message opened went */

static ngx_int_t
ngx_kefu_api_store_routed(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    json_t              *j, *n;
    ngx_kefu_api_msg_t  *m;

    m = api->data;
    j = m->answer;

    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 3) {
        /* queues the routing could not finish */
        if (reply->element[2]->type == REDIS_REPLY_STRING
            && reply->element[2]->len)
        {
            ngx_kefu_route_drain(api->kmcf, api->site,
                                 (u_char *) reply->element[2]->str,
                                 reply->element[2]->len);
        }

        if (reply->element[1]->type == REDIS_REPLY_STRING
            && reply->element[1]->len)
        {
            n = json_loadb(reply->element[1]->str, reply->element[1]->len, 0,
                           NULL);

            if (json_is_object(n)) {
                json_object_del(n, "type");
                json_object_set(j, "routing", n);
            }

            json_decref(n);
        }

        /* on a cluster: answered once the conversation's side is there */
        if (reply->elements > 4) {
            return ngx_kefu_api_store_apply(r, api, reply->element[4],
                                            ngx_kefu_api_store_answer);
        }
    }

    /* stored either way: a conversation not routed waits in its queue */
    return ngx_kefu_api_store_answer(r, api);
}


static ngx_int_t
ngx_kefu_api_store_answer(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    json_t              *j;
    ngx_kefu_api_msg_t  *m;

    m = api->data;
    j = m->answer;
    m->answer = NULL;

    return ngx_kefu_api_send(r, NGX_HTTP_CREATED, j);
}


static ngx_int_t
ngx_kefu_api_store_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    json_t              *j;
    int64_t              code;
    ngx_str_t            conv, *tail;
    redisReply         **e;
    ngx_pool_cleanup_t  *cln;
    ngx_kefu_api_msg_t  *m;

    m = api->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        return ngx_kefu_api_unavailable(r);
    }

    e = reply->element;
    code = e[0]->integer;

    switch (code) {

    case 0:
    case 1:
        break;

    case -4:
        return ngx_kefu_api_error(r, NGX_HTTP_CONFLICT, "conflict",
                                  "the conversation is closed");

    case -6:
        /* the target visitor's conversation closed between the calls */
        return ngx_kefu_api_unavailable(r);

    default:
        return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                  "no such conversation");
    }

    /* in a cluster the message's event follows */
    ngx_kefu_msg_event(api->kmcf, &m->args, reply);

    if (reply->elements < 6) {
        return ngx_kefu_api_unavailable(r);
    }

    tail = m->tail;

    /* a business event stored (not a duplicate): its rules (automation) */
    if (code == 0 && api->event && e[1]->type == REDIS_REPLY_STRING) {
        conv.data = (u_char *) e[1]->str;
        conv.len = e[1]->len;
        ngx_kefu_rules_on_event(api->kmcf, api->site, &conv,
                                (uint64_t) ngx_kefu_api_int(e[2]),
                                json_object_get(api->event, "name"),
                                json_object_get(api->event, "data"));
    }

    if (code == 0 && tail && tail->data && e[1]->type == REDIS_REPLY_STRING) {
        conv.data = (u_char *) e[1]->str;
        conv.len = e[1]->len;
        ngx_kefu_search_index_msg(api->kmcf, api->site, &conv,
                                  (uint64_t) ngx_kefu_api_int(e[2]),
                                  ngx_kefu_api_int(e[4]), tail->data,
                                  tail->len);
    }

    j = json_pack("{s:o,s:o,s:I,s:I,s:b,s:b}",
                  "conv", ngx_kefu_api_str(e[1]),
                  "id", ngx_kefu_api_str(e[3]),
                  "seq", (json_int_t) ngx_kefu_api_int(e[2]),
                  "ts", (json_int_t) ngx_kefu_api_int(e[4]),
                  "dup", code == 1,
                  "created", m->created && code == 0);

    /* a new conversation: routed now that its first message is stored */
    if (j && m->created && code == 0) {
        cln = ngx_pool_cleanup_add(r->pool, 0);
        if (cln == NULL) {
            json_decref(j);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        /* the answer waits for route_new; a request gone frees it */
        cln->handler = ngx_kefu_api_msg_cleanup;
        cln->data = m;
        m->answer = j;
        ngx_kefu_msg_argv(&m->args, &m->call);

        return ngx_kefu_api_eval_keys(r, &ngx_kefu_script_route_new, 1,
                                      m->call.argc + 1, m->call.argv,
                                      m->call.lens,
                                      ngx_kefu_api_store_routed);
    }

    return ngx_kefu_api_send(r, code == 1 ? NGX_HTTP_OK : NGX_HTTP_CREATED,
                             j);
}


/*
 * POST .../convs/<conv>/assign {"agent"}, .../transfer {"agent"} or
 * {"group"}, .../close {}: the operations the agents' WebSocket actions
 * use (ngx_kefu_route.h), by the token's subject as a supervisor.
 */

ngx_int_t
ngx_kefu_api_action(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body)
{
    json_t                 *agent, *group;
    ngx_int_t               rc;
    const char             *text;
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

    ngx_kefu_api_actor(api, &actor);

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

    } else if (api->action.data[0] == 'h') {
        /* a bot conversation to a person (an external bot's handoff) */
        ngx_str_set(&args.by, "api");
        text = ngx_kefu_bot_handed_off(api->site, 0);
        args.text.data = (u_char *) text;
        args.text.len = ngx_strlen(text);

        ngx_kefu_route_handoff(api->kmcf, &actor, &args,
                               ngx_kefu_api_action_done, w);

    } else {
        ngx_kefu_route_close(api->kmcf, &actor, &args,
                             ngx_kefu_api_action_done, w);
    }

    if (ngx_kefu_api_started(r, w, &rc) == NGX_DONE) {
        return NGX_DONE;
    }

    return rc;
}


/* who the API acts as in routing's operations: the token's subject, as a
 * supervisor */

void
ngx_kefu_api_actor(ngx_kefu_api_t *api, ngx_kefu_actor_t *actor)
{
    ngx_memzero(actor, sizeof(ngx_kefu_actor_t));
    actor->site = api->site;
    actor->id = api->sub;
    actor->role = NGX_KEFU_ROLE_ADMIN;
    actor->supervisor = 1;
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

