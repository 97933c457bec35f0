# Typing indicators and their lapse, read receipts and unread counts,
# history paging, the visitor's page trail.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;

our $S1 = 'shop1-secret-0123456789abcdef';

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site shop1 secret=$S1 anonymous=on;\n" . ($block->http_config // ''));
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=100; }\n");
});

# a visitor with a conversation an agent has accepted
sub pair {
    my ($v, $vw) = kefu_connect(role => 'visitor', site => 'shop1');
    $v->send_json({type => 'msg', cid => 'open', text => 'hello'});
    my $conv = $v->recv_type('ack')->{conv};
    my $t = jwt_hs256({sub => 'agent-' . int(rand 1e9), role => 'agent', site => 'shop1', exp => time + 300}, $main::S1);
    my ($a) = kefu_connect(role => 'agent', site => 'shop1', token => $t);
    $a->send_json({type => 'accept', conv => $conv});
    $a->recv_type('conv');
    $a->recv_type('msg') for 1 .. 2;
    $v->recv_type('msg');
    return ($v, $vw, $a, $t, $conv);
}

run_tests();

__DATA__

=== TEST 1: typing reaches the peer, lapses to off after 6 s without renewal, and stops when the typer leaves
--- ws
my ($v, $vw, $a, $t, $conv) = main::pair();
$v->send_json({type => 'typing', on => JSON::PP::true()});
my $m = $a->recv_type('typing');
is($m->{conv}, $conv, 'typing in the conversation');
ok($m->{on}, 'on');
is($m->{from}{id}, $vw->{id}, 'from the visitor');
# not at once: a message sent after "on" reaches the agent before any "off"
$v->send_json({type => 'msg', cid => 'during', text => 'typing...'});
my @upto = $a->upto(sub { $_[0]{type} eq 'msg' && ($_[0]{cid} // '') eq 'during' });
ok(!(grep { $_->{type} eq 'typing' } @upto), 'still on a moment later');
$m = $a->recv_type('typing', 20);
ok($m && !$m->{on}, 'off by itself, without renewal');
$a->send_json({type => 'typing', conv => $conv, on => JSON::PP::true()});
ok($v->recv_type('typing')->{on}, 'the agent types');
close $a->sock;
$m = $v->recv_type('typing', 3);
ok($m && !$m->{on}, 'off as soon as the typer left');
--- timeout: 30



=== TEST 2: read receipts move forward and unread counts follow them
--- ws
my ($v, $vw, $a, $t, $conv) = main::pair();
$v->send_json({type => 'msg', cid => "u$_", text => "more $_"}) for 1 .. 3;
$v->recv_type('ack') for 1 .. 3;
my ($a2, $w) = kefu_connect(role => 'agent', site => 'shop1', token => $t);
my ($s) = grep { $_->{conv} eq $conv } @{ $w->{convs} };
is($s->{seq}, 5, 'five entries');
is($s->{unread}, 5, "the agent has read nothing: the visitor's four and the system entry");
$a2->send_json({type => 'read', conv => $conv, seq => 4});
my $r = $v->recv_type('read');
is($r->{seq}, 4, 'the visitor sees the receipt');
is($r->{from}{role}, 'agent', 'from the agent');
$a2->send_json({type => 'read', conv => $conv, seq => 2});
$a2->send_json({type => 'read', conv => $conv, seq => 99});
$r = $v->recv_type('read');
is($r->{seq}, 5, 'never back, never past the last entry');
my ($a3, $w3) = kefu_connect(role => 'agent', site => 'shop1', token => $t);
($s) = grep { $_->{conv} eq $conv } @{ $w3->{convs} };
is($s->{unread}, 0, 'all read');
$a3->send_json({type => 'msg', conv => $conv, cid => 'n1', text => 'note', private => JSON::PP::true()});
$a3->send_json({type => 'msg', conv => $conv, cid => 'r1', text => 'reply'});
$a3->recv_type('ack') for 1 .. 2;
my ($v2, $vw2) = kefu_connect(role => 'visitor', site => 'shop1', token => $vw->{token});
($s) = grep { $_->{conv} eq $conv } @{ $vw2->{convs} };
is($s->{unread}, 2, "the visitor's unread: the system entry and the reply; not its own, not the private note");



=== TEST 3: history pages backwards with before/limit/more; visitors never get private notes
--- ws
my ($v, $vw, $a, $t, $conv) = main::pair();
for my $i (1 .. 5) {
    $a->send_json({type => 'msg', conv => $conv, cid => "h$i", text => "t$i", ($i == 3 ? (private => JSON::PP::true()) : ())});
    $a->recv_type('ack');
}
$a->send_json({type => 'history', conv => $conv, limit => 3});
my $h = $a->recv_type('history');
is_deeply([map { $_->{seq} } @{ $h->{msgs} }], [5, 6, 7], 'the newest three, oldest first');
ok($h->{more}, 'more before them');
$a->send_json({type => 'history', conv => $conv, before => 5, limit => 3});
$h = $a->recv_type('history');
is_deeply([map { $_->{seq} } @{ $h->{msgs} }], [2, 3, 4], 'the page before');
$a->send_json({type => 'history', conv => $conv, before => 2});
$h = $a->recv_type('history');
is_deeply([map { $_->{seq} } @{ $h->{msgs} }], [1], 'the first');
ok(!$h->{more}, 'and nothing before it');
$v->send_json({type => 'history', limit => 200});
$h = $v->recv_type('history');
is_deeply([map { $_->{seq} } @{ $h->{msgs} }], [1, 2, 3, 4, 6, 7], 'the visitor: everything but the private note (seq 5)');
$v->send_json({type => 'history', limit => 500, before => 0});
is($v->recv_type('error')->{code}, 'bad_request', 'before must be positive');



=== TEST 4: the visitor's page trail is kept (the latest 50)
--- ws
my ($v, $vw) = kefu_connect(role => 'visitor', site => 'shop1');
$v->send_json({type => 'page', url => "https://shop.example/p/$_", title => "Product $_"}) for 1 .. 55;
$v->send_json({type => 'page', url => 42});
is($v->recv_type('error')->{code}, 'bad_request', 'a url that is not a string');
my $key = "kefu:{s:shop1}:v:$vw->{id}:pages";
$v->until_pong;
my @trail = @{ redis('LRANGE', $key, 0, -1) };
is(scalar @trail, 50, 'the latest 50 pages');
like($trail[-1], qr{"url":"https://shop.example/p/55"}, 'the newest last');
like($trail[-1], qr{"title":"Product 55"}, 'with its title');
like($trail[0], qr{/p/6"}, 'the oldest kept is the sixth');
my $t = jwt_hs256({sub => 'ag', role => 'agent', site => 'shop1', exp => time + 60}, $main::S1);
my ($a) = kefu_connect(role => 'agent', site => 'shop1', token => $t);
$a->send_json({type => 'page', url => 'https://x'});
is($a->recv_type('error')->{code}, 'forbidden', 'only visitors report pages');



=== TEST 5: a visitor's hello carries the shop's attrs and its page; bad ones are refused and hello may be sent again
--- http_config
kefu_max_attrs 100;
--- ws
my $ws = ws_connect();
$ws->send_json({type => 'hello', role => 'visitor', site => 'shop1', cid => 'h1', attrs => [1, 2]});
my $e = $ws->recv_json;
is($e->{code}, 'bad_request', 'attrs that are not an object');
is($e->{cid}, 'h1', 'with the cid');
$ws->send_json({type => 'hello', role => 'visitor', site => 'shop1', attrs => {note => 'x' x 100}});
is($ws->recv_json->{code}, 'too_large', 'attrs over kefu_max_attrs');
$ws->send_json({type => 'hello', role => 'visitor', site => 'shop1', page => {url => 7}});
is($ws->recv_json->{code}, 'bad_request', 'a page without a string url');
$ws->send_json({type => 'hello', role => 'visitor', site => 'shop1', name => 'Li Lei',
                attrs => {vip => JSON::PP::true, orders => 3},
                page => {url => 'https://shop.example/cart', title => 'Cart', referrer => 'https://search.example/'}});
my $w = $ws->recv_json;
is($w->{type}, 'welcome', 'a good hello after the refused ones');
$ws->send_json({type => 'ping', id => 'sync'});
is($ws->recv_type('pong')->{id}, 'sync', 'stored before later messages are handled');
my $key = "kefu:{s:shop1}:v:$w->{id}";
is_deeply(json_dec(redis('HGET', $key, 'attrs')), {vip => JSON::PP::true, orders => 3}, 'attrs stored as JSON');
is(redis('HGET', $key, 'name'), 'Li Lei', 'and the name');
like(redis('HGET', $key, 'seen'), qr/^\d{13}$/, 'and when it was seen');
my @trail = @{ redis('LRANGE', "$key:pages", 0, -1) };
is(scalar @trail, 1, 'the page starts the trail');
like($trail[0], qr{"url":"https://shop.example/cart"}, 'its url');
like($trail[0], qr{"referrer":"https://search.example/"}, 'and referrer');
--- no_error_log
[alert]
[crit]



=== TEST 6: welcome is the first message: what the participant's channel brings while hello is answered follows it
--- ws
# a visitor with a conversation: its welcome reads the index, then the summary
my ($v0, $w0) = kefu_connect(role => 'visitor', site => 'shop1');
$v0->send_json({type => 'msg', cid => 'w1', text => 'hello'});
ok($v0->recv_type('ack'), 'a conversation of its own');
# notices on its channel all the time, as a busy routing would publish them
my $ch = "kefu:{s:shop1}:u:v:$w0->{id}";
my $pid = fork // die;
if (!$pid) {
    open STDOUT, '>', '/dev/null';
    { exec 'redis-cli', '-p', $ENV{TEST_NGINX_REDIS_PORT}, '-r', '-1', '-i', '0.001',
           'PUBLISH', $ch, '-|u|0|{"type":"conv","conv":"1","state":"queued","group":"noise"}' }
    POSIX::_exit(1);
}
my ($first, $after) = (0, 0);
my @types;
for (1 .. 30) {
    my ($ws, $w) = kefu_connect(role => 'visitor', site => 'shop1', token => $w0->{token});
    push @types, $w->{type};
    $first++ if $w->{type} eq 'welcome';
    $after++ if $ws->wait_for(sub { ($_[0]{group} // '') eq 'noise' }, 10);
    $ws->close_ws;
}
kill 'TERM', $pid;
waitpid $pid, 0;
is($first, 30, 'every hello answered by welcome first') or diag("first messages: @types");
is($after, 30, 'the notices published meanwhile came after it (the check could fail)');
