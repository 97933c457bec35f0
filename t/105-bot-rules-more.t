# The rest of the rules (docs/automation.md "Rules in conversations"): the
# event and waiting triggers; attr, data, page, group and state conditions
# live, agreeing with rules/try; the label, event and route (a transfer)
# actions, each with its private entry naming the rule; no double fire,
# no loop; rules changed on one host taking effect on another.
use utf8;
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;

our $S = 'more-secret-0123456789abcdef';

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site botm secret=$S anonymous=on default_group=presales;\n"
        # the waiting sweep runs on the lease tick (a third of this)
        . "kefu_lease_time 1500ms;\n");
    $block->set_value('config', "location = /chat { kefu_chat; }\n"
        . "location /kefu/api/ { kefu_api; }\n");
    $block->set_value('ws', "api_ready('/kefu/api/sites/botm/settings') or die 'Redis not ready'; " . $block->ws)
        if defined $block->ws;
});

our $SITE = site_of_run('botm');
$Kefu::API::Token = api_token(secret => $S, site => $SITE, role => 'admin', sub => 'boss');

sub T { JSON::PP::true() }

# the conversation's log as the API reads it (private entries too)
sub log_of {
    my ($conv) = @_;
    my ($st, $j) = api(GET => "/kefu/api/sites/$main::SITE/convs/$conv/messages?limit=200");
    die "log: $st\n" unless $st == 200;
    return @{ $j->{msgs} };
}

# the rule entries of conv, once the one $pred names is there (the rules
# write after the trigger was acknowledged: wait for the entry itself)
sub rule_entries_upto {
    my ($conv, $pred) = @_;
    for (1 .. 800) {
        my @e = grep { ($_->{event} // '') eq 'rule' } main::log_of($conv);
        return @e if grep { $pred->($_) } @e;
        select undef, undef, undef, 0.025;
    }
    die "the awaited rule entry never came\n";
}

# the site's event stream: the entries of one event name, data decoded
sub stream_of {
    my ($name) = @_;
    my @out;
    for my $e (@{ redis('XRANGE', "kefu:{s:$main::SITE}:events", '-', '+') }) {
        my %f = @{ $e->[1] };
        next unless $f{event} eq $name;
        $f{data} = Kefu::WS::json_dec($f{data});
        push @out, \%f;
    }
    return @out;
}

# PUT the settings on a host, then wait until its worker runs them (a
# marker rule that never fires, seen by rules/try)
our $Mark = 0;
sub put_settings {
    my ($doc, %o) = @_;
    my $id = 'mark' . ++$main::Mark . 'x' . int(rand 1e6);
    my %d = %$doc;
    $d{rules} = [@{ $d{rules} // [] }, {id => $id, when => {type => 'message'},
                 if => [{keywords => ["zz$id"]}], then => [{label => 'mark'}]}];
    my ($st, $j) = api(PUT => "/kefu/api/sites/$main::SITE/settings", \%d);
    return ($st, $j) unless $st == 200;
    for (1 .. 400) {
        my ($s2, $t) = api(POST => "/kefu/api/sites/$main::SITE/rules/try", {text => 'x'}, %o);
        return ($st, $j) if $s2 == 200 && grep { $_->{id} eq $id } @{ $t->{rules} };
        select undef, undef, undef, 0.025;
    }
    die "the settings never reached the worker\n";
}

# rules/try: { rule id => its answer }
sub try_rules {
    my ($body, %o) = @_;
    my ($st, $j) = api(POST => "/kefu/api/sites/$main::SITE/rules/try", $body, %o);
    die "rules/try: $st\n" unless $st == 200;
    return { map { $_->{id} => $_ } @{ $j->{rules} } };
}

run_tests();

__DATA__

=== TEST 1: event rules: a business event runs the rules of its name with its data (numbers exact); label and event actions, each with its entry; a repeat of the event and the rule's own event fire nothing
--- ws
my ($st) = main::put_settings({
    groups => [{name => 'presales'}, {name => 'vipdesk'}],
    rules => [
        {id => 'paid-big', name => 'Big order', when => {type => 'event', name => 'order.paid'},
         if => [{data => 'amount', op => 'gt', value => 1000}],
         then => [{label => 'big-order'}, {event => {name => 'order.paid', data => {vip => main::T()}}}]},
        {id => 'paid-exact', when => {type => 'event', name => 'order.paid'},
         if => [{data => 'order', op => 'eq', value => 12345678901234567}],
         then => [{label => 'exact'}]},
        {id => 'other', when => {type => 'event', name => 'order.shipped'}, then => [{label => 'shipped'}]},
    ]});
is($st, 200, 'event rules stored');
my $tok = sub { Kefu::WS::jwt_hs256({sub => 'ea1', role => 'agent', site => $main::SITE, groups => ['vipdesk'],
                                      exp => time + 600}, $main::S) };
my ($a, $aw) = kefu_connect(role => 'agent', site => $main::SITE, token => $tok->(), status => 'online');
is($aw->{type}, 'welcome', 'an agent of vipdesk');
ok($a->wait_for(sub { $_[0]{type} eq 'presence' && $_[0]{agent} eq 'ea1' && $_[0]{state} eq 'online' }), 'online');
my ($v) = kefu_connect(role => 'visitor', site => $main::SITE, group => 'vipdesk');
$v->send_json({type => 'msg', cid => 'e0', text => 'where is my tea?'});
my $conv = $v->recv_type('ack')->{conv};
ok($a->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $conv && $_[0]{state} eq 'open' }), 'the agent has it');


my ($s1, $j1) = api(POST => "/kefu/api/sites/botm/convs/$conv/events",
                    {name => 'order.paid', cid => 'ev1', data => {amount => 1500, order => 12345678901234568}});
is($s1, 201, 'the event is stored');
# each action's entry (with kefu_redis cluster the label's is a call of
# its own, in the conversation's slot: it may come after the event's)
main::rule_entries_upto($conv, sub { $_[0]{action} eq 'label' });
my @e = main::rule_entries_upto($conv, sub { $_[0]{action} eq 'event' });
my ($l) = grep { $_->{action} eq 'label' } @e;
is($l && $l->{text}, 'Rule Big order: labeled big-order', 'the label\'s entry names the rule');
is_deeply($l && $l->{rule}, {id => 'paid-big', name => 'Big order'}, 'and carries it');
ok($l && $l->{private}, 'private');
my ($x) = grep { $_->{action} eq 'event' } @e;
is($x->{text}, 'Rule Big order: posted event order.paid', 'the event\'s entry');
my ($sc, $c) = api(GET => "/kefu/api/sites/botm/convs/$conv");
is_deeply($c->{labels}, ['big-order'], 'the conversation has the label (API read)');
my $n = $a->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{labels} });
is_deeply($n && $n->{labels}, ['big-order'], 'its agent got a conv notice with the labels');
my @ev = main::stream_of('rule.event');
is(scalar @ev, 1, 'one rule.event on the site\'s stream');
is($ev[0]{conv}, $conv, 'of the conversation');
is_deeply($ev[0]{data}{rule}, {id => 'paid-big', name => 'Big order'}, 'naming the rule');
is($ev[0]{data}{name}, 'order.paid', 'with the event\'s name');
is_deeply($ev[0]{data}{data}, {vip => main::T()}, 'and its data');
is($ev[0]{data}{trigger}{data}{amount}, 1500, 'and what triggered it');
ok(!(grep { ($_->{rule}{id} // '') eq 'paid-exact' } @e), '12345678901234568 is not 12345678901234567');

# the same event again (its cid): a duplicate, no rule runs
my ($s2, $j2) = api(POST => "/kefu/api/sites/botm/convs/$conv/events",
                    {name => 'order.paid', cid => 'ev1', data => {amount => 1500, order => 12345678901234568}});
ok($s2 == 200 && $j2->{dup}, 'the repeat is a duplicate');
# a later event whose rule writes after anything the repeat could have
($s2) = api(POST => "/kefu/api/sites/botm/convs/$conv/events",
            {name => 'order.paid', cid => 'ev2', data => {amount => 10, order => 12345678901234567}});
is($s2, 201, 'another event');
@e = main::rule_entries_upto($conv, sub { ($_[0]{rule}{id} // '') eq 'paid-exact' });
is(scalar(grep { ($_->{rule}{id} // '') eq 'paid-big' } @e), 2, 'paid-big: its two entries once (the repeat and its own event fired nothing)');
is(scalar(main::stream_of('rule.event')), 1, 'still one rule.event: the rule\'s own event triggers nothing');
($sc, $c) = api(GET => "/kefu/api/sites/botm/convs/$conv");
is_deeply($c->{labels}, ['big-order', 'exact'], 'the exact number matched: a second label');
my ($sl, $list) = api(GET => "/kefu/api/sites/botm/convs?limit=50");
my ($row) = grep { $_->{conv} eq $conv } @{ $list->{convs} };
is_deeply($row && $row->{labels}, ['big-order', 'exact'], 'the listing carries the labels');
# an agent's welcome summary carries them; the visitor is told none
my ($a2, $aw2) = kefu_connect(role => 'agent', site => $main::SITE, token => $tok->());
my ($sum) = grep { $_->{conv} eq $conv } @{ $aw2->{convs} };
is_deeply($sum && $sum->{labels}, ['big-order', 'exact'], 'the agent\'s welcome summary has the labels');
# routing's own notices carry them to agents, not to the visitor
my ($sx) = api(POST => "/kefu/api/sites/botm/convs/$conv/close", {});
is($sx, 200, 'closed by the API');
my $cn = $a2->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{state} eq 'closed' });
is_deeply($cn && $cn->{labels}, ['big-order', 'exact'], 'the agent\'s closed notice has the labels');
my $vn = $v->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{state} eq 'closed' });
ok($vn && !exists $vn->{labels}, 'the visitor\'s has none');
my @bad = grep { $_->{labels} } $v->until_pong;
ok(!@bad, 'the visitor was told no labels');



=== TEST 2: attr, page, state and group conditions hold live on a visitor's message (the visitor's record and page read first), as rules/try says
--- ws
my ($st) = main::put_settings({
    groups => [{name => 'presales'}, {name => 'aftersales'}],
    rules => [
        {id => 'uid', when => {type => 'message'}, if => [{attr => 'uid', op => 'eq', value => 9007199254740993}],
         then => [{label => 'uid'}]},
        {id => 'vip', name => 'VIP', when => {type => 'message'},
         if => [{attr => 'level', op => 'gt', value => 2}, {attr => 'name', op => 'contains', value => 'TEA'},
                {page => '/checkout'}, {state => 'queued'}, {group => 'presales'}],
         then => [{reply => 'A VIP, welcome'}, {label => 'seen'}]},
    ]});
is($st, 200, 'rules on attrs, page, state, group');
my $hello = sub { (role => 'visitor', site => $main::SITE, group => 'presales', attrs => $_[0]) };
my ($v) = kefu_connect($hello->({level => '3', uid => 9007199254740993, name => 'Green Tea Lover'}));
$v->send_json({type => 'page', url => 'https://shop.example/nope'});
$v->send_json({type => 'page', url => '/checkout/pay'});
$v->send_json({type => 'msg', cid => 'a1', text => 'hello'});
my $conv = $v->recv_type('ack')->{conv};
my $m = $v->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{from}{role} // '') eq 'bot' }, 20);
is($m && $m->{text}, 'A VIP, welcome', 'all five conditions held: the bot replied');
my @e = main::rule_entries_upto($conv, sub { $_[0]{action} eq 'label' && ($_[0]{rule}{id} // '') eq 'vip' });
ok((grep { ($_->{rule}{id} // '') eq 'uid' } @e), 'uid 9007199254740993 matched exactly');
my $t = main::try_rules({text => 'hello', attrs => {level => '3', uid => 9007199254740993, name => 'Green Tea Lover'},
                         page => '/checkout/pay', state => 'queued', group => 'presales'});
ok($t->{vip}{fires} && $t->{uid}{fires}, 'rules/try agrees');

# 2^53 + 1 and 2^53 are the same double: not the same number here
my ($v2) = kefu_connect($hello->({level => '2', uid => 9007199254740992, name => 'Green Tea Lover'}));
$v2->send_json({type => 'page', url => '/checkout/pay'});
$v2->send_json({type => 'msg', cid => 'b1', text => 'hello'});
my $conv2 = $v2->recv_type('ack')->{conv};
# a marker rule after: its label is written after any the first could have
($st) = main::put_settings({rules => [
    {id => 'uid', when => {type => 'message'}, if => [{attr => 'uid', op => 'eq', value => 9007199254740993}], then => [{label => 'uid'}]},
    {id => 'vip', when => {type => 'message'}, if => [{attr => 'level', op => 'gt', value => 2}], then => [{label => 'vip'}]},
    {id => 'any', when => {type => 'message'}, if => [{page => '/checkout'}], then => [{label => 'marker'}]},
]});
$v2->send_json({type => 'msg', conv => $conv2, cid => 'b2', text => 'again'});
$v2->recv_type('ack');
@e = main::rule_entries_upto($conv2, sub { ($_[0]{rule}{id} // '') eq 'any' });
ok(!(grep { ($_->{rule}{id} // '') =~ /^(uid|vip)$/ } @e), 'uid 9007199254740992 and level 2 fire nothing');
my @seen = $v2->until_pong;
ok(!(grep { ($_->{from}{role} // '') eq 'bot' } @seen), 'no bot reply for them');
$t = main::try_rules({text => 'hello', attrs => {level => '2', uid => 9007199254740992}, page => '/checkout/pay'});
ok(!$t->{vip}{fires} && !$t->{uid}{fires} && $t->{any}{fires}, 'rules/try agrees');
is($t->{vip}{not}, 'attr level is not gt the value', 'and says why');



=== TEST 3: route of a message rule transfers an existing conversation, a queued one too, through the transfer path (its public entry), then the rule's entry
--- ws
my ($st) = main::put_settings({
    groups => [{name => 'presales'}, {name => 'aftersales'}],
    rules => [
        {id => 'broken', name => '破损', when => {type => 'message'}, if => [{keywords => ['broken', '破损']}, {state => 'queued'}],
         then => [{route => 'aftersales'}]},
    ]});
is($st, 200, 'a routing rule');
my ($v) = kefu_connect(role => 'visitor', site => $main::SITE, group => 'presales');
$v->send_json({type => 'msg', cid => 'r1', text => 'hello'});
my $conv = $v->recv_type('ack')->{conv};
my ($sc, $c) = api(GET => "/kefu/api/sites/botm/convs/$conv");
is($c->{group}, 'presales', 'queued in presales');
$v->send_json({type => 'msg', conv => $conv, cid => 'r2', text => 'my cup arrived 破损'});
$v->recv_type('ack');
my @e = main::rule_entries_upto($conv, sub { $_[0]{action} eq 'route' });
is($e[0]{text}, 'Rule 破损: transferred to aftersales', 'the rule\'s entry says what it did');
($sc, $c) = api(GET => "/kefu/api/sites/botm/convs/$conv");
is($c->{group}, 'aftersales', 'now in aftersales');
is($c->{state}, 'queued', 'queued there');
my ($tr) = grep { ($_->{event} // '') eq 'transferred' } main::log_of($conv);
ok($tr && !$tr->{private}, 'the transfer\'s own entry, for all');
is($tr && $tr->{group}, 'aftersales', 'to the group');
is($tr && $tr->{by}{name}, '破损', 'by the rule');
ok(redis('ZSCORE', "kefu:{s:$main::SITE}:q:aftersales", $conv), 'in aftersales\' queue');
ok(!redis('ZSCORE', "kefu:{s:$main::SITE}:q:presales", $conv), 'out of presales\'');
my ($s2, $j2) = api(POST => "/kefu/api/sites/botm/convs/$conv/transfer", {group => 'presales'});
is($s2, 409, 'the API still transfers no queued conversation: that is a rule\'s route only');



=== TEST 4: waiting: a conversation queued longer than the rule's seconds gets its actions once, by one worker of two hosts
--- ws
my ($port2) = start_host("kefu_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};\n"
    . "kefu_site $main::SITE secret=$main::S anonymous=on default_group=presales;\nkefu_lease_time 1500ms;\n",
    "location /kefu/api/ { kefu_api; }\n");
api_ready("/kefu/api/sites/botm/settings", port => $port2) or die "host 2 not ready\n";
my ($st) = main::put_settings({
    groups => [{name => 'presales'}, {name => 'aftersales'}],
    rules => [
        {id => 'slow', name => 'Slow', when => {type => 'waiting', seconds => 1}, if => [{state => 'queued'}],
         then => [{reply => 'Sorry for the wait'}, {label => 'waited'}]},
        {id => 'slower', when => {type => 'waiting', seconds => 4}, then => [{reply => 'Still waiting'}]},
    ]});
is($st, 200, 'waiting rules');
# host 2 runs them too
main::put_settings({
    groups => [{name => 'presales'}, {name => 'aftersales'}],
    rules => [
        {id => 'slow', name => 'Slow', when => {type => 'waiting', seconds => 1}, if => [{state => 'queued'}],
         then => [{reply => 'Sorry for the wait'}, {label => 'waited'}]},
        {id => 'slower', when => {type => 'waiting', seconds => 4}, then => [{reply => 'Still waiting'}]},
    ]}, port => $port2);
my ($v) = kefu_connect(role => 'visitor', site => $main::SITE, group => 'aftersales');
$v->send_json({type => 'msg', cid => 'w1', text => 'hello?'});
my $ack = $v->recv_type('ack');
my $conv = $ack->{conv};
my $m = $v->wait_for(sub { ($_[0]{from}{role} // '') eq 'bot' }, 30);
is($m && $m->{text}, 'Sorry for the wait', 'after a second in the queue');
is($m && $m->{rule}, 'slow', 'naming the rule');
ok($m->{ts} - $ack->{ts} >= 1000, 'not before the second');
my $m2 = $v->wait_for(sub { ($_[0]{from}{role} // '') eq 'bot' }, 30);
is($m2 && $m2->{text}, 'Still waiting', 'the later rule, sweeps after the first fired');
my @e = main::rule_entries_upto($conv, sub { ($_[0]{rule}{id} // '') eq 'slower' });
my @log = main::log_of($conv);
is(scalar(grep { ($_->{rule} // '') eq 'slow' } @log), 1, 'one reply of slow, from all the workers of both hosts');
is(scalar(grep { ($_->{rule}{id} // '') eq 'slow' && $_->{action} eq 'label' } @e), 1, 'one label entry');
my ($sc, $c) = api(GET => "/kefu/api/sites/botm/convs/$conv");
is_deeply($c->{labels}, ['waited'], 'labeled');
# an agent of the group (who takes nothing: capacity 0) sees it in its queue, labeled
my ($ag) = kefu_connect(role => 'agent', site => $main::SITE, status => 'online',
    token => Kefu::WS::jwt_hs256({sub => 'wq1', role => 'agent', site => $main::SITE, groups => ['aftersales'],
                                  capacity => 0, exp => time + 600}, $main::S));
$ag->send_json({type => 'queue', cid => 'q1'});
my $q = $ag->wait_for(sub { $_[0]{type} eq 'queue' });
my ($item) = grep { $_->{conv} eq $conv } @{ $q->{convs} || [] };
is_deeply($item && $item->{labels}, ['waited'], 'the agents\' queue item has the labels');
# rules/try says the same: an open conversation does not wait
my $t = main::try_rules({when => {type => 'waiting', seconds => 5}, state => 'open'});
ok(!$t->{slower}{fires}, 'rules/try: slower does not fire for an open conversation');
is($t->{slower}{not}, 'the conversation is open: not waiting', 'and says why');
$t = main::try_rules({when => {type => 'waiting', seconds => 5}, state => 'queued'});
ok($t->{slower}{fires} && $t->{slow}{fires}, 'both fire for a queued one');



=== TEST 4b: waiting: a conversation in state bot longer than the rule's seconds gets its actions once
--- ws
my ($st) = main::put_settings({
    groups => [{name => 'presales'}, {name => 'botwait'}],
    bot => {enabled => T, groups => ['botwait'], mode => 'external'},
    rules => [
        {id => 'botslow', name => 'Bot slow', when => {type => 'waiting', seconds => 1}, if => [{state => 'bot'}],
         then => [{reply => 'A person can help too'}, {label => 'bot-waited'}]},
    ]});
is($st, 200, 'the bot (external: nothing answers in nginx) and a waiting rule for bot conversations');
my ($v) = kefu_connect(role => 'visitor', site => $main::SITE, group => 'botwait');
$v->send_json({type => 'msg', cid => 'b1', text => 'anyone?'});
my $ack = $v->recv_type('ack');
my $conv = $ack->{conv};
my $n = $v->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $conv });
is($n && $n->{state}, 'bot', 'the conversation is with the bot');
my $m = $v->wait_for(sub { ($_[0]{from}{role} // '') eq 'bot' }, 30);
is($m && $m->{text}, 'A person can help too', 'the waiting rule fired for it');
is($m && $m->{rule}, 'botslow', 'naming the rule');
ok($m->{ts} - $ack->{ts} >= 1000, 'not before the second');
my @e = main::rule_entries_upto($conv, sub { ($_[0]{action} // '') eq 'label' });
is(scalar(grep { ($_->{rule} // '') eq 'botslow' } main::log_of($conv)), 1, 'once');
my ($sc, $c) = api(GET => "/kefu/api/sites/botm/convs/$conv");
is_deeply($c->{labels}, ['bot-waited'], 'labeled');
main::put_settings({groups => [{name => 'presales'}]});
--- timeout: 60



=== TEST 4c: intent routing by the visitor's attrs and page: the new conversation starts in the rule's group, before an agent is chosen (no transfer)
--- ws
my ($st) = main::put_settings({
    groups => [{name => 'presales'}, {name => 'vipdesk'}, {name => 'aftersales'}],
    rules => [
        {id => 'vip', name => 'VIP', when => {type => 'conv_created'},
         if => [{attr => 'tier', op => 'eq', value => 'gold'}], then => [{route => 'vipdesk'}]},
        {id => 'refund-page', when => {type => 'conv_created'},
         if => [{page => 'https://shop.example/refund'}], then => [{route => 'aftersales'}]},
    ]});
is($st, 200, 'routing rules by attrs and by page');
# every worker has them (a visitor's attrs are kept only where rules look at them)
my $agree = 0;
for (1 .. 400) {
    my ($s2, $t) = api(POST => "/kefu/api/sites/$main::SITE/rules/try", {text => 'x'});
    $agree = ($s2 == 200 && grep { $_->{id} eq 'vip' } @{ $t->{rules} }) ? $agree + 1 : 0;
    last if $agree >= 6;
    select undef, undef, undef, 0.025;
}
my ($v) = kefu_connect(role => 'visitor', site => $main::SITE, attrs => {tier => 'gold'});
$v->send_json({type => 'msg', cid => 'i1', text => 'hello'});
my $ack = $v->recv_type('ack');
my $n = $v->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $ack->{conv} });
is($n && $n->{group}, 'vipdesk', 'a gold visitor\'s conversation starts in vipdesk');
my @e = main::rule_entries_upto($ack->{conv}, sub { ($_[0]{rule}{id} // '') eq 'vip' });
is($e[0]{text}, 'Rule VIP: routed to vipdesk', 'the rule says it routed');
ok(!grep({ ($_->{event} // '') eq 'transferred' } main::log_of($ack->{conv})), 'no transfer: it was routed there at once');
my ($v2) = kefu_connect(role => 'visitor', site => $main::SITE);
$v2->send_json({type => 'page', cid => 'p1', url => 'https://shop.example/refund/42', title => 'Refund'});
$v2->send_json({type => 'msg', cid => 'i2', text => 'hello'});
my $ack2 = $v2->recv_type('ack');
my $n2 = $v2->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $ack2->{conv} });
is($n2 && $n2->{group}, 'aftersales', 'a visitor on the refund page: aftersales');
main::rule_entries_upto($ack2->{conv}, sub { ($_[0]{rule}{id} // '') eq 'refund-page' });
ok(!grep({ ($_->{event} // '') eq 'transferred' } main::log_of($ack2->{conv})), 'no transfer either');
my ($v3) = kefu_connect(role => 'visitor', site => $main::SITE, attrs => {tier => 'silver'});
$v3->send_json({type => 'msg', cid => 'i3', text => 'hello'});
my $ack3 = $v3->recv_type('ack');
my $n3 = $v3->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $ack3->{conv} });
is($n3 && $n3->{group}, 'presales', 'a silver visitor: the default group');
# the page given in hello counts too
my ($v4) = kefu_connect(role => 'visitor', site => $main::SITE, page => {url => 'https://shop.example/refund/7'});
$v4->send_json({type => 'msg', cid => 'i4', text => 'hello'});
my $ack4 = $v4->recv_type('ack');
my $n4 = $v4->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $ack4->{conv} });
is($n4 && $n4->{group}, 'aftersales', "hello's page: aftersales");
main::put_settings({groups => [{name => 'presales'}]});
--- timeout: 60



=== TEST 5: rules changed on one host take effect on the other: a PUT on host A, a visitor's message on host B
--- ws
my ($port2) = start_host("kefu_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};\n"
    . "kefu_site $main::SITE secret=$main::S anonymous=on default_group=presales;\n",
    "location /kefu/api/ { kefu_api; }\n");
api_ready("/kefu/api/sites/botm/settings", port => $port2) or die "host 2 not ready\n";
my $rules = sub { [{id => 'ask', when => {type => 'message'}, if => [{keywords => ['apple']}], then => [{reply => $_[0]}]}] };
my ($st) = api(PUT => "/kefu/api/sites/botm/settings", {rules => $rules->('version one')});
is($st, 200, 'rules on host A');
my ($v) = kefu_connect(role => 'visitor', site => $main::SITE, port => $port2);
my $n = 0;
my $reply = sub {
    $v->send_json({type => 'msg', cid => 'p' . ++$n, text => 'an apple please'});
    my $m = $v->wait_for(sub { ($_[0]{from}{role} // '') eq 'bot' }, 20);
    return $m ? $m->{text} : '';
};
my $got = '';
for (1 .. 200) { $got = $reply->(); last if $got eq 'version one'; select undef, undef, undef, 0.025 }
is($got, 'version one', 'host B answers with host A\'s rules');
($st) = api(PUT => "/kefu/api/sites/botm/settings", {rules => $rules->('version two')});
is($st, 200, 'rules changed on host A');
for (1 .. 200) { $got = $reply->(); last if $got eq 'version two'; select undef, undef, undef, 0.025 }
is($got, 'version two', 'host B answers with the new rules');



=== TEST 6: one route a run: a new conversation's intent routing comes first, a message rule's route after it only says so
--- ws
my ($st) = main::put_settings({
    groups => [{name => 'presales'}, {name => 'aftersales'}],
    rules => [
        {id => 'm-route', when => {type => 'message'}, if => [{keywords => ['refund']}], then => [{route => 'presales'}]},
        {id => 'c-route', when => {type => 'conv_created'}, if => [{keywords => ['refund']}], then => [{route => 'aftersales'}]},
    ]});
is($st, 200, 'two routes');
my ($v) = kefu_connect(role => 'visitor', site => $main::SITE, group => 'presales');
$v->send_json({type => 'msg', cid => 'x1', text => 'a refund please'});
my $conv = $v->recv_type('ack')->{conv};
my @e = main::rule_entries_upto($conv, sub { ($_[0]{rule}{id} // '') eq 'm-route' });
my ($c) = grep { $_->{rule}{id} eq 'c-route' } @e;
is($c && $c->{text}, 'Rule c-route: routed to aftersales', 'intent routing first');
my ($m) = grep { $_->{rule}{id} eq 'm-route' } @e;
is($m->{text}, 'Rule m-route: not routed to presales: an earlier rule routed it', 'the message rule\'s route after it');
my ($sc, $j) = api(GET => "/kefu/api/sites/botm/convs/$conv");
is($j->{group}, 'aftersales', 'it stays in aftersales');
ok(!(grep { ($_->{event} // '') eq 'transferred' } main::log_of($conv)), 'no transfer');
