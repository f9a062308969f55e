/* resnet.h: ResNet builders with torchvision's module names, so torchvision
 * and timm weights load by name. One builder reads a spec table: the
 * ImageNet family (ResNet-18/34/50/101: 7x7 stem and max pool, four stages)
 * and the CIFAR-style family (3x3 stem, no pool, three stages of basic
 * blocks, depth 6n+2, e.g. ResNet-20 with 16/32/64 channels). */
#ifndef GRAFT_RESNET_H
#define GRAFT_RESNET_H

#include "core/status.h"
#include "nn/net.h"

#define GRAFT_RESNET_MAX_STAGES 4

typedef struct {
  char name[32];
  int cifar_stem; /* 3x3 stride-1 stem and no max pool */
  int bottleneck; /* torchvision Bottleneck (v1.5: stride on the 3x3) */
  int stages;
  int blocks[GRAFT_RESNET_MAX_STAGES];
  int widths[GRAFT_RESNET_MAX_STAGES]; /* planes per stage (before expansion) */
  float head_dropout; /* dropout before fc; 0 for none (no parameters either way) */
} graft_resnet_spec;

/* Looks up "resnet18", "resnet34", "resnet50", "resnet101", or a CIFAR-style
 * "resnet<6n+2>" (resnet20, resnet32, resnet44, resnet56, resnet110). */
graft_status graft_resnet_spec_from_name(const char *model, graft_resnet_spec *spec);

/* Overrides a spec's stage widths from a list like "16,32,64". */
graft_status graft_resnet_spec_set_widths(graft_resnet_spec *spec, const char *list);

/* Builds the network into an initialized, empty net (graft_net_init) for
 * inputs (batch, h, w, in_ch) and num_classes outputs, and finalizes it with
 * torchvision's initialization drawn from seed. */
graft_status graft_resnet_build(graft_net *net, const graft_resnet_spec *spec, int h, int w, int in_ch,
                                int num_classes, uint64_t seed);

#endif
