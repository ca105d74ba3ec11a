#!/usr/bin/env bash
# perl on hmalloc: hashes, regexes, string building, sort.  The printed
# checksums must match the glibc run.
. "$(dirname "$0")/progtest.bash"

pt_need perl

cat >"$pt_tmp/work.pl" <<'EOF'
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);

# A seeded linear congruential generator: perl's srand/rand differ between
# builds, this does not.
my $state = 20240611;
sub rnd { $state = ($state * 1103515245 + 12345) % 2147483648; return $state % $_[0]; }
sub word { my $n = 1 + rnd(12); join '', map { chr(97 + rnd(26)) } 1 .. $n }

# Hashes: build, update, delete, nested.
my %h;
for my $i (1 .. 200000) {
    my $k = word() . $i % 1000;
    $h{$k} .= "$i,";
}
delete $h{$_} for grep { length($_) % 3 == 0 } keys %h;
my %nest;
for my $i (1 .. 60000) {
    push @{ $nest{ $i % 997 }{ word() } }, $i;
}
my $nkeys = 0;
$nkeys += scalar keys %{ $nest{$_} } for keys %nest;
print "hash ", scalar(keys %h), " $nkeys ",
    md5_hex(join ';', map { "$_=$h{$_}" } sort keys %h), "\n";

# Regexes over a built text: matches, captures, substitutions, split.
my $text = join ' ', map { word() . (rnd(10) < 2 ? "-" . rnd(10000) : "") } 1 .. 150000;
my @ids = $text =~ /\b([a-z]{3,6})-(\d{2,4})\b/g;
my %count;
$count{$_}++ for $text =~ /\b(\w)\w*\b/g;
(my $sub = $text) =~ s/([aeiou])([a-z])/$2\U$1/g;
my @fields = split /[\s-]+/, $text;
print "regex ", scalar(@ids), " ", scalar(@fields), " ",
    md5_hex(join ',', map { "$_$count{$_}" } sort keys %count), " ", md5_hex($sub), "\n";

# String building: repeated appends, sprintf, join, substr, reverse.
my $s = '';
for my $i (1 .. 300000) {
    $s .= sprintf("%05d:%s;", $i, word());
    substr($s, rnd(length $s), 3, '') if $i % 7 == 0;
}
my @chunks = unpack '(A4096)*', $s;
my $rev = join '', reverse @chunks;
print "string ", length($s), " ", scalar(@chunks), " ", md5_hex($rev), "\n";

# Sort: numeric, string, multi-key, Schwartzian transform.
my @nums = map { rnd(1000000) } 1 .. 300000;
my @sn = sort { $a <=> $b } @nums;
my @ss = sort map { word() } 1 .. 200000;
my @mk = map { $_->[2] }
    sort { $a->[0] <=> $b->[0] or $a->[1] cmp $b->[1] }
    map { [ rnd(100), word(), $_ ] } 1 .. 150000;
print "sort ", md5_hex(join ',', @sn[ map { $_ * 1000 } 0 .. 299 ]), " ",
    md5_hex(join ',', @ss), " ", md5_hex(join ',', @mk), "\n";
EOF

export PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0
pt_run glibc glibc perl "$pt_tmp/work.pl"
pt_run hmalloc hm perl "$pt_tmp/work.pl"
pt_compare_runs glibc hm
grep -q '^sort ' "$pt_tmp/hm.out" || pt_fail "incomplete output under hmalloc"
exit 0
