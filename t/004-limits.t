# Bounded memory: a client that does not read is closed as a slow consumer,
# never allowed to grow the worker's memory.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;

run_tests();

__DATA__

=== TEST 1: a client that sends but never reads is closed when its queue passes kefu_max_send_queue
--- config
    location = /chat {
        kefu_chat;
        kefu_max_message_size 2k;
        kefu_max_send_queue 8k;
        kefu_send_timeout 20s;
        kefu_message_rate 100000r/s burst=100000;
    }
--- ws
my $ws = ws_connect();
my $s = $ws->sock;
$s->blocking(0);
# each pong is ~1 KB; write pings until the server stops taking them:
# socket buffers hold a few MB, the module's queue only 8 KB
my $ping = ws_frame(1, json_enc({type => 'ping', id => 'x' x 1000}));
my ($sent, $buf, $deadline) = (0, '', time + 10);
while ($sent < 20000 && time < $deadline) {
    $buf = $ping if $buf eq '';
    my $n = syswrite($s, $buf);
    if (!defined $n) { last unless $!{EAGAIN}; sleep 0.01; next }
    substr($buf, 0, $n, '');
    $sent++ if $buf eq '';
}
$s->blocking(1);
cmp_ok($sent, '>', 100, "$sent pings written without reading a byte");
# now read: what was sent before the close, then the close itself
my ($code, $reason) = $ws->recv_close(10);
is($code, 1008, 'closed with 1008 once the client read');
is($reason, 'slow consumer', 'as a slow consumer');
my $pongs = @{ $ws->{before_close} };
cmp_ok($pongs, '<', $sent, "the unsent output was dropped, not kept ($pongs of $sent pongs arrived)");
ok($ws->expect_eof, 'connection closed');
--- timeout: 30
--- error_log
kefu: slow consumer
--- no_error_log
[alert]
[crit]



=== TEST 2: a client that reads is not slow, even when a burst's answers exceed the queue
--- config
    location = /chat {
        kefu_chat;
        kefu_max_message_size 2k;
        kefu_max_send_queue 8k;
        kefu_message_rate 1000r/s burst=1000;
    }
--- ws
my $ws = ws_connect();
my $ping = ws_frame(1, json_enc({type => 'ping', id => 'y' x 1000}));
$ws->send_raw($ping x 200);
my $n = 0;
while (my $m = $ws->recv_json(3)) {
    last unless ($m->{type} // '') eq 'pong';
    last if ++$n == 200;
}
is($n, 200, 'all 200 pongs (200 KB) arrive through an 8 KB queue');
--- no_error_log
slow consumer
