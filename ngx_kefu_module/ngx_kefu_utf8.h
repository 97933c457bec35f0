
/*
 * UTF-8 validation (ngx_kefu_utf8.c): a state machine, fed in pieces.
 */


#ifndef _NGX_KEFU_UTF8_H_INCLUDED_
#define _NGX_KEFU_UTF8_H_INCLUDED_


#include "ngx_kefu.h"


#define NGX_KEFU_UTF8_ACCEPT  0
#define NGX_KEFU_UTF8_REJECT  12

uint32_t ngx_kefu_utf8_validate(uint32_t state, u_char *p, size_t len);


#endif /* _NGX_KEFU_UTF8_H_INCLUDED_ */
