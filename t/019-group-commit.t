# Group commit: the messages one pass of a worker's event loop reads go to
# Redis as one script call (lua/msg_batch.lua, ngx_kefu_msg_batch.c), each
# still acknowledged only once stored and answered on its own.  One worker:
# the frames of one TCP write are read, and their messages taken, in one
# pass, so the batches here are not a matter of timing.  This file's own
# Redis: its INFO commandstats counts this file's calls only.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Chat;
use Kefu::API qw(api api_token);

workers(1);
worker_connections(1024);

our $R = redis_server();
$ENV{TEST_NGINX_GC_REDIS_PORT} = $R->port;
our $SECRET = 'gc-secret-0123456789abcdef';

our $SITE = <<"_EOC_";
    kefu_redis 127.0.0.1:\$TEST_NGINX_GC_REDIS_PORT;
    kefu_site shop1 secret=$SECRET anonymous=on capacity=5;
    kefu_message_rate 1000r/s;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $main::SITE . ($block->http_config // ''));
    $block->set_value('config', "location = /chat { kefu_chat; }\n"
                                . "location /kefu/api/ { kefu_api; }\n");
});

sub gr { redis('port', $main::R->port, @_) }

# the script calls so far: FCALLs (or EVALSHAs on a Redis without
# functions)
sub evalsha_calls {
    my $s = gr('INFO', 'commandstats');
    my $n = 0;
    $n += $1 while $s =~ /cmdstat_(?:evalsha|fcall):calls=(\d+)/g;
    return $n;
}

# frames as one write: one pass of the worker reads them all
sub frames {
    my ($ws, @msgs) = @_;
    my $bytes = '';
    for my $m (@msgs) {
        $bytes .= Protocol::WebSocket::Frame->new(buffer => json_enc($m), type => 'text',
                                                  masked => 1, max_payload_size => 0)->to_bytes;
    }
    $ws->send_raw($bytes) or die "write failed\n";
}

# what a sender was answered for the n messages it sent, in order (acks
# and errors): the n answers, then whatever came before a pong after them
sub answers {
    my ($ws, $n) = @_;
    my $is = sub { ($_[0]{type} // '') =~ /^(ack|error)$/ && defined $_[0]{cid} };
    my @got;
    while (@got < $n) {
        my $m = $ws->wait_for($is, 20) or last;
        push @got, $m;
    }
    push @got, grep { $is->($_) } $ws->until_pong(20);
    return \@got;
}

# calls of each named command so far (INFO commandstats of this file's Redis)
sub cmd_calls {
    my $s = gr('INFO', 'commandstats');
    return map { my ($n) = $s =~ /cmdstat_$_:calls=(\d+)/; ($_ => $n // 0) } @_;
}

# the hits of a search (the admin's token), all pages: "conv:seq" each
sub hits {
    my ($q) = @_;
    my (@h, $next);
    for (1 .. 20) {
        my ($st, $j) = api(GET => "/kefu/api/sites/shop1/search?q=$q&limit=50"
                                  . ($next ? "&before=$next" : ''));
        die "search $q: $st\n" unless $st == 200;
        push @h, map { "$_->{conv}:$_->{seq}" } @{ $j->{hits} };
        $next = $j->{next} or last;
    }
    return @h;
}

# waits (at most 20 s) until the search finds n hits, then returns them
sub hits_until {
    my ($q, $n) = @_;
    my @h;
    for (1 .. 200) {
        @h = hits($q);
        last if @h >= $n;
        select undef, undef, undef, 0.1;
    }
    return @h;
}

# waits (at most 20 s) for a message's search document: its index call ran
sub indexed {
    my ($conv, $seq) = @_;
    for (1 .. 400) {
        return 1 if gr('EXISTS', sprintf('kefu:{s:shop1}:ix:m:%s:%015d', $conv, $seq));
        select undef, undef, undef, 0.05;
    }
    return 0;
}

run_tests();

__DATA__

=== TEST 1: the frames of one write are one call: every message acked once, seqs contiguous in send order per conversation, a duplicate cid within the call answered as a dup, a message to another's conversation refused and one to a closed conversation kept out of it while their batch-mates are stored, and fewer script calls than messages
--- ws
chat_site('shop1', $main::SECRET);
local $ENV{TEST_NGINX_REDIS_PORT} = $main::R->port;
my $g = 'g' . int rand 1e6;
my $ag = agent("ann$g", $g, status => 'online');
my ($v1, undef, $c1) = visitor_conv($g);
my ($v2, undef, $c2) = visitor_conv($g);
my ($v3, undef, $c3) = visitor_conv($g);
$ag->send_json({type => 'close', conv => $c3});
$v3->wait_for(sub { ($_[0]{type} // '') eq 'conv' && ($_[0]{state} // '') eq 'closed' }, 10)
    or die "no close\n";
my %seq0 = map { $_ => gr('HGET', "kefu:{c:$_}", 'seq') } $c1, $c2, $c3;

# control: v1's eight messages one at a time, each awaited (one call each)
my $before = evalsha_calls();
for my $i (1 .. 8) {
    $v1->send_json({type => 'msg', cid => "s$i", text => "single word$i"});
    $v1->recv_type('ack', 10) or die "no ack for s$i\n";
}
my $single = evalsha_calls() - $before;
%seq0 = (%seq0, $c1 => gr('HGET', "kefu:{c:$c1}", 'seq'));

# the same eight as one write, then everyone's batch
$before = evalsha_calls();
frames($v1, map { {type => 'msg', cid => "b$_", text => "batch word$_"} } 1 .. 8);
my $r1 = answers($v1, 8);
my $batched = evalsha_calls() - $before;
is(scalar(grep { $_->{type} eq 'ack' && !$_->{dup} } @$r1), 8, 'eight acks for eight messages in one write');
is_deeply([map { $_->{cid} } @$r1], [map { "b$_" } 1 .. 8], 'each once, in send order');
is_deeply([map { $_->{seq} } @$r1], [map { $seq0{$c1} + $_ } 1 .. 8], 'seqs contiguous, in send order');
ok($batched <= $single - 4, "eight in one write cost at least four script calls fewer ($batched) than eight alone ($single)");
ok($batched < 8, "fewer script calls than messages (all calls $batched: the messages' and their search index's, TEST 4)");

%seq0 = (%seq0, $c1 => gr('HGET', "kefu:{c:$c1}", 'seq'));
frames($ag, {type => 'msg', cid => 'a1', conv => $c1, text => 'agent one'},
           {type => 'msg', cid => 'a2', conv => $c2, text => 'agent two'},
           {type => 'msg', cid => 'a1', conv => $c1, text => 'agent one again'},
           {type => 'msg', cid => 'a3', conv => $c1, text => 'agent three'});
frames($v2, {type => 'msg', cid => 'x1', conv => $c1, text => 'not mine'},
            {type => 'msg', cid => 'x2', text => 'mine'},
            {type => 'msg', cid => 'x3', text => 'mine too'});
frames($v3, {type => 'msg', cid => 'y1', conv => $c3, text => 'after the close'},
            {type => 'msg', cid => 'y2', conv => $c2, text => 'not mine either'});
frames($v1, {type => 'msg', cid => 'd1', text => 'visitor one'},
            {type => 'msg', cid => 'd2', text => 'visitor two'},
            {type => 'msg', cid => 'd1', text => 'visitor one again'});
# (y1 finds its conversation closed: open makes a new one, then it is
# stored there)
my ($ra, $r2, $r3, $rv) = (answers($ag, 4), answers($v2, 3), answers($v3, 2), answers($v1, 3));
my %got;
for my $r ($ra, $r2, $r3, $rv) { $got{$_->{cid}}++ for @$r }
is_deeply(\%got, {a1 => 2, a2 => 1, a3 => 1, x1 => 1, x2 => 1, x3 => 1, y1 => 1, y2 => 1,
                  d1 => 2, d2 => 1}, 'every message answered once (a repeated cid once each)');
my %by = map { ($_->{cid} . ($_->{dup} ? '+' : '')) => $_ } @$ra, @$r2, @$r3, @$rv;
is($by{'a1+'}{seq}, $by{a1}{seq}, "the agent's repeated cid within the call: a dup of the first");
is($by{'a1+'}{id}, $by{a1}{id}, 'with its id');
is($by{'d1+'}{seq}, $by{d1}{seq}, "the visitor's too");
is($by{x1}{code}, 'forbidden', "another's conversation refused");
is($by{y2}{code}, 'forbidden', 'and again');
is($by{x2}{type} . $by{x3}{type}, 'ackack', 'their batch-mates stored');
is($by{y1}{type}, 'ack', 'the message to a closed conversation acked...');
isnt($by{y1}{conv}, $c3, '... in a new conversation');
is(gr('HGET', "kefu:{c:$c3}", 'seq'), $seq0{$c3}, 'the closed one untouched');
my @c1 = sort { $a <=> $b } map { $_->{seq} } grep { $_->{type} eq 'ack' && !$_->{dup} && $_->{conv} eq $c1 } @$ra, @$rv;
is_deeply(\@c1, [map { $seq0{$c1} + $_ } 1 .. 4], "the first conversation's four: contiguous");
ok($by{a1}{seq} < $by{a3}{seq} && $by{d1}{seq} < $by{d2}{seq}, "each sender's in its send order");
my @c2 = map { $by{$_}{seq} } qw(x2 x3);
ok($by{x2}{seq} < $by{x3}{seq}, "the second's: the visitor's two in send order");
is_deeply([sort { $a <=> $b } @c2, $by{a2}{seq}], [map { $seq0{$c2} + $_ } 1 .. 3], "the second's three: contiguous");
my $log = gr('XRANGE', "kefu:{c:$c1}:log", '-', '+');
my @texts = map { { @{ $_->[1] } }->{j} =~ /"text":"([^"]*)"/ ? $1 : '' } @$log;
is(scalar(grep { /again/ } @texts), 0, 'no duplicate stored');
--- no_error_log
[alert]
[crit]
--- timeout: 60


=== TEST 2: a sender that closes its socket right after its frames: its messages stored, the others acked, nothing touched after free
--- ws
chat_site('shop1', $main::SECRET);
local $ENV{TEST_NGINX_REDIS_PORT} = $main::R->port;
my $g = 'g' . int rand 1e6;
my $ag = agent("bob$g", $g, status => 'online');
my ($v1, undef, $c1) = visitor_conv($g);
my ($v2, undef, $c2) = visitor_conv($g);
my $seq1 = gr('HGET', "kefu:{c:$c1}", 'seq');
frames($v2, map { {type => 'msg', cid => "o$_", text => "other $_"} } 1 .. 5);
frames($v1, map { {type => 'msg', cid => "l$_", text => "leaving $_"} } 1 .. 5);
close $v1->sock;
my $r = answers($v2, 5);
is_deeply([map { "$_->{type} $_->{cid}" } @$r], [map { "ack o$_" } 1 .. 5], 'the other sender: five acks');
my $stored;
for (1 .. 400) {
    last if ($stored = gr('HGET', "kefu:{c:$c1}", 'seq') - $seq1) >= 5;
    sleep 0.025;
}
is($stored, 5, "the leaver's five stored");
# the worker lives on: a new visitor is answered by it
my ($v3, undef, $c3) = visitor_conv($g);
ok($c3, 'the worker still answers');
--- no_error_log
[alert]
[crit]
--- timeout: 60


=== TEST 3: kefu_redis_max_inflight counts messages, not calls: of ten messages in one write under a cap of four, four at most are taken, the others refused at once with unavailable and their cid; resent, they are stored after them
--- http_config
    kefu_redis_max_inflight 4;
--- ws
chat_site('shop1', $main::SECRET);
local $ENV{TEST_NGINX_REDIS_PORT} = $main::R->port;
my $g = 'g' . int rand 1e6;
# the first message (open, msg, route_new) resent while the worker's own
# calls at its start fill the cap
my ($v, $w, $c, $m);
for (1 .. 100) {
    ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1', group => $g);
    last if $w->{type} eq 'welcome';
    sleep 0.1;
}
for (1 .. 100) {
    $v->send_json({type => 'msg', cid => 'first', text => 'hello?'});
    $m = $v->wait_for(sub { ($_[0]{cid} // '') eq 'first' }, 10) or last;
    last if $m->{type} eq 'ack';
    sleep 0.1;
}
$c = $m && $m->{conv} or die "no ack: " . json_enc($m) . "\n";
$v->until_pong;
my $seq = gr('HGET', "kefu:{c:$c}", 'seq');
frames($v, map { {type => 'msg', cid => "m$_", text => "capped $_"} } 1 .. 10);
my $r = answers($v, 10);
my @acked = grep { $_->{type} eq 'ack' } @$r;
my @refused = grep { $_->{type} eq 'error' } @$r;
ok(@acked >= 1 && @acked <= 4, 'one to four taken (' . scalar(@acked) . '), not the whole call');
is(@acked + @refused, 10, 'every message answered');
is(scalar(grep { $_->{code} eq 'unavailable' } @refused), scalar(@refused), 'the others: unavailable');
is_deeply([map { $_->{seq} } @acked], [map { $seq + $_ } 1 .. @acked], 'the taken ones stored in order');
# resent, three at a time (under the cap), each after the last answered
my @left = map { $_->{cid} } @refused;
my @again;
while (my @three = splice @left, 0, 3) {
    frames($v, map { {type => 'msg', cid => $_, text => "again $_"} } @three);
    push @again, @{ answers($v, scalar @three) };
}
is(scalar(grep { $_->{type} eq 'ack' && !$_->{dup} } @again), scalar(@refused), 'the refused ones stored when resent');
is(gr('HGET', "kefu:{c:$c}", 'seq'), $seq + 10, 'ten stored in all');
--- no_error_log
[alert]
--- timeout: 60



=== TEST 4: the search index of the messages one pass stored, from several connections at once, is written together: a write's messages in one index call, a cid repeated within it indexed once, every message found by search once with its conversation and seq, and a pass over a call's bounds (64 entries, 4000 arguments) split into several calls with nothing left out
--- ws
chat_site('shop1', $main::SECRET);
local $ENV{TEST_NGINX_REDIS_PORT} = $main::R->port;
local $Kefu::API::Token = api_token(secret => $main::SECRET, site => 'shop1', role => 'admin', sub => 'boss');
my $g = 'g' . int rand 1e6;
my $ag = agent("cy$g", $g, status => 'online');
my @v = map { [visitor_conv($g)] } 1 .. 6;
$_->[0]->until_pong(20) for @v;

# one write of eight and a cid repeated: the messages' call and one index call
my $before = evalsha_calls();
frames($v[0][0], (map { {type => 'msg', cid => "p$_", text => "puffin one$_"} } 1 .. 8),
                 {type => 'msg', cid => 'p8', text => 'puffin one8'});
my $r = answers($v[0][0], 9);
is(scalar(grep { $_->{type} eq 'ack' && !$_->{dup} } @$r), 8, 'eight stored');
is(scalar(grep { $_->{type} eq 'ack' && $_->{dup} } @$r), 1, 'the repeated cid a dup');
ok(indexed($v[0][2], $r->[7]{seq}), "the write's last message indexed");
my $calls = evalsha_calls() - $before;
ok($calls <= 3, "eight messages and their index: two script calls ($calls: the messages', the index's, and one of a timer at most), not one index call each");
is_deeply([sort(hits_until('puffin', 8))], [sort map { "$_->{conv}:$_->{seq}" } grep { !$_->{dup} } @$r],
          'all eight found, each once (the dup not indexed again)');

# six connections, eight messages each, all at once
my %want;
for my $i (0 .. $#v) {
    frames($v[$i][0], map { {type => 'msg', cid => "q$_", text => "harbour seal q${_}n w${i}n$_"} } 1 .. 8);
}
for my $i (0 .. $#v) {
    my $a = answers($v[$i][0], 8);
    is(scalar(grep { $_->{type} eq 'ack' && !$_->{dup} } @$a), 8, "connection $i: eight stored");
    $want{"$i.$_->{cid}"} = "$_->{conv}:$_->{seq}" for @$a;
}
my @all = hits_until('harbour', 48);
is_deeply([sort @all], [sort values %want], 'the 48 messages of six connections found by search, each once');
my $missed = 0;
for my $k (sort keys %want) {
    my ($i, $cid) = split /\./, $k;
    # the word only this message has: "w2n3", connection 2's q3
    my @h = hits('w' . $i . 'n' . substr($cid, 1));
    my @mine = grep { $_ eq $want{$k} } @h;
    $missed++ unless @h == 1 && @mine == 1;
}
my %convs = map { (split /:/)[0] => 1 } values %want;
is(scalar(keys %convs), 6, 'in six conversations');
my @q1 = hits('q1n');
is(scalar(@q1), 6, "a word of six messages: six hits");
is($missed, 0, "each message found by its own word (48 searches)");

# 100 in one write (two message calls, over an index call's 64 entries),
# then twelve of 200 distinct words each (over its 4000 arguments)
frames($v[1][0], map { {type => 'msg', cid => "m$_", text => "gull m${_}x"} } 1 .. 100);
my $m = answers($v[1][0], 100);
is(scalar(grep { $_->{type} eq 'ack' && !$_->{dup} } @$m), 100, 'a hundred stored');
is_deeply([sort(hits_until('gull', 100))], [sort map { "$_->{conv}:$_->{seq}" } @$m],
          'all hundred found, each once');
frames($v[2][0], map { my $k = $_; {type => 'msg', cid => "l$k", text => join(' ', map { "l${k}t$_" } 1 .. 200)} } 1 .. 12);
my $l = answers($v[2][0], 12);
is(scalar(grep { $_->{type} eq 'ack' && !$_->{dup} } @$l), 12, 'twelve long ones stored');
my $found = 0;
for my $k (1 .. 12) {
    my @h = hits_until("l${k}t1+l${k}t200", 1);
    $found++ if "@h" eq "$l->[$k - 1]{conv}:$l->[$k - 1]{seq}";
}
is($found, 12, 'each long one found by its first and its 200th word');
--- no_error_log
[alert]
[crit]
search index
--- timeout: 120




=== TEST 5: what a call's messages cost Redis (issue 18): the former per-site dedup records of all its messages read in one MGET (one there still answered as a dup), and the conversation's state not read again for the reply
--- ws
chat_site('shop1', $main::SECRET);
local $ENV{TEST_NGINX_REDIS_PORT} = $main::R->port;
my $g = 'g' . int rand 1e6;
my $ag = agent("dee$g", $g, status => 'online');
my ($v, $w, $c) = visitor_conv($g);
$v->until_pong(20);
my $seq = gr('HGET', "kefu:{c:$c}", 'seq');
# a record under the former per-site key (written before an upgrade) for
# the third message
gr('SET', "kefu:{s:shop1}:cid:v:$w->{id}:k3", "$c 123456 7 1700000000000", 'EX', 60);
my %b = cmd_calls(qw(get mget hget));
frames($v, map { {type => 'msg', cid => "k$_", text => "kite $_"} } 1 .. 6);
my $r = answers($v, 6);
my %a = cmd_calls(qw(get mget hget));
is_deeply([map { $_->{cid} . ($_->{dup} ? '+' : '') } @$r], [qw(k1 k2 k3+ k4 k5 k6)],
          'six answered in order, the one with a former record a dup');
is_deeply([@{ $r->[2] }{qw(conv id seq)}], [$c, '123456', 7], '... with what that record says');
is_deeply([map { $_->{seq} } grep { !$_->{dup} } @$r], [map { $seq + $_ } 1 .. 5], 'the others stored in order');
is($a{mget} - $b{mget}, 1, 'the former records of the call read in one MGET');
my $gets = $a{get} - $b{get};
ok($gets <= 1, "no GET a message: its dedup record looked up by the SET that writes it, TEST 10 ($gets)");
my $hgets = $a{hget} - $b{hget};
ok($hgets <= 7, "at most one HGET per message stored (the record's ttl), not the state too ($hgets)");
--- no_error_log
[alert]
[crit]
--- timeout: 60



=== TEST 6: a visitor's record is renewed by its connection's first message, then by no message within 1/16 of its ttl of the last renewal, then by the next one; the index its first message made expires with it (issue 18)
--- http_config
    kefu_anonymous_retention 64s;
--- ws
chat_site('shop1', $main::SECRET);
local $ENV{TEST_NGINX_REDIS_PORT} = $main::R->port;
my $g = 'g' . int rand 1e6;
my $ag = agent("eve$g", $g, status => 'online');
my ($v, $w, $c) = visitor_conv($g);
my $vk = "kefu:{s:shop1}:v:$w->{id}";
$v->until_pong(20);
my $ct = gr('TTL', "$vk:convs");
ok($ct > 56 && $ct <= 64, "the index its first message made expires with the record ($ct s)");
# the record's expiry shortened, to see whether a message renews it
gr('EXPIRE', $vk, 20);
my %b = cmd_calls(qw(hget));
frames($v, map { {type => 'msg', cid => "k$_", text => "kite $_"} } 1 .. 6);
my $r = answers($v, 6);
my %a = cmd_calls(qw(hget));
is(scalar(grep { $_->{type} eq 'ack' && !$_->{dup} } @$r), 6, 'six stored');
my $hgets = $a{hget} - $b{hget};
ok($hgets <= 2, "no HGET of the record's ttl per message ($hgets)");
my $t = gr('TTL', $vk);
ok($t > 0 && $t <= 20, "messages within 4 s (1/16 of 64 s) of the first leave the record's expiry alone ($t s)");
sleep 4.5;
$v->send_json({type => 'msg', cid => 'k7', text => 'kite 7'});
$v->recv_type('ack', 10) or die "no ack for k7\n";
$t = gr('TTL', $vk);
ok($t > 56 && $t <= 64, "the first message after them renews it: its ttl again ($t s)");
ok(gr('TTL', "$vk:convs") > 56, '... and its index');
gr('EXPIRE', $vk, 30);
$v->send_json({type => 'msg', cid => 'k8', text => 'kite 8'});
$v->recv_type('ack', 10) or die "no ack for k8\n";
$t = gr('TTL', $vk);
ok($t <= 30, "the next one again not ($t s)");
# a hello whose write of the record was lost (refused under load, say):
# the connection's first message makes it, with its ttl
my ($v2, $w2) = kefu_connect(role => 'visitor', site => 'shop1', group => $g);
my $vk2 = "kefu:{s:shop1}:v:$w2->{id}";
$v2->until_pong(20);
gr('DEL', $vk2);
$v2->send_json({type => 'msg', cid => 'first', text => 'hello?'});
$v2->recv_type('ack', 10) or die "no ack for the second visitor's first\n";
$t = gr('TTL', $vk2);
ok($t > 56 && $t <= 64, "a record whose hello's write was lost: made by the first message with its ttl ($t s)");
is(gr('HGET', $vk2, 'ttl'), 64, '... which it says');
--- no_error_log
[alert]
[crit]
--- timeout: 60



=== TEST 7: a term's key is pruned and expired by the first call of the worker that adds to it, then only added to until 64 postings later (or 10 s): its postings stay within the cap plus 64, every message is found, and a key gone meanwhile is made again with an expiry (issue 18)
--- ws
chat_site('shop1', $main::SECRET);
local $ENV{TEST_NGINX_REDIS_PORT} = $main::R->port;
local $Kefu::API::Token = api_token(secret => $main::SECRET, site => 'shop1', role => 'admin', sub => 'boss');
my $g = 'g' . int rand 1e6;
my $ag = agent("fay$g", $g, status => 'online');
my ($v, undef, $c) = visitor_conv($g);
$v->until_pong(20);
my $word = 'heron' . int rand 1e6;
my $tk = "kefu:{s:shop1}:ix:w:$word";
# a second word, of these messages only: the search below
my $other = 'egret' . int rand 1e6;
# a term at its cap already, and 50 postings more (as another worker's)
my $now = int(time * 1000);
gr('EVAL', "for i = 1, 10050 do redis.call('ZADD', KEYS[1], ARGV[1] - 60000 + i, '1:' .. i) end "
          . "redis.call('EXPIRE', KEYS[1], 600)", 1, $tk, $now);
my %b = cmd_calls(qw(zremrangebyrank));
my (@sizes, @acks);
for my $i (1 .. 66) {
    $v->send_json({type => 'msg', cid => "h$i", text => "$word $other"});
    push @acks, $v->recv_type('ack', 10) || die "no ack for h$i\n";
    indexed($c, $acks[-1]{seq}) or die "h$i not indexed\n";
    push @sizes, gr('ZCARD', $tk);
}
my %a = cmd_calls(qw(zremrangebyrank));
is($sizes[0], 10000, 'the first message: the term pruned to its cap');
ok((grep { $_ > 10064 } @sizes) == 0, 'never more than the cap and 64 (' . join(' ', @sizes[0, 1, 63, 64, 65]) . ')');
ok((grep { $_ == 10000 } @sizes[1 .. 65]) >= 1, 'pruned again within 65 more');
my $prunes = $a{zremrangebyrank} - $b{zremrangebyrank};
ok($prunes <= 8, "each word pruned by 1 to 4 of the 66 calls, not each ($prunes for both)");
my $t = gr('TTL', $tk);
ok($t > 600, "expired by its first call for the search retention and 10 s ($t s)");
my @h = hits_until($other, 66);
is_deeply([sort @h], [sort map { "$c:$_->{seq}" } @acks], 'all 66 messages found, each once');
# the key gone (erased, say) while the worker does not prune it: made
# again, with an expiry
gr('DEL', $tk);
$v->send_json({type => 'msg', cid => 'h67', text => "$word"});
my $last = $v->recv_type('ack', 10) or die "no ack for h67\n";
indexed($c, $last->{seq}) or die "h67 not indexed\n";
is(gr('ZCARD', $tk), 1, 'the key made again');
ok(gr('TTL', $tk) > 0, '... with an expiry');
--- no_error_log
[alert]
[crit]
search index
--- timeout: 120



=== TEST 8: a message's counters in the conversation's hash (seq, each writer's w:<who>, pn, updated) written by one HSET from what its checks read, not an HINCRBY each: exact past 10^14 (no exponent), in a call of several messages and writers (issue 18)
--- ws
chat_site('shop1', $main::SECRET);
local $ENV{TEST_NGINX_REDIS_PORT} = $main::R->port;
my $g = 'g' . int rand 1e6;
my $ag = agent("gus$g", $g, status => 'online');
my ($v, $w, $c) = visitor_conv($g);
$v->until_pong(20);
$ag->until_pong(20);
my $k = "kefu:{c:$c}";
# past 10^14, which Lua would write as 1e+14 (t/026-large-numbers.t)
gr('HSET', $k, 'seq', '99999999999998', "w:v:$w->{id}", '99999999999999',
   "w:a:gus$g", '7', 'pn', '999999999999999');
my %b = cmd_calls(qw(hincrby hset));
frames($v, map { {type => 'msg', cid => "c$_", text => "crane $_"} } 1 .. 3);
frames($ag, {type => 'msg', conv => $c, cid => 'n1', text => 'a note', private => JSON::PP::true},
            {type => 'msg', conv => $c, cid => 'n2', text => 'a reply'});
my $rv = answers($v, 3);
my $ra = answers($ag, 2);
my %a = cmd_calls(qw(hincrby hset));
is(scalar(grep { $_->{type} eq 'ack' && !$_->{dup} } @$rv, @$ra), 5, 'five stored');
is_deeply([sort map { $_->{seq} } @$rv, @$ra],
          ['100000000000000', '100000000000001', '100000000000002', '100000000000003', '99999999999999'],
          'seqs exact and contiguous past 10^14');
is(gr('HGET', $k, 'seq'), '100000000000003', 'the hash has the last');
is(gr('HGET', $k, "w:v:$w->{id}"), '100000000000002', "the visitor's entries counted exactly");
is(gr('HGET', $k, "w:a:gus$g"), '9', "the agent's");
is(gr('HGET', $k, 'pn'), '1000000000000000', 'the private note counted');
my $last = (sort { $a->{seq} <=> $b->{seq} } @$rv, @$ra)[-1];
is(gr('HGET', $k, 'updated'), $last->{ts}, 'updated: the last one');
my $hincrby = $a{hincrby} - $b{hincrby};
ok($hincrby <= 1, "no HINCRBY per message ($hincrby)");
my $hset = $a{hset} - $b{hset};
ok($hset <= 6, "one HSET per message ($hset)");
--- no_error_log
[alert]
[crit]
--- timeout: 60



=== TEST 9: the site's convs index written once per call, not once per message: each conversation scored by its last message's ts, as before (issue 18)
--- ws
chat_site('shop1', $main::SECRET);
local $ENV{TEST_NGINX_REDIS_PORT} = $main::R->port;
my $g = 'g' . int rand 1e6;
my $ag = agent("hal$g", $g, status => 'online');
my ($v1, undef, $c1) = visitor_conv($g);
my ($v2, undef, $c2) = visitor_conv($g);
$_->until_pong(20) for $v1, $v2, $ag;
my $z = 'kefu:{s:shop1}:convs';
my %b = cmd_calls(qw(zadd));
# the agent's six, to two conversations, in one write: one call; one
# word, so that the search index adds one ZADD
frames($ag, map { {type => 'msg', conv => ($_ % 2 ? $c1 : $c2), cid => "z$_", text => 'ibis'} } 1 .. 6);
my $r = answers($ag, 6);
is(scalar(grep { $_->{type} eq 'ack' && !$_->{dup} } @$r), 6, 'six stored');
my %last;
$last{$_->{conv}} = $_->{ts} for @$r;
for (1 .. 200) {
    last if gr('EXISTS', sprintf('kefu:{s:shop1}:ix:m:%s:%015d', $r->[-1]{conv}, $r->[-1]{seq}));
    select undef, undef, undef, 0.05;
}
my %a = cmd_calls(qw(zadd));
my $zadds = $a{zadd} - $b{zadd};
ok($zadds <= 3, "ZADDs: the index's one and the convs index's one ($zadds), not one a message");
is(gr('ZSCORE', $z, $c1), $last{$c1}, 'the first conversation scored by its last message');
is(gr('ZSCORE', $z, $c2), $last{$c2}, 'the second too');
my $ev = gr('XREVRANGE', 'kefu:{s:shop1}:events', '+', '-', 'COUNT', 6);
is(scalar(grep { { @{ $_->[1] } }->{event} eq 'msg' } @$ev), 6, 'each message its own event on the stream');
--- no_error_log
[alert]
[crit]
--- timeout: 60



=== TEST 10: a message's dedup record looked up and written by one SET ... NX GET, not a GET and a SET: a resend answered as a dup, the record left as it was; messages whose storing fails after their records were written (one call of two, then one alone) leave no record, so that their resends are stored, not answered as dups (issue 18)
--- ws
chat_site('shop1', $main::SECRET);
local $ENV{TEST_NGINX_REDIS_PORT} = $main::R->port;
my $g = 'g' . int rand 1e6;
my $ag = agent("ida$g", $g, status => 'online');
my ($v, $w, $c) = visitor_conv($g);
$v->until_pong(20);
my %b = cmd_calls(qw(get));
frames($v, map { {type => 'msg', cid => "q$_", text => 'quail'} } 1 .. 4);
my $r = answers($v, 4);
my %a = cmd_calls(qw(get));
is(scalar(grep { $_->{type} eq 'ack' && !$_->{dup} } @$r), 4, 'four stored');
my $gets = $a{get} - $b{get};
ok($gets <= 1, "no GET of their dedup records ($gets)");
my $rk = "kefu:{c:$c}:cid:v:$w->{id}:q2";
my $rec = "$r->[1]{id} $r->[1]{seq} $r->[1]{ts}";
is(gr('GET', $rk), $rec, "each one's record written: id, seq, ts");
ok(gr('TTL', $rk) > 0, '... with its expiry');
$v->send_json({type => 'msg', cid => 'q2', text => 'quail again'});
my $d = $v->wait_for(sub { ($_[0]{cid} // '') eq 'q2' }, 10) or die "no answer to the resend\n";
ok($d->{type} eq 'ack' && $d->{dup}, 'a resend: a dup');
is($d->{seq}, $r->[1]{seq}, '... of the stored one');
is(gr('GET', $rk), $rec, 'the record as it was');
# a log entry past the next seq: the next messages' XADD fails, after
# their records were written
my $top = gr('HGET', "kefu:{c:$c}", 'seq') + 1000;
gr('XADD', "kefu:{c:$c}:log", "$top-1", 'j', '{}');
frames($v, map { {type => 'msg', cid => "f$_", text => 'falcon'} } 1 .. 2);
my $f = answers($v, 2);
is(join(' ', map { "$_->{cid}:$_->{type}" } @$f), 'f1:error f2:error', 'two in one call whose log entries fail: errors');
$v->send_json({type => 'msg', cid => 'f3', text => 'falcon'});
my $e = $v->wait_for(sub { ($_[0]{cid} // '') eq 'f3' }, 10) or die "no answer to f3\n";
is($e->{type}, 'error', 'one alone: an error');
is(join(' ', map { gr('EXISTS', "kefu:{c:$c}:cid:v:$w->{id}:f$_") } 1 .. 3), '0 0 0', 'none left a dedup record');
gr('HSET', "kefu:{c:$c}", 'seq', $top);
frames($v, map { {type => 'msg', cid => "f$_", text => 'falcon'} } 1 .. 3);
my $s = answers($v, 3);
is(join(' ', map { "$_->{cid}:$_->{type}" . ($_->{dup} ? '+dup' : '') } @$s), 'f1:ack f2:ack f3:ack', 'their resends stored...');
is_deeply([map { $_->{seq} } @$s], [map { $top + $_ } 1 .. 3], '... in order, past the entry');
--- no_error_log
[alert]
[crit]
--- timeout: 60



=== TEST 11: a term's key a call would prune that is not there yet is made by its ZADD and expired, not pruned: no ZREMRANGEBYSCORE or ZREMRANGEBYRANK for it, and it has its expiry (issue 18)
--- ws
chat_site('shop1', $main::SECRET);
local $ENV{TEST_NGINX_REDIS_PORT} = $main::R->port;
local $Kefu::API::Token = api_token(secret => $main::SECRET, site => 'shop1', role => 'admin', sub => 'boss');
my $g = 'g' . int rand 1e6;
my $ag = agent("jay$g", $g, status => 'online');
my ($v, undef, $c) = visitor_conv($g);
$v->until_pong(20);
my $word = 'wren' . int rand 1e9;
my $tk = "kefu:{s:shop1}:ix:w:$word";
my %b = cmd_calls(qw(zremrangebyscore zremrangebyrank));
$v->send_json({type => 'msg', cid => 'n1', text => $word});
my $k = $v->recv_type('ack', 10) or die "no ack for n1\n";
indexed($c, $k->{seq}) or die "n1 not indexed\n";
my %a = cmd_calls(qw(zremrangebyscore zremrangebyrank));
is(join(' ', map { $a{$_} - $b{$_} } qw(zremrangebyscore zremrangebyrank)), '0 0', 'a new term key: no prunes');
is(gr('ZCARD', $tk), 1, 'the key made');
ok(gr('TTL', $tk) > 600, '... with its expiry');
is_deeply([hits_until($word, 1)], ["$c:$k->{seq}"], 'the message found');
--- no_error_log
[alert]
[crit]
--- timeout: 60



=== TEST 12: a call's events are appended untrimmed and the stream trimmed once at the call's end (XTRIM MAXLEN ~ 100000), not by each XADD; a conversation's log is trimmed to about kefu_log_retention once its seq passes it (issue 18)
--- http_config
    kefu_log_retention 100;
--- ws
chat_site('shop1', $main::SECRET);
local $ENV{TEST_NGINX_REDIS_PORT} = $main::R->port;
my $g = 'g' . int rand 1e6;
my $ag = agent("kim$g", $g, status => 'online');
my ($v1, undef, $c1) = visitor_conv($g);
my ($v2, undef, $c2) = visitor_conv($g);
$_->until_pong(20) for $v1, $v2, $ag;
my $ek = 'kefu:{s:shop1}:events';
gr('EVAL', "for i = 1, 1000 do redis.call('XADD', KEYS[1], '*', 'event', 'filler', 'conv', '', 'seq', '', 'ts', '0', 'data', '{}') end return 1", 1, $ek)
    for 1 .. 110;
cmp_ok(gr('XLEN', $ek), '>', 110000, 'the stream over-full');
my %b = cmd_calls(qw(xtrim));
frames($ag, map { {type => 'msg', conv => ($_ % 2 ? $c1 : $c2), cid => "t$_", text => 'tern'} } 1 .. 6);
my $r = answers($ag, 6);
is(scalar(grep { $_->{type} eq 'ack' && !$_->{dup} } @$r), 6, 'six stored');
my $len;
for (1 .. 200) {
    $len = gr('XLEN', $ek);
    last if $len <= 101000;
    select undef, undef, undef, 0.05;
}
cmp_ok($len, '<=', 101000, "trimmed back to about 100000 ($len)");
cmp_ok($len, '>=', 100000, 'but not below the bound');
my %a = cmd_calls(qw(xtrim));
my $x = $a{xtrim} - $b{xtrim};
ok($x >= 1 && $x < 6, "by an XTRIM a call ($x), not by each of the six XADDs");
my $ev = gr('XREVRANGE', $ek, '+', '-', 'COUNT', 6);
is(scalar(grep { { @{ $_->[1] } }->{event} eq 'msg' } @$ev), 6, 'each message its event');
# 300 messages more in one conversation, 50 a write: a log of more than
# its 100 entries is trimmed back (whole nodes of 100 entries go)
for my $w (0 .. 5) {
    frames($ag, map { {type => 'msg', conv => $c1, cid => "l$_", text => "x$_"} } $w * 50 + 1 .. $w * 50 + 50);
    my $a = answers($ag, 50);
    die "write $w: " . scalar(grep { $_->{type} eq 'ack' } @$a) . " acks\n"
        unless grep({ $_->{type} eq 'ack' } @$a) == 50;
}
my $log = gr('XLEN', "kefu:{c:$c1}:log");
cmp_ok($log, '<=', 200, "the log trimmed to about its retention ($log)");
cmp_ok($log, '>=', 100, 'but not below it');
gr('DEL', $ek);
--- no_error_log
[alert]
[crit]
--- timeout: 90



=== TEST 13: a visitor's first message on one Redis is one script call (lua/first.lua: open, msg and route_new composed; issue 18), not three, which reads back neither the routing record it made nor the conversation's hash it made and its message wrote: acked, then told its agent, the agent told, the log the message then its assignment, the conversation the visitor's open one and the counts moved as by the three calls
--- ws
chat_site('shop1', $main::SECRET);
local $ENV{TEST_NGINX_REDIS_PORT} = $main::R->port;
my $g = 'g' . int rand 1e6;
my $ag = agent("fay$g", $g, status => 'online');
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1', group => $g);
$v->until_pong(20);
$ag->until_pong(20);
my $open0 = gr('HGET', 'kefu:{s:shop1}:counts', 'open') // 0;
# the script calls that carry the message's cid (open, msg, route_new, or
# first), seen by MONITOR
my $mon = redis_monitor($main::R->port);
my $cid = "first-$g";
$v->send_json({type => 'msg', cid => $cid, text => 'first words'});
my @seen;
my $n = $v->wait_for(sub { push @seen, $_[0]{type}; $_[0]{type} eq 'conv' }, 20);
my $c = $n && $n->{conv};
is("@seen", 'ack conv', 'the ack, then where the conversation went');
is($n && "$n->{state} $n->{agent}{id}", "open fay$g", '... to the agent');
my $t = $ag->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $c }, 20);
is($t && $t->{state}, 'open', 'the agent is told');
ok(indexed($c, 1), 'the message indexed');
# all until half a second without a command
my @cmds = $mon->read(quiet => 0.5);
$mon->close;
my @calls = grep { $_->{call} && grep { $_ eq $cid } @{ $_->{args} } } @cmds;
is(scalar @calls, 1, 'one script call carries the message: ' . join(' ', map { $_->{args}[0] } @calls));
# what the call read: the routing record open's part made, and the
# conversation's hash open's part made and the message wrote, not read
# back by msg's and route_new's parts
my @lua = grep { $_->{lua} && $_->{cmd} eq 'hmget' } @cmds;
my @rr = grep { $_->{args}[0] eq "kefu:{s:shop1}:r:$c" } @lua;
is(scalar @rr, 0, 'the routing record not read back (' . scalar(@rr) . ')');
my @hr = grep { $_->{args}[0] eq "kefu:{c:$c}" } @lua;
is(scalar @hr, 0, "the conversation's hash not read either: msg's part has what open's wrote (" . scalar(@hr) . ')');
is(gr('HGET', "kefu:{s:shop1}:v:$w->{id}", 'open'), $c, "the visitor's open conversation");
is(gr('HGET', 'kefu:{s:shop1}:counts', 'open') - $open0, 1, 'counted open');
is(gr('ZSCORE', 'kefu:{s:shop1}:opening', $c), undef, 'not left for the route sweep');
my $log = gr('XRANGE', "kefu:{c:$c}:log", '-', '+');
my @j = map { json_dec({ @{ $_->[1] } }->{j}) } @$log;
is(join(' ', map { $_->{seq} . ':' . ($_->{from}{role} // '') } @j), '1:visitor 2:system',
   'the log: the message, then its assignment');
is($j[0]{text}, 'first words', '... the message as sent');
is(gr('HGET', "kefu:{c:$c}", 'agent'), "fay$g", 'its hash names the agent');
--- no_error_log
[alert]
[crit]
--- timeout: 60



=== TEST 14: a call's messages carry only what msg reads of its ARGV (issue 18): no KEYS on one Redis (with a cluster they route the call), the site, JSON head, dedup ttl and log length once a call, then each message's 11 to 15, each stored and answered as alone
--- ws
chat_site('shop1', $main::SECRET);
local $ENV{TEST_NGINX_REDIS_PORT} = $main::R->port;
my $g = 'g' . int rand 1e6;
my $ag = agent("lin$g", $g, status => 'online');
my ($v1, undef, $c1) = visitor_conv($g);
$_->until_pong(20) for $v1, $ag;
my $seq1 = gr('HGET', "kefu:{c:$c1}", 'seq');
my $mon = redis_monitor($main::R->port);
# one conversation's: one call also on a cluster (a call is one slot's)
frames($ag, map { {type => 'msg', conv => $c1, cid => "m$_", text => "moth $_"} } 1 .. 6);
my $r = answers($ag, 6);
is(scalar(grep { $_->{type} eq 'ack' && !$_->{dup} } @$r), 6, 'six stored');
# the msg_batch call of them (FCALL, or EVALSHA on a Redis without
# functions): its words, the command first
my $m1 = sub { $_[0]{call} && grep { $_ eq 'm1' } @{ $_[0]{args} } };
my @cmds = $mon->read(until => $m1, timeout => 20);
$mon->close;
my ($call) = map { [$_->{cmd}, @{ $_->{args} }] } grep { $m1->($_) } @cmds;
ok($call, 'one call of the six') or diag(join "\n", map { $_->{line} } @cmds);
$call //= [0, 0, 0];
# with a cluster their conversation's key each (the call's routing) and
# "0" (not here), else no keys and "1"
my $nk = $call->[2];
my $here = $call->[3 + $nk] // '';
is($nk, $here eq '1' ? 0 : 6, "keys only on a cluster ($nk, here $here)");
is_deeply([@$call[3 .. 2 + $nk]], [("kefu:{c:$c1}") x $nk], '... the conversation\'s');
my @a = @$call[4 + $nk .. $#$call];
is_deeply([@a[0, 1]], ['shop1', '{"type":"msg","conv":"'], 'the site and the JSON head once, first')
    or diag("@a");
like("@a[2, 3]", qr/^\d+ \d+$/, "then the dedup ttl and the log length (@a[2, 3])");
my ($i, @counts, @cids) = (4);
while ($i < @a) {
    push @counts, $a[$i];
    push @cids, $a[$i + 4];
    $i += $a[$i] + 1;
}
is($i, scalar @a, 'each message its count and that many arguments');
is_deeply(\@cids, [map { "m$_" } 1 .. 6], 'in order, the cid fourth of each');
is(scalar(grep { $_ >= 11 && $_ <= 15 } @counts), 6, "each message 11 to 15 arguments, not msg's 32 (@counts)");
my $log = gr('XRANGE', "kefu:{c:$c1}:log", '-', '+');
my %e = @{ $log->[-1][1] };
is($log->[-1][0], ($seq1 + 6) . '-1', 'the log entry of the last one');
is($e{f}, "a:lin$g", '... its sender');
is($e{p}, '0', '... not private');
like($e{j}, qr/^\{"type":"msg","conv":"\Q$c1\E","id":"\d+","seq":\Q@{[$seq1 + 6]}\E,.*"text":"moth 6"/, '... its JSON');
--- no_error_log
[alert]
[crit]
--- timeout: 60



=== TEST 15: while two of a worker's calls are in flight, the messages of later passes wait for an answer and then go as one call (group commit held by the calls in flight, issue 18): nine messages sent one write at a time while Redis is paused are three calls, not one each; every one acked once, each conversation's in send order
--- ws
chat_site('shop1', $main::SECRET);
local $ENV{TEST_NGINX_REDIS_PORT} = $main::R->port;
my $g = 'g' . int rand 1e6;
my $ag = agent("mei$g", $g, status => 'online');
my ($v1, undef, $c1) = visitor_conv($g);
my ($v2, undef, $c2) = visitor_conv($g);
$_->until_pong(20) for $v1, $v2, $ag;
my %seq0 = map { $_ => gr('HGET', "kefu:{c:$_}", 'seq') } $c1, $c2;
my $mon = redis_monitor($main::R->port);
# writes wait in Redis (a script call is a write) for 1.5 s: the first
# two messages' calls are in flight all that time
gr('CLIENT', 'PAUSE', 1500, 'WRITE');
my @who = ([$v1, undef], [$v2, undef], [$ag, $c1], [$ag, $c2]);
my %sent;
for my $i (1 .. 9) {
    my ($ws, $conv) = @{ $who[$i % 4] };
    # each its own write, 50 ms apart: its own pass of the worker
    $ws->send_json({type => 'msg', cid => "h$i", text => "held $i",
                    $conv ? (conv => $conv) : ()});
    push @{ $sent{$ws} }, "h$i";
    select undef, undef, undef, 0.05;
}
my %r = map { $_ => answers($_, scalar @{ $sent{$_} }) } $v1, $v2, $ag;
my @all = map { @$_ } values %r;
is(scalar(grep { $_->{type} eq 'ack' && !$_->{dup} } @all), 9, 'nine acks for nine messages');
my %seen;
$seen{$_->{cid}}++ for @all;
is_deeply(\%seen, {map { ("h$_" => 1) } 1 .. 9}, 'each answered once');
for my $ws ($v1, $v2, $ag) {
    is_deeply([map { $_->{cid} } @{ $r{$ws} }], $sent{$ws}, 'a sender answered in its send order');
}
for my $c ($c1, $c2) {
    my @s = sort { $a <=> $b } map { $_->{seq} } grep { $_->{conv} eq $c } @all;
    is_deeply(\@s, [map { $seq0{$c} + $_ } 1 .. @s], "$c: seqs contiguous");
    my @by_seq = map { $_->{cid} } sort { $a->{seq} <=> $b->{seq} } grep { $_->{conv} eq $c } @all;
    is_deeply(\@by_seq, [sort { substr($a, 1) <=> substr($b, 1) } @by_seq], "$c: stored in send order");
}
# the script calls that carried them, and the cids each carried
my $h9 = sub { $_[0]{call} && grep { $_ eq 'h9' } @{ $_[0]{args} } };
my @cmds = $mon->read(until => $h9, timeout => 20);
$mon->close;
my @calls = map { [grep { /^h\d$/ } @{ $_->{args} }] }
            grep { $_->{call} && grep { /^h\d$/ } @{ $_->{args} } } @cmds;
is(scalar @calls, 3, 'three calls for the nine, not nine') or diag(join ' ', map { "[@$_]" } @calls);
is_deeply($calls[0], ['h1'], 'the first alone, sent at once');
is_deeply($calls[1], ['h2'], 'the second alone, sent at once (two in flight)');
is_deeply([sort @{ $calls[2] // [] }], [sort map { "h$_" } 3 .. 9], 'the seven that waited in one');
--- no_error_log
[alert]
[crit]
--- timeout: 60
