# The external bot example (examples/bot/kefu_bot.py, bot.mode external):
# run against this suite's nginx and Redis, it reads the site's event
# stream as a consumer group and answers a visitor's message over the HTTP
# API as the bot, with buttons; what it does not know it leaves alone; a
# table entry with handoff gives the conversation to a person over the API.
use utf8;
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;

our $S = 'ext-secret-0123456789abcdef';

api_blocks(ready => '/kefu/api/sites/botx/settings',
    http => "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site botx secret=$S anonymous=on default_group=presales;\n",
    config => "location = /chat { kefu_chat; }\n"
        . "location /kefu/api/ { kefu_api; }\n");

our $SITE = site_of_run('botx');
$Kefu::API::Token = api_token(secret => $S, site => $SITE, role => 'admin', sub => 'boss');

run_tests();

__DATA__

=== TEST 1: the example bot answers a visitor from its keyword table, with buttons, as the bot; a message it does not know gets no answer; an entry with handoff gives the conversation to a person
--- ws
my ($st) = api(PUT => "/kefu/api/sites/botx/settings", {bot => {enabled => JSON::PP::true(), mode => 'external'}});
is($st, 200, 'bot.mode external');
my $port = Test::Nginx::Socket::server_port();
# the Redis that holds the site's stream (on a cluster, its slot's master:
# the example speaks to one Redis)
my $rport = Kefu::Net::redis_port_of("kefu:{s:$main::SITE}:events");
my $pid = open(my $out, '-|', 'python3', "$FindBin::Bin/../examples/bot/kefu_bot.py",
               '--redis', "127.0.0.1:$rport", '--api', "http://127.0.0.1:$port/kefu/api",
               '--site', $main::SITE, '--secret', $main::S, '--name', 'Tea bot') or die "python3: $!";
my $ok = eval {
    my $line = <$out>;
    like($line, qr/^kefu_bot: reading/, 'the bot reads the stream');
    my ($v) = kefu_connect(role => 'visitor', site => $main::SITE);
    $v->send_json({type => 'msg', cid => 'q0', text => 'hi, anyone?'});
    my $conv = $v->recv_type('ack')->{conv};
    $v->send_json({type => 'msg', conv => $conv, cid => 'q1', text => 'When is SHIPPING?'});
    $v->recv_type('ack');
    my $m = $v->wait_for(sub { $_[0]{type} eq 'msg' && ($_[0]{from}{role} // '') eq 'bot' }, 20);
    ok($m, 'the bot answered');
    like($m && $m->{text}, qr/48 hours/, 'from its table');
    is_deeply($m && $m->{from}, {role => 'bot', id => 'bot', name => 'Tea bot'}, 'as the bot');
    is_deeply($m && $m->{buttons}, [{text => 'Order status', value => 'order status'}], 'with buttons');
    # its answer came after the second message: the first got none
    my ($st2, $j) = api(GET => "/kefu/api/sites/botx/convs/$conv/messages");
    my @bot = grep { ($_->{from}{role} // '') eq 'bot' } @{ $j->{msgs} };
    is(scalar @bot, 1, 'one answer: "hi, anyone?" is not in its table');
    # the conversation is the bot's (bot.enabled, every group) until a handoff
    ($st2, $j) = api(GET => "/kefu/api/sites/botx/convs/$conv");
    is($j->{state}, 'bot', 'the conversation is in state bot');
    $v->send_json({type => 'msg', conv => $conv, cid => 'q2', text => 'can I talk to a person?'});
    $v->recv_type('ack');
    my $n = $v->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $conv && ($_[0]{state} // '') eq 'queued' }, 20);
    ok($n, 'its handoff entry: the conversation goes to a person (queued)');
    ($st2, $j) = api(GET => "/kefu/api/sites/botx/convs/$conv/messages");
    my ($h) = grep { ($_->{event} // '') eq 'handoff' } @{ $j->{msgs} };
    is($h && $h->{by}, 'api', 'handed off over the API');
    ok((grep { ($_->{text} // '') =~ /Connecting you to a person/ } @{ $j->{msgs} }), 'after its reply');
    1;
};
kill 'TERM', $pid;
waitpid $pid, 0;
die $@ unless $ok;
