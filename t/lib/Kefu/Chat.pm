package Kefu::Chat;

# The participants of the API and bot tests, on one site of the run:
#
#   chat_site($SHOP, $SECRET);
#   my ($v, $welcome, $conv) = visitor_conv('g1');   # a visitor's first msg
#   my $a = agent('ann', 'g1');                       # connected, welcomed
#   take($a, $conv, $v);                              # accepted, both level
#   put_settings({rules => [...]});                   # PUT, and in effect
#
# agent() takes kefu_connect()'s options (port => .., status => ..);
# put_settings() waits until this worker (or the one at port) runs the
# settings: they reach it by the settings notice, after the PUT answered,
# and a rule of its own (never firing) marks the version.

use strict;
use warnings;

use Exporter 'import';
use Kefu::WS qw(jwt_hs256 kefu_connect);
use Kefu::API qw(api);

our @EXPORT = qw(chat_site agent visitor_conv take put_settings);

our ($Site, $Secret);
my $Mark = 0;

sub chat_site {
    ($Site, $Secret) = @_;
}

# an agent of the site in these groups, connected: a host just started may
# not have its Redis connection yet
sub agent {
    my ($id, $groups, %o) = @_;
    my $t = jwt_hs256({sub => $id, role => 'agent', site => $Site, exp => time + 600,
                       name => "Agent $id", groups => ref $groups ? $groups : [$groups],
                       capacity => 5}, $Secret);
    my ($ws, $w);
    for (1 .. 50) {
        ($ws, $w) = kefu_connect(role => 'agent', site => $Site, token => $t, %o);
        last unless $w->{type} eq 'error' && $w->{code} eq 'unavailable';
        select undef, undef, undef, 0.1;
    }
    die "agent hello: $w->{type} " . ($w->{message} // '') . "\n"
        unless $w->{type} eq 'welcome';
    return $ws;
}

# a visitor who opened a conversation in a group: ($ws, $welcome, $conv)
sub visitor_conv {
    my ($group) = @_;
    my ($v, $w) = kefu_connect(role => 'visitor', site => $Site, group => $group);
    $v->send_json({type => 'msg', cid => 'first', text => 'hello?'});
    my $ack = $v->recv_type('ack') or die "no ack\n";
    return ($v, $w, $ack->{conv});
}

# the agent takes the conversation; it and the visitor (if given) read the
# log up to the system entry that records it
sub take {
    my ($a, $conv, $v) = @_;
    $a->send_json({type => 'accept', conv => $conv});
    my $c = $a->recv_type('conv', 5);
    die "accept failed\n" unless $c && $c->{conv} eq $conv;
    for my $ws (grep { defined } $a, $v) {
        while (my $m = $ws->recv_type('msg', 5)) {
            last if $m->{from}{role} eq 'system';
        }
    }
}

sub put_settings {
    my ($doc, $port) = @_;
    my $id = 'mark' . ++$Mark . 'x' . int(rand 1e6);
    my %d = %$doc;
    $d{rules} = [@{ $d{rules} // [] }, {id => $id, when => {type => 'message'},
                 if => [{keywords => ["zz$id"]}], then => [{label => 'mark'}]}];
    my ($st, $j) = api(PUT => "/kefu/api/sites/$Site/settings", \%d);
    return ($st, $j) unless $st == 200;
    for (1 .. 400) {
        my ($s2, $t) = api(POST => "/kefu/api/sites/$Site/rules/try", {text => 'x'},
                           $port ? (port => $port) : ());
        return ($st, $j) if $s2 == 200 && grep { $_->{id} eq $id } @{ $t->{rules} };
        select undef, undef, undef, 0.025;
    }
    die "the settings never reached the worker\n";
}

1;
