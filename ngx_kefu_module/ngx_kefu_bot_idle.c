
/*
 * Bot conversations the visitor left (docs/automation.md "When the
 * visitor leaves"): an open conversation is closed by its agent, but one
 * in state bot has nobody to close it, so it is closed when nothing was
 * written to it for the site's bot_idle (kefu_site bot_idle=, 30m by
 * default), like an agent's close (route_close.lua: a "closed" entry, the
 * visitor's next message opens a new conversation).
 *
 * Every worker has a timer (a quarter of the shortest bot_idle, 1s to
 * 60s); one worker of all hosts takes each interval's turn by a lease in
 * Redis (lua/bot_sweep.lua).  The site's kefu:{s:<site>}:bots lists the
 * bot conversations by their last known activity; those older than
 * bot_idle are read in their own slots (lua/conv_fields.lua: state,
 * updated): the idle ones are closed, the others scored by their latest
 * activity again (lua/bot_touch.lua), so that a busy conversation is not
 * looked at again before it could be idle.  Nothing lives in the worker
 * but the timer: a reload or a dead worker loses nothing.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_script_args.h"


/* conversations looked at per site and run */
#define NGX_KEFU_BOT_IDLE_BATCH  49

/* pairs a bot_touch call takes (NGX_KEFU_CALL_ARGS less its key) */
#define NGX_KEFU_BOT_TOUCH_PAIRS  7


typedef struct {
    ngx_pool_t                  *pool;
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_site_t             *site;
    redisReply                  *index;
    int64_t                      now;
} ngx_kefu_bot_idle_t;


static void ngx_kefu_bot_idle_handler(ngx_event_t *ev);
static void ngx_kefu_bot_idle_swept(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_bot_idle_checked(ngx_kefu_redis_t *rd, redisReply *rows,
    void *data);
static void ngx_kefu_bot_idle_closed(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result);
static void ngx_kefu_bot_idle_ignore(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);


ngx_int_t
ngx_kefu_bot_idle_init(ngx_cycle_t *cycle)
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

    t = 60000;
    site = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        t = ngx_min(t, site[i].bot_idle / 4);
    }

    kmcf->bot_idle_interval = ngx_max(t, 1000);

    ev = ngx_kefu_chore(cycle, ngx_kefu_bot_idle_handler, kmcf, kmcf->bot_idle_interval);
    if (ev == NULL) {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_kefu_bot_idle_handler(ngx_event_t *ev)
{
    ngx_kefu_main_conf_t *kmcf = ev->data;

    ngx_uint_t            i;
    ngx_pool_t           *pool;
    ngx_kefu_site_t      *s;
    ngx_kefu_call_t       call;
    ngx_kefu_bot_idle_t  *bi;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(ev, kmcf->bot_idle_interval);

    if (!ngx_kefu_redis_ready(kmcf->redis)) {
        return;
    }

    s = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        if (ngx_kefu_bot_sweep_args(&call, &s[i].name, ngx_kefu_now_ms(),
                                    s[i].bot_idle,
                                    kmcf->bot_idle_interval
                                    - kmcf->bot_idle_interval / 10,
                                    NGX_KEFU_BOT_IDLE_BATCH)
            != NGX_OK)
        {
            continue;
        }

        pool = ngx_create_pool(1024, ev->log);
        if (pool == NULL) {
            return;
        }

        bi = ngx_pcalloc(pool, sizeof(ngx_kefu_bot_idle_t));
        if (bi == NULL) {
            ngx_destroy_pool(pool);
            return;
        }

        bi->pool = pool;
        bi->kmcf = kmcf;
        bi->site = &s[i];
        bi->now = ngx_kefu_now_ms();

        if (ngx_kefu_redis_eval(kmcf->redis, &ngx_kefu_script_bot_sweep,
                                ngx_kefu_bot_idle_swept, bi, call.nkeys,
                                call.argc, call.argv, call.lens)
            != NGX_OK)
        {
            ngx_destroy_pool(pool);
            return;
        }
    }
}


/* the candidates: each one's state and last activity, in its slot */

static void
ngx_kefu_bot_idle_swept(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_bot_idle_t  *bi = data;

    size_t            i, n;
    ngx_str_t         conv;
    ngx_kefu_call_t  *calls;

    static const char  *fields[] = { "state", "updated" };

    calls = NULL;

    /* {-1}: another worker's turn; {}: nothing idle */
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements == 0
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        goto done;
    }

    n = reply->elements;
    bi->index = ngx_kefu_redis_reply_copy(bi->pool, reply);
    calls = ngx_alloc(n * sizeof(ngx_kefu_call_t), ngx_cycle->log);

    if (bi->index == NULL || calls == NULL) {
        goto done;
    }

    for (i = 0; i < n; i++) {
        conv.data = (u_char *) reply->element[i]->str;
        conv.len = reply->element[i]->len;

        if (reply->element[i]->type != REDIS_REPLY_STRING
            || ngx_kefu_conv_fields_args(&calls[i], &conv, fields, 2)
               != NGX_OK)
        {
            goto done;
        }
    }

    if (ngx_kefu_redis_gather(rd, &ngx_kefu_script_conv_fields, calls, n, 0,
                              ngx_kefu_bot_idle_checked, bi)
        == NGX_OK)
    {
        ngx_free(calls);
        return;
    }

done:

    if (calls) {
        ngx_free(calls);
    }

    ngx_destroy_pool(bi->pool);
}


/* the idle ones closed, the others scored by their latest activity */

static void
ngx_kefu_bot_idle_checked(ngx_kefu_redis_t *rd, redisReply *rows,
    void *data)
{
    ngx_kefu_bot_idle_t  *bi = data;

    size_t                  i, k;
    int64_t                 updated;
    ngx_str_t               conv, ms, none;
    redisReply             *r;
    ngx_kefu_call_t         call;
    ngx_kefu_actor_t        actor;
    ngx_kefu_route_args_t   args;

    if (rows == NULL || rows->type != REDIS_REPLY_ARRAY
        || rows->elements != bi->index->elements
        || ngx_kefu_bot_touch_args(&call, &bi->site->name) != NGX_OK)
    {
        ngx_destroy_pool(bi->pool);
        return;
    }

    ngx_memzero(&actor, sizeof(ngx_kefu_actor_t));
    actor.site = bi->site;
    ngx_str_set(&actor.id, "bot");
    ngx_str_set(&actor.name, "idle");
    actor.role = NGX_KEFU_ROLE_ADMIN;
    actor.supervisor = 1;

    ngx_str_null(&none);
    k = 0;

    for (i = 0; i < rows->elements; i++) {
        r = rows->element[i];
        conv.data = (u_char *) bi->index->element[i]->str;
        conv.len = bi->index->element[i]->len;

        if (r->type != REDIS_REPLY_ARRAY || r->elements != 2
            || r->element[0]->len != 3
            || ngx_strncmp(r->element[0]->str, "bot", 3) != 0)
        {
            /* gone, or no longer in bot: off the list */
            ngx_kefu_bot_touch_add(&call, &conv, &none);

        } else {
            updated = ngx_atoof((u_char *) r->element[1]->str,
                                r->element[1]->len);

            if (updated != NGX_ERROR
                && bi->now - updated < (int64_t) bi->site->bot_idle)
            {
                ms.data = (u_char *) r->element[1]->str;
                ms.len = r->element[1]->len;
                ngx_kefu_bot_touch_add(&call, &conv, &ms);

            } else {
                ngx_memzero(&args, sizeof(ngx_kefu_route_args_t));
                args.conv = conv;

                ngx_kefu_route_close(bi->kmcf, &actor, &args,
                                     ngx_kefu_bot_idle_closed, NULL);
                continue;
            }
        }

        if (++k == NGX_KEFU_BOT_TOUCH_PAIRS) {
            (void) ngx_kefu_redis_eval(rd, &ngx_kefu_script_bot_touch,
                                       ngx_kefu_bot_idle_ignore, NULL,
                                       call.nkeys, call.argc, call.argv,
                                       call.lens);
            (void) ngx_kefu_bot_touch_args(&call, &bi->site->name);
            k = 0;
        }
    }

    if (k) {
        (void) ngx_kefu_redis_eval(rd, &ngx_kefu_script_bot_touch,
                                   ngx_kefu_bot_idle_ignore, NULL,
                                   call.nkeys, call.argc, call.argv,
                                   call.lens);
    }

    ngx_destroy_pool(bi->pool);
}


static void
ngx_kefu_bot_idle_closed(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result)
{
    if (code < 0) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: an idle bot conversation was not closed: %s",
                      message ? message : "unknown");
    }
}


static void
ngx_kefu_bot_idle_ignore(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
}
