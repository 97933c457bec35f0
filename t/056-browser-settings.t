# The console's Settings area in headless Chromium
# (t/browser/056-settings.mjs): an admin edits the site's settings, a
# visitor connected to another nginx host sees them at once.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;
use Kefu::API qw(redis);
use JSON::PP ();

our $S = 'browser56-secret-0123456789abcdef';

# no skip: without Chromium the file fails and says why
browser_blocks(site => 'b56', secret => $S);

run_tests();

__DATA__

=== TEST 1: an admin edits the settings in the console, a visitor on another host sees them
--- ws
redis('DEL', 'kefu:{s:b56}:settings');
my ($port2, $stop2) = start_host("kefu_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};\n"
    . "kefu_site b56 secret=$main::S anonymous=on;\n");
local $ENV{KEFU_WS2} = "ws://127.0.0.1:$port2/chat";
browser_run('056-settings.mjs', site => 'b56', secret => $main::S);
my $doc = JSON::PP::decode_json(redis('HGET', 'kefu:{s:b56}:settings', 'doc') // '{}');
is($doc->{idle_close}, 1800, 'the console stored idle_close in seconds (30 minutes)');
redis('DEL', 'kefu:{s:b56}:settings');
$stop2->();
--- timeout: 150
