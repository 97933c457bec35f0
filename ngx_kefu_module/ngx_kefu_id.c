
/*
 * Snowflake-style ids for messages and conversations: 41 bits of
 * milliseconds since 2024-01-01, 10 bits of node, 12 bits of sequence.
 * They sort by time, need no coordination per id, and are unique across
 * workers and hosts as long as every worker has its own node number: a
 * lease it holds in Redis (ngx_kefu_lease.c), renewed on a timer and
 * released at exit.  Ids are minted only while the lease is known to be
 * live (until, on this worker's monotonic clock); a node taken over after
 * a lapse starts past the last millisecond its previous holder could have
 * used (floor), whatever the two hosts' clocks say.
 *
 * Rendered as decimal strings on the wire: JavaScript numbers hold 53 bits.
 */


#include "ngx_kefu.h"


#define NGX_KEFU_ID_EPOCH     1704067200000ULL    /* 2024-01-01T00:00Z */
#define NGX_KEFU_ID_NODE_BITS 10
#define NGX_KEFU_ID_SEQ_BITS  12
#define NGX_KEFU_ID_SEQ_MAX   ((1 << NGX_KEFU_ID_SEQ_BITS) - 1)


void
ngx_kefu_id_set_node(ngx_kefu_id_gen_t *gen, ngx_uint_t node, int64_t floor,
    ngx_msec_t until)
{
    uint64_t  f;

    /*
     * Another holder may have used this node up to its floor (0 when the
     * lease was only renewed); the next id comes after it.
     */
    f = floor > (int64_t) NGX_KEFU_ID_EPOCH
        ? (uint64_t) floor - NGX_KEFU_ID_EPOCH : 0;

    if (f > gen->last) {
        gen->last = f;
        gen->seq = NGX_KEFU_ID_SEQ_MAX;
    }

    gen->node = node & ((1 << NGX_KEFU_ID_NODE_BITS) - 1);
    gen->until = until;
    gen->ready = 1;
}


/* the lease is gone or going: no more ids under this node */

void
ngx_kefu_id_stop(ngx_kefu_id_gen_t *gen)
{
    gen->ready = 0;
}


/*
 * Returns 0 while the worker holds no live node lease.  A clock that steps
 * back does not produce duplicates: the generator keeps using the last
 * millisecond it issued, and borrows the next one when 4096 ids were
 * issued in a millisecond.
 */

uint64_t
ngx_kefu_id_next(ngx_kefu_id_gen_t *gen)
{
    uint64_t  now;

    if (!gen->ready || ngx_current_msec >= gen->until) {
        return 0;
    }

    now = (uint64_t) ngx_kefu_now_ms() - NGX_KEFU_ID_EPOCH;

    if (now > gen->last) {
        gen->last = now;
        gen->seq = 0;

    } else if (gen->seq < NGX_KEFU_ID_SEQ_MAX) {
        gen->seq++;

    } else {
        gen->last++;
        gen->seq = 0;
    }

    return (gen->last << (NGX_KEFU_ID_NODE_BITS + NGX_KEFU_ID_SEQ_BITS))
           | ((uint64_t) gen->node << NGX_KEFU_ID_SEQ_BITS)
           | gen->seq;
}
