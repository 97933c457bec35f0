
/*
 * A WebSocket connection after the 101: takeover from the HTTP request,
 * reading and reassembling frames, the bounded output queue, heartbeats and
 * the close handshake.
 *
 * Lifetime rule: nothing below frees the connection in the middle of
 * processing.  Errors mark it (ngx_kefu_ws_fail() queues a close frame,
 * ws->io->failed drops it, ws->io->write_failed drops it once the input
 * left in the socket is handled) and every event handler ends in
 * ngx_kefu_ws_finalize(), the one place where a connection is closed.
 */


#include "ngx_kefu_ws.h"


static void ngx_kefu_ws_takeover(ngx_event_t *wev);
static void ngx_kefu_ws_release_request(ngx_kefu_ws_t *ws,
    ngx_http_request_t *r);
static void ngx_kefu_ws_read_handler(ngx_event_t *rev);
static void ngx_kefu_ws_write_handler(ngx_event_t *wev);
static void ngx_kefu_ws_process(ngx_kefu_ws_t *ws, u_char *p, u_char *last);
static void ngx_kefu_ws_parse(ngx_kefu_ws_t *ws, u_char *p, u_char *last);
static ngx_int_t ngx_kefu_ws_frame_start(ngx_kefu_ws_t *ws);
static void ngx_kefu_ws_frame_end(ngx_kefu_ws_t *ws);
static void ngx_kefu_ws_control(ngx_kefu_ws_t *ws);
static ngx_int_t ngx_kefu_ws_queue(ngx_kefu_ws_t *ws, ngx_uint_t opcode,
    u_char *data, size_t len);
static ngx_kefu_out_t *ngx_kefu_ws_alloc_out(ngx_kefu_ws_t *ws, size_t size,
    ngx_uint_t held);
static void ngx_kefu_ws_free_held(ngx_kefu_ws_t *ws);
static void ngx_kefu_ws_slow_consumer(ngx_kefu_ws_t *ws);
static void ngx_kefu_ws_flush(ngx_kefu_ws_t *ws);
static void ngx_kefu_ws_write_failed(ngx_kefu_ws_t *ws);
static void ngx_kefu_ws_linger(ngx_kefu_ws_t *ws);
static void ngx_kefu_ws_drain(ngx_kefu_ws_t *ws);
static void ngx_kefu_ws_heartbeat(ngx_kefu_ws_t *ws);
static void ngx_kefu_ws_arm_heartbeat(ngx_kefu_ws_t *ws);
static void ngx_kefu_ws_free_input(ngx_kefu_ws_t *ws);
static void ngx_kefu_ws_finalize(ngx_kefu_ws_t *ws);


/*
 * Called from the content handler with a handshake that passed every check.
 * The request cannot be freed here: the HTTP core still uses it on the way
 * out of the content phase (finalize, posted subrequests).  So the 101 is
 * queued now and the takeover runs as a posted event, once the request is
 * out of nginx's hands.
 */

ngx_int_t
ngx_kefu_ws_start(ngx_http_request_t *r, ngx_str_t *response,
    const ngx_kefu_ws_handlers_t *handlers)
{
    ngx_kefu_ws_t             *ws;
    ngx_kefu_out_t            *out;
    ngx_connection_t          *c;
    ngx_http_core_loc_conf_t  *clcf;

    c = r->connection;

    /*
     * Chat is small writes answering small reads: without TCP_NODELAY,
     * Nagle holds each frame until the peer's delayed ACK, adding tens of
     * milliseconds to every message.  As nginx does for upgraded
     * connections, tcp_nodelay decides.
     */
    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);

    if (clcf->tcp_nodelay && ngx_tcp_nodelay(c) != NGX_OK) {
        return NGX_ERROR;
    }

    ws = ngx_pcalloc(c->pool, sizeof(ngx_kefu_ws_t));
    if (ws == NULL) {
        return NGX_ERROR;
    }

    /* the transport and the session it carries: see ngx_kefu_session.h */
    ws->io = ngx_pcalloc(c->pool, sizeof(ngx_kefu_ws_io_t));
    if (ws->io == NULL) {
        return NGX_ERROR;
    }

    ws->io->handlers = handlers;
    ws->connection = c;
    ws->conf = ngx_http_get_module_loc_conf(r, ngx_kefu_module);
    ws->main_conf = ngx_http_get_module_main_conf(r, ngx_kefu_module);
    ws->io->frame.need = 2;
    ws->io->out_last = &ws->io->out;
    ws->io->held_last = &ws->io->held;

    /* a visitor's browser and device, shown to agents: bounded, a copy */
    if (r->headers_in.user_agent) {
        ws->user_agent.len = ngx_min(r->headers_in.user_agent->value.len,
                                     NGX_KEFU_MAX_UA_LEN);
        ws->user_agent.data = ngx_pnalloc(c->pool, ws->user_agent.len);

        if (ws->user_agent.data == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(ws->user_agent.data, r->headers_in.user_agent->value.data,
                   ws->user_agent.len);
    }

    out = ngx_kefu_ws_alloc_out(ws, response->len, 0);
    if (out == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(out->data, response->data, response->len);

    ngx_http_set_ctx(r, ws, ngx_kefu_module);

    c->write->handler = ngx_kefu_ws_takeover;
    ngx_post_event(c->write, &ngx_posted_events);

    return NGX_OK;
}


static void
ngx_kefu_ws_takeover(ngx_event_t *wev)
{
    ngx_kefu_ws_t       *ws;
    ngx_connection_t    *c;
    ngx_http_request_t  *r;

    c = wev->data;
    r = c->data;
    ws = ngx_http_get_module_ctx(r, ngx_kefu_module);

    ngx_kefu_ws_release_request(ws, r);

    /* from here on the connection is ours */

    c->data = ws;
    c->read->handler = ngx_kefu_ws_read_handler;
    c->write->handler = ngx_kefu_ws_write_handler;
    c->log->action = "serving kefu websocket";

    /* lets a graceful shutdown reach us (ngx_close_idle_connections) */
    c->idle = 1;

    ngx_kefu_stat_inc(ws->main_conf, connections);

    ws->start = ngx_current_msec;
    ws->io->last_in = ws->start;
    ws->io->last_ping = ws->start;
    ws->rate_last = ws->start;
    ws->rate_tokens = (uint64_t) ws->conf->burst * 1000000;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "kefu websocket started, %uz bytes preread",
                   ws->io->preread_len);

    if (ws->io->failed) {
        ngx_kefu_ws_finalize(ws);
        return;
    }

    ngx_kefu_ws_arm_heartbeat(ws);

    if (ngx_exiting || ngx_terminate) {
        ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_GOING_AWAY, "server shutting down");
    }

    ngx_kefu_ws_flush(ws);

    /* frames pipelined behind the handshake come first */

    if (ws->io->preread) {
        ws->io->last_in = ngx_current_msec;
        ngx_kefu_ws_process(ws, ws->io->preread,
                            ws->io->preread + ws->io->preread_len);
        ngx_free(ws->io->preread);
        ws->io->preread = NULL;
        ws->io->preread_len = 0;
    }

    /* the socket may hold more; the read handler finalizes */
    ngx_kefu_ws_read_handler(c->read);
}


/*
 * Keep the bytes that came behind the handshake and what the access log
 * needs at the end (ngx_kefu_log.c), and give back everything the HTTP
 * request held: its pool, the header buffers.  What stays is the
 * connection's small pool with this structure.
 */

static void
ngx_kefu_ws_release_request(ngx_kefu_ws_t *ws, ngx_http_request_t *r)
{
    size_t                  n;
    ngx_buf_t              *b;
    ngx_chain_t            *cl;
    ngx_connection_t       *c;
    ngx_http_connection_t  *hc;

    c = r->connection;
    hc = r->http_connection;
    b = r->header_in;

    n = b->last - b->pos;

    if (n) {
        ws->io->preread = ngx_alloc(n, c->log);

        if (ws->io->preread == NULL) {
            ws->io->failed = 1;

        } else {
            ngx_memcpy(ws->io->preread, b->pos, n);
            ws->io->preread_len = n;
        }
    }

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;

    /* the access log line is written when the session ends */
    ws->io->handlers->taken(ws, r);

    ngx_http_free_request(r, 0);

    /* ngx_http_free_request() marks it for the HTTP core; we go on */
    c->destroyed = 0;

    if (c->buffer) {
        (void) ngx_pfree(c->pool, c->buffer->start);
        c->buffer = NULL;
    }

    for (cl = hc->busy; cl; cl = cl->next) {
        (void) ngx_pfree(c->pool, cl->buf->start);
    }

    for (cl = hc->free; cl; cl = cl->next) {
        (void) ngx_pfree(c->pool, cl->buf->start);
    }

    hc->busy = NULL;
    hc->free = NULL;
    hc->nbusy = 0;
}


static void
ngx_kefu_ws_read_handler(ngx_event_t *rev)
{
    size_t             consumed;
    ssize_t            n;
    u_char            *buf;
    ngx_kefu_ws_t     *ws;
    ngx_connection_t  *c;

    c = rev->data;
    ws = c->data;

    if (c->close) {
        /* worker shutdown: first a close frame, on the second call drop */
        c->close = 0;

        if (ws->io->close_sent) {
            ws->io->failed = 1;

        } else {
            ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_GOING_AWAY,
                             "server shutting down");
            ngx_kefu_ws_flush(ws);
        }

        ngx_kefu_ws_finalize(ws);
        return;
    }

    if (rev->timedout) {
        rev->timedout = 0;
        ngx_kefu_ws_heartbeat(ws);

        /* input may be waiting too: with edge-triggered events it must be
         * read now, there will be no second notification */
    }

    if (ws->io->lingering) {
        ngx_kefu_ws_drain(ws);
        ngx_kefu_ws_finalize(ws);
        return;
    }

    buf = ws->main_conf->read_buffer;
    consumed = 0;

    while (!ws->io->failed && !ws->io->close_sent) {

        n = c->recv(c, buf, NGX_KEFU_READ_BUFFER_SIZE);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ws->io->failed = 1;
            }

            break;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                           "kefu websocket: client closed the connection");
            ws->io->failed = 1;
            break;
        }

        ws->io->last_in = ngx_current_msec;

        ngx_kefu_ws_process(ws, buf, buf + n);

        consumed += n;

        if (!rev->ready) {
            /* drained: the next edge brings us back */
            if (ngx_handle_read_event(rev, 0) != NGX_OK) {
                ws->io->failed = 1;
            }

            break;
        }

        if (consumed >= NGX_KEFU_READ_BUDGET) {
            /* let other connections of this worker run */
            ngx_post_event(rev, &ngx_posted_events);
            break;
        }
    }

    /* nothing can be written: the connection lasts while input is left */
    if (ws->io->write_failed && !rev->posted) {
        ws->io->failed = 1;
    }

    ngx_kefu_ws_finalize(ws);
}


static void
ngx_kefu_ws_write_handler(ngx_event_t *wev)
{
    ngx_kefu_ws_t     *ws;
    ngx_connection_t  *c;

    c = wev->data;
    ws = c->data;

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_INFO, c->log, NGX_ETIMEDOUT,
                      "kefu: client timed out reading");
        c->timedout = 1;
        ws->io->failed = 1;
        ngx_kefu_ws_finalize(ws);
        return;
    }

    ngx_kefu_ws_flush(ws);
    ngx_kefu_ws_finalize(ws);
}


/* feed received bytes through the frame parser */

static void
ngx_kefu_ws_process(ngx_kefu_ws_t *ws, u_char *p, u_char *last)
{
    ngx_kefu_ws_parse(ws, p, last);

    /* no more input is read once closing: what was buffered can go */
    if (ws->io->close_sent || ws->io->failed) {
        ngx_kefu_ws_free_input(ws);
    }
}


static void
ngx_kefu_ws_parse(ngx_kefu_ws_t *ws, u_char *p, u_char *last)
{
    size_t             n;
    ngx_int_t          rc;
    const char        *reason;
    ngx_kefu_frame_t  *f;

    f = &ws->io->frame;

    while (p < last && !ws->io->failed && !ws->io->close_sent) {

        if (!f->in_payload) {
            rc = ngx_kefu_ws_parse_header(f, &p, last, &reason);

            if (rc == NGX_AGAIN) {
                return;
            }

            if (rc != NGX_OK) {
                ngx_kefu_stat_inc(ws->main_conf, protocol_errors);
                ngx_kefu_ws_fail(ws, rc, reason);
                return;
            }

            if (ngx_kefu_ws_frame_start(ws) != NGX_OK) {
                return;
            }

            if (f->remaining == 0) {
                ngx_kefu_ws_frame_end(ws);
                continue;
            }

            if (p == last) {
                return;
            }
        }

        n = last - p;

        if ((uint64_t) n > f->remaining) {
            n = (size_t) f->remaining;
        }

        if (f->opcode & 0x8) {
            ngx_kefu_ws_unmask(f, ws->io->ctl + ws->io->ctl_len, p, n);
            ws->io->ctl_len += n;

        } else {
            ngx_kefu_ws_unmask(f, ws->io->msg + ws->io->msg_len, p, n);

            /* fail fast: a bad sequence is refused at its first byte */
            ws->io->utf8_state = ngx_kefu_utf8_validate(ws->io->utf8_state,
                                                        ws->io->msg
                                                        + ws->io->msg_len,
                                                        n);
            ws->io->msg_len += n;

            if (ws->io->utf8_state == NGX_KEFU_UTF8_REJECT) {
                ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_BAD_DATA,
                                 "invalid UTF-8 in text message");
                return;
            }
        }

        p += n;
        f->remaining -= n;

        if (f->remaining == 0) {
            ngx_kefu_ws_frame_end(ws);
        }
    }
}


/* state rules for a frame whose header just completed; allocates its room */

static ngx_int_t
ngx_kefu_ws_frame_start(ngx_kefu_ws_t *ws)
{
    size_t             size, max;
    u_char            *msg;
    ngx_kefu_frame_t  *f;

    f = &ws->io->frame;

    if (f->opcode & 0x8) {
        ws->io->ctl_len = 0;

        if (f->remaining && ws->io->ctl == NULL) {
            ws->io->ctl = ngx_alloc(NGX_KEFU_MAX_CONTROL, ws->connection->log);
            if (ws->io->ctl == NULL) {
                ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_INTERNAL, "out of memory");
                return NGX_ERROR;
            }
        }

        return NGX_OK;
    }

    if (f->opcode == NGX_KEFU_OP_CONT) {
        if (!ws->io->in_message) {
            ngx_kefu_stat_inc(ws->main_conf, protocol_errors);
            ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_PROTOCOL,
                             "continuation frame without a message");
            return NGX_ERROR;
        }

    } else {
        if (ws->io->in_message) {
            ngx_kefu_stat_inc(ws->main_conf, protocol_errors);
            ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_PROTOCOL,
                             "new message inside a fragmented one");
            return NGX_ERROR;
        }

        if (f->opcode == NGX_KEFU_OP_BINARY) {
            ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_UNSUPPORTED,
                             "binary messages are not accepted");
            return NGX_ERROR;
        }

        ws->io->in_message = 1;
        ws->io->msg_len = 0;
        ws->io->utf8_state = NGX_KEFU_UTF8_ACCEPT;
    }

    max = ws->conf->max_message_size;

    /* refused on the header: no byte of an oversized frame is buffered */
    if (f->remaining > (uint64_t) (max - ws->io->msg_len)) {
        ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_TOO_BIG, "message too big");
        return NGX_ERROR;
    }

    size = ws->io->msg_len + (size_t) f->remaining;

    if (size > ws->io->msg_size) {

        /* fragments grow the buffer geometrically, within the limit */
        if (ws->io->msg_size && size < 2 * ws->io->msg_size) {
            size = ngx_min(2 * ws->io->msg_size, max);
        }

        msg = ngx_alloc(size, ws->connection->log);
        if (msg == NULL) {
            ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_INTERNAL, "out of memory");
            return NGX_ERROR;
        }

        if (ws->io->msg) {
            ngx_memcpy(msg, ws->io->msg, ws->io->msg_len);
            ngx_free(ws->io->msg);
        }

        ws->io->msg = msg;
        ws->io->msg_size = size;
    }

    return NGX_OK;
}


static void
ngx_kefu_ws_frame_end(ngx_kefu_ws_t *ws)
{
    ngx_kefu_frame_t  *f;

    f = &ws->io->frame;

    ngx_kefu_stat_inc(ws->main_conf, frames_in);

    f->have = 0;
    f->need = 2;
    f->in_payload = 0;

    if (f->opcode & 0x8) {
        ngx_kefu_ws_control(ws);
        return;
    }

    if (!f->fin) {
        return;
    }

    ws->io->in_message = 0;

    if (ws->io->utf8_state != NGX_KEFU_UTF8_ACCEPT) {
        ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_BAD_DATA,
                         "truncated UTF-8 in text message");
        return;
    }

    ws->messages_in++;
    ngx_kefu_stat_inc(ws->main_conf, messages_in);

    ws->io->handlers->message(ws, ws->io->msg, ws->io->msg_len);

    /* an idle connection keeps no message buffer */
    if (ws->io->msg) {
        ngx_free(ws->io->msg);
        ws->io->msg = NULL;
    }

    ws->io->msg_len = 0;
    ws->io->msg_size = 0;
}


static void
ngx_kefu_ws_control(ngx_kefu_ws_t *ws)
{
    u_char      code[2];
    ngx_uint_t  bad;

    switch (ws->io->frame.opcode) {

    case NGX_KEFU_OP_PING:
        (void) ngx_kefu_ws_queue(ws, NGX_KEFU_OP_PONG, ws->io->ctl,
                                 ws->io->ctl_len);
        break;

    case NGX_KEFU_OP_PONG:
        /* any bytes count as life; last_in is already updated */
        break;

    case NGX_KEFU_OP_CLOSE:
        ws->io->close_received = 1;

        bad = ngx_kefu_ws_check_close(ws->io->ctl, ws->io->ctl_len);

        if (bad) {
            ngx_kefu_stat_inc(ws->main_conf, protocol_errors);
            ngx_kefu_ws_fail(ws, bad, bad == NGX_KEFU_CLOSE_BAD_DATA
                                      ? "close reason is not valid UTF-8"
                                      : "invalid close frame");
            break;
        }

        /* echo the peer's status code (RFC 6455 section 5.5.1) */

        if (ws->io->ctl_len >= 2) {
            ngx_memcpy(code, ws->io->ctl, 2);
            ws->io->close_code = (code[0] << 8) | code[1];
            ngx_kefu_stat_close(ws->main_conf, ws->io->close_code);
            (void) ngx_kefu_ws_queue(ws, NGX_KEFU_OP_CLOSE, code, 2);

        } else {
            ws->io->close_code = NGX_KEFU_CLOSE_NO_STATUS;
            (void) ngx_kefu_ws_queue(ws, NGX_KEFU_OP_CLOSE, NULL, 0);
        }

        ws->io->close_sent = 1;
        break;
    }

    if (ws->io->ctl) {
        ngx_free(ws->io->ctl);
        ws->io->ctl = NULL;
    }

    ws->io->ctl_len = 0;
}


/*
 * Queues a close frame and stops reading application data.  The connection
 * is closed once the frame is out and the peer has finished (or the linger
 * timer fired); see ngx_kefu_ws_flush() and ngx_kefu_ws_linger().
 */

void
ngx_kefu_ws_fail(ngx_kefu_ws_t *ws, ngx_uint_t code, const char *reason)
{
    size_t   len;
    u_char   payload[NGX_KEFU_MAX_CONTROL];

    if (ws->io->close_sent || ws->io->failed) {
        return;
    }

    ngx_log_error(NGX_LOG_INFO, ws->connection->log, 0,
                  "kefu: closing websocket with %ui: %s", code, reason);

    if (ws->io->write_failed) {
        /* no close frame can go out: input stops here */
        ws->io->failed = 1;
        return;
    }

    len = ngx_min(ngx_strlen(reason), NGX_KEFU_MAX_CONTROL - 2);

    payload[0] = (u_char) (code >> 8);
    payload[1] = (u_char) code;
    ngx_memcpy(payload + 2, reason, len);

    ws->io->close_code = (uint16_t) code;
    ngx_kefu_stat_close(ws->main_conf, code);

    /* nothing goes out after the close frame */
    ngx_kefu_ws_free_held(ws);

    if (ngx_kefu_ws_queue(ws, NGX_KEFU_OP_CLOSE, payload, len + 2) != NGX_OK) {
        ws->io->failed = 1;
    }

    /* input buffers are released once processing stops, see process() */
    ws->io->close_sent = 1;
}


/*
 * Held output: text frames queued from now on wait in a list of their own
 * (hello holds the notices of the channels it subscribed to until welcome,
 * the answer to hello, is out: a client reads welcome first).  Released
 * with keep, they go behind the next text frame queued; without, they are
 * dropped.  They count against kefu_max_send_queue all the same.
 */

void
ngx_kefu_ws_hold(ngx_kefu_ws_t *ws)
{
    ws->io->holding = 1;
}


void
ngx_kefu_ws_release(ngx_kefu_ws_t *ws, ngx_uint_t keep)
{
    ws->io->holding = 0;

    if (!keep) {
        ngx_kefu_ws_free_held(ws);
        return;
    }

    ws->io->releasing = (ws->io->held != NULL);
}


static void
ngx_kefu_ws_free_held(ngx_kefu_ws_t *ws)
{
    ngx_kefu_out_t  *out, *next;

    for (out = ws->io->held; out; out = next) {
        next = out->next;
        ws->io->out_bytes -= out->len;
        ngx_free(out);
    }

    ws->io->held = NULL;
    ws->io->held_last = &ws->io->held;
    ws->io->releasing = 0;
}


ngx_int_t
ngx_kefu_ws_send_text(ngx_kefu_ws_t *ws, u_char *data, size_t len)
{
    if (ws->io->close_sent || ws->io->failed || ws->io->write_failed) {
        return NGX_DECLINED;
    }

    if (ngx_kefu_ws_queue(ws, NGX_KEFU_OP_TEXT, data, len) != NGX_OK) {
        return NGX_ERROR;
    }

    ws->messages_out++;
    ngx_kefu_stat_inc(ws->main_conf, messages_out);

    return NGX_OK;
}


/*
 * Appends one frame to the output queue and schedules a flush after the
 * current event, so that several frames produced together leave in one go.
 * The queue is bounded by kefu_max_send_queue: a client that does not read
 * is a slow consumer and is closed rather than allowed to grow memory.
 */

static ngx_int_t
ngx_kefu_ws_queue(ngx_kefu_ws_t *ws, ngx_uint_t opcode, u_char *data,
    size_t len)
{
    u_char          *p;
    size_t           size;
    ngx_uint_t       held;
    ngx_kefu_out_t  *out;

    if (ws->io->write_failed) {
        /* a pong, a ping, a close frame: the client is gone */
        return NGX_DECLINED;
    }

    size = ngx_kefu_ws_frame_header_size(len) + len;

    if (opcode != NGX_KEFU_OP_CLOSE
        && ws->io->out_bytes + size > ws->conf->max_send_queue)
    {
        /*
         * Output is flushed after the event, so a burst of requests can
         * fill the queue before the socket was even tried: only a client
         * whose socket takes no more is slow.
         */
        ngx_kefu_ws_flush(ws);

        if (ws->io->failed) {
            return NGX_ERROR;
        }

        if (ws->io->write_failed) {
            return NGX_DECLINED;
        }

        if (ws->io->out_bytes + size > ws->conf->max_send_queue) {
            ngx_kefu_ws_slow_consumer(ws);
            return NGX_ERROR;
        }
    }

    held = (opcode == NGX_KEFU_OP_TEXT && ws->io->holding);

    out = ngx_kefu_ws_alloc_out(ws, size, held);
    if (out == NULL) {
        ws->io->failed = 1;
        return NGX_ERROR;
    }

    p = ngx_kefu_ws_frame_header(out->data, opcode, len);

    if (len) {
        ngx_memcpy(p, data, len);
    }

    if (held) {
        return NGX_OK;
    }

    if (opcode == NGX_KEFU_OP_TEXT && ws->io->releasing) {
        /* what waited while held goes right behind this one */
        *ws->io->out_last = ws->io->held;
        ws->io->out_last = ws->io->held_last;
        ws->io->held = NULL;
        ws->io->held_last = &ws->io->held;
        ws->io->releasing = 0;
    }

    ngx_post_event(ws->connection->write, &ngx_posted_events);

    return NGX_OK;
}


/* a frame at the end of the send queue, or of the held frames */

static ngx_kefu_out_t *
ngx_kefu_ws_alloc_out(ngx_kefu_ws_t *ws, size_t size, ngx_uint_t held)
{
    ngx_kefu_out_t   *out, ***last;

    out = ngx_alloc(sizeof(ngx_kefu_out_t) + size, ws->connection->log);
    if (out == NULL) {
        return NULL;
    }

    out->next = NULL;
    out->len = size;
    out->sent = 0;

    last = held ? &ws->io->held_last : &ws->io->out_last;
    **last = out;
    *last = &out->next;
    ws->io->out_bytes += size;

    return out;
}


/*
 * Drops what the client has not started to receive, keeps a frame that is
 * half out (the stream must stay well-formed) and queues a close 1008.
 */

static void
ngx_kefu_ws_slow_consumer(ngx_kefu_ws_t *ws)
{
    ngx_kefu_out_t  *out, *next;

    ngx_kefu_stat_inc(ws->main_conf, slow_consumer_closes);

    ngx_log_error(NGX_LOG_WARN, ws->connection->log, 0,
                  "kefu: slow consumer, %uz bytes queued, closing",
                  ws->io->out_bytes);

    out = ws->io->out;

    if (out && out->sent) {
        ws->io->out_last = &out->next;
        out = out->next;

    } else {
        ws->io->out_last = &ws->io->out;
    }

    *ws->io->out_last = NULL;

    for ( /* void */ ; out; out = next) {
        next = out->next;
        ws->io->out_bytes -= out->len;
        ngx_free(out);
    }

    ngx_kefu_ws_free_held(ws);

    ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_POLICY, "slow consumer");
}


static void
ngx_kefu_ws_flush(ngx_kefu_ws_t *ws)
{
    ssize_t            n;
    ngx_uint_t         progress;
    ngx_event_t       *wev;
    ngx_kefu_out_t    *out;
    ngx_connection_t  *c;
    ngx_kefu_ws_handler_pt  h;

    c = ws->connection;
    wev = c->write;
    progress = 0;

    if (ws->io->failed || ws->io->write_failed) {
        return;
    }

    while (ws->io->out) {
        out = ws->io->out;

        n = c->send(c, out->data + out->sent, out->len - out->sent);

        if (n == NGX_ERROR) {
            ngx_kefu_ws_write_failed(ws);
            return;
        }

        if (n == NGX_AGAIN || n == 0) {
            break;
        }

        progress = 1;
        out->sent += n;

        if (out->sent < out->len) {
            continue;
        }

        ws->io->out = out->next;
        ws->io->out_bytes -= out->len;
        ngx_free(out);
    }

    /* whoever paused for this client (catch-ups) goes on */
    if (progress && ws->io->drained
        && ws->io->out_bytes <= ws->conf->max_send_queue / 4)
    {
        h = ws->io->drained;
        ws->io->drained = NULL;
        h(ws);
    }

    if (ws->io->out) {
        if (ngx_handle_write_event(wev, 0) != NGX_OK) {
            ws->io->failed = 1;
            return;
        }

        /* like send_timeout: the time allowed between two writes */
        if (progress || !wev->timer_set) {
            ngx_add_timer(wev, ws->conf->send_timeout);
        }

        return;
    }

    ws->io->out_last = &ws->io->out;

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    if (ws->io->close_sent && !ws->io->lingering) {
        ngx_kefu_ws_linger(ws);
    }
}


/*
 * A write failed: the client is gone, mostly by a reset (it closed with
 * output of ours unread).  What it sent before may still be in the socket
 * (or behind the handshake, or in the buffer being parsed), and a message
 * there has been sent by a client that has no ack for it: it is handled
 * like the input before a FIN, so the message is stored and the agent
 * sees it, though the ack is lost with the connection.  Nothing goes out
 * any more; the read handler reads until the socket is empty and then
 * closes (it is posted: a write can fail outside it).  Once our close
 * frame was queued input counts for nothing: the connection goes now.
 */

static void
ngx_kefu_ws_write_failed(ngx_kefu_ws_t *ws)
{
    ngx_kefu_out_t    *out, *next;
    ngx_connection_t  *c;

    c = ws->connection;

    for (out = ws->io->out; out; out = next) {
        next = out->next;
        ws->io->out_bytes -= out->len;
        ngx_free(out);
    }

    ws->io->out = NULL;
    ws->io->out_last = &ws->io->out;
    ngx_kefu_ws_free_held(ws);

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    if (ws->io->close_sent) {
        ws->io->failed = 1;
        return;
    }

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "kefu websocket: write failed, reading what is left");

    ws->io->write_failed = 1;

    /*
     * The input and the reset may have come after the event loop last
     * asked the kernel: since the last short read, nginx's recv() says
     * NGX_AGAIN without a call (EPOLLRDHUP's bookkeeping).  Marked as an
     * event report would, the socket is asked.
     */
    c->read->ready = 1;
    c->read->available = -1;

    ngx_post_event(c->read, &ngx_posted_events);
}


/*
 * Our close frame is out.  Shut down the write side and read until the
 * client closes too: closing with unread input would send a reset that can
 * destroy the close frame before the client reads it.
 */

static void
ngx_kefu_ws_linger(ngx_kefu_ws_t *ws)
{
    ngx_connection_t  *c;

    c = ws->connection;

    if (c->ssl || ngx_shutdown_socket(c->fd, NGX_WRITE_SHUTDOWN) == -1) {
        /* TLS ends with its own close_notify when the connection closes */
        ws->io->failed = 1;
        return;
    }

    ws->io->lingering = 1;
    ngx_add_timer(c->read, NGX_KEFU_LINGER_TIMEOUT);

    ngx_kefu_ws_drain(ws);
}


static void
ngx_kefu_ws_drain(ngx_kefu_ws_t *ws)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = ws->connection;

    for ( ;; ) {
        n = c->recv(c, ws->main_conf->read_buffer, NGX_KEFU_READ_BUFFER_SIZE);

        if (n == NGX_AGAIN) {
            if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
                ws->io->failed = 1;
            }

            return;
        }

        if (n == 0 || n == NGX_ERROR) {
            ws->io->failed = 1;
            return;
        }
    }
}


/*
 * The read timer serves as the heartbeat: it fires at the earliest of the
 * next ping, the idle deadline and the hello deadline, and is re-armed here
 * only, so traffic costs no timer operations.
 */

static void
ngx_kefu_ws_heartbeat(ngx_kefu_ws_t *ws)
{
    ngx_msec_t        now;
    ngx_kefu_loc_conf_t  *kcf;

    kcf = ws->conf;
    now = ngx_current_msec;

    if (ws->io->lingering) {
        ws->io->failed = 1;
        return;
    }

    if (ws->io->close_sent) {
        /* the write timer bounds how long the close frame may take */
        return;
    }

    if (!ws->hello_done && now - ws->start >= kcf->hello_timeout) {
        ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_UNAUTHORIZED, "hello timeout");
        return;
    }

    if (now - ws->io->last_in >= kcf->idle_timeout) {
        ngx_kefu_ws_fail(ws, NGX_KEFU_CLOSE_GOING_AWAY, "idle timeout");
        return;
    }

    if (now - ws->io->last_in >= kcf->ping_interval
        && now - ws->io->last_ping >= kcf->ping_interval)
    {
        ws->io->last_ping = now;
        (void) ngx_kefu_ws_queue(ws, NGX_KEFU_OP_PING, NULL, 0);
    }

    ngx_kefu_ws_arm_heartbeat(ws);
}


static void
ngx_kefu_ws_arm_heartbeat(ngx_kefu_ws_t *ws)
{
    ngx_msec_t            now, last;
    ngx_msec_int_t        next, t;
    ngx_kefu_loc_conf_t  *kcf;

    if (ws->io->close_sent || ws->io->failed) {
        return;
    }

    kcf = ws->conf;
    now = ngx_current_msec;

    next = (ngx_msec_int_t) (ws->io->last_in + kcf->idle_timeout - now);

    last = ngx_max(ws->io->last_in, ws->io->last_ping);
    t = (ngx_msec_int_t) (last + kcf->ping_interval - now);
    next = ngx_min(next, t);

    if (!ws->hello_done) {
        t = (ngx_msec_int_t) (ws->start + kcf->hello_timeout - now);
        next = ngx_min(next, t);
    }

    ngx_add_timer(ws->connection->read, (ngx_msec_t) ngx_max(next, 1));
}


static void
ngx_kefu_ws_free_input(ngx_kefu_ws_t *ws)
{
    if (ws->io->msg) {
        ngx_free(ws->io->msg);
        ws->io->msg = NULL;
    }

    ws->io->msg_len = 0;
    ws->io->msg_size = 0;

    if (ws->io->ctl) {
        ngx_free(ws->io->ctl);
        ws->io->ctl = NULL;
    }
}


static void
ngx_kefu_ws_finalize(ngx_kefu_ws_t *ws)
{
    ngx_kefu_out_t    *out, *next;
    ngx_connection_t  *c;

    if (!ws->io->failed) {
        return;
    }

    c = ws->connection;

    ngx_log_debug1(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "kefu websocket closed, code %ui",
                   (ngx_uint_t) ws->io->close_code);

    ngx_kefu_ws_free_input(ws);

    if (ws->io->preread) {
        ngx_free(ws->io->preread);
        ws->io->preread = NULL;
    }

    for (out = ws->io->out; out; out = next) {
        next = out->next;
        ngx_free(out);
    }

    ws->io->out = NULL;
    ngx_kefu_ws_free_held(ws);
    ngx_kefu_stat_dec(ws->main_conf, connections);

    /* the session's parts let go: presence, welcome, index, zone, log */
    ws->io->handlers->closed(ws);

    ngx_http_close_connection(c);
}
