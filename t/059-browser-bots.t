# Bots in headless Chromium (t/browser/059-bots.mjs), against the server's
# bot state: the FAQ bot's answers as the widget's quick replies, "talk to
# a person", the console's Bot tab (read-only, a rule's card) and its take-
# over, the agent seeing all the bot said (issue 15).
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;
use Kefu::API qw(redis);

our $S = 'browser59b-secret-0123456789abcdef';
$ENV{TEST_NGINX_KEFU_HTML} = kefu_root() . '/html';

# no skip: without Chromium the file fails and says why
if (my $why = browser_ready()) {
    die "no browser: $why (scripts/test installs Chromium and the\n"
        . "node packages; see t/README.md)\n";
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site b59 secret=$S anonymous=on;\n");
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=200; }\n"
        . "location /kefu/api/ { kefu_api; }\n"
        . "location / { root \$TEST_NGINX_KEFU_HTML; include /etc/nginx/mime.types; }\n");
});

run_tests();

__DATA__

=== TEST 1: an FAQ answer with buttons, talk to a person, a take-over from the Bot tab
--- ws
redis('DEL', 'kefu:{s:b59}:settings');
browser_run('059-bots.mjs', site => 'b59', secret => $main::S, claim => ['aftersales']);
redis('DEL', 'kefu:{s:b59}:settings');
--- timeout: 200
