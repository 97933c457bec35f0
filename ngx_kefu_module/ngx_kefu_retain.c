
/*
 * Retention (docs/storage.md, "Bounds and retention"): how long what the
 * module writes to Redis is kept.  Closed conversations expire after the
 * site's retention (kefu_site retention=, kefu_retention); visitors'
 * records after a period without a hello or a message (a site's
 * retention for visitors of the shop's tokens, anonymous_retention= for
 * anonymous ones).
 */


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"


/* conversations looked at per site and run */
#define NGX_KEFU_RETAIN_BATCH  500


/* one site's sweep, from the index read to the drop */
typedef struct {
    ngx_pool_t                  *pool;
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_site_t             *site;
    redisReply                  *index;      /* the batch, copied */
    ngx_str_t                   *gone;       /* of the index: to drop */
    size_t                       ngone;
    int64_t                      trimmed;
    int64_t                      removed;
    ngx_uint_t                   more;
} ngx_kefu_retain_t;


static void ngx_kefu_retain_handler(ngx_event_t *ev);
static void ngx_kefu_retain_swept(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_retain_checked(ngx_kefu_redis_t *rd, redisReply *rows,
    void *data);
static ngx_int_t ngx_kefu_retain_drop(ngx_kefu_call_t *call, ngx_uint_t i,
    void *data);
static void ngx_kefu_retain_dropped(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_retain_finish(ngx_kefu_retain_t *rt);


/* a resend must find its original, but never after its conversation went */

time_t
ngx_kefu_dedup_seconds(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site)
{
    ngx_msec_t  ms;

    ms = ngx_min(kmcf->dedup_ttl, site->retention);

    return (time_t) ngx_max(ms / 1000, 1);
}


time_t
ngx_kefu_visitor_seconds(ngx_kefu_site_t *site, ngx_uint_t anonymous)
{
    return (time_t) ((anonymous ? site->anonymous_retention : site->retention)
                     / 1000);
}


/*
 * The sweep of the site-level indexes (lua/retain_sweep.lua): every worker
 * has a timer, a tenth of the shortest retention (1s to 60s); one worker
 * of all hosts takes each interval's turn by a lease in Redis, and one
 * whose batch was full runs again at once (100 ms) until it is done.
 */

ngx_int_t
ngx_kefu_retain_init(ngx_cycle_t *cycle)
{
    ngx_uint_t             i;
    ngx_msec_t             t;
    ngx_event_t           *ev;
    ngx_kefu_site_t       *site;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);

    if (kmcf == NULL || kmcf->redis == NULL || kmcf->sites.nelts == 0) {
        return NGX_OK;
    }

    t = 60000;
    site = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        t = ngx_min(t, site[i].retention / 10);
    }

    kmcf->retain_interval = ngx_max(t, 1000);

    ev = ngx_kefu_chore(cycle, ngx_kefu_retain_handler, kmcf, kmcf->retain_interval);
    if (ev == NULL) {
        return NGX_ERROR;
    }

    kmcf->retain_event = ev;

    return NGX_OK;
}


/*
 * A worker's periodic chore (the leased sweeps: retention here, idle and
 * bot conversations): its timer, first due after interval, cancelable so
 * that it never holds a worker that is shutting down.
 */

ngx_event_t *
ngx_kefu_chore(ngx_cycle_t *cycle, ngx_event_handler_pt handler, void *data,
    ngx_msec_t interval)
{
    ngx_event_t  *ev;

    ev = ngx_pcalloc(cycle->pool, sizeof(ngx_event_t));
    if (ev == NULL) {
        return NULL;
    }

    ev->handler = handler;
    ev->data = data;
    ev->log = cycle->log;
    ev->cancelable = 1;

    ngx_add_timer(ev, interval);

    return ev;
}


static void
ngx_kefu_retain_handler(ngx_event_t *ev)
{
    ngx_kefu_main_conf_t *kmcf = ev->data;

    ngx_uint_t          i;
    ngx_pool_t         *pool;
    ngx_kefu_site_t    *s;
    ngx_kefu_call_t     call;
    ngx_kefu_retain_t  *rt;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(ev, kmcf->retain_interval);

    if (!ngx_kefu_redis_ready(kmcf->redis)) {
        return;
    }

    s = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        if (ngx_kefu_retain_sweep_args(&call, &s[i].name, ngx_kefu_now_ms(),
                                       s[i].retention, NGX_KEFU_RETAIN_BATCH,
                                       kmcf->retain_interval
                                       - kmcf->retain_interval / 10)
            != NGX_OK)
        {
            continue;
        }

        /* the sweep's steps keep what they need in a pool of their own */
        pool = ngx_create_pool(1024, ev->log);
        if (pool == NULL) {
            return;
        }

        rt = ngx_pcalloc(pool, sizeof(ngx_kefu_retain_t));
        if (rt == NULL) {
            ngx_destroy_pool(pool);
            return;
        }

        rt->pool = pool;
        rt->kmcf = kmcf;
        rt->site = &s[i];

        if (ngx_kefu_redis_eval(kmcf->redis, &ngx_kefu_script_retain_sweep,
                                ngx_kefu_retain_swept, rt, call.nkeys,
                                call.argc, call.argv, call.lens)
            != NGX_OK)
        {
            ngx_destroy_pool(pool);
            return;
        }
    }
}


/* the batch of old index entries: is each one's hash gone? (its slot) */

static void
ngx_kefu_retain_swept(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_retain_t  *rt = data;

    size_t                    n;
    ngx_kefu_gather_convs_t   gc;

    static const char  *fields[] = { "site" };

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 3
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_INTEGER
        || reply->element[2]->type != REDIS_REPLY_INTEGER)
    {
        /* {-1}: another worker's turn */
        ngx_destroy_pool(rt->pool);
        return;
    }

    rt->more = reply->element[1]->integer == 1;
    rt->trimmed = reply->element[2]->integer;

    n = reply->elements - 3;

    if (n == 0) {
        ngx_kefu_retain_finish(rt);
        return;
    }

    rt->index = ngx_kefu_redis_reply_copy(rt->pool, reply);

    gc.index = rt->index;
    gc.first = 3;
    gc.step = 1;
    gc.fields = fields;
    gc.nfields = 1;

    if (rt->index == NULL
        || ngx_kefu_redis_gather_each(rd, &ngx_kefu_script_conv_fields, n,
                                      ngx_kefu_gather_conv_fields, &gc, 0,
                                      ngx_kefu_retain_checked, rt)
           != NGX_OK)
    {
        ngx_destroy_pool(rt->pool);
    }
}


/* those gone leave the index, a few conversations a call, pipelined */

static void
ngx_kefu_retain_checked(ngx_kefu_redis_t *rd, redisReply *rows, void *data)
{
    ngx_kefu_retain_t  *rt = data;

    size_t        i, n, ncalls;
    ngx_str_t    *gone;
    redisReply   *e;

    if (rows == NULL || rows->type != REDIS_REPLY_ARRAY
        || rows->elements != rt->index->elements - 3)
    {
        ngx_destroy_pool(rt->pool);
        return;
    }

    gone = ngx_palloc(rt->pool, rows->elements * sizeof(ngx_str_t));
    if (gone == NULL) {
        ngx_destroy_pool(rt->pool);
        return;
    }

    n = 0;

    for (i = 0; i < rows->elements; i++) {
        if (rows->element[i]->type == REDIS_REPLY_ARRAY
            && rows->element[i]->elements == 0)
        {
            e = rt->index->element[3 + i];
            gone[n].data = (u_char *) e->str;
            gone[n].len = e->len;
            n++;
        }
    }

    if (n == 0) {
        ngx_kefu_retain_finish(rt);
        return;
    }

    rt->gone = gone;
    rt->ngone = n;
    ncalls = (n + NGX_KEFU_RETAIN_DROP_MAX - 1) / NGX_KEFU_RETAIN_DROP_MAX;

    if (ngx_kefu_redis_gather_each(rd, &ngx_kefu_script_retain_drop, ncalls,
                                   ngx_kefu_retain_drop, rt, 0,
                                   ngx_kefu_retain_dropped, rt)
        != NGX_OK)
    {
        ngx_destroy_pool(rt->pool);
    }
}


/* the ith call drops the ith few of those gone */

static ngx_int_t
ngx_kefu_retain_drop(ngx_kefu_call_t *call, ngx_uint_t i, void *data)
{
    ngx_kefu_retain_t  *rt = data;

    return ngx_kefu_retain_drop_args(call, &rt->site->name,
                                     rt->gone + i * NGX_KEFU_RETAIN_DROP_MAX,
                                     ngx_min(NGX_KEFU_RETAIN_DROP_MAX,
                                             rt->ngone
                                             - i * NGX_KEFU_RETAIN_DROP_MAX));
}


static void
ngx_kefu_retain_dropped(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_retain_t  *rt = data;

    size_t  i;

    for (i = 0; reply && reply->type == REDIS_REPLY_ARRAY
                && i < reply->elements; i++)
    {
        if (reply->element[i]->type == REDIS_REPLY_INTEGER) {
            rt->removed += reply->element[i]->integer;
        }
    }

    ngx_kefu_retain_finish(rt);
}


static void
ngx_kefu_retain_finish(ngx_kefu_retain_t *rt)
{
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = rt->kmcf;

    if (rt->removed || rt->trimmed) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "kefu retain: %L conversations and %L events gone",
                       rt->removed, rt->trimmed);
    }

    /* a full batch: the rest soon, not an interval later */
    if (rt->more
        && !(ngx_exiting || ngx_terminate || ngx_quit)
        && kmcf->retain_event)
    {
        if (kmcf->retain_event->timer_set) {
            ngx_del_timer(kmcf->retain_event);
        }

        ngx_add_timer(kmcf->retain_event, 100);
    }

    ngx_destroy_pool(rt->pool);
}
