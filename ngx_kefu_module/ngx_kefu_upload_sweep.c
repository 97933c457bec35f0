
/*
 * Files follow their conversations (docs/attachments.md, "Retention").
 *
 * Each stored file has a reference set in Redis,
 * kefu:{s:<site>}:file:<sha>: the conversations its messages are in, and
 * "p:<ms>" while an upload waits (a day) for its first message.  A sorted
 * set, kefu:{s:<site>}:files, holds every file by when it is next due for
 * a look.  Every kefu_upload_sweep, one worker of all hosts (a Redis
 * lease) takes at most 100 due files per site: a reference whose
 * conversation hash (kefu:{c:<conv>}) is gone is dropped, and a file with
 * none left is deleted from disk.  So whatever removes a conversation,
 * retention expiring it or a visitor's erasure deleting it, removes its
 * files at the next sweep; no key is ever scanned for.
 */


#include "ngx_kefu_redis.h"
#include "ngx_kefu_upload.h"


#define NGX_KEFU_SWEEP_BATCH  "100"


typedef struct {
    ngx_uint_t                   site;       /* index in kmcf->sites */
    time_t                       sent;
} ngx_kefu_sweep_t;


static void ngx_kefu_upload_sweep_handler(ngx_event_t *ev);
static void ngx_kefu_upload_sweep_done(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_upload_sweep_later(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, u_char *sha);
static void ngx_kefu_upload_sweep_ignore(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);


ngx_int_t
ngx_kefu_upload_sweep_init(ngx_cycle_t *cycle)
{
    ngx_event_t             *ev;
    ngx_kefu_main_conf_t    *kmcf;
    ngx_kefu_upload_conf_t  *ucf;

    kmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_kefu_module);

    if (kmcf == NULL || kmcf->upload == NULL) {
        return NGX_OK;
    }

    ucf = kmcf->upload;

    if (ucf->uri.len == 0 || ucf->sweep == 0 || kmcf->redis == NULL) {
        return NGX_OK;
    }

    ev = ngx_pcalloc(cycle->pool, sizeof(ngx_event_t));
    if (ev == NULL) {
        return NGX_ERROR;
    }

    ev->handler = ngx_kefu_upload_sweep_handler;
    ev->data = kmcf;
    ev->log = cycle->log;

    /* a periodic chore: it must not hold a worker that is shutting down */
    ev->cancelable = 1;

    ngx_add_timer(ev, ucf->sweep);

    return NGX_OK;
}


static void
ngx_kefu_upload_sweep_handler(ngx_event_t *ev)
{
    ngx_kefu_main_conf_t *kmcf = ev->data;

    u_char                   now[NGX_INT64_LEN], next[NGX_INT64_LEN];
    u_char                   lease[NGX_INT64_LEN];
    size_t                   lens[5];
    ngx_uint_t               i;
    const char              *argv[5];
    ngx_kefu_site_t         *s;
    ngx_kefu_sweep_t        *sw;
    ngx_kefu_upload_conf_t  *ucf;

    ucf = kmcf->upload;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_add_timer(ev, ucf->sweep);

    if (!ngx_kefu_redis_ready(kmcf->redis)) {
        return;
    }

    s = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        sw = ngx_alloc(sizeof(ngx_kefu_sweep_t), ev->log);
        if (sw == NULL) {
            return;
        }

        sw->site = i;
        sw->sent = ngx_time();

        argv[0] = (char *) s[i].name.data;
        lens[0] = s[i].name.len;
        argv[1] = (char *) now;
        lens[1] = ngx_sprintf(now, "%L", ngx_kefu_now_ms()) - now;
        argv[2] = NGX_KEFU_SWEEP_BATCH;
        lens[2] = sizeof(NGX_KEFU_SWEEP_BATCH) - 1;
        argv[3] = (char *) next;
        lens[3] = ngx_sprintf(next, "%M", 10 * ucf->sweep) - next;
        argv[4] = (char *) lease;
        lens[4] = ngx_sprintf(lease, "%M", ucf->sweep - ucf->sweep / 10)
                  - lease;

        if (ngx_kefu_redis_eval(kmcf->redis, &ngx_kefu_script_upload_sweep,
                                ngx_kefu_upload_sweep_done, sw, 0, 5, argv,
                                lens)
            != NGX_OK)
        {
            ngx_free(sw);
            return;
        }
    }
}


static void
ngx_kefu_upload_sweep_done(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_sweep_t *sw = data;

    u_char                   path[NGX_MAX_PATH];
    size_t                   i;
    time_t                   guard;
    ngx_str_t                file;
    ngx_uint_t               k;
    redisReply              *e;
    ngx_file_info_t          fi;
    ngx_kefu_site_t         *site;
    ngx_kefu_main_conf_t    *kmcf;
    ngx_kefu_upload_conf_t  *ucf;

    kmcf = ngx_kefu_redis_main_conf(rd);
    ucf = kmcf->upload;
    site = (ngx_kefu_site_t *) kmcf->sites.elts + sw->site;

    /* a file renamed into place since is being uploaded again: kept */
    guard = sw->sent - (time_t) ngx_min(ucf->sweep / 1000, 10);
    ngx_free(sw);

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY) {
        return;
    }

    for (i = 0; i < reply->elements; i++) {
        e = reply->element[i];

        if (e->type != REDIS_REPLY_STRING || e->len != NGX_KEFU_SHA256_HEX) {
            continue;
        }

        for (k = 0; k < NGX_KEFU_SHA256_HEX; k++) {
            if (!((e->str[k] >= '0' && e->str[k] <= '9')
                  || (e->str[k] >= 'a' && e->str[k] <= 'f')))
            {
                break;
            }
        }

        if (k < NGX_KEFU_SHA256_HEX
            || ngx_kefu_upload_file_path(ucf, &site->name, (u_char *) e->str,
                                         path, sizeof(path), &file)
               != NGX_OK)
        {
            continue;
        }

        if (ngx_file_info(path, &fi) == NGX_FILE_ERROR) {
            continue;
        }

        if (ngx_file_mtime(&fi) >= guard) {
            /* looked at again next time: its upload adds its reference */
            ngx_kefu_upload_sweep_later(kmcf, site, (u_char *) e->str);
            continue;
        }

        if (ngx_delete_file(path) == NGX_FILE_ERROR) {
            ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, ngx_errno,
                          "kefu: cannot delete \"%s\"", path);
            continue;
        }

        ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                      "kefu: deleted attachment %*s of site \"%V\": no "
                      "conversation refers to it", NGX_KEFU_SHA256_HEX,
                      e->str, &site->name);
    }
}


static void
ngx_kefu_upload_sweep_later(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    u_char *sha)
{
    u_char       key[NGX_KEFU_MAX_ID_LEN + 32], due[NGX_INT64_LEN];
    size_t       lens[5];
    const char  *argv[5];

    argv[0] = "ZADD";
    lens[0] = 4;
    argv[1] = (char *) key;
    lens[1] = ngx_snprintf(key, sizeof(key), "kefu:{s:%V}:files",
                           &site->name) - key;
    argv[2] = "NX";
    lens[2] = 2;
    argv[3] = (char *) due;
    lens[3] = ngx_snprintf(due, sizeof(due), "%L", ngx_kefu_now_ms()
                           + (int64_t) ((ngx_kefu_upload_conf_t *) kmcf->upload)->sweep) - due;
    argv[4] = (char *) sha;
    lens[4] = NGX_KEFU_SHA256_HEX;

    (void) ngx_kefu_redis_command(kmcf->redis, ngx_kefu_upload_sweep_ignore,
                                  NULL, 5, argv, lens);
}


static void
ngx_kefu_upload_sweep_ignore(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    /* lost: the file stays on disk unreferenced until an upload of it */
}
