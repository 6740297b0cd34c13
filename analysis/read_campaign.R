# Read a campaign file (results/<name>.h5, schema in README.md) with hdf5r (Debian r-cran-hdf5r).
library(hdf5r)
f <- H5File$new("results/demo.h5", mode = "r")
jobs <- data.frame(model = f[["jobs/model"]][], fold = f[["jobs/fold"]][], status = f[["jobs/status"]][],
                   test_c = f[["jobs/cindex"]][3, ])  # hdf5r reverses dimensions: [3, J]
print(aggregate(test_c ~ model, data = jobs[jobs$status == "ok", ], FUN = mean)); f$close_all()
