
/*
 * The HTTP API (kefu_api): the shop's backend talks to conversations
 * without a WebSocket.  See docs/api.md.
 */


#ifndef _NGX_KEFU_API_H_INCLUDED_
#define _NGX_KEFU_API_H_INCLUDED_


#include "ngx_kefu.h"


char *ngx_kefu_api_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* a visitor's hello: its name, attrs and page, kept for the API to show */
void ngx_kefu_api_visitor(ngx_kefu_ws_t *ws, json_t *hello);


#endif /* _NGX_KEFU_API_H_INCLUDED_ */
