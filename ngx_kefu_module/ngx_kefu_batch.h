
/*
 * A per-pass batch queue (ngx_kefu_batch.c): what one pass of a worker's
 * event loop takes waits in a posted event, which runs once the pass's
 * other events are done and cuts the waiting items into calls, in order,
 * each as large as its user's bounds allow.  Three users share it:
 *
 *   ngx_kefu_msg_batch.c      group commit: the pass's messages, one
 *                             lua/msg_batch.lua call per slot
 *   ngx_kefu_msg_event.c      with "kefu_redis cluster", the messages'
 *                             events: one lua/event_put.lua per site
 *                             (and its own retry timer)
 *   ngx_kefu_search.c         the search index entries of stored
 *                             messages: one lua/search_batch.lua per site
 *
 * Each user's item starts with an ngx_kefu_batch_item_t, and its
 * per-worker state (in the main conf) with an ngx_kefu_batch_t; the user
 * says which items go together (fit) and sends a call's items (send).
 */


#ifndef _NGX_KEFU_BATCH_H_INCLUDED_
#define _NGX_KEFU_BATCH_H_INCLUDED_


#include "ngx_kefu.h"


typedef struct ngx_kefu_batch_s       ngx_kefu_batch_t;
typedef struct ngx_kefu_batch_item_s  ngx_kefu_batch_item_t;

/* the start of a user's item */
struct ngx_kefu_batch_item_s {
    ngx_kefu_batch_item_t       *next;
    size_t                       bytes;      /* what it adds to a call */
};

/*
 * Whether it joins the call that first opened, which has n items (n > 0:
 * the first always goes, an item alone always fits) and bytes of theirs:
 * NGX_OK takes it; NGX_DECLINED leaves it to a later call (another
 * slot or site, or too large for this one) and looks at the next;
 * NGX_DONE ends the call, the rest wait for the next one.
 */
typedef ngx_int_t (*ngx_kefu_batch_fit_pt)(ngx_kefu_batch_t *b,
    ngx_kefu_batch_item_t *first, ngx_kefu_batch_item_t *it, ngx_uint_t n,
    size_t bytes);

/*
 * A call's n items, linked in their order (the last's next is NULL): the
 * user sends them, and owns them from here (frees them once answered)
 */
typedef void (*ngx_kefu_batch_send_pt)(ngx_kefu_batch_t *b,
    ngx_kefu_batch_item_t *items, ngx_uint_t n);

struct ngx_kefu_batch_s {
    ngx_event_t                  ev;         /* posted by a pass's first */
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_batch_item_t       *head;
    ngx_kefu_batch_item_t      **last;
    ngx_uint_t                   pending;    /* items waiting */
    ngx_uint_t                   busy;       /* calls sent, not answered */
    ngx_uint_t                   hold;       /* 0, or the busy that holds */
    ngx_kefu_batch_fit_pt        fit;
    ngx_kefu_batch_send_pt       send;
};


/*
 * The worker's queue kept in *slot (a field of the main conf), made at
 * its first use: size bytes (the user's state, which starts with an
 * ngx_kefu_batch_t), zeroed; NULL if there is no memory for it.
 */
ngx_kefu_batch_t *ngx_kefu_batch_get(ngx_kefu_main_conf_t *kmcf,
    void **slot, size_t size, ngx_kefu_batch_fit_pt fit,
    ngx_kefu_batch_send_pt send);

/*
 * it waits for the end of the pass, after those added before it; with
 * b->hold set, while b->hold of the user's calls are unanswered, for the
 * pass in which one is answered (ngx_kefu_batch_answered())
 */
void ngx_kefu_batch_add(ngx_kefu_batch_t *b, ngx_kefu_batch_item_t *it);

/*
 * A user with b->hold set counts its calls: one sent (its send() gave it
 * to Redis), one answered (its handler ran, also for a call that Redis's
 * loss or the worker's exit answered)
 */
void ngx_kefu_batch_sent(ngx_kefu_batch_t *b);
void ngx_kefu_batch_answered(ngx_kefu_batch_t *b);

/*
 * The waiting items cut into calls and sent now, after items (linked,
 * NULL: none), which go first: the posted event's handler, and a user's
 * retry.
 */
void ngx_kefu_batch_flush(ngx_kefu_batch_t *b, ngx_kefu_batch_item_t *items);

/* items (linked) freed, each allocated by its user with ngx_alloc() */
void ngx_kefu_batch_free(ngx_kefu_batch_item_t *items);

/*
 * The worker exits (after the Redis layer's exit, whose calls in flight
 * were answered then, with NULL, and may have given items back): the
 * items still waiting go to drop(), in order, which answers them as not
 * sent and frees them; drop NULL: they are freed, and how many is
 * logged at level, "kefu: <n> " and lost; the posted event is taken off
 * its queue, the state freed and *slot NULL again.
 */
void ngx_kefu_batch_exit(void **slot, ngx_kefu_batch_send_pt drop,
    ngx_uint_t level, const char *lost);


#endif /* _NGX_KEFU_BATCH_H_INCLUDED_ */
