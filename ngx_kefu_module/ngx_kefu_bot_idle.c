
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
#include "ngx_kefu_sweep.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_bot.h"


/* conversations looked at per site and run */
#define NGX_KEFU_BOT_IDLE_BATCH  49

/* pairs a bot_touch call takes (NGX_KEFU_CALL_ARGS less its key) */
#define NGX_KEFU_BOT_TOUCH_PAIRS  7


typedef struct {
    ngx_kefu_sweep_t             sweep;      /* index: the candidates */
    int64_t                      now;
} ngx_kefu_bot_idle_t;


static ngx_msec_t ngx_kefu_bot_idle_period(ngx_kefu_site_t *site);
static ngx_int_t ngx_kefu_bot_idle_start(ngx_kefu_sweep_t *sw,
    ngx_kefu_call_t *call, ngx_msec_t lease);
static ngx_int_t ngx_kefu_bot_idle_swept(ngx_kefu_sweep_t *sw,
    redisReply *reply);
static void ngx_kefu_bot_idle_checked(ngx_kefu_sweep_t *sw,
    ngx_kefu_redis_t *rd, redisReply *rows);
static void ngx_kefu_bot_idle_closed(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result);
static void ngx_kefu_bot_idle_ignore(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);


static const char  *ngx_kefu_bot_idle_fields[] = { "state", "updated" };

static const ngx_kefu_sweep_conf_t  ngx_kefu_bot_idle_sweep = {
    60000,
    ngx_kefu_bot_idle_period,
    sizeof(ngx_kefu_bot_idle_t),
    &ngx_kefu_script_bot_sweep,
    ngx_kefu_bot_idle_start,
    ngx_kefu_bot_idle_swept,
    ngx_kefu_bot_idle_fields,
    2,
    ngx_kefu_bot_idle_checked
};


ngx_int_t
ngx_kefu_bot_idle_init(ngx_cycle_t *cycle)
{
    return ngx_kefu_sweep_init(cycle, &ngx_kefu_bot_idle_sweep);
}


static ngx_msec_t
ngx_kefu_bot_idle_period(ngx_kefu_site_t *site)
{
    return site->bot_idle / 4;
}


static ngx_int_t
ngx_kefu_bot_idle_start(ngx_kefu_sweep_t *sw, ngx_kefu_call_t *call,
    ngx_msec_t lease)
{
    ngx_kefu_bot_idle_t  *bi = (ngx_kefu_bot_idle_t *) sw;

    if (ngx_kefu_bot_sweep_args(call, &sw->site->name, ngx_kefu_now_ms(),
                                sw->site->bot_idle, lease,
                                NGX_KEFU_BOT_IDLE_BATCH)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    bi->now = ngx_kefu_now_ms();

    return NGX_OK;
}


/* {conv, ...}: each one's state and last activity, in its slot */

static ngx_int_t
ngx_kefu_bot_idle_swept(ngx_kefu_sweep_t *sw, redisReply *reply)
{
    /* {-1}: another worker's turn; {}: nothing idle */
    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || (reply->elements && reply->element[0]->type != REDIS_REPLY_STRING))
    {
        return NGX_DECLINED;
    }

    sw->first = 0;

    return NGX_OK;
}


/* the idle ones closed, the others scored by their latest activity */

static void
ngx_kefu_bot_idle_checked(ngx_kefu_sweep_t *sw, ngx_kefu_redis_t *rd,
    redisReply *rows)
{
    ngx_kefu_bot_idle_t  *bi = (ngx_kefu_bot_idle_t *) sw;

    size_t                  i, k;
    int64_t                 updated;
    ngx_str_t               conv, ms, none;
    redisReply             *r;
    ngx_kefu_call_t         call;
    ngx_kefu_actor_t        actor;
    ngx_kefu_route_args_t   args;

    if (ngx_kefu_bot_touch_args(&call, &sw->site->name) != NGX_OK) {
        ngx_destroy_pool(sw->pool);
        return;
    }

    ngx_memzero(&actor, sizeof(ngx_kefu_actor_t));
    actor.site = sw->site;
    ngx_str_set(&actor.id, "bot");
    ngx_str_set(&actor.name, "idle");
    actor.role = NGX_KEFU_ROLE_ADMIN;
    actor.supervisor = 1;

    ngx_str_null(&none);
    k = 0;

    for (i = 0; i < rows->elements; i++) {
        r = rows->element[i];
        conv.data = (u_char *) sw->index->element[i]->str;
        conv.len = sw->index->element[i]->len;

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
                && bi->now - updated < (int64_t) sw->site->bot_idle)
            {
                ms.data = (u_char *) r->element[1]->str;
                ms.len = r->element[1]->len;
                ngx_kefu_bot_touch_add(&call, &conv, &ms);

            } else {
                ngx_memzero(&args, sizeof(ngx_kefu_route_args_t));
                args.conv = conv;

                ngx_kefu_route_close(sw->kmcf, &actor, &args,
                                     ngx_kefu_bot_idle_closed, NULL);
                continue;
            }
        }

        if (++k == NGX_KEFU_BOT_TOUCH_PAIRS) {
            (void) ngx_kefu_redis_eval_call(rd, &ngx_kefu_script_bot_touch,
                                            ngx_kefu_bot_idle_ignore, NULL,
                                            &call);
            (void) ngx_kefu_bot_touch_args(&call, &sw->site->name);
            k = 0;
        }
    }

    if (k) {
        (void) ngx_kefu_redis_eval_call(rd, &ngx_kefu_script_bot_touch,
                                        ngx_kefu_bot_idle_ignore, NULL, &call);
    }

    ngx_kefu_sweep_done(sw);
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
