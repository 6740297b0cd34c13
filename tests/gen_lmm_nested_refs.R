#!/usr/bin/env Rscript
# Nested random intercepts y ~ X + (1 | g) + (1 | g:n) (lme4 + lmerTest Satterthwaite), the references of
# tests/test_survival_lmm.c's nested cases (the growth test counting each lesion once: g = patient,
# n = lesion within the patient, one row per reader). Sourced by gen_survival_refs.R; alone:
#   Rscript tests/gen_lmm_nested_refs.R
# NAME.csv has columns y, the fixed columns, g and n; NAME_<reml|ml>_expected.csv has loglik, tau2 (g),
# tau2_nested (g:n), sigma2, singular and beta_/se_/df_/p_/p_one_sided_ per effect (intercept first).
suppressPackageStartupMessages({ library(lme4); library(lmerTest) })
if (!exists("out_dir")) {
  out_dir <- "tests/references/survival"
  fmt <- function(x) ifelse(is.na(x), "nan", sprintf("%.17g", x))
  write_expected <- function(name, values) {
    df <- data.frame(key = names(values), value = fmt(unlist(values)))
    write.csv(df, file.path(out_dir, paste0(name, "_expected.csv")), row.names = FALSE, quote = FALSE)
  }
  write_input <- function(name, d) {
    write.csv(d, file.path(out_dir, paste0(name, ".csv")), row.names = FALSE, quote = FALSE)
  }
}
tight_nested <- lmerControl(optimizer = "nloptwrap", calc.derivs = FALSE,
                            optCtrl = list(xtol_abs = 1e-14, ftol_abs = 1e-15, xtol_rel = 1e-14, ftol_rel = 1e-15,
                                           maxeval = 100000))
lmm_nested_case <- function(name, d, fixed) {
  write_input(name, d)
  rhs <- if (length(fixed)) paste(fixed, collapse = " + ") else "1"
  form <- as.formula(paste("y ~", rhs, "+ (1 | g) + (1 | g:n)"))
  for (method in c("reml", "ml")) {
    m <- lmerTest::lmer(form, data = d, REML = method == "reml", control = tight_nested)
    co <- summary(m)$coefficients
    vc <- as.data.frame(VarCorr(m))
    v <- list(loglik = as.numeric(logLik(m)), tau2 = vc$vcov[vc$grp == "g"],
              tau2_nested = vc$vcov[vc$grp == "g:n"], sigma2 = vc$vcov[vc$grp == "Residual"],
              singular = as.integer(isSingular(m)))
    names_c <- c("intercept", fixed)
    for (k in seq_along(names_c)) {
      nm <- names_c[k]
      v[[paste0("beta_", nm)]] <- co[k, "Estimate"]
      v[[paste0("se_", nm)]] <- co[k, "Std. Error"]
      v[[paste0("df_", nm)]] <- co[k, "df"]
      v[[paste0("p_", nm)]] <- co[k, "Pr(>|t|)"]
      v[[paste0("p_one_sided_", nm)]] <- pt(co[k, "t value"], co[k, "df"], lower.tail = FALSE)
    }
    write_expected(paste0(name, "_", method), v)
  }
}

# lesions seen by 1-4 readers: patient and lesion effects, a lesion-level 'growing' that readers
# sometimes disagree on (their volumes differ), a row-level covariate
set.seed(12)
rows <- list()
for (p in 1:40) {
  n_les <- sample(1:8, 1); n_read <- sample(1:4, 1); u <- rnorm(1, sd = 0.6)
  for (l in 1:n_les) {
    v <- rnorm(1, sd = 0.5); grow <- rbinom(1, 1, 0.45)
    for (r in 1:n_read) {
      if (r > 1 && runif(1) < 0.2) next           # this reader missed the lesion
      gr <- if (runif(1) < 0.1) 1 - grow else grow  # readers disagree near zero growth
      x <- round(rnorm(1), 4)
      rows[[length(rows) + 1]] <- data.frame(y = round(0.3 + 0.5 * gr + 0.2 * x + u + v + rnorm(1, sd = 0.3), 5),
                                             growing = gr, x = x, g = sprintf("p%02d", p), n = sprintf("l%d", l))
    }
  }
}
lmm_nested_case("lmm_nested_growth", do.call(rbind, rows), c("growing", "x"))

# the classic nested design: paste strength, 10 batches x 3 casks x 2 assays (lme4::Pastes)
lmm_nested_case("lmm_nested_pastes",
                data.frame(y = Pastes$strength, g = as.character(Pastes$batch), n = as.character(Pastes$cask)),
                character(0))

# no lesion effect in the truth: tau2_nested estimated at the boundary 0
set.seed(4)
for (attempt in 1:500) {
  g <- rep(sprintf("s%02d", 1:12), each = 6); n <- rep(rep(c("a", "b", "c"), each = 2), 12)
  x <- round(rnorm(72), 4)
  sing <- data.frame(y = round(1 + 0.4 * x + rep(rnorm(12, sd = 0.8), each = 6) + rnorm(72), 5), x = x, g = g, n = n)
  if (isSingular(lmer(y ~ x + (1 | g) + (1 | g:n), data = sing, control = tight_nested))) break
}
lmm_nested_case("lmm_nested_singular", sing, "x")
