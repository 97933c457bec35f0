
/*
 * The leased sweeps (ngx_kefu_sweep.c): retention (ngx_kefu_retain.c),
 * idle conversations (ngx_kefu_idle.c) and bot conversations
 * (ngx_kefu_bot_idle.c) share one shape.  Every worker has a timer; at
 * each turn, for each site, one script takes the turn's lease in Redis
 * and answers a batch of conversations from a site-level index; their
 * fields are read each in its own slot (ngx_kefu_redis_gather_each());
 * the sweep acts on them and ends its turn, again soon if the batch was
 * full.  A sweep says what differs in an ngx_kefu_sweep_conf_t; its state
 * for one site's turn starts with an ngx_kefu_sweep_t and lives in a pool
 * of its own.
 */


#ifndef _NGX_KEFU_SWEEP_H_INCLUDED_
#define _NGX_KEFU_SWEEP_H_INCLUDED_


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_script_args.h"


typedef struct ngx_kefu_sweep_s       ngx_kefu_sweep_t;
typedef struct ngx_kefu_sweeper_s     ngx_kefu_sweeper_t;


typedef struct {
    /* the interval: the least of max and of each site's period(site),
     * at least 1s */
    ngx_msec_t                   max;
    ngx_msec_t                 (*period)(ngx_kefu_site_t *site);

    size_t                       size;     /* of the sweep's state */
    ngx_kefu_script_t           *script;   /* takes the lease */

    /* the lease call of sw->site, holding the lease for "lease" ms:
     * NGX_DECLINED: not this site this turn; NGX_ERROR: not this turn */
    ngx_int_t                  (*start)(ngx_kefu_sweep_t *sw,
                                        ngx_kefu_call_t *call,
                                        ngx_msec_t lease);

    /* its answer (not yet copied): sets sw->first (the index's first
     * entry) and sw->more; NGX_OK, or anything else to end the turn
     * ({-1}: another worker's turn) */
    ngx_int_t                  (*swept)(ngx_kefu_sweep_t *sw,
                                        redisReply *reply);

    /* the fields conv_fields.lua reads of each entry */
    const char                 **fields;
    ngx_uint_t                   nfields;

    /* rows->element[i]: those of sw->index->element[sw->first + i] (an
     * empty array: gone); the sweep ends the turn: ngx_kefu_sweep_done() */
    void                       (*checked)(ngx_kefu_sweep_t *sw,
                                          ngx_kefu_redis_t *rd,
                                          redisReply *rows);
} ngx_kefu_sweep_conf_t;


/* one site's turn */
struct ngx_kefu_sweep_s {
    ngx_pool_t                  *pool;
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_site_t             *site;
    ngx_kefu_sweeper_t          *sweeper;
    redisReply                  *index;    /* the lease call's, copied */
    ngx_uint_t                   first;
    unsigned                     more:1;   /* a full batch: again soon */
};


ngx_int_t ngx_kefu_sweep_init(ngx_cycle_t *cycle,
    const ngx_kefu_sweep_conf_t *conf);
/* the turn's end: the next one soon if sw->more; frees sw */
void ngx_kefu_sweep_done(ngx_kefu_sweep_t *sw);


#endif /* _NGX_KEFU_SWEEP_H_INCLUDED_ */
