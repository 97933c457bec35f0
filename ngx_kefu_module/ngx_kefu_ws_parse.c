
/*
 * RFC 6455 framing: the incremental frame header parser, unmasking, close
 * payload checks and server frame headers.  Nothing here touches a socket,
 * so the parser is correct whatever the TCP segmentation: it keeps what it
 * has of a header between calls, down to a single byte at a time.
 */


#include "ngx_kefu_ws.h"


static ngx_uint_t ngx_kefu_ws_parse_gather(ngx_kefu_frame_t *f, u_char **pos,
    u_char *last);
static ngx_int_t ngx_kefu_ws_parse_length(u_char **h, uint64_t *len,
    const char **reason);


/*
 * Consumes header bytes from *pos.  Returns NGX_AGAIN when the input ran out
 * first, NGX_OK with the frame described in f, or the close code the
 * connection must fail with (and the broken rule in *reason).  Checks here are those that need no
 * connection state; fragmentation and size rules are the caller's.
 */

ngx_int_t
ngx_kefu_ws_parse_header(ngx_kefu_frame_t *f, u_char **pos, u_char *last,
    const char **reason)
{
    u_char    *h, b0, b1;
    uint64_t   len;
    ngx_int_t  rc;

    if (!ngx_kefu_ws_parse_gather(f, pos, last)) {
        return NGX_AGAIN;
    }

    h = f->hdr;
    b0 = h[0];
    b1 = h[1];

    /* no extension is ever negotiated, so RSV1-3 must be clear */
    if (b0 & 0x70) {
        *reason = "reserved bits set";
        return NGX_KEFU_CLOSE_PROTOCOL;
    }

    f->fin = (b0 & 0x80) ? 1 : 0;
    f->opcode = b0 & 0x0f;

    switch (f->opcode) {
    case NGX_KEFU_OP_CONT:
    case NGX_KEFU_OP_TEXT:
    case NGX_KEFU_OP_BINARY:
    case NGX_KEFU_OP_CLOSE:
    case NGX_KEFU_OP_PING:
    case NGX_KEFU_OP_PONG:
        break;
    default:
        *reason = "reserved opcode";
        return NGX_KEFU_CLOSE_PROTOCOL;
    }

    /* every client frame is masked (RFC 6455 section 5.1) */
    if (!(b1 & 0x80)) {
        *reason = "client frames must be masked";
        return NGX_KEFU_CLOSE_PROTOCOL;
    }

    h++;

    rc = ngx_kefu_ws_parse_length(&h, &len, reason);
    if (rc != NGX_OK) {
        return rc;
    }

    /* control frames: never fragmented, at most 125 bytes (section 5.5) */
    if ((f->opcode & 0x8) && !f->fin) {
        *reason = "fragmented control frame";
        return NGX_KEFU_CLOSE_PROTOCOL;
    }

    if ((f->opcode & 0x8) && len > NGX_KEFU_MAX_CONTROL) {
        *reason = "control frame over 125 bytes";
        return NGX_KEFU_CLOSE_PROTOCOL;
    }

    ngx_memcpy(f->mask, h, 4);
    f->mask_pos = 0;
    f->remaining = len;
    f->in_payload = 1;

    return NGX_OK;
}


/*
 * The header's bytes from *pos into f->hdr; how many it takes is known
 * from its second byte on.  Returns 1 once the whole header is there.
 */

static ngx_uint_t
ngx_kefu_ws_parse_gather(ngx_kefu_frame_t *f, u_char **pos, u_char *last)
{
    u_char      *p, b1;
    ngx_uint_t   need;

    p = *pos;

    while (p < last && f->have < f->need) {
        f->hdr[f->have++] = *p++;

        if (f->have == 2) {
            b1 = f->hdr[1];

            need = 2 + 4;

            if ((b1 & 0x7f) == 126) {
                need += 2;

            } else if ((b1 & 0x7f) == 127) {
                need += 8;
            }

            f->need = need;
        }
    }

    *pos = p;

    return f->have >= f->need && f->have >= 2;
}


/*
 * The payload length from the header's second byte at *h on (7 bits, or
 * 16 or 64 after them, each in its minimal encoding: section 5.2); *h
 * left at the mask.
 */

static ngx_int_t
ngx_kefu_ws_parse_length(u_char **h, uint64_t *len, const char **reason)
{
    u_char      *p;
    uint64_t     n;
    ngx_uint_t   i;

    p = *h;
    n = *p++ & 0x7f;

    if (n == 126) {
        n = ((uint64_t) p[0] << 8) | p[1];
        p += 2;

        if (n < 126) {
            *reason = "length not minimally encoded";
            return NGX_KEFU_CLOSE_PROTOCOL;
        }

    } else if (n == 127) {
        if (p[0] & 0x80) {
            *reason = "invalid 64-bit length";
            return NGX_KEFU_CLOSE_PROTOCOL;
        }

        n = 0;
        for (i = 0; i < 8; i++) {
            n = (n << 8) | p[i];
        }
        p += 8;

        if (n <= 0xffff) {
            *reason = "length not minimally encoded";
            return NGX_KEFU_CLOSE_PROTOCOL;
        }
    }

    *h = p;
    *len = n;

    return NGX_OK;
}


void
ngx_kefu_ws_unmask(ngx_kefu_frame_t *f, u_char *dst, u_char *src, size_t n)
{
    size_t      i;
    ngx_uint_t  m;

    m = f->mask_pos;

    for (i = 0; i < n; i++) {
        dst[i] = src[i] ^ f->mask[m];
        m = (m + 1) & 3;
    }

    f->mask_pos = m;
}


/*
 * A close frame's payload: empty, or a 2-byte status code that an endpoint
 * may send, followed by a UTF-8 reason.  Returns 0 when it is fine, else
 * the code to close with: 1002 for the frame, 1007 for a reason that is not
 * UTF-8 (invalid data, as for a text frame: RFC 6455 section 8.1).
 */

ngx_uint_t
ngx_kefu_ws_check_close(u_char *p, size_t len)
{
    ngx_uint_t  code;

    if (len == 0) {
        return 0;
    }

    if (len == 1) {
        return NGX_KEFU_CLOSE_PROTOCOL;
    }

    code = (p[0] << 8) | p[1];

    if (code < 1000 || code >= 5000) {
        return NGX_KEFU_CLOSE_PROTOCOL;
    }

    /* 1004-1006 and 1015 are reserved; 1016-2999 are unassigned */
    if (code < 3000
        && (code == 1004 || code == 1005 || code == 1006 || code >= 1015))
    {
        return NGX_KEFU_CLOSE_PROTOCOL;
    }

    if (ngx_kefu_utf8_validate(NGX_KEFU_UTF8_ACCEPT, p + 2, len - 2)
        != NGX_KEFU_UTF8_ACCEPT)
    {
        return NGX_KEFU_CLOSE_BAD_DATA;
    }

    return 0;
}


size_t
ngx_kefu_ws_frame_header_size(size_t len)
{
    if (len < 126) {
        return 2;
    }

    if (len <= 0xffff) {
        return 4;
    }

    return 10;
}


/* a server frame header: FIN set, never masked */

u_char *
ngx_kefu_ws_frame_header(u_char *p, ngx_uint_t opcode, size_t len)
{
    ngx_int_t  i;

    *p++ = (u_char) (0x80 | opcode);

    if (len < 126) {
        *p++ = (u_char) len;

    } else if (len <= 0xffff) {
        *p++ = 126;
        *p++ = (u_char) (len >> 8);
        *p++ = (u_char) len;

    } else {
        *p++ = 127;
        for (i = 7; i >= 0; i--) {
            *p++ = (u_char) ((uint64_t) len >> (i * 8));
        }
    }

    return p;
}
