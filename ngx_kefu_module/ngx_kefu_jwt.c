
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
static ngx_int_t ngx_kefu_jwt_hmac(ngx_str_t *secret, u_char *data,
    size_t len, u_char *sig);


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
    u_char      sig[NGX_KEFU_JWT_SIG_LEN], given[64];
    json_t     *header, *payload, *v;
    ngx_str_t   src, dst;
    json_int_t  t;

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

    /* the header first: only HS256 is accepted, never "none" */

    header = ngx_kefu_jwt_decode_json(p, dot1 - p);

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

    json_decref(header);

    /* the signature covers "header.payload" */

    src.data = dot2 + 1;
    src.len = last - src.data;

    if (src.len > 44) {
        *err = "token signature is invalid";
        return NGX_DECLINED;
    }

    dst.data = given;

    if (ngx_decode_base64url(&dst, &src) != NGX_OK
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

    payload = ngx_kefu_jwt_decode_json(dot1 + 1, dot2 - dot1 - 1);

    if (payload == NULL) {
        *err = "token claims are not valid";
        return NGX_DECLINED;
    }

    /* exp is required: a token that never expires cannot be revoked */

    v = json_object_get(payload, "exp");

    if (json_is_integer(v)) {
        t = json_integer_value(v);

    } else if (json_is_real(v)) {
        t = (json_int_t) json_real_value(v);

    } else {
        json_decref(payload);
        *err = "token has no exp";
        return NGX_DECLINED;
    }

    if (t <= (json_int_t) now) {
        json_decref(payload);
        *err = "token expired";
        return NGX_DECLINED;
    }

    v = json_object_get(payload, "nbf");

    if (v && (!json_is_number(v) || json_number_value(v) > (double) now)) {
        json_decref(payload);
        *err = "token not valid yet";
        return NGX_DECLINED;
    }

    *claims = payload;

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
    ngx_str_t  src, dst;

    if (len == 0 || ngx_base64_decoded_length(len) > sizeof(buf)) {
        return NULL;
    }

    src.data = p;
    src.len = len;
    dst.data = buf;

    if (ngx_decode_base64url(&dst, &src) != NGX_OK) {
        return NULL;
    }

    j = json_loadb((char *) dst.data, dst.len, JSON_REJECT_DUPLICATES, NULL);

    if (j != NULL && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }

    return j;
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
