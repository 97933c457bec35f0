
/*
 * Rules on live conversations, the parts that need more than the stored
 * message (docs/automation.md "Rules in conversations"):
 *
 * - a run reads what the conditions need before the rules are evaluated:
 *   the conversation's group and state (lua/conv_fields.lua, its slot),
 *   then, when a rule of the site looks at attrs or the page, the
 *   visitor's record and page trail (lua/api_visitor.lua, the site's
 *   slot).  The evaluation is ngx_kefu_rules_eval(), the one rules/try
 *   uses, on the settings the worker has when the reads came back.
 * - triggers: a visitor's message (ngx_kefu_bot_run.c starts the run), a
 *   business event posted by the API (its name and data), and "waiting":
 *   a sweep on the lease tick, one worker of all hosts per group and
 *   interval (lua/rule_wait.lua marks each conversation and rule once).
 * - actions route (a transfer through routing's own path), label
 *   (lua/label.lua) and event (an entry on the site's stream): done
 *   first, then the rule's private entry says what came of it.
 *
 * A run lives in a pool of its own, freed when its last read answered;
 * nothing of it outlives that but the actions' small contexts, each freed
 * by its own reply.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_lease.h"
#include "ngx_kefu_settings.h"
#include "ngx_kefu_script_args.h"
#include "ngx_kefu_bot.h"


/* a waiting sweep: the oldest of a queue looked at, how long marks last */
#define NGX_KEFU_RULES_WAIT_LIMIT   1000
#define NGX_KEFU_RULES_WAIT_KEEP    (8 * 86400 * 1000LL)


typedef struct {
    ngx_pool_t                  *pool;
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_site_t             *site;
    ngx_uint_t                   nwhen;
    ngx_uint_t                   when[3];
    uint64_t                     seq;        /* the triggering entry's */
    ngx_uint_t                   en;
    ngx_uint_t                   closed;     /* outside business hours */
    json_t                      *msg;        /* the message (text) */
    json_t                      *event;      /* {name, data} */
    int64_t                      waited;     /* seconds */
    uint32_t                     only;       /* waiting: this rule's crc */
    ngx_uint_t                   only_set;
    ngx_str_t                    conv;
    ngx_str_t                    visitor;
    ngx_str_t                    group;
    ngx_str_t                    state;
    ngx_str_t                    page;
    json_t                      *attrs;
    ngx_uint_t                   group_read;
    ngx_str_t                    answer;     /* the bot answers after, in
                                                this state ("": it does not) */
    ngx_uint_t                   handed_off; /* a rule handed it off */
} ngx_kefu_rules_run_t;


/* an action's context, from its call to the rule's entry */
typedef struct {
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_site_t             *site;
    json_t                      *entry;      /* the private entry */
    const char                  *rule;       /* its name, else its id */
    u_char                       name[128];
    u_char                       cid[NGX_KEFU_MAX_CID_LEN + 1];
    u_char                       conv[NGX_KEFU_MAX_ID_LEN + 1];
    u_char                       target[NGX_KEFU_MAX_ID_LEN + 1];
    const char                  *labeled;    /* the line of a label given,
                                                while the record's copy is
                                                put */
} ngx_kefu_rules_act_t;


static void ngx_kefu_rules_run_read(ngx_kefu_rules_run_t *run);
static void ngx_kefu_rules_run_conv(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_rules_run_visitor(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_rules_run_eval(ngx_kefu_rules_run_t *run);
static void ngx_kefu_rules_run_free(ngx_kefu_rules_run_t *run);
static ngx_int_t ngx_kefu_rules_str(ngx_pool_t *pool, ngx_str_t *dst,
    redisReply *r);
static void ngx_kefu_rules_act_done(ngx_kefu_rules_act_t *act,
    const char *fmt, const char *what);
static void ngx_kefu_rules_act_route(ngx_kefu_rules_act_t *act,
    ngx_kefu_rule_ctx_t *rc, json_t *v, ngx_str_t *conv);
static void ngx_kefu_rules_act_label(ngx_kefu_rules_act_t *act, json_t *v,
    ngx_str_t *conv);
static void ngx_kefu_rules_act_event(ngx_kefu_rules_act_t *act,
    ngx_kefu_rule_ctx_t *rc, json_t *v, json_t *entry, ngx_str_t *conv);
static void ngx_kefu_rules_label_put(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_rules_labeled(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_rules_evented(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_rules_routed(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result);
static void ngx_kefu_rules_wait_site(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, ngx_kefu_bot_conf_t *bc);
static void ngx_kefu_rules_waited(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);


/* outside the site's business hours now (as this worker last computed) */

static ngx_uint_t
ngx_kefu_rules_closed(ngx_kefu_site_t *site)
{
    ngx_kefu_site_rt_t  *rt = site->rt;

    return rt != NULL && !rt->open;
}


static ngx_kefu_rules_run_t *
ngx_kefu_rules_run_new(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv)
{
    ngx_pool_t            *pool;
    ngx_kefu_rules_run_t  *run;

    if (conv->len == 0 || conv->len > NGX_KEFU_MAX_ID_LEN) {
        return NULL;
    }

    pool = ngx_create_pool(4096, ngx_cycle->log);
    if (pool == NULL) {
        return NULL;
    }

    run = ngx_pcalloc(pool, sizeof(ngx_kefu_rules_run_t));
    if (run == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    run->pool = pool;
    run->kmcf = kmcf;
    run->site = site;

    run->conv.data = ngx_pstrdup(pool, conv);
    if (run->conv.data == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    run->conv.len = conv->len;

    return run;
}


/* does the site have enabled rules of one of these triggers */

static ngx_uint_t
ngx_kefu_rules_wanted(ngx_kefu_site_t *site, ngx_uint_t mask)
{
    ngx_kefu_site_rt_t   *rt = site->rt;
    ngx_kefu_bot_conf_t  *bc;

    bc = rt ? rt->bot : NULL;

    return bc && (bc->when_mask & mask);
}


/*
 * A visitor's message was stored (ngx_kefu_bot_on_visitor_msg()): msg is
 * the stored entry (the run takes the reference).
 */

void
ngx_kefu_rules_on_msg(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, uint64_t seq, ngx_uint_t created, ngx_str_t *group,
    ngx_uint_t closed, ngx_uint_t en, ngx_str_t *answer, json_t *msg)
{
    ngx_uint_t             mask;
    ngx_kefu_site_rt_t    *rt = site->rt;
    ngx_kefu_rules_run_t  *run;

    mask = (1u << NGX_KEFU_WHEN_MESSAGE)
           | (closed ? 1u << NGX_KEFU_WHEN_OFFLINE : 0)
           | (created ? 1u << NGX_KEFU_WHEN_CONV_CREATED : 0);

    if (!ngx_kefu_rules_wanted(site, mask)
        || (run = ngx_kefu_rules_run_new(kmcf, site, conv)) == NULL)
    {
        if (answer) {
            ngx_kefu_bot_answer_msg(kmcf, site, conv, seq, answer, en, msg);
        }

        json_decref(msg);
        return;
    }

    if (answer) {
        run->answer.data = ngx_pstrdup(run->pool, answer);
        run->answer.len = run->answer.data ? answer->len : 0;
    }

    /* the conversation's start first: its intent routing is the run's
     * first route */
    if (created) {
        run->when[run->nwhen++] = NGX_KEFU_WHEN_CONV_CREATED;
    }

    run->when[run->nwhen++] = NGX_KEFU_WHEN_MESSAGE;

    if (closed) {
        run->when[run->nwhen++] = NGX_KEFU_WHEN_OFFLINE;
    }

    run->seq = seq;
    run->en = en;
    run->closed = closed;
    run->msg = msg;

    /*
     * Rules that look at nothing but the message, the hours and the
     * visitor's group run now, without a read: their entries follow the
     * message on the worker's link, in order.
     */
    if (!rt->bot->need_visitor && !rt->bot->need_conv) {
        run->group.data = ngx_pstrdup(run->pool, group);
        run->group.len = run->group.data ? group->len : 0;
        ngx_kefu_rules_run_eval(run);
        ngx_kefu_rules_run_free(run);
        return;
    }

    ngx_kefu_rules_run_read(run);
}


/*
 * A business event was stored into conv (the API, ngx_kefu_api_write.c;
 * not a duplicate): the site's event rules of its name, with its data.
 */

void
ngx_kefu_rules_on_event(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, uint64_t seq, json_t *name, json_t *data)
{
    ngx_kefu_rules_run_t  *run;

    if (!ngx_kefu_rules_wanted(site, 1u << NGX_KEFU_WHEN_EVENT)
        || (run = ngx_kefu_rules_run_new(kmcf, site, conv)) == NULL)
    {
        return;
    }

    run->event = json_pack("{s:O,s:O}", "name", name,
                           "data", data ? data : json_object());
    if (run->event == NULL) {
        ngx_kefu_rules_run_free(run);
        return;
    }

    run->when[run->nwhen++] = NGX_KEFU_WHEN_EVENT;
    run->seq = seq;
    run->closed = ngx_kefu_rules_closed(site);

    ngx_kefu_rules_run_read(run);
}


/* first read: the conversation's own fields, in its slot */

static void
ngx_kefu_rules_run_read(ngx_kefu_rules_run_t *run)
{
    ngx_kefu_call_t  call;
    const char      *fields[] = { "site", "visitor", "group", "state" };

    if (ngx_kefu_conv_fields_args(&call, &run->conv, fields, 4) != NGX_OK
        || ngx_kefu_redis_eval_call(run->kmcf->redis,
                                    &ngx_kefu_script_conv_fields,
                                    ngx_kefu_rules_run_conv, run, &call)
           != NGX_OK)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: rules of conversation %V not run: storage is "
                      "unavailable", &run->conv);
        ngx_kefu_rules_run_free(run);
    }
}


static void
ngx_kefu_rules_run_conv(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_rules_run_t  *run = data;

    ngx_str_t             site;
    ngx_kefu_call_t       call;
    ngx_kefu_site_rt_t   *rt;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 4
        || ngx_kefu_rules_str(run->pool, &site, reply->element[0]) != NGX_OK
        || site.len != run->site->name.len
        || ngx_strncmp(site.data, run->site->name.data, site.len) != 0
        || ngx_kefu_rules_str(run->pool, &run->visitor, reply->element[1])
           != NGX_OK
        || ngx_kefu_rules_str(run->pool, &run->group, reply->element[2])
           != NGX_OK
        || ngx_kefu_rules_str(run->pool, &run->state, reply->element[3])
           != NGX_OK)
    {
        /* gone, of another site, or storage failed: nothing to run on */
        ngx_kefu_rules_run_free(run);
        return;
    }

    run->group_read = 1;
    rt = run->site->rt;

    /* the visitor's attrs and page only when a rule looks at them */
    if (rt && rt->bot && rt->bot->need_visitor && run->visitor.len
        && ngx_kefu_api_visitor_args(&call, &run->site->name, &run->visitor)
           == NGX_OK
        && ngx_kefu_redis_eval_call(run->kmcf->redis,
                                    &ngx_kefu_script_api_visitor,
                                    ngx_kefu_rules_run_visitor, run, &call)
           == NGX_OK)
    {
        return;
    }

    ngx_kefu_rules_run_eval(run);
    ngx_kefu_rules_run_free(run);
}


/* {hash as field/value list, pages oldest first} */

static void
ngx_kefu_rules_run_visitor(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_rules_run_t  *run = data;

    size_t       i;
    json_t      *p, *url;
    redisReply  *h, *pages, *last;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_ARRAY
        && reply->element[1]->type == REDIS_REPLY_ARRAY)
    {
        h = reply->element[0];
        pages = reply->element[1];

        for (i = 0; i + 1 < h->elements; i += 2) {
            if (h->element[i]->type == REDIS_REPLY_STRING
                && h->element[i]->len == 5
                && ngx_strncmp(h->element[i]->str, "attrs", 5) == 0
                && h->element[i + 1]->type == REDIS_REPLY_STRING)
            {
                run->attrs = json_loadb(h->element[i + 1]->str,
                                        h->element[i + 1]->len, 0, NULL);
            }
        }

        /* the latest page is where the visitor is */
        last = pages->elements ? pages->element[pages->elements - 1] : NULL;

        if (last && last->type == REDIS_REPLY_STRING) {
            p = json_loadb(last->str, last->len, 0, NULL);
            url = json_object_get(p, "url");

            if (json_is_string(url)) {
                run->page.len = json_string_length(url);
                run->page.data = ngx_pnalloc(run->pool, run->page.len + 1);

                if (run->page.data) {
                    ngx_memcpy(run->page.data, json_string_value(url),
                               run->page.len);

                } else {
                    run->page.len = 0;
                }
            }

            json_decref(p);
        }
    }

    ngx_kefu_rules_run_eval(run);
    ngx_kefu_rules_run_free(run);
}


/* the reads came: the rules as the worker has them now, each fired */

static void
ngx_kefu_rules_run_eval(ngx_kefu_rules_run_t *run)
{
    size_t                i;
    json_t               *fired, *r, *text, *lang;
    uint32_t              crc;
    ngx_uint_t            k;
    const char           *id;
    ngx_kefu_site_rt_t   *rt;
    ngx_kefu_bot_conf_t  *bc;
    ngx_kefu_rule_ctx_t   ctx;

    rt = run->site->rt;
    bc = rt ? rt->bot : NULL;

    if (bc == NULL || bc->nrules == 0) {
        return;
    }

    ngx_memzero(&ctx, sizeof(ngx_kefu_rule_ctx_t));
    ctx.group_read = run->group_read;

    text = json_object_get(run->msg, "text");

    if (json_is_string(text)) {
        ctx.text.data = (u_char *) json_string_value(text);
        ctx.text.len = json_string_length(text);
    }

    ctx.attrs = run->attrs;
    ctx.page = run->page;
    ctx.group = run->group;
    ctx.state = run->state.len ? (const char *) run->state.data : NULL;
    ctx.hours = !run->closed;
    ctx.waited = run->waited;

    if (run->event) {
        ctx.event = json_string_value(json_object_get(run->event, "name"));
        ctx.data = json_object_get(run->event, "data");
    }

    /* a visitor's language where the message did not tell it */
    lang = json_object_get(run->attrs, "lang");

    if (run->msg == NULL && json_is_string(lang)
        && ngx_strncmp(json_string_value(lang), "en", 2) == 0)
    {
        run->en = 1;
    }

    for (k = 0; k < run->nwhen; k++) {
        ctx.when = run->when[k];

        fired = ngx_kefu_rules_eval(bc, &ctx, 0, run->pool);

        json_array_foreach(fired, i, r) {
            id = json_string_value(json_object_get(r, "id"));

            if (run->only_set) {
                crc = ngx_crc32_short((u_char *) id, ngx_strlen(id));

                if (crc != run->only) {
                    continue;
                }
            }

            ngx_kefu_bot_fire(run->kmcf, run->site, &run->conv, run->seq,
                              ctx.when, run->en, r, &ctx);
        }

        json_decref(fired);
    }

    run->handed_off = ctx.handed_off;
}


static void
ngx_kefu_rules_run_free(ngx_kefu_rules_run_t *run)
{
    /* the bot's answer comes after the rules of the message, never after
     * one that handed the conversation to a person */
    if (run->answer.len && !run->handed_off && run->msg) {
        ngx_kefu_bot_answer_msg(run->kmcf, run->site, &run->conv, run->seq,
                                &run->answer, run->en, run->msg);
    }

    json_decref(run->msg);
    json_decref(run->event);
    json_decref(run->attrs);
    ngx_destroy_pool(run->pool);
}


/* a bulk string into the pool, NUL-terminated ("" for nil) */

static ngx_int_t
ngx_kefu_rules_str(ngx_pool_t *pool, ngx_str_t *dst, redisReply *r)
{
    if (r->type == REDIS_REPLY_NIL) {
        ngx_str_set(dst, "");
        return NGX_OK;
    }

    if (r->type != REDIS_REPLY_STRING || r->len > NGX_KEFU_MAX_ID_LEN) {
        return NGX_ERROR;
    }

    dst->data = ngx_pnalloc(pool, r->len + 1);
    if (dst->data == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, r->str, r->len);
    dst->data[r->len] = '\0';
    dst->len = r->len;

    return NGX_OK;
}


/*
 * Actions that change something (ngx_kefu_bot_fire()): route, label,
 * event.  entry is the rule's private entry without its text, cid its
 * cid; the action is done first, then the entry says what came of it.
 * NGX_DECLINED: not one of these.
 */

ngx_int_t
ngx_kefu_rules_act(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, ngx_kefu_rule_ctx_t *rc, json_t *rule, json_t *a,
    json_t *entry, u_char *cid)
{
    json_t                *v, *name;
    ngx_kefu_rules_act_t  *act;

    if (!(v = json_object_get(a, "route")) && !(v = json_object_get(a, "label"))
        && !(v = json_object_get(a, "event")))
    {
        return NGX_DECLINED;
    }

    act = ngx_calloc(sizeof(ngx_kefu_rules_act_t), ngx_cycle->log);
    if (act == NULL || conv->len > NGX_KEFU_MAX_ID_LEN) {
        ngx_free(act);
        return NGX_OK;
    }

    act->kmcf = kmcf;
    act->site = site;
    act->entry = json_incref(entry);
    name = json_object_get(rule, "name");
    name = json_is_string(name) ? name : json_object_get(rule, "id");
    ngx_cpystrn(act->name, (u_char *) json_string_value(name),
                ngx_min(json_string_length(name) + 1, sizeof(act->name)));
    act->rule = (const char *) act->name;
    ngx_cpystrn(act->cid, cid, sizeof(act->cid));
    ngx_cpystrn(act->conv, conv->data, conv->len + 1);

    if (json_object_get(a, "route")) {
        ngx_kefu_rules_act_route(act, rc, v, conv);

    } else if (json_object_get(a, "label")) {
        ngx_kefu_rules_act_label(act, v, conv);

    } else {
        ngx_kefu_rules_act_event(act, rc, v, entry, conv);
    }

    return NGX_OK;
}


/* route: a transfer to the rule's group, once per run */

static void
ngx_kefu_rules_act_route(ngx_kefu_rules_act_t *act, ngx_kefu_rule_ctx_t *rc,
    json_t *v, ngx_str_t *conv)
{
    ngx_str_t              target;
    ngx_kefu_actor_t       actor;
    ngx_kefu_route_args_t  args;

    target.data = (u_char *) json_string_value(v);
    target.len = json_string_length(v);
    ngx_cpystrn(act->target, target.data,
                ngx_min(target.len + 1, sizeof(act->target)));

    /* the first route of a run; a new conversation's was its intent
     * routing (it is in that group already) */
    if (rc->routed) {
        ngx_kefu_rules_act_done(act, "Rule %s: not routed to %s: an "
                                "earlier rule routed it", NULL);
        return;
    }

    rc->routed = 1;

    if (rc->when == NGX_KEFU_WHEN_CONV_CREATED
        && (!rc->group_read
            || (rc->group.len == target.len
                && ngx_strncmp(rc->group.data, target.data, target.len)
                   == 0)))
    {
        ngx_kefu_rules_act_done(act, "Rule %s: routed to %s", NULL);
        return;
    }

    ngx_memzero(&actor, sizeof(ngx_kefu_actor_t));
    actor.site = act->site;
    ngx_str_set(&actor.id, "rule");
    actor.name.data = (u_char *) act->rule;
    actor.name.len = act->rule ? ngx_strlen(act->rule) : 0;
    actor.role = NGX_KEFU_ROLE_ADMIN;
    actor.supervisor = 1;

    ngx_memzero(&args, sizeof(ngx_kefu_route_args_t));
    args.conv.data = act->conv;
    args.conv.len = conv->len;
    args.group = target;
    args.queued = 1;

    ngx_kefu_route_transfer(act->kmcf, &actor, &args, ngx_kefu_rules_routed,
                            act);
}


static void
ngx_kefu_rules_act_label(ngx_kefu_rules_act_t *act, json_t *v, ngx_str_t *conv)
{
    ngx_str_t        target;
    ngx_kefu_call_t  call;

    ngx_cpystrn(act->target, (u_char *) json_string_value(v),
                ngx_min(json_string_length(v) + 1, sizeof(act->target)));
    target.data = act->target;
    target.len = ngx_strlen(act->target);

    if (ngx_kefu_label_args(&call, &act->site->name, conv, &target,
                            NGX_KEFU_LABELS_MAX) != NGX_OK
        || ngx_kefu_redis_eval_call(act->kmcf->redis, &ngx_kefu_script_label,
                                    ngx_kefu_rules_labeled, act, &call)
           != NGX_OK)
    {
        ngx_kefu_rules_act_done(act, "Rule %s: not labeled %s: storage "
                                "is unavailable", NULL);
    }
}


static void
ngx_kefu_rules_act_event(ngx_kefu_rules_act_t *act, ngx_kefu_rule_ctx_t *rc,
    json_t *v, json_t *entry, ngx_str_t *conv)
{
    char        *s;
    size_t       lens[16];
    json_t      *ev;
    const char  *argv[16];
    u_char       ts[NGX_INT64_LEN], key[64 + NGX_KEFU_MAX_ID_LEN];

    /* event: {"rule": {"id", "name"?}, "name", "data", "trigger", "seq"?}
     * on the site's stream, event "rule.event" */
    ngx_cpystrn(act->target,
                (u_char *) json_string_value(json_object_get(v, "name")),
                sizeof(act->target));

    ev = json_pack("{s:O,s:O,s:O}", "rule", json_object_get(entry, "rule"),
                   "name", json_object_get(v, "name"),
                   "data", json_object_get(v, "data")
                           ? json_object_get(v, "data") : json_null());
    if (ev && rc->event) {
        json_object_set_new(ev, "trigger", json_pack("{s:s,s:O}", "event",
                                   rc->event, "data",
                                   rc->data ? rc->data : json_null()));
    }

    s = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
    json_decref(ev);

    if (s == NULL) {
        ngx_kefu_rules_act_done(act, "Rule %s: no event %s: out of memory",
                                NULL);
        return;
    }

    argv[0] = "XADD";
    argv[1] = (char *) key;
    lens[1] = ngx_snprintf(key, sizeof(key), "kefu:{s:%V}:events",
                           &act->site->name) - key;
    argv[2] = "MAXLEN";
    argv[3] = "~";
    argv[4] = "100000";
    argv[5] = "*";
    argv[6] = "event";
    argv[7] = "rule.event";
    argv[8] = "conv";
    argv[9] = (char *) act->conv;
    argv[10] = "seq";
    argv[11] = "";                  /* not a log entry */
    argv[12] = "ts";
    argv[13] = (char *) ts;
    argv[14] = "data";
    argv[15] = s;

    lens[0] = 4;
    lens[2] = 6;
    lens[3] = 1;
    lens[4] = 6;
    lens[5] = 1;
    lens[6] = 5;
    lens[7] = 10;
    lens[8] = 4;
    lens[9] = conv->len;
    lens[10] = 3;
    lens[11] = 0;
    lens[12] = 2;
    lens[13] = ngx_sprintf(ts, "%L", ngx_kefu_now_ms()) - ts;
    lens[14] = 4;
    lens[15] = ngx_strlen(s);

    if (ngx_kefu_redis_command(act->kmcf->redis, ngx_kefu_rules_evented,
                               act, 16, argv, lens)
        != NGX_OK)
    {
        ngx_kefu_rules_act_done(act, "Rule %s: no event %s: storage is "
                                "unavailable", NULL);
    }

    free(s);
}


/* the entry, its text the rule's name and the target in fmt */

static void
ngx_kefu_rules_act_done(ngx_kefu_rules_act_t *act, const char *fmt,
    const char *what)
{
    json_t     *line;
    ngx_str_t   conv;

    line = what ? json_sprintf(fmt, act->rule, act->target,
                               what)
                : json_sprintf(fmt, act->rule, act->target);

    if (line && act->entry) {
        json_object_set_new(act->entry, "text", line);
        conv.data = act->conv;
        conv.len = ngx_strlen(act->conv);
        (void) ngx_kefu_bot_rule_entry(act->kmcf, act->site, &conv,
                                       act->entry, act->cid);

    } else {
        json_decref(line);
    }

    json_decref(act->entry);
    ngx_free(act);
}


/* {0 added | 1 had it | -4 at most reached, labels} or {-2, ""} */

static void
ngx_kefu_rules_labeled(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_rules_act_t  *act = data;

    int64_t          code;
    ngx_str_t        labels, conv;
    ngx_kefu_call_t  call;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER)
    {
        ngx_kefu_rules_act_done(act, "Rule %s: not labeled %s: storage is "
                                "unavailable", NULL);
        return;
    }

    code = reply->element[0]->integer;
    act->labeled = code ? "Rule %s: labeled %s (it was)"
                        : "Rule %s: labeled %s";

    if ((code == 0 || code == 1)
        && reply->element[1]->type == REDIS_REPLY_STRING
        && ngx_kefu_redis_cluster(rd))
    {
        /* routing's record, in the site's slot, gets a copy for its
         * notices; "it was" also mends a copy a dying worker left out */
        labels.data = (u_char *) reply->element[1]->str;
        labels.len = reply->element[1]->len;
        conv.data = act->conv;
        conv.len = ngx_strlen(act->conv);

        if (ngx_kefu_label_put_args(&call, &act->site->name, &conv, &labels)
            == NGX_OK
            && ngx_kefu_redis_eval_call(act->kmcf->redis,
                                        &ngx_kefu_script_label_put,
                                        ngx_kefu_rules_label_put, act, &call)
               == NGX_OK)
        {
            return;
        }
    }

    if (code == 0 || code == 1) {
        ngx_kefu_rules_act_done(act, act->labeled, NULL);

    } else if (code == -4) {
        ngx_kefu_rules_act_done(act, "Rule %s: not labeled %s: the "
                                "conversation has 20 labels", NULL);

    } else {
        /* no conversation of the site: nothing to write the entry into */
        json_decref(act->entry);
        ngx_free(act);
    }
}


/* the record's copy is for routing's notices: the label is given anyway */

static void
ngx_kefu_rules_label_put(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_rules_act_t  *act = data;

    ngx_kefu_rules_act_done(act, act->labeled, NULL);
}


static void
ngx_kefu_rules_evented(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_rules_act_t  *act = data;

    if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
        ngx_kefu_rules_act_done(act, "Rule %s: no event %s: storage is "
                                "unavailable", NULL);
        return;
    }

    ngx_kefu_rules_act_done(act, "Rule %s: posted event %s", NULL);
}


static void
ngx_kefu_rules_routed(ngx_kefu_main_conf_t *kmcf, void *data,
    ngx_int_t code, const char *message, json_t *result)
{
    ngx_kefu_rules_act_t  *act = data;

    if (code == NGX_KEFU_ROUTE_OK || code == NGX_KEFU_ROUTE_NOOP) {
        ngx_kefu_rules_act_done(act, "Rule %s: transferred to %s", NULL);
        return;
    }

    ngx_kefu_rules_act_done(act, "Rule %s: not transferred to %s: %s",
                            message ? message : "the transfer failed");
}


/*
 * The waiting trigger, on the lease tick (ngx_kefu_lease.c) for every
 * site: one sweep call per group whose queue may hold conversations that
 * waited long enough (the default group, the settings' groups).
 */

void
ngx_kefu_rules_wait(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site)
{
    ngx_kefu_site_rt_t   *rt = site->rt;
    ngx_kefu_bot_conf_t  *bc;

    bc = rt ? rt->bot : NULL;

    if (bc == NULL || !(bc->when_mask & (1u << NGX_KEFU_WHEN_WAITING))
        || !ngx_kefu_redis_ready(kmcf->redis))
    {
        return;
    }

    ngx_kefu_rules_wait_site(kmcf, site, bc);
}


static void
ngx_kefu_rules_wait_site(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_kefu_bot_conf_t *bc)
{
    u_char            *p, *last, *buf;
    size_t             i;
    json_t            *groups, *g;
    uint32_t           crc;
    ngx_str_t          rules, group, holder;
    ngx_uint_t         k;
    ngx_kefu_call_t    call;
    ngx_kefu_rule_t   *rule;

    /* "<crc>:<seconds> " per enabled waiting rule */
    buf = ngx_alloc(bc->nrules * (8 + 1 + NGX_INT64_LEN + 1) + 1,
                    ngx_cycle->log);
    if (buf == NULL) {
        return;
    }

    p = buf;
    last = buf + bc->nrules * (8 + 1 + NGX_INT64_LEN + 1);

    for (k = 0; k < bc->nrules; k++) {
        rule = &bc->rule[k];

        if (!rule->enabled || rule->when != NGX_KEFU_WHEN_WAITING) {
            continue;
        }

        crc = ngx_crc32_short((u_char *) rule->id, ngx_strlen(rule->id));
        p = ngx_slprintf(p, last, "%08xD:%L ", crc, rule->seconds);
    }

    rules.data = buf;
    rules.len = p - buf;

    holder.data = ngx_kefu_lease_token(kmcf);
    holder.len = 16;

    groups = json_object_get(((ngx_kefu_site_rt_t *) site->rt)->doc,
                             "groups");

    for (i = 0; ; i++) {
        if (i == 0) {
            group = site->default_group;

        } else {
            if (!json_is_array(groups) || i > json_array_size(groups)) {
                break;
            }

            g = json_object_get(json_array_get(groups, i - 1), "name");

            if (!json_is_string(g)
                || (json_string_length(g) == site->default_group.len
                    && ngx_strncmp(json_string_value(g),
                                   site->default_group.data,
                                   site->default_group.len) == 0))
            {
                continue;
            }

            group.data = (u_char *) json_string_value(g);
            group.len = json_string_length(g);
        }

        if (ngx_kefu_rule_wait_args(&call, &site->name, &group,
                                    ngx_kefu_now_ms(),
                                    ngx_max(kmcf->lease_time / 3, 1),
                                    NGX_KEFU_RULES_WAIT_LIMIT,
                                    NGX_KEFU_RULES_WAIT_KEEP, &holder, &rules)
            != NGX_OK)
        {
            continue;
        }

        (void) ngx_kefu_redis_eval_call(kmcf->redis,
                                        &ngx_kefu_script_rule_wait,
                                        ngx_kefu_rules_waited, site, &call);
    }

    ngx_free(buf);
}


/* {conv, crc, waited seconds, ...}: each a run of that one rule */

static void
ngx_kefu_rules_waited(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_site_t  *site = data;

    size_t                 i;
    ngx_str_t              conv;
    redisReply           **e;
    ngx_kefu_rules_run_t  *run;
    ngx_kefu_main_conf_t  *kmcf;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        return;
    }

    kmcf = ngx_kefu_redis_main_conf(rd);
    e = reply->element;

    for (i = 0; i + 2 < reply->elements; i += 3) {
        if (e[i]->type != REDIS_REPLY_STRING
            || e[i + 1]->type != REDIS_REPLY_STRING
            || e[i + 2]->type != REDIS_REPLY_STRING)
        {
            continue;
        }

        conv.data = (u_char *) e[i]->str;
        conv.len = e[i]->len;

        run = ngx_kefu_rules_run_new(kmcf, site, &conv);
        if (run == NULL) {
            continue;
        }

        run->when[run->nwhen++] = NGX_KEFU_WHEN_WAITING;
        run->only_set = 1;
        run->only = (uint32_t) ngx_hextoi((u_char *) e[i + 1]->str,
                                          e[i + 1]->len);
        run->waited = ngx_atoi((u_char *) e[i + 2]->str, e[i + 2]->len);
        run->closed = ngx_kefu_rules_closed(site);

        ngx_kefu_rules_run_read(run);
    }
}
