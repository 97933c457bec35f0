# Heartbeats and timeouts: pings on an interval, idle connections closed,
# clients that never say hello closed with 4401.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;

run_tests();

__DATA__

=== TEST 1: a silent client is pinged every kefu_ping_interval and kept while it answers
--- config
    location = /chat {
        kefu_chat;
        kefu_ping_interval 300ms;
        kefu_idle_timeout 1s;
        kefu_hello_timeout 1h;
    }
--- ws
my $ws = ws_connect();
my $pings = 0;
my $t0 = time;
while (time - $t0 < 3) {
    my $f = $ws->recv_frame(1.5);
    last unless $f && defined $f->{op};
    if ($f->{op} == 9) { $pings++; $ws->send_frame(10, $f->{payload}); }
}
cmp_ok($pings, '>=', 3, "pinged repeatedly ($pings pings in 3 s)");
$ws->send_json({type => 'ping', id => 'alive'});
my $m = $ws->recv_json;
is($m->{id}, 'alive', 'still open after three idle timeouts, because it answered');
--- no_error_log
idle timeout



=== TEST 2: a client that answers nothing is closed with 1001 after kefu_idle_timeout
--- config
    location = /chat {
        kefu_chat;
        kefu_ping_interval 200ms;
        kefu_idle_timeout 700ms;
        kefu_hello_timeout 1h;
    }
--- ws
my $ws = ws_connect();
my ($code, $reason) = $ws->recv_close(5);
is($code, 1001, 'closed with 1001');
is($reason, 'idle timeout', 'reason says why');
ok((grep { $_->{op} == 9 } @{ $ws->{before_close} }), 'it was pinged first');
ok($ws->expect_eof, 'connection closed');
--- error_log
kefu: closing websocket with 1001: idle timeout



=== TEST 3: no hello within kefu_hello_timeout: close 4401, even if the client pings
--- config
    location = /chat {
        kefu_chat;
        kefu_hello_timeout 500ms;
    }
--- ws
my $ws = ws_connect();
$ws->send_json({type => 'ping', id => 'p'});
is($ws->recv_json->{type}, 'pong', 'pings are answered before hello');
my ($code, $reason) = $ws->recv_close(5);
is($code, 4401, 'closed with 4401');
is($reason, 'hello timeout', 'reason says why');
--- error_log
kefu: closing websocket with 4401: hello timeout
