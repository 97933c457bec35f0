# What docs/storage.md promises of delivery and ids beyond the everyday:
# catch-up fills what a lost pub/sub connection missed, kefu_dedup_window
# ends, message ids are unique across workers and hosts.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;

workers(2);
master_on();
worker_connections(1024);

our $S = 'shop13-secret-0123456789abcdef';
free_port('TEST_NGINX_REUSEPORT_PORT');

# a Redis of this file's own: TEST 1 kills its pub/sub connections
our $R = redis_server();
$ENV{TEST_NGINX_OWN_REDIS_PORT} = $R->port;

add_block_preprocessor(sub {
    my $block = shift;
    my $port = defined $block->own_redis ? '$TEST_NGINX_OWN_REDIS_PORT' : '$TEST_NGINX_REDIS_PORT';
    $block->set_value('http_config', "kefu_redis 127.0.0.1:$port;\n"
        . "kefu_site shop13 secret=$S anonymous=on;\n"
        . "server { listen 127.0.0.1:\$TEST_NGINX_REUSEPORT_PORT reuseport; location = /chat { kefu_chat; } }\n"
        . ($block->http_config // ''));
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 1000r/s burst=1000; }\n"
        . "location /kefu/api/ { kefu_api; }\n");
});

$Kefu::API::Token = api_token(secret => $S, site => 'shop13');

run_tests();

__DATA__

=== TEST 1: pub/sub connections lost while the API writes: catch-up delivers every message once, in order
--- own_redis
--- ws
api_ready('/kefu/api/sites/shop13/convs') or die "not ready\n";
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop13');
my ($v2) = kefu_connect(role => 'visitor', site => 'shop13', token => $w->{token},
                        port => $ENV{TEST_NGINX_REUSEPORT_PORT});
$v->send_json({type => 'msg', cid => 'open', text => 'hello'});
my $conv = $v->recv_type('ack')->{conv};
is($v2->recv_type('msg')->{seq}, 1, 'the other connection has seq 1');
my $P = "/kefu/api/sites/shop13/convs/$conv/messages";
my $killed = 0;
for my $i (2 .. 41) {
    # every fifth write, both workers lose their pub/sub connection
    $killed += redis(port => $main::R->port, 'CLIENT', 'KILL', 'TYPE', 'pubsub') if $i % 5 == 2;
    my ($st) = api(POST => $P, {cid => "m$i", text => "n$i", from => {role => 'bot', id => 'b'}});
    die "write $i: $st\n" unless $st == 201;
}
# a worker's pub/sub connection is of TYPE pubsub once it subscribed: the
# visitors' worker(s) at least (both visitors may be on one worker)
ok($killed >= 1, "pub/sub connections were killed ($killed)");
for my $ws ($v, $v2) {
    my @seqs;
    while (@seqs < 40) {
        my $m = $ws->recv_type('msg', 30) or last;
        push @seqs, $m->{seq};
    }
    is_deeply(\@seqs, [2 .. 41], 'every message once, in order');
    $ws->send_json({type => 'msg', cid => 'after', text => 'still live?'});
}
ok($v->recv_type('ack'), 'live again');
--- error_log
kefu: redis pub/sub connection down



=== TEST 2: kefu_dedup_window: a resend within it is a dup; once its record expired, the same cid is a new message
--- http_config
    kefu_dedup_window 1m;
--- ws
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop13');
$v->send_json({type => 'msg', cid => 'd1', text => 'once'});
my $ack = $v->recv_type('ack');
my $conv = $ack->{conv};
$v->send_json({type => 'msg', cid => 'd1', text => 'once'});
my $dup = $v->recv_type('ack');
ok($dup->{dup}, 'a resend within the window: dup');
is($dup->{seq}, $ack->{seq}, 'the same seq');
# a cid is its sender's within the conversation: the record lives there
my $key = "kefu:{c:$conv}:cid:v:$w->{id}:d1";
is(redis('EXISTS', $key), 1, "its dedup record ($key)");
my $ttl = redis('PTTL', $key);
ok($ttl > 0 && $ttl <= 60000, "expires within the window of 1m ($ttl ms left)");
# the window passes: the record expires now
redis('PEXPIRE', $key, 1);
for (1 .. 200) { last unless redis('EXISTS', $key); sleep 0.01 }
is(redis('EXISTS', $key), 0, 'the record is gone');
$v->send_json({type => 'msg', cid => 'd1', text => 'once'});
my $again = $v->recv_type('ack');
ok(!$again->{dup}, 'the same cid after the window: not a dup');
is($again->{seq}, $ack->{seq} + 1, 'stored again, as the next seq');



=== TEST 3: message ids are unique across the workers of two hosts
--- ws
my $port2 = free_port();
my ($host2) = start_host("kefu_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};\n"
    . "kefu_site shop13 secret=$main::S anonymous=on;\n"
    . "server { listen 127.0.0.1:$port2 reuseport; location = /chat { kefu_chat; } }\n");
my @ports = ($ENV{TEST_NGINX_REUSEPORT_PORT}, $port2);
my @ws;
for my $p (@ports) {
    for (1 .. 20) {
        my ($ws, $w) = kefu_connect(role => 'visitor', site => 'shop13', port => $p);
        die "no welcome on $p\n" unless $w->{type} eq 'welcome';
        push @ws, $ws;
    }
}
# every message sent before any answer is read: ids made at the same time
for my $ws (@ws) {
    $ws->send_json({type => 'msg', cid => "i$_", text => "id $_"}) for 1 .. 10;
}
my @ids;
for my $ws (@ws) {
    for (1 .. 10) {
        my $a = $ws->recv_type('ack', 30) or last;
        push @ids, $a->{id};
    }
}
is(scalar @ids, 400, 'four hundred messages acknowledged');
my %seen;
$seen{$_}++ for @ids;
is(scalar(keys %seen), 400, 'four hundred different ids');
# 41 bits of ms, 10 of node (one per worker: INCR kefu:node), 12 of sequence
my %nodes = map { ((int($_) >> 12) & 0x3ff) => 1 } @ids;
cmp_ok(scalar(keys %nodes), '>=', 3, 'made by at least three workers of the two hosts (' . join(',', sort keys %nodes) . ')');
