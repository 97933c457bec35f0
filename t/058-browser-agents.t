# The agent's console, the agents' view (issue 13) in headless Chromium
# (t/browser/058-agents.mjs): the queue seen live with several visitors
# and accepted in one click, the visitor panel filled from what a
# shop-signed visitor sent (attributes, pages, contact, browser), a
# business event, the returning visitor's previous conversation opened
# with who closed it and the rating, the transfer picker, sound and cue,
# system lines not unread, keyboard shortcuts.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;

our $S = 'browser58-secret-0123456789abcdef';

# no skip: without Chromium the file fails and says why
browser_blocks(site => 'b58', secret => $S, api => 1);

run_tests();

__DATA__

=== TEST 1: queue, visitor panel, previous conversation, transfer picker, sound and cue, shortcuts
--- ws
browser_run('058-agents.mjs', site => 'b58', secret => $main::S);
--- timeout: 120
