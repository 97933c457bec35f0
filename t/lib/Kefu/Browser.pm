package Kefu::Browser;

# The browser tests' glue: runs a t/browser/*.mjs script (headless Debian
# Chromium driven by playwright-core) against the block's live nginx and
# turns its TAP lines into this test's own tests.
#
#   browser_blocks(site => 'b50', secret => $S, api => 1);
#   browser_run('050-chat.mjs', site => 'b50', secret => $S);
#
# The script gets the base URL, the site, its secret and a fresh group name
# in its environment (KEFU_BASE, KEFU_SITE, KEFU_SECRET, KEFU_GROUP).

use strict;
use warnings;

use Exporter 'import';
use Test::More ();
use Kefu::Net ();
use IO::Select ();
use Time::HiRes qw(time);

our @EXPORT = qw(browser_run browser_ready browser_blocks);

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

# A browser file's setup: Chromium and the node packages there (no skip:
# without them the file fails and says why), and every block's nginx: the
# site on the test's Redis, /chat, the html/ tree at /; api => 1 adds
# /kefu/api/; site_params, http, locations and chat change what they say.
sub browser_blocks {
    my (%o) = @_;
    if (my $why = browser_ready()) {
        die "no browser: $why (scripts/test installs Chromium and the\n"
            . "node packages; see t/README.md)\n";
    }
    $ENV{TEST_NGINX_KEFU_HTML} = t::Kefu::kefu_html();
    my $site = "kefu_site $o{site} secret=$o{secret} anonymous=on"
        . ($o{site_params} ? " $o{site_params}" : '') . ";\n";
    my $chat = $o{chat} // 'kefu_chat; kefu_message_rate 100r/s burst=200;';
    Test::Nginx::Socket::add_block_preprocessor(sub {
        my $block = shift;
        $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
            . $site . ($o{http} // '') . ($block->http_config // ''));
        $block->set_value('config', "location = /chat { $chat }\n"
            . ($o{api} ? "location /kefu/api/ { kefu_api; }\n" : '')
            . ($o{locations} // '')
            . "location / { root \$TEST_NGINX_KEFU_HTML; include /etc/nginx/mime.types;"
            . ($o{root} ? " $o{root}" : '') . " }\n");
    });
}

sub browser_run {
    my ($script, %env) = @_;
    my $port = $Kefu::WS::Port;
    local $ENV{KEFU_BASE} = "http://127.0.0.1:$port";
    local $ENV{KEFU_SITE} = $env{site};
    local $ENV{KEFU_SECRET} = $env{secret};
    local $ENV{KEFU_GROUP} = $env{group} // 'g' . int(rand 1e9);

    # a group is the site's once an agent's token claims it (contract v2):
    # the scenarios' agents often sign in after their visitors, so the
    # fresh group starts as claimed (its set of agents exists; the member
    # is no agent, so nobody is online)
    # (claim => [...]: more groups the scenario names so)
    for my $g ($ENV{KEFU_GROUP}, @{ $env{claim} // [] }) {
        Kefu::Net::redis('SADD', "kefu:{s:$env{site}}:g:$g",
                         'claimed-by-test') if $env{site};
    }
    local $ENV{KEFU_SCREENSHOTS} = $ENV{KEFU_SCREENSHOTS}
                                   // "$Root/build/screenshots";

    my $timeout = $env{timeout} // 240;

    my $pid = open(my $fh, '-|');
    die "fork: $!" unless defined $pid;
    if (!$pid) {
        # a process group of its own: a timeout stops node and its chromium
        setpgrp(0, 0);
        open STDERR, '>&', \*STDOUT;
        chdir $Dir or die $!;
        exec 'node', $script or die "exec node: $!";
    }
    my ($tests, $planned, $skips, $timed_out) = (0, undef, 0, 0);
    my $sel = IO::Select->new($fh);
    my $deadline = time + $timeout;
    my $buf = '';
    LINE: while (1) {
        my $left = $deadline - time;
        if ($left <= 0 || !$sel->can_read($left)) {
            $timed_out = 1;
            kill 'KILL', -$pid;
            last;
        }
        my $n = sysread($fh, $buf, 65536, length $buf);
        last unless $n;
        while ($buf =~ s/^([^\n]*)\n//) {
            my $line = $1;
            if ($line =~ /^ok \d+ - (.*?) # SKIP (.*)$/) {
                # a check that does not run proves nothing: no skips
                Test::More::fail("$script: $1: skipped ($2)");
                $tests++;
                $skips++;
            } elsif ($line =~ /^(not )?ok \d+ - (.*)$/) {
                Test::More::ok(!$1, "$script: $2");
                $tests++;
            } elsif ($line =~ /^1\.\.(\d+)$/) {
                $planned = $1;
            } elsif ($line =~ /^# ?(.*)$/) {
                Test::More::note($1);
            } elsif (length $line) {
                Test::More::diag("$script: $line");
            }
        }
    }
    close $fh;
    my $rc = $timed_out ? -1 : $? >> 8;
    Test::More::ok(!$timed_out, "$script finished within $timeout s");
    Test::More::is($tests, $planned, "$script ran the checks it planned (exit $rc)");
    Test::More::is($rc, 0, "$script exited 0");
}

1;
