# Abuse that must cost the abuser, not the service: malformed messages
# count against the rate like any other (contract v2, "Rate").
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;

run_tests();

__DATA__

=== TEST 1: a flood of malformed messages is rate limited and closed with 4429
--- config
    location = /chat { kefu_chat; kefu_message_rate 5r/s burst=5; }
--- ws
my $ws = ws_connect();
$ws->send_text('not json') for 1 .. 5;
for my $i (1 .. 5) {
    my $e = $ws->recv_json;
    is($e->{code}, 'bad_request', "malformed message $i within the burst: bad_request");
}
$ws->send_text('{"type":7,"cid":"m-1"}');
my $e = $ws->recv_json;
is($e->{code}, 'rate_limited', 'a malformed message over the burst: rate_limited');
is($e->{cid}, 'm-1', 'with its cid where it has one');
$ws->send_text('[1,2') for 1 .. 20;
my $limited = 0;
my ($code, $reason);
while (my $f = $ws->recv_frame(5)) {
    last if !defined $f->{op};
    if ($f->{op} == 8) {
        ($code, $reason) = @{ $ws->_close_of($f) };
        last;
    }
    $limited++ if Kefu::WS::json_dec($f->{payload})->{code} eq 'rate_limited';
}
is($limited, 5, 'each malformed message past the burst answered rate_limited, up to the burst');
is($code, 4429, 'then the connection is closed with 4429');
is($reason, 'rate limited', 'reason');
--- no_error_log
[error]



=== TEST 2: malformed messages within the rate still get their bad_request, in order
--- config
    location = /chat { kefu_chat; kefu_message_rate 100r/s burst=100; }
--- ws
my $ws = ws_connect();
$ws->send_text($_) for ('nope', '[]', '{"type":1}', '{"type":"ping","id":"p"}');
is($ws->recv_json->{message}, 'malformed JSON', 'not JSON');
is($ws->recv_json->{message}, 'a message is a JSON object', 'not an object');
is($ws->recv_json->{message}, '"type" must be a string', 'type not a string');
is($ws->recv_json->{type}, 'pong', 'and a good message still answered');
--- no_error_log
[error]
