
/*
 * Site settings (docs/api.md, "Site settings"): the document's schema, the
 * defaults from nginx.conf, and each worker's copy of every site's
 * effective settings.
 *
 * Redis holds kefu:{s:<site>}:settings (hash: doc, version, updated, by).
 * A write bumps the version and publishes "<site> <version>" on the
 * channel of the same name (in the hash's slot), to which every worker of
 * every host subscribes once per site: each reloads that one site's
 * document (one HMGET), so a change takes effect everywhere within a round
 * trip, with no polling.  A worker whose Redis link comes back reloads
 * every site, as it may have missed a notice.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_settings.h"
#include "ngx_kefu_canned.h"
#include "ngx_kefu_ws.h"
#include "ngx_kefu_app.h"


#define NGX_KEFU_SETTINGS_TEXT_MAX   2000
#define NGX_KEFU_SETTINGS_LABEL_MAX  64
#define NGX_KEFU_SETTINGS_GROUPS     100
#define NGX_KEFU_AVAIL_RECHECK       100     /* ms: presence bursts */


static ngx_int_t ngx_kefu_settings_texts(json_t *v, ngx_str_t *field,
    ngx_str_t *err, ngx_uint_t max, const char *name, const char **keys);
static json_t *ngx_kefu_settings_builtin(void);
static ngx_int_t ngx_kefu_settings_check_keys(json_t *doc, ngx_pool_t *pool,
    ngx_str_t *field, ngx_str_t *err);
static ngx_int_t ngx_kefu_settings_check_texts(json_t *v, ngx_str_t *field,
    ngx_str_t *err);
static ngx_int_t ngx_kefu_settings_check_groups(json_t *v, ngx_pool_t *pool,
    ngx_str_t *field, ngx_str_t *err);
static ngx_int_t ngx_kefu_settings_check_widget(json_t *v, ngx_str_t *field,
    ngx_str_t *err);
static ngx_int_t ngx_kefu_settings_check_contact(json_t *v, ngx_str_t *field,
    ngx_str_t *err);
static void ngx_kefu_settings_apply(ngx_kefu_site_rt_t *rt, json_t *stored,
    int64_t version);
static void ngx_kefu_settings_load(ngx_kefu_site_rt_t *rt);
static void ngx_kefu_settings_loaded(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_settings_recheck(ngx_event_t *ev);
static void ngx_kefu_settings_online(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_settings_tick(ngx_event_t *ev);
static void ngx_kefu_settings_tick_arm(ngx_kefu_site_rt_t *rt);
static ngx_int_t ngx_kefu_settings_ws_check(ngx_kefu_ws_t *ws, json_t *v,
    const char *cid);
static void ngx_kefu_settings_ws_put(ngx_kefu_ws_t *ws, json_t *v, char *doc,
    const char *cid);
static void ngx_kefu_settings_stored(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);


static const char  *ngx_kefu_settings_keys[] = {
    "hours", "texts", "groups", "widget", "contact", "canned", "bot", "faq",
    "rules", "idle_close", NULL
};

/* kept for later versions: refused until they are implemented */
static const char  *ngx_kefu_settings_reserved[] = {
    NULL
};

static const char  *ngx_kefu_langs[] = { "zh", "en", NULL };
static const char  *ngx_kefu_text_keys[] = { "welcome", "offline", NULL };


#define ngx_kefu_settings_fail(f, e)                                          \
    do { ngx_str_set(field, f); ngx_str_set(err, e); return NGX_DECLINED; }   \
    while (0)


/*
 * The whole document, as stored (defaults fill in what it leaves out).
 * field gets the path of the first offending field ("hours.weekly.mon",
 * "groups[2].name"), err what is wrong with it.
 */

ngx_int_t
ngx_kefu_settings_check(json_t *doc, ngx_pool_t *pool, ngx_log_t *log,
    ngx_str_t *field, ngx_str_t *err)
{
    json_t  *v;

    if (!json_is_object(doc)) {
        ngx_kefu_settings_fail("settings", "must be a JSON object");
    }

    if (ngx_kefu_settings_check_keys(doc, pool, field, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    v = json_object_get(doc, "hours");

    if (v && !json_is_null(v)
        && ngx_kefu_hours_check(v, pool, log, field, err, NULL) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    v = json_object_get(doc, "texts");

    if (v && ngx_kefu_settings_check_texts(v, field, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    v = json_object_get(doc, "groups");

    if (v && ngx_kefu_settings_check_groups(v, pool, field, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    v = json_object_get(doc, "widget");

    if (v && ngx_kefu_settings_check_widget(v, field, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    /* canned: [{"key", "title", "text"}] (ngx_kefu_canned.c) */
    v = json_object_get(doc, "canned");

    if (v && ngx_kefu_canned_check(v, pool, field, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    /* bot, faq, rules (ngx_kefu_bot_conf.c) */
    if (ngx_kefu_bot_check(doc, pool, field, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    /* idle_close: seconds without a message before the sweep closes an
     * open conversation (ngx_kefu_idle.c); 0: never */
    v = json_object_get(doc, "idle_close");

    if (v && !(json_is_integer(v)
               && (json_integer_value(v) == 0
                   || (json_integer_value(v) >= NGX_KEFU_IDLE_CLOSE_MIN
                       && json_integer_value(v) <= NGX_KEFU_IDLE_CLOSE_MAX))))
    {
        ngx_kefu_settings_fail("idle_close", "must be a whole number of "
                               "seconds from 60 to 2592000 (30 days), or 0 "
                               "(never)");
    }

    v = json_object_get(doc, "contact");

    if (v && ngx_kefu_settings_check_contact(v, field, err) != NGX_OK) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the document's fields are all known ones */

static ngx_int_t
ngx_kefu_settings_check_keys(json_t *doc, ngx_pool_t *pool, ngx_str_t *field,
    ngx_str_t *err)
{
    json_t      *v;
    ngx_uint_t   k;
    const char  *key;

    json_object_foreach(doc, key, v) {
        for (k = 0; ngx_kefu_settings_keys[k]; k++) {
            if (ngx_strcmp(key, ngx_kefu_settings_keys[k]) == 0) {
                break;
            }
        }

        if (ngx_kefu_settings_keys[k]) {
            continue;
        }

        field->len = ngx_strlen(key);
        field->data = ngx_pnalloc(pool, field->len + 1);
        if (field->data) {
            ngx_memcpy(field->data, key, field->len + 1);
        }

        for (k = 0; ngx_kefu_settings_reserved[k]; k++) {
            if (ngx_strcmp(key, ngx_kefu_settings_reserved[k]) == 0) {
                ngx_str_set(err, "is reserved for a later version");
                return NGX_DECLINED;
            }
        }

        ngx_str_set(err, "is not a settings field (hours, texts, groups, "
                    "widget, contact, canned, bot, faq, rules, idle_close)");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* texts: {"zh": {"welcome", "offline"}, "en": {...}} */

static ngx_int_t
ngx_kefu_settings_check_texts(json_t *v, ngx_str_t *field, ngx_str_t *err)
{
    json_t      *x;
    ngx_uint_t   k;
    const char  *key;

    if (!json_is_object(v)) {
        ngx_kefu_settings_fail("texts", "must be an object: \"zh\" and "
                               "\"en\", each {\"welcome\", \"offline\"}");
    }

    json_object_foreach(v, key, x) {
        for (k = 0; ngx_kefu_langs[k]; k++) {
            if (ngx_strcmp(key, ngx_kefu_langs[k]) == 0) {
                break;
            }
        }

        if (ngx_kefu_langs[k] == NULL) {
            ngx_kefu_settings_fail("texts", "has a language other than "
                                   "zh and en");
        }

        if (ngx_kefu_settings_texts(x, field, err,
                                    NGX_KEFU_SETTINGS_TEXT_MAX,
                                    k == 0 ? "texts.zh" : "texts.en",
                                    ngx_kefu_text_keys)
            != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* groups: [{"name": "presales", "label": {"zh": .., "en": ..}}] */

static ngx_int_t
ngx_kefu_settings_check_groups(json_t *v, ngx_pool_t *pool, ngx_str_t *field,
    ngx_str_t *err)
{
    size_t       i;
    json_t      *g, *x;
    const char  *key, *s;
    const char  *label_keys[] = { "name", "label", NULL };

    if (!json_is_array(v) || json_array_size(v) > NGX_KEFU_SETTINGS_GROUPS) {
        ngx_kefu_settings_fail("groups", "must be an array of at most 100 "
                               "{\"name\", \"label\"}");
    }

    json_array_foreach(v, i, g) {
        x = json_is_object(g) ? json_object_get(g, "name") : NULL;
        s = json_is_string(x) ? json_string_value(x) : "";

        if (json_is_object(g)) {
            json_object_foreach(g, key, x) {
                if (ngx_strcmp(key, label_keys[0]) != 0
                    && ngx_strcmp(key, label_keys[1]) != 0)
                {
                    g = NULL;
                    break;
                }
            }
        }

        if (g == NULL || ngx_strlen(s) > 64
            || ngx_kefu_valid_id((u_char *) s, ngx_strlen(s)) != NGX_OK
            || ngx_strchr(s, ':')
            || (json_object_get(g, "label")
                && ngx_kefu_settings_texts(json_object_get(g, "label"),
                                           field, err,
                                           NGX_KEFU_SETTINGS_LABEL_MAX,
                                           "label", ngx_kefu_langs)
                   != NGX_OK))
        {
            field->data = ngx_pnalloc(pool, 32);
            if (field->data) {
                field->len = ngx_sprintf(field->data, "groups[%uz]", i)
                             - field->data;
            }
            ngx_str_set(err, "must be {\"name\": a group name (1-64 of "
                        "[A-Za-z0-9._@-]), \"label\": {\"zh\", \"en\"} "
                        "(at most 64 bytes each)}");
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* widget: {"color", "title": {"zh", "en"}, "hide_outside_hours"} */

static ngx_int_t
ngx_kefu_settings_check_widget(json_t *v, ngx_str_t *field, ngx_str_t *err)
{
    json_t      *x;
    const char  *key, *s;

    if (!json_is_object(v)) {
        ngx_kefu_settings_fail("widget", "must be an object");
    }

    json_object_foreach(v, key, x) {
        if (ngx_strcmp(key, "color") == 0) {
            s = json_is_string(x) ? json_string_value(x) : "";

            if ((ngx_strlen(s) != 7 && ngx_strlen(s) != 4) || s[0] != '#'
                || ngx_hextoi((u_char *) s + 1, ngx_strlen(s) - 1)
                   == NGX_ERROR)
            {
                ngx_kefu_settings_fail("widget.color", "must be a colour "
                                       "#rgb or #rrggbb");
            }

        } else if (ngx_strcmp(key, "title") == 0) {
            if (ngx_kefu_settings_texts(x, field, err,
                                        NGX_KEFU_SETTINGS_LABEL_MAX,
                                        "widget.title", ngx_kefu_langs)
                != NGX_OK)
            {
                return NGX_DECLINED;
            }

        } else if (ngx_strcmp(key, "hide_outside_hours") == 0) {
            if (!json_is_boolean(x)) {
                ngx_kefu_settings_fail("widget.hide_outside_hours",
                                       "must be true or false");
            }

        } else {
            ngx_kefu_settings_fail("widget", "has a field other than "
                                   "color, title, hide_outside_hours");
        }
    }

    return NGX_OK;
}


/* contact: {"ask": bool, "required": bool} */

static ngx_int_t
ngx_kefu_settings_check_contact(json_t *v, ngx_str_t *field, ngx_str_t *err)
{
    json_t      *x;
    const char  *key;

    if (!json_is_object(v)) {
        ngx_kefu_settings_fail("contact", "must be an object");
    }

    json_object_foreach(v, key, x) {
        if (ngx_strcmp(key, "ask") == 0) {
            if (!json_is_boolean(x)) {
                ngx_kefu_settings_fail("contact.ask", "must be true or "
                                       "false");
            }

        } else if (ngx_strcmp(key, "required") == 0) {
            if (!json_is_boolean(x)) {
                ngx_kefu_settings_fail("contact.required", "must be true "
                                       "or false");
            }

        } else {
            ngx_kefu_settings_fail("contact", "has a field other than "
                                   "ask, required");
        }
    }

    return NGX_OK;
}


/* an object of bounded strings whose keys are among keys */

static ngx_int_t
ngx_kefu_settings_texts(json_t *v, ngx_str_t *field, ngx_str_t *err,
    ngx_uint_t max, const char *name, const char **keys)
{
    json_t      *x;
    ngx_uint_t   k;
    const char  *key;

    field->data = (u_char *) name;
    field->len = ngx_strlen(name);

    if (!json_is_object(v)) {
        ngx_str_set(err, "must be an object of strings");
        return NGX_DECLINED;
    }

    json_object_foreach(v, key, x) {
        for (k = 0; keys[k]; k++) {
            if (ngx_strcmp(key, keys[k]) == 0) {
                break;
            }
        }

        if (keys[k] == NULL) {
            ngx_str_set(err, "has an unknown field");
            return NGX_DECLINED;
        }

        if (!json_is_string(x) || json_string_length(x) > max) {
            ngx_str_set(err, "must hold strings (bounded in length)");
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/*
 * What a site has before anyone set anything.  No greeting: the widget
 * shows its own until the shop writes one (which then also opens each new
 * conversation as its first entry).
 */

static json_t *
ngx_kefu_settings_builtin(void)
{
    return json_pack("{s:n,s:{s:{s:s,s:s},s:{s:s,s:s}},s:[],"
                     "s:{s:s,s:b},s:{s:b,s:b},s:[],s:I}",
                     "hours",
                     "texts",
                       "zh",
                         "welcome", "",
                         "offline", "现在没有客服在线。请留言并留下联系方式，"
                                    "我们会尽快回复您。",
                       "en",
                         "welcome", "",
                         "offline", "Nobody can answer right now. Leave a "
                                    "message and your contact details, and "
                                    "we will get back to you.",
                     "groups",
                     "widget", "color", "#1677ff", "hide_outside_hours", 0,
                     "contact", "ask", 1, "required", 0,
                     "canned",
                     "idle_close", (json_int_t) NGX_KEFU_IDLE_CLOSE_DEFAULT);
}


/*
 * The effective document: built-in, then the site's defaults
 * (nginx.conf), then what is stored; each top-level field replaces the
 * one before, except texts, widget and contact, merged one level down.
 */

json_t *
ngx_kefu_settings_merge(ngx_kefu_site_t *site, json_t *stored)
{
    json_t      *doc, *layer, *v, *cur, *lv;
    ngx_uint_t   i;
    const char  *key, *lang;

    doc = ngx_kefu_settings_builtin();
    if (doc == NULL) {
        return NULL;
    }

    for (i = 0; i < 2; i++) {
        layer = i == 0 ? site->settings : stored;

        if (!json_is_object(layer)) {
            continue;
        }

        /* a copy: the layers themselves are never changed */
        layer = json_deep_copy(layer);
        if (layer == NULL) {
            json_decref(doc);
            return NULL;
        }

        json_object_foreach(layer, key, v) {
            cur = json_object_get(doc, key);

            if (ngx_strcmp(key, "texts") == 0 && json_is_object(cur)
                && json_is_object(v))
            {
                /* a shop may set only texts.zh.offline */
                json_object_foreach(v, lang, lv) {
                    if (json_is_object(json_object_get(cur, lang))) {
                        (void) json_object_update(json_object_get(cur, lang),
                                                  lv);

                    } else {
                        (void) json_object_set(cur, lang, lv);
                    }
                }

            } else if ((ngx_strcmp(key, "widget") == 0
                        || ngx_strcmp(key, "contact") == 0)
                       && json_is_object(cur) && json_is_object(v))
            {
                (void) json_object_update(cur, v);

            } else {
                (void) json_object_set(doc, key, v);
            }
        }

        json_decref(layer);
    }

    return doc;
}


/* the part of the settings visitors' widgets use */

json_t *
ngx_kefu_settings_public(ngx_kefu_site_t *site)
{
    ngx_kefu_site_rt_t  *rt = site->rt;

    if (rt == NULL || rt->doc == NULL) {
        return json_object();
    }

    return json_pack("{s:O,s:O,s:O}",
                     "widget", json_object_get(rt->doc, "widget"),
                     "contact", json_object_get(rt->doc, "contact"),
                     "groups", json_object_get(rt->doc, "groups"));
}


/*
 * A group the site declares: its default group or one of its settings'
 * groups.  Groups in agents' token claims are known in Redis only: the
 * script that opens a conversation looks there for any other name.
 */

ngx_uint_t
ngx_kefu_settings_group_known(ngx_kefu_site_t *site, ngx_str_t *group)
{
    size_t               i;
    json_t              *g, *name;
    ngx_kefu_site_rt_t  *rt = site->rt;

    if (group->len == site->default_group.len
        && ngx_strncmp(group->data, site->default_group.data, group->len)
           == 0)
    {
        return 1;
    }

    g = (rt && rt->doc) ? json_object_get(rt->doc, "groups") : NULL;

    json_array_foreach(g, i, name) {
        name = json_object_get(name, "name");

        if (json_is_string(name)
            && json_string_length(name) == group->len
            && ngx_strncmp(json_string_value(name), group->data, group->len)
               == 0)
        {
            return 1;
        }
    }

    return 0;
}


/*
 * The site's idle_close in ms (0: never), once its stored settings were
 * read: until then NGX_DECLINED, as the defaults may not be what the shop
 * set.
 */

ngx_int_t
ngx_kefu_settings_idle_close(ngx_kefu_site_t *site, ngx_msec_t *ms)
{
    json_t              *v;
    ngx_kefu_site_rt_t  *rt = site->rt;

    if (rt == NULL || !rt->read || rt->doc == NULL) {
        return NGX_DECLINED;
    }

    v = json_object_get(rt->doc, "idle_close");

    *ms = json_is_integer(v) ? (ngx_msec_t) json_integer_value(v) * 1000
                             : NGX_KEFU_IDLE_CLOSE_DEFAULT * 1000;

    return NGX_OK;
}


/* texts.<lang>.<name>, else the other language's */

const char *
ngx_kefu_settings_text(ngx_kefu_site_t *site, ngx_uint_t en,
    const char *name)
{
    json_t              *t, *v;
    ngx_uint_t           i;
    ngx_kefu_site_rt_t  *rt = site->rt;

    t = rt && rt->doc ? json_object_get(rt->doc, "texts") : NULL;

    for (i = 0; i < 2; i++) {
        v = json_object_get(json_object_get(t, ngx_kefu_langs[(en + i) % 2]),
                            name);

        if (json_is_string(v) && json_string_length(v)) {
            return json_string_value(v);
        }
    }

    return "";
}


/* worker start: the defaults at once, Redis's copy when it is ready */

ngx_int_t
ngx_kefu_settings_init_process(ngx_cycle_t *cycle)
{
    ngx_str_t              channel;
    ngx_uint_t             i, k;
    ngx_kefu_site_t       *site;
    ngx_kefu_site_rt_t    *rt;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);
    if (kmcf == NULL) {
        return NGX_OK;
    }

    site = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        rt = ngx_pcalloc(cycle->pool, sizeof(ngx_kefu_site_rt_t));
        if (rt == NULL) {
            return NGX_ERROR;
        }

        rt->site = &site[i];
        rt->kmcf = kmcf;
        rt->online = json_object();
        site[i].rt = rt;

        rt->tick.handler = ngx_kefu_settings_tick;
        rt->tick.data = rt;
        rt->tick.log = cycle->log;
        rt->tick.cancelable = 1;

        rt->recheck.handler = ngx_kefu_settings_recheck;
        rt->recheck.data = rt;
        rt->recheck.log = cycle->log;
        rt->recheck.cancelable = 1;

        ngx_kefu_settings_apply(rt, NULL, 0);

        if (kmcf->redis == NULL) {
            continue;
        }

        /*
         * Presence of the site's agents (whether anyone is online) and
         * its settings' changes, each in the site's slot (settings_put
         * publishes from there); held for the worker's life: agents'
         * joins only add to them.
         */
        for (k = 0; k < 2; k++) {
            channel.data = ngx_pnalloc(cycle->pool, site[i].name.len
                                       + sizeof(NGX_KEFU_CH_SITE "}:")
                                       + sizeof("settings"));
            if (channel.data == NULL) {
                return NGX_ERROR;
            }

            channel.len = ngx_sprintf(channel.data, NGX_KEFU_CH_SITE "%V}:%s",
                                      &site[i].name, k ? "settings" : "p")
                          - channel.data;

            if (ngx_kefu_redis_subscribe(kmcf->redis, &channel)
                == NGX_ERROR)
            {
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


void
ngx_kefu_settings_exit_process(ngx_cycle_t *cycle)
{
    ngx_uint_t             i;
    ngx_kefu_site_t       *site;
    ngx_kefu_site_rt_t    *rt;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);
    if (kmcf == NULL) {
        return;
    }

    site = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        rt = site[i].rt;

        if (rt == NULL) {
            continue;
        }

        if (rt->tick.timer_set) {
            ngx_del_timer(&rt->tick);
        }

        if (rt->recheck.timer_set) {
            ngx_del_timer(&rt->recheck);
        }

        ngx_kefu_bot_conf_free(rt->bot);
        rt->bot = NULL;
    }
}


/*
 * Either link (back) up: settings are read again, and notices of changes
 * missed while the pub/sub link was down no longer matter.
 */
const ngx_kefu_redis_consumer_t  ngx_kefu_settings_redis_consumer = {
    ngx_kefu_settings_ready,               /* ready */
    ngx_kefu_settings_ready,               /* sub_ready */
    NULL,                                  /* sub_lost */
    NULL,                                  /* subscribed */
    ngx_kefu_settings_published            /* message */
};


/* Redis is (back) up: every site's settings and availability, afresh */

void
ngx_kefu_settings_ready(ngx_kefu_main_conf_t *kmcf)
{
    ngx_uint_t        i;
    ngx_kefu_site_t  *site;

    site = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        if (site[i].rt) {
            ngx_kefu_settings_load(site[i].rt);
            ngx_kefu_settings_recheck(&((ngx_kefu_site_rt_t *)
                                        site[i].rt)->recheck);
        }
    }
}


/*
 * "<site> <version>" on kefu:{s:<site>}:settings; presence on
 * kefu:{s:<site>}:p
 */

void
ngx_kefu_settings_published(ngx_kefu_main_conf_t *kmcf, ngx_str_t *channel,
    ngx_str_t *payload)
{
    u_char              *sp;
    ngx_str_t            name;
    ngx_uint_t           i, kind;
    ngx_kefu_site_t     *site;
    ngx_kefu_site_rt_t  *rt;

    site = kmcf->sites.elts;

    kind = ngx_kefu_channel_kind(channel);

    if (kind == 's') {
        sp = ngx_strlchr(payload->data, payload->data + payload->len, ' ');
        name.data = payload->data;
        name.len = sp ? (size_t) (sp - payload->data) : payload->len;

        for (i = 0; i < kmcf->sites.nelts; i++) {
            rt = site[i].rt;

            if (rt && site[i].name.len == name.len
                && ngx_strncmp(site[i].name.data, name.data, name.len) == 0)
            {
                /* not compared with the version: a key deleted by hand
                   starts its versions again */
                ngx_kefu_settings_load(rt);
            }
        }

        return;
    }

    if (kind != 'p' || ngx_kefu_channel_site(channel, &name) != NGX_OK) {
        return;
    }

    for (i = 0; i < kmcf->sites.nelts; i++) {
        rt = site[i].rt;

        if (rt && site[i].name.len == name.len
            && ngx_strncmp(site[i].name.data, name.data, name.len) == 0)
        {
            /* a burst of presence changes costs one read */
            if (!rt->recheck.timer_set) {
                ngx_add_timer(&rt->recheck, NGX_KEFU_AVAIL_RECHECK);
            }
        }
    }
}


static void
ngx_kefu_settings_load(ngx_kefu_site_rt_t *rt)
{
    ngx_kefu_call_t  call;

    if (rt->loading) {
        rt->again = 1;
        return;
    }

    if (ngx_kefu_settings_get_args(&call, &rt->site->name) == NGX_OK
        && ngx_kefu_redis_eval_call(rt->kmcf->redis,
                                    &ngx_kefu_script_settings_get,
                                    ngx_kefu_settings_loaded, rt, &call)
           == NGX_OK)
    {
        rt->loading = 1;
    }
}


static void
ngx_kefu_settings_loaded(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_site_rt_t  *rt = data;

    json_t      *stored;
    ngx_str_t    field, err;
    ngx_pool_t  *pool;

    rt->loading = 0;

    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
        && reply->element[0]->type == REDIS_REPLY_STRING
        && reply->element[1]->type == REDIS_REPLY_INTEGER)
    {
        stored = NULL;

        if (reply->element[0]->len) {
            stored = json_loadb(reply->element[0]->str,
                                reply->element[0]->len, 0, NULL);
        }

        pool = ngx_create_pool(1024, ngx_cycle->log);

        if (stored && pool
            && ngx_kefu_settings_check(stored, pool, ngx_cycle->log, &field,
                                       &err)
               != NGX_OK)
        {
            /* stored by hand, or by a later version: the defaults rule */
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "kefu: settings of site \"%V\" ignored: %V %V",
                          &rt->site->name, &field, &err);
            json_decref(stored);
            stored = NULL;
        }

        if (pool) {
            ngx_destroy_pool(pool);
        }

        ngx_kefu_settings_apply(rt, stored, reply->element[1]->integer);
        ngx_kefu_avail_changed(rt, 1);
        rt->read = 1;

        if (stored) {
            json_decref(stored);
        }
    }

    if (rt->again) {
        rt->again = 0;
        ngx_kefu_settings_load(rt);
    }
}


/* a new document: merged, its hours parsed, the hours' clock started */

static void
ngx_kefu_settings_apply(ngx_kefu_site_rt_t *rt, json_t *stored,
    int64_t version)
{
    json_t               *doc, *hours;
    ngx_str_t             field, err;
    ngx_pool_t           *pool;
    ngx_kefu_hours_t     *h;
    ngx_kefu_bot_conf_t  *bc;

    doc = ngx_kefu_settings_merge(rt->site, stored);
    if (doc == NULL) {
        return;
    }

    h = NULL;
    hours = json_object_get(doc, "hours");

    if (json_is_object(hours)) {
        pool = ngx_create_pool(1024, ngx_cycle->log);

        if (pool == NULL
            || ngx_kefu_hours_check(hours, pool, ngx_cycle->log, &field, &err,
                                    &h)
               != NGX_OK)
        {
            /* the zone file went away since it was checked */
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "kefu: business hours of site \"%V\" ignored: "
                          "%V %V", &rt->site->name, &field, &err);
            h = NULL;
        }

        if (pool) {
            ngx_destroy_pool(pool);
        }
    }

    if (rt->doc) {
        json_decref(rt->doc);
    }

    if (rt->stored) {
        json_decref(rt->stored);
    }

    rt->stored = stored ? json_incref(stored) : NULL;

    if (rt->hours) {
        ngx_free(rt->hours);
    }

    /* the rules' and the FAQ's matchers, for this version */
    bc = ngx_kefu_bot_compile(doc, ngx_cycle->log);

    if (bc == NULL) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                      "kefu: bot, faq and rules of site \"%V\" not "
                      "compiled: out of memory", &rt->site->name);
    }

    ngx_kefu_bot_conf_free(rt->bot);
    rt->bot = bc;

    rt->doc = doc;
    rt->hours = h;
    rt->version = version;
    rt->open = ngx_kefu_hours_open(h, ngx_time());

    ngx_kefu_settings_tick_arm(rt);
}


/* business hours turn at minute boundaries: look just after each */

static void
ngx_kefu_settings_tick_arm(ngx_kefu_site_rt_t *rt)
{
    if (rt->tick.timer_set) {
        ngx_del_timer(&rt->tick);
    }

    if (rt->hours == NULL || ngx_exiting) {
        return;
    }

    ngx_add_timer(&rt->tick, (60 - ngx_time() % 60) * 1000 + 200);
}


static void
ngx_kefu_settings_tick(ngx_event_t *ev)
{
    ngx_uint_t           open;
    ngx_kefu_site_rt_t  *rt = ev->data;

    open = ngx_kefu_hours_open(rt->hours, ngx_time());

    if (open != rt->open) {
        rt->open = open;
        ngx_kefu_avail_changed(rt, 0);
    }

    ngx_kefu_settings_tick_arm(rt);
}


/* which groups have someone online: read after presence changed */

static void
ngx_kefu_settings_recheck(ngx_event_t *ev)
{
    ngx_kefu_call_t      call;
    ngx_kefu_site_rt_t  *rt = ev->data;

    if (rt->kmcf->redis == NULL) {
        return;
    }

    if (rt->checking) {
        /* one more after the one under way */
        if (!rt->recheck.timer_set) {
            ngx_add_timer(&rt->recheck, NGX_KEFU_AVAIL_RECHECK);
        }

        return;
    }

    if (ngx_kefu_avail_args(&call, &rt->site->name, ngx_kefu_now_ms(),
                            rt->site->grace)
        == NGX_OK
        && ngx_kefu_redis_eval_call(rt->kmcf->redis, &ngx_kefu_script_avail,
                                    ngx_kefu_settings_online, rt, &call)
           == NGX_OK)
    {
        rt->checking = 1;
    }
}


static void
ngx_kefu_settings_online(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_site_rt_t  *rt = data;

    size_t   i;
    json_t  *online;

    rt->checking = 0;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        return;
    }

    online = json_object();
    if (online == NULL) {
        return;
    }

    for (i = 0; i < reply->elements; i++) {
        if (reply->element[i]->type == REDIS_REPLY_STRING
            && reply->element[i]->len <= 64)
        {
            (void) json_object_setn_new(online, reply->element[i]->str,
                                        reply->element[i]->len, json_true());
        }
    }

    json_decref(rt->online);
    rt->online = online;
    rt->known = 1;

    ngx_kefu_avail_changed(rt, 0);
}


/*
 * The "settings" message: agents and admins read the site's settings,
 * admins write them ("settings": the whole document).  The answer is
 * {"type":"settings","settings": effective, "stored": as stored,
 * "version"}; a bad document answers bad_request with "field".
 */

typedef struct {
    uint64_t                     sid;
    ngx_kefu_site_t             *site;
    json_t                      *stored;
    u_char                       cid[65];
} ngx_kefu_settings_ctx_t;


static void
ngx_kefu_settings_send(ngx_kefu_ws_t *ws, json_t *doc, json_t *stored,
    int64_t version, const char *cid)
{
    json_t  *m;

    m = json_pack("{s:s,s:o,s:O,s:I}", "type", "settings",
                  "settings", doc ? doc : json_object(),
                  "stored", stored ? stored : json_null(),
                  "version", (json_int_t) version);
    if (m == NULL) {
        return;
    }

    if (cid) {
        json_object_set_new(m, "cid", json_string(cid));
    }

    (void) ngx_kefu_app_send(ws, m);
    json_decref(m);
}


void
ngx_kefu_settings_ws(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    char                *doc;
    json_t              *v;
    const char          *cid;
    ngx_kefu_site_rt_t  *rt;

    /* roles are checked already (ngx_kefu_validate.c), the document here */
    cid = req->cid;
    rt = ws->site->rt;
    v = req->settings;

    if (v == NULL) {
        /* this worker's copy: at most a round trip behind Redis */
        ngx_kefu_settings_send(ws, rt && rt->doc ? json_incref(rt->doc) : NULL,
                               rt ? rt->stored : NULL, rt ? rt->version : 0,
                               cid);
        return;
    }

    if (ngx_kefu_settings_ws_check(ws, v, cid) != NGX_OK) {
        return;
    }

    doc = json_dumps(v, JSON_COMPACT);

    if (doc == NULL || ngx_strlen(doc) > NGX_KEFU_SETTINGS_MAX) {
        free(doc);
        ngx_kefu_app_error(ws, "too_large", "the settings are too large",
                           cid);
        return;
    }

    ngx_kefu_settings_ws_put(ws, v, doc, cid);

    free(doc);
}


/* the document checked as the API checks it: NGX_OK, or the error sent */

static ngx_int_t
ngx_kefu_settings_ws_check(ngx_kefu_ws_t *ws, json_t *v, const char *cid)
{
    json_t      *e;
    ngx_str_t    field, err;
    ngx_pool_t  *pool;

    /* field names live in a pool of their own, not the connection's */
    pool = ngx_create_pool(1024, ws->connection->log);
    if (pool == NULL) {
        ngx_kefu_app_error(ws, "internal", "out of memory", cid);
        return NGX_ERROR;
    }

    if (ngx_kefu_settings_check(v, pool, ws->connection->log, &field, &err)
        == NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NGX_OK;
    }

    e = json_pack("{s:s,s:s,s:s%,s:s%}", "type", "error",
                  "code", "bad_request",
                  "message", err.data, err.len,
                  "field", field.data, field.len);
    if (e) {
        json_object_set_new(e, "message",
                            json_sprintf("%.*s: %.*s", (int) field.len,
                                         field.data, (int) err.len,
                                         err.data));
        if (cid) {
            json_object_set_new(e, "cid", json_string(cid));
        }

        ngx_kefu_stat_error(ws->main_conf, "bad_request");
        (void) ngx_kefu_app_send(ws, e);
        json_decref(e);
    }

    ngx_destroy_pool(pool);

    return NGX_DECLINED;
}


/* settings_put in Redis, by whom; ngx_kefu_settings_stored answers */

static void
ngx_kefu_settings_ws_put(ngx_kefu_ws_t *ws, json_t *v, char *doc,
    const char *cid)
{
    u_char                    by[NGX_KEFU_WHO_LEN];
    ngx_str_t                 d, b;
    ngx_kefu_call_t           call;
    ngx_kefu_settings_ctx_t  *ctx;

    ctx = ngx_calloc(sizeof(ngx_kefu_settings_ctx_t), ws->connection->log);
    if (ctx == NULL) {
        return;
    }

    ctx->sid = ws->session_id;
    ctx->site = ws->site;
    ctx->stored = json_incref(v);

    if (cid) {
        ngx_cpystrn(ctx->cid, (u_char *) cid, sizeof(ctx->cid));
    }

    d.data = (u_char *) doc;
    d.len = ngx_strlen(doc);
    b = ngx_kefu_who(ws->role, &ws->user_id, by);

    if (ngx_kefu_settings_put_args(&call, &ws->site->name, &d,
                                   ngx_kefu_now_ms(), &b)
        != NGX_OK
        || ngx_kefu_redis_eval_call(ws->main_conf->redis,
                                    &ngx_kefu_script_settings_put,
                                    ngx_kefu_settings_stored, ctx, &call)
           != NGX_OK)
    {
        json_decref(ctx->stored);
        ngx_free(ctx);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable", cid);
    }
}


static void
ngx_kefu_settings_stored(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_settings_ctx_t  *ctx = data;

    const char     *cid;
    ngx_kefu_ws_t  *ws;

    ws = ngx_kefu_local_session(ngx_kefu_redis_main_conf(rd), ctx->sid);
    cid = ctx->cid[0] ? (char *) ctx->cid : NULL;

    if (ws) {
        if (reply == NULL || reply->type != REDIS_REPLY_INTEGER) {
            ngx_kefu_app_error(ws, "unavailable", "storage is unavailable",
                               cid);

        } else {
            ngx_kefu_settings_send(ws,
                                   ngx_kefu_settings_merge(ctx->site,
                                                           ctx->stored),
                                   ctx->stored, reply->integer, cid);
        }
    }

    json_decref(ctx->stored);
    ngx_free(ctx);
}
