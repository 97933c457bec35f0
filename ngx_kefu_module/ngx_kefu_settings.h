
/*
 * Site settings: what people edit (business hours, texts, skill groups'
 * display names, the widget's look, the contact form), stored per site in
 * Redis, defaults from nginx.conf (kefu_site ... settings=<file>).  Each
 * worker keeps the effective document of every site and reloads it when a
 * change is announced on its "kefu:{s:<site>}:settings" channel.  See
 * docs/api.md, "Site settings", for the schema.
 */


#ifndef _NGX_KEFU_SETTINGS_H_INCLUDED_
#define _NGX_KEFU_SETTINGS_H_INCLUDED_


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_bot.h"


#define NGX_KEFU_SETTINGS_MAX        (256 * 1024)   /* as JSON */

/* idle_close: seconds (docs/routing.md, "Idle conversations") */
#define NGX_KEFU_IDLE_CLOSE_MIN      60
#define NGX_KEFU_IDLE_CLOSE_MAX      (30 * 86400)
#define NGX_KEFU_IDLE_CLOSE_DEFAULT  86400

/* intervals a day, dated exceptions */
#define NGX_KEFU_HOURS_PER_DAY       8
#define NGX_KEFU_HOURS_EXCEPTIONS    400


typedef struct {
    uint16_t                     from;        /* minutes of the day */
    uint16_t                     to;          /* at most 24 * 60 */
} ngx_kefu_interval_t;


typedef struct {
    int32_t                      date;        /* yyyymmdd */
    ngx_uint_t                   n;
    ngx_kefu_interval_t          iv[NGX_KEFU_HOURS_PER_DAY];
} ngx_kefu_hours_day_t;


/* business hours, parsed; one allocation (ngx_alloc), freed with ngx_free */
typedef struct {
    ngx_uint_t                   nweek[7];    /* 0 is Sunday */
    ngx_kefu_interval_t          week[7][NGX_KEFU_HOURS_PER_DAY];
    ngx_uint_t                   nexc;
    ngx_kefu_hours_day_t        *exc;         /* sorted by date */
    ngx_uint_t                   ntrans;      /* time zone transitions */
    int64_t                     *at;          /* UTC seconds */
    int32_t                     *off;         /* UTC offset from then on */
    int32_t                      off0;        /* before the first */
    u_char                       data[];
} ngx_kefu_hours_t;


/* per worker and site: what ngx_kefu_site_t.rt points to */
typedef struct {
    ngx_kefu_site_t             *site;
    ngx_kefu_main_conf_t        *kmcf;
    json_t                      *doc;         /* effective settings */
    json_t                      *stored;      /* as stored, or NULL */
    int64_t                      version;     /* stored: 0 for none */
    ngx_kefu_hours_t            *hours;       /* NULL: always open */
    ngx_kefu_bot_conf_t         *bot;         /* bot, faq, rules compiled */
    json_t                      *online;      /* groups with an agent */
    ngx_event_t                  tick;        /* business hours turn */
    ngx_event_t                  recheck;     /* presence changed */
    unsigned                     open:1;
    unsigned                     known:1;     /* online was read */
    unsigned                     loading:1;
    unsigned                     again:1;     /* reload once loaded */
    unsigned                     checking:1;
    unsigned                     read:1;      /* stored settings read */
} ngx_kefu_site_rt_t;


/* ngx_kefu_hours.c */
ngx_int_t ngx_kefu_hours_check(json_t *hours, ngx_pool_t *pool,
    ngx_log_t *log, ngx_str_t *field, ngx_str_t *err,
    ngx_kefu_hours_t **out);
ngx_uint_t ngx_kefu_hours_open(ngx_kefu_hours_t *h, time_t now);

/* ngx_kefu_settings.c */
ngx_int_t ngx_kefu_settings_check(json_t *doc, ngx_pool_t *pool,
    ngx_log_t *log, ngx_str_t *field, ngx_str_t *err);
json_t *ngx_kefu_settings_merge(ngx_kefu_site_t *site, json_t *stored);
ngx_int_t ngx_kefu_settings_init_process(ngx_cycle_t *cycle);
void ngx_kefu_settings_exit_process(ngx_cycle_t *cycle);
void ngx_kefu_settings_ready(ngx_kefu_main_conf_t *kmcf);
void ngx_kefu_settings_published(ngx_kefu_main_conf_t *kmcf,
    ngx_str_t *channel, ngx_str_t *payload);
extern const ngx_kefu_redis_consumer_t  ngx_kefu_settings_redis_consumer;
json_t *ngx_kefu_settings_public(ngx_kefu_site_t *site);
ngx_uint_t ngx_kefu_settings_group_known(ngx_kefu_site_t *site,
    ngx_str_t *group);
ngx_int_t ngx_kefu_settings_idle_close(ngx_kefu_site_t *site,
    ngx_msec_t *ms);
const char *ngx_kefu_settings_text(ngx_kefu_site_t *site, ngx_uint_t en,
    const char *name);
void ngx_kefu_settings_ws(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req);

extern ngx_kefu_script_t  ngx_kefu_script_settings_get;
extern ngx_kefu_script_t  ngx_kefu_script_settings_put;
extern ngx_kefu_script_t  ngx_kefu_script_avail;
extern ngx_kefu_script_t  ngx_kefu_script_contact;    /* ngx_kefu_avail.c */

/* ngx_kefu_avail.c: availability and the visitor's contact details */
json_t *ngx_kefu_avail_json(ngx_kefu_ws_t *ws);
ngx_uint_t ngx_kefu_avail_open(ngx_kefu_ws_t *ws);
void ngx_kefu_avail_changed(ngx_kefu_site_rt_t *rt, ngx_uint_t force);
void ngx_kefu_contact(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req);


#endif /* _NGX_KEFU_SETTINGS_H_INCLUDED_ */
