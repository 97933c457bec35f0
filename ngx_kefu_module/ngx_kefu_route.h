
/*
 * Routing and the agents' actions as operations independent of the
 * transport (docs/routing.md): the WebSocket handlers (ngx_kefu_agent.c)
 * and the HTTP API call the same functions.
 *
 * Each operation is one atomic Redis script.  It takes the actor (who asks:
 * site, id, name, role), its arguments and a completion callback; it
 * copies what it needs, so the caller's strings may go once it returned.
 * The callback is called exactly once, possibly before the operation
 * returns (bad arguments, Redis not ready), with an outcome code and, for
 * NGX_KEFU_ROUTE_OK and NGX_KEFU_ROUTE_NOOP, the resulting JSON: for
 * conversation actions the "conv" notice the actor's clients are sent
 * ({"type":"conv","conv":..,"state":..,"agent":{..}?,...}), for status
 * {"type":"presence","agent":..,"state":..,"assigned":[notices]?}
 * ("assigned": what coming online gave the agent at once).  The JSON
 * belongs to the operation: json_incref() it to keep it.  The callback's data is the
 * caller's; like every Redis reply handler's it must still be valid when
 * the callback runs (pass a lookup key, not a pointer a departure frees).
 */


#ifndef _NGX_KEFU_ROUTE_H_INCLUDED_
#define _NGX_KEFU_ROUTE_H_INCLUDED_


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"


/* outcomes: WebSocket error codes / HTTP statuses in brackets */
#define NGX_KEFU_ROUTE_OK            0   /* done                     [200] */
#define NGX_KEFU_ROUTE_NOOP          1   /* already so: nothing changed [200] */
#define NGX_KEFU_ROUTE_BAD_REQUEST  -1   /* bad_request              [400] */
#define NGX_KEFU_ROUTE_FORBIDDEN    -2   /* forbidden: not the actor's, not
                                            of its site, or no such
                                            conversation             [403] */
#define NGX_KEFU_ROUTE_NOT_FOUND    -3   /* not_found: no such agent [404] */
#define NGX_KEFU_ROUTE_CONFLICT     -4   /* forbidden: wrong state, e.g. not
                                            queued, closed, agent
                                            offline                  [409] */
#define NGX_KEFU_ROUTE_UNAVAILABLE  -5   /* unavailable: Redis       [503] */
#define NGX_KEFU_ROUTE_INTERNAL     -6   /* internal                 [500] */


/* who acts; strings need not outlive the call */
typedef struct {
    ngx_kefu_site_t             *site;
    ngx_str_t                    id;          /* the actor's user id */
    ngx_str_t                    name;        /* display name, may be empty */
    ngx_uint_t                   role;        /* NGX_KEFU_ROLE_* */
    ngx_uint_t                   supervisor;  /* may join and act on any
                                                 conversation of the site
                                                 (role admin, or an agent
                                                 with a "supervisor" claim) */
    uint64_t                     session;     /* the acting WebSocket
                                                 session, 0 for none: that
                                                 session is not sent the
                                                 notice it gets as result */
} ngx_kefu_actor_t;


/* the arguments; what an operation does not use is ignored */
typedef struct {
    ngx_str_t                    conv;        /* conversation id; rate: may
                                                 be empty (the latest) */
    ngx_str_t                    agent;       /* transfer / assign target */
    ngx_str_t                    group;       /* transfer target */
    ngx_str_t                    state;       /* status: online, away */
    ngx_int_t                    score;       /* rate: 1-5 */
    ngx_str_t                    comment;     /* rate: at most 1000 bytes */
    ngx_str_t                    by;          /* handoff: visitor, api,
                                                 rule, bot */
    ngx_str_t                    text;        /* handoff: its entry's text,
                                                 empty for the built-in */
    unsigned                     queued:1;    /* transfer to a group: a
                                                 queued one too (a rule's
                                                 route) */
} ngx_kefu_route_args_t;


typedef void (*ngx_kefu_route_done_pt)(ngx_kefu_main_conf_t *kmcf,
    void *data, ngx_int_t code, const char *message, json_t *result);


/*
 * accept: an agent takes a queued conversation of its site (even above
 * capacity and the queue's order).
 * assign: a supervisor gives a queued or open conversation to args->agent.
 * transfer: the conversation's agent (or a supervisor) hands it to
 *     args->agent or to args->group (routed again there; queued if nobody
 *     is free).
 * close: the conversation's agent (or a supervisor) resolves it.
 * close_idle: the system closes one nobody wrote in (ngx_kefu_idle.c).
 * join: a supervisor watches (and may write to) a conversation.
 * status: an agent becomes online or away.
 * rate: a visitor scores its closed conversation.
 * handoff: a conversation in state bot goes to a person: routed like a new
 *     one (docs/automation.md "Handoff"); the visitor asks for its own
 *     (args->conv empty: its open one), the API, a rule or the bot for any
 *     of the site.  Not in bot: NOOP with the current notice.
 */
void ngx_kefu_route_accept(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_actor_t *actor, ngx_kefu_route_args_t *args,
    ngx_kefu_route_done_pt done, void *data);
void ngx_kefu_route_assign(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_actor_t *actor, ngx_kefu_route_args_t *args,
    ngx_kefu_route_done_pt done, void *data);
void ngx_kefu_route_transfer(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_actor_t *actor, ngx_kefu_route_args_t *args,
    ngx_kefu_route_done_pt done, void *data);
void ngx_kefu_route_close(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_actor_t *actor, ngx_kefu_route_args_t *args,
    ngx_kefu_route_done_pt done, void *data);
void ngx_kefu_route_close_idle(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, int64_t cut, ngx_str_t *text,
    ngx_kefu_route_done_pt done, void *data);
void ngx_kefu_route_join(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_actor_t *actor, ngx_kefu_route_args_t *args,
    ngx_kefu_route_done_pt done, void *data);
void ngx_kefu_route_status(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_actor_t *actor, ngx_kefu_route_args_t *args,
    ngx_kefu_route_done_pt done, void *data);
void ngx_kefu_route_rate(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_actor_t *actor, ngx_kefu_route_args_t *args,
    ngx_kefu_route_done_pt done, void *data);
void ngx_kefu_route_handoff(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_actor_t *actor, ngx_kefu_route_args_t *args,
    ngx_kefu_route_done_pt done, void *data);

/* the WebSocket error code and the HTTP status of an outcome */
const char *ngx_kefu_route_error_code(ngx_int_t code);
ngx_uint_t ngx_kefu_route_http_status(ngx_int_t code);


/*
 * Below: the module's own machinery for routing script calls, used by
 * ngx_kefu_route.c, ngx_kefu_presence.c and ngx_kefu_msg.c.
 */

#define NGX_KEFU_ROUTE_IDS           16    /* system entries per call */
#define NGX_KEFU_ROUTE_ARGS          20
#define NGX_KEFU_ROUTE_IDS_ARG       3     /* argv: key, site, now, ids */
#define NGX_KEFU_ROUTE_MAX_COMMENT   1000

typedef struct {
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_script_t           *script;
    ngx_kefu_site_t             *site;
    ngx_kefu_route_done_pt       done;
    void                        *data;
    ngx_kefu_redis_handler_pt    handler;
    ngx_uint_t                   again;
    int                          argc;
    const char                  *argv[NGX_KEFU_ROUTE_ARGS];
    size_t                       lens[NGX_KEFU_ROUTE_ARGS];
    u_char                      *pos;
    u_char                      *end;
    unsigned                     failed:1;
    u_char                       buf[NGX_KEFU_ROUTE_IDS * (NGX_INT64_LEN + 1)
                                     + 4096];
} ngx_kefu_route_call_t;

ngx_kefu_route_call_t *ngx_kefu_route_call(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_script_t *script, ngx_kefu_site_t *site, uint64_t session,
    ngx_kefu_route_done_pt done, void *data);
ngx_int_t ngx_kefu_route_arg(ngx_kefu_route_call_t *call, u_char *p,
    size_t len);
void ngx_kefu_route_run(ngx_kefu_route_call_t *call);
void ngx_kefu_route_reply(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
void ngx_kefu_route_drain(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    u_char *groups, size_t len);

/* a cluster's second step of a routing script (docs/storage.md, "Routing
 * in two steps"): conv_apply, then route_put, for each conversation of
 * the reply's list; done(data) when all came back (not called unless
 * NGX_OK; NGX_DECLINED: an empty list) */
typedef void (*ngx_kefu_route_applied_pt)(void *data);
ngx_int_t ngx_kefu_route_apply_list(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, redisReply *list, ngx_kefu_route_applied_pt done,
    void *data);


#endif /* _NGX_KEFU_ROUTE_H_INCLUDED_ */
