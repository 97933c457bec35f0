# Every script that declares its keys (#!lua) stays in one hash slot: the
# chat, catch-up, read receipts, settings, availability, status and API
# flows run against this file's own Redis in cluster mode, one node holding
# all 16384 slots, where Redis itself refuses a script that touches a key
# of a slot other than its declared keys' (docs/storage.md, "Slots"), and,
# with kefu_redis cluster (TEST 4), a script's SPUBLISH to a channel of
# another slot.
# scripts/test --cluster runs any other file that way.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Time::HiRes qw(sleep);
use File::Temp qw(tempdir);

workers(2);
master_on();

# the cluster's state file, by an absolute path of this run's own
our $NODES = tempdir(CLEANUP => 1) . '/nodes.conf';
our $R = redis_server('cluster-enabled' => 'yes', 'cluster-config-file' => $NODES);
$ENV{TEST_NGINX_CLUSTER_REDIS_PORT} = $R->port;
redis(port => $R->port, 'CLUSTER', 'ADDSLOTSRANGE', 0, 16383);
for (1 .. 200) {
    last if redis(port => $R->port, 'CLUSTER', 'INFO') =~ /^cluster_state:ok/m;
    sleep 0.05;
}
die "the cluster did not come up\n"
    unless redis(port => $R->port, 'CLUSTER', 'INFO') =~ /^cluster_state:ok/m;

our $S1 = 'shop1-secret-0123456789abcdef';

add_block_preprocessor(sub {
    my $block = shift;
    # "--- sharded": kefu_redis cluster (scripts publish with SPUBLISH)
    my $link = defined $block->sharded
        ? 'kefu_redis cluster 127.0.0.1:$TEST_NGINX_CLUSTER_REDIS_PORT ping=500ms timeout=1s;'
        : 'kefu_redis 127.0.0.1:$TEST_NGINX_CLUSTER_REDIS_PORT;';
    $block->set_value('http_config', "    $link\n" . <<'_EOC_' . ($block->http_config // ''));
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on default_group=presales;
_EOC_
    $block->set_value('config', <<'_EOC_' . ($block->config // ''));
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
    location = /kefu/status { kefu_status; }
_EOC_
});

our $SHOP = site_of_run('shop1');

sub rcl { redis(port => $R->port, @_) }

run_tests();

__DATA__

=== TEST 1: the Redis is a cluster that refuses a declared script's cross-slot access
--- ws
my $ok = eval { rcl('EVAL', "#!lua\nreturn redis.call('GET', 'kefu:{s:other}:x')", 1, 'kefu:{s:shop1}:y'); 1 };
ok(!$ok, 'a #!lua script reaching into another slot fails');
like($@, qr/hash to the same slot/, 'with Redis\'s cross-slot error');
is(rcl('EVAL', "#!lua\nreturn redis.call('GET', KEYS[1])", 1, 'kefu:{s:shop1}:y'), undef,
   'one in its own slot runs');

=== TEST 2: chat, a resumed catch-up, read receipts, history, the API's log: every call in one slot
--- ws
my ($a, $w) = kefu_connect(role => 'visitor', site => 'shop1');
is($w->{type}, 'welcome', 'welcome') or diag explain $w;
my @acks;
for my $i (1 .. 3) {
    $a->send_json({type => 'msg', cid => "c$i", text => "m$i"});
    push @acks, $a->recv_type('ack');
}
is_deeply([map { $_->{seq} } @acks], [1, 2, 3], 'stored and acknowledged');
my $conv = $acks[0]{conv};

# a second connection resumes from seq 1: the range script reads the log
my ($b, $w2) = kefu_connect(role => 'visitor', site => 'shop1', token => $w->{token},
                            resume => {$conv => 1});
is($w2->{type}, 'welcome', 'resumed');
my @got = map { $b->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{cid} // '') eq "c$_" }) } 2 .. 3;
is_deeply([map { $_->{seq} } @got], [2, 3], 'caught up from the log');

$b->send_json({type => 'read', conv => $conv, seq => 3});
my $r = $a->wait_for(sub { $_[0]{type} eq 'read' });
is($r->{seq}, 3, 'the read script told the conversation');

$a->send_json({type => 'history', conv => $conv, before => 3});
my $h = $a->recv_type('history');
is_deeply([map { $_->{cid} } @{ $h->{msgs} }], ['c1', 'c2'], 'history');

my ($st, $j, undef, $raw) = api(GET => "/kefu/api/sites/shop1/convs/$conv/messages?after=1",
                                undef, token => api_token(secret => $main::S1, site => 'shop1'));
is($st, 200, "the API's log (api_log)") or diag $raw;
is_deeply([map { $_->{cid} } @{ $j->{msgs} }], ['c2', 'c3'], 'after seq 1');
--- no_error_log
[error]

=== TEST 3: settings, availability, the agents' list and the status, in one slot each
--- ws
my $adm = api_token(secret => $main::S1, site => 'shop1', role => 'admin', sub => 'boss');
my ($st, $j, undef, $raw) = api(PUT => '/kefu/api/sites/shop1/settings',
                                {texts => {en => {welcome => 'Hi from the cluster'}}}, token => $adm);
is($st, 200, 'settings stored (settings_put)') or diag $raw;
($st, $j, undef, $raw) = api(GET => '/kefu/api/sites/shop1/settings', undef, token => $adm);
is($st, 200, 'and read (settings_get)') or diag $raw;
like($raw, qr/Hi from the cluster/, 'the document');
my $ev = rcl('XREVRANGE', "kefu:{s:$main::SHOP}:events", '+', '-', 'COUNT', 1);
is({@{ $ev->[0][1] }}->{event}, 'settings.changed', 'on the event stream, in the same step');

# availability (the avail script) reaches a visitor once an agent is online
my ($v, $vw) = kefu_connect(role => 'visitor', site => 'shop1');
ok(!$vw->{availability}{online}, 'nobody online yet');
my $t = jwt_hs256({sub => 'cl1', role => 'agent', site => $main::SHOP, exp => time + 300,
                   groups => ['presales'], capacity => 3}, $main::S1);
my ($ag, $aw) = kefu_connect(role => 'agent', site => 'shop1', token => $t, status => 'online');
is($aw->{type}, 'welcome', 'an agent is online');
my $av = $v->wait_for(sub { $_[0]{type} eq 'availability' });
ok($av && $av->{online}, 'the visitor hears that someone is online') or diag(Kefu::WS::json_enc($av // {}) . ' ' . Kefu::WS::json_enc($vw));

($st, $j, undef, $raw) = api(GET => '/kefu/api/sites/shop1/agents', undef,
                             token => api_token(secret => $main::S1, site => 'shop1'));
is($st, 200, 'the agents (api_agents)') or diag $raw;
like($raw, qr/"cl1"/, 'with the one online');

my ($sst, undef, $sb) = http_raw("GET /kefu/status?format=json HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
is($sst, 200, 'the status (status script)');
like($sb, qr/"\Q$main::SHOP\E"/, 'with the site');
--- no_error_log
[error]


=== TEST 4: with kefu_redis cluster every script publishes (SPUBLISH) on a channel of its own slot: a conversation's, a participant's, a queue's, presence, settings, revocation; contact in two steps
--- sharded
--- ws
my $adm = api_token(secret => $main::S1, site => 'shop1', role => 'admin', sub => 'boss4');
# a channel a script cannot reach refuses the whole script: each step below
# proves its script ran and its notice was heard on the channel's shard
my $g = 'sharded4';
my $t = jwt_hs256({sub => 'sh4', role => 'agent', site => $main::SHOP, exp => time + 300,
                   groups => [$g], capacity => 3}, $main::S1);
my ($ag, $aw) = kefu_connect(role => 'agent', site => 'shop1', token => $t, status => 'online');
is($aw->{type}, 'welcome', 'an agent online (presence on kefu:{s:<site>}:p)');
my ($v, $vw) = kefu_connect(role => 'visitor', site => 'shop1', group => $g);
is($vw->{type}, 'welcome', 'a visitor');
$v->send_json({type => 'msg', cid => 'x1', text => 'hello shards'});
my $ack = $v->recv_type('ack');
ok($ack && $ack->{seq}, 'stored (msg)') or diag explain $ack;
my $conv = $ack->{conv};
my $n = $ag->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $conv && $_[0]{state} eq 'open' });
ok($n, 'the agent is assigned it (routing, on kefu:{s:<site>}:u:a:<id>)');
my $m = $ag->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{cid} // '') eq 'x1' });
is($m && $m->{text}, 'hello shards', 'and gets the message (on kefu:{c:<conv>})');

$ag->send_json({type => 'read', conv => $conv, seq => $ack->{seq}});
my $r = $v->wait_for(sub { $_[0]{type} eq 'read' });
is($r && $r->{seq}, $ack->{seq}, 'a read receipt (read, on kefu:{c:<conv>})');

# contact: stored in the site's slot (contact), then the agent of the open
# conversation read in the conversation's and told on its own channel
$v->send_json({type => 'contact', cid => 'k1', name => 'Shard Li', email => 'li@example.com'});
my $ct = $v->wait_for(sub { $_[0]{type} eq 'contact' });
is($ct && $ct->{cid}, 'k1', 'contact stored (contact)');
my $cn = $ag->wait_for(sub { $_[0]{type} eq 'conv' && ($_[0]{reason} // '') eq 'contact' });
is($cn && $cn->{conv}, $conv, 'the agent is told, with the conversation');
is($cn && $cn->{state}, 'open', '... its state');
is($cn && $cn->{visitor}{contact}{email}, 'li@example.com', '... and the details');
is($cn && $cn->{visitor}{name}, 'Shard Li', '... and the name');
is($cn && $cn->{visitor}{id}, $vw->{id}, '... of the visitor');
my $ev = rcl('XREVRANGE', "kefu:{s:$main::SHOP}:events", '+', '-', 'COUNT', 5);
my ($ce) = grep { $_->{event} eq 'visitor.contact' } map { +{@{ $_->[1] }} } @$ev;
is($ce && $ce->{conv}, $conv, 'visitor.contact on the event stream, with the conversation');

my ($st, $j, undef, $raw) = api(PUT => '/kefu/api/sites/shop1/settings',
                                {widget => {color => '#0a0b0c'}}, token => $adm);
is($st, 200, 'settings stored (settings_put)') or diag $raw;
my $a = $v->wait_for(sub { $_[0]{type} eq 'availability'
                           && ($_[0]{settings}{widget}{color} // '') eq '#0a0b0c' });
ok($a, 'the visitor is told at once (kefu:{s:<site>}:settings heard)');

($st, $j, undef, $raw) = api(POST => '/kefu/api/sites/shop1/revocations',
                             {sub => 'sh4', exp => int(time) + 600},
                             token => api_token(secret => $main::S1, site => 'shop1'));
is($st, 200, 'the agent revoked (revoke_add)') or diag $raw;
my ($code, $reason) = $ag->recv_close(10);
is($code, 4401, 'its connection is closed (kefu:{s:<site>}:revoke heard)');
--- no_error_log
[error]
