# The opening handshake: what becomes a WebSocket and what gets an HTTP error.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;

run_tests();

__DATA__

=== TEST 1: a plain GET gets 426 with a JSON body and the Upgrade headers
--- config
    location = /chat { kefu_chat; }
--- request
GET /chat
--- error_code: 426
--- response_headers
Upgrade: websocket
Sec-WebSocket-Version: 13
Content-Type: application/json
--- response_body_like: ^\{"error":\{"code":"upgrade_required","message":"[^"]+"\}\}$
--- no_error_log
[error]



=== TEST 2: POST gets 405 with Allow: GET
--- config
    location = /chat { kefu_chat; }
--- request
POST /chat
hello
--- error_code: 405
--- response_headers
Allow: GET
--- response_body_like: "code":"method_not_allowed"



=== TEST 3: a good upgrade: 101, correct Sec-WebSocket-Accept, no subprotocol unless asked
--- config
    location = /chat { kefu_chat; }
--- ws
my $ws = ws_connect();
is($ws->status, 101, 'switching protocols');
ok($ws->accept_ok, 'Sec-WebSocket-Accept is SHA-1 of key + GUID');
like($ws->header('upgrade'), qr/^websocket$/i, 'Upgrade: websocket');
like($ws->header('connection'), qr/^upgrade$/i, 'Connection: Upgrade');
ok(!defined $ws->header('sec-websocket-protocol'), 'no subprotocol chosen');
--- no_error_log
[error]



=== TEST 4: kefu.v1 is chosen when offered among others, not when not offered
--- config
    location = /chat { kefu_chat; }
--- ws
my $ws = ws_connect(protocols => ['chat', 'kefu.v1', 'x']);
is($ws->header('sec-websocket-protocol'), 'kefu.v1', 'kefu.v1 selected');
$ws = ws_connect(protocols => ['chat', 'superchat']);
is($ws->status, 101, 'still upgraded');
ok(!defined $ws->header('sec-websocket-protocol'), 'nothing selected');



=== TEST 5: Upgrade and Connection tokens: case-insensitive, in lists, repeated headers
--- config
    location = /chat { kefu_chat; }
--- ws
for my $h (["Upgrade: WebSocket", "Connection: keep-alive, Upgrade"],
           ["Upgrade: websocket", "Connection: UPGRADE"],
           ["Upgrade: h2c, websocket", "Connection: keep-alive", "Connection: upgrade"]) {
    my $req = "GET /chat HTTP/1.1\r\nHost: x\r\n" . join('', map { "$_\r\n" } @$h)
            . "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";
    my ($status, $headers) = http_raw($req);
    is($status, 101, "@$h");
    is($headers->{'sec-websocket-accept'}, 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', 'RFC 6455 sample accept value');
}



=== TEST 6: bad handshakes get 4xx with a JSON error
--- config
    location = /chat { kefu_chat; }
--- ws
my $key = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
my $up = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
my @cases = (
    [426, 'version 8', "GET /chat HTTP/1.1\r\nHost: x\r\n${up}Sec-WebSocket-Version: 8\r\n$key\r\n", 'sec-websocket-version' => '13'],
    [426, 'no version', "GET /chat HTTP/1.1\r\nHost: x\r\n$up$key\r\n"],
    [400, 'no key', "GET /chat HTTP/1.1\r\nHost: x\r\n${up}Sec-WebSocket-Version: 13\r\n\r\n"],
    [400, 'short key', "GET /chat HTTP/1.1\r\nHost: x\r\n${up}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n\r\n"],
    [400, 'key not base64', "GET /chat HTTP/1.1\r\nHost: x\r\n${up}Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!==\r\n\r\n"],
    [400, 'two keys', "GET /chat HTTP/1.1\r\nHost: x\r\n${up}Sec-WebSocket-Version: 13\r\n$key$key\r\n"],
    [400, 'no Connection: upgrade', "GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: keep-alive\r\nSec-WebSocket-Version: 13\r\n$key\r\n"],
    [400, 'HTTP/1.0', "GET /chat HTTP/1.0\r\nHost: x\r\n${up}Sec-WebSocket-Version: 13\r\n$key\r\n"],
    [400, 'a body', "GET /chat HTTP/1.1\r\nHost: x\r\n${up}Sec-WebSocket-Version: 13\r\n${key}Content-Length: 5\r\n\r\nhello"],
    [405, 'HEAD', "HEAD /chat HTTP/1.1\r\nHost: x\r\n${up}Sec-WebSocket-Version: 13\r\n$key\r\n"],
);
for my $c (@cases) {
    my ($want, $what, $req, %hdr) = @$c;
    my ($status, $headers, $body) = http_raw($req);
    is($status, $want, "$what: $want");
    like($body, qr/^\{"error":\{"code":"[a-z_]+","message":"[^"]+"\}\}\n$/, "$what: JSON error body")
        unless $what eq 'HEAD';
    is($headers->{$_}, $hdr{$_}, "$what: $_ header") for keys %hdr;
}



=== TEST 7: the Origin allow-list
--- config
    location = /chat {
        kefu_chat;
        kefu_allowed_origins https://shop.example http://localhost:8080;
    }
--- ws
my $ws = ws_connect(headers => ['Origin: https://shop.example']);
is($ws->status, 101, 'listed origin');
$ws = ws_connect(headers => ['Origin: HTTP://LOCALHOST:8080']);
is($ws->status, 101, 'scheme and host compare case-insensitively');
$ws = ws_connect(headers => ['Origin: https://evil.example'], expect => 403);
is($ws->status, 403, 'other origin refused');
$ws = ws_connect(headers => ['Origin: https://shop.example.evil'], expect => 403);
is($ws->status, 403, 'no prefix match');
$ws = ws_connect();
is($ws->status, 101, 'no Origin (not a browser) is allowed');
--- error_log
kefu: handshake refused with 403: origin not allowed



=== TEST 8: ping before hello is answered with pong, id echoed
--- config
    location = /chat { kefu_chat; }
--- ws
my $ws = ws_connect();
$ws->send_json({type => 'ping', id => 'p-1'});
is_deeply($ws->recv_json, {type => 'pong', id => 'p-1'}, 'pong with id');
$ws->send_json({type => 'ping'});
is_deeply($ws->recv_json, {type => 'pong'}, 'pong without id');
my ($code) = $ws->close_ws(1000);
is($code, 1000, 'close echoed');
ok($ws->expect_eof, 'server closes TCP after the close handshake');
--- no_error_log
[error]



=== TEST 9: frames pipelined behind the handshake, in the same write, are not lost
--- config
    location = /chat { kefu_chat; }
--- ws
my $extra = ws_frame(1, json_enc({type => 'ping', id => 'early-1'}))
          . ws_frame(1, json_enc({type => 'ping', id => 'early-2'}));
my $ws = ws_connect(extra => $extra);
is_deeply($ws->recv_json, {type => 'pong', id => 'early-1'}, 'first pipelined frame answered');
is_deeply($ws->recv_json, {type => 'pong', id => 'early-2'}, 'second pipelined frame answered');
--- no_error_log
[error]



=== TEST 10: an independent client (node's ws package) talks to it
--- config
    location = /chat { kefu_chat; }
--- ws
my $port = kefu_port();
my $js = <<"JS";
const WebSocket = require('ws');
const ws = new WebSocket('ws://127.0.0.1:$port/chat', ['kefu.v1']);
const t = setTimeout(() => { console.log('TIMEOUT'); process.exit(2); }, 5000);
ws.on('open', () => { console.log('open ' + ws.protocol); ws.send(JSON.stringify({type: 'ping', id: 'n1'})); });
ws.on('message', (d) => { console.log('message ' + d); ws.close(1000, 'bye'); });
ws.on('close', (code) => { console.log('close ' + code); clearTimeout(t); });
JS
my $file = "/tmp/kefu-node-$$.js";
open my $fh, '>', $file or die $!;
print $fh $js;
close $fh;
my $out = `NODE_PATH=/usr/share/nodejs timeout 10 node $file 2>&1`;
unlink $file;
is($out, "open kefu.v1\nmessage {\"type\":\"pong\",\"id\":\"n1\"}\nclose 1000\n", 'node ws: open, pong, clean close');
