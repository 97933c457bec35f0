package Kefu::Browser;

# The browser tests' glue: runs a t/browser/*.mjs script (headless Debian
# Chromium driven by playwright-core) against the block's live nginx and
# turns its TAP lines into this test's own tests.
#
#   browser_run('050-chat.mjs', site => 'b50', secret => $S);
#
# The script gets the base URL, the site, its secret and a fresh group name
# in its environment (KEFU_BASE, KEFU_SITE, KEFU_SECRET, KEFU_GROUP).

use strict;
use warnings;

use Exporter 'import';
use Test::More ();

our @EXPORT = qw(browser_run browser_ready);

my $Root = do {
    require File::Basename;
    require Cwd;
    Cwd::abs_path(File::Basename::dirname(__FILE__) . '/../../..');
};
my $Dir = "$Root/t/browser";

# playwright-core from t/browser/package-lock.json (scripts/test runs npm
# ci; this covers a plain prove) and Debian's chromium
sub browser_ready {
    return 'no /usr/bin/chromium (apt-get install chromium)'
        unless -x ($ENV{KEFU_CHROMIUM} || '/usr/bin/chromium');
    return 'no node' unless `node --version 2>/dev/null` =~ /^v\d+/;
    unless (-f "$Dir/node_modules/playwright-core/package.json") {
        system("cd '$Dir' && npm ci --no-audit --no-fund --loglevel=error >&2") == 0
            or return 'npm ci failed in t/browser';
    }
    return undef;
}

sub browser_run {
    my ($script, %env) = @_;
    my $port = $Kefu::WS::Port;
    local $ENV{KEFU_BASE} = "http://127.0.0.1:$port";
    local $ENV{KEFU_SITE} = $env{site};
    local $ENV{KEFU_SECRET} = $env{secret};
    local $ENV{KEFU_GROUP} = $env{group} // 'g' . int(rand 1e9);
    local $ENV{KEFU_SCREENSHOTS} = $ENV{KEFU_SCREENSHOTS}
                                   // "$Root/build/screenshots";

    my $pid = open(my $fh, '-|');
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        chdir $Dir or die $!;
        exec 'node', $script or die "exec node: $!";
    }
    my ($tests, $seen_plan) = (0, 0);
    while (my $line = <$fh>) {
        chomp $line;
        if ($line =~ /^ok \d+ - (.*?) # SKIP (.*)$/) {
            SKIP: { Test::More::skip("$script: $1: $2", 1); }
            $tests++;
        } elsif ($line =~ /^(not )?ok \d+ - (.*)$/) {
            Test::More::ok(!$1, "$script: $2");
            $tests++;
        } elsif ($line =~ /^1\.\.(\d+)$/) {
            $seen_plan = 1;
        } elsif ($line =~ /^# ?(.*)$/) {
            Test::More::note($1);
        } elsif (length $line) {
            Test::More::diag("$script: $line");
        }
    }
    close $fh;
    my $rc = $? >> 8;
    Test::More::ok($seen_plan && $rc == 0 && $tests > 0,
                   "$script ran to the end ($tests checks, exit $rc)");
}

1;
