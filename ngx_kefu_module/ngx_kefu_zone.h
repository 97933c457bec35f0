
/*
 * The session zone: shared memory, one per http block, that every worker
 * of this host sees.  It records who is connected (session, identity, which
 * worker holds it) and host-wide counters.  It survives "nginx -s reload":
 * the new cycle takes over the old zone.
 */


#ifndef _NGX_KEFU_ZONE_H_INCLUDED_
#define _NGX_KEFU_ZONE_H_INCLUDED_


#include "ngx_kefu.h"


/*
 * Anonymous sessions from one client address (kefu_anonymous_per_address):
 * 64 bytes with an IPv4 address, 128 with a long IPv6 one.
 */
typedef struct {
    ngx_rbtree_node_t            node;       /* key: crc32 of the address */
    uint32_t                     sessions;
    u_char                       len;
    u_char                       addr[1];
} ngx_kefu_zone_addr_t;


/*
 * A session, 32 bytes: only what the host needs of it, its place for
 * kefu_anonymous_per_address and the gauges by role, and the worker that
 * holds it, so that the worker that replaces one that died can give its
 * sessions' room back.  The connection keeps the pointer (ws->zone_session);
 * nothing looks a session up.
 */
typedef struct {
    ngx_queue_t                  queue;      /* of all sessions */
    ngx_kefu_zone_addr_t        *addr;       /* counted there, or NULL */
    ngx_pid_t                    pid;        /* the worker holding it */
    u_char                       role;
} ngx_kefu_zone_session_t;


/*
 * One nginx process's count of the channels it subscribed to for its
 * connections (a conversation's, a participant's, a site's), summed over
 * the processes alive for the "subscriptions" gauge.  A slot is a
 * process's, not a worker number's: after a reload, old workers that still
 * drain connections run beside the new ones.
 */
#define NGX_KEFU_ZONE_PROCS          64

typedef struct {
    ngx_atomic_t                 pid;
    ngx_atomic_t                 subscriptions;
} ngx_kefu_zone_proc_t;


/* what one worker reports of itself; slots are indexed by ngx_worker */
#define NGX_KEFU_ZONE_WORKERS        64

typedef struct {
    ngx_atomic_t                 pid;
    ngx_atomic_t                 redis_cmd;   /* 1: the connection is ready */
    ngx_atomic_t                 redis_sub;
    ngx_atomic_t                 redis_queue; /* commands awaiting replies */
} ngx_kefu_zone_worker_t;


typedef struct {
    ngx_queue_t                  sessions;

    ngx_rbtree_t                 addrs;
    ngx_rbtree_node_t            addrs_sentinel;

    ngx_atomic_t                 sessions_n;
    ngx_atomic_t                 uncounted;   /* subscriptions: no slot */
    ngx_atomic_t                 refused;     /* zone full */
    ngx_atomic_t                 refused_visitors;  /* the reserve reached */
    ngx_atomic_t                 refused_address;   /* per-address cap */
    ngx_atomic_t                 by_role[4];

    /* zeroed with a new zone; kept, like the sessions, across reloads */
    ngx_kefu_stats_t             stats;
    ngx_kefu_zone_worker_t       workers[NGX_KEFU_ZONE_WORKERS];
    ngx_kefu_zone_proc_t         procs[NGX_KEFU_ZONE_PROCS];
} ngx_kefu_zone_sh_t;


struct ngx_kefu_zone_s {
    ngx_str_t                    name;
    size_t                       size;
    ngx_kefu_zone_sh_t          *sh;
    ngx_slab_pool_t             *shpool;
    ngx_kefu_zone_proc_t        *proc;       /* this process's, or NULL */
};


/* how many more sessions the zone can take now: ngx_kefu_zone_room() */
typedef struct {
    ngx_uint_t                   sessions;   /* agents', admins' */
    ngx_uint_t                   visitors;   /* before the reserve */
} ngx_kefu_zone_room_t;


char *ngx_kefu_zone_add(ngx_conf_t *cf, ngx_str_t *name, size_t size);
ngx_int_t ngx_kefu_zone_init_module(ngx_cycle_t *cycle);
ngx_int_t ngx_kefu_zone_init_process(ngx_cycle_t *cycle);
ngx_int_t ngx_kefu_zone_session_add(ngx_kefu_zone_t *zone, ngx_uint_t role,
    ngx_str_t *addr, ngx_uint_t per_addr, void **session);
void ngx_kefu_zone_session_del(ngx_kefu_zone_t *zone, void *session);
void ngx_kefu_zone_room(ngx_kefu_zone_t *zone, ngx_kefu_zone_room_t *room);
void ngx_kefu_zone_subscriptions(ngx_kefu_zone_t *zone, ngx_int_t delta);
ngx_uint_t ngx_kefu_zone_subscriptions_total(ngx_kefu_zone_t *zone);
ngx_uint_t ngx_kefu_zone_pid_gone(ngx_pid_t pid);


#endif /* _NGX_KEFU_ZONE_H_INCLUDED_ */
