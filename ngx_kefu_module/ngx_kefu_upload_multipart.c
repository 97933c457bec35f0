
/*
 * An upload's multipart/form-data body (docs/attachments.md): the
 * boundary from the request's Content-Type, then, once nginx has spooled
 * the body, where the part named "file" starts (its headers in the first
 * bytes, its filename) and where it ends (the closing delimiter in the
 * last bytes).  The file is not copied: u->pos and u->end move.
 */


#include "ngx_kefu_upload_int.h"


static ngx_int_t ngx_kefu_upload_part(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static ngx_int_t ngx_kefu_upload_disposition(ngx_http_request_t *r,
    ngx_kefu_upload_t *u, u_char *hdr, u_char *end, ngx_uint_t *found);
static ngx_int_t ngx_kefu_upload_closing(ngx_http_request_t *r,
    ngx_kefu_upload_t *u);
static ngx_int_t ngx_kefu_upload_malformed(ngx_http_request_t *r);


/* multipart/form-data: its boundary, as "\r\n--<boundary>" */

ngx_int_t
ngx_kefu_upload_boundary(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    u_char     *p;
    ngx_str_t   raw, *ct;

    ct = r->headers_in.content_type ? &r->headers_in.content_type->value
                                    : NULL;

    if (ct && ct->len >= 19
        && ngx_strncasecmp(ct->data, (u_char *) "multipart/form-data", 19)
           == 0)
    {
        p = ngx_strlcasestrn(ct->data, ct->data + ct->len,
                             (u_char *) "boundary=", 9 - 1);

        if (p == NULL) {
            return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                      "multipart/form-data without a "
                                      "boundary");
        }

        raw.data = p + 9;
        raw.len = ct->data + ct->len - raw.data;

        if (raw.len && raw.data[0] == '"') {
            raw.data++;
            p = ngx_strlchr(raw.data, raw.data + raw.len - 1, '"');
            raw.len = p ? (size_t) (p - raw.data) : 0;

        } else {
            for (p = raw.data; p < raw.data + raw.len && *p != ';'
                               && *p != ' '; p++) { /* void */ }
            raw.len = p - raw.data;
        }

        if (raw.len == 0 || raw.len > 70) {
            return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                      "the multipart boundary must be 1-70 "
                                      "characters");
        }

        u->boundary.data = ngx_pnalloc(r->pool, raw.len + 4);
        if (u->boundary.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        u->boundary.len = ngx_cpymem(ngx_cpymem(u->boundary.data, "\r\n--", 4),
                                     raw.data, raw.len)
                          - u->boundary.data;
    }

    return NGX_DECLINED;
}


/*
 * Where the part named "file" is in the spooled body: its headers in the
 * first bytes, its end at the closing delimiter near the end (it must be
 * the last part, as browsers and curl -F send a single file).
 */

ngx_int_t
ngx_kefu_upload_multipart(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    ngx_int_t  rc;

    rc = ngx_kefu_upload_part(r, u);
    if (rc != NGX_DECLINED) {
        return rc;
    }

    if (u->att.name.len == 0) {
        return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                                  "\"name\" is required (or a filename in "
                                  "the part)");
    }

    return ngx_kefu_upload_closing(r, u);
}


/* the part named "file" in the head: u->pos moves to its first byte */

static ngx_int_t
ngx_kefu_upload_part(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    u_char      *p, *last, *hdr, *q;
    ssize_t      n;
    ngx_int_t    rc;
    ngx_uint_t   found;

    n = ngx_read_file(u->in, u->head, ngx_min(NGX_KEFU_UPLOAD_HEAD,
                                              u->end - u->pos), u->pos);
    if (n == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    p = u->head;
    last = u->head + n;
    found = 0;

    /* the first delimiter has no CRLF before it */
    for ( ;; ) {
        p = ngx_strlcasestrn(p, last, u->boundary.data + 2,
                             u->boundary.len - 2 - 1);
        if (p == NULL) {
            return ngx_kefu_upload_malformed(r);
        }

        p += u->boundary.len - 2;

        if (last - p >= 2 && p[0] == '-' && p[1] == '-') {
            return ngx_kefu_upload_malformed(r);  /* closed: no file part */
        }

        hdr = p;
        q = ngx_strlcasestrn(hdr, last, (u_char *) "\r\n\r\n", 4 - 1);
        if (q == NULL) {
            return ngx_kefu_upload_malformed(r);
        }

        rc = ngx_kefu_upload_disposition(r, u, hdr, q, &found);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        if (found) {
            u->pos += q + 4 - u->head;
            return NGX_DECLINED;
        }

        p = q + 4;
    }
}


/*
 * The part's headers (hdr up to end, its blank line):
 * Content-Disposition: form-data; name="file"; filename="x.png".  *found
 * when it is the file's part, whose filename names the attachment unless
 * the "name" argument did.  NGX_DECLINED, or the response.
 */

static ngx_int_t
ngx_kefu_upload_disposition(ngx_http_request_t *r, ngx_kefu_upload_t *u,
    u_char *hdr, u_char *end, ngx_uint_t *found)
{
    u_char     *p, *eol, *fn, *q;
    ngx_int_t   rc;
    ngx_str_t   raw;

    for (p = hdr; p < end; p = eol + 2) {
        eol = ngx_strlcasestrn(p, end + 2, (u_char *) "\r\n", 2 - 1);
        if (eol == NULL) {
            break;
        }

        if (eol - p < 20
            || ngx_strncasecmp(p, (u_char *) "content-disposition:", 20)
               != 0)
        {
            continue;
        }

        if (ngx_strlcasestrn(p, eol, (u_char *) "name=\"file\"", 10)
            == NULL)
        {
            break;
        }

        *found = 1;

        fn = ngx_strlcasestrn(p, eol, (u_char *) "filename=\"", 9);

        if (fn == NULL || u->att.name.len) {
            break;
        }

        raw.data = fn + 10;
        q = ngx_strlchr(raw.data, eol, '"');
        raw.len = q ? (size_t) (q - raw.data) : 0;

        if (raw.len == 0) {
            break;
        }

        rc = ngx_kefu_upload_name(r, u, &raw);
        if (rc != NGX_DECLINED) {
            return rc;
        }

        /* it points into the head, which is reused */
        q = ngx_pnalloc(r->pool, u->att.name.len);
        if (q == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        ngx_memcpy(q, u->att.name.data, u->att.name.len);
        u->att.name.data = q;

        break;
    }

    return NGX_DECLINED;
}


/* the closing delimiter, in the last bytes: u->end moves to it */

static ngx_int_t
ngx_kefu_upload_closing(ngx_http_request_t *r, ngx_kefu_upload_t *u)
{
    u_char   *p, *q, *last;
    off_t     tail;
    ssize_t   n;

    tail = ngx_max(u->pos, u->end - (off_t) (u->boundary.len + 64));
    n = ngx_read_file(u->in, u->head, (size_t) (u->end - tail), tail);
    if (n == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    last = u->head + n;
    q = NULL;

    for (p = u->head; p < last; p++) {
        p = ngx_strlcasestrn(p, last, u->boundary.data,
                             u->boundary.len - 1);
        if (p == NULL) {
            break;
        }

        q = p;
    }

    if (q == NULL || last - q < (ssize_t) u->boundary.len + 2
        || q[u->boundary.len] != '-' || q[u->boundary.len + 1] != '-')
    {
        return ngx_kefu_upload_malformed(r);
    }

    u->end = tail + (q - u->head);

    return NGX_DECLINED;
}


static ngx_int_t
ngx_kefu_upload_malformed(ngx_http_request_t *r)
{
    return ngx_kefu_api_error(r, NGX_HTTP_BAD_REQUEST, "bad_request",
                              "a multipart body needs its last part named "
                              "\"file\"");
}
