
/*
 * Script arguments by name: a script's caller fills a struct of named
 * fields and one builder turns it into the script's argv, in the order
 * its .lua file reads them.  Every caller of a script uses its builder,
 * so an argument is added or moved in one place.
 */


#ifndef _NGX_KEFU_SCRIPT_ARGS_H_INCLUDED_
#define _NGX_KEFU_SCRIPT_ARGS_H_INCLUDED_


#include "ngx_kefu.h"


/*
 * A script call: its KEYS first (nkeys of them: the Redis layer routes a
 * call by its first key's slot), then its ARGV; keys and numbers are
 * written into buf.
 */

#define NGX_KEFU_CALL_ARGS  16
#define NGX_KEFU_CALL_BUF   1024

typedef struct {
    int                          nkeys;
    int                          argc;
    const char                  *argv[NGX_KEFU_CALL_ARGS];
    size_t                       lens[NGX_KEFU_CALL_ARGS];
    u_char                      *pos;
    ngx_uint_t                   overflow;   /* an argument did not fit */
    u_char                       buf[NGX_KEFU_CALL_BUF];
} ngx_kefu_call_t;


/* lua/range.lua: a conversation's log from seq "from" */
ngx_int_t ngx_kefu_range_args(ngx_kefu_call_t *c, ngx_str_t *conv,
    uint64_t from, ngx_uint_t count);

/* lua/read.lua: a read pointer moved; head is the event's JSON less seq */
ngx_int_t ngx_kefu_read_args(ngx_kefu_call_t *c, ngx_str_t *conv,
    ngx_str_t *who, int64_t seq, uint64_t session, ngx_str_t *head);

/* lua/settings_get.lua, lua/settings_put.lua: a site's settings */
ngx_int_t ngx_kefu_settings_get_args(ngx_kefu_call_t *c, ngx_str_t *site);
ngx_int_t ngx_kefu_settings_put_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *doc, int64_t ts, ngx_str_t *by);

/* lua/avail.lua: the groups with an agent online */
ngx_int_t ngx_kefu_avail_args(ngx_kefu_call_t *c, ngx_str_t *site,
    int64_t now, ngx_msec_t grace);

/*
 * lua/contact.lua: a visitor's contact details (JSON), its name ("" for
 * none)
 */
ngx_int_t ngx_kefu_contact_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *visitor, ngx_str_t *contact, int64_t ts, ngx_str_t *name);

/* lua/api_agents.lua: the site's agents */
ngx_int_t ngx_kefu_api_agents_args(ngx_kefu_call_t *c, ngx_str_t *site);


/*
 * lua/api_log.lua: a conversation's log; before, after: -1 for none;
 * reader: an agent's "a:<id>" (only its conversations), NULL for any
 */
ngx_int_t ngx_kefu_api_log_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *conv, int64_t before, int64_t after, int64_t limit,
    ngx_str_t *reader);


/*
 * lua/upload_done.lua: a stored attachment's reference (conv, or
 * "p:<until>"), the sweep's schedule, a visitor's hourly count
 */
ngx_int_t ngx_kefu_upload_done_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *sha, ngx_str_t *owner, ngx_str_t *visitor, int64_t hour,
    int64_t due);


/*
 * lua/summaries.lua, then lua/summary.lua per conversation (pipelined): a
 * welcome's conversations; who: "v:<id>", "a:<id>", "m:<id>"
 */
ngx_int_t ngx_kefu_summaries_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *who, ngx_str_t *role);
ngx_int_t ngx_kefu_summary_args(ngx_kefu_call_t *c, ngx_str_t *conv,
    ngx_str_t *who, ngx_str_t *role);


/*
 * lua/history.lua: a page of a conversation's log; before 0 for the end;
 * site NULL for a member, else the reader not a member (who, role) and
 * whether lua/history_check.lua found it in an agent's list
 */
ngx_int_t ngx_kefu_history_args(ngx_kefu_call_t *c, ngx_str_t *conv,
    int64_t before, ngx_uint_t limit, ngx_uint_t visitor, ngx_str_t *site,
    ngx_str_t *who, ngx_str_t *role, ngx_uint_t listed);
ngx_int_t ngx_kefu_history_check_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *who, ngx_str_t *conv);


/*
 * lua/api_conv.lua (reader: an agent's "a:<id>", NULL for any), then
 * lua/api_visitor.lua for its visitor: one conversation for the API
 */
ngx_int_t ngx_kefu_api_conv_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *conv, ngx_str_t *reader);
ngx_int_t ngx_kefu_api_visitor_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *visitor);


/*
 * An upload's checks: lua/upload_owner.lua, the conversation named (role
 * "visitor", "agent", "admin"), then for a visitor lua/upload_check.lua,
 * its open conversation and its quota (0 for none) in the site's slot
 */
ngx_int_t ngx_kefu_upload_check_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *visitor, ngx_str_t *conv, ngx_int_t quota, int64_t hour);
ngx_int_t ngx_kefu_upload_owner_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *role, ngx_str_t *id, ngx_str_t *conv);


/*
 * Listings: the index in the site's slot (lua/api_list.lua: since -1 for
 * any; lua/api_queue.lua), then lua/conv_fields.lua per conversation
 */
ngx_int_t ngx_kefu_conv_fields_args(ngx_kefu_call_t *c, ngx_str_t *conv,
    const char **fields, ngx_uint_t n);
ngx_int_t ngx_kefu_api_queue_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *group, int64_t limit);
ngx_int_t ngx_kefu_api_list_args(ngx_kefu_call_t *c, ngx_str_t *site,
    int64_t since, ngx_str_t *cursor, int64_t count);


/*
 * The retention sweep: lua/retain_sweep.lua (the site's slot), each
 * conversation's hash asked in its own (lua/conv_fields.lua), then
 * lua/retain_drop.lua for those gone, a few a call; the closed ones that
 * 0.1.0 left without an expiry get one, lua/retain_heal_site.lua in the
 * site's slot (their routing record, their visitor: "" for none), then
 * lua/retain_heal.lua in the conversation's (ngx_kefu_retain_next())
 */
#define NGX_KEFU_RETAIN_DROP_MAX  (NGX_KEFU_CALL_ARGS - 3)

ngx_int_t ngx_kefu_retain_sweep_args(ngx_kefu_call_t *c, ngx_str_t *site,
    int64_t now, ngx_msec_t retention, ngx_uint_t batch, ngx_msec_t lease);
ngx_int_t ngx_kefu_retain_drop_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *convs, ngx_uint_t n);
ngx_int_t ngx_kefu_retain_heal_args(ngx_kefu_call_t *c, ngx_str_t *conv,
    time_t secs);
ngx_int_t ngx_kefu_retain_heal_site_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *conv, ngx_str_t *visitor, time_t secs, time_t retention);


/*
 * The idle sweep (ngx_kefu_idle.c): lua/idle_sweep.lua (the site's slot),
 * each conversation's state asked in its own (lua/conv_fields.lua), the
 * idle ones closed (lua/route_close.lua with a cut), then
 * lua/idle_done.lua moves the cursor
 */
ngx_int_t ngx_kefu_idle_sweep_args(ngx_kefu_call_t *c, ngx_str_t *site,
    int64_t now, ngx_msec_t idle, ngx_uint_t batch, ngx_msec_t lease,
    ngx_str_t *token);
ngx_int_t ngx_kefu_idle_done_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *token, ngx_str_t *cursor, ngx_uint_t more);


/*
 * The attachments' sweep: lua/upload_sweep.lua (the site's slot), each
 * conversation referring to a file asked in its own (lua/conv_fields.lua),
 * then lua/upload_reap.lua per file for those gone, a few a call
 */
#define NGX_KEFU_UPLOAD_REAP_MAX  (NGX_KEFU_CALL_ARGS - 3)

ngx_int_t ngx_kefu_upload_sweep_args(ngx_kefu_call_t *c, ngx_str_t *site,
    int64_t now, ngx_uint_t batch, ngx_msec_t next, ngx_msec_t lease);
ngx_int_t ngx_kefu_upload_reap_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *sha, ngx_str_t *convs, ngx_uint_t n);


/*
 * The agents' view of the queues: lua/queue.lua per group (the site's
 * slot), lua/queue_item.lua per conversation (its slot), then
 * lua/queue_entry.lua per queued one (the site's: its visitor)
 */
typedef struct {
    ngx_str_t                    site;
    ngx_str_t                    conv;
    ngx_str_t                    group;
    ngx_uint_t                   position;    /* from 1 */
    ngx_str_t                    since;       /* the queue's score */
    ngx_str_t                    offline;     /* "1" or "" */
    ngx_str_t                    last;        /* preview, "" for none */
    ngx_str_t                    visitor;     /* "" for none */
    ngx_uint_t                   bot;         /* in state bot (b:<group>) */
    ngx_str_t                    labels;      /* JSON array, "" for none */
} ngx_kefu_queue_entry_t;

/* bots: the group's bot conversations instead of its queue */
ngx_int_t ngx_kefu_queue_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *group, ngx_uint_t limit, ngx_uint_t bots);
ngx_int_t ngx_kefu_queue_item_args(ngx_kefu_call_t *c, ngx_str_t *conv);
ngx_int_t ngx_kefu_queue_entry_args(ngx_kefu_call_t *c,
    ngx_kefu_queue_entry_t *e);


/* lua/status.lua: a site's figures */
ngx_int_t ngx_kefu_status_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *default_group);

/* lua/revoke_add.lua: an entry of a site's token denylist */
ngx_int_t ngx_kefu_revoke_add_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *member, int64_t until, int64_t now, ngx_uint_t max,
    ngx_str_t *head, ngx_str_t *value);


/* lua/canned.lua: an owner's ("a:<id>", "m:<id>") canned replies */
ngx_int_t ngx_kefu_canned_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *owner, ngx_str_t *op, ngx_str_t *key, ngx_str_t *doc,
    ngx_uint_t max);


/* lua/bot_miss.lua: the FAQ bot's misses in a row in a conversation */
ngx_int_t ngx_kefu_bot_miss_args(ngx_kefu_call_t *c, ngx_str_t *conv,
    uint64_t seq, ngx_uint_t miss);


/* lua/bot_sweep.lua, lua/bot_touch.lua: idle bot conversations closed */
ngx_int_t ngx_kefu_bot_sweep_args(ngx_kefu_call_t *c, ngx_str_t *site,
    int64_t now, ngx_msec_t idle, ngx_msec_t lease, ngx_uint_t batch);
ngx_int_t ngx_kefu_bot_touch_args(ngx_kefu_call_t *c, ngx_str_t *site);
void ngx_kefu_bot_touch_add(ngx_kefu_call_t *c, ngx_str_t *conv,
    ngx_str_t *ms);


/*
 * lua/msg.lua: a message from a WebSocket client or the HTTP API; also
 * the arguments of lua/open.lua and lua/route_new.lua, the other calls of
 * a message that opens a conversation
 */

#define NGX_KEFU_MSG_ARGS  32

typedef struct {
    ngx_str_t                    site;
    ngx_str_t                    who;         /* "v:<id>", "a:<id>", ... */
    ngx_str_t                    role;        /* "visitor", ..., "service" */
    ngx_str_t                    conv;        /* "": a visitor's open one */
    ngx_str_t                    cid;
    ngx_str_t                    head;        /* {"type":"msg","conv":" */
    ngx_str_t                    tail;        /* ,"ts":..,...} after seq */
    ngx_str_t                    group;       /* a new conversation's */
    ngx_str_t                    session;     /* hex, "-" for none */
    ngx_str_t                    ids;         /* routing's entries' ids */
    ngx_str_t                    target;      /* service: the visitor */
    ngx_str_t                    event;       /* service: stream event */
    ngx_str_t                    greeting;    /* its tail, "" for none */
    ngx_str_t                    file;        /* attachment's SHA-256 */
    ngx_str_t                    default_group; /* for an unknown group */
    ngx_str_t                    visitor;     /* the visitor's id, if one
                                                 writes */
    uint64_t                     id;          /* fresh for each run */
    uint64_t                     newconv;
    uint64_t                     greeting_id;
    int64_t                      ts;          /* ms */
    time_t                       dedup_ttl;   /* s */
    time_t                       visitor_ttl; /* s: an idle visitor kept;
                                                0: its expiry not renewed */
    ngx_int_t                    log_max;
    ngx_msec_t                   grace;
    unsigned                     private:1;
    unsigned                     open:1;      /* service: open one */
    unsigned                     closed_hours:1;
    unsigned                     group_known:1; /* declared by the site */
    unsigned                     implicit:1;  /* conv: the connection's
                                                 own, not the client's */
    unsigned                     bot:1;       /* a new one of group starts
                                                 in bot (lua/lib/bot.lua) */
    unsigned                     bot_default:1; /* of default_group */
    unsigned                     cluster:1;   /* open, route_new: the
                                                 conversation's side is
                                                 the worker's next call */
} ngx_kefu_msg_args_t;

/* argv[0]: KEYS[1] of open and route_new; argv + 1: ARGV (argc of them) */
typedef struct {
    const char                  *argv[1 + NGX_KEFU_MSG_ARGS];
    size_t                       lens[1 + NGX_KEFU_MSG_ARGS];
    int                          argc;
    u_char                       key[sizeof("kefu:{s:}:v:") + 64
                                     + NGX_KEFU_MAX_ID_LEN];
    u_char                       id[NGX_INT64_LEN];
    u_char                       newconv[NGX_INT64_LEN];
    u_char                       ts[NGX_INT64_LEN];
    u_char                       ttl[NGX_INT64_LEN];
    u_char                       log_max[NGX_INT64_LEN];
    u_char                       grace[NGX_INT64_LEN];
    u_char                       vttl[NGX_INT64_LEN];
    u_char                       mid[sizeof("\",\"id\":\"\",\"seq\":")
                                     + NGX_INT64_LEN];
    u_char                       gmid[sizeof("\",\"id\":\"\",\"seq\":")
                                      + NGX_INT64_LEN];
} ngx_kefu_msg_argv_t;


void ngx_kefu_msg_argv(ngx_kefu_msg_args_t *a, ngx_kefu_msg_argv_t *out);
size_t ngx_kefu_msg_args_size(ngx_kefu_msg_args_t *a);
u_char *ngx_kefu_msg_args_copy(ngx_kefu_msg_args_t *a, u_char *p);


/*
 * With "kefu_redis cluster", a message's event (ngx_kefu_msg_event.c):
 * lua/event_put.lua (the site's slot) after lua/msg_slot.lua, and
 * lua/ev_range.lua (the conversation's) to read what a dead worker's
 * event_put left out
 */

#define NGX_KEFU_EVENT_PUT_MAX   32   /* messages a call puts */
#define NGX_KEFU_EVENT_PUT_KEYS  (4 + 3 * NGX_KEFU_EVENT_PUT_MAX)
#define NGX_KEFU_EVENT_PUT_ARGS  (NGX_KEFU_EVENT_PUT_KEYS + 1             \
                                  + 8 * NGX_KEFU_EVENT_PUT_MAX)

/* one message's event (seq 0: a duplicate's check of the mark alone) */
typedef struct {
    ngx_str_t                    conv;
    uint64_t                     prev;        /* the message before it */
    ngx_str_t                    visitor;     /* kept alive; "" for none */
    time_t                       visitor_ttl;
    ngx_str_t                    file;        /* SHA-256 hex; "" for none */
    uint64_t                     seq;
    ngx_str_t                    name;        /* msg, note, event */
    int64_t                      ts;
    ngx_str_t                    json;
} ngx_kefu_event_put_t;

/* a call's arguments (large: on the heap) */
typedef struct {
    int                          nkeys;
    int                          argc;
    const char                  *argv[NGX_KEFU_EVENT_PUT_ARGS];
    size_t                       lens[NGX_KEFU_EVENT_PUT_ARGS];
    u_char                       keys[NGX_KEFU_EVENT_PUT_KEYS]
                                     [sizeof("kefu:{s:}:file:")
                                      + 2 * NGX_KEFU_MAX_ID_LEN];
    u_char                       nums[4 * NGX_KEFU_EVENT_PUT_MAX]
                                     [NGX_INT64_LEN];
} ngx_kefu_event_put_call_t;

/* e[0 .. n - 1], n at most NGX_KEFU_EVENT_PUT_MAX, of one site */
ngx_int_t ngx_kefu_event_put_args(ngx_kefu_event_put_call_t *c,
    ngx_str_t *site, ngx_kefu_event_put_t *e, ngx_uint_t n);
ngx_int_t ngx_kefu_ev_range_args(ngx_kefu_call_t *c, ngx_str_t *conv,
    uint64_t mark, uint64_t seq, ngx_uint_t count);


/*
 * A visitor's export and erasure (ngx_kefu_api_erase.c): lua/export_visitor.lua
 * (convs: how many conversations at most), lua/export_conv.lua and
 * lua/erase_conv.lua per conversation of the site's visitor, and
 * lua/erase_file.lua per attachment (sha: its SHA-256 hex) that one
 * referred to
 */
ngx_int_t ngx_kefu_export_visitor_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *visitor, ngx_uint_t convs);
/* export_conv's and erase_conv's: the same keys and arguments */
ngx_int_t ngx_kefu_conv_keys_args(ngx_kefu_call_t *c, ngx_str_t *conv,
    ngx_str_t *site, ngx_str_t *visitor);
ngx_int_t ngx_kefu_erase_file_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *sha, ngx_str_t *conv);

/* lua/erase_mark.lua: conv erased at now (seconds), kept keep seconds */
ngx_int_t ngx_kefu_erase_mark_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *conv, time_t now, time_t keep);


/*
 * The calls with a key for each of a visitor's search terms (term[0 ..
 * n - 1]): lua/search_index.lua (ngx_kefu_search.c) and
 * lua/erase_visitor.lua; and the search API's two, whose keys depend on
 * the query and on what it found.  argv, lens and the keys' and numbers'
 * bytes are one allocation: ngx_free(c->argv) once the call went.
 */
typedef struct {
    int                          nkeys;
    int                          argc;
    const char                 **argv;
    size_t                      *lens;
} ngx_kefu_terms_call_t;

/* member: the visitor's id; ts (ms), ttl (s), cap (postings a term), cut
 * (ms: older postings go) */
ngx_int_t ngx_kefu_search_index_args(ngx_kefu_terms_call_t *c,
    ngx_str_t *site, ngx_str_t *term, ngx_uint_t n, ngx_str_t *member,
    int64_t ts, time_t ttl, ngx_uint_t cap, int64_t cut);

/*
 * lua/search_find.lua, then lua/search_fetch.lua (ngx_kefu_search_api.c):
 * find: the query's terms, an agent's filters (nf, 0 for none: the whole
 * site), at most limit hits, before's ms and member ("" for none); fetch:
 * the hits found (their members), the visitors found (their ids), the
 * same filters
 */
ngx_int_t ngx_kefu_search_find_args(ngx_kefu_terms_call_t *c,
    ngx_str_t *site, ngx_str_t *term, ngx_uint_t n, ngx_str_t *filter,
    ngx_uint_t nf, int64_t limit, ngx_str_t *before, ngx_str_t *member);
ngx_int_t ngx_kefu_search_fetch_args(ngx_kefu_terms_call_t *c,
    ngx_str_t *site, ngx_str_t *hit, ngx_uint_t nh, ngx_str_t *visitor,
    ngx_uint_t nv, ngx_str_t *filter, ngx_uint_t nf);

/* hour: the upload counts' (the last three go); ts, data: the
 * visitor.erased event's; max: the stream's cap; erased: conversations
 * went */
ngx_int_t ngx_kefu_erase_visitor_args(ngx_kefu_terms_call_t *c,
    ngx_str_t *site, ngx_str_t *visitor, ngx_str_t *term, ngx_uint_t n,
    int64_t hour, int64_t ts, ngx_str_t *data, ngx_uint_t max,
    ngx_uint_t erased);


/* lua/label.lua: a rule's label on a conversation */
ngx_int_t ngx_kefu_label_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *conv, ngx_str_t *label, ngx_uint_t max);
ngx_int_t ngx_kefu_label_put_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *conv, ngx_str_t *labels);

/* lua/rule_wait.lua: the waiting trigger's sweep of one group's queue */
ngx_int_t ngx_kefu_rule_wait_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *group, int64_t now, int64_t lease, int64_t limit,
    int64_t keep, ngx_str_t *holder, ngx_str_t *rules);


/*
 * lua/search_batch.lua (the site's slot): the search index entries of
 * the messages one event-loop pass stored, of one site (ngx_kefu_search.c)
 */

/* a call's arguments at most (ngx_kefu_redis_eval_follow() takes 4096) */
#define NGX_KEFU_SEARCH_BATCH_ARGC  4000

/* what an entry of nterms terms adds to a call's arguments at most: its
 * document's key, four ARGV, and a key and a position for each term */
#define ngx_kefu_search_batch_argc(nterms)  (5 + 2 * (nterms))

/* a call's own arguments before its entries: ttl, cap, cut, the count,
 * the term keys' ttl, which terms are due */
#define NGX_KEFU_SEARCH_BATCH_HEAD  6

/* one stored message's entry */
typedef struct {
    ngx_str_t                    conv;
    uint64_t                     seq;
    int64_t                      ts;          /* ms */
    ngx_str_t                    doc;         /* the hit, JSON */
    ngx_str_t                   *terms;
    ngx_uint_t                   nterms;
} ngx_kefu_search_put_t;

/* a call's arguments, in one allocation (ngx_free(argv)) */
typedef struct {
    int                          nkeys;
    int                          argc;
    const char                 **argv;
    size_t                      *lens;
    ngx_uint_t                   n;           /* entries in the call */
    ngx_uint_t                   nterms;      /* term keys, after the
                                                 n documents' keys */
    ngx_uint_t                  *adds;        /* each one's postings in
                                                 the call */
    u_char                      *due;         /* each one's ARGV flag:
                                                 '1' (as built) pruned and
                                                 expired in the call, '2'
                                                 the same, new to the
                                                 worker, '0' only added
                                                 to */
} ngx_kefu_search_batch_call_t;

/*
 * e[0 .. n - 1], of one site, within NGX_KEFU_SEARCH_BATCH_ARGC by
 * ngx_kefu_search_batch_argc(); each term's key declared once, an entry
 * whose document key came before (the same message) left out.  ttl (s:
 * the documents'), cap (postings a term), cut (ms: older postings go),
 * term_ttl (s: the term keys').  Every term is due ('1') as built; the
 * caller may clear c->due[i] before the call is sent.
 */
ngx_int_t ngx_kefu_search_batch_args(ngx_kefu_search_batch_call_t *c,
    ngx_str_t *site, ngx_kefu_search_put_t *e, ngx_uint_t n, time_t ttl,
    ngx_uint_t cap, int64_t cut, time_t term_ttl);


#endif /* _NGX_KEFU_SCRIPT_ARGS_H_INCLUDED_ */
