# Chaos: Redis stopped for longer than the grace period under load (two
# hosts with two workers each, the file's own Redis).  The agents' leases
# lapse while nobody can hear them: that is no proof of death, so the
# agents still connected stay online and keep their conversations; the one
# that left while Redis was away (its departure could not be told) is
# healed by the sync and requeued after its grace period.
#
# The grace period (8 s) is longer than a worker's longest wait before it
# tries Redis again (the reconnect backoff, at most 5 s): notices published while a
# worker's pub/sub link is still down are not replayed to it, so the
# requeued conversations' new agents must be listening when they are
# assigned.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Chaos;

run_tests();

__DATA__

=== TEST 1: Redis away for longer than the grace period; an agent leaves meanwhile
--- ws
my $r = Kefu::Chaos::redis();
my @h = map { Kefu::Chaos::host($r, lease => '2s', grace => '8s') } 1 .. 2;
my $c = Kefu::Chaos->new(redis => $r, hosts => \@h);
my @a = $c->agents(4);
$c->visitors(8);
$c->run(2);
my $sk = 'kefu:{s:shop1}';
my ($gone) = sort { $b->{held} <=> $a->{held} }
             map { $_->{held} = () = grep { length } $c->rcli('SMEMBERS', "$sk:a:$_->{id}:open"); $_ } @a;
cmp_ok($gone->{held}, '>=', 1, "agent $gone->{id} holds $gone->{held} conversations");
my $healed0 = $c->counter('presence_resyncs') + $c->counter('leases_lapsed');
$r->stop;
$c->run(1);
$gone->leave;
# longer than the grace period (8 s) and the lease (2 s)
$c->run(8);
$r->start;
my $t0 = time;
ok($c->wait_until(30, sub { $c->counter('conversations_requeued') >= $gone->{held} }),
   'the agent that left meanwhile has its conversations requeued');
my $t1 = time - $t0;
my $k = $c->check(40);
is_deeply($k->{violations}, [], 'every acknowledged message delivered once, in order, to everyone; '
          . 'every conversation open with a connected agent; presence and loads right');
is($c->counter('agents_expired'), 1, 'only the agent that left went offline');
is($c->counter('conversations_requeued'), $gone->{held}, 'only its conversations were requeued');
# its departure, unheard, was healed by its worker's sync, or with that
# worker's lease if it came back to Redis later than one lease time
cmp_ok($c->counter('presence_resyncs') + $c->counter('leases_lapsed'), '>', $healed0,
       'the departure Redis could not hear was healed, and counted');
cmp_ok($k->{messages}, '>', 40, "traffic went on ($k->{messages} messages acknowledged)");
diag(sprintf 'Redis back: the departed agent requeued after %.1f s (lease 2s, grace 8s)', $t1);
--- timeout: 150
