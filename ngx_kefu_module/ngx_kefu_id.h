
/*
 * Ids (ngx_kefu_id.c): unique across hosts, from the worker's node
 * (claimed with its lease, ngx_kefu_lease.c).
 */


#ifndef _NGX_KEFU_ID_H_INCLUDED_
#define _NGX_KEFU_ID_H_INCLUDED_


#include "ngx_kefu.h"


void ngx_kefu_id_set_node(ngx_kefu_id_gen_t *gen, ngx_uint_t node,
    int64_t floor, ngx_msec_t until);
void ngx_kefu_id_stop(ngx_kefu_id_gen_t *gen);
uint64_t ngx_kefu_id_next(ngx_kefu_id_gen_t *gen);


#endif /* _NGX_KEFU_ID_H_INCLUDED_ */
