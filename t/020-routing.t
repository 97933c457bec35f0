# Routing: a new conversation goes to the least loaded online agent of its
# group below capacity (ties: the one idle longest), or waits in the queue
# told its position, and is assigned as soon as an agent frees up, comes
# online or returns from away.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Route;
use POSIX ();

workers(2);
master_on();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site shop1 secret=$Kefu::Route::SECRET anonymous=on capacity=2 grace=5s;\n"
        . ($block->http_config // ''));
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=100; }\n"
        . ($block->config // '')) unless ($block->config // '') =~ /kefu_chat/;
});

run_tests();

__DATA__

=== TEST 1: least loaded first, ties to the one idle longest; full agents queue; a close assigns the head and moves the queue
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("ra$r", groups => [$g], capacity => 2, name => 'Ann', status => 'online');
my ($b) = agent("rb$r", groups => [$g], capacity => 2, name => 'Bob', status => 'online');
my @v = map { [visitor($g, text => "question $_")] } 1 .. 4;
is($v[0][3]{state}, 'open', 'assigned at once');
is($v[0][3]{agent}{id}, "ra$r", 'equal load, both never assigned: the smaller id');
is($v[0][3]{agent}{name}, 'Ann', "the visitor learns the agent's name");
is($v[1][3]{agent}{id}, "rb$r", 'then the less loaded one');
is($v[2][3]{agent}{id}, "ra$r", 'equal load again: the one idle longest');
is($v[3][3]{agent}{id}, "rb$r", 'and the other');
my $c1 = $v[0][2]{conv};
my $n = wait_conv($a, $c1, state => 'open');
ok($n, 'the agent is told');
is($n->{visitor}{id}, $v[0][1]{id}, 'with the visitor');
my $m = wait_for($a, sub { $_[0]{type} eq 'msg' && $_[0]{conv} eq $c1 && $_[0]{seq} == 1 });
is($m->{text}, 'question 1', "the agent reads the visitor's first message");
$m = wait_for($a, sub { $_[0]{type} eq 'msg' && $_[0]{conv} eq $c1 && $_[0]{seq} == 2 });
is($m->{from}{role}, 'system', 'the assignment is a system entry');
is($m->{agent}{id}, "ra$r", 'naming the agent');
$m = wait_for($v[0][0], sub { $_[0]{type} eq 'msg' && $_[0]{seq} == 2 });
is($m->{event}, 'assigned', 'the visitor sees it too');
is(redis('HGET', "kefu:{s:shop1}:a:ra$r", 'load'), 2, "Ann's load");
is(redis('HGET', "kefu:{s:shop1}:a:rb$r", 'load'), 2, "Bob's load");

my @q = map { [visitor($g)] } 1 .. 3;
for my $i (0 .. 2) {
    is($q[$i][3]{state}, 'queued', "visitor " . ($i + 5) . " queued");
    is($q[$i][3]{position}, $i + 1, '... at position ' . ($i + 1));
    is($q[$i][3]{group}, $g, '... in its group');
}
is(redis('ZCARD', "kefu:{s:shop1}:q:$g"), 3, 'three in the queue');

$a->send_json({type => 'close', conv => $c1, cid => 'cl1'});
ok(wait_conv($a, $c1, state => 'closed'), 'the agent closed it');
ok(wait_conv($v[0][0], $c1, state => 'closed'), 'the visitor is told');
ok(wait_conv($q[0][0], $q[0][2]{conv}, state => 'open', agent => "ra$r"), 'the head goes to the agent who freed up');
ok(wait_conv($a, $q[0][2]{conv}, state => 'open'), 'and the agent is told');
ok(wait_conv($q[1][0], $q[1][2]{conv}, state => 'queued', position => 1), 'the next one moves up to 1');
ok(wait_conv($q[2][0], $q[2][2]{conv}, state => 'queued', position => 2), 'and the last to 2');
is(redis('HGET', "kefu:{s:shop1}:a:ra$r", 'load'), 2, 'load stays at capacity');
is(redis('ZCARD', "kefu:{s:shop1}:q:$g"), 2, 'two left in the queue');
my $cl = wait_for($v[0][0], sub { $_[0]{type} eq 'msg' && ($_[0]{event} // '') eq 'closed' });
is($cl->{from}{role}, 'system', 'the close is a system entry');
is($cl->{by}{id}, "ra$r", 'saying who closed it');



=== TEST 2: a queued visitor's messages reach the agent who comes online; away takes no new ones, online again drains the queue
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
# the group is the site's once an agent's token claims it (contract v2)
my ($a0) = agent("rc0$r", groups => [$g], status => 'away');
my ($v, $vw, $ack, $n) = visitor($g, text => 'one');
is($n->{state}, 'queued', 'nobody there: queued');
is($n->{offline}, JSON::PP::true(), 'nobody of the group online: offline, no place promised (contract v2)');
$v->send_json({type => 'msg', cid => "m$_", text => "more $_"}) for 2 .. 3;
wait_for($v, sub { $_[0]{type} eq 'ack' && $_[0]{cid} eq "m$_" }) for 2 .. 3;
my ($a, $aw, $p) = agent("rc$r", groups => [$g], capacity => 3, status => 'online');
is($p->{state}, 'online', 'the agent comes online');
ok(wait_conv($a, $ack->{conv}, state => 'open', agent => "rc$r"), 'and is given the queued conversation at once');
ok(wait_conv($v, $ack->{conv}, state => 'open', agent => "rc$r"), 'the visitor is told');
my @texts;
for my $seq (1 .. 4) {
    my $m = wait_for($a, sub { $_[0]{type} eq 'msg' && $_[0]{conv} eq $ack->{conv} });
    push @texts, $m && ($m->{text} // '') . "/$m->{seq}";
}
is_deeply(\@texts, ['one/1', 'more 2/2', 'more 3/3', "conversation assigned to rc$r/4"],
          'the agent sees the whole conversation, in order');

$a->send_json({type => 'status', state => 'away', cid => 's1'});
# a presence of its own sent before (online) may still be on its way
my $s = wait_for($a, sub { $_[0]{type} eq 'presence' && ($_[0]{state} // '') ne 'online' });
is($s->{state}, 'away', 'away');
my ($v2, $vw2, $ack2, $n2) = visitor($g);
is($n2->{state}, 'queued', 'an away agent takes no new conversation');
$a->send_json({type => 'status', state => 'online', cid => 's2'});
ok(wait_conv($v2, $ack2->{conv}, state => 'open', agent => "rc$r"), 'back online: the queue drains to it');
$a->send_json({type => 'status', state => 'busy', cid => 's3'});
my $e = wait_for($a, sub { $_[0]{type} eq 'error' });
is($e->{code}, 'bad_request', 'an unknown state');
is($e->{cid}, 's3', 'with its cid');



=== TEST 3: capacity comes from the token, else from the site; capacity 0 takes nothing by itself
--- http_config
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("rd$r", groups => [$g], status => 'online');
is(redis('HGET', "kefu:{s:shop1}:a:rd$r", 'capacity'), 2, "the site's capacity=2");
my ($b) = agent("re$r", groups => [$g], capacity => 0, status => 'online');
my @v = map { [visitor($g)] } 1 .. 3;
is($v[0][3]{agent}{id}, "rd$r", 'the agent with capacity');
is($v[1][3]{agent}{id}, "rd$r", 'up to it');
is($v[2][3]{state}, 'queued', 'then the queue: capacity 0 takes nothing');
$b->send_json({type => 'accept', conv => $v[2][2]{conv}});
ok(wait_conv($b, $v[2][2]{conv}, state => 'open', agent => "re$r"), 'but may accept');
ok(wait_conv($v[2][0], $v[2][2]{conv}, state => 'open', agent => "re$r"), 'the visitor is told');
is(redis('HGET', "kefu:{s:shop1}:a:re$r", 'load'), 1, 'accepting counts in the load');
is(redis('ZCARD', "kefu:{s:shop1}:q:$g"), 0, 'and leaves the queue');



=== TEST 4: agents of other groups and agents without groups claim
--- http_config
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("rf$r", groups => ['other-' . $g], status => 'online');
# the group is the site's once an agent's token claims it (contract v2)
my ($b) = agent("rg$r", groups => [$g, 'x' x 70], status => 'away');
my ($v, $vw, $ack, $n) = visitor($g);
is($n->{state}, 'queued', 'an agent of another group is not given it');
is($n->{group}, $g, '... queued in its group');
$b->send_json({type => 'status', state => 'online'});
ok(wait_conv($v, $ack->{conv}, state => 'open', agent => "rg$r"), 'an agent of the group is');
--- error_log
a group of its token is not a group name



=== TEST 5: kefu_site capacity= and grace= are checked by nginx -t
--- config
    location = /t { return 200; }
--- request
GET /t
--- response_body_like: ^$
--- ws
for (['capacity=-1', qr/"kefu_site" directive has an invalid capacity/],
     ['capacity=x', qr/"kefu_site" directive has an invalid capacity/],
     ['capacity=1001', qr/"kefu_site" directive has an invalid capacity/],
     ['grace=forever', qr/"kefu_site" directive has an invalid grace/],
     ['grace=2d', qr/"kefu_site" directive has an invalid grace/]) {
    my ($rc, $out) = nginx_t("events {} http { kefu_site s1 secret=0123456789abcdef0123 $_->[0]; }");
    isnt($rc, 0, "$_->[0] refused");
    like($out, $_->[1], '... naming the directive');
}
my ($rc, $out) = nginx_t("events {} http { kefu_site s1 secret=0123456789abcdef0123 capacity=0 grace=0 default_group=a; }");
is($rc, 0, 'capacity=0 grace=0 are fine') or diag $out;



=== TEST 6: once the queue has moved, queued visitors get an eta (the group's gap between assignments times the position); every transition is in the site's event stream
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("rh$r", groups => [$g], capacity => 1, status => 'online');
my @v = map { [visitor($g)] } 0 .. 5;
is($v[0][3]{state}, 'open', 'the first is served');
ok(!defined $v[$_][3]{eta}, "no estimate before the queue moved (visitor $_)") for 1 .. 5;
my @served = ($v[0][2]{conv});
for my $i (1 .. 2) {
    $a->send_json({type => 'close', conv => $served[-1]});
    ok(wait_conv($v[$i][0], $v[$i][2]{conv}, state => 'open'), "visitor $i served");
    push @served, $v[$i][2]{conv};
}
# a slow queue so far: the moving average must show in the estimate
my $qs = "kefu:{s:shop1}:qs:$g";
ok(defined redis('HGET', $qs, 'gap'), 'the queue has moved: a gap is measured');
redis('HSET', $qs, 'gap', 10000);
$a->send_json({type => 'close', conv => $served[-1]});
ok(wait_conv($v[3][0], $v[3][2]{conv}, state => 'open'), 'visitor 3 served');
my $gap = redis('HGET', $qs, 'gap');
cmp_ok($gap, '>=', 8000, "the gap moved by its average ($gap ms)");
my $n4 = wait_conv($v[4][0], $v[4][2]{conv}, state => 'queued', position => 1);
my $n5 = wait_conv($v[5][0], $v[5][2]{conv}, state => 'queued', position => 2);
ok($n4 && $n5, 'the two left moved up to 1 and 2');
is($n4->{eta}, POSIX::ceil($gap / 1000), 'eta at position 1: the gap, in seconds, rounded up');
is($n5->{eta}, POSIX::ceil(2 * $gap / 1000), 'eta at position 2: twice that');
my $c = $v[1][2]{conv};
my %names;
for my $e (@{ redis('XRANGE', 'kefu:{s:shop1}:events', '-', '+') }) {
    my %f = @{ $e->[1] };
    $names{$f{event}}++ if ($f{conv} // '') eq $c;
}
is_deeply([sort keys %names], ['conv.assigned', 'conv.closed', 'conv.created', 'conv.queued', 'msg'],
          'created, queued, assigned, closed: all in the stream');
