/* weights.h: moving a net's parameters in and out of safetensors files
 * under PyTorch's names and layouts. Loading matches by name and shape:
 * what fits is loaded, what does not (a new classifier head) or is missing
 * keeps its fresh initialization, and a summary says which. Synthetic
 * weights (weights=hash:SEED) are reproducible from Python
 * (tools/hashinit.py) for parity checks without multi-megabyte files.
 *
 * Files meet the net's host copies: on a net placed on a GPU, loading
 * uploads what it read, and appending or saving first downloads the
 * device's values (graft_net_push, graft_net_pull). */
#ifndef GRAFT_WEIGHTS_H
#define GRAFT_WEIGHTS_H

#include <stdint.h>

#include "core/status.h"
#include "io/safetensors.h"
#include "io/st_list.h"
#include "nn/net.h"

typedef struct {
  int strict;          /* any missing, unexpected or mis-shaped tensor is an error */
  const char *prefix;  /* only file tensors under this prefix ("" or NULL: all) */
  int quiet;           /* no summary on stderr */
} graft_load_opts;

typedef struct {
  int loaded;      /* net tensors filled from the file */
  int mismatched;  /* present with another shape: kept initialized */
  int missing;     /* absent from the file: kept initialized */
  int unexpected;  /* file tensors the net has no use for */
} graft_load_summary;

/* Loads from an opened file. label names the source in messages. */
graft_status graft_weights_load_st(graft_net *net, const graft_st_file *f, const graft_load_opts *opts,
                                   graft_load_summary *sum);
/* Loads from path, or synthesizes when path is "hash:SEED". */
graft_status graft_weights_load(graft_net *net, const char *path, const graft_load_opts *opts,
                                graft_load_summary *sum);

/* Fills every parameter, buffer and counter as tools/hashinit.py does. */
void graft_weights_synthesize(graft_net *net, uint64_t seed);

/* Parameter id's value in PyTorch's layout: (count) floats into out. */
void graft_param_to_file(graft_net *net, int id, float *out);
/* Sets parameter id from (count) floats in PyTorch's layout. */
void graft_param_from_file(graft_net *net, int id, const float *in);

/* Which of a net's tensors graft_weights_append copies. */
typedef enum {
  GRAFT_PART_STATE,   /* parameters, buffers and counters: a state dict */
  GRAFT_PART_PARAMS,  /* trainable parameters */
  GRAFT_PART_BUFFERS, /* buffers and counters */
  GRAFT_PART_GRADS,   /* gradients of trainable parameters */
} graft_net_part;

/* Appends copies of the chosen tensors, in PyTorch layouts (counters as
 * I64 scalars), named prefix + PyTorch name. */
graft_status graft_weights_append(graft_net *net, graft_st_list *list, graft_net_part part, const char *prefix);

/* Writes the net's state dict (loadable by torchvision with strict=True)
 * to path atomically, with optional metadata. */
graft_status graft_weights_save(graft_net *net, const char *path, const graft_st_meta *meta, size_t n_meta);

#endif
