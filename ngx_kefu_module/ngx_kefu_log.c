
/*
 * The $kefu_* variables and the access log line of a WebSocket session.
 *
 * The HTTP request is freed right after the 101 (ngx_kefu_ws.c), so it is
 * not logged then (r->logged); instead the few things a log line needs of
 * it are copied into one small allocation, bounded, and when the session
 * ends a short-lived request is built from them in a pool of its own and
 * the log phase handlers run on it, exactly as nginx runs them at the end
 * of a request: access_log, log_format, "if=", buffers and syslog all work,
 * with $status 101, $request_time and $bytes_sent covering the session.
 * What is kept of the request: the request line, Host, User-Agent, Referer
 * and X-Forwarded-For (other $http_* are empty at the end), the times and
 * sizes, and the configuration the request ran under.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_ws.h"
#include "ngx_kefu_status.h"
#include "ngx_kefu_session.h"


#define NGX_KEFU_LOG_LINE_MAX    1024   /* the request line kept */
#define NGX_KEFU_LOG_HEADER_MAX  512    /* each header kept */


enum {
    NGX_KEFU_LOG_REQUEST = 0,
    NGX_KEFU_LOG_HOST,
    NGX_KEFU_LOG_USER_AGENT,
    NGX_KEFU_LOG_REFERER,
    NGX_KEFU_LOG_XFF,
    NGX_KEFU_LOG_ADDR,        /* as the request saw it: after realip */
    NGX_KEFU_LOG_N
};


struct ngx_kefu_log_info_s {
    void                       **main_conf;
    void                       **srv_conf;
    void                       **loc_conf;
    time_t                       start_sec;
    ngx_msec_t                   start_msec;
    off_t                        request_length;
    size_t                       header_size;
    uint16_t                     len[NGX_KEFU_LOG_N];
    u_char                       data[];      /* the strings, in order */
};


typedef enum {
    NGX_KEFU_VAR_ROLE = 0,
    NGX_KEFU_VAR_USER,
    NGX_KEFU_VAR_SITE,
    NGX_KEFU_VAR_GROUP,
    NGX_KEFU_VAR_SESSION,
    NGX_KEFU_VAR_MESSAGES_IN,
    NGX_KEFU_VAR_MESSAGES_OUT,
    NGX_KEFU_VAR_CLOSE_CODE,
    NGX_KEFU_VAR_CLOSE_BY,
    NGX_KEFU_VAR_DURATION
} ngx_kefu_var_e;


static ngx_int_t ngx_kefu_log_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_kefu_log_text(ngx_kefu_ws_t *ws, uintptr_t data,
    ngx_str_t *s);
static ngx_int_t ngx_kefu_log_figure(ngx_http_request_t *r,
    ngx_kefu_ws_t *ws, uintptr_t data, ngx_str_t *s);
static ngx_int_t ngx_kefu_version_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static void ngx_kefu_log_request_line(ngx_http_request_t *r,
    ngx_str_t *line);
static ngx_int_t ngx_kefu_log_headers(ngx_http_request_t *r, ngx_str_t *s);
static ngx_table_elt_t *ngx_kefu_log_header(ngx_http_request_t *r,
    const char *name, const char *lowcase, u_char *value, size_t len);


static ngx_http_variable_t  ngx_kefu_log_vars[] = {

    { ngx_string("kefu_role"), NULL, ngx_kefu_log_variable,
      NGX_KEFU_VAR_ROLE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("kefu_user"), NULL, ngx_kefu_log_variable,
      NGX_KEFU_VAR_USER, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("kefu_site"), NULL, ngx_kefu_log_variable,
      NGX_KEFU_VAR_SITE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("kefu_group"), NULL, ngx_kefu_log_variable,
      NGX_KEFU_VAR_GROUP, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("kefu_session"), NULL, ngx_kefu_log_variable,
      NGX_KEFU_VAR_SESSION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("kefu_messages_in"), NULL, ngx_kefu_log_variable,
      NGX_KEFU_VAR_MESSAGES_IN, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("kefu_messages_out"), NULL, ngx_kefu_log_variable,
      NGX_KEFU_VAR_MESSAGES_OUT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("kefu_close_code"), NULL, ngx_kefu_log_variable,
      NGX_KEFU_VAR_CLOSE_CODE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("kefu_close_by"), NULL, ngx_kefu_log_variable,
      NGX_KEFU_VAR_CLOSE_BY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("kefu_duration"), NULL, ngx_kefu_log_variable,
      NGX_KEFU_VAR_DURATION, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    /* usable anywhere, e.g. add_header X-Kefu-Version $kefu_version */
    { ngx_string("kefu_version"), NULL, ngx_kefu_version_variable,
      0, 0, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_kefu_log_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_kefu_log_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return NGX_OK;
}


static ngx_int_t
ngx_kefu_version_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    v->data = (u_char *) NGX_KEFU_VERSION;
    v->len = sizeof(NGX_KEFU_VERSION) - 1;
    v->valid = 1;
    v->no_cacheable = 0;
    v->not_found = 0;

    return NGX_OK;
}


/* the session of a kefu_chat request, or NULL */

static ngx_kefu_ws_t *
ngx_kefu_log_ws(ngx_http_request_t *r)
{
    ngx_kefu_loc_conf_t  *kcf;

    kcf = ngx_http_get_module_loc_conf(r, ngx_kefu_module);

    /* other kefu locations may keep other things in the module's ctx */
    if (kcf == NULL || !kcf->enable) {
        return NULL;
    }

    return ngx_http_get_module_ctx(r, ngx_kefu_module);
}


static ngx_int_t
ngx_kefu_log_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    ngx_str_t       s;
    ngx_kefu_ws_t  *ws;

    ws = ngx_kefu_log_ws(r);

    v->not_found = 1;

    if (ws == NULL) {
        return NGX_OK;
    }

    ngx_str_null(&s);

    if (ngx_kefu_log_text(ws, data, &s) == NGX_DECLINED
        && ngx_kefu_log_figure(r, ws, data, &s) != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (s.len == 0) {
        return NGX_OK;
    }

    v->len = s.len;
    v->data = s.data;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/* the variables that are the session's own text (empty: not set);
 * NGX_DECLINED for the others */

static ngx_int_t
ngx_kefu_log_text(ngx_kefu_ws_t *ws, uintptr_t data, ngx_str_t *s)
{
    switch (data) {

    case NGX_KEFU_VAR_ROLE:
        if (ws->role) {
            s->data = (u_char *) ngx_kefu_role_name(ws->role);
            s->len = s->data ? ngx_strlen(s->data) : 0;
        }
        break;

    case NGX_KEFU_VAR_USER:
        *s = ws->user_id;
        break;

    case NGX_KEFU_VAR_SITE:
        if (ws->site) {
            *s = ws->site->name;
        }
        break;

    case NGX_KEFU_VAR_GROUP:
        if (ws->role == NGX_KEFU_ROLE_VISITOR) {
            *s = ws->group;
        }
        break;

    case NGX_KEFU_VAR_CLOSE_BY:
        if (ws->io->close_received) {
            ngx_str_set(s, "client");

        } else if (ws->io->close_sent) {
            ngx_str_set(s, "server");

        } else if (ws->start) {
            /* the connection dropped without a close frame */
            ngx_str_set(s, "network");
        }
        break;

    default:
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* the variables printed from a number, in the request's pool */

static ngx_int_t
ngx_kefu_log_figure(ngx_http_request_t *r, ngx_kefu_ws_t *ws,
    uintptr_t data, ngx_str_t *s)
{
    u_char      *p;
    ngx_msec_t   ms;

    if (data == NGX_KEFU_VAR_SESSION) {
        if (ws->hello_done) {
            p = ngx_pnalloc(r->pool, 16);
            if (p == NULL) {
                return NGX_ERROR;
            }

            s->data = p;
            s->len = ngx_sprintf(p, "%016xL", ws->session_id) - p;
        }

        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_INT_T_LEN + 4);
    if (p == NULL) {
        return NGX_ERROR;
    }

    s->data = p;

    if (data == NGX_KEFU_VAR_MESSAGES_IN) {
        s->len = ngx_sprintf(p, "%ui", ws->messages_in) - p;

    } else if (data == NGX_KEFU_VAR_MESSAGES_OUT) {
        s->len = ngx_sprintf(p, "%ui", ws->messages_out) - p;

    } else if (data == NGX_KEFU_VAR_CLOSE_CODE) {
        if (ws->io->close_code) {
            s->len = ngx_sprintf(p, "%ui", (ngx_uint_t) ws->io->close_code)
                     - p;
        }

    } else if (ws->start) {
        ms = ngx_current_msec - ws->start;
        s->len = ngx_sprintf(p, "%M.%03M", ms / 1000, ms % 1000) - p;
    }

    return NGX_OK;
}


/*
 * Called at the takeover, before the request is freed: keep what the log
 * line will need, and keep nginx from logging the request now.  Without
 * memory for it the request is logged now, with status 101, as before.
 */

void
ngx_kefu_log_save(ngx_kefu_ws_t *ws, ngx_http_request_t *r)
{
    u_char               *p;
    size_t                len[NGX_KEFU_LOG_N], size, max;
    ngx_str_t            *src[NGX_KEFU_LOG_N];
    ngx_uint_t            i;
    ngx_str_t             none;
    ngx_kefu_log_info_t  *li;

    /* the line is written when the session ends, after everything else */
    (void) ngx_kefu_session_on_close(ws, ngx_kefu_log_session);

    ngx_str_null(&none);

    src[NGX_KEFU_LOG_REQUEST] = &r->request_line;
    src[NGX_KEFU_LOG_HOST] = &r->headers_in.server;
    src[NGX_KEFU_LOG_USER_AGENT] = r->headers_in.user_agent
                                   ? &r->headers_in.user_agent->value : &none;
    src[NGX_KEFU_LOG_REFERER] = r->headers_in.referer
                                ? &r->headers_in.referer->value : &none;
    src[NGX_KEFU_LOG_XFF] = &none;
    src[NGX_KEFU_LOG_ADDR] = &r->connection->addr_text;

#if (NGX_HTTP_X_FORWARDED_FOR)
#if (nginx_version < 1023000)
    if (r->headers_in.x_forwarded_for.nelts) {
        src[NGX_KEFU_LOG_XFF] =
            &((ngx_table_elt_t **) r->headers_in.x_forwarded_for.elts)[0]
                                                                     ->value;
    }
#else
    if (r->headers_in.x_forwarded_for) {
        src[NGX_KEFU_LOG_XFF] = &r->headers_in.x_forwarded_for->value;
    }
#endif
#endif

    size = sizeof(ngx_kefu_log_info_t);

    for (i = 0; i < NGX_KEFU_LOG_N; i++) {
        max = (i == NGX_KEFU_LOG_REQUEST) ? NGX_KEFU_LOG_LINE_MAX
                                          : NGX_KEFU_LOG_HEADER_MAX;
        len[i] = ngx_min(src[i]->len, max);
        size += len[i];
    }

    li = ngx_alloc(size, r->connection->log);
    if (li == NULL) {
        return;
    }

    li->main_conf = r->main_conf;
    li->srv_conf = r->srv_conf;
    li->loc_conf = r->loc_conf;
    li->start_sec = r->start_sec;
    li->start_msec = r->start_msec;
    li->request_length = r->request_length;
    li->header_size = ws->io->out ? ws->io->out->len : 0;   /* the 101 */

    p = li->data;

    for (i = 0; i < NGX_KEFU_LOG_N; i++) {
        li->len[i] = (uint16_t) len[i];

        /* an unset value has no data at all: memcpy() may not be given NULL */
        if (len[i]) {
            p = ngx_cpymem(p, src[i]->data, len[i]);
        }
    }

    ws->log_info = li;
    r->logged = 1;
}


/*
 * The client's address as the request saw it: realip replaces the peer's
 * address only for the life of the request, which ends at the takeover.
 */

void
ngx_kefu_log_addr(ngx_kefu_ws_t *ws, ngx_str_t *addr)
{
    u_char               *p;
    ngx_uint_t            i;
    ngx_kefu_log_info_t  *li;

    li = ws->log_info;

    if (li == NULL) {
        *addr = ws->connection->addr_text;
        return;
    }

    p = li->data;

    for (i = 0; i < NGX_KEFU_LOG_ADDR; i++) {
        p += li->len[i];
    }

    addr->data = p;
    addr->len = li->len[NGX_KEFU_LOG_ADDR];
}


/* the end of a session: one access log line, then nothing is kept */

void
ngx_kefu_log_session(ngx_kefu_ws_t *ws)
{
    u_char                     *p;
    ngx_str_t                   s[NGX_KEFU_LOG_N];
    ngx_uint_t                  i, n;
    ngx_pool_t                 *pool;
    char                       *action;
    ngx_connection_t           *c;
    ngx_http_request_t         *r;
    ngx_kefu_log_info_t        *li;
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    li = ws->log_info;

    if (li == NULL) {
        return;
    }

    ws->log_info = NULL;
    c = ws->connection;

    pool = ngx_create_pool(2048, c->log);
    if (pool == NULL) {
        ngx_free(li);
        return;
    }

    r = ngx_pcalloc(pool, sizeof(ngx_http_request_t));
    if (r == NULL) {
        goto done;
    }

    r->pool = pool;
    r->connection = c;
    r->main = r;
    r->count = 1;
    r->main_conf = li->main_conf;
    r->srv_conf = li->srv_conf;
    r->loc_conf = li->loc_conf;

    cmcf = ngx_http_get_module_main_conf(r, ngx_http_core_module);

    r->ctx = ngx_pcalloc(pool, sizeof(void *) * ngx_http_max_module);
    r->variables = ngx_pcalloc(pool, cmcf->variables.nelts
                                     * sizeof(ngx_http_variable_value_t));

    if (r->ctx == NULL || r->variables == NULL) {
        goto done;
    }

    ngx_http_set_ctx(r, ws, ngx_kefu_module);

    p = li->data;

    for (i = 0; i < NGX_KEFU_LOG_N; i++) {
        s[i].data = p;
        s[i].len = li->len[i];
        p += li->len[i];
    }

    ngx_kefu_log_request_line(r, &s[NGX_KEFU_LOG_REQUEST]);

    r->headers_in.server = s[NGX_KEFU_LOG_HOST];
    r->headers_in.content_length_n = -1;
    r->headers_in.keep_alive_n = -1;

    if (ngx_kefu_log_headers(r, s) != NGX_OK) {
        goto done;
    }

    r->headers_out.status = NGX_HTTP_SWITCHING_PROTOCOLS;
    r->headers_out.content_length_n = -1;
    r->headers_out.last_modified_time = -1;

    r->start_sec = li->start_sec;
    r->start_msec = li->start_msec;
    r->request_length = li->request_length;
    r->header_size = li->header_size;
    r->request_complete = 1;

    action = c->log->action;
    c->log->action = "logging kefu session";

    h = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.elts;
    n = cmcf->phases[NGX_HTTP_LOG_PHASE].handlers.nelts;

    for (i = 0; i < n; i++) {
        h[i](r);
    }

    c->log->action = action;

done:

    ngx_destroy_pool(pool);
    ngx_free(li);
}


/* "GET /chat?x=1 HTTP/1.1": method, URI and its arguments, protocol */

static void
ngx_kefu_log_request_line(ngx_http_request_t *r, ngx_str_t *line)
{
    u_char  *p, *last, *sp, *q;

    r->request_line = *line;
    r->method = NGX_HTTP_GET;
    r->http_version = NGX_HTTP_VERSION_11;

    p = r->request_line.data;
    last = p + r->request_line.len;

    sp = ngx_strlchr(p, last, ' ');

    if (sp) {
        r->method_name.data = p;
        r->method_name.len = sp - p;

        p = sp + 1;
        q = ngx_strlchr(p, last, ' ');
        q = q ? q : last;

        r->unparsed_uri.data = p;
        r->unparsed_uri.len = q - p;
        r->uri = r->unparsed_uri;

        sp = ngx_strlchr(p, q, '?');

        if (sp) {
            r->uri.len = sp - p;
            r->args.data = sp + 1;
            r->args.len = q - sp - 1;
        }

        if (q < last) {
            r->http_protocol.data = q + 1;
            r->http_protocol.len = last - q - 1;
        }
    }
}


/* the request's headers a log format may name, as the handshake had them */

static ngx_int_t
ngx_kefu_log_headers(ngx_http_request_t *r, ngx_str_t *s)
{
    if (ngx_list_init(&r->headers_in.headers, r->pool, 4,
                      sizeof(ngx_table_elt_t))
        != NGX_OK
        || ngx_list_init(&r->headers_out.headers, r->pool, 1,
                         sizeof(ngx_table_elt_t))
           != NGX_OK)
    {
        return NGX_ERROR;
    }

    if (s[NGX_KEFU_LOG_HOST].len) {
        r->headers_in.host = ngx_kefu_log_header(r, "Host", "host",
                                                 s[NGX_KEFU_LOG_HOST].data,
                                                 s[NGX_KEFU_LOG_HOST].len);
    }

    if (s[NGX_KEFU_LOG_USER_AGENT].len) {
        r->headers_in.user_agent =
            ngx_kefu_log_header(r, "User-Agent", "user-agent",
                                s[NGX_KEFU_LOG_USER_AGENT].data,
                                s[NGX_KEFU_LOG_USER_AGENT].len);
    }

    if (s[NGX_KEFU_LOG_REFERER].len) {
        r->headers_in.referer =
            ngx_kefu_log_header(r, "Referer", "referer",
                                s[NGX_KEFU_LOG_REFERER].data,
                                s[NGX_KEFU_LOG_REFERER].len);
    }

    if (s[NGX_KEFU_LOG_XFF].len) {
#if (NGX_HTTP_X_FORWARDED_FOR)
        ngx_table_elt_t  *xff, **ph;

        xff = ngx_kefu_log_header(r, "X-Forwarded-For", "x-forwarded-for",
                                  s[NGX_KEFU_LOG_XFF].data,
                                  s[NGX_KEFU_LOG_XFF].len);
#if (nginx_version < 1023000)
        if (xff
            && ngx_array_init(&r->headers_in.x_forwarded_for, r->pool, 1,
                              sizeof(ngx_table_elt_t *))
               == NGX_OK)
        {
            ph = ngx_array_push(&r->headers_in.x_forwarded_for);
            if (ph) {
                *ph = xff;
            }
        }
#else
        (void) ph;
        r->headers_in.x_forwarded_for = xff;
#endif
#else
        (void) ngx_kefu_log_header(r, "X-Forwarded-For", "x-forwarded-for",
                                   s[NGX_KEFU_LOG_XFF].data,
                                   s[NGX_KEFU_LOG_XFF].len);
#endif
    }

    return NGX_OK;
}


static ngx_table_elt_t *
ngx_kefu_log_header(ngx_http_request_t *r, const char *name,
    const char *lowcase, u_char *value, size_t len)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_in.headers);
    if (h == NULL) {
        return NULL;
    }

    ngx_memzero(h, sizeof(ngx_table_elt_t));

    h->hash = 1;
    h->key.data = (u_char *) name;
    h->key.len = ngx_strlen(name);
    h->value.data = value;
    h->value.len = len;
    h->lowcase_key = (u_char *) lowcase;

    return h;
}
