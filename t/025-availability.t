# Availability and offline (contract v2): a visitor is told whether the
# site is open and whether anyone of its group is online, again whenever
# that changes; writing while nobody can answer queues the conversation
# with offline: true and no promised place; contact details are stored,
# put on the event stream and shown to the agent who gets the
# conversation when it comes online.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API qw(redis);
use Kefu::Route;
use Kefu::WS qw(kefu_connect);
use Encode ();

our $S = 'avl-secret-0123456789abcdef';

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site avl1 secret=$S anonymous=on grace=2s;\n");
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=100; }\n"
        . "location /kefu/api/ { kefu_api; }\n");
});

sub agent_on {
    my ($sub, $g, %o) = @_;
    my ($ws, $w) = kefu_connect(role => 'agent', site => 'avl1', %o,
        token => agent_token($sub, site => 'avl1', secret => $main::S, groups => [$g], name => ucfirst $sub));
    die "no welcome\n" unless $w->{type} eq 'welcome';
    return $ws;
}

# a ping after which nothing of the given type may have come (but the
# availability a worker sends everyone with the settings once it has read
# them, which may come after the welcome and be kept by wait_for until now)
sub none_before_pong {
    my ($ws, $type) = @_;
    $ws->send_json({type => 'ping', id => 'chk'});
    my $bad;
    wait_for($ws, sub { $bad = 1 if $_[0]{type} eq $type && !$_[0]{settings}; $_[0]{type} eq 'pong' });
    return !$bad;
}

run_tests();

__DATA__

=== TEST 1: availability follows the only agent of the group going online, away and back
--- ws
# (the availability a worker sends everyone once it has read the site's
# settings, with them, may come after the welcome: not the agent's doing,
# and it may say online: false, read before the agent came)
my $g = uniq_group();
my ($v, $vw) = kefu_connect(role => 'visitor', site => 'avl1', group => $g, lang => 'en');
is($vw->{availability}{online}, JSON::PP::false(), 'welcome: nobody of the group is online');
is($vw->{availability}{open}, JSON::PP::true(), 'welcome: open (no hours set)');
like($vw->{availability}{offline}, qr/\S/, 'welcome: the offline text');
my $a = main::agent_on("al$g", $g, status => 'online');
my $m = wait_for($v, sub { $_[0]{type} eq 'availability' && !$_[0]{settings} });
is($m->{online}, JSON::PP::true(), 'the agent comes online: online');
$a->send_json({type => 'status', state => 'away'});
$m = wait_for($v, sub { $_[0]{type} eq 'availability' && !$_[0]{settings} });
is($m->{online}, JSON::PP::false(), 'it goes away: offline');
$a->send_json({type => 'status', state => 'online'});
$m = wait_for($v, sub { $_[0]{type} eq 'availability' && !$_[0]{settings} });
is($m->{online}, JSON::PP::true(), 'back: online');
my $o = main::agent_on("ot$g", "other$g", status => 'online');
ok(main::none_before_pong($v, 'availability'), "another group's agent changes nothing for this visitor");
--- timeout: 30



=== TEST 2: offline: queued with offline: true, contact stored and streamed, routed when an agent comes online
--- ws
my $g = uniq_group();
# the group is the site's once an agent's token claims it (contract v2):
# its agent signs in away
my $a0 = main::agent_on("ag$g", $g);
my ($v, $vw) = kefu_connect(role => 'visitor', site => 'avl1', group => $g, lang => 'zh');
is($vw->{availability}{online}, JSON::PP::false(), 'nobody online');
$v->send_json({type => 'msg', cid => 'q1', text => '我的订单还没到'});
my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' });
my $c = $ack->{conv};
my $n = wait_conv($v, $c, state => 'queued');
is($n->{offline}, JSON::PP::true(), 'queued with offline: true');
ok(!exists $n->{position} && !exists $n->{eta}, 'no place in line is promised');
is(redis('HGET', "kefu:{c:$c}", 'offline'), 1, 'the conversation is marked offline');
$v->send_json({type => 'contact', cid => 'c0', email => 'not-an-address'});
is(wait_for($v, sub { $_[0]{type} eq 'error' })->{code}, 'bad_request', 'a bad e-mail: bad_request');
$v->send_json({type => 'contact', cid => 'c1', phone => '12a'});
is(wait_for($v, sub { $_[0]{type} eq 'error' })->{code}, 'bad_request', 'a bad phone: bad_request');
$v->send_json({type => 'contact', cid => 'c2'});
is(wait_for($v, sub { $_[0]{type} eq 'error' })->{code}, 'bad_request', 'nothing: bad_request');
$v->send_json({type => 'contact', cid => 'c3', name => '王小明', email => 'wang@example.com', phone => '+86 138 0000 0000'});
my $r = wait_for($v, sub { $_[0]{type} eq 'contact' });
is($r->{email}, 'wang@example.com', 'contact is confirmed');
is($r->{cid}, 'c3', 'with the cid');
my $stored = JSON::PP::decode_json(redis('HGET', "kefu:{s:avl1}:v:$vw->{id}", 'contact'));
is($stored->{phone}, '+86 138 0000 0000', 'stored with the visitor');
is(Encode::decode_utf8(redis('HGET', "kefu:{s:avl1}:v:$vw->{id}", 'name')), '王小明', 'and its name');
my $ev = redis('XREVRANGE', 'kefu:{s:avl1}:events', '+', '-', 'COUNT', 5);
my ($ce) = grep { $_->{event} eq 'visitor.contact' } map { +{@{ $_->[1] }} } @$ev;
ok($ce, 'visitor.contact is on the event stream');
is(JSON::PP::decode_json($ce->{data})->{email}, 'wang@example.com', '... with the details');
is($ce->{conv}, $c, '... and the conversation');
my $a = $a0;
$a->send_json({type => 'contact', cid => 'x', name => 'me'});
is(wait_for($a, sub { $_[0]{type} eq 'error' })->{code}, 'forbidden', 'agents leave no contact details');
$a->send_json({type => 'status', state => 'online'});
my $an = wait_conv($a, $c, state => 'open');
ok($an, 'the agent coming online gets the waiting conversation');
is($an->{visitor}{contact}{email}, 'wang@example.com', "with the visitor's contact details");
is($an->{visitor}{name}, '王小明', 'and name');
my $vn = wait_conv($v, $c, state => 'open');
my ($st, $j) = Kefu::API::api(GET => "/kefu/api/sites/avl1/convs/$c", undef,
    token => Kefu::API::api_token(secret => $main::S, site => 'avl1'));
is($j->{visitor}{contact}{email}, 'wang@example.com', 'the HTTP API shows the contact details');
is($vn->{agent}{id}, "ag$g", 'the visitor is told who answers');
--- timeout: 30



=== TEST 3: availability says whether the site's bot takes the visitor's group, again when the settings change
--- ws
my $g = uniq_group();
my $tok = Kefu::API::api_token(secret => $main::S, site => 'avl1', role => 'admin', sub => 'boss');
Kefu::API::api(PUT => '/kefu/api/sites/avl1/settings', {}, token => $tok);
my ($v, $vw) = kefu_connect(role => 'visitor', site => 'avl1', group => $g, lang => 'en');
my ($o, $ow) = kefu_connect(role => 'visitor', site => 'avl1', group => "other$g", lang => 'en');
is($vw->{availability}{bot}, JSON::PP::false(), 'welcome: no bot');
# each change marked by its offline text: the availability it causes
my ($st) = Kefu::API::api(PUT => '/kefu/api/sites/avl1/settings',
    {bot => {enabled => JSON::PP::true(), groups => [$g]}, texts => {en => {offline => "on $g"}}}, token => $tok);
is($st, 200, 'the bot turned on for one group');
my $m = wait_for($v, sub { $_[0]{type} eq 'availability' && $_[0]{offline} eq "on $g" });
is($m->{bot}, JSON::PP::true(), "a visitor of that group is told the bot answers");
is($m->{online}, JSON::PP::false(), 'while nobody of the group is online');
$m = wait_for($o, sub { $_[0]{type} eq 'availability' && $_[0]{offline} eq "on $g" });
is($m->{bot}, JSON::PP::false(), "a visitor of another group is told too: not for it");
my ($v2, $v2w) = kefu_connect(role => 'visitor', site => 'avl1', group => $g, lang => 'en');
is($v2w->{availability}{bot}, JSON::PP::true(), "a new visitor of the group: in welcome");
Kefu::API::api(PUT => '/kefu/api/sites/avl1/settings',
    {bot => {enabled => JSON::PP::false(), groups => [$g]}, texts => {en => {offline => "off $g"}}}, token => $tok);
$m = wait_for($v, sub { $_[0]{type} eq 'availability' && $_[0]{offline} eq "off $g" });
is($m->{bot}, JSON::PP::false(), 'the bot turned off: the visitor is told');
Kefu::API::api(PUT => '/kefu/api/sites/avl1/settings', {}, token => $tok);
--- timeout: 30
