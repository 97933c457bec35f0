package Kefu::Chaos;

# The chaos tests' shared machinery (t/06x-chaos-*.t): a Redis of the
# file's own, nginx "hosts" (two workers each) that can be killed with
# SIGKILL, reloaded or stopped, and traffic: visitors and agents that
# reconnect by themselves (to another host when theirs is gone, with
# resume, resending what was not acknowledged with the same cid) and
# record everything they are sent.  check() then says whether every
# acknowledged message reached every connected participant exactly once
# and in order, and whether conversations, presence and loads are right.
#
#   my $r = Kefu::Chaos::redis();                 # its own Redis
#   my @h = map { Kefu::Chaos::host($r, lease => '2s', grace => '3s') } 1 .. 2;
#                                  # also capacity =>, workers =>,
#                                  # redis_port => (a proxy), http => '...'
#   $h[0]->kill9_worker; ->kill9_host; ->reload; ->stop; ->start; ->status
#   my $c = Kefu::Chaos->new(redis => $r, hosts => \@h);
#   $c->agents(4); $c->visitors(8);               # spread over the hosts
#   $c->run(3);                                   # traffic for 3 s
#   $h[0]->kill9_worker;  $c->run(3);
#   my $k = $c->check(30);                        # settles, then checks
#   is_deeply($k->{violations}, [], ...);
#
# Every wait is bounded and waits for the event itself.

use strict;
use warnings;

use Kefu::WS qw(ws_connect json_dec http_raw jwt_hs256);
use File::Temp qw(tempdir);
use IO::Select ();
use IO::Socket::INET ();
use Time::HiRes qw(time sleep);
use Cwd qw(abs_path);
use File::Basename qw(dirname);

our $SECRET = 'shop1-secret-0123456789abcdef';
our $Module = $ENV{TEST_NGINX_KEFU_MODULE}
              || abs_path(dirname(__FILE__) . '/../../..') . '/build/ngx_kefu_module.so';

# everything started, stopped at the latest when the file ends: before
# File::Temp removes the directories that hold their pid files (its END
# block runs after this one, which is compiled later)
our @Started;
END { $_ && $_->stop for reverse @Started }

sub free_port {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0,
                                  Listen => 1) or die "no port: $!";
    my $p = $s->sockport;
    close $s;
    return $p;
}


# ---- a Redis of the file's own -------------------------------------------

package Kefu::Chaos::Redis;

use Kefu::WS qw(ws_connect json_dec http_raw jwt_hs256);
use Time::HiRes qw(time sleep);

sub new {
    my ($class) = @_;
    my $self = bless { dir => File::Temp::tempdir(CLEANUP => 1),
                       port => Kefu::Chaos::free_port() }, $class;
    $self->start;
    return $self;
}

sub port { $_[0]{port} }

sub start {
    my ($self) = @_;
    system("redis-server --port $self->{port} --bind 127.0.0.1 --dir $self->{dir}"
           . " --appendonly yes --save '' --daemonize yes --enable-debug-command local"
           . " --logfile $self->{dir}/redis.log --pidfile $self->{dir}/redis.pid") == 0
        or die "redis-server: $?";
    push @Kefu::Chaos::Started, $self;
    for (1 .. 200) {
        if ($self->cli('ping') eq 'PONG') {
            open my $fh, '<', "$self->{dir}/redis.pid" or die "no redis.pid: $!";
            chomp($self->{pid} = <$fh>);
            return;
        }
        Time::HiRes::sleep(0.05);
    }
    die "redis did not start\n";
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;
    kill 'TERM', $pid;
    for (1 .. 200) { last unless kill 0, $pid; Time::HiRes::sleep(0.05) }
}

# redis-cli with arguments quoted for the shell: the first line (scalar)
# or all lines (list)
sub cli {
    my ($self, @a) = @_;
    my $c = join ' ', map { my $x = $_; $x =~ s/'/'\\''/g; "'$x'" } @a;
    my @o = `redis-cli -p $self->{port} $c 2>&1`;
    chomp @o;
    return wantarray ? @o : ($o[0] // '');
}

sub DESTROY { $_[0]->stop }


# ---- an nginx host with two workers --------------------------------------

package Kefu::Chaos::Host;

use Kefu::WS qw(ws_connect json_dec http_raw jwt_hs256);
use Time::HiRes qw(time sleep);

sub new {
    my ($class, $redis, %o) = @_;
    my $self = bless { dir => File::Temp::tempdir(CLEANUP => 1),
                       port => Kefu::Chaos::free_port(),
                       workers => $o{workers} // 2, %o }, $class;
    my $d = $self->{dir};
    mkdir "$d/logs";
    my $lease = $o{lease} // '2s';
    my $grace = $o{grace} // '3s';
    my $cap = $o{capacity} // 10;
    # redis_port: another way to the Redis (a proxy of the test's own);
    # http: more configuration for the http block
    my $rport = $o{redis_port} // $redis->port;
    my $http = $o{http} // '';
    open my $fh, '>', "$d/nginx.conf" or die $!;
    print $fh <<"_EOC_";
load_module $Kefu::Chaos::Module;
worker_processes $self->{workers};
error_log $d/logs/error.log info;
pid $d/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    kefu_redis 127.0.0.1:$rport connect_timeout=500ms timeout=1s;
    kefu_lease_time $lease;
    kefu_site shop1 secret=$Kefu::Chaos::SECRET anonymous=on grace=$grace capacity=$cap;
    $http
    server {
        listen 127.0.0.1:$self->{port} reuseport;
        location = /chat { kefu_chat; kefu_message_rate 100r/s burst=200; }
        location = /status { kefu_status; }
    }
}
_EOC_
    close $fh;
    $self->start;
    return $self;
}

sub port { $_[0]{port} }
sub log_file { "$_[0]{dir}/logs/error.log" }

sub start {
    my ($self) = @_;
    my $d = $self->{dir};
    my $ready0 = $self->log_count(qr/kefu: redis commands connection ready/);
    system($ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx', '-p', "$d/", '-c', "$d/nginx.conf") == 0
        or die "host did not start: " . `cat $d/logs/error.log`;
    $self->{dead} = 0;
    $self->{pid} = $self->master;
    push @Kefu::Chaos::Started, $self;
    # its workers answer and hold their leases (a node number each)
    for (1 .. 200) {
        last if $self->log_count(qr/kefu: redis commands connection ready/) - $ready0 >= $self->{workers}
                && IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $self->{port});
        Time::HiRes::sleep(0.05);
    }
}

sub master {
    my ($self) = @_;
    open my $p, '<', "$self->{dir}/nginx.pid" or return $self->{pid};
    my $pid = <$p>;
    chomp $pid if defined $pid;
    return $pid;
}

sub workers {
    my ($self) = @_;
    my $m = $self->master or return ();
    my @w = map { /(\d+)/ ? $1 : () } `ps -o pid= --ppid $m`;
    return @w;
}

sub log_count {
    my ($self, $re) = @_;
    open my $fh, '<', $self->log_file or return 0;
    my $n = 0;
    /$re/ and $n++ while <$fh>;
    return $n;
}

# SIGKILL to one worker; the master starts another (which takes a lease)
sub kill9_worker {
    my ($self) = @_;
    # the worker holding the most descriptors: the one with clients (the
    # kernel may give one worker every connection on a quiet machine, and
    # killing the other would test nothing)
    my @w = $self->workers or die "no worker\n";
    my %fds = map { my $p = $_; $p => scalar(() = glob("/proc/$p/fd/*")) } @w;
    my ($w) = sort { $fds{$b} <=> $fds{$a} } @w;
    my $ready0 = $self->log_count(qr/kefu: redis commands connection ready/);
    kill 'KILL', $w;
    for (1 .. 200) {
        last if $self->log_count(qr/kefu: redis commands connection ready/) > $ready0;
        Time::HiRes::sleep(0.05);
    }
    return $w;
}

# SIGKILL to the master and every worker at once: the host is gone
sub kill9_host {
    my ($self) = @_;
    my $m = $self->master;
    my @w = $self->workers;
    kill 'KILL', $m, @w;
    $self->{dead} = 1;
    for my $pid ($m, @w) {
        for (1 .. 100) { last unless kill 0, $pid; Time::HiRes::sleep(0.02) }
    }
    unlink "$self->{dir}/nginx.pid";
}

sub reload {
    my ($self) = @_;
    kill 'HUP', $self->master;
}

sub status {
    my ($self) = @_;
    my ($code, $h, $body) = eval {
        http_raw("GET /status HTTP/1.0\r\nHost: localhost\r\n\r\n", port => $self->{port})
    };
    return undef unless ($code // 0) == 200;
    return json_dec($body);
}

sub stop {
    my ($self) = @_;
    return if $self->{dead};
    my $m = $self->master or return;
    kill 'TERM', $m;
    for (1 .. 200) { last unless kill 0, $m; Time::HiRes::sleep(0.05) }
    $self->{dead} = 1;
}

sub DESTROY { $_[0]->stop }


# ---- a participant that reconnects by itself -----------------------------

package Kefu::Chaos::Client;

use Kefu::WS qw(ws_connect json_dec http_raw jwt_hs256);
use Time::HiRes qw(time sleep);

sub new {
    my ($class, %o) = @_;
    return bless { convs => {}, pending => {}, n => 0, reconnect_at => 0,
                   alive => 1, connects => 0, %o }, $class;
}

sub id { $_[0]{id} }

# the hosts it may use, its own first
sub ports {
    my ($self) = @_;
    my $c = $self->{chaos};
    my @h = grep { !$_->{dead} } @{ $c->{hosts} };
    my @p = map { $_->port } @h;
    my $i = $self->{home} % (@p || 1);
    return (@p[$i .. $#p], @p[0 .. $i - 1]);
}

sub hello {
    my ($self) = @_;
    my %resume = map { $_ => $self->{convs}{$_}{last} // 0 } keys %{ $self->{convs} };
    my %h = (type => 'hello', site => 'shop1', role => $self->{role});
    $h{resume} = \%resume if %resume;
    if ($self->{role} eq 'visitor') {
        $h{group} = $self->{group};
        $h{token} = $self->{token} if $self->{token};
    } else {
        $h{token} = jwt_hs256({sub => $self->{id}, role => 'agent', site => 'shop1',
                               groups => [$self->{group}],
                               capacity => $self->{capacity},
                               exp => int(time) + 3600}, $Kefu::Chaos::SECRET);
        $h{status} = 'online';
    }
    return \%h;
}

# connects to the first host that takes it; true once welcomed
sub connect {
    my ($self) = @_;
    for my $port ($self->ports) {
        my $ws = eval { ws_connect(port => $port, timeout => 2) } or next;
        $ws->send_json($self->hello);
        my $deadline = time + 5;
        while (time < $deadline) {
            my $m = $ws->recv_json($deadline - time) or last;
            if (($m->{type} // '') eq 'welcome') {
                $self->{ws} = $ws;
                $self->{port} = $port;
                $self->{connects}++;
                $self->welcome($m);
                # what was not acknowledged goes again, with its cid
                $self->{pending}{$_}{due} = 0 for keys %{ $self->{pending} };
                return 1;
            }
            last if ($m->{type} // '') eq 'error' || $m->{_close};
        }
        close $ws->{sock};
    }
    $self->{reconnect_at} = time + 0.2;
    return 0;
}

sub welcome {
    my ($self, $w) = @_;
    $self->{id} //= $w->{id};
    $self->{token} //= $w->{token};
    # an agent's conversations are what the server says now
    $self->{mine} = {} if $self->{role} eq 'agent';
    for my $c (@{ $w->{convs} || [] }) {
        next if $c->{state} eq 'closed';
        $self->{convs}{$c->{conv}} //= $self->conv_rec;
        if ($self->{role} eq 'agent') {
            $self->{mine}{$c->{conv}} = 1 if ($c->{agent} // '') eq $self->{id};
        } else {
            $self->{conv} //= $c->{conv};
        }
    }
}

sub conv_rec { { got => {}, acked => {}, max => 0, last => 0 } }

sub connected { $_[0]{ws} && !$_[0]{ws}{eof} }

sub drop {
    my ($self) = @_;
    close $self->{ws}{sock} if $self->{ws};
    $self->{ws} = undef;
    $self->{reconnect_at} = time + 0.1;
}

# gone for good (its user closed the page)
sub leave {
    my ($self) = @_;
    $self->{alive} = 0;
    close $self->{ws}{sock} if $self->{ws};
    $self->{ws} = undef;
}

sub send_msg {
    my ($self, $conv, $text) = @_;
    my $cid = "$self->{tag}-" . ++$self->{n};
    $self->{pending}{$cid} = { conv => $conv, text => $text, due => 0 };
    $self->flush;
    return $cid;
}

# sends what is due: new messages and resends after an error or reconnect
sub flush {
    my ($self) = @_;
    return unless $self->connected;
    my $now = time;
    for my $cid (sort keys %{ $self->{pending} }) {
        my $p = $self->{pending}{$cid};
        next if $p->{due} > $now;
        my %m = (type => 'msg', cid => $cid, text => $p->{text});
        $m{conv} = $p->{conv} // $self->{conv} if defined($p->{conv} // $self->{conv});
        $self->{ws}->send_json(\%m);
        $p->{due} = $now + 5;     # no answer within 5 s: again
    }
}

sub handle {
    my ($self, $m) = @_;
    my $c = $self->{chaos};
    my $t = $m->{type} // '';
    if ($t eq 'ack') {
        my $p = delete $self->{pending}{$m->{cid}};
        my $r = $self->{convs}{$m->{conv}} //= $self->conv_rec;
        $r->{acked}{$m->{seq}} = 1;
        $r->{last}++ while $r->{started} && ($r->{got}{$r->{last} + 1} || $r->{acked}{$r->{last} + 1});
        $self->{conv} //= $m->{conv} if $self->{role} eq 'visitor';
        my $prev = $c->{acked}{$m->{conv}}{$m->{seq}};
        push @{ $c->{violations} }, "conv $m->{conv} seq $m->{seq} acked for two cids"
            if $prev && $prev->{cid} ne $m->{cid};
        $c->{acked}{$m->{conv}}{$m->{seq}} = { cid => $m->{cid}, from => $self->{id},
                                               text => $p ? $p->{text} : undef };
        $c->{ids}{$m->{id}}{"$m->{conv}/$m->{seq}"} = 1;
        $c->{ids}{$m->{conv}}{"conv $m->{conv}"} = 1;
    } elsif ($t eq 'msg' && defined $m->{seq}) {
        my $r = $self->{convs}{$m->{conv}} //= $self->conv_rec;
        my $mine = ($m->{from}{id} // '') eq ($self->{id} // '') && $r->{acked}{$m->{seq}};
        if ($r->{got}{$m->{seq}}) {
            push @{ $c->{violations} }, "$self->{tag}: conv $m->{conv} seq $m->{seq} delivered twice";
        } elsif ($m->{seq} < $r->{max} && !$mine) {
            push @{ $c->{violations} }, "$self->{tag}: conv $m->{conv} seq $m->{seq} after $r->{max}";
        }
        $r->{got}{$m->{seq}} = 1;
        $r->{max} = $m->{seq} if $m->{seq} > $r->{max};
        $c->{ids}{$m->{id}}{"$m->{conv}/$m->{seq}"} = 1 if defined $m->{id};
        # where it joined: the first seq it was sent
        $r->{last} = $m->{seq} - 1 unless $r->{started}++;
        $r->{last}++ while $r->{got}{$r->{last} + 1} || $r->{acked}{$r->{last} + 1};
        $r->{texts}{$m->{text}} = 1 if defined $m->{text};
    } elsif ($t eq 'conv' && $self->{role} eq 'agent') {
        if ($m->{state} eq 'open' && ($m->{agent}{id} // '') eq $self->{id}) {
            $self->{mine}{$m->{conv}} = 1;
            $self->{convs}{$m->{conv}} //= $self->conv_rec;
        } else {
            delete $self->{mine}{$m->{conv}};
        }
    } elsif ($t eq 'error' && $m->{cid} && $self->{pending}{$m->{cid}}) {
        if (($m->{code} // '') eq 'unavailable') {
            $self->{pending}{$m->{cid}}{due} = time + 0.3;
        } else {
            # an agent writing to a conversation it no longer has
            delete $self->{pending}{$m->{cid}};
        }
    }
}

# reads what arrived; false when the connection went
sub read {
    my ($self) = @_;
    my $ws = $self->{ws} or return 0;
    while (my $m = $ws->recv_json(0.001)) {
        if ($m->{_close}) { $self->drop; return 0 }
        $self->handle($m);
    }
    if ($ws->{eof}) { $self->drop; return 0 }
    return 1;
}


# ---- the traffic and the checks ------------------------------------------

package Kefu::Chaos;

sub redis { Kefu::Chaos::Redis->new(@_) }
sub host { Kefu::Chaos::Host->new(@_) }

sub new {
    my ($class, %o) = @_;
    return bless { clients => [], acked => {}, violations => [],
                   group => 'chaos-' . int(rand 1e9), %o }, $class;
}

sub agents_list { grep { $_->{role} eq 'agent' } @{ $_[0]{clients} } }
sub visitors_list { grep { $_->{role} eq 'visitor' } @{ $_[0]{clients} } }

# $n agents, spread over the hosts (agent i on host i % hosts)
sub agents {
    my ($self, $n, %o) = @_;
    my $r = int rand 1e6;
    my @new;
    for my $i (0 .. $n - 1) {
        my $a = Kefu::Chaos::Client->new(chaos => $self, role => 'agent',
                                         id => "ca$i-$r", tag => "a$i",
                                         group => $self->{group}, home => $i,
                                         capacity => $o{capacity} // 10);
        $a->connect or die "agent $i could not connect\n";
        push @{ $self->{clients} }, $a;
        push @new, $a;
    }
    $self->pump(0.3);
    return @new;
}

# $n visitors, spread over the hosts, each opening a conversation
sub visitors {
    my ($self, $n) = @_;
    my @new;
    for my $i (0 .. $n - 1) {
        my $v = Kefu::Chaos::Client->new(chaos => $self, role => 'visitor',
                                         tag => "v$i", group => $self->{group},
                                         home => $i);
        $v->connect or die "visitor $i could not connect\n";
        push @{ $self->{clients} }, $v;
        push @new, $v;
        $v->send_msg(undef, "hello from v$i");
    }
    $self->pump(0.5);
    return @new;
}

# reads, reconnects, resends: for $secs, calling $tick every 0.25 s
sub pump {
    my ($self, $secs, $tick) = @_;
    my $end = time + $secs;
    my $next = 0;
    while ((my $left = $end - time) > 0) {
        my $sel = IO::Select->new;
        my %by;
        for my $c (@{ $self->{clients} }) {
            next unless $c->{alive};
            if (!$c->connected) {
                $c->connect if time >= $c->{reconnect_at};
                next unless $c->connected;
            }
            $c->flush;
            $sel->add($c->{ws}{sock});
            $by{fileno $c->{ws}{sock}} = $c;
        }
        for my $fh ($sel->can_read($left < 0.05 ? $left : 0.05)) {
            $by{fileno $fh}->read;
        }
        # frames already buffered are read too
        $_->connected && $_->read for values %by;
        if ($tick && time >= $next) {
            $tick->();
            $next = time + 0.25;
        }
    }
}

# the default traffic: every visitor writes, every agent answers one of
# its conversations
sub traffic {
    my ($self) = @_;
    return sub {
        for my $v ($self->visitors_list) {
            next unless $v->{alive} && $v->{conv} && keys %{ $v->{pending} } < 3;
            $v->send_msg($v->{conv}, "v $v->{n}");
        }
        for my $a ($self->agents_list) {
            next unless $a->{alive} && $a->connected && keys %{ $a->{pending} } < 3;
            my @m = sort keys %{ $a->{mine} || {} } or next;
            my $conv = $m[$a->{n} % @m];
            $a->send_msg($conv, "a $a->{n}");
        }
    };
}

sub run {
    my ($self, $secs) = @_;
    $self->pump($secs, $self->traffic);
}

sub rcli { my $self = shift; $self->{redis}->cli(@_) }

# $pred true within $secs while pumping (no traffic)
sub wait_until {
    my ($self, $secs, $pred) = @_;
    my $end = time + $secs;
    while (time < $end) {
        return 1 if $pred->();
        $self->pump(0.1);
    }
    return $pred->();
}

# Settles (everything acknowledged, every conversation with a connected
# agent, a barrier message through each conversation both ways), then
# checks.  Returns {violations => [...], settled => 0/1, ...}.
sub check {
    my ($self, $secs) = @_;
    my @v = $self->visitors_list;
    my @live_agents = grep { $_->{alive} } $self->agents_list;
    my %live = map { $_->{id} => $_ } @live_agents;
    my $sk = 'kefu:{s:shop1}';
    my %r;

    $r{acked} = $self->wait_until($secs, sub {
        !grep { $_->{alive} && (!$_->connected || keys %{ $_->{pending} }) } @{ $self->{clients} }
    });
    push @{ $self->{violations} }, 'not everything sent was acknowledged' unless $r{acked};

    # every conversation open with a connected agent that knows it
    my $placed = sub {
        for my $x (@v) {
            next unless $x->{alive} && $x->{conv};
            my ($st, $ag) = $self->rcli('HMGET', "kefu:{c:$x->{conv}}", 'state', 'agent');
            return 0 unless $st eq 'open' && $live{$ag} && $live{$ag}{mine}{$x->{conv}};
        }
        return 1;
    };
    $r{placed} = $self->wait_until($secs, $placed);
    push @{ $self->{violations} }, 'a conversation is not open with a connected agent'
        unless $r{placed};

    # the barrier: both sides write once more and read the other's
    my %want;
    for my $x (grep { $_->{alive} && $_->{conv} } @v) {
        my $conv = $x->{conv};
        my $ag = $self->rcli('HGET', "kefu:{c:$conv}", 'agent');
        next unless $live{$ag};
        my $vt = "barrier v $conv";
        my $at = "barrier a $conv";
        $x->send_msg($conv, $vt);
        $live{$ag}->send_msg($conv, $at);
        $want{$conv} = [$x, $at, $live{$ag}, $vt];
    }
    $r{barrier} = $self->wait_until($secs, sub {
        for my $w (values %want) {
            my ($x, $at, $a, $vt) = @$w;
            my $conv = $x->{conv};
            return 0 unless $x->{convs}{$conv}{texts}{$at} && $a->{convs}{$conv}{texts}{$vt};
        }
        return 1;
    });
    push @{ $self->{violations} }, 'the barrier did not get through every conversation'
        unless $r{barrier};

    # exactly once, in order, nothing missing: per connected participant
    for my $c (grep { $_->{alive} } @{ $self->{clients} }) {
        my @convs = $c->{role} eq 'visitor' ? grep { defined } ($c->{conv})
                                            : keys %{ $c->{mine} || {} };
        for my $conv (@convs) {
            my $rc = $c->{convs}{$conv} or next;
            my %have = (%{ $rc->{got} }, %{ $rc->{acked} });
            my @s = sort { $a <=> $b } keys %have;
            next unless @s;
            my $lo = $c->{role} eq 'visitor' ? 1 : $s[0];
            for my $seq ($lo .. $s[-1]) {
                push @{ $self->{violations} }, "$c->{tag}: conv $conv seq $seq never delivered"
                    unless $have{$seq};
            }
            for my $seq (keys %{ $self->{acked}{$conv} || {} }) {
                push @{ $self->{violations} }, "$c->{tag}: acknowledged conv $conv seq $seq missing"
                    if $seq >= $lo && !$have{$seq};
            }
        }
    }

    # no conversation lost or duplicated; presence and loads right again
    my $state = sub {
        my (@p, %holder);
        for my $a ($self->agents_list) {
            my @open = grep { length } $self->rcli('SMEMBERS', "$sk:a:$a->{id}:open");
            my ($st, $conns, $load) = $self->rcli('HMGET', "$sk:a:$a->{id}", 'state', 'conns', 'load');
            for (@open) {
                push @p, "conv $_ held by $holder{$_} and $a->{id}" if $holder{$_};
                $holder{$_} = $a->{id};
            }
            push @p, "$a->{id}: load $load but " . scalar(@open) . ' open'
                if ($load || 0) != @open;
            if ($a->{alive}) {
                push @p, "$a->{id}: state $st, not online" if $st ne 'online';
                push @p, "$a->{id}: $conns connections counted, not 1" if ($conns // '') ne '1';
            } else {
                push @p, "$a->{id} left: state $st, not offline" if $st ne 'offline';
                push @p, "$a->{id} left: $conns connections counted" if $conns;
            }
        }
        my %seen_conv;
        for my $x (@v) {
            next unless $x->{conv};
            push @p, "conv $x->{conv} of two visitors" if $seen_conv{$x->{conv}}++;
            my @mine = grep { length } $self->rcli('ZRANGE', "$sk:v:$x->{id}:convs", 0, -1);
            push @p, "$x->{tag} has " . scalar(@mine) . ' conversations, not 1' if @mine != 1;
        }
        my $queued = $self->rcli('ZCARD', "$sk:q:$self->{group}");
        push @p, "$queued conversations stuck in the queue" if $queued;
        return @p;
    };
    $self->wait_until($secs, sub { !$state->() });
    push @{ $self->{violations} }, $state->();

    $r{violations} = $self->{violations};
    $r{messages} = 0;
    $r{messages} += keys %{ $self->{acked}{$_} } for keys %{ $self->{acked} };
    return \%r;
}

# ids (of messages and conversations) seen for more than one thing
sub duplicate_ids {
    my ($self) = @_;
    return grep { keys %{ $self->{ids}{$_} } > 1 } keys %{ $self->{ids} || {} };
}

# a status counter summed over the hosts still up
sub counter {
    my ($self, $name) = @_;
    my $n = 0;
    for my $h (grep { !$_->{dead} } @{ $self->{hosts} }) {
        my $s = $h->status or next;
        $n += $s->{$name} // 0;
    }
    return $n;
}

1;
