package Kefu::FakeRedis;

# A stand-in for a Redis that restarts and loads its data: it passes every
# connection through to a real Redis until ->loading(1); then it drops
# every connection (the restart) and answers each command of the new ones
# "-LOADING ...", as a Redis reading its data does, until ->loading(0),
# from when new connections pass through again.  The test decides when
# loading ends: nothing depends on how fast the machine is.
#
#   my $fake = fake_redis($real_port);   # ->port, ->loading(1|0), ->stop

use strict;
use warnings;

use Exporter 'import';
use IO::Socket::INET ();
use IO::Select ();
use File::Temp qw(tempfile);
use Time::HiRes qw(sleep time);
use Kefu::Net qw(free_port);

our @EXPORT = qw(fake_redis);

sub fake_redis {
    my ($upstream) = @_;
    my ($listen, $port);
    for (1 .. 20) {
        $port = free_port();
        $listen = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => $port,
                                        Listen => 64) and last;
    }
    die "fake redis: no port\n" unless $listen;
    my (undef, $count_file) = tempfile(UNLINK => 1);
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        _serve($listen, $upstream, $count_file);
        POSIX::_exit(0);
    }
    close $listen;
    return bless {pid => $pid, port => $port, count => $count_file}, __PACKAGE__;
}

sub port { $_[0]{port} }

# loading(1): restart and load; loading(0): loaded.  Returns once the
# server has switched.
sub loading {
    my ($self, $on) = @_;
    my $want = ($on ? 'loading' : 'serving');
    unlink "$self->{count}.state";
    kill($on ? 'USR1' : 'USR2', $self->{pid});
    my $deadline = time + 20;
    while (time < $deadline) {
        if (open my $fh, '<', "$self->{count}.state") {
            my $s = <$fh> // '';
            return 1 if $s eq $want;
        }
        sleep 0.01;
    }
    die "fake redis did not switch to $want\n";
}

sub stop {
    my ($self) = @_;
    return unless $self->{pid};
    kill 'TERM', $self->{pid};
    waitpid($self->{pid}, 0);
    $self->{pid} = undef;
    unlink "$self->{count}.state";
}

sub DESTROY { $_[0]->stop }

# ---- the server (in the child) ----

sub _serve {
    my ($listen, $upstream, $count_file) = @_;
    require POSIX;
    my ($loading, $switch) = (0, undef);
    local $SIG{USR1} = sub { $switch = 1 };
    local $SIG{USR2} = sub { $switch = 0 };
    local $SIG{TERM} = sub { POSIX::_exit(0) };
    local $SIG{PIPE} = 'IGNORE';
    my $sel = IO::Select->new($listen);
    my %peer;      # fileno => [client, upstream or undef, buffer]
    my $drop = sub {
        my ($c) = @_;
        my $p = delete $peer{fileno $c} or return;
        $sel->remove($p->[0]);
        close $p->[0];
        if ($p->[1]) { delete $peer{fileno $p->[1]}; $sel->remove($p->[1]); close $p->[1] }
    };
    my $state = sub {
        open my $fh, '>', "$count_file.state" or return;
        print $fh $_[0];
        close $fh;
    };
    while (1) {
        if (defined $switch) {
            $loading = $switch;
            $switch = undef;
            # a restart: every connection goes
            if ($loading) { $drop->($_->[0]) for grep { !$_->[3] && defined fileno $_->[0] } values %peer }
            # loaded: the connections made meanwhile work from now on
            if (!$loading) {
                for my $p (grep { !$_->[3] && !$_->[1] } values %peer) {
                    my $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $upstream)
                        or next;
                    $p->[1] = $u;
                    $peer{fileno $u} = [$u, $p->[0], '', 1];
                    $sel->add($u);
                    syswrite($u, $p->[2]) if length $p->[2];
                    $p->[2] = '';
                }
            }
            $state->($loading ? 'loading' : 'serving');
        }
        my @ready = $sel->can_read(0.02);
        for my $fh (@ready) {
            if ($fh == $listen) {
                my $c = $listen->accept or next;
                my $u;
                if (!$loading) {
                    $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $upstream)
                        or do { close $c; next };
                    $peer{fileno $u} = [$u, $c, '', 1];
                    $sel->add($u);
                }
                $peer{fileno $c} = [$c, $u, ''];
                $sel->add($c);
                next;
            }
            # one dropped earlier in this round has no fileno any more
            my $fd = fileno $fh;
            next unless defined $fd;
            my $p = $peer{$fd} or next;
            my $n = sysread($fh, my $buf, 65536);
            if (!$n) { $drop->($p->[3] ? $p->[1] : $fh); next }
            if ($p->[1]) {
                # passing through, either way
                syswrite($p->[1], $buf);
                next;
            }
            # loading: every complete command gets -LOADING
            $p->[2] .= $buf;
            while (defined(my $len = _command_length($p->[2]))) {
                substr($p->[2], 0, $len, '');
                syswrite($fh, "-LOADING Redis is loading the dataset in memory\r\n");
            }
        }
    }
}

# the length of the first complete RESP command in the buffer, or undef
sub _command_length {
    my ($b) = @_;
    if ($b !~ /^\*/) {
        my $i = index($b, "\r\n");
        return $i < 0 ? undef : $i + 2;       # an inline command
    }
    my $i = index($b, "\r\n");
    return undef if $i < 0;
    my $n = substr($b, 1, $i - 1);
    my $pos = $i + 2;
    for (1 .. $n) {
        my $j = index($b, "\r\n", $pos);
        return undef if $j < 0;
        my $len = substr($b, $pos + 1, $j - $pos - 1);
        $pos = $j + 2 + $len + 2;
        return undef if $pos > length $b;
    }
    return $pos;
}

1;
