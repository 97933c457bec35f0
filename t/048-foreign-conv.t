# A conversation id of another site, given to the HTTP API or in a
# WebSocket message: the same answer with one Redis and on a cluster
# (scripts/test --cluster3, where the conversation's keys, the site's
# and the other site's are on different masters): 404 not_found from the
# API, forbidden on the WebSocket, and nothing of either site changes.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::Route;
use Kefu::Upload;
use File::Temp qw(tempdir);

BEGIN { $ENV{TEST_NGINX_UPLOAD_DIR} = tempdir('kefu-uploads.XXXXXX', TMPDIR => 1, CLEANUP => 1) }

our $S2 = 'shop2-secret-0123456789abcdef';

api_blocks(http => <<'_EOC_', ready => '/kefu/api/sites/shop1/convs', config => <<'_EOC_');
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
    kefu_site shop2 secret=shop2-secret-0123456789abcdef anonymous=on;
    kefu_upload_path $TEST_NGINX_UPLOAD_DIR;
_EOC_
    location = /chat { kefu_chat; kefu_message_rate 100r/s burst=100; }
    location /kefu/api/ { kefu_api; }
    location /files/ { kefu_upload; }
_EOC_

$Kefu::API::Token = api_token(secret => $S2, site => 'shop2');
$Kefu::Upload::Path = '/files/';

# what the tests' Redis holds of every key whose name holds the string:
# {key => [type, has an expiry, content]}
sub state_of {
    my ($s) = @_;
    my %out;
    for my $k (@{ redis('KEYS', "*$s*") || [] }) {
        my $t = redis('TYPE', $k);
        my $c = $t eq 'string' ? redis('GET', $k)
              : $t eq 'hash'   ? { @{ redis('HGETALL', $k) } }
              : $t eq 'list'   ? redis('LRANGE', $k, 0, -1)
              : $t eq 'set'    ? [sort @{ redis('SMEMBERS', $k) }]
              : $t eq 'zset'   ? redis('ZRANGE', $k, 0, -1, 'WITHSCORES')
              : $t eq 'stream' ? redis('XRANGE', $k, '-', '+')
              : undef;
        $out{$k} = [$t, redis('TTL', $k) > 0 ? 1 : 0, $c];
    }
    return \%out;
}

# the answer to a message with a cid: its error, or whatever came for
# that cid (an ack), or undef when nothing came within the wait
sub answer_of {
    my ($ws, $msg) = @_;
    $ws->send_json($msg);
    return wait_for($ws, sub { ($_[0]{cid} // '') eq $msg->{cid}
                               && ($_[0]{type} eq 'error' || $_[0]{type} eq 'ack'
                                   || $_[0]{type} eq 'history') }, 3);
}

run_tests();

__DATA__

=== TEST 1: another site's conversation: 404 from the API, forbidden on the WebSocket and for an upload, nothing on resume; nothing of it or of either site changes
--- ws
my $g = uniq_group('fx');
my ($a) = agent("fa-$g", groups => [$g], status => 'online');
my ($v, $w, $ack) = visitor($g, text => 'mine');
my $c = $ack->{conv};
wait_conv($a, $c, state => 'open') or die "not assigned\n";
# shop2's: a supervisor of the same group name, an admin, a visitor
my %tok = (agent => agent_token("fx-$g", site => 'shop2', secret => $main::S2, groups => [$g],
                                supervisor => JSON::PP::true()),
           admin => agent_token("fm-$g", role => 'admin', site => 'shop2', secret => $main::S2));
my ($x) = kefu_connect(role => 'agent', site => 'shop2', status => 'online', token => $tok{agent});
my ($xm) = kefu_connect(role => 'admin', site => 'shop2', token => $tok{admin});
my ($xv, $xw) = kefu_connect(role => 'visitor', site => 'shop2', group => $g);
$tok{visitor} = $xw->{token};
my $last = redis('XREVRANGE', 'kefu:{s:shop2}:events', '+', '-', 'COUNT', 1)->[0];
$last = $last ? $last->[0] : '0';
# the message's search hit (written after it is stored) is there first
my $hit;
for (1 .. 200) { last if $hit = @{ redis('KEYS', "kefu:{s:shop1}:ix:m:$c:*") || [] }; select undef, undef, undef, 0.05 }
ok($hit, 'its message is indexed');
my $before = main::state_of($c);
ok(exists $before->{"kefu:{c:$c}"} && exists $before->{"kefu:{s:shop1}:r:$c"},
   'the conversation and its routing record are stored');

for my $p (['GET', ''], ['GET', '/messages'], ['POST', '/messages', {cid => 'x1', text => 'hi'}],
           ['POST', '/events', {name => 'x.y'}], ['POST', '/assign', {agent => "fx-$g"}],
           ['POST', '/transfer', {group => $g}], ['POST', '/close', {}], ['POST', '/handoff', {}]) {
    my ($st, $j) = api($p->[0] => "/kefu/api/sites/shop2/convs/$c$p->[1]", $p->[2]);
    is($st, 404, "API $p->[0] …/convs/<conv>$p->[1]: 404");
    is($j->{error}{code}, 'not_found', '... not_found');
}
my $n = 0;
for my $ws ([$x, 'agent'], [$xm, 'admin'], [$xv, 'visitor']) {
    for my $m ({type => 'msg', text => 'in'}, {type => 'accept'}, {type => 'close'}, {type => 'join'},
               {type => 'transfer', group => $g}, {type => 'read', seq => 1}, {type => 'history'},
               {type => 'rate', score => 1}, {type => 'typing', on => JSON::PP::true()},
               {type => 'handoff'}) {
        my $r = main::answer_of($ws->[0], {%$m, conv => $c, cid => 'q' . $n++});
        is($r && "$r->{type} " . ($r->{code} // ''), 'error forbidden', "WebSocket, shop2's $ws->[1]: $m->{type} forbidden");
    }
}
for my $role (qw(agent visitor)) {
    my ($st, $j) = upload(token => $tok{$role}, site => 'shop2', conv => $c, name => 'a.txt', data => "hello\n",
                          type => 'text/plain');
    is($st, 403, "an upload into it with a $role token: 403");
    is($j->{error}{code}, 'forbidden', '... forbidden');
}
my ($st, $j) = upload(token => $Kefu::API::Token, site => 'shop2', conv => $c, name => 'a.txt', data => "hello\n",
                      type => 'text/plain');
is($st, 403, 'with a service token: 403');
for my $role (qw(agent admin visitor)) {
    my ($ws, $w2) = kefu_connect(role => $role, site => 'shop2', token => $tok{$role}, resume => {$c => 0});
    is($w2->{type}, 'welcome', "a ${role}'s hello resuming it: welcome");
    ok(!wait_for($ws, sub { ($_[0]{conv} // '') eq $c }, 2), '... and nothing of the conversation');
}

is_deeply(main::state_of($c), $before, 'every key naming the conversation is as it was, and no other names it');
my @ev = grep { my %f = @{ $_->[1] }; ($f{conv} // '') eq $c } @{ redis('XRANGE', 'kefu:{s:shop2}:events', "($last", '+') };
is(scalar @ev, 0, "shop2's event stream says nothing of it");
ok(!defined redis('ZSCORE', 'kefu:{s:shop2}:convs', $c), "it is not in shop2's list");
ok(!defined redis('ZSCORE', "kefu:{s:shop2}:a:fx-$g:convs", $c), "nor in shop2's supervisor's");
is(redis('HGET', "kefu:{c:$c}", 'state'), 'open', 'it is still open');
is(redis('HGET', "kefu:{c:$c}", 'agent'), "fa-$g", "with shop1's agent");
