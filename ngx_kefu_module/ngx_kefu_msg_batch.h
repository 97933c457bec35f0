
/*
 * Group commit of chat messages (ngx_kefu_msg_batch.c): the messages one
 * event-loop pass of a worker takes (or, while its calls are in flight,
 * the passes until one is answered) go to Redis together, one script call
 * (lua/msg_batch.lua) carrying many, each answered to its own handler.
 */


#ifndef _NGX_KEFU_MSG_BATCH_H_INCLUDED_
#define _NGX_KEFU_MSG_BATCH_H_INCLUDED_


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"


/* messages of one call at most, and their arguments' bytes */
#define NGX_KEFU_MSG_BATCH_MAX    64
#define NGX_KEFU_MSG_BATCH_BYTES  (256 * 1024)
/*
 * calls of a worker in flight at once (one Redis, Sentinel's master);
 * the messages taken meanwhile wait for one to be answered, and then go
 * together (ngx_kefu_msg_batch.c)
 */
#define NGX_KEFU_MSG_BATCH_HOLD   2


/*
 * A msg call (msg's whole ARGV as ngx_kefu_msg_argv() built it, argc
 * NGX_KEFU_MSG_ARGS, for conv) to go with the pass's others.  argv and
 * lens must stay valid until h is called (the caller's context); h gets
 * this message's own reply, as from lua/msg.lua (or msg_slot), or NULL if
 * the call failed.  Returns
 * NGX_OK (h will be called), or NGX_BUSY / NGX_DECLINED / NGX_ERROR
 * (refused now: over kefu_redis_max_inflight, Redis not ready; h is not
 * called).
 */
ngx_int_t ngx_kefu_msg_batch_add(ngx_kefu_main_conf_t *kmcf, ngx_str_t *conv,
    int argc, const char **argv, const size_t *lens,
    ngx_kefu_redis_handler_pt h, void *data);

/*
 * Whether a msg for conv would be admitted now (NGX_OK), before its call
 * is built; else NGX_BUSY / NGX_DECLINED, the refusal counted
 */
ngx_int_t ngx_kefu_msg_batch_room(ngx_kefu_main_conf_t *kmcf, ngx_str_t *conv);

/*
 * The worker exits, after the Redis layer: the messages still waiting
 * get NULL (as those in flight got from the Redis layer), in order.
 */
void ngx_kefu_msg_batch_exit(ngx_kefu_main_conf_t *kmcf);


#endif /* _NGX_KEFU_MSG_BATCH_H_INCLUDED_ */
