
/*
 * Presence of agents (docs/routing.md).  Every agent connection counts in
 * Redis (conns) from its welcome to its close; agents and admins listen to
 * the site's presence channel.  When an agent's last connection closes,
 * this worker waits the site's grace period and then asks Redis to make
 * the agent offline, which happens only if no connection came back
 * meanwhile (the epoch counts connects), so a page reload changes nothing.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_zone.h"


typedef struct {
    ngx_event_t                  ev;
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_site_t             *site;
    size_t                       epoch_len;
    u_char                       epoch[NGX_INT64_LEN];
    size_t                       id_len;
    u_char                       id[NGX_KEFU_MAX_ID_LEN];
} ngx_kefu_grace_t;


typedef struct {
    uint64_t                     sid;
    ngx_kefu_site_t             *site;
    ngx_str_t                    id;
    u_char                       data[NGX_KEFU_MAX_ID_LEN];
} ngx_kefu_presence_ctx_t;


static void ngx_kefu_presence_up_done(ngx_kefu_main_conf_t *kmcf,
    void *data, ngx_int_t code, const char *message, json_t *result);
static ngx_int_t ngx_kefu_presence_groups(ngx_kefu_ws_t *ws, char **out);
static void ngx_kefu_presence_down(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *id);
static void ngx_kefu_presence_down_handler(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_presence_expire(ngx_event_t *ev);


/* after welcome */

void
ngx_kefu_presence_hello(ngx_kefu_ws_t *ws)
{
    u_char                  chan[sizeof("kefu:p:") + 64], cap[NGX_INT_T_LEN];
    char                     *groups;
    json_t                   *v;
    ngx_str_t                 channel, state;
    ngx_uint_t                capacity;
    ngx_kefu_route_call_t    *call;
    ngx_kefu_presence_ctx_t  *ctx;

    if (ws->role == NGX_KEFU_ROLE_VISITOR) {
        return;
    }

    channel.data = chan;
    channel.len = ngx_snprintf(chan, sizeof(chan), "kefu:p:%V",
                               &ws->site->name) - chan;
    (void) ngx_kefu_channel_join(ws, &channel, 0);

    if (ws->role != NGX_KEFU_ROLE_AGENT || ws->main_conf->redis == NULL) {
        return;
    }

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

    if (ngx_kefu_presence_groups(ws, &groups) != NGX_OK) {
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
    ctx->id.data = ctx->data;
    ctx->id.len = ngx_min(ws->user_id.len, NGX_KEFU_MAX_ID_LEN);
    ngx_memcpy(ctx->data, ws->user_id.data, ctx->id.len);

    (void) ngx_kefu_route_arg(call, ws->user_id.data, ws->user_id.len);
    (void) ngx_kefu_route_arg(call, ws->name.data, ws->name.len);
    (void) ngx_kefu_route_arg(call, (u_char *) groups, ngx_strlen(groups));
    (void) ngx_kefu_route_arg(call, cap,
                              ngx_sprintf(cap, "%ui", capacity) - cap);
    (void) ngx_kefu_route_arg(call, state.data, state.len);

    free(groups);

    ngx_kefu_route_run(call);
}


/*
 * The token's "groups" (valid names only), or the site's default group.
 * A JSON array to be freed with free().
 */

static ngx_int_t
ngx_kefu_presence_groups(ngx_kefu_ws_t *ws, char **out)
{
    size_t   i;
    json_t  *claim, *g, *a;

    a = json_array();
    if (a == NULL) {
        return NGX_ERROR;
    }

    claim = ws->claims ? json_object_get(ws->claims, "groups") : NULL;

    json_array_foreach(claim, i, g) {
        if (!json_is_string(g) || json_string_length(g) > 64
            || ngx_kefu_valid_id((u_char *) json_string_value(g),
                                 json_string_length(g))
               != NGX_OK
            || json_array_size(a) >= 32)
        {
            ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                          "kefu: agent \"%V\": a group of its token is "
                          "not a group name or one too many, ignored",
                          &ws->user_id);
            continue;
        }

        json_array_append(a, g);
    }

    if (claim == NULL) {
        json_array_append_new(a, json_stringn((char *)
                                              ws->site->default_group.data,
                                              ws->site->default_group.len));
    }

    *out = json_dumps(a, JSON_COMPACT);
    json_decref(a);

    return *out ? NGX_OK : NGX_ERROR;
}


static void
ngx_kefu_presence_up_done(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result)
{
    ngx_kefu_presence_ctx_t  *ctx = data;

    ngx_kefu_ws_t  *ws;

    ws = ngx_kefu_local_session(kmcf, ctx->sid);

    if (code < 0) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: agent \"%V\" is not counted present: %s",
                      &ctx->id, message);

    } else if (ws == NULL) {
        /* it left before Redis counted it: it counts no longer */
        ngx_kefu_presence_down(kmcf, ctx->site, &ctx->id);

    } else {
        ws->present = 1;

        if (result) {
            ngx_kefu_agent_result(ws, result);
        }
    }

    ngx_free(ctx);
}


/* a connection closes */

void
ngx_kefu_presence_bye(ngx_kefu_ws_t *ws)
{
    if (ws->role != NGX_KEFU_ROLE_AGENT || !ws->present) {
        return;
    }

    ws->present = 0;
    ngx_kefu_presence_down(ws->main_conf, ws->site, &ws->user_id);
}


static void
ngx_kefu_presence_down(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *id)
{
    ngx_kefu_route_call_t  *call;

    call = ngx_kefu_route_call(kmcf, &ngx_kefu_script_route_down, site, 0,
                               NULL, NULL);
    if (call == NULL) {
        return;
    }

    call->handler = ngx_kefu_presence_down_handler;

    (void) ngx_kefu_route_arg(call, id->data, id->len);

    ngx_kefu_route_run(call);
}


/* {conns, epoch}: the last connection went, the grace period starts */

static void
ngx_kefu_presence_down_handler(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_route_call_t  *call = data;

    ngx_kefu_grace_t  *g;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[0]->integer != 0
        || reply->element[1]->type != REDIS_REPLY_STRING
        || reply->element[1]->len > NGX_INT64_LEN
        || call->lens[6] > NGX_KEFU_MAX_ID_LEN)
    {
        ngx_free(call);
        return;
    }

    g = ngx_calloc(sizeof(ngx_kefu_grace_t), ngx_cycle->log);
    if (g == NULL) {
        ngx_free(call);
        return;
    }

    g->kmcf = call->kmcf;
    g->site = call->site;
    g->epoch_len = reply->element[1]->len;
    ngx_memcpy(g->epoch, reply->element[1]->str, g->epoch_len);
    g->id_len = call->lens[6];
    ngx_memcpy(g->id, call->argv[6], g->id_len);

    g->ev.handler = ngx_kefu_presence_expire;
    g->ev.data = g;
    g->ev.log = ngx_cycle->log;

    /* a worker that exits does not wait: routing skips stale agents */
    g->ev.cancelable = 1;

    ngx_add_timer(&g->ev, g->site->grace ? g->site->grace : 1);

    ngx_free(call);
}


static void
ngx_kefu_presence_expire(ngx_event_t *ev)
{
    ngx_kefu_grace_t  *g = ev->data;

    ngx_kefu_route_call_t  *call;

    /* what ops (and tests) see of a grace period: its end */
    ngx_log_error(NGX_LOG_INFO, ev->log, 0,
                  "kefu: grace period of agent \"%*s\" over, checking it",
                  g->id_len, g->id);

    call = ngx_kefu_route_call(g->kmcf, &ngx_kefu_script_route_expire,
                               g->site, 0, NULL, NULL);
    if (call) {
        (void) ngx_kefu_route_arg(call, g->id, g->id_len);
        (void) ngx_kefu_route_arg(call, g->epoch, g->epoch_len);
        ngx_kefu_route_run(call);
    }

    ngx_free(g);
}


/*
 * The session zone mirrors, for each agent session of this host, what its
 * connection last heard of its agent: the state (a presence event or
 * reply) and the load (the conv notices agents get carry it).
 */

void
ngx_kefu_presence_mirror(ngx_kefu_ws_t *ws, json_t *n)
{
    json_t      *t, *a, *v;
    ngx_int_t    state, load;
    const char  *s;

    if (ws->role != NGX_KEFU_ROLE_AGENT || !ws->registered || n == NULL) {
        return;
    }

    t = json_object_get(n, "type");
    a = json_object_get(n, "agent");

    if (json_is_object(a)) {
        a = json_object_get(a, "id");
    }

    if (!json_is_string(t) || !json_is_string(a)
        || json_string_length(a) != ws->user_id.len
        || ngx_strncmp(json_string_value(a), ws->user_id.data,
                       ws->user_id.len) != 0)
    {
        return;
    }

    state = -1;
    load = -1;

    if (ngx_strcmp(json_string_value(t), "presence") == 0) {
        v = json_object_get(n, "state");
        s = json_is_string(v) ? json_string_value(v) : "";

        state = ngx_strcmp(s, "online") == 0 ? NGX_KEFU_PRESENCE_ONLINE
                : ngx_strcmp(s, "away") == 0 ? NGX_KEFU_PRESENCE_AWAY
                : ngx_strcmp(s, "offline") == 0 ? NGX_KEFU_PRESENCE_OFFLINE
                : NGX_KEFU_PRESENCE_UNKNOWN;
    }

    v = json_object_get(n, "load");

    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        load = (ngx_int_t) json_integer_value(v);
    }

    if (state >= 0 || load >= 0) {
        ngx_kefu_zone_session_agent(ws->main_conf->zone, ws->session_id,
                                    state, load);
    }
}
