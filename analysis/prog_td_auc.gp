# Time-dependent AUC(t) (cumulative cases, dynamic controls, IPCW), mean over folds, on the 30-day grid.
# data/td_auc.csv: model,time_days,auc.
if (!exists("models")) models = 'proposed'
if (!exists("colors")) colors = '#d62728'
w = 900; h = 560
load style
set datafile separator ','
set xlabel 'days'
set ylabel 'AUC(t)'
set yrange [0.3:1]
set key bottom right font ',10'
set title 'Time-dependent AUC (out-of-fold, mean over folds)'
f = datadir.'/td_auc.csv'
plot 0.5 with lines dt 2 lc rgb '#888888' title 'chance', \
     for [m=1:words(models)] f skip 1 using (strcol(1) eq word(models, m) ? $2 : NaN):3 with linespoints lw 2 pt 7 ps 0.5 \
         lc rgb word(colors, m) title word(models, m)
