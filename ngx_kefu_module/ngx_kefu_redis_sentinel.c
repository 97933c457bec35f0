
/*
 * kefu_redis sentinel: the master's address from Redis Sentinel.
 *
 * Per worker, one connection to one Sentinel at a time:
 *
 *   connect -> [AUTH] -> SENTINEL get-master-addr-by-name <name>
 *           -> SUBSCRIBE +switch-master (watching)
 *
 * The answer becomes the address the command and pub/sub links connect to
 * (ngx_kefu_redis_connect() asks ngx_kefu_redis_sentinel_addr()); a new
 * one, asked or announced by +switch-master, moves both links there
 * (ngx_kefu_redis_master_changed()).  A Sentinel that is down, slow,
 * refuses us or does not know the master: the next one is tried, and a
 * round of failures waits a second before the next round.
 *
 * A link that goes down, or a master that answers READONLY (demoted: a
 * failover happened), asks again (ngx_kefu_redis_sentinel_link_down()):
 * the subscription may have missed the switch while its own connection
 * was down.  Asking again re-opens the connection, at most once a second,
 * so links that keep failing against a dead master keep asking until the
 * Sentinels promoted another.
 *
 * The addresses a Sentinel gives must be numeric: hiredis would resolve a
 * name with a blocking call.
 */


#include "ngx_kefu_redis.h"


#define NGX_KEFU_SENTINEL_PORT      26379
#define NGX_KEFU_SENTINEL_REASK     1000   /* ms between asks */
#define NGX_KEFU_SENTINEL_ROUND     1000   /* ms after every one failed */


typedef struct {
    u_char                      *host;      /* numeric, NUL-terminated */
    int                          port;
    ngx_str_t                    text;      /* as configured, for logs */
} ngx_kefu_sentinel_addr_t;


struct ngx_kefu_redis_sentinel_conf_s {
    ngx_str_t                    name;      /* the master's name */
    ngx_array_t                  addrs;     /* ngx_kefu_sentinel_addr_t */
    ngx_str_t                    user;
    ngx_str_t                    password;
};


enum {
    NGX_KEFU_SENTINEL_IDLE = 0,
    NGX_KEFU_SENTINEL_ASKING,
    NGX_KEFU_SENTINEL_WATCHING
};


struct ngx_kefu_redis_sentinel_s {
    ngx_kefu_redis_t            *rd;
    ngx_kefu_redis_conf_t       *rc;
    ngx_kefu_redis_sentinel_conf_t  *sc;
    ngx_log_t                   *log;
    redisAsyncContext           *ac;
    ngx_connection_t            *c;
    ngx_event_t                  ask;       /* (re)open the connection */
    ngx_event_t                  timer;     /* connect, or the answer */
    ngx_uint_t                   state;
    ngx_uint_t                   current;   /* index into sc->addrs */
    ngx_uint_t                   failed;    /* in a row, this round */
    ngx_msec_t                   asked;
    const char                  *why;       /* this connection's failure */
    int                          port;      /* of the master; 0: unknown */
    u_char                       host[NGX_SOCKADDR_STRLEN + 1];
    unsigned                     relinking:1;
    unsigned                     closing:1;
    unsigned                     exiting:1;
};


static ngx_int_t ngx_kefu_sentinel_conf_addr(ngx_conf_t *cf,
    ngx_kefu_redis_sentinel_conf_t *sc, ngx_str_t *value);
static char *ngx_kefu_sentinel_conf_auth(ngx_conf_t *cf,
    ngx_kefu_redis_sentinel_conf_t *sc, ngx_uint_t i);
static void ngx_kefu_sentinel_ask_handler(ngx_event_t *ev);
static void ngx_kefu_sentinel_timer_handler(ngx_event_t *ev);
static void ngx_kefu_sentinel_schedule(ngx_kefu_redis_sentinel_t *s,
    ngx_msec_t delay);
static void ngx_kefu_sentinel_failed(ngx_kefu_redis_sentinel_t *s,
    const char *why);
static void ngx_kefu_sentinel_on_connect(const redisAsyncContext *ac,
    int status);
static void ngx_kefu_sentinel_auth_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_kefu_sentinel_addr_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_kefu_sentinel_sub_reply(redisAsyncContext *ac, void *reply,
    void *privdata);
static void ngx_kefu_sentinel_master(ngx_kefu_redis_sentinel_t *s,
    u_char *host, size_t hlen, u_char *port, size_t plen, const char *how);
static void ngx_kefu_sentinel_cleanup(void *privdata);


/*
 * kefu_redis sentinel <master-name> host[:port] [host[:port] ...] ...:
 * the name and the addresses, up to the first name=value parameter.
 */

char *
ngx_kefu_redis_sentinel_conf(ngx_conf_t *cf, ngx_kefu_redis_conf_t *rc,
    ngx_uint_t *next)
{
    u_char                          *p;
    ngx_str_t                       *value;
    ngx_uint_t                       i;
    ngx_kefu_redis_sentinel_conf_t  *sc;

    value = cf->args->elts;

    if (cf->args->nelts < 4 || value[2].len == 0
        || ngx_strlchr(value[2].data, value[2].data + value[2].len, '=')
        || ngx_strlchr(value[3].data, value[3].data + value[3].len, '='))
    {
        return "sentinel needs a master name and at least one Sentinel "
               "address";
    }

    for (p = value[2].data; p < value[2].data + value[2].len; p++) {
        if (*p <= ' ' || *p == 0x7f) {
            return "sentinel has an invalid master name";
        }
    }

    sc = ngx_pcalloc(cf->pool, sizeof(ngx_kefu_redis_sentinel_conf_t));
    if (sc == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ngx_array_init(&sc->addrs, cf->pool, 3,
                       sizeof(ngx_kefu_sentinel_addr_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    sc->name = value[2];

    for (i = 3; i < cf->args->nelts; i++) {

        if (ngx_strlchr(value[i].data, value[i].data + value[i].len, '=')) {
            break;
        }

        if (ngx_kefu_sentinel_conf_addr(cf, sc, &value[i]) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    rc->sentinel = sc;
    *next = i;

    return ngx_kefu_sentinel_conf_auth(cf, sc, i);
}


/* one Sentinel's address: resolved here, kept as hiredis takes it */

static ngx_int_t
ngx_kefu_sentinel_conf_addr(ngx_conf_t *cf,
    ngx_kefu_redis_sentinel_conf_t *sc, ngx_str_t *value)
{
    u_char                    *p;
    ngx_url_t                  u;
    ngx_kefu_sentinel_addr_t  *a;

    if (ngx_strncmp(value->data, "unix:", 5) == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid Sentinel address \"%V\" in "
                           "\"kefu_redis\": Sentinels are reached over "
                           "TCP", value);
        return NGX_ERROR;
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = *value;
    u.default_port = NGX_KEFU_SENTINEL_PORT;

    /* configuration time: the only place a name may be resolved */
    if (ngx_parse_url(cf->pool, &u) != NGX_OK || u.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid Sentinel address \"%V\" in "
                           "\"kefu_redis\"%s%s", value,
                           u.err ? ": " : "", u.err ? u.err : "");
        return NGX_ERROR;
    }

    a = ngx_array_push(&sc->addrs);
    if (a == NULL) {
        return NGX_ERROR;
    }

    p = ngx_pnalloc(cf->pool, NGX_SOCKADDR_STRLEN + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    a->host = p;
    p[ngx_sock_ntop(u.addrs[0].sockaddr, u.addrs[0].socklen, p,
                    NGX_SOCKADDR_STRLEN, 0)] = '\0';

    /* hiredis wants an IPv6 address without brackets */
    if (p[0] == '[') {
        a->host++;
        p[ngx_strlen(p) - 1] = '\0';
    }

    a->port = u.port;
    a->text = *value;

    return NGX_OK;
}


/* the Sentinels' own credentials, among the options from the i-th on */

static char *
ngx_kefu_sentinel_conf_auth(ngx_conf_t *cf,
    ngx_kefu_redis_sentinel_conf_t *sc, ngx_uint_t i)
{
    ngx_str_t  *value;

    value = cf->args->elts;

    for ( /* void */ ; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "sentinel_user=", 14) == 0) {
            sc->user.data = value[i].data + 14;
            sc->user.len = value[i].len - 14;
            if (sc->user.len == 0) {
                return "has an empty sentinel_user=";
            }

        } else if (ngx_strncmp(value[i].data, "sentinel_password=", 18)
                   == 0)
        {
            sc->password.data = value[i].data + 18;
            sc->password.len = value[i].len - 18;
            if (sc->password.len == 0) {
                return "has an empty sentinel_password=";
            }
        }
    }

    if (sc->user.len && sc->password.len == 0) {
        return "has sentinel_user= without sentinel_password=";
    }

    return NGX_CONF_OK;
}


/*
 * sentinel_user= and sentinel_password= (taken by
 * ngx_kefu_redis_sentinel_conf()): NGX_DECLINED for anything else.
 */

ngx_int_t
ngx_kefu_redis_sentinel_param(ngx_conf_t *cf, ngx_kefu_redis_conf_t *rc,
    ngx_str_t *value)
{
    if (ngx_strncmp(value->data, "sentinel_user=", 14) != 0
        && ngx_strncmp(value->data, "sentinel_password=", 18) != 0)
    {
        return NGX_DECLINED;
    }

    if (rc->sentinel == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"kefu_redis\" takes \"%V\" only with "
                           "\"sentinel\"", value);
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_kefu_redis_sentinel_t *
ngx_kefu_redis_sentinel_init(ngx_kefu_redis_t *rd, ngx_kefu_redis_conf_t *rc,
    ngx_log_t *log)
{
    ngx_kefu_redis_sentinel_t  *s;

    s = ngx_pcalloc(ngx_cycle->pool, sizeof(ngx_kefu_redis_sentinel_t));
    if (s == NULL) {
        return NULL;
    }

    s->rd = rd;
    s->rc = rc;
    s->sc = rc->sentinel;
    s->log = log;

    s->ask.handler = ngx_kefu_sentinel_ask_handler;
    s->ask.data = s;
    s->ask.log = log;
    s->ask.cancelable = 1;

    s->timer.handler = ngx_kefu_sentinel_timer_handler;
    s->timer.data = s;
    s->timer.log = log;
    s->timer.cancelable = 1;

    ngx_kefu_sentinel_schedule(s, 0);

    return s;
}


void
ngx_kefu_redis_sentinel_exit(ngx_kefu_redis_sentinel_t *s)
{
    s->exiting = 1;

    if (s->ask.timer_set) {
        ngx_del_timer(&s->ask);
    }

    if (s->timer.timer_set) {
        ngx_del_timer(&s->timer);
    }

    if (s->ac) {
        s->closing = 1;
        redisAsyncFree(s->ac);
    }
}


ngx_int_t
ngx_kefu_redis_sentinel_addr(ngx_kefu_redis_sentinel_t *s, const char **host,
    int *port)
{
    if (s->port == 0) {
        return NGX_DECLINED;
    }

    *host = (const char *) s->host;
    *port = s->port;

    return NGX_OK;
}


/* a link went down or found its master read-only: ask again, paced */

void
ngx_kefu_redis_sentinel_link_down(ngx_kefu_redis_sentinel_t *s,
    const char *why)
{
    ngx_msec_t  since;

    if (s->relinking || s->exiting || s->state == NGX_KEFU_SENTINEL_ASKING
        || s->ask.timer_set)
    {
        return;
    }

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, s->log, 0,
                   "kefu: redis link down (%s), asking the Sentinels", why);

    since = ngx_current_msec - s->asked;

    ngx_kefu_sentinel_schedule(s, since >= NGX_KEFU_SENTINEL_REASK
                                  ? 0 : NGX_KEFU_SENTINEL_REASK - since);
}


static void
ngx_kefu_sentinel_schedule(ngx_kefu_redis_sentinel_t *s, ngx_msec_t delay)
{
    if (s->exiting || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    if (s->ask.timer_set) {
        ngx_del_timer(&s->ask);
    }

    /* a timer, so that a connection is never freed in its own callback */
    ngx_add_timer(&s->ask, ngx_max(delay, 1));
}


static void
ngx_kefu_sentinel_ask_handler(ngx_event_t *ev)
{
    ngx_kefu_redis_sentinel_t  *s = ev->data;

    redisAsyncContext         *ac;
    ngx_connection_t          *c;
    ngx_kefu_sentinel_addr_t  *a;

    if (s->ac) {
        s->closing = 1;
        redisAsyncFree(s->ac);
        s->closing = 0;
    }

    if (s->exiting || ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    a = s->sc->addrs.elts;
    a = &a[s->current % s->sc->addrs.nelts];

    s->state = NGX_KEFU_SENTINEL_ASKING;
    s->asked = ngx_current_msec;
    s->why = NULL;

    ac = redisAsyncConnect((char *) a->host, a->port);

    if (ac == NULL || ac->err) {
        if (ac) {
            redisAsyncFree(ac);
        }

        ngx_kefu_sentinel_failed(s, "could not connect");
        return;
    }

    c = ngx_kefu_redis_ev_attach(ac, s, s->log, ngx_kefu_sentinel_cleanup);
    if (c == NULL) {
        redisAsyncFree(ac);
        ngx_kefu_sentinel_failed(s, "no free connection");
        return;
    }

    s->ac = ac;
    s->c = c;

    redisAsyncSetConnectCallback(ac, ngx_kefu_sentinel_on_connect);

    if (s->timer.timer_set) {
        ngx_del_timer(&s->timer);
    }

    /* the connect and the answer: one timeout */
    ngx_add_timer(&s->timer, s->rc->connect_timeout + s->rc->timeout);
}


/* no connection or no answer in time */

static void
ngx_kefu_sentinel_timer_handler(ngx_event_t *ev)
{
    ngx_kefu_redis_sentinel_t  *s = ev->data;

    if (s->ac == NULL || s->state != NGX_KEFU_SENTINEL_ASKING) {
        return;
    }

    /* outside hiredis: freeing here is allowed; the cleanup moves on */
    redisAsyncFree(s->ac);
}


/* this Sentinel did not answer: the next one, or after a round a pause */

static void
ngx_kefu_sentinel_failed(ngx_kefu_redis_sentinel_t *s, const char *why)
{
    ngx_kefu_sentinel_addr_t  *a;

    a = s->sc->addrs.elts;

    ngx_log_error(NGX_LOG_ERR, s->log, 0,
                  "kefu: redis Sentinel %V: %s, trying %s",
                  &a[s->current % s->sc->addrs.nelts].text, why,
                  s->sc->addrs.nelts > 1 ? "the next one" : "again");

    s->state = NGX_KEFU_SENTINEL_IDLE;
    s->current = (s->current + 1) % s->sc->addrs.nelts;

    if (++s->failed >= s->sc->addrs.nelts) {
        s->failed = 0;
        ngx_kefu_sentinel_schedule(s, NGX_KEFU_SENTINEL_ROUND);
        return;
    }

    ngx_kefu_sentinel_schedule(s, 0);
}


static void
ngx_kefu_sentinel_on_connect(const redisAsyncContext *ac, int status)
{
    ngx_kefu_redis_sentinel_t  *s = ac->data;

    size_t          lens[3];
    const char     *argv[3];
    ngx_uint_t      n;
    redisAsyncContext  *rac;

    if (status != REDIS_OK) {
        /* hiredis frees the context after this; the cleanup moves on */
        s->why = "could not connect";
        return;
    }

    rac = (redisAsyncContext *) ac;

    if (s->sc->password.len) {
        n = 0;
        argv[n] = "AUTH";
        lens[n++] = 4;

        if (s->sc->user.len) {
            argv[n] = (char *) s->sc->user.data;
            lens[n++] = s->sc->user.len;
        }

        argv[n] = (char *) s->sc->password.data;
        lens[n++] = s->sc->password.len;

        (void) redisAsyncCommandArgv(rac, ngx_kefu_sentinel_auth_reply, s,
                                     (int) n, argv, lens);
    }

    argv[0] = "SENTINEL";
    lens[0] = 8;
    argv[1] = "get-master-addr-by-name";
    lens[1] = 23;
    argv[2] = (char *) s->sc->name.data;
    lens[2] = s->sc->name.len;

    (void) redisAsyncCommandArgv(rac, ngx_kefu_sentinel_addr_reply, s, 3,
                                 argv, lens);
}


static void
ngx_kefu_sentinel_auth_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_kefu_redis_sentinel_t  *s = privdata;

    redisReply                *r = reply;
    ngx_kefu_sentinel_addr_t  *a;

    if (r && r->type == REDIS_REPLY_ERROR) {
        a = s->sc->addrs.elts;
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "kefu: redis Sentinel %V refused sentinel_password=: "
                      "%s", &a[s->current % s->sc->addrs.nelts].text,
                      r->str);
    }
}


static void
ngx_kefu_sentinel_addr_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_kefu_redis_sentinel_t  *s = privdata;

    size_t       lens[2];
    const char  *argv[2], *why;
    redisReply  *r = reply;

    if (r == NULL || s->exiting) {
        return;
    }

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
        || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[1]->type != REDIS_REPLY_STRING)
    {
        why = (r->type == REDIS_REPLY_ERROR) ? r->str
              : "it does not know the master's name";

        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "kefu: redis Sentinel answered no master \"%V\": %s",
                      &s->sc->name, why);

        s->why = "no master named";

        /* the cleanup then tries the next Sentinel */
        redisAsyncDisconnect(ac);
        return;
    }

    ngx_kefu_sentinel_master(s, (u_char *) r->element[0]->str,
                             r->element[0]->len,
                             (u_char *) r->element[1]->str,
                             r->element[1]->len, "asked");

    if (s->port == 0) {
        redisAsyncDisconnect(ac);
        return;
    }

    if (s->timer.timer_set) {
        ngx_del_timer(&s->timer);
    }

    s->state = NGX_KEFU_SENTINEL_WATCHING;
    s->failed = 0;

    argv[0] = "SUBSCRIBE";
    lens[0] = 9;
    argv[1] = "+switch-master";
    lens[1] = 14;

    (void) redisAsyncCommandArgv(ac, ngx_kefu_sentinel_sub_reply, s, 2, argv,
                                 lens);
}


/* +switch-master <name> <old-ip> <old-port> <new-ip> <new-port> */

static void
ngx_kefu_sentinel_sub_reply(redisAsyncContext *ac, void *reply,
    void *privdata)
{
    ngx_kefu_redis_sentinel_t  *s = privdata;

    u_char      *p, *last, *f[5];
    size_t       l[5];
    ngx_uint_t   i;
    redisReply  *r = reply;

    if (r == NULL || s->exiting || r->type != REDIS_REPLY_ARRAY
        || r->elements != 3 || r->element[0]->type != REDIS_REPLY_STRING
        || r->element[2]->type != REDIS_REPLY_STRING
        || r->element[0]->len != 7
        || ngx_strncmp(r->element[0]->str, "message", 7) != 0)
    {
        return;
    }

    p = (u_char *) r->element[2]->str;
    last = p + r->element[2]->len;

    for (i = 0; i < 5; i++) {
        while (p < last && *p == ' ') {
            p++;
        }

        f[i] = p;

        while (p < last && *p != ' ') {
            p++;
        }

        l[i] = p - f[i];

        if (l[i] == 0) {
            return;
        }
    }

    if (l[0] != s->sc->name.len
        || ngx_strncmp(f[0], s->sc->name.data, l[0]) != 0)
    {
        return;
    }

    ngx_kefu_sentinel_master(s, f[3], l[3], f[4], l[4], "+switch-master");
}


/* a master's address from a Sentinel: the links go there if it is new */

static void
ngx_kefu_sentinel_master(ngx_kefu_redis_sentinel_t *s, u_char *host,
    size_t hlen, u_char *port, size_t plen, const char *how)
{
    ngx_int_t   n;
    ngx_uint_t  numeric;
#if (NGX_HAVE_INET6)
    u_char      a6[16];
#endif

    n = ngx_atoi(port, plen);
    numeric = (hlen && ngx_inet_addr(host, hlen) != INADDR_NONE);

#if (NGX_HAVE_INET6)
    if (!numeric && hlen) {
        numeric = (ngx_inet6_addr(host, hlen, a6) == NGX_OK);
    }
#endif

    if (n <= 0 || n > 65535 || !numeric || hlen > NGX_SOCKADDR_STRLEN) {
        ngx_log_error(NGX_LOG_ERR, s->log, 0,
                      "kefu: redis Sentinel named master \"%V\" at \"%*s\" "
                      "port \"%*s\": not a numeric address (resolving "
                      "would block)", &s->sc->name, hlen, host, plen, port);
        return;
    }

    if (s->port == (int) n && ngx_strlen(s->host) == hlen
        && ngx_strncmp(s->host, host, hlen) == 0)
    {
        return;
    }

    ngx_log_error(NGX_LOG_NOTICE, s->log, 0,
                  "kefu: redis master \"%V\" is at %*s:%i (%s)",
                  &s->sc->name, hlen, host, n, how);

    *ngx_cpymem(s->host, host, hlen) = '\0';
    s->port = (int) n;

    s->relinking = 1;
    ngx_kefu_redis_master_changed(s->rd);
    s->relinking = 0;
}


/* hiredis on nginx's events, as the links do (ngx_kefu_redis.c) */

/*
 * hiredis frees the context: a connection we closed ourselves is just
 * forgotten; one that failed or was lost moves on to the next Sentinel.
 */

static void
ngx_kefu_sentinel_cleanup(void *privdata)
{
    ngx_uint_t                  was;
    ngx_kefu_redis_sentinel_t  *s;

    s = ngx_kefu_redis_ev_detach(privdata);

    s->c = NULL;
    s->ac = NULL;

    if (s->timer.timer_set) {
        ngx_del_timer(&s->timer);
    }

    was = s->state;
    s->state = NGX_KEFU_SENTINEL_IDLE;

    if (s->closing || s->exiting) {
        return;
    }

    ngx_kefu_sentinel_failed(s, s->why ? s->why
                                : was == NGX_KEFU_SENTINEL_WATCHING
                                ? "connection lost" : "no answer");
}
