# The HTTP API when Redis is away or slow: 503 with a JSON body, never a
# hang or a fake success; and clients that leave while Redis works on
# their request (the late reply must find nothing freed).
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use File::Temp qw(tempdir);
use IO::Socket::INET;

workers(1);
master_on();

our $S = 'shopd-secret-0123456789abcdef';

# this file's own Redis, paused by the tests
our $RDIR = tempdir(CLEANUP => 1);
our $RPORT = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1);
    my $p = $s->sockport; close $s; $p;
};
$ENV{TEST_NGINX_OWN_REDIS_PORT} = $RPORT;
# a port nothing listens on
$ENV{TEST_NGINX_DEAD_PORT} = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1);
    my $p = $s->sockport; close $s; $p;
};

system("redis-server --port $RPORT --bind 127.0.0.1 --dir $RDIR --appendonly yes"
       . " --save '' --daemonize yes --logfile $RDIR/redis.log --pidfile $RDIR/redis.pid") == 0
    or die "redis-server: $?";
for (1 .. 100) { last if eval { redis(port => $RPORT, 'PING') }; sleep 0.05 }
END { eval { redis(port => $RPORT, 'SHUTDOWN', 'NOSAVE') } }

$Kefu::API::Token = api_token(secret => $S, site => 'shopd');

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', <<'_EOC_' . ($block->config // ''));
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
_EOC_
});

run_tests();

__DATA__

=== TEST 1: Redis unreachable: every endpoint answers 503 unavailable in JSON
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_DEAD_PORT connect_timeout=200ms;
    kefu_site shopd secret=shopd-secret-0123456789abcdef anonymous=on;
--- ws
my @calls = (
    [GET => '/kefu/api/sites/shopd/convs'],
    [GET => '/kefu/api/sites/shopd/convs/1'],
    [GET => '/kefu/api/sites/shopd/convs/1/messages'],
    [GET => '/kefu/api/sites/shopd/agents'],
    [GET => '/kefu/api/sites/shopd/queues/default'],
    [POST => '/kefu/api/sites/shopd/convs/1/messages', {cid => 'x', text => 'hi'}],
    [POST => '/kefu/api/sites/shopd/visitors/v1/messages', {cid => 'x', text => 'hi'}],
    [POST => '/kefu/api/sites/shopd/convs/1/events', {name => 'a.b'}],
    [POST => '/kefu/api/sites/shopd/convs/1/assign', {agent => 'x'}],
    [POST => '/kefu/api/sites/shopd/convs/1/transfer', {group => 'x'}],
    [POST => '/kefu/api/sites/shopd/convs/1/close', {}],
);
for my $c (@calls) {
    my ($st, $j, $h) = api(@$c);
    is($st, 503, "$c->[0] $c->[1]: 503");
    is($j->{error}{code}, 'unavailable', 'unavailable');
    like($h->{'content-type'}, qr{^application/json}, 'JSON');
}
my ($st, $j) = api(GET => '/kefu/api/sites/shopd/convs', undef, token => undef);
is($st, 401, 'authentication is checked first, Redis or not');



=== TEST 2: Redis too slow: 503 after kefu_redis timeout, then it works again
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_OWN_REDIS_PORT timeout=300ms;
    kefu_site shopd secret=shopd-secret-0123456789abcdef anonymous=on;
--- ws
ok(api_ready('/kefu/api/sites/shopd/convs'), 'the API works');
redis(port => $main::RPORT, 'CLIENT', 'PAUSE', '1500', 'ALL');
my $t0 = time;
my ($st, $j) = api(POST => '/kefu/api/sites/shopd/visitors/v1/messages', {cid => 'slow', text => 'hi'});
is($st, 503, 'a write while Redis stalls: 503');
is($j->{error}{code}, 'unavailable', 'unavailable: retry with the same cid');
cmp_ok(time - $t0, '<', 1.4, 'answered by the timeout, not when Redis woke up');
sleep 1.2;
ok(api_ready('/kefu/api/sites/shopd/convs'), 'back once Redis is');
($st, $j) = api(POST => '/kefu/api/sites/shopd/visitors/v1/messages', {cid => 'slow', text => 'hi', from => {role => 'bot', id => 'b'}});
ok($st == 201 || $st == 200, "the retry is stored ($st)");
my ($st2, $j2) = api(POST => '/kefu/api/sites/shopd/visitors/v1/messages', {cid => 'slow', text => 'hi', from => {role => 'bot', id => 'b'}});
ok($j2->{dup}, 'and once only');
--- error_log
kefu: redis commands connection down



=== TEST 3: clients that leave while Redis holds their requests: nothing breaks, the writes are kept
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_OWN_REDIS_PORT timeout=5s;
    kefu_site shopd secret=shopd-secret-0123456789abcdef anonymous=on;
--- ws
ok(api_ready('/kefu/api/sites/shopd/convs'), 'the API works');
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shopd');
$v->send_json({type => 'msg', cid => 'open', text => 'hello'});
my $conv = $v->recv_type('ack')->{conv};
redis(port => $main::RPORT, 'CLIENT', 'PAUSE', '1000', 'ALL');
my @socks;
for my $n (1 .. 10) {
    my $body = json_enc({cid => "gone$n", text => "m$n", from => {role => 'bot', id => 'b'}});
    for my $req ("GET /kefu/api/sites/shopd/convs/$conv HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer $Kefu::API::Token\r\n\r\n",
                 "POST /kefu/api/sites/shopd/convs/$conv/messages HTTP/1.1\r\nHost: x\r\n"
                 . "Authorization: Bearer $Kefu::API::Token\r\nContent-Type: application/json\r\n"
                 . "Content-Length: " . length($body) . "\r\n\r\n$body") {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => kefu_port()) or die $!;
        print $s $req;
        push @socks, $s;
    }
}
sleep 0.3;
close $_ for @socks;     # gone before Redis answers
sleep 1.2;
ok(api_ready('/kefu/api/sites/shopd/convs'), 'the server still answers');
my ($st, $j) = api(GET => "/kefu/api/sites/shopd/convs/$conv/messages");
is($st, 200, 'and reads');
is_deeply([sort map { $_->{cid} } grep { ($_->{cid} // '') =~ /^gone/ } @{ $j->{msgs} }],
          [sort map { "gone$_" } 1 .. 10], 'every write of a departed client was stored');
my @m = grep { $_->{type} eq 'msg' } $v->drain(0.5);
is(scalar @m, 10, 'and delivered');
--- error_log
client prematurely closed connection
--- no_error_log
[alert]
[crit]
exited on signal
