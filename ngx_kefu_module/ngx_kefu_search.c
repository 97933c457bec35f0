
/*
 * Search: the terms of a text, and the index they go into.  The messages
 * whose replies one pass of the event loop handled are indexed together
 * once the msg script answered that each is stored: their entries wait in
 * the worker's per-pass queue (ngx_kefu_batch.c), which sends one
 * lua/search_batch.lua call per site (its keys share the site's hash tag)
 * when the pass's other events are done,
 * each term's postings of the call in one ZADD.  A worker that dies
 * before that leaves those messages out of the index: they are stored
 * and delivered, only not found by search.  Visitors are indexed by id,
 * name and contact details when they say hello or leave contact details,
 * by their own call (lua/search_index.lua).
 *
 * Keys (docs/storage.md), all under {s:<site>}:
 *   kefu:{s:<site>}:ix:w:<term>          zset "<conv>:<seq>" -> ts
 *   kefu:{s:<site>}:ix:m:<conv>:<seq>    string, the hit as JSON
 *   kefu:{s:<site>}:ix:v:<term>          zset visitor id -> ts
 * each bounded by kefu_search_retention (expiry, and postings older than
 * it pruned) and NGX_KEFU_SEARCH_POSTINGS per term.  A term's key is
 * pruned and expired by a call when it is due (ngx_kefu_search_due()),
 * else only added to.
 */


#include "ngx_kefu_search.h"
#include "ngx_kefu_batch.h"
#include "ngx_kefu_msg_event.h"


/* an entry alone always fits a call */
#if (NGX_KEFU_SEARCH_BATCH_HEAD                                              \
     + ngx_kefu_search_batch_argc(NGX_KEFU_SEARCH_TERMS_MAX)               \
     > NGX_KEFU_SEARCH_BATCH_ARGC)
#error "NGX_KEFU_SEARCH_TERMS_MAX: too many arguments for one call"
#endif


static ngx_uint_t ngx_kefu_search_cjk(uint32_t c);
static ngx_uint_t ngx_kefu_search_word(uint32_t *c);
static void ngx_kefu_search_add(ngx_kefu_search_terms_t *t, u_char *p,
    size_t len);
static ngx_int_t ngx_kefu_search_eval(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_kefu_search_terms_t *t, ngx_str_t *member,
    int64_t ts);
static ngx_msec_t ngx_kefu_search_keep(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_uint_t visitors);
static void ngx_kefu_search_indexed(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static ngx_int_t ngx_kefu_search_index_scanned(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, uint64_t seq, int64_t ts,
    ngx_kefu_search_msg_t *m);
static void ngx_kefu_search_index_parsed(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, uint64_t seq, int64_t ts,
    u_char *tail, size_t tail_len);
static ngx_kefu_search_terms_t *ngx_kefu_search_msg_terms(json_t *j);
static char *ngx_kefu_search_msg_doc(json_t *j, ngx_str_t *conv,
    uint64_t seq, int64_t ts);
static void ngx_kefu_search_batch_add(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, uint64_t seq, int64_t ts,
    ngx_kefu_search_terms_t *t, u_char *doc, size_t doc_len);
static void ngx_kefu_search_batch_send(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_kefu_search_put_t *e, ngx_uint_t n);
static void ngx_kefu_search_batched(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_search_due(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_search_batch_call_t *c);


/* a stored message's index entry, waiting for the end of the pass */
typedef struct ngx_kefu_search_item_s  ngx_kefu_search_item_t;

struct ngx_kefu_search_item_s {
    ngx_kefu_batch_item_t        batch;      /* next, its arguments' bytes */
    ngx_kefu_site_t             *site;
    ngx_kefu_search_put_t        e;          /* terms and strings after it */
};

/*
 * A term key is pruned (postings past the cap, or older than the keep
 * time) and expired by the first call of a worker that adds to it, then
 * only added to by its calls until NGX_KEFU_SEARCH_DUE_ADDS postings or
 * NGX_KEFU_SEARCH_DUE_MS later (issue 18: three commands a term a call
 * were most of the index's cost).  So a term holds at most the cap plus
 * NGX_KEFU_SEARCH_DUE_ADDS per worker that writes the site, and its key
 * is expired the keep time plus NGX_KEFU_SEARCH_DUE_MS ahead, so that
 * the postings added meanwhile are kept their keep time.  What each
 * worker last did to a term: a slot of its key's CRC32; a term that
 * shares a slot with another is due when the other was.
 */
#define NGX_KEFU_SEARCH_DUE_SLOTS  2048
#define NGX_KEFU_SEARCH_DUE_ADDS   64
#define NGX_KEFU_SEARCH_DUE_MS     10000

typedef struct {
    uint32_t                     crc;        /* its key's, 0: none */
    uint32_t                     adds;       /* postings since pruned */
    ngx_msec_t                   at;         /* when pruned */
} ngx_kefu_search_due_t;

/* per worker (kmcf->search_batch): the pass's entries, sent when posted */
typedef struct {
    ngx_kefu_batch_t             batch;
    ngx_uint_t                   argc;       /* of the call being cut */
    ngx_kefu_search_due_t        due[NGX_KEFU_SEARCH_DUE_SLOTS];
} ngx_kefu_search_batch_t;


/* decode one UTF-8 character; *n its length (1 for a byte that is not one) */

static uint32_t
ngx_kefu_search_utf8(u_char *p, u_char *last, size_t *n)
{
    uint32_t    c;
    size_t      len, i;

    c = *p;

    if (c < 0x80) {
        *n = 1;
        return c;
    }

    if (c >= 0xf0 && c < 0xf8) {
        len = 4;
        c &= 0x07;

    } else if (c >= 0xe0) {
        len = 3;
        c &= 0x0f;

    } else if (c >= 0xc0) {
        len = 2;
        c &= 0x1f;

    } else {
        *n = 1;
        return 0xfffd;
    }

    if ((size_t) (last - p) < len) {
        *n = 1;
        return 0xfffd;
    }

    for (i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80) {
            *n = 1;
            return 0xfffd;
        }

        c = (c << 6) | (p[i] & 0x3f);
    }

    *n = len;

    return c;
}


/* Han, kana, Hangul: no spaces between words, indexed by characters */

/* one character as UTF-8 (at most 4 bytes) */

u_char *
ngx_kefu_search_utf8_put(u_char *p, uint32_t c)
{
    if (c < 0x80) {
        *p++ = (u_char) c;

    } else if (c < 0x800) {
        *p++ = (u_char) (0xc0 | (c >> 6));
        *p++ = (u_char) (0x80 | (c & 0x3f));

    } else if (c < 0x10000) {
        *p++ = (u_char) (0xe0 | (c >> 12));
        *p++ = (u_char) (0x80 | ((c >> 6) & 0x3f));
        *p++ = (u_char) (0x80 | (c & 0x3f));

    } else {
        *p++ = (u_char) (0xf0 | (c >> 18));
        *p++ = (u_char) (0x80 | ((c >> 12) & 0x3f));
        *p++ = (u_char) (0x80 | ((c >> 6) & 0x3f));
        *p++ = (u_char) (0x80 | (c & 0x3f));
    }

    return p;
}


static ngx_uint_t
ngx_kefu_search_cjk(uint32_t c)
{
    return (c >= 0x3040 && c <= 0x30ff)
           || (c >= 0x3400 && c <= 0x4dbf)
           || (c >= 0x4e00 && c <= 0x9fff)
           || (c >= 0xac00 && c <= 0xd7af)
           || (c >= 0xf900 && c <= 0xfaff)
           || (c >= 0x20000 && c <= 0x2fa1f);
}


/*
 * A character of a word: ASCII letters, digits and "_" (full-width ones made
 * ASCII), and letters of other scripts; upper case ASCII and Latin-1 made
 * lower case.  Punctuation and symbols (ASCII, general and CJK
 * punctuation, full-width forms) separate words.
 */

static ngx_uint_t
ngx_kefu_search_word(uint32_t *c)
{
    uint32_t  ch = *c;

    if (ch >= 0xff10 && ch <= 0xff5a) {
        ch -= 0xfee0;                      /* full-width to ASCII */
    }

    if (ch < 0x80) {
        if (ch >= 'A' && ch <= 'Z') {
            ch |= 0x20;
        }

        *c = ch;

        return (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9')
               || ch == '_';
    }

    if (ch < 0xc0 || ch == 0xd7 || ch == 0xf7 || ch == 0xfffd
        || (ch >= 0x2000 && ch <= 0x2bff)
        || (ch >= 0x3000 && ch <= 0x303f)
        || (ch >= 0xfe30 && ch <= 0xfe4f)
        || (ch >= 0xff00 && ch <= 0xffef)
        || (ch >= 0x1f000 && ch <= 0x1faff))
    {
        return 0;
    }

    if (ch >= 0xc0 && ch <= 0xde) {
        ch += 0x20;
    }

    *c = ch;

    return 1;
}


/*
 * The terms of a text, each once: lower-cased words (at most 64 bytes,
 * longer ones cut), and for CJK each character and each pair of adjacent
 * characters.  A query (query = 1) looks for pairs only, or the single
 * character when its run has one: "退款" is the term "退款", "王" "王".
 */

void
ngx_kefu_search_terms(ngx_kefu_search_terms_t *t, u_char *p, size_t len,
    ngx_uint_t query)
{
    u_char    *last, *prev, *q, *w;
    u_char     word[NGX_KEFU_SEARCH_TERM_MAX + 4];
    size_t     n, m, run;
    uint32_t   c;

    t->n = 0;
    t->last = t->buf;
    t->end = t->buf + sizeof(t->buf);

    last = p + len;
    w = word;
    prev = NULL;
    run = 0;

    while (p < last) {
        c = ngx_kefu_search_utf8(p, last, &n);

        if (ngx_kefu_search_cjk(c)) {
            if (w > word) {
                ngx_kefu_search_add(t, word, w - word);
                w = word;
            }

            /* the run's length decides a query's single character */
            if (prev == NULL) {
                run = 0;

                for (q = p; q < last; q += m) {
                    if (!ngx_kefu_search_cjk(ngx_kefu_search_utf8(q, last,
                                                                  &m)))
                    {
                        break;
                    }

                    run++;
                }
            }

            if (!query || run == 1) {
                ngx_kefu_search_add(t, p, n);
            }

            if (prev) {
                ngx_kefu_search_add(t, prev, p + n - prev);
            }

            prev = p;
            p += n;
            continue;
        }

        prev = NULL;

        if (ngx_kefu_search_word(&c)) {
            /* a long word is cut, the same way in texts and queries */
            if ((size_t) (w - word) + 4 <= NGX_KEFU_SEARCH_TERM_MAX) {
                w = ngx_kefu_search_utf8_put(w, c);
            }

        } else if (w > word) {
            ngx_kefu_search_add(t, word, w - word);
            w = word;
        }

        p += n;
    }

    if (w > word) {
        ngx_kefu_search_add(t, word, w - word);
    }
}


static void
ngx_kefu_search_add(ngx_kefu_search_terms_t *t, u_char *p, size_t len)
{
    ngx_uint_t  i;

    if (t->n == NGX_KEFU_SEARCH_TERMS_MAX
        || (size_t) (t->end - t->last) < len)
    {
        return;
    }

    for (i = 0; i < t->n; i++) {
        if (t->term[i].len == len && ngx_memcmp(t->term[i].data, p, len) == 0)
        {
            return;
        }
    }

    t->term[t->n].data = t->last;
    t->term[t->n].len = len;
    t->last = ngx_cpymem(t->last, p, len);
    t->n++;
}


/*
 * A stored message: tail is the entry's JSON from its ts on, as the msg
 * script was given it (",\"ts\":...}").  Its text (with an attachment's
 * name) is indexed with the pass's other messages; the hit keeps who
 * wrote it and the start of the text.  The tail's fields are found where
 * they are (ngx_kefu_search_doc.c); what that declines is parsed.
 */

void
ngx_kefu_search_index_msg(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, uint64_t seq, int64_t ts, u_char *tail, size_t tail_len)
{
    ngx_kefu_search_msg_t  m;

    /* kefu_site search=off: the site's messages are not indexed */
    if (!site->search || conv->len > NGX_KEFU_MAX_ID_LEN) {
        return;
    }

    if (ngx_kefu_search_msg_scan(tail, tail_len, &m) == NGX_OK
        && ngx_kefu_search_index_scanned(kmcf, site, conv, seq, ts, &m)
           != NGX_DECLINED)
    {
        return;
    }

    ngx_kefu_search_index_parsed(kmcf, site, conv, seq, ts, tail, tail_len);
}


/*
 * The entry from the scanned fields: the text (else the attachment's
 * name) unescaped once for its terms, the document written by hand.
 * NGX_DECLINED: a string the scanner does not take.
 */

static ngx_int_t
ngx_kefu_search_index_scanned(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, uint64_t seq, int64_t ts,
    ngx_kefu_search_msg_t *m)
{
    u_char                   *buf, *doc;
    size_t                    need, len, cut, doc_len;
    ssize_t                   n;
    ngx_int_t                 rc;
    ngx_kefu_search_terms_t  *t;
    u_char                    stack[1024];

    if (m->text.len == 0 || m->text.data[0] != '"') {
        m->text.len = 0;
    }

    if (m->att_name.len && m->att_name.data[0] != '"') {
        m->att_name.len = 0;
    }

    /* an unescaped string is no longer than its JSON */
    need = ngx_max(m->text.len, m->att_name.len);
    buf = need <= sizeof(stack) ? stack : ngx_alloc(need, ngx_cycle->log);
    t = ngx_alloc(sizeof(ngx_kefu_search_terms_t), ngx_cycle->log);
    doc = NULL;
    rc = NGX_ERROR;

    if (buf == NULL || t == NULL) {
        goto done;
    }

    n = m->text.len ? ngx_kefu_search_json_unescape(buf, &m->text) : 0;
    if (n < 0) {
        rc = NGX_DECLINED;
        goto done;
    }

    len = n;
    t->n = 0;

    if (len) {
        ngx_kefu_search_terms(t, buf, len, 0);

    } else if (m->att_name.len) {
        /* the text is empty: buf is the name's for the terms only */
        n = ngx_kefu_search_json_unescape(buf, &m->att_name);
        if (n < 0) {
            rc = NGX_DECLINED;
            goto done;
        }

        ngx_kefu_search_terms(t, buf, n, 0);
    }

    if (t->n == 0) {
        rc = NGX_OK;
        goto done;
    }

    cut = ngx_min(len, NGX_KEFU_SEARCH_SNIPPET);

    while (cut < len && cut && (buf[cut] & 0xc0) == 0x80) {
        cut--;
    }

    doc = ngx_kefu_search_msg_doc_write(m, conv, seq, ts, buf, len, cut,
                                        &doc_len);
    if (doc) {
        ngx_kefu_search_batch_add(kmcf, site, conv, seq, ts, t, doc,
                                  doc_len);
        rc = NGX_OK;
    }

done:

    if (rc == NGX_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: conversation \"%V\" seq %uL: no memory for its "
                      "search index entry: it is not found by search",
                      conv, seq);
        rc = NGX_OK;
    }

    if (buf && buf != stack) {
        ngx_free(buf);
    }

    if (t) {
        ngx_free(t);
    }

    if (doc) {
        ngx_free(doc);
    }

    return rc;
}


/* the entry from the tail parsed by jansson */

static void
ngx_kefu_search_index_parsed(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, uint64_t seq, int64_t ts,
    u_char *tail, size_t tail_len)
{
    char                     *s;
    json_t                   *j;
    ngx_kefu_search_terms_t  *t;

    j = ngx_kefu_msg_tail_load(tail, tail_len);
    if (j == NULL) {
        return;
    }

    t = ngx_kefu_search_msg_terms(j);
    if (t == NULL) {
        json_decref(j);
        return;
    }

    s = ngx_kefu_search_msg_doc(j, conv, seq, ts);
    json_decref(j);

    if (s == NULL) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: conversation \"%V\" seq %uL: no memory for its "
                      "search index entry: it is not found by search",
                      conv, seq);

    } else {
        ngx_kefu_search_batch_add(kmcf, site, conv, seq, ts, t, (u_char *) s,
                                  ngx_strlen(s));
        free(s);
    }

    ngx_free(t);
}


/*
 * The pass is over: one call per site for its entries, in order, each
 * call within NGX_KEFU_SEARCH_BATCH_MAX entries, NGX_KEFU_SEARCH_BATCH_BYTES
 * of arguments and NGX_KEFU_SEARCH_BATCH_ARGC arguments (an entry alone
 * always fits: at most NGX_KEFU_SEARCH_TERMS_MAX terms), then another; an
 * entry too large for this call waits for the next, a smaller one after
 * it may still join.
 */

static ngx_int_t
ngx_kefu_search_batch_fit(ngx_kefu_batch_t *b, ngx_kefu_batch_item_t *first,
    ngx_kefu_batch_item_t *it, ngx_uint_t n, size_t bytes)
{
    ngx_uint_t                argc;
    ngx_kefu_search_item_t   *f, *e;
    ngx_kefu_search_batch_t  *sb;

    sb = (ngx_kefu_search_batch_t *) b;
    f = (ngx_kefu_search_item_t *) first;
    e = (ngx_kefu_search_item_t *) it;

    if (n == 1) {
        sb->argc = NGX_KEFU_SEARCH_BATCH_HEAD
                   + ngx_kefu_search_batch_argc(f->e.nterms);
    }

    argc = ngx_kefu_search_batch_argc(e->e.nterms);

    if (e->site != f->site
        || n == NGX_KEFU_SEARCH_BATCH_MAX
        || bytes + it->bytes > NGX_KEFU_SEARCH_BATCH_BYTES
        || sb->argc + argc > NGX_KEFU_SEARCH_BATCH_ARGC)
    {
        return NGX_DECLINED;
    }

    sb->argc += argc;

    return NGX_OK;
}


static void
ngx_kefu_search_batch_call(ngx_kefu_batch_t *b, ngx_kefu_batch_item_t *items,
    ngx_uint_t n)
{
    ngx_uint_t               i;
    ngx_kefu_batch_item_t   *it;
    ngx_kefu_search_put_t    e[NGX_KEFU_SEARCH_BATCH_MAX];

    for (i = 0, it = items; it; it = it->next) {
        e[i++] = ((ngx_kefu_search_item_t *) it)->e;
    }

    ngx_kefu_search_batch_send(b->kmcf,
                               ((ngx_kefu_search_item_t *) items)->site, e, n);

    ngx_kefu_batch_free(items);
}


void
ngx_kefu_search_exit(ngx_kefu_main_conf_t *kmcf)
{
    ngx_kefu_batch_exit(&kmcf->search_batch, NULL, NGX_LOG_WARN,
                        "messages' search index entries not written at "
                        "exit: they are not found by search");
}


/*
 * The entry joins the pass's others: a copy of what the call needs (the
 * terms, the conversation, the document), the rest freed now.
 */

static void
ngx_kefu_search_batch_add(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, uint64_t seq, int64_t ts, ngx_kefu_search_terms_t *t,
    u_char *doc, size_t doc_len)
{
    u_char                  *p;
    size_t                   len;
    ngx_uint_t               i;
    ngx_kefu_batch_t        *b;
    ngx_kefu_search_item_t  *it;

    b = ngx_kefu_batch_get(kmcf, &kmcf->search_batch,
                           sizeof(ngx_kefu_search_batch_t),
                           ngx_kefu_search_batch_fit,
                           ngx_kefu_search_batch_call);
    if (b == NULL) {
        goto failed;
    }

    len = sizeof(ngx_kefu_search_item_t) + t->n * sizeof(ngx_str_t)
          + conv->len + doc_len + (t->last - t->buf);

    it = ngx_alloc(len, ngx_cycle->log);
    if (it == NULL) {
        goto failed;
    }

    it->site = site;
    it->e.seq = seq;
    it->e.ts = ts;
    it->e.nterms = t->n;
    it->e.terms = (ngx_str_t *) (it + 1);

    /* what it adds to a call: its document's key and member, ts, the
     * document, and each term's key and position */
    it->batch.bytes = 2 * (sizeof("kefu:{s:}:ix:m::") + site->name.len
                           + conv->len + NGX_INT64_LEN)
                      + doc_len;

    p = (u_char *) (it->e.terms + t->n);
    it->e.conv.data = p;
    it->e.conv.len = conv->len;
    p = ngx_cpymem(p, conv->data, conv->len);
    it->e.doc.data = p;
    it->e.doc.len = doc_len;
    p = ngx_cpymem(p, doc, doc_len);

    for (i = 0; i < t->n; i++) {
        it->e.terms[i].data = p;
        it->e.terms[i].len = t->term[i].len;
        p = ngx_cpymem(p, t->term[i].data, t->term[i].len);
        it->batch.bytes += sizeof("kefu:{s:}:ix:w:") + site->name.len
                           + t->term[i].len + NGX_INT64_LEN;
    }

    ngx_kefu_batch_add(b, &it->batch);

    return;

failed:

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "kefu: conversation \"%V\" seq %uL: no memory for its "
                  "search index entry: it is not found by search",
                  conv, seq);
}


static void
ngx_kefu_search_batch_send(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_kefu_search_put_t *e, ngx_uint_t n)
{
    int64_t                        cut;
    ngx_int_t                      rc;
    ngx_uint_t                     i;
    ngx_msec_t                     keep;
    ngx_kefu_search_batch_call_t   call;

    /* postings older than the keep time go: older than the call's oldest
     * entry's, so that none of the call's own goes */
    keep = ngx_kefu_search_keep(kmcf, site, 0);
    cut = e[0].ts;

    for (i = 1; i < n; i++) {
        cut = ngx_min(cut, e[i].ts);
    }

    cut -= (int64_t) keep;

    rc = ngx_kefu_search_batch_args(&call, &site->name, e, n,
                                     (time_t) (keep / 1000),
                                     NGX_KEFU_SEARCH_POSTINGS, cut,
                                     (time_t) ((keep + NGX_KEFU_SEARCH_DUE_MS)
                                               / 1000));
    if (rc != NGX_OK) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: site \"%V\": no memory for a search index "
                      "write: %ui messages are not found by search",
                      &site->name, n);
        return;
    }

    ngx_kefu_search_due(kmcf, &call);

    /*
     * The index is best effort: a failure is logged, the messages stand.
     * It follows the messages' own calls, and takes no client's place
     * under kefu_redis_max_inflight.
     */
    rc = ngx_kefu_redis_eval_follow(kmcf->redis,
                                    &ngx_kefu_script_search_batch,
                                    ngx_kefu_search_batched,
                                    (void *) (uintptr_t) call.n,
                                    call.nkeys, call.argc, call.argv,
                                    call.lens);

    ngx_free(call.argv);

    if (rc != NGX_OK) {
        ngx_kefu_search_batched(kmcf->redis, NULL,
                                (void *) (uintptr_t) call.n);
    }
}


/*
 * which of the call's terms it prunes and expires (NGX_KEFU_SEARCH_DUE_*):
 * '0' none, '1' due, '2' due and new to the worker's slots
 */

static void
ngx_kefu_search_due(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_search_batch_call_t *c)
{
    uint32_t                  crc;
    ngx_uint_t                i, k;
    ngx_kefu_search_due_t    *d;
    ngx_kefu_search_batch_t  *b;

    b = kmcf->search_batch;

    for (i = 0; i < c->nterms; i++) {
        k = c->n + i;
        crc = ngx_crc32_short((u_char *) c->argv[k], c->lens[k]) | 1;
        d = &b->due[crc % NGX_KEFU_SEARCH_DUE_SLOTS];

        if (d->crc == crc
            && d->adds + c->adds[i] <= NGX_KEFU_SEARCH_DUE_ADDS
            && ngx_current_msec - d->at < NGX_KEFU_SEARCH_DUE_MS)
        {
            d->adds += c->adds[i];
            c->due[i] = '0';
            continue;
        }

        /* not seen by this worker (as far as its slot tells): mostly a
         * new key, which search_batch.lua expires after the ZADD */
        if (d->crc != crc) {
            c->due[i] = '2';
        }

        d->crc = crc;
        d->adds = 0;
        d->at = ngx_current_msec;
    }
}


static void
ngx_kefu_search_batched(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_uint_t                n = (ngx_uint_t) (uintptr_t) data;
    ngx_kefu_main_conf_t     *kmcf;
    ngx_kefu_search_batch_t  *b;

    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        /* what it pruned may not be: every term due in the next calls */
        kmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                                   ngx_kefu_module);
        b = kmcf->search_batch;

        if (b) {
            ngx_memzero(b->due, sizeof(b->due));
        }

        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: a search index write of %ui messages failed%s%*s:"
                      " they are not found by search", n,
                      reply ? ": " : "", reply ? (size_t) reply->len : 0,
                      reply ? reply->str : "");
    }
}


/* the terms of the message's text, else of what its file is called; NULL
 * when there are none (ngx_free() what it returns) */

static ngx_kefu_search_terms_t *
ngx_kefu_search_msg_terms(json_t *j)
{
    char                     *s;
    json_t                   *text, *att;
    ngx_kefu_search_terms_t  *t;

    text = json_object_get(j, "text");
    att = json_object_get(j, "attachment");

    t = ngx_alloc(sizeof(ngx_kefu_search_terms_t), ngx_cycle->log);
    if (t == NULL) {
        return NULL;
    }

    if (json_is_string(text) && json_string_length(text)) {
        ngx_kefu_search_terms(t, (u_char *) json_string_value(text),
                              json_string_length(text), 0);

    } else if (json_is_string(json_object_get(att, "name"))) {
        s = (char *) json_string_value(json_object_get(att, "name"));
        ngx_kefu_search_terms(t, (u_char *) s, ngx_strlen(s), 0);

    } else {
        t->n = 0;
    }

    if (t->n == 0) {
        ngx_free(t);
        return NULL;
    }

    return t;
}


/*
 * The hit's document, as JSON text (free() it): who wrote it and the
 * start of the text, cut at a character's boundary; NULL on failure.
 */

static char *
ngx_kefu_search_msg_doc(json_t *j, ngx_str_t *conv, uint64_t seq,
    int64_t ts)
{
    char    *s;
    size_t   len, cut;
    json_t  *text, *att, *doc;

    text = json_object_get(j, "text");
    att = json_object_get(j, "attachment");

    s = json_is_string(text) ? (char *) json_string_value(text) : "";
    len = ngx_strlen(s);
    cut = len;

    if (cut > NGX_KEFU_SEARCH_SNIPPET) {
        cut = NGX_KEFU_SEARCH_SNIPPET;

        while (cut && ((u_char) s[cut] & 0xc0) == 0x80) {
            cut--;
        }
    }

    doc = json_pack("{s:s%,s:I,s:I,s:O,s:s%}",
                    "conv", conv->data, conv->len,
                    "seq", (json_int_t) seq,
                    "ts", (json_int_t) ts,
                    "from", json_object_get(j, "from")
                            ? json_object_get(j, "from") : json_null(),
                    "text", s, cut);

    if (doc == NULL) {
        return NULL;
    }

    if (cut < len) {
        json_object_set_new(doc, "cut", json_true());
    }

    if (json_is_true(json_object_get(j, "private"))) {
        json_object_set_new(doc, "private", json_true());
    }

    if (json_is_object(att)) {
        json_object_set(doc, "attachment",
                        json_object_get(att, "name")
                        ? json_object_get(att, "name") : json_null());
    }

    s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);

    return s;
}


/*
 * The terms a visitor is found by: its id, its name and its contact
 * details, as one space-separated text.  Erasure computes them again from
 * what is stored, to take the visitor out of them.  From the pool, or
 * ngx_alloc()ed when pool is NULL.
 */

ngx_kefu_search_terms_t *
ngx_kefu_search_visitor_terms(ngx_pool_t *pool, ngx_str_t *id,
    ngx_str_t *name, json_t *contact)
{
    u_char                   *p;
    size_t                    len;
    json_t                   *v;
    ngx_uint_t                i;
    const char               *f[] = { "name", "email", "phone", NULL };
    ngx_kefu_search_terms_t  *t;

    len = id->len + 1 + (name ? name->len : 0) + 1;

    for (i = 0; json_is_object(contact) && f[i]; i++) {
        v = json_object_get(contact, f[i]);
        len += json_is_string(v) ? json_string_length(v) + 1 : 0;
    }

    len += sizeof(ngx_kefu_search_terms_t);
    t = pool ? ngx_palloc(pool, len) : ngx_alloc(len, ngx_cycle->log);

    if (t == NULL) {
        return NULL;
    }

    p = (u_char *) (t + 1);
    p = ngx_cpymem(p, id->data, id->len);
    *p++ = ' ';

    if (name) {
        p = ngx_cpymem(p, name->data, name->len);
        *p++ = ' ';
    }

    for (i = 0; json_is_object(contact) && f[i]; i++) {
        v = json_object_get(contact, f[i]);

        if (json_is_string(v)) {
            p = ngx_cpymem(p, json_string_value(v), json_string_length(v));
            *p++ = ' ';
        }
    }

    ngx_kefu_search_terms(t, (u_char *) (t + 1), p - (u_char *) (t + 1), 0);

    return t;
}


/* a visitor: found by its id, its name and its contact details */

void
ngx_kefu_search_index_visitor(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *id, ngx_str_t *name, json_t *contact)
{
    ngx_kefu_search_terms_t  *t;

    if (!site->search) {
        return;
    }

    t = ngx_kefu_search_visitor_terms(NULL, id, name, contact);
    if (t == NULL) {
        return;
    }

    if (t->n) {
        (void) ngx_kefu_search_eval(kmcf, site, t, id, ngx_kefu_now_ms());
    }

    ngx_free(t);
}


/* a visitor's terms, by lua/search_index.lua */

static ngx_int_t
ngx_kefu_search_eval(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_kefu_search_terms_t *t, ngx_str_t *member, int64_t ts)
{
    ngx_int_t               rc;
    ngx_msec_t              keep;
    ngx_kefu_terms_call_t   call;

    keep = ngx_kefu_search_keep(kmcf, site, 1);

    if (ngx_kefu_search_index_args(&call, &site->name, t->term, t->n, member,
                                   ts, (time_t) (keep / 1000),
                                   NGX_KEFU_SEARCH_POSTINGS,
                                   ts - (int64_t) keep)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    /*
     * The index is best effort: a failure is logged, the visitor stands.
     * It follows the visitor's own call, and takes no client's place
     * under kefu_redis_max_inflight.
     */
    rc = ngx_kefu_redis_eval_follow(kmcf->redis,
                                    &ngx_kefu_script_search_index,
                                    ngx_kefu_search_indexed, NULL,
                                    call.nkeys, call.argc, call.argv,
                                    call.lens);

    ngx_free(call.argv);

    if (rc != NGX_OK) {
        ngx_kefu_search_indexed(kmcf->redis, NULL, NULL);
    }

    return rc;
}


/*
 * How long the index keeps an entry: no longer than the site keeps what
 * it points to: its conversations (retention=), and for visitors' terms
 * an idle visitor's record (anonymous_retention=), whichever is shorter.
 */

static ngx_msec_t
ngx_kefu_search_keep(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_uint_t visitors)
{
    ngx_msec_t  keep;

    keep = ngx_min(kmcf->search_retention, site->retention);

    if (visitors) {
        keep = ngx_min(keep, site->anonymous_retention);
    }

    return ngx_max(keep, 1000);
}


static void
ngx_kefu_search_indexed(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: a search index write failed%s%*s: that entry "
                      "is not found by search",
                      reply ? ": " : "", reply ? (size_t) reply->len : 0,
                      reply ? reply->str : "");
    }
}
