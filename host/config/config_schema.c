/* config_schema.c: every configuration key graft reads, one row each:
 * section, key, type, default, range or choices, and a line of help. This
 * table is the whole definition of a key; config.c and config_ini.c parse,
 * check, write and document keys from it alone. */
#include <math.h>
#include <stddef.h>

#include "config/config_impl.h"

#define K_INT(s, k, d, lo, hi, h) {s, k, GRAFT_CFG_INT, d, lo, hi, 0, NULL, 0, 0, h}
#define K_FLOAT(s, k, d, lo, hi, fl, h) {s, k, GRAFT_CFG_FLOAT, d, lo, hi, fl, NULL, 0, 0, h}
#define K_BOOL(s, k, d, h) {s, k, GRAFT_CFG_BOOL, d, 0, 1, 0, NULL, 0, 0, h}
#define K_STR(s, k, d, fl, h) {s, k, GRAFT_CFG_STRING, d, 0, 0, fl, NULL, 0, 0, h}
#define K_CHOICE(s, k, d, c, h) {s, k, GRAFT_CFG_CHOICE, d, 0, 0, 0, c, 0, 0, h}
#define K_INTS(s, k, d, lo, hi, nmin, nmax, h) \
  {s, k, GRAFT_CFG_INTS, d, lo, hi, 0, NULL, nmin, nmax, h}
#define K_FLOATS(s, k, d, lo, hi, fl, nmin, nmax, h) \
  {s, k, GRAFT_CFG_FLOATS, d, lo, hi, fl, NULL, nmin, nmax, h}

/* The validation metrics graft_metrics_value (metrics/metrics.h) knows. */
#define METRIC_CHOICES "auto|loss|accuracy|top5|macro_f1|weighted_f1|macro_recall|mse|mae"

/* Sections appear in the order the writer and the help print them; a
 * section's keys stay together. */
const graft_cfg_key graft_cfg_schema[] = {
    K_CHOICE("model", "model", "resnet18",
             "resnet18|resnet34|resnet50|resnet101|resnet20|resnet32|resnet44|resnet56|resnet110",
             "architecture (torchvision names; resnet20..110 are the CIFAR-style family)"),
    K_INT("model", "num_classes", "0", 0, 1000000,
          "classes of the head; 0: the dataset's class count"),
    K_INTS("model", "widths", "", 1, 65536, 0, 4,
           "stage widths, e.g. 16,32,64; empty: the model's own"),
    K_STR("model", "weights", "", 0,
          "pre-trained weights (safetensors, by name and shape); empty: fresh initialization"),
    K_BOOL("model", "strict", "0", "fail unless every tensor of the weights file loads"),

    K_STR("data", "data", "", GRAFT_CFG_REQUIRED, "dataset root (ImageFolder layout)"),
    K_INT("data", "image_size", "224", 8, 4096, "side of the square training and evaluation input"),
    K_INT("data", "batch", "32", 1, 65536, "samples per batch (per process)"),
    K_INT("data", "workers", "4", 1, 256, "decode and augmentation threads"),
    K_CHOICE("data", "cache", "none", "none|ram|file",
             "keep decoded images: not at all, in memory, or in cache_file (graft prepare)"),
    K_STR("data", "cache_file", "", 0, "cache file written by graft prepare, for cache=file"),
    K_CHOICE("data", "on_bad_image", "error", "error|skip",
             "an image that cannot be decoded stops the run, or is skipped and counted"),
    K_FLOAT("data", "val_split", "0.1", 0, 1, GRAFT_CFG_HI_OPEN,
            "share of each class held out for validation when there is no val folder"),
    K_INT("data", "seed", "0", 0, INFINITY,
          "seed of initialization, validation split, data order and augmentation"),
    K_CHOICE("data", "sampler", "shuffle", "shuffle|balanced",
             "epoch order: a plain shuffle, or classes drawn equally often"),
    K_CHOICE("data", "class_weights", "none", "none|balanced",
             "loss weight per class: none, or inverse class frequency"),

    K_INT("augment", "resize", "0", 0, 8192,
          "evaluation: shorter side before the centre crop; 0: image_size * 8/7"),
    K_FLOATS("augment", "scale", "0.08,1", 0, 1, GRAFT_CFG_LO_OPEN, 2, 2,
             "random resized crop: range of the crop's share of the image area"),
    K_FLOATS("augment", "ratio", "0.75,1.3333333333", 0, 100, GRAFT_CFG_LO_OPEN, 2, 2,
             "random resized crop: range of the crop's aspect ratio (w/h)"),
    K_FLOAT("augment", "flip", "0.5", 0, 1, 0, "horizontal flip probability"),
    K_FLOAT("augment", "brightness", "0", 0, 10, 0, "colour jitter strength; 0: off"),
    K_FLOAT("augment", "contrast", "0", 0, 10, 0, "colour jitter strength; 0: off"),
    K_FLOAT("augment", "saturation", "0", 0, 10, 0, "colour jitter strength; 0: off"),
    K_FLOATS("augment", "mean", "0.485,0.456,0.406", -INFINITY, INFINITY, 0, 3, 3,
             "per-channel mean of 0..1 pixels, subtracted (ImageNet's)"),
    K_FLOATS("augment", "std", "0.229,0.224,0.225", 0, INFINITY, GRAFT_CFG_LO_OPEN, 3, 3,
             "per-channel standard deviation, divided by (ImageNet's)"),

    K_CHOICE("optimizer", "optimizer", "sgd", "sgd|adamw", "SGD with momentum, or AdamW"),
    K_FLOAT("optimizer", "lr", "0.01", 0, INFINITY, GRAFT_CFG_LO_OPEN,
            "peak learning rate of the head (about 1e-3 or less suits adamw)"),
    K_FLOAT("optimizer", "momentum", "0.9", 0, 1, GRAFT_CFG_HI_OPEN, "sgd momentum"),
    K_BOOL("optimizer", "nesterov", "0", "sgd: Nesterov momentum"),
    K_FLOAT("optimizer", "weight_decay", "0.0001", 0, INFINITY, 0,
            "L2 penalty (sgd) or decoupled weight decay (adamw)"),
    K_BOOL("optimizer", "no_decay_bias_norm", "1", "no weight decay on biases and norm parameters"),
    K_FLOAT("optimizer", "beta1", "0.9", 0, 1, GRAFT_CFG_HI_OPEN, "adamw: first moment decay"),
    K_FLOAT("optimizer", "beta2", "0.999", 0, 1, GRAFT_CFG_HI_OPEN, "adamw: second moment decay"),
    K_FLOAT("optimizer", "eps", "1e-08", 0, INFINITY, GRAFT_CFG_LO_OPEN, "adamw: denominator term"),
    K_FLOAT("optimizer", "backbone_lr_mult", "1", 0, INFINITY, 0,
            "learning rate of pre-trained layers relative to the head"),
    K_FLOAT("optimizer", "clip_grad_norm", "0", 0, INFINITY, 0,
            "clip gradients to this global L2 norm; 0: off"),

    K_INT("schedule", "epochs", "10", 1, 1000000, "training epochs"),
    K_CHOICE("schedule", "schedule", "cosine", "cosine|step|constant",
             "learning rate after warmup: cosine to min_lr, steps of gamma, or constant"),
    K_FLOAT("schedule", "warmup_epochs", "0", 0, 1000000, 0,
            "linear warmup from 0 to lr over this many epochs (fractions allowed)"),
    K_INT("schedule", "step_size", "30", 1, 1000000, "schedule=step: epochs between decays"),
    K_FLOAT("schedule", "gamma", "0.1", 0, 1, GRAFT_CFG_LO_OPEN,
            "schedule=step: factor of each decay"),
    K_FLOAT("schedule", "min_lr", "0", 0, INFINITY, 0, "schedule=cosine: final learning rate"),

    K_FLOAT("regularization", "label_smoothing", "0", 0, 1, GRAFT_CFG_HI_OPEN,
            "cross-entropy label smoothing"),
    K_FLOAT("regularization", "dropout", "0", 0, 1, GRAFT_CFG_HI_OPEN, "dropout before the head"),
    K_BOOL("regularization", "ema", "0",
           "keep an exponential moving average of the weights, evaluated and saved alongside"),
    K_FLOAT("regularization", "ema_decay", "0.9999", 0, 1, GRAFT_CFG_LO_OPEN | GRAFT_CFG_HI_OPEN,
            "ema: decay per step"),

    K_CHOICE("transfer", "freeze", "none", "none|backbone|layer1|layer2|layer3|layer4",
             "freeze nothing, everything but the head, or the stem up to this stage"),
    K_INT("transfer", "unfreeze_epoch", "0", 0, 1000000,
          "first epoch (counted from 1) in which frozen layers train too; 0: never"),
    K_BOOL("transfer", "bn_freeze", "0", "keep batch-norm running statistics fixed"),

    K_CHOICE("task", "task", "classification", "classification|regression",
             "softmax cross-entropy over classes, or one output with MSE loss"),

    K_STR("output", "out", "runs", 0, "folder that holds the run folders"),
    K_STR("output", "name", "", 0, "run folder name under out; empty: the dataset folder's name"),
    K_STR("output", "resume", "", GRAFT_CFG_NOSAVE,
          "continue the run in this run folder where it stopped"),
    K_INT("output", "save_every", "1", 0, 1000000,
          "write last.safetensors every this many epochs; 0: at the end only"),
    K_CHOICE("output", "best_metric", "auto", METRIC_CHOICES,
             "validation metric that picks best.safetensors; auto: accuracy (mse for regression)"),
    K_CHOICE("output", "early_stop_metric", "auto", METRIC_CHOICES,
             "validation metric early stopping watches; auto: best_metric"),
    K_INT("output", "early_stop_patience", "0", 0, 1000000,
          "stop after this many epochs without improvement; 0: never"),
    K_INT("output", "log_every", "50", 1, 100000000,
          "steps between progress lines when output is not a terminal"),
    K_BOOL("output", "quiet", "0", "no progress lines or tables"),
    K_CHOICE("output", "nan_policy", "stop", "stop|skip",
             "on a NaN or Inf loss: stop keeping the last good checkpoint, or skip the step"),

    K_CHOICE("device", "device", "auto", "auto|cpu|gpu",
             "where to train; auto: the GPU when there is one"),
    K_INT("device", "threads", "0", 0, 4096, "CPU threads; 0: every core"),
    K_CHOICE("device", "precision", "fp32", "fp32|tf32|bf16",
             "GPU arithmetic: fp32, tf32 tensor cores, or bf16 convolution and GEMM inputs"),
    K_BOOL("device", "cuda_graph", "0",
           "GPU: capture one training step as a CUDA graph and replay it (not with dropout)"),
};

const int graft_cfg_nkeys = (int)(sizeof graft_cfg_schema / sizeof graft_cfg_schema[0]);
