# Chaos: "nginx -s reload" every second for 20 s under load (two hosts with
# two workers each, their own Redis), and an agent that disconnects during
# a reload and never comes back: its grace period is kept in Redis, so the
# new workers requeue its conversations to the other agents.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Chaos;

run_tests();

__DATA__

=== TEST 1: a reload every second for 20 s under load; an agent leaves during one
--- ws
my $r = Kefu::Chaos::redis();
my @h = map { Kefu::Chaos::host($r, lease => '2s', grace => '3s') } 1 .. 2;
my $c = Kefu::Chaos->new(redis => $r, hosts => \@h);
my @a = $c->agents(4);
$c->visitors(8);
$c->run(2);
my $sk = 'kefu:{s:shop1}';
# the agent that will leave: one of host 1 holding conversations
my ($gone) = sort { $b->{held} <=> $a->{held} }
             map { $_->{held} = () = grep { length } $c->rcli('SMEMBERS', "$sk:a:$_->{id}:open"); $_ }
             grep { $_->{port} == $h[0]->port } @a;
cmp_ok($gone->{held}, '>=', 1, "agent $gone->{id} holds $gone->{held} conversations");
my $claims0 = $c->counter('id_node_claims');
for my $i (1 .. 20) {
    $h[0]->reload;
    $gone->leave if $i == 5;
    $c->run(1);
}
my $k = $c->check(40);
is_deeply($k->{violations}, [], 'every acknowledged message delivered once, in order, to everyone; '
          . 'every conversation open with a connected agent; presence and loads right');
cmp_ok($k->{messages}, '>', 100, "traffic went on ($k->{messages} messages acknowledged)");
is($c->counter('agents_expired'), 1, 'the agent that left was made offline, once');
cmp_ok($c->counter('conversations_requeued'), '>=', $gone->{held}, 'its conversations were requeued');
my $reconnects = 0;
$reconnects += $_->{connects} - 1 for @{ $c->{clients} };
cmp_ok($reconnects, '>=', 20, "the clients went through the reloads ($reconnects reconnects)");
cmp_ok($c->counter('id_node_claims') - $claims0, '>=', 40, 'every new worker took a node number');
is_deeply([$c->duplicate_ids], [], 'no id given twice');
my @nodes = grep { length } $c->rcli('ZRANGE', 'kefu:{nodes}', 0, -1);
is(scalar @nodes, 4, 'four node numbers held at the end: the old workers gave theirs back');
--- timeout: 180
