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
our @Hosts;

# Where the files' server roots go: t/servroot, unless the workers cannot
# reach it: then /tmp/kefu-servroot<the checkout's path, / as _>, which
# scripts/test also knows.  (Their request bodies are spooled there.)
sub servroot_base {
    my ($root) = @_;
    return Kefu::Reach::reachable("$root/t")
           ? "$root/t/servroot" : '/tmp/kefu-servroot' . ($root =~ s{/}{_}gr);
}

BEGIN {
    $Root = abs_path(dirname(__FILE__) . '/..');
    unshift @INC, "$Root/t/lib";
    require Kefu::Reach;

    # each file a server root of its own, so that files can run in
    # parallel (scripts/test sets none; a given one is used as is)
    unless ($ENV{TEST_NGINX_SERVROOT}) {
        (my $file = File::Basename::basename($0)) =~ s/\.t\z//;
        $ENV{TEST_NGINX_SERVROOT} = servroot_base($Root) . "/$file";
    }

    # scripts/test --cluster, --cluster3: a file of its SINGLE_REDIS list
    # runs against the run's plain Redis, and says so
    if ($ENV{TEST_NGINX_REDIS_CLUSTER} && $ENV{TEST_NGINX_SINGLE_REDIS_PORT}) {
        (my $file = File::Basename::basename($0)) =~ s/\.t\z//;
        for (split /\n/, $ENV{KEFU_SINGLE_REDIS} // '') {
            my ($name, $why) = split /\|/, $_, 2;
            next unless $name eq $file;
            delete $ENV{TEST_NGINX_REDIS_CLUSTER};
            $ENV{TEST_NGINX_REDIS_PORT} = $ENV{TEST_NGINX_SINGLE_REDIS_PORT};
            print STDERR "# $file runs against one plain Redis on this cluster run: $why\n";
        }
    }
    # scripts/test --sentinel: a file of its SENTINEL_PLAIN list names the
    # master directly (a plain Redis), and says so
    if ($ENV{TEST_NGINX_REDIS_SENTINEL}) {
        (my $file = File::Basename::basename($0)) =~ s/\.t\z//;
        for (split /\n/, $ENV{KEFU_SENTINEL_PLAIN} // '') {
            my ($name, $why) = split /\|/, $_, 2;
            next unless $name eq $file;
            delete $ENV{TEST_NGINX_REDIS_SENTINEL};
            print STDERR "# $file names the master directly on this Sentinel run: $why\n";
        }
    }

    unless (eval { require Test::Nginx::Socket; 1 }) {
        unshift @INC, "$Root/t/runner";
        delete $INC{'Test/Nginx/Socket.pm'};
        require Test::Nginx::Socket;
    }
}

use Kefu::WS ();
use Kefu::Net ();

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
                                                  kefu_root kefu_html start_host
                                                  site_of_run);
    *{"${caller}::$_"} = \&{"Kefu::Net::$_"} for qw(free_port redis redis_many redis_server
                                                     redis_monitor);

    # fractional seconds in test code
    *{"${caller}::$_"} = \&{"Time::HiRes::$_"} for qw(sleep time);

    # Test::Base's import (inherited) exports to our caller
    my $import = Test::Nginx::Socket->can('import');
    @_ = ('Test::Nginx::Socket', @args);
    goto &$import;
}

sub kefu_root { $Root }

# The html/ tree as the tests' nginx serves it: the checkout's, or where
# the workers cannot reach that, a copy next to this file's server root
sub kefu_html {
    return Kefu::Reach::served_from("$Root/html", "$ENV{TEST_NGINX_SERVROOT}.html");
}

# A site name of this run's own, for a file whose checks count or list what
# a site holds: they must not see what earlier runs left in Redis.  The
# name as a word in the blocks' http_config, config and ws code becomes
# "<name>r<random>" (call it after the file's own block preprocessors);
# code outside the blocks uses the name returned.
sub site_of_run {
    my ($name) = @_;
    my $uniq = $name . 'r' . (100000 + int rand 900000);
    Test::Nginx::Socket::add_block_preprocessor(sub {
        my $block = shift;
        for my $sec (qw(http_config config ws)) {
            my $v = $block->$sec;
            next unless defined $v && !ref $v;
            $v =~ s/(?<![\w-])\Q$name\E(?![\w-])/$uniq/g;
            $block->set_value($sec, $v);
        }
    });
    return $uniq;
}

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
    $http = cluster_conf($http);
    $_ =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{$ENV{$1} // die "$1 not set\n"}ge for $http, $server;
    my $port;
    for my $try (1 .. 5) {
        $port = Kefu::Net::free_port();
        open my $fh, '>', "$dir/nginx.conf" or die $!;
        print $fh "load_module $Module;\n$main\nworker_processes 2;\nerror_log $dir/logs/error.log info;\n"
                . "pid $dir/nginx.pid;\nevents { worker_connections 256; }\n"
                . "http {\n access_log off;\n $http\n server {\n listen 127.0.0.1:$port;\n"
                . " location = /chat { kefu_chat; }\n location = /__kefu_t { return 200; }\n $server\n }\n}\n";
        close $fh;
        my $out = `$ENV{TEST_NGINX_BINARY} -p $dir/ -c $dir/nginx.conf 2>&1`;
        last if $? == 0;
        # the port was taken between the pick and the bind: another one
        next if $out =~ /Address already in use/;
        die "second host did not start: $out" . `cat $dir/logs/error.log`;
    }
    require IO::Socket::INET;
    my $up = 0;
    for (1 .. 500) {
        if (IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port)) { $up = 1; last }
        Time::HiRes::sleep(0.02);
    }
    die "second host does not listen\n" unless $up;
    # ready when both workers have their Redis connections
    wait_redis_log("$dir/logs/error.log", 4) if $http =~ /kefu_redis/;
    # on a cluster also both workers' id nodes ({nodes}' master may be
    # the last link up): before them a message is refused
    wait_log_count("$dir/logs/error.log", qr/kefu: ids use node/, 2)
        if $http =~ /kefu_redis\s+cluster/;
    my $stopped;
    my $stop = sub {
        return if $stopped++;
        open my $p, '<', "$dir/nginx.pid" or return;
        my $pid = <$p>;
        chomp $pid;
        kill 'TERM', $pid if $pid;
        for (1 .. 1500) { last unless kill 0, $pid; Time::HiRes::sleep(0.02) }
    };
    push @Hosts, $stop;
    return ($port, $stop, "$dir/logs/error.log");
}

# hosts a block started are stopped when its code ends, however it ends
sub stop_hosts { (pop @Hosts)->() while @Hosts }
END { stop_hosts() }

# waits (at most 20 s) until the log says n Redis connections are ready
sub wait_redis_log {
    my ($log, $want) = @_;
    for (1 .. 400) {
        my $n = 0;
        if (open my $fh, '<', $log) {
            /$Kefu::Net::LinkReady/ and $n++ while <$fh>;
        }
        return 1 if $n >= $want;
        Time::HiRes::sleep(0.05);
    }
    return 0;
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

# scripts/test --cluster and --cluster3: the tests' Redis is a cluster's
# seed, named with "kefu_redis cluster"; --sentinel: a Sentinel set-up's
# master, named with "kefu_redis sentinel" (Kefu::Net::cluster_conf: the
# files that write an nginx.conf of their own use it too)
sub cluster_conf { Kefu::Net::cluster_conf(@_) }

# does the text's kefu_redis name a Redis of the run's (any
# $TEST_NGINX_*REDIS_PORT, or the run's Sentinels under --sentinel), or
# with 'cluster' the tests' cluster seed?
sub names_tests_redis {
    my ($text, $cluster) = @_;
    my $port = $ENV{TEST_NGINX_REDIS_PORT} // '';
    my $sentinel = $ENV{TEST_NGINX_REDIS_SENTINEL};
    return 1 if !$cluster && $sentinel
                && $text =~ /kefu_redis\s+sentinel\s+\Q$sentinel\E(?![\w:])/;
    return $text =~ /kefu_redis\s+cluster\s+127\.0\.0\.1:(?:\$TEST_NGINX_REDIS_PORT\b|\Q$port\E(?!\d))/
        if $cluster;
    return $text =~ /kefu_redis\s+(?:cluster\s+)?127\.0\.0\.1:(?:\$TEST_NGINX_\w*REDIS_PORT|\Q$port\E(?!\d))/;
}

# the rewrite runs after every other preprocessor: most files set their
# kefu_redis line in a preprocessor of their own, registered after this
# file's (it used to run before them, and left them on a plain kefu_redis)
my $cluster_pp = sub {
    my $block = shift;
    $block->set_value('http_config', cluster_conf($block->http_config))
        if ($ENV{TEST_NGINX_REDIS_CLUSTER} || $ENV{TEST_NGINX_REDIS_SENTINEL})
           && defined $block->http_config;
};
{
    no warnings 'redefine';
    *Test::Nginx::Socket::add_block_preprocessor = sub ($) {
        my $pp = shift;
        my $list = \@Test::Nginx::Socket::BlockPreprocessors;
        @$list = ((grep { $_ != $cluster_pp } @$list), $pp, $cluster_pp);
    };
}
push @Test::Nginx::Socket::BlockPreprocessors, $cluster_pp;

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
# 20 s, where the log level hides the notice).
sub redis_ready {
    my $block = shift;
    my $http = $block->http_config // '';
    return unless names_tests_redis($http);
    my $workers = $Test::Nginx::Socket::MasterOn ? $Test::Nginx::Socket::Workers : 1;
    my $log = Test::Nginx::Socket::server_root() . '/logs/error.log';
    wait_redis_log($log, 2 * $workers);
    # a cluster's links are several a worker, and its id node is claimed
    # on {nodes}' master, which may come up after the first: a message
    # before it would be refused (unavailable), so wait for every worker's
    # node (on one Redis it comes with the first connection)
    wait_log_count($log, qr/kefu: ids use node/, $workers)
        if $ENV{TEST_NGINX_REDIS_CLUSTER} && names_tests_redis($http, 'cluster');
}

# waits (at most 20 s) until the log has n lines matching re
sub wait_log_count {
    my ($log, $re, $want) = @_;
    for (1 .. 400) {
        my $n = 0;
        if (open my $fh, '<', $log) {
            $_ =~ $re and $n++ while <$fh>;
        }
        return 1 if $n >= $want;
        Time::HiRes::sleep(0.05);
    }
    return 0;
}

# the bound of a block's ws code, in seconds ("--- ws_limit" for one block)
our $WsLimit = $ENV{KEFU_TEST_WS_LIMIT} || 600;

# Every block checks that no worker crashed: nginx logs a worker's death by
# a signal as an [alert] (and the master starts another one, so nothing
# else shows it).  A block that kills a worker itself says so with
# "--- worker_killed": its SIGKILL is then the one death allowed.
sub crash_patterns {
    my ($block) = @_;
    return ('[alert]', 'exited on signal') unless defined $block->worker_killed;
    return (qr/\[alert\](?!.*exited on signal 9\b)/, qr/exited on signal (?!9\b)/);
}

if (Test::Nginx::Socket->can('add_default_no_error_log')) {
    # the bundled runner: checked apart from the block's own assertions
    Test::Nginx::Socket::add_default_no_error_log(\&crash_patterns);
} else {
    # upstream Test::Nginx: added to the block's own no_error_log
    Test::Nginx::Socket::add_block_preprocessor(sub {
        my $block = shift;
        my $have = $block->no_error_log;
        my @pats = crash_patterns($block);
        if (!defined $have) {
            $block->set_value('no_error_log', [@pats]);
        } elsif (ref $have eq 'ARRAY') {
            $block->set_value('no_error_log', [@$have, @pats]);
        } elsif (ref $have) {
            $block->set_value('no_error_log', [$have, @pats]);
        } else {
            $block->set_value('no_error_log',
                [(grep { /\S/ } split /\n/, $have), @pats]);
        }
    });
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

    # code that waits for ever (a loop of retries that never ends, a
    # condition that never comes) fails the block after a bound, saying
    # so, instead of holding the run: the alarm dies in the code, and
    # again every second after, so that an eval of the code's own that
    # catches it does not keep it going; code that still goes on as long
    # again ends the file (its hosts and nginx stopped by END)
    my $limit = $block->ws_limit // $WsLimit;
    my ($expired, $inside) = (0, 1);
    local $SIG{ALRM} = sub {
        return unless $inside;
        if ($expired && time - $expired >= $limit) {
            Test::More::fail("$name - ws code did not finish within $limit s, "
                             . "nor stop $limit s after: the file ends here");
            exit 255;
        }
        $expired ||= time;
        alarm 1;
        die "the block's ws code did not finish within $limit s (its bound: "
            . "--- ws_limit, or KEFU_TEST_WS_LIMIT for every block)\n";
    };
    alarm $limit;
    my $ok = eval { $sub->(); 1 };
    $inside = 0;
    my $err = $@;
    alarm 0;
    if ($expired) {
        Test::More::fail("$name - ws code did not finish within $limit s: "
                         . "it waits for something that does not come");
    } elsif (!$ok) {
        Test::More::fail("$name - ws code died: $err");
    }
    stop_hosts();
});

1;
