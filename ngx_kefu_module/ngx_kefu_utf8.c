
/*
 * Incremental UTF-8 validation.
 *
 * A table-driven DFA in the style of Bjoern Hoehrmann's decoder (the state
 * values are multiples of 12 so that a transition is one table lookup).
 * The state carries over between calls, so a text message can be checked
 * fragment by fragment and chunk by chunk as it arrives, and a bad sequence
 * is detected at the first byte that makes it bad (RFC 6455 section 8.1
 * wants the connection failed as soon as that is known).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include "ngx_kefu.h"


/* byte -> character class */
static const uint8_t  ngx_kefu_utf8_class[256] = {
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0, 0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,
    1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1, 9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,9,
    7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7, 7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,7,
    8,8,2,2,2,2,2,2,2,2,2,2,2,2,2,2, 2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,2,
    10,3,3,3,3,3,3,3,3,3,3,3,3,4,3,3, 11,6,6,6,5,8,8,8,8,8,8,8,8,8,8,8
};


/* (state + class) -> next state; 0 accepts, 12 rejects for good */
static const uint8_t  ngx_kefu_utf8_trans[108] = {
    0,12,24,36,60,96,84,12,12,12,48,72,
    12,12,12,12,12,12,12,12,12,12,12,12,
    12, 0,12,12,12,12,12, 0,12, 0,12,12,
    12,24,12,12,12,12,12,24,12,24,12,12,
    12,12,12,12,12,12,12,24,12,12,12,12,
    12,24,12,12,12,12,12,12,12,24,12,12,
    12,12,12,12,12,12,12,36,12,36,12,12,
    12,36,12,12,12,12,12,36,12,36,12,12,
    12,36,12,12,12,12,12,12,12,12,12,12
};


uint32_t
ngx_kefu_utf8_validate(uint32_t state, u_char *p, size_t len)
{
    u_char  *last;

    last = p + len;

    while (p < last) {

        /* ASCII runs are the common case in chat text */
        if (state == NGX_KEFU_UTF8_ACCEPT && *p < 0x80) {
            p++;
            continue;
        }

        state = ngx_kefu_utf8_trans[state + ngx_kefu_utf8_class[*p++]];

        if (state == NGX_KEFU_UTF8_REJECT) {
            return state;
        }
    }

    return state;
}
