
/*
 * hiredis on nginx's events, for every hiredis connection of the module
 * (the Redis links, ngx_kefu_redis.c; the Sentinel client,
 * ngx_kefu_redis_sentinel.c).  The socket gets an nginx connection whose
 * data is the hiredis context; hiredis's hooks add and delete its
 * level-triggered read and write events (their privdata is that
 * connection).  When hiredis frees the context it calls the owner's
 * cleanup, which gives the nginx side back with ngx_kefu_redis_ev_detach()
 * first.  The context's own data stays the owner's.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_redis.h"


static void ngx_kefu_redis_ev_read(ngx_event_t *ev);
static void ngx_kefu_redis_ev_write(ngx_event_t *ev);
static void ngx_kefu_redis_ev_set(ngx_connection_t *c, ngx_uint_t write,
    ngx_uint_t on);
static void ngx_kefu_redis_ev_add_read(void *privdata);
static void ngx_kefu_redis_ev_del_read(void *privdata);
static void ngx_kefu_redis_ev_add_write(void *privdata);
static void ngx_kefu_redis_ev_del_write(void *privdata);


/*
 * A context just connecting: its events from now on, starting with the
 * write event (a connect completes with the socket becoming writable).
 * NULL: no free connection, nothing changed.
 */

ngx_connection_t *
ngx_kefu_redis_ev_attach(redisAsyncContext *ac, void *owner, ngx_log_t *log,
    void (*cleanup)(void *privdata))
{
    ngx_connection_t  *c;

    c = ngx_get_connection(ac->c.fd, log);
    if (c == NULL) {
        return NULL;
    }

    c->data = ac;
    c->read->handler = ngx_kefu_redis_ev_read;
    c->write->handler = ngx_kefu_redis_ev_write;
    c->read->log = log;
    c->write->log = log;

    ac->data = owner;
    ac->ev.data = c;
    ac->ev.addRead = ngx_kefu_redis_ev_add_read;
    ac->ev.delRead = ngx_kefu_redis_ev_del_read;
    ac->ev.addWrite = ngx_kefu_redis_ev_add_write;
    ac->ev.delWrite = ngx_kefu_redis_ev_del_write;
    ac->ev.cleanup = cleanup;

    ngx_kefu_redis_ev_set(c, 1, 1);

    return c;
}


/*
 * From the owner's cleanup (privdata as hiredis gives it): the nginx
 * connection goes, the socket is left to hiredis, which closes it.
 * Returns the owner.
 */

void *
ngx_kefu_redis_ev_detach(void *privdata)
{
    ngx_connection_t   *c = privdata;

    redisAsyncContext  *ac;

    ac = c->data;

    if (c->read->active) {
        (void) ngx_del_event(c->read, NGX_READ_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->write->active) {
        (void) ngx_del_event(c->write, NGX_WRITE_EVENT, NGX_CLOSE_EVENT);
    }

    if (c->read->posted) {
        ngx_delete_posted_event(c->read);
    }

    if (c->write->posted) {
        ngx_delete_posted_event(c->write);
    }

    c->fd = (ngx_socket_t) -1;
    ngx_free_connection(c);

    return ac->data;
}


static void
ngx_kefu_redis_ev_read(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleRead(c->data);
}


static void
ngx_kefu_redis_ev_write(ngx_event_t *ev)
{
    ngx_connection_t  *c = ev->data;

    redisAsyncHandleWrite(c->data);
}


/* level-triggered: an event stays until hiredis deletes it */

static void
ngx_kefu_redis_ev_set(ngx_connection_t *c, ngx_uint_t write, ngx_uint_t on)
{
    ngx_event_t  *ev;

    ev = write ? c->write : c->read;

    if (on && !ev->active) {
        (void) ngx_add_event(ev, write ? NGX_WRITE_EVENT : NGX_READ_EVENT, 0);

    } else if (!on && ev->active) {
        (void) ngx_del_event(ev, write ? NGX_WRITE_EVENT : NGX_READ_EVENT, 0);
    }
}


static void
ngx_kefu_redis_ev_add_read(void *privdata)
{
    ngx_kefu_redis_ev_set(privdata, 0, 1);
}


static void
ngx_kefu_redis_ev_del_read(void *privdata)
{
    ngx_kefu_redis_ev_set(privdata, 0, 0);
}


static void
ngx_kefu_redis_ev_add_write(void *privdata)
{
    ngx_kefu_redis_ev_set(privdata, 1, 1);
}


static void
ngx_kefu_redis_ev_del_write(void *privdata)
{
    ngx_kefu_redis_ev_set(privdata, 1, 0);
}
