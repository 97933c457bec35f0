package Kefu::Reach;

# What the tests' nginx workers can read.  Started as root, nginx runs its
# workers as another user (nobody): a checkout under a directory others
# may not enter (/root is 0700 on Debian) is out of their reach, so what
# they serve or write goes elsewhere (t/Kefu.pm's server roots and html/).

use strict;
use warnings;

use Exporter 'import';
use File::Basename qw(dirname);
use File::Path ();

our @EXPORT_OK = qw(reachable served_from);

# whether every directory on the way to $d may be entered by others
sub reachable {
    my ($d) = @_;
    while (1) {
        my @st = stat $d;
        return 0 unless @st && ($st[2] & 01);
        return 1 if $d eq '/';
        $d = dirname($d);
    }
}

# $src itself when the workers reach it, else a copy of it at $copy (made
# anew; its parent must be reachable)
sub served_from {
    my ($src, $copy) = @_;
    return $src if reachable($src);
    File::Path::remove_tree($copy);
    system('cp', '-R', $src, $copy) == 0 or die "copying $src to $copy failed\n";
    chmod 0755, $copy;
    return $copy;
}

1;
