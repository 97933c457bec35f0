# Idle conversations (docs/routing.md, "Idle conversations"): the site
# setting idle_close, checked like every setting; an open conversation
# nobody wrote in for that long is closed by a leased sweep through the
# normal close (agent and visitor told, load released, a system entry,
# conv.closed, the retention clock); a queued one never; one that got a
# message just before stays open (the close's guard, in its own atomic
# step); idle_close 0 closes nothing; one worker of all hosts per turn.
#
# Time is moved in Redis, never waited for: a conversation's score in the
# site's convs index (its last event) is written two minutes back, with
# idle_close at its minimum (60 s), while the test holds the sweep's lease;
# then the lease is given back and the next turn (a second: the site's
# retention is 10s, the sweep's interval a tenth of it) does the rest.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::Route;
use Kefu::Lua qw(lua_script);
use Kefu::WS qw(kefu_connect);
use File::Temp ();
use JSON::PP ();

workers(2);
master_on();

our $S = 'idle-secret-0123456789abcdef';

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site idle1 secret=$S anonymous=on retention=10s;\n" . ($block->http_config // ''));
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 1000r/s burst=1000; }\n"
        . "location /kefu/api/ { kefu_api; }\n");
    $block->set_value('ws', "api_ready('/kefu/api/sites/idle1/settings') or die 'Redis not ready'; "
        . $block->ws) if defined $block->ws;
});

# idle2's settings file: idle_close 0 (TEST 5)
my $tmp = File::Temp::tempdir(CLEANUP => 1);
open my $sf, '>', "$tmp/idle2.json" or die $!;
print $sf qq({"idle_close": 0}\n);
close $sf;
$ENV{TEST_NGINX_IDLE2_SETTINGS} = "$tmp/idle2.json";

our $SITE = site_of_run('idle1');
our $SITE2 = site_of_run('idle2');
$Kefu::Route::SITE = $SITE;
$Kefu::Route::SECRET = $S;
$Kefu::API::Token = api_token(secret => $S, site => $SITE, role => 'admin', sub => 'boss');

sub idle_key { "kefu:{s:$SITE}:idle" }

# the site's idle_close, stored over the API
sub idle_close {
    my ($v) = @_;
    my ($st, $j, undef, $raw) = api(PUT => "/kefu/api/sites/$SITE/settings", {idle_close => $v});
    die "PUT idle_close $v: $st $raw\n" unless $st == 200;
    return $j;
}

# the test takes the sweep's turn (the owner changed: a turn under way
# cannot move the cursor any more), then gives it back
sub hold { redis('HSET', idle_key(), 'lease', int(time * 1000) + 600000, 'owner', 'test') }
sub release { redis('HDEL', idle_key(), 'lease', 'owner') }

# conversations whose last event was two minutes ago: their scores, and the
# sweep's cursor before them
sub back {
    my (@convs) = @_;
    my $t = int(time * 1000) - 120000;
    redis('ZADD', "kefu:{s:$SITE}:convs", map { ($t, $_) } @convs);
    redis('HDEL', idle_key(), 'cursor');
}

# a message and its ack
sub say {
    my ($ws, $conv, $text) = @_;
    my $cid = 'c' . int(rand(1e9));
    $ws->send_json({type => 'msg', cid => $cid, conv => $conv, text => $text});
    return $ws->wait_for(sub { ($_[0]{cid} // '') eq $cid });
}

# no "conv ... closed" for $conv among what came before a pong
sub not_closed {
    my ($ws, $conv, $what) = @_;
    my @closed = grep { ($_->{type} // '') eq 'conv' && ($_->{conv} // '') eq $conv
                        && ($_->{state} // '') eq 'closed' } $ws->until_pong;
    is(scalar @closed, 0, $what);
}


run_tests();

__DATA__

=== TEST 1: idle_close is a site setting: 86400 when absent, 0 or 60 s to 30 days, anything else refused naming the field (API, WebSocket, nginx -t)
--- ws
redis('DEL', "kefu:{s:$main::SITE}:settings");
my ($st, $j) = api(GET => "/kefu/api/sites/$main::SITE/settings");
is($st, 200, 'GET: 200');
is($j->{settings}{idle_close}, 86400, 'absent: a day');
for my $bad (59, 2592001, -1, '3600', 90.5, JSON::PP::true(), undef, [60]) {
    my ($st, $j) = api(PUT => "/kefu/api/sites/$main::SITE/settings", {idle_close => $bad});
    my $what = defined $bad ? (ref $bad ? JSON::PP->new->allow_nonref->encode($bad) : "'$bad'") : 'null';
    is($st, 400, "idle_close $what: 400");
    is($j->{error}{field}, 'idle_close', '... naming the field');
    like($j->{error}{message}, qr/^idle_close: .*60 to 2592000.*0 \(never\)/, '... and what it takes');
}
for my $good (0, 60, 2592000, 3600) {
    my ($st, $j) = api(PUT => "/kefu/api/sites/$main::SITE/settings", {idle_close => $good});
    is($st, 200, "idle_close $good: stored");
    is($j->{settings}{idle_close}, $good, '... and in effect');
}
my ($adm) = kefu_connect(role => 'admin', site => $main::SITE,
    token => agent_token('boss', role => 'admin', site => $main::SITE, secret => $main::S));
$adm->send_json({type => 'settings', cid => 's1', settings => {idle_close => 10}});
my $e = $adm->wait_for(sub { $_[0]{type} eq 'error' || $_[0]{type} eq 'settings' });
is($e->{code}, 'bad_request', 'over WebSocket: bad_request');
is($e->{field}, 'idle_close', '... naming the field');
$adm->send_json({type => 'settings', cid => 's2', settings => {idle_close => 120}});
my $s = $adm->wait_for(sub { $_[0]{type} eq 'settings' && ($_[0]{cid} // '') eq 's2' });
is($s->{settings}{idle_close}, 120, 'over WebSocket: stored');
my $dir = File::Temp::tempdir(CLEANUP => 1);
open my $f, '>', "$dir/bad.json"; print $f '{"idle_close": 30}'; close $f;
my ($rc, $out) = nginx_t("events {}\nhttp { kefu_site x secret=0123456789abcdef0123 settings=$dir/bad.json; }\n");
isnt($rc, 0, 'a settings file with idle_close 30 fails nginx -t');
like($out, qr/idle_close/, '... naming the field');
open $f, '>', "$dir/good.json"; print $f '{"idle_close": 0}'; close $f;
($rc, $out) = nginx_t("events {}\nhttp { kefu_site x secret=0123456789abcdef0123 settings=$dir/good.json; }\n");
is($rc, 0, 'idle_close 0 passes') or diag $out;



=== TEST 2: an open conversation nobody wrote in for idle_close is closed: visitor and agent told, a system entry, conv.closed, the retention clock, the agent's load released (a new visitor is routed to it)
--- ws
main::idle_close(60);
main::hold();
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("ia$r", groups => [$g], status => 'online', capacity => 1, name => 'Ada');
my ($v, $vw, $ack, $n) = visitor($g, text => 'anyone there?');
my $c = $ack->{conv};
is($n->{state}, 'open', 'assigned');
ok(wait_conv($a, $c, state => 'open'), 'the agent has it');
is(redis('HGET', "kefu:{s:$main::SITE}:a:ia$r", 'load'), 1, 'its load is taken');
main::back($c);
main::release();

my $vn = wait_conv($v, $c, state => 'closed', timeout => 30);
ok($vn, 'the visitor is told it closed');
is($vn && $vn->{reason}, 'idle', '... reason idle');
my $an = wait_conv($a, $c, state => 'closed', timeout => 30);
ok($an, 'the agent is told');
is($an && $an->{reason}, 'idle', '... reason idle');
is($an && $an->{load}, 0, '... with its load back to 0');
my $m = $v->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{event} // '') eq 'closed' });
ok($m, 'a system entry in the conversation');
is($m && $m->{from}{role}, 'system', '... from the system');
is($m && $m->{by}{role}, 'system', '... closed by the system');
is($m && $m->{by}{reason}, 'idle', '... because it was idle');
is($m && $m->{text}, 'conversation closed: no message for 1 minute', '... saying so');
is(redis('HGET', "kefu:{c:$c}", 'state'), 'closed', 'closed in Redis');
my $ttl = redis('TTL', "kefu:{c:$c}");
ok($ttl > 0 && $ttl <= 10, "its retention clock started ($ttl s)");
is(redis('SISMEMBER', "kefu:{s:$main::SITE}:a:ia$r:open", $c), 0, "it left the agent's open set");
my $ev = redis('XREVRANGE', "kefu:{s:$main::SITE}:events", '+', '-', 'COUNT', 50);
my ($ce) = grep { $_->{event} eq 'conv.closed' && $_->{conv} eq $c } map { +{@{ $_->[1] }} } @$ev;
ok($ce, 'conv.closed on the event stream');
like($ce && $ce->{data}, qr/"reason":"idle"/, '... by the idle sweep');

my ($v2, undef, $ack2, $n2) = visitor($g, text => 'hello again');
is($n2 && $n2->{state}, 'open', 'a new visitor is routed at once');
is($n2 && $n2->{agent}{id}, "ia$r", '... to the agent whose load was released');



=== TEST 3: in the same turn a queued conversation is not closed, nor one that got a message just before; an open one is
--- ws
main::idle_close(60);
main::hold();
my $r = int rand 1e6;
my $g = uniq_group();
my $gq = uniq_group();
my ($a) = agent("ib$r", groups => [$g], status => 'online', capacity => 5);
my ($vo, undef, $acko) = visitor($g, text => 'will be left');
my $co = $acko->{conv};
my ($vm, undef, $ackm) = visitor($g, text => 'will write again');
my $cm = $ackm->{conv};
my ($vq, undef, $ackq, $nq) = visitor($gq, text => 'nobody in this group');
my $cq = $ackq->{conv};
is($nq->{state}, 'queued', 'one waits in its queue');
ok(wait_conv($a, $_, state => 'open'), 'the agent has the others') for $co, $cm;
main::back($co, $cm, $cq);
my $ack = main::say($vm, $cm, 'still here!');
ok($ack && $ack->{seq}, 'one gets a message after the others went quiet');
main::release();

ok(wait_conv($vo, $co, state => 'closed', timeout => 30), 'the quiet open one is closed');
is(redis('HGET', "kefu:{c:$cq}", 'state'), 'queued', 'the queued one still waits: it is a ticket');
main::not_closed($vq, $cq, '... and its visitor was told nothing');
is(redis('HGET', "kefu:{c:$cm}", 'state'), 'open', 'the one that got a message stays open');
main::not_closed($vm, $cm, '... and its visitor was told nothing');
main::not_closed($a, $cm, '... nor its agent');



=== TEST 4: the close's guard, in the close's own atomic step: an idle close whose cut is before the conversation's last event, or of a queued one, changes nothing
--- ws
my $r = int rand 1e6;
my $g = uniq_group();
my ($a) = agent("ic$r", groups => [$g], status => 'online');
my ($v, undef, $ack) = visitor($g, text => 'a message');
my $c = $ack->{conv};
ok(wait_conv($a, $c, state => 'open'), 'open');
my ($vq, undef, $ackq, $nq) = visitor(uniq_group(), text => 'queued');
is($nq->{state}, 'queued', 'another queued');
my $last = redis('ZSCORE', "kefu:{s:$main::SITE}:convs", $c);
ok($last, "its last event: $last");
# route_close.lua as the sweep calls it (ngx_kefu_route_close_idle()):
# the site's key, common arguments (the mode: 1, one Redis; 2 on a
# cluster, where the conversation's side is the second call, which the
# route sweep replays for this one), conv, who, supervisor, by,
# retention (s), cut, text
my $src = lua_script('route_close');
my $n = 0;
my $mode = $ENV{TEST_NGINX_REDIS_CLUSTER} ? '2' : '1';
my $close = sub {
    my ($conv, $cut) = @_;
    my $ids = join ' ', map { 7000000000000000000 + $r * 1000 + $n++ } 1 .. 16;
    return redis('EVAL', $src, 1, "kefu:{s:$main::SITE}:apply", $main::SITE, int(time * 1000),
                 $ids, 30000, 1000, '-', $mode,
                 $conv, 'y:system', '1', '{"role":"system","reason":"idle"}', 10,
                 $cut, 'conversation closed: no message for 1 minute');
};
my $res = $close->($c, $last - 1);
is($res->[0], 1, 'a cut before its last event: nothing to do');
is(redis('HGET', "kefu:{c:$c}", 'state'), 'open', '... it stays open');
main::not_closed($v, $c, '... its visitor is told nothing');
main::not_closed($a, $c, '... nor its agent');
$res = $close->($ackq->{conv}, int(time * 1000));
is($res->[0], 1, 'a queued one: nothing to do');
is(redis('HGET', "kefu:{c:$ackq->{conv}}", 'state'), 'queued', '... it stays queued');
$res = $close->($c, $last);
is($res->[0], 0, 'a cut at its last event: closed');
my $an = wait_conv($a, $c, state => 'closed', timeout => 30);
is($an && $an->{reason}, 'idle', 'the agent is told');
$res = $close->($c, $last);
is($res->[0], 1, 'once: again is nothing to do');



=== TEST 5: idle_close 0 closes nothing: that site's sweep never runs while another site's closes its idle conversation
--- http_config
kefu_site idle2 secret=idle2-secret-0123456789abcdef anonymous=on retention=10s settings=$TEST_NGINX_IDLE2_SETTINGS;
--- ws
# idle2: idle_close 0 in its settings file, nothing stored
my $site2 = $main::SITE2;
redis('DEL', "kefu:{s:$site2}:settings");
local $Kefu::Route::SITE = $site2;
local $Kefu::Route::SECRET = 'idle2-secret-0123456789abcdef';
my $r = int rand 1e6;
my $g = uniq_group();
my ($a2) = agent("id$r", groups => [$g], status => 'online');
my ($v2, undef, $ack2) = visitor($g, text => 'never closed');
my $c2 = $ack2->{conv};
ok(wait_conv($a2, $c2, state => 'open'), 'open on the site with idle_close 0');
redis('ZADD', "kefu:{s:$site2}:convs", int(time * 1000) - 40 * 86400 * 1000, $c2);
{
    local $Kefu::Route::SITE = $main::SITE;
    local $Kefu::Route::SECRET = $main::S;
    main::idle_close(60);
    main::hold();
    my ($a) = agent("ie$r", groups => [$g], status => 'online');
    my ($v, undef, $ack) = visitor($g, text => 'closed on the other site');
    ok(wait_conv($a, $ack->{conv}, state => 'open'), 'open on the site with idle_close 60');
    main::back($ack->{conv});
    main::release();
    ok(wait_conv($v, $ack->{conv}, state => 'closed', timeout => 30), 'that one is closed');
}
is(redis('EXISTS', "kefu:{s:$site2}:idle"), 0, 'the idle_close 0 site never had a turn');
is(redis('HGET', "kefu:{c:$c2}", 'state'), 'open', 'its conversation, quiet for 40 days, is open');
main::not_closed($v2, $c2, '... and its visitor was told nothing');



=== TEST 6: two hosts, four workers: each asks every turn, one at a time takes it (its lease, at least 0.9 s after the last one's)
--- ws
main::idle_close(60);
my ($port2, $stop) = start_host(<<"_EOC_");
    kefu_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};
    kefu_site $main::SITE secret=$main::S anonymous=on retention=10s;
_EOC_
my $key = main::idle_key();
# the master of the key's slot on a cluster: it alone sees the calls
my $mon = redis_monitor(Kefu::Net::redis_port_of($key));
my (%askers, @leases, $asks);
# the four workers' sweep calls (FCALL <name> 2 <idle key> ..., or
# EVALSHA) and the turns taken (the script's HSET of the lease)
$mon->read(timeout => 60, until => sub {
    my ($c) = @_;
    my @a = @{ $c->{args} };
    if ($c->{call} && @a > 2 && $a[0] =~ /^\w+\z/ && $a[1] eq '2' && $a[2] eq $key) {
        $askers{$c->{client}}++;
        $asks++;
    } elsif ($c->{lua} && $c->{cmd} eq 'hset' && @a > 3 && $a[0] eq $key
             && $a[1] eq 'lease' && $a[2] =~ /^\d+\z/ && $a[3] eq 'owner') {
        push @leases, $a[2];
    }
    return scalar(keys %askers) >= 4 && @leases >= 4;
});
$mon->close;
$stop->();
cmp_ok(scalar keys %askers, '>=', 4, 'the workers of both hosts ask for the turn (' . join(', ', sort keys %askers) . ')');
cmp_ok(scalar @leases, '>=', 4, 'turns are taken');
cmp_ok(scalar @leases, '<', $asks, "fewer turns (" . @leases . ") than asks ($asks)");
my @close = grep { $leases[$_] - $leases[$_ - 1] < 900 } 1 .. $#leases;
is(scalar @close, 0, 'each turn at least the lease (0.9 s) after the last: ' . join(' ', map { $leases[$_] - $leases[$_ - 1] } 1 .. $#leases));
