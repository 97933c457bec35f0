
/*
 * The HTTP API (kefu_api): the shop's backend talks to conversations
 * without a WebSocket.  See docs/api.md.  ngx_kefu_api.c takes a request
 * (route, token, body) and answers it; ngx_kefu_api_read.c and
 * ngx_kefu_api_write.c are the endpoints.
 */


#ifndef _NGX_KEFU_API_H_INCLUDED_
#define _NGX_KEFU_API_H_INCLUDED_


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route.h"     /* the actor the API acts as */
#include "ngx_kefu_http.h"


#define NGX_KEFU_API_MAX_NAME     64
#define NGX_KEFU_API_LIST_LIMIT   50
#define NGX_KEFU_API_LIST_MAX     200
#define NGX_KEFU_API_QUEUE_MAX    1000
#define NGX_KEFU_API_INT_MAX      ((int64_t) 999999999999999LL)


typedef struct ngx_kefu_api_s  ngx_kefu_api_t;

/*
 * An endpoint: gives NGX_DONE when it waits (for Redis, for routing) and
 * the request is then finished by its reply; anything else is the rc of
 * the response it gave.  A done handler turns a Redis reply into the
 * response the same way.
 */
typedef ngx_int_t (*ngx_kefu_api_start_pt)(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);
typedef ngx_int_t (*ngx_kefu_api_done_pt)(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
/* what a request does when an asynchronous step is over, the same way */
typedef ngx_int_t (*ngx_kefu_api_step_pt)(ngx_http_request_t *r,
    ngx_kefu_api_t *api, void *data);


/* one API request, in its pool */
struct ngx_kefu_api_s {
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_loc_conf_t         *kcf;
    ngx_kefu_site_t             *site;
    ngx_str_t                    id;          /* conv, visitor or group */
    ngx_str_t                    action;      /* assign, transfer, close */
    ngx_str_t                    sub;         /* the token's subject */
    ngx_kefu_api_start_pt        start;
    ngx_int_t                    rc;          /* of an error given early */
    redisReply                  *kept;        /* a reply, copied, that a
                                                 later step reads */
    u_char                       kind;        /* revocations: j or s */
    ngx_array_t                 *groups;      /* an agent's, of ngx_str_t */
    void                        *data;        /* an endpoint's own state */
    json_t                      *event;       /* a business event's name
                                                 and data, for its rules */
    unsigned                     visitor:1;   /* id is a visitor's */
    unsigned                     body:1;      /* the method takes a body */
    ngx_str_t                    reader;      /* an agent's "a:<id>" */
    unsigned                     admin:1;     /* the token's role */
    unsigned                     agent:1;     /* an agent: reads only what
                                                 it may read over
                                                 WebSocket */
    unsigned                     agents_ok:1; /* the endpoint takes agents
                                                 for more than that */
};


/* what a Redis reply handler gets: outlives the request if need be */
typedef struct {
    ngx_http_request_t          *r;           /* NULL: the request is gone */
    ngx_http_cleanup_t          *cln;
    ngx_kefu_api_done_pt         done;
    ngx_int_t                    rc;          /* of a synchronous outcome */
    ngx_uint_t                   sync;        /* 1 in the call, 2 done in it */
} ngx_kefu_api_wait_t;


char *ngx_kefu_api_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);

/* a visitor's hello: its name, attrs and page, kept for the API to show */

/* ngx_kefu_api.c: waiting and answering */
ngx_int_t ngx_kefu_api_eval(ngx_http_request_t *r, ngx_kefu_script_t *s,
    int argc, const char **argv, size_t *lens, ngx_kefu_api_done_pt done);
ngx_int_t ngx_kefu_api_eval_keys(ngx_http_request_t *r, ngx_kefu_script_t *s,
    int nkeys, int argc, const char **argv, size_t *lens,
    ngx_kefu_api_done_pt done);
ngx_int_t ngx_kefu_api_eval_call(ngx_http_request_t *r, ngx_kefu_script_t *s,
    ngx_kefu_call_t *call, ngx_kefu_api_done_pt done);
ngx_int_t ngx_kefu_api_gather(ngx_http_request_t *r, ngx_kefu_script_t *s,
    ngx_uint_t n, ngx_kefu_gather_args_pt args, void *args_data,
    ngx_uint_t flat, ngx_kefu_api_done_pt done);
ngx_int_t ngx_kefu_api_command(ngx_http_request_t *r, int argc,
    const char **argv, size_t *lens, ngx_kefu_api_done_pt done);
ngx_kefu_api_wait_t *ngx_kefu_api_wait(ngx_http_request_t *r,
    ngx_kefu_api_done_pt done);
ngx_http_request_t *ngx_kefu_api_wait_done(ngx_kefu_api_wait_t *w,
    ngx_int_t rc);
void ngx_kefu_api_resume(ngx_kefu_api_wait_t *w, ngx_int_t rc,
    ngx_kefu_api_step_pt step, void *data);
ngx_int_t ngx_kefu_api_started(ngx_http_request_t *r, ngx_kefu_api_wait_t *w,
    ngx_int_t *rc);
ngx_int_t ngx_kefu_api_unavailable(ngx_http_request_t *r);

/* the API answers with the module's one JSON writer (ngx_kefu_http.c) */
#define ngx_kefu_api_send   ngx_kefu_http_json
#define ngx_kefu_api_error  ngx_kefu_http_error
const char *ngx_kefu_api_bearer(ngx_http_request_t *r, ngx_str_t *token);
ngx_int_t ngx_kefu_api_unauthorized(ngx_http_request_t *r, const char *what,
    const char *err);
ngx_int_t ngx_kefu_api_bad_field(ngx_http_request_t *r, ngx_str_t *field,
    ngx_str_t *err);
ngx_int_t ngx_kefu_api_arg(ngx_http_request_t *r, const char *name,
    ngx_str_t *value);
ngx_int_t ngx_kefu_api_arg_int(ngx_http_request_t *r, ngx_kefu_api_t *api,
    const char *name, int64_t min, int64_t max, int64_t *n);
int64_t ngx_kefu_api_int(redisReply *e);
json_t *ngx_kefu_api_str(redisReply *e);
json_t *ngx_kefu_api_json(redisReply *e);
ngx_int_t ngx_kefu_api_valid(json_t *v, size_t max);

/* ngx_kefu_api_read.c */
ngx_int_t ngx_kefu_api_list(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body);
ngx_int_t ngx_kefu_api_conv(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body);
ngx_int_t ngx_kefu_api_log(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body);
ngx_int_t ngx_kefu_api_agents(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body);
ngx_int_t ngx_kefu_api_queue(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body);

/* ngx_kefu_api_write.c */
ngx_int_t ngx_kefu_api_message(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body);
ngx_int_t ngx_kefu_api_event(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body);
ngx_int_t ngx_kefu_api_action(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body);
void ngx_kefu_api_actor(ngx_kefu_api_t *api, ngx_kefu_actor_t *actor);

/* ngx_kefu_api_bot.c */
ngx_int_t ngx_kefu_api_rules_try(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body);
ngx_int_t ngx_kefu_api_faq_try(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body);

/* ngx_kefu_api_revoke.c */
ngx_int_t ngx_kefu_api_revoke(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body);
ngx_int_t ngx_kefu_api_revocations(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);

/* ngx_kefu_api_erase.c */
ngx_int_t ngx_kefu_api_export(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body);
ngx_int_t ngx_kefu_api_erase(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body);

/* ngx_kefu_search_api.c, ngx_kefu_api_canned.c: agent tokens too */
ngx_int_t ngx_kefu_api_search(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body);
ngx_int_t ngx_kefu_api_canned_get(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);
ngx_int_t ngx_kefu_api_canned_put(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);
ngx_int_t ngx_kefu_api_canned_delete(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);

/* ngx_kefu_api_settings.c */
ngx_int_t ngx_kefu_api_settings_get(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);
ngx_int_t ngx_kefu_api_settings_put(ngx_http_request_t *r,
    ngx_kefu_api_t *api, json_t *body);


#endif /* _NGX_KEFU_API_H_INCLUDED_ */
