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

done_testing();
