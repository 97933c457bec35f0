
/*
 * The WebSocket side of the agents' actions and the visitor's rating: each
 * handler reads its message, calls the operation of ngx_kefu_route.c and
 * answers the connection from its outcome.  The acting connection is told
 * from the reply (its channels' copies may race its subscriptions); its
 * other connections learn it on their participant channel.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_chat.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_app.h"


#define NGX_KEFU_AGENT_JOIN    1   /* read the conversation from its start */
#define NGX_KEFU_AGENT_LEAVE   2   /* stop reading it */


typedef struct {
    uint64_t                     sid;
    ngx_uint_t                   after;
    size_t                       cid_len;
    u_char                       cid[65];
} ngx_kefu_agent_ctx_t;


static void ngx_kefu_agent_done(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result);


/* the actor of a connection: a supervisor is an admin or says so */

void
ngx_kefu_agent_actor(ngx_kefu_ws_t *ws, ngx_kefu_actor_t *actor)
{
    actor->site = ws->site;
    actor->id = ws->user_id;
    actor->name = ws->name;
    actor->role = ws->role;
    actor->session = ws->session_id;
    actor->supervisor = (ws->role == NGX_KEFU_ROLE_ADMIN)
                        || (ws->role == NGX_KEFU_ROLE_AGENT && ws->claims
                            && json_is_true(json_object_get(ws->claims,
                                                            "supervisor")));
}


/*
 * accept, transfer, close, join, status, rate: the sender's role, the
 * fields and the cid are checked already (ngx_kefu_validate.c)
 */

void
ngx_kefu_agent_action(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    size_t                 n;
    const char            *cid;
    ngx_kefu_actor_t       actor;
    ngx_kefu_agent_ctx_t  *ctx;
    ngx_kefu_route_args_t  args;

    ngx_kefu_agent_actor(ws, &actor);

    ngx_memzero(&args, sizeof(ngx_kefu_route_args_t));

    args.conv = req->conv;
    args.agent = req->agent;
    args.group = req->group;
    args.state = req->state;
    args.comment = req->comment;
    args.score = req->score;

    /* at most 64 (checked), and bounded here too: ctx->cid holds 64 */
    cid = req->cid;
    n = cid ? ngx_min(ngx_strlen(cid), NGX_KEFU_MAX_CID_LEN) : 0;

    ctx = ngx_alloc(sizeof(ngx_kefu_agent_ctx_t), ws->connection->log);
    if (ctx == NULL) {
        ngx_kefu_app_error(ws, "internal", "out of memory", cid);
        return;
    }

    ctx->sid = ws->session_id;
    ctx->cid_len = n;

    if (n) {
        ngx_memcpy(ctx->cid, cid, n);
    }

    ctx->cid[n] = '\0';
    ctx->after = 0;

    switch (req->type) {

    case NGX_KEFU_REQ_ACCEPT:
        ctx->after = NGX_KEFU_AGENT_JOIN;
        ngx_kefu_route_accept(ws->main_conf, &actor, &args,
                              ngx_kefu_agent_done, ctx);
        break;

    case NGX_KEFU_REQ_TRANSFER:
        /* the giver stops reading it; a supervisor keeps watching */
        ctx->after = actor.supervisor ? 0 : NGX_KEFU_AGENT_LEAVE;
        ngx_kefu_route_transfer(ws->main_conf, &actor, &args,
                                ngx_kefu_agent_done, ctx);
        break;

    case NGX_KEFU_REQ_CLOSE:
        ngx_kefu_route_close(ws->main_conf, &actor, &args,
                             ngx_kefu_agent_done, ctx);
        break;

    case NGX_KEFU_REQ_JOIN:
        ctx->after = NGX_KEFU_AGENT_JOIN;
        ngx_kefu_route_join(ws->main_conf, &actor, &args,
                            ngx_kefu_agent_done, ctx);
        break;

    case NGX_KEFU_REQ_STATUS:
        ngx_kefu_route_status(ws->main_conf, &actor, &args,
                              ngx_kefu_agent_done, ctx);
        break;

    case NGX_KEFU_REQ_HANDOFF:
        ngx_kefu_route_handoff(ws->main_conf, &actor, &args,
                               ngx_kefu_agent_done, ctx);
        break;

    default: /* rate */
        ngx_kefu_route_rate(ws->main_conf, &actor, &args,
                            ngx_kefu_agent_done, ctx);
    }
}


static void
ngx_kefu_agent_done(ngx_kefu_main_conf_t *kmcf, void *data, ngx_int_t code,
    const char *message, json_t *result)
{
    ngx_kefu_agent_ctx_t  *ctx = data;

    json_t             *c;
    ngx_str_t           conv;
    const char         *cid;
    ngx_kefu_ws_t      *ws;
    ngx_kefu_member_t  *m;

    ws = ngx_kefu_local_session(kmcf, ctx->sid);
    cid = ctx->cid_len ? (char *) ctx->cid : NULL;

    if (ws == NULL) {
        ngx_free(ctx);
        return;
    }

    if (code < 0) {
        if (code == NGX_KEFU_ROUTE_FORBIDDEN) {
            ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                          "kefu: %s \"%V\" refused: %s",
                          ngx_kefu_role_name(ws->role), &ws->user_id,
                          message);
        }

        ngx_kefu_app_error(ws, ngx_kefu_route_error_code(code), message, cid);
        ngx_free(ctx);
        return;
    }

    if (result) {
        ngx_kefu_agent_result(ws, result);

        c = json_object_get(result, "conv");

        if (ctx->after && json_is_string(c)) {
            conv.data = (u_char *) json_string_value(c);
            conv.len = json_string_length(c);
            m = ngx_kefu_conv_member(ws, &conv);

            if (ctx->after == NGX_KEFU_AGENT_JOIN && m == NULL) {
                (void) ngx_kefu_conv_join(ws, &conv, 0);

            } else if (ctx->after == NGX_KEFU_AGENT_LEAVE && m) {
                ngx_kefu_conv_leave(m);
            }
        }
    }

    ngx_free(ctx);
}


/*
 * A result to its actor's connection: the notice itself, then the notices
 * of conversations the action gave the agent ("assigned", e.g. coming
 * online drained a queue), each joined from its start.
 */

void
ngx_kefu_agent_result(ngx_kefu_ws_t *ws, json_t *result)
{
    size_t      i;
    json_t     *list, *n, *c;
    ngx_str_t   conv;

    list = json_object_get(result, "assigned");

    if (!json_is_array(list)) {
        (void) ngx_kefu_app_send(ws, result);
        ngx_kefu_conv_closed(ws, result);
        return;
    }

    json_incref(list);
    json_object_del(result, "assigned");

    (void) ngx_kefu_app_send(ws, result);

    json_array_foreach(list, i, n) {
        c = json_object_get(n, "conv");

        if (!json_is_string(c)) {
            continue;
        }

        (void) ngx_kefu_app_send(ws, n);

        conv.data = (u_char *) json_string_value(c);
        conv.len = json_string_length(c);

        if (ngx_kefu_conv_member(ws, &conv) == NULL) {
            (void) ngx_kefu_conv_join(ws, &conv, 0);
        }
    }

    json_decref(list);
}


/*
 * The token's "groups" (valid names only), or the site's default group.
 * A JSON array to be freed with free().
 */

ngx_int_t
ngx_kefu_agent_groups(ngx_kefu_ws_t *ws, char **out)
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
