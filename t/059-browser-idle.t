# An idle conversation closed by the sweep, in headless Chromium
# (t/browser/059-idle.mjs): the console's history and the visitor's widget
# say it closed for want of messages (zh and en), the console shows it
# closed.  idle_close is 60 s; time is moved in Redis by the scenario (the
# conversation's score in the site's convs two minutes back), never waited
# for.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;
use Kefu::API;

our $S = 'browser59i-secret-0123456789abcdef';
# retention=10s: the idle sweep's turn is a second
browser_blocks(site => 'bidle', secret => $S, api => 1, site_params => 'retention=10s');

our $SITE = site_of_run('bidle');

run_tests();

__DATA__

=== TEST 1: the console and the widget show an idle close as such
--- ws
api_ready('/kefu/api/sites/bidle/settings') or die 'Redis not ready';
my ($st, undef, undef, $raw) = api(PUT => '/kefu/api/sites/bidle/settings', {idle_close => 60},
    token => api_token(secret => $main::S, site => $main::SITE, role => 'admin', sub => 'boss'));
is($st, 200, 'idle_close 60 stored') or diag $raw;
local $ENV{KEFU_REDIS_PORT} = $ENV{TEST_NGINX_REDIS_PORT};
browser_run('059-idle.mjs', site => $main::SITE, secret => $main::S);
--- timeout: 150
