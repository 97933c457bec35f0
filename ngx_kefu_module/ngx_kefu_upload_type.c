
/*
 * What a file is, from its first bytes (magic numbers), never from its
 * name or the client's Content-Type; and an image's width and height from
 * its header, without an image library.
 */


#include "ngx_kefu_upload.h"


/*
 * The order is the bit of kefu_upload_types.  "never" types are refused
 * whatever is allowed: a browser would run what they contain.
 */
ngx_kefu_upload_type_t  ngx_kefu_upload_types[] = {
    { "png",  "image/png",       " png ",                 "a PNG image", 1, 0 },
    { "jpeg", "image/jpeg",      " jpg jpeg jpe jfif ",   "a JPEG image", 1, 0 },
    { "gif",  "image/gif",       " gif ",                 "a GIF image", 1, 0 },
    { "webp", "image/webp",      " webp ",                "a WebP image", 1, 0 },
    { "pdf",  "application/pdf", " pdf ",                 "a PDF document", 0, 0 },
    { "txt",  "text/plain",      " txt text log csv md ", "plain text", 0, 0 },
    { "zip",  "application/zip", " zip ",                 "a ZIP archive", 0, 0 },
    { "mp4",  "video/mp4",       " mp4 m4v mov ",         "an MP4 video", 0, 0 },
    { "svg",  "image/svg+xml",   " svg svgz ",            "an SVG image", 0, 1 },
    { "html", "text/html",       " html htm xhtml shtml ", "an HTML page", 0, 1 },
    { "xml",  "application/xml", " xml xsl ",             "an XML document", 0, 1 },
    { "exe",  "application/x-executable", " exe dll com elf so bin ",
                                                          "an executable", 0, 1 },
    { NULL, NULL, NULL, NULL, 0, 0 }
};

#define NGX_KEFU_T_PNG   0
#define NGX_KEFU_T_JPEG  1
#define NGX_KEFU_T_GIF   2
#define NGX_KEFU_T_WEBP  3
#define NGX_KEFU_T_PDF   4
#define NGX_KEFU_T_TXT   5
#define NGX_KEFU_T_ZIP   6
#define NGX_KEFU_T_MP4   7
#define NGX_KEFU_T_SVG   8
#define NGX_KEFU_T_HTML  9
#define NGX_KEFU_T_XML   10
#define NGX_KEFU_T_EXE   11


static void ngx_kefu_jpeg_size(u_char *p, size_t len, ngx_int_t *w,
    ngx_int_t *h);
static ngx_int_t ngx_kefu_markup(u_char *p, size_t len);


#define ngx_kefu_be16(p)  (((ngx_uint_t) (p)[0] << 8) | (p)[1])
#define ngx_kefu_be32(p)  (((ngx_uint_t) (p)[0] << 24) | ((p)[1] << 16)      \
                           | ((p)[2] << 8) | (p)[3])
#define ngx_kefu_le16(p)  (((ngx_uint_t) (p)[1] << 8) | (p)[0])
#define ngx_kefu_le24(p)  (((ngx_uint_t) (p)[2] << 16) | ((p)[1] << 8) | (p)[0])


/* NULL: nothing the module knows (binary data of an unknown kind) */

ngx_kefu_upload_type_t *
ngx_kefu_upload_sniff(u_char *p, size_t len, ngx_int_t *width,
    ngx_int_t *height)
{
    size_t    i;
    uint32_t  state;

    *width = -1;
    *height = -1;

    if (len >= 24 && ngx_memcmp(p, "\x89PNG\r\n\x1a\n", 8) == 0) {
        if (ngx_memcmp(p + 12, "IHDR", 4) == 0) {
            *width = ngx_kefu_be32(p + 16);
            *height = ngx_kefu_be32(p + 20);
        }

        return &ngx_kefu_upload_types[NGX_KEFU_T_PNG];
    }

    if (len >= 3 && p[0] == 0xff && p[1] == 0xd8 && p[2] == 0xff) {
        ngx_kefu_jpeg_size(p, len, width, height);
        return &ngx_kefu_upload_types[NGX_KEFU_T_JPEG];
    }

    if (len >= 10 && (ngx_memcmp(p, "GIF87a", 6) == 0
                      || ngx_memcmp(p, "GIF89a", 6) == 0))
    {
        *width = ngx_kefu_le16(p + 6);
        *height = ngx_kefu_le16(p + 8);
        return &ngx_kefu_upload_types[NGX_KEFU_T_GIF];
    }

    if (len >= 16 && ngx_memcmp(p, "RIFF", 4) == 0
        && ngx_memcmp(p + 8, "WEBP", 4) == 0)
    {
        if (len >= 30 && ngx_memcmp(p + 12, "VP8 ", 4) == 0) {
            *width = ngx_kefu_le16(p + 26) & 0x3fff;
            *height = ngx_kefu_le16(p + 28) & 0x3fff;

        } else if (len >= 25 && ngx_memcmp(p + 12, "VP8L", 4) == 0) {
            *width = 1 + (p[21] | ((p[22] & 0x3f) << 8));
            *height = 1 + ((p[22] >> 6) | (p[23] << 2) | ((p[24] & 0x0f) << 10));

        } else if (len >= 30 && ngx_memcmp(p + 12, "VP8X", 4) == 0) {
            *width = 1 + ngx_kefu_le24(p + 24);
            *height = 1 + ngx_kefu_le24(p + 27);
        }

        return &ngx_kefu_upload_types[NGX_KEFU_T_WEBP];
    }

    if (len >= 5 && ngx_memcmp(p, "%PDF-", 5) == 0) {
        return &ngx_kefu_upload_types[NGX_KEFU_T_PDF];
    }

    if (len >= 4 && (ngx_memcmp(p, "PK\x03\x04", 4) == 0
                     || ngx_memcmp(p, "PK\x05\x06", 4) == 0))
    {
        return &ngx_kefu_upload_types[NGX_KEFU_T_ZIP];
    }

    if (len >= 12 && ngx_memcmp(p + 4, "ftyp", 4) == 0) {
        return &ngx_kefu_upload_types[NGX_KEFU_T_MP4];
    }

    if ((len >= 2 && p[0] == 'M' && p[1] == 'Z')
        || (len >= 4 && ngx_memcmp(p, "\x7f" "ELF", 4) == 0))
    {
        return &ngx_kefu_upload_types[NGX_KEFU_T_EXE];
    }

    /* text: no NUL, valid UTF-8 (a cut at the head's end is not an error) */

    for (i = 0; i < len; i++) {
        if (p[i] == '\0') {
            return NULL;
        }
    }

    state = ngx_kefu_utf8_validate(NGX_KEFU_UTF8_ACCEPT, p, len);

    if (state == NGX_KEFU_UTF8_REJECT || len == 0) {
        return NULL;
    }

    switch (ngx_kefu_markup(p, len)) {
    case NGX_KEFU_T_SVG:
        return &ngx_kefu_upload_types[NGX_KEFU_T_SVG];
    case NGX_KEFU_T_HTML:
        return &ngx_kefu_upload_types[NGX_KEFU_T_HTML];
    case NGX_KEFU_T_XML:
        return &ngx_kefu_upload_types[NGX_KEFU_T_XML];
    }

    return &ngx_kefu_upload_types[NGX_KEFU_T_TXT];
}


/* the first start-of-frame marker's size; EXIF and friends are skipped */

static void
ngx_kefu_jpeg_size(u_char *p, size_t len, ngx_int_t *w, ngx_int_t *h)
{
    size_t      i, seg;
    ngx_uint_t  m;

    i = 2;

    while (i + 4 <= len) {
        if (p[i] != 0xff) {
            return;
        }

        m = p[i + 1];

        if (m == 0xff) {            /* fill byte */
            i++;
            continue;
        }

        if (m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7)) {
            i += 2;
            continue;
        }

        seg = ngx_kefu_be16(p + i + 2);

        if (m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc) {
            if (i + 9 <= len) {
                *h = ngx_kefu_be16(p + i + 5);
                *w = ngx_kefu_be16(p + i + 7);
            }

            return;
        }

        if (seg < 2) {
            return;
        }

        i += 2 + seg;
    }
}


/*
 * Markup a browser would render as a page or run: the text begins (after
 * a BOM, white space and comments) with an HTML, SVG or XML start.
 */

static ngx_int_t
ngx_kefu_markup(u_char *p, size_t len)
{
    u_char      buf[1024], *q, *last;
    size_t      n;
    ngx_uint_t  i;

    static const char *html[] = { "<!doctype html", "<html", "<head",
                                  "<body", "<script", "<iframe", "<style",
                                  "<title", "<table", "<a ", "<div", "<p>",
                                  "<br", "<h1", "<img", "<font", "<b>",
                                  "<!--", NULL };

    n = ngx_min(len, sizeof(buf));
    ngx_strlow(buf, p, n);

    q = buf;
    last = buf + n;

    if (n >= 3 && q[0] == 0xef && q[1] == 0xbb && q[2] == 0xbf) {
        q += 3;
    }

    /* anywhere in the head: an <svg element makes it SVG */
    if (ngx_strlcasestrn(q, last, (u_char *) "<svg", 3) != NULL) {
        return NGX_KEFU_T_SVG;
    }

    while (q < last && (*q == ' ' || *q == '\t' || *q == CR || *q == LF
                        || *q == '\f'))
    {
        q++;
    }

    if (last - q >= 5 && ngx_strncmp(q, "<?xml", 5) == 0) {
        return NGX_KEFU_T_XML;
    }

    for (i = 0; html[i]; i++) {
        n = ngx_strlen(html[i]);

        if ((size_t) (last - q) >= n && ngx_strncmp(q, html[i], n) == 0) {
            return NGX_KEFU_T_HTML;
        }
    }

    /* an HTML tag anywhere in the head (browsers sniff that far) */
    if (ngx_strlcasestrn(q, last, (u_char *) "<script", 6) != NULL
        || ngx_strlcasestrn(q, last, (u_char *) "<html", 4) != NULL)
    {
        return NGX_KEFU_T_HTML;
    }

    return -1;
}


ngx_kefu_upload_type_t *
ngx_kefu_upload_type_by_mime(const char *mime)
{
    ngx_uint_t  i;

    for (i = 0; ngx_kefu_upload_types[i].name; i++) {
        if (ngx_strcmp(ngx_kefu_upload_types[i].mime, mime) == 0) {
            return &ngx_kefu_upload_types[i];
        }
    }

    return NULL;
}


/* the canonical extension of a type: the first of its list */

const char *
ngx_kefu_upload_ext(ngx_kefu_upload_type_t *t)
{
    static u_char  ext[16];
    u_char        *p, *q;

    p = (u_char *) t->exts + 1;
    q = (u_char *) ngx_strchr(p, ' ');

    *ngx_cpymem(ext, p, ngx_min((size_t) (q - p), sizeof(ext) - 1)) = '\0';

    return (const char *) ext;
}


ngx_kefu_upload_type_t *
ngx_kefu_upload_type_by_ext(u_char *p, size_t len)
{
    u_char      buf[18];
    ngx_uint_t  i;

    if (len == 0 || len > 15) {
        return NULL;
    }

    buf[0] = ' ';
    ngx_strlow(buf + 1, p, len);
    buf[len + 1] = ' ';
    buf[len + 2] = '\0';

    for (i = 0; ngx_kefu_upload_types[i].name; i++) {
        if (ngx_strstr(ngx_kefu_upload_types[i].exts, buf) != NULL) {
            return &ngx_kefu_upload_types[i];
        }
    }

    return NULL;
}


/*
 * Does the name fit the type?  NGX_OK: its extension is one of the type's;
 * NGX_DONE: it has none (the caller adds one); NGX_DECLINED: another
 * (in ext).
 */

ngx_int_t
ngx_kefu_upload_ext_fits(ngx_kefu_upload_type_t *t, ngx_str_t *name,
    ngx_str_t *ext)
{
    u_char  *p, *dot;

    dot = NULL;

    for (p = name->data; p < name->data + name->len; p++) {
        if (*p == '.') {
            dot = p;
        }
    }

    if (dot == NULL || dot == name->data) {
        return NGX_DONE;
    }

    ext->data = dot + 1;
    ext->len = name->data + name->len - ext->data;

    if (ext->len == 0) {
        return NGX_DONE;
    }

    return ngx_kefu_upload_type_by_ext(ext->data, ext->len) == t
           ? NGX_OK : NGX_DECLINED;
}


/* "png,jpeg,pdf" or the words of a directive: the bits, or the bad name */

ngx_int_t
ngx_kefu_upload_type_bits(ngx_str_t *list, ngx_uint_t *bits, ngx_str_t *bad)
{
    u_char      *p, *q, *last;
    ngx_uint_t   i;

    p = list->data;
    last = p + list->len;

    while (p < last) {
        q = p;

        while (q < last && *q != ',') {
            q++;
        }

        for (i = 0; ngx_kefu_upload_types[i].name; i++) {
            if ((size_t) (q - p) == ngx_strlen(ngx_kefu_upload_types[i].name)
                && ngx_strncmp(p, ngx_kefu_upload_types[i].name, q - p) == 0
                && !ngx_kefu_upload_types[i].never)
            {
                break;
            }
        }

        if (ngx_kefu_upload_types[i].name == NULL) {
            bad->data = p;
            bad->len = q - p;
            return NGX_ERROR;
        }

        *bits |= (ngx_uint_t) 1 << i;
        p = q + 1;
    }

    return NGX_OK;
}
