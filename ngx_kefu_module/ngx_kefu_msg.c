
/*
 * msg: a chat message from a client.  Checked by ngx_kefu_validate.c and
 * here (its attachment), stored and published by one script call
 * (lua/msg.lua) in the conversation's slot, acknowledged only when Redis
 * answered that it is stored.  A visitor's first message takes three:
 * open (its conversation found or made, in the site's slot), msg, then
 * route_new (routing of a conversation open made), after the ack; on one
 * Redis, for a site whose rules and bot do not run between the storing and
 * the routing, the three are one call, lua/first.lua (issue 18: a new
 * conversation's cost is its calls).  On a
 * cluster open and route_new run in the site's slot only, and the
 * conversation's side of each (open's: its hash and greeting) is applied
 * by ngx_kefu_route_apply_list() from their replies, before msg and
 * before the sender hears where its conversation went.  If
 * Redis is down, loading or too slow the sender gets error "unavailable"
 * with its cid: never silence, never an ack for something that was not
 * stored.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_chat.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_settings.h"
#include "ngx_kefu_attach.h"
#include "ngx_kefu_search.h"
#include "ngx_kefu_script_args.h"
#include "ngx_kefu_bot.h"
#include "ngx_kefu_msg_event.h"
#include "ngx_kefu_msg_batch.h"
#include "ngx_kefu_ws.h"
#include "ngx_kefu_app.h"
#include "ngx_kefu_retain.h"


/* ids a visitor's message may need: its new conversation's routing */
#define NGX_KEFU_MSG_IDS       4


/* a new conversation whose id is taken is tried again, fresh ids each time */
#define NGX_KEFU_MSG_TRIES     8

/* what a visitor is told of its new bot conversation (open's notice) */
#define NGX_KEFU_MSG_NOTICE    (128 + NGX_KEFU_MAX_ID_LEN                    \
                                + 2 * NGX_KEFU_MAX_GROUP_LEN)

/*
 * The script call, kept until Redis answered so that it can run again:
 * its arguments' strings are copied into data[]; the ids are new for
 * each run.
 */
typedef struct {
    uint64_t                     sid;
    ngx_kefu_site_t             *site;
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_script_t           *script;     /* open, msg, route_new or
                                                first */
    ngx_uint_t                   tries;
    ngx_uint_t                   visitor;
    ngx_uint_t                   opened;     /* open ran: no second time */
    ngx_uint_t                   created;    /* by open: route_new next */
    size_t                       notice_len; /* open made it in state bot */
    u_char                       notice[NGX_KEFU_MSG_NOTICE];
    u_char                       conv[NGX_KEFU_MAX_ID_LEN];
    size_t                       cid_len;
    u_char                       cid[NGX_KEFU_MAX_CID_LEN + 1];
    size_t                       asked_len;   /* the visitor's own group */
    u_char                       asked[NGX_KEFU_MAX_GROUP_LEN];
    ngx_kefu_msg_args_t          args;
    ngx_kefu_msg_argv_t          call;
    u_char                       ids[NGX_KEFU_MSG_IDS * (NGX_INT64_LEN + 1)];
    u_char                       data[];
} ngx_kefu_msg_ctx_t;


static ngx_int_t ngx_kefu_msg_run(ngx_kefu_msg_ctx_t *ctx);
static void ngx_kefu_msg_handler(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_msg_opened(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_msg_routed(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_msg_first(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static ngx_int_t ngx_kefu_msg_open_reply(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_msg_ctx_t *ctx, redisReply *reply);
static void ngx_kefu_msg_route_done(ngx_kefu_main_conf_t *kmcf, uint64_t sid,
    ngx_kefu_site_t *site, redisReply *reply);
static ngx_kefu_script_t *ngx_kefu_msg_open_script(ngx_kefu_msg_ctx_t *ctx);
static void ngx_kefu_msg_open_applied(void *data);
static void ngx_kefu_msg_route_applied(void *data);
static ngx_int_t ngx_kefu_msg_open(ngx_kefu_msg_ctx_t *ctx);
static ngx_str_t ngx_kefu_msg_visitor_conv(ngx_kefu_ws_t *ws);
static ngx_int_t ngx_kefu_msg_room(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req);
static void ngx_kefu_msg_reply_error(ngx_kefu_msg_ctx_t *ctx);
static char *ngx_kefu_msg_greeting(ngx_kefu_ws_t *ws, int64_t ts);
static char *ngx_kefu_msg_tail(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req,
    json_t *att, int64_t ts);
static json_t *ngx_kefu_msg_attachment(ngx_kefu_ws_t *ws,
    ngx_kefu_req_t *req);
static time_t ngx_kefu_msg_visitor_ttl(ngx_kefu_ws_t *ws);
static void ngx_kefu_msg_args_fill(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req,
    ngx_kefu_msg_args_t *args, u_char *who, u_char *session, int64_t ts);
static char *ngx_kefu_msg_routing(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req,
    ngx_kefu_msg_args_t *args, int64_t ts);
static ngx_kefu_msg_ctx_t *ngx_kefu_msg_ctx_create(ngx_kefu_ws_t *ws,
    ngx_kefu_msg_args_t *args);
static ngx_kefu_msg_ctx_t *ngx_kefu_msg_stored(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_msg_ctx_t *ctx, ngx_kefu_ws_t *ws, redisReply *reply);
static void ngx_kefu_msg_ack(ngx_kefu_ws_t *ws, redisReply *reply,
    u_char *cid, u_char *notice, size_t notice_len);


/*
 * A msg the validation refused: an attachment it carries is checked first,
 * as the contract orders the checks (cid, attachment, text, ...).
 */

void
ngx_kefu_msg_refused(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    json_t  *att;

    if (req->attachment) {
        att = ngx_kefu_msg_attachment(ws, req);
        if (att == NULL) {
            return;
        }

        json_decref(att);
    }

    ngx_kefu_app_error(ws, req->code, req->message, req->error_cid);
}


/* the message's own checks are done (ngx_kefu_validate.c) */

void
ngx_kefu_msg(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    char                 *tail, *greeting;
    u_char                who[NGX_KEFU_WHO_LEN];
    u_char                session[16];
    json_t               *att;
    int64_t               ts;
    const char           *cid;
    ngx_kefu_msg_ctx_t   *ctx;
    ngx_kefu_msg_args_t   args;

    cid = req->cid;
    att = NULL;

    if (req->attachment) {
        att = ngx_kefu_msg_attachment(ws, req);
        if (att == NULL) {
            return;
        }
    }

    if (ngx_kefu_msg_room(ws, req) != NGX_OK) {
        json_decref(att);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable, "
                           "retry with the same cid", cid);
        return;
    }

    ts = ngx_kefu_now_ms();

    tail = ngx_kefu_msg_tail(ws, req, att, ts);

    if (tail == NULL) {
        json_decref(att);
        ngx_kefu_app_error(ws, "internal", "out of memory", cid);
        return;
    }

    ngx_kefu_msg_args_fill(ws, req, &args, who, session, ts);

    args.tail.data = (u_char *) tail;
    args.tail.len = ngx_strlen(tail);

    greeting = ngx_kefu_msg_routing(ws, req, &args, ts);

    /* an attached file's reference: it lives as long as its conversation */
    if (att) {
        args.file.data = (u_char *)
                         json_string_value(json_object_get(att, "id"));
        args.file.len = NGX_KEFU_SHA256_HEX;
    }

    ctx = ngx_kefu_msg_ctx_create(ws, &args);

    free(tail);
    free(greeting);
    json_decref(att);

    if (ctx == NULL) {
        ngx_kefu_app_error(ws, "internal", "out of memory", cid);
        return;
    }

    if (ngx_kefu_msg_run(ctx) != NGX_OK) {
        ngx_free(ctx);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable, "
                           "retry with the same cid", cid);
    }
}


/*
 * Redis ready, and a message to a known conversation (msg, in the pass's
 * batch) under the bounds of what waits for Redis: past saturation most
 * messages are refused here, before their call is built (issue 18).  A
 * visitor's message that opens its conversation is bounded by its own
 * call (open).
 */

static ngx_int_t
ngx_kefu_msg_room(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    ngx_str_t              conv;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ws->main_conf;

    if (!ngx_kefu_redis_ready(kmcf->redis)) {
        return NGX_DECLINED;
    }

    if (req->conv.data) {
        conv = req->conv;

    } else if (ws->role == NGX_KEFU_ROLE_VISITOR) {
        conv = ngx_kefu_msg_visitor_conv(ws);

    } else {
        return NGX_OK;
    }

    if (conv.len == 0) {
        return NGX_OK;
    }

    return ngx_kefu_msg_batch_room(kmcf, &conv);
}


/*
 * The stored JSON, less conv, id and seq which are filled in later:
 * "{...}" becomes ",...}" to follow "seq":<n>.  The caller frees it.
 */

static char *
ngx_kefu_msg_tail(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req, json_t *att,
    int64_t ts)
{
    json_t  *t, *from;

    from = json_pack("{s:s,s:s%}", "role", ngx_kefu_role_name(ws->role),
                     "id", ws->user_id.data, ws->user_id.len);
    if (from && ws->name.len) {
        json_object_set_new(from, "name", json_stringn((char *) ws->name.data,
                                                       ws->name.len));
    }

    t = json_pack("{s:I,s:o,s:o,s:s}", "ts", (json_int_t) ts, "from", from,
                  "text", req->text ? json_incref(req->text)
                                    : json_string(""),
                  "cid", req->cid);
    if (t && req->private) {
        json_object_set_new(t, "private", json_true());
    }

    if (t && att) {
        json_object_set(t, "attachment", att);
    }

    if (t && req->buttons) {
        json_object_set(t, "buttons", req->buttons);
    }

    return ngx_kefu_msg_tail_dump(t);
}


/*
 * A message's attachment checked and copied for its sender
 * (ngx_kefu_attach.c); NULL, the client told why, if refused
 */

static json_t *
ngx_kefu_msg_attachment(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    u_char       buf[NGX_KEFU_WHO_LEN];
    json_t      *att;
    ngx_str_t    who;
    const char  *err;

    who = ngx_kefu_who(ws->role, &ws->user_id, buf);

    att = ngx_kefu_attach_check(ws->site, &who, req->attachment, &err);

    if (att == NULL) {
        ngx_kefu_app_error(ws, "bad_request", err, req->cid);
    }

    return att;
}


/*
 * A visitor's message keeps its record, index and page trail its ttl past
 * its last activity (lib/retain.lua's k_visitor: an HGET and three
 * EXPIREs, a quarter of the commands of a message's step).  Renewed by a
 * connection's first message (which also makes the record, with its ttl,
 * should its hello's write have failed or been refused), then by at most
 * one message per 1/16 of the ttl, at most a minute: 0 for the others,
 * which leave the expiry alone (issue 18).  So the record lives at least
 * its ttl less a minute or two (less 1/8 of a short ttl) past the
 * visitor's last message, never longer than its ttl.  Other senders'
 * messages renew the visitor they write to on every message, as before
 * (the HTTP API's, a bot's).
 */

static time_t
ngx_kefu_msg_visitor_ttl(ngx_kefu_ws_t *ws)
{
    time_t      ttl;
    ngx_msec_t  every;

    ttl = ngx_kefu_visitor_seconds(ws->site, ws->anonymous);

    if (ws->role != NGX_KEFU_ROLE_VISITOR) {
        return ttl;
    }

    every = ngx_min((ngx_msec_t) ttl * 1000 / 16, 60000);

    if (ws->visitor_kept
        && ngx_current_msec - ws->visitor_kept < every)
    {
        return 0;
    }

    ws->visitor_kept = ngx_current_msec;

    return ttl;
}


/* the call's arguments from the sender and its session */

static void
ngx_kefu_msg_args_fill(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req,
    ngx_kefu_msg_args_t *args, u_char *who, u_char *session, int64_t ts)
{
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ws->main_conf;

    ngx_memzero(args, sizeof(ngx_kefu_msg_args_t));

    args->site = ws->site->name;
    args->who = ngx_kefu_who(ws->role, &ws->user_id, who);
    args->role.data = (u_char *) ngx_kefu_role_name(ws->role);
    args->role.len = ngx_strlen(args->role.data);

    if (req->conv.data) {
        args->conv = req->conv;

    } else if (ws->role == NGX_KEFU_ROLE_VISITOR) {
        /* the conversation the visitor is in: none, or closed, and msg
         * asks for open first */
        args->conv = ngx_kefu_msg_visitor_conv(ws);
        args->implicit = 1;
    }

    if (ws->role == NGX_KEFU_ROLE_VISITOR) {
        args->visitor = ws->user_id;
    }

    args->cid.data = (u_char *) req->cid;
    args->cid.len = ngx_strlen(req->cid);
    args->ts = ts;
    ngx_str_set(&args->head, "{\"type\":\"msg\",\"conv\":\"");
    args->private = req->private;
    args->group = ws->group;
    /* a group neither declared nor an agent's goes to the default one */
    args->group_known = ngx_kefu_settings_group_known(ws->site, &ws->group);
    args->default_group = ws->site->default_group;
    args->dedup_ttl = ngx_kefu_dedup_seconds(kmcf, ws->site);
    /* how long an idle visitor is kept (hello stores it in its record) */
    args->visitor_ttl = ngx_kefu_msg_visitor_ttl(ws);
    args->log_max = kmcf->log_max;
    args->session.data = session;
    args->session.len = ngx_snprintf(session, 16, "%016xL", ws->session_id)
                        - session;
    args->grace = ws->site->grace;
    args->cluster = ngx_kefu_redis_cluster(kmcf->redis) ? 1 : 0;
}


/*
 * What a visitor's new conversation starts with: greeting, offline, the
 * group intent routing picks, the bot.  Returns the greeting (the caller
 * frees it) or NULL.
 */

static char *
ngx_kefu_msg_routing(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req,
    ngx_kefu_msg_args_t *args, int64_t ts)
{
    char                *greeting;
    ngx_kefu_site_rt_t  *rt;

    /*
     * A visitor's new conversation opens with the site's greeting (its id
     * is minted with the others on each run); outside business hours a new
     * conversation waits offline.
     */
    greeting = ws->role == NGX_KEFU_ROLE_VISITOR
               ? ngx_kefu_msg_greeting(ws, ts) : NULL;

    if (greeting) {
        args->greeting.data = (u_char *) greeting;
        args->greeting.len = ngx_strlen(greeting);
    }

    args->closed_hours = !ngx_kefu_avail_open(ws);

    /*
     * Intent routing: a visitor's message that may open a conversation
     * goes to the group of the first conv_created rule with "route" that
     * its text fires, before an agent is chosen (ngx_kefu_bot_run.c).
     */
    if (ws->role == NGX_KEFU_ROLE_VISITOR && req->conv.data == NULL
        && req->text && ngx_kefu_bot_route(ws->site, req->text, &ws->group,
                                           !args->closed_hours, ws->intent,
                                           &args->group)
                        == NGX_OK)
    {
        args->group_known = ngx_kefu_settings_group_known(ws->site,
                                                          &args->group);
    }

    /*
     * The site's bot (bot.enabled, bot.groups): a visitor's new
     * conversation of its groups starts in state bot instead of being
     * routed; the script knows which group it ends up in.
     */
    rt = ws->site->rt;

    if (ws->role == NGX_KEFU_ROLE_VISITOR && rt) {
        args->bot = ngx_kefu_bot_starts(rt->bot, &args->group);
        args->bot_default = ngx_kefu_bot_starts(rt->bot,
                                                &args->default_group);
    }

    return greeting;
}


/* the call kept until Redis answered: its strings copied into it */

static ngx_kefu_msg_ctx_t *
ngx_kefu_msg_ctx_create(ngx_kefu_ws_t *ws, ngx_kefu_msg_args_t *args)
{
    ngx_kefu_msg_ctx_t  *ctx;

    ctx = ngx_alloc(sizeof(ngx_kefu_msg_ctx_t)
                    + ngx_kefu_msg_args_size(args), ws->connection->log);
    if (ctx == NULL) {
        return NULL;
    }

    ctx->sid = ws->session_id;
    ctx->site = ws->site;
    ctx->kmcf = ws->main_conf;
    ctx->opened = 0;
    ctx->created = 0;
    ctx->notice_len = 0;
    ctx->tries = 0;
    ctx->visitor = (ws->role == NGX_KEFU_ROLE_VISITOR);
    ctx->cid_len = args->cid.len;
    *ngx_cpymem(ctx->cid, args->cid.data, ctx->cid_len) = '\0';
    ctx->asked_len = ngx_min(ws->group.len, NGX_KEFU_MAX_GROUP_LEN);
    ngx_memcpy(ctx->asked, ws->group.data, ctx->asked_len);

    /* the call's strings live with it, to run it again */
    ctx->args = *args;
    (void) ngx_kefu_msg_args_copy(&ctx->args, ctx->data);

    ctx->script = args->conv.len ? &ngx_kefu_script_msg
                                 : ngx_kefu_msg_open_script(ctx);

    return ctx;
}


/* fresh ids into the call, and run it */

static ngx_int_t
ngx_kefu_msg_run(ngx_kefu_msg_ctx_t *ctx)
{
    u_char                *p;
    uint64_t               id, conv_id, greeting_id;
    ngx_uint_t             i;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ctx->kmcf;

    id = ngx_kefu_id_next(&kmcf->ids);
    conv_id = ngx_kefu_id_next(&kmcf->ids);
    greeting_id = ctx->args.greeting.len ? ngx_kefu_id_next(&kmcf->ids) : 1;

    if (id == 0 || conv_id == 0 || greeting_id == 0) {
        return NGX_DECLINED;
    }

    ctx->args.id = id;
    ctx->args.newconv = conv_id;
    ctx->args.greeting_id = greeting_id;

    /* routing a visitor's new conversation writes system entries */
    p = ctx->ids;

    for (i = 0; ctx->visitor && i < NGX_KEFU_MSG_IDS; i++) {
        p = ngx_sprintf(p, "%s%uL", i ? " " : "",
                        ngx_kefu_id_next(&kmcf->ids));
    }

    ctx->args.ids.data = ctx->ids;
    ctx->args.ids.len = p - ctx->ids;

    ngx_kefu_msg_argv(&ctx->args, &ctx->call);

    if (ctx->script == &ngx_kefu_script_msg) {
        /* with the pass's other messages (ngx_kefu_msg_batch.c) */
        return ngx_kefu_msg_batch_add(kmcf, &ctx->args.conv,
                                      ctx->call.argc, ctx->call.argv + 1,
                                      ctx->call.lens + 1,
                                      ngx_kefu_msg_handler, ctx);
    }

    /* open, route_new and first: the visitor's record first, the
     * site's slot */
    return ngx_kefu_redis_eval(kmcf->redis, ctx->script,
                               ctx->script == &ngx_kefu_script_open
                               ? ngx_kefu_msg_opened
                               : ctx->script == &ngx_kefu_script_first
                               ? ngx_kefu_msg_first : ngx_kefu_msg_routed,
                               ctx, 1, ctx->call.argc + 1, ctx->call.argv,
                               ctx->call.lens);
}


/*
 * A visitor's first message as one call, lua/first.lua: on one Redis
 * (every key on the one server: the call is atomic), unless the site's
 * rules of a message or the bot of the new conversation's group would
 * run between the storing and the routing (their calls follow msg's
 * reply, before route_new's, and stay so).
 */

static ngx_kefu_script_t *
ngx_kefu_msg_open_script(ngx_kefu_msg_ctx_t *ctx)
{
    ngx_kefu_site_rt_t  *rt;

    rt = ctx->site->rt;

    if (!ctx->visitor || ctx->args.cluster || ctx->args.bot
        || ctx->args.bot_default
        || (rt && rt->bot
            && (rt->bot->when_mask
                & ((1u << NGX_KEFU_WHEN_MESSAGE)
                   | (1u << NGX_KEFU_WHEN_CONV_CREATED)
                   | (1u << NGX_KEFU_WHEN_OFFLINE)))))
    {
        return &ngx_kefu_script_open;
    }

    return &ngx_kefu_script_first;
}


/* the conversation a visitor's message without "conv" goes to */

static ngx_str_t
ngx_kefu_msg_visitor_conv(ngx_kefu_ws_t *ws)
{
    ngx_str_t           conv;
    ngx_queue_t        *q;
    ngx_kefu_member_t  *m;

    for (q = ngx_queue_last(&ws->members);
         q != ngx_queue_sentinel(&ws->members);
         q = ngx_queue_prev(q))
    {
        m = ngx_queue_data(q, ngx_kefu_member_t, in_ws);

        if (ngx_kefu_channel_conv(&m->conv->channel, &conv) == NGX_OK) {
            return conv;
        }
    }

    ngx_str_null(&conv);

    return conv;
}


/* open: the visitor's conversation found or made, then msg */

static ngx_int_t
ngx_kefu_msg_open(ngx_kefu_msg_ctx_t *ctx)
{
    if (ctx->opened) {
        /* open gave a conversation msg found closed at once: a race with
         * a close; the client resends */
        return NGX_DECLINED;
    }

    ctx->opened = 1;
    ctx->tries = 0;
    ctx->script = ngx_kefu_msg_open_script(ctx);
    ngx_str_null(&ctx->args.conv);

    return ngx_kefu_msg_run(ctx);
}


static void
ngx_kefu_msg_opened(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_msg_ctx_t  *ctx = data;

    ngx_kefu_main_conf_t *kmcf;

    kmcf = ngx_kefu_redis_main_conf(rd);

    if (ngx_kefu_msg_open_reply(kmcf, ctx, reply) != NGX_OK) {
        return;
    }

    ctx->script = &ngx_kefu_script_msg;
    ctx->tries = 0;

    /*
     * On a cluster the conversation's side of open (its hash, greeting,
     * conv.created; or a step of it still pending) comes first: msg needs
     * the hash.  If it cannot be sent msg goes anyway: it finds no hash
     * and the sender resends, or the route sweep applies it meanwhile.
     */
    if (reply->elements > 4
        && ngx_kefu_route_apply_list(kmcf, ctx->site, reply->element[4],
                                     ngx_kefu_msg_open_applied, ctx)
           == NGX_OK)
    {
        return;
    }

    ngx_kefu_msg_open_applied(ctx);
}


/*
 * open's reply (or first's open part, its first four elements): the
 * conversation into ctx.  NGX_OK; else the reply is dealt with (a taken
 * id run again, or the sender told "unavailable", ctx freed): NGX_DONE.
 */

static ngx_int_t
ngx_kefu_msg_open_reply(ngx_kefu_main_conf_t *kmcf, ngx_kefu_msg_ctx_t *ctx,
    redisReply *reply)
{
    int64_t  code;

    ctx->opened = 1;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        ngx_kefu_msg_reply_error(ctx);
        return NGX_DONE;
    }

    code = reply->element[0]->integer;

    /* the new conversation's id was taken: nothing written, again */
    if (code == -5) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: a new conversation's id was taken, "
                      "trying another");
        ngx_kefu_stat_inc(kmcf, id_collisions);

        if (++ctx->tries < NGX_KEFU_MSG_TRIES
            && ngx_kefu_msg_run(ctx) == NGX_OK)
        {
            return NGX_DONE;
        }

        ngx_kefu_msg_reply_error(ctx);
        return NGX_DONE;
    }

    if ((code != 0 && code != 1) || reply->elements < 2
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[1]->len == 0
        || reply->element[1]->len > NGX_KEFU_MAX_ID_LEN)
    {
        ngx_kefu_msg_reply_error(ctx);
        return NGX_DONE;
    }

    /* made by this call: routed after the message is stored */
    ctx->created = (code == 0);

    /*
     * made in state bot (the site's bot is on for its group): the visitor
     * is told so after its ack, as of a routed one; route_new only
     * announces it to the group's agents
     */
    if (code == 0 && reply->elements > 3
        && reply->element[2]->type == REDIS_REPLY_STRING
        && reply->element[2]->len == sizeof("bot") - 1
        && ngx_strncmp(reply->element[2]->str, "bot", 3) == 0
        && reply->element[3]->type == REDIS_REPLY_STRING
        && reply->element[3]->len <= NGX_KEFU_MSG_NOTICE)
    {
        ctx->notice_len = reply->element[3]->len;
        ngx_memcpy(ctx->notice, reply->element[3]->str, ctx->notice_len);
    }

    ctx->args.conv.data = ctx->conv;
    ctx->args.conv.len = reply->element[1]->len;
    ngx_memcpy(ctx->conv, reply->element[1]->str, ctx->args.conv.len);

    return NGX_OK;
}


/*
 * first's reply: open's part, then msg's (the ack, the index, the rules)
 * as msg's reply, then route_new's (where the new conversation went, told
 * after the ack) when it ran
 */

static void
ngx_kefu_msg_first(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_msg_ctx_t  *ctx = data;

    uint64_t               sid;
    redisReply            *m, *n;
    ngx_kefu_site_t       *site;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_kefu_redis_main_conf(rd);

    if (ngx_kefu_msg_open_reply(kmcf, ctx, reply) != NGX_OK) {
        return;
    }

    if (reply->elements < 6
        || reply->element[4]->type != REDIS_REPLY_ARRAY)
    {
        ngx_kefu_msg_reply_error(ctx);
        return;
    }

    m = reply->element[4];
    n = reply->element[5];
    sid = ctx->sid;
    site = ctx->site;

    /* the ack, as msg's reply would give it (ctx freed; a message found
     * closed is "unavailable": ctx->opened) */
    ngx_kefu_msg_handler(rd, m, ctx);

    /* 0 when route_new's part did not run */
    if (n->type == REDIS_REPLY_ARRAY) {
        ngx_kefu_msg_route_done(kmcf, sid, site, n);
    }
}


static void
ngx_kefu_msg_open_applied(void *data)
{
    ngx_kefu_msg_ctx_t  *ctx = data;

    if (ngx_kefu_msg_run(ctx) != NGX_OK) {
        ngx_kefu_msg_reply_error(ctx);
    }
}


/* open or msg failed before anything was acknowledged */

static void
ngx_kefu_msg_reply_error(ngx_kefu_msg_ctx_t *ctx)
{
    ngx_kefu_ws_t  *ws;

    ws = ngx_kefu_local_session(ctx->kmcf, ctx->sid);

    if (ws) {
        ctx->cid[ctx->cid_len] = '\0';
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable, "
                           "retry with the same cid", (char *) ctx->cid);
    }

    ngx_free(ctx);
}


/*
 * route_new's outcome for the sender, kept while a cluster applies the
 * conversation's side (ngx_kefu_route_apply_list())
 */
typedef struct {
    uint64_t                     sid;
    ngx_kefu_main_conf_t        *kmcf;
    size_t                       len;
    u_char                       notice[];
} ngx_kefu_msg_routed_t;


/* route_new's reply: where the new conversation went */

static void
ngx_kefu_msg_routed(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_msg_ctx_t  *ctx = data;

    uint64_t          sid;
    ngx_kefu_site_t  *site;

    sid = ctx->sid;
    site = ctx->site;
    ngx_free(ctx);

    ngx_kefu_msg_route_done(ngx_kefu_redis_main_conf(rd), sid, site, reply);
}


/* route_new's reply (or first's part of it), for the sender sid */

static void
ngx_kefu_msg_route_done(ngx_kefu_main_conf_t *kmcf, uint64_t sid,
    ngx_kefu_site_t *site, redisReply *reply)
{
    redisReply             *n;
    ngx_kefu_ws_t          *ws;
    ngx_kefu_msg_routed_t  *rt;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 3)
    {
        /* the conversation waits in its queue for the next drain */
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "kefu: routing a new conversation failed: %s, "
                          "it waits in its queue", reply->str);
        }

        return;
    }

    /* queues the routing could not finish are drained, sender or not */
    if (reply->element[2]->type == REDIS_REPLY_STRING
        && reply->element[2]->len)
    {
        ngx_kefu_route_drain(kmcf, site, (u_char *) reply->element[2]->str,
                             reply->element[2]->len);
    }

    /* a new conversation: where it went (its agent, or the queue) */
    n = reply->element[1]->type == REDIS_REPLY_STRING ? reply->element[1]
                                                      : NULL;

    /*
     * On a cluster the conversations' sides first: the sender is told
     * "open" once its conversation's hash names the agent (as an agent
     * is, by route_put); without memory for the wait it is told now and
     * the route sweep applies them.
     */
    if (reply->elements > 4 && reply->element[4]->type == REDIS_REPLY_ARRAY
        && reply->element[4]->elements >= 2)
    {
        rt = ngx_alloc(sizeof(ngx_kefu_msg_routed_t) + (n ? n->len : 0),
                       ngx_cycle->log);

        if (rt) {
            rt->sid = sid;
            rt->kmcf = kmcf;
            rt->len = n ? n->len : 0;

            if (rt->len) {
                ngx_memcpy(rt->notice, n->str, rt->len);
            }

            if (ngx_kefu_route_apply_list(kmcf, site, reply->element[4],
                                          ngx_kefu_msg_route_applied, rt)
                == NGX_OK)
            {
                return;
            }

            ngx_free(rt);
        }
    }

    ws = ngx_kefu_local_session(kmcf, sid);

    if (ws && n && n->len) {
        (void) ngx_kefu_ws_send_text(ws, (u_char *) n->str, n->len);
    }
}


static void
ngx_kefu_msg_route_applied(void *data)
{
    ngx_kefu_msg_routed_t  *rt = data;

    ngx_kefu_ws_t  *ws;

    /* the sender may have left meanwhile */
    ws = ngx_kefu_local_session(rt->kmcf, rt->sid);

    if (ws && rt->len) {
        (void) ngx_kefu_ws_send_text(ws, rt->notice, rt->len);
    }

    ngx_free(rt);
}


/*
 * The greeting entry's tail, after its conv, id and seq (to free()), or
 * NULL for no greeting.
 */

static char *
ngx_kefu_msg_greeting(ngx_kefu_ws_t *ws, int64_t ts)
{
    json_t      *t;
    const char  *text;

    text = ngx_kefu_settings_text(ws->site, ws->lang_en, "welcome");

    if (text[0] == '\0') {
        return NULL;
    }

    t = json_pack("{s:I,s:{s:s,s:s},s:s,s:s}", "ts", (json_int_t) ts,
                  "from", "role", "system", "id", "greeting",
                  "text", text, "event", "greeting");

    return ngx_kefu_msg_tail_dump(t);
}


static void
ngx_kefu_msg_handler(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_msg_ctx_t  *ctx = data;

    u_char                 cid[NGX_KEFU_MAX_CID_LEN + 1];
    u_char                 notice[NGX_KEFU_MSG_NOTICE];
    size_t                 notice_len;
    ngx_kefu_ws_t         *ws;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_kefu_redis_main_conf(rd);

    /* no conversation to write to (none yet, or closed): open first */
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 1
        && reply->element[0]->type == REDIS_REPLY_INTEGER
        && reply->element[0]->integer == -6)
    {
        if (ngx_kefu_msg_open(ctx) != NGX_OK) {
            ngx_kefu_msg_reply_error(ctx);
        }

        return;
    }

    /* the sender may have left meanwhile: then there is no one to tell */
    ws = ngx_kefu_local_session(kmcf, ctx->sid);
    ngx_memcpy(cid, ctx->cid, ctx->cid_len);
    cid[ctx->cid_len] = '\0';
    notice_len = ctx->notice_len;
    ngx_memcpy(notice, ctx->notice, notice_len);

    /* in a cluster the event follows (before route_new's ids are new) */
    ngx_kefu_msg_event(kmcf, &ctx->args, reply);

    /* stored (not a duplicate): index, rules, route_new */
    ctx = ngx_kefu_msg_stored(kmcf, ctx, ws, reply);

    /* (else it lives on for route_new) */
    if (ctx) {
        ngx_free(ctx);
    }

    if (ws == NULL) {
        return;
    }

    ngx_kefu_msg_ack(ws, reply, cid, notice, notice_len);
}


/*
 * A message stored (not a duplicate): into the search index, by its own
 * call; a visitor's to the site's rules; a conversation open made on to
 * route_new.  Returns ctx, or NULL if it lives on for route_new.
 */

static ngx_kefu_msg_ctx_t *
ngx_kefu_msg_stored(ngx_kefu_main_conf_t *kmcf, ngx_kefu_msg_ctx_t *ctx,
    ngx_kefu_ws_t *ws, redisReply *reply)
{
    ngx_str_t   conv, asked, state;
    ngx_uint_t  has_state;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements >= 6
        && reply->element[0]->type == REDIS_REPLY_INTEGER
        && reply->element[0]->integer == 0
        && reply->element[1]->type == REDIS_REPLY_STRING
        && reply->element[2]->type == REDIS_REPLY_INTEGER
        && reply->element[4]->type == REDIS_REPLY_INTEGER)
    {
        conv.data = (u_char *) reply->element[1]->str;
        conv.len = reply->element[1]->len;
        ngx_kefu_search_index_msg(kmcf, ctx->site, &conv,
                                  (uint64_t) reply->element[2]->integer,
                                  reply->element[4]->integer,
                                  ctx->args.tail.data, ctx->args.tail.len);

        /* a visitor's message: the site's rules (ngx_kefu_bot_run.c) */
        if (ctx->visitor) {
            asked.data = ctx->asked;
            asked.len = ctx->asked_len;

            /* in state bot the bot answers, or hands off, after the
             * rules of the message */
            has_state = reply->elements > 8
                        && reply->element[8]->type == REDIS_REPLY_STRING;

            if (has_state) {
                state.data = (u_char *) reply->element[8]->str;
                state.len = reply->element[8]->len;
            }

            ngx_kefu_bot_on_visitor_msg(kmcf, ctx->site, &conv,
                (uint64_t) reply->element[2]->integer,
                ctx->created,
                &asked, ctx->args.closed_hours,
                ws ? ws->lang_en : 0, has_state ? &state : NULL,
                ctx->args.tail.data, ctx->args.tail.len);
        }

        /*
         * A conversation open made is routed now that its first message
         * is stored (so that message comes before the assignment, as in
         * one step); if that call cannot go, the conversation waits in
         * its queue for the next drain.
         */
        if (ctx->created && ctx->script != &ngx_kefu_script_first) {
            ctx->created = 0;
            ctx->script = &ngx_kefu_script_route_new;

            if (ngx_kefu_msg_run(ctx) == NGX_OK) {
                return NULL;
            }

            ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                          "kefu: a new conversation waits in its queue "
                          "for the next drain: routing it could not "
                          "be sent");
        }
    }

    return ctx;
}


/* the sender's ack, or why its message was not stored */

static void
ngx_kefu_msg_ack(ngx_kefu_ws_t *ws, redisReply *reply, u_char *cid,
    u_char *notice, size_t notice_len)
{
    json_t       *ack;
    int64_t       code;
    uint64_t      seq;
    ngx_str_t     conv;
    redisReply  **e;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable, "
                           "retry with the same cid", (char *) cid);
        return;
    }

    e = reply->element;
    code = e[0]->integer;

    if (code == -1) {
        ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                      "kefu: %s \"%V\" wrote to a conversation not theirs",
                      ngx_kefu_role_name(ws->role), &ws->user_id);
        ngx_kefu_app_error(ws, "forbidden", "not your conversation",
                           (char *) cid);
        return;
    }

    if (code < 0 || reply->elements < 6) {
        ngx_kefu_app_error(ws, "bad_request", "\"conv\" is required",
                           (char *) cid);
        return;
    }

    conv.data = (u_char *) e[1]->str;
    conv.len = e[1]->len;
    seq = (uint64_t) e[2]->integer;

    ack = json_pack("{s:s,s:s,s:s%,s:s%,s:I,s:I}",
                    "type", "ack", "cid", cid,
                    "conv", conv.data, conv.len,
                    "id", e[3]->str, e[3]->len,
                    "seq", (json_int_t) seq,
                    "ts", (json_int_t) e[4]->integer);
    if (ack == NULL) {
        return;
    }

    if (code == 1) {
        json_object_set_new(ack, "dup", json_true());
    }

    if (ngx_kefu_app_send(ws, ack) == NGX_OK) {
        ngx_kefu_stat_inc(ws->main_conf, acks);
    }

    json_decref(ack);

    /* a new bot conversation: the visitor hears its state (open's) */
    if (code == 0 && notice_len) {
        (void) ngx_kefu_ws_send_text(ws, notice, notice_len);
    }

    /*
     * Not a member yet: the conversation is new, maybe opened by another
     * connection of this participant a moment before, so it is read from
     * its start (its own entries are skipped as acknowledged).
     */
    if (ngx_kefu_conv_member(ws, &conv) == NULL) {
        (void) ngx_kefu_conv_join(ws, &conv, 0);
    }
}
