# predict --saliency --figures DIR: the 2 highest- and 2 lowest-risk lesions of the new cohort (rows), as
# the patch, the patch with the occlusion map and the patch with the SmoothGrad map (columns).
# data/saliency<k>_<panel>.dat: x y r g b (0..255), row = anterior -> posterior; panels patch, occlusion,
# gradient; red = raises the risk, blue = lowers it, opacity = |map| / max |map| of that lesion.
if (!exists("side")) side = 72
w = 1050; h = 1450
load style
unset colorbox
unset grid
unset border
unset xtics
unset ytics
set size ratio -1
set xrange [-0.5:side-0.5]
set yrange [side-0.5:-0.5]
set multiplot layout 4,3 title 'Saliency of the highest (rows 1-2) and lowest (rows 3-4) risk lesions: patch | occlusion | SmoothGrad'
do for [k=1:4] {
    do for [p=1:3] {
        panel = p == 1 ? 'patch' : p == 2 ? 'occlusion' : 'gradient'
        set title (p == 1 ? value(sprintf('title%d', k)) : panel) font ',10'
        plot datadir.'/saliency'.k.'_'.panel.'.dat' using 1:2:3:4:5 with rgbimage
    }
}
unset multiplot
