# The visitor's side with nobody online, in headless Chromium
# (t/browser/054-offline.mjs): offline state, contact form, waiting,
# routed when the agent comes online, the answer and the rating read on a
# later visit, availability changing live.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;

our $S = 'browser54-secret-0123456789abcdef';

# no skip: without Chromium the file fails and says why
browser_blocks(site => 'b54', secret => $S);

run_tests();

__DATA__

=== TEST 1: offline, contact, waiting, answered while away, read and rated on return, availability live
--- ws
browser_run('054-offline.mjs', site => 'b54', secret => $main::S);
--- timeout: 120
