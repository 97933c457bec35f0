# The README's minimal configuration, as printed (paths and ports made
# local): nginx -t passes, and it serves the chat, the widget (gzipped, as
# JavaScript) and the console.  And the package's example configuration
# (packaging/kefu.conf, for conf.d/) passes nginx -t inside an http block
# as Debian's nginx.conf has it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/..", "$FindBin::Bin/lib";
use Test::More;
use File::Temp qw(tempdir);
use IO::Socket::INET ();
use Time::HiRes qw(sleep);
use Kefu::WS;
use Kefu::Net ();
use Kefu::Route qw(wait_for);
use Kefu::Reach qw(served_from);

my $Root = "$FindBin::Bin/..";
my $nginx = $ENV{TEST_NGINX_BINARY} || (-x "$Root/build/nginx" ? "$Root/build/nginx" : '/usr/sbin/nginx');
my $module = $ENV{TEST_NGINX_KEFU_MODULE} || "$Root/build/ngx_kefu_module.so";
die "TEST_NGINX_REDIS_PORT is not set: run it with scripts/test\n" unless $ENV{TEST_NGINX_REDIS_PORT};

my $readme = do { open my $fh, '<', "$Root/README.md" or die $!; local $/; <$fh> };
my ($conf) = $readme =~ /^## Minimal configuration\n.*?^```nginx\n(.*?)^```$/ms;
ok($conf, "the README's minimal configuration");

my $dir = tempdir(CLEANUP => 1);
chmod 0755, $dir;
mkdir "$dir/logs";
my $port = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1);
    my $p = $s->sockport; close $s; $p;
};
open my $sf, '>', "$dir/shop1.secret" or die $!;
print $sf "readme-secret-0123456789abcdef\n";
close $sf;

# only what ties it to a real server's paths and ports
my %local = (
    'modules/ngx_kefu_module.so' => $module,
    'include mime.types'         => 'include /etc/nginx/mime.types',
    '127.0.0.1:6379'             => "127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT}",
    '/etc/nginx/kefu/shop1.secret' => "$dir/shop1.secret",
    'listen 80;'                 => "listen 127.0.0.1:$port;",
    # (served by the workers: a copy where they cannot reach the checkout's)
    '/usr/share/nginx-kefu/html' => served_from("$Root/html", "$dir/html"),
);
for my $from (sort keys %local) {
    ok(index($conf, $from) >= 0, "it has $from") and $conf =~ s/\Q$from\E/$local{$from}/g;
}
$conf = "pid $dir/nginx.pid;\nerror_log $dir/logs/error.log info;\n$conf\nevents {}\n";
$conf =~ s/^http \{\n/http {\n    access_log off;\n    client_body_temp_path $dir;\n/m;
# scripts/test --cluster3: the tests' Redis as a cluster's seed
$conf = Kefu::Net::cluster_conf($conf);
open my $fh, '>', "$dir/nginx.conf" or die $!;
print $fh $conf;
close $fh;

my $out = `$nginx -p $dir/ -c $dir/nginx.conf -t 2>&1`;
is($?, 0, 'nginx -t passes') or diag($out);
$out = `$nginx -p $dir/ -c $dir/nginx.conf 2>&1`;
is($?, 0, 'nginx starts with it') or diag($out);
END {
    if (open my $p, '<', "$dir/nginx.pid") {
        my $pid = <$p>;
        kill 'QUIT', $pid if $pid;
        sleep 0.2;
    }
}
for (1 .. 100) {
    last if IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port);
    sleep 0.05;
}

local $Kefu::WS::Port = $port;
my ($code, $h) = http_raw("GET /kefu/widget.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
is($code, 200, 'the widget is served');
like($h->{'content-type'} // '', qr{^application/javascript}, 'as JavaScript');
is($h->{'content-encoding'}, 'gzip', 'gzipped');
($code, $h) = http_raw("GET /kefu/widget.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
is($h->{'content-encoding'}, 'gzip', 'its stylesheet too');
($code) = http_raw("GET /console/ HTTP/1.0\r\n\r\n");
is($code, 200, 'the console is served');

for (1 .. 100) {
    my $log = do { open my $l, '<', "$dir/logs/error.log"; local $/; <$l> // '' };
    last if (() = $log =~ /$Kefu::Net::LinkReady/g) >= 2;
    sleep 0.05;
}
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1');
is($w->{type}, 'welcome', 'an anonymous visitor is welcomed on /chat');
# sent again on unavailable, as a client does (on a cluster a worker's
# id node comes after its links)
my $m;
for (1 .. 100) {
    $v->send_json({type => 'msg', cid => 'r1', text => 'hello from the README'});
    $m = wait_for($v, sub { ($_[0]{cid} // '') eq 'r1' });
    last unless $m && ($m->{code} // '') eq 'unavailable';
    sleep 0.1;
}
is($m && $m->{type}, 'ack', 'and its message stored');

# the package's conf.d example
my $example = do { open my $e, '<', "$Root/packaging/kefu.conf" or die $!; local $/; <$e> };
ok(index($example, '/etc/nginx/kefu/shop1.secret') >= 0 && $example =~ /listen 80;/,
   'the example names its secret file and port');
$example =~ s{/etc/nginx/kefu/shop1\.secret}{$dir/shop1.secret}g;
$example =~ s/listen 80;/listen 127.0.0.1:$port;/g;
open my $xf, '>', "$dir/example.conf" or die $!;
print $xf "load_module $module;\npid $dir/example.pid;\nerror_log $dir/logs/example.log;\n"
        . "events {}\nhttp {\n    include /etc/nginx/mime.types;\n$example\n}\n";
close $xf;
$out = `$nginx -p $dir/ -c $dir/example.conf -t 2>&1`;
is($?, 0, "packaging/kefu.conf passes nginx -t") or diag($out);

done_testing();
