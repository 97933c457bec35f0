
/*
 * Bots and automation (docs/automation.md): buttons on messages, the bot's
 * settings, the FAQ, the rules and their keyword matcher.
 */


#ifndef _NGX_KEFU_BOT_H_INCLUDED_
#define _NGX_KEFU_BOT_H_INCLUDED_


#include "ngx_kefu.h"


/* a message's buttons (contract v2 "Bots and buttons", SPEC-bots.md) */
#define NGX_KEFU_BUTTONS_MAX         10
#define NGX_KEFU_BUTTON_TEXT_MAX     100
#define NGX_KEFU_BUTTON_VALUE_MAX    500

/* a visitor's msg with this text (a handoff button's value) asks a person */
#define NGX_KEFU_HANDOFF_VALUE       "__handoff__"


/*
 * Checks "buttons" and returns a clean copy (only "text" and "value"), or
 * NULL with errbuf holding the error that names the field under prefix
 * ("buttons[2].text must be ...").
 */
json_t *ngx_kefu_buttons_check(json_t *v, const char *prefix, u_char *errbuf,
    size_t size);


#endif /* _NGX_KEFU_BOT_H_INCLUDED_ */
