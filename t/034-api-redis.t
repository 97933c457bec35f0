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

# this file's own Redis, stalled by the tests (SIGSTOP: it answers nothing
# until SIGCONT, for as long as the test needs, whatever the machine's speed)
our $R = redis_server();
$ENV{TEST_NGINX_OWN_REDIS_PORT} = $R->port;
# a port nothing listens on (privileged: nobody's test takes it)
$ENV{TEST_NGINX_DEAD_PORT} = 1;

sub stall { kill 'STOP', $main::R->pid }
sub resume { kill 'CONT', $main::R->pid }
END { resume() if $main::R }

# waits until nginx has read n more requests of that path (debug log)
sub requests_read {
    my ($re, $n) = @_;
    my $log = server_root() . '/logs/error.log';
    for (1 .. 600) {
        open my $fh, '<', $log or die $!;
        return 1 if grep({ /http request line: "[A-Z]+ $re/ } <$fh>) >= $n;
        sleep 0.05;
    }
    return 0;
}

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
my $vid = 'v' . int(rand 1e9);
my $P = "/kefu/api/sites/shopd/visitors/$vid/messages";
my $body = {cid => 'slow', text => 'hi', from => {role => 'bot', id => 'b'}};
main::stall();
my ($st, $j) = api(POST => $P, $body);
# answered while Redis still answers nothing: by the timeout
is($st, 503, 'a write while Redis stalls: 503');
is($j->{error}{code}, 'unavailable', 'unavailable: retry with the same cid');
main::resume();
ok(api_ready('/kefu/api/sites/shopd/convs'), 'back once Redis is');
# the stalled write may have been done after all (docs/api.md): the retry
# stores it (201) or finds it stored (200, dup)
($st, $j) = api(POST => $P, $body);
ok($st == 201 || ($st == 200 && $j->{dup}), "the retry is stored or found stored ($st)");
my ($st2, $j2) = api(POST => $P, $body);
is($st2, 200, 'a second retry: 200');
ok($j2->{dup}, 'dup');
my ($st3, $j3) = api(GET => "/kefu/api/sites/shopd/convs/$j2->{conv}/messages");
is(scalar(grep { ($_->{cid} // '') eq 'slow' } @{ $j3->{msgs} }), 1, 'stored once only');
--- error_log
kefu: redis commands connection down



=== TEST 3: clients that leave while Redis holds their requests: nothing breaks, the writes are kept
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_OWN_REDIS_PORT timeout=30s;
    kefu_site shopd secret=shopd-secret-0123456789abcdef anonymous=on;
--- ws
ok(api_ready('/kefu/api/sites/shopd/convs'), 'the API works');
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shopd');
$v->send_json({type => 'msg', cid => 'open', text => 'hello'});
my $conv = $v->recv_type('ack')->{conv};
main::stall();
my $read0 = do { open my $fh, '<', server_root() . '/logs/error.log' or die $!;
                 scalar grep { m{http request line: "[A-Z]+ /kefu/api/sites/shopd/convs/$conv} } <$fh> };
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
# nginx has read them all and asked Redis: then they go, before it answers
ok(main::requests_read("/kefu/api/sites/shopd/convs/$conv", $read0 + 20), 'nginx read the twenty requests');
close $_ for @socks;
main::resume();
ok(api_ready('/kefu/api/sites/shopd/convs'), 'the server still answers');
my ($st, $j) = api(GET => "/kefu/api/sites/shopd/convs/$conv/messages");
is($st, 200, 'and reads');
is_deeply([sort map { $_->{cid} } grep { ($_->{cid} // '') =~ /^gone/ } @{ $j->{msgs} }],
          [sort map { "gone$_" } 1 .. 10], 'every write of a departed client was stored');
my %m;
while (keys %m < 10) { my $x = $v->recv_type('msg') or last; $m{$x->{cid}}++ }
is_deeply([sort keys %m], [sort map { "gone$_" } 1 .. 10], 'and delivered');
--- error_log
client prematurely closed connection
--- no_error_log
[alert]
[crit]
exited on signal
