
/*
 * A connection's chat operations, as the application layer dispatches
 * them (ngx_kefu_app.c): msg (ngx_kefu_msg.c); typing, read, history and
 * the page trail (ngx_kefu_chat.c); the agents' actions and the rating
 * (ngx_kefu_agent.c); the agents' view of the queues (ngx_kefu_queue.c).
 */


#ifndef _NGX_KEFU_CHAT_H_INCLUDED_
#define _NGX_KEFU_CHAT_H_INCLUDED_


#include "ngx_kefu_conv.h"
#include "ngx_kefu_route.h"


/* ngx_kefu_msg.c */
void ngx_kefu_msg(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req);
void ngx_kefu_msg_refused(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req);

/* ngx_kefu_chat.c */
void ngx_kefu_typing(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req);
void ngx_kefu_typing_stop(ngx_kefu_member_t *m);
void ngx_kefu_read(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req);
void ngx_kefu_history(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req);
void ngx_kefu_page(ngx_kefu_ws_t *ws, json_t *page, const char *cid);

/* ngx_kefu_agent.c; the actor of a connection, an outcome's notice sent
 * to it, the groups of an agent (its token's, or the site's default) as
 * a JSON array to free() */
void ngx_kefu_agent_action(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req);
void ngx_kefu_agent_actor(ngx_kefu_ws_t *ws, ngx_kefu_actor_t *actor);
void ngx_kefu_agent_result(ngx_kefu_ws_t *ws, json_t *result);
ngx_int_t ngx_kefu_agent_groups(ngx_kefu_ws_t *ws, char **out);

/* ngx_kefu_queue.c */
void ngx_kefu_queue(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req);
void ngx_kefu_queue_hello(ngx_kefu_ws_t *ws);


#endif /* _NGX_KEFU_CHAT_H_INCLUDED_ */
