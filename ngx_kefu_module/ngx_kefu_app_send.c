
/*
 * What the chat operations answer a connection: one JSON object as one
 * text frame on its send queue (ngx_kefu_ws_send_text()), and the
 * protocol's "error" message.  Below the operations, beside the
 * transport: the session layer (ngx_kefu_app.c) and the operations both
 * answer through it.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_ws.h"
#include "ngx_kefu_app.h"


/* {"type":"error","code":..,"message":..,"cid":..?}, counted by code */

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
