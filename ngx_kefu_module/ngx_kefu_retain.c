
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

/*
 * a conversation 0.1.0 closed and left without an expiry is found only
 * once its last event is older than the retention: its time is up, and it
 * goes as soon as the next sweep can drop it
 */
#define NGX_KEFU_RETAIN_HEAL_SECS  1


/* a closed conversation still there, and its visitor ("" for none) */
typedef struct {
    ngx_str_t                    conv;
    ngx_str_t                    visitor;
} ngx_kefu_retain_old_t;


/* one site's sweep, from the index read to the drop and the heal */
typedef struct {
    ngx_kefu_sweep_t             sweep;      /* index: the batch */
    ngx_kefu_redis_t            *rd;
    ngx_str_t                   *gone;       /* of the index: to drop */
    size_t                       ngone;
    ngx_kefu_retain_old_t       *old;        /* closed: to heal if 0.1.0's */
    size_t                       nold;
    size_t                       nsite;      /* old's site side to do */
    size_t                       nhealed;
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
static ngx_int_t ngx_kefu_retain_sort(ngx_kefu_retain_t *rt,
    redisReply *rows);
static void ngx_kefu_retain_next(ngx_kefu_retain_t *rt);
static ngx_int_t ngx_kefu_retain_drop(ngx_kefu_call_t *call, ngx_uint_t i,
    void *data);
static void ngx_kefu_retain_dropped(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static ngx_int_t ngx_kefu_retain_heal(ngx_kefu_call_t *call, ngx_uint_t i,
    void *data);
static void ngx_kefu_retain_healed(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static ngx_int_t ngx_kefu_retain_heal_site(ngx_kefu_call_t *call,
    ngx_uint_t i, void *data);
static void ngx_kefu_retain_healed_site(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_retain_finish(ngx_kefu_retain_t *rt);


static const char  *ngx_kefu_retain_fields[] = { "site", "state", "visitor" };

/*
 * The sweep of the site-level indexes (lua/retain_sweep.lua): every worker
 * has a timer, a tenth of the shortest retention (1s to 60s); one worker
 * of all hosts takes each interval's turn by a lease in Redis, and one
 * whose batch was full runs again at once (100 ms) until it is done.
 * Each conversation's state and visitor are read too: a closed one that
 * 0.1.0 left without an expiry is given one here (lua/retain_heal*.lua),
 * or it would be passed over for ever.
 */
static const ngx_kefu_sweep_conf_t  ngx_kefu_retain_sweep = {
    60000,
    ngx_kefu_retain_period,
    sizeof(ngx_kefu_retain_t),
    &ngx_kefu_script_retain_sweep,
    ngx_kefu_retain_start,
    ngx_kefu_retain_swept,
    ngx_kefu_retain_fields,
    3,
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


/*
 * those gone leave the index, a few conversations a call, pipelined; the
 * closed ones still there are asked whether they are 0.1.0's
 */

static void
ngx_kefu_retain_checked(ngx_kefu_sweep_t *sw, ngx_kefu_redis_t *rd,
    redisReply *rows)
{
    ngx_kefu_retain_t  *rt = (ngx_kefu_retain_t *) sw;

    rt->rd = rd;

    if (rows->elements && ngx_kefu_retain_sort(rt, rows) != NGX_OK) {
        ngx_destroy_pool(sw->pool);
        return;
    }

    ngx_kefu_retain_next(rt);
}


/* rows: each conversation's {site, state, visitor}, {} when gone */

static ngx_int_t
ngx_kefu_retain_sort(ngx_kefu_retain_t *rt, redisReply *rows)
{
    size_t                  i;
    ngx_str_t              *site;
    redisReply             *e, **f;
    ngx_kefu_retain_old_t  *o;

    rt->gone = ngx_palloc(rt->sweep.pool, rows->elements * sizeof(ngx_str_t));
    rt->old = ngx_palloc(rt->sweep.pool,
                         rows->elements * sizeof(ngx_kefu_retain_old_t));
    if (rt->gone == NULL || rt->old == NULL) {
        return NGX_ERROR;
    }

    site = &rt->sweep.site->name;

    for (i = 0; i < rows->elements; i++) {
        e = rt->sweep.index->element[rt->sweep.first + i];

        if (rows->element[i]->type != REDIS_REPLY_ARRAY) {
            continue;
        }

        if (rows->element[i]->elements == 0) {
            rt->gone[rt->ngone].data = (u_char *) e->str;
            rt->gone[rt->ngone++].len = e->len;
            continue;
        }

        f = rows->element[i]->element;

        if (rows->element[i]->elements != 3 || e->len > NGX_KEFU_MAX_ID_LEN
            || f[0]->type != REDIS_REPLY_STRING
            || f[1]->type != REDIS_REPLY_STRING
            || f[2]->type != REDIS_REPLY_STRING
            || f[0]->len != site->len
            || ngx_strncmp(f[0]->str, site->data, site->len) != 0
            || f[1]->len != sizeof("closed") - 1
            || ngx_strncmp(f[1]->str, "closed", f[1]->len) != 0)
        {
            continue;
        }

        o = &rt->old[rt->nold++];
        o->conv.data = (u_char *) e->str;
        o->conv.len = e->len;
        ngx_str_null(&o->visitor);

        /* the rows go when this returns: the visitor is copied */
        if (f[2]->len && f[2]->len <= NGX_KEFU_MAX_ID_LEN) {
            o->visitor.data = ngx_pnalloc(rt->sweep.pool, f[2]->len);
            if (o->visitor.data == NULL) {
                return NGX_ERROR;
            }

            o->visitor.len = f[2]->len;
            ngx_memcpy(o->visitor.data, f[2]->str, f[2]->len);
        }
    }

    rt->nsite = rt->nold;

    return NGX_OK;
}


/*
 * the turn's steps one after another: the drop; then of the closed ones
 * the site's side (a no-op for this version's, which expire already),
 * before their conversation's: a turn cut short between the two finds
 * the conversation again, still without an expiry, at the next
 */

static void
ngx_kefu_retain_next(ngx_kefu_retain_t *rt)
{
    ngx_int_t  rc;

    if (rt->ngone) {
        rc = ngx_kefu_redis_gather_each(rt->rd, &ngx_kefu_script_retain_drop,
                                        (rt->ngone + NGX_KEFU_RETAIN_DROP_MAX
                                         - 1) / NGX_KEFU_RETAIN_DROP_MAX,
                                        ngx_kefu_retain_drop, rt, 0,
                                        ngx_kefu_retain_dropped, rt);

    } else if (rt->nsite) {
        rc = ngx_kefu_redis_gather_each(rt->rd,
                                        &ngx_kefu_script_retain_heal_site,
                                        rt->nsite,
                                        ngx_kefu_retain_heal_site, rt, 0,
                                        ngx_kefu_retain_healed_site, rt);

    } else if (rt->nold) {
        rc = ngx_kefu_redis_gather_each(rt->rd, &ngx_kefu_script_retain_heal,
                                        rt->nold, ngx_kefu_retain_heal, rt, 0,
                                        ngx_kefu_retain_healed, rt);

    } else {
        ngx_kefu_retain_finish(rt);
        return;
    }

    if (rc != NGX_OK) {
        ngx_destroy_pool(rt->sweep.pool);
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

    rt->ngone = 0;
    ngx_kefu_retain_next(rt);
}


static ngx_int_t
ngx_kefu_retain_heal(ngx_kefu_call_t *call, ngx_uint_t i, void *data)
{
    ngx_kefu_retain_t  *rt = data;

    return ngx_kefu_retain_heal_args(call, &rt->old[i].conv,
                                     NGX_KEFU_RETAIN_HEAL_SECS);
}


/* 1: the conversation had no expiry and has one now */

static void
ngx_kefu_retain_healed(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_retain_t  *rt = data;

    size_t  i;

    for (i = 0; reply && reply->type == REDIS_REPLY_ARRAY
                && i < reply->elements; i++)
    {
        if (reply->element[i]->type == REDIS_REPLY_INTEGER
            && reply->element[i]->integer == 1)
        {
            rt->nhealed++;
        }
    }

    if (rt->nhealed) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "kefu retain: %uz closed conversations of 0.1.0 "
                       "expire", rt->nhealed);
    }

    rt->nold = 0;
    ngx_kefu_retain_next(rt);
}


static ngx_int_t
ngx_kefu_retain_heal_site(ngx_kefu_call_t *call, ngx_uint_t i, void *data)
{
    ngx_kefu_retain_t  *rt = data;

    return ngx_kefu_retain_heal_site_args(call, &rt->sweep.site->name,
                                          &rt->old[i].conv,
                                          &rt->old[i].visitor,
                                          NGX_KEFU_RETAIN_HEAL_SECS,
                                          ngx_kefu_visitor_seconds(
                                              rt->sweep.site, 0));
}


static void
ngx_kefu_retain_healed_site(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_retain_t  *rt = data;

    rt->nsite = 0;
    ngx_kefu_retain_next(rt);
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
