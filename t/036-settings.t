# Site settings (docs/api.md, "Site settings"): read and written over the
# HTTP API and by admins over WebSocket, validation naming the field, the
# defaults of kefu_site settings=, a change seen on another host within a
# round trip; business hours in the site's time zone with dated
# exceptions; the greeting as a new conversation's first entry.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::Route;
use Kefu::WS qw(kefu_connect);
use POSIX qw(strftime);
use File::Temp ();

our $S = 'set-secret-0123456789abcdef';

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site set1 secret=$S anonymous=on;\n" . ($block->http_config // ''));
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=100; }\n"
        . "location /kefu/api/ { kefu_api; }\n");
    $block->set_value('ws', "api_ready('/kefu/api/sites/set1/settings') or die 'Redis not ready'; " . $block->ws)
        if defined $block->ws;
});

$Kefu::API::Token = api_token(secret => $S, site => 'set1', role => 'admin', sub => 'boss');

# the date in Shanghai (UTC+8 all year) $d days from now
sub sh_date { strftime('%Y-%m-%d', gmtime(time + 8 * 3600 + $_[0] * 86400)) }

sub bad {
    my ($doc, $field, $what) = @_;
    my ($st, $j) = api(PUT => '/kefu/api/sites/set1/settings', $doc);
    is($st, 400, "$what: 400");
    is($j->{error}{field}, $field, "$what: names $field");
    like($j->{error}{message}, qr/^\Q$field\E: /, "$what: the message starts with the field");
}

run_tests();

__DATA__

=== TEST 1: the API reads and writes the settings; bad documents name the field; tokens
--- ws
redis('DEL', 'kefu:{s:set1}:settings');
my ($st, $j) = api(GET => '/kefu/api/sites/set1/settings');
is($st, 200, 'GET: 200');
is($j->{version}, 0, 'nothing stored yet: version 0');
ok(!defined $j->{stored}, 'stored: null');
is($j->{settings}{hours}, undef, 'no hours: always open');
like($j->{settings}{texts}{en}{offline}, qr/\S/, 'a built-in offline text');
is($j->{settings}{widget}{color}, '#1677ff', 'the built-in colour');
my $doc = {
    hours => {timezone => 'Asia/Shanghai',
              weekly => {mon => ['09:00-12:00', '13:00-18:00'], sat => ['10:00-16:00']},
              exceptions => [{date => '2026-10-01', hours => []}]},
    texts => {zh => {welcome => '欢迎光临', offline => '请留言'}, en => {welcome => 'Welcome'}},
    groups => [{name => 'presales', label => {zh => '售前', en => 'Pre-sales'}}],
    widget => {color => '#e4393c', title => {en => 'Shop help'}, hide_outside_hours => JSON::PP::true()},
    contact => {ask => JSON::PP::true(), required => JSON::PP::true()},
};
($st, $j) = api(PUT => '/kefu/api/sites/set1/settings', $doc);
is($st, 200, 'PUT: 200');
is($j->{version}, 1, 'version 1');
is($j->{settings}{texts}{zh}{welcome}, '欢迎光临', 'the stored text');
like($j->{settings}{texts}{en}{offline}, qr/\S/, 'texts merge per language: the built-in en.offline stays');
is($j->{stored}{widget}{color}, '#e4393c', 'stored as given');
($st, $j) = api(GET => '/kefu/api/sites/set1/settings');
is($j->{version}, 1, 'read back: version 1');
is($j->{settings}{groups}[0]{label}{zh}, '售前', 'read back: group labels');
is(redis('HGET', 'kefu:{s:set1}:settings', 'by'), 'm:boss', 'who changed it is kept');
my $ev = redis('XREVRANGE', 'kefu:{s:set1}:events', '+', '-', 'COUNT', 1);
is({@{ $ev->[0][1] }}->{event}, 'settings.changed', 'settings.changed is on the event stream');

main::bad({hours => {timezone => 'Mars/Olympus'}}, 'hours.timezone', 'an unknown time zone');
main::bad({hours => {timezone => '../../etc/passwd'}}, 'hours.timezone', 'a path');
main::bad({hours => {timezone => 'UTC', weekly => {mon => ['18:00-09:00']}}}, 'hours.weekly.mon', 'an interval ending before it starts');
main::bad({hours => {timezone => 'UTC', weekly => {funday => []}}}, 'hours.weekly.funday', 'not a day');
main::bad({hours => {timezone => 'UTC', exceptions => [{date => '2026-13-01', hours => []}]}}, 'hours.exceptions[0]', 'a bad date');
main::bad({texts => {zh => {welcome => 42}}}, 'texts.zh', 'a text that is not a string');
main::bad({groups => [{name => 'ok'}, {name => 'bad name!'}]}, 'groups[1]', 'a bad group name');
main::bad({widget => {color => 'red'}}, 'widget.color', 'a colour that is not #rrggbb');
main::bad({contact => {required => 'yes'}}, 'contact.required', 'not a boolean');
main::bad({rules => 'all'}, 'rules', 'rules not an array (they are settings now: t/101-bot-rules.t)');
main::bad({colour => 1}, 'colour', 'an unknown field');
($st, $j) = api(PUT => '/kefu/api/sites/set1/settings', {texts => {}},
                token => api_token(secret => $main::S, site => 'set1'));
is($st, 403, 'a service token cannot write');
($st) = api(GET => '/kefu/api/sites/set1/settings', undef,
            token => api_token(secret => $main::S, site => 'set1'));
is($st, 200, 'but it can read');
($st, $j) = api(DELETE => '/kefu/api/sites/set1/settings');
is($st, 405, 'DELETE: 405');
is((api(GET => '/kefu/api/sites/set1/settings'))[1]{version}, 1, 'nothing bad was stored');



=== TEST 2: admins edit over WebSocket, agents read, visitors get availability and the public part
--- ws
api(PUT => '/kefu/api/sites/set1/settings', {});
my ($adm, $aw) = kefu_connect(role => 'admin', site => 'set1',
    token => agent_token('boss', role => 'admin', site => 'set1', secret => $main::S));
$adm->send_json({type => 'settings', cid => 's0'});
my $s = wait_for($adm, sub { $_[0]{type} eq 'settings' });
ok(defined $s->{version}, 'an admin reads the settings');
my $v0 = $s->{version};
$adm->send_json({type => 'settings', cid => 's1', settings => {widget => {color => 'blue'}}});
my $e = wait_for($adm, sub { $_[0]{type} eq 'error' });
is($e->{code}, 'bad_request', 'a bad document: bad_request');
is($e->{field}, 'widget.color', 'naming the field');
is($e->{cid}, 's1', 'with the cid');
my ($v, $vw) = kefu_connect(role => 'visitor', site => 'set1', lang => 'en');
is($vw->{availability}{open}, JSON::PP::true(), 'welcome: open (no hours)');
like($vw->{availability}{offline}, qr/\S/, 'welcome: the offline text');
is($vw->{settings}{widget}{color}, '#1677ff', 'welcome: the widget settings');
$adm->send_json({type => 'settings', cid => 's2', settings => {widget => {color => '#00aa55'},
    texts => {en => {welcome => 'Hello from the shop', offline => 'Leave us a note'}}}});
$s = wait_for($adm, sub { $_[0]{type} eq 'settings' });
is($s->{version}, $v0 + 1, 'stored: the next version');
is($s->{settings}{widget}{color}, '#00aa55', 'the answer has the effective settings');
my $a = wait_for($v, sub { $_[0]{type} eq 'availability' });
ok($a, 'the visitor is told at once');
is($a->{offline}, 'Leave us a note', 'with the new text');
is($a->{settings}{widget}{color}, '#00aa55', 'and the new colour');
my ($ag) = kefu_connect(role => 'agent', site => 'set1',
    token => agent_token('reader', site => 'set1', secret => $main::S, groups => ['default']));
$ag->send_json({type => 'settings', cid => 'r1'});
is(wait_for($ag, sub { $_[0]{type} eq 'settings' })->{settings}{widget}{color}, '#00aa55', 'an agent reads them');
$ag->send_json({type => 'settings', cid => 'r2', settings => {}});
is(wait_for($ag, sub { $_[0]{type} eq 'error' })->{code}, 'forbidden', 'but cannot write');
$v->send_json({type => 'settings', cid => 'v1'});
is(wait_for($v, sub { $_[0]{type} eq 'error' })->{code}, 'forbidden', 'visitors cannot read them');
# the greeting opens a new conversation, once the visitor writes
$v->send_json({type => 'msg', cid => 'm1', text => 'hi'});
my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' });
is($ack->{seq}, 2, "the visitor's first message is the second entry");
my $g = wait_for($v, sub { $_[0]{type} eq 'msg' && $_[0]{seq} == 1 });
is($g->{text}, 'Hello from the shop', 'the first is the greeting, in the visitor\'s language');
is($g->{event}, 'greeting', '... marked as such');
redis('DEL', 'kefu:{s:set1}:settings');
--- timeout: 30



=== TEST 3: business hours in the site's time zone with dated exceptions; a change reaches another host
--- ws
my ($port2, $stop2) = start_host("kefu_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};\n"
    . "kefu_site set1 secret=$main::S anonymous=on;\n");
redis('DEL', 'kefu:{s:set1}:settings');
my $all = ['00:00-24:00'];
my %week = map { $_ => $all } qw(mon tue wed thu fri sat sun);
my ($st) = api(PUT => '/kefu/api/sites/set1/settings', {hours => {timezone => 'Asia/Shanghai', weekly => \%week}});
is($st, 200, 'open all week');
my ($v, $vw);
for (1 .. 50) {
    ($v, $vw) = kefu_connect(port => $port2, role => 'visitor', site => 'set1');
    last if $vw->{availability};
    select undef, undef, undef, 0.1;
}
is($vw->{availability}{open}, JSON::PP::true(), 'the other host: open');
($st) = api(PUT => '/kefu/api/sites/set1/settings', {hours => {timezone => 'Asia/Shanghai', weekly => \%week,
    exceptions => [map { {date => main::sh_date($_), hours => []} } -1, 0, 1]}});
is($st, 200, 'today (in Shanghai) is a holiday');
my $a = wait_for($v, sub { $_[0]{type} eq 'availability' });
is($a->{open}, JSON::PP::false(), 'the visitor on the other host is told: closed');
($st) = api(PUT => '/kefu/api/sites/set1/settings', {hours => {timezone => 'Asia/Shanghai', weekly => {},
    exceptions => [map { {date => main::sh_date($_), hours => ['00:00-24:00']} } -1, 0, 1]}});
$a = wait_for($v, sub { $_[0]{type} eq 'availability' });
is($a->{open}, JSON::PP::true(), 'closed every week but open by exception today: open');
# the hour matters: now in Shanghai, an interval around it and one before it
my @t = gmtime(time + 8 * 3600);
my $m = $t[2] * 60 + $t[1];
if ($m >= 5 && $m <= 24 * 60 - 10) {
    my $hm = sub { sprintf '%02d:%02d', int($_[0] / 60), $_[0] % 60 };
    api(PUT => '/kefu/api/sites/set1/settings', {hours => {timezone => 'Asia/Shanghai',
        exceptions => [map { {date => main::sh_date($_), hours => [$hm->(0) . '-' . $hm->($m - 2)]} } -1, 0, 1]}});
    $a = wait_for($v, sub { $_[0]{type} eq 'availability' });
    is($a->{open}, JSON::PP::false(), 'an interval that ended two minutes ago (Shanghai time): closed');
    api(PUT => '/kefu/api/sites/set1/settings', {hours => {timezone => 'Asia/Shanghai',
        exceptions => [map { {date => main::sh_date($_), hours => [$hm->($m - 2) . '-' . $hm->($m + 5)]} } -1, 0, 1]}});
    $a = wait_for($v, sub { $_[0]{type} eq 'availability' });
    is($a->{open}, JSON::PP::true(), 'an interval around now (Shanghai time): open');
} else {
    pass('near midnight in Shanghai: the hour checks need room') for 1 .. 2;
}
redis('DEL', 'kefu:{s:set1}:settings');
$stop2->();
--- timeout: 40



=== TEST 4: kefu_site settings= gives the defaults, checked by nginx -t
--- ws
my $dir = File::Temp::tempdir(CLEANUP => 1);
my $conf = sub { "events {}\nhttp { kefu_site x secret=0123456789abcdef0123 settings=$dir/$_[0]; }\n" };
open my $f, '>', "$dir/bad.json"; print $f '{"widget": {"color": "nope"}}'; close $f;
my ($rc, $out) = nginx_t($conf->('bad.json'));
isnt($rc, 0, 'a bad settings file fails nginx -t');
like($out, qr/widget\.color/, 'naming the field');
open $f, '>', "$dir/broken.json"; print $f '{"widget": '; close $f;
($rc, $out) = nginx_t($conf->('broken.json'));
isnt($rc, 0, 'malformed JSON fails too');
like($out, qr/broken\.json/, '... naming the file');
open $f, '>', "$dir/good.json"; print $f '{"hours": {"timezone": "Europe/Berlin", "weekly": {"mon": ["09:00-17:00"]}}}'; close $f;
($rc, $out) = nginx_t($conf->('good.json'));
is($rc, 0, 'a good one passes') or diag $out;



=== TEST 5: time zones with daylight saving and west of UTC, read from the system's TZif files
--- ws
use POSIX ();
my ($v, $vw) = kefu_connect(role => 'visitor', site => 'set1');
for my $tz ('Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe') {
    local $ENV{TZ} = $tz;
    POSIX::tzset();
    my @t = localtime(time);
    my $m = $t[2] * 60 + $t[1];
    my $date = sub { POSIX::strftime('%Y-%m-%d', localtime(time + $_[0] * 86400)) };
    my $hm = sub { sprintf '%02d:%02d', int($_[0] / 60), $_[0] % 60 };
    if ($m < 5 || $m > 24 * 60 - 10) {
        pass("$tz: near midnight, no room for the check") for 1 .. 2;
        next;
    }
    my $days = sub { [map { {date => $date->($_), hours => [$_[0]]} } -1, 0, 1] };
    my ($st) = api(PUT => '/kefu/api/sites/set1/settings',
                   {hours => {timezone => $tz, exceptions => $days->($hm->($m - 3) . '-' . $hm->($m + 6))}});
    my $a = wait_for($v, sub { $_[0]{type} eq 'availability' });
    is($a->{open}, JSON::PP::true(), "$tz: an interval around the local time now: open");
    api(PUT => '/kefu/api/sites/set1/settings',
        {hours => {timezone => $tz, exceptions => $days->($hm->(0) . '-' . $hm->($m - 2))}});
    $a = wait_for($v, sub { $_[0]{type} eq 'availability' });
    is($a->{open}, JSON::PP::false(), "$tz: one that ended two minutes ago: closed");
}
delete $ENV{TZ};
POSIX::tzset();
api(PUT => '/kefu/api/sites/set1/settings', {});
--- timeout: 30



=== TEST 6: a settings document up to 256 KB is taken with kefu_api_max_body at its default; other bodies keep that bound
--- ws
my @faq = map { {id => "q$_", question => "question $_", answer => ('a' x 2500)} } 1 .. 60;
my ($st, $j) = api(PUT => '/kefu/api/sites/set1/settings', {faq => \@faq});
is($st, 200, 'a 150 KB document (over the 64k default): 200');
is(scalar @{ $j->{stored}{faq} }, 60, 'all of it stored');
($st, $j) = api(POST => '/kefu/api/sites/set1/faq/try', {text => 'question 7', faq => \@faq});
is($st, 200, 'faq/try with the same unsaved FAQ: 200');
my @big = map { {id => "q$_", question => "question $_", answer => ('b' x 3900)} } 1 .. 70;
($st, $j) = api(PUT => '/kefu/api/sites/set1/settings', {faq => \@big});
is($st, 413, 'a document over 256 KB: 413');
is($j->{error}{code}, 'too_large', 'too_large');
like($j->{error}{message}, qr/settings document is over 256 KB/, 'saying which bound');
is(scalar @{ (api(GET => '/kefu/api/sites/set1/settings'))[1]{stored}{faq} }, 60,
   'the stored document is unchanged');
($st, $j) = api(POST => '/kefu/api/sites/set1/visitors/v1/messages', {cid => 'big', text => 'x' x 70000});
is($st, 413, 'a message body over kefu_api_max_body is still 413');
like($j->{error}{message}, qr/kefu_api_max_body/, 'naming the directive');
redis('DEL', 'kefu:{s:set1}:settings');
--- timeout: 30
