# Configuration errors are caught by "nginx -t", with a message that names
# the directive.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;

run_tests();

__DATA__

=== TEST 1: bad values are rejected by nginx -t, naming the directive
--- config
    location = /chat { kefu_chat; }
--- ws
my $http = sub { "events {}\nhttp {\n server {\n listen 127.0.0.1:1;\n location = /chat {\n kefu_chat;\n $_[0]\n }\n }\n}\n" };
my @cases = (
    ['kefu_max_message_size 10;', qr/"kefu_max_message_size" directive value must be between 128 and 16777216/],
    ['kefu_max_message_size 1x;', qr/"kefu_max_message_size" directive invalid value/],
    ['kefu_max_message_size 32m;', qr/"kefu_max_message_size" directive value must be between/],
    ['kefu_max_send_queue 100;', qr/"kefu_max_send_queue" directive value must be between/],
    ['kefu_max_message_size 64k; kefu_max_send_queue 32k;', qr/"kefu_max_send_queue" \(32768\) must be greater than "kefu_max_message_size" \(65536\)/],
    ['kefu_ping_interval 0;', qr/"kefu_ping_interval" directive must be positive/],
    ['kefu_ping_interval soon;', qr/"kefu_ping_interval" directive invalid value/],
    ['kefu_idle_timeout 10s; kefu_ping_interval 30s;', qr/"kefu_idle_timeout" \(10000 ms\) must be greater than "kefu_ping_interval" \(30000 ms\)/],
    ['kefu_hello_timeout -1;', qr/"kefu_hello_timeout" directive invalid value/],
    ['kefu_send_timeout 0;', qr/"kefu_send_timeout" directive must be positive/],
    ['kefu_allowed_origins shop.example;', qr/invalid origin "shop.example" in "kefu_allowed_origins"/],
    ['kefu_allowed_origins https://shop.example/;', qr/invalid origin "https:\/\/shop.example\/" in "kefu_allowed_origins": an origin has no path/],
    ['kefu_allowed_origins https://a.example; kefu_allowed_origins https://b.example;', qr/"kefu_allowed_origins" directive is duplicate/],
    ['kefu_chat;', qr/"kefu_chat" directive is duplicate/],
);
for my $c (@cases) {
    my ($rc, $out) = nginx_t($http->($c->[0]));
    isnt($rc, 0, "$c->[0] fails nginx -t");
    like($out, $c->[1], "$c->[0]: message names the directive");
}
my ($rc, $out) = nginx_t("events {}\nhttp {\n server {\n listen 127.0.0.1:1;\n location = /chat {\n kefu_chat on;\n }\n }\n}\n");
like($out, qr/invalid number of arguments in "kefu_chat" directive/, 'kefu_chat takes no arguments');
($rc, $out) = nginx_t($http->('kefu_max_message_size 1m; kefu_max_send_queue 4m; kefu_ping_interval 10s; kefu_idle_timeout 25s; kefu_hello_timeout 5s; kefu_send_timeout 10s; kefu_allowed_origins * https://shop.example;'));
is($rc, 0, 'a good configuration passes') or diag($out);
