
/*
 * Attachments in messages (docs/attachments.md):
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
 *   ngx_kefu_upload_serve.c checks them and serves the file.
 *
 * Every HMAC input starts with its purpose, so no signature of one kind
 * (or a JWT's) is ever valid as another.
 */


#include "ngx_kefu_attach.h"
#include <openssl/hmac.h>


#define NGX_KEFU_ATTACH_MAC   22      /* base64url characters, 132 bits */


static ngx_int_t ngx_kefu_attach_mac(ngx_kefu_site_t *site, ngx_str_t *who,
    u_char *sha, const char *mime, off_t size, ngx_int_t w, ngx_int_t h,
    ngx_str_t *name, u_char *mac);


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

ngx_int_t
ngx_kefu_attach_sign(ngx_kefu_site_t *site, ngx_str_t *path, ngx_str_t *name,
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

    if (ngx_kefu_attach_sign(site, &path, &n, e, q) != NGX_OK) {
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
