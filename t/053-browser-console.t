# The agent console in headless Chromium (t/browser/053-console.mjs):
# pasted sign-in, unread counts, the live list, keyboard use, history
# paging, the title flash in a background tab, transfer, sign-out.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;

our $S = 'browser53-secret-0123456789abcdef';

# no skip: without Chromium the file fails and says why
browser_blocks(site => 'b53', secret => $S, api => 1);

run_tests();

__DATA__

=== TEST 1: the console: sign-in, unread, keyboard, paging, title flash, transfer, sign-out
--- ws
browser_run('053-console.mjs', site => 'b53', secret => $main::S, claim => ['aftersales']);
--- timeout: 90
