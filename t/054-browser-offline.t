# The visitor's side with nobody online, in headless Chromium
# (t/browser/054-offline.mjs): offline state, contact form, waiting,
# routed when the agent comes online, the answer and the rating read on a
# later visit, availability changing live.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;

our $S = 'browser54-secret-0123456789abcdef';
$ENV{TEST_NGINX_KEFU_HTML} = kefu_root() . '/html';

# no skip: without Chromium the file fails and says why
if (my $why = browser_ready()) {
    die "no browser: $why (scripts/test installs Chromium and the\n"
        . "node packages; see t/README.md)\n";
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site b54 secret=$S anonymous=on;\n");
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=200; }\n"
        . "location / { root \$TEST_NGINX_KEFU_HTML; include /etc/nginx/mime.types; }\n");
});

run_tests();

__DATA__

=== TEST 1: offline, contact, waiting, answered while away, read and rated on return, availability live
--- ws
browser_run('054-offline.mjs', site => 'b54', secret => $main::S);
--- timeout: 120
