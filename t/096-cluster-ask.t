# A slot in migration, proven against a real Redis Cluster: the slot that
# holds a live conversation's keys is put in MIGRATING (on its master)
# and IMPORTING (on another) state with CLUSTER SETSLOT, its keys moved
# with MIGRATE, and the conversation's reads and writes are answered
# right through ASK (the Redis layer sends ASKING and the call to the
# importing master, without changing its map); once the slot is given to
# the new master (CLUSTER SETSLOT ... NODE), through MOVED (the map taken
# again; counted, not asserted: the worker may have taken the map again
# before, when its sharded pub/sub link heard of the move), and then
# straight to the new master.
#
# Reads: welcome's summary (summary.lua), the resumed catch-up
# (range.lua), history (history.lua), the API's log (api_log.lua) and
# conversation (api_conv.lua); write: a read pointer (read.lua).  Each
# redirection is counted by the masters (INFO errorstats).
#
# The cluster is scripts/test --cluster3's when run that way, else one of
# this file's own (three masters, three replicas; t/lib/Kefu/Cluster.pm),
# also under --cluster, whose one node has no other master.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::Cluster;

workers(1);
master_on();

# the run's cluster only where it has another master to migrate the slot
# to: scripts/test --cluster's one node holds every slot
our $C;
if ($ENV{TEST_NGINX_REDIS_CLUSTER}) {
    $C = Kefu::Cluster->attach($ENV{TEST_NGINX_REDIS_PORT});
    undef $C if $C->masters < 2;
}
$C //= Kefu::Cluster->new;

# the site's slot on slot 0's master: scripts that do not declare their
# keys yet (lease_*, branch splitw) go there, and must find the site's
our $SITE;
for (1 .. 1000) {
    $SITE = 'ask' . (100000 + int rand 900000);
    last if $C->master_of_slot($C->slot("kefu:{s:$SITE}:counts"))
            == $C->master_of_slot(0);
}
our $SECRET = "$SITE-secret-0123456789abcdef";
our ($SEED) = $C->masters;

# a conversation whose slot is not the site's
our ($CONV, $S);
{
    my $site_slot = $C->slot("kefu:{s:$SITE}:counts");
    for (1 .. 100) {
        $CONV = "4" . join("", map { int rand 10 } 1 .. 17);
        $S = $C->slot("kefu:{c:$CONV}");
        last if $S != $site_slot;
    }
}

$ENV{TEST_NGINX_ASK_SEED} = $SEED;
$ENV{TEST_NGINX_ASK_SITE} = $SITE;
$ENV{TEST_NGINX_ASK_SECRET} = $SECRET;

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', <<'_EOC_');
    kefu_redis cluster 127.0.0.1:$TEST_NGINX_ASK_SEED connect_timeout=500ms timeout=2s ping=500ms;
    kefu_site $TEST_NGINX_ASK_SITE secret=$TEST_NGINX_ASK_SECRET anonymous=on;
_EOC_
    $block->set_value('config', ($block->config // '') . <<'_EOC_');
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
_EOC_
});

# redirections the masters answered since the last reset (INFO errorstats)
sub redirections {
    my ($kind) = @_;
    my $n = 0;
    for my $m ($C->masters) {
        my $info = redis(port => $m, 'INFO', 'errorstats');
        $n += $1 if $info =~ /errorstat_$kind:count=(\d+)/;
    }
    return $n;
}

sub reset_stats { redis(port => $_, 'CONFIG', 'RESETSTAT') for $C->masters }

# a visitor's conversation of two messages, written as the module does
sub seed {
    my ($vid) = @_;
    my $now = int(time * 1000);
    my $ck = "kefu:{c:$CONV}";
    $C->cmd('HSET', $ck, 'site', $SITE, 'visitor', $vid, 'state', 'open',
            'seq', 2, 'group', 'g1', 'created', $now, 'updated', $now);
    for my $i (1, 2) {
        my $j = qq({"type":"msg","conv":"$CONV","id":"${CONV}$i","seq":$i,"ts":$now,)
              . qq("from":{"role":"visitor","id":"$vid"},"cid":"c$i","text":"message $i"});
        $C->cmd('XADD', "$ck:log", "$i-1", 'j', $j, 'f', "v:$vid", 'p', 0, 's', '-');
    }
    # the sets a script declares besides: a call on an importing master
    # must find every key it declares (a key absent there is answered
    # TRYAGAIN for as long as the slot migrates)
    $C->cmd('SADD', "$ck:joined", 'm:auditor');
    $C->cmd('RPUSH', "$ck:assignments",
            qq({"event":"conv.created","seq":0,"ts":$now,"data":{}}));
    $C->cmd('HSET', "kefu:{s:$SITE}:v:$vid", 'open', $CONV, 'name', 'Ask Visitor');
    $C->cmd('ZADD', "kefu:{s:$SITE}:v:$vid:convs", $now, $CONV);
}

# a connection of the visitor resuming the conversation from the start:
# (welcome, the messages caught up)
sub resume {
    my ($vid) = @_;
    my $t = jwt_hs256({sub => $vid, role => 'visitor', site => $SITE,
                       exp => time + 300}, $SECRET);
    my ($ws, $w) = kefu_connect(role => 'visitor', site => $SITE, token => $t,
                                resume => {$CONV => 0});
    my @m = map { my $s = $_; $ws->wait_for(sub { $_[0]{type} eq 'msg' && $_[0]{seq} == $s }) } 1, 2;
    return ($ws, $w, @m);
}

run_tests();

__DATA__

=== TEST 1: a conversation's slot migrating: reads and writes through ASK, then MOVED once it moved, then straight
--- ws
my $C = $main::C;
my $vid = 'askv' . int rand 1e6;
main::seed($vid);
my $ck = "kefu:{c:$main::CONV}";
my $S = $main::S;
my $A = $C->master_of_slot($S);
my ($B) = grep { $_ != $A } $C->masters;
my ($aid, $bid) = ($C->node_id($A), $C->node_id($B));
my $api = api_token(secret => $main::SECRET, site => $main::SITE);
api_ready("/kefu/api/sites/$main::SITE/convs/$main::CONV", token => $api) or die "not ready\n";
# a key of another hash tag in the same slot: on scripts/test --cluster3's
# cluster other files' keys share the slot too, and a resharding moves
# every key of it
my $other;
for (my $n = 0; ; $n++) {
    $other = "kefu:{ask-other-$n}:x";
    last if Kefu::Net::key_slot($other) == $S;
}
$C->cmd('SET', $other, 'still here');

# before: read where the slot is
my ($ws0, $w0, @m0) = main::resume($vid);
is_deeply([map { $_ && $_->{text} } @m0], ['message 1', 'message 2'], 'before: caught up from the slot\'s master');
$ws0->close_ws(1000, 'bye');

# the slot in migration from A to B, the conversation's keys already on B
is(redis(port => $B, 'CLUSTER', 'SETSLOT', $S, 'IMPORTING', $aid), 'OK', "slot $S importing on $B");
is(redis(port => $A, 'CLUSTER', 'SETSLOT', $S, 'MIGRATING', $bid), 'OK', "slot $S migrating on $A");
is(redis(port => $A, 'MIGRATE', '127.0.0.1', $B, '', 0, 5000, 'KEYS', $ck, "$ck:log",
         "$ck:joined", "$ck:assignments"), 'OK',
   'its keys moved to the importing master');
# then the slot's other keys, as redis-cli --cluster reshard does: no key
# of another tag can make the new master's slot one the old still holds
my $moved = 0;
for (1 .. 1000) {
    my @k = @{ redis(port => $A, 'CLUSTER', 'GETKEYSINSLOT', $S, 100) || [] };
    last unless @k;
    # NOKEY: those went meanwhile (expired, deleted)
    my $r = redis(port => $A, 'MIGRATE', '127.0.0.1', $B, '', 0, 5000, 'KEYS', @k);
    die "MIGRATE of the slot's other keys: $r\n" unless $r eq 'OK' || $r eq 'NOKEY';
    $moved += @k;
}
ok($moved >= 1, "the slot's other keys moved too ($moved)");
is(redis(port => $A, 'CLUSTER', 'COUNTKEYSINSLOT', $S), 0, 'the migrating master has none of the slot\'s keys');
main::reset_stats();

# reads through ASK: welcome's summary, the catch-up, history, the API
my ($ws, $w, @m) = main::resume($vid);
my ($sum) = grep { $_->{conv} eq $main::CONV } @{ $w->{convs} || [] };
is($sum && $sum->{seq}, 2, 'welcome lists the conversation with its seq (summary through ASK)')
    or diag(Kefu::WS::json_enc($w));
is_deeply([map { $_ && $_->{text} } @m], ['message 1', 'message 2'], 'the catch-up reads its log (range through ASK)');

# a write through ASK: the read pointer, then history on the same link
$ws->send_json({type => 'read', conv => $main::CONV, seq => 2});
$ws->send_json({type => 'history', conv => $main::CONV, cid => 'h1'});
my $h = $ws->wait_for(sub { $_[0]{type} eq 'history' || $_[0]{type} eq 'error' });
is($h->{type}, 'history', 'history answered (through ASK)') or diag(Kefu::WS::json_enc($h));
is_deeply([map { $_->{text} } @{ $h->{msgs} || [] }], ['message 1', 'message 2'], '... both messages');
is(redis(port => $A, 'CLUSTER', 'COUNTKEYSINSLOT', $S), 0, 'nothing was written on the migrating master');

my ($st, $j, undef, $raw) = api(GET => "/kefu/api/sites/$main::SITE/convs/$main::CONV/messages", undef, token => $api);
is($st, 200, 'the API\'s log (through ASK)') or diag $raw;
is(scalar @{ $j->{msgs} || [] }, 2, '... both messages');
($st, $j, undef, $raw) = api(GET => "/kefu/api/sites/$main::SITE/convs/$main::CONV", undef, token => $api);
is($st, 200, 'the API\'s conversation (through ASK)') or diag $raw;
is($j->{read}{"v:$vid"}, 2, '... with the read pointer written through ASK');
is($j->{visitor}{name}, 'Ask Visitor', '... and its visitor, from the site\'s slot');
ok(main::redirections('ASK') >= 5, 'the migrating master answered ASK (' . main::redirections('ASK') . ')');
is(main::redirections('MOVED'), 0, '... and never MOVED: the map was kept');

# the slot given to B: the next calls get MOVED, the map is taken again
for my $p ($B, $A, grep { $_ != $A && $_ != $B } $C->masters) {
    redis(port => $p, 'CLUSTER', 'SETSLOT', $S, 'NODE', $bid);
}
$C->wait_ok or die "cluster not ok\n";
is($C->master_of_slot($S), $B, "slot $S is on $B now");
main::reset_stats();
($st, $j, undef, $raw) = api(GET => "/kefu/api/sites/$main::SITE/convs/$main::CONV/messages", undef, token => $api);
is($st, 200, 'the API\'s log after the move (through MOVED)') or diag $raw;
is(scalar @{ $j->{msgs} || [] }, 2, '... both messages');
# MOVED, unless the worker took the map again first (the sharded pub/sub
# link hears of the move too): either way the answer came from B
diag('the old master answered MOVED ' . main::redirections('MOVED') . ' time(s)');
is(main::redirections('ASK'), 0, '... and no ASK any more');

# then straight to the new master: no redirection at all
main::reset_stats();
my ($ws2, $w2, @m2) = main::resume($vid);
is_deeply([map { $_ && $_->{text} } @m2], ['message 1', 'message 2'], 'a new connection catches up from the new master');
($st, $j) = api(GET => "/kefu/api/sites/$main::SITE/convs/$main::CONV", undef, token => $api);
is($j->{read}{"v:$vid"}, 2, 'the pointer written through ASK is there');
is(main::redirections('MOVED') + main::redirections('ASK'), 0, 'no redirection: the map is right');
is(redis(port => $B, 'GET', $other), 'still here', "the slot's other key is on the new master");
--- no_error_log
[error]
