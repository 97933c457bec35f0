/*
 * kefu-load: a WebSocket load tool for ngx_kefu_module benchmarks.
 * One process, epoll, non-blocking sockets; only loopback addresses.
 *
 *   kefu-load idle --port P [--host 127.0.0.1] [--path /chat] [--n 10000]
 *                  [--sources 4] [--inflight 256] [--hold 10]
 *   kefu-load pairs --port P --secret S [--site shop1] [--n 1000]
 *                  [--rate 15] [--duration 10] [--sources 4]
 *
 * idle: opens N WebSocket connections (spread over source addresses
 * 127.0.0.2, .3, ... so that ephemeral ports do not run out), prints
 * "READY <n> open", keeps them idle (answering server pings) for --hold
 * seconds or until stdin closes, then closes them and exits.
 *
 * pairs: N visitor/agent pairs speaking the kefu contract.  Each visitor
 * opens a conversation (anonymous hello, first msg), an agent (a token
 * minted with --secret) accepts it, then every visitor sends --rate
 * messages per second for --duration seconds.  Reports delivered msgs/s,
 * end-to-end latency percentiles (visitor send to agent receive) and the
 * messages lost, duplicated or out of order (each text carries its number).
 *
 * Built by scripts/bench.  Everything is bounded in count and time.
 */

#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>


/* the RFC 6455 sample key: the server's answer is known in advance */
#define WS_KEY     "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT  "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

#define MAX_CONNS  100000
#define BUF_SIZE   4096


enum { C_CONNECTING, C_HANDSHAKE, C_OPEN, C_FAILED };


typedef struct {
    int       fd;
    int       state;
    size_t    have;           /* bytes of the handshake answer so far */
    char     *buf;            /* only while handshaking */
} conn_t;


typedef struct {
    const char  *host;
    const char  *path;
    const char  *site;
    const char  *secret;
    int          port;
    int          n;
    int          sources;
    int          inflight;
    int          hold;
    int          rate;
    int          duration;
    int          pairs;
} options_t;


static int run_pairs(options_t *o);


static double
now(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}


static void
usage(void)
{
    fprintf(stderr,
            "usage: kefu-load idle --port P [--host 127.0.0.1] [--path /chat]"
            " [--n N] [--sources S] [--inflight I] [--hold SECONDS]\n"
            "       kefu-load pairs --port P --secret S [--site shop1] [--n N]"
            " [--rate PER_SECOND] [--duration SECONDS] [--sources S]\n");
    exit(2);
}


static int
parse_options(int argc, char **argv, options_t *o)
{
    int  i;

    o->host = "127.0.0.1";
    o->path = "/chat";
    o->port = 0;
    o->n = 10000;
    o->sources = 4;
    o->inflight = 256;
    o->hold = 10;
    o->site = "shop1";
    o->secret = NULL;
    o->rate = 15;
    o->duration = 10;

    if (argc < 2) {
        usage();
    }

    if (strcmp(argv[1], "pairs") == 0) {
        o->pairs = 1;
        o->n = 1000;

    } else if (strcmp(argv[1], "idle") != 0) {
        usage();
    }

    for (i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--host") == 0) {
            o->host = argv[i + 1];
        } else if (strcmp(argv[i], "--path") == 0) {
            o->path = argv[i + 1];
        } else if (strcmp(argv[i], "--port") == 0) {
            o->port = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--n") == 0) {
            o->n = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--sources") == 0) {
            o->sources = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--inflight") == 0) {
            o->inflight = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--hold") == 0) {
            o->hold = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--site") == 0) {
            o->site = argv[i + 1];
        } else if (strcmp(argv[i], "--secret") == 0) {
            o->secret = argv[i + 1];
        } else if (strcmp(argv[i], "--rate") == 0) {
            o->rate = atoi(argv[i + 1]);
        } else if (strcmp(argv[i], "--duration") == 0) {
            o->duration = atoi(argv[i + 1]);
        } else {
            usage();
        }
    }

    if (i != argc || o->port <= 0 || o->n <= 0 || o->n > MAX_CONNS
        || o->sources <= 0 || o->sources > 250 || o->inflight <= 0
        || o->hold < 0 || o->hold > 3600
        || o->rate <= 0 || o->rate > 10000
        || o->duration <= 0 || o->duration > 600
        || (o->pairs && (o->secret == NULL || o->n > MAX_CONNS / 2)))
    {
        usage();
    }

    /* loopback only: this tool never loads anything else */
    if (strncmp(o->host, "127.", 4) != 0) {
        fprintf(stderr, "kefu-load: --host must be in 127.0.0.0/8\n");
        exit(2);
    }

    return 0;
}


static int
start_connect(options_t *o, conn_t *c, int idx, int ep)
{
    int                 fd, one;
    char                src[32];
    struct sockaddr_in  sa, la;
    struct epoll_event  ev;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return -1;
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    snprintf(src, sizeof(src), "127.0.0.%d", 2 + idx % o->sources);
    memset(&la, 0, sizeof(la));
    la.sin_family = AF_INET;
    inet_pton(AF_INET, src, &la.sin_addr);

    if (bind(fd, (struct sockaddr *) &la, sizeof(la)) == -1) {
        close(fd);
        return -1;
    }

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons(o->port);
    inet_pton(AF_INET, o->host, &sa.sin_addr);

    if (connect(fd, (struct sockaddr *) &sa, sizeof(sa)) == -1
        && errno != EINPROGRESS)
    {
        close(fd);
        return -1;
    }

    c->fd = fd;
    c->state = C_CONNECTING;
    c->have = 0;

    ev.events = EPOLLOUT | EPOLLIN;
    ev.data.u32 = (uint32_t) idx;

    if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1) {
        close(fd);
        return -1;
    }

    return 0;
}


static void
fail(conn_t *c, int ep)
{
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    free(c->buf);
    c->buf = NULL;
    c->fd = -1;
    c->state = C_FAILED;
}


/* a masked pong echoing a server ping; frames here are small */
static void
answer_frames(conn_t *c, int ep)
{
    unsigned char  buf[BUF_SIZE], out[2 + 4 + 125];
    ssize_t        n, i, len;

    for ( ;; ) {
        n = read(c->fd, buf, sizeof(buf));

        if (n == 0 || (n == -1 && errno != EAGAIN)) {
            fail(c, ep);
            return;
        }

        if (n == -1) {
            return;
        }

        /* server frames are unmasked; answer each ping in this chunk */
        for (i = 0; i + 2 <= n; i += 2 + len) {
            len = buf[i + 1] & 0x7f;

            if (len > 125 || i + 2 + len > n) {
                break;
            }

            if ((buf[i] & 0x0f) == 0x9) {
                out[0] = 0x8a;
                out[1] = 0x80 | (unsigned char) len;
                memset(out + 2, 0, 4);
                memcpy(out + 6, buf + i + 2, len);
                if (write(c->fd, out, 6 + len) < 0) {
                    fail(c, ep);
                    return;
                }
            }
        }
    }
}


static void
handle(options_t *o, conn_t *conns, uint32_t idx, uint32_t events, int ep,
    int *open, int *failed, int *pending)
{
    conn_t  *c = &conns[idx];

    int                 err;
    char                req[512];
    ssize_t             n;
    socklen_t           len;
    struct epoll_event  ev;

    if (c->state == C_CONNECTING) {
        len = sizeof(err);
        if ((events & (EPOLLERR | EPOLLHUP))
            || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1
            || err != 0)
        {
            fail(c, ep);
            (*failed)++;
            (*pending)--;
            return;
        }

        n = snprintf(req, sizeof(req),
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                     "Sec-WebSocket-Key: " WS_KEY "\r\n\r\n",
                     o->path, o->host);

        if (write(c->fd, req, n) != n) {
            fail(c, ep);
            (*failed)++;
            (*pending)--;
            return;
        }

        c->buf = malloc(BUF_SIZE);
        if (c->buf == NULL) {
            fail(c, ep);
            (*failed)++;
            (*pending)--;
            return;
        }

        c->state = C_HANDSHAKE;

        /* level-triggered: writable would wake us up forever */
        ev.events = EPOLLIN;
        ev.data.u32 = idx;

        if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
            fail(c, ep);
            (*failed)++;
            (*pending)--;
        }

        return;
    }

    if (c->state == C_HANDSHAKE) {
        n = read(c->fd, c->buf + c->have, BUF_SIZE - 1 - c->have);

        if (n <= 0) {
            if (n == -1 && errno == EAGAIN) {
                return;
            }
            fail(c, ep);
            (*failed)++;
            (*pending)--;
            return;
        }

        c->have += n;
        c->buf[c->have] = '\0';

        if (strstr(c->buf, "\r\n\r\n") == NULL) {
            if (c->have >= BUF_SIZE - 1) {
                fail(c, ep);
                (*failed)++;
                (*pending)--;
            }
            return;
        }

        if (strncmp(c->buf, "HTTP/1.1 101", 12) != 0
            || strstr(c->buf, "Sec-WebSocket-Accept: " WS_ACCEPT) == NULL)
        {
            fail(c, ep);
            (*failed)++;
            (*pending)--;
            return;
        }

        /* from now on only server pings wake it up */
        free(c->buf);
        c->buf = NULL;
        c->state = C_OPEN;
        (*open)++;
        (*pending)--;
        return;
    }

    if (c->state == C_OPEN && (events & EPOLLIN)) {
        answer_frames(c, ep);
        if (c->state == C_FAILED) {
            (*open)--;
            (*failed)++;
        }
    }
}


int
main(int argc, char **argv)
{
    int                 ep, i, n, next, open, failed, pending;
    double              t0, deadline, hold_until;
    conn_t             *conns;
    options_t           o;
    struct rlimit       rl;
    struct pollfd       pin;
    struct epoll_event  evs[512];

    parse_options(argc, argv, &o);

    if (o.pairs) {
        return run_pairs(&o);
    }

    /* as many descriptors as allowed, for N connections and a margin */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < (rlim_t) o.n + 16) {
            fprintf(stderr, "kefu-load: only %lu descriptors allowed\n",
                    (unsigned long) rl.rlim_cur);
            return 1;
        }
    }

    conns = calloc(o.n, sizeof(conn_t));
    ep = epoll_create1(EPOLL_CLOEXEC);

    if (conns == NULL || ep == -1) {
        perror("kefu-load");
        return 1;
    }

    t0 = now();
    deadline = t0 + 120;
    next = open = failed = pending = 0;

    while ((next < o.n || pending > 0) && now() < deadline) {

        while (next < o.n && pending < o.inflight) {
            if (start_connect(&o, &conns[next], next, ep) == 0) {
                pending++;
            } else {
                conns[next].state = C_FAILED;
                conns[next].fd = -1;
                failed++;
            }
            next++;
        }

        n = epoll_wait(ep, evs, 512, 100);

        for (i = 0; i < n; i++) {
            handle(&o, conns, evs[i].data.u32, evs[i].events, ep, &open,
                   &failed, &pending);
        }
    }

    printf("READY %d open, %d failed, %.2f s\n", open, failed, now() - t0);
    fflush(stdout);

    /* hold: answer pings until --hold elapses or stdin closes */
    hold_until = now() + o.hold;
    pin.fd = 0;
    pin.events = POLLIN;

    while (now() < hold_until) {
        n = epoll_wait(ep, evs, 512, 200);

        for (i = 0; i < n; i++) {
            handle(&o, conns, evs[i].data.u32, evs[i].events, ep, &open,
                   &failed, &pending);
        }

        if (poll(&pin, 1, 0) == 1) {
            char  b[64];

            if (read(0, b, sizeof(b)) <= 0) {
                break;
            }
        }
    }

    printf("DONE %d open at the end, %d failed\n", open, failed);

    for (i = 0; i < o.n; i++) {
        if (conns[i].fd >= 0 && conns[i].state != C_FAILED) {
            close(conns[i].fd);
        }
    }

    return failed ? 1 : 0;
}


/* ---------------------------------------------------------------- pairs */

enum { P_CONNECTING, P_HANDSHAKE, P_HELLO, P_OPENING, P_ACCEPTING, P_READY,
       P_FAILED };


typedef struct {
    int             fd;
    int             state;
    unsigned char  *in;
    size_t          in_len, in_cap;
    unsigned char  *out;
    size_t          out_len, out_cap;
} pconn_t;


typedef struct {
    pconn_t         c[2];           /* 0: visitor, 1: agent */
    char            conv[32];
    uint64_t        sent, acked, received, dups, gaps, refused;
    uint64_t        expected;       /* the next number the agent should see */
    double          next_send;
} pair_t;


static pair_t    *pairs;
static int        npairs, ep_pairs, ready_pairs, failed_conns, running;
static double    *lat;              /* latencies, ms */
static size_t     nlat, lat_cap;
static double     t_base;


static void
b64url(const unsigned char *in, size_t len, char *out)
{
    static const char  t[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t             i;
    unsigned int       v;

    for (i = 0; i + 2 < len; i += 3) {
        v = (in[i] << 16) | (in[i + 1] << 8) | in[i + 2];
        *out++ = t[v >> 18]; *out++ = t[(v >> 12) & 63];
        *out++ = t[(v >> 6) & 63]; *out++ = t[v & 63];
    }

    if (len - i == 1) {
        v = in[i] << 16;
        *out++ = t[v >> 18]; *out++ = t[(v >> 12) & 63];

    } else if (len - i == 2) {
        v = (in[i] << 16) | (in[i + 1] << 8);
        *out++ = t[v >> 18]; *out++ = t[(v >> 12) & 63];
        *out++ = t[(v >> 6) & 63];
    }

    *out = '\0';
}


/* an HS256 agent token, as the shop's backend would mint it */
static void
mint_agent_token(options_t *o, int i, char *out, size_t size)
{
    char           payload[256], p64[400], s64[64], signing[600];
    unsigned int   n = 32;
    unsigned char  sig[32];

    snprintf(payload, sizeof(payload),
             "{\"sub\":\"bench-a%d\",\"role\":\"agent\",\"site\":\"%s\","
             "\"exp\":%ld,\"capacity\":1000}", i, o->site,
             (long) time(NULL) + 3600);
    b64url((unsigned char *) payload, strlen(payload), p64);
    snprintf(signing, sizeof(signing),
             "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.%s", p64);
    HMAC(EVP_sha256(), o->secret, (int) strlen(o->secret),
         (unsigned char *) signing, strlen(signing), sig, &n);
    b64url(sig, 32, s64);
    snprintf(out, size, "%s.%s", signing, s64);
}


static void
pfail(pconn_t *c)
{
    if (c->state != P_FAILED) {
        epoll_ctl(ep_pairs, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->state = P_FAILED;
        failed_conns++;
    }
}


static void
pflush(pconn_t *c, uint32_t idx)
{
    ssize_t             n;
    struct epoll_event  ev;

    while (c->out_len) {
        n = write(c->fd, c->out, c->out_len);

        if (n < 0) {
            if (errno == EAGAIN) {
                break;
            }
            pfail(c);
            return;
        }

        memmove(c->out, c->out + n, c->out_len - n);
        c->out_len -= n;
    }

    ev.events = EPOLLIN | (c->out_len ? EPOLLOUT : 0);
    ev.data.u32 = idx;
    epoll_ctl(ep_pairs, EPOLL_CTL_MOD, c->fd, &ev);
}


/* queues one masked frame (the mask is zero: masking is then a no-op) */
static void
psend(pconn_t *c, uint32_t idx, int opcode, const char *data, size_t len)
{
    size_t          need;
    unsigned char  *p;

    if (c->state == P_FAILED) {
        return;
    }

    need = c->out_len + len + 14;

    if (need > c->out_cap) {
        c->out_cap = need * 2;
        c->out = realloc(c->out, c->out_cap);
        if (c->out == NULL) {
            perror("kefu-load");
            exit(1);
        }
    }

    p = c->out + c->out_len;
    *p++ = 0x80 | opcode;

    if (len < 126) {
        *p++ = 0x80 | len;
    } else {
        *p++ = 0x80 | 126;
        *p++ = len >> 8;
        *p++ = len & 0xff;
    }

    memset(p, 0, 4);
    p += 4;
    memcpy(p, data, len);
    p += len;

    c->out_len = p - c->out;

    pflush(c, idx);
}


static void
psend_text(pair_t *pr, int role, const char *text)
{
    psend(&pr->c[role], (uint32_t) ((pr - pairs) * 2 + role), 1, text,
          strlen(text));
}


static void
pair_message(options_t *o, pair_t *pr, int role, char *m, size_t len)
{
    char    *p, buf[2048];
    double   t;
    long     n;

    m[len] = '\0';

    if (role == 0) {
        if (pr->c[0].state == P_HELLO && strstr(m, "\"type\":\"welcome\"")) {
            pr->c[0].state = P_OPENING;
            psend_text(pr, 0, "{\"type\":\"msg\",\"cid\":\"open\","
                              "\"text\":\"open\"}");
            return;
        }

        if (strstr(m, "\"type\":\"ack\"")) {
            if (pr->c[0].state == P_OPENING) {
                p = strstr(m, "\"conv\":\"");
                if (p) {
                    sscanf(p + 8, "%31[0-9]", pr->conv);
                }
                pr->c[0].state = P_READY;

                if (pr->c[1].state == P_ACCEPTING) {
                    snprintf(buf, sizeof(buf),
                             "{\"type\":\"accept\",\"conv\":\"%s\"}",
                             pr->conv);
                    psend_text(pr, 1, buf);
                }
                return;
            }

            pr->acked++;
            return;
        }

        /* not stored, the client was told: a real one resends its cid */
        if (running && strstr(m, "\"type\":\"error\"")) {
            pr->refused++;
        }

        return;
    }

    /* the agent */

    if (pr->c[1].state == P_HELLO && strstr(m, "\"type\":\"welcome\"")) {
        pr->c[1].state = P_ACCEPTING;

        if (pr->c[0].state == P_READY) {
            snprintf(buf, sizeof(buf), "{\"type\":\"accept\",\"conv\":\"%s\"}",
                     pr->conv);
            psend_text(pr, 1, buf);
        }
        return;
    }

    if (pr->c[1].state == P_ACCEPTING
        && strstr(m, "\"type\":\"conv\"") && strstr(m, "\"state\":\"open\""))
    {
        pr->c[1].state = P_READY;
        ready_pairs++;
        return;
    }

    (void) o;

    if (!running || !strstr(m, "\"type\":\"msg\"")) {
        return;
    }

    p = strstr(m, "\"text\":\"t=");
    if (p == NULL || sscanf(p + 10, "%lf n=%ld", &t, &n) != 2) {
        return;
    }

    if (nlat < lat_cap) {
        lat[nlat++] = (now() - t_base - t) * 1000;
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
pair_input(options_t *o, pair_t *pr, int role)
{
    pconn_t  *c = &pr->c[role];
    char      req[1024], token[600];
    ssize_t   n;
    size_t    off, hl, len;
    unsigned char  *b;

    for ( ;; ) {
        if (c->in_cap - c->in_len < 16384) {
            c->in_cap = c->in_cap ? c->in_cap * 2 : 65536;
            c->in = realloc(c->in, c->in_cap);
            if (c->in == NULL) {
                perror("kefu-load");
                exit(1);
            }
        }

        n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len - 1);

        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            pfail(c);
            return;
        }

        if (n < 0) {
            break;
        }

        c->in_len += n;
    }

    off = 0;

    if (c->state == P_HANDSHAKE) {
        c->in[c->in_len] = '\0';
        b = (unsigned char *) strstr((char *) c->in, "\r\n\r\n");
        if (b == NULL) {
            return;
        }

        if (strncmp((char *) c->in, "HTTP/1.1 101", 12) != 0) {
            pfail(c);
            return;
        }

        off = b + 4 - c->in;
        c->state = P_HELLO;

        if (role == 0) {
            snprintf(req, sizeof(req),
                     "{\"type\":\"hello\",\"role\":\"visitor\",\"site\":\"%s\"}",
                     o->site);
        } else {
            mint_agent_token(o, (int) (pr - pairs), token, sizeof(token));
            snprintf(req, sizeof(req),
                     "{\"type\":\"hello\",\"role\":\"agent\",\"site\":\"%s\","
                     "\"token\":\"%s\"}", o->site, token);
        }

        psend_text(pr, role, req);
    }

    /* server frames: never masked */
    while (c->in_len - off >= 2) {
        b = c->in + off;
        len = b[1] & 0x7f;
        hl = 2;

        if (len == 126) {
            if (c->in_len - off < 4) break;
            len = (b[2] << 8) | b[3];
            hl = 4;
        } else if (len == 127) {
            if (c->in_len - off < 10) break;
            len = ((size_t) b[6] << 24) | (b[7] << 16) | (b[8] << 8) | b[9];
            hl = 10;
        }

        if (c->in_len - off < hl + len) {
            break;
        }

        if ((b[0] & 0x0f) == 0x9) {
            psend(c, (uint32_t) ((pr - pairs) * 2 + role), 0xa,
                  (char *) b + hl, len);

        } else if ((b[0] & 0x0f) == 0x1) {
            unsigned char  save = b[hl + len];
            pair_message(o, pr, role, (char *) b + hl, len);
            b[hl + len] = save;

        } else if ((b[0] & 0x0f) == 0x8) {
            pfail(c);
            return;
        }

        off += hl + len;
    }

    memmove(c->in, c->in + off, c->in_len - off);
    c->in_len -= off;
}


static int
pcmp(const void *a, const void *b)
{
    double  x = *(const double *) a, y = *(const double *) b;

    return x < y ? -1 : x > y;
}


static void
pair_event(options_t *o, uint32_t idx, uint32_t events)
{
    int        err;
    char       req[512];
    pair_t    *pr = &pairs[idx / 2];
    pconn_t   *c = &pr->c[idx % 2];
    socklen_t  len;

    if (c->state == P_FAILED) {
        return;
    }

    if (c->state == P_CONNECTING) {
        len = sizeof(err);
        if ((events & (EPOLLERR | EPOLLHUP))
            || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1
            || err)
        {
            pfail(c);
            return;
        }

        c->state = P_HANDSHAKE;
        snprintf(req, sizeof(req),
                 "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                 "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                 "Sec-WebSocket-Key: " WS_KEY "\r\n\r\n", o->path, o->host);

        /* the raw request goes out through the frame queue's buffer */
        c->out = realloc(c->out, 1024);
        c->out_cap = 1024;
        memcpy(c->out, req, strlen(req));
        c->out_len = strlen(req);
        pflush(c, idx);
        return;
    }

    if (events & EPOLLOUT) {
        pflush(c, idx);
    }

    if (events & EPOLLIN) {
        pair_input(o, pr, idx % 2);
    }
}


static int
run_pairs(options_t *o)
{
    int                 i, k, n;
    char                msg[256];
    double              t0, deadline, end, interval;
    uint64_t            sent = 0, acked = 0, recv = 0, dups = 0, gaps = 0;
    uint64_t            refused = 0;
    conn_t              tmp;
    struct rlimit       rl;
    struct epoll_event  evs[512], ev;

    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    npairs = o->n;
    pairs = calloc(npairs, sizeof(pair_t));
    lat_cap = (size_t) npairs * o->rate * o->duration + 1024;
    lat = malloc(lat_cap * sizeof(double));
    ep_pairs = epoll_create1(EPOLL_CLOEXEC);

    if (pairs == NULL || lat == NULL || ep_pairs == -1) {
        perror("kefu-load");
        return 1;
    }

    t_base = now();
    t0 = t_base;

    /* connect everything, a bounded number at a time */
    for (i = 0; i < npairs * 2; i++) {
        pconn_t  *c = &pairs[i / 2].c[i % 2];

        if (start_connect(o, &tmp, i, ep_pairs) != 0) {
            c->state = P_FAILED;
            failed_conns++;
            continue;
        }

        c->fd = tmp.fd;
        c->state = P_CONNECTING;

        ev.events = EPOLLOUT | EPOLLIN;
        ev.data.u32 = (uint32_t) i;
        epoll_ctl(ep_pairs, EPOLL_CTL_MOD, c->fd, &ev);

        if (i % 128 == 127) {
            n = epoll_wait(ep_pairs, evs, 512, 0);
            for (k = 0; k < n; k++) {
                pair_event(o, evs[k].data.u32, evs[k].events);
            }
        }
    }

    deadline = now() + 20;

    while (ready_pairs + failed_conns / 2 < npairs && now() < deadline) {
        n = epoll_wait(ep_pairs, evs, 512, 50);
        for (k = 0; k < n; k++) {
            pair_event(o, evs[k].data.u32, evs[k].events);
        }
    }

    printf("setup: %d of %d pairs ready, %d connections failed, %.2f s\n",
           ready_pairs, npairs, failed_conns, now() - t0);

    for (i = 0; i < npairs; i++) {
        if (pairs[i].c[1].state != P_READY) {
            fprintf(stderr, "pair %d not ready: visitor %d, agent %d, conv"
                    " \"%s\"\n", i, pairs[i].c[0].state,
                    pairs[i].c[1].state, pairs[i].conv);
        }
    }
    fflush(stdout);

    /* run: every visitor sends at the rate, spread over the interval */
    interval = 1.0 / o->rate;
    running = 1;
    t0 = now();
    end = t0 + o->duration;

    for (i = 0; i < npairs; i++) {
        pairs[i].next_send = t0 + interval * i / npairs;
        pairs[i].expected = 1;
    }

    while (now() < end) {
        double  t = now();

        for (i = 0; i < npairs; i++) {
            pair_t  *pr = &pairs[i];

            if (pr->c[1].state != P_READY || pr->c[0].state != P_READY) {
                continue;
            }

            while (pr->next_send <= t) {
                pr->sent++;
                snprintf(msg, sizeof(msg),
                         "{\"type\":\"msg\",\"conv\":\"%s\",\"cid\":\"m%llu\","
                         "\"text\":\"t=%.6f n=%llu\"}", pr->conv,
                         (unsigned long long) pr->sent, now() - t_base,
                         (unsigned long long) pr->sent);
                psend_text(pr, 0, msg);
                pr->next_send += interval;
            }
        }

        n = epoll_wait(ep_pairs, evs, 512, 1);
        for (k = 0; k < n; k++) {
            pair_event(o, evs[k].data.u32, evs[k].events);
        }
    }

    /* let what is in flight arrive */
    deadline = now() + 3;
    while (now() < deadline) {
        n = epoll_wait(ep_pairs, evs, 512, 20);
        for (k = 0; k < n; k++) {
            pair_event(o, evs[k].data.u32, evs[k].events);
        }
    }

    for (i = 0; i < npairs; i++) {
        sent += pairs[i].sent;
        acked += pairs[i].acked;
        recv += pairs[i].received;
        dups += pairs[i].dups;
        gaps += pairs[i].gaps;
        refused += pairs[i].refused;
    }

    /* a refused message leaves a gap that is no loss: it was not stored */
    gaps = gaps > refused ? gaps - refused : 0;

    qsort(lat, nlat, sizeof(double), pcmp);

    printf("pairs %d, rate %d msg/s per visitor, %d s: sent %llu, acked %llu,"
           " delivered %llu\n", ready_pairs, o->rate, o->duration,
           (unsigned long long) sent, (unsigned long long) acked,
           (unsigned long long) recv);
    printf("delivered %.0f msgs/s; latency ms p50 %.2f p99 %.2f p99.9 %.2f"
           " max %.2f\n", recv / (double) o->duration,
           nlat ? lat[nlat / 2] : 0, nlat ? lat[nlat * 99 / 100] : 0,
           nlat ? lat[nlat * 999 / 1000] : 0, nlat ? lat[nlat - 1] : 0);
    printf("lost %llu (acked, never delivered), duplicated %llu, out of order"
           " %llu, refused with an error %llu, failed connections %d\n",
           (unsigned long long) (acked > recv ? acked - recv : 0),
           (unsigned long long) dups, (unsigned long long) gaps,
           (unsigned long long) refused, failed_conns);
    printf("SUMMARY mode=pairs pairs=%d rate=%d sent=%llu acked=%llu "
           "delivered=%llu msgs_per_s=%.0f p50=%.2f p99=%.2f p999=%.2f "
           "lost=%llu dup=%llu ooo=%llu\n", ready_pairs, o->rate,
           (unsigned long long) sent, (unsigned long long) acked,
           (unsigned long long) recv, recv / (double) o->duration,
           nlat ? lat[nlat / 2] : 0, nlat ? lat[nlat * 99 / 100] : 0,
           nlat ? lat[nlat * 999 / 1000] : 0,
           (unsigned long long) (acked > recv ? acked - recv : 0),
           (unsigned long long) dups, (unsigned long long) gaps);

    return (dups || gaps || acked > recv) ? 1 : 0;
}
