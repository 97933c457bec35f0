# Every script that declares its keys (#!lua) stays in one hash slot: the
# chat, catch-up, read receipts, settings, availability, status and API
# flows, and the read side split into one call per slot (welcome's
# summaries, the queues, lists, a conversation, history of a closed one,
# uploads' checks, the attachments', retention and idle sweeps) run against this file's own Redis in cluster mode, one node holding
# all 16384 slots, where Redis itself refuses a script that touches a key
# of a slot other than its declared keys' (docs/storage.md, "Slots"), and,
# with kefu_redis cluster (TEST 4), a script's SPUBLISH to a channel of
# another slot; with kefu_redis cluster (TEST 7), a message as msg_slot
# in its conversation's slot and its event by event_put in the site's,
# healed from the log, which also keeps the queue's preview and a rule's
# labels on the routing record (TEST 11, TEST 12), the group commit
# calls one slot each (TEST 13), and a failed event_put tried again by
# its timer (TEST 14), and let go of at the worker's exit (TEST 15).
# scripts/test --cluster runs any other file that way.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::Route;
use Kefu::Upload;
use Digest::SHA qw(sha256_hex);
use Time::HiRes qw(sleep);
use File::Temp qw(tempdir);

BEGIN { $ENV{TEST_NGINX_UPLOAD_DIR} = tempdir('kefu-uploads.XXXXXX', TMPDIR => 1, CLEANUP => 1) }

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
our $S3 = site_of_run('shop3');
$Kefu::Route::SITE = $SHOP;

sub rcl { redis(port => $R->port, @_) }

# a routing step's second and third calls (conv_apply, route_put) follow
# the notices its first call published: true once the conversation has
# left the site's pending set, before a block ends (nginx is stopped
# then, and a step cut short by the exit is logged as left to the sweep)
sub applied {
    my ($c) = @_;
    for (1 .. 200) {
        return 1 unless defined rcl('ZSCORE', "kefu:{s:$SHOP}:apply", $c);
        sleep 0.05;
    }
    return 0;
}

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
--- sharded
--- ws
my ($a, $w) = kefu_connect(role => 'visitor', site => 'shop1');
is($w->{type}, 'welcome', 'welcome') or diag(Test::More::explain($w));
my @acks;
for my $i (1 .. 3) {
    $a->send_json({type => 'msg', cid => "c$i", text => "m$i"});
    push @acks, $a->recv_type('ack');
}
is_deeply([map { $_->{seq} } @acks], [1, 2, 3], 'stored and acknowledged');
my $conv = $acks[0]{conv};
# where it went: told once route_new's side is applied (route_put also
# publishes it to the visitor's other connections, as the next one is)
my $where = $a->recv_type('conv');
is($where && $where->{conv}, $conv, 'the sender is told where its conversation went');

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
--- sharded
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

=== TEST 4: the read side split by slot: welcome's summaries, the agents' queue, the API's lists, queue and conversation, history of a closed conversation
--- sharded
--- ws
# each script of these flows declares its keys: without "#!lua" Redis
# would not refuse a key of another slot, and this test could not fail
for my $s (qw(summaries summary queue queue_item queue_entry api_list api_queue conv_fields
              api_conv api_visitor history history_check upload_owner upload_check upload_sweep
              upload_reap retain_sweep retain_drop retain_heal retain_heal_site idle_sweep
              idle_done)) {
    open(my $fh, '<', "$FindBin::Bin/../ngx_kefu_module/lua/$s.lua") or die "$s.lua: $!";
    like(scalar <$fh>, qr/^#!lua\b/, "$s.lua is a #!lua script");
}
my $r = int rand 1e6;
my $g = uniq_group();
my $adm = api_token(secret => $main::S1, site => 'shop1');
my ($a) = agent("sp$r", groups => [$g], status => 'online', capacity => 1, name => 'Sam');
my ($v, $vw, $ack) = visitor($g, text => 'first one');
my $c = $ack->{conv};
wait_conv($a, $c, state => 'open');
my ($v2, $vw2, $ack2) = visitor($g, text => 'waiting here');
my $c2 = $ack2->{conv};

# the agents' view (queue, queue_item, queue_entry)
$a->send_json({type => 'queue', cid => 'q1'});
my $q = wait_for($a, sub { $_[0]{type} eq 'queue' });
my ($qi) = grep { $_->{conv} eq $c2 } @{ $q->{convs} || [] };
ok($qi, 'the queued conversation is in the agent\'s queue view') or diag(Test::More::explain($q));
is($qi && $qi->{visitor}{id}, $vw2->{id}, '... with its visitor (read in the site\'s slot)');
is($qi && $qi->{last}, 'waiting here', '... and its preview (read in its own)');
is($q->{cid}, 'q1', '... answering the request');

# the API: a group's queue (api_queue, conv_fields)
my ($st, $j, undef, $raw) = api(GET => "/kefu/api/sites/shop1/queues/$g", undef, token => $adm);
is($st, 200, 'the API\'s queue') or diag $raw;
is_deeply([map { [$_->{conv}, $_->{visitor}] } @{ $j->{convs} }], [[$c2, $vw2->{id}]],
          '... lists it with its visitor');

# the list, filtered and paged (api_list, conv_fields)
($st, $j, undef, $raw) = api(GET => "/kefu/api/sites/shop1/convs?state=open&agent=sp$r", undef, token => $adm);
is($st, 200, 'the API\'s list') or diag $raw;
is_deeply([map { $_->{conv} } @{ $j->{convs} }], [$c], '... filtered to the open one of the agent');
($st, $j, undef, $raw) = api(GET => "/kefu/api/sites/shop1/convs?limit=1", undef, token => $adm);
is(scalar @{ $j->{convs} }, 1, 'a page of one');
ok($j->{next}, '... with a cursor') or diag $raw;
my %seen = map { $_->{conv} => 1 } @{ $j->{convs} };
($st, $j, undef, $raw) = api(GET => "/kefu/api/sites/shop1/convs?limit=1&cursor=$j->{next}", undef, token => $adm);
is($st, 200, 'the next page') or diag $raw;
ok(@{ $j->{convs} } == 1 && !$seen{ $j->{convs}[0]{conv} }, '... another conversation') or diag $raw;

# one conversation (api_conv, then api_visitor)
($st, $j, undef, $raw) = api(GET => "/kefu/api/sites/shop1/convs/$c", undef, token => $adm);
is($st, 200, 'the API\'s conversation') or diag $raw;
is($j->{state}, 'open', '... its state (its slot)');
is($j->{visitor}{id}, $vw->{id}, '... its visitor (the site\'s)');
my $at = api_token(secret => $main::S1, site => 'shop1', role => 'agent', sub => "sp$r");
($st) = api(GET => "/kefu/api/sites/shop1/convs/$c2", undef, token => $at);
is($st, 404, 'an agent\'s token reads no conversation not its own');

# closed, then read on a new connection: summaries, summary, history_check, history
$a->send_json({type => 'close', conv => $c, cid => 'cl'});
wait_conv($v, $c, state => 'closed');
$a->close_ws(1000, 'bye');
my ($a2, $aw) = agent("sp$r", groups => [$g]);
my ($sum) = grep { $_->{conv} eq $c } @{ $aw->{convs} };
is($sum && $sum->{state}, 'closed', 'welcome lists the closed conversation');
$a2->send_json({type => 'history', conv => $c, cid => 'h1'});
my $h = wait_for($a2, sub { $_[0]{type} eq 'history' || $_[0]{type} eq 'error' });
is($h->{type}, 'history', 'the agent who closed it reads its history') or diag(Test::More::explain($h));
ok((grep { ($_->{text} // '') eq 'first one' } @{ $h->{msgs} || [] }), '... with the first message');
my ($o) = agent("other$r", groups => [$g]);
$o->send_json({type => 'history', conv => $c, cid => 'h2'});
$h = wait_for($o, sub { $_[0]{type} eq 'history' || $_[0]{type} eq 'error' });
is($h->{code}, 'forbidden', 'another agent cannot');
my ($v3, $vw3) = kefu_connect(role => 'visitor', site => 'shop1', token => $vw->{token});
($sum) = grep { $_->{conv} eq $c } @{ $vw3->{convs} };
is($sum && $sum->{state}, 'closed', 'the visitor\'s welcome lists it too');
--- no_error_log
[error]

=== TEST 5: the uploads' checks and the attachments', retention and idle sweeps, one slot each call
--- sharded
--- http_config
    kefu_upload_path $TEST_NGINX_UPLOAD_DIR;
    kefu_upload_sweep 1s;
    kefu_site shop3 secret=shop3-secret-0123456789abcdef anonymous=on retention=2s;
--- config
    location /files/ { kefu_upload; }
--- ws
$Kefu::Upload::Path = '/files/';
my $dir = $ENV{TEST_NGINX_UPLOAD_DIR};
my $stored = sub { my ($sha) = @_; "$dir/shop1/" . substr($sha, 0, 2) . "/$sha" };
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("up$r", groups => [$g], status => 'online');
my ($v, $vw, $ack) = visitor($g);
my $c = $ack->{conv};
wait_conv($a, $c, state => 'open');
my ($x) = kefu_connect(role => 'visitor', site => 'shop1');

# upload_owner then upload_check (named), upload_check alone (its open one)
my $f1 = png(13, 13, 100);
my ($st, $j, undef, $raw) = upload(site => 'shop1', token => $vw->{token}, conv => $c, name => 'a.png', data => $f1);
is($st, 201, 'a visitor uploads to its conversation') or diag $raw;
($st, $j, undef, $raw) = upload(site => 'shop1', token => $vw->{token}, name => 'b.png', data => png(14, 14, 100));
is($st, 201, '... and to its open one, unnamed') or diag $raw;
($st, $j, undef, $raw) = upload(site => 'shop1', token => agent_token("up$r"), conv => $c, name => 'c.png', data => png(15, 15, 100));
is($st, 201, 'its agent uploads to it') or diag $raw;
($st) = upload(site => 'shop1', token => $x->{token} // '', conv => $c, name => 'd.png', data => png(16, 16, 100));
ok($st == 403 || $st == 401, 'another visitor cannot');
($st) = upload(site => 'shop1', token => agent_token("nobody$r"), conv => $c, name => 'e.png', data => png(17, 17, 100));
is($st, 403, 'nor an agent it is not assigned to');

# upload_sweep, conv_fields, upload_reap: the conversation gone, its file goes
ok(-f $stored->(sha256_hex($f1)), 'stored');
rcl('DEL', "kefu:{c:$c}");
my $deleted = 0;
for (1 .. 150) { if (!-e $stored->(sha256_hex($f1))) { $deleted = 1; last } sleep 0.1 }
ok($deleted, 'the sweep deletes the file of a conversation gone');
is(rcl('EXISTS', "kefu:{s:$main::SHOP}:file:" . sha256_hex($f1)), 0, '... and its references');

# retain_sweep, conv_fields, retain_drop: an index entry whose hash expired
my $s3 = $main::S3;
rcl('ZADD', "kefu:{s:$s3}:convs", 1000, '4242424242');
rcl('HSET', "kefu:{s:$s3}:counts", 'closed', 1);
my $gone = 0;
for (1 .. 150) { if (!defined rcl('ZSCORE', "kefu:{s:$s3}:convs", '4242424242')) { $gone = 1; last } sleep 0.1 }
ok($gone, 'the retention sweep drops the index entry of a conversation gone');
is(rcl('HGET', "kefu:{s:$s3}:counts", 'closed'), 0, '... and counts it');

# retain_heal_site, retain_heal: a conversation 0.1.0 closed, none of its
# keys expiring, and its visitor's record get an expiry, each in its slot
my ($hc, $hv) = ("4343$r", "hv$r");
rcl('HSET', "kefu:{c:$hc}", site => $s3, visitor => $hv, state => 'closed', seq => 1,
    created => 1000, updated => 1000, closed => 1000);
rcl('RPUSH', "kefu:{c:$hc}:assignments", '{}');
rcl('HSET', "kefu:{s:$s3}:v:$hv", seen => 1000);
rcl('ZADD', "kefu:{s:$s3}:v:$hv:convs", 1000, $hc);
rcl('ZADD', "kefu:{s:$s3}:convs", 1000, $hc);
$gone = 0;
for (1 .. 150) { if (!defined rcl('ZSCORE', "kefu:{s:$s3}:convs", $hc)) { $gone = 1; last } sleep 0.1 }
ok($gone, 'the retention sweep gives a conversation 0.1.0 closed an expiry, then drops it');
is(rcl('EXISTS', "kefu:{c:$hc}:assignments"), 0, '... its keys gone');
isnt(rcl('TTL', "kefu:{s:$s3}:v:$hv"), -1, "... its visitor's record given an expiry");

# idle_sweep, conv_fields, (route_close), idle_done: an open conversation
# whose last event the test moves back past idle_close (60 s)
($st, $j, undef, $raw) = api(PUT => '/kefu/api/sites/shop1/settings', {idle_close => 60},
                             token => api_token(secret => $main::S1, site => 'shop1', role => 'admin', sub => 'boss5'));
is($st, 200, 'idle_close 60 stored') or diag $raw;
my $ik = "kefu:{s:$main::SHOP}:idle";
rcl('HSET', $ik, 'lease', int(time * 1000) + 600000, 'owner', 'test');
my ($vi, undef, $acki) = visitor($g, text => 'then silence');
ok(wait_conv($a, $acki->{conv}, state => 'open'), 'an open conversation');
rcl('ZADD', "kefu:{s:$main::SHOP}:convs", int(time * 1000) - 120000, $acki->{conv});
rcl('HDEL', $ik, 'cursor', 'lease', 'owner');
my $ic = wait_conv($vi, $acki->{conv}, state => 'closed', timeout => 30);
is($ic && $ic->{reason}, 'idle', 'the idle sweep closes it');
--- no_error_log
[error]



=== TEST 6: with kefu_redis cluster every script publishes (SPUBLISH) on a channel of its own slot: a conversation's, a participant's, a queue's, presence, settings, revocation; contact in two steps
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
ok($ack && $ack->{seq}, 'stored (msg)') or diag(Test::More::explain($ack));
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

=== TEST 7: with kefu_redis cluster a message is msg_slot in its conversation's slot, then its event by event_put in the site's: every message's event once on the stream, on two hosts and from the API, also when a worker died between the two calls (the next message, or the resend, puts it from the log)
--- sharded
--- ws
my $api = api_token(secret => $main::S1, site => 'shop1');
my ($port2) = start_host(<<"_C_");
    kefu_redis cluster 127.0.0.1:$ENV{TEST_NGINX_CLUSTER_REDIS_PORT} ping=500ms timeout=1s;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on default_group=presales;
_C_
my $g = 'outbox7';
my $t = jwt_hs256({sub => 'ob7', role => 'agent', site => $main::SHOP, exp => time + 300,
                   groups => [$g], capacity => 3}, $main::S1);
my ($ag, $aw) = kefu_connect(port => $port2, role => 'agent', site => 'shop1', token => $t,
                             status => 'online');
is($aw->{type}, 'welcome', 'an agent online on the second host');
# welcome goes out before the agent's presence is stored (route_up):
# waiting for it takes that step out of the race.  (CI once timed out
# on the assignment below, under load; a first message routed before
# route_up is queued, and route_up gives it with the same notice, so
# that order alone does not explain it: the cause was not found)
my $up;
for (1 .. 200) {
    $up = rcl('HGET', "kefu:{s:$main::SHOP}:a:ob7", 'state') // '';
    last if $up eq 'online';
    select undef, undef, undef, 0.05;
}
is($up, 'online', '... its presence stored');
my ($v, $vw) = kefu_connect(role => 'visitor', site => 'shop1', group => $g);
$v->send_json({type => 'msg', cid => 'o1', text => 'first'});
my $ack = $v->recv_type('ack');
ok($ack && $ack->{seq}, 'the first message is stored') or diag(Test::More::explain($ack));
my $conv = $ack->{conv};
ok($ag->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $conv && $_[0]{state} eq 'open' }),
   'the agent on the other host is assigned it');
my @seqs = ($ack->{seq});
for my $i (2 .. 3) {
    $v->send_json({type => 'msg', conv => $conv, cid => "o$i", text => "visitor $i"});
    push @seqs, $v->recv_type('ack')->{seq};
    $ag->send_json({type => 'msg', conv => $conv, cid => "a$i", text => "agent $i"});
    my $a = $ag->wait_for(sub { $_[0]{type} eq 'ack' && $_[0]{cid} eq "a$i" });
    push @seqs, $a->{seq};
}
my ($st, $j, undef, $raw) = api(POST => "/kefu/api/sites/shop1/convs/$conv/messages",
                                {cid => 'api1', text => 'from the backend'}, token => $api);
is($st, 201, "the API's message") or diag $raw;
push @seqs, $j->{seq};
my $vm = $v->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{cid} // '') eq 'api1' });
ok($vm, 'the visitor gets it');

# the stream, read until every message's event is there: each once
my $msgs = sub {
    my %n;
    for my $e (@{ rcl('XRANGE', "kefu:{s:$main::SHOP}:events", '-', '+') }) {
        my %f = @{ $e->[1] };
        $n{$f{seq}}++ if $f{conv} eq $conv && $f{event} eq 'msg';
    }
    return \%n;
};
my $wait_all = sub {
    my ($want) = @_;
    my $n;
    for (1 .. 200) {
        $n = $msgs->();
        last if (grep { $n->{$_} } @$want) == @$want;
        sleep 0.05;
    }
    return $n;
};
my $n = $wait_all->(\@seqs);
is_deeply([map { $n->{$_} // 0 } @seqs], [map { 1 } @seqs], 'every message\'s event once on the stream')
    or diag(Test::More::explain($n));
is(scalar keys %$n, scalar @seqs, 'and nothing else as msg');
is(rcl('HGET', "kefu:{s:$main::SHOP}:ev", $conv), $seqs[-1], 'the site\'s mark is the last message');
ok(rcl('TTL', "kefu:{s:$main::SHOP}:v:$vw->{id}") > 0, 'the visitor\'s record is kept alive (with an expiry)');

# a worker that died between msg and event_put: the log has the message,
# the stream not, the mark is behind (as event_put never ran)
my $lose = sub {
    my ($seq) = @_;
    for my $e (@{ rcl('XRANGE', "kefu:{s:$main::SHOP}:events", '-', '+') }) {
        my %f = @{ $e->[1] };
        rcl('XDEL', "kefu:{s:$main::SHOP}:events", $e->[0])
            if $f{conv} eq $conv && $f{event} eq 'msg' && $f{seq} == $seq;
    }
    rcl('HSET', "kefu:{s:$main::SHOP}:ev", $conv, $seq - 1);
};
$lose->($seqs[-1]);
is($msgs->()->{$seqs[-1]}, undef, 'one event lost');
$v->send_json({type => 'msg', conv => $conv, cid => 'o9', text => 'after the loss'});
push @seqs, $v->recv_type('ack')->{seq};
$n = $wait_all->(\@seqs);
is_deeply([map { $n->{$_} // 0 } @seqs], [map { 1 } @seqs],
          'the next message puts the lost event from the log, and its own: each once')
    or diag(Test::More::explain($n));

# the same loss, then the client's resend of that message (a duplicate)
$lose->($seqs[-1]);
$v->send_json({type => 'msg', conv => $conv, cid => 'o9', text => 'after the loss'});
my $dup = $v->recv_type('ack');
ok($dup->{dup}, 'the resend is a duplicate');
$n = $wait_all->(\@seqs);
is_deeply([map { $n->{$_} // 0 } @seqs], [map { 1 } @seqs], 'and its event is put once')
    or diag(Test::More::explain($n));

# a repeat of event_put changes nothing: a message more, each once still
$v->send_json({type => 'msg', conv => $conv, cid => 'o10', text => 'last'});
push @seqs, $v->recv_type('ack')->{seq};
$n = $wait_all->(\@seqs);
is_deeply([map { $n->{$_} // 0 } @seqs], [map { 1 } @seqs], 'all once at the end') or diag(Test::More::explain($n));
is(rcl('HGET', "kefu:{s:$main::SHOP}:ev", $conv), $seqs[-1], 'the mark at the last');

=== TEST 8: routing in two steps with kefu_redis cluster: every routing script in the site's slot, each conversation's side (conv_apply) in its own; assignments, drain, transfer, accept, join, close, rate land in the conversations' hashes and logs, and on the stream with their seqs
--- sharded
--- ws
# without "#!lua" Redis would not refuse a key of another slot, and this
# test could not fail
for my $s (qw(route_accept route_close route_down route_drain route_handoff route_handover
              route_join route_rate route_status route_sweep route_up lease_renew lease_sync
              lease_release conv_apply route_put open route_new)) {
    open(my $fh, '<', "$FindBin::Bin/../ngx_kefu_module/lua/$s.lua") or die "$s.lua: $!";
    like(scalar <$fh>, qr/^#!lua\b/, "$s.lua is a #!lua script");
}
my $r = int rand 1e6;
my ($g, $g2) = (uniq_group(), uniq_group());
my $adm = api_token(secret => $main::S1, site => 'shop1', role => 'admin', sub => "boss$r");
my ($a) = agent("ta$r", groups => [$g], status => 'online', capacity => 1, name => 'Tao');
my ($v, $vw, $ack, $n1) = visitor($g, text => 'first');
my $c = $ack->{conv};
is($n1->{state}, 'open', 'assigned at once (route_up put the agent in the free set)');
my ($v2, $vw2, $ack2, $n2) = visitor($g, text => 'second');
my $c2 = $ack2->{conv};
is($n2->{state}, 'queued', 'the next one queued: the agent is full');

# another agent comes online: route_up drains the queue to it, in two steps
my ($b) = agent("tb$r", groups => [$g], status => 'online', capacity => 2, name => 'Bo');
ok(wait_conv($v2, $c2, state => 'open', agent => "tb$r"), 'the queued one goes to the new agent (drain)');
my $sys = $v2->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{event} // '') eq 'assigned' });
ok($sys && $sys->{seq}, 'its visitor gets the system entry (conv_apply, on kefu:{c:<conv>})') or diag(Test::More::explain($sys));
is(rcl('HGET', "kefu:{c:$c2}", 'agent'), "tb$r", 'the conversation\'s hash has its agent');
is(rcl('HGET', "kefu:{c:$c2}", 'state'), 'open', '... and state');
is(rcl('HGET', "kefu:{s:$main::SHOP}:r:$c2", 'agent'), "tb$r", 'so has its routing record (the site\'s)');

# transfer to a group whose one agent is away: queued there; it accepts
my ($d) = agent("td$r", groups => [$g2], capacity => 1, name => 'Di', status => 'away');
$a->send_json({type => 'transfer', conv => $c, group => $g2, cid => 't1'});
ok(wait_conv($v, $c, state => 'queued', group => $g2), 'transferred to a group: queued');
$d->send_json({type => 'accept', conv => $c, cid => 'ac'});
ok(wait_conv($v, $c, state => 'open', agent => "td$r"), 'accepted by an agent of that group');
my $acc = $v->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{event} // '') eq 'accepted' });
ok($acc, 'the accept\'s system entry reaches the visitor');

# a supervisor joins; the agent closes; the visitor rates
my ($m) = kefu_connect(role => 'admin', site => 'shop1', token => $adm);
$m->send_json({type => 'join', conv => $c, cid => 'j1'});
ok(wait_conv($m, $c, reason => 'joined'), 'a supervisor joins');
$d->send_json({type => 'close', conv => $c, cid => 'cl'});
ok(wait_conv($v, $c, state => 'closed'), 'closed');
$v->send_json({type => 'rate', conv => $c, score => 4, cid => 'rt'});
my $rt = $v->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{rating} });
is($rt && $rt->{rating}{score}, 4, 'rated');

# the conversation's side: hash, log, joined, expiry
my %h = @{ rcl('HGETALL', "kefu:{c:$c}") };
is($h{state}, 'closed', 'its hash: closed');
is($h{score}, 4, '... rated');
is($h{agent}, "td$r", '... by its last agent');
is($h{group}, $g2, '... in the group it went to');
ok(rcl('SISMEMBER', "kefu:{c:$c}:joined", "m:boss$r"), 'the supervisor is in its joined set');
ok(rcl('TTL', "kefu:{c:$c}:log") > 0, 'its log expires (the retention)');
ok(rcl('TTL', "kefu:{s:$main::SHOP}:r:$c") > 0, 'so does its routing record');
my @log = map { json_dec({@{ $_->[1] }}->{j}) } @{ rcl('XRANGE', "kefu:{c:$c}:log", '-', '+') };
is_deeply([map { $_->{event} // 'msg' } @log], [qw(msg assigned transferred accepted joined closed)],
          'its log: the message and each system entry, in order') or diag Test::More::explain \@log;
is_deeply([map { $_->{seq} } @log], [1 .. 6], '... with seqs 1 to 6');

# the stream: every conv.* event once, the system entries' with their seq
my $want = {map { $_->{seq} => $_ } grep { $_->{event} } @log};
my @ev;
for (1 .. 50) {
    @ev = grep { $_->{conv} eq $c } map { +{@{ $_->[1] }} }
          @{ rcl('XRANGE', "kefu:{s:$main::SHOP}:events", '-', '+') };
    last if grep { $_->{event} eq 'conv.rated' } @ev;
    sleep 0.1;
}
# the message's own event comes by event_put, per event-loop pass: it may
# follow the routing of the conversation it opened (docs/events.md)
is(scalar(grep { $_->{event} eq 'msg' } @ev), 1, 'the message\'s event is on the stream once');
is_deeply([map { $_->{event} } grep { $_->{event} ne 'msg' } @ev],
          [qw(conv.created conv.assigned conv.transferred conv.queued conv.assigned conv.joined conv.closed conv.rated)],
          'the stream has each routing event once, in order') or diag Test::More::explain \@ev;
my @seqd = grep { $_->{seq} ne '' && $_->{event} ne 'msg' } @ev;
is(scalar(@seqd), 5, 'five carry a seq');
is_deeply([map { json_dec($_->{data})->{id} } @seqd], [map { $want->{$_->{seq}}{id} } @seqd],
          '... each its log entry\'s (same id at that seq)');
my @asg = map { json_dec($_) } @{ rcl('LRANGE', "kefu:{c:$c}:assignments", 0, -1) };
is_deeply([map { $_->{event} } @asg],
          [qw(conv.created conv.assigned conv.transferred conv.queued conv.assigned conv.joined conv.closed conv.rated)],
          'its assignments list: every conv.* event') or diag Test::More::explain \@asg;
my $left = rcl('ZRANGE', "kefu:{s:$main::SHOP}:apply", 0, -1);
is(scalar(@$left), 0, 'nothing is left pending')
    or diag Test::More::explain [map { [$_, rcl('HGETALL', "kefu:{s:$main::SHOP}:r:$_"),
                                        rcl('HGETALL', "kefu:{c:$_}")] } @$left];
--- no_error_log
[error]
[warn]

=== TEST 9: a routing step whose conversation's side could not be written (its worker died, its call failed) is replayed by the route sweep from the record
--- sharded
--- ws
my $r = int rand 1e6;
my $g = uniq_group();
my ($a) = agent("hx$r", groups => [$g], status => 'online', capacity => 2);
my ($v, $vw, $ack) = visitor($g, text => 'hello');
my $c = $ack->{conv};
ok(wait_conv($a, $c, state => 'open'), 'open');
# the conversation's slot refuses conv_apply for now: its hash is not a hash
rcl('RENAME', "kefu:{c:$c}", "kefu:{c:$c}:aside");
rcl('SET', "kefu:{c:$c}", 'x');
$a->send_json({type => 'close', conv => $c, cid => 'cl'});
ok(wait_conv($a, $c, state => 'closed'), 'the close is decided (the site\'s step): its agent is answered');
my $p;
for (1 .. 100) { $p = rcl('ZSCORE', "kefu:{s:$main::SHOP}:apply", $c); last if $p; sleep 0.05 }
ok($p, 'its conversation\'s side is pending in the site\'s apply set');
is(rcl('HGET', "kefu:{c:$c}:aside", 'state'), 'open', 'and not written');
rcl('DEL', "kefu:{c:$c}");
rcl('RENAME', "kefu:{c:$c}:aside", "kefu:{c:$c}");
ok(wait_conv($v, $c, state => 'closed', timeout => 15),
   'the sweep applies it: the visitor is told (its notice waited for the conversation\'s side)');
my $e = $v->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{event} // '') eq 'closed' }, 15);
ok($e, '... and gets the closed entry') or diag(Test::More::explain($e));
is(rcl('HGET', "kefu:{c:$c}", 'state'), 'closed', 'the hash is closed');
my $ev;
for (1 .. 100) {
    ($ev) = grep { $_->{conv} eq $c && $_->{event} eq 'conv.closed' } map { +{@{ $_->[1] }} }
            @{ rcl('XRANGE', "kefu:{s:$main::SHOP}:events", '-', '+') };
    last if $ev;
    sleep 0.05;
}
is($ev && $ev->{seq}, $e && $e->{seq}, 'conv.closed reaches the stream with the entry\'s seq');
for (1 .. 100) { last unless rcl('ZSCORE', "kefu:{s:$main::SHOP}:apply", $c); sleep 0.05 }
ok(!rcl('ZSCORE', "kefu:{s:$main::SHOP}:apply", $c), 'and leaves the apply set');
ok(!rcl('HEXISTS', "kefu:{s:$main::SHOP}:r:$c", 'ap'), '... and the record\'s pending side');
--- no_error_log
[error]

=== TEST 10: a visitor's first message in two steps: open in the site's slot, its conversation's side (the hash, the greeting, conv.created) by conv_apply before msg; a side never written (its worker died between the steps) is made by the route sweep's replay, which also routes it
--- sharded
--- ws
my $r = int rand 1e6;
my $g = uniq_group();
my $adm = api_token(secret => $main::S1, site => 'shop1', role => 'admin', sub => "boss$r");
my ($st, undef, undef, $raw) = api(PUT => '/kefu/api/sites/shop1/settings',
    {texts => {en => {welcome => "Welcome $r", offline => "Away $r"}}}, token => $adm);
is($st, 200, 'a greeting in the site\'s settings') or diag $raw;
# an English visitor on a worker that has the new settings
my $fresh = sub {
    my ($ws, $w);
    for (1 .. 400) {
        ($ws, $w) = kefu_connect(role => 'visitor', site => 'shop1', group => $g, lang => 'en');
        return ($ws, $w) if ($w->{availability}{offline} // '') eq "Away $r";
        sleep 0.025;
    }
    die "the settings never reached a worker\n";
};
my ($a) = agent("oa$r", groups => [$g], status => 'online', capacity => 5);
my ($v, $vw) = $fresh->();
$v->send_json({type => 'msg', cid => 'first', text => 'hello'});
my $ack = $v->recv_type('ack');
my $c = $ack->{conv};
is($ack->{seq}, 2, 'the first message is stored after the greeting');
ok(wait_conv($a, $c, state => 'open'), 'and routed to the agent');
my %h = @{ rcl('HGETALL', "kefu:{c:$c}") };
is_deeply([@h{qw(site visitor group state agent)}], [$main::SHOP, $vw->{id}, $g, 'open', "oa$r"],
          'its hash (made by conv_apply from open\'s step, then routed)') or diag Test::More::explain(\%h);
my @log = map { json_dec({@{ $_->[1] }}->{j}) } @{ rcl('XRANGE', "kefu:{c:$c}:log", '-', '+') };
is_deeply([map { [$_->{seq}, $_->{event} // 'msg'] } @log], [[1, 'greeting'], [2, 'msg'], [3, 'assigned']],
          'its log: greeting, message, assignment') or diag Test::More::explain(\@log);
is($log[0]{text}, "Welcome $r", 'the greeting\'s text');
is($log[0]{conv}, $c, '... its JSON built around its seq');
my @ev;
for (1 .. 100) {
    @ev = grep { $_->{conv} eq $c } map { +{@{ $_->[1] }} }
          @{ rcl('XRANGE', "kefu:{s:$main::SHOP}:events", '-', '+') };
    last if grep { $_->{event} eq 'conv.assigned' } @ev;
    sleep 0.05;
}
is_deeply([sort map { $_->{event} } @ev], [qw(conv.assigned conv.created msg)],
          'the stream: conv.created, the message, the assignment, each once') or diag Test::More::explain(\@ev);
is_deeply([map { json_dec($_)->{event} } @{ rcl('LRANGE', "kefu:{c:$c}:assignments", 0, -1) }],
          [qw(conv.created conv.assigned)], 'its assignments list');
ok(!rcl('HEXISTS', "kefu:{s:$main::SHOP}:r:$c", 'ap'), 'nothing pending in its record');
ok(!defined rcl('ZSCORE', "kefu:{s:$main::SHOP}:apply", $c), '... nor in the apply set');

# the conversations' slots refused to the module's Redis user (ACL) while
# a first message is opened, as if its worker died after open's step
my ($v2, $vw2) = $fresh->();
rcl('ACL', 'SETUSER', 'default', 'resetkeys', '~kefu:{s:*', '~kefu:{nodes}*');
$v2->send_json({type => 'msg', cid => 'once', text => 'anyone there?'});
my $no = $v2->wait_for(sub { $_[0]{type} eq 'ack' || $_[0]{type} eq 'error' });
is($no && $no->{code}, "unavailable", "not stored: the visitor is told to resend") or diag Test::More::explain($no);
my $c2 = rcl('HGET', "kefu:{s:$main::SHOP}:v:$vw2->{id}", 'open');
ok($c2, 'open\'s step made the conversation in the site\'s slot');
ok(rcl('HEXISTS', "kefu:{s:$main::SHOP}:r:$c2", 'ap'), 'its side is pending in its record');
ok(defined rcl('ZSCORE', "kefu:{s:$main::SHOP}:apply", $c2), '... listed for the route sweep');
ok(defined rcl('ZSCORE', "kefu:{s:$main::SHOP}:opening", $c2), '... and not routed');
rcl('ACL', 'SETUSER', 'default', 'allkeys');
my %h2;
for (1 .. 300) { %h2 = @{ rcl('HGETALL', "kefu:{c:$c2}") }; last if %h2; sleep 0.05 }
is_deeply([@h2{qw(site visitor group)}], [$main::SHOP, $vw2->{id}, $g],
          'the sweep\'s replay made its hash') or diag Test::More::explain(\%h2);
ok(wait_conv($a, $c2, state => 'open', timeout => 20), 'and the sweep routed it to the agent');
$v2->send_json({type => 'msg', cid => 'once', text => 'anyone there?'});
my $ack2 = $v2->recv_type('ack');
is($ack2->{conv}, $c2, 'the resend is stored in it');
@log = map { json_dec({@{ $_->[1] }}->{j}) } @{ rcl('XRANGE', "kefu:{c:$c2}:log", '-', '+') };
is_deeply([map { [$_->{seq}, $_->{event} // 'msg'] } @log], [[1, 'greeting'], [2, 'assigned'], [3, 'msg']],
          'its log: greeting, assignment, message') or diag Test::More::explain(\@log);
is($log[0]{text}, "Welcome $r", 'the greeting written by the replay');
my @ev2;
for (1 .. 100) {
    @ev2 = grep { $_->{conv} eq $c2 } map { +{@{ $_->[1] }} }
           @{ rcl('XRANGE', "kefu:{s:$main::SHOP}:events", '-', '+') };
    last if grep { $_->{event} eq 'msg' } @ev2;
    sleep 0.05;
}
is_deeply([map { $_->{event} } @ev2], [qw(conv.created conv.assigned msg)],
          'the stream: each event once, in order') or diag Test::More::explain(\@ev2);
for (1 .. 100) { last unless rcl('ZSCORE', "kefu:{s:$main::SHOP}:apply", $c2); sleep 0.05 }
ok(!defined rcl('ZSCORE', "kefu:{s:$main::SHOP}:apply", $c2), 'nothing left pending');
ok(!rcl('HEXISTS', "kefu:{s:$main::SHOP}:r:$c2", 'ap'), '... in the record either');
--- no_error_log
[error]

=== TEST 11: with kefu_redis cluster the queue's preview of a conversation (its routing record's "last", in the site's slot) is the opening message's (open), then kept by event_put as each message's event is put: the latest reply, not a private note; a transfer's queue notice carries it
--- sharded
--- ws
my $r = int rand 1e6;
my ($g, $g2) = (uniq_group(), uniq_group());
# capacity 0: the first message waits in the queue
my ($a) = agent("pa$r", groups => [$g], status => 'online', capacity => 0, name => 'Pat');
my ($v, $vw, $ack) = visitor($g, text => 'first of all');
my $c = $ack->{conv};
my $q = $a->wait_for(sub { $_[0]{type} eq 'conv' && ($_[0]{reason} // '') eq 'queue'
                           && $_[0]{conv} eq $c && $_[0]{queued} });
is($q && $q->{last}, 'first of all', 'the queue notice of a new conversation: the message that opened it (open keeps it)');
$a->send_json({type => 'accept', conv => $c, cid => 'ac'});
ok(wait_conv($a, $c, state => 'open'), 'accepted');
my $rk = "kefu:{s:$main::SHOP}:r:$c";
# the event's mark moves in the same step as the preview: wait for it
my $put = sub {
    my ($seq) = @_;
    for (1 .. 100) {
        return 1 if (rcl('HGET', "kefu:{s:$main::SHOP}:ev", $c) // 0) >= $seq;
        sleep 0.05;
    }
    return 0;
};
$v->send_json({type => 'msg', conv => $c, cid => 'v2', text => 'where is my parcel?'});
my $a2 = $v->wait_for(sub { $_[0]{type} eq 'ack' && $_[0]{cid} eq 'v2' });
ok($put->($a2->{seq}), 'the visitor\'s message\'s event is put');
is(rcl('HGET', $rk, 'last'), 'where is my parcel?', 'the record\'s preview is the visitor\'s message');
$a->send_json({type => 'msg', conv => $c, cid => 'r1', text => 'on its way: ' . ('x' x 100)});
$a->wait_for(sub { $_[0]{type} eq 'ack' && $_[0]{cid} eq 'r1' });
$a->send_json({type => 'msg', conv => $c, cid => 'n1', text => 'VIP customer', private => JSON::PP::true()});
my $an = $a->wait_for(sub { $_[0]{type} eq 'ack' && $_[0]{cid} eq 'n1' });
ok($put->($an->{seq}), 'the note\'s event is put too');
like(rcl('HGET', $rk, 'last'), qr/^on its way: x+\.\.\.$/, 'the preview: the agent\'s reply, cut; not the note');
my ($d) = agent("pd$r", groups => [$g2], capacity => 1, name => 'Dee', status => 'away');
$a->send_json({type => 'transfer', conv => $c, group => $g2, cid => 't1'});
my $n = $d->wait_for(sub { $_[0]{type} eq 'conv' && ($_[0]{reason} // '') eq 'queue'
                           && $_[0]{conv} eq $c && $_[0]{queued} });
ok($n, 'the other group\'s agent is told it entered its queue');
like($n && $n->{last}, qr/^on its way: x+\.\.\.$/, '... with its preview (the record\'s, in the site\'s slot)');
ok(applied($c), 'the transfer is applied on the conversation\'s side too');
is(rcl('HGET', "kefu:{c:$c}", 'group'), $g2, '... which is in the other group');
--- no_error_log
[error]
[warn]

=== TEST 12: with kefu_redis cluster a rule's labels (label, in the conversation's slot) are copied onto the routing record (label_put, the site's slot), so routing's notices carry them to agents
--- sharded
--- ws
my $r = int rand 1e6;
my $g = uniq_group();
my $adm = api_token(secret => $main::S1, site => 'shop1', role => 'admin', sub => 'boss');
my ($st, undef, undef, $raw) = api(PUT => '/kefu/api/sites/shop1/settings', {rules => [
    {id => "lb$r", when => {type => 'message'}, if => [{keywords => ["refund$r"]}],
     then => [{label => 'refund'}]}]}, token => $adm);
is($st, 200, 'a rule that labels') or diag $raw;
my ($a) = agent("la$r", groups => [$g], status => 'online', capacity => 1, name => 'Lu');
my ($v, $vw, $ack) = visitor($g, text => 'hello');
my $c = $ack->{conv};
ok(wait_conv($a, $c, state => 'open'), 'assigned');
# the settings reach the visitor's worker by pub/sub: ask until the rule fires
my $n;
for my $i (1 .. 30) {
    $v->send_json({type => 'msg', conv => $c, cid => "rf$i", text => "a refund$r please"});
    $n = $a->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $c && $_[0]{labels} }, 1);
    last if $n;
}
is_deeply($n && $n->{labels}, ['refund'], 'labeled: its agent is told');
is(rcl('HGET', "kefu:{c:$c}", 'labels'), '["refund"]', 'the conversation\'s hash has the label');
my $rec;
for (1 .. 100) { $rec = rcl('HGET', "kefu:{s:$main::SHOP}:r:$c", 'labels'); last if $rec; sleep 0.05 }
is($rec, '["refund"]', 'so has its routing record');
($st, undef, undef, $raw) = api(POST => "/kefu/api/sites/shop1/convs/$c/close", {}, token => $adm);
is($st, 200, 'closed by the API (route_close)') or diag $raw;
my $cn = $a->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $c && ($_[0]{state} // '') eq 'closed' });
is_deeply($cn && $cn->{labels}, ['refund'], 'routing\'s closed notice carries the labels to its agent');
my $vn = $v->wait_for(sub { $_[0]{type} eq 'conv' && ($_[0]{state} // '') eq 'closed' });
ok($vn && !exists $vn->{labels}, 'the visitor\'s none');
ok(applied($c), 'the close is applied on the conversation\'s side too');
--- no_error_log
[error]
[warn]



=== TEST 13: with kefu_redis cluster one pass's messages of conversations in different slots are stored each in its own slot's call (group commit): an agent's messages in three conversations in one write are all acknowledged and delivered
--- sharded
--- ws
my $r = int rand 1e6;
my $g = uniq_group();
my ($a) = agent("gc$r", groups => [$g], status => 'online', capacity => 3);
my (@v, @c);
for my $i (1 .. 3) {
    my ($v, undef, $ack) = visitor($g, text => "visitor $i");
    ok(wait_conv($a, $ack->{conv}, state => 'open'), "conversation $i assigned");
    push @v, $v;
    push @c, $ack->{conv};
}
my %slots = map { rcl('CLUSTER', 'KEYSLOT', "kefu:{c:$_}") => 1 } @c;
cmp_ok(scalar(keys %slots), '>=', 2, 'the conversations are in different slots');
# one write: the worker reads the three frames in one pass
$a->send_raw(join '', map { ws_frame(1, json_enc({type => 'msg', conv => $c[$_], cid => "gc$_",
                                                  text => "reply $_"})) } 0 .. 2);
for my $i (0 .. 2) {
    my $m = $a->wait_for(sub { ($_[0]{cid} // '') eq "gc$i" });
    is($m && $m->{type}, 'ack', "the message in conversation $i is acknowledged")
        or diag(Test::More::explain($m));
    my $got = $v[$i]->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{text} // '') eq "reply $i" });
    ok($got, "... and delivered to its visitor");
}
--- no_error_log
was not stored
CROSSSLOT

=== TEST 14: with kefu_redis cluster an event_put that fails keeps its events for the retry timer: while the site's marks are not a hash (WRONGTYPE) the messages are stored and acknowledged but their events not put; once the marks are right again the timer puts them, each once and in order, with no message after them
--- sharded
--- ws
my $r = int rand 1e6;
my $g = uniq_group();
my ($a) = agent("ep$r", groups => [$g], status => 'online', capacity => 3);
my ($v, undef, $ack) = visitor($g, text => 'before');
my $conv = $ack->{conv};
ok(wait_conv($a, $conv, state => 'open'), 'the conversation is assigned');
my $marks = "kefu:{s:$main::SHOP}:ev";
my $seqs = sub {
    my @s;
    for my $e (@{ rcl('XRANGE', "kefu:{s:$main::SHOP}:events", '-', '+') }) {
        my %f = @{ $e->[1] };
        push @s, $f{seq} if $f{conv} eq $conv && $f{event} eq 'msg';
    }
    return \@s;
};
my $first = $ack->{seq};
for (1 .. 200) {
    last if (rcl('HGET', $marks, $conv) // 0) == $first;
    sleep 0.05;
}
is(rcl('HGET', $marks, $conv), $first, "the first message's event is put");
# the site's marks taken away (kept under a key of the same slot) and
# something else in their place: every event_put of the site fails
rcl('RENAME', $marks, "$marks:kept");
rcl('SET', $marks, 'not a hash');
my @want = ($first);
for my $i (1 .. 3) {
    $v->send_json({type => 'msg', conv => $conv, cid => "ep$i", text => "while broken $i"});
    my $m = $v->recv_type('ack');
    ok($m && $m->{seq}, "message $i is stored while event_put fails")
        or diag(Test::More::explain($m));
    push @want, $m->{seq};
}
sleep 1.5;
is_deeply($seqs->(), [$first], 'their events are not on the stream');
rcl('DEL', $marks);
rcl('RENAME', "$marks:kept", $marks);
my $got;
for (1 .. 200) {
    $got = $seqs->();
    last if @$got >= @want;
    sleep 0.05;
}
is_deeply($got, \@want, 'the retry timer puts them once the marks are right: each once, in order')
    or diag(Test::More::explain($got));
is(rcl('HGET', $marks, $conv), $want[-1], 'the mark at the last message');
--- error_log
message events not put yet: tried again in 1000 ms
--- no_error_log
[error]



=== TEST 15: events waiting for the retry timer when the worker exits (a reload) are let go of, counted in the log: the timer stopped, the queue freed after the Redis layer's exit (under scripts/test --sanitize nothing touched after free)
--- sharded
--- ws
my $r = int rand 1e6;
my $g = uniq_group();
my ($a) = agent("ex$r", groups => [$g], status => 'online', capacity => 3);
my ($v, undef, $ack) = visitor($g, text => 'before');
my $conv = $ack->{conv};
ok(wait_conv($a, $conv, state => 'open'), 'the conversation is assigned');
my $marks = "kefu:{s:$main::SHOP}:ev";
for (1 .. 200) {
    last if (rcl('HGET', $marks, $conv) // 0) == $ack->{seq};
    sleep 0.05;
}
is(rcl('HGET', $marks, $conv), $ack->{seq}, "the first message's event is put");
# every event_put of the site fails from here (TEST 14)
rcl('RENAME', $marks, "$marks:kept");
rcl('SET', $marks, 'not a hash');
for my $i (1 .. 3) {
    $v->send_json({type => 'msg', conv => $conv, cid => "ex$i", text => "before the exit $i"});
    my $m = $v->recv_type('ack');
    ok($m && $m->{seq}, "message $i is stored while event_put fails");
}
my $log = server_root() . '/logs/error.log';
ok(t::Kefu::wait_log_count($log, qr/message events not put yet/, 1), 'they wait for the timer');
kill 'HUP', nginx_pid();
ok(t::Kefu::wait_log_count($log, qr/message events not put at exit/, 1), 'the exiting worker lets them go');
my $n = 0;
open my $fh, '<', $log or die $!;
while (<$fh>) { $n += $1 if /kefu: (\d+) message events not put at exit/ }
close $fh;
is($n, 3, 'all three, once');
rcl('DEL', $marks);
rcl('RENAME', "$marks:kept", $marks);
--- error_log
message events not put at exit: each conversation's next message puts them
--- no_error_log
[error]
