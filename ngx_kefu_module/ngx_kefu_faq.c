
/*
 * The FAQ bot's decision (docs/automation.md "FAQ"): a message's terms
 * (the search's tokenizer: words, CJK pairs) against every entry's
 * question (each language) and alts, and its keywords found in the
 * normalized message.  An entry's score is the largest share of one of
 * its phrases' terms that the message has, plus 0.5 when one of its
 * keywords is in the message, at most 1.  Then:
 *
 *   answer   the best scores at least 0.7 and 0.2 above the second;
 *   choose   else the best scores at least 0.35: the 2-3 closest (scores
 *            at least 0.35) are offered as buttons;
 *   none     else: the bot says it did not understand (never a guess).
 */


#include "ngx_kefu_bot.h"
#include "ngx_kefu_search.h"


#define NGX_KEFU_FAQ_ANSWER    0.7
#define NGX_KEFU_FAQ_MARGIN    0.2
#define NGX_KEFU_FAQ_CHOOSE    0.35
#define NGX_KEFU_FAQ_KEYWORD   0.5
#define NGX_KEFU_FAQ_OFFER     3


typedef struct {
    double                      *score;       /* per entry */
    uint32_t                    *best;        /* per entry: its phrase */
    u_char                     **kw;          /* per entry: a keyword found */
    size_t                      *kwlen;
} ngx_kefu_faq_scan_t;


static void ngx_kefu_faq_cover(ngx_kefu_bot_conf_t *bc,
    ngx_kefu_search_terms_t *msg, double *cover);
static ngx_uint_t ngx_kefu_faq_top(ngx_kefu_bot_conf_t *bc,
    ngx_kefu_faq_scan_t *sc, double *top, uint32_t *idx);
static ngx_int_t ngx_kefu_faq_score(ngx_kefu_bot_conf_t *bc,
    ngx_kefu_faq_scan_t *sc, ngx_kefu_search_terms_t *msg, u_char *text,
    size_t len, ngx_pool_t *pool);
static const char *ngx_kefu_faq_decision(double *top, ngx_uint_t *np);
static json_t *ngx_kefu_faq_entry(ngx_kefu_bot_conf_t *bc,
    ngx_kefu_faq_scan_t *sc, uint32_t k, double score,
    ngx_kefu_search_terms_t *msg, ngx_kefu_search_terms_t *st,
    ngx_uint_t en);


static ngx_int_t
ngx_kefu_faq_found(void *data, uint32_t id, u_char *p, size_t len)
{
    ngx_kefu_faq_scan_t  *sc = data;

    if (sc->kw[id] == NULL) {
        sc->kw[id] = p;
        sc->kwlen[id] = len;
    }

    return 0;
}


/* the terms of one phrase the message has: an entry's "why" */

static json_t *
ngx_kefu_faq_why(ngx_kefu_bot_conf_t *bc, ngx_kefu_faq_scan_t *sc,
    uint32_t e, ngx_kefu_search_terms_t *msg, ngx_kefu_search_terms_t *st)
{
    json_t                 *why;
    ngx_uint_t              i, k;
    ngx_kefu_faq_phrase_t  *ph;

    why = json_array();
    if (why == NULL) {
        return NULL;
    }

    if (sc->best[e] != (uint32_t) -1) {
        ph = &bc->phrase[sc->best[e]];
        ngx_kefu_search_terms(st, ph->text.data, ph->text.len, 1);

        for (i = 0; i < st->n; i++) {
            for (k = 0; k < msg->n; k++) {
                if (st->term[i].len == msg->term[k].len
                    && ngx_memcmp(st->term[i].data, msg->term[k].data,
                                  st->term[i].len) == 0)
                {
                    json_array_append_new(why, json_stringn(
                                          (char *) st->term[i].data,
                                          st->term[i].len));
                    break;
                }
            }
        }
    }

    if (sc->kw[e]) {
        json_array_append_new(why, json_sprintf("keyword %.*s",
                                                (int) sc->kwlen[e],
                                                sc->kw[e]));
    }

    return why;
}


/*
 * {"decision": "answer"|"choose"|"none", "entries": [{"id", "question",
 * "score", "why"}]}: the entries answered or offered, best first.  NULL if
 * out of memory.
 */

json_t *
ngx_kefu_faq_decide(ngx_kefu_bot_conf_t *bc, u_char *text, size_t len,
    ngx_uint_t en, ngx_pool_t *pool)
{
    double                    top[NGX_KEFU_FAQ_OFFER];
    uint32_t                  idx[NGX_KEFU_FAQ_OFFER];
    json_t                   *out, *list, *o;
    ngx_uint_t                i, n;
    const char               *decision;
    ngx_kefu_faq_scan_t       sc;
    ngx_kefu_search_terms_t  *msg, *st;

    list = json_array();
    out = json_pack("{s:s,s:o}", "decision", "none", "entries", list);

    if (out == NULL || bc == NULL || bc->nfaq == 0 || len == 0) {
        return out;
    }

    sc.score = ngx_pcalloc(pool, bc->nfaq * sizeof(double));
    sc.best = ngx_palloc(pool, bc->nfaq * sizeof(uint32_t));
    sc.kw = ngx_pcalloc(pool, bc->nfaq * sizeof(u_char *));
    sc.kwlen = ngx_pcalloc(pool, bc->nfaq * sizeof(size_t));
    msg = ngx_palloc(pool, sizeof(ngx_kefu_search_terms_t));
    st = ngx_palloc(pool, sizeof(ngx_kefu_search_terms_t));

    if (sc.score == NULL || sc.best == NULL || sc.kw == NULL
        || sc.kwlen == NULL || msg == NULL || st == NULL)
    {
        goto failed;
    }

    for (i = 0; i < bc->nfaq; i++) {
        sc.best[i] = (uint32_t) -1;
    }

    ngx_kefu_search_terms(msg, text, len, 1);

    if (ngx_kefu_faq_score(bc, &sc, msg, text, len, pool) != NGX_OK) {
        goto failed;
    }

    /* the best few, best first (ties: the earlier entry) */
    n = ngx_kefu_faq_top(bc, &sc, top, idx);
    decision = ngx_kefu_faq_decision(top, &n);

    /* "none" still shows the closest, for "try it" */
    for (i = 0; i < n; i++) {
        o = ngx_kefu_faq_entry(bc, &sc, idx[i], top[i], msg, st, en);

        if (o == NULL || json_array_append_new(list, o) != 0) {
            goto failed;
        }
    }

    json_object_set_new(out, "decision", json_string(decision));

    return out;

failed:

    json_decref(out);
    return NULL;
}


/*
 * Each entry's score: its best phrase's share of terms the message's
 * terms cover, and the entry's keywords found in the normalized message.
 */

static ngx_int_t
ngx_kefu_faq_score(ngx_kefu_bot_conf_t *bc, ngx_kefu_faq_scan_t *sc,
    ngx_kefu_search_terms_t *msg, u_char *text, size_t len, ngx_pool_t *pool)
{
    u_char      *norm;
    size_t       nlen;
    double      *cover, s;
    ngx_uint_t   i;

    cover = ngx_pcalloc(pool, (bc->nphrases + 1) * sizeof(double));
    norm = ngx_pnalloc(pool, len);

    if (cover == NULL || norm == NULL) {
        return NGX_ERROR;
    }

    /* the message's terms against the sorted terms of every phrase */
    ngx_kefu_faq_cover(bc, msg, cover);

    for (i = 0; i < bc->nphrases; i++) {
        if (bc->phrase[i].weight == 0 || cover[i] == 0) {
            continue;
        }

        s = cover[i] / bc->phrase[i].weight;

        if (s > sc->score[bc->phrase[i].entry]) {
            sc->score[bc->phrase[i].entry] = s;
            sc->best[bc->phrase[i].entry] = i;
        }
    }

    if (bc->faq_ac) {
        nlen = ngx_kefu_ac_normalize(norm, text, len);
        ngx_kefu_ac_scan(bc->faq_ac, norm, nlen, ngx_kefu_faq_found, sc);
    }

    return NGX_OK;
}


/* answer one clear best, offer the few good enough to choose, or none */

static const char *
ngx_kefu_faq_decision(double *top, ngx_uint_t *np)
{
    ngx_uint_t  n;

    n = *np;

    if (n && top[0] >= NGX_KEFU_FAQ_ANSWER
        && (n == 1 || top[0] - top[1] >= NGX_KEFU_FAQ_MARGIN))
    {
        *np = 1;
        return "answer";
    }

    if (n && top[0] >= NGX_KEFU_FAQ_CHOOSE) {
        while (top[n - 1] < NGX_KEFU_FAQ_CHOOSE) {
            n--;
        }

        *np = n;
        return "choose";
    }

    return "none";
}


/* {"id", "question", "score", "why"} of an entry offered */

static json_t *
ngx_kefu_faq_entry(ngx_kefu_bot_conf_t *bc, ngx_kefu_faq_scan_t *sc,
    uint32_t k, double score, ngx_kefu_search_terms_t *msg,
    ngx_kefu_search_terms_t *st, ngx_uint_t en)
{
    json_t  *e, *why;

    e = json_array_get(bc->faq, k);
    why = ngx_kefu_faq_why(bc, sc, k, msg, st);

    return json_pack("{s:O,s:s,s:f,s:o}", "id", json_object_get(e, "id"),
                     "question",
                     ngx_kefu_bot_text(json_object_get(e, "question"), en),
                     "score", (double) ((ngx_int_t) (score * 100 + 0.5))
                              / 100,
                     "why", why ? why : json_array());
}


/* the message's terms against the sorted terms of every phrase */

static void
ngx_kefu_faq_cover(ngx_kefu_bot_conf_t *bc, ngx_kefu_search_terms_t *msg,
    double *cover)
{
    ngx_uint_t            k, lo, hi, mid, n, m;
    ngx_kefu_faq_term_t  *t;

    for (k = 0; k < msg->n; k++) {
        lo = 0;
        hi = bc->nterms;

        while (lo < hi) {
            mid = (lo + hi) / 2;
            t = &bc->term[mid];
            n = ngx_min(t->term.len, msg->term[k].len);
            m = ngx_memcmp(t->term.data, msg->term[k].data, n) < 0
                || (ngx_memcmp(t->term.data, msg->term[k].data, n) == 0
                    && t->term.len < msg->term[k].len);

            if (m) {
                lo = mid + 1;

            } else {
                hi = mid;
            }
        }

        for ( ; lo < bc->nterms; lo++) {
            t = &bc->term[lo];

            if (t->term.len != msg->term[k].len
                || ngx_memcmp(t->term.data, msg->term[k].data, t->term.len)
                   != 0)
            {
                break;
            }

            cover[t->phrase] += t->weight;
        }
    }
}


/* the entries' final scores; the best few into top and idx, best first */

static ngx_uint_t
ngx_kefu_faq_top(ngx_kefu_bot_conf_t *bc, ngx_kefu_faq_scan_t *sc,
    double *top, uint32_t *idx)
{
    double      s;
    ngx_uint_t  i, k, n;

    n = 0;

    for (i = 0; i < bc->nfaq; i++) {
        s = sc->score[i] + (sc->kw[i] ? NGX_KEFU_FAQ_KEYWORD : 0);
        s = s > 1 ? 1 : s;
        sc->score[i] = s;

        if (s <= 0) {
            continue;
        }

        for (k = n; k > 0 && top[k - 1] < s; k--) {
            if (k < NGX_KEFU_FAQ_OFFER) {
                top[k] = top[k - 1];
                idx[k] = idx[k - 1];
            }
        }

        if (k < NGX_KEFU_FAQ_OFFER) {
            top[k] = s;
            idx[k] = i;
            n += (n < NGX_KEFU_FAQ_OFFER);
        }
    }

    return n;
}
