# Truth recovery: predicted lesion risk vs the generator's true lesion log-hazard (test lesions), by organ.
# data/truth_scatter.dat: true predicted rgb organ.
if (!exists("rho")) rho = 0
if (!exists("model")) model = ''
w = 800; h = 650
load style
set title sprintf('Truth recovery, %s: Spearman rho = %.3f', model, rho)
set xlabel 'true lesion log-hazard h_l (synthetic cohort)'
set ylabel 'predicted lesion risk r_l (unitless)'
set grid xtics
plot datadir.'/truth_scatter.dat' using 1:2:3 with points pt 7 ps 0.7 lc rgb variable notitle
