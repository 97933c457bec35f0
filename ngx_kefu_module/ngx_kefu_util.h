
/*
 * Small helpers every layer uses (ngx_kefu_util.c): the time in ms,
 * role names, a site by name, the check of an id that goes into Redis
 * keys and channel names, who is on a connection.
 */


#ifndef _NGX_KEFU_UTIL_H_INCLUDED_
#define _NGX_KEFU_UTIL_H_INCLUDED_


#include "ngx_kefu.h"


/* NULL and the names by NGX_KEFU_ROLE_* */
#define NGX_KEFU_ROLES  4

extern const char  *ngx_kefu_roles[NGX_KEFU_ROLES];

int64_t ngx_kefu_now_ms(void);
const char *ngx_kefu_role_name(ngx_uint_t role);
ngx_kefu_site_t *ngx_kefu_site_find(ngx_kefu_main_conf_t *kmcf,
    const char *name);
ngx_int_t ngx_kefu_valid_id(u_char *p, size_t len);

/* v's decimal digits at p, without ngx_sprintf()'s parsing of a format
 * (hot paths: RESP lengths, the search index's positions); past them */
u_char *ngx_kefu_dec(u_char *p, uint64_t v);

/*
 * who is on a connection as entries and scripts name it: "<v|a|m>:<id>",
 * of a role (NGX_KEFU_ROLE_*) and a user id, in buf (NGX_KEFU_WHO_LEN)
 */
#define NGX_KEFU_WHO_LEN  (2 + NGX_KEFU_MAX_ID_LEN)
ngx_str_t ngx_kefu_who(ngx_uint_t role, ngx_str_t *id, u_char *buf);


#endif /* _NGX_KEFU_UTIL_H_INCLUDED_ */
