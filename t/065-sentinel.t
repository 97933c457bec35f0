# kefu_redis sentinel: the master found through Redis Sentinel, followed
# across a failover; kefu_redis ... wait=N: an acknowledged message is on N
# replicas.  Every block that says $TEST_NGINX_SENTINEL_* gets a set-up of
# its own (t/lib/Kefu/Sentinel.pm: a master, a replica and three Sentinels
# on free loopback ports, started here and stopped at the block's end).
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Sentinel;
use Kefu::API;

workers(2);
master_on();

our $S;

add_block_preprocessor(sub {
    my $block = shift;
    return unless ($block->http_config // '') =~ /TEST_NGINX_SENTINEL/;
    $S->stop if $S;
    # wait=1 across a failover needs a replica left after it: two
    my $http = $block->http_config;
    $S = Kefu::Sentinel->new(replicas => $http =~ /wait=1 wait_timeout=1s/ ? 2 : 1);
    my @p = $S->sentinel_ports;
    $ENV{TEST_NGINX_SENTINEL_NAME} = $S->name;
    $ENV{TEST_NGINX_SENTINEL_1} = $p[0];
    $ENV{TEST_NGINX_SENTINEL_2} = $p[1];
    $ENV{TEST_NGINX_SENTINEL_3} = $p[2];
    # a port no Sentinel listens on: the first one nginx tries is down
    $ENV{TEST_NGINX_SENTINEL_DEAD} = free_port();
});

sub error_log {
    open my $fh, '<', server_root() . '/logs/error.log' or return '';
    local $/;
    return <$fh> // '';
}

# until the log has a line matching $re (or 60 s)
sub wait_log {
    my ($re) = @_;
    for (1 .. 1200) {
        return 1 if error_log() =~ $re;
        sleep 0.05;
    }
    return 0;
}

# a hello, again while storage is unavailable (nginx waits for a Sentinel)
sub connect_until_welcome {
    my (%hello) = @_;
    for (1 .. 600) {
        my ($ws, $w) = kefu_connect(%hello);
        return ($ws, $w) if ($w->{type} // '') eq 'welcome';
        die "not unavailable: " . json_enc($w) . "\n"
            unless ($w->{code} // '') eq 'unavailable';
        sleep 0.1;
    }
    return;
}

# resends a msg with the same cid until it is acknowledged (the client's
# rule for unavailable); returns the ack
sub resend_until_ack {
    my ($ws, $msg) = @_;
    for (1 .. 900) {
        $ws->send_json($msg);
        my $m = $ws->wait_for(sub { ($_[0]{cid} // '') eq $msg->{cid} }, 30);
        return $m if $m && $m->{type} eq 'ack';
        die "not unavailable: " . json_enc($m) . "\n"
            unless $m && ($m->{code} // '') eq 'unavailable';
        sleep 0.1;
    }
    return undef;
}

# the conversation's history, asked again while storage is unavailable
sub history_texts {
    my ($ws, $conv) = @_;
    for (1 .. 600) {
        $ws->send_json({type => 'history', conv => $conv, limit => 200});
        my $m = $ws->wait_for(sub { $_[0]{type} eq 'history' || $_[0]{type} eq 'error' }, 30);
        return [map { $_->{text} } @{ $m->{msgs} }] if $m && $m->{type} eq 'history';
        sleep 0.1;
    }
    return undef;
}

# n messages acknowledged one after the other; their texts
sub acked_messages {
    my ($ws, $conv, $prefix, $n) = @_;
    my @texts;
    for my $i (1 .. $n) {
        my $ack = resend_until_ack($ws, {type => 'msg', conv => $conv,
                                         cid => "$prefix$i", text => "$prefix $i"});
        push @texts, "$prefix $i" if $ack;
    }
    return @texts;
}

run_tests();

__DATA__

=== TEST 1: bad arguments are rejected by nginx -t, naming the directive
--- config
    location = /chat { kefu_chat; }
--- ws
my $http = sub { "events {}\nhttp {\n $_[0]\n server {\n listen 127.0.0.1:1;\n location = /chat {\n kefu_chat;\n }\n }\n}\n" };
my @cases = (
    ['kefu_redis sentinel;', qr/"kefu_redis" directive sentinel needs a master name and at least one Sentinel address/],
    ['kefu_redis sentinel mymaster;', qr/"kefu_redis" directive sentinel needs a master name and at least one Sentinel address/],
    ['kefu_redis sentinel mymaster password=x;', qr/"kefu_redis" directive sentinel needs a master name/],
    ['kefu_redis sentinel "my master" 127.0.0.1:26379;', qr/"kefu_redis" directive sentinel has an invalid master name/],
    ['kefu_redis sentinel mymaster 127.0.0.1:99999;', qr/invalid Sentinel address "127.0.0.1:99999" in "kefu_redis"/],
    ['kefu_redis sentinel mymaster unix:/tmp/s.sock;', qr/invalid Sentinel address "unix:\/tmp\/s.sock" in "kefu_redis": Sentinels are reached over TCP/],
    ['kefu_redis sentinel mymaster 127.0.0.1:26379 sentinel_password=;', qr/"kefu_redis" directive has an empty sentinel_password=/],
    ['kefu_redis sentinel mymaster 127.0.0.1:26379 sentinel_user=u;', qr/"kefu_redis" directive has sentinel_user= without sentinel_password=/],
    ['kefu_redis sentinel mymaster 127.0.0.1:26379 bogus=1;', qr/invalid parameter "bogus=1" in "kefu_redis"/],
    ['kefu_redis 127.0.0.1:6379 sentinel_password=x;', qr/"kefu_redis" takes "sentinel_password=x" only with "sentinel"/],
    ['kefu_redis 127.0.0.1:6379 wait=0;', qr/"kefu_redis" directive has an invalid wait= \(a number of replicas, at least 1\)/],
    ['kefu_redis 127.0.0.1:6379 wait=two;', qr/"kefu_redis" directive has an invalid wait=/],
    ['kefu_redis 127.0.0.1:6379 wait=1 wait_timeout=0;', qr/"kefu_redis" directive has an invalid wait_timeout=/],
    ['kefu_redis 127.0.0.1:6379 wait=1 wait_timeout=3s timeout=2s;', qr/"kefu_redis" directive has wait_timeout= not less than timeout=/],
    ['kefu_redis sentinel mymaster 127.0.0.1:26379 cluster;', qr/"kefu_redis" directive cannot combine "sentinel" and "cluster"/],
    ['kefu_redis cluster sentinel mymaster 127.0.0.1:26379;', qr/"kefu_redis" directive cannot combine "sentinel" and "cluster"/],
    ['kefu_redis cluster 127.0.0.1:7000 sentinel_password=x;', qr/"kefu_redis" directive cannot combine "sentinel" and "cluster"/],
);
for my $c (@cases) {
    my ($rc, $out) = nginx_t($http->($c->[0]));
    isnt($rc, 0, "'$c->[0]' fails nginx -t");
    like($out, $c->[1], "'$c->[0]': the message names the directive");
}
my ($rc, $out) = nginx_t($http->('kefu_redis sentinel mymaster 127.0.0.1:26379 127.0.0.1 [::1]:26380 sentinel_user=s sentinel_password=sp password=p db=2 wait=1 wait_timeout=500ms;'));
is($rc, 0, 'a good Sentinel configuration passes') or diag($out);
($rc, $out) = nginx_t($http->('kefu_redis 127.0.0.1:6379 wait=2;'));
is($rc, 0, 'wait= on a plain address passes') or diag($out);
($rc, $out) = nginx_t($http->('kefu_redis sentinel cluster 127.0.0.1:26379;'));
is($rc, 0, 'a master named "cluster" is a name, not the cluster form') or diag($out);
($rc, $out) = nginx_t($http->('kefu_redis cluster 127.0.0.1:7000 wait=1 wait_timeout=500ms;'));
is($rc, 0, 'wait= with cluster passes') or diag($out);



=== TEST 2: chat through Sentinel (the first one listed is down); the master killed under traffic: chat resumes by itself on the promoted replica
--- http_config
    kefu_redis sentinel $TEST_NGINX_SENTINEL_NAME 127.0.0.1:$TEST_NGINX_SENTINEL_DEAD 127.0.0.1:$TEST_NGINX_SENTINEL_1 127.0.0.1:$TEST_NGINX_SENTINEL_2 127.0.0.1:$TEST_NGINX_SENTINEL_3 connect_timeout=500ms timeout=1s;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; kefu_message_rate 10000r/s burst=10000; }
--- timeout: 300
--- ws
my $old = $main::S->master_port;
my ($a, $w) = main::connect_until_welcome(role => 'visitor', site => 'shop1');
ok($a, 'a visitor is welcome: nginx found the master through a Sentinel');
my ($b) = main::connect_until_welcome(role => 'visitor', site => 'shop1', token => $w->{token});
my $ack = main::resend_until_ack($a, {type => 'msg', cid => 't1', text => 'before 1'});
my $conv = $ack->{conv};
ok($conv, 'a message stored on the master');
is($b->recv_type('msg')->{text}, 'before 1', 'and delivered to the other connection');
like(main::error_log(), qr/redis Sentinel 127\.0\.0\.1:$ENV{TEST_NGINX_SENTINEL_DEAD}: could not connect, trying the next one/,
     'the Sentinel that is down was passed over');
like(main::error_log(), qr/redis master "$ENV{TEST_NGINX_SENTINEL_NAME}" is at 127\.0\.0\.1:$old \(asked\)/,
     'the master as a Sentinel named it');

# traffic: one message after another; the master dies after the fifth
my ($killed, $resumed, $last);
for my $i (2 .. 30) {
    if ($i == 6) {
        $main::S->kill_master;
        $killed = time;
    }
    my $m = main::resend_until_ack($a, {type => 'msg', conv => $conv, cid => "t$i", text => "msg $i"});
    ok($m, "msg $i acknowledged") or last;
    $resumed //= time if $killed;
    $last = "msg $i";
}
my $new = $main::S->wait_switch($old);
isnt($new, $old, 'the Sentinels promoted the replica');
is($new, $main::S->replica_port, 'the replica is the master now');
ok(main::wait_log(qr/redis master "$ENV{TEST_NGINX_SENTINEL_NAME}" is at 127\.0\.0\.1:$new/),
   'nginx follows the switch');
my $got = $b->wait_for(sub { ($_[0]{type} eq 'msg') && $_[0]{text} eq $last }, 60);
ok($got, 'delivery to the other connection resumed by itself');
diag(sprintf 'failover: the first message acknowledged %.1f s after SIGKILL of the master (down-after-milliseconds 1000)',
     $resumed - $killed);
my (undef, $c) = main::connect_until_welcome(role => 'visitor', site => 'shop1', token => $w->{token});
ok((grep { $_->{conv} eq $conv } @{ $c->{convs} // [] }), 'a new connection sees the conversation on the new master');



=== TEST 3: wait=1 (two replicas): the master killed right after acks: no acknowledged message is missing after the failover
--- http_config
    kefu_redis sentinel $TEST_NGINX_SENTINEL_NAME 127.0.0.1:$TEST_NGINX_SENTINEL_1 127.0.0.1:$TEST_NGINX_SENTINEL_2 127.0.0.1:$TEST_NGINX_SENTINEL_3 connect_timeout=500ms timeout=2s wait=1 wait_timeout=1s;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; kefu_message_rate 10000r/s burst=10000; }
--- timeout: 300
--- ws
my $old = $main::S->master_port;
my ($a, $w) = main::connect_until_welcome(role => 'visitor', site => 'shop1');
my $ack = main::resend_until_ack($a, {type => 'msg', cid => 'w0', text => 'w 0'});
my $conv = $ack->{conv};
ok($conv, 'the first message acknowledged');
my @acked = ('w 0', main::acked_messages($a, $conv, 'w', 40));
is(scalar @acked, 41, 'every message acknowledged');
# at once: whatever the replica got is all it will ever get
$main::S->kill_master;
my $new = $main::S->wait_switch($old);
ok((grep { $_ == $new } $main::S->replica_ports), 'a replica is the master now');
# acknowledged once the other replica follows the new master
my $after = main::resend_until_ack($a, {type => 'msg', conv => $conv, cid => 'after', text => 'after'});
ok($after, 'a message after the failover is acknowledged');
my $h = main::history_texts($a, $conv);
my %have = map { $_ => 1 } @$h;
my @missing = grep { !$have{$_} } @acked;
is_deeply(\@missing, [], 'no acknowledged message is missing on the new master');
is($after->{seq}, 42, 'the next message follows the last acknowledged one');



=== TEST 4: without wait=: the master killed right after acks: what can happen (acks may outrun replication; this run's count is reported, not asserted)
--- http_config
    kefu_redis sentinel $TEST_NGINX_SENTINEL_NAME 127.0.0.1:$TEST_NGINX_SENTINEL_1 127.0.0.1:$TEST_NGINX_SENTINEL_2 127.0.0.1:$TEST_NGINX_SENTINEL_3 connect_timeout=500ms timeout=1s;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; kefu_message_rate 10000r/s burst=10000; }
--- timeout: 300
--- ws
my $old = $main::S->master_port;
my ($a, $w) = main::connect_until_welcome(role => 'visitor', site => 'shop1');
my $ack = main::resend_until_ack($a, {type => 'msg', cid => 'n0', text => 'n 0'});
my $conv = $ack->{conv};
ok($conv, 'the first message acknowledged');
# a burst: every ack comes as soon as the master stored the message,
# before its replica necessarily has it
$a->send_json({type => 'msg', conv => $conv, cid => "n$_", text => "n $_"}) for 1 .. 150;
my @acked = ('n 0');
for my $i (1 .. 150) {
    my $m = $a->wait_for(sub { ($_[0]{cid} // '') eq "n$i" }, 30);
    push @acked, "n $i" if $m && $m->{type} eq 'ack';
}
ok(@acked > 1, scalar(@acked) . ' messages acknowledged');
$main::S->kill_master;
my $new = $main::S->wait_switch($old);
is($new, $main::S->replica_port, 'the replica is the master now');
my $after = main::resend_until_ack($a, {type => 'msg', conv => $conv, cid => 'after', text => 'after'});
ok($after, 'chat resumes after the failover');
my $h = main::history_texts($a, $conv);
my %have = map { $_ => 1 } @$h;
my @missing = grep { !$have{$_} } @acked;
diag(scalar(@missing) . ' of ' . scalar(@acked) . ' acknowledged messages missing after the failover without wait= (a loss is possible, not certain)');
ok(defined $h, 'the history is readable on the new master');



=== TEST 5: wait=1 with the replica away: unavailable with the cid (stored on the master, not acknowledged), the API's 503; resent once the replica is back: acknowledged as a duplicate
--- http_config
    kefu_redis sentinel $TEST_NGINX_SENTINEL_NAME 127.0.0.1:$TEST_NGINX_SENTINEL_1 127.0.0.1:$TEST_NGINX_SENTINEL_2 127.0.0.1:$TEST_NGINX_SENTINEL_3 connect_timeout=500ms timeout=2s wait=1 wait_timeout=300ms;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; kefu_message_rate 10000r/s burst=10000; }
    location /kefu/api/ { kefu_api; }
--- timeout: 300
--- ws
my ($a, $w) = main::connect_until_welcome(role => 'visitor', site => 'shop1');
my $ack = main::resend_until_ack($a, {type => 'msg', cid => 'r1', text => 'r 1'});
my $conv = $ack->{conv};
ok($conv, 'acknowledged with the replica there');
$main::S->replica->stop;
$a->send_json({type => 'msg', conv => $conv, cid => 'r2', text => 'r 2'});
my $e = $a->wait_for(sub { ($_[0]{cid} // '') eq 'r2' }, 30);
is($e->{type}, 'error', 'with the replica away: not acknowledged');
is($e->{code}, 'unavailable', '... unavailable');
my @before = $a->until_pong;
ok(!(grep { $_->{_close} } @before), 'the connection stays open');
ok(main::wait_log(qr/a message reached 0 of 1 replicas within wait_timeout=300: not acknowledged/),
   'the log says why');
$Kefu::API::Token = api_token(secret => 'shop1-secret-0123456789abcdef', site => 'shop1');
my $P = "/kefu/api/sites/shop1/convs/$conv/messages";
my ($st, $j) = api(POST => $P, {cid => 'api1', text => 'from the backend', from => {role => 'system'}});
is($st, 503, 'a message posted over the API with the replica away: 503');
is($j->{error}{code}, 'unavailable', '... unavailable');
ok($main::S->replica->start, 'the replica is back');
my $again = main::resend_until_ack($a, {type => 'msg', conv => $conv, cid => 'r2', text => 'r 2'});
ok($again, 'the resend is acknowledged');
ok($again->{dup}, 'as a duplicate: it was stored once, on the master');
is($again->{seq}, 2, 'with its seq');
for (1 .. 600) {
    ($st, $j) = api(POST => $P, {cid => 'api1', text => 'from the backend', from => {role => 'system'}});
    last unless $st == 503;
    sleep 0.1;
}
is($st, 200, 'the API resend: 200');
ok($j->{dup}, 'a duplicate');
is($j->{seq}, 3, 'stored once, after the visitor\'s second');



=== TEST 6: a switch while the old master lives on (SENTINEL FAILOVER: demoted, not killed): both links move to the new master, chat goes on
--- http_config
    kefu_redis sentinel $TEST_NGINX_SENTINEL_NAME 127.0.0.1:$TEST_NGINX_SENTINEL_1 127.0.0.1:$TEST_NGINX_SENTINEL_2 127.0.0.1:$TEST_NGINX_SENTINEL_3 connect_timeout=500ms timeout=1s;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; kefu_message_rate 10000r/s burst=10000; }
--- timeout: 300
--- ws
my $old = $main::S->master_port;
my ($a, $w) = main::connect_until_welcome(role => 'visitor', site => 'shop1');
my ($b) = main::connect_until_welcome(role => 'visitor', site => 'shop1', token => $w->{token});
my $ack = main::resend_until_ack($a, {type => 'msg', cid => 'f1', text => 'f 1'});
my $conv = $ack->{conv};
is($b->recv_type('msg')->{text}, 'f 1', 'chat works');
redis(port => ($main::S->sentinel_ports)[0], 'SENTINEL', 'FAILOVER', $main::S->name);
my $new = $main::S->wait_switch($old);
is($new, $main::S->replica_port, 'the replica is the master now');
ok(main::wait_log(qr/redis master "$ENV{TEST_NGINX_SENTINEL_NAME}" is at 127\.0\.0\.1:$new/),
   'nginx follows the switch');
my $role;
for (1 .. 600) {
    $role = eval { redis(port => $old, 'ROLE')->[0] } // '';
    last if $role eq 'slave';
    sleep 0.1;
}
is($role, 'slave', 'the old master, alive, is a replica now');
my $m = main::resend_until_ack($a, {type => 'msg', conv => $conv, cid => 'f2', text => 'f 2'});
is($m->{seq}, 2, 'the next message is stored, after the first');
my $got = $b->wait_for(sub { $_[0]{type} eq 'msg' && $_[0]{text} eq 'f 2' }, 60);
ok($got, 'and delivered: the pub/sub link moved too');
# the two tabs may be on one worker: the other's link may still be moving
my $subs = 0;
for (1 .. 300) {
    my $clients = redis(port => $new, 'CLIENT', 'LIST');
    $subs = () = $clients =~ /flags=P/g;
    last if $subs >= 2;
    sleep 0.1;
}
ok($subs >= 2, "both workers' pub/sub connections are on the new master ($subs)");



=== TEST 7: the Sentinel nginx listens to goes down, then the master is killed: nginx moves to the next Sentinel and still follows the switch
--- http_config
    kefu_redis sentinel $TEST_NGINX_SENTINEL_NAME 127.0.0.1:$TEST_NGINX_SENTINEL_1 127.0.0.1:$TEST_NGINX_SENTINEL_2 127.0.0.1:$TEST_NGINX_SENTINEL_3 connect_timeout=500ms timeout=1s;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; kefu_message_rate 10000r/s burst=10000; }
--- timeout: 300
--- ws
my $old = $main::S->master_port;
my ($a, $w) = main::connect_until_welcome(role => 'visitor', site => 'shop1');
my $ack = main::resend_until_ack($a, {type => 'msg', cid => 'g1', text => 'g 1'});
my $conv = $ack->{conv};
ok($conv, 'chat works');
$main::S->stop_sentinel(0);
ok(main::wait_log(qr/redis Sentinel 127\.0\.0\.1:$ENV{TEST_NGINX_SENTINEL_1}: connection lost, trying the next one/),
   'the lost Sentinel is noticed');
$main::S->kill_master;
my $new = $main::S->wait_switch($old);
is($new, $main::S->replica_port, 'the two Sentinels left promoted the replica');
my $m = main::resend_until_ack($a, {type => 'msg', conv => $conv, cid => 'g2', text => 'g 2'});
ok($m, 'chat resumes by itself');
ok(main::wait_log(qr/redis master "$ENV{TEST_NGINX_SENTINEL_NAME}" is at 127\.0\.0\.1:$new/),
   'nginx learned the new master from another Sentinel');
