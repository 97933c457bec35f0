# Presence: agents are counted over all their connections, a reconnect
# within the grace period changes nothing, the last connection's departure
# makes the agent offline after it and its conversations go to others;
# agents and admins of the site hear every change.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Route;

workers(2);
master_on();

free_port('TEST_NGINX_REUSEPORT_PORT');

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site shop1 secret=$Kefu::Route::SECRET anonymous=on grace=2s;\n"
        . "server { listen 127.0.0.1:\$TEST_NGINX_REUSEPORT_PORT reuseport; location = /chat { kefu_chat; } }\n"
        . ($block->http_config // ''));
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=200; }\n" . ($block->config // ''));
});

# waits until the agent's connection count in Redis is n
sub conns_are {
    my ($id, $n) = @_;
    for (1 .. 400) {
        return 1 if (redis('HGET', "kefu:{s:shop1}:a:$id", 'conns') // '') eq $n;
        sleep 0.05;
    }
    return 0;
}

# waits until the error log has n lines matching the pattern
sub log_has {
    my ($re, $n) = @_;
    my $log = server_root() . '/logs/error.log';
    for (1 .. 600) {
        open my $fh, '<', $log or die $!;
        return 1 if grep({ $_ =~ $re } <$fh>) >= ($n // 1);
        sleep 0.05;
    }
    return 0;
}

run_tests();

__DATA__

=== TEST 1: tabs count, a reload keeps everything, offline after the grace period sends the conversations to others
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my $id = "pa$r";
my ($sup) = agent("boss$r", role => 'admin');
my ($a1, $w1, $p1) = agent($id, groups => [$g], status => 'online', name => 'Pat');
is($p1->{state}, 'online', 'online as its hello asks');
my $seen = wait_for($sup, sub { $_[0]{type} eq 'presence' && $_[0]{agent} eq $id });
is($seen->{state}, 'online', 'an admin of the site hears it');
my ($a2, $w2, $p2) = agent($id, groups => [$g]);
is($p2->{state}, 'online', 'a second tab: still online (no status in its hello)');
is(redis('HGET', "kefu:{s:shop1}:a:$id", 'conns'), 2, 'two connections counted');
my ($v, $vw, $ack, $n) = visitor($g);
is($n->{agent}{id}, $id, 'a visitor is routed to it');
ok(wait_conv($a2, $ack->{conv}, state => 'open'), 'every tab is told');

close $a1->sock;
close $a2->sock;
ok(main::conns_are($id, 0), 'both gone');
my ($a3, $w3, $p3) = agent($id, groups => [$g]);
is($p3->{state}, 'online', 'back within the grace period: still online');
my ($s) = grep { $_->{conv} eq $ack->{conv} } @{ $w3->{convs} };
is($s->{state}, 'open', 'and the conversation is still its');
is($s->{agent}, $id, '... assigned to it');
# no grace deadline is left for the agent (kefu:{s:<site>}:grace); then a
# presence change of its own: an "offline" would have come before it
is(redis('ZSCORE', 'kefu:{s:shop1}:grace', $id), undef,
   'back within the grace period: no deadline is left that could make it offline');
$a3->send_json({type => 'status', state => 'away', cid => 'away'});
my @heard = grep { $_->{type} eq 'presence' && $_->{agent} eq $id }
            $sup->upto(sub { $_[0]{type} eq 'presence' && $_[0]{agent} eq $id });
is_deeply([map { $_->{state} } @heard], ['away'], 'the reload was never seen as offline');
$v->send_json({type => 'msg', cid => 'after', text => 'still there?'});
my $m = wait_for($a3, sub { $_[0]{type} eq 'msg' && ($_[0]{text} // '') eq 'still there?' });
ok($m, 'the new connection gets the traffic');

close $a3->sock;
my $off = wait_for($sup, sub { $_[0]{type} eq 'presence' && $_[0]{agent} eq $id }, 20);
is($off->{state}, 'offline', 'offline once the grace period is over');
my $q = wait_conv($v, $ack->{conv}, state => 'queued');
ok($q, 'its conversation goes back to the queue');
is($q->{position}, 1, 'at the front');
my $e = wait_for($v, sub { $_[0]{type} eq 'msg' && ($_[0]{event} // '') eq 'requeued' });
is($e->{from}{role}, 'system', 'a system entry says so');
is(redis('HGET', "kefu:{s:shop1}:a:$id", 'load'), 0, 'its load is released');
my ($b) = agent("pb$r", groups => [$g], status => 'online');
ok(wait_conv($v, $ack->{conv}, state => 'open', agent => "pb$r"), 'another agent coming online takes it');
$m = wait_for($b, sub { $_[0]{type} eq 'msg' && ($_[0]{text} // '') eq 'still there?' });
ok($m, 'and reads what was written before');
--- timeout: 40



=== TEST 2: connections on both workers count as one agent; presence is heard on every worker
--- ws
my $port = $ENV{TEST_NGINX_REUSEPORT_PORT};
my $g = uniq_group();
my $r = int rand 1e6;
my $id = "pw$r";
my $log = server_root() . '/logs/error.log';
my (@tabs, %pids);
for (1 .. 40) {
    push @tabs, (agent($id, groups => [$g], port => $port))[0];
    open my $fh, '<', $log or die $!;
    %pids = map { /\[info\] (\d+)#.*agent "\Q$id\E" of site "shop1" authenticated/ ? ($1 => 1) : () } <$fh>;
    last if keys %pids >= 2 && @tabs >= 3;
}
cmp_ok(scalar keys %pids, '>=', 2, 'tabs on both workers');
is(redis('HGET', "kefu:{s:shop1}:a:$id", 'conns'), scalar @tabs, 'every tab counted once');
my @admins = map { (agent("pm$r-$_", role => 'admin', port => $port))[0] } 1 .. 4;
$tabs[0]->send_json({type => 'status', state => 'online'});
for my $i (0 .. $#tabs) {
    my $p = wait_for($tabs[$i], sub { $_[0]{type} eq 'presence' && $_[0]{state} eq 'online' });
    ok($p, "tab $i hears it");
}
my $heard = grep { wait_for($_, sub { $_[0]{type} eq 'presence' && $_[0]{agent} eq $id }) } @admins;
is($heard, 4, 'every admin hears it');
close $_->sock for @tabs;
ok(main::conns_are($id, 0), 'all counted out');



=== TEST 3: an agent left online with no connection beyond the grace period (its worker died) is not routed to
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my $now = int(time * 1000);
redis('HSET', "kefu:{s:shop1}:a:ghost$r", 'state', 'online', 'conns', 0, 'load', 0,
      'capacity', 5, 'gone', $now - 60000, 'groups', qq(["$g"]));
redis('SADD', "kefu:{s:shop1}:g:$g", "ghost$r");
redis('SADD', "kefu:{s:shop1}:agents", "ghost$r");
my ($v, $vw, $ack, $n) = visitor($g);
is($n->{state}, 'queued', 'queued, not given to the ghost');
my ($a, $w, $p) = agent("ghost$r", groups => [$g]);
is($p->{state}, 'away', 'its next connection starts afresh');

# a count no connection holds (kept by a version before leases): the agent
# is not routed to, and it goes offline at once
my $g2 = uniq_group();
redis('HSET', "kefu:{s:shop1}:a:old$r", 'state', 'online', 'conns', 3, 'load', 0,
      'capacity', 5, 'gone', $now - 60000, 'groups', qq(["$g2"]));
redis('SADD', "kefu:{s:shop1}:g:$g2", "old$r");
redis('SADD', "kefu:{s:shop1}:agents", "old$r");
redis('ZADD', "kefu:{s:shop1}:f:$g2", 0, "old$r");
my ($sup) = agent("boss$r", role => 'admin');
my ($v2, $vw2, $ack2, $n2) = visitor($g2);
is($n2->{state}, 'queued', 'queued, not given to an agent counted by an old counter');
is(redis('HGET', "kefu:{s:shop1}:a:old$r", 'conns'), 0, 'its count is corrected');
my $off = wait_for($sup, sub { $_[0]{type} eq 'presence' && $_[0]{agent} eq "old$r" }, 10);
is($off && $off->{state}, 'offline', 'and it goes offline');



=== TEST 4: hello's status must be online or away
--- ws
my $ws = ws_connect();
$ws->send_json({type => 'hello', role => 'agent', site => 'shop1', status => 'busy',
                token => agent_token('x1')});
my $e = $ws->recv_json;
is($e->{code}, 'unauthorized', 'refused');
like($e->{message}, qr/"status" must be online or away/, 'saying why');



=== TEST 5: a reload closes agents' connections (1001) and counts them out
--- ws
my $r = int rand 1e6;
my $id = "pr$r";
my ($a) = agent($id, groups => ['g-' . $r], status => 'online');
my ($b) = agent($id, groups => ['g-' . $r]);
is(redis('HGET', "kefu:{s:shop1}:a:$id", 'conns'), 2, 'two connections');
kill 'HUP', nginx_pid();
my ($code) = $a->recv_close(5);
is($code, 1001, 'the old worker says going away');
close $a->sock;
close $b->sock;
ok(main::conns_are($id, 0), 'both counted out by the exiting workers');
my ($c, $w, $p) = agent($id, groups => ['g-' . $r]);
is($p->{state}, 'online', 'reconnecting after the reload: still online');



=== TEST 6: a reconnecting agent joins every open conversation of its own, however many newer ones it closed
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my $id = "po$r";
my ($a) = agent($id, groups => [$g], status => 'online', capacity => 100);
my ($lv, $lw, $lack) = visitor($g, text => 'a long question');
my $long = $lack->{conv};
ok(wait_conv($a, $long, state => 'open'), 'the long conversation is the agent\'s');
for my $i (1 .. 55) {
    my ($v, $w, $ack) = visitor($g, text => "short $i");
    ok(wait_conv($a, $ack->{conv}, state => 'open'), "short $i assigned") or last;
    $a->send_json({type => 'close', conv => $ack->{conv}});
    ok(wait_conv($a, $ack->{conv}, state => 'closed'), "short $i closed") or last;
    close $v->sock;
}
close $a->sock;
my ($a2, $w2) = agent($id, groups => [$g]);
my ($s) = grep { $_->{conv} eq $long } @{ $w2->{convs} };
ok($s, 'the welcome lists the long conversation among 56');
is($s && $s->{state}, 'open', 'open');
$lv->send_json({type => 'msg', cid => 'later', text => 'are you still there?'});
ok(wait_for($a2, sub { $_[0]{type} eq 'msg' && ($_[0]{text} // '') eq 'are you still there?' }),
   'its live messages reach the new connection');
--- timeout: 60



=== TEST 7: a connection record the worker does not have (a close Redis never heard) is removed when the worker asserts its connections
--- http_config
kefu_lease_time 1s;
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my $id = "ph$r";
my $ak = "kefu:{s:shop1}:a:$id";
my ($a) = agent($id, groups => [$g], status => 'online');
is(redis('HGET', $ak, 'conns'), 1, 'one connection, one record');
my ($tok) = (redis('SMEMBERS', "$ak:c")->[0] // '') =~ /^(\w+)\|/;
ok($tok, 'held under a worker\'s lease');
redis('SADD', "$ak:c", "$tok|00000000000000ff");
redis('SADD', "kefu:{s:shop1}:l:$tok", "$id|00000000000000ff");
redis('HSET', $ak, 'conns', 2);
for (1 .. 200) { last if redis('HGET', $ak, 'conns') eq '1'; sleep 0.05 }
is(redis('HGET', $ak, 'conns'), 1, 'the record of the connection it does not have is gone');
is(redis('SISMEMBER', "$ak:c", "$tok|00000000000000ff"), 0, '... from the agent');
is(redis('SISMEMBER', "kefu:{s:shop1}:l:$tok", "$id|00000000000000ff"), 0, '... and from the lease');
is(redis('HGET', $ak, 'state'), 'online', 'the agent, still connected, stays online');
$a->send_json({type => 'status', state => 'away'});
ok(wait_for($a, sub { $_[0]{type} eq 'presence' && $_[0]{state} eq 'away' }), 'and its connection works');
