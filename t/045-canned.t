# Canned replies (docs/api.md, "Canned replies"): the site's in its
# settings (field "canned", admins), personal ones per agent or admin over
# the HTTP API (create, replace, list, delete), validation errors that name
# the field, who may do what.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::WS qw(jwt_hs256);

our $S = 'shopc-secret-0123456789abcdef';

api_blocks(ready => '/kefu/api/sites/shopc/settings',
    http => "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site shopc secret=$S anonymous=on;\n",
    config => "location = /chat { kefu_chat; }\nlocation /kefu/api/ { kefu_api; }\n");

our $SHOP = site_of_run('shopc');
$Kefu::API::Token = api_token(secret => $S, site => $SHOP, role => 'admin', sub => 'boss');

sub agent_token {
    jwt_hs256({sub => $_[0], role => 'agent', site => $main::SHOP, exp => time + 600, groups => ['g1']}, $main::S);
}

# a 400 naming the field
sub bad {
    my ($method, $path, $body, $field, $what, %o) = @_;
    my ($st, $j) = api($method => $path, $body, %o);
    is($st, 400, "$what: 400");
    is($j->{error}{field}, $field, "$what: names $field");
    like($j->{error}{message} // '', qr/^\Q$field\E: /, "$what: the message starts with the field");
}

run_tests();

__DATA__

=== TEST 1: the site's canned replies live in the settings; bad ones name the field
--- ws
use utf8;
my $site = [
    {key => 'hello', title => {zh => '问候', en => 'Greeting'},
     text => {zh => '您好 {{visitor.name|朋友}}，我是{{agent.name}}。', en => 'Hi {{visitor.name|there}}, {{agent.name}} here.'}},
    {key => 'order', text => 'Your order {{attrs.order_id|(no number)}} is on its way.'},
];
my ($st, $j) = api(PUT => "/kefu/api/sites/$main::SHOP/settings", {canned => $site});
is($st, 200, 'PUT settings with canned: 200');
is_deeply($j->{settings}{canned}, $site, 'the effective settings have them');
($st, $j) = api(GET => "/kefu/api/sites/$main::SHOP/canned", undef, token => main::agent_token('ann'));
is($st, 200, 'an agent reads the canned replies: 200');
is_deeply($j->{site}, $site, "the site's, as stored");
is_deeply($j->{personal}, [], 'no personal ones yet');
my $svc = api_token(secret => $main::S, site => $main::SHOP, role => 'service');
($st, $j) = api(GET => "/kefu/api/sites/$main::SHOP/canned", undef, token => $svc);
is_deeply($j->{site}, $site, 'a service reads them too');
my $P = "/kefu/api/sites/$main::SHOP/settings";
main::bad(PUT => $P, {canned => {}}, 'canned', 'not a list');
main::bad(PUT => $P, {canned => [{key => 'a b', text => 'x'}]}, 'canned[0].key', 'a key with a space');
main::bad(PUT => $P, {canned => [{text => 'x'}]}, 'canned[0].key', 'no key');
main::bad(PUT => $P, {canned => [{key => 'a', text => 'x'}, {key => 'a', text => 'y'}]}, 'canned[1].key', 'a key twice');
main::bad(PUT => $P, {canned => [{key => 'a'}]}, 'canned[0].text', 'no text');
main::bad(PUT => $P, {canned => [{key => 'a', text => ''}]}, 'canned[0].text', 'an empty text');
main::bad(PUT => $P, {canned => [{key => 'a', text => {zh => 'x' x 2001}}]}, 'canned[0].text.zh', 'a text over 2000 bytes');
main::bad(PUT => $P, {canned => [{key => 'a', text => {fr => 'bonjour'}}]}, 'canned[0].text', 'a language other than zh and en');
main::bad(PUT => $P, {canned => [{key => 'a', text => {en => 5}}]}, 'canned[0].text.en', 'a number');
main::bad(PUT => $P, {canned => [{key => 'a', text => 'x', title => 'y' x 101}]}, 'canned[0].title', 'a title over 100 bytes');
main::bad(PUT => $P, {canned => [{key => 'a', text => 'x', color => 'red'}]}, 'canned[0].color', 'an unknown field');
main::bad(PUT => $P, {canned => [map { {key => "k$_", text => 'x'} } 1 .. 501]}, 'canned', 'over 500');
($st, $j) = api(GET => "/kefu/api/sites/$main::SHOP/settings");
is_deeply($j->{settings}{canned}, $site, 'nothing bad was stored');



=== TEST 2: personal canned replies: create, replace, list, delete, each agent its own
--- ws
use utf8;
my $ann = main::agent_token('ann');
my $bob = main::agent_token('bob');
my $C = "/kefu/api/sites/$main::SHOP/canned";
my ($st, $j) = api(PUT => "$C/thanks", {text => {zh => '谢谢您，{{visitor.name|亲}}！', en => 'Thank you, {{visitor.name|friend}}!'}}, token => $ann);
is($st, 201, 'created: 201');
is($j->{key}, 'thanks', 'the key from the URL');
is($j->{text}{zh}, '谢谢您，{{visitor.name|亲}}！', 'the text as given');
ok($j->{updated} > 0, 'when it was written');
($st, $j) = api(PUT => "$C/bye", {text => 'Bye!', title => 'Goodbye'}, token => $ann);
is($st, 201, 'another: 201');
($st, $j) = api(PUT => "$C/thanks", {text => 'Thanks a lot!', key => 'thanks'}, token => $ann);
is($st, 200, 'replaced: 200');
($st, $j) = api(GET => $C, undef, token => $ann);
is_deeply([map { $_->{key} } @{ $j->{personal} }], ['bye', 'thanks'], "ann's, by key");
is($j->{personal}[1]{text}, 'Thanks a lot!', 'the replaced text');
($st, $j) = api(GET => $C, undef, token => $bob);
is_deeply($j->{personal}, [], "bob does not see ann's");
($st, $j) = api(DELETE => "$C/thanks", undef, token => $bob);
is($st, 404, "bob cannot delete ann's: 404");
($st, $j) = api(DELETE => "$C/thanks", undef, token => $ann);
is($st, 200, 'deleted: 200');
ok($j->{deleted}, 'deleted: true');
($st, $j) = api(DELETE => "$C/thanks", undef, token => $ann);
is($st, 404, 'again: 404');
is($j->{error}{code}, 'not_found', 'not_found');
($st, $j) = api(GET => $C, undef, token => $ann);
is_deeply([map { $_->{key} } @{ $j->{personal} }], ['bye'], 'one left');
is(redis('HLEN', "kefu:{s:$main::SHOP}:a:ann:canned"), 1, 'stored per agent');
# an admin has its own
($st, $j) = api(PUT => "$C/sig", {text => 'The shop team'});
is($st, 201, "an admin's own: 201");
is(redis('HLEN', "kefu:{s:$main::SHOP}:m:boss:canned"), 1, 'stored per admin');
# validation names the field
main::bad(PUT => "$C/x", {}, 'text', 'no text', token => $ann);
main::bad(PUT => "$C/x", {text => ''}, 'text', 'an empty text', token => $ann);
main::bad(PUT => "$C/x", {text => {en => 'e' x 2001}}, 'text.en', 'over 2000 bytes', token => $ann);
main::bad(PUT => "$C/x", {text => 'x', title => {de => 'Titel'}}, 'title', 'a title in another language', token => $ann);
main::bad(PUT => "$C/x", {text => 'x', key => 'y'}, 'key', 'a key other than the URL', token => $ann);
main::bad(PUT => "$C/x", {text => 'x', when => 1}, 'when', 'an unknown field', token => $ann);
main::bad(PUT => "$C/" . ('k' x 65), {text => 'x'}, 'key', 'a key over 64', token => $ann);
($st, $j) = api(PUT => "$C/x", '{"text":', token => $ann);
is($st, 400, 'malformed JSON: 400');
($st, $j) = api(PUT => "$C/x", {text => 'x'}, token => api_token(secret => $main::S, site => $main::SHOP, role => 'service'));
is($st, 403, 'a service has no personal replies: 403');
($st, $j) = api(POST => "$C/x", {text => 'x'}, token => $ann);
is($st, 405, 'POST: 405');
($st, $j) = api(PUT => $C, {text => 'x'}, token => $ann);
is($st, 405, 'PUT on the list: 405');
($st, $j) = api(GET => $C, undef, token => jwt_hs256({sub => 'v1', role => 'visitor', site => $main::SHOP, exp => time + 60}, $main::S));
is($st, 403, 'a visitor token: 403');
# at most 200 each
redis('DEL', "kefu:{s:$main::SHOP}:a:cap:canned");
redis('HSET', "kefu:{s:$main::SHOP}:a:cap:canned", map { ("k$_", '{"key":"k' . $_ . '","text":"x"}') } 1 .. 200);
($st, $j) = api(PUT => "$C/one-more", {text => 'x'}, token => main::agent_token('cap'));
is($st, 409, 'the 201st: 409');
($st, $j) = api(PUT => "$C/k7", {text => 'y'}, token => main::agent_token('cap'));
is($st, 200, 'replacing one of the 200: 200');
