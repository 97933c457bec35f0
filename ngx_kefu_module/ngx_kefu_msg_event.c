
/*
 * A message's event with "kefu_redis cluster": msg_slot writes only the
 * conversation's slot, so its event (and the site's other writes: the
 * visitor kept alive, an attachment's reference) follows by event_put in
 * the site's slot: the events of the messages whose replies one pass of
 * the event loop handled wait in the worker's per-pass queue
 * (ngx_kefu_batch.c), which sends one event_put per site (at most
 * NGX_KEFU_EVENT_PUT_MAX messages a call) when the pass's other events
 * are done.  The log is the
 * outbox: a worker that died between the two calls left the site's mark
 * behind, and the conversation's next event_put (a later message, or the
 * resend of the same one, which msg answers as a duplicate) finds it so
 * and puts what is missing, read from the log.  On one Redis msg puts the
 * event itself, in the same step, and nothing here runs.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_batch.h"
#include "ngx_kefu_msg_event.h"


/* a message's event waiting for the end of the event-loop pass */
typedef struct ngx_kefu_msg_event_item_s  ngx_kefu_msg_event_item_t;

struct ngx_kefu_msg_event_item_s {
    ngx_kefu_batch_item_t        batch;      /* next (bytes: none) */
    ngx_uint_t                   tries;      /* event_puts that failed */
    ngx_str_t                    site;
    ngx_kefu_event_put_t         e;
    u_char                       data[];
};

/*
 * per worker (kmcf->msg_events): the pass's events, flushed when posted;
 * those whose event_put failed (the site's master away: a failover, a
 * restart) wait for the retry timer, so that the stream gets them without
 * waiting for each conversation's next message
 */
typedef struct {
    ngx_kefu_batch_t             batch;      /* the pass's */
    ngx_event_t                  retry;
    ngx_kefu_batch_item_t       *again;
    ngx_kefu_batch_item_t      **again_last;
    ngx_uint_t                   again_n;
} ngx_kefu_msg_events_t;

/* a failed event_put tried again every second, for about a minute */
#define NGX_KEFU_MSG_EVENT_RETRY      1000
#define NGX_KEFU_MSG_EVENT_TRIES      60
/* and at most this many events a worker keeps for it */
#define NGX_KEFU_MSG_EVENT_AGAIN_MAX  4096

/* a call in flight: its site, for a heal; its events, for a retry */
typedef struct {
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_batch_item_t       *items;      /* a flush's, linked */
    ngx_uint_t                   heal;       /* this is one: not again */
    ngx_str_t                    site;
    ngx_str_t                    conv;       /* a heal's */
    uint64_t                     mark;
    uint64_t                     upto;
    u_char                       data[];
} ngx_kefu_msg_event_ctx_t;


static void ngx_kefu_msg_events_retry(ngx_event_t *ev);
static void ngx_kefu_msg_events_again(ngx_kefu_msg_events_t *b,
    ngx_kefu_batch_item_t *items);
static ngx_int_t ngx_kefu_msg_event_send(ngx_kefu_main_conf_t *kmcf,
    ngx_str_t *site, ngx_kefu_event_put_t *e, ngx_uint_t n,
    ngx_kefu_msg_event_ctx_t *heal, ngx_kefu_batch_item_t *items);
static void ngx_kefu_msg_event_put_done(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_msg_event_range(ngx_kefu_redis_t *rd,
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


char *
ngx_kefu_msg_entry_tail(json_t *tail, int64_t ts, const char *cid,
    ngx_uint_t priv)
{
    json_t  *t;

    t = json_pack("{s:I}", "ts", (json_int_t) ts);
    if (t == NULL || json_object_update(t, tail) != 0
        || (cid && json_object_set_new(t, "cid", json_string(cid)) != 0)
        || (priv && json_object_set_new(t, "private", json_true()) != 0))
    {
        json_decref(t);
        return NULL;
    }

    return ngx_kefu_msg_tail_dump(t);
}


char *
ngx_kefu_msg_tail_dump(json_t *t)
{
    char  *s;

    /* the order the fields were set in (jansson's own since 2.8) */
    s = t ? json_dumps(t, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(t);

    if (s) {
        /* "{" becomes "," to follow the seq */
        s[0] = ',';
    }

    return s;
}


json_t *
ngx_kefu_msg_tail_load(u_char *tail, size_t len)
{
    json_t  *j;

    if (len < 2 || tail[0] != ',') {
        return NULL;
    }

    /* an object once it starts with "{": parsed where it is, no copy */
    tail[0] = '{';
    j = json_loadb((char *) tail, len, 0, NULL);
    tail[0] = ',';

    return j;
}


/*
 * msg_slot's reply: whether an event follows, and the message's code,
 * conversation and seq
 */

static ngx_int_t
ngx_kefu_msg_event_reply(ngx_kefu_main_conf_t *kmcf, ngx_kefu_msg_args_t *a,
    redisReply *reply, int64_t *code, uint64_t *seq, ngx_str_t *conv)
{
    redisReply  **e;

    if (!ngx_kefu_redis_cluster(kmcf->redis)
        || reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 6)
    {
        return NGX_DECLINED;
    }

    e = reply->element;

    if (e[0]->type != REDIS_REPLY_INTEGER
        || e[1]->type != REDIS_REPLY_STRING
        || e[1]->len == 0 || e[1]->len > NGX_KEFU_MAX_ID_LEN
        || e[2]->type != REDIS_REPLY_INTEGER || e[2]->integer <= 0
        || a->site.len > NGX_KEFU_MAX_ID_LEN)
    {
        return NGX_DECLINED;
    }

    *code = e[0]->integer;
    *seq = (uint64_t) e[2]->integer;
    conv->data = (u_char *) e[1]->str;
    conv->len = e[1]->len;

    /* stored (msg_slot's tenth element: the message before it), or a
     * duplicate: its event may be what a dead worker left out */
    if (!(*code == 0 && reply->elements >= 10
          && e[9]->type == REDIS_REPLY_INTEGER)
        && *code != 1)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the pass is over: one event_put per site, its messages in order */

static ngx_int_t
ngx_kefu_msg_events_fit(ngx_kefu_batch_t *b, ngx_kefu_batch_item_t *first,
    ngx_kefu_batch_item_t *it, ngx_uint_t n, size_t bytes)
{
    ngx_str_t  *site, *other;

    site = &((ngx_kefu_msg_event_item_t *) first)->site;
    other = &((ngx_kefu_msg_event_item_t *) it)->site;

    if (other->len != site->len
        || ngx_memcmp(other->data, site->data, site->len) != 0)
    {
        return NGX_DECLINED;
    }

    return n < NGX_KEFU_EVENT_PUT_MAX ? NGX_OK : NGX_DONE;
}


static void
ngx_kefu_msg_events_call(ngx_kefu_batch_t *b, ngx_kefu_batch_item_t *items,
    ngx_uint_t n)
{
    ngx_uint_t              i;
    ngx_kefu_batch_item_t  *it;
    ngx_kefu_event_put_t    e[NGX_KEFU_EVENT_PUT_MAX];

    for (i = 0, it = items; it; it = it->next) {
        e[i++] = ((ngx_kefu_msg_event_item_t *) it)->e;
    }

    /* sent: the call's ctx has them until its reply */
    if (ngx_kefu_msg_event_send(b->kmcf,
                                &((ngx_kefu_msg_event_item_t *) items)->site,
                                e, n, NULL, items)
        != NGX_OK)
    {
        ngx_kefu_msg_events_again((ngx_kefu_msg_events_t *) b, items);
    }
}


/* the worker's waiting events, made at its first message */

static ngx_kefu_msg_events_t *
ngx_kefu_msg_events_get(ngx_kefu_main_conf_t *kmcf)
{
    ngx_kefu_msg_events_t  *b;

    b = (ngx_kefu_msg_events_t *)
            ngx_kefu_batch_get(kmcf, &kmcf->msg_events,
                               sizeof(ngx_kefu_msg_events_t),
                               ngx_kefu_msg_events_fit,
                               ngx_kefu_msg_events_call);
    if (b == NULL) {
        return NULL;
    }

    if (b->retry.handler == NULL) {
        b->retry.handler = ngx_kefu_msg_events_retry;
        b->retry.data = b;
        b->retry.log = ngx_cycle->log;
        /* what waits is in the conversations' logs: no reason to delay an
         * exit (each conversation's next message puts it, or a heal) */
        b->retry.cancelable = 1;
        b->again_last = &b->again;
    }

    return b;
}


/*
 * the visitor written to, kept alive as msg does on one Redis: the
 * sender, or the one an agent wrote to; NGX_DECLINED: too long to put
 */

static ngx_int_t
ngx_kefu_msg_event_visitor(ngx_kefu_msg_args_t *a, ngx_str_t *visitor)
{
    if (a->visitor_ttl == 0) {
        /* not due for renewal (ngx_kefu_msg_visitor_ttl()) */
        return NGX_OK;

    } else if (a->role.len == sizeof("visitor") - 1
        && ngx_strncmp(a->role.data, "visitor", a->role.len) == 0
        && a->who.len > 2)
    {
        visitor->data = a->who.data + 2;
        visitor->len = a->who.len - 2;

    } else if (a->target.len) {
        *visitor = a->target;
    }

    if (visitor->len > NGX_KEFU_MAX_ID_LEN
        || a->file.len > NGX_KEFU_MAX_ID_LEN)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * the event, copied out of the reply and the call's arguments; prev is
 * the message before it (stored), or the original's seq (a duplicate:
 * nothing new, only whether the mark is behind it)
 */

static ngx_kefu_msg_event_item_t *
ngx_kefu_msg_event_item(ngx_kefu_msg_args_t *a, ngx_str_t *conv,
    ngx_str_t *visitor, int64_t code, uint64_t seq, uint64_t prev)
{
    u_char                     *p;
    size_t                      len;
    ngx_kefu_msg_event_item_t  *it;

    /* the entry's JSON as msg wrote it: head, conv, mid, seq, tail */
    len = a->site.len + conv->len;

    if (code == 0) {
        len += visitor->len + a->file.len + a->event.len
               + a->head.len + conv->len
               + sizeof("\",\"id\":\"\",\"seq\":") - 1 + 2 * NGX_INT64_LEN
               + a->tail.len;
    }

    it = ngx_alloc(sizeof(ngx_kefu_msg_event_item_t) + len, ngx_cycle->log);
    if (it == NULL) {
        return NULL;
    }

    ngx_memzero(&it->e, sizeof(ngx_kefu_event_put_t));
    it->batch.bytes = 0;
    it->tries = 0;

    p = it->data;
    it->site.data = p;
    it->site.len = a->site.len;
    p = ngx_cpymem(p, a->site.data, a->site.len);
    it->e.conv.data = p;
    it->e.conv.len = conv->len;
    p = ngx_cpymem(p, conv->data, conv->len);
    it->e.prev = prev;

    if (code == 1) {
        return it;
    }

    it->e.seq = seq;
    it->e.ts = a->ts;

    /* (none: no copy of a NULL) */
    it->e.visitor.data = p;
    it->e.visitor.len = visitor->len;

    if (visitor->len) {
        p = ngx_cpymem(p, visitor->data, visitor->len);
    }

    it->e.visitor_ttl = a->visitor_ttl;

    it->e.file.data = p;
    it->e.file.len = a->file.len;

    if (a->file.len) {
        p = ngx_cpymem(p, a->file.data, a->file.len);
    }

    if (a->event.len) {
        it->e.name.data = p;
        it->e.name.len = a->event.len;
        p = ngx_cpymem(p, a->event.data, a->event.len);

    } else if (a->private) {
        ngx_str_set(&it->e.name, "note");

    } else {
        ngx_str_set(&it->e.name, "msg");
    }

    it->e.json.data = p;
    it->e.json.len = ngx_snprintf(p, it->data + len - p,
                                  "%V%V\",\"id\":\"%uL\",\"seq\":%uL%V",
                                  &a->head, conv, a->id, seq, &a->tail)
                     - p;

    return it;
}


void
ngx_kefu_msg_event(ngx_kefu_main_conf_t *kmcf, ngx_kefu_msg_args_t *a,
    redisReply *reply)
{
    int64_t                     code;
    uint64_t                    seq, prev;
    ngx_str_t                   conv, visitor;
    ngx_kefu_msg_events_t      *b;
    ngx_kefu_msg_event_item_t  *it;

    if (ngx_kefu_msg_event_reply(kmcf, a, reply, &code, &seq, &conv)
        != NGX_OK)
    {
        return;
    }

    b = ngx_kefu_msg_events_get(kmcf);
    if (b == NULL) {
        return;
    }

    ngx_str_null(&visitor);

    if (code == 0) {
        if (ngx_kefu_msg_event_visitor(a, &visitor) != NGX_OK) {
            return;
        }

        prev = (uint64_t) ngx_max(reply->element[9]->integer, 0);

    } else {
        prev = seq;
    }

    it = ngx_kefu_msg_event_item(a, &conv, &visitor, code, seq, prev);
    if (it == NULL) {
        return;
    }

    /* the messages of this pass go together, one call per site */
    ngx_kefu_batch_add(&b->batch, &it->batch);
}


/* events whose event_put failed: tried again by the timer, for a while */

static void
ngx_kefu_msg_events_again(ngx_kefu_msg_events_t *b,
    ngx_kefu_batch_item_t *items)
{
    ngx_uint_t              dropped;
    ngx_kefu_batch_item_t  *it, *next;

    dropped = 0;

    for (it = items; it; it = next) {
        next = it->next;
        it->next = NULL;

        if (++((ngx_kefu_msg_event_item_t *) it)->tries
            > NGX_KEFU_MSG_EVENT_TRIES
            || b->again_n >= NGX_KEFU_MSG_EVENT_AGAIN_MAX)
        {
            dropped++;
            ngx_free(it);
            continue;
        }

        *b->again_last = it;
        b->again_last = &it->next;
        b->again_n++;
    }

    if (dropped) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: %ui message events could not be put: each "
                      "conversation's next message puts them", dropped);
    }

    if (b->again && !b->retry.timer_set) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "kefu: %ui message events not put yet: tried again "
                      "in %ui ms", b->again_n,
                      (ngx_uint_t) NGX_KEFU_MSG_EVENT_RETRY);
        ngx_add_timer(&b->retry, NGX_KEFU_MSG_EVENT_RETRY);
    }
}


/* the retry timer: the events waiting go first, before the pass's own */

static void
ngx_kefu_msg_events_retry(ngx_event_t *ev)
{
    ngx_kefu_msg_events_t  *b = ev->data;

    ngx_kefu_batch_item_t  *again;

    if (b->again == NULL) {
        return;
    }

    again = b->again;
    b->again = NULL;
    b->again_last = &b->again;
    b->again_n = 0;

    ngx_kefu_batch_flush(&b->batch, again);
}


void
ngx_kefu_msg_events_exit(ngx_kefu_main_conf_t *kmcf)
{
    ngx_kefu_msg_events_t  *b;

    b = kmcf->msg_events;

    if (b == NULL) {
        return;
    }

    if (b->retry.timer_set) {
        ngx_del_timer(&b->retry);
    }

    /* those of the timer first, as it would have sent them */
    if (b->again) {
        *b->again_last = b->batch.head;
        b->batch.head = b->again;
        b->batch.pending += b->again_n;
        b->again = NULL;
    }

    ngx_kefu_batch_exit(&kmcf->msg_events, NULL, NGX_LOG_NOTICE,
                        "message events not put at exit: each "
                        "conversation's next message puts them");
}


/* one event_put; heal: the ctx of the heal it is (its site and conv) */

static ngx_int_t
ngx_kefu_msg_event_send(ngx_kefu_main_conf_t *kmcf, ngx_str_t *site,
    ngx_kefu_event_put_t *e, ngx_uint_t n, ngx_kefu_msg_event_ctx_t *heal,
    ngx_kefu_batch_item_t *items)
{
    ngx_int_t                   rc;
    ngx_kefu_msg_event_ctx_t   *ctx;
    ngx_kefu_event_put_call_t  *call;

    ctx = heal;

    if (ctx == NULL) {
        ctx = ngx_alloc(sizeof(ngx_kefu_msg_event_ctx_t) + site->len,
                        ngx_cycle->log);
        if (ctx == NULL) {
            return NGX_ERROR;
        }

        ctx->kmcf = kmcf;
        ctx->items = items;
        ctx->heal = 0;
        ctx->site.data = ctx->data;
        ctx->site.len = site->len;
        ngx_memcpy(ctx->data, site->data, site->len);
        ngx_str_null(&ctx->conv);
    }

    call = ngx_alloc(sizeof(ngx_kefu_event_put_call_t), ngx_cycle->log);

    rc = NGX_ERROR;

    if (call && ngx_kefu_event_put_args(call, &ctx->site, e, n) == NGX_OK) {
        /* writes that follow the messages', like the search index's */
        rc = ngx_kefu_redis_eval_follow(kmcf->redis,
                                        &ngx_kefu_script_event_put,
                                        ngx_kefu_msg_event_put_done, ctx,
                                        call->nkeys, call->argc, call->argv,
                                        call->lens);
    }

    if (call) {
        ngx_free(call);
    }

    if (rc != NGX_OK && heal == NULL) {
        ngx_free(ctx);
    }

    return rc;
}


/* event_put's reply: the conversations whose mark is behind are healed */

static void
ngx_kefu_msg_event_put_done(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_msg_event_ctx_t  *ctx = data;

    size_t                     i;
    uint64_t                   mark, upto;
    redisReply               **e;
    ngx_kefu_call_t            call;
    ngx_kefu_msg_event_ctx_t  *h;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: message events of site \"%V\" were not "
                      "put%s%s", &ctx->site,
                      reply && reply->type == REDIS_REPLY_ERROR ? ": " : "",
                      reply && reply->type == REDIS_REPLY_ERROR
                      ? reply->str : "");

        if (ctx->items) {
            ngx_kefu_msg_events_again(ctx->kmcf->msg_events, ctx->items);
        }

        ngx_free(ctx);
        return;
    }

    ngx_kefu_batch_free(ctx->items);

    e = reply->element;

    /* a heal that finds the mark behind again (a race) stops there */
    for (i = 0; !ctx->heal && i + 2 < reply->elements; i += 3) {
        if (e[i]->type != REDIS_REPLY_STRING || e[i]->len == 0
            || e[i]->len > NGX_KEFU_MAX_ID_LEN
            || e[i + 1]->type != REDIS_REPLY_STRING
            || e[i + 2]->type != REDIS_REPLY_STRING)
        {
            continue;
        }

        mark = (uint64_t) ngx_atoof((u_char *) e[i + 1]->str,
                                    e[i + 1]->len);
        upto = (uint64_t) ngx_atoof((u_char *) e[i + 2]->str,
                                    e[i + 2]->len);

        if ((off_t) mark < 0 || (off_t) upto <= 0) {
            continue;
        }

        h = ngx_alloc(sizeof(ngx_kefu_msg_event_ctx_t) + ctx->site.len
                      + e[i]->len, ngx_cycle->log);
        if (h == NULL) {
            continue;
        }

        h->kmcf = ctx->kmcf;
        h->items = NULL;
        h->heal = 1;
        h->site.data = h->data;
        h->site.len = ctx->site.len;
        h->conv.data = ngx_cpymem(h->data, ctx->site.data, ctx->site.len);
        h->conv.len = e[i]->len;
        ngx_memcpy(h->conv.data, e[i]->str, e[i]->len);
        h->mark = mark;
        h->upto = upto;

        if (ngx_kefu_ev_range_args(&call, &h->conv, mark, upto,
                                   NGX_KEFU_EVENT_PUT_MAX) != NGX_OK
            || ngx_kefu_redis_follow_call(rd, &ngx_kefu_script_ev_range,
                                          ngx_kefu_msg_event_range, h, &call)
               != NGX_OK)
        {
            ngx_free(h);
        }
    }

    ngx_free(ctx);
}


/* the log's entries above the mark: put, after the mark, in seq order */

static void
ngx_kefu_msg_event_range(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_msg_event_ctx_t  *ctx = data;

    size_t                  i, n;
    uint64_t                prev;
    redisReply            **e;
    ngx_kefu_event_put_t    entries[NGX_KEFU_EVENT_PUT_MAX];

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements % 4 != 0)
    {
        ngx_free(ctx);
        return;
    }

    n = 0;
    e = reply->element;
    prev = ctx->mark;

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

        ngx_memzero(&entries[n], sizeof(ngx_kefu_event_put_t));
        entries[n].conv = ctx->conv;
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

        /* each after the one before it, the first after the mark */
        entries[n].prev = prev;
        prev = entries[n].seq;
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

    if (ngx_kefu_msg_event_send(ctx->kmcf, &ctx->site, entries, n, ctx, NULL)
        != NGX_OK)
    {
        ngx_free(ctx);
    }
}
