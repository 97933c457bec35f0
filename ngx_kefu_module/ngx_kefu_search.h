
/*
 * Search (docs/search.md): an index of words in Redis, under each site's
 * hash tag, written after messages are stored (one script call per site
 * for the messages of an event-loop pass), and read by GET
 * <api>/sites/<site>/search.  CJK text is indexed by single characters
 * and character bigrams, other text by lower-cased words.
 *
 *   ngx_kefu_search.c         terms, indexing messages and visitors
 *   ngx_kefu_search_doc.c     a stored message's fields and hit document
 *                             from its log entry's JSON, without jansson
 *   ngx_kefu_search_api.c     the search endpoint
 */


#ifndef _NGX_KEFU_SEARCH_H_INCLUDED_
#define _NGX_KEFU_SEARCH_H_INCLUDED_


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"


#define NGX_KEFU_SEARCH_TERM_MAX      64      /* bytes of one term */
#define NGX_KEFU_SEARCH_TERMS_MAX     200     /* distinct terms a message */
#define NGX_KEFU_SEARCH_QTERMS_MAX    16      /* terms of a query */
#define NGX_KEFU_SEARCH_QUERY_MAX     200     /* bytes of a query */
#define NGX_KEFU_SEARCH_POSTINGS      10000   /* latest messages per term */
#define NGX_KEFU_SEARCH_SNIPPET       300     /* bytes of text kept */
#define NGX_KEFU_SEARCH_HITS          20
#define NGX_KEFU_SEARCH_HITS_MAX      50
#define NGX_KEFU_SEARCH_VISITORS_MAX  20

/* the index entries of stored messages a call at most, and their
 * arguments' bytes (ngx_kefu_search.c: one call per site and pass) */
#define NGX_KEFU_SEARCH_BATCH_MAX     64
#define NGX_KEFU_SEARCH_BATCH_BYTES   (256 * 1024)


typedef struct {
    ngx_uint_t                   n;
    ngx_str_t                    term[NGX_KEFU_SEARCH_TERMS_MAX];
    u_char                      *last;       /* free space in buf */
    u_char                      *end;
    u_char                       buf[NGX_KEFU_SEARCH_TERMS_MAX
                                     * (NGX_KEFU_SEARCH_TERM_MAX + 8)];
} ngx_kefu_search_terms_t;


/* a stored message's fields the index needs, as its entry's JSON has
 * them (ngx_kefu_search_doc.c) */
typedef struct {
    ngx_str_t                    text;       /* the value, quotes and all */
    ngx_str_t                    from;
    ngx_str_t                    att_name;
    unsigned                     priv:1;
    unsigned                     att:1;      /* an object */
} ngx_kefu_search_msg_t;


void ngx_kefu_search_terms(ngx_kefu_search_terms_t *t, u_char *p,
    size_t len, ngx_uint_t query);
u_char *ngx_kefu_search_utf8_put(u_char *p, uint32_t c);

ngx_int_t ngx_kefu_search_msg_scan(u_char *tail, size_t len,
    ngx_kefu_search_msg_t *m);
ssize_t ngx_kefu_search_json_unescape(u_char *d, ngx_str_t *s);
u_char *ngx_kefu_search_msg_doc_write(ngx_kefu_search_msg_t *m,
    ngx_str_t *conv, uint64_t seq, int64_t ts, u_char *text, size_t len,
    size_t cut, size_t *doc_len);

void ngx_kefu_search_index_msg(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, uint64_t seq, int64_t ts,
    u_char *tail, size_t tail_len);
ngx_kefu_search_terms_t *ngx_kefu_search_visitor_terms(ngx_pool_t *pool,
    ngx_str_t *id, ngx_str_t *name, json_t *contact);
void ngx_kefu_search_index_visitor(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *id, ngx_str_t *name, json_t *contact);

/* the worker exits, after the Redis layer: the entries still waiting go */
void ngx_kefu_search_exit(ngx_kefu_main_conf_t *kmcf);


#endif /* _NGX_KEFU_SEARCH_H_INCLUDED_ */
