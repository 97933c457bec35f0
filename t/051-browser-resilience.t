# The widget through refreshes, new tabs and a cut connection, in headless
# Chromium (t/browser/051-resilience.mjs): the history survives a refresh
# and shows in a new tab; a visitor offline for a moment still gets every
# message exactly once, and what it typed offline reaches the agent once.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;

our $S = 'browser51-secret-0123456789abcdef';

# no skip: without Chromium the file fails and says why
browser_blocks(site => 'b51', secret => $S, api => 1);

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
