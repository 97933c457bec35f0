
/*
 * Attachments (docs/attachments.md): files uploaded to a kefu_upload
 * location, checked by their bytes, stored content-addressed under
 * kefu_upload_path, and served by the same location through links that
 * expire.
 *
 *   ngx_kefu_upload.c         the upload: token, participant, body, store
 *   ngx_kefu_upload_type.c    what a file is, from its first bytes
 *   ngx_kefu_upload_serve.c   links: checking them, serving the file
 *   ngx_kefu_attach.c         attachments in messages, minting links
 *                             (ngx_kefu_attach.h)
 *   ngx_kefu_upload_scan.c    the optional clamd scan (INSTREAM)
 *   ngx_kefu_upload_sweep.c   files whose conversations are gone
 */


#ifndef _NGX_KEFU_UPLOAD_H_INCLUDED_
#define _NGX_KEFU_UPLOAD_H_INCLUDED_


#include "ngx_kefu.h"


/* the sniffing head: JPEG's size may follow 64 KB of EXIF */
#define NGX_KEFU_UPLOAD_HEAD       (128 * 1024)

/* bytes a worker copies and hashes before it lets other events run */
#define NGX_KEFU_UPLOAD_SLICE      (1024 * 1024)
#define NGX_KEFU_UPLOAD_CHUNK      (64 * 1024)

#define NGX_KEFU_UPLOAD_MAX_NAME   255

/* what a multipart body may carry besides the file */
#define NGX_KEFU_UPLOAD_MULTIPART  (16 * 1024)

#define NGX_KEFU_SHA256_HEX        64


/* a type the module recognizes by its bytes (ngx_kefu_upload_type.c) */
typedef struct {
    const char                  *name;       /* kefu_upload_types name */
    const char                  *mime;
    const char                  *exts;       /* " png " the names' endings */
    const char                  *what;       /* for error messages */
    unsigned                     image:1;    /* shown inline */
    unsigned                     never:1;    /* refused whatever is allowed */
} ngx_kefu_upload_type_t;


typedef struct {
    ngx_str_t                    path;       /* kefu_upload_path */
    ngx_str_t                    uri;        /* the kefu_upload location */
    ngx_kefu_upload_limits_t     limits;     /* defaults for the sites */
    time_t                       link_ttl;   /* seconds */
    ngx_addr_t                  *scan;       /* clamd, NULL: off */
    ngx_msec_t                   scan_timeout;
    ngx_msec_t                   sweep;      /* interval, 0: off */
} ngx_kefu_upload_conf_t;


/* one attachment as the upload found it */
typedef struct {
    u_char                       sha[NGX_KEFU_SHA256_HEX];
    ngx_kefu_upload_type_t      *type;
    off_t                        size;
    ngx_int_t                    width;      /* -1: not an image / unknown */
    ngx_int_t                    height;
    ngx_str_t                    name;
} ngx_kefu_attach_t;


extern ngx_kefu_upload_type_t  ngx_kefu_upload_types[];


/* ngx_kefu_upload.c */
ngx_int_t ngx_kefu_upload_handler(ngx_http_request_t *r);

/* ngx_kefu_upload_conf.c */
char *ngx_kefu_upload_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_kefu_upload_path(ngx_conf_t *cf, ngx_command_t *cmd, void *conf);
char *ngx_kefu_upload_types_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_kefu_upload_max_size_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_kefu_upload_quota_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_kefu_upload_link_ttl_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_kefu_upload_scan_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_kefu_upload_scan_timeout_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
char *ngx_kefu_upload_sweep_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_kefu_upload_site_param(ngx_conf_t *cf, ngx_kefu_site_t *site,
    ngx_str_t *param, char **err);
char *ngx_kefu_upload_init_main(ngx_conf_t *cf, ngx_kefu_main_conf_t *kmcf);

/* ngx_kefu_upload_type.c */
ngx_kefu_upload_type_t *ngx_kefu_upload_sniff(u_char *p, size_t len,
    ngx_int_t *width, ngx_int_t *height);
ngx_kefu_upload_type_t *ngx_kefu_upload_type_by_mime(const char *mime);
ngx_int_t ngx_kefu_upload_type_bits(ngx_str_t *list, ngx_uint_t *bits,
    ngx_str_t *bad);
ngx_int_t ngx_kefu_upload_ext_fits(ngx_kefu_upload_type_t *t, ngx_str_t *name,
    ngx_str_t *ext);
const char *ngx_kefu_upload_ext(ngx_kefu_upload_type_t *t);
ngx_kefu_upload_type_t *ngx_kefu_upload_type_by_ext(u_char *p, size_t len);

/* ngx_kefu_upload_serve.c */
ngx_int_t ngx_kefu_upload_serve(ngx_http_request_t *r);
ngx_int_t ngx_kefu_upload_file_path(ngx_kefu_upload_conf_t *ucf,
    ngx_str_t *site, u_char *sha, u_char *buf, size_t size, ngx_str_t *path);

/* ngx_kefu_upload_scan.c: done(data, rc): NGX_OK clean, NGX_DECLINED
 * infected (name: what), NGX_ERROR scanner unavailable */
typedef void (*ngx_kefu_scan_done_pt)(void *data, ngx_int_t rc,
    ngx_str_t *name);
typedef struct ngx_kefu_scan_s  ngx_kefu_scan_t;

ngx_kefu_scan_t *ngx_kefu_scan_start(ngx_kefu_upload_conf_t *ucf,
    ngx_pool_t *pool, ngx_log_t *log, ngx_fd_t fd, off_t size,
    ngx_kefu_scan_done_pt done, void *data);
void ngx_kefu_scan_cancel(ngx_kefu_scan_t *scan);

/* ngx_kefu_upload_sweep.c */
ngx_int_t ngx_kefu_upload_sweep_init(ngx_cycle_t *cycle);
ngx_int_t ngx_kefu_upload_unlink(ngx_kefu_main_conf_t *kmcf,
    ngx_kefu_site_t *site, u_char *sha, size_t len, time_t guard);


#endif /* _NGX_KEFU_UPLOAD_H_INCLUDED_ */
