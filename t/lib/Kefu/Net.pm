package Kefu::Net;

# The tests' one way to pick a free port and their one way to talk to
# Redis, plus a private Redis server for the files that stop, pause or fake
# theirs.
#
#   free_port()                    a free loopback port
#   free_port('TEST_NGINX_X_PORT') the same, kept in that environment
#                                  variable and picked again by
#                                  repick_ports() (the bundled runner does
#                                  so when nginx finds a port taken)
#   redis(@command)                one command on the tests' Redis
#   redis(port => N, @command)     on another one
#   redis_port_of($key)            the port serving the key (a cluster's
#                                  master of its slot)
#   redis_many([@command], ...)    many commands of one key each (its
#                                  first argument), pipelined: on a
#                                  cluster to each key's master
#   redis_server()                 a Redis of the test's own on a free port
#   redis_monitor($port)           MONITOR on that Redis (a cluster's:
#                                  redis_port_of a key): ->read the
#                                  commands it runs from then on, parsed
#   $Kefu::Net::LinkReady          a line of nginx's error log saying one
#                                  of a worker's Redis links is ready

use strict;
use warnings;

use Exporter 'import';
use IO::Socket::INET ();
use IO::Select ();
use Errno ();
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);

our @EXPORT = qw(free_port redis redis_many redis_server redis_monitor repick_ports);

# A worker has two Redis links: its commands' and its pub/sub's, named
# "commands" and "pub/sub" on one Redis (or its master's address through
# Sentinel).  On a cluster the commands go over a link a master, named by
# its address, and the pub/sub over a sharded link a master, which says
# "<address> sharded pub/sub connection ready": on a one-node cluster
# (scripts/test --cluster) the same two a worker.  A count of "\S+
# connection ready" alone saw one there, and every wait for two a worker
# ran to its timeout (20 s a block).
our $LinkReady = qr/kefu: redis \S+ (?:sharded pub\/sub )?connection ready/;

# Ports are picked below the kernel's ephemeral range, so that no outgoing
# connection (of this test, of nginx, of anyone's build) takes the port
# between the pick and the bind.  A port can still be taken by another
# test picking at the same moment: whoever binds it then retries with
# another (the runner for nginx, redis_server for Redis).
my ($Low, $High) = (10000, 32000);
if (open my $fh, '<', '/proc/sys/net/ipv4/ip_local_port_range') {
    my ($lo) = split ' ', scalar <$fh>;
    $High = $lo if $lo && $lo > $Low + 2000 && $lo < $High;
}

my %Given;          # ports this process already handed out
my %Named;          # environment variable => 1

sub free_port {
    my ($env) = @_;
    for (1 .. 200) {
        my $port = $Low + int rand($High - $Low);
        next if $Given{$port};
        my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => $port, Listen => 1)
            or next;
        close $s;
        $Given{$port} = 1;
        if (defined $env) {
            $ENV{$env} = $port;
            $Named{$env} = 1;
        }
        return $port;
    }
    die "no free port found\n";
}

# every port given a name gets a new one (after a bind failed)
sub repick_ports {
    free_port($_) for keys %Named;
}

# One Redis command over RESP: the reply (arrays as array refs, nil as
# undef); an error reply dies with its text.  No shell, no quoting: any
# byte string is an argument.
sub redis {
    my @cmd = @_;
    my $port = $ENV{TEST_NGINX_REDIS_PORT};
    if (@cmd > 2 && $cmd[0] eq 'port') { (undef, $port, @cmd) = @cmd }
    die "redis: no port (TEST_NGINX_REDIS_PORT)\n" unless $port;
    # a cluster (scripts/test --cluster3): KEYS of one hash tag asked of
    # that tag's master, any other KEYS of every master (the seed knows
    # only its own keys); MOVED and ASK followed, a few times at most
    if ($ENV{TEST_NGINX_REDIS_CLUSTER} && $port eq ($ENV{TEST_NGINX_REDIS_PORT} // '')
        && @cmd == 2 && lc $cmd[0] eq 'keys') {
        return _redis(_master_of(key_slot("{$1}"), $port), undef, @cmd)
            if $cmd[1] =~ /^[^{*?\[]*\{([^}*?\[]+)\}/;
        my %masters = map { $_->[2] => 1 } @{ _slot_ranges($port) };
        return [map { @{ _redis($_, undef, @cmd) || [] } } sort keys %masters];
    }
    for my $hop (1 .. 5) {
        my $reply = eval { _redis($port, undef, @cmd) };
        return $reply unless $@;
        my $err = $@;
        if ($err =~ /^redis: MOVED \d+ \S*:(\d+)/) { $port = $1; next }
        if ($err =~ /^redis: ASK \d+ \S*:(\d+)/) {
            return _redis($1, 'ASKING', @cmd);
        }
        die $err;
    }
    die "redis: redirected too often\n";
}

# Many commands, one key each (the first argument), pipelined on one
# connection per master: on a cluster (TEST_NGINX_REDIS_CLUSTER) each goes
# to its key's master as CLUSTER SLOTS says (a test that writes thousands
# of keys, where redis-cli --pipe would send them all to the seed).  The
# replies in the commands' order; an error reply dies with its text.
sub redis_many {
    my @cmds = @_;
    my $seed = $ENV{TEST_NGINX_REDIS_PORT};
    die "redis: no port (TEST_NGINX_REDIS_PORT)\n" unless $seed;
    my %by_port;
    if ($ENV{TEST_NGINX_REDIS_CLUSTER}) {
        my $ranges = _slot_ranges($seed);
        for my $i (0 .. $#cmds) {
            push @{ $by_port{_master_of(key_slot($cmds[$i][1]), $seed, $ranges)} }, $i;
        }
    } else {
        $by_port{$seed} = [0 .. $#cmds];
    }
    my @replies;
    for my $port (keys %by_port) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                      Timeout => 5) or die "redis: $!\n";
        local $SIG{PIPE} = 'IGNORE';
        my $r = {sock => $s, buf => '', deadline => time + 60};
        # in batches, so that neither side's buffers fill up
        my @idx = @{ $by_port{$port} };
        while (my @batch = splice @idx, 0, 1000) {
            my $req = '';
            for my $cmd (map { $cmds[$_] } @batch) {
                $req .= '*' . @$cmd . "\r\n";
                for (@$cmd) {
                    my $a = $_;
                    utf8::encode($a) if utf8::is_utf8($a);
                    $req .= '$' . length($a) . "\r\n$a\r\n";
                }
            }
            my $off = 0;
            while ($off < length $req) {
                my $n = syswrite($s, $req, length($req) - $off, $off);
                die "redis: write: $!\n" unless defined $n;
                $off += $n;
            }
            $replies[$_] = _resp($r) for @batch;
        }
        close $s;
    }
    return @replies;
}

# the port of the tests' Redis that serves a key (or a sharded channel):
# on a cluster its slot's master, else the one Redis
sub redis_port_of {
    my ($key) = @_;
    my $seed = $ENV{TEST_NGINX_REDIS_PORT};
    return $seed unless $ENV{TEST_NGINX_REDIS_CLUSTER};
    return _master_of(key_slot($key), $seed);
}

# CLUSTER SLOTS as [first, last, master's port]
sub _slot_ranges {
    my ($seed) = @_;
    return [map { [$_->[0], $_->[1], $_->[2][1]] } @{ _redis($seed, undef, 'CLUSTER', 'SLOTS') }];
}

sub _master_of {
    my ($slot, $seed, $ranges) = @_;
    $ranges //= _slot_ranges($seed);
    my ($r) = grep { $slot >= $_->[0] && $slot <= $_->[1] } @$ranges;
    die "redis: slot $slot has no master\n" unless $r;
    return $r->[2];
}

# a key's cluster slot: CRC16 (XMODEM) of its hash tag, or of the key
sub key_slot {
    my ($key) = @_;
    $key = $1 if $key =~ /^[^{]*\{([^}]+)\}/;
    my $crc = 0;
    for my $byte (unpack 'C*', $key) {
        $crc ^= $byte << 8;
        for (1 .. 8) {
            $crc = $crc & 0x8000 ? (($crc << 1) ^ 0x1021) & 0xffff : ($crc << 1) & 0xffff;
        }
    }
    return $crc % 16384;
}

sub _redis {
    my ($port, $first, @cmd) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 5) or die "redis: $!\n";
    my $req = $first ? "*1\r\n\$" . length($first) . "\r\n$first\r\n" : '';
    $req .= '*' . @cmd . "\r\n";
    for (@cmd) {
        my $a = $_;
        utf8::encode($a) if utf8::is_utf8($a);
        $req .= '$' . length($a) . "\r\n$a\r\n";
    }
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $req) {
        my $n = syswrite($s, $req, length($req) - $off, $off);
        die "redis: write: $!\n" unless defined $n;
        $off += $n;
    }
    my $r = {sock => $s, buf => '', deadline => time + 30};
    _resp($r) if $first;
    my $reply = _resp($r);
    close $s;
    return $reply;
}

sub _fill {
    my ($r) = @_;
    my $left = $r->{deadline} - time;
    die "redis: no reply within 30 s\n"
        if $left <= 0 || !IO::Select->new($r->{sock})->can_read($left);
    my $n = sysread($r->{sock}, $r->{buf}, 65536, length $r->{buf});
    die "redis: connection closed\n" unless $n;
}

sub _line {
    my ($r) = @_;
    while ((my $i = index($r->{buf}, "\r\n")) < 0) { _fill($r) }
    my $i = index($r->{buf}, "\r\n");
    my $line = substr($r->{buf}, 0, $i);
    substr($r->{buf}, 0, $i + 2, '');
    return $line;
}

sub _resp {
    my ($r) = @_;
    my $line = _line($r);
    my ($t, $v) = (substr($line, 0, 1), substr($line, 1));
    return $v if $t eq '+' || $t eq ':';
    die "redis: $v\n" if $t eq '-';
    if ($t eq '$') {
        return undef if $v < 0;
        _fill($r) while length $r->{buf} < $v + 2;
        my $data = substr($r->{buf}, 0, $v);
        substr($r->{buf}, 0, $v + 2, '');
        return $data;
    }
    if ($t eq '*') {
        return undef if $v < 0;
        return [map { _resp($r) } 1 .. $v];
    }
    die "redis: cannot parse $line\n";
}

# MONITOR on the Redis at $port: every command it runs once this returns
# (its +OK read, so none the test causes after is missed).  On a cluster
# only the master of a key's slot sees that key's commands: pass
# redis_port_of($key).
sub redis_monitor {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 5) or die "monitor: $!\n";
    local $SIG{PIPE} = 'IGNORE';
    my $req = "*1\r\n\$7\r\nMONITOR\r\n";
    syswrite($s, $req) == length $req or die "monitor: write: $!\n";
    my $r = {sock => $s, buf => '', deadline => time + 30};
    my $ok = _resp($r);
    die "monitor: $ok\n" unless $ok eq 'OK';
    # what came with the +OK is already the first commands
    return bless {sock => $s, buf => $r->{buf}}, 'Kefu::Net::Monitor';
}

# scripts/test --cluster and --cluster3: the tests' Redis is a cluster's
# seed, named with "kefu_redis cluster"; scripts/test --sentinel: it is a
# Sentinel set-up's master, named with "kefu_redis sentinel <name> <the
# Sentinels>" (TEST_NGINX_REDIS_SENTINEL).  Every nginx the tests start
# goes through here (a block's, start_host's, a file's own nginx.conf),
# and the tests' Redis is named either as $TEST_NGINX_REDIS_PORT or as its
# number (Perl code that interpolated $ENV{TEST_NGINX_REDIS_PORT}); a
# Redis of the test's own, on another port, is left alone, and so are the
# options after the address
sub cluster_conf {
    my ($text) = @_;
    my $sentinel = $ENV{TEST_NGINX_REDIS_SENTINEL};
    return $text unless ($ENV{TEST_NGINX_REDIS_CLUSTER} || $sentinel) && defined $text;
    my $port = $ENV{TEST_NGINX_REDIS_PORT} // '';
    my $ours = qr/\$TEST_NGINX_REDIS_PORT\b|\$\{TEST_NGINX_REDIS_PORT\}/;
    $ours = qr/$ours|\Q$port\E(?!\d)/ if $port =~ /^\d+\z/;
    if ($ENV{TEST_NGINX_REDIS_CLUSTER}) {
        $text =~ s/kefu_redis\s+(127\.0\.0\.1:(?:$ours))/kefu_redis cluster $1/g;
    } else {
        $text =~ s/kefu_redis\s+127\.0\.0\.1:(?:$ours)(?![\w:])/kefu_redis sentinel $sentinel/g;
    }
    return $text;
}

# A Redis server of the test's own: redis_server(%extra_options) returns an
# object with ->port, ->stop, ->start (again, same port and data), ->log.
# Started on a free port, another one if that one was taken meanwhile.
sub redis_server {
    my (%opt) = @_;
    my $self = bless {dir => tempdir(CLEANUP => 1), opt => \%opt},
                     'Kefu::Net::RedisServer';
    for (1 .. 10) {
        $self->{port} = free_port();
        return $self if $self->start;
    }
    die "redis-server did not start: " . $self->log;
}

package Kefu::Net::Monitor;

# A MONITOR connection (Kefu::Net::redis_monitor).  ->read(%opt) reads
# the commands Redis runs, in order, and returns them, each a hash:
#   cmd     the command, lower case ("fcall", "hset")
#   args    its arguments, unquoted
#   client  who sent it: "127.0.0.1:<port>", or "lua" for a script's
#   lua     1 for a command a script ran (redis.call)
#   call    1 for a script call a client made (FCALL, or EVALSHA on a
#           Redis without functions): args are the function (or sha),
#           the number of keys, the keys, then ARGV
#   line    the line as Redis wrote it
# Options: until => sub { ... } (it gets each command; true stops the
# read after that one, the lines after it kept for the next read),
# quiet => N (stop once nothing came for N seconds), timeout => N (stop
# after N seconds in any case; 20 if not given).  A read that stops on a
# timeout or quiet returns what it read: the test's checks say what is
# missing.  ->close ends it (so does the object's end).

use strict;
use warnings;

use IO::Select ();
use Time::HiRes qw(time);

my %Escape = (n => "\n", r => "\r", t => "\t", a => "\a", b => "\b");

sub read {
    my ($self, %opt) = @_;
    my $deadline = time + ($opt{timeout} // 20);
    my @got;
    while (1) {
        while ($self->{buf} =~ s/^([^\n]*)\n//) {
            my $c = _parse($1) or next;
            push @got, $c;
            return @got if $opt{until} && $opt{until}->($c);
        }
        my $left = $deadline - time;
        last if $left <= 0 || !$self->{sock};
        $left = $opt{quiet} if $opt{quiet} && $opt{quiet} < $left;
        last unless IO::Select->new($self->{sock})->can_read($left);
        sysread($self->{sock}, $self->{buf}, 65536, length $self->{buf}) or last;
    }
    return @got;
}

# a MONITOR line, a RESP simple string:
#   +1700000000.123456 [0 127.0.0.1:5000] "cmd" "arg" ...
# each word quoted as Redis's sdscatrepr() does (\" \\ \n \xhh)
sub _parse {
    my ($line) = @_;
    $line =~ s/\r\z//;
    my ($client, $rest) = $line =~ /^\+\d+\.\d+ \[\d+ (\S+)\] (".*)\z/
        or return undef;
    my @words = map {
        s{\\(?:x([0-9a-fA-F]{2})|(.))}{defined $1 ? chr hex $1 : $Escape{$2} // $2}gesr
    } $rest =~ /"((?:[^"\\]|\\.)*)"/g;
    my $cmd = lc(shift(@words) // '');
    my $lua = $client eq 'lua' ? 1 : 0;
    return {cmd => $cmd, args => \@words, client => $client,
            lua => $lua, call => !$lua && $cmd =~ /^(?:fcall|evalsha)\z/ ? 1 : 0,
            line => $line};
}

sub close {
    my ($self) = @_;
    CORE::close(delete $self->{sock}) if $self->{sock};
}

package Kefu::Net::RedisServer;

use Time::HiRes qw(sleep time);

sub port { $_[0]{port} }
sub dir { $_[0]{dir} }

sub log {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/redis.log" or return '';
    local $/;
    return <$fh> // '';
}

# true once it answers PING (or LOADING); false when it could not bind
sub start {
    my ($self) = @_;
    my @extra = map { ("--$_", $self->{opt}{$_}) } sort keys %{ $self->{opt} };
    unlink "$self->{dir}/redis.pid";
    # only this start's lines: an earlier one's bind failure (another
    # port, or a cluster bus port taken) is not this one's
    my $from = -s "$self->{dir}/redis.log" // 0;
    system('redis-server', '--port', $self->{port}, '--bind', '127.0.0.1',
           '--dir', $self->{dir}, '--appendonly', 'yes', '--save', '',
           '--daemonize', 'yes', '--logfile', "$self->{dir}/redis.log",
           '--pidfile', "$self->{dir}/redis.pid", @extra) == 0
        or die "redis-server: $?\n";
    my $deadline = time + 20;
    while (time < $deadline) {
        my $ok = eval { Kefu::Net::redis(port => $self->{port}, 'PING'); 1 };
        if ($ok || ($@ // '') =~ /LOADING/) {
            # kept: at exit the temporary directory (and its pid file) may
            # be removed before this object is destroyed
            $self->{pid} = $self->pid;
            return 1;
        }
        # a daemonized redis that could not bind exits at once
        return 0 if substr($self->log, $from) =~ /Address already in use/
                    && !-e "$self->{dir}/redis.pid";
        sleep 0.05;
    }
    return 0;
}

sub pid {
    my ($self) = @_;
    open my $fh, '<', "$self->{dir}/redis.pid" or return undef;
    my $pid = <$fh>;
    chomp $pid if defined $pid;
    return $pid;
}

# stops it and waits until the process is gone
sub stop {
    my ($self) = @_;
    my $pid = $self->pid // delete $self->{pid} or return;
    delete $self->{pid};
    kill 'TERM', $pid;
    my $deadline = time + 20;
    while (time < $deadline && kill 0, $pid) { sleep 0.02 }
}

sub DESTROY { $_[0]->stop }

1;
