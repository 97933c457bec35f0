# A short coverage-guided fuzzing run in every test run: each libFuzzer
# harness of fuzz/ (frame parser, UTF-8 validator, token verifier, client
# message validation) for KEFU_FUZZ_SECONDS (default 30) under ASan and
# UBSan.  Longer runs: scripts/fuzz SECONDS.  (No nginx here, so no Test::Nginx blocks.)
use strict;
use warnings;
use FindBin;
use Test::More;

my $root = "$FindBin::Bin/..";
my $secs = $ENV{KEFU_FUZZ_SECONDS} || 30;
my $out = `cd $root && scripts/fuzz $secs 2>&1`;
is($? >> 8, 0, "scripts/fuzz $secs: no harness failed") or diag $out;
for my $t (qw(frame utf8 jwt validate)) {
    like($out, qr/^fuzz $t: [1-9]\d* executions in ${secs}s, coverage \d+ edges, no failure$/m,
         "$t: fuzzed");
}
note $out;
done_testing();
