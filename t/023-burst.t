# Routing is atomic across workers and hosts: bursts of new conversations
# and of closes arriving at once on two hosts with two workers each never
# put an agent over capacity, never assign a conversation twice, and keep
# the queue's positions exact.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Route;

workers(2);
master_on();
worker_connections(1024);

free_port('TEST_NGINX_REUSEPORT_PORT');

our $SITE = "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
    . "kefu_site shop1 secret=$Kefu::Route::SECRET anonymous=on capacity=2 grace=10s;\n";

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $main::SITE
        . "server { listen 127.0.0.1:\$TEST_NGINX_REUSEPORT_PORT reuseport; location = /chat { kefu_chat; } }\n");
    $block->set_value('config', "location = /chat { kefu_chat; }\n");
});

run_tests();

__DATA__

=== TEST 1: 30 conversations at once on two hosts for 12 places, then 12 closes at once
--- ws
my ($port2, $stop) = start_host($main::SITE);
my @ports = ($Kefu::WS::Port, $ENV{TEST_NGINX_REUSEPORT_PORT}, $port2);
my $g = uniq_group();
my $r = int rand 1e6;
my @agents = map { "b$_-$r" } 1 .. 4;
my %aws;
for my $i (0 .. $#agents) {
    $aws{$agents[$i]} = (agent($agents[$i], groups => [$g], capacity => 3, status => 'online',
                               port => $ports[$i % 3]))[0];
}
my @v = map { [kefu_connect(port => $ports[$_ % 3], role => 'visitor', site => 'shop1', group => $g)] } 0 .. 29;
# the burst: every first message written before any answer is read
$v[$_][0]->send_json({type => 'msg', cid => 'burst', text => "visitor $_"}) for 0 .. 29;
my (%conv_of, %state, @pos);
for my $i (0 .. 29) {
    my $ack = wait_for($v[$i][0], sub { $_[0]{type} eq 'ack' }, 10);
    my $n = $ack && wait_conv($v[$i][0], $ack->{conv}, timeout => 10);
    $conv_of{$i} = $ack->{conv};
    $state{$i} = $n->{state};
    push @pos, $n->{position} if $n->{state} eq 'queued';
}
is(scalar(grep { $_ eq 'open' } values %state), 12, 'twelve assigned: all the capacity there is');
is(scalar(grep { $_ eq 'queued' } values %state), 18, 'eighteen queued');
is_deeply([sort { $a <=> $b } @pos], [1 .. 18], 'each queued visitor told a different position, 1 to 18');
my (%holder, $twice);
for my $a (@agents) {
    my @open = @{ redis('SMEMBERS', "kefu:{s:shop1}:a:$a:open") };
    is(redis('HGET', "kefu:{s:shop1}:a:$a", 'load'), 3, "$a at capacity, not above");
    is(scalar @open, 3, "$a holds three");
    for (@open) { $twice++ if $holder{$_}; $holder{$_} = $a }
}
ok(!$twice, 'no conversation held by two agents');
my $assigned = 0;
for my $i (0 .. 29) {
    my $log = redis('XRANGE', "kefu:{c:$conv_of{$i}}:log", '-', '+');
    my $n = grep { { @{ $_->[1] } }->{j} =~ /"event":"assigned"/ } @$log;
    $assigned++ if $n;
    die "assigned $n times" if $n > 1;
}
is($assigned, 12, 'twelve assignments in the logs, none twice');
is(redis('ZCARD', "kefu:{s:shop1}:q:$g"), 18, 'the queue holds the rest');

# every agent closes everything at once, on both hosts
for my $a (@agents) {
    for my $c (grep { $holder{$_} eq $a } keys %holder) {
        $aws{$a}->send_json({type => 'close', conv => $c});
    }
}
my %queued_idx = map { $_ => 1 } grep { $state{$_} eq 'queued' } 0 .. 29;
# the closes are done when the queue holds six and every agent three
my $q = "kefu:{s:shop1}:q:$g";
for (1 .. 600) {
    last if redis('ZCARD', $q) == 6
            && !grep { (redis('HGET', "kefu:{s:shop1}:a:$_", 'load') // 0) != 3 } @agents;
    sleep 0.05;
}
my @heads = @{ redis('ZRANGE', $q, 0, -1) };
my %rank = map { $heads[$_] => $_ + 1 } 0 .. $#heads;
my $taken = 0;
my %last;
for my $i (keys %queued_idx) {
    my $c = $conv_of{$i};
    # each visitor is told where it ends: open, or its place in the queue
    $last{$i} = $rank{$c} ? wait_conv($v[$i][0], $c, state => 'queued', position => $rank{$c})
                          : wait_conv($v[$i][0], $c, state => 'open');
    $taken++ if ($last{$i}{state} // '') eq 'open';
}
is($taken, 12, 'the twelve freed places go to twelve queued visitors');
is_deeply([sort { $a <=> $b } map { $_->{position} } grep { $_->{state} eq 'queued' } values %last],
          [1 .. 6], 'the six still waiting end at positions 1 to 6');
my %seen;
for my $a (@agents) {
    is(redis('HGET', "kefu:{s:shop1}:a:$a", 'load'), 3, "$a back at capacity, not above");
    $seen{$_}++ for @{ redis('SMEMBERS', "kefu:{s:shop1}:a:$a:open") };
}
ok(!(grep { $_ > 1 } values %seen), 'still nobody twice');
is(redis('ZCARD', "kefu:{s:shop1}:q:$g"), 6, 'six in the queue');
my %by_conv = map { $conv_of{$_} => $_ } keys %conv_of;
is_deeply([map { $last{$by_conv{$_}}{position} } @heads], [1 .. 6], 'positions match the queue order');
$stop->();
--- timeout: 60
