# Truth recovery: predicted lesion risk vs the generator's true lesion log-hazard (test lesions), by organ.
# data/truth_scatter.dat: true predicted rgb organ. organs / ocolors: legend names and colours.
if (!exists("rho")) rho = 0
if (!exists("model")) model = ''
if (!exists("organs")) organs = ''
if (!exists("ocolors")) ocolors = ''
w = 800; h = 650
load style
set title sprintf('Truth recovery, %s: Spearman rho = %.3f', model, rho)
set xlabel 'true lesion log-hazard h_l (synthetic cohort)'
set ylabel 'predicted lesion risk r_l (unitless)'
set grid xtics
set key outside right top title 'organ' font ',11'
f = datadir.'/truth_scatter.dat'
plot for [i=1:words(organs)] f using 1:(strcol(4) eq word(organs, i) ? $2 : NaN) with points pt 7 ps 0.7 \
         lc rgb word(ocolors, i) title word(organs, i)
