
/*
 * Attachments after the upload: GET of a link (ngx_kefu_attach.c mints
 * them): nginx sends the file (sendfile, ranges, ETag) with nosniff, a
 * sandboxing Content-Security-Policy, and Content-Disposition attachment
 * for anything but the allowed images.
 */


#include "ngx_kefu_api.h"
#include "ngx_kefu_attach.h"
#include <openssl/crypto.h>


static ngx_int_t ngx_kefu_upload_valid_scope(ngx_str_t *s);
static ngx_int_t ngx_kefu_serve_refuse(ngx_http_request_t *r,
    const char *code, const char *message);
static ngx_int_t ngx_kefu_serve_header(ngx_http_request_t *r,
    const char *key, u_char *value, size_t len);


ngx_int_t
ngx_kefu_upload_file_path(ngx_kefu_upload_conf_t *ucf, ngx_str_t *site,
    u_char *sha, u_char *buf, size_t size, ngx_str_t *path)
{
    u_char  *p;

    if (ucf->path.len + site->len + NGX_KEFU_SHA256_HEX + 8 > size) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(buf, "%V/%V/%*s/%*s", &ucf->path, site, 2, sha,
                    NGX_KEFU_SHA256_HEX, sha);
    *p = '\0';

    path->data = buf;
    path->len = p - buf;

    return NGX_OK;
}


/*
 * GET <location>/<site>/<conv>/<sha>.<ext>?e=&n=&s=
 */

ngx_int_t
ngx_kefu_upload_serve(ngx_http_request_t *r)
{
    u_char                    *p, *last, sig[NGX_KEFU_LINK_SIG];
    u_char                    *file, site_name[65];
    u_char                    *cd, *esc;
    time_t                     e;
    size_t                     n;
    ngx_int_t                  rc;
    ngx_buf_t                 *b;
    ngx_str_t                  seg[3], path, name, arg, fpath;
    ngx_uint_t                 i;
    ngx_chain_t                out;
    ngx_kefu_site_t           *site;
    ngx_open_file_info_t       of;
    ngx_kefu_main_conf_t      *kmcf;
    ngx_kefu_upload_conf_t    *ucf;
    ngx_kefu_upload_type_t    *t;
    ngx_http_core_loc_conf_t  *clcf;

    kmcf = ngx_http_get_module_main_conf(r, ngx_kefu_module);
    ucf = kmcf->upload;

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    /* <uri>/<site>/<conv>/<sha>.<ext>, nothing else */

    p = r->uri.data + ucf->uri.len;

    if (r->uri.len <= ucf->uri.len + 1
        || ngx_strncmp(r->uri.data, ucf->uri.data, ucf->uri.len) != 0
        || (p[-1] != '/' && *p++ != '/'))
    {
        goto not_found;
    }

    last = r->uri.data + r->uri.len;

    for (i = 0; i < 3; i++) {
        seg[i].data = p;

        while (p < last && *p != '/') {
            p++;
        }

        seg[i].len = p - seg[i].data;

        if (seg[i].len == 0 || (i < 2 && p == last)) {
            goto not_found;
        }

        p++;
    }

    if (p < last
        || seg[0].len > 64
        || ngx_kefu_valid_id(seg[0].data, seg[0].len) != NGX_OK
        || ngx_kefu_upload_valid_scope(&seg[1]) != NGX_OK
        || seg[2].len < NGX_KEFU_SHA256_HEX + 2
        || seg[2].data[NGX_KEFU_SHA256_HEX] != '.')
    {
        goto not_found;
    }

    for (i = 0; i < NGX_KEFU_SHA256_HEX; i++) {
        if (!((seg[2].data[i] >= '0' && seg[2].data[i] <= '9')
              || (seg[2].data[i] >= 'a' && seg[2].data[i] <= 'f')))
        {
            goto not_found;
        }
    }

    t = ngx_kefu_upload_type_by_ext(seg[2].data + NGX_KEFU_SHA256_HEX + 1,
                                    seg[2].len - NGX_KEFU_SHA256_HEX - 1);

    if (t == NULL || t->never) {
        goto not_found;
    }

    *ngx_cpymem(site_name, seg[0].data, seg[0].len) = '\0';
    site = ngx_kefu_site_find(kmcf, (char *) site_name);

    if (site == NULL) {
        goto not_found;
    }

    /* the signature first: a forged link learns nothing else */

    if (ngx_http_arg(r, (u_char *) "e", 1, &arg) != NGX_OK
        || arg.len == 0 || arg.len > 12
        || (e = ngx_atotm(arg.data, arg.len)) == NGX_ERROR
        || ngx_http_arg(r, (u_char *) "s", 1, &arg) != NGX_OK
        || arg.len != NGX_KEFU_LINK_SIG)
    {
        return ngx_kefu_serve_refuse(r, "forbidden", "the link is not "
                                     "valid");
    }

    if (ngx_kefu_api_arg(r, "n", &name) != NGX_OK) {
        ngx_str_set(&name, "");
    }

    path.data = r->uri.data;
    path.len = r->uri.len;

    if (ngx_kefu_attach_sign(site, &path, &name, e, sig) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (CRYPTO_memcmp(sig, arg.data, NGX_KEFU_LINK_SIG) != 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "kefu: attachment link with a bad signature");
        return ngx_kefu_serve_refuse(r, "forbidden", "the link is not "
                                     "valid");
    }

    if (e < ngx_time()) {
        return ngx_kefu_serve_refuse(r, "expired", "the link expired: ask "
                                     "for a fresh one (history hands them "
                                     "out)");
    }

    /* the name outlives this call: the output logs with it */
    file = ngx_pnalloc(r->pool, NGX_MAX_PATH);
    if (file == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (ngx_kefu_upload_file_path(ucf, &site->name, seg[2].data, file,
                                  NGX_MAX_PATH, &fpath)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    ngx_memzero(&of, sizeof(ngx_open_file_info_t));

    of.read_ahead = clcf->read_ahead;
    of.directio = clcf->directio;
    of.valid = clcf->open_file_cache_valid;
    of.min_uses = clcf->open_file_cache_min_uses;
    of.errors = clcf->open_file_cache_errors;
    of.events = clcf->open_file_cache_events;

    if (ngx_open_cached_file(clcf->open_file_cache, &fpath, &of, r->pool)
        != NGX_OK)
    {
        if (of.err != NGX_ENOENT && of.err != NGX_ENOTDIR) {
            ngx_log_error(NGX_LOG_CRIT, r->connection->log, of.err,
                          "kefu: cannot open \"%V\"", &fpath);
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                                  "the file is gone (its conversation "
                                  "was deleted)");
    }

    if (!of.is_file) {
        goto not_found;
    }

    r->root_tested = !r->error_page;
    r->allow_ranges = 1;

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_length_n = of.size;
    r->headers_out.last_modified_time = of.mtime;

    if (ngx_http_set_etag(r) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (t->mime[0] == 't') {
        r->headers_out.content_type.data = (u_char *) "text/plain; "
                                                      "charset=utf-8";
        r->headers_out.content_type.len = sizeof("text/plain; charset=utf-8")
                                          - 1;
    } else {
        r->headers_out.content_type.data = (u_char *) t->mime;
        r->headers_out.content_type.len = ngx_strlen(t->mime);
    }

    r->headers_out.content_type_len = r->headers_out.content_type.len;
    r->headers_out.content_type_lowcase = NULL;

    /*
     * Content-Disposition: inline only for the allowed images; an ASCII
     * filename and the UTF-8 one (RFC 6266)
     */

    esc = ngx_pnalloc(r->pool, 3 * name.len + 1);
    cd = ngx_pnalloc(r->pool, 4 * name.len + 64);

    if (esc == NULL || cd == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    n = (u_char *) ngx_escape_uri(esc, name.data, name.len,
                                  NGX_ESCAPE_URI_COMPONENT) - esc;

    p = ngx_sprintf(cd, "%s; filename=\"",
                    (t->image && (site->upload.types
                                  & ((ngx_uint_t) 1
                                     << (t - ngx_kefu_upload_types))))
                    ? "inline" : "attachment");

    for (i = 0; i < name.len; i++) {
        *p++ = (name.data[i] < 0x20 || name.data[i] >= 0x7f
                || name.data[i] == '"' || name.data[i] == '\\')
               ? '_' : name.data[i];
    }

    p = ngx_sprintf(p, "\"; filename*=UTF-8''%*s", n, esc);

    if (ngx_kefu_serve_header(r, "Content-Disposition", cd, p - cd) != NGX_OK
        || ngx_kefu_serve_header(r, "X-Content-Type-Options",
                                 (u_char *) "nosniff", 7) != NGX_OK
        || ngx_kefu_serve_header(r, "Content-Security-Policy",
                                 (u_char *) "default-src 'none'; "
                                 "img-src 'self'; sandbox",
                                 sizeof("default-src 'none'; "
                                        "img-src 'self'; sandbox") - 1)
           != NGX_OK
        || ngx_kefu_serve_header(r, "Cache-Control",
                                 (u_char *) "private, no-transform",
                                 sizeof("private, no-transform") - 1)
           != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->file = ngx_pcalloc(r->pool, sizeof(ngx_file_t));
    if (b->file == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b->file_pos = 0;
    b->file_last = of.size;
    b->in_file = b->file_last ? 1 : 0;
    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;
    b->sync = (b->last_buf || b->in_file) ? 0 : 1;

    b->file->fd = of.fd;
    b->file->name = fpath;
    b->file->log = r->connection->log;
    b->file->directio = of.is_directio;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);

not_found:

    return ngx_kefu_api_error(r, NGX_HTTP_NOT_FOUND, "not_found",
                              "no such file");
}


static ngx_int_t
ngx_kefu_serve_refuse(ngx_http_request_t *r, const char *code,
    const char *message)
{
    return ngx_kefu_api_error(r, NGX_HTTP_FORBIDDEN, code, message);
}


static ngx_int_t
ngx_kefu_serve_header(ngx_http_request_t *r, const char *key, u_char *value,
    size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value.data = value;
    h->value.len = len;

    return NGX_OK;
}


/* a link's scope: a conversation id, or an uploader "<v|a|m>:<id>" */

static ngx_int_t
ngx_kefu_upload_valid_scope(ngx_str_t *s)
{
    if (s->len > 2 && s->data[1] == ':'
        && (s->data[0] == 'v' || s->data[0] == 'a' || s->data[0] == 'm'))
    {
        return ngx_kefu_valid_id(s->data + 2, s->len - 2);
    }

    return ngx_kefu_valid_id(s->data, s->len);
}
