
/*
 * The conversation side-channels: typing, read receipts, history and the
 * visitor's page trail.  Each checks that the connection is a member of
 * the conversation it names (membership was established from Redis at
 * welcome or when the conversation was opened or assigned), so nobody
 * reads or signals in a conversation that is not theirs.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_chat.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_attach.h"
#include "ngx_kefu_bot.h"
#include "ngx_kefu_ws.h"
#include "ngx_kefu_app.h"
#include "ngx_kefu_retain.h"


#define NGX_KEFU_TYPING_LAPSE   6000


typedef struct {
    uint64_t                     sid;
    int64_t                      before;      /* history's */
    ngx_uint_t                   limit;
    size_t                       len;
    size_t                       cid_len;     /* after the conv id */
    u_char                       conv[];
} ngx_kefu_chat_ctx_t;


static ngx_kefu_member_t *ngx_kefu_chat_member(ngx_kefu_ws_t *ws,
    ngx_str_t *conv, const char *cid);
static ngx_int_t ngx_kefu_chat_from(ngx_kefu_ws_t *ws, u_char *buf,
    size_t size, ngx_str_t *out);
static void ngx_kefu_typing_publish(ngx_kefu_member_t *m, ngx_uint_t on);
static void ngx_kefu_typing_lapse(ngx_event_t *ev);
static void ngx_kefu_chat_ignore(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static json_t *ngx_kefu_page_url(json_t *url);
static ngx_int_t ngx_kefu_page_token_param(u_char *p, size_t n,
    const char *name);
static ngx_int_t ngx_kefu_history_who(ngx_kefu_ws_t *ws, ngx_str_t *w,
    u_char *who);
static ngx_int_t ngx_kefu_history_read(ngx_kefu_ws_t *ws,
    ngx_kefu_chat_ctx_t *ctx, ngx_uint_t check, ngx_uint_t listed);
static void ngx_kefu_history_checked(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_history_handler(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_history_send(ngx_kefu_ws_t *ws, ngx_kefu_chat_ctx_t *ctx,
    redisReply *reply, size_t first, ngx_str_t *next);
static ngx_str_t *ngx_kefu_history_links(ngx_kefu_ws_t *ws,
    redisReply *reply, size_t first, size_t *len);
static ngx_kefu_chat_ctx_t *ngx_kefu_chat_ctx(ngx_kefu_ws_t *ws,
    ngx_str_t *conv, const char *cid);


/* the conversation a message is about: "conv", or a visitor's latest */

static ngx_kefu_member_t *
ngx_kefu_chat_member(ngx_kefu_ws_t *ws, ngx_str_t *conv, const char *cid)
{
    ngx_queue_t        *q;
    ngx_kefu_member_t  *m;

    if (conv->data) {
        m = ngx_kefu_conv_member(ws, conv);

        if (m == NULL) {
            /* a conversation that does not exist looks like another's */
            ngx_kefu_app_error(ws, "forbidden", "not your conversation", cid);
        }

        return m;
    }

    if (ws->role == NGX_KEFU_ROLE_VISITOR) {
        for (q = ngx_queue_last(&ws->members);
             q != ngx_queue_sentinel(&ws->members);
             q = ngx_queue_prev(q))
        {
            m = ngx_queue_data(q, ngx_kefu_member_t, in_ws);

            if (ngx_kefu_channel_kind(&m->conv->channel) == 'c') {
                return m;
            }
        }
    }

    ngx_kefu_app_error(ws, "bad_request", "\"conv\" is required", cid);

    return NULL;
}


void
ngx_kefu_typing(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    ngx_kefu_member_t  *m;

    m = ngx_kefu_chat_member(ws, &req->conv, req->cid);
    if (m == NULL) {
        return;
    }

    if (!req->on) {
        if (m->typing) {
            ngx_del_timer(m->typing);
            ngx_free(m->typing);
            m->typing = NULL;
            ngx_kefu_typing_publish(m, 0);
        }

        return;
    }

    if (m->typing == NULL) {
        m->typing = ngx_calloc(sizeof(ngx_event_t), ws->connection->log);
        if (m->typing == NULL) {
            return;
        }

        m->typing->handler = ngx_kefu_typing_lapse;
        m->typing->data = m;
        m->typing->log = ws->connection->log;

        /* peers hear "on" once; renewals only push the lapse back */
        ngx_kefu_typing_publish(m, 1);
    }

    ngx_add_timer(m->typing, NGX_KEFU_TYPING_LAPSE);
}


/* also called when a typing member leaves */

void
ngx_kefu_typing_stop(ngx_kefu_member_t *m)
{
    if (m->typing == NULL) {
        return;
    }

    if (m->typing->timer_set) {
        ngx_del_timer(m->typing);
    }

    ngx_free(m->typing);
    m->typing = NULL;

    ngx_kefu_typing_publish(m, 0);
}


static void
ngx_kefu_typing_lapse(ngx_event_t *ev)
{
    ngx_kefu_member_t  *m = ev->data;

    ngx_free(m->typing);
    m->typing = NULL;

    ngx_kefu_typing_publish(m, 0);
}


static void
ngx_kefu_typing_publish(ngx_kefu_member_t *m, ngx_uint_t on)
{
    u_char                  from[256 + 2 * NGX_KEFU_MAX_ID_LEN];
    u_char                  payload[512 + 3 * NGX_KEFU_MAX_ID_LEN];
    ngx_str_t               f, pl;
    ngx_kefu_redis_args_t   a;

    if (ngx_kefu_chat_from(m->ws, from, sizeof(from), &f) != NGX_OK) {
        return;
    }

    pl.data = payload;
    pl.len = ngx_snprintf(payload, sizeof(payload),
                          "%016xL|t|0|{\"type\":\"typing\",\"conv\":\"%*s\","
                          "\"from\":%V,\"on\":%s}",
                          m->ws->session_id,
                          m->conv->channel.len - NGX_KEFU_CH_CONV_LEN - 1,
                          m->conv->channel.data + NGX_KEFU_CH_CONV_LEN, &f,
                          on ? "true" : "false")
             - payload;

    ngx_kefu_redis_args(&a, ngx_kefu_word("PUBLISH"), &m->conv->channel, &pl);

    (void) ngx_kefu_redis_command(m->ws->main_conf->redis,
                                  ngx_kefu_chat_ignore, NULL, a.argc, a.argv,
                                  a.lens);
}


void
ngx_kefu_read(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    u_char              who[NGX_KEFU_WHO_LEN];
    u_char              from[256 + 2 * NGX_KEFU_MAX_ID_LEN];
    u_char              head[512 + 3 * NGX_KEFU_MAX_ID_LEN];
    ngx_str_t           f, conv, w, h;
    ngx_kefu_call_t     call;
    ngx_kefu_member_t  *m;

    m = ngx_kefu_chat_member(ws, &req->conv, req->cid);
    if (m == NULL || ngx_kefu_chat_from(ws, from, sizeof(from), &f) != NGX_OK)
    {
        return;
    }

    (void) ngx_kefu_channel_conv(&m->conv->channel, &conv);
    w = ngx_kefu_who(ws->role, &ws->user_id, who);
    h.data = head;
    h.len = ngx_snprintf(head, sizeof(head),
                         "{\"type\":\"read\",\"conv\":\"%V\",\"from\":%V,"
                         "\"seq\":", &conv, &f) - head;

    if (ngx_kefu_read_args(&call, &conv, &w, req->seq, ws->session_id, &h)
        != NGX_OK
        || ngx_kefu_redis_eval_call(ws->main_conf->redis,
                                    &ngx_kefu_script_read,
                                    ngx_kefu_chat_ignore, NULL, &call)
           != NGX_OK)
    {
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable",
                           req->cid);
    }
}


void
ngx_kefu_history(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    u_char               who[NGX_KEFU_WHO_LEN];
    ngx_str_t            conv, w;
    ngx_kefu_call_t      call;
    ngx_kefu_member_t   *m;
    ngx_kefu_chat_ctx_t *ctx;

    /*
     * A conversation the connection is not in (closed before it came) is
     * read after a check in Redis that it is the reader's.
     */
    if (req->conv.data) {
        conv = req->conv;
        m = ngx_kefu_conv_member(ws, &conv);

    } else {
        m = ngx_kefu_chat_member(ws, &req->conv, req->cid);
        if (m == NULL) {
            return;
        }

        (void) ngx_kefu_channel_conv(&m->conv->channel, &conv);
    }

    ctx = ngx_kefu_chat_ctx(ws, &conv, req->cid);
    if (ctx == NULL) {
        return;
    }

    ctx->before = req->before;
    ctx->limit = req->limit;

    /* an agent's list is in the site's slot: checked in a call first */
    if (m == NULL && ws->role == NGX_KEFU_ROLE_AGENT) {
        if (ngx_kefu_history_who(ws, &w, who) == NGX_OK
            && ngx_kefu_history_check_args(&call, &ws->site->name, &w, &conv)
               == NGX_OK
            && ngx_kefu_redis_eval_call(ws->main_conf->redis,
                                        &ngx_kefu_script_history_check,
                                        ngx_kefu_history_checked, ctx, &call)
               == NGX_OK)
        {
            return;
        }

        ngx_free(ctx);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable",
                           req->cid);
        return;
    }

    if (ngx_kefu_history_read(ws, ctx, m == NULL, 0) != NGX_OK) {
        ngx_free(ctx);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable",
                           req->cid);
    }
}


static ngx_int_t
ngx_kefu_history_who(ngx_kefu_ws_t *ws, ngx_str_t *w, u_char *who)
{
    *w = ngx_kefu_who(ws->role, &ws->user_id, who);

    return NGX_OK;
}


/* the page itself, in the conversation's slot */

static ngx_int_t
ngx_kefu_history_read(ngx_kefu_ws_t *ws, ngx_kefu_chat_ctx_t *ctx,
    ngx_uint_t check, ngx_uint_t listed)
{
    u_char            who[NGX_KEFU_WHO_LEN];
    ngx_str_t         conv, w, role;
    ngx_kefu_call_t   call;

    conv.data = ctx->conv;
    conv.len = ctx->len;
    role.data = (u_char *) ngx_kefu_role_name(ws->role);
    role.len = ngx_strlen(role.data);
    (void) ngx_kefu_history_who(ws, &w, who);

    if (ngx_kefu_history_args(&call, &conv, ctx->before, ctx->limit,
                              ws->role == NGX_KEFU_ROLE_VISITOR,
                              check ? &ws->site->name : NULL, &w, &role,
                              listed)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    return ngx_kefu_redis_eval_call(ws->main_conf->redis,
                                    &ngx_kefu_script_history,
                                    ngx_kefu_history_handler, ctx, &call);
}


static void
ngx_kefu_history_checked(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_chat_ctx_t  *ctx = data;

    ngx_kefu_ws_t  *ws;

    ws = ngx_kefu_local_session(ngx_kefu_redis_main_conf(rd), ctx->sid);

    if (ws == NULL) {
        ngx_free(ctx);
        return;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER
        || ngx_kefu_history_read(ws, ctx, 1, reply->integer == 1) != NGX_OK)
    {
        ngx_free(ctx);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable",
                           NULL);
    }
}


static void
ngx_kefu_history_handler(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_chat_ctx_t  *ctx = data;

    size_t           first;
    ngx_str_t        next;
    ngx_kefu_ws_t   *ws;

    ws = ngx_kefu_local_session(ngx_kefu_redis_main_conf(rd), ctx->sid);

    if (ws == NULL) {
        goto done;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 1)
    {
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable", NULL);
        goto done;
    }

    if (reply->element[0]->integer < 0) {
        /* a conversation that does not exist looks like another's */
        ngx_kefu_app_error(ws, "forbidden", "not your conversation",
                           ctx->cid_len ? (char *) ctx->conv + ctx->len
                                        : NULL);
        goto done;
    }

    /*
     * 2: the script looked at as many entries as it may (private notes
     * skipped for a visitor) and says where to go on: "before" then tells
     * the client, whose oldest message may be far above.
     */
    first = 1;
    next.len = 0;

    if (reply->element[0]->integer == 2 && reply->elements >= 2
        && reply->element[1]->type == REDIS_REPLY_STRING
        && reply->element[1]->len < NGX_INT64_LEN)
    {
        next.data = (u_char *) reply->element[1]->str;
        next.len = reply->element[1]->len;
        first = 2;
    }

    ngx_kefu_history_send(ws, ctx, reply, first, &next);

done:

    ngx_free(ctx);
}


/* the entries are JSON already: the reply is put together as text */

static void
ngx_kefu_history_send(ngx_kefu_ws_t *ws, ngx_kefu_chat_ctx_t *ctx,
    redisReply *reply, size_t first, ngx_str_t *next)
{
    u_char      *p, *buf;
    size_t       len, i;
    ngx_str_t   *entries;

    len = sizeof("{\"type\":\"history\",\"conv\":\"\",\"more\":false,"
                 "\"before\":,\"msgs\":[]}") + ctx->len + next->len;

    entries = ngx_kefu_history_links(ws, reply, first, &len);
    if (entries == NULL) {
        return;
    }

    buf = ngx_alloc(len, ws->connection->log);
    if (buf == NULL) {
        goto free_entries;
    }

    p = ngx_snprintf(buf, len, "{\"type\":\"history\",\"conv\":\"%*s\","
                     "\"more\":%s,", ctx->len, ctx->conv,
                     reply->element[0]->integer ? "true" : "false");

    if (next->len) {
        p = ngx_snprintf(p, len - (p - buf), "\"before\":%V,", next);
    }

    p = ngx_cpymem(p, "\"msgs\":[", sizeof("\"msgs\":[") - 1);

    /* the script returns newest first; clients get oldest first */
    for (i = reply->elements - 1; i >= first; i--) {
        p = entries[i].data
            ? ngx_cpymem(p, entries[i].data, entries[i].len)
            : ngx_cpymem(p, reply->element[i]->str, reply->element[i]->len);

        if (i > first) {
            *p++ = ',';
        }
    }

    *p++ = ']';
    *p++ = '}';

    (void) ngx_kefu_ws_send_text(ws, buf, p - buf);
    ngx_free(buf);

free_entries:

    for (i = first; i < reply->elements; i++) {
        free(entries[i].data);
    }

    ngx_free(entries);
}


/*
 * Attachments get fresh links: history is where a client renews them.
 * The entries from first on as they go out (data NULL: the entry as
 * stored); *len grows by what they take.  NULL on failure.
 */

static ngx_str_t *
ngx_kefu_history_links(ngx_kefu_ws_t *ws, redisReply *reply, size_t first,
    size_t *len)
{
    size_t       i;
    ngx_str_t   *entries;

    entries = ngx_alloc(reply->elements * sizeof(ngx_str_t),
                        ws->connection->log);
    if (entries == NULL) {
        return NULL;
    }

    for (i = first; i < reply->elements; i++) {
        entries[i].data = ngx_kefu_attach_links(ws->main_conf, ws->site,
                                  (u_char *) reply->element[i]->str,
                                  reply->element[i]->len, &entries[i].len);
        if (entries[i].data == NULL) {
            entries[i].len = 0;
        }

        *len += (entries[i].data ? entries[i].len : reply->element[i]->len)
                + 1;
    }

    return entries;
}


/* a visitor's page: kept as the trail of its latest conversation */

void
ngx_kefu_page(ngx_kefu_ws_t *ws, json_t *page, const char *cid)
{
    char                   *j;
    u_char                  key[96 + NGX_KEFU_MAX_ID_LEN], ttl[NGX_TIME_T_LEN];
    json_t                 *url, *title, *referrer, *p;
    ngx_str_t               k, v, t;
    ngx_kefu_redis_args_t   a;

    url = json_object_get(page, "url");
    title = json_object_get(page, "title");
    referrer = json_object_get(page, "referrer");

    p = json_pack("{s:o,s:I}", "url", ngx_kefu_page_url(url),
                  "ts", (json_int_t) ngx_kefu_now_ms());
    if (p == NULL) {
        return;
    }

    if (json_is_string(title)) {
        json_object_set(p, "title", title);
    }

    if (json_is_string(referrer)) {
        json_object_set_new(p, "referrer", ngx_kefu_page_url(referrer));
    }

    /* intent routing may look at where the visitor is */
    ngx_kefu_bot_intent(ws, "page", json_object_get(p, "url"));

    j = json_dumps(p, JSON_COMPACT);
    json_decref(p);

    if (j == NULL) {
        return;
    }

    /* kefu:{s:<site>}:v:<id>:pages, the latest 50 */
    k.data = key;
    k.len = ngx_snprintf(key, sizeof(key), "kefu:{s:%V}:v:%V:pages",
                         &ws->site->name, &ws->user_id) - key;
    v.data = (u_char *) j;
    v.len = ngx_strlen(j);

    ngx_kefu_redis_args(&a, ngx_kefu_word("RPUSH"), &k, &v);

    if (ngx_kefu_redis_command(ws->main_conf->redis, ngx_kefu_chat_ignore,
                               NULL, a.argc, a.argv, a.lens)
        != NGX_OK)
    {
        free(j);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable", cid);
        return;
    }

    free(j);

    ngx_kefu_redis_args(&a, ngx_kefu_word("LTRIM"), &k, ngx_kefu_word("-50"),
                        ngx_kefu_word("-1"));

    (void) ngx_kefu_redis_command(ws->main_conf->redis, ngx_kefu_chat_ignore,
                                  NULL, a.argc, a.argv, a.lens);

    /* kept as long as the visitor's record (docs/storage.md) */
    t.data = ttl;
    t.len = ngx_snprintf(ttl, sizeof(ttl), "%T",
                         ngx_kefu_visitor_seconds(ws->site, ws->anonymous))
            - ttl;

    ngx_kefu_redis_args(&a, ngx_kefu_word("EXPIRE"), &k, &t);

    (void) ngx_kefu_redis_command(ws->main_conf->redis, ngx_kefu_chat_ignore,
                                  NULL, a.argc, a.argv, a.lens);
}


/*
 * A URL as it may be stored and shown: without "token" or "access_token"
 * parameters in its query or fragment.  Pages and shop links that carry a
 * visitor's token would hand it to everyone who reads the page trail (the
 * console, the API, logs).  Returns a new reference, or NULL (out of
 * memory; json_pack then fails too).
 */

static json_t *
ngx_kefu_page_url(json_t *url)
{
    u_char  *p, *last, *part, *end, *out, *o, opener;
    size_t   len, n;
    json_t  *v;

    p = (u_char *) json_string_value(url);
    len = json_string_length(url);
    last = p + len;

    /* the query starts at the first "?" before any "#" */
    part = ngx_strlchr(p, last, '?');
    end = ngx_strlchr(p, last, '#');

    if (part == NULL || (end && end < part)) {
        part = end;
    }

    if (part == NULL) {
        return json_incref(url);
    }

    out = ngx_alloc(len, ngx_cycle->log);
    if (out == NULL) {
        return NULL;
    }

    o = ngx_cpymem(out, p, part - p);
    opener = '\0';

    /*
     * Each part runs from its separator ("?", "&" or "#") to the next one
     * ("?" too: a fragment may hold a query of its own).  "?" and "#" are
     * written only once something follows them.
     */

    while (part < last) {
        if (*part != '&') {
            opener = *part;
        }

        end = part + 1;

        while (end < last && *end != '&' && *end != '#' && *end != '?') {
            end++;
        }

        part++;
        n = end - part;

        if (!ngx_kefu_page_token_param(part, n, "token")
            && !ngx_kefu_page_token_param(part, n, "access_token"))
        {
            *o++ = opener ? opener : '&';
            opener = '\0';
            o = ngx_cpymem(o, part, n);
        }

        part = end;
    }

    v = json_stringn((char *) out, o - out);
    ngx_free(out);

    return v;
}


/* "name" or "name=..." */

static ngx_int_t
ngx_kefu_page_token_param(u_char *p, size_t n, const char *name)
{
    size_t  len;

    len = ngx_strlen(name);

    return n >= len && ngx_strncasecmp(p, (u_char *) name, len) == 0
           && (n == len || p[len] == '=');
}


/* {"role":..,"id":..,"name":..} of this connection's participant */

static ngx_int_t
ngx_kefu_chat_from(ngx_kefu_ws_t *ws, u_char *buf, size_t size,
    ngx_str_t *out)
{
    char    *s;
    json_t  *f;

    f = json_pack("{s:s,s:s%}", "role", ngx_kefu_role_name(ws->role),
                  "id", ws->user_id.data, ws->user_id.len);
    if (f == NULL) {
        return NGX_ERROR;
    }

    if (ws->name.len) {
        json_object_set_new(f, "name", json_stringn((char *) ws->name.data,
                                                    ws->name.len));
    }

    s = json_dumps(f, JSON_COMPACT);
    json_decref(f);

    if (s == NULL || ngx_strlen(s) > size) {
        free(s);
        return NGX_ERROR;
    }

    out->len = ngx_strlen(s);
    out->data = buf;
    ngx_memcpy(buf, s, out->len);
    free(s);

    return NGX_OK;
}


static ngx_kefu_chat_ctx_t *
ngx_kefu_chat_ctx(ngx_kefu_ws_t *ws, ngx_str_t *conv, const char *cid)
{
    size_t                cid_len;
    ngx_kefu_chat_ctx_t  *ctx;

    cid_len = cid ? ngx_min(ngx_strlen(cid), 64) : 0;

    ctx = ngx_alloc(sizeof(ngx_kefu_chat_ctx_t) + conv->len + cid_len + 1,
                    ws->connection->log);
    if (ctx == NULL) {
        return NULL;
    }

    ctx->sid = ws->session_id;
    ctx->len = conv->len;
    ctx->cid_len = cid_len;
    ngx_memcpy(ctx->conv, conv->data, conv->len);
    if (cid_len) {
        ngx_memcpy(ctx->conv + conv->len, cid, cid_len);
    }

    ctx->conv[conv->len + cid_len] = '\0';

    return ctx;
}


static void
ngx_kefu_chat_ignore(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    /* fire and forget: typing, read pointers and page trails */
}
