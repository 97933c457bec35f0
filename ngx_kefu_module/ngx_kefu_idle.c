
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
#include "ngx_kefu_sweep.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_lease.h"
#include "ngx_kefu_settings.h"
#include "ngx_kefu_idle.h"


/* conversations looked at per site and run */
#define NGX_KEFU_IDLE_BATCH     200

#define NGX_KEFU_IDLE_INTERVAL  10000


typedef struct {
    ngx_kefu_sweep_t             sweep;      /* index: cut, more, cursor,
                                                the batch */
    ngx_str_t                    token;
    ngx_str_t                    cursor;     /* where the next turn starts */
    ngx_str_t                    text;       /* the system entry's */
    ngx_str_t                   *convs;      /* the open of the batch */
    ngx_uint_t                   n;
    ngx_uint_t                   next;       /* the close under way */
    ngx_uint_t                   closed;
    int64_t                      cut;
    unsigned                     failed:1;
} ngx_kefu_idle_t;


static ngx_msec_t ngx_kefu_idle_period(ngx_kefu_site_t *site);
static ngx_int_t ngx_kefu_idle_start(ngx_kefu_sweep_t *sw,
    ngx_kefu_call_t *call, ngx_msec_t lease);
static ngx_int_t ngx_kefu_idle_swept(ngx_kefu_sweep_t *sw,
    redisReply *reply);
static void ngx_kefu_idle_checked(ngx_kefu_sweep_t *sw, ngx_kefu_redis_t *rd,
    redisReply *rows);
static void ngx_kefu_idle_close_next(ngx_kefu_idle_t *it);
static void ngx_kefu_idle_closed(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result);
static void ngx_kefu_idle_finish(ngx_kefu_idle_t *it);
static void ngx_kefu_idle_done(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);


static const char  *ngx_kefu_idle_fields[] = { "state" };

/* the retention sweep's interval, at most 10s (idle_close is 60s or
 * more): a test with a short retention= gets a short turn */
static const ngx_kefu_sweep_conf_t  ngx_kefu_idle_sweep = {
    NGX_KEFU_IDLE_INTERVAL,
    ngx_kefu_idle_period,
    sizeof(ngx_kefu_idle_t),
    &ngx_kefu_script_idle_sweep,
    ngx_kefu_idle_start,
    ngx_kefu_idle_swept,
    ngx_kefu_idle_fields,
    1,
    ngx_kefu_idle_checked
};


ngx_int_t
ngx_kefu_idle_init(ngx_cycle_t *cycle)
{
    return ngx_kefu_sweep_init(cycle, &ngx_kefu_idle_sweep);
}


static ngx_msec_t
ngx_kefu_idle_period(ngx_kefu_site_t *site)
{
    return site->retention / 10;
}


static ngx_int_t
ngx_kefu_idle_start(ngx_kefu_sweep_t *sw, ngx_kefu_call_t *call,
    ngx_msec_t lease)
{
    ngx_kefu_idle_t  *it = (ngx_kefu_idle_t *) sw;

    ngx_msec_t  idle, unit;

    /* 0: never; not yet read: the shop may have set 0 */
    if (ngx_kefu_settings_idle_close(sw->site, &idle) != NGX_OK
        || idle == 0)
    {
        return NGX_DECLINED;
    }

    it->token.data = ngx_kefu_lease_token(sw->kmcf);
    it->token.len = 16;

    if (ngx_kefu_idle_sweep_args(call, &sw->site->name, ngx_kefu_now_ms(),
                                 idle, NGX_KEFU_IDLE_BATCH, lease, &it->token)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    /* the system entry's text: "... for 1 day", "... for 30 minutes" */
    it->text.data = ngx_pnalloc(sw->pool, 96);
    if (it->text.data == NULL) {
        return NGX_ERROR;
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

    return NGX_OK;
}


/* {cut, more, cursor, conv, ...}: each one's state, in its own slot */

static ngx_int_t
ngx_kefu_idle_swept(ngx_kefu_sweep_t *sw, redisReply *reply)
{
    ngx_kefu_idle_t  *it = (ngx_kefu_idle_t *) sw;

    redisReply  *cursor;

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

        return NGX_DECLINED;
    }

    it->cut = ngx_atoof((u_char *) reply->element[0]->str,
                        reply->element[0]->len);
    sw->first = 3;
    sw->more = reply->element[1]->integer == 1;

    cursor = reply->element[2];

    if (it->cut == NGX_ERROR || cursor->len == 0 || cursor->len > 128) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* those still open (or with the bot) are closed; queued ones never */

static void
ngx_kefu_idle_checked(ngx_kefu_sweep_t *sw, ngx_kefu_redis_t *rd,
    redisReply *rows)
{
    ngx_kefu_idle_t  *it = (ngx_kefu_idle_t *) sw;

    size_t       i, n;
    redisReply  *st, *e;

    /* the copy's: it lives as long as the turn */
    e = sw->index->element[2];
    it->cursor.data = (u_char *) e->str;
    it->cursor.len = e->len;

    it->convs = ngx_palloc(sw->pool, (rows->elements + 1) * sizeof(ngx_str_t));
    if (it->convs == NULL) {
        ngx_destroy_pool(sw->pool);
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
            e = sw->index->element[sw->first + i];
            it->convs[n].data = (u_char *) e->str;
            it->convs[n].len = e->len;
            n++;
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

    ngx_kefu_route_close_idle(it->sweep.kmcf, it->sweep.site,
                              &it->convs[it->next], it->cut, &it->text,
                              ngx_kefu_idle_closed, it);
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
                      it->closed, &it->sweep.site->name);
    }

    if (it->failed
        || !ngx_kefu_redis_ready(it->sweep.kmcf->redis)
        || ngx_kefu_idle_done_args(&call, &it->sweep.site->name, &it->token,
                                   &it->cursor, it->sweep.more)
           != NGX_OK
        || ngx_kefu_redis_eval_call(it->sweep.kmcf->redis,
                                    &ngx_kefu_script_idle_done,
                                    ngx_kefu_idle_done, it, &call)
           != NGX_OK)
    {
        /* the lease lapses; the next turn reads this batch again */
        ngx_destroy_pool(it->sweep.pool);
    }
}


static void
ngx_kefu_idle_done(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_idle_t  *it = data;

    /* the cursor moved: a full batch's rest soon */
    if (reply == NULL || reply->type != REDIS_REPLY_INTEGER
        || reply->integer != 1)
    {
        it->sweep.more = 0;
    }

    ngx_kefu_sweep_done(&it->sweep);
}
