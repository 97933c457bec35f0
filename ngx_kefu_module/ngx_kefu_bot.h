
/*
 * Bots and automation (docs/automation.md): buttons on messages, the bot's
 * settings, the FAQ, the rules and their keyword matcher.
 */


#ifndef _NGX_KEFU_BOT_H_INCLUDED_
#define _NGX_KEFU_BOT_H_INCLUDED_


#include "ngx_kefu.h"


/* a message's buttons (contract v2 "Bots and buttons", docs/automation.md) */
#define NGX_KEFU_BUTTONS_MAX         10
#define NGX_KEFU_BUTTON_TEXT_MAX     100
#define NGX_KEFU_BUTTON_VALUE_MAX    500

/* a visitor's msg with this text (a handoff button's value) asks a person */
#define NGX_KEFU_HANDOFF_VALUE       "__handoff__"


/*
 * Checks "buttons" and returns a clean copy (only "text" and "value"), or
 * NULL with errbuf holding the error that names the field under prefix
 * ("buttons[2].text must be ...").
 */
json_t *ngx_kefu_buttons_check(json_t *v, const char *prefix, u_char *errbuf,
    size_t size);

/* the same, the field's path and what is wrong apart (settings' errors) */
#define NGX_KEFU_FIELD_MAX           96
json_t *ngx_kefu_buttons_field(json_t *v, const char *prefix, u_char *field,
    const char **err);


/* bounds of the settings (docs/automation.md "Settings") */
#define NGX_KEFU_FAQ_MAX             1000
#define NGX_KEFU_FAQ_ALTS_MAX        20
#define NGX_KEFU_FAQ_KEYWORDS_MAX    50
#define NGX_KEFU_RULES_MAX           500
#define NGX_KEFU_RULES_KEYWORDS_MAX  20000
#define NGX_KEFU_RULE_IF_MAX         20
#define NGX_KEFU_RULE_THEN_MAX       10
#define NGX_KEFU_KEYWORD_MAX         100      /* bytes of one keyword */
#define NGX_KEFU_BOT_TEXT_MAX        4000     /* bytes of a reply or answer */
#define NGX_KEFU_LABELS_MAX          20


/* ngx_kefu_ac.c: keywords in one pass (Aho-Corasick) */
typedef struct ngx_kefu_ac_s  ngx_kefu_ac_t;

/* an occurrence of the keyword reporting id: non-zero stops the scan */
typedef ngx_int_t (*ngx_kefu_ac_found_pt)(void *data, uint32_t id,
    u_char *p, size_t len);

size_t ngx_kefu_ac_normalize(u_char *dst, u_char *src, size_t len);
ngx_kefu_ac_t *ngx_kefu_ac_build(ngx_pool_t *pool, ngx_str_t *kw,
    uint32_t *ids, ngx_uint_t n);
void ngx_kefu_ac_scan(ngx_kefu_ac_t *ac, u_char *text, size_t len,
    ngx_kefu_ac_found_pt found, void *data);
ngx_uint_t ngx_kefu_ac_nodes(ngx_kefu_ac_t *ac);


/* a rule's trigger */
typedef enum {
    NGX_KEFU_WHEN_MESSAGE = 0,
    NGX_KEFU_WHEN_CONV_CREATED,
    NGX_KEFU_WHEN_EVENT,
    NGX_KEFU_WHEN_WAITING,
    NGX_KEFU_WHEN_OFFLINE
} ngx_kefu_when_e;


typedef struct {
    json_t                      *json;        /* the rule, in doc */
    const char                  *id;
    const char                  *event;       /* when.name of "event" */
    int64_t                      seconds;     /* when.seconds of "waiting" */
    ngx_uint_t                   when;
    unsigned                     enabled:1;
} ngx_kefu_rule_t;


/* an FAQ entry's phrase: its question in a language, or an alt */
typedef struct {
    uint32_t                     entry;
    uint32_t                     weight;      /* of all its terms */
    ngx_str_t                    text;
} ngx_kefu_faq_phrase_t;


/* a term of the FAQ's phrases: sorted by term, for bisection */
typedef struct {
    ngx_str_t                    term;
    uint32_t                     phrase;
    uint32_t                     weight;
} ngx_kefu_faq_term_t;


/*
 * The bot's, FAQ's and rules' settings of a site, compiled: one per
 * settings version and worker, all of it in its pool, freed when the next
 * one replaces it.
 */
typedef struct {
    ngx_pool_t                  *pool;
    json_t                      *doc;         /* a reference: bot, faq, rules */
    json_t                      *bot;
    json_t                      *faq;
    json_t                      *rules;
    unsigned                     enabled:1;   /* bot.enabled */
    unsigned                     external:1;  /* bot.mode external */

    ngx_uint_t                   nrules;
    ngx_kefu_rule_t             *rule;
    ngx_kefu_ac_t               *ac;          /* rules' keywords: id is
                                                 rule * 32 + condition */
    ngx_uint_t                   nkeywords;
    ngx_uint_t                   when_mask;   /* 1 << when of enabled rules */
    unsigned                     need_visitor:1;  /* attr or page used */
    unsigned                     need_conv:1;     /* group or state used */

    ngx_uint_t                   nfaq;
    ngx_uint_t                   nphrases;
    ngx_kefu_faq_phrase_t       *phrase;
    ngx_uint_t                   nterms;
    ngx_kefu_faq_term_t         *term;
    ngx_kefu_ac_t               *faq_ac;      /* FAQ keywords: id is entry */
} ngx_kefu_bot_conf_t;


/* ngx_kefu_bot_conf.c: the settings' bot, faq and rules */
ngx_int_t ngx_kefu_bot_check(json_t *doc, ngx_pool_t *pool,
    ngx_str_t *field, ngx_str_t *err);
ngx_kefu_bot_conf_t *ngx_kefu_bot_compile(json_t *doc, ngx_log_t *log);
void ngx_kefu_bot_conf_free(ngx_kefu_bot_conf_t *bc);
ngx_uint_t ngx_kefu_bot_starts(ngx_kefu_bot_conf_t *bc, ngx_str_t *group);
const char *ngx_kefu_bot_text(json_t *v, ngx_uint_t en);


/* ngx_kefu_rules.c: what a trigger fires */
typedef struct {
    ngx_uint_t                   when;
    ngx_str_t                    text;        /* the message */
    json_t                      *attrs;       /* the visitor's */
    json_t                      *data;        /* the business event's */
    const char                  *event;       /* its name */
    ngx_str_t                    page;
    ngx_str_t                    group;
    const char                  *state;       /* bot, queued, open */
    ngx_int_t                    hours;       /* 1 inside, 0 outside */
    int64_t                      waited;      /* seconds */
    ngx_uint_t                   routed;      /* a live run routed once */
    ngx_uint_t                   group_read;  /* group is the conv's own */
    ngx_uint_t                   handed_off;  /* a rule handed it off */
} ngx_kefu_rule_ctx_t;

/* rules that fire, each with its why; explain: every rule, why not too */
json_t *ngx_kefu_rules_eval(ngx_kefu_bot_conf_t *bc, ngx_kefu_rule_ctx_t *rc,
    ngx_uint_t explain, ngx_pool_t *pool);


/* ngx_kefu_bot_run.c: rules acting on a visitor's stored message */
json_t *ngx_kefu_bot_from(ngx_kefu_site_t *site, ngx_uint_t en);
ngx_int_t ngx_kefu_bot_route(ngx_kefu_site_t *site, json_t *text,
    ngx_str_t *group, ngx_uint_t hours, json_t *intent, ngx_str_t *out);
/* a visitor's attrs and page kept on its connection for intent routing */
void ngx_kefu_bot_intent(ngx_kefu_ws_t *ws, const char *key, json_t *v);
void ngx_kefu_bot_on_visitor_msg(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, uint64_t seq,
    ngx_uint_t created, ngx_str_t *group, ngx_uint_t closed, ngx_uint_t en,
    ngx_str_t *answer, u_char *tail, size_t tail_len);


/* an entry into conv as the API writes one: the bot's, a rule's */
ngx_int_t ngx_kefu_bot_post(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, const char *who, json_t *tail,
    u_char *cid, ngx_uint_t priv, const char *ev);


/* ngx_kefu_bot_answer.c: the bot in a conversation in state bot */
const char *ngx_kefu_bot_says(ngx_kefu_bot_conf_t *bc, ngx_uint_t en,
    const char *key);
const char *ngx_kefu_bot_handed_off(ngx_kefu_site_t *site, ngx_uint_t en);
void ngx_kefu_bot_answer(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, uint64_t seq, ngx_str_t *state, ngx_uint_t en,
    u_char *tail, size_t tail_len);
void ngx_kefu_bot_answer_msg(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, uint64_t seq, ngx_str_t *state,
    ngx_uint_t en, json_t *msg);
void ngx_kefu_bot_handoff(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, const char *by, ngx_uint_t en);
void ngx_kefu_bot_fire(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, uint64_t seq, ngx_uint_t when, ngx_uint_t en,
    json_t *rule, ngx_kefu_rule_ctx_t *rc);
ngx_int_t ngx_kefu_bot_rule_entry(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, json_t *entry, u_char *cid);


/* ngx_kefu_rules_live.c: triggers that read the conversation first */
void ngx_kefu_rules_on_msg(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, uint64_t seq, ngx_uint_t created, ngx_str_t *group,
    ngx_uint_t closed, ngx_uint_t en, ngx_str_t *answer, json_t *msg);
void ngx_kefu_rules_on_event(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, uint64_t seq, json_t *name,
    json_t *data);
ngx_int_t ngx_kefu_rules_act(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, ngx_kefu_rule_ctx_t *rc,
    json_t *rule, json_t *a, json_t *entry, u_char *cid);
void ngx_kefu_rules_wait(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site);


/* ngx_kefu_faq.c: what the FAQ bot does with a message */
json_t *ngx_kefu_faq_decide(ngx_kefu_bot_conf_t *bc, u_char *text,
    size_t len, ngx_uint_t en, ngx_pool_t *pool);

/* ngx_kefu_bot_idle.c: the bots' idle sweep */
ngx_int_t ngx_kefu_bot_idle_init(ngx_cycle_t *cycle);


#endif /* _NGX_KEFU_BOT_H_INCLUDED_ */
