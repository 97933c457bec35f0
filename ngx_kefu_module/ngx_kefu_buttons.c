
/*
 * Buttons on a bot's or an agent's message: at most 10 {"text", "value"?},
 * text 1-100 bytes, value 1-500 bytes.  The visitor's client shows them and
 * a click sends a msg whose text is the value (else the text); the server
 * stores them with the message and delivers them as part of it.
 */


#include "ngx_kefu_bot.h"


json_t *
ngx_kefu_buttons_check(json_t *v, const char *prefix, u_char *errbuf,
    size_t size)
{
    size_t       i, len;
    json_t      *out, *b, *t, *val, *x;
    const char  *key;

    if (!json_is_array(v) || json_array_size(v) == 0
        || json_array_size(v) > NGX_KEFU_BUTTONS_MAX)
    {
        *ngx_snprintf(errbuf, size - 1, "\"%s\" must be an array of 1-%d "
                      "buttons {\"text\", \"value\"?}", prefix,
                      NGX_KEFU_BUTTONS_MAX) = '\0';
        return NULL;
    }

    json_array_foreach(v, i, b) {

        if (!json_is_object(b)) {
            *ngx_snprintf(errbuf, size - 1, "\"%s[%uz]\" must be an object "
                          "{\"text\", \"value\"?}", prefix, i) = '\0';
            return NULL;
        }

        json_object_foreach(b, key, x) {
            if (ngx_strcmp(key, "text") != 0 && ngx_strcmp(key, "value") != 0)
            {
                *ngx_snprintf(errbuf, size - 1, "\"%s[%uz]\" has a field "
                              "other than text, value", prefix, i) = '\0';
                return NULL;
            }
        }

        t = json_object_get(b, "text");
        len = json_is_string(t) ? json_string_length(t) : 0;

        if (len == 0 || len > NGX_KEFU_BUTTON_TEXT_MAX) {
            *ngx_snprintf(errbuf, size - 1, "\"%s[%uz].text\" must be a "
                          "string of 1-%d bytes", prefix, i,
                          NGX_KEFU_BUTTON_TEXT_MAX) = '\0';
            return NULL;
        }

        val = json_object_get(b, "value");
        len = json_is_string(val) ? json_string_length(val) : 0;

        if (val && (len == 0 || len > NGX_KEFU_BUTTON_VALUE_MAX)) {
            *ngx_snprintf(errbuf, size - 1, "\"%s[%uz].value\" must be a "
                          "string of 1-%d bytes", prefix, i,
                          NGX_KEFU_BUTTON_VALUE_MAX) = '\0';
            return NULL;
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

    *ngx_snprintf(errbuf, size - 1, "out of memory") = '\0';
    return NULL;
}
