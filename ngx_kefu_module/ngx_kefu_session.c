
/*
 * A session's close path and its registration; see ngx_kefu_session.h.
 */


#include "ngx_kefu_session.h"
#include "ngx_kefu_zone.h"
#include "ngx_kefu_conv.h"
#include "ngx_kefu_status.h"
#include "ngx_kefu_hello.h"


/*
 * Hooks live in the session itself: registering one cannot fail for want
 * of memory, and one registered twice (a hello said again after a failed
 * one) runs once.
 */

ngx_int_t
ngx_kefu_session_on_close(ngx_kefu_ws_t *ws, ngx_kefu_ws_handler_pt h)
{
    ngx_uint_t  i;

    for (i = 0; i < ws->nclose; i++) {
        if (ws->close_hooks[i] == h) {
            return NGX_OK;
        }
    }

    if (ws->nclose == NGX_KEFU_CLOSE_HOOKS) {
        ngx_log_error(NGX_LOG_ALERT, ws->connection->log, 0,
                      "kefu: too many close hooks");
        return NGX_ERROR;
    }

    ws->close_hooks[ws->nclose++] = h;

    return NGX_OK;
}


/* the transport is ending: every part lets go of what it holds */

void
ngx_kefu_session_close(ngx_kefu_ws_t *ws)
{
    ngx_kefu_ws_handler_pt  h;

    while (ws->nclose) {
        h = ws->close_hooks[--ws->nclose];
        h(ws);
    }
}


/*
 * Authenticated: recorded host-wide in the session zone (NGX_DECLINED when
 * it is full, NGX_BUSY when an anonymous visitor's address holds
 * kefu_anonymous_per_address sessions already) and in the worker's index, where asynchronous replies find
 * the session by id.  Both are let go by ngx_kefu_session_end().
 */

ngx_int_t
ngx_kefu_session_register(ngx_kefu_ws_t *ws)
{
    ngx_int_t              rc;
    ngx_str_t              addr;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = ws->main_conf;

    if (ngx_kefu_session_on_close(ws, ngx_kefu_session_end) != NGX_OK) {
        return NGX_ERROR;
    }

    if (kmcf->zone) {
        /* anonymous visitors count against their address (after realip) */
        ngx_kefu_log_addr(ws, &addr);

        rc = ngx_kefu_zone_session_add(kmcf->zone, ws->role, &addr,
                                       ws->anonymous
                                       ? kmcf->anonymous_per_address : 0,
                                       &ws->zone_session);
        if (rc != NGX_OK) {
            return rc;
        }
    }

    ngx_kefu_local_register(ws);

    return NGX_OK;
}


/* back to before hello: a failed welcome, or the connection's end */

void
ngx_kefu_session_end(ngx_kefu_ws_t *ws)
{
    ngx_kefu_welcome_cancel(ws);

    /* replies still in flight for this session will not find it */
    if (ws->in_local) {
        ngx_kefu_local_unregister(ws);
        ws->in_local = 0;
    }

    if (ws->zone_session) {
        ngx_kefu_zone_session_del(ws->main_conf->zone, ws->zone_session);
        ws->zone_session = NULL;
    }

    if (ws->claims) {
        json_decref(ws->claims);
        ws->claims = NULL;
    }

    if (ws->intent) {
        json_decref(ws->intent);
        ws->intent = NULL;
    }
}
