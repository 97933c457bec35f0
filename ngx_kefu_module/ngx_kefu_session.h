
/*
 * The chat session a WebSocket connection carries, and its one close path.
 *
 * Two objects, the way nginx's HTTP/2 keeps a connection apart from its
 * streams: the transport (ngx_kefu_ws_io_t, ngx_kefu_ws.c: frames, buffers,
 * heartbeats, the close handshake) and the session (ngx_kefu_ws_t: who is
 * on the connection, its conversations, presence).  The transport knows
 * nothing of what a session holds.  Each part that takes something for a
 * session (the access log line, the zone's record and the worker's index,
 * a pending welcome, presence) hooks its release into the close path when
 * it takes it; the transport runs the hooks once, last in first out, when
 * the connection ends.
 */


#ifndef _NGX_KEFU_SESSION_H_INCLUDED_
#define _NGX_KEFU_SESSION_H_INCLUDED_


#include "ngx_kefu_ws.h"


ngx_int_t ngx_kefu_session_on_close(ngx_kefu_ws_t *ws,
    ngx_kefu_ws_handler_pt h);
void ngx_kefu_session_close(ngx_kefu_ws_t *ws);
ngx_int_t ngx_kefu_session_register(ngx_kefu_ws_t *ws);
void ngx_kefu_session_end(ngx_kefu_ws_t *ws);


#endif /* _NGX_KEFU_SESSION_H_INCLUDED_ */
