
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




static void ngx_kefu_avail_values(ngx_kefu_ws_t *ws, ngx_uint_t *open,
    ngx_uint_t *online);
static void ngx_kefu_contact_handler(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);


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
    ngx_uint_t  open, online;

    ngx_kefu_avail_values(ws, &open, &online);

    ws->avail_sent = 1;
    ws->avail_open = open;
    ws->avail_online = online;

    return json_pack("{s:s,s:b,s:b,s:s,s:s}", "type", "availability",
                     "open", (int) open, "online", (int) online,
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
    json_t             *a;
    ngx_uint_t          open, online;
    ngx_kefu_ws_t      *ws;
    ngx_rbtree_node_t  *node, *root, *sentinel;

    if (rt->kmcf->local == NULL) {
        return;
    }

    root = rt->kmcf->local->sessions.root;
    sentinel = rt->kmcf->local->sessions.sentinel;

    if (root == sentinel) {
        return;
    }

    for (node = ngx_rbtree_min(root, sentinel);
         node;
         node = ngx_rbtree_next(&rt->kmcf->local->sessions, node))
    {
        ws = (ngx_kefu_ws_t *) ((u_char *) node
                                - offsetof(ngx_kefu_ws_t, session_node));

        if (ws->role != NGX_KEFU_ROLE_VISITOR || ws->site != rt->site
            || !ws->avail_sent)
        {
            continue;
        }

        ngx_kefu_avail_values(ws, &open, &online);

        if (!force && open == ws->avail_open && online == ws->avail_online) {
            continue;
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
}


/* the contact message: name?, email?, phone? */

typedef struct {
    uint64_t                     sid;
    json_t                      *contact;
    u_char                       cid[65];
} ngx_kefu_contact_ctx_t;


/* the details are checked already (ngx_kefu_validate.c) */

void
ngx_kefu_contact(ngx_kefu_ws_t *ws, ngx_kefu_req_t *req)
{
    char                    *j;
    u_char                   ts[NGX_INT64_LEN];
    size_t                   lens[5];
    json_t                  *c, *v;
    const char              *argv[5], *cid;
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

    if (j == NULL || ctx == NULL) {
        free(j);
        ngx_free(ctx);
        json_decref(c);
        return;
    }

    ctx->sid = ws->session_id;
    ctx->contact = c;

    if (cid) {
        ngx_cpystrn(ctx->cid, (u_char *) cid, sizeof(ctx->cid));
    }

    v = json_object_get(c, "name");

    argv[0] = (char *) ws->site->name.data;
    lens[0] = ws->site->name.len;
    argv[1] = (char *) ws->user_id.data;
    lens[1] = ws->user_id.len;
    argv[2] = j;
    lens[2] = ngx_strlen(j);
    argv[3] = (char *) ts;
    lens[3] = ngx_sprintf(ts, "%L", ngx_kefu_now_ms()) - ts;
    argv[4] = v ? json_string_value(v) : "";
    lens[4] = v ? json_string_length(v) : 0;

    if (ngx_kefu_redis_eval(ws->main_conf->redis, &ngx_kefu_script_contact,
                            ngx_kefu_contact_handler, ctx, 0, 5, argv, lens)
        != NGX_OK)
    {
        json_decref(c);
        ngx_free(ctx);
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable", cid);
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

    ws = ngx_kefu_local_session(ngx_kefu_redis_main_conf(rd), ctx->sid);
    cid = ctx->cid[0] ? (char *) ctx->cid : NULL;

    if (ws == NULL) {
        goto done;
    }

    if (reply == NULL || reply->type != REDIS_REPLY_STRING) {
        ngx_kefu_app_error(ws, "unavailable", "storage is unavailable", cid);
        goto done;
    }

    /* stored: the visitor's connections are told what the agents see */
    m = json_deep_copy(ctx->contact);

    if (m) {
        json_object_set_new(m, "type", json_string("contact"));

        if (cid) {
            json_object_set_new(m, "cid", json_string(cid));
        }

        (void) ngx_kefu_app_send(ws, m);
        json_decref(m);
    }

done:

    json_decref(ctx->contact);
    ngx_free(ctx);
}
