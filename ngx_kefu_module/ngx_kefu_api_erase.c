
/*
 * A visitor's data on request (docs/api.md, "Export and erase a visitor"):
 *
 *   GET    /sites/<site>/visitors/<visitor>/export
 *   DELETE /sites/<site>/visitors/<visitor>
 *
 * Both go conversation by conversation, one Redis call each, so that every
 * call's keys share one hash tag: the visitor's own keys are
 * {s:<site>}, a conversation's {c:<conv>}.
 *
 * Erasing: first every connection of the visitor, on every host, is told
 * to close (kefu:{s:<site>}:revoke, "e"; 4403 "visitor erased").  Then per
 * conversation, the oldest first: an open or queued one is closed as the
 * API's close would (the agent's load released, the queue left); its keys
 * go in one atomic step (erase_conv), which hands back what points at it
 * from elsewhere: its agent and supervisors, its attachments, the
 * visitor's dedup records; then those references go, one call each, and
 * the conversation leaves the visitor's index last, so that an erasure
 * that stopped half way (a worker that died, Redis gone) is finished by
 * asking again.  Last, the visitor's own keys go in one step
 * (erase_visitor), which refuses while a conversation is left (one the
 * visitor opened meanwhile: the loop goes round again) and puts
 * visitor.erased on the site's event stream.
 *
 * The search index: a conversation's hits (ix:m:<conv>:<seq>, seq 1 to
 * its last) go in batches before its keys do (its last seq read first,
 * so an erasure that stops half way has nothing of them left to find),
 * and those of messages added meanwhile after; the visitor leaves the
 * ix:v:<term> sets of the terms its id, name and contact details give
 * (computed from what is stored, the way indexing does) in the step that
 * erases its keys.  Postings in ix:w:<term> hold only "<conv>:<seq>" and
 * age out under the index's own bounds.
 */


#include "ngx_kefu_api.h"
#include "ngx_kefu_conv.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_upload.h"
#include "ngx_kefu_revoke.h"
#include "ngx_kefu_search.h"


/* conversations an export lists, the newest first */
#define NGX_KEFU_EXPORT_CONVS   1000

/* dedup records deleted per DEL */
#define NGX_KEFU_ERASE_DEL      16

/* search hits deleted per DEL */
#define NGX_KEFU_ERASE_HITS     64

/* the event stream's cap, as lua/lib/kefu_event.lua has it */
#define NGX_KEFU_ERASE_EVENTS_MAX  100000

/* an erasure's rounds over the visitor's index before it gives up */
#define NGX_KEFU_ERASE_ROUNDS   4

/*
 * how long an erased conversation stays in the site's erased set, which
 * a late event_put reads (lua/erase_mark.lua): a worker retries a failed
 * one for about a minute (ngx_kefu_msg_event.c), this is well past it
 */
#define NGX_KEFU_ERASE_KEEP     3600


typedef struct {
    ngx_str_t                    key;         /* none for FILE */
    ngx_str_t                    arg;         /* the conv, or the sha */
    ngx_uint_t                   what;        /* NGX_KEFU_ERASE_* */
    ngx_uint_t                   list;        /* DELS: which of dels[] */
} ngx_kefu_erase_step_t;

#define NGX_KEFU_ERASE_ZREM   0   /* ZREM key conv */
#define NGX_KEFU_ERASE_FILE   1   /* erase_file: a file's reference */
#define NGX_KEFU_ERASE_DELS   2   /* DEL of dedup records */
#define NGX_KEFU_ERASE_COUNT  3   /* the site's count of closed ones */
#define NGX_KEFU_ERASE_HIT    4   /* DEL of search hits */
#define NGX_KEFU_ERASE_REC    5   /* DEL key: its routing record */
#define NGX_KEFU_ERASE_MARK   6   /* erase_mark: its events' mark */


typedef struct {
    /* export */
    json_t                      *doc;
    json_t                      *convs;       /* export: ids to read */
    size_t                       next;

    /* erase */
    ngx_str_t                    conv;
    ngx_array_t                  steps;       /* ngx_kefu_erase_step_t */
    ngx_uint_t                   step;
    /* dedup records (ngx_str_t): the conversation's slot, and the
       former per-site ones, honoured for a window after an upgrade */
    ngx_array_t                  dels[2];
    ngx_uint_t                   ndel[2];
    ngx_uint_t                   erased;      /* conversations */
    ngx_uint_t                   files;       /* deleted from disk */
    ngx_uint_t                   rounds;
    /* the conversation's search hits: next to delete, last */
    uint64_t                     hit_next;
    uint64_t                     hit_last;
    u_char                      *hit_keys;
    unsigned                     closing:1;
    unsigned                     peek:1;      /* steps before erase_conv */
} ngx_kefu_erase_t;


static ngx_int_t ngx_kefu_api_export_visitor(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_api_export_next(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static ngx_int_t ngx_kefu_api_export_conv(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static json_t *ngx_kefu_api_export_hash(redisReply *h, ngx_uint_t conv);
static void ngx_kefu_api_export_cleanup(void *data);

static ngx_int_t ngx_kefu_erase_kicked(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_erase_next(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static ngx_int_t ngx_kefu_erase_listed(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_erase_peek(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static ngx_int_t ngx_kefu_erase_peeked(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_erase_conv(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static ngx_int_t ngx_kefu_erase_conv_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_erase_close(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static ngx_int_t ngx_kefu_erase_refs(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_erase_refs_lists(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *agent, redisReply *supervisors);
static ngx_int_t ngx_kefu_erase_refs_files(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *files);
static ngx_int_t ngx_kefu_erase_refs_dedup(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *records);
static ngx_int_t ngx_kefu_erase_unlist(ngx_http_request_t *r,
    ngx_kefu_api_t *api, ngx_uint_t own);
static void ngx_kefu_erase_closed(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result);
static ngx_int_t ngx_kefu_erase_reclosed(ngx_http_request_t *r,
    ngx_kefu_api_t *api, void *data);
static ngx_int_t ngx_kefu_erase_step(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static ngx_int_t ngx_kefu_erase_step_file(ngx_http_request_t *r,
    ngx_kefu_api_t *api, ngx_kefu_erase_step_t *s);
static ngx_int_t ngx_kefu_erase_step_mark(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static ngx_int_t ngx_kefu_erase_step_hits(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static ngx_int_t ngx_kefu_erase_step_dels(ngx_http_request_t *r,
    ngx_kefu_api_t *api, ngx_kefu_erase_step_t *s);
static ngx_int_t ngx_kefu_erase_step_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_erase_visitor(ngx_http_request_t *r,
    ngx_kefu_api_t *api);
static ngx_int_t ngx_kefu_erase_visitor_read(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_kefu_search_terms_t *ngx_kefu_erase_visitor_terms(
    ngx_http_request_t *r, ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_erase_visitor_done(ngx_http_request_t *r,
    ngx_kefu_api_t *api, redisReply *reply);
static ngx_int_t ngx_kefu_erase_push(ngx_http_request_t *r,
    ngx_kefu_erase_t *e, ngx_uint_t what, ngx_str_t *key, ngx_str_t *arg);
static ngx_int_t ngx_kefu_erase_visitor_cmd(ngx_http_request_t *r,
    ngx_kefu_api_t *api, const char *suffix, ngx_str_t *cmd, ngx_str_t *arg1,
    ngx_str_t *arg2, ngx_kefu_api_done_pt done);
static ngx_int_t ngx_kefu_erase_key(ngx_http_request_t *r, ngx_str_t *key,
    const char *fmt, ...);


/* GET .../visitors/<visitor>/export */

ngx_int_t
ngx_kefu_api_export(ngx_http_request_t *r, ngx_kefu_api_t *api, json_t *body)
{
    ngx_kefu_call_t     call;
    ngx_kefu_erase_t   *e;
    ngx_pool_cleanup_t *cln;

    e = ngx_pcalloc(r->pool, sizeof(ngx_kefu_erase_t));
    if (e == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    api->data = e;

    /* a client that leaves half way: the document built so far goes */
    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln->handler = ngx_kefu_api_export_cleanup;
    cln->data = e;

    if (ngx_kefu_export_visitor_args(&call, &api->site->name, &api->id,
                                     NGX_KEFU_EXPORT_CONVS)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_export_visitor, &call,
                                  ngx_kefu_api_export_visitor);
}


static void
ngx_kefu_api_export_cleanup(void *data)
{
    ngx_kefu_erase_t  *e = data;

    json_decref(e->doc);
    json_decref(e->convs);
    e->doc = e->convs = NULL;
}


static ngx_int_t
ngx_kefu_api_export_visitor(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    size_t              i;
    json_t             *v, *pages, *convs, *j;
    redisReply         *h, *p, *c;
    ngx_kefu_erase_t   *e;

    e = api->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3
        || reply->element[0]->type != REDIS_REPLY_ARRAY
        || reply->element[1]->type != REDIS_REPLY_ARRAY
        || reply->element[2]->type != REDIS_REPLY_ARRAY)
    {
        return ngx_kefu_api_unavailable(r);
    }

    h = reply->element[0];
    p = reply->element[1];
    c = reply->element[2];

    if (h->elements == 0 && p->elements == 0 && c->elements == 0) {
        return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                  "nothing is stored about this visitor");
    }

    v = ngx_kefu_api_export_hash(h, 0);
    pages = json_array();
    convs = json_array();
    e->convs = json_array();
    e->doc = json_object();

    if (v == NULL || pages == NULL || convs == NULL || e->convs == NULL
        || e->doc == NULL)
    {
        goto failed;
    }

    json_object_set_new(v, "id", json_stringn((char *) api->id.data,
                                              api->id.len));

    for (i = 0; i < p->elements; i++) {
        j = ngx_kefu_api_json(p->element[i]);

        if (j == NULL || json_array_append_new(pages, j) != 0) {
            goto failed;
        }
    }

    /* newest first from Redis; the export lists them oldest first */
    for (i = c->elements; i >= 2; i -= 2) {
        j = ngx_kefu_api_str(c->element[i - 2]);

        if (j == NULL || json_array_append_new(e->convs, j) != 0) {
            goto failed;
        }
    }

    if (json_object_set_new(e->doc, "site",
                            json_stringn((char *) api->site->name.data,
                                         api->site->name.len)) != 0
        || json_object_set_new(e->doc, "visitor", v) != 0
        || json_object_set_new(e->doc, "pages", pages) != 0
        || json_object_set_new(e->doc, "conversations", convs) != 0
        || json_object_set_new(e->doc, "attachments", json_array()) != 0
        || json_object_set_new(e->doc, "exported",
                               json_integer(ngx_kefu_now_ms())) != 0)
    {
        v = pages = convs = NULL;
        goto failed;
    }

    return ngx_kefu_api_export_next(r, api);

failed:

    json_decref(v);
    json_decref(pages);
    json_decref(convs);
    json_decref(e->convs);
    json_decref(e->doc);
    e->convs = e->doc = NULL;

    return NGX_HTTP_INTERNAL_SERVER_ERROR;
}


static ngx_int_t
ngx_kefu_api_export_next(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    json_t             *doc;
    ngx_str_t           conv;
    ngx_kefu_call_t     call;
    ngx_kefu_erase_t   *e;

    e = api->data;

    if (e->next == json_array_size(e->convs)) {
        json_decref(e->convs);
        e->convs = NULL;
        doc = e->doc;
        e->doc = NULL;
        return ngx_kefu_api_send(r, NGX_HTTP_OK, doc);
    }

    conv.data = (u_char *) json_string_value(json_array_get(e->convs,
                                                            e->next));
    conv.len = conv.data ? ngx_strlen(conv.data) : 0;

    e->next++;

    if (conv.len == 0 || ngx_kefu_valid_id(conv.data, conv.len) != NGX_OK) {
        return ngx_kefu_api_export_next(r, api);
    }

    if (ngx_kefu_conv_keys_args(&call, &conv, &api->site->name, &api->id)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_export_conv, &call,
                                  ngx_kefu_api_export_conv);
}


static ngx_int_t
ngx_kefu_api_export_conv(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    size_t              i;
    json_t             *c, *msgs, *list, *m, *a, *atts;
    redisReply         *el;
    ngx_kefu_erase_t   *e;

    e = api->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        goto unavailable;
    }

    if (ngx_kefu_api_int(reply->element[0]) != 1 || reply->elements != 5) {
        /* erased or expired meanwhile */
        return ngx_kefu_api_export_next(r, api);
    }

    for (i = 1; i < 5; i++) {
        if (reply->element[i]->type != REDIS_REPLY_ARRAY) {
            goto unavailable;
        }
    }

    c = ngx_kefu_api_export_hash(reply->element[1], 1);
    if (c == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    json_object_set(c, "conv", json_array_get(e->convs, e->next - 1));

    atts = json_object_get(e->doc, "attachments");

    /* the entries as clients got them, private notes too */
    msgs = json_array();
    el = reply->element[2];

    for (i = 0; msgs && i < el->elements; i++) {
        m = ngx_kefu_api_json(el->element[i]);

        if (m == NULL) {
            continue;
        }

        a = json_object_get(m, "attachment");

        if (json_is_object(a)) {
            a = json_deep_copy(a);

            if (a) {
                json_object_set(a, "conv", json_object_get(m, "conv"));
                json_object_set(a, "msg", json_object_get(m, "id"));
                json_array_append_new(atts, a);
            }
        }

        json_array_append_new(msgs, m);
    }

    json_object_set_new(c, "messages", msgs ? msgs : json_array());

    list = json_array();
    el = reply->element[3];

    for (i = 0; list && i < el->elements; i++) {
        json_array_append_new(list, ngx_kefu_api_json(el->element[i]));
    }

    json_object_set_new(c, "assignments", list ? list : json_array());

    list = json_array();
    el = reply->element[4];

    for (i = 0; list && i < el->elements; i++) {
        json_array_append_new(list, ngx_kefu_api_str(el->element[i]));
    }

    json_object_set_new(c, "joined", list ? list : json_array());

    if (json_array_append_new(json_object_get(e->doc, "conversations"), c)
        != 0)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_export_next(r, api);

unavailable:

    json_decref(e->convs);
    json_decref(e->doc);
    e->convs = e->doc = NULL;

    return ngx_kefu_api_unavailable(r);
}


/*
 * A stored hash as the export shows it: numbers as numbers, JSON the
 * module stored as JSON; a conversation's read pointers under "read" and
 * its rating under "rating".
 */

static json_t *
ngx_kefu_api_export_hash(redisReply *h, ngx_uint_t conv)
{
    size_t       i;
    json_t      *o, *read, *v;
    ngx_str_t    f;
    redisReply  *val;

    o = json_object();
    read = json_object();

    if (o == NULL || read == NULL) {
        json_decref(o);
        json_decref(read);
        return NULL;
    }

    for (i = 0; i + 1 < h->elements; i += 2) {
        if (h->element[i]->type != REDIS_REPLY_STRING) {
            continue;
        }

        f.data = (u_char *) h->element[i]->str;
        f.len = h->element[i]->len;
        val = h->element[i + 1];

#define ngx_kefu_is(lit)                                                      \
    (f.len == sizeof(lit) - 1 && ngx_strncmp(f.data, lit, f.len) == 0)

        if (conv && f.len > 2 && f.data[0] == 'r' && f.data[1] == ':') {
            json_object_set_new(read, (char *) f.data + 2,
                                json_integer(ngx_kefu_api_int(val)));
            continue;
        }

        if (ngx_kefu_is("attrs") || ngx_kefu_is("contact")) {
            v = ngx_kefu_api_json(val);

        } else if (ngx_kefu_is("seen") || ngx_kefu_is("seq")
                   || ngx_kefu_is("created") || ngx_kefu_is("updated")
                   || ngx_kefu_is("assigned") || ngx_kefu_is("queued")
                   || ngx_kefu_is("closed") || ngx_kefu_is("score")
                   || ngx_kefu_is("rated"))
        {
            v = json_integer(ngx_kefu_api_int(val));

        } else {
            v = ngx_kefu_api_str(val);
        }

#undef ngx_kefu_is

        if (v == NULL) {
            continue;
        }

        /* field names are the module's own: NUL-free, short */
        json_object_set_new(o, h->element[i]->str, v);
    }

    if (conv) {
        json_object_set_new(o, "read", read);

    } else {
        json_decref(read);
    }

    return o;
}


/* DELETE .../visitors/<visitor> */

ngx_int_t
ngx_kefu_api_erase(ngx_http_request_t *r, ngx_kefu_api_t *api, json_t *body)
{
    ngx_str_t               ch, msg;
    ngx_kefu_erase_t       *e;
    ngx_kefu_redis_args_t   a;

    e = ngx_pcalloc(r->pool, sizeof(ngx_kefu_erase_t));
    if (e == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    api->data = e;

    if (ngx_array_init(&e->steps, r->pool, 8, sizeof(ngx_kefu_erase_step_t))
        != NGX_OK
        || ngx_array_init(&e->dels[0], r->pool, 8, sizeof(ngx_str_t))
           != NGX_OK
        || ngx_array_init(&e->dels[1], r->pool, 8, sizeof(ngx_str_t))
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* its connections on every host close first (ngx_kefu_revoke.c) */
    if (ngx_kefu_erase_key(r, &msg, "%V e 0 %V", &api->site->name, &api->id)
        != NGX_OK
        || ngx_kefu_erase_key(r, &ch,
                              NGX_KEFU_CH_SITE "%V" NGX_KEFU_REVOKE_CHANNEL,
                              &api->site->name)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_kefu_redis_args(&a, ngx_kefu_word("PUBLISH"), &ch, &msg);

    return ngx_kefu_api_command(r, a.argc, a.argv, a.lens,
                                ngx_kefu_erase_kicked);
}


static ngx_int_t
ngx_kefu_erase_kicked(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    return ngx_kefu_erase_next(r, api);
}


/* the visitor's oldest conversation left, or its own keys if none is */

static ngx_int_t
ngx_kefu_erase_next(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    return ngx_kefu_erase_visitor_cmd(r, api, ":convs",
                                      ngx_kefu_word("ZRANGE"),
                                      ngx_kefu_word("0"), ngx_kefu_word("0"),
                                      ngx_kefu_erase_listed);
}


static ngx_int_t
ngx_kefu_erase_listed(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    redisReply         *c;
    ngx_kefu_erase_t   *e;

    e = api->data;

    if (reply->type != REDIS_REPLY_ARRAY) {
        return ngx_kefu_api_unavailable(r);
    }

    if (reply->elements == 0) {
        return ngx_kefu_erase_visitor(r, api);
    }

    c = reply->element[0];

    if (c->type != REDIS_REPLY_STRING || c->len == 0
        || ngx_kefu_valid_id((u_char *) c->str, c->len) != NGX_OK)
    {
        return ngx_kefu_api_error(r, NGX_HTTP_INTERNAL_SERVER_ERROR,
                                  "internal", "the visitor's index holds "
                                  "something that is not a conversation");
    }

    e->conv.data = ngx_pnalloc(r->pool, c->len);
    if (e->conv.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_memcpy(e->conv.data, c->str, c->len);
    e->conv.len = c->len;
    e->closing = 0;
    e->hit_next = 1;
    e->hit_last = 0;

    return ngx_kefu_erase_peek(r, api);
}


/* whose it is and its last seq: its search hits go first */

static ngx_int_t
ngx_kefu_erase_peek(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    ngx_str_t               key;
    ngx_kefu_erase_t       *e;
    ngx_kefu_redis_args_t   a;

    e = api->data;

    if (ngx_kefu_erase_key(r, &key, "kefu:{c:%V}", &e->conv) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_kefu_redis_args(&a, ngx_kefu_word("HMGET"), &key,
                        ngx_kefu_word("site"), ngx_kefu_word("visitor"),
                        ngx_kefu_word("seq"));

    return ngx_kefu_api_command(r, a.argc, a.argv, a.lens,
                                ngx_kefu_erase_peeked);
}


static ngx_int_t
ngx_kefu_erase_peeked(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    int64_t             seq;
    ngx_str_t           none;
    redisReply         *site, *visitor;
    ngx_kefu_erase_t   *e;

    e = api->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3) {
        return ngx_kefu_api_unavailable(r);
    }

    site = reply->element[0];
    visitor = reply->element[1];
    seq = ngx_kefu_api_int(reply->element[2]);

    /* only the visitor's own: erase_conv decides the rest */
    if (site->type != REDIS_REPLY_STRING
        || visitor->type != REDIS_REPLY_STRING
        || (size_t) site->len != api->site->name.len
        || ngx_strncmp(site->str, api->site->name.data, site->len) != 0
        || (size_t) visitor->len != api->id.len
        || ngx_strncmp(visitor->str, api->id.data, visitor->len) != 0
        || seq <= 0)
    {
        return ngx_kefu_erase_conv(r, api);
    }

    e->hit_last = (uint64_t) seq;
    e->steps.nelts = 0;
    e->step = 0;
    e->peek = 1;

    ngx_str_null(&none);

    if (ngx_kefu_erase_push(r, e, NGX_KEFU_ERASE_HIT, &none, &none)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_erase_step(r, api);
}


static ngx_int_t
ngx_kefu_erase_conv(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    ngx_kefu_call_t     call;
    ngx_kefu_erase_t   *e;

    e = api->data;

    if (ngx_kefu_conv_keys_args(&call, &e->conv, &api->site->name, &api->id)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_erase_conv, &call,
                                  ngx_kefu_erase_conv_done);
}


/*
 * What erase_conv did: 2, the conversation is open or queued (it is
 * closed first, then asked again); 1, its keys went, and what refers to it
 * goes now; 3, gone already; else not the visitor's.
 */

static ngx_int_t
ngx_kefu_erase_conv_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    ngx_uint_t          own;
    ngx_kefu_erase_t   *e;

    e = api->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1) {
        return ngx_kefu_api_unavailable(r);
    }

    e->steps.nelts = 0;
    e->dels[0].nelts = 0;
    e->dels[1].nelts = 0;
    e->step = 0;
    e->ndel[0] = 0;
    e->ndel[1] = 0;
    own = 1;

    switch (ngx_kefu_api_int(reply->element[0])) {

    case 2:
        return ngx_kefu_erase_close(r, api);

    case 1:
        if (reply->elements != 6
            || reply->element[1]->type != REDIS_REPLY_STRING
            || reply->element[2]->type != REDIS_REPLY_ARRAY
            || reply->element[3]->type != REDIS_REPLY_ARRAY
            || reply->element[4]->type != REDIS_REPLY_ARRAY)
        {
            return ngx_kefu_api_unavailable(r);
        }

        if (ngx_kefu_erase_refs(r, api, reply) != NGX_OK) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        break;

    case 3:
        /* gone already (an erasure that stopped half way, retention) */
        break;

    default:
        /* not the visitor's: it only leaves the visitor's index */
        own = 0;
    }

    if (ngx_kefu_erase_unlist(r, api, own) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_erase_step(r, api);
}


/* queued or open: closed the way the API's close does it */

static ngx_int_t
ngx_kefu_erase_close(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    ngx_int_t               rc;
    ngx_kefu_actor_t        actor;
    ngx_kefu_erase_t       *e;
    ngx_kefu_api_wait_t    *w;
    ngx_kefu_route_args_t   args;

    e = api->data;

    if (e->closing) {
        return ngx_kefu_api_error(r, NGX_HTTP_CONFLICT, "conflict",
                                  "a conversation of the visitor could "
                                  "not be closed; retry");
    }

    e->closing = 1;

    ngx_kefu_api_actor(api, &actor);

    ngx_memzero(&args, sizeof(ngx_kefu_route_args_t));
    args.conv = e->conv;

    w = ngx_kefu_api_wait(r, NULL);
    if (w == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the outcome may come before the operation returns */
    w->sync = 1;

    ngx_kefu_route_close(api->kmcf, &actor, &args, ngx_kefu_erase_closed, w);

    if (ngx_kefu_api_started(r, w, &rc) == NGX_DONE) {
        return NGX_DONE;
    }

    return ngx_kefu_erase_reclosed(r, api, &rc);
}


/*
 * Its keys went: the steps for what referred to them (erase_conv's reply:
 * its agent, supervisors, attachments, dedup records, last seq).
 */

static ngx_int_t
ngx_kefu_erase_refs(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    int64_t             seq;
    ngx_str_t           key, none;
    ngx_kefu_erase_t   *e;

    e = api->data;

    e->erased++;

    /* search hits of messages stored after the peek (or all) */
    seq = ngx_kefu_api_int(reply->element[5]);

    if (seq > 0 && (uint64_t) seq > e->hit_last) {
        e->hit_last = (uint64_t) seq;
        ngx_str_null(&none);

        if (ngx_kefu_erase_push(r, e, NGX_KEFU_ERASE_HIT, &none, &none)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* the site's count of closed conversations */
    if (ngx_kefu_erase_key(r, &key, "kefu:{s:%V}:counts", &api->site->name)
        != NGX_OK
        || ngx_kefu_erase_push(r, e, NGX_KEFU_ERASE_COUNT, &key, &e->conv)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (ngx_kefu_erase_refs_lists(r, api, reply->element[1],
                                  reply->element[2])
        != NGX_OK
        || ngx_kefu_erase_refs_files(r, api, reply->element[3]) != NGX_OK
        || ngx_kefu_erase_refs_dedup(r, api, reply->element[4]) != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* its agent's and supervisors' lists */

static ngx_int_t
ngx_kefu_erase_refs_lists(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *agent, redisReply *supervisors)
{
    size_t              i;
    ngx_str_t           key, arg;
    ngx_kefu_erase_t   *e;

    e = api->data;

    if (agent->len) {
        arg.data = (u_char *) agent->str;
        arg.len = agent->len;

        if (ngx_kefu_erase_key(r, &key, "kefu:{s:%V}:a:%V:convs",
                               &api->site->name, &arg) != NGX_OK
            || ngx_kefu_erase_push(r, e, NGX_KEFU_ERASE_ZREM, &key, &e->conv)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    for (i = 0; i < supervisors->elements; i++) {
        if (supervisors->element[i]->type != REDIS_REPLY_STRING) {
            continue;
        }

        arg.data = (u_char *) supervisors->element[i]->str;
        arg.len = supervisors->element[i]->len;

        if (ngx_kefu_erase_key(r, &key, "kefu:{s:%V}:%V:convs",
                               &api->site->name, &arg) != NGX_OK
            || ngx_kefu_erase_push(r, e, NGX_KEFU_ERASE_ZREM, &key, &e->conv)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* its attachments' references */

static ngx_int_t
ngx_kefu_erase_refs_files(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *files)
{
    size_t              i;
    ngx_str_t           arg, none;
    redisReply         *el;
    ngx_kefu_erase_t   *e;

    e = api->data;
    ngx_str_null(&none);

    for (i = 0; i < files->elements; i++) {
        el = files->element[i];

        if (el->type != REDIS_REPLY_STRING || el->len != NGX_KEFU_SHA256_HEX) {
            continue;
        }

        arg.data = ngx_pnalloc(r->pool, NGX_KEFU_SHA256_HEX);
        if (arg.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(arg.data, el->str, NGX_KEFU_SHA256_HEX);
        arg.len = NGX_KEFU_SHA256_HEX;

        /* the file's keys: its script's builder (ngx_kefu_erase_file_args) */
        if (ngx_kefu_erase_push(r, e, NGX_KEFU_ERASE_FILE, &none, &arg)
            != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    return NGX_OK;
}


/* the dedup records of its messages: "<who>:<cid>" each */

static ngx_int_t
ngx_kefu_erase_refs_dedup(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *records)
{
    size_t              i, vlen;
    ngx_str_t           arg, none, *d;
    ngx_kefu_erase_t   *e;

    e = api->data;
    vlen = sizeof("v:") - 1 + api->id.len;

    for (i = 0; i < records->elements; i++) {
        if (records->element[i]->type != REDIS_REPLY_STRING) {
            continue;
        }

        arg.data = (u_char *) records->element[i]->str;
        arg.len = records->element[i]->len;

        d = ngx_array_push(&e->dels[0]);
        if (d == NULL
            || ngx_kefu_erase_key(r, d, "kefu:{c:%V}:cid:%V", &e->conv, &arg)
               != NGX_OK)
        {
            return NGX_ERROR;
        }

        /* the visitor's own under the former per-site key too */
        if (arg.len <= vlen + 1 || arg.data[vlen] != ':'
            || arg.data[0] != 'v' || arg.data[1] != ':'
            || ngx_strncmp(arg.data + 2, api->id.data, api->id.len) != 0)
        {
            continue;
        }

        d = ngx_array_push(&e->dels[1]);
        if (d == NULL
            || ngx_kefu_erase_key(r, d, "kefu:{s:%V}:cid:%V",
                                  &api->site->name, &arg)
               != NGX_OK)
        {
            return NGX_ERROR;
        }
    }

    /* one step a list: it goes on until the list is done */
    ngx_str_null(&none);

    for (i = 0; i < 2; i++) {
        if (e->dels[i].nelts == 0) {
            continue;
        }

        if (ngx_kefu_erase_push(r, e, NGX_KEFU_ERASE_DELS, &none, &none)
            != NGX_OK)
        {
            return NGX_ERROR;
        }

        ((ngx_kefu_erase_step_t *) e->steps.elts)[e->steps.nelts - 1].list = i;
    }

    return NGX_OK;
}


/*
 * The indexes that list the conversation: the visitor's last, so that
 * asking again finds what is left; the routing record (lib/route.lua),
 * which names the visitor, the site's list and, with kefu_redis cluster,
 * the mark of its messages' events (kefu:{s:<site>}:ev, event_put.lua:
 * the retention sweep drops a gone conversation's, but only of those
 * still in the site's list) only for the visitor's own.  The mark goes
 * before the site's list does, and in the same step the conversation
 * goes into the site's erased set (erase_mark): an event_put that comes
 * after would otherwise list it again, with its mark, for good.
 */

static ngx_int_t
ngx_kefu_erase_unlist(ngx_http_request_t *r, ngx_kefu_api_t *api,
    ngx_uint_t own)
{
    ngx_str_t           key;
    ngx_kefu_erase_t   *e;

    e = api->data;

    if (own
        && (ngx_kefu_erase_key(r, &key, "kefu:{s:%V}:r:%V",
                               &api->site->name, &e->conv) != NGX_OK
            || ngx_kefu_erase_push(r, e, NGX_KEFU_ERASE_REC, &key, &e->conv)
               != NGX_OK
            || ngx_kefu_erase_key(r, &key, "kefu:{s:%V}:ev",
                                  &api->site->name) != NGX_OK
            || ngx_kefu_erase_push(r, e, NGX_KEFU_ERASE_MARK, &key, &e->conv)
               != NGX_OK
            || ngx_kefu_erase_key(r, &key, "kefu:{s:%V}:convs",
                                  &api->site->name) != NGX_OK
            || ngx_kefu_erase_push(r, e, NGX_KEFU_ERASE_ZREM, &key, &e->conv)
               != NGX_OK))
    {
        return NGX_ERROR;
    }

    if (ngx_kefu_erase_key(r, &key, "kefu:{s:%V}:v:%V:convs",
                           &api->site->name, &api->id) != NGX_OK
        || ngx_kefu_erase_push(r, e, NGX_KEFU_ERASE_ZREM, &key, &e->conv)
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_kefu_erase_closed(ngx_kefu_main_conf_t *kmcf, void *data, ngx_int_t code,
    const char *message, json_t *result)
{
    ngx_kefu_api_resume(data, code, ngx_kefu_erase_reclosed, &code);
}


/* closed, or found closed already: erase_conv once more */

static ngx_int_t
ngx_kefu_erase_reclosed(ngx_http_request_t *r, ngx_kefu_api_t *api,
    void *data)
{
    ngx_int_t  *code = data;

    return (*code == NGX_KEFU_ROUTE_UNAVAILABLE)
           ? ngx_kefu_api_unavailable(r)
           : ngx_kefu_erase_conv(r, api);
}


/* the references to the erased conversation, one call each */

static ngx_int_t
ngx_kefu_erase_step(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    ngx_kefu_erase_t       *e;
    ngx_kefu_redis_args_t   a;
    ngx_kefu_erase_step_t  *s;

    e = api->data;

    if (e->step == e->steps.nelts) {
        if (e->peek) {
            e->peek = 0;
            return ngx_kefu_erase_conv(r, api);
        }

        return ngx_kefu_erase_next(r, api);
    }

    s = (ngx_kefu_erase_step_t *) e->steps.elts + e->step;

    switch (s->what) {

    case NGX_KEFU_ERASE_ZREM:
        ngx_kefu_redis_args(&a, ngx_kefu_word("ZREM"), &s->key, &s->arg);
        break;

    case NGX_KEFU_ERASE_REC:
        ngx_kefu_redis_args(&a, ngx_kefu_word("DEL"), &s->key);
        break;

    case NGX_KEFU_ERASE_MARK:
        return ngx_kefu_erase_step_mark(r, api);

    case NGX_KEFU_ERASE_COUNT:
        /* it was counted as closed: erase_conv erases closed ones only */
        ngx_kefu_redis_args(&a, ngx_kefu_word("HINCRBY"), &s->key,
                            ngx_kefu_word("closed"), ngx_kefu_word("-1"));
        break;

    case NGX_KEFU_ERASE_FILE:
        return ngx_kefu_erase_step_file(r, api, s);

    case NGX_KEFU_ERASE_HIT:
        return ngx_kefu_erase_step_hits(r, api);

    default: /* NGX_KEFU_ERASE_DELS */
        return ngx_kefu_erase_step_dels(r, api, s);
    }

    return ngx_kefu_api_command(r, a.argc, a.argv, a.lens,
                                ngx_kefu_erase_step_done);
}


static ngx_int_t
ngx_kefu_erase_step_file(ngx_http_request_t *r, ngx_kefu_api_t *api,
    ngx_kefu_erase_step_t *s)
{
    ngx_kefu_call_t     call;
    ngx_kefu_erase_t   *e;

    e = api->data;

    if (ngx_kefu_erase_file_args(&call, &api->site->name, &s->arg, &e->conv)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_erase_file, &call,
                                  ngx_kefu_erase_step_done);
}


/*
 * its events' mark goes, and it goes into the site's erased set, in one
 * step: an event_put later than this puts nothing of it back
 */

static ngx_int_t
ngx_kefu_erase_step_mark(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    ngx_kefu_call_t     call;
    ngx_kefu_erase_t   *e;

    e = api->data;

    if (ngx_kefu_erase_mark_args(&call, &api->site->name, &e->conv,
                                 ngx_time(), NGX_KEFU_ERASE_KEEP)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_kefu_api_eval_call(r, &ngx_kefu_script_erase_mark, &call,
                                  ngx_kefu_erase_step_done);
}


/* the next batch of the conversation's search hits */

static ngx_int_t
ngx_kefu_erase_step_hits(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    u_char             *p;
    size_t              lens[NGX_KEFU_ERASE_HITS + 1], klen;
    ngx_uint_t          n;
    const char         *argv[NGX_KEFU_ERASE_HITS + 1];
    ngx_kefu_erase_t   *e;

    e = api->data;

    /*
     * one buffer for every conversation's batches, rewritten each
     * time (hiredis copies the command)
     */
    klen = sizeof("kefu:{s:}:ix:m::") - 1 + api->site->name.len
           + NGX_KEFU_MAX_ID_LEN + NGX_INT64_LEN;

    if (e->hit_keys == NULL) {
        e->hit_keys = ngx_pnalloc(r->pool, NGX_KEFU_ERASE_HITS * klen);
        if (e->hit_keys == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }
    }

    argv[0] = "DEL";
    lens[0] = 3;
    p = e->hit_keys;

    for (n = 0; n < NGX_KEFU_ERASE_HITS && e->hit_next <= e->hit_last; n++) {
        /* as ngx_kefu_search_index_msg() names them */
        argv[n + 1] = (char *) p;
        p = ngx_sprintf(p, "kefu:{s:%V}:ix:m:%V:%015uL",
                        &api->site->name, &e->conv, e->hit_next++);
        lens[n + 1] = p - (u_char *) argv[n + 1];
    }

    return ngx_kefu_api_command(r, n + 1, argv, lens,
                                ngx_kefu_erase_step_done);
}


/* the next batch of a list of dedup records */

static ngx_int_t
ngx_kefu_erase_step_dels(ngx_http_request_t *r, ngx_kefu_api_t *api,
    ngx_kefu_erase_step_t *s)
{
    size_t              lens[NGX_KEFU_ERASE_DEL + 1];
    ngx_str_t          *d;
    ngx_uint_t          n, *k;
    const char         *argv[NGX_KEFU_ERASE_DEL + 1];
    ngx_kefu_erase_t   *e;

    e = api->data;

    argv[0] = "DEL";
    lens[0] = 3;
    d = e->dels[s->list].elts;
    k = &e->ndel[s->list];

    for (n = 0; n < NGX_KEFU_ERASE_DEL && *k < e->dels[s->list].nelts; n++) {
        argv[n + 1] = (char *) d[*k].data;
        lens[n + 1] = d[*k].len;
        (*k)++;
    }

    return ngx_kefu_api_command(r, n + 1, argv, lens,
                                ngx_kefu_erase_step_done);
}


static ngx_int_t
ngx_kefu_erase_step_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    ngx_kefu_erase_t       *e;
    ngx_kefu_erase_step_t  *s;

    e = api->data;

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_kefu_api_unavailable(r);
    }

    s = (ngx_kefu_erase_step_t *) e->steps.elts + e->step;

    /* nothing refers to the file any more: from disk too, now */
    if (s->what == NGX_KEFU_ERASE_FILE && reply->integer == 1
        && ngx_kefu_upload_unlink(api->kmcf, api->site, s->arg.data,
                                  s->arg.len, ngx_time() - 2)
           == NGX_OK)
    {
        e->files++;
    }

    /* a DEL step goes on until every record is gone */
    if ((s->what != NGX_KEFU_ERASE_DELS
         || e->ndel[s->list] == e->dels[s->list].nelts)
        && (s->what != NGX_KEFU_ERASE_HIT || e->hit_next > e->hit_last))
    {
        e->step++;
    }

    return ngx_kefu_erase_step(r, api);
}


/* what the visitor is found by in the search index: read it first */

static ngx_int_t
ngx_kefu_erase_visitor(ngx_http_request_t *r, ngx_kefu_api_t *api)
{
    return ngx_kefu_erase_visitor_cmd(r, api, "", ngx_kefu_word("HMGET"),
                                      ngx_kefu_word("name"),
                                      ngx_kefu_word("contact"),
                                      ngx_kefu_erase_visitor_read);
}


static ngx_int_t
ngx_kefu_erase_visitor_read(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    u_char                   *p;
    ngx_int_t                 rc;
    ngx_str_t                 data;
    ngx_kefu_erase_t         *e;
    ngx_kefu_terms_call_t     call;
    ngx_kefu_search_terms_t  *t;

    e = api->data;

    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2) {
        return ngx_kefu_api_unavailable(r);
    }

    t = ngx_kefu_erase_visitor_terms(r, api, reply);
    data.data = ngx_pnalloc(r->pool, api->id.len + api->sub.len
                                     + NGX_INT_T_LEN + 64);

    if (t == NULL || data.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* visitor.erased's data; ids are of [A-Za-z0-9._:@-]: nothing to
     * escape */
    p = ngx_sprintf(data.data,
                    "{\"visitor\":\"%V\",\"convs\":%ui,\"by\":\"%V\"}",
                    &api->id, e->erased, &api->sub);
    data.len = p - data.data;

    if (ngx_kefu_erase_visitor_args(&call, &api->site->name, &api->id,
                                    t->term, t->n, ngx_time() / 3600,
                                    ngx_kefu_now_ms(), &data,
                                    NGX_KEFU_ERASE_EVENTS_MAX, e->erased)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_kefu_api_eval_keys(r, &ngx_kefu_script_erase_visitor,
                                call.nkeys, call.argc, call.argv, call.lens,
                                ngx_kefu_erase_visitor_done);
    ngx_free(call.argv);

    return rc;
}


/* the terms of its name and contact details (HMGET's reply) */

static ngx_kefu_search_terms_t *
ngx_kefu_erase_visitor_terms(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    json_t                   *contact;
    ngx_str_t                 name;
    ngx_kefu_search_terms_t  *t;

    name.len = 0;

    if (reply->element[0]->type == REDIS_REPLY_STRING) {
        name.data = (u_char *) reply->element[0]->str;
        name.len = reply->element[0]->len;
    }

    contact = (reply->element[1]->type == REDIS_REPLY_STRING)
              ? ngx_kefu_api_json(reply->element[1]) : NULL;

    t = ngx_kefu_search_visitor_terms(r->pool, &api->id,
                                      name.len ? &name : NULL, contact);
    json_decref(contact);

    return t;
}


static ngx_int_t
ngx_kefu_erase_visitor_done(ngx_http_request_t *r, ngx_kefu_api_t *api,
    redisReply *reply)
{
    ngx_kefu_erase_t  *e;

    e = api->data;

    if (reply->type != REDIS_REPLY_INTEGER) {
        return ngx_kefu_api_unavailable(r);
    }

    switch (reply->integer) {

    case 0:
        /* a conversation opened meanwhile: once more round */
        if (++e->rounds == NGX_KEFU_ERASE_ROUNDS) {
            return ngx_kefu_api_error(r, NGX_HTTP_CONFLICT, "conflict",
                                      "the visitor keeps opening "
                                      "conversations; retry");
        }

        return ngx_kefu_erase_next(r, api);

    case 2:
        return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                  "nothing is stored about this visitor");

    default:
        return ngx_kefu_api_send(r, NGX_HTTP_OK,
                                 json_pack("{s:s%,s:b,s:I,s:I}",
                                           "visitor", (char *) api->id.data,
                                           api->id.len, "erased", 1,
                                           "convs", (json_int_t) e->erased,
                                           "files", (json_int_t) e->files));
    }
}


static ngx_int_t
ngx_kefu_erase_push(ngx_http_request_t *r, ngx_kefu_erase_t *e,
    ngx_uint_t what, ngx_str_t *key, ngx_str_t *arg)
{
    ngx_kefu_erase_step_t  *s;

    s = ngx_array_push(&e->steps);
    if (s == NULL) {
        return NGX_ERROR;
    }

    s->key = *key;
    s->arg = *arg;
    s->what = what;
    s->list = 0;

    return NGX_OK;
}


/*
 * A plain command on a key of the visitor's ("kefu:{s:<site>}:v:<id>"
 * and suffix): cmd key arg1 arg2
 */

static ngx_int_t
ngx_kefu_erase_visitor_cmd(ngx_http_request_t *r, ngx_kefu_api_t *api,
    const char *suffix, ngx_str_t *cmd, ngx_str_t *arg1, ngx_str_t *arg2,
    ngx_kefu_api_done_pt done)
{
    ngx_str_t               key;
    ngx_kefu_redis_args_t   a;

    if (ngx_kefu_erase_key(r, &key, "kefu:{s:%V}:v:%V%s", &api->site->name,
                           &api->id, suffix) != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_kefu_redis_args(&a, cmd, &key, arg1, arg2);

    return ngx_kefu_api_command(r, a.argc, a.argv, a.lens, done);
}


/* a key in the request's pool */

static ngx_int_t
ngx_kefu_erase_key(ngx_http_request_t *r, ngx_str_t *key, const char *fmt,
    ...)
{
    u_char   *p;
    u_char    buf[3 * NGX_KEFU_MAX_ID_LEN + 128];
    va_list   args;

    va_start(args, fmt);
    p = ngx_vslprintf(buf, buf + sizeof(buf), fmt, args);
    va_end(args);

    key->len = p - buf;
    key->data = ngx_pnalloc(r->pool, key->len);

    if (key->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(key->data, buf, key->len);

    return NGX_OK;
}
