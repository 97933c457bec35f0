
/*
 * libFuzzer harness: the RFC 6455 frame parser (ngx_kefu_ws_parse.c) fed
 * a client byte stream twice, once whole and once cut into segments that
 * the input's first byte chooses.  The parser must see the same frames,
 * payloads and verdict either way (TCP segmentation must not matter), and
 * every frame it accepts must obey the rules it claims to enforce.
 */


#include "ngx_kefu_ws.h"


#define NGX_KEFU_FUZZ_EVENTS  4096


typedef struct {
    uint32_t    kind;          /* 1 frame, 2 payload byte sum, 3 verdict */
    uint64_t    value;
} ngx_kefu_fuzz_event_t;


typedef struct {
    ngx_kefu_frame_t        f;
    ngx_kefu_fuzz_event_t   ev[NGX_KEFU_FUZZ_EVENTS];
    size_t                  n;
    uint64_t                sum;
    u_char                  ctl[NGX_KEFU_MAX_CONTROL];
    size_t                  ctl_len;
    ngx_int_t               done;
} ngx_kefu_fuzz_stream_t;


static void
ngx_kefu_fuzz_event(ngx_kefu_fuzz_stream_t *s, uint32_t kind, uint64_t value)
{
    if (s->n < NGX_KEFU_FUZZ_EVENTS) {
        s->ev[s->n].kind = kind;
        s->ev[s->n].value = value;
        s->n++;
    }
}


static void
ngx_kefu_fuzz_frame_end(ngx_kefu_fuzz_stream_t *s)
{
    ngx_kefu_fuzz_event(s, 2, s->sum);

    if (s->f.opcode == NGX_KEFU_OP_CLOSE) {
        ngx_kefu_fuzz_event(s, 3, ngx_kefu_ws_check_close(s->ctl, s->ctl_len));
    }

    s->sum = 0;
    s->ctl_len = 0;
    s->f.have = 0;
    s->f.need = 2;
    s->f.in_payload = 0;
}


/* what ngx_kefu_ws_parse() does with a segment, less the connection */

static void
ngx_kefu_fuzz_feed(ngx_kefu_fuzz_stream_t *s, u_char *p, u_char *last)
{
    u_char       buf[256];
    size_t       n, i;
    ngx_int_t    rc;
    const char  *reason;

    while (p < last && !s->done) {

        if (!s->f.in_payload) {
            rc = ngx_kefu_ws_parse_header(&s->f, &p, last, &reason);

            if (rc == NGX_AGAIN) {
                return;
            }

            if (rc != NGX_OK) {
                if (reason == NULL) {
                    __builtin_trap();
                }

                ngx_kefu_fuzz_event(s, 4, rc);
                s->done = 1;
                return;
            }

            /* what an accepted header promises */
            if ((s->f.opcode > 2 && s->f.opcode < 8) || s->f.opcode > 10
                || ((s->f.opcode & 8)
                    && (!s->f.fin || s->f.remaining > NGX_KEFU_MAX_CONTROL))
                || (s->f.remaining >> 63))
            {
                __builtin_trap();
            }

            ngx_kefu_fuzz_event(s, 1, (uint64_t) s->f.opcode << 1 | s->f.fin);
            ngx_kefu_fuzz_event(s, 5, s->f.remaining);

            if (s->f.remaining == 0) {
                ngx_kefu_fuzz_frame_end(s);
            }

            continue;
        }

        n = ngx_min((size_t) (last - p), sizeof(buf));

        if ((uint64_t) n > s->f.remaining) {
            n = (size_t) s->f.remaining;
        }

        /* the mask position carries over from one segment to the next */
        ngx_kefu_ws_unmask(&s->f, buf, p, n);

        for (i = 0; i < n; i++) {
            s->sum = s->sum * 31 + buf[i];
        }

        if (s->f.opcode & 8) {
            ngx_memcpy(s->ctl + s->ctl_len, buf, n);
            s->ctl_len += n;
        }

        p += n;
        s->f.remaining -= n;

        if (s->f.remaining == 0) {
            ngx_kefu_fuzz_frame_end(s);
        }
    }
}


static ngx_kefu_fuzz_stream_t  whole, cut;


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    u_char  *p, *last;
    size_t   step, n;

    if (size < 1) {
        return 0;
    }

    step = (data[0] & 0x1f) + 1;
    p = (u_char *) data + 1;
    last = (u_char *) data + size;

    ngx_memzero(&whole, sizeof(whole));
    ngx_memzero(&cut, sizeof(cut));
    whole.f.need = 2;
    cut.f.need = 2;

    ngx_kefu_fuzz_feed(&whole, p, last);

    while (p < last) {
        n = ngx_min(step, (size_t) (last - p));
        ngx_kefu_fuzz_feed(&cut, p, p + n);
        p += n;
        step = step * 7 % 13 + 1;
    }

    if (whole.n != cut.n
        || ngx_memcmp(whole.ev, cut.ev, whole.n * sizeof(whole.ev[0])) != 0)
    {
        __builtin_trap();
    }

    return 0;
}
