
/*
 * Redis on nginx's event loop: hiredis's asynchronous API driven by nginx
 * events and timers.  Per worker, one connection for commands and one for
 * pub/sub, reconnected forever with capped exponential backoff; with
 * "kefu_redis cluster", both per master (ngx_kefu_redis_cluster.c,
 * ngx_kefu_redis_shard.c); with "kefu_redis sentinel", both to the master
 * the Sentinels name (ngx_kefu_redis_sentinel.c).  Callers never see a connection: a command's
 * key is its first argument, a script call's its first key, and the layer
 * sends it where that key lives.
 *
 * Replies reach a handler with the data given with the command; reply is
 * NULL when the command failed (timeout, disconnect).  Replies to calls on
 * different masters come in no particular order.  Commands in flight are
 * capped per connection (kefu_redis_max_inflight): beyond the cap a
 * command is refused at once with NGX_BUSY, and its caller answers
 * "unavailable".  The data must stay valid until then: pass a lookup key
 * (a session id), never a pointer to something a client's departure frees.
 *
 * Link events and pub/sub messages reach the rest of the module only
 * through the consumers it registered (ngx_kefu_redis_consume()).
 */


#ifndef _NGX_KEFU_REDIS_H_INCLUDED_
#define _NGX_KEFU_REDIS_H_INCLUDED_


#include "ngx_kefu.h"
#include <hiredis/hiredis.h>
#include <hiredis/async.h>


typedef void (*ngx_kefu_redis_handler_pt)(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);


/*
 * What a part of the module wants to hear from the Redis layer: its links'
 * events and the messages on the channels subscribed.  The layer calls
 * these and nothing else above it; any member may be NULL.  Consumers are
 * called in the order they registered (ngx_kefu_init_process()).
 */
typedef struct {
    /* the command link is (again) ready, its scripts loaded before */
    void  (*ready)(ngx_kefu_main_conf_t *kmcf);
    /* the pub/sub link is (again) ready, its channels being subscribed */
    void  (*sub_ready)(ngx_kefu_main_conf_t *kmcf);
    /* the pub/sub link was lost: what was published meanwhile is gone */
    void  (*sub_lost)(ngx_kefu_main_conf_t *kmcf);
    /* a channel's subscription confirmed: its messages come from now on */
    void  (*subscribed)(ngx_kefu_main_conf_t *kmcf, ngx_str_t *channel);
    /* a message on a channel subscribed */
    void  (*message)(ngx_kefu_main_conf_t *kmcf, ngx_str_t *channel,
                     ngx_str_t *payload);
} ngx_kefu_redis_consumer_t;

#define NGX_KEFU_REDIS_CONSUMERS_MAX  8


/* a Lua script: on a Redis with functions (7 and later) a function of
 * ngx_kefu_lua_library, loaded on every (re)connect and run by FCALL of
 * its name; else loaded by SCRIPT LOAD and run by its SHA-1 */
typedef struct {
    ngx_str_t                    source;
    u_char                       sha1[40];
    ngx_str_t                    fname;
} ngx_kefu_script_t;


/* kefu_redis sentinel: ngx_kefu_redis_sentinel.c */
typedef struct ngx_kefu_redis_sentinel_conf_s  ngx_kefu_redis_sentinel_conf_t;
typedef struct ngx_kefu_redis_sentinel_s  ngx_kefu_redis_sentinel_t;

/* a numeric address, as hiredis takes it */
typedef struct {
    u_char                      *host;        /* NUL-terminated */
    ngx_int_t                    port;
} ngx_kefu_redis_addr_t;


struct ngx_kefu_redis_conf_s {
    ngx_str_t                    host;        /* numeric, or a unix path */
    ngx_int_t                    port;        /* 0 for a unix socket */
    ngx_array_t                 *seeds;       /* cluster: addr_t, or NULL */
    ngx_str_t                    user;        /* an ACL user, or empty */
    ngx_str_t                    password;
    ngx_int_t                    db;
    ngx_msec_t                   connect_timeout;
    ngx_msec_t                   timeout;
    ngx_msec_t                   ping;        /* health check interval */
    ngx_int_t                    wait;        /* replicas a message waits for */
    ngx_msec_t                   wait_timeout;
    ngx_kefu_redis_sentinel_conf_t  *sentinel;  /* or NULL: host and port */
};


/*
 * The scripts (the files in lua/), generated into C at configure time
 * (lua/ngx_kefu_lua.sh): ngx_kefu_script_<name> for lua/<name>.lua,
 * ngx_kefu_scripts[], all of them, and ngx_kefu_lua_library, all of them
 * as one library of Redis functions.
 */
#include "ngx_kefu_lua.h"
#include "ngx_kefu_script_args.h"


char *ngx_kefu_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_kefu_redis_init_process(ngx_cycle_t *cycle);
void ngx_kefu_redis_exit_process(ngx_cycle_t *cycle);

ngx_int_t ngx_kefu_redis_consume(ngx_kefu_redis_t *rd,
    const ngx_kefu_redis_consumer_t *consumer);

ngx_uint_t ngx_kefu_redis_ready(ngx_kefu_redis_t *rd);
/* "kefu_redis cluster" (several masters, keys of one slot a call) */
ngx_uint_t ngx_kefu_redis_cluster(ngx_kefu_redis_t *rd);
ngx_kefu_main_conf_t *ngx_kefu_redis_main_conf(ngx_kefu_redis_t *rd);
/* a key's Redis Cluster hash slot (its {tag}'s) */
ngx_uint_t ngx_kefu_redis_slot(const u_char *key, size_t len);

ngx_int_t ngx_kefu_redis_command(ngx_kefu_redis_t *rd,
    ngx_kefu_redis_handler_pt h, void *data, int argc, const char **argv,
    const size_t *argvlen);
ngx_int_t ngx_kefu_redis_eval(ngx_kefu_redis_t *rd, ngx_kefu_script_t *s,
    ngx_kefu_redis_handler_pt h, void *data, int nkeys, int argc,
    const char **argv, const size_t *argvlen);

/*
 * A batch of n messages in one call: each admitted when it joins
 * (pending: the batch's messages before it, bound where key lives), the
 * call then counted as n commands in flight (kefu_redis_max_inflight
 * counts messages)
 */
ngx_int_t ngx_kefu_redis_admit_key(ngx_kefu_redis_t *rd, const u_char *key,
    size_t len, ngx_uint_t pending);
/*
 * The same bounds checked before the command is built, nothing counted
 * for what would pass: NGX_OK, or NGX_BUSY / NGX_DECLINED (refused, and
 * counted as refused)
 */
ngx_int_t ngx_kefu_redis_room_key(ngx_kefu_redis_t *rd, const u_char *key,
    size_t len, ngx_uint_t pending);
ngx_int_t ngx_kefu_redis_eval_n(ngx_kefu_redis_t *rd, ngx_kefu_script_t *s,
    ngx_kefu_redis_handler_pt h, void *data, ngx_uint_t n, int nkeys,
    int argc, const char **argv, const size_t *argvlen);

/*
 * A plain (non-script) command's argv and lens from its words, each an
 * ngx_str_t *, a literal word as ngx_kefu_word("ZRANGE"):
 *
 *     ngx_kefu_redis_args(&a, ngx_kefu_word("DEL"), &key);
 *     ngx_kefu_redis_command(rd, h, data, a.argc, a.argv, a.lens);
 *
 * The words fill an array of NGX_KEFU_REDIS_ARGS: more are a compile-time
 * error ("excess elements"), not a command cut short.  The words' bytes are
 * not copied: they must live until the command is sent (hiredis copies it).
 */
#define NGX_KEFU_REDIS_ARGS  8

typedef struct {
    int                          argc;
    const char                  *argv[NGX_KEFU_REDIS_ARGS];
    size_t                       lens[NGX_KEFU_REDIS_ARGS];
} ngx_kefu_redis_args_t;

#define ngx_kefu_word(s)  (&(ngx_str_t) ngx_string(s))

#define ngx_kefu_redis_args(a, ...)                                           \
    ngx_kefu_redis_args_set(a,                                                \
                            (ngx_str_t *[NGX_KEFU_REDIS_ARGS]) { __VA_ARGS__ })

void ngx_kefu_redis_args_set(ngx_kefu_redis_args_t *a, ngx_str_t **words);

ngx_int_t ngx_kefu_redis_eval_follow(ngx_kefu_redis_t *rd,
    ngx_kefu_script_t *s, ngx_kefu_redis_handler_pt h, void *data,
    int nkeys, int argc, const char **argv, const size_t *argvlen);

/*
 * The same two for a call built by its script's ngx_kefu_<name>_args()
 * (ngx_kefu_script_args.h), which callers chain:
 *
 *     if (ngx_kefu_range_args(&call, &conv, from, n) != NGX_OK
 *         || ngx_kefu_redis_eval_call(rd, &ngx_kefu_script_range, h, data,
 *                                     &call)
 *            != NGX_OK)
 *
 * call may live on the stack: the command is copied before they return.
 */
ngx_int_t ngx_kefu_redis_eval_call(ngx_kefu_redis_t *rd, ngx_kefu_script_t *s,
    ngx_kefu_redis_handler_pt h, void *data, ngx_kefu_call_t *call);
ngx_int_t ngx_kefu_redis_follow_call(ngx_kefu_redis_t *rd,
    ngx_kefu_script_t *s, ngx_kefu_redis_handler_pt h, void *data,
    ngx_kefu_call_t *call);

/* ngx_kefu_redis_ev.c: hiredis on nginx's events */
ngx_connection_t *ngx_kefu_redis_ev_attach(redisAsyncContext *ac,
    void *owner, ngx_log_t *log, void (*cleanup)(void *privdata));
void *ngx_kefu_redis_ev_detach(void *privdata);

/* ngx_kefu_redis_gather.c: one script per item, pipelined, one reply */
ngx_int_t ngx_kefu_redis_gather(ngx_kefu_redis_t *rd, ngx_kefu_script_t *s,
    ngx_kefu_call_t *calls, ngx_uint_t n, ngx_uint_t flat,
    ngx_kefu_redis_handler_pt h, void *data);

/* builds calls[i] of a gather */
typedef ngx_int_t (*ngx_kefu_gather_args_pt)(ngx_kefu_call_t *call,
    ngx_uint_t i, void *data);

ngx_int_t ngx_kefu_redis_gather_each(ngx_kefu_redis_t *rd,
    ngx_kefu_script_t *s, ngx_uint_t n, ngx_kefu_gather_args_pt args,
    void *args_data, ngx_uint_t flat, ngx_kefu_redis_handler_pt h,
    void *data);

/* the fields of each conversation named at index->element[first + i * step]
 * (ngx_kefu_script_conv_fields) */
typedef struct {
    redisReply                  *index;
    size_t                       first;
    size_t                       step;
    const char                 **fields;
    ngx_uint_t                   nfields;
} ngx_kefu_gather_convs_t;

ngx_int_t ngx_kefu_gather_conv_fields(ngx_kefu_call_t *call, ngx_uint_t i,
    void *data);
redisReply *ngx_kefu_redis_empty_reply(void);
redisReply *ngx_kefu_redis_reply_copy(ngx_pool_t *pool, redisReply *r);

ngx_int_t ngx_kefu_redis_subscribe(ngx_kefu_redis_t *rd, ngx_str_t *channel);
ngx_int_t ngx_kefu_redis_unsubscribe(ngx_kefu_redis_t *rd,
    ngx_str_t *channel);

ngx_uint_t ngx_kefu_redis_is_loading(redisReply *r);

/* the master's address changed (Sentinel): the links go there */
void ngx_kefu_redis_master_changed(ngx_kefu_redis_t *rd);
ngx_log_t *ngx_kefu_redis_log(ngx_kefu_redis_t *rd);

/* ngx_kefu_redis_sentinel.c */
char *ngx_kefu_redis_sentinel_conf(ngx_conf_t *cf, ngx_kefu_redis_conf_t *rc,
    ngx_uint_t *next);
ngx_int_t ngx_kefu_redis_sentinel_param(ngx_conf_t *cf,
    ngx_kefu_redis_conf_t *rc, ngx_str_t *value);
ngx_kefu_redis_sentinel_t *ngx_kefu_redis_sentinel_init(ngx_kefu_redis_t *rd,
    ngx_kefu_redis_conf_t *rc, ngx_log_t *log);
void ngx_kefu_redis_sentinel_exit(ngx_kefu_redis_sentinel_t *s);
ngx_int_t ngx_kefu_redis_sentinel_addr(ngx_kefu_redis_sentinel_t *s,
    const char **host, int *port);
void ngx_kefu_redis_sentinel_link_down(ngx_kefu_redis_sentinel_t *s,
    const char *why);


#endif /* _NGX_KEFU_REDIS_H_INCLUDED_ */
