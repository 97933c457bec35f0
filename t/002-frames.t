# RFC 6455 framing: segmentation, lengths, fragmentation, control frames,
# UTF-8, the close handshake and every protocol violation's close code.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;

run_tests();

__DATA__

=== TEST 1: one byte per TCP segment: a message, a fragmented one with a ping inside, a close
--- config
    location = /chat { kefu_chat; }
--- ws
my $ws = ws_connect();
my $p = json_enc({type => 'ping', id => 'slow'});
my $bytes = ws_frame(1, $p)
          . ws_frame(1, substr($p, 0, 5), fin => 0)
          . ws_frame(9, 'inside')
          . ws_frame(0, substr($p, 5, 7), fin => 0)
          . ws_frame(0, substr($p, 12))
          . ws_frame(8, ws_close_payload(1000));
ok($ws->send_slowly($bytes, 0.0005), 'sent byte by byte');
is_deeply($ws->recv_json, {type => 'pong', id => 'slow'}, 'whole message answered');
my $f = $ws->recv_frame;
is($f->{op}, 10, 'ping inside a fragmented message answered with pong');
is($f->{payload}, 'inside', 'pong echoes the ping payload');
is_deeply($ws->recv_json, {type => 'pong', id => 'slow'}, 'reassembled message answered');
my ($code) = $ws->recv_close;
is($code, 1000, 'close echoed');
ok($ws->expect_eof, 'connection closed');
--- no_error_log
[error]



=== TEST 2: 7-, 16- and 64-bit payload lengths, both ways
--- config
    location = /chat { kefu_chat; kefu_max_message_size 256k; kefu_max_send_queue 1m; }
--- ws
my $ws = ws_connect();
for my $n (10, 200, 70000, 200000) {
    my $id = 'x' x $n;
    $ws->send_frame(1, json_enc({type => 'ping', id => $id}));
    my $m = $ws->recv_json(5);
    is(length($m->{id} // ''), $n, "id of $n bytes echoed");
}
--- no_error_log
[error]



=== TEST 3: every framing violation closes with its code and leaves nothing behind
--- config
    location = /chat { kefu_chat; kefu_max_message_size 1k; }
--- ws
my @cases = (
    ['unmasked frame', ws_frame(1, '{"type":"ping"}', mask => 0), 1002, 'client frames must be masked'],
    ['RSV1 set', ws_frame(1, '{"type":"ping"}', rsv => 4), 1002, 'reserved bits set'],
    ['RSV3 set', ws_frame(1, '{"type":"ping"}', rsv => 1), 1002, 'reserved bits set'],
    ['opcode 3', ws_frame(3, ''), 1002, 'reserved opcode'],
    ['opcode 0xB', ws_frame(0xB, ''), 1002, 'reserved opcode'],
    ['control frame of 126 bytes', ws_frame(9, 'x' x 126), 1002, 'control frame over 125 bytes'],
    ['fragmented ping', ws_frame(9, 'x', fin => 0), 1002, 'fragmented control frame'],
    ['16-bit length for 5 bytes', ws_frame(1, 'hello', len_form => 16), 1002, 'length not minimally encoded'],
    ['64-bit length for 200 bytes', ws_frame(1, 'x' x 200, len_form => 64), 1002, 'length not minimally encoded'],
    ['64-bit length with the top bit', pack('CCNN', 0x81, 0xFF, 0x80000000, 0) . "\0\0\0\0", 1002, 'invalid 64-bit length'],
    ['continuation without a message', ws_frame(0, 'x'), 1002, 'continuation frame without a message'],
    ['new message inside a fragmented one', ws_frame(1, '{', fin => 0) . ws_frame(1, '{}'), 1002, 'new message inside a fragmented one'],
    ['binary message', ws_frame(2, "\x00\x01"), 1003, 'binary messages are not accepted'],
    ['bad UTF-8', ws_frame(1, "\xc3\x28"), 1007, 'invalid UTF-8 in text message'],
    ['overlong UTF-8', ws_frame(1, "\xc0\xaf"), 1007, 'invalid UTF-8 in text message'],
    ['UTF-16 surrogate', ws_frame(1, "\xed\xa0\x80"), 1007, 'invalid UTF-8 in text message'],
    ['truncated UTF-8 at the end', ws_frame(1, "abc\xe2\x82"), 1007, 'truncated UTF-8 in text message'],
    ['message over the limit', ws_frame(1, 'x' x 1025), 1009, 'message too big'],
    ['fragments over the limit', ws_frame(1, 'x' x 600, fin => 0) . ws_frame(0, 'x' x 600), 1009, 'message too big'],
);
for my $c (@cases) {
    my ($what, $bytes, $want, $reason) = @$c;
    my $ws = ws_connect();
    $ws->send_raw($bytes);
    my ($code, $why) = $ws->recv_close;
    is($code, $want, "$what: close $want");
    is($why, $reason, "$what: reason");
    ok($ws->expect_eof, "$what: connection closed");
}
--- no_error_log
[error]
[alert]



=== TEST 4: bad UTF-8 is refused as soon as it arrives, before the message ends
--- config
    location = /chat { kefu_chat; }
--- ws
my $ws = ws_connect();
$ws->send_raw(ws_frame(1, "{\"a\":\"\xe2\x82", fin => 0));
$ws->send_raw(ws_frame(0, "\x41", fin => 0));
my ($code) = $ws->recv_close;
is($code, 1007, 'closed on the first bad byte, in a middle fragment');
--- no_error_log
[error]



=== TEST 5: a character split across fragments (and bytes) is fine
--- config
    location = /chat { kefu_chat; }
--- ws
my $ws = ws_connect();
my $p = "{\"type\":\"ping\",\"id\":\"\xe4\xbd\xa0\xe5\xa5\xbd\"}";
my $cut = index($p, "\xbd");
$ws->send_raw(ws_frame(1, substr($p, 0, $cut), fin => 0));
$ws->send_raw(ws_frame(0, substr($p, $cut)));
my $m = $ws->recv_json;
is($m->{type}, 'pong', 'reassembled');
is($m->{id}, "\x{4f60}\x{597d}", 'the characters arrive intact');



=== TEST 6: the close handshake: valid codes echoed, invalid ones refused with 1002, a reason that is not UTF-8 with 1007
--- config
    location = /chat { kefu_chat; }
--- ws
for my $code (1000, 1001, 1003, 1011, 3000, 4000, 4999) {
    my $ws = ws_connect();
    $ws->send_frame(8, ws_close_payload($code, 'bye'));
    my ($got) = $ws->recv_close;
    is($got, $code, "close $code echoed");
    ok($ws->expect_eof, "close $code: connection closed");
}
for my $code (0, 999, 1004, 1005, 1006, 1015, 1016, 2000, 2999, 5000, 65535) {
    my $ws = ws_connect();
    $ws->send_frame(8, ws_close_payload($code));
    my ($got, $why) = $ws->recv_close;
    is($got, 1002, "close $code refused");
    is($why, 'invalid close frame', "close $code: reason");
}
my $ws = ws_connect();
$ws->send_frame(8, "\x03");
my ($got) = $ws->recv_close;
is($got, 1002, 'a 1-byte close payload is refused');
$ws = ws_connect();
$ws->send_frame(8, ws_close_payload(1000, "\xff\xfe"));
my $why;
($got, $why) = $ws->recv_close;
is($got, 1007, 'a close reason that is not UTF-8 is refused with 1007');
is($why, 'close reason is not valid UTF-8', 'and says why');
$ws = ws_connect();
$ws->send_frame(8, '');
($got) = $ws->recv_close;
ok(!defined $got, 'an empty close is answered with an empty close');
ok($ws->expect_eof, 'and the connection closed');



=== TEST 7: after the close, nothing more is processed
--- config
    location = /chat { kefu_chat; }
--- ws
my $ws = ws_connect();
$ws->send_raw(ws_frame(8, ws_close_payload(1000)) . ws_frame(1, json_enc({type => 'ping', id => 'late'})));
my ($code) = $ws->recv_close;
is($code, 1000, 'close echoed');
is(scalar @{ $ws->{before_close} }, 0, 'nothing before it');
ok($ws->expect_eof, 'closed, the late ping unanswered');



=== TEST 8: application errors: malformed JSON, wrong types, unknown types do not close
--- config
    location = /chat { kefu_chat; }
--- ws
my $ws = ws_connect();
my @cases = (
    ['{bad json', 'bad_request'],
    ['[1,2,3]', 'bad_request'],
    ['"just a string"', 'bad_request'],
    ['{"type":42}', 'bad_request'],
    ['{"no_type":true}', 'bad_request'],
    ['{"type":"ping","id":7}', 'bad_request'],
);
for my $c (@cases) {
    $ws->send_text($c->[0]);
    my $m = $ws->recv_json;
    is($m->{type}, 'error', "$c->[0]: error");
    is($m->{code}, $c->[1], "$c->[0]: $c->[1]");
    ok(length $m->{message}, "$c->[0]: with a message");
}
$ws->send_json({type => 'ping', id => 'still-open'});
is_deeply($ws->recv_json, {type => 'pong', id => 'still-open'}, 'connection still open');



=== TEST 9: anything but hello or ping first: error unauthorized (with its cid), close 4401
--- config
    location = /chat { kefu_chat; }
--- ws
my $ws = ws_connect();
$ws->send_json({type => 'msg', cid => 'c-1', text => 'hi'});
my $m = $ws->recv_json;
is($m->{code}, 'unauthorized', 'unauthorized');
is($m->{cid}, 'c-1', 'carries the cid');
my ($code) = $ws->recv_close;
is($code, 4401, 'closed with 4401');
