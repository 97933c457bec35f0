# scripts/demo as a newcomer uses it: it starts, and everything it prints
# works.  The agent and admin sign-in links carry tokens the chat accepts;
# the signed-in customer's chat page opens a conversation routed to Alice;
# the printed curl, run as printed, posts an order.paid business event that
# reaches Alice's console and the customer; the status endpoint answers in
# JSON and Prometheus text; the widget is served gzipped.  The demo runs on
# free ports with its own Redis and is stopped (Ctrl-C's way) at the end.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/..", "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET ();
use Time::HiRes qw(sleep time);
use Kefu::WS;
use Kefu::Route qw(wait_for);

my $Root = "$FindBin::Bin/..";
my $port = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1);
    my $p = $s->sockport; close $s; $p;
};

my $out = File::Temp->new;
my $pid = fork // die "fork: $!";
if (!$pid) {
    open STDOUT, '>', $out->filename or die $!;
    open STDERR, '>&', \*STDOUT;
    chdir $Root;
    $ENV{KEFU_DEMO_PORT} = $port;
    exec 'scripts/demo' or die "exec: $!";
}
# Ctrl-C or a kill still cleans up
$SIG{INT} = $SIG{TERM} = $SIG{HUP} = sub { exit 1 };
END {
    if ($pid) {
        kill 'TERM', $pid;
        waitpid $pid, 0;
    }
}
use File::Temp ();

# the banner is printed once nginx listens
my $text = '';
for (1 .. 600) {
    $text = do { open my $fh, '<', $out->filename; local $/; <$fh> // '' };
    last if $text =~ /configuration:/ || !kill(0, $pid);
    sleep 0.1;
}
like($text, qr/kefu demo is running/, 'the demo starts') or BAIL_OUT($text);

my %link;
$link{$1} = $2 while $text =~ /^\s+sign in as (\w+).*:\n\s+(\S+)$/mg;
my ($customer) = $text =~ m{^\s+(http://\S+/widget/\?site=demo&token=\S+)$}m;
my ($curl) = $text =~ /^(\s+curl -sS \S+\/events .*?\}')$/ms;
$link{admin} = delete $link{the};    # "sign in as the admin"
ok($link{$_}, "a sign-in link for $_") for qw(Alice Bob admin);
ok($customer, "a signed-in customer's chat page");
ok($curl, 'a curl that posts a business event');

sub token_of { ($_[0] // '') =~ /[#&]token=([\w.-]+)/ ? $1 : undef }

local $Kefu::WS::Port = $port;

# the agents' links, as the console would use them
my ($alice, $aw) = kefu_connect(role => 'agent', site => 'demo', status => 'online',
                                token => token_of($link{Alice}));
is($aw->{type}, 'welcome', "Alice's link signs her in");
ok(wait_for($alice, sub { $_[0]{type} eq 'presence' && $_[0]{agent} eq 'alice' }), 'online');
my (undef, $bw) = kefu_connect(role => 'agent', site => 'demo', token => token_of($link{Bob}));
is($bw->{type}, 'welcome', "Bob's link signs him in");
my (undef, $adw) = kefu_connect(role => 'admin', site => 'demo', token => token_of($link{admin}));
is($adw->{type}, 'welcome', "the admin's link signs in an admin");

# the tea shop's bot, FAQ and rules (docs/demo-settings.json) are what the
# admin's console loads into Settings (t/059-browser-rules.t shows them)
{
    my ($ad) = kefu_connect(role => 'admin', site => 'demo', token => token_of($link{admin}));
    $ad->send_json({type => 'settings', cid => 'demo-get'});
    my $set = wait_for($ad, sub { $_[0]{type} eq 'settings' });
    my $doc = $set && $set->{settings} || {};
    ok($doc->{bot} && $doc->{bot}{enabled}, "the demo's bot is on");
    ok(@{ $doc->{faq} // [] } >= 3 && !grep({ !ref $_->{answer} || !$_->{answer}{zh} || !$_->{answer}{en} } @{ $doc->{faq} }),
       'its FAQ, every answer in Chinese and English');
    ok(@{ $doc->{rules} // [] } >= 3, 'and its rules');
}

# the customer, as the widget page would
my ($v, $vw) = kefu_connect(role => 'visitor', site => 'demo', token => token_of($customer));
is($vw->{type}, 'welcome', 'the customer page signs in a visitor');
is($vw->{id}, 'c1042', 'the known customer c1042');
$v->send_json({type => 'msg', cid => 'd1', text => 'Is my tea paid?'});
my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' });
ok($ack, 'his message is stored');
# the demo's bot has presales: it answers first, and a person is a click away
my $b = wait_for($v, sub { $_[0]{type} eq 'msg' && ($_[0]{from}{role} // '') eq 'bot' });
ok($b && ($b->{buttons} || [])->[-1]{value} eq '__handoff__', 'the tea bot answers, with the handoff button');
$v->send_json({type => 'handoff', cid => 'd2'});
my $m = wait_for($alice, sub { $_[0]{type} eq 'msg' });
is($m && $m->{conv}, $ack && $ack->{conv}, "handed off, routed to Alice (presales, the site's default)");

# the printed curl, as printed
(my $cmd = $curl) =~ s/\\\n/ /g;
my $resp = `$cmd -w ' %{http_code}' 2>&1`;
like($resp, qr/ 201$/, 'the printed curl posts the event (201)') or diag($resp);
my $e = wait_for($alice, sub { $_[0]{type} eq 'event' });
is($e && $e->{name}, 'order.paid', 'Alice gets the order.paid event');
is($e && $e->{conv}, $ack->{conv}, "in Li Lei's conversation");
is($e && $e->{data}{order}, '1042-7', 'with its data');
ok($e && $e->{suggested_reply}, 'and a suggested reply');
$e = wait_for($v, sub { $_[0]{type} eq 'event' });
is($e && $e->{name}, 'order.paid', 'the customer sees it too ("visitor":true)');

# what else the banner points at
my ($code, $h, $body) = http_raw("GET /kefu/status HTTP/1.0\r\n\r\n");
is($code, 200, 'the status endpoint is on');
like($body, qr/"version"/, 'in JSON');
($code, $h, $body) = http_raw("GET /kefu/status?format=prometheus HTTP/1.0\r\n\r\n");
like($body, qr/^kefu_connections \d+$/m, 'and in Prometheus text');
($code, $h) = http_raw("GET /kefu/widget.js HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n");
is($h->{'content-encoding'}, 'gzip', 'the widget is served gzipped');
($code) = http_raw("GET /console/ HTTP/1.0\r\n\r\n");
is($code, 200, 'the console is served');

kill 'TERM', $pid;
waitpid $pid, 0;
$pid = 0;
my $end = do { open my $fh, '<', $out->filename; local $/; <$fh> };
like($end, qr/demo stopped/, 'the demo stops and cleans up');
ok(!IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port),
   'its nginx is gone');

done_testing();
