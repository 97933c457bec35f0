
/*
 * ngx_kefu_module: the module definition, its directives and
 * configuration, and per-worker initialization.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_zone.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_conv.h"
#include "ngx_kefu_status.h"
#include "ngx_kefu_api.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_lease.h"
#include "ngx_kefu_settings.h"
#include "ngx_kefu_upload.h"
#include "ngx_kefu_revoke.h"
#include "ngx_kefu_msg_batch.h"
#include "ngx_kefu_msg_event.h"
#include "ngx_kefu_search.h"
#include "ngx_kefu_retain.h"
#include "ngx_kefu_handshake.h"
#include "ngx_kefu_idle.h"
#include "ngx_kefu_bot.h"

#include <hiredis/hiredis.h>
#include <openssl/opensslv.h>


static ngx_int_t ngx_kefu_preconfiguration(ngx_conf_t *cf);
static void *ngx_kefu_create_main_conf(ngx_conf_t *cf);
static char *ngx_kefu_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_kefu_create_loc_conf(ngx_conf_t *cf);
static char *ngx_kefu_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static char *ngx_kefu_chat(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_kefu_origins(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_kefu_site(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_kefu_site_settings(ngx_conf_t *cf,
    ngx_kefu_site_t *site, ngx_str_t *path);
static void ngx_kefu_json_cleanup(void *data);
static char *ngx_kefu_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
static char *ngx_kefu_message_rate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_kefu_check_size(ngx_conf_t *cf, void *post, void *data);
static char *ngx_kefu_check_msec(ngx_conf_t *cf, void *post, void *data);
static char *ngx_kefu_check_num(ngx_conf_t *cf, void *post, void *data);
static ngx_int_t ngx_kefu_init_module(ngx_cycle_t *cycle);
static ngx_int_t ngx_kefu_init_process(ngx_cycle_t *cycle);
static void ngx_kefu_exit_process(ngx_cycle_t *cycle);


/* bounds that keep a misconfiguration from turning into a failure later */

typedef struct {
    ngx_conf_post_handler_pt  post_handler;
    size_t                    min;
    size_t                    max;
} ngx_kefu_size_bounds_t;


typedef struct {
    ngx_conf_post_handler_pt  post_handler;
    ngx_msec_t                min;
    ngx_msec_t                max;       /* 0: none */
    char                     *error;
} ngx_kefu_msec_bounds_t;


typedef struct ngx_kefu_site_param_s  ngx_kefu_site_param_t;

typedef char *(*ngx_kefu_site_set_pt)(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_kefu_site_param_t *p, ngx_str_t *value);

struct ngx_kefu_site_param_s {
    ngx_str_t                 name;      /* with its "=" */
    ngx_kefu_site_set_pt      set;
    size_t                    offset;    /* ngx_kefu_site_msec's */
    ngx_kefu_msec_bounds_t   *bounds;
};


static char *ngx_kefu_site_param(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_str_t *v);
static char *ngx_kefu_site_secret(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_kefu_site_param_t *p, ngx_str_t *value);
static char *ngx_kefu_site_secret_file(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_kefu_site_param_t *p, ngx_str_t *path);
static char *ngx_kefu_site_flag(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_kefu_site_param_t *p, ngx_str_t *value);
static char *ngx_kefu_site_default_group(ngx_conf_t *cf,
    ngx_kefu_site_t *site, ngx_kefu_site_param_t *p, ngx_str_t *value);
static char *ngx_kefu_site_capacity(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_kefu_site_param_t *p, ngx_str_t *value);
static char *ngx_kefu_site_msec(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_kefu_site_param_t *p, ngx_str_t *value);
static char *ngx_kefu_site_settings_file(ngx_conf_t *cf,
    ngx_kefu_site_t *site, ngx_kefu_site_param_t *p, ngx_str_t *value);


static ngx_kefu_size_bounds_t  ngx_kefu_message_size_bounds = {
    ngx_kefu_check_size, 128, 16 * 1024 * 1024
};

static ngx_kefu_size_bounds_t  ngx_kefu_send_queue_bounds = {
    ngx_kefu_check_size, 1024, 1024 * 1024 * 1024
};

static ngx_kefu_msec_bounds_t  ngx_kefu_positive_msec = {
    ngx_kefu_check_msec, 1, 0, "must be positive"
};

static ngx_kefu_size_bounds_t  ngx_kefu_api_body_bounds = {
    ngx_kefu_check_size, 64, 16 * 1024 * 1024
};

static ngx_kefu_size_bounds_t  ngx_kefu_text_bounds = {
    ngx_kefu_check_size, 1, 1024 * 1024
};

/* a resend after a reconnect must still find the original */
static ngx_kefu_msec_bounds_t  ngx_kefu_dedup_bounds = {
    ngx_kefu_check_msec, 60000, 0, "must be at least 60s"
};

/* a few minutes of skew are clocks; more would stretch every token's life */
static ngx_kefu_msec_bounds_t  ngx_kefu_leeway_bounds = {
    ngx_kefu_check_msec, 0, 300000, "must be at most 5m"
};

/* search postings: an hour at least, at most ten years */
static ngx_kefu_msec_bounds_t  ngx_kefu_search_retention_bounds = {
    ngx_kefu_check_msec, 3600000, (ngx_msec_t) 3650 * 86400 * 1000,
    "must be between 1h and 3650d"
};

/* EXPIRE takes seconds; ten years is "keep", not a typo's 10^12 */
static ngx_kefu_msec_bounds_t  ngx_kefu_keep_bounds = {
    ngx_kefu_check_msec, 1000, 315360000000ULL,
    "must be between 1s and 3650d"
};

static ngx_conf_num_bounds_t  ngx_kefu_per_address_bounds = {
    ngx_conf_check_num_bounds, 0, 1000000
};

/* renewed every third of it: long enough to ride out a slow Redis reply */
static ngx_kefu_msec_bounds_t  ngx_kefu_lease_bounds = {
    ngx_kefu_check_msec, 1000, 300000, "must be between 1s and 300s"
};

/* a time parameter of kefu_site, its bounds and the words of its error */

static ngx_kefu_msec_bounds_t  ngx_kefu_grace_bounds = {
    NULL, 0, 86400000,
    "has an invalid grace: a time of at most 24h, e.g. grace=30s"
};

static ngx_kefu_msec_bounds_t  ngx_kefu_bot_idle_bounds = {
    NULL, 1000, 7 * 86400000,
    "has an invalid bot_idle: a time from 1s to 7d, e.g. bot_idle=30m"
};

/* whole seconds (Redis's EXPIRE), 1s to ten years as ngx_kefu_keep_bounds */
static ngx_kefu_msec_bounds_t  ngx_kefu_site_retention_bounds = {
    NULL, 1000, 315360000000ULL,
    "has an invalid retention: a time from 1s to 3650d, e.g. retention=90d"
};

static ngx_kefu_msec_bounds_t  ngx_kefu_anonymous_retention_bounds = {
    NULL, 1000, 315360000000ULL,
    "has an invalid anonymous_retention: a time from 1s to 3650d, "
    "e.g. anonymous_retention=30d"
};


/* the parameters of kefu_site (name=value), tried in this order */

static ngx_kefu_site_param_t  ngx_kefu_site_params[] = {
    { ngx_string("secret="), ngx_kefu_site_secret, 0, NULL },
    { ngx_string("secret_file="), ngx_kefu_site_secret_file, 0, NULL },
    { ngx_string("anonymous="), ngx_kefu_site_flag,
      offsetof(ngx_kefu_site_t, anonymous), NULL },
    { ngx_string("search="), ngx_kefu_site_flag,
      offsetof(ngx_kefu_site_t, search), NULL },
    { ngx_string("default_group="), ngx_kefu_site_default_group, 0, NULL },
    { ngx_string("capacity="), ngx_kefu_site_capacity, 0, NULL },
    { ngx_string("grace="), ngx_kefu_site_msec,
      offsetof(ngx_kefu_site_t, grace), &ngx_kefu_grace_bounds },
    { ngx_string("bot_idle="), ngx_kefu_site_msec,
      offsetof(ngx_kefu_site_t, bot_idle), &ngx_kefu_bot_idle_bounds },
    { ngx_string("retention="), ngx_kefu_site_msec,
      offsetof(ngx_kefu_site_t, retention), &ngx_kefu_site_retention_bounds },
    { ngx_string("anonymous_retention="), ngx_kefu_site_msec,
      offsetof(ngx_kefu_site_t, anonymous_retention),
      &ngx_kefu_anonymous_retention_bounds },
    { ngx_string("settings="), ngx_kefu_site_settings_file, 0, NULL },
    { ngx_null_string, NULL, 0, NULL }
};


/* nginx's own check names no directive in its message: ours does */
typedef struct {
    ngx_conf_post_handler_pt  post_handler;
    ngx_int_t                 min;
    ngx_int_t                 max;
} ngx_kefu_num_bounds_t;


static ngx_kefu_num_bounds_t  ngx_kefu_inflight_bounds = {
    ngx_kefu_check_num, 1, 1000000
};

static ngx_conf_num_bounds_t  ngx_kefu_retention_bounds = {
    ngx_conf_check_num_bounds, 100, 100000000
};


static ngx_command_t  ngx_kefu_commands[] = {

    { ngx_string("kefu_chat"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_kefu_chat,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("kefu_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_kefu_status_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("kefu_max_message_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_kefu_loc_conf_t, max_message_size),
      &ngx_kefu_message_size_bounds },

    { ngx_string("kefu_max_send_queue"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_kefu_loc_conf_t, max_send_queue),
      &ngx_kefu_send_queue_bounds },

    { ngx_string("kefu_ping_interval"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_kefu_loc_conf_t, ping_interval),
      &ngx_kefu_positive_msec },

    { ngx_string("kefu_idle_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_kefu_loc_conf_t, idle_timeout),
      &ngx_kefu_positive_msec },

    { ngx_string("kefu_hello_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_kefu_loc_conf_t, hello_timeout),
      &ngx_kefu_positive_msec },

    { ngx_string("kefu_send_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_kefu_loc_conf_t, send_timeout),
      &ngx_kefu_positive_msec },

    { ngx_string("kefu_allowed_origins"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_kefu_origins,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_kefu_loc_conf_t, origins),
      NULL },

    { ngx_string("kefu_message_rate"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_kefu_message_rate,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("kefu_max_text"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_kefu_loc_conf_t, max_text),
      &ngx_kefu_text_bounds },

    { ngx_string("kefu_max_attrs"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_kefu_loc_conf_t, max_attrs),
      &ngx_kefu_text_bounds },

    { ngx_string("kefu_dedup_window"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_kefu_main_conf_t, dedup_ttl),
      &ngx_kefu_dedup_bounds },

    { ngx_string("kefu_token_leeway"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_kefu_main_conf_t, token_leeway),
      &ngx_kefu_leeway_bounds },

    { ngx_string("kefu_anonymous_per_address"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_kefu_main_conf_t, anonymous_per_address),
      &ngx_kefu_per_address_bounds },

    { ngx_string("kefu_log_retention"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_kefu_main_conf_t, log_max),
      &ngx_kefu_retention_bounds },

    { ngx_string("kefu_search_retention"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_kefu_main_conf_t, search_retention),
      &ngx_kefu_search_retention_bounds },

    { ngx_string("kefu_retention"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_kefu_main_conf_t, retention),
      &ngx_kefu_keep_bounds },

    { ngx_string("kefu_anonymous_retention"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_kefu_main_conf_t, anonymous_retention),
      &ngx_kefu_keep_bounds },

    { ngx_string("kefu_api"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_kefu_api_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("kefu_api_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_kefu_loc_conf_t, api_max_body),
      &ngx_kefu_api_body_bounds },

    { ngx_string("kefu_upload"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_kefu_upload_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("kefu_upload_path"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_kefu_upload_path,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("kefu_upload_types"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_kefu_upload_types_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("kefu_upload_max_size"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_kefu_upload_max_size_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("kefu_upload_quota"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_kefu_upload_quota_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("kefu_upload_link_ttl"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_kefu_upload_link_ttl_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("kefu_upload_scan"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_kefu_upload_scan_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("kefu_upload_scan_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_kefu_upload_scan_timeout_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("kefu_upload_sweep"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_kefu_upload_sweep_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("kefu_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_kefu_redis_directive,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("kefu_lease_time"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_kefu_main_conf_t, lease_time),
      &ngx_kefu_lease_bounds },
    { ngx_string("kefu_redis_max_inflight"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_kefu_main_conf_t, redis_max_inflight),
      &ngx_kefu_inflight_bounds },

    { ngx_string("kefu_redis_max_wait"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_kefu_main_conf_t, redis_max_wait),
      NULL },

    { ngx_string("kefu_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_kefu_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("kefu_site"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_2MORE,
      ngx_kefu_site,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_kefu_module_ctx = {
    ngx_kefu_preconfiguration,             /* preconfiguration */
    NULL,                                  /* postconfiguration */

    ngx_kefu_create_main_conf,             /* create main configuration */
    ngx_kefu_init_main_conf,               /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_kefu_create_loc_conf,              /* create location configuration */
    ngx_kefu_merge_loc_conf                /* merge location configuration */
};


ngx_module_t  ngx_kefu_module = {
    NGX_MODULE_V1,
    &ngx_kefu_module_ctx,                  /* module context */
    ngx_kefu_commands,                     /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    ngx_kefu_init_module,                  /* init module */
    ngx_kefu_init_process,                 /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_kefu_exit_process,                 /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static ngx_int_t
ngx_kefu_preconfiguration(ngx_conf_t *cf)
{
    return ngx_kefu_log_add_variables(cf);
}


static void *
ngx_kefu_create_main_conf(ngx_conf_t *cf)
{
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_pcalloc(cf->pool, sizeof(ngx_kefu_main_conf_t));
    if (kmcf == NULL) {
        return NULL;
    }

    if (ngx_array_init(&kmcf->sites, cf->pool, 4, sizeof(ngx_kefu_site_t))
        != NGX_OK)
    {
        return NULL;
    }

    kmcf->dedup_ttl = NGX_CONF_UNSET_MSEC;
    kmcf->token_leeway = NGX_CONF_UNSET_MSEC;
    kmcf->anonymous_per_address = NGX_CONF_UNSET_UINT;
    kmcf->log_max = NGX_CONF_UNSET;
    kmcf->search_retention = NGX_CONF_UNSET_MSEC;
    kmcf->retention = NGX_CONF_UNSET_MSEC;
    kmcf->anonymous_retention = NGX_CONF_UNSET_MSEC;
    kmcf->lease_time = NGX_CONF_UNSET_MSEC;
    kmcf->redis_max_inflight = NGX_CONF_UNSET;
    kmcf->redis_max_wait = NGX_CONF_UNSET_MSEC;

    return kmcf;
}


/*
 * Sites need somewhere to record sessions, and the counters need a zone:
 * 1m holds thousands of sessions.
 */

static char *
ngx_kefu_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_kefu_main_conf_t *kmcf = conf;

    char             *rv;
    ngx_str_t         name;
    ngx_uint_t        i;
    ngx_kefu_site_t  *site;

    ngx_conf_init_msec_value(kmcf->dedup_ttl, 86400000);
    ngx_conf_init_msec_value(kmcf->token_leeway, 30000);
    ngx_conf_init_uint_value(kmcf->anonymous_per_address, 100);
    ngx_conf_init_value(kmcf->log_max, 10000);
    ngx_conf_init_msec_value(kmcf->search_retention,
                             (ngx_msec_t) 90 * 24 * 3600 * 1000);
    ngx_conf_init_msec_value(kmcf->lease_time, 5000);
    ngx_conf_init_value(kmcf->redis_max_inflight, 1000);
    ngx_conf_init_msec_value(kmcf->retention, 90 * 86400000ULL);
    ngx_conf_init_msec_value(kmcf->anonymous_retention, 30 * 86400000ULL);

    /* kefu_site may come before the defaults it inherits */
    site = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        ngx_conf_init_msec_value(site[i].retention, kmcf->retention);
        ngx_conf_init_msec_value(site[i].anonymous_retention,
                                 kmcf->anonymous_retention);
    }

    /* counters go to the zone once a worker runs (ngx_kefu_zone.c) */
    kmcf->stats = &kmcf->stats_local;

    rv = ngx_kefu_upload_init_main(cf, kmcf);
    if (rv != NGX_CONF_OK) {
        return rv;
    }

    if ((kmcf->sites.nelts || kmcf->need_zone) && kmcf->zone == NULL) {
        ngx_str_set(&name, "kefu");
        return ngx_kefu_zone_add(cf, &name, 8 * 1024 * 1024);
    }

    return NGX_CONF_OK;
}


/* kefu_message_rate Nr/s [burst=N] */

static char *
ngx_kefu_message_rate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_kefu_loc_conf_t  *kcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value;

    if (kcf->rate != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (value[1].len < 4
        || ngx_strncmp(value[1].data + value[1].len - 3, "r/s", 3) != 0
        || (n = ngx_atoi(value[1].data, value[1].len - 3)) <= 0
        || n > 100000)
    {
        return "takes a rate of 1r/s to 100000r/s";
    }

    kcf->rate = n;
    kcf->burst = 3 * n;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "burst=", 6) != 0
            || (n = ngx_atoi(value[2].data + 6, value[2].len - 6)) <= 0
            || n > 1000000)
        {
            return "takes burst=N with N from 1 to 1000000";
        }

        kcf->burst = n;
    }

    return NGX_CONF_OK;
}


/* kefu_zone name:size */

static char *
ngx_kefu_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    u_char     *p;
    ssize_t     size;
    ngx_str_t  *value, name, s;

    value = cf->args->elts;

    p = (u_char *) ngx_strchr(value[1].data, ':');

    if (p == NULL || p == value[1].data) {
        return "takes name:size, e.g. kefu:10m";
    }

    name.data = value[1].data;
    name.len = p - value[1].data;

    s.data = p + 1;
    s.len = value[1].data + value[1].len - s.data;

    size = ngx_parse_size(&s);

    if (size == NGX_ERROR) {
        return "has an invalid size";
    }

    return ngx_kefu_zone_add(cf, &name, (size_t) size);
}


static void *
ngx_kefu_create_loc_conf(ngx_conf_t *cf)
{
    ngx_kefu_loc_conf_t  *conf;

    conf = ngx_pcalloc(cf->pool, sizeof(ngx_kefu_loc_conf_t));
    if (conf == NULL) {
        return NULL;
    }

    conf->max_message_size = NGX_CONF_UNSET_SIZE;
    conf->max_send_queue = NGX_CONF_UNSET_SIZE;
    conf->ping_interval = NGX_CONF_UNSET_MSEC;
    conf->idle_timeout = NGX_CONF_UNSET_MSEC;
    conf->hello_timeout = NGX_CONF_UNSET_MSEC;
    conf->send_timeout = NGX_CONF_UNSET_MSEC;
    conf->origins = NGX_CONF_UNSET_PTR;
    conf->max_text = NGX_CONF_UNSET_SIZE;
    conf->max_attrs = NGX_CONF_UNSET_SIZE;
    conf->rate = NGX_CONF_UNSET_UINT;
    conf->burst = NGX_CONF_UNSET_UINT;
    conf->api_max_body = NGX_CONF_UNSET_SIZE;

    return conf;
}


static char *
ngx_kefu_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_kefu_loc_conf_t  *prev = parent;
    ngx_kefu_loc_conf_t  *conf = child;

    ngx_conf_merge_size_value(conf->max_message_size, prev->max_message_size,
                              64 * 1024);
    ngx_conf_merge_size_value(conf->max_send_queue, prev->max_send_queue,
                              256 * 1024);
    ngx_conf_merge_msec_value(conf->ping_interval, prev->ping_interval, 30000);
    ngx_conf_merge_msec_value(conf->idle_timeout, prev->idle_timeout, 75000);
    ngx_conf_merge_msec_value(conf->hello_timeout, prev->hello_timeout, 10000);
    ngx_conf_merge_msec_value(conf->send_timeout, prev->send_timeout, 30000);
    ngx_conf_merge_ptr_value(conf->origins, prev->origins, NULL);
    ngx_conf_merge_size_value(conf->max_text, prev->max_text, 4000);
    ngx_conf_merge_size_value(conf->max_attrs, prev->max_attrs, 4096);
    ngx_conf_merge_size_value(conf->api_max_body, prev->api_max_body,
                              64 * 1024);

    if (conf->rate == NGX_CONF_UNSET_UINT) {
        conf->rate = (prev->rate == NGX_CONF_UNSET_UINT) ? 10 : prev->rate;
        conf->burst = (prev->burst == NGX_CONF_UNSET_UINT) ? 30 : prev->burst;
    }

    /* a client that answers every ping must never look idle */
    if (conf->idle_timeout <= conf->ping_interval) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"kefu_idle_timeout\" (%M ms) must be greater "
                           "than \"kefu_ping_interval\" (%M ms)",
                           conf->idle_timeout, conf->ping_interval);
        return NGX_CONF_ERROR;
    }

    /* the queue must hold at least one message of the largest size */
    if (conf->max_send_queue < conf->max_message_size + 14) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"kefu_max_send_queue\" (%uz) must be greater "
                           "than \"kefu_max_message_size\" (%uz)",
                           conf->max_send_queue, conf->max_message_size);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static char *
ngx_kefu_chat(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_kefu_loc_conf_t  *kcf = conf;

    ngx_kefu_main_conf_t      *kmcf;
    ngx_http_core_loc_conf_t  *clcf;

    if (kcf->enable) {
        return "is duplicate";
    }

    if (kcf->api) {
        return "cannot share a location with \"kefu_api\"";
    }

    kcf->enable = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_kefu_handshake_handler;

    /* the counters live in the zone: make one even without sites */
    kmcf = ngx_http_conf_get_module_main_conf(cf, ngx_kefu_module);
    kmcf->need_zone = 1;

    return NGX_CONF_OK;
}


/* kefu_allowed_origins *|scheme://host[:port] ... */

static char *
ngx_kefu_origins(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_kefu_loc_conf_t  *kcf = conf;

    u_char      *p, *last;
    ngx_str_t   *value, *o;
    ngx_uint_t   i;

    if (kcf->origins != NGX_CONF_UNSET_PTR) {
        return "is duplicate";
    }

    kcf->origins = ngx_array_create(cf->pool, cf->args->nelts - 1,
                                    sizeof(ngx_str_t));
    if (kcf->origins == NULL) {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        p = value[i].data;
        last = p + value[i].len;

        if (!(value[i].len == 1 && p[0] == '*')) {

            if (value[i].len > 7
                && ngx_strncasecmp(p, (u_char *) "http://", 7) == 0)
            {
                p += 7;

            } else if (value[i].len > 8
                       && ngx_strncasecmp(p, (u_char *) "https://", 8) == 0)
            {
                p += 8;

            } else {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid origin \"%V\" in \"%V\": expected "
                                   "\"*\" or scheme://host[:port]",
                                   &value[i], &cmd->name);
                return NGX_CONF_ERROR;
            }

            /* an origin has no path, query or trailing slash */
            for ( /* void */ ; p < last; p++) {
                if (*p == '/' || *p == '?' || *p == '#' || *p == ' ') {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid origin \"%V\" in \"%V\": an "
                                       "origin has no path",
                                       &value[i], &cmd->name);
                    return NGX_CONF_ERROR;
                }
            }
        }

        o = ngx_array_push(kcf->origins);
        if (o == NULL) {
            return NGX_CONF_ERROR;
        }

        *o = value[i];
    }

    return NGX_CONF_OK;
}


/*
 * kefu_site name secret=... | secret_file=path [anonymous=on|off]
 *           [default_group=name] [capacity=N] [grace=time]
 *           [retention=time] [anonymous_retention=time] [bot_idle=time]
 *           [search=on|off];
 */

static char *
ngx_kefu_site(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_kefu_main_conf_t *kmcf = conf;

    char             *rv;
    ngx_str_t        *value;
    ngx_uint_t        i;
    ngx_kefu_site_t  *site;

    value = cf->args->elts;

    if (value[1].len > 64
        || ngx_kefu_valid_id(value[1].data, value[1].len) != NGX_OK)
    {
        return "has an invalid site name: 1-64 characters [A-Za-z0-9._@-]";
    }

    if (ngx_kefu_site_find(kmcf, (char *) value[1].data) != NULL) {
        return "names a site twice";
    }

    site = ngx_array_push(&kmcf->sites);
    if (site == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(site, sizeof(ngx_kefu_site_t));
    site->name = value[1];
    ngx_str_set(&site->default_group, "default");
    site->search = 1;
    site->capacity = 5;
    site->grace = 30000;
    site->bot_idle = 30 * 60000;
    site->upload.max_size = NGX_CONF_UNSET;
    site->upload.quota = NGX_CONF_UNSET;
    site->retention = NGX_CONF_UNSET_MSEC;
    site->anonymous_retention = NGX_CONF_UNSET_MSEC;

    for (i = 2; i < cf->args->nelts; i++) {
        rv = ngx_kefu_site_param(cf, site, &value[i]);
        if (rv != NGX_CONF_OK) {
            return rv;
        }
    }

    /* HS256 with a short key is guessable offline from any token */
    if (site->secret.len < 16) {
        return "needs a secret of at least 16 bytes (secret= or secret_file=)";
    }

    return NGX_CONF_OK;
}


/* one parameter of kefu_site: a row of ngx_kefu_site_params or an upload one */

static char *
ngx_kefu_site_param(ngx_conf_t *cf, ngx_kefu_site_t *site, ngx_str_t *v)
{
    char                   *rv;
    ngx_int_t               rc;
    ngx_str_t               value;
    ngx_kefu_site_param_t  *p;

    for (p = ngx_kefu_site_params; p->name.len; p++) {
        if (ngx_strncmp(v->data, p->name.data, p->name.len) == 0) {
            value.data = v->data + p->name.len;
            value.len = v->len - p->name.len;

            return p->set(cf, site, p, &value);
        }
    }

    /* upload_max_size=, upload_types=, upload_quota= */
    rc = ngx_kefu_upload_site_param(cf, site, v, &rv);

    if (rc == NGX_OK) {
        return NGX_CONF_OK;
    }

    if (rc == NGX_ERROR) {
        return rv;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V\" in \"kefu_site\"",
                       v);
    return NGX_CONF_ERROR;
}


static char *
ngx_kefu_site_secret(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_kefu_site_param_t *p, ngx_str_t *value)
{
    site->secret = *value;
    return NGX_CONF_OK;
}


/* anonymous=, search=: on or off */

static char *
ngx_kefu_site_flag(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_kefu_site_param_t *p, ngx_str_t *value)
{
    ngx_flag_t  *f;

    f = (ngx_flag_t *) ((u_char *) site + p->offset);

    if (ngx_strcmp(value->data, "on") == 0) {
        *f = 1;
        return NGX_CONF_OK;
    }

    if (ngx_strcmp(value->data, "off") == 0) {
        *f = 0;
        return NGX_CONF_OK;
    }

    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                       "invalid parameter \"%V%V\" in \"kefu_site\"",
                       &p->name, value);
    return NGX_CONF_ERROR;
}


static char *
ngx_kefu_site_default_group(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_kefu_site_param_t *p, ngx_str_t *value)
{
    site->default_group = *value;

    if (ngx_kefu_valid_id(site->default_group.data, site->default_group.len)
        != NGX_OK)
    {
        return "has an invalid default_group";
    }

    return NGX_CONF_OK;
}


static char *
ngx_kefu_site_capacity(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_kefu_site_param_t *p, ngx_str_t *value)
{
    ngx_int_t  n;

    n = ngx_atoi(value->data, value->len);

    if (n == NGX_ERROR || n > 1000) {
        return "has an invalid capacity: an integer from 0 to 1000";
    }

    site->capacity = (ngx_uint_t) n;
    return NGX_CONF_OK;
}


/* grace=, bot_idle=, retention=, anonymous_retention=: a time in bounds */

static char *
ngx_kefu_site_msec(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_kefu_site_param_t *p, ngx_str_t *value)
{
    ngx_msec_t               ms;
    ngx_kefu_msec_bounds_t  *b;

    b = p->bounds;
    ms = ngx_parse_time(value, 0);

    if (ms == (ngx_msec_t) NGX_ERROR || ms < b->min
        || (b->max && ms > b->max))
    {
        return b->error;
    }

    *(ngx_msec_t *) ((u_char *) site + p->offset) = ms;
    return NGX_CONF_OK;
}


static char *
ngx_kefu_site_settings_file(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_kefu_site_param_t *p, ngx_str_t *value)
{
    if (ngx_kefu_site_settings(cf, site, value) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* secret_file=: the secret's bytes, read once at configuration time */

static char *
ngx_kefu_site_secret_file(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_kefu_site_param_t *param, ngx_str_t *path)
{
    u_char           *p;
    ssize_t           n;
    ngx_file_t        file;
    ngx_file_info_t   fi;

    if (ngx_conf_full_name(cf->cycle, path, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(&file, sizeof(ngx_file_t));
    file.name = *path;
    file.log = cf->log;

    /* configuration time: a blocking read is fine here */
    file.fd = ngx_open_file(path->data, NGX_FILE_RDONLY,
                            NGX_FILE_OPEN, 0);
    if (file.fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "\"kefu_site\" cannot open secret file "
                           "\"%V\"", path);
        return NGX_CONF_ERROR;
    }

    if (ngx_fd_info(file.fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 4096)
    {
        ngx_close_file(file.fd);
        return "secret file must be at most 4096 bytes";
    }

    p = ngx_pnalloc(cf->pool, 4096);
    if (p == NULL) {
        ngx_close_file(file.fd);
        return NGX_CONF_ERROR;
    }

    n = ngx_read_file(&file, p, 4096, 0);
    ngx_close_file(file.fd);

    if (n == NGX_ERROR) {
        return NGX_CONF_ERROR;
    }

    /* the trailing newline an editor leaves is not the secret's */
    while (n > 0 && (p[n - 1] == LF || p[n - 1] == CR)) {
        n--;
    }

    site->secret.data = p;
    site->secret.len = n;

    return NGX_CONF_OK;
}


/*
 * settings=<file>: the site's default settings, a JSON document of the
 * schema the API takes (docs/api.md), checked as the API would.
 */

static ngx_int_t
ngx_kefu_site_settings(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_str_t *path)
{
    json_t              *doc;
    ngx_str_t            field, err;
    json_error_t         jerr;
    ngx_pool_cleanup_t  *cln;

    if (ngx_conf_full_name(cf->cycle, path, 1) != NGX_OK) {
        return NGX_ERROR;
    }

    /* configuration time: a blocking read is fine here */
    doc = json_load_file((char *) path->data, 0, &jerr);

    if (doc == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"kefu_site\" settings file \"%V\": %s "
                           "(line %d)", path, jerr.text, jerr.line);
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        json_decref(doc);
        return NGX_ERROR;
    }

    cln->handler = ngx_kefu_json_cleanup;
    cln->data = doc;

    if (ngx_kefu_settings_check(doc, cf->pool, cf->log, &field, &err)
        != NGX_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"kefu_site\" settings file \"%V\": %V %V",
                           path, &field, &err);
        return NGX_ERROR;
    }

    site->settings = doc;

    return NGX_OK;
}


static void
ngx_kefu_json_cleanup(void *data)
{
    json_decref(data);
}


static char *
ngx_kefu_check_size(ngx_conf_t *cf, void *post, void *data)
{
    ngx_kefu_size_bounds_t  *b = post;
    size_t                  *sp = data;

    u_char  *p, *last;

    if (*sp >= b->min && *sp <= b->max) {
        return NGX_CONF_OK;
    }

    /* returned text follows "\"name\" directive" in nginx's message */
    p = ngx_pnalloc(cf->pool, 64);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    last = ngx_snprintf(p, 63, "value must be between %uz and %uz",
                        b->min, b->max);
    *last = '\0';

    return (char *) p;
}


static char *
ngx_kefu_check_num(ngx_conf_t *cf, void *post, void *data)
{
    ngx_kefu_num_bounds_t  *b = post;
    ngx_int_t              *np = data;

    u_char  *p, *last;

    if (*np >= b->min && *np <= b->max) {
        return NGX_CONF_OK;
    }

    /* returned text follows "\"name\" directive" in nginx's message */
    p = ngx_pnalloc(cf->pool, 64);
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    last = ngx_snprintf(p, 63, "value must be between %i and %i",
                        b->min, b->max);
    *last = '\0';

    return (char *) p;
}


static char *
ngx_kefu_check_msec(ngx_conf_t *cf, void *post, void *data)
{
    ngx_kefu_msec_bounds_t  *b = post;
    ngx_msec_t              *mp = data;

    if (*mp < b->min || (b->max && *mp > b->max)) {
        return b->error;
    }

    return NGX_CONF_OK;
}


/*
 * What is running, in the error log of every start and reload, the way
 * nginx logs its own version: after an upgrade the log says which module
 * version the new workers have.  "nginx -t" stays quiet.
 */

static ngx_int_t
ngx_kefu_init_module(ngx_cycle_t *cycle)
{
    if (ngx_test_config) {
        return NGX_OK;
    }

    ngx_log_error(NGX_LOG_NOTICE, cycle->log, 0,
                  "kefu: ngx_kefu_module/" NGX_KEFU_VERSION
                  " built for " NGINX_VER " with hiredis %d.%d.%d,"
                  " jansson " JANSSON_VERSION ", " OPENSSL_VERSION_TEXT,
                  HIREDIS_MAJOR, HIREDIS_MINOR, HIREDIS_PATCH);

    return ngx_kefu_zone_init_module(cycle);
}


/*
 * Every connection of a worker reads into one buffer and parses from there,
 * so a connection owns no read buffer of its own.  It belongs to the
 * worker's cycle: a reload starts new workers with a new one.
 */

static ngx_int_t
ngx_kefu_init_process(ngx_cycle_t *cycle)
{
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);
    if (kmcf == NULL) {
        return NGX_OK;
    }

    kmcf->read_buffer = ngx_palloc(cycle->pool, NGX_KEFU_READ_BUFFER_SIZE);
    if (kmcf->read_buffer == NULL) {
        return NGX_ERROR;
    }

    if (ngx_kefu_zone_init_process(cycle) != NGX_OK
        || ngx_kefu_local_init(cycle) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_kefu_redis_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    /*
     * What hears the Redis layer's events, in this order: delivery retries
     * first, then settings, then token revocations, then leases (as the
     * calls ran before).
     */
    if (ngx_kefu_redis_consume(kmcf->redis, &ngx_kefu_conv_redis_consumer)
           != NGX_OK
        || ngx_kefu_redis_consume(kmcf->redis,
                                  &ngx_kefu_settings_redis_consumer)
           != NGX_OK
        || ngx_kefu_redis_consume(kmcf->redis,
                                  &ngx_kefu_revoke_redis_consumer)
           != NGX_OK
        || ngx_kefu_redis_consume(kmcf->redis,
                                  &ngx_kefu_lease_redis_consumer)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_kefu_lease_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_kefu_settings_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_kefu_revoke_init_process(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_kefu_retain_init(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_kefu_idle_init(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_kefu_bot_idle_init(cycle) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_kefu_upload_sweep_init(cycle);
}


/*
 * Gives the leases back and closes the Redis connections: an exiting worker
 * leaves no socket open.  Then the per-pass batch queues (ngx_kefu_batch.c)
 * let go of what they hold: after the Redis layer, because its calls in
 * flight are answered (with NULL) as it closes, and their handlers give
 * items back to the queues (a failed event_put's events to its timer).
 */

static void
ngx_kefu_exit_process(ngx_cycle_t *cycle)
{
    ngx_kefu_main_conf_t  *kmcf;

    ngx_kefu_lease_exit(cycle);
    ngx_kefu_settings_exit_process(cycle);
    ngx_kefu_revoke_exit_process(cycle);
    ngx_kefu_redis_exit_process(cycle);

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);

    if (kmcf == NULL) {
        return;
    }

    /* messages first: what their answers give the two others goes too */
    ngx_kefu_msg_batch_exit(kmcf);
    ngx_kefu_msg_events_exit(kmcf);
    ngx_kefu_search_exit(kmcf);
}
