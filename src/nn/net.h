/* ResNet18 / ResNet50 (2D, as torchvision builds them) and a 3D ResNet18, trained in C.
 *
 * Parameters live in one allocation (net->params) carved by a table of named tensors whose names are
 * the PyTorch state_dict keys ("conv1.weight", "layer1.0.bn1.running_mean", ...); gradients are a twin
 * allocation (net->grads), BN running statistics a third (net->buffers). A checkpoint is therefore
 * "one dataset per key" and is the same format the torchvision converter writes.
 *
 * Activations for a batch live in one arena, laid out [C][N][D][H][W] (see layers.h); the network
 * converts from / to the user's [N][C][D][H][W] at its boundary. */
#ifndef LR_NN_NET_H
#define LR_NN_NET_H

#include <gsl/gsl_rng.h>
#include <hdf5.h>
#include <stddef.h>
#include <stdint.h>

#include "nn/layers.h"
#include "util/err.h"

typedef enum { LR_ARCH_RESNET18, LR_ARCH_RESNET50, LR_ARCH_RESNET18_3D } lr_arch;

typedef struct {
    lr_arch arch;
    int in_channels; /* 1 for CT patches, 3 for ImageNet weights */
    int width;       /* base width: 64 as in the paper, smaller for tests and demos */
    int out_size;    /* fc outputs: 1 risk, or an embedding size */
} lr_net_config;

/* Parse / name an architecture ("resnet18", "resnet50", "resnet18_3d"); -1 when unknown. */
int lr_arch_parse(const char *name, lr_arch *arch);
const char *lr_arch_name(lr_arch arch);

#define LR_TENSOR_MAXRANK 5
typedef struct {
    char name[64];  /* state_dict key */
    int rank;
    int dims[LR_TENSOR_MAXRANK];
    size_t offset;  /* into params/grads (or buffers when is_buffer) */
    size_t numel;
    int is_buffer;  /* BN running statistics: saved and loaded, not trained */
} lr_tensor;

typedef struct {
    size_t w;             /* weight offset in params: [cout][cin][kd][kh][kw] */
    int cin, cout, k[3], stride[3], pad[3];
    lr_conv_shape shape;  /* for the prepared batch */
    size_t saved;         /* arena offset of the state kept from forward to backward (Winograd U, V) */
} lr_conv_layer;

typedef struct {
    int channels;
    size_t gamma, beta;   /* offsets in params */
    size_t mean, var;     /* offsets in buffers (running statistics) */
    size_t saved;         /* arena offset: saved mean [C] then saved invstd [C] */
} lr_bn_layer;

typedef struct {
    int n_conv;           /* 2 (BasicBlock) or 3 (Bottleneck) */
    int has_down;         /* 1×1 conv + BN shortcut */
    lr_conv_layer conv[3], down;
    lr_bn_layer bn[3], down_bn;
    size_t y[3], z[3];    /* arena offsets: conv outputs, BN(+ReLU) outputs; z[n_conv-1] is the block output */
    size_t y_down;        /* arena offset: shortcut conv output */
    size_t in;            /* arena offset of the block input */
} lr_block;

#define LR_NET_MAX_BLOCKS 16

typedef struct {
    lr_net_config cfg;
    int dims;             /* 2 or 3 spatial dims */
    lr_tensor *tensors;
    int n_tensors, cap_tensors;
    float *params, *grads; /* [n_params] each */
    size_t n_params;
    float *buffers;       /* [n_buffers] BN running statistics */
    size_t n_buffers;

    lr_conv_layer stem;
    lr_bn_layer stem_bn;
    lr_conv_shape pool;   /* max pool geometry for the prepared batch */
    lr_block blocks[LR_NET_MAX_BLOCKS];
    int n_blocks;
    size_t fc_w, fc_b;    /* offsets in params */
    int emb_size;         /* channels after the last block */

    /* prepared batch */
    int batch, in_dims[3];
    float *arena;         /* activations */
    size_t arena_size;
    int32_t *pool_argmax; /* [C·N·Po] */
    float *col;           /* im2col workspace */
    size_t col_size;
    float *scratch[4];    /* gradient ping-pong and temporaries, each scratch_size floats */
    size_t scratch_size;
    size_t arena_cap, argmax_cap, col_cap, scratch_cap; /* allocated sizes (buffers only grow) */
    size_t x, y0, z0, m0, emb, out, demb; /* arena offsets: input, stem conv/BN out, pool out, embedding, output */
    int bn_train;         /* mode of the last forward */
} lr_net;

/* Build the network (parameters allocated, initialised as torchvision does, from rng). */
lr_net *lr_net_create(const lr_net_config *cfg, gsl_rng *rng, lr_err *err);
void lr_net_free(lr_net *net);
/* torchvision's initialisation: kaiming-normal (fan_out) convs, BN 1/0, running 0/1, default Linear. */
void lr_net_init(lr_net *net, gsl_rng *rng);

/* Find a tensor by key; NULL when absent. */
const lr_tensor *lr_net_tensor(const lr_net *net, const char *name);
float *lr_net_tensor_data(lr_net *net, const lr_tensor *t);

/* Forward a batch x [N][C][D][H][W] (2D nets: D = 1). train: BN batch statistics (updating running
 * statistics), else running statistics. Results: lr_net_output [N][out], lr_net_embedding [N][E]. */
int lr_net_forward(lr_net *net, const float *x, int n, const int dims[3], int train, lr_err *err);
const float *lr_net_output(const lr_net *net);
const float *lr_net_embedding(const lr_net *net);
/* Backward after a train-mode forward: grads += d loss / d params, given dy [N][out] and optionally an
 * extra gradient on the embedding demb [N][E] (NULL for none). */
int lr_net_backward(lr_net *net, const float *dy, const float *demb, lr_err *err);
void lr_net_zero_grad(lr_net *net);
/* The gradient of the outputs with respect to the input, dx [N][C][D][H][W] = Σ dy·d out/d x (+ demb·d emb/d x),
 * after a forward in either mode (eval mode: BN with running statistics, the function predict applies).
 * The parameter gradients are clobbered (zero them before training again). */
int lr_net_input_gradient(lr_net *net, const float *dy, const float *demb, float *dx, lr_err *err);
/* Forward multiply-adds for one batch of the prepared shape, and the train step's FLOP
 * (forward + weight and input gradients, no input gradient for the stem). */
double lr_net_forward_flop(const lr_net *net);
double lr_net_train_flop(const lr_net *net);

/* HDF5: one float32 dataset per state_dict key (under group prefix, "" for the root).
 * Load handles the customary shape mismatch of a 3-channel stem into a 1-channel net (sum over input
 * channels) and reports any other mismatch, missing key or non-finite value naming the key. */
enum { LR_LOAD_SKIP_FC_MISMATCH = 1 }; /* keep the net's own fc when the file's has another shape */
int lr_net_save_h5(const lr_net *net, hid_t file, const char *prefix, lr_err *err);
int lr_net_load_h5(lr_net *net, hid_t file, const char *prefix, int flags, lr_err *err);
int lr_net_save(const lr_net *net, const char *path, lr_err *err);
int lr_net_load(lr_net *net, const char *path, int flags, lr_err *err);
/* Read the configuration implied by a weight file's shapes (in_channels, width, out_size). */
int lr_net_config_from_h5(lr_net_config *cfg, lr_arch arch, hid_t file, const char *prefix, lr_err *err);

/* Adam as torch.optim.Adam (L2 weight decay added to the gradient, bias-corrected moments). */
typedef struct {
    float lr, beta1, beta2, eps, weight_decay;
    long step;
    float *m, *v; /* [n] each, one allocation */
    size_t n;
} lr_adam;
int lr_adam_init(lr_adam *opt, size_t n, float lr, float weight_decay, lr_err *err);
void lr_adam_step(lr_adam *opt, float *params, const float *grads);
void lr_adam_free(lr_adam *opt);

#endif
