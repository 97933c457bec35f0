
/*
 * This worker's leases in Redis (docs/routing.md, docs/storage.md), renewed
 * on a timer every third of kefu_lease_time:
 *
 * - a presence lease per site, under which its agents' connections count
 *   (ngx_kefu_presence.c).  A worker that dies (SIGKILL, a host gone)
 *   stops renewing it: when it lapses, the next tick of any live worker
 *   removes its connections and starts their agents' grace periods.
 * - a node number for its ids (ngx_kefu_id.c), renewed, released at exit,
 *   taken by another worker only once it lapsed.
 *
 * Each tick also sweeps the site's grace deadlines, so expiry and
 * requeueing happen exactly once, by whichever worker of any host sees
 * them first, whatever reloads happened in between: the deadline lives in
 * Redis, not in a timer.  When a presence call was not heard (Redis not
 * ready, a timeout), or the lease lapsed while Redis could not hear it,
 * the next tick asserts the worker's live agent connections again (sync).
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_lease.h"
#include "ngx_kefu_bot.h"

#include <openssl/rand.h>


/*
 * Every so many ticks the worker asserts its connections even though no
 * call was known to fail: whatever drifted is healed within a bounded time.
 */
#define NGX_KEFU_LEASE_SYNC_TICKS  8

/*
 * A worker without an id node yet asks again this soon (ms) when its claim
 * could not run: on a cluster READY comes with the first master's link,
 * and {nodes}' master may follow a moment later; a tick (a third of the
 * lease) would leave the worker without ids, refusing every message, that
 * long.
 */
#define NGX_KEFU_LEASE_CLAIM_AGAIN  100


/* lease_renew's and lease_sync's arguments, and the buffers they point to */
typedef struct {
    const char            *argv[7];
    size_t                 lens[7];
    u_char                 key[NGX_KEFU_MAX_ID_LEN + 32];
    u_char                 ts[NGX_INT64_LEN];
    u_char                 ttl[NGX_INT_T_LEN];
    u_char                 grace[NGX_INT_T_LEN];
} ngx_kefu_lease_args_t;


/* the node numbers' keys, declared to the scripts (one hash slot) */
#define NGX_KEFU_NODE_KEYS  4

static const char  *ngx_kefu_node_keys[NGX_KEFU_NODE_KEYS] = {
    "kefu:{nodes}", "kefu:{nodes}:owner", "kefu:{nodes}:floor",
    "kefu:{nodes}:cursor"
};


/* grace deadlines one sweep call handles at most */
#define NGX_KEFU_LEASE_SWEEP  "20"


struct ngx_kefu_lease_s {
    ngx_kefu_main_conf_t        *kmcf;
    ngx_event_t                  tick;
    u_char                       token[16];
    ngx_int_t                    node;         /* -1: none */
    ngx_msec_t                   claim_sent;
    ngx_uint_t                   ticks;
    u_char                      *held;         /* per site: renewed once */
    unsigned                     claiming:1;
    unsigned                     dirty:1;
};


static void ngx_kefu_lease_tick(ngx_event_t *ev);
static void ngx_kefu_lease_run(ngx_kefu_lease_t *lease);
static void ngx_kefu_lease_claim(ngx_kefu_lease_t *lease);
static void ngx_kefu_lease_claim_handler(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_lease_renew(ngx_kefu_lease_t *lease,
    ngx_kefu_site_t *site);
static void ngx_kefu_lease_renew_handler(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static ngx_int_t ngx_kefu_lease_reply(ngx_kefu_main_conf_t *kmcf,
    redisReply *reply, size_t n, ngx_uint_t log_error);
static void ngx_kefu_lease_sync(ngx_kefu_lease_t *lease,
    ngx_kefu_site_t *site);
static ngx_kefu_ws_t *ngx_kefu_lease_present(ngx_rbtree_t *tree,
    ngx_rbtree_node_t **node, ngx_kefu_site_t *site);
static void ngx_kefu_lease_sync_handler(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_lease_sweep(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site);
static void ngx_kefu_lease_sweep_handler(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static size_t ngx_kefu_lease_key(u_char *buf, ngx_kefu_site_t *site);
static void ngx_kefu_lease_args(ngx_kefu_lease_args_t *a,
    ngx_kefu_lease_t *lease, ngx_kefu_site_t *site);
static void ngx_kefu_lease_ignore(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);


ngx_int_t
ngx_kefu_lease_init_process(ngx_cycle_t *cycle)
{
    ngx_kefu_lease_t      *lease;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);

    if (kmcf == NULL || kmcf->redis_conf == NULL) {
        return NGX_OK;
    }

    lease = ngx_pcalloc(cycle->pool, sizeof(ngx_kefu_lease_t));
    if (lease == NULL) {
        return NGX_ERROR;
    }

    lease->kmcf = kmcf;
    lease->node = -1;

    lease->held = ngx_pcalloc(cycle->pool, kmcf->sites.nelts + 1);
    if (lease->held == NULL) {
        return NGX_ERROR;
    }

    {
        u_char  rnd[8];

        if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
            return NGX_ERROR;
        }

        ngx_hex_dump(lease->token, rnd, sizeof(rnd));
    }

    lease->tick.handler = ngx_kefu_lease_tick;
    lease->tick.data = lease;
    lease->tick.log = cycle->log;

    /* it holds no deadline: an exiting worker need not wait for it */
    lease->tick.cancelable = 1;

    kmcf->lease = lease;

    ngx_add_timer(&lease->tick, ngx_max(kmcf->lease_time / 3, 1));

    return NGX_OK;
}


/* the worker's token, 16 hex digits; "-" without Redis */

u_char *
ngx_kefu_lease_token(ngx_kefu_main_conf_t *kmcf)
{
    return kmcf->lease ? kmcf->lease->token : (u_char *) "----------------";
}


/* something this worker told Redis may be lost: assert it all again */

void
ngx_kefu_lease_dirty(ngx_kefu_main_conf_t *kmcf)
{
    if (kmcf->lease) {
        kmcf->lease->dirty = 1;
    }
}


/* leases renewed, a node number for ids, as soon as commands can run */
const ngx_kefu_redis_consumer_t  ngx_kefu_lease_redis_consumer = {
    ngx_kefu_lease_ready,                  /* ready */
    NULL, NULL, NULL, NULL
};


/* the command connection is (again) ready: renew now, not a tick later */

void
ngx_kefu_lease_ready(ngx_kefu_main_conf_t *kmcf)
{
    if (kmcf->lease) {
        kmcf->lease->claiming = 0;
        ngx_kefu_lease_run(kmcf->lease);
    }
}


static void
ngx_kefu_lease_tick(ngx_event_t *ev)
{
    ngx_kefu_lease_t  *lease = ev->data;

    ngx_kefu_lease_run(lease);

    /* an exiting worker keeps its leases while its connections close */
    ngx_add_timer(ev, ngx_max(lease->kmcf->lease_time / 3, 1));
}


static void
ngx_kefu_lease_run(ngx_kefu_lease_t *lease)
{
    ngx_uint_t             i, dirty;
    ngx_kefu_site_t       *site;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = lease->kmcf;

    if (!ngx_kefu_redis_ready(kmcf->redis)) {
        return;
    }

    ngx_kefu_lease_claim(lease);

    dirty = lease->dirty || ++lease->ticks % NGX_KEFU_LEASE_SYNC_TICKS == 0;
    lease->dirty = 0;

    site = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        ngx_kefu_lease_renew(lease, &site[i]);

        /* the rules' waiting trigger: a lease of its own per group */
        ngx_kefu_rules_wait(kmcf, &site[i]);

        if (dirty) {
            ngx_kefu_lease_sync(lease, &site[i]);
        }
    }
}


/* the node number: renewed, or a free one taken */

static void
ngx_kefu_lease_claim(ngx_kefu_lease_t *lease)
{
    u_char                 ttl[NGX_INT_T_LEN], node[NGX_INT_T_LEN];
    u_char                 floor[NGX_INT64_LEN];
    size_t                 lens[NGX_KEFU_NODE_KEYS + 4];
    int64_t                last;
    ngx_uint_t             i;
    const char            *argv[NGX_KEFU_NODE_KEYS + 4];
    ngx_kefu_id_gen_t     *gen;
    ngx_kefu_main_conf_t  *kmcf;

    if (lease->claiming) {
        return;
    }

    kmcf = lease->kmcf;
    gen = &kmcf->ids;

    /* the latest millisecond an id may carry under the renewed lease */
    last = (int64_t) gen->last + 1704067200000LL;
    last = ngx_max(last, ngx_kefu_now_ms()) + (int64_t) kmcf->lease_time;

    for (i = 0; i < NGX_KEFU_NODE_KEYS; i++) {
        argv[i] = ngx_kefu_node_keys[i];
        lens[i] = ngx_strlen(ngx_kefu_node_keys[i]);
    }

    argv[i] = (char *) lease->token;
    lens[i++] = sizeof(lease->token);
    argv[i] = (char *) ttl;
    lens[i++] = ngx_sprintf(ttl, "%M", kmcf->lease_time) - ttl;
    argv[i] = (char *) node;
    lens[i++] = lease->node >= 0 ? ngx_sprintf(node, "%i", lease->node) - node
                                 : 0;
    argv[i] = (char *) floor;
    lens[i++] = ngx_sprintf(floor, "%L", last) - floor;

    lease->claim_sent = ngx_current_msec;

    if (ngx_kefu_redis_eval(kmcf->redis, &ngx_kefu_script_node_claim,
                            ngx_kefu_lease_claim_handler, lease,
                            NGX_KEFU_NODE_KEYS, i, argv, lens)
        == NGX_OK)
    {
        lease->claiming = 1;
        return;
    }

    if (lease->node < 0) {
        ngx_add_timer(&lease->tick, NGX_KEFU_LEASE_CLAIM_AGAIN);
    }
}


static void
ngx_kefu_lease_claim_handler(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_lease_t  *lease = data;

    int64_t                node, floor;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = lease->kmcf;
    lease->claiming = 0;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        /* not renewed: ids stop when the lease may have lapsed */
        if (lease->node < 0 && !ngx_exiting && !ngx_terminate && !ngx_quit) {
            ngx_add_timer(&lease->tick, NGX_KEFU_LEASE_CLAIM_AGAIN);
        }

        return;
    }

    node = reply->element[0]->integer;

    if (node < 0 || node > 1023) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "kefu: all 1024 id node numbers are held by live "
                      "workers; no new messages until one is free");
        ngx_kefu_id_stop(&kmcf->ids);
        lease->node = -1;
        return;
    }

    floor = ngx_atoof((u_char *) reply->element[1]->str,
                      reply->element[1]->len);

    if (node != lease->node) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "kefu: ids use node %L", node);
        ngx_kefu_stat_inc(kmcf, node_claims);
    }

    lease->node = (ngx_int_t) node;

    /* the lease started no earlier than the claim was sent */
    ngx_kefu_id_set_node(&kmcf->ids, (ngx_uint_t) node,
                         floor == NGX_ERROR ? 0 : floor,
                         lease->claim_sent + kmcf->lease_time);
}


static void
ngx_kefu_lease_renew(ngx_kefu_lease_t *lease, ngx_kefu_site_t *site)
{
    ngx_kefu_lease_args_t  a;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = lease->kmcf;

    ngx_kefu_lease_args(&a, lease, site);
    a.argv[6] = lease->held[site - (ngx_kefu_site_t *) kmcf->sites.elts]
                ? "1" : "0";
    a.lens[6] = 1;

    if (ngx_kefu_redis_eval(kmcf->redis, &ngx_kefu_script_lease_renew,
                            ngx_kefu_lease_renew_handler, site, 1, 7, a.argv,
                            a.lens)
        != NGX_OK)
    {
        lease->dirty = 1;
    }
}


/*
 * Whether a reply of lease or lease_sync is its n integers, with the
 * worker's lease still there (not exiting); if not, the lease may have
 * lapsed meanwhile: the next tick asserts it all (a script's error
 * logged if log_error)
 */

static ngx_int_t
ngx_kefu_lease_reply(ngx_kefu_main_conf_t *kmcf, redisReply *reply,
    size_t n, ngx_uint_t log_error)
{
    size_t  i;

    if (kmcf->lease == NULL) {
        return NGX_DECLINED;
    }

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == n) {
        for (i = 0; i < n; i++) {
            if (reply->element[i]->type != REDIS_REPLY_INTEGER) {
                break;
            }
        }

        if (i == n) {
            return NGX_OK;
        }
    }

    if (log_error && reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "kefu: lease script failed: %s", reply->str);
    }

    kmcf->lease->dirty = 1;

    return NGX_DECLINED;
}


/* {lost, leases purged, grace deadlines due} */

static void
ngx_kefu_lease_renew_handler(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_site_t  *site = data;

    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_kefu_redis_main_conf(rd);

    if (ngx_kefu_lease_reply(kmcf, reply, 3, 1) != NGX_OK) {
        return;
    }

    if (reply->element[1]->integer > 0) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "kefu: site \"%V\": %L lapsed lease(s) of other "
                      "workers removed with their connections", &site->name,
                      reply->element[1]->integer);
        ngx_kefu_stat_add(kmcf, leases_lapsed, reply->element[1]->integer);
    }

    if (reply->element[0]->integer) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: site \"%V\": this worker's lease had lapsed, "
                      "its agents' connections are asserted again",
                      &site->name);
        ngx_kefu_lease_sync(kmcf->lease, site);
    }

    kmcf->lease->held[site - (ngx_kefu_site_t *) kmcf->sites.elts] = 1;

    if (reply->element[2]->integer > 0) {
        ngx_kefu_lease_sweep(kmcf, site);
    }
}


/* the worker's live agent connections of a site, asserted as the truth */

static void
ngx_kefu_lease_sync(ngx_kefu_lease_t *lease, ngx_kefu_site_t *site)
{
    u_char                *list, *p;
    size_t                 size;
    ngx_kefu_lease_args_t  a;
    ngx_rbtree_node_t     *node;
    ngx_kefu_ws_t         *ws;
    ngx_rbtree_t          *tree;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = lease->kmcf;
    tree = &kmcf->local->sessions;

    size = 1;
    node = NULL;

    while ((ws = ngx_kefu_lease_present(tree, &node, site))) {
        size += ws->user_id.len + 1 + 16 + 1;
    }

    list = ngx_alloc(size, ngx_cycle->log);
    if (list == NULL) {
        lease->dirty = 1;
        return;
    }

    p = list;
    node = NULL;

    while ((ws = ngx_kefu_lease_present(tree, &node, site))) {
        p = ngx_slprintf(p, list + size, "%V|%016xL ", &ws->user_id,
                         ws->session_id);
    }

    ngx_kefu_lease_args(&a, lease, site);
    a.argv[6] = (char *) list;
    a.lens[6] = p - list;

    if (ngx_kefu_redis_eval(kmcf->redis, &ngx_kefu_script_lease_sync,
                            ngx_kefu_lease_sync_handler, site, 1, 7, a.argv,
                            a.lens)
        != NGX_OK)
    {
        lease->dirty = 1;
    }

    ngx_free(list);
}


/*
 * the worker's next connection after *node (NULL: from the first) of an
 * agent present on the site, in the sessions' order; NULL after the last:
 * the list is sized and then written by the same walk
 */

static ngx_kefu_ws_t *
ngx_kefu_lease_present(ngx_rbtree_t *tree, ngx_rbtree_node_t **node,
    ngx_kefu_site_t *site)
{
    ngx_kefu_ws_t      *ws;
    ngx_rbtree_node_t  *n;

    if (*node) {
        n = ngx_rbtree_next(tree, *node);

    } else {
        n = tree->root == tree->sentinel
            ? NULL : ngx_rbtree_min(tree->root, tree->sentinel);
    }

    for ( /* void */ ; n; n = ngx_rbtree_next(tree, n)) {
        ws = (ngx_kefu_ws_t *) ((u_char *) n
                                - offsetof(ngx_kefu_ws_t, session_node));

        if (ws->present && ws->site == site) {
            *node = n;
            return ws;
        }
    }

    *node = NULL;

    return NULL;
}


/* {removed, added} */

static void
ngx_kefu_lease_sync_handler(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_site_t  *site = data;

    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_kefu_redis_main_conf(rd);

    if (ngx_kefu_lease_reply(kmcf, reply, 2, 0) != NGX_OK) {
        return;
    }

    if (reply->element[0]->integer || reply->element[1]->integer) {
        ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                      "kefu: site \"%V\": agents' connections asserted "
                      "again: %L removed, %L added", &site->name,
                      reply->element[0]->integer, reply->element[1]->integer);
        ngx_kefu_stat_inc(kmcf, presence_resyncs);
    }
}


static void
ngx_kefu_lease_sweep(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site)
{
    ngx_kefu_route_call_t  *call;

    call = ngx_kefu_route_call(kmcf, &ngx_kefu_script_route_sweep, site, 0,
                               NULL, NULL);
    if (call == NULL) {
        return;
    }

    call->handler = ngx_kefu_lease_sweep_handler;

    (void) ngx_kefu_route_arg(call, (u_char *) NGX_KEFU_LEASE_SWEEP,
                              sizeof(NGX_KEFU_LEASE_SWEEP) - 1);

    ngx_kefu_route_run(call);
}


/* {0, "", more, again, conversations' sides, agents made offline,
 * conversations requeued} */

static void
ngx_kefu_lease_sweep_handler(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_route_call_t  *call = data;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 7
        && reply->element[5]->type == REDIS_REPLY_INTEGER
        && reply->element[6]->type == REDIS_REPLY_INTEGER)
    {
        if (reply->element[5]->integer || reply->element[6]->integer) {
            ngx_log_error(NGX_LOG_NOTICE, ngx_cycle->log, 0,
                          "kefu: site \"%V\": grace over: %L agent(s) "
                          "offline, %L conversation(s) requeued",
                          &call->site->name, reply->element[5]->integer,
                          reply->element[6]->integer);
        }

        ngx_kefu_stat_add(call->kmcf, agents_expired,
                          reply->element[5]->integer);
        ngx_kefu_stat_add(call->kmcf, convs_requeued,
                          reply->element[6]->integer);
    }

    ngx_kefu_route_reply(rd, reply, call);
}


/*
 * An exiting worker gives its leases back: its agents' connections stop
 * counting now rather than when the lease would lapse, and its node number
 * is free.  Written before the Redis connection closes; nobody waits for
 * the replies.
 */

void
ngx_kefu_lease_exit(ngx_cycle_t *cycle)
{
    u_char                 ts[NGX_INT64_LEN], grace[NGX_INT_T_LEN];
    u_char                 node[NGX_INT_T_LEN];
    u_char                 key[NGX_KEFU_MAX_ID_LEN + 32];
    size_t                 lens[NGX_KEFU_NODE_KEYS + 2];
    ngx_uint_t             i;
    const char            *argv[NGX_KEFU_NODE_KEYS + 2];
    ngx_kefu_site_t       *site;
    ngx_kefu_lease_t      *lease;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);

    if (kmcf == NULL || kmcf->lease == NULL) {
        return;
    }

    lease = kmcf->lease;

    if (lease->tick.timer_set) {
        ngx_del_timer(&lease->tick);
    }

    ngx_kefu_id_stop(&kmcf->ids);

    if (!ngx_kefu_redis_ready(kmcf->redis)) {
        return;
    }

    site = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        argv[0] = (char *) key;
        lens[0] = ngx_kefu_lease_key(key, &site[i]);
        argv[1] = (char *) site[i].name.data;
        lens[1] = site[i].name.len;
        argv[2] = (char *) ts;
        lens[2] = ngx_sprintf(ts, "%L", ngx_kefu_now_ms()) - ts;
        argv[3] = (char *) lease->token;
        lens[3] = sizeof(lease->token);
        argv[4] = (char *) grace;
        lens[4] = ngx_sprintf(grace, "%M", site[i].grace) - grace;

        (void) ngx_kefu_redis_eval(kmcf->redis,
                                   &ngx_kefu_script_lease_release,
                                   ngx_kefu_lease_ignore, NULL, 1, 5, argv,
                                   lens);
    }

    if (lease->node >= 0) {
        for (i = 0; i < NGX_KEFU_NODE_KEYS; i++) {
            argv[i] = ngx_kefu_node_keys[i];
            lens[i] = ngx_strlen(ngx_kefu_node_keys[i]);
        }

        argv[i] = (char *) lease->token;
        lens[i++] = sizeof(lease->token);
        argv[i] = (char *) node;
        lens[i++] = ngx_sprintf(node, "%i", lease->node) - node;

        (void) ngx_kefu_redis_eval(kmcf->redis,
                                   &ngx_kefu_script_node_release,
                                   ngx_kefu_lease_ignore, NULL,
                                   NGX_KEFU_NODE_KEYS, i, argv, lens);
    }
}


static void
ngx_kefu_lease_ignore(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
}


/*
 * the arguments lease_renew and lease_sync share: KEYS[1], site, now,
 * the worker's token, the lease's ttl, the site's grace; each adds its
 * seventh
 */

static void
ngx_kefu_lease_args(ngx_kefu_lease_args_t *a, ngx_kefu_lease_t *lease,
    ngx_kefu_site_t *site)
{
    a->argv[0] = (char *) a->key;
    a->lens[0] = ngx_kefu_lease_key(a->key, site);
    a->argv[1] = (char *) site->name.data;
    a->lens[1] = site->name.len;
    a->argv[2] = (char *) a->ts;
    a->lens[2] = ngx_sprintf(a->ts, "%L", ngx_kefu_now_ms()) - a->ts;
    a->argv[3] = (char *) lease->token;
    a->lens[3] = sizeof(lease->token);
    a->argv[4] = (char *) a->ttl;
    a->lens[4] = ngx_sprintf(a->ttl, "%M", lease->kmcf->lease_time) - a->ttl;
    a->argv[5] = (char *) a->grace;
    a->lens[5] = ngx_sprintf(a->grace, "%M", site->grace) - a->grace;
}


/* KEYS[1] of the lease scripts: the site's leases (its slot) */

static size_t
ngx_kefu_lease_key(u_char *buf, ngx_kefu_site_t *site)
{
    return ngx_snprintf(buf, NGX_KEFU_MAX_ID_LEN + 32, "kefu:{s:%V}:leases",
                        &site->name)
           - buf;
}
