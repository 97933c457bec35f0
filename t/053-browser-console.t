# The agent console in headless Chromium (t/browser/053-console.mjs):
# pasted sign-in, unread counts, the live list, keyboard use, history
# paging, the title flash in a background tab, transfer, sign-out.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;

our $S = 'browser53-secret-0123456789abcdef';
$ENV{TEST_NGINX_KEFU_HTML} = kefu_root() . '/html';

# no skip: without Chromium the file fails and says why
if (my $why = browser_ready()) {
    die "no browser: $why (scripts/test installs Chromium and the\n"
        . "node packages; see t/README.md)\n";
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site b53 secret=$S anonymous=on;\n" . ($block->http_config // ''));
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=200; }\n"
        . "location /kefu/api/ { kefu_api; }\n"
        . "location / { root \$TEST_NGINX_KEFU_HTML; include /etc/nginx/mime.types; }\n");
});

run_tests();

__DATA__

=== TEST 1: the console: sign-in, unread, keyboard, paging, title flash, transfer, sign-out
--- ws
browser_run('053-console.mjs', site => 'b53', secret => $main::S, claim => ['aftersales']);
--- timeout: 90
