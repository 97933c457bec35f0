# Numbers into and out of the scripts travel as decimal strings: a seq from
# 10^14 on, and bounds given by clients up to their maximum, are never
# written by Lua as 1e+14 (issue 10).  A conversation's seq is set near
# 10^14 in Redis; messages, system entries, WebSocket history and the HTTP
# API's log then work with the exact values.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;

our $S1 = 'shop1-secret-0123456789abcdef';

our $SITE = <<'_EOC_';
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on default_group=presales;
_EOC_

api_blocks(http => $main::SITE, ready => '/kefu/api/sites/shop1/convs', config => <<'_EOC_');
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
_EOC_

our $SHOP = site_of_run('shop1');
$Kefu::API::Token = api_token(secret => $S1, site => $SHOP);

# a visitor's conversation whose next seq is 99999999999999 (10^14 - 1)
sub big_conv {
    my ($v, $w) = kefu_connect(role => 'visitor', site => $main::SHOP, group => 'big');
    $v->send_json({type => 'msg', cid => 'first', text => 'hello'});
    my $ack = $v->recv_type('ack') or die "no ack\n";
    redis('HSET', "kefu:{c:$ack->{conv}}", 'seq', '99999999999998');
    return ($v, $w, $ack->{conv});
}

run_tests();

__DATA__

=== TEST 1: seq past 10^14: acks, delivery, a system entry and history before >= 10^14
--- ws
my ($v, $w, $conv) = big_conv();
my ($v2) = kefu_connect(role => 'visitor', site => 'shop1', token => $w->{token});
my @acks;
for my $i (1 .. 3) {
    $v->send_json({type => 'msg', cid => "big$i", text => "m$i"});
    push @acks, $v->recv_type('ack');
}
is_deeply([map { $_->{seq} } @acks], [99999999999999, 100000000000000, 100000000000001],
          'acks count on past 10^14');
is(ref(\$acks[2]{seq}), 'SCALAR', 'an integer');
unlike(join(' ', map { $_->{seq} } @acks), qr/e/i, 'never in exponent form');
my @got = map { $v2->wait_for(sub { $_[0]{type} eq 'msg' && $_[0]{cid} && $_[0]{cid} eq "big$_" }) } 1 .. 3;
is_deeply([map { $_->{seq} } @got], [99999999999999, 100000000000000, 100000000000001],
          "the visitor's other connection gets them with their seq");

# an agent of the group takes it: the routing script writes a system entry
my $t = jwt_hs256({sub => 'big1', role => 'agent', site => 'shop1', exp => time + 300,
                   groups => ['big'], capacity => 5}, $main::S1);
my ($a, $aw) = kefu_connect(role => 'agent', site => 'shop1', token => $t);
is($aw->{type}, 'welcome', 'the agent is in');
$a->send_json({type => 'accept', conv => $conv});
my $sys = $v->wait_for(sub { $_[0]{type} eq 'msg' && $_[0]{from}{role} eq 'system' });
is($sys->{seq}, 100000000000002, "the routing script's system entry has the exact seq");
like($sys->{ts}, qr/^\d{13}$/, 'and a ts in ms');

$v->send_json({type => 'history', conv => $conv, before => 100000000000001, limit => 2});
my $h = $v->recv_type('history');
is_deeply([map { $_->{seq} } @{ $h->{msgs} }], [99999999999999, 100000000000000],
          'history before 100000000000001');
ok($h->{more}, 'more before them');

$v->send_json({type => 'history', conv => $conv, before => 100000000000000, limit => 5});
$h = $v->recv_type('history');
is_deeply([map { $_->{cid} } @{ $h->{msgs} }], ['first', 'big1'], 'history before exactly 10^14');

$v->send_json({type => 'history', conv => $conv, before => '9223372036854775807' + 0, limit => 1});
$h = $v->recv_type('history');
is($h->{type}, 'history', 'before = 2^63 - 1: an answer, not unavailable');
is_deeply([map { $_->{seq} } @{ $h->{msgs} }], [100000000000002], 'the latest entry');

$v->send_json({type => 'read', conv => $conv, seq => 100000000000001});
my $r = $v2->wait_for(sub { $_[0]{type} eq 'read' });
is($r->{seq}, 100000000000001, 'a read pointer past 10^14, told exactly');
--- no_error_log
[error]

=== TEST 2: the HTTP API's log with after and before near 10^14 and at the maximum
--- ws
my ($v, $w, $conv) = big_conv();
for my $i (1 .. 3) {
    $v->send_json({type => 'msg', cid => "api$i", text => "m$i"});
    $v->recv_type('ack');
}
my $p = "/kefu/api/sites/shop1/convs/$conv/messages";
my ($st, $j, undef, $raw) = api(GET => "$p?after=99999999999999");
is($st, 200, 'after 10^14 - 1: 200') or diag $raw;
is_deeply([map { $_->{seq} } @{ $j->{msgs} }],
          [100000000000000, 100000000000001], 'the entries after it') or diag $raw;
($st, $j, undef, $raw) = api(GET => "$p?before=100000000000001&limit=2");
is($st, 200, 'before 10^14 + 1: 200') or diag $raw;
is_deeply([map { $_->{seq} } @{ $j->{msgs} }],
          [99999999999999, 100000000000000], 'the two before it') or diag $raw;
($st, $j, undef, $raw) = api(GET => "$p?after=999999999999999");
is($st, 200, 'after the maximum: 200') or diag $raw;
is_deeply($j->{msgs}, [], 'nothing after it') or diag $raw;
($st, $j, undef, $raw) = api(GET => "$p?before=999999999999999&limit=1");
is($st, 200, 'before the maximum: 200') or diag $raw;
is_deeply([map { $_->{seq} } @{ $j->{msgs} }], [100000000000001],
          'the latest') or diag $raw;
unlike($raw, qr/"seq":\d+(?:\.\d+)?e/i, 'no seq in exponent form');
--- no_error_log
[error]
