# Training curves: per learned model, mean over folds (line) and +/- 1 sd (band) per evaluated epoch.
# data/curves.dat: for model m (0-based, order of `models`) blocks 3m, 3m+1, 3m+2 = train loss, train C,
# valid C; columns epoch mean lo hi rgb.
if (!exists("models")) models = 'proposed'
if (!exists("nmodels")) nmodels = words(models)
w = 1500; h = 520
load style
set multiplot layout 1,3
set xlabel 'epoch'
set key top right font ',10' samplen 2
f = datadir.'/curves.dat'
titles = "train loss|train C-index|validation C-index"
do for [s=0:2] {
    set title (s == 0 ? 'Training loss (NPLL per event)' : s == 1 ? 'C-index, training split' : 'C-index, validation split')
    set ylabel (s == 0 ? 'mean negative partial log-likelihood per event' : 'Harrell C-index')
    if (s == 0) { unset key } else { set key }
    plot for [m=0:nmodels-1] f index 3*m+s using 1:3:4:5 with filledcurves lc rgb variable fs transparent solid 0.18 noborder notitle, \
         for [m=0:nmodels-1] f index 3*m+s using 1:2:5 with linespoints lw 2 pt 7 ps 0.6 lc rgb variable title word(models, m+1)
}
unset multiplot
