# Redis restarts: nothing acknowledged is lost, sends while it is away get
# unavailable, connections stay open, delivery resumes by itself; a Redis
# still loading its data is "not ready yet", never a failure.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use File::Temp qw(tempdir);
use IO::Socket::INET;

workers(2);
master_on();

# this file's own Redis, restarted by the tests
our $RDIR = tempdir(CLEANUP => 1);
our $RPORT = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1);
    my $p = $s->sockport; close $s; $p;
};
$ENV{TEST_NGINX_OWN_REDIS_PORT} = $RPORT;

sub redis_start {
    my ($more) = @_;
    system("redis-server --port $RPORT --bind 127.0.0.1 --dir $RDIR --appendonly yes"
           . " --save '' --daemonize yes --logfile $RDIR/redis.log --pidfile $RDIR/redis.pid"
           . " --enable-debug-command local " . ($more // '')) == 0
        or die "redis-server: $?";
}
sub redis_cli { my $out = `redis-cli -p $RPORT @_ 2>&1`; chomp $out; $out }
sub redis_stop {
    redis_cli('shutdown');
    for (1 .. 100) { last unless -e "$RDIR/redis.pid"; Time::HiRes::sleep(0.05) }
}
sub redis_wait {
    for (1 .. 100) { return 1 if redis_cli('ping') eq 'PONG'; Time::HiRes::sleep(0.05) }
    return 0;
}

redis_start();
redis_wait();
END { redis_stop() }

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

main::redis_stop();
$a->send_json({type => 'msg', conv => $conv, cid => 'm3', text => 'three'});
my $e = $a->recv_type('error');
is($e->{code}, 'unavailable', 'a send while Redis is away: unavailable');
is($e->{cid}, 'm3', 'with its cid');
$a->send_json({type => 'ping', id => 'still'});
is($a->recv_type('pong')->{id}, 'still', 'the connection stays open');

main::redis_start();
ok(main::redis_wait(), 'Redis is back');
# the client resends with the same cid until it is accepted
my $ack;
for (1 .. 40) {
    $a->send_json({type => 'msg', conv => $conv, cid => 'm3', text => 'three'});
    my $m = $a->recv_json(1) or next;
    if ($m->{type} eq 'ack') { $ack = $m; last }
    sleep 0.25;
}
ok($ack, 'accepted after the reconnect');
is($ack->{seq}, 3, 'as seq 3: nothing acknowledged was lost');
my $m = $b->recv_type('msg', 5);
is($m->{seq}, 3, 'delivery resumed by itself');
is($m->{text}, 'three', 'the right message');
$b->send_json({type => 'history', conv => $conv});
my $h = $b->recv_type('history');
is_deeply([map { $_->{text} } @{ $h->{msgs} }], [qw(one two three)], 'the log has all three');
--- error_log
kefu: redis commands connection down
kefu: redis pub/sub connection ready
--- no_error_log
[alert]
[crit]



=== TEST 2: a Redis still loading its data is waited for, not treated as a failure
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_OWN_REDIS_PORT connect_timeout=500ms timeout=1s;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
# A dataset that loads for longer than the module's longest reconnect
# backoff (5 s), whatever the machine's speed: 6000 keys, each delayed
# 1 ms while loading (Redis's key-load-delay), so that nginx's links
# certainly connect while Redis still answers LOADING; Redis answers
# clients between every kilobyte it loads, so they get LOADING at once.
main::redis_cli('debug populate 6000 filler 64');
main::redis_cli('bgrewriteaof');
for (1 .. 200) { last if main::redis_cli('info persistence') =~ /aof_rewrite_in_progress:0/ && main::redis_cli('info persistence') =~ /aof_rewrite_scheduled:0/; sleep 0.1 }
main::redis_stop();
main::redis_start('--key-load-delay 1000 --loading-process-events-interval-bytes 1024');
my $loading = 0;
for (1 .. 100) {
    my $p = main::redis_cli('ping');
    if ($p =~ /LOADING/) { $loading = 1; last }
    last if $p eq 'PONG';
    sleep 0.02;
}
ok($loading, 'Redis answered LOADING while it loaded');
for (1 .. 6) { last if main::redis_wait() }
my $welcome;
for (1 .. 60) {
    my ($ws, $w) = kefu_connect(role => 'visitor', site => 'shop1');
    if ($w && $w->{type} eq 'welcome') { $welcome = $ws; last }
    sleep 0.25;
}
ok($welcome, 'chat works once Redis has loaded');
$welcome->send_json({type => 'msg', cid => 'after', text => 'loaded'});
is($welcome->recv_type('ack')->{seq}, 1, 'and stores');
main::redis_cli('flushall');
--- timeout: 40
--- error_log
kefu: redis is loading its data, waiting
--- no_error_log
[alert]
[crit]
