
/*
 * Token revocation (docs/tokens.md, "Revoking tokens").
 *
 * Redis holds each site's denylist, kefu:{s:<site>}:revoked, a sorted set
 * of "j:<jti>" and "s:<sub>" scored by when the entry expires (ms): when
 * the tokens it names would have expired, bounded by
 * NGX_KEFU_REVOKE_MAX_TTL and NGX_KEFU_REVOKE_MAX entries.
 *
 * Every worker keeps a copy in its own memory (one tree per site), so a
 * hello, an API request or an upload is checked without a Redis round
 * trip.  The copy is kept by three things: an API call that adds an entry
 * publishes it on kefu:{s:<site>}:revoke, which every worker of every host
 * hears at once; each worker reads the whole list again every
 * NGX_KEFU_REVOKE_REFRESH and whenever its Redis links come back (what
 * was published while it was cut off); and each change, heard or read,
 * walks the worker's sessions and closes those that used a token it names
 * (4401 "token revoked").  The same channel carries an erasure's "close
 * this visitor's connections" (4403 "visitor erased").
 */


#include "ngx_kefu_revoke.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_ws.h"
#include "ngx_kefu_conv.h"
#include "ngx_kefu_app.h"


typedef struct {
    ngx_str_node_t               sn;          /* "j:<jti>" or "s:<sub>" */
    int64_t                      until;       /* ms */
    ngx_msec_t                   heard;       /* from a notice, when */
    unsigned                     notice:1;
} ngx_kefu_revoke_entry_t;


typedef struct {
    ngx_rbtree_t                 tree;
    ngx_rbtree_node_t            sentinel;
    ngx_uint_t                   n;
    ngx_kefu_site_t             *site;
    ngx_kefu_main_conf_t        *kmcf;
    ngx_msec_t                   sent;        /* the read in flight */
    unsigned                     loading:1;
    unsigned                     again:1;
} ngx_kefu_revoke_site_t;


typedef struct {
    ngx_event_t                  refresh;
    ngx_kefu_revoke_site_t      *sites;       /* one per kmcf->sites */
} ngx_kefu_revoke_t;


static void ngx_kefu_revoke_refresh(ngx_event_t *ev);
static void ngx_kefu_revoke_load(ngx_kefu_revoke_site_t *rs);
static void ngx_kefu_revoke_loaded(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_revoke_clear(ngx_kefu_revoke_site_t *rs);
static ngx_int_t ngx_kefu_revoke_add(ngx_kefu_revoke_site_t *rs,
    u_char *key, size_t len, int64_t until, ngx_uint_t notice);
static void ngx_kefu_revoke_forget(ngx_kefu_revoke_site_t *rs);
static ngx_kefu_revoke_entry_t *ngx_kefu_revoke_find(
    ngx_kefu_revoke_site_t *rs, u_char kind, u_char *value, size_t len);
static void ngx_kefu_revoke_sweep(ngx_kefu_revoke_site_t *rs);
static void ngx_kefu_revoke_sweep_one(ngx_kefu_ws_t *ws, void *data);
static void ngx_kefu_revoke_kick_one(ngx_kefu_ws_t *ws, void *data);
static void ngx_kefu_revoke_close(ngx_kefu_ws_t *ws);
static ngx_int_t ngx_kefu_revoke_session(ngx_kefu_revoke_site_t *rs,
    ngx_kefu_ws_t *ws);


ngx_int_t
ngx_kefu_revoke_init_process(ngx_cycle_t *cycle)
{
    ngx_str_t               channel;
    ngx_uint_t              i;
    ngx_kefu_site_t        *site;
    ngx_kefu_revoke_t      *rv;
    ngx_kefu_main_conf_t   *kmcf;
    ngx_kefu_revoke_site_t *rs;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);

    if (kmcf == NULL || kmcf->sites.nelts == 0) {
        return NGX_OK;
    }

    rv = ngx_pcalloc(cycle->pool, sizeof(ngx_kefu_revoke_t));
    if (rv == NULL) {
        return NGX_ERROR;
    }

    rv->sites = ngx_pcalloc(cycle->pool,
                            kmcf->sites.nelts * sizeof(ngx_kefu_revoke_site_t));
    if (rv->sites == NULL) {
        return NGX_ERROR;
    }

    site = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        rs = &rv->sites[i];
        ngx_rbtree_init(&rs->tree, &rs->sentinel, ngx_str_rbtree_insert_value);
        rs->site = &site[i];
        rs->kmcf = kmcf;
    }

    kmcf->revoke = rv;

    if (kmcf->redis == NULL) {
        return NGX_OK;
    }

    rv->refresh.handler = ngx_kefu_revoke_refresh;
    rv->refresh.data = kmcf;
    rv->refresh.log = cycle->log;

    /* a periodic chore: it must not hold a worker that is shutting down */
    rv->refresh.cancelable = 1;

    ngx_add_timer(&rv->refresh, NGX_KEFU_REVOKE_REFRESH);

    /* held for the worker's life, one per site (its slot) */
    for (i = 0; i < kmcf->sites.nelts; i++) {
        channel.data = ngx_pnalloc(cycle->pool, sizeof(NGX_KEFU_CH_SITE)
                                   + site[i].name.len
                                   + sizeof(NGX_KEFU_REVOKE_CHANNEL));
        if (channel.data == NULL) {
            return NGX_ERROR;
        }

        channel.len = ngx_sprintf(channel.data, NGX_KEFU_CH_SITE "%V"
                                  NGX_KEFU_REVOKE_CHANNEL, &site[i].name)
                      - channel.data;

        if (ngx_kefu_redis_subscribe(kmcf->redis, &channel) == NGX_ERROR) {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


void
ngx_kefu_revoke_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t             i;
    ngx_kefu_revoke_t     *rv;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);

    if (kmcf == NULL || kmcf->revoke == NULL) {
        return;
    }

    rv = kmcf->revoke;

    if (rv->refresh.timer_set) {
        ngx_del_timer(&rv->refresh);
    }

    for (i = 0; i < kmcf->sites.nelts; i++) {
        ngx_kefu_revoke_clear(&rv->sites[i]);
    }
}


/*
 * Either link (back) up: the list is read again, since revocations
 * published while the pub/sub link was down were not heard.
 */
const ngx_kefu_redis_consumer_t  ngx_kefu_revoke_redis_consumer = {
    ngx_kefu_revoke_ready,                 /* ready */
    ngx_kefu_revoke_ready,                 /* sub_ready */
    NULL,                                  /* sub_lost */
    NULL,                                  /* subscribed */
    ngx_kefu_revoke_published              /* message */
};


/* Redis is (back): what was published meanwhile is read */

void
ngx_kefu_revoke_ready(ngx_kefu_main_conf_t *kmcf)
{
    ngx_uint_t          i;
    ngx_kefu_revoke_t  *rv;

    rv = kmcf->revoke;

    if (rv == NULL) {
        return;
    }

    for (i = 0; i < kmcf->sites.nelts; i++) {
        ngx_kefu_revoke_load(&rv->sites[i]);
    }
}


static void
ngx_kefu_revoke_refresh(ngx_event_t *ev)
{
    ngx_kefu_main_conf_t *kmcf = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(ev, NGX_KEFU_REVOKE_REFRESH);

    if (ngx_kefu_redis_ready(kmcf->redis)) {
        ngx_kefu_revoke_ready(kmcf);
    }
}


/*
 * The site's entries not yet expired, with their expiries: what a worker
 * loads and the API lists.
 */

void
ngx_kefu_revoke_list(ngx_kefu_revoke_list_t *l, ngx_str_t *site)
{
    l->argv[0] = "ZRANGEBYSCORE";
    l->lens[0] = sizeof("ZRANGEBYSCORE") - 1;
    l->argv[1] = (char *) l->key;
    l->lens[1] = ngx_snprintf(l->key, sizeof(l->key), "kefu:{s:%V}:revoked",
                              site) - l->key;
    l->argv[2] = (char *) l->now;
    l->lens[2] = ngx_snprintf(l->now, sizeof(l->now), "(%L",
                              ngx_kefu_now_ms()) - l->now;
    l->argv[3] = "+inf";
    l->lens[3] = 4;
    l->argv[4] = "WITHSCORES";
    l->lens[4] = 10;
    l->argv[5] = "LIMIT";
    l->lens[5] = 5;
    l->argv[6] = "0";
    l->lens[6] = 1;
    l->argv[7] = (char *) l->max;
    l->lens[7] = ngx_sprintf(l->max, "%ui", (ngx_uint_t) NGX_KEFU_REVOKE_MAX)
                 - l->max;
}


static void
ngx_kefu_revoke_load(ngx_kefu_revoke_site_t *rs)
{
    ngx_kefu_revoke_list_t  list;

    if (rs->loading) {
        rs->again = 1;
        return;
    }

    ngx_kefu_revoke_list(&list, &rs->site->name);

    if (ngx_kefu_redis_command(rs->kmcf->redis, ngx_kefu_revoke_loaded, rs,
                               NGX_KEFU_REVOKE_LIST_ARGS, list.argv,
                               list.lens)
        == NGX_OK)
    {
        rs->loading = 1;
        rs->sent = ngx_current_msec;
    }
}


static void
ngx_kefu_revoke_loaded(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_revoke_site_t *rs = data;

    off_t        until;
    size_t       i;
    redisReply  *m, *s;

    rs->loading = 0;

    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY) {

        /* the list as it is now: entries lifted or expired go too */
        ngx_kefu_revoke_forget(rs);

        for (i = 0; i + 1 < reply->elements; i += 2) {
            m = reply->element[i];
            s = reply->element[i + 1];

            if (m->type != REDIS_REPLY_STRING
                || s->type != REDIS_REPLY_STRING
                || m->len < 3 || m->len > 2 + NGX_KEFU_REVOKE_JTI_MAX)
            {
                continue;
            }

            /* scores are whole ms; Redis may write them as a double */
            until = (s->len <= 18) ? ngx_atoof((u_char *) s->str, s->len)
                                   : NGX_ERROR;

            if (until == NGX_ERROR) {
                until = (off_t) strtod(s->str, NULL);
            }

            if (ngx_kefu_revoke_add(rs, (u_char *) m->str, m->len, until, 0)
                != NGX_OK)
            {
                break;
            }
        }

        ngx_kefu_revoke_sweep(rs);
    }

    if (rs->again) {
        rs->again = 0;
        ngx_kefu_revoke_load(rs);
    }
}


static void
ngx_kefu_revoke_clear(ngx_kefu_revoke_site_t *rs)
{
    ngx_rbtree_node_t  *node;

    while (rs->tree.root != rs->tree.sentinel) {
        node = ngx_rbtree_min(rs->tree.root, rs->tree.sentinel);
        ngx_rbtree_delete(&rs->tree, node);
        ngx_free(node);
    }

    rs->n = 0;
}


/*
 * Before a read of the whole list is applied: every entry goes but those
 * a notice brought since the read was sent (the read may have been
 * answered before the entry was added; a notice travels on the other
 * connection).
 */

static void
ngx_kefu_revoke_forget(ngx_kefu_revoke_site_t *rs)
{
    ngx_rbtree_node_t        *node, *next;
    ngx_kefu_revoke_entry_t  *e;

    if (rs->tree.root == rs->tree.sentinel) {
        return;
    }

    for (node = ngx_rbtree_min(rs->tree.root, rs->tree.sentinel);
         node;
         node = next)
    {
        next = ngx_rbtree_next(&rs->tree, node);
        e = (ngx_kefu_revoke_entry_t *) node;

        if (e->notice && (ngx_msec_int_t) (e->heard - rs->sent) >= 0) {
            continue;
        }

        ngx_rbtree_delete(&rs->tree, node);
        ngx_free(e);
        rs->n--;
    }
}


static ngx_int_t
ngx_kefu_revoke_add(ngx_kefu_revoke_site_t *rs, u_char *key, size_t len,
    int64_t until, ngx_uint_t notice)
{
    uint32_t                  hash;
    ngx_str_t                 name;
    ngx_kefu_revoke_entry_t  *e;

    name.data = key;
    name.len = len;
    hash = ngx_crc32_short(key, len);

    e = (ngx_kefu_revoke_entry_t *) ngx_str_rbtree_lookup(&rs->tree, &name,
                                                           hash);
    if (e) {
        if (until > e->until) {
            e->until = until;
        }

        if (notice) {
            e->notice = 1;
            e->heard = ngx_current_msec;

        } else {
            e->notice = 0;
        }

        return NGX_OK;
    }

    if (rs->n >= NGX_KEFU_REVOKE_MAX) {
        /* the next read of the whole list puts it right */
        return NGX_DECLINED;
    }

    e = ngx_alloc(sizeof(ngx_kefu_revoke_entry_t) + len, ngx_cycle->log);
    if (e == NULL) {
        return NGX_ERROR;
    }

    e->sn.str.data = (u_char *) e + sizeof(ngx_kefu_revoke_entry_t);
    e->sn.str.len = len;
    ngx_memcpy(e->sn.str.data, key, len);
    e->sn.node.key = hash;
    e->until = until;
    e->notice = notice ? 1 : 0;
    e->heard = ngx_current_msec;

    ngx_rbtree_insert(&rs->tree, &e->sn.node);
    rs->n++;

    return NGX_OK;
}


static ngx_kefu_revoke_entry_t *
ngx_kefu_revoke_find(ngx_kefu_revoke_site_t *rs, u_char kind, u_char *value,
    size_t len)
{
    u_char                    key[2 + NGX_KEFU_REVOKE_JTI_MAX];
    ngx_str_t                 name;
    ngx_kefu_revoke_entry_t  *e;

    if (len == 0 || len > NGX_KEFU_REVOKE_JTI_MAX
        || rs->tree.root == rs->tree.sentinel)
    {
        return NULL;
    }

    key[0] = kind;
    key[1] = ':';
    ngx_memcpy(key + 2, value, len);

    name.data = key;
    name.len = len + 2;

    e = (ngx_kefu_revoke_entry_t *)
            ngx_str_rbtree_lookup(&rs->tree, &name,
                                  ngx_crc32_short(key, name.len));

    if (e == NULL || e->until <= ngx_kefu_now_ms()) {
        return NULL;
    }

    return e;
}


ngx_int_t
ngx_kefu_revoke_check(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    json_t *claims, const char **err)
{
    json_t                  *v;
    ngx_kefu_revoke_t       *rv;
    ngx_kefu_revoke_site_t  *rs;

    rv = kmcf->revoke;

    if (rv == NULL) {
        return NGX_OK;
    }

    rs = &rv->sites[site - (ngx_kefu_site_t *) kmcf->sites.elts];

    v = json_object_get(claims, "jti");

    if (json_is_string(v)
        && ngx_kefu_revoke_find(rs, 'j', (u_char *) json_string_value(v),
                                json_string_length(v)))
    {
        *err = "token revoked";
        return NGX_DECLINED;
    }

    v = json_object_get(claims, "sub");

    if (json_is_string(v)
        && ngx_kefu_revoke_find(rs, 's', (u_char *) json_string_value(v),
                                json_string_length(v)))
    {
        *err = "token revoked";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * "<site> <kind> <until> <value>": kind "j" or "s" an entry added, "e" a
 * visitor erased (value: its id).
 */

void
ngx_kefu_revoke_published(ngx_kefu_main_conf_t *kmcf, ngx_str_t *channel,
    ngx_str_t *payload)
{
    u_char                  *p, *last, *sp, kind;
    off_t                    until;
    ngx_str_t                name, value, num;
    ngx_uint_t               i;
    ngx_kefu_site_t         *site;
    ngx_kefu_revoke_t       *rv;
    ngx_kefu_revoke_site_t  *rs;
    u_char                   key[2 + NGX_KEFU_REVOKE_JTI_MAX];

    rv = kmcf->revoke;

    if (rv == NULL || ngx_kefu_channel_kind(channel) != 'r') {
        return;
    }

    p = payload->data;
    last = p + payload->len;

    sp = ngx_strlchr(p, last, ' ');
    if (sp == NULL || last - sp < 4 || sp[2] != ' ') {
        goto invalid;
    }

    name.data = p;
    name.len = sp - p;
    kind = sp[1];

    num.data = sp + 3;
    sp = ngx_strlchr(num.data, last, ' ');
    if (sp == NULL) {
        goto invalid;
    }

    num.len = sp - num.data;
    value.data = sp + 1;
    value.len = last - value.data;

    if (value.len == 0 || value.len > NGX_KEFU_REVOKE_JTI_MAX) {
        goto invalid;
    }

    site = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        if (site[i].name.len == name.len
            && ngx_strncmp(site[i].name.data, name.data, name.len) == 0)
        {
            break;
        }
    }

    if (i == kmcf->sites.nelts) {
        return;
    }

    rs = &rv->sites[i];

    switch (kind) {

    case 'e':
        ngx_kefu_revoke_kick(kmcf, &site[i], kind, &value);
        return;

    case 'j':
    case 's':
        until = (num.len && num.len <= 18) ? ngx_atoof(num.data, num.len)
                                           : NGX_ERROR;
        if (until == NGX_ERROR) {
            goto invalid;
        }

        key[0] = kind;
        key[1] = ':';
        ngx_memcpy(key + 2, value.data, value.len);

        if (ngx_kefu_revoke_add(rs, key, value.len + 2, until, 1) != NGX_OK) {
            /* full or out of memory: read the whole list again */
            ngx_kefu_revoke_load(rs);
        }

        ngx_kefu_revoke_kick(kmcf, &site[i], kind, &value);
        return;

    default:
        goto invalid;
    }

invalid:

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "kefu: malformed notice on \"%V\": "
                  "\"%V\"", channel, payload);
}


/*
 * An entry the API just added through this worker: in force here at once,
 * before its notice comes back (the next request may come first).
 */

void
ngx_kefu_revoke_added(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    u_char kind, ngx_str_t *value, int64_t until)
{
    u_char                   key[2 + NGX_KEFU_REVOKE_JTI_MAX];
    ngx_kefu_revoke_t       *rv;
    ngx_kefu_revoke_site_t  *rs;

    rv = kmcf->revoke;

    if (rv == NULL || value->len == 0
        || value->len > NGX_KEFU_REVOKE_JTI_MAX)
    {
        return;
    }

    rs = &rv->sites[site - (ngx_kefu_site_t *) kmcf->sites.elts];

    key[0] = kind;
    key[1] = ':';
    ngx_memcpy(key + 2, value->data, value->len);

    if (ngx_kefu_revoke_add(rs, key, value->len + 2, until, 1) != NGX_OK) {
        ngx_kefu_revoke_load(rs);
    }

    ngx_kefu_revoke_kick(kmcf, site, kind, value);
}


/*
 * Closes this worker's sessions of the site that a notice names: "j" the
 * token's jti, "s" its sub, "e" an erased visitor.  The next node is
 * taken before a session is closed: closing may take it out of the tree.
 */

typedef struct {
    u_char                       kind;
    ngx_str_t                   *value;
} ngx_kefu_revoke_kick_t;


void
ngx_kefu_revoke_kick(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    u_char kind, ngx_str_t *value)
{
    ngx_kefu_revoke_kick_t  k;

    k.kind = kind;
    k.value = value;

    ngx_kefu_local_each(kmcf, site, ngx_kefu_revoke_kick_one, &k);
}


static void
ngx_kefu_revoke_kick_one(ngx_kefu_ws_t *ws, void *data)
{
    ngx_kefu_revoke_kick_t  *k = data;

    ngx_str_t  *have;

    /* one closing already has been told why */
    if (ws->io->close_sent) {
        return;
    }

    if (k->kind == 'e' && ws->role != NGX_KEFU_ROLE_VISITOR) {
        return;
    }

    have = (k->kind == 'j') ? &ws->jti : &ws->user_id;

    if (have->len != k->value->len
        || ngx_strncmp(have->data, k->value->data, k->value->len) != 0)
    {
        return;
    }

    if (k->kind == 'e') {
        ngx_kefu_app_error(ws, "forbidden", "visitor erased", NULL);
        ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_FORBIDDEN, "visitor erased");

    } else {
        ngx_kefu_revoke_close(ws);
    }
}


/* after a read of the whole list: every session it names is closed */

static void
ngx_kefu_revoke_sweep(ngx_kefu_revoke_site_t *rs)
{
    if (rs->n) {
        ngx_kefu_local_each(rs->kmcf, rs->site, ngx_kefu_revoke_sweep_one,
                            rs);
    }
}


static void
ngx_kefu_revoke_sweep_one(ngx_kefu_ws_t *ws, void *data)
{
    ngx_kefu_revoke_site_t  *rs = data;

    if (!ws->io->close_sent && ngx_kefu_revoke_session(rs, ws)) {
        ngx_kefu_revoke_close(ws);
    }
}


static void
ngx_kefu_revoke_close(ngx_kefu_ws_t *ws)
{
    ngx_kefu_app_error(ws, "unauthorized", "token revoked", NULL);
    ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_UNAUTHORIZED, "token revoked");
}


static ngx_int_t
ngx_kefu_revoke_session(ngx_kefu_revoke_site_t *rs, ngx_kefu_ws_t *ws)
{
    return (ws->jti.len
            && ngx_kefu_revoke_find(rs, 'j', ws->jti.data, ws->jti.len))
           || ngx_kefu_revoke_find(rs, 's', ws->user_id.data,
                                   ws->user_id.len);
}
