# Buttons in headless Chromium (t/browser/059-buttons.mjs): a bot's and an
# agent's buttons as the widget's quick replies, and in the console
# (issue 15).
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;
use Kefu::API qw(redis);

our $S = 'browser59c-secret-0123456789abcdef';
$ENV{TEST_NGINX_KEFU_HTML} = kefu_root() . '/html';

# no skip: without Chromium the file fails and says why
if (my $why = browser_ready()) {
    die "no browser: $why (scripts/test installs Chromium and the\n"
        . "node packages; see t/README.md)\n";
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site b59b secret=$S anonymous=on;\n");
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=200; }\n"
        . "location /kefu/api/ { kefu_api; }\n"
        . "location / { root \$TEST_NGINX_KEFU_HTML; include /etc/nginx/mime.types; }\n");
});

run_tests();

__DATA__

=== TEST 1: quick replies from a bot and an agent, used by keyboard and put away by typing; the console shows them
--- ws
redis('DEL', 'kefu:{s:b59b}:settings');
browser_run('059-buttons.mjs', site => 'b59b', secret => $main::S);
redis('DEL', 'kefu:{s:b59b}:settings');
--- timeout: 200
