# Redis restarts: nothing acknowledged is lost, sends while it is away get
# unavailable, connections stay open, delivery resumes by itself; a Redis
# still loading its data is "not ready yet", never a failure.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::FakeRedis;

workers(2);
master_on();

# this file's own Redis, stopped and started by the tests
our $R = redis_server('enable-debug-command' => 'local');
$ENV{TEST_NGINX_OWN_REDIS_PORT} = $R->port;

# a Redis that "restarts and loads its data" when the test says so: it
# passes through to the tests' Redis otherwise
our $FAKE = fake_redis($ENV{TEST_NGINX_REDIS_PORT});
$ENV{TEST_NGINX_FAKE_REDIS_PORT} = $FAKE->port;

# until the welcome: a hello refused as unavailable may be sent again
sub hello_until_welcome {
    my ($ws, %hello) = @_;
    for (1 .. 200) {
        $ws->send_json({type => 'hello', %hello});
        my $m = $ws->recv_json;
        return $m if ($m->{type} // '') eq 'welcome';
        return $m unless ($m->{code} // '') eq 'unavailable';
        sleep 0.1;
    }
    return undef;
}

# resends a msg with the same cid until it is acknowledged (the client's
# rule for unavailable); returns the ack
sub resend_until_ack {
    my ($ws, $msg) = @_;
    for (1 .. 200) {
        $ws->send_json($msg);
        my $m = $ws->wait_for(sub { ($_[0]{cid} // '') eq $msg->{cid} });
        return $m if $m && $m->{type} eq 'ack';
        die "not unavailable: " . json_enc($m) . "\n"
            unless $m && ($m->{code} // '') eq 'unavailable';
        sleep 0.1;
    }
    return undef;
}

run_tests();

__DATA__

=== TEST 1: a restart in the middle of a conversation loses nothing acknowledged
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_OWN_REDIS_PORT connect_timeout=500ms timeout=1s;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
my ($a, $w) = kefu_connect(role => 'visitor', site => 'shop1');
my ($b) = kefu_connect(role => 'visitor', site => 'shop1', token => $w->{token});
$a->send_json({type => 'msg', cid => 'm1', text => 'one'});
my $conv = $a->recv_type('ack')->{conv};
$a->send_json({type => 'msg', conv => $conv, cid => 'm2', text => 'two'});
is($a->recv_type('ack')->{seq}, 2, 'two messages acknowledged');
is($b->recv_type('msg')->{seq}, $_, "delivered $_") for 1 .. 2;

$main::R->stop;
$a->send_json({type => 'msg', conv => $conv, cid => 'm3', text => 'three'});
my $e = $a->recv_type('error');
is($e->{code}, 'unavailable', 'a send while Redis is away: unavailable');
is($e->{cid}, 'm3', 'with its cid');
$a->send_json({type => 'ping', id => 'still'});
is($a->recv_type('pong')->{id}, 'still', 'the connection stays open');

# a connection that says hello while Redis is away may say it again
my $late = ws_connect();
$late->send_json({type => 'hello', role => 'visitor', site => 'shop1', token => $w->{token}, cid => 'h1'});
my $he = $late->recv_json;
is($he->{code}, 'unavailable', 'hello while Redis is away: unavailable');
is($he->{cid}, 'h1', 'with its cid');

ok($main::R->start, 'Redis is back');
my $ack = main::resend_until_ack($a, {type => 'msg', conv => $conv, cid => 'm3', text => 'three'});
ok($ack, 'the same message is accepted after the reconnect');
is($ack->{seq}, 3, 'as seq 3: nothing acknowledged was lost');
my $m = $b->recv_type('msg');
is($m->{seq}, 3, 'delivery resumed by itself');
is($m->{text}, 'three', 'the right message');
$b->send_json({type => 'history', conv => $conv});
my $h = $b->recv_type('history');
is_deeply([map { $_->{text} } @{ $h->{msgs} }], [qw(one two three)], 'the log has all three');
my $w2 = main::hello_until_welcome($late, role => 'visitor', site => 'shop1', token => $w->{token});
is($w2->{type}, 'welcome', 'the refused hello, sent again once Redis is back: welcome');
is($w2->{id}, $w->{id}, 'the same visitor');
ok((grep { $_->{conv} eq $conv && $_->{seq} == 3 } @{ $w2->{convs} }), 'who sees the conversation');
--- error_log
kefu: redis commands connection down
kefu: redis pub/sub connection ready



=== TEST 2: a Redis still loading its data: unavailable with the cid, the connection kept, the same message acknowledged once loaded
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_FAKE_REDIS_PORT connect_timeout=500ms timeout=1s;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
my ($a, $w) = kefu_connect(role => 'visitor', site => 'shop1');
is($w->{type}, 'welcome', 'welcome through the stand-in');
$a->send_json({type => 'msg', cid => 'l1', text => 'before'});
my $ack1 = $a->recv_type('ack');
my $conv = $ack1->{conv};
ok($conv, 'a message stored');

$main::FAKE->loading(1);
# nginx reconnects and finds Redis loading
my $log = server_root() . '/logs/error.log';
my $waiting = 0;
for (1 .. 600) {
    open my $fh, '<', $log or die $!;
    $waiting = grep { /redis is loading its data, waiting/ } <$fh>;
    last if $waiting >= 2;
    sleep 0.05;
}
ok($waiting >= 2, 'both workers found Redis loading and wait');
# every send while it loads: unavailable, the cid, the connection kept
my $seen_unavailable = 0;
for my $try (1 .. 5) {
    $a->send_json({type => 'msg', conv => $conv, cid => 'l2', text => 'while loading'});
    my $m = $a->wait_for(sub { ($_[0]{cid} // '') eq 'l2' });
    is($m->{type}, 'error', "send $try while Redis loads: an error, not an ack");
    is($m->{code}, 'unavailable', '... unavailable');
    $seen_unavailable++;
}
my $hws = ws_connect();
$hws->send_json({type => 'hello', role => 'visitor', site => 'shop1', cid => 'h2'});
my $he = $hws->recv_json;
is($he->{code}, 'unavailable', 'a hello while Redis loads: unavailable');
is($he->{cid}, 'h2', 'with its cid');
my @before = $a->until_pong;
ok(!(grep { $_->{_close} } @before), 'the connection stays open');

$main::FAKE->loading(0);
my $ack = main::resend_until_ack($a, {type => 'msg', conv => $conv, cid => 'l2', text => 'while loading'});
ok($ack, 'the same message is acknowledged once Redis has loaded');
is($ack->{seq}, 2, 'as the next seq, once');
my $w2 = main::hello_until_welcome($hws, role => 'visitor', site => 'shop1');
is($w2->{type}, 'welcome', 'the refused hello, sent again: welcome');
$a->send_json({type => 'history', conv => $conv});
is_deeply([map { $_->{cid} } @{ $a->recv_type('history')->{msgs} }], ['l1', 'l2'], 'stored once');
--- error_log
kefu: redis is loading its data, waiting
--- no_error_log
refused the handshake
[crit]



=== TEST 3: a Redis too slow (stalled past kefu_redis timeout=): unavailable with the cid, the connection kept, the same message acknowledged once
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_OWN_REDIS_PORT connect_timeout=500ms timeout=1s;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
my ($a, $w) = kefu_connect(role => 'visitor', site => 'shop1');
$a->send_json({type => 'msg', cid => 's1', text => 'before'});
my $conv = $a->recv_type('ack')->{conv};
ok($conv, 'a message stored');
# SIGSTOP: Redis answers nothing until SIGCONT, however long that takes
kill 'STOP', $main::R->pid;
$a->send_json({type => 'msg', conv => $conv, cid => 's2', text => 'while slow'});
my $m = $a->wait_for(sub { ($_[0]{cid} // '') eq 's2' }, 30);
is($m->{type}, 'error', 'a send while Redis stalls: an error, not an ack');
is($m->{code}, 'unavailable', '... unavailable');
$a->send_json({type => 'ping', id => 'alive'});
is($a->recv_type('pong')->{id}, 'alive', 'the connection stays open');
kill 'CONT', $main::R->pid;
my $ack = main::resend_until_ack($a, {type => 'msg', conv => $conv, cid => 's2', text => 'while slow'});
ok($ack, 'the same message is acknowledged once Redis answers again');
$a->send_json({type => 'history', conv => $conv});
is_deeply([map { $_->{cid} } @{ $a->recv_type('history')->{msgs} }], ['s1', 's2'], 'stored once');
