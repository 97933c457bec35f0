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
browser_blocks(site => 'b59', secret => $S, api => 1);

run_tests();

__DATA__

=== TEST 1: an FAQ answer with buttons, talk to a person, a take-over from the Bot tab
--- ws
redis('DEL', 'kefu:{s:b59}:settings');
browser_run('059-bots.mjs', site => 'b59', secret => $main::S, claim => ['aftersales']);
redis('DEL', 'kefu:{s:b59}:settings');
--- timeout: 200
