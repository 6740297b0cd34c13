#include "model/model.h"

#include <string.h>

static const char *const model_names[LR_N_MODELS] = {
    "proposed",           "no_fc",        "no_scaler",      "mean_largest5", "whole_volume",
    "imagenet_resnet50", "radimagenet_resnet50", "total_volume", "sum_diameters", "lesion_count"};

int lr_model_parse(const char *name, lr_model_kind *kind)
{
    for (int k = 0; k < LR_N_MODELS; k++)
        if (!strcmp(name, model_names[k])) {
            *kind = (lr_model_kind)k;
            return 0;
        }
    return -1;
}

const char *lr_model_name(lr_model_kind kind)
{
    return (kind >= 0 && kind < LR_N_MODELS) ? model_names[kind] : "?";
}

int lr_model_is_learned(lr_model_kind kind) { return kind < LR_MODEL_TOTAL_VOLUME; }

int lr_model_uses_resnet50(lr_model_kind kind)
{
    return kind == LR_MODEL_IMAGENET_RESNET50 || kind == LR_MODEL_RADIMAGENET_RESNET50;
}

int lr_model_selects_best(lr_model_kind kind) { return lr_model_uses_resnet50(kind); }

void lr_train_options_default(lr_train_options *o)
{
    memset(o, 0, sizeof *o);
    o->epochs = 30;
    o->batch_annotations = 16;
    o->max_lesions = 40;
    o->lr = 1e-4;
    o->weight_decay = 0;
    o->ties = 0;
    o->eval_every = 1;
    o->width = 64;
    o->hu_min = -1000;
    o->hu_max = 1000;
    o->scaler_hidden = 16;
    o->augment = 1;
    o->aug_shift = 0.1;
    o->aug_scale = 0.15;
    o->aug_rotate_deg = 180;
    o->aug_flip = 1;
    o->r50_width = 64;
    o->pretrain_patients = 200;
    o->pretrain_epochs = 5;
    o->pretrain_seed = 1000003;
    o->wv_width = 64;
    o->wv_spacing_mm[0] = 5.0;
    o->wv_spacing_mm[1] = 0.78125;
    o->wv_spacing_mm[2] = 0.78125;
    o->wv_crop[0] = 120;
    o->wv_crop[1] = 480;
    o->wv_crop[2] = 480;
    o->wv_batch = 4;
}
