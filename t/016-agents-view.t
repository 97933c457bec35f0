# The agents' view (contract v2, "Agents' view", "Clarifications"): the
# queue message lists the queued conversations of the agent's groups with
# their visitor and last message; conv notices (reason "queue") follow
# them in and out of the queue; conv notices to agents carry what the
# visitor told (name, attrs, current page, contact) and its browser; a
# transfer to a group nobody declared or named is answered not_found.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Route;

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site shop1 secret=$Kefu::Route::SECRET anonymous=on capacity=1 default_group=main;\n");
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=100; }\n");
});

# a visitor with details, through a real handshake with a User-Agent
sub rich_visitor {
    my ($group, $name, $text, %o) = @_;
    my $ws = ws_connect(headers => ['User-Agent: Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Version/17.0 Mobile/15E148 Safari/604.1']);
    $ws->send_json({type => 'hello', role => 'visitor', site => 'shop1', group => $group,
                    token => agent_token($o{sub}, role => 'visitor', name => $name),
                    name => $name, attrs => {order_id => 123456789012345678, tier => 'gold'},
                    page => {url => 'https://shop.example/cart?token=abc&x=1', title => 'Cart'}});
    my $w = $ws->recv_json;
    die "no welcome\n" unless $w->{type} eq 'welcome';
    $ws->send_json({type => 'page', url => 'https://shop.example/checkout', title => 'Checkout'});
    $ws->send_json({type => 'contact', email => "$o{sub}\@example.com", cid => 'c1'});
    wait_for($ws, sub { $_[0]{type} eq 'contact' });
    $ws->send_json({type => 'msg', cid => 'm1', text => $text});
    my $ack = wait_for($ws, sub { $_[0]{type} eq 'ack' });
    return ($ws, $ack);
}

run_tests();

__DATA__

=== TEST 1: queue lists the agent's groups' queues; notices follow a conversation in and out; accept takes it with the visitor's details
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
# capacity 0: everything waits in the queue
my ($a) = agent("qa$r", groups => [$g], status => 'online', capacity => 0, name => 'Ann');
my ($o) = agent("qo$r", groups => [uniq_group()], status => 'online', capacity => 0);
$a->send_json({type => 'queue', cid => 'q0'});
my $q0 = wait_for($a, sub { $_[0]{type} eq 'queue' });
is_deeply($q0->{convs}, [], 'an empty queue is an empty list');
is($q0->{cid}, 'q0', 'the answer carries the cid');

my ($v1, $ack1) = rich_visitor($g, 'Lily', 'where is my parcel? ' . ('x' x 200), sub => "v1$r");
my $n1 = wait_for($a, sub { $_[0]{type} eq 'conv' && ($_[0]{reason} // '') eq 'queue'
                            && $_[0]{conv} eq $ack1->{conv} && $_[0]{queued} });
ok($n1, 'the agent is told the conversation entered its group\'s queue');
is($n1->{state}, 'queued', '... queued');
is($n1->{group}, $g, '... in its group');
is($n1->{position}, 1, '... first');
is($n1->{visitor}{name}, 'Lily', '... with the visitor\'s name');
like($n1->{last}, qr/^where is my parcel\? x+\.\.\.$/, '... and the last message, cut');
ok($n1->{since} > 1.7e12, '... and since when it waits (ms)');

my ($v2, undef, $ack2) = visitor($g, text => "你好，在吗？");
wait_for($a, sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $ack2->{conv} && $_[0]{queued} });
$a->send_json({type => 'queue'});
my $q = wait_for($a, sub { $_[0]{type} eq 'queue' });
is(scalar @{ $q->{convs} }, 2, 'queue lists both waiting conversations');
is($q->{convs}[0]{conv}, $ack1->{conv}, 'oldest first');
is($q->{convs}[1]{position}, 2, 'with positions');
is($q->{convs}[1]{last}, '你好，在吗？', 'Chinese previews whole');
is($q->{convs}[0]{visitor}{attrs}{order_id}, '123456789012345678', 'attributes as sent: large numbers not rounded')
    or diag(Test::More::explain($q->{convs}[0]{visitor}));
is($q->{convs}[0]{visitor}{page}{url}, 'https://shop.example/checkout', 'the current page');
is($q->{convs}[0]{visitor}{contact}{email}, "v1$r\@example.com", 'the contact');
my @ob = $o->until_pong;
ok(!(grep { ($_->{reason} // '') eq 'queue' } @ob), 'an agent of another group hears nothing of it');
$o->send_json({type => 'queue'});
is_deeply(wait_for($o, sub { $_[0]{type} eq 'queue' })->{convs}, [], 'and its queue is empty');

$a->send_json({type => 'accept', conv => $ack1->{conv}, cid => 'acc'});
my $acc = wait_conv($a, $ack1->{conv}, state => 'open', reason => 'accepted');
is($acc->{visitor}{name}, 'Lily', 'accepted: the conv notice names the visitor');
is($acc->{visitor}{attrs}{tier}, 'gold', '... its attributes');
is($acc->{visitor}{page}{title}, 'Checkout', '... its current page');
unlike($acc->{visitor}{page}{url} // '', qr/token/, '... without tokens');
like($acc->{visitor}{ua}, qr/iPhone/, '... its browser (User-Agent at hello)');
is($acc->{visitor}{contact}{email}, "v1$r\@example.com", '... its contact');
my $left = wait_for($a, sub { $_[0]{type} eq 'conv' && ($_[0]{reason} // '') eq 'queue'
                              && $_[0]{conv} eq $ack1->{conv} && !$_[0]{queued} });
ok($left, 'the group hears it left the queue');
is($left->{state}, 'open', '... open now');
is($left->{agent}{id}, "qa$r", '... and whose it is');
$a->send_json({type => 'queue'});
$q = wait_for($a, sub { $_[0]{type} eq 'queue' });
is(scalar @{ $q->{convs} }, 1, 'one left waiting');
is($q->{convs}[0]{position}, 1, 'now first');
--- timeout: 40



=== TEST 2: visitors cannot ask for the queue
--- ws
my ($v) = kefu_connect(role => 'visitor', site => 'shop1');
$v->send_json({type => 'queue', cid => 'x'});
my $e = wait_for($v, sub { $_[0]{type} eq 'error' });
is($e->{code}, 'forbidden', 'a visitor\'s queue is forbidden');
is($e->{cid}, 'x', 'with its cid');
--- timeout: 15



=== TEST 3: transfer to a group nobody declared or named: not_found, the conversation stays; to a declared or named one it goes
--- ws
my $g = uniq_group();
my $h = uniq_group('h');
my $r = int rand 1e6;
my ($a) = agent("ta$r", groups => [$g], status => 'online', capacity => 5);
my ($b) = agent("tb$r", groups => [$h], capacity => 5);
my ($v, $vw, $ack) = visitor($g, text => 'hi');
my $c = $ack->{conv};
wait_conv($a, $c, state => 'open');
$a->send_json({type => 'transfer', conv => $c, group => 'prseales', cid => 't1'});
my $e = wait_for($a, sub { $_[0]{type} eq 'error' && ($_[0]{cid} // '') eq 't1' });
is($e->{code}, 'not_found', 'a made-up group is not_found');
like($e->{message}, qr/group/, '... saying so');
$a->send_json({type => 'msg', conv => $c, cid => 'still', text => 'still mine'});
ok(wait_for($a, sub { $_[0]{type} eq 'ack' && $_[0]{cid} eq 'still' }), 'the conversation is still the agent\'s');
$a->send_json({type => 'transfer', conv => $c, agent => "nobody$r", cid => 't2'});
is(wait_for($a, sub { $_[0]{type} eq 'error' && ($_[0]{cid} // '') eq 't2' })->{code},
   'not_found', 'an unknown agent is not_found');
$a->send_json({type => 'transfer', conv => $c, group => $h, cid => 't3'});
my $t = wait_conv($a, $c, reason => 'transferred');
is($t->{group}, $h, 'a group an agent named takes it');
my ($v2, $vw2, $ack2) = visitor($g, text => 'hello again');
# the site's default group is declared even with nobody in it
$a->send_json({type => 'transfer', conv => $ack2->{conv}, group => 'main', cid => 't4'});
my $t4 = wait_conv($a, $ack2->{conv}, reason => 'transferred');
is($t4->{state}, 'queued', 'the declared default group takes it (queued: nobody there)');
--- timeout: 40



=== TEST 4: a conversation that came while nobody could answer is marked offline in the queue; an agent away still sees the queue
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("oa$r", groups => [$g]);
my ($v, $vw, $ack) = visitor($g, text => 'anyone there?');
my $n = wait_for($a, sub { $_[0]{type} eq 'conv' && ($_[0]{reason} // '') eq 'queue' && $_[0]{queued} });
is($n->{conv}, $ack->{conv}, 'the agent, away, hears it enter the queue');
ok($n->{offline}, '... marked offline (nobody online when it came)');
$a->send_json({type => 'queue'});
my $q = wait_for($a, sub { $_[0]{type} eq 'queue' });
is($q->{convs}[0]{conv}, $ack->{conv}, 'queue lists it');
ok($q->{convs}[0]{offline}, '... marked offline');
is($q->{more}, 0, 'nothing left out');
--- timeout: 30
