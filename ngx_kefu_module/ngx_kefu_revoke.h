
/*
 * Token revocation: a denylist per site by "jti" or by "sub"
 * (docs/tokens.md, "Revoking tokens").  Redis holds it; every worker
 * keeps a copy in its own memory, so hello, the API and uploads check a
 * token without a Redis round trip, and closes its live sessions that a
 * revocation names.
 */


#ifndef _NGX_KEFU_REVOKE_H_INCLUDED_
#define _NGX_KEFU_REVOKE_H_INCLUDED_


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"


/*
 * every worker of every host listens on each of its sites'
 * kefu:{s:<site>}:revoke (in the slot of the list, kefu:{s:<site>}:revoked,
 * whose script publishes there): "<site> <kind> <until> <value>"
 */
#define NGX_KEFU_REVOKE_CHANNEL   "}:revoke"

/* entries per site, and how far ahead an entry may expire (ms) */
#define NGX_KEFU_REVOKE_MAX       10000
#define NGX_KEFU_REVOKE_MAX_TTL   (366LL * 86400 * 1000)

/* a jti is kept (and compared) up to this many bytes */
#define NGX_KEFU_REVOKE_JTI_MAX   128

/* how often each worker reads the whole list again (ms) */
#define NGX_KEFU_REVOKE_REFRESH   10000


/* hears kefu:{s:<site>}:revoke; reloads the list when a link is (back) up */
extern const ngx_kefu_redis_consumer_t  ngx_kefu_revoke_redis_consumer;

ngx_int_t ngx_kefu_revoke_init_process(ngx_cycle_t *cycle);
void ngx_kefu_revoke_exit_process(ngx_cycle_t *cycle);
void ngx_kefu_revoke_ready(ngx_kefu_main_conf_t *kmcf);
void ngx_kefu_revoke_published(ngx_kefu_main_conf_t *kmcf,
    ngx_str_t *channel, ngx_str_t *payload);

/* ZRANGEBYSCORE of the site's live entries (the load's and the API's) */
#define NGX_KEFU_REVOKE_LIST_ARGS  8

typedef struct {
    const char                  *argv[NGX_KEFU_REVOKE_LIST_ARGS];
    size_t                       lens[NGX_KEFU_REVOKE_LIST_ARGS];
    u_char                       key[NGX_KEFU_MAX_ID_LEN + 32];
    u_char                       now[NGX_INT64_LEN + 1];
    u_char                       max[NGX_INT_T_LEN];
} ngx_kefu_revoke_list_t;

void ngx_kefu_revoke_list(ngx_kefu_revoke_list_t *l, ngx_str_t *site);

/* NGX_OK, or NGX_DECLINED with *err set: the token is revoked */
ngx_int_t ngx_kefu_revoke_check(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, json_t *claims, const char **err);

/* an entry the API added through this worker (kind 'j' or 's') */
void ngx_kefu_revoke_added(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    u_char kind, ngx_str_t *value, int64_t until);

/* closes this worker's sessions of a visitor ("e" on the channel) */
void ngx_kefu_revoke_kick(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    u_char kind, ngx_str_t *value);


#endif /* _NGX_KEFU_REVOKE_H_INCLUDED_ */
