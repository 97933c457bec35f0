
/*
 * Counters (ngx_kefu_stats.c): counting what has more than one value.
 */


#ifndef _NGX_KEFU_STATS_H_INCLUDED_
#define _NGX_KEFU_STATS_H_INCLUDED_


#include "ngx_kefu.h"


void ngx_kefu_stat_error(ngx_kefu_main_conf_t *kmcf, const char *code);
void ngx_kefu_stat_close(ngx_kefu_main_conf_t *kmcf, ngx_uint_t code);
void ngx_kefu_stat_redis_reply(ngx_kefu_main_conf_t *kmcf, ngx_msec_t ms,
    ngx_uint_t ok);
void ngx_kefu_stat_redis_link(ngx_kefu_main_conf_t *kmcf, ngx_uint_t sub,
    ngx_uint_t up);
void ngx_kefu_stat_redis_queue(ngx_kefu_main_conf_t *kmcf, ngx_uint_t n);


#endif /* _NGX_KEFU_STATS_H_INCLUDED_ */
