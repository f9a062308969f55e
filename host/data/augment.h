/* augment.h: per-sample augmentation, on 8-bit RGB images.
 * Classification follows torchvision: RandomResizedCrop (same scale and
 * ratio sampling, ten attempts, the same centre-crop fallback), horizontal
 * flip, ColorJitter (brightness, contrast, saturation as Pillow's
 * ImageEnhance computes them, in random order), and for evaluation
 * Resize(short side) + CenterCrop in one resampling pass. Detection
 * follows the YOLO recipe: letterbox onto a grey square, random zoom and
 * shift, flip and HSV gains, with the boxes moved the same way, clipped to
 * the image, and dropped when too little of them is left.
 * Randomness comes only from the graft_rng passed in, which the loader
 * seeds from (seed, epoch, sample index): results do not depend on which
 * thread ran a sample. Normalization to float happens last (normalize). */
#ifndef GRAFT_DATA_AUGMENT_H
#define GRAFT_DATA_AUGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "data/image.h"
#include "data/labels.h"
#include "data/resample.h"
#include "data/rng.h"

typedef struct {
  int size;          /* output side (224) */
  int resize;        /* evaluation: shorter side before the centre crop (256) */
  float scale[2];    /* crop area range, fraction of the image (0.08, 1) */
  float ratio[2];    /* crop aspect range, w / h (3/4, 4/3) */
  float flip;        /* horizontal flip probability (0.5) */
  float brightness, contrast, saturation; /* jitter strengths; 0 turns one off */
  float mean[3], std[3]; /* normalization of 0..1 pixel values (ImageNet) */
} graft_cls_aug;

typedef struct {
  int size;          /* square output side (416) */
  float zoom;        /* random scale factor in [1 - zoom, 1 + zoom] (0.5) */
  float translate;   /* random shift up to this fraction of size (0.1) */
  float flip;        /* horizontal flip probability (0.5) */
  float hsv_h, hsv_s, hsv_v; /* HSV gain ranges (0.015, 0.7, 0.4) */
  uint8_t fill;      /* letterbox grey (114) */
  float min_side;    /* boxes under this many pixels wide or high are dropped (2) */
  float min_visible; /* boxes keeping less of their area than this are dropped (0.2) */
  float mean[3], std[3]; /* normalization (0, 1: plain division by 255) */
} graft_det_aug;

void graft_cls_aug_defaults(graft_cls_aug *a);
void graft_det_aug_defaults(graft_det_aug *a);

/* An integer crop rectangle in source pixels. */
typedef struct {
  int x, y, w, h;
} graft_crop;

/* torchvision's RandomResizedCrop.get_params for a w x h image. */
graft_crop graft_rrc_params(graft_rng *r, int w, int h, const float scale[2], const float ratio[2]);

/* Training transform: dst (a->size, a->size, 3) uint8. */
graft_status graft_cls_train(graft_resampler *rs, const graft_image *src, const graft_cls_aug *a,
                             graft_rng *r, uint8_t *dst /* (size, size, 3) */);
/* Evaluation transform (deterministic): dst (a->size, a->size, 3) uint8. */
graft_status graft_cls_eval(graft_resampler *rs, const graft_image *src, const graft_cls_aug *a,
                            uint8_t *dst /* (size, size, 3) */);

/* Brightness, contrast and saturation jitter in place on px (n, 3), in a
 * random order, with factors uniform in [max(0, 1 - s), 1 + s]. */
void graft_color_jitter(uint8_t *px /* (n, 3) */, size_t n, float brightness, float contrast, float saturation,
                        graft_rng *r);
/* HSV gains in place on px (n, 3): hue (OpenCV's 0..180 scale), saturation
 * and value multiplied by gains drawn from [1 - g, 1 + g]. */
void graft_hsv_jitter(uint8_t *px /* (n, 3) */, size_t n, float hsv_h, float hsv_s, float hsv_v, graft_rng *r);

/* The geometric part of a detection transform. */
typedef struct {
  graft_resample_map map; /* output pixel -> source pixel */
  int size;
} graft_det_geometry;

/* Letterbox geometry for a w x h source: deterministic when r is NULL
 * (evaluation), else with random zoom, shift and flip. */
graft_det_geometry graft_det_geometry_make(const graft_det_aug *a, int w, int h, graft_rng *r);
/* Moves boxes in (n, normalized to the w x h source) through g into out
 * (normalized to the output square), clipped; boxes with a side under
 * min_side pixels or under min_visible of their area left are dropped.
 * Returns the number written to out (at most n). */
size_t graft_det_boxes(const graft_det_geometry *g, int w, int h, const graft_box *in /* (n) */, size_t n,
                       float min_side, float min_visible, graft_box *out /* (n) */);
/* The whole detection transform: dst (a->size, a->size, 3) uint8 and the
 * kept boxes in out (room for n), their count in *nout. r NULL: eval. */
graft_status graft_det_transform(graft_resampler *rs, const graft_image *src, const graft_det_aug *a,
                                 graft_rng *r, const graft_box *in /* (n) */, size_t n,
                                 uint8_t *dst /* (size, size, 3) */, graft_box *out /* (n) */, size_t *nout);

/* dst (n, 3) float = (src / 255 - mean) / std, channel by channel. */
void graft_normalize(const uint8_t *src /* (n, 3) */, size_t n, const float mean[3], const float std[3],
                     float *dst /* (n, 3) */);

#endif
