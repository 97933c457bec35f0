
/*
 * The bot in a conversation in state bot (docs/automation.md "The bot
 * state"): after a visitor's message is stored there (not a duplicate),
 * the worker that stored it either hands the conversation to a person
 * (the words 人工 / 转人工 / human / agent as the whole message, the
 * handoff button's value, the second "not understood" in a row) or, with
 * bot.mode faq, answers from the FAQ (ngx_kefu_faq.c decides): one clear
 * match, its answer and buttons; unsure, the "choose" text with the
 * closest entries' questions as buttons; nothing, "not_understood".  Every
 * answer ends with the handoff button.  An answer's cid is "f:<seq>" of
 * the visitor's message, so whatever runs it again is a duplicate, never
 * a second answer.  With bot.mode external nothing answers here.  A
 * conversation still in bot after the bot was turned off (bot.enabled
 * false) goes to a person on the visitor's next message.
 *
 * A handoff is ngx_kefu_route_handoff() (lua/route_handoff.lua): the
 * conversation leaves bot and is routed like a new one.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_settings.h"
#include "ngx_kefu_script_args.h"
#include "ngx_kefu_bot.h"
#include "ngx_kefu_msg_event.h"


/* what the bot says when bot.texts does not say it: zh, en */
static const char  *ngx_kefu_bot_builtin[][3] = {
    { "not_understood",
      "抱歉，我没有理解您的问题。您可以换个说法，或者转人工。",
      "Sorry, I did not understand that. Try other words, or talk to "
      "a person." },
    { "choose", "您想问的是下面哪一个？", "Did you mean one of these?" },
    { "handoff", "转人工", "Talk to a person" },
    { "handed_off", "正在为您转接人工客服，请稍候。",
      "Connecting you to a person, one moment please." },
    { NULL, NULL, NULL }
};


typedef struct {
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_site_t             *site;
    uint64_t                     seq;
    ngx_uint_t                   en;
    size_t                       len;
    u_char                       conv[NGX_KEFU_MAX_ID_LEN];
} ngx_kefu_bot_miss_ctx_t;


static ngx_uint_t ngx_kefu_bot_wants_person(u_char *text, size_t len);
static void ngx_kefu_bot_faq(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, uint64_t seq, ngx_uint_t en,
    u_char *text, size_t len);
static ngx_int_t ngx_kefu_bot_say(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, uint64_t seq, ngx_uint_t en,
    const char *text, json_t *buttons, json_t *faq);
static void ngx_kefu_bot_miss(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, uint64_t seq, ngx_uint_t en,
    ngx_uint_t miss);
static void ngx_kefu_bot_missed(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_bot_handoff_done(ngx_kefu_main_conf_t *kmcf,
    void *data, ngx_int_t code, const char *message, json_t *result);


/* bot.texts.<lang>.<key>, else the built-in text */

const char *
ngx_kefu_bot_says(ngx_kefu_bot_conf_t *bc, ngx_uint_t en, const char *key)
{
    json_t      *t;
    ngx_uint_t   i;

    t = bc ? json_object_get(json_object_get(json_object_get(bc->bot,
                                                             "texts"),
                                             en ? "en" : "zh"), key)
           : NULL;

    if (json_is_string(t) && json_string_length(t)) {
        return json_string_value(t);
    }

    for (i = 0; ngx_kefu_bot_builtin[i][0]; i++) {
        if (ngx_strcmp(ngx_kefu_bot_builtin[i][0], key) == 0) {
            return ngx_kefu_bot_builtin[i][en ? 2 : 1];
        }
    }

    return "";
}


/* the handoff's system entry text in a language */

const char *
ngx_kefu_bot_handed_off(ngx_kefu_site_t *site, ngx_uint_t en)
{
    ngx_kefu_site_rt_t  *rt = site->rt;

    return ngx_kefu_bot_says(rt ? rt->bot : NULL, en, "handed_off");
}


/*
 * A visitor's message was stored in conv at seq; state is its
 * conversation's state after it (lua/msg.lua), tail the stored JSON after
 * seq (",\"ts\":...}").
 */

void
ngx_kefu_bot_answer(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, uint64_t seq, ngx_str_t *state, ngx_uint_t en,
    u_char *tail, size_t tail_len)
{
    json_t  *j;

    if (tail_len < 2) {
        return;
    }

    /*
     * Most messages are neither in state bot nor the handoff button's
     * value, and have nothing to do here: told so by the bytes, not by
     * parsing the stored JSON, an eighth of nginx's instructions for a
     * stored message (issue 18).  The value has nothing JSON escapes and
     * the tail is compact, so a text that is the value is this string;
     * one found elsewhere in it is parsed, as before.
     */
    if ((state->len != 3 || ngx_strncmp(state->data, "bot", 3) != 0)
        && ngx_strnstr(tail, "\"text\":\"" NGX_KEFU_HANDOFF_VALUE "\"",
                       tail_len)
           == NULL)
    {
        return;
    }

    j = ngx_kefu_msg_tail_load(tail, tail_len);

    ngx_kefu_bot_answer_msg(kmcf, site, conv, seq, state, en, j);

    json_decref(j);
}


/* the same, with the stored message as JSON (the caller keeps it) */

void
ngx_kefu_bot_answer_msg(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, uint64_t seq, ngx_str_t *state, ngx_uint_t en,
    json_t *j)
{
    u_char               *text;
    size_t                len;
    json_t               *t;
    ngx_kefu_site_rt_t   *rt = site->rt;
    ngx_kefu_bot_conf_t  *bc;

    t = json_object_get(j, "text");

    if (!json_is_string(t)) {
        return;
    }

    text = (u_char *) json_string_value(t);
    len = json_string_length(t);

    /* the handoff button's value asks for a person in any state (harmless
     * outside bot); the words only while the bot has the conversation */
    if (len == sizeof(NGX_KEFU_HANDOFF_VALUE) - 1
        && ngx_strncmp(text, NGX_KEFU_HANDOFF_VALUE, len) == 0)
    {
        ngx_kefu_bot_handoff(kmcf, site, conv, "visitor", en);
        goto done;
    }

    if (state->len != 3 || ngx_strncmp(state->data, "bot", 3) != 0) {
        goto done;
    }

    if (ngx_kefu_bot_wants_person(text, len)) {
        ngx_kefu_bot_handoff(kmcf, site, conv, "visitor", en);
        goto done;
    }

    bc = rt ? rt->bot : NULL;

    /* the bot was turned off since: nobody would answer, a person will */
    if (bc == NULL || !bc->enabled) {
        ngx_kefu_bot_handoff(kmcf, site, conv, "bot", en);
        goto done;
    }

    if (!bc->external) {
        ngx_kefu_bot_faq(kmcf, site, conv, seq, en, text, len);
    }

done:

    return;
}


/* 人工, 转人工, human, agent: the whole message, spaces around ignored */

static ngx_uint_t
ngx_kefu_bot_wants_person(u_char *text, size_t len)
{
    u_char      *p, *last;
    size_t       n;
    ngx_uint_t   i;

    static const char  *words[] = { "人工", "转人工", "human", "agent" };

    p = text;
    last = text + len;

    for ( ;; ) {
        if (p < last && (*p == ' ' || *p == '\t' || *p == '\r'
                         || *p == '\n'))
        {
            p++;

        } else if (last - p >= 3 && p[0] == 0xe3 && p[1] == 0x80
                   && p[2] == 0x80)
        {
            p += 3;     /* the ideographic space */

        } else {
            break;
        }
    }

    for ( ;; ) {
        if (last > p && (last[-1] == ' ' || last[-1] == '\t'
                         || last[-1] == '\r' || last[-1] == '\n'))
        {
            last--;

        } else if (last - p >= 3 && last[-3] == 0xe3 && last[-2] == 0x80
                   && last[-1] == 0x80)
        {
            last -= 3;

        } else {
            break;
        }
    }

    n = last - p;

    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        if (n == ngx_strlen(words[i])
            && ngx_strncasecmp(p, (u_char *) words[i], n) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* at most max bytes of s, never cutting a UTF-8 sequence */

static json_t *
ngx_kefu_bot_cut(const char *s, size_t max)
{
    size_t  n;

    n = ngx_strlen(s);

    if (n > max) {
        n = max;

        while (n && ((u_char) s[n] & 0xc0) == 0x80) {
            n--;
        }
    }

    return json_stringn(s, n);
}


/* the FAQ bot's answer to a visitor's message (ngx_kefu_faq_decide()) */

static void
ngx_kefu_bot_faq(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, uint64_t seq, ngx_uint_t en, u_char *text, size_t len)
{
    size_t                i, k;
    json_t               *d, *list, *e, *entry, *b, *x, *id;
    ngx_pool_t           *pool;
    const char           *decision, *q;
    ngx_kefu_site_rt_t   *rt = site->rt;
    ngx_kefu_bot_conf_t  *bc = rt->bot;

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return;
    }

    d = ngx_kefu_faq_decide(bc, text, len, en, pool);
    ngx_destroy_pool(pool);

    if (d == NULL) {
        return;
    }

    decision = json_string_value(json_object_get(d, "decision"));
    list = json_object_get(d, "entries");

    if (ngx_strcmp(decision, "answer") == 0) {
        id = json_object_get(json_array_get(list, 0), "id");
        entry = NULL;

        json_array_foreach(bc->faq, i, e) {
            if (json_equal(json_object_get(e, "id"), id)) {
                entry = e;
                break;
            }
        }

        if (entry) {
            b = json_deep_copy(json_object_get(entry, "buttons"));
            (void) ngx_kefu_bot_say(kmcf, site, conv, seq, en,
                                    ngx_kefu_bot_text(json_object_get(entry,
                                                                  "answer"),
                                                      en), b, id);
            json_decref(b);
            ngx_kefu_bot_miss(kmcf, site, conv, seq, en, 0);
        }

    } else if (ngx_strcmp(decision, "choose") == 0) {
        /* the closest questions: a click sends the question, answered */
        b = json_array();

        json_array_foreach(list, k, e) {
            q = json_string_value(json_object_get(e, "question"));

            if (b == NULL || q == NULL || q[0] == '\0') {
                continue;
            }

            x = json_pack("{s:o,s:o}",
                          "text", ngx_kefu_bot_cut(q, NGX_KEFU_BUTTON_TEXT_MAX),
                          "value", ngx_kefu_bot_cut(q,
                                                NGX_KEFU_BUTTON_VALUE_MAX));
            if (x) {
                json_array_append_new(b, x);
            }
        }

        (void) ngx_kefu_bot_say(kmcf, site, conv, seq, en,
                                ngx_kefu_bot_says(bc, en, "choose"), b, NULL);
        json_decref(b);
        ngx_kefu_bot_miss(kmcf, site, conv, seq, en, 0);

    } else {
        /* not understood: said, or the second in a row hands off */
        ngx_kefu_bot_miss(kmcf, site, conv, seq, en, 1);
    }

    json_decref(d);
}


/* a bot message: text, the buttons given, then the handoff button */

static ngx_int_t
ngx_kefu_bot_say(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, uint64_t seq, ngx_uint_t en, const char *text,
    json_t *buttons, json_t *faq)
{
    u_char                cid[NGX_KEFU_MAX_CID_LEN + 1];
    json_t               *b, *t;
    ngx_int_t             rc;
    ngx_kefu_site_rt_t   *rt = site->rt;

    b = buttons ? json_deep_copy(buttons) : json_array();

    if (b == NULL) {
        return NGX_ERROR;
    }

    while (json_array_size(b) >= NGX_KEFU_BUTTONS_MAX) {
        json_array_remove(b, json_array_size(b) - 1);
    }

    json_array_append_new(b, json_pack("{s:s,s:s}", "text",
                              ngx_kefu_bot_says(rt ? rt->bot : NULL, en,
                                                "handoff"),
                              "value", NGX_KEFU_HANDOFF_VALUE));

    t = json_pack("{s:o,s:s,s:o}", "from", ngx_kefu_bot_from(site, en),
                  "text", text, "buttons", b);

    if (t && faq) {
        json_object_set(t, "faq", faq);
    }

    if (t == NULL) {
        return NGX_ERROR;
    }

    /* one answer per visitor message, whoever runs it again */
    *ngx_snprintf(cid, NGX_KEFU_MAX_CID_LEN, "f:%uL", seq) = '\0';

    rc = ngx_kefu_bot_post(kmcf, site, conv, "b:bot", t, cid, 0, "");
    json_decref(t);

    return rc;
}


/* the misses in a row (lua/bot_miss.lua); a miss is answered after it */

static void
ngx_kefu_bot_miss(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, uint64_t seq, ngx_uint_t en, ngx_uint_t miss)
{
    ngx_kefu_call_t           call;
    ngx_kefu_bot_miss_ctx_t  *ctx;

    if (conv->len > NGX_KEFU_MAX_ID_LEN
        || ngx_kefu_bot_miss_args(&call, conv, seq, miss) != NGX_OK)
    {
        return;
    }

    ctx = NULL;

    if (miss) {
        ctx = ngx_alloc(sizeof(ngx_kefu_bot_miss_ctx_t), ngx_cycle->log);
        if (ctx == NULL) {
            return;
        }

        ctx->kmcf = kmcf;
        ctx->site = site;
        ctx->seq = seq;
        ctx->en = en;
        ctx->len = conv->len;
        ngx_memcpy(ctx->conv, conv->data, conv->len);
    }

    if (ngx_kefu_redis_eval_call(kmcf->redis, &ngx_kefu_script_bot_miss,
                                 ngx_kefu_bot_missed, ctx, &call)
        != NGX_OK)
    {
        if (ctx) {
            ngx_free(ctx);
        }
    }
}


static void
ngx_kefu_bot_missed(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_bot_miss_ctx_t  *ctx = data;

    ngx_str_t             conv;
    ngx_kefu_site_rt_t   *rt;

    if (ctx == NULL) {
        return;
    }

    conv.data = ctx->conv;
    conv.len = ctx->len;

    if (reply && reply->type == REDIS_REPLY_INTEGER && reply->integer >= 2) {
        ngx_kefu_bot_handoff(ctx->kmcf, ctx->site, &conv, "bot", ctx->en);

    } else {
        /* said also when the count could not be kept: never silence */
        rt = ctx->site->rt;
        (void) ngx_kefu_bot_say(ctx->kmcf, ctx->site, &conv, ctx->seq,
                                ctx->en,
                                ngx_kefu_bot_says(rt ? rt->bot : NULL,
                                                  ctx->en, "not_understood"),
                                NULL, NULL);
    }

    ngx_free(ctx);
}


/* a handoff the worker makes: words, the bot's misses, a rule */

void
ngx_kefu_bot_handoff(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, const char *by, ngx_uint_t en)
{
    const char             *text;
    ngx_kefu_actor_t        actor;
    ngx_kefu_route_args_t   args;

    ngx_memzero(&actor, sizeof(ngx_kefu_actor_t));
    actor.site = site;
    ngx_str_set(&actor.id, "bot");
    actor.role = NGX_KEFU_ROLE_ADMIN;
    actor.supervisor = 1;

    ngx_memzero(&args, sizeof(ngx_kefu_route_args_t));
    args.conv = *conv;
    args.by.data = (u_char *) by;
    args.by.len = ngx_strlen(by);
    text = ngx_kefu_bot_handed_off(site, en);
    args.text.data = (u_char *) text;
    args.text.len = ngx_strlen(text);

    ngx_kefu_route_handoff(kmcf, &actor, &args, ngx_kefu_bot_handoff_done,
                           NULL);
}


static void
ngx_kefu_bot_handoff_done(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result)
{
    if (code < 0 && code != NGX_KEFU_ROUTE_CONFLICT) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: a handoff failed: %s",
                      message ? message : "unknown");
    }
}
