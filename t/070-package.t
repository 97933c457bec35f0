# The Debian package, as a shop installs it: scripts/package builds
# libnginx-mod-http-kefu, apt installs it into the machine's nginx, the
# module is enabled the Debian way and "nginx -t" passes; the system's
# /usr/sbin/nginx, loading it through /etc/nginx/modules-enabled, serves a
# chat between an agent and a visitor and the packaged widget and console
# (on a free loopback port, with its own pid and logs: nginx instances that
# others run on this machine are left alone); "apt-get purge" removes
# every file and link, and nginx still passes "nginx -t".
#
# The machine is left as it was found, also when a check fails: the test
# nginx is stopped and the package purged at the end whatever happened,
# and /etc/nginx is compared before and after.  One run at a time per
# machine (a lock in /run/lock): suites of several checkouts may run at
# once.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/..", "$FindBin::Bin/lib";
use Test::More;
use Fcntl qw(:flock);
use File::Temp qw(tempdir);
use File::Find ();
use Digest::SHA ();
use IO::Socket::INET ();
use Time::HiRes qw(sleep time);
use Kefu::WS;
use Kefu::Net ();
use Kefu::Route qw(agent_token wait_for uniq_group $SECRET);

my $Root = "$FindBin::Bin/..";
my $PKG = 'libnginx-mod-http-kefu';
my $NGINX = '/usr/sbin/nginx';
my @APT = ('apt-get', '-o', 'DPkg::Lock::Timeout=600', '-y', '-q');

die "the package test needs root (it installs a package)\n" if $> != 0;
die "TEST_NGINX_REDIS_PORT is not set: run it with scripts/test\n"
    unless $ENV{TEST_NGINX_REDIS_PORT};

open my $lock, '>', '/run/lock/kefu-package-test.lock' or die "lock: $!\n";
flock($lock, LOCK_EX) or die "lock: $!\n";

sub installed {
    my $s = `dpkg-query -W -f='\${Status}' $PKG 2>/dev/null`;
    return $s =~ /install ok installed/ ? 1 : $s =~ /\S/ && $s !~ /not-installed/ ? 2 : 0;
}

# Whatever was there before is not ours to replace: say so and stop.
BAIL_OUT("$PKG is already installed on this machine; the install test "
         . "would replace and then purge it. Remove it first "
         . "(apt-get purge $PKG) or run the other tests")
    if installed();

# /etc/nginx, file by file (type, link target, content digest)
sub etc_nginx {
    my %h;
    File::Find::find({ no_chdir => 1, wanted => sub {
        my $f = $File::Find::name;
        $h{$f} = -l $f ? 'link ' . readlink($f)
               : -d $f ? 'dir'
               : 'file ' . Digest::SHA->new(256)->addfile($f)->hexdigest;
    }}, '/etc/nginx');
    return \%h;
}

sub run_out { my $out = `@_ 2>&1`; return ($? >> 8, $out) }

sub slurp { open my $fh, '<', $_[0] or return ''; local $/; <$fh> }

my $before = etc_nginx();
my ($we_installed, $nginx_pidfile);

sub stop_test_nginx {
    return unless $nginx_pidfile && -f $nginx_pidfile;
    open my $fh, '<', $nginx_pidfile or return;
    chomp(my $pid = <$fh> // '');
    return unless $pid =~ /^\d+$/;
    kill 'QUIT', $pid;
    for (1 .. 100) { last unless kill 0, $pid; sleep 0.05 }
    kill 'KILL', $pid if kill 0, $pid;
    unlink $nginx_pidfile;
}

sub purge {
    system(@APT, 'purge', $PKG) == 0 or diag("apt-get purge $PKG failed");
}

# Ctrl-C or a kill still cleans up
$SIG{INT} = $SIG{TERM} = $SIG{HUP} = sub { exit 1 };
END {
    my $status = $?;
    stop_test_nginx();
    purge() if $we_installed && installed();
    $? = $status;
}

# --- build ---------------------------------------------------------------

my ($rc, $out) = run_out("$Root/scripts/package");
is($rc, 0, 'scripts/package builds the package') or diag($out);
my ($deb) = $out =~ m{^built (\S+\.deb)$}m;
ok($deb && -f $deb, 'and names the .deb') or BAIL_OUT('no package');

my $control = `dpkg-deb -f $deb Package Version Depends`;
like($control, qr/^Package: \Q$PKG\E$/m, 'package name');
my ($abi) = `dpkg-query -W -f='\${Provides}\n' nginx nginx-core nginx-light nginx-full nginx-extras 2>/dev/null` =~ /(nginx-abi-[\w.~+-]+)/;
ok($abi, "the installed nginx provides its ABI ($abi)");
like($control, qr/^Depends:.*\Q$abi\E/m,
     'the package depends on exactly the ABI of the nginx it was built for');
like($control, qr/^Depends:.*libhiredis/m, 'and on the libraries it links');

# --- install ---------------------------------------------------------------

($rc, $out) = run_out(@APT, 'install', '--no-install-recommends', $deb);
$we_installed = 1;
is($rc, 0, 'apt-get installs the .deb') or diag($out);
is(installed(), 1, 'dpkg has it installed');

ok(-f '/usr/lib/nginx/modules/ngx_kefu_module.so',
   'the module is where Debian keeps nginx modules');
my $snippet = '/usr/share/nginx/modules-available/mod-http-kefu.conf';
is(do { local (@ARGV, $/) = $snippet; <> },
   "load_module modules/ngx_kefu_module.so;\n", 'its load_module snippet');
is(readlink('/etc/nginx/modules-enabled/50-mod-http-kefu.conf'), $snippet,
   'enabled through /etc/nginx/modules-enabled');
ok(-f "/usr/share/nginx-kefu/html/$_", "/usr/share/nginx-kefu/html/$_")
    for qw(widget/widget.js widget/widget.css widget/index.html
           console/index.html console/console.js console/console.css);
ok(-f "/usr/share/doc/$PKG/$_", "/usr/share/doc/$PKG/$_")
    for qw(copyright changelog.gz changelog.Debian.gz README.md.gz
           docs/deploy.md.gz docs/directives.md.gz examples/kefu.conf
           examples/grafana/kefu.json examples/prometheus/kefu-alerts.yml);

($rc, $out) = run_out($NGINX, '-t');
is($rc, 0, 'the system nginx passes nginx -t with the module enabled') or diag($out);

# --- serve a chat with the system nginx and the installed files ----------

my $dir = tempdir(CLEANUP => 1);
mkdir "$dir/logs";
my $port = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1);
    my $p = $s->sockport; close $s; $p;
};
$nginx_pidfile = "$dir/logs/nginx.pid";
open my $fh, '>', "$dir/nginx.conf" or die $!;
# scripts/test --cluster3: the tests' Redis as a cluster's seed
print $fh Kefu::Net::cluster_conf(<<"EOC");
# what Debian's nginx.conf does: the enabled modules first
include /etc/nginx/modules-enabled/*.conf;

worker_processes 2;
pid $nginx_pidfile;
error_log $dir/logs/error.log notice;
events { worker_connections 256; }

http {
    include /etc/nginx/mime.types;
    access_log $dir/logs/access.log;
    client_body_temp_path $dir/body;
    proxy_temp_path $dir/proxy;
    fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi;
    scgi_temp_path $dir/scgi;

    kefu_zone kefu_package_test:1m;
    kefu_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};
    kefu_site shop1 secret=$SECRET anonymous=on;

    server {
        listen 127.0.0.1:$port;

        location = /chat { kefu_chat; }
        location = /status { kefu_status; }

        location /kefu/ {
            alias /usr/share/nginx-kefu/html/widget/;
            gzip on;
            gzip_types text/css application/javascript;
        }
        location /console/ {
            root /usr/share/nginx-kefu/html;
        }
    }
}
EOC
close $fh;

# Debian's prefix (/usr/share/nginx/, where modules/ points to the
# modules' directory), as the system's nginx.conf has it
($rc, $out) = run_out($NGINX, '-c', "$dir/nginx.conf", '-t');
is($rc, 0, 'the chat configuration passes nginx -t') or diag($out);
($rc, $out) = run_out($NGINX, '-c', "$dir/nginx.conf");
is($rc, 0, 'the system nginx starts with it') or diag($out);

my $up;
for (1 .. 200) {
    last if $up = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port);
    sleep 0.05;
}
ok($up, 'and listens');

# both workers' Redis links, as every chat test waits for
for (1 .. 200) {
    my $n = () = slurp("$dir/logs/error.log") =~ /$Kefu::Net::LinkReady/g;
    last if $n >= 4;
    sleep 0.05;
}

my $log = slurp("$dir/logs/error.log");
my ($version) = slurp("$Root/ngx_kefu_module/ngx_kefu.h") =~ /NGX_KEFU_VERSION\s+"([^"]+)"/;
like($log, qr/kefu: ngx_kefu_module\/\Q$version\E built for nginx\//,
     "the installed module is this version ($version)");

eval {
    local $Kefu::WS::Port = $port;
    my ($code, $h, $body) = http_raw("GET /kefu/widget.js HTTP/1.1\r\nHost: x\r\n"
                                     . "Accept-Encoding: gzip\r\nConnection: close\r\n\r\n");
    is($code, 200, 'the packaged widget is served');
    like($h->{'content-type'} // '', qr{^application/javascript}, 'as JavaScript');
    is($h->{'content-encoding'}, 'gzip', 'gzipped');
    ($code, $h, $body) = http_raw("GET /console/ HTTP/1.0\r\n\r\n");
    is($code, 200, 'the packaged console is served');
    like($body, qr/<html/i, 'as a page');

    my $group = uniq_group('pkg');
    my ($agent, $aw) = kefu_connect(role => 'agent', site => 'shop1',
                                    status => 'online',
                                    token => agent_token('pkg-agent', groups => [$group]));
    is($aw->{type}, 'welcome', 'an agent signs in');
    ok(wait_for($agent, sub { $_[0]{type} eq 'presence' && $_[0]{agent} eq 'pkg-agent' }),
       'and is online');

    my ($visitor, $vw) = kefu_connect(role => 'visitor', site => 'shop1', group => $group);
    is($vw->{type}, 'welcome', 'an anonymous visitor says hello');
    $visitor->send_json({type => 'msg', cid => 'p1', text => 'installed from a .deb'});
    my $ack = wait_for($visitor, sub { $_[0]{type} eq 'ack' });
    ok($ack && $ack->{seq} == 1, 'the message is stored (ack, seq 1)');
    my $m = wait_for($agent, sub { $_[0]{type} eq 'msg' });
    is($m && $m->{text}, 'installed from a .deb', 'the agent it was routed to gets it');
    $agent->send_json({type => 'msg', cid => 'a1', conv => $ack->{conv}, text => 'welcome'});
    $m = wait_for($visitor, sub { $_[0]{type} eq 'msg' && $_[0]{from}{role} eq 'agent' });
    is($m && $m->{text}, 'welcome', "and the agent's answer reaches the visitor");

    ($code, $h, $body) = http_raw("GET /status HTTP/1.0\r\n\r\n");
    is(eval { json_dec($body)->{version} }, $version, 'the status endpoint says the version');
    1;
} or fail("serving a chat died: $@");

stop_test_nginx();

# --- purge ---------------------------------------------------------------

($rc, $out) = run_out(@APT, 'purge', $PKG);
is($rc, 0, 'apt-get purge removes it') or diag($out);
is(installed(), 0, 'dpkg has no trace of it');
ok(!-e $_ && !-l $_, "$_ is gone")
    for '/usr/lib/nginx/modules/ngx_kefu_module.so', $snippet,
        '/etc/nginx/modules-enabled/50-mod-http-kefu.conf',
        '/etc/nginx/modules-enabled/50-mod-http-kefu.conf.removed',
        '/usr/share/nginx-kefu', "/usr/share/doc/$PKG";

($rc, $out) = run_out($NGINX, '-t');
is($rc, 0, 'nginx -t still passes') or diag($out);
is_deeply(etc_nginx(), $before, '/etc/nginx is as it was');

done_testing();
