# contrib/: the Grafana dashboard and the Prometheus alert rules match the
# metrics a real nginx exposes.  The dashboard is valid JSON with a query
# in every panel; every metric either file names, and every label=value
# they select on, is in the Prometheus output of kefu_status (with Redis
# and a site, so the Redis-read families are there too); the rules pass
# "promtool check rules" and their unit tests ("promtool test rules":
# each alert fires on the series that should fire it).
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;

our $Contrib = kefu_root() . '/contrib';
our $Promtool = $ENV{KEFU_PROMTOOL}
    || kefu_root() . '/build/tools/prometheus/usr/bin/promtool';

sub slurp { open my $fh, '<', $_[0] or die "$_[0]: $!\n"; local $/; <$fh> }

# every PromQL expression of the dashboard (targets, template queries)
sub dashboard_exprs {
    my ($d) = @_;
    my @e;
    my $walk;
    $walk = sub {
        my $x = shift;
        if (ref $x eq 'HASH') {
            push @e, $x->{expr} if defined $x->{expr} && !ref $x->{expr};
            push @e, $x->{definition} if defined $x->{definition};
            $walk->($_) for values %$x;
        } elsif (ref $x eq 'ARRAY') {
            $walk->($_) for @$x;
        }
    };
    $walk->($d);
    return @e;
}

# metric selectors in PromQL: [name, {label => value}] for equality matchers
sub selectors {
    my ($expr) = @_;
    my @s;
    while ($expr =~ /\b(kefu_[a-z_]+)(\{([^}]*)\})?/g) {
        my ($name, $m) = ($1, $3 // '');
        my %eq;
        $eq{$1} = $2 while $m =~ /\b(\w+)\s*=\s*"([^"]*)"/g;
        push @s, [$name, \%eq];
    }
    return @s;
}

# samples of the exposition text: [name, {labels}]
sub samples {
    my ($text) = @_;
    my @s;
    for (split /\n/, $text) {
        next if /^#/ || !/\S/;
        /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/ or next;
        my ($name, $l) = ($1, $2 // '');
        my %l;
        $l{$1} = $2 while $l =~ /(\w+)="((?:[^"\\]|\\.)*)"/g;
        push @s, [$name, \%l];
    }
    return @s;
}

run_tests();

__DATA__

=== TEST 1: the dashboard and the alert rules name only metrics and labels that exist
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on default_group=presales;
--- config
    location = /chat { kefu_chat; }
    location = /status { kefu_status; }
--- ws
my ($code, undef, $text) = http_raw("GET /status?format=prometheus HTTP/1.0\r\n\r\n");
is($code, 200, 'the status endpoint answers in Prometheus text');
my @samples = main::samples($text);
ok(scalar(grep { $_->[0] eq 'kefu_queue_length' } @samples),
   'with the figures read from Redis');

my $dash = eval { json_dec(main::slurp("$main::Contrib/grafana/kefu.json")) };
ok($dash, 'the Grafana dashboard is valid JSON') or diag($@);
is(ref $dash->{panels}, 'ARRAY', 'with panels');
for my $p (grep { $_->{type} ne 'row' } @{ $dash->{panels} }) {
    ok(@{ $p->{targets} || [] } && !grep({ !$_->{expr} } @{ $p->{targets} }),
       "panel \"$p->{title}\" has a query in each target");
}

my $rules = main::slurp("$main::Contrib/prometheus/kefu-alerts.yml");
my @rule_exprs;
# expr: one line, or a folded block (>-) of more indented lines
while ($rules =~ /^(\s*)expr:[ \t]*(>-?)?[ \t]*(.*)\n((?:\1\s+\S.*\n)*)/mg) {
    push @rule_exprs, $2 ? $4 : $3;
}
ok(@rule_exprs >= 8, scalar(@rule_exprs) . ' alert expressions read');
for my $a (qw(KefuRedisLinkDown KefuSlowConsumers KefuVisitorsWaiting
              KefuHandshakeFailures)) {
    like($rules, qr/^\s*- alert: $a$/m, "the rules have $a");
}

my %seen;
for my $e (main::dashboard_exprs($dash), @rule_exprs) {
    for my $s (main::selectors($e)) {
        my ($name, $eq) = @$s;
        my $key = $name . json_enc($eq);
        next if $seen{$key}++;
        my @match = grep {
            my $l = $_->[1];
            $_->[0] eq $name && !grep { ($l->{$_} // '') ne $eq->{$_} } keys %$eq;
        } @samples;
        ok(scalar @match, "$key is in the status output");
    }
}
ok(keys(%seen) >= 25, scalar(keys %seen) . ' distinct selectors checked');

ok(-x $main::Promtool, "promtool ($main::Promtool)");
my $out = `cd $main::Contrib/prometheus && $main::Promtool check rules kefu-alerts.yml 2>&1`;
is($?, 0, 'promtool check rules passes') or diag($out);
$out = `cd $main::Contrib/prometheus && $main::Promtool test rules kefu-alerts.test.yml 2>&1`;
is($?, 0, 'promtool test rules: each alert fires as written') or diag($out);
