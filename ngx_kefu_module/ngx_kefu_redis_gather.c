
/*
 * One script called once per item, pipelined, and the replies gathered
 * into one: the read side of a listing whose index lives in the site's
 * slot and whose items each live in their own conversation's slot
 * (docs/storage.md, "Slots").  The calls go out together (in a cluster,
 * to each item's master), so the whole costs one round trip whatever the
 * number of items, and the Redis work per item stays one small script.
 *
 * The handler is called once, after the last reply: with NULL if any call
 * failed, with a copy of the first error reply if any was refused, else
 * with an array reply of the replies in the order of the calls (or, with
 * "flat", of their elements one after another: a call answering an empty
 * array, an item gone meanwhile, adds nothing).  The copies live in a
 * pool of their own, freed when the handler returns.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_script_args.h"


typedef struct ngx_kefu_gather_s  ngx_kefu_gather_t;

typedef struct {
    ngx_kefu_gather_t           *gather;
    redisReply                  *reply;
} ngx_kefu_gather_part_t;

struct ngx_kefu_gather_s {
    ngx_kefu_redis_handler_pt    handler;
    void                        *data;
    ngx_pool_t                  *pool;
    ngx_uint_t                   n;
    ngx_uint_t                   pending;
    ngx_uint_t                   failed;
    ngx_uint_t                   flat;
    redisReply                  *error;
    ngx_kefu_gather_part_t      *parts;
};


static void ngx_kefu_gather_reply(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_gather_done(ngx_kefu_redis_t *rd, ngx_kefu_gather_t *g);


static redisReply  ngx_kefu_gather_empty = { .type = REDIS_REPLY_ARRAY };


/* an empty array reply: what a listing of nothing answers */

redisReply *
ngx_kefu_redis_empty_reply(void)
{
    return &ngx_kefu_gather_empty;
}


/*
 * n calls of s with calls[i]'s keys and arguments.  NGX_OK: the handler
 * will be called; otherwise it will not (nothing went out).  The first
 * call is admitted like any (kefu_redis_max_inflight), the others as its
 * follow-ups, so that a listing is refused whole or made whole.
 */

ngx_int_t
ngx_kefu_redis_gather(ngx_kefu_redis_t *rd, ngx_kefu_script_t *s,
    ngx_kefu_call_t *calls, ngx_uint_t n, ngx_uint_t flat,
    ngx_kefu_redis_handler_pt h, void *data)
{
    ngx_int_t           rc;
    ngx_uint_t          i;
    ngx_pool_t         *pool;
    ngx_kefu_gather_t  *g;

    if (n == 0) {
        return NGX_ERROR;
    }

    pool = ngx_create_pool(4096, ngx_kefu_redis_log(rd));
    if (pool == NULL) {
        return NGX_ERROR;
    }

    g = ngx_pcalloc(pool, sizeof(ngx_kefu_gather_t));
    if (g == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    g->parts = ngx_pcalloc(pool, n * sizeof(ngx_kefu_gather_part_t));
    if (g->parts == NULL) {
        ngx_destroy_pool(pool);
        return NGX_ERROR;
    }

    g->handler = h;
    g->data = data;
    g->pool = pool;
    g->n = n;
    g->flat = flat;

    /* one more than the calls while they go out: no early completion */
    g->pending = n + 1;

    for (i = 0; i < n; i++) {
        g->parts[i].gather = g;

        if (i == 0) {
            rc = ngx_kefu_redis_eval_call(rd, s, ngx_kefu_gather_reply,
                                          &g->parts[i], &calls[i]);
        } else {
            rc = ngx_kefu_redis_follow_call(rd, s, ngx_kefu_gather_reply,
                                            &g->parts[i], &calls[i]);
        }

        if (rc != NGX_OK) {
            if (i == 0) {
                ngx_destroy_pool(pool);
                return rc;
            }

            /* those out will answer; the rest count as failed */
            g->failed = 1;
            g->pending -= n - i;
            break;
        }
    }

    if (--g->pending == 0) {
        ngx_kefu_gather_done(rd, g);
    }

    return NGX_OK;
}


/*
 * The same with the calls built here, one by one, by args(call, i,
 * args_data): the callers' call arrays, their failures and their frees in
 * one place.  NGX_OK: the handler will be called; otherwise it will not.
 */

ngx_int_t
ngx_kefu_redis_gather_each(ngx_kefu_redis_t *rd, ngx_kefu_script_t *s,
    ngx_uint_t n, ngx_kefu_gather_args_pt args, void *args_data,
    ngx_uint_t flat, ngx_kefu_redis_handler_pt h, void *data)
{
    ngx_int_t         rc;
    ngx_uint_t        i;
    ngx_kefu_call_t  *calls;

    if (n == 0) {
        return NGX_ERROR;
    }

    /* a call holds its arguments (a kilobyte): not on the stack */
    calls = ngx_alloc(n * sizeof(ngx_kefu_call_t), ngx_kefu_redis_log(rd));
    if (calls == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (args(&calls[i], i, args_data) != NGX_OK) {
            ngx_free(calls);
            return NGX_ERROR;
        }
    }

    rc = ngx_kefu_redis_gather(rd, s, calls, n, flat, h, data);

    ngx_free(calls);

    return rc;
}


/* args for ngx_kefu_redis_gather_each(): fields of conversations named in
 * a reply's elements */

ngx_int_t
ngx_kefu_gather_conv_fields(ngx_kefu_call_t *call, ngx_uint_t i, void *data)
{
    ngx_kefu_gather_convs_t  *gc = data;

    ngx_str_t    conv;
    redisReply  *e;

    e = gc->index->element[gc->first + i * gc->step];

    if (e->type != REDIS_REPLY_STRING) {
        return NGX_ERROR;
    }

    conv.data = (u_char *) e->str;
    conv.len = e->len;

    return ngx_kefu_conv_fields_args(call, &conv, gc->fields, gc->nfields);
}


static void
ngx_kefu_gather_reply(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_gather_part_t  *part = data;

    ngx_kefu_gather_t  *g;

    g = part->gather;

    if (reply == NULL) {
        g->failed = 1;

    } else if (reply->type == REDIS_REPLY_ERROR) {
        if (g->error == NULL) {
            g->error = ngx_kefu_redis_reply_copy(g->pool, reply);
            if (g->error == NULL) {
                g->failed = 1;
            }
        }

    } else if (!g->failed && g->error == NULL) {
        part->reply = ngx_kefu_redis_reply_copy(g->pool, reply);
        if (part->reply == NULL) {
            g->failed = 1;
        }
    }

    if (--g->pending == 0) {
        ngx_kefu_gather_done(rd, g);
    }
}


static void
ngx_kefu_gather_done(ngx_kefu_redis_t *rd, ngx_kefu_gather_t *g)
{
    size_t       k;
    ngx_uint_t   i, m;
    redisReply   all, *r;

    if (g->failed) {
        g->handler(rd, NULL, g->data);
        goto done;
    }

    if (g->error) {
        g->handler(rd, g->error, g->data);
        goto done;
    }

    ngx_memzero(&all, sizeof(redisReply));
    all.type = REDIS_REPLY_ARRAY;

    m = 0;

    for (i = 0; i < g->n; i++) {
        r = g->parts[i].reply;
        m += g->flat ? (r->type == REDIS_REPLY_ARRAY ? r->elements : 0) : 1;
    }

    if (m) {
        all.element = ngx_palloc(g->pool, m * sizeof(redisReply *));
        if (all.element == NULL) {
            g->handler(rd, NULL, g->data);
            goto done;
        }
    }

    for (i = 0; i < g->n; i++) {
        r = g->parts[i].reply;

        if (!g->flat) {
            all.element[all.elements++] = r;
            continue;
        }

        for (k = 0; r->type == REDIS_REPLY_ARRAY && k < r->elements; k++) {
            all.element[all.elements++] = r->element[k];
        }
    }

    g->handler(rd, &all, g->data);

done:

    ngx_destroy_pool(g->pool);
}


/*
 * hiredis frees a reply when its callback returns: a deep copy in a pool,
 * for what a later step still needs
 */

redisReply *
ngx_kefu_redis_reply_copy(ngx_pool_t *pool, redisReply *r)
{
    size_t       i;
    redisReply  *c;

    c = ngx_palloc(pool, sizeof(redisReply));
    if (c == NULL) {
        return NULL;
    }

    *c = *r;
    c->str = NULL;
    c->element = NULL;

    if (r->str) {
        c->str = ngx_pnalloc(pool, r->len + 1);
        if (c->str == NULL) {
            return NULL;
        }

        ngx_memcpy(c->str, r->str, r->len);
        c->str[r->len] = '\0';
    }

    if (r->elements && r->element) {
        c->element = ngx_palloc(pool, r->elements * sizeof(redisReply *));
        if (c->element == NULL) {
            return NULL;
        }

        for (i = 0; i < r->elements; i++) {
            c->element[i] = ngx_kefu_redis_reply_copy(pool, r->element[i]);
            if (c->element[i] == NULL) {
                return NULL;
            }
        }
    }

    return c;
}
