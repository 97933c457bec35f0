
/*
 * The agents' view of the queues (contract v2, "Agents' view").
 *
 * An agent's connection listens to kefu:{s:<site>}:g:<group> of each of its
 * groups: the routing scripts publish there a "conv" notice (reason
 * "queue", "queued" true or false) whenever a conversation enters or
 * leaves that group's queue (r_flush() in lua/lib/route.lua).  The
 * "queue" message reads the queues of the agent's groups now, so that a
 * console starts from the full list and follows the notices from there:
 * each group's queue in the site's slot (lua/queue.lua), each listed
 * conversation in its own (lua/queue_item.lua), then each queued one's
 * entry with its visitor in the site's (lua/queue_entry.lua); every step's
 * calls pipelined, so three round trips whatever the length.  The bot
 * conversations of the same groups (kefu:{s:<site>}:b:<group>, state bot,
 * lua/lib/bot.lua) are listed the same way, in "bots".
 */


#include "ngx_kefu_chat.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_app.h"


/* conversations listed per group; the rest are counted in "more" */
#define NGX_KEFU_QUEUE_LIST  100


/* a "queue" request's steps, in a pool of their own */
typedef struct {
    ngx_pool_t                  *pool;
    uint64_t                     sid;
    size_t                       cid_len;
    u_char                       cid[65];
    ngx_str_t                    site;
    ngx_str_t                   *groups;
    ngx_uint_t                   ngroups;
    int64_t                      more;
    int64_t                      bots_more;
    ngx_kefu_queue_entry_t      *items;
    ngx_uint_t                   nitems;
    ngx_kefu_queue_entry_t     **kept;     /* the items still there */
} ngx_kefu_queue_ctx_t;


static ngx_kefu_queue_ctx_t *ngx_kefu_queue_ctx(ngx_kefu_ws_t *ws,
    const char *cid, size_t n, json_t *groups);
static void ngx_kefu_queue_next(ngx_kefu_redis_t *rd,
    ngx_kefu_queue_ctx_t *ctx, ngx_kefu_script_t *s, ngx_uint_t n,
    ngx_kefu_gather_args_pt args, ngx_kefu_redis_handler_pt h);
static ngx_int_t ngx_kefu_queue_list_args(ngx_kefu_call_t *call,
    ngx_uint_t i, void *data);
static ngx_int_t ngx_kefu_queue_item_call(ngx_kefu_call_t *call,
    ngx_uint_t i, void *data);
static ngx_int_t ngx_kefu_queue_entry_call(ngx_kefu_call_t *call,
    ngx_uint_t i, void *data);
static void ngx_kefu_queue_listed(ngx_kefu_redis_t *rd, redisReply *rows,
    void *data);
static void ngx_kefu_queue_items(ngx_kefu_redis_t *rd, redisReply *rows,
    void *data);
static void ngx_kefu_queue_entries(ngx_kefu_redis_t *rd, redisReply *rows,
    void *data);
static void ngx_kefu_queue_answer(ngx_kefu_redis_t *rd,
    ngx_kefu_queue_ctx_t *ctx, redisReply *entries);
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

    if (ngx_kefu_agent_groups(ws, &groups) != NGX_OK) {
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
    char                  *groups;
    size_t                 n;
    json_t                *a;
    const char            *cid;
    ngx_kefu_queue_ctx_t  *ctx;

    /* agents and admins only, cid at most 64 bytes: ngx_kefu_validate() */
    cid = req->cid;
    n = cid ? ngx_strlen(cid) : 0;

    if (ws->main_conf->redis == NULL) {
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable", cid);
        return;
    }

    if (ngx_kefu_agent_groups(ws, &groups) != NGX_OK) {
        ngx_kefu_app_error(ws, "internal", "out of memory", cid);
        return;
    }

    a = json_loads(groups, 0, NULL);
    free(groups);

    ctx = (a && json_is_array(a)) ? ngx_kefu_queue_ctx(ws, cid, n, a) : NULL;

    if (a) {
        json_decref(a);
    }

    if (ctx == NULL) {
        ngx_kefu_app_error(ws, "internal", "out of memory", cid);
        return;
    }

    if (ctx->ngroups == 0) {
        ngx_kefu_queue_answer(ws->main_conf->redis, ctx, NULL);
        return;
    }

    /* each group twice: its queue, then its bot conversations */
    if (ngx_kefu_redis_gather_each(ws->main_conf->redis,
                                   &ngx_kefu_script_queue, 2 * ctx->ngroups,
                                   ngx_kefu_queue_list_args, ctx, 0,
                                   ngx_kefu_queue_listed, ctx)
        != NGX_OK)
    {
        ngx_destroy_pool(ctx->pool);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable", cid);
    }
}


/* the request's context, in a pool of its own: its groups copied from the
 * agent's (a JSON array); NULL when out of memory */

static ngx_kefu_queue_ctx_t *
ngx_kefu_queue_ctx(ngx_kefu_ws_t *ws, const char *cid, size_t n,
    json_t *groups)
{
    size_t                 i;
    json_t                *g;
    ngx_str_t              s;
    ngx_pool_t            *pool;
    ngx_kefu_queue_ctx_t  *ctx;

    pool = ngx_create_pool(4096, ws->connection->log);
    if (pool == NULL) {
        return NULL;
    }

    ctx = ngx_pcalloc(pool, sizeof(ngx_kefu_queue_ctx_t));
    if (ctx == NULL) {
        goto nomem;
    }

    ctx->pool = pool;
    ctx->sid = ws->session_id;
    ctx->cid_len = n;
    ngx_memcpy(ctx->cid, cid ? cid : "", n);
    ctx->cid[n] = '\0';

    ctx->site.len = ws->site->name.len;
    ctx->site.data = ngx_pstrdup(pool, &ws->site->name);
    ctx->groups = ngx_palloc(pool, (json_array_size(groups) + 1)
                                   * sizeof(ngx_str_t));

    if (ctx->site.data == NULL || ctx->groups == NULL) {
        goto nomem;
    }

    json_array_foreach(groups, i, g) {
        if (!json_is_string(g)) {
            continue;
        }

        s.data = (u_char *) json_string_value(g);
        s.len = json_string_length(g);

        ctx->groups[ctx->ngroups].len = s.len;
        ctx->groups[ctx->ngroups].data = ngx_pstrdup(pool, &s);

        if (ctx->groups[ctx->ngroups].data == NULL) {
            goto nomem;
        }

        ctx->ngroups++;
    }

    return ctx;

nomem:

    ngx_destroy_pool(pool);

    return NULL;
}


static ngx_int_t
ngx_kefu_queue_list_args(ngx_kefu_call_t *call, ngx_uint_t i, void *data)
{
    ngx_kefu_queue_ctx_t  *ctx = data;

    return ngx_kefu_queue_args(call, &ctx->site, &ctx->groups[i / 2],
                               NGX_KEFU_QUEUE_LIST, i % 2);
}


/* each group's first conversations: each read in its own slot */

static void
ngx_kefu_queue_listed(ngx_kefu_redis_t *rd, redisReply *rows, void *data)
{
    ngx_kefu_queue_ctx_t  *ctx = data;

    size_t                   i, k, n;
    ngx_str_t                s;
    redisReply              *r;
    ngx_kefu_queue_entry_t  *e;

    if (rows == NULL || rows->type != REDIS_REPLY_ARRAY
        || rows->elements != 2 * ctx->ngroups)
    {
        ngx_kefu_queue_handler(rd, NULL, ctx);
        return;
    }

    n = 0;

    for (i = 0; i < rows->elements; i++) {
        r = rows->element[i];

        if (r->type != REDIS_REPLY_ARRAY || r->elements < 1
            || r->element[0]->type != REDIS_REPLY_INTEGER
            || (r->elements - 1) % 2)
        {
            ngx_kefu_queue_handler(rd, NULL, ctx);
            return;
        }

        if (i % 2) {
            ctx->bots_more += r->element[0]->integer;

        } else {
            ctx->more += r->element[0]->integer;
        }

        n += (r->elements - 1) / 2;
    }

    if (n == 0) {
        ngx_kefu_queue_answer(rd, ctx, NULL);
        return;
    }

    ctx->items = ngx_pcalloc(ctx->pool, n * sizeof(ngx_kefu_queue_entry_t));
    if (ctx->items == NULL) {
        ngx_kefu_queue_handler(rd, NULL, ctx);
        return;
    }

    for (i = 0; i < rows->elements; i++) {
        r = rows->element[i];

        for (k = 1; k + 1 < r->elements; k += 2) {
            e = &ctx->items[ctx->nitems];

            e->site = ctx->site;
            e->group = ctx->groups[i / 2];
            e->bot = i % 2;
            e->position = (k - 1) / 2 + 1;

            s.data = (u_char *) r->element[k]->str;
            s.len = r->element[k]->len;
            e->conv.len = s.len;
            e->conv.data = ngx_pstrdup(ctx->pool, &s);

            s.data = (u_char *) r->element[k + 1]->str;
            s.len = r->element[k + 1]->len;
            e->since.len = s.len;
            e->since.data = ngx_pstrdup(ctx->pool, &s);

            if (r->element[k]->type != REDIS_REPLY_STRING
                || r->element[k + 1]->type != REDIS_REPLY_STRING
                || e->conv.data == NULL || e->since.data == NULL)
            {
                ngx_kefu_queue_handler(rd, NULL, ctx);
                return;
            }

            ctx->nitems++;
        }
    }

    ngx_kefu_queue_next(rd, ctx, &ngx_kefu_script_queue_item, n,
                        ngx_kefu_queue_item_call, ngx_kefu_queue_items);
}


static ngx_int_t
ngx_kefu_queue_item_call(ngx_kefu_call_t *call, ngx_uint_t i, void *data)
{
    ngx_kefu_queue_ctx_t  *ctx = data;

    return ngx_kefu_queue_item_args(call, &ctx->items[i].conv);
}


/*
 * those still queued (still in bot, for the bot list): their entries, with
 * their visitors (site's slot)
 */

static void
ngx_kefu_queue_items(ngx_kefu_redis_t *rd, redisReply *rows, void *data)
{
    ngx_kefu_queue_ctx_t  *ctx = data;

    size_t                   i, k, n;
    ngx_str_t                s, *f[4];
    redisReply              *r;
    ngx_kefu_queue_entry_t  *e;

    if (rows == NULL || rows->type != REDIS_REPLY_ARRAY
        || rows->elements != ctx->nitems)
    {
        ngx_kefu_queue_handler(rd, NULL, ctx);
        return;
    }

    ctx->kept = ngx_palloc(ctx->pool,
                           ctx->nitems * sizeof(ngx_kefu_queue_entry_t *));
    if (ctx->kept == NULL) {
        ngx_kefu_queue_handler(rd, NULL, ctx);
        return;
    }

    n = 0;

    for (i = 0; i < rows->elements; i++) {
        r = rows->element[i];

        e = &ctx->items[i];

        if (r->type != REDIS_REPLY_ARRAY || r->elements != 5
            || (e->bot ? (r->element[0]->len != 3
                          || ngx_strncmp(r->element[0]->str, "bot", 3) != 0)
                       : (r->element[0]->len != 6
                          || ngx_strncmp(r->element[0]->str, "queued", 6)
                             != 0)))
        {
            e->bot = 2;   /* left out */
            continue;
        }

        f[0] = &e->visitor;
        f[1] = &e->offline;
        f[2] = &e->last;
        f[3] = &e->labels;

        for (k = 0; k < 4; k++) {
            s.data = (u_char *) r->element[k + 1]->str;
            s.len = r->element[k + 1]->len;
            f[k]->len = s.len;
            f[k]->data = s.len ? ngx_pstrdup(ctx->pool, &s) : (u_char *) "";

            if (f[k]->data == NULL) {
                ngx_kefu_queue_handler(rd, NULL, ctx);
                return;
            }
        }

        ctx->kept[n++] = e;
    }

    if (n == 0) {
        ngx_kefu_queue_answer(rd, ctx, NULL);
        return;
    }

    ngx_kefu_queue_next(rd, ctx, &ngx_kefu_script_queue_entry, n,
                        ngx_kefu_queue_entry_call, ngx_kefu_queue_entries);
}


/* the request's next step: a script per item, gathered into one reply;
 * one that cannot go is answered "unavailable" */

static void
ngx_kefu_queue_next(ngx_kefu_redis_t *rd, ngx_kefu_queue_ctx_t *ctx,
    ngx_kefu_script_t *s, ngx_uint_t n, ngx_kefu_gather_args_pt args,
    ngx_kefu_redis_handler_pt h)
{
    if (ngx_kefu_redis_gather_each(rd, s, n, args, ctx, 0, h, ctx) != NGX_OK) {
        ngx_kefu_queue_handler(rd, NULL, ctx);
    }
}


static ngx_int_t
ngx_kefu_queue_entry_call(ngx_kefu_call_t *call, ngx_uint_t i, void *data)
{
    ngx_kefu_queue_ctx_t  *ctx = data;

    return ngx_kefu_queue_entry_args(call, ctx->kept[i]);
}


static void
ngx_kefu_queue_entries(ngx_kefu_redis_t *rd, redisReply *rows, void *data)
{
    ngx_kefu_queue_ctx_t  *ctx = data;

    if (rows == NULL || rows->type != REDIS_REPLY_ARRAY) {
        ngx_kefu_queue_handler(rd, NULL, ctx);
        return;
    }

    ngx_kefu_queue_answer(rd, ctx, rows);
}


/*
 * {"type":"queue","convs":[entry, ...],"more":N,"bots":[entry, ...],
 * "bots_more":N}: the entries as written, each in its list
 */

static void
ngx_kefu_queue_answer(ngx_kefu_redis_t *rd, ngx_kefu_queue_ctx_t *ctx,
    redisReply *entries)
{
    u_char      *p;
    size_t       i, k, len;
    ngx_uint_t   bot, first;
    redisReply   answer;

    len = sizeof("{\"type\":\"queue\",\"convs\":[],\"more\":,"
                 "\"bots\":[],\"bots_more\":}") + 2 * NGX_INT64_LEN;

    for (i = 0; entries && i < entries->elements; i++) {
        if (entries->element[i]->type != REDIS_REPLY_STRING) {
            ngx_kefu_queue_handler(rd, NULL, ctx);
            return;
        }

        len += entries->element[i]->len + 1;
    }

    p = ngx_pnalloc(ctx->pool, len);
    if (p == NULL) {
        ngx_kefu_queue_handler(rd, NULL, ctx);
        return;
    }

    ngx_memzero(&answer, sizeof(redisReply));
    answer.type = REDIS_REPLY_STRING;
    answer.str = (char *) p;

    p = ngx_cpymem(p, "{\"type\":\"queue\",\"convs\":[",
                   sizeof("{\"type\":\"queue\",\"convs\":[") - 1);

    /* the entries follow the items that were still there, in order */
    for (bot = 0; bot < 2; bot++) {
        if (bot) {
            p = ngx_sprintf(p, "],\"more\":%L,\"bots\":[", ctx->more);
        }

        first = 1;
        k = 0;

        for (i = 0; entries && i < ctx->nitems && k < entries->elements;
             i++)
        {
            if (ctx->items[i].bot == 2) {
                continue;
            }

            if (ctx->items[i].bot == bot) {
                if (!first) {
                    *p++ = ',';
                }

                first = 0;
                p = ngx_cpymem(p, entries->element[k]->str,
                               entries->element[k]->len);
            }

            k++;
        }
    }

    p = ngx_sprintf(p, "],\"bots_more\":%L}", ctx->bots_more);
    answer.len = p - (u_char *) answer.str;

    ngx_kefu_queue_handler(rd, &answer, ctx);
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

    ngx_destroy_pool(ctx->pool);
}
