# Rules acting on live conversations (docs/automation.md "Rules in
# conversations"): a visitor's message fires the site's message, offline
# and conv_created rules once; a reply is a bot message with the rule's
# buttons and the handoff button; every action is a private system entry
# naming the rule; a resend fires nothing again; a bot's message triggers
# nothing (no loop).
use utf8;
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::Chat;

our $S = 'live-secret-0123456789abcdef';

api_blocks(ready => '/kefu/api/sites/botl/settings',
    http => "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site botl secret=$S anonymous=on default_group=presales;\n",
    config => "location = /chat { kefu_chat; }\n"
        . "location /kefu/api/ { kefu_api; }\n");

our $SITE = site_of_run('botl');
$Kefu::API::Token = api_token(secret => $S, site => $SITE, role => 'admin', sub => 'boss');
chat_site($SITE, $S);

sub T { JSON::PP::true() }

# the conversation's log as the API reads it (private entries too)
sub log_of {
    my ($conv) = @_;
    my ($st, $j) = api(GET => "/kefu/api/sites/$main::SITE/convs/$conv/messages?limit=200");
    die "log: $st\n" unless $st == 200;
    return @{ $j->{msgs} };
}

run_tests();

__DATA__

=== TEST 1: a message rule replies as the bot with buttons and the handoff button; its private entry names the rule; a resend fires nothing; the bot's reply fires nothing
--- ws
my ($st) = main::put_settings({
    bot => {name => {zh => '小茶', en => 'Tea bot'}, texts => {en => {handoff => 'Talk to a person'}}},
    rules => [
        {id => 'refund-reply', name => 'Refunds', when => {type => 'message'}, if => [{keywords => ['refund']}],
         then => [{reply => {zh => '关于退款', en => 'About your refund: it takes 3 days.'}, buttons => [{text => 'Order status', value => 'order'}]},
                  {suggest => 'Offer a coupon'}]},
        {id => 'price', when => {type => 'message'}, if => [{keywords => ['price']}], then => [{label => 'pricing'}]},
    ]});
is($st, 200, 'rules stored');
my ($v, $w) = kefu_connect(role => 'visitor', site => $main::SITE, lang => 'en');
$v->send_json({type => 'msg', cid => 'c1', text => 'I want a REFUND please'});
my $ack = $v->recv_type('ack');
ok($ack && !$ack->{dup}, 'the visitor\'s message is stored');
my $conv = $ack->{conv};
my $m = $v->wait_for(sub { $_[0]{type} eq 'msg' && $_[0]{from}{role} eq 'bot' });
is($m->{text}, 'About your refund: it takes 3 days.', 'the bot replies in the visitor\'s language');
is_deeply($m->{from}, {role => 'bot', id => 'bot', name => 'Tea bot'}, 'from the bot, with its name');
is($m->{rule}, 'refund-reply', 'naming the rule');
is_deeply($m->{buttons}, [{text => 'Order status', value => 'order'}, {text => 'Talk to a person', value => '__handoff__'}],
          'the rule\'s buttons, then the handoff button');
ok($m->{seq} > $ack->{seq}, 'after the visitor\'s message');

# a resend is a duplicate: no rule runs again
$v->send_json({type => 'msg', conv => $conv, cid => 'c1', text => 'I want a REFUND please'});
ok($v->recv_type('ack')->{dup}, 'the resend is a dup');
$v->send_json({type => 'msg', conv => $conv, cid => 'c2', text => 'marker'});
my $ack2 = $v->recv_type('ack');
# entries the rules wrote went to Redis before the marker, on the same link
my @log = main::log_of($conv);
my @bot = grep { ($_->{from}{role} // '') eq 'bot' } @log;
is(scalar @bot, 1, 'one bot reply: the resend fired nothing, the bot\'s reply (it says "refund") fired nothing');
my @sys = grep { ($_->{event} // '') eq 'rule' } @log;
is(scalar @sys, 2, 'two private entries: reply and suggest');
my ($r) = grep { $_->{action} eq 'reply' } @sys;
ok($r->{private}, 'the reply\'s entry is private');
is_deeply($r->{rule}, {id => 'refund-reply', name => 'Refunds'}, 'names the rule');
is_deeply($r->{from}, {role => 'system'}, 'from the system');
like($r->{text}, qr/^Rule Refunds: replied "About your refund/, 'a human line');
my ($s) = grep { $_->{action} eq 'suggest' } @sys;
is($s->{suggested_reply}, 'Offer a coupon', 'the suggestion for the agent');
# the visitor never gets the private entries: everything up to its own marker's echo or the pong
my @seen = $v->until_pong;
ok(!(grep { ($_->{event} // '') eq 'rule' } @seen), 'the visitor got no rule entry');



=== TEST 2: conv_created fires on the message that opens a conversation only; offline fires outside business hours
--- ws
my ($st) = main::put_settings({
    hours => {timezone => 'UTC', weekly => {}},
    rules => [
        {id => 'hello', when => {type => 'conv_created'}, then => [{reply => 'Welcome!'}]},
        {id => 'night', when => {type => 'offline'}, then => [{reply => 'We are closed.'}]},
    ]});
is($st, 200, 'always closed, two rules');
my ($v, $w) = kefu_connect(role => 'visitor', site => $main::SITE);
$v->send_json({type => 'msg', cid => 'o1', text => 'anyone there?'});
my $ack = $v->recv_type('ack');
my $conv = $ack->{conv};
$v->send_json({type => 'msg', conv => $conv, cid => 'o2', text => 'hello?'});
$v->recv_type('ack');
$v->send_json({type => 'msg', conv => $conv, cid => 'o3', text => 'marker'});
$v->recv_type('ack');
my @bot = grep { ($_->{from}{role} // '') eq 'bot' } main::log_of($conv);
is(scalar(grep { $_->{rule} eq 'hello' } @bot), 1, 'conv_created: once, for the first message');
is(scalar(grep { $_->{rule} eq 'night' } @bot), 3, 'offline: once per visitor message (three)');



=== TEST 3: intent routing: a conv_created rule with route chooses a new conversation's group before an agent is chosen; its entry says so
--- ws
my ($st) = main::put_settings({
    groups => [{name => 'presales'}, {name => 'aftersales'}],
    rules => [
        {id => 'refund-route', name => '退款转售后', when => {type => 'conv_created'}, if => [{keywords => ['退款', 'refund']}],
         then => [{route => 'aftersales'}]},
    ]});
is($st, 200, 'an intent routing rule');
my ($v, $w) = kefu_connect(role => 'visitor', site => $main::SITE, group => 'presales');
$v->send_json({type => 'msg', cid => 'i1', text => '我要退款'});
my $conv = $v->recv_type('ack')->{conv};
$v->send_json({type => 'msg', conv => $conv, cid => 'i2', text => 'marker'});
$v->recv_type('ack');
my ($st2, $j) = api(GET => "/kefu/api/sites/botl/convs/$conv");
is($j->{group}, 'aftersales', 'the conversation went to aftersales, not the visitor\'s presales');
my ($e) = grep { ($_->{event} // '') eq 'rule' } main::log_of($conv);
is($e && $e->{action}, 'route', 'a route entry');
is($e && $e->{text}, 'Rule 退款转售后: routed to aftersales', 'naming the rule and the group');
ok($e && $e->{private}, 'private');
# a message that does not fire the rule stays in its group
my ($v2) = kefu_connect(role => 'visitor', site => $main::SITE, group => 'presales');
$v2->send_json({type => 'msg', cid => 'j1', text => 'what teas do you have?'});
my $conv2 = $v2->recv_type('ack')->{conv};
($st2, $j) = api(GET => "/kefu/api/sites/botl/convs/$conv2");
is($j->{group}, 'presales', 'another message: the visitor\'s group');



=== TEST 4: rules of 64-byte ids: each action's cid stays within 64 bytes and unique, so none is taken for another's duplicate
--- ws
my $long = 'r' x 63;
my ($st) = main::put_settings({rules => [
    {id => "${long}1", when => {type => 'message'}, if => [{keywords => ['tea']}], then => [{reply => 'One'}, {suggest => 'a'}]},
    {id => "${long}2", when => {type => 'message'}, if => [{keywords => ['tea']}], then => [{reply => 'Two'}, {suggest => 'b'}]},
]});
is($st, 200, 'two rules whose ids differ in their 64th byte');
my ($v) = kefu_connect(role => 'visitor', site => $main::SITE);
$v->send_json({type => 'msg', cid => 'l1', text => 'green tea?'});
my $conv = $v->recv_type('ack')->{conv};
$v->send_json({type => 'msg', conv => $conv, cid => 'l2', text => 'marker'});
$v->recv_type('ack');
my @log = main::log_of($conv);
is_deeply([sort map { $_->{text} } grep { ($_->{from}{role} // '') eq 'bot' } @log], ['One', 'Two'], 'both replies stored');
is(scalar(grep { ($_->{event} // '') eq 'rule' } @log), 4, 'and the four entries');
ok(!(grep { length($_->{cid} // '') > 64 } @log), 'no cid longer than 64 bytes');
