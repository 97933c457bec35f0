
/*
 * Group commit: the chat messages one pass of the event loop took (frames
 * of many clients read in one pass, Redis replies that led to a msg) wait
 * in a posted event, which runs once the pass's other events are done and
 * sends them as one lua/msg_batch.lua call: the script call's own cost,
 * most of a message's time in Redis, is paid once for many.  On one Redis
 * (and Sentinel's master) a worker has at most NGX_KEFU_MSG_BATCH_HOLD
 * calls in flight: the messages of the passes after that wait until one
 * is answered, then go as one call, as a database's group commit waits
 * for the flush in progress.  A busy Redis so gets fewer, larger calls
 * (issue 18: half the calls at 10,000 messages a second,
 * docs/benchmarks.md), an idle one each message at once; with a cluster, whose
 * calls go to several masters, a slow one would hold the others' back,
 * and a call goes at the end of its pass as before.  The queue
 * is the worker's ngx_kefu_batch.c one, as event_put's and the search
 * index's: bounded at NGX_KEFU_MSG_BATCH_MAX messages or
 * NGX_KEFU_MSG_BATCH_BYTES of arguments a call, then another call.  A
 * batch of one is plain msg (or msg_slot).  What msg_batch's messages
 * share (site, ...) goes once a call, and each message only what msg
 * reads of its ARGV (ngx_kefu_msg_batch_put()).
 *
 * - Each message is stored exactly as alone (lib/msg.lua), in the order
 *   taken, so each conversation's messages keep their order across calls
 *   too (one connection answers in order); each gets its own reply, its
 *   handler (ngx_kefu_msg.c's, as for one msg call) its own outcome: an
 *   ack only once the call answered, a dup, a refusal.
 * - kefu_redis_max_inflight counts messages: each is admitted as it joins
 *   (with those waiting before it), and is refused at once over the cap.
 * - A sender that leaves meanwhile frees nothing here: the handler's data
 *   is the message's call, which looks its sender up by session id.
 * - With "kefu_redis cluster" a call holds the messages of one slot
 *   (their conversations' keys: mostly one conversation's messages), so
 *   each still runs where its keys live; on one Redis and with Sentinel,
 *   one call holds any conversations.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_batch.h"
#include "ngx_kefu_msg_batch.h"


/* a call's arguments stay within what ngx_kefu_redis_eval_n() takes */
#if (NGX_KEFU_MSG_BATCH_MAX * (NGX_KEFU_MSG_ARGS + 2) + 5 > 4096)
#error "NGX_KEFU_MSG_BATCH_MAX: too many arguments for one call"
#endif


/*
 * msg_batch's short form of a message (lua/msg_batch.lua, m_short() in
 * lib/msg.lua), indexes into msg's ARGV (ngx_kefu_msg_argv(), from 0):
 * what the call's messages share, sent once (site, JSON head, dedup ttl,
 * log max length); what each sends (who, role, conv, cid, id, ts, JSON
 * mid and tail, private, session, implicit); then as many as it needs of
 * the optional ones (visitor ttl, file, target, event), "" when none.
 * Everything else of msg's ARGV msg never reads: a message's 32 arguments,
 * each a string Redis parses and makes into Lua's, became 11 to 15
 * (issue 18).
 */
static const int  ngx_kefu_msg_batch_shared[] = { 0, 8, 13, 14 };
static const int  ngx_kefu_msg_batch_own[] = { 1, 2, 3, 4, 5, 7, 9, 10, 11,
                                               15, 28 };
static const int  ngx_kefu_msg_batch_opt[] = { 27, 24, 18, 19 };

#define NGX_KEFU_MSG_BATCH_SHARED                                             \
    (int) (sizeof(ngx_kefu_msg_batch_shared) / sizeof(int))
#define NGX_KEFU_MSG_BATCH_OWN                                                \
    (int) (sizeof(ngx_kefu_msg_batch_own) / sizeof(int))
#define NGX_KEFU_MSG_BATCH_OPT                                                \
    (int) (sizeof(ngx_kefu_msg_batch_opt) / sizeof(int))

/* the short form's counts, which lua/msg_batch.lua tells from a whole
 * ARGV's (more than 15) */
static const char  *ngx_kefu_msg_batch_counts[] = {
    "11", "12", "13", "14", "15"
};

/* a whole ARGV (more than 15) holds msg's 29th, the short form's last */
#if (NGX_KEFU_MSG_ARGS < 29)
#error "NGX_KEFU_MSG_ARGS: msg_batch's short form reads msg's ARGV 29"
#endif


typedef struct ngx_kefu_msg_batch_item_s  ngx_kefu_msg_batch_item_t;

/*
 * a message waiting for the end of the pass, then for its reply (a
 * call's messages linked in order, the first the call's handler data)
 */
struct ngx_kefu_msg_batch_item_s {
    ngx_kefu_batch_item_t        batch;      /* next, bytes */
    ngx_kefu_redis_handler_pt    handler;
    void                        *data;
    int                          argc;
    const char                 **argv;
    const size_t                *lens;
    ngx_uint_t                   slot;
    size_t                       key_len;
    u_char                       key[sizeof("kefu:{c:}")
                                     + NGX_KEFU_MAX_ID_LEN];
    size_t                       count_len;
    u_char                       count[NGX_INT_T_LEN];
};

/*
 * per worker (kmcf->msg_batch): the pass's messages; rd answers them at
 * the worker's exit, when kmcf->redis is no more
 */
typedef struct {
    ngx_kefu_batch_t             batch;
    ngx_kefu_redis_t            *rd;
} ngx_kefu_msg_batch_t;

static void ngx_kefu_msg_batch_call(ngx_kefu_batch_t *b,
    ngx_kefu_batch_item_t *items, ngx_uint_t n);
static void ngx_kefu_msg_batch_drop(ngx_kefu_batch_t *b,
    ngx_kefu_batch_item_t *items, ngx_uint_t n);
static void ngx_kefu_msg_batch_answered(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_msg_batch_done(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static int ngx_kefu_msg_batch_short(ngx_kefu_msg_batch_item_t *first,
    ngx_kefu_msg_batch_item_t *it);
static int ngx_kefu_msg_batch_put(ngx_kefu_msg_batch_item_t *first,
    ngx_kefu_msg_batch_item_t *it, const char **argv, size_t *lens);


/*
 * The pass is over: the first waiting one's slot (one Redis: any), in
 * order, up to the bounds; one that does not fit ends the call, so that
 * nothing of its slot after it goes before it.
 */

static ngx_int_t
ngx_kefu_msg_batch_fit(ngx_kefu_batch_t *b, ngx_kefu_batch_item_t *first,
    ngx_kefu_batch_item_t *it, ngx_uint_t n, size_t bytes)
{
    if (ngx_kefu_redis_cluster(b->kmcf->redis)
        && ((ngx_kefu_msg_batch_item_t *) it)->slot
           != ((ngx_kefu_msg_batch_item_t *) first)->slot)
    {
        return NGX_DECLINED;
    }

    if (n == NGX_KEFU_MSG_BATCH_MAX
        || bytes + it->bytes > NGX_KEFU_MSG_BATCH_BYTES)
    {
        return NGX_DONE;
    }

    return NGX_OK;
}


/*
 * Under overload most messages are refused: ngx_kefu_msg.c asks here
 * first, before it builds the message's call (its stored JSON, its
 * arguments, its context), whether one more for conv would be admitted
 * now, so that a refusal costs nginx little of the CPU Redis needs.
 */

ngx_int_t
ngx_kefu_msg_batch_room(ngx_kefu_main_conf_t *kmcf, ngx_str_t *conv)
{
    u_char             key[sizeof("kefu:{c:}") + NGX_KEFU_MAX_ID_LEN];
    size_t             key_len;
    ngx_kefu_batch_t  *b;

    if (conv->len > NGX_KEFU_MAX_ID_LEN) {
        /* ngx_kefu_msg_batch_add() refuses it */
        return NGX_OK;
    }

    key_len = ngx_snprintf(key, sizeof(key), "kefu:{c:%V}", conv) - key;

    b = kmcf->msg_batch;

    return ngx_kefu_redis_room_key(kmcf->redis, key, key_len,
                                   b ? b->pending : 0);
}


ngx_int_t
ngx_kefu_msg_batch_add(ngx_kefu_main_conf_t *kmcf, ngx_str_t *conv,
    int argc, const char **argv, const size_t *lens,
    ngx_kefu_redis_handler_pt h, void *data)
{
    int                         i;
    u_char                      key[sizeof("kefu:{c:}") + NGX_KEFU_MAX_ID_LEN];
    size_t                      key_len;
    ngx_int_t                   rc;
    ngx_kefu_batch_t           *b;
    ngx_kefu_msg_batch_item_t  *it;

    /* msg's whole ARGV (ngx_kefu_msg_argv()): the short form is cut from
     * it, and a whole one is told from a short one by its count */
    if (conv->len > NGX_KEFU_MAX_ID_LEN || argc != NGX_KEFU_MSG_ARGS) {
        return NGX_ERROR;
    }

    key_len = ngx_snprintf(key, sizeof(key), "kefu:{c:%V}", conv) - key;

    b = kmcf->msg_batch;

    /* admitted now, counted with the batch's messages before it */
    rc = ngx_kefu_redis_admit_key(kmcf->redis, key, key_len,
                                  b ? b->pending : 0);
    if (rc != NGX_OK) {
        return rc;
    }

    b = ngx_kefu_batch_get(kmcf, &kmcf->msg_batch,
                           sizeof(ngx_kefu_msg_batch_t),
                           ngx_kefu_msg_batch_fit, ngx_kefu_msg_batch_call);
    if (b == NULL) {
        return NGX_ERROR;
    }

    ((ngx_kefu_msg_batch_t *) b)->rd = kmcf->redis;

    if (!ngx_kefu_redis_cluster(kmcf->redis)) {
        b->hold = NGX_KEFU_MSG_BATCH_HOLD;
    }

    it = ngx_alloc(sizeof(ngx_kefu_msg_batch_item_t), ngx_cycle->log);
    if (it == NULL) {
        return NGX_ERROR;
    }

    it->handler = h;
    it->data = data;
    it->argc = argc;
    it->argv = argv;
    it->lens = lens;
    it->key_len = key_len;
    ngx_memcpy(it->key, key, key_len);
    it->slot = ngx_kefu_redis_cluster(kmcf->redis)
               ? ngx_kefu_redis_slot(key, key_len) : 0;
    it->count_len = ngx_sprintf(it->count, "%d", argc) - it->count;

    it->batch.bytes = key_len + it->count_len;

    for (i = 0; i < argc; i++) {
        it->batch.bytes += lens[i];
    }

    ngx_kefu_batch_add(b, &it->batch);

    return NGX_OK;
}


/*
 * The number of arguments of a message in msg_batch's short form (11 to
 * 15: the optional ones up to the last that is not ""), or 0 when it
 * shares not the call's (its first message's) site, head, ttl and log
 * max length, and goes whole
 */

static int
ngx_kefu_msg_batch_short(ngx_kefu_msg_batch_item_t *first,
    ngx_kefu_msg_batch_item_t *it)
{
    int  i, j, n;

    for (i = 0; i < NGX_KEFU_MSG_BATCH_SHARED; i++) {
        j = ngx_kefu_msg_batch_shared[i];

        if (it->lens[j] != first->lens[j]
            || (it->lens[j]
                && ngx_memcmp(it->argv[j], first->argv[j], it->lens[j]) != 0))
        {
            return 0;
        }
    }

    n = NGX_KEFU_MSG_BATCH_OPT;

    while (n > 0 && it->lens[ngx_kefu_msg_batch_opt[n - 1]] == 0) {
        n--;
    }

    return NGX_KEFU_MSG_BATCH_OWN + n;
}


/* a message's count and arguments (short or whole) at argv; how many */

static int
ngx_kefu_msg_batch_put(ngx_kefu_msg_batch_item_t *first,
    ngx_kefu_msg_batch_item_t *it, const char **argv, size_t *lens)
{
    int  i, j, n;

    n = ngx_kefu_msg_batch_short(first, it);

    if (n == 0) {
        argv[0] = (const char *) it->count;
        lens[0] = it->count_len;

        for (i = 0; i < it->argc; i++) {
            argv[1 + i] = it->argv[i];
            lens[1 + i] = it->lens[i];
        }

        return 1 + it->argc;
    }

    argv[0] = ngx_kefu_msg_batch_counts[n - NGX_KEFU_MSG_BATCH_OWN];
    lens[0] = 2;

    for (i = 0; i < n; i++) {
        j = i < NGX_KEFU_MSG_BATCH_OWN
            ? ngx_kefu_msg_batch_own[i]
            : ngx_kefu_msg_batch_opt[i - NGX_KEFU_MSG_BATCH_OWN];
        argv[1 + i] = it->argv[j];
        lens[1 + i] = it->lens[j];
    }

    return 1 + n;
}


/*
 * A call's messages (linked in order by the queue) sent as one call, the
 * first the reply's handler data.  A batch of one is msg (whole ARGV);
 * of more, msg_batch: KEYS only with a cluster (its routing), "1" (one
 * Redis) or "0", the first message's shared arguments, then each
 * message's count and arguments (ngx_kefu_msg_batch_put()).
 */

static void
ngx_kefu_msg_batch_call(ngx_kefu_batch_t *b, ngx_kefu_batch_item_t *items,
    ngx_uint_t n)
{
    int                         argc, nkeys, i;
    size_t                     *lens;
    ngx_int_t                   rc;
    const char                **argv;
    ngx_kefu_script_t          *script;
    ngx_kefu_main_conf_t       *kmcf;
    ngx_kefu_batch_item_t      *bi;
    ngx_kefu_msg_batch_item_t  *it, *first;

    kmcf = b->kmcf;
    script = &ngx_kefu_script_msg_batch;
    first = (ngx_kefu_msg_batch_item_t *) items;
    nkeys = ngx_kefu_redis_cluster(kmcf->redis) ? (int) n : 0;

    if (n == 1) {
        /* alone: msg, or msg_slot (routed by its conversation) */
        nkeys = nkeys ? 1 : 0;
        argc = nkeys + first->argc;
        script = nkeys ? &ngx_kefu_script_msg_slot : &ngx_kefu_script_msg;

    } else {
        /* room for each message whole: a short one takes less */
        argc = nkeys + 1 + NGX_KEFU_MSG_BATCH_SHARED;

        for (bi = items; bi; bi = bi->next) {
            argc += 1 + ((ngx_kefu_msg_batch_item_t *) bi)->argc;
        }
    }

    argv = ngx_alloc(argc * (sizeof(char *) + sizeof(size_t)),
                     ngx_cycle->log);

    rc = NGX_ERROR;

    if (argv) {
        lens = (size_t *) (argv + argc);
        argc = 0;

        for (bi = items; argc < nkeys; bi = bi->next) {
            it = (ngx_kefu_msg_batch_item_t *) bi;
            argv[argc] = (const char *) it->key;
            lens[argc++] = it->key_len;
        }

        if (n == 1) {
            for (i = 0; i < first->argc; i++) {
                argv[argc] = first->argv[i];
                lens[argc++] = first->lens[i];
            }

        } else {
            argv[argc] = ngx_kefu_redis_cluster(kmcf->redis) ? "0" : "1";
            lens[argc++] = 1;

            for (i = 0; i < NGX_KEFU_MSG_BATCH_SHARED; i++) {
                argv[argc] = first->argv[ngx_kefu_msg_batch_shared[i]];
                lens[argc++] = first->lens[ngx_kefu_msg_batch_shared[i]];
            }

            for (bi = items; bi; bi = bi->next) {
                argc += ngx_kefu_msg_batch_put(first,
                                               (ngx_kefu_msg_batch_item_t *) bi,
                                               argv + argc, lens + argc);
            }
        }

        rc = ngx_kefu_redis_eval_n(kmcf->redis, script,
                                   ngx_kefu_msg_batch_answered, items, n,
                                   nkeys, argc, argv, lens);
        ngx_free(argv);

        if (rc == NGX_OK) {
            ngx_kefu_batch_sent(b);
        }
    }

    if (rc != NGX_OK) {
        /* not sent (Redis went down in this pass): each hears it */
        ngx_kefu_msg_batch_done(kmcf->redis, NULL, items);
    }
}


/* a call sent is answered: what waited for it may go (b->hold) */

static void
ngx_kefu_msg_batch_answered(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_main_conf_t  *kmcf;

    ngx_kefu_msg_batch_done(rd, reply, data);

    kmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_kefu_module);

    if (kmcf->msg_batch) {
        ngx_kefu_batch_answered(kmcf->msg_batch);
    }
}


/* each message its own reply, in order (data: the call's first) */

static void
ngx_kefu_msg_batch_done(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_uint_t                  i, n;
    redisReply                 *r;
    ngx_kefu_batch_item_t      *it, *next;
    ngx_kefu_msg_batch_item_t  *m;

    n = 0;

    for (it = data; it; it = it->next) {
        n++;
    }

    if (n > 1 && reply
        && (reply->type != REDIS_REPLY_ARRAY || reply->elements != n))
    {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "kefu: a batch of %ui messages was not stored%s%s",
                      n, reply->type == REDIS_REPLY_ERROR ? ": " : "",
                      reply->type == REDIS_REPLY_ERROR ? reply->str : "");
        reply = NULL;
    }

    for (i = 0, it = data; it; i++, it = next) {
        next = it->next;
        m = (ngx_kefu_msg_batch_item_t *) it;
        r = reply == NULL ? NULL : n == 1 ? reply : reply->element[i];

        if (r && r->type == REDIS_REPLY_ERROR && n > 1) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "kefu: a message of a batch was not stored: %s",
                          r->str);
        }

        m->handler(rd, r, m->data);
        ngx_free(m);
    }
}


void
ngx_kefu_msg_batch_exit(ngx_kefu_main_conf_t *kmcf)
{
    ngx_kefu_batch_exit(&kmcf->msg_batch, ngx_kefu_msg_batch_drop, 0, NULL);
}


/* at the worker's exit: not sent, each hears it (its handler frees it) */

static void
ngx_kefu_msg_batch_drop(ngx_kefu_batch_t *b, ngx_kefu_batch_item_t *items,
    ngx_uint_t n)
{
    ngx_kefu_msg_batch_done(((ngx_kefu_msg_batch_t *) b)->rd, NULL, items);
}
