
/*
 * What the harnesses' code needs of a running nginx and nothing more: a
 * cycle whose http configuration is absent (so that the module's main
 * configuration reads as NULL, its defaults apply) and the allocators of
 * ngx_string.c, which the code under test does not call.
 */


#include "ngx_kefu.h"


static void               *ngx_kefu_fuzz_conf_ctx[1];
static ngx_cycle_t         ngx_kefu_fuzz_cycle = {
    .conf_ctx = (void ****) ngx_kefu_fuzz_conf_ctx
};

volatile ngx_cycle_t      *ngx_cycle = &ngx_kefu_fuzz_cycle;
volatile ngx_time_t       *ngx_cached_time;   /* ngx_kefu_util.c's clock */
ngx_module_t               ngx_http_module;
ngx_module_t               ngx_kefu_module;


void *
ngx_alloc(size_t size, ngx_log_t *log)
{
    return malloc(size);
}


void *
ngx_pnalloc(ngx_pool_t *pool, size_t size)
{
    __builtin_trap();
}
