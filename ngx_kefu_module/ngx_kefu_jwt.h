
/*
 * HS256 JSON Web Tokens: verification of the shop's tokens and minting of
 * anonymous visitors' tokens.
 */


#ifndef _NGX_KEFU_JWT_H_INCLUDED_
#define _NGX_KEFU_JWT_H_INCLUDED_


#include "ngx_kefu.h"


/* a bound on what a client can make us decode */
#define NGX_KEFU_JWT_MAX_LEN  4096


ngx_int_t ngx_kefu_jwt_verify(ngx_str_t *token, ngx_str_t *secret,
    time_t now, json_t **claims, const char **err);
ngx_int_t ngx_kefu_jwt_sign(ngx_pool_t *pool, json_t *claims,
    ngx_str_t *secret, ngx_str_t *token);

/* the claims' "site" is site: NGX_OK; NGX_DECLINED if not */
ngx_int_t ngx_kefu_jwt_site_is(json_t *claims, ngx_str_t *site);
/* the claims' "sub", an id: NGX_OK; NGX_DECLINED with *err if not */
ngx_int_t ngx_kefu_jwt_sub(json_t *claims, const char **err);


#endif /* _NGX_KEFU_JWT_H_INCLUDED_ */
