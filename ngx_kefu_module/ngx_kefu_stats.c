
/*
 * Counting what has more than one value: errors by code, close codes,
 * Redis command latency and each worker's Redis state.  The counters are
 * in the session zone (ngx_kefu.h, ngx_kefu_zone.h); the names below are
 * also the labels the status endpoint prints (ngx_kefu_status.c).
 */


#include "ngx_kefu.h"
#include "ngx_kefu_zone.h"
#include "ngx_kefu_status.h"


/* the contract's error codes; the last slot counts anything else */
const char  *ngx_kefu_stat_error_names[NGX_KEFU_STAT_ERRORS] = {
    "bad_request", "unauthorized", "forbidden", "not_found", "too_large",
    "rate_limited", "unavailable", "internal", "other"
};


/*
 * the close codes the server uses; 0 stands for any other (an echo of a
 * client's own code); an echo of a close without a code is not counted
 */
const ngx_uint_t  ngx_kefu_stat_close_codes[NGX_KEFU_STAT_CLOSES] = {
    1000, 1001, 1002, 1003, 1007, 1008, 1009, 1011, 1013, 4401, 4403, 4429,
    0
};


/* upper bounds of the latency buckets in ms; the last one is +Inf */
const ngx_msec_t  ngx_kefu_stat_buckets[NGX_KEFU_STAT_BUCKETS] = {
    1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 5000, NGX_MAX_UINT32_VALUE
};


void
ngx_kefu_stat_error(ngx_kefu_main_conf_t *kmcf, const char *code)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_KEFU_STAT_ERRORS - 1; i++) {
        if (ngx_strcmp(code, ngx_kefu_stat_error_names[i]) == 0) {
            break;
        }
    }

    ngx_kefu_stat_inc(kmcf, errors[i]);
}


void
ngx_kefu_stat_close(ngx_kefu_main_conf_t *kmcf, ngx_uint_t code)
{
    ngx_uint_t  i;

    for (i = 0; i < NGX_KEFU_STAT_CLOSES - 1; i++) {
        if (code == ngx_kefu_stat_close_codes[i]) {
            break;
        }
    }

    ngx_kefu_stat_inc(kmcf, closes[i]);
}


/* a command's reply (ok) or its failure, ms after it was sent */

void
ngx_kefu_stat_redis_reply(ngx_kefu_main_conf_t *kmcf, ngx_msec_t ms,
    ngx_uint_t ok)
{
    ngx_uint_t  i;

    if (!ok) {
        ngx_kefu_stat_inc(kmcf, redis_failures);
        return;
    }

    for (i = 0; i < NGX_KEFU_STAT_BUCKETS - 1; i++) {
        if (ms <= ngx_kefu_stat_buckets[i]) {
            break;
        }
    }

    ngx_kefu_stat_inc(kmcf, redis_commands);
    ngx_kefu_stat_add(kmcf, redis_latency_ms, ms);
    ngx_kefu_stat_inc(kmcf, redis_latency[i]);
}


/* this worker's command (sub 0) or pub/sub (sub 1) connection went up/down */

void
ngx_kefu_stat_redis_link(ngx_kefu_main_conf_t *kmcf, ngx_uint_t sub,
    ngx_uint_t up)
{
    ngx_kefu_zone_worker_t  *w;

    /* after a reload the slot is the new worker's; an old one stays out */
    if (kmcf->zone == NULL || kmcf->zone->sh == NULL
        || ngx_worker >= NGX_KEFU_ZONE_WORKERS || ngx_exiting)
    {
        return;
    }

    w = &kmcf->zone->sh->workers[ngx_worker];

    w->pid = ngx_pid;

    if (sub) {
        w->redis_sub = up;

    } else {
        w->redis_cmd = up;
    }
}


/* this worker's commands awaiting Redis's replies, for the status */

void
ngx_kefu_stat_redis_queue(ngx_kefu_main_conf_t *kmcf, ngx_uint_t n)
{
    if (kmcf->zone == NULL || kmcf->zone->sh == NULL
        || ngx_worker >= NGX_KEFU_ZONE_WORKERS || ngx_exiting)
    {
        return;
    }

    kmcf->zone->sh->workers[ngx_worker].redis_queue = n;
}
