# The event stream out: every change of a conversation is an entry of the
# site's Redis Stream kefu:{s:<site>}:events (event, conv, seq, ts, data),
# in the order it happened, readable with consumer groups.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;

our $S = 'shops-secret-0123456789abcdef';
our $KEY = 'kefu:{s:shops}:events';

our $SITE = <<'_EOC_';
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shops secret=shops-secret-0123456789abcdef anonymous=on default_group=sa;
_EOC_

api_blocks(http => $main::SITE, ready => '/kefu/api/sites/shops/convs', config => <<'_EOC_');
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
_EOC_

$Kefu::API::Token = api_token(secret => $S, site => 'shops');

# the stream's entries of one conversation: [{id, event, conv, seq, ts, data}]
sub entries {
    my ($conv) = @_;
    my $r = redis('XRANGE', $main::KEY, '-', '+');
    my @out;
    for my $e (@$r) {
        my %f = @{ $e->[1] };
        next unless $f{conv} eq $conv;
        push @out, {id => $e->[0], %f};
    }
    return @out;
}

run_tests();

__DATA__

=== TEST 1: a conversation's life in the stream, in order, with the entries clients got
--- ws
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shops');
$v->send_json({type => 'msg', cid => 'c1', text => 'is my order paid?'});
my $conv = $v->recv_type('ack')->{conv};
my $t = jwt_hs256({sub => 'gus', role => 'agent', site => 'shops', exp => time + 600,
                   groups => ['sa'], capacity => 2}, $main::S);
my ($ag) = kefu_connect(role => 'agent', site => 'shops', token => $t);
$ag->send_json({type => 'accept', conv => $conv});
$ag->recv_type('conv');
my ($st, $j) = api(POST => "/kefu/api/sites/shops/convs/$conv/messages",
                   {cid => 'n1', text => 'VIP', private => JSON::PP::true(), from => {role => 'bot', id => 'crm'}});
is($st, 201, 'a private note');
($st, $j) = api(POST => "/kefu/api/sites/shops/convs/$conv/events", {name => 'order.paid', data => {order => '77'}});
is($st, 201, 'a business event');
$ag->send_json({type => 'close', conv => $conv});
$ag->recv_type('conv');
$v->send_json({type => 'rate', conv => $conv, score => 5, comment => 'quick'});
my @e;
for (1 .. 50) {
    @e = main::entries($conv);
    last if grep { $_->{event} eq 'conv.rated' } @e;
    sleep 0.1;
}
is_deeply([map { $_->{event} } @e],
          [qw(conv.created msg conv.queued conv.assigned note event conv.closed conv.rated)],
          'every change, in order') or diag(Test::More::explain(\@e));
is_deeply([map { $_->{seq} } grep { $_->{event} =~ /^(msg|note|event|conv\.assigned|conv\.closed)$/ } @e],
          [1 .. 5], 'log entries carry their seq');
is_deeply([map { $_->{seq} } grep { $_->{event} =~ /^conv\.(created|queued|rated)$/ } @e],
          ['', '', ''], 'the others none');
my @ts = map { $_->{ts} } @e;
ok(!grep({ !/^\d{13}$/ } @ts), 'ts in ms');
is_deeply(\@ts, [sort { $a <=> $b } @ts], 'in time order');
my ($created) = grep { $_->{event} eq 'conv.created' } @e;
is_deeply(json_dec($created->{data}), {group => 'sa', visitor => $w->{id}}, 'conv.created data');
($st, $j) = api(GET => "/kefu/api/sites/shops/convs/$conv/messages");
my %log = map { $_->{seq} => $_ } @{ $j->{msgs} };
for my $x (grep { length $_->{seq} } @e) {
    is_deeply(json_dec($x->{data}), $log{$x->{seq}}, "$x->{event}: data is the log entry of seq $x->{seq}");
}
my ($ev) = grep { $_->{event} eq 'event' } @e;
is(json_dec($ev->{data})->{name}, 'order.paid', 'the business event is there by name');
my ($rated) = grep { $_->{event} eq 'conv.rated' } @e;
is(json_dec($rated->{data})->{score}, 5, 'the rating');



=== TEST 2: a consumer group reads it at least once and resumes where it left off
--- ws
my $g = 'backend' . int(rand 1e9);
is(redis('XGROUP', 'CREATE', $main::KEY, $g, '$', 'MKSTREAM'), 'OK', 'a consumer group from now on');
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shops');
$v->send_json({type => 'msg', cid => 'g1', text => 'one'});
my $conv = $v->recv_type('ack')->{conv};
# with kefu_redis cluster a message's entry (and its routing's) is put by
# a later call, after its ack: the event is posted once the three are in,
# so that the order below is the one each step had (TEST 1 is the order's
# own test)
entries_of($conv, 3);
my ($st) = api(POST => "/kefu/api/sites/shops/convs/$conv/events", {name => 'cart.updated'});
is($st, 201, 'an event');
# and until the stream has the conversation's four
sub entries_of {
    my ($conv, $n) = @_;
    for (1 .. 200) {
        my $tail = redis('XREVRANGE', $main::KEY, '+', '-', 'COUNT', 200);
        return if $n <= grep { my %f = @{ $_->[1] }; ($f{conv} // '') eq $conv } @$tail;
        sleep 0.05;
    }
}
entries_of($conv, 4);
my $r = redis('XREADGROUP', 'GROUP', $g, 'worker1', 'COUNT', '100', 'STREAMS', $main::KEY, '>');
my @got = map { { @{ $_->[1] } } } @{ $r->[0][1] };
is_deeply([map { $_->{event} } grep { $_->{conv} eq $conv } @got],
          [qw(conv.created msg conv.queued event)], 'the new entries, in order');
# worker1 dies before acknowledging: the entries stay pending for it
$r = redis('XREADGROUP', 'GROUP', $g, 'worker1', 'COUNT', '100', 'STREAMS', $main::KEY, '0');
is(scalar @{ $r->[0][1] }, scalar @got, 'unacknowledged entries are delivered again from 0');
my @ids = map { $_->[0] } @{ $r->[0][1] };
is(redis('XACK', $main::KEY, $g, @ids), scalar @ids, 'acknowledged');
$r = redis('XREADGROUP', 'GROUP', $g, 'worker1', 'COUNT', '100', 'STREAMS', $main::KEY, '0');
is(scalar @{ $r->[0][1] }, 0, 'nothing pending');
$v->send_json({type => 'msg', conv => $conv, cid => 'g2', text => 'two'});
$v->recv_type('ack');
entries_of($conv, 5);
$r = redis('XREADGROUP', 'GROUP', $g, 'worker2', 'COUNT', '100', 'STREAMS', $main::KEY, '>');
is_deeply([map { { @{ $_->[1] } }->{event} } @{ $r->[0][1] }], ['msg'], 'the group goes on with what came after');
redis('XGROUP', 'DESTROY', $main::KEY, $g);



=== TEST 3: the stream is bounded
--- ws
my $info = redis('XINFO', 'STREAM', $main::KEY);
my %i = @$info[0 .. 13];
ok($i{length} > 0, "it has entries ($i{length})");
# trimming is MAXLEN ~ 100000 inside the scripts: an over-full stream shrinks
# on the next append (approximately: whole radix tree nodes go)
my $n = 0;
for my $chunk (1 .. 110) {
    redis('EVAL', "for i = 1, 1000 do redis.call('XADD', KEYS[1], '*', 'event', 'filler', 'conv', '', 'seq', '', 'ts', '0', 'data', '{}') end return 1", 1, $main::KEY);
}
my ($v) = kefu_connect(role => 'visitor', site => 'shops');
$v->send_json({type => 'msg', cid => 'b1', text => 'after the filler'});
$v->recv_type('ack');
my $len = redis('XLEN', $main::KEY);
cmp_ok($len, '<=', 101000, "trimmed back to about 100000 ($len)");
cmp_ok($len, '>=', 100000, 'but not below the bound');
redis('DEL', $main::KEY);
