# The bot state on the server (issue 15; docs/automation.md "The bot
# state"): with bot.enabled, a new conversation of bot.groups starts in
# state bot (no agent, no queue); the agents of its groups list it in
# queue.bots and hear it enter and leave; accept takes it over; the FAQ
# bot answers in it; every handoff path routes it like a new one.
use utf8;
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::Route;

our $S = 'bots-secret-0123456789abcdef';

add_block_preprocessor(sub {
    my $block = shift;
    # the idle sweep's block closes bot conversations after 2 s
    my $idle = $block->name =~ /idle/ ? ' bot_idle=2s' : '';
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site bst secret=$S anonymous=on default_group=presales grace=30s$idle;\n");
    $block->set_value('config', "location = /chat { kefu_chat; }\n"
        . "location /kefu/api/ { kefu_api; }\n"
        . "location = /status { kefu_status; }\n");
    $block->set_value('ws', "api_ready('/kefu/api/sites/bst/settings') or die 'Redis not ready'; " . $block->ws)
        if defined $block->ws;
});

our $SITE = site_of_run('bst');
$Kefu::API::Token = api_token(secret => $S, site => $SITE, role => 'admin', sub => 'boss');
$Kefu::Route::SITE = $SITE;
$Kefu::Route::SECRET = $S;

# the conversation's log as the API reads it (private entries too)
sub log_of {
    my ($conv, %o) = @_;
    my ($st, $j) = api(GET => "/kefu/api/sites/$main::SITE/convs/$conv/messages?limit=200", undef, %o);
    die "log: $st\n" unless $st == 200;
    return @{ $j->{msgs} };
}

sub conv_of {
    my ($conv) = @_;
    my ($st, $j) = api(GET => "/kefu/api/sites/$main::SITE/convs/$conv");
    die "conv: $st\n" unless $st == 200;
    return $j;
}

# the site's conversations by state, from /status (read from Redis)
sub counts {
    my ($c, $h, $b) = http_raw("GET /status HTTP/1.0\r\nHost: x\r\n\r\n");
    my $j = Kefu::WS::json_dec($b);
    return $j->{sites}{$main::SITE}{conversations};
}

# PUT the settings, then wait until this worker runs them (they reach it
# by the settings notice, after the PUT answered): a rule that never fires
# marks the version
our $Mark = 0;
sub put_settings {
    my ($doc, %o) = @_;
    my $id = 'mark' . ++$main::Mark . 'x' . int(rand 1e6);
    my %d = %$doc;
    $d{rules} = [@{ $d{rules} // [] }, {id => $id, when => {type => 'message'},
                 if => [{keywords => ["zz$id"]}], then => [{label => 'mark'}]}];
    my ($st, $j) = api(PUT => "/kefu/api/sites/$main::SITE/settings", \%d);
    return ($st, $j) unless $st == 200;
    for my $port (undef, @{ $o{ports} || [] }) {
        my $agree = 0;
        for (1 .. 400) {
            my ($s2, $t) = api(POST => "/kefu/api/sites/$main::SITE/rules/try", {text => 'x'},
                               ($port ? (port => $port) : ()));
            # every worker: several answers in a row
            if ($s2 == 200 && grep { $_->{id} eq $id } @{ $t->{rules} }) { last if ++$agree >= 6 }
            else { $agree = 0; select undef, undef, undef, 0.025 }
        }
        die "the settings never reached the workers\n" unless $agree >= 6;
    }
    return ($st, $j);
}

run_tests();

__DATA__

=== TEST 1: a new conversation of a bot group starts in bot: no agent, no queue; conv and welcome say so; counts; queue.bots; agents hear it enter; accept takes it over
--- ws
my $g = uniq_group('bot');
my ($st) = main::put_settings({groups => [{name => $g}, {name => 'other'}],
                               bot => {enabled => JSON::PP::true(), groups => [$g], mode => 'external'}});
is($st, 200, 'the bot is on for one group');
my $c0 = main::counts();
my ($a, $aw) = agent('ag1', groups => [$g], capacity => 5, status => 'online');
my ($v, $vw, $ack, $n) = visitor($g, text => 'hello bot');
ok($ack && !$ack->{dup}, 'the first message is stored');
my $conv = $ack->{conv};
is($n->{state}, 'bot', 'the visitor is told: state bot');
is($n->{group}, $g, 'in its group');
ok(!$n->{agent} && !defined $n->{position}, 'no agent, no place in a queue');
my $j = main::conv_of($conv);
is($j->{state}, 'bot', 'the API says bot');
ok(!$j->{agent}, 'and no agent although one is online and free');
# the agent hears it enter the bot
my $e = wait_conv($a, $conv, state => 'bot');
ok($e, 'the agent of the group hears it enter bot');
ok($e && $e->{visitor}{id}, 'with its visitor');
is($e && $e->{last}, 'hello bot', 'and its last message');
my $c1 = main::counts();
is($c1->{bot} - ($c0->{bot} // 0), 1, 'counted as bot');
is($c1->{queued} - $c0->{queued}, 0, 'not queued');
# queue.bots
$a->send_json({type => 'queue', cid => 'q1'});
my $q = $a->recv_type('queue');
ok(!(grep { $_->{conv} eq $conv } @{ $q->{convs} }), 'not in the queue');
my ($b) = grep { $_->{conv} eq $conv } @{ $q->{bots} || [] };
ok($b, "in queue.bots") or diag(Kefu::WS::json_enc($q));
is($b && $b->{state}, 'bot', 'state bot');
is($b && $b->{group}, $g, 'its group');
is($b && $b->{last}, 'hello bot', 'its preview');
ok($b && $b->{since} > 0, 'since');
# an agent of the group reads what was said before taking it over
$a->send_json({type => 'history', conv => $conv, cid => 'h1'});
my $h = $a->recv_type('history');
ok($h && (grep { ($_->{text} // '') eq 'hello bot' } @{ $h->{msgs} || [] }), 'the agent reads its history');
# an agent of another group does not see it
my ($o) = agent('ag2', groups => ['other'], capacity => 5, status => 'online');
$o->send_json({type => 'queue', cid => 'q2'});
my $q2 = $o->recv_type('queue');
ok(!(grep { $_->{conv} eq $conv } @{ $q2->{bots} || [] }), 'another group\'s agent: not listed');
$o->send_json({type => 'history', conv => $conv, cid => 'h2'});
my $h2 = $o->wait_for(sub { $_[0]{type} eq 'history' || $_[0]{type} eq 'error' });
is($h2->{type}, 'error', 'nor may it read it');
# the visitor's welcome lists it in state bot
my ($v2, $vw2) = kefu_connect(role => 'visitor', site => $main::SITE, token => $vw->{token});
my ($wc) = grep { $_->{conv} eq $conv } @{ $vw2->{convs} || [] };
is($wc && $wc->{state}, 'bot', 'welcome.convs: state bot') or diag explain $vw2;
# a group without the bot is routed as before
my ($v3, undef, $ack3, $n3) = visitor('other', text => 'hi other');
is($n3->{state}, 'open', 'a group without the bot: routed at once');
# accept takes it over
$a->send_json({type => 'accept', conv => $conv, cid => 'acc'});
my $an = wait_conv($a, $conv, state => 'open', reason => 'accepted');
ok($an, 'accept: open');
is($an && $an->{agent}{id}, 'ag1', 'the agent\'s');
my $vn = wait_conv($v, $conv, state => 'open');
is($vn && $vn->{agent}{id}, 'ag1', 'the visitor is told');
my ($sys) = grep { ($_->{event} // '') eq 'accepted' } main::log_of($conv);
ok($sys, 'a system entry: accepted');
my $c2 = main::counts();
is($c2->{bot} - ($c0->{bot} // 0), 0, 'no longer counted as bot');
$a->send_json({type => 'queue', cid => 'q3'});
my $q3 = $a->recv_type('queue');
ok(!(grep { $_->{conv} eq $conv } @{ $q3->{bots} || [] }), 'no longer in queue.bots');



=== TEST 2: mode faq: one clear match gets the answer with its buttons and faq id; unsure gets choose with the closest as buttons; nothing gets not_understood; every answer ends with the handoff button; once per visitor message, in its language; external: nothing answers
--- ws
my $g = uniq_group('faq');
my $faq = [
    {id => 'shipping', question => {zh => '多久发货？', en => 'When do you ship my order?'},
     alts => ['how long is delivery'], keywords => ['发货'],
     answer => {zh => '付款后48小时内发货。', en => 'We ship within 48 hours of payment.'},
     buttons => [{text => 'Track my order', value => 'track'}]},
    {id => 'returns', question => {zh => '怎么退货？', en => 'How do I return green tea?'},
     answer => {zh => '七天无理由退货。', en => 'Returns are free within 7 days.'}},
    {id => 'storage', question => {zh => '茶叶怎么保存？', en => 'How do I store green tea?'},
     answer => {zh => '密封冷藏。', en => 'Keep it sealed and cool.'}},
];
my ($st) = main::put_settings({groups => [{name => $g}],
    bot => {enabled => JSON::PP::true(), groups => [$g], mode => 'faq', name => {zh => '小茶', en => 'Tea bot'},
            texts => {en => {not_understood => 'Sorry, no idea.', choose => 'Which one?', handoff => 'A person please'}}},
    faq => $faq});
is($st, 200, 'the FAQ bot is on');
my ($v, $vw) = kefu_connect(role => 'visitor', site => $main::SITE, group => $g, lang => 'en');
my $bot = sub { my $c = shift; $v->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{from}{role} // '') eq 'bot' && $_[0]{cid} eq $c }) };
# a clear match
$v->send_json({type => 'msg', cid => 'm1', text => 'When do you ship my order?'});
my $ack = $v->recv_type('ack');
my $conv = $ack->{conv};
my $a1 = $bot->('f:' . $ack->{seq});
ok($a1, 'the bot answers');
is($a1->{text}, 'We ship within 48 hours of payment.', 'the entry\'s answer, in the visitor\'s language');
is($a1->{faq}, 'shipping', 'naming the entry');
is_deeply($a1->{from}, {role => 'bot', id => 'bot', name => 'Tea bot'}, 'from the bot');
is_deeply($a1->{buttons}, [{text => 'Track my order', value => 'track'}, {text => 'A person please', value => '__handoff__'}],
          'its buttons, then the handoff button');
# unsure: two entries about green tea
$v->send_json({type => 'msg', conv => $conv, cid => 'm2', text => 'return or store green tea'});
my $ack2 = $v->recv_type('ack');
my $a2 = $bot->('f:' . $ack2->{seq});
is($a2->{text}, 'Which one?', 'unsure: the choose text');
my @b = @{ $a2->{buttons} || [] };
ok(@b >= 3 && @b <= 4, 'two or three questions and the handoff button');
is_deeply([sort map { $_->{value} } @b[0 .. $#b - 1]], ['How do I return green tea?', 'How do I store green tea?'],
          'the closest questions, their text as the value');
is($b[-1]{value}, '__handoff__', 'the handoff button last');
ok(!$a2->{faq}, 'no entry named');
# nothing: not understood, once
$v->send_json({type => 'msg', conv => $conv, cid => 'm3', text => 'xylophone quartz'});
my $ack3 = $v->recv_type('ack');
my $a3 = $bot->('f:' . $ack3->{seq});
is($a3->{text}, 'Sorry, no idea.', 'nothing matches: not_understood');
is_deeply($a3->{buttons}, [{text => 'A person please', value => '__handoff__'}], 'with the handoff button');
# a clear match again resets the misses: one more miss does not hand off
$v->send_json({type => 'msg', conv => $conv, cid => 'm4', text => 'how long is delivery'});
my $ack4 = $v->recv_type('ack');
is($bot->('f:' . $ack4->{seq})->{faq}, 'shipping', 'an alt phrasing is a clear match');
$v->send_json({type => 'msg', conv => $conv, cid => 'm5', text => 'zebra crossing'});
my $ack5 = $v->recv_type('ack');
is($bot->('f:' . $ack5->{seq})->{text}, 'Sorry, no idea.', 'one miss after an answer: not understood, still the bot');
# a resend is a duplicate: no second answer
$v->send_json({type => 'msg', conv => $conv, cid => 'm1', text => 'When do you ship my order?'});
ok($v->recv_type('ack')->{dup}, 'the resend is a dup');
$v->send_json({type => 'msg', conv => $conv, cid => 'm6', text => 'marker 发货'});
my $ack6 = $v->recv_type('ack');
$bot->('f:' . $ack6->{seq});
my @log = main::log_of($conv);
my %per;
$per{$_->{cid}}++ for grep { ($_->{from}{role} // '') eq 'bot' } @log;
is_deeply([sort values %per], [1, 1, 1, 1, 1, 1], 'exactly one answer per visitor message (six)');
is(main::conv_of($conv)->{state}, 'bot', 'still with the bot');
# a bot's message over the API (an external helper) is not answered
my ($sa) = api(POST => "/kefu/api/sites/$main::SITE/convs/$conv/messages",
               {cid => 'api1', text => 'When do you ship my order?', from => {role => 'bot', id => 'bot'}});
is($sa, 201, 'a bot message over the API');
$v->send_json({type => 'msg', conv => $conv, cid => 'm7', text => 'marker 发货'});
my $ack7 = $v->recv_type('ack');
$bot->('f:' . $ack7->{seq});
is(scalar(grep { ($_->{cid} // '') =~ /^f:/ } main::log_of($conv)), 7,
   'answers for the seven visitor messages only, none for the API\'s bot message');
# zh: the visitor's language
my ($z) = kefu_connect(role => 'visitor', site => $main::SITE, group => $g, lang => 'zh');
$z->send_json({type => 'msg', cid => 'z1', text => '多久发货？'});
my $zack = $z->recv_type('ack');
my $za = $z->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{cid} // '') eq 'f:' . $zack->{seq} });
is($za->{text}, '付款后48小时内发货。', 'zh: the zh answer');
is($za->{from}{name}, '小茶', 'the bot\'s zh name');
is($za->{buttons}[-1]{text}, '转人工', 'the built-in zh handoff text');
# an agent's message in a bot conversation it took over is not answered; external mode answers nothing
($st) = main::put_settings({groups => [{name => $g}],
    bot => {enabled => JSON::PP::true(), groups => [$g], mode => 'external'}, faq => $faq});
my ($x) = kefu_connect(role => 'visitor', site => $main::SITE, group => $g, lang => 'en');
$x->send_json({type => 'msg', cid => 'x1', text => 'When do you ship my order?'});
my $xack = $x->recv_type('ack');
$x->send_json({type => 'msg', conv => $xack->{conv}, cid => 'x2', text => 'marker'});
$x->recv_type('ack');
my @seen = $x->until_pong;
ok(!(grep { ($_->{type} // '') eq 'msg' && ($_->{from}{role} // '') eq 'bot' } @seen), 'external: nothing answers inside nginx');
is(main::conv_of($xack->{conv})->{state}, 'bot', 'but the conversation is in bot');



=== TEST 3: handoff on every path, the agent on another host: the button, the words, the handoff message, two misses in a row, a rule; routed like a new one (open, then queued); a visible handoff entry with by; the agents hear it leave the bot; the agent reads all the bot said; not in bot: harmless
--- ws
my $g = uniq_group('hand');
my ($port2) = start_host("kefu_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};\n"
    . "kefu_site $main::SITE secret=$main::S anonymous=on default_group=presales grace=30s;\n",
    "location /kefu/api/ { kefu_api; }\n");
api_ready("/kefu/api/sites/$main::SITE/settings", port => $port2) or die "host 2 not ready\n";
my ($st) = main::put_settings({groups => [{name => $g}],
    bot => {enabled => JSON::PP::true(), groups => [$g], mode => 'faq',
            texts => {zh => {handed_off => '人工客服马上就来。'}, en => {handed_off => 'A person will be with you.'}}},
    faq => [{id => 'ship', question => {zh => '多久发货？', en => 'When do you ship?'}, answer => 'In two days.'}],
    rules => [{id => 'angry', name => 'Complaints', when => {type => 'message'}, if => [{keywords => ['complaint']}],
               then => [{handoff => JSON::PP::true()}]}]},
    ports => [$port2]);
is($st, 200, 'the bot, an FAQ and a handoff rule, on both hosts');
my ($a) = agent('hx1', groups => [$g], capacity => 1, status => 'online', port => $port2);
my $handed = sub {
    my ($conv) = @_;
    my @h = grep { ($_->{event} // '') eq 'handoff' } main::log_of($conv);
    return $h[0];
};
# the button: an FAQ answer, then the handoff button's value
my ($v1, $w1, $ack1, $n1) = visitor($g, text => 'When do you ship?');
my $c1 = $ack1->{conv};
is($n1->{state}, 'bot', 'in bot');
my $ans = $v1->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{faq} // '') eq 'ship' });
ok($ans, 'the bot answered');
is(wait_conv($a, $c1, state => 'bot')->{reason}, 'bot', 'the agent on host 2 heard it enter the bot');
$v1->send_json({type => 'msg', conv => $c1, cid => 'b1', text => '__handoff__'});
$v1->recv_type('ack');
my $o1 = wait_conv($v1, $c1, state => 'open');
ok($o1, 'the button: routed like a new one, open at once (a free agent)');
is($o1 && $o1->{agent}{id}, 'hx1', 'with the agent of host 2');
my $e1 = $v1->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{event} // '') eq 'handoff' });
ok($e1, 'the visitor sees the handoff entry');
is($e1 && $e1->{by}, 'visitor', 'by the visitor');
is($e1 && $e1->{text}, '人工客服马上就来。', 'the handed_off text in the visitor\'s language');
is_deeply($e1 && $e1->{from}, {role => 'system'}, 'a system entry');
ok($e1 && !$e1->{private}, 'visible to all');
my $an = wait_conv($a, $c1, state => 'open', reason => 'assigned');
ok($an, 'the agent is assigned it');
my $left = wait_conv($a, $c1, reason => 'handoff');
is($left && $left->{state}, 'open', 'and hears it leave the bot');
# the agent sees everything the bot said
$a->send_json({type => 'history', conv => $c1, cid => 'hh'});
my $h = $a->recv_type('history');
my @texts = map { $_->{text} // '' } @{ $h->{msgs} || [] };
ok((grep { $_ eq 'When do you ship?' } @texts) && (grep { $_ eq 'In two days.' } @texts),
   'the agent reads the visitor\'s question and the bot\'s answer');
# not in bot: harmless, the current conv back
$v1->send_json({type => 'handoff', conv => $c1, cid => 'again'});
my $same = $v1->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $c1 && defined $_[0]{changed} });
is($same && $same->{state}, 'open', 'a handoff of an open conversation: its current state');
ok($same && !$same->{changed}, 'changed false');
is(scalar(grep { ($_->{event} // '') eq 'handoff' } main::log_of($c1)), 1, 'one handoff entry');
# the words, as the whole first message: the agent is full now, queued
my ($v2, $w2, $ack2, $n2) = visitor($g, text => ' 转人工 ');
my $c2 = $ack2->{conv};
my $q2 = wait_conv($v2, $c2, state => 'queued');
ok($q2, 'the words: queued (the agent is full)');
is($q2 && $q2->{position}, 1, 'first in line');
is($handed->($c2)->{by}, 'visitor', 'the words: by the visitor');
# human, case and spaces aside
my ($v2b, undef, $ack2b) = visitor($g, text => 'Human');
ok(wait_conv($v2b, $ack2b->{conv}, state => 'queued'), '"Human": handed off');
# words inside a longer message do not hand off
my ($v2c, undef, $ack2c) = visitor($g, text => 'is a human there');
$v2c->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{from}{role} // '') eq 'bot' });
is(main::conv_of($ack2c->{conv})->{state}, 'bot', 'a sentence with "human" in it stays with the bot');
# the handoff message, without conv: the visitor's open conversation
my ($v3, $w3, $ack3) = visitor($g, text => 'When do you ship?');
my $c3 = $ack3->{conv};
$v3->send_json({type => 'handoff', cid => 'h3'});
my $r3 = $v3->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $c3 && defined $_[0]{changed} });
ok($r3 && $r3->{changed}, 'the handoff message: changed');
is($r3 && $r3->{state}, 'queued', 'queued');
is($handed->($c3)->{by}, 'visitor', 'by the visitor');
# two not understood in a row: the bot hands off
my ($v4, $w4, $ack4) = visitor($g, text => 'xylophone');
my $c4 = $ack4->{conv};
my $nu = $v4->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{from}{role} // '') eq 'bot' });
ok($nu && $nu->{buttons}[-1]{value} eq '__handoff__', 'the first miss: not understood, with the handoff button');
$v4->send_json({type => 'msg', conv => $c4, cid => 'x2', text => 'quartz'});
$v4->recv_type('ack');
ok(wait_conv($v4, $c4, state => 'queued'), 'the second miss in a row: handed off');
is($handed->($c4)->{by}, 'bot', 'by the bot');
is(scalar(grep { ($_->{from}{role} // '') eq 'bot' } main::log_of($c4)), 1, 'no second not-understood');
# a rule's handoff action
my ($v5, $w5, $ack5) = visitor($g, text => 'I have a complaint');
my $c5 = $ack5->{conv};
ok(wait_conv($v5, $c5, state => 'queued'), 'a rule: handed off');
is($handed->($c5)->{by}, 'rule', 'by the rule');
my ($re) = grep { ($_->{event} // '') eq 'rule' } main::log_of($c5);
is($re && $re->{action}, 'handoff', 'its private entry: action handoff');
is($re && $re->{text}, 'Rule Complaints: handed off to a person', 'naming the rule');
ok($re && $re->{private}, 'private');
# a visitor may not hand off another's conversation
my ($v6) = kefu_connect(role => 'visitor', site => $main::SITE, group => $g);
$v6->send_json({type => 'handoff', conv => $c1, cid => 'nope'});
my $err = $v6->recv_type('error');
is($err && $err->{code}, 'forbidden', 'another visitor\'s conversation: forbidden');
# agents: handoff is the visitor's
$a->send_json({type => 'handoff', conv => $c1, cid => 'ag'});
is($a->recv_type('error')->{code}, 'forbidden', 'an agent\'s handoff: forbidden (agents accept)');



=== TEST 4: POST /sites/<s>/convs/<c>/handoff: service and admin tokens; the conversation leaves the bot (by api); again: 200, changed false; unknown: 404; closed: 409; a visitor's or an agent's token: refused; JSON errors
--- ws
my $g = uniq_group('api');
my ($st) = main::put_settings({groups => [{name => $g}],
    bot => {enabled => JSON::PP::true(), groups => [$g], mode => 'external'}});
is($st, 200, 'an external bot');
my $svc = api_token(secret => $main::S, site => $main::SITE, role => 'service', sub => 'extbot');
my ($v, $w, $ack, $n) = visitor($g, text => 'hello');
my $conv = $ack->{conv};
is($n->{state}, 'bot', 'in bot');
my $url = "/kefu/api/sites/$main::SITE/convs/$conv/handoff";
my ($s1, $j1) = api(POST => $url, undef, token => $svc);
is($s1, 200, 'the external bot\'s service token: 200');
is($j1->{conv}, $conv, 'the conversation');
is($j1->{state}, 'queued', 'routed like a new one: queued');
ok($j1->{offline} && !defined $j1->{position}, 'nobody of the group online: offline, no place in line promised, as for a new one');
is($j1->{group}, $g, 'in its group');
ok($j1->{changed}, 'changed');
ok(!exists $j1->{type}, 'the notice less its type');
ok(wait_conv($v, $conv, state => 'queued', offline => 1), 'the visitor is told: offline');
my ($e) = grep { ($_->{event} // '') eq 'handoff' } main::log_of($conv);
is($e && $e->{by}, 'api', 'the entry: by api');
my ($s2, $j2) = api(POST => $url, {});
is($s2, 200, 'again, with the admin token: 200');
ok(!$j2->{changed}, 'changed false');
is($j2->{state}, 'queued', 'its current state');
ok($j2->{offline}, 'offline');
my ($s3, $j3) = api(POST => "/kefu/api/sites/$main::SITE/convs/123456789/handoff", {});
is($s3, 404, 'no such conversation: 404');
is($j3->{error}{code}, 'not_found', 'a JSON error');
my ($s4, $j4) = api(GET => $url);
is($s4, 405, 'GET: 405');
# closed: 409
my ($s5) = api(POST => "/kefu/api/sites/$main::SITE/convs/$conv/close", {});
is($s5, 200, 'closed');
my ($s6, $j6) = api(POST => $url, {});
is($s6, 409, 'a closed conversation: 409');
is($j6->{error}{code}, 'conflict', 'conflict');
# an agent's token is no API token
my ($s7, $j7) = api(POST => $url, {}, token => agent_token('ag9'));
ok($s7 == 401 || $s7 == 403, 'an agent\'s token: refused') or diag $s7;
ok($j7 && $j7->{error}, 'with a JSON error');
# close of a bot conversation (a supervisor's) leaves no count behind
my ($vb, undef, $ackb) = visitor($g, text => 'hi again');
my $c0 = main::counts();
my ($s8, $j8) = api(POST => "/kefu/api/sites/$main::SITE/convs/$ackb->{conv}/close", {});
is($s8, 200, 'a bot conversation closed by the API');
is($j8->{state}, 'closed', 'closed');
my $c1 = main::counts();
is($c0->{bot} - $c1->{bot}, 1, 'no longer counted as bot');
is($c1->{closed} - $c0->{closed}, 1, 'counted closed');

# kefu_site bot_idle= is checked by nginx -t
for (['bot_idle=0', 1], ['bot_idle=8d', 1], ['bot_idle=soon', 1], ['bot_idle=1s', 0], ['bot_idle=7d', 0]) {
    my ($rc, $out) = nginx_t("events {} http { kefu_site s1 secret=0123456789abcdef0123 $_->[0]; }");
    if ($_->[1]) {
        isnt($rc, 0, "$_->[0] refused");
        like($out, qr/"kefu_site" directive has an invalid bot_idle: a time from 1s to 7d/, '... naming the directive and the bounds');
    } else {
        is($rc, 0, "$_->[0] is fine") or diag $out;
    }
}



=== TEST 5: the visitor leaves a bot conversation: it is closed once idle for bot_idle (here 2s), like an agent's close; the agents hear it leave; counts; the visitor's next message opens a new one
--- ws
my $g = uniq_group('idle');
my ($st) = main::put_settings({groups => [{name => $g}],
    bot => {enabled => JSON::PP::true(), groups => [$g], mode => 'external'}});
is($st, 200, 'the bot is on');
my ($a) = agent('id1', groups => [$g], capacity => 5, status => 'away');
my ($v, $w, $ack, $n) = visitor($g, text => 'hello, anyone?');
my $conv = $ack->{conv};
is($n->{state}, 'bot', 'in bot');
ok(wait_conv($a, $conv, state => 'bot'), 'the agent heard it enter');
my $c0 = main::counts();
$v->close_ws;
my $gone = wait_conv($a, $conv, reason => 'closed', timeout => 30);
ok($gone, 'once idle, the agents hear it leave the bot');
is($gone && $gone->{state}, 'closed', 'closed');
is(main::conv_of($conv)->{state}, 'closed', 'the API says closed');
my ($e) = grep { ($_->{event} // '') eq 'closed' } main::log_of($conv);
ok($e, 'a closed entry, as an agent\'s close writes');
my $c1 = main::counts();
# earlier blocks' bot conversations of this site are idle too: they move
# from bot to closed alike
ok($c1->{closed} - $c0->{closed} >= 1, 'counted closed');
is($c1->{bot} + $c1->{closed}, $c0->{bot} + $c0->{closed}, 'each one closed left bot');
# the visitor comes back: a new conversation, with the bot again
my ($v2, $w2) = kefu_connect(role => 'visitor', site => $main::SITE, token => $w->{token}, group => $g);
$v2->send_json({type => 'msg', cid => 'back', text => 'me again'});
my $ack2 = $v2->recv_type('ack');
isnt($ack2->{conv}, $conv, 'a new conversation');
is(wait_conv($v2, $ack2->{conv}, state => 'bot')->{state}, 'bot', 'in bot');



=== TEST 6: the bot turned off while a conversation is in bot: the visitor's next message hands it to a person; a new conversation is routed as before
--- ws
my $g = uniq_group('off');
my ($st) = main::put_settings({groups => [{name => $g}],
    bot => {enabled => JSON::PP::true(), groups => [$g], mode => 'external'}});
my ($v, $w, $ack, $n) = visitor($g, text => 'hello');
my $conv = $ack->{conv};
is($n->{state}, 'bot', 'in bot');
($st) = main::put_settings({groups => [{name => $g}], bot => {enabled => JSON::PP::false(), groups => [$g]}});
is($st, 200, 'the bot is off');
$v->send_json({type => 'msg', conv => $conv, cid => 'again', text => 'still there?'});
$v->recv_type('ack');
ok(wait_conv($v, $conv, state => 'queued'), 'handed to a person');
my ($e) = grep { ($_->{event} // '') eq 'handoff' } main::log_of($conv);
is($e && $e->{by}, 'bot', 'by the bot');
my ($v2, undef, $ack2, $n2) = visitor($g, text => 'hi');
is($n2->{state}, 'queued', 'a new conversation: queued as before');
