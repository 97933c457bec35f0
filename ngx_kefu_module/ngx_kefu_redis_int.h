
/*
 * The Redis layer's own structures, shared by its files and by nobody
 * else: ngx_kefu_redis.c (links, commands, scripts),
 * ngx_kefu_redis_cluster.c (slot map, routing, redirections) and
 * ngx_kefu_redis_shard.c (sharded pub/sub links).  The Sentinel client
 * (ngx_kefu_redis_sentinel.c) only uses ngx_kefu_redis.h.
 */


#ifndef _NGX_KEFU_REDIS_INT_H_INCLUDED_
#define _NGX_KEFU_REDIS_INT_H_INCLUDED_


#include "ngx_kefu_redis.h"


/* at least the number of ngx_kefu_scripts[] */
#define NGX_KEFU_REDIS_SCRIPTS_MAX  128

#define NGX_KEFU_REDIS_BACKOFF_MIN  100
#define NGX_KEFU_REDIS_BACKOFF_MAX  5000

/* Redis Cluster's hash slots, and how far one call is redirected */
#define NGX_KEFU_REDIS_SLOTS        16384
#define NGX_KEFU_REDIS_REDIRECTS    5
#define NGX_KEFU_REDIS_NODES_MAX    32

/* TRYAGAIN (a slot half migrated): the call again after a pause */
#define NGX_KEFU_REDIS_TRYAGAIN      20
#define NGX_KEFU_REDIS_TRYAGAIN_WAIT 50


enum {
    NGX_KEFU_LINK_DOWN = 0,
    NGX_KEFU_LINK_CONNECTING,
    NGX_KEFU_LINK_HANDSHAKE,
    NGX_KEFU_LINK_READY
};


/* what ngx_kefu_redis_tell() tells */
enum {
    NGX_KEFU_REDIS_READY = 0,
    NGX_KEFU_REDIS_SUB_READY,
    NGX_KEFU_REDIS_SUB_LOST
};


typedef struct ngx_kefu_redis_link_s  ngx_kefu_redis_link_t;
typedef struct ngx_kefu_redis_node_s  ngx_kefu_redis_node_t;


/* a SCRIPT LOAD on one link: what its reply clears */
typedef struct {
    ngx_kefu_redis_link_t       *link;
    unsigned                     loading:1;
} ngx_kefu_redis_load_t;


/* one command in flight, in the order sent */
typedef struct {
    ngx_queue_t                  queue;
    ngx_kefu_redis_link_t       *link;
    ngx_kefu_redis_handler_pt    handler;
    void                        *data;
    ngx_msec_t                   sent;
    ngx_kefu_script_t           *script;    /* EVALSHA: what NOSCRIPT loads */
    char                        *cmd;       /* kept for a rerun or redirect */
    size_t                       len;
    ngx_uint_t                   redirects;
    ngx_uint_t                   tryagains;   /* TRYAGAIN retries so far */
    ngx_int_t                    slot;      /* cluster: its key's, or -1 */
    ngx_event_t                  wait;      /* cluster: TRYAGAIN's pause */
    ngx_uint_t                   weight;    /* commands it counts: a batch's
                                               messages, else 1 */
    unsigned                     retried:1;
    unsigned                     follow:1;  /* ngx_kefu_redis_eval_follow() */
} ngx_kefu_redis_req_t;


/* a hiredis asynchronous connection: commands, or (one Redis) pub/sub */
struct ngx_kefu_redis_link_s {
    ngx_kefu_redis_t            *rd;
    ngx_kefu_redis_node_t       *node;      /* cluster: whose link */
    redisAsyncContext           *ac;
    ngx_connection_t            *c;
    const char                  *host;      /* numeric, or a unix path */
    int                          port;      /* 0 for a unix socket */
    ngx_event_t                  retry;
    ngx_event_t                  timer;     /* connect, or oldest command */
    ngx_queue_t                  inflight;
    ngx_uint_t                   ninflight;
    ngx_uint_t                   nfollow;   /* of them, follow-up writes */
    ngx_msec_t                   backoff;
    ngx_uint_t                   state;
    ngx_uint_t                   failures;
    const char                  *name;
    ngx_kefu_redis_load_t        loads[NGX_KEFU_REDIS_SCRIPTS_MAX];
    unsigned                     subscriber:1;
    unsigned                     loading_data:1;  /* said so, until ready */
    unsigned                     functions:1;     /* calls are FCALLs */
    unsigned                     lib_loading:1;   /* a FUNCTION LOAD again */
};


/*
 * A sharded pub/sub link (cluster): SSUBSCRIBE and its pushes, which
 * hiredis 0.14's asynchronous API cannot route, so it is an nginx
 * connection of its own that only uses hiredis's reply parser.
 */
typedef struct {
    ngx_kefu_redis_node_t       *node;
    ngx_connection_t            *c;
    ngx_str_t                    name;
    redisReader                 *reader;
    u_char                      *out;       /* commands not yet written */
    size_t                       out_pos;
    size_t                       out_len;
    size_t                       out_size;
    ngx_event_t                  retry;
    ngx_event_t                  timer;     /* connect, or a ping's pong */
    ngx_msec_t                   backoff;
    ngx_uint_t                   state;
    ngx_uint_t                   failures;
    unsigned                     pinging:1;
} ngx_kefu_redis_shard_t;


/* a cluster node: its command link and its sharded pub/sub link */
struct ngx_kefu_redis_node_s {
    ngx_kefu_redis_t            *rd;
    ngx_uint_t                   index;
    u_char                       host[NGX_SOCKADDR_STRLEN + 1];
    int                          port;
    ngx_sockaddr_t               sockaddr;
    socklen_t                    socklen;
    u_char                       name[NGX_SOCKADDR_STRLEN + 16];
    ngx_kefu_redis_link_t        cmd;
    ngx_kefu_redis_shard_t       sub;
    ngx_uint_t                   owned;     /* slots it serves in the map */
    unsigned                     seed:1;
};


struct ngx_kefu_redis_s {
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_redis_conf_t       *conf;
    ngx_log_t                   *log;
    ngx_kefu_redis_link_t        cmd;
    ngx_kefu_redis_link_t        sub;
    ngx_kefu_redis_sentinel_t   *sentinels; /* kefu_redis sentinel */
    ngx_kefu_script_t           *durable;   /* wait=: what WAITs */
    ngx_rbtree_t                 channels;  /* wanted: ngx_str_node + count */
    ngx_rbtree_node_t            sentinel;
    ngx_uint_t                   reconnects;
    ngx_uint_t                   commands;
    ngx_uint_t                   queued;    /* awaiting replies, all links */
    ngx_uint_t                   timeouts;
    ngx_event_t                  ping;      /* the health check */
    ngx_msec_t                   probe_sent;
    ngx_str_t                    probe;     /* this worker's channel */
    u_char                       probe_name[sizeof("kefu:h:") + 32];
    const ngx_kefu_redis_consumer_t
                                *consumers[NGX_KEFU_REDIS_CONSUMERS_MAX];
    ngx_uint_t                   nconsumers;

    /* cluster */
    ngx_kefu_redis_node_t       *nodes[NGX_KEFU_REDIS_NODES_MAX];
    ngx_uint_t                   nnodes;
    u_char                      *slots;     /* node index + 1; 0: unknown */
    ngx_event_t                  refresh;   /* the slot map, asked again */
    ngx_uint_t                   maps;      /* slot maps taken */

    unsigned                     probing:1; /* published, not yet heard */
    unsigned                     probe_subscribed:1;
    unsigned                     busy:1;    /* at the cap, said once */
    unsigned                     overdue:1; /* too late, said once */
    unsigned                     exiting:1;
    unsigned                     map_known:1;
    unsigned                     map_asked:1;  /* CLUSTER SLOTS in flight */
    unsigned                     ready_told:1; /* READY since last not ready */
};


typedef struct {
    ngx_str_node_t               sn;
    ngx_uint_t                   count;
    ngx_int_t                    node;      /* cluster: subscribed there */
    ngx_uint_t                   slot;
    u_char                       data[];
} ngx_kefu_redis_channel_t;


/* ngx_kefu_redis.c */
void ngx_kefu_redis_link_init(ngx_kefu_redis_link_t *link,
    ngx_kefu_redis_t *rd, const char *name);
void ngx_kefu_redis_connect(ngx_kefu_redis_link_t *link);
ngx_int_t ngx_kefu_redis_send(ngx_kefu_redis_link_t *link,
    ngx_kefu_redis_handler_pt h, void *data, int argc, const char **argv,
    const size_t *argvlen);
void ngx_kefu_redis_tell(ngx_kefu_redis_t *rd, ngx_uint_t what);
void ngx_kefu_redis_tell_subscribed(ngx_kefu_redis_t *rd,
    ngx_str_t *channel);
void ngx_kefu_redis_tell_message(ngx_kefu_redis_t *rd, ngx_str_t *channel,
    ngx_str_t *payload);

/* ngx_kefu_redis_cluster.c */
char *ngx_kefu_redis_cluster_conf(ngx_conf_t *cf, ngx_kefu_redis_conf_t *rc,
    ngx_str_t *addr);
ngx_int_t ngx_kefu_redis_cluster_init(ngx_kefu_redis_t *rd);
void ngx_kefu_redis_cluster_exit(ngx_kefu_redis_t *rd);
ngx_kefu_redis_link_t *ngx_kefu_redis_cluster_route(ngx_kefu_redis_t *rd,
    ngx_uint_t slot);
ngx_uint_t ngx_kefu_redis_cluster_ready(ngx_kefu_redis_t *rd);
void ngx_kefu_redis_cluster_link_ready(ngx_kefu_redis_link_t *link);
ngx_uint_t ngx_kefu_redis_cluster_link_down(ngx_kefu_redis_link_t *link);
ngx_kefu_redis_node_t *ngx_kefu_redis_cluster_redirect(ngx_kefu_redis_t *rd,
    redisReply *r, ngx_uint_t *ask);
void ngx_kefu_redis_cluster_refresh(ngx_kefu_redis_t *rd);

/* ngx_kefu_redis_shard.c */
void ngx_kefu_redis_shard_connect(ngx_kefu_redis_node_t *node);
void ngx_kefu_redis_shard_close(ngx_kefu_redis_node_t *node,
    ngx_uint_t retry);
void ngx_kefu_redis_shard_subscribe(ngx_kefu_redis_t *rd,
    ngx_kefu_redis_channel_t *ch);
void ngx_kefu_redis_shard_unsubscribe(ngx_kefu_redis_t *rd,
    ngx_kefu_redis_channel_t *ch);
void ngx_kefu_redis_shard_remap(ngx_kefu_redis_t *rd);
void ngx_kefu_redis_shard_ping(ngx_kefu_redis_t *rd);
ngx_uint_t ngx_kefu_redis_shard_ready(ngx_kefu_redis_t *rd);


#endif /* _NGX_KEFU_REDIS_INT_H_INCLUDED_ */
