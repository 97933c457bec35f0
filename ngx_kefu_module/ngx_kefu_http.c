
/*
 * One JSON document as the whole HTTP response: every answer of the API,
 * and the errors of a kefu_chat or kefu_status location, go through here,
 * so that they all look the same ({"error":{"code","message"}} for
 * errors, one line ending in LF, application/json, a Content-Length).
 */


#include "ngx_kefu_http.h"


/* j is consumed, also on failure */

ngx_int_t
ngx_kefu_http_json(ngx_http_request_t *r, ngx_uint_t status, json_t *j)
{
    char         *s;
    size_t        len;
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    if (j == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);

    if (s == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    len = ngx_strlen(s);

    b = ngx_create_temp_buf(r->pool, len + 1);
    if (b == NULL) {
        free(s);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->last = ngx_cpymem(b->last, s, len);
    *b->last++ = LF;
    b->last_buf = (r == r->main);
    b->last_in_chain = 1;
    free(s);

    /* an early answer: nothing of the body is wanted any more */
    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    r->headers_out.status = status;
    r->headers_out.content_length_n = len + 1;
    ngx_str_set(&r->headers_out.content_type, "application/json");
    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


ngx_int_t
ngx_kefu_http_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message)
{
    return ngx_kefu_http_json(r, status,
                              json_pack("{s:{s:s,s:s}}", "error", "code", code,
                                        "message", message));
}
