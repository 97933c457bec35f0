# Waiting in the queue, in Chinese on a phone, in headless Chromium
# (t/browser/052-queue.mjs): the queue banner and position, the embed
# tag's language override, page reports, the agent's name on assignment,
# close and the rating card.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;

our $S = 'browser52-secret-0123456789abcdef';
$ENV{TEST_NGINX_KEFU_HTML} = kefu_root() . '/html';

# no skip: without Chromium the file fails and says why
if (my $why = browser_ready()) {
    die "no browser: $why (scripts/test installs Chromium and the\n"
        . "node packages; see t/README.md)\n";
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site b52 secret=$S anonymous=on;\n" . ($block->http_config // ''));
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=200; }\n"
        . "location / { root \$TEST_NGINX_KEFU_HTML; include /etc/nginx/mime.types; }\n");
});

run_tests();

__DATA__

=== TEST 1: queued visitors, Chinese and English, page reports, assignment, close and rating
--- ws
browser_run('052-queue.mjs', site => 'b52', secret => $main::S);
--- timeout: 90
