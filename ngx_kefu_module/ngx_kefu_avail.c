
/*
 * Availability (contract v2, "Availability: business hours and offline"):
 * whether a visitor's site is open (business hours) and whether its group
 * has someone online, with the texts to show.  Each worker knows both per
 * site (ngx_kefu_settings.c); when either changes, its visitors whose
 * values changed are told.  And the visitor's contact details, left when
 * nobody can answer now.
 */


#include "ngx_kefu_conv.h"
#include "ngx_kefu_settings.h"
#include "ngx_kefu_search.h"
#include "ngx_kefu_script_args.h"
#include "ngx_kefu_bot.h"
#include "ngx_kefu_app.h"




static void ngx_kefu_avail_tell(ngx_kefu_ws_t *ws, void *force);
static void ngx_kefu_avail_values(ngx_kefu_ws_t *ws, ngx_uint_t *open,
    ngx_uint_t *online);
static void ngx_kefu_contact_handler(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static ngx_int_t ngx_kefu_contact_agent(void *ctx, char *conv, size_t len);
static void ngx_kefu_contact_notice(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_contact_sent(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data);


static void
ngx_kefu_avail_values(ngx_kefu_ws_t *ws, ngx_uint_t *open,
    ngx_uint_t *online)
{
    ngx_kefu_site_rt_t  *rt = ws->site->rt;

    if (rt == NULL) {
        *open = 1;
        *online = 1;
        return;
    }

    *open = rt->open;

    /* before the first answer from Redis nothing is claimed either way */
    *online = !rt->known
              || json_object_getn(rt->online, (char *) ws->group.data,
                                  ws->group.len) != NULL;
}


/* {"type":"availability","open","online","welcome","offline"} */

json_t *
ngx_kefu_avail_json(ngx_kefu_ws_t *ws)
{
    ngx_uint_t           open, online, bot;
    ngx_kefu_site_rt_t  *rt = ws->site->rt;

    ngx_kefu_avail_values(ws, &open, &online);

    ws->avail_sent = 1;
    ws->avail_open = open;
    ws->avail_online = online;

    /*
     * The site's bot answers a new conversation of the visitor's group
     * (bot.enabled, bot.groups): the widget says so rather than "nobody
     * can answer" before the visitor writes.  It changes with the
     * settings, and those are sent again to everyone.
     */
    bot = rt && ngx_kefu_bot_starts(rt->bot, &ws->group);

    return json_pack("{s:s,s:b,s:b,s:b,s:s,s:s}", "type", "availability",
                     "open", (int) open, "online", (int) online,
                     "bot", (int) bot,
                     "welcome", ngx_kefu_settings_text(ws->site, ws->lang_en,
                                                       "welcome"),
                     "offline", ngx_kefu_settings_text(ws->site, ws->lang_en,
                                                       "offline"));
}


/* inside the site's business hours */

ngx_uint_t
ngx_kefu_avail_open(ngx_kefu_ws_t *ws)
{
    ngx_kefu_site_rt_t  *rt = ws->site->rt;

    return rt == NULL || rt->open;
}


/*
 * The site's hours, its online groups or its settings changed: each
 * visitor of this worker on that site whose values changed (all of them,
 * with force: the texts may have) is sent availability again.  A walk over
 * the worker's sessions, once per change and not per message.
 */

void
ngx_kefu_avail_changed(ngx_kefu_site_rt_t *rt, ngx_uint_t force)
{
    ngx_kefu_local_each(rt->kmcf, rt->site, ngx_kefu_avail_tell,
                        force ? (void *) 1 : NULL);
}


/* a visitor told of availability before is told again if it changed */

static void
ngx_kefu_avail_tell(ngx_kefu_ws_t *ws, void *force)
{
    json_t      *a;
    ngx_uint_t   open, online;

    if (ws->role != NGX_KEFU_ROLE_VISITOR || !ws->avail_sent) {
        return;
    }

    ngx_kefu_avail_values(ws, &open, &online);

    if (!force && open == ws->avail_open && online == ws->avail_online) {
        return;
    }

    a = ngx_kefu_avail_json(ws);

    if (a) {
        if (force) {
            json_object_set_new(a, "settings",
                                ngx_kefu_settings_public(ws->site));
        }

        (void) ngx_kefu_app_send(ws, a);
        json_decref(a);
    }
}


/* the contact message: name?, email?, phone? */

/*
 * Contact details, in two steps because they live in two slots: the
 * visitor's record and the site's event stream (lua/contact.lua, the
 * site's slot), then, if the visitor has an open conversation, its agent
 * read from the conversation's hash (its own slot) and told on its
 * channel.  The notice is a courtesy (the details are stored and shown
 * with the visitor wherever agents look): a worker that dies in between,
 * or a Redis that refuses the read, only costs the agent that notice.
 */

typedef struct {
    uint64_t                     sid;
    json_t                      *contact;
    ngx_kefu_main_conf_t        *kmcf;
    ngx_kefu_site_t             *site;
    ngx_str_t                    conv;
    size_t                       vid_len;
    u_char                       vid[NGX_KEFU_MAX_ID_LEN];
    u_char                       cid[65];
    u_char                       convbuf[NGX_KEFU_MAX_ID_LEN];
} ngx_kefu_contact_ctx_t;


/* the details are checked already (ngx_kefu_validate.c) */

void
ngx_kefu_contact(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    char                    *j;
    json_t                  *c, *v;
    ngx_str_t                contact, name;
    const char              *cid;
    ngx_kefu_call_t          call;
    ngx_kefu_contact_ctx_t  *ctx;

    cid = req->cid;

    c = json_object();
    if (c == NULL) {
        return;
    }

    if (req->name) {
        json_object_set(c, "name", req->name);
    }

    if (req->email) {
        json_object_set(c, "email", req->email);
    }

    if (req->phone) {
        json_object_set(c, "phone", req->phone);
    }

    j = json_dumps(c, JSON_COMPACT);
    ctx = ngx_calloc(sizeof(ngx_kefu_contact_ctx_t), ws->connection->log);

    if (j == NULL || ctx == NULL || ws->user_id.len > NGX_KEFU_MAX_ID_LEN) {
        free(j);
        ngx_free(ctx);
        json_decref(c);
        return;
    }

    ctx->sid = ws->session_id;
    ctx->contact = c;
    ctx->kmcf = ws->main_conf;
    ctx->site = ws->site;
    ctx->vid_len = ws->user_id.len;
    ngx_memcpy(ctx->vid, ws->user_id.data, ws->user_id.len);

    if (cid) {
        ngx_cpystrn(ctx->cid, (u_char *) cid, sizeof(ctx->cid));
    }

    v = json_object_get(c, "name");

    contact.data = (u_char *) j;
    contact.len = ngx_strlen(j);
    name.data = v ? (u_char *) json_string_value(v) : NULL;
    name.len = v ? json_string_length(v) : 0;

    if (ngx_kefu_contact_args(&call, &ws->site->name, &ws->user_id, &contact,
                              ngx_kefu_now_ms(), &name)
        != NGX_OK
        || ngx_kefu_redis_eval_call(ws->main_conf->redis,
                                    &ngx_kefu_script_contact,
                                    ngx_kefu_contact_handler, ctx, &call)
           != NGX_OK)
    {
        json_decref(c);
        ngx_free(ctx);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable", cid);

    } else {
        /* found by search by what it left, too */
        ngx_kefu_search_index_visitor(ws->main_conf, ws->site, &ws->user_id,
                                      ws->name.len ? &ws->name : NULL, c);
    }

    free(j);
}


static void
ngx_kefu_contact_handler(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_contact_ctx_t  *ctx = data;

    json_t         *m;
    const char     *cid;
    ngx_kefu_ws_t  *ws;

    ws = ngx_kefu_local_session(ctx->kmcf, ctx->sid);
    cid = ctx->cid[0] ? (char *) ctx->cid : NULL;

    if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
        if (ws) {
            ngx_kefu_app_error(ws, "unavailable", "storage is unavailable",
                               cid);
        }

        goto done;
    }

    /* stored: the visitor's connections are told what the agents see */
    m = ws ? json_deep_copy(ctx->contact) : NULL;

    if (m) {
        json_object_set_new(m, "type", json_string("contact"));

        if (cid) {
            json_object_set_new(m, "cid", json_string(cid));
        }

        (void) ngx_kefu_app_send(ws, m);
        json_decref(m);
    }

    /* then the agent of its open conversation, read in that one's slot */
    if (reply->len && reply->len <= NGX_KEFU_MAX_ID_LEN
        && ngx_kefu_contact_agent(ctx, reply->str, reply->len) == NGX_OK)
    {
        return;
    }

done:

    json_decref(ctx->contact);
    ngx_free(ctx);
}


static ngx_int_t
ngx_kefu_contact_agent(void *data, char *conv, size_t len)
{
    ngx_kefu_contact_ctx_t  *ctx = data;

    u_char       key[sizeof("kefu:{c:}") + NGX_KEFU_MAX_ID_LEN];
    size_t       lens[4];
    const char  *argv[4];

    ctx->conv.data = ctx->convbuf;
    ctx->conv.len = len;
    ngx_memcpy(ctx->convbuf, conv, len);

    argv[0] = "HMGET";
    lens[0] = 5;
    argv[1] = (char *) key;
    lens[1] = ngx_sprintf(key, "kefu:{c:%V}", &ctx->conv) - key;
    argv[2] = "agent";
    lens[2] = 5;
    argv[3] = "state";
    lens[3] = 5;

    return ngx_kefu_redis_command(ctx->kmcf->redis,
                                  ngx_kefu_contact_notice, ctx, 4, argv,
                                  lens);
}


/* the agent hears of the details as before the split: a "conv" notice */

static void
ngx_kefu_contact_notice(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    ngx_kefu_contact_ctx_t  *ctx = data;

    u_char       *ch;
    char         *s;
    size_t        lens[3], n;
    json_t       *v, *t;
    ngx_str_t     payload;
    const char   *argv[3];
    redisReply  **e;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_STRING)
    {
        goto done;
    }

    e = reply->element;

    v = json_pack("{s:s%,s:O}", "id", ctx->vid, ctx->vid_len,
                  "contact", ctx->contact);
    if (v && json_object_get(ctx->contact, "name")) {
        json_object_set(v, "name", json_object_get(ctx->contact, "name"));
    }

    t = v ? json_pack("{s:s,s:s%,s:s%,s:s,s:o}", "type", "conv",
                      "conv", ctx->conv.data, ctx->conv.len,
                      "state", e[1]->type == REDIS_REPLY_STRING ? e[1]->str
                                                                : "",
                      e[1]->type == REDIS_REPLY_STRING ? e[1]->len
                                                       : (size_t) 0,
                      "reason", "contact", "visitor", v)
          : NULL;

    s = t ? json_dumps(t, JSON_COMPACT) : NULL;
    json_decref(t);

    n = sizeof(NGX_KEFU_CH_SITE "}:u:a:") + ctx->site->name.len
        + e[0]->len;
    ch = s ? ngx_alloc(n + sizeof("-|u|0|") + ngx_strlen(s), ngx_cycle->log)
           : NULL;

    if (ch) {
        payload.data = ngx_sprintf(ch, NGX_KEFU_CH_SITE "%V}:u:a:%*s",
                                   &ctx->site->name, e[0]->len, e[0]->str);
        payload.len = ngx_sprintf(payload.data, "-|u|0|%s", s)
                      - payload.data;

        argv[0] = "PUBLISH";
        lens[0] = 7;
        argv[1] = (char *) ch;
        lens[1] = payload.data - ch;
        argv[2] = (char *) payload.data;
        lens[2] = payload.len;

        /* the layer copies the command: the buffers go at once */
        (void) ngx_kefu_redis_command(ctx->kmcf->redis,
                                      ngx_kefu_contact_sent, NULL, 3, argv,
                                      lens);
        ngx_free(ch);
    }

    free(s);

done:

    json_decref(ctx->contact);
    ngx_free(ctx);
}


static void
ngx_kefu_contact_sent(ngx_kefu_redis_t *rd, redisReply *reply, void *data)
{
    /* fire and forget, as a published notice is */
}
