# Catch-up paces itself to the client: joining a long conversation with a
# small send queue and small socket buffers reads the log a batch at a
# time, as the client takes it, and never closes a client that reads as a
# slow consumer.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Faults qw(free_port status);
use Socket qw(SOL_SOCKET SO_RCVBUF);

$ENV{TEST_NGINX_PACE_PORT} = free_port();

# a visitor's conversation of $n messages of 1 KB: (conv, visitor's token)
sub long_conv {
    my ($n) = @_;
    my ($a, $w) = kefu_connect(role => 'visitor', site => 'shop1');
    my $text = 'x' x 1000;
    $a->send_json({type => 'msg', cid => 'c0', text => $text});
    my $conv = $a->recv_type('ack')->{conv};
    $a->send_json({type => 'msg', conv => $conv, cid => "c$_", text => $text}) for 1 .. $n - 1;
    my $acks = 1;
    while ($acks < $n) {
        my $m = $a->recv_json(10) or last;
        $acks++ if $m->{type} eq 'ack';
    }
    return ($acks == $n ? $conv : undef, $w->{token});
}

run_tests();

__DATA__

=== TEST 1: a resume of 400 messages of 1 KB through a 16k send queue: all delivered, in order, not closed
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
    kefu_message_rate 10000r/s;
    kefu_max_message_size 8k;
    kefu_max_send_queue 16k;
    server {
        listen 127.0.0.1:$TEST_NGINX_PACE_PORT sndbuf=4k;
        location = /chat { kefu_chat; }
    }
--- config
    location = /chat { kefu_chat; }
    location = /kefu/status { kefu_status; }
--- ws
my ($conv, $token) = main::long_conv(400);
ok($conv, 'a conversation of 400 messages');
my $paused = status($Kefu::WS::Port)->{catchup_paused};

# another tab of the same visitor, with a small receive buffer, resumes
# from the start: the whole log comes as a catch-up
my $b = ws_connect(port => $ENV{TEST_NGINX_PACE_PORT});
setsockopt($b->sock, SOL_SOCKET, SO_RCVBUF, 32768) or die "SO_RCVBUF: $!";
$b->send_json({type => 'hello', site => 'shop1', role => 'visitor',
               token => $token, resume => {$conv => 0}});
is($b->recv_json->{type}, 'welcome', 'welcome');
my (@seq, $closed);
while (@seq < 400) {
    my $m = $b->recv_json(10) or last;
    if ($m->{_close}) { $closed = $m->{_close}; last }
    push @seq, $m->{seq} if $m->{type} eq 'msg';
}
ok(!$closed, 'not closed as a slow consumer') or diag("closed: @$closed");
is(scalar @seq, 400, 'all 400 delivered');
is_deeply(\@seq, [1 .. 400], 'in order, once each');
$b->send_json({type => 'ping', id => 'after'});
my $p = $b->recv_json(10);
is($p->{type} . ($p->{id} // ''), 'pongafter', 'nothing more before the pong, and still open');
cmp_ok(status($Kefu::WS::Port)->{catchup_paused}, '>', $paused,
       'status counts the pauses (catchup_paused)');
is(status($Kefu::WS::Port)->{slow_consumer_closes}, 0, 'no slow consumer closed');
--- timeout: 60
--- no_error_log
[alert]
[crit]
slow consumer



=== TEST 2: an admin joining a conversation of 400 messages of 1 KB through a 16k send queue: all delivered, in order, not closed
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
    kefu_message_rate 10000r/s;
    kefu_max_message_size 8k;
    kefu_max_send_queue 16k;
    server {
        listen 127.0.0.1:$TEST_NGINX_PACE_PORT sndbuf=4k;
        location = /chat { kefu_chat; }
    }
--- config
    location = /chat { kefu_chat; }
    location = /kefu/status { kefu_status; }
--- ws
use Kefu::Route qw(agent_token);
my ($conv) = main::long_conv(400);
ok($conv, 'a conversation of 400 messages');
my $paused = status($Kefu::WS::Port)->{catchup_paused};
my $s = ws_connect(port => $ENV{TEST_NGINX_PACE_PORT});
setsockopt($s->sock, SOL_SOCKET, SO_RCVBUF, 32768) or die "SO_RCVBUF: $!";
$s->send_json({type => 'hello', site => 'shop1', role => 'admin',
               token => agent_token('boss-' . int(rand 1e6), role => 'admin')});
is($s->recv_json->{type}, 'welcome', 'the admin is in');
$s->send_json({type => 'join', conv => $conv});
my (@seq, $closed);
while (@seq < 400) {
    my $m = $s->recv_json(10) or last;
    if ($m->{_close}) { $closed = $m->{_close}; last }
    push @seq, $m->{seq} if $m->{type} eq 'msg';
}
ok(!$closed, 'not closed as a slow consumer') or diag("closed: @$closed");
is_deeply(\@seq, [1 .. 400], 'all 400, in order, once each');
$s->send_json({type => 'ping', id => 'after'});
my $p;
while ($p = $s->recv_json(10)) {
    last if $p->{type} eq 'pong';
    fail("a message twice: $p->{seq}") if $p->{type} eq 'msg' && $p->{seq} <= 400;
}
is($p && $p->{id}, 'after', 'still open');
cmp_ok(status($Kefu::WS::Port)->{catchup_paused}, '>', $paused,
       'status counts the pauses (catchup_paused)');
--- timeout: 60
--- no_error_log
[alert]
[crit]
slow consumer
