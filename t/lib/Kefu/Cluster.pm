package Kefu::Cluster;

# A Redis Cluster of the test's own: Debian's redis-server, three masters
# and three replicas on free loopback ports, created with
#   redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes
# and stopped when the object goes away (also when a test dies).
#
#   my $c = Kefu::Cluster->new;            # waits for cluster_state:ok
#   my $c = Kefu::Cluster->attach($port);  # a running one (scripts/test
#                                          # --cluster3's), not stopped
#   $c->ports                              # every node's port
#   $c->master_of_slot($slot)              # port of the slot's master
#   $c->slot('kefu:{s:a}:counts')          # CLUSTER KEYSLOT
#   $c->cmd(@command)                      # one command, on the key's
#                                          # master (first argument)
#   $c->reshard($from_port, $to_port, $n)  # redis-cli --cluster reshard
#   $c->kill_master($port)                 # SIGKILL, its replica promoted
#   $c->wait_ok                            # every live node: state ok

use strict;
use warnings;

use Kefu::Net ();
use File::Temp qw(tempdir);
use IO::Socket::INET ();
use Time::HiRes qw(sleep time);

sub new {
    my ($class, %opt) = @_;
    my $masters = $opt{masters} // 3;
    my $replicas = $opt{replicas} // 1;
    my $self = bless {servers => [], dead => {}}, $class;

    for (1 .. $masters * (1 + $replicas)) {
        push @{ $self->{servers} }, _node(
            'cluster-enabled' => 'yes',
            'cluster-config-file' => 'nodes.conf',
            # a killed master is failed over within seconds
            'cluster-node-timeout' => $opt{node_timeout} // 1000,
            'appendonly' => 'no');
    }

    my @addrs = map { '127.0.0.1:' . $_->port } @{ $self->{servers} };
    my $out = `redis-cli --cluster create @addrs --cluster-replicas $replicas --cluster-yes 2>&1`;
    die "redis-cli --cluster create failed: $out" if $? != 0;

    $self->wait_ok or die "cluster did not become ok\n";
    return $self;
}

# a cluster someone else started: its nodes as CLUSTER NODES names them
sub attach {
    my ($class, $port) = @_;
    my $self = bless {servers => [], dead => {}, attached => 1}, $class;
    my $text = Kefu::Net::redis(port => $port, 'CLUSTER', 'NODES');
    for my $line (split /\n/, $text) {
        my (undef, $addr) = split ' ', $line;
        my ($p) = $addr =~ /:(\d+)/;
        push @{ $self->{servers} }, bless {port => $p}, 'Kefu::Cluster::Attached';
    }
    $self->wait_ok or die "cluster not ok\n";
    return $self;
}

# One node: a free port whose cluster bus port (+10000) is free too, and a
# directory of its own for each try (a node that failed to bind may still
# hold the lock on its nodes.conf while it exits).
sub _node {
    my (%opt) = @_;
    for (1 .. 10) {
        my $port = Kefu::Net::free_port();
        my $bus = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                        LocalPort => $port + 10000,
                                        Listen => 1) or next;
        close $bus;
        my $node = bless {dir => tempdir(CLEANUP => 1), opt => \%opt,
                          port => $port}, 'Kefu::Net::RedisServer';
        return $node if $node->start;
        $node->stop;
    }
    die "a cluster node did not start\n";
}

sub ports { map { $_->port } @{ $_[0]{servers} } }

sub server_of {
    my ($self, $port) = @_;
    for (@{ $self->{servers} }) { return $_ if $_->port == $port }
    return undef;
}

sub live_ports {
    my ($self) = @_;
    return grep { !$self->{dead}{$_} } $self->ports;
}

# CLUSTER NODES as seen by a live node: [{id, port, flags, master, slots}]
sub nodes {
    my ($self) = @_;
    for my $port ($self->live_ports) {
        my $text = eval { Kefu::Net::redis(port => $port, 'CLUSTER', 'NODES') };
        next unless defined $text;
        my @n;
        for my $line (split /\n/, $text) {
            my ($id, $addr, $flags, $master, undef, undef, undef, $link, @slots)
                = split ' ', $line;
            my ($p) = $addr =~ /:(\d+)/;
            push @n, {id => $id, port => $p, flags => $flags,
                      master => $master, link => $link, slots => \@slots};
        }
        return @n;
    }
    die "no live cluster node\n";
}

sub masters {
    my ($self) = @_;
    return map { $_->{port} }
           grep { $_->{flags} =~ /master/ && $_->{flags} !~ /fail/
                  && @{ $_->{slots} } } $self->nodes;
}

sub node_id {
    my ($self, $port) = @_;
    for ($self->nodes) { return $_->{id} if $_->{port} == $port }
    die "no node on port $port\n";
}

sub slot {
    my ($self, $key) = @_;
    my ($port) = $self->live_ports;
    return Kefu::Net::redis(port => $port, 'CLUSTER', 'KEYSLOT', $key);
}

# the port of the master serving a slot, as CLUSTER SLOTS says now
sub master_of_slot {
    my ($self, $slot) = @_;
    for my $port ($self->live_ports) {
        my $map = eval { Kefu::Net::redis(port => $port, 'CLUSTER', 'SLOTS') };
        next unless $map;
        for my $r (@$map) {
            return $r->[2][1] if $slot >= $r->[0] && $slot <= $r->[1];
        }
    }
    return undef;
}

# one command on the master of its key (the first argument)
sub cmd {
    my ($self, @cmd) = @_;
    my $port = $self->master_of_slot($self->slot($cmd[1]))
        or die "no master for $cmd[1]\n";
    return Kefu::Net::redis(port => $port, @cmd);
}

# n slots moved from one master to another, keys with them
sub reshard {
    my ($self, $from, $to, $n) = @_;
    my ($fid, $tid) = ($self->node_id($from), $self->node_id($to));
    my $out = `redis-cli --cluster reshard 127.0.0.1:$from --cluster-from $fid --cluster-to $tid --cluster-slots $n --cluster-yes 2>&1`;
    die "redis-cli --cluster reshard failed: $out" if $? != 0;
    return $out;
}

# a master's replicas have every write it took so far (replication offsets)
sub wait_replicated {
    my ($self, $port) = @_;
    my $deadline = time + 20;
    while (time < $deadline) {
        my $info = Kefu::Net::redis(port => $port, 'INFO', 'replication');
        my ($off) = $info =~ /master_repl_offset:(\d+)/;
        my @rep = $info =~ /slave\d+:ip=[^,]+,port=\d+,state=online,offset=(\d+)/g;
        return 1 if @rep && !grep { $_ < $off } @rep;
        sleep 0.05;
    }
    return 0;
}

sub kill_master {
    my ($self, $port) = @_;
    my $s = $self->server_of($port) or die "no server on $port\n";
    kill 'KILL', $s->pid;
    $self->{dead}{$port} = 1;
    my $deadline = time + 10;
    sleep 0.02 while time < $deadline && kill 0, $s->pid;
}

# every live node says cluster_state:ok and knows a master for all slots
sub wait_ok {
    my ($self, $secs) = @_;
    my $deadline = time + ($secs // 30);
    while (time < $deadline) {
        my $ok = 1;
        for my $port ($self->live_ports) {
            my $info = eval { Kefu::Net::redis(port => $port, 'CLUSTER', 'INFO') } // '';
            $ok = 0 unless $info =~ /cluster_state:ok/
                           && $info =~ /cluster_slots_ok:16384/;
        }
        return 1 if $ok;
        sleep 0.1;
    }
    return 0;
}

sub stop {
    my ($self) = @_;
    return if $self->{attached};
    for my $s (@{ $self->{servers} || [] }) {
        $s->stop if $s;
    }
}

sub DESTROY { $_[0]->stop }

package Kefu::Cluster::Attached;

sub port { $_[0]{port} }
sub stop { }

1;
