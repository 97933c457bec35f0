# Token revocation: the HTTP API puts a token's jti, or a subject, on the
# site's denylist; every worker of every host closes the live sessions
# that used such a token (4401 "token revoked") and refuses new hellos,
# API calls and uploads with it; entries expire with the tokens.  Two
# nginx hosts share one Redis.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::Route;
use Kefu::Upload;
use File::Temp qw(tempdir);

our $S1 = 'shop1-secret-0123456789abcdef';

BEGIN { $ENV{TEST_NGINX_UPLOAD_DIR} = tempdir('kefu-uploads.XXXXXX', TMPDIR => 1, CLEANUP => 1) }

our $SITE = <<'_EOC_';
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on default_group=am;
    kefu_upload_path $TEST_NGINX_UPLOAD_DIR;
_EOC_

api_blocks(http => $main::SITE, ready => '/kefu/api/sites/shop1/convs', config => <<'_EOC_');
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
    location /files/ { kefu_upload; }
_EOC_

$Kefu::API::Token = api_token(secret => $S1, site => 'shop1');
$Kefu::Upload::Path = '/files/';

# a second nginx host on the same Redis
sub host2 {
    return start_host(<<"_EOC_", "location /kefu/api/ { kefu_api; }");
    kefu_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};
    kefu_site shop1 secret=$main::S1 anonymous=on default_group=am;
_EOC_
}

# a hello with this token: (first answer, close code, reason).  Another
# worker of the host hears the notice a moment after the one that closed
# the session: a hello it welcomed is tried again, for up to 5 s.
sub refused {
    my ($token, %o) = @_;
    my $deadline = time + 5;
    while (1) {
        my ($ws, $m) = kefu_connect(role => $o{role} // 'agent', site => 'shop1', token => $token,
                                    ($o{port} ? (port => $o{port}) : ()));
        if (($m->{type} // '') eq 'welcome' && time < $deadline) {
            $ws->close_ws(1000, 'again');
            sleep 0.05;
            next;
        }
        my ($code, $reason) = $ws->recv_close(10);
        return ($m, $code, $reason);
    }
}

# the connection is still open: a ping is answered, and nothing closed it before
sub still_open {
    my ($ws) = @_;
    my @before = eval { $ws->until_pong };
    return !$@ && !grep { ref $_ eq 'HASH' && $_->{_close} } @before;
}

run_tests();

__DATA__

=== TEST 1: by jti: the session that used the token is closed on the other host, its other tokens' sessions stay, the token is refused on both hosts
--- ws
my ($port2, $stop) = main::host2();
my $ok = eval {
    my $g = uniq_group('rj');
    my $sub = "rj-$g";
    my $t1 = agent_token($sub, groups => [$g], jti => "tok-1-$g");
    my $t2 = agent_token($sub, groups => [$g], jti => "tok-2-$g");
    my ($a1, $w1) = kefu_connect(port => $port2, role => 'agent', site => 'shop1', token => $t1);
    is($w1->{type}, 'welcome', 'an agent on host 2 with token 1');
    my ($a2, $w2) = kefu_connect(port => $port2, role => 'agent', site => 'shop1', token => $t2);
    is($w2->{type}, 'welcome', 'the same agent with token 2');
    my ($a3, $w3) = kefu_connect(role => 'agent', site => 'shop1', token => $t1);
    is($w3->{type}, 'welcome', 'and with token 1 on host 1 too');

    my $exp = int(time) + 600;
    my ($st, $j) = api(POST => '/kefu/api/sites/shop1/revocations', {jti => "tok-1-$g", exp => $exp});
    is($st, 200, 'revoked on host 1: 200');
    is($j->{jti}, "tok-1-$g", 'the jti');
    is($j->{until}, $exp * 1000 + 30000, 'until the token\'s exp (plus the clock leeway), in ms');

    for ([$a1, 'host 2'], [$a3, 'host 1']) {
        my ($ws, $where) = @$_;
        my $e = $ws->recv_type('error', 10);
        is($e && $e->{code}, 'unauthorized', "the session on $where is told: unauthorized");
        my ($code, $reason) = $ws->recv_close(10);
        is($code, 4401, "and closed with 4401");
        is($reason, 'token revoked', 'reason: token revoked');
    }
    ok(main::still_open($a2), 'the session of token 2 stays');

    for my $port (undef, $port2) {
        my ($m, $code) = main::refused($t1, port => $port);
        is($m->{message}, 'token revoked', 'a new hello with token 1 is refused on host ' . ($port ? 2 : 1));
        is($code, 4401, 'with 4401');
    }
    my ($a4, $w4) = kefu_connect(port => $port2, role => 'agent', site => 'shop1', token => $t2);
    is($w4->{type}, 'welcome', 'token 2 still works');

    ($st, $j) = api(GET => '/kefu/api/sites/shop1/revocations', undef, port => $port2);
    is($st, 200, 'the list, from host 2');
    ok((grep { ($_->{jti} // '') eq "tok-1-$g" && $_->{until} == $exp * 1000 + 30000 } @{ $j->{revocations} }), 'holds the entry');
    my $ttl = redis('PTTL', 'kefu:{s:shop1}:revoked');
    ok($ttl > 0 && $ttl <= 366 * 86400 * 1000 + 60000, 'the denylist key expires with its last entry');
    1;
};
$stop->();
die $@ unless $ok;



=== TEST 2: by sub: every session of the subject is closed, its tokens are refused by hello, the API and uploads; others go on
--- ws
my ($port2, $stop) = main::host2();
my $ok = eval {
    my $g = uniq_group('rs');
    my ($v1, $w1) = kefu_connect(role => 'visitor', site => 'shop1',
                                 token => agent_token("cust-$g", role => 'visitor'));
    is($w1->{type}, 'welcome', 'a signed-in visitor on host 1');
    my ($v2, $w2) = kefu_connect(port => $port2, role => 'visitor', site => 'shop1',
                                 token => agent_token("cust-$g", role => 'visitor'));
    is($w2->{type}, 'welcome', 'and on host 2');
    my ($o, $ow) = kefu_connect(port => $port2, role => 'visitor', site => 'shop1',
                                token => agent_token("other-$g", role => 'visitor'));
    is($ow->{type}, 'welcome', 'another visitor');
    my $svc = api_token(secret => $main::S1, site => 'shop1', sub => "erp-$g");
    my ($st) = api(GET => '/kefu/api/sites/shop1/agents', undef, token => $svc);
    is($st, 200, 'a service token works');

    my $j;
    ($st, $j) = api(POST => '/kefu/api/sites/shop1/revocations', {sub => "cust-$g"}, port => $port2);
    is($st, 200, 'the subject revoked (on host 2)');
    ok($j->{until} > (time + 365 * 86400) * 1000, 'without exp: for the longest a token may live');
    for ([$v1, 'host 1'], [$v2, 'host 2']) {
        my ($code, $reason) = $_->[0]->recv_close(10);
        is($code, 4401, "the visitor's session on $_->[1] is closed with 4401");
        is($reason, 'token revoked', 'token revoked');
    }
    ok(main::still_open($o), 'the other visitor stays');

    my ($m, $code) = main::refused(agent_token("cust-$g", role => 'visitor'), role => 'visitor');
    is($m->{message}, 'token revoked', 'a fresh token of the subject is refused');
    ($st, $j) = upload(token => agent_token("cust-$g", role => 'visitor'), name => 'a.txt', data => txt());
    is($st, 401, 'and so is its upload');
    is($j->{error}{message}, 'token revoked', 'token revoked');

    ($st) = api(POST => '/kefu/api/sites/shop1/revocations', {sub => "erp-$g", exp => time + 60});
    is($st, 200, 'the service subject revoked');
    ($st, $j, my $h) = api(GET => '/kefu/api/sites/shop1/agents', undef, token => $svc);
    is($st, 401, 'its API calls are refused: 401');
    is($j->{error}{message}, 'token revoked', 'token revoked');
    like($h->{'www-authenticate'}, qr/^Bearer/, 'with the Bearer challenge');
    1;
};
$stop->();
die $@ unless $ok;



=== TEST 3: an entry written while the workers did not hear it (a lost notice) is found by the periodic read, which closes the session
--- ws
my $g = uniq_group('rp');
my ($a, $w) = kefu_connect(role => 'agent', site => 'shop1', token => agent_token("rp-$g", groups => [$g]));
is($w->{type}, 'welcome', 'an agent');
redis('ZADD', 'kefu:{s:shop1}:revoked', int(time * 1000) + 60000, "s:rp-$g");
# every worker reads the whole list again every 10 s
my ($code, $reason) = $a->recv_close(25);
is($code, 4401, 'closed with 4401 by the next read of the list');
is($reason, 'token revoked', 'token revoked');



=== TEST 4: expired entries do not refuse anything; bad requests and roles
--- ws
my $g = uniq_group('rx');
my ($st, $j) = api(POST => '/kefu/api/sites/shop1/revocations', {sub => "rx-$g", exp => time - 3600});
is($st, 200, 'a subject whose tokens expired an hour ago');
my ($a, $w) = kefu_connect(role => 'agent', site => 'shop1', token => agent_token("rx-$g", groups => [$g]));
is($w->{type}, 'welcome', 'its new tokens work: the entry expired with the old ones');
($st, $j) = api(GET => '/kefu/api/sites/shop1/revocations');
ok(!(grep { ($_->{sub} // '') eq "rx-$g" } @{ $j->{revocations} }), 'the list does not show it');

for (
    [{}, 'neither'],
    [{jti => 'a', sub => 'b'}, 'both'],
    [{jti => ''}, 'an empty jti'],
    [{jti => 'x' x 129}, 'a jti of 129 bytes'],
    [{jti => 'a b'}, 'a jti with a space'],
    [{jti => 5}, 'a number'],
    [{sub => 'a/b'}, 'a sub that is no id'],
    [{jti => 'j1', exp => 'soon'}, 'exp not a number'],
    [{jti => 'j1', exp => time + 400 * 86400}, 'exp beyond 366 days'],
) {
    ($st, $j) = api(POST => '/kefu/api/sites/shop1/revocations', $_->[0]);
    is($st, 400, "$_->[1]: 400");
    is($j->{error}{code}, 'bad_request', 'bad_request');
}
($st, $j) = api(POST => '/kefu/api/sites/shop1/revocations', {jti => 'j1'},
                token => agent_token("rx-$g"));
is($st, 403, 'an agent token: 403');
($st, $j) = api(GET => '/kefu/api/sites/shop1/revocations', undef,
                token => agent_token("rx-$g"));
is($st, 403, 'an agent token reading the denylist: 403');
is($j->{error}{code}, 'forbidden', 'forbidden');
($st, $j) = api(POST => '/kefu/api/sites/shop1/revocations', {jti => 'j1'},
                token => agent_token("rx-$g", role => 'visitor'));
is($st, 403, 'a visitor token: 403');
($st, $j) = api(POST => '/kefu/api/sites/shop1/revocations', {jti => 'j1'}, token => undef);
is($st, 401, 'no token: 401');
($st, $j, my $h) = api(DELETE => '/kefu/api/sites/shop1/revocations');
is($st, 405, 'DELETE: 405');
is($h->{allow}, 'GET, POST', 'Allow: GET, POST');

# a token whose jti cannot be revoked is refused
my ($m) = main::refused(agent_token("rx-$g", jti => 'y' x 129));
like($m->{message}, qr/"jti" must be a string of 1-128 bytes/, 'a token with a jti of 129 bytes is refused');
($m) = main::refused(agent_token("rx-$g", jti => 7));
like($m->{message}, qr/"jti" must be a string/, 'and one whose jti is a number');
