
/*
 * The upload's configuration (docs/attachments.md): the kefu_upload*
 * directives, kefu_site's upload_*= parameters, and the defaults each
 * site's limits are completed from.  The request is ngx_kefu_upload.c's.
 */


#include "ngx_kefu.h"
#include "ngx_kefu_upload.h"


static ngx_kefu_upload_conf_t *
ngx_kefu_upload_conf(ngx_conf_t *cf)
{
    ngx_kefu_main_conf_t    *kmcf;
    ngx_kefu_upload_conf_t  *ucf;

    kmcf = ngx_http_conf_get_module_main_conf(cf, ngx_kefu_module);

    if (kmcf->upload) {
        return kmcf->upload;
    }

    ucf = ngx_pcalloc(cf->pool, sizeof(ngx_kefu_upload_conf_t));
    if (ucf == NULL) {
        return NULL;
    }

    ucf->limits.max_size = NGX_CONF_UNSET;
    ucf->limits.quota = NGX_CONF_UNSET;
    ucf->link_ttl = NGX_CONF_UNSET;
    ucf->scan_timeout = NGX_CONF_UNSET_MSEC;
    ucf->sweep = NGX_CONF_UNSET_MSEC;

    kmcf->upload = ucf;

    return ucf;
}


/* that, for a directive that reads its arguments (*value) */

static ngx_kefu_upload_conf_t *
ngx_kefu_upload_conf_arg(ngx_conf_t *cf, ngx_str_t **value)
{
    *value = cf->args->elts;

    return ngx_kefu_upload_conf(cf);
}


char *
ngx_kefu_upload_directive(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_kefu_loc_conf_t  *kcf = conf;

    ngx_kefu_upload_conf_t    *ucf;
    ngx_http_core_loc_conf_t  *clcf;

    if (kcf->enable || kcf->api) {
        return "cannot share a location with \"kefu_chat\" or \"kefu_api\"";
    }

    ucf = ngx_kefu_upload_conf(cf);
    if (ucf == NULL) {
        return NGX_CONF_ERROR;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (clcf->exact_match || clcf->regex || clcf->name.len == 0) {
        return "needs a prefix location: files are served below it";
    }

    /* the links in messages name one location for every server */
    if (ucf->uri.len
        && (ucf->uri.len != clcf->name.len
            || ngx_strncmp(ucf->uri.data, clcf->name.data, ucf->uri.len)))
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"kefu_upload\" is already at \"%V\": links "
                           "name one upload location", &ucf->uri);
        return NGX_CONF_ERROR;
    }

    /* uploads go to it as it is written; files are below it */
    ucf->uri = clcf->name;

    clcf->handler = ngx_kefu_upload_handler;

    return NGX_CONF_OK;
}


char *
ngx_kefu_upload_path(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_str_t               *value;
    ngx_kefu_upload_conf_t  *ucf;

    ucf = ngx_kefu_upload_conf_arg(cf, &value);
    if (ucf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ucf->path.data) {
        return "is duplicate";
    }

    ucf->path = value[1];

    if (ngx_conf_full_name(cf->cycle, &ucf->path, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    while (ucf->path.len > 1 && ucf->path.data[ucf->path.len - 1] == '/') {
        ucf->path.len--;
    }

    return NGX_CONF_OK;
}


char *
ngx_kefu_upload_types_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t               *value, bad;
    ngx_uint_t               i;
    ngx_kefu_upload_conf_t  *ucf;

    ucf = ngx_kefu_upload_conf_arg(cf, &value);
    if (ucf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ucf->limits.types) {
        return "is duplicate";
    }

    for (i = 1; i < cf->args->nelts; i++) {
        if (ngx_kefu_upload_type_bits(&value[i], &ucf->limits.types, &bad)
            != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "unknown type \"%V\" in \"kefu_upload_types\":"
                               " png, jpeg, gif, webp, pdf, txt, zip, mp4 "
                               "(svg and html are never accepted)", &bad);
            return NGX_CONF_ERROR;
        }
    }

    return NGX_CONF_OK;
}


/* kefu_upload_max_size size; */

char *
ngx_kefu_upload_max_size_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t               *value;
    ngx_kefu_upload_conf_t  *ucf;

    ucf = ngx_kefu_upload_conf_arg(cf, &value);
    if (ucf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ucf->limits.max_size != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    ucf->limits.max_size = ngx_parse_offset(&value[1]);

    if (ucf->limits.max_size <= 0) {
        return "takes a size greater than 0, e.g. 10m";
    }

    return NGX_CONF_OK;
}


/* kefu_upload_quota number; */

char *
ngx_kefu_upload_quota_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_int_t                n;
    ngx_str_t               *value;
    ngx_kefu_upload_conf_t  *ucf;

    ucf = ngx_kefu_upload_conf_arg(cf, &value);
    if (ucf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ucf->limits.quota != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    n = ngx_atoi(value[1].data, value[1].len);

    if (n == NGX_ERROR || n > 1000000) {
        return "takes a number of files per visitor per hour "
               "(0: no quota)";
    }

    ucf->limits.quota = n;
    return NGX_CONF_OK;
}


/* kefu_upload_link_ttl time; */

char *
ngx_kefu_upload_link_ttl_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t               *value;
    ngx_kefu_upload_conf_t  *ucf;

    ucf = ngx_kefu_upload_conf_arg(cf, &value);
    if (ucf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ucf->link_ttl != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    ucf->link_ttl = ngx_parse_time(&value[1], 1);

    if (ucf->link_ttl == (time_t) NGX_ERROR || ucf->link_ttl < 1
        || ucf->link_ttl > 7 * 86400)
    {
        return "takes a time from 1s to 7d";
    }

    return NGX_CONF_OK;
}


/* kefu_upload_scan_timeout time; */

char *
ngx_kefu_upload_scan_timeout_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t               *value;
    ngx_kefu_upload_conf_t  *ucf;

    ucf = ngx_kefu_upload_conf_arg(cf, &value);
    if (ucf == NULL) {
        return NGX_CONF_ERROR;
    }

    ucf->scan_timeout = ngx_parse_time(&value[1], 0);

    if (ucf->scan_timeout == (ngx_msec_t) NGX_ERROR
        || ucf->scan_timeout == 0)
    {
        return "takes a positive time";
    }

    return NGX_CONF_OK;
}


/* kefu_upload_sweep time|off; */

char *
ngx_kefu_upload_sweep_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t               *value;
    ngx_kefu_upload_conf_t  *ucf;

    ucf = ngx_kefu_upload_conf_arg(cf, &value);
    if (ucf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        ucf->sweep = 0;
        return NGX_CONF_OK;
    }

    ucf->sweep = ngx_parse_time(&value[1], 0);

    if (ucf->sweep == (ngx_msec_t) NGX_ERROR || ucf->sweep < 100) {
        return "takes off or a time of at least 100ms";
    }

    return NGX_CONF_OK;
}


/* kefu_upload_scan off|unix:path|host:port; (clamd) */

char *
ngx_kefu_upload_scan_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_str_t               *value;
    ngx_url_t                url;
    ngx_kefu_upload_conf_t  *ucf;

    ucf = ngx_kefu_upload_conf_arg(cf, &value);
    if (ucf == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ucf->scan) {
        return "is duplicate";
    }

    if (value[1].len == 3 && ngx_strncmp(value[1].data, "off", 3) == 0) {
        return NGX_CONF_OK;
    }

    ngx_memzero(&url, sizeof(ngx_url_t));
    url.url = value[1];
    url.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &url) != NGX_OK || url.naddrs == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"kefu_upload_scan\" takes off, unix:/path or an "
                           "address:port of clamd, not \"%V\"%s%s",
                           &value[1], url.err ? ": " : "",
                           url.err ? url.err : "");
        return NGX_CONF_ERROR;
    }

    ucf->scan = &url.addrs[0];

    return NGX_CONF_OK;
}


/*
 * kefu_site's upload_max_size=, upload_types=, upload_quota=: NGX_OK,
 * NGX_DECLINED (not one of them), or NGX_ERROR with err set.
 */

ngx_int_t
ngx_kefu_upload_site_param(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_str_t *param, char **err)
{
    ngx_str_t   v, bad;
    ngx_int_t   n;

    if (ngx_strncmp(param->data, "upload_max_size=", 16) == 0) {
        v.data = param->data + 16;
        v.len = param->len - 16;
        site->upload.max_size = ngx_parse_offset(&v);

        if (site->upload.max_size <= 0) {
            *err = "has an invalid upload_max_size: a size, e.g. 10m";
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    if (ngx_strncmp(param->data, "upload_quota=", 13) == 0) {
        n = ngx_atoi(param->data + 13, param->len - 13);

        if (n == NGX_ERROR || n > 1000000) {
            *err = "has an invalid upload_quota: files per visitor per hour";
            return NGX_ERROR;
        }

        site->upload.quota = n;
        return NGX_OK;
    }

    if (ngx_strncmp(param->data, "upload_types=", 13) == 0) {
        v.data = param->data + 13;
        v.len = param->len - 13;
        site->upload.types = 0;

        if (v.len == 0
            || ngx_kefu_upload_type_bits(&v, &site->upload.types, &bad)
               != NGX_OK)
        {
            *err = "has an invalid upload_types: a list of png, jpeg, gif, "
                   "webp, pdf, txt, zip, mp4 (e.g. upload_types=png,pdf)";
            return NGX_ERROR;
        }

        return NGX_OK;
    }

    return NGX_DECLINED;
}


/* defaults, and each site's limits completed from them */

char *
ngx_kefu_upload_init_main(ngx_conf_t *cf, ngx_kefu_main_conf_t *kmcf)
{
    ngx_str_t                list;
    ngx_uint_t               i;
    ngx_path_t              *dir;
    ngx_kefu_site_t         *s;
    ngx_kefu_upload_conf_t  *ucf;

    ucf = kmcf->upload;

    if (ucf == NULL) {
        return NGX_CONF_OK;
    }

    if (ucf->uri.len && ucf->path.len == 0) {
        return "\"kefu_upload\" needs \"kefu_upload_path\": where files "
               "are stored";
    }

    /* participants, quotas and references are in Redis */
    if (ucf->uri.len && kmcf->redis_conf == NULL) {
        return "\"kefu_upload\" needs \"kefu_redis\"";
    }

    /* created at start like client_body_temp_path, owned by the workers */
    if (ucf->path.len) {
        dir = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
        if (dir == NULL) {
            return NGX_CONF_ERROR;
        }

        dir->name = ucf->path;
        dir->conf_file = cf->conf_file->file.name.data;
        dir->line = cf->conf_file->line;

        if (ngx_add_path(cf, &dir) != NGX_OK) {
            return NGX_CONF_ERROR;
        }
    }

    ngx_conf_init_value(ucf->limits.max_size, 10 * 1024 * 1024);
    ngx_conf_init_value(ucf->limits.quota, 50);
    ngx_conf_init_value(ucf->link_ttl, 3600);
    ngx_conf_init_msec_value(ucf->scan_timeout, 30000);
    ngx_conf_init_msec_value(ucf->sweep, 600000);

    if (ucf->limits.types == 0) {
        ngx_str_set(&list, "png,jpeg,gif,webp,pdf,txt");
        (void) ngx_kefu_upload_type_bits(&list, &ucf->limits.types, &list);
    }

    s = kmcf->sites.elts;

    for (i = 0; i < kmcf->sites.nelts; i++) {
        if (s[i].upload.max_size == NGX_CONF_UNSET) {
            s[i].upload.max_size = ucf->limits.max_size;
        }

        if (s[i].upload.quota == NGX_CONF_UNSET) {
            s[i].upload.quota = ucf->limits.quota;
        }

        if (s[i].upload.types == 0) {
            s[i].upload.types = ucf->limits.types;
        }
    }

    return NGX_CONF_OK;
}
