
/*
 * Script arguments by name (ngx_kefu_script_args.h): the builders.  Numbers
 * are written as decimal strings here, never by the scripts
 * (lua/lib/num.lua).
 */


#include "ngx_kefu.h"
#include "ngx_kefu_script_args.h"


#define ngx_kefu_arg(out, i, s)                                               \
    (out)->argv[i] = (s)->len ? (const char *) (s)->data : "";                \
    (out)->lens[i] = (s)->len

#define ngx_kefu_arg_c(out, i, c)                                             \
    (out)->argv[i] = (c);                                                     \
    (out)->lens[i] = sizeof(c) - 1

#define ngx_kefu_arg_fmt(out, i, buf, fmt, v)                                 \
    (out)->argv[i] = (const char *) (buf);                                    \
    (out)->lens[i] = ngx_snprintf(buf, sizeof(buf), fmt, v) - (buf)


/* the string fields of msg's arguments, for copying them whole */
#define ngx_kefu_msg_strings(a)                                               \
    { &(a)->site, &(a)->who, &(a)->role, &(a)->conv, &(a)->cid,               \
      &(a)->head, &(a)->tail, &(a)->group, &(a)->session, &(a)->ids,          \
      &(a)->target, &(a)->event, &(a)->greeting, &(a)->file }


/*
 * lua/msg.lua's ARGV.  The ids are written afresh on every call: a run
 * refused for a conversation id already taken goes again with new ones.
 */

void
ngx_kefu_msg_argv(ngx_kefu_msg_args_t *a, ngx_kefu_msg_argv_t *out)
{
    ngx_kefu_arg(out, 0, &a->site);
    ngx_kefu_arg(out, 1, &a->who);
    ngx_kefu_arg(out, 2, &a->role);
    ngx_kefu_arg(out, 3, &a->conv);
    ngx_kefu_arg(out, 4, &a->cid);
    ngx_kefu_arg_fmt(out, 5, out->id, "%uL", a->id);
    ngx_kefu_arg_fmt(out, 6, out->newconv, "%uL", a->newconv);
    ngx_kefu_arg_fmt(out, 7, out->ts, "%L", a->ts);
    ngx_kefu_arg(out, 8, &a->head);
    ngx_kefu_arg_fmt(out, 9, out->mid, "\",\"id\":\"%uL\",\"seq\":", a->id);
    ngx_kefu_arg(out, 10, &a->tail);

    if (a->private) {
        ngx_kefu_arg_c(out, 11, "1");

    } else {
        ngx_kefu_arg_c(out, 11, "0");
    }

    ngx_kefu_arg(out, 12, &a->group);
    ngx_kefu_arg_fmt(out, 13, out->ttl, "%T", a->dedup_ttl);
    ngx_kefu_arg_fmt(out, 14, out->log_max, "%i", a->log_max);
    ngx_kefu_arg(out, 15, &a->session);
    ngx_kefu_arg(out, 16, &a->ids);
    ngx_kefu_arg_fmt(out, 17, out->grace, "%M", a->grace);
    ngx_kefu_arg(out, 18, &a->target);
    ngx_kefu_arg(out, 19, &a->event);

    if (a->open) {
        ngx_kefu_arg_c(out, 20, "1");

    } else {
        ngx_kefu_arg_c(out, 20, "0");
    }

    if (a->greeting.len) {
        ngx_kefu_arg_fmt(out, 21, out->gmid, "\",\"id\":\"%uL\",\"seq\":",
                         a->greeting_id);

    } else {
        ngx_kefu_arg_c(out, 21, "");
    }

    ngx_kefu_arg(out, 22, &a->greeting);

    if (a->closed_hours) {
        ngx_kefu_arg_c(out, 23, "0");

    } else {
        ngx_kefu_arg_c(out, 23, "1");
    }

    ngx_kefu_arg(out, 24, &a->file);

    out->argc = NGX_KEFU_MSG_ARGS;
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
