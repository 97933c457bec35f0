
/*
 * JSON Web Tokens, HS256 only (RFC 7519, RFC 7515): the shop's backend
 * mints them with its site secret, and the module mints visitor tokens for
 * anonymous visitors with the same secret.  OpenSSL (already linked by
 * nginx) computes the HMAC; the signature is compared in constant time.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_jwt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>


#define NGX_KEFU_JWT_SIG_LEN  32

/* {"alg":"HS256","typ":"JWT"}, the only header the module mints */
#define NGX_KEFU_JWT_HEADER   "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"


static json_t *ngx_kefu_jwt_decode_json(u_char *p, size_t len);
static ngx_int_t ngx_kefu_jwt_decode(ngx_str_t *dst, u_char *p, size_t len);
static ngx_int_t ngx_kefu_jwt_time(json_t *v, json_int_t *t);
static ngx_int_t ngx_kefu_jwt_hmac(ngx_str_t *secret, u_char *data,
    size_t len, u_char *sig);
static ngx_int_t ngx_kefu_jwt_check_header(u_char *p, size_t len,
    const char **err);
static ngx_int_t ngx_kefu_jwt_check_sig(ngx_str_t *secret, u_char *p,
    u_char *dot2, u_char *last, const char **err);
static ngx_int_t ngx_kefu_jwt_check_times(json_t *payload, time_t now,
    const char **err);
static ngx_int_t ngx_kefu_jwt_check_jti(json_t *payload, const char **err);


/*
 * Verifies token against secret at time now.  On success returns NGX_OK and
 * the claims object in *claims (the caller owns a reference); otherwise
 * NGX_DECLINED with a short reason in *err, safe to show to the client.
 */

ngx_int_t
ngx_kefu_jwt_verify(ngx_str_t *token, ngx_str_t *secret, time_t now,
    json_t **claims, const char **err)
{
    u_char     *p, *last, *dot1, *dot2;
    json_t     *payload;

    *claims = NULL;

    if (token->len == 0 || token->len > NGX_KEFU_JWT_MAX_LEN) {
        *err = "token is empty or too long";
        return NGX_DECLINED;
    }

    p = token->data;
    last = p + token->len;

    dot1 = ngx_strlchr(p, last, '.');
    dot2 = dot1 ? ngx_strlchr(dot1 + 1, last, '.') : NULL;

    if (dot1 == NULL || dot2 == NULL || ngx_strlchr(dot2 + 1, last, '.')) {
        *err = "token is not a JWT";
        return NGX_DECLINED;
    }

    if (ngx_kefu_jwt_check_header(p, dot1 - p, err) != NGX_OK
        || ngx_kefu_jwt_check_sig(secret, p, dot2, last, err) != NGX_OK)
    {
        return NGX_DECLINED;
    }

    payload = ngx_kefu_jwt_decode_json(dot1 + 1, dot2 - dot1 - 1);

    if (payload == NULL) {
        *err = "token claims are not valid";
        return NGX_DECLINED;
    }

    if (ngx_kefu_jwt_check_times(payload, now, err) != NGX_OK
        || ngx_kefu_jwt_check_jti(payload, err) != NGX_OK)
    {
        json_decref(payload);
        return NGX_DECLINED;
    }

    *claims = payload;

    return NGX_OK;
}


/* the header first: only HS256 is accepted, never "none" */

static ngx_int_t
ngx_kefu_jwt_check_header(u_char *p, size_t len, const char **err)
{
    json_t  *header, *v;

    header = ngx_kefu_jwt_decode_json(p, len);

    if (header == NULL) {
        *err = "token header is not valid";
        return NGX_DECLINED;
    }

    v = json_object_get(header, "alg");

    if (!json_is_string(v) || ngx_strcmp(json_string_value(v), "HS256") != 0) {
        json_decref(header);
        *err = "token algorithm must be HS256";
        return NGX_DECLINED;
    }

    /*
     * "crit" names extensions the recipient must understand (RFC 7515,
     * 4.1.11); the module understands none, so any is a reason to refuse
     */

    if (json_object_get(header, "crit") != NULL) {
        json_decref(header);
        *err = "token header has \"crit\" extensions the server does not "
               "understand";
        return NGX_DECLINED;
    }

    json_decref(header);

    return NGX_OK;
}


/* the signature (after dot2) covers "header.payload" (p up to dot2) */

static ngx_int_t
ngx_kefu_jwt_check_sig(ngx_str_t *secret, u_char *p, u_char *dot2,
    u_char *last, const char **err)
{
    u_char      sig[NGX_KEFU_JWT_SIG_LEN], given[64];
    ngx_str_t   dst;

    if (last - (dot2 + 1) > 44) {
        *err = "token signature is invalid";
        return NGX_DECLINED;
    }

    dst.data = given;

    if (ngx_kefu_jwt_decode(&dst, dot2 + 1, last - (dot2 + 1)) != NGX_OK
        || dst.len != NGX_KEFU_JWT_SIG_LEN)
    {
        *err = "token signature is invalid";
        return NGX_DECLINED;
    }

    if (ngx_kefu_jwt_hmac(secret, p, dot2 - p, sig) != NGX_OK
        || CRYPTO_memcmp(sig, given, NGX_KEFU_JWT_SIG_LEN) != 0)
    {
        *err = "token signature is invalid";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * exp is required: a token that never expires cannot be revoked.  The
 * leeway allows for clocks of the shop's backend and of nginx that
 * differ by a little.
 */

static ngx_int_t
ngx_kefu_jwt_check_times(json_t *payload, time_t now, const char **err)
{
    time_t                 leeway;
    json_t                *v;
    json_int_t             t;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle, ngx_kefu_module);
    leeway = kmcf ? (time_t) (kmcf->token_leeway / 1000) : 0;

    v = json_object_get(payload, "exp");

    if (v == NULL) {
        *err = "token has no exp";
        return NGX_DECLINED;
    }

    if (ngx_kefu_jwt_time(v, &t) != NGX_OK) {
        *err = "token \"exp\" must be a time in seconds";
        return NGX_DECLINED;
    }

    if (t + leeway <= (json_int_t) now) {
        *err = "token expired";
        return NGX_DECLINED;
    }

    v = json_object_get(payload, "nbf");

    if (v && ngx_kefu_jwt_time(v, &t) != NGX_OK) {
        *err = "token \"nbf\" must be a time in seconds";
        return NGX_DECLINED;
    }

    if (v && t - leeway > (json_int_t) now) {
        *err = "token not valid yet";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* a revocation names a token by it (ngx_kefu_revoke.c) */

static ngx_int_t
ngx_kefu_jwt_check_jti(json_t *payload, const char **err)
{
    json_t  *v;

    v = json_object_get(payload, "jti");

    if (v && (!json_is_string(v) || json_string_length(v) == 0
              || json_string_length(v) > 128))
    {
        *err = "token \"jti\" must be a string of 1-128 bytes";
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * Mints an HS256 token for claims into a buffer allocated from pool.
 */

ngx_int_t
ngx_kefu_jwt_sign(ngx_pool_t *pool, json_t *claims, ngx_str_t *secret,
    ngx_str_t *token)
{
    u_char     *p;
    char       *json;
    size_t      len;
    u_char      sig[NGX_KEFU_JWT_SIG_LEN];
    ngx_str_t   src, dst;

    json = json_dumps(claims, JSON_COMPACT);
    if (json == NULL) {
        return NGX_ERROR;
    }

    len = ngx_strlen(json);

    token->len = sizeof(NGX_KEFU_JWT_HEADER) - 1 + 1
                 + ngx_base64_encoded_length(len) + 1
                 + ngx_base64_encoded_length(NGX_KEFU_JWT_SIG_LEN);

    token->data = ngx_pnalloc(pool, token->len);
    if (token->data == NULL) {
        free(json);
        return NGX_ERROR;
    }

    p = ngx_cpymem(token->data, NGX_KEFU_JWT_HEADER,
                   sizeof(NGX_KEFU_JWT_HEADER) - 1);
    *p++ = '.';

    src.data = (u_char *) json;
    src.len = len;
    dst.data = p;
    ngx_encode_base64url(&dst, &src);
    p += dst.len;

    free(json);

    if (ngx_kefu_jwt_hmac(secret, token->data, p - token->data, sig)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    *p++ = '.';

    src.data = sig;
    src.len = NGX_KEFU_JWT_SIG_LEN;
    dst.data = p;
    ngx_encode_base64url(&dst, &src);
    p += dst.len;

    token->len = p - token->data;

    return NGX_OK;
}


static json_t *
ngx_kefu_jwt_decode_json(u_char *p, size_t len)
{
    u_char     buf[NGX_KEFU_JWT_MAX_LEN];
    json_t    *j;
    ngx_str_t  dst;

    if (len == 0 || ngx_base64_decoded_length(len) > sizeof(buf)) {
        return NULL;
    }

    dst.data = buf;

    if (ngx_kefu_jwt_decode(&dst, p, len) != NGX_OK) {
        return NULL;
    }

    j = json_loadb((char *) dst.data, dst.len, JSON_REJECT_DUPLICATES, NULL);

    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }

    return j;
}


/*
 * Canonical base64url only (RFC 7515, section 2): no padding and no bits
 * set past the last byte, so that one token has exactly one spelling.
 * nginx's decoder stops at "=" and ignores what follows, and keeps quiet
 * about trailing bits.
 */

static ngx_int_t
ngx_kefu_jwt_decode(ngx_str_t *dst, u_char *p, size_t len)
{
    u_char     c;
    ngx_str_t  src;

    if (len % 4 == 1) {
        return NGX_ERROR;
    }

    if (len % 4) {
        c = p[len - 1];

        /* its value in the alphabet; only the top bits may be used */
        c = (c >= 'A' && c <= 'Z') ? c - 'A'
            : (c >= 'a' && c <= 'z') ? c - 'a' + 26
            : (c >= '0' && c <= '9') ? c - '0' + 52
            : (c == '-') ? 62 : (c == '_') ? 63 : 0xff;

        if (c == 0xff || (c & (len % 4 == 2 ? 0x0f : 0x03))) {
            return NGX_ERROR;
        }
    }

    src.data = p;
    src.len = len;

    if (ngx_decode_base64url(dst, &src) != NGX_OK
        || dst->len != len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0))
    {
        /* a "=" or another character outside the alphabet */
        return NGX_ERROR;
    }

    return NGX_OK;
}


/*
 * A NumericDate (RFC 7519, section 2): a JSON number of seconds, fractions
 * allowed by the RFC and dropped here; within year 0 to 9999, so that a
 * huge value never reaches a cast or time arithmetic.
 */

#define NGX_KEFU_JWT_TIME_MAX  253402300799LL

static ngx_int_t
ngx_kefu_jwt_time(json_t *v, json_int_t *t)
{
    double  d;

    if (json_is_integer(v)) {
        *t = json_integer_value(v);
        return (*t >= 0 && *t <= NGX_KEFU_JWT_TIME_MAX) ? NGX_OK : NGX_ERROR;
    }

    if (!json_is_real(v)) {
        return NGX_ERROR;
    }

    d = json_real_value(v);

    /* also false for a NaN */
    if (!(d >= 0 && d <= (double) NGX_KEFU_JWT_TIME_MAX)) {
        return NGX_ERROR;
    }

    *t = (json_int_t) d;

    return NGX_OK;
}


static ngx_int_t
ngx_kefu_jwt_hmac(ngx_str_t *secret, u_char *data, size_t len, u_char *sig)
{
    unsigned int  n;

    n = NGX_KEFU_JWT_SIG_LEN;

    if (HMAC(EVP_sha256(), secret->data, (int) secret->len, data, len,
             sig, &n)
        == NULL || n != NGX_KEFU_JWT_SIG_LEN)
    {
        return NGX_ERROR;
    }

    return NGX_OK;
}


ngx_int_t
ngx_kefu_jwt_site_is(json_t *claims, ngx_str_t *site)
{
    json_t  *v;

    v = json_object_get(claims, "site");

    if (!json_is_string(v)
        || json_string_length(v) != site->len
        || ngx_strncmp(json_string_value(v), site->data, site->len) != 0)
    {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


ngx_int_t
ngx_kefu_jwt_sub(json_t *claims, const char **err)
{
    json_t  *v;

    v = json_object_get(claims, "sub");

    if (!json_is_string(v)
        || ngx_kefu_valid_id((u_char *) json_string_value(v),
                             json_string_length(v))
           != NGX_OK)
    {
        *err = "token \"sub\" must be an id of 1-128 characters "
               "[A-Za-z0-9._@-]";
        return NGX_DECLINED;
    }

    return NGX_OK;
}
