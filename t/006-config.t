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



=== TEST 2: sites, the session zone and the message rate are checked by nginx -t too
--- config
    location = /chat { kefu_chat; }
--- ws
my $conf = sub { "events {}\nhttp {\n $_[0]\n server {\n listen 127.0.0.1:1;\n location = /chat {\n kefu_chat;\n $_[1]\n }\n }\n}\n" };
my @cases = (
    ['kefu_site shop1;', '', qr/invalid number of arguments in "kefu_site" directive/],
    ['kefu_site shop1 anonymous=on;', '', qr/"kefu_site" directive needs a secret of at least 16 bytes/],
    ['kefu_site shop1 secret=short;', '', qr/"kefu_site" directive needs a secret of at least 16 bytes/],
    ['kefu_site "shop 1" secret=0123456789abcdef;', '', qr/"kefu_site" directive has an invalid site name/],
    ['kefu_site s secret=0123456789abcdef; kefu_site s secret=0123456789abcdef;', '', qr/"kefu_site" directive names a site twice/],
    ['kefu_site s secret=0123456789abcdef anonymous=maybe;', '', qr/invalid parameter "anonymous=maybe" in "kefu_site"/],
    ['kefu_site s secret=0123456789abcdef default_group=a/b;', '', qr/"kefu_site" directive has an invalid default_group/],
    ['kefu_site s secret_file=/nonexistent/secret;', '', qr/"kefu_site" cannot open secret file "\/nonexistent\/secret"/],
    ['kefu_zone kefu;', '', qr/"kefu_zone" directive takes name:size/],
    ['kefu_zone kefu:lots;', '', qr/"kefu_zone" directive has an invalid size/],
    ['kefu_zone kefu:4k;', '', qr/zone "kefu" is too small/],
    ['kefu_zone a:1m; kefu_zone b:1m;', '', qr/"kefu_zone" directive is duplicate/],
    ['', 'kefu_message_rate 10;', qr/"kefu_message_rate" directive takes a rate of 1r\/s to 100000r\/s/],
    ['', 'kefu_message_rate 0r/s;', qr/"kefu_message_rate" directive takes a rate/],
    ['', 'kefu_message_rate 10r/s burst=0;', qr/"kefu_message_rate" directive takes burst=N/],
    ['', 'kefu_message_rate 10r/s burst=x;', qr/"kefu_message_rate" directive takes burst=N/],
    ['kefu_lease_time 500ms;', '', qr/"kefu_lease_time" directive must be between 1s and 300s/],
    ['kefu_redis_max_wait soon;', '', qr/"kefu_redis_max_wait" directive invalid value/],
    ['kefu_lease_time 1h;', '', qr/"kefu_lease_time" directive must be between 1s and 300s/],
    ['kefu_lease_time soon;', '', qr/"kefu_lease_time" directive invalid value/],
    ['kefu_lease_time 5s; kefu_lease_time 5s;', '', qr/"kefu_lease_time" directive is duplicate/],
    ['kefu_redis_max_inflight 0;', '', qr/"kefu_redis_max_inflight" directive value must be between 1 and 1000000/],
    ['kefu_redis_max_inflight many;', '', qr/"kefu_redis_max_inflight" directive invalid number/],
    ['kefu_redis_max_inflight 2000000;', '', qr/"kefu_redis_max_inflight" directive value must be between 1 and 1000000/],
    ['kefu_redis 127.0.0.1:6379 ping=10ms;', '', qr/"kefu_redis" directive has an invalid ping= \(at least 100ms\)/],
    ['kefu_redis 127.0.0.1:6379 ping=never;', '', qr/"kefu_redis" directive has an invalid ping=/],
);
for my $c (@cases) {
    my ($rc, $out) = nginx_t($conf->($c->[0], $c->[1]));
    isnt($rc, 0, "'$c->[0]$c->[1]' fails nginx -t");
    like($out, $c->[2], "'$c->[0]$c->[1]': message names the directive");
}
my ($rc, $out) = nginx_t($conf->('kefu_zone kefu:2m; kefu_lease_time 3s; kefu_site shop1 secret=0123456789abcdef0123 anonymous=on default_group=sales; kefu_redis 127.0.0.1:6379 ping=2s; kefu_redis_max_inflight 50;', 'kefu_message_rate 20r/s burst=40;'));
is($rc, 0, 'a good configuration passes') or diag($out);
