# Training curves: per learned model, mean over folds (line) and +/- 1 sd (band) per evaluated epoch.
# data/curves.dat: for model m (0-based, order of `models`) blocks 3m, 3m+1, 3m+2 = train loss, train C,
# valid C; columns epoch mean lo hi rgb. colors: one '#rrggbb' per model (the report's model colours).
if (!exists("models")) models = 'proposed'
if (!exists("colors")) colors = '#d62728'
if (!exists("nepochs")) nepochs = 30
if (!exists("nmodels")) nmodels = words(models)
w = 1500; h = 520
load style
set multiplot layout 1,3
set xlabel 'epoch'
set key bottom right font ',10' samplen 2 opaque
if (nepochs <= 12) { set xtics 1 }
f = datadir.'/curves.dat'
do for [s=0:2] {
    set title (s == 0 ? 'Training loss (NPLL per event)' : s == 1 ? 'C-index, training split' : 'C-index, validation split')
    set ylabel (s == 0 ? 'mean negative partial log-likelihood per event' : 'Harrell C-index')
    if (s == 0) { unset key } else { set key }
    plot for [m=0:nmodels-1] f index 3*m+s using 1:3:4 with filledcurves lc rgb word(colors, m+1) fs transparent solid 0.18 noborder notitle, \
         for [m=0:nmodels-1] f index 3*m+s using 1:2:5 with linespoints lw 2 pt 7 ps 0.6 lc rgb variable title word(models, m+1)
}
unset multiplot
