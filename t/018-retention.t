# Retention and bounds: closed conversations expire after the site's
# retention, idle visitors after theirs, dedup records no later than the
# retention; kefu_retention and retention= are checked by nginx -t; a group
# nobody declared or claims goes to the default group (no key for it);
# welcome summaries count unread from counters; a visitor's history skips
# private notes in bounded steps.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Route;

workers(2);
master_on();

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . ($block->http_config // "kefu_site shop1 secret=$Kefu::Route::SECRET anonymous=on retention=2h anonymous_retention=1h;\n"));
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 10000r/s burst=10000; }\n"
        . ($block->config // '')) unless ($block->config // '') =~ /kefu_chat/;
});

# a message and its ack
sub say {
    my ($ws, %m) = @_;
    my $cid = 'c' . int(rand(1e9));
    $ws->send_json({type => 'msg', cid => $cid, %m});
    return $ws->wait_for(sub { ($_[0]{cid} // '') eq $cid });
}

run_tests();

__DATA__

=== TEST 1: kefu_retention, kefu_anonymous_retention and kefu_site retention= are checked by nginx -t
--- ws
for (['kefu_retention 0;', qr/"kefu_retention" directive must be between 1s and 3650d/],
     ['kefu_retention 3651d;', qr/"kefu_retention" directive must be between 1s and 3650d/],
     ['kefu_retention forever;', qr/"kefu_retention" directive invalid value/],
     ['kefu_anonymous_retention 500ms;', qr/"kefu_anonymous_retention" directive must be between 1s and 3650d/],
     ['kefu_site s1 secret=0123456789abcdef0123 retention=0;', qr/"kefu_site" directive has an invalid retention/],
     ['kefu_site s1 secret=0123456789abcdef0123 retention=x;', qr/"kefu_site" directive has an invalid retention/],
     ['kefu_site s1 secret=0123456789abcdef0123 anonymous_retention=4000d;', qr/"kefu_site" directive has an invalid anonymous_retention/]) {
    my ($rc, $out) = nginx_t("events {} http { $_->[0] }");
    isnt($rc, 0, "$_->[0] refused");
    like($out, $_->[1], '... naming the directive');
}
my ($rc, $out) = nginx_t("events {} http { kefu_retention 30d; kefu_anonymous_retention 7d; kefu_site s1 secret=0123456789abcdef0123 retention=365d anonymous_retention=1d; }");
is($rc, 0, 'good values pass') or diag $out;



=== TEST 2: an open conversation is kept; closed, all its keys expire after the site's retention; the visitor's record after its own
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("ka$r", groups => [$g], status => 'online');
my ($v, $w, $ack, $n) = visitor($g);
my $c = $ack->{conv};
is($n->{state}, 'open', 'assigned');
my $vk = "kefu:{s:shop1}:v:$w->{id}";
is(redis('TTL', "kefu:{c:$c}"), -1, 'an open conversation does not expire');
is(redis('TTL', "kefu:{c:$c}:log"), -1, '... nor its log');
my $vt = redis('TTL', $vk);
ok($vt > 3000 && $vt <= 3600, "an anonymous visitor's record: its anonymous_retention ($vt s)");
my $dt = redis('TTL', "kefu:{c:$c}:cid:v:$w->{id}:first");
ok($dt > 0 && $dt <= 7200, "its dedup record: no longer than the retention ($dt s)");
$a->send_json({type => 'join', conv => $c});
$a->send_json({type => 'close', conv => $c});
ok(wait_conv($v, $c, state => 'closed'), 'closed');
for my $k ("kefu:{c:$c}", "kefu:{c:$c}:log", "kefu:{c:$c}:assignments") {
    my $t = redis('TTL', $k);
    ok($t > 7000 && $t <= 7200, "$k expires after the retention ($t s)");
}
ok(redis('TTL', "$vk:convs") > 3000, "the visitor's index expires with its record");
is(redis('HGET', $vk, 'ttl'), 3600, 'the record says how long it is kept');



=== TEST 3: a supervisor who joins a closed conversation later: its key expires with the conversation
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("kb$r", groups => [$g], status => 'online');
my ($m) = agent("km$r", role => 'admin');
my ($v, $w, $ack) = visitor($g);
my $c = $ack->{conv};
$a->send_json({type => 'close', conv => $c});
ok(wait_conv($v, $c, state => 'closed'), 'closed');
$m->send_json({type => 'join', conv => $c});
ok(wait_for($m, sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $c && ($_[0]{reason} // '') eq 'joined' }),
   'the admin joined it');
my $t = redis('TTL', "kefu:{c:$c}:joined");
ok($t > 7000 && $t <= 7200, "the joined set expires with the conversation ($t s)");
is(redis('EXISTS', "kefu:{s:shop1}:m:km$r:convs"), 1, "the admin's index has it");



=== TEST 4: a group nobody declared or claims routes to the default group, a transfer to it is not_found, and no key is made for it
--- http_config
kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on default_group=dflt;
--- ws
my $made = 'made-up-' . int(rand 1e9);
my ($v, $w, $ack, $n) = visitor($made);
is($n->{group}, 'dflt', 'a made-up group: the default one');
is(redis('HGET', "kefu:{c:$ack->{conv}}", 'group'), 'dflt', '... stored so');
for my $k ("q:$made", "qs:$made", "f:$made", "g:$made") {
    is(redis('EXISTS', "kefu:{s:shop1}:$k"), 0, "no kefu:{s:shop1}:$k");
}
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("kc$r", groups => [$g], status => 'away');
my ($v2, $w2, $ack2, $n2) = visitor($g);
is($n2->{group}, $g, "a group in an agent's claims is kept (even with nobody online)");
is($n2->{state}, 'queued', '... and queued there');
$a->send_json({type => 'status', state => 'online'});
ok(wait_conv($a, $ack2->{conv}, state => 'open'), 'the agent online takes it');
$a->send_json({type => 'transfer', conv => $ack2->{conv}, group => $made, cid => 't1'});
my $e = $a->wait_for(sub { ($_[0]{cid} // '') eq 't1' });
is($e->{code}, 'not_found', 'a transfer to a made-up group: not_found');
is(redis('EXISTS', "kefu:{s:shop1}:q:$made"), 0, '... and still no queue for it');



=== TEST 5: welcome summaries count the unread from counters: others' entries after the read pointer, private notes not for visitors
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("kd$r", groups => [$g], status => 'online');
my ($v, $w, $ack) = visitor($g);
my $c = $ack->{conv};
ok(wait_conv($a, $c, state => 'open'), 'the agent has it');
# 1 the visitor's, 2 the assignment; then 3, 4 the agent's and 5 a note
ok(say($a, conv => $c, text => 'a1'), 'agent 1');
ok(say($a, conv => $c, text => 'a2'), 'agent 2');
ok(say($a, conv => $c, text => 'note', private => JSON::PP::true), 'a note');
my $seqs = sub {
    my ($role, %h) = @_;
    my ($ws, $wel) = kefu_connect(role => $role, site => 'shop1', %h);
    my ($s) = grep { $_->{conv} eq $c } @{ $wel->{convs} };
    $ws->close_ws(1000);
    return $s;
};
my $s = $seqs->('visitor', token => $w->{token});
is($s->{seq}, 5, 'five entries');
is($s->{unread}, 3, "the visitor: the assignment and the agent's two (the note is not its)");
$s = $seqs->('agent', token => agent_token("kd$r", groups => [$g]));
is($s->{unread}, 2, "the agent: the visitor's message and the assignment");
$v->send_json({type => 'read', conv => $c, seq => 3});
ok($v->until_pong, 'read up to 3');
$s = $seqs->('visitor', token => $w->{token});
is($s->{unread}, 1, 'the visitor read up to 3: one left');
ok(say($v, text => 'v2'), "the visitor's own message");
$s = $seqs->('visitor', token => $w->{token});
is($s->{unread}, 1, 'its own message does not count');
ok(say($a, conv => $c, text => 'a3'), 'agent 3');
$s = $seqs->('visitor', token => $w->{token});
is($s->{unread}, 2, 'a new one from the agent does');
$v->send_json({type => 'read', conv => $c, seq => 7});
ok($v->until_pong, 'read everything');
$s = $seqs->('visitor', token => $w->{token});
is($s->{unread}, 0, 'nothing unread');
$a->send_json({type => 'read', conv => $c, seq => 6});
ok($a->until_pong, 'the agent read up to 6');
$s = $seqs->('agent', token => agent_token("kd$r", groups => [$g]));
is($s->{unread}, 0, "the agent: only its own after 6");



=== TEST 6: a visitor's history past more than 1000 private notes comes in bounded steps, with where to go on
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("ke$r", groups => [$g], status => 'online');
my ($v, $w, $ack) = visitor($g, text => 'first words');
my $c = $ack->{conv};
ok(wait_conv($a, $c, state => 'open'), 'the agent has it');
# in steps of 100, each awaited: 1100 at once could pass
# kefu_redis_max_inflight (1000) on a slow Redis and be refused in part
my $last;
for my $step (0 .. 10) {
    for my $i ($step * 100 + 1 .. $step * 100 + 100) {
        $a->send_json({type => 'msg', conv => $c, cid => "n$i", text => "note $i", private => JSON::PP::true});
    }
    my $end = 'n' . ($step * 100 + 100);
    $last = $a->wait_for(sub { ($_[0]{cid} // '') eq $end }, 60);
    last unless $last && $last->{type} eq 'ack';
}
is($last->{type}, 'ack', '1100 private notes stored');
$v->drain;
$v->send_json({type => 'history', conv => $c, limit => 10});
my $h = $v->recv_type('history');
is(scalar @{ $h->{msgs} }, 0, 'the first step finds no message among the latest 1000 notes');
ok($h->{more}, 'more');
ok($h->{before} && $h->{before} > 2, "where to go on: before $h->{before}");
$v->send_json({type => 'history', conv => $c, limit => 10, before => $h->{before}});
$h = $v->recv_type('history');
is_deeply([map { $_->{seq} } @{ $h->{msgs} }], [1, 2], 'the next step: the visitor message and the assignment');
ok(!$h->{more}, 'and no more');
ok(!exists $h->{before}, 'no "before" when the page was not cut short');



=== TEST 7: what 0.1.0 left without an expiry (a closed conversation, its routing record, its visitor) gets one from the retention sweep and goes; an open one and one this version closed keep theirs
--- http_config
kefu_site heal1 secret=heal1-secret-0123456789abcdef anonymous=on retention=3s;
--- ws
my $sk = 'kefu:{s:heal1}';
my $r = int rand 1e9;
my ($c1, $c2, $c3, $v1, $v3) = ("ho$r", "hp$r", "hn$r", "hv$r", "hw$r");
# older than the retention (3 s), younger than idle_close (a day)
my $old = int(time * 1000) - 3600 * 1000;
# the master of the old conversation's slot sees what is done to its keys
my $mon = redis_monitor(Kefu::Net::redis_port_of("kefu:{c:$c1}"));
# what 0.1.0 (8a03819) wrote of a conversation it closed, none of it
# expiring
redis('HSET', "kefu:{c:$c1}", site => 'heal1', visitor => $v1, agent => 'ha',
      state => 'closed', group => 'default', seq => 2, created => $old - 60000,
      updated => $old, closed => $old);
redis('XADD', "kefu:{c:$c1}:log", '1-1', j => '{}', f => "v:$v1", p => 0, s => 1);
redis('XADD', "kefu:{c:$c1}:log", '2-1', j => '{}', f => 'system', p => 0, s => '-');
redis('SADD', "kefu:{c:$c1}:joined", 'm:boss');
redis('RPUSH', "kefu:{c:$c1}:assignments", qq({"event":"conv.closed","seq":2,"ts":$old,"data":null}));
# the routing record a routing step makes of it after the upgrade (on one
# Redis, r_rec(): with the conversation's expiry, here none)
redis('HSET', "$sk:r:$c1", state => 'closed', visitor => $v1, group => 'default');
# its visitor: 0.1.0's hello (no ttl), page trail and index
redis('HSET', "$sk:v:$v1", seen => $old - 60000, name => 'old one');
redis('ZADD', "$sk:v:$v1:convs", $old - 60000, $c1);
redis('RPUSH', "$sk:v:$v1:pages", '{"url":"https://shop.example/","ts":1}');
# an open conversation as old: the idle sweep's, not this one's
redis('HSET', "kefu:{c:$c2}", site => 'heal1', visitor => $v1, agent => 'ha',
      state => 'open', group => 'default', seq => 1, created => $old, updated => $old);
redis('XADD', "kefu:{c:$c2}:log", '1-1', j => '{}', f => "v:$v1", p => 0, s => 1);
# one this version closed, still there (the retention shortened since):
# its keys, routing record and visitor expire already
redis('HSET', "kefu:{c:$c3}", site => 'heal1', visitor => $v3, agent => 'ha',
      state => 'closed', group => 'default', seq => 1, created => $old, updated => $old,
      closed => $old);
redis('XADD', "kefu:{c:$c3}:log", '1-1', j => '{}', f => "v:$v3", p => 0, s => 1);
redis('HSET', "$sk:r:$c3", state => 'closed', visitor => $v3, group => 'default');
redis('HSET', "$sk:v:$v3", seen => $old, ttl => 1000);
redis('EXPIRE', $_, 1000) for "kefu:{c:$c3}", "kefu:{c:$c3}:log", "$sk:r:$c3", "$sk:v:$v3";
redis('ZADD', "$sk:convs", $old, $c1, $old, $c2, $old, $c3);
redis('HSET', "$sk:counts", closed => 5, open => 1);

my @k1 = map { "kefu:{c:$c1}$_" } '', ':log', ':joined', ':assignments';
my %exp = map { $_->{args}[0] => $_->{args}[1] }
          grep { $_->{lua} && $_->{cmd} eq 'expire' }
          $mon->read(timeout => 60, until => sub {
              $_[0]{lua} && $_[0]{cmd} eq 'expire' && $_[0]{args}[0] eq $k1[-1] });
$mon->close;
for my $k (@k1) {
    ok(defined $exp{$k} && $exp{$k} >= 1 && $exp{$k} <= 3, "$k is given an expiry (" . ($exp{$k} // 'none') . ' s)');
}
isnt(redis('TTL', "$sk:v:$v1"), -1, "its visitor's record is given one");
my $gone = sub { !redis('EXISTS', "$sk:v:$v1") && !defined redis('ZSCORE', "$sk:convs", $c1) };
for (1 .. 300) { last if $gone->(); select(undef, undef, undef, 0.1) }
ok($gone->(), 'the next sweeps drop it from the index, and the visitor goes');
is(redis('EXISTS', $_), 0, "$_ is gone") for @k1, "$sk:r:$c1", "$sk:v:$v1:convs", "$sk:v:$v1:pages";
is(redis('HGET', "$sk:counts", 'closed'), 4, 'the closed ones counted one fewer');
is(redis('TTL', $_), -1, "$_, open, does not expire") for "kefu:{c:$c2}", "kefu:{c:$c2}:log";
ok(defined redis('ZSCORE', "$sk:convs", $c2), '... and stays listed');
for my $k ("kefu:{c:$c3}", "kefu:{c:$c3}:log", "$sk:r:$c3", "$sk:v:$v3") {
    my $t = redis('TTL', $k);
    ok($t > 900 && $t <= 1000, "$k, closed by this version, keeps its expiry ($t s)");
}
is(redis('HGET', "$sk:v:$v3", 'ttl'), 1000, "... its visitor its ttl");
ok(defined redis('ZSCORE', "$sk:convs", $c3), '... and it stays listed');
