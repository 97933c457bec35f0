
/*
 * GET <api>/sites/<site>/search?q=&limit=&before=: conversations found by
 * words of their messages and by their visitors (docs/api.md, "Search").
 * Two script calls, each with every key it touches declared, all under the
 * site's hash tag: search_find picks the hits from the index (for an agent
 * only in conversations it may read), search_fetch reads what the hits
 * show.
 */


#include "ngx_kefu_api.h"
#include "ngx_kefu_search.h"


/* the conversations an agent may search: its own, its groups' queues */
#define NGX_KEFU_SEARCH_FILTERS_MAX   64


typedef struct {
    ngx_str_t                    q;
    ngx_uint_t                   nw;          /* word terms */
    ngx_uint_t                   nf;          /* filter keys */
    ngx_str_t                    filter[NGX_KEFU_SEARCH_FILTERS_MAX + 1];
    int64_t                      limit;
    ngx_uint_t                   nh;          /* hits found */
    ngx_uint_t                   nv;          /* visitors found */
    ngx_uint_t                   more;
    int64_t                     *ts;          /* of each hit */
    ngx_str_t                    last;        /* the last hit's member */
    ngx_str_t                   *visitors;
} ngx_kefu_search_req_t;


static ngx_int_t ngx_kefu_search_query(ngx_http_request_t *r,
    ngx_kefu_api_t *api, ngx_kefu_search_req_t *sr,
    ngx_kefu_search_terms_t *t);
static ngx_int_t ngx_kefu_search_before(ngx_http_request_t *r,
    ngx_kefu_api_t *api, ngx_str_t *ts, ngx_str_t *member);
static ngx_int_t ngx_kefu_search_found(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_str_t *ngx_kefu_search_found_keep(ngx_http_request_t *r,
    ngx_kefu_search_req_t *sr, redisReply *hits, redisReply *vis);
static ngx_int_t ngx_kefu_search_fetched(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_search_filters(ngx_http_request_t *r,
    ngx_kefu_api_t *api, ngx_kefu_search_req_t *sr);


ngx_int_t
ngx_kefu_api_search(ngx_http_request_t *r, ngx_kefu_api_t *api,
    json_t *body)
{
    ngx_int_t                 rc;
    ngx_str_t                 bef_ts, bef_member;
    ngx_kefu_terms_call_t     call;
    ngx_kefu_search_req_t    *sr;
    ngx_kefu_search_terms_t  *t;

    /* nothing of the site is indexed: an empty answer would mislead */
    if (!api->site->search) {
        return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                  "search is off for this site "
                                  "(kefu_site search=off)");
    }

    sr = ngx_pcalloc(r->pool, sizeof(ngx_kefu_search_req_t));
    t = ngx_palloc(r->pool, sizeof(ngx_kefu_search_terms_t));

    if (sr == NULL || t == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_kefu_search_query(r, api, sr, t) != NGX_OK
        || ngx_kefu_search_before(r, api, &bef_ts, &bef_member) != NGX_OK)
    {
        return api->rc;
    }

    if (ngx_kefu_search_filters(r, api, sr) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sr->nw = t->n;
    api->data = sr;

    /* the same terms as words of messages and of visitors */
    if (ngx_kefu_search_find_args(&call, &api->site->name, t->term, t->n,
                                  sr->filter, sr->nf, sr->limit, &bef_ts,
                                  &bef_member)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_kefu_api_eval_keys(r, &ngx_kefu_script_search_find, call.nkeys,
                                call.argc, call.argv, call.lens,
                                ngx_kefu_search_found);
    ngx_free(call.argv);

    return rc;
}


/*
 * "q", its terms, and "limit": NGX_OK, or NGX_ABORT with the error sent
 * and its code in api->rc.
 */

static ngx_int_t
ngx_kefu_search_query(ngx_http_request_t *r, ngx_kefu_api_t *api,
    ngx_kefu_search_req_t *sr, ngx_kefu_search_terms_t *t)
{
    const char  *err;

    if (ngx_kefu_api_arg(r, "q", &sr->q) != NGX_OK) {
        err = "\"q\" is required: the words to look for";
        goto bad;
    }

    if (sr->q.len > NGX_KEFU_SEARCH_QUERY_MAX
        || ngx_kefu_utf8_validate(NGX_KEFU_UTF8_ACCEPT, sr->q.data, sr->q.len)
           != NGX_KEFU_UTF8_ACCEPT)
    {
        err = "\"q\" must be UTF-8 text of at most 200 bytes";
        goto bad;
    }

    ngx_kefu_search_terms(t, sr->q.data, sr->q.len, 1);

    if (t->n == 0) {
        err = "\"q\" has no words to look for (only punctuation or spaces)";
        goto bad;
    }

    if (t->n > NGX_KEFU_SEARCH_QTERMS_MAX) {
        err = "\"q\" has more than 16 words (a CJK query counts each pair "
              "of characters)";
        goto bad;
    }

    sr->limit = NGX_KEFU_SEARCH_HITS;

    /* NGX_ABORT: api->rc set */
    return ngx_kefu_api_arg_int(r, api, "limit", 1, NGX_KEFU_SEARCH_HITS_MAX,
                                &sr->limit) == NGX_ABORT
           ? NGX_ABORT : NGX_OK;

bad:

    api->rc = ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request", err);

    return NGX_ABORT;
}


/*
 * "before": a page's "next", "<ts>:<conv>:<seq>", or a time (ms); both
 * empty without it.  NGX_OK, or NGX_ABORT with the error sent and its code
 * in api->rc.
 */

static ngx_int_t
ngx_kefu_search_before(ngx_http_request_t *r, ngx_kefu_api_t *api,
    ngx_str_t *ts, ngx_str_t *member)
{
    u_char      *p;
    ngx_uint_t   i;

    ngx_str_null(ts);
    ngx_str_null(member);

    if (ngx_kefu_api_arg(r, "before", ts) != NGX_OK) {
        return NGX_OK;
    }

    p = ngx_strlchr(ts->data, ts->data + ts->len, ':');

    if (p) {
        member->data = p + 1;
        member->len = ts->data + ts->len - p - 1;
        ts->len = p - ts->data;
    }

    for (i = 0; i < member->len; i++) {
        if (!(member->data[i] >= '0' && member->data[i] <= '9')
            && member->data[i] != ':')
        {
            break;
        }
    }

    if (ts->len == 0 || ts->len > 15
        || ngx_atoof(ts->data, ts->len) == NGX_ERROR
        || (p && (member->len == 0 || i < member->len)))
    {
        api->rc = ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                     "\"before\" must be the \"next\" of a "
                                     "page, or a time in ms");
        return NGX_ABORT;
    }

    return NGX_OK;
}


/* an agent's: its conversations, and its groups' queues */

static ngx_int_t
ngx_kefu_search_filters(ngx_http_request_t *r, ngx_kefu_api_t *api,
    ngx_kefu_search_req_t *sr)
{
    u_char      *p;
    size_t       len;
    ngx_uint_t   i;
    ngx_str_t   *g;

    sr->nf = 0;

    if (!api->agent) {
        return NGX_OK;
    }

    len = sizeof("kefu:{s:}:a::convs") + api->site->name.len + api->sub.len;
    p = ngx_pnalloc(r->pool, len);
    if (p == NULL) {
        return NGX_ERROR;
    }

    sr->filter[0].data = p;
    sr->filter[0].len = ngx_sprintf(p, "kefu:{s:%V}:a:%V:convs",
                                    &api->site->name, &api->sub) - p;
    sr->nf = 1;

    g = api->groups ? api->groups->elts : NULL;

    for (i = 0; g && i < api->groups->nelts
                && sr->nf <= NGX_KEFU_SEARCH_FILTERS_MAX; i++)
    {
        len = sizeof("kefu:{s:}:q:") + api->site->name.len + g[i].len;
        p = ngx_pnalloc(r->pool, len);
        if (p == NULL) {
            return NGX_ERROR;
        }

        sr->filter[sr->nf].data = p;
        sr->filter[sr->nf].len = ngx_sprintf(p, "kefu:{s:%V}:q:%V",
                                             &api->site->name, &g[i]) - p;
        sr->nf++;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_kefu_search_found(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    ngx_int_t               rc;
    ngx_str_t              *hit;
    ngx_uint_t              nh, nv;
    redisReply             *hits, *vis;
    ngx_kefu_terms_call_t   call;
    ngx_kefu_search_req_t  *sr;

    sr = api->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_ARRAY
        || reply->element[1]->type != REDIS_REPLY_ARRAY
        || reply->element[0]->elements % 2)
    {
        return ngx_kefu_api_unavailable(r);
    }

    hits = reply->element[0];
    vis = reply->element[1];
    sr->more = (reply->element[2]->type == REDIS_REPLY_INTEGER
                && reply->element[2]->integer == 1);

    nh = hits->elements / 2;
    nv = vis->elements;

    if (nh + nv + sr->nf == 0) {
        return ngx_kefu_api_send(r, NGX_HTTP_OK,
                                 json_pack("{s:s%,s:[],s:[],s:n}",
                                           "q", sr->q.data, sr->q.len,
                                           "hits", "visitors", "next"));
    }

    hit = ngx_kefu_search_found_keep(r, sr, hits, vis);
    if (hit == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_kefu_search_fetch_args(&call, &api->site->name, hit, nh,
                                   sr->visitors, nv, sr->filter, sr->nf)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_kefu_api_eval_keys(r, &ngx_kefu_script_search_fetch, call.nkeys,
                                call.argc, call.argv, call.lens,
                                ngx_kefu_search_fetched);
    ngx_free(call.argv);

    return rc;
}


/*
 * What the answer needs of search_find's reply, kept in the request's
 * pool: each hit's ts, the last hit's member (the next page's cursor),
 * the visitors' ids.  Returns the hits' members (valid while the reply
 * is), NULL on an allocation failure.
 */

static ngx_str_t *
ngx_kefu_search_found_keep(ngx_http_request_t *r, ngx_kefu_search_req_t *sr,
    redisReply *hits, redisReply *vis)
{
    ngx_str_t   *hit;
    ngx_uint_t   i;
    redisReply  *e;

    sr->nh = hits->elements / 2;
    sr->nv = vis->elements;

    hit = ngx_palloc(r->pool, (sr->nh + 1) * sizeof(ngx_str_t));
    sr->visitors = ngx_palloc(r->pool, (sr->nv + 1) * sizeof(ngx_str_t));
    sr->ts = ngx_palloc(r->pool, (sr->nh + 1) * sizeof(int64_t));

    if (hit == NULL || sr->visitors == NULL || sr->ts == NULL) {
        return NULL;
    }

    for (i = 0; i < sr->nh; i++) {
        e = hits->element[2 * i];
        sr->ts[i] = ngx_kefu_api_int(hits->element[2 * i + 1]);
        hit[i].data = (u_char *) (e->type == REDIS_REPLY_STRING ? e->str : "");
        hit[i].len = e->type == REDIS_REPLY_STRING ? e->len : 0;
    }

    if (sr->nh) {
        sr->last.len = hit[sr->nh - 1].len;
        sr->last.data = ngx_pstrdup(r->pool, &hit[sr->nh - 1]);
        if (sr->last.data == NULL && sr->last.len) {
            return NULL;
        }
    }

    for (i = 0; i < sr->nv; i++) {
        e = vis->element[i];
        sr->visitors[i].len = e->type == REDIS_REPLY_STRING ? e->len : 0;
        sr->visitors[i].data = ngx_pnalloc(r->pool, sr->visitors[i].len + 1);
        if (sr->visitors[i].data == NULL) {
            return NULL;
        }

        if (sr->visitors[i].len) {
            ngx_memcpy(sr->visitors[i].data, e->str, sr->visitors[i].len);
        }
    }

    return hit;
}


static ngx_int_t
ngx_kefu_search_fetched(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    json_t                 *out, *hits, *vis, *h, *v, *convs;
    int64_t                 last;
    ngx_uint_t              i, j, idx;
    redisReply             *docs, *vs, *e, *cs;
    ngx_kefu_search_req_t  *sr;

    sr = api->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_ARRAY
        || reply->element[1]->type != REDIS_REPLY_ARRAY
        || reply->element[0]->elements != sr->nh)
    {
        return ngx_kefu_api_unavailable(r);
    }

    docs = reply->element[0];
    vs = reply->element[1];

    hits = json_array();
    vis = json_array();
    last = -1;

    for (i = 0; hits && i < sr->nh; i++) {
        e = docs->element[i];
        last = sr->ts[i];

        /* expired since the first call: not a hit any more */
        h = ngx_kefu_api_json(e);

        if (json_is_object(h)) {
            json_array_append_new(hits, h);

        } else {
            json_decref(h);
        }
    }

    for (i = 0; vis && i < vs->elements; i++) {
        e = vs->element[i];

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 5
            || e->element[4]->type != REDIS_REPLY_ARRAY)
        {
            continue;
        }

        idx = (ngx_uint_t) ngx_kefu_api_int(e->element[0]);

        if (idx < 1 || idx > sr->nv) {
            continue;
        }

        convs = json_array();
        cs = e->element[4];

        for (j = 0; convs && j < cs->elements; j++) {
            json_array_append_new(convs, ngx_kefu_api_str(cs->element[j]));
        }

        v = json_pack("{s:s%,s:o,s:o,s:o}",
                      "id", sr->visitors[idx - 1].data,
                      sr->visitors[idx - 1].len,
                      "name", ngx_kefu_api_str(e->element[1]),
                      "contact", ngx_kefu_api_json(e->element[2]),
                      "convs", convs ? convs : json_array());

        if (v && e->element[3]->type == REDIS_REPLY_STRING) {
            json_object_set_new(v, "seen", json_integer(
                                    ngx_kefu_api_int(e->element[3])));
        }

        if (v) {
            json_array_append_new(vis, v);
        }
    }

    out = json_pack("{s:s%,s:o,s:o}", "q", sr->q.data, sr->q.len,
                    "hits", hits ? hits : json_array(),
                    "visitors", vis ? vis : json_array());

    if (out) {
        json_object_set_new(out, "next", sr->more && last > 0
                                         ? json_sprintf("%lld:%.*s",
                                               (long long) last,
                                               (int) sr->last.len,
                                               sr->last.data)
                                         : json_null());
    }

    return ngx_kefu_api_send(r, NGX_HTTP_OK, out);
}
