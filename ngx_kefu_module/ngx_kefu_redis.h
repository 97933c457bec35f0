
/*
 * Redis on nginx's event loop: hiredis's asynchronous API driven by nginx
 * events and timers.  Per worker, one connection for commands and one for
 * pub/sub, reconnected forever with capped exponential backoff.
 *
 * Replies reach a handler with the data given with the command; reply is
 * NULL when the command failed (timeout, disconnect).  Commands in flight
 * are capped per worker (kefu_redis_max_inflight): beyond the cap a command
 * is refused at once with NGX_BUSY, and its caller answers "unavailable".  The data must stay
 * valid until then: pass a lookup key (a session id), never a pointer to
 * something a client's departure frees.
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


/* a Lua script, loaded on every (re)connect, run by its SHA-1 */
typedef struct {
    ngx_str_t                    source;
    u_char                       sha1[40];
} ngx_kefu_script_t;


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
};


/*
 * Lua shared by the scripts: the site's event stream, kefu:{s:<site>}:events
 * (docs/events.md).  A script that changes a conversation calls
 * kefu_event() in the same atomic step as the change, so the stream holds
 * what happened, in order, and nothing that did not.  Its length is capped
 * (MAXLEN ~): consumers that fall further behind lose the oldest entries.
 * Prepend NGX_KEFU_LUA_EVENT to a script's source to use it.
 */
#define NGX_KEFU_EVENTS_MAX  "100000"

#define NGX_KEFU_LUA_EVENT                                                    \
"local function kefu_event(site, name, conv, seq, ts, data)\n"                \
"  redis.call('XADD', 'kefu:{s:' .. site .. '}:events', 'MAXLEN', '~',\n"     \
"             " NGX_KEFU_EVENTS_MAX ", '*', 'event', name, 'conv', conv,\n"   \
"             'seq', tostring(seq), 'ts', tostring(ts), 'data', data)\n"      \
NGX_KEFU_LUA_EVENT_INDEX                                                      \
"end\n"


/*
 * Part of kefu_event(): the indexes the HTTP API reads (docs/api.md).
 * kefu:{s:<site>}:convs orders the site's conversations by their last
 * event; kefu:{c:<conv>}:assignments keeps its state changes (the latest
 * 100) as {"event","seq","ts","data"}.
 */
#define NGX_KEFU_LUA_EVENT_INDEX                                              \
"  if conv ~= '' then\n"                                                      \
"    local t = string.match(tostring(ts), '^%d+$') or '0'\n"                  \
"    local s = string.match(tostring(seq), '^%d+$') or 'null'\n"              \
"    redis.call('ZADD', 'kefu:{s:' .. site .. '}:convs', t, conv)\n"          \
"    if string.sub(name, 1, 5) == 'conv.' then\n"                             \
"      local k = 'kefu:{c:' .. conv .. '}:assignments'\n"                     \
"      redis.call('RPUSH', k, '{\"event\":' .. cjson.encode(name) ..\n"       \
"                 ',\"seq\":' .. s .. ',\"ts\":' .. t .. ',\"data\":' ..\n"  \
"                 (data ~= '' and data or 'null') .. '}')\n"                  \
"      redis.call('LTRIM', k, -100, -1)\n"                                    \
"    end\n"                                                                   \
"  end\n"


/* ngx_kefu_scripts.c */
extern ngx_kefu_script_t  ngx_kefu_script_msg;
extern ngx_kefu_script_t  ngx_kefu_script_range;
extern ngx_kefu_script_t  ngx_kefu_script_summaries;
extern ngx_kefu_script_t  ngx_kefu_script_read;
extern ngx_kefu_script_t  ngx_kefu_script_history;
extern ngx_kefu_script_t  ngx_kefu_script_status;   /* ngx_kefu_status.c */
extern ngx_kefu_script_t  ngx_kefu_script_node_claim;
extern ngx_kefu_script_t  ngx_kefu_script_node_release;

/* ngx_kefu_route_scripts.c */
extern ngx_kefu_script_t  ngx_kefu_script_route_up;
extern ngx_kefu_script_t  ngx_kefu_script_route_down;
extern ngx_kefu_script_t  ngx_kefu_script_route_sweep;
extern ngx_kefu_script_t  ngx_kefu_script_lease_renew;
extern ngx_kefu_script_t  ngx_kefu_script_lease_sync;
extern ngx_kefu_script_t  ngx_kefu_script_lease_release;
extern ngx_kefu_script_t  ngx_kefu_script_route_status;
extern ngx_kefu_script_t  ngx_kefu_script_route_accept;
extern ngx_kefu_script_t  ngx_kefu_script_route_handover;
extern ngx_kefu_script_t  ngx_kefu_script_route_close;
extern ngx_kefu_script_t  ngx_kefu_script_route_join;
extern ngx_kefu_script_t  ngx_kefu_script_route_rate;
extern ngx_kefu_script_t  ngx_kefu_script_route_drain;

extern ngx_kefu_script_t *ngx_kefu_scripts[];

/* ngx_kefu_api_scripts.c */
extern ngx_kefu_script_t  ngx_kefu_script_api_list;
extern ngx_kefu_script_t  ngx_kefu_script_api_conv;
extern ngx_kefu_script_t  ngx_kefu_script_api_log;
extern ngx_kefu_script_t  ngx_kefu_script_api_agents;
extern ngx_kefu_script_t  ngx_kefu_script_api_queue;

/* ngx_kefu_upload.c, ngx_kefu_upload_sweep.c */
extern ngx_kefu_script_t  ngx_kefu_script_upload_check;
extern ngx_kefu_script_t  ngx_kefu_script_upload_done;
extern ngx_kefu_script_t  ngx_kefu_script_upload_sweep;


char *ngx_kefu_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_kefu_redis_init_process(ngx_cycle_t *cycle);
void ngx_kefu_redis_exit_process(ngx_cycle_t *cycle);

ngx_int_t ngx_kefu_redis_consume(ngx_kefu_redis_t *rd,
    const ngx_kefu_redis_consumer_t *consumer);

ngx_uint_t ngx_kefu_redis_ready(ngx_kefu_redis_t *rd);
ngx_kefu_main_conf_t *ngx_kefu_redis_main_conf(ngx_kefu_redis_t *rd);

ngx_int_t ngx_kefu_redis_command(ngx_kefu_redis_t *rd,
    ngx_kefu_redis_handler_pt h, void *data, int argc, const char **argv,
    const size_t *argvlen);
ngx_int_t ngx_kefu_redis_eval(ngx_kefu_redis_t *rd, ngx_kefu_script_t *s,
    ngx_kefu_redis_handler_pt h, void *data, int nkeys, int argc,
    const char **argv, const size_t *argvlen);

ngx_int_t ngx_kefu_redis_subscribe(ngx_kefu_redis_t *rd, ngx_str_t *channel);
ngx_int_t ngx_kefu_redis_unsubscribe(ngx_kefu_redis_t *rd,
    ngx_str_t *channel);

ngx_uint_t ngx_kefu_redis_is_loading(redisReply *r);


#endif /* _NGX_KEFU_REDIS_H_INCLUDED_ */
