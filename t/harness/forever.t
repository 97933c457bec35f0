# A fixture of t/098-harness.t (not run by the suite itself: it fails on
# purpose): a block whose ws code waits for ever, one after it, and one
# that catches the bound's die and goes on.
use FindBin;
use lib "$FindBin::Bin/../..";
use t::Kefu;

run_tests();

__DATA__

=== TEST 1: waits for ever
--- ws
sleep 1 while 1;



=== TEST 2: the block after it runs
--- ws
ok(1, 'the next block runs');



=== TEST 3: catches the bound's die and goes on waiting
--- ws
while (1) { eval { sleep 1 while 1 } }
