# Figure 4: risk of growing vs shrinking test lesions (violins, white dot = median, bar = IQR).
if (!exists("caption")) caption = ''
w = 700; h = 620
load style
stats datadir.'/fig4_stats.dat' using 1 nooutput
n = STATS_records
set title "Risk of growing and shrinking lesions\n(".caption.")"
set ylabel 'predicted lesion risk r_l (log-hazard scale, unitless)'
set xlabel 'volume change to the second time point'
set xrange [0.4:n+0.6]
plot for [i=0:n-1] datadir.'/fig4_violins.dat' index i using 1:2:3 with filledcurves closed lc rgb variable \
         fs transparent solid 0.75 border lc rgb '#333333', \
     datadir.'/fig4_stats.dat' using 1:3:(0):($4-$3) with vectors nohead lw 5 lc rgb '#222222', \
     '' using 1:2:xticlabels(7) with points pt 7 ps 1.3 lc rgb 'white'
