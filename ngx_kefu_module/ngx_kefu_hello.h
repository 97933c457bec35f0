
/*
 * Who is on a connection (ngx_kefu_hello.c): hello, its tokens, the
 * welcome.
 */


#ifndef _NGX_KEFU_HELLO_H_INCLUDED_
#define _NGX_KEFU_HELLO_H_INCLUDED_


#include "ngx_kefu.h"


/* ngx_kefu_hello.c: authentication, the first message of a connection */
void ngx_kefu_hello(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req);
void ngx_kefu_welcome_cancel(ngx_kefu_ws_t *ws);


#endif /* _NGX_KEFU_HELLO_H_INCLUDED_ */
