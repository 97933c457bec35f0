# Chaos: Redis faults under load.  Visitors on one host and their agents
# on another (two workers each) keep talking while Redis forgets its
# scripts, sleeps past the command timeout, or the pub/sub links stall
# behind a frozen proxy.  After each: every acknowledged message delivered
# exactly once, in order, to both participants; nobody disconnected; the
# status counters say what happened.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Route;
use Kefu::Faults;

workers(2);
master_on();
worker_connections(1024);

# this file's own Redis (its scripts flushed, put to sleep) and a proxy in
# front of it for the stalled links; and one without FUNCTION, as a Redis
# before 7 (the scripts then loaded by SCRIPT LOAD, called by EVALSHA)
our $R = redis_server();
our $P = tcp_proxy($R->port);
our $R6 = redis_server(args => q{--rename-command FUNCTION ""});
$ENV{TEST_NGINX_FAULT_REDIS_PORT} = $R->port;
$ENV{TEST_NGINX_PROXY_PORT} = $P->port;
$ENV{TEST_NGINX_NOFN_REDIS_PORT} = $R6->port;

# the second host, with a status location of its own
sub host2 {
    my ($redis) = @_;
    my $sp = free_port();
    redis_links_ready(Test::Nginx::Socket::server_root() . '/logs/error.log', 4)
        or die "host 1: Redis links not ready\n";
    my ($port, $stop, $log) = start_host(main::site($redis)
        . "server { listen 127.0.0.1:$sp; location = /kefu/status { kefu_status; } }\n");
    redis_links_ready($log, 4) or die "host 2: Redis links not ready\n";
    return ($port, $sp, $stop);
}

sub site {
    my ($redis) = @_;
    return "kefu_redis 127.0.0.1:$redis timeout=1s ping=300ms;\n"
         . "kefu_site shop1 secret=$Kefu::Route::SECRET anonymous=on capacity=1 grace=60s;\n"
         . "kefu_message_rate 1000r/s;\n";
}

sub stat_sum {
    my ($key, @ports) = @_;
    my $n = 0;
    for my $p (@ports) {
        my $s = status($p) or die "no status from $p\n";
        my $v = $s;
        $v = $v->{$_} for split /\./, $key;
        $n += $v // 0;
    }
    return $n;
}

# stat_sum once it reaches $want, or after 30 s what it is then: a
# worker's stalled link is found by its own health check, which may come
# after the test's traffic has settled
sub stat_sum_at_least {
    my ($want, $key, @ports) = @_;
    my $deadline = Time::HiRes::time() + 30;
    my $n;
    while (($n = stat_sum($key, @ports)) < $want && Time::HiRes::time() < $deadline) {
        Time::HiRes::sleep(0.2);
    }
    return $n;
}

run_tests();

__DATA__

=== TEST 1: FUNCTION FLUSH under load: the library loaded again once a worker, every call run again, nobody told unavailable
--- http_config eval
main::site('$TEST_NGINX_FAULT_REDIS_PORT')
--- config
    location = /chat { kefu_chat; }
    location = /kefu/status { kefu_status; }
--- ws
my ($port2, $sp2, $stop) = main::host2($ENV{TEST_NGINX_FAULT_REDIS_PORT});
my $t = traffic(ports => [$Kefu::WS::Port], agent_ports => [$port2], pairs => 4, redis => $main::R);
$main::R->cli('config', 'resetstat');
$t->round for 1 .. 2;
ok($t->settle, 'before: acknowledged');
# the scripts are the library's functions: called by FCALL, never EVALSHA,
# and no script loaded one by one
my $st = join("\n", $main::R->cli('info', 'commandstats'));
my ($fcalls) = $st =~ /cmdstat_fcall:calls=(\d+)/;
cmp_ok($fcalls // 0, '>', 0, 'the scripts are called by FCALL (' . ($fcalls // 0) . ')');
unlike($st, qr/cmdstat_(evalsha|script\|load):/, 'no EVALSHA, no SCRIPT LOAD');
my @libs = grep { /^kefu_[0-9a-f]{8}p$/ } $main::R->cli('function', 'list');
is(scalar(@libs), 1, 'one library, named with its hash (' . join(' ', @libs) . ')');
# flushed with nothing in flight: every participant's next message meets
# "Function not found", and none is refused
$main::R->cli('config', 'resetstat');
$main::R->cli('function', 'flush');
$t->round;
ok($t->settle, 'acknowledged after the flush');
is($t->unavailable, 0, 'no message was refused: each call ran again behind the reload');
# each worker's link loads the library again once, however many of its
# calls found it missing: four workers, two hosts
my ($loads) = join("\n", $main::R->cli('info', 'commandstats')) =~ /cmdstat_function\|load:calls=(\d+)/;
ok($loads && $loads <= 4, 'the library loaded again, once a worker (' . ($loads // 0) . ')');
# and flushed again and again while messages are in flight
for (1 .. 3) {
    $t->round;
    $main::R->cli('function', 'flush');
    $t->fault;
    $t->round for 1 .. 2;
}
$t->check('FUNCTION FLUSH');
cmp_ok(main::stat_sum('redis.noscript', $Kefu::WS::Port, $sp2), '>', 0,
       'status counts the calls run again (redis.noscript)');
$stop->();
--- timeout: 90
--- error_log
lost the function library (Function not found), loading it again
--- no_error_log
[alert]
[crit]



=== TEST 2: DEBUG SLEEP longer than the command timeout under load: refused while asleep, nothing acknowledged lost, delivery resumes
--- http_config eval
main::site('$TEST_NGINX_FAULT_REDIS_PORT')
--- config
    location = /chat { kefu_chat; }
    location = /kefu/status { kefu_status; }
--- ws
my ($port2, $sp2, $stop) = main::host2($ENV{TEST_NGINX_FAULT_REDIS_PORT});
my $t = traffic(ports => [$Kefu::WS::Port], agent_ports => [$port2], pairs => 4, redis => $main::R);
$t->round;
ok($t->settle, 'before: acknowledged');
my $failures = main::stat_sum('redis.failures', $Kefu::WS::Port, $sp2);
# asleep for 3 s, three times the timeout; traffic goes on meanwhile
my $pid = fork // die;
if (!$pid) { exec('redis-cli', '-p', $main::R->port, 'debug', 'sleep', '3'); exit 1 }
my $asleep = 0;
while (waitpid($pid, POSIX::WNOHANG()) == 0) {
    $t->round;
    $t->pump(0.3);
    $asleep++;
}
$t->fault;    # Redis is awake again
ok($asleep, 'messages were sent while Redis slept');
$t->round;
$t->check('DEBUG SLEEP');
cmp_ok(main::stat_sum('redis.failures', $Kefu::WS::Port, $sp2), '>', $failures,
       'status counts the commands that timed out');
$stop->();
--- timeout: 120
--- error_log
connection timed out waiting for a reply
--- no_error_log
[alert]
[crit]



=== TEST 3: a stalled pub/sub link (a frozen proxy, no RST) is found by the health check and reopened; delivery resumes from the log
--- http_config eval
main::site('$TEST_NGINX_PROXY_PORT')
--- config
    location = /chat { kefu_chat; }
    location = /kefu/status { kefu_status; }
--- ws
my ($port2, $sp2, $stop) = main::host2($ENV{TEST_NGINX_PROXY_PORT});
my $t = traffic(ports => [$Kefu::WS::Port], agent_ports => [$port2], pairs => 4, redis => $main::R);
$t->round for 1 .. 2;
ok($t->settle, 'before: acknowledged');
my $stalls = main::stat_sum('redis.pubsub_stalls', $Kefu::WS::Port, $sp2);
# every worker's pub/sub connection: two hosts, two workers
is($main::P->freeze('\r\nSUBSCRIBE\r\n'), 4, 'four pub/sub connections frozen');
$t->fault;
$t->round for 1 .. 3;
ok($t->settle, 'acknowledged while pub/sub is stalled: the command links work');
$t->check('stalled pub/sub');
cmp_ok(main::stat_sum_at_least($stalls + 4, 'redis.pubsub_stalls', $Kefu::WS::Port, $sp2),
       '>=', $stalls + 4, 'status counts each stalled link reopened');
cmp_ok(main::stat_sum_at_least(4, 'redis.reconnects', $Kefu::WS::Port, $sp2), '>=', 4,
       'and its reconnect');
$main::P->thaw;
$stop->();
--- timeout: 90
--- error_log
kefu: redis pub/sub connection stalled
--- no_error_log
[alert]
[crit]



=== TEST 4: over kefu_redis_max_inflight a msg gets unavailable with its cid at once; the same cid is acknowledged later
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_FAULT_REDIS_PORT timeout=10s;
    kefu_redis_max_inflight 2;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
    kefu_message_rate 1000r/s;
--- config
    location = /chat { kefu_chat; }
    location = /kefu/status { kefu_status; }
--- ws
# the worker's start-up commands (scripts, leases, settings) may hold the
# two places for a moment: hello until it is welcomed
my ($a, $w, $b, $w2);
for (1 .. 100) {
    ($a, $w) = kefu_connect(role => 'visitor', site => 'shop1');
    last if $w->{type} eq 'welcome';
    sleep 0.1;
}
for (1 .. 100) {
    ($b, $w2) = kefu_connect(role => 'visitor', site => 'shop1', token => $w->{token});
    last if $w2->{type} eq 'welcome';
    sleep 0.1;
}
my $first;
for (1 .. 100) {
    $a->send_json({type => 'msg', cid => 'm0', text => 'zero'});
    $first = $a->wait_for(sub { ($_[0]{cid} // '') eq 'm0' });
    last if $first && $first->{type} eq 'ack';
    sleep 0.1;
}
my $conv = $first->{conv};
is($b->recv_type('msg')->{cid}, 'm0', 'the other tab has it');
# Redis holds every command for 3 s; OK means it is paused already
is($main::R->cli('client', 'pause', '3000', 'all'), 'OK', 'Redis paused');
$a->send_json({type => 'msg', conv => $conv, cid => "m$_", text => "n$_"}) for 1 .. 6;
# refused before its call is built (issue 18), but after the message's own
# checks: a malformed one is told what is wrong with it, not unavailable
$a->send_json({type => 'msg', conv => $conv, cid => 'bad1', text => 'x', attachment => {id => 'nope'}});
$a->send_json({type => 'msg', conv => $conv, cid => 'bad2', text => ''});
my (@first, %ack, %refused, %bad);
while (keys(%ack) + keys(%refused) + keys(%bad) < 8) {
    my $m = $a->recv_json(10) or last;
    next unless $m->{type} eq 'ack' || $m->{type} eq 'error';
    if (($m->{cid} // '') =~ /^bad/) { $bad{ $m->{cid} } = "$m->{type} $m->{code}"; next }
    push @first, $m->{type};
    if ($m->{type} eq 'ack') { $ack{ $m->{cid} } = $m->{seq} }
    else {
        is($m->{code}, 'unavailable', "$m->{cid}: unavailable");
        $refused{ $m->{cid} } = 1;
    }
}
is($first[0], 'error', 'the refusal comes at once, before any acknowledgement');
cmp_ok(scalar(keys %refused), '>=', 4, 'at most two in flight: four or more refused');
ok(!(grep { !defined $_ || !/^m[1-6]$/ } keys %refused), 'each refusal with its cid');
is_deeply(\%bad, {bad1 => 'error bad_request', bad2 => 'error bad_request'},
          "while refusing: an attachment not the upload's, an empty text, bad_request");
for my $cid (sort keys %refused) {
    # the worker's own calls (leases, sweeps) may hold the two places a
    # moment: a client asks again after "unavailable", with the same cid
    my $m;
    for (1 .. 50) {
        $a->send_json({type => 'msg', conv => $conv, cid => $cid, text => 'again'});
        $m = $a->wait_for(sub { ($_[0]{cid} // '') eq $cid }, 10);
        last unless $m && $m->{type} eq 'error' && $m->{code} eq 'unavailable';
        sleep 0.1;
    }
    is($m->{type}, 'ack', "$cid acknowledged when sent again");
    is($m->{cid}, $cid, 'the same cid');
    ok(!$m->{dup}, 'stored once, now');
}
my @got = map { $b->recv_type('msg', 10)->{cid} } 1 .. 6;
is(scalar(grep { defined } @got), 6, 'the other tab gets all six');
my $s = status($Kefu::WS::Port);
cmp_ok($s->{redis}{busy}, '>=', 4, 'status counts the refusals (redis.busy)');
--- timeout: 30
--- error_log
redis commands in flight (kefu_redis_max_inflight), refusing more
--- no_error_log
[alert]
[crit]



=== TEST 5: Redis restarted under load: refused while it is away, then everything acknowledged delivered, by itself
--- http_config eval
main::site('$TEST_NGINX_FAULT_REDIS_PORT')
--- config
    location = /chat { kefu_chat; }
    location = /kefu/status { kefu_status; }
--- ws
my ($port2, $sp2, $stop) = main::host2($ENV{TEST_NGINX_FAULT_REDIS_PORT});
my $t = traffic(ports => [$Kefu::WS::Port], agent_ports => [$port2], pairs => 4, redis => $main::R);
$t->round for 1 .. 2;
ok($t->settle, 'before: acknowledged');
my $reconnects = main::stat_sum('redis.reconnects', $Kefu::WS::Port, $sp2);
$main::R->cli('bgrewriteaof');
$main::R->stop;
$t->round for 1 .. 2;
$t->pump(0.5);
$main::R->start;
ok($main::R->wait, 'Redis is back');
$t->fault;
$t->round for 1 .. 2;
$t->check('Redis restart');
cmp_ok($t->unavailable, '>', 0, 'messages sent while Redis was away were refused, then resent');
cmp_ok(main::stat_sum('redis.reconnects', $Kefu::WS::Port, $sp2), '>=', $reconnects + 8,
       'status counts every link of the four workers reconnected');
$stop->();
--- timeout: 90
--- error_log
kefu: redis commands connection down
--- no_error_log
[alert]
[crit]



=== TEST 6: a catch-up refused by a BUSY Redis is retried with backoff, and the member catches up once Redis answers again
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_FAULT_REDIS_PORT timeout=5s;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
    location = /kefu/status { kefu_status; }
--- ws
my ($a, $w) = kefu_connect(role => 'visitor', site => 'shop1');
my ($b) = kefu_connect(role => 'visitor', site => 'shop1', token => $w->{token});
$a->send_json({type => 'msg', cid => 'm1', text => 'one'});
my $conv = $a->recv_type('ack')->{conv};
is($b->recv_type('msg')->{seq}, 1, 'the other tab has seq 1');
my $retries = status($Kefu::WS::Port)->{catchup_retries};
is($main::R->cli('config', 'set', 'busy-reply-threshold', '100'), 'OK', 'BUSY after 100 ms of a script');
# in one write: an entry announced past a gap (the tab must catch up),
# and a script that keeps Redis busy, so that the catch-up meets BUSY
my $r = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $main::R->port) or die;
my $resp = sub { join '', '*' . @_ . "\r\n", map { '$' . length($_) . "\r\n$_\r\n" } @_ };
my $busy = 'local i = 0 while true do i = i + 1 end';
print $r $resp->('PUBLISH', "kefu:{c:$conv}", '0000000000000000|0|3|{}'),
         $resp->('EVAL', $busy, '0');
my $seen = 0;
for (1 .. 200) {
    my $s = status($Kefu::WS::Port);
    if ($s->{catchup_retries} >= $retries + 2) { $seen = 1; last }
    sleep 0.05;
}
ok($seen, 'the catch-up failed and was tried again (catchup_retries)');
like($main::R->cli('script', 'kill'), qr/^OK/, 'the busy script killed');
close $r;
$main::R->cli('config', 'set', 'busy-reply-threshold', '5000');
$a->send_json({type => 'msg', conv => $conv, cid => "m$_", text => "n$_"}) for 2 .. 3;
is($a->recv_type('ack')->{seq}, 2, 'seq 2 stored');
my @got = map { my $m = $b->recv_type('msg', 10); $m ? $m->{seq} : undef } 1 .. 2;
is_deeply(\@got, [2, 3], 'the tab caught up: seq 2 and 3, in order');
is(scalar(grep { $_->{type} eq 'msg' } $b->until_pong), 0,
   'no other message before a pong');
--- timeout: 30
--- error_log
BUSY
--- no_error_log
[alert]
[crit]



=== TEST 7: a stalled Redis and a burst: behind a command that waited kefu_redis_max_wait each msg is refused at once; every msg answered before the timeout; the same cids stored when resent
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_FAULT_REDIS_PORT timeout=10s ping=200ms;
    kefu_redis_max_wait 300ms;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
    kefu_message_rate 1000r/s burst=1000;
--- config
    location = /chat { kefu_chat; }
    location = /kefu/status { kefu_status; }
--- ws
my ($a, $w) = kefu_connect(role => 'visitor', site => 'shop1');
my ($b) = kefu_connect(role => 'visitor', site => 'shop1', token => $w->{token});
$a->send_json({type => 'msg', cid => 'm0', text => 'zero'});
my $conv = $a->recv_type('ack')->{conv};
is($b->recv_type('msg')->{cid}, 'm0', 'the other tab has it');
my $s0 = status($Kefu::WS::Port);
# Redis holds every command for 3 s, the health probes of both workers too
is($main::R->cli('client', 'pause', '3000', 'all'), 'OK', 'Redis paused');
my $n = 60;
$a->send_json({type => 'msg', conv => $conv, cid => "m$_", text => "n$_"}) for 1 .. 5;
# past kefu_redis_max_wait and a probe interval: every worker's oldest
# command has waited longer than the bound
sleep 0.8;
$a->send_json({type => 'msg', conv => $conv, cid => "m$_", text => "n$_"}) for 6 .. $n;
my (@order, %ack, %refused);
while (keys(%ack) + keys(%refused) < $n) {
    my $m = $a->recv_json(20) or last;
    next unless $m->{type} eq 'ack' || $m->{type} eq 'error';
    push @order, $m->{type};
    if ($m->{type} eq 'ack') { $ack{ $m->{cid} } = $m->{seq} }
    else {
        is($m->{code}, 'unavailable', "$m->{cid}: unavailable");
        $refused{ $m->{cid} } = 1;
    }
    if (keys(%refused) == $n - 5 && !grep { $_ eq 'ack' } @order) {
        # all refused while Redis is still paused: the gauges meanwhile
        my $s = status($Kefu::WS::Port);
        cmp_ok($s->{redis}{overdue} - $s0->{redis}{overdue}, '>=', $n - 5,
               'status counts the refusals (redis.overdue)');
        my $queue = 0;
        $queue += $_->{queue} for @{ $s->{redis}{workers} };
        cmp_ok($queue, '>=', 2, "status shows the commands waiting for Redis ($queue)");
    }
}
is(keys(%ack) + keys(%refused), $n, 'every msg answered: ack or unavailable');
ok(!(grep { !$refused{"m$_"} } 6 .. $n), 'each msg sent behind the overdue one refused');
my ($first_ack) = grep { $order[$_] eq 'ack' } 0 .. $#order;
ok(!(grep { $order[$_] eq 'error' } ($first_ack // @order) .. $#order),
   'every refusal came before any acknowledgement: at once, not at the timeout');
for my $cid (sort keys %refused) {
    $a->send_json({type => 'msg', conv => $conv, cid => $cid, text => 'again'});
    my $m = $a->wait_for(sub { ($_[0]{cid} // '') eq $cid }, 10);
    is($m && $m->{type}, 'ack', "$cid acknowledged when sent again");
    ok($m && !$m->{dup}, "$cid stored once, now");
}
my %got;
for (1 .. $n) {
    my $m = $b->recv_type('msg', 10) or last;
    $got{ $m->{cid} }++;
}
is(scalar(keys %got), $n, "the other tab gets all $n");
ok(!(grep { $_ != 1 } values %got), 'each once');
my $s = status($Kefu::WS::Port);
is($s->{redis}{failures}, $s0->{redis}{failures}, 'no command timed out');
--- timeout: 60
--- error_log
redis command has waited
--- no_error_log
[alert]
[crit]
timed out waiting for a reply



=== TEST 8: a Redis without FUNCTION (as before 7): the scripts by SCRIPT LOAD and EVALSHA; SCRIPT FLUSH under load, each script loaded again once, every call run again, nobody told unavailable
--- http_config eval
main::site('$TEST_NGINX_NOFN_REDIS_PORT')
--- config
    location = /chat { kefu_chat; }
    location = /kefu/status { kefu_status; }
--- ws
my ($port2, $sp2, $stop) = main::host2($ENV{TEST_NGINX_NOFN_REDIS_PORT});
my $t = traffic(ports => [$Kefu::WS::Port], agent_ports => [$port2], pairs => 4, redis => $main::R6);
$t->round for 1 .. 2;
ok($t->settle, 'before: acknowledged');
unlike(join("\n", $main::R6->cli('info', 'commandstats')), qr/cmdstat_fcall:/,
       'no FCALL on a Redis without FUNCTION');
# flushed with nothing in flight: every participant's next message meets
# NOSCRIPT, and none is refused
$main::R6->cli('config', 'resetstat');
$main::R6->cli('script', 'flush');
$t->round;
ok($t->settle, 'acknowledged after the flush');
is($t->unavailable, 0, 'no message was refused: each NOSCRIPT ran again behind its reload');
# each worker loads again, once, only the scripts it called since: what
# its timers run (leases, sweeps) besides the round's messages, so the
# bound is what Redis holds again, once per worker, and not all scripts
my ($loads) = join("\n", $main::R6->cli('info', 'commandstats')) =~ /cmdstat_script\|load:calls=(\d+)/;
my ($cached) = join("\n", $main::R6->cli('info', 'memory')) =~ /number_of_cached_scripts:(\d+)/;
my $all = () = glob("$FindBin::Bin/../ngx_kefu_module/lua/*.lua");
ok($loads && $loads <= 4 * $cached, "the scripts that were missing loaded again, each once a worker"
   . " ($loads loads of $cached scripts for four workers)");
cmp_ok($cached, '<', $all, "not all of them ($cached of $all)");
# and flushed again and again while messages are in flight
for (1 .. 3) {
    $t->round;
    $main::R6->cli('script', 'flush');
    $t->fault;
    $t->round for 1 .. 2;
}
$t->check('SCRIPT FLUSH');
cmp_ok(main::stat_sum('redis.noscript', $Kefu::WS::Port, $sp2), '>', 0,
       'status counts the calls run again (redis.noscript)');
$stop->();
--- timeout: 90
--- error_log
no functions (FUNCTION LOAD: ERR unknown command
(NOSCRIPT), loading it again
--- no_error_log
[alert]
[crit]
