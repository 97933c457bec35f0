# The widget through refreshes, new tabs and a cut connection, in headless
# Chromium (t/browser/051-resilience.mjs): the history survives a refresh
# and shows in a new tab; a visitor offline for a moment still gets every
# message exactly once, and what it typed offline reaches the agent once.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;

our $S = 'browser51-secret-0123456789abcdef';
$ENV{TEST_NGINX_KEFU_HTML} = kefu_root() . '/html';

# no skip: without Chromium the file fails and says why
if (my $why = browser_ready()) {
    die "no browser: $why (scripts/test installs Chromium and the\n"
        . "node packages; see t/README.md)\n";
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site b51 secret=$S anonymous=on;\n" . ($block->http_config // ''));
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=200; }\n"
        . "location /kefu/api/ { kefu_api; }\n"
        . "location / { root \$TEST_NGINX_KEFU_HTML; include /etc/nginx/mime.types; }\n");
});

run_tests();

__DATA__

=== TEST 1: refresh, new tab, offline and back: the same conversation, every message exactly once
--- ws
browser_run('051-resilience.mjs', site => 'b51', secret => $main::S);
--- timeout: 90



=== TEST 2: a visitor erased by the shop while its widget is open: nothing kept, no reconnect, a reload starts afresh
--- ws
browser_run('051-erased.mjs', site => 'b51', secret => $main::S);
--- timeout: 90
