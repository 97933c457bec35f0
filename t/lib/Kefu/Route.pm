package Kefu::Route;

# Helpers of the routing tests (t/02x-*.t): agents with tokens, visitors
# opening conversations in a group, and waiting for one message among
# others.  Every wait is bounded.

use strict;
use warnings;

use Exporter 'import';
use Kefu::WS qw(kefu_connect jwt_hs256);
use Time::HiRes qw(time);

our @EXPORT = qw(agent_token agent visitor wait_for wait_conv uniq_group
    $SECRET);

our $SECRET = 'shop1-secret-0123456789abcdef';

# the site the helpers act in (a file that counts things sets one of its own)
our $SITE = 'shop1';

# a group name nothing else in the Redis of this run uses
sub uniq_group { ($_[0] // 'g') . '-' . int(rand(1e9)) }

sub agent_token {
    my ($sub, %claims) = @_;
    my $role = delete $claims{role} // 'agent';
    my $site = delete $claims{site} // $SITE;
    my $secret = delete $claims{secret} // $SECRET;
    return jwt_hs256({sub => $sub, role => $role, site => $site,
                      exp => time + 600, %claims}, $secret);
}

# agent($sub, groups => [..], capacity => N, name => .., status => ..,
#       port => ..): ($ws, $welcome, $presence)
sub agent {
    my ($sub, %o) = @_;
    my $port = delete $o{port};
    my $status = delete $o{status};
    my ($ws, $w) = kefu_connect(($port ? (port => $port) : ()),
                                role => $o{role} // 'agent', site => $SITE,
                                token => agent_token($sub, %o),
                                ($status ? (status => $status) : ()));
    die "agent $sub: no welcome: " . ($w->{message} // '?') . "\n"
        unless ($w->{type} // '') eq 'welcome';
    my $p;
    if (($o{role} // 'agent') eq 'agent') {
        $p = wait_for($ws, sub { $_[0]{type} eq 'presence'
                                 && $_[0]{agent} eq $sub });
    }
    return ($ws, $w, $p);
}

# visitor($group, text => .., port => ..): opens a conversation;
# ($ws, $welcome, $ack, $notice)
sub visitor {
    my ($group, %o) = @_;
    my ($ws, $w) = kefu_connect(($o{port} ? (port => $o{port}) : ()),
                                role => 'visitor', site => $SITE,
                                group => $group);
    $ws->send_json({type => 'msg', cid => 'first', text => $o{text} // 'hi'});
    my $ack = wait_for($ws, sub { $_[0]{type} eq 'ack' });
    my $n = $ack && wait_for($ws, sub { $_[0]{type} eq 'conv'
                                        && $_[0]{conv} eq $ack->{conv} });
    return ($ws, $w, $ack, $n);
}

# the first message for which $pred is true, reading at most $timeout s;
# the others read meanwhile are kept for later calls (Kefu::WS::wait_for)
sub wait_for {
    my ($ws, $pred, $timeout) = @_;
    return $ws->wait_for($pred, $timeout);
}

# a "conv" notice for $conv with the given fields (state, position, ...);
# the queue notices of an agent's groups (reason "queue", contract v2
# "Agents' view") only when asked for by their reason
sub wait_conv {
    my ($ws, $conv, %f) = @_;
    my $timeout = delete $f{timeout};
    return wait_for($ws, sub {
        my $m = shift;
        return 0 unless $m->{type} eq 'conv' && $m->{conv} eq $conv;
        return 0 if ($m->{reason} // '') eq 'queue' && !defined $f{reason};
        for (keys %f) {
            my $v = $_ eq 'agent' ? ($m->{agent} || {})->{id} : $m->{$_};
            return 0 unless defined $v && $v eq $f{$_};
        }
        return 1;
    }, $timeout);
}

1;
