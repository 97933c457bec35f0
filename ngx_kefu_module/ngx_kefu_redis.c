
/*
 * hiredis (0.14) on nginx's event loop; see ngx_kefu_redis.h.
 *
 * - The socket hiredis opened is wrapped in an nginx connection and hiredis's
 *   event hooks add and delete nginx events (ngx_kefu_redis_ev.c).  They are level-triggered
 *   (flags 0): hiredis reads at most 16 KB per call, and a level-triggered
 *   read event simply comes back while more is waiting.
 * - hiredis 0.14 has no timeouts: nginx timers bound the connect and the
 *   oldest outstanding command (replies come in order, so the oldest one is
 *   late first); a late reply means a broken connection, which is freed
 *   (every pending handler gets NULL) and reconnected.
 * - A connection is ready after AUTH, SELECT and a PING answered with PONG.
 *   A Redis still loading its data answers -LOADING: that is "not ready
 *   yet", retried shortly on the same connection, never a failure.
 * - hiredis resolves names with blocking calls: it is only ever given the
 *   numeric address resolved when the configuration was read.
 * - Health: every "ping" interval the worker publishes a probe, on the
 *   command connection, to a channel of its own that its pub/sub
 *   connection listens to.  The probe answered proves the command link;
 *   the probe heard proves the pub/sub link end to end.  A probe not heard
 *   within "timeout" means a stalled pub/sub link (a half-open connection,
 *   a frozen middlebox): it is dropped and reopened, and every member
 *   catches up from the log.  (hiredis 0.14 cannot route a PING's reply on
 *   a subscribed connection, hence the probe.)  TCP keepalive covers a
 *   peer that is gone altogether.
 * - What waits for Redis is bounded, in count and in time: commands in
 *   flight on a command connection are capped (kefu_redis_max_inflight),
 *   and none is sent behind one that has waited kefu_redis_max_wait
 *   already.  A Redis that slows down or stalls makes clients get
 *   "unavailable" at once, and resend, instead of a queue that grows until
 *   the timeout fails it all at once; what was admitted is answered within
 *   about max_wait plus the time Redis needs for the queue.
 * - Scripts are Redis functions (Redis 7): the library of them all
 *   (ngx_kefu_lua_library) is loaded at each connect, before the link is
 *   ready, and a call is an FCALL, which runs only the script's body: an
 *   EVALSHA runs its whole text, making each of its functions anew (issue
 *   18: about 10% of a new conversation's instructions in Redis).  On a
 *   Redis that refuses FUNCTION LOAD (before 7, the command renamed, an
 *   ACL), each script is loaded by SCRIPT LOAD and called by EVALSHA.
 * - NOSCRIPT or "Function not found" (Redis lost its scripts: SCRIPT or
 *   FUNCTION FLUSH, a failover) reloads the one script, or the library,
 *   once, and runs the command again after it.
 * - kefu_redis sentinel: ngx_kefu_redis_sentinel.c names the master's
 *   address (asked where a link picks its address, at each connect), is
 *   told when a link goes down, meets READONLY or finds the server not a
 *   master (ROLE, at the handshake), and moves both links when the master
 *   changes (ngx_kefu_redis_master_changed()).
 * - wait=N: the message script's reply reaches its handler only after
 *   WAIT N on the same connection counted N replicas (ngx_kefu_redis_wait(),
 *   from ngx_kefu_redis_done(), where every call ends).
 */


#include "ngx_kefu_redis_int.h"
#include <ngx_sha1.h>

#include <poll.h>
#include <netinet/tcp.h>


#define NGX_KEFU_REDIS_LOADING_WAIT 250


/* a durable script's reply, held until WAIT answered */
typedef struct {
    ngx_kefu_redis_handler_pt    handler;
    void                        *data;
    redisReply                  *kept;
} ngx_kefu_redis_wait_t;


static void ngx_kefu_redis_flush(redisAsyncContext *ac);
static void ngx_kefu_redis_retry_handler(ngx_event_t *ev);
static void ngx_kefu_redis_timer_handler(ngx_event_t *ev);
static void ngx_kefu_redis_cleanup(void *privdata);
static void ngx_kefu_redis_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_kefu_redis_on_disconnect(const redisAsyncContext *ac,
    int status);
static void ngx_kefu_redis_down(ngx_kefu_redis_link_t *link,
    const char *why);
static void ngx_kefu_redis_handshake(ngx_kefu_redis_link_t *link);
static void ngx_kefu_redis_handshake_reply(ngx_kefu_redis_t *rd,
    redisReply *r, void *data);
static void ngx_kefu_redis_ping_reply(ngx_kefu_redis_t *rd, redisReply *r,
    void *data);
static void ngx_kefu_redis_ready_link(ngx_kefu_redis_link_t *link);
static void ngx_kefu_redis_script_reply(ngx_kefu_redis_t *rd, redisReply *r,
    void *data);
static ngx_msec_t ngx_kefu_redis_max_wait(ngx_kefu_redis_t *rd);
static ngx_int_t ngx_kefu_redis_admit(ngx_kefu_redis_t *rd,
    ngx_kefu_redis_link_t *link, ngx_uint_t follow, ngx_uint_t n);
static int ngx_kefu_redis_format(char **target, int argc,
    const char **argv, const size_t *argvlen);
static size_t ngx_kefu_redis_digits(size_t n);
static u_char *ngx_kefu_redis_resp_len(u_char *p, u_char type, size_t n);
static ngx_int_t ngx_kefu_redis_room(ngx_kefu_redis_t *rd,
    ngx_kefu_redis_link_t *link, ngx_uint_t n);
static ngx_kefu_redis_link_t *ngx_kefu_redis_key_link(ngx_kefu_redis_t *rd,
    const u_char *key, size_t len);
static ngx_int_t ngx_kefu_redis_eval_do(ngx_kefu_redis_t *rd,
    ngx_kefu_script_t *s, ngx_kefu_redis_handler_pt h, void *data,
    int nkeys, int argc, const char **argv, const size_t *argvlen,
    ngx_uint_t follow, ngx_uint_t weight);
static ngx_int_t ngx_kefu_redis_send_script(ngx_kefu_redis_link_t *link,
    ngx_kefu_script_t *script, ngx_kefu_redis_handler_pt h, void *data,
    int argc, const char **argv, const size_t *argvlen, ngx_int_t slot,
    ngx_uint_t follow, ngx_uint_t weight);
static void ngx_kefu_redis_tryagain_handler(ngx_event_t *ev);
static void ngx_kefu_redis_done(ngx_kefu_redis_req_t *req,
    redisReply *reply);
static void ngx_kefu_redis_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_kefu_redis_settled(ngx_kefu_redis_req_t *req);
static ngx_int_t ngx_kefu_redis_recover(ngx_kefu_redis_req_t *req,
    redisReply *r);
static ngx_int_t ngx_kefu_redis_redirected(ngx_kefu_redis_req_t *req,
    redisReply *r);
static void ngx_kefu_redis_arm_timer(ngx_kefu_redis_link_t *link);
static void ngx_kefu_redis_inflight(ngx_kefu_redis_link_t *link,
    ngx_kefu_redis_req_t *req);
static void ngx_kefu_redis_sub_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static ngx_int_t ngx_kefu_redis_sub_send(ngx_kefu_redis_t *rd,
    const char *cmd, ngx_str_t *channel);
static void ngx_kefu_redis_load_scripts(ngx_kefu_redis_link_t *link);
static ngx_int_t ngx_kefu_redis_load_library(ngx_kefu_redis_link_t *link,
    ngx_kefu_redis_handler_pt h);
static void ngx_kefu_redis_library_reply(ngx_kefu_redis_t *rd,
    redisReply *r, void *data);
static void ngx_kefu_redis_library_again(ngx_kefu_redis_t *rd,
    redisReply *r, void *data);
static ngx_uint_t ngx_kefu_redis_library_loaded(ngx_kefu_redis_link_t *link,
    redisReply *r);
static void ngx_kefu_redis_load_script(ngx_kefu_redis_link_t *link,
    ngx_kefu_script_t *s);
static ngx_uint_t ngx_kefu_redis_script_loading(ngx_kefu_redis_link_t *link,
    ngx_kefu_script_t *s, ngx_uint_t set);
static ngx_int_t ngx_kefu_redis_rerun(ngx_kefu_redis_req_t *req);
static ngx_int_t ngx_kefu_redis_resend(ngx_kefu_redis_req_t *req,
    ngx_kefu_redis_link_t *link, ngx_uint_t asking);
static ngx_int_t ngx_kefu_redis_cluster_script(ngx_cycle_t *cycle,
    ngx_str_t *source);
static ngx_int_t ngx_kefu_redis_cluster_names(ngx_cycle_t *cycle);
static void ngx_kefu_redis_keepalive(ngx_kefu_redis_link_t *link);
static void ngx_kefu_redis_ping_handler(ngx_event_t *ev);
static void ngx_kefu_redis_probe_reply(ngx_kefu_redis_t *rd, redisReply *r,
    void *data);
static ngx_int_t ngx_kefu_redis_link_addr(ngx_kefu_redis_link_t *link);
static void ngx_kefu_redis_role_reply(ngx_kefu_redis_t *rd, redisReply *r,
    void *data);
static ngx_int_t ngx_kefu_redis_wait(ngx_kefu_redis_req_t *req,
    redisReply *reply);
static void ngx_kefu_redis_wait_reply(ngx_kefu_redis_t *rd, redisReply *r,
    void *data);
static redisReply *ngx_kefu_redis_copy_reply(redisReply *r, ngx_log_t *log);
static void ngx_kefu_redis_free_reply(redisReply *r);
static char *ngx_kefu_redis_conf_form(ngx_conf_t *cf);
static char *ngx_kefu_redis_conf_address(ngx_conf_t *cf,
    ngx_kefu_redis_conf_t *rc, ngx_uint_t *ip);
static char *ngx_kefu_redis_conf_param(ngx_conf_t *cf,
    ngx_kefu_redis_conf_t *rc, ngx_str_t *v);
static char *ngx_kefu_redis_conf_check(ngx_kefu_redis_conf_t *rc);


/*
 * kefu_redis address [user=..] [password=..] [db=..] [connect_timeout=..]
 *     [timeout=..] [ping=..] [wait=N] [wait_timeout=..]
 * kefu_redis cluster host:port [host:port ...] ...the same options
 * kefu_redis sentinel <master-name> host:port [host:port ...]
 *     [sentinel_user=..] [sentinel_password=..] ...the same options
 */

char *
ngx_kefu_redis_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_kefu_main_conf_t *kmcf = conf;

    u_char                 *p;
    char                   *err;
    ngx_str_t              *value;
    ngx_uint_t              i;
    ngx_kefu_redis_conf_t  *rc;

    if (kmcf->redis_conf) {
        return "is duplicate";
    }

    err = ngx_kefu_redis_conf_form(cf);
    if (err != NGX_CONF_OK) {
        return err;
    }

    rc = ngx_pcalloc(cf->pool, sizeof(ngx_kefu_redis_conf_t));
    if (rc == NULL) {
        return NGX_CONF_ERROR;
    }

    rc->connect_timeout = 2000;
    rc->timeout = 2000;
    rc->ping = 5000;
    rc->wait_timeout = 1000;

    i = 2;

    err = ngx_kefu_redis_conf_address(cf, rc, &i);
    if (err != NGX_CONF_OK) {
        return err;
    }

    value = cf->args->elts;

    for ( /* void */ ; i < cf->args->nelts; i++) {
        err = ngx_kefu_redis_conf_param(cf, rc, &value[i]);
        if (err != NGX_CONF_OK) {
            return err;
        }
    }

    err = ngx_kefu_redis_conf_check(rc);
    if (err != NGX_CONF_OK) {
        return err;
    }

    if (rc->seeds || rc->sentinel) {
        kmcf->redis_conf = rc;
        return NGX_CONF_OK;
    }

    /* hiredis takes C strings */
    p = ngx_pnalloc(cf->pool, rc->host.len + 1);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    *ngx_cpymem(p, rc->host.data, rc->host.len) = '\0';
    rc->host.data = p;

    kmcf->redis_conf = rc;

    return NGX_CONF_OK;
}


/*
 * A cluster fails over by itself (its replicas promote themselves and
 * the slot map follows): Sentinel watches one master, not a cluster.
 * Said before either form reads the other's words as addresses (a
 * Sentinel's master may be named "cluster": the word after
 * "sentinel" is a name).
 */

static char *
ngx_kefu_redis_conf_form(ngx_conf_t *cf)
{
    ngx_str_t   *value;
    ngx_uint_t   i, sentinel, cluster;

    value = cf->args->elts;
    sentinel = (value[1].len == 8
                && ngx_strncmp(value[1].data, "sentinel", 8) == 0);
    cluster = (value[1].len == 7
               && ngx_strncmp(value[1].data, "cluster", 7) == 0);

    for (i = sentinel ? 3 : 2; i < cf->args->nelts; i++) {
        if (value[i].len == 7
            && ngx_strncmp(value[i].data, "cluster", 7) == 0)
        {
            cluster = 1;

        } else if ((value[i].len == 8
                    && ngx_strncmp(value[i].data, "sentinel", 8) == 0)
                   || ngx_strncmp(value[i].data, "sentinel_", 9) == 0)
        {
            sentinel = 1;
        }
    }

    if (sentinel && cluster) {
        return "cannot combine \"sentinel\" and \"cluster\": a Redis "
               "Cluster fails over by itself, Sentinel watches a single "
               "master";
    }

    return NGX_CONF_OK;
}


/* the form's addresses: from value[1], *i left at the first option */

static char *
ngx_kefu_redis_conf_address(ngx_conf_t *cf, ngx_kefu_redis_conf_t *rc,
    ngx_uint_t *ip)
{
    u_char      *p;
    char        *err;
    ngx_str_t   *value;
    ngx_url_t    u;
    ngx_uint_t   i;

    value = cf->args->elts;
    i = *ip;

    if (value[1].len == 8 && ngx_strncmp(value[1].data, "sentinel", 8) == 0) {
        /* the master's address comes from the Sentinels at run time */
        err = ngx_kefu_redis_sentinel_conf(cf, rc, &i);
        if (err != NGX_CONF_OK) {
            return err;
        }

    } else if (value[1].len == 7
               && ngx_strncmp(value[1].data, "cluster", 7) == 0)
    {
        /* kefu_redis cluster host:port [host:port ...] [options] */
        for ( /* void */ ; i < cf->args->nelts; i++) {
            if (ngx_strlchr(value[i].data, value[i].data + value[i].len, '=')) {
                break;
            }

            p = (u_char *) ngx_kefu_redis_cluster_conf(cf, rc, &value[i]);
            if (p != NGX_CONF_OK) {
                return (char *) p;
            }
        }

        if (rc->seeds == NULL) {
            return "cluster needs at least one host:port";
        }

    } else if (ngx_strncmp(value[1].data, "unix:", 5) == 0) {
        if (value[1].len <= 5) {
            return "needs a path after unix:";
        }

        rc->host.data = value[1].data + 5;
        rc->host.len = value[1].len - 5;

    } else {
        ngx_memzero(&u, sizeof(ngx_url_t));
        u.url = value[1];
        u.default_port = 6379;

        /* configuration time: the only place a name may be resolved */
        if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid address \"%V\" in \"kefu_redis\"%s%s",
                               &value[1], u.err ? ": " : "",
                               u.err ? u.err : "");
            return NGX_CONF_ERROR;
        }

        p = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
        if (p == NULL) {
            return NGX_CONF_ERROR;
        }

        rc->host.len = ngx_sock_ntop(u.addrs[0].sockaddr,
                                     u.addrs[0].socklen, p,
                                     NGX_SOCKADDR_STRLEN, 0);
        rc->host.data = p;
        rc->port = u.port;

        /* hiredis wants an IPv6 address without brackets */
        if (p[0] == '[') {
            rc->host.data++;
            rc->host.len -= 2;
        }
    }

    *ip = i;

    return NGX_CONF_OK;
}


/* one branch per option of the directive */

static char *
ngx_kefu_redis_conf_param(ngx_conf_t *cf, ngx_kefu_redis_conf_t *rc,
    ngx_str_t *v)
{
    ngx_str_t  s;

    if (ngx_strncmp(v->data, "password=", 9) == 0) {
        rc->password.data = v->data + 9;
        rc->password.len = v->len - 9;
        if (rc->password.len == 0) {
            return "has an empty password=";
        }
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(v->data, "user=", 5) == 0) {
        rc->user.data = v->data + 5;
        rc->user.len = v->len - 5;
        if (rc->user.len == 0) {
            return "has an empty user=";
        }
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(v->data, "db=", 3) == 0) {
        rc->db = ngx_atoi(v->data + 3, v->len - 3);
        if (rc->db == NGX_ERROR) {
            return "has an invalid db=";
        }
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(v->data, "connect_timeout=", 16) == 0) {
        s.data = v->data + 16;
        s.len = v->len - 16;
        rc->connect_timeout = ngx_parse_time(&s, 0);
        if (rc->connect_timeout == (ngx_msec_t) NGX_ERROR
            || rc->connect_timeout == 0)
        {
            return "has an invalid connect_timeout=";
        }
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(v->data, "timeout=", 8) == 0) {
        s.data = v->data + 8;
        s.len = v->len - 8;
        rc->timeout = ngx_parse_time(&s, 0);
        if (rc->timeout == (ngx_msec_t) NGX_ERROR || rc->timeout == 0) {
            return "has an invalid timeout=";
        }
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(v->data, "ping=", 5) == 0) {
        s.data = v->data + 5;
        s.len = v->len - 5;
        rc->ping = ngx_parse_time(&s, 0);
        if (rc->ping == (ngx_msec_t) NGX_ERROR || rc->ping < 100) {
            return "has an invalid ping= (at least 100ms)";
        }
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(v->data, "wait=", 5) == 0) {
        rc->wait = ngx_atoi(v->data + 5, v->len - 5);
        if (rc->wait == NGX_ERROR || rc->wait == 0) {
            return "has an invalid wait= (a number of replicas, at "
                   "least 1)";
        }
        return NGX_CONF_OK;
    }

    if (ngx_strncmp(v->data, "wait_timeout=", 13) == 0) {
        s.data = v->data + 13;
        s.len = v->len - 13;
        rc->wait_timeout = ngx_parse_time(&s, 0);
        if (rc->wait_timeout == (ngx_msec_t) NGX_ERROR
            || rc->wait_timeout == 0)
        {
            return "has an invalid wait_timeout=";
        }
        return NGX_CONF_OK;
    }

    switch (ngx_kefu_redis_sentinel_param(cf, rc, v)) {
    case NGX_OK:
        return NGX_CONF_OK;
    case NGX_ERROR:
        return NGX_CONF_ERROR;
    default:
        break;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"kefu_redis\"", v);
    return NGX_CONF_ERROR;
}


/* what the options mean only together */

static char *
ngx_kefu_redis_conf_check(ngx_kefu_redis_conf_t *rc)
{
    if (rc->seeds && rc->db) {
        return "has db= with cluster (a cluster has database 0 only)";
    }

    /*
     * WAIT blocks the command connection: its reply must come well within
     * the time after which a missing reply means a broken connection.
     */
    if (rc->wait && rc->wait_timeout >= rc->timeout) {
        return "has wait_timeout= not less than timeout=";
    }

    /* Redis 6 ACLs: AUTH <user> <password>; a user alone cannot sign in */
    if (rc->user.len && rc->password.len == 0) {
        return "has user= without password=";
    }

    return NGX_CONF_OK;
}


ngx_int_t
ngx_kefu_redis_init_process(ngx_cycle_t *cycle)
{
    ngx_uint_t             i;
    ngx_sha1_t             sha;
    ngx_kefu_redis_t      *rd;
    ngx_kefu_main_conf_t  *kmcf;
    u_char                 digest[20];

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);

    if (kmcf == NULL || kmcf->redis_conf == NULL) {
        return NGX_OK;
    }

    /* the same in every process: computed where it is used */
    for (i = 0; ngx_kefu_scripts[i]; i++) {
        if (kmcf->redis_conf->seeds
            && ngx_kefu_redis_cluster_script(cycle,
                                             &ngx_kefu_scripts[i]->source)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        ngx_sha1_init(&sha);
        ngx_sha1_update(&sha, ngx_kefu_scripts[i]->source.data,
                        ngx_kefu_scripts[i]->source.len);
        ngx_sha1_final(digest, &sha);
        ngx_hex_dump(ngx_kefu_scripts[i]->sha1, digest, 20);
    }

    if (kmcf->redis_conf->seeds
        && (ngx_kefu_redis_cluster_script(cycle, &ngx_kefu_lua_library)
            != NGX_OK
            || ngx_kefu_redis_cluster_names(cycle) != NGX_OK))
    {
        return NGX_ERROR;
    }

    rd = ngx_pcalloc(cycle->pool, sizeof(ngx_kefu_redis_t));
    if (rd == NULL) {
        return NGX_ERROR;
    }

    rd->kmcf = kmcf;
    rd->conf = kmcf->redis_conf;
    rd->log = cycle->log;

    ngx_rbtree_init(&rd->channels, &rd->sentinel,
                    ngx_str_rbtree_insert_value);

    rd->ping.handler = ngx_kefu_redis_ping_handler;
    rd->ping.data = rd;
    rd->ping.log = cycle->log;
    rd->ping.cancelable = 1;

    kmcf->redis = rd;

    /* an ack promises the message is stored: with wait=, on replicas too */
    rd->durable = rd->conf->wait == 0 ? NULL
                  : rd->conf->seeds ? &ngx_kefu_script_msg_slot
                  : &ngx_kefu_script_msg;

    if (rd->conf->seeds) {
        return ngx_kefu_redis_cluster_init(rd);
    }

    if (rd->conf->sentinel) {
        /* the links connect once a Sentinel named the master */
        rd->sentinels = ngx_kefu_redis_sentinel_init(rd, rd->conf, cycle->log);
        if (rd->sentinels == NULL) {
            return NGX_ERROR;
        }
    }

    ngx_kefu_redis_link_init(&rd->cmd, rd, "commands");
    ngx_kefu_redis_link_init(&rd->sub, rd, "pub/sub");
    rd->sub.subscriber = 1;

    /* unique across workers and hosts: the pid alone is not */
    rd->probe.data = rd->probe_name;
    rd->probe.len = ngx_sprintf(rd->probe_name, "kefu:h:%P:%08xD%08xD",
                                ngx_pid, (uint32_t) ngx_random(),
                                (uint32_t) ngx_random())
                    - rd->probe_name;

    if (ngx_kefu_redis_subscribe(rd, &rd->probe) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_kefu_redis_connect(&rd->cmd);
    ngx_kefu_redis_connect(&rd->sub);

    return NGX_OK;
}


void
ngx_kefu_redis_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t              i;
    ngx_kefu_redis_t       *rd;
    ngx_kefu_redis_node_t  *node;
    ngx_kefu_main_conf_t   *kmcf;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);

    if (kmcf == NULL || kmcf->redis == NULL) {
        return;
    }

    rd = kmcf->redis;

    /* no reconnect from here on; pending handlers get NULL */
    rd->exiting = 1;

    if (rd->ping.timer_set) {
        ngx_del_timer(&rd->ping);
    }

    if (rd->conf->seeds) {
        ngx_kefu_redis_cluster_exit(rd);

        for (i = 0; i < rd->nnodes; i++) {
            node = rd->nodes[i];
            ngx_kefu_redis_shard_close(node, 0);

            if (node->cmd.ac) {
                ngx_kefu_redis_flush(node->cmd.ac);
                redisAsyncFree(node->cmd.ac);
            }
        }

        kmcf->redis = NULL;
        return;
    }

    if (rd->sentinels) {
        ngx_kefu_redis_sentinel_exit(rd->sentinels);
    }

    if (rd->cmd.ac) {
        ngx_kefu_redis_flush(rd->cmd.ac);
        redisAsyncFree(rd->cmd.ac);
    }

    if (rd->sub.ac) {
        redisAsyncFree(rd->sub.ac);
    }

    kmcf->redis = NULL;
}


/*
 * What an exiting worker still has to tell Redis (its agents' connections
 * counted out, its leases given back: ngx_kefu_presence.c, ngx_kefu_lease.c) is written before the connection goes,
 * waiting at most about 200 ms: nobody waits for the replies.
 */

static void
ngx_kefu_redis_flush(redisAsyncContext *ac)
{
    int            done, i;
    struct pollfd  pfd;

    for (i = 0; i < 20; i++) {
        done = 0;

        if (redisBufferWrite(&ac->c, &done) != REDIS_OK || done) {
            return;
        }

        pfd.fd = ac->c.fd;
        pfd.events = POLLOUT;
        pfd.revents = 0;

        (void) poll(&pfd, 1, 10);
    }
}


ngx_uint_t
ngx_kefu_redis_ready(ngx_kefu_redis_t *rd)
{
    if (rd && rd->conf->seeds) {
        return ngx_kefu_redis_cluster_ready(rd);
    }

    return rd && rd->cmd.state == NGX_KEFU_LINK_READY;
}


/*
 * Scripts publish with redis.call('PUBLISH', ...).  In a cluster a
 * message goes out on its channel's shard only: the same scripts are
 * loaded there with SPUBLISH (the channel then shares the slot of the
 * keys the script declares), and so is the library of them all.
 */

static ngx_int_t
ngx_kefu_redis_cluster_script(ngx_cycle_t *cycle, ngx_str_t *source)
{
    u_char      *p, *last, *d, *src;
    size_t       n;
    ngx_uint_t   count;

    static u_char  pub[] = "redis.call('PUBLISH'";

    src = source->data;
    last = src + source->len;
    count = 0;

    for (p = src; p + sizeof(pub) - 1 <= last; p++) {
        if (ngx_strncmp(p, pub, sizeof(pub) - 1) == 0) {
            count++;
        }
    }

    if (count == 0) {
        return NGX_OK;
    }

    d = ngx_pnalloc(cycle->pool, source->len + count);
    if (d == NULL) {
        return NGX_ERROR;
    }

    source->data = d;

    for (p = src; p < last; /* void */) {
        n = last - p;

        if (n >= sizeof(pub) - 1 && ngx_strncmp(p, pub, sizeof(pub) - 1) == 0)
        {
            d = ngx_cpymem(d, "redis.call('SPUBLISH'", sizeof(pub));
            p += sizeof(pub) - 1;
            continue;
        }

        *d++ = *p++;
    }

    source->len = d - source->data;

    return NGX_OK;
}


/*
 * The library with SPUBLISH is another library: its name and its
 * functions' end their prefix "kefu_<hash>p" in "s" instead, so that a
 * Redis that served both (kefu_redis, then kefu_redis cluster, as the
 * tests' one-node cluster does) does not answer one "already exists"
 * for the other.
 */

static ngx_int_t
ngx_kefu_redis_cluster_names(ngx_cycle_t *cycle)
{
    u_char      *p, *last, *d;
    size_t       n;
    ngx_str_t   *s;
    ngx_uint_t   i;
    u_char       name[sizeof("kefu_01234567p") - 1];

    n = sizeof(name);

    if (ngx_kefu_scripts[0] == NULL || ngx_kefu_scripts[0]->fname.len <= n) {
        return NGX_ERROR;
    }

    ngx_memcpy(name, ngx_kefu_scripts[0]->fname.data, n);

    for (i = 0; ngx_kefu_scripts[i]; i++) {
        s = &ngx_kefu_scripts[i]->fname;

        d = ngx_pnalloc(cycle->pool, s->len);
        if (d == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(d, s->data, s->len);
        d[n - 1] = 's';
        s->data = d;
    }

    s = &ngx_kefu_lua_library;

    d = ngx_pnalloc(cycle->pool, s->len);
    if (d == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(d, s->data, s->len);
    s->data = d;

    for (p = d, last = d + s->len; p + n <= last; p++) {
        if (ngx_strncmp(p, name, n) == 0) {
            p[n - 1] = 's';
            p += n - 1;
        }
    }

    return NGX_OK;
}


ngx_kefu_main_conf_t *
ngx_kefu_redis_main_conf(ngx_kefu_redis_t *rd)
{
    return rd->kmcf;
}


ngx_uint_t
ngx_kefu_redis_cluster(ngx_kefu_redis_t *rd)
{
    return rd != NULL && rd->conf->seeds != NULL;
}


ngx_log_t *
ngx_kefu_redis_log(ngx_kefu_redis_t *rd)
{
    return rd->log;
}


/*
 * A Sentinel named another master: links connected elsewhere are closed
 * (every pending handler gets NULL, the pub/sub members catch up) and
 * every link connects to the new address at once, whatever its backoff.
 * Called from the Sentinel's connection or timers, never from a link's
 * own hiredis callback, so freeing a link's context here is allowed.
 */

void
ngx_kefu_redis_master_changed(ngx_kefu_redis_t *rd)
{
    ngx_uint_t              i;
    ngx_kefu_redis_link_t  *link;

    if (rd->exiting) {
        return;
    }

    for (i = 0; i < 2; i++) {
        link = i ? &rd->sub : &rd->cmd;

        if (link->ac) {
            ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                          "kefu: redis %s connection moves to the new "
                          "master", link->name);

            /* the cleanup marks it down and arms its retry */
            redisAsyncFree(link->ac);
        }

        if (link->ac == NULL) {
            link->backoff = 0;

            if (link->retry.timer_set) {
                ngx_del_timer(&link->retry);
            }

            if (link->retry.handler) {
                ngx_add_timer(&link->retry, 1);
            }
        }
    }
}


ngx_uint_t
ngx_kefu_redis_is_loading(redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && r->len >= 7
           && ngx_strncmp(r->str, "LOADING", 7) == 0;
}


void
ngx_kefu_redis_link_init(ngx_kefu_redis_link_t *link, ngx_kefu_redis_t *rd,
    const char *name)
{
    link->rd = rd;
    link->name = name;

    (void) ngx_kefu_redis_link_addr(link);

    link->retry.handler = ngx_kefu_redis_retry_handler;
    link->retry.data = link;
    link->retry.log = rd->log;
    link->retry.cancelable = 1;

    link->timer.handler = ngx_kefu_redis_timer_handler;
    link->timer.data = link;
    link->timer.log = rd->log;
    link->timer.cancelable = 1;

    ngx_queue_init(&link->inflight);
}


/*
 * A link's address: its cluster node's, the master a Sentinel named last
 * (asked again at every connect: the master moves; NGX_DECLINED while no
 * Sentinel answered, and ngx_kefu_redis_master_changed() connects the
 * links once one does), or the configured one.  This is the one place a
 * link picks where it connects.
 */

static ngx_int_t
ngx_kefu_redis_link_addr(ngx_kefu_redis_link_t *link)
{
    ngx_kefu_redis_t  *rd;

    rd = link->rd;

    if (link->node) {
        link->host = (char *) link->node->host;
        link->port = link->node->port;
        return NGX_OK;
    }

    if (rd->sentinels) {
        link->host = NULL;
        link->port = 0;

        return ngx_kefu_redis_sentinel_addr(rd->sentinels, &link->host,
                                            &link->port);
    }

    link->host = (char *) rd->conf->host.data;
    link->port = (int) rd->conf->port;

    return NGX_OK;
}


void
ngx_kefu_redis_connect(ngx_kefu_redis_link_t *link)
{
    ngx_kefu_redis_t       *rd;
    redisAsyncContext      *ac;
    ngx_connection_t       *c;
    ngx_kefu_redis_conf_t  *rc;

    rd = link->rd;
    rc = rd->conf;

    if (ngx_exiting || ngx_terminate || ngx_quit || link->ac) {
        return;
    }

    if (ngx_kefu_redis_link_addr(link) != NGX_OK) {
        /* no master named yet: the Sentinels' answer connects the link */
        return;
    }

    ac = link->port ? redisAsyncConnect(link->host, link->port)
                    : redisAsyncConnectUnix(link->host);

    if (ac == NULL || ac->err) {
        ngx_kefu_redis_down(link, ac ? ac->errstr : "out of memory");

        if (ac) {
            redisAsyncFree(ac);
        }

        return;
    }

    c = ngx_kefu_redis_ev_attach(ac, link, rd->log, ngx_kefu_redis_cleanup);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_kefu_redis_down(link, "no free connection");
        return;
    }

    link->ac = ac;
    link->c = c;
    link->state = NGX_KEFU_LINK_CONNECTING;

    ngx_kefu_redis_keepalive(link);

    redisAsyncSetConnectCallback(ac, ngx_kefu_redis_on_connect);
    redisAsyncSetDisconnectCallback(ac, ngx_kefu_redis_on_disconnect);

    ngx_add_timer(&link->timer, rc->connect_timeout);
}


static void
ngx_kefu_redis_retry_handler(ngx_event_t *ev)
{
    ngx_kefu_redis_connect(ev->data);
}


/* the connect or the oldest command took too long */

static void
ngx_kefu_redis_timer_handler(ngx_event_t *ev)
{
    ngx_kefu_redis_link_t  *link = ev->data;

    if (link->ac == NULL) {
        return;
    }

    if (link->state != NGX_KEFU_LINK_CONNECTING) {
        link->rd->timeouts++;
    }

    ngx_log_error(NGX_LOG_ERR, link->rd->log, 0,
                  "kefu: redis %s connection timed out %s", link->name,
                  link->state == NGX_KEFU_LINK_CONNECTING ? "connecting"
                                                          : "waiting for a "
                                                            "reply");

    /* outside any hiredis callback: freeing here is allowed */
    redisAsyncFree(link->ac);
}


/* hiredis's event hooks: level-triggered nginx events, see the top */

/*
 * hiredis is freeing its context (and will close the socket): forget the
 * nginx side of it and, unless the worker is exiting, reconnect later.
 */

static void
ngx_kefu_redis_cleanup(void *privdata)
{
    ngx_kefu_redis_link_t  *link;

    link = ngx_kefu_redis_ev_detach(privdata);

    link->c = NULL;
    link->ac = NULL;

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    ngx_kefu_redis_down(link, "connection closed");
}


static void
ngx_kefu_redis_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_kefu_redis_link_t  *link = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context after this; cleanup reconnects */
        if (link->failures == 0) {
            ngx_log_error(NGX_LOG_ERR, link->rd->log, 0,
                          "kefu: redis %s connect failed: %s", link->name,
                          ac->errstr);
        }

        return;
    }

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    link->state = NGX_KEFU_LINK_HANDSHAKE;
    ngx_kefu_redis_handshake(link);
}


static void
ngx_kefu_redis_on_disconnect(const redisAsyncContext *ac, int status)
{
    ngx_kefu_redis_link_t  *link = ac->data;

    if (status != REDIS_OK && link->state != NGX_KEFU_LINK_DOWN) {
        ngx_log_error(NGX_LOG_ERR, link->rd->log, 0,
                      "kefu: redis %s connection lost: %s", link->name,
                      ac->errstr);
    }
}


/* a link went down: tell the rest of the module, and schedule a retry */

static void
ngx_kefu_redis_down(ngx_kefu_redis_link_t *link, const char *why)
{
    ngx_uint_t         was;
    ngx_kefu_redis_t  *rd;

    rd = link->rd;
    was = link->state;

    link->state = NGX_KEFU_LINK_DOWN;

    if (rd->exiting) {
        return;
    }

    if (link->node) {
        /* a cluster node's link: the map is asked again; a node that
         * serves no slots any more is not reconnected */
        ngx_kefu_stat_redis_link(rd->kmcf, 0, ngx_kefu_redis_ready(rd));

        if (was == NGX_KEFU_LINK_READY) {
            rd->reconnects++;
            ngx_kefu_stat_inc(rd->kmcf, redis_reconnects);
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "kefu: redis %s connection down (%s)",
                          link->name, why);

        } else if (link->failures++ == 0) {
            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "kefu: redis %s not available (%s)",
                          link->name, why);
        }

        if (!ngx_kefu_redis_cluster_link_down(link)) {
            link->backoff = 0;
            return;
        }

        goto retry;
    }

    ngx_kefu_stat_redis_link(rd->kmcf, link->subscriber, 0);

    if (link->subscriber) {
        rd->probing = 0;
        rd->probe_subscribed = 0;
    }

    if (was == NGX_KEFU_LINK_READY) {
        rd->reconnects++;
        ngx_kefu_stat_inc(rd->kmcf, redis_reconnects);
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "kefu: redis %s connection down (%s), reconnecting",
                      link->name, why);

        if (link->subscriber) {
            ngx_kefu_redis_tell(rd, NGX_KEFU_REDIS_SUB_LOST);
        }

    } else if (link->failures++ == 0) {
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "kefu: redis %s not available (%s), retrying",
                      link->name, why);
    }

    /* the master may have moved: the Sentinels are asked again */
    if (rd->sentinels) {
        ngx_kefu_redis_sentinel_link_down(rd->sentinels, why);
    }

retry:

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    /* capped exponential backoff, with jitter so workers do not align */
    link->backoff = link->backoff ? ngx_min(link->backoff * 2,
                                            NGX_KEFU_REDIS_BACKOFF_MAX)
                                  : NGX_KEFU_REDIS_BACKOFF_MIN;

    if (!link->retry.timer_set) {
        ngx_add_timer(&link->retry,
                      link->backoff / 2 + ngx_random() % (link->backoff / 2 + 1));
    }
}


/* AUTH and SELECT as configured, then PING until Redis is loaded */

static void
ngx_kefu_redis_handshake(ngx_kefu_redis_link_t *link)
{
    int                     n;
    u_char                  db[NGX_INT_T_LEN];
    size_t                  lens[3];
    ngx_str_t               dbs;
    const char             *argv[3];
    ngx_kefu_redis_args_t   a;
    ngx_kefu_redis_conf_t  *rc;

    rc = link->rd->conf;

    if (rc->password.len) {
        n = 0;
        argv[n] = "AUTH";
        lens[n++] = 4;

        if (rc->user.len) {
            argv[n] = (char *) rc->user.data;
            lens[n++] = rc->user.len;
        }

        argv[n] = (char *) rc->password.data;
        lens[n++] = rc->password.len;
        (void) ngx_kefu_redis_send(link, ngx_kefu_redis_handshake_reply,
                                   link, n, argv, lens);
    }

    if (rc->db) {
        dbs.data = db;
        dbs.len = ngx_snprintf(db, sizeof(db), "%i", rc->db) - db;
        ngx_kefu_redis_args(&a, ngx_kefu_word("SELECT"), &dbs);
        (void) ngx_kefu_redis_send(link, ngx_kefu_redis_handshake_reply,
                                   link, a.argc, a.argv, a.lens);
    }

    /*
     * The address a Sentinel gave may be stale (a master demoted since):
     * one that is not a master is left at once, and the Sentinels asked.
     */
    if (link->rd->sentinels) {
        ngx_kefu_redis_args(&a, ngx_kefu_word("ROLE"));
        (void) ngx_kefu_redis_send(link, ngx_kefu_redis_role_reply, link,
                                   a.argc, a.argv, a.lens);
    }

    ngx_kefu_redis_args(&a, ngx_kefu_word("PING"));
    (void) ngx_kefu_redis_send(link, ngx_kefu_redis_ping_reply, link, a.argc,
                               a.argv, a.lens);
}


static void
ngx_kefu_redis_role_reply(ngx_kefu_redis_t *rd, redisReply *r, void *data)
{
    ngx_kefu_redis_link_t  *link = data;

    if (r == NULL || ngx_kefu_redis_is_loading(r)) {
        return;
    }

    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0
        && r->element[0]->type == REDIS_REPLY_STRING
        && r->element[0]->len == 6
        && ngx_strncmp(r->element[0]->str, "master", 6) == 0)
    {
        return;
    }

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "kefu: redis %s connection: the server is not a master "
                  "(ROLE), asking the Sentinels again", link->name);

    /* the PING's reply then drops the connection: see ping_reply */
    link->state = NGX_KEFU_LINK_DOWN;
    link->failures++;
}


static void
ngx_kefu_redis_handshake_reply(ngx_kefu_redis_t *rd, redisReply *r,
    void *data)
{
    ngx_kefu_redis_link_t  *link = data;

    if (r && r->type == REDIS_REPLY_ERROR && !ngx_kefu_redis_is_loading(r)) {
        /* a wrong password or database: say so, retry with backoff */
        ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                      "kefu: redis %s refused the handshake: %s",
                      link->name, r->str);

        link->state = NGX_KEFU_LINK_DOWN;
        link->failures++;
    }
}


static void
ngx_kefu_redis_ping_reply(ngx_kefu_redis_t *rd, redisReply *r, void *data)
{
    ngx_kefu_redis_args_t   a;
    ngx_kefu_redis_link_t  *link = data;

    if (r == NULL || link->ac == NULL) {
        return;
    }

    if (ngx_kefu_redis_is_loading(r)) {
        link->failures++;

        /* said once a wait, even after failed connects to a Redis that
         * was still starting */
        if (!link->loading_data) {
            link->loading_data = 1;
            ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                          "kefu: redis is loading its data, waiting");
        }

        /* the same connection asks again shortly, paced by Redis itself */
        ngx_kefu_redis_args(&a, ngx_kefu_word("PING"));
        (void) ngx_kefu_redis_send(link, ngx_kefu_redis_ping_reply, link,
                                   a.argc, a.argv, a.lens);
        return;
    }

    if (link->state == NGX_KEFU_LINK_DOWN
        || r->type != REDIS_REPLY_STATUS
        || ngx_strncmp(r->str, "PONG", 4) != 0)
    {
        /* the handshake failed: drop this connection, retry later */
        redisAsyncDisconnect(link->ac);
        return;
    }

    if (link->subscriber) {
        ngx_kefu_redis_ready_link(link);
        return;
    }

    /* the functions before the link is ready: whether a call is an FCALL
     * or an EVALSHA is known before the first is sent */
    if (ngx_kefu_redis_load_library(link, ngx_kefu_redis_library_reply)
        != NGX_OK)
    {
        redisAsyncDisconnect(link->ac);
    }
}


static ngx_int_t
ngx_kefu_redis_load_library(ngx_kefu_redis_link_t *link,
    ngx_kefu_redis_handler_pt h)
{
    ngx_kefu_redis_args_t  a;

    ngx_kefu_redis_args(&a, ngx_kefu_word("FUNCTION"), ngx_kefu_word("LOAD"),
                        &ngx_kefu_lua_library);

    return ngx_kefu_redis_send(link, h, link, a.argc, a.argv, a.lens);
}


/* the handshake's FUNCTION LOAD answered: the link is ready */

static void
ngx_kefu_redis_library_reply(ngx_kefu_redis_t *rd, redisReply *r,
    void *data)
{
    ngx_kefu_redis_link_t  *link = data;

    if (r == NULL || link->ac == NULL) {
        return;
    }

    link->functions = ngx_kefu_redis_library_loaded(link, r);
    link->lib_loading = 0;

    ngx_kefu_redis_ready_link(link);
}


/* a FUNCTION LOAD after "Function not found" answered */

static void
ngx_kefu_redis_library_again(ngx_kefu_redis_t *rd, redisReply *r,
    void *data)
{
    ngx_kefu_redis_link_t  *link = data;

    link->lib_loading = 0;

    if (r) {
        (void) ngx_kefu_redis_library_loaded(link, r);
    }
}


/*
 * Whether FUNCTION LOAD's reply leaves the library on the server: its
 * name, or "already exists" (another worker's, or a build of the same
 * Lua: the name carries a hash of the text).  Any error else (no such
 * command before Redis 7, or renamed; an ACL) means calls by EVALSHA.
 */

static ngx_uint_t
ngx_kefu_redis_library_loaded(ngx_kefu_redis_link_t *link, redisReply *r)
{
    if (r->type != REDIS_REPLY_ERROR) {
        return 1;
    }

    if (ngx_strstr(r->str, "already exists")) {
        return 1;
    }

    ngx_log_error(NGX_LOG_NOTICE, link->rd->log, 0,
                  "kefu: redis %s connection: no functions (FUNCTION LOAD: "
                  "%s), the scripts are called by EVALSHA", link->name,
                  r->str);

    return 0;
}


static void
ngx_kefu_redis_ready_link(ngx_kefu_redis_link_t *link)
{
    ngx_rbtree_node_t         *node, *root, *sentinel;
    ngx_kefu_redis_t          *rd;
    ngx_kefu_redis_channel_t  *ch;

    rd = link->rd;

    link->state = NGX_KEFU_LINK_READY;
    link->failures = 0;
    link->loading_data = 0;
    link->backoff = 0;

    ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                  "kefu: redis %s connection ready", link->name);

    if (link->node) {
        if (!link->functions) {
            ngx_kefu_redis_load_scripts(link);
        }

        /* the map first (asked here if not known); then, Redis answering
         * in order, consumers' commands find the scripts loaded */
        ngx_kefu_redis_cluster_link_ready(link);

        ngx_kefu_stat_redis_link(rd->kmcf, 0, ngx_kefu_redis_ready(rd));

        if (!rd->ping.timer_set) {
            ngx_add_timer(&rd->ping, rd->conf->ping);
        }

        return;
    }

    ngx_kefu_stat_redis_link(rd->kmcf, link->subscriber, 1);

    if (!rd->ping.timer_set) {
        ngx_add_timer(&rd->ping, rd->conf->ping);
    }

    if (link->subscriber) {
        /* everything this worker listens to, again */
        root = rd->channels.root;
        sentinel = rd->channels.sentinel;

        if (root != sentinel) {
            for (node = ngx_rbtree_min(root, sentinel);
                 node;
                 node = ngx_rbtree_next(&rd->channels, node))
            {
                ch = (ngx_kefu_redis_channel_t *) node;
                (void) ngx_kefu_redis_sub_send(rd, "SUBSCRIBE", &ch->sn.str);
            }
        }

        /* notices of changes may have been missed while it was down */
        ngx_kefu_redis_tell(rd, NGX_KEFU_REDIS_SUB_READY);

        return;
    }

    if (!link->functions) {
        ngx_kefu_redis_load_scripts(link);
    }

    /* the scripts are loaded first: Redis answers in order */
    ngx_kefu_redis_tell(rd, NGX_KEFU_REDIS_READY);
}


ngx_int_t
ngx_kefu_redis_consume(ngx_kefu_redis_t *rd,
    const ngx_kefu_redis_consumer_t *consumer)
{
    if (rd == NULL) {
        return NGX_OK;
    }

    if (rd->nconsumers == NGX_KEFU_REDIS_CONSUMERS_MAX) {
        return NGX_ERROR;
    }

    rd->consumers[rd->nconsumers++] = consumer;

    return NGX_OK;
}


void
ngx_kefu_redis_tell(ngx_kefu_redis_t *rd, ngx_uint_t what)
{
    void                            (*cb)(ngx_kefu_main_conf_t *kmcf);
    ngx_uint_t                        i;
    const ngx_kefu_redis_consumer_t  *c;

    for (i = 0; i < rd->nconsumers; i++) {
        c = rd->consumers[i];

        cb = (what == NGX_KEFU_REDIS_READY) ? c->ready
             : (what == NGX_KEFU_REDIS_SUB_READY) ? c->sub_ready
             : c->sub_lost;

        if (cb) {
            cb(rd->kmcf);
        }
    }
}


void
ngx_kefu_redis_tell_subscribed(ngx_kefu_redis_t *rd, ngx_str_t *channel)
{
    ngx_uint_t                        i;
    const ngx_kefu_redis_consumer_t  *c;

    for (i = 0; i < rd->nconsumers; i++) {
        c = rd->consumers[i];
        if (c->subscribed) {
            c->subscribed(rd->kmcf, channel);
        }
    }
}


void
ngx_kefu_redis_tell_message(ngx_kefu_redis_t *rd, ngx_str_t *channel,
    ngx_str_t *payload)
{
    ngx_uint_t                        i;
    const ngx_kefu_redis_consumer_t  *c;

    for (i = 0; i < rd->nconsumers; i++) {
        c = rd->consumers[i];
        if (c->message) {
            c->message(rd->kmcf, channel, payload);
        }
    }
}


static void
ngx_kefu_redis_load_scripts(ngx_kefu_redis_link_t *link)
{
    ngx_uint_t  i;

    for (i = 0; ngx_kefu_scripts[i]; i++) {
        ngx_kefu_redis_load_script(link, ngx_kefu_scripts[i]);
    }
}


static void
ngx_kefu_redis_load_script(ngx_kefu_redis_link_t *link, ngx_kefu_script_t *s)
{
    ngx_uint_t              i;
    ngx_kefu_redis_args_t   a;
    ngx_kefu_redis_load_t  *load;

    load = NULL;

    for (i = 0; ngx_kefu_scripts[i] && i < NGX_KEFU_REDIS_SCRIPTS_MAX; i++) {
        if (ngx_kefu_scripts[i] == s) {
            load = &link->loads[i];
            load->link = link;
            break;
        }
    }

    ngx_kefu_redis_args(&a, ngx_kefu_word("SCRIPT"), ngx_kefu_word("LOAD"),
                        &s->source);

    if (ngx_kefu_redis_send(link, ngx_kefu_redis_script_reply, load, a.argc,
                            a.argv, a.lens)
        == NGX_OK && load)
    {
        load->loading = 1;
    }
}


/* whether a SCRIPT LOAD of s is in flight; set: 1 sets, 2 clears */

static ngx_uint_t
ngx_kefu_redis_script_loading(ngx_kefu_redis_link_t *link,
    ngx_kefu_script_t *s, ngx_uint_t set)
{
    ngx_uint_t  i;

    for (i = 0; ngx_kefu_scripts[i]; i++) {
        if (ngx_kefu_scripts[i] != s || i >= NGX_KEFU_REDIS_SCRIPTS_MAX) {
            continue;
        }

        if (set) {
            link->loads[i].loading = (set == 1);
        }

        return link->loads[i].loading;
    }

    return 0;
}


static void
ngx_kefu_redis_script_reply(ngx_kefu_redis_t *rd, redisReply *r, void *data)
{
    ngx_kefu_redis_load_t  *load = data;

    if (load) {
        load->loading = 0;
    }

    if (r && r->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_ALERT, rd->log, 0,
                      "kefu: redis refused a script: %s", r->str);
    }
}


void
ngx_kefu_redis_args_set(ngx_kefu_redis_args_t *a, ngx_str_t **words)
{
    /* the words not given are NULL: the array's rest is zeroed */
    for (a->argc = 0;
         a->argc < NGX_KEFU_REDIS_ARGS && words[a->argc] != NULL;
         a->argc++)
    {
        a->argv[a->argc] = (char *) words[a->argc]->data;
        a->lens[a->argc] = words[a->argc]->len;
    }
}


ngx_int_t
ngx_kefu_redis_command(ngx_kefu_redis_t *rd, ngx_kefu_redis_handler_pt h,
    void *data, int argc, const char **argv, const size_t *argvlen)
{
    int                     i;
    size_t                  lens[32];
    ngx_int_t               rc;
    ngx_uint_t              slot;
    const char             *args[32];
    ngx_kefu_redis_link_t  *link;

    if (rd == NULL) {
        return NGX_DECLINED;
    }

    slot = 0;
    link = &rd->cmd;

    if (rd->conf->seeds) {
        /* the key is the command's first argument (a channel for
         * PUBLISH, which a cluster sends on the channel's shard only) */
        slot = argc > 1 ? ngx_kefu_redis_slot((u_char *) argv[1], argvlen[1])
                        : 0;

        if (argc <= 32 && argvlen[0] == 7
            && ngx_strncasecmp((u_char *) argv[0], (u_char *) "PUBLISH", 7)
               == 0)
        {
            for (i = 1; i < argc; i++) {
                args[i] = argv[i];
                lens[i] = argvlen[i];
            }

            args[0] = "SPUBLISH";
            lens[0] = 8;
            argv = args;
            argvlen = lens;
        }

        link = ngx_kefu_redis_cluster_route(rd, slot);
    }

    rc = ngx_kefu_redis_admit(rd, link, 0, 1);

    if (rc != NGX_OK) {
        return rc;
    }

    return ngx_kefu_redis_send_script(link, NULL, h, data, argc, argv,
                                      argvlen, link->node ? (ngx_int_t) slot
                                                          : -1, 0, 0);
}


/*
 * Ready, under the cap of commands in flight on the link, and not behind a
 * command that has waited kefu_redis_max_wait for its reply already: the
 * replies come in order, so the oldest one's wait is the least a new
 * command would add to it.  Follow-up writes (ngx_kefu_redis_eval_follow())
 * take no client's place under the cap, and have a budget of their own as
 * large: over it the write is not made (NGX_BUSY), unlogged, since its
 * caller logs it.
 */

/*
 * kefu_redis_max_wait, by default half of kefu_redis timeout= and at least
 * 1s: a timeout raised for a slow Redis raises the bound with it, and a
 * short one is not undercut by refusals of what would still be answered
 */

static ngx_msec_t
ngx_kefu_redis_max_wait(ngx_kefu_redis_t *rd)
{
    if (rd->kmcf->redis_max_wait != NGX_CONF_UNSET_MSEC) {
        return rd->kmcf->redis_max_wait;
    }

    return ngx_max(rd->conf->timeout / 2, 1000);
}


/* n: the commands it would add, more than one for a batch's messages */

static ngx_int_t
ngx_kefu_redis_admit(ngx_kefu_redis_t *rd, ngx_kefu_redis_link_t *link,
    ngx_uint_t follow, ngx_uint_t n)
{
    ngx_int_t  rc;

    if (follow) {
        if (link == NULL || link->state != NGX_KEFU_LINK_READY
            || !ngx_kefu_redis_ready(rd))
        {
            return NGX_DECLINED;
        }

        if (link->nfollow >= (ngx_uint_t) rd->kmcf->redis_max_inflight) {
            return NGX_BUSY;
        }

        rd->commands++;

        return NGX_OK;
    }

    rc = ngx_kefu_redis_room(rd, link, n);

    if (rc == NGX_OK) {
        rd->commands++;
    }

    return rc;
}


/*
 * The bounds alone, nothing counted for what passes: a refusal is
 * counted (status) and logged once, as it is final for its command
 */

static ngx_int_t
ngx_kefu_redis_room(ngx_kefu_redis_t *rd, ngx_kefu_redis_link_t *link,
    ngx_uint_t n)
{
    ngx_uint_t             max;
    ngx_msec_t             bound;
    ngx_msec_int_t         waited;
    ngx_kefu_redis_req_t  *oldest;

    if (link == NULL || link->state != NGX_KEFU_LINK_READY
        || !ngx_kefu_redis_ready(rd))
    {
        return NGX_DECLINED;
    }

    max = (ngx_uint_t) rd->kmcf->redis_max_inflight;

    if (link->ninflight - link->nfollow + n > max) {
        ngx_kefu_stat_inc(rd->kmcf, redis_busy);

        if (!rd->busy) {
            rd->busy = 1;
            ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                          "kefu: %ui redis commands in flight "
                          "(kefu_redis_max_inflight), refusing more",
                          link->ninflight);
        }

        return NGX_BUSY;
    }

    bound = ngx_kefu_redis_max_wait(rd);

    if (bound && !ngx_queue_empty(&link->inflight)) {
        oldest = ngx_queue_data(ngx_queue_head(&link->inflight),
                                ngx_kefu_redis_req_t, queue);
        waited = (ngx_msec_int_t) (ngx_current_msec - oldest->sent);

        if (waited >= (ngx_msec_int_t) bound) {
            ngx_kefu_stat_inc(rd->kmcf, redis_overdue);

            if (!rd->overdue) {
                rd->overdue = 1;
                ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                              "kefu: a redis command has waited %M ms for "
                              "its reply (kefu_redis_max_wait), refusing "
                              "more", (ngx_msec_t) waited);
            }

            return NGX_BUSY;
        }
    }

    return NGX_OK;
}


/*
 * EVALSHA.  Scripts are loaded on every connect; one that Redis forgot
 * (SCRIPT FLUSH, a failover) is loaded again, once, and the call runs
 * again behind the load (ngx_kefu_redis_rerun()).  In a cluster the call
 * goes to the node serving its first key's slot (a call without keys to
 * slot 0's).
 */

ngx_int_t
ngx_kefu_redis_eval(ngx_kefu_redis_t *rd, ngx_kefu_script_t *s,
    ngx_kefu_redis_handler_pt h, void *data, int nkeys, int argc,
    const char **argv, const size_t *argvlen)
{
    return ngx_kefu_redis_eval_do(rd, s, h, data, nkeys, argc, argv, argvlen,
                                  0, 0);
}


/*
 * A batch (ngx_kefu_msg_batch.c): kefu_redis_max_inflight counts its
 * messages, so each is admitted when it joins the batch, with the ones
 * waiting before it (pending), where the key lives; the call that carries
 * them (ngx_kefu_redis_eval_n()) then counts n in flight and is not
 * refused for the count again.
 */

static ngx_kefu_redis_link_t *
ngx_kefu_redis_key_link(ngx_kefu_redis_t *rd, const u_char *key, size_t len)
{
    if (rd->conf->seeds) {
        return ngx_kefu_redis_cluster_route(rd, ngx_kefu_redis_slot(key, len));
    }

    return &rd->cmd;
}


ngx_int_t
ngx_kefu_redis_admit_key(ngx_kefu_redis_t *rd, const u_char *key,
    size_t len, ngx_uint_t pending)
{
    if (rd == NULL) {
        return NGX_DECLINED;
    }

    return ngx_kefu_redis_admit(rd, ngx_kefu_redis_key_link(rd, key, len), 0,
                                pending + 1);
}


/*
 * Whether ngx_kefu_redis_admit_key() would admit one more now, before its
 * caller builds the command: a refusal is counted as that would count it
 * and is final; what would pass is admitted (counted) later, by
 * ngx_kefu_redis_admit_key(), within the same event
 */

ngx_int_t
ngx_kefu_redis_room_key(ngx_kefu_redis_t *rd, const u_char *key,
    size_t len, ngx_uint_t pending)
{
    if (rd == NULL) {
        return NGX_DECLINED;
    }

    return ngx_kefu_redis_room(rd, ngx_kefu_redis_key_link(rd, key, len),
                               pending + 1);
}


ngx_int_t
ngx_kefu_redis_eval_n(ngx_kefu_redis_t *rd, ngx_kefu_script_t *s,
    ngx_kefu_redis_handler_pt h, void *data, ngx_uint_t n, int nkeys,
    int argc, const char **argv, const size_t *argvlen)
{
    return ngx_kefu_redis_eval_do(rd, s, h, data, nkeys, argc, argv, argvlen,
                                  0, ngx_max(n, 1));
}


/*
 * A write that follows a command just answered (the search index after a
 * stored message): admitted on a budget of its own, outside
 * kefu_redis_max_inflight (ngx_kefu_redis_admit()).  The connection
 * answers in order, so follow-ups in flight stay about as many as the
 * commands they follow.
 */

ngx_int_t
ngx_kefu_redis_eval_follow(ngx_kefu_redis_t *rd, ngx_kefu_script_t *s,
    ngx_kefu_redis_handler_pt h, void *data, int nkeys, int argc,
    const char **argv, const size_t *argvlen)
{
    return ngx_kefu_redis_eval_do(rd, s, h, data, nkeys, argc, argv, argvlen,
                                  1, 0);
}


ngx_int_t
ngx_kefu_redis_eval_call(ngx_kefu_redis_t *rd, ngx_kefu_script_t *s,
    ngx_kefu_redis_handler_pt h, void *data, ngx_kefu_call_t *call)
{
    return ngx_kefu_redis_eval_do(rd, s, h, data, call->nkeys, call->argc,
                                  call->argv, call->lens, 0, 0);
}


ngx_int_t
ngx_kefu_redis_follow_call(ngx_kefu_redis_t *rd, ngx_kefu_script_t *s,
    ngx_kefu_redis_handler_pt h, void *data, ngx_kefu_call_t *call)
{
    return ngx_kefu_redis_eval_do(rd, s, h, data, call->nkeys, call->argc,
                                  call->argv, call->lens, 1, 0);
}


/* weight: the commands (messages) a call carries, admitted before; 0: one,
 * admitted here */

static ngx_int_t
ngx_kefu_redis_eval_do(ngx_kefu_redis_t *rd, ngx_kefu_script_t *s,
    ngx_kefu_redis_handler_pt h, void *data, int nkeys, int argc,
    const char **argv, const size_t *argvlen, ngx_uint_t follow,
    ngx_uint_t weight)
{
    int                     i;
    u_char                  nk[NGX_INT_T_LEN];
    size_t                  lens_buf[32], *lens;
    ngx_int_t               rc;
    ngx_uint_t              slot;
    const char             *args_buf[32], **args;
    ngx_kefu_redis_link_t  *link;

    slot = 0;

    if (argc < 0 || argc > 4096 || nkeys > argc) {
        return NGX_ERROR;
    }

    if (rd == NULL) {
        return NGX_DECLINED;
    }

    args = args_buf;
    lens = lens_buf;

    /* a call of many keys (the search index's terms) on the heap */
    if (argc + 3 > 32) {
        args = ngx_alloc((argc + 3) * (sizeof(char *) + sizeof(size_t)),
                         rd->log);
        if (args == NULL) {
            return NGX_ERROR;
        }

        lens = (size_t *) (args + argc + 3);
    }

    args[2] = (char *) nk;
    lens[2] = ngx_snprintf(nk, sizeof(nk), "%d", nkeys) - nk;

    for (i = 0; i < argc; i++) {
        args[i + 3] = argv[i];
        lens[i + 3] = argvlen[i];
    }

    link = &rd->cmd;

    if (rd->conf->seeds) {
        slot = nkeys ? ngx_kefu_redis_slot((u_char *) argv[0], argvlen[0])
                     : 0;
        link = ngx_kefu_redis_cluster_route(rd, slot);
    }

    if (link && link->functions) {
        args[0] = "FCALL";
        lens[0] = 5;
        args[1] = (char *) s->fname.data;
        lens[1] = s->fname.len;

    } else {
        args[0] = "EVALSHA";
        lens[0] = 7;
        args[1] = (char *) s->sha1;
        lens[1] = 40;
    }

    if (weight) {
        /* its messages were admitted one by one (ready, then, too) */
        rc = (link && link->state == NGX_KEFU_LINK_READY
              && ngx_kefu_redis_ready(rd)) ? NGX_OK : NGX_DECLINED;

        if (rc == NGX_OK) {
            rd->commands += weight;
        }

    } else {
        rc = ngx_kefu_redis_admit(rd, link, follow, 1);
    }

    if (rc == NGX_OK) {
        /* the command is formatted (copied) before this returns */
        rc = ngx_kefu_redis_send_script(link, s, h, data, argc + 3, args,
                                        lens, link->node ? (ngx_int_t) slot
                                                         : -1, follow,
                                        weight);
    }

    if (args != args_buf) {
        ngx_free(args);
    }

    return rc;
}


ngx_int_t
ngx_kefu_redis_send(ngx_kefu_redis_link_t *link, ngx_kefu_redis_handler_pt h,
    void *data, int argc, const char **argv, const size_t *argvlen)
{
    return ngx_kefu_redis_send_script(link, NULL, h, data, argc, argv,
                                      argvlen, -1, 0, 0);
}


/*
 * A script's call keeps its formatted command for a rerun after NOSCRIPT;
 * in a cluster every call does, for a redirection.
 */

/* a request went out on link: it waits there for its reply */

static void
ngx_kefu_redis_inflight(ngx_kefu_redis_link_t *link, ngx_kefu_redis_req_t *req)
{
    ngx_queue_insert_tail(&link->inflight, &req->queue);
    link->ninflight += req->weight;
    link->nfollow += req->follow;
    link->rd->queued += req->weight;
    ngx_kefu_stat_redis_queue(link->rd->kmcf, link->rd->queued);

    if (!link->timer.timer_set) {
        ngx_kefu_redis_arm_timer(link);
    }
}


/*
 * A command in RESP, byte for byte as redisFormatCommandArgv() writes it
 * (malloc()ed, freed by redisFreeCommand()), without a printf-style call
 * for each argument's length: a batch of messages and their search index are
 * about 60 arguments a message, and those calls were a fifth of
 * nginx's instructions for a stored message (issue 18)
 */

static int
ngx_kefu_redis_format(char **target, int argc, const char **argv,
    const size_t *argvlen)
{
    int      i;
    char    *cmd;
    u_char  *p;
    size_t   len, n;

    len = 1 + ngx_kefu_redis_digits(argc) + 2;

    for (i = 0; i < argc; i++) {
        n = argvlen ? argvlen[i] : ngx_strlen(argv[i]);
        len += 1 + ngx_kefu_redis_digits(n) + 2 + n + 2;
    }

    cmd = malloc(len + 1);
    if (cmd == NULL) {
        return -1;
    }

    p = ngx_kefu_redis_resp_len((u_char *) cmd, '*', argc);

    for (i = 0; i < argc; i++) {
        n = argvlen ? argvlen[i] : ngx_strlen(argv[i]);
        p = ngx_kefu_redis_resp_len(p, '$', n);
        p = ngx_cpymem(p, argv[i], n);
        *p++ = CR;
        *p++ = LF;
    }

    *p = '\0';

    *target = cmd;

    return (int) len;
}


static size_t
ngx_kefu_redis_digits(size_t n)
{
    size_t  d;

    for (d = 1; n >= 10; d++) {
        n /= 10;
    }

    return d;
}


/* type, n in decimal, CRLF */

static u_char *
ngx_kefu_redis_resp_len(u_char *p, u_char type, size_t n)
{
    *p++ = type;
    p = ngx_kefu_dec(p, n);
    *p++ = CR;
    *p++ = LF;

    return p;
}


static ngx_int_t
ngx_kefu_redis_send_script(ngx_kefu_redis_link_t *link,
    ngx_kefu_script_t *script, ngx_kefu_redis_handler_pt h, void *data,
    int argc, const char **argv, const size_t *argvlen, ngx_int_t slot,
    ngx_uint_t follow, ngx_uint_t weight)
{
    int                    len, rc;
    char                  *cmd;
    ngx_kefu_redis_req_t  *req;

    if (link->ac == NULL) {
        return NGX_DECLINED;
    }

    req = ngx_alloc(sizeof(ngx_kefu_redis_req_t), link->rd->log);
    if (req == NULL) {
        return NGX_ERROR;
    }

    req->link = link;
    req->handler = h;
    req->data = data;
    req->sent = ngx_current_msec;
    req->script = script;
    req->cmd = NULL;
    req->len = 0;
    req->redirects = 0;
    req->tryagains = 0;
    req->slot = slot;
    req->retried = 0;
    req->follow = follow ? 1 : 0;
    req->weight = weight ? weight : 1;
    req->wait.timer_set = 0;

    if (script || link->node) {
        cmd = NULL;
        len = ngx_kefu_redis_format(&cmd, argc, argv, argvlen);

        if (len < 0) {
            ngx_free(req);
            return NGX_ERROR;
        }

        req->cmd = cmd;
        req->len = len;

        rc = redisAsyncFormattedCommand(link->ac, ngx_kefu_redis_reply, req,
                                        cmd, len);

    } else {
        rc = redisAsyncCommandArgv(link->ac, ngx_kefu_redis_reply, req, argc,
                                   argv, argvlen);
    }

    if (rc != REDIS_OK) {
        if (req->cmd) {
            redisFreeCommand(req->cmd);
        }

        ngx_free(req);
        return NGX_ERROR;
    }

    ngx_kefu_redis_inflight(link, req);

    return NGX_OK;
}


static void
ngx_kefu_redis_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    ngx_kefu_redis_req_t   *req = privdata;

    redisReply  *r;

    r = reply;

    ngx_kefu_redis_settled(req);

    if (r && r->type == REDIS_REPLY_ERROR) {

        switch (ngx_kefu_redis_recover(req, r)) {

        case NGX_DONE:
            /* the call goes on: its handler gets a later reply */
            return;

        case NGX_DECLINED:
            /* answered as a lost connection is */
            reply = NULL;
            break;

        default:
            break;
        }
    }

    ngx_kefu_redis_done(req, reply);
}


/* a reply came: the call leaves the link's in-flight count and timer */

static void
ngx_kefu_redis_settled(ngx_kefu_redis_req_t *req)
{
    ngx_kefu_redis_link_t  *link;

    link = req->link;

    ngx_queue_remove(&req->queue);
    link->ninflight -= req->weight;
    link->nfollow -= req->follow;
    link->rd->queued -= req->weight;
    ngx_kefu_stat_redis_queue(link->rd->kmcf, link->rd->queued);

    if (link->rd->busy
        && link->ninflight < (ngx_uint_t) link->rd->kmcf->redis_max_inflight
                             / 2)
    {
        link->rd->busy = 0;
    }

    /* said again once replies come within half the bound */
    if (link->rd->overdue
        && ngx_current_msec - req->sent
           < ngx_kefu_redis_max_wait(link->rd) / 2)
    {
        link->rd->overdue = 0;
    }

    if (link->timer.timer_set) {
        ngx_del_timer(&link->timer);
    }

    if (!ngx_queue_empty(&link->inflight) && link->ac) {
        ngx_kefu_redis_arm_timer(link);
    }
}


/*
 * An error reply the layer may get past: NGX_DONE, the call was sent
 * again; NGX_DECLINED, it failed as for a lost connection; NGX_OK, the
 * error is the caller's.
 */

static ngx_int_t
ngx_kefu_redis_recover(ngx_kefu_redis_req_t *req, redisReply *r)
{
    ngx_kefu_redis_link_t  *link;

    link = req->link;

    if (ngx_strncmp(r->str, "NOSCRIPT", 8) == 0
        || ngx_strcmp(r->str, "ERR Function not found") == 0)
    {
        if (req->script && !req->retried
            && ngx_kefu_redis_rerun(req) == NGX_OK)
        {
            /* its handler gets the rerun's reply */
            return NGX_DONE;
        }

        return NGX_DECLINED;
    }

    if (link->rd->sentinels && ngx_strncmp(r->str, "READONLY", 8) == 0) {
        /* a demoted master: as good as a switch; the caller answers
         * "unavailable" as for a lost connection (nothing was written) */
        ngx_kefu_redis_sentinel_link_down(link->rd->sentinels,
                                          "the master is read-only now");
        return NGX_DECLINED;
    }

    if (link->node && req->cmd) {
        return ngx_kefu_redis_redirected(req, r);
    }

    return NGX_OK;
}


/* a cluster's error replies to a call it may send again */

static ngx_int_t
ngx_kefu_redis_redirected(ngx_kefu_redis_req_t *req, redisReply *r)
{
    ngx_uint_t              ask;
    ngx_kefu_redis_node_t  *node;
    ngx_kefu_redis_link_t  *link;

    link = req->link;

    /*
     * A cluster's redirections: MOVED (the slot has a new owner: the map
     * is asked again, the call goes there) and ASK (the slot is being
     * migrated and this key already left: ASKING, then the call, on the
     * importing node).  A call is redirected a few times at most.
     */
    if (ngx_strncmp(r->str, "MOVED ", 6) == 0
        || ngx_strncmp(r->str, "ASK ", 4) == 0)
    {
        node = ngx_kefu_redis_cluster_redirect(link->rd, r, &ask);

        if (node && req->redirects < NGX_KEFU_REDIS_REDIRECTS
            && ngx_kefu_redis_resend(req, &node->cmd, ask) == NGX_OK)
        {
            return NGX_DONE;
        }

        ngx_log_error(NGX_LOG_ERR, link->rd->log, 0,
                      "kefu: redis %s: %s, not followed", link->name,
                      r->str);
        return NGX_DECLINED;
    }

    /*
     * TRYAGAIN: a call with several keys in a slot being migrated, some
     * of them moved already (or, on the importing node after ASK, some of
     * them absent: a declared key that does not exist, such as a
     * conversation's "joined" set, is answered TRYAGAIN for as long as
     * its slot migrates).  The migration finishes in moments: the call
     * runs again after a pause, routed afresh, its redirections counted
     * from none again (each retry may take ASK again), the retries on
     * their own count.
     */
    if (req->slot >= 0 && ngx_strncmp(r->str, "TRYAGAIN", 8) == 0
        && req->tryagains < NGX_KEFU_REDIS_TRYAGAIN && !link->rd->exiting)
    {
        req->tryagains++;
        req->redirects = 0;
        req->wait.handler = ngx_kefu_redis_tryagain_handler;
        req->wait.data = req;
        req->wait.log = link->rd->log;
        req->wait.cancelable = 1;
        ngx_add_timer(&req->wait, NGX_KEFU_REDIS_TRYAGAIN_WAIT);
        return NGX_DONE;
    }

    return NGX_OK;
}


/*
 * A call's end: its handler gets the reply (NULL: failed); with wait=,
 * the message script's reply only once WAIT counted enough replicas.
 */

static void
ngx_kefu_redis_done(ngx_kefu_redis_req_t *req, redisReply *reply)
{
    ngx_kefu_redis_link_t  *link;

    link = req->link;

    if (!link->subscriber) {
        ngx_kefu_stat_redis_reply(link->rd->kmcf,
                                  ngx_current_msec - req->sent, reply != NULL);
    }

    if (req->script && link->rd->durable
        && (req->script == link->rd->durable
            || req->script == &ngx_kefu_script_msg_batch)
        && reply
        && reply->type != REDIS_REPLY_ERROR)
    {
        if (ngx_kefu_redis_wait(req, reply) == NGX_OK) {
            req->handler = NULL;

        } else {
            reply = NULL;
        }
    }

    if (req->handler) {
        req->handler(link->rd, reply, req->data);
    }

    if (req->cmd) {
        redisFreeCommand(req->cmd);
    }

    ngx_free(req);
}


static void
ngx_kefu_redis_tryagain_handler(ngx_event_t *ev)
{
    ngx_kefu_redis_req_t  *req = ev->data;

    ngx_kefu_redis_link_t  *link;

    link = ngx_kefu_redis_cluster_route(req->link->rd, req->slot);

    if (link && ngx_kefu_redis_resend(req, link, 0) == NGX_OK) {
        return;
    }

    ngx_kefu_redis_done(req, NULL);
}


/*
 * NOSCRIPT: Redis forgot the script.  It is loaded again (once, however
 * many calls found it missing: they all run after that one load, since
 * Redis answers in order) and this call runs again, once.
 */

static ngx_int_t
ngx_kefu_redis_rerun(ngx_kefu_redis_req_t *req)
{
    ngx_kefu_redis_t       *rd;
    ngx_kefu_redis_link_t  *link;

    link = req->link;
    rd = link->rd;

    if (link->ac == NULL || link->state != NGX_KEFU_LINK_READY
        || rd->exiting)
    {
        return NGX_DECLINED;
    }

    ngx_kefu_stat_inc(rd->kmcf, redis_noscript);

    if (link->functions) {
        if (!link->lib_loading) {
            ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                          "kefu: redis lost the function library (Function "
                          "not found), loading it again");

            if (ngx_kefu_redis_load_library(link,
                                            ngx_kefu_redis_library_again)
                == NGX_OK)
            {
                link->lib_loading = 1;
            }
        }

    } else if (!ngx_kefu_redis_script_loading(link, req->script, 0)) {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "kefu: redis lost script %*s (NOSCRIPT), loading it "
                      "again", (size_t) 8, req->script->sha1);

        ngx_kefu_redis_load_script(link, req->script);
    }

    if (ngx_kefu_redis_resend(req, link, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    req->retried = 1;

    return NGX_OK;
}


/* a call sent again, as it was formatted, on a link (behind ASKING) */

static ngx_int_t
ngx_kefu_redis_resend(ngx_kefu_redis_req_t *req, ngx_kefu_redis_link_t *link,
    ngx_uint_t asking)
{
    ngx_kefu_redis_args_t  a;

    if (link->ac == NULL || link->state != NGX_KEFU_LINK_READY
        || link->rd->exiting)
    {
        return NGX_DECLINED;
    }

    if (asking) {
        ngx_kefu_redis_args(&a, ngx_kefu_word("ASKING"));

        if (ngx_kefu_redis_send(link, NULL, NULL, a.argc, a.argv, a.lens)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    if (redisAsyncFormattedCommand(link->ac, ngx_kefu_redis_reply, req,
                                   req->cmd, req->len)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    if (link != req->link) {
        req->redirects++;
        req->link = link;
    }

    req->sent = ngx_current_msec;

    ngx_kefu_redis_inflight(link, req);

    return NGX_OK;
}


/*
 * wait=N: WAIT N wait_timeout on the same connection, right after the
 * script's reply.  WAIT waits for the replication offset of this
 * connection's latest write, which is the script's or a later one (in a
 * cluster: the connection to the master that ran the script, after any
 * redirection).  The reply is copied (hiredis frees it when its callback
 * returns) and handed over when WAIT answered: with fewer replicas than
 * N, or no answer, the handler gets NULL, as for any failure: the client
 * is told "unavailable" and resends, which the script deduplicates.
 */

static ngx_int_t
ngx_kefu_redis_wait(ngx_kefu_redis_req_t *req, redisReply *reply)
{
    u_char                 n[NGX_INT_T_LEN], t[NGX_INT_T_LEN];
    ngx_str_t              ns, ts;
    ngx_kefu_redis_t      *rd;
    ngx_kefu_redis_wait_t *w;
    ngx_kefu_redis_args_t  a;

    rd = req->link->rd;

    if (req->link->ac == NULL || rd->exiting) {
        return NGX_DECLINED;
    }

    w = ngx_alloc(sizeof(ngx_kefu_redis_wait_t), rd->log);
    if (w == NULL) {
        return NGX_ERROR;
    }

    w->handler = req->handler;
    w->data = req->data;
    w->kept = ngx_kefu_redis_copy_reply(reply, rd->log);

    if (w->kept == NULL) {
        ngx_free(w);
        return NGX_ERROR;
    }

    ns.data = n;
    ns.len = ngx_sprintf(n, "%i", rd->conf->wait) - n;
    ts.data = t;
    ts.len = ngx_sprintf(t, "%M", rd->conf->wait_timeout) - t;

    ngx_kefu_redis_args(&a, ngx_kefu_word("WAIT"), &ns, &ts);

    /* not counted against the cap: it finishes a call already admitted */
    if (ngx_kefu_redis_send(req->link, ngx_kefu_redis_wait_reply, w, a.argc,
                            a.argv, a.lens)
        != NGX_OK)
    {
        ngx_kefu_redis_free_reply(w->kept);
        ngx_free(w);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_kefu_redis_wait_reply(ngx_kefu_redis_t *rd, redisReply *r, void *data)
{
    ngx_kefu_redis_wait_t  *w = data;

    redisReply  *kept;

    kept = w->kept;

    if (r == NULL || r->type != REDIS_REPLY_INTEGER
        || r->integer < rd->conf->wait)
    {
        if (r && r->type == REDIS_REPLY_INTEGER) {
            ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                          "kefu: a message reached %L of %i replicas "
                          "within wait_timeout=%M: not acknowledged",
                          (int64_t) r->integer, rd->conf->wait,
                          rd->conf->wait_timeout);
        }

        kept = NULL;
    }

    if (w->handler) {
        w->handler(rd, kept, w->data);
    }

    ngx_kefu_redis_free_reply(w->kept);
    ngx_free(w);
}


/* a deep copy of a reply, with the fields the handlers read */

static redisReply *
ngx_kefu_redis_copy_reply(redisReply *r, ngx_log_t *log)
{
    size_t       i;
    redisReply  *c;

    c = ngx_calloc(sizeof(redisReply), log);
    if (c == NULL) {
        return NULL;
    }

    c->type = r->type;
    c->integer = r->integer;

    if (r->str) {
        c->str = ngx_alloc(r->len + 1, log);
        if (c->str == NULL) {
            ngx_free(c);
            return NULL;
        }

        ngx_memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
        c->len = r->len;
    }

    if (r->element && r->elements) {
        c->element = ngx_calloc(r->elements * sizeof(redisReply *), log);
        if (c->element == NULL) {
            ngx_kefu_redis_free_reply(c);
            return NULL;
        }

        c->elements = r->elements;

        for (i = 0; i < r->elements; i++) {
            c->element[i] = ngx_kefu_redis_copy_reply(r->element[i], log);
            if (c->element[i] == NULL) {
                ngx_kefu_redis_free_reply(c);
                return NULL;
            }
        }
    }

    return c;
}


static void
ngx_kefu_redis_free_reply(redisReply *r)
{
    size_t  i;

    if (r == NULL) {
        return;
    }

    for (i = 0; r->element && i < r->elements; i++) {
        ngx_kefu_redis_free_reply(r->element[i]);
    }

    if (r->element) {
        ngx_free(r->element);
    }

    if (r->str) {
        ngx_free(r->str);
    }

    ngx_free(r);
}


static void
ngx_kefu_redis_arm_timer(ngx_kefu_redis_link_t *link)
{
    ngx_msec_int_t         left;
    ngx_kefu_redis_req_t  *oldest;

    oldest = ngx_queue_data(ngx_queue_head(&link->inflight),
                            ngx_kefu_redis_req_t, queue);

    left = (ngx_msec_int_t) (oldest->sent + link->rd->conf->timeout
                             - ngx_current_msec);

    ngx_add_timer(&link->timer, (ngx_msec_t) ngx_max(left, 1));
}


ngx_int_t
ngx_kefu_redis_subscribe(ngx_kefu_redis_t *rd, ngx_str_t *channel)
{
    uint32_t                   hash;
    ngx_kefu_redis_channel_t  *ch;

    if (rd == NULL) {
        return NGX_DECLINED;
    }

    hash = ngx_crc32_short(channel->data, channel->len);
    ch = (ngx_kefu_redis_channel_t *)
             ngx_str_rbtree_lookup(&rd->channels, channel, hash);

    if (ch) {
        ch->count++;
        return NGX_OK;
    }

    ch = ngx_alloc(sizeof(ngx_kefu_redis_channel_t) + channel->len, rd->log);
    if (ch == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(ch->data, channel->data, channel->len);
    ch->sn.str.data = ch->data;
    ch->sn.str.len = channel->len;
    ch->sn.node.key = hash;
    ch->count = 1;
    ch->node = -1;
    ch->slot = ngx_kefu_redis_slot(channel->data, channel->len);

    ngx_rbtree_insert(&rd->channels, &ch->sn.node);

    if (rd->conf->seeds) {
        /* on its shard, now or when that shard's link is ready */
        ngx_kefu_redis_shard_subscribe(rd, ch);
        return NGX_OK;
    }

    /* while down, the reconnect subscribes it */
    if (rd->sub.state == NGX_KEFU_LINK_READY) {
        (void) ngx_kefu_redis_sub_send(rd, "SUBSCRIBE", &ch->sn.str);
    }

    return NGX_OK;
}


ngx_int_t
ngx_kefu_redis_unsubscribe(ngx_kefu_redis_t *rd, ngx_str_t *channel)
{
    ngx_kefu_redis_channel_t  *ch;

    if (rd == NULL) {
        return NGX_DECLINED;
    }

    ch = (ngx_kefu_redis_channel_t *)
             ngx_str_rbtree_lookup(&rd->channels, channel,
                                   ngx_crc32_short(channel->data,
                                                   channel->len));
    if (ch == NULL || --ch->count) {
        return NGX_OK;
    }

    if (rd->conf->seeds) {
        ngx_kefu_redis_shard_unsubscribe(rd, ch);

    } else if (rd->sub.state == NGX_KEFU_LINK_READY) {
        (void) ngx_kefu_redis_sub_send(rd, "UNSUBSCRIBE", &ch->sn.str);
    }

    ngx_rbtree_delete(&rd->channels, &ch->sn.node);
    ngx_free(ch);

    return NGX_OK;
}


static ngx_int_t
ngx_kefu_redis_sub_send(ngx_kefu_redis_t *rd, const char *cmd,
    ngx_str_t *channel)
{
    size_t       lens[2];
    const char  *argv[2];

    if (rd->sub.ac == NULL) {
        return NGX_DECLINED;
    }

    argv[0] = cmd;
    lens[0] = ngx_strlen(cmd);
    argv[1] = (char *) channel->data;
    lens[1] = channel->len;

    /* in subscribe mode hiredis calls this for every message too */
    if (redisAsyncCommandArgv(rd->sub.ac, ngx_kefu_redis_sub_reply, rd, 2,
                              argv, lens)
        != REDIS_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_kefu_redis_sub_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    ngx_kefu_redis_t  *rd = privdata;

    ngx_str_t    kind, channel, payload;
    redisReply  *r = reply;

    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements < 3
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_STRING)
    {
        return;
    }

    kind.data = (u_char *) r->element[0]->str;
    kind.len = r->element[0]->len;
    channel.data = (u_char *) r->element[1]->str;
    channel.len = r->element[1]->len;

    if (channel.len == rd->probe.len
        && ngx_strncmp(channel.data, rd->probe.data, channel.len) == 0)
    {
        if (kind.len == 9 && ngx_strncmp(kind.data, "subscribe", 9) == 0) {
            rd->probe_subscribed = 1;

        } else if (rd->probing) {
            /* heard: both links work; the next probe after an interval */
            rd->probing = 0;
            ngx_add_timer(&rd->ping, rd->conf->ping);
        }

        return;
    }

    if (kind.len == 7 && ngx_strncmp(kind.data, "message", 7) == 0
        && r->element[2]->type == REDIS_REPLY_STRING)
    {
        payload.data = (u_char *) r->element[2]->str;
        payload.len = r->element[2]->len;
        ngx_kefu_redis_tell_message(rd, &channel, &payload);
        return;
    }

    if (kind.len == 9 && ngx_strncmp(kind.data, "subscribe", 9) == 0) {
        ngx_kefu_redis_tell_subscribed(rd, &channel);
    }
}


/*
 * The health check; see the top.  One timer per worker: it publishes a
 * probe every "ping" interval, and a probe not heard back on the pub/sub
 * connection within "timeout" takes that connection for stalled.
 */

static void
ngx_kefu_redis_ping_handler(ngx_event_t *ev)
{
    ngx_kefu_redis_t  *rd = ev->data;

    ngx_msec_t              waited;
    ngx_kefu_redis_args_t   a;

    if (rd->exiting || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (rd->conf->seeds) {
        /* a cluster: each shard's pub/sub link answers a PING, and the
         * slot map is asked again (topology changes show up within an
         * interval even when no call was redirected) */
        ngx_kefu_redis_shard_ping(rd);
        ngx_kefu_redis_cluster_refresh(rd);
        ngx_add_timer(ev, ngx_min(rd->conf->ping, rd->conf->timeout));
        return;
    }

    if (rd->probing) {
        waited = ngx_current_msec - rd->probe_sent;

        if (rd->sub.state != NGX_KEFU_LINK_READY || rd->sub.ac == NULL) {
            rd->probing = 0;

        } else if (waited < rd->conf->timeout) {
            ngx_add_timer(ev, rd->conf->timeout - waited);
            return;

        } else {
            rd->probing = 0;
            ngx_kefu_stat_inc(rd->kmcf, redis_pubsub_stalls);

            ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                          "kefu: redis pub/sub connection stalled: probe "
                          "not heard in %M ms, reconnecting", waited);

            /* a timer handler, outside hiredis: freeing is allowed; the
             * cleanup reconnects and every member catches up */
            redisAsyncFree(rd->sub.ac);

            ngx_add_timer(ev, rd->conf->ping);
            return;
        }
    }

    if (rd->cmd.state == NGX_KEFU_LINK_READY
        && rd->sub.state == NGX_KEFU_LINK_READY && rd->probe_subscribed)
    {
        ngx_kefu_redis_args(&a, ngx_kefu_word("PUBLISH"), &rd->probe,
                            ngx_kefu_word("1"));

        /* not counted against the cap: it is what finds a stall */
        if (ngx_kefu_redis_send(&rd->cmd, ngx_kefu_redis_probe_reply, NULL,
                                a.argc, a.argv, a.lens)
            == NGX_OK)
        {
            rd->probing = 1;
            rd->probe_sent = ngx_current_msec;
            ngx_add_timer(ev, rd->conf->timeout);
            return;
        }
    }

    /* links down: their own reconnects run; look again later */
    ngx_add_timer(ev, rd->conf->ping);
}


static void
ngx_kefu_redis_probe_reply(ngx_kefu_redis_t *rd, redisReply *r, void *data)
{
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        /* the command link failed (its own timeout): no verdict on pub/sub */
        rd->probing = 0;
    }
}


/*
 * TCP keepalive: a Redis host that vanished (no RST ever comes) is noticed
 * even on a connection with nothing in flight.
 */

static void
ngx_kefu_redis_keepalive(ngx_kefu_redis_link_t *link)
{
    int           on, idle, cnt;
    ngx_socket_t  fd;

    if (link->port == 0) {
        return;
    }

    fd = link->ac->c.fd;
    on = 1;

    if (setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, (const void *) &on,
                   sizeof(int))
        == -1)
    {
        ngx_log_error(NGX_LOG_WARN, link->rd->log, ngx_socket_errno,
                      "kefu: setsockopt(SO_KEEPALIVE) failed on redis %s",
                      link->name);
        return;
    }

#if (NGX_HAVE_KEEPALIVE_TUNABLE)

    idle = (int) ngx_max(link->rd->conf->ping / 1000, 1);
    cnt = 3;

    (void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, (const void *) &idle,
                      sizeof(int));
    (void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, (const void *) &idle,
                      sizeof(int));
    (void) setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, (const void *) &cnt,
                      sizeof(int));

#else
    (void) idle;
    (void) cnt;
#endif
}
