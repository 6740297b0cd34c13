/* The lesion model and its learned variants: a CNN scores lesion patches, a size scaler weights them,
 * and the patient (annotation) risk aggregates them:
 *   proposed       r_p = Σ_l r_l · s_l,  s_l = softplus(MLP(z_l)),  z_l = (ln v_l − μ)/σ (training set)
 *   no_fc          r_p = Σ_l r_l · c · v_l / v̄   (one learned constant c; v̄ = mean training volume)
 *   no_scaler      r_p = Σ_l r_l
 *   mean_largest5  r_p = wᵀ Σ_{i ∈ 5 largest} (d_i / Σ d) · emb_i + b
 *   imagenet_resnet50 / radimagenet_resnet50: proposed with a ResNet50 scorer
 *   whole_volume   r_p = 3D ResNet18(volume)
 * The CNN takes a batch [N][1][72][72] of HU patches windowed to [-1, 1]. */
#ifndef LR_MODEL_LESION_MODEL_H
#define LR_MODEL_LESION_MODEL_H

#include <gsl/gsl_rng.h>
#include <hdf5.h>

#include "model/model.h"
#include "nn/net.h"
#include "util/err.h"

typedef struct {
    lr_model_kind kind;
    lr_net *cnn;
    int hidden;          /* size-scaler hidden units */
    float *head, *head_grad; /* scaler MLP, no_fc constant, or mean_largest5 linear head: one allocation */
    size_t n_head;
    size_t w1, b1, w2, b2, w3, b3; /* offsets of the MLP in head: w1[H][1] b1[H] w2[H][H] b2[H] w3[1][H] b3[1] */
    lr_adam opt_cnn, opt_head;
    double logv_mean, logv_sd, v_mean; /* size normalisation, from the training lesions */
    /* per-batch scratch (grown on demand) */
    size_t cap;
    float *z, *h1, *h2, *o, *s, *ds, *dh, *dr; /* [N] or [N][H] */
} lr_lesion_model;

/* Build a model for kind (learned kinds only). rng initialises the weights. */
int lr_lesion_model_init(lr_lesion_model *m, lr_model_kind kind, const lr_train_options *o, gsl_rng *rng,
                         lr_err *err);
void lr_lesion_model_free(lr_lesion_model *m);

/* Size scale s_l of n lesions (volumes in mm³); saves what backward needs. */
int lr_size_scale_forward(lr_lesion_model *m, const double *volume, int n, float *scale, lr_err *err);
/* Given dL/ds [n], accumulate head gradients. Must follow lr_size_scale_forward on the same lesions. */
void lr_size_scale_backward(lr_lesion_model *m, const float *dscale, int n);

/* Aggregation of the lesion-sum variants: eta[b] = Σ_{i: slot[i] = b} r[i]·s[i], b < B. */
void lr_aggregate_sum(float *eta, const float *r, const float *s, const int *slot, int n, int B);
/* Its gradient: dr[i] = deta[slot[i]]·s[i], ds[i] = deta[slot[i]]·r[i]. */
void lr_aggregate_sum_backward(float *dr, float *ds, const float *deta, const float *r, const float *s,
                               const int *slot, int n);

/* mean_largest5 head (m->head = w[E] then the bias b): the lesion score wᵀ emb_i of one embedding [E]. */
double lr_mean5_lesion_score(const lr_lesion_model *m, const float *emb_i);
/* eta[b] = b + Σ_{i: slot[i] = b} weight[i]·wᵀ emb_i over n lesions with embeddings emb [n][E];
 * lesion_score[i] = wᵀ emb_i. */
void lr_mean5_forward(const lr_lesion_model *m, float *eta, float *lesion_score, const float *emb,
                      const double *weight, const int *slot, int n, int B);
/* Given dL/deta [B]: writes dL/demb [n][E] and accumulates the head gradient (w and b). */
void lr_mean5_backward(lr_lesion_model *m, float *demb, const float *deta, const float *emb, const double *weight,
                       const int *slot, int n, int B);

/* Save / load the non-CNN parameters and the size normalisation under a group. */
int lr_lesion_model_save_head(const lr_lesion_model *m, hid_t file, const char *group, lr_err *err);

#endif
