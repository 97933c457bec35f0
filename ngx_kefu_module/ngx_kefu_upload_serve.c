
/*
 * Attachments after the upload:
 *
 * - In a message, an attachment is {"id","name","type","size","width"?,
 *   "height"?}.  Its id is "<sha256>.<mac>", the mac an HMAC of the site's
 *   secret over everything the upload determined and who uploaded it, so
 *   a client can only attach what it uploaded, as the server described it.
 * - Whoever receives the message (msg, history, replay) gets a "url"
 *   added on the way out: <kefu_upload location>/<site>/<conv>/<sha>.<ext>
 *   ?e=<expiry>&n=<name>&s=<HMAC-SHA256 of the site's secret over path,
 *   name and expiry>, like secure_link.  Only participants are sent
 *   messages, so only they get links; links expire (kefu_upload_link_ttl).
 * - GET of such a link: nginx sends the file (sendfile, ranges, ETag) with
 *   nosniff, a sandboxing Content-Security-Policy, and Content-Disposition
 *   attachment for anything but the allowed images.
 *
 * Every HMAC input starts with its purpose, so no signature of one kind
 * (or a JWT's) is ever valid as another.
 */


#include "ngx_kefu_api.h"
#include "ngx_kefu_upload.h"
#include <openssl/hmac.h>
#include <openssl/crypto.h>


#define NGX_KEFU_ATTACH_MAC   22      /* base64url characters, 132 bits */
#define NGX_KEFU_LINK_SIG     43      /* base64url of 32 bytes */


static ngx_int_t ngx_kefu_upload_valid_scope(ngx_str_t *s);
static ngx_int_t ngx_kefu_link_sign(ngx_kefu_site_t *site, ngx_str_t *path,
    ngx_str_t *name, time_t e, u_char *sig);
static ngx_int_t ngx_kefu_attach_mac(ngx_kefu_site_t *site, ngx_str_t *who,
    u_char *sha, const char *mime, off_t size, ngx_int_t w, ngx_int_t h,
    ngx_str_t *name, u_char *mac);
static ngx_int_t ngx_kefu_serve_refuse(ngx_http_request_t *r,
    const char *code, const char *message);
static ngx_int_t ngx_kefu_serve_header(ngx_http_request_t *r,
    const char *key, u_char *value, size_t len);


static void
ngx_kefu_b64url(u_char *dst, u_char *src, size_t len)
{
    ngx_str_t  d, s;

    d.data = dst;
    s.data = src;
    s.len = len;

    ngx_encode_base64url(&d, &s);
}


static ngx_int_t
ngx_kefu_hmac(ngx_str_t *key, u_char *data, size_t len, u_char *out)
{
    unsigned int  n;

    if (HMAC(EVP_sha256(), key->data, (int) key->len, data, len, out, &n)
        == NULL || n != 32)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


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


/* welcome's "upload": the location and this site's limits */

json_t *
ngx_kefu_upload_info(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site)
{
    json_t                  *j, *types;
    ngx_uint_t               i;
    ngx_kefu_upload_conf_t  *ucf;

    ucf = kmcf->upload;

    if (ucf == NULL || ucf->uri.len == 0) {
        return NULL;
    }

    types = json_array();
    if (types == NULL) {
        return NULL;
    }

    for (i = 0; ngx_kefu_upload_types[i].name; i++) {
        if (site->upload.types & ((ngx_uint_t) 1 << i)) {
            json_array_append_new(types,
                                  json_string(ngx_kefu_upload_types[i].mime));
        }
    }

    j = json_pack("{s:s%,s:I,s:o,s:I}",
                  "url", ucf->uri.data, ucf->uri.len,
                  "max_size", (json_int_t) site->upload.max_size,
                  "types", types,
                  "quota", (json_int_t) site->upload.quota);

    return j;
}


/* what the upload answers and a message carries (without the url) */

json_t *
ngx_kefu_attach_json(ngx_kefu_site_t *site, ngx_str_t *who,
    ngx_kefu_attach_t *a)
{
    u_char   id[NGX_KEFU_SHA256_HEX + 1 + NGX_KEFU_ATTACH_MAC];
    json_t  *j;

    ngx_memcpy(id, a->sha, NGX_KEFU_SHA256_HEX);
    id[NGX_KEFU_SHA256_HEX] = '.';

    if (ngx_kefu_attach_mac(site, who, a->sha, a->type->mime, a->size,
                            a->width, a->height, &a->name,
                            id + NGX_KEFU_SHA256_HEX + 1)
        != NGX_OK)
    {
        return NULL;
    }

    j = json_pack("{s:s%,s:s%,s:s,s:I}",
                  "id", id, sizeof(id),
                  "name", a->name.data, a->name.len,
                  "type", a->type->mime,
                  "size", (json_int_t) a->size);

    if (j && a->width >= 0 && a->height >= 0) {
        json_object_set_new(j, "width", json_integer(a->width));
        json_object_set_new(j, "height", json_integer(a->height));
    }

    return j;
}


static ngx_int_t
ngx_kefu_attach_mac(ngx_kefu_site_t *site, ngx_str_t *who, u_char *sha,
    const char *mime, off_t size, ngx_int_t w, ngx_int_t h, ngx_str_t *name,
    u_char *mac)
{
    u_char  buf[600], md[32], b64[44], *p;

    if (who->len + name->len + 200 > sizeof(buf)) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(buf, "kefu-attachment\n%V\n%*s\n%s\n%O\n%i\n%i\n%V",
                    who, NGX_KEFU_SHA256_HEX, sha, mime, size, w, h, name);

    if (ngx_kefu_hmac(&site->secret, buf, p - buf, md) != NGX_OK) {
        return NGX_ERROR;
    }

    ngx_kefu_b64url(b64, md, 32);
    ngx_memcpy(mac, b64, NGX_KEFU_ATTACH_MAC);

    return NGX_OK;
}


/*
 * An attachment in a client's msg: it must be one the server issued to
 * this sender, unchanged.  Returns a clean copy (no url, no other fields)
 * or NULL with err.
 */

json_t *
ngx_kefu_attach_check(ngx_kefu_site_t *site, ngx_str_t *who, json_t *att,
    const char **err)
{
    u_char                  mac[NGX_KEFU_ATTACH_MAC];
    json_t                 *id, *name, *type, *size, *w, *h, *j;
    ngx_str_t               n;
    ngx_int_t               wi, hi;
    ngx_kefu_upload_type_t *t;

    *err = "\"attachment\" must be the object the upload answered";

    if (!json_is_object(att)) {
        return NULL;
    }

    id = json_object_get(att, "id");
    name = json_object_get(att, "name");
    type = json_object_get(att, "type");
    size = json_object_get(att, "size");
    w = json_object_get(att, "width");
    h = json_object_get(att, "height");

    if (!json_is_string(id)
        || json_string_length(id) != NGX_KEFU_SHA256_HEX + 1
                                     + NGX_KEFU_ATTACH_MAC
        || !json_is_string(name) || json_string_length(name) == 0
        || json_string_length(name) > NGX_KEFU_UPLOAD_MAX_NAME
        || !json_is_string(type) || !json_is_integer(size)
        || (w && !json_is_integer(w)) || (h && !json_is_integer(h)))
    {
        return NULL;
    }

    t = ngx_kefu_upload_type_by_mime(json_string_value(type));

    if (t == NULL || t->never) {
        return NULL;
    }

    wi = w ? (ngx_int_t) json_integer_value(w) : -1;
    hi = h ? (ngx_int_t) json_integer_value(h) : -1;

    n.data = (u_char *) json_string_value(name);
    n.len = json_string_length(name);

    if (ngx_kefu_attach_mac(site, who, (u_char *) json_string_value(id),
                            t->mime, (off_t) json_integer_value(size), wi, hi,
                            &n, mac)
        != NGX_OK
        || CRYPTO_memcmp(mac, json_string_value(id) + NGX_KEFU_SHA256_HEX + 1,
                         NGX_KEFU_ATTACH_MAC) != 0)
    {
        *err = "\"attachment\" is not one this sender uploaded (or it was "
               "changed)";
        return NULL;
    }

    j = json_pack("{s:O,s:O,s:s,s:O}", "id", id, "name", name,
                  "type", t->mime, "size", size);

    if (j && w && h) {
        json_object_set(j, "width", w);
        json_object_set(j, "height", h);
    }

    if (j == NULL) {
        *err = "out of memory";
    }

    return j;
}


/* the link's signature: base64url, NGX_KEFU_LINK_SIG characters */

static ngx_int_t
ngx_kefu_link_sign(ngx_kefu_site_t *site, ngx_str_t *path, ngx_str_t *name,
    time_t e, u_char *sig)
{
    u_char   md[32], b64[44], *buf, *p;
    size_t   len;

    len = sizeof("kefu-link\n\n\n") + path->len + name->len + NGX_TIME_T_LEN;

    buf = ngx_alloc(len, ngx_cycle->log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(buf, "kefu-link\n%V\n%V\n%T", path, name, e);

    if (ngx_kefu_hmac(&site->secret, buf, p - buf, md) != NGX_OK) {
        ngx_free(buf);
        return NGX_ERROR;
    }

    ngx_free(buf);

    ngx_kefu_b64url(b64, md, 32);
    ngx_memcpy(sig, b64, NGX_KEFU_LINK_SIG);

    return NGX_OK;
}


/* adds "url" to an attachment object, for a conversation (or scope) */

ngx_int_t
ngx_kefu_attach_link(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    json_t *att, const char *conv, size_t conv_len)
{
    u_char                  *buf, *p, *q;
    size_t                   len, esc;
    time_t                   e;
    json_t                  *id, *name, *type;
    ngx_str_t                path, n;
    ngx_kefu_upload_type_t  *t;
    ngx_kefu_upload_conf_t  *ucf;

    ucf = kmcf->upload;

    if (ucf == NULL || ucf->uri.len == 0) {
        return NGX_DECLINED;
    }

    id = json_object_get(att, "id");
    name = json_object_get(att, "name");
    type = json_object_get(att, "type");

    if (!json_is_string(id) || json_string_length(id) < NGX_KEFU_SHA256_HEX
        || !json_is_string(name) || !json_is_string(type))
    {
        return NGX_DECLINED;
    }

    t = ngx_kefu_upload_type_by_mime(json_string_value(type));
    if (t == NULL) {
        return NGX_DECLINED;
    }

    n.data = (u_char *) json_string_value(name);
    n.len = json_string_length(name);

    /* long links change every few minutes only: browsers cache them */
    e = ngx_time() + ucf->link_ttl;

    if (ucf->link_ttl >= 600) {
        e = (e / 300 + 1) * 300;
    }

    esc = 2 * ngx_escape_uri(NULL, n.data, n.len, NGX_ESCAPE_URI_COMPONENT);

    len = ucf->uri.len + site->name.len + conv_len + NGX_KEFU_SHA256_HEX + 32
          + sizeof("?e=&n=&s=") + NGX_TIME_T_LEN + n.len + esc
          + NGX_KEFU_LINK_SIG;

    buf = ngx_alloc(len, ngx_cycle->log);
    if (buf == NULL) {
        return NGX_ERROR;
    }

    p = ngx_sprintf(buf, "%V%s%V/%*s/%*s.%s", &ucf->uri,
                    ucf->uri.data[ucf->uri.len - 1] == '/' ? "" : "/",
                    &site->name,
                    conv_len, conv, NGX_KEFU_SHA256_HEX, json_string_value(id),
                    ngx_kefu_upload_ext(t));

    path.data = buf;
    path.len = p - buf;

    p = ngx_sprintf(p, "?e=%T&n=", e);
    p = (u_char *) ngx_escape_uri(p, n.data, n.len, NGX_ESCAPE_URI_COMPONENT);
    p = ngx_cpymem(p, "&s=", 3);
    q = p;
    p += NGX_KEFU_LINK_SIG;

    if (ngx_kefu_link_sign(site, &path, &n, e, q) != NGX_OK) {
        ngx_free(buf);
        return NGX_ERROR;
    }

    json_object_set_new(att, "url", json_stringn((char *) buf, p - buf));
    ngx_free(buf);

    return NGX_OK;
}


/*
 * A stored entry on its way to a participant: if it carries an attachment,
 * a copy with a fresh link (free() it); NULL: send it as it is.
 */

u_char *
ngx_kefu_attach_links(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    u_char *json, size_t len, size_t *out)
{
    char    *s;
    json_t  *j, *att, *conv;

    if (kmcf->upload == NULL || site == NULL
        || ngx_strlcasestrn(json, json + len, (u_char *) "\"attachment\":{",
                            14 - 1)
           == NULL)
    {
        return NULL;
    }

    j = json_loadb((char *) json, len, 0, NULL);
    if (j == NULL) {
        return NULL;
    }

    att = json_object_get(j, "attachment");
    conv = json_object_get(j, "conv");

    if (!json_is_object(att) || !json_is_string(conv)
        || ngx_kefu_attach_link(kmcf, site, att, json_string_value(conv),
                                json_string_length(conv))
           != NGX_OK)
    {
        json_decref(j);
        return NULL;
    }

    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);

    if (s == NULL) {
        return NULL;
    }

    *out = ngx_strlen(s);

    return (u_char *) s;
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

    if (ngx_kefu_link_sign(site, &path, &name, e, sig) != NGX_OK) {
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
