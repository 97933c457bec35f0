
/*
 * Keyword matching for all of a site's rules in one pass (Aho-Corasick)
 * over normalized text: ASCII and Latin-1 lower case, full-width ASCII
 * made half-width, the ideographic space a space.  Keywords are
 * normalized the same way.  CJK keywords match as substrings; a keyword
 * that starts (ends) with an ASCII letter or digit matches only where the
 * text has no letter or digit just before (after) it, so that "hi" is not
 * found in "this" nor "refund" in "refunds" (docs/automation.md).
 *
 * The automaton lives in the pool of the compiled settings it belongs to
 * and is freed with it.  Its size is bounded by the keywords' bytes: at
 * most one node per byte.  Children are kept sorted, contiguous per node
 * and searched by bisection; the root has a table of 256.
 */


#include "ngx_kefu_bot.h"


typedef struct {
    uint32_t                     fail;
    uint32_t                     dict;        /* next node with ids, or 0 */
    uint32_t                     edge;        /* its first child edge */
    uint16_t                     nedges;
    uint16_t                     depth;       /* bytes from the root */
    uint32_t                     id;          /* first id, or count 0 */
    uint32_t                     nids;
} ngx_kefu_ac_node_t;


typedef struct {
    u_char                       byte;
    uint32_t                     to;
} ngx_kefu_ac_edge_t;


struct ngx_kefu_ac_s {
    ngx_uint_t                   nnodes;
    ngx_kefu_ac_node_t          *node;
    ngx_kefu_ac_edge_t          *edge;
    uint32_t                    *ids;         /* the ids at terminal nodes */
    uint8_t                     *bound;       /* per id: 1 start, 2 end */
    uint32_t                     root[256];
};


/* a keyword while the automaton is built */
typedef struct {
    u_char                      *data;
    size_t                       len;
    uint32_t                     id;
} ngx_kefu_ac_kw_t;


/* the builder's trie: first child and next sibling, in sorted order */
typedef struct {
    uint32_t                     child;
    uint32_t                     last;        /* the last child */
    uint32_t                     next;
    u_char                       byte;
} ngx_kefu_ac_tnode_t;


static uint32_t ngx_kefu_ac_utf8(u_char **p, u_char *last);
static int ngx_libc_cdecl ngx_kefu_ac_cmp(const void *a, const void *b);
static ngx_inline uint32_t ngx_kefu_ac_go(ngx_kefu_ac_t *ac, uint32_t s,
    u_char c);
static size_t ngx_kefu_ac_trie(ngx_kefu_ac_kw_t *k, ngx_uint_t n,
    ngx_kefu_ac_tnode_t *tn, uint32_t *term, ngx_kefu_ac_node_t *node);
static void ngx_kefu_ac_edges(ngx_kefu_ac_t *ac, ngx_kefu_ac_tnode_t *tn,
    ngx_kefu_ac_node_t *node, size_t nn);
static void ngx_kefu_ac_links(ngx_kefu_ac_t *ac, uint32_t *queue);


/* one character of UTF-8 (a bad byte is itself) */

static uint32_t
ngx_kefu_ac_utf8(u_char **p, u_char *last)
{
    u_char    *s = *p;
    uint32_t   c;
    size_t     n, i;

    c = s[0];

    if (c < 0x80) {
        *p = s + 1;
        return c;
    }

    if ((c & 0xe0) == 0xc0) {
        n = 2; c &= 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
        n = 3; c &= 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
        n = 4; c &= 0x07;
    } else {
        *p = s + 1;
        return 0xfffd;
    }

    if ((size_t) (last - s) < n) {
        *p = s + 1;
        return 0xfffd;
    }

    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *p = s + 1;
            return 0xfffd;
        }

        c = (c << 6) | (s[i] & 0x3f);
    }

    *p = s + n;

    return c;
}


/*
 * The normalized form of len bytes of text into dst (at least len bytes:
 * it never grows).  Returns its length.
 */

size_t
ngx_kefu_ac_normalize(u_char *dst, u_char *src, size_t len)
{
    u_char    *p, *last, *d, *q;
    uint32_t   c;

    p = src;
    last = src + len;
    d = dst;

    while (p < last) {
        q = p;
        c = ngx_kefu_ac_utf8(&p, last);

        if (c >= 0xff01 && c <= 0xff5e) {
            c -= 0xfee0;                          /* full-width to ASCII */

        } else if (c == 0x3000) {
            c = ' ';
        }

        if (c >= 'A' && c <= 'Z') {
            c |= 0x20;

        } else if (c >= 0xc0 && c <= 0xde && c != 0xd7) {
            c += 0x20;
        }

        if (c < 0x80) {
            *d++ = (u_char) c;

        } else if (c >= 0xc0 && c <= 0xff) {
            *d++ = (u_char) (0xc0 | (c >> 6));
            *d++ = (u_char) (0x80 | (c & 0x3f));

        } else {
            /* anything else as it was */
            d = ngx_cpymem(d, q, p - q);
        }
    }

    return d - dst;
}


static ngx_inline ngx_uint_t
ngx_kefu_ac_alnum(u_char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
           || (c >= 'A' && c <= 'Z');
}


static int ngx_libc_cdecl
ngx_kefu_ac_cmp(const void *a, const void *b)
{
    const ngx_kefu_ac_kw_t  *x = a, *y = b;
    size_t                   n;
    int                      rc;

    n = ngx_min(x->len, y->len);
    rc = ngx_memcmp(x->data, y->data, n);

    if (rc) {
        return rc;
    }

    if (x->len != y->len) {
        return x->len < y->len ? -1 : 1;
    }

    return x->id < y->id ? -1 : (x->id > y->id);
}


/*
 * Builds the automaton of n keywords (kw[i], already normalized, 1-255
 * bytes), keyword i reporting id ids[i].  NULL if out of memory.
 */

ngx_kefu_ac_t *
ngx_kefu_ac_build(ngx_pool_t *pool, ngx_str_t *kw, uint32_t *ids,
    ngx_uint_t n)
{
    size_t                i, total, nn;
    uint32_t              s, *queue, *term;
    ngx_kefu_ac_t        *ac;
    ngx_kefu_ac_kw_t     *k;
    ngx_kefu_ac_tnode_t  *tn;
    ngx_kefu_ac_node_t   *node;

    ac = ngx_pcalloc(pool, sizeof(ngx_kefu_ac_t));
    k = ngx_alloc(n * sizeof(ngx_kefu_ac_kw_t) + 1, ngx_cycle->log);

    if (ac == NULL || k == NULL) {
        goto failed;
    }

    total = 1;

    for (i = 0; i < n; i++) {
        k[i].data = kw[i].data;
        k[i].len = kw[i].len;
        k[i].id = ids[i];
        total += kw[i].len;
    }

    ngx_qsort(k, n, sizeof(ngx_kefu_ac_kw_t), ngx_kefu_ac_cmp);

    /* the trie: at most one node per byte of the keywords */
    tn = ngx_alloc(total * sizeof(ngx_kefu_ac_tnode_t), ngx_cycle->log);
    term = ngx_alloc(total * sizeof(uint32_t), ngx_cycle->log);
    queue = ngx_alloc(total * sizeof(uint32_t), ngx_cycle->log);
    node = ngx_pcalloc(pool, total * sizeof(ngx_kefu_ac_node_t));
    ac->ids = ngx_palloc(pool, (n + 1) * sizeof(uint32_t));
    ac->bound = ngx_pcalloc(pool, n + 1);

    if (tn == NULL || term == NULL || queue == NULL || node == NULL
        || ac->ids == NULL || ac->bound == NULL)
    {
        goto failed_tmp;
    }

    nn = ngx_kefu_ac_trie(k, n, tn, term, node);

    /* ids: contiguous per terminal node (equal keywords are adjacent) */
    for (i = 0; i < n; i++) {
        s = term[i];

        if (node[s].nids == 0) {
            node[s].id = i;
        }

        node[s].nids++;
        ac->ids[i] = k[i].id;
        ac->bound[i] = (ngx_kefu_ac_alnum(k[i].data[0]) ? 1 : 0)
                       | (ngx_kefu_ac_alnum(k[i].data[k[i].len - 1]) ? 2 : 0);
    }

    /* edges, contiguous per node and sorted */
    ac->edge = ngx_palloc(pool, total * sizeof(ngx_kefu_ac_edge_t));
    if (ac->edge == NULL) {
        goto failed_tmp;
    }

    ngx_kefu_ac_edges(ac, tn, node, nn);

    ngx_kefu_ac_links(ac, queue);

    ngx_free(tn);
    ngx_free(term);
    ngx_free(queue);
    ngx_free(k);

    return ac;

failed_tmp:

    ngx_free(tn);
    ngx_free(term);
    ngx_free(queue);

failed:

    if (k) {
        ngx_free(k);
    }

    return NULL;
}


/*
 * The trie of the sorted keywords into tn (node[].depth with it), each
 * keyword's terminal node into term; returns the number of nodes
 */

static size_t
ngx_kefu_ac_trie(ngx_kefu_ac_kw_t *k, ngx_uint_t n, ngx_kefu_ac_tnode_t *tn,
    uint32_t *term, ngx_kefu_ac_node_t *node)
{
    size_t    i, j, nn;
    uint32_t  s, t, c;

    ngx_memzero(&tn[0], sizeof(ngx_kefu_ac_tnode_t));
    nn = 1;

    /* sorted input: a node's children are added in increasing byte order */
    for (i = 0; i < n; i++) {
        s = 0;

        for (j = 0; j < k[i].len; j++) {
            c = k[i].data[j];

            /* the last child is the one to extend, if it is this byte */
            t = tn[s].last;

            if (t == 0 || tn[t].byte != c) {
                tn[nn].child = 0;
                tn[nn].last = 0;
                tn[nn].next = 0;
                tn[nn].byte = (u_char) c;
                node[nn].depth = (uint16_t) (j + 1);

                if (t) {
                    tn[t].next = nn;

                } else {
                    tn[s].child = nn;
                }

                tn[s].last = nn;
                t = nn++;
            }

            s = t;
        }

        term[i] = s;
    }

    return nn;
}


/* the trie's children as edges, contiguous per node and sorted; root[] */

static void
ngx_kefu_ac_edges(ngx_kefu_ac_t *ac, ngx_kefu_ac_tnode_t *tn,
    ngx_kefu_ac_node_t *node, size_t nn)
{
    size_t    j, ne;
    uint32_t  s, t, c;

    ne = 0;

    for (s = 0; s < nn; s++) {
        node[s].edge = ne;

        for (t = tn[s].child; t; t = tn[t].next) {
            ac->edge[ne].byte = tn[t].byte;
            ac->edge[ne].to = t;
            ne++;
            node[s].nedges++;
        }
    }

    ac->node = node;
    ac->nnodes = nn;

    for (c = 0; c < 256; c++) {
        ac->root[c] = 0;
    }

    for (j = 0; j < node[0].nedges; j++) {
        ac->root[ac->edge[j].byte] = ac->edge[j].to;
    }
}


/* failure and dictionary links, breadth first (queue: one per node) */

static void
ngx_kefu_ac_links(ngx_kefu_ac_t *ac, uint32_t *queue)
{
    size_t               j, head, tail;
    uint32_t             s, t, f, c;
    ngx_kefu_ac_node_t  *node;

    node = ac->node;

    head = 0;
    tail = 0;

    for (j = 0; j < node[0].nedges; j++) {
        t = ac->edge[j].to;
        node[t].fail = 0;
        node[t].dict = 0;
        queue[tail++] = t;
    }

    while (head < tail) {
        s = queue[head++];

        for (j = 0; j < node[s].nedges; j++) {
            t = ac->edge[node[s].edge + j].to;
            c = ac->edge[node[s].edge + j].byte;

            f = ngx_kefu_ac_go(ac, node[s].fail, (u_char) c);
            node[t].fail = (f == t) ? 0 : f;
            f = node[t].fail;
            node[t].dict = node[f].nids ? f : node[f].dict;

            queue[tail++] = t;
        }
    }
}


/* the goto function with failures followed: the next state */

static ngx_inline uint32_t
ngx_kefu_ac_go(ngx_kefu_ac_t *ac, uint32_t s, u_char c)
{
    ngx_uint_t           lo, hi, mid;
    ngx_kefu_ac_edge_t  *e;

    for ( ;; ) {
        if (s == 0) {
            return ac->root[c];
        }

        e = ac->edge + ac->node[s].edge;
        lo = 0;
        hi = ac->node[s].nedges;

        while (lo < hi) {
            mid = (lo + hi) / 2;

            if (e[mid].byte == c) {
                return e[mid].to;
            }

            if (e[mid].byte < c) {
                lo = mid + 1;

            } else {
                hi = mid;
            }
        }

        s = ac->node[s].fail;
    }
}


/*
 * Every keyword in the normalized text: found(data, id, start, len) for
 * each occurrence that keeps its word boundaries.  found returns non-zero
 * to stop.
 */

void
ngx_kefu_ac_scan(ngx_kefu_ac_t *ac, u_char *text, size_t len,
    ngx_kefu_ac_found_pt found, void *data)
{
    u_char     *p, *start, *end;
    uint32_t    s, d, i;
    ngx_uint_t  b;

    if (ac == NULL) {
        return;
    }

    s = 0;

    for (p = text; p < text + len; p++) {
        s = ngx_kefu_ac_go(ac, s, *p);

        for (d = ac->node[s].nids ? s : ac->node[s].dict; d;
             d = ac->node[d].dict)
        {
            end = p + 1;
            start = end - ac->node[d].depth;

            for (i = ac->node[d].id; i < ac->node[d].id + ac->node[d].nids;
                 i++)
            {
                b = ac->bound[i];

                if ((b & 1) && start > text && ngx_kefu_ac_alnum(start[-1])) {
                    continue;
                }

                if ((b & 2) && end < text + len && ngx_kefu_ac_alnum(*end)) {
                    continue;
                }

                if (found(data, ac->ids[i], start, end - start)) {
                    return;
                }
            }
        }
    }
}


ngx_uint_t
ngx_kefu_ac_nodes(ngx_kefu_ac_t *ac)
{
    return ac ? ac->nnodes : 0;
}
