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
