# Chat and routing on a real Redis Cluster of three masters and six
# replicas, two each (t/lib/Kefu/Cluster.pm), with two nginx hosts: visitors on one,
# the agent on the other.
#
# - A site's conversations spread over every master (`{c:<conv>}` keys),
#   while its routing state stays in its own slot (`{s:<site>}`); every
#   visitor's first message is routed to the agent across hosts, the
#   agent's replies reach the visitors, a close reaches both.
# - Resharding the slots that hold a live conversation, under traffic
#   (redis-cli --cluster reshard): every acknowledged message reaches the
#   agent, once and in order; nothing is lost.
# - The master of a live conversation killed under traffic with
#   `wait=1`: its replica takes over, chat resumes by itself, and no
#   acknowledged message is missing afterwards. The failover time is
#   printed, never asserted.
# - The example bot (examples/bot/kefu_bot.py) given another master's
#   address follows MOVED to the site's event stream and answers; the
#   stream's master killed, it connects again and answers after the
#   failover by itself.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Cluster;
use Kefu::WS qw(jwt_hs256 kefu_connect);
use POSIX qw(WNOHANG);
use Kefu::API;
use File::Temp qw(tempdir);

workers(2);
master_on();

# two replicas a master: with wait=1 acks go on after a failover only if
# the promoted replica has a replica of its own (docs/storage.md, "Failover
# and durability": run at least N+1 replicas)
our $C = Kefu::Cluster->new(replicas => 2);
our $SITE = 'cc';
our $SECRET = 'cc-secret-0123456789abcdef';

sub http_conf {
    my ($extra) = @_;
    my ($seed) = $main::C->masters;
    return "kefu_redis cluster 127.0.0.1:$seed connect_timeout=500ms timeout=1s ping=500ms"
        . ($extra // '') . ";\n"
        . "kefu_site $main::SITE secret=$main::SECRET anonymous=on default_group=sales;\n";
}

# an agent of the site, online, on a host just started (it may not have
# Redis yet)
sub agent_on {
    my ($port, $id) = @_;
    my $t = jwt_hs256({sub => $id, role => 'agent', site => $main::SITE,
                       exp => time + 900, name => "Agent $id", groups => ['sales'],
                       capacity => 200}, $main::SECRET);
    for (1 .. 100) {
        my ($ws, $w) = kefu_connect(port => $port, role => 'agent', site => $main::SITE,
                                    token => $t, status => 'online');
        return $ws if $w->{type} eq 'welcome';
        select undef, undef, undef, 0.1;
    }
    die "agent $id: no welcome\n";
}

# a message sent until it is acknowledged: resent with the same cid after
# `unavailable` (a master away, a slot moving), as a client does
sub send_acked {
    my ($ws, $msg, $secs) = @_;
    my $deadline = time + ($secs // 60);
    while (time < $deadline) {
        $ws->send_json($msg);
        my $r = $ws->wait_for(sub {
            ($_[0]{type} eq 'ack' || $_[0]{type} eq 'error')
                && ($_[0]{cid} // '') eq $msg->{cid} }, 5);
        return $r if $r && $r->{type} eq 'ack';
        select undef, undef, undef, 0.1;
    }
    return undef;
}

# the agent reads a conversation's messages from the visitor until every
# cid given came: (cids in the order they came, duplicates, seqs in order)
sub agent_reads {
    my ($a, $conv, $cids, $secs) = @_;
    my %want = map { $_ => 1 } @$cids;
    my (%seen, @order, $dups);
    my ($last, $ordered) = (0, 1);
    my $deadline = time + ($secs // 60);
    while (keys %want && time < $deadline) {
        my $m = $a->wait_for(sub { $_[0]{type} eq 'msg' && $_[0]{conv} eq $conv
                                   && $_[0]{from}{role} eq 'visitor' }, $deadline - time)
            or last;
        $dups++ if $seen{ $m->{cid} }++;
        $ordered = 0 if $m->{seq} <= $last;
        $last = $m->{seq};
        push @order, $m->{cid};
        delete $want{ $m->{cid} };
    }
    return (scalar(keys %want), $dups // 0, $ordered);
}

# a visitor on port whose first message the agent gets assigned:
# (visitor, conv)
sub routed_visitor {
    my ($port, $a, $i) = @_;
    my ($v) = kefu_connect(port => $port, role => 'visitor', site => $main::SITE);
    my $ack = send_acked($v, {type => 'msg', cid => "first$i", text => "hello $i"})
        or die "visitor $i: no ack\n";
    my $n = $a->wait_for(sub { $_[0]{type} eq 'conv' && ($_[0]{conv} // '') eq $ack->{conv}
                               && ($_[0]{state} // '') eq 'open' }, 30)
        or die "visitor $i: the agent never got the conversation\n";
    return ($v, $ack->{conv});
}

run_tests();

__DATA__

=== TEST 1: visitors on host A, the agent on host B: every first message routed to the agent, replies and a close across hosts; the site's conversations on every master
--- ws
my $http = main::http_conf();
my ($pa) = start_host($http);
my ($pb) = start_host($http);
my $a = main::agent_on($pb, 'ann');

# conversations until every master holds one (ids are Snowflakes: their
# slots spread; three in a row on one master are rare, 60 never)
my (%on, @v);
for my $i (1 .. 60) {
    my ($v, $conv) = main::routed_visitor($pa, $a, $i);
    push @v, [$v, $conv];
    $on{ $main::C->master_of_slot($main::C->slot("kefu:{c:$conv}")) }++;
    last if keys %on == 3 && @v >= 6;
}
is(scalar(keys %on), 3, scalar(@v) . " conversations of one site, on all 3 masters");
my $site_master = $main::C->master_of_slot($main::C->slot("kefu:{s:$main::SITE}:counts"));
my $open = $main::C->cmd('HGET', "kefu:{s:$main::SITE}:counts", 'open');
is($open, scalar(@v), "the site's counts, on its own master ($site_master): every one open");

# the agent answers each, the visitor gets it
my $bad = 0;
for my $e (@v) {
    my ($v, $conv) = @$e;
    my $ack = main::send_acked($a, {type => 'msg', conv => $conv, cid => "r$conv",
                                    text => 'how can I help?'});
    my $m = $v->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{cid} // '') eq "r$conv" }, 20);
    $bad++ unless $ack && $m && $m->{seq} == $ack->{seq};
}
is($bad, 0, "every reply acknowledged on host B and delivered on host A");

# the visitor's follow-ups reach the agent
my ($missing, $dups, $ordered) = (0, 0, 1);
for my $e (@v[0 .. 2]) {
    my ($v, $conv) = @$e;
    my @cids = map { "f$conv-$_" } 1 .. 5;
    main::send_acked($v, {type => 'msg', cid => $_, text => $_}) or $missing++ for @cids;
    my ($m, $d, $o) = main::agent_reads($a, $conv, \@cids, 20);
    ($missing, $dups) = ($missing + $m, $dups + $d);
    $ordered &&= $o;
}
is($missing, 0, 'follow-ups: none missing at the agent');
is($dups, 0, 'none twice');
ok($ordered, 'in order');

# a close by the agent reaches the visitor on the other host
my ($v0, $c0) = @{ $v[0] };
$a->send_json({type => 'close', conv => $c0});
my $cl = $v0->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $c0
                             && $_[0]{state} eq 'closed' }, 20);
ok($cl, 'the close reaches the visitor on host A');
$v0->send_json({type => 'history', conv => $c0});
my $h = $v0->recv_type('history', 20);
ok($h && @{ $h->{msgs} } >= 7, 'history of the closed conversation: ' . scalar(@{ $h->{msgs} // [] }) . ' entries');



=== TEST 2: resharding the slots that hold a live conversation, under traffic: every acknowledged message reaches the agent once, in order
--- ws
my $http = main::http_conf();
my ($pa) = start_host($http);
my ($pb) = start_host($http);
my $a = main::agent_on($pb, 'bob');
my ($v, $conv) = main::routed_visitor($pa, $a, 1);

my $slot = $main::C->slot("kefu:{c:$conv}");
my $from = $main::C->master_of_slot($slot);
my ($to) = grep { $_ != $from } $main::C->masters;
my ($lo) = map { $_->[0] } grep { $slot >= $_->[0] && $slot <= $_->[1] }
           @{ redis(port => $from, 'CLUSTER', 'SLOTS') };
my $n = $slot - $lo + 1;

my $pid = fork // die;
if (!$pid) {
    my $ok = eval { $main::C->reshard($from, $to, $n); 1 };
    print STDERR $@ unless $ok;
    POSIX::_exit($ok ? 0 : 1);
}
my (@cids, $unacked);
my $i = 0;
while (waitpid($pid, WNOHANG) == 0 || $i < 20) {
    my $cid = 'm' . ++$i;
    main::send_acked($v, {type => 'msg', cid => $cid, text => "during $i"}, 30)
        ? push(@cids, $cid) : $unacked++;
}
is($?, 0, "redis-cli --cluster reshard moved $n slots");
is($main::C->master_of_slot($slot), $to, "the conversation's slot $slot is on the other master");
ok(!$unacked, scalar(@cids) . ' messages sent during the resharding, every one acknowledged');
my ($missing, $dups, $ordered) = main::agent_reads($a, $conv, \@cids, 30);
is($missing, 0, 'none missing at the agent');
is($dups, 0, 'none twice');
ok($ordered, 'in order');
# and the conversation goes on where it now lives
my $ack = main::send_acked($a, {type => 'msg', conv => $conv, cid => 'after', text => 'after'});
ok($ack && $v->wait_for(sub { ($_[0]{cid} // '') eq 'after' }, 20),
   "the agent's reply after it reaches the visitor");



=== TEST 3: the master of a live conversation killed under traffic, wait=1: chat resumes by itself, no acknowledged message missing
--- ws
my $http = main::http_conf(' wait=1 wait_timeout=500ms');
my ($pa) = start_host($http);
my ($pb) = start_host($http);
my $a = main::agent_on($pb, 'cyd');
my ($v, $conv) = main::routed_visitor($pa, $a, 1);

my $victim = $main::C->master_of_slot($main::C->slot("kefu:{c:$conv}"));
ok($main::C->wait_replicated($victim), 'the replica caught up with its master');

my @cids;
for my $i (1 .. 10) {
    push @cids, "b$i" if main::send_acked($v, {type => 'msg', cid => "b$i", text => "before $i"});
}
my $t0 = time;
$main::C->kill_master($victim);
my $back;
for my $i (1 .. 20) {
    my $ack = main::send_acked($v, {type => 'msg', cid => "a$i", text => "after $i"}, 90);
    last unless $ack;
    $back //= time - $t0;
    push @cids, "a$i";
}
is(scalar(@cids), 30, 'every message acknowledged, the ones sent across the failover too');
isnt($main::C->master_of_slot($main::C->slot("kefu:{c:$conv}")), $victim,
     'the conversation is served by the promoted replica');
my ($missing, $dups, $ordered) = main::agent_reads($a, $conv, \@cids, 60);
is($missing, 0, 'no acknowledged message missing at the agent');
is($dups, 0, 'none twice');
ok($ordered, 'in order');
$v->send_json({type => 'history', conv => $conv});
my $h = $v->recv_type('history', 30);
my %in = map { ($_->{cid} // '') => 1 } @{ $h->{msgs} // [] };
is(scalar(grep { !$in{$_} } @cids), 0, 'every acknowledged message is in the history');
diag(sprintf "failover: master killed -> first message acknowledged again in %.1f s "
     . "(cluster-node-timeout 1000 ms, kefu_redis ping=500ms timeout=1s)", $back // -1);



=== TEST 4: the example bot given another master follows MOVED to the site's stream and answers; the stream's master killed, it answers again after the failover
--- ws
my $http = main::http_conf();
my ($pa) = start_host($http, "location /kefu/api/ { kefu_api; }\n");
my $admin = api_token(secret => $main::SECRET, site => $main::SITE, role => 'admin', sub => 'boss');
ok(api_ready("/kefu/api/sites/$main::SITE/settings", port => $pa, token => $admin), 'the API is ready');
my ($st) = api(PUT => "/kefu/api/sites/$main::SITE/settings",
               {bot => {enabled => JSON::PP::true(), mode => 'external'}}, port => $pa, token => $admin);
is($st, 200, 'bot.mode external');

my $key = "kefu:{s:$main::SITE}:events";
my $smaster = $main::C->master_of_slot($main::C->slot($key));
my ($other) = grep { $_ != $smaster } $main::C->masters;
my $dir = tempdir(CLEANUP => 1);
my $pid = open(my $out, '-|', "exec python3 $FindBin::Bin/../examples/bot/kefu_bot.py"
               . " --redis 127.0.0.1:$other --api http://127.0.0.1:$pa/kefu/api"
               . " --site $main::SITE --secret $main::SECRET 2>$dir/bot.err")
    or die "python3: $!";
my $ok = eval {
    require IO::Select;
    my $line = IO::Select->new($out)->can_read(30) ? <$out> : undef;
    like($line, qr/^kefu_bot: reading/, 'the bot reads the stream');
    my $err = do { local (@ARGV, $/) = ("$dir/bot.err"); <> } // '';
    like($err, qr/moved to 127\.0\.0\.1:$smaster/, "sent by $other to the stream's master $smaster");

    my ($v) = kefu_connect(port => $pa, role => 'visitor', site => $main::SITE);
    my $ack = main::send_acked($v, {type => 'msg', cid => 's1', text => 'When is SHIPPING?'})
        or die "no ack\n";
    my $conv = $ack->{conv};
    my $m = $v->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{from}{role} // '') eq 'bot' }, 30);
    like($m && $m->{text}, qr/48 hours/, 'the bot answered');

    # a visitor whose conversation is on another master than the stream:
    # its message is stored and acknowledged while the stream's master is
    # down, and its event waits for the failover
    my ($w, $wconv);
    for my $i (1 .. 40) {
        ($w) = kefu_connect(port => $pa, role => 'visitor', site => $main::SITE);
        my $a = main::send_acked($w, {type => 'msg', cid => "w$i", text => "hello $i"}) or die "no ack\n";
        $wconv = $a->{conv};
        last if $main::C->master_of_slot($main::C->slot("kefu:{c:$wconv}")) != $smaster;
    }
    isnt($main::C->master_of_slot($main::C->slot("kefu:{c:$wconv}")), $smaster,
         'a conversation on another master');

    ok($main::C->wait_replicated($smaster), "the stream's replica caught up");
    $main::C->kill_master($smaster);
    my $ack2 = main::send_acked($w, {type => 'msg', conv => $wconv, cid => 's2', text => 'shipping, while the stream is away?'});
    ok($ack2, 'a message stored while the stream\'s master is down');
    ok($main::C->wait_ok(60), 'a replica took over');
    my $n = $w->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{from}{role} // '') eq 'bot' }, 90);
    like($n && $n->{text}, qr/48 hours/, 'the bot answered it after the failover, with no other message');
    $err = do { local (@ARGV, $/) = ("$dir/bot.err"); <> } // '';
    like($err, qr/connecting again|trying again/, 'after it lost its connection');
    1;
};
kill 'TERM', $pid;
waitpid $pid, 0;
diag("the bot's stderr:\n" . (do { local (@ARGV, $/) = ("$dir/bot.err"); <> } // '')) unless $ok;
die $@ unless $ok;
