
/*
 * libFuzzer harness: the client-message validation (ngx_kefu_validate.c),
 * the function the dispatch path calls on every text message.  The input
 * is a message's JSON text; it is validated as sent before hello, by a
 * visitor, an agent, a supervisor and an admin.  Each time the answer must
 * be an error (a known code, a message) or an accepted request, never
 * both; an accepted request must obey the documented limits; the same
 * input must get the same answer twice; nothing may leak (LeakSanitizer).
 */


#include "ngx_kefu_validate.h"


/* small limits, so that inputs reach them */
#define NGX_KEFU_FUZZ_MAX_TEXT   64
#define NGX_KEFU_FUZZ_MAX_ATTRS  64


#define check(cond)  if (!(cond)) __builtin_trap()


static ngx_int_t
ngx_kefu_fuzz_str_ok(json_t *v, size_t max)
{
    return json_is_string(v) && json_string_length(v) <= max;
}


static void
ngx_kefu_fuzz_error(ngx_kefu_req_t *r)
{
    static const char  *codes[] = {
        "bad_request", "too_large", "forbidden", "unauthorized", NULL
    };
    ngx_uint_t  i;

    for (i = 0; codes[i]; i++) {
        if (ngx_strcmp(r->code, codes[i]) == 0) {
            break;
        }
    }

    check(codes[i] != NULL);
    check(r->message != NULL && r->message[0] != '\0');
    check(r->error_cid == NULL || r->error_cid == r->cid);
    check(!r->close || (r->type == NGX_KEFU_REQ_HELLO
                        && ngx_strcmp(r->code, "unauthorized") == 0));
}


static void
ngx_kefu_fuzz_accepted(ngx_kefu_sender_t *s, ngx_kefu_req_t *r)
{
    size_t      len, i;
    json_t     *v;
    ngx_uint_t  t;

    check(json_is_object(r->json));
    check(r->type >= NGX_KEFU_REQ_PING && r->type < NGX_KEFU_REQ_LAST);
    check(r->message == NULL && r->error_cid == NULL && !r->close);

    /* a conversation id in a field that names one is a valid id */
    if (r->conv.data && (r->type == NGX_KEFU_REQ_MSG
                         || r->type == NGX_KEFU_REQ_HISTORY))
    {
        check(ngx_kefu_valid_id(r->conv.data, r->conv.len) == NGX_OK);
    }

    switch (r->type) {

    case NGX_KEFU_REQ_PING:
        check(r->id == NULL || json_is_string(r->id));
        break;

    case NGX_KEFU_REQ_HELLO:
        check(r->site.data != NULL
              && r->site.len == ngx_strlen(r->site.data));
        check(r->role >= NGX_KEFU_ROLE_VISITOR
              && r->role <= NGX_KEFU_ROLE_ADMIN);
        check(r->status <= 2);
        check(r->token == NULL || json_is_string(r->token));
        check(!(r->name && r->name_bad));
        check(r->name == NULL
              || ngx_strlen(json_string_value(r->name))
                 <= NGX_KEFU_MAX_ID_LEN);
        check(r->group.len <= NGX_KEFU_MAX_GROUP_LEN);
        check(r->group.len == 0
              || ngx_kefu_valid_id(r->group.data, r->group.len) == NGX_OK);
        check(r->resume == NULL || json_is_object(r->resume));

        if (r->role != NGX_KEFU_ROLE_VISITOR) {
            check(r->attrs == NULL && r->page == NULL);
        }

        check(r->attrs == NULL
              || (json_is_object(r->attrs)
                  && json_dumpb(r->attrs, NULL, 0, JSON_COMPACT)
                     <= s->max_attrs));
        check(r->page == NULL || ngx_kefu_page_valid(r->page) == NGX_OK);
        break;

    case NGX_KEFU_REQ_MSG:
        len = ngx_strlen(r->cid ? r->cid : "");
        check(len >= 1 && len <= NGX_KEFU_MAX_CID_LEN);
        check(r->text == NULL || ngx_kefu_fuzz_str_ok(r->text, s->max_text));
        check((r->text && json_string_length(r->text) > 0) || r->attachment);
        check(r->conv.data || s->role == NGX_KEFU_ROLE_VISITOR);
        check(!r->private || s->role != NGX_KEFU_ROLE_VISITOR);
        break;

    case NGX_KEFU_REQ_READ:
        check(r->seq >= 0);
        break;

    case NGX_KEFU_REQ_HISTORY:
        check(r->before >= 0);
        check(r->limit >= 1 && r->limit <= NGX_KEFU_HISTORY_MAX);
        break;

    case NGX_KEFU_REQ_PAGE:
        check(s->role == NGX_KEFU_ROLE_VISITOR);
        check(r->page == r->json && ngx_kefu_page_valid(r->page) == NGX_OK);
        check(ngx_kefu_fuzz_str_ok(json_object_get(r->page, "url"),
                                   NGX_KEFU_MAX_URL));
        break;

    case NGX_KEFU_REQ_ACCEPT:
    case NGX_KEFU_REQ_TRANSFER:
    case NGX_KEFU_REQ_CLOSE:
    case NGX_KEFU_REQ_JOIN:
    case NGX_KEFU_REQ_STATUS:
    case NGX_KEFU_REQ_RATE:
        t = r->type;
        check((t == NGX_KEFU_REQ_RATE) == (s->role == NGX_KEFU_ROLE_VISITOR));
        check(t != NGX_KEFU_REQ_ACCEPT || s->role == NGX_KEFU_ROLE_AGENT);
        check(t != NGX_KEFU_REQ_STATUS || s->role == NGX_KEFU_ROLE_AGENT);
        check(t != NGX_KEFU_REQ_JOIN || s->supervisor);
        check(r->cid == NULL || ngx_strlen(r->cid) <= NGX_KEFU_MAX_CID_LEN);
        check(r->score >= 0 && r->score <= 6);
        check(t == NGX_KEFU_REQ_RATE || r->score == 0);
        break;

    case NGX_KEFU_REQ_CONTACT:
        check(s->role == NGX_KEFU_ROLE_VISITOR);
        check(r->name || r->email || r->phone);
        check(r->name == NULL
              || ngx_kefu_fuzz_str_ok(r->name, NGX_KEFU_CONTACT_NAME));
        check(r->email == NULL
              || ngx_kefu_fuzz_str_ok(r->email, NGX_KEFU_CONTACT_EMAIL));
        check(r->phone == NULL
              || ngx_kefu_fuzz_str_ok(r->phone, NGX_KEFU_CONTACT_PHONE));

        if (r->email) {
            v = r->email;
            len = json_string_length(v);
            check(len > 0 && json_string_value(v)[0] != '@'
                  && json_string_value(v)[len - 1] != '@');
        }

        if (r->phone) {
            for (i = 0; i < json_string_length(r->phone); i++) {
                check(ngx_strchr("0123456789 +-()",
                                 json_string_value(r->phone)[i]) != NULL
                      && json_string_value(r->phone)[i] != '\0');
            }
        }

        break;

    case NGX_KEFU_REQ_QUEUE:
        check(s->role != NGX_KEFU_ROLE_VISITOR);
        check(r->cid == NULL || ngx_strlen(r->cid) <= 64);
        break;

    case NGX_KEFU_REQ_SETTINGS:
        check(s->role != NGX_KEFU_ROLE_VISITOR);
        check(r->settings == NULL || s->role == NGX_KEFU_ROLE_ADMIN);
        break;

    default:
        break;
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ngx_uint_t         i;
    ngx_kefu_req_t     r, again;
    ngx_kefu_sender_t  s;

    /* before hello, visitor, agent, supervising agent, admin */
    static const ngx_uint_t  roles[] = { 0, 1, 2, 2, 3 };

    for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
        s.role = roles[i];
        s.supervisor = (i >= 3);
        s.max_text = NGX_KEFU_FUZZ_MAX_TEXT;
        s.max_attrs = NGX_KEFU_FUZZ_MAX_ATTRS;

        ngx_kefu_validate((u_char *) data, size, &s, &r);

        if (r.code) {
            ngx_kefu_fuzz_error(&r);

        } else {
            ngx_kefu_fuzz_accepted(&s, &r);
        }

        /* no type without an object, and a type the server cannot serve
         * is never accepted */
        check(r.type != NGX_KEFU_REQ_NONE || r.code != NULL);
        check(r.type != NGX_KEFU_REQ_UNKNOWN || r.code != NULL);

        ngx_kefu_validate((u_char *) data, size, &s, &again);

        check(again.type == r.type);
        check((again.code == NULL) == (r.code == NULL));
        check(r.code == NULL || ngx_strcmp(again.code, r.code) == 0);

        ngx_kefu_validate_free(&again);
        ngx_kefu_validate_free(&r);

        check(r.json == NULL);
    }

    return 0;
}
