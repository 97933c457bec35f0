
/*
 * This worker's leases in Redis (ngx_kefu_lease.c): its presence records
 * and its id node; the sweep of agents gone past their grace; the token
 * the leased sweeps take their turns with.
 */


#ifndef _NGX_KEFU_LEASE_H_INCLUDED_
#define _NGX_KEFU_LEASE_H_INCLUDED_


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"


ngx_int_t ngx_kefu_lease_init_process(ngx_cycle_t *cycle);
void ngx_kefu_lease_ready(ngx_kefu_main_conf_t *kmcf);
extern const ngx_kefu_redis_consumer_t  ngx_kefu_lease_redis_consumer;
void ngx_kefu_lease_exit(ngx_cycle_t *cycle);
void ngx_kefu_lease_dirty(ngx_kefu_main_conf_t *kmcf);
u_char *ngx_kefu_lease_token(ngx_kefu_main_conf_t *kmcf);


#endif /* _NGX_KEFU_LEASE_H_INCLUDED_ */
