
/*
 * Retention (ngx_kefu_retain.c): how long records are kept, and their
 * sweep.
 */


#ifndef _NGX_KEFU_RETAIN_H_INCLUDED_
#define _NGX_KEFU_RETAIN_H_INCLUDED_


#include "ngx_kefu.h"


time_t ngx_kefu_dedup_seconds(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site);
time_t ngx_kefu_visitor_seconds(ngx_kefu_site_t *site,
    ngx_uint_t anonymous);
ngx_int_t ngx_kefu_retain_init(ngx_cycle_t *cycle);


#endif /* _NGX_KEFU_RETAIN_H_INCLUDED_ */
