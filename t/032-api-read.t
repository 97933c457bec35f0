# The HTTP API reads (conversation lists with filters and cursors, one
# conversation, its messages, agents, queues) and actions (assign,
# transfer, close), against conversations made over WebSockets.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use File::Temp ();
use Kefu::API;

our $S = 'shopr-secret-0123456789abcdef';

# the groups the tests' visitors ask for, declared in the site's settings
# (contract v2: a group nobody declares or claims is the default one)
our $GROUPS = File::Temp->new(SUFFIX => '.json');
print $GROUPS '{"groups":[' . join(',', map { qq({"name":"$_"}) } 'ra' .. 'ri') . ']}';
$GROUPS->flush;
$ENV{TEST_NGINX_SHOPR_SETTINGS} = $GROUPS->filename;

our $SITE = <<'_EOC_';
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shopr secret=shopr-secret-0123456789abcdef anonymous=on default_group=ra settings=$TEST_NGINX_SHOPR_SETTINGS;
_EOC_

api_blocks(http => $main::SITE, ready => '/kefu/api/sites/shopr/convs', config => <<'_EOC_');
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
_EOC_

# lists and counts of its own: a site of this run's own
our $SHOP = site_of_run('shopr');

$Kefu::API::Token = api_token(secret => $S, site => $SHOP);

sub agent {
    my ($id, $groups, %o) = @_;
    my $t = jwt_hs256({sub => $id, role => 'agent', site => $main::SHOP, exp => time + 600,
                       name => "Agent $id", groups => $groups, capacity => 3}, $main::S);
    # a host just started may not have its Redis connection yet
    my ($ws, $w);
    for (1 .. 50) {
        ($ws, $w) = kefu_connect(role => 'agent', site => $main::SHOP, token => $t, %o);
        last unless $w->{type} eq 'error' && $w->{code} eq 'unavailable';
        sleep 0.1;
    }
    die "agent hello: $w->{type} $w->{message}\n" unless $w->{type} eq 'welcome';
    return $ws;
}

# the next "conv" notice in that state
sub conv_in {
    my ($ws, $state) = @_;
    while (my $c = $ws->recv_type('conv', 5)) {
        return $c if $c->{state} eq $state;
    }
    return undef;
}

sub visitor_conv {
    my ($group, %hello) = @_;
    my ($v, $w) = kefu_connect(role => 'visitor', site => $main::SHOP, group => $group, %hello);
    $v->send_json({type => 'msg', cid => 'first', text => "hello from $group"});
    my $ack = $v->recv_type('ack') or die "no ack\n";
    return ($v, $w, $ack->{conv});
}

run_tests();

__DATA__

=== TEST 1: listing: newest change first, filters by state, agent, group and time, cursors that cover everything once
--- ws
my @c;
my ($v1, $w1, $c1) = main::visitor_conv('ra'); push @c, $c1;
my ($v2, $w2, $c2) = main::visitor_conv('ra'); push @c, $c2;
my ($v3, $w3, $c3) = main::visitor_conv('rb'); push @c, $c3;
my ($v4, $w4, $c4) = main::visitor_conv('rb'); push @c, $c4;
my ($v5, $w5, $c5) = main::visitor_conv('rb'); push @c, $c5;
my $ann = main::agent('ann', ['ra']);
for my $conv ($c1, $c2) {
    $ann->send_json({type => 'accept', conv => $conv});
    is($ann->recv_type('conv')->{state}, 'open', "ann took $conv");
}
my ($st, $j) = api(POST => "/kefu/api/sites/shopr/convs/$c3/close", {});
is($st, 200, 'the API closes one');
is($j->{state}, 'closed', 'closed');
ok($j->{changed}, 'changed');
sleep 0.01;
my $t0 = int(time * 1000);
sleep 0.01;
# a later change moves a conversation to the front
($st, $j) = api(POST => "/kefu/api/sites/shopr/convs/$c4/messages", {cid => 'bump', text => 'still there?'});
is($st, 201, 'a message into the fourth');

($st, $j) = api(GET => '/kefu/api/sites/shopr/convs');
is($st, 200, 'the list');
my @ids = map { $_->{conv} } @{ $j->{convs} };
is(scalar(grep { my $x = $_; grep { $_ eq $x } @c } @ids), 5, 'has all five');
is($ids[0], $c4, 'the latest changed first');
my @upd = map { $_->{updated} } @{ $j->{convs} };
is_deeply(\@upd, [reverse sort { $a <=> $b } @upd], 'ordered by update time, newest first')
    or diag(Test::More::explain($j->{convs}));
is($j->{next}, undef, 'no further page');
my ($e1) = grep { $_->{conv} eq $c1 } @{ $j->{convs} };
is($e1->{state}, 'open', 'a summary: state');
is($e1->{agent}, 'ann', 'agent');
is($e1->{visitor}, $w1->{id}, 'visitor');
is($e1->{group}, 'ra', 'group');
ok($e1->{seq} >= 2, 'seq');
ok($e1->{created} > 0, 'created');

my %by = (
    'state=open' => [sort $c1, $c2], 'state=closed' => [$c3], 'state=queued' => [sort $c4, $c5],
    'agent=ann' => [sort $c1, $c2], 'group=rb' => [sort $c3, $c4, $c5],
    'group=rb&state=queued' => [sort $c4, $c5], "since=$t0" => [$c4],
    'agent=nobody' => [],
);
for my $q (sort keys %by) {
    ($st, $j) = api(GET => "/kefu/api/sites/shopr/convs?$q");
    is_deeply([sort map { $_->{conv} } @{ $j->{convs} }], $by{$q}, "filter $q");
}

my (@pages, %seen, $cursor);
for (1 .. 10) {
    ($st, $j) = api(GET => '/kefu/api/sites/shopr/convs?limit=2' . ($cursor ? "&cursor=$cursor" : ''));
    is($st, 200, 'a page') or last;
    push @pages, scalar @{ $j->{convs} };
    $seen{$_->{conv}}++ for @{ $j->{convs} };
    $cursor = $j->{next} or last;
}
is(scalar(keys %seen), 5, 'the pages cover all five');
is(scalar(grep { $_ > 1 } values %seen), 0, 'none twice');
ok(!grep({ $_ > 2 } @pages), 'pages of at most 2');



=== TEST 2: one conversation: summary, visitor with attrs and pages, assignment history
--- ws
my ($v, $w, $conv) = main::visitor_conv('rc', name => 'Li Lei', attrs => {plan => 'gold', orders => 3},
                                         page => {url => 'https://shop.example/cart', title => 'Cart'});
$v->send_json({type => 'page', url => 'https://shop.example/checkout', title => 'Checkout'});
my $a = main::agent('bea', ['rc']);
my $b = main::agent('cal', ['rc']);
$a->send_json({type => 'accept', conv => $conv});
$a->recv_type('conv');
my ($st, $j) = api(POST => "/kefu/api/sites/shopr/convs/$conv/transfer", {agent => 'cal'});
is($st, 200, 'the API transfers it to cal');
is($j->{agent}{id}, 'cal', 'to cal');
is($b->recv_type('conv', 5)->{conv}, $conv, 'cal is told');
($st, $j) = api(GET => "/kefu/api/sites/shopr/convs/$conv");
is($st, 200, 'one conversation');
is($j->{conv}, $conv, 'its id');
is($j->{state}, 'open', 'open');
is($j->{agent}, 'cal', "cal's now");
is($j->{group}, 'rc', 'its group');
ok($j->{seq} >= 3, 'its seq');
is($j->{visitor}{id}, $w->{id}, 'the visitor');
is($j->{visitor}{name}, 'Li Lei', 'its name from hello');
is_deeply($j->{visitor}{attrs}, {plan => 'gold', orders => 3}, 'the attrs the shop gave');
is_deeply([map { $_->{url} } @{ $j->{visitor}{pages} }],
          ['https://shop.example/cart', 'https://shop.example/checkout'], 'the page trail');
is($j->{visitor}{page}{title}, 'Checkout', 'the current page');
my @ev = map { $_->{event} } @{ $j->{assignments} };
is_deeply([grep { $_ ne 'conv.queued' } @ev], ['conv.created', 'conv.assigned', 'conv.transferred'],
          'the assignment history') or diag(Test::More::explain(\@ev));
my ($tr) = grep { $_->{event} eq 'conv.transferred' } @{ $j->{assignments} };
ok($tr->{seq} && $tr->{ts}, 'with seq and ts');
is($tr->{data}{agent}{id}, 'cal', 'and the entry');



=== TEST 3: messages: the latest page, before, after, limits; private notes included
--- ws
my ($v, $w, $conv) = main::visitor_conv('rd');
for my $n (2 .. 12) {
    my ($st) = api(POST => "/kefu/api/sites/shopr/convs/$conv/messages",
                   {cid => "m$n", text => "n$n", ($n == 7 ? (private => JSON::PP::true()) : ()), from => {role => 'bot', id => 'b'}});
    die "store $n: $st\n" unless $st == 201;
}
my $P = "/kefu/api/sites/shopr/convs/$conv/messages";
my ($st, $j) = api(GET => $P);
is($st, 200, 'messages');
is_deeply([map { $_->{seq} } @{ $j->{msgs} }], [1 .. 12], 'all twelve, oldest first');
ok(!$j->{more}, 'no more');
ok((grep { $_->{seq} == 7 && $_->{private} } @{ $j->{msgs} }), 'the private note is there');
($st, $j) = api(GET => "$P?limit=5");
is_deeply([map { $_->{seq} } @{ $j->{msgs} }], [8 .. 12], 'the latest five');
ok($j->{more}, 'more before them');
($st, $j) = api(GET => "$P?limit=5&before=8");
is_deeply([map { $_->{seq} } @{ $j->{msgs} }], [3 .. 7], 'five before 8');
ok($j->{more}, 'more');
($st, $j) = api(GET => "$P?limit=5&before=3");
is_deeply([map { $_->{seq} } @{ $j->{msgs} }], [1, 2], 'the first two');
ok(!$j->{more}, 'nothing before');
($st, $j) = api(GET => "$P?after=9");
is_deeply([map { $_->{seq} } @{ $j->{msgs} }], [10 .. 12], 'after 9');
ok(!$j->{more}, 'no more');
($st, $j) = api(GET => "$P?after=2&limit=3");
is_deeply([map { $_->{seq} } @{ $j->{msgs} }], [3 .. 5], 'three after 2');
ok($j->{more}, 'more after');
($st, $j) = api(GET => "$P?after=12");
is_deeply($j->{msgs}, [], 'nothing after the last');
($st, $j) = api(GET => "$P?limit=201");
is($st, 400, 'limit over 200: 400');



=== TEST 4: agents and queues
--- ws
my $a = main::agent('dan', ['re', 'rf'], status => 'online');
my $b = main::agent('eve', ['re']);
my ($v1, $w1, $c1) = main::visitor_conv('re');
my ($v2, $w2, $c2) = main::visitor_conv('rg');
my ($v3, $w3, $c3) = main::visitor_conv('rg');
my ($st, $j) = api(GET => '/kefu/api/sites/shopr/agents');
is($st, 200, 'agents');
my %ag = map { $_->{id} => $_ } @{ $j->{agents} };
is($ag{dan}{state}, 'online', 'dan is online');
is($ag{eve}{state}, 'away', 'eve is away');
is($ag{dan}{conns}, 1, 'one connection');
is($ag{dan}{load}, 1, 'dan got the conversation of his group');
is($ag{dan}{capacity}, 3, 'capacity from the token');
is_deeply([sort @{ $ag{dan}{groups} }], ['re', 'rf'], 'his groups');
is($ag{dan}{name}, 'Agent dan', 'his name');
($st, $j) = api(GET => '/kefu/api/sites/shopr/queues/rg');
is($st, 200, 'the queue of rg');
is($j->{length}, 2, 'two waiting');
is_deeply([map { $_->{conv} } @{ $j->{convs} }], [$c2, $c3], 'oldest first');
is_deeply([map { $_->{position} } @{ $j->{convs} }], [1, 2], 'positions');
is($j->{convs}[0]{visitor}, $w2->{id}, 'the visitor');
ok($j->{convs}[0]{since} > 0, 'since when');
($st, $j) = api(GET => '/kefu/api/sites/shopr/queues/empty');
is($j->{length}, 0, 'an empty queue');
($st, $j) = api(GET => '/kefu/api/sites/shopr/queues/rg?limit=1');
is(scalar @{ $j->{convs} }, 1, 'limit');
is($j->{length}, 2, 'length is the whole queue');



=== TEST 5: actions: assign, transfer to a group, close; bad and conflicting ones
--- ws
my $a = main::agent('fay', ['rh']);
my ($v, $w, $conv) = main::visitor_conv('rh');
my $A = "/kefu/api/sites/shopr/convs/$conv";
my ($st, $j) = api(POST => "$A/assign", {});
is($st, 400, 'assign without agent: 400');
($st, $j) = api(POST => "$A/assign", {agent => 5});
is($st, 400, 'agent not a string: 400');
($st, $j) = api(POST => "/kefu/api/sites/shopr/convs/424242/assign", {agent => 'fay'});
is($st, 404, 'an unknown conversation: 404');
($st, $j) = api(POST => "$A/assign", {agent => 'fay'});
is($st, 200, 'assigned to fay');
is($j->{state}, 'open', 'open');
is($j->{agent}{id}, 'fay', "fay's");
my $n = $a->recv_type('conv', 5);
is($n->{conv}, $conv, 'fay is told');
my $vn = main::conv_in($v, 'open');
is($vn->{agent}{id}, 'fay', 'the visitor is told who');
($st, $j) = api(POST => "$A/assign", {agent => 'fay'});
is($st, 200, 'again: 200');
ok(!$j->{changed}, 'nothing changed');
($st, $j) = api(POST => "$A/transfer", {group => 'rj'});
is($st, 404, 'to a group nobody declared or named: 404');
# an agent of ri signed in (away): the group is known
my $gus = main::agent('gus', ['ri']);
($st, $j) = api(POST => "$A/transfer", {group => 'ri'});
is($st, 200, 'transferred to group ri');
is($j->{state}, 'queued', 'queued there');
($st, $j) = api(GET => '/kefu/api/sites/shopr/queues/ri');
is_deeply([map { $_->{conv} } @{ $j->{convs} }], [$conv], 'in the queue of ri');
($st, $j) = api(POST => "$A/close", '', type => undef);
is($st, 200, 'closed, with no body at all');
is($j->{state}, 'closed', 'closed');
ok(main::conv_in($v, 'queued'), 'the visitor heard of the transfer');
ok(main::conv_in($v, 'closed'), 'and the close');
($st, $j) = api(POST => "$A/assign", {agent => 'fay'});
is($st, 409, 'assigning a closed conversation: 409');
is($j->{error}{code}, 'conflict', 'conflict');
($st, $j) = api(POST => "$A/messages", {cid => 'after', text => 'too late'});
is($st, 409, 'writing to it: 409');
($st, $j) = api(GET => "/kefu/api/sites/shopr/convs/$conv");
is_deeply([map { $_->{event} } grep { $_->{event} ne 'conv.queued' } @{ $j->{assignments} }],
          ['conv.created', 'conv.assigned', 'conv.transferred', 'conv.closed'], 'its history');



=== TEST 6: an agent's token reads what the agent sees over WebSocket: its conversations (closed by it too), its groups' queues, the agents, the settings; nothing else, and writes nothing
--- ws
my $r = int rand 1e6;
my ($ga, $gb) = ("ka$r", "kb$r");
my $amy = main::agent("amy$r", [$ga], status => 'online');
my $bob = main::agent("bob$r", [$gb], status => 'online');
my ($v1, $w1, $mine) = main::visitor_conv($ga);
main::conv_in($amy, 'open');
my ($v2, $w2, $his) = main::visitor_conv($gb);
main::conv_in($bob, 'open');
my $T = main::Kefu::API::api_token(secret => $main::S, site => $main::SHOP, role => 'agent',
                                   sub => "amy$r", groups => [$ga]);
my $B = "/kefu/api/sites/shopr";
my ($st, $j) = api(GET => "$B/convs/$mine", undef, token => $T);
is($st, 200, 'an agent reads its conversation');
is($j->{visitor}{id} // $j->{visitor}, $w1->{id}, '... with its visitor');
($st, $j) = api(GET => "$B/convs/$mine/messages", undef, token => $T);
is($st, 200, '... and its messages');
ok((grep { ($_->{text} // '') eq "hello from $ga" } @{ $j->{msgs} }), '... the visitor\'s');
($st, $j) = api(GET => "$B/convs/$his", undef, token => $T);
is($st, 404, "another agent's conversation: 404, as one that does not exist");
($st, $j) = api(GET => "$B/convs/$his/messages", undef, token => $T);
is($st, 404, '... nor its messages');
($st, $j) = api(GET => "$B/convs?limit=100", undef, token => $T);
is($st, 200, 'the list');
is_deeply([map { $_->{conv} } @{ $j->{convs} }], [$mine], 'lists only its own');
($st, $j) = api(GET => "$B/convs?agent=bob$r", undef, token => $T);
is_deeply([map { $_->{conv} } @{ $j->{convs} }], [$mine], 'even when asking for another agent\'s');
$amy->send_json({type => 'close', conv => $mine, cid => 'c'});
main::conv_in($amy, 'closed');
($st, $j) = api(GET => "$B/convs/$mine/messages", undef, token => $T);
is($st, 200, 'the agent who closed it still reads it');
ok((grep { ($_->{event} // '') eq 'closed' } @{ $j->{msgs} }), '... with the close');
($st, $j) = api(GET => "$B/queues/$ga", undef, token => $T);
is($st, 200, 'its group\'s queue');
($st, $j) = api(GET => "$B/queues/$gb", undef, token => $T);
is($st, 403, 'another group\'s queue: 403');
is($j->{error}{code}, 'forbidden', '... forbidden');
($st, $j) = api(GET => "$B/agents", undef, token => $T);
is($st, 200, 'the site\'s agents (the transfer picker)');
my ($b) = grep { $_->{id} eq "bob$r" } @{ $j->{agents} };
is($b->{state}, 'online', '... with presence');
is($b->{load}, 1, '... and load');
($st, $j) = api(GET => "$B/settings", undef, token => $T);
is($st, 200, 'the settings, read');
($st, $j) = api(POST => "$B/convs/$mine/messages", {cid => 'x', text => 'hi'}, token => $T);
is($st, 403, 'an agent\'s token writes nothing: 403');
($st, $j) = api(POST => "$B/convs/$his/close", {}, token => $T);
is($st, 403, '... not even a close');
my $V = main::Kefu::API::api_token(secret => $main::S, site => $main::SHOP, role => 'visitor', sub => 'v1');
($st, $j) = api(GET => "$B/agents", undef, token => $V);
is($st, 403, 'a visitor\'s token: 403');
