
/*
 * The session zone: shared memory, one per http block, that every worker
 * of this host sees.  It records who is connected (session, identity, which
 * worker holds it) and host-wide counters.  It survives "nginx -s reload":
 * the new cycle takes over the old zone.
 */


#ifndef _NGX_KEFU_ZONE_H_INCLUDED_
#define _NGX_KEFU_ZONE_H_INCLUDED_


#include "ngx_kefu.h"


/* anonymous sessions from one client address (kefu_anonymous_per_address) */
typedef struct {
    ngx_rbtree_node_t            node;       /* key: crc32 of the address */
    ngx_uint_t                   sessions;
    u_char                       len;
    u_char                       addr[1];
} ngx_kefu_zone_addr_t;


typedef struct {
    ngx_rbtree_node_t            node;       /* key: the session id */
    ngx_queue_t                  queue;
    ngx_kefu_zone_addr_t        *addr;       /* counted there, or NULL */
    ngx_pid_t                    pid;        /* the worker holding it */
    time_t                       started;
    uint16_t                     site;       /* index into the sites */
    u_char                       role;
    u_char                       len;        /* of id */
    u_char                       state;      /* agents: NGX_KEFU_PRESENCE_* */
    uint16_t                     load;       /* agents: open conversations */
    u_char                       id[1];
} ngx_kefu_zone_session_t;


/*
 * One worker's subscription to one channel (a conversation's or a
 * participant's): how many of its connections are in it.  Summed over the
 * workers it is the host's view of a conversation.
 */
typedef struct {
    ngx_rbtree_node_t            node;       /* key: crc32 of the channel */
    ngx_queue_t                  queue;
    ngx_pid_t                    pid;
    ngx_uint_t                   members;
    u_char                       len;
    u_char                       channel[1];
} ngx_kefu_zone_channel_t;


/* what one worker reports of itself; slots are indexed by ngx_worker */
#define NGX_KEFU_ZONE_WORKERS        64

typedef struct {
    ngx_atomic_t                 pid;
    ngx_atomic_t                 redis_cmd;   /* 1: the connection is ready */
    ngx_atomic_t                 redis_sub;
} ngx_kefu_zone_worker_t;
/* an agent's availability, as mirrored from Redis (docs/routing.md) */
#define NGX_KEFU_PRESENCE_UNKNOWN    0
#define NGX_KEFU_PRESENCE_ONLINE     1
#define NGX_KEFU_PRESENCE_AWAY       2
#define NGX_KEFU_PRESENCE_OFFLINE    3


typedef struct {
    ngx_rbtree_t                 rbtree;
    ngx_rbtree_node_t            sentinel;
    ngx_queue_t                  sessions;

    ngx_rbtree_t                 addrs;
    ngx_rbtree_node_t            addrs_sentinel;

    ngx_rbtree_t                 channels;
    ngx_rbtree_node_t            channels_sentinel;
    ngx_queue_t                  channels_queue;

    ngx_atomic_t                 sessions_n;
    ngx_atomic_t                 channels_n;  /* worker subscriptions */
    ngx_atomic_t                 channels_refused;
    ngx_atomic_t                 refused;     /* zone full */
    ngx_atomic_t                 refused_visitors;  /* the reserve reached */
    ngx_atomic_t                 refused_address;   /* per-address cap */
    ngx_atomic_t                 by_role[4];

    /* zeroed with a new zone; kept, like the sessions, across reloads */
    ngx_kefu_stats_t             stats;
    ngx_kefu_zone_worker_t       workers[NGX_KEFU_ZONE_WORKERS];
} ngx_kefu_zone_sh_t;


struct ngx_kefu_zone_s {
    ngx_kefu_zone_sh_t          *sh;
    ngx_slab_pool_t             *shpool;
};


char *ngx_kefu_zone_add(ngx_conf_t *cf, ngx_str_t *name, size_t size);
ngx_int_t ngx_kefu_zone_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_kefu_zone_session_add(ngx_kefu_zone_t *zone, uint64_t sid,
    ngx_uint_t site, ngx_uint_t role, ngx_str_t *id, ngx_str_t *addr,
    ngx_uint_t per_addr);
void ngx_kefu_zone_session_del(ngx_kefu_zone_t *zone, uint64_t sid);
void ngx_kefu_zone_session_agent(ngx_kefu_zone_t *zone, uint64_t sid,
    ngx_int_t state, ngx_int_t load);

/* ngx_kefu_zone_channel.c */
void ngx_kefu_zone_channels_init(ngx_kefu_zone_sh_t *sh);
ngx_uint_t ngx_kefu_zone_channels_reap(ngx_kefu_zone_t *zone);
ngx_kefu_zone_channel_t *ngx_kefu_zone_channel_add(ngx_kefu_zone_t *zone,
    ngx_str_t *channel);
void ngx_kefu_zone_channel_members(ngx_kefu_zone_t *zone,
    ngx_kefu_zone_channel_t *zc, ngx_int_t delta);
void ngx_kefu_zone_channel_del(ngx_kefu_zone_t *zone,
    ngx_kefu_zone_channel_t *zc);
ngx_uint_t ngx_kefu_zone_channel_count(ngx_kefu_zone_t *zone,
    ngx_str_t *channel, ngx_uint_t *workers);
ngx_uint_t ngx_kefu_zone_pid_gone(ngx_pid_t pid);


#endif /* _NGX_KEFU_ZONE_H_INCLUDED_ */
