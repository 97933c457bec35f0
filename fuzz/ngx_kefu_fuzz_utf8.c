
/*
 * libFuzzer harness: the incremental UTF-8 validator (ngx_kefu_utf8.c)
 * against a reference written from the table of well-formed byte
 * sequences (Unicode 3.9, table 3-7; RFC 3629), and against itself fed the
 * same bytes in pieces: all must agree whether the text is valid, cut
 * inside a character, or wrong (at the earliest byte that cannot belong to
 * any valid text).
 */


#include "ngx_kefu.h"


/* -1 invalid, 0 valid so far but cut inside a character, 1 valid */

static int
ngx_kefu_fuzz_utf8_ref(const u_char *p, size_t len)
{
    size_t  i, k, n;
    u_char  lo, hi;

    for (i = 0; i < len; i += n) {

        if (p[i] < 0x80) {
            n = 1;
            continue;
        }

        if (p[i] >= 0xc2 && p[i] <= 0xdf) {
            n = 2;

        } else if (p[i] >= 0xe0 && p[i] <= 0xef) {
            n = 3;

        } else if (p[i] >= 0xf0 && p[i] <= 0xf4) {
            n = 4;

        } else {
            return -1;
        }

        for (k = 1; k < n; k++) {
            if (i + k == len) {
                return 0;
            }

            lo = 0x80;
            hi = 0xbf;

            if (k == 1) {
                switch (p[i]) {
                case 0xe0: lo = 0xa0; break;
                case 0xed: hi = 0x9f; break;
                case 0xf0: lo = 0x90; break;
                case 0xf4: hi = 0x8f; break;
                }
            }

            if (p[i + k] < lo || p[i + k] > hi) {
                return -1;
            }
        }
    }

    return 1;
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int        ref;
    size_t     i, step;
    uint32_t   whole, cut;

    ref = ngx_kefu_fuzz_utf8_ref(data, size);

    whole = ngx_kefu_utf8_validate(NGX_KEFU_UTF8_ACCEPT, (u_char *) data,
                                   size);

    cut = NGX_KEFU_UTF8_ACCEPT;
    step = size ? data[0] % 5 + 1 : 1;

    for (i = 0; i < size; i += step) {
        cut = ngx_kefu_utf8_validate(cut, (u_char *) data + i,
                                     ngx_min(step, size - i));
    }

    if (whole != cut) {
        __builtin_trap();
    }

    if ((ref == 1) != (whole == NGX_KEFU_UTF8_ACCEPT)
        || (ref == -1) != (whole == NGX_KEFU_UTF8_REJECT))
    {
        __builtin_trap();
    }

    return 0;
}
