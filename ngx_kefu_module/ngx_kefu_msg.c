
/*
 * msg: a chat message from a client.  Validated here, stored and published
 * by one script call (ngx_kefu_scripts.c), acknowledged only when Redis
 * answered that it is stored.  If Redis is down, loading or too slow the
 * sender gets error "unavailable" with its cid: never silence, never an ack
 * for something that was not stored.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_upload.h"


#define NGX_KEFU_MAX_CID_LEN   64


/* ids a visitor's message may need: its new conversation's routing */
#define NGX_KEFU_MSG_IDS       4


typedef struct {
    uint64_t                     sid;
    ngx_kefu_site_t             *site;
    size_t                       cid_len;
    u_char                       cid[];
} ngx_kefu_msg_ctx_t;


static void ngx_kefu_msg_handler(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);


void
ngx_kefu_msg(ngx_kefu_ws_t *ws, json_t *msg, const char *cid)
{
    char                *tail;
    u_char               idbuf[NGX_INT64_LEN], newconv[NGX_INT64_LEN];
    u_char               tsbuf[NGX_INT64_LEN], ttl[NGX_INT_T_LEN];
    u_char               maxlen[NGX_INT_T_LEN], who[2 + NGX_KEFU_MAX_ID_LEN];
    u_char               session[16], grace[NGX_INT_T_LEN];
    u_char               ids[NGX_KEFU_MSG_IDS * (NGX_INT64_LEN + 1)], *p;
    size_t               lens[22];
    json_t              *text, *conv, *priv, *t, *from, *att;
    int64_t              ts;
    uint64_t             id, cid_id;
    ngx_uint_t           is_private;
    ngx_uint_t           i;
    int                  argc;
    ngx_str_t            whostr;
    const char          *argv[22], *err;
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

    id = ngx_kefu_id_next(&kmcf->ids);
    cid_id = ngx_kefu_id_next(&kmcf->ids);

    if (id == 0 || !ngx_kefu_redis_ready(kmcf->redis)) {
        json_decref(att);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable, "
                           "retry with the same cid", cid);
        return;
    }

    ts = ngx_kefu_now_ms();

    /* the stored JSON, less conv and seq which the script fills in */

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

    ctx = ngx_alloc(sizeof(ngx_kefu_msg_ctx_t) + ngx_strlen(cid),
                    ws->connection->log);

    if (tail == NULL || ctx == NULL) {
        free(tail);
        ngx_free(ctx);
        json_decref(att);
        ngx_kefu_app_error(ws, "internal", "out of memory", cid);
        return;
    }

    ctx->sid = ws->session_id;
    ctx->site = ws->site;
    ctx->cid_len = ngx_strlen(cid);
    ngx_memcpy(ctx->cid, cid, ctx->cid_len);

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
    lens[4] = ctx->cid_len;
    argv[5] = (char *) idbuf;
    lens[5] = ngx_snprintf(idbuf, sizeof(idbuf), "%uL", id) - idbuf;
    argv[6] = (char *) newconv;
    lens[6] = ngx_snprintf(newconv, sizeof(newconv), "%uL", cid_id)
              - newconv;
    argv[7] = (char *) tsbuf;
    lens[7] = ngx_snprintf(tsbuf, sizeof(tsbuf), "%L", ts) - tsbuf;
    argv[8] = "{\"type\":\"msg\",\"conv\":\"";
    lens[8] = ngx_strlen(argv[8]);
    argv[9] = "\",\"id\":\"";
    lens[9] = 0;   /* set below: it carries the id */
    argv[10] = tail;
    lens[10] = ngx_strlen(tail);
    argv[11] = is_private ? "1" : "0";
    lens[11] = 1;
    argv[12] = (char *) ws->group.data;
    lens[12] = ws->group.len;
    argv[13] = (char *) ttl;
    lens[13] = ngx_snprintf(ttl, sizeof(ttl), "%T",
                            (time_t) (kmcf->dedup_ttl / 1000)) - ttl;
    argv[14] = (char *) maxlen;
    lens[14] = ngx_snprintf(maxlen, sizeof(maxlen), "%i", kmcf->log_max)
               - maxlen;
    argv[15] = (char *) session;
    lens[15] = ngx_snprintf(session, sizeof(session), "%016xL",
                            ws->session_id) - session;

    /* routing a visitor's new conversation writes system entries */
    p = ids;

    for (i = 0; ws->role == NGX_KEFU_ROLE_VISITOR && i < NGX_KEFU_MSG_IDS;
         i++)
    {
        p = ngx_sprintf(p, "%s%uL", i ? " " : "", ngx_kefu_id_next(&kmcf->ids));
    }

    argv[16] = (char *) ids;
    lens[16] = p - ids;
    argv[17] = (char *) grace;
    lens[17] = ngx_snprintf(grace, sizeof(grace), "%M", ws->site->grace)
               - grace;

    argc = 18;

    /* the file's reference: it lives as long as its conversation */
    if (att) {
        argv[18] = "";
        argv[19] = "";
        argv[20] = "";
        argv[21] = json_string_value(json_object_get(att, "id"));
        lens[18] = lens[19] = lens[20] = 0;
        lens[21] = NGX_KEFU_SHA256_HEX;
        argc = 22;
    }

    {
        /* mid: ","id":"<id>","seq": */
        u_char  mid[sizeof("\",\"id\":\"\",\"seq\":") + NGX_INT64_LEN];

        lens[9] = ngx_snprintf(mid, sizeof(mid), "\",\"id\":\"%uL\",\"seq\":",
                               id) - mid;
        argv[9] = (char *) mid;

        if (ngx_kefu_redis_eval(kmcf->redis, &ngx_kefu_script_msg,
                                ngx_kefu_msg_handler, ctx, 0, argc, argv,
                                lens)
            != NGX_OK)
        {
            ngx_free(ctx);
            ngx_kefu_app_error(ws, "unavailable", "storage is unavailable, "
                               "retry with the same cid", cid);
        }
    }

    free(tail);
    json_decref(att);
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
