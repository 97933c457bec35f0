
/*
 * Buttons on a bot's or an agent's message: at most 10 {"text", "value"?},
 * text 1-100 bytes, value 1-500 bytes.  The visitor's client shows them and
 * a click sends a msg whose text is the value (else the text); the server
 * stores them with the message and delivers them as part of it.
 */


#include "ngx_kefu_bot.h"


/*
 * A clean copy of buttons (only "text" and "value"), or NULL with field
 * (a buffer of NGX_KEFU_FIELD_MAX) naming the offending field under prefix
 * and *err saying what is wrong with it.
 */

json_t *
ngx_kefu_buttons_field(json_t *v, const char *prefix, u_char *field,
    const char **err)
{
    size_t       i, len;
    json_t      *out, *b, *t, *val, *x;
    const char  *key;

#define ngx_kefu_buttons_fail(e, ...)                                          \
    *ngx_snprintf(field, NGX_KEFU_FIELD_MAX - 1, __VA_ARGS__) = '\0';          \
    *err = e;                                                                 \
    return NULL

    if (!json_is_array(v) || json_array_size(v) == 0
        || json_array_size(v) > NGX_KEFU_BUTTONS_MAX)
    {
        ngx_kefu_buttons_fail("must be an array of 1-10 buttons {\"text\", "
                              "\"value\"?}", "%s", prefix);
    }

    json_array_foreach(v, i, b) {

        if (!json_is_object(b)) {
            ngx_kefu_buttons_fail("must be an object {\"text\", \"value\"?}",
                                  "%s[%uz]", prefix, i);
        }

        json_object_foreach(b, key, x) {
            if (ngx_strcmp(key, "text") != 0 && ngx_strcmp(key, "value") != 0)
            {
                ngx_kefu_buttons_fail("has a field other than text, value",
                                      "%s[%uz]", prefix, i);
            }
        }

        t = json_object_get(b, "text");
        len = json_is_string(t) ? json_string_length(t) : 0;

        if (len == 0 || len > NGX_KEFU_BUTTON_TEXT_MAX) {
            ngx_kefu_buttons_fail("must be a string of 1-100 bytes",
                                  "%s[%uz].text", prefix, i);
        }

        val = json_object_get(b, "value");
        len = json_is_string(val) ? json_string_length(val) : 0;

        if (val && (len == 0 || len > NGX_KEFU_BUTTON_VALUE_MAX)) {
            ngx_kefu_buttons_fail("must be a string of 1-500 bytes",
                                  "%s[%uz].value", prefix, i);
        }
    }

    out = json_array();
    if (out == NULL) {
        goto nomem;
    }

    json_array_foreach(v, i, b) {
        t = json_object_get(b, "text");
        val = json_object_get(b, "value");

        x = val ? json_pack("{s:O,s:O}", "text", t, "value", val)
                : json_pack("{s:O}", "text", t);

        if (x == NULL || json_array_append_new(out, x) != 0) {
            json_decref(out);
            goto nomem;
        }
    }

    return out;

nomem:

    ngx_kefu_buttons_fail("could not be copied: out of memory", "%s", prefix);

#undef ngx_kefu_buttons_fail
}


/* the same with one message: "\"buttons[2].text\" must be ..." */

json_t *
ngx_kefu_buttons_check(json_t *v, const char *prefix, u_char *errbuf,
    size_t size)
{
    u_char      field[NGX_KEFU_FIELD_MAX];
    json_t     *out;
    const char *err;

    out = ngx_kefu_buttons_field(v, prefix, field, &err);

    if (out == NULL) {
        *ngx_snprintf(errbuf, size - 1, "\"%s\" %s", field, err) = '\0';
    }

    return out;
}
