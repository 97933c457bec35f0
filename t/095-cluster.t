# kefu_redis cluster against a real Redis Cluster on this machine: three
# masters and three replicas of Debian's redis-server, created with
# redis-cli --cluster create and stopped at the end (t/lib/Kefu/Cluster.pm).
#
# - nginx -t: the cluster syntax and its errors name the directive.
# - Discovery and routing: given one seed (a replica), each worker finds
#   the three masters; three sites whose keys live on three different
#   masters are each read from their own master (the status endpoint's
#   script declares its keys), on two nginx hosts.
# - Sharded pub/sub: every worker's presence channel of a site is
#   subscribed (SSUBSCRIBE) on the master of that channel's slot, and on
#   no other master.
# - Resharding under traffic (redis-cli --cluster reshard of the slots
#   holding a site's keys): every status read during and after it is
#   complete and right (MOVED, ASK, TRYAGAIN followed); its channel
#   follows the slot to its new master.
# - A master none of the worker's channels hash to: its sharded link
#   answers the health check with +PONG and stays up.
# - A master killed under traffic: its replica is promoted and reads of
#   that site come back by themselves; the time is printed, never
#   asserted.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Cluster;
use POSIX qw(WNOHANG);

workers(2);
master_on();

our $C = Kefu::Cluster->new;

# three site names, each one's {s:<site>} slot on another master
our @SITES;
{
    my %taken;
    for my $i (1 .. 500) {
        my $name = "cl$i";
        my $m = $main::C->master_of_slot($main::C->slot("kefu:{s:$name}:counts"));
        next if $taken{$m}++;
        push @SITES, $name;
        last if @SITES == 3;
    }
    die "no site for every master\n" unless @SITES == 3;
}

# the seed nginx is given: a replica, so that the map must be discovered
our ($SEED) = grep { my $p = $_; !grep { $_ == $p } $main::C->masters } $main::C->ports;

our $HTTP = "kefu_redis cluster 127.0.0.1:$SEED connect_timeout=500ms timeout=1s ping=500ms;\n"
    . join('', map { "kefu_site $_ secret=${_}-secret-0123456789abcdef anonymous=on;\n" } @SITES);
our $SERVER = "location = /status { kefu_status; }\n";

# counts the status endpoint reads, one site's on its own master
sub seed_counts {
    for my $i (0 .. $#SITES) {
        $main::C->cmd('HSET', "kefu:{s:$SITES[$i]}:counts", 'queued', 10 + $i,
                'open', 20 + $i, 'closed', 30 + $i);
    }
}

# (code, decoded body) of one status read on a host
sub status_of {
    my ($port) = @_;
    my ($code, $h, $body) = http_raw("GET /status HTTP/1.0\r\nHost: x\r\n\r\n",
                                     port => $port);
    return ($code, $code == 200 ? json_dec($body) : undef);
}

# whether a status read has every site's counts, and right
sub complete {
    my ($j) = @_;
    return 0 unless $j && $j->{sites};
    for my $i (0 .. $#SITES) {
        my $c = $j->{sites}{ $SITES[$i] }{conversations} or return 0;
        return 0 unless ($c->{queued} // -1) == 10 + $i
                        && ($c->{open} // -1) == 20 + $i
                        && ($c->{closed} // -1) == 30 + $i;
    }
    return 1;
}

sub wait_complete {
    my ($port, $secs) = @_;
    my $deadline = time + ($secs // 30);
    while (time < $deadline) {
        my ($code, $j) = status_of($port);
        return 1 if $code == 200 && complete($j);
        sleep 0.1;
    }
    return 0;
}

# redirections the masters answered since the last reset (INFO errorstats)
sub redirections {
    my ($kind) = @_;
    my $n = 0;
    for my $m ($C->masters) {
        my $info = redis(port => $m, 'INFO', 'errorstats');
        $n += $1 if $info =~ /errorstat_$kind:count=(\d+)/;
    }
    return $n;
}

sub reset_stats { redis(port => $_, 'CONFIG', 'RESETSTAT') for $C->masters }

# how many of a host's workers are subscribed to a channel, per master
sub shard_subscribers {
    my ($channel) = @_;
    my %n;
    for my $m ($main::C->masters) {
        my $r = redis(port => $m, 'PUBSUB', 'SHARDNUMSUB', $channel);
        $n{$m} = $r->[1];
    }
    return \%n;
}

run_tests();

__DATA__

=== TEST 1: the cluster syntax; nginx -t names the directive in every error
--- ws
my $http = sub { "events {}\nhttp {\n $_[0]\n server {\n listen 127.0.0.1:1;\n location = /chat { kefu_chat; }\n }\n}\n" };
my @cases = (
    ['kefu_redis cluster;', qr/"kefu_redis" directive cluster needs at least one host:port/],
    ['kefu_redis cluster password=x;', qr/"kefu_redis" directive cluster needs at least one host:port/],
    ['kefu_redis cluster unix:/tmp/r.sock;', qr/"kefu_redis cluster" takes host:port addresses, not "unix:\/tmp\/r.sock"/],
    ['kefu_redis cluster 127.0.0.1:notaport;', qr/invalid address "127.0.0.1:notaport" in "kefu_redis cluster"/],
    ['kefu_redis cluster 127.0.0.1:7000 db=1;', qr/"kefu_redis" directive has db= with cluster \(a cluster has database 0 only\)/],
    ['kefu_redis cluster 127.0.0.1:7000 user=u;', qr/"kefu_redis" directive has user= without password=/],
    ['kefu_redis cluster 127.0.0.1:7000 bogus=1;', qr/invalid parameter "bogus=1" in "kefu_redis"/],
);
for my $c (@cases) {
    my ($rc, $out) = nginx_t($http->($c->[0]));
    isnt($rc, 0, "'$c->[0]' fails nginx -t");
    like($out, $c->[1], "'$c->[0]': the message names the directive");
}
my ($rc, $out) = nginx_t($http->('kefu_redis cluster 127.0.0.1:7000 [::1]:7001 127.0.0.1:7002 password=p user=u connect_timeout=1s timeout=2s ping=1s;'));
is($rc, 0, 'a cluster of three seeds with every option passes') or diag($out);



=== TEST 2: one replica as seed: every worker of two hosts finds the three masters, and each site is read from its own master
--- ws
main::seed_counts();
my @hosts = map { [start_host($main::HTTP, $main::SERVER)] } 1 .. 2;
for my $h (@hosts) {
    ok(main::wait_complete($h->[0]), "host on $h->[0]: every site's counts, each from its master");
    # each worker logs its map once; the status above may have come from
    # one of them only, so wait for the other's line (up to 30 s)
    my $maps = 0;
    for (1 .. 300) {
        my $log = do { local $/; open my $fh, '<', $h->[2] or die; <$fh> };
        $maps = () = $log =~ /kefu: redis cluster slot map taken: 3 masters/g;
        last if $maps >= 2;
        select(undef, undef, undef, 0.1);
    }
    is($maps, 2, 'both workers took the slot map: 3 masters');
}
# status reads spread over workers: many, every one complete, and each
# sent to the right master at once (no MOVED: the slot computed right)
main::reset_stats();
my $bad = 0;
for (1 .. 40) {
    my ($code, $j) = main::status_of($hosts[$_ % 2][0]);
    next if $code == 200 && main::complete($j);
    diag("incomplete: $code " . Kefu::WS::json_enc($j->{sites})) unless $bad++;
}
is($bad, 0, '40 reads over both hosts: every one complete');
is(main::redirections('MOVED'), 0, 'no read was sent to a wrong master (no MOVED)');

# sharded pub/sub: a site's presence channel on its slot's master only
for my $s (@main::SITES) {
    my $ch = "kefu:{s:$s}:p";
    my $owner = $main::C->master_of_slot($main::C->slot($ch));
    my $n = main::shard_subscribers($ch);
    is($n->{$owner}, 4, "$ch: the 4 workers of 2 hosts subscribed on its master");
    is((grep { $_ != $owner && $n->{$_} } keys %$n), 0, "$ch: on no other master");
}



=== TEST 3: resharding the slots of a site's keys under traffic: nothing read wrong, its channel follows
--- ws
main::seed_counts();
my ($port, $stop, $log) = start_host($main::HTTP, $main::SERVER);
ok(main::wait_complete($port), 'ready');

my $site = $main::SITES[0];
my $slot = $main::C->slot("kefu:{s:$site}:counts");
my $from = $main::C->master_of_slot($slot);
my ($to) = grep { $_ != $from } $main::C->masters;

# redis-cli moves a master's lowest slots first: enough to take this one
my ($lo) = map { $_->[0] } grep { $slot >= $_->[0] && $slot <= $_->[1] }
           @{ redis(port => $from, 'CLUSTER', 'SLOTS') };
my $n = $slot - $lo + 1;

# traffic while redis-cli moves the slots
main::reset_stats();
my $pid = fork // die;
if (!$pid) {
    # the child only runs redis-cli: no END block, no server stopped
    my $ok = eval { $main::C->reshard($from, $to, $n); 1 };
    print STDERR $@ unless $ok;
    POSIX::_exit($ok ? 0 : 1);
}
my ($reads, $bad) = (0, 0);
while (waitpid($pid, WNOHANG) == 0) {
    my ($code, $j) = main::status_of($port);
    $reads++;
    $bad++ unless $code == 200 && main::complete($j);
}
is($?, 0, "redis-cli --cluster reshard moved $n slots");
is($main::C->master_of_slot($slot), $to, "slot $slot is now on the other master");
ok($reads > 0, "$reads reads during the resharding");
is($bad, 0, 'every read during the resharding complete and right');
ok(main::redirections('MOVED') + main::redirections('ASK')
   + main::redirections('TRYAGAIN') > 0,
   'reads were redirected (MOVED, ASK or TRYAGAIN) and followed');
diag("resharding: $reads reads, redirections MOVED "
     . main::redirections('MOVED') . ', ASK ' . main::redirections('ASK')
     . ', TRYAGAIN ' . main::redirections('TRYAGAIN'));
ok(main::wait_complete($port), 'and after it');

my $ch = "kefu:{s:$site}:p";
if ($main::C->master_of_slot($main::C->slot($ch)) == $to) {
    my $ok = 0;
    for (1 .. 100) {
        my $s = main::shard_subscribers($ch);
        if (($s->{$to} // 0) == 2 && !($s->{$from} // 0)) { $ok = 1; last }
        sleep 0.1;
    }
    ok($ok, "$ch moved with its slot: both workers subscribed on the new master")
        or diag("subscribers per master: "
                . join(', ', map { "$_=" . (main::shard_subscribers($ch)->{$_} // 0) }
                             $main::C->masters)
                . " (from $from, to $to)\n"
                . `grep -E 'slot map|sharded pub/sub|dropped channel|MOVED' $log`);
} else {
    pass("$ch stayed on its master");
}



=== TEST 4: a master killed under traffic: its replica takes over, reads come back by themselves
--- ws
main::seed_counts();
my ($port) = start_host($main::HTTP, $main::SERVER);
ok(main::wait_complete($port), 'ready');

my $site = $main::SITES[1];
my $victim = $main::C->master_of_slot($main::C->slot("kefu:{s:$site}:counts"));
# its replica has what it holds before it dies
ok($main::C->wait_replicated($victim), 'the replica caught up with its master');

my $t0 = time;
$main::C->kill_master($victim);
my $back;
my $deadline = time + 60;
while (time < $deadline) {
    my ($code, $j) = main::status_of($port);
    if ($code == 200 && main::complete($j)) { $back = time - $t0; last }
    sleep 0.05;
}
ok(defined $back, 'reads of every site complete again after the failover');
my $new = $main::C->master_of_slot($main::C->slot("kefu:{s:$site}:counts"));
isnt($new, $victim, "the slot is served by the promoted replica ($new)");
diag(sprintf "failover: master killed -> every site read again in %.1f s "
     . "(cluster-node-timeout 1000 ms, kefu_redis ping=500ms)", $back // -1);



=== TEST 5: a master none of a worker's channels hash to: its sharded pub/sub link answers the health check (+PONG, not ["pong", ""]) and stays up
--- ws
# one site only: the other masters hold none of its channels, so the
# workers' sharded links to them subscribe nothing
my $one = "kefu_redis cluster 127.0.0.1:$main::SEED connect_timeout=500ms timeout=1s ping=500ms;\n"
    . "kefu_site $main::SITES[0] secret=$main::SITES[0]-secret-0123456789abcdef anonymous=on;\n";
my ($port, undef, $log) = start_host($one, $main::SERVER);
my $home = $main::C->master_of_slot($main::C->slot("kefu:{s:$main::SITES[0]}:p"));
for my $m (grep { $_ != $home } $main::C->masters) {
    # each worker's command link and sharded link, alive past eight
    # health checks (a link whose pong is missed is dropped after 1 s)
    my $old = 0;
    for (1 .. 300) {
        $old = grep { /\bflags=N\b/ && /\bage=(\d+)/ && $1 >= 4 }
               split /\n/, redis(port => $m, 'CLIENT', 'LIST');
        last if $old >= 4;
        select(undef, undef, undef, 0.1);
    }
    cmp_ok($old, '>=', 4, "master $m: both workers' command and sharded links up for 4 s and more");
}
my $text = do { local $/; open my $fh, '<', $log or die; <$fh> };
unlike($text, qr/sharded pub\/sub connection down/, 'no sharded link was dropped');
