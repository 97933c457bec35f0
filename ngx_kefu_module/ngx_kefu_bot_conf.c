
/*
 * The site settings' "bot", "faq" and "rules" (docs/automation.md "Settings",
 * docs/automation.md): checked when a document is put (errors name the
 * field, "rules[3].if[0].op"), compiled on every worker when the settings
 * change (one pool per compiled version, freed when the next replaces it).
 */


#include "ngx_kefu_bot.h"
#include "ngx_kefu_search.h"


typedef struct {
    ngx_pool_t                  *pool;
    ngx_str_t                   *field;
    ngx_str_t                   *err;
} ngx_kefu_bot_check_t;


static ngx_int_t ngx_kefu_bot_fail(ngx_kefu_bot_check_t *c, const char *err,
    const char *fmt, ...);
static ngx_int_t ngx_kefu_bot_check_bot(ngx_kefu_bot_check_t *c, json_t *v);
static ngx_int_t ngx_kefu_bot_check_faq(ngx_kefu_bot_check_t *c, json_t *v);
static ngx_int_t ngx_kefu_bot_check_rules(ngx_kefu_bot_check_t *c,
    json_t *v);
static ngx_int_t ngx_kefu_bot_check_rule(ngx_kefu_bot_check_t *c, json_t *r,
    size_t i, ngx_uint_t *nkw);
static ngx_int_t ngx_kefu_bot_check_when(ngx_kefu_bot_check_t *c, json_t *x,
    size_t i);
static ngx_int_t ngx_kefu_bot_check_cond(ngx_kefu_bot_check_t *c, json_t *x,
    size_t i, size_t j, ngx_uint_t *nkw);
static ngx_int_t ngx_kefu_bot_check_keywords(ngx_kefu_bot_check_t *c,
    json_t *x, json_t *v, size_t i, size_t j, ngx_uint_t *nkw);
static ngx_int_t ngx_kefu_bot_check_compare(ngx_kefu_bot_check_t *c,
    json_t *x, size_t i, size_t j);
static ngx_int_t ngx_kefu_bot_check_context(ngx_kefu_bot_check_t *c,
    json_t *x, size_t i, size_t j);
static ngx_int_t ngx_kefu_bot_check_action(ngx_kefu_bot_check_t *c,
    json_t *x, size_t i, size_t j);
static ngx_int_t ngx_kefu_bot_check_reply(ngx_kefu_bot_check_t *c,
    json_t *x, json_t *v, size_t i, size_t j);
static ngx_int_t ngx_kefu_bot_check_buttons(ngx_kefu_bot_check_t *c,
    json_t *x, const char *fmt, size_t i, size_t j);
static ngx_uint_t ngx_kefu_bot_text_ok(json_t *v, size_t max);
static ngx_uint_t ngx_kefu_bot_strings_ok(json_t *v, size_t n, size_t max);
static ngx_uint_t ngx_kefu_bot_id_ok(json_t *v);
static ngx_uint_t ngx_kefu_bot_keys_ok(json_t *o, const char **keys);
static ngx_int_t ngx_kefu_bot_compile_rules(ngx_kefu_bot_conf_t *bc);
static ngx_int_t ngx_kefu_bot_compile_faq(ngx_kefu_bot_conf_t *bc);
static void ngx_kefu_bot_compile_rule(ngx_kefu_bot_conf_t *bc,
    ngx_kefu_rule_t *rule, json_t *r);
static ngx_int_t ngx_kefu_bot_rules_keywords(ngx_kefu_bot_conf_t *bc,
    ngx_str_t *words, uint32_t *ids, ngx_uint_t *nwords);
static size_t ngx_kefu_bot_faq_phrases(ngx_kefu_bot_conf_t *bc,
    ngx_kefu_faq_phrase_t *ph);
static ngx_int_t ngx_kefu_bot_faq_keywords(ngx_kefu_bot_conf_t *bc,
    ngx_str_t *words, uint32_t *ids, size_t *nwords);
static ngx_int_t ngx_kefu_bot_faq_terms(ngx_kefu_bot_conf_t *bc,
    ngx_kefu_search_terms_t *st);


/* field from a format, err as given */

static ngx_int_t
ngx_kefu_bot_fail(ngx_kefu_bot_check_t *c, const char *err,
    const char *fmt, ...)
{
    u_char   *p;
    va_list   args;

    p = ngx_pnalloc(c->pool, 128);

    if (p) {
        va_start(args, fmt);
        c->field->len = ngx_vslprintf(p, p + 128, fmt, args) - p;
        va_end(args);
        c->field->data = p;

    } else {
        ngx_str_set(c->field, "settings");
    }

    c->err->data = (u_char *) err;
    c->err->len = ngx_strlen(err);

    return NGX_DECLINED;
}


/* a string, or {"zh"?, "en"?} of strings, each 1-max bytes; one at least */

static ngx_uint_t
ngx_kefu_bot_text_ok(json_t *v, size_t max)
{
    json_t      *x;
    ngx_uint_t   n;
    const char  *key;

    if (json_is_string(v)) {
        return json_string_length(v) > 0 && json_string_length(v) <= max;
    }

    if (!json_is_object(v)) {
        return 0;
    }

    n = 0;

    json_object_foreach(v, key, x) {
        if ((ngx_strcmp(key, "zh") != 0 && ngx_strcmp(key, "en") != 0)
            || !json_is_string(x) || json_string_length(x) == 0
            || json_string_length(x) > max)
        {
            return 0;
        }

        n++;
    }

    return n > 0;
}


static ngx_uint_t
ngx_kefu_bot_strings_ok(json_t *v, size_t n, size_t max)
{
    size_t   i;
    json_t  *x;

    if (!json_is_array(v) || json_array_size(v) > n) {
        return 0;
    }

    json_array_foreach(v, i, x) {
        if (!json_is_string(x) || json_string_length(x) == 0
            || json_string_length(x) > max)
        {
            return 0;
        }
    }

    return 1;
}


static ngx_uint_t
ngx_kefu_bot_id_ok(json_t *v)
{
    return json_is_string(v) && json_string_length(v) <= 64
           && ngx_kefu_valid_id((u_char *) json_string_value(v),
                                json_string_length(v))
              == NGX_OK;
}


static ngx_uint_t
ngx_kefu_bot_keys_ok(json_t *o, const char **keys)
{
    json_t      *x;
    ngx_uint_t   k;
    const char  *key;

    json_object_foreach(o, key, x) {
        for (k = 0; keys[k]; k++) {
            if (ngx_strcmp(key, keys[k]) == 0) {
                break;
            }
        }

        if (keys[k] == NULL) {
            return 0;
        }
    }

    return 1;
}


/* the three fields of a whole settings document, as stored */

ngx_int_t
ngx_kefu_bot_check(json_t *doc, ngx_pool_t *pool, ngx_str_t *field,
    ngx_str_t *err)
{
    json_t                *v;
    ngx_kefu_bot_check_t   c;

    c.pool = pool;
    c.field = field;
    c.err = err;

    v = json_object_get(doc, "bot");

    if (v && !json_is_null(v) && ngx_kefu_bot_check_bot(&c, v) != NGX_OK) {
        return NGX_DECLINED;
    }

    v = json_object_get(doc, "faq");

    if (v && !json_is_null(v) && ngx_kefu_bot_check_faq(&c, v) != NGX_OK) {
        return NGX_DECLINED;
    }

    v = json_object_get(doc, "rules");

    if (v && !json_is_null(v) && ngx_kefu_bot_check_rules(&c, v) != NGX_OK) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_kefu_bot_check_bot(ngx_kefu_bot_check_t *c, json_t *v)
{
    json_t      *x, *lang;
    const char  *key, *s, *lk;
    const char  *keys[] = { "enabled", "groups", "mode", "name", "texts",
                            NULL };
    const char  *tkeys[] = { "not_understood", "choose", "handoff",
                             "handed_off", NULL };

    if (!json_is_object(v)) {
        return ngx_kefu_bot_fail(c, "must be an object {\"enabled\", "
                                 "\"groups\", \"mode\", \"name\", \"texts\"}",
                                 "bot");
    }

    if (!ngx_kefu_bot_keys_ok(v, keys)) {
        return ngx_kefu_bot_fail(c, "has a field other than enabled, "
                                 "groups, mode, name, texts", "bot");
    }

    x = json_object_get(v, "enabled");

    if (x && !json_is_boolean(x)) {
        return ngx_kefu_bot_fail(c, "must be true or false", "bot.enabled");
    }

    x = json_object_get(v, "groups");

    if (x && !json_is_null(x)) {
        if (!ngx_kefu_bot_strings_ok(x, 100, 64)) {
            return ngx_kefu_bot_fail(c, "must be an array of at most 100 "
                                     "group names", "bot.groups");
        }
    }

    x = json_object_get(v, "mode");
    s = json_is_string(x) ? json_string_value(x) : "";

    if (x && ngx_strcmp(s, "faq") != 0 && ngx_strcmp(s, "external") != 0) {
        return ngx_kefu_bot_fail(c, "must be \"faq\" or \"external\"",
                                 "bot.mode");
    }

    x = json_object_get(v, "name");

    if (x && !ngx_kefu_bot_text_ok(x, 64)) {
        return ngx_kefu_bot_fail(c, "must be a string or {\"zh\", \"en\"} "
                                 "of 1-64 bytes", "bot.name");
    }

    x = json_object_get(v, "texts");

    if (x == NULL) {
        return NGX_OK;
    }

    if (!json_is_object(x)) {
        return ngx_kefu_bot_fail(c, "must be {\"zh\": {...}, \"en\": {...}}",
                                 "bot.texts");
    }

    json_object_foreach(x, lk, lang) {
        if (ngx_strcmp(lk, "zh") != 0 && ngx_strcmp(lk, "en") != 0) {
            return ngx_kefu_bot_fail(c, "has a language other than zh and "
                                     "en", "bot.texts");
        }

        if (!json_is_object(lang) || !ngx_kefu_bot_keys_ok(lang, tkeys)) {
            return ngx_kefu_bot_fail(c, "must be an object of "
                                     "not_understood, choose, handoff, "
                                     "handed_off", "bot.texts.%s", lk);
        }

        json_object_foreach(lang, key, v) {
            if (!json_is_string(v) || json_string_length(v) == 0
                || json_string_length(v) > (ngx_strcmp(key, "handoff") == 0
                                            ? NGX_KEFU_BUTTON_TEXT_MAX
                                            : NGX_KEFU_BOT_TEXT_MAX))
            {
                return ngx_kefu_bot_fail(c, "must be a non-empty string "
                                         "(handoff: at most 100 bytes, a "
                                         "button's text)",
                                         "bot.texts.%s.%s", lk, key);
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_kefu_bot_check_faq(ngx_kefu_bot_check_t *c, json_t *v)
{
    size_t       i, j;
    json_t      *e, *x, *y;
    const char  *keys[] = { "id", "question", "alts", "keywords", "answer",
                            "buttons", NULL };

    if (!json_is_array(v) || json_array_size(v) > NGX_KEFU_FAQ_MAX) {
        return ngx_kefu_bot_fail(c, "must be an array of at most 1000 "
                                 "entries", "faq");
    }

    json_array_foreach(v, i, e) {
        if (!json_is_object(e) || !ngx_kefu_bot_keys_ok(e, keys)) {
            return ngx_kefu_bot_fail(c, "must be an object {\"id\", "
                                     "\"question\", \"alts\"?, "
                                     "\"keywords\"?, \"answer\", "
                                     "\"buttons\"?}", "faq[%uz]", i);
        }

        x = json_object_get(e, "id");

        if (!ngx_kefu_bot_id_ok(x)) {
            return ngx_kefu_bot_fail(c, "must be 1-64 of [A-Za-z0-9._@-]",
                                     "faq[%uz].id", i);
        }

        for (j = 0; j < i; j++) {
            y = json_object_get(json_array_get(v, j), "id");

            if (json_equal(x, y)) {
                return ngx_kefu_bot_fail(c, "is the id of another entry",
                                         "faq[%uz].id", i);
            }
        }

        if (!ngx_kefu_bot_text_ok(json_object_get(e, "question"),
                                  NGX_KEFU_BOT_TEXT_MAX))
        {
            return ngx_kefu_bot_fail(c, "must be a string or {\"zh\", "
                                     "\"en\"}, non-empty",
                                     "faq[%uz].question", i);
        }

        if (!ngx_kefu_bot_text_ok(json_object_get(e, "answer"),
                                  NGX_KEFU_BOT_TEXT_MAX))
        {
            return ngx_kefu_bot_fail(c, "must be a string or {\"zh\", "
                                     "\"en\"}, non-empty",
                                     "faq[%uz].answer", i);
        }

        x = json_object_get(e, "alts");

        if (x && !ngx_kefu_bot_strings_ok(x, NGX_KEFU_FAQ_ALTS_MAX,
                                          NGX_KEFU_BOT_TEXT_MAX))
        {
            return ngx_kefu_bot_fail(c, "must be an array of at most 20 "
                                     "non-empty strings", "faq[%uz].alts", i);
        }

        x = json_object_get(e, "keywords");

        if (x && !ngx_kefu_bot_strings_ok(x, NGX_KEFU_FAQ_KEYWORDS_MAX,
                                          NGX_KEFU_KEYWORD_MAX))
        {
            return ngx_kefu_bot_fail(c, "must be an array of at most 50 "
                                     "strings of 1-100 bytes",
                                     "faq[%uz].keywords", i);
        }

        x = json_object_get(e, "buttons");

        if (x && ngx_kefu_bot_check_buttons(c, x, "faq[%uz].buttons", i, 0)
                 != NGX_OK)
        {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* buttons of an FAQ entry or of a rule's reply: the path under prefix */

static ngx_int_t
ngx_kefu_bot_check_buttons(ngx_kefu_bot_check_t *c, json_t *x,
    const char *fmt, size_t i, size_t j)
{
    u_char      *field, prefix[NGX_KEFU_FIELD_MAX];
    json_t      *b;
    const char  *err;

    *ngx_snprintf(prefix, sizeof(prefix) - 1, fmt, i, j) = '\0';

    field = ngx_pnalloc(c->pool, NGX_KEFU_FIELD_MAX);
    if (field == NULL) {
        return ngx_kefu_bot_fail(c, "out of memory", "%s", prefix);
    }

    b = ngx_kefu_buttons_field(x, (char *) prefix, field, &err);

    if (b == NULL) {
        c->field->data = field;
        c->field->len = ngx_strlen(field);
        c->err->data = (u_char *) err;
        c->err->len = ngx_strlen(err);
        return NGX_DECLINED;
    }

    json_decref(b);

    return NGX_OK;
}


static ngx_int_t
ngx_kefu_bot_check_rules(ngx_kefu_bot_check_t *c, json_t *v)
{
    size_t       i, j;
    json_t      *r, *x;
    ngx_uint_t   nkw;

    if (!json_is_array(v) || json_array_size(v) > NGX_KEFU_RULES_MAX) {
        return ngx_kefu_bot_fail(c, "must be an array of at most 500 rules",
                                 "rules");
    }

    nkw = 0;

    json_array_foreach(v, i, r) {
        if (ngx_kefu_bot_check_rule(c, r, i, &nkw) != NGX_OK) {
            return NGX_DECLINED;
        }

        x = json_object_get(r, "id");

        for (j = 0; j < i; j++) {
            if (json_equal(x, json_object_get(json_array_get(v, j), "id"))) {
                return ngx_kefu_bot_fail(c, "is the id of another rule",
                                         "rules[%uz].id", i);
            }
        }
    }

    return NGX_OK;
}


static ngx_int_t
ngx_kefu_bot_check_rule(ngx_kefu_bot_check_t *c, json_t *r, size_t i,
    ngx_uint_t *nkw)
{
    size_t       j;
    json_t      *x, *y;
    const char  *keys[] = { "id", "name", "enabled", "when", "if", "then",
                            NULL };

    if (!json_is_object(r) || !ngx_kefu_bot_keys_ok(r, keys)) {
        return ngx_kefu_bot_fail(c, "must be an object {\"id\", \"name\"?, "
                                 "\"enabled\"?, \"when\", \"if\"?, "
                                 "\"then\"}", "rules[%uz]", i);
    }

    if (!ngx_kefu_bot_id_ok(json_object_get(r, "id"))) {
        return ngx_kefu_bot_fail(c, "must be 1-64 of [A-Za-z0-9._@-]",
                                 "rules[%uz].id", i);
    }

    x = json_object_get(r, "name");

    if (x && !(json_is_string(x) && json_string_length(x) > 0
               && json_string_length(x) <= 100))
    {
        return ngx_kefu_bot_fail(c, "must be a string of 1-100 bytes",
                                 "rules[%uz].name", i);
    }

    x = json_object_get(r, "enabled");

    if (x && !json_is_boolean(x)) {
        return ngx_kefu_bot_fail(c, "must be true or false",
                                 "rules[%uz].enabled", i);
    }

    if (ngx_kefu_bot_check_when(c, json_object_get(r, "when"), i)
        != NGX_OK)
    {
        return NGX_DECLINED;
    }

    x = json_object_get(r, "if");

    if (x) {
        if (!json_is_array(x) || json_array_size(x) > NGX_KEFU_RULE_IF_MAX) {
            return ngx_kefu_bot_fail(c, "must be an array of at most 20 "
                                     "conditions", "rules[%uz].if", i);
        }

        json_array_foreach(x, j, y) {
            if (ngx_kefu_bot_check_cond(c, y, i, j, nkw) != NGX_OK) {
                return NGX_DECLINED;
            }
        }
    }

    x = json_object_get(r, "then");

    if (!json_is_array(x) || json_array_size(x) == 0
        || json_array_size(x) > NGX_KEFU_RULE_THEN_MAX)
    {
        return ngx_kefu_bot_fail(c, "must be an array of 1-10 actions",
                                 "rules[%uz].then", i);
    }

    json_array_foreach(x, j, y) {
        if (ngx_kefu_bot_check_action(c, y, i, j) != NGX_OK) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


/* what starts a rule: a message, a new conversation, an event, a wait */

static ngx_int_t
ngx_kefu_bot_check_when(ngx_kefu_bot_check_t *c, json_t *x, size_t i)
{
    json_t      *y;
    const char  *s;
    const char  *wkeys[] = { "type", "name", "seconds", NULL };

    y = json_object_get(x, "type");
    s = json_is_string(y) ? json_string_value(y) : "";

    if (!json_is_object(x) || !ngx_kefu_bot_keys_ok(x, wkeys)) {
        return ngx_kefu_bot_fail(c, "must be {\"type\", \"name\"?, "
                                 "\"seconds\"?}", "rules[%uz].when", i);
    }

    if (ngx_strcmp(s, "event") == 0) {
        if (!ngx_kefu_bot_id_ok(json_object_get(x, "name"))) {
            return ngx_kefu_bot_fail(c, "must be an event name (1-64 of "
                                     "[A-Za-z0-9._@-])",
                                     "rules[%uz].when.name", i);
        }

    } else if (ngx_strcmp(s, "waiting") == 0) {
        y = json_object_get(x, "seconds");

        if (!json_is_integer(y) || json_integer_value(y) < 1
            || json_integer_value(y) > 7 * 86400)
        {
            return ngx_kefu_bot_fail(c, "must be an integer of 1-604800",
                                     "rules[%uz].when.seconds", i);
        }

    } else if (ngx_strcmp(s, "message") != 0
               && ngx_strcmp(s, "conv_created") != 0
               && ngx_strcmp(s, "offline") != 0)
    {
        return ngx_kefu_bot_fail(c, "must be message, conv_created, event, "
                                 "waiting or offline",
                                 "rules[%uz].when.type", i);
    }

    return NGX_OK;
}


static ngx_int_t
ngx_kefu_bot_check_cond(ngx_kefu_bot_check_t *c, json_t *x, size_t i,
    size_t j, ngx_uint_t *nkw)
{
    json_t  *v;

    if (!json_is_object(x) || json_object_size(x) == 0) {
        return ngx_kefu_bot_fail(c, "must be one of {\"keywords\"}, "
                                 "{\"attr\", \"op\", \"value\"}, {\"data\", "
                                 "\"op\", \"value\"}, {\"page\"}, "
                                 "{\"hours\"}, {\"group\"}, {\"state\"}",
                                 "rules[%uz].if[%uz]", i, j);
    }

    if ((v = json_object_get(x, "keywords"))) {
        return ngx_kefu_bot_check_keywords(c, x, v, i, j, nkw);
    }

    if (json_object_get(x, "attr") || json_object_get(x, "data")) {
        return ngx_kefu_bot_check_compare(c, x, i, j);
    }

    if (json_object_size(x) != 1) {
        return ngx_kefu_bot_fail(c, "must hold one condition",
                                 "rules[%uz].if[%uz]", i, j);
    }

    return ngx_kefu_bot_check_context(c, x, i, j);
}


/* {"keywords": [...]}: counted against the keywords of all rules */

static ngx_int_t
ngx_kefu_bot_check_keywords(ngx_kefu_bot_check_t *c, json_t *x, json_t *v,
    size_t i, size_t j, ngx_uint_t *nkw)
{
    if (json_object_size(x) != 1 || json_array_size(v) == 0
        || !ngx_kefu_bot_strings_ok(v, NGX_KEFU_RULES_KEYWORDS_MAX,
                                    NGX_KEFU_KEYWORD_MAX))
    {
        return ngx_kefu_bot_fail(c, "must be a non-empty array of "
                                 "strings of 1-100 bytes",
                                 "rules[%uz].if[%uz].keywords", i, j);
    }

    *nkw += json_array_size(v);

    if (*nkw > NGX_KEFU_RULES_KEYWORDS_MAX) {
        return ngx_kefu_bot_fail(c, "makes more than 20000 keywords in "
                                 "all rules", "rules[%uz].if[%uz].keywords",
                                 i, j);
    }

    return NGX_OK;
}


/* {"attr" or "data", "op", "value"}: the value fits the operator */

static ngx_int_t
ngx_kefu_bot_check_compare(ngx_kefu_bot_check_t *c, json_t *x, size_t i,
    size_t j)
{
    json_t      *v, *op, *val;
    const char  *key, *o;
    const char  *akeys[] = { "attr", "data", "op", "value", NULL };

    key = json_object_get(x, "attr") ? "attr" : "data";

    if (!ngx_kefu_bot_keys_ok(x, akeys) || json_object_size(x) != 3) {
        return ngx_kefu_bot_fail(c, "must be {\"attr\" or \"data\", "
                                 "\"op\", \"value\"}",
                                 "rules[%uz].if[%uz]", i, j);
    }

    v = json_object_get(x, key);

    if (!json_is_string(v) || json_string_length(v) == 0
        || json_string_length(v) > 64)
    {
        return ngx_kefu_bot_fail(c, "must be a key of 1-64 bytes",
                                 "rules[%uz].if[%uz].%s", i, j, key);
    }

    op = json_object_get(x, "op");
    o = json_is_string(op) ? json_string_value(op) : "";
    val = json_object_get(x, "value");

    if (ngx_strcmp(o, "eq") == 0) {
        if (!(json_is_string(val) || json_is_number(val)
              || json_is_boolean(val)))
        {
            return ngx_kefu_bot_fail(c, "must be a string, a number or "
                                     "a boolean for eq",
                                     "rules[%uz].if[%uz].value", i, j);
        }

    } else if (ngx_strcmp(o, "contains") == 0) {
        if (!json_is_string(val) || json_string_length(val) == 0
            || json_string_length(val) > 500)
        {
            return ngx_kefu_bot_fail(c, "must be a string of 1-500 bytes "
                                     "for contains",
                                     "rules[%uz].if[%uz].value", i, j);
        }

    } else if (ngx_strcmp(o, "gt") == 0) {
        if (!json_is_number(val)) {
            return ngx_kefu_bot_fail(c, "must be a number for gt",
                                     "rules[%uz].if[%uz].value", i, j);
        }

    } else {
        return ngx_kefu_bot_fail(c, "must be eq, contains or gt",
                                 "rules[%uz].if[%uz].op", i, j);
    }

    return NGX_OK;
}


/* one key naming what the conversation is in: page, hours, group, state */

static ngx_int_t
ngx_kefu_bot_check_context(ngx_kefu_bot_check_t *c, json_t *x, size_t i,
    size_t j)
{
    json_t      *v;
    const char  *s;

    if ((v = json_object_get(x, "page"))) {
        if (!json_is_string(v) || json_string_length(v) == 0
            || json_string_length(v) > 500)
        {
            return ngx_kefu_bot_fail(c, "must be a string of 1-500 bytes",
                                     "rules[%uz].if[%uz].page", i, j);
        }

        return NGX_OK;
    }

    if ((v = json_object_get(x, "hours"))) {
        s = json_is_string(v) ? json_string_value(v) : "";

        if (ngx_strcmp(s, "inside") != 0 && ngx_strcmp(s, "outside") != 0) {
            return ngx_kefu_bot_fail(c, "must be \"inside\" or \"outside\"",
                                     "rules[%uz].if[%uz].hours", i, j);
        }

        return NGX_OK;
    }

    if ((v = json_object_get(x, "group"))) {
        if (!ngx_kefu_bot_id_ok(v)) {
            return ngx_kefu_bot_fail(c, "must be a group name",
                                     "rules[%uz].if[%uz].group", i, j);
        }

        return NGX_OK;
    }

    if ((v = json_object_get(x, "state"))) {
        s = json_is_string(v) ? json_string_value(v) : "";

        if (ngx_strcmp(s, "bot") != 0 && ngx_strcmp(s, "queued") != 0
            && ngx_strcmp(s, "open") != 0)
        {
            return ngx_kefu_bot_fail(c, "must be bot, queued or open",
                                     "rules[%uz].if[%uz].state", i, j);
        }

        return NGX_OK;
    }

    return ngx_kefu_bot_fail(c, "is not a condition (keywords, attr, data, "
                             "page, hours, group, state)",
                             "rules[%uz].if[%uz]", i, j);
}


static ngx_int_t
ngx_kefu_bot_check_action(ngx_kefu_bot_check_t *c, json_t *x, size_t i,
    size_t j)
{
    json_t      *v, *d;
    const char  *ekeys[] = { "name", "data", NULL };

    if (!json_is_object(x) || json_object_size(x) == 0) {
        return ngx_kefu_bot_fail(c, "must be one of {\"reply\", "
                                 "\"buttons\"?}, {\"suggest\"}, {\"route\"}, "
                                 "{\"label\"}, {\"handoff\": true}, "
                                 "{\"event\"}", "rules[%uz].then[%uz]", i, j);
    }

    if ((v = json_object_get(x, "reply"))) {
        return ngx_kefu_bot_check_reply(c, x, v, i, j);
    }

    if (json_object_size(x) != 1) {
        return ngx_kefu_bot_fail(c, "must hold one action",
                                 "rules[%uz].then[%uz]", i, j);
    }

    if ((v = json_object_get(x, "suggest"))) {
        if (!json_is_string(v) || json_string_length(v) == 0
            || json_string_length(v) > NGX_KEFU_BOT_TEXT_MAX)
        {
            return ngx_kefu_bot_fail(c, "must be a non-empty string",
                                     "rules[%uz].then[%uz].suggest", i, j);
        }

        return NGX_OK;
    }

    if ((v = json_object_get(x, "route"))) {
        if (!ngx_kefu_bot_id_ok(v)) {
            return ngx_kefu_bot_fail(c, "must be a group name",
                                     "rules[%uz].then[%uz].route", i, j);
        }

        return NGX_OK;
    }

    if ((v = json_object_get(x, "label"))) {
        if (!json_is_string(v) || json_string_length(v) == 0
            || json_string_length(v) > 64)
        {
            return ngx_kefu_bot_fail(c, "must be a string of 1-64 bytes",
                                     "rules[%uz].then[%uz].label", i, j);
        }

        return NGX_OK;
    }

    if ((v = json_object_get(x, "handoff"))) {
        if (!json_is_true(v)) {
            return ngx_kefu_bot_fail(c, "must be true",
                                     "rules[%uz].then[%uz].handoff", i, j);
        }

        return NGX_OK;
    }

    if ((v = json_object_get(x, "event"))) {
        d = json_object_get(v, "data");

        if (!json_is_object(v) || !ngx_kefu_bot_keys_ok(v, ekeys)
            || !ngx_kefu_bot_id_ok(json_object_get(v, "name"))
            || (d && !json_is_object(d)))
        {
            return ngx_kefu_bot_fail(c, "must be {\"name\": 1-64 of "
                                     "[A-Za-z0-9._@-], \"data\"?: {...}}",
                                     "rules[%uz].then[%uz].event", i, j);
        }

        return NGX_OK;
    }

    return ngx_kefu_bot_fail(c, "is not an action (reply, suggest, route, "
                             "label, handoff, event)",
                             "rules[%uz].then[%uz]", i, j);
}


/* {"reply", "buttons"?}: the bot's text, and its buttons under it */

static ngx_int_t
ngx_kefu_bot_check_reply(ngx_kefu_bot_check_t *c, json_t *x, json_t *v,
    size_t i, size_t j)
{
    if (json_object_size(x) > 1 + (json_object_get(x, "buttons") != NULL)) {
        return ngx_kefu_bot_fail(c, "must be {\"reply\", \"buttons\"?}",
                                 "rules[%uz].then[%uz]", i, j);
    }

    if (!ngx_kefu_bot_text_ok(v, NGX_KEFU_BOT_TEXT_MAX)) {
        return ngx_kefu_bot_fail(c, "must be a string or {\"zh\", "
                                 "\"en\"}, non-empty",
                                 "rules[%uz].then[%uz].reply", i, j);
    }

    v = json_object_get(x, "buttons");

    if (v && ngx_kefu_bot_check_buttons(c, v, "rules[%uz].then[%uz].buttons",
                                        i, j)
             != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* a str or {zh,en} in the language asked, else the other one */

const char *
ngx_kefu_bot_text(json_t *v, ngx_uint_t en)
{
    json_t  *x;

    if (json_is_string(v)) {
        return json_string_value(v);
    }

    x = json_object_get(v, en ? "en" : "zh");

    if (!json_is_string(x)) {
        x = json_object_get(v, en ? "zh" : "en");
    }

    return json_is_string(x) ? json_string_value(x) : "";
}


static void
ngx_kefu_bot_conf_cleanup(void *data)
{
    json_t  *doc = data;

    json_decref(doc);
}


/*
 * The compiled form of a checked document's bot, faq and rules (the
 * effective settings).  NULL if out of memory.
 */

ngx_kefu_bot_conf_t *
ngx_kefu_bot_compile(json_t *doc, ngx_log_t *log)
{
    json_t               *mode;
    ngx_pool_t           *pool;
    ngx_pool_cleanup_t   *cln;
    ngx_kefu_bot_conf_t  *bc;

    pool = ngx_create_pool(16384, log);
    if (pool == NULL) {
        return NULL;
    }

    bc = ngx_pcalloc(pool, sizeof(ngx_kefu_bot_conf_t));
    cln = ngx_pool_cleanup_add(pool, 0);

    if (bc == NULL || cln == NULL) {
        ngx_destroy_pool(pool);
        return NULL;
    }

    bc->pool = pool;
    bc->doc = json_incref(doc);
    cln->handler = ngx_kefu_bot_conf_cleanup;
    cln->data = doc;

    bc->bot = json_object_get(doc, "bot");
    bc->faq = json_object_get(doc, "faq");
    bc->rules = json_object_get(doc, "rules");

    bc->enabled = json_is_true(json_object_get(bc->bot, "enabled"));
    mode = json_object_get(bc->bot, "mode");
    bc->external = json_is_string(mode)
                   && ngx_strcmp(json_string_value(mode), "external") == 0;

    if (ngx_kefu_bot_compile_rules(bc) != NGX_OK
        || ngx_kefu_bot_compile_faq(bc) != NGX_OK)
    {
        ngx_destroy_pool(pool);
        return NULL;
    }

    return bc;
}


void
ngx_kefu_bot_conf_free(ngx_kefu_bot_conf_t *bc)
{
    if (bc) {
        ngx_destroy_pool(bc->pool);
    }
}


/* a new conversation of this group starts with the bot */

ngx_uint_t
ngx_kefu_bot_starts(ngx_kefu_bot_conf_t *bc, ngx_str_t *group)
{
    size_t   i;
    json_t  *groups, *g;

    if (bc == NULL || !bc->enabled) {
        return 0;
    }

    groups = json_object_get(bc->bot, "groups");

    if (!json_is_array(groups)) {
        return 1;
    }

    json_array_foreach(groups, i, g) {
        if (json_string_length(g) == group->len
            && ngx_strncmp(json_string_value(g), group->data, group->len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* a keyword, normalized into the pool */

static ngx_int_t
ngx_kefu_bot_keyword(ngx_pool_t *pool, json_t *k, ngx_str_t *out)
{
    out->data = ngx_pnalloc(pool, json_string_length(k) + 1);
    if (out->data == NULL) {
        return NGX_ERROR;
    }

    out->len = ngx_kefu_ac_normalize(out->data,
                                     (u_char *) json_string_value(k),
                                     json_string_length(k));
    return NGX_OK;
}


static ngx_int_t
ngx_kefu_bot_compile_rules(ngx_kefu_bot_conf_t *bc)
{
    size_t       i, j;
    json_t      *r, *c;
    uint32_t    *ids;
    ngx_str_t   *words;
    ngx_uint_t   n;

    if (!json_is_array(bc->rules) || json_array_size(bc->rules) == 0) {
        return NGX_OK;
    }

    bc->nrules = json_array_size(bc->rules);
    bc->rule = ngx_pcalloc(bc->pool, bc->nrules * sizeof(ngx_kefu_rule_t));
    if (bc->rule == NULL) {
        return NGX_ERROR;
    }

    n = 0;

    json_array_foreach(bc->rules, i, r) {
        json_array_foreach(json_object_get(r, "if"), j, c) {
            n += json_array_size(json_object_get(c, "keywords"));
        }
    }

    words = ngx_palloc(bc->pool, (n + 1) * sizeof(ngx_str_t));
    ids = ngx_palloc(bc->pool, (n + 1) * sizeof(uint32_t));

    if (words == NULL || ids == NULL) {
        return NGX_ERROR;
    }

    json_array_foreach(bc->rules, i, r) {
        ngx_kefu_bot_compile_rule(bc, &bc->rule[i], r);
    }

    if (ngx_kefu_bot_rules_keywords(bc, words, ids, &n) != NGX_OK) {
        return NGX_ERROR;
    }

    bc->nkeywords = n;

    if (n == 0) {
        return NGX_OK;
    }

    bc->ac = ngx_kefu_ac_build(bc->pool, words, ids, n);

    return bc->ac ? NGX_OK : NGX_ERROR;
}


/* a rule: its trigger, and what live runs must read before evaluating it */

static void
ngx_kefu_bot_compile_rule(ngx_kefu_bot_conf_t *bc, ngx_kefu_rule_t *rule,
    json_t *r)
{
    size_t       j;
    json_t      *w, *c, *x;
    const char  *type;

    rule->json = r;
    rule->id = json_string_value(json_object_get(r, "id"));
    x = json_object_get(r, "enabled");
    rule->enabled = (x == NULL || json_is_true(x));

    w = json_object_get(r, "when");
    type = json_string_value(json_object_get(w, "type"));
    type = type ? type : "";

    if (ngx_strcmp(type, "conv_created") == 0) {
        rule->when = NGX_KEFU_WHEN_CONV_CREATED;

    } else if (ngx_strcmp(type, "event") == 0) {
        rule->when = NGX_KEFU_WHEN_EVENT;
        rule->event = json_string_value(json_object_get(w, "name"));

    } else if (ngx_strcmp(type, "waiting") == 0) {
        rule->when = NGX_KEFU_WHEN_WAITING;
        rule->seconds = json_integer_value(json_object_get(w, "seconds"));

    } else if (ngx_strcmp(type, "offline") == 0) {
        rule->when = NGX_KEFU_WHEN_OFFLINE;

    } else {
        rule->when = NGX_KEFU_WHEN_MESSAGE;
    }

    /* what live runs must read before evaluating (ngx_kefu_rules_live.c) */
    if (!rule->enabled) {
        return;
    }

    bc->when_mask |= 1u << rule->when;

    json_array_foreach(json_object_get(r, "if"), j, c) {
        if (json_object_get(c, "attr") || json_object_get(c, "page")) {
            bc->need_visitor = 1;
        }

        if (json_object_get(c, "group") || json_object_get(c, "state")) {
            bc->need_conv = 1;
        }
    }
}


/* every rule's keywords, normalized, each with rule * 32 + condition */

static ngx_int_t
ngx_kefu_bot_rules_keywords(ngx_kefu_bot_conf_t *bc, ngx_str_t *words,
    uint32_t *ids, ngx_uint_t *nwords)
{
    size_t       i, j, k;
    json_t      *r, *c, *kw;
    ngx_uint_t   n;

    n = 0;

    json_array_foreach(bc->rules, i, r) {
        json_array_foreach(json_object_get(r, "if"), j, c) {
            json_array_foreach(json_object_get(c, "keywords"), k, kw) {
                if (ngx_kefu_bot_keyword(bc->pool, kw, &words[n]) != NGX_OK) {
                    return NGX_ERROR;
                }

                if (words[n].len == 0 || words[n].len > 255) {
                    continue;
                }

                ids[n++] = (uint32_t) (i * 32 + j);
            }
        }
    }

    *nwords = n;

    return NGX_OK;
}


static int ngx_libc_cdecl
ngx_kefu_bot_term_cmp(const void *a, const void *b)
{
    const ngx_kefu_faq_term_t  *x = a, *y = b;
    size_t                      n;
    int                         rc;

    n = ngx_min(x->term.len, y->term.len);
    rc = ngx_memcmp(x->term.data, y->term.data, n);

    if (rc) {
        return rc;
    }

    return (x->term.len > y->term.len) - (x->term.len < y->term.len);
}


/* FAQ: every phrase's terms (the search's), its keywords in an automaton */

static ngx_int_t
ngx_kefu_bot_compile_faq(ngx_kefu_bot_conf_t *bc)
{
    size_t                    i, np, nk;
    json_t                   *e;
    uint32_t                 *ids;
    ngx_str_t                *words;
    ngx_kefu_faq_phrase_t    *ph;
    ngx_kefu_search_terms_t  *st;

    if (!json_is_array(bc->faq) || json_array_size(bc->faq) == 0) {
        return NGX_OK;
    }

    bc->nfaq = json_array_size(bc->faq);

    np = 0;
    nk = 0;

    json_array_foreach(bc->faq, i, e) {
        np += 2 + json_array_size(json_object_get(e, "alts"));
        nk += json_array_size(json_object_get(e, "keywords"));
    }

    ph = ngx_pcalloc(bc->pool, np * sizeof(ngx_kefu_faq_phrase_t));
    words = ngx_palloc(bc->pool, (nk + 1) * sizeof(ngx_str_t));
    ids = ngx_palloc(bc->pool, (nk + 1) * sizeof(uint32_t));
    st = ngx_alloc(sizeof(ngx_kefu_search_terms_t), ngx_cycle->log);

    if (ph == NULL || words == NULL || ids == NULL || st == NULL) {
        goto failed;
    }

    bc->phrase = ph;
    bc->nphrases = ngx_kefu_bot_faq_phrases(bc, ph);

    if (ngx_kefu_bot_faq_keywords(bc, words, ids, &nk) != NGX_OK
        || ngx_kefu_bot_faq_terms(bc, st) != NGX_OK)
    {
        goto failed;
    }

    if (nk) {
        bc->faq_ac = ngx_kefu_ac_build(bc->pool, words, ids, nk);
        if (bc->faq_ac == NULL) {
            goto failed;
        }
    }

    ngx_free(st);

    return NGX_OK;

failed:

    if (st) {
        ngx_free(st);
    }

    return NGX_ERROR;
}


/* the phrases: each entry's question in each language, then its alts */

static size_t
ngx_kefu_bot_faq_phrases(ngx_kefu_bot_conf_t *bc, ngx_kefu_faq_phrase_t *ph)
{
    size_t       i, j, np;
    json_t      *e, *q, *x;
    ngx_uint_t   lang;
    const char  *langs[] = { "zh", "en" };

    np = 0;

    json_array_foreach(bc->faq, i, e) {
        q = json_object_get(e, "question");

        for (lang = 0; lang < 2; lang++) {
            x = json_is_string(q) ? (lang ? NULL : q)
                                  : json_object_get(q, langs[lang]);

            if (json_is_string(x)) {
                ph[np].entry = i;
                ph[np].text.data = (u_char *) json_string_value(x);
                ph[np].text.len = json_string_length(x);
                np++;
            }
        }

        json_array_foreach(json_object_get(e, "alts"), j, x) {
            ph[np].entry = i;
            ph[np].text.data = (u_char *) json_string_value(x);
            ph[np].text.len = json_string_length(x);
            np++;
        }
    }

    return np;
}


/* every entry's keywords, normalized, each with its entry */

static ngx_int_t
ngx_kefu_bot_faq_keywords(ngx_kefu_bot_conf_t *bc, ngx_str_t *words,
    uint32_t *ids, size_t *nwords)
{
    size_t   i, j, nk;
    json_t  *e, *x;

    nk = 0;

    json_array_foreach(bc->faq, i, e) {
        json_array_foreach(json_object_get(e, "keywords"), j, x) {
            if (ngx_kefu_bot_keyword(bc->pool, x, &words[nk]) != NGX_OK) {
                return NGX_ERROR;
            }

            if (words[nk].len && words[nk].len <= 255) {
                ids[nk++] = i;
            }
        }
    }

    *nwords = nk;

    return NGX_OK;
}


/* the phrases' terms (counted first, copied next), sorted for bisection */

static ngx_int_t
ngx_kefu_bot_faq_terms(ngx_kefu_bot_conf_t *bc, ngx_kefu_search_terms_t *st)
{
    size_t                  i, nt;
    ngx_str_t              *text;
    ngx_uint_t              t;
    ngx_kefu_faq_term_t    *term;
    ngx_kefu_faq_phrase_t  *ph;

    ph = bc->phrase;
    nt = 0;

    for (i = 0; i < bc->nphrases; i++) {
        ngx_kefu_search_terms(st, ph[i].text.data, ph[i].text.len, 1);
        ph[i].weight = st->n;
        nt += st->n;
    }

    term = ngx_palloc(bc->pool, (nt + 1) * sizeof(ngx_kefu_faq_term_t));
    if (term == NULL) {
        return NGX_ERROR;
    }

    nt = 0;

    for (i = 0; i < bc->nphrases; i++) {
        ngx_kefu_search_terms(st, ph[i].text.data, ph[i].text.len, 1);

        for (t = 0; t < st->n; t++) {
            text = &term[nt].term;
            text->len = st->term[t].len;
            text->data = ngx_pnalloc(bc->pool, text->len);
            if (text->data == NULL) {
                return NGX_ERROR;
            }

            ngx_memcpy(text->data, st->term[t].data, text->len);
            term[nt].phrase = i;
            term[nt].weight = 1;
            nt++;
        }
    }

    ngx_qsort(term, nt, sizeof(ngx_kefu_faq_term_t), ngx_kefu_bot_term_cmp);

    bc->nterms = nt;
    bc->term = term;

    return NGX_OK;
}
