
/*
 * Canned replies (docs/api.md, "Canned replies"): the site's, a list in
 * its settings (field "canned", edited by admins), and personal ones, kept
 * per agent or admin in Redis and edited by their owner over the API:
 *
 *   GET    <api>/sites/<site>/canned          the site's and the caller's
 *   PUT    <api>/sites/<site>/canned/<key>    the caller's, created/replaced
 *   DELETE <api>/sites/<site>/canned/<key>
 *
 * A reply is {"key", "title"?, "text"}: text (and title) one string or
 * {"zh", "en"}; the console fills in {{visitor.name}}, {{agent.name}},
 * {{attrs.<key>}}, each with an optional fallback after "|".
 *
 * Here: the checks of both (the settings' list and one personal reply);
 * the API's handlers are in ngx_kefu_api_canned.c.
 */


#include "ngx_kefu_canned.h"


#define NGX_KEFU_CANNED_SITE_MAX      500
#define NGX_KEFU_CANNED_TEXT_MAX      2000
#define NGX_KEFU_CANNED_TITLE_MAX     100


static ngx_int_t ngx_kefu_canned_text(json_t *v, ngx_pool_t *pool,
    ngx_str_t *field, ngx_str_t *err, const char *prefix, const char *name,
    size_t max, ngx_uint_t required);


/*
 * One reply; prefix names it in errors ("canned[3]", or "" for a body).
 * field gets the path of the offending field, err what is wrong.
 */

ngx_int_t
ngx_kefu_canned_entry(json_t *e, ngx_pool_t *pool, ngx_str_t *field,
    ngx_str_t *err, const char *prefix, ngx_uint_t need_key)
{
    json_t      *v;
    const char  *key;

    if (!json_is_object(e)) {
        field->len = ngx_strlen(prefix);
        field->data = (u_char *) prefix;
        ngx_str_set(err, "must be an object {\"key\", \"title\", \"text\"}");
        return NGX_DECLINED;
    }

    json_object_foreach(e, key, v) {
        if (ngx_strcmp(key, "text") != 0 && ngx_strcmp(key, "title") != 0
            && ngx_strcmp(key, "key") != 0)
        {
            field->data = ngx_pnalloc(pool, ngx_strlen(prefix) + 70);
            if (field->data) {
                field->len = ngx_sprintf(field->data, "%s%s%*s", prefix,
                                         prefix[0] ? "." : "",
                                         ngx_min(ngx_strlen(key), 64), key)
                             - field->data;
            }
            ngx_str_set(err, "is not a field of a canned reply (key, title, "
                        "text)");
            return NGX_DECLINED;
        }
    }

    v = json_object_get(e, "key");

    if (need_key
        && (!json_is_string(v) || json_string_length(v) > 64
            || ngx_kefu_valid_id((u_char *) json_string_value(v),
                                 json_string_length(v))
               != NGX_OK))
    {
        field->data = ngx_pnalloc(pool, ngx_strlen(prefix) + 5);
        if (field->data) {
            field->len = ngx_sprintf(field->data, "%s.key", prefix)
                         - field->data;
        }
        ngx_str_set(err, "must be a shortcut of 1-64 characters "
                    "[A-Za-z0-9._@-] (typed after \"/\")");
        return NGX_DECLINED;
    }

    if (ngx_kefu_canned_text(json_object_get(e, "text"), pool, field, err,
                             prefix, "text", NGX_KEFU_CANNED_TEXT_MAX, 1)
        != NGX_OK
        || ngx_kefu_canned_text(json_object_get(e, "title"), pool, field, err,
                                prefix, "title", NGX_KEFU_CANNED_TITLE_MAX, 0)
           != NGX_OK)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* a string, or {"zh", "en"} of strings (at least one not empty) */

static ngx_int_t
ngx_kefu_canned_text(json_t *v, ngx_pool_t *pool, ngx_str_t *field,
    ngx_str_t *err, const char *prefix, const char *name, size_t max,
    ngx_uint_t required)
{
    json_t      *x;
    ngx_uint_t   some;
    const char  *lang, *bad;

    bad = NULL;

    if (v == NULL || json_is_null(v)) {
        if (!required) {
            return NGX_OK;
        }

        ngx_str_set(err, "is required: a string, or {\"zh\", \"en\"}");
        goto fail;
    }

    if (json_is_string(v)) {
        if (json_string_length(v) == 0 && required) {
            ngx_str_set(err, "must not be empty");
            goto fail;
        }

        if (json_string_length(v) > max) {
            goto long_text;
        }

        return NGX_OK;
    }

    if (!json_is_object(v)) {
        ngx_str_set(err, "must be a string, or {\"zh\", \"en\"}");
        goto fail;
    }

    some = 0;

    json_object_foreach(v, lang, x) {
        if (ngx_strcmp(lang, "zh") != 0 && ngx_strcmp(lang, "en") != 0) {
            ngx_str_set(err, "has a language other than zh and en");
            goto fail;
        }

        bad = lang;

        if (!json_is_string(x)) {
            ngx_str_set(err, "must be a string");
            goto fail;
        }

        if (json_string_length(x) > max) {
            goto long_text;
        }

        some |= json_string_length(x) > 0;
        bad = NULL;
    }

    if (!some && required) {
        ngx_str_set(err, "must have a text in zh or en");
        goto fail;
    }

    return NGX_OK;

long_text:

    err->data = ngx_pnalloc(pool, 40);
    if (err->data) {
        err->len = ngx_sprintf(err->data, "is longer than %uz bytes", max)
                   - err->data;
    }

fail:

    field->data = ngx_pnalloc(pool, ngx_strlen(prefix) + 16);
    if (field->data) {
        field->len = ngx_sprintf(field->data, "%s%s%s%s%s", prefix,
                                 prefix[0] ? "." : "", name,
                                 bad ? "." : "", bad ? bad : "")
                     - field->data;
    }

    return NGX_DECLINED;
}


/* the settings' "canned": a list of replies, keys unique */

ngx_int_t
ngx_kefu_canned_check(json_t *v, ngx_pool_t *pool, ngx_str_t *field,
    ngx_str_t *err)
{
    char        prefix[32];
    size_t      i, j;
    json_t     *e;
    const char *k;

    if (!json_is_array(v) || json_array_size(v) > NGX_KEFU_CANNED_SITE_MAX) {
        ngx_str_set(field, "canned");
        ngx_str_set(err, "must be an array of at most 500 {\"key\", "
                    "\"title\", \"text\"}");
        return NGX_DECLINED;
    }

    json_array_foreach(v, i, e) {
        *ngx_snprintf((u_char *) prefix, sizeof(prefix) - 1, "canned[%uz]",
                      i) = '\0';

        k = ngx_pnalloc(pool, ngx_strlen(prefix) + 1);
        if (k == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy((char *) k, prefix, ngx_strlen(prefix) + 1);

        if (ngx_kefu_canned_entry(e, pool, field, err, k, 1) != NGX_OK) {
            return NGX_DECLINED;
        }

        for (j = 0; j < i; j++) {
            if (ngx_strcmp(json_string_value(json_object_get(e, "key")),
                           json_string_value(json_object_get(
                               json_array_get(v, j), "key")))
                == 0)
            {
                field->data = ngx_pnalloc(pool, 40);
                if (field->data) {
                    field->len = ngx_sprintf(field->data, "%s.key", k)
                                 - field->data;
                }
                ngx_str_set(err, "is the key of an earlier reply");
                return NGX_DECLINED;
            }
        }
    }

    return NGX_OK;
}
