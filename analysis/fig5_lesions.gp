# Figure 5: the 2 highest-risk (top row) and 2 lowest-risk (bottom row) test lesions.
# data/fig5_patch<k>.dat: windowed patch (0..1 grey, matrix, row = anterior -> posterior);
# data/fig5_marks<k>.dat: block 0 = lesion outline circle (x y radius rgb), block 1 = the annotation's
# lesions as dots under the patch (x y radius rgb selected), coloured by risk (blue low -> red high).
# saliency=1 (report --saliency PRED.h5): data/fig5_saliency<k>.dat (x y r g b) replaces the grey patch: the
# patch with its occlusion map blended in (red: the region raises the lesion's risk, blue: lowers it).
if (!exists("side")) side = 72
if (!exists("scale")) scale = ''
if (!exists("saliency")) saliency = 0
w = 1000; h = 1080
load style
set palette gray
unset colorbox
unset grid
unset border
unset xtics
unset ytics
set size ratio -1
set xrange [-0.5:side-0.5]
set yrange [side+10:-0.5]
set multiplot layout 2,2 title 'Highest (top) and lowest (bottom) risk test lesions - '.scale
do for [k=1:4] {
    t = k == 1 ? title1 : k == 2 ? title2 : k == 3 ? title3 : title4
    set title t font ',11'
    if (saliency) {
        plot datadir.'/fig5_saliency'.k.'.dat' using 1:2:3:4:5 with rgbimage, \
         datadir.'/fig5_marks'.k.'.dat' index 0 using 1:2:3:4 with circles lc rgb variable lw 3 fs empty, \
         datadir.'/fig5_marks'.k.'.dat' index 1 using 1:2:3:4 with circles lc rgb variable fs solid 1.0 border lc rgb 'black'
    } else {
        plot datadir.'/fig5_patch'.k.'.dat' matrix with image, \
         datadir.'/fig5_marks'.k.'.dat' index 0 using 1:2:3:4 with circles lc rgb variable lw 3 fs empty, \
         datadir.'/fig5_marks'.k.'.dat' index 1 using 1:2:3:4 with circles lc rgb variable fs solid 1.0 border lc rgb 'black'
    }
}
unset multiplot
