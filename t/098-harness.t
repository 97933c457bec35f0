# The harness itself (t/Kefu.pm): under scripts/test --cluster and
# --cluster3 every nginx the tests start names the tests' Redis with
# "kefu_redis cluster", under --sentinel with "kefu_redis sentinel" and
# the run's Sentinels, however the test wrote its port; a block whose
# code waits for ever fails after a bound, with a message saying so.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/..";
use Test::More;
use t::Kefu ();

{
    local $ENV{TEST_NGINX_REDIS_CLUSTER} = 1;
    local $ENV{TEST_NGINX_REDIS_PORT} = 6401;
    my $c = \&t::Kefu::cluster_conf;
    is($c->("kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;"),
       "kefu_redis cluster 127.0.0.1:\$TEST_NGINX_REDIS_PORT;", 'the port as a variable');
    is($c->("kefu_redis 127.0.0.1:6401 timeout=1s;"),
       "kefu_redis cluster 127.0.0.1:6401 timeout=1s;", 'the port as a number (Perl interpolated it)');
    is($c->("a;\n    kefu_redis  127.0.0.1:6401;\nb;"), "a;\n    kefu_redis cluster 127.0.0.1:6401;\nb;",
       'inside a configuration');
    is($c->("kefu_redis 127.0.0.1:64011;"), "kefu_redis 127.0.0.1:64011;", 'another port that begins the same: left alone');
    is($c->("kefu_redis 127.0.0.1:\$TEST_NGINX_OWN_REDIS_PORT;"), "kefu_redis 127.0.0.1:\$TEST_NGINX_OWN_REDIS_PORT;",
       'a Redis of the test\'s own: left alone');
    is($c->("kefu_redis cluster 127.0.0.1:6401;"), "kefu_redis cluster 127.0.0.1:6401;", 'already a cluster');
    ok(t::Kefu::names_tests_redis("kefu_redis cluster 127.0.0.1:6401;", 'cluster'), 'the seed, by number');
    ok(!t::Kefu::names_tests_redis("kefu_redis cluster 127.0.0.1:7000;", 'cluster'), 'a cluster of the test\'s own');
}
{
    local $ENV{TEST_NGINX_REDIS_CLUSTER};
    local $ENV{TEST_NGINX_REDIS_SENTINEL};
    is(t::Kefu::cluster_conf("kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;"),
       "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;", 'one Redis: unchanged');
}

# scripts/test --sentinel: the tests' Redis (the master) named through the
# run's Sentinels, however the test wrote its port, the options kept; a
# Redis of the test's own and a port that begins the same left alone
{
    local $ENV{TEST_NGINX_REDIS_CLUSTER};
    local $ENV{TEST_NGINX_REDIS_SENTINEL} = 'kefu77 127.0.0.1:7001 127.0.0.1:7002 127.0.0.1:7003';
    local $ENV{TEST_NGINX_REDIS_PORT} = 6401;
    my $c = \&t::Kefu::cluster_conf;
    my $s = 'kefu_redis sentinel kefu77 127.0.0.1:7001 127.0.0.1:7002 127.0.0.1:7003';
    is($c->("kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;"), "$s;", 'sentinel: the port as a variable');
    is($c->("kefu_redis 127.0.0.1:6401 timeout=1s wait=1;"), "$s timeout=1s wait=1;",
       'sentinel: the port as a number, the options kept');
    is($c->("a;\n    kefu_redis  127.0.0.1:6401;\nb;"), "a;\n    $s;\nb;", 'sentinel: inside a configuration');
    is($c->("kefu_redis 127.0.0.1:64011;"), "kefu_redis 127.0.0.1:64011;", 'sentinel: another port that begins the same: left alone');
    is($c->("kefu_redis 127.0.0.1:\$TEST_NGINX_OWN_REDIS_PORT;"), "kefu_redis 127.0.0.1:\$TEST_NGINX_OWN_REDIS_PORT;",
       'sentinel: a Redis of the test\'s own: left alone');
    ok(t::Kefu::names_tests_redis("$s;"), 'sentinel: the run\'s Sentinels name the tests\' Redis');
    ok(!t::Kefu::names_tests_redis("kefu_redis sentinel other 127.0.0.1:7001;"), 'sentinel: a set-up of the test\'s own does not');
    ok(!t::Kefu::names_tests_redis("$s;", 'cluster'), 'sentinel: not a cluster seed');
}

# the fixture, with a bound of 2 s: its first block fails saying why, the
# second runs, the third (which catches the die) ends the file
my $root = t::Kefu::kefu_root();
my $servroot = "$root/t/servroot/098-harness-forever";
my $out = do {
    local $ENV{KEFU_TEST_WS_LIMIT} = 2;
    local $ENV{TEST_NGINX_SERVROOT} = $servroot;
    `$^X -I$root $root/t/harness/forever.t 2>&1`;
};
my $status = $? >> 8;
like($out, qr/^not ok \d+ - TEST 1: waits for ever - ws code did not finish within 2 s/m,
     'a block that waits for ever fails after the bound, saying so');
like($out, qr/^ok \d+ - the next block runs$/m, 'the next block runs');
like($out, qr/^not ok \d+ - TEST 3: .* - ws code did not finish within 2 s, nor stop 2 s after: the file ends here/m,
     'code that catches the die and goes on ends the file');
isnt($status, 0, 'the file fails') or diag($out);
my $pid = -e "$servroot/logs/nginx.pid" ? `cat $servroot/logs/nginx.pid` : '';
chomp $pid;
ok(!$pid || !kill(0, $pid), 'its nginx is stopped');

# wait_for's bound holds while the server pings: a stand-in server
# answers the handshake, then pings every 0.2 s and says nothing else
{
    require Kefu::WS;
    require IO::Socket::INET;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1, ReuseAddr => 1) or die "listen: $!";
    my $port = $l->sockport;
    my $child = fork // die "fork: $!";
    if (!$child) {
        my $c = $l->accept or exit 0;
        my $req = '';
        while ($req !~ /\r\n\r\n/) { sysread($c, $req, 4096, length $req) or exit 0 }
        my ($key) = $req =~ /Sec-WebSocket-Key:\s*(\S+)/i;
        require Digest::SHA;
        my $acc = Digest::SHA::sha1_base64($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11') . '=';
        syswrite($c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     . "Connection: Upgrade\r\nSec-WebSocket-Accept: $acc\r\n\r\n");
        for (1 .. 300) {
            syswrite($c, "\x89\x00") or exit 0;
            select undef, undef, undef, 0.2;
        }
        exit 0;
    }
    close $l;
    my $ws = Kefu::WS::ws_connect(port => $port);
    my ($r, $done);
    eval {
        local $SIG{ALRM} = sub { die "wait_for did not return\n" };
        alarm 30;
        $r = $ws->wait_for(sub { 0 }, 1);
        alarm 0;
        $done = 1;
    };
    ok($done, "wait_for returns after its bound while the server pings") or diag($@);
    ok(!defined $r, 'with nothing');
    kill 'KILL', $child;
    waitpid $child, 0;
}

done_testing();
