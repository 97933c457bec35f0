/*
 * kefu-load: a WebSocket load tool for ngx_kefu_module benchmarks.
 * One process, epoll, non-blocking sockets; only loopback addresses.
 *
 *   kefu-load idle --port P [--host 127.0.0.1] [--path /chat] [--n 10000]
 *                  [--sources 4] [--inflight 256] [--hold 10]
 *
 * idle: opens N WebSocket connections (spread over source addresses
 * 127.0.0.2, .3, ... so that ephemeral ports do not run out), prints
 * "READY <n> open", keeps them idle (answering server pings) for --hold
 * seconds or until stdin closes, then closes them and exits.
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
    int          port;
    int          n;
    int          sources;
    int          inflight;
    int          hold;
} options_t;


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
            " [--n N] [--sources S] [--inflight I] [--hold SECONDS]\n");
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

    if (argc < 2 || strcmp(argv[1], "idle") != 0) {
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
        } else {
            usage();
        }
    }

    if (i != argc || o->port <= 0 || o->n <= 0 || o->n > MAX_CONNS
        || o->sources <= 0 || o->sources > 250 || o->inflight <= 0
        || o->hold < 0 || o->hold > 3600)
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
