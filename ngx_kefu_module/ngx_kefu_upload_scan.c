
/*
 * The optional scan before a file is accepted (kefu_upload_scan): clamd's
 * INSTREAM command over its unix or TCP socket, on nginx's event loop.
 *
 *   -> "zINSTREAM\0", then chunks <length: 4 bytes, big-endian><bytes>,
 *      then a zero length
 *   <- "stream: OK\0" | "stream: <signature> FOUND\0" | "... ERROR\0"
 *
 * Anything but an answer in time (no scanner, a refused connection, a
 * timeout, an ERROR) is "unavailable": the upload is refused, never
 * passed unscanned.
 */


#include "ngx_kefu_upload.h"


#define NGX_KEFU_SCAN_CHUNK  (64 * 1024)


struct ngx_kefu_scan_s {
    ngx_peer_connection_t        pc;
    ngx_kefu_scan_done_pt        done;
    void                        *data;
    ngx_fd_t                     fd;
    off_t                        pos;
    off_t                        size;
    u_char                      *buf;        /* the frame being sent */
    size_t                       len;
    size_t                       sent;
    u_char                       reply[256];
    size_t                       rlen;
    ngx_msec_t                   timeout;
    unsigned                     ended:1;    /* the zero length is out */
};


static void ngx_kefu_scan_write(ngx_event_t *ev);
static void ngx_kefu_scan_read(ngx_event_t *ev);
static ngx_uint_t ngx_kefu_scan_timedout(ngx_kefu_scan_t *s,
    ngx_event_t *ev);
static ngx_int_t ngx_kefu_scan_moved(ngx_kefu_scan_t *s, ngx_event_t *ev,
    ssize_t n);
static void ngx_kefu_scan_wait(ngx_kefu_scan_t *s, ngx_event_t *ev,
    ngx_uint_t timed);
static void ngx_kefu_scan_end(ngx_kefu_scan_t *s, ngx_int_t rc,
    ngx_str_t *name);


ngx_kefu_scan_t *
ngx_kefu_scan_start(ngx_kefu_upload_conf_t *ucf, ngx_pool_t *pool,
    ngx_log_t *log, ngx_fd_t fd, off_t size, ngx_kefu_scan_done_pt done,
    void *data)
{
    ngx_int_t          rc;
    ngx_kefu_scan_t   *s;
    ngx_connection_t  *c;

    s = ngx_pcalloc(pool, sizeof(ngx_kefu_scan_t));
    if (s == NULL) {
        return NULL;
    }

    s->buf = ngx_pnalloc(pool, 4 + NGX_KEFU_SCAN_CHUNK);
    if (s->buf == NULL) {
        return NULL;
    }

    s->done = done;
    s->data = data;
    s->fd = fd;
    s->size = size;
    s->timeout = ucf->scan_timeout;

    s->len = ngx_cpymem(s->buf, "zINSTREAM", sizeof("zINSTREAM")) - s->buf;

    s->pc.sockaddr = ucf->scan->sockaddr;
    s->pc.socklen = ucf->scan->socklen;
    s->pc.name = &ucf->scan->name;
    s->pc.get = ngx_event_get_peer;
    s->pc.log = log;
    s->pc.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&s->pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, log, 0, "kefu: the virus scanner at "
                      "\"%V\" is unavailable", &ucf->scan->name);

        if (s->pc.connection) {
            ngx_close_connection(s->pc.connection);
        }

        return NULL;
    }

    c = s->pc.connection;
    c->data = s;
    c->log = log;
    c->read->log = log;
    c->write->log = log;
    c->read->handler = ngx_kefu_scan_read;
    c->write->handler = ngx_kefu_scan_write;

    if (rc == NGX_AGAIN) {
        ngx_add_timer(c->write, s->timeout);
        return s;
    }

    /* connected at once (a unix socket): write now, but not from here */
    ngx_post_event(c->write, &ngx_posted_events);

    return s;
}


void
ngx_kefu_scan_cancel(ngx_kefu_scan_t *s)
{
    if (s->pc.connection) {
        ngx_close_connection(s->pc.connection);
        s->pc.connection = NULL;
    }
}


static void
ngx_kefu_scan_write(ngx_event_t *ev)
{
    ssize_t            n;
    ngx_connection_t  *c;
    ngx_kefu_scan_t   *s;

    c = ev->data;
    s = c->data;

    if (ngx_kefu_scan_timedout(s, ev)) {
        return;
    }

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    for ( ;; ) {

        if (s->sent == s->len) {

            if (s->ended) {
                /* all sent: the verdict */
                c->read->handler(c->read);
                return;
            }

            n = (ssize_t) ngx_min((off_t) NGX_KEFU_SCAN_CHUNK,
                                  s->size - s->pos);

            if (n > 0) {
                n = pread(s->fd, s->buf + 4, n, s->pos);

                if (n <= 0) {
                    ngx_log_error(NGX_LOG_ALERT, c->log, ngx_errno,
                                  "kefu: cannot read the file to scan");
                    ngx_kefu_scan_end(s, NGX_ERROR, NULL);
                    return;
                }

                s->pos += n;

            } else {
                s->ended = 1;
                n = 0;
            }

            s->buf[0] = (u_char) (n >> 24);
            s->buf[1] = (u_char) (n >> 16);
            s->buf[2] = (u_char) (n >> 8);
            s->buf[3] = (u_char) n;
            s->len = 4 + n;
            s->sent = 0;
        }

        n = c->send(c, s->buf + s->sent, s->len - s->sent);

        if (ngx_kefu_scan_moved(s, ev, n) != NGX_OK) {
            return;
        }

        s->sent += n;
    }
}


/*
 * After a send or recv: NGX_OK, n bytes went; else the scan waits for
 * the socket again, or ended (clamd closes early on its own errors,
 * e.g. its size limit)
 */

static ngx_int_t
ngx_kefu_scan_moved(ngx_kefu_scan_t *s, ngx_event_t *ev, ssize_t n)
{
    if (n == NGX_AGAIN) {
        ngx_kefu_scan_wait(s, ev, 1);
        return NGX_AGAIN;
    }

    if (n == NGX_ERROR) {
        ngx_kefu_scan_end(s, NGX_ERROR, NULL);
        return NGX_ERROR;
    }

    return NGX_OK;
}


static void
ngx_kefu_scan_read(ngx_event_t *ev)
{
    u_char            *p, *last;
    ssize_t            n;
    ngx_str_t          name;
    ngx_connection_t  *c;
    ngx_kefu_scan_t   *s;

    c = ev->data;
    s = c->data;

    if (ngx_kefu_scan_timedout(s, ev)) {
        return;
    }

    if (!s->ended) {
        /* nothing is expected before the end: an early error message */
        ngx_kefu_scan_wait(s, ev, 0);
        return;
    }

    if (ev->timer_set) {
        ngx_del_timer(ev);
    }

    for ( ;; ) {
        n = c->recv(c, s->reply + s->rlen, sizeof(s->reply) - 1 - s->rlen);

        if (ngx_kefu_scan_moved(s, ev, n) != NGX_OK) {
            return;
        }

        s->rlen += n;

        p = ngx_strlchr(s->reply, s->reply + s->rlen, '\0');

        if (p == NULL) {
            p = ngx_strlchr(s->reply, s->reply + s->rlen, '\n');
        }

        if (p || n == 0 || s->rlen == sizeof(s->reply) - 1) {
            break;
        }
    }

    last = p ? p : s->reply + s->rlen;

    /* "stream: OK", "stream: Eicar-Signature FOUND" */
    p = s->reply;

    if (last - p > 8 && ngx_strncmp(p, "stream: ", 8) == 0) {
        p += 8;
    }

    if (last - p == 2 && ngx_strncmp(p, "OK", 2) == 0) {
        ngx_kefu_scan_end(s, NGX_OK, NULL);
        return;
    }

    if (last - p > 6 && ngx_strncmp(last - 6, " FOUND", 6) == 0) {
        name.data = p;
        name.len = last - 6 - p;
        ngx_kefu_scan_end(s, NGX_DECLINED, &name);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, c->log, 0, "kefu: the virus scanner "
                  "answered \"%*s\"", last - s->reply, s->reply);

    ngx_kefu_scan_end(s, NGX_ERROR, NULL);
}


static ngx_uint_t
ngx_kefu_scan_timedout(ngx_kefu_scan_t *s, ngx_event_t *ev)
{
    if (!ev->timedout) {
        return 0;
    }

    ngx_log_error(NGX_LOG_ERR, ev->log, NGX_ETIMEDOUT,
                  "kefu: the virus scanner timed out");
    ngx_kefu_scan_end(s, NGX_ERROR, NULL);

    return 1;
}


/* the socket is not ready: wait for it (timed: at most scan_timeout) */

static void
ngx_kefu_scan_wait(ngx_kefu_scan_t *s, ngx_event_t *ev, ngx_uint_t timed)
{
    ngx_int_t  rc;

    if (timed) {
        ngx_add_timer(ev, s->timeout);
    }

    rc = ev->write ? ngx_handle_write_event(ev, 0)
                   : ngx_handle_read_event(ev, 0);

    if (rc != NGX_OK) {
        ngx_kefu_scan_end(s, NGX_ERROR, NULL);
    }
}


/* done() may free the pool s lives in: nothing of s is used after it */

static void
ngx_kefu_scan_end(ngx_kefu_scan_t *s, ngx_int_t rc, ngx_str_t *name)
{
    u_char                 found[128];
    ngx_str_t              copy;
    ngx_kefu_scan_done_pt  done;
    void                  *data;

    copy.len = 0;
    copy.data = found;

    if (name) {
        copy.len = ngx_min(name->len, sizeof(found));
        ngx_memcpy(found, name->data, copy.len);
    }

    done = s->done;
    data = s->data;

    ngx_kefu_scan_cancel(s);

    done(data, rc, &copy);
}
