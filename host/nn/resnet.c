/* resnet.c: the ResNet spec table and the one builder that reads it. Every
 * batch norm is the fused layer (graft_batchnorm_act), which also does the
 * ReLU after it and the residual add that ends a block. */
#include "nn/resnet.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "nn/layer.h"
#include "ops/ops.h"

static const graft_resnet_spec imagenet_specs[] = {
    {"resnet18", 0, 0, 4, {2, 2, 2, 2}, {64, 128, 256, 512}, 0.0f},
    {"resnet34", 0, 0, 4, {3, 4, 6, 3}, {64, 128, 256, 512}, 0.0f},
    {"resnet50", 0, 1, 4, {3, 4, 6, 3}, {64, 128, 256, 512}, 0.0f},
    {"resnet101", 0, 1, 4, {3, 4, 23, 3}, {64, 128, 256, 512}, 0.0f},
};

graft_status graft_resnet_spec_from_name(const char *model, graft_resnet_spec *spec) {
  for (size_t i = 0; i < sizeof imagenet_specs / sizeof imagenet_specs[0]; i++) {
    if (!strcmp(model, imagenet_specs[i].name)) {
      *spec = imagenet_specs[i];
      return GRAFT_OK;
    }
  }
  int depth = 0;
  char tail = 0;
  if (sscanf(model, "resnet%d%c", &depth, &tail) == 1 && depth >= 8 && (depth - 2) % 6 == 0) {
    memset(spec, 0, sizeof *spec);
    snprintf(spec->name, sizeof spec->name, "%s", model);
    spec->cifar_stem = 1;
    spec->stages = 3;
    for (int s = 0; s < 3; s++) {
      spec->blocks[s] = (depth - 2) / 6;
      spec->widths[s] = 16 << s;
    }
    return GRAFT_OK;
  }
  GRAFT_FAIL(GRAFT_EINVAL,
             "unknown model '%s' (known: resnet18, resnet34, resnet50, resnet101, and CIFAR-style "
             "resnet<6n+2> such as resnet20)",
             model);
}

graft_status graft_resnet_spec_set_widths(graft_resnet_spec *spec, const char *list) {
  const char *p = list;
  for (int s = 0; s < spec->stages; s++) {
    char *end = NULL;
    long v = strtol(p, &end, 10);
    if (end == p || v < 1 || v > 4096 || (s + 1 < spec->stages ? *end != ',' : *end != '\0'))
      GRAFT_FAIL(GRAFT_EINVAL, "widths=%s: expected %d positive integers separated by commas", list,
                 spec->stages);
    spec->widths[s] = (int)v;
    p = end + 1;
  }
  return GRAFT_OK;
}

/* conv -> batch norm, the norm fused with an optional residual add and a
 * ReLU (graft_batchnorm_act): the unit every stem and block is made of. */
static int conv_bn(graft_net *net, const char *prefix, const char *conv, const char *bn, int x, int ch,
                   int k, int stride, int residual, int relu) {
  char cname[2 * GRAFT_NAME_MAX], bname[2 * GRAFT_NAME_MAX];
  snprintf(cname, sizeof cname, "%s%s", prefix, conv);
  snprintf(bname, sizeof bname, "%s%s", prefix, bn);
  x = graft_conv2d(net, cname, x, ch, k, stride, k / 2, 1, 0);
  return x < 0 ? -1
               : graft_batchnorm_act(net, bname, x, residual, relu ? GRAFT_ACT_RELU : GRAFT_ACT_IDENTITY);
}

/* One residual block, relu(main + shortcut); returns the output value or
 * -1. With an identity shortcut the main path's last batch norm takes the
 * add and the ReLU. With a downsample branch its batch norm takes them
 * instead, with the main path as the residual: it comes last in
 * torchvision's parameter order, so the parameters keep that order (and
 * their ids), and either way one batch norm of the pair runs plain. */
static int block(graft_net *net, const graft_resnet_spec *spec, const char *prefix, int x, int planes,
                 int stride) {
  int in_ch = (int)net->values[x].shape.dim[3];
  int out_ch = spec->bottleneck ? planes * 4 : planes;
  int downsample = stride != 1 || in_ch != out_ch;
  int end_residual = downsample ? -1 : x, end_relu = !downsample;
  int y;
  if (spec->bottleneck) {
    y = conv_bn(net, prefix, "conv1", "bn1", x, planes, 1, 1, -1, 1);
    if (y >= 0) y = conv_bn(net, prefix, "conv2", "bn2", y, planes, 3, stride, -1, 1);
    if (y >= 0) y = conv_bn(net, prefix, "conv3", "bn3", y, out_ch, 1, 1, end_residual, end_relu);
  } else {
    y = conv_bn(net, prefix, "conv1", "bn1", x, planes, 3, stride, -1, 1);
    if (y >= 0) y = conv_bn(net, prefix, "conv2", "bn2", y, planes, 3, 1, end_residual, end_relu);
  }
  if (y >= 0 && downsample)
    y = conv_bn(net, prefix, "downsample.0", "downsample.1", x, out_ch, 1, stride, y, 1);
  return y;
}

graft_status graft_resnet_build(graft_net *net, const graft_resnet_spec *spec, int h, int w, int in_ch,
                                int num_classes, uint64_t seed) {
  int min_size = spec->cifar_stem ? 8 : 32;
  if (h < min_size || w < min_size)
    GRAFT_FAIL(GRAFT_ESHAPE, "%s needs inputs of at least %dx%d, got %dx%d", spec->name, min_size, min_size, h,
               w);
  if (num_classes < 1) GRAFT_FAIL(GRAFT_EINVAL, "num_classes must be at least 1, got %d", num_classes);
  if (net->batch < 1) GRAFT_FAIL(GRAFT_EINVAL, "batch must be at least 1, got %d", net->batch);
  int64_t idims[4] = {net->batch, h, w, in_ch};
  net->input = graft_net_add_value(net, graft_shape_make(4, idims));
  net->num_classes = num_classes;
  int x = net->input;
  if (spec->cifar_stem) {
    x = conv_bn(net, "", "conv1", "bn1", x, spec->widths[0], 3, 1, -1, 1);
  } else {
    x = conv_bn(net, "", "conv1", "bn1", x, 64, 7, 2, -1, 1);
    if (x >= 0) x = graft_maxpool(net, "maxpool", x, 3, 2, 1);
  }
  for (int s = 0; s < spec->stages && x >= 0; s++) {
    for (int b = 0; b < spec->blocks[s] && x >= 0; b++) {
      char prefix[GRAFT_NAME_MAX];
      snprintf(prefix, sizeof prefix, "layer%d.%d.", s + 1, b);
      x = block(net, spec, prefix, x, spec->widths[s], b == 0 && s > 0 ? 2 : 1);
    }
  }
  if (x >= 0) x = graft_global_avgpool(net, "avgpool", x);
  if (x >= 0 && spec->head_dropout > 0.0f) x = graft_dropout(net, "dropout", x, spec->head_dropout);
  int first_head = net->nparams;
  if (x >= 0) x = graft_linear(net, "fc", x, num_classes);
  if (x < 0) GRAFT_FAIL(GRAFT_EINVAL, "cannot build %s for %dx%dx%d inputs", spec->name, h, w, in_ch);
  for (int i = first_head; i < net->nparams; i++) net->params[i].group = 1;
  net->output = x;
  return graft_net_finalize(net, seed);
}
