package Kefu::Faults;

# Faults for the chaos tests (t/06x-*.t), kept general so that any test can
# use them:
#
#   redis_server(%opt)   a Redis of the test's own, to flush, pause, sleep,
#                        stop and start: ->port, ->cli(@args), ->start,
#                        ->stop, ->wait
#   tcp_proxy($port)     a TCP proxy (a child process) in front of a port:
#                        ->port, ->freeze(qr//) stops forwarding on the
#                        connections whose client sent something matching
#                        (they stay open: no RST, no FIN), ->thaw, ->stop;
#                        new connections always pass
#   traffic(...)         visitors and agents in conversations, on the given
#                        hosts, sending rounds of messages and checking
#                        what each participant received (see below)
#   status($port)        the kefu_status JSON of a host
#
# Every wait is bounded and waits for the event itself.

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use IO::Select;
use IO::Socket::INET;
use Socket;
use POSIX ();
use Time::HiRes qw(time sleep);
use Kefu::WS qw(json_dec);
use Kefu::Net ();
use Kefu::Route qw(agent visitor wait_for uniq_group);
use Kefu::Chaos ();

our @EXPORT = qw(redis_server tcp_proxy traffic status free_port redis_links_ready);

# the chaos tests' one port picker: Kefu::Chaos's (a copy here before)
*free_port = \&Kefu::Chaos::free_port;

# ---------------------------------------------------------------- Redis

sub redis_server {
    my (%o) = @_;
    my $self = bless { port => free_port(), dir => tempdir(CLEANUP => 1),
                       args => $o{args} // '', owner => $$ },
                     'Kefu::Faults::Redis';
    $self->start;
    $self->wait or die "redis-server did not start\n";
    return $self;
}

package Kefu::Faults::Redis;

use Time::HiRes qw(sleep);

sub port { $_[0]{port} }

sub start {
    my ($self) = @_;
    system("redis-server --port $self->{port} --bind 127.0.0.1"
           . " --dir $self->{dir} --appendonly yes --save ''"
           . " --daemonize yes --logfile $self->{dir}/redis.log"
           . " --pidfile $self->{dir}/redis.pid"
           . " --enable-debug-command local $self->{args}") == 0
        or die "redis-server: $?";
    $self->{running} = 1;
}

sub cli {
    my ($self, @args) = @_;
    my $c = join ' ', map { "'$_'" } @args;
    my @out = `redis-cli -p $self->{port} $c 2>&1`;
    chomp @out;
    return wantarray ? @out : $out[0];
}

sub wait {
    my ($self) = @_;
    for (1 .. 200) {
        return 1 if ($self->cli('ping') // '') eq 'PONG';
        sleep 0.05;
    }
    return 0;
}

sub stop {
    my ($self) = @_;
    return unless $self->{running} && $$ == $self->{owner};
    $self->cli('shutdown', 'nosave');
    for (1 .. 200) { last unless -e "$self->{dir}/redis.pid"; sleep 0.05 }
    $self->{running} = 0;
}

# at the end of the test the exit status must stay the tests' own
sub DESTROY { local $?; $_[0]->stop }

package Kefu::Faults;

# ---------------------------------------------------------------- proxy

sub tcp_proxy {
    my ($to) = @_;
    my $l = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 128, ReuseAddr => 1)
        or die "proxy listen: $!";
    socketpair(my $parent, my $child, AF_UNIX, SOCK_STREAM, PF_UNSPEC)
        or die "socketpair: $!";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        close $parent;
        eval { _proxy_loop($l, $to, $child) };
        POSIX::_exit(0);
    }
    close $child;
    $parent->autoflush(1);
    my $self = bless { port => $l->sockport, pid => $pid, ctl => $parent,
                       owner => $$ }, 'Kefu::Faults::Proxy';
    close $l;
    return $self;
}

sub _proxy_loop {
    my ($l, $to, $ctl) = @_;
    $ctl->autoflush(1);
    my (%peer, %seen, %frozen, %client, %by);
    my $sel = IO::Select->new($l, $ctl);
    my $close = sub {
        my ($s) = @_;
        my $p = $peer{$s} or return;
        for ($s, $p) {
            $sel->remove($_);
            delete $peer{$_}; delete $seen{$_}; delete $frozen{$_};
            delete $client{$_};
            close $_;
        }
    };
    while (1) {
        for my $s ($sel->can_read(1)) {
            if ($s == $l) {
                my $c = $l->accept or next;
                my $u = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                              PeerPort => $to) or do { close $c; next };
                $peer{$c} = $u; $peer{$u} = $c;
                $client{$c} = 1;
                $seen{$c} = '';
                $by{$c} = $c; $by{$u} = $u;
                $sel->add($c, $u);
                next;
            }
            if ($s == $ctl) {
                my $line = <$ctl>;
                return unless defined $line;
                chomp $line;
                my ($cmd, $arg) = split / /, $line, 2;
                my $n = 0;
                if ($cmd eq 'freeze') {
                    my $re = qr/$arg/;
                    for my $c (grep { $client{$_} } keys %peer) {
                        next unless $seen{$c} =~ $re;
                        my ($cs, $us) = ($by{$c}, $peer{$by{$c}});
                        for ($cs, $us) { $frozen{$_} = 1; $sel->remove($_) }
                        $n++;
                    }
                } elsif ($cmd eq 'thaw') {
                    for (keys %frozen) { $sel->add($by{$_}) if $peer{$by{$_}}; $n++ }
                    %frozen = ();
                } elsif ($cmd eq 'count') {
                    $n = grep { $client{$_} } keys %peer;
                }
                print $ctl "$n\n";
                next;
            }
            next if $frozen{$s} || !$peer{$s};
            my $r = sysread($s, my $buf, 65536);
            if (!$r) { $close->($s); next }
            if ($client{$s} && length $seen{$s} < 65536) {
                $seen{$s} .= $buf;
            }
            my $p = $peer{$s};
            my $off = 0;
            while ($off < length $buf) {
                my $w = syswrite($p, $buf, length($buf) - $off, $off);
                if (!defined $w) { $close->($s); last }
                $off += $w;
            }
        }
    }
}

package Kefu::Faults::Proxy;

sub port { $_[0]{port} }

sub _ctl {
    my ($self, $line) = @_;
    my $c = $self->{ctl};
    print $c "$line\n";
    my $n = <$c>;
    chomp $n if defined $n;
    return $n;
}

# freeze the connections whose client sent bytes matching the pattern (a
# string given to qr//); returns how many
sub freeze { $_[0]->_ctl("freeze $_[1]") }
sub thaw   { $_[0]->_ctl('thaw') }
sub count  { $_[0]->_ctl('count') }

sub stop {
    my ($self) = @_;
    return unless $self->{pid} && $$ == $self->{owner};
    kill 'KILL', $self->{pid};
    waitpid $self->{pid}, 0;
    $self->{pid} = 0;
}

sub DESTROY { local $?; $_[0]->stop }

package Kefu::Faults;

# ---------------------------------------------------------------- hosts

# until an error log (info level) shows $n Redis connections ready: a host
# answers before its workers' links are (at most 10 s)
sub redis_links_ready {
    my ($log, $n) = @_;
    for (1 .. 200) {
        my $k = 0;
        if (open my $fh, '<', $log) {
            /$Kefu::Net::LinkReady/ and $k++ while <$fh>;
        }
        return 1 if $k >= $n;
        sleep 0.05;
    }
    return 0;
}

# ---------------------------------------------------------------- status

sub status {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 5) or return undef;
    print $s "GET /kefu/status HTTP/1.0\r\nHost: localhost\r\n\r\n";
    local $/;
    my $r = <$s>;
    return undef unless defined $r && $r =~ /\r\n\r\n(.*)\z/s;
    return eval { json_dec($1) };
}

# ---------------------------------------------------------------- traffic

# traffic(ports => [visitors' host ports], agent_ports => [..], pairs => N,
#         redis => a redis_server() to check the conversations in)
#
# N agents (online, capacity 1, one group) and N visitors, each visitor's
# conversation assigned to one agent: two participants per conversation,
# on the hosts given (a visitor's port and its agent's port taken in turn).
# ->round sends one message from every participant; ->settle resends what
# got "unavailable" (same cid) until everything is acknowledged;
# ->check waits until every participant got every acknowledged message of
# the other, then reports exactly-once and order (Test::More).
sub traffic {
    my (%o) = @_;
    my $g = uniq_group('chaos');
    my $r = int rand 1e6;
    my @vp = @{ $o{ports} };
    my @ap = @{ $o{agent_ports} // $o{ports} };
    my $self = bless { convs => {}, parts => [], round => 0,
                       redis => $o{redis} }, 'Kefu::Faults::Traffic';
    my @agents;
    for my $i (0 .. $o{pairs} - 1) {
        my $id = "ca$i-$r";
        my ($ws) = agent($id, groups => [$g], capacity => 1,
                         status => 'online', port => $ap[$i % @ap]);
        push @agents, { ws => $ws, id => $id, role => 'agent' };
    }
    my %agent = map { $_->{id} => $_ } @agents;
    for my $i (0 .. $o{pairs} - 1) {
        my ($ws, $w, $ack, $n) = visitor($g, port => $vp[$i % @vp],
                                         text => "hello $i");
        die "visitor $i: no conversation\n" unless $n && $n->{agent};
        my $v = { ws => $ws, id => $w->{id}, role => 'visitor',
                  conv => $ack->{conv} };
        my $a = $agent{ $n->{agent}{id} } or die "visitor $i: unknown agent\n";
        $a->{conv} = $ack->{conv};
        $v->{acked} = { first => $ack->{seq} };
        $v->{order} = ['first'];
        $v->{other} = $a; $a->{other} = $v;
        $self->{convs}{ $ack->{conv} } = [$v, $a];
        push @{ $self->{parts} }, $v, $a;
    }
    for my $p (@{ $self->{parts} }) {
        bless $p, 'Kefu::Faults::Part';
        $p->{acked} //= {};
        $p->{order} //= [];
        $p->{got} = [];
        $p->{pending} = {};
        # what was read before: the agent's conv notice, replays
        $p->_take($_) for @{ delete $p->{ws}{skipped} // [] };
    }
    return $self;
}

package Kefu::Faults::Traffic;

use Time::HiRes qw(time sleep);
use IO::Select;

sub parts { @{ $_[0]{parts} } }

# the moment of the fault: check() tells how long after it everything was
# delivered (a figure for the docs, never asserted)
sub fault { $_[0]{fault_at} = time }

# one message from everyone
sub round {
    my ($self) = @_;
    my $k = ++$self->{round};
    for my $p ($self->parts) {
        my $cid = "$p->{role}-$k";
        $p->{pending}{$cid} = 0;
        push @{ $p->{order} }, $cid;
        $p->send_msg($cid);
    }
    $self->pump(0);
}

# reads whatever arrived, for at most $t seconds
sub pump {
    my ($self, $t) = @_;
    my $deadline = time + $t;
    my $sel = IO::Select->new(map { $_->{ws}->sock } $self->parts);
    while (1) {
        my $any = 0;
        for my $p ($self->parts) {
            while (my $m = $p->{ws}->recv_json(0.001)) {
                $p->_take($m);
                $any = 1;
            }
        }
        $self->_resend;
        my $left = $deadline - time;
        last if $left <= 0;
        next if $any;
        $sel->can_read($left < 0.2 ? $left : 0.2);
    }
}

sub _resend {
    my ($self) = @_;
    for my $p ($self->parts) {
        for my $cid (keys %{ $p->{pending} }) {
            my $at = $p->{pending}{$cid};
            next unless $at && $at <= time;
            $p->{pending}{$cid} = 0;
            $p->{resent}++;
            $p->send_msg($cid);
        }
    }
}

# until every message sent is acknowledged (resending the refused)
sub settle {
    my ($self, $timeout) = @_;
    my $deadline = time + ($timeout // 30);
    while (time < $deadline) {
        return 1 unless grep { %{ $_->{pending} } } $self->parts;
        $self->pump(0.2);
    }
    for my $p ($self->parts) {
        Test::More::diag("$p->{role} $p->{id}: not acknowledged: "
                         . join(' ', sort keys %{ $p->{pending} }))
            if %{ $p->{pending} };
    }
    return 0;
}

# the acknowledged messages of each participant's peer, all received?
sub _complete {
    my ($self) = @_;
    for my $p ($self->parts) {
        my %got = map { $_->{cid} => 1 } @{ $p->{got} };
        for my $cid (keys %{ $p->{other}{acked} }) {
            return 0 unless $got{$cid};
        }
    }
    return 1;
}

# how many times a participant was told "unavailable"
sub unavailable {
    my $n = 0;
    $n += $_->{unavailable} // 0 for $_[0]->parts;
    return $n;
}

sub check {
    my ($self, $name, $timeout) = @_;
    my $deadline = time + ($timeout // 30);
    Test::More::ok($self->settle($timeout), "$name: every message acknowledged");
    while (time < $deadline && !$self->_complete) {
        $self->pump(0.05);
    }
    Test::More::note(sprintf("%s: everything delivered %.2f s after the fault",
                             $name, time - $self->{fault_at}))
        if $self->{fault_at};
    # whatever was delivered before a pong is in, duplicates included
    my $n = 0;
    for my $p ($self->parts) {
        $p->{ws}->send_json({type => 'ping', id => "end-$n"});
        $n++;
    }
    $n = 0;
    for my $p ($self->parts) {
        my $id = "end-" . $n++;
        my $end = time + 10;
        while (time < $end) {
            my $m = $p->{ws}->recv_json(1) or next;
            last if ($m->{type} // '') eq 'pong' && ($m->{id} // '') eq $id;
            $p->_take($m);
        }
    }
    my ($missing, $dups, $disorder, $foreign, $closed) = (0, 0, 0, 0, 0);
    for my $p ($self->parts) {
        $closed++ if $p->{closed};
        my %want = %{ $p->{other}{acked} };
        my (%seen, $last);
        for my $m (@{ $p->{got} }) {
            $dups++ if $seen{ $m->{cid} }++;
            $disorder++ if defined $last && $m->{seq} <= $last;
            $last = $m->{seq};
            if (!exists $want{ $m->{cid} }) {
                $foreign++;
            } elsif ($want{ $m->{cid} } != $m->{seq}) {
                $foreign++;
            }
        }
        $missing += grep { !$seen{$_} } keys %want;
    }
    if (my $r = $self->{redis}) {
        # no conversation lost, duplicated or stuck: each is still open,
        # with its agent, its seq at the last message
        my $bad = 0;
        for my $conv (sort keys %{ $self->{convs} }) {
            my ($v, $ag) = @{ $self->{convs}{$conv} };
            my ($state, $agent, $seq) = $r->cli('hmget', "kefu:{c:$conv}",
                                                'state', 'agent', 'seq');
            my $max = 0;
            for (values %{ $v->{acked} }, values %{ $ag->{acked} }) {
                $max = $_ if $_ > $max;
            }
            next if ($state // '') eq 'open' && ($agent // '') eq $ag->{id}
                    && ($seq // 0) >= $max;
            Test::More::diag("$conv: " . join(' ', map { $_ // '-' } $state, $agent, $seq)
                             . " (last acknowledged $max)");
            $bad++;
        }
        Test::More::is($bad, 0, "$name: every conversation still open, with its agent, its seq past every message");
    }
    Test::More::is($closed, 0, "$name: no participant was disconnected");
    Test::More::is($missing, 0, "$name: every acknowledged message delivered");
    Test::More::is($dups, 0, "$name: none twice");
    Test::More::is($disorder, 0, "$name: in order");
    Test::More::is($foreign, 0, "$name: nothing that was not acknowledged as sent");
}

package Kefu::Faults::Part;

use Time::HiRes qw(time);

# a participant: {ws, id, role, conv, other, acked, order, got, pending}

sub send_msg {
    my ($p, $cid) = @_;
    $p->{ws}->send_json({type => 'msg', conv => $p->{conv}, cid => $cid,
                         text => "$p->{id} $cid"});
}

sub _take {
    my ($p, $m) = @_;
    return unless ref $m eq 'HASH';
    if ($m->{_close}) { $p->{closed} = 1; return }
    my $t = $m->{type} // '';
    if ($t eq 'ack' && exists $p->{pending}{ $m->{cid} }) {
        delete $p->{pending}{ $m->{cid} };
        $p->{acked}{ $m->{cid} } = $m->{seq};
    } elsif ($t eq 'error' && defined $m->{cid}
             && exists $p->{pending}{ $m->{cid} }) {
        die "$p->{id}: $m->{code} $m->{message}\n"
            unless ($m->{code} // '') eq 'unavailable';
        $p->{unavailable}++;
        $p->{pending}{ $m->{cid} } = time + 0.2;
    } elsif ($t eq 'msg' && ($m->{conv} // '') eq ($p->{conv} // '')
             && defined $m->{cid}) {
        push @{ $p->{got} }, { cid => $m->{cid}, seq => $m->{seq} };
    }
}

1;
