
/*
 * The client messages' checks that need only the message and its sender
 * (ngx_kefu_validate.h).  Each check keeps the order, the code and the
 * words it had in the handlers, so the wire stays as docs/protocol.md
 * describes it.
 */


#include "ngx_kefu_validate.h"
#include "ngx_kefu_bot.h"


typedef void (*ngx_kefu_req_check_pt)(ngx_kefu_sender_t *s,
    ngx_kefu_req_t *r);

typedef struct {
    const char                  *name;
    ngx_uint_t                   type;
    ngx_kefu_req_check_pt        check;
} ngx_kefu_req_name_t;


static void ngx_kefu_validate_hello(ngx_kefu_sender_t *s, ngx_kefu_req_t *r);
static ngx_int_t ngx_kefu_validate_hello_who(ngx_kefu_req_t *r);
static ngx_int_t ngx_kefu_validate_hello_visitor(ngx_kefu_sender_t *s,
    ngx_kefu_req_t *r);
static ngx_int_t ngx_kefu_validate_hello_group(ngx_kefu_req_t *r);
static ngx_int_t ngx_kefu_validate_hello_status(ngx_kefu_req_t *r);
static void ngx_kefu_validate_msg(ngx_kefu_sender_t *s, ngx_kefu_req_t *r);
static ngx_int_t ngx_kefu_validate_conv(ngx_kefu_req_t *r);
static void ngx_kefu_validate_history(ngx_kefu_sender_t *s,
    ngx_kefu_req_t *r);
static void ngx_kefu_validate_agent(ngx_kefu_sender_t *s, ngx_kefu_req_t *r);
static ngx_int_t ngx_kefu_validate_str(ngx_kefu_req_t *r, const char *name,
    const char *err, ngx_str_t *dst);
static void ngx_kefu_validate_contact(ngx_kefu_sender_t *s,
    ngx_kefu_req_t *r);
static void ngx_kefu_validate_ping(ngx_kefu_sender_t *s,
    ngx_kefu_req_t *r);
static void ngx_kefu_validate_typing(ngx_kefu_sender_t *s,
    ngx_kefu_req_t *r);
static void ngx_kefu_validate_read(ngx_kefu_sender_t *s,
    ngx_kefu_req_t *r);
static void ngx_kefu_validate_page(ngx_kefu_sender_t *s, ngx_kefu_req_t *r);
static void ngx_kefu_validate_handoff(ngx_kefu_sender_t *s,
    ngx_kefu_req_t *r);
static void ngx_kefu_validate_queue(ngx_kefu_sender_t *s, ngx_kefu_req_t *r);
static void ngx_kefu_validate_settings(ngx_kefu_sender_t *s,
    ngx_kefu_req_t *r);
static void ngx_kefu_refuse(ngx_kefu_req_t *r, const char *code,
    const char *message, const char *cid);


/* each message type and its checker */

static ngx_kefu_req_name_t  ngx_kefu_req_names[] = {
    { "ping", NGX_KEFU_REQ_PING, ngx_kefu_validate_ping },
    { "hello", NGX_KEFU_REQ_HELLO, ngx_kefu_validate_hello },
    { "msg", NGX_KEFU_REQ_MSG, ngx_kefu_validate_msg },
    { "typing", NGX_KEFU_REQ_TYPING, ngx_kefu_validate_typing },
    { "read", NGX_KEFU_REQ_READ, ngx_kefu_validate_read },
    { "history", NGX_KEFU_REQ_HISTORY, ngx_kefu_validate_history },
    { "page", NGX_KEFU_REQ_PAGE, ngx_kefu_validate_page },
    { "accept", NGX_KEFU_REQ_ACCEPT, ngx_kefu_validate_agent },
    { "transfer", NGX_KEFU_REQ_TRANSFER, ngx_kefu_validate_agent },
    { "close", NGX_KEFU_REQ_CLOSE, ngx_kefu_validate_agent },
    { "join", NGX_KEFU_REQ_JOIN, ngx_kefu_validate_agent },
    { "status", NGX_KEFU_REQ_STATUS, ngx_kefu_validate_agent },
    { "rate", NGX_KEFU_REQ_RATE, ngx_kefu_validate_agent },
    { "contact", NGX_KEFU_REQ_CONTACT, ngx_kefu_validate_contact },
    { "settings", NGX_KEFU_REQ_SETTINGS, ngx_kefu_validate_settings },
    { "queue", NGX_KEFU_REQ_QUEUE, ngx_kefu_validate_queue },
    { "handoff", NGX_KEFU_REQ_HANDOFF, ngx_kefu_validate_handoff },
    { NULL, 0, NULL }
};


static const char  *ngx_kefu_req_roles[] = {
    NULL, "visitor", "agent", "admin"
};


void
ngx_kefu_validate(u_char *data, size_t len, ngx_kefu_sender_t *sender,
    ngx_kefu_req_t *req)
{
    json_t               *type, *cid;
    const char           *t;
    json_error_t          err;
    ngx_kefu_req_name_t  *n;

    ngx_memzero(req, sizeof(ngx_kefu_req_t));

    req->json = json_loadb((const char *) data, len, 0, &err);

    if (req->json == NULL) {
        ngx_kefu_refuse(req, "bad_request", "malformed JSON", NULL);
        return;
    }

    if (!json_is_object(req->json)) {
        ngx_kefu_refuse(req, "bad_request", "a message is a JSON object",
                        NULL);
        return;
    }

    cid = json_object_get(req->json, "cid");
    req->cid = json_is_string(cid) ? json_string_value(cid) : NULL;

    type = json_object_get(req->json, "type");

    if (!json_is_string(type)) {
        ngx_kefu_refuse(req, "bad_request", "\"type\" must be a string",
                        req->cid);
        return;
    }

    t = json_string_value(type);
    req->type = NGX_KEFU_REQ_UNKNOWN;

    for (n = ngx_kefu_req_names; n->name; n++) {
        if (ngx_strcmp(t, n->name) == 0) {
            req->type = n->type;
            n->check(sender, req);
            return;
        }
    }

    ngx_kefu_refuse(req, "bad_request", "unknown message type", req->cid);
}


static void
ngx_kefu_validate_ping(ngx_kefu_sender_t *sender, ngx_kefu_req_t *req)
{
    req->id = json_object_get(req->json, "id");

    if (req->id && !json_is_string(req->id)) {
        ngx_kefu_refuse(req, "bad_request", "\"id\" must be a string",
                        NULL);
    }
}


static void
ngx_kefu_validate_typing(ngx_kefu_sender_t *sender, ngx_kefu_req_t *req)
{
    json_t  *v;

    v = json_object_get(req->json, "on");

    if (!json_is_boolean(v)) {
        ngx_kefu_refuse(req, "bad_request", "\"on\" must be a boolean",
                        req->cid);
        return;
    }

    req->on = json_is_true(v);
    (void) ngx_kefu_validate_conv(req);
}


static void
ngx_kefu_validate_read(ngx_kefu_sender_t *sender, ngx_kefu_req_t *req)
{
    json_t  *v;

    v = json_object_get(req->json, "seq");

    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        ngx_kefu_refuse(req, "bad_request", "\"seq\" must be a "
                        "non-negative integer", req->cid);
        return;
    }

    req->seq = json_integer_value(v);
    (void) ngx_kefu_validate_conv(req);
}


static void
ngx_kefu_validate_page(ngx_kefu_sender_t *sender, ngx_kefu_req_t *req)
{
    if (sender->role != NGX_KEFU_ROLE_VISITOR) {
        ngx_kefu_refuse(req, "forbidden", "only visitors report pages",
                        req->cid);
        return;
    }

    if (ngx_kefu_page_valid(req->json) != NGX_OK) {
        ngx_kefu_refuse(req, "bad_request", "\"url\" (and \"title\", "
                        "\"referrer\") must be strings of at most 2048 "
                        "bytes", req->cid);
        return;
    }

    req->page = req->json;
}


static void
ngx_kefu_validate_handoff(ngx_kefu_sender_t *sender, ngx_kefu_req_t *req)
{
    /* a visitor asks for a person (docs/automation.md "Handoff") */
    if (sender->role != NGX_KEFU_ROLE_VISITOR) {
        ngx_kefu_refuse(req, "forbidden", "only visitors ask for a "
                        "person (agents accept)", req->cid);
        return;
    }

    if (ngx_kefu_validate_str(req, "conv", "\"conv\" must be a string",
                              &req->conv)
        != NGX_OK)
    {
        return;
    }

    if (req->cid && ngx_strlen(req->cid) > NGX_KEFU_MAX_CID_LEN) {
        ngx_kefu_refuse(req, "bad_request", "\"cid\" must be at most "
                        "64 characters", NULL);
    }
}


static void
ngx_kefu_validate_queue(ngx_kefu_sender_t *sender, ngx_kefu_req_t *req)
{
    if (sender->role == NGX_KEFU_ROLE_VISITOR) {
        ngx_kefu_refuse(req, "forbidden", "only agents see the queue",
                        req->cid);
        return;
    }

    if (req->cid && ngx_strlen(req->cid) > 64) {
        ngx_kefu_refuse(req, "bad_request", "\"cid\" must be at most "
                        "64 characters", NULL);
    }
}


static void
ngx_kefu_validate_settings(ngx_kefu_sender_t *sender, ngx_kefu_req_t *req)
{
    if (sender->role == NGX_KEFU_ROLE_VISITOR) {
        ngx_kefu_refuse(req, "forbidden", "visitors do not read settings",
                        req->cid);
        return;
    }

    req->settings = json_object_get(req->json, "settings");

    if (req->settings == NULL || json_is_null(req->settings)) {
        req->settings = NULL;
        return;
    }

    if (sender->role != NGX_KEFU_ROLE_ADMIN) {
        ngx_kefu_refuse(req, "forbidden", "only admins change settings",
                        req->cid);
    }
}


void
ngx_kefu_validate_free(ngx_kefu_req_t *req)
{
    if (req->buttons) {
        json_decref(req->buttons);
        req->buttons = NULL;
    }

    if (req->json) {
        json_decref(req->json);
        req->json = NULL;
    }
}


/*
 * hello: refusals close the connection (4401), but a visitor's attrs and
 * page are refused before anything is stored and the connection may say
 * hello again.  Whether the site exists, whether it needs a token and what
 * the token says are the handler's.
 */

static void
ngx_kefu_validate_hello(ngx_kefu_sender_t *s, ngx_kefu_req_t *r)
{
    json_t      *v;
    const char  *p;

    if (ngx_kefu_validate_hello_who(r) != NGX_OK) {
        return;
    }

    if (r->role == NGX_KEFU_ROLE_VISITOR
        && ngx_kefu_validate_hello_visitor(s, r) != NGX_OK)
    {
        return;
    }

    if (ngx_kefu_validate_hello_group(r) != NGX_OK) {
        return;
    }

    /* a visitor's language, for the site's texts: zh unless en* */
    v = json_object_get(r->json, "lang");
    r->lang_en = json_is_string(v)
                 && ngx_strncasecmp((u_char *) json_string_value(v),
                                    (u_char *) "en", 2) == 0;

    if (ngx_kefu_validate_hello_status(r) != NGX_OK) {
        return;
    }

    v = json_object_get(r->json, "token");

    if (v && !json_is_null(v)) {
        if (!json_is_string(v)) {
            ngx_kefu_refuse(r, "unauthorized", "\"token\" must be a string",
                            r->cid);
            r->close = 1;
            return;
        }

        r->token = v;
    }

    /* the name counts only where the token gives none: refused there */
    v = json_object_get(r->json, "name");

    if (v && !json_is_null(v)) {
        p = json_is_string(v) ? json_string_value(v) : NULL;

        if (p == NULL || ngx_strlen(p) > NGX_KEFU_MAX_ID_LEN) {
            r->name_bad = 1;

        } else {
            r->name = v;
        }
    }

    v = json_object_get(r->json, "resume");
    r->resume = json_is_object(v) ? v : NULL;
}


/* who says hello: the site and the role, both required */

static ngx_int_t
ngx_kefu_validate_hello_who(ngx_kefu_req_t *r)
{
    json_t      *v;
    ngx_uint_t   i;

    v = json_object_get(r->json, "site");

    if (!json_is_string(v)) {
        ngx_kefu_refuse(r, "unauthorized", "\"site\" must be a string",
                        r->cid);
        r->close = 1;
        return NGX_ERROR;
    }

    r->site.data = (u_char *) json_string_value(v);
    r->site.len = ngx_strlen(r->site.data);

    v = json_object_get(r->json, "role");

    if (json_is_string(v)) {
        for (i = 1; i < sizeof(ngx_kefu_req_roles) / sizeof(char *); i++) {
            if (ngx_strcmp(json_string_value(v), ngx_kefu_req_roles[i]) == 0)
            {
                r->role = i;
                break;
            }
        }
    }

    if (r->role == 0) {
        ngx_kefu_refuse(r, "unauthorized", "\"role\" must be visitor, agent "
                        "or admin", r->cid);
        r->close = 1;
        return NGX_ERROR;
    }

    return NGX_OK;
}


/* what only a visitor tells: its attributes and the page it is on */

static ngx_int_t
ngx_kefu_validate_hello_visitor(ngx_kefu_sender_t *s, ngx_kefu_req_t *r)
{
    json_t  *v;

    v = json_object_get(r->json, "attrs");

    if (v && !json_is_null(v)) {
        if (!json_is_object(v)) {
            ngx_kefu_refuse(r, "bad_request", "\"attrs\" must be an "
                            "object", r->cid);
            return NGX_ERROR;
        }

        if (json_dumpb(v, NULL, 0, JSON_COMPACT) > s->max_attrs) {
            ngx_kefu_refuse(r, "too_large", "\"attrs\" is too large",
                            r->cid);
            return NGX_ERROR;
        }

        r->attrs = v;
    }

    v = json_object_get(r->json, "page");

    if (v && !json_is_null(v)) {
        if (ngx_kefu_page_valid(v) != NGX_OK) {
            ngx_kefu_refuse(r, "bad_request", "\"page\" must be an object "
                            "with \"url\" (and \"title\", \"referrer\"), "
                            "strings of at most 2048 bytes", r->cid);
            return NGX_ERROR;
        }

        r->page = v;
    }

    return NGX_OK;
}


/* where a visitor's new conversation goes: empty for the default */

static ngx_int_t
ngx_kefu_validate_hello_group(ngx_kefu_req_t *r)
{
    json_t  *v;

    v = json_object_get(r->json, "group");

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (!json_is_string(v)
        || json_string_length(v) > NGX_KEFU_MAX_GROUP_LEN
        || ngx_kefu_valid_id((u_char *) json_string_value(v),
                             json_string_length(v))
           != NGX_OK)
    {
        ngx_kefu_refuse(r, "unauthorized", "\"group\" must be a group "
                        "name", r->cid);
        r->close = 1;
        return NGX_ERROR;
    }

    r->group.data = (u_char *) json_string_value(v);
    r->group.len = json_string_length(v);

    return NGX_OK;
}


/* an agent's availability on its first connection (default away) */

static ngx_int_t
ngx_kefu_validate_hello_status(ngx_kefu_req_t *r)
{
    json_t  *v;

    v = json_object_get(r->json, "status");

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (!json_is_string(v)
        || (ngx_strcmp(json_string_value(v), "online") != 0
            && ngx_strcmp(json_string_value(v), "away") != 0))
    {
        ngx_kefu_refuse(r, "unauthorized", "\"status\" must be online or "
                        "away", r->cid);
        r->close = 1;
        return NGX_ERROR;
    }

    r->status = (json_string_value(v)[0] == 'o') ? 1 : 2;

    return NGX_OK;
}


static void
ngx_kefu_validate_msg(ngx_kefu_sender_t *s, ngx_kefu_req_t *r)
{
    size_t   len;
    json_t  *text, *conv, *priv, *v;

    len = r->cid ? ngx_strlen(r->cid) : 0;

    if (len == 0 || len > NGX_KEFU_MAX_CID_LEN) {
        ngx_kefu_refuse(r, "bad_request", "\"cid\" must be a string of 1-64 "
                        "characters", NULL);
        return;
    }

    text = json_object_get(r->json, "text");
    r->attachment = json_object_get(r->json, "attachment");

    if (json_is_null(r->attachment)) {
        r->attachment = NULL;
    }

    /* with an attachment, "text" may be empty or absent */
    if (!(json_is_string(text) && json_string_length(text) > 0)
        && !(r->attachment && (text == NULL || json_is_string(text))))
    {
        ngx_kefu_refuse(r, "bad_request", "\"text\" must be a non-empty "
                        "string", r->cid);
        return;
    }

    if (text && json_string_length(text) > s->max_text) {
        ngx_kefu_refuse(r, "too_large", "\"text\" is too long", r->cid);
        return;
    }

    r->text = text;

    conv = json_object_get(r->json, "conv");

    if (conv && !json_is_null(conv)
        && (!json_is_string(conv)
            || ngx_kefu_valid_id((u_char *) json_string_value(conv),
                                 json_string_length(conv))
               != NGX_OK))
    {
        ngx_kefu_refuse(r, "bad_request", "\"conv\" must be a conversation "
                        "id", r->cid);
        return;
    }

    if (!json_is_string(conv) && s->role != NGX_KEFU_ROLE_VISITOR) {
        ngx_kefu_refuse(r, "bad_request", "\"conv\" is required", r->cid);
        return;
    }

    if (json_is_string(conv)) {
        r->conv.data = (u_char *) json_string_value(conv);
        r->conv.len = json_string_length(conv);
    }

    priv = json_object_get(r->json, "private");

    if (priv && !json_is_boolean(priv)) {
        ngx_kefu_refuse(r, "bad_request", "\"private\" must be a boolean",
                        r->cid);
        return;
    }

    r->private = json_is_true(priv);

    if (r->private && s->role == NGX_KEFU_ROLE_VISITOR) {
        ngx_kefu_refuse(r, "forbidden", "visitors cannot send private notes",
                        r->cid);
        return;
    }

    /* buttons: an agent's (or a bot's) message only */
    v = json_object_get(r->json, "buttons");

    if (v == NULL || json_is_null(v)) {
        return;
    }

    if (s->role == NGX_KEFU_ROLE_VISITOR) {
        ngx_kefu_refuse(r, "bad_request", "\"buttons\" are for an agent's "
                        "or a bot's message", r->cid);
        return;
    }

    r->buttons = ngx_kefu_buttons_check(v, "buttons", r->errbuf,
                                        sizeof(r->errbuf));
    if (r->buttons == NULL) {
        ngx_kefu_refuse(r, "bad_request", (char *) r->errbuf, r->cid);
    }
}


/* typing and read: "conv" a string when given (membership is checked later) */

static ngx_int_t
ngx_kefu_validate_conv(ngx_kefu_req_t *r)
{
    json_t  *v;

    v = json_object_get(r->json, "conv");

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (!json_is_string(v)) {
        ngx_kefu_refuse(r, "bad_request", "\"conv\" must be a string",
                        r->cid);
        return NGX_DECLINED;
    }

    r->conv.data = (u_char *) json_string_value(v);
    r->conv.len = json_string_length(v);

    return NGX_OK;
}


static void
ngx_kefu_validate_history(ngx_kefu_sender_t *sender, ngx_kefu_req_t *r)
{
    json_t  *b, *l, *v;

    b = json_object_get(r->json, "before");
    l = json_object_get(r->json, "limit");

    if ((b && !json_is_null(b)
         && (!json_is_integer(b) || json_integer_value(b) < 1))
        || (l && !json_is_null(l)
            && (!json_is_integer(l) || json_integer_value(l) < 1)))
    {
        ngx_kefu_refuse(r, "bad_request", "\"before\" and \"limit\" must be "
                        "positive integers", r->cid);
        return;
    }

    r->before = json_is_integer(b) ? json_integer_value(b) : 0;
    r->limit = json_is_integer(l)
               ? (ngx_uint_t) ngx_min(json_integer_value(l),
                                      NGX_KEFU_HISTORY_MAX)
               : NGX_KEFU_HISTORY_LIMIT;

    /* a conversation that cannot exist looks like another's */
    v = json_object_get(r->json, "conv");

    if (json_is_string(v)
        && ngx_kefu_valid_id((u_char *) json_string_value(v),
                             json_string_length(v))
           != NGX_OK)
    {
        ngx_kefu_refuse(r, "forbidden", "not your conversation", r->cid);
        return;
    }

    (void) ngx_kefu_validate_conv(r);
}


/* accept, transfer, close, join, status, rate */

static void
ngx_kefu_validate_agent(ngx_kefu_sender_t *s, ngx_kefu_req_t *r)
{
    json_t      *v;
    ngx_uint_t   t;

    static const char  *who[] = {
        "only agents accept conversations",
        "only agents transfer conversations",
        "only agents close conversations",
        "only supervisors join conversations",
        "only agents have a status",
        "only visitors rate conversations"
    };

    t = r->type;

    /* the contract's roles first: a visitor's agent action is forbidden */
    if ((t == NGX_KEFU_REQ_RATE) != (s->role == NGX_KEFU_ROLE_VISITOR)
        || (t == NGX_KEFU_REQ_ACCEPT && s->role != NGX_KEFU_ROLE_AGENT)
        || (t == NGX_KEFU_REQ_STATUS && s->role != NGX_KEFU_ROLE_AGENT)
        || (t == NGX_KEFU_REQ_JOIN && !s->supervisor))
    {
        ngx_kefu_refuse(r, "forbidden", who[t - NGX_KEFU_REQ_ACCEPT], r->cid);
        return;
    }

    if (ngx_kefu_validate_str(r, "conv", "\"conv\" must be a string",
                              &r->conv) != NGX_OK
        || ngx_kefu_validate_str(r, "agent", "\"agent\" must be a string",
                                 &r->agent) != NGX_OK
        || ngx_kefu_validate_str(r, "group", "\"group\" must be a string",
                                 &r->group) != NGX_OK
        || ngx_kefu_validate_str(r, "state", "\"state\" must be a string",
                                 &r->state) != NGX_OK
        || ngx_kefu_validate_str(r, "comment", "\"comment\" must be a string",
                                 &r->comment) != NGX_OK)
    {
        return;
    }

    if (t == NGX_KEFU_REQ_RATE) {
        v = json_object_get(r->json, "score");

        if (!json_is_integer(v)) {
            ngx_kefu_refuse(r, "bad_request", "\"score\" must be an integer "
                            "from 1 to 5", r->cid);
            return;
        }

        /* out of range is the router's to say (0 and 6 stand for it) */
        r->score = (ngx_int_t) ngx_max(ngx_min(json_integer_value(v), 6), 0);
    }

    if (r->cid && ngx_strlen(r->cid) > NGX_KEFU_MAX_CID_LEN) {
        ngx_kefu_refuse(r, "bad_request", "\"cid\" must be at most 64 "
                        "characters", NULL);
    }
}


/* an optional string field */

static ngx_int_t
ngx_kefu_validate_str(ngx_kefu_req_t *r, const char *name, const char *err,
    ngx_str_t *dst)
{
    json_t  *v;

    v = json_object_get(r->json, name);

    if (v == NULL || json_is_null(v)) {
        return NGX_OK;
    }

    if (!json_is_string(v)) {
        ngx_kefu_refuse(r, "bad_request", err, r->cid);
        return NGX_DECLINED;
    }

    dst->data = (u_char *) json_string_value(v);
    dst->len = json_string_length(v);

    return NGX_OK;
}


/* a visitor's name, e-mail and phone: at least one, each bounded */

static void
ngx_kefu_validate_contact(ngx_kefu_sender_t *s, ngx_kefu_req_t *r)
{
    size_t       len, i;
    json_t      *v, **dst[3];
    ngx_uint_t   k;
    const char  *p;

    static const char    *fields[] = { "name", "email", "phone" };
    static const size_t   max[] = { NGX_KEFU_CONTACT_NAME,
                                    NGX_KEFU_CONTACT_EMAIL,
                                    NGX_KEFU_CONTACT_PHONE };
    static const char    *err[] = {
        "\"name\" must be a string of at most 128 bytes",
        "\"email\" must be an e-mail address",
        "\"phone\" must be a phone number: digits, spaces, + - ( ), "
        "at most 32"
    };

    if (s->role != NGX_KEFU_ROLE_VISITOR) {
        ngx_kefu_refuse(r, "forbidden", "only visitors leave contact "
                        "details", r->cid);
        return;
    }

    dst[0] = &r->name;
    dst[1] = &r->email;
    dst[2] = &r->phone;

    for (k = 0; k < 3; k++) {
        v = json_object_get(r->json, fields[k]);

        if (v == NULL || json_is_null(v)
            || (json_is_string(v) && json_string_length(v) == 0))
        {
            continue;
        }

        p = json_is_string(v) ? json_string_value(v) : NULL;
        len = p ? json_string_length(v) : 0;

        if (p == NULL || len > max[k]
            || (k == 1 && (ngx_strchr(p, '@') == NULL || p[0] == '@'
                           || p[len - 1] == '@')))
        {
            ngx_kefu_refuse(r, "bad_request", err[k], r->cid);
            return;
        }

        if (k == 2) {
            for (i = 0; i < len; i++) {
                if (!((p[i] >= '0' && p[i] <= '9') || p[i] == ' '
                      || p[i] == '+' || p[i] == '-' || p[i] == '('
                      || p[i] == ')'))
                {
                    ngx_kefu_refuse(r, "bad_request", err[k], r->cid);
                    return;
                }
            }
        }

        *dst[k] = v;
    }

    if (r->name == NULL && r->email == NULL && r->phone == NULL) {
        ngx_kefu_refuse(r, "bad_request", "give at least one of \"name\", "
                        "\"email\", \"phone\"", r->cid);
    }
}


/* a page: "url", optional "title" and "referrer", each a bounded string */

ngx_int_t
ngx_kefu_page_valid(json_t *page)
{
    json_t      *v;
    ngx_uint_t   i;
    static const char  *fields[] = { "url", "title", "referrer" };

    if (!json_is_object(page)) {
        return NGX_DECLINED;
    }

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        v = json_object_get(page, fields[i]);

        if (i == 0 && (!json_is_string(v) || json_string_length(v) == 0)) {
            return NGX_DECLINED;
        }

        if (v == NULL || json_is_null(v)) {
            continue;
        }

        if (!json_is_string(v) || json_string_length(v) > NGX_KEFU_MAX_URL) {
            return NGX_DECLINED;
        }
    }

    return NGX_OK;
}


static void
ngx_kefu_refuse(ngx_kefu_req_t *r, const char *code, const char *message,
    const char *cid)
{
    r->code = code;
    r->message = message;
    r->error_cid = cid;
}
