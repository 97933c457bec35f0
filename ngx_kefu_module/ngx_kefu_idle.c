
/*
 * Idle conversations (docs/routing.md, "Idle conversations"): an open
 * conversation (or one with the bot) that nobody writes in for the site's
 * idle_close (a site setting, seconds; 0: never) is closed by the system,
 * through the normal close (lua/route_close.lua): the agent's load is
 * released, agent and visitor are told, the log gets a system entry, the
 * stream conv.closed, and the retention clock starts.  Queued
 * conversations are tickets waiting for an agent: never closed here.
 *
 * Every worker has a timer (a tenth of the shortest retention, 1s to
 * 10s); one worker of all hosts takes each interval's turn by a lease in
 * Redis (lua/idle_sweep.lua) and reads, from a cursor, the entries of the
 * site's convs index (scored by each conversation's last event) that
 * became older than idle_close since the last turn, a batch at a time.
 * Each one's state is asked in its own slot (ngx_kefu_redis_gather.c);
 * those still open are closed one after another, each close guarded in
 * its own atomic step by "its last event is at or before the cut", so a
 * message that came meanwhile keeps it open.  Then lua/idle_done.lua
 * moves the cursor; a batch whose closes could not all be made is read
 * again at the next turn.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_settings.h"


/* conversations looked at per site and run */
#define NGX_KEFU_IDLE_BATCH     200

#define NGX_KEFU_IDLE_INTERVAL  10000


typedef struct {
    ngx_pool_t                  *pool;
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_site_t             *site;
    ngx_str_t                    token;
    ngx_str_t                    cursor;     /* where the next turn starts */
    ngx_str_t                    text;       /* the system entry's */
    ngx_str_t                   *convs;      /* the batch, then the open */
    ngx_uint_t                   n;
    ngx_uint_t                   next;       /* the close under way */
    ngx_uint_t                   closed;
    int64_t                      cut;
    unsigned                     more:1;
    unsigned                     failed:1;
} ngx_kefu_idle_t;


static void ngx_kefu_idle_handler(ngx_event_t *ev);
static void ngx_kefu_idle_swept(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_idle_checked(ngx_kefu_redis_t *rd, redisReply *rows,
    void *data);
static void ngx_kefu_idle_close_next(ngx_kefu_idle_t *it);
static void ngx_kefu_idle_closed(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result);
static void ngx_kefu_idle_finish(ngx_kefu_idle_t *it);
static void ngx_kefu_idle_done(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static ngx_int_t ngx_kefu_idle_str(ngx_pool_t *pool, ngx_str_t *dst,
    redisReply *r);


ngx_int_t
ngx_kefu_idle_init(ngx_cycle_t *cycle)
{
    ngx_uint_t             i;
    ngx_msec_t             t;
    ngx_event_t           *ev;
    ngx_kefu_site_t       *site;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);

    if (kmcf == NULL || kmcf->redis == NULL || kmcf->sites.nelts == 0) {
        return NGX_OK;
    }

    /* the retention sweep's interval, at most 10s (idle_close is 60s or
     * more): a test with a short retention= gets a short turn */
    t = NGX_KEFU_IDLE_INTERVAL;
    site = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        t = ngx_min(t, site[i].retention / 10);
    }

    kmcf->idle_interval = ngx_max(t, 1000);

    ev = ngx_kefu_chore(cycle, ngx_kefu_idle_handler, kmcf, kmcf->idle_interval);
    if (ev == NULL) {
        return NGX_ERROR;
    }

    kmcf->idle_event = ev;

    return NGX_OK;
}


static void
ngx_kefu_idle_handler(ngx_event_t *ev)
{
    ngx_kefu_main_conf_t *kmcf = ev->data;

    ngx_str_t         token;
    ngx_uint_t        i;
    ngx_msec_t        idle, unit;
    ngx_pool_t       *pool;
    ngx_kefu_idle_t  *it;
    ngx_kefu_site_t  *s;
    ngx_kefu_call_t   call;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(ev, kmcf->idle_interval);

    if (!ngx_kefu_redis_ready(kmcf->redis)) {
        return;
    }

    token.data = ngx_kefu_lease_token(kmcf);
    token.len = 16;

    s = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {

        /* 0: never; not yet read: the shop may have set 0 */
        if (ngx_kefu_settings_idle_close(&s[i], &idle) != NGX_OK
            || idle == 0)
        {
            continue;
        }

        if (ngx_kefu_idle_sweep_args(&call, &s[i].name, ngx_kefu_now_ms(),
                                     idle, NGX_KEFU_IDLE_BATCH,
                                     kmcf->idle_interval
                                     - kmcf->idle_interval / 10, &token)
            != NGX_OK)
        {
            continue;
        }

        pool = ngx_create_pool(1024, ev->log);
        if (pool == NULL) {
            return;
        }

        it = ngx_pcalloc(pool, sizeof(ngx_kefu_idle_t));
        if (it == NULL) {
            ngx_destroy_pool(pool);
            return;
        }

        it->pool = pool;
        it->kmcf = kmcf;
        it->site = &s[i];
        it->token = token;

        /* the system entry's text: "... for 1 day", "... for 30 minutes" */
        it->text.data = ngx_pnalloc(pool, 96);
        if (it->text.data == NULL) {
            ngx_destroy_pool(pool);
            return;
        }

        idle /= 1000;
        unit = idle % 86400 == 0 ? 86400 : idle % 3600 == 0 ? 3600
               : idle % 60 == 0 ? 60 : 1;

        it->text.len = ngx_sprintf(it->text.data,
                                   "conversation closed: no message for "
                                   "%M %s%s", idle / unit,
                                   unit == 86400 ? "day"
                                   : unit == 3600 ? "hour"
                                   : unit == 60 ? "minute" : "second",
                                   idle / unit == 1 ? "" : "s")
                       - it->text.data;

        if (ngx_kefu_redis_eval(kmcf->redis, &ngx_kefu_script_idle_sweep,
                                ngx_kefu_idle_swept, it, call.nkeys,
                                call.argc, call.argv, call.lens)
            != NGX_OK)
        {
            ngx_destroy_pool(pool);
            return;
        }
    }
}


/* {cut, more, cursor, conv, ...}: each one's state, in its own slot */

static void
ngx_kefu_idle_swept(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_idle_t  *it = data;

    size_t            i, n;
    ngx_str_t         cut;
    ngx_kefu_call_t  *calls;

    static const char  *fields[] = { "state" };

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 3
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_INTEGER
        || reply->element[2]->type != REDIS_REPLY_STRING)
    {
        /* {-1}: another worker's turn */
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "kefu idle sweep failed: %s", reply->str);
        }

        ngx_destroy_pool(it->pool);
        return;
    }

    cut.data = (u_char *) reply->element[0]->str;
    cut.len = reply->element[0]->len;
    it->cut = ngx_atoof(cut.data, cut.len);
    it->more = reply->element[1]->integer == 1;

    if (it->cut == NGX_ERROR
        || ngx_kefu_idle_str(it->pool, &it->cursor, reply->element[2])
           != NGX_OK)
    {
        ngx_destroy_pool(it->pool);
        return;
    }

    n = reply->elements - 3;

    if (n == 0) {
        ngx_kefu_idle_finish(it);
        return;
    }

    it->convs = ngx_palloc(it->pool, n * sizeof(ngx_str_t));
    calls = ngx_alloc(n * sizeof(ngx_kefu_call_t), ngx_cycle->log);

    if (it->convs == NULL || calls == NULL) {
        goto failed;
    }

    for (i = 0; i < n; i++) {
        if (reply->element[3 + i]->type != REDIS_REPLY_STRING
            || ngx_kefu_idle_str(it->pool, &it->convs[i],
                                 reply->element[3 + i])
               != NGX_OK
            || ngx_kefu_conv_fields_args(&calls[i], &it->convs[i], fields, 1)
               != NGX_OK)
        {
            goto failed;
        }
    }

    it->n = n;

    if (ngx_kefu_redis_gather(rd, &ngx_kefu_script_conv_fields, calls, n, 0,
                              ngx_kefu_idle_checked, it)
        != NGX_OK)
    {
        goto failed;
    }

    ngx_free(calls);
    return;

failed:

    if (calls) {
        ngx_free(calls);
    }

    ngx_destroy_pool(it->pool);
}


/* those still open (or with the bot) are closed; queued ones never */

static void
ngx_kefu_idle_checked(ngx_kefu_redis_t *rd, redisReply *rows, void *data)
{
    ngx_kefu_idle_t  *it = data;

    size_t       i, n;
    redisReply  *st;

    if (rows == NULL || rows->type != REDIS_REPLY_ARRAY
        || rows->elements != it->n)
    {
        ngx_destroy_pool(it->pool);
        return;
    }

    n = 0;

    for (i = 0; i < rows->elements; i++) {
        if (rows->element[i]->type != REDIS_REPLY_ARRAY
            || rows->element[i]->elements != 1)
        {
            continue;    /* gone */
        }

        st = rows->element[i]->element[0];

        if (st->type == REDIS_REPLY_STRING
            && ((st->len == 4 && ngx_strncmp(st->str, "open", 4) == 0)
                || (st->len == 3 && ngx_strncmp(st->str, "bot", 3) == 0)))
        {
            it->convs[n++] = it->convs[i];
        }
    }

    it->n = n;
    it->next = 0;

    ngx_kefu_idle_close_next(it);
}


/* one close at a time: a batch never crowds the clients' calls out */

static void
ngx_kefu_idle_close_next(ngx_kefu_idle_t *it)
{
    if (it->next == it->n || it->failed) {
        ngx_kefu_idle_finish(it);
        return;
    }

    ngx_kefu_route_close_idle(it->kmcf, it->site, &it->convs[it->next],
                              it->cut, &it->text, ngx_kefu_idle_closed, it);
}


static void
ngx_kefu_idle_closed(ngx_kefu_main_conf_t *kmcf, void *data, ngx_int_t code,
    const char *message, json_t *result)
{
    ngx_kefu_idle_t  *it = data;

    if (code == NGX_KEFU_ROUTE_OK) {
        it->closed++;

    } else if (code != NGX_KEFU_ROUTE_NOOP) {
        /* NOOP: a message came meanwhile, or someone closed it */
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu idle close of \"%V\" failed: %s",
                      &it->convs[it->next], message ? message : "");
        it->failed = 1;
    }

    it->next++;

    ngx_kefu_idle_close_next(it);
}


/* the batch done: the cursor moves on (not after a failed close) */

static void
ngx_kefu_idle_finish(ngx_kefu_idle_t *it)
{
    ngx_kefu_call_t  call;

    if (it->closed) {
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "kefu: %ui idle conversations of site \"%V\" closed",
                      it->closed, &it->site->name);
    }

    if (it->failed
        || !ngx_kefu_redis_ready(it->kmcf->redis)
        || ngx_kefu_idle_done_args(&call, &it->site->name, &it->token,
                                   &it->cursor, it->more)
           != NGX_OK
        || ngx_kefu_redis_eval(it->kmcf->redis, &ngx_kefu_script_idle_done,
                               ngx_kefu_idle_done, it, call.nkeys,
                               call.argc, call.argv, call.lens)
           != NGX_OK)
    {
        /* the lease lapses; the next turn reads this batch again */
        ngx_destroy_pool(it->pool);
    }
}


static void
ngx_kefu_idle_done(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_idle_t  *it = data;

    ngx_kefu_main_conf_t  *kmcf;

    kmcf = it->kmcf;

    /* a full batch: the rest soon, not an interval later */
    if (it->more
        && reply && reply->type == REDIS_REPLY_INTEGER && reply->integer == 1
        && !(ngx_exiting || ngx_terminate || ngx_quit)
        && kmcf->idle_event)
    {
        if (kmcf->idle_event->timer_set) {
            ngx_del_timer(kmcf->idle_event);
        }

        ngx_add_timer(kmcf->idle_event, 100);
    }

    ngx_destroy_pool(it->pool);
}


static ngx_int_t
ngx_kefu_idle_str(ngx_pool_t *pool, ngx_str_t *dst, redisReply *r)
{
    if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 128) {
        return NGX_ERROR;
    }

    dst->data = ngx_pnalloc(pool, r->len);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, r->str, r->len);
    dst->len = r->len;

    return NGX_OK;
}
