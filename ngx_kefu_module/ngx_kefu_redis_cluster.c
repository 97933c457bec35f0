
/*
 * Redis Cluster: the slot map, which node serves a call, redirections.
 *
 * - `kefu_redis cluster host:port ...` names seeds.  A link to each is
 *   opened; the first one ready is asked CLUSTER SLOTS.  From then on the
 *   worker keeps a command link and a sharded pub/sub link
 *   (ngx_kefu_redis_shard.c) to every master that serves slots, and none
 *   to other nodes (a seed that is a replica is let go).
 * - A call goes to the master of its first key's slot: CRC16 (XMODEM) of
 *   the key, or of its hash tag (what is between the first "{" and the
 *   next "}", when not empty), modulo 16384.
 * - MOVED: the slot has a new master.  The entry is corrected at once, the
 *   call sent there, and the whole map asked again.  ASK: the slot is
 *   being migrated and this key already left: ASKING and the call go to
 *   the importing node, the map stays.
 * - The map is asked again when a link to a master goes down (a failover:
 *   the replica's promotion shows in the map of the surviving masters),
 *   on MOVED, and every `ping` interval.  A link to a master that no
 *   longer serves slots is not reconnected.  If no link is up at all,
 *   every known node (the seeds included) is tried again.
 * - Nodes are named by numeric addresses only: hiredis resolves names with
 *   blocking calls (cluster-announce-hostname is not followed).
 */


#include "ngx_kefu_redis_int.h"

#include <arpa/inet.h>


#define NGX_KEFU_REDIS_REFRESH_SOON  100


static ngx_kefu_redis_node_t *ngx_kefu_redis_node(ngx_kefu_redis_t *rd,
    u_char *host, size_t len, ngx_int_t port);
static void ngx_kefu_redis_map_ask(ngx_kefu_redis_link_t *link);
static void ngx_kefu_redis_map_reply(ngx_kefu_redis_t *rd, redisReply *r,
    void *data);
static void ngx_kefu_redis_map_apply(ngx_kefu_redis_t *rd, u_char *next);
static void ngx_kefu_redis_refresh_handler(ngx_event_t *ev);
static void ngx_kefu_redis_cluster_tell_ready(ngx_kefu_redis_t *rd);


/* a seed: host:port, resolved here (configuration time) to a number */

char *
ngx_kefu_redis_cluster_conf(ngx_conf_t *cf, ngx_kefu_redis_conf_t *rc,
    ngx_str_t *addr)
{
    u_char                 *p;
    ngx_url_t               u;
    ngx_kefu_redis_addr_t  *a;

    if (ngx_strncmp(addr->data, "unix:", 5) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"kefu_redis cluster\" takes host:port "
                           "addresses, not \"%V\"", addr);
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = *addr;
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid address \"%V\" in \"kefu_redis "
                           "cluster\"%s%s", addr, u.err ? ": " : "",
                           u.err ? u.err : "");
        return NGX_CONF_ERROR;
    }

    if (rc->seeds == NULL) {
        rc->seeds = ngx_array_create(cf->pool, 4,
                                     sizeof(ngx_kefu_redis_addr_t));
        if (rc->seeds == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (rc->seeds->nelts == NGX_KEFU_REDIS_NODES_MAX) {
        return "has too many cluster addresses";
    }

    a = ngx_array_push(rc->seeds);
    p = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (a == NULL || p == NULL) {
        return NGX_CONF_ERROR;
    }

    a->host = p;
    p = p + ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, p,
                          NGX_SOCKADDR_STRLEN, 0);
    *p = '\0';

    /* hiredis wants an IPv6 address without brackets */
    if (a->host[0] == '[') {
        a->host++;
        p[-1] = '\0';
    }

    a->port = u.port;

    if (rc->seeds->nelts == 1) {
        rc->host.data = a->host;
        rc->host.len = ngx_strlen(a->host);
        rc->port = a->port;
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_kefu_redis_cluster_init(ngx_kefu_redis_t *rd)
{
    ngx_uint_t              i;
    ngx_kefu_redis_addr_t  *a;
    ngx_kefu_redis_node_t  *node;

    rd->slots = ngx_calloc(NGX_KEFU_REDIS_SLOTS, rd->log);
    if (rd->slots == NULL) {
        return NGX_ERROR;
    }

    rd->refresh.handler = ngx_kefu_redis_refresh_handler;
    rd->refresh.data = rd;
    rd->refresh.log = rd->log;
    rd->refresh.cancelable = 1;

    a = rd->conf->seeds->elts;

    for (i = 0; i < rd->conf->seeds->nelts; i++) {
        node = ngx_kefu_redis_node(rd, a[i].host, ngx_strlen(a[i].host),
                                   a[i].port);
        if (node == NULL) {
            return NGX_ERROR;
        }

        node->seed = 1;
        ngx_kefu_redis_connect(&node->cmd);
    }

    return NGX_OK;
}


void
ngx_kefu_redis_cluster_exit(ngx_kefu_redis_t *rd)
{
    if (rd->refresh.timer_set) {
        ngx_del_timer(&rd->refresh);
    }
}


/* CRC16-CCITT (XMODEM: polynomial 0x1021, initial 0), as Redis Cluster */

static uint16_t
ngx_kefu_redis_crc16(const u_char *p, size_t len)
{
    uint16_t    crc;
    ngx_uint_t  i;

    crc = 0;

    while (len--) {
        crc ^= (uint16_t) (*p++ << 8);

        for (i = 0; i < 8; i++) {
            crc = (crc & 0x8000) ? (uint16_t) ((crc << 1) ^ 0x1021)
                                 : (uint16_t) (crc << 1);
        }
    }

    return crc;
}


ngx_uint_t
ngx_kefu_redis_slot(const u_char *key, size_t len)
{
    const u_char  *open, *close;

    open = ngx_strlchr((u_char *) key, (u_char *) key + len, '{');

    if (open) {
        close = ngx_strlchr((u_char *) open + 1, (u_char *) key + len, '}');

        if (close && close > open + 1) {
            key = open + 1;
            len = close - key;
        }
    }

    return ngx_kefu_redis_crc16(key, len) & (NGX_KEFU_REDIS_SLOTS - 1);
}


ngx_kefu_redis_link_t *
ngx_kefu_redis_cluster_route(ngx_kefu_redis_t *rd, ngx_uint_t slot)
{
    ngx_uint_t  n;

    if (!rd->map_known) {
        return NULL;
    }

    n = rd->slots[slot];

    return n ? &rd->nodes[n - 1]->cmd : NULL;
}


/* the map known and a master reachable: calls to it can run */

ngx_uint_t
ngx_kefu_redis_cluster_ready(ngx_kefu_redis_t *rd)
{
    ngx_uint_t  i;

    if (!rd->map_known) {
        return 0;
    }

    for (i = 0; i < rd->nnodes; i++) {
        if (rd->nodes[i]->owned
            && rd->nodes[i]->cmd.state == NGX_KEFU_LINK_READY)
        {
            return 1;
        }
    }

    return 0;
}


/* a node, found by its address or added (never freed before exit) */

static ngx_kefu_redis_node_t *
ngx_kefu_redis_node(ngx_kefu_redis_t *rd, u_char *host, size_t len,
    ngx_int_t port)
{
    u_char                  buf[NGX_SOCKADDR_STRLEN + 1];
    ngx_uint_t              i;
    ngx_kefu_redis_node_t  *node;

    if (len == 0 || len > NGX_SOCKADDR_STRLEN || port <= 0 || port > 65535) {
        return NULL;
    }

    ngx_memcpy(buf, host, len);
    buf[len] = '\0';

    for (i = 0; i < rd->nnodes; i++) {
        node = rd->nodes[i];

        if (node->port == port
            && ngx_strcmp(node->host, buf) == 0)
        {
            return node;
        }
    }

    if (rd->nnodes == NGX_KEFU_REDIS_NODES_MAX) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "kefu: redis cluster has more than %d nodes, "
                      "%s:%i left out", NGX_KEFU_REDIS_NODES_MAX, buf, port);
        return NULL;
    }

    node = ngx_calloc(sizeof(ngx_kefu_redis_node_t), rd->log);
    if (node == NULL) {
        return NULL;
    }

    /* a number only: what hiredis and the sharded link connect to */
    if (inet_pton(AF_INET, (char *) buf,
                  &node->sockaddr.sockaddr_in.sin_addr) == 1)
    {
        node->sockaddr.sockaddr_in.sin_family = AF_INET;
        node->sockaddr.sockaddr_in.sin_port = htons((in_port_t) port);
        node->socklen = sizeof(struct sockaddr_in);

#if (NGX_HAVE_INET6)
    } else if (inet_pton(AF_INET6, (char *) buf,
                         &node->sockaddr.sockaddr_in6.sin6_addr) == 1)
    {
        node->sockaddr.sockaddr_in6.sin6_family = AF_INET6;
        node->sockaddr.sockaddr_in6.sin6_port = htons((in_port_t) port);
        node->socklen = sizeof(struct sockaddr_in6);
#endif

    } else {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "kefu: redis cluster node \"%s\" is not a numeric "
                      "address, left out", buf);
        ngx_free(node);
        return NULL;
    }

    ngx_memcpy(node->host, buf, len + 1);
    node->port = (int) port;
    node->rd = rd;
    node->index = rd->nnodes;
    ngx_snprintf(node->name, sizeof(node->name) - 1, "%s:%i%Z", buf, port);

    node->cmd.node = node;
    ngx_kefu_redis_link_init(&node->cmd, rd, (char *) node->name);
    node->sub.node = node;

    rd->nodes[rd->nnodes++] = node;

    return node;
}


/* a command link is ready: the map is asked on it (or is known) */

void
ngx_kefu_redis_cluster_link_ready(ngx_kefu_redis_link_t *link)
{
    ngx_kefu_redis_t  *rd;

    rd = link->rd;

    if (!rd->map_asked) {
        ngx_kefu_redis_map_ask(link);
    }

    if (rd->map_known && link->node->owned) {
        ngx_kefu_redis_shard_connect(link->node);
    }

    ngx_kefu_redis_cluster_tell_ready(rd);
}


/*
 * Consumers hear READY when calls can run again after none could: once,
 * not once per master (a lease claim in flight would be sent twice).  A
 * call that failed on one master's link meanwhile is retried by its
 * caller's own backoff.
 */

static void
ngx_kefu_redis_cluster_tell_ready(ngx_kefu_redis_t *rd)
{
    if (!rd->ready_told && ngx_kefu_redis_ready(rd)) {
        rd->ready_told = 1;
        ngx_kefu_redis_tell(rd, NGX_KEFU_REDIS_READY);
    }
}


/* a command link went down: whether to reconnect it */

ngx_uint_t
ngx_kefu_redis_cluster_link_down(ngx_kefu_redis_link_t *link)
{
    ngx_kefu_redis_t  *rd;

    rd = link->rd;

    if (!ngx_kefu_redis_ready(rd)) {
        rd->ready_told = 0;
    }

    if (rd->map_known && !rd->refresh.timer_set && !rd->exiting) {
        ngx_add_timer(&rd->refresh, NGX_KEFU_REDIS_REFRESH_SOON);
    }

    return !rd->map_known || link->node->owned;
}


static void
ngx_kefu_redis_refresh_handler(ngx_event_t *ev)
{
    ngx_kefu_redis_cluster_refresh(ev->data);
}


/* the map asked again, of any node that is up; none up: all tried again */

void
ngx_kefu_redis_cluster_refresh(ngx_kefu_redis_t *rd)
{
    ngx_uint_t              i;
    ngx_kefu_redis_link_t  *link;

    if (rd->map_asked || rd->exiting || ngx_exiting || ngx_quit
        || ngx_terminate)
    {
        return;
    }

    for (i = 0; i < rd->nnodes; i++) {
        link = &rd->nodes[i]->cmd;

        if (link->state == NGX_KEFU_LINK_READY) {
            ngx_kefu_redis_map_ask(link);
            return;
        }
    }

    for (i = 0; i < rd->nnodes; i++) {
        link = &rd->nodes[i]->cmd;

        if (link->ac == NULL && !link->retry.timer_set) {
            ngx_kefu_redis_connect(link);
        }
    }
}


static void
ngx_kefu_redis_map_ask(ngx_kefu_redis_link_t *link)
{
    ngx_kefu_redis_args_t  a;

    ngx_kefu_redis_args(&a, ngx_kefu_word("CLUSTER"), ngx_kefu_word("SLOTS"));

    if (ngx_kefu_redis_send(link, ngx_kefu_redis_map_reply, link->node,
                            a.argc, a.argv, a.lens)
        == NGX_OK)
    {
        link->rd->map_asked = 1;
    }
}


/*
 * CLUSTER SLOTS: [[start, end, [host, port, id, ...], replicas...], ...].
 * An empty host means the node answering.
 */

static void
ngx_kefu_redis_map_reply(ngx_kefu_redis_t *rd, redisReply *r, void *data)
{
    ngx_kefu_redis_node_t  *asked = data;

    u_char                 *next;
    size_t                  len;
    u_char                 *host;
    ngx_uint_t              i, s;
    redisReply             *e, *m;
    ngx_kefu_redis_node_t  *node;

    rd->map_asked = 0;

    if (rd->exiting) {
        return;
    }

    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        if (r && r->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "kefu: redis %s answered CLUSTER SLOTS with "
                          "\"%s\" (is it a cluster node?)", asked->name,
                          r->str);
        }

        if (!rd->refresh.timer_set) {
            ngx_add_timer(&rd->refresh, rd->conf->ping);
        }

        return;
    }

    next = ngx_calloc(NGX_KEFU_REDIS_SLOTS, rd->log);
    if (next == NULL) {
        return;
    }

    for (i = 0; i < r->elements; i++) {
        e = r->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3
            || e->element[0]->type != REDIS_REPLY_INTEGER
            || e->element[1]->type != REDIS_REPLY_INTEGER
            || e->element[2]->type != REDIS_REPLY_ARRAY
            || e->element[2]->elements < 2)
        {
            continue;
        }

        m = e->element[2];

        if (m->element[0]->type != REDIS_REPLY_STRING
            || m->element[1]->type != REDIS_REPLY_INTEGER)
        {
            continue;
        }

        host = (u_char *) m->element[0]->str;
        len = m->element[0]->len;

        if (len == 0) {
            host = asked->host;
            len = ngx_strlen(asked->host);
        }

        node = ngx_kefu_redis_node(rd, host, len,
                                   (ngx_int_t) m->element[1]->integer);
        if (node == NULL) {
            continue;
        }

        for (s = (ngx_uint_t) e->element[0]->integer;
             s <= (ngx_uint_t) e->element[1]->integer
             && s < NGX_KEFU_REDIS_SLOTS;
             s++)
        {
            next[s] = (u_char) (node->index + 1);
        }
    }

    ngx_kefu_redis_map_apply(rd, next);

    ngx_free(next);
}


static void
ngx_kefu_redis_map_apply(ngx_kefu_redis_t *rd, u_char *next)
{
    ngx_uint_t              i, s, masters, missing, first;
    ngx_kefu_redis_node_t  *node;

    first = !rd->map_known;

    if (!first
        && ngx_memcmp(rd->slots, next, NGX_KEFU_REDIS_SLOTS) == 0)
    {
        return;
    }

    ngx_memcpy(rd->slots, next, NGX_KEFU_REDIS_SLOTS);
    rd->map_known = 1;
    rd->maps++;

    for (i = 0; i < rd->nnodes; i++) {
        rd->nodes[i]->owned = 0;
    }

    missing = 0;

    for (s = 0; s < NGX_KEFU_REDIS_SLOTS; s++) {
        if (rd->slots[s]) {
            rd->nodes[rd->slots[s] - 1]->owned++;

        } else {
            missing++;
        }
    }

    masters = 0;

    for (i = 0; i < rd->nnodes; i++) {
        node = rd->nodes[i];

        if (node->owned) {
            masters++;

            /* a master: both links, now or when its reconnect runs */
            if (node->cmd.ac == NULL && !node->cmd.retry.timer_set) {
                ngx_kefu_redis_connect(&node->cmd);
            }

            if (node->cmd.state == NGX_KEFU_LINK_READY) {
                ngx_kefu_redis_shard_connect(node);
            }

            continue;
        }

        /* serves no slots: let go (a replica seed, a demoted master) */
        ngx_kefu_redis_shard_close(node, 0);

        if (node->cmd.retry.timer_set) {
            ngx_del_timer(&node->cmd.retry);
        }

        if (node->cmd.ac && node->cmd.ninflight == 0
            && !(node->cmd.ac->c.flags & REDIS_DISCONNECTING))
        {
            /* closes once its replies are in: its cleanup sees owned 0 */
            redisAsyncDisconnect(node->cmd.ac);
        }
    }

    ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                  "kefu: redis cluster slot map %s: %ui masters%s",
                  first ? "taken" : "changed", masters,
                  missing ? ", some slots without a master" : "");

    ngx_kefu_redis_shard_remap(rd);

    ngx_kefu_stat_redis_link(rd->kmcf, 0, ngx_kefu_redis_ready(rd));

    ngx_kefu_redis_cluster_tell_ready(rd);
}


/*
 * "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>": the node to
 * send the call to.  MOVED corrects the slot's entry at once and has the
 * whole map asked again.
 */

ngx_kefu_redis_node_t *
ngx_kefu_redis_cluster_redirect(ngx_kefu_redis_t *rd, redisReply *r,
    ngx_uint_t *ask)
{
    u_char                 *p, *last, *colon, *host;
    ngx_int_t               slot, port;
    ngx_kefu_redis_node_t  *node, *old;

    p = (u_char *) r->str;
    last = p + r->len;

    *ask = (p[0] == 'A');
    p += *ask ? 4 : 6;

    host = ngx_strlchr(p, last, ' ');
    if (host == NULL) {
        return NULL;
    }

    slot = ngx_atoi(p, host - p);
    host++;

    colon = NULL;

    for (p = host; p < last; p++) {
        if (*p == ':') {
            colon = p;
        }
    }

    if (slot == NGX_ERROR || slot >= NGX_KEFU_REDIS_SLOTS || colon == NULL) {
        return NULL;
    }

    port = ngx_atoi(colon + 1, last - colon - 1);

    node = ngx_kefu_redis_node(rd, host, colon - host, port);
    if (node == NULL) {
        return NULL;
    }

    if (!*ask) {
        if (rd->slots[slot] != node->index + 1) {
            if (rd->slots[slot]) {
                old = rd->nodes[rd->slots[slot] - 1];
                old->owned--;
            }

            rd->slots[slot] = (u_char) (node->index + 1);
            node->owned++;

            /*
             * channels follow the map at once: the map asked next may
             * equal this corrected one, and an unchanged map moves no
             * channel, so one let go meanwhile (sunsubscribe, then MOVED
             * on the old master) would wait for ever
             */
            ngx_kefu_redis_shard_remap(rd);
        }

        ngx_kefu_redis_cluster_refresh(rd);
    }

    if (node->cmd.ac == NULL && !node->cmd.retry.timer_set) {
        ngx_kefu_redis_connect(&node->cmd);
    }

    return node;
}
