# docs/deploy.md's upgrade recipe, on a running nginx with a conversation
# open: the module file is replaced by a new version (a copy whose version
# string is patched, standing in for a new package); "nginx -s reload"
# keeps the loaded module (the old version answers); the binary upgrade
# (USR2, WINCH, QUIT) loads the new one; the clients of the old workers
# get 1001, reconnect to the new ones and resume: what was written while
# they were away is replayed, nothing is lost or repeated.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/..", "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use File::Copy qw(copy);
use IO::Socket::INET ();
use Time::HiRes qw(sleep time);
use Kefu::WS;
use Kefu::Net ();
use Kefu::Route qw(agent_token wait_for uniq_group);

my $Root = "$FindBin::Bin/..";
# a binary upgrade re-executes the binary nginx was started as
my $nginx = $ENV{TEST_NGINX_BINARY} || (-x "$Root/build/nginx" ? "$Root/build/nginx" : '/usr/sbin/nginx');
my $module = $ENV{TEST_NGINX_KEFU_MODULE} || "$Root/build/ngx_kefu_module.so";
die "TEST_NGINX_REDIS_PORT is not set: run it with scripts/test\n" unless $ENV{TEST_NGINX_REDIS_PORT};

my ($old) = do { open my $h, '<', "$Root/ngx_kefu_module/ngx_kefu.h" or die $!; local $/; <$h> }
            =~ /NGX_KEFU_VERSION\s+"([^"]+)"/;
# the "new version": same length, so the patched copy stays a valid object
(my $new = $old) =~ s/(\d+)$/$1 == 9 ? 8 : 9/e;

my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/logs";
copy($module, "$dir/mod.so") or die $!;
my $port = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1);
    my $p = $s->sockport; close $s; $p;
};
open my $fh, '>', "$dir/nginx.conf" or die $!;
# scripts/test --cluster3: the tests' Redis as a cluster's seed
print $fh Kefu::Net::cluster_conf(<<"EOC");
load_module $dir/mod.so;
worker_processes 2;
pid $dir/nginx.pid;
error_log $dir/logs/error.log notice;
events { worker_connections 256; }
http {
    access_log off;
    kefu_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
    server {
        listen 127.0.0.1:$port;
        location = /chat { kefu_chat; }
        location = /version { return 200 "\$kefu_version"; }
    }
}
EOC
close $fh;

sub pid_of { open my $p, '<', $_[0] or return; my $pid = <$p>; chomp $pid if $pid; $pid }
sub slurp { open my $f, '<', $_[0] or return ''; local $/; <$f> }
sub wait_until {
    my ($cond, $secs) = @_;
    my $until = time + ($secs // 10);
    while (time < $until) { return 1 if $cond->(); sleep 0.05 }
    return 0;
}
# Ctrl-C or a kill still cleans up
$SIG{INT} = $SIG{TERM} = $SIG{HUP} = sub { exit 1 };
END {
    for my $f ("$dir/nginx.pid.oldbin", "$dir/nginx.pid") {
        my $pid = pid_of($f) or next;
        kill 'QUIT', $pid;
        wait_until(sub { !kill 0, $pid }, 5);
    }
}
sub ready_links { () = slurp("$dir/logs/error.log") =~ /$Kefu::Net::LinkReady/g }
# n workers ready: their two links each, and on a cluster (whose links
# are more, a master each) their id nodes, claimed once {nodes}' master
# is up: before it a message is refused
sub ready_workers {
    my ($n) = @_;
    return ready_links() >= 2 * $n unless $ENV{TEST_NGINX_REDIS_CLUSTER};
    return (() = slurp("$dir/logs/error.log") =~ /kefu: ids use node/g) >= $n;
}

system($nginx, '-p', "$dir/", '-c', "$dir/nginx.conf") == 0 or BAIL_OUT('nginx did not start');
ok(wait_until(sub { ready_workers(2) }), 'nginx runs, its workers connected to Redis');
local $Kefu::WS::Port = $port;
sub version { (http_raw("GET /version HTTP/1.0\r\n\r\n"))[2] // '' }
is(version(), $old, "the running module is $old");

# the new package replaces the file (a new inode, as dpkg does)
my $bin = slurp($module);
my $count = ($bin =~ s/\Q$old\E(?=\0| built)/$new/g);
ok($count >= 1, "a copy of the module that says $new");
open my $nf, '>', "$dir/mod.so.new" or die $!;
binmode $nf;
print $nf $bin;
close $nf;
rename "$dir/mod.so.new", "$dir/mod.so" or die $!;

# a reload keeps the module it has
my $master = pid_of("$dir/nginx.pid");
my @workers = split ' ', `pgrep -P $master`;
kill 'HUP', $master;
ok(wait_until(sub { ready_workers(4) && !grep { kill 0, $_ } @workers }),
   'reloaded: the old workers gone, the new ones connected to Redis');
is(version(), $old, "after a reload the old module ($old) still answers");

# a conversation in progress
my $group = uniq_group('up');
my $atoken = agent_token("up-$group", groups => [$group]);
my ($agent, $aw) = kefu_connect(role => 'agent', site => 'shop1', status => 'online', token => $atoken);
ok(wait_for($agent, sub { $_[0]{type} eq 'presence' }), 'an agent is online');
my ($v, $vw) = kefu_connect(role => 'visitor', site => 'shop1', group => $group);
$v->send_json({type => 'msg', cid => 'u1', text => 'before the upgrade'});
my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' });
my $conv = $ack->{conv};
ok(wait_for($agent, sub { $_[0]{type} eq 'msg' && $_[0]{seq} == 1 }), 'a conversation is open between them');
$agent->send_json({type => 'msg', cid => 'a1', conv => $conv, text => 'hello, how can I help?'});
my $seen = wait_for($v, sub { $_[0]{type} eq 'msg' && $_[0]{text} eq 'hello, how can I help?' });
ok($seen, "the visitor has the agent's answer");
my $last = $seen->{seq};

# the binary upgrade: a new master with the new module
kill 'USR2', $master;
ok(wait_until(sub { -s "$dir/nginx.pid.oldbin" && (pid_of("$dir/nginx.pid") // '') ne $master }),
   'USR2: a new master beside the old one');
ok(wait_until(sub { slurp("$dir/logs/error.log") =~ /kefu: ngx_kefu_module\/\Q$new\E built for/ }),
   "the error log says the new master loaded $new");

# the old workers go: their clients are told 1001 and come back
kill 'WINCH', $master;

for my $c ([$agent, 'the agent'], [$v, 'the visitor']) {
    my ($code, $reason) = $c->[0]->recv_close(10);
    is($code, 1001, "WINCH: $c->[1] is told 1001 ($reason)");
}
kill 'QUIT', $master;
ok(wait_until(sub { !kill 0, $master }), 'QUIT: the old master is gone');
is(version(), $new, "only $new answers now");
ok(wait_until(sub { ready_workers(6) }), "the new master's workers connected to Redis");
($agent) = kefu_connect(role => 'agent', site => 'shop1', status => 'online', token => $atoken,
                        resume => {$conv => $last});
$agent->send_json({type => 'msg', cid => 'a-away', conv => $conv, text => 'written while you were away'});
my $aack = wait_for($agent, sub { $_[0]{type} eq 'ack' });
is($aack && $aack->{seq}, $last + 1, 'the agent, reconnected, writes the next seq');

($v, my $w2) = kefu_connect(role => 'visitor', site => 'shop1', token => $vw->{token},
                            resume => {$conv => $last});
is($w2->{type}, 'welcome', 'the visitor reconnects with its token');
my $m = wait_for($v, sub { $_[0]{type} eq 'msg' });
is($m && $m->{seq}, $last + 1, 'resume replays what it missed');
is($m && $m->{text}, 'written while you were away', 'as written');
$v->send_json({type => 'msg', cid => 'u1', text => 'before the upgrade'});
my $dup = wait_for($v, sub { $_[0]{type} eq 'ack' });
ok($dup && $dup->{dup} && $dup->{seq} == 1, 'a resend of the first message is recognised, not stored twice');
$v->send_json({type => 'msg', cid => 'u2', text => 'after the upgrade'});
$ack = wait_for($v, sub { $_[0]{type} eq 'ack' && $_[0]{cid} eq 'u2' });
is($ack && $ack->{seq}, $last + 2, 'the conversation goes on');
$m = wait_for($agent, sub { $_[0]{type} eq 'msg' && $_[0]{cid} && $_[0]{cid} eq 'u2' });
ok($m, 'and reaches the agent');

done_testing();
