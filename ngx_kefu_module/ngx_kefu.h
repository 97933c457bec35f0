
/*
 * ngx_kefu_module: customer-service chat inside nginx.
 * Shared declarations for every source file of the module.
 */


#ifndef _NGX_KEFU_H_INCLUDED_
#define _NGX_KEFU_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>


#define NGX_KEFU_VERSION             "0.1.0"
#define NGX_KEFU_SUBPROTOCOL         "kefu.v1"

/* the per-worker buffer every connection reads into before parsing */
#define NGX_KEFU_READ_BUFFER_SIZE    16384

/* bytes one connection may consume per read event before yielding */
#define NGX_KEFU_READ_BUDGET         65536

/* how long a closing connection waits for the peer to finish */
#define NGX_KEFU_LINGER_TIMEOUT      5000


/* WebSocket close codes (RFC 6455 section 7.4 and the kefu contract) */
#define NGX_KEFU_CLOSE_NORMAL        1000
#define NGX_KEFU_CLOSE_GOING_AWAY    1001
#define NGX_KEFU_CLOSE_PROTOCOL      1002
#define NGX_KEFU_CLOSE_UNSUPPORTED   1003
#define NGX_KEFU_CLOSE_NO_STATUS     1005
#define NGX_KEFU_CLOSE_BAD_DATA      1007
#define NGX_KEFU_CLOSE_POLICY        1008
#define NGX_KEFU_CLOSE_TOO_BIG       1009
#define NGX_KEFU_CLOSE_INTERNAL      1011
#define NGX_KEFU_CLOSE_TRY_LATER     1013
#define NGX_KEFU_CLOSE_UNAUTHORIZED  4401
#define NGX_KEFU_CLOSE_FORBIDDEN     4403
#define NGX_KEFU_CLOSE_RATE_LIMITED  4429


typedef struct ngx_kefu_ws_s  ngx_kefu_ws_t;
typedef struct ngx_kefu_zone_s  ngx_kefu_zone_t;
typedef struct ngx_kefu_redis_s  ngx_kefu_redis_t;
typedef struct ngx_kefu_local_s  ngx_kefu_local_t;
typedef struct ngx_kefu_redis_conf_s  ngx_kefu_redis_conf_t;
typedef struct ngx_kefu_lease_s  ngx_kefu_lease_t;
typedef struct ngx_kefu_req_s  ngx_kefu_req_t;


/*
 * Host-wide counters and gauges, kept in the session zone so that every
 * worker adds to the same ones (ngx_kefu_zone.h, docs/status.md).  Code
 * counts with ngx_kefu_stat_inc(kmcf, field) and friends: one atomic add,
 * no lock.  To add a metric, add a field here, count it where it happens
 * and give it a row in ngx_kefu_status_metrics[] (ngx_kefu_status.c);
 * both output formats follow that table.
 */

/* error codes of the contract, in this order; see ngx_kefu_stat_error() */
#define NGX_KEFU_STAT_ERRORS         9     /* 8 codes and "other" */

/* close codes the server sends, in this order; see ngx_kefu_stat_close() */
#define NGX_KEFU_STAT_CLOSES         13    /* 12 codes and "other" */

/* command latency histogram: upper bounds in ms, and +Inf */
#define NGX_KEFU_STAT_BUCKETS        12

typedef struct {
    ngx_atomic_t                 handshakes;
    ngx_atomic_t                 handshake_failures;
    ngx_atomic_t                 connections;      /* gauge */
    ngx_atomic_t                 frames_in;
    ngx_atomic_t                 messages_in;
    ngx_atomic_t                 messages_out;
    ngx_atomic_t                 acks;
    ngx_atomic_t                 slow_consumer_closes;
    ngx_atomic_t                 protocol_errors;
    ngx_atomic_t                 rate_limited;
    ngx_atomic_t                 leases_lapsed;     /* workers found dead */
    ngx_atomic_t                 presence_resyncs;
    ngx_atomic_t                 agents_expired;    /* grace over: offline */
    ngx_atomic_t                 convs_requeued;
    ngx_atomic_t                 node_claims;
    ngx_atomic_t                 id_collisions;
    ngx_atomic_t                 redis_reconnects;
    ngx_atomic_t                 redis_commands;
    ngx_atomic_t                 redis_failures;    /* no reply: timeout... */
    ngx_atomic_t                 redis_latency_ms;  /* sum */
    ngx_atomic_t                 redis_latency[NGX_KEFU_STAT_BUCKETS];
    ngx_atomic_t                 redis_busy;        /* over the cap */
    ngx_atomic_t                 redis_overdue;     /* Redis too late */
    ngx_atomic_t                 redis_noscript;    /* retried after load */
    ngx_atomic_t                 redis_pubsub_stalls;
    ngx_atomic_t                 catchup_retries;
    ngx_atomic_t                 catchup_paused;
    ngx_atomic_t                 errors[NGX_KEFU_STAT_ERRORS];
    ngx_atomic_t                 closes[NGX_KEFU_STAT_CLOSES];
} ngx_kefu_stats_t;


#define ngx_kefu_stat_add(kmcf, field, n)                                    \
    (void) ngx_atomic_fetch_add(&(kmcf)->stats->field,                       \
                                (ngx_atomic_int_t) (n))
#define ngx_kefu_stat_inc(kmcf, field)  ngx_kefu_stat_add(kmcf, field, 1)
#define ngx_kefu_stat_dec(kmcf, field)  ngx_kefu_stat_add(kmcf, field, -1)


#define NGX_KEFU_ROLE_VISITOR        1
#define NGX_KEFU_ROLE_AGENT          2
#define NGX_KEFU_ROLE_ADMIN          3

/* user and site identifiers end up in Redis keys and channel names */
#define NGX_KEFU_MAX_ID_LEN          128


/*
 * A site's attachment limits: nginx.conf's defaults (kefu_upload_max_size,
 * kefu_upload_types, kefu_upload_quota), overridden per site on kefu_site
 * (upload_max_size=, upload_types=, upload_quota=).  Site settings kept in
 * Redis may override them later: this is the one place they are read from
 * (ngx_kefu_upload.h).
 */
typedef struct {
    off_t                        max_size;
    ngx_uint_t                   types;        /* bits of the type table */
    ngx_int_t                    quota;        /* files/visitor/hour, 0 off */
} ngx_kefu_upload_limits_t;


typedef struct {
    ngx_str_t                    name;
    ngx_str_t                    secret;
    ngx_str_t                    default_group;
    ngx_flag_t                   anonymous;
    ngx_flag_t                   search;       /* messages and visitors
                                                  indexed (search=) */
    ngx_uint_t                   capacity;     /* agents' default */
    ngx_msec_t                   grace;        /* offline after */
    json_t                      *settings;     /* defaults: settings= */
    void                        *rt;           /* per worker, see
                                                  ngx_kefu_settings.h */
    ngx_kefu_upload_limits_t     upload;
    ngx_msec_t                   retention;    /* closed conversations */
    ngx_msec_t                   anonymous_retention; /* idle visitors */
    ngx_msec_t                   bot_idle;     /* a bot conversation closed
                                                  after (ngx_kefu_bot_idle.c) */
} ngx_kefu_site_t;


/* ngx_kefu_id.c: per-worker Snowflake id generator */
typedef struct {
    uint64_t                     last;
    ngx_uint_t                   seq;
    ngx_uint_t                   node;
    ngx_msec_t                   until;        /* the node's lease, locally */
    unsigned                     ready:1;
} ngx_kefu_id_gen_t;


typedef struct {
    u_char                      *read_buffer;  /* per worker, see init */
    ngx_kefu_id_gen_t            ids;          /* per worker */
    ngx_array_t                  sites;        /* of ngx_kefu_site_t */
    ngx_kefu_zone_t             *zone;
    ngx_kefu_redis_conf_t       *redis_conf;   /* kefu_redis */
    ngx_kefu_redis_t            *redis;        /* per worker */
    ngx_kefu_local_t            *local;        /* per worker */
    ngx_kefu_lease_t            *lease;        /* per worker */
    ngx_msec_t                   lease_time;   /* kefu_lease_time */
    ngx_msec_t                   dedup_ttl;
    ngx_msec_t                   token_leeway; /* clock skew for exp/nbf */
    ngx_uint_t                   anonymous_per_address;
    ngx_int_t                    log_max;
    ngx_msec_t                   search_retention;
    ngx_msec_t                   retention;    /* kefu_retention */
    ngx_msec_t                   anonymous_retention;
    ngx_int_t                    redis_max_inflight;
    ngx_msec_t                   redis_max_wait;
    ngx_kefu_stats_t            *stats;        /* in the zone, see above */
    ngx_kefu_stats_t             stats_local;  /* until there is one */
    ngx_flag_t                   need_zone;    /* chat or status is used */
    void                        *upload;       /* ngx_kefu_upload_conf_t */
    ngx_str_t                    api_uri;      /* the first kefu_api
                                                  location: told to the
                                                  console at welcome */
    void                        *revoke;       /* per worker,
                                                  ngx_kefu_revoke.c */
    void                        *msg_events;   /* per worker, the pass's
                                                  messages' events:
                                                  ngx_kefu_msg_event.c */
    void                        *msg_batch;    /* per worker, the pass's
                                                  messages: group commit,
                                                  ngx_kefu_msg_batch.c */
    void                        *search_batch; /* per worker, the pass's
                                                  search index entries:
                                                  ngx_kefu_search.c */
} ngx_kefu_main_conf_t;


typedef struct {
    ngx_flag_t                   enable;
    size_t                       max_message_size;
    size_t                       max_send_queue;
    ngx_msec_t                   ping_interval;
    ngx_msec_t                   idle_timeout;
    ngx_msec_t                   hello_timeout;
    ngx_msec_t                   send_timeout;
    ngx_array_t                 *origins;      /* of ngx_str_t */
    size_t                       max_text;
    size_t                       max_attrs;    /* hello's attrs, as JSON */
    ngx_uint_t                   rate;         /* messages per second */
    ngx_uint_t                   burst;
    ngx_flag_t                   api;          /* kefu_api */
    size_t                       api_max_body;
} ngx_kefu_loc_conf_t;


extern ngx_module_t  ngx_kefu_module;


/* the generic helpers (the layers' table of docs/architecture.md) */
#include "ngx_kefu_util.h"
#include "ngx_kefu_id.h"
#include "ngx_kefu_stats.h"
#include "ngx_kefu_utf8.h"


#endif /* _NGX_KEFU_H_INCLUDED_ */
