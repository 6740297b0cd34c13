# Calibration at each horizon: mean predicted vs Kaplan-Meier observed survival in 5 groups of predicted
# survival, with log-scale 95 % intervals; the diagonal is perfect calibration.
# data/calibration.csv: model,horizon_days,bin,n,pred,obs,obs_lower,obs_upper,slope,ici (header row).
if (!exists("horizons")) horizons = '365 730'
if (!exists("models")) models = 'proposed'
if (!exists("colors")) colors = '#d62728'
nh = words(horizons)
w = 520 * nh; h = 520
load style
set datafile separator ','
set multiplot layout 1,nh
set xrange [0:1]; set yrange [0:1]
set size ratio -1
set xlabel 'mean predicted survival S(t)'
set ylabel 'observed survival (Kaplan-Meier)'
set key top left font ',10'
f = datadir.'/calibration.csv'
do for [i=1:nh] {
    hz = word(horizons, i)
    set title sprintf('Calibration at %s days', hz)
    plot x with lines dt 2 lc rgb '#888888' title 'ideal', \
         for [m=1:words(models)] f skip 1 using (strcol(1) eq word(models, m) && strcol(2) eq hz ? $5 : NaN):6:7:8 \
             with yerrorbars pt 7 ps 0.9 lc rgb word(colors, m) title word(models, m), \
         for [m=1:words(models)] f skip 1 using (strcol(1) eq word(models, m) && strcol(2) eq hz ? $5 : NaN):6 \
             with lines lw 1.5 lc rgb word(colors, m) notitle
}
unset multiplot
