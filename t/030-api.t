# The HTTP API's front door: Bearer tokens, routes and methods, bodies
# (content type, malformed JSON, wrong types, over the limit, spooled to
# disk), every error a JSON object with the right status.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;

our $S1 = 'shop1-secret-0123456789abcdef';
our $S2 = 'shop2-secret-0123456789abcdef';

our $SITE = <<'_EOC_';
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on default_group=presales;
    kefu_site shop2 secret=shop2-secret-0123456789abcdef anonymous=on;
    kefu_site shop3 secret=shop1-secret-0123456789abcdef;
_EOC_

add_block_preprocessor(sub {
    my $block = shift;
    # on one line: the block's own line numbers stay as they are
    $block->set_value('ws', "api_ready('/kefu/api/sites/shop1/convs') or die 'Redis not ready'; " . $block->ws)
        if defined $block->ws;
    $block->set_value('http_config', $main::SITE . ($block->http_config // ''));
    $block->set_value('config', <<'_EOC_' . ($block->config // ''))
    location = /chat { kefu_chat; }
    location /kefu/api/ {
        kefu_api;
        kefu_api_max_body 4k;
        client_body_buffer_size 1k;
    }
_EOC_
        unless ($block->config // '') =~ /kefu_api;/;
});

$Kefu::API::Token = api_token(secret => $S1, site => 'shop1');

sub err_is {
    my ($got, $status, $code, $what) = @_;
    my ($st, $j, $h) = @$got;
    is($st, $status, "$what: $status");
    is(ref $j eq 'HASH' && ref $j->{error} eq 'HASH' ? $j->{error}{code} : undef,
       $code, "$what: error code $code");
    ok(defined $j->{error}{message} && length $j->{error}{message},
       "$what: a message") if ref $j eq 'HASH';
    like($h->{'content-type'} // '', qr{^application/json}, "$what: JSON");
}

run_tests();

__DATA__

=== TEST 1: tokens: missing, malformed, bad signature, expired, wrong role, wrong site
--- ws
my $P = '/kefu/api/sites/shop1/convs';
my $now = int time;
main::err_is([api(GET => $P, undef, token => undef)], 401, 'unauthorized', 'no Authorization');
my ($st, $j, $h) = api(GET => $P, undef, token => undef);
like($h->{'www-authenticate'} // '', qr/^Bearer/, 'WWW-Authenticate: Bearer');
main::err_is([api(GET => $P, undef, token => undef, headers => ['Authorization: Basic Zm9vOmJhcg=='])],
             401, 'unauthorized', 'Basic instead of Bearer');
main::err_is([api(GET => $P, undef, token => 'not.a.jwt.at.all')], 401, 'unauthorized', 'not a JWT');
main::err_is([api(GET => $P, undef, token => api_token(secret => 'wrong-secret-0123456789abcdef', site => 'shop1'))],
             401, 'unauthorized', 'bad signature');
main::err_is([api(GET => $P, undef, token => api_token(secret => $main::S1, site => 'shop1', exp => $now - 3600))],
             401, 'unauthorized', 'expired');
main::err_is([api(GET => $P, undef, token => jwt_hs256({role => 'service', site => 'shop1', sub => 'x'}, $main::S1))],
             401, 'unauthorized', 'no exp');
main::err_is([api(GET => $P, undef, token => api_token(secret => $main::S1, site => 'shop1', role => 'visitor'))],
             403, 'forbidden', 'a visitor token');
main::err_is([api(POST => "$P/1/messages", {cid => 'x', text => 'y'},
                 token => api_token(secret => $main::S1, site => 'shop1', role => 'agent'))],
             403, 'forbidden', 'an agent token writes nothing (it reads what the agent sees: t/032)');
main::err_is([api(GET => $P, undef, token => api_token(secret => $main::S2, site => 'shop2'))],
             403, 'forbidden', "another site's token (its own secret)");
main::err_is([api(GET => $P, undef, token => api_token(secret => $main::S1, site => 'shop3'))],
             403, 'forbidden', 'a token of another site sharing the secret');
($st, $j) = api(GET => $P, undef, token => api_token(secret => $main::S1, site => 'shop1', role => 'admin'));
is($st, 200, 'an admin token is good');
($st, $j) = api(GET => $P);
is($st, 200, 'a service token is good');
is(ref $j->{convs}, 'ARRAY', 'and the answer is JSON');
--- error_log
API request refused: token expired



=== TEST 2: a service token is not a WebSocket credential
--- ws
my ($ws, $r) = kefu_connect(role => 'service', site => 'shop1', token => $Kefu::API::Token);
is($r->{type}, 'error', 'hello with role service: refused');
is($r->{code}, 'unauthorized', 'unauthorized');
($ws, $r) = kefu_connect(role => 'admin', site => 'shop1', token => $Kefu::API::Token);
is($r->{code}, 'unauthorized', 'a service token presented as admin: refused');



=== TEST 3: routes and methods: unknown paths 404, wrong methods 405 with Allow, unknown site 404
--- ws
main::err_is([api(GET => '/kefu/api/nothing')], 404, 'not_found', 'an unknown path');
main::err_is([api(GET => '/kefu/api/sites/shop1/bogus')], 404, 'not_found', 'an unknown collection');
main::err_is([api(GET => '/kefu/api/sites/shop1/convs/1/2/3/4')], 404, 'not_found', 'too deep');
main::err_is([api(GET => '/kefu/api/sites/shop1/convs/a%20b')], 404, 'not_found', 'a malformed id');
main::err_is([api(GET => '/kefu/api/sites/nosuch/convs')], 404, 'not_found', 'an unknown site');
main::err_is([api(DELETE => '/kefu/api/sites/shop1/convs')], 405, 'method_not_allowed', 'DELETE on the list');
my ($st, $j, $h) = api(PUT => '/kefu/api/sites/shop1/convs/1/messages', {});
is($st, 405, 'PUT on messages: 405');
is($h->{allow}, 'GET, POST', 'Allow: GET, POST');
($st, $j, $h) = api(GET => '/kefu/api/sites/shop1/convs/1/events');
is($st, 405, 'GET on events: 405');
is($h->{allow}, 'POST', 'Allow: POST');
main::err_is([api(GET => '/kefu/api/sites/shop1/convs/999999')], 404, 'not_found', 'an unknown conversation');
main::err_is([api(GET => '/kefu/api/sites/shop1/convs/999999/messages')], 404, 'not_found', "an unknown conversation's messages");



=== TEST 4: bodies: content type, malformed JSON, not an object, wrong types
--- ws
my $P = '/kefu/api/sites/shop1/convs/999999/messages';
main::err_is([api(POST => $P, '{"cid":"a","text":"b"}', type => 'text/plain')], 415, 'unsupported_media_type', 'text/plain');
main::err_is([api(POST => $P, '{"cid":"a","text":"b"}', type => undef)], 415, 'unsupported_media_type', 'no content type');
main::err_is([api(POST => $P, '{"cid":"a",', type => 'application/json; charset=utf-8')], 400, 'bad_request', 'malformed JSON');
main::err_is([api(POST => $P, '[1,2]')], 400, 'bad_request', 'an array');
main::err_is([api(POST => $P, '{"cid":"a","cid":"b","text":"x"}')], 400, 'bad_request', 'a duplicate key');
main::err_is([api(POST => $P, '')], 400, 'bad_request', 'an empty body');
main::err_is([api(POST => $P, {cid => 'a'})], 400, 'bad_request', 'no text');
main::err_is([api(POST => $P, {cid => 'a', text => 5})], 400, 'bad_request', 'text not a string');
main::err_is([api(POST => $P, {text => 'hi'})], 400, 'bad_request', 'no cid');
main::err_is([api(POST => $P, {cid => 'x' x 65, text => 'hi'})], 400, 'bad_request', 'cid too long');
main::err_is([api(POST => $P, {cid => 'a', text => 'hi', from => 'bot'})], 400, 'bad_request', 'from not an object');
main::err_is([api(POST => $P, {cid => 'a', text => 'hi', from => {role => 'visitor', id => 'v1'}})], 400, 'bad_request', 'from a visitor');
main::err_is([api(POST => $P, {cid => 'a', text => 'hi', from => {role => 'bot'}})], 400, 'bad_request', 'a bot without id');
main::err_is([api(POST => $P, {cid => 'a', text => 'hi', private => 'yes'})], 400, 'bad_request', 'private not a boolean');
main::err_is([api(POST => $P, {cid => 'a', text => 'x' x 4001})], 413, 'too_large', 'text over kefu_max_text');
my $E = '/kefu/api/sites/shop1/convs/999999/events';
main::err_is([api(POST => $E, {data => {}})], 400, 'bad_request', 'an event without name');
main::err_is([api(POST => $E, {name => 'order paid'})], 400, 'bad_request', 'a bad event name');
main::err_is([api(POST => $E, {name => 'order.paid', data => [1]})], 400, 'bad_request', 'data not an object');
main::err_is([api(POST => $E, {name => 'order.paid', visitor => 1})], 400, 'bad_request', 'visitor not a boolean');
main::err_is([api(POST => $E, {name => 'order.paid', suggested_reply => {}})], 400, 'bad_request', 'suggested_reply not a string');
main::err_is([api(GET => '/kefu/api/sites/shop1/convs?limit=0')], 400, 'bad_request', 'limit 0');
main::err_is([api(GET => '/kefu/api/sites/shop1/convs?limit=abc')], 400, 'bad_request', 'limit not a number');
main::err_is([api(GET => '/kefu/api/sites/shop1/convs?state=gone')], 400, 'bad_request', 'an unknown state');
main::err_is([api(GET => '/kefu/api/sites/shop1/convs?cursor=nonsense')], 400, 'bad_request', 'a made-up cursor');
main::err_is([api(GET => '/kefu/api/sites/shop1/convs/1/messages?before=2&after=1')], 400, 'bad_request', 'before and after');



=== TEST 5: body limits: over kefu_api_max_body by length or chunked is 413; a body spooled to disk is read
--- ws
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1');
$v->send_json({type => 'msg', cid => 'v1', text => 'hello'});
my $conv = $v->recv_type('ack')->{conv};
my $P = "/kefu/api/sites/shop1/convs/$conv/messages";
main::err_is([api(POST => $P, {cid => 'big', text => 'x' x 5000})], 413, 'too_large', 'Content-Length over the limit');
my $big = json_enc({cid => 'big2', text => 'y' x 5000});
my $req = "POST $P HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        . "Authorization: Bearer $Kefu::API::Token\r\nContent-Type: application/json\r\n"
        . "Transfer-Encoding: chunked\r\n\r\n"
        . join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) } unpack('(a1000)*', $big))
        . "0\r\n\r\n";
main::err_is([api_raw($req)], 413, 'too_large', 'a chunked body over the limit');
# 3000 bytes: over client_body_buffer_size (1k), so nginx spools it to a file
my ($st, $j) = api(POST => $P, {cid => 'spooled', text => 'z' x 2900});
is($st, 201, 'a body in a temporary file: stored');
is($j->{seq}, 2, 'as seq 2');
my $m = $v->recv_type('msg');
is(length $m->{text}, 2900, 'the visitor got all of it');
my (undef, $log) = api(GET => $P);
is_deeply([map { $_->{cid} } @{ $log->{msgs} }], ['v1', 'spooled'], 'nothing of the refused bodies was stored');
--- error_log
a client request body is buffered to a temporary file



=== TEST 6: kefu_api_max_body is checked by nginx -t
--- ws
my ($rc, $out) = nginx_t("events {} http { server { location /a/ { kefu_api; kefu_api_max_body 10; } } }");
isnt($rc, 0, 'a tiny limit is refused');
like($out, qr/"kefu_api_max_body" directive value must be between 64 and 16777216/, 'naming the directive');
($rc, $out) = nginx_t("events {} http { server { location /a/ { kefu_api; kefu_api; } } }");
like($out, qr/"kefu_api" directive is duplicate/, 'kefu_api twice');
($rc, $out) = nginx_t("events {} http { server { location /a/ { kefu_chat; kefu_api; } } }");
like($out, qr/"kefu_api" directive cannot share a location with "kefu_chat"/, 'kefu_api with kefu_chat');
($rc, $out) = nginx_t("events {} http { server { location /a/ { kefu_api; kefu_chat; } } }");
like($out, qr/"kefu_chat" directive cannot share a location with "kefu_api"/, 'kefu_chat with kefu_api');
