
/*
 * A client message's checks that need nothing but its text and who sends
 * it: one JSON object in, either the error the client gets or the request
 * it makes.  No Redis, no session, no I/O, so that the dispatch path and
 * the libFuzzer harness (fuzz/ngx_kefu_fuzz_validate.c) run the same code.
 *
 * What needs more than that stays with the handlers and is checked after
 * this: the site's name against the configuration, a token's signature, an
 * attachment link's signature, membership in a conversation, the settings
 * document (ngx_kefu_settings_check), storage being reachable.
 */


#ifndef _NGX_KEFU_VALIDATE_H_INCLUDED_
#define _NGX_KEFU_VALIDATE_H_INCLUDED_


#include "ngx_kefu.h"


/* the documented limits of docs/protocol.md */
#define NGX_KEFU_MAX_CID_LEN         64
#define NGX_KEFU_MAX_GROUP_LEN       64
#define NGX_KEFU_MAX_URL             2048
#define NGX_KEFU_HISTORY_LIMIT       50
#define NGX_KEFU_HISTORY_MAX         200
#define NGX_KEFU_CONTACT_NAME        128
#define NGX_KEFU_CONTACT_EMAIL       254
#define NGX_KEFU_CONTACT_PHONE       32


typedef enum {
    NGX_KEFU_REQ_NONE = 0,       /* not an object with a string "type" */
    NGX_KEFU_REQ_UNKNOWN,
    NGX_KEFU_REQ_PING,
    NGX_KEFU_REQ_HELLO,
    NGX_KEFU_REQ_MSG,
    NGX_KEFU_REQ_TYPING,
    NGX_KEFU_REQ_READ,
    NGX_KEFU_REQ_HISTORY,
    NGX_KEFU_REQ_PAGE,
    NGX_KEFU_REQ_ACCEPT,
    NGX_KEFU_REQ_TRANSFER,
    NGX_KEFU_REQ_CLOSE,
    NGX_KEFU_REQ_JOIN,
    NGX_KEFU_REQ_STATUS,
    NGX_KEFU_REQ_RATE,
    NGX_KEFU_REQ_CONTACT,
    NGX_KEFU_REQ_SETTINGS,
    NGX_KEFU_REQ_QUEUE,
    NGX_KEFU_REQ_HANDOFF,
    NGX_KEFU_REQ_LAST            /* not a type: the fuzz harness's bound */
} ngx_kefu_req_type_e;


/* who sends, and the location's limits */
typedef struct {
    ngx_uint_t                   role;        /* 0 before hello */
    ngx_uint_t                   supervisor;  /* may join conversations */
    size_t                       max_text;    /* kefu_max_text */
    size_t                       max_attrs;   /* kefu_max_attrs */
} ngx_kefu_sender_t;


/*
 * The strings and JSON values point into "json", which the request holds
 * until ngx_kefu_validate_free().
 */
struct ngx_kefu_req_s {
    ngx_uint_t                   type;        /* ngx_kefu_req_type_e */
    json_t                      *json;
    const char                  *cid;         /* "cid" when a string */

    /* refused: the error's code, message and cid (code NULL: accepted) */
    const char                  *code;
    const char                  *message;
    const char                  *error_cid;
    unsigned                     close:1;     /* and close 4401 (hello) */

    unsigned                     private:1;   /* msg */
    unsigned                     on:1;        /* typing */
    unsigned                     lang_en:1;   /* hello */
    unsigned                     name_bad:1;  /* hello: refused if used */

    ngx_uint_t                   role;        /* hello's */
    ngx_uint_t                   status;      /* hello: 0, 1 online, 2 away */
    ngx_str_t                    site;        /* hello */
    ngx_str_t                    group;       /* hello, agent actions */
    ngx_str_t                    conv;        /* empty: none given */
    ngx_str_t                    agent;       /* agent actions */
    ngx_str_t                    state;
    ngx_str_t                    comment;
    ngx_int_t                    score;       /* rate: 0-6, 1-5 valid */
    int64_t                      seq;         /* read */
    int64_t                      before;      /* history: 0, the latest */
    ngx_uint_t                   limit;       /* history: 1-200 */

    json_t                      *id;          /* ping */
    json_t                      *token;       /* hello: a string, or NULL */
    json_t                      *name;        /* hello, contact */
    json_t                      *attrs;       /* hello: an object */
    json_t                      *page;        /* hello; page: the message */
    json_t                      *resume;      /* hello: an object */
    json_t                      *text;        /* msg */
    json_t                      *attachment;  /* msg: still to be checked */
    json_t                      *buttons;     /* msg: a clean copy, or NULL */
    u_char                       errbuf[160]; /* a message naming a field */
    json_t                      *email;       /* contact */
    json_t                      *phone;
    json_t                      *settings;    /* settings: the new document */
};


void ngx_kefu_validate(u_char *data, size_t len, ngx_kefu_sender_t *sender,
    ngx_kefu_req_t *req);
void ngx_kefu_validate_free(ngx_kefu_req_t *req);
ngx_int_t ngx_kefu_page_valid(json_t *page);


#endif /* _NGX_KEFU_VALIDATE_H_INCLUDED_ */
