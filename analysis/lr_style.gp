# Shared style of the lesionrank report figures. The report sets: fmt ('png' or 'svg'), pngterm
# ('pngcairo' or 'png' when cairo is missing), out (path without extension); a figure may set w, h first.
if (!exists("fmt")) fmt = 'png'
if (!exists("pngterm")) pngterm = 'pngcairo'
if (!exists("w")) w = 900
if (!exists("h")) h = 600
if (fmt eq 'svg') {
    set terminal svg size w,h dynamic noenhanced font 'Sans,14' background rgb 'white'
} else {
    if (pngterm eq 'pngcairo') {
        set terminal pngcairo size w,h noenhanced font 'Sans,13' background rgb 'white'
    } else {
        set terminal png size w,h noenhanced font 'Sans,12'
    }
}
set output out.'.'.fmt
set termoption noenhanced
set border 3 lw 1.2
set tics nomirror out
set grid ytics lc rgb '#dddddd' lw 1 dt 1
set key noautotitle
