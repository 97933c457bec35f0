
/*
 * A stored message's search entry from its log entry's JSON as it is,
 * without jansson (issue 18: parsing the entry again and building the
 * hit's document with jansson were a third of what a stored message
 * cost nginx).  The entry's tail (",\"ts\":...}") is JSON that jansson
 * dumped; its fields are found by a scanner that only walks it, the
 * text is unescaped once for its terms, and the document is written
 * with the bytes jansson's json_pack() and json_dumps() gave: its
 * "from" and the attachment's name copied as the tail has them, the
 * text's start escaped as jansson escapes.  What the scanner does not
 * expect (an escaped field name, a \u0000, a lone surrogate, JSON it
 * cannot walk) is declined, and the caller parses with jansson as
 * before.
 */


#include "ngx_kefu_search.h"


/* a member of an object: its name, its value v to end */
typedef ngx_int_t (*ngx_kefu_search_json_field_pt)(ngx_kefu_search_msg_t *m,
    ngx_str_t *name, u_char *v, u_char *end);


static u_char *ngx_kefu_search_json_ws(u_char *p, u_char *last);
static u_char *ngx_kefu_search_json_str(u_char *p, u_char *last,
    ngx_uint_t *esc);
static u_char *ngx_kefu_search_json_skip(u_char *p, u_char *last);
static u_char *ngx_kefu_search_json_name(u_char *p, u_char *last,
    ngx_str_t *name);
static u_char *ngx_kefu_search_json_object(u_char *p, u_char *last,
    ngx_kefu_search_json_field_pt field, ngx_kefu_search_msg_t *m);
static ngx_int_t ngx_kefu_search_json_msg_field(ngx_kefu_search_msg_t *m,
    ngx_str_t *name, u_char *v, u_char *end);
static ngx_int_t ngx_kefu_search_json_att_field(ngx_kefu_search_msg_t *m,
    ngx_str_t *name, u_char *v, u_char *end);
static ngx_int_t ngx_kefu_search_json_att(ngx_kefu_search_msg_t *m,
    u_char *p, u_char *last);
static ngx_int_t ngx_kefu_search_json_short(u_char c);
static size_t ngx_kefu_search_json_esc_len(u_char *p, size_t len);
static u_char *ngx_kefu_search_json_esc(u_char *d, u_char *p, size_t len);


/* the nesting a value may have; deeper is declined */
#define NGX_KEFU_SEARCH_JSON_DEPTH  32


static u_char *
ngx_kefu_search_json_ws(u_char *p, u_char *last)
{
    while (p < last
           && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    {
        p++;
    }

    return p;
}


/* p at a '"': past the closing one, *esc if it has a '\\'; NULL if none */

static u_char *
ngx_kefu_search_json_str(u_char *p, u_char *last, ngx_uint_t *esc)
{
    *esc = 0;

    for (p++; p < last; p++) {
        if (*p == '"') {
            return p + 1;
        }

        if (*p == '\\') {
            *esc = 1;
            p++;
        }
    }

    return NULL;
}


/* past one value (strings walked, objects and arrays to their end) */

static u_char *
ngx_kefu_search_json_skip(u_char *p, u_char *last)
{
    ngx_uint_t  depth, esc;

    depth = 0;

    while (p < last) {
        switch (*p) {

        case '"':
            p = ngx_kefu_search_json_str(p, last, &esc);
            if (p == NULL) {
                return NULL;
            }

            break;

        case '{':
        case '[':
            if (++depth > NGX_KEFU_SEARCH_JSON_DEPTH) {
                return NULL;
            }

            p++;
            break;

        case '}':
        case ']':
            if (depth == 0) {
                return p;
            }

            depth--;
            p++;
            break;

        case ',':
            if (depth == 0) {
                return p;
            }

            p++;
            break;

        default:
            p++;
            continue;
        }

        if (depth == 0) {
            return p;
        }
    }

    return NULL;
}


/* an object's field name and its ':', p at its '"'; an escaped one NULL */

static u_char *
ngx_kefu_search_json_name(u_char *p, u_char *last, ngx_str_t *name)
{
    u_char      *e;
    ngx_uint_t   esc;

    if (p == last || *p != '"') {
        return NULL;
    }

    e = ngx_kefu_search_json_str(p, last, &esc);
    if (e == NULL || esc) {
        return NULL;
    }

    name->data = p + 1;
    name->len = e - p - 2;

    p = ngx_kefu_search_json_ws(e, last);
    if (p == last || *p != ':') {
        return NULL;
    }

    return ngx_kefu_search_json_ws(p + 1, last);
}


/*
 * The fields of the tail the entry needs: text, from, private and the
 * attachment's name, as the tail has them (the last of a name given
 * twice, as jansson's parse keeps).  NGX_DECLINED: parse it.
 */

ngx_int_t
ngx_kefu_search_msg_scan(u_char *tail, size_t len, ngx_kefu_search_msg_t *m)
{
    u_char  *p, *last;

    ngx_memzero(m, sizeof(ngx_kefu_search_msg_t));

    if (len < 2 || tail[0] != ',') {
        return NGX_DECLINED;
    }

    /* "{" in place of the ",": an object */
    last = tail + len;
    p = ngx_kefu_search_json_object(tail + 1, last,
                                    ngx_kefu_search_json_msg_field, m);

    /* nothing after the object but white space */
    return (p && ngx_kefu_search_json_ws(p, last) == last) ? NGX_OK
                                                          : NGX_DECLINED;
}


/*
 * An object's members, p just past its "{", each given to field (its
 * name, its value v to end, as the JSON has it): the position past its
 * "}", or NULL for what is not an object of members.
 */

static u_char *
ngx_kefu_search_json_object(u_char *p, u_char *last,
    ngx_kefu_search_json_field_pt field, ngx_kefu_search_msg_t *m)
{
    u_char     *v;
    ngx_str_t   name;

    p = ngx_kefu_search_json_ws(p, last);

    if (p < last && *p == '}') {
        return p + 1;
    }

    for ( ;; ) {
        v = ngx_kefu_search_json_name(p, last, &name);
        if (v == NULL) {
            return NULL;
        }

        p = ngx_kefu_search_json_skip(v, last);
        if (p == NULL || p == v || field(m, &name, v, p) != NGX_OK) {
            return NULL;
        }

        p = ngx_kefu_search_json_ws(p, last);

        if (p < last && *p == ',') {
            p = ngx_kefu_search_json_ws(p + 1, last);
            continue;
        }

        return (p < last && *p == '}') ? p + 1 : NULL;
    }
}


/* a member of the message: text, from, private, attachment kept */

static ngx_int_t
ngx_kefu_search_json_msg_field(ngx_kefu_search_msg_t *m, ngx_str_t *name,
    u_char *v, u_char *end)
{
    if (name->len == 4 && ngx_strncmp(name->data, "text", 4) == 0) {
        m->text.data = v;
        m->text.len = end - v;

    } else if (name->len == 4 && ngx_strncmp(name->data, "from", 4) == 0) {
        m->from.data = v;
        m->from.len = end - v;

    } else if (name->len == 7 && ngx_strncmp(name->data, "private", 7) == 0) {
        m->priv = (end - v == 4 && ngx_strncmp(v, "true", 4) == 0);

    } else if (name->len == 10
               && ngx_strncmp(name->data, "attachment", 10) == 0)
    {
        return ngx_kefu_search_json_att(m, v, end);
    }

    return NGX_OK;
}


/* the attachment's value, p to last: an object, its "name" kept */

static ngx_int_t
ngx_kefu_search_json_att(ngx_kefu_search_msg_t *m, u_char *p, u_char *last)
{
    m->att = 0;
    m->att_name.len = 0;

    if (*p != '{') {
        return NGX_OK;
    }

    m->att = 1;

    return ngx_kefu_search_json_object(p + 1, last,
                                       ngx_kefu_search_json_att_field, m)
           ? NGX_OK : NGX_DECLINED;
}


/* a member of the attachment: its name kept */

static ngx_int_t
ngx_kefu_search_json_att_field(ngx_kefu_search_msg_t *m, ngx_str_t *name,
    u_char *v, u_char *end)
{
    if (name->len == 4 && ngx_strncmp(name->data, "name", 4) == 0) {
        m->att_name.data = v;
        m->att_name.len = end - v;
    }

    return NGX_OK;
}


/* what a short escape ("\\n") stands for; 0: none */

static ngx_int_t
ngx_kefu_search_json_short(u_char c)
{
    switch (c) {

    case '"':
    case '\\':
    case '/':
        return c;

    case 'b':
        return '\b';

    case 'f':
        return '\f';

    case 'n':
        return '\n';

    case 'r':
        return '\r';

    case 't':
        return '\t';

    default:
        return 0;
    }
}


/*
 * A JSON string's value (s: with its quotes) as UTF-8 into d (room for
 * s->len bytes); its length, or -1 for what jansson's parse refuses or
 * the scanner does not expect (a \u0000, a lone surrogate, a bad escape).
 */

ssize_t
ngx_kefu_search_json_unescape(u_char *d, ngx_str_t *s)
{
    u_char     *p, *last, *start;
    ngx_int_t   c, lo;

    if (s->len < 2 || s->data[0] != '"') {
        return -1;
    }

    start = d;
    p = s->data + 1;
    last = s->data + s->len - 1;

    while (p < last) {
        if (*p >= 0x20 && *p != '\\') {
            *d++ = *p++;
            continue;
        }

        /* a control character as it is: jansson's parse refuses it */
        if (*p < 0x20) {
            return -1;
        }

        if (last - p < 2) {
            return -1;
        }

        c = ngx_kefu_search_json_short(p[1]);

        if (c > 0) {
            *d++ = (u_char) c;
            p += 2;
            continue;
        }

        if (p[1] != 'u') {
            return -1;
        }

        if (last - p < 6
            || (c = ngx_hextoi(p + 2, 4)) == NGX_ERROR
            || c == 0 || (c >= 0xdc00 && c <= 0xdfff))
        {
            return -1;
        }

        p += 6;

        if (c >= 0xd800 && c <= 0xdbff) {
            if (last - p < 6 || p[0] != '\\' || p[1] != 'u'
                || (lo = ngx_hextoi(p + 2, 4)) == NGX_ERROR
                || lo < 0xdc00 || lo > 0xdfff)
            {
                return -1;
            }

            c = 0x10000 + ((c - 0xd800) << 10) + (lo - 0xdc00);
            p += 6;
        }

        d = ngx_kefu_search_utf8_put(d, (uint32_t) c);
    }

    return d - start;
}


/*
 * The hit's document, as json_pack("{s:s%,s:I,s:I,s:O,s:s%}") and then
 * "cut", "private" and "attachment" with json_dumps(JSON_COMPACT) wrote
 * it: text is the unescaped text, cut its bytes kept.  NULL: no memory
 * (ngx_free() what it returns).
 */

u_char *
ngx_kefu_search_msg_doc_write(ngx_kefu_search_msg_t *m, ngx_str_t *conv,
    uint64_t seq, int64_t ts, u_char *text, size_t len, size_t cut,
    size_t *doc_len)
{
    u_char  *doc, *p;
    size_t   n;

    n = sizeof("{\"conv\":\"\",\"seq\":,\"ts\":,\"from\":,\"text\":\"\""
               ",\"cut\":true,\"private\":true,\"attachment\":}") - 1
        + ngx_kefu_search_json_esc_len(conv->data, conv->len)
        + 2 * NGX_INT64_LEN
        + (m->from.len ? m->from.len : sizeof("null") - 1)
        + ngx_kefu_search_json_esc_len(text, cut)
        + (m->att_name.len ? m->att_name.len : sizeof("null") - 1);

    doc = ngx_alloc(n, ngx_cycle->log);
    if (doc == NULL) {
        return NULL;
    }

    p = ngx_cpymem(doc, "{\"conv\":\"", sizeof("{\"conv\":\"") - 1);
    p = ngx_kefu_search_json_esc(p, conv->data, conv->len);
    p = ngx_sprintf(p, "\",\"seq\":%uL,\"ts\":%L,\"from\":", seq, ts);

    if (m->from.len) {
        p = ngx_cpymem(p, m->from.data, m->from.len);

    } else {
        p = ngx_cpymem(p, "null", sizeof("null") - 1);
    }

    p = ngx_cpymem(p, ",\"text\":\"", sizeof(",\"text\":\"") - 1);
    p = ngx_kefu_search_json_esc(p, text, cut);
    *p++ = '"';

    if (cut < len) {
        p = ngx_cpymem(p, ",\"cut\":true", sizeof(",\"cut\":true") - 1);
    }

    if (m->priv) {
        p = ngx_cpymem(p, ",\"private\":true",
                       sizeof(",\"private\":true") - 1);
    }

    if (m->att) {
        p = ngx_cpymem(p, ",\"attachment\":", sizeof(",\"attachment\":") - 1);

        if (m->att_name.len) {
            p = ngx_cpymem(p, m->att_name.data, m->att_name.len);

        } else {
            p = ngx_cpymem(p, "null", sizeof("null") - 1);
        }
    }

    *p++ = '}';
    *doc_len = p - doc;

    return doc;
}


/*
 * A string's bytes as jansson dumps them: '"', '\\' and control characters
 * escaped (\b \f \n \r \t, else \u00XX), the rest as it is
 */

static size_t
ngx_kefu_search_json_esc_len(u_char *p, size_t len)
{
    size_t  n;

    for (n = len; len--; p++) {
        if (*p == '"' || *p == '\\' || *p == '\b' || *p == '\f'
            || *p == '\n' || *p == '\r' || *p == '\t')
        {
            n++;

        } else if (*p < 0x20) {
            n += 5;
        }
    }

    return n;
}


static u_char *
ngx_kefu_search_json_esc(u_char *d, u_char *p, size_t len)
{
    u_char         e;
    static u_char  hex[] = "0123456789ABCDEF";
    static u_char  esc[] = "\"\"\\\\\bb\ff\nn\rr\tt";

    for ( /* void */ ; len--; p++) {
        if (*p >= 0x20 && *p != '"' && *p != '\\') {
            *d++ = *p;
            continue;
        }

        for (e = 0; e < sizeof(esc) - 1; e += 2) {
            if (*p == esc[e]) {
                break;
            }
        }

        if (e < sizeof(esc) - 1) {
            *d++ = '\\';
            *d++ = esc[e + 1];
            continue;
        }

        if (*p < 0x20) {
            d = ngx_cpymem(d, "\\u00", 4);
            *d++ = hex[*p >> 4];
            *d++ = hex[*p & 0xf];
            continue;
        }

        *d++ = *p;
    }

    return d;
}
