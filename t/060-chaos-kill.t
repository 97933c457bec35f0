# Chaos: SIGKILL under load, two hosts with two workers each (their own
# Redis).  A worker killed: its clients reconnect, its lease lapses and its
# connections stop counting, nothing acknowledged is lost or doubled.  A
# whole host killed (master and workers) with online agents: after the
# grace period their conversations are requeued to the agents of the other
# host, and its visitors carry on there.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Chaos;

run_tests();

__DATA__

=== TEST 1: kill -9 of one worker under load
--- ws
my $r = Kefu::Chaos::redis();
my @h = map { Kefu::Chaos::host($r, lease => '2s', grace => '3s') } 1 .. 2;
my $c = Kefu::Chaos->new(redis => $r, hosts => \@h);
$c->agents(4);
$c->visitors(8);
$c->run(2);
my $lapsed0 = $c->counter('leases_lapsed');
my $t0 = time;
my $pid = $h[0]->kill9_worker;
ok($pid, "worker $pid of host 1 killed");
ok($c->wait_until(20, sub { $c->counter('leases_lapsed') > $lapsed0 }),
   'a live worker found its lease lapsed');
diag(sprintf 'worker killed: its connections stopped counting after %.1f s (lease 2s)', time - $t0);
$c->run(2);
my $k = $c->check(30);
is_deeply($k->{violations}, [], 'every acknowledged message delivered once, in order, to everyone; '
          . 'every conversation open with a connected agent; presence and loads right');
cmp_ok($k->{messages}, '>', 40, "traffic went on ($k->{messages} messages acknowledged)");
is($c->counter('conversations_requeued'), 0, 'nothing requeued: its agents were back within the grace period');
my $back = grep { $_->{connects} > 1 } @{ $c->{clients} };
cmp_ok($back, '>=', 1, "its clients reconnected ($back)");
--- timeout: 120



=== TEST 2: kill -9 of a whole host holding online agents
--- ws
my $r = Kefu::Chaos::redis();
my @h = map { Kefu::Chaos::host($r, lease => '2s', grace => '3s') } 1 .. 2;
my $c = Kefu::Chaos->new(redis => $r, hosts => \@h);
my @a = $c->agents(4);
$c->visitors(8);
$c->run(2);
my $sk = 'kefu:{s:shop1}';
# the agents of host 1 (even ones) and what they hold
my @gone = grep { $_->{port} == $h[0]->port } @a;
my $held = 0;
$held += grep { length } $c->rcli('SMEMBERS', "$sk:a:$_->{id}:open") for @gone;
cmp_ok(scalar @gone, '>=', 1, scalar(@gone) . ' agents on host 1');
cmp_ok($held, '>=', 1, "they hold $held conversations");
my $t0 = time;
$h[0]->kill9_host;
# their users lose them with the host and do not come back
$_->leave for @gone;
$c->run(2);
ok($c->wait_until(30, sub { $c->counter('conversations_requeued') >= $held }),
   'their conversations are requeued by the other host');
my $t1 = time - $t0;
my $k = $c->check(40);
is_deeply($k->{violations}, [], 'every acknowledged message delivered once, in order, to everyone; '
          . 'every conversation open with a connected agent; presence and loads right');
cmp_ok($c->counter('leases_lapsed'), '>=', 2, 'the other host found both lapsed leases');
is($c->counter('agents_expired'), scalar @gone, 'and made the gone agents offline');
cmp_ok($k->{messages}, '>', 40, "traffic went on ($k->{messages} messages acknowledged)");
diag(sprintf 'host killed: conversations requeued after %.1f s (lease 2s, grace 3s)', $t1);
--- timeout: 150
