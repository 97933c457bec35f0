# Tokens a strict verifier refuses (RFC 7515, RFC 7519, contract v2 names):
# "crit" headers, base64url that is not canonical, times that are not
# numbers or out of range, groups and subs that are not names; and the
# clock skew kefu_token_leeway allows.  Times may have fractions, as
# RFC 7519's NumericDate allows.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use MIME::Base64 qw(encode_base64url);

our $S1 = 'shop1-secret-0123456789abcdef';

# hello with a token: the error's message and the close code, or 'welcome'
sub try_token {
    my ($token) = @_;
    my $ws = ws_connect();
    $ws->send_json({type => 'hello', role => 'agent', site => 'shop1', token => $token});
    my $m = $ws->recv_json;
    return 'welcome' if $m->{type} eq 'welcome';
    my ($code) = $ws->recv_close;
    return "$m->{code} $code: $m->{message}";
}

sub ok_claims { {sub => 'a1', role => 'agent', site => 'shop1', exp => time + 60, @_} }

run_tests();

__DATA__

=== TEST 1: header and encoding: crit refused, only canonical base64url
--- http_config
    kefu_site shop1 secret=shop1-secret-0123456789abcdef;
--- config
    location = /chat { kefu_chat; }
--- ws
my $good = jwt_hs256(main::ok_claims(), $main::S1);
is(main::try_token($good), 'welcome', 'the canonical token is accepted');

is(main::try_token(jwt_hs256(main::ok_claims(), $main::S1, header => {crit => ['exp']})),
   'unauthorized 4401: token header has "crit" extensions the server does not understand',
   'a crit header is refused');
is(main::try_token(jwt_hs256(main::ok_claims(), $main::S1, header => {crit => []})),
   'unauthorized 4401: token header has "crit" extensions the server does not understand',
   'even an empty crit');

my ($h, $p, $s) = split /\./, $good;
# a 32-byte signature is 43 characters: one padding "=" in standard base64
is(main::try_token("$h.$p.$s="), 'unauthorized 4401: token signature is invalid',
   'a padded signature is refused');
is(main::try_token("$h.$p.${s}=x"), 'unauthorized 4401: token signature is invalid',
   'bytes after padding are refused');

# the last character of 43 carries 2 unused bits: set one
my %alpha; my $i = 0;
$alpha{$_} = $i++ for ('A'..'Z', 'a'..'z', '0'..'9', '-', '_');
my @chars = ('A'..'Z', 'a'..'z', '0'..'9', '-', '_');
my $last = substr($s, -1);
my $odd = $chars[$alpha{$last} ^ 1];
is(main::try_token($h . '.' . $p . '.' . substr($s, 0, -1) . $odd),
   'unauthorized 4401: token signature is invalid',
   'a signature with non-zero trailing bits is refused (same bytes, other spelling)');

# a header with padding: it decodes to the same JSON
my $hdr = MIME::Base64::encode_base64('{"alg":"HS256","typ":"JWT"} ', '');
$hdr =~ tr{+/}{-_};
like($hdr, qr/=$/, 'the padded header has padding');
my $body = encode_base64url(Kefu::WS::json_enc(main::ok_claims()));
my $sig = encode_base64url(Digest::SHA::hmac_sha256("$hdr.$body", $main::S1));
is(main::try_token("$hdr.$body.$sig"), 'unauthorized 4401: token header is not valid',
   'a padded header is refused although it is signed');
--- no_error_log
[error]



=== TEST 2: times: integers within range; groups and subs are names
--- http_config
    kefu_site shop1 secret=shop1-secret-0123456789abcdef;
--- config
    location = /chat { kefu_chat; }
--- ws
my @cases = (
    ['exp a string', {exp => '' . (time + 60)}, 'token "exp" must be a time in seconds'],
    ['exp past the year 9999', {exp => 99999999999999}, 'token "exp" must be a time in seconds'],
    ['exp negative', {exp => -5}, 'token "exp" must be a time in seconds'],
    ['exp too big for 64 bits', undef, 'token claims are not valid'],
    ['exp a huge real', {exp => 1e300}, 'token "exp" must be a time in seconds'],
    ['exp true', {exp => \1}, 'token "exp" must be a time in seconds'],
    ['nbf a string', {nbf => 'now'}, 'token "nbf" must be a time in seconds'],
    ['sub with a colon', {sub => 'a:1'}, 'token "sub" must be an id of 1-128 characters [A-Za-z0-9._@-]'],
    ['a group that is a number', {groups => ['sales', 7]}, 'token "groups" must be an array of group names (1-128 characters [A-Za-z0-9._@-])'],
    ['a group that is an object', {groups => [{}]}, 'token "groups" must be an array of group names (1-128 characters [A-Za-z0-9._@-])'],
    ['a group with a colon', {groups => ['sales:vip']}, 'token "groups" must be an array of group names (1-128 characters [A-Za-z0-9._@-])'],
    ['an empty group', {groups => ['']}, 'token "groups" must be an array of group names (1-128 characters [A-Za-z0-9._@-])'],
);
for my $c (@cases) {
    my ($what, $extra, $reason) = @$c;
    my $token = $extra
        ? jwt_hs256(main::ok_claims(%$extra), $main::S1)
        : jwt_hs256(undef, $main::S1, raw_payload =>
              '{"sub":"a1","role":"agent","site":"shop1","exp":123456789012345678901234567890}');
    is(main::try_token($token), "unauthorized 4401: $reason", $what);
}
is(main::try_token(jwt_hs256(main::ok_claims(groups => ['sales', 'after-sales.vip@cn']), $main::S1)),
   'welcome', 'groups that are names are accepted');
is(main::try_token(jwt_hs256(main::ok_claims(nbf => int(time) - 5), $main::S1)),
   'welcome', 'an integer nbf in the past is accepted');
is(main::try_token(jwt_hs256(main::ok_claims(exp => int(time) + 60.75, nbf => time - 5.5), $main::S1)),
   'welcome', 'fractions of a second are allowed (RFC 7519 NumericDate)');
--- no_error_log
[error]



=== TEST 3: the default leeway (30s) allows a little clock skew, no more
--- http_config
    kefu_site shop1 secret=shop1-secret-0123456789abcdef;
--- config
    location = /chat { kefu_chat; }
--- ws
is(main::try_token(jwt_hs256(main::ok_claims(exp => time - 10), $main::S1)), 'welcome',
   'expired 10s ago by our clock: accepted');
is(main::try_token(jwt_hs256(main::ok_claims(nbf => time + 10), $main::S1)), 'welcome',
   'valid from 10s on by our clock: accepted');
is(main::try_token(jwt_hs256(main::ok_claims(exp => time - 60), $main::S1)),
   'unauthorized 4401: token expired', 'expired 60s ago: refused');
is(main::try_token(jwt_hs256(main::ok_claims(nbf => time + 60), $main::S1)),
   'unauthorized 4401: token not valid yet', 'valid from 60s on: refused');
--- no_error_log
[error]



=== TEST 4: kefu_token_leeway 0 allows none
--- http_config
    kefu_token_leeway 0;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef;
--- config
    location = /chat { kefu_chat; }
--- ws
is(main::try_token(jwt_hs256(main::ok_claims(exp => time - 2), $main::S1)),
   'unauthorized 4401: token expired', 'expired 2s ago: refused');
is(main::try_token(jwt_hs256(main::ok_claims(nbf => time + 3), $main::S1)),
   'unauthorized 4401: token not valid yet', 'valid from 3s on: refused');
--- no_error_log
[error]



=== TEST 5: nginx -t: kefu_token_leeway is bounded and named
--- config
    location = /chat { kefu_chat; }
--- ws
my ($rc, $out) = nginx_t("events {} http { kefu_token_leeway 10m; kefu_site s1 secret=0123456789abcdef0123; }");
isnt($rc, 0, 'a leeway of 10 minutes is refused');
like($out, qr/"kefu_token_leeway" directive must be at most 5m/, 'naming the directive');
($rc, $out) = nginx_t("events {} http { kefu_token_leeway soon; kefu_site s1 secret=0123456789abcdef0123; }");
isnt($rc, 0, 'a leeway that is not a time is refused');
like($out, qr/"kefu_token_leeway" directive invalid value/, 'naming the directive');
($rc, $out) = nginx_t("events {} http { kefu_token_leeway 2m; kefu_site s1 secret=0123456789abcdef0123; }");
is($rc, 0, 'two minutes are fine') or diag $out;
--- no_error_log
[error]
