# Decision curve at one horizon: net benefit of treating patients whose predicted risk 1 - S(t) exceeds the
# threshold, against treating all and none. data/decision_curve.csv: model,threshold,net_benefit.
if (!exists("models")) models = 'proposed'
if (!exists("colors")) colors = '#d62728'
if (!exists("horizon")) horizon = '365'
w = 900; h = 560
load style
set datafile separator ','
set xlabel sprintf('threshold probability of death by %s days', horizon)
set ylabel 'net benefit'
set xrange [0:1]
set yrange [-0.05:*]
set key top right font ',10'
set title sprintf('Decision curve at %s days', horizon)
f = datadir.'/decision_curve.csv'
plot f skip 1 using (strcol(1) eq 'treat_none' ? $2 : NaN):3 with lines lw 1.5 lc rgb '#444444' title 'treat none', \
     f skip 1 using (strcol(1) eq 'treat_all' ? $2 : NaN):3 with lines lw 1.5 dt 2 lc rgb '#444444' title 'treat all', \
     for [m=1:words(models)] f skip 1 using (strcol(1) eq word(models, m) ? $2 : NaN):3 with lines lw 2 \
         lc rgb word(colors, m) title word(models, m)
