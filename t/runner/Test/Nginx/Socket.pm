package Test::Nginx::Socket;

# A small runner for Test::Nginx::Socket's data format, bundled because the
# upstream module (openresty/test-nginx) cannot be installed here.  It runs
# the same .t files: where upstream is installed, t/Kefu.pm uses it instead.
# Supported sections and functions are listed in t/README.md.
#
# Every sub has a prototype: Spiffy's -Base filter would otherwise give it
# an implicit $self.

use Test::Base -Base;

use IO::Socket::INET ();
use IO::Select ();
use POSIX qw(WNOHANG);
use File::Path qw(make_path remove_tree);
use Time::HiRes qw(sleep time);
use Cwd qw(cwd);
use Kefu::Net ();

our @EXPORT = qw(run_tests run_test repeat_each workers master_on master_off
    master_process_enabled log_level no_shuffle no_long_string server_port
    server_port_for_client server_root html_dir server_addr timeout
    worker_connections add_block_preprocessor add_response_body_check
    add_cleanup_handler no_root_location env_to_nginx config_preamble
    bail_out add_default_no_error_log);

our $ServRoot = $ENV{TEST_NGINX_SERVROOT} || cwd() . '/t/servroot';
our $ServerAddr = '127.0.0.1';
our $PortGiven = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT};
our $ServerPort = $PortGiven || free_port();
our $Workers = 1;
our $MasterOn = 0;
our $LogLevel = 'debug';
our $WorkerConnections = 64;
our $Timeout = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $RepeatEach = 1;
our $NoRootLocation = 0;
our $ConfigPreamble = '';
our @EnvToNginx;
our @BlockPreprocessors;
our @ResponseBodyChecks;
our @CleanupHandlers;
our @DefaultNoErrorLog;
our $NginxPid;
our $NginxStatus;

$ENV{TEST_NGINX_SERVER_PORT} = $ServerPort;
$ENV{TEST_NGINX_PORT} = $ServerPort;

sub repeat_each (@) { $RepeatEach = shift if @_; $RepeatEach }
sub workers ($) { $Workers = shift }
sub master_on () { $MasterOn = 1 }
sub master_off () { $MasterOn = 0 }
sub master_process_enabled (@) { $MasterOn = shift if @_; $MasterOn }
sub log_level ($) { $LogLevel = shift }
sub no_shuffle () { }
sub no_long_string () { }
sub server_port (@) { $ServerPort = shift if @_; $ServerPort }
sub server_port_for_client () { $ServerPort }
sub server_root () { $ServRoot }
sub html_dir () { "$ServRoot/html" }
sub server_addr (@) { $ServerAddr = shift if @_; $ServerAddr }
sub timeout (@) { $Timeout = shift if @_; $Timeout }
sub worker_connections ($) { $WorkerConnections = shift }
sub add_block_preprocessor ($) { push @BlockPreprocessors, shift }
sub add_response_body_check ($) { push @ResponseBodyChecks, shift }
sub add_cleanup_handler ($) { push @CleanupHandlers, shift }
sub no_root_location () { $NoRootLocation = 1 }
sub env_to_nginx (@) { push @EnvToNginx, @_ }
sub config_preamble ($) { $ConfigPreamble = shift }
sub bail_out (@) { Test::More::BAIL_OUT(@_) }

# patterns no block's error.log may match, checked after the block's own
# checks (a sub gets the block and returns the patterns)
sub add_default_no_error_log ($) { push @DefaultNoErrorLog, shift }

sub free_port () { Kefu::Net::free_port() }

sub nginx_binary () {
    return $ENV{TEST_NGINX_BINARY} if $ENV{TEST_NGINX_BINARY};
    for my $dir (split /:/, $ENV{PATH} || '') {
        return "$dir/nginx" if -x "$dir/nginx";
    }
    return '/usr/sbin/nginx';
}

sub expand_env ($) {
    my $text = shift;
    return '' unless defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        defined $ENV{$1} ? $ENV{$1} : die "environment variable $1 not set\n"
    }ge;
    return $text;
}

sub write_config ($) {
    my $block = shift;

    remove_tree($ServRoot);
    make_path("$ServRoot/conf", "$ServRoot/logs", "$ServRoot/html");

    my $main = expand_env($block->main_config);
    my $http = expand_env($block->http_config);
    my $config = expand_env($block->config);
    my $env = join '', map { "env $_;\n" } @EnvToNginx;
    my $master = $MasterOn ? 'on' : 'off';
    my $root = $NoRootLocation ? '' : "        location / { root $ServRoot/html; }\n";

    # the root location must not clash with one the block declares
    $root = '' if $config =~ m{location\s+/\s*\{};

    open my $fh, '>', "$ServRoot/conf/nginx.conf" or die "conf: $!\n";
    print $fh <<"_EOC_";
worker_processes $Workers;
master_process $master;
daemon off;
error_log logs/error.log $LogLevel;
pid logs/nginx.pid;
$env
$main

events {
    worker_connections $WorkerConnections;
}

http {
    access_log logs/access.log;
    default_type text/plain;
    client_body_temp_path $ServRoot/tmp/body;
    proxy_temp_path $ServRoot/tmp/proxy;
    fastcgi_temp_path $ServRoot/tmp/fastcgi;
    uwsgi_temp_path $ServRoot/tmp/uwsgi;
    scgi_temp_path $ServRoot/tmp/scgi;
    $ConfigPreamble
$http

    server {
        listen $ServerAddr:$ServerPort;
        server_name localhost;
        client_max_body_size 30M;
$root
$config
    }
}
_EOC_
    close $fh;
    make_path("$ServRoot/tmp");
}

sub start_nginx () {
    my $bin = nginx_binary();
    my $pid = fork();
    die "fork: $!\n" unless defined $pid;

    if ($pid == 0) {
        open STDOUT, '>', "$ServRoot/logs/stdout.log";
        open STDERR, '>', "$ServRoot/logs/stderr.log";
        exec $bin, '-p', "$ServRoot/", '-c', "$ServRoot/conf/nginx.conf";
        exit 127;
    }

    $NginxPid = $pid;

    # ready when the port accepts connections
    my $deadline = time + 10;
    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            $NginxPid = undef;
            return slurp("$ServRoot/logs/stderr.log")
                   . slurp("$ServRoot/logs/error.log");
        }
        my $s = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                      PeerPort => $ServerPort, Timeout => 1);
        if ($s) { close $s; return undef }
        sleep 0.02;
    }

    stop_nginx();
    return "nginx did not start listening on port $ServerPort\n";
}

# stops nginx; returns the signal it died of on its own (a crash), if any
sub stop_nginx () {
    return undef unless $NginxPid;
    my ($status, $killed);
    if (waitpid($NginxPid, WNOHANG) == $NginxPid) {
        $status = $?;
    } else {
        # TERM again each second: a signal that lands between the event
        # loop's check and its epoll_wait is heard only at the next event
        # or timer, and a process without timers may have none coming
        kill 'TERM', $NginxPid;
        my $deadline = time + 30;
        my $again = time + 1;
        while (time < $deadline) {
            if (waitpid($NginxPid, WNOHANG) == $NginxPid) { $status = $?; last }
            if (time >= $again) { kill 'TERM', $NginxPid; $again = time + 1 }
            sleep 0.02;
        }
        if (!defined $status) {
            kill 'KILL', $NginxPid;
            waitpid($NginxPid, 0);
            $killed = 1;
            Test::More::diag("nginx did not stop within 30 s of TERM: killed");
        }
    }
    $NginxPid = undef;
    return 'KILL after a TERM that did not stop it' if $killed;
    return undef unless defined $status && ($status & 127);
    return $status & 127;
}

sub slurp ($) {
    my $file = shift;
    open my $fh, '<', $file or return '';
    local $/;
    my $data = <$fh>;
    close $fh;
    return defined $data ? $data : '';
}

sub parse_request ($$) {
    my ($block, $text) = @_;

    my ($first, $body) = split /\n/, $text, 2;
    $first =~ s/^\s+|\s+$//g;
    my ($method, $uri, $proto) = split /\s+/, $first;
    $uri = '/' unless defined $uri;
    $proto = 'HTTP/1.1' unless defined $proto;
    $body = '' unless defined $body;
    $body =~ s/\n\z// if defined $block->request && $block->request !~ /\n\n\z/;

    my $headers = "Host: localhost\r\nConnection: close\r\n";
    my $more = expand_env($block->more_headers);
    for my $line (split /\n/, $more) {
        next unless $line =~ /\S/;
        $headers .= "$line\r\n";
    }
    if (length $body && $more !~ /^Content-Length:/mi) {
        $headers .= 'Content-Length: ' . length($body) . "\r\n";
    }

    return "$method $uri $proto\r\n$headers\r\n$body";
}

sub send_request ($$) {
    my ($raw, $timeout) = @_;

    my $s = IO::Socket::INET->new(PeerAddr => $ServerAddr,
                                  PeerPort => $ServerPort,
                                  Timeout => $timeout)
        or return (undef, "cannot connect: $!");
    $s->autoflush(1);
    print $s $raw;

    my $sel = IO::Select->new($s);
    my $resp = '';
    my $deadline = time + $timeout;
    while (time < $deadline) {
        last unless $sel->can_read($deadline - time);
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $resp .= $buf;
    }
    close $s;
    return ($resp, undef);
}

sub parse_response ($) {
    my $resp = shift;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    $body = '' unless defined $body;
    my @lines = split /\r\n/, $head || '';
    my $status = shift @lines || '';
    my ($code) = $status =~ m{^HTTP/\d\.\d\s+(\d+)};
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $h{lc $k} = defined $h{lc $k} ? "$h{lc $k}, $v" : $v;
    }
    if (($h{'transfer-encoding'} || '') =~ /chunked/i) {
        my $out = '';
        while ($body =~ s/^([0-9a-fA-F]+)[^\r\n]*\r\n//) {
            my $n = hex $1;
            last if $n == 0;
            $out .= substr($body, 0, $n, '');
            $body =~ s/^\r\n//;
        }
        $body = $out;
    }
    return ($code, \%h, $body, $head);
}

sub check_logs ($$) {
    my ($block, $log) = @_;
    my $name = $block->name;

    for my $sec (qw(error_log no_error_log)) {
        my $want = $block->$sec;
        next unless defined $want;
        my @pats = ref $want eq 'ARRAY' ? @$want
                 : ref $want ? ($want)
                 : grep { /\S/ } split /\n/, $want;
        for my $pat (@pats) {
            my $found = ref $pat ? ($log =~ $pat) : index($log, $pat) >= 0;
            if ($sec eq 'error_log') {
                ok($found, "$name - pattern \"$pat\" should match a line in error.log");
            } else {
                ok(!$found, "$name - pattern \"$pat\" should not match any line in error.log")
                    or diag(join '', grep { ref $pat ? $_ =~ $pat : index($_, $pat) >= 0 }
                                     split /^/, $log);
            }
        }
    }
}

sub run_test ($) {
    my $block = shift;
    my $name = $block->name;

    $_->($block) for @BlockPreprocessors;

    if (defined $block->SKIP) {
        SKIP: { skip("$name - skipped", 1) }
        return;
    }

    my $err;
    for my $try (1 .. 5) {
        write_config($block);
        $err = start_nginx();
        # a port picked free was taken meanwhile: pick them again
        last unless defined $err && $err =~ /Address already in use/
                    && !$PortGiven;
        $ServerPort = free_port();
        $ENV{TEST_NGINX_SERVER_PORT} = $ENV{TEST_NGINX_PORT} = $ServerPort;
        Kefu::Net::repick_ports();
    }
    if (defined $err) {
        fail("$name - nginx failed to start:\n$err");
        return;
    }

    my $timeout = $block->timeout || $Timeout;
    my $tests_before = Test::More->builder->current_test;

    for my $rep (0 .. $RepeatEach - 1) {
        my $raw;
        if (defined $block->raw_request) {
            $raw = $block->raw_request;
        } elsif (defined $block->request) {
            $raw = parse_request($block, expand_env($block->request));
        }

        next unless defined $raw;

        my ($resp, $error) = send_request($raw, $timeout);
        if (!defined $resp) {
            fail("$name - $error");
            next;
        }

        my ($code, $headers, $body) = parse_response($resp);

        if (defined $block->error_code) {
            my $want = $block->error_code;
            $want =~ s/\s+//g;
            is($code, $want, "$name - status code ok");
        }

        if (defined $block->response_headers) {
            for my $line (grep { /\S/ } split /\n/, $block->response_headers) {
                if ($line =~ /^!\s*(\S+)/) {
                    ok(!defined $headers->{lc $1}, "$name - header $1 absent");
                    next;
                }
                my ($k, $v) = $line =~ /^([^:]+):\s*(.*)$/ or next;
                is($headers->{lc $k}, $v, "$name - header $k ok");
            }
        }

        if (defined $block->response_headers_like) {
            for my $line (grep { /\S/ } split /\n/, $block->response_headers_like) {
                my ($k, $v) = $line =~ /^([^:]+):\s*(.*)$/ or next;
                like($headers->{lc $k} // '', qr/$v/, "$name - header $k like");
            }
        }

        if (defined $block->response_body) {
            is($body, $block->response_body, "$name - response_body - response is expected");
        }

        if (defined $block->response_body_like) {
            my $re = $block->response_body_like;
            $re = qr/$re/s unless ref $re;
            like($body, $re, "$name - response_body_like - response is expected");
        }

        for my $check (@ResponseBodyChecks) {
            $check->($block, $body, 0, $rep, 0);
        }
    }

    sleep($block->wait) if $block->wait;

    my $signal = stop_nginx();

    my $log = slurp("$ServRoot/logs/error.log");
    check_logs($block, $log);

    # the plan: every block proves something of its own
    ok(Test::More->builder->current_test > $tests_before,
       "$name - the block makes at least one assertion");

    ok(!$signal, "$name - nginx did not die of a signal" . ($signal ? " ($signal)" : ''));
    for my $default (@DefaultNoErrorLog) {
        for my $pat ($default->($block)) {
            my $found = ref $pat ? ($log =~ $pat) : index($log, $pat) >= 0;
            ok(!$found, "$name - pattern \"$pat\" should not match any line in error.log")
                or diag(join '', grep { ref $pat ? $_ =~ $pat : index($_, $pat) >= 0 }
                                 split /^/, $log);
        }
    }
}

sub run_tests () {
    my @blocks = blocks();
    my @only = grep { defined $_->ONLY } @blocks;
    @blocks = @only if @only;

    for my $block (@blocks) {
        run_test($block);
    }

    stop_nginx();
    $_->() for @CleanupHandlers;
}

END {
    stop_nginx() if $NginxPid;
}

1;
