# Rules and the FAQ in the console's Settings in headless Chromium
# (t/browser/059-rules.mjs): forms, errors at their field, "Try it"
# with the unsaved document (issue 15).
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;
use Kefu::API qw(redis);

our $S = 'browser59r-secret-0123456789abcdef';

# no skip: without Chromium the file fails and says why
browser_blocks(site => 'b59r', secret => $S, api => 1);

run_tests();

__DATA__

=== TEST 1: an admin adds a rule with the forms, a bad condition refused at its field, tried unsaved with the FAQ, saved
--- ws
redis('DEL', 'kefu:{s:b59r}:settings');
browser_run('059-rules.mjs', site => 'b59r', secret => $main::S, claim => ['aftersales']);
redis('DEL', 'kefu:{s:b59r}:settings');
--- timeout: 200
