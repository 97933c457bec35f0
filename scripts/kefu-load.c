/*
 * kefu-load: a WebSocket load tool for ngx_kefu_module benchmarks.
 *
 * One process, one epoll loop, non-blocking sockets, nothing but libc
 * (SHA-1, SHA-256 and HMAC are below).  Only loopback addresses: the
 * target must be in 127.0.0.0/8 and every socket is bound to a source
 * address 127.0.0.2, .3, ... before connect(), so that one process can
 * open more connections than one source address has ephemeral ports.
 * Everything is bounded in count and time; the tool always exits by itself.
 *
 *   kefu-load idle --port P [--host 127.0.0.1] [--path /chat] [--n 10000]
 *                  [--ping] [--hello] [--site S] [--sources 8]
 *                  [--source-base 0] [--inflight 256] [--conn-rate 0]
 *                  [--timeout 60] [--hold 10]
 *   kefu-load pairs --port P --secret S [--site shop1] [--n 1000]
 *                  [--rate 15] [--duration 10] [--sources 8] [--pause 0]
 *   kefu-load route --port P --secret S [--site shop1] [--n 2000]
 *                  [--agents 20] [--sources 8] [--pause 0]
 *   kefu-load churn --port P --secret S [--site shop1] [--n 1000]
 *                  [--inflight 100] [--sources 8] [--timeout 300]
 *   kefu-load selftest
 *
 * idle: opens N WebSocket connections, at most --inflight of them in the
 * handshake at once (and at most --conn-rate new ones per second when
 * given); checks the 101 and its Sec-WebSocket-Accept; with --hello each
 * connection then says an anonymous visitor hello to --site and waits for
 * its welcome, with --ping it sends an application ping and waits for the
 * pong.  Then prints one line
 *
 *     READY open=<n> failed=<n> seconds=<s>
 *
 * and keeps the connections open and idle (answering the server's pings)
 * for --hold seconds, or until SIGINT/SIGTERM/SIGHUP, or until its standard
 * input reaches end of file when that is a pipe, a socket or a terminal.
 * Then it closes them (close frame 1000) and prints
 *
 *     DONE open=<n> dropped=<n> pings=<n> seconds=<s>
 *
 * Exit status 0 when every connection opened and none was lost.
 *
 * pairs: N visitor/agent pairs speaking the kefu contract.  Each visitor
 * opens a conversation (anonymous hello, first msg), an agent (a token
 * minted with --secret) accepts it, then every visitor sends --rate
 * messages per second for --duration seconds.  Reports delivered msgs/s,
 * end-to-end latency percentiles (visitor send to agent receive) and the
 * messages lost, duplicated or out of order (each text carries its number).
 * With --pause the pairs wait that long after the "setup:" line before the
 * run (scripts/bench-nginx-cost: nginx's counters taken between the two).
 * The setup ends once its notices are delivered (the "setup:" line says
 * how long that took): half a second in which no connection received
 * anything.
 *
 * route: routing throughput.  --agents agents (capacity 1000 each, no
 * groups: the site's default group) connect and say hello with status
 * online; --n visitors connect and say hello; then every visitor sends its
 * first message at once, each opening a conversation that the msg script
 * routes.  Reports new conversations assigned per second (from the first
 * send to the last visitor told "open"), the time to assignment per
 * visitor (p50, p99), how many were queued instead, and checks that the
 * agents were told of exactly as many.
 *
 * churn: --n anonymous visitors, --inflight at a time, each opens a
 * conversation that one agent closes at once, then leaves.  Prints
 *
 *     SUMMARY mode=churn visitors=<n> closed=<n> failed=<n> ...
 *
 * Exit status 0 when every visitor saw its conversation closed.
 *
 * selftest: checks the hash functions against published test vectors.
 *
 * The code is in layers: hashes and encodings; the WebSocket client (ws_*:
 * connect from a chosen source address, handshake, masked frame writer,
 * incremental frame reader that reassembles fragmented messages and answers
 * pings); the event loop; one section per mode.  A new mode embeds ws_t in
 * its own connection structure and supplies a ws_handler_t.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>


#define MAX_CONNS         100000
#define MAX_MESSAGE       (16 * 1024 * 1024)   /* largest server message */
#define MAX_HANDSHAKE     8192                 /* largest 101 response */
#define READ_CHUNK        65536

#define WS_GUID           "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


/* ----------------------------------------------------------- utilities */

static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void *
xrealloc(void *p, size_t size)
{
    p = realloc(p, size);

    if (p == NULL) {
        perror("kefu-load");
        exit(1);
    }

    return p;
}


/* xorshift64*: masks and handshake keys need no cryptographic quality */
static uint64_t  rng_state;

static uint64_t
rng(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545F4914F6CDD1DULL;
}


/* raises the descriptor limit as far as allowed; returns the limit */
static rlim_t
raise_nofile(void)
{
    struct rlimit  rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return 1024;
    }

    rl.rlim_cur = rl.rlim_max;
    (void) setrlimit(RLIMIT_NOFILE, &rl);
    (void) getrlimit(RLIMIT_NOFILE, &rl);

    return rl.rlim_cur;
}


/*
 * The string value of "field" in a flat JSON object, copied to out
 * (escapes are not decoded; the values used here have none).  Returns 0 if
 * found.  Whitespace around the colon is allowed.
 */
static int
json_str(const char *m, const char *field, char *out, size_t size)
{
    char         key[64];
    size_t       i;
    const char  *p;

    snprintf(key, sizeof(key), "\"%s\"", field);

    for (p = strstr(m, key); p; p = strstr(p + 1, key)) {
        p += strlen(key);
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (*p != ':') continue;
        p++;
        while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r') p++;
        if (*p != '"') continue;
        p++;

        for (i = 0; p[i] && p[i] != '"' && i + 1 < size; i++) {
            out[i] = p[i];
        }

        out[i] = '\0';
        return 0;
    }

    return -1;
}


static int
json_type_is(const char *m, const char *type)
{
    char  t[32];

    return json_str(m, "type", t, sizeof(t)) == 0 && strcmp(t, type) == 0;
}


/* --------------------------------------------- hashes and encodings */

#define ROL32(x, n)  (((x) << (n)) | ((x) >> (32 - (n))))
#define ROR32(x, n)  (((x) >> (n)) | ((x) << (32 - (n))))


static void
sha1_block(uint32_t *h, const unsigned char *p)
{
    int       i;
    uint32_t  w[80], a, b, c, d, e, f, k, t;

    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16
               | (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
    }

    for ( ; i < 80; i++) {
        w[i] = ROL32(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    }

    a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4];

    for (i = 0; i < 80; i++) {
        if (i < 20) {
            f = (b & c) | (~b & d); k = 0x5A827999;
        } else if (i < 40) {
            f = b ^ c ^ d; k = 0x6ED9EBA1;
        } else if (i < 60) {
            f = (b & c) | (b & d) | (c & d); k = 0x8F1BBCDC;
        } else {
            f = b ^ c ^ d; k = 0xCA62C1D6;
        }

        t = ROL32(a, 5) + f + e + k + w[i];
        e = d; d = c; c = ROL32(b, 30); b = a; a = t;
    }

    h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e;
}


static const uint32_t  sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};


static void
sha256_block(uint32_t *h, const unsigned char *p)
{
    int       i;
    uint32_t  w[64], a, b, c, d, e, f, g, hh, s0, s1, t1, t2;

    for (i = 0; i < 16; i++) {
        w[i] = (uint32_t) p[4 * i] << 24 | (uint32_t) p[4 * i + 1] << 16
               | (uint32_t) p[4 * i + 2] << 8 | p[4 * i + 3];
    }

    for ( ; i < 64; i++) {
        s0 = ROR32(w[i - 15], 7) ^ ROR32(w[i - 15], 18) ^ (w[i - 15] >> 3);
        s1 = ROR32(w[i - 2], 17) ^ ROR32(w[i - 2], 19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }

    a = h[0]; b = h[1]; c = h[2]; d = h[3];
    e = h[4]; f = h[5]; g = h[6]; hh = h[7];

    for (i = 0; i < 64; i++) {
        s1 = ROR32(e, 6) ^ ROR32(e, 11) ^ ROR32(e, 25);
        t1 = hh + s1 + ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
        s0 = ROR32(a, 2) ^ ROR32(a, 13) ^ ROR32(a, 22);
        t2 = s0 + ((a & b) ^ (a & c) ^ (b & c));
        hh = g; g = f; f = e; e = d + t1;
        d = c; c = b; b = a; a = t1 + t2;
    }

    h[0] += a; h[1] += b; h[2] += c; h[3] += d;
    h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
}


/* Merkle-Damgard with 64-byte blocks and a big-endian bit length */
static void
md_digest(void (*block)(uint32_t *, const unsigned char *), uint32_t *h,
    int words, const unsigned char *p, size_t len, unsigned char *out)
{
    int            i;
    size_t         off, rem, total;
    uint64_t       bits;
    unsigned char  last[128];

    for (off = 0; off + 64 <= len; off += 64) {
        block(h, p + off);
    }

    rem = len - off;
    memset(last, 0, sizeof(last));
    memcpy(last, p + off, rem);
    last[rem] = 0x80;
    total = rem + 1 + 8 <= 64 ? 64 : 128;
    bits = (uint64_t) len * 8;

    for (i = 0; i < 8; i++) {
        last[total - 1 - i] = (unsigned char) (bits >> (8 * i));
    }

    block(h, last);

    if (total == 128) {
        block(h, last + 64);
    }

    for (i = 0; i < words; i++) {
        out[4 * i] = h[i] >> 24;
        out[4 * i + 1] = h[i] >> 16;
        out[4 * i + 2] = h[i] >> 8;
        out[4 * i + 3] = h[i];
    }
}


static void
sha1(const void *p, size_t len, unsigned char out[20])
{
    uint32_t  h[5] = { 0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476,
                       0xC3D2E1F0 };

    md_digest(sha1_block, h, 5, p, len, out);
}


static void
sha256(const void *p, size_t len, unsigned char out[32])
{
    uint32_t  h[8] = { 0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                       0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19 };

    md_digest(sha256_block, h, 8, p, len, out);
}


static void
hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen,
    unsigned char out[32])
{
    size_t          i;
    unsigned char   k[64], inner[32], *buf;

    memset(k, 0, sizeof(k));

    if (klen > 64) {
        sha256(key, klen, k);
    } else {
        memcpy(k, key, klen);
    }

    buf = xrealloc(NULL, 64 + (mlen > 32 ? mlen : 32));

    for (i = 0; i < 64; i++) buf[i] = k[i] ^ 0x36;
    memcpy(buf + 64, msg, mlen);
    sha256(buf, 64 + mlen, inner);

    for (i = 0; i < 64; i++) buf[i] = k[i] ^ 0x5c;
    memcpy(buf + 64, inner, 32);
    sha256(buf, 64 + 32, out);

    free(buf);
}


/* base64 (url = 0: standard, padded) or base64url (url = 1: no padding) */
static void
base64(const unsigned char *in, size_t len, char *out, int url)
{
    size_t       i;
    uint32_t     v;
    const char  *t = url
        ? "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        : "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        *out++ = t[v >> 18]; *out++ = t[(v >> 12) & 63];
        *out++ = t[(v >> 6) & 63]; *out++ = t[v & 63];
    }

    if (len - i == 1) {
        v = (uint32_t) in[i] << 16;
        *out++ = t[v >> 18]; *out++ = t[(v >> 12) & 63];
        if (!url) { *out++ = '='; *out++ = '='; }

    } else if (len - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        *out++ = t[v >> 18]; *out++ = t[(v >> 12) & 63];
        *out++ = t[(v >> 6) & 63];
        if (!url) { *out++ = '='; }
    }

    *out = '\0';
}


/* the Sec-WebSocket-Accept for a key (RFC 6455 section 4.2.2) */
static void
ws_accept_for(const char *key, char out[29])
{
    char           buf[64 + sizeof(WS_GUID)];
    unsigned char  d[20];

    snprintf(buf, sizeof(buf), "%s" WS_GUID, key);
    sha1(buf, strlen(buf), d);
    base64(d, 20, out, 0);
}


/* ------------------------------------------------- the event loop */

/*
 * Every descriptor in the epoll set carries a pointer to something that
 * starts with an ev_t: the loop calls its handler.
 */
typedef struct ev_s  ev_t;

struct ev_s {
    void  (*handler)(ev_t *ev, uint32_t events);
};


static int            ep = -1;
static volatile int   stop_signal;      /* SIGINT, SIGTERM or SIGHUP */
static int            stop_stdin;       /* stdin reached end of file */


static void
on_signal(int sig)
{
    stop_signal = sig;
}


static int
stopping(void)
{
    return stop_signal || stop_stdin;
}


static void
stdin_handler(ev_t *ev, uint32_t events)
{
    char     buf[256];
    ssize_t  n;

    (void) ev;
    (void) events;

    n = read(0, buf, sizeof(buf));

    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
        stop_stdin = 1;
        epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
    }
}


static ev_t  stdin_ev = { stdin_handler };


static void
loop_init(int watch_stdin)
{
    struct stat         st;
    struct sigaction    sa;
    struct epoll_event  e;

    ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep == -1) {
        perror("kefu-load: epoll_create1");
        exit(1);
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    /*
     * Standard input ends the hold only when something holds its other
     * end: a pipe, a socket or a terminal.  A background job's /dev/null
     * or a regular file would end it at once.
     */
    if (watch_stdin && fstat(0, &st) == 0
        && (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode) || isatty(0)))
    {
        e.events = EPOLLIN;
        e.data.ptr = &stdin_ev;
        (void) epoll_ctl(ep, EPOLL_CTL_ADD, 0, &e);
    }
}


/* waits up to timeout_ms and handles what is ready */
static void
loop_once(int timeout_ms)
{
    int                 i, n;
    ev_t               *ev;
    struct epoll_event  evs[512];

    n = epoll_wait(ep, evs, 512, timeout_ms);

    for (i = 0; i < n; i++) {
        ev = evs[i].data.ptr;
        ev->handler(ev, evs[i].events);
    }
}


/* ------------------------------------------------- WebSocket client */

enum { WS_NEW, WS_CONNECTING, WS_HANDSHAKE, WS_OPEN, WS_CLOSING, WS_CLOSED };


typedef struct ws_s  ws_t;

typedef struct {
    void  (*open)(ws_t *ws);                         /* after a good 101 */
    void  (*text)(ws_t *ws, char *data, size_t len); /* NUL-terminated */
    void  (*closed)(ws_t *ws, const char *why);      /* it is gone */
} ws_handler_t;


struct ws_s {
    ev_t                 ev;          /* first: the loop's handle */
    int                  fd;
    uint8_t              state;
    uint8_t              msg_op;      /* of the fragmented message */
    uint8_t              want_out;    /* EPOLLOUT is in the interest set */
    uint16_t             close_code;  /* in the server's close frame */
    char                 key[25];     /* Sec-WebSocket-Key */

    unsigned char       *in;          /* the 101 so far, or a partial frame */
    size_t               in_len, in_cap;
    unsigned char       *out;         /* bytes not yet written */
    size_t               out_len, out_cap;
    unsigned char       *msg;         /* a fragmented message so far */
    size_t               msg_len;

    const ws_handler_t  *handler;
    void                *data;        /* the mode's */
    int                  tag;
    const char          *path;        /* NULL: --path */
};


/* what the client layer saw, over all connections */
static struct {
    uint64_t  pings;          /* server pings answered */
    uint64_t  frames;
    uint64_t  messages;
} ws_stats;


static void ws_event(ev_t *ev, uint32_t events);
static void ws_input(ws_t *ws, unsigned char *p, size_t n);
static void ws_frame(ws_t *ws, int fin, int op, unsigned char *p, size_t len);
static int ws_send(ws_t *ws, int op, const void *data, size_t len);


static void
ws_init(ws_t *ws, const ws_handler_t *handler, void *data, int tag)
{
    memset(ws, 0, sizeof(*ws));
    ws->ev.handler = ws_event;
    ws->fd = -1;
    ws->handler = handler;
    ws->data = data;
    ws->tag = tag;
}


static void
ws_free_buffers(ws_t *ws)
{
    free(ws->in);
    free(ws->out);
    free(ws->msg);
    ws->in = ws->out = ws->msg = NULL;
    ws->in_len = ws->in_cap = ws->out_len = ws->out_cap = ws->msg_len = 0;
}


/* drops the connection; the handler learns why */
static void
ws_close(ws_t *ws, const char *why)
{
    if (ws->state == WS_CLOSED || ws->state == WS_NEW) {
        return;
    }

    epoll_ctl(ep, EPOLL_CTL_DEL, ws->fd, NULL);
    close(ws->fd);
    ws->fd = -1;
    ws->state = WS_CLOSED;
    ws_free_buffers(ws);

    if (ws->handler->closed) {
        ws->handler->closed(ws, why);
    }
}


static void
ws_interest(ws_t *ws, int want_out)
{
    struct epoll_event  e;

    if (ws->want_out == want_out) {
        return;
    }

    e.events = EPOLLIN | (want_out ? EPOLLOUT : 0);
    e.data.ptr = &ws->ev;

    if (epoll_ctl(ep, EPOLL_CTL_MOD, ws->fd, &e) == 0) {
        ws->want_out = (uint8_t) want_out;
    }
}


/* writes what is queued; 0, or -1 when the connection was closed */
static int
ws_flush(ws_t *ws)
{
    ssize_t  n;

    while (ws->out_len) {
        n = write(ws->fd, ws->out, ws->out_len);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }

            if (errno == EAGAIN) {
                ws_interest(ws, 1);
                return 0;
            }

            ws_close(ws, "write failed");
            return -1;
        }

        memmove(ws->out, ws->out + n, ws->out_len - n);
        ws->out_len -= n;
    }

    ws_interest(ws, 0);
    return 0;
}


static void
ws_queue(ws_t *ws, const void *data, size_t len)
{
    if (ws->out_len + len > ws->out_cap) {
        ws->out_cap = (ws->out_len + len) * 2;
        ws->out = xrealloc(ws->out, ws->out_cap);
    }

    memcpy(ws->out + ws->out_len, data, len);
    ws->out_len += len;
}


/*
 * Starts a connection to o_host:port from source address 127.0.0.<2+src>.
 * 0, or -1 (nothing to clean up; errno says why).
 */
static int
ws_connect(ws_t *ws, const char *host, int port, int src)
{
    int                 fd, one;
    char                addr[32];
    struct sockaddr_in  sa, la;
    struct epoll_event  e;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return -1;
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

#ifdef IP_BIND_ADDRESS_NO_PORT
    /* the port is chosen at connect(), per destination: more of them */
    setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
#endif

    snprintf(addr, sizeof(addr), "127.0.%d.%d", (2 + src) / 256,
             (2 + src) % 256);
    memset(&la, 0, sizeof(la));
    la.sin_family = AF_INET;
    inet_pton(AF_INET, addr, &la.sin_addr);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    inet_pton(AF_INET, host, &sa.sin_addr);

    if (bind(fd, (struct sockaddr *) &la, sizeof(la)) == -1
        || (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == -1
            && errno != EINPROGRESS))
    {
        int  err = errno;

        close(fd);
        errno = err;
        return -1;
    }

    e.events = EPOLLOUT;
    e.data.ptr = &ws->ev;

    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e) == -1) {
        int  err = errno;

        close(fd);
        errno = err;
        return -1;
    }

    ws->fd = fd;
    ws->state = WS_CONNECTING;
    ws->want_out = 1;

    return 0;
}


/* the TCP connection is up: send the upgrade request */
static void
ws_connected(ws_t *ws, const char *host, const char *path)
{
    char           req[1024];
    uint64_t       r[2];
    unsigned char  k[16];
    int            n;

    r[0] = rng();
    r[1] = rng();
    memcpy(k, r, 16);
    base64(k, 16, ws->key, 0);

    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\n"
                 "Host: %s\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Key: %s\r\n"
                 "\r\n", path, host, ws->key);

    ws->state = WS_HANDSHAKE;
    ws_queue(ws, req, n);
    ws_flush(ws);
}


/* the host and path every connection of this process uses */
static const char  *ws_host = "127.0.0.1";
static const char  *ws_path = "/chat";


static void
ws_event(ev_t *ev, uint32_t events)
{
    int        err;
    ws_t      *ws = (ws_t *) ev;
    ssize_t    n;
    socklen_t  len;
    static unsigned char  buf[READ_CHUNK + 1];

    if (ws->state == WS_CONNECTING) {
        err = 0;
        len = sizeof(err);

        if (getsockopt(ws->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1) {
            err = errno;
        }

        if (err || (events & (EPOLLERR | EPOLLHUP))) {
            ws_close(ws, err == ECONNREFUSED ? "connect: refused"
                         : err == ETIMEDOUT ? "connect: timed out"
                         : err == EADDRNOTAVAIL ? "connect: no free port"
                         : "connect: error");
            return;
        }

        ws_connected(ws, ws_host, ws->path ? ws->path : ws_path);
        return;
    }

    if ((events & EPOLLOUT) && ws_flush(ws) != 0) {
        return;
    }

    if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) {
        return;
    }

    /* a bounded number of reads, then others get their turn */
    for (int i = 0; i < 4 && ws->state != WS_CLOSED; i++) {
        n = read(ws->fd, buf, READ_CHUNK);

        if (n > 0) {
            ws_input(ws, buf, n);
            if ((size_t) n < READ_CHUNK) {
                return;
            }
            continue;
        }

        if (n < 0 && errno == EINTR) {
            continue;
        }

        if (n < 0 && errno == EAGAIN) {
            return;
        }

        if (ws->state == WS_HANDSHAKE) {
            ws_close(ws, n == 0 ? "handshake: closed by server"
                                : "handshake: read error");
        } else if (ws->close_code || ws->state == WS_CLOSING) {
            ws_close(ws, "closed after a close frame");
        } else {
            ws_close(ws, n == 0 ? "closed by server without a close frame"
                                : "read error");
        }
        return;
    }
}


static void
ws_append_in(ws_t *ws, const unsigned char *p, size_t n)
{
    if (ws->in_len + n + 1 > ws->in_cap) {
        ws->in_cap = (ws->in_len + n + 1) * 2;
        ws->in = xrealloc(ws->in, ws->in_cap);
    }

    memcpy(ws->in + ws->in_len, p, n);
    ws->in_len += n;
}


/* checks the 101; returns the header length, 0 if incomplete, -1 bad */
static ssize_t
ws_handshake_response(ws_t *ws)
{
    char   *h, *end, *line, *v, accept[29];
    size_t  len;

    ws->in[ws->in_len] = '\0';
    h = (char *) ws->in;
    end = strstr(h, "\r\n\r\n");

    if (end == NULL) {
        return ws->in_len > MAX_HANDSHAKE ? -1 : 0;
    }

    len = end + 4 - h;

    if (strncmp(h, "HTTP/1.1 101", 12) != 0) {
        return -1;
    }

    ws_accept_for(ws->key, accept);

    for (line = strstr(h, "\r\n"); line && line < end;
         line = strstr(line + 2, "\r\n"))
    {
        if (strncasecmp(line + 2, "Sec-WebSocket-Accept:", 21) == 0) {
            v = line + 2 + 21;
            while (*v == ' ' || *v == '\t') v++;
            if (strncmp(v, accept, 28) == 0 && (v[28] == '\r' || v[28] == ' '))
            {
                return len;
            }
            return -1;
        }
    }

    return -1;
}


static void
ws_input(ws_t *ws, unsigned char *p, size_t n)
{
    ssize_t         hl;
    size_t          off, flen, hdr, len;
    unsigned char  *b, *base;

    if (ws->state == WS_HANDSHAKE) {
        ws_append_in(ws, p, n);
        hl = ws_handshake_response(ws);

        if (hl == 0) {
            return;
        }

        if (hl < 0) {
            ws_close(ws, strncmp((char *) ws->in, "HTTP/1.1 101", 12)
                         ? "handshake: not 101"
                         : "handshake: bad Sec-WebSocket-Accept");
            return;
        }

        /* frames may have come right behind the 101 */
        ws->in_len -= hl;
        memmove(ws->in, ws->in + hl, ws->in_len);
        ws->state = WS_OPEN;

        if (ws->handler->open) {
            ws->handler->open(ws);
        }

        if (ws->state == WS_CLOSED) {
            return;
        }

        if (ws->in_len == 0) {
            free(ws->in);
            ws->in = NULL;
            ws->in_cap = 0;
            return;
        }

        p = NULL;
        n = 0;
    }

    /* a partial frame is kept: the new bytes join it */
    if (ws->in_len) {
        if (n) {
            ws_append_in(ws, p, n);
        }
        base = ws->in;
        len = ws->in_len;

    } else {
        base = p;
        len = n;
    }

    /* server frames are never masked */
    off = 0;

    while (len - off >= 2 && ws->state != WS_CLOSED) {
        b = base + off;

        if ((b[0] & 0x70) || (b[1] & 0x80)) {
            ws_close(ws, (b[0] & 0x70) ? "protocol: reserved bits"
                                       : "protocol: masked server frame");
            return;
        }

        flen = b[1] & 0x7f;
        hdr = 2;

        if (flen == 126) {
            if (len - off < 4) break;
            flen = (size_t) b[2] << 8 | b[3];
            hdr = 4;

        } else if (flen == 127) {
            if (len - off < 10) break;
            flen = 0;
            for (int i = 2; i < 10; i++) {
                flen = flen << 8 | b[i];
            }
            hdr = 10;
        }

        if (flen > MAX_MESSAGE) {
            ws_close(ws, "protocol: frame too big");
            return;
        }

        if (len - off < hdr + flen) {
            break;
        }

        ws_frame(ws, b[0] >> 7, b[0] & 0x0f, b + hdr, flen);
        off += hdr + flen;
    }

    if (ws->state == WS_CLOSED) {
        return;
    }

    /* keep what is left of a frame, give back what was consumed */
    if (base == ws->in) {
        ws->in_len -= off;
        memmove(ws->in, ws->in + off, ws->in_len);

        if (ws->in_len == 0) {
            free(ws->in);
            ws->in = NULL;
            ws->in_cap = 0;
        }

    } else if (off < len) {
        ws_append_in(ws, base + off, len - off);
    }
}


/* one whole frame; p[len] may be overwritten (buffers have a spare byte) */
static void
ws_frame(ws_t *ws, int fin, int op, unsigned char *p, size_t len)
{
    unsigned char  save;

    ws_stats.frames++;

    if (op >= 0x8) {
        if (!fin || len > 125) {
            ws_close(ws, "protocol: bad control frame");
            return;
        }

        if (op == 0x9) {
            ws_stats.pings++;
            ws_send(ws, 0xa, p, len);

        } else if (op == 0x8) {
            ws->close_code = len >= 2 ? (uint16_t) (p[0] << 8 | p[1]) : 1005;

            if (ws->state == WS_OPEN) {
                /* answer with the same code, then the server closes */
                ws_send(ws, 0x8, p, len >= 2 ? 2 : 0);
                ws->state = WS_CLOSING;
            }
        }

        return;
    }

    if (op == 0x0) {
        if (ws->msg == NULL) {
            ws_close(ws, "protocol: continuation without a message");
            return;
        }

        if (ws->msg_len + len > MAX_MESSAGE) {
            ws_close(ws, "protocol: message too big");
            return;
        }

        ws->msg = xrealloc(ws->msg, ws->msg_len + len + 1);
        memcpy(ws->msg + ws->msg_len, p, len);
        ws->msg_len += len;

        if (!fin) {
            return;
        }

        ws->msg[ws->msg_len] = '\0';
        ws_stats.messages++;

        if (ws->msg_op == 0x1 && ws->handler->text) {
            ws->handler->text(ws, (char *) ws->msg, ws->msg_len);
        }

        free(ws->msg);
        ws->msg = NULL;
        ws->msg_len = 0;
        return;
    }

    if (op != 0x1 && op != 0x2) {
        ws_close(ws, "protocol: reserved opcode");
        return;
    }

    if (ws->msg) {
        ws_close(ws, "protocol: new message inside a fragmented one");
        return;
    }

    if (!fin) {
        ws->msg = xrealloc(NULL, len + 1);
        memcpy(ws->msg, p, len);
        ws->msg_len = len;
        ws->msg_op = (uint8_t) op;
        return;
    }

    ws_stats.messages++;

    if (op == 0x1 && ws->handler->text && ws->state == WS_OPEN) {
        save = p[len];
        p[len] = '\0';
        ws->handler->text(ws, (char *) p, len);

        /* the buffer is gone if the handler closed the connection */
        if (ws->state != WS_CLOSED) {
            p[len] = save;
        }
    }
}


/* queues one masked frame and writes what it can; 0 or -1 */
static int
ws_send(ws_t *ws, int op, const void *data, size_t len)
{
    size_t          i, hl;
    uint32_t        m;
    unsigned char  *p, mask[4];

    if (ws->state != WS_OPEN && !(ws->state == WS_CLOSING && op == 0x8)) {
        return -1;
    }

    if (ws->out_len + len + 14 > ws->out_cap) {
        ws->out_cap = (ws->out_len + len + 14) * 2;
        ws->out = xrealloc(ws->out, ws->out_cap);
    }

    p = ws->out + ws->out_len;
    p[0] = 0x80 | (op & 0x0f);

    if (len < 126) {
        p[1] = 0x80 | (unsigned char) len;
        hl = 2;

    } else if (len < 65536) {
        p[1] = 0x80 | 126;
        p[2] = (unsigned char) (len >> 8);
        p[3] = (unsigned char) len;
        hl = 4;

    } else {
        p[1] = 0x80 | 127;
        for (i = 0; i < 8; i++) {
            p[2 + i] = (unsigned char) ((uint64_t) len >> (56 - 8 * i));
        }
        hl = 10;
    }

    m = (uint32_t) rng();
    memcpy(mask, &m, 4);
    memcpy(p + hl, mask, 4);
    hl += 4;

    for (i = 0; i < len; i++) {
        p[hl + i] = ((const unsigned char *) data)[i] ^ mask[i & 3];
    }

    ws->out_len += hl + len;

    return ws_flush(ws);
}


static int
ws_send_text(ws_t *ws, const char *text)
{
    return ws_send(ws, 0x1, text, strlen(text));
}


/* a clean close from our side: close frame 1000, then wait for the server */
static void
ws_shutdown(ws_t *ws)
{
    static const unsigned char  normal[2] = { 0x03, 0xe8 };

    if (ws->state == WS_OPEN) {
        ws_send(ws, 0x8, normal, 2);
        if (ws->state == WS_OPEN) {
            ws->state = WS_CLOSING;
        }

    } else if (ws->state == WS_CONNECTING || ws->state == WS_HANDSHAKE) {
        ws_close(ws, "shut down");
    }
}


/* ---------------------------------------------------------- options */

typedef struct {
    const char  *mode;
    const char  *host;
    const char  *path;
    const char  *site;
    const char  *secret;
    int          port;
    int          n;
    int          sources;
    int          source_base;
    int          inflight;
    int          conn_rate;
    int          timeout;
    int          hold;
    int          ping;
    int          hello;
    int          rate;
    int          duration;
    int          agents;
    int          size;
    int          pause;
} options_t;


static void
usage(void)
{
    fprintf(stderr,
        "usage: kefu-load idle --port P [--host 127.0.0.1] [--path /chat]"
        " [--n N] [--ping] [--hello] [--site S]\n"
        "                      [--sources S] [--source-base B]"
        " [--inflight I] [--conn-rate R] [--timeout SECONDS]\n"
        "                      [--hold SECONDS]\n"
        "       kefu-load pairs --port P --secret S [--site shop1] [--n N]"
        " [--rate PER_SECOND] [--duration SECONDS] [--size BYTES]"
        " [--sources S] [--pause SECONDS]\n"
        "       kefu-load nchan --port P [--n N] [--rate PER_SECOND]"
        " [--duration SECONDS] [--size BYTES] [--sources S]\n"
        "       kefu-load route --port P --secret S [--site shop1] [--n N]"
        " [--agents A] [--sources S] [--pause SECONDS]\n"
        "       kefu-load churn --port P --secret S [--site shop1] [--n N]"
        " [--inflight I] [--sources S] [--timeout SECONDS]\n"
        "       kefu-load selftest\n");
    exit(2);
}


static int
int_arg(const char *s, int min, int max)
{
    char  *end;
    long   v;

    v = strtol(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < min || v > max) {
        usage();
    }

    return (int) v;
}


static void
parse_options(int argc, char **argv, options_t *o)
{
    int          i;
    const char  *a, *v;

    memset(o, 0, sizeof(*o));
    o->host = "127.0.0.1";
    o->path = "/chat";
    o->site = "shop1";
    o->sources = 8;
    o->inflight = 256;
    o->timeout = 60;
    o->hold = 10;
    o->rate = 15;
    o->duration = 10;
    o->agents = 20;

    if (argc < 2) {
        usage();
    }

    o->mode = argv[1];

    if (strcmp(o->mode, "pairs") == 0 || strcmp(o->mode, "nchan") == 0) {
        o->n = 1000;
    } else if (strcmp(o->mode, "route") == 0) {
        o->n = 2000;
    } else if (strcmp(o->mode, "idle") == 0) {
        o->n = 10000;
    } else if (strcmp(o->mode, "churn") == 0) {
        o->n = 1000;
        o->inflight = 100;
        o->timeout = 300;
    } else if (strcmp(o->mode, "selftest") != 0) {
        usage();
    }

    for (i = 2; i < argc; i++) {
        a = argv[i];

        /* flags */
        if (strcmp(a, "--ping") == 0) {
            o->ping = 1;
            continue;
        }

        if (strcmp(a, "--hello") == 0) {
            o->hello = 1;
            continue;
        }

        if (i + 1 >= argc) {
            usage();
        }

        v = argv[++i];

        if (strcmp(a, "--host") == 0) {
            o->host = v;
        } else if (strcmp(a, "--path") == 0) {
            o->path = v;
        } else if (strcmp(a, "--site") == 0) {
            o->site = v;
        } else if (strcmp(a, "--secret") == 0) {
            o->secret = v;
        } else if (strcmp(a, "--port") == 0) {
            o->port = int_arg(v, 1, 65535);
        } else if (strcmp(a, "--n") == 0) {
            o->n = int_arg(v, 1, MAX_CONNS);
        } else if (strcmp(a, "--sources") == 0) {
            o->sources = int_arg(v, 1, 1000);
        } else if (strcmp(a, "--source-base") == 0) {
            o->source_base = int_arg(v, 0, 60000);
        } else if (strcmp(a, "--inflight") == 0) {
            o->inflight = int_arg(v, 1, MAX_CONNS);
        } else if (strcmp(a, "--conn-rate") == 0) {
            o->conn_rate = int_arg(v, 0, 1000000);
        } else if (strcmp(a, "--timeout") == 0) {
            o->timeout = int_arg(v, 1, 600);
        } else if (strcmp(a, "--hold") == 0) {
            o->hold = int_arg(v, 0, 3600);
        } else if (strcmp(a, "--pause") == 0) {
            o->pause = int_arg(v, 0, 60);
        } else if (strcmp(a, "--rate") == 0) {
            o->rate = int_arg(v, 1, 10000);
        } else if (strcmp(a, "--duration") == 0) {
            o->duration = int_arg(v, 1, 600);
        } else if (strcmp(a, "--size") == 0) {
            o->size = int_arg(v, 0, 4096);
        } else if (strcmp(a, "--agents") == 0) {
            o->agents = int_arg(v, 1, 10000);
        } else {
            usage();
        }
    }

    if (strcmp(o->mode, "selftest") == 0) {
        return;
    }

    if (o->port == 0
        || (strcmp(o->mode, "pairs") == 0
            && (o->secret == NULL || o->n > MAX_CONNS / 2))
        || (strcmp(o->mode, "nchan") == 0 && o->n > MAX_CONNS / 2)
        || (strcmp(o->mode, "route") == 0
            && (o->secret == NULL || o->n + o->agents > MAX_CONNS))
        || (strcmp(o->mode, "churn") == 0 && o->secret == NULL))
    {
        usage();
    }

    /* loopback only: this tool never loads anything else */
    if (strncmp(o->host, "127.", 4) != 0) {
        fprintf(stderr, "kefu-load: --host must be in 127.0.0.0/8\n");
        exit(2);
    }

    ws_host = o->host;
    ws_path = o->path;
}


/* failure reasons and how often each was seen */
static struct {
    const char  *why;
    int          count;
} reasons[32];


static void
reasons_add(const char *why, int n)
{
    int  i;

    for (i = 0; i < 32 && reasons[i].why; i++) {
        if (strcmp(reasons[i].why, why) == 0) {
            reasons[i].count += n;
            return;
        }
    }

    if (i < 32) {
        reasons[i].why = strdup(why);
        reasons[i].count = n;
    }
}


static void
count_reason(const char *why)
{
    reasons_add(why, 1);
}


static void
print_reasons(void)
{
    int  i;

    for (i = 0; i < 32 && reasons[i].why; i++) {
        printf("  %6d  %s\n", reasons[i].count, reasons[i].why);
    }
}


/* ------------------------------------------------------ mode: idle */

enum { I_WAIT, I_WELCOME, I_PONG, I_READY, I_FAILED, I_DONE };


typedef struct {
    ws_t     ws;
    uint8_t  stage;
} idle_conn_t;


static struct {
    options_t  *o;
    int         pending;      /* started, not yet ready or failed */
    int         ready;        /* open (and answered) */
    int         failed;       /* never got ready */
    int         dropped;      /* were ready, then lost */
    int         closing;      /* we are closing them: no loss */
} idle;


static void
idle_ready(idle_conn_t *ic)
{
    ic->stage = I_READY;
    idle.pending--;
    idle.ready++;
}


static void
idle_failed(idle_conn_t *ic, const char *why)
{
    count_reason(why);
    ic->stage = I_FAILED;
    idle.pending--;
    idle.failed++;
    ws_close(&ic->ws, why);
}


static void
idle_send_ping(idle_conn_t *ic)
{
    char  m[64];

    snprintf(m, sizeof(m), "{\"type\":\"ping\",\"id\":\"i%d\"}", ic->ws.tag);
    ic->stage = I_PONG;
    ws_send_text(&ic->ws, m);
}


static void
idle_open(ws_t *ws)
{
    char          m[256];
    idle_conn_t  *ic = ws->data;

    if (idle.o->hello) {
        snprintf(m, sizeof(m),
                 "{\"type\":\"hello\",\"role\":\"visitor\",\"site\":\"%s\"}",
                 idle.o->site);
        ic->stage = I_WELCOME;
        ws_send_text(ws, m);

    } else if (idle.o->ping) {
        idle_send_ping(ic);

    } else {
        idle_ready(ic);
    }
}


static void
idle_text(ws_t *ws, char *m, size_t len)
{
    char          id[32], want[32];
    idle_conn_t  *ic = ws->data;

    (void) len;

    if (ic->stage == I_WELCOME) {
        if (json_type_is(m, "welcome")) {
            if (idle.o->ping) {
                idle_send_ping(ic);
            } else {
                idle_ready(ic);
            }

        } else if (json_type_is(m, "error")) {
            idle_failed(ic, "hello answered with an error");
        }

        return;
    }

    if (ic->stage == I_PONG && json_type_is(m, "pong")) {
        snprintf(want, sizeof(want), "i%d", ws->tag);

        if (json_str(m, "id", id, sizeof(id)) == 0 && strcmp(id, want) == 0) {
            idle_ready(ic);
        } else {
            idle_failed(ic, "pong with a wrong id");
        }
    }
}


static void
idle_closed(ws_t *ws, const char *why)
{
    char          buf[96];
    idle_conn_t  *ic = ws->data;

    if (ic->stage == I_READY) {
        ic->stage = I_DONE;

        if (!idle.closing) {
            idle.ready--;
            idle.dropped++;

            if (ws->close_code) {
                snprintf(buf, sizeof(buf), "dropped: server close %u",
                         ws->close_code);
                count_reason(buf);
            } else {
                count_reason(why);
            }
        }

    } else if (ic->stage != I_FAILED && ic->stage != I_DONE) {
        ic->stage = I_FAILED;
        idle.pending--;
        idle.failed++;

        if (ws->close_code) {
            snprintf(buf, sizeof(buf), "server close %u before ready",
                     ws->close_code);
            count_reason(buf);
        } else {
            count_reason(why);
        }
    }
}


static const ws_handler_t  idle_handler = { idle_open, idle_text, idle_closed };


static int
run_idle(options_t *o)
{
    int           i, next, started_this_second;
    double        t0, t_ready, deadline, hold_until, second;
    rlim_t        lim;
    idle_conn_t  *conns;

    idle.o = o;

    lim = raise_nofile();

    if (lim < (rlim_t) o->n + 16) {
        fprintf(stderr, "kefu-load: %d connections need %d descriptors, only"
                " %lu allowed (split the load over several processes)\n",
                o->n, o->n + 16, (unsigned long) lim);
        return 2;
    }

    conns = calloc(o->n, sizeof(idle_conn_t));
    if (conns == NULL) {
        perror("kefu-load");
        return 1;
    }

    loop_init(1);

    t0 = now();
    deadline = t0 + o->timeout;
    second = t0;
    started_this_second = 0;
    next = 0;

    /* the ramp: at most --inflight handshakes at once */
    while ((next < o->n || idle.pending > 0) && now() < deadline
           && !stopping())
    {
        if (o->conn_rate && now() - second >= 1.0) {
            second = now();
            started_this_second = 0;
        }

        while (next < o->n && idle.pending < o->inflight
               && (o->conn_rate == 0 || started_this_second < o->conn_rate))
        {
            idle_conn_t  *ic = &conns[next];

            ws_init(&ic->ws, &idle_handler, ic, next);
            started_this_second++;

            if (ws_connect(&ic->ws, o->host, o->port,
                           o->source_base + next % o->sources) == 0)
            {
                ic->stage = I_WAIT;
                idle.pending++;

            } else {
                ic->stage = I_FAILED;
                idle.failed++;
                count_reason(errno == EADDRNOTAVAIL ? "connect: no free port"
                             : errno == EMFILE ? "socket: too many open files"
                             : "connect: error");
            }

            next++;
        }

        loop_once(o->conn_rate ? 10 : 100);
    }

    /* what did not make it in time */
    for (i = 0; i < next; i++) {
        idle_conn_t  *ic = &conns[i];

        if (ic->stage == I_WAIT || ic->stage == I_WELCOME
            || ic->stage == I_PONG)
        {
            idle_failed(ic, stopping() ? "stopped" : "timed out");
        }
    }

    if (next < o->n) {
        idle.failed += o->n - next;
        reasons_add("never started", o->n - next);
    }
    t_ready = now() - t0;

    printf("ramp: %d of %d connections open (%s), %d failed, %.2f s,"
           " %.0f connections/s\n", idle.ready, o->n,
           o->hello && o->ping ? "101, hello, ping"
           : o->hello ? "101, hello" : o->ping ? "101, ping" : "101",
           idle.failed, t_ready, idle.ready / (t_ready > 0 ? t_ready : 1));
    if (idle.failed) {
        print_reasons();
    }
    printf("READY open=%d failed=%d seconds=%.2f\n", idle.ready, idle.failed,
           t_ready);
    fflush(stdout);

    /* the hold: idle, answering the server's pings */
    hold_until = now() + o->hold;

    while (now() < hold_until && !stopping()) {
        loop_once(200);
    }

    printf("DONE open=%d dropped=%d pings=%llu seconds=%.2f%s\n", idle.ready,
           idle.dropped, (unsigned long long) ws_stats.pings, now() - t0,
           stop_signal ? " (signal)" : stop_stdin ? " (stdin closed)" : "");
    if (idle.dropped) {
        print_reasons();
    }
    fflush(stdout);

    /* close: a close frame each, the server answers and closes */
    idle.closing = 1;

    for (i = 0; i < next; i++) {
        ws_shutdown(&conns[i].ws);
    }

    deadline = now() + 3;

    while (now() < deadline) {
        for (i = 0; i < next; i++) {
            if (conns[i].ws.state != WS_CLOSED
                && conns[i].ws.state != WS_NEW)
            {
                break;
            }
        }

        if (i == next) {
            break;
        }

        loop_once(50);
    }

    for (i = 0; i < next; i++) {
        ws_close(&conns[i].ws, "shut down");
    }

    free(conns);

    return (idle.failed || idle.dropped) ? 1 : 0;
}


/*
 * A message's text: its send time and number, which the receiver parses,
 * padded with 'x' to size bytes when size is larger (--size: the payload
 * the comparison with other servers fixes).
 */
static void
text_of(char *out, size_t cap, int size, double t, uint64_t n)
{
    int  len;

    len = snprintf(out, cap, "t=%.6f n=%llu ", t, (unsigned long long) n);

    while (len < size && (size_t) len + 1 < cap) {
        out[len++] = 'x';
    }

    out[len] = '\0';
}


/* ----------------------------------------------------- mode: pairs */

enum { P_WAIT, P_HELLO, P_OPENING, P_ACCEPTING, P_READY, P_FAILED,
       P_WELCOMED };


typedef struct {
    ws_t            c[2];           /* 0: visitor, 1: agent */
    uint8_t         st[2];
    char            conv[32];
    uint64_t        sent, acked, received, dups, gaps, refused;
    uint64_t        expected;       /* the next number the agent should see */
    double          next_send;
    double          again[2];       /* setup: when to ask again, 0: no */
    char            path[2][32];    /* nchan: the publisher's, subscriber's */
} pair_t;


static struct {
    options_t  *o;
    pair_t     *pairs;
    int         n;
    int         ready;            /* pairs with an accepted conversation */
    int         opening;          /* connections not yet past the 101 */
    int         failed;           /* connections lost */
    int         retries;          /* setup steps answered "unavailable" */
    int         running;
    double     *lat;              /* latencies, ms */
    size_t      nlat, lat_cap;
    double      t_base;
} pp;


/*
 * an HS256 token of a payload (JSON, under 256 bytes), as the shop's backend
 * would mint it: the agents' tokens of every mode
 */
static void
sign_token(options_t *o, const char *payload, char *out, size_t size)
{
    char           p64[400], s64[64], signing[600];
    unsigned char  sig[32];

    base64((const unsigned char *) payload, strlen(payload), p64, 1);
    snprintf(signing, sizeof(signing),
             "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.%s", p64);
    hmac_sha256(o->secret, strlen(o->secret), signing, strlen(signing), sig);
    base64(sig, 32, s64, 1);
    snprintf(out, size, "%s.%s", signing, s64);
}


/* an HS256 agent token, as the shop's backend would mint it */
static void
mint_agent_token(options_t *o, int i, char *out, size_t size)
{
    char  payload[256];

    snprintf(payload, sizeof(payload),
             "{\"sub\":\"bench-a%d\",\"role\":\"agent\",\"site\":\"%s\","
             "\"exp\":%ld,\"capacity\":1000,\"groups\":[\"bp%d\"]}", i,
             o->site, (long) time(NULL) + 3600, i);
    sign_token(o, payload, out, size);
}


/*
 * Before the run, the setup's notices delivered: every agent hears of every
 * conversation its group's queue gains and loses (N^2 notices for N pairs
 * on the bench's one group), and a run started while they still flow
 * measures their backlog, not the steady load.  Quiet is no message on any
 * connection for PAIRS_QUIET s (at most PAIRS_SETTLE_MAX s of waiting).
 */

#define PAIRS_QUIET       0.5
#define PAIRS_SETTLE_MAX  60.0

static double
pairs_settle(uint64_t *received)
{
    double    t0, last;
    uint64_t  seen, from;

    t0 = now();
    last = t0;
    from = ws_stats.messages;
    seen = from;

    while (now() - last < PAIRS_QUIET && now() - t0 < PAIRS_SETTLE_MAX
           && !stopping())
    {
        loop_once(20);

        if (ws_stats.messages != seen) {
            seen = ws_stats.messages;
            last = now();
        }
    }

    *received = seen - from;

    return last - t0;
}


/*
 * The visitor opens its conversation once its agent is signed in: each
 * pair in a group of its own, the agent's (known once it signed in), so
 * that no queue holds more than one.  In one queue every agent heard every
 * conversation enter and leave it and every visitor each move of its
 * place, N^2 notices that made the setup of 1,000 pairs outlast its 20 s.
 */

static void
pair_open_conv(pair_t *pr)
{
    char  buf[128];

    snprintf(buf, sizeof(buf), "{\"type\":\"msg\",\"cid\":\"open\","
             "\"text\":\"open\",\"group\":\"bp%d\"}",
             (int) (pr - pp.pairs));
    pr->st[0] = P_OPENING;
    ws_send_text(&pr->c[0], buf);
}


static void
pair_accept(pair_t *pr)
{
    char  buf[128];

    snprintf(buf, sizeof(buf), "{\"type\":\"accept\",\"conv\":\"%s\"}",
             pr->conv);
    ws_send_text(&pr->c[1], buf);
}


static void
pair_hello(pair_t *pr, int tag)
{
    char  req[1024], token[800];

    if (tag == 0) {
        snprintf(req, sizeof(req),
                 "{\"type\":\"hello\",\"role\":\"visitor\",\"site\":\"%s\"}",
                 pp.o->site);
    } else {
        mint_agent_token(pp.o, (int) (pr - pp.pairs), token, sizeof(token));
        snprintf(req, sizeof(req),
                 "{\"type\":\"hello\",\"role\":\"agent\",\"site\":\"%s\","
                 "\"token\":\"%s\"}", pp.o->site, token);
    }

    ws_send_text(&pr->c[tag], req);
}


static void
pair_open(ws_t *ws)
{
    pair_t  *pr = ws->data;

    pp.opening--;
    pr->st[ws->tag] = P_HELLO;
    pair_hello(pr, ws->tag);
}


/*
 * A setup step answered "unavailable" (the server refuses what it cannot
 * queue for Redis, kefu_redis_max_inflight): asked again a little later,
 * as a real client does, with the same cid.
 */

static void
pair_later(pair_t *pr, int tag)
{
    pp.retries++;
    pr->again[tag] = now() + 0.1 + (rand() % 400) / 1000.0;
}


static void
pair_again(pair_t *pr, int tag)
{
    pr->again[tag] = 0;

    switch (pr->st[tag]) {
    case P_HELLO:
        pair_hello(pr, tag);
        break;
    case P_OPENING:
        pair_open_conv(pr);
        break;
    case P_ACCEPTING:
        if (pr->st[0] == P_READY) {
            pair_accept(pr);
        }
        break;
    }
}


static void
pair_received(pair_t *pr, const char *text)
{
    double  t;
    long    n;

    if (sscanf(text, "t=%lf n=%ld", &t, &n) != 2) {
        return;
    }

    if (pp.nlat < pp.lat_cap) {
        pp.lat[pp.nlat++] = (now() - pp.t_base - t) * 1000;
    }

    if ((uint64_t) n == pr->expected) {
        pr->received++;
        pr->expected++;

    } else if ((uint64_t) n < pr->expected) {
        pr->dups++;

    } else {
        pr->gaps += n - pr->expected;
        pr->received++;
        pr->expected = n + 1;
    }
}


static void
pair_text(ws_t *ws, char *m, size_t len)
{
    char     *p, state[16], conv[32];
    pair_t   *pr = ws->data;

    (void) len;

    if (ws->tag == 0) {
        if (pr->st[0] == P_HELLO && json_type_is(m, "welcome")) {
            pr->st[0] = P_WELCOMED;

            if (pr->st[1] == P_ACCEPTING) {
                pair_open_conv(pr);
            }
            return;
        }

        if (json_type_is(m, "ack")) {
            if (pr->st[0] == P_OPENING) {
                json_str(m, "conv", pr->conv, sizeof(pr->conv));
                pr->st[0] = P_READY;

                if (pr->st[1] == P_ACCEPTING) {
                    pair_accept(pr);
                }
                return;
            }

            pr->acked++;
            return;
        }

        /* not stored, the client was told: a real one resends its cid */
        if (pp.running && json_type_is(m, "error")) {
            pr->refused++;

        } else if (json_type_is(m, "error")) {
            pair_later(pr, 0);
        }

        return;
    }

    /* the agent */

    if (!pp.running && json_type_is(m, "error")) {
        pair_later(pr, 1);
        return;
    }

    if (pr->st[1] == P_HELLO && json_type_is(m, "welcome")) {
        pr->st[1] = P_ACCEPTING;

        if (pr->st[0] == P_WELCOMED) {
            pair_open_conv(pr);

        } else if (pr->st[0] == P_READY) {
            pair_accept(pr);
        }
        return;
    }

    /*
     * Its own conversation open: the answer to its accept.  Not any
     * "conv" in state open: agents of the group also hear of every other
     * conversation that leaves the queue (reason "queue"), and taking one
     * of those for its own answer left an agent that never accepted its
     * conversation (its messages stored and queued, counted lost).
     */
    if (pr->st[1] == P_ACCEPTING && json_type_is(m, "conv")
        && json_str(m, "state", state, sizeof(state)) == 0
        && strcmp(state, "open") == 0
        && json_str(m, "conv", conv, sizeof(conv)) == 0
        && strcmp(conv, pr->conv) == 0)
    {
        pr->st[1] = P_READY;
        pp.ready++;
        return;
    }

    if (!pp.running || !json_type_is(m, "msg")) {
        return;
    }

    p = strstr(m, "\"text\":\"t=");
    if (p != NULL) {
        pair_received(pr, p + 8);
    }
}


static void
pair_closed(ws_t *ws, const char *why)
{
    pair_t  *pr = ws->data;

    if (pr->st[ws->tag] == P_WAIT) {
        pp.opening--;
    }

    if (pr->st[ws->tag] != P_FAILED) {
        pr->st[ws->tag] = P_FAILED;
        pp.failed++;
        count_reason(why);
    }
}


static const ws_handler_t  pair_handler = { pair_open, pair_text, pair_closed };


/*
 * nchan: the same pairs against nchan (scripts/bench compare), one channel
 * per pair: the visitor publishes over a WebSocket to /pub/<pair> and gets
 * nchan's answer to each publication (its ack), the agent subscribes over
 * a WebSocket to /sub/<pair> and receives the messages' bodies.
 */
static void
nchan_open(ws_t *ws)
{
    pair_t  *pr = ws->data;

    pp.opening--;
    pr->st[ws->tag] = P_READY;

    if (pr->st[0] == P_READY && pr->st[1] == P_READY) {
        pp.ready++;
    }
}


static void
nchan_text(ws_t *ws, char *m, size_t len)
{
    pair_t  *pr = ws->data;

    (void) len;

    if (!pp.running) {
        return;
    }

    if (ws->tag == 0) {
        pr->acked++;        /* nchan's answer to one publication */
        return;
    }

    pair_received(pr, m);
}


static const ws_handler_t  nchan_handler = { nchan_open, nchan_text,
                                             pair_closed };


static int
pcmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}


static int
run_pairs(options_t *o)
{
    int                 i, next, nchan = strcmp(o->mode, "nchan") == 0;
    char                msg[4096 + 256], text[4096 + 1];
    double              t0, deadline, end, interval, setup, settle;
    uint64_t            quiet;
    rlim_t              lim;
    uint64_t            sent = 0, acked = 0, recv = 0, dups = 0, gaps = 0;
    uint64_t            refused = 0;
    unsigned long long  late, lost;
    long long           recv3;
    pair_t             *pairs;

    pp.o = o;
    pp.n = o->n;

    lim = raise_nofile();

    if (lim < (rlim_t) o->n * 2 + 16) {
        fprintf(stderr, "kefu-load: %d pairs need %d descriptors, only %lu"
                " allowed\n", o->n, o->n * 2 + 16, (unsigned long) lim);
        return 2;
    }

    pairs = calloc(pp.n, sizeof(pair_t));
    pp.pairs = pairs;
    pp.lat_cap = (size_t) pp.n * o->rate * o->duration + 1024;
    pp.lat = malloc(pp.lat_cap * sizeof(double));

    if (pairs == NULL || pp.lat == NULL) {
        perror("kefu-load");
        return 1;
    }

    loop_init(0);

    pp.t_base = now();
    t0 = pp.t_base;
    /* every agent hears every agent's presence: N^2 notices at sign-in */
    deadline = t0 + 20 + pp.n / 50.0;
    next = 0;

    /* connect everything, a bounded number of handshakes at a time */
    while (pp.ready + pp.failed / 2 < pp.n && now() < deadline
           && !stopping())
    {
        while (next < pp.n * 2 && pp.opening < o->inflight) {
            pair_t  *pr = &pairs[next / 2];
            ws_t    *ws = &pr->c[next % 2];

            ws_init(ws, nchan ? &nchan_handler : &pair_handler, pr,
                    next % 2);
            pr->st[next % 2] = P_WAIT;

            if (nchan) {
                snprintf(pr->conv, sizeof(pr->conv), "%s/p%d",
                         next % 2 ? "/sub" : "/pub", next / 2);
                ws->path = next % 2 ? pr->path[1] : pr->path[0];
                snprintf(next % 2 ? pr->path[1] : pr->path[0],
                         sizeof(pr->path[0]), "%s", pr->conv);
            }

            if (ws_connect(ws, o->host, o->port,
                           o->source_base + next % o->sources) == 0)
            {
                pp.opening++;
            } else {
                pr->st[next % 2] = P_FAILED;
                pp.failed++;
                count_reason("connect: error");
            }

            next++;
        }

        loop_once(50);

        for (i = 0; i < pp.n * 2; i++) {
            if (pairs[i / 2].again[i % 2] != 0
                && pairs[i / 2].again[i % 2] <= now())
            {
                pair_again(&pairs[i / 2], i % 2);
            }
        }
    }

    setup = now() - t0;
    settle = pairs_settle(&quiet);

    printf("setup: %d of %d pairs ready, %d connections failed, %d steps"
           " asked again after \"unavailable\", %.2f s; then %.2f s until"
           " its notices were delivered (%llu messages)\n",
           pp.ready, pp.n, pp.failed, pp.retries, setup, settle,
           (unsigned long long) quiet);
    if (pp.failed) {
        print_reasons();
    }

    for (i = 0; i < pp.n; i++) {
        if (pairs[i].st[1] != P_READY) {
            fprintf(stderr, "pair %d not ready: visitor %d, agent %d, conv"
                    " \"%s\"\n", i, pairs[i].st[0], pairs[i].st[1],
                    pairs[i].conv);
        }
    }
    fflush(stdout);

    /* --pause: idle (pings answered) for what watches the "setup:" line */
    end = now() + o->pause;

    while (now() < end && !stopping()) {
        loop_once(50);
    }

    /* run: every visitor sends at the rate, spread over the interval */
    interval = 1.0 / o->rate;
    pp.running = 1;
    t0 = now();
    end = t0 + o->duration;

    for (i = 0; i < pp.n; i++) {
        pairs[i].next_send = t0 + interval * i / pp.n;
        pairs[i].expected = 1;
    }

    while (now() < end && !stopping()) {
        double  t = now();

        for (i = 0; i < pp.n; i++) {
            pair_t  *pr = &pairs[i];

            if (pr->st[1] != P_READY || pr->st[0] != P_READY) {
                continue;
            }

            while (pr->next_send <= t) {
                pr->sent++;
                text_of(text, sizeof(text), o->size, now() - pp.t_base,
                        pr->sent);

                if (nchan) {
                    ws_send_text(&pr->c[0], text);
                    pr->next_send += interval;
                    continue;
                }

                snprintf(msg, sizeof(msg),
                         "{\"type\":\"msg\",\"conv\":\"%s\",\"cid\":\"m%llu\","
                         "\"text\":\"%s\"}", pr->conv,
                         (unsigned long long) pr->sent, text);
                ws_send_text(&pr->c[0], msg);
                pr->next_send += interval;
            }
        }

        loop_once(1);
    }

    /*
     * let what is in flight arrive: the throughput counts what came within
     * 3 s of the end, as always; then, up to 30 s, the rest of what was
     * acknowledged (an overloaded machine delivers seconds late): only
     * what is still missing then is counted lost, what came after the 3 s
     * is counted late
     */
    recv3 = -1;
    deadline = now() + 30;
    while (now() < deadline && !stopping()) {
        unsigned long long  a = 0, r = 0;

        loop_once(20);

        for (i = 0; i < pp.n; i++) {
            a += pairs[i].acked;
            r += pairs[i].received;
        }

        if (recv3 < 0 && now() >= end + 3) {
            recv3 = (long long) r;
        }

        if (r >= a && now() >= end + 3) {
            break;
        }
    }

    pp.running = 0;

    for (i = 0; i < pp.n; i++) {
        sent += pairs[i].sent;
        acked += pairs[i].acked;
        recv += pairs[i].received;
        dups += pairs[i].dups;
        gaps += pairs[i].gaps;
        refused += pairs[i].refused;
    }

    /* a refused message leaves a gap that is no loss: it was not stored */
    gaps = gaps > refused ? gaps - refused : 0;

    late = (recv3 >= 0 && recv > (unsigned long long) recv3)
           ? recv - (unsigned long long) recv3 : 0;
    lost = acked > recv ? acked - recv : 0;
    recv -= late;

    qsort(pp.lat, pp.nlat, sizeof(double), pcmp);

#define PCT(q)  (pp.nlat ? pp.lat[(size_t) (pp.nlat * (q))] : 0)

    printf("pairs %d, rate %d msg/s per visitor, %d s: sent %llu, acked %llu,"
           " delivered %llu\n", pp.ready, o->rate, o->duration,
           (unsigned long long) sent, (unsigned long long) acked,
           (unsigned long long) recv);
    printf("delivered %.0f msgs/s; latency ms p50 %.2f p99 %.2f p99.9 %.2f"
           " max %.2f\n", recv / (double) o->duration,
           PCT(0.5), PCT(0.99), PCT(0.999),
           pp.nlat ? pp.lat[pp.nlat - 1] : 0);
    printf("lost %llu (acked, never delivered), late %llu (delivered more"
           " than 3 s after the end), duplicated %llu, out of order %llu,"
           " refused with an error %llu, failed connections %d\n", lost,
           late, (unsigned long long) dups, (unsigned long long) gaps,
           (unsigned long long) refused, pp.failed);
    printf("SUMMARY mode=%s pairs=%d rate=%d sent=%llu acked=%llu "
           "delivered=%llu msgs_per_s=%.0f p50=%.2f p99=%.2f p999=%.2f "
           "lost=%llu late=%llu dup=%llu ooo=%llu refused=%llu\n", o->mode,
           pp.ready, o->rate,
           (unsigned long long) sent, (unsigned long long) acked,
           (unsigned long long) recv, recv / (double) o->duration,
           PCT(0.5), PCT(0.99), PCT(0.999), lost, late,
           (unsigned long long) dups, (unsigned long long) gaps,
           (unsigned long long) refused);
    fflush(stdout);

    /* close frames, a short wait for the answers, then the rest */
    for (i = 0; i < pp.n * 2 && i < next; i++) {
        ws_shutdown(&pairs[i / 2].c[i % 2]);
    }

    deadline = now() + 2;
    while (now() < deadline) {
        loop_once(50);
    }

    for (i = 0; i < pp.n * 2 && i < next; i++) {
        ws_close(&pairs[i / 2].c[i % 2], "shut down");
    }

    return (dups || gaps || lost) ? 1 : 0;
}


/* ----------------------------------------------------- mode: route */

enum { R_WAIT, R_HELLO, R_READY, R_SENT, R_OPEN, R_QUEUED, R_ERROR,
       R_FAILED };


typedef struct {
    ws_t     ws;
    uint8_t  st;
    uint8_t  retries;
    double   sent;
} route_conn_t;


static struct {
    options_t     *o;
    route_conn_t  *c;             /* agents first, then visitors */
    int            total;
    int            opening;
    int            ready;
    int            failed;
    int            open;          /* visitors told "open" */
    int            queued;        /* visitors told "queued" */
    int            told;          /* agents told of an assignment */
    int            errors;        /* visitors answered with an error */
    double         last;
    double        *lat;
    size_t         nlat;
} rt;


static void
mint_route_token(options_t *o, int i, char *out, size_t size)
{
    char  payload[256];

    snprintf(payload, sizeof(payload),
             "{\"sub\":\"bench-r%d\",\"role\":\"agent\",\"site\":\"%s\","
             "\"exp\":%ld,\"capacity\":1000}", i, o->site,
             (long) time(NULL) + 3600);
    sign_token(o, payload, out, size);
}


/*
 * hello as agent i (online, with its token) or, agent < 0, as an anonymous
 * visitor: the routing run's and the churn's connections
 */
static void
send_hello(ws_t *ws, options_t *o, int agent)
{
    char  req[1024], token[800];

    if (agent >= 0) {
        mint_route_token(o, agent, token, sizeof(token));
        snprintf(req, sizeof(req),
                 "{\"type\":\"hello\",\"role\":\"agent\",\"site\":\"%s\","
                 "\"status\":\"online\",\"token\":\"%s\"}", o->site, token);
    } else {
        snprintf(req, sizeof(req),
                 "{\"type\":\"hello\",\"role\":\"visitor\",\"site\":\"%s\"}",
                 o->site);
    }

    ws_send_text(ws, req);
}


static void
route_hello(ws_t *ws)
{
    send_hello(ws, rt.o, ws->tag < rt.o->agents ? ws->tag : -1);
}


static void
route_open(ws_t *ws)
{
    route_conn_t  *rc = ws->data;

    rt.opening--;
    rc->st = R_HELLO;
    route_hello(ws);
}


static void
route_text(ws_t *ws, char *m, size_t len)
{
    char           state[16];
    route_conn_t  *rc = ws->data;
    char           why[128];

    (void) len;

    if (rc->st == R_HELLO) {
        /* an agent is ready once told it is online, a visitor at welcome */
        if ((ws->tag < rt.o->agents && json_type_is(m, "presence"))
            || (ws->tag >= rt.o->agents && json_type_is(m, "welcome")))
        {
            rc->st = R_READY;
            rt.ready++;

        } else if (json_type_is(m, "error")) {
            char  why[128], msg[96];

            if (json_str(m, "message", msg, sizeof(msg)) != 0) {
                strcpy(msg, "?");
            }

            /* Redis not ready yet in a worker just started: as told */
            if (strstr(msg, "retry hello") && rc->retries++ < 50) {
                usleep(20000);
                route_hello(ws);
                return;
            }

            snprintf(why, sizeof(why), "hello answered with an error: %s",
                     msg);
            rc->st = R_FAILED;
            rt.failed++;
            count_reason(why);
        }

        return;
    }

    if (rc->st == R_SENT && json_type_is(m, "error")) {
        /* e.g. unavailable: Redis answered later than kefu_redis timeout */
        rc->st = R_ERROR;
        rt.errors++;

        if (json_str(m, "code", state, sizeof(state)) == 0) {
            snprintf(why, sizeof(why), "error: %s", state);
            count_reason(why);

        } else {
            count_reason("error: no code");
        }

        return;
    }

    if (!json_type_is(m, "conv")
        || json_str(m, "state", state, sizeof(state)) != 0)
    {
        return;
    }

    if (ws->tag < rt.o->agents) {
        if (strcmp(state, "open") == 0) {
            rt.told++;
        }
        return;
    }

    if (rc->st != R_SENT) {
        return;
    }

    if (strcmp(state, "open") == 0) {
        rc->st = R_OPEN;
        rt.open++;
        rt.last = now();
        rt.lat[rt.nlat++] = (rt.last - rc->sent) * 1000;

    } else if (strcmp(state, "queued") == 0) {
        rc->st = R_QUEUED;
        rt.queued++;
    }
}


static void
route_closed(ws_t *ws, const char *why)
{
    route_conn_t  *rc = ws->data;

    if (rc->st == R_WAIT) {
        rt.opening--;
    }

    if (rc->st != R_FAILED) {
        rc->st = R_FAILED;
        rt.failed++;
        count_reason(why);
    }
}


static const ws_handler_t  route_handler = { route_open, route_text,
                                             route_closed };


static int
run_route(options_t *o)
{
    int      i, next, visitors;
    double   t0, deadline, secs;
    rlim_t   lim;

    rt.o = o;
    rt.total = o->agents + o->n;
    visitors = o->n;

    lim = raise_nofile();

    if (lim < (rlim_t) rt.total + 16) {
        fprintf(stderr, "kefu-load: %d connections need as many descriptors,"
                " only %lu allowed\n", rt.total, (unsigned long) lim);
        return 2;
    }

    rt.c = calloc(rt.total, sizeof(route_conn_t));
    rt.lat = malloc(visitors * sizeof(double));

    if (rt.c == NULL || rt.lat == NULL) {
        perror("kefu-load");
        return 1;
    }

    loop_init(0);

    /* the agents first, online, then the visitors */
    t0 = now();
    deadline = t0 + 60;
    next = 0;

    while (rt.ready + rt.failed < rt.total && now() < deadline
           && !stopping())
    {
        while (next < rt.total && rt.opening < o->inflight
               && (next < o->agents || rt.ready >= o->agents))
        {
            ws_init(&rt.c[next].ws, &route_handler, &rt.c[next], next);
            rt.c[next].st = R_WAIT;

            if (ws_connect(&rt.c[next].ws, o->host, o->port,
                           o->source_base + next % o->sources) == 0)
            {
                rt.opening++;
            } else {
                rt.c[next].st = R_FAILED;
                rt.failed++;
                count_reason("connect: error");
            }

            next++;
        }

        loop_once(50);
    }

    printf("setup: %d agents online, %d visitors connected, %d failed,"
           " %.2f s\n", o->agents, rt.ready - o->agents, rt.failed,
           now() - t0);
    if (rt.failed) {
        print_reasons();
        return 1;
    }

    /*
     * --pause: the connections kept idle a while after the "setup:" line,
     * for what watches the line (scripts/bench's Redis counters of the
     * burst alone) to be done before the burst
     */
    fflush(stdout);
    deadline = now() + o->pause;

    while (now() < deadline && !stopping()) {
        loop_once(50);
    }

    /* the burst: every visitor's first message, then the answers */
    t0 = now();

    for (i = o->agents; i < rt.total; i++) {
        rt.c[i].sent = now();
        rt.c[i].st = R_SENT;
        ws_send_text(&rt.c[i].ws, "{\"type\":\"msg\",\"cid\":\"first\","
                                  "\"text\":\"hello, I need help\"}");
    }

    deadline = t0 + 120;

    while (rt.open + rt.queued + rt.errors < visitors && now() < deadline
           && !stopping())
    {
        loop_once(20);
    }

    secs = rt.last > t0 ? rt.last - t0 : 0;

    /* the agents' notices may trail the visitors' */
    deadline = now() + 2;
    while (rt.told < rt.open && now() < deadline) {
        loop_once(20);
    }

    qsort(rt.lat, rt.nlat, sizeof(double), pcmp);

#define RPCT(q)  (rt.nlat ? rt.lat[(size_t) (rt.nlat * (q))] : 0)

    printf("route: %d new conversations, %d agents: %d assigned, %d queued,"
           " %d errors, %d unanswered, agents told %d\n", visitors,
           o->agents, rt.open, rt.queued, rt.errors,
           visitors - rt.open - rt.queued - rt.errors, rt.told);
    printf("assigned %.0f new conversations/s (%.3f s for all); time to"
           " assignment ms p50 %.1f p99 %.1f max %.1f\n",
           secs > 0 ? rt.open / secs : 0, secs, RPCT(0.5), RPCT(0.99),
           rt.nlat ? rt.lat[rt.nlat - 1] : 0);
    printf("SUMMARY mode=route conversations=%d agents=%d assigned=%d "
           "queued=%d errors=%d agents_told=%d seconds=%.3f "
           "assigned_per_s=%.0f p50_ms=%.1f p99_ms=%.1f\n", visitors,
           o->agents, rt.open, rt.queued, rt.errors, rt.told, secs, secs > 0 ? rt.open / secs : 0,
           RPCT(0.5), RPCT(0.99));

    if (rt.errors) {
        print_reasons();
    }

    fflush(stdout);

    for (i = 0; i < next; i++) {
        ws_shutdown(&rt.c[i].ws);
    }

    deadline = now() + 2;
    while (now() < deadline) {
        loop_once(50);
    }

    for (i = 0; i < next; i++) {
        ws_close(&rt.c[i].ws, "shut down");
    }

    return (rt.open == visitors && rt.told == rt.open) ? 0 : 1;
}


/* ----------------------------------------------------- mode: churn */

/*
 * churn: --n anonymous visitors, at most --inflight at a time, each
 * connects, says hello, opens a conversation with one message and waits
 * until it is closed, then leaves (close 1000).  One agent (capacity
 * 1000, the site's default group, online) closes every conversation it is
 * given at once.  What a site's storage holds afterwards is the point
 * (t/017-growth.t): the tool only reports how many went through.
 */

enum { C_IDLE, C_WAIT, C_HELLO, C_SENT, C_CLOSED, C_DONE, C_FAILED };


typedef struct {
    ws_t     ws;
    uint8_t  st;
    uint8_t  retries;
} churn_conn_t;


static struct {
    options_t     *o;
    churn_conn_t  *c;             /* the agent first, then the visitors */
    int            active;        /* visitors between connect and leaving */
    int            done;
    int            failed;
    int            closes;        /* close requests the agent sent */
    int            agent_ready;
} ch;


static void
churn_hello(ws_t *ws)
{
    send_hello(ws, ch.o, ws->tag == 0 ? 0 : -1);
}


static void
churn_open(ws_t *ws)
{
    churn_conn_t  *cc = ws->data;

    cc->st = C_HELLO;
    churn_hello(ws);
}


static void
churn_fail(churn_conn_t *cc, const char *why)
{
    if (cc->st == C_DONE || cc->st == C_FAILED) {
        return;
    }

    cc->st = C_FAILED;
    ch.failed++;
    count_reason(why);
    ws_close(&cc->ws, why);
}


static void
churn_text(ws_t *ws, char *m, size_t len)
{
    char           state[16], conv[32], req[160], msg[96];
    churn_conn_t  *cc = ws->data;

    (void) len;

    if (json_type_is(m, "error")) {
        if (json_str(m, "message", msg, sizeof(msg)) != 0) {
            strcpy(msg, "?");
        }

        /* a close Redis could not take now (its cid is the conversation):
         * asked again, as a client would */
        if (ws->tag == 0 && json_str(m, "cid", conv, sizeof(conv)) == 0) {
            snprintf(req, sizeof(req), "{\"type\":\"close\",\"conv\":\"%s\","
                     "\"cid\":\"%s\"}", conv, conv);
            ws_send_text(ws, req);
            return;
        }

        /* Redis not ready yet in a worker just started: as told */
        if (cc->st == C_HELLO && strstr(msg, "retry hello")
            && cc->retries++ < 50)
        {
            usleep(20000);
            churn_hello(ws);
            return;
        }

        /* a message Redis could not take now: sent again, same cid */
        if (cc->st == C_SENT && ws->tag != 0 && strstr(msg, "same cid")
            && cc->retries++ < 200)
        {
            ws_send_text(ws, "{\"type\":\"msg\",\"cid\":\"c1\","
                             "\"text\":\"hello, I need help\"}");
            return;
        }

        /* the agent goes on: what it could not close is counted */
        if (ws->tag == 0 && cc->st == C_SENT) {
            char  why[160];

            snprintf(why, sizeof(why), "the agent answered with an error: %s",
                     msg);
            count_reason(why);
            return;
        }

        {
            char  why[160];

            snprintf(why, sizeof(why), "%s answered with an error: %s",
                     ws->tag == 0 ? "the agent" : "a visitor", msg);
            churn_fail(cc, why);
        }

        return;
    }

    if (ws->tag == 0) {
        if (cc->st == C_HELLO && json_type_is(m, "presence")) {
            cc->st = C_SENT;
            ch.agent_ready = 1;
            return;
        }

        /* given a conversation: closed at once */
        if (json_type_is(m, "conv")
            && json_str(m, "state", state, sizeof(state)) == 0
            && strcmp(state, "open") == 0
            && json_str(m, "conv", conv, sizeof(conv)) == 0)
        {
            snprintf(req, sizeof(req), "{\"type\":\"close\",\"conv\":\"%s\","
                     "\"cid\":\"%s\"}", conv, conv);
            ws_send_text(ws, req);
            ch.closes++;
        }

        return;
    }

    if (cc->st == C_HELLO && json_type_is(m, "welcome")) {
        cc->st = C_SENT;
        ws_send_text(ws, "{\"type\":\"msg\",\"cid\":\"c1\","
                         "\"text\":\"hello, I need help\"}");
        return;
    }

    if (cc->st == C_SENT && json_type_is(m, "conv")
        && json_str(m, "state", state, sizeof(state)) == 0
        && strcmp(state, "closed") == 0)
    {
        cc->st = C_CLOSED;
        ws_shutdown(ws);
    }
}


static void
churn_closed(ws_t *ws, const char *why)
{
    churn_conn_t  *cc = ws->data;

    if (ws->tag != 0) {
        ch.active--;
    }

    if (cc->st == C_CLOSED) {
        cc->st = C_DONE;
        ch.done++;
        return;
    }

    if (cc->st != C_FAILED) {
        cc->st = C_FAILED;
        ch.failed++;
        count_reason(why);
    }
}


static const ws_handler_t  churn_handler = { churn_open, churn_text,
                                             churn_closed };


static int
churn_connect(int i)
{
    churn_conn_t  *cc = &ch.c[i];

    ws_init(&cc->ws, &churn_handler, cc, i);
    cc->st = C_WAIT;

    if (ws_connect(&cc->ws, ch.o->host, ch.o->port,
                   ch.o->source_base + i % ch.o->sources) != 0)
    {
        cc->st = C_FAILED;
        ch.failed++;
        count_reason("connect: error");
        return -1;
    }

    return 0;
}


static int
run_churn(options_t *o)
{
    int      next, total;
    double   t0, deadline;

    ch.o = o;
    total = o->n + 1;

    if (raise_nofile() < (rlim_t) o->inflight + 32) {
        fprintf(stderr, "kefu-load: --inflight %d needs as many descriptors\n",
                o->inflight);
        return 2;
    }

    ch.c = calloc(total, sizeof(churn_conn_t));

    if (ch.c == NULL) {
        perror("kefu-load");
        return 1;
    }

    loop_init(0);

    t0 = now();
    deadline = t0 + o->timeout;

    if (churn_connect(0) != 0) {
        print_reasons();
        return 1;
    }

    while (!ch.agent_ready && ch.failed == 0 && now() < deadline
           && !stopping())
    {
        loop_once(50);
    }

    if (!ch.agent_ready) {
        printf("churn: the agent did not come online\n");
        print_reasons();
        return 1;
    }

    next = 1;

    while (ch.done + ch.failed < o->n && now() < deadline && !stopping()) {
        while (next < total && ch.active < o->inflight) {
            ch.active++;

            if (churn_connect(next) != 0) {
                ch.active--;
            }

            next++;
        }

        loop_once(50);
    }

    printf("SUMMARY mode=churn visitors=%d closed=%d failed=%d "
           "unfinished=%d closes_sent=%d seconds=%.3f\n", o->n, ch.done,
           ch.failed, o->n - ch.done - ch.failed, ch.closes, now() - t0);
    fflush(stdout);

    if (ch.failed) {
        print_reasons();
    }

    ws_shutdown(&ch.c[0].ws);
    deadline = now() + 2;

    while (ch.c[0].ws.state != WS_CLOSED && now() < deadline) {
        loop_once(50);
    }

    ws_close(&ch.c[0].ws, "shut down");

    return ch.done == o->n ? 0 : 1;
}


/* -------------------------------------------------- mode: selftest */

static int
check(const char *what, const char *got, const char *want)
{
    int  ok = strcmp(got, want) == 0;

    printf("%s %s\n", ok ? "ok  " : "FAIL", what);
    if (!ok) {
        printf("     got  %s\n     want %s\n", got, want);
    }

    return ok ? 0 : 1;
}


static void
hex(const unsigned char *p, size_t n, char *out)
{
    size_t  i;

    for (i = 0; i < n; i++) {
        sprintf(out + 2 * i, "%02x", p[i]);
    }
}


static int
run_selftest(void)
{
    int            bad = 0;
    char           out[256], a[29];
    unsigned char  d[32];
    const char    *million =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    sha1("abc", 3, d);
    hex(d, 20, out);
    bad += check("sha1 abc", out, "a9993e364706816aba3e25717850c26c9cd0d89d");

    sha1(million, strlen(million), d);
    hex(d, 20, out);
    bad += check("sha1 448 bits", out,
                 "84983e441c3bd26ebaae4aa1f95129e5e54670f1");

    sha256("abc", 3, d);
    hex(d, 32, out);
    bad += check("sha256 abc", out, "ba7816bf8f01cfea414140de5dae2223"
                                    "b00361a396177a9cb410ff61f20015ad");

    sha256(million, strlen(million), d);
    hex(d, 32, out);
    bad += check("sha256 448 bits", out, "248d6a61d20638b8e5c026930c3e6039"
                                         "a33ce45964ff2167f6ecedd419db06c1");

    hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, d);
    hex(d, 32, out);
    bad += check("hmac-sha256 rfc4231 #2", out,
                 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");

    ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", a);
    bad += check("rfc6455 accept", a, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

    base64((const unsigned char *) "any carnal pleas", 16, out, 0);
    bad += check("base64", out, "YW55IGNhcm5hbCBwbGVhcw==");

    base64((const unsigned char *) "\xfb\xff", 2, out, 1);
    bad += check("base64url", out, "-_8");

    bad += check("json_str", json_str("{\"type\" : \"pong\",\"id\":\"i7\"}",
                                      "id", out, sizeof(out)) == 0
                              ? out : "(none)", "i7");

    return bad ? 1 : 0;
}


/* ------------------------------------------------------------- main */

int
main(int argc, char **argv)
{
    options_t  o;

    parse_options(argc, argv, &o);

    rng_state = (uint64_t) time(NULL) ^ ((uint64_t) getpid() << 32)
                ^ (uint64_t) (now() * 1e9);
    if (rng_state == 0) {
        rng_state = 1;
    }

    setvbuf(stdout, NULL, _IOLBF, 0);

    if (strcmp(o.mode, "selftest") == 0) {
        return run_selftest();
    }

    if (strcmp(o.mode, "pairs") == 0 || strcmp(o.mode, "nchan") == 0) {
        return run_pairs(&o);
    }

    if (strcmp(o.mode, "route") == 0) {
        return run_route(&o);
    }

    if (strcmp(o.mode, "churn") == 0) {
        return run_churn(&o);
    }

    return run_idle(&o);
}
