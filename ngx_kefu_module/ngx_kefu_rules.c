
/*
 * Rules (docs/automation.md): which of a site's rules a trigger fires, and
 * why.  Keywords of all rules are found in one pass over the normalized
 * message (ngx_kefu_ac.c); every other condition is checked in the
 * rule's order, the first that fails stops the rule.
 */


#include "ngx_kefu_bot.h"


/* occurrences kept for the "why" of the rules that fire */
#define NGX_KEFU_RULES_FOUND   256


typedef struct {
    uint32_t                     id;
    u_char                      *p;
    size_t                       len;
} ngx_kefu_rules_hit_t;


typedef struct {
    uint32_t                    *mask;        /* per rule: conditions met */
    ngx_uint_t                   nhits;
    ngx_kefu_rules_hit_t         hit[NGX_KEFU_RULES_FOUND];
} ngx_kefu_rules_scan_t;


/* a condition other than keywords: {"<name>": v, ...} */
typedef ngx_int_t (*ngx_kefu_rules_cond_pt)(ngx_kefu_rule_ctx_t *rc,
    json_t *c, json_t *v, json_t *why, json_t **why_not);

typedef struct {
    const char                  *name;
    ngx_kefu_rules_cond_pt       check;
} ngx_kefu_rules_kind_t;


static ngx_int_t ngx_kefu_rules_found(void *data, uint32_t id, u_char *p,
    size_t len);
static ngx_kefu_rules_scan_t *ngx_kefu_rules_scan(ngx_kefu_bot_conf_t *bc,
    ngx_kefu_rule_ctx_t *rc, ngx_pool_t *pool);
static ngx_uint_t ngx_kefu_rules_trigger(ngx_kefu_rule_t *rule,
    ngx_kefu_rule_ctx_t *rc, json_t **why_not);
static ngx_uint_t ngx_kefu_rules_conds(ngx_kefu_rule_ctx_t *rc,
    ngx_kefu_rule_t *rule, ngx_uint_t i, ngx_kefu_rules_scan_t *sc,
    json_t *why, json_t **why_not);
static json_t *ngx_kefu_rules_result(ngx_kefu_rule_t *rule, ngx_uint_t ok,
    json_t *why, json_t *why_not);
static ngx_int_t ngx_kefu_rules_cond(ngx_kefu_rule_ctx_t *rc, json_t *c,
    ngx_kefu_rules_scan_t *sc, uint32_t id, json_t *why, json_t **why_not);
static ngx_int_t ngx_kefu_rules_cond_value(ngx_kefu_rule_ctx_t *rc,
    json_t *c, json_t *v, json_t *why, json_t **why_not);
static ngx_int_t ngx_kefu_rules_cond_page(ngx_kefu_rule_ctx_t *rc,
    json_t *c, json_t *v, json_t *why, json_t **why_not);
static ngx_int_t ngx_kefu_rules_cond_hours(ngx_kefu_rule_ctx_t *rc,
    json_t *c, json_t *v, json_t *why, json_t **why_not);
static ngx_int_t ngx_kefu_rules_cond_group(ngx_kefu_rule_ctx_t *rc,
    json_t *c, json_t *v, json_t *why, json_t **why_not);
static ngx_int_t ngx_kefu_rules_cond_state(ngx_kefu_rule_ctx_t *rc,
    json_t *c, json_t *v, json_t *why, json_t **why_not);
static ngx_int_t ngx_kefu_rules_value(json_t *have, const char *op,
    json_t *want);
static ngx_uint_t ngx_kefu_rules_number(json_t *v, int64_t *i, double *d);
static ngx_int_t ngx_kefu_rules_cmp(json_t *x, json_t *y);


static const char  *ngx_kefu_when_names[] = {
    "message", "conv_created", "event", "waiting", "offline"
};


/* the conditions after keywords, in the order a condition is looked at */

static ngx_kefu_rules_kind_t  ngx_kefu_rules_kinds[] = {
    { "attr", ngx_kefu_rules_cond_value },
    { "data", ngx_kefu_rules_cond_value },
    { "page", ngx_kefu_rules_cond_page },
    { "hours", ngx_kefu_rules_cond_hours },
    { "group", ngx_kefu_rules_cond_group },
    { "state", ngx_kefu_rules_cond_state },
    { NULL, NULL }
};


static ngx_int_t
ngx_kefu_rules_found(void *data, uint32_t id, u_char *p, size_t len)
{
    ngx_kefu_rules_scan_t  *sc = data;

    if (!(sc->mask[id / 32] & (1u << (id % 32)))
        && sc->nhits < NGX_KEFU_RULES_FOUND)
    {
        sc->hit[sc->nhits].id = id;
        sc->hit[sc->nhits].p = p;
        sc->hit[sc->nhits].len = len;
        sc->nhits++;
    }

    sc->mask[id / 32] |= 1u << (id % 32);

    return 0;
}


/*
 * An array of {"id", "name"?, "fires", "why", "not"?, "actions"}: the
 * rules that fire, in their order (explain: every rule, with why not).
 * NULL if out of memory.
 */

json_t *
ngx_kefu_rules_eval(ngx_kefu_bot_conf_t *bc, ngx_kefu_rule_ctx_t *rc,
    ngx_uint_t explain, ngx_pool_t *pool)
{
    json_t                 *out, *o, *why, *why_not;
    ngx_uint_t              i, ok;
    ngx_kefu_rule_t        *rule;
    ngx_kefu_rules_scan_t  *sc;

    out = json_array();

    if (out == NULL || bc == NULL || bc->nrules == 0) {
        return out;
    }

    sc = ngx_kefu_rules_scan(bc, rc, pool);
    if (sc == NULL) {
        goto failed;
    }

    for (i = 0; i < bc->nrules; i++) {
        rule = &bc->rule[i];
        why = json_array();
        why_not = NULL;

        if (why == NULL) {
            goto failed;
        }

        ok = ngx_kefu_rules_trigger(rule, rc, &why_not);

        if (ok) {
            json_array_append_new(why, json_sprintf("trigger %s",
                                      ngx_kefu_when_names[rule->when]));

            ok = ngx_kefu_rules_conds(rc, rule, i, sc, why, &why_not);
        }

        if (!ok && !explain) {
            json_decref(why);
            json_decref(why_not);
            continue;
        }

        o = ngx_kefu_rules_result(rule, ok, why, why_not);

        if (o == NULL || json_array_append_new(out, o) != 0) {
            goto failed;
        }
    }

    return out;

failed:

    json_decref(out);
    return NULL;
}


/* the keywords of all rules, found in one pass over the normalized text */

static ngx_kefu_rules_scan_t *
ngx_kefu_rules_scan(ngx_kefu_bot_conf_t *bc, ngx_kefu_rule_ctx_t *rc,
    ngx_pool_t *pool)
{
    u_char                 *norm;
    size_t                  nlen;
    ngx_kefu_rules_scan_t  *sc;

    sc = ngx_pcalloc(pool, sizeof(ngx_kefu_rules_scan_t));
    if (sc == NULL) {
        return NULL;
    }

    sc->mask = ngx_pcalloc(pool, bc->nrules * sizeof(uint32_t));
    if (sc->mask == NULL) {
        return NULL;
    }

    if (rc->text.len && bc->ac) {
        norm = ngx_pnalloc(pool, rc->text.len);
        if (norm == NULL) {
            return NULL;
        }

        nlen = ngx_kefu_ac_normalize(norm, rc->text.data, rc->text.len);
        ngx_kefu_ac_scan(bc->ac, norm, nlen, ngx_kefu_rules_found, sc);
    }

    return sc;
}


/* 1 if the rule is enabled and its trigger is this one; else 0, why not */

static ngx_uint_t
ngx_kefu_rules_trigger(ngx_kefu_rule_t *rule, ngx_kefu_rule_ctx_t *rc,
    json_t **why_not)
{
    if (!rule->enabled) {
        *why_not = json_string("the rule is disabled");
        return 0;
    }

    if (rule->when != rc->when) {
        *why_not = json_sprintf("the trigger is %s, not %s",
                                ngx_kefu_when_names[rc->when],
                                ngx_kefu_when_names[rule->when]);
        return 0;
    }

    if (rule->when == NGX_KEFU_WHEN_EVENT
        && (rc->event == NULL || ngx_strcmp(rc->event, rule->event) != 0))
    {
        *why_not = json_sprintf("the event is %s, not %s",
                                rc->event ? rc->event : "none",
                                rule->event);
        return 0;
    }

    if (rule->when == NGX_KEFU_WHEN_WAITING && rc->waited < rule->seconds) {
        *why_not = json_sprintf("waited %lld seconds, not %lld",
                                (long long) rc->waited,
                                (long long) rule->seconds);
        return 0;
    }

    /* only a conversation that still waits (queued or in bot) */
    if (rule->when == NGX_KEFU_WHEN_WAITING && rc->state
        && ngx_strcmp(rc->state, "queued") != 0
        && ngx_strcmp(rc->state, "bot") != 0)
    {
        *why_not = json_sprintf("the conversation is %s: not waiting",
                                rc->state);
        return 0;
    }

    return 1;
}


/* 1 if every condition of rule i holds; the first that fails stops it */

static ngx_uint_t
ngx_kefu_rules_conds(ngx_kefu_rule_ctx_t *rc, ngx_kefu_rule_t *rule,
    ngx_uint_t i, ngx_kefu_rules_scan_t *sc, json_t *why, json_t **why_not)
{
    size_t   j;
    json_t  *c;

    json_array_foreach(json_object_get(rule->json, "if"), j, c) {
        if (ngx_kefu_rules_cond(rc, c, sc, i * 32 + j, why, why_not)
            != NGX_OK)
        {
            return 0;
        }
    }

    return 1;
}


/* {"id", "name"?, "fires", "why", "not"?, "actions"}; why and why_not taken */

static json_t *
ngx_kefu_rules_result(ngx_kefu_rule_t *rule, ngx_uint_t ok, json_t *why,
    json_t *why_not)
{
    json_t  *o, *name;

    o = json_pack("{s:s,s:b,s:o,s:O}", "id", rule->id, "fires", (int) ok,
                  "why", why,
                  "actions", json_object_get(rule->json, "then"));
    if (o == NULL) {
        json_decref(why_not);
        return NULL;
    }

    name = json_object_get(rule->json, "name");

    if (name) {
        json_object_set(o, "name", name);
    }

    if (why_not) {
        json_object_set_new(o, "not", why_not);
    }

    return o;
}


/* one condition: NGX_OK holds (why gets a line), else why_not says why */

static ngx_int_t
ngx_kefu_rules_cond(ngx_kefu_rule_ctx_t *rc, json_t *c,
    ngx_kefu_rules_scan_t *sc, uint32_t id, json_t *why, json_t **why_not)
{
    json_t                 *v;
    ngx_uint_t              k;
    ngx_kefu_rules_kind_t  *kind;

    if (json_object_get(c, "keywords")) {
        if (!(sc->mask[id / 32] & (1u << (id % 32)))) {
            *why_not = json_string(rc->text.len ? "no keyword in the message"
                                                : "no message");
            return NGX_DECLINED;
        }

        for (k = 0; k < sc->nhits; k++) {
            if (sc->hit[k].id == id) {
                json_array_append_new(why, json_sprintf("keyword %.*s",
                                          (int) sc->hit[k].len,
                                          sc->hit[k].p));
                return NGX_OK;
            }
        }

        json_array_append_new(why, json_string("keyword"));
        return NGX_OK;
    }

    for (kind = ngx_kefu_rules_kinds; kind->name; kind++) {
        v = json_object_get(c, kind->name);

        if (v) {
            return kind->check(rc, c, v, why, why_not);
        }
    }

    *why_not = json_string("an unknown condition");

    return NGX_DECLINED;
}


/* {"attr" or "data", "op", "value"}: the visitor's or the event's value */

static ngx_int_t
ngx_kefu_rules_cond_value(ngx_kefu_rule_ctx_t *rc, json_t *c, json_t *v,
    json_t *why, json_t **why_not)
{
    json_t      *have;
    const char  *s, *key, *op;

    key = json_string_value(v);
    op = json_string_value(json_object_get(c, "op"));
    have = json_object_get(json_object_get(c, "attr") ? rc->attrs
                                                      : rc->data, key);
    s = json_object_get(c, "attr") ? "attr" : "data";

    if (have == NULL
        || ngx_kefu_rules_value(have, op, json_object_get(c, "value"))
           != NGX_OK)
    {
        *why_not = have ? json_sprintf("%s %s is not %s the value", s,
                                       key, op)
                        : json_sprintf("no %s %s", s, key);
        return NGX_DECLINED;
    }

    json_array_append_new(why, json_sprintf("%s %s %s", s, key, op));
    return NGX_OK;
}


static ngx_int_t
ngx_kefu_rules_cond_page(ngx_kefu_rule_ctx_t *rc, json_t *c, json_t *v,
    json_t *why, json_t **why_not)
{
    size_t  plen;

    plen = json_string_length(v);

    if (rc->page.len < plen
        || ngx_strncmp(rc->page.data, json_string_value(v), plen) != 0)
    {
        *why_not = json_sprintf("the page is not under %s",
                                json_string_value(v));
        return NGX_DECLINED;
    }

    json_array_append_new(why, json_sprintf("page under %s",
                                            json_string_value(v)));
    return NGX_OK;
}


static ngx_int_t
ngx_kefu_rules_cond_hours(ngx_kefu_rule_ctx_t *rc, json_t *c, json_t *v,
    json_t *why, json_t **why_not)
{
    const char  *s;

    s = json_string_value(v);

    if ((ngx_strcmp(s, "inside") == 0) != (rc->hours != 0)) {
        *why_not = json_sprintf("not %s business hours", s);
        return NGX_DECLINED;
    }

    json_array_append_new(why, json_sprintf("%s business hours", s));
    return NGX_OK;
}


static ngx_int_t
ngx_kefu_rules_cond_group(ngx_kefu_rule_ctx_t *rc, json_t *c, json_t *v,
    json_t *why, json_t **why_not)
{
    if (rc->group.len != json_string_length(v)
        || ngx_strncmp(rc->group.data, json_string_value(v),
                       rc->group.len) != 0)
    {
        *why_not = json_sprintf("the group is %.*s, not %s",
                                (int) rc->group.len, rc->group.data,
                                json_string_value(v));
        return NGX_DECLINED;
    }

    json_array_append_new(why, json_sprintf("group is %s",
                                            json_string_value(v)));
    return NGX_OK;
}


static ngx_int_t
ngx_kefu_rules_cond_state(ngx_kefu_rule_ctx_t *rc, json_t *c, json_t *v,
    json_t *why, json_t **why_not)
{
    if (rc->state == NULL || ngx_strcmp(rc->state, json_string_value(v)) != 0)
    {
        *why_not = json_sprintf("the state is %s, not %s",
                                rc->state ? rc->state : "none",
                                json_string_value(v));
        return NGX_DECLINED;
    }

    json_array_append_new(why, json_sprintf("state is %s",
                                            json_string_value(v)));
    return NGX_OK;
}


/*
 * A number, or a string that is one (attrs are often strings): integers
 * are kept exact as int64 (an order id of 18 digits is not a double), the
 * rest as a double.  ok: 0 not a number, 1 an integer (*i), 2 a real (*d).
 */

static ngx_uint_t
ngx_kefu_rules_number(json_t *v, int64_t *i, double *d)
{
    char        *end;
    const char  *s;
    long long    ll;

    if (json_is_integer(v)) {
        *i = json_integer_value(v);
        return 1;
    }

    if (json_is_real(v)) {
        *d = json_real_value(v);
        return 2;
    }

    if (!json_is_string(v) || json_string_length(v) == 0
        || json_string_length(v) > 64)
    {
        return 0;
    }

    s = json_string_value(v);

    errno = 0;
    ll = strtoll(s, &end, 10);

    if (*end == '\0' && errno == 0) {
        *i = ll;
        return 1;
    }

    *d = strtod(s, &end);

    return (*end == '\0') ? 2 : 0;
}


/* -1, 0, 1 as x is below, equal to or above y; 2 if either is none */

static ngx_int_t
ngx_kefu_rules_cmp(json_t *x, json_t *y)
{
    double       dx, dy;
    int64_t      ix, iy;
    ngx_uint_t   kx, ky;
    long double  lx, ly;

    kx = ngx_kefu_rules_number(x, &ix, &dx);
    ky = ngx_kefu_rules_number(y, &iy, &dy);

    if (kx == 0 || ky == 0) {
        return 2;
    }

    if (kx == 1 && ky == 1) {
        return (ix > iy) - (ix < iy);
    }

    /* long double holds every int64 exactly on x86-64 */
    lx = (kx == 1) ? (long double) ix : (long double) dx;
    ly = (ky == 1) ? (long double) iy : (long double) dy;

    return (lx > ly) - (lx < ly);
}


static ngx_int_t
ngx_kefu_rules_value(json_t *have, const char *op, json_t *want)
{
    u_char      *a, *b;
    size_t       al, bl;
    ngx_int_t    rc;

    if (ngx_strcmp(op, "eq") == 0) {
        if (json_equal(have, want)) {
            return NGX_OK;
        }

        return (json_is_number(want) && ngx_kefu_rules_cmp(have, want) == 0)
               ? NGX_OK : NGX_DECLINED;
    }

    if (ngx_strcmp(op, "gt") == 0) {
        return (ngx_kefu_rules_cmp(have, want) == 1) ? NGX_OK : NGX_DECLINED;
    }

    /* contains: normalized, as keywords */
    if (!json_is_string(have) || !json_is_string(want)) {
        return NGX_DECLINED;
    }

    al = json_string_length(have);
    bl = json_string_length(want);

    a = ngx_alloc(al + bl + 2, ngx_cycle->log);
    if (a == NULL) {
        return NGX_DECLINED;
    }

    b = a + al + 1;
    al = ngx_kefu_ac_normalize(a, (u_char *) json_string_value(have), al);
    bl = ngx_kefu_ac_normalize(b, (u_char *) json_string_value(want), bl);

    rc = (bl <= al && ngx_strlcasestrn(a, a + al, b, bl - 1) != NULL)
         ? NGX_OK : NGX_DECLINED;

    ngx_free(a);

    return rc;
}
