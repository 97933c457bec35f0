
/*
 * Agents' actions on conversations.  accept: take a queued conversation,
 * atomically in one script (two agents cannot both take it); the agent's
 * connections join it from its start, so the agent sees everything the
 * visitor wrote while queued.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_redis.h"


typedef struct {
    uint64_t                     sid;
    size_t                       cid_len;
    u_char                       cid[65];
    size_t                       conv_len;
    u_char                       conv[NGX_KEFU_MAX_ID_LEN];
} ngx_kefu_agent_ctx_t;


static void ngx_kefu_accept_handler(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);


void
ngx_kefu_accept(ngx_kefu_ws_t *ws, json_t *msg, const char *cid)
{
    char                  *agent, *text;
    u_char                 who[2 + NGX_KEFU_MAX_ID_LEN], ts[NGX_INT64_LEN];
    u_char                 head[128 + NGX_KEFU_MAX_ID_LEN], maxlen[NGX_INT_T_LEN];
    u_char                 session[16];
    size_t                 lens[9], n;
    json_t                *conv, *a, *t;
    int64_t                now;
    uint64_t               id;
    const char            *argv[9];
    ngx_kefu_agent_ctx_t  *ctx;

    if (ws->role != NGX_KEFU_ROLE_AGENT) {
        ngx_kefu_app_error(ws, "forbidden", "only agents accept "
                           "conversations", cid);
        return;
    }

    conv = json_object_get(msg, "conv");

    if (!json_is_string(conv)
        || ngx_kefu_valid_id((u_char *) json_string_value(conv),
                             json_string_length(conv))
           != NGX_OK)
    {
        ngx_kefu_app_error(ws, "bad_request", "\"conv\" must be a "
                           "conversation id", cid);
        return;
    }

    id = ngx_kefu_id_next(&ws->main_conf->ids);

    if (id == 0 || !ngx_kefu_redis_ready(ws->main_conf->redis)) {
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable", cid);
        return;
    }

    now = ngx_kefu_now_ms();

    a = json_pack("{s:s%}", "id", ws->user_id.data, ws->user_id.len);
    if (a && ws->name.len) {
        json_object_set_new(a, "name", json_stringn((char *) ws->name.data,
                                                    ws->name.len));
    }

    /* the system entry recording who took it */
    t = json_pack("{s:I,s:{s:s},s:s,s:s,s:O}", "ts", (json_int_t) now,
                  "from", "role", "system", "event", "accepted",
                  "text", "conversation accepted", "agent", a);

    agent = a ? json_dumps(a, JSON_COMPACT) : NULL;
    text = t ? json_dumps(t, JSON_COMPACT) : NULL;
    json_decref(a);
    json_decref(t);

    n = cid ? ngx_strlen(cid) : 0;
    ctx = ngx_alloc(sizeof(ngx_kefu_agent_ctx_t), ws->connection->log);

    if (agent == NULL || text == NULL || ctx == NULL || n > 64) {
        free(agent);
        free(text);
        ngx_free(ctx);
        ngx_kefu_app_error(ws, "internal", "out of memory", cid);
        return;
    }

    ctx->sid = ws->session_id;
    ctx->cid_len = n;
    ngx_memcpy(ctx->cid, cid, n);
    ctx->conv_len = json_string_length(conv);
    ngx_memcpy(ctx->conv, json_string_value(conv), ctx->conv_len);

    text[0] = ',';

    argv[0] = (char *) ws->site->name.data;
    lens[0] = ws->site->name.len;
    argv[1] = (char *) who;
    lens[1] = ngx_snprintf(who, sizeof(who), "a:%V", &ws->user_id) - who;
    argv[2] = json_string_value(conv);
    lens[2] = json_string_length(conv);
    argv[3] = agent;
    lens[3] = ngx_strlen(agent);
    argv[4] = (char *) ts;
    lens[4] = ngx_snprintf(ts, sizeof(ts), "%L", now) - ts;
    argv[5] = (char *) head;
    lens[5] = ngx_snprintf(head, sizeof(head),
                           "{\"type\":\"msg\",\"conv\":\"%*s\",\"id\":\"%uL\","
                           "\"seq\":", lens[2], argv[2], id) - head;
    argv[6] = text;
    lens[6] = ngx_strlen(text);
    argv[7] = (char *) maxlen;
    lens[7] = ngx_snprintf(maxlen, sizeof(maxlen), "%i",
                           ws->main_conf->log_max) - maxlen;
    argv[8] = (char *) session;
    lens[8] = ngx_snprintf(session, sizeof(session), "%016xL",
                           ws->session_id) - session;

    if (ngx_kefu_redis_eval(ws->main_conf->redis, &ngx_kefu_script_accept,
                            ngx_kefu_accept_handler, ctx, 0, 9, argv, lens)
        != NGX_OK)
    {
        ngx_free(ctx);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable", cid);
    }

    free(agent);
    free(text);
}


static void
ngx_kefu_accept_handler(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_agent_ctx_t  *ctx = data;

    u_char          cid[65];
    ngx_str_t       conv;
    redisReply     *n;
    ngx_kefu_ws_t  *ws;

    ws = ngx_kefu_local_session(ngx_kefu_redis_main_conf(rd), ctx->sid);

    ngx_memcpy(cid, ctx->cid, ctx->cid_len);
    cid[ctx->cid_len] = '\0';

    if (ws == NULL) {
        ngx_free(ctx);
        return;
    }

    conv.data = ctx->conv;
    conv.len = ctx->conv_len;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable",
                           cid[0] ? (char *) cid : NULL);
        ngx_free(ctx);
        return;
    }

    switch (reply->element[0]->integer) {

    case 0:
    case 1:
        /* from the reply, not the channel: the subscription may be young */
        n = reply->elements > 2 ? reply->element[2] : NULL;

        if (n && n->type == REDIS_REPLY_STRING) {
            (void) ngx_kefu_ws_send_text(ws, (u_char *) n->str, n->len);
        }

        if (ngx_kefu_conv_member(ws, &conv) == NULL) {
            (void) ngx_kefu_conv_join(ws, &conv, 0);
        }

        break;

    case -1:
        ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                      "kefu: agent \"%V\" tried to accept a conversation "
                      "not of its site", &ws->user_id);
        ngx_kefu_app_error(ws, "forbidden", "not a conversation of your site",
                           cid[0] ? (char *) cid : NULL);
        break;

    default:
        ngx_kefu_app_error(ws, "forbidden", "the conversation is not queued",
                           cid[0] ? (char *) cid : NULL);
    }

    /* the agent's other connections learn it on the agent's channel */
    ngx_free(ctx);
}
