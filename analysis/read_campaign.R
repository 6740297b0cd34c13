# Read a campaign file (results/<name>.h5, schema in the top-level README) with hdf5r (Debian r-cran-hdf5r):
#   Rscript analysis/read_campaign.R [results/demo.h5] [proposed]
# prints the mean test C per model row, then one model row's out-of-fold survival probability per patient at
# the report's horizons (from /survival/patient_surv: each patient's test fold). hdf5r reverses dimensions.
library(hdf5r)
args <- commandArgs(trailingOnly = TRUE)
path <- if (length(args) >= 1) args[1] else "results/demo.h5"
row <- if (length(args) >= 2) args[2] else "proposed"
f <- H5File$new(path, mode = "r")
jobs <- data.frame(model = f[["jobs/model"]][], fold = f[["jobs/fold"]][], status = f[["jobs/status"]][],
                   test_c = f[["jobs/cindex"]][3, ])  # [3, J] in R
print(aggregate(test_c ~ model, data = jobs[jobs$status == "ok", ], FUN = mean))
if (!f$exists("survival")) stop(path, ": no /survival group (campaign written before survival outputs)")
horizons <- f[["survival/horizons_days"]][]; grid <- f[["survival/grid_days"]][]
at <- sapply(horizons, function(h) which.min(abs(grid - h)))
j <- which(jobs$model == row & jobs$status == "ok")
if (length(j) == 0) stop(path, ": no finished job of model '", row, "'")
role <- f[["risks/patient_role"]][, j, drop = FALSE]          # [P, jobs]
surv <- f[["survival/patient_surv"]][at, , j, drop = FALSE]   # [H, P, jobs]
oof <- sapply(seq_along(at), function(h) {
  s <- ifelse(role == 2, surv[h, , ], NA); rowMeans(matrix(s, nrow = nrow(role)), na.rm = TRUE) })
oof <- matrix(oof, ncol = length(at), dimnames = list(NULL, sprintf("surv_at_%g", horizons)))
print(head(data.frame(time_days = f[["cohort/time_days"]][], event = f[["cohort/event"]][], oof)))
f$close_all()
