
/*
 * The leased sweeps' driver (ngx_kefu_sweep.h): the timer, the lease call
 * per site, the read of each entry in its slot, the end of a turn.
 */


#include "ngx_kefu_sweep.h"


/* a worker's sweep: its timer, cancelable so that it never holds a worker
 * that is shutting down */
struct ngx_kefu_sweeper_s {
    ngx_event_t                  event;
    ngx_msec_t                   interval;
    ngx_kefu_main_conf_t        *kmcf;
    const ngx_kefu_sweep_conf_t *conf;
};


static void ngx_kefu_sweep_handler(ngx_event_t *ev);
static void ngx_kefu_sweep_swept(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_sweep_checked(ngx_kefu_redis_t *rd, redisReply *rows,
    void *data);


ngx_int_t
ngx_kefu_sweep_init(ngx_cycle_t *cycle, const ngx_kefu_sweep_conf_t *conf)
{
    ngx_uint_t             i;
    ngx_msec_t             t;
    ngx_kefu_site_t       *site;
    ngx_kefu_sweeper_t    *sr;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);

    if (kmcf == NULL || kmcf->redis == NULL || kmcf->sites.nelts == 0) {
        return NGX_OK;
    }

    t = conf->max;
    site = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        t = ngx_min(t, conf->period(&site[i]));
    }

    sr = ngx_pcalloc(cycle->pool, sizeof(ngx_kefu_sweeper_t));
    if (sr == NULL) {
        return NGX_ERROR;
    }

    sr->interval = ngx_max(t, 1000);
    sr->kmcf = kmcf;
    sr->conf = conf;

    sr->event.handler = ngx_kefu_sweep_handler;
    sr->event.data = sr;
    sr->event.log = cycle->log;
    sr->event.cancelable = 1;

    ngx_add_timer(&sr->event, sr->interval);

    return NGX_OK;
}


/* one worker of all hosts gets each site's turn: the lease decides */

static void
ngx_kefu_sweep_handler(ngx_event_t *ev)
{
    ngx_kefu_sweeper_t *sr = ev->data;

    ngx_int_t              rc;
    ngx_uint_t             i;
    ngx_pool_t            *pool;
    ngx_kefu_site_t       *s;
    ngx_kefu_call_t        call;
    ngx_kefu_sweep_t      *sw;
    ngx_kefu_main_conf_t  *kmcf;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(ev, sr->interval);

    kmcf = sr->kmcf;

    if (!ngx_kefu_redis_ready(kmcf->redis)) {
        return;
    }

    s = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {

        /* the turn's steps keep what they need in a pool of their own */
        pool = ngx_create_pool(1024, ev->log);
        if (pool == NULL) {
            return;
        }

        sw = ngx_pcalloc(pool, sr->conf->size);
        if (sw == NULL) {
            ngx_destroy_pool(pool);
            return;
        }

        sw->pool = pool;
        sw->kmcf = kmcf;
        sw->site = &s[i];
        sw->sweeper = sr;

        rc = sr->conf->start(sw, &call, sr->interval - sr->interval / 10);

        if (rc == NGX_DECLINED) {
            ngx_destroy_pool(pool);
            continue;
        }

        if (rc != NGX_OK
            || ngx_kefu_redis_eval_call(kmcf->redis, sr->conf->script,
                                        ngx_kefu_sweep_swept, sw, &call)
               != NGX_OK)
        {
            ngx_destroy_pool(pool);
            return;
        }
    }
}


/* the batch: each entry's fields, in its own slot */

static void
ngx_kefu_sweep_swept(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_sweep_t  *sw = data;

    size_t                         n;
    ngx_kefu_gather_convs_t        gc;
    const ngx_kefu_sweep_conf_t   *conf;

    conf = sw->sweeper->conf;

    if (conf->swept(sw, reply) != NGX_OK
        || reply->type != REDIS_REPLY_ARRAY
        || sw->first > reply->elements)
    {
        ngx_destroy_pool(sw->pool);
        return;
    }

    sw->index = ngx_kefu_redis_reply_copy(sw->pool, reply);
    if (sw->index == NULL) {
        ngx_destroy_pool(sw->pool);
        return;
    }

    n = reply->elements - sw->first;

    if (n == 0) {
        conf->checked(sw, rd, ngx_kefu_redis_empty_reply());
        return;
    }

    gc.index = sw->index;
    gc.first = sw->first;
    gc.step = 1;
    gc.fields = conf->fields;
    gc.nfields = conf->nfields;

    if (ngx_kefu_redis_gather_each(rd, &ngx_kefu_script_conv_fields, n,
                                   ngx_kefu_gather_conv_fields, &gc, 0,
                                   ngx_kefu_sweep_checked, sw)
        != NGX_OK)
    {
        ngx_destroy_pool(sw->pool);
    }
}


static void
ngx_kefu_sweep_checked(ngx_kefu_redis_t *rd, redisReply *rows, void *data)
{
    ngx_kefu_sweep_t  *sw = data;

    if (rows == NULL || rows->type != REDIS_REPLY_ARRAY
        || rows->elements != sw->index->elements - sw->first)
    {
        ngx_destroy_pool(sw->pool);
        return;
    }

    sw->sweeper->conf->checked(sw, rd, rows);
}


void
ngx_kefu_sweep_done(ngx_kefu_sweep_t *sw)
{
    ngx_event_t  *ev;

    ev = &sw->sweeper->event;

    /* a full batch: the rest soon, not an interval later */
    if (sw->more && !(ngx_exiting || ngx_terminate || ngx_quit)) {
        if (ev->timer_set) {
            ngx_del_timer(ev);
        }

        ngx_add_timer(ev, 100);
    }

    ngx_destroy_pool(sw->pool);
}
