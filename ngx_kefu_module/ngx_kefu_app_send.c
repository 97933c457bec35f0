
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


/* an error's frame that needs no allocation (a cid's worst case fits) */
#define NGX_KEFU_APP_ERROR_LEN  1024


static size_t ngx_kefu_app_json_len(const char *s);
static u_char *ngx_kefu_app_json_str(u_char *p, const char *s);


/*
 * {"type":"error","code":..,"message":..,"cid":..?}, counted by code.
 * Written here, not packed and dumped by jansson: past saturation nearly
 * every message is answered so, and jansson's objects, allocations and
 * dump were a quarter of a refused message's instructions (issue 18).
 * The bytes are json_dumps()'s (JSON_COMPACT, keys in this order).
 */

void
ngx_kefu_app_error(ngx_kefu_ws_t *ws, const char *code, const char *message,
    const char *cid)
{
    u_char  *p, *buf;
    size_t   len;
    u_char   stack[NGX_KEFU_APP_ERROR_LEN];

    ngx_kefu_stat_error(ws->main_conf, code);

    if (code == NULL || message == NULL) {
        /* as json_pack() refused it: nothing sent */
        return;
    }

    len = sizeof("{\"type\":\"error\",\"code\":\"\",\"message\":\"\"}") - 1
          + ngx_kefu_app_json_len(code) + ngx_kefu_app_json_len(message);

    if (cid) {
        len += sizeof(",\"cid\":\"\"") - 1 + ngx_kefu_app_json_len(cid);
    }

    buf = stack;

    if (len > sizeof(stack)) {
        buf = ngx_alloc(len, ws->connection->log);
        if (buf == NULL) {
            return;
        }
    }

    p = ngx_cpymem(buf, "{\"type\":\"error\",\"code\":\"",
                   sizeof("{\"type\":\"error\",\"code\":\"") - 1);
    p = ngx_kefu_app_json_str(p, code);
    p = ngx_cpymem(p, "\",\"message\":\"", sizeof("\",\"message\":\"") - 1);
    p = ngx_kefu_app_json_str(p, message);

    if (cid) {
        p = ngx_cpymem(p, "\",\"cid\":\"", sizeof("\",\"cid\":\"") - 1);
        p = ngx_kefu_app_json_str(p, cid);
    }

    *p++ = '"';
    *p++ = '}';

    (void) ngx_kefu_ws_send_text(ws, buf, p - buf);

    if (buf != stack) {
        ngx_free(buf);
    }
}


/*
 * A string's bytes as jansson dumps them: '"', '\\' and control
 * characters escaped, the rest (UTF-8, as parsed) as it is
 */

static size_t
ngx_kefu_app_json_len(const char *s)
{
    size_t  len;
    u_char  c;

    for (len = 0; *s; s++) {
        c = (u_char) *s;

        if (c == '"' || c == '\\' || c == '\b' || c == '\f' || c == '\n'
            || c == '\r' || c == '\t')
        {
            len += 2;

        } else if (c < 0x20) {
            len += sizeof("\\u0000") - 1;

        } else {
            len++;
        }
    }

    return len;
}


static u_char *
ngx_kefu_app_json_str(u_char *p, const char *s)
{
    u_char         c;
    static u_char  hex[] = "0123456789ABCDEF";

    for ( /* void */ ; *s; s++) {
        c = (u_char) *s;

        switch (c) {

        case '"':
        case '\\':
            *p++ = '\\';
            *p++ = c;
            continue;

        case '\b':
            *p++ = '\\';
            *p++ = 'b';
            continue;

        case '\f':
            *p++ = '\\';
            *p++ = 'f';
            continue;

        case '\n':
            *p++ = '\\';
            *p++ = 'n';
            continue;

        case '\r':
            *p++ = '\\';
            *p++ = 'r';
            continue;

        case '\t':
            *p++ = '\\';
            *p++ = 't';
            continue;
        }

        if (c < 0x20) {
            p = ngx_cpymem(p, "\\u00", sizeof("\\u00") - 1);
            *p++ = hex[c >> 4];
            *p++ = hex[c & 0xf];
            continue;
        }

        *p++ = c;
    }

    return p;
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
