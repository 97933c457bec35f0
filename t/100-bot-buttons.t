# Buttons on the wire (issue 15, SPEC-bots.md "Wire"): an agent's msg and
# the API's bot and agent messages carry them, stored in the log and
# delivered as part of the message; a visitor's are refused; every error
# names the field.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::Chat;

our $S1 = 'shop1-secret-0123456789abcdef';

api_blocks(ready => '/kefu/api/sites/shop1/convs', http => <<'_EOC_', config => <<'_EOC_');
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on default_group=presales;
_EOC_
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
_EOC_

our $SHOP = site_of_run('shop1');
$Kefu::API::Token = api_token(secret => $S1, site => $SHOP);
chat_site($SHOP, $S1);

run_tests();

__DATA__

=== TEST 1: an agent's msg with buttons: acknowledged, delivered with them, in the history; extra fields dropped
--- ws
my ($v, $w, $conv) = main::visitor_conv('bb1');
my $a = main::agent('ann', 'bb1');
main::take($a, $conv, $v);
my $B = [{text => '查订单', value => 'order status'}, {text => 'Shipping'}];
$a->send_json({type => 'msg', conv => $conv, cid => 'k1', text => 'Pick one',
               buttons => $B});
my $ack = $a->recv_type('ack');
ok($ack && !$ack->{dup}, 'acknowledged');
my $m = $v->recv_type('msg');
is($m->{text}, 'Pick one', 'the visitor gets the message');
is_deeply($m->{buttons}, $B, 'with its buttons');
$v->send_json({type => 'history', conv => $conv});
my $h = $v->recv_type('history');
my ($e) = grep { $_->{seq} == $ack->{seq} } @{$h->{msgs} // $h->{entries} // []};
is_deeply($e && $e->{buttons}, $B, 'stored in the log with the message');



=== TEST 2: a visitor's msg with buttons is bad_request; bad buttons name the field
--- ws
my ($v, $w, $conv) = main::visitor_conv('bb2');
$v->send_json({type => 'msg', conv => $conv, cid => 'v1', text => 'x', buttons => [{text => 'a'}]});
my $e = $v->recv_type('error');
is($e->{code}, 'bad_request', 'a visitor\'s buttons: bad_request');
is($e->{cid}, 'v1', 'with its cid');
like($e->{message}, qr/buttons/, 'naming buttons');
my $a = main::agent('bo', 'bb2');
main::take($a, $conv, $v);
my @bad = (
    [[], qr/"buttons" must be an array of 1-10/],
    [[map { {text => "b$_"} } 1 .. 11], qr/"buttons" must be an array of 1-10/],
    [[{text => 'ok'}, {text => ''}], qr/"buttons\[1\]\.text" must be a string of 1-100 bytes/],
    [[{text => 'x' x 101}], qr/"buttons\[0\]\.text"/],
    [[{text => 'ok', value => 'v' x 501}], qr/"buttons\[0\]\.value" must be a string of 1-500 bytes/],
    [[{text => 'ok', url => 'http://x'}], qr/"buttons\[0\]" has a field other than text, value/],
    ['no', qr/"buttons" must be an array/],
);
my $i = 0;
for my $b (@bad) {
    $i++;
    $a->send_json({type => 'msg', conv => $conv, cid => "bad$i", text => 'x', buttons => $b->[0]});
    my $r = $a->recv_type('error');
    is($r->{code}, 'bad_request', "bad buttons $i: bad_request");
    like($r->{message}, $b->[1], "bad buttons $i: names the field");
}
# nothing of it was stored: the agent's next message is the next seq
$a->send_json({type => 'msg', conv => $conv, cid => 'ok1', text => 'fine', buttons => [{text => 'x' x 100, value => 'v' x 500}]});
my $ack = $a->recv_type('ack');
ok($ack && $ack->{seq}, 'bounds are inclusive: accepted');
is($v->recv_type('msg')->{cid}, 'ok1', 'the visitor\'s next message is that one: nothing refused was stored');



=== TEST 3: the API: a bot's and an agent's message carry buttons; the system's may not; errors name the field
--- ws
my ($v, $w, $conv) = main::visitor_conv('bb3');
my $P = "/kefu/api/sites/shop1/convs/$conv/messages";
my $B = [{text => 'Yes', value => 'yes'}, {text => 'No', value => 'no'}];
my ($st, $j) = api(POST => $P, {cid => 'q1', text => 'Did that help?', buttons => $B,
                                from => {role => 'bot', id => 'bot', name => 'Tea bot'}});
is($st, 201, 'a bot\'s message with buttons: 201');
my $m = $v->recv_type('msg');
is_deeply($m->{buttons}, $B, 'delivered with its buttons');
is_deeply($m->{from}, {role => 'bot', id => 'bot', name => 'Tea bot'}, 'from the bot');
($st, $j) = api(POST => $P, {cid => 'q2', text => 'x', buttons => [{text => 'a', value => ''}],
                             from => {role => 'agent', id => 'ann'}});
is($st, 400, 'an empty value: 400');
is($j->{error}{code}, "bad_request", "bad_request");
like($j->{error}{message}, qr/"buttons\[0\]\.value"/, 'naming buttons[0].value');
($st, $j) = api(POST => $P, {cid => 'q3', text => 'x', buttons => $B});
is($st, 400, 'the system\'s message with buttons: 400');
like($j->{error}{message}, qr/buttons/, "naming buttons");
($st, $j) = api(GET => "/kefu/api/sites/shop1/convs/$conv/messages");
my ($e) = grep { ($_->{cid} // '') eq 'q1' } @{$j->{messages} // $j->{msgs} // $j->{entries} // []};
is_deeply($e && $e->{buttons}, $B, 'the API\'s log read gives them back');
