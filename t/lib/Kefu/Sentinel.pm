package Kefu::Sentinel;

# A Redis Sentinel set-up of the test's own, on free loopback ports: a
# master, a replica (or more) and three Sentinels (Debian's
# redis-sentinel), quorum 2, a master taken for down after one second.
#
#   my $s = Kefu::Sentinel->new;      # everything up, the Sentinels know
#                                     # the replica and each other
#   Kefu::Sentinel->new(replicas => 2)
#   $s->name; $s->sentinel_ports; $s->master_port; $s->replica_port
#   $s->asked_master                  # the master's port, as a Sentinel says
#   $s->kill_master                   # SIGKILL of the current master
#   $s->wait_switch($old_port)        # until a Sentinel names another one
#   $s->replica->stop / ->start       # Kefu::Net::RedisServer
#   $s->stop_sentinel($i)             # the i-th (from 0), until it is gone
#   $s->stop
#
# Every wait is bounded and waits for the event itself.

use strict;
use warnings;

use Kefu::Net qw(free_port redis redis_server);
use File::Temp qw(tempdir);
use Time::HiRes qw(sleep time);

# stopped at the latest when the file ends, before File::Temp removes the
# directories that hold their pid files
our @Started;
END { $_ && $_->stop for reverse @Started }

sub new {
    my ($class, %opt) = @_;
    my $self = bless {name => 'kefu' . $$ . 'x' . int(rand 1e6),
                      sentinels => []}, $class;
    push @Started, $self;

    my $n = $opt{replicas} // 1;
    $self->{master} = redis_server();
    $self->{replicas} = [map { redis_server(replicaof => '127.0.0.1 ' . $self->{master}->port) } 1 .. $n];
    $self->{replica} = $self->{replicas}[0];
    $self->_until('the replicas in sync', sub {
        my $info = redis(port => $self->{master}->port, 'INFO', 'replication');
        my $online = () = $info =~ /slave\d+:.*state=online/g;
        $online == $n;
    });

    for (1 .. 3) {
        push @{ $self->{sentinels} }, $self->_sentinel;
    }

    # a failover needs the replica and a majority of Sentinels known
    for my $p ($self->sentinel_ports) {
        $self->_until("Sentinel $p knows the replica and the other Sentinels", sub {
            my $r = redis(port => $p, 'SENTINEL', 'replicas', $self->{name});
            my $o = redis(port => $p, 'SENTINEL', 'sentinels', $self->{name});
            @$r == $n && @$o == 2;
        });
    }
    return $self;
}

sub _until {
    my ($self, $what, $cond) = @_;
    my $deadline = time + 60;
    while (time < $deadline) {
        my $ok = eval { $cond->() };
        return 1 if $ok;
        sleep 0.1;
    }
    die "Sentinel set-up: $what: not within 60 s\n";
}

sub _sentinel {
    my ($self) = @_;
    my $dir = tempdir(CLEANUP => 1);
    for (1 .. 10) {
        my $port = free_port();
        open my $fh, '>', "$dir/sentinel.conf" or die "$dir: $!\n";
        print $fh join "\n",
            "port $port", 'bind 127.0.0.1', 'daemonize yes',
            "pidfile $dir/sentinel.pid", "logfile $dir/sentinel.log",
            "dir $dir",
            "sentinel monitor $self->{name} 127.0.0.1 " . $self->{master}->port . ' 2',
            "sentinel down-after-milliseconds $self->{name} 1000",
            "sentinel failover-timeout $self->{name} 10000",
            "sentinel parallel-syncs $self->{name} 1", '';
        close $fh;
        unlink "$dir/sentinel.pid";
        system('redis-sentinel', "$dir/sentinel.conf") == 0
            or die "redis-sentinel: $?\n";
        my $deadline = time + 20;
        while (time < $deadline) {
            if (eval { redis(port => $port, 'PING') }) {
                my $pid = _read_pid("$dir/sentinel.pid");
                return {port => $port, dir => $dir, pid => $pid};
            }
            last if !-e "$dir/sentinel.pid" && _log("$dir/sentinel.log") =~ /Address already in use/;
            sleep 0.05;
        }
    }
    die "redis-sentinel did not start\n";
}

sub _read_pid {
    my ($file) = @_;
    for (1 .. 100) {
        if (open my $fh, '<', $file) {
            my $pid = <$fh>;
            if (defined $pid && $pid =~ /^(\d+)/) { return $1 }
        }
        sleep 0.05;
    }
    return undef;
}

sub _log {
    my ($file) = @_;
    open my $fh, '<', $file or return '';
    local $/;
    return <$fh> // '';
}

sub name { $_[0]{name} }
sub sentinel_ports { map { $_->{port} } @{ $_[0]{sentinels} } }
sub master { $_[0]{master} }
sub replica { $_[0]{replica} }
sub master_port { $_[0]{master}->port }
sub replica_port { $_[0]{replica}->port }
sub replica_ports { map { $_->port } @{ $_[0]{replicas} } }

# the master's port as the first Sentinel that answers names it
sub asked_master {
    my ($self) = @_;
    return $self->asked_master_from(map { $_->{port} } grep { $_->{pid} } @{ $self->{sentinels} });
}

# SIGKILL of the current master: no shutdown, no last write
sub kill_master {
    my ($self) = @_;
    my $port = $self->asked_master;
    my ($srv) = grep { $_->port == $port } $self->{master}, @{ $self->{replicas} };
    my $pid = $srv->pid or die "no pid for the master\n";
    kill 'KILL', $pid;
    my $deadline = time + 20;
    while (time < $deadline && kill 0, $pid) { sleep 0.02 }
    delete $srv->{pid};
    unlink $srv->dir . '/redis.pid';
    return $port;
}

# until a Sentinel names a master other than $old; the new port
sub wait_switch {
    my ($self, $old) = @_;
    my $deadline = time + 90;
    while (time < $deadline) {
        my $p = $self->asked_master;
        return $p if defined $p && $p != $old;
        sleep 0.05;
    }
    die "no failover within 90 s\n";
}

sub stop_sentinel {
    my ($self, $i) = @_;
    my $s = $self->{sentinels}[$i] or return;
    return unless $s->{pid};
    kill 'TERM', $s->{pid};
    my $deadline = time + 20;
    while (time < $deadline && kill 0, $s->{pid}) { sleep 0.02 }
    delete $s->{pid};
}

sub asked_master_from {
    my ($self, @ports) = @_;
    for my $p (@ports) {
        my $r = eval { redis(port => $p, 'SENTINEL', 'get-master-addr-by-name', $self->{name}) };
        return $r->[1] if $r && @$r == 2;
    }
    return undef;
}

sub stop {
    my ($self) = @_;
    $self->stop_sentinel($_) for 0 .. $#{ $self->{sentinels} };
    $_ && $_->stop for @{ $self->{replicas} || [] }, $self->{master};
}

1;
