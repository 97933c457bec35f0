
/*
 * The application layer: one JSON object per text message, checked by
 * ngx_kefu_validate.c (what needs only the message and its sender) and
 * dispatched on its "type" (see shared/protocol.md) to the handlers, which
 * check what needs more.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_chat.h"
#include "ngx_kefu_settings.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_validate.h"
#include "ngx_kefu_app.h"
#include "ngx_kefu_hello.h"


static void ngx_kefu_app_ping(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req);
static ngx_int_t ngx_kefu_app_rate(ngx_kefu_ws_t *ws);
static void ngx_kefu_app_dispatch(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req);


void
ngx_kefu_app_message(ngx_kefu_ws_t *ws, u_char *data, size_t len)
{
    ngx_int_t          limited;
    ngx_kefu_req_t     req;
    ngx_kefu_actor_t   actor;
    ngx_kefu_sender_t  sender;

    /* every message counts against the rate, malformed ones too */
    limited = ngx_kefu_app_rate(ws);

    ngx_kefu_agent_actor(ws, &actor);

    sender.role = ws->role;
    sender.supervisor = actor.supervisor;
    sender.max_text = ws->conf->max_text;
    sender.max_attrs = ws->conf->max_attrs;

    /* what needs only the message itself: ngx_kefu_validate.c */
    ngx_kefu_validate(data, len, &sender, &req);

    if (limited != NGX_OK) {
        ngx_kefu_app_error(ws, "rate_limited", "too many messages, slow down",
                           req.cid);

        /* a client that keeps sending into a full bucket is abusive */
        if (++ws->rate_strikes > ws->conf->burst) {
            ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_RATE_LIMITED, "rate limited");
        }

        goto done;
    }

    ws->rate_strikes = 0;

    switch (req.type) {

    case NGX_KEFU_REQ_NONE:
        ngx_kefu_app_error(ws, req.code, req.message, req.error_cid);
        goto done;

    case NGX_KEFU_REQ_PING:
        ngx_kefu_app_ping(ws, &req);
        goto done;

    case NGX_KEFU_REQ_HELLO:
        ngx_kefu_hello(ws, &req);
        goto done;
    }

    if (!ws->hello_done) {
        ngx_kefu_app_error(ws, "unauthorized", "the first message must be "
                           "hello", req.cid);
        ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_UNAUTHORIZED, "hello required");
        goto done;
    }

    if (req.code) {
        if (req.type == NGX_KEFU_REQ_MSG) {
            ngx_kefu_msg_refused(ws, &req);

        } else {
            ngx_kefu_app_error(ws, req.code, req.message, req.error_cid);
        }

        goto done;
    }

    ngx_kefu_app_dispatch(ws, &req);

done:

    ngx_kefu_validate_free(&req);
}


/* a valid request of a session that said hello: to the part that does it */

static void
ngx_kefu_app_dispatch(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    switch (req->type) {

    case NGX_KEFU_REQ_MSG:
        ngx_kefu_msg(ws, req);
        break;

    case NGX_KEFU_REQ_TYPING:
        ngx_kefu_typing(ws, req);
        break;

    case NGX_KEFU_REQ_READ:
        ngx_kefu_read(ws, req);
        break;

    case NGX_KEFU_REQ_HISTORY:
        ngx_kefu_history(ws, req);
        break;

    case NGX_KEFU_REQ_PAGE:
        ngx_kefu_page(ws, req->page, req->cid);
        break;

    case NGX_KEFU_REQ_CONTACT:
        ngx_kefu_contact(ws, req);
        break;

    case NGX_KEFU_REQ_SETTINGS:
        ngx_kefu_settings_ws(ws, req);
        break;

    case NGX_KEFU_REQ_QUEUE:
        ngx_kefu_queue(ws, req);
        break;

    default: /* accept, transfer, close, join, status, rate, handoff */
        ngx_kefu_agent_action(ws, req);
    }
}


static void
ngx_kefu_app_ping(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    json_t  *pong;

    if (req->code) {
        ngx_kefu_app_error(ws, req->code, req->message, req->error_cid);
        return;
    }

    pong = json_pack("{s:s}", "type", "pong");
    if (pong == NULL) {
        return;
    }

    if (req->id) {
        json_object_set(pong, "id", req->id);
    }

    ngx_kefu_app_send(ws, pong);
    json_decref(pong);
}


/* a token bucket: kefu_message_rate per second, up to its burst */

static ngx_int_t
ngx_kefu_app_rate(ngx_kefu_ws_t *ws)
{
    uint64_t    max;
    ngx_msec_t  now, elapsed;

    now = ngx_current_msec;
    elapsed = now - ws->rate_last;
    ws->rate_last = now;

    max = (uint64_t) ws->conf->burst * 1000000;

    ws->rate_tokens += (uint64_t) elapsed * ws->conf->rate * 1000;

    if (ws->rate_tokens > max) {
        ws->rate_tokens = max;
    }

    if (ws->rate_tokens < 1000000) {
        ngx_kefu_stat_inc(ws->main_conf, rate_limited);
        return NGX_DECLINED;
    }

    ws->rate_tokens -= 1000000;

    return NGX_OK;
}
