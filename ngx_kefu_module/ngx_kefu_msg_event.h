
/*
 * A message's script call and, with "kefu_redis cluster", its event
 * (docs/storage.md, "The message's event, via the log"):
 *
 *   ngx_kefu_msg_event.c      which script stores a message (lua/msg.lua
 *                             on one Redis, the event in the same step;
 *                             lua/msg_slot.lua in a cluster), and then
 *                             lua/event_put.lua with its event (one call
 *                             per site per event-loop pass), healed
 *                             from the log (lua/ev_range.lua) when a
 *                             worker died between the two calls
 *
 * Every writer of messages goes through it: the WebSocket path
 * (ngx_kefu_msg.c), the HTTP API (ngx_kefu_api_write.c) and the rules'
 * and bot's entries (ngx_kefu_bot_run.c).
 */


#ifndef _NGX_KEFU_MSG_EVENT_H_INCLUDED_
#define _NGX_KEFU_MSG_EVENT_H_INCLUDED_


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"


/* a msg call as the Redis layer takes it (copied when sent) */
typedef struct {
    ngx_kefu_script_t           *script;
    int                          nkeys;
    int                          argc;
    const char                 **argv;
    size_t                      *lens;
    const char                  *kv[1 + NGX_KEFU_MSG_ARGS];
    size_t                       kl[1 + NGX_KEFU_MSG_ARGS];
    u_char                       key[sizeof("kefu:{c:}")
                                     + NGX_KEFU_MAX_ID_LEN];
} ngx_kefu_msg_eval_t;

/* call (ngx_kefu_msg_argv() done) as msg or msg_slot, for a->conv */
void ngx_kefu_msg_eval_args(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_msg_args_t *a, ngx_kefu_msg_argv_t *call,
    ngx_kefu_msg_eval_t *e);

/*
 * An entry's JSON object ("ts" first; t NULL after a failure to build it,
 * t consumed) as the tail msg stores after the seq: "{" made ",";
 * malloc()ed by jansson (free()), NULL on a failure.  Every entry's tail
 * goes through it: a WebSocket message's and greeting (ngx_kefu_msg.c),
 * and ngx_kefu_msg_entry_tail()'s.
 */
char *ngx_kefu_msg_tail_dump(json_t *t);

/*
 * The other way: a stored entry's tail (",\"ts\":...}", as after the
 * seq) read as its JSON object, NULL if it is none; the "," is made "{"
 * for the parse and put back.  Every reader of a tail goes through it:
 * the search index (ngx_kefu_search.c) and the rules and bot
 * (ngx_kefu_bot_run.c, ngx_kefu_bot_answer.c).
 */
json_t *ngx_kefu_msg_tail_load(u_char *tail, size_t len);

/*
 * That of an entry the API or a bot writes: {"ts":..,<tail's fields>},
 * then "cid" (if not NULL) and "private":true (if priv)
 */
char *ngx_kefu_msg_entry_tail(json_t *tail, int64_t ts, const char *cid,
    ngx_uint_t priv);

/*
 * After msg's reply (any: only a stored message or a duplicate does
 * anything, and only in a cluster): its event put on the site's stream
 */
void ngx_kefu_msg_event(ngx_kefu_main_conf_t *kmcf, ngx_kefu_msg_args_t *a,
    redisReply *reply);

/*
 * The worker exits, after the Redis layer (whose failed event_puts gave
 * their events to the retry timer): the timer stopped, the events still
 * waiting freed and counted in the log (each conversation's next message
 * puts them, from its log)
 */
void ngx_kefu_msg_events_exit(ngx_kefu_main_conf_t *kmcf);


#endif /* _NGX_KEFU_MSG_EVENT_H_INCLUDED_ */
