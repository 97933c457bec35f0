
/*
 * The HTTP side of a kefu_chat location: validate the RFC 6455 opening
 * handshake and answer anything that is not one with a plain HTTP error
 * (JSON body), never a hang.  A good handshake is handed to
 * ngx_kefu_ws_start(), which takes the connection over.
 */


#include "ngx_kefu_ws.h"
#include "ngx_kefu_http.h"
#include "ngx_kefu_session.h"
#include "ngx_kefu_status.h"
#include "ngx_kefu_handshake.h"
#include "ngx_kefu_app.h"
#include <ngx_sha1.h>


#define NGX_KEFU_WS_GUID  "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


/* a walk over the request's headers (ngx_kefu_header_next()) */
typedef struct {
    ngx_list_part_t  *part;
    ngx_uint_t        i;
} ngx_kefu_header_iter_t;


static ngx_int_t ngx_kefu_handshake_error(ngx_http_request_t *r,
    ngx_uint_t status, const char *code, const char *message);
static ngx_int_t ngx_kefu_handshake_check_upgrade(ngx_http_request_t *r);
static ngx_int_t ngx_kefu_handshake_check_key(ngx_http_request_t *r,
    ngx_str_t *key);
static ngx_int_t ngx_kefu_handshake_response(ngx_http_request_t *r,
    ngx_str_t *key, ngx_uint_t subprotocol, ngx_str_t *response);
static ngx_int_t ngx_kefu_header_has_token(ngx_http_request_t *r,
    const char *name, const char *token);
static ngx_table_elt_t *ngx_kefu_find_header(ngx_http_request_t *r,
    const char *name, ngx_uint_t *count);
static ngx_table_elt_t *ngx_kefu_header_next(ngx_http_request_t *r,
    const char *name, ngx_kefu_header_iter_t *it);
static ngx_int_t ngx_kefu_origin_allowed(ngx_http_request_t *r,
    ngx_kefu_loc_conf_t *kcf);
static ngx_int_t ngx_kefu_add_header(ngx_http_request_t *r, const char *name,
    const char *value);


/* the session layer above the transport this handshake starts */
static const ngx_kefu_ws_handlers_t  ngx_kefu_handshake_ws = {
    ngx_kefu_log_save,
    ngx_kefu_app_message,
    ngx_kefu_session_close
};


ngx_int_t
ngx_kefu_handshake_handler(ngx_http_request_t *r)
{
    ngx_int_t              rc;
    ngx_str_t              key, response;
    ngx_uint_t             subprotocol;
    ngx_kefu_main_conf_t  *kmcf;
    ngx_kefu_loc_conf_t   *kcf;

    kcf = ngx_http_get_module_loc_conf(r, ngx_kefu_module);
    kmcf = ngx_http_get_module_main_conf(r, ngx_kefu_module);

    if (r != r->main) {
        return ngx_kefu_handshake_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                        "a WebSocket cannot be a subrequest");
    }

    rc = ngx_kefu_handshake_check_upgrade(r);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    rc = ngx_kefu_handshake_check_key(r, &key);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    /* a WebSocket GET has no body; its bytes would be taken for frames */

    if (r->headers_in.content_length_n > 0 || r->headers_in.chunked) {
        return ngx_kefu_handshake_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                        "a WebSocket handshake has no body");
    }

    if (ngx_kefu_origin_allowed(r, kcf) != NGX_OK) {
        return ngx_kefu_handshake_error(r, NGX_HTTP_FORBIDDEN, "forbidden",
                                        "origin not allowed");
    }

    subprotocol = (ngx_kefu_header_has_token(r, "Sec-WebSocket-Protocol",
                                             NGX_KEFU_SUBPROTOCOL)
                   == NGX_OK);

    if (ngx_kefu_handshake_response(r, &key, subprotocol, &response)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_kefu_ws_start(r, &response, &ngx_kefu_handshake_ws) != NGX_OK) {
        ngx_kefu_stat_inc(kmcf, handshake_failures);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_kefu_stat_inc(kmcf, handshakes);

    /* the request is kept until the takeover runs, see ngx_kefu_ws.c */
    r->main->count++;

    return NGX_DONE;
}


/* GET, HTTP/1.1, Upgrade: websocket, version 13: else the refusal */

static ngx_int_t
ngx_kefu_handshake_check_upgrade(ngx_http_request_t *r)
{
    ngx_uint_t        count;
    ngx_table_elt_t  *h;

    if (r->method != NGX_HTTP_GET) {
        if (ngx_kefu_add_header(r, "Allow", "GET") != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_kefu_handshake_error(r, NGX_HTTP_NOT_ALLOWED,
                                        "method_not_allowed",
                                        "the chat endpoint takes a WebSocket "
                                        "upgrade (GET)");
    }

    if (ngx_kefu_header_has_token(r, "Upgrade", "websocket") != NGX_OK) {
        if (ngx_kefu_add_header(r, "Upgrade", "websocket") != NGX_OK
            || ngx_kefu_add_header(r, "Sec-WebSocket-Version", "13") != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_kefu_handshake_error(r, 426, "upgrade_required",
                                        "this is a WebSocket endpoint: "
                                        "send Upgrade: websocket");
    }

#if (NGX_HTTP_V2)
    if (r->stream) {
        return ngx_kefu_handshake_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                        "WebSocket needs HTTP/1.1");
    }
#endif

    if (r->http_version < NGX_HTTP_VERSION_11) {
        return ngx_kefu_handshake_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                        "WebSocket needs HTTP/1.1");
    }

    if (ngx_kefu_header_has_token(r, "Connection", "upgrade") != NGX_OK) {
        return ngx_kefu_handshake_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                        "Connection must include upgrade");
    }

    h = ngx_kefu_find_header(r, "Sec-WebSocket-Version", &count);

    if (h == NULL || count != 1 || h->value.len != 2
        || ngx_strncmp(h->value.data, "13", 2) != 0)
    {
        if (ngx_kefu_add_header(r, "Sec-WebSocket-Version", "13") != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_kefu_handshake_error(r, 426, "upgrade_required",
                                        "Sec-WebSocket-Version must be 13");
    }

    return NGX_DECLINED;
}


/* the key: base64 of exactly 16 bytes, so 24 characters */

static ngx_int_t
ngx_kefu_handshake_check_key(ngx_http_request_t *r, ngx_str_t *key)
{
    u_char            keybuf[32];
    ngx_str_t         decoded;
    ngx_uint_t        count;
    ngx_table_elt_t  *h;

    h = ngx_kefu_find_header(r, "Sec-WebSocket-Key", &count);

    if (h == NULL || count != 1 || h->value.len != 24) {
        return ngx_kefu_handshake_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                        "Sec-WebSocket-Key must be a base64 "
                                        "16-byte value");
    }

    *key = h->value;
    decoded.data = keybuf;

    if (ngx_decode_base64(&decoded, key) != NGX_OK || decoded.len != 16) {
        return ngx_kefu_handshake_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                        "Sec-WebSocket-Key must be a base64 "
                                        "16-byte value");
    }

    return NGX_DECLINED;
}


/* the 101 with Sec-WebSocket-Accept, sent by the takeover */

static ngx_int_t
ngx_kefu_handshake_response(ngx_http_request_t *r, ngx_str_t *key,
    ngx_uint_t subprotocol, ngx_str_t *response)
{
    u_char      sha1[20], *p, *accept_key;
    ngx_str_t   src, dst;
    ngx_sha1_t  sha;

    ngx_sha1_init(&sha);
    ngx_sha1_update(&sha, key->data, key->len);
    ngx_sha1_update(&sha, NGX_KEFU_WS_GUID, sizeof(NGX_KEFU_WS_GUID) - 1);
    ngx_sha1_final(sha1, &sha);

    accept_key = ngx_pnalloc(r->pool, ngx_base64_encoded_length(20));
    if (accept_key == NULL) {
        return NGX_ERROR;
    }

    src.data = sha1;
    src.len = 20;
    dst.data = accept_key;
    ngx_encode_base64(&dst, &src);

    response->len = sizeof("HTTP/1.1 101 Switching Protocols" CRLF
                          "Upgrade: websocket" CRLF
                          "Connection: Upgrade" CRLF
                          "Sec-WebSocket-Accept: " CRLF
                          "Sec-WebSocket-Protocol: " NGX_KEFU_SUBPROTOCOL CRLF
                          CRLF) - 1
                   + dst.len;

    response->data = ngx_pnalloc(r->pool, response->len);
    if (response->data == NULL) {
        return NGX_ERROR;
    }

    p = ngx_cpymem(response->data,
                   "HTTP/1.1 101 Switching Protocols" CRLF
                   "Upgrade: websocket" CRLF
                   "Connection: Upgrade" CRLF
                   "Sec-WebSocket-Accept: ",
                   sizeof("HTTP/1.1 101 Switching Protocols" CRLF
                          "Upgrade: websocket" CRLF
                          "Connection: Upgrade" CRLF
                          "Sec-WebSocket-Accept: ") - 1);
    p = ngx_cpymem(p, dst.data, dst.len);
    *p++ = CR; *p++ = LF;

    if (subprotocol) {
        p = ngx_cpymem(p, "Sec-WebSocket-Protocol: " NGX_KEFU_SUBPROTOCOL CRLF,
                       sizeof("Sec-WebSocket-Protocol: " NGX_KEFU_SUBPROTOCOL
                              CRLF) - 1);
    }

    *p++ = CR; *p++ = LF;
    response->len = p - response->data;

    return NGX_OK;
}


static ngx_int_t
ngx_kefu_handshake_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    ngx_kefu_main_conf_t  *kmcf;

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "kefu: handshake refused with %ui: %s", status, message);

    kmcf = ngx_http_get_module_main_conf(r, ngx_kefu_module);
    ngx_kefu_stat_inc(kmcf, handshake_failures);

    if (status == 426) {
        /* nginx has no line of its own for 426 */
        ngx_str_set(&r->headers_out.status_line, "426 Upgrade Required");
    }

    return ngx_kefu_http_error(r, status, code, message);
}


/*
 * The request's headers of one name, one after another: it starts from
 * it->part NULL and returns NULL after the last.
 */

static ngx_table_elt_t *
ngx_kefu_header_next(ngx_http_request_t *r, const char *name,
    ngx_kefu_header_iter_t *it)
{
    size_t            len;
    ngx_table_elt_t  *h;

    if (it->part == NULL) {
        it->part = &r->headers_in.headers.part;
        it->i = 0;
    }

    len = ngx_strlen(name);

    for ( ;; ) {

        if (it->i >= it->part->nelts) {
            if (it->part->next == NULL) {
                return NULL;
            }

            it->part = it->part->next;
            it->i = 0;
            continue;
        }

        h = (ngx_table_elt_t *) it->part->elts + it->i++;

        if (h->key.len == len
            && ngx_strncasecmp(h->key.data, (u_char *) name, len) == 0)
        {
            return h;
        }
    }
}


/* the first header of that name; count says how many there were */

static ngx_table_elt_t *
ngx_kefu_find_header(ngx_http_request_t *r, const char *name,
    ngx_uint_t *count)
{
    ngx_table_elt_t         *h, *found;
    ngx_kefu_header_iter_t   it;

    it.part = NULL;
    found = NULL;
    *count = 0;

    while ((h = ngx_kefu_header_next(r, name, &it))) {
        if (found == NULL) {
            found = h;
        }

        (*count)++;
    }

    return found;
}


/*
 * Whether any header of that name holds the token in its comma-separated
 * list, compared case-insensitively (RFC 6455 section 4.2.1).
 */

static ngx_int_t
ngx_kefu_header_has_token(ngx_http_request_t *r, const char *name,
    const char *token)
{
    u_char                  *p, *last, *start, *end;
    size_t                   tlen;
    ngx_table_elt_t         *h;
    ngx_kefu_header_iter_t   it;

    tlen = ngx_strlen(token);
    it.part = NULL;

    while ((h = ngx_kefu_header_next(r, name, &it))) {
        p = h->value.data;
        last = p + h->value.len;

        while (p < last) {
            start = p;

            while (p < last && *p != ',') {
                p++;
            }

            end = p++;

            while (start < end && (*start == ' ' || *start == '\t')) {
                start++;
            }

            while (end > start && (end[-1] == ' ' || end[-1] == '\t')) {
                end--;
            }

            if ((size_t) (end - start) == tlen
                && ngx_strncasecmp(start, (u_char *) token, tlen) == 0)
            {
                return NGX_OK;
            }
        }
    }

    return NGX_DECLINED;
}


/*
 * With kefu_allowed_origins set, a browser (which always sends Origin on a
 * WebSocket handshake) must come from a listed origin.  Clients that are not
 * browsers send no Origin and are not subject to cross-site hijacking.
 */

static ngx_int_t
ngx_kefu_origin_allowed(ngx_http_request_t *r, ngx_kefu_loc_conf_t *kcf)
{
    ngx_str_t        *o;
    ngx_uint_t        i, count;
    ngx_table_elt_t  *h;

    if (kcf->origins == NULL) {
        return NGX_OK;
    }

    h = ngx_kefu_find_header(r, "Origin", &count);

    if (h == NULL) {
        return NGX_OK;
    }

    if (count != 1) {
        return NGX_DECLINED;
    }

    o = kcf->origins->elts;

    for (i = 0; i < kcf->origins->nelts; i++) {
        if (o[i].len == 1 && o[i].data[0] == '*') {
            return NGX_OK;
        }

        if (o[i].len == h->value.len
            && ngx_strncasecmp(o[i].data, h->value.data, o[i].len) == 0)
        {
            return NGX_OK;
        }
    }

    return NGX_DECLINED;
}


static ngx_int_t
ngx_kefu_add_header(ngx_http_request_t *r, const char *name,
    const char *value)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = (u_char *) value;
    h->value.len = ngx_strlen(value);

    return NGX_OK;
}
