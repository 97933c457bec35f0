
/*
 * Status and observability: the kefu_status endpoint (JSON or Prometheus
 * text), the counters' labels, and the $kefu_* variables with the access
 * log line written when a WebSocket session ends.  docs/status.md.
 */


#ifndef _NGX_KEFU_STATUS_H_INCLUDED_
#define _NGX_KEFU_STATUS_H_INCLUDED_


#include "ngx_kefu.h"


/* ngx_kefu_stats.c: labels, in the order of the counters' arrays */
extern const char        *ngx_kefu_stat_error_names[NGX_KEFU_STAT_ERRORS];
extern const ngx_uint_t   ngx_kefu_stat_close_codes[NGX_KEFU_STAT_CLOSES];
extern const ngx_msec_t   ngx_kefu_stat_buckets[NGX_KEFU_STAT_BUCKETS];

/* ngx_kefu_status.c */
char *ngx_kefu_status_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* ngx_kefu_log.c */
ngx_int_t ngx_kefu_log_add_variables(ngx_conf_t *cf);
void ngx_kefu_log_save(ngx_kefu_ws_t *ws, ngx_http_request_t *r);
void ngx_kefu_log_session(ngx_kefu_ws_t *ws);
void ngx_kefu_log_addr(ngx_kefu_ws_t *ws, ngx_str_t *addr);


#endif /* _NGX_KEFU_STATUS_H_INCLUDED_ */
