# Buttons in headless Chromium (t/browser/059-buttons.mjs): a bot's and an
# agent's buttons as the widget's quick replies, and in the console
# (issue 15).
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;
use Kefu::API qw(redis);

our $S = 'browser59c-secret-0123456789abcdef';

# no skip: without Chromium the file fails and says why
browser_blocks(site => 'b59b', secret => $S, api => 1);

run_tests();

__DATA__

=== TEST 1: quick replies from a bot and an agent, used by keyboard and put away by typing; the console shows them
--- ws
redis('DEL', 'kefu:{s:b59b}:settings');
browser_run('059-buttons.mjs', site => 'b59b', secret => $main::S);
redis('DEL', 'kefu:{s:b59b}:settings');
--- timeout: 200
