
/*
 * msg: a chat message from a client.  Validated here, stored and published
 * by one script call (lua/msg.lua), acknowledged only when Redis
 * answered that it is stored.  If Redis is down, loading or too slow the
 * sender gets error "unavailable" with its cid: never silence, never an ack
 * for something that was not stored.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_settings.h"
#include "ngx_kefu_upload.h"


#define NGX_KEFU_MAX_CID_LEN   64


/* ids a visitor's message may need: its new conversation's routing */
#define NGX_KEFU_MSG_IDS       4


/* a new conversation whose id is taken is tried again, fresh ids each time */
#define NGX_KEFU_MSG_TRIES     8

/* the script's arguments: lua/msg.lua */
#define NGX_KEFU_MSG_ARGS      28


/*
 * The script call, kept until Redis answered so that it can run again:
 * its arguments are copied into data[], but for the ids (refilled before
 * each run).
 */
typedef struct {
    uint64_t                     sid;
    ngx_kefu_site_t             *site;
    ngx_kefu_main_conf_t        *kmcf;
    ngx_uint_t                   tries;
    ngx_uint_t                   visitor;
    size_t                       cid_len;
    u_char                       cid[NGX_KEFU_MAX_CID_LEN + 1];
    const char                  *argv[NGX_KEFU_MSG_ARGS];
    size_t                       lens[NGX_KEFU_MSG_ARGS];
    u_char                       id[NGX_INT64_LEN];
    u_char                       newconv[NGX_INT64_LEN];
    u_char                       mid[sizeof("\",\"id\":\"\",\"seq\":")
                                     + NGX_INT64_LEN];
    u_char                       gmid[sizeof("\",\"id\":\"\",\"seq\":")
                                      + NGX_INT64_LEN];
    u_char                       ids[NGX_KEFU_MSG_IDS * (NGX_INT64_LEN + 1)];
    u_char                       data[];
} ngx_kefu_msg_ctx_t;


static ngx_int_t ngx_kefu_msg_run(ngx_kefu_msg_ctx_t *ctx);
static void ngx_kefu_msg_handler(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static char *ngx_kefu_msg_greeting(ngx_kefu_ws_t *ws, int64_t ts);


void
ngx_kefu_msg(ngx_kefu_ws_t *ws, json_t *msg, const char *cid)
{
    char                *tail;
    u_char               tsbuf[NGX_INT64_LEN], ttl[NGX_INT_T_LEN];
    u_char               maxlen[NGX_INT_T_LEN], who[2 + NGX_KEFU_MAX_ID_LEN];
    u_char               session[16], grace[NGX_INT_T_LEN], *p;
    u_char               vttl[NGX_TIME_T_LEN];
    char                *greeting;
    size_t               lens[NGX_KEFU_MSG_ARGS], size;
    json_t              *text, *conv, *priv, *t, *from, *att;
    int64_t              ts;
    ngx_uint_t           is_private;
    ngx_uint_t           i;
    ngx_str_t            whostr;
    const char          *argv[NGX_KEFU_MSG_ARGS], *err;
    ngx_kefu_msg_ctx_t  *ctx;
    ngx_kefu_main_conf_t *kmcf;

    kmcf = ws->main_conf;

    if (cid == NULL || ngx_strlen(cid) == 0
        || ngx_strlen(cid) > NGX_KEFU_MAX_CID_LEN)
    {
        ngx_kefu_app_error(ws, "bad_request", "\"cid\" must be a string of "
                           "1-64 characters", NULL);
        return;
    }

    text = json_object_get(msg, "text");
    att = json_object_get(msg, "attachment");

    /* an attachment is checked and copied here (ngx_kefu_upload_serve.c) */
    if (att && !json_is_null(att)) {
        whostr.data = who;
        whostr.len = ngx_snprintf(who, sizeof(who), "%c:%V",
                                  "?vam"[ws->role], &ws->user_id) - who;

        att = ngx_kefu_attach_check(ws->site, &whostr, att, &err);

        if (att == NULL) {
            ngx_kefu_app_error(ws, "bad_request", err, cid);
            return;
        }

    } else {
        att = NULL;
    }

    /* with an attachment, "text" may be empty or absent */
    if (!(json_is_string(text) && json_string_length(text) > 0)
        && !(att && (text == NULL || json_is_string(text))))
    {
        json_decref(att);
        ngx_kefu_app_error(ws, "bad_request", "\"text\" must be a non-empty "
                           "string", cid);
        return;
    }

    if (text && json_string_length(text) > ws->conf->max_text) {
        json_decref(att);
        ngx_kefu_app_error(ws, "too_large", "\"text\" is too long", cid);
        return;
    }

    conv = json_object_get(msg, "conv");

    if (conv && !json_is_null(conv)
        && (!json_is_string(conv)
            || ngx_kefu_valid_id((u_char *) json_string_value(conv),
                                 json_string_length(conv))
               != NGX_OK))
    {
        json_decref(att);
        ngx_kefu_app_error(ws, "bad_request", "\"conv\" must be a "
                           "conversation id", cid);
        return;
    }

    if (!json_is_string(conv) && ws->role != NGX_KEFU_ROLE_VISITOR) {
        json_decref(att);
        ngx_kefu_app_error(ws, "bad_request", "\"conv\" is required", cid);
        return;
    }

    priv = json_object_get(msg, "private");

    if (priv && !json_is_boolean(priv)) {
        json_decref(att);
        ngx_kefu_app_error(ws, "bad_request", "\"private\" must be a boolean",
                           cid);
        return;
    }

    is_private = json_is_true(priv);

    if (is_private && ws->role == NGX_KEFU_ROLE_VISITOR) {
        json_decref(att);
        ngx_kefu_app_error(ws, "forbidden", "visitors cannot send private "
                           "notes", cid);
        return;
    }

    if (!ngx_kefu_redis_ready(kmcf->redis)) {
        json_decref(att);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable, "
                           "retry with the same cid", cid);
        return;
    }

    ts = ngx_kefu_now_ms();

    /* the stored JSON, less conv, id and seq which are filled in later */

    from = json_pack("{s:s,s:s%}", "role", ngx_kefu_role_name(ws->role),
                     "id", ws->user_id.data, ws->user_id.len);
    if (from && ws->name.len) {
        json_object_set_new(from, "name", json_stringn((char *) ws->name.data,
                                                       ws->name.len));
    }

    t = json_pack("{s:I,s:o,s:o,s:s}", "ts", (json_int_t) ts, "from", from,
                  "text", text ? json_incref(text) : json_string(""),
                  "cid", cid);
    if (t && is_private) {
        json_object_set_new(t, "private", json_true());
    }

    if (t && att) {
        json_object_set(t, "attachment", att);
    }

    tail = t ? json_dumps(t, JSON_COMPACT) : NULL;
    json_decref(t);

    if (tail == NULL) {
        json_decref(att);
        ngx_kefu_app_error(ws, "internal", "out of memory", cid);
        return;
    }

    /* "{...}" becomes ",...}" to follow "seq":<n> */
    tail[0] = ',';

    argv[0] = (char *) ws->site->name.data;
    lens[0] = ws->site->name.len;
    argv[1] = (char *) who;
    lens[1] = ngx_snprintf(who, sizeof(who), "%c:%V",
                           "?vam"[ws->role], &ws->user_id) - who;
    argv[2] = ngx_kefu_role_name(ws->role);
    lens[2] = ngx_strlen(argv[2]);
    argv[3] = json_is_string(conv) ? json_string_value(conv) : "";
    lens[3] = json_is_string(conv) ? json_string_length(conv) : 0;
    argv[4] = cid;
    lens[4] = ngx_strlen(cid);
    argv[5] = "";                 /* id */
    lens[5] = 0;
    argv[6] = "";                 /* new conversation id */
    lens[6] = 0;
    argv[7] = (char *) tsbuf;
    lens[7] = ngx_snprintf(tsbuf, sizeof(tsbuf), "%L", ts) - tsbuf;
    argv[8] = "{\"type\":\"msg\",\"conv\":\"";
    lens[8] = ngx_strlen(argv[8]);
    argv[9] = "";                 /* ","id":"<id>","seq": */
    lens[9] = 0;
    argv[10] = tail;
    lens[10] = ngx_strlen(tail);
    argv[11] = is_private ? "1" : "0";
    lens[11] = 1;
    argv[12] = (char *) ws->group.data;
    lens[12] = ws->group.len;
    argv[13] = (char *) ttl;
    lens[13] = ngx_snprintf(ttl, sizeof(ttl), "%T",
                            ngx_kefu_dedup_seconds(kmcf, ws->site)) - ttl;
    argv[14] = (char *) maxlen;
    lens[14] = ngx_snprintf(maxlen, sizeof(maxlen), "%i", kmcf->log_max)
               - maxlen;
    argv[15] = (char *) session;
    lens[15] = ngx_snprintf(session, sizeof(session), "%016xL",
                            ws->session_id) - session;
    argv[16] = "";                /* ids of routing's system entries */
    lens[16] = 0;
    argv[17] = (char *) grace;
    lens[17] = ngx_snprintf(grace, sizeof(grace), "%M", ws->site->grace)
               - grace;

    /*
     * A visitor's new conversation opens with the site's greeting (its id
     * is minted with the others on each run); outside business hours a new
     * conversation waits offline.
     */
    greeting = ws->role == NGX_KEFU_ROLE_VISITOR
               ? ngx_kefu_msg_greeting(ws, ts) : NULL;

    argv[18] = "";
    lens[18] = 0;
    argv[19] = "";
    lens[19] = 0;
    argv[20] = "";
    lens[20] = 0;
    argv[21] = "";                /* the greeting's ","id":"<id>","seq": */
    lens[21] = 0;
    argv[22] = greeting ? greeting : "";
    lens[22] = greeting ? ngx_strlen(greeting) : 0;
    argv[23] = ngx_kefu_avail_open(ws) ? "1" : "0";
    lens[23] = 1;

    /* an attached file's reference: it lives as long as its conversation */
    argv[24] = att ? json_string_value(json_object_get(att, "id")) : "";
    lens[24] = att ? NGX_KEFU_SHA256_HEX : 0;

    /* a group neither declared nor an agent's goes to the default one */
    argv[25] = ngx_kefu_settings_group_known(ws->site, &ws->group)
               ? "1" : "0";
    lens[25] = 1;
    argv[26] = (char *) ws->site->default_group.data;
    lens[26] = ws->site->default_group.len;

    /* how long an idle visitor is kept (its record says it once hello
     * stored it) */
    argv[27] = (char *) vttl;
    lens[27] = ngx_snprintf(vttl, sizeof(vttl), "%T",
                            ngx_kefu_visitor_seconds(ws->site,
                                                     ws->anonymous))
               - vttl;

    size = 0;

    for (i = 0; i < NGX_KEFU_MSG_ARGS; i++) {
        size += lens[i];
    }

    ctx = ngx_alloc(sizeof(ngx_kefu_msg_ctx_t) + size, ws->connection->log);
    if (ctx == NULL) {
        free(tail);
        free(greeting);
        json_decref(att);
        ngx_kefu_app_error(ws, "internal", "out of memory", cid);
        return;
    }

    ctx->sid = ws->session_id;
    ctx->site = ws->site;
    ctx->kmcf = kmcf;
    ctx->tries = 0;
    ctx->visitor = (ws->role == NGX_KEFU_ROLE_VISITOR);
    ctx->cid_len = lens[4];
    *ngx_cpymem(ctx->cid, cid, ctx->cid_len) = '\0';

    p = ctx->data;

    for (i = 0; i < NGX_KEFU_MSG_ARGS; i++) {
        ctx->argv[i] = (char *) p;
        ctx->lens[i] = lens[i];

        if (lens[i]) {
            p = ngx_cpymem(p, argv[i], lens[i]);
        }
    }

    free(tail);
    free(greeting);
    json_decref(att);

    if (ngx_kefu_msg_run(ctx) != NGX_OK) {
        ngx_free(ctx);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable, "
                           "retry with the same cid", cid);
    }
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
    greeting_id = ctx->lens[22] ? ngx_kefu_id_next(&kmcf->ids) : 1;

    if (id == 0 || conv_id == 0 || greeting_id == 0) {
        return NGX_DECLINED;
    }

    ctx->argv[5] = (char *) ctx->id;
    ctx->lens[5] = ngx_sprintf(ctx->id, "%uL", id) - ctx->id;
    ctx->argv[6] = (char *) ctx->newconv;
    ctx->lens[6] = ngx_sprintf(ctx->newconv, "%uL", conv_id) - ctx->newconv;
    ctx->argv[9] = (char *) ctx->mid;
    ctx->lens[9] = ngx_sprintf(ctx->mid, "\",\"id\":\"%uL\",\"seq\":", id)
                   - ctx->mid;

    if (ctx->lens[22]) {
        ctx->argv[21] = (char *) ctx->gmid;
        ctx->lens[21] = ngx_sprintf(ctx->gmid, "\",\"id\":\"%uL\",\"seq\":",
                                    greeting_id)
                        - ctx->gmid;
    }

    /* routing a visitor's new conversation writes system entries */
    p = ctx->ids;

    for (i = 0; ctx->visitor && i < NGX_KEFU_MSG_IDS; i++) {
        p = ngx_sprintf(p, "%s%uL", i ? " " : "",
                        ngx_kefu_id_next(&kmcf->ids));
    }

    ctx->argv[16] = (char *) ctx->ids;
    ctx->lens[16] = p - ctx->ids;

    return ngx_kefu_redis_eval(kmcf->redis, &ngx_kefu_script_msg,
                               ngx_kefu_msg_handler, ctx, 0,
                               NGX_KEFU_MSG_ARGS, ctx->argv, ctx->lens);
}


/*
 * The greeting entry's tail, after its conv, id and seq (to free()), or
 * NULL for no greeting.
 */

static char *
ngx_kefu_msg_greeting(ngx_kefu_ws_t *ws, int64_t ts)
{
    char        *tail;
    json_t      *t;
    const char  *text;

    text = ngx_kefu_settings_text(ws->site, ws->lang_en, "welcome");

    if (text[0] == '\0') {
        return NULL;
    }

    t = json_pack("{s:I,s:{s:s,s:s},s:s,s:s}", "ts", (json_int_t) ts,
                  "from", "role", "system", "id", "greeting",
                  "text", text, "event", "greeting");
    tail = t ? json_dumps(t, JSON_COMPACT) : NULL;
    json_decref(t);

    if (tail == NULL) {
        return NULL;
    }

    tail[0] = ',';

    return tail;
}


static void
ngx_kefu_msg_handler(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_msg_ctx_t  *ctx = data;

    u_char                cid[NGX_KEFU_MAX_CID_LEN + 1];
    json_t               *ack;
    int64_t               code;
    uint64_t              seq;
    ngx_str_t             conv;
    redisReply          **e;
    ngx_kefu_ws_t        *ws;
    ngx_kefu_site_t      *site;
    ngx_kefu_main_conf_t *kmcf;

    kmcf = ngx_kefu_redis_main_conf(rd);

    /* the new conversation's id was taken: nothing written, again */
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 1
        && reply->element[0]->type == REDIS_REPLY_INTEGER
        && reply->element[0]->integer == -5)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: a new conversation's id was taken, "
                      "trying another");
        ngx_kefu_stat_inc(kmcf, id_collisions);

        if (++ctx->tries < NGX_KEFU_MSG_TRIES
            && ngx_kefu_msg_run(ctx) == NGX_OK)
        {
            return;
        }

        reply = NULL;
    }

    /* the sender may have left meanwhile: then there is no one to tell */
    ws = ngx_kefu_local_session(kmcf, ctx->sid);
    site = ctx->site;

    ngx_memcpy(cid, ctx->cid, ctx->cid_len);
    cid[ctx->cid_len] = '\0';
    ngx_free(ctx);

    /* queues the routing could not finish are drained, sender or not */
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements > 7
        && reply->element[7]->type == REDIS_REPLY_STRING
        && reply->element[7]->len)
    {
        ngx_kefu_route_drain(kmcf, site, (u_char *) reply->element[7]->str,
                             reply->element[7]->len);
    }

    if (ws == NULL) {
        return;
    }

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

    /* a new conversation: where it went (its agent, or the queue) */
    if (reply->elements > 6 && e[6]->type == REDIS_REPLY_STRING && e[6]->len) {
        (void) ngx_kefu_ws_send_text(ws, (u_char *) e[6]->str, e[6]->len);
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
