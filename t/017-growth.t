# Bounded growth: 20,000 anonymous visitors each open a conversation that an
# agent closes; with the retention set to seconds, everything they left in
# Redis goes (keys expire, the site's indexes are swept) and Redis returns
# to about where it started: DBSIZE within 50 keys, used_memory within
# 2 MiB.  The visitors come from build/kefu-load (scripts/kefu-load.c,
# mode churn); the figures are printed (diag) for docs/storage.md.  The
# one agent stays subscribed to every conversation it closed for as long
# as its connection lasts (a count, not a record, in the session zone).
# Alone on the 2 cores the visitors take about a minute; beside other
# suites several (the load tool's limit is 10 minutes).
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;

workers(2);
worker_connections(1024);
master_on();

# this file's own Redis: nothing but this test counts in its DBSIZE
our $R = redis_server();
$ENV{TEST_NGINX_OWN_REDIS_PORT} = $main::R->port;

our $SECRET = 'growth-secret-0123456789abcdef';
our $N = $ENV{KEFU_GROWTH_VISITORS} || 20000;

sub info_memory {
    my $info = redis(port => $main::R->port, 'INFO', 'memory');
    return $info =~ /^used_memory:(\d+)/m ? $1 : undef;
}

# where Redis's memory is (INFO memory): what is kept and what is fixed
sub memory_parts {
    my $info = redis(port => $main::R->port, 'INFO', 'memory');
    return join ' ', map { $info =~ /^($_):(\d+)/m ? "$1=$2" : () }
        qw(used_memory used_memory_dataset used_memory_overhead
           mem_clients_normal used_memory_scripts_eval
           number_of_cached_scripts);
}

sub dbsize { redis(port => $main::R->port, 'DBSIZE') }

sub expired_keys {
    my $info = redis(port => $main::R->port, 'INFO', 'stats');
    return $info =~ /^expired_keys:(\d+)/m ? $1 : 0;
}

# the load tool, built as scripts/bench builds it
sub kefu_load {
    my $root = kefu_root();
    my $bin = "$root/build/kefu-load";
    my $tmp = "$bin.tmp.$$";
    system('gcc', '-O2', '-Wall', '-Wextra', '-Werror', '-o', $tmp,
           "$root/scripts/kefu-load.c") == 0 or die "cannot build kefu-load\n";
    rename $tmp, $bin or die "rename: $!\n";
    return $bin;
}

# waits for a condition that the sweep and Redis's expiry bring about; the
# limit only keeps a broken build from hanging the suite
sub wait_until {
    my ($what, $cond, $limit) = @_;
    my $deadline = time + $limit;
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.5;
    }
    diag "$what: not reached";
    return 0;
}

run_tests();

__DATA__

=== TEST 1: 20,000 visitors open and close a conversation; after the retention Redis is back to where it started
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_OWN_REDIS_PORT timeout=10s;
    kefu_site growth secret=growth-secret-0123456789abcdef anonymous=on retention=3s anonymous_retention=3s;
    kefu_anonymous_per_address 0;
--- config
    location = /chat { kefu_chat; kefu_message_rate 100000r/s burst=100000; }
--- timeout: 1000
--- ws
my $bin = kefu_load();
# a first hello: the workers' leases and node numbers are in Redis now
my ($ws, $w) = kefu_connect(role => 'visitor', site => 'growth');
is($w->{type}, 'welcome', 'a first visitor');
$ws->close_ws(1000);
ok(wait_until('the first visitor forgotten',
              sub { !redis(port => $main::R->port, 'EXISTS', "kefu:{s:growth}:v:$w->{id}") }, 60),
   "an idle anonymous visitor's record expires");
my ($keys0, $mem0, $exp0) = (dbsize(), info_memory(), expired_keys());
Test::More::diag("before: DBSIZE $keys0, used_memory $mem0");
Test::More::diag('before: ' . memory_parts());

my $out = `$bin churn --port ${\ kefu_port()} --secret $main::SECRET --site growth --n $main::N --inflight 200 --sources 16 --timeout 600 2>&1`;
my $rc = $? >> 8;
Test::More::diag($out);
is($rc, 0, "kefu-load churn: every visitor saw its conversation closed");
like($out, qr/closed=$main::N failed=0/, "$main::N conversations opened and closed");

my ($keys1, $mem1) = (dbsize(), info_memory());
Test::More::diag("right after: DBSIZE $keys1, used_memory $mem1");

# each visitor left at least its record, its index, the conversation's
# hash, log and assignments and a dedup record, all expiring: what they
# wrote was in Redis and went by expiry (the test can fail)
ok(wait_until('keys expired', sub { expired_keys() - $exp0 >= 5 * $main::N }, 120),
   'at least 5 keys per visitor written and expired');
Test::More::diag('expired keys: ' . (expired_keys() - $exp0));
ok(wait_until('DBSIZE back', sub { dbsize() <= $keys0 + 50 }, 120),
   "DBSIZE back within 50 keys of where it started");
ok(wait_until('the site index swept',
              sub { redis(port => $main::R->port, 'ZCARD', 'kefu:{s:growth}:convs') == 0 }, 120),
   "the site's conversation index swept");
ok(wait_until('the event stream trimmed',
              sub { redis(port => $main::R->port, 'XLEN', 'kefu:{s:growth}:events') < 1000 }, 120),
   "the site's event stream trimmed to the retention");
# a search term's key lives 10 s past the retention (its postings of the
# calls between prunings keep their time: docs/storage.md, Search index)
ok(wait_until('the search index expired',
              sub { !@{ redis(port => $main::R->port, 'KEYS', 'kefu:{s:growth}:ix:*') } }, 120),
   "the site's search index gone by expiry");
my ($keys2, $mem2) = (dbsize(), info_memory());
Test::More::diag("after the retention: DBSIZE $keys2, used_memory $mem2");
Test::More::diag('after the retention: ' . memory_parts());
Test::More::diag('keys left: ' . join(' ', sort @{ redis(port => $main::R->port, 'KEYS', '*') }));
cmp_ok($mem2, '<=', $mem0 + 2 * 1024 * 1024,
       'used_memory back within 2 MiB of where it started');
