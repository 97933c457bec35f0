# The visitor widget on the demo shop and the agent console, in headless
# Chromium (t/browser/050-chat.mjs): a visitor writes, the console receives
# it and replies, the visitor sees the reply, typing and read receipts;
# private notes never reach the visitor; text stays text; phone layout.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;

our $S = 'browser50-secret-0123456789abcdef';

# no skip: without Chromium the file fails and says why
browser_blocks(site => 'b50', secret => $S);

run_tests();

__DATA__

=== TEST 1: shop, widget and console: write, reply, typing, read receipts, notes, text as text
--- ws
browser_run('050-chat.mjs', site => 'b50', secret => $main::S);
--- timeout: 90
