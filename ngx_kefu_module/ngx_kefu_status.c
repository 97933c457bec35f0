
/*
 * kefu_status: the host's counters and gauges (the session zone, so every
 * worker's), and from Redis the conversations by state and the queue of
 * each group.  JSON by default; Prometheus text exposition 0.0.4 with
 * ?format=prometheus or an Accept that asks for text/plain.
 *
 * The Redis part is one script per site, asked asynchronously: the request
 * waits for the replies (r->main->count++) and is answered from the last
 * one.  A reply finds its request by id in the worker's list of waiting
 * ones, which the request's pool cleanup leaves: a client that went away
 * is simply not answered.  A Redis that is down, or that does not answer
 * within kefu_redis's timeout, leaves those figures out ("redis": "down").
 */


#include "ngx_kefu.h"
#include "ngx_kefu_zone.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_status.h"
#include "ngx_kefu_http.h"

#include <signal.h>


#define NGX_KEFU_STATUS_REDIS_NONE   0   /* no kefu_redis */

/* a reply's data: the request's id and the site's index */
#define NGX_KEFU_STATUS_SITE_BITS    16
#define NGX_KEFU_STATUS_REDIS_UP     1
#define NGX_KEFU_STATUS_REDIS_DOWN   2

/* a line of the exposition: names, labels (ids of 128 at most) and value */
#define NGX_KEFU_STATUS_LINE         1024


typedef struct {
    ngx_queue_t                  queue;     /* in the worker's waiting list */
    ngx_uint_t                   id;
    ngx_http_request_t          *r;
    ngx_uint_t                   waiting;   /* replies still due */
    ngx_uint_t                   redis;
    json_t                      *sites;     /* what Redis said, per site */
    ngx_chain_t                 *out;
    ngx_chain_t                 *tail;

    /* while the answer is written */
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_stats_t            *st;
    ngx_kefu_zone_sh_t          *sh;        /* NULL: no zone */
    ngx_kefu_zone_room_t         room;
    json_t                      *json[3];   /* the document, its sections */

    unsigned                     prometheus:1;
    unsigned                     linked:1;
} ngx_kefu_status_ctx_t;


/*
 * The metrics, in the order both outputs list them, one row a sample or
 * a family of another shape.  A row names its Prometheus family (after
 * "kefu_") with the sample's labels, and its key in a section of the JSON
 * document; either is NULL where only the other output has it.  A value
 * comes from get(); a family by worker, by code or by site, or a
 * histogram, from emit(), which writes both outputs (section NULL: the
 * Prometheus one).  The rows of one family follow each other: its HELP and
 * TYPE are written once, before the first.  To add a counter, add a field
 * to ngx_kefu_stats_t and a row here.
 */

#define NGX_KEFU_STATUS_TOP          0
#define NGX_KEFU_STATUS_ZONE         1
#define NGX_KEFU_STATUS_REDIS        2

/* what a row needs to appear in an output */
#define NGX_KEFU_STATUS_NEED_ZONE    0x01   /* the session zone */
#define NGX_KEFU_STATUS_NEED_REDIS   0x02   /* kefu_redis */
#define NGX_KEFU_STATUS_NEED_UP      0x04   /* this request read Redis */


typedef struct ngx_kefu_status_metric_s  ngx_kefu_status_metric_t;

typedef int64_t (*ngx_kefu_status_get_pt)(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m);
typedef ngx_int_t (*ngx_kefu_status_emit_pt)(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section);

struct ngx_kefu_status_metric_s {
    const char                  *name;
    const char                  *labels;
    const char                  *type;
    const char                  *help;
    ngx_uint_t                   prom_need;
    ngx_uint_t                   section;
    const char                  *json;
    ngx_uint_t                   json_need;
    ngx_kefu_status_get_pt       get;
    size_t                       offset;
    ngx_kefu_status_emit_pt      emit;
};


static ngx_int_t ngx_kefu_status_handler(ngx_http_request_t *r);
static ngx_int_t ngx_kefu_status_format(ngx_http_request_t *r,
    ngx_kefu_status_ctx_t *ctx);
static void ngx_kefu_status_ask(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_status_ctx_t *ctx);
static void ngx_kefu_status_cleanup(void *data);
static void ngx_kefu_status_reply(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static ngx_int_t ngx_kefu_status_send(ngx_kefu_status_ctx_t *ctx);
static ngx_int_t ngx_kefu_status_json(ngx_kefu_status_ctx_t *ctx);
static ngx_int_t ngx_kefu_status_prometheus(ngx_kefu_status_ctx_t *ctx);
static ngx_uint_t ngx_kefu_status_has(ngx_kefu_status_ctx_t *ctx,
    ngx_uint_t need);
static json_t *ngx_kefu_status_section(ngx_kefu_status_ctx_t *ctx,
    ngx_uint_t section);

static int64_t ngx_kefu_status_stat(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m);
static int64_t ngx_kefu_status_sh(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m);
static int64_t ngx_kefu_status_one(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m);
static int64_t ngx_kefu_status_pages(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m);
static int64_t ngx_kefu_status_room(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m);
static int64_t ngx_kefu_status_subscriptions(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m);
static int64_t ngx_kefu_status_redis_read(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m);

static ngx_int_t ngx_kefu_status_version(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section);
static ngx_int_t ngx_kefu_status_connections(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section);
static ngx_int_t ngx_kefu_status_errors(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section);
static ngx_int_t ngx_kefu_status_closes(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section);
static ngx_int_t ngx_kefu_status_redis_state(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section);
static ngx_int_t ngx_kefu_status_links(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section);
static ngx_int_t ngx_kefu_status_queues(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section);
static ngx_int_t ngx_kefu_status_latency(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section);
static ngx_int_t ngx_kefu_status_sites(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section);
static ngx_int_t ngx_kefu_status_queue_length(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section);
static json_t *ngx_kefu_status_read(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_site_t *site, const char *key, u_char *label);

static ngx_int_t ngx_kefu_status_printf(ngx_kefu_status_ctx_t *ctx,
    const char *fmt, ...);
static ngx_int_t ngx_kefu_status_append(ngx_kefu_status_ctx_t *ctx,
    u_char *data, size_t len);
static u_char *ngx_kefu_status_label(u_char *dst, u_char *src, size_t len);
static ngx_int_t ngx_kefu_status_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);


/* how a row finds its value */
#define ngx_kefu_status_st(field)                                            \
    ngx_kefu_status_stat, offsetof(ngx_kefu_stats_t, field), NULL
#define ngx_kefu_status_zone(field)                                          \
    ngx_kefu_status_sh, offsetof(ngx_kefu_zone_sh_t, field), NULL
#define ngx_kefu_status_fn(get, arg)  get, arg, NULL
#define ngx_kefu_status_emit(emit)    NULL, 0, emit

/* a plain counter of ngx_kefu_stats_t, at the document's top */
#define ngx_kefu_status_counter(name, json, help, field)                     \
    { name, NULL, "counter", help, 0, NGX_KEFU_STATUS_TOP, json, 0,          \
      ngx_kefu_status_st(field) }

/* a figure of the session zone, in the "zone" section */
#define ngx_kefu_status_zoned(name, labels, type, help, json, value)         \
    { name, labels, type, help, NGX_KEFU_STATUS_NEED_ZONE,                   \
      NGX_KEFU_STATUS_ZONE, json, NGX_KEFU_STATUS_NEED_ZONE, value }

/* a counter of the Redis layer: JSON always, Prometheus with kefu_redis */
#define ngx_kefu_status_redis(name, json, help, field)                       \
    { name, NULL, "counter", help, NGX_KEFU_STATUS_NEED_REDIS,               \
      NGX_KEFU_STATUS_REDIS, json, 0, ngx_kefu_status_st(field) }

#define NGX_KEFU_STATUS_ZONE_ROOM_HELP                                       \
    "more sessions the zone can take now: visitors' before the agents' "     \
    "reserve, agents' and admins' into it"
#define NGX_KEFU_STATUS_SESSIONS_HELP                                        \
    "authenticated sessions on this host, by role"

/* ngx_kefu_status_pages() and ngx_kefu_status_room() */
#define NGX_KEFU_STATUS_PAGES_TOTAL  0
#define NGX_KEFU_STATUS_PAGES_USED   1
#define NGX_KEFU_STATUS_PAGES_FREE   2
#define NGX_KEFU_STATUS_ROOM_ALL     0
#define NGX_KEFU_STATUS_ROOM_VISITORS 1


static ngx_kefu_status_metric_t  ngx_kefu_status_metrics[] = {

    { "info", "version=\"" NGX_KEFU_VERSION "\"", "gauge",
      "the module's version", 0, NGX_KEFU_STATUS_TOP, NULL, 0,
      ngx_kefu_status_fn(ngx_kefu_status_one, 0) },

    { NULL, NULL, NULL, NULL, 0, NGX_KEFU_STATUS_TOP, "version", 0,
      ngx_kefu_status_emit(ngx_kefu_status_version) },

    { "connections", NULL, "gauge",
      "WebSocket connections open, authenticated or not",
      0, NGX_KEFU_STATUS_TOP, NULL, 0, ngx_kefu_status_st(connections) },

    { NULL, NULL, NULL, NULL, 0, NGX_KEFU_STATUS_TOP, "connections", 0,
      ngx_kefu_status_emit(ngx_kefu_status_connections) },

    ngx_kefu_status_counter("handshakes_total", "handshakes",
        "WebSocket handshakes accepted (101)", handshakes),

    ngx_kefu_status_counter("handshake_failures_total", "handshake_failures",
        "requests to a kefu_chat location refused with an HTTP error",
        handshake_failures),

    ngx_kefu_status_counter("frames_in_total", "frames_in",
        "WebSocket frames received, control frames included", frames_in),

    ngx_kefu_status_counter("messages_in_total", "messages_in",
        "complete text messages received from clients", messages_in),

    ngx_kefu_status_counter("messages_out_total", "messages_out",
        "text messages queued to clients", messages_out),

    ngx_kefu_status_counter("acks_total", "acks",
        "chat messages acknowledged as stored (ack)", acks),

    ngx_kefu_status_counter("slow_consumer_closes_total",
        "slow_consumer_closes",
        "connections closed because their send queue was full",
        slow_consumer_closes),

    ngx_kefu_status_counter("protocol_errors_total", "protocol_errors",
        "WebSocket framing errors (close 1002)", protocol_errors),

    ngx_kefu_status_counter("rate_limited_total", "rate_limited",
        "messages refused by kefu_message_rate", rate_limited),

    ngx_kefu_status_counter("leases_lapsed_total", "leases_lapsed",
        "other workers' presence leases found lapsed (a worker or host "
        "died) and their agents' connections removed", leases_lapsed),

    ngx_kefu_status_counter("presence_resyncs_total", "presence_resyncs",
        "times this host's workers asserted their agents' connections "
        "again and that changed something", presence_resyncs),

    ngx_kefu_status_counter("agents_expired_total", "agents_expired",
        "agents made offline by this host once their grace period was over",
        agents_expired),

    ngx_kefu_status_counter("conversations_requeued_total",
        "conversations_requeued",
        "open conversations of agents gone offline put back in their queue",
        convs_requeued),

    ngx_kefu_status_counter("id_node_claims_total", "id_node_claims",
        "id node numbers taken by this host's workers (starts, lapses)",
        node_claims),

    ngx_kefu_status_counter("id_collisions_total", "id_collisions",
        "new conversations whose id already existed, retried with a fresh "
        "id", id_collisions),

    ngx_kefu_status_counter("catchup_retries_total", "catchup_retries",
        "catch-up reads of a conversation's log tried again after a failure",
        catchup_retries),

    ngx_kefu_status_counter("catchup_paused_total", "catchup_paused",
        "catch-ups paused until the client's send queue drained",
        catchup_paused),

    /* JSON has them in "connections" */
    { "sessions", "role=\"visitor\"", "gauge", NGX_KEFU_STATUS_SESSIONS_HELP,
      NGX_KEFU_STATUS_NEED_ZONE, NGX_KEFU_STATUS_TOP, NULL, 0,
      ngx_kefu_status_zone(by_role[NGX_KEFU_ROLE_VISITOR]) },

    { "sessions", "role=\"agent\"", "gauge", NGX_KEFU_STATUS_SESSIONS_HELP,
      NGX_KEFU_STATUS_NEED_ZONE, NGX_KEFU_STATUS_TOP, NULL, 0,
      ngx_kefu_status_zone(by_role[NGX_KEFU_ROLE_AGENT]) },

    { "sessions", "role=\"admin\"", "gauge", NGX_KEFU_STATUS_SESSIONS_HELP,
      NGX_KEFU_STATUS_NEED_ZONE, NGX_KEFU_STATUS_TOP, NULL, 0,
      ngx_kefu_status_zone(by_role[NGX_KEFU_ROLE_ADMIN]) },

    { "errors_total", NULL, "counter",
      "error messages sent to clients, by code",
      0, NGX_KEFU_STATUS_TOP, "errors", 0,
      ngx_kefu_status_emit(ngx_kefu_status_errors) },

    { "closes_total", NULL, "counter", "close frames sent, by status code",
      0, NGX_KEFU_STATUS_TOP, "closes", 0,
      ngx_kefu_status_emit(ngx_kefu_status_closes) },

    ngx_kefu_status_zoned(NULL, NULL, NULL, NULL, "pages_total",
        ngx_kefu_status_fn(ngx_kefu_status_pages,
                           NGX_KEFU_STATUS_PAGES_TOTAL)),

    ngx_kefu_status_zoned("zone_pages", "state=\"used\"", "gauge",
        "pages of the session zone", "pages_used",
        ngx_kefu_status_fn(ngx_kefu_status_pages,
                           NGX_KEFU_STATUS_PAGES_USED)),

    ngx_kefu_status_zoned("zone_pages", "state=\"free\"", "gauge",
        "pages of the session zone", "pages_free",
        ngx_kefu_status_fn(ngx_kefu_status_pages,
                           NGX_KEFU_STATUS_PAGES_FREE)),

    ngx_kefu_status_zoned("zone_sessions", NULL, "gauge",
        "sessions recorded in the zone", "sessions",
        ngx_kefu_status_zone(sessions_n)),

    ngx_kefu_status_zoned("zone_room", "for=\"visitors\"", "gauge",
        NGX_KEFU_STATUS_ZONE_ROOM_HELP, "room_visitors",
        ngx_kefu_status_fn(ngx_kefu_status_room,
                           NGX_KEFU_STATUS_ROOM_VISITORS)),

    ngx_kefu_status_zoned("zone_room", "for=\"agents\"", "gauge",
        NGX_KEFU_STATUS_ZONE_ROOM_HELP, "room",
        ngx_kefu_status_fn(ngx_kefu_status_room, NGX_KEFU_STATUS_ROOM_ALL)),

    ngx_kefu_status_zoned("zone_refused_total", NULL, "counter",
        "sessions refused: the zone was full", "refused",
        ngx_kefu_status_zone(refused)),

    ngx_kefu_status_zoned("zone_refused_visitors_total", NULL, "counter",
        "visitors refused: only the agents' reserve was left",
        "refused_visitors", ngx_kefu_status_zone(refused_visitors)),

    ngx_kefu_status_zoned("zone_refused_address_total", NULL, "counter",
        "anonymous visitors refused: kefu_anonymous_per_address reached",
        "refused_address", ngx_kefu_status_zone(refused_address)),

    ngx_kefu_status_zoned("zone_subscriptions", NULL, "gauge",
        "channels a worker of this host is subscribed to, per worker",
        "subscriptions", ngx_kefu_status_fn(ngx_kefu_status_subscriptions, 0)),

    ngx_kefu_status_zoned("zone_subscriptions_uncounted_total", NULL,
        "counter", "subscriptions of a process that found no slot in the "
        "zone", "subscriptions_uncounted", ngx_kefu_status_zone(uncounted)),

    { "redis_status_up", NULL, "gauge",
      "1 if this scrape read its figures from Redis",
      NGX_KEFU_STATUS_NEED_REDIS, NGX_KEFU_STATUS_REDIS, NULL, 0,
      ngx_kefu_status_fn(ngx_kefu_status_redis_read, 0) },

    { NULL, NULL, NULL, NULL, 0, NGX_KEFU_STATUS_REDIS, "state", 0,
      ngx_kefu_status_emit(ngx_kefu_status_redis_state) },

    /* JSON: {"worker","pid","command","pubsub","queue"} each */
    { "redis_up", NULL, "gauge",
      "1 if a worker's Redis connection is ready, by worker and link",
      NGX_KEFU_STATUS_NEED_ZONE|NGX_KEFU_STATUS_NEED_REDIS,
      NGX_KEFU_STATUS_REDIS, "workers",
      NGX_KEFU_STATUS_NEED_ZONE|NGX_KEFU_STATUS_NEED_REDIS,
      ngx_kefu_status_emit(ngx_kefu_status_links) },

    { "redis_queue", NULL, "gauge",
      "commands a worker sent to Redis that await their replies, by worker",
      NGX_KEFU_STATUS_NEED_ZONE|NGX_KEFU_STATUS_NEED_REDIS,
      NGX_KEFU_STATUS_REDIS, NULL, 0,
      ngx_kefu_status_emit(ngx_kefu_status_queues) },

    ngx_kefu_status_redis("redis_reconnects_total", "reconnects",
        "Redis connections lost after being ready", redis_reconnects),

    ngx_kefu_status_redis(NULL, "commands", NULL, redis_commands),

    ngx_kefu_status_redis("redis_busy_total", "busy",
        "Redis commands refused at once: kefu_redis_max_inflight were in "
        "flight", redis_busy),

    ngx_kefu_status_redis("redis_overdue_total", "overdue",
        "Redis commands refused at once: one sent before them had waited "
        "kefu_redis_max_wait", redis_overdue),

    ngx_kefu_status_redis("redis_noscript_total", "noscript",
        "script calls run again after Redis had lost the script or the "
        "function library (NOSCRIPT, Function not found)",
        redis_noscript),

    ngx_kefu_status_redis("redis_pubsub_stalls_total", "pubsub_stalls",
        "pub/sub connections reopened: the health probe was not heard in "
        "time", redis_pubsub_stalls),

    ngx_kefu_status_redis("redis_command_failures_total", "failures",
        "Redis commands without a reply (timeout, disconnect)",
        redis_failures),

    { "redis_command_duration_seconds", NULL, "histogram",
      "time from sending a Redis command to its reply",
      NGX_KEFU_STATUS_NEED_REDIS, NGX_KEFU_STATUS_REDIS, "latency",
      NGX_KEFU_STATUS_NEED_ZONE|NGX_KEFU_STATUS_NEED_REDIS,
      ngx_kefu_status_emit(ngx_kefu_status_latency) },

    /* absent, not zero, unless read: Prometheus must not see a false
     * value; JSON says null */
    { "conversations", NULL, "gauge", "conversations by state, from Redis",
      NGX_KEFU_STATUS_NEED_UP, NGX_KEFU_STATUS_TOP, "sites",
      NGX_KEFU_STATUS_NEED_REDIS,
      ngx_kefu_status_emit(ngx_kefu_status_sites) },

    { "queue_length", NULL, "gauge",
      "conversations waiting in a group's queue, from Redis",
      NGX_KEFU_STATUS_NEED_UP, NGX_KEFU_STATUS_TOP, NULL, 0,
      ngx_kefu_status_emit(ngx_kefu_status_queue_length) },

    { NULL, NULL, NULL, NULL, 0, 0, NULL, 0, NULL, 0, NULL }
};


static const char  *ngx_kefu_status_roles[] = {
    NULL, "visitor", "agent", "admin"
};

static const char  *ngx_kefu_status_section_names[] = {
    NULL, "zone", "redis"
};


/* the worker's requests waiting for Redis; a worker is one process */
static ngx_queue_t  ngx_kefu_status_waiting;
static ngx_uint_t   ngx_kefu_status_next_id;


char *
ngx_kefu_status_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_kefu_main_conf_t      *kmcf;
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->handler) {
        return "is duplicate, or the location has another handler";
    }

    clcf->handler = ngx_kefu_status_handler;

    kmcf = ngx_http_conf_get_module_main_conf(cf, ngx_kefu_module);
    kmcf->need_zone = 1;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_kefu_status_handler(ngx_http_request_t *r)
{
    ngx_pool_cleanup_t    *cln;
    ngx_kefu_main_conf_t  *kmcf;
    ngx_kefu_status_ctx_t *ctx;

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD))) {
        return ngx_kefu_status_error(r, NGX_HTTP_NOT_ALLOWED,
                                     "method_not_allowed",
                                     "the status endpoint takes GET");
    }

    if (ngx_http_discard_request_body(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    kmcf = ngx_http_get_module_main_conf(r, ngx_kefu_module);

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_kefu_status_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->r = r;

    if (ngx_kefu_status_format(r, ctx) != NGX_OK) {
        return ngx_kefu_status_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "format is json or prometheus");
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_kefu_status_cleanup;
    cln->data = ctx;

    ctx->sites = json_object();
    if (ctx->sites == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (kmcf->redis_conf == NULL || kmcf->redis == NULL) {
        ctx->redis = NGX_KEFU_STATUS_REDIS_NONE;
        return ngx_kefu_status_send(ctx);
    }

    ctx->redis = NGX_KEFU_STATUS_REDIS_UP;

    if (!ngx_kefu_redis_ready(kmcf->redis)) {
        ctx->redis = NGX_KEFU_STATUS_REDIS_DOWN;
        return ngx_kefu_status_send(ctx);
    }

    ngx_kefu_status_ask(kmcf, ctx);

    if (ctx->waiting == 0) {
        return ngx_kefu_status_send(ctx);
    }

    ngx_queue_insert_tail(&ngx_kefu_status_waiting, &ctx->queue);
    ctx->linked = 1;

    /* notice a client that leaves: its request goes, the replies find none */
    r->read_event_handler = ngx_http_test_reading;

    r->main->count++;

    return NGX_DONE;
}


/*
 * ?format=json or prometheus; without it, Prometheus's Accept
 * (text/plain;version=0.0.4) picks its format.  NGX_DECLINED: another
 * format asked for.
 */

static ngx_int_t
ngx_kefu_status_format(ngx_http_request_t *r, ngx_kefu_status_ctx_t *ctx)
{
    ngx_str_t         fmt;
#if (NGX_HTTP_HEADERS)
    ngx_table_elt_t  *accept;
#endif

    if (ngx_http_arg(r, (u_char *) "format", 6, &fmt) == NGX_OK) {

        if (fmt.len == 10
            && ngx_strncmp(fmt.data, "prometheus", 10) == 0)
        {
            ctx->prometheus = 1;

        } else if (!(fmt.len == 4 && ngx_strncmp(fmt.data, "json", 4) == 0)) {
            return NGX_DECLINED;
        }

        return NGX_OK;
    }

#if (NGX_HTTP_HEADERS)
    accept = r->headers_in.accept;

    if (accept
        && ngx_strlcasestrn(accept->value.data,
                            accept->value.data + accept->value.len,
                            (u_char *) "text/plain", 10 - 1)
           != NULL)
    {
        ctx->prometheus = 1;
    }
#endif

    return NGX_OK;
}


/* each site's figures asked of Redis (the status script), one call a site;
 * Redis counted down when a call cannot go */

static void
ngx_kefu_status_ask(ngx_kefu_main_conf_t *kmcf, ngx_kefu_status_ctx_t *ctx)
{
    ngx_int_t         rc;
    ngx_uint_t        i;
    ngx_kefu_call_t   call;
    ngx_kefu_site_t  *site;

    if (ngx_kefu_status_waiting.next == NULL) {
        ngx_queue_init(&ngx_kefu_status_waiting);
    }

    ctx->id = ++ngx_kefu_status_next_id;

    site = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        if (ngx_kefu_status_args(&call, &site[i].name,
                                 &site[i].default_group)
            != NGX_OK)
        {
            ctx->redis = NGX_KEFU_STATUS_REDIS_DOWN;
            break;
        }

        rc = ngx_kefu_redis_eval_call(kmcf->redis, &ngx_kefu_script_status,
                                      ngx_kefu_status_reply,
                                      (void *) (uintptr_t)
                                          (ctx->id << NGX_KEFU_STATUS_SITE_BITS
                                           | i),
                                      &call);
        if (rc != NGX_OK) {
            ctx->redis = NGX_KEFU_STATUS_REDIS_DOWN;
            break;
        }

        ctx->waiting++;
    }
}


static void
ngx_kefu_status_cleanup(void *data)
{
    ngx_kefu_status_ctx_t  *ctx = data;

    if (ctx->linked) {
        ngx_queue_remove(&ctx->queue);
        ctx->linked = 0;
    }

    if (ctx->sites) {
        json_decref(ctx->sites);
        ctx->sites = NULL;
    }
}


static void
ngx_kefu_status_reply(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    size_t                  i;
    json_t                 *site, *convs, *queues;
    ngx_uint_t              id, n;
    ngx_queue_t            *q;
    redisReply            **e;
    ngx_kefu_site_t        *sites;
    ngx_kefu_main_conf_t   *kmcf;
    ngx_kefu_status_ctx_t  *ctx;

    /* which request, and which of its sites: replies from a cluster's
     * masters come in no particular order */
    id = (ngx_uint_t) (uintptr_t) data >> NGX_KEFU_STATUS_SITE_BITS;
    n = (ngx_uint_t) (uintptr_t) data
        & ((1 << NGX_KEFU_STATUS_SITE_BITS) - 1);
    ctx = NULL;

    if (ngx_kefu_status_waiting.next == NULL) {
        return;
    }

    for (q = ngx_queue_head(&ngx_kefu_status_waiting);
         q != ngx_queue_sentinel(&ngx_kefu_status_waiting);
         q = ngx_queue_next(q))
    {
        ctx = ngx_queue_data(q, ngx_kefu_status_ctx_t, queue);

        if (ctx->id == id) {
            break;
        }

        ctx = NULL;
    }

    if (ctx == NULL) {
        /* the client went away: nothing to answer */
        return;
    }

    kmcf = ngx_kefu_redis_main_conf(rd);
    sites = kmcf->sites.elts;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 4 || n >= kmcf->sites.nelts)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ctx->r->connection->log, 0,
                          "kefu: status read failed: %s", reply->str);
        }

        ctx->redis = NGX_KEFU_STATUS_REDIS_DOWN;
        site = json_null();

    } else {
        e = reply->element;

        convs = json_pack("{s:I,s:I,s:I,s:I}",
                          "queued", (json_int_t) e[0]->integer,
                          "open", (json_int_t) e[1]->integer,
                          "closed", (json_int_t) e[2]->integer,
                          "bot", (json_int_t) e[3]->integer);
        queues = json_object();

        for (i = 4; queues && i + 1 < reply->elements; i += 2) {
            if (e[i]->type == REDIS_REPLY_STRING
                && e[i + 1]->type == REDIS_REPLY_INTEGER)
            {
                /* a name that is not UTF-8 is left out, not fatal */
                (void) json_object_setn_new(queues, e[i]->str, e[i]->len,
                                      json_integer(e[i + 1]->integer));
            }
        }

        site = json_pack("{s:o*,s:o*}", "conversations", convs,
                         "queues", queues);
    }

    if (n < kmcf->sites.nelts) {
        (void) json_object_setn_new(ctx->sites, (char *) sites[n].name.data,
                                    sites[n].name.len,
                                    site ? site : json_null());

    } else if (site) {
        json_decref(site);
    }

    if (--ctx->waiting) {
        return;
    }

    ngx_queue_remove(&ctx->queue);
    ctx->linked = 0;

    ngx_http_finalize_request(ctx->r, ngx_kefu_status_send(ctx));
}


static ngx_int_t
ngx_kefu_status_send(ngx_kefu_status_ctx_t *ctx)
{
    off_t                  len;
    ngx_int_t              rc;
    ngx_chain_t           *cl;
    ngx_http_request_t    *r;
    ngx_kefu_main_conf_t  *kmcf;

    r = ctx->r;
    kmcf = ngx_http_get_module_main_conf(r, ngx_kefu_module);

    ctx->kmcf = kmcf;
    ctx->st = kmcf->stats;
    ctx->sh = (kmcf->zone && kmcf->zone->sh) ? kmcf->zone->sh : NULL;

    if (ctx->sh) {
        ngx_kefu_zone_room(kmcf->zone, &ctx->room);
    }

    rc = ctx->prometheus ? ngx_kefu_status_prometheus(ctx)
                         : ngx_kefu_status_json(ctx);
    if (rc != NGX_OK || ctx->out == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = 0;

    for (cl = ctx->out; cl; cl = cl->next) {
        len += cl->buf->last - cl->buf->pos;

        if (cl->next == NULL) {
            cl->buf->last_buf = (r == r->main);
            cl->buf->last_in_chain = 1;
        }
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = len;

    if (ctx->prometheus) {
        ngx_str_set(&r->headers_out.content_type,
                    "text/plain; version=0.0.4; charset=utf-8");

    } else {
        ngx_str_set(&r->headers_out.content_type, "application/json");
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    return ngx_http_output_filter(r, ctx->out);
}


static ngx_uint_t
ngx_kefu_status_has(ngx_kefu_status_ctx_t *ctx, ngx_uint_t need)
{
    if ((need & NGX_KEFU_STATUS_NEED_ZONE) && ctx->sh == NULL) {
        return 0;
    }

    if ((need & NGX_KEFU_STATUS_NEED_REDIS)
        && ctx->redis == NGX_KEFU_STATUS_REDIS_NONE)
    {
        return 0;
    }

    if ((need & NGX_KEFU_STATUS_NEED_UP)
        && ctx->redis != NGX_KEFU_STATUS_REDIS_UP)
    {
        return 0;
    }

    return 1;
}


static ngx_int_t
ngx_kefu_status_json(ngx_kefu_status_ctx_t *ctx)
{
    char                      *s;
    json_t                    *section;
    ngx_int_t                  rc;
    ngx_kefu_status_metric_t  *m;

    ctx->json[NGX_KEFU_STATUS_TOP] = json_object();
    if (ctx->json[NGX_KEFU_STATUS_TOP] == NULL) {
        return NGX_ERROR;
    }

    rc = NGX_OK;

    for (m = ngx_kefu_status_metrics; m->get || m->emit; m++) {
        if (m->json == NULL || !ngx_kefu_status_has(ctx, m->json_need)) {
            continue;
        }

        section = ngx_kefu_status_section(ctx, m->section);
        if (section == NULL) {
            rc = NGX_ERROR;
            break;
        }

        if (m->emit) {
            rc |= m->emit(ctx, m, section);

        } else {
            rc |= json_object_set_new(section, m->json,
                                      json_integer(m->get(ctx, m)));
        }
    }

    s = (rc == NGX_OK) ? json_dumps(ctx->json[NGX_KEFU_STATUS_TOP],
                                    JSON_COMPACT)
                       : NULL;

    json_decref(ctx->json[NGX_KEFU_STATUS_TOP]);
    ngx_memzero(ctx->json, sizeof(ctx->json));

    if (s == NULL) {
        return NGX_ERROR;
    }

    rc = ngx_kefu_status_append(ctx, (u_char *) s, ngx_strlen(s));

    if (rc == NGX_OK) {
        rc = ngx_kefu_status_append(ctx, (u_char *) "\n", 1);
    }

    free(s);

    return rc;
}


/* a section of the document, made where its first row comes */

static json_t *
ngx_kefu_status_section(ngx_kefu_status_ctx_t *ctx, ngx_uint_t section)
{
    json_t  *o;

    if (ctx->json[section]) {
        return ctx->json[section];
    }

    o = json_object();

    if (o == NULL
        || json_object_set_new(ctx->json[NGX_KEFU_STATUS_TOP],
                               ngx_kefu_status_section_names[section], o)
           != 0)
    {
        return NULL;
    }

    ctx->json[section] = o;

    return o;
}


static ngx_int_t
ngx_kefu_status_prometheus(ngx_kefu_status_ctx_t *ctx)
{
    ngx_int_t                  rc;
    const char                *family;
    ngx_kefu_status_metric_t  *m;

    rc = NGX_OK;
    family = NULL;

    for (m = ngx_kefu_status_metrics; m->get || m->emit; m++) {
        if (m->name == NULL || !ngx_kefu_status_has(ctx, m->prom_need)) {
            continue;
        }

        if (family == NULL || ngx_strcmp(family, m->name) != 0) {
            family = m->name;
            rc |= ngx_kefu_status_printf(ctx, "# HELP kefu_%s %s\n"
                                         "# TYPE kefu_%s %s\n", m->name,
                                         m->help, m->name, m->type);
        }

        if (m->emit) {
            rc |= m->emit(ctx, m, NULL);

        } else if (m->labels) {
            rc |= ngx_kefu_status_printf(ctx, "kefu_%s{%s} %L\n", m->name,
                                         m->labels, m->get(ctx, m));

        } else {
            rc |= ngx_kefu_status_printf(ctx, "kefu_%s %L\n", m->name,
                                         m->get(ctx, m));
        }
    }

    return rc == NGX_OK ? NGX_OK : NGX_ERROR;
}


static int64_t
ngx_kefu_status_stat(ngx_kefu_status_ctx_t *ctx, ngx_kefu_status_metric_t *m)
{
    return (ngx_atomic_int_t) *(ngx_atomic_t *) ((u_char *) ctx->st
                                                 + m->offset);
}


static int64_t
ngx_kefu_status_sh(ngx_kefu_status_ctx_t *ctx, ngx_kefu_status_metric_t *m)
{
    return (ngx_atomic_int_t) *(ngx_atomic_t *) ((u_char *) ctx->sh
                                                 + m->offset);
}


static int64_t
ngx_kefu_status_one(ngx_kefu_status_ctx_t *ctx, ngx_kefu_status_metric_t *m)
{
    return 1;
}


static int64_t
ngx_kefu_status_pages(ngx_kefu_status_ctx_t *ctx, ngx_kefu_status_metric_t *m)
{
    ngx_uint_t        total;
    ngx_slab_pool_t  *shpool;

    shpool = ctx->kmcf->zone->shpool;
    total = (shpool->end - shpool->start) / ngx_pagesize;

    switch (m->offset) {

    case NGX_KEFU_STATUS_PAGES_USED:
        return total - shpool->pfree;

    case NGX_KEFU_STATUS_PAGES_FREE:
        return shpool->pfree;

    default:
        return total;
    }
}


static int64_t
ngx_kefu_status_room(ngx_kefu_status_ctx_t *ctx, ngx_kefu_status_metric_t *m)
{
    return m->offset == NGX_KEFU_STATUS_ROOM_VISITORS ? ctx->room.visitors
                                                      : ctx->room.sessions;
}


static int64_t
ngx_kefu_status_subscriptions(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m)
{
    return ngx_kefu_zone_subscriptions_total(ctx->kmcf->zone);
}


static int64_t
ngx_kefu_status_redis_read(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m)
{
    return ctx->redis == NGX_KEFU_STATUS_REDIS_UP;
}


static ngx_int_t
ngx_kefu_status_version(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section)
{
    return json_object_set_new(section, "version",
                               json_string(NGX_KEFU_VERSION))
           | json_object_set_new(section, "time",
                                 json_integer(ngx_kefu_now_ms()));
}


static ngx_int_t
ngx_kefu_status_connections(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section)
{
    json_t            *o;
    ngx_uint_t         i, roles;
    ngx_atomic_int_t   conns;

    conns = (ngx_atomic_int_t) ctx->st->connections;
    o = json_pack("{s:I}", "total", (json_int_t) conns);
    roles = 0;

    for (i = 1; o && ctx->sh && i < 4; i++) {
        json_object_set_new(o, ngx_kefu_status_roles[i],
                            json_integer((json_int_t) ctx->sh->by_role[i]));
        roles += ctx->sh->by_role[i];
    }

    if (o) {
        /* upgraded, hello not done yet */
        json_object_set_new(o, "unauthenticated",
                            json_integer(conns > (ngx_atomic_int_t) roles
                                         ? conns - roles : 0));
    }

    return json_object_set_new(section, m->json, o);
}


static ngx_int_t
ngx_kefu_status_errors(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section)
{
    json_t     *o;
    ngx_int_t   rc;
    ngx_uint_t  i;

    if (section == NULL) {
        rc = NGX_OK;

        for (i = 0; i < NGX_KEFU_STAT_ERRORS; i++) {
            rc |= ngx_kefu_status_printf(ctx, "kefu_%s{code=\"%s\"} %uA\n",
                                         m->name,
                                         ngx_kefu_stat_error_names[i],
                                         ctx->st->errors[i]);
        }

        return rc;
    }

    o = json_object();

    for (i = 0; o && i < NGX_KEFU_STAT_ERRORS; i++) {
        json_object_set_new(o, ngx_kefu_stat_error_names[i],
                            json_integer((json_int_t) ctx->st->errors[i]));
    }

    return json_object_set_new(section, m->json, o);
}


static ngx_int_t
ngx_kefu_status_closes(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section)
{
    char        code[NGX_INT_T_LEN + 1];
    json_t     *o;
    ngx_int_t   rc;
    ngx_uint_t  i;

    o = NULL;
    rc = NGX_OK;

    if (section) {
        o = json_object();
        if (o == NULL) {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < NGX_KEFU_STAT_CLOSES; i++) {
        if (ngx_kefu_stat_close_codes[i]) {
            *ngx_sprintf((u_char *) code, "%ui",
                         ngx_kefu_stat_close_codes[i]) = '\0';

        } else {
            ngx_cpystrn((u_char *) code, (u_char *) "other", sizeof(code));
        }

        if (o) {
            json_object_set_new(o, code,
                                json_integer((json_int_t) ctx->st->closes[i]));

        } else {
            rc |= ngx_kefu_status_printf(ctx, "kefu_%s{code=\"%s\"} %uA\n",
                                         m->name, code, ctx->st->closes[i]);
        }
    }

    return o ? json_object_set_new(section, m->json, o) : rc;
}


static ngx_int_t
ngx_kefu_status_redis_state(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section)
{
    const char  *state;

    switch (ctx->redis) {

    case NGX_KEFU_STATUS_REDIS_UP:
        state = "up";
        break;

    case NGX_KEFU_STATUS_REDIS_DOWN:
        state = "down";
        break;

    default:
        state = "none";
    }

    return json_object_set_new(section, m->json, json_string(state));
}


/* the zone's workers that are alive, for the Redis link states */

static ngx_uint_t
ngx_kefu_status_worker_alive(ngx_kefu_zone_worker_t *w)
{
    ngx_pid_t  pid;

    pid = (ngx_pid_t) w->pid;

    if (pid == 0) {
        return 0;
    }

    return pid == ngx_pid || kill(pid, 0) == 0 || ngx_errno != ESRCH;
}


static ngx_int_t
ngx_kefu_status_links(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section)
{
    json_t                  *a;
    ngx_int_t                rc;
    ngx_uint_t               i;
    ngx_kefu_zone_worker_t  *w;

    a = section ? json_array() : NULL;
    rc = NGX_OK;

    for (i = 0; i < NGX_KEFU_ZONE_WORKERS; i++) {
        w = &ctx->sh->workers[i];

        if (!ngx_kefu_status_worker_alive(w)) {
            continue;
        }

        if (section == NULL) {
            rc |= ngx_kefu_status_printf(ctx,
                      "kefu_%s{worker=\"%ui\",link=\"command\"} %d\n"
                      "kefu_%s{worker=\"%ui\",link=\"pubsub\"} %d\n",
                      m->name, i, w->redis_cmd ? 1 : 0,
                      m->name, i, w->redis_sub ? 1 : 0);

        } else if (a) {
            json_array_append_new(a, json_pack("{s:i,s:I,s:s,s:s,s:I}",
                                  "worker", (int) i,
                                  "pid", (json_int_t) w->pid,
                                  "command", w->redis_cmd ? "up" : "down",
                                  "pubsub", w->redis_sub ? "up" : "down",
                                  "queue", (json_int_t) w->redis_queue));
        }
    }

    return section ? json_object_set_new(section, m->json, a) : rc;
}


/* Prometheus only: JSON has the queue in "workers" */

static ngx_int_t
ngx_kefu_status_queues(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section)
{
    ngx_int_t                rc;
    ngx_uint_t               i;
    ngx_kefu_zone_worker_t  *w;

    rc = NGX_OK;

    for (i = 0; i < NGX_KEFU_ZONE_WORKERS; i++) {
        w = &ctx->sh->workers[i];

        if (ngx_kefu_status_worker_alive(w)) {
            rc |= ngx_kefu_status_printf(ctx, "kefu_%s{worker=\"%ui\"} %uA\n",
                                         m->name, i, w->redis_queue);
        }
    }

    return rc;
}


/* cumulative buckets: Prometheus's le in seconds, JSON's le_ms */

static ngx_int_t
ngx_kefu_status_latency(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section)
{
    json_t            *a;
    ngx_int_t          rc;
    ngx_uint_t         i, sum;
    ngx_kefu_stats_t  *st;

    st = ctx->st;
    a = section ? json_array() : NULL;
    rc = NGX_OK;
    sum = 0;

    for (i = 0; i < NGX_KEFU_STAT_BUCKETS; i++) {
        sum += st->redis_latency[i];

        if (section && a == NULL) {
            continue;
        }

        if (i == NGX_KEFU_STAT_BUCKETS - 1) {
            rc |= section ? json_array_append_new(a, json_pack("{s:s,s:I}",
                                "le_ms", "+Inf", "count", (json_int_t) sum))
                          : ngx_kefu_status_printf(ctx, "kefu_%s_bucket"
                                "{le=\"+Inf\"} %ui\n", m->name, sum);

        } else {
            rc |= section ? json_array_append_new(a, json_pack("{s:I,s:I}",
                                "le_ms",
                                (json_int_t) ngx_kefu_stat_buckets[i],
                                "count", (json_int_t) sum))
                          : ngx_kefu_status_printf(ctx, "kefu_%s_bucket"
                                "{le=\"%M.%03M\"} %ui\n", m->name,
                                ngx_kefu_stat_buckets[i] / 1000,
                                ngx_kefu_stat_buckets[i] % 1000, sum);
        }
    }

    if (section) {
        return json_object_set_new(section, m->json,
                                   json_pack("{s:I,s:I,s:o*}",
                                             "sum_ms",
                                             (json_int_t) st->redis_latency_ms,
                                             "count", (json_int_t) sum,
                                             "buckets", a));
    }

    return rc | ngx_kefu_status_printf(ctx, "kefu_%s_sum %uA.%03uA\n"
                                       "kefu_%s_count %ui\n", m->name,
                                       st->redis_latency_ms / 1000,
                                       st->redis_latency_ms % 1000,
                                       m->name, sum);
}


/* what Redis said of a site (NULL: nothing), and its name as a label */

static json_t *
ngx_kefu_status_read(ngx_kefu_status_ctx_t *ctx, ngx_kefu_site_t *site,
    const char *key, u_char *label)
{
    json_t  *v;

    v = json_object_get(json_object_getn(ctx->sites, (char *) site->name.data,
                                         site->name.len),
                        key);

    if (v) {
        *ngx_kefu_status_label(label, site->name.data, site->name.len) = '\0';
    }

    return v;
}


/* JSON: every site's figures, null where Redis could not be read */

static ngx_int_t
ngx_kefu_status_sites(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section)
{
    u_char            sname[2 * 64 + 1];
    json_t           *o, *v;
    ngx_int_t         rc;
    ngx_uint_t        k, i;
    ngx_kefu_site_t  *site;

    static const char  *states[] = { "queued", "open", "closed", "bot" };

    site = ctx->kmcf->sites.elts;

    if (section == NULL) {
        rc = NGX_OK;

        for (k = 0; k < ctx->kmcf->sites.nelts; k++) {
            v = ngx_kefu_status_read(ctx, &site[k], "conversations", sname);
            if (v == NULL) {
                continue;
            }

            for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
                rc |= ngx_kefu_status_printf(ctx, "kefu_%s{site=\"%s\","
                                             "state=\"%s\"} %L\n", m->name,
                                             sname, states[i],
                                             (int64_t) json_integer_value(
                                                 json_object_get(v,
                                                                 states[i])));
            }
        }

        return rc;
    }

    if (ctx->redis == NGX_KEFU_STATUS_REDIS_DOWN) {
        /* what could not be read is null, never a guess */
        json_object_clear(ctx->sites);
    }

    o = json_object();

    for (k = 0; o && k < ctx->kmcf->sites.nelts; k++) {
        v = json_object_getn(ctx->sites, (char *) site[k].name.data,
                             site[k].name.len);

        if (v == NULL || json_is_null(v)) {
            v = json_pack("{s:n,s:n}", "conversations", "queues");

        } else {
            json_incref(v);
        }

        json_object_setn_new(o, (char *) site[k].name.data, site[k].name.len,
                             v);
    }

    return json_object_set_new(section, m->json, o);
}


/* Prometheus only: JSON has the queues in "sites" */

static ngx_int_t
ngx_kefu_status_queue_length(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_status_metric_t *m, json_t *section)
{
    u_char            sname[2 * 64 + 1], gname[2 * 256 + 1];
    json_t           *queues, *v;
    ngx_int_t         rc;
    ngx_uint_t        k;
    const char       *group;
    ngx_kefu_site_t  *site;

    site = ctx->kmcf->sites.elts;
    rc = NGX_OK;

    for (k = 0; k < ctx->kmcf->sites.nelts; k++) {
        queues = ngx_kefu_status_read(ctx, &site[k], "queues", sname);
        if (queues == NULL) {
            continue;
        }

        json_object_foreach(queues, group, v) {
            *ngx_kefu_status_label(gname, (u_char *) group,
                                   ngx_min(ngx_strlen(group), 256)) = '\0';

            rc |= ngx_kefu_status_printf(ctx, "kefu_%s{site=\"%s\","
                                         "group=\"%s\"} %L\n", m->name,
                                         sname, gname,
                                         (int64_t) json_integer_value(v));
        }
    }

    return rc;
}


/* a label value: backslash, double quote and newline escaped */

static u_char *
ngx_kefu_status_label(u_char *dst, u_char *src, size_t len)
{
    while (len--) {
        switch (*src) {

        case '\\':
        case '"':
            *dst++ = '\\';
            *dst++ = *src++;
            break;

        case '\n':
            *dst++ = '\\';
            *dst++ = 'n';
            src++;
            break;

        default:
            *dst++ = *src++;
        }
    }

    return dst;
}


static ngx_int_t
ngx_kefu_status_printf(ngx_kefu_status_ctx_t *ctx, const char *fmt, ...)
{
    u_char   *p, line[NGX_KEFU_STATUS_LINE];
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(line, line + sizeof(line), fmt, args);
    va_end(args);

    return ngx_kefu_status_append(ctx, line, p - line);
}


/* appends to the response, in buffers of at least a page */

static ngx_int_t
ngx_kefu_status_append(ngx_kefu_status_ctx_t *ctx, u_char *data, size_t len)
{
    size_t        n;
    ngx_buf_t    *b;
    ngx_chain_t  *cl;

    while (len) {
        cl = ctx->tail;

        if (cl == NULL || cl->buf->last == cl->buf->end) {
            b = ngx_create_temp_buf(ctx->r->pool, ngx_max(len, 8192));
            if (b == NULL) {
                return NGX_ERROR;
            }

            cl = ngx_alloc_chain_link(ctx->r->pool);
            if (cl == NULL) {
                return NGX_ERROR;
            }

            cl->buf = b;
            cl->next = NULL;

            if (ctx->tail) {
                ctx->tail->next = cl;

            } else {
                ctx->out = cl;
            }

            ctx->tail = cl;
        }

        b = cl->buf;
        n = ngx_min(len, (size_t) (b->end - b->last));
        b->last = ngx_cpymem(b->last, data, n);
        data += n;
        len -= n;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_kefu_status_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    ngx_table_elt_t  *h;

    if (status == NGX_HTTP_NOT_ALLOWED) {
        h = ngx_list_push(&r->headers_out.headers);
        if (h == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        h->hash = 1;
        ngx_str_set(&h->key, "Allow");
        ngx_str_set(&h->value, "GET, HEAD");
    }

    return ngx_kefu_http_error(r, status, code, message);
}
