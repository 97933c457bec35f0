
/*
 * Retention (docs/storage.md, "Bounds and retention"): how long what the
 * module writes to Redis is kept.  Closed conversations expire after the
 * site's retention (kefu_site retention=, kefu_retention); visitors'
 * records after a period without a hello or a message (a site's
 * retention for visitors of the shop's tokens, anonymous_retention= for
 * anonymous ones).
 */


#include "ngx_kefu.h"


/* a resend must find its original, but never after its conversation went */

time_t
ngx_kefu_dedup_seconds(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site)
{
    ngx_msec_t  ms;

    ms = ngx_min(kmcf->dedup_ttl, site->retention);

    return (time_t) ngx_max(ms / 1000, 1);
}


time_t
ngx_kefu_visitor_seconds(ngx_kefu_site_t *site, ngx_uint_t anonymous)
{
    return (time_t) ((anonymous ? site->anonymous_retention : site->retention)
                     / 1000);
}
