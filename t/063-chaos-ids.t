# Chaos: node numbers for ids are leases.  With all but four of the 1024
# held (by fake live holders) and the cursor about to wrap, two hosts with
# two workers each take the four free ones; a worker killed with SIGKILL
# is replaced by one that finds no free number (and refuses to mint ids:
# its clients are told "unavailable" and retry) until the dead worker's
# lease lapses, and then takes that one, starting after the last
# millisecond any holder of it may have used.  No id is given twice.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Chaos;

run_tests();

__DATA__

=== TEST 1: a forced node-number wrap, and a worker that must wait for a lapsed number
--- ws
my $r = Kefu::Chaos::redis();
my %free = map { $_ => 1 } 1022, 1023, 0, 1;
my $far = (int(time) + 3600) * 1000;
# a previous holder of the free numbers used them up to 20 s from now
my $floor = int(time * 1000) + 20000;
my @cmd;
for my $n (0 .. 1023) {
    if ($free{$n}) {
        push @cmd, "HSET kefu:{nodes}:floor $n $floor";
    } else {
        push @cmd, "ZADD kefu:{nodes} $far $n", "HSET kefu:{nodes}:owner $n fake$n";
    }
}
push @cmd, 'SET kefu:{nodes}:cursor 1021';
open my $p, '|-', "redis-cli -p " . $r->port . " >/dev/null" or die $!;
print $p "$_\n" for @cmd;
close $p;
is($r->cli('ZCARD', 'kefu:{nodes}'), 1020, '1020 numbers held by others');

# a lease of 6 s: renewed every 2 s, the killed worker's still runs 4 s or
# more when its replacement first asks (with 2 s, a replacement slow to
# start under load found it lapsed and never waited)
my @h = map { Kefu::Chaos::host($r, lease => '6s', grace => '5s') } 1 .. 2;
my @nodes = map { my $h = $_; map { /ids use node (\d+)/ ? $1 : () } `grep -h 'ids use node' $h->{dir}/logs/error.log` } @h;
is_deeply([sort { $a <=> $b } @nodes], [0, 1, 1022, 1023], 'the four workers took the four free numbers, round the wrap');

my $c = Kefu::Chaos->new(redis => $r, hosts => \@h);
$c->agents(4);
$c->visitors(8);
$c->run(2);
my $full0 = $h[0]->log_count(qr/all 1024 id node numbers are held/);
my $dead = $h[0]->kill9_worker;
ok($c->wait_until(10, sub { $h[0]->log_count(qr/all 1024 id node numbers are held/) > $full0 }),
   'the new worker finds no free number');
$c->run(2);
ok($c->wait_until(20, sub { $h[0]->log_count(qr/ids use node/) > 2 }),
   'and takes the dead worker\'s once its lease lapsed');
$c->run(2);
my $k = $c->check(40);
is_deeply($k->{violations}, [], 'every acknowledged message delivered once, in order, to everyone; '
          . 'every conversation open with a connected agent; presence and loads right');
my @ids = keys %{ $c->{ids} };
cmp_ok(scalar @ids, '>', 100, scalar(@ids) . ' ids seen');
is_deeply([$c->duplicate_ids], [], 'no id given to two messages or conversations');
my $epoch = 1704067200000;
my @bad_node = grep { !$free{($_ >> 12) & 1023} } @ids;
is_deeply(\@bad_node, [], 'every id carries one of the free numbers');
my @early = grep { ($_ >> 22) + $epoch <= $floor } @ids;
is_deeply(\@early, [], 'every id starts after the floor of its number');
is($r->cli('ZCARD', 'kefu:{nodes}'), 1024, 'all numbers held: 1020 by others, 4 by the live workers');
--- timeout: 150
