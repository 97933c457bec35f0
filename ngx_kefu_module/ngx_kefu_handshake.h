
/*
 * The RFC 6455 handshake (ngx_kefu_handshake.c): the chat location's
 * content handler, which hands the connection to the transport.
 */


#ifndef _NGX_KEFU_HANDSHAKE_H_INCLUDED_
#define _NGX_KEFU_HANDSHAKE_H_INCLUDED_


#include "ngx_kefu.h"


ngx_int_t ngx_kefu_handshake_handler(ngx_http_request_t *r);


#endif /* _NGX_KEFU_HANDSHAKE_H_INCLUDED_ */
