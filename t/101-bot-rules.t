# Bots' settings (SPEC-bots.md "Settings"): bot, faq and rules validated
# with errors naming the field; compiled on every worker when the settings
# change (a change on one host takes effect on the other); keywords of all
# rules matched in one pass over normalized text; "try it" for rules and the
# FAQ explaining what fires and why.
use utf8;
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::Chat;

our $S = 'bot-secret-0123456789abcdef';

api_blocks(ready => '/kefu/api/sites/botr/settings',
    http => "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site botr secret=$S anonymous=on default_group=presales;\n",
    # 10,000 keywords are more than the default 64k of a request body
    config => "location = /chat { kefu_chat; }\n"
        . "location /kefu/api/ { kefu_api; kefu_api_max_body 256k; }\n");

our $SITE = site_of_run('botr');
$Kefu::API::Token = api_token(secret => $S, site => $SITE, role => 'admin', sub => 'boss');
chat_site($SITE, $S);

sub bad {
    my ($doc, $field, $what) = @_;
    my ($st, $j) = api(PUT => "/kefu/api/sites/$main::SITE/settings", $doc);
    is($st, 400, "$what: 400");
    is($j->{error}{field}, $field, "$what: names $field");
    like($j->{error}{message}, qr/^\Q$field\E: /, "$what: the message starts with the field");
}

sub T { JSON::PP::true() }
sub F { JSON::PP::false() }

# rules/try with the given body: { rule id => its answer }
sub try_rules {
    my ($body, %o) = @_;
    my ($st, $j) = api(POST => "/kefu/api/sites/$main::SITE/rules/try", $body, %o);
    die "rules/try: $st\n" unless $st == 200;
    return { map { $_->{id} => $_ } @{ $j->{rules} } };
}

run_tests();

__DATA__

=== TEST 1: bot, faq and rules are settings now; bad ones name the field
--- ws
my $P = "/kefu/api/sites/botr/settings";
my $doc = {
    bot => {enabled => main::T(), groups => ['presales'], mode => 'faq', name => {zh => '小茶', en => 'Tea bot'},
            texts => {en => {handoff => 'Talk to a person'}}},
    faq => [{id => 'shipping', question => {zh => '多久发货？', en => 'When do you ship?'},
             alts => ['什么时候发货'], keywords => ['发货', 'shipping'], answer => {zh => '48小时内发货', en => 'Within 48 hours'},
             buttons => [{text => '查订单', value => '查订单'}]}],
    rules => [{id => 'refund-route', name => '退款转售后', when => {type => 'message'},
               if => [{keywords => ['退款', 'refund']}], then => [{route => 'aftersales'}]}],
};
my ($st, $j) = api(PUT => $P, $doc);
is($st, 200, 'a document with bot, faq and rules: 200');
is($j->{settings}{rules}[0]{id}, 'refund-route', 'stored');
($st, $j) = api(GET => $P);
is($j->{settings}{faq}[0]{id}, 'shipping', 'read back');

main::bad({bot => []}, 'bot', 'bot not an object');
main::bad({bot => {enabled => 'yes'}}, 'bot.enabled', 'bot.enabled');
main::bad({bot => {mode => 'gpt'}}, 'bot.mode', 'an unknown mode');
main::bad({bot => {colour => 'red'}}, 'bot', 'an unknown field');
main::bad({bot => {texts => {en => {handoff => 'x' x 101}}}}, 'bot.texts.en.handoff', 'a handoff text longer than a button');
main::bad({faq => [{id => 'a', question => 'q', answer => 'a'}, {id => 'a', question => 'q', answer => 'a'}]}, 'faq[1].id', 'a duplicate FAQ id');
main::bad({faq => [{id => 'bad id', question => 'q', answer => 'a'}]}, 'faq[0].id', 'an FAQ id with a space');
main::bad({faq => [{id => 'a', question => 'q'}]}, 'faq[0].answer', 'no answer');
main::bad({faq => [{id => 'a', question => 'q', answer => 'a', alts => [map { "alt $_" } 1 .. 21]}]}, 'faq[0].alts', '21 alts');
main::bad({faq => [{id => 'a', question => 'q', answer => 'a', buttons => [{text => 'ok'}, {text => ''}]}]}, 'faq[0].buttons[1].text', 'an FAQ button');
main::bad({faq => [map { {id => "f$_", question => 'q', answer => 'a'} } 1 .. 1001]}, 'faq', '1001 entries');
my $r = {id => 'r', when => {type => 'message'}, then => [{label => 'x'}]};
main::bad({rules => [$r, {%$r, when => {type => 'sometimes'}}]}, 'rules[1].when.type', 'an unknown trigger');
main::bad({rules => [{%$r, when => {type => 'event'}}]}, 'rules[0].when.name', 'an event trigger without a name');
main::bad({rules => [{%$r, when => {type => 'waiting', seconds => 0}}]}, 'rules[0].when.seconds', 'waiting 0 seconds');
main::bad({rules => [{%$r, if => [{keywords => ['a']}, {attr => 'vip', op => 'like', value => 1}]}]}, 'rules[0].if[1].op', 'an unknown op');
main::bad({rules => [{%$r, if => [{attr => 'vip', op => 'gt', value => 'x'}]}]}, 'rules[0].if[0].value', 'gt of a string');
main::bad({rules => [{%$r, if => [{hours => 'lunch'}]}]}, 'rules[0].if[0].hours', 'hours');
main::bad({rules => [{%$r, if => [{state => 'closed'}]}]}, 'rules[0].if[0].state', 'state');
main::bad({rules => [{%$r, if => [{weather => 'rain'}]}]}, 'rules[0].if[0]', 'an unknown condition');
main::bad({rules => [{%$r, if => [{keywords => []}]}]}, 'rules[0].if[0].keywords', 'no keywords');
main::bad({rules => [{%$r, then => []}]}, 'rules[0].then', 'no action');
main::bad({rules => [{%$r, then => [{handoff => main::F()}]}]}, 'rules[0].then[0].handoff', 'handoff false');
main::bad({rules => [{%$r, then => [{reply => 'hi', buttons => [{text => 'a', value => ''}]}]}]}, 'rules[0].then[0].buttons[0].value', 'a reply\'s button');
main::bad({rules => [{%$r, then => [{event => {name => 'x y'}}]}]}, 'rules[0].then[0].event', 'a bad event name');
main::bad({rules => [{%$r, then => [{route => 'a', label => 'b'}]}]}, 'rules[0].then[0]', 'two actions in one');
main::bad({rules => [$r, $r]}, 'rules[1].id', 'a duplicate rule id');
main::bad({rules => [map { {%$r, id => "r$_"} } 1 .. 501]}, 'rules', '501 rules');
# the stored document is still the good one
($st, $j) = api(GET => $P);
is($j->{settings}{rules}[0]{id}, 'refund-route', 'nothing refused was stored');



=== TEST 2: rules/try: each trigger and condition, why and why not; keywords case- and width-insensitive, CJK as substrings, Latin words whole
--- ws
my $P = "/kefu/api/sites/botr/settings";
my $rules = [
    {id => 'refund', name => '退款转售后', when => {type => 'message'}, if => [{keywords => ['退款', 'Refund']}], then => [{route => 'aftersales'}]},
    {id => 'hi', when => {type => 'message'}, if => [{keywords => ['hi']}], then => [{reply => 'Hello!'}]},
    {id => 'vip', when => {type => 'conv_created'}, if => [{attr => 'level', op => 'gt', value => 2}, {attr => 'name', op => 'contains', value => 'ANN'}], then => [{label => 'vip'}]},
    {id => 'paid', when => {type => 'event', name => 'order.paid'}, if => [{data => 'amount', op => 'gt', value => 1000}], then => [{suggest => 'Thank them'}]},
    {id => 'slow', when => {type => 'waiting', seconds => 300}, if => [{state => 'queued'}], then => [{reply => 'Sorry for the wait'}]},
    {id => 'night', when => {type => 'offline'}, then => [{reply => 'We are closed'}]},
    {id => 'pages', when => {type => 'message'}, if => [{page => '/checkout'}, {group => 'presales'}, {hours => 'inside'}], then => [{handoff => main::T()}]},
    {id => 'off', enabled => main::F(), when => {type => 'message'}, then => [{label => 'never'}]},
];
my ($st, $j) = main::put_settings({rules => $rules});
is($st, 200, 'rules stored');

my $t = main::try_rules({text => '我要退款'});
ok($t->{refund}{fires}, 'a CJK keyword inside a sentence fires');
is_deeply($t->{refund}{why}, ['trigger message', 'keyword 退款'], 'why: the trigger and the keyword');
is($t->{refund}{name}, '退款转售后', 'with its name');
is_deeply($t->{refund}{actions}, [{route => 'aftersales'}], 'and its actions');
ok(!$t->{hi}{fires}, 'another rule does not fire');
is($t->{hi}{not}, 'no keyword in the message', 'why not');
ok(!$t->{off}{fires}, 'a disabled rule never fires');
is($t->{off}{not}, 'the rule is disabled', 'and says so');
ok(!$t->{vip}{fires}, 'a conv_created rule on a message: no');
like($t->{vip}{not}, qr/trigger is message/, 'the trigger named');

$t = main::try_rules({text => 'I want a ＲＥＦＵＮＤ now'});
ok($t->{refund}{fires}, 'full-width and upper case: fires');
is($t->{refund}{why}[1], 'keyword refund', 'the normalized keyword');
$t = main::try_rules({text => 'refunds?'});
ok(!$t->{refund}{fires}, 'a Latin keyword is a whole word: not in "refunds"');
$t = main::try_rules({text => 'this is it'});
ok(!$t->{hi}{fires}, '"hi" is not found in "this"');
$t = main::try_rules({text => 'Hi, anyone?'});
ok($t->{hi}{fires}, '"Hi," is');

$t = main::try_rules({when => {type => 'conv_created'}, text => 'x', attrs => {level => '3', name => 'Ann Lee'}});
ok($t->{vip}{fires}, 'conv_created with attrs gt (a numeric string) and contains (any case)');
is_deeply($t->{vip}{why}, ['trigger conv_created', 'attr level gt', 'attr name contains'], 'why');
$t = main::try_rules({when => {type => 'conv_created'}, attrs => {level => 2, name => 'Ann'}});
ok(!$t->{vip}{fires}, 'level 2 is not gt 2');
is($t->{vip}{not}, 'attr level is not gt the value', 'the first condition that failed');
$t = main::try_rules({when => {type => 'conv_created'}, attrs => {name => 'Ann'}});
is($t->{vip}{not}, 'no attr level', 'a missing attr');

$t = main::try_rules({event => {name => 'order.paid', data => {amount => 1500}}});
ok($t->{paid}{fires}, 'an event with data: fires');
$t = main::try_rules({event => {name => 'order.paid', data => {amount => 15}}});
ok(!$t->{paid}{fires}, 'too small: no');
$t = main::try_rules({event => {name => 'order.shipped', data => {amount => 1500}}});
like($t->{paid}{not}, qr/event is order.shipped, not order.paid/, 'another event: no');

$t = main::try_rules({when => {type => 'waiting', seconds => 301}, state => 'queued'});
ok($t->{slow}{fires}, 'waiting long enough in the queue: fires');
$t = main::try_rules({when => {type => 'waiting', seconds => 100}, state => 'queued'});
ok(!$t->{slow}{fires}, 'not long enough: no');
$t = main::try_rules({when => {type => 'waiting', seconds => 301}, state => 'open'});
is($t->{slow}{not}, 'the conversation is open: not waiting', 'an open conversation is not waiting, whatever the rule\'s conditions');

$t = main::try_rules({when => {type => 'offline'}, text => 'hello?'});
ok($t->{night}{fires}, 'offline: fires');

$t = main::try_rules({text => 'x', page => '/checkout/step2', group => 'presales', hours => 'inside'});
ok($t->{pages}{fires}, 'page prefix, group and hours: fires');
$t = main::try_rules({text => 'x', page => '/cart', group => 'presales', hours => 'inside'});
is($t->{pages}{not}, 'the page is not under /checkout', 'page');
$t = main::try_rules({text => 'x', page => '/checkout', group => 'aftersales', hours => 'inside'});
is($t->{pages}{not}, 'the group is aftersales, not presales', 'group');
$t = main::try_rules({text => 'x', page => '/checkout', group => 'presales', hours => 'outside'});
is($t->{pages}{not}, 'not inside business hours', 'hours');

# unsaved rules, checked as a PUT would
$t = main::try_rules({text => 'refund', rules => [{id => 'new', when => {type => 'message'}, if => [{keywords => ['refund']}], then => [{label => 'r'}]}]});
is_deeply([sort keys %$t], ['new'], 'unsaved rules replace the stored ones');
ok($t->{new}{fires}, 'and fire');
($st, $j) = api(POST => "/kefu/api/sites/botr/rules/try", {rules => [{id => 'x', when => {type => 'nope'}, then => [{label => 'r'}]}]});
is($st, 400, 'bad unsaved rules: 400');
is($j->{error}{field}, 'rules[0].when.type', 'naming the field');
($st, $j) = api(POST => "/kefu/api/sites/botr/rules/try", {text => 'x'},
                token => api_token(secret => $main::S, site => $main::SITE, role => 'service', sub => 'crm'));
is($st, 403, 'a service token: 403');



=== TEST 3: 10,000 keywords in one pass: each one found, none wrongly
--- ws
my @kw = map { "kw$_" } 1 .. 9990;
push @kw, map { "关键词$_" } qw(甲 乙 丙 丁 戊 己 庚 辛 壬 癸);
my @rules;
for my $i (0 .. 99) {
    push @rules, {id => "r$i", when => {type => 'message'}, if => [{keywords => [@kw[$i * 100 .. $i * 100 + 99]]}], then => [{label => "l$i"}]};
}
my ($st, $j) = main::put_settings({rules => \@rules});
is($st, 200, '100 rules of 100 keywords each');
my $t = main::try_rules({text => 'please KW4321 and 关键词丙 but not kw99999'});
is_deeply([sort grep { $t->{$_}{fires} } keys %$t], ['r43', 'r99'], 'exactly the rules of the keywords in the text');
is($t->{r43}{why}[1], 'keyword kw4321', 'kw4321');
is($t->{r99}{why}[1], 'keyword 关键词丙', 'the CJK one');
$t = main::try_rules({text => 'kw1 kw2 kw101'});
is_deeply([sort grep { $t->{$_}{fires} } keys %$t], ['r0', 'r1'], 'several keywords of a rule: it fires once');



=== TEST 4: faq/try: answer when one entry clearly wins, choose among the closest, none otherwise; why
--- ws
my $faq = [
    {id => 'shipping', question => {zh => '多久发货？', en => 'When do you ship?'}, alts => ['什么时候发货', 'how long is delivery'],
     keywords => ['发货', 'shipping'], answer => {zh => '48小时内发货', en => 'Within 48 hours'}},
    {id => 'returns', question => {zh => '怎么退货？', en => 'How do I return an item?'}, alts => ['退货流程'],
     keywords => ['退货', 'return'], answer => {zh => '七天无理由退货', en => 'Within 7 days'}},
    {id => 'return-shipping', question => {zh => '退货运费谁出？', en => 'Who pays return shipping?'},
     answer => {zh => '我们承担', en => 'We do'}},
];
my ($st, $j) = main::put_settings({faq => $faq});
is($st, 200, 'FAQ stored');
my $F = "/kefu/api/sites/botr/faq/try";
($st, $j) = api(POST => $F, {text => '请问什么时候发货呀'});
is($st, 200, 'faq/try: 200');
is($j->{decision}, 'answer', 'an alt\'s words and a keyword: answer');
is($j->{entries}[0]{id}, 'shipping', 'the shipping entry');
is($j->{entries}[0]{question}, '多久发货？', 'its question, in zh by default');
ok((grep { $_ eq 'keyword 发货' } @{ $j->{entries}[0]{why} }), 'why: the keyword');
ok((grep { $_ eq '时候' } @{ $j->{entries}[0]{why} }), 'why: a term of the alt');
($st, $j) = api(POST => $F, {text => 'how long is delivery?', lang => 'en'});
is($j->{decision}, 'answer', 'English');
is($j->{entries}[0]{question}, 'When do you ship?', 'the question in en');
($st, $j) = api(POST => $F, {text => 'return shipping', lang => 'en'});
is($j->{decision}, 'choose', 'unsure: choose');
ok(@{ $j->{entries} } >= 2 && @{ $j->{entries} } <= 3, '2-3 entries');
is_deeply([sort map { $_->{id} } @{ $j->{entries} }], [sort qw(shipping returns return-shipping)], 'the closest ones');
($st, $j) = api(POST => $F, {text => '你们的老板是谁'});
is($j->{decision}, 'none', 'nothing close: none');
is_deeply($j->{entries}, [], 'no entries');
($st, $j) = api(POST => $F, {text => 'ship', faq => [{id => 'u', question => 'Do you ship abroad?', answer => 'Yes', keywords => ['ship']}]});
is($j->{decision}, 'answer', 'unsaved entries');
is($j->{entries}[0]{id}, 'u', 'are the ones tried');
($st, $j) = api(POST => $F, {text => ''});
is($st, 400, 'no text: 400');
is($j->{error}{field}, 'text', 'names text');
($st, $j) = api(POST => $F, {text => 'x', faq => [{id => 'u'}]});
is($j->{error}{field}, 'faq[0].question', 'a bad unsaved entry names its field');



=== TEST 5: rules changed on one host take effect on the other (both its workers)
--- ws
my ($port2, $stop2) = start_host("kefu_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};\n"
    . "kefu_site $main::SITE secret=$main::S anonymous=on default_group=presales;\n",
    "location /kefu/api/ { kefu_api; }\n");
api_ready("/kefu/api/sites/botr/settings", port => $port2) or die "host 2 not ready\n";
my $rule = sub { [{id => $_[0], when => {type => 'message'}, if => [{keywords => [$_[1]]}], then => [{label => 'x'}]}] };
my ($st) = api(PUT => "/kefu/api/sites/botr/settings", {rules => $rule->('before', 'apple')});
is($st, 200, 'first rules on host 1');
my $seen = sub {
    my ($id) = @_;
    # each call may reach either worker: wait until several in a row agree
    my $agree = 0;
    for (1 .. 400) {
        my $t = main::try_rules({text => 'banana'}, port => $port2);
        $agree = ($t->{$id} && $t->{$id}{fires}) ? $agree + 1 : 0;
        return 1 if $agree >= 8;
        select undef, undef, undef, 0.025;
    }
    return 0;
};
($st) = api(PUT => "/kefu/api/sites/botr/settings", {rules => $rule->('after', 'banana')});
is($st, 200, 'new rules on host 1');
ok($seen->('after'), 'host 2 matches with the new rules');
my $t = main::try_rules({text => 'apple'}, port => $port2);
ok(!$t->{before}, 'the old rules are gone there');



=== TEST 6: the demo's tea-shop bot, FAQ and rules (docs/demo-settings.json) are valid and do what they say
--- ws
open my $fh, '<:raw', "$FindBin::Bin/../docs/demo-settings.json" or die $!;
my $doc = Kefu::WS::json_dec(do { local $/; <$fh> });
my ($st, $j) = main::put_settings($doc);
is($st, 200, 'the demo settings are accepted');
my $t = main::try_rules({text => '我想退款，茶叶碎了'});
ok($t->{'refund-route'}{fires} && $t->{damaged}{fires}, 'refund and damaged fire together');
$t = main::try_rules({when => {type => 'conv_created'}, attrs => {vip => JSON::PP::true()}, page => '/checkout/pay'});
ok($t->{vip}{fires} && $t->{'checkout-help'}{fires}, 'a VIP at checkout');
$t = main::try_rules({event => {name => 'order.paid', data => {amount => 1288}}});
ok($t->{'big-order'}{fires}, 'a big order');
($st, $j) = api(POST => "/kefu/api/sites/botr/faq/try", {text => '龙井泡茶水温多少'});
is($j->{decision}, 'answer', 'zh: answered');
is($j->{entries}[0]{id}, 'brewing', 'brewing');
($st, $j) = api(POST => "/kefu/api/sites/botr/faq/try", {text => 'Do you take PayPal?', lang => 'en'});
is($j->{entries}[0]{id}, 'payment', 'en: payment');
is($j->{decision}, 'answer', 'answered');
