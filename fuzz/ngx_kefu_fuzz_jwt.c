
/*
 * libFuzzer harness: the HS256 token verifier (ngx_kefu_jwt.c).  The input
 * is a token; it is verified against a fixed secret, and also re-signed
 * with that secret (header and payload kept) so that the checks behind the
 * signature (claims, times) are reached too.  Whatever the input, the
 * verifier must answer NGX_OK with an object of claims, or NGX_DECLINED
 * with a reason, and leak nothing (LeakSanitizer).
 */


#include "ngx_kefu.h"
#include "ngx_kefu_jwt.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>


static ngx_str_t  secret = ngx_string("fuzz-secret-0123456789abcdef");


static void
ngx_kefu_fuzz_jwt_check(u_char *p, size_t len)
{
    json_t      *claims;
    ngx_int_t    rc;
    ngx_str_t    token;
    const char  *err;

    token.data = p;
    token.len = len;
    err = NULL;

    rc = ngx_kefu_jwt_verify(&token, &secret, 1700000000, &claims, &err);

    if (rc == NGX_OK) {
        if (!json_is_object(claims) || err != NULL) {
            __builtin_trap();
        }

        json_decref(claims);

    } else if (rc != NGX_DECLINED || err == NULL || claims != NULL) {
        __builtin_trap();
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char        buf[NGX_KEFU_JWT_MAX_LEN + 64], sig[32], *dot;
    unsigned int  n;
    ngx_str_t     src, dst;

    ngx_kefu_fuzz_jwt_check((u_char *) data, size);

    /* "header.payload" signed as the shop would, then verified */

    dot = memchr(data, '.', size);

    if (dot == NULL || size > NGX_KEFU_JWT_MAX_LEN) {
        return 0;
    }

    dot = memchr(dot + 1, '.', size - (dot + 1 - data));

    if (dot != NULL) {
        size = dot - data;
    }

    n = sizeof(sig);

    if (HMAC(EVP_sha256(), secret.data, (int) secret.len, data, size, sig, &n)
        == NULL)
    {
        return 0;
    }

    ngx_memcpy(buf, data, size);
    buf[size] = '.';

    src.data = sig;
    src.len = n;
    dst.data = buf + size + 1;
    ngx_encode_base64url(&dst, &src);

    ngx_kefu_fuzz_jwt_check(buf, size + 1 + dst.len);

    return 0;
}
