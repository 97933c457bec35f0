# Ids and dedup: a cid is the sender's within its conversation, so a
# resend to the conversation after it closed is the same message; a
# new conversation never overwrites one that exists, even when its id is
# taken (forced here by creating the ids the worker is about to mint);
# node numbers are leases that go round without two live workers sharing
# one.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Route;

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_lease_time 2s;\n"
        . "kefu_site shop1 secret=$Kefu::Route::SECRET anonymous=on grace=2s;\n"
        . ($block->http_config // ''));
    $block->set_value('config', "location = /chat { kefu_chat; }\n" . ($block->config // ''));
});

# lines of the error log matching $re
sub log_lines {
    my ($file, $re) = @_;
    open my $fh, '<', $file or return ();
    return grep { /$re/ } <$fh>;
}

run_tests();

__DATA__

=== TEST 1: dedup is per sender and conversation: a resend to the closed conversation is the original; without conv, a new message in a new conversation
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("d$r", groups => [$g], status => 'online');
my ($v, $vw) = kefu_connect(role => 'visitor', site => 'shop1', group => $g);
$v->send_json({type => 'msg', cid => 'c1', text => 'hello'});
my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' });
my $conv = $ack->{conv};
is(redis('EXISTS', "kefu:{c:$conv}:cid:v:$vw->{id}:c1"), 1, "the dedup record lives in the conversation's slot");
ok(wait_conv($a, $conv, state => 'open'), 'the agent has it');
$a->send_json({type => 'close', conv => $conv});
ok(wait_conv($v, $conv, state => 'closed'), 'closed');
# the client did not see its ack (say) and sends again, to its conversation
$v->send_json({type => 'msg', cid => 'c1', conv => $conv, text => 'hello'});
my $dup = wait_for($v, sub { $_[0]{type} eq 'ack' });
ok($dup->{dup}, 'a duplicate');
is($dup->{conv}, $conv, 'of the original, in its conversation');
is($dup->{id}, $ack->{id}, 'the same id');
is($dup->{seq}, $ack->{seq}, 'the same seq');
is(redis('HGET', "kefu:{s:shop1}:v:$vw->{id}", 'open'), undef, 'no new conversation was opened');
my @log = map { @{ $_->[1] } } @{ redis('XRANGE', "kefu:{c:$conv}:log", '-', '+') };
is(scalar(grep { /"cid":"c1"/ } @log), 1, 'the message is stored once');
# the same cid without conv: the visitor's open conversation is a new one,
# where that cid is new (the contract: per sender and conversation)
$v->send_json({type => 'msg', cid => 'c1', text => 'hello again'});
my $ack2 = wait_for($v, sub { $_[0]{type} eq 'ack' });
ok(!$ack2->{dup}, 'a new message');
isnt($ack2->{conv}, $conv, 'in a new conversation');
$v->send_json({type => 'msg', cid => 'c1', text => 'hello again'});
my $dup2 = wait_for($v, sub { $_[0]{type} eq 'ack' });
ok($dup2->{dup}, 'and its resend there is a duplicate');
is($dup2->{conv}, $ack2->{conv}, 'of that one');
# a record under the former per-site key (written before an upgrade) is
# still honoured for its conversation during its window, on one Redis;
# a cluster (which the former layout never ran on) does not look there:
# the key is in the site's slot, not the conversation's
redis('SET', "kefu:{s:shop1}:cid:v:$vw->{id}:old1", "$ack2->{conv} 123456 7 1700000000000", 'EX', 60);
$v->send_json({type => 'msg', cid => 'old1', text => 'sent before the upgrade'});
my $old = wait_for($v, sub { $_[0]{type} eq 'ack' });
if ($ENV{TEST_NGINX_REDIS_CLUSTER}) {
    ok(!$old->{dup}, 'with kefu_redis cluster the former record is not looked at: a new message');
    is($old->{conv}, $ack2->{conv}, 'in the open conversation');
} else {
    ok($old->{dup}, 'a resend of a message stored before the upgrade: dup');
    is_deeply([@$old{qw(conv id seq)}], [$ack2->{conv}, '123456', 7], 'with what the old record says');
}



=== TEST 2: a new conversation whose id is taken is refused by the script and created with another id
--- ws
my $errlog = server_root() . '/logs/error.log';
# the worker takes its node number once its Redis link is up: wait for it
my $node;
for (1 .. 200) {
    ($node) = map { /ids use node (\d+)/ ? $1 : () } main::log_lines($errlog, qr/ids use node/);
    last if defined $node;
    sleep 0.05;
}
ok(defined $node, 'the worker logged its node number');
# every id the worker would give a new conversation in the next 5 s
# (the second of a fresh millisecond) already names a conversation
my $epoch = 1704067200000;
my $now = int(time * 1000);
my @taken;
for my $ms ($now .. $now + 5000) {
    push @taken, (($ms - $epoch) << 22) | ($node << 12) | 1;
}
# pipelined, each to its key's master on a cluster
redis_many(map { ['HSET', "kefu:{c:$_}", qw(site other visitor someone state open seq 7)] } @taken);
# with kefu_redis cluster open (the site's slot) cannot see the hash: the
# id is taken when the site has a routing record of it (one lives as
# long as its conversation's hash)
redis_many(map { ['HSET', "kefu:{s:shop1}:r:$_", qw(state open visitor someone)] } @taken)
    if $ENV{TEST_NGINX_REDIS_CLUSTER};
my %taken = map { $_ => 1 } @taken;
my @convs;
for my $i (1 .. 5) {
    my ($v) = kefu_connect(role => 'visitor', site => 'shop1', group => uniq_group());
    $v->send_json({type => 'msg', cid => "x$i", text => "visitor $i"});
    my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' || $_[0]{type} eq 'error' });
    is($ack->{type}, 'ack', "visitor $i: acknowledged");
    ok(!$taken{$ack->{conv}}, "visitor $i: in a conversation of a fresh id");
    push @convs, $ack->{conv};
    is(redis('HGET', "kefu:{c:$ack->{conv}}", 'site'), 'shop1', "visitor $i: its conversation is stored as its own");
}
my $refused = () = main::log_lines($errlog, qr/a new conversation's id was taken/);
cmp_ok($refused, '>=', 1, "the collision happened ($refused times) and was refused");
my $kept = grep { ($_->[0] // '') eq 'other' && ($_->[1] // '') eq '7' }
    redis_many(map { ['HMGET', "kefu:{c:$_}", 'site', 'seq'] } @taken);
is($kept, scalar @taken, 'none of the existing conversations was overwritten');
redis_many(map { ['DEL', "kefu:{c:$_}"] } @taken);
redis_many(map { ['DEL', "kefu:{s:shop1}:r:$_"] } @taken) if $ENV{TEST_NGINX_REDIS_CLUSTER};
--- timeout: 30
