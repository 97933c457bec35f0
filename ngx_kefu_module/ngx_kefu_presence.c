
/*
 * Presence of agents (docs/routing.md).  Every agent connection is a
 * record in Redis from its welcome to its close, held under this worker's
 * lease (ngx_kefu_lease.c): if the worker dies its records go when the
 * lease lapses, with no help from it.  Adding and removing a record is
 * idempotent, so a call that timed out after it ran does no harm, and one
 * that failed marks the lease for a sync that asserts the worker's live
 * connections again.  Agents and admins listen to the site's presence
 * channel.  When an agent's last record goes, a grace deadline is kept in
 * Redis; whichever worker's sweep sees it pass first makes the agent
 * offline, so a page reload (or an nginx reload) changes nothing.
 *
 * Entry points: ngx_kefu_presence_hello() once the welcome went out,
 * ngx_kefu_presence_bye() when the connection closes.
 */


#include "ngx_kefu_chat.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_presence.h"
#include "ngx_kefu_lease.h"


/* route_up tried again while Redis is not ready (ids, a link), at most */
#define NGX_KEFU_PRESENCE_TRIES   30
#define NGX_KEFU_PRESENCE_AGAIN   1000    /* ms between them */


typedef struct {
    uint64_t                     sid;
    ngx_kefu_site_t             *site;
    ngx_uint_t                   tries;
    ngx_str_t                    id;
    u_char                       data[NGX_KEFU_MAX_ID_LEN];
} ngx_kefu_presence_ctx_t;

/* a connection's route_up to try again */
typedef struct {
    ngx_event_t                  ev;
    ngx_kefu_main_conf_t        *kmcf;
    uint64_t                     sid;
    ngx_uint_t                   tries;
} ngx_kefu_presence_again_t;


static void ngx_kefu_presence_up(ngx_kefu_ws_t *ws, ngx_uint_t tries);
static void ngx_kefu_presence_again(ngx_event_t *ev);
static void ngx_kefu_presence_up_done(ngx_kefu_main_conf_t *kmcf,
    void *data, ngx_int_t code, const char *message, json_t *result);
static void ngx_kefu_presence_down_done(ngx_kefu_main_conf_t *kmcf,
    void *data, ngx_int_t code, const char *message, json_t *result);


/* after welcome */

void
ngx_kefu_presence_hello(ngx_kefu_ws_t *ws)
{
    u_char      chan[sizeof(NGX_KEFU_CH_SITE "}:p") + 64];
    ngx_str_t   channel;

    if (ws->role == NGX_KEFU_ROLE_VISITOR) {
        return;
    }

    channel.data = chan;
    channel.len = ngx_snprintf(chan, sizeof(chan), NGX_KEFU_CH_SITE "%V}:p",
                               &ws->site->name) - chan;
    (void) ngx_kefu_channel_join(ws, &channel, 0);

    if (ws->role != NGX_KEFU_ROLE_AGENT || ws->main_conf->redis == NULL) {
        return;
    }

    ngx_kefu_presence_up(ws, 0);
}


/* the agent's connection counted, its state, groups and capacity set */

static void
ngx_kefu_presence_up(ngx_kefu_ws_t *ws, ngx_uint_t tries)
{
    u_char                    cap[NGX_INT_T_LEN];
    u_char                    sess[16];
    char                     *groups;
    json_t                   *v;
    ngx_str_t                 state;
    ngx_uint_t                capacity;
    ngx_kefu_route_call_t    *call;
    ngx_kefu_presence_ctx_t  *ctx;

    capacity = ws->site->capacity;
    v = ws->claims ? json_object_get(ws->claims, "capacity") : NULL;

    if (json_is_integer(v)) {
        capacity = (ngx_uint_t) ngx_min(json_integer_value(v), 1000);
    }

    /* the state of a first connection: hello's "status", else away */
    if (ws->status_online) {
        ngx_str_set(&state, "online");

    } else {
        ngx_str_set(&state, "away");
    }

    if (ngx_kefu_agent_groups(ws, &groups) != NGX_OK) {
        return;
    }

    ctx = ngx_alloc(sizeof(ngx_kefu_presence_ctx_t), ws->connection->log);
    call = ctx ? ngx_kefu_route_call(ws->main_conf,
                                     &ngx_kefu_script_route_up, ws->site,
                                     ws->session_id,
                                     ngx_kefu_presence_up_done, ctx)
               : NULL;

    if (call == NULL) {
        ngx_free(ctx);
        free(groups);
        return;
    }

    ctx->sid = ws->session_id;
    ctx->site = ws->site;
    ctx->tries = tries;
    ctx->id.data = ctx->data;
    ctx->id.len = ngx_min(ws->user_id.len, NGX_KEFU_MAX_ID_LEN);
    ngx_memcpy(ctx->data, ws->user_id.data, ctx->id.len);

    (void) ngx_kefu_route_arg(call, ws->user_id.data, ws->user_id.len);
    (void) ngx_kefu_route_arg(call, ws->name.data, ws->name.len);
    (void) ngx_kefu_route_arg(call, (u_char *) groups, ngx_strlen(groups));
    (void) ngx_kefu_route_arg(call, cap,
                              ngx_sprintf(cap, "%ui", capacity) - cap);
    (void) ngx_kefu_route_arg(call, state.data, state.len);
    (void) ngx_kefu_route_arg(call, ngx_kefu_lease_token(ws->main_conf), 16);
    (void) ngx_kefu_route_arg(call, sess,
                              ngx_sprintf(sess, "%016xL", ws->session_id)
                              - sess);

    free(groups);

    /*
     * Counted from now on as far as this worker knows: its close removes
     * the record whatever became of this call, and the lease's sync adds
     * it if this call is lost.
     */
    ws->present = 1;

    ngx_kefu_route_run(call);
}


static void
ngx_kefu_presence_up_done(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result)
{
    ngx_kefu_presence_ctx_t  *ctx = data;

    ngx_kefu_ws_t              *ws;
    ngx_kefu_presence_again_t  *again;

    ws = ngx_kefu_local_session(kmcf, ctx->sid);

    if (code < 0) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: agent \"%V\" is not counted present yet: %s",
                      &ctx->id, message);

        /* it may or may not have run: the next tick asserts the truth */
        ngx_kefu_lease_dirty(kmcf);

        /*
         * The lease's sync asserts the connection, not the agent's state
         * and groups: while Redis is not ready (the worker's first second:
         * no id node yet; a link down) route_up is tried again, so that an
         * agent who came early is routed to without reconnecting.
         */
        if (code == NGX_KEFU_ROUTE_UNAVAILABLE && ws && ws->present
            && ctx->tries + 1 < NGX_KEFU_PRESENCE_TRIES)
        {
            again = ngx_calloc(sizeof(ngx_kefu_presence_again_t),
                               ngx_cycle->log);

            if (again) {
                again->kmcf = kmcf;
                again->sid = ctx->sid;
                again->tries = ctx->tries + 1;
                again->ev.handler = ngx_kefu_presence_again;
                again->ev.data = again;
                again->ev.log = ngx_cycle->log;
                /* nothing to finish at an exit: the connection goes too */
                again->ev.cancelable = 1;
                ngx_add_timer(&again->ev, NGX_KEFU_PRESENCE_AGAIN);
            }
        }

    } else if (ws && result) {
        /* gone meanwhile: its close removed the record after this one */
        ngx_kefu_agent_result(ws, result);
    }

    ngx_free(ctx);
}


static void
ngx_kefu_presence_again(ngx_event_t *ev)
{
    ngx_kefu_presence_again_t  *again = ev->data;

    ngx_kefu_ws_t  *ws;

    ws = ngx_kefu_local_session(again->kmcf, again->sid);

    /* still connected (its close would have removed it) */
    if (ws && ws->present) {
        ngx_kefu_presence_up(ws, again->tries);
    }

    ngx_free(again);
}


/* a connection closes */

void
ngx_kefu_presence_bye(ngx_kefu_ws_t *ws)
{
    u_char                  sess[16];
    ngx_kefu_route_call_t  *call;

    if (ws->role != NGX_KEFU_ROLE_AGENT || !ws->present) {
        return;
    }

    ws->present = 0;

    call = ngx_kefu_route_call(ws->main_conf, &ngx_kefu_script_route_down,
                               ws->site, 0, ngx_kefu_presence_down_done,
                               NULL);
    if (call == NULL) {
        ngx_kefu_lease_dirty(ws->main_conf);
        return;
    }

    (void) ngx_kefu_route_arg(call, ws->user_id.data, ws->user_id.len);
    (void) ngx_kefu_route_arg(call, ngx_kefu_lease_token(ws->main_conf), 16);
    (void) ngx_kefu_route_arg(call, sess,
                              ngx_sprintf(sess, "%016xL", ws->session_id)
                              - sess);

    ngx_kefu_route_run(call);
}


/* not heard (Redis not ready, timeout): the next tick's sync removes it */

static void
ngx_kefu_presence_down_done(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result)
{
    if (code < 0) {
        ngx_kefu_lease_dirty(kmcf);
    }
}


