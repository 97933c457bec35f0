
/*
 * A message's event with "kefu_redis cluster": msg_slot writes only the
 * conversation's slot, so its event (and the site's other writes: the
 * visitor kept alive, an attachment's reference) follows by event_put in
 * the site's slot, sent as soon as msg's reply is here.  The log is the
 * outbox: a worker that died between the two calls left the site's mark
 * behind, and the conversation's next event_put (a later message, or the
 * resend of the same one, which msg answers as a duplicate) finds it so
 * and puts what is missing, read from the log.  On one Redis msg puts the
 * event itself, in the same step, and nothing here runs.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_msg_event.h"


typedef struct {
    ngx_kefu_main_conf_t        *kmcf;
    uint64_t                     upto;       /* the seq the call was for */
    uint64_t                     mark;       /* the site's, when behind */
    ngx_str_t                    site;
    ngx_str_t                    conv;
    u_char                       data[];
} ngx_kefu_msg_event_ctx_t;


static ngx_int_t ngx_kefu_msg_event_send(ngx_kefu_msg_event_ctx_t *ctx,
    ngx_kefu_event_put_t *p, ngx_kefu_redis_handler_pt h);
static void ngx_kefu_msg_event_put_done(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_msg_event_range(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_msg_event_healed(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);


void
ngx_kefu_msg_eval_args(ngx_kefu_main_conf_t *kmcf, ngx_kefu_msg_args_t *a,
    ngx_kefu_msg_argv_t *call, ngx_kefu_msg_eval_t *e)
{
    int  i;

    if (!ngx_kefu_redis_cluster(kmcf->redis)) {
        /* one Redis holds every slot: no keys, the event in the step */
        e->script = &ngx_kefu_script_msg;
        e->nkeys = 0;
        e->argc = call->argc;
        e->argv = call->argv + 1;
        e->lens = call->lens + 1;
        return;
    }

    /* routed by the conversation: KEYS[1], then msg's ARGV */
    e->script = &ngx_kefu_script_msg_slot;
    e->kv[0] = (const char *) e->key;
    e->kl[0] = ngx_snprintf(e->key, sizeof(e->key), "kefu:{c:%V}", &a->conv)
               - e->key;

    for (i = 1; i <= call->argc; i++) {
        e->kv[i] = call->argv[i];
        e->kl[i] = call->lens[i];
    }

    e->nkeys = 1;
    e->argc = call->argc + 1;
    e->argv = e->kv;
    e->lens = e->kl;
}


void
ngx_kefu_msg_event(ngx_kefu_main_conf_t *kmcf, ngx_kefu_msg_args_t *a,
    redisReply *reply)
{
    u_char                    *p;
    size_t                     len;
    int64_t                    code;
    uint64_t                   seq;
    ngx_str_t                  conv;
    redisReply               **e;
    ngx_kefu_event_put_t       put;
    ngx_kefu_event_entry_t     entry;
    ngx_kefu_msg_event_ctx_t  *ctx;

    if (!ngx_kefu_redis_cluster(kmcf->redis)
        || reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 6)
    {
        return;
    }

    e = reply->element;

    if (e[0]->type != REDIS_REPLY_INTEGER
        || e[1]->type != REDIS_REPLY_STRING
        || e[1]->len == 0 || e[1]->len > NGX_KEFU_MAX_ID_LEN
        || e[2]->type != REDIS_REPLY_INTEGER || e[2]->integer <= 0)
    {
        return;
    }

    code = e[0]->integer;
    seq = (uint64_t) e[2]->integer;
    conv.data = (u_char *) e[1]->str;
    conv.len = e[1]->len;

    /* stored (msg_slot's tenth element: the message before it), or a
     * duplicate: its event may be what a dead worker left out */
    if (!(code == 0 && reply->elements >= 10
          && e[9]->type == REDIS_REPLY_INTEGER)
        && code != 1)
    {
        return;
    }

    ctx = ngx_alloc(sizeof(ngx_kefu_msg_event_ctx_t) + a->site.len
                    + conv.len, ngx_cycle->log);
    if (ctx == NULL) {
        return;
    }

    ctx->kmcf = kmcf;
    ctx->upto = seq;
    ctx->mark = 0;
    ctx->site.data = ctx->data;
    ctx->site.len = a->site.len;
    ctx->conv.data = ngx_cpymem(ctx->data, a->site.data, a->site.len);
    ctx->conv.len = conv.len;
    ngx_memcpy(ctx->conv.data, conv.data, conv.len);

    ngx_memzero(&put, sizeof(ngx_kefu_event_put_t));
    put.site = ctx->site;
    put.conv = ctx->conv;

    if (code == 1) {
        /* nothing new: only whether the mark is behind the original */
        put.prev = seq;

        if (ngx_kefu_msg_event_send(ctx, &put, ngx_kefu_msg_event_put_done)
            != NGX_OK)
        {
            ngx_free(ctx);
        }

        return;
    }

    put.prev = (uint64_t) ngx_max(e[9]->integer, 0);

    /* the visitor written to is kept alive, as msg does on one Redis */
    if (a->role.len == sizeof("visitor") - 1
        && ngx_strncmp(a->role.data, "visitor", a->role.len) == 0
        && a->who.len > 2)
    {
        put.visitor.data = a->who.data + 2;
        put.visitor.len = a->who.len - 2;

    } else if (a->target.len) {
        put.visitor = a->target;
    }

    put.visitor_ttl = a->visitor_ttl;
    put.file = a->file;

    /* the entry's JSON as msg wrote it: head, conv, mid, seq, tail */
    len = a->head.len + conv.len + sizeof("\",\"id\":\"\",\"seq\":") - 1
          + 2 * NGX_INT64_LEN + a->tail.len;

    p = ngx_alloc(len, ngx_cycle->log);
    if (p == NULL) {
        ngx_free(ctx);
        return;
    }

    entry.seq = seq;
    entry.ts = a->ts;
    entry.json.data = p;
    entry.json.len = ngx_snprintf(p, len, "%V%V\",\"id\":\"%uL\",\"seq\":%uL%V",
                                  &a->head, &conv, a->id, seq, &a->tail)
                     - p;

    if (a->event.len) {
        entry.name = a->event;

    } else if (a->private) {
        ngx_str_set(&entry.name, "note");

    } else {
        ngx_str_set(&entry.name, "msg");
    }

    put.n = 1;
    put.e = &entry;

    if (ngx_kefu_msg_event_send(ctx, &put, ngx_kefu_msg_event_put_done)
        != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: a message's event could not be sent: the "
                      "conversation's next message puts it");
        ngx_free(ctx);
    }

    ngx_free(p);
}


static ngx_int_t
ngx_kefu_msg_event_send(ngx_kefu_msg_event_ctx_t *ctx,
    ngx_kefu_event_put_t *p, ngx_kefu_redis_handler_pt h)
{
    ngx_kefu_event_put_call_t  call;

    if (ngx_kefu_event_put_args(&call, p) != NGX_OK) {
        return NGX_ERROR;
    }

    /* a write that follows the message's, like the search index's */
    return ngx_kefu_redis_eval_follow(ctx->kmcf->redis,
                                      &ngx_kefu_script_event_put, h, ctx,
                                      call.nkeys, call.argc, call.argv,
                                      call.lens);
}


/* event_put's reply: done, or the mark is behind and the log is read */

static void
ngx_kefu_msg_event_put_done(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_msg_event_ctx_t  *ctx = data;

    ngx_kefu_call_t  call;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_INTEGER)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: a message's event of conversation \"%V\" was "
                      "not put%s%s: its next message puts it", &ctx->conv,
                      reply && reply->type == REDIS_REPLY_ERROR ? ": " : "",
                      reply && reply->type == REDIS_REPLY_ERROR
                      ? reply->str : "");
        ngx_free(ctx);
        return;
    }

    if (reply->element[0]->integer != 2) {
        ngx_free(ctx);
        return;
    }

    ctx->mark = (uint64_t) ngx_max(reply->element[1]->integer, 0);

    if (ngx_kefu_ev_range_args(&call, &ctx->conv, ctx->mark, ctx->upto,
                               NGX_KEFU_EVENT_PUT_MAX) != NGX_OK
        || ngx_kefu_redis_eval_follow(rd, &ngx_kefu_script_ev_range,
                                      ngx_kefu_msg_event_range, ctx,
                                      call.nkeys, call.argc, call.argv,
                                      call.lens)
           != NGX_OK)
    {
        ngx_free(ctx);
    }
}


/* the log's entries above the mark: put, after the mark */

static void
ngx_kefu_msg_event_range(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_msg_event_ctx_t  *ctx = data;

    size_t                   i, n;
    redisReply             **e;
    ngx_kefu_event_put_t     put;
    ngx_kefu_event_entry_t   entries[NGX_KEFU_EVENT_PUT_MAX];

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements % 4 != 0)
    {
        ngx_free(ctx);
        return;
    }

    n = 0;
    e = reply->element;

    for (i = 0; i + 3 < reply->elements && n < NGX_KEFU_EVENT_PUT_MAX;
         i += 4)
    {
        if (e[i]->type != REDIS_REPLY_STRING
            || e[i + 1]->type != REDIS_REPLY_STRING
            || e[i + 2]->type != REDIS_REPLY_STRING
            || e[i + 3]->type != REDIS_REPLY_STRING)
        {
            continue;
        }

        entries[n].seq = (uint64_t) ngx_atoof((u_char *) e[i]->str,
                                              e[i]->len);
        entries[n].name.data = (u_char *) e[i + 1]->str;
        entries[n].name.len = e[i + 1]->len;
        entries[n].ts = ngx_atoof((u_char *) e[i + 2]->str, e[i + 2]->len);
        entries[n].json.data = (u_char *) e[i + 3]->str;
        entries[n].json.len = e[i + 3]->len;

        if ((off_t) entries[n].seq <= 0 || entries[n].ts < 0) {
            continue;
        }

        n++;
    }

    if (n == 0) {
        ngx_free(ctx);
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                  "kefu: conversation \"%V\": %uz message events after "
                  "seq %uL put again from its log (a worker died between "
                  "msg and event_put)", &ctx->conv, n, ctx->mark);

    ngx_memzero(&put, sizeof(ngx_kefu_event_put_t));
    put.site = ctx->site;
    put.conv = ctx->conv;
    put.prev = ctx->mark;
    put.n = n;
    put.e = entries;

    if (ngx_kefu_msg_event_send(ctx, &put, ngx_kefu_msg_event_healed)
        != NGX_OK)
    {
        ngx_free(ctx);
    }
}


static void
ngx_kefu_msg_event_healed(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_msg_event_ctx_t  *ctx = data;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: the events of conversation \"%V\" read from "
                      "its log were not put: its next message does it",
                      &ctx->conv);
    }

    ngx_free(ctx);
}
