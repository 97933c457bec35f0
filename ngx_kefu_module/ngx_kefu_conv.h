
/*
 * The worker's side of delivery: which of its connections are in which
 * conversation, what each has been delivered, and fan-out of what Redis
 * publishes.  See docs/storage.md, "Delivery in order, exactly once".
 */


#ifndef _NGX_KEFU_CONV_H_INCLUDED_
#define _NGX_KEFU_CONV_H_INCLUDED_


#include "ngx_kefu_ws.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_validate.h"


typedef struct ngx_kefu_conv_s    ngx_kefu_conv_t;
typedef struct ngx_kefu_member_s  ngx_kefu_member_t;


/* a conversation that connections of this worker are in */
struct ngx_kefu_conv_s {
    ngx_str_node_t               sn;          /* key: crc32 of the id */
    ngx_queue_t                  members;
    uint64_t                     max_seen;    /* highest seq published */
    ngx_str_t                    channel;
    unsigned                     subscribed:1;
    u_char                       data[];      /* id, then channel */
};


/*
 * Channels carry the hash tag of the keys of the scripts that publish on
 * them, so that in a cluster a script's SPUBLISH stays in its own slot
 * (docs/storage.md, "Channels"):
 *   kefu:{c:<conv>}              a conversation's entries (sequenced)
 *   kefu:{s:<site>}:u:<who>      a participant's notices
 *   kefu:{s:<site>}:g:<group>    a group's queue, for its agents
 *   kefu:{s:<site>}:p            the site's presence
 *   kefu:{s:<site>}:settings     the site's settings changed
 *   kefu:{s:<site>}:revoke       tokens revoked, visitors erased
 */
#define NGX_KEFU_CH_CONV         "kefu:{c:"
#define NGX_KEFU_CH_CONV_LEN     (sizeof(NGX_KEFU_CH_CONV) - 1)
#define NGX_KEFU_CH_SITE         "kefu:{s:"
#define NGX_KEFU_CH_SITE_LEN     (sizeof(NGX_KEFU_CH_SITE) - 1)

/* "kefu:{c:" + id + "}" */
#define NGX_KEFU_CH_CONV_MAX     (NGX_KEFU_CH_CONV_LEN + NGX_KEFU_MAX_ID_LEN \
                                  + 1)

/* the conversation a channel is of: NGX_OK, or NGX_DECLINED if none */
ngx_int_t ngx_kefu_channel_conv(ngx_str_t *channel, ngx_str_t *conv);
/* 'c' a conversation's, or a site's 'u', 'g', 'p', 's', 'r'; else 0 */
ngx_uint_t ngx_kefu_channel_kind(ngx_str_t *channel);
/* a site's channel's site: NGX_OK, or NGX_DECLINED if not a site's */
ngx_int_t ngx_kefu_channel_site(ngx_str_t *channel, ngx_str_t *site);


/* one connection in one conversation */
struct ngx_kefu_member_s {
    ngx_queue_t                  in_conv;
    ngx_queue_t                  in_ws;
    ngx_kefu_conv_t             *conv;
    ngx_kefu_ws_t               *ws;
    uint64_t                     delivered;   /* last seq delivered */
    ngx_event_t                 *typing;      /* while typing: its lapse */
    ngx_queue_t                  in_retry;    /* the worker's retries */
    ngx_msec_t                   retry_at;
    ngx_msec_t                   backoff;     /* of the catch-up's retries */
    ngx_uint_t                   batch;       /* entries a read asks for */
    unsigned                     catching_up:1;
    unsigned                     reading:1;   /* a catch-up read in flight */
    unsigned                     retrying:1;  /* in the worker's retries */
    unsigned                     paced:1;     /* waits for the send queue */
    unsigned                     closed:1;    /* its conversation closed */
};


/* per worker, in the main conf of its cycle */
struct ngx_kefu_local_s {
    ngx_rbtree_t                 convs;
    ngx_rbtree_node_t            convs_sentinel;
    ngx_rbtree_t                 sessions;
    ngx_rbtree_node_t            sessions_sentinel;
    ngx_queue_t                  retries;     /* members whose read failed */
    ngx_event_t                  retry;
};


ngx_int_t ngx_kefu_local_init(ngx_cycle_t *cycle);
void ngx_kefu_local_register(ngx_kefu_ws_t *ws);
void ngx_kefu_local_unregister(ngx_kefu_ws_t *ws);
ngx_kefu_ws_t *ngx_kefu_local_session(ngx_kefu_main_conf_t *kmcf,
    uint64_t sid);
typedef void (*ngx_kefu_local_each_pt)(ngx_kefu_ws_t *ws, void *data);
void ngx_kefu_local_each(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_kefu_local_each_pt handler, void *data);

ngx_kefu_member_t *ngx_kefu_channel_join(ngx_kefu_ws_t *ws,
    ngx_str_t *channel, uint64_t delivered);
ngx_kefu_member_t *ngx_kefu_conv_join(ngx_kefu_ws_t *ws, ngx_str_t *conv,
    uint64_t delivered);
ngx_kefu_member_t *ngx_kefu_conv_member(ngx_kefu_ws_t *ws, ngx_str_t *conv);
void ngx_kefu_conv_leave(ngx_kefu_member_t *m);
/* a conversation of the connection closed: the oldest closed are left */
void ngx_kefu_conv_closed(ngx_kefu_ws_t *ws, json_t *notice);

void ngx_kefu_conv_published(ngx_kefu_main_conf_t *kmcf, ngx_str_t *channel,
    ngx_str_t *payload);
void ngx_kefu_conv_subscribed(ngx_kefu_main_conf_t *kmcf,
    ngx_str_t *channel);
void ngx_kefu_conv_resync(ngx_kefu_main_conf_t *kmcf);
void ngx_kefu_conv_retry(ngx_kefu_main_conf_t *kmcf);

/* delivery's side of the Redis layer: messages, catch-ups after a loss */
extern const ngx_kefu_redis_consumer_t  ngx_kefu_conv_redis_consumer;
void ngx_kefu_conv_send_entry(ngx_kefu_ws_t *ws, u_char *json, size_t len);
void ngx_kefu_conv_drained(ngx_kefu_ws_t *ws);


#endif /* _NGX_KEFU_CONV_H_INCLUDED_ */
