# hello: HS256 tokens, sites, anonymous visitors, the session zone.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;

our $S1 = 'shop1-secret-0123456789abcdef';
our $S2 = 'shop2-secret-fedcba9876543210';

worker_connections(1024);

# a secret file as an editor leaves it, with a trailing newline
use File::Temp qw(tempfile);
my ($sfh, $sfile) = tempfile(UNLINK => 1);
print $sfh "secret-from-a-file-0123456789\n";
close $sfh;
$ENV{TEST_NGINX_SECRET_FILE} = $sfile;

run_tests();

__DATA__

=== TEST 1: anonymous visitor: welcome with a new id and a token that proves it later
--- http_config
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
my $ws = ws_connect();
$ws->send_json({type => 'hello', role => 'visitor', site => 'shop1', name => "\x{8bbf}\x{5ba2}"});
my $w = $ws->recv_json;
is($w->{type}, 'welcome', 'welcome');
is($w->{role}, 'visitor', 'as a visitor');
like($w->{id}, qr/^v_[0-9a-f]{24}$/, 'an unguessable visitor id');
like($w->{session}, qr/^[0-9a-f]{16}$/, 'a session id');
is_deeply($w->{convs}, [], 'no conversations yet');
is($w->{heartbeat}, 30, 'heartbeat in seconds');
cmp_ok(abs($w->{ts} - time * 1000), '<', 5000, 'ts in milliseconds');
is($w->{name}, "\x{8bbf}\x{5ba2}", 'the name it gave');
like($w->{token}, qr/^[\w-]+\.[\w-]+\.[\w-]+$/, 'a signed visitor token');

my $again = ws_connect();
$again->send_json({type => 'hello', role => 'visitor', site => 'shop1', token => $w->{token}});
my $w2 = $again->recv_json;
is($w2->{type}, 'welcome', 'the token is accepted on a later connect');
is($w2->{id}, $w->{id}, 'same visitor');
ok(!defined $w2->{token}, 'no new token');
isnt($w2->{session}, $w->{session}, 'a new session');

$ws->send_json({type => 'hello', role => 'visitor', site => 'shop1'});
my $e = $ws->recv_json;
is($e->{code}, 'bad_request', 'a second hello is refused');
$ws->send_json({type => 'ping', id => 'x'});
is($ws->recv_json->{type}, 'pong', 'without closing');
--- no_error_log
[error]



=== TEST 2: agents and admins with tokens from the shop's backend
--- http_config
    kefu_site shop1 secret=shop1-secret-0123456789abcdef;
--- config
    location = /chat { kefu_chat; }
--- ws
for my $role (qw(agent admin)) {
    my $t = jwt_hs256({sub => "$role-7", role => $role, site => 'shop1', exp => time + 60,
                       name => 'Wang', groups => ['sales'], capacity => 3}, $main::S1);
    my $ws = ws_connect();
    $ws->send_json({type => 'hello', role => $role, site => 'shop1', token => $t});
    my $w = $ws->recv_json;
    is($w->{type}, 'welcome', "$role: welcome");
    is($w->{id}, "$role-7", "$role: id from sub");
    is($w->{role}, $role, "$role: role");
    is($w->{name}, 'Wang', "$role: name from the token");
    ok(!defined $w->{token}, "$role: no token minted");
}
--- error_log
kefu: agent "agent-7" of site "shop1" authenticated



=== TEST 3: every bad token: error unauthorized with the reason, then close 4401
--- http_config
    kefu_site shop1 secret=shop1-secret-0123456789abcdef;
    kefu_site shop2 secret=shop2-secret-fedcba9876543210 anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
my $ok = {sub => 'a1', role => 'agent', site => 'shop1', exp => time + 60};
my @cases = (
    ['expired', {%$ok, exp => time - 3600}, $main::S1, 'token expired'],
    ['no exp', {sub => 'a1', role => 'agent', site => 'shop1'}, $main::S1, 'token has no exp'],
    ['not valid yet', {%$ok, nbf => time + 3600}, $main::S1, 'token not valid yet'],
    ['forged', $ok, 'another-secret-0123456789', 'token signature is invalid'],
    ['signed for another site', $ok, $main::S2, 'token signature is invalid'],
    ['claims another site', {%$ok, site => 'shop2'}, $main::S1, 'token is for another site'],
    ['no site', {sub => 'a1', role => 'agent', exp => time + 60}, $main::S1, 'token has no "site" claim'],
    ['claims another role', {%$ok, role => 'visitor'}, $main::S1, 'token is for another role'],
    ['no sub', {role => 'agent', site => 'shop1', exp => time + 60}, $main::S1, qr/token "sub" must be/],
    ['sub with a space', {%$ok, sub => 'a 1'}, $main::S1, qr/token "sub" must be/],
    ['groups not an array', {%$ok, groups => 'sales'}, $main::S1, qr/"groups" must be an array/],
    ['negative capacity', {%$ok, capacity => -1}, $main::S1, qr/"capacity" must be/],
);
for my $c (@cases) {
    my ($what, $claims, $secret, $reason) = @$c;
    my $ws = ws_connect();
    $ws->send_json({type => 'hello', role => 'agent', site => 'shop1', cid => 'h1',
                    token => jwt_hs256($claims, $secret)});
    my $e = $ws->recv_json;
    is($e->{code}, 'unauthorized', "$what: unauthorized");
    is($e->{cid}, 'h1', "$what: with the cid");
    ref $reason ? like($e->{message}, $reason, "$what: reason") : is($e->{message}, $reason, "$what: reason");
    my ($code) = $ws->recv_close;
    is($code, 4401, "$what: close 4401");
}
my @raw = (
    ['alg none', jwt_hs256($ok, $main::S1, alg => 'none'), 'token algorithm must be HS256'],
    ['alg HS512', jwt_hs256($ok, $main::S1, alg => 'HS512'), 'token algorithm must be HS256'],
    ['not a JWT', 'hello', 'token is not a JWT'],
    ['four parts', 'a.b.c.d', 'token is not a JWT'],
    ['payload not JSON', jwt_hs256(undef, $main::S1, raw_payload => 'nope'), 'token claims are not valid'],
    ['huge', 'x' x 5000, 'token is empty or too long'],
);
for my $c (@raw) {
    my ($what, $token, $reason) = @$c;
    my $ws = ws_connect();
    $ws->send_json({type => 'hello', role => 'agent', site => 'shop1', token => $token});
    my $e = $ws->recv_json;
    is($e->{message}, $reason, "$what: $reason");
    my ($code) = $ws->recv_close;
    is($code, 4401, "$what: close 4401");
}
my @hello = (
    ['unknown site', {role => 'visitor', site => 'nope'}, 'unknown site'],
    ['site not a string', {role => 'visitor', site => 1}, '"site" must be a string'],
    ['unknown role', {role => 'boss', site => 'shop2'}, '"role" must be visitor, agent or admin'],
    ['anonymous not allowed', {role => 'visitor', site => 'shop1'}, 'a token is required'],
    ['anonymous agent', {role => 'agent', site => 'shop2'}, 'a token is required'],
    ['token not a string', {role => 'agent', site => 'shop1', token => 5}, '"token" must be a string'],
);
for my $c (@hello) {
    my ($what, $h, $reason) = @$c;
    my $ws = ws_connect();
    $ws->send_json({type => 'hello', %$h});
    my $e = $ws->recv_json;
    is($e->{message}, $reason, "$what: $reason");
    my ($code) = $ws->recv_close;
    is($code, 4401, "$what: close 4401");
}
--- no_error_log
[error]
[alert]



=== TEST 4: a site's secret from a file; the visitor token of one site is not another's
--- http_config
    kefu_site shop1 secret_file=$TEST_NGINX_SECRET_FILE anonymous=on;
    kefu_site shop2 secret=shop2-secret-fedcba9876543210 anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
my $ws = ws_connect();
$ws->send_json({type => 'hello', role => 'agent', site => 'shop1',
                token => jwt_hs256({sub => 'f', role => 'agent', site => 'shop1', exp => time + 60}, 'secret-from-a-file-0123456789')});
is($ws->recv_json->{type}, 'welcome', 'the file secret (without its newline) verifies');
$ws = ws_connect();
$ws->send_json({type => 'hello', role => 'visitor', site => 'shop2'});
my $t = $ws->recv_json->{token};
$ws = ws_connect();
$ws->send_json({type => 'hello', role => 'visitor', site => 'shop1', token => $t});
is($ws->recv_json->{code}, 'unauthorized', "shop2's visitor token is refused by shop1");



=== TEST 5: a full session zone refuses with unavailable and 1013, and recovers
--- http_config
    kefu_zone tiny:32k;
    kefu_anonymous_per_address 0;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
my (@open, $refused);
for my $i (1 .. 1500) {
    my $ws = ws_connect();
    $ws->send_json({type => 'hello', role => 'visitor', site => 'shop1'});
    my $m = $ws->recv_json;
    if ($m->{type} eq 'welcome') { push @open, $ws; next }
    is($m->{code}, 'unavailable', 'unavailable');
    is($m->{message}, 'server is at capacity', 'at capacity');
    my ($code) = $ws->recv_close;
    is($code, 1013, 'close 1013, try again later');
    $refused = $i;
    last;
}
ok($refused, 'the zone filled up (after ' . scalar(@open) . ' sessions)');
close $_->sock for splice(@open, 0, 10);
# the sessions are freed as nginx notices the closes: hello until welcome
my $w;
for (1 .. 200) {
    my $ws = ws_connect();
    $ws->send_json({type => 'hello', role => 'visitor', site => 'shop1'});
    $w = $ws->recv_json;
    last if $w->{type} eq 'welcome';
    sleep 0.05;
}
is($w->{type}, 'welcome', 'sessions that left made room');
--- error_log
kefu: session zone is full
--- no_error_log
[alert]
[crit]
ngx_slab_alloc() failed



=== TEST 6: the message rate: rate_limited with the cid, then 4429 for a client that keeps on
--- config
    location = /chat { kefu_chat; kefu_message_rate 5r/s burst=5; }
--- ws
my $ws = ws_connect();
# the burst and the one over it in one write, read by nginx at once: sent
# one by one after each pong, a token comes back whenever the answers
# take over 200 ms (a loaded machine) and the sixth passes
$ws->send_raw(join '', map({ ws_frame(1, json_enc({type => 'ping', id => "p$_"})) } 1 .. 5),
                       ws_frame(1, json_enc({type => 'ping', id => 'over', cid => 'c-9'})));
is($ws->recv_json->{type}, 'pong', "burst message $_ passes") for 1 .. 5;
my $e = $ws->recv_json;
is($e->{code}, 'rate_limited', 'over the burst: rate_limited');
is($e->{cid}, 'c-9', 'with the cid');
sleep 0.5;
$ws->send_json({type => 'ping', id => 'later'});
is($ws->recv_json->{id}, 'later', 'the bucket refills at the rate');
$ws->send_json({type => 'ping', id => "f$_"}) for 1 .. 20;
my ($code, $reason) = $ws->recv_close(30);
is($code, 4429, 'a client that keeps sending is closed with 4429');
is($reason, 'rate limited', 'reason');



=== TEST 7: after hello, contract messages not implemented yet answer unavailable; unknown ones bad_request
--- http_config
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
my $ws = ws_connect();
$ws->send_json({type => 'hello', role => 'visitor', site => 'shop1'});
is($ws->recv_json->{type}, 'welcome', 'welcome');
$ws->send_json({type => 'msg', cid => 'm1', text => 'hi'});
my $e = $ws->recv_json;
is($e->{code}, 'unavailable', 'msg: unavailable for now');
is($e->{cid}, 'm1', 'with its cid');
$ws->send_json({type => 'dance', cid => 'd1'});
$e = $ws->recv_json;
is($e->{code}, 'bad_request', 'an unknown type: bad_request');
is($e->{cid}, 'd1', 'with its cid');
$ws->send_json({type => 'ping', id => 'still'});
is($ws->recv_json->{id}, 'still', 'the connection stays open');



=== TEST 8: the checks keep their order through the validation layer: a message with two faults is told about the one the contract checks first
--- http_config
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; kefu_max_attrs 64; }
--- ws
# hello: an unknown site before the role, the attrs or the group
for my $h ({role => 'boss'}, {role => 'visitor', attrs => {x => 'y' x 100}},
           {role => 'visitor', group => 'no group'}) {
    my $ws = ws_connect();
    $ws->send_json({type => 'hello', site => 'nowhere', cid => 'h', %$h});
    my $e = $ws->recv_json;
    is("$e->{code}: $e->{message}", 'unauthorized: unknown site', "unknown site and a bad $h->{role}/"
       . join(',', sort keys %$h) . ': the site first');
    my ($code) = $ws->recv_close;
    is($code, 4401, 'and close 4401');
}
# a known site: a visitor's oversize attrs are refused without a close
{
    my $ws = ws_connect();
    $ws->send_json({type => 'hello', site => 'shop1', role => 'visitor', attrs => {x => 'y' x 100},
                    group => 'no group', cid => 'h2'});
    my $e = $ws->recv_json;
    is("$e->{code} $e->{cid}", 'too_large h2', 'attrs before group, without a close');
    $ws->send_json({type => 'hello', site => 'shop1', role => 'visitor'});
    is($ws->recv_json->{type}, 'welcome', 'the connection may say hello again');
    # after hello: per type, the first fault
    $ws->send_json({type => 'msg', text => '', conv => 7, private => 'yes'});
    my $m = $ws->recv_json;
    is("$m->{code}: $m->{message}", 'bad_request: "cid" must be a string of 1-64 characters', 'msg: the cid first');
    ok(!exists $m->{cid}, 'without a cid');
    $ws->send_json({type => 'msg', cid => 'c1', text => '', conv => 7, private => 'yes'});
    $m = $ws->recv_json;
    is("$m->{code}: $m->{message} $m->{cid}", 'bad_request: "text" must be a non-empty string c1', 'msg: then the text');
    $ws->send_json({type => 'msg', cid => 'c2', text => 'hi', conv => 'a b', private => 'yes'});
    $m = $ws->recv_json;
    is("$m->{code}: $m->{message}", 'bad_request: "conv" must be a conversation id', 'msg: then conv');
    $ws->send_json({type => 'msg', cid => 'c3', text => 'hi', private => 'yes'});
    $m = $ws->recv_json;
    is("$m->{code}: $m->{message}", 'bad_request: "private" must be a boolean', 'msg: then private');
    $ws->send_json({type => 'accept', conv => 5, cid => 'a1'});
    $m = $ws->recv_json;
    is("$m->{code}: $m->{message}", 'forbidden: only agents accept conversations', "an agent's action: the role before the fields");
    $ws->send_json({type => 'history', before => 0, conv => 'a b'});
    $m = $ws->recv_json;
    is("$m->{code}: $m->{message}", 'bad_request: "before" and "limit" must be positive integers', 'history: the numbers before conv');
    $ws->send_json({type => 'history', conv => 'a b'});
    $m = $ws->recv_json;
    is("$m->{code}: $m->{message}", 'forbidden: not your conversation', 'history: a conv that cannot be an id looks like another\'s');
}
# before hello: any other type, well formed or not, is unauthorized
for my $msg ({type => 'msg'}, {type => 'dance'}) {
    my $ws = ws_connect();
    $ws->send_json({%$msg, cid => 'x'});
    my $e = $ws->recv_json;
    is("$e->{code} $e->{cid}", 'unauthorized x', "$msg->{type} before hello: unauthorized");
    my ($code) = $ws->recv_close;
    is($code, 4401, 'and close 4401');
}



=== TEST 9: an error's bytes are the JSON the contract shows: the cid escaped as JSON asks (quotes, backslash, control characters; UTF-8 and "/" as they came), the message's own quotes escaped, a cid of any length
--- http_config
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; kefu_max_message_size 64k; }
--- ws
my $ws = ws_connect();
$ws->send_json({type => 'hello', role => 'visitor', site => 'shop1'});
is($ws->recv_json->{type}, 'welcome', 'welcome');
# the error is written without jansson (issue 18): byte for byte what
# json_dumps() wrote before
my $odd = "q\"b\\s/n\nt\tr\rb\bf\fc\x01\x1f\x7f \xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80";
my $esc = 'q\\"b\\\\s/n\\nt\\tr\\rb\\bf\\fc\\u0001\\u001F' . "\x7f \xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80";
my @cases = (
    ['{"type":"dance","cid":"' . $esc . '"}', $esc, 'bad_request', 'unknown message type',
     'every escape and UTF-8'],
    ['{"type":"msg","cid":"c2","text":"hi","conv":"a b"}', 'c2', 'bad_request',
     '\\"conv\\" must be a conversation id', "the message's quotes"],
    ['{"type":"dance","cid":"' . ('\\u0002\\"' x 1500) . '"}', '\\u0002\\"' x 1500, 'bad_request',
     'unknown message type', 'a long cid, all escapes (over any fixed buffer)'],
    ['{"type":"dance"}', undef, 'bad_request', 'unknown message type', 'no cid: no "cid" key'],
);
for my $c (@cases) {
    my ($in, $cid, $code, $message, $what) = @$c;
    $ws->send_frame(1, $in);
    my $f = $ws->recv_frame;
    is($f->{payload}, '{"type":"error","code":"' . $code . '","message":"' . $message . '"'
       . (defined $cid ? ',"cid":"' . $cid . '"' : '') . '}', $what);
}
$ws->send_frame(1, '{"type":"dance","cid":"' . $esc . '"}');
my $got = $ws->recv_json->{cid};
utf8::encode($got);
is($got, $odd, 'the cid decodes to what was sent');
$ws->send_json({type => 'ping', id => 'still'});
is($ws->recv_json->{id}, 'still', 'the connection stays open');
