
/*
 * The upload request's own state, shared by its files and by nobody
 * else: ngx_kefu_upload.c (the request, the copy, the scan, the store)
 * and ngx_kefu_upload_multipart.c (a multipart/form-data body).
 */


#ifndef _NGX_KEFU_UPLOAD_INT_H_INCLUDED_
#define _NGX_KEFU_UPLOAD_INT_H_INCLUDED_


#include "ngx_kefu_api.h"
#include "ngx_kefu_upload.h"
#include "ngx_kefu_attach.h"
#include <openssl/evp.h>


typedef struct {
    ngx_kefu_api_t               api;       /* first: the API's helpers */
    ngx_kefu_upload_conf_t      *ucf;
    ngx_kefu_upload_limits_t    *limits;
    ngx_http_request_t          *r;
    ngx_uint_t                   role;
    ngx_str_t                    who;        /* v:<id>, a:<id>, m:<id>, api */
    ngx_str_t                    id;         /* the token's sub */
    ngx_str_t                    conv;
    ngx_str_t                    boundary;   /* multipart's, with "\r\n--" */
    ngx_kefu_attach_t            att;
    ngx_file_t                  *in;         /* the body's temporary file */
    off_t                        pos;
    off_t                        end;
    ngx_fd_t                     fd;         /* ours, in <site>/tmp */
    u_char                      *tmp;        /* its path, NUL-terminated */
    u_char                      *head;
    size_t                       head_len;
    u_char                      *chunk;
    EVP_MD_CTX                  *md;
    ngx_event_t                  ev;
    ngx_kefu_scan_t             *scan;
    time_t                       started;
    int64_t                      hour;       /* the quota's clock hour */
    unsigned                     typed:1;
    unsigned                     stored:1;
} ngx_kefu_upload_t;


/* ngx_kefu_upload.c */
ngx_int_t ngx_kefu_upload_name(ngx_http_request_t *r, ngx_kefu_upload_t *u,
    ngx_str_t *raw);

/* ngx_kefu_upload_multipart.c */
ngx_int_t ngx_kefu_upload_boundary(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
ngx_int_t ngx_kefu_upload_multipart(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);


#endif /* _NGX_KEFU_UPLOAD_INT_H_INCLUDED_ */
