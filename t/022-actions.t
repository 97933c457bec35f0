# The agents' actions: transfer to an agent or a group, close and the next
# conversation, the visitor's rating, supervisors joining, and everything
# hostile: other sites, visitors acting as agents, forged ids.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Route;

# a site of this file's own: it counts what it closes
$Kefu::Route::SITE = 'shop22';

our $S2 = 'shop2-secret-fedcba9876543210';

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site shop22 secret=$Kefu::Route::SECRET anonymous=on capacity=2 grace=5s;\n"
        . "kefu_site shop2 secret=$main::S2;\n"
        . ($block->http_config // ''));
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=100; }\n");
});

# the site stream's events of one conversation, oldest first
sub events_of {
    my ($conv) = @_;
    my @out;
    for my $e (@{ redis('XRANGE', 'kefu:{s:shop22}:events', '-', '+') }) {
        my %f = @{ $e->[1] };
        push @out, \%f if ($f{conv} // '') eq $conv;
    }
    return @out;
}

sub err_of {
    my ($ws, $msg) = @_;
    $ws->send_json($msg);
    return wait_for($ws, sub { $_[0]{type} eq 'error' && ($_[0]{cid} // '') eq ($msg->{cid} // '') });
}

run_tests();

__DATA__

=== TEST 1: transfer to an agent: both agents and the visitor are told, the log records it, the giver stops reading
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("ta$r", groups => [$g], status => 'online', name => 'Ann');
my ($b) = agent("tb$r", groups => [$g], name => 'Bob');
my ($v, $vw, $ack, $n) = visitor($g, text => 'need help');
my $c = $ack->{conv};
is($n->{agent}{id}, "ta$r", 'Ann has it');
wait_conv($a, $c, state => 'open');
$a->send_json({type => 'transfer', conv => $c, agent => "tb$r", cid => 't1'});
my $ga = wait_conv($a, $c, reason => 'transferred');
is($ga->{agent}{id}, "tb$r", 'the giver is told who has it now');
my $gb = wait_conv($b, $c, state => 'open', agent => "tb$r");
ok($gb, 'the taker (away: a transfer is explicit) is told');
is($gb->{visitor}{id}, $vw->{id}, 'with the visitor');
my $gv = wait_conv($v, $c, state => 'open', agent => "tb$r");
is($gv->{agent}{name}, 'Bob', 'the visitor is told');
my @log;
while (my $m = wait_for($b, sub { $_[0]{type} eq 'msg' && $_[0]{conv} eq $c })) {
    push @log, $m;
    last if ($m->{event} // '') eq 'transferred';
}
is($log[0]{text}, 'need help', 'the taker reads from the start');
is($log[-1]{from}{role}, 'system', 'a system entry records the transfer');
is($log[-1]{by}{id}, "ta$r", 'by whom');
is($log[-1]{agent}{id}, "tb$r", 'to whom');
is(redis('HGET', "kefu:{s:shop22}:a:ta$r", 'load'), 0, "the giver's load is released");
is(redis('HGET', "kefu:{s:shop22}:a:tb$r", 'load'), 1, "the taker's counts it");
$v->send_json({type => 'msg', cid => 'm2', text => 'hello Bob?'});
ok(wait_for($b, sub { ($_[0]{text} // '') eq 'hello Bob?' }), 'the taker gets new messages');
# one worker fans a message out to all its connections at once: had the
# giver still been a member, its copy would have come before this pong
ok(!(grep { ($_->{text} // '') eq 'hello Bob?' } $a->until_pong), 'the giver no longer does');
is(err_of($a, {type => 'close', conv => $c, cid => 'x1'})->{code}, 'forbidden', 'nor may it close it');
is(err_of($a, {type => 'transfer', conv => $c, agent => "ta$r", cid => 'x2'})->{code}, 'forbidden', 'or take it back');
is(err_of($a, {type => 'msg', conv => $c, text => 'hi', cid => 'x3'})->{code}, 'forbidden', 'or write to it');
my ($a2, $aw2) = kefu_connect(role => 'agent', site => 'shop22', token => agent_token("ta$r", groups => [$g]));
ok(!(grep { $_->{conv} eq $c } @{ $aw2->{convs} }), "the giver's next connection does not list it");
$v->send_json({type => 'msg', cid => 'm3', text => 'anyone?'});
ok(wait_for($b, sub { ($_[0]{text} // '') eq 'anyone?' }), 'the taker gets it');
ok(!(grep { ($_->{text} // '') eq 'anyone?' } $a2->until_pong), 'nor reads it');
is(err_of($b, {type => 'transfer', conv => $c, agent => "nobody$r", cid => 'x4'})->{code}, 'not_found', 'no such agent');
redis('HSET', "kefu:{s:shop22}:a:off$r", 'state', 'offline', 'conns', 0);
redis('SADD', 'kefu:{s:shop22}:agents', "off$r");
my $e = err_of($b, {type => 'transfer', conv => $c, agent => "off$r", cid => 'x5'});
is($e->{code}, 'forbidden', 'an offline agent');
like($e->{message}, qr/offline/, '... says so');
is(err_of($b, {type => 'transfer', conv => $c, cid => 'x6'})->{code}, 'bad_request', 'neither agent nor group');
is(err_of($b, {type => 'transfer', conv => $c, agent => "ta$r", group => $g, cid => 'x7'})->{code}, 'bad_request', 'both');
is(err_of($b, {type => 'transfer', conv => $c, group => 'bad group!', cid => 'x8'})->{code}, 'bad_request', 'a bad group name');



=== TEST 2: transfer to a group: routed there (never back to the giver), queued when nobody is free, assigned when someone comes
--- ws
my ($g1, $g2, $g3) = map { uniq_group() } 1 .. 3;
my $r = int rand 1e6;
my ($a) = agent("ga$r", groups => [$g1], status => 'online');
my ($c2) = agent("gc$r", groups => [$g2], status => 'online');
my ($v, $vw, $ack, $n) = visitor($g1);
my $c = $ack->{conv};
$a->send_json({type => 'transfer', conv => $c, group => $g2, cid => 't1'});
ok(wait_conv($c2, $c, state => 'open', agent => "gc$r"), 'an agent of the other group gets it');
my $gv = wait_conv($v, $c, state => 'open', agent => "gc$r");
is($gv->{group}, $g2, 'the visitor is told, with the new group');
my $ga = wait_conv($a, $c, reason => 'transferred');
is($ga->{agent}{id}, "gc$r", 'the giver is told');

my ($v2, $vw2, $ack2) = visitor($g1);
my $d = $ack2->{conv};
wait_conv($a, $d, state => 'open');
$a->send_json({type => 'transfer', conv => $d, group => $g1, cid => 't2'});
my $q = wait_conv($v2, $d, state => 'queued');
is($q->{position}, 1, 'to its own group where only the giver is free: queued, not back');
$a->send_json({type => 'transfer', conv => $c, group => $g3, cid => 't3'});
is(wait_for($a, sub { $_[0]{type} eq 'error' })->{code}, 'forbidden', 'not its conversation any more');
# a group is known once an agent of it signed in (contract v2), here away
my ($dd) = agent("gd$r", groups => [$g3]);
$c2->send_json({type => 'transfer', conv => $c, group => $g3, cid => 't4'});
$q = wait_conv($v, $c, state => 'queued', group => $g3);
is($q->{position}, 1, 'a group with nobody free: queued there');
# the stream says so too (docs/events.md): conv.queued after the transfer
my @ev = main::events_of($c);
my ($last) = grep { $ev[$_]{event} eq 'conv.transferred' } reverse 0 .. $#ev;
my ($qe) = grep { $_->{event} eq 'conv.queued' } @ev[$last + 1 .. $#ev];
ok($qe, 'conv.queued on the stream after the transfer to a busy group')
    or diag(join ' ', map { $_->{event} } @ev);
is_deeply($qe && json_dec($qe->{data}), {group => $g3, position => 1}, 'with its group and position');
$dd->send_json({type => 'status', state => 'online'});
ok(wait_conv($dd, $c, state => 'open', agent => "gd$r"), 'and assigned when an agent of it comes online');
ok(wait_conv($v, $c, state => 'open', agent => "gd$r"), 'the visitor is told');



=== TEST 3: close: the visitor is told, the next message opens a new conversation, the closed one can be rated once closed
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("ca$r", groups => [$g], status => 'online', capacity => 1);
my ($v, $vw, $ack, $n) = visitor($g);
my $c = $ack->{conv};
my $closed0 = redis('HGET', 'kefu:{s:shop22}:counts', 'closed') || 0;
is(err_of($v, {type => 'rate', conv => $c, score => 5, cid => 'r0'})->{code}, 'forbidden', 'an open conversation cannot be rated');
$a->send_json({type => 'close', conv => $c, cid => 'c1'});
my $cn = wait_conv($a, $c, state => 'closed');
ok($cn, 'closed');
ok(wait_conv($v, $c, state => 'closed'), 'the visitor is told');
is(redis('HGET', "kefu:{s:shop22}:a:ca$r", 'load'), 0, 'load released');
is(redis('HGET', 'kefu:{s:shop22}:counts', 'closed'), $closed0 + 1, 'counted closed');
$a->send_json({type => 'close', conv => $c, cid => 'c2'});
ok(wait_conv($a, $c, state => 'closed'), 'closing again is harmless');
$v->send_json({type => 'msg', cid => 'again', text => 'one more thing'});
my $ack2 = wait_for($v, sub { $_[0]{type} eq 'ack' });
isnt($ack2->{conv}, $c, 'the next message opens a new conversation');
is($ack2->{seq}, 1, 'from seq 1');
ok(wait_conv($v, $ack2->{conv}, state => 'open', agent => "ca$r"), 'routed to the agent whose capacity was freed');
$v->send_json({type => 'rate', conv => $c, score => 5, comment => 'quick and kind', cid => 'r1'});
my $rt = wait_conv($v, $c, state => 'closed');
is($rt->{rating}{score}, 5, 'rated');
is($rt->{rating}{comment}, 'quick and kind', 'with the comment');
is(redis('HGET', "kefu:{c:$c}", 'score'), 5, 'stored');
my ($rated) = grep { $_->{event} eq 'conv.rated' } main::events_of($c);
ok($rated, 'conv.rated of this conversation is in the site stream');
is(json_dec($rated->{data} // '{}')->{score}, 5, 'with its score');
is(err_of($v, {type => 'rate', conv => $c, score => 7, cid => 'r2'})->{code}, 'bad_request', 'score 7');
is(err_of($v, {type => 'rate', conv => $c, score => '5', cid => 'r3'})->{code}, 'bad_request', 'score as a string');
is(err_of($v, {type => 'rate', conv => $c, score => 3, comment => 'x' x 1001, cid => 'r4'})->{code}, 'bad_request', 'a comment too long');
is(err_of($v, {type => 'rate', score => 3, cid => 'r5'})->{code}, 'forbidden', 'the latest conversation is open: not ratable');
is(err_of($a, {type => 'rate', conv => $c, score => 3, cid => 'r6'})->{code}, 'forbidden', 'agents do not rate');
my ($o) = kefu_connect(role => 'visitor', site => 'shop22');
is(err_of($o, {type => 'rate', conv => $c, score => 1, cid => 'r7'})->{code}, 'forbidden', "another visitor cannot rate it");



=== TEST 4: join needs a supervisor: admins and agents with the claim watch and may write; others are refused
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("ja$r", groups => [$g], status => 'online');
my ($v, $vw, $ack) = visitor($g, text => 'first words');
my $c = $ack->{conv};
my ($plain) = agent("jp$r", groups => ['x' . $g]);
is(err_of($plain, {type => 'join', conv => $c, cid => 'j1'})->{code}, 'forbidden', 'a plain agent cannot join');
is(err_of($v, {type => 'join', conv => $c, cid => 'j2'})->{code}, 'forbidden', 'nor a visitor');
my ($sup) = agent("js$r", groups => ['x' . $g], supervisor => JSON::PP::true(), name => 'Sue');
$sup->send_json({type => 'join', conv => $c, cid => 'j3'});
my $jn = wait_conv($sup, $c, reason => 'joined');
is($jn->{agent}{id}, "ja$r", 'a supervisor joins, told whose it is');
my $first = wait_for($sup, sub { $_[0]{type} eq 'msg' && $_[0]{conv} eq $c });
is($first->{text}, 'first words', 'and reads it from the start');
my $je = wait_for($v, sub { ($_[0]{event} // '') eq 'joined' });
is($je->{by}{name}, 'Sue', 'a system entry says who joined');
$sup->send_json({type => 'msg', conv => $c, cid => 's1', text => 'supervisor here'});
ok(wait_for($v, sub { ($_[0]{text} // '') eq 'supervisor here' }), 'it may write');
my ($adm) = agent("jm$r", role => 'admin');
$adm->send_json({type => 'join', conv => $c, cid => 'j4'});
ok(wait_conv($adm, $c, reason => 'joined'), 'an admin joins');
$adm->send_json({type => 'join', conv => $c, cid => 'j5'});
ok(wait_conv($adm, $c, reason => 'joined'), 'joining again is harmless');
my ($xw) = kefu_connect(role => 'admin', site => 'shop2', token => agent_token("jx$r", role => 'admin', site => 'shop2', secret => $main::S2));
is(err_of($xw, {type => 'join', conv => $c, cid => 'j6'})->{code}, 'forbidden', "another site's admin cannot");



=== TEST 5: hostile: other sites, visitors acting as agents, stale and forged ids
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("ha$r", groups => [$g], status => 'online');
my ($v, $vw, $ack) = visitor($g);
my $c = $ack->{conv};
my ($x) = kefu_connect(role => 'agent', site => 'shop2', token => agent_token("hx$r", site => 'shop2', secret => $main::S2, supervisor => JSON::PP::true()));
for my $t (qw(accept close join)) {
    is(err_of($x, {type => $t, conv => $c, cid => "o$t"})->{code}, 'forbidden', "another site's agent: $t");
}
is(err_of($x, {type => 'transfer', conv => $c, agent => "hx$r", cid => 'ot'})->{code}, 'forbidden', "another site's agent: transfer");
for my $t (qw(accept close join status transfer)) {
    is(err_of($v, {type => $t, conv => $c, agent => "ha$r", state => 'online', cid => "v$t"})->{code}, 'forbidden', "a visitor: $t");
}
for my $t (qw(accept close transfer)) {
    is(err_of($a, {type => $t, conv => '123456789012345', agent => "ha$r", cid => "s$t"})->{code}, 'forbidden', "a conversation that does not exist: $t");
    is(err_of($a, {type => $t, conv => '../../etc', agent => "ha$r", cid => "f$t"})->{code}, 'bad_request', "a forged id: $t");
    is(err_of($a, {type => $t, conv => 42, agent => "ha$r", cid => "n$t"})->{code}, 'bad_request', "a number: $t");
}
$a->send_json({type => 'close', conv => $c, cid => 'cl'});
wait_conv($a, $c, state => 'closed');
is(err_of($a, {type => 'accept', conv => $c, cid => 'st1'})->{code}, 'forbidden', 'accepting a closed conversation');
is(err_of($a, {type => 'transfer', conv => $c, group => $g, cid => 'st2'})->{code}, 'forbidden', 'transferring one');
my ($adm) = agent("hm$r", role => 'admin');
is(err_of($adm, {type => 'status', state => 'online', cid => 'ad'})->{code}, 'forbidden', 'admins have no status');

=== TEST 6: a conversation from before the routing record (an upgrade): on one Redis the first action reads its hash and makes the record, and everything goes on from there (with kefu_redis cluster it is not found)
--- ws
my $r = int rand 1e6;
my $g = uniq_group();
my ($a) = agent("ua$r", groups => [$g], status => 'online', capacity => 2);
my ($b) = agent("ub$r", groups => [$g], capacity => 2);
my ($v, undef, $ack, $n) = visitor($g, text => 'from before');
my $c = $ack->{conv};
is($n->{agent}{id}, "ua$r", 'assigned');
my $rk = "kefu:{s:shop22}:r:$c";
is(redis('HGET', $rk, 'agent'), "ua$r", 'its routing record names the agent');
# as the conversation was before the record existed
redis('DEL', $rk);
if ($ENV{TEST_NGINX_REDIS_CLUSTER}) {
    # scripts/test --cluster: the hash is another slot, routing cannot
    # read it (docs/storage.md, "Routing in two steps": upgrade)
    is(err_of($a, {type => 'transfer', conv => $c, agent => "ub$r", cid => 'up0'})->{code},
       'forbidden', 'with kefu_redis cluster it is not found by routing');
    is(redis('EXISTS', $rk), 0, '... and gets no record');
} else {
    $a->send_json({type => 'transfer', conv => $c, agent => "ub$r", cid => 'up1'});
    ok(wait_conv($v, $c, state => 'open', agent => "ub$r"), 'transferred: the action found it by its hash');
    is(redis('HGET', $rk, 'agent'), "ub$r", 'the record is made, and names the new agent');
    is(redis('HGET', $rk, 'visitor'), $ack->{conv} && redis('HGET', "kefu:{c:$c}", 'visitor'), '... and the visitor');
    $b->send_json({type => 'close', conv => $c, cid => 'up2'});
    ok(wait_conv($v, $c, state => 'closed'), 'then closed by the new agent');
    ok(redis('TTL', $rk) > 0, 'the closed conversation\'s record expires with it');
    is(redis('HGET', "kefu:{c:$c}", 'state'), 'closed', 'its hash is closed');
}
