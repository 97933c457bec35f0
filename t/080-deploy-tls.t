# docs/deploy.md's TLS recipe, with a self-signed certificate this test
# makes (openssl): one "listen ... ssl http2" server carries the pages over
# HTTP/2 and the chat as wss:// (WebSocket over HTTP/1.1 on its own TLS
# connection) on the same port; kefu_allowed_origins admits the shop's
# https origin only; the widget and the console, in headless Chromium
# that trusts only this certificate, load over HTTP/2 and connect with
# wss://.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Route qw(agent_token wait_for uniq_group);
use Kefu::Browser;
use File::Temp qw(tempdir);
use IO::Socket::INET;

workers(2);
master_on();

our $S = 'shop1-secret-0123456789abcdef';
our $TLSDIR = tempdir(CLEANUP => 1);
our $TLSPORT = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1);
    my $p = $s->sockport; close $s; $p;
};
$ENV{TEST_NGINX_TLS_DIR} = $TLSDIR;
$ENV{TEST_NGINX_TLS_PORT} = $TLSPORT;
$ENV{TEST_NGINX_KEFU_HTML} = kefu_html();

# the recipe's certificate, self-signed for localhost
system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
       . " -days 2 -subj /CN=localhost -addext subjectAltName=DNS:localhost,IP:127.0.0.1"
       . " -keyout $TLSDIR/chat.key -out $TLSDIR/chat.crt 2>$TLSDIR/openssl.log") == 0
    or die "openssl: " . `cat $TLSDIR/openssl.log`;
# Chromium trusts it by its key's hash, nothing else
our $SPKI = `openssl x509 -in $TLSDIR/chat.crt -pubkey -noout | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`;
chomp $SPKI;

if (my $why = browser_ready()) {
    die "the TLS test needs the browser: $why\n";
}

run_tests();

__DATA__

=== TEST 1: wss:// chat, HTTP/2 pages on the same port, the origin checked, plain HTTP refused
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
    include /etc/nginx/mime.types;

    server {
        listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl http2;
        server_name localhost;

        ssl_certificate     $TEST_NGINX_TLS_DIR/chat.crt;
        ssl_certificate_key $TEST_NGINX_TLS_DIR/chat.key;
        ssl_protocols       TLSv1.2 TLSv1.3;
        ssl_session_cache   shared:kefu_tls:1m;

        location = /chat {
            kefu_chat;
            kefu_allowed_origins https://localhost:$TEST_NGINX_TLS_PORT;
        }

        location /widget/ {
            root $TEST_NGINX_KEFU_HTML;
            gzip on;
            gzip_types text/css application/javascript;
        }

        location / {
            root $TEST_NGINX_KEFU_HTML;
        }
    }
--- config
    location = /plain { return 204; }
--- ws
local $Kefu::WS::Port = $main::TLSPORT;
local $Kefu::WS::TLS = {ca => "$main::TLSDIR/chat.crt", name => 'localhost'};

my $group = uniq_group('tls');
my ($agent, $aw) = kefu_connect(role => 'agent', site => 'shop1', status => 'online',
                                token => agent_token("tls-$group", groups => [$group]));
is($aw->{type}, 'welcome', 'an agent signs in over wss://');
ok(wait_for($agent, sub { $_[0]{type} eq 'presence' }), 'and is online');
my ($v, $vw) = kefu_connect(role => 'visitor', site => 'shop1', group => $group);
is($vw->{type}, 'welcome', 'a visitor says hello over wss://');
$v->send_json({type => 'msg', cid => 't1', text => 'over TLS'});
my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' });
ok($ack, 'the message is stored');
my $m = wait_for($agent, sub { $_[0]{type} eq 'msg' });
is($m && $m->{text}, 'over TLS', 'and reaches the agent');

my $ws = ws_connect(headers => ["Origin: https://localhost:$main::TLSPORT"]);
is($ws->status, 101, "the shop's https origin may open the WebSocket");
$ws = ws_connect(headers => ["Origin: http://localhost:$main::TLSPORT"], expect => 403);
is($ws->status, 403, 'its http:// origin may not');
$ws = ws_connect(headers => ['Origin: https://evil.example'], expect => 403);
is($ws->status, 403, 'nor another site');

# a client that offers h2 by ALPN (as browsers do) still gets its
# WebSocket: over HTTP/1.1 on a connection of its own
$ws = ws_connect(tls => {ca => "$main::TLSDIR/chat.crt", alpn => ['http/1.1']});
is($ws->status, 101, 'WebSocket over HTTP/1.1 with ALPN http/1.1');

my $curl = "curl -sS --cacert $main::TLSDIR/chat.crt";
my $base = "https://localhost:$main::TLSPORT";
is(`$curl --http2 -o /dev/null -w '%{http_version} %{http_code}' $base/widget/widget.js`, '2 200',
   'the widget is served over HTTP/2');
like(`$curl --http2 -H 'Accept-Encoding: gzip' -D - -o /dev/null $base/widget/widget.js`,
     qr/^content-encoding: gzip\r?$/mi, 'gzipped');
is(`$curl --http2 -o /dev/null -w '%{http_version} %{http_code}' $base/console/`, '2 200',
   'the console too');
is(`$curl --http1.1 -o /dev/null -w '%{http_version} %{http_code}' $base/console/`, '1.1 200',
   'and to HTTP/1.1 clients');
like(`curl -sS -o /dev/null -w '%{http_code}' http://localhost:$main::TLSPORT/console/`, qr/^400$/,
     'plain HTTP on the TLS port is refused (400)');



=== TEST 2: in Chromium: the shop and the console over HTTPS and HTTP/2, the chat over wss://
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
    include /etc/nginx/mime.types;

    server {
        listen 127.0.0.1:$TEST_NGINX_TLS_PORT ssl http2;
        server_name localhost;
        ssl_certificate     $TEST_NGINX_TLS_DIR/chat.crt;
        ssl_certificate_key $TEST_NGINX_TLS_DIR/chat.key;

        location = /chat {
            kefu_chat;
            kefu_allowed_origins https://localhost:$TEST_NGINX_TLS_PORT;
        }
        location / {
            root $TEST_NGINX_KEFU_HTML;
        }
    }
--- config
    location = /plain { return 204; }
--- ws
local $Kefu::WS::Port = $main::TLSPORT;
local $ENV{KEFU_SPKI} = $main::SPKI;
local $ENV{KEFU_TLS_BASE} = "https://localhost:$main::TLSPORT";
browser_run('080-tls.mjs', site => 'shop1', secret => $main::S);
--- timeout: 90
