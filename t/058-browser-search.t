# Search and canned replies in the agent console, in headless Chromium
# (t/browser/058-search.mjs): English and Chinese searches that find what
# visitors wrote on two nginx hosts, results that open conversations (a
# closed one read-only), "/" canned replies with variables filled in, the
# agent's own replies managed in the console, the site's in Settings.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;
use Kefu::API qw(redis);

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
        . "kefu_site b58 secret=$S anonymous=on;\n");
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=200; }\n"
        . "location /kefu/api/ { kefu_api; }\n"
        . "location / { root \$TEST_NGINX_KEFU_HTML; include /etc/nginx/mime.types; }\n");
});

run_tests();

__DATA__

=== TEST 1: search in English and Chinese across two hosts, canned replies with variables
--- ws
redis('DEL', 'kefu:{s:b58}:settings');
my ($port2, $stop2) = start_host("kefu_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};\n"
    . "kefu_site b58 secret=$main::S anonymous=on;\n");
local $ENV{KEFU_WS2} = "ws://127.0.0.1:$port2/chat";
browser_run('058-search.mjs', site => 'b58', secret => $main::S);
redis('DEL', 'kefu:{s:b58}:settings');
$stop2->();
--- timeout: 150
