
/*
 * Rules acting on live conversations (docs/automation.md "Rules in
 * conversations"): after a visitor's message is stored (not a duplicate),
 * the worker that stored it runs the site's rules of the triggers it
 * makes: message, offline (outside business hours), conv_created (the
 * message opened the conversation).  Only the stored message's worker runs
 * them, once; a resend is a duplicate and runs nothing.  Bot, agent and
 * system messages trigger nothing, so a bot's reply never loops.
 *
 * Each action is written like an API message (lua/msg.lua, role
 * "service") with a cid derived from the rule, the trigger and the
 * message's seq ("r:<crc32 of the rule id>:<trigger>:<seq>:<n>"): run
 * twice, it would be a duplicate, never a second reply.  Actions done
 * here: reply (a bot message with the rule's buttons and the handoff
 * button), suggest, handoff (ngx_kefu_bot_answer.c); route, label and
 * event are done by ngx_kefu_rules_live.c, which also reads what the
 * conditions need first.
 * Each action is recorded as a private system entry naming the rule.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_settings.h"
#include "ngx_kefu_script_args.h"
#include "ngx_kefu_bot.h"
#include "ngx_kefu_msg_event.h"
#include "ngx_kefu_retain.h"


static const char  *ngx_kefu_bot_triggers[] = {
    "m", "c", "e", "w", "o"
};

/* the actions of a rule, by the key that names each; any other is "event" */
static const char  *ngx_kefu_bot_actions[] = {
    "reply", "suggest", "route", "label", "handoff", NULL
};


static void ngx_kefu_bot_posted(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static const char *ngx_kefu_bot_action(json_t *a);
static const char *ngx_kefu_bot_fire_reply(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, ngx_uint_t en, json_t *a,
    json_t *rid, u_char *cid);
static json_t *ngx_kefu_bot_fire_note(json_t *rule, json_t *a,
    const char *action, const char *text);


/* the bot's from: {"role": "bot", "id": "bot", "name": bot.name} */

json_t *
ngx_kefu_bot_from(ngx_kefu_site_t *site, ngx_uint_t en)
{
    json_t               *f;
    const char           *name;
    ngx_kefu_site_rt_t   *rt = site->rt;
    ngx_kefu_bot_conf_t  *bc;

    bc = rt ? rt->bot : NULL;
    name = bc ? ngx_kefu_bot_text(json_object_get(bc->bot, "name"), en) : "";

    f = json_pack("{s:s,s:s}", "role", "bot", "id", "bot");

    if (f && name[0]) {
        json_object_set_new(f, "name", json_string(name));
    }

    return f;
}


/* the handoff button's text: bot.texts.<lang>.handoff, else built in */

static const char *
ngx_kefu_bot_handoff_text(ngx_kefu_bot_conf_t *bc, ngx_uint_t en)
{
    json_t      *t;
    const char  *langs[] = { "zh", "en" };

    t = json_object_get(json_object_get(json_object_get(bc->bot, "texts"),
                                        langs[en]), "handoff");

    if (json_is_string(t)) {
        return json_string_value(t);
    }

    return en ? "Talk to a person" : "转人工";
}


/*
 * A visitor's message was stored: seq in conv; created when it opened the
 * conversation; closed when outside business hours.  tail is the stored
 * JSON after seq (",\"ts\":...}").
 */

void
ngx_kefu_bot_on_visitor_msg(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_str_t *conv, uint64_t seq,
    ngx_uint_t created, ngx_str_t *group, ngx_uint_t closed, ngx_uint_t en,
    ngx_str_t *answer, u_char *tail, size_t tail_len)
{
    json_t               *j;
    ngx_kefu_site_rt_t   *rt = site->rt;
    ngx_kefu_bot_conf_t  *bc;

    bc = rt ? rt->bot : NULL;

    if (bc == NULL || bc->nrules == 0 || tail_len < 2) {
        if (answer) {
            ngx_kefu_bot_answer(kmcf, site, conv, seq, answer, en, tail,
                                tail_len);
        }

        return;
    }

    j = ngx_kefu_msg_tail_load(tail, tail_len);

    if (j == NULL) {
        return;
    }

    /*
     * the conversation's group, state and visitor are read first, then
     * the rules run (ngx_kefu_rules_live.c): it owns j from here, and the
     * bot answers (answer: the state) after them, unless a rule of this
     * message handed the conversation to a person
     */
    ngx_kefu_rules_on_msg(kmcf, site, conv, seq, created, group, closed, en,
                          answer, j);
}


/* one rule fired: its actions, each with its private system entry */

void
ngx_kefu_bot_fire(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, uint64_t seq, ngx_uint_t when, ngx_uint_t en,
    json_t *rule, ngx_kefu_rule_ctx_t *rc)
{
    size_t       i;
    u_char       base[NGX_KEFU_MAX_CID_LEN + 1], cid[NGX_KEFU_MAX_CID_LEN + 1];
    uint32_t     crc;
    json_t      *a, *t, *rid;
    const char  *id, *action, *text;

    id = json_string_value(json_object_get(rule, "id"));
    rid = json_object_get(rule, "id");

    /* a rule id is up to 64 bytes: its CRC keeps the cid within 64 */
    crc = ngx_crc32_short((u_char *) id, ngx_strlen(id));

    *ngx_snprintf(base, NGX_KEFU_MAX_CID_LEN, "r:%08xD:%s:%uL",
                  crc, ngx_kefu_bot_triggers[when], seq) = '\0';

    json_array_foreach(json_object_get(rule, "actions"), i, a) {
        action = ngx_kefu_bot_action(a);
        text = NULL;

        if (ngx_strcmp(action, "reply") == 0) {
            *ngx_snprintf(cid, NGX_KEFU_MAX_CID_LEN, "%s:%uz", base, i)
                = '\0';
            text = ngx_kefu_bot_fire_reply(kmcf, site, conv, en, a, rid, cid);

        } else if (ngx_strcmp(action, "handoff") == 0) {
            /* the conversation to a person (harmless outside bot) */
            ngx_kefu_bot_handoff(kmcf, site, conv, "rule", en);
            rc->handed_off = 1;
        }

        t = ngx_kefu_bot_fire_note(rule, a, action, text);

        *ngx_snprintf(cid, NGX_KEFU_MAX_CID_LEN, "%s:%uz:s", base, i) = '\0';

        /* route, label, event: done first, then the entry says how it
         * went (ngx_kefu_rules_live.c) */
        if (t && ngx_kefu_rules_act(kmcf, site, conv, rc, rule, a, t, cid)
                 == NGX_OK)
        {
            json_decref(t);
            continue;
        }

        if (t) {
            (void) ngx_kefu_bot_post(kmcf, site, conv, "y:system", t, cid, 1,
                                     "rule");
            json_decref(t);
        }
    }
}


/* what an action of a rule does, by its key */

static const char *
ngx_kefu_bot_action(json_t *a)
{
    ngx_uint_t  k;

    for (k = 0; ngx_kefu_bot_actions[k]; k++) {
        if (json_object_get(a, ngx_kefu_bot_actions[k])) {
            return ngx_kefu_bot_actions[k];
        }
    }

    return "event";
}


/* a reply of the bot: the rule's buttons, then the handoff button, last */

static const char *
ngx_kefu_bot_fire_reply(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, ngx_uint_t en, json_t *a, json_t *rid, u_char *cid)
{
    json_t               *t, *b;
    const char           *text;
    ngx_kefu_site_rt_t   *rt = site->rt;
    ngx_kefu_bot_conf_t  *bc = rt->bot;

    text = ngx_kefu_bot_text(json_object_get(a, "reply"), en);

    b = json_deep_copy(json_object_get(a, "buttons"));
    b = b ? b : json_array();

    if (b && json_array_size(b) >= NGX_KEFU_BUTTONS_MAX) {
        json_array_remove(b, NGX_KEFU_BUTTONS_MAX - 1);
    }

    if (b) {
        json_array_append_new(b, json_pack("{s:s,s:s}", "text",
                                  ngx_kefu_bot_handoff_text(bc, en),
                                  "value", NGX_KEFU_HANDOFF_VALUE));
    }

    t = json_pack("{s:o,s:s,s:o,s:O}", "from",
                  ngx_kefu_bot_from(site, en), "text", text,
                  "buttons", b ? b : json_array(), "rule", rid);

    if (t) {
        (void) ngx_kefu_bot_post(kmcf, site, conv, "b:bot", t, cid, 0, "");
        json_decref(t);
    }

    return text;
}


/* the private entry naming the rule and what it did (agents and admins) */

static json_t *
ngx_kefu_bot_fire_note(json_t *rule, json_t *a, const char *action,
    const char *text)
{
    json_t      *t, *v, *rid, *name, *line, *ruleref;
    const char  *who;

    rid = json_object_get(rule, "id");
    name = json_object_get(rule, "name");
    who = json_is_string(name) ? json_string_value(name)
                               : json_string_value(rid);

    ruleref = json_pack("{s:O}", "id", rid);
    if (ruleref && name) {
        json_object_set(ruleref, "name", name);
    }

    if (ngx_strcmp(action, "reply") == 0) {
        line = json_sprintf("Rule %s: replied \"%s\"", who, text);

    } else if (ngx_strcmp(action, "suggest") == 0) {
        line = json_sprintf("Rule %s: suggested a reply", who);

    } else if (ngx_strcmp(action, "handoff") == 0) {
        line = json_sprintf("Rule %s: handed off to a person", who);

    } else {
        /* not acted on in conversations yet (docs/automation.md) */
        line = json_sprintf("Rule %s: %s (not applied by this version)",
                            who, action);
    }

    t = json_pack("{s:{s:s},s:o,s:s,s:o,s:s}", "from", "role", "system",
                  "text", line, "event", "rule", "rule", ruleref,
                  "action", action);

    if (t && (v = json_object_get(a, "suggest"))) {
        json_object_set(t, "suggested_reply", v);
    }

    return t;
}


/*
 * Intent routing, before a visitor's message that may open a conversation
 * is stored: the group of the first conv_created rule with "route" that
 * fires on its text (NGX_OK, *out pointing into the compiled settings,
 * valid until the worker's next settings reload), else NGX_DECLINED.
 */

ngx_int_t
ngx_kefu_bot_route(ngx_kefu_site_t *site, json_t *text, ngx_str_t *group,
    ngx_uint_t hours, json_t *intent, ngx_str_t *out)
{
    json_t  *page;

    size_t                i, j;
    json_t               *fired, *r, *a, *g;
    ngx_int_t             rc;
    ngx_pool_t           *pool;
    ngx_kefu_site_rt_t   *rt = site->rt;
    ngx_kefu_bot_conf_t  *bc;
    ngx_kefu_rule_ctx_t   ctx;

    bc = rt ? rt->bot : NULL;

    if (bc == NULL || bc->nrules == 0 || !json_is_string(text)) {
        return NGX_DECLINED;
    }

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return NGX_DECLINED;
    }

    ngx_memzero(&ctx, sizeof(ngx_kefu_rule_ctx_t));
    ctx.when = NGX_KEFU_WHEN_CONV_CREATED;
    ctx.text.data = (u_char *) json_string_value(text);
    ctx.text.len = json_string_length(text);
    ctx.group = *group;
    ctx.hours = hours;

    /* attrs and page conditions too: what the connection kept of them */
    ctx.attrs = json_object_get(intent, "attrs");
    page = json_object_get(intent, "page");

    if (json_is_string(page)) {
        ctx.page.data = (u_char *) json_string_value(page);
        ctx.page.len = json_string_length(page);
    }

    fired = ngx_kefu_rules_eval(bc, &ctx, 0, pool);
    rc = NGX_DECLINED;

    json_array_foreach(fired, i, r) {
        json_array_foreach(json_object_get(r, "actions"), j, a) {
            g = json_object_get(a, "route");

            if (json_is_string(g)) {
                /* the compiled settings' own string outlives "fired" */
                out->data = (u_char *) json_string_value(g);
                out->len = json_string_length(g);
                rc = NGX_OK;
                goto done;
            }
        }
    }

done:

    json_decref(fired);
    ngx_destroy_pool(pool);

    return rc;
}


/*
 * A visitor's hello attrs or latest page (key "attrs", "page"), kept on
 * its connection only while the site's rules look at them, so that intent
 * routing sees them before its first message is stored; an idle visitor
 * of a site without such rules keeps nothing.
 */

void
ngx_kefu_bot_intent(ngx_kefu_ws_t *ws, const char *key, json_t *v)
{
    ngx_kefu_site_rt_t  *rt = ws->site ? ws->site->rt : NULL;

    if (rt == NULL || rt->bot == NULL || !rt->bot->need_visitor
        || v == NULL)
    {
        return;
    }

    if (ws->intent == NULL) {
        ws->intent = json_object();
        if (ws->intent == NULL) {
            return;
        }
    }

    (void) json_object_set(ws->intent, key, v);
}


/* a rule's private system entry into conv (ngx_kefu_rules_live.c) */

ngx_int_t
ngx_kefu_bot_rule_entry(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, json_t *entry, u_char *cid)
{
    return ngx_kefu_bot_post(kmcf, site, conv, "y:system", entry, cid, 1,
                             "rule");
}


/* an entry into conv, as the API writes one (lua/msg.lua, "service") */

ngx_int_t
ngx_kefu_bot_post(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, const char *who, json_t *tail, u_char *cid,
    ngx_uint_t priv, const char *ev)
{
    char                 *s;
    int64_t               ts;
    uint64_t              id;
    ngx_int_t             rc;
    ngx_kefu_msg_args_t   args, *kept;
    ngx_kefu_msg_argv_t   call;
    ngx_kefu_msg_eval_t   e;

    id = ngx_kefu_id_next(&kmcf->ids);

    if (id == 0 || !ngx_kefu_redis_ready(kmcf->redis)) {
        return NGX_DECLINED;
    }

    ts = ngx_kefu_now_ms();

    s = ngx_kefu_msg_entry_tail(tail, ts, (char *) cid, priv);
    if (s == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(&args, sizeof(ngx_kefu_msg_args_t));

    args.site = site->name;
    args.who.data = (u_char *) who;
    args.who.len = ngx_strlen(who);
    ngx_str_set(&args.role, "service");
    args.conv = *conv;
    args.cid.data = cid;
    args.cid.len = ngx_strlen(cid);
    args.id = id;
    args.newconv = id;
    args.ts = ts;
    ngx_str_set(&args.head, "{\"type\":\"msg\",\"conv\":\"");
    args.tail.data = (u_char *) s;
    args.tail.len = ngx_strlen(s);
    args.private = priv ? 1 : 0;
    args.group = site->default_group;
    args.group_known = 1;
    args.default_group = site->default_group;
    args.dedup_ttl = ngx_kefu_dedup_seconds(kmcf, site);
    args.visitor_ttl = ngx_kefu_visitor_seconds(site, 0);
    args.log_max = kmcf->log_max;
    ngx_str_set(&args.session, "-");
    ngx_str_set(&args.ids, "");
    args.grace = site->grace;
    args.event.data = (u_char *) ev;
    args.event.len = ngx_strlen(ev);

    ngx_kefu_msg_argv(&args, &call);
    ngx_kefu_msg_eval_args(kmcf, &args, &call, &e);

    /* in a cluster the entry's event follows from the reply: the
     * arguments are kept for it */
    kept = NULL;

    if (ngx_kefu_redis_cluster(kmcf->redis)) {
        kept = ngx_alloc(sizeof(ngx_kefu_msg_args_t)
                         + ngx_kefu_msg_args_size(&args), ngx_cycle->log);
        if (kept == NULL) {
            free(s);
            return NGX_ERROR;
        }

        *kept = args;
        (void) ngx_kefu_msg_args_copy(kept, (u_char *) (kept + 1));
    }

    rc = ngx_kefu_redis_eval(kmcf->redis, e.script, ngx_kefu_bot_posted,
                             kept, e.nkeys, e.argc, e.argv, e.lens);
    free(s);

    if (rc != NGX_OK && kept) {
        ngx_free(kept);
    }

    return rc;
}


static void
ngx_kefu_bot_posted(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_msg_args_t  *kept = data;

    if (kept) {
        ngx_kefu_msg_event(ngx_kefu_redis_main_conf(rd), kept, reply);
        ngx_free(kept);
    }

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 1
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: a rule's entry was not stored%s%s",
                      reply && reply->type == REDIS_REPLY_ERROR ? ": " : "",
                      reply && reply->type == REDIS_REPLY_ERROR
                      ? reply->str : "");

    } else if (reply->element[0]->integer == -4) {
        /*
         * closed between the action and its entry (an agent's or the
         * API's close right after the message that fired it): the entry
         * is not written into a closed conversation, as with a worker
         * that died there (docs/automation.md); nothing to warn about
         */
        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "kefu: a rule's entry was not stored: its "
                      "conversation was closed meanwhile");

    } else if (reply->element[0]->integer < 0) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: a rule's entry was not stored (%L)",
                      (int64_t) reply->element[0]->integer);
    }
}
