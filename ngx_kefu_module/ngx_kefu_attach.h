
/*
 * Attachments in messages (ngx_kefu_attach.c): an uploaded file's id and
 * description, its check when a message carries it, the links added on
 * the way out, and what the welcome tells of uploads.
 */


#ifndef _NGX_KEFU_ATTACH_H_INCLUDED_
#define _NGX_KEFU_ATTACH_H_INCLUDED_


#include "ngx_kefu.h"
#include "ngx_kefu_upload.h"


#define NGX_KEFU_LINK_SIG     43      /* base64url of 32 bytes */


json_t *ngx_kefu_attach_json(ngx_kefu_site_t *site, ngx_str_t *who,
    ngx_kefu_attach_t *a);
json_t *ngx_kefu_attach_check(ngx_kefu_site_t *site, ngx_str_t *who,
    json_t *att, const char **err);
u_char *ngx_kefu_attach_links(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, u_char *json, size_t len, size_t *out);
ngx_int_t ngx_kefu_attach_link(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, json_t *att, const char *conv, size_t conv_len);
/* a link's signature: NGX_KEFU_LINK_SIG characters */
ngx_int_t ngx_kefu_attach_sign(ngx_kefu_site_t *site, ngx_str_t *path,
    ngx_str_t *name, time_t e, u_char *sig);
json_t *ngx_kefu_upload_info(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site);


#endif /* _NGX_KEFU_ATTACH_H_INCLUDED_ */
