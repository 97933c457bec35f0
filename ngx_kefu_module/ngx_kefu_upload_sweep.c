
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
 * none left is deleted from disk.  The files' sets are in the site's slot
 * and each conversation in its own: the due files are read there
 * (lua/upload_sweep.lua), each conversation they name asked in its slot,
 * pipelined, and those gone dropped back in the site's
 * (lua/upload_reap.lua).  So whatever removes a conversation,
 * retention expiring it or a visitor's erasure deleting it, removes its
 * files at the next sweep; no key is ever scanned for.
 */


#include "ngx_kefu_redis.h"
#include "ngx_kefu_upload.h"


#define NGX_KEFU_SWEEP_BATCH  100


/* a reap call: a file's references from some of the conversations gone */
typedef struct {
    ngx_uint_t                   file;       /* in shas */
    ngx_uint_t                   first;      /* in gone */
    ngx_uint_t                   n;
} ngx_kefu_sweep_reap_t;


/* one site's sweep, its steps' state in a pool of its own */
typedef struct {
    ngx_pool_t                  *pool;
    ngx_uint_t                   site;       /* index in kmcf->sites */
    time_t                       sent;
    ngx_uint_t                   n;          /* conversations asked */
    ngx_str_t                   *convs;
    ngx_uint_t                  *file;       /* each one's file, in shas */
    ngx_str_t                   *shas;
    ngx_uint_t                   nshas;
    ngx_str_t                   *site_name;
    ngx_str_t                   *gone;       /* conversations, by file */
    ngx_kefu_sweep_reap_t       *reaps;      /* a call each */
} ngx_kefu_sweep_t;


static void ngx_kefu_upload_sweep_handler(ngx_event_t *ev);
static void ngx_kefu_upload_sweep_done(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static ngx_int_t ngx_kefu_upload_sweep_ask(ngx_kefu_call_t *call,
    ngx_uint_t i, void *data);
static void ngx_kefu_upload_sweep_checked(ngx_kefu_redis_t *rd,
    redisReply *rows, void *data);
static ngx_int_t ngx_kefu_upload_sweep_reap(ngx_kefu_call_t *call,
    ngx_uint_t i, void *data);
static void ngx_kefu_upload_sweep_reaped(ngx_kefu_redis_t *rd,
    redisReply *reply, void *data);
static void ngx_kefu_upload_sweep_unlink(ngx_kefu_redis_t *rd,
    ngx_kefu_sweep_t *sw, redisReply *shas);
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

    ngx_uint_t               i;
    ngx_pool_t              *pool;
    ngx_kefu_call_t          call;
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
        if (ngx_kefu_upload_sweep_args(&call, &s[i].name, ngx_kefu_now_ms(),
                                       NGX_KEFU_SWEEP_BATCH, 10 * ucf->sweep,
                                       ucf->sweep - ucf->sweep / 10)
            != NGX_OK)
        {
            continue;
        }

        pool = ngx_create_pool(1024, ev->log);
        if (pool == NULL) {
            return;
        }

        sw = ngx_pcalloc(pool, sizeof(ngx_kefu_sweep_t));
        if (sw == NULL) {
            ngx_destroy_pool(pool);
            return;
        }

        sw->pool = pool;
        sw->site = i;
        sw->sent = ngx_time();

        if (ngx_kefu_redis_eval_call(kmcf->redis,
                                     &ngx_kefu_script_upload_sweep,
                                     ngx_kefu_upload_sweep_done, sw, &call)
            != NGX_OK)
        {
            ngx_destroy_pool(pool);
            return;
        }
    }
}


/* the due files: those decided are deleted, the others' conversations asked */

static void
ngx_kefu_upload_sweep_done(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_sweep_t *sw = data;

    size_t        i, k, m, n;
    redisReply   *ask, *e;

    if (reply == NULL || reply->type != REDIS_REPLY_ARRAY
        || reply->elements != 2
        || reply->element[0]->type != REDIS_REPLY_ARRAY
        || reply->element[1]->type != REDIS_REPLY_ARRAY)
    {
        /* {}: another worker's turn */
        ngx_destroy_pool(sw->pool);
        return;
    }

    ngx_kefu_upload_sweep_unlink(rd, sw, reply->element[0]);

    ask = reply->element[1];

    /* {sha, n, conv * n, ...}: counted, then copied */
    n = 0;
    m = 0;

    for (i = 0; i + 1 < ask->elements; i += 2 + k) {
        if (ask->element[i]->type != REDIS_REPLY_STRING
            || ask->element[i + 1]->type != REDIS_REPLY_INTEGER
            || ask->element[i + 1]->integer < 1
            || i + 2 + (size_t) ask->element[i + 1]->integer > ask->elements)
        {
            ngx_destroy_pool(sw->pool);
            return;
        }

        k = ask->element[i + 1]->integer;
        n += k;
        m++;
    }

    if (n == 0) {
        ngx_destroy_pool(sw->pool);
        return;
    }

    sw->convs = ngx_palloc(sw->pool, n * sizeof(ngx_str_t));
    sw->file = ngx_palloc(sw->pool, n * sizeof(ngx_uint_t));
    sw->shas = ngx_palloc(sw->pool, m * sizeof(ngx_str_t));

    if (sw->convs == NULL || sw->file == NULL || sw->shas == NULL) {
        goto failed;
    }

    for (i = 0; i + 1 < ask->elements; i += 2 + k) {
        k = ask->element[i + 1]->integer;
        e = ask->element[i];

        sw->shas[sw->nshas].len = e->len;
        sw->shas[sw->nshas].data = ngx_pstrdup(sw->pool,
                                       &(ngx_str_t) { e->len,
                                                      (u_char *) e->str });

        for (m = 0; m < k; m++) {
            e = ask->element[i + 2 + m];

            sw->convs[sw->n].len = e->len;
            sw->convs[sw->n].data = ngx_pstrdup(sw->pool,
                                        &(ngx_str_t) { e->len,
                                                       (u_char *) e->str });
            sw->file[sw->n] = sw->nshas;

            if (e->type != REDIS_REPLY_STRING
                || sw->convs[sw->n].data == NULL)
            {
                goto failed;
            }

            sw->n++;
        }

        if (sw->shas[sw->nshas].data == NULL) {
            goto failed;
        }

        sw->nshas++;
    }

    if (ngx_kefu_redis_gather_each(rd, &ngx_kefu_script_conv_fields, n,
                                   ngx_kefu_upload_sweep_ask, sw, 0,
                                   ngx_kefu_upload_sweep_checked, sw)
        == NGX_OK)
    {
        return;
    }

failed:

    ngx_destroy_pool(sw->pool);
}


/* whether the ith conversation is still there */

static ngx_int_t
ngx_kefu_upload_sweep_ask(ngx_kefu_call_t *call, ngx_uint_t i, void *data)
{
    ngx_kefu_sweep_t *sw = data;

    static const char  *fields[] = { "site" };

    return ngx_kefu_conv_fields_args(call, &sw->convs[i], fields, 1);
}


/* the conversations gone leave their files' references */

static void
ngx_kefu_upload_sweep_checked(ngx_kefu_redis_t *rd, redisReply *rows,
    void *data)
{
    ngx_kefu_sweep_t *sw = data;

    ngx_uint_t         i, j, f, ng, first, nreaps;
    ngx_kefu_site_t   *site;

    if (rows == NULL || rows->type != REDIS_REPLY_ARRAY
        || rows->elements != sw->n)
    {
        ngx_destroy_pool(sw->pool);
        return;
    }

    site = (ngx_kefu_site_t *) ngx_kefu_redis_main_conf(rd)->sites.elts
           + sw->site;
    sw->site_name = &site->name;

    /* at most one call per file and NGX_KEFU_UPLOAD_REAP_MAX gone */
    sw->gone = ngx_palloc(sw->pool, sw->n * sizeof(ngx_str_t));
    sw->reaps = ngx_palloc(sw->pool, sw->n * sizeof(ngx_kefu_sweep_reap_t));

    if (sw->gone == NULL || sw->reaps == NULL) {
        ngx_destroy_pool(sw->pool);
        return;
    }

    ng = 0;
    nreaps = 0;

    for (f = 0; f < sw->nshas; f++) {
        first = ng;

        for (i = 0; i < sw->n; i++) {
            if (sw->file[i] == f
                && rows->element[i]->type == REDIS_REPLY_ARRAY
                && rows->element[i]->elements == 0)
            {
                sw->gone[ng++] = sw->convs[i];
            }
        }

        for (j = first; j < ng; j += NGX_KEFU_UPLOAD_REAP_MAX) {
            sw->reaps[nreaps].file = f;
            sw->reaps[nreaps].first = j;
            sw->reaps[nreaps].n = ngx_min(NGX_KEFU_UPLOAD_REAP_MAX, ng - j);
            nreaps++;
        }
    }

    if (nreaps == 0
        || ngx_kefu_redis_gather_each(rd, &ngx_kefu_script_upload_reap,
                                      nreaps, ngx_kefu_upload_sweep_reap, sw,
                                      0, ngx_kefu_upload_sweep_reaped, sw)
           != NGX_OK)
    {
        ngx_destroy_pool(sw->pool);
    }
}


static ngx_int_t
ngx_kefu_upload_sweep_reap(ngx_kefu_call_t *call, ngx_uint_t i, void *data)
{
    ngx_kefu_sweep_t *sw = data;

    ngx_kefu_sweep_reap_t  *rp;

    rp = &sw->reaps[i];

    return ngx_kefu_upload_reap_args(call, sw->site_name,
                                     &sw->shas[rp->file], sw->gone + rp->first,
                                     rp->n);
}


static void
ngx_kefu_upload_sweep_reaped(ngx_kefu_redis_t *rd, redisReply *reply,
    void *data)
{
    ngx_kefu_sweep_t *sw = data;

    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        ngx_kefu_upload_sweep_unlink(rd, sw, reply);
    }

    ngx_destroy_pool(sw->pool);
}


/* the files no reference is left to */

static void
ngx_kefu_upload_sweep_unlink(ngx_kefu_redis_t *rd, ngx_kefu_sweep_t *sw,
    redisReply *shas)
{
    size_t                   i;
    time_t                   guard;
    redisReply              *e;
    ngx_kefu_site_t         *site;
    ngx_kefu_main_conf_t    *kmcf;
    ngx_kefu_upload_conf_t  *ucf;

    kmcf = ngx_kefu_redis_main_conf(rd);
    ucf = kmcf->upload;
    site = (ngx_kefu_site_t *) kmcf->sites.elts + sw->site;

    /* a file renamed into place since is being uploaded again: kept */
    guard = sw->sent - (time_t) ngx_min(ucf->sweep / 1000, 10);

    for (i = 0; i < shas->elements; i++) {
        e = shas->element[i];

        if (e->type == REDIS_REPLY_STRING && e->len) {
            ngx_kefu_upload_unlink(kmcf, site, (u_char *) e->str, e->len,
                                   guard);
        }
    }
}


/*
 * Deletes a stored file that Redis no longer refers to (the sweep, an
 * erasure), unless it was renamed into place since guard: an upload of
 * the same bytes is under way, and it is looked at again later.
 */

ngx_int_t
ngx_kefu_upload_unlink(ngx_kefu_main_conf_t *kmcf, ngx_kefu_site_t *site,
    u_char *sha, size_t len, time_t guard)
{
    u_char                   path[NGX_MAX_PATH];
    ngx_str_t                file;
    ngx_uint_t               k;
    ngx_file_info_t          fi;
    ngx_kefu_upload_conf_t  *ucf;

    ucf = kmcf->upload;

    if (ucf == NULL || ucf->uri.len == 0 || len != NGX_KEFU_SHA256_HEX) {
        return NGX_DECLINED;
    }

    for (k = 0; k < NGX_KEFU_SHA256_HEX; k++) {
        if (!((sha[k] >= '0' && sha[k] <= '9')
              || (sha[k] >= 'a' && sha[k] <= 'f')))
        {
            return NGX_DECLINED;
        }
    }

    if (ngx_kefu_upload_file_path(ucf, &site->name, sha, path, sizeof(path),
                                  &file)
        != NGX_OK
        || ngx_file_info(path, &fi) == NGX_FILE_ERROR)
    {
        return NGX_DECLINED;
    }

    if (ngx_file_mtime(&fi) >= guard) {
        /* looked at again next time: its upload adds its reference */
        ngx_kefu_upload_sweep_later(kmcf, site, sha);
        return NGX_DECLINED;
    }

    if (ngx_delete_file(path) == NGX_FILE_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, ngx_errno,
                      "kefu: cannot delete \"%s\"", path);
        return NGX_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, ngx_cycle->log, 0,
                  "kefu: deleted attachment %*s of site \"%V\": no "
                  "conversation refers to it", NGX_KEFU_SHA256_HEX,
                  sha, &site->name);

    return NGX_OK;
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
