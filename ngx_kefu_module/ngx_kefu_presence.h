
/*
 * Presence of agents' connections (ngx_kefu_presence.c): a record in Redis
 * from the welcome to the close, under the worker's lease.
 */


#ifndef _NGX_KEFU_PRESENCE_H_INCLUDED_
#define _NGX_KEFU_PRESENCE_H_INCLUDED_


#include "ngx_kefu.h"


void ngx_kefu_presence_hello(ngx_kefu_ws_t *ws);
void ngx_kefu_presence_bye(ngx_kefu_ws_t *ws);


#endif /* _NGX_KEFU_PRESENCE_H_INCLUDED_ */
