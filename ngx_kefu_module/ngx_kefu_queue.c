
/*
 * The agents' view of the queues (contract v2, "Agents' view").
 *
 * An agent's connection listens to kefu:{s:<site>}:g:<group> of each of its
 * groups: the routing scripts publish there a "conv" notice (reason
 * "queue", "queued" true or false) whenever a conversation enters or
 * leaves that group's queue (r_flush() in lua/lib/route.lua).  The
 * "queue" message reads the queues of the agent's groups now
 * (lua/queue.lua), so that a console starts from the full list and
 * follows the notices from there.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route.h"


/* conversations listed per group; the rest are counted in "more" */
#define NGX_KEFU_QUEUE_LIST  100


typedef struct {
    uint64_t                     sid;
    size_t                       cid_len;
    u_char                       cid[65];
} ngx_kefu_queue_ctx_t;


static void ngx_kefu_queue_handler(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);


/* after welcome: an agent hears its groups' queues move */

void
ngx_kefu_queue_hello(ngx_kefu_ws_t *ws)
{
    u_char     chan[sizeof(NGX_KEFU_CH_SITE "}:g:") + NGX_KEFU_MAX_ID_LEN
                    + 64];
    char      *groups;
    size_t     i;
    json_t    *a, *g;
    ngx_str_t  channel;

    if (ws->role == NGX_KEFU_ROLE_VISITOR || ws->main_conf->redis == NULL) {
        return;
    }

    if (ngx_kefu_presence_groups(ws, &groups) != NGX_OK) {
        return;
    }

    a = json_loads(groups, 0, NULL);
    free(groups);

    json_array_foreach(a, i, g) {
        channel.data = chan;
        channel.len = ngx_snprintf(chan, sizeof(chan),
                                   NGX_KEFU_CH_SITE "%V}:g:%s",
                                   &ws->site->name, json_string_value(g))
                      - chan;

        if (ngx_kefu_channel_join(ws, &channel, 0) == NULL) {
            ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                          "kefu: agent \"%V\" does not hear the queue of "
                          "group \"%s\" (out of memory)", &ws->user_id,
                          json_string_value(g));
        }
    }

    json_decref(a);
}


void
ngx_kefu_queue(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    u_char                 limit[NGX_INT_T_LEN];
    char                  *groups;
    size_t                 n, lens[3];
    const char            *argv[3], *cid;
    ngx_kefu_queue_ctx_t  *ctx;

    /* agents and admins only, cid at most 64 bytes: ngx_kefu_validate() */
    cid = req->cid;
    n = cid ? ngx_strlen(cid) : 0;

    if (ws->main_conf->redis == NULL) {
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable", cid);
        return;
    }

    if (ngx_kefu_presence_groups(ws, &groups) != NGX_OK) {
        ngx_kefu_app_error(ws, "internal", "out of memory", cid);
        return;
    }

    ctx = ngx_alloc(sizeof(ngx_kefu_queue_ctx_t), ws->connection->log);
    if (ctx == NULL) {
        free(groups);
        ngx_kefu_app_error(ws, "internal", "out of memory", cid);
        return;
    }

    ctx->sid = ws->session_id;
    ctx->cid_len = n;
    ngx_memcpy(ctx->cid, cid ? cid : "", n);
    ctx->cid[n] = '\0';

    argv[0] = (char *) ws->site->name.data;
    lens[0] = ws->site->name.len;
    argv[1] = (char *) limit;
    lens[1] = ngx_sprintf(limit, "%d", NGX_KEFU_QUEUE_LIST) - limit;
    argv[2] = groups;
    lens[2] = ngx_strlen(groups);

    if (ngx_kefu_redis_eval(ws->main_conf->redis, &ngx_kefu_script_queue,
                            ngx_kefu_queue_handler, ctx, 0, 3, argv, lens)
        != NGX_OK)
    {
        ngx_free(ctx);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable", cid);
    }

    free(groups);
}


static void
ngx_kefu_queue_handler(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_queue_ctx_t  *ctx = data;

    json_t         *j;
    const char     *cid;
    ngx_kefu_ws_t  *ws;

    /* the connection may have gone while the read was in flight */
    ws = ngx_kefu_local_session(ngx_kefu_redis_main_conf(rd), ctx->sid);
    cid = ctx->cid_len ? (const char *) ctx->cid : NULL;

    if (ws == NULL) {
        goto done;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable", cid);
        goto done;
    }

    if (cid == NULL) {
        (void) ngx_kefu_ws_send_text(ws, (u_char *) reply->str, reply->len);
        goto done;
    }

    /* the request's cid goes back with the answer */
    j = json_loadb(reply->str, reply->len, 0, NULL);

    if (j == NULL) {
        ngx_kefu_app_error(ws, "internal", "bad queue listing", cid);
        goto done;
    }

    json_object_set_new(j, "cid", json_string(cid));
    (void) ngx_kefu_app_send(ws, j);
    json_decref(j);

done:

    ngx_free(ctx);
}
