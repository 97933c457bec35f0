
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
#define NGX_KEFU_RETAIN_BATCH  "500"


static void ngx_kefu_retain_handler(ngx_event_t *ev);
static void ngx_kefu_retain_done(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);


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

    ev = ngx_pcalloc(cycle->pool, sizeof(ngx_event_t));
    if (ev == NULL) {
        return NGX_ERROR;
    }

    kmcf->retain_interval = ngx_max(t, 1000);

    ev->handler = ngx_kefu_retain_handler;
    ev->data = kmcf;
    ev->log = cycle->log;

    /* a periodic chore: it must not hold a worker that is shutting down */
    ev->cancelable = 1;

    kmcf->retain_event = ev;
    ngx_add_timer(ev, kmcf->retain_interval);

    return NGX_OK;
}


static void
ngx_kefu_retain_handler(ngx_event_t *ev)
{
    ngx_kefu_main_conf_t *kmcf = ev->data;

    u_char            now[NGX_INT64_LEN], keep[NGX_INT64_LEN];
    u_char            lease[NGX_INT64_LEN];
    size_t            lens[5];
    ngx_uint_t        i;
    const char       *argv[5];
    ngx_kefu_site_t  *s;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(ev, kmcf->retain_interval);

    if (!ngx_kefu_redis_ready(kmcf->redis)) {
        return;
    }

    s = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        argv[0] = (char *) s[i].name.data;
        lens[0] = s[i].name.len;
        argv[1] = (char *) now;
        lens[1] = ngx_sprintf(now, "%L", ngx_kefu_now_ms()) - now;
        argv[2] = (char *) keep;
        lens[2] = ngx_sprintf(keep, "%M", s[i].retention) - keep;
        argv[3] = NGX_KEFU_RETAIN_BATCH;
        lens[3] = sizeof(NGX_KEFU_RETAIN_BATCH) - 1;
        argv[4] = (char *) lease;
        lens[4] = ngx_sprintf(lease, "%M",
                              kmcf->retain_interval
                              - kmcf->retain_interval / 10)
                  - lease;

        if (ngx_kefu_redis_eval(kmcf->redis, &ngx_kefu_script_retain_sweep,
                                ngx_kefu_retain_done, kmcf, 0, 5, argv, lens)
            != NGX_OK)
        {
            return;
        }
    }
}


static void
ngx_kefu_retain_done(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_main_conf_t *kmcf = data;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 4
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        return;
    }

    if (reply->element[1]->integer || reply->element[3]->integer) {
        ngx_log_debug2(NGX_LOG_DEBUG_HTTP, ngx_cycle->log, 0,
                       "kefu retain: %L conversations and %L events gone",
                       (int64_t) reply->element[1]->integer,
                       (int64_t) reply->element[3]->integer);
    }

    /* a full batch: the rest soon, not an interval later */
    if (reply->element[2]->integer == 1
        && !(ngx_exiting || ngx_terminate || ngx_quit)
        && kmcf->retain_event)
    {
        if (kmcf->retain_event->timer_set) {
            ngx_del_timer(kmcf->retain_event);
        }

        ngx_add_timer(kmcf->retain_event, 100);
    }
}
