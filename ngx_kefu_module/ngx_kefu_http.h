
/*
 * The one writer of the module's HTTP answers that carry JSON: the API's
 * documents and errors, the handshake's refusals and kefu_status's errors
 * (ngx_kefu_http.c).  A caller that wants an extra header (Allow, a status
 * line nginx does not know) sets it on r->headers_out first.
 */


#ifndef _NGX_KEFU_HTTP_H_INCLUDED_
#define _NGX_KEFU_HTTP_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>
#include <jansson.h>


ngx_int_t ngx_kefu_http_json(ngx_http_request_t *r, ngx_uint_t status,
    json_t *j);
ngx_int_t ngx_kefu_http_error(ngx_http_request_t *r, ngx_uint_t status,
    const char *code, const char *message);


#endif /* _NGX_KEFU_HTTP_H_INCLUDED_ */
