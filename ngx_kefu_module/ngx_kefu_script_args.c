
/*
 * Script arguments by name (ngx_kefu_script_args.h): the builders.  Numbers
 * are written as decimal strings here, never by the scripts
 * (lua/lib/num.lua).
 */


#include "ngx_kefu.h"
#include "ngx_kefu_script_args.h"
#include "ngx_kefu_upload.h"


#define ngx_kefu_arg(out, i, s)                                               \
    (out)->argv[i] = (s)->len ? (const char *) (s)->data : "";                \
    (out)->lens[i] = (s)->len

#define ngx_kefu_arg_c(out, i, c)                                             \
    (out)->argv[i] = (c);                                                     \
    (out)->lens[i] = sizeof(c) - 1

#define ngx_kefu_arg_fmt(out, i, buf, fmt, v)                                 \
    (out)->argv[i] = (const char *) (buf);                                    \
    (out)->lens[i] = ngx_snprintf(buf, sizeof(buf), fmt, v) - (buf)

/* a flag's one of two constants of one length: yes when f, else no */
#define ngx_kefu_arg_pick(out, i, f, yes, no)                                 \
    (out)->argv[i] = (f) ? (yes) : (no);                                      \
    (out)->lens[i] = sizeof(yes) - 1


static void ngx_kefu_call_init(ngx_kefu_call_t *c);
static int ngx_kefu_event_put_keys(ngx_kefu_event_put_call_t *c,
    ngx_str_t *site, ngx_kefu_event_put_t *e, ngx_uint_t n);
static int ngx_kefu_event_put_argv(ngx_kefu_event_put_call_t *c, int k,
    ngx_str_t *site, ngx_kefu_event_put_t *e, ngx_uint_t n);
static void ngx_kefu_call_key(ngx_kefu_call_t *c, char tag, ngx_str_t *id,
    const char *suffix);
static void ngx_kefu_call_visitor_key(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *visitor, const char *suffix);
static void ngx_kefu_call_route_key(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *conv);
static void ngx_kefu_call_str(ngx_kefu_call_t *c, ngx_str_t *s);
static u_char *ngx_kefu_terms_call_alloc(ngx_kefu_terms_call_t *c,
    ngx_uint_t argc, size_t bytes);
static u_char *ngx_kefu_terms_call_fmt(ngx_kefu_terms_call_t *c,
    ngx_uint_t key, u_char *p, const char *fmt, ...);
static void ngx_kefu_terms_call_str(ngx_kefu_terms_call_t *c, ngx_str_t *s);
static size_t ngx_kefu_strs_bytes(ngx_str_t *s, ngx_uint_t n);
static u_char *ngx_kefu_terms_call_filters(ngx_kefu_terms_call_t *c,
    u_char *p, ngx_str_t *filter, ngx_uint_t nf);
static size_t ngx_kefu_terms_call_bytes(ngx_str_t *site, ngx_str_t *term,
    ngx_uint_t n);
static void ngx_kefu_call_int(ngx_kefu_call_t *c, int64_t n);
static ngx_int_t ngx_kefu_call_done(ngx_kefu_call_t *c);


static void
ngx_kefu_call_init(ngx_kefu_call_t *c)
{
    c->nkeys = 0;
    c->argc = 0;
    c->pos = c->buf;
    c->overflow = 0;
}


/* a key "kefu:{<tag>:<id>}<suffix>": the tag is the hash slot's */

static void
ngx_kefu_call_key(ngx_kefu_call_t *c, char tag, ngx_str_t *id,
    const char *suffix)
{
    size_t  n;

    n = sizeof("kefu:{x:}") - 1 + id->len + ngx_strlen(suffix);

    if (c->argc != c->nkeys || c->argc == NGX_KEFU_CALL_ARGS
        || (size_t) (c->buf + NGX_KEFU_CALL_BUF - c->pos) < n)
    {
        c->overflow = 1;
        return;
    }

    c->argv[c->argc] = (const char *) c->pos;
    c->lens[c->argc] = n;
    c->pos = ngx_sprintf(c->pos, "kefu:{%c:%V}%s", tag, id, suffix);
    c->argc++;
    c->nkeys++;
}


static void
ngx_kefu_call_str(ngx_kefu_call_t *c, ngx_str_t *s)
{
    if (c->argc == NGX_KEFU_CALL_ARGS) {
        c->overflow = 1;
        return;
    }

    c->argv[c->argc] = s->len ? (const char *) s->data : "";
    c->lens[c->argc] = s->len;
    c->argc++;
}


/* numbers go as decimal strings (lua/lib/num.lua) */

static void
ngx_kefu_call_int(ngx_kefu_call_t *c, int64_t n)
{
    if (c->argc == NGX_KEFU_CALL_ARGS
        || (size_t) (c->buf + NGX_KEFU_CALL_BUF - c->pos) < NGX_INT64_LEN)
    {
        c->overflow = 1;
        return;
    }

    c->argv[c->argc] = (const char *) c->pos;
    c->pos = ngx_sprintf(c->pos, "%L", n);
    c->lens[c->argc] = c->pos - (u_char *) c->argv[c->argc];
    c->argc++;
}


static ngx_int_t
ngx_kefu_call_done(ngx_kefu_call_t *c)
{
    return c->overflow ? NGX_ERROR : NGX_OK;
}


/* KEYS: the log; ARGV: conv, from, "+", count */

ngx_int_t
ngx_kefu_range_args(ngx_kefu_call_t *c, ngx_str_t *conv, uint64_t from,
    ngx_uint_t count)
{
    ngx_str_t  plus = ngx_string("+");

    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 'c', conv, ":log");
    ngx_kefu_call_str(c, conv);
    ngx_kefu_call_int(c, (int64_t) from);
    ngx_kefu_call_str(c, &plus);
    ngx_kefu_call_int(c, (int64_t) count);

    return ngx_kefu_call_done(c);
}


/* KEYS: the conversation, its log; ARGV: conv, who, seq, session (hex),
 * head */

ngx_int_t
ngx_kefu_read_args(ngx_kefu_call_t *c, ngx_str_t *conv, ngx_str_t *who,
    int64_t seq, uint64_t session, ngx_str_t *head)
{
    ngx_str_t  s;

    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 'c', conv, "");
    ngx_kefu_call_key(c, 'c', conv, ":log");
    ngx_kefu_call_str(c, conv);
    ngx_kefu_call_str(c, who);
    ngx_kefu_call_int(c, seq);

    if (c->buf + NGX_KEFU_CALL_BUF - c->pos < 16) {
        return NGX_ERROR;
    }

    s.data = c->pos;
    c->pos = ngx_sprintf(c->pos, "%016xL", session);
    s.len = c->pos - s.data;
    ngx_kefu_call_str(c, &s);
    ngx_kefu_call_str(c, head);

    return ngx_kefu_call_done(c);
}


/* KEYS: the settings; ARGV: site */

ngx_int_t
ngx_kefu_settings_get_args(ngx_kefu_call_t *c, ngx_str_t *site)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":settings");
    ngx_kefu_call_str(c, site);

    return ngx_kefu_call_done(c);
}


/* KEYS: the settings, the event stream; ARGV: site, doc, ts, by */

ngx_int_t
ngx_kefu_settings_put_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *doc, int64_t ts, ngx_str_t *by)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":settings");
    ngx_kefu_call_key(c, 's', site, ":events");
    ngx_kefu_call_str(c, site);
    ngx_kefu_call_str(c, doc);
    ngx_kefu_call_int(c, ts);
    ngx_kefu_call_str(c, by);

    return ngx_kefu_call_done(c);
}


/* KEYS: the site's agents; ARGV: site, now (ms), grace (ms) */

ngx_int_t
ngx_kefu_avail_args(ngx_kefu_call_t *c, ngx_str_t *site, int64_t now,
    ngx_msec_t grace)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":agents");
    ngx_kefu_call_str(c, site);
    ngx_kefu_call_int(c, now);
    ngx_kefu_call_int(c, (int64_t) grace);

    return ngx_kefu_call_done(c);
}


/*
 * KEYS: the visitor, the site's event stream; ARGV: site, visitor id,
 * contact, ts, name
 */

ngx_int_t
ngx_kefu_contact_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *visitor, ngx_str_t *contact, int64_t ts, ngx_str_t *name)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_visitor_key(c, site, visitor, "");
    ngx_kefu_call_key(c, 's', site, ":events");
    ngx_kefu_call_str(c, site);
    ngx_kefu_call_str(c, visitor);
    ngx_kefu_call_str(c, contact);
    ngx_kefu_call_int(c, ts);
    ngx_kefu_call_str(c, name);

    return ngx_kefu_call_done(c);
}


/* KEYS: the site's agents; ARGV: site */

ngx_int_t
ngx_kefu_api_agents_args(ngx_kefu_call_t *c, ngx_str_t *site)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":agents");
    ngx_kefu_call_str(c, site);

    return ngx_kefu_call_done(c);
}


/*
 * KEYS: the conversation, its log; ARGV: site, conv, before, after ("" for
 * none), limit
 */

ngx_int_t
ngx_kefu_api_log_args(ngx_kefu_call_t *c, ngx_str_t *site, ngx_str_t *conv,
    int64_t before, int64_t after, int64_t limit, ngx_str_t *reader)
{
    ngx_str_t  none = ngx_null_string;

    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 'c', conv, "");
    ngx_kefu_call_key(c, 'c', conv, ":log");
    ngx_kefu_call_key(c, 'c', conv, ":joined");
    ngx_kefu_call_str(c, site);
    ngx_kefu_call_str(c, conv);

    if (before >= 0) {
        ngx_kefu_call_int(c, before);

    } else {
        ngx_kefu_call_str(c, &none);
    }

    if (after >= 0) {
        ngx_kefu_call_int(c, after);

    } else {
        ngx_kefu_call_str(c, &none);
    }

    ngx_kefu_call_int(c, limit);

    if (reader && reader->len) {
        ngx_kefu_call_str(c, reader);
    }

    return ngx_kefu_call_done(c);
}


/*
 * KEYS: the file's references, the site's files, the visitor's uploads of
 * the hour (a visitor's only); ARGV: site, sha, owner, visitor ("" for
 * none), hour, due (ms)
 */

ngx_int_t
ngx_kefu_upload_done_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *sha, ngx_str_t *owner, ngx_str_t *visitor, int64_t hour,
    int64_t due)
{
    u_char  suffix[sizeof(":file:") + NGX_KEFU_SHA256_HEX],
            tail[sizeof(":uploads:") + NGX_INT64_LEN];

    ngx_kefu_call_init(c);

    if (sha->len > NGX_KEFU_SHA256_HEX) {
        return NGX_ERROR;
    }

    *ngx_snprintf(suffix, sizeof(suffix) - 1, ":file:%V", sha) = '\0';
    ngx_kefu_call_key(c, 's', site, (char *) suffix);
    ngx_kefu_call_key(c, 's', site, ":files");

    if (visitor->len) {
        *ngx_snprintf(tail, sizeof(tail) - 1, ":uploads:%L", hour) = '\0';
        ngx_kefu_call_visitor_key(c, site, visitor, (char *) tail);
    }

    ngx_kefu_call_str(c, site);
    ngx_kefu_call_str(c, sha);
    ngx_kefu_call_str(c, owner);
    ngx_kefu_call_str(c, visitor);
    ngx_kefu_call_int(c, hour);
    ngx_kefu_call_int(c, due);

    return ngx_kefu_call_done(c);
}


/* a key of the site's slot named after a participant: "<who><tail>" */

static void
ngx_kefu_call_who_key(ngx_kefu_call_t *c, ngx_str_t *site, ngx_str_t *who,
    const char *tail)
{
    u_char  suffix[sizeof(":") + NGX_KEFU_MAX_ID_LEN + 2 + 32];

    if (who->len > NGX_KEFU_MAX_ID_LEN + 2 || ngx_strlen(tail) > 31) {
        c->overflow = 1;
        return;
    }

    *ngx_snprintf(suffix, sizeof(suffix) - 1, ":%V%s", who, tail) = '\0';
    ngx_kefu_call_key(c, 's', site, (char *) suffix);
}


/*
 * a visitor's key "kefu:{s:<site>}:v:<visitor><suffix>" (visitor: its id),
 * for every builder that names one: the suffix is at most ":uploads:"
 * and an hour
 */

static void
ngx_kefu_call_visitor_key(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *visitor, const char *suffix)
{
    u_char  tail[sizeof(":v::uploads:") + NGX_KEFU_MAX_ID_LEN
                 + NGX_INT64_LEN];

    if (visitor->len > NGX_KEFU_MAX_ID_LEN
        || ngx_strlen(suffix) > sizeof(":uploads:") - 1 + NGX_INT64_LEN)
    {
        c->overflow = 1;
        return;
    }

    *ngx_snprintf(tail, sizeof(tail) - 1, ":v:%V%s", visitor, suffix)
        = '\0';
    ngx_kefu_call_key(c, 's', site, (const char *) tail);
}


/* a conversation's routing record, "kefu:{s:<site>}:r:<conv>" */

static void
ngx_kefu_call_route_key(ngx_kefu_call_t *c, ngx_str_t *site, ngx_str_t *conv)
{
    u_char  suffix[sizeof(":r:") + NGX_KEFU_MAX_ID_LEN];

    if (conv->len > NGX_KEFU_MAX_ID_LEN) {
        c->overflow = 1;
        return;
    }

    *ngx_snprintf(suffix, sizeof(suffix) - 1, ":r:%V", conv) = '\0';
    ngx_kefu_call_key(c, 's', site, (const char *) suffix);
}


/* KEYS: the participant's conversations, its open ones; ARGV: role */

ngx_int_t
ngx_kefu_summaries_args(ngx_kefu_call_t *c, ngx_str_t *site, ngx_str_t *who,
    ngx_str_t *role)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_who_key(c, site, who, ":convs");
    ngx_kefu_call_who_key(c, site, who, ":open");
    ngx_kefu_call_str(c, role);

    return ngx_kefu_call_done(c);
}


/* KEYS: the conversation; ARGV: conv, who, role */

ngx_int_t
ngx_kefu_summary_args(ngx_kefu_call_t *c, ngx_str_t *conv, ngx_str_t *who,
    ngx_str_t *role)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 'c', conv, "");
    ngx_kefu_call_str(c, conv);
    ngx_kefu_call_str(c, who);
    ngx_kefu_call_str(c, role);

    return ngx_kefu_call_done(c);
}


/*
 * KEYS: the conversation, its log, its joined set; ARGV: conv, before (""
 * for the end), limit, visitor ("1": no private notes); for a reader not
 * a member (site not NULL): site, who, role, listed
 */

ngx_int_t
ngx_kefu_history_args(ngx_kefu_call_t *c, ngx_str_t *conv, int64_t before,
    ngx_uint_t limit, ngx_uint_t visitor, ngx_str_t *site, ngx_str_t *who,
    ngx_str_t *role, ngx_uint_t listed)
{
    ngx_str_t  none = ngx_null_string, one = ngx_string("1"),
               zero = ngx_string("0");

    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 'c', conv, "");
    ngx_kefu_call_key(c, 'c', conv, ":log");
    ngx_kefu_call_key(c, 'c', conv, ":joined");
    ngx_kefu_call_str(c, conv);

    if (before > 0) {
        ngx_kefu_call_int(c, before);

    } else {
        ngx_kefu_call_str(c, &none);
    }

    ngx_kefu_call_int(c, (int64_t) limit);
    ngx_kefu_call_str(c, visitor ? &one : &zero);

    if (site) {
        ngx_kefu_call_str(c, site);
        ngx_kefu_call_str(c, who);
        ngx_kefu_call_str(c, role);
        ngx_kefu_call_str(c, listed ? &one : &zero);
    }

    return ngx_kefu_call_done(c);
}


/* KEYS: the agent's conversations; ARGV: conv */

ngx_int_t
ngx_kefu_history_check_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *who, ngx_str_t *conv)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_who_key(c, site, who, ":convs");
    ngx_kefu_call_str(c, conv);

    return ngx_kefu_call_done(c);
}


/* KEYS: the conversation, its assignments, its joined set; ARGV: site,
 * conv, reader? (an agent's "a:<id>") */

ngx_int_t
ngx_kefu_api_conv_args(ngx_kefu_call_t *c, ngx_str_t *site, ngx_str_t *conv,
    ngx_str_t *reader)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 'c', conv, "");
    ngx_kefu_call_key(c, 'c', conv, ":assignments");
    ngx_kefu_call_key(c, 'c', conv, ":joined");
    ngx_kefu_call_str(c, site);
    ngx_kefu_call_str(c, conv);

    if (reader && reader->len) {
        ngx_kefu_call_str(c, reader);
    }

    return ngx_kefu_call_done(c);
}


/* KEYS: a visitor's hash, its page trail (visitor: its id) */

ngx_int_t
ngx_kefu_api_visitor_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *visitor)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_visitor_key(c, site, visitor, "");
    ngx_kefu_call_visitor_key(c, site, visitor, ":pages");

    return ngx_kefu_call_done(c);
}


/* KEYS: the visitor's hash, its uploads of the hour; ARGV: conv, quota */

ngx_int_t
ngx_kefu_upload_check_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *visitor, ngx_str_t *conv, ngx_int_t quota, int64_t hour)
{
    u_char  tail[sizeof(":uploads:") + NGX_INT64_LEN];

    *ngx_snprintf(tail, sizeof(tail) - 1, ":uploads:%L", hour) = '\0';

    ngx_kefu_call_init(c);
    ngx_kefu_call_visitor_key(c, site, visitor, "");
    ngx_kefu_call_visitor_key(c, site, visitor, (char *) tail);
    ngx_kefu_call_str(c, conv);
    ngx_kefu_call_int(c, quota);

    return ngx_kefu_call_done(c);
}


/* KEYS: the conversation, its joined set; ARGV: site, role, id, conv */

ngx_int_t
ngx_kefu_upload_owner_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *role, ngx_str_t *id, ngx_str_t *conv)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 'c', conv, "");
    ngx_kefu_call_key(c, 'c', conv, ":joined");
    ngx_kefu_call_str(c, site);
    ngx_kefu_call_str(c, role);
    ngx_kefu_call_str(c, id);
    ngx_kefu_call_str(c, conv);

    return ngx_kefu_call_done(c);
}


/* KEYS: the conversation; ARGV: the fields wanted (C strings) */

ngx_int_t
ngx_kefu_conv_fields_args(ngx_kefu_call_t *c, ngx_str_t *conv,
    const char **fields, ngx_uint_t n)
{
    ngx_uint_t  i;
    ngx_str_t   f;

    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 'c', conv, "");

    for (i = 0; i < n; i++) {
        f.data = (u_char *) fields[i];
        f.len = ngx_strlen(fields[i]);
        ngx_kefu_call_str(c, &f);
    }

    return ngx_kefu_call_done(c);
}


/* KEYS: the group's queue; ARGV: limit */

ngx_int_t
ngx_kefu_api_queue_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *group, int64_t limit)
{
    ngx_str_t  q;
    u_char     name[sizeof("q:") + NGX_KEFU_MAX_ID_LEN];

    if (group->len > NGX_KEFU_MAX_ID_LEN) {
        return NGX_ERROR;
    }

    q.data = name;
    q.len = ngx_sprintf(name, "q:%V", group) - name;

    ngx_kefu_call_init(c);
    ngx_kefu_call_who_key(c, site, &q, "");
    ngx_kefu_call_int(c, limit);

    return ngx_kefu_call_done(c);
}


/* KEYS: the site's conversations; ARGV: since ("" for -1), cursor, count */

ngx_int_t
ngx_kefu_api_list_args(ngx_kefu_call_t *c, ngx_str_t *site, int64_t since,
    ngx_str_t *cursor, int64_t count)
{
    ngx_str_t  none = ngx_null_string;

    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":convs");

    if (since >= 0) {
        ngx_kefu_call_int(c, since);

    } else {
        ngx_kefu_call_str(c, &none);
    }

    ngx_kefu_call_str(c, cursor);
    ngx_kefu_call_int(c, count);

    return ngx_kefu_call_done(c);
}


/*
 * KEYS: the sweep's state, the site's conversations, its events; ARGV:
 * now, retention, batch, lease (ms)
 */

ngx_int_t
ngx_kefu_retain_sweep_args(ngx_kefu_call_t *c, ngx_str_t *site, int64_t now,
    ngx_msec_t retention, ngx_uint_t batch, ngx_msec_t lease)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":retain");
    ngx_kefu_call_key(c, 's', site, ":convs");
    ngx_kefu_call_key(c, 's', site, ":events");
    ngx_kefu_call_int(c, now);
    ngx_kefu_call_int(c, (int64_t) retention);
    ngx_kefu_call_int(c, (int64_t) batch);
    ngx_kefu_call_int(c, (int64_t) lease);

    return ngx_kefu_call_done(c);
}


/*
 * KEYS: the site's conversations, its counts; ARGV: n conversations gone
 * (at most NGX_KEFU_RETAIN_DROP_MAX a call)
 */

ngx_int_t
ngx_kefu_retain_drop_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *convs, ngx_uint_t n)
{
    ngx_uint_t  i;

    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":convs");
    ngx_kefu_call_key(c, 's', site, ":counts");
    ngx_kefu_call_key(c, 's', site, ":ev");

    for (i = 0; i < n; i++) {
        ngx_kefu_call_str(c, &convs[i]);
    }

    return ngx_kefu_call_done(c);
}


/* KEYS: the conversation's hash, log, joined, assignments; ARGV: secs */

ngx_int_t
ngx_kefu_retain_heal_args(ngx_kefu_call_t *c, ngx_str_t *conv, time_t secs)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 'c', conv, "");
    ngx_kefu_call_key(c, 'c', conv, ":log");
    ngx_kefu_call_key(c, 'c', conv, ":joined");
    ngx_kefu_call_key(c, 'c', conv, ":assignments");
    ngx_kefu_call_int(c, (int64_t) secs);

    return ngx_kefu_call_done(c);
}


/*
 * KEYS: the conversation's routing record, then (a visitor given) the
 * visitor's record, index, page trail; ARGV: secs, the retention (s)
 */

ngx_int_t
ngx_kefu_retain_heal_site_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *conv, ngx_str_t *visitor, time_t secs, time_t retention)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_route_key(c, site, conv);

    if (visitor->len) {
        ngx_kefu_call_visitor_key(c, site, visitor, "");
        ngx_kefu_call_visitor_key(c, site, visitor, ":convs");
        ngx_kefu_call_visitor_key(c, site, visitor, ":pages");
    }

    ngx_kefu_call_int(c, (int64_t) secs);
    ngx_kefu_call_int(c, (int64_t) retention);

    return ngx_kefu_call_done(c);
}


/*
 * KEYS: the idle sweep's state, the site's conversations; ARGV: now,
 * idle_close, batch, lease (ms), the worker's token
 */

ngx_int_t
ngx_kefu_idle_sweep_args(ngx_kefu_call_t *c, ngx_str_t *site, int64_t now,
    ngx_msec_t idle, ngx_uint_t batch, ngx_msec_t lease, ngx_str_t *token)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":idle");
    ngx_kefu_call_key(c, 's', site, ":convs");
    ngx_kefu_call_int(c, now);
    ngx_kefu_call_int(c, (int64_t) idle);
    ngx_kefu_call_int(c, (int64_t) batch);
    ngx_kefu_call_int(c, (int64_t) lease);
    ngx_kefu_call_str(c, token);

    return ngx_kefu_call_done(c);
}


/* KEYS: the idle sweep's state; ARGV: the worker's token, cursor, more */

ngx_int_t
ngx_kefu_idle_done_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *token, ngx_str_t *cursor, ngx_uint_t more)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":idle");
    ngx_kefu_call_str(c, token);
    ngx_kefu_call_str(c, cursor);
    ngx_kefu_call_int(c, more ? 1 : 0);

    return ngx_kefu_call_done(c);
}


/* KEYS: the site's files, the sweep's lease; ARGV: now, batch, next, lease */

ngx_int_t
ngx_kefu_upload_sweep_args(ngx_kefu_call_t *c, ngx_str_t *site, int64_t now,
    ngx_uint_t batch, ngx_msec_t next, ngx_msec_t lease)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":files");
    ngx_kefu_call_key(c, 's', site, ":files:sweep");
    ngx_kefu_call_int(c, now);
    ngx_kefu_call_int(c, (int64_t) batch);
    ngx_kefu_call_int(c, (int64_t) next);
    ngx_kefu_call_int(c, (int64_t) lease);

    return ngx_kefu_call_done(c);
}


/*
 * KEYS: the site's files, the file's references; ARGV: sha, n conversations
 * gone (at most NGX_KEFU_UPLOAD_REAP_MAX a call)
 */

ngx_int_t
ngx_kefu_upload_reap_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *sha, ngx_str_t *convs, ngx_uint_t n)
{
    u_char      suffix[sizeof(":file:") + NGX_KEFU_SHA256_HEX];
    ngx_uint_t  i;

    if (sha->len > NGX_KEFU_SHA256_HEX) {
        return NGX_ERROR;
    }

    *ngx_snprintf(suffix, sizeof(suffix) - 1, ":file:%V", sha) = '\0';

    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":files");
    ngx_kefu_call_key(c, 's', site, (char *) suffix);
    ngx_kefu_call_str(c, sha);

    for (i = 0; i < n; i++) {
        ngx_kefu_call_str(c, &convs[i]);
    }

    return ngx_kefu_call_done(c);
}


/* KEYS: the group's queue; ARGV: limit */

ngx_int_t
ngx_kefu_queue_args(ngx_kefu_call_t *c, ngx_str_t *site, ngx_str_t *group,
    ngx_uint_t limit, ngx_uint_t bots)
{
    ngx_str_t  q;
    u_char     name[sizeof("b:") + NGX_KEFU_MAX_ID_LEN];

    if (!bots) {
        return ngx_kefu_api_queue_args(c, site, group, (int64_t) limit);
    }

    /* the group's bot conversations (lua/lib/bot.lua), listed alike */
    if (group->len > NGX_KEFU_MAX_ID_LEN) {
        return NGX_ERROR;
    }

    q.data = name;
    q.len = ngx_sprintf(name, "b:%V", group) - name;

    ngx_kefu_call_init(c);
    ngx_kefu_call_who_key(c, site, &q, "");
    ngx_kefu_call_int(c, (int64_t) limit);

    return ngx_kefu_call_done(c);
}


/* KEYS: the conversation, its log; ARGV: conv */

ngx_int_t
ngx_kefu_queue_item_args(ngx_kefu_call_t *c, ngx_str_t *conv)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 'c', conv, "");
    ngx_kefu_call_key(c, 'c', conv, ":log");
    ngx_kefu_call_str(c, conv);

    return ngx_kefu_call_done(c);
}


/*
 * KEYS: the group's queue (bot list), the visitor's hash and pages (a
 * visitor known); ARGV: site, conv, group, position, since, offline, last,
 * visitor, "1" for a bot conversation
 */

ngx_int_t
ngx_kefu_queue_entry_args(ngx_kefu_call_t *c, ngx_kefu_queue_entry_t *e)
{
    u_char     q[2 + NGX_KEFU_MAX_ID_LEN];
    ngx_str_t  g;

    if (e->group.len > NGX_KEFU_MAX_ID_LEN) {
        return NGX_ERROR;
    }

    g.data = q;
    g.len = ngx_sprintf(q, "%c:%V", e->bot ? 'b' : 'q', &e->group) - q;

    ngx_kefu_call_init(c);
    ngx_kefu_call_who_key(c, &e->site, &g, "");

    if (e->visitor.len) {
        ngx_kefu_call_visitor_key(c, &e->site, &e->visitor, "");
        ngx_kefu_call_visitor_key(c, &e->site, &e->visitor, ":pages");
    }

    ngx_kefu_call_str(c, &e->site);
    ngx_kefu_call_str(c, &e->conv);
    ngx_kefu_call_str(c, &e->group);
    ngx_kefu_call_int(c, (int64_t) e->position);
    ngx_kefu_call_str(c, &e->since);
    ngx_kefu_call_str(c, &e->offline);
    ngx_kefu_call_str(c, &e->last);
    ngx_kefu_call_str(c, &e->visitor);
    ngx_kefu_call_int(c, e->bot ? 1 : 0);
    ngx_kefu_call_str(c, &e->labels);

    return ngx_kefu_call_done(c);
}


/* KEYS: the conversation; ARGV: seq, "1" a miss or "0" */

ngx_int_t
ngx_kefu_bot_miss_args(ngx_kefu_call_t *c, ngx_str_t *conv, uint64_t seq,
    ngx_uint_t miss)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 'c', conv, "");
    ngx_kefu_call_int(c, (int64_t) seq);
    ngx_kefu_call_int(c, miss ? 1 : 0);

    return ngx_kefu_call_done(c);
}


/* KEYS: the site's bot conversations, the sweep's lease */

ngx_int_t
ngx_kefu_bot_sweep_args(ngx_kefu_call_t *c, ngx_str_t *site, int64_t now,
    ngx_msec_t idle, ngx_msec_t lease, ngx_uint_t batch)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":bots");
    ngx_kefu_call_key(c, 's', site, ":bots:lease");
    ngx_kefu_call_int(c, now);
    ngx_kefu_call_int(c, (int64_t) idle);
    ngx_kefu_call_int(c, (int64_t) lease);
    ngx_kefu_call_int(c, (int64_t) batch);

    return ngx_kefu_call_done(c);
}


/* KEYS: the site's bot conversations; ARGV: conv, ms pairs, added after */

ngx_int_t
ngx_kefu_bot_touch_args(ngx_kefu_call_t *c, ngx_str_t *site)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":bots");

    return c->overflow ? NGX_ERROR : NGX_OK;
}


void
ngx_kefu_bot_touch_add(ngx_kefu_call_t *c, ngx_str_t *conv, ngx_str_t *ms)
{
    ngx_kefu_call_str(c, conv);
    ngx_kefu_call_str(c, ms);
}


/* KEYS: the site's counts, its groups; ARGV: site, default group */

ngx_int_t
ngx_kefu_status_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *default_group)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":counts");
    ngx_kefu_call_key(c, 's', site, ":groups");
    ngx_kefu_call_str(c, site);
    ngx_kefu_call_str(c, default_group);

    return ngx_kefu_call_done(c);
}


/*
 * KEYS: the site's denylist; ARGV: member ("j:<jti>", "s:<sub>"), until,
 * now (ms), the most entries, the channel, the notice's head ("<site>
 * <kind>"), the value
 */

ngx_int_t
ngx_kefu_revoke_add_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *member, int64_t until, int64_t now, ngx_uint_t max,
    ngx_str_t *head, ngx_str_t *value)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":revoked");
    ngx_kefu_call_str(c, member);
    ngx_kefu_call_int(c, until);
    ngx_kefu_call_int(c, now);
    ngx_kefu_call_int(c, (int64_t) max);
    ngx_kefu_call_str(c, head);
    ngx_kefu_call_str(c, value);

    return ngx_kefu_call_done(c);
}


/* KEYS: the owner's canned replies; ARGV: op, key, document, the most */

ngx_int_t
ngx_kefu_canned_args(ngx_kefu_call_t *c, ngx_str_t *site, ngx_str_t *owner,
    ngx_str_t *op, ngx_str_t *key, ngx_str_t *doc, ngx_uint_t max)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_who_key(c, site, owner, ":canned");
    ngx_kefu_call_str(c, op);
    ngx_kefu_call_str(c, key);
    ngx_kefu_call_str(c, doc);
    ngx_kefu_call_int(c, (int64_t) max);

    return ngx_kefu_call_done(c);
}


/* the string fields of msg's arguments, for copying them whole */
#define ngx_kefu_msg_strings(a)                                               \
    { &(a)->site, &(a)->who, &(a)->role, &(a)->conv, &(a)->cid,               \
      &(a)->head, &(a)->tail, &(a)->group, &(a)->session, &(a)->ids,          \
      &(a)->target, &(a)->event, &(a)->greeting, &(a)->file,                \
      &(a)->default_group, &(a)->visitor }


/*
 * The ARGV of lua/msg.lua, lua/open.lua and lua/route_new.lua (argv + 1),
 * and the visitor's key that open and route_new take as KEYS[1] (argv[0]).
 * The ids are written afresh on every call: a run refused for a
 * conversation id already taken goes again with new ones.
 */

void
ngx_kefu_msg_argv(ngx_kefu_msg_args_t *a, ngx_kefu_msg_argv_t *out)
{
    ngx_kefu_arg(out, 1, &a->site);
    ngx_kefu_arg(out, 2, &a->who);
    ngx_kefu_arg(out, 3, &a->role);
    ngx_kefu_arg(out, 4, &a->conv);
    ngx_kefu_arg(out, 5, &a->cid);
    ngx_kefu_arg_fmt(out, 6, out->id, "%uL", a->id);
    ngx_kefu_arg_fmt(out, 7, out->newconv, "%uL", a->newconv);
    ngx_kefu_arg_fmt(out, 8, out->ts, "%L", a->ts);
    ngx_kefu_arg(out, 9, &a->head);
    ngx_kefu_arg_fmt(out, 10, out->mid, "\",\"id\":\"%uL\",\"seq\":", a->id);
    ngx_kefu_arg(out, 11, &a->tail);
    ngx_kefu_arg_pick(out, 12, a->private, "1", "0");
    ngx_kefu_arg(out, 13, &a->group);
    ngx_kefu_arg_fmt(out, 14, out->ttl, "%T", a->dedup_ttl);
    ngx_kefu_arg_fmt(out, 15, out->log_max, "%i", a->log_max);
    ngx_kefu_arg(out, 16, &a->session);
    ngx_kefu_arg(out, 17, &a->ids);
    ngx_kefu_arg_fmt(out, 18, out->grace, "%M", a->grace);
    ngx_kefu_arg(out, 19, &a->target);
    ngx_kefu_arg(out, 20, &a->event);
    ngx_kefu_arg_pick(out, 21, a->open, "1", "0");

    if (a->greeting.len) {
        ngx_kefu_arg_fmt(out, 22, out->gmid, "\",\"id\":\"%uL\",\"seq\":",
                         a->greeting_id);

    } else {
        ngx_kefu_arg_c(out, 22, "");
    }

    ngx_kefu_arg(out, 23, &a->greeting);
    ngx_kefu_arg_pick(out, 24, a->closed_hours, "0", "1");
    ngx_kefu_arg(out, 25, &a->file);

    /* a group the site does not declare: the default one unless an agent
     * claims it; how long an idle visitor is kept */
    ngx_kefu_arg_pick(out, 26, a->group_known, "1", "0");
    ngx_kefu_arg(out, 27, &a->default_group);
    if (a->visitor_ttl) {
        ngx_kefu_arg_fmt(out, 28, out->vttl, "%T", a->visitor_ttl);

    } else {
        /* not due for renewal: msg leaves the record's expiry alone */
        ngx_kefu_arg_c(out, 28, "");
    }

    /* a visitor's message that named no conversation: one closed is not
     * where it goes (nor where its cid is looked up) */
    ngx_kefu_arg_pick(out, 29, a->implicit, "1", "0");

    /* a visitor's new conversation starts with the bot: of either group */
    ngx_kefu_arg_pick(out, 30, a->bot, "1", "0");
    ngx_kefu_arg_pick(out, 31, a->bot_default, "1", "0");

    /* open, route_new: "2", a cluster (routing in two steps, as
     * ngx_kefu_route_call()'s mode) */
    ngx_kefu_arg_pick(out, 32, a->cluster, "2", "1");

    out->argc = NGX_KEFU_MSG_ARGS;

    /* KEYS[1] of open and route_new: the visitor's record, in the site's
     * slot (the sender, or the API's target) */
    out->argv[0] = (const char *) out->key;
    out->lens[0] = ngx_snprintf(out->key, sizeof(out->key),
                                "kefu:{s:%V}:v:%V", &a->site,
                                a->target.len ? &a->target : &a->visitor)
                   - out->key;
}


/* the bytes of the string fields, to keep a call for running again */

size_t
ngx_kefu_msg_args_size(ngx_kefu_msg_args_t *a)
{
    size_t       size;
    ngx_uint_t   i;
    ngx_str_t   *s[] = ngx_kefu_msg_strings(a);

    size = 0;

    for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        size += s[i]->len;
    }

    return size;
}


/* the string fields copied to p (ngx_kefu_msg_args_size() bytes) */

u_char *
ngx_kefu_msg_args_copy(ngx_kefu_msg_args_t *a, u_char *p)
{
    ngx_uint_t   i;
    ngx_str_t   *s[] = ngx_kefu_msg_strings(a);

    for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        if (s[i]->len) {
            ngx_memcpy(p, s[i]->data, s[i]->len);
        }

        s[i]->data = p;
        p += s[i]->len;
    }

    return p;
}


/*
 * KEYS: the site's marks, its stream, its convs index, its erased
 * conversations (erase_mark's); then per message
 * the visitor's record (a visitor kept alive), the file's references (a
 * file), the routing record (a message that is not a duplicate's check
 * nor a note: the queue's preview).  ARGV: site, then per message conv, prev, visitor ttl, file, seq,
 * name, ts, JSON.
 */

ngx_int_t
ngx_kefu_event_put_args(ngx_kefu_event_put_call_t *c, ngx_str_t *site,
    ngx_kefu_event_put_t *e, ngx_uint_t n)
{
    ngx_uint_t  i;

    if (n > NGX_KEFU_EVENT_PUT_MAX || site->len > NGX_KEFU_MAX_ID_LEN) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        if (e[i].visitor.len > NGX_KEFU_MAX_ID_LEN
            || e[i].file.len > NGX_KEFU_MAX_ID_LEN
            || e[i].conv.len > NGX_KEFU_MAX_ID_LEN)
        {
            return NGX_ERROR;
        }
    }

    c->nkeys = ngx_kefu_event_put_keys(c, site, e, n);
    c->argc = ngx_kefu_event_put_argv(c, c->nkeys, site, e, n);

    return NGX_OK;
}


/* event_put's KEYS, in the order its header lists them; their number */

static int
ngx_kefu_event_put_keys(ngx_kefu_event_put_call_t *c, ngx_str_t *site,
    ngx_kefu_event_put_t *e, ngx_uint_t n)
{
    int          k;
    u_char      *b;
    ngx_uint_t   i;

    k = 0;

#define ngx_kefu_ep_key(fmt, ...)                                             \
    b = c->keys[k];                                                           \
    c->argv[k] = (const char *) b;                                            \
    c->lens[k] = ngx_snprintf(b, sizeof(c->keys[0]), fmt, __VA_ARGS__) - b;  \
    k++

    ngx_kefu_ep_key("kefu:{s:%V}:ev", site);
    ngx_kefu_ep_key("kefu:{s:%V}:events", site);
    ngx_kefu_ep_key("kefu:{s:%V}:convs", site);
    ngx_kefu_ep_key("kefu:{s:%V}:erased", site);

    for (i = 0; i < n; i++) {
        if (e[i].visitor.len) {
            ngx_kefu_ep_key("kefu:{s:%V}:v:%V", site, &e[i].visitor);
        }

        if (e[i].file.len) {
            ngx_kefu_ep_key("kefu:{s:%V}:file:%V", site, &e[i].file);
        }

        /* event_put.lua declares it by the same rule */
        if (e[i].seq
            && !(e[i].name.len == 4
                 && ngx_strncmp(e[i].name.data, "note", 4) == 0))
        {
            ngx_kefu_ep_key("kefu:{s:%V}:r:%V", site, &e[i].conv);
        }
    }

#undef ngx_kefu_ep_key

    return k;
}


/* event_put's ARGV after its k KEYS, in its header's order; argc */

static int
ngx_kefu_event_put_argv(ngx_kefu_event_put_call_t *c, int k, ngx_str_t *site,
    ngx_kefu_event_put_t *e, ngx_uint_t n)
{
    int          a;
    u_char      *b;
    ngx_uint_t   i, nn;

    a = k;
    nn = 0;

#define ngx_kefu_ep_str(s)                                                    \
    c->argv[a] = (s)->len ? (const char *) (s)->data : "";                   \
    c->lens[a] = (s)->len;                                                    \
    a++

#define ngx_kefu_ep_num(fmt, v)                                               \
    b = c->nums[nn++];                                                        \
    c->argv[a] = (const char *) b;                                            \
    c->lens[a] = ngx_snprintf(b, NGX_INT64_LEN, fmt, v) - b;                  \
    a++

#define ngx_kefu_ep_none()                                                    \
    c->argv[a] = "";                                                          \
    c->lens[a] = 0;                                                           \
    a++

    ngx_kefu_ep_str(site);

    for (i = 0; i < n; i++) {
        ngx_kefu_ep_str(&e[i].conv);
        ngx_kefu_ep_num("%uL", e[i].prev);

        if (e[i].visitor.len) {
            ngx_kefu_ep_num("%T", e[i].visitor_ttl);

        } else {
            ngx_kefu_ep_none();
        }

        ngx_kefu_ep_str(&e[i].file);

        if (e[i].seq) {
            ngx_kefu_ep_num("%uL", e[i].seq);
            ngx_kefu_ep_str(&e[i].name);
            ngx_kefu_ep_num("%L", e[i].ts);
            ngx_kefu_ep_str(&e[i].json);

        } else {
            ngx_kefu_ep_none();
            ngx_kefu_ep_none();
            ngx_kefu_ep_none();
            ngx_kefu_ep_none();
        }
    }

#undef ngx_kefu_ep_str
#undef ngx_kefu_ep_num
#undef ngx_kefu_ep_none

    return a;
}


/* KEYS: the conversation's log; ARGV: mark, seq, at most how many */

ngx_int_t
ngx_kefu_ev_range_args(ngx_kefu_call_t *c, ngx_str_t *conv, uint64_t mark,
    uint64_t seq, ngx_uint_t count)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 'c', conv, ":log");
    ngx_kefu_call_int(c, (int64_t) mark);
    ngx_kefu_call_int(c, (int64_t) seq);
    ngx_kefu_call_int(c, (int64_t) count);

    return ngx_kefu_call_done(c);
}


/* KEYS: the visitor's hash, page trail, conversations; ARGV: how many
 * conversations */

ngx_int_t
ngx_kefu_export_visitor_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *visitor, ngx_uint_t convs)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_visitor_key(c, site, visitor, "");
    ngx_kefu_call_visitor_key(c, site, visitor, ":pages");
    ngx_kefu_call_visitor_key(c, site, visitor, ":convs");
    ngx_kefu_call_int(c, (int64_t) convs);

    return ngx_kefu_call_done(c);
}


/* export_conv and erase_conv: KEYS: the conversation's hash, log,
 * assignments, joined; ARGV: site, visitor */

ngx_int_t
ngx_kefu_conv_keys_args(ngx_kefu_call_t *c, ngx_str_t *conv,
    ngx_str_t *site, ngx_str_t *visitor)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 'c', conv, "");
    ngx_kefu_call_key(c, 'c', conv, ":log");
    ngx_kefu_call_key(c, 'c', conv, ":assignments");
    ngx_kefu_call_key(c, 'c', conv, ":joined");
    ngx_kefu_call_str(c, site);
    ngx_kefu_call_str(c, visitor);

    return ngx_kefu_call_done(c);
}


/* KEYS: the file's references, the site's files; ARGV: conv, sha */

ngx_int_t
ngx_kefu_erase_file_args(ngx_kefu_call_t *c, ngx_str_t *site, ngx_str_t *sha,
    ngx_str_t *conv)
{
    u_char  tail[sizeof(":file:") + NGX_KEFU_SHA256_HEX];

    if (sha->len != NGX_KEFU_SHA256_HEX) {
        return NGX_ERROR;
    }

    *ngx_sprintf(tail, ":file:%V", sha) = '\0';

    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, (const char *) tail);
    ngx_kefu_call_key(c, 's', site, ":files");
    ngx_kefu_call_str(c, conv);
    ngx_kefu_call_str(c, sha);

    return ngx_kefu_call_done(c);
}


/* KEYS: the site's marks, its erased conversations; ARGV: conv, now, keep */

ngx_int_t
ngx_kefu_erase_mark_args(ngx_kefu_call_t *c, ngx_str_t *site, ngx_str_t *conv,
    time_t now, time_t keep)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 's', site, ":ev");
    ngx_kefu_call_key(c, 's', site, ":erased");
    ngx_kefu_call_str(c, conv);
    ngx_kefu_call_int(c, (int64_t) now);
    ngx_kefu_call_int(c, (int64_t) keep);

    return ngx_kefu_call_done(c);
}


/*
 * A terms call of argc arguments and the bytes its keys and numbers take:
 * where those bytes start, NULL on failure
 */

static u_char *
ngx_kefu_terms_call_alloc(ngx_kefu_terms_call_t *c, ngx_uint_t argc,
    size_t bytes)
{
    u_char  *mem;

    mem = ngx_alloc(argc * (sizeof(char *) + sizeof(size_t)) + bytes,
                    ngx_cycle->log);
    if (mem == NULL) {
        return NULL;
    }

    c->argv = (const char **) mem;
    c->lens = (size_t *) (c->argv + argc);
    c->nkeys = 0;
    c->argc = 0;

    return (u_char *) (c->lens + argc);
}


/* a key or a number written at p; returns its end */

static u_char *
ngx_kefu_terms_call_fmt(ngx_kefu_terms_call_t *c, ngx_uint_t key, u_char *p,
    const char *fmt, ...)
{
    va_list  args;

    va_start(args, fmt);
    c->argv[c->argc] = (const char *) p;
    p = ngx_vslprintf(p, (u_char *) -1, fmt, args);
    c->lens[c->argc] = p - (u_char *) c->argv[c->argc];
    va_end(args);

    c->argc++;

    if (key) {
        c->nkeys++;
    }

    return p;
}


static void
ngx_kefu_terms_call_str(ngx_kefu_terms_call_t *c, ngx_str_t *s)
{
    c->argv[c->argc] = s->len ? (const char *) s->data : "";
    c->lens[c->argc] = s->len;
    c->argc++;
}


/* the bytes of n term keys "kefu:{s:<site>}:ix:v:<term>" */

static size_t
ngx_kefu_terms_call_bytes(ngx_str_t *site, ngx_str_t *term, ngx_uint_t n)
{
    return n * (sizeof("kefu:{s:}:ix:v:") - 1 + site->len)
           + ngx_kefu_strs_bytes(term, n);
}


/* the bytes of n strings */

static size_t
ngx_kefu_strs_bytes(ngx_str_t *s, ngx_uint_t n)
{
    size_t      bytes;
    ngx_uint_t  i;

    for (bytes = 0, i = 0; i < n; i++) {
        bytes += s[i].len;
    }

    return bytes;
}


/* an agent's search filters (keys as they are), after the other keys */

static u_char *
ngx_kefu_terms_call_filters(ngx_kefu_terms_call_t *c, u_char *p,
    ngx_str_t *filter, ngx_uint_t nf)
{
    ngx_uint_t  i;

    for (i = 0; i < nf; i++) {
        p = ngx_kefu_terms_call_fmt(c, 1, p, "%V", &filter[i]);
    }

    return p;
}


/* KEYS: the terms' ix:v keys; ARGV: member, ts, ttl, cap, cut */

ngx_int_t
ngx_kefu_search_index_args(ngx_kefu_terms_call_t *c, ngx_str_t *site,
    ngx_str_t *term, ngx_uint_t n, ngx_str_t *member, int64_t ts,
    time_t ttl, ngx_uint_t cap, int64_t cut)
{
    u_char      *p;
    ngx_uint_t   i;

    p = ngx_kefu_terms_call_alloc(c, n + 5,
                                  ngx_kefu_terms_call_bytes(site, term, n)
                                  + 4 * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        p = ngx_kefu_terms_call_fmt(c, 1, p, "kefu:{s:%V}:ix:v:%V", site,
                                    &term[i]);
    }

    ngx_kefu_terms_call_str(c, member);
    p = ngx_kefu_terms_call_fmt(c, 0, p, "%L", ts);
    p = ngx_kefu_terms_call_fmt(c, 0, p, "%T", ttl);
    p = ngx_kefu_terms_call_fmt(c, 0, p, "%ui", cap);
    (void) ngx_kefu_terms_call_fmt(c, 0, p, "%L", cut);

    return NGX_OK;
}


/*
 * KEYS: the terms' ix:w keys, the same terms' ix:v keys, the filters;
 * ARGV: n, n, nf, limit, before's ms and member ("" for none)
 */

ngx_int_t
ngx_kefu_search_find_args(ngx_kefu_terms_call_t *c, ngx_str_t *site,
    ngx_str_t *term, ngx_uint_t n, ngx_str_t *filter, ngx_uint_t nf,
    int64_t limit, ngx_str_t *before, ngx_str_t *member)
{
    u_char      *p;
    size_t       bytes;
    ngx_uint_t   i;

    bytes = 2 * ngx_kefu_terms_call_bytes(site, term, n) + 4 * NGX_INT64_LEN
            + ngx_kefu_strs_bytes(filter, nf);

    p = ngx_kefu_terms_call_alloc(c, 2 * n + nf + 6, bytes);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < 2 * n; i++) {
        p = ngx_kefu_terms_call_fmt(c, 1, p, "kefu:{s:%V}:ix:%c:%V", site,
                                    i < n ? 'w' : 'v', &term[i % n]);
    }

    p = ngx_kefu_terms_call_filters(c, p, filter, nf);
    p = ngx_kefu_terms_call_fmt(c, 0, p, "%ui", n);
    p = ngx_kefu_terms_call_fmt(c, 0, p, "%ui", n);
    p = ngx_kefu_terms_call_fmt(c, 0, p, "%ui", nf);
    (void) ngx_kefu_terms_call_fmt(c, 0, p, "%L", limit);
    ngx_kefu_terms_call_str(c, before);
    ngx_kefu_terms_call_str(c, member);

    return NGX_OK;
}


/*
 * KEYS: the hits' documents (ix:m:<member>), the visitors' hashes, the
 * visitors' lists of conversations, the filters; ARGV: nh, nv, nf
 */

ngx_int_t
ngx_kefu_search_fetch_args(ngx_kefu_terms_call_t *c, ngx_str_t *site,
    ngx_str_t *hit, ngx_uint_t nh, ngx_str_t *visitor, ngx_uint_t nv,
    ngx_str_t *filter, ngx_uint_t nf)
{
    u_char      *p;
    size_t       bytes;
    ngx_uint_t   i;

    bytes = (nh + 2 * nv) * (sizeof("kefu:{s:}:ix:m::convs") + site->len)
            + 3 * NGX_INT64_LEN + ngx_kefu_strs_bytes(hit, nh)
            + 2 * ngx_kefu_strs_bytes(visitor, nv)
            + ngx_kefu_strs_bytes(filter, nf);

    p = ngx_kefu_terms_call_alloc(c, nh + 2 * nv + nf + 3, bytes);
    if (p == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < nh; i++) {
        p = ngx_kefu_terms_call_fmt(c, 1, p, "kefu:{s:%V}:ix:m:%V", site,
                                    &hit[i]);
    }

    for (i = 0; i < 2 * nv; i++) {
        p = ngx_kefu_terms_call_fmt(c, 1, p, "kefu:{s:%V}:v:%V%s", site,
                                    &visitor[i % nv], i < nv ? "" : ":convs");
    }

    p = ngx_kefu_terms_call_filters(c, p, filter, nf);
    p = ngx_kefu_terms_call_fmt(c, 0, p, "%ui", nh);
    p = ngx_kefu_terms_call_fmt(c, 0, p, "%ui", nv);
    (void) ngx_kefu_terms_call_fmt(c, 0, p, "%ui", nf);

    return NGX_OK;
}


/*
 * KEYS: the visitor's hash, page trail, conversations, the site's event
 * stream, the upload counts of this hour and the two before, then the
 * terms' ix:v keys; ARGV: ts, data, max, erased ("1", "0"), visitor
 */

ngx_int_t
ngx_kefu_erase_visitor_args(ngx_kefu_terms_call_t *c, ngx_str_t *site,
    ngx_str_t *visitor, ngx_str_t *term, ngx_uint_t n, int64_t hour,
    int64_t ts, ngx_str_t *data, ngx_uint_t max, ngx_uint_t erased)
{
    u_char      *p;
    ngx_uint_t   i;

    static ngx_str_t  yes = ngx_string("1"), no = ngx_string("0");

    p = ngx_kefu_terms_call_alloc(c, n + 12,
                                  ngx_kefu_terms_call_bytes(site, term, n)
                                  + 7 * (sizeof("kefu:{s:}:v::uploads:")
                                         + site->len + visitor->len
                                         + NGX_INT64_LEN)
                                  + 2 * NGX_INT64_LEN);
    if (p == NULL) {
        return NGX_ERROR;
    }

    p = ngx_kefu_terms_call_fmt(c, 1, p, "kefu:{s:%V}:v:%V", site, visitor);
    p = ngx_kefu_terms_call_fmt(c, 1, p, "kefu:{s:%V}:v:%V:pages", site,
                                visitor);
    p = ngx_kefu_terms_call_fmt(c, 1, p, "kefu:{s:%V}:v:%V:convs", site,
                                visitor);
    p = ngx_kefu_terms_call_fmt(c, 1, p, "kefu:{s:%V}:events", site);

    for (i = 0; i < 3; i++) {
        p = ngx_kefu_terms_call_fmt(c, 1, p, "kefu:{s:%V}:v:%V:uploads:%L",
                                    site, visitor, hour - (int64_t) i);
    }

    for (i = 0; i < n; i++) {
        p = ngx_kefu_terms_call_fmt(c, 1, p, "kefu:{s:%V}:ix:v:%V", site,
                                    &term[i]);
    }

    p = ngx_kefu_terms_call_fmt(c, 0, p, "%L", ts);
    ngx_kefu_terms_call_str(c, data);
    (void) ngx_kefu_terms_call_fmt(c, 0, p, "%ui", max);
    ngx_kefu_terms_call_str(c, erased ? &yes : &no);
    ngx_kefu_terms_call_str(c, visitor);

    return NGX_OK;
}


/* KEYS: the conversation; ARGV: site, conv, label, at most how many */

ngx_int_t
ngx_kefu_label_args(ngx_kefu_call_t *c, ngx_str_t *site, ngx_str_t *conv,
    ngx_str_t *label, ngx_uint_t max)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_key(c, 'c', conv, "");
    ngx_kefu_call_str(c, site);
    ngx_kefu_call_str(c, conv);
    ngx_kefu_call_str(c, label);
    ngx_kefu_call_int(c, (int64_t) max);

    return ngx_kefu_call_done(c);
}


/* KEYS: the routing record; ARGV: the labels (a JSON array) */

ngx_int_t
ngx_kefu_label_put_args(ngx_kefu_call_t *c, ngx_str_t *site, ngx_str_t *conv,
    ngx_str_t *labels)
{
    ngx_kefu_call_init(c);
    ngx_kefu_call_route_key(c, site, conv);
    ngx_kefu_call_str(c, labels);

    return ngx_kefu_call_done(c);
}


/*
 * KEYS: the group's sweep lease, the site's marks, the group's queue, its
 * bot conversations;
 * ARGV: now, lease (ms), limit, keep (ms), holder, rules
 * ("<crc>:<seconds> ...")
 */

ngx_int_t
ngx_kefu_rule_wait_args(ngx_kefu_call_t *c, ngx_str_t *site,
    ngx_str_t *group, int64_t now, int64_t lease, int64_t limit,
    int64_t keep, ngx_str_t *holder, ngx_str_t *rules)
{
    u_char  tail[sizeof(":rw:lease:") + NGX_KEFU_MAX_ID_LEN];

    if (group->len > NGX_KEFU_MAX_ID_LEN) {
        return NGX_ERROR;
    }

    ngx_kefu_call_init(c);
    *ngx_snprintf(tail, sizeof(tail) - 1, ":rw:lease:%V", group) = '\0';
    ngx_kefu_call_key(c, 's', site, (char *) tail);
    ngx_kefu_call_key(c, 's', site, ":rw");
    *ngx_snprintf(tail, sizeof(tail) - 1, ":q:%V", group) = '\0';
    ngx_kefu_call_key(c, 's', site, (char *) tail);
    *ngx_snprintf(tail, sizeof(tail) - 1, ":b:%V", group) = '\0';
    ngx_kefu_call_key(c, 's', site, (char *) tail);
    ngx_kefu_call_int(c, now);
    ngx_kefu_call_int(c, lease);
    ngx_kefu_call_int(c, limit);
    ngx_kefu_call_int(c, keep);
    ngx_kefu_call_str(c, holder);
    ngx_kefu_call_str(c, rules);

    return ngx_kefu_call_done(c);
}


/*
 * A key of a search_batch call, declared once: its index in c->argv (a
 * key met before: that one's; a new one is added, at c->nkeys).  hash:
 * hsize slots (a power of two), each a key's index + 1, 0 for none.
 */

static ngx_uint_t
ngx_kefu_search_batch_key(ngx_kefu_search_batch_call_t *c, ngx_uint_t *hash,
    ngx_uint_t hsize, u_char *key, size_t len)
{
    ngx_uint_t  h, k;

    for (h = ngx_hash_key(key, len) & (hsize - 1);
         hash[h];
         h = (h + 1) & (hsize - 1))
    {
        k = hash[h] - 1;

        if (c->lens[k] == len && ngx_memcmp(c->argv[k], key, len) == 0) {
            return k;
        }
    }

    k = (ngx_uint_t) c->nkeys++;
    hash[h] = k + 1;
    c->argv[k] = (const char *) key;
    c->lens[k] = len;

    return k;
}


/* what n entries' keys and numbers take, in bytes; 0: one is too long */

static size_t
ngx_kefu_search_batch_bytes(ngx_str_t *site, ngx_kefu_search_put_t *e,
    ngx_uint_t n, ngx_uint_t *nterms)
{
    size_t      bytes;
    ngx_uint_t  i, j;

    *nterms = 0;
    bytes = 4 * NGX_INT64_LEN;

    for (i = 0; i < n; i++) {
        if (e[i].conv.len > NGX_KEFU_MAX_ID_LEN) {
            return 0;
        }

        /* its document's key (the member its tail), ts, terms' count */
        bytes += sizeof("kefu:{s:}:ix:m::") + site->len + e[i].conv.len
                 + 3 * NGX_INT64_LEN;
        *nterms += e[i].nterms;

        for (j = 0; j < e[i].nterms; j++) {
            /* a term's key and its position */
            bytes += sizeof("kefu:{s:}:ix:w:") + site->len
                     + e[i].terms[j].len + NGX_INT64_LEN;
        }
    }

    return bytes;
}


/*
 * KEYS: the documents' keys first (one that came before is the same
 * message, left out with its terms: skip[i]; seq zero-padded: one
 * conversation's hits of one ms sort by it), then the terms' keys, each
 * once, every entry's terms by their positions in KEYS (tpos).  Returns
 * where the keys' bytes end.
 */

static u_char *
ngx_kefu_search_batch_keys(ngx_kefu_search_batch_call_t *c, ngx_str_t *site,
    ngx_kefu_search_put_t *e, ngx_uint_t n, ngx_uint_t *hash,
    ngx_uint_t hsize, ngx_uint_t *tpos, u_char *skip, u_char *p)
{
    int         added;
    u_char     *q;
    size_t      wlen;
    ngx_uint_t  i, j, k, t;
    u_char      w[sizeof("kefu:{s:}:ix:w:") + NGX_KEFU_MAX_ID_LEN];

    /* a term's key is this and the term: copied, not formatted, about
     * 6 a message (issue 18) */
    wlen = ngx_sprintf(w, "kefu:{s:%V}:ix:w:", site) - w;

    for (i = 0; i < n; i++) {
        added = c->nkeys;
        k = ngx_kefu_search_batch_key(c, hash, hsize, p,
                                      ngx_sprintf(p,
                                          "kefu:{s:%V}:ix:m:%V:%015uL", site,
                                          &e[i].conv, e[i].seq)
                                      - p);
        skip[i] = (c->nkeys == added);

        if (!skip[i]) {
            p += c->lens[k];
            c->n++;
        }
    }

    t = 0;

    for (i = 0; i < n; i++) {
        for (j = 0; !skip[i] && j < e[i].nterms; j++) {
            added = c->nkeys;
            q = ngx_cpymem(p, w, wlen);
            q = ngx_cpymem(q, e[i].terms[j].data, e[i].terms[j].len);
            k = ngx_kefu_search_batch_key(c, hash, hsize, p, q - p);
            if (c->nkeys != added) {
                p += c->lens[k];
            }

            c->adds[k - c->n]++;
            tpos[t++] = k + 1;
        }
    }

    return p;
}


/*
 * ARGV after KEYS: ttl, cap, cut, the count, the term keys' ttl, the
 * terms' due flags (c->due: all '1' here), then each entry kept
 */

static void
ngx_kefu_search_batch_argv(ngx_kefu_search_batch_call_t *c, ngx_str_t *site,
    ngx_kefu_search_put_t *e, ngx_uint_t n, time_t ttl, ngx_uint_t cap,
    int64_t cut, time_t term_ttl, ngx_uint_t *tpos, u_char *skip, u_char *p)
{
    u_char      *member;
    size_t       member_len, prefix;
    ngx_uint_t   i, j, k, t;

    c->argc = c->nkeys;

#define ngx_kefu_sb_num(fmt, v)                                               \
    c->argv[c->argc] = (const char *) p;                                      \
    p = ngx_sprintf(p, fmt, v);                                               \
    c->lens[c->argc] = p - (u_char *) c->argv[c->argc];                       \
    c->argc++

#define ngx_kefu_sb_uint(v)                                                   \
    c->argv[c->argc] = (const char *) p;                                      \
    p = ngx_kefu_dec(p, v);                                                   \
    c->lens[c->argc] = p - (u_char *) c->argv[c->argc];                       \
    c->argc++

    ngx_kefu_sb_num("%T", ttl);
    ngx_kefu_sb_num("%ui", cap);
    ngx_kefu_sb_num("%L", cut);
    ngx_kefu_sb_num("%ui", c->n);
    ngx_kefu_sb_num("%T", term_ttl);

    c->nterms = c->nkeys - c->n;
    ngx_memset(c->due, '1', c->nterms);
    c->argv[c->argc] = (const char *) c->due;
    c->lens[c->argc++] = c->nterms;

    prefix = sizeof("kefu:{s:}:ix:m:") - 1 + site->len;
    t = 0;
    k = 0;

    for (i = 0; i < n; i++) {
        if (skip[i]) {
            continue;
        }

        /* the member: "<conv>:<seq>", the document key's end */
        member = (u_char *) c->argv[k] + prefix;
        member_len = c->lens[k] - prefix;
        k++;

        c->argv[c->argc] = (const char *) member;
        c->lens[c->argc++] = member_len;
        ngx_kefu_sb_num("%L", e[i].ts);
        c->argv[c->argc] = e[i].doc.len ? (const char *) e[i].doc.data : "";
        c->lens[c->argc++] = e[i].doc.len;
        ngx_kefu_sb_uint(e[i].nterms);

        for (j = 0; j < e[i].nterms; j++) {
            ngx_kefu_sb_uint(tpos[t++]);
        }
    }

#undef ngx_kefu_sb_num
#undef ngx_kefu_sb_uint
}



/*
 * KEYS: each entry's document key, then its terms' keys, each once;
 * ARGV: ttl, cap, cut, the entries' count, the term keys' ttl, their due
 * flags, then per entry: member (the document key's "<conv>:<seq>"), ts,
 * document, its terms' count and their positions in KEYS.  One
 * allocation holds argv, lens, the keys' hash, the terms' positions and
 * postings, the entries left out, the due flags and the bytes.
 */

ngx_int_t
ngx_kefu_search_batch_args(ngx_kefu_search_batch_call_t *c, ngx_str_t *site,
    ngx_kefu_search_put_t *e, ngx_uint_t n, time_t ttl, ngx_uint_t cap,
    int64_t cut, time_t term_ttl)
{
    u_char      *mem, *p, *skip;
    size_t       bytes;
    ngx_uint_t   nterms, maxargc, hsize, *hash, *tpos;

    if (n == 0 || site->len > NGX_KEFU_MAX_ID_LEN) {
        return NGX_ERROR;
    }

    bytes = ngx_kefu_search_batch_bytes(site, e, n, &nterms);
    if (bytes == 0) {
        return NGX_ERROR;
    }

    maxargc = NGX_KEFU_SEARCH_BATCH_HEAD + 5 * n + 2 * nterms;

    if (maxargc > NGX_KEFU_SEARCH_BATCH_ARGC) {
        return NGX_ERROR;
    }

    for (hsize = 64; hsize < 2 * (n + nterms); hsize <<= 1) {
        /* void */
    }

    mem = ngx_alloc(maxargc * (sizeof(char *) + sizeof(size_t))
                    + (hsize + 2 * nterms) * sizeof(ngx_uint_t) + n + nterms
                    + bytes,
                    ngx_cycle->log);
    if (mem == NULL) {
        return NGX_ERROR;
    }

    c->argv = (const char **) mem;
    c->lens = (size_t *) (c->argv + maxargc);
    hash = (ngx_uint_t *) (c->lens + maxargc);
    tpos = hash + hsize;
    c->adds = tpos + nterms;
    skip = (u_char *) (c->adds + nterms);
    c->due = skip + n;
    p = c->due + nterms;

    ngx_memzero(hash, hsize * sizeof(ngx_uint_t));
    ngx_memzero(c->adds, nterms * sizeof(ngx_uint_t));
    c->nkeys = 0;
    c->n = 0;

    p = ngx_kefu_search_batch_keys(c, site, e, n, hash, hsize, tpos, skip, p);
    ngx_kefu_search_batch_argv(c, site, e, n, ttl, cap, cut, term_ttl, tpos,
                               skip, p);

    return NGX_OK;
}
