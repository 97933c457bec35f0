
/*
 * The idle sweep (ngx_kefu_idle.c): conversations idle for a site's
 * idle_close are closed.
 */


#ifndef _NGX_KEFU_IDLE_H_INCLUDED_
#define _NGX_KEFU_IDLE_H_INCLUDED_


#include "ngx_kefu.h"


ngx_int_t ngx_kefu_idle_init(ngx_cycle_t *cycle);


#endif /* _NGX_KEFU_IDLE_H_INCLUDED_ */
