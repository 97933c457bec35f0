# docs/deploy.md's load-balancer recipe: a second nginx in front of two
# chat hosts (this test's nginx and another) with proxy_pass and the
# upgrade headers.  Through it: a visitor and an agent on different hosts
# chat; the shop's Origin reaches the chat host and is checked there; the
# chat host's pings keep the proxy's proxy_read_timeout from cutting an
# idle conversation, and a ping interval longer than it gets the
# connection cut (why the recipe sets both); a proxy without the upgrade
# headers gets the chat host's 426.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Route qw(agent_token wait_for uniq_group);
use File::Temp qw(tempdir);
use IO::Socket::INET;

workers(2);
master_on();

# the load balancer: an nginx of its own, without the module
sub start_front {
    my ($servers) = @_;
    my $dir = tempdir(CLEANUP => 1);
    mkdir "$dir/logs";
    my $port = free_port();
    $servers =~ s/\@PORT\@/$port/g;
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh "worker_processes 1;\nerror_log $dir/logs/error.log info;\n"
            . "pid $dir/nginx.pid;\nevents { worker_connections 256; }\n"
            . "http {\n access_log off;\n client_body_temp_path $dir/body;\n"
            . " proxy_temp_path $dir/proxy;\n$servers\n}\n";
    close $fh;
    system($ENV{TEST_NGINX_BINARY}, '-p', "$dir/", '-c', "$dir/nginx.conf") == 0
        or die "the front nginx did not start: " . `cat $dir/logs/error.log`;
    for (1 .. 100) {
        last if IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port);
        sleep 0.02;
    }
    my $stop = sub {
        open my $p, '<', "$dir/nginx.pid" or return;
        my $pid = <$p>;
        kill 'QUIT', $pid if $pid;
        for (1 .. 100) { last unless kill 0, $pid; sleep 0.02 }
    };
    return ($port, $stop);
}

run_tests();

__DATA__

=== TEST 1: two chat hosts behind a proxy_pass load balancer with the upgrade headers
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat {
        kefu_chat;
        kefu_allowed_origins https://shop.example;
    }
    location = /chat-ping {
        kefu_chat;
        kefu_ping_interval 1s;
        kefu_idle_timeout 5s;
    }
    location = /chat-slowping {
        kefu_chat;
        kefu_ping_interval 30s;
    }
--- ws
my $a = $Kefu::WS::Port;
my ($b, $stop_b, $b_log) = start_host(
    "kefu_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};\n"
    . "kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;\n"
    . "kefu_allowed_origins https://shop.example;\n");
my ($front, $stop_front);
my $ok = eval {
    ($front, $stop_front) = main::start_front(<<"EOC");
    map \$http_upgrade \$connection_upgrade {
        default upgrade;
        ''      close;
    }

    upstream kefu_chat {
        server 127.0.0.1:$a;
        server 127.0.0.1:$b;
    }

    server {
        listen 127.0.0.1:\@PORT\@;

        location = /chat {
            proxy_pass http://kefu_chat;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_read_timeout 2s;
            proxy_send_timeout 2s;
        }

        location ~ ^/(chat-ping|chat-slowping)\$ {
            proxy_pass http://127.0.0.1:$a;
            proxy_http_version 1.1;
            proxy_set_header Upgrade \$http_upgrade;
            proxy_set_header Connection \$connection_upgrade;
            proxy_read_timeout 2s;
        }

        # the usual mistake: no upgrade headers
        location = /chat-broken {
            proxy_pass http://127.0.0.1:$a/chat;
        }
    }
EOC
    local $Kefu::WS::Port = $front;

    # round robin: consecutive connections go to one host, then the other
    my $group = uniq_group('lb');
    my ($agent, $aw) = kefu_connect(role => 'agent', site => 'shop1', status => 'online',
                                    token => agent_token("lb-$group", groups => [$group]));
    is($aw->{type}, 'welcome', 'an agent connects through the load balancer');
    ok(wait_for($agent, sub { $_[0]{type} eq 'presence' }), 'and is online');
    my ($v, $vw) = kefu_connect(role => 'visitor', site => 'shop1', group => $group);
    is($vw->{type}, 'welcome', 'a visitor too (on the other chat host)');
    $v->send_json({type => 'msg', cid => 'l1', text => 'through the balancer'});
    my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' });
    ok($ack, 'the message is stored');
    my $m = wait_for($agent, sub { $_[0]{type} eq 'msg' });
    is($m && $m->{text}, 'through the balancer', 'and reaches the agent');
    $agent->send_json({type => 'msg', cid => 'r1', conv => $ack->{conv}, text => 'answer'});
    $m = wait_for($v, sub { $_[0]{type} eq 'msg' && $_[0]{from}{role} eq 'agent' });
    is($m && $m->{text}, 'answer', 'and back');

    my $blog = do { open my $fh, '<', $b_log or die $!; local $/; <$fh> };
    my $on_b = () = $blog =~ /kefu: (?:agent "lb-\Q$group\E"|visitor "\Q$vw->{id}\E") of site "shop1" authenticated/g;
    is($on_b, 1, 'one of the two is on the second chat host, the other on the first');
    my $ws = ws_connect(headers => ['Origin: https://shop.example']);
    is($ws->status, 101, "the shop's Origin passes the proxy and is accepted");
    $ws = ws_connect(headers => ['Origin: https://evil.example'], expect => 403);
    is($ws->status, 403, 'another origin is refused by the chat host behind it');

    # the chat host pings every second: the proxy's 2 s read timeout never
    # fires, however long the conversation stays silent
    $ws = ws_connect(path => '/chat-ping');
    $ws->send_json({type => 'hello', role => 'visitor', site => 'shop1'});
    is($ws->recv_type('welcome')->{type}, 'welcome', 'a visitor behind the proxy');
    my $pings = 0;
    my $until = time + 3.5;
    while (time < $until) {
        my $f = $ws->recv_frame($until - time) or last;
        last if $f->{eof} || !defined $f->{op};
        if ($f->{op} == 9) { $pings++; $ws->send_frame(10, $f->{payload}) }
    }
    ok($pings >= 2, "silent for 3.5 s, past proxy_read_timeout: pinged $pings times");
    $ws->send_json({type => 'ping', id => 'alive'});
    my $pong = $ws->recv_type('pong');
    is($pong && $pong->{id}, 'alive', 'and still connected');

    # a ping interval longer than the proxy's read timeout: the proxy cuts
    $ws = ws_connect(path => '/chat-slowping');
    $ws->send_json({type => 'hello', role => 'visitor', site => 'shop1'});
    is($ws->recv_type('welcome')->{type}, 'welcome', 'a visitor behind the proxy, pinged every 30 s');
    ok($ws->expect_eof(6), 'is cut by the proxy after its 2 s read timeout');

    # without Upgrade/Connection the chat host sees a plain GET
    $ws = ws_connect(path => '/chat-broken', expect => 426);
    is($ws->status, 426, 'a proxy that drops the upgrade headers gets 426 Upgrade Required');
    1;
};
fail("the load balancer test died: $@") unless $ok;
$stop_front->() if $stop_front;
$stop_b->();
