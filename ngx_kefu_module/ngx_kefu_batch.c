
/*
 * The per-pass batch queue (ngx_kefu_batch.h): items wait in a list and
 * a posted event; when the pass is over, the list is cut into calls: a
 * call takes the first waiting item, then, in order, each later one its
 * user's fit() lets join (so items of one slot or site keep their order
 * within and across calls), and goes to the user's send(); then the next
 * call starts with the first item left.  What is added meanwhile (a send
 * whose failure is answered at once) waits for the next pass.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_batch.h"


static void ngx_kefu_batch_posted(ngx_event_t *ev);


ngx_kefu_batch_t *
ngx_kefu_batch_get(ngx_kefu_main_conf_t *kmcf, void **slot, size_t size,
    ngx_kefu_batch_fit_pt fit, ngx_kefu_batch_send_pt send)
{
    ngx_kefu_batch_t  *b;

    b = *slot;

    if (b == NULL) {
        b = ngx_calloc(size, ngx_cycle->log);
        if (b == NULL) {
            return NULL;
        }

        b->kmcf = kmcf;
        b->ev.handler = ngx_kefu_batch_posted;
        b->ev.data = b;
        b->ev.log = ngx_cycle->log;
        b->last = &b->head;
        b->fit = fit;
        b->send = send;
        *slot = b;
    }

    return b;
}


void
ngx_kefu_batch_add(ngx_kefu_batch_t *b, ngx_kefu_batch_item_t *it)
{
    it->next = NULL;
    *b->last = it;
    b->last = &it->next;
    b->pending++;

    if (!b->ev.posted && (b->hold == 0 || b->busy < b->hold)) {
        ngx_post_event(&b->ev, &ngx_posted_events);
    }
}


void
ngx_kefu_batch_sent(ngx_kefu_batch_t *b)
{
    b->busy++;
}


void
ngx_kefu_batch_answered(ngx_kefu_batch_t *b)
{
    if (b->busy) {
        b->busy--;
    }

    /* what waited for it goes at the end of this pass, as one call */
    if (b->head && !b->ev.posted && b->busy < b->hold) {
        ngx_post_event(&b->ev, &ngx_posted_events);
    }
}


static void
ngx_kefu_batch_posted(ngx_event_t *ev)
{
    ngx_kefu_batch_flush(ev->data, NULL);
}


void
ngx_kefu_batch_flush(ngx_kefu_batch_t *b, ngx_kefu_batch_item_t *items)
{
    size_t                   bytes;
    ngx_int_t                rc;
    ngx_uint_t               n;
    ngx_kefu_batch_item_t   *it, *rest, *call, **next, **call_last;

    if (items) {
        for (it = items; it->next; it = it->next) { /* void */ }

        it->next = b->head;
        rest = items;

    } else {
        rest = b->head;
    }

    b->head = NULL;
    b->last = &b->head;
    b->pending = 0;

    while (rest) {
        /* the first one opens the call */
        call = rest;
        rest = call->next;
        call->next = NULL;
        call_last = &call->next;
        n = 1;
        bytes = call->bytes;

        for (next = &rest, it = rest; it; it = *next) {
            rc = b->fit(b, call, it, n, bytes);

            if (rc == NGX_DONE) {
                break;
            }

            if (rc != NGX_OK) {
                next = &it->next;
                continue;
            }

            *next = it->next;
            it->next = NULL;
            *call_last = it;
            call_last = &it->next;
            n++;
            bytes += it->bytes;
        }

        b->send(b, call, n);
    }
}


void
ngx_kefu_batch_free(ngx_kefu_batch_item_t *items)
{
    ngx_kefu_batch_item_t  *next;

    for ( /* void */ ; items; items = next) {
        next = items->next;
        ngx_free(items);
    }
}


void
ngx_kefu_batch_exit(void **slot, ngx_kefu_batch_send_pt drop,
    ngx_uint_t level, const char *lost)
{
    ngx_uint_t              n, freed;
    ngx_kefu_batch_t       *b;
    ngx_kefu_batch_item_t  *items;

    b = *slot;

    if (b == NULL) {
        return;
    }

    freed = 0;

    /* what a drop adds (an answer that leads to another write) too */
    while (b->head) {
        items = b->head;
        n = b->pending;
        b->head = NULL;
        b->last = &b->head;
        b->pending = 0;

        if (drop) {
            drop(b, items, n);

        } else {
            ngx_kefu_batch_free(items);
            freed += n;
        }
    }

    if (freed) {
        ngx_log_error(level, ngx_cycle->log, 0, "kefu: %ui %s", freed, lost);
    }

    if (b->ev.posted) {
        ngx_delete_posted_event(&b->ev);
    }

    *slot = NULL;
    ngx_free(b);
}
