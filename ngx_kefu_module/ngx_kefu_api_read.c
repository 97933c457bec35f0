
/*
 * The HTTP API's reads: conversation lists, one conversation, its log,
 * agents, queues (docs/api.md).  Each is one read-only script
 * (lua/api_*.lua) whose reply becomes the JSON answer.
 */


#include "ngx_kefu_api.h"
#include "ngx_kefu_upload.h"
#include "ngx_kefu_attach.h"


/* a listing's filter, while its rows are read */
typedef struct {
    ngx_str_t                    state;
    ngx_str_t                    agent;
    ngx_str_t                    group;
    int64_t                      limit;
    int64_t                      look;
} ngx_kefu_api_list_t;

/* entries of the index a filtered page looks at, at most */
#define NGX_KEFU_API_LIST_LOOK  200

static void ngx_kefu_api_labels(json_t *c, redisReply *v);
static ngx_int_t ngx_kefu_api_list_read(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_list_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *rows);
static ngx_int_t ngx_kefu_api_rows(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *index, size_t first,
    const char **fields, ngx_uint_t nf, ngx_kefu_api_done_pt done);
static ngx_int_t ngx_kefu_api_conv_found(ngx_http_request_t *r,
    redisReply *reply);
static ngx_int_t ngx_kefu_api_conv_read(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_conv_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *vreply);
static void ngx_kefu_api_conv_hash(json_t *c, json_t *v, redisReply *h);
static void ngx_kefu_api_conv_visitor(json_t *v, redisReply *h,
    redisReply *pages);
static ngx_int_t ngx_kefu_api_log_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_agents_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_queue_read(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_queue_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *rows);


/* GET .../convs?state=&agent=&group=&since=&cursor=&limit= */

ngx_int_t
ngx_kefu_api_list(ngx_http_request_t *r, ngx_kefu_api_t *api, json_t *body)
{
    u_char               *p;
    int64_t               limit, t;
    ngx_int_t             rc;
    ngx_str_t             state, agent, group, cursor;
    ngx_kefu_call_t       call;
    ngx_kefu_api_list_t  *f;

    ngx_str_null(&state);
    ngx_str_null(&agent);
    ngx_str_null(&group);
    ngx_str_null(&cursor);

    if (ngx_kefu_api_arg(r, "state", &state) == NGX_OK
        && !(state.len == 6 && ngx_strncmp(state.data, "queued", 6) == 0)
        && !(state.len == 4 && ngx_strncmp(state.data, "open", 4) == 0)
        && !(state.len == 6 && ngx_strncmp(state.data, "closed", 6) == 0))
    {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"state\" must be queued, open or closed");
    }

    if ((ngx_kefu_api_arg(r, "agent", &agent) == NGX_OK
         && ngx_kefu_valid_id(agent.data, agent.len) != NGX_OK)
        || (ngx_kefu_api_arg(r, "group", &group) == NGX_OK
            && ngx_kefu_valid_id(group.data, group.len) != NGX_OK))
    {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"agent\" and \"group\" must be ids");
    }

    if (ngx_kefu_api_arg(r, "cursor", &cursor) == NGX_OK) {
        p = ngx_strlchr(cursor.data, cursor.data + cursor.len, ':');

        if (p == NULL || p == cursor.data || p - cursor.data > 18
            || ngx_atoof(cursor.data, p - cursor.data) == NGX_ERROR
            || ngx_kefu_valid_id(p + 1, cursor.data + cursor.len - p - 1)
               != NGX_OK)
        {
            return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                      "\"cursor\" is not one this API gave");
        }
    }

    limit = NGX_KEFU_API_LIST_LIMIT;
    rc = ngx_kefu_api_arg_int(r, api, "limit", 1, NGX_KEFU_API_LIST_MAX,
                              &limit);
    if (rc == NGX_ABORT) {
        return api->rc;
    }

    t = -1;
    rc = ngx_kefu_api_arg_int(r, api, "since", 0, NGX_KEFU_API_INT_MAX, &t);
    if (rc == NGX_ABORT) {
        return api->rc;
    }

    /* an agent lists its own conversations only */
    if (api->agent) {
        agent = api->sub;
    }

    f = ngx_pcalloc(r->pool, sizeof(ngx_kefu_api_list_t));
    if (f == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    f->state = state;
    f->agent = agent;
    f->group = group;
    f->limit = limit;

    /*
     * The index in the site's slot, then each entry's row in its own:
     * unfiltered, the page and one more (is there a next page?); a filter
     * looks at NGX_KEFU_API_LIST_LOOK entries at most.
     */
    f->look = (state.len || agent.len || group.len)
              ? ngx_max(limit, NGX_KEFU_API_LIST_LOOK) : limit;

    if (ngx_kefu_api_list_args(&call, &api->site->name, t, &cursor,
                               f->look + 1)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    api->data = f;

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_api_list, &call,
                                  ngx_kefu_api_list_read);
}


static const char  *ngx_kefu_api_list_fields[] = { "site", "state", "seq",
    "agent", "visitor", "group", "created", "updated", "labels" };


static ngx_int_t
ngx_kefu_api_list_read(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements % 2) {
        return ngx_kefu_api_unavailable(r);
    }

    return ngx_kefu_api_rows(r, api, reply, 1, ngx_kefu_api_list_fields, 9,
                             ngx_kefu_api_list_done);
}


static ngx_uint_t
ngx_kefu_api_list_is(redisReply *v, ngx_str_t *want)
{
    return want->len == 0
           || (v->len == want->len
               && ngx_strncmp(v->str, want->data, want->len) == 0);
}


static ngx_int_t
ngx_kefu_api_list_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *rows)
{
    u_char               *p;
    size_t                i, k, n, looked;
    json_t               *convs, *c, *next;
    redisReply          **e, **x, *ix;
    ngx_kefu_api_list_t  *f;

    f = api->data;
    ix = api->kept;
    x = ix->element;
    n = ix->elements / 2;

    if (rows->type != REDIS_REPLY_ARRAY || rows->elements != n) {
        return ngx_kefu_api_unavailable(r);
    }

    convs = json_array();
    if (convs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    next = NULL;
    looked = 0;

    for (i = 0, k = 0; i < n && looked < (size_t) f->look; i++) {
        looked++;
        e = rows->element[i]->element;

        if (rows->element[i]->elements == 9
            && (size_t) e[0]->len == api->site->name.len
            && ngx_strncmp(e[0]->str, api->site->name.data, e[0]->len) == 0
            && ngx_kefu_api_list_is(e[1], &f->state)
            && ngx_kefu_api_list_is(e[3], &f->agent)
            && ngx_kefu_api_list_is(e[5], &f->group))
        {
            c = json_pack("{s:o,s:o,s:I,s:o,s:o,s:o,s:I,s:I}",
                          "conv", ngx_kefu_api_str(x[2 * i + 1]),
                          "state", ngx_kefu_api_str(e[1]),
                          "seq", (json_int_t) ngx_kefu_api_int(e[2]),
                          "agent", ngx_kefu_api_str(e[3]),
                          "visitor", ngx_kefu_api_str(e[4]),
                          "group", ngx_kefu_api_str(e[5]),
                          "created", (json_int_t) ngx_kefu_api_int(e[6]),
                          "updated", (json_int_t) ngx_kefu_api_int(e[7]));

            if (c) {
                ngx_kefu_api_labels(c, e[8]);
            }

            if (c == NULL || json_array_append_new(convs, c) != 0) {
                json_decref(convs);
                return NGX_HTTP_INTERNAL_SERVER_ERROR;
            }

            k++;
        }

        if (k == (size_t) f->limit) {
            break;
        }
    }

    /* stopped before the index's end: go on after the last looked at */
    if (n > looked && looked) {
        i = looked - 1;
        p = ngx_pnalloc(r->pool, x[2 * i]->len + 1 + x[2 * i + 1]->len);
        if (p == NULL) {
            json_decref(convs);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(p, x[2 * i]->str, x[2 * i]->len);
        p[x[2 * i]->len] = ':';
        ngx_memcpy(p + x[2 * i]->len + 1, x[2 * i + 1]->str,
                   x[2 * i + 1]->len);
        next = json_stringn((char *) p, x[2 * i]->len + 1
                                        + x[2 * i + 1]->len);
    }

    return ngx_kefu_api_send(r, NGX_HTTP_OK,
                             json_pack("{s:o,s:o}", "convs", convs,
                                       "next", next ? next : json_null()));
}


/* a rule's labels (a JSON array in the hash) as "labels", [] for none */

static void
ngx_kefu_api_labels(json_t *c, redisReply *v)
{
    json_t  *l;

    l = (v->type == REDIS_REPLY_STRING && v->len)
        ? json_loadb(v->str, v->len, 0, NULL) : NULL;

    json_object_set_new(c, "labels", json_is_array(l) ? json_incref(l)
                                                      : json_array());
    json_decref(l);
}


/*
 * A reply that starts with the conversation's code (0: there is none):
 * NGX_DECLINED to go on, else what answering 503 or 404 returned
 */

static ngx_int_t
ngx_kefu_api_conv_found(ngx_http_request_t *r, redisReply *reply)
{
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        return ngx_kefu_api_unavailable(r);
    }

    if (reply->element[0]->integer == 0) {
        return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                  "no such conversation");
    }

    return NGX_DECLINED;
}


/* GET .../convs/<conv> */

ngx_int_t
ngx_kefu_api_conv(ngx_http_request_t *r, ngx_kefu_api_t *api, json_t *body)
{
    ngx_kefu_call_t  call;

    /* an agent reads what it may read over WebSocket, no more */
    if (ngx_kefu_api_conv_args(&call, &api->site->name, &api->id,
                               api->agent ? &api->reader : NULL)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_api_conv, &call,
                                  ngx_kefu_api_conv_read);
}


/*
 * The conversation (its slot) came: kept in the request's pool while its
 * visitor is read in the site's slot.
 */

static ngx_int_t
ngx_kefu_api_conv_read(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    size_t            i;
    ngx_int_t         rc;
    ngx_str_t         vid;
    redisReply       *h;
    ngx_kefu_call_t   call;

    rc = ngx_kefu_api_conv_found(r, reply);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (reply->elements != 4
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        return ngx_kefu_api_unavailable(r);
    }

    api->kept = ngx_kefu_redis_reply_copy(r->pool, reply);
    if (api->kept == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    h = reply->element[1];
    ngx_str_null(&vid);

    for (i = 0; i + 1 < h->elements; i += 2) {
        if (h->element[i]->len == 7
            && ngx_strncmp(h->element[i]->str, "visitor", 7) == 0
            && h->element[i + 1]->type == REDIS_REPLY_STRING)
        {
            vid.data = (u_char *) h->element[i + 1]->str;
            vid.len = h->element[i + 1]->len;
        }
    }

    if (vid.len == 0
        || ngx_kefu_valid_id(vid.data, vid.len) != NGX_OK
        || ngx_kefu_api_visitor_args(&call, &api->site->name, &vid)
           != NGX_OK)
    {
        /* no visitor to read: the answer shows none */
        return ngx_kefu_api_conv_done(r, api, ngx_kefu_redis_empty_reply());
    }

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_api_visitor, &call,
                                  ngx_kefu_api_conv_done);
}


/* the visitor's hash and pages: the answer, with the conversation kept */

static ngx_int_t
ngx_kefu_api_conv_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *vreply)
{
    size_t        i;
    json_t       *c, *v, *list;
    redisReply  **e, *conv, *all[6], empty;

    conv = api->kept;

    ngx_memzero(&empty, sizeof(redisReply));
    empty.type = REDIS_REPLY_ARRAY;

    if (vreply->type != REDIS_REPLY_ARRAY
        || (vreply->elements != 0 && vreply->elements != 2))
    {
        return ngx_kefu_api_unavailable(r);
    }

    /* as one script answered before: {1, conv, visitor, pages, ...} */
    all[0] = conv->element[0];
    all[1] = conv->element[1];
    all[2] = vreply->elements ? vreply->element[0] : &empty;
    all[3] = vreply->elements ? vreply->element[1] : &empty;
    all[4] = conv->element[2];
    all[5] = conv->element[3];

    e = all;

    c = json_pack("{s:s%,s:n,s:n,s:n,s:I,s:n,s:I,s:I,s:{},s:[]}",
                  "conv", api->id.data, api->id.len,
                  "state", "agent", "group", "seq", (json_int_t) 0,
                  "visitor", "created", (json_int_t) 0,
                  "updated", (json_int_t) 0, "read", "joined");
    v = json_pack("{s:n,s:n,s:{},s:n,s:[]}", "id", "name", "attrs", "page",
                  "pages");

    if (c == NULL || v == NULL) {
        json_decref(c);
        json_decref(v);
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_kefu_api_conv_hash(c, v, e[1]);
    ngx_kefu_api_conv_visitor(v, e[2], e[3]);

    json_object_set_new(c, "visitor", v);

    list = json_array();

    for (i = 0; list && e[4]->type == REDIS_REPLY_ARRAY && i < e[4]->elements;
         i++)
    {
        json_array_append_new(list, ngx_kefu_api_json(e[4]->element[i]));
    }

    json_object_set_new(c, "assignments", list ? list : json_array());

    list = json_object_get(c, "joined");

    for (i = 0; e[5]->type == REDIS_REPLY_ARRAY && i < e[5]->elements; i++) {
        json_array_append_new(list, ngx_kefu_api_str(e[5]->element[i]));
    }

    return ngx_kefu_api_send(r, NGX_HTTP_OK, c);
}


/* the conversation's hash into c (its visitor's id into v) */

static void
ngx_kefu_api_conv_hash(json_t *c, json_t *v, redisReply *h)
{
    size_t       i;
    json_t      *read, *rating;
    redisReply  *k;

    read = json_object_get(c, "read");
    rating = NULL;

    for (i = 0; h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2) {
        k = h->element[i];

        if (k->len > 2 && ngx_strncmp(k->str, "r:", 2) == 0) {
            json_object_setn_new(read, k->str + 2, k->len - 2,
                                 json_integer(ngx_kefu_api_int(
                                                  h->element[i + 1])));

        } else if ((k->len == 3 && ngx_strncmp(k->str, "seq", 3) == 0)
                   || (k->len == 7 && ngx_strncmp(k->str, "created", 7) == 0)
                   || (k->len == 7 && ngx_strncmp(k->str, "updated", 7) == 0))
        {
            json_object_setn_new(c, k->str, k->len,
                                 json_integer(ngx_kefu_api_int(
                                                  h->element[i + 1])));

        } else if ((k->len == 5 && ngx_strncmp(k->str, "state", 5) == 0)
                   || (k->len == 5 && ngx_strncmp(k->str, "agent", 5) == 0)
                   || (k->len == 5 && ngx_strncmp(k->str, "group", 5) == 0))
        {
            json_object_setn_new(c, k->str, k->len,
                                 ngx_kefu_api_str(h->element[i + 1]));

        } else if (k->len == 7 && ngx_strncmp(k->str, "visitor", 7) == 0) {
            json_object_set_new(v, "id", ngx_kefu_api_str(h->element[i + 1]));

        } else if (k->len == 5 && ngx_strncmp(k->str, "score", 5) == 0) {
            /* the visitor's rating, for the console's closed view */
            rating = rating ? rating : json_object();
            json_object_set_new(rating, "score",
                                json_integer(ngx_kefu_api_int(
                                                 h->element[i + 1])));

        } else if (k->len == 7 && ngx_strncmp(k->str, "comment", 7) == 0) {
            rating = rating ? rating : json_object();
            json_object_set_new(rating, "comment",
                                ngx_kefu_api_str(h->element[i + 1]));

        } else if (k->len == 6 && ngx_strncmp(k->str, "labels", 6) == 0) {
            ngx_kefu_api_labels(c, h->element[i + 1]);

        } else if (k->len == 6 && ngx_strncmp(k->str, "closed", 6) == 0) {
            json_object_set_new(c, "closed",
                                json_integer(ngx_kefu_api_int(
                                                 h->element[i + 1])));
        }
    }

    if (rating) {
        json_object_set_new(c, "rating", rating);
    }

    if (json_object_get(c, "labels") == NULL) {
        json_object_set_new(c, "labels", json_array());
    }
}


/*
 * The visitor: name and attrs where hello recorded them (its hash h);
 * the page trail, oldest first, the latest being the visitor's page
 */

static void
ngx_kefu_api_conv_visitor(json_t *v, redisReply *h, redisReply *pages)
{
    size_t       i;
    json_t      *list, *last;
    redisReply  *k;

    for (i = 0; h->type == REDIS_REPLY_ARRAY && i + 1 < h->elements; i += 2) {
        k = h->element[i];

        if (k->len == 4 && ngx_strncmp(k->str, "name", 4) == 0) {
            json_object_set_new(v, "name", ngx_kefu_api_str(h->element[i + 1]));

        } else if (k->len == 5 && ngx_strncmp(k->str, "attrs", 5) == 0) {
            json_object_set_new(v, "attrs",
                                ngx_kefu_api_json(h->element[i + 1]));

        } else if (k->len == 4 && ngx_strncmp(k->str, "open", 4) == 0) {
            json_object_set_new(v, "open", ngx_kefu_api_str(h->element[i + 1]));

        } else if (k->len == 2 && ngx_strncmp(k->str, "ua", 2) == 0) {
            /* its browser: the User-Agent of its latest connection */
            json_object_set_new(v, "ua", ngx_kefu_api_str(h->element[i + 1]));

        } else if (k->len == 7 && ngx_strncmp(k->str, "contact", 7) == 0) {
            /* what the visitor left in the contact form */
            json_object_set_new(v, "contact",
                                ngx_kefu_api_json(h->element[i + 1]));
        }
    }

    list = json_object_get(v, "pages");
    last = NULL;

    for (i = 0; pages->type == REDIS_REPLY_ARRAY && i < pages->elements; i++) {
        last = ngx_kefu_api_json(pages->element[i]);
        json_array_append_new(list, last);
    }

    if (last) {
        json_object_set(v, "page", last);
    }
}


/* GET .../convs/<conv>/messages?before=&after=&limit= */

ngx_int_t
ngx_kefu_api_log(ngx_http_request_t *r, ngx_kefu_api_t *api, json_t *body)
{
    int64_t          before, after, limit;
    ngx_int_t        rc, hb, ha;
    ngx_kefu_call_t  call;

    hb = ngx_kefu_api_arg_int(r, api, "before", 1, NGX_KEFU_API_INT_MAX,
                              &before);
    if (hb == NGX_ABORT) {
        return api->rc;
    }

    ha = ngx_kefu_api_arg_int(r, api, "after", 0, NGX_KEFU_API_INT_MAX,
                              &after);
    if (ha == NGX_ABORT) {
        return api->rc;
    }

    if (hb == NGX_OK && ha == NGX_OK) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "give \"before\" or \"after\", not both");
    }

    limit = NGX_KEFU_API_LIST_LIMIT;
    rc = ngx_kefu_api_arg_int(r, api, "limit", 1, NGX_KEFU_API_LIST_MAX,
                              &limit);
    if (rc == NGX_ABORT) {
        return api->rc;
    }

    if (ngx_kefu_api_log_args(&call, &api->site->name, &api->id,
                              hb == NGX_OK ? before : -1,
                              ha == NGX_OK ? after : -1, limit,
                              api->agent ? &api->reader : NULL)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_api_log, &call,
                                  ngx_kefu_api_log_done);
}


static ngx_int_t
ngx_kefu_api_log_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    size_t     i;
    json_t    *msgs, *m, *att;
    ngx_int_t  rc;

    rc = ngx_kefu_api_conv_found(r, reply);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    msgs = json_array();

    for (i = 2; msgs && i < reply->elements; i++) {
        m = ngx_kefu_api_json(reply->element[i]);

        /* attachments with a fresh link, as participants get them */
        att = json_object_get(m, "attachment");

        if (json_is_object(att)) {
            (void) ngx_kefu_attach_link(api->kmcf, api->site, att,
                                        (char *) api->id.data, api->id.len);
        }

        json_array_append_new(msgs, m);
    }

    return ngx_kefu_api_send(r, NGX_HTTP_OK,
                             json_pack("{s:s%,s:o,s:b}",
                                       "conv", api->id.data, api->id.len,
                                       "msgs", msgs,
                                       "more", reply->elements > 1
                                               && ngx_kefu_api_int(
                                                      reply->element[1])));
}


/* GET .../agents */

ngx_int_t
ngx_kefu_api_agents(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body)
{
    ngx_kefu_call_t  call;

    if (ngx_kefu_api_agents_args(&call, &api->site->name) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_api_agents, &call,
                                  ngx_kefu_api_agents_done);
}


static ngx_int_t
ngx_kefu_api_agents_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    size_t       i, j;
    json_t      *agents, *a, *g;
    redisReply  *e, *h, *k, *val;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_kefu_api_unavailable(r);
    }

    agents = json_array();

    for (i = 0; agents && i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2) {
            continue;
        }

        a = json_pack("{s:o,s:s,s:I,s:I,s:n,s:n,s:[],s:n}",
                      "id", ngx_kefu_api_str(e->element[0]),
                      "state", "offline", "conns", (json_int_t) 0,
                      "load", (json_int_t) 0, "capacity", "name", "groups",
                      "last");
        if (a == NULL) {
            continue;
        }

        h = e->element[1];

        for (j = 0; h->type == REDIS_REPLY_ARRAY && j + 1 < h->elements;
             j += 2)
        {
            k = h->element[j];
            val = h->element[j + 1];

            if ((k->len == 5 && ngx_strncmp(k->str, "state", 5) == 0)
                || (k->len == 4 && ngx_strncmp(k->str, "name", 4) == 0))
            {
                json_object_setn_new(a, k->str, k->len, ngx_kefu_api_str(val));

            } else if ((k->len == 5 && ngx_strncmp(k->str, "conns", 5) == 0)
                       || (k->len == 4 && ngx_strncmp(k->str, "load", 4) == 0)
                       || (k->len == 8
                           && ngx_strncmp(k->str, "capacity", 8) == 0)
                       || (k->len == 4 && ngx_strncmp(k->str, "last", 4) == 0))
            {
                json_object_setn_new(a, k->str, k->len,
                                     json_integer(ngx_kefu_api_int(val)));

            } else if (k->len == 6 && ngx_strncmp(k->str, "groups", 6) == 0) {
                /* a JSON array, or names separated by commas */
                g = ngx_kefu_api_json(val);

                if (!json_is_array(g)) {
                    json_decref(g);
                    g = json_array();

                    if (g && val->type == REDIS_REPLY_STRING) {
                        u_char  *p, *q, *end;

                        p = (u_char *) val->str;
                        end = p + val->len;

                        while (p < end) {
                            q = ngx_strlchr(p, end, ',');
                            if (q == NULL) {
                                q = end;
                            }

                            if (q > p) {
                                json_array_append_new(g,
                                    json_stringn((char *) p, q - p));
                            }

                            p = q + 1;
                        }
                    }
                }

                json_object_set_new(a, "groups", g ? g : json_array());
            }
        }

        json_array_append_new(agents, a);
    }

    return ngx_kefu_api_send(r, NGX_HTTP_OK,
                             json_pack("{s:o}", "agents", agents));
}


/* GET .../queues/<group>?limit= */

static const char  *ngx_kefu_api_queue_fields[] = { "visitor", "created" };


ngx_int_t
ngx_kefu_api_queue(ngx_http_request_t *r, ngx_kefu_api_t *api, json_t *body)
{
    int64_t          limit;
    ngx_int_t        rc;
    ngx_kefu_call_t  call;

    limit = NGX_KEFU_API_LIST_MAX;
    rc = ngx_kefu_api_arg_int(r, api, "limit", 1, NGX_KEFU_API_QUEUE_MAX,
                              &limit);
    if (rc == NGX_ABORT) {
        return api->rc;
    }

    if (ngx_kefu_api_queue_args(&call, &api->site->name, &api->id, limit)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_api_queue, &call,
                                  ngx_kefu_api_queue_read);
}


/* the queue (the site's slot): each conversation read in its own */

static ngx_int_t
ngx_kefu_api_queue_read(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    ngx_int_t  rc;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || (reply->elements - 1) % 2)
    {
        return ngx_kefu_api_unavailable(r);
    }

    rc = ngx_kefu_api_rows(r, api, reply, 1, ngx_kefu_api_queue_fields, 2,
                           ngx_kefu_api_queue_done);

    return rc;
}


static ngx_int_t
ngx_kefu_api_queue_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *rows)
{
    size_t        i, k;
    json_t       *convs, *c;
    redisReply  **e, *q, *row, none;

    q = api->kept;
    e = q->element;

    if (rows->type != REDIS_REPLY_ARRAY
        || rows->elements != (q->elements - 1) / 2)
    {
        return ngx_kefu_api_unavailable(r);
    }

    ngx_memzero(&none, sizeof(redisReply));
    none.type = REDIS_REPLY_STRING;
    none.str = "";

    convs = json_array();

    for (i = 1, k = 0; convs && i + 1 < q->elements; i += 2, k++) {
        row = rows->element[k];

        c = json_pack("{s:o,s:I,s:I,s:o,s:I}",
                      "conv", ngx_kefu_api_str(e[i]),
                      "position", (json_int_t) k + 1,
                      "since", (json_int_t) ngx_kefu_api_int(e[i + 1]),
                      "visitor", ngx_kefu_api_str(row->elements == 2
                                                  ? row->element[0] : &none),
                      "created", (json_int_t) ngx_kefu_api_int(
                                     row->elements == 2 ? row->element[1]
                                                        : &none));
        if (c) {
            json_array_append_new(convs, c);
        }
    }

    return ngx_kefu_api_send(r, NGX_HTTP_OK,
                             json_pack("{s:s%,s:I,s:o}",
                                       "group", api->id.data, api->id.len,
                                       "length",
                                       (json_int_t) ngx_kefu_api_int(e[0]),
                                       "convs", convs));
}


/*
 * A listing's index came (kept in the request's pool as api->kept): its
 * conversations, each conv the element at first, first + 2, ..., are
 * read in their own slots, pipelined; done gets one reply per
 * conversation ({} for one gone).
 */

static ngx_int_t
ngx_kefu_api_rows(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *index, size_t first, const char **fields, ngx_uint_t nf,
    ngx_kefu_api_done_pt done)
{
    ngx_kefu_gather_convs_t  *gc;

    api->kept = ngx_kefu_redis_reply_copy(r->pool, index);
    gc = ngx_palloc(r->pool, sizeof(ngx_kefu_gather_convs_t));

    if (api->kept == NULL || gc == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    gc->index = api->kept;
    gc->first = first;
    gc->step = 2;
    gc->fields = fields;
    gc->nfields = nf;

    return ngx_kefu_api_gather(r, &ngx_kefu_script_conv_fields,
                               (index->elements - first + 1) / 2,
                               ngx_kefu_gather_conv_fields, gc, 0, done);
}
