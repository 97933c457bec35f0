
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
    unsigned                     prometheus:1;
    unsigned                     linked:1;
} ngx_kefu_status_ctx_t;


/* a counter or gauge of ngx_kefu_stats_t with a single value */
typedef struct {
    const char                  *name;      /* after "kefu_" */
    const char                  *json;
    const char                  *type;
    const char                  *help;
    size_t                       offset;
} ngx_kefu_status_metric_t;


static ngx_int_t ngx_kefu_status_handler(ngx_http_request_t *r);
static void ngx_kefu_status_cleanup(void *data);
static void ngx_kefu_status_reply(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static ngx_int_t ngx_kefu_status_send(ngx_kefu_status_ctx_t *ctx);
static ngx_int_t ngx_kefu_status_json(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_main_conf_t *kmcf);
static ngx_int_t ngx_kefu_status_prometheus(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_main_conf_t *kmcf);
static ngx_int_t ngx_kefu_status_printf(ngx_kefu_status_ctx_t *ctx,
    const char *fmt, ...);
static ngx_int_t ngx_kefu_status_append(ngx_kefu_status_ctx_t *ctx,
    u_char *data, size_t len);
static u_char *ngx_kefu_status_label(u_char *dst, u_char *src, size_t len);
static ngx_int_t ngx_kefu_status_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);


#define ngx_kefu_status_value(stats, offset)                                 \
    (*(ngx_atomic_t *) ((u_char *) (stats) + (offset)))


static ngx_kefu_status_metric_t  ngx_kefu_status_metrics[] = {

    { "connections", NULL, "gauge",
      "WebSocket connections open, authenticated or not",
      offsetof(ngx_kefu_stats_t, connections) },

    { "handshakes_total", "handshakes", "counter",
      "WebSocket handshakes accepted (101)",
      offsetof(ngx_kefu_stats_t, handshakes) },

    { "handshake_failures_total", "handshake_failures", "counter",
      "requests to a kefu_chat location refused with an HTTP error",
      offsetof(ngx_kefu_stats_t, handshake_failures) },

    { "frames_in_total", "frames_in", "counter",
      "WebSocket frames received, control frames included",
      offsetof(ngx_kefu_stats_t, frames_in) },

    { "messages_in_total", "messages_in", "counter",
      "complete text messages received from clients",
      offsetof(ngx_kefu_stats_t, messages_in) },

    { "messages_out_total", "messages_out", "counter",
      "text messages queued to clients",
      offsetof(ngx_kefu_stats_t, messages_out) },

    { "acks_total", "acks", "counter",
      "chat messages acknowledged as stored (ack)",
      offsetof(ngx_kefu_stats_t, acks) },

    { "slow_consumer_closes_total", "slow_consumer_closes", "counter",
      "connections closed because their send queue was full",
      offsetof(ngx_kefu_stats_t, slow_consumer_closes) },

    { "protocol_errors_total", "protocol_errors", "counter",
      "WebSocket framing errors (close 1002)",
      offsetof(ngx_kefu_stats_t, protocol_errors) },

    { "rate_limited_total", "rate_limited", "counter",
      "messages refused by kefu_message_rate",
      offsetof(ngx_kefu_stats_t, rate_limited) },

    { "leases_lapsed_total", "leases_lapsed", "counter",
      "other workers' presence leases found lapsed (a worker or host "
      "died) and their agents' connections removed",
      offsetof(ngx_kefu_stats_t, leases_lapsed) },

    { "presence_resyncs_total", "presence_resyncs", "counter",
      "times this host's workers asserted their agents' connections "
      "again and that changed something",
      offsetof(ngx_kefu_stats_t, presence_resyncs) },

    { "agents_expired_total", "agents_expired", "counter",
      "agents made offline by this host once their grace period was over",
      offsetof(ngx_kefu_stats_t, agents_expired) },

    { "conversations_requeued_total", "conversations_requeued", "counter",
      "open conversations of agents gone offline put back in their queue",
      offsetof(ngx_kefu_stats_t, convs_requeued) },

    { "id_node_claims_total", "id_node_claims", "counter",
      "id node numbers taken by this host's workers (starts, lapses)",
      offsetof(ngx_kefu_stats_t, node_claims) },

    { "id_collisions_total", "id_collisions", "counter",
      "new conversations whose id already existed, retried with a fresh id",
      offsetof(ngx_kefu_stats_t, id_collisions) },
    { "catchup_retries_total", "catchup_retries", "counter",
      "catch-up reads of a conversation's log tried again after a failure",
      offsetof(ngx_kefu_stats_t, catchup_retries) },

    { "catchup_paused_total", "catchup_paused", "counter",
      "catch-ups paused until the client's send queue drained",
      offsetof(ngx_kefu_stats_t, catchup_paused) },

    { NULL, NULL, NULL, NULL, 0 }
};


static const char  *ngx_kefu_status_roles[] = {
    NULL, "visitor", "agent", "admin"
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
    ngx_str_t              fmt;
    ngx_int_t              rc;
    ngx_uint_t             i;
    ngx_kefu_call_t        call;
#if (NGX_HTTP_HEADERS)
    ngx_table_elt_t       *accept;
#endif
    ngx_kefu_site_t       *site;
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

    if (ngx_http_arg(r, (u_char *) "format", 6, &fmt) == NGX_OK) {

        if (fmt.len == 10
            && ngx_strncmp(fmt.data, "prometheus", 10) == 0)
        {
            ctx->prometheus = 1;

        } else if (!(fmt.len == 4 && ngx_strncmp(fmt.data, "json", 4) == 0)) {
            return ngx_kefu_status_error(r, NGX_HTTP_BAD_REQUEST,
                                         "bad_request",
                                         "format is json or prometheus");
        }

#if (NGX_HTTP_HEADERS)
    } else {
        /* Prometheus asks for text/plain;version=0.0.4 */
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

        rc = ngx_kefu_redis_eval(kmcf->redis, &ngx_kefu_script_status,
                                 ngx_kefu_status_reply,
                                 (void *) (uintptr_t)
                                     (ctx->id << NGX_KEFU_STATUS_SITE_BITS
                                      | i),
                                 call.nkeys, call.argc,
                                 call.argv, call.lens);
        if (rc != NGX_OK) {
            ctx->redis = NGX_KEFU_STATUS_REDIS_DOWN;
            break;
        }

        ctx->waiting++;
    }

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
        || reply->elements < 3 || n >= kmcf->sites.nelts)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ctx->r->connection->log, 0,
                          "kefu: status read failed: %s", reply->str);
        }

        ctx->redis = NGX_KEFU_STATUS_REDIS_DOWN;
        site = json_null();

    } else {
        e = reply->element;

        convs = json_pack("{s:I,s:I,s:I}",
                          "queued", (json_int_t) e[0]->integer,
                          "open", (json_int_t) e[1]->integer,
                          "closed", (json_int_t) e[2]->integer);
        queues = json_object();

        for (i = 3; queues && i + 1 < reply->elements; i += 2) {
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

    rc = ctx->prometheus ? ngx_kefu_status_prometheus(ctx, kmcf)
                         : ngx_kefu_status_json(ctx, kmcf);
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


static const char *
ngx_kefu_status_redis_state(ngx_uint_t redis)
{
    switch (redis) {

    case NGX_KEFU_STATUS_REDIS_UP:
        return "up";

    case NGX_KEFU_STATUS_REDIS_DOWN:
        return "down";

    default:
        return "none";
    }
}


static ngx_int_t
ngx_kefu_status_json(ngx_kefu_status_ctx_t *ctx, ngx_kefu_main_conf_t *kmcf)
{
    char                      *s, name[NGX_INT_T_LEN + 1];
    json_t                    *j, *o, *a, *v;
    ngx_int_t                  rc;
    ngx_uint_t                 i, sum, roles;
    ngx_atomic_int_t           conns;
    ngx_kefu_site_t           *site;
    ngx_kefu_stats_t          *st;
    ngx_kefu_zone_sh_t        *sh;
    ngx_kefu_zone_room_t       room;
    ngx_kefu_zone_worker_t    *w;
    ngx_kefu_status_metric_t  *m;

    st = kmcf->stats;
    sh = (kmcf->zone && kmcf->zone->sh) ? kmcf->zone->sh : NULL;

    j = json_pack("{s:s,s:I}", "version", NGX_KEFU_VERSION,
                  "time", (json_int_t) ngx_kefu_now_ms());
    if (j == NULL) {
        return NGX_ERROR;
    }

    conns = (ngx_atomic_int_t) st->connections;
    o = json_pack("{s:I}", "total", (json_int_t) conns);
    roles = 0;

    for (i = 1; o && sh && i < 4; i++) {
        json_object_set_new(o, ngx_kefu_status_roles[i],
                            json_integer((json_int_t) sh->by_role[i]));
        roles += sh->by_role[i];
    }

    if (o) {
        /* upgraded, hello not done yet */
        json_object_set_new(o, "unauthenticated",
                            json_integer(conns > (ngx_atomic_int_t) roles
                                         ? conns - roles : 0));
    }

    json_object_set_new(j, "connections", o);

    for (m = ngx_kefu_status_metrics; m->name; m++) {
        if (m->json) {
            json_object_set_new(j, m->json,
                json_integer((json_int_t) ngx_kefu_status_value(st,
                                                                m->offset)));
        }
    }

    o = json_object();

    for (i = 0; o && i < NGX_KEFU_STAT_ERRORS; i++) {
        json_object_set_new(o, ngx_kefu_stat_error_names[i],
                            json_integer((json_int_t) st->errors[i]));
    }

    json_object_set_new(j, "errors", o);

    o = json_object();

    for (i = 0; o && i < NGX_KEFU_STAT_CLOSES; i++) {
        if (ngx_kefu_stat_close_codes[i]) {
            *ngx_sprintf((u_char *) name, "%ui",
                         ngx_kefu_stat_close_codes[i]) = '\0';

        } else {
            ngx_cpystrn((u_char *) name, (u_char *) "other", sizeof(name));
        }

        json_object_set_new(o, name, json_integer((json_int_t) st->closes[i]));
    }

    json_object_set_new(j, "closes", o);

    if (sh) {
        ngx_kefu_zone_room(kmcf->zone, &room);

        o = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
                      "pages_total",
                      (json_int_t) ((kmcf->zone->shpool->end
                                     - kmcf->zone->shpool->start)
                                    / ngx_pagesize),
                      "pages_free", (json_int_t) kmcf->zone->shpool->pfree,
                      "pages_used",
                      (json_int_t) ((kmcf->zone->shpool->end
                                     - kmcf->zone->shpool->start)
                                    / ngx_pagesize
                                    - kmcf->zone->shpool->pfree),
                      "sessions", (json_int_t) sh->sessions_n,
                      "room", (json_int_t) room.sessions,
                      "room_visitors", (json_int_t) room.visitors,
                      "refused", (json_int_t) sh->refused,
                      "refused_visitors", (json_int_t) sh->refused_visitors,
                      "refused_address", (json_int_t) sh->refused_address,
                      "subscriptions",
                      (json_int_t) ngx_kefu_zone_subscriptions_total(
                                                                kmcf->zone),
                      "subscriptions_uncounted",
                      (json_int_t) sh->uncounted);
        json_object_set_new(j, "zone", o);
    }

    o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
                  "state", ngx_kefu_status_redis_state(ctx->redis),
                  "reconnects", (json_int_t) st->redis_reconnects,
                  "commands", (json_int_t) st->redis_commands,
                  "failures", (json_int_t) st->redis_failures,
                  "busy", (json_int_t) st->redis_busy,
                  "overdue", (json_int_t) st->redis_overdue,
                  "noscript", (json_int_t) st->redis_noscript,
                  "pubsub_stalls", (json_int_t) st->redis_pubsub_stalls);

    if (o && sh && ctx->redis != NGX_KEFU_STATUS_REDIS_NONE) {
        a = json_array();

        for (i = 0; a && i < NGX_KEFU_ZONE_WORKERS; i++) {
            w = &sh->workers[i];

            if (!ngx_kefu_status_worker_alive(w)) {
                continue;
            }

            json_array_append_new(a, json_pack("{s:i,s:I,s:s,s:s,s:I}",
                                  "worker", (int) i,
                                  "pid", (json_int_t) w->pid,
                                  "command", w->redis_cmd ? "up" : "down",
                                  "pubsub", w->redis_sub ? "up" : "down",
                                  "queue", (json_int_t) w->redis_queue));
        }

        json_object_set_new(o, "workers", a);

        a = json_array();
        sum = 0;

        for (i = 0; a && i < NGX_KEFU_STAT_BUCKETS; i++) {
            sum += st->redis_latency[i];

            if (i == NGX_KEFU_STAT_BUCKETS - 1) {
                json_array_append_new(a, json_pack("{s:s,s:I}",
                                      "le_ms", "+Inf",
                                      "count", (json_int_t) sum));

            } else {
                json_array_append_new(a, json_pack("{s:I,s:I}",
                                      "le_ms",
                                      (json_int_t) ngx_kefu_stat_buckets[i],
                                      "count", (json_int_t) sum));
            }
        }

        json_object_set_new(o, "latency",
                            json_pack("{s:I,s:I,s:o*}",
                                      "sum_ms",
                                      (json_int_t) st->redis_latency_ms,
                                      "count", (json_int_t) sum,
                                      "buckets", a));
    }

    json_object_set_new(j, "redis", o);

    if (ctx->redis == NGX_KEFU_STATUS_REDIS_DOWN) {
        /* what could not be read is null, never a guess */
        json_object_clear(ctx->sites);
    }

    if (ctx->redis != NGX_KEFU_STATUS_REDIS_NONE) {
        o = json_object();

        site = kmcf->sites.elts;

        for (i = 0; o && i < kmcf->sites.nelts; i++) {
            v = json_object_getn(ctx->sites, (char *) site[i].name.data,
                                 site[i].name.len);

            if (v == NULL || json_is_null(v)) {
                v = json_pack("{s:n,s:n}", "conversations", "queues");

            } else {
                json_incref(v);
            }

            json_object_setn_new(o, (char *) site[i].name.data,
                                 site[i].name.len, v);
        }

        json_object_set_new(j, "sites", o);
    }

    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);

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


/* HELP and TYPE of a family, then its samples */

#define ngx_kefu_status_family(ctx, name, type, help)                        \
    ngx_kefu_status_printf(ctx, "# HELP kefu_%s %s\n# TYPE kefu_%s %s\n",    \
                           name, help, name, type)


static ngx_int_t
ngx_kefu_status_prometheus(ngx_kefu_status_ctx_t *ctx,
    ngx_kefu_main_conf_t *kmcf)
{
    u_char                     sname[2 * 64 + 1], gname[2 * 256 + 1], *p;
    size_t                     n, i;
    json_t                    *site, *v, *queues;
    ngx_int_t                  rc;
    ngx_uint_t                 k, sum;
    const char                *group;
    ngx_kefu_site_t           *sites;
    ngx_kefu_stats_t          *st;
    ngx_kefu_zone_sh_t        *sh;
    ngx_slab_pool_t           *shpool;
    ngx_kefu_zone_room_t       room;
    ngx_kefu_zone_worker_t    *w;
    ngx_kefu_status_metric_t  *m;

    static const char  *states[] = { "queued", "open", "closed" };

    st = kmcf->stats;
    sh = (kmcf->zone && kmcf->zone->sh) ? kmcf->zone->sh : NULL;
    rc = NGX_OK;

    rc |= ngx_kefu_status_family(ctx, "info", "gauge",
                                 "the module's version");
    rc |= ngx_kefu_status_printf(ctx, "kefu_info{version=\"%s\"} 1\n",
                                 NGX_KEFU_VERSION);

    for (m = ngx_kefu_status_metrics; m->name; m++) {
        rc |= ngx_kefu_status_family(ctx, m->name, m->type, m->help);
        rc |= ngx_kefu_status_printf(ctx, "kefu_%s %A\n", m->name,
                                     (ngx_atomic_int_t)
                                     ngx_kefu_status_value(st, m->offset));
    }

    if (sh) {
        rc |= ngx_kefu_status_family(ctx, "sessions", "gauge",
                                     "authenticated sessions on this host, "
                                     "by role");

        for (k = 1; k < 4; k++) {
            rc |= ngx_kefu_status_printf(ctx, "kefu_sessions{role=\"%s\"} "
                                         "%A\n", ngx_kefu_status_roles[k],
                                         (ngx_atomic_int_t) sh->by_role[k]);
        }
    }

    rc |= ngx_kefu_status_family(ctx, "errors_total", "counter",
                                 "error messages sent to clients, by code");

    for (k = 0; k < NGX_KEFU_STAT_ERRORS; k++) {
        rc |= ngx_kefu_status_printf(ctx, "kefu_errors_total{code=\"%s\"} "
                                     "%uA\n", ngx_kefu_stat_error_names[k],
                                     st->errors[k]);
    }

    rc |= ngx_kefu_status_family(ctx, "closes_total", "counter",
                                 "close frames sent, by status code");

    for (k = 0; k < NGX_KEFU_STAT_CLOSES; k++) {
        if (ngx_kefu_stat_close_codes[k]) {
            rc |= ngx_kefu_status_printf(ctx, "kefu_closes_total{code=\"%ui\"}"
                                         " %uA\n",
                                         ngx_kefu_stat_close_codes[k],
                                         st->closes[k]);
        } else {
            rc |= ngx_kefu_status_printf(ctx, "kefu_closes_total"
                                         "{code=\"other\"} %uA\n",
                                         st->closes[k]);
        }
    }

    if (sh) {
        shpool = kmcf->zone->shpool;
        n = (shpool->end - shpool->start) / ngx_pagesize;

        rc |= ngx_kefu_status_family(ctx, "zone_pages", "gauge",
                                     "pages of the session zone");
        rc |= ngx_kefu_status_printf(ctx, "kefu_zone_pages{state=\"used\"} "
                                     "%uz\nkefu_zone_pages{state=\"free\"} "
                                     "%ui\n", n - shpool->pfree,
                                     shpool->pfree);
        rc |= ngx_kefu_status_family(ctx, "zone_sessions", "gauge",
                                     "sessions recorded in the zone");
        rc |= ngx_kefu_status_printf(ctx, "kefu_zone_sessions %uA\n",
                                     sh->sessions_n);

        ngx_kefu_zone_room(kmcf->zone, &room);

        rc |= ngx_kefu_status_family(ctx, "zone_room", "gauge",
                                     "more sessions the zone can take now: "
                                     "visitors' before the agents' reserve, "
                                     "agents' and admins' into it");
        rc |= ngx_kefu_status_printf(ctx, "kefu_zone_room{for=\"visitors\"} "
                                     "%ui\nkefu_zone_room{for=\"agents\"} "
                                     "%ui\n", room.visitors, room.sessions);
        rc |= ngx_kefu_status_family(ctx, "zone_refused_total", "counter",
                                     "sessions refused: the zone was full");
        rc |= ngx_kefu_status_printf(ctx, "kefu_zone_refused_total %uA\n",
                                     sh->refused);
        rc |= ngx_kefu_status_family(ctx, "zone_refused_visitors_total",
                                     "counter", "visitors refused: only the "
                                     "agents' reserve was left");
        rc |= ngx_kefu_status_printf(ctx, "kefu_zone_refused_visitors_total "
                                     "%uA\n", sh->refused_visitors);
        rc |= ngx_kefu_status_family(ctx, "zone_refused_address_total",
                                     "counter", "anonymous visitors refused: "
                                     "kefu_anonymous_per_address reached");
        rc |= ngx_kefu_status_printf(ctx, "kefu_zone_refused_address_total "
                                     "%uA\n", sh->refused_address);
        rc |= ngx_kefu_status_family(ctx, "zone_subscriptions", "gauge",
                                     "channels a worker of this host is "
                                     "subscribed to, per worker");
        rc |= ngx_kefu_status_printf(ctx, "kefu_zone_subscriptions %ui\n",
                                     ngx_kefu_zone_subscriptions_total(
                                                                kmcf->zone));
        rc |= ngx_kefu_status_family(ctx,
                                     "zone_subscriptions_uncounted_total",
                                     "counter", "subscriptions of a process "
                                     "that found no slot in the zone");
        rc |= ngx_kefu_status_printf(ctx, "kefu_zone_subscriptions_uncounted"
                                     "_total %uA\n", sh->uncounted);
    }

    if (ctx->redis == NGX_KEFU_STATUS_REDIS_NONE) {
        return rc == NGX_OK ? NGX_OK : NGX_ERROR;
    }

    rc |= ngx_kefu_status_family(ctx, "redis_status_up", "gauge",
                                 "1 if this scrape read its figures "
                                 "from Redis");
    rc |= ngx_kefu_status_printf(ctx, "kefu_redis_status_up %d\n",
                                 ctx->redis == NGX_KEFU_STATUS_REDIS_UP);

    if (sh) {
        rc |= ngx_kefu_status_family(ctx, "redis_up", "gauge",
                                     "1 if a worker's Redis connection is "
                                     "ready, by worker and link");

        for (k = 0; k < NGX_KEFU_ZONE_WORKERS; k++) {
            w = &sh->workers[k];

            if (!ngx_kefu_status_worker_alive(w)) {
                continue;
            }

            rc |= ngx_kefu_status_printf(ctx, "kefu_redis_up{worker=\"%ui\","
                                         "link=\"command\"} %d\n"
                                         "kefu_redis_up{worker=\"%ui\","
                                         "link=\"pubsub\"} %d\n",
                                         k, w->redis_cmd ? 1 : 0,
                                         k, w->redis_sub ? 1 : 0);
        }

        rc |= ngx_kefu_status_family(ctx, "redis_queue", "gauge",
                                     "commands a worker sent to Redis that "
                                     "await their replies, by worker");

        for (k = 0; k < NGX_KEFU_ZONE_WORKERS; k++) {
            w = &sh->workers[k];

            if (!ngx_kefu_status_worker_alive(w)) {
                continue;
            }

            rc |= ngx_kefu_status_printf(ctx, "kefu_redis_queue{worker="
                                         "\"%ui\"} %uA\n", k,
                                         w->redis_queue);
        }
    }

    rc |= ngx_kefu_status_family(ctx, "redis_reconnects_total", "counter",
                                 "Redis connections lost after being ready");
    rc |= ngx_kefu_status_printf(ctx, "kefu_redis_reconnects_total %uA\n",
                                 st->redis_reconnects);
    rc |= ngx_kefu_status_family(ctx, "redis_busy_total", "counter",
                                 "Redis commands refused at once: "
                                 "kefu_redis_max_inflight were in flight");
    rc |= ngx_kefu_status_printf(ctx, "kefu_redis_busy_total %uA\n",
                                 st->redis_busy);
    rc |= ngx_kefu_status_family(ctx, "redis_overdue_total", "counter",
                                 "Redis commands refused at once: one sent "
                                 "before them had waited kefu_redis_max_wait");
    rc |= ngx_kefu_status_printf(ctx, "kefu_redis_overdue_total %uA\n",
                                 st->redis_overdue);
    rc |= ngx_kefu_status_family(ctx, "redis_noscript_total", "counter",
                                 "script calls run again after Redis had "
                                 "lost the script (NOSCRIPT)");
    rc |= ngx_kefu_status_printf(ctx, "kefu_redis_noscript_total %uA\n",
                                 st->redis_noscript);
    rc |= ngx_kefu_status_family(ctx, "redis_pubsub_stalls_total", "counter",
                                 "pub/sub connections reopened: the health "
                                 "probe was not heard in time");
    rc |= ngx_kefu_status_printf(ctx, "kefu_redis_pubsub_stalls_total %uA\n",
                                 st->redis_pubsub_stalls);
    rc |= ngx_kefu_status_family(ctx, "redis_command_failures_total",
                                 "counter",
                                 "Redis commands without a reply "
                                 "(timeout, disconnect)");
    rc |= ngx_kefu_status_printf(ctx, "kefu_redis_command_failures_total "
                                 "%uA\n", st->redis_failures);

    rc |= ngx_kefu_status_family(ctx, "redis_command_duration_seconds",
                                 "histogram",
                                 "time from sending a Redis command to "
                                 "its reply");
    sum = 0;

    for (k = 0; k < NGX_KEFU_STAT_BUCKETS; k++) {
        sum += st->redis_latency[k];

        if (k == NGX_KEFU_STAT_BUCKETS - 1) {
            rc |= ngx_kefu_status_printf(ctx,
                                         "kefu_redis_command_duration_seconds"
                                         "_bucket{le=\"+Inf\"} %ui\n", sum);

        } else {
            rc |= ngx_kefu_status_printf(ctx,
                                         "kefu_redis_command_duration_seconds"
                                         "_bucket{le=\"%M.%03M\"} %ui\n",
                                         ngx_kefu_stat_buckets[k] / 1000,
                                         ngx_kefu_stat_buckets[k] % 1000,
                                         sum);
        }
    }

    rc |= ngx_kefu_status_printf(ctx, "kefu_redis_command_duration_seconds_sum"
                                 " %uA.%03uA\n"
                                 "kefu_redis_command_duration_seconds_count"
                                 " %ui\n",
                                 st->redis_latency_ms / 1000,
                                 st->redis_latency_ms % 1000, sum);

    if (ctx->redis != NGX_KEFU_STATUS_REDIS_UP) {
        /* absent, not zero: Prometheus must not see a false value */
        return rc == NGX_OK ? NGX_OK : NGX_ERROR;
    }

    sites = kmcf->sites.elts;

    rc |= ngx_kefu_status_family(ctx, "conversations", "gauge",
                                 "conversations by state, from Redis");

    for (k = 0; k < kmcf->sites.nelts; k++) {
        site = json_object_getn(ctx->sites, (char *) sites[k].name.data,
                                sites[k].name.len);
        v = json_object_get(site, "conversations");

        if (v == NULL) {
            continue;
        }

        p = ngx_kefu_status_label(sname, sites[k].name.data,
                                  sites[k].name.len);
        *p = '\0';

        for (i = 0; i < 3; i++) {
            rc |= ngx_kefu_status_printf(ctx, "kefu_conversations{site=\"%s\","
                                         "state=\"%s\"} %L\n", sname,
                                         states[i],
                                         (int64_t) json_integer_value(
                                             json_object_get(v, states[i])));
        }
    }

    rc |= ngx_kefu_status_family(ctx, "queue_length", "gauge",
                                 "conversations waiting in a group's "
                                 "queue, from Redis");

    for (k = 0; k < kmcf->sites.nelts; k++) {
        site = json_object_getn(ctx->sites, (char *) sites[k].name.data,
                                sites[k].name.len);
        queues = json_object_get(site, "queues");

        if (queues == NULL) {
            continue;
        }

        p = ngx_kefu_status_label(sname, sites[k].name.data,
                                  sites[k].name.len);
        *p = '\0';

        json_object_foreach(queues, group, v) {
            n = ngx_min(ngx_strlen(group), 256);
            p = ngx_kefu_status_label(gname, (u_char *) group, n);
            *p = '\0';

            rc |= ngx_kefu_status_printf(ctx, "kefu_queue_length{site=\"%s\","
                                         "group=\"%s\"} %L\n", sname, gname,
                                         (int64_t) json_integer_value(v));
        }
    }

    return rc == NGX_OK ? NGX_OK : NGX_ERROR;
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
