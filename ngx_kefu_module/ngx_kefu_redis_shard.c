
/*
 * Sharded pub/sub (Redis 7, cluster): one link per master, SSUBSCRIBE to
 * the channels whose slot it serves; a message is published (SPUBLISH)
 * and heard on its channel's shard only.
 *
 * hiredis 0.14's asynchronous API knows SUBSCRIBE but not SSUBSCRIBE: an
 * "smessage" push finds no pending callback and hits an assertion.  So
 * this link is an nginx connection of its own (ngx_event_connect_peer)
 * that formats commands with redisFormatCommandArgv() and parses replies
 * with hiredis's redisReader, nothing more.
 *
 * - Handshake: AUTH as configured, then PING; "+PONG" makes it ready and
 *   every channel of its shard is subscribed.
 * - Health: every interval a PING (allowed on a subscribed connection,
 *   answered ["pong", ""], or +PONG while no channel is subscribed); none
 *   within "timeout" means a stalled link:
 *   it is dropped and reopened.
 * - What was published while a shard's link was down, or while a slot
 *   moved to another master (Redis then sends "sunsubscribe" for its
 *   channels), is lost to pub/sub: consumers hear "sub_lost" and every
 *   channel is subscribed again, so each confirmation starts its catch-up
 *   from the log.
 */


#include "ngx_kefu_redis_int.h"


#define NGX_KEFU_SHARD_OUT_MAX  (64 * 1024 * 1024)
#define NGX_KEFU_SHARD_READ     16384


static void ngx_kefu_redis_shard_retry(ngx_event_t *ev);
static void ngx_kefu_redis_shard_timer(ngx_event_t *ev);
static void ngx_kefu_redis_shard_read(ngx_event_t *ev);
static void ngx_kefu_redis_shard_write(ngx_event_t *ev);
static void ngx_kefu_redis_shard_down(ngx_kefu_redis_shard_t *sh,
    const char *why);
static ngx_int_t ngx_kefu_redis_shard_cmd(ngx_kefu_redis_shard_t *sh,
    const char *cmd, ngx_str_t *arg);
static ngx_int_t ngx_kefu_redis_shard_append(ngx_kefu_redis_shard_t *sh,
    int argc, const char **argv, const size_t *lens);
static void ngx_kefu_redis_shard_flush(ngx_kefu_redis_shard_t *sh);
static void ngx_kefu_redis_shard_reply(ngx_kefu_redis_shard_t *sh,
    redisReply *r);
static void ngx_kefu_redis_shard_status(ngx_kefu_redis_shard_t *sh,
    redisReply *r);
static void ngx_kefu_redis_shard_error(ngx_kefu_redis_shard_t *sh,
    redisReply *r);
static void ngx_kefu_redis_shard_push(ngx_kefu_redis_shard_t *sh,
    redisReply *r);
static void ngx_kefu_redis_shard_ready_link(ngx_kefu_redis_shard_t *sh);
static void ngx_kefu_redis_shard_resync(ngx_kefu_redis_t *rd);
static ngx_kefu_redis_channel_t *ngx_kefu_redis_shard_channel(
    ngx_kefu_redis_t *rd, ngx_str_t *name);


void
ngx_kefu_redis_shard_connect(ngx_kefu_redis_node_t *node)
{
    size_t                   lens[3];
    ngx_int_t                rc;
    ngx_uint_t               n;
    const char              *argv[3];
    ngx_kefu_redis_t        *rd;
    ngx_connection_t        *c;
    ngx_peer_connection_t    pc;
    ngx_kefu_redis_conf_t   *conf;
    ngx_kefu_redis_shard_t  *sh;

    rd = node->rd;
    sh = &node->sub;
    conf = rd->conf;

    if (sh->retry.handler == NULL) {
        sh->retry.handler = ngx_kefu_redis_shard_retry;
        sh->retry.data = sh;
        sh->retry.log = rd->log;
        sh->retry.cancelable = 1;

        sh->timer.handler = ngx_kefu_redis_shard_timer;
        sh->timer.data = sh;
        sh->timer.log = rd->log;
        sh->timer.cancelable = 1;
    }

    if (sh->c || sh->retry.timer_set || rd->exiting || ngx_exiting
        || ngx_quit || ngx_terminate)
    {
        return;
    }

    ngx_memzero(&pc, sizeof(ngx_peer_connection_t));

    pc.sockaddr = &node->sockaddr.sockaddr;
    pc.socklen = node->socklen;
    sh->name.data = node->name;
    sh->name.len = ngx_strlen(node->name);
    pc.name = &sh->name;
    pc.get = ngx_event_get_peer;
    pc.log = rd->log;
    pc.log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(&pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        /* ngx_event_connect_peer() closed what it opened */
        ngx_kefu_redis_shard_down(sh, "connect failed");
        return;
    }

    c = pc.connection;
    c->data = sh;
    c->read->handler = ngx_kefu_redis_shard_read;
    c->write->handler = ngx_kefu_redis_shard_write;

    sh->c = c;
    sh->reader = redisReaderCreate();

    if (sh->reader == NULL) {
        ngx_kefu_redis_shard_down(sh, "out of memory");
        return;
    }

    sh->state = NGX_KEFU_LINK_CONNECTING;
    sh->pinging = 0;

    if (conf->password.len) {
        n = 0;
        argv[n] = "AUTH";
        lens[n++] = 4;

        if (conf->user.len) {
            argv[n] = (char *) conf->user.data;
            lens[n++] = conf->user.len;
        }

        argv[n] = (char *) conf->password.data;
        lens[n++] = conf->password.len;

        if (ngx_kefu_redis_shard_append(sh, n, argv, lens) != NGX_OK) {
            ngx_kefu_redis_shard_down(sh, "out of memory");
            return;
        }
    }

    if (ngx_kefu_redis_shard_cmd(sh, "PING", NULL) != NGX_OK) {
        ngx_kefu_redis_shard_down(sh, "out of memory");
        return;
    }

    ngx_add_timer(&sh->timer, conf->connect_timeout);

    if (rc == NGX_OK) {
        ngx_kefu_redis_shard_write(c->write);
    }
}


/* at exit or when its node serves no slots: closed; retry: reopened */

void
ngx_kefu_redis_shard_close(ngx_kefu_redis_node_t *node, ngx_uint_t retry)
{
    ngx_kefu_redis_shard_t  *sh = &node->sub;

    if (!retry && sh->retry.timer_set) {
        ngx_del_timer(&sh->retry);
    }

    if (sh->c == NULL) {
        return;
    }

    if (retry) {
        ngx_kefu_redis_shard_down(sh, "closed");
        return;
    }

    if (sh->timer.timer_set) {
        ngx_del_timer(&sh->timer);
    }

    ngx_close_connection(sh->c);
    sh->c = NULL;

    if (sh->reader) {
        redisReaderFree(sh->reader);
        sh->reader = NULL;
    }

    if (sh->out) {
        ngx_free(sh->out);
        sh->out = NULL;
        sh->out_size = 0;
    }

    sh->out_pos = 0;
    sh->out_len = 0;
    sh->state = NGX_KEFU_LINK_DOWN;
}


static void
ngx_kefu_redis_shard_retry(ngx_event_t *ev)
{
    ngx_kefu_redis_shard_t  *sh = ev->data;

    if (sh->node->owned) {
        ngx_kefu_redis_shard_connect(sh->node);
    }
}


/* the connect, or a PING's pong, took too long */

static void
ngx_kefu_redis_shard_timer(ngx_event_t *ev)
{
    ngx_kefu_redis_shard_t  *sh = ev->data;

    if (sh->state == NGX_KEFU_LINK_READY) {
        ngx_kefu_stat_inc(sh->node->rd->kmcf, redis_pubsub_stalls);
        ngx_kefu_redis_shard_down(sh, "stalled: no pong within timeout");
        return;
    }

    ngx_kefu_redis_shard_down(sh, "timed out");
}


static void
ngx_kefu_redis_shard_down(ngx_kefu_redis_shard_t *sh, const char *why)
{
    ngx_uint_t         was, level;
    ngx_kefu_redis_t  *rd;

    rd = sh->node->rd;
    was = sh->state;

    /* a slot that moved is a topology change, not a fault */
    level = (ngx_strcmp(why, "moved") == 0) ? NGX_LOG_WARN : NGX_LOG_ERR;

    if (sh->c) {
        ngx_close_connection(sh->c);
        sh->c = NULL;
    }

    if (sh->reader) {
        redisReaderFree(sh->reader);
        sh->reader = NULL;
    }

    if (sh->timer.timer_set) {
        ngx_del_timer(&sh->timer);
    }

    sh->out_pos = 0;
    sh->out_len = 0;
    sh->state = NGX_KEFU_LINK_DOWN;
    sh->pinging = 0;

    if (rd->exiting) {
        return;
    }

    ngx_kefu_stat_redis_link(rd->kmcf, 1, 0);

    if (was == NGX_KEFU_LINK_READY) {
        rd->reconnects++;
        ngx_kefu_stat_inc(rd->kmcf, redis_reconnects);
        ngx_log_error(level, rd->log, 0,
                      "kefu: redis %s sharded pub/sub connection down (%s)",
                      sh->node->name, why);

        ngx_kefu_redis_shard_resync(rd);

    } else if (sh->failures++ == 0) {
        ngx_log_error(level, rd->log, 0,
                      "kefu: redis %s sharded pub/sub not available (%s)",
                      sh->node->name, why);
    }

    if (!sh->node->owned || ngx_exiting || ngx_quit || ngx_terminate) {
        return;
    }

    sh->backoff = sh->backoff ? ngx_min(sh->backoff * 2,
                                        NGX_KEFU_REDIS_BACKOFF_MAX)
                              : NGX_KEFU_REDIS_BACKOFF_MIN;

    if (!sh->retry.timer_set) {
        ngx_add_timer(&sh->retry,
                      sh->backoff / 2 + ngx_random() % (sh->backoff / 2 + 1));
    }
}


static void
ngx_kefu_redis_shard_write(ngx_event_t *ev)
{
    int                      err;
    socklen_t                len;
    ngx_connection_t        *c = ev->data;
    ngx_kefu_redis_shard_t  *sh = c->data;

    if (sh->state == NGX_KEFU_LINK_CONNECTING) {
        err = 0;
        len = sizeof(int);

        if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1
            || err)
        {
            ngx_kefu_redis_shard_down(sh, "connect failed");
            return;
        }

        sh->state = NGX_KEFU_LINK_HANDSHAKE;
    }

    ngx_kefu_redis_shard_flush(sh);
}


static void
ngx_kefu_redis_shard_flush(ngx_kefu_redis_shard_t *sh)
{
    ssize_t            n;
    ngx_connection_t  *c;

    c = sh->c;

    if (c == NULL || sh->state == NGX_KEFU_LINK_CONNECTING) {
        return;
    }

    while (sh->out_pos < sh->out_len) {
        n = c->send(c, sh->out + sh->out_pos, sh->out_len - sh->out_pos);

        if (n == NGX_AGAIN) {
            (void) ngx_handle_write_event(c->write, 0);
            return;
        }

        if (n == NGX_ERROR) {
            ngx_kefu_redis_shard_down(sh, "write failed");
            return;
        }

        sh->out_pos += n;
    }

    sh->out_pos = 0;
    sh->out_len = 0;
}


static void
ngx_kefu_redis_shard_read(ngx_event_t *ev)
{
    void                    *reply;
    ssize_t                  n;
    ngx_connection_t        *c = ev->data;
    ngx_kefu_redis_shard_t  *sh = c->data;
    u_char                   buf[NGX_KEFU_SHARD_READ];

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            (void) ngx_handle_read_event(c->read, 0);
            return;
        }

        if (n == 0 || n == NGX_ERROR) {
            ngx_kefu_redis_shard_down(sh, n ? "read failed"
                                            : "connection closed");
            return;
        }

        if (redisReaderFeed(sh->reader, (char *) buf, n) != REDIS_OK) {
            ngx_kefu_redis_shard_down(sh, "out of memory");
            return;
        }

        for ( ;; ) {
            reply = NULL;

            if (redisReaderGetReply(sh->reader, &reply) != REDIS_OK) {
                ngx_kefu_redis_shard_down(sh, "protocol error");
                return;
            }

            if (reply == NULL) {
                break;
            }

            ngx_kefu_redis_shard_reply(sh, reply);
            freeReplyObject(reply);

            if (sh->c != c) {
                /* closed by what the reply caused */
                return;
            }
        }
    }
}


/* the health check answered: the link is alive */
static void
ngx_kefu_redis_shard_ponged(ngx_kefu_redis_shard_t *sh)
{
    sh->pinging = 0;

    if (sh->timer.timer_set) {
        ngx_del_timer(&sh->timer);
    }
}


static void
ngx_kefu_redis_shard_reply(ngx_kefu_redis_shard_t *sh, redisReply *r)
{
    switch (r->type) {

    case REDIS_REPLY_STATUS:
        ngx_kefu_redis_shard_status(sh, r);
        return;

    case REDIS_REPLY_ERROR:
        ngx_kefu_redis_shard_error(sh, r);
        return;

    case REDIS_REPLY_ARRAY:
        ngx_kefu_redis_shard_push(sh, r);
        return;

    default:
        return;
    }
}


static void
ngx_kefu_redis_shard_status(ngx_kefu_redis_shard_t *sh, redisReply *r)
{
    if (r->len == 4 && ngx_strncmp(r->str, "PONG", 4) == 0) {
        if (sh->state == NGX_KEFU_LINK_HANDSHAKE) {
            ngx_kefu_redis_shard_ready_link(sh);
            return;
        }

        /*
         * the health check's answer on a link with no channel
         * subscribed (a master none of this worker's channels hash
         * to): Redis answers +PONG there, ["pong", ""] only once
         * subscribed
         */
        ngx_kefu_redis_shard_ponged(sh);
    }

    /* +OK: AUTH */
}


static void
ngx_kefu_redis_shard_error(ngx_kefu_redis_shard_t *sh, redisReply *r)
{
    ngx_kefu_redis_t  *rd;

    rd = sh->node->rd;

    /*
     * A channel's slot moved (a resharding): not a fault; the link is
     * made again and its channels subscribed where they are now
     */
    if (ngx_strncmp(r->str, "MOVED ", 6) == 0
        || ngx_strncmp(r->str, "ASK ", 4) == 0)
    {
        ngx_log_error(NGX_LOG_WARN, rd->log, 0,
                      "kefu: redis %s sharded pub/sub: %s, following",
                      sh->node->name, r->str);

        /*
         * the map that sent it here is stale (one asked while the
         * cluster's nodes still learned of the move): ask again, or
         * nothing else may until a command meets a MOVED of its own
         */
        ngx_kefu_redis_cluster_refresh(rd);
        ngx_kefu_redis_shard_down(sh, "moved");
        return;
    }

    ngx_log_error(NGX_LOG_ERR, rd->log, 0,
                  "kefu: redis %s sharded pub/sub refused: %s",
                  sh->node->name, r->str);
    ngx_kefu_redis_shard_down(sh, "refused");
}


/* what the link pushes: pong, smessage, ssubscribe, sunsubscribe */

static void
ngx_kefu_redis_shard_push(ngx_kefu_redis_shard_t *sh, redisReply *r)
{
    ngx_str_t                  kind, channel, payload;
    ngx_kefu_redis_t          *rd;
    ngx_kefu_redis_channel_t  *ch;

    rd = sh->node->rd;

    if (r->elements < 2 || r->element[0]->type != REDIS_REPLY_STRING) {
        return;
    }

    kind.data = (u_char *) r->element[0]->str;
    kind.len = r->element[0]->len;

    if (kind.len == 4 && ngx_strncmp(kind.data, "pong", 4) == 0) {
        ngx_kefu_redis_shard_ponged(sh);
        return;
    }

    if (r->element[1]->type != REDIS_REPLY_STRING) {
        return;
    }

    channel.data = (u_char *) r->element[1]->str;
    channel.len = r->element[1]->len;

    if (kind.len == 8 && ngx_strncmp(kind.data, "smessage", 8) == 0) {
        if (r->elements >= 3 && r->element[2]->type == REDIS_REPLY_STRING) {
            payload.data = (u_char *) r->element[2]->str;
            payload.len = r->element[2]->len;
            ngx_kefu_redis_tell_message(rd, &channel, &payload);
        }

        return;
    }

    ch = ngx_kefu_redis_shard_channel(rd, &channel);

    if (ch == NULL || ch->node != (ngx_int_t) sh->node->index) {
        /* one given up, or moved on: not ours to report */
        return;
    }

    if (kind.len == 10 && ngx_strncmp(kind.data, "ssubscribe", 10) == 0) {
        ngx_kefu_redis_tell_subscribed(rd, &channel);
        return;
    }

    if (kind.len == 12 && ngx_strncmp(kind.data, "sunsubscribe", 12) == 0) {
        /* Redis let it go: its slot moved to another master */
        ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                      "kefu: redis %s dropped channel \"%V\" (slot "
                      "moved), subscribing again", sh->node->name, &channel);

        ch->node = -1;
        ngx_kefu_redis_cluster_refresh(rd);
        ngx_kefu_redis_shard_resync(rd);
    }
}


static void
ngx_kefu_redis_shard_ready_link(ngx_kefu_redis_shard_t *sh)
{
    ngx_rbtree_node_t         *n, *root, *sentinel;
    ngx_kefu_redis_t          *rd;
    ngx_kefu_redis_channel_t  *ch;

    rd = sh->node->rd;

    sh->state = NGX_KEFU_LINK_READY;
    sh->failures = 0;
    sh->backoff = 0;

    if (sh->timer.timer_set) {
        ngx_del_timer(&sh->timer);
    }

    ngx_log_error(NGX_LOG_NOTICE, rd->log, 0,
                  "kefu: redis %s sharded pub/sub connection ready",
                  sh->node->name);

    root = rd->channels.root;
    sentinel = rd->channels.sentinel;

    if (root != sentinel) {
        for (n = ngx_rbtree_min(root, sentinel);
             n;
             n = ngx_rbtree_next(&rd->channels, n))
        {
            ch = (ngx_kefu_redis_channel_t *) n;

            if (ch->node == -1
                && rd->slots[ch->slot] == sh->node->index + 1)
            {
                ch->node = sh->node->index;
                (void) ngx_kefu_redis_shard_cmd(sh, "SSUBSCRIBE",
                                                &ch->sn.str);
            }
        }
    }

    ngx_kefu_redis_shard_flush(sh);

    ngx_kefu_stat_redis_link(rd->kmcf, 1, ngx_kefu_redis_shard_ready(rd));

    /* notices of changes may have been missed while it was down */
    ngx_kefu_redis_tell(rd, NGX_KEFU_REDIS_SUB_READY);
}


/* every master's sharded link up */

ngx_uint_t
ngx_kefu_redis_shard_ready(ngx_kefu_redis_t *rd)
{
    ngx_uint_t  i;

    if (!rd->map_known) {
        return 0;
    }

    for (i = 0; i < rd->nnodes; i++) {
        if (rd->nodes[i]->owned
            && rd->nodes[i]->sub.state != NGX_KEFU_LINK_READY)
        {
            return 0;
        }
    }

    return 1;
}


void
ngx_kefu_redis_shard_subscribe(ngx_kefu_redis_t *rd,
    ngx_kefu_redis_channel_t *ch)
{
    ngx_uint_t               n;
    ngx_kefu_redis_shard_t  *sh;

    if (!rd->map_known) {
        return;
    }

    n = rd->slots[ch->slot];

    if (n == 0) {
        return;
    }

    sh = &rd->nodes[n - 1]->sub;

    if (sh->state != NGX_KEFU_LINK_READY) {
        /* subscribed when that link is ready */
        return;
    }

    ch->node = n - 1;

    if (ngx_kefu_redis_shard_cmd(sh, "SSUBSCRIBE", &ch->sn.str) == NGX_OK) {
        ngx_kefu_redis_shard_flush(sh);
    }
}


void
ngx_kefu_redis_shard_unsubscribe(ngx_kefu_redis_t *rd,
    ngx_kefu_redis_channel_t *ch)
{
    ngx_kefu_redis_shard_t  *sh;

    if (ch->node < 0) {
        return;
    }

    sh = &rd->nodes[ch->node]->sub;
    ch->node = -1;

    if (sh->state == NGX_KEFU_LINK_READY
        && ngx_kefu_redis_shard_cmd(sh, "SUNSUBSCRIBE", &ch->sn.str)
           == NGX_OK)
    {
        ngx_kefu_redis_shard_flush(sh);
    }
}


/*
 * The map changed: a channel whose slot has another master now is
 * subscribed there (and let go where it was); what was published in
 * between is caught up from the log.
 */

void
ngx_kefu_redis_shard_remap(ngx_kefu_redis_t *rd)
{
    ngx_uint_t                 moved;
    ngx_rbtree_node_t         *n, *root, *sentinel;
    ngx_kefu_redis_channel_t  *ch;

    root = rd->channels.root;
    sentinel = rd->channels.sentinel;

    if (root == sentinel) {
        return;
    }

    moved = 0;

    for (n = ngx_rbtree_min(root, sentinel);
         n;
         n = ngx_rbtree_next(&rd->channels, n))
    {
        ch = (ngx_kefu_redis_channel_t *) n;

        if (ch->node >= 0 && rd->slots[ch->slot] != ch->node + 1) {
            ngx_kefu_redis_shard_unsubscribe(rd, ch);
            moved++;
        }
    }

    if (moved) {
        ngx_kefu_redis_shard_resync(rd);
        return;
    }

    /* channels waiting for a map or a link */
    for (n = ngx_rbtree_min(root, sentinel);
         n;
         n = ngx_rbtree_next(&rd->channels, n))
    {
        ch = (ngx_kefu_redis_channel_t *) n;

        if (ch->node == -1) {
            ngx_kefu_redis_shard_subscribe(rd, ch);
        }
    }
}


/*
 * Messages may have been lost on some shard: consumers hear so, then every
 * channel is subscribed (again) where its shard's link is up, and each
 * confirmation starts that channel's catch-up.
 */

static void
ngx_kefu_redis_shard_resync(ngx_kefu_redis_t *rd)
{
    ngx_uint_t                 i;
    ngx_rbtree_node_t         *n, *root, *sentinel;
    ngx_kefu_redis_shard_t    *sh;
    ngx_kefu_redis_channel_t  *ch;

    ngx_kefu_redis_tell(rd, NGX_KEFU_REDIS_SUB_LOST);

    root = rd->channels.root;
    sentinel = rd->channels.sentinel;

    if (root == sentinel || !rd->map_known) {
        return;
    }

    for (n = ngx_rbtree_min(root, sentinel);
         n;
         n = ngx_rbtree_next(&rd->channels, n))
    {
        ch = (ngx_kefu_redis_channel_t *) n;

        if (ch->node >= 0
            && rd->nodes[ch->node]->sub.state != NGX_KEFU_LINK_READY)
        {
            ch->node = -1;
        }

        i = rd->slots[ch->slot];

        if (i == 0) {
            continue;
        }

        sh = &rd->nodes[i - 1]->sub;

        if (sh->state == NGX_KEFU_LINK_READY) {
            ch->node = i - 1;
            (void) ngx_kefu_redis_shard_cmd(sh, "SSUBSCRIBE", &ch->sn.str);
        }
    }

    for (i = 0; i < rd->nnodes; i++) {
        ngx_kefu_redis_shard_flush(&rd->nodes[i]->sub);
    }
}


/* the health check: a PING on each ready shard link, a pong expected */

void
ngx_kefu_redis_shard_ping(ngx_kefu_redis_t *rd)
{
    ngx_uint_t               i;
    ngx_kefu_redis_shard_t  *sh;

    for (i = 0; i < rd->nnodes; i++) {
        sh = &rd->nodes[i]->sub;

        if (sh->state != NGX_KEFU_LINK_READY || sh->pinging) {
            continue;
        }

        if (ngx_kefu_redis_shard_cmd(sh, "PING", NULL) == NGX_OK) {
            sh->pinging = 1;
            ngx_add_timer(&sh->timer, rd->conf->timeout);
            ngx_kefu_redis_shard_flush(sh);
        }
    }
}


static ngx_int_t
ngx_kefu_redis_shard_cmd(ngx_kefu_redis_shard_t *sh, const char *cmd,
    ngx_str_t *arg)
{
    size_t       lens[2];
    const char  *argv[2];

    argv[0] = cmd;
    lens[0] = ngx_strlen(cmd);

    if (arg) {
        argv[1] = (char *) arg->data;
        lens[1] = arg->len;
    }

    return ngx_kefu_redis_shard_append(sh, arg ? 2 : 1, argv, lens);
}


/* commands wait in one growing buffer until the socket takes them */

static ngx_int_t
ngx_kefu_redis_shard_append(ngx_kefu_redis_shard_t *sh, int argc,
    const char **argv, const size_t *lens)
{
    int      len;
    char    *cmd;
    size_t   size;
    u_char  *p;

    if (sh->c == NULL) {
        return NGX_DECLINED;
    }

    cmd = NULL;
    len = redisFormatCommandArgv(&cmd, argc, argv, lens);

    if (len < 0) {
        return NGX_ERROR;
    }

    if (sh->out_len + len > sh->out_size) {
        size = ngx_max(sh->out_size * 2, sh->out_len - sh->out_pos + len);
        size = ngx_max(size, 4096);

        if (size > NGX_KEFU_SHARD_OUT_MAX) {
            redisFreeCommand(cmd);
            ngx_log_error(NGX_LOG_ERR, sh->node->rd->log, 0,
                          "kefu: redis %s sharded pub/sub: output over "
                          "%d bytes", sh->node->name, NGX_KEFU_SHARD_OUT_MAX);
            return NGX_ERROR;
        }

        p = ngx_alloc(size, sh->node->rd->log);
        if (p == NULL) {
            redisFreeCommand(cmd);
            return NGX_ERROR;
        }

        if (sh->out) {
            ngx_memcpy(p, sh->out + sh->out_pos, sh->out_len - sh->out_pos);
            ngx_free(sh->out);
        }

        sh->out = p;
        sh->out_len -= sh->out_pos;
        sh->out_pos = 0;
        sh->out_size = size;
    }

    ngx_memcpy(sh->out + sh->out_len, cmd, len);
    sh->out_len += len;

    redisFreeCommand(cmd);

    return NGX_OK;
}


static ngx_kefu_redis_channel_t *
ngx_kefu_redis_shard_channel(ngx_kefu_redis_t *rd, ngx_str_t *name)
{
    return (ngx_kefu_redis_channel_t *)
               ngx_str_rbtree_lookup(&rd->channels, name,
                                     ngx_crc32_short(name->data, name->len));
}
