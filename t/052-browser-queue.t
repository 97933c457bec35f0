# Waiting in the queue, in Chinese on a phone, in headless Chromium
# (t/browser/052-queue.mjs): the queue banner and position, the embed
# tag's language override, page reports, the agent's name on assignment,
# close and the rating card.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;

our $S = 'browser52-secret-0123456789abcdef';

# no skip: without Chromium the file fails and says why
browser_blocks(site => 'b52', secret => $S);

run_tests();

__DATA__

=== TEST 1: queued visitors, Chinese and English, page reports, assignment, close and rating
--- ws
browser_run('052-queue.mjs', site => 'b52', secret => $main::S);
--- timeout: 90
