package t::Kefu;

# What every .t file uses:  use t::Kefu;  ...  run_tests();  __DATA__
#
# It loads upstream Test::Nginx::Socket when that is installed, the bundled
# runner in t/runner otherwise, and adds to either:
#   - load_module of build/ngx_kefu_module.so (TEST_NGINX_KEFU_MODULE
#     overrides) in every block's main_config;
#   - a "--- ws" section: Perl code run against the live server, with the
#     WebSocket client of t/lib/Kefu/WS.pm, through the hooks both runners
#     have (a block preprocessor and a response body check);
#   - nginx_t($conf_text): runs "nginx -t" on a configuration.

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Temp qw(tempdir);
use Time::HiRes ();

our $Root;

BEGIN {
    $Root = abs_path(dirname(__FILE__) . '/..');

    unless (eval { require Test::Nginx::Socket; 1 }) {
        unshift @INC, "$Root/t/runner";
        delete $INC{'Test/Nginx/Socket.pm'};
        require Test::Nginx::Socket;
    }

    unshift @INC, "$Root/t/lib";
}

use Kefu::WS ();

our $Module = $ENV{TEST_NGINX_KEFU_MODULE}
              || "$Root/build/ngx_kefu_module.so";

$ENV{TEST_NGINX_BINARY} ||= -x "$Root/build/nginx" ? "$Root/build/nginx"
                                                    : '/usr/sbin/nginx';

sub import {
    my ($class, @args) = @_;
    @args = ('no_plan') unless @args;

    no strict 'refs';
    my $caller = caller;
    *{"${caller}::$_"} = \&{"Kefu::WS::$_"} for @Kefu::WS::EXPORT;
    *{"${caller}::$_"} = \&{"t::Kefu::$_"} for qw(nginx_t nginx_pid
                                                  kefu_root start_host);

    # fractional seconds in test code
    *{"${caller}::$_"} = \&{"Time::HiRes::$_"} for qw(sleep time);

    # Test::Base's import (inherited) exports to our caller
    my $import = Test::Nginx::Socket->can('import');
    @_ = ('Test::Nginx::Socket', @args);
    goto &$import;
}

sub kefu_root { $Root }

# "nginx -t" on a configuration text (its http block gets load_module'd
# module loaded): returns (exit status, output)
sub nginx_t {
    my ($conf) = @_;
    my $dir = tempdir(CLEANUP => 1);
    mkdir "$dir/logs";
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh "load_module $Module;\nerror_log $dir/logs/error.log;\n"
            . "pid $dir/nginx.pid;\n$conf";
    close $fh;
    my $out = `$ENV{TEST_NGINX_BINARY} -p $dir/ -c $dir/nginx.conf -t 2>&1`;
    return ($? >> 8, $out);
}

# Another nginx "host" with the module and the given http-level
# configuration plus a kefu_chat location (and the server-level
# configuration given second, the main-level third), on its own free port.  Returns (port, stop)
# and is stopped at the latest when the object goes away.
sub start_host {
    my ($http, $server, $main) = @_;
    $server //= '';
    $main //= '';
    my $dir = tempdir(CLEANUP => 1);
    mkdir "$dir/logs";
    my $port = do {
        require IO::Socket::INET;
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1);
        my $p = $s->sockport; close $s; $p;
    };
    $_ =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{$ENV{$1} // die "$1 not set\n"}ge for $http, $server;
    open my $fh, '>', "$dir/nginx.conf" or die $!;
    print $fh "load_module $Module;\n$main\nworker_processes 2;\nerror_log $dir/logs/error.log info;\n"
            . "pid $dir/nginx.pid;\nevents { worker_connections 256; }\n"
            . "http {\n access_log off;\n $http\n server {\n listen 127.0.0.1:$port;\n"
            . " location = /chat { kefu_chat; }\n $server\n }\n}\n";
    close $fh;
    system($ENV{TEST_NGINX_BINARY}, '-p', "$dir/", '-c', "$dir/nginx.conf") == 0
        or die "second host did not start: " . `cat $dir/logs/error.log`;
    for (1 .. 100) {
        last if IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port);
        Time::HiRes::sleep(0.02);
    }
    my $stop = sub {
        open my $p, '<', "$dir/nginx.pid" or return;
        my $pid = <$p>;
        kill 'TERM', $pid if $pid;
        Time::HiRes::sleep(0.2);
    };
    return ($port, $stop, "$dir/logs/error.log");
}

# the pid of the running test nginx's master (or only) process
sub nginx_pid {
    my $root = Test::Nginx::Socket::server_root();
    open my $fh, '<', "$root/logs/nginx.pid" or return undef;
    my $pid = <$fh>;
    close $fh;
    chomp $pid if defined $pid;
    return $pid;
}

Test::Nginx::Socket::add_block_preprocessor(sub {
    my $block = shift;

    my $main = $block->main_config;
    $main = '' unless defined $main;
    $block->set_value('main_config', "load_module $Module;\n$main")
        unless $main =~ /ngx_kefu_module\.so/;

    if (defined $block->ws && !defined $block->request
        && !defined $block->raw_request)
    {
        my $config = $block->config;
        $config = '' unless defined $config;
        $block->set_value('config', $config
                          . "\n    location = /__kefu_t { return 200 \"ok\\n\"; }\n");
        $block->set_value('request', "GET /__kefu_t\n");
    }
});

# A worker answers HTTP before its Redis connections are ready: a test that
# talks to the private Redis first waits until every worker's two are (or
# 5 s, where the log level hides the notice).
sub redis_ready {
    my $block = shift;
    my $http = $block->http_config // '';
    return unless $http =~ /kefu_redis\s+127\.0\.0\.1:\$TEST_NGINX_\w*REDIS_PORT/;
    my $want = 2 * ($Test::Nginx::Socket::MasterOn ? $Test::Nginx::Socket::Workers : 1);
    my $log = Test::Nginx::Socket::server_root() . '/logs/error.log';
    for (1 .. 100) {
        my $n = 0;
        if (open my $fh, '<', $log) {
            /kefu: redis \S+ connection ready/ and $n++ while <$fh>;
        }
        return if $n >= $want;
        select undef, undef, undef, 0.05;
    }
}

Test::Nginx::Socket::add_response_body_check(sub {
    my ($block, $body, $req_idx, $repeated_req_idx, $dry_run) = @_;

    my $code = $block->ws;
    return if !defined $code || $dry_run;

    my $name = $block->name;
    local $Kefu::WS::Port = Test::Nginx::Socket::server_port();

    my $sub = eval "package main; no warnings 'redefine'; sub {\n#line 1 \"$name --- ws\"\n$code\n}";
    if (!$sub) {
        Test::More::fail("$name - ws code does not compile: $@");
        return;
    }

    local $main::BlockName = $name;
    redis_ready($block);
    unless (eval { $sub->(); 1 }) {
        Test::More::fail("$name - ws code died: $@");
    }
});

1;
