#!/usr/bin/env Rscript
# Writes the R reference files for the survival statistics tests (tests/references/survival/).
# Needs Debian r-base-core r-cran-survival r-cran-lme4 r-cran-lmertest r-cran-nlme r-cran-boot.
# Run from the repository root:  Rscript tests/gen_survival_refs.R
# CI does not need R: the C tests read only the committed files.
#
# For every case NAME it writes NAME.csv (the input, also usable with `lesionrank stats`) and
# NAME_expected.csv (key,value rows, values with 17 significant digits). What each value is:
#  - cindex_*   survival::concordance(Surv(time, event) ~ risk, reverse = TRUE): counts and C
#  - npll_*     -coxph(Surv(time, event) ~ offset(risk), ties = "breslow"|"efron")$loglik
#  - grad_*     -residuals(<that fit>, "martingale") = dNPLL/d(eta), in a separate NAME_grad.csv
#  - uno_tau*   survival::concordance(..., reverse = TRUE, timewt = "n/G2", ymax = tau)
#  - auc_t*     IPCW cumulative/dynamic AUC written out below (no timeROC in Debian): cases T <= t with
#               an event weighted 1/G(T-), G = survfit(Surv(time, 1 - event) ~ 1); controls T > t
#  - lmm        lme4::lmer (tight optimizer tolerances) + lmerTest (Satterthwaite) + nlme::lme (containment
#               df; p-values from summary(lme, adjustSigma = FALSE))
#  - boot_*     boot::boot + boot.ci(type = c("perc", "bca"), L = empinf(type = "jack")) with large R
suppressPackageStartupMessages({
  library(survival); library(lme4); library(lmerTest); library(nlme); library(boot)
})
out_dir <- "tests/references/survival"
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
fmt <- function(x) ifelse(is.na(x), "nan", sprintf("%.17g", x))
write_expected <- function(name, values) {
  df <- data.frame(key = names(values), value = fmt(unlist(values)))
  write.csv(df, file.path(out_dir, paste0(name, "_expected.csv")), row.names = FALSE, quote = FALSE)
}
write_input <- function(name, d) {
  write.csv(d, file.path(out_dir, paste0(name, ".csv")), row.names = FALSE, quote = FALSE)
}

# ---------------------------------------------------------------- survival cases
# Brute-force definitions, used to check that R's functions compute what we document.
uno_brute <- function(time, event, risk, tau) {
  n <- length(time)
  # survival's fastkm1 censoring KM: deaths precede censorings at tied times; G(t-)
  ut <- sort(unique(time)); G <- 1; Gleft <- numeric(n)
  for (t in ut) {
    at <- time == t
    Gleft[at] <- G
    c <- sum(at & event == 0); d <- sum(at & event == 1); r <- sum(time >= t) - d
    if (c > 0 && r > 0) G <- G * (r - c) / r
  }
  num <- 0; den <- 0
  for (i in which(event == 1 & time <= tau)) {
    later <- time > time[i] | (time == time[i] & event == 0)
    w <- 1 / Gleft[i]^2
    num <- num + w * (sum(risk[later] < risk[i]) + 0.5 * sum(risk[later] == risk[i]))
    den <- den + w * sum(later)
  }
  num / den
}
auc_ipcw <- function(time, event, risk, t) {
  km <- survfit(Surv(time, 1 - event) ~ 1)
  Gleft <- stepfun(km$time, c(1, km$surv), right = TRUE)  # left-continuous: G(s-)
  cases <- which(time <= t & event == 1); controls <- which(time > t)
  if (!length(cases) || !length(controls)) return(NA)
  w <- 1 / Gleft(time[cases])
  s <- sapply(cases, function(i) sum(risk[controls] < risk[i]) + 0.5 * sum(risk[controls] == risk[i]))
  sum(w * s) / (sum(w) * length(controls))
}

survival_case <- function(name, d, taus, auc_times) {
  write_input(name, d)
  y <- Surv(d$time, d$event)
  v <- list(n = nrow(d))
  cf <- concordance(y ~ d$risk, reverse = TRUE)
  v$cindex_concordant <- cf$count[["concordant"]]
  v$cindex_discordant <- cf$count[["discordant"]]
  v$cindex_tied_risk <- cf$count[["tied.x"]]
  v$cindex_comparable <- sum(cf$count[c("concordant", "discordant", "tied.x")])
  v$cindex <- cf$concordance
  grads <- data.frame(row = seq_len(nrow(d)))
  if (sum(d$event) > 0) {
    for (ties in c("breslow", "efron")) {
      fit <- coxph(y ~ offset(d$risk), ties = ties)
      v[[paste0("npll_", ties)]] <- -fit$loglik[1]
      grads[[ties]] <- -residuals(fit, type = "martingale")
    }
    write.csv(grads, file.path(out_dir, paste0(name, "_grad.csv")), row.names = FALSE, quote = FALSE)
  }
  for (k in seq_along(taus)) {
    tau <- taus[k]
    u <- concordance(y ~ d$risk, reverse = TRUE, timewt = "n/G2", ymax = if (is.finite(tau)) tau else NULL)
    b <- uno_brute(d$time, d$event, d$risk, tau)
    if (abs(u$concordance - b) > 1e-12) stop(name, ": survival n/G2 differs from the documented definition")
    v[[sprintf("uno_tau%d", k)]] <- tau
    v[[sprintf("uno_cindex%d", k)]] <- u$concordance
  }
  for (k in seq_along(auc_times)) {
    v[[sprintf("auc_t%d", k)]] <- auc_times[k]
    v[[sprintf("auc%d", k)]] <- auc_ipcw(d$time, d$event, d$risk, auc_times[k])
  }
  write_expected(name, v)
}

set.seed(20240501)
# hand-made: ties in time (event/event, event/censored, censored/censored) and in risk
small <- data.frame(time  = c(1, 2, 2, 3, 3, 3, 4, 5, 5, 6, 7, 8),
                    event = c(1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0),
                    risk  = c(0.9, 0.5, 0.5, 0.2, 0.7, 0.2, -0.1, 0.0, 0.3, 0.3, -0.4, -0.4))
survival_case("small_ties", small, taus = c(Inf, 5), auc_times = c(2, 3.5, 5))

# continuous times and risks, moderate censoring
n <- 200
risk <- rnorm(n)
t_event <- rexp(n, exp(0.8 * risk) / 300); t_cens <- runif(n, 50, 900)
cont <- data.frame(time = round(pmin(t_event, t_cens), 6), event = as.integer(t_event <= t_cens),
                   risk = round(risk, 8))
survival_case("continuous", cont, taus = c(Inf, 365), auc_times = c(90, 180, 365))

# heavy censoring (~85%), rounded times and risks: many ties
n <- 150
risk <- rnorm(n)
t_event <- rexp(n, exp(risk) / 2000); t_cens <- rexp(n, 1 / 150)
heavy <- data.frame(time = ceil <- ceiling(pmin(t_event, t_cens) / 10) * 10,
                    event = as.integer(t_event <= t_cens), risk = round(risk, 1))
survival_case("heavy_censoring", heavy, taus = c(Inf, 200), auc_times = c(50, 100, 200))

# tiny n
survival_case("tiny", data.frame(time = c(2, 1, 3), event = c(1, 1, 0), risk = c(0.1, 0.2, 0.1)),
              taus = Inf, auc_times = 1.5)

# large risks: numerically hard for a naive exp(eta) sum
n <- 60
big <- data.frame(time = sample(1:20, n, replace = TRUE), event = rbinom(n, 1, 0.6),
                  risk = round(runif(n, 200, 700), 3))
survival_case("large_risk", big, taus = Inf, auc_times = 10)

# R's survival::lung (status 2 = dead), a fixed linear risk score
lung_cc <- lung[complete.cases(lung[, c("time", "status", "age", "sex", "ph.ecog")]), ]
lung_d <- data.frame(time = lung_cc$time, event = as.integer(lung_cc$status == 2),
                     risk = round(0.011 * lung_cc$age - 0.55 * lung_cc$sex + 0.46 * lung_cc$ph.ecog, 6),
                     risk_other = lung_cc$ph.ecog)
survival_case("lung", lung_d, taus = c(Inf, 365, 730), auc_times = c(180, 365, 730))

# ---------------------------------------------------------------- bootstrap
harrell <- function(time, event, risk) {
  # vectorised Harrell C (survival::concordance conventions), fast enough for R = 20000 on n = 228
  ti <- outer(time, time, "<") | (outer(time, time, "==") & outer(rep(1, length(time)), event == 0))
  comparable <- (event == 1) & ti
  diag(comparable) <- FALSE
  rd <- outer(risk, risk, "-")
  (sum(comparable & rd > 0) + 0.5 * sum(comparable & rd == 0)) / sum(comparable)
}
B <- 20000
boot_case <- function(name, statistic, data, extra = list()) {
  set.seed(7)
  b <- boot(data, statistic, R = B)
  L <- empinf(b, type = "jack")
  ci <- boot.ci(b, conf = 0.95, type = c("perc", "bca"), L = L)
  t <- b$t[, 1]; t <- t[is.finite(t)]
  v <- c(list(B = B, estimate = b$t0[1], se = sd(t),
              z0 = qnorm(sum(t < b$t0[1]) / length(t)),
              acceleration = sum(L^3) / (6 * sum(L^2)^1.5),
              perc_low = ci$percent[4], perc_high = ci$percent[5],
              bca_low = ci$bca[4], bca_high = ci$bca[5]), extra)
  write_expected(name, v)
}
boot_case("boot_cindex_lung", function(d, i) harrell(d$time[i], d$event[i], d$risk[i]), lung_d)
boot_case("boot_cindex_diff_lung",
          function(d, i) harrell(d$time[i], d$event[i], d$risk[i]) -
                         harrell(d$time[i], d$event[i], d$risk_other[i]), lung_d)

# ---------------------------------------------------------------- mixed models
tight <- lmerControl(optimizer = "nloptwrap", calc.derivs = FALSE,
                     optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-15, xtol_rel = 1e-14, ftol_rel = 1e-15,
                                    maxeval = 100000))
lmm_case <- function(name, d, fixed, test) {
  write_input(name, d)
  form <- as.formula(paste("y ~", paste(fixed, collapse = " + "), "+ (1 | g)"))
  form_lme <- as.formula(paste("y ~", paste(fixed, collapse = " + ")))
  for (method in c("reml", "ml")) {
    reml <- method == "reml"
    m <- lmerTest::lmer(form, data = d, REML = reml, control = tight)
    co <- summary(m)$coefficients
    vc <- as.data.frame(VarCorr(m))
    ln <- lme(form_lme, random = ~ 1 | g, data = d, method = if (reml) "REML" else "ML",
              control = lmeControl(tolerance = 1e-12, msTol = 1e-12, msMaxIter = 1000, niterEM = 1000,
                                   returnObject = TRUE))
    # adjustSigma = FALSE: nlme otherwise inflates ML standard errors by sqrt(N / (N - p)); we use
    # the lme4 standard errors for both df methods
    lt <- summary(ln, adjustSigma = FALSE)$tTable
    v <- list(loglik = as.numeric(logLik(m)), tau2 = vc$vcov[vc$grp == "g"],
              sigma2 = vc$vcov[vc$grp == "Residual"], singular = as.integer(isSingular(m)),
              lme_loglik = as.numeric(logLik(ln)))
    names_c <- c("intercept", fixed)
    for (k in seq_along(names_c)) {
      nm <- names_c[k]
      v[[paste0("beta_", nm)]] <- co[k, "Estimate"]
      v[[paste0("se_", nm)]] <- co[k, "Std. Error"]
      v[[paste0("df_", nm)]] <- co[k, "df"]
      v[[paste0("p_", nm)]] <- co[k, "Pr(>|t|)"]
      v[[paste0("p_one_sided_", nm)]] <- pt(co[k, "t value"], co[k, "df"], lower.tail = FALSE)
      v[[paste0("df_containment_", nm)]] <- lt[k, "DF"]
      v[[paste0("p_containment_", nm)]] <- lt[k, "p-value"]
      v[[paste0("lme_beta_", nm)]] <- lt[k, "Value"]
    }
    if (!reml) {
      m0 <- lmer(update(form, paste(". ~ . -", test)), data = d, REML = FALSE, control = tight)
      stat <- 2 * (as.numeric(logLik(m)) - as.numeric(logLik(m0)))
      v$lrt_stat <- stat
      v$lrt_p <- pchisq(stat, 1, lower.tail = FALSE)
    }
    write_expected(paste0(name, "_", method), v)
  }
}
sleep <- data.frame(y = sleepstudy$Reaction, days = sleepstudy$Days, g = as.character(sleepstudy$Subject))
lmm_case("lmm_sleepstudy", sleep, "days", "days")

orth <- data.frame(y = Orthodont$distance, age = Orthodont$age, female = as.integer(Orthodont$Sex == "Female"),
                   g = as.character(Orthodont$Subject))
lmm_case("lmm_orthodont", orth, c("age", "female"), "female")

# unbalanced, groups of size 1, a within and a between covariate
set.seed(11)
G <- 30; sizes <- c(rep(1, 6), sample(2:9, G - 6, replace = TRUE))
g <- rep(sprintf("p%02d", seq_len(G)), sizes)
xb <- rep(round(rnorm(G), 4), sizes); xw <- round(rnorm(length(g)), 4)
u <- rep(rnorm(G, sd = 0.7), sizes)
unb <- data.frame(y = round(1 + 0.4 * xw - 0.3 * xb + u + rnorm(length(g)), 5), xw = xw, xb = xb, g = g)
lmm_case("lmm_unbalanced", unb, c("xw", "xb"), "xw")

# a singular fit: no group effect in the truth, tau2 estimated at the boundary 0
set.seed(3)
for (attempt in 1:200) {
  g <- rep(sprintf("s%02d", 1:12), each = 4); x <- round(rnorm(48), 4)
  sing <- data.frame(y = round(2 + 0.5 * x + rnorm(48), 5), x = x, g = g)
  if (isSingular(lmer(y ~ x + (1 | g), data = sing))) break
}
lmm_case("lmm_singular", sing, "x", "x")

# group bootstrap of the sleepstudy slope (REML), smaller R: each replicate refits lmer
groups <- unique(sleep$g)
set.seed(5)
bl <- boot(groups, function(gs, i) {
  d <- do.call(rbind, lapply(seq_along(i), function(k) {
    s <- sleep[sleep$g == gs[i[k]], ]; s$g <- paste0("b", k); s }))
  fixef(lmer(y ~ days + (1 | g), data = d))[["days"]]
}, R = 4000)
L <- empinf(bl, type = "jack")
ci <- boot.ci(bl, type = c("perc", "bca"), L = L)
write_expected("boot_lmm_sleepstudy", list(B = 4000, estimate = bl$t0, se = sd(bl$t[, 1]),
  z0 = qnorm(sum(bl$t[, 1] < bl$t0) / 4000), acceleration = sum(L^3) / (6 * sum(L^2)^1.5),
  perc_low = ci$percent[4], perc_high = ci$percent[5], bca_low = ci$bca[4], bca_high = ci$bca[5]))
source("tests/gen_lmm_nested_refs.R")
cat("wrote", length(list.files(out_dir)), "files to", out_dir, "\n")
