# Abuse that must cost the abuser, not the service: malformed messages
# count against the rate like any other (contract v2, "Rate").
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;

worker_connections(1024);

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



=== TEST 3: pages are stored without token parameters (query, fragment, referrer)
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
use Kefu::API;
my ($ws, $w);
for (1 .. 50) {
    $ws = ws_connect();
    $ws->send_json({type => 'hello', role => 'visitor', site => 'shop1',
                    page => {url => 'https://shop.example/widget/?site=shop1&token=eyJ.abc.def',
                             referrer => 'https://shop.example/?access_token=xyz#top'}});
    $w = $ws->recv_json;
    last if $w->{type} eq 'welcome';
    die "hello: $w->{message}" unless $w->{code} eq 'unavailable';
    sleep 0.1;
}
is($w->{type}, 'welcome', 'welcome');
my @pages = (
    ['https://shop.example/p?token=abc', 'https://shop.example/p'],
    ['https://shop.example/p?a=1&TOKEN=abc&b=2', 'https://shop.example/p?a=1&b=2'],
    ['https://shop.example/p?token=abc&b=2', 'https://shop.example/p?b=2'],
    ['https://shop.example/p?a=1&token&b=2#token=zzz', 'https://shop.example/p?a=1&b=2'],
    ['https://shop.example/p#/chat?token=abc&x=1', 'https://shop.example/p#/chat?x=1'],
    ['https://shop.example/p?tokens=1&mytoken=2#section', 'https://shop.example/p?tokens=1&mytoken=2#section'],
    ['https://shop.example/p', 'https://shop.example/p'],
);
$ws->send_json({type => 'page', url => $_->[0]}) for @pages;
my $key = "kefu:{s:shop1}:v:$w->{id}:pages";
my $stored = [];
for (1 .. 100) {
    $stored = redis(LRANGE => $key, 0, -1);
    last if @$stored >= 1 + @pages;
    sleep 0.05;
}
is(scalar @$stored, 1 + @pages, 'every page stored');
my $first = Kefu::WS::json_dec($stored->[0]);
is($first->{url}, 'https://shop.example/widget/?site=shop1', "hello's page: without its token");
is($first->{referrer}, 'https://shop.example/#top', "hello's referrer: without its access_token");
for my $i (0 .. $#pages) {
    is(Kefu::WS::json_dec($stored->[$i + 1])->{url}, $pages[$i][1], "stored as $pages[$i][1]");
}
--- no_error_log
[error]



=== TEST 4: visitors fill their share of the session zone, as its gauge said; agents and admins still sign in
--- http_config
    kefu_zone tiny:32k;
    kefu_anonymous_per_address 0;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
    location = /status { kefu_status; }
--- ws
my $status = sub {
    my ($st, $h, $body) = http_raw("GET /status HTTP/1.0\r\nHost: x\r\n\r\n");
    return Kefu::WS::json_dec($body);
};
my $z0 = $status->()->{zone};
cmp_ok($z0->{room_visitors}, '>', 100, "the gauge: room for $z0->{room_visitors} visitors");
cmp_ok($z0->{room}, '>', $z0->{room_visitors}, "and for $z0->{room} agents' sessions, the reserve with it");
my (@open, $refused);
for my $i (1 .. $z0->{room_visitors} + 50) {
    my $ws = ws_connect();
    $ws->send_json({type => 'hello', role => 'visitor', site => 'shop1'});
    my $m = $ws->recv_json;
    if ($m->{type} eq 'welcome') { push @open, $ws; next }
    is($m->{code}, 'unavailable', 'a visitor past its share: unavailable');
    my ($code) = $ws->recv_close;
    is($code, 1013, 'close 1013');
    $refused = $i;
    last;
}
ok($refused, 'visitors filled their share');
is(scalar(@open), $z0->{room_visitors}, 'as many visitors as the gauge said there was room for');
my $z1 = $status->()->{zone};
is($z1->{room_visitors}, 0, 'the gauge: no room left for visitors');
is($z1->{sessions}, scalar(@open), 'the sessions counted');
cmp_ok($z1->{room}, '>=', 20, "room left for $z1->{room} agents and admins");
my $tok = sub {
    my ($role, $sub) = @_;
    jwt_hs256({sub => $sub, role => $role, site => 'shop1', exp => time + 60},
              'shop1-secret-0123456789abcdef');
};
my @staff;
for my $i (1 .. 20) {
    my $role = $i % 2 ? 'agent' : 'admin';
    my $ws = ws_connect();
    $ws->send_json({type => 'hello', role => $role, site => 'shop1', token => $tok->($role, "staff$i")});
    is($ws->recv_json->{type}, 'welcome', "$role $i signs in from the reserve");
    push @staff, $ws;
}
my $ws = ws_connect();
$ws->send_json({type => 'hello', role => 'visitor', site => 'shop1'});
is($ws->recv_json->{code}, 'unavailable', 'still no room for another visitor');
my $s = $status->();
is($s->{zone}{room}, $z1->{room} - 20, 'the reserve took the 20');
cmp_ok($s->{zone}{refused_visitors}, '>=', 2, 'the refusals counted as visitors refused');
is($s->{zone}{refused}, $s->{zone}{refused_visitors}, 'no one else was refused');
--- error_log eval
[qr/kefu: kefu_zone "tiny" \(32k\) holds about \d+ sessions, \d+ of them visitors' \(0 held now\)/,
 qr/kefu: kefu_zone "tiny" \(32k\) holds about \d+ visitors' sessions, fewer than the \d+ connections of worker_processes and worker_connections/,
 'kefu: session zone is full']
--- no_error_log
[alert]
[crit]
ngx_slab_alloc() failed



=== TEST 5: anonymous sessions per client address (after realip), not agents' or shop-signed visitors'
--- http_config
    kefu_anonymous_per_address 3;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat {
        set_real_ip_from 127.0.0.1;
        real_ip_header X-Forwarded-For;
        kefu_chat;
    }
    location = /status { kefu_status; }
--- ws
my $hello = sub {
    my ($from, %h) = @_;
    my $ws = ws_connect($from ? (headers => ["X-Forwarded-For: $from"]) : ());
    $ws->send_json({type => 'hello', role => 'visitor', site => 'shop1', %h});
    return ($ws, $ws->recv_json);
};
my @open;
for my $i (1 .. 3) {
    my ($ws, $m) = $hello->('203.0.113.7');
    is($m->{type}, 'welcome', "anonymous visitor $i from 203.0.113.7");
    push @open, [$ws, $m];
}
my ($ws, $m) = $hello->('203.0.113.7');
is($m->{code}, 'unavailable', 'the 4th from that address: unavailable');
is($m->{message}, 'too many anonymous sessions from this address', 'saying why');
my ($code) = $ws->recv_close;
is($code, 1013, 'close 1013');
($ws, $m) = $hello->('203.0.113.7', token => $open[0][1]{token});
is($m->{code}, 'unavailable', "a known anonymous visitor's token counts too");
($ws, $m) = $hello->('203.0.113.8');
is($m->{type}, 'welcome', 'another address is not affected');
my $signed = jwt_hs256({sub => 'shop-user-1', role => 'visitor', site => 'shop1', exp => time + 60},
                       'shop1-secret-0123456789abcdef');
($ws, $m) = $hello->('203.0.113.7', token => $signed);
is($m->{type}, 'welcome', 'a visitor the shop signed is not counted');
my $agent = ws_connect(headers => ['X-Forwarded-For: 203.0.113.7']);
$agent->send_json({type => 'hello', role => 'agent', site => 'shop1',
                   token => jwt_hs256({sub => 'a1', role => 'agent', site => 'shop1', exp => time + 60},
                                      'shop1-secret-0123456789abcdef')});
is($agent->recv_json->{type}, 'welcome', 'nor is an agent');
close $open[0][0]->sock;
my $back;
for (1 .. 100) {
    ($ws, $m) = $hello->('203.0.113.7');
    $back = $m->{type} eq 'welcome' and last;
    sleep 0.05;
}
ok($back, 'a session that left makes room');
my ($st, $h, $body) = http_raw("GET /status HTTP/1.0\r\nHost: x\r\n\r\n");
my $s = Kefu::WS::json_dec($body);
cmp_ok($s->{zone}{refused_address}, '>=', 2, 'refusals counted');
is($s->{zone}{refused}, 0, 'the zone itself was not full');
--- error_log
kefu: 3 anonymous sessions from 203.0.113.7 already, refusing visitor
--- no_error_log
[alert]
