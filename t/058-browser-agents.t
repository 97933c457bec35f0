# The agent's console, the agents' view (issue 13) in headless Chromium
# (t/browser/058-agents.mjs): the queue seen live with several visitors
# and accepted in one click, the visitor panel filled from what a
# shop-signed visitor sent (attributes, pages, contact, browser), a
# business event, the returning visitor's previous conversation opened
# with who closed it and the rating, the transfer picker, sound and cue,
# system lines not unread, keyboard shortcuts.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;

our $S = 'browser58-secret-0123456789abcdef';
$ENV{TEST_NGINX_KEFU_HTML} = kefu_root() . '/html';

# no skip: without Chromium the file fails and says why
if (my $why = browser_ready()) {
    die "no browser: $why (scripts/test installs Chromium and the\n"
        . "node packages; see t/README.md)\n";
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site b58 secret=$S anonymous=on;\n" . ($block->http_config // ''));
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=200; }\n"
        . "location /kefu/api/ { kefu_api; }\n"
        . "location / { root \$TEST_NGINX_KEFU_HTML; include /etc/nginx/mime.types; }\n");
});

run_tests();

__DATA__

=== TEST 1: queue, visitor panel, previous conversation, transfer picker, sound and cue, shortcuts
--- ws
browser_run('058-agents.mjs', site => 'b58', secret => $main::S);
--- timeout: 120
