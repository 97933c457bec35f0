
/*
 * Retention (docs/storage.md, "Bounds and retention"): how long what the
 * module writes to Redis is kept.  Closed conversations expire after the
 * site's retention (kefu_site retention=, kefu_retention); visitors'
 * records after a period without a hello or a message (a site's
 * retention for visitors of the shop's tokens, anonymous_retention= for
 * anonymous ones).
 */


#include "ngx_kefu.h"
#include "ngx_kefu_sweep.h"
#include "ngx_kefu_retain.h"


/* conversations looked at per site and run */
#define NGX_KEFU_RETAIN_BATCH  500


/* one site's sweep, from the index read to the drop */
typedef struct {
    ngx_kefu_sweep_t             sweep;      /* index: the batch */
    ngx_str_t                   *gone;       /* of the index: to drop */
    size_t                       ngone;
    int64_t                      trimmed;
    int64_t                      removed;
} ngx_kefu_retain_t;


static ngx_msec_t ngx_kefu_retain_period(ngx_kefu_site_t *site);
static ngx_int_t ngx_kefu_retain_start(ngx_kefu_sweep_t *sw,
    ngx_kefu_call_t *call, ngx_msec_t lease);
static ngx_int_t ngx_kefu_retain_swept(ngx_kefu_sweep_t *sw,
    redisReply *reply);
static void ngx_kefu_retain_checked(ngx_kefu_sweep_t *sw,
    ngx_kefu_redis_t *rd, redisReply *rows);
static ngx_int_t ngx_kefu_retain_drop(ngx_kefu_call_t *call, ngx_uint_t i,
    void *data);
static void ngx_kefu_retain_dropped(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_retain_finish(ngx_kefu_retain_t *rt);


static const char  *ngx_kefu_retain_fields[] = { "site" };

/*
 * The sweep of the site-level indexes (lua/retain_sweep.lua): every worker
 * has a timer, a tenth of the shortest retention (1s to 60s); one worker
 * of all hosts takes each interval's turn by a lease in Redis, and one
 * whose batch was full runs again at once (100 ms) until it is done.
 */
static const ngx_kefu_sweep_conf_t  ngx_kefu_retain_sweep = {
    60000,
    ngx_kefu_retain_period,
    sizeof(ngx_kefu_retain_t),
    &ngx_kefu_script_retain_sweep,
    ngx_kefu_retain_start,
    ngx_kefu_retain_swept,
    ngx_kefu_retain_fields,
    1,
    ngx_kefu_retain_checked
};


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


ngx_int_t
ngx_kefu_retain_init(ngx_cycle_t *cycle)
{
    return ngx_kefu_sweep_init(cycle, &ngx_kefu_retain_sweep);
}


static ngx_msec_t
ngx_kefu_retain_period(ngx_kefu_site_t *site)
{
    return site->retention / 10;
}


static ngx_int_t
ngx_kefu_retain_start(ngx_kefu_sweep_t *sw, ngx_kefu_call_t *call,
    ngx_msec_t lease)
{
    if (ngx_kefu_retain_sweep_args(call, &sw->site->name, ngx_kefu_now_ms(),
                                   sw->site->retention, NGX_KEFU_RETAIN_BATCH,
                                   lease)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* {1, more, trimmed, conv, ...}: the batch of old index entries, each
 * one's hash asked for in its slot */

static ngx_int_t
ngx_kefu_retain_swept(ngx_kefu_sweep_t *sw, redisReply *reply)
{
    ngx_kefu_retain_t  *rt = (ngx_kefu_retain_t *) sw;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 3
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_INTEGER
        || reply->element[2]->type != REDIS_REPLY_INTEGER)
    {
        /* {-1}: another worker's turn */
        return NGX_DECLINED;
    }

    sw->first = 3;
    sw->more = reply->element[1]->integer == 1;
    rt->trimmed = reply->element[2]->integer;

    return NGX_OK;
}


/* those gone leave the index, a few conversations a call, pipelined */

static void
ngx_kefu_retain_checked(ngx_kefu_sweep_t *sw, ngx_kefu_redis_t *rd,
    redisReply *rows)
{
    ngx_kefu_retain_t  *rt = (ngx_kefu_retain_t *) sw;

    size_t        i, n, ncalls;
    ngx_str_t    *gone;
    redisReply   *e;

    if (rows->elements == 0) {
        ngx_kefu_retain_finish(rt);
        return;
    }

    gone = ngx_palloc(sw->pool, rows->elements * sizeof(ngx_str_t));
    if (gone == NULL) {
        ngx_destroy_pool(sw->pool);
        return;
    }

    n = 0;

    for (i = 0; i < rows->elements; i++) {
        if (rows->element[i]->type == REDIS_REPLY_ARRAY
            && rows->element[i]->elements == 0)
        {
            e = sw->index->element[sw->first + i];
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
        ngx_destroy_pool(sw->pool);
    }
}


/* the ith call drops the ith few of those gone */

static ngx_int_t
ngx_kefu_retain_drop(ngx_kefu_call_t *call, ngx_uint_t i, void *data)
{
    ngx_kefu_retain_t  *rt = data;

    return ngx_kefu_retain_drop_args(call, &rt->sweep.site->name,
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
    if (rt->removed || rt->trimmed) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "kefu retain: %L conversations and %L events gone",
                       rt->removed, rt->trimmed);
    }

    ngx_kefu_sweep_done(&rt->sweep);
}
