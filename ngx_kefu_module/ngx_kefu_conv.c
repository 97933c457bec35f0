
/*
 * Delivery on one worker (docs/storage.md).
 *
 * A "channel" here is a Redis pub/sub channel that connections of this
 * worker listen to: a conversation's (kefu:{c:<conv>}, sequenced entries)
 * or a participant's own (kefu:{s:<site>}:u:<who>, notices such as a new
 * conversation).  The worker subscribes once per channel, on its first
 * member, and unsubscribes after its last.
 *
 * Every member of a conversation channel has "delivered", the last seq it
 * got.  Entries are handed over strictly in seq order: a gap, a new member
 * or a Redis reconnect puts the member in catch-up, which reads the log from
 * delivered + 1 and ignores live traffic until it is level again.
 *
 * A catch-up never stops silently: a read that fails (timeout, NOSCRIPT
 * twice, BUSY, OOM, the cap of commands in flight) is tried again with a
 * capped exponential backoff, by one timer of the worker.  And it paces
 * itself to the client: a batch stops where the connection's send queue
 * reaches half of kefu_max_send_queue, and the next read waits until the
 * queue has drained to a quarter (ngx_kefu_conv_drained()), so a long
 * conversation joined never makes a healthy client a slow consumer.
 *
 * Asynchronous replies find their connection by session id, never by
 * pointer: a connection that left while its read was in flight is simply
 * not found.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_chat.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_zone.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_attach.h"


#define NGX_KEFU_CATCHUP_BATCH  200

/* closed conversations a connection stays in (an agent's day of them) */
#define NGX_KEFU_CLOSED_KEEP    16

#define NGX_KEFU_CATCHUP_BACKOFF_MIN  100
#define NGX_KEFU_CATCHUP_BACKOFF_MAX  5000

/* a frame's header, at most, ahead of its payload */
#define NGX_KEFU_FRAME_HEADER_MAX     10


typedef struct {
    uint64_t                     sid;
    size_t                       len;
    u_char                       channel[];
} ngx_kefu_catchup_t;


static void ngx_kefu_conv_welcome_due(ngx_kefu_main_conf_t *kmcf,
    ngx_str_t *channel);
static void ngx_kefu_conv_free(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_conv_t *conv);
static ngx_kefu_conv_t *ngx_kefu_conv_lookup(ngx_kefu_local_t *local,
    ngx_str_t *channel);
static void ngx_kefu_conv_catchup(ngx_kefu_member_t *m);
static void ngx_kefu_conv_catchup_due(ngx_kefu_conv_t *conv);
static void ngx_kefu_conv_walk(ngx_kefu_main_conf_t *kmcf,
    void (*visit)(ngx_kefu_conv_t *conv));
static void ngx_kefu_conv_retry_one(ngx_kefu_conv_t *conv);
static void ngx_kefu_conv_resync_one(ngx_kefu_conv_t *conv);
static void ngx_kefu_conv_catchup_handler(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_conv_catchup_later(ngx_kefu_member_t *m);
static ngx_int_t ngx_kefu_conv_catchup_deliver(ngx_kefu_ws_t *ws,
    ngx_kefu_member_t *m, redisReply *reply, size_t *done);
static void ngx_kefu_conv_retry_handler(ngx_event_t *ev);
static ngx_uint_t ngx_kefu_conv_room(ngx_kefu_ws_t *ws, size_t len);
static void ngx_kefu_conv_deliver(ngx_kefu_member_t *m, uint64_t seq,
    u_char flag, ngx_str_t *session, ngx_str_t *json, ngx_uint_t live);
static ngx_int_t ngx_kefu_own_session(ngx_kefu_ws_t *ws, ngx_str_t *sid);
static void ngx_kefu_user_notice(ngx_kefu_member_t *m, ngx_str_t *json);
static void ngx_kefu_user_leave(ngx_kefu_member_t *m, ngx_str_t *json);
static json_t *ngx_kefu_user_notice_conv(ngx_str_t *json, ngx_str_t *conv);


ngx_int_t
ngx_kefu_local_init(ngx_cycle_t *cycle)
{
    ngx_kefu_local_t      *local;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);
    if (kmcf == NULL) {
        return NGX_OK;
    }

    local = ngx_pcalloc(cycle->pool, sizeof(ngx_kefu_local_t));
    if (local == NULL) {
        return NGX_ERROR;
    }

    ngx_rbtree_init(&local->convs, &local->convs_sentinel,
                    ngx_str_rbtree_insert_value);
    ngx_rbtree_init(&local->sessions, &local->sessions_sentinel,
                    ngx_rbtree_insert_value);

    ngx_queue_init(&local->retries);

    local->retry.handler = ngx_kefu_conv_retry_handler;
    local->retry.data = kmcf;
    local->retry.log = cycle->log;
    local->retry.cancelable = 1;

    kmcf->local = local;

    return NGX_OK;
}


void
ngx_kefu_local_register(ngx_kefu_ws_t *ws)
{
    ngx_kefu_local_t  *local;

    local = ws->main_conf->local;

    ngx_queue_init(&ws->members);

    ws->session_node.key = (ngx_rbtree_key_t) ws->session_id;
    ngx_rbtree_insert(&local->sessions, &ws->session_node);
    ws->in_local = 1;
}


void
ngx_kefu_local_unregister(ngx_kefu_ws_t *ws)
{
    ngx_queue_t        *q;
    ngx_kefu_member_t  *m;

    while (!ngx_queue_empty(&ws->members)) {
        q = ngx_queue_head(&ws->members);
        m = ngx_queue_data(q, ngx_kefu_member_t, in_ws);
        ngx_kefu_conv_leave(m);
    }

    ngx_rbtree_delete(&ws->main_conf->local->sessions, &ws->session_node);
}


ngx_kefu_ws_t *
ngx_kefu_local_session(ngx_kefu_main_conf_t *kmcf, uint64_t sid)
{
    ngx_rbtree_key_t    key;
    ngx_rbtree_node_t  *node, *sentinel;

    key = (ngx_rbtree_key_t) sid;

    node = kmcf->local->sessions.root;
    sentinel = kmcf->local->sessions.sentinel;

    while (node != sentinel) {

        if (key == node->key) {
            return (ngx_kefu_ws_t *)
                       ((u_char *) node - offsetof(ngx_kefu_ws_t,
                                                   session_node));
        }

        node = (key < node->key) ? node->left : node->right;
    }

    return NULL;
}


/*
 * Each of this worker's sessions of a site in turn.  The next is taken
 * before one is handed over: handling it may close it, which takes it out
 * of the index.
 */

void
ngx_kefu_local_each(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_kefu_local_each_pt handler, void *data)
{
    ngx_kefu_ws_t      *ws;
    ngx_rbtree_node_t  *node, *next, *root, *sentinel;

    if (kmcf->local == NULL) {
        return;
    }

    root = kmcf->local->sessions.root;
    sentinel = kmcf->local->sessions.sentinel;

    if (root == sentinel) {
        return;
    }

    for (node = ngx_rbtree_min(root, sentinel); node; node = next) {
        next = ngx_rbtree_next(&kmcf->local->sessions, node);

        ws = (ngx_kefu_ws_t *) ((u_char *) node
                                - offsetof(ngx_kefu_ws_t, session_node));

        if (ws->site == site) {
            handler(ws, data);
        }
    }
}


ngx_kefu_member_t *
ngx_kefu_conv_join(ngx_kefu_ws_t *ws, ngx_str_t *conv, uint64_t delivered)
{
    u_char     buf[NGX_KEFU_CH_CONV_MAX];
    ngx_str_t  channel;

    if (conv->len > NGX_KEFU_MAX_ID_LEN) {
        return NULL;
    }

    channel.data = buf;
    channel.len = ngx_cpymem(ngx_cpymem(buf, NGX_KEFU_CH_CONV,
                                        NGX_KEFU_CH_CONV_LEN),
                             conv->data, conv->len)
                  - buf;
    buf[channel.len++] = '}';

    return ngx_kefu_channel_join(ws, &channel, delivered);
}


ngx_int_t
ngx_kefu_channel_conv(ngx_str_t *channel, ngx_str_t *conv)
{
    if (channel->len <= NGX_KEFU_CH_CONV_LEN + 1
        || ngx_strncmp(channel->data, NGX_KEFU_CH_CONV, NGX_KEFU_CH_CONV_LEN)
           != 0
        || channel->data[channel->len - 1] != '}')
    {
        return NGX_DECLINED;
    }

    conv->data = channel->data + NGX_KEFU_CH_CONV_LEN;
    conv->len = channel->len - NGX_KEFU_CH_CONV_LEN - 1;

    return NGX_OK;
}


ngx_int_t
ngx_kefu_channel_site(ngx_str_t *channel, ngx_str_t *site)
{
    u_char  *p, *last;

    if (channel->len <= NGX_KEFU_CH_SITE_LEN
        || ngx_strncmp(channel->data, NGX_KEFU_CH_SITE, NGX_KEFU_CH_SITE_LEN)
           != 0)
    {
        return NGX_DECLINED;
    }

    p = channel->data + NGX_KEFU_CH_SITE_LEN;
    last = channel->data + channel->len;

    /* a site's name holds no '}' (kefu_site) */
    site->data = p;

    while (p < last && *p != '}') {
        p++;
    }

    if (p == last || p == site->data) {
        return NGX_DECLINED;
    }

    site->len = p - site->data;

    return NGX_OK;
}


ngx_uint_t
ngx_kefu_channel_kind(ngx_str_t *channel)
{
    u_char     *p;
    ngx_str_t   x;

    if (ngx_kefu_channel_conv(channel, &x) == NGX_OK) {
        return 'c';
    }

    if (ngx_kefu_channel_site(channel, &x) != NGX_OK) {
        return 0;
    }

    /* "}:" and the kind's letter after the site */
    p = x.data + x.len;

    if (channel->data + channel->len - p < 3 || p[1] != ':') {
        return 0;
    }

    switch (p[2]) {
    case 'u':
    case 'g':
    case 'p':
    case 's':
    case 'r':
        return p[2];
    }

    return 0;
}


ngx_kefu_member_t *
ngx_kefu_conv_member(ngx_kefu_ws_t *ws, ngx_str_t *conv)
{
    ngx_str_t           id;
    ngx_queue_t        *q;
    ngx_kefu_member_t  *m;

    /* a connection is in few conversations: a walk is cheapest */

    for (q = ngx_queue_head(&ws->members);
         q != ngx_queue_sentinel(&ws->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_kefu_member_t, in_ws);

        if (ngx_kefu_channel_conv(&m->conv->channel, &id) == NGX_OK
            && id.len == conv->len
            && ngx_strncmp(id.data, conv->data, conv->len) == 0)
        {
            return m;
        }
    }

    return NULL;
}


ngx_kefu_member_t *
ngx_kefu_channel_join(ngx_kefu_ws_t *ws, ngx_str_t *channel,
    uint64_t delivered)
{
    ngx_kefu_conv_t    *conv;
    ngx_kefu_local_t   *local;
    ngx_kefu_member_t  *m;

    local = ws->main_conf->local;

    conv = ngx_kefu_conv_lookup(local, channel);

    if (conv == NULL) {
        conv = ngx_alloc(sizeof(ngx_kefu_conv_t) + channel->len,
                         ws->connection->log);
        if (conv == NULL) {
            return NULL;
        }

        ngx_memzero(conv, sizeof(ngx_kefu_conv_t));
        ngx_memcpy(conv->data, channel->data, channel->len);

        conv->channel.data = conv->data;
        conv->channel.len = channel->len;
        conv->sn.str = conv->channel;
        conv->sn.node.key = ngx_crc32_short(conv->data, channel->len);

        ngx_queue_init(&conv->members);
        ngx_rbtree_insert(&local->convs, &conv->sn.node);

        ngx_kefu_zone_subscriptions(ws->main_conf->zone, 1);

        /* members catch up once Redis confirms the subscription */
        if (ngx_kefu_redis_subscribe(ws->main_conf->redis, &conv->channel)
            == NGX_ERROR)
        {
            ngx_kefu_conv_free(ws->main_conf, conv);
            return NULL;
        }
    }

    m = ngx_alloc(sizeof(ngx_kefu_member_t), ws->connection->log);
    if (m == NULL) {
        if (ngx_queue_empty(&conv->members)) {
            (void) ngx_kefu_redis_unsubscribe(ws->main_conf->redis,
                                              &conv->channel);
            ngx_kefu_conv_free(ws->main_conf, conv);
        }

        return NULL;
    }

    ngx_memzero(m, sizeof(ngx_kefu_member_t));

    m->conv = conv;
    m->ws = ws;
    m->delivered = delivered;
    m->typing = NULL;

    /* only conversations have a log to catch up from */
    m->catching_up = (ngx_kefu_channel_kind(channel) == 'c');

    ngx_queue_insert_tail(&conv->members, &m->in_conv);
    ngx_queue_insert_tail(&ws->members, &m->in_ws);

    if (conv->subscribed && m->catching_up) {
        ngx_kefu_conv_catchup(m);
    }

    return m;
}


void
ngx_kefu_conv_leave(ngx_kefu_member_t *m)
{
    ngx_kefu_conv_t       *conv;
    ngx_kefu_main_conf_t  *kmcf;

    conv = m->conv;
    kmcf = m->ws->main_conf;

    /* peers must not see this one typing forever */
    ngx_kefu_typing_stop(m);

    if (m->retrying) {
        ngx_queue_remove(&m->in_retry);
    }

    ngx_queue_remove(&m->in_conv);
    ngx_queue_remove(&m->in_ws);
    ngx_free(m);

    if (!ngx_queue_empty(&conv->members)) {
        return;
    }

    (void) ngx_kefu_redis_unsubscribe(kmcf->redis, &conv->channel);
    ngx_kefu_conv_free(kmcf, conv);
}


/*
 * A "conv" notice or result with state "closed": the member is marked,
 * and beyond NGX_KEFU_CLOSED_KEEP closed ones the oldest are left, so that
 * an agent's connection open all day does not stay subscribed to every
 * conversation it ever closed.  The latest closed stay for what follows a
 * close (the rating, a look back); older ones are read with "history".
 */

void
ngx_kefu_conv_closed(ngx_kefu_ws_t *ws, json_t *notice)
{
    json_t             *c, *st;
    ngx_str_t           conv;
    ngx_uint_t          n;
    ngx_queue_t        *q, *next;
    ngx_kefu_member_t  *m;

    c = json_object_get(notice, "conv");
    st = json_object_get(notice, "state");

    if (!json_is_string(c) || !json_is_string(st)
        || ngx_strcmp(json_string_value(st), "closed") != 0)
    {
        return;
    }

    conv.data = (u_char *) json_string_value(c);
    conv.len = json_string_length(c);

    m = ngx_kefu_conv_member(ws, &conv);

    if (m == NULL || m->closed) {
        return;
    }

    m->closed = 1;

    n = 0;

    for (q = ngx_queue_head(&ws->members);
         q != ngx_queue_sentinel(&ws->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_kefu_member_t, in_ws);
        n += m->closed;
    }

    /* members are in the order joined: the oldest closed go first */

    for (q = ngx_queue_head(&ws->members);
         n > NGX_KEFU_CLOSED_KEEP && q != ngx_queue_sentinel(&ws->members);
         q = next)
    {
        next = ngx_queue_next(q);
        m = ngx_queue_data(q, ngx_kefu_member_t, in_ws);

        if (m->closed) {
            ngx_kefu_conv_leave(m);
            n--;
        }
    }
}


static void
ngx_kefu_conv_free(ngx_kefu_main_conf_t *kmcf, ngx_kefu_conv_t *conv)
{
    ngx_kefu_zone_subscriptions(kmcf->zone, -1);

    ngx_rbtree_delete(&kmcf->local->convs, &conv->sn.node);
    ngx_free(conv);
}


static ngx_kefu_conv_t *
ngx_kefu_conv_lookup(ngx_kefu_local_t *local, ngx_str_t *channel)
{
    ngx_str_node_t  *sn;

    sn = ngx_str_rbtree_lookup(&local->convs, channel,
                               ngx_crc32_short(channel->data, channel->len));

    return (ngx_kefu_conv_t *) sn;
}


/*
 * One payload from Redis: "<session>|<flag>|<seq>|<json>", flag 0 (entry),
 * 1 (private note), t (transient: typing, read), a (transient, not for
 * visitors), u (a participant notice).
 */

void
ngx_kefu_conv_published(ngx_kefu_main_conf_t *kmcf, ngx_str_t *channel,
    ngx_str_t *payload)
{
    u_char             *p, *last, flag;
    uint64_t            seq;
    ngx_str_t           session, json;
    ngx_queue_t        *q, *next;
    ngx_kefu_conv_t    *conv;
    ngx_kefu_member_t  *m;

    conv = ngx_kefu_conv_lookup(kmcf->local, channel);
    if (conv == NULL) {
        return;
    }

    p = payload->data;
    last = p + payload->len;

    session.data = p;
    p = ngx_strlchr(p, last, '|');

    if (p == NULL || last - p < 5 || p[2] != '|') {
        goto invalid;
    }

    session.len = p - session.data;
    flag = p[1];
    p += 3;

    for (seq = 0; p < last && *p >= '0' && *p <= '9'; p++) {
        seq = seq * 10 + (*p - '0');
    }

    if (p == last || *p != '|') {
        goto invalid;
    }

    json.data = p + 1;
    json.len = last - json.data;

    if (seq > conv->max_seen) {
        conv->max_seen = seq;
    }

    for (q = ngx_queue_head(&conv->members);
         q != ngx_queue_sentinel(&conv->members);
         q = next)
    {
        /* a user notice may make the member join and leave channels */
        next = ngx_queue_next(q);
        m = ngx_queue_data(q, ngx_kefu_member_t, in_conv);

        switch (flag) {

        case 't':
            if (ngx_kefu_own_session(m->ws, &session) != NGX_OK) {
                (void) ngx_kefu_ws_send_text(m->ws, json.data, json.len);
            }

            break;

        case 'a':
            /* transient, for agents and admins only (a rule's labels) */
            if (m->ws->role != NGX_KEFU_ROLE_VISITOR) {
                (void) ngx_kefu_ws_send_text(m->ws, json.data, json.len);
            }

            break;

        case 'u':
            /* a connection told by its own command's reply is not told twice */
            if (ngx_kefu_own_session(m->ws, &session) != NGX_OK) {
                ngx_kefu_user_notice(m, &json);
            }
            break;

        case 'l':
            /* a notice that the conversation is no longer the member's */
            if (ngx_kefu_own_session(m->ws, &session) != NGX_OK) {
                ngx_kefu_user_leave(m, &json);
            }
            break;

        default:
            if (!m->catching_up) {
                ngx_kefu_conv_deliver(m, seq, flag, &session, &json, 1);
            }
        }
    }

    return;

invalid:

    ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                  "kefu: malformed payload on \"%V\"", channel);
}


/*
 * Hands one log entry to a member.  Live entries must follow on from what
 * was delivered; from the log (catch-up) an entry may also skip ahead,
 * where retention trimmed the log.
 */

static void
ngx_kefu_conv_deliver(ngx_kefu_member_t *m, uint64_t seq, u_char flag,
    ngx_str_t *session, ngx_str_t *json, ngx_uint_t live)
{
    if (seq <= m->delivered) {
        return;
    }

    if (live && seq != m->delivered + 1) {
        ngx_log_debug3(NGX_LOG_DEBUG_HTTP, m->ws->connection->log, 0,
                       "kefu: gap on \"%V\": %uL after %uL",
                       &m->conv->channel, seq, m->delivered);

        m->catching_up = 1;
        ngx_kefu_conv_catchup(m);
        return;
    }

    m->delivered = seq;

    /* visitors never see private notes; a sender got its message as ack */

    if (flag == '1' && m->ws->role == NGX_KEFU_ROLE_VISITOR) {
        return;
    }

    if (ngx_kefu_own_session(m->ws, session) == NGX_OK) {
        return;
    }

    ngx_kefu_conv_send_entry(m->ws, json->data, json->len);
}


/* an entry as its reader gets it: attachments with a fresh link */

void
ngx_kefu_conv_send_entry(ngx_kefu_ws_t *ws, u_char *json, size_t len)
{
    u_char  *linked;
    size_t   n;

    linked = ngx_kefu_attach_links(ws->main_conf, ws->site, json, len, &n);

    if (linked == NULL) {
        (void) ngx_kefu_ws_send_text(ws, json, len);
        return;
    }

    (void) ngx_kefu_ws_send_text(ws, linked, n);
    free(linked);
}


static void
ngx_kefu_conv_catchup(ngx_kefu_member_t *m)
{
    ngx_kefu_ws_t      *ws;
    ngx_str_t           conv;
    ngx_kefu_call_t     call;
    ngx_kefu_catchup_t *cu;

    ws = m->ws;

    if (m->reading) {
        /* the read in flight goes on from where it ends */
        return;
    }

    if (m->retrying) {
        ngx_queue_remove(&m->in_retry);
        m->retrying = 0;
    }

    if (ws->io->out_bytes > ws->conf->max_send_queue / 2) {
        /* the client has enough to read: ngx_kefu_conv_drained() resumes */
        if (!m->paced) {
            m->paced = 1;
            ngx_kefu_stat_inc(ws->main_conf, catchup_paused);
        }

        ws->io->drained = ngx_kefu_conv_drained;
        return;
    }

    m->paced = 0;

    cu = ngx_alloc(sizeof(ngx_kefu_catchup_t) + m->conv->channel.len,
                   ws->connection->log);
    if (cu == NULL) {
        ngx_kefu_conv_catchup_later(m);
        return;
    }

    cu->sid = ws->session_id;
    cu->len = m->conv->channel.len;
    ngx_memcpy(cu->channel, m->conv->channel.data, cu->len);

    /* a member catching up is in a conversation's channel */
    conv.data = cu->channel + NGX_KEFU_CH_CONV_LEN;
    conv.len = cu->len - NGX_KEFU_CH_CONV_LEN - 1;

    if (ngx_kefu_range_args(&call, &conv, m->delivered + 1,
                            m->batch ? m->batch : NGX_KEFU_CATCHUP_BATCH)
        != NGX_OK
        || ngx_kefu_redis_eval_call(ws->main_conf->redis,
                                    &ngx_kefu_script_range,
                                    ngx_kefu_conv_catchup_handler, cu, &call)
           != NGX_OK)
    {
        /* Redis down, or busy: tried again later (and on a reconnect) */
        ngx_free(cu);
        ngx_kefu_conv_catchup_later(m);
        return;
    }

    m->reading = 1;
}


static void
ngx_kefu_conv_catchup_handler(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_catchup_t  *cu = data;

    size_t                 i, n;
    ngx_int_t              rc;
    ngx_str_t              conv;
    ngx_kefu_ws_t         *ws;
    ngx_kefu_member_t     *m;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_kefu_redis_main_conf(rd);

    ws = ngx_kefu_local_session(kmcf, cu->sid);

    /* a member catching up is in a conversation's channel */
    conv.data = cu->channel + NGX_KEFU_CH_CONV_LEN;
    conv.len = cu->len - NGX_KEFU_CH_CONV_LEN - 1;

    m = ws ? ngx_kefu_conv_member(ws, &conv) : NULL;

    ngx_free(cu);

    if (m == NULL) {
        /* gone meanwhile */
        return;
    }

    /* conv pointed into cu: the member's own copy from here on */
    conv.data = m->conv->channel.data + NGX_KEFU_CH_CONV_LEN;
    conv.len = m->conv->channel.len - NGX_KEFU_CH_CONV_LEN - 1;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements % 4)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                          "kefu: catch-up of \"%V\" failed: %s, retrying",
                          &conv, reply->str);
        }

        m->reading = 0;
        ngx_kefu_conv_catchup_later(m);
        return;
    }

    /* still "reading" while the batch goes out: a flush that drains the
     * queue meanwhile must not start a second read */

    n = reply->elements / 4;
    rc = ngx_kefu_conv_catchup_deliver(ws, m, reply, &i);

    m->reading = 0;

    if (rc == NGX_DONE) {
        return;
    }

    m->backoff = 0;

    if (rc == NGX_AGAIN) {
        /*
         * The rest once the client has read (ngx_kefu_conv_drained()); the
         * next reads ask for about what fits, not for a batch mostly
         * thrown away.
         */
        m->batch = ngx_max(i, 8);
        m->paced = 1;
        ws->io->drained = ngx_kefu_conv_drained;
        ngx_kefu_stat_inc(kmcf, catchup_paused);
        return;
    }

    if (n == 0 && m->conv->max_seen > m->delivered) {
        /* published, yet not in the log: read again in a moment, not in
         * a tight loop */
        ngx_kefu_conv_catchup_later(m);
        return;
    }

    if (n == (m->batch ? m->batch : NGX_KEFU_CATCHUP_BATCH)
        || m->conv->max_seen > m->delivered)
    {
        if (m->batch) {
            m->batch = ngx_min(2 * m->batch, NGX_KEFU_CATCHUP_BATCH);
        }

        ngx_kefu_conv_catchup(m);
        return;
    }

    /* level, unless pub/sub was lost meanwhile: then its resubscription
     * reads on (ngx_kefu_conv_subscribed()) */
    if (m->conv->subscribed) {
        m->catching_up = 0;
    }
}


/*
 * A batch read (seq, kind, session, JSON each) to the client, while its
 * queue has room for what it has not had: NGX_OK, all of it; NGX_AGAIN,
 * the queue full after *done entries; NGX_DONE, the connection failed.
 */

static ngx_int_t
ngx_kefu_conv_catchup_deliver(ngx_kefu_ws_t *ws, ngx_kefu_member_t *m,
    redisReply *reply, size_t *done)
{
    size_t        i, n;
    uint64_t      seq;
    ngx_str_t     session, json;
    redisReply  **e;

    e = reply->element;
    n = reply->elements / 4;

    for (i = 0; i < n; i++) {
        seq = (e[4 * i]->type == REDIS_REPLY_INTEGER)
              ? (uint64_t) e[4 * i]->integer : 0;
        session.data = (u_char *) e[4 * i + 2]->str;
        session.len = e[4 * i + 2]->len;
        json.data = (u_char *) e[4 * i + 3]->str;
        json.len = e[4 * i + 3]->len;

        if (seq > m->delivered && !ngx_kefu_conv_room(ws, json.len)) {
            /* the rest is read again once the client has caught up */
            *done = i;
            return NGX_AGAIN;
        }

        ngx_kefu_conv_deliver(m, seq, e[4 * i + 1]->str[0], &session, &json,
                              0);

        if (ws->io->failed || ws->io->close_sent || ws->io->write_failed) {
            *done = i;
            return NGX_DONE;
        }
    }

    *done = n;

    return NGX_OK;
}


/* whether an entry of len bytes fits under the catch-up's mark */

static ngx_uint_t
ngx_kefu_conv_room(ngx_kefu_ws_t *ws, size_t len)
{
    /* an empty queue takes any entry: entries are below the queue's size */
    if (ws->io->out_bytes == 0) {
        return 1;
    }

    return ws->io->out_bytes + len + NGX_KEFU_FRAME_HEADER_MAX
           <= ws->conf->max_send_queue / 2;
}


/*
 * The connection's send queue drained below a quarter of its size (the
 * transport calls ws->io->drained once): the members that paused their
 * catch-up read on.
 */

void
ngx_kefu_conv_drained(ngx_kefu_ws_t *ws)
{
    ngx_queue_t        *q, *next;
    ngx_kefu_member_t  *m;

    if (!ws->in_local) {
        return;
    }

    for (q = ngx_queue_head(&ws->members);
         q != ngx_queue_sentinel(&ws->members);
         q = next)
    {
        next = ngx_queue_next(q);
        m = ngx_queue_data(q, ngx_kefu_member_t, in_ws);

        if (m->paced) {
            ngx_kefu_conv_catchup(m);
        }
    }
}


/* a failed catch-up read: again after a backoff, 100 ms doubling to 5 s */

static void
ngx_kefu_conv_catchup_later(ngx_kefu_member_t *m)
{
    ngx_event_t       *ev;
    ngx_kefu_local_t  *local;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        /* the worker is going: its connections are being closed */
        return;
    }

    local = m->ws->main_conf->local;
    ev = &local->retry;

    ngx_kefu_stat_inc(m->ws->main_conf, catchup_retries);

    m->backoff = m->backoff ? ngx_min(m->backoff * 2,
                                      NGX_KEFU_CATCHUP_BACKOFF_MAX)
                            : NGX_KEFU_CATCHUP_BACKOFF_MIN;
    m->retry_at = ngx_current_msec + m->backoff;

    if (!m->retrying) {
        ngx_queue_insert_tail(&local->retries, &m->in_retry);
        m->retrying = 1;
    }

    if (!ev->timer_set
        || (ngx_msec_int_t) (ev->timer.key - m->retry_at) > 0)
    {
        ngx_add_timer(ev, m->backoff);
    }
}


static void
ngx_kefu_conv_retry_handler(ngx_event_t *ev)
{
    ngx_queue_t            due, *q;
    ngx_msec_int_t         left, next;
    ngx_kefu_local_t      *local;
    ngx_kefu_member_t     *m;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ev->data;
    local = kmcf->local;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    /* the due ones first move aside: a retry may queue itself again */
    ngx_queue_init(&due);
    next = -1;

    q = ngx_queue_head(&local->retries);

    while (q != ngx_queue_sentinel(&local->retries)) {
        m = ngx_queue_data(q, ngx_kefu_member_t, in_retry);
        q = ngx_queue_next(q);

        left = (ngx_msec_int_t) (m->retry_at - ngx_current_msec);

        if (left <= 0) {
            ngx_queue_remove(&m->in_retry);
            ngx_queue_insert_tail(&due, &m->in_retry);
            continue;
        }

        if (next < 0 || left < next) {
            next = left;
        }
    }

    if (next >= 0) {
        ngx_add_timer(ev, (ngx_msec_t) next);
    }

    while (!ngx_queue_empty(&due)) {
        q = ngx_queue_head(&due);
        m = ngx_queue_data(q, ngx_kefu_member_t, in_retry);

        ngx_queue_remove(q);
        m->retrying = 0;

        ngx_kefu_conv_catchup(m);
    }
}


/* Redis confirmed a subscription: its members may catch up now */

void
ngx_kefu_conv_subscribed(ngx_kefu_main_conf_t *kmcf, ngx_str_t *channel)
{
    ngx_kefu_conv_t  *conv;

    conv = ngx_kefu_conv_lookup(kmcf->local, channel);
    if (conv == NULL) {
        return;
    }

    conv->subscribed = 1;
    ngx_kefu_conv_catchup_due(conv);

    /* a participant's channel: connections waiting for it say welcome */
    if (ngx_kefu_channel_kind(channel) == 'u') {
        ngx_kefu_conv_welcome_due(kmcf, channel);
    }
}


static void
ngx_kefu_conv_welcome_due(ngx_kefu_main_conf_t *kmcf, ngx_str_t *channel)
{
    ngx_queue_t             *q;
    ngx_kefu_conv_t         *conv;
    ngx_kefu_member_t       *m;
    ngx_kefu_ws_handler_pt   h;

again:

    /* a failed hello leaves its channels: look the channel up each time */
    conv = ngx_kefu_conv_lookup(kmcf->local, channel);
    if (conv == NULL) {
        return;
    }

    for (q = ngx_queue_head(&conv->members);
         q != ngx_queue_sentinel(&conv->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_kefu_member_t, in_conv);

        if (m->ws->subscribed) {
            h = m->ws->subscribed;
            m->ws->subscribed = NULL;
            h(m->ws);
            goto again;
        }
    }
}


/*
 * The command connection is ready (again): catch-ups that could not be
 * sent while it was down are sent now, for subscribed conversations (the
 * others catch up when their subscription is confirmed).
 */

const ngx_kefu_redis_consumer_t  ngx_kefu_conv_redis_consumer = {
    ngx_kefu_conv_retry,                   /* ready */
    NULL,                                  /* sub_ready */
    ngx_kefu_conv_resync,                  /* sub_lost */
    ngx_kefu_conv_subscribed,              /* subscribed */
    ngx_kefu_conv_published                /* message */
};


void
ngx_kefu_conv_retry(ngx_kefu_main_conf_t *kmcf)
{
    ngx_kefu_conv_walk(kmcf, ngx_kefu_conv_retry_one);
}


/*
 * Redis went away and came back: what was published meanwhile is lost to
 * pub/sub, so every member reads the log again once resubscribed.
 */

void
ngx_kefu_conv_resync(ngx_kefu_main_conf_t *kmcf)
{
    ngx_kefu_conv_walk(kmcf, ngx_kefu_conv_resync_one);
}


static void
ngx_kefu_conv_walk(ngx_kefu_main_conf_t *kmcf,
    void (*visit)(ngx_kefu_conv_t *conv))
{
    ngx_rbtree_node_t  *node, *root, *sentinel;

    if (kmcf->local == NULL) {
        return;
    }

    sentinel = kmcf->local->convs.sentinel;
    root = kmcf->local->convs.root;

    if (root == sentinel) {
        return;
    }

    /* visits send commands at most: the tree does not change under us */
    for (node = ngx_rbtree_min(root, sentinel);
         node;
         node = ngx_rbtree_next(&kmcf->local->convs, node))
    {
        visit((ngx_kefu_conv_t *) node);
    }
}


static void
ngx_kefu_conv_retry_one(ngx_kefu_conv_t *conv)
{
    if (conv->subscribed) {
        ngx_kefu_conv_catchup_due(conv);
    }
}


static void
ngx_kefu_conv_resync_one(ngx_kefu_conv_t *conv)
{
    ngx_queue_t        *q;
    ngx_kefu_member_t  *m;

    conv->subscribed = 0;

    for (q = ngx_queue_head(&conv->members);
         q != ngx_queue_sentinel(&conv->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_kefu_member_t, in_conv);
        m->catching_up = (ngx_kefu_channel_kind(&conv->channel) == 'c');
    }
}


static void
ngx_kefu_conv_catchup_due(ngx_kefu_conv_t *conv)
{
    ngx_queue_t        *q;
    ngx_kefu_member_t  *m;

    for (q = ngx_queue_head(&conv->members);
         q != ngx_queue_sentinel(&conv->members);
         q = ngx_queue_next(q))
    {
        m = ngx_queue_data(q, ngx_kefu_member_t, in_conv);

        if (m->catching_up) {
            ngx_kefu_conv_catchup(m);
        }
    }
}


static ngx_int_t
ngx_kefu_own_session(ngx_kefu_ws_t *ws, ngx_str_t *sid)
{
    u_char  buf[16];

    if (sid->len != 16) {
        return NGX_DECLINED;
    }

    ngx_snprintf(buf, 16, "%016xL", ws->session_id);

    return ngx_strncmp(buf, sid->data, 16) == 0 ? NGX_OK : NGX_DECLINED;
}


/*
 * A notice on a participant's own channel, e.g. a conversation opened from
 * another tab: the connection joins it (from seq 0, so it reads it all)
 * and is told.
 */

static void
ngx_kefu_user_notice(ngx_kefu_member_t *m, ngx_str_t *json)
{
    json_t     *n;
    ngx_str_t   conv;

    n = ngx_kefu_user_notice_conv(json, &conv);
    if (n == NULL) {
        return;
    }

    if (conv.len && ngx_kefu_conv_member(m->ws, &conv) == NULL) {
        (void) ngx_kefu_conv_join(m->ws, &conv, 0);
    }

    (void) ngx_kefu_ws_send_text(m->ws, json->data, json->len);

    ngx_kefu_conv_closed(m->ws, n);

    json_decref(n);
}


/* the agent gave the conversation up (transfer, offline): told, it leaves */

static void
ngx_kefu_user_leave(ngx_kefu_member_t *m, ngx_str_t *json)
{
    json_t             *n;
    ngx_str_t           conv;
    ngx_kefu_member_t  *cm;

    n = ngx_kefu_user_notice_conv(json, &conv);
    if (n == NULL) {
        return;
    }

    cm = conv.len ? ngx_kefu_conv_member(m->ws, &conv) : NULL;

    if (cm) {
        ngx_kefu_conv_leave(cm);
    }

    json_decref(n);

    (void) ngx_kefu_ws_send_text(m->ws, json->data, json->len);
}


/*
 * a participant notice parsed, and its "conv" (valid while the object is;
 * empty when it names none); NULL when it is no JSON
 */

static json_t *
ngx_kefu_user_notice_conv(ngx_str_t *json, ngx_str_t *conv)
{
    json_t  *n, *c;

    n = json_loadb((char *) json->data, json->len, 0, NULL);
    if (n == NULL) {
        return NULL;
    }

    c = json_object_get(n, "conv");

    if (json_is_string(c)) {
        conv->data = (u_char *) json_string_value(c);
        conv->len = json_string_length(c);

    } else {
        ngx_str_null(conv);
    }

    return n;
}
