
/*
 * The application layer: one JSON object per text message, dispatched on
 * its "type" (see shared/protocol.md).  The chat types come with the chat
 * core; until then the transport answers ping and refuses the rest with a
 * contract-conforming error.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_settings.h"


static void ngx_kefu_app_ping(ngx_kefu_ws_t *ws, json_t *msg);
static ngx_int_t ngx_kefu_app_rate(ngx_kefu_ws_t *ws);


void
ngx_kefu_app_message(ngx_kefu_ws_t *ws, u_char *data, size_t len)
{
    json_t        *msg, *type, *cid;
    ngx_int_t      limited;
    const char    *t, *id;
    json_error_t   err;

    /* every message counts against the rate, malformed ones too */
    limited = ngx_kefu_app_rate(ws);

    msg = json_loadb((const char *) data, len, 0, &err);

    cid = json_is_object(msg) ? json_object_get(msg, "cid") : NULL;
    id = json_is_string(cid) ? json_string_value(cid) : NULL;

    if (limited != NGX_OK) {
        ngx_kefu_app_error(ws, "rate_limited", "too many messages, slow down",
                           id);

        /* a client that keeps sending into a full bucket is abusive */
        if (++ws->rate_strikes > ws->conf->burst) {
            ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_RATE_LIMITED, "rate limited");
        }

        goto done;
    }

    ws->rate_strikes = 0;

    if (msg == NULL) {
        ngx_kefu_app_error(ws, "bad_request", "malformed JSON", NULL);
        return;
    }

    if (!json_is_object(msg)) {
        ngx_kefu_app_error(ws, "bad_request", "a message is a JSON object",
                           NULL);
        goto done;
    }

    type = json_object_get(msg, "type");

    if (!json_is_string(type)) {
        ngx_kefu_app_error(ws, "bad_request", "\"type\" must be a string", id);
        goto done;
    }

    t = json_string_value(type);

    if (ngx_strcmp(t, "ping") == 0) {
        ngx_kefu_app_ping(ws, msg);
        goto done;
    }

    if (ngx_strcmp(t, "hello") == 0) {
        ngx_kefu_hello(ws, msg, id);
        goto done;
    }

    if (!ws->hello_done) {
        ngx_kefu_app_error(ws, "unauthorized", "the first message must be "
                           "hello", id);
        ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_UNAUTHORIZED, "hello required");
        goto done;
    }

    if (ngx_strcmp(t, "msg") == 0) {
        ngx_kefu_msg(ws, msg, id);

    } else if (ngx_strcmp(t, "typing") == 0) {
        ngx_kefu_typing(ws, msg, id);

    } else if (ngx_strcmp(t, "read") == 0) {
        ngx_kefu_read(ws, msg, id);

    } else if (ngx_strcmp(t, "history") == 0) {
        ngx_kefu_history(ws, msg, id);

    } else if (ngx_strcmp(t, "page") == 0) {
        ngx_kefu_page(ws, msg, id);

    } else if (ngx_strcmp(t, "accept") == 0) {
        ngx_kefu_accept(ws, msg, id);

    } else if (ngx_strcmp(t, "transfer") == 0) {
        ngx_kefu_transfer(ws, msg, id);

    } else if (ngx_strcmp(t, "close") == 0) {
        ngx_kefu_close(ws, msg, id);

    } else if (ngx_strcmp(t, "join") == 0) {
        ngx_kefu_join(ws, msg, id);

    } else if (ngx_strcmp(t, "status") == 0) {
        ngx_kefu_status(ws, msg, id);

    } else if (ngx_strcmp(t, "rate") == 0) {
        ngx_kefu_rate(ws, msg, id);

    } else if (ngx_strcmp(t, "contact") == 0) {
        ngx_kefu_contact(ws, msg, id);

    } else if (ngx_strcmp(t, "queue") == 0) {
        ngx_kefu_queue(ws, msg, id);

    } else if (ngx_strcmp(t, "settings") == 0) {
        ngx_kefu_settings_ws(ws, msg, id);

    } else {
        ngx_kefu_app_error(ws, "bad_request", "unknown message type", id);
    }

done:

    if (msg) {
        json_decref(msg);
    }
}


static void
ngx_kefu_app_ping(ngx_kefu_ws_t *ws, json_t *msg)
{
    json_t  *id, *pong;

    id = json_object_get(msg, "id");

    if (id && !json_is_string(id)) {
        ngx_kefu_app_error(ws, "bad_request", "\"id\" must be a string", NULL);
        return;
    }

    pong = json_pack("{s:s}", "type", "pong");
    if (pong == NULL) {
        return;
    }

    if (id) {
        json_object_set(pong, "id", id);
    }

    ngx_kefu_app_send(ws, pong);
    json_decref(pong);
}


void
ngx_kefu_app_error(ngx_kefu_ws_t *ws, const char *code, const char *message,
    const char *cid)
{
    json_t  *err;

    ngx_kefu_stat_error(ws->main_conf, code);

    err = json_pack("{s:s,s:s,s:s}", "type", "error", "code", code,
                    "message", message);
    if (err == NULL) {
        return;
    }

    if (cid) {
        json_object_set_new(err, "cid", json_string(cid));
    }

    ngx_kefu_app_send(ws, err);
    json_decref(err);
}


/* one JSON object as one text frame on the connection's queue */

ngx_int_t
ngx_kefu_app_send(ngx_kefu_ws_t *ws, json_t *msg)
{
    char       *s;
    size_t      len;
    ngx_int_t   rc;

    s = json_dumps(msg, JSON_COMPACT);
    if (s == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(s);
    rc = ngx_kefu_ws_send_text(ws, (u_char *) s, len);

    free(s);

    return rc;
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
