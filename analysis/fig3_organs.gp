# Figure 3: violin plots of predicted lesion risk per organ.
# data/fig3_violins.dat: closed outline per organ (x y rgb); data/fig3_stats.dat: x median q1 q3 n rgb "label".
if (!exists("caption")) caption = ''
w = 1000; h = 620
load style
stats datadir.'/fig3_stats.dat' using 1 nooutput
n = STATS_records
set title "Predicted lesion risk by organ\n(".caption.")"
set ylabel 'predicted lesion risk r_l (log-hazard scale, unitless)'
set xlabel 'organ (n = test lesion rows)'
set xrange [0.4:n+0.6]
set xtics rotate by -30
plot for [i=0:n-1] datadir.'/fig3_violins.dat' index i using 1:2:3 with filledcurves closed lc rgb variable \
         fs transparent solid 0.75 border lc rgb '#333333', \
     datadir.'/fig3_stats.dat' using 1:3:(0):($4-$3) with vectors nohead lw 5 lc rgb '#222222', \
     '' using 1:2:xticlabels(7) with points pt 7 ps 1.1 lc rgb 'white'
