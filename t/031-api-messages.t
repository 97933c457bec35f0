# The HTTP API writes: messages into a conversation or to a visitor (as a
# bot, the system or a named agent) and business events, through the same
# storage step as WebSocket messages: same seq order, same cid dedup.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::Chat;

our $S1 = 'shop1-secret-0123456789abcdef';

our $SITE = <<'_EOC_';
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on default_group=presales;
    kefu_site shop2 secret=shop2-secret-0123456789abcdef anonymous=on;
_EOC_

api_blocks(http => $main::SITE, ready => '/kefu/api/sites/shop1/convs', config => <<'_EOC_');
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
_EOC_

# agents and groups of fixed names: a site of this run's own
our $SHOP = site_of_run('shop1');

$Kefu::API::Token = api_token(secret => $S1, site => $SHOP);
chat_site($SHOP, $S1);

run_tests();

__DATA__

=== TEST 1: a bot's message: stored with the next seq, delivered, acknowledged by id and seq; a resend is a dup
--- ws
my ($v, $w, $conv) = main::visitor_conv('g1');
my $P = "/kefu/api/sites/shop1/convs/$conv/messages";
my ($st, $j) = api(POST => $P, {cid => 'b1', text => 'Your order shipped', from => {role => 'bot', id => 'orderbot', name => 'Order bot'}});
is($st, 201, '201 Created');
is($j->{conv}, $conv, 'the conversation');
is($j->{seq}, 2, 'seq 2, after the visitor\'s first');
like($j->{id}, qr/^\d{15,20}$/, 'a snowflake id');
ok(!$j->{dup}, 'not a dup');
my $m = $v->recv_type('msg');
is($m->{seq}, 2, 'the visitor gets it as seq 2');
is($m->{id}, $j->{id}, 'same id');
is($m->{text}, 'Your order shipped', 'its text');
is_deeply($m->{from}, {role => 'bot', id => 'orderbot', name => 'Order bot'}, 'from the bot');
is($m->{cid}, 'b1', 'with its cid');

my ($st2, $j2) = api(POST => $P, {cid => 'b1', text => 'Your order shipped', from => {role => 'bot', id => 'orderbot'}});
is($st2, 200, 'a resend: 200');
ok($j2->{dup}, 'dup: true');
is($j2->{seq}, 2, 'the same seq');
is($j2->{id}, $j->{id}, 'the same id');

# the same cid from another sender is another message
($st, $j) = api(POST => $P, {cid => 'b1', text => 'maintenance tonight', from => {role => 'system'}});
is($st, 201, 'the same cid from the system: a new message');
is($j->{seq}, 3, 'seq 3');
$m = $v->recv_type('msg');
is($m->{seq}, 3, 'delivered as seq 3: the resend was not delivered (it would have come first)');
is_deeply($m->{from}, {role => 'system'}, 'from the system');
($st, $j) = api(POST => $P, {cid => 'd1', text => 'defaults to the system'});
is($st, 201, 'no from: the system');
is($v->recv_type('msg')->{from}{role}, 'system', 'from the system');

# the visitor's own next message comes after them
$v->send_json({type => 'msg', conv => $conv, cid => 'second', text => 'thanks'});
is($v->recv_type('ack')->{seq}, 5, 'the visitor\'s next message is seq 5');



=== TEST 2: as a named agent, and private notes, which the visitor never gets
--- ws
my ($v, $w, $conv) = main::visitor_conv('g2');
my $a = main::agent('ann', 'g2');
main::take($a, $conv, $v);
my $P = "/kefu/api/sites/shop1/convs/$conv/messages";
my ($st, $j) = api(POST => $P, {cid => 'n1', text => 'VIP customer', private => JSON::PP::true(), from => {role => 'bot', id => 'crm'}});
is($st, 201, 'a private note from the CRM bot');
my $note_seq = $j->{seq};
($st, $j) = api(POST => $P, {cid => 'a1', text => 'Hi, Ann here', from => {role => 'agent', id => 'ann', name => 'Ann'}});
is($st, 201, 'a message in the agent\'s name');
is($j->{seq}, $note_seq + 1, 'the next seq');
my $n = $a->recv_type('msg');
is($n->{seq}, $note_seq, 'the agent gets the note');
ok($n->{private}, 'marked private');
my $am = $a->recv_type('msg');
is($am->{text}, 'Hi, Ann here', 'the agent\'s connection gets the message sent in its name');
is_deeply($am->{from}, {role => 'agent', id => 'ann', name => 'Ann'}, 'from the agent');
my $vm = $v->recv_type('msg');
is($vm->{seq}, $note_seq + 1, 'the visitor skips the note');
is($vm->{text}, 'Hi, Ann here', 'and gets the message');
# dedup is the agent's: the same cid sent on its WebSocket is the same message
$a->send_json({type => 'msg', conv => $conv, cid => 'a1', text => 'Hi, Ann here'});
my $ack = $a->recv_type('ack');
ok($ack->{dup}, 'the agent resending the API\'s cid on its WebSocket: dup');
is($ack->{id}, $j->{id}, 'the same id');



=== TEST 3: to a visitor: its open conversation, or a new one
--- ws
my ($v, $w, $conv) = main::visitor_conv('g3');
my ($st, $j) = api(POST => "/kefu/api/sites/shop1/visitors/$w->{id}/messages", {cid => 'p1', text => 'Need help?', from => {role => 'bot', id => 'greeter'}});
is($st, 201, 'to a visitor with an open conversation');
is($j->{conv}, $conv, 'into that conversation');
ok(!$j->{created}, 'none created');
is($v->recv_type('msg')->{text}, 'Need help?', 'delivered');

my ($v2, $w2) = kefu_connect(role => 'visitor', site => 'shop1');
($st, $j) = api(POST => "/kefu/api/sites/shop1/visitors/$w2->{id}/messages", {cid => 'p2', text => 'Welcome!', group => 'g3b', from => {role => 'bot', id => 'greeter'}});
is($st, 201, 'to a visitor without a conversation');
ok($j->{created}, 'one was opened');
is($j->{seq}, 1, 'the message is its seq 1');
my $c = $v2->recv_type('conv');
is($c->{conv}, $j->{conv}, 'the visitor is told of it');
is($c->{group}, 'g3b', 'in the group asked for');
my $m = $v2->recv_type('msg');
is($m->{text}, 'Welcome!', 'and gets the message');
my $h = redis('HGETALL', "kefu:{c:$j->{conv}}");
my %h = @$h;
is($h{visitor}, $w2->{id}, 'the conversation is the visitor\'s');
is(redis('HGET', "kefu:{s:shop1}:v:$w2->{id}", 'open'), $j->{conv}, 'and its open one');
my ($st3, $j3) = api(POST => "/kefu/api/sites/shop1/visitors/$w2->{id}/messages", {cid => 'p2', text => 'Welcome!', from => {role => 'bot', id => 'greeter'}});
ok($j3->{dup}, 'a resend to the visitor: dup');
is($j3->{conv}, $j->{conv}, 'same conversation');
$v2->send_json({type => 'msg', cid => 'reply', text => 'hi'});
is($v2->recv_type('ack')->{conv}, $j->{conv}, 'the visitor\'s reply goes to the conversation the bot opened');



=== TEST 4: unknown, foreign and closed conversations
--- ws
my ($v, $w, $conv) = main::visitor_conv('g4');
my ($st, $j) = api(POST => "/kefu/api/sites/shop1/convs/123456789/messages", {cid => 'x', text => 'hi'});
is($st, 404, 'an unknown conversation: 404');
is($j->{error}{code}, 'not_found', 'not_found');
my $t2 = api_token(secret => 'shop2-secret-0123456789abcdef', site => 'shop2');
($st, $j) = api(POST => "/kefu/api/sites/shop2/convs/$conv/messages", {cid => 'x', text => 'hi'}, token => $t2);
is($st, 404, "another site's conversation: 404");
($st, $j) = api(GET => "/kefu/api/sites/shop2/convs/$conv", undef, token => $t2);
is($st, 404, "another site's conversation cannot be read");
($st, $j) = api(POST => "/kefu/api/sites/shop2/visitors/$w->{id}/events", {name => 'x.y'}, token => $t2);
is($st, 404, "an event to a visitor of another site: no open conversation there");
# closed (routing's close sets the state; the API must refuse to write then)
redis('HSET', "kefu:{c:$conv}", 'state', 'closed');
($st, $j) = api(POST => "/kefu/api/sites/shop1/convs/$conv/messages", {cid => 'late', text => 'hello?'});
is($st, 409, 'a closed conversation: 409');
is($j->{error}{code}, 'conflict', 'conflict');
($st, $j) = api(POST => "/kefu/api/sites/shop1/convs/$conv/events", {name => 'order.paid'});
is($st, 409, 'an event into a closed conversation: 409');
my ($st5, $j5) = api(GET => "/kefu/api/sites/shop1/convs/$conv/messages");
is(scalar @{ $j5->{msgs} }, 1, 'nothing was stored');



=== TEST 5: business events: in the log, to the agents at once, to the visitor only when asked
--- ws
my ($v, $w, $conv) = main::visitor_conv('g5');
my $a = main::agent('bob', 'g5');
main::take($a, $conv, $v);
my $E = "/kefu/api/sites/shop1/convs/$conv/events";
my ($st, $j) = api(POST => $E, {name => 'order.paid', data => {order => '123', amount => 99.5},
                                suggested_reply => 'Thanks, order 123 is paid!'});
is($st, 201, 'an event: 201');
my $seq = $j->{seq};
ok($seq > 1, "it takes the next seq ($seq)");
my $e = $a->recv_type('event');
is($e->{name}, 'order.paid', 'the agent gets the event');
is($e->{conv}, $conv, 'in the conversation');
is($e->{seq}, $seq, 'with its seq');
is($e->{id}, $j->{id}, 'and id');
is_deeply($e->{data}, {order => '123', amount => 99.5}, 'its data');
is($e->{suggested_reply}, 'Thanks, order 123 is paid!', 'the suggested reply');
ok($e->{private}, 'marked private: for the agents only');
ok($e->{ts} > 0, 'a ts');
($st, $j) = api(POST => $E, {name => 'order.shipped', data => {order => '123'}, visitor => JSON::PP::true(), cid => 'ship-123'});
is($st, 201, 'an event for the visitor too');
is($a->recv_type('event')->{name}, 'order.shipped', 'the agent gets it');
# the conversation's channel is ordered: order.paid, had it reached the
# visitor, would have come before order.shipped
my @upto = $v->upto(sub { $_[0]{type} eq 'event' });
my $ve = $upto[-1];
is($ve->{name}, 'order.shipped', 'the visitor gets the one meant for it');
ok(!exists $ve->{private}, 'not private');
is(scalar(grep { ($_->{type} // '') eq 'event' } @upto), 1, 'and never the other');
my ($st2, $j2) = api(POST => $E, {name => 'order.shipped', data => {order => '123'}, visitor => JSON::PP::true(), cid => 'ship-123'});
ok($j2->{dup}, 'an event resent with its cid: dup');
is($j2->{seq}, $j->{seq}, 'same seq');
$a->send_json({type => 'history', conv => $conv});
my $h = $a->recv_type('history');
is_deeply([map { $_->{name} // $_->{text} } @{ $h->{msgs} }], ['hello?', 'conversation accepted by Agent bob', 'order.paid', 'order.shipped'],
          "the agent's history holds them in order");
$v->send_json({type => 'history', conv => $conv});
$h = $v->recv_type('history');
is_deeply([map { $_->{name} // $_->{text} } @{ $h->{msgs} }], ['hello?', 'conversation accepted by Agent bob', 'order.shipped'],
          "the visitor's only the one for it");



=== TEST 6: events to a visitor: its open conversation; none open is 404 unless asked to open one
--- ws
my ($v, $w, $conv) = main::visitor_conv('g6');
my ($st, $j) = api(POST => "/kefu/api/sites/shop1/visitors/$w->{id}/events", {name => 'cart.updated', data => {items => 2}});
is($st, 201, 'an event to a visitor');
is($j->{conv}, $conv, 'lands in its open conversation');
my ($v2, $w2) = kefu_connect(role => 'visitor', site => 'shop1');
($st, $j) = api(POST => "/kefu/api/sites/shop1/visitors/$w2->{id}/events", {name => 'cart.updated'});
is($st, 404, 'a visitor with no open conversation: 404');
is($j->{error}{code}, 'not_found', 'not_found');
($st, $j) = api(POST => "/kefu/api/sites/shop1/visitors/$w2->{id}/events", {name => 'cart.abandoned', open => JSON::PP::true(), visitor => JSON::PP::true()});
is($st, 201, 'open: true opens one');
ok($j->{created}, 'created');
is($v2->recv_type('conv')->{conv}, $j->{conv}, 'the visitor is told');
is($v2->recv_type('event')->{name}, 'cart.abandoned', 'and gets the event');



=== TEST 7: an event reaches an agent connected to another nginx host
--- ws
my ($port2, $stop, $log2) = start_host(<<"_EOC_");
    kefu_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};
    kefu_site shop1 secret=$main::S1 anonymous=on default_group=presales;
_EOC_
# host 2 is stopped whatever happens here
my $ok = eval {
    my ($v, $w, $conv) = main::visitor_conv('g7');
    my $a = main::agent('cyd', 'g7', port => $port2);
    main::take($a, $conv);
    my ($st, $j) = api(POST => "/kefu/api/sites/shop1/convs/$conv/events", {name => 'ticket.updated', data => {ticket => 'T-9'}});
    is($st, 201, 'posted to host 1');
    my $e = $a->recv_type('event', 5);
    is($e && $e->{name}, 'ticket.updated', 'the agent on host 2 gets it');
    is($e && $e->{seq}, $j->{seq}, 'with its seq');
    1;
};
$stop->();
die $@ unless $ok;



=== TEST 8: a conversation the API opens for a visitor is routed like a visitor's own
--- ws
my $a = main::agent('dee', 'g8', status => 'online');
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1');
my ($st, $j) = api(POST => "/kefu/api/sites/shop1/visitors/$w->{id}/messages",
                   {cid => 'r1', text => 'Your parcel is delayed, sorry!', group => 'g8', from => {role => 'bot', id => 'ops'}});
is($st, 201, 'stored');
ok($j->{created}, 'a new conversation');
is($j->{routing}{state}, 'open', 'routed at once');
is($j->{routing}{agent}{id}, 'dee', 'to the free agent of the group');
my $n = $a->recv_type('conv', 5);
is($n->{conv}, $j->{conv}, 'the agent is told');
is($n->{visitor}{id}, $w->{id}, 'whose it is');
my $m = $a->recv_type('msg', 5);
is($m->{text}, 'Your parcel is delayed, sorry!', "the agent reads the bot's message");
my $vc = $v->recv_type('conv', 5);
is($vc->{agent}{id}, 'dee', 'the visitor is told who has it');
is($v->recv_type('msg', 5)->{seq}, 1, 'and gets the message');
($st, $j) = api(GET => '/kefu/api/sites/shop1/agents');
my ($dee) = grep { $_->{id} eq 'dee' } @{ $j->{agents} };
is($dee->{load}, 1, "it counts in the agent's load");
