#!/usr/bin/env Rscript
# Writes the R reference files for the prognostic-model statistics (tests/references/prognosis/):
# Kaplan-Meier, log-rank, Breslow baseline, Brier/IPA, integrated Brier score, Cox regression and
# calibration. Needs Debian r-base-core r-cran-survival r-cran-riskregression r-cran-pec r-cran-rms.
# Run from the repository root:  Rscript tests/gen_prognosis_refs.R   (CI reads only the committed files)
#
# For every case NAME: NAME.csv (the input, usable with `lesionrank stats`) and NAME_expected.csv (key,value,
# 17 significant digits; "nan" for NA). Keys are the `lesionrank stats` output keys prefixed by the verb
# (km_, breslow_, brier_, ibs_, cox_, cal_), so the C and CLI tests loop over them:
#  - km_*        survival::survfit / summary(survfit, times)$surv, $std.err / print.survfit median / survdiff
#  - breslow_*   -log S(t | risk = 0) of survfit(coxph(Surv ~ offset(risk), ties), newdata) (= basehaz(centered
#                = FALSE) * exp(-mean(risk)): survival 3.5 leaves the offset centred; checked below)
#  - brier_*     riskRegression::Score(..., metrics = "brier", cens.model = "marginal", null.model = TRUE),
#                checked here against the written-out IPCW formula
#  - ibs_*       pec::ibs(pec(list(cbind(1, S)), times = c(0, grid), exact = FALSE, cens.model = "marginal"))
#  - cox_*       coxph(..., control = coxph.control(eps = 1e-14, iter.max = 100))
#  - cal_*       groups floor((rank(S, ties = "first") - 1) * B / n), survfit per group (conf.type "log");
#                slope: coxph(Surv ~ log(-log S)); intercept: log basehaz(centered = FALSE) at t;
#                ICI/E50/E90: coxph(Surv ~ rcs(log(-log S), knots at quantile(c(.1,.5,.9)))), survfit(newdata)
suppressPackageStartupMessages({
  library(survival); library(riskRegression); library(pec); library(Hmisc)
})
out_dir <- "tests/references/prognosis"
dir.create(out_dir, recursive = TRUE, showWarnings = FALSE)
fmt <- function(x) ifelse(is.na(x), "nan", sprintf("%.17g", x))
tight <- coxph.control(eps = 1e-14, iter.max = 100, toler.chol = 1e-15)

km_values <- function(v, time, event, at, suffix = "", group_label = NULL) {
  f <- survfit(Surv(time, event) ~ 1)
  g <- if (is.null(group_label)) "" else paste0("_", group_label)
  v[[paste0("km_n", g)]] <- length(time)
  v[[paste0("km_events", g)]] <- sum(event)
  v[[paste0("km_median_survival", g)]] <- unname(summary(f)$table["median"])
  if (length(at)) {
    s <- summary(f, times = at)
    for (k in seq_along(at)) {
      key_s <- if (is.null(group_label)) sprintf("km_surv_at_%s", format(at[k])) else sprintf("km_surv_%s_at_%s", group_label, format(at[k]))
      key_e <- if (is.null(group_label)) sprintf("km_se_at_%s", format(at[k])) else sprintf("km_se_%s_at_%s", group_label, format(at[k]))
      v[[key_s]] <- s$surv[k]; v[[key_e]] <- s$std.err[k]
    }
  }
  v
}

last_step <- function(bh, t) { k <- which(bh$time <= t); if (length(k)) bh$hazard[max(k)] else 0 }

# the censoring Kaplan-Meier as prodlim(reverse = TRUE) builds it (riskRegression and pec use it): at a
# time with deaths and censorings the deaths leave the risk set first. Returns G(s-) and G(s) at s.
censoring_km <- function(time, event) {
  ut <- sort(unique(time)); G <- 1; left <- right <- numeric(length(ut))
  for (k in seq_along(ut)) {
    at <- time == ut[k]; left[k] <- G
    c <- sum(at & event == 0); r <- sum(time >= ut[k]) - sum(at & event == 1)
    if (c > 0 && r > 0) G <- G * (r - c) / r
    right[k] <- G
  }
  list(left = function(s) left[match(s, ut)], at = function(s) right[max(which(ut <= s))])
}
brier_ipcw <- function(time, event, S, t) {  # the formula we implement, written out
  G <- censoring_km(time, event)
  case <- time <= t & event == 1; ctrl <- time > t
  mean(ifelse(case, S^2 / G$left(time), ifelse(ctrl, (1 - S)^2 / G$at(t), 0)))
}

prognosis_case <- function(name, d, at_km, group, at_breslow, brier_t, surv_cols, grid, cox_covs, cal_t, cal_col,
                           bins = 5) {
  write.csv(d, file.path(out_dir, paste0(name, ".csv")), row.names = FALSE, quote = FALSE)
  v <- list()
  # --- km
  v <- km_values(v, d$time, d$event, at_km)
  if (!is.null(group)) {
    for (g in sort(unique(as.character(d[[group]])))) {
      sel <- as.character(d[[group]]) == g
      v <- km_values(v, d$time[sel], d$event[sel], at_km, group_label = g)
    }
    sd <- survdiff(Surv(time, event) ~ d[[group]], data = d)
    v$km_logrank_chisq <- sd$chisq
    v$km_logrank_df <- length(sd$n) - 1
    v$km_logrank_p <- pchisq(sd$chisq, length(sd$n) - 1, lower.tail = FALSE)
  }
  # --- breslow (both ties)
  # The baseline for which S(t | risk) = exp(-H0(t) e^risk): -log S(t | risk = 0) from survfit(newdata).
  # basehaz(centered = FALSE) of an offset-only coxph is that times exp(mean(risk)) in survival 3.5 (the
  # offset's centring is not undone); checked here so the difference stays documented.
  for (ties in c("efron", "breslow")) {
    fit <- coxph(Surv(time, event) ~ offset(risk), data = d, ties = ties)
    H0 <- -log(summary(survfit(fit, newdata = data.frame(risk = 0)), times = at_breslow, extend = TRUE)$surv)
    bh <- basehaz(fit, centered = FALSE)
    quirk <- sapply(at_breslow, function(t) last_step(bh, t)) * exp(-mean(d$risk))
    if (max(abs(quirk - H0)) > 1e-10 * max(H0)) stop(name, ": basehaz(centered = FALSE) offset convention changed")
    for (k in seq_along(at_breslow)) v[[sprintf("breslow_%s_cumhaz_at_%s", ties, format(at_breslow[k]))]] <- H0[k]
  }
  # --- brier at brier_t with column surv_cols[1]
  S <- d[[surv_cols$brier]]
  # a copy: Score turns its data into a data.table by reference
  sc <- Score(list(model = 1 - S), Surv(time, event) ~ 1, data = data.frame(d), metrics = "brier", cens.model = "marginal",
              times = brier_t, null.model = TRUE, se.fit = FALSE)
  bs <- as.data.frame(sc$Brier$score)
  b_model <- bs$Brier[bs$model == "model"]; b_null <- bs$Brier[bs$model == "Null model"]
  manual <- brier_ipcw(d$time, d$event, S, brier_t)
  if (abs(b_model - manual) > 1e-12) stop(name, ": Score ", b_model, " differs from the IPCW formula ", manual)
  v$brier_brier <- b_model
  v$brier_brier_km <- b_null
  v$brier_ipa <- 1 - b_model / b_null
  # --- ibs over the grid columns
  pred_matrix <- cbind(1, as.matrix(d[, surv_cols$grid]))
  p <- pec(list(model = pred_matrix), formula = Surv(time, event) ~ 1, data = d, times = c(0, grid), exact = FALSE,
           cens.model = "marginal", reference = TRUE, verbose = FALSE)
  ib <- ibs(p, times = max(grid))
  k <- which(grid == brier_t)
  if (length(k) && abs(p$AppErr$model[k + 1] - b_model) > 1e-12) stop(name, ": pec and Score Brier differ")
  v$ibs_ibs <- ib["model", 1]
  v$ibs_ibs_km <- ib["Reference", 1]
  # --- cox: one covariate (both ties), then all together
  for (ties in c("efron", "breslow")) {
    f <- coxph(as.formula(paste("Surv(time, event) ~", cox_covs[1])), data = d, ties = ties, control = tight)
    s <- summary(f, conf.int = 0.95)
    v[[sprintf("cox_%s_coef", ties)]] <- coef(f)[[1]]
    v[[sprintf("cox_%s_se", ties)]] <- sqrt(vcov(f)[1, 1])
    v[[sprintf("cox_%s_hr", ties)]] <- s$conf.int[1, "exp(coef)"]
    v[[sprintf("cox_%s_hr_lower", ties)]] <- s$conf.int[1, "lower .95"]
    v[[sprintf("cox_%s_hr_upper", ties)]] <- s$conf.int[1, "upper .95"]
    v[[sprintf("cox_%s_wald_p", ties)]] <- s$coefficients[1, "Pr(>|z|)"]
    v[[sprintf("cox_%s_loglik", ties)]] <- f$loglik[2]
  }
  if (length(cox_covs) > 1) {
    f <- coxph(as.formula(paste("Surv(time, event) ~", paste(cox_covs, collapse = " + "))), data = d, control = tight)
    for (x in cox_covs) {
      v[[sprintf("cox_multi_coef_%s", x)]] <- coef(f)[[x]]
      v[[sprintf("cox_multi_se_%s", x)]] <- sqrt(vcov(f)[x, x])
    }
  }
  # --- calibration
  S <- d[[cal_col]]; n <- nrow(d)
  bin <- floor((rank(S, ties.method = "first") - 1) * bins / n)
  v$cal_bins <- bins
  for (k in 0:(bins - 1)) {
    sel <- bin == k
    f <- survfit(Surv(time, event) ~ 1, data = d[sel, ])
    v[[sprintf("cal_bin%d_n", k + 1)]] <- sum(sel)
    v[[sprintf("cal_bin%d_pred", k + 1)]] <- mean(S[sel])
    if (cal_t <= max(d$time[sel])) {
      s <- summary(f, times = cal_t)
      v[[sprintf("cal_bin%d_obs", k + 1)]] <- s$surv
      v[[sprintf("cal_bin%d_obs_se", k + 1)]] <- s$std.err
      v[[sprintf("cal_bin%d_obs_lower", k + 1)]] <- s$lower
      v[[sprintf("cal_bin%d_obs_upper", k + 1)]] <- s$upper
    }
  }
  dd <- data.frame(time = d$time, event = d$event, cll = log(-log(S)))
  f1 <- coxph(Surv(time, event) ~ cll, data = dd, control = tight)
  v$cal_slope <- coef(f1)[[1]]
  v$cal_slope_se <- sqrt(vcov(f1)[1, 1])
  v$cal_intercept <- log(last_step(basehaz(f1, centered = FALSE), cal_t))
  knots <- unname(quantile(dd$cll, c(0.1, 0.5, 0.9)))
  B <- rcspline.eval(dd$cll, knots = knots, inclx = TRUE)
  dd$b1 <- B[, 1]; dd$b2 <- B[, 2]
  f2 <- coxph(Surv(time, event) ~ b1 + b2, data = dd, control = tight)
  obs <- as.numeric(summary(survfit(f2, newdata = dd), times = cal_t)$surv)
  manual <- exp(-last_step(basehaz(f2, centered = FALSE), cal_t) * exp(B %*% coef(f2)))
  if (max(abs(obs - manual)) > 1e-10) stop(name, ": survfit(newdata) differs from the uncentred baseline")
  err <- abs(S - obs)
  v$cal_ici <- mean(err)
  v$cal_e50 <- unname(quantile(err, 0.5))
  v$cal_e90 <- unname(quantile(err, 0.9))
  v$cal_knot1 <- knots[1]; v$cal_knot2 <- knots[2]; v$cal_knot3 <- knots[3]
  # NAME_args.txt: "PREFIX VERB OPTIONS" per line; reference key = PREFIX_<key printed by the verb>
  at <- function(x) paste(sapply(x, format), collapse = ",")
  args <- c(paste("km km", if (!is.null(group)) paste("--group", group), "--at", at(at_km)),
            sprintf("breslow_%s breslow --risk risk --at %s --ties %s", c("efron", "breslow"), at(at_breslow),
                    c("efron", "breslow")),
            sprintf("brier brier --surv %s --at %s", surv_cols$brier, format(brier_t)),
            sprintf("ibs ibs --surv %s --at %s", paste(surv_cols$grid, collapse = ","), at(grid)),
            sprintf("cox_%s cox --covariate %s --ties %s", c("efron", "breslow"), cox_covs[1], c("efron", "breslow")),
            if (length(cox_covs) > 1) sprintf("cox_multi cox --covariate %s", paste(cox_covs, collapse = ",")),
            sprintf("cal calibration --surv %s --at %s --bins %d", cal_col, format(cal_t), bins))
  writeLines(args, file.path(out_dir, paste0(name, "_args.txt")))
  df <- data.frame(key = names(v), value = fmt(unlist(v)))
  write.csv(df, file.path(out_dir, paste0(name, "_expected.csv")), row.names = FALSE, quote = FALSE)
}

# survival probabilities from a Breslow baseline fitted on a training subset (the report's construction)
# (survfit(newdata), not basehaz(centered = FALSE): see the breslow_* note above)
breslow_surv <- function(train, test_risk, times) {
  fit <- coxph(Surv(time, event) ~ offset(risk), data = train)
  H0 <- -log(summary(survfit(fit, newdata = data.frame(risk = 0)), times = times, extend = TRUE)$surv)
  S <- sapply(H0, function(h) exp(-h * exp(test_risk)))  # [patients, times]
  # one patient at a time: with several rows of newdata survfit returns a single curve for this model
  check <- summary(survfit(fit, newdata = data.frame(risk = test_risk[3])), times = times[2], extend = TRUE)$surv
  if (abs(check - S[3, 2]) > 1e-12) stop("survfit(newdata) is not exp(-H0 e^risk)")
  S
}

# ---- R's lung: sex as the group, a fixed linear risk score, survival from a baseline fitted on half
lung_cc <- lung[complete.cases(lung[, c("time", "status", "age", "sex", "ph.ecog")]), ]
lung_d <- data.frame(time = lung_cc$time, event = as.integer(lung_cc$status == 2), sex = lung_cc$sex,
                     risk = round(0.011 * lung_cc$age - 0.55 * lung_cc$sex + 0.46 * lung_cc$ph.ecog, 6),
                     ecog = lung_cc$ph.ecog, age = lung_cc$age)
grid <- seq(60, 720, by = 60)
train <- lung_d[seq(1, nrow(lung_d), by = 2), ]
Sg <- round(breslow_surv(train, lung_d$risk, grid), 10)
colnames(Sg) <- sprintf("s%d", grid)
lung_d <- cbind(lung_d, Sg)
lung_d$s360_over <- round(lung_d$s360^0.6, 10)  # over-optimistic survival: miscalibrated
# a size-baseline-like score (age, not a log-hazard): its Cox coefficient on the training rows, then
# S(360 | age) = survfit(coxph(Surv ~ age), newdata) for every row; lung_fold_age.csv (runner/merge_survival)
fit_age <- coxph(Surv(time, event) ~ age, data = train, control = tight)
s_age <- sapply(lung_d$age, function(a) summary(survfit(fit_age, newdata = data.frame(age = a)), times = 360)$surv)
write.csv(data.frame(row = seq_len(nrow(lung_d)), s360 = sprintf("%.17g", s_age), coef = sprintf("%.17g", coef(fit_age)[[1]])),
          file.path(out_dir, "lung_fold_age.csv"), row.names = FALSE, quote = FALSE)
prognosis_case("lung", lung_d, at_km = c(90, 180, 365, 730), group = "sex", at_breslow = c(5, 180, 365, 730),
               surv_cols = list(brier = "s360", grid = sprintf("s%d", grid)), brier_t = 360, grid = grid,
               cox_covs = c("risk", "ecog", "age"), cal_t = 360, cal_col = "s360_over")

# ---- simulated: three groups, integer days (ties), 35% censoring, 300 patients
set.seed(20261201)
n <- 300
grp <- sample(c("a", "b", "c"), n, replace = TRUE)
risk <- round(rnorm(n) + 0.4 * (grp == "b") + 0.8 * (grp == "c"), 6)
t_event <- rexp(n, exp(risk) / 700); t_cens <- runif(n, 100, 1500)
sim <- data.frame(time = ceiling(pmin(t_event, t_cens)), event = as.integer(t_event <= t_cens), grp = grp,
                  risk = risk, x = round(risk + rnorm(n, sd = 0.5), 6))
grid <- seq(100, 900, by = 100)
Sg <- round(breslow_surv(sim[1:150, ], sim$risk, grid), 10)
colnames(Sg) <- sprintf("s%d", grid)
sim <- cbind(sim, Sg)
prognosis_case("sim_groups", sim, at_km = c(100, 365, 730), group = "grp", at_breslow = c(1, 365, 730),
               surv_cols = list(brier = "s300", grid = sprintf("s%d", grid)), brier_t = 300, grid = grid,
               cox_covs = c("x", "risk"), cal_t = 500, cal_col = "s500", bins = 4)

# ---- hand-made: tied times, a KM flat at exactly 1/2 (median = midpoint), two groups
small <- data.frame(time  = c(1, 2, 2, 3, 3, 3, 4, 5, 5, 6, 7, 8, 9, 10, 12, 12),
                    event = c(1, 1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0, 1),
                    g     = c(1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2),
                    risk  = c(0.9, 0.5, 0.5, 0.2, 0.7, 0.2, -0.1, 0.0, 0.3, 0.3, -0.4, -0.4, 0.1, -0.2, -0.6, 0.4))
small$s5 <- round(exp(-5 / 9 * exp(small$risk)), 10)
small$s2 <- round(exp(-2 / 9 * exp(small$risk)), 10); small$s8 <- round(exp(-8 / 9 * exp(small$risk)), 10)
small$s10 <- round(exp(-10 / 9 * exp(small$risk)), 10)
prognosis_case("small_ties", small, at_km = c(2, 3, 5, 9), group = "g", at_breslow = c(0.5, 3, 5, 12),
               surv_cols = list(brier = "s5", grid = c("s2", "s5", "s8", "s10")), brier_t = 5, grid = c(2, 5, 8, 10),
               cox_covs = c("risk", "g"), cal_t = 5, cal_col = "s5", bins = 2)
half <- data.frame(time = c(1, 2, 3, 4, 5, 6), event = c(1, 1, 1, 0, 1, 1))
f <- survfit(Surv(time, event) ~ 1, data = half)
write.csv(half, file.path(out_dir, "km_half.csv"), row.names = FALSE, quote = FALSE)
write.csv(data.frame(key = c("km_n", "km_median_survival"), value = fmt(c(6, unname(summary(f)$table["median"])))),
          file.path(out_dir, "km_half_expected.csv"), row.names = FALSE, quote = FALSE)
writeLines("km km", file.path(out_dir, "km_half_args.txt"))
cat("wrote", length(list.files(out_dir)), "files to", out_dir, "\n")
