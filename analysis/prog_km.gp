# Kaplan-Meier curves of the out-of-fold high- and low-risk halves (split at each fold's training median
# risk), one panel per model. data/km_risk_groups.csv: model,group,time,surv,lower,upper,n_risk.
if (!exists("models")) models = 'proposed'
if (!exists("labels")) labels = models
if (!exists("subtitle")) subtitle = ''
nm = words(models)
w = 480 * nm; h = 500
load style
set datafile separator ','
set multiplot layout 1,nm title subtitle font ',12'
set yrange [0:1.02]
set xlabel 'days'
set ylabel 'survival'
set key top right font ',10'
f = datadir.'/km_risk_groups.csv'
do for [m=1:nm] {
    md = word(models, m)
    set title word(labels, m)
    plot f skip 1 using (strcol(1) eq md && strcol(2) eq 'high' ? $3 : NaN):4 with steps lw 2 lc rgb '#d62728' title 'high risk', \
         f skip 1 using (strcol(1) eq md && strcol(2) eq 'low' ? $3 : NaN):4 with steps lw 2 lc rgb '#1f77b4' title 'low risk'
}
unset multiplot
