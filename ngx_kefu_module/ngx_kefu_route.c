
/*
 * Routing and the agents' actions (ngx_kefu_route.h, docs/routing.md).
 *
 * An operation validates its arguments, builds one script call in a
 * buffer of its own (so it needs nothing of the caller's once it returned)
 * and completes from the script's reply.  Scripts that leave queues that
 * may still be drained (they write at most NGX_KEFU_ROUTE_IDS system
 * entries per call) name those groups in their reply: a drain call
 * follows, and again, until no group is left.
 *
 * Every routing script runs in the site's slot.  On a cluster
 * ("kefu_redis cluster") its reply lists what each conversation it changed
 * must get in its own slot: the reply runs conv_apply for each (pipelined,
 * each to its master), then route_put (the events with their seqs, the
 * pending entry gone) in the site's, and only then completes
 * (docs/storage.md, "Routing in two steps").  On one Redis the script did
 * both in its own step and lists nothing.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_redis.h"
#include "ngx_kefu_route.h"
#include "ngx_kefu_settings.h"


static ngx_int_t ngx_kefu_route_who(ngx_kefu_route_call_t *call,
    ngx_kefu_actor_t *actor);
static ngx_int_t ngx_kefu_route_by(ngx_kefu_route_call_t *call,
    ngx_kefu_actor_t *actor);
static ngx_int_t ngx_kefu_route_conv_arg(ngx_kefu_route_call_t *call,
    ngx_str_t *conv);
static void ngx_kefu_route_fail(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_route_done_pt done, void *data, ngx_int_t code,
    const char *message);
static void ngx_kefu_route_finish(ngx_kefu_route_call_t *call,
    ngx_int_t code, json_t *result, u_char *more, size_t more_len,
    ngx_uint_t again);
static void ngx_kefu_route_call_applied(void *data);
static void ngx_kefu_route_applied(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);
static void ngx_kefu_route_put(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);


/* a routing call waiting for its conversations' sides */
typedef struct {
    ngx_kefu_route_call_t       *call;
    ngx_int_t                    code;
    json_t                      *result;
    ngx_uint_t                   again;
    u_char                      *more;
    size_t                       more_len;
} ngx_kefu_route_wait_t;

/* the second step of one routing script's reply */
typedef struct {
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_site_t             *site;
    ngx_kefu_route_applied_pt    done;
    void                        *data;
    ngx_uint_t                   pending;
} ngx_kefu_route_apply_t;

/* one conversation of it */
typedef struct {
    ngx_kefu_route_apply_t      *ap;
    size_t                       len;
    u_char                       conv[NGX_KEFU_MAX_ID_LEN];
} ngx_kefu_route_conv_t;


/* the conversation's keys conv_apply declares */
static const char  *ngx_kefu_route_conv_keys[] = {
    "", ":log", ":joined", ":assignments"
};


ngx_kefu_route_call_t *
ngx_kefu_route_call(ngx_kefu_main_conf_t *kmcf, ngx_kefu_script_t *script,
    ngx_kefu_site_t *site, uint64_t session, ngx_kefu_route_done_pt done,
    void *data)
{
    u_char                 buf[NGX_INT64_LEN];
    u_char                 key[NGX_KEFU_MAX_ID_LEN + 32];
    ngx_kefu_route_call_t  *call;

    call = ngx_alloc(sizeof(ngx_kefu_route_call_t), ngx_cycle->log);
    if (call == NULL) {
        return NULL;
    }

    call->kmcf = kmcf;
    call->script = script;
    call->site = site;
    call->done = done;
    call->data = data;
    call->handler = ngx_kefu_route_reply;
    call->again = 0;
    call->argc = 0;
    call->pos = call->buf;
    call->end = call->buf + sizeof(call->buf);
    call->failed = 0;

    /* KEYS[1]: the site's slot (the scripts build their keys on its tag) */
    if (site->name.len > NGX_KEFU_MAX_ID_LEN) {
        call->failed = 1;
    }

    (void) ngx_kefu_route_arg(call, key,
                              ngx_snprintf(key, sizeof(key),
                                           "kefu:{s:%V}:apply", &site->name)
                              - key);
    (void) ngx_kefu_route_arg(call, site->name.data, site->name.len);
    (void) ngx_kefu_route_arg(call, buf,
                              ngx_sprintf(buf, "%L", ngx_kefu_now_ms()) - buf);

    /* the ids slot is filled in just before each run */
    call->argv[call->argc] = (char *) call->pos;
    call->lens[call->argc++] = 0;
    call->pos += NGX_KEFU_ROUTE_IDS * (NGX_INT64_LEN + 1);

    (void) ngx_kefu_route_arg(call, buf,
                              ngx_sprintf(buf, "%M", site->grace) - buf);
    (void) ngx_kefu_route_arg(call, buf,
                              ngx_sprintf(buf, "%i", kmcf->log_max) - buf);

    if (session) {
        (void) ngx_kefu_route_arg(call, buf,
                                  ngx_sprintf(buf, "%016xL", session) - buf);
    } else {
        (void) ngx_kefu_route_arg(call, (u_char *) "-", 1);
    }

    /* "2": a cluster, the conversations' sides are a second call */
    (void) ngx_kefu_route_arg(call, (u_char *) (kmcf->redis_conf
                                                && kmcf->redis_conf->seeds
                                                ? "2" : "1"), 1);

    return call;
}


ngx_int_t
ngx_kefu_route_arg(ngx_kefu_route_call_t *call, u_char *p, size_t len)
{
    if (call->argc == NGX_KEFU_ROUTE_ARGS
        || (size_t) (call->end - call->pos) < len)
    {
        call->failed = 1;
        return NGX_ERROR;
    }

    call->argv[call->argc] = (char *) call->pos;
    call->lens[call->argc++] = len;

    /* an empty argument may come without data: memcpy() takes no NULL */
    if (len) {
        call->pos = ngx_cpymem(call->pos, p, len);
    }

    return NGX_OK;
}


/* runs (or runs again) the call; on failure the outcome is unavailable */

void
ngx_kefu_route_run(ngx_kefu_route_call_t *call)
{
    u_char                *p;
    uint64_t               id;
    ngx_uint_t             i;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = call->kmcf;

    if (call->failed) {
        ngx_kefu_route_fail(kmcf, call->done, call->data,
                            NGX_KEFU_ROUTE_BAD_REQUEST, "argument too long");
        ngx_free(call);
        return;
    }

    if (kmcf->redis == NULL || !ngx_kefu_redis_ready(kmcf->redis)) {
        goto unavailable;
    }

    /* fresh ids: a run again must not reuse what the last one wrote */
    p = (u_char *) call->argv[NGX_KEFU_ROUTE_IDS_ARG];

    for (i = 0; i < NGX_KEFU_ROUTE_IDS; i++) {
        id = ngx_kefu_id_next(&kmcf->ids);

        if (id == 0) {
            goto unavailable;
        }

        p = ngx_sprintf(p, "%s%uL", i ? " " : "", id);
    }

    call->lens[NGX_KEFU_ROUTE_IDS_ARG] = p
                                         - (u_char *) call->argv[
                                               NGX_KEFU_ROUTE_IDS_ARG];

    if (ngx_kefu_redis_eval(kmcf->redis, call->script, call->handler, call,
                            1, call->argc, call->argv, call->lens)
        == NGX_OK)
    {
        return;
    }

unavailable:

    ngx_kefu_route_fail(kmcf, call->done, call->data,
                        NGX_KEFU_ROUTE_UNAVAILABLE, "storage is unavailable");
    ngx_free(call);
}


static void
ngx_kefu_route_fail(ngx_kefu_main_conf_t *kmcf, ngx_kefu_route_done_pt done,
    void *data, ngx_int_t code, const char *message)
{
    if (done) {
        done(kmcf, data, code, message, NULL);
    }
}


/* {code, json or message, groups to drain, again?, conversations' sides} */

void
ngx_kefu_route_reply(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_route_call_t  *call = data;

    char                   msg[128];
    json_t                *result;
    ngx_int_t              code;
    ngx_uint_t             again;
    redisReply           **e, *more;
    ngx_kefu_route_wait_t  *w;
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = call->kmcf;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements < 2
        || reply->element[0]->type != REDIS_REPLY_INTEGER
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        if (reply && reply->type == REDIS_REPLY_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, 0,
                          "kefu: routing script failed: %s", reply->str);
        }

        ngx_kefu_route_fail(kmcf, call->done, call->data,
                            NGX_KEFU_ROUTE_UNAVAILABLE,
                            "storage is unavailable");
        ngx_free(call);
        return;
    }

    e = reply->element;
    code = (ngx_int_t) e[0]->integer;

    if (code < 0) {
        ngx_cpystrn((u_char *) msg, (u_char *) e[1]->str,
                    ngx_min(sizeof(msg), e[1]->len + 1));
        ngx_kefu_route_fail(kmcf, call->done, call->data, code, msg);
        ngx_free(call);
        return;
    }

    result = e[1]->len ? json_loadb(e[1]->str, e[1]->len, 0, NULL) : NULL;
    more = reply->elements > 2 && e[2]->type == REDIS_REPLY_STRING
           && e[2]->len ? e[2] : NULL;
    again = reply->elements > 3 && e[3]->type == REDIS_REPLY_INTEGER
            && e[3]->integer == 1;

    if (reply->elements > 4 && e[4]->type == REDIS_REPLY_ARRAY
        && e[4]->elements >= 2)
    {
        w = ngx_alloc(sizeof(ngx_kefu_route_wait_t)
                      + (more ? more->len : 0), ngx_cycle->log);

        if (w) {
            w->call = call;
            w->code = code;
            w->result = result;
            w->again = again;
            w->more = (u_char *) w + sizeof(ngx_kefu_route_wait_t);
            w->more_len = more ? more->len : 0;

            if (more) {
                ngx_memcpy(w->more, more->str, more->len);
            }

            if (ngx_kefu_route_apply_list(kmcf, call->site, e[4],
                                          ngx_kefu_route_call_applied, w)
                == NGX_OK)
            {
                return;
            }

            ngx_free(w);
        }
    }

    ngx_kefu_route_finish(call, code, result,
                          more ? (u_char *) more->str : NULL,
                          more ? more->len : 0, again);
}


/* the outcome to the caller, then a drain, a run again, or the end */

static void
ngx_kefu_route_finish(ngx_kefu_route_call_t *call, ngx_int_t code,
    json_t *result, u_char *more, size_t more_len, ngx_uint_t again)
{
    ngx_kefu_main_conf_t  *kmcf;

    kmcf = call->kmcf;

    if (call->done) {
        call->done(kmcf, call->data, code, NULL, result);
        call->done = NULL;
    }

    if (result) {
        json_decref(result);
    }

    if (more_len) {
        ngx_kefu_route_drain(kmcf, call->site, more, more_len);
    }

    /* the script ran out of ids: once more, bounded */
    if (again && call->again++ < 16) {
        ngx_kefu_route_run(call);
        return;
    }

    ngx_free(call);
}


static void
ngx_kefu_route_call_applied(void *data)
{
    ngx_kefu_route_wait_t  *w = data;

    ngx_kefu_route_finish(w->call, w->code, w->result, w->more, w->more_len,
                          w->again);
    ngx_free(w);
}


/*
 * The second step of a routing script's reply on a cluster (its list
 * {conv, payload, ...}): conv_apply for each conversation, all sent at
 * once, each reply followed by its route_put; done(data) once the last
 * came back.  NGX_DECLINED: nothing listed; NGX_ERROR: nothing could be
 * sent (no memory): done is not called, and the route sweep applies them
 * later.
 */

ngx_int_t
ngx_kefu_route_apply_list(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    redisReply *list, ngx_kefu_route_applied_pt done, void *data)
{
    u_char                  *p;
    u_char                   keys[4][NGX_KEFU_MAX_ID_LEN + 32];
    u_char                   max[NGX_INT_T_LEN];
    size_t                   i, k, lens[7];
    const char              *argv[7];
    redisReply              *c, *pl;
    ngx_kefu_route_conv_t   *rc;
    ngx_kefu_route_apply_t  *ap;

    if (list == NULL || list->type != REDIS_REPLY_ARRAY
        || list->elements < 2)
    {
        return NGX_DECLINED;
    }

    ap = ngx_alloc(sizeof(ngx_kefu_route_apply_t), ngx_cycle->log);
    if (ap == NULL) {
        return NGX_ERROR;
    }

    ap->kmcf = kmcf;
    ap->site = site;
    ap->done = done;
    ap->data = data;
    ap->pending = 1;    /* held until every call went out */

    argv[6] = (char *) max;
    lens[6] = ngx_sprintf(max, "%i", kmcf->log_max) - max;

    for (i = 0; i + 1 < list->elements; i += 2) {
        c = list->element[i];
        pl = list->element[i + 1];

        if (c->type != REDIS_REPLY_STRING || pl->type != REDIS_REPLY_STRING
            || c->len == 0 || c->len > NGX_KEFU_MAX_ID_LEN)
        {
            continue;
        }

        rc = ngx_alloc(sizeof(ngx_kefu_route_conv_t), ngx_cycle->log);
        if (rc == NULL) {
            continue;
        }

        rc->ap = ap;
        rc->len = c->len;
        ngx_memcpy(rc->conv, c->str, c->len);

        for (k = 0; k < 4; k++) {
            p = ngx_snprintf(keys[k], sizeof(keys[k]), "kefu:{c:%*s}%s",
                             c->len, c->str, ngx_kefu_route_conv_keys[k]);
            argv[k] = (char *) keys[k];
            lens[k] = p - keys[k];
        }

        argv[4] = c->str;
        lens[4] = c->len;
        argv[5] = pl->str;
        lens[5] = pl->len;

        if (kmcf->redis == NULL
            || ngx_kefu_redis_eval(kmcf->redis, &ngx_kefu_script_conv_apply,
                                   ngx_kefu_route_applied, rc, 4, 7, argv,
                                   lens)
               != NGX_OK)
        {
            /* left to the route sweep */
            ngx_free(rc);
            continue;
        }

        ap->pending++;
    }

    /* the hold: completes now if nothing went out */
    ngx_kefu_route_put(NULL, NULL, ap);

    return NGX_OK;
}


/* conv_apply's {JSON of the entries' seqs, the hash's version}: route_put */

static void
ngx_kefu_route_applied(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_route_conv_t  *rc = data;

    u_char                  keys[3][NGX_KEFU_MAX_ID_LEN * 2 + 32];
    size_t                  lens[7];
    const char             *argv[7];
    ngx_kefu_site_t        *site;
    ngx_kefu_route_apply_t *ap;

    ap = rc->ap;
    site = ap->site;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING
        || reply->element[1]->type != REDIS_REPLY_STRING)
    {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: conversation %*s: its routing step is not "
                      "applied yet (%s): the route sweep will",
                      rc->len, rc->conv,
                      reply && reply->type == REDIS_REPLY_ERROR
                      ? reply->str : "no reply");
        goto done;
    }

    argv[0] = (char *) keys[0];
    lens[0] = ngx_snprintf(keys[0], sizeof(keys[0]), "kefu:{s:%V}:r:%*s",
                           &site->name, rc->len, rc->conv)
              - keys[0];
    argv[1] = (char *) keys[1];
    lens[1] = ngx_snprintf(keys[1], sizeof(keys[1]), "kefu:{s:%V}:apply",
                           &site->name)
              - keys[1];
    argv[2] = (char *) keys[2];
    lens[2] = ngx_snprintf(keys[2], sizeof(keys[2]), "kefu:{s:%V}:events",
                           &site->name)
              - keys[2];
    argv[3] = (char *) site->name.data;
    lens[3] = site->name.len;
    argv[4] = (char *) rc->conv;
    lens[4] = rc->len;
    argv[5] = reply->element[0]->str;
    lens[5] = reply->element[0]->len;
    argv[6] = reply->element[1]->str;
    lens[6] = reply->element[1]->len;

    if (ap->kmcf->redis
        && ngx_kefu_redis_eval(ap->kmcf->redis, &ngx_kefu_script_route_put,
                               ngx_kefu_route_put, ap, 3, 7, argv, lens)
           == NGX_OK)
    {
        ngx_free(rc);
        return;
    }

done:

    ngx_free(rc);
    ngx_kefu_route_put(NULL, NULL, ap);
}


/* route_put's reply (or a conversation given up): the last one completes */

static void
ngx_kefu_route_put(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_route_apply_t  *ap = data;

    if (reply && reply->type == REDIS_REPLY_ERROR) {
        ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                      "kefu: routing events not put yet (%s): the route "
                      "sweep will", reply->str);
    }

    if (--ap->pending) {
        return;
    }

    if (ap->done) {
        ap->done(ap->data);
    }

    ngx_free(ap);
}


void
ngx_kefu_route_drain(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    u_char *groups, size_t len)
{
    ngx_kefu_route_call_t  *call;

    call = ngx_kefu_route_call(kmcf, &ngx_kefu_script_route_drain, site, 0,
                               NULL, NULL);
    if (call == NULL) {
        return;
    }

    (void) ngx_kefu_route_arg(call, groups, len);
    ngx_kefu_route_run(call);
}


/* "a:<id>" or "m:<id>" */

static ngx_int_t
ngx_kefu_route_who(ngx_kefu_route_call_t *call, ngx_kefu_actor_t *actor)
{
    u_char  who[2 + NGX_KEFU_MAX_ID_LEN];

    if (actor->id.len > NGX_KEFU_MAX_ID_LEN) {
        call->failed = 1;
        return NGX_ERROR;
    }

    return ngx_kefu_route_arg(call, who,
                              ngx_snprintf(who, sizeof(who), "%c:%V",
                                           "?vam"[actor->role & 3],
                                           &actor->id)
                              - who);
}


/* the actor as system entries name it: {"role","id","name"?} */

static ngx_int_t
ngx_kefu_route_by(ngx_kefu_route_call_t *call, ngx_kefu_actor_t *actor)
{
    char       *s;
    json_t     *by;
    ngx_int_t   rc;

    by = json_pack("{s:s,s:s%}", "role", ngx_kefu_role_name(actor->role),
                   "id", actor->id.data, actor->id.len);
    if (by && actor->name.len) {
        json_object_set_new(by, "name", json_stringn((char *) actor->name.data,
                                                     actor->name.len));
    }

    s = by ? json_dumps(by, JSON_COMPACT) : NULL;
    json_decref(by);

    if (s == NULL) {
        call->failed = 1;
        return NGX_ERROR;
    }

    rc = ngx_kefu_route_arg(call, (u_char *) s, ngx_strlen(s));
    free(s);

    return rc;
}


static ngx_int_t
ngx_kefu_route_conv_arg(ngx_kefu_route_call_t *call, ngx_str_t *conv)
{
    return ngx_kefu_route_arg(call, conv->data, conv->len);
}


static ngx_int_t
ngx_kefu_route_valid(ngx_str_t *s, size_t max)
{
    return s->len <= max && ngx_kefu_valid_id(s->data, s->len) == NGX_OK;
}


/*
 * What every call on a conversation checks first: the actor may make it,
 * and "conv" is a conversation id (or empty, where the call allows it).
 * A refusal goes to the caller's callback.
 */

static ngx_int_t
ngx_kefu_route_may(ngx_kefu_main_conf_t *kmcf, ngx_kefu_route_done_pt done,
    void *data, ngx_uint_t allowed, const char *forbidden, ngx_str_t *conv,
    ngx_uint_t optional)
{
    if (!allowed) {
        ngx_kefu_route_fail(kmcf, done, data, NGX_KEFU_ROUTE_FORBIDDEN,
                            forbidden);
        return NGX_DECLINED;
    }

    if ((conv->len || !optional)
        && !ngx_kefu_route_valid(conv, NGX_KEFU_MAX_ID_LEN))
    {
        ngx_kefu_route_fail(kmcf, done, data, NGX_KEFU_ROUTE_BAD_REQUEST,
                            "\"conv\" must be a conversation id");
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/* an actor's call; without memory the caller's callback is told so */

static ngx_kefu_route_call_t *
ngx_kefu_route_start(ngx_kefu_main_conf_t *kmcf, ngx_kefu_script_t *script,
    ngx_kefu_actor_t *actor, ngx_kefu_route_done_pt done, void *data)
{
    ngx_kefu_route_call_t  *call;

    call = ngx_kefu_route_call(kmcf, script, actor->site, actor->session,
                               done, data);
    if (call == NULL) {
        ngx_kefu_route_fail(kmcf, done, data, NGX_KEFU_ROUTE_INTERNAL,
                            "out of memory");
    }

    return call;
}


void
ngx_kefu_route_accept(ngx_kefu_main_conf_t *kmcf, ngx_kefu_actor_t *actor,
    ngx_kefu_route_args_t *args, ngx_kefu_route_done_pt done, void *data)
{
    ngx_kefu_route_call_t  *call;

    if (ngx_kefu_route_may(kmcf, done, data,
                           actor->role == NGX_KEFU_ROLE_AGENT,
                           "only agents accept conversations", &args->conv, 0)
        != NGX_OK)
    {
        return;
    }

    call = ngx_kefu_route_start(kmcf, &ngx_kefu_script_route_accept, actor, done, data);
    if (call == NULL) {
        return;
    }

    (void) ngx_kefu_route_arg(call, actor->id.data, actor->id.len);
    (void) ngx_kefu_route_conv_arg(call, &args->conv);
    (void) ngx_kefu_route_arg(call, actor->name.data, actor->name.len);

    ngx_kefu_route_run(call);
}


static void
ngx_kefu_route_handover(ngx_kefu_main_conf_t *kmcf, ngx_kefu_actor_t *actor,
    ngx_kefu_route_args_t *args, ngx_kefu_route_done_pt done, void *data,
    ngx_uint_t transfer)
{
    ngx_kefu_route_call_t  *call;

    if (ngx_kefu_route_may(kmcf, done, data,
                           actor->role != NGX_KEFU_ROLE_VISITOR
                           && (transfer || actor->supervisor),
                           transfer ? "only agents transfer conversations"
                                    : "only supervisors assign conversations",
                           &args->conv, 0)
        != NGX_OK)
    {
        return;
    }

    if ((args->agent.len == 0) == (args->group.len == 0)
        || (!transfer && args->agent.len == 0))
    {
        ngx_kefu_route_fail(kmcf, done, data, NGX_KEFU_ROUTE_BAD_REQUEST,
                            transfer ? "give either \"agent\" or \"group\""
                                     : "\"agent\" is required");
        return;
    }

    if ((args->agent.len
         && !ngx_kefu_route_valid(&args->agent, NGX_KEFU_MAX_ID_LEN))
        || (args->group.len && !ngx_kefu_route_valid(&args->group, 64)))
    {
        ngx_kefu_route_fail(kmcf, done, data, NGX_KEFU_ROUTE_BAD_REQUEST,
                            args->agent.len ? "\"agent\" must be an agent id"
                                            : "\"group\" must be a group "
                                              "name");
        return;
    }

    call = ngx_kefu_route_start(kmcf, &ngx_kefu_script_route_handover, actor, done, data);
    if (call == NULL) {
        return;
    }

    (void) ngx_kefu_route_conv_arg(call, &args->conv);
    (void) ngx_kefu_route_arg(call, args->agent.data, args->agent.len);
    (void) ngx_kefu_route_arg(call, args->group.data, args->group.len);
    (void) ngx_kefu_route_who(call, actor);
    (void) ngx_kefu_route_arg(call, (u_char *) (actor->supervisor ? "1" : "0"),
                              1);
    (void) ngx_kefu_route_arg(call, (u_char *) (!transfer ? "assign"
                                                : args->queued ? "route"
                                                : "transfer"),
                              !transfer ? 6 : args->queued ? 5 : 8);
    (void) ngx_kefu_route_by(call, actor);
    /* a group the site declares; any other must be in an agent's claims,
     * which the script checks (over the API too: contract v2) */
    (void) ngx_kefu_route_arg(call,
                              (u_char *) (args->group.len
                                          && ngx_kefu_settings_group_known(
                                                 call->site, &args->group)
                                          ? "1" : "0"), 1);

    ngx_kefu_route_run(call);
}


void
ngx_kefu_route_assign(ngx_kefu_main_conf_t *kmcf, ngx_kefu_actor_t *actor,
    ngx_kefu_route_args_t *args, ngx_kefu_route_done_pt done, void *data)
{
    ngx_kefu_route_handover(kmcf, actor, args, done, data, 0);
}


void
ngx_kefu_route_transfer(ngx_kefu_main_conf_t *kmcf, ngx_kefu_actor_t *actor,
    ngx_kefu_route_args_t *args, ngx_kefu_route_done_pt done, void *data)
{
    ngx_kefu_route_handover(kmcf, actor, args, done, data, 1);
}


void
ngx_kefu_route_close(ngx_kefu_main_conf_t *kmcf, ngx_kefu_actor_t *actor,
    ngx_kefu_route_args_t *args, ngx_kefu_route_done_pt done, void *data)
{
    u_char                  buf[NGX_TIME_T_LEN];
    ngx_kefu_route_call_t  *call;

    if (ngx_kefu_route_may(kmcf, done, data,
                           actor->role != NGX_KEFU_ROLE_VISITOR,
                           "only agents close conversations", &args->conv, 0)
        != NGX_OK)
    {
        return;
    }

    call = ngx_kefu_route_start(kmcf, &ngx_kefu_script_route_close, actor, done, data);
    if (call == NULL) {
        return;
    }

    (void) ngx_kefu_route_conv_arg(call, &args->conv);
    (void) ngx_kefu_route_who(call, actor);
    (void) ngx_kefu_route_arg(call, (u_char *) (actor->supervisor ? "1" : "0"),
                              1);
    (void) ngx_kefu_route_by(call, actor);

    /* how long the closed conversation is kept, and its visitor at least */
    (void) ngx_kefu_route_arg(call, buf,
                              ngx_sprintf(buf, "%T", (time_t)
                                          (call->site->retention / 1000))
                              - buf);

    ngx_kefu_route_run(call);
}


/*
 * The idle sweep's close (ngx_kefu_idle.c): by the system, and only if the
 * conversation is still open (or with the bot) and its last event is at
 * or before cut (ms), checked by the script in the same step.
 */

void
ngx_kefu_route_close_idle(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    ngx_str_t *conv, int64_t cut, ngx_str_t *text,
    ngx_kefu_route_done_pt done, void *data)
{
    u_char                  buf[NGX_INT64_LEN];
    ngx_kefu_route_call_t  *call;

    static u_char           by[] = "{\"role\":\"system\",\"reason\":\"idle\"}";

    call = ngx_kefu_route_call(kmcf, &ngx_kefu_script_route_close, site, 0,
                               done, data);
    if (call == NULL) {
        ngx_kefu_route_fail(kmcf, done, data, NGX_KEFU_ROUTE_INTERNAL,
                            "out of memory");
        return;
    }

    (void) ngx_kefu_route_conv_arg(call, conv);
    (void) ngx_kefu_route_arg(call, (u_char *) "y:system", 8);
    (void) ngx_kefu_route_arg(call, (u_char *) "1", 1);
    (void) ngx_kefu_route_arg(call, by, sizeof(by) - 1);
    (void) ngx_kefu_route_arg(call, buf,
                              ngx_sprintf(buf, "%T",
                                          (time_t) (site->retention / 1000))
                              - buf);
    (void) ngx_kefu_route_arg(call, buf, ngx_sprintf(buf, "%L", cut) - buf);
    (void) ngx_kefu_route_arg(call, text->data, text->len);

    ngx_kefu_route_run(call);
}


void
ngx_kefu_route_join(ngx_kefu_main_conf_t *kmcf, ngx_kefu_actor_t *actor,
    ngx_kefu_route_args_t *args, ngx_kefu_route_done_pt done, void *data)
{
    ngx_kefu_route_call_t  *call;

    if (ngx_kefu_route_may(kmcf, done, data,
                           actor->supervisor
                           && actor->role != NGX_KEFU_ROLE_VISITOR,
                           "only supervisors join conversations", &args->conv,
                           0)
        != NGX_OK)
    {
        return;
    }

    call = ngx_kefu_route_start(kmcf, &ngx_kefu_script_route_join, actor, done, data);
    if (call == NULL) {
        return;
    }

    (void) ngx_kefu_route_conv_arg(call, &args->conv);
    (void) ngx_kefu_route_who(call, actor);
    (void) ngx_kefu_route_by(call, actor);

    ngx_kefu_route_run(call);
}


void
ngx_kefu_route_status(ngx_kefu_main_conf_t *kmcf, ngx_kefu_actor_t *actor,
    ngx_kefu_route_args_t *args, ngx_kefu_route_done_pt done, void *data)
{
    ngx_kefu_route_call_t  *call;

    if (actor->role != NGX_KEFU_ROLE_AGENT) {
        ngx_kefu_route_fail(kmcf, done, data, NGX_KEFU_ROUTE_FORBIDDEN,
                            "only agents have a status");
        return;
    }

    if (!((args->state.len == 6
           && ngx_strncmp(args->state.data, "online", 6) == 0)
          || (args->state.len == 4
              && ngx_strncmp(args->state.data, "away", 4) == 0)))
    {
        ngx_kefu_route_fail(kmcf, done, data, NGX_KEFU_ROUTE_BAD_REQUEST,
                            "\"state\" must be online or away");
        return;
    }

    call = ngx_kefu_route_start(kmcf, &ngx_kefu_script_route_status, actor, done, data);
    if (call == NULL) {
        return;
    }

    (void) ngx_kefu_route_arg(call, actor->id.data, actor->id.len);
    (void) ngx_kefu_route_arg(call, args->state.data, args->state.len);

    ngx_kefu_route_run(call);
}


void
ngx_kefu_route_rate(ngx_kefu_main_conf_t *kmcf, ngx_kefu_actor_t *actor,
    ngx_kefu_route_args_t *args, ngx_kefu_route_done_pt done, void *data)
{
    u_char                  score[NGX_INT_T_LEN];
    ngx_kefu_route_call_t  *call;

    if (ngx_kefu_route_may(kmcf, done, data,
                           actor->role == NGX_KEFU_ROLE_VISITOR,
                           "only visitors rate conversations", &args->conv, 1)
        != NGX_OK)
    {
        return;
    }

    if (args->score < 1 || args->score > 5) {
        ngx_kefu_route_fail(kmcf, done, data, NGX_KEFU_ROUTE_BAD_REQUEST,
                            "\"score\" must be an integer from 1 to 5");
        return;
    }

    if (args->comment.len > NGX_KEFU_ROUTE_MAX_COMMENT) {
        ngx_kefu_route_fail(kmcf, done, data, NGX_KEFU_ROUTE_BAD_REQUEST,
                            "\"comment\" must be at most 1000 bytes");
        return;
    }

    call = ngx_kefu_route_start(kmcf, &ngx_kefu_script_route_rate, actor, done, data);
    if (call == NULL) {
        return;
    }

    (void) ngx_kefu_route_arg(call, actor->id.data, actor->id.len);
    (void) ngx_kefu_route_conv_arg(call, &args->conv);
    (void) ngx_kefu_route_arg(call, score,
                              ngx_sprintf(score, "%i", args->score) - score);
    (void) ngx_kefu_route_arg(call, args->comment.data, args->comment.len);

    ngx_kefu_route_run(call);
}


void
ngx_kefu_route_handoff(ngx_kefu_main_conf_t *kmcf, ngx_kefu_actor_t *actor,
    ngx_kefu_route_args_t *args, ngx_kefu_route_done_pt done, void *data)
{
    ngx_str_t               by;
    ngx_kefu_site_rt_t     *rt;
    ngx_kefu_route_call_t  *call;

    if (args->conv.len == 0 && actor->role != NGX_KEFU_ROLE_VISITOR) {
        ngx_kefu_route_fail(kmcf, done, data, NGX_KEFU_ROUTE_BAD_REQUEST,
                            "\"conv\" is required");
        return;
    }

    if (ngx_kefu_route_may(kmcf, done, data, 1, NULL, &args->conv, 1)
        != NGX_OK)
    {
        return;
    }

    by = args->by;

    if (by.len == 0) {
        if (actor->role == NGX_KEFU_ROLE_VISITOR) {
            ngx_str_set(&by, "visitor");

        } else {
            ngx_str_set(&by, "api");
        }
    }

    call = ngx_kefu_route_start(kmcf, &ngx_kefu_script_route_handoff, actor,
                                done, data);
    if (call == NULL) {
        return;
    }

    (void) ngx_kefu_route_conv_arg(call, &args->conv);

    /* a visitor's own conversation only; the others act for the site */
    if (actor->role == NGX_KEFU_ROLE_VISITOR) {
        (void) ngx_kefu_route_who(call, actor);

    } else {
        (void) ngx_kefu_route_arg(call, (u_char *) "", 0);
    }

    (void) ngx_kefu_route_arg(call, by.data, by.len);

    /* a text the call's buffer cannot hold: the built-in one */
    if (ngx_kefu_route_arg(call, args->text.data, args->text.len) != NGX_OK) {
        call->failed = 0;
        (void) ngx_kefu_route_arg(call, (u_char *) "", 0);
    }

    /* outside business hours a queued one is offline (lua/msg.lua) */
    rt = call->site->rt;
    (void) ngx_kefu_route_arg(call, (u_char *) (rt && !rt->open ? "0" : "1"),
                              1);

    ngx_kefu_route_run(call);
}


const char *
ngx_kefu_route_error_code(ngx_int_t code)
{
    switch (code) {
    case NGX_KEFU_ROUTE_OK:
    case NGX_KEFU_ROUTE_NOOP:
        return NULL;
    case NGX_KEFU_ROUTE_BAD_REQUEST:
        return "bad_request";
    case NGX_KEFU_ROUTE_FORBIDDEN:
    case NGX_KEFU_ROUTE_CONFLICT:
        return "forbidden";
    case NGX_KEFU_ROUTE_NOT_FOUND:
        return "not_found";
    case NGX_KEFU_ROUTE_UNAVAILABLE:
        return "unavailable";
    default:
        return "internal";
    }
}


ngx_uint_t
ngx_kefu_route_http_status(ngx_int_t code)
{
    switch (code) {
    case NGX_KEFU_ROUTE_OK:
    case NGX_KEFU_ROUTE_NOOP:
        return NGX_HTTP_OK;
    case NGX_KEFU_ROUTE_BAD_REQUEST:
        return NGX_HTTP_BAD_REQUEST;
    case NGX_KEFU_ROUTE_FORBIDDEN:
        return NGX_HTTP_FORBIDDEN;
    case NGX_KEFU_ROUTE_NOT_FOUND:
        return NGX_HTTP_NOT_FOUND;
    case NGX_KEFU_ROUTE_CONFLICT:
        return NGX_HTTP_CONFLICT;
    case NGX_KEFU_ROUTE_UNAVAILABLE:
        return NGX_HTTP_SERVICE_UNAVAILABLE;
    default:
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }
}
