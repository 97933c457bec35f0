
/*
 * The WebSocket connection that a client's HTTP request became after 101.
 *
 * The request and its pool are gone by then (see ngx_kefu_handshake.c):
 * everything a connection keeps lives in this structure, allocated from
 * the connection's own small pool.  Buffers exist only while they hold
 * bytes: an idle connection owns none.
 */


#ifndef _NGX_KEFU_WS_H_INCLUDED_
#define _NGX_KEFU_WS_H_INCLUDED_


#include "ngx_kefu.h"


#define NGX_KEFU_OP_CONT     0x0
#define NGX_KEFU_OP_TEXT     0x1
#define NGX_KEFU_OP_BINARY   0x2
#define NGX_KEFU_OP_CLOSE    0x8
#define NGX_KEFU_OP_PING     0x9
#define NGX_KEFU_OP_PONG     0xa

#define NGX_KEFU_MAX_CONTROL 125


/* incremental frame header parser */
typedef struct {
    u_char                       hdr[14];
    unsigned                     have:4;      /* header bytes so far */
    unsigned                     need:4;      /* header bytes in total */
    unsigned                     in_payload:1;
    unsigned                     fin:1;
    unsigned                     opcode:4;
    u_char                       mask[4];
    unsigned                     mask_pos:2;
    uint64_t                     remaining;   /* payload bytes still due */
} ngx_kefu_frame_t;


/* what the access log line at the end needs of the request (ngx_kefu_log.c) */
typedef struct ngx_kefu_log_info_s  ngx_kefu_log_info_t;


/* a close hook (ngx_kefu_session.h), the transport's drained handler */
typedef void (*ngx_kefu_ws_handler_pt)(ngx_kefu_ws_t *ws);

#define NGX_KEFU_CLOSE_HOOKS  8


/*
 * What the layers above give the transport when it takes a connection
 * over (ngx_kefu_ws_start()): it calls up only through these.
 */
typedef struct {
    /* the HTTP request is about to be freed: keep what is needed of it */
    void                       (*taken)(ngx_kefu_ws_t *ws,
                                        ngx_http_request_t *r);
    /* one complete, UTF-8-checked text message */
    void                       (*message)(ngx_kefu_ws_t *ws, u_char *data,
                                          size_t len);
    /* the connection ends: the session lets go of what it holds */
    ngx_kefu_ws_handler_pt       closed;
} ngx_kefu_ws_handlers_t;


/* one queued outgoing frame, header and payload in one allocation */
typedef struct ngx_kefu_out_s  ngx_kefu_out_t;

struct ngx_kefu_out_s {
    ngx_kefu_out_t              *next;
    size_t                       len;
    size_t                       sent;
    u_char                       data[];
};


/*
 * The transport: one WebSocket connection's framing, buffers, heartbeats
 * and close handshake (ngx_kefu_ws.c).  It knows nothing of the session it
 * carries.
 */
typedef struct {
    const ngx_kefu_ws_handlers_t *handlers;
    ngx_kefu_frame_t             frame;

    /* the data message being assembled (text only; binary is refused) */
    u_char                      *msg;
    size_t                       msg_len;
    size_t                       msg_size;
    uint32_t                     utf8_state;

    /* the control frame being assembled, at most 125 bytes */
    u_char                      *ctl;
    size_t                       ctl_len;

    /* bytes that arrived behind the handshake, parsed before the socket */
    u_char                      *preread;
    size_t                       preread_len;

    ngx_kefu_out_t              *out;
    ngx_kefu_out_t             **out_last;
    size_t                       out_bytes;    /* out and held */

    /* text frames queued while the output is held (ngx_kefu_ws_hold()) */
    ngx_kefu_out_t              *held;
    ngx_kefu_out_t             **held_last;

    ngx_msec_t                   last_in;
    ngx_msec_t                   last_ping;

    /* who waits for the send queue to drain below a quarter, once */
    ngx_kefu_ws_handler_pt       drained;

    uint16_t                     close_code;  /* what we sent, for logs */

    unsigned                     in_message:1;  /* a fragmented message */
    unsigned                     close_sent:1;
    unsigned                     close_received:1;
    unsigned                     lingering:1;  /* write side shut down */
    unsigned                     failed:1;     /* drop the connection now */
    unsigned                     write_failed:1; /* read what is left, drop */
    unsigned                     holding:1;    /* text frames wait in held */
    unsigned                     releasing:1;  /* held go behind the next */
} ngx_kefu_ws_io_t;


/*
 * The session a client's connection carries: who it is, its
 * conversations, presence (ngx_kefu_session.h).  ws->io is its transport.
 */
struct ngx_kefu_ws_s {
    ngx_connection_t            *connection;
    ngx_kefu_loc_conf_t         *conf;
    ngx_kefu_main_conf_t        *main_conf;

    ngx_kefu_ws_io_t            *io;

    ngx_msec_t                   start;
    /* a visitor's: when a message of it last renewed its record's expiry
     * (ngx_kefu_msg_visitor_ttl()), 0: none yet */
    ngx_msec_t                   visitor_kept;

    /* the message rate's token bucket, in millionths of a message */
    uint64_t                     rate_tokens;
    ngx_msec_t                   rate_last;
    ngx_uint_t                   rate_strikes;

    ngx_uint_t                   messages_in;
    ngx_uint_t                   messages_out;

    /* who this is, once hello succeeded */
    ngx_rbtree_node_t            session_node; /* the worker's sessions */
    ngx_queue_t                  members;      /* of ngx_kefu_member_t */
    ngx_str_t                    group;        /* a visitor's skill group */
    ngx_kefu_site_t             *site;
    ngx_str_t                    user_id;
    ngx_str_t                    jti;          /* its token's, if any */
    ngx_str_t                    name;
    ngx_str_t                    user_agent;  /* at the upgrade, bounded */
    json_t                      *claims;      /* agents' groups, capacity */
    json_t                      *intent;      /* a visitor's {attrs, page}
                                                 while its site's rules
                                                 route by them */
    void                        *welcome;     /* hello waiting to subscribe */
    ngx_kefu_ws_handler_pt       subscribed;  /* hello's, called by delivery
                                                 once its channel is
                                                 subscribed */
    void                        *zone_session;  /* its record in the zone */
    uint64_t                     session_id;
    ngx_uint_t                   role;

    ngx_kefu_log_info_t         *log_info;

    ngx_kefu_ws_handler_pt       close_hooks[NGX_KEFU_CLOSE_HOOKS];
    ngx_uint_t                   nclose;

    unsigned                     hello_done:1;
    unsigned                     in_local:1;    /* in the worker's index */
    unsigned                     present:1;    /* counted in presence */
    unsigned                     status_online:1;  /* hello's "status" */
    unsigned                     anonymous:1;  /* a visitor of our minting */
    unsigned                     lang_en:1;    /* a visitor's texts */
    unsigned                     avail_sent:1; /* availability told: */
    unsigned                     avail_open:1;
    unsigned                     avail_online:1;
};


/* a User-Agent kept for the agents' visitor panel: longer is cut */
#define NGX_KEFU_MAX_UA_LEN  512


/* ngx_kefu_ws.c */
ngx_int_t ngx_kefu_ws_start(ngx_http_request_t *r, ngx_str_t *response,
    const ngx_kefu_ws_handlers_t *handlers);
ngx_int_t ngx_kefu_ws_send_text(ngx_kefu_ws_t *ws, u_char *data, size_t len);
void ngx_kefu_ws_hold(ngx_kefu_ws_t *ws);
void ngx_kefu_ws_release(ngx_kefu_ws_t *ws, ngx_uint_t keep);
void ngx_kefu_ws_fail(ngx_kefu_ws_t *ws, ngx_uint_t code, const char *reason);

/* ngx_kefu_ws_parse.c */
ngx_int_t ngx_kefu_ws_parse_header(ngx_kefu_frame_t *f, u_char **pos,
    u_char *last, const char **reason);
void ngx_kefu_ws_unmask(ngx_kefu_frame_t *f, u_char *dst, u_char *src,
    size_t n);
ngx_uint_t ngx_kefu_ws_check_close(u_char *p, size_t len);
u_char *ngx_kefu_ws_frame_header(u_char *p, ngx_uint_t opcode, size_t len);
size_t ngx_kefu_ws_frame_header_size(size_t len);


#endif /* _NGX_KEFU_WS_H_INCLUDED_ */
