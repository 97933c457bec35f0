
/*
 * Canned replies' checks (ngx_kefu_canned.c): the site's list in its
 * settings, and one personal reply of the API.  field gets the path of
 * the offending field, err what is wrong: NGX_DECLINED; NGX_ERROR: out of
 * memory.
 */


#ifndef _NGX_KEFU_CANNED_H_INCLUDED_
#define _NGX_KEFU_CANNED_H_INCLUDED_


#include "ngx_kefu.h"


/* the settings' "canned": a list of replies, keys unique */
ngx_int_t ngx_kefu_canned_check(json_t *v, ngx_pool_t *pool,
    ngx_str_t *field, ngx_str_t *err);
/* one reply; prefix names it in errors ("canned[3]", or "" for a body) */
ngx_int_t ngx_kefu_canned_entry(json_t *e, ngx_pool_t *pool,
    ngx_str_t *field, ngx_str_t *err, const char *prefix,
    ngx_uint_t need_key);


#endif /* _NGX_KEFU_CANNED_H_INCLUDED_ */
