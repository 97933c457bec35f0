
/*
 * Small helpers every layer uses; see ngx_kefu_util.h.
 */


#include "ngx_kefu.h"


/* by NGX_KEFU_ROLE_*: the names of the contract */
const char  *ngx_kefu_roles[NGX_KEFU_ROLES] = {
    NULL, "visitor", "agent", "admin"
};


/* the cached time: the event loop's, as every timestamp of the module */

int64_t
ngx_kefu_now_ms(void)
{
    ngx_time_t  *tp;

    tp = ngx_timeofday();

    return (int64_t) tp->sec * 1000 + tp->msec;
}


const char *
ngx_kefu_role_name(ngx_uint_t role)
{
    return role < sizeof(ngx_kefu_roles) / sizeof(char *)
           ? ngx_kefu_roles[role] : NULL;
}


ngx_kefu_site_t *
ngx_kefu_site_find(ngx_kefu_main_conf_t *kmcf, const char *name)
{
    size_t            len;
    ngx_uint_t        i;
    ngx_kefu_site_t  *s;

    len = ngx_strlen(name);
    s = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        if (s[i].name.len == len
            && ngx_strncmp(s[i].name.data, name, len) == 0)
        {
            return &s[i];
        }
    }

    return NULL;
}


/* user, site and group ids end up in Redis keys and channel names */

ngx_int_t
ngx_kefu_valid_id(u_char *p, size_t len)
{
    u_char  *last;

    if (len == 0 || len > NGX_KEFU_MAX_ID_LEN) {
        return NGX_DECLINED;
    }

    for (last = p + len; p < last; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')
            || (*p >= '0' && *p <= '9')
            || *p == '.' || *p == '_' || *p == '@' || *p == '-')
        {
            continue;
        }

        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_str_t
ngx_kefu_who(ngx_uint_t role, ngx_str_t *id, u_char *buf)
{
    ngx_str_t  who;

    who.data = buf;
    who.len = ngx_snprintf(buf, NGX_KEFU_WHO_LEN, "%c:%V", "?vam"[role], id)
              - buf;

    return who;
}


u_char *
ngx_kefu_dec(u_char *p, uint64_t v)
{
    u_char  *d;
    u_char   digits[NGX_INT64_LEN];

    d = digits + NGX_INT64_LEN;

    do {
        *--d = (u_char) ('0' + v % 10);
        v /= 10;
    } while (v);

    return ngx_cpymem(p, d, digits + NGX_INT64_LEN - d);
}
