
/*
 * The session layer's messages (ngx_kefu_app.c, ngx_kefu_app_send.c): one
 * complete text message from a client, checked and dispatched on its
 * type; a JSON message or an error to a connection.
 */


#ifndef _NGX_KEFU_APP_H_INCLUDED_
#define _NGX_KEFU_APP_H_INCLUDED_


#include "ngx_kefu.h"


/* ngx_kefu_app.c: one complete text message from a client */
void ngx_kefu_app_message(ngx_kefu_ws_t *ws, u_char *data, size_t len);

/* ngx_kefu_app_send.c: a JSON message, an error, to a connection */
void ngx_kefu_app_error(ngx_kefu_ws_t *ws, const char *code,
    const char *message, const char *cid);
ngx_int_t ngx_kefu_app_send(ngx_kefu_ws_t *ws, json_t *msg);


#endif /* _NGX_KEFU_APP_H_INCLUDED_ */
