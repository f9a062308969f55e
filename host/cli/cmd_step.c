/* cmd_step.c: `graft step`, a command for checking graft against another
 * framework. It runs a ResNet on one batch given in PyTorch's layout:
 * a training-mode forward, the loss, a backward, N optimizer steps on the
 * same batch, and an eval-mode forward, and writes everything PyTorch would
 * report (logits, loss, grad.*, param.*, buffer.*, eval_logits) under
 * PyTorch's names and layouts. save=PATH also writes the model's state
 * dict after the steps, loadable by torchvision with strict=True.
 * device=gpu runs it on the CUDA backend (precision=fp32|tf32|bf16;
 * cuda_graph=1 replays the steps after the first from a captured graph). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "cli/model_args.h"
#include "core/log.h"
#include "io/st_list.h"
#include "nn/weights.h"
#include "train/trainer.h"

typedef struct {
  graft_st_file in;
  float *images;   /* (N, H, W, C) */
  int32_t *labels; /* (N) */
  int n, h, w, c;
} step_input;

static void step_input_free(step_input *in) {
  graft_st_free(&in->in);
  free(in->images);
  free(in->labels);
}

static graft_status step_input_load(step_input *in, const char *path) {
  memset(in, 0, sizeof *in);
  GRAFT_TRY(graft_st_load(&in->in, path));
  const graft_st_tensor *img = graft_st_find(&in->in, "images");
  const graft_st_tensor *lab = graft_st_find(&in->in, "labels");
  if (!img || !lab) GRAFT_FAIL(GRAFT_EFORMAT, "%s: needs tensors 'images' (N, C, H, W) and 'labels' (N)", path);
  if (img->shape.ndim != 4) GRAFT_FAIL(GRAFT_ESHAPE, "%s: 'images' must be (N, C, H, W)", path);
  in->n = (int)img->shape.dim[0];
  in->c = (int)img->shape.dim[1];
  in->h = (int)img->shape.dim[2];
  in->w = (int)img->shape.dim[3];
  if (in->n < 1 || graft_shape_numel(&lab->shape) != in->n)
    GRAFT_FAIL(GRAFT_ESHAPE, "%s: 'labels' must hold one label per image (%d)", path, in->n);
  size_t count = (size_t)graft_shape_numel(&img->shape);
  float *nchw = malloc(count * sizeof(float));
  int64_t *lab64 = malloc((size_t)in->n * sizeof(int64_t));
  in->images = malloc(count * sizeof(float));
  in->labels = malloc((size_t)in->n * sizeof(int32_t));
  graft_status s = GRAFT_ENOMEM;
  if (nchw && lab64 && in->images && in->labels) {
    s = graft_st_read_f32(&in->in, img, nchw, count);
    if (s == GRAFT_OK) s = graft_st_read_i64(&in->in, lab, lab64, (size_t)in->n);
  }
  if (s == GRAFT_OK) {
    size_t hw = (size_t)in->h * (size_t)in->w;
    for (int b = 0; b < in->n; b++)
      for (int ch = 0; ch < in->c; ch++)
        for (size_t p = 0; p < hw; p++)
          in->images[((size_t)b * hw + p) * (size_t)in->c + (size_t)ch] = nchw[((size_t)b * (size_t)in->c + (size_t)ch) * hw + p];
    for (int b = 0; b < in->n; b++) in->labels[b] = (int32_t)(lab64[b] < -100 || lab64[b] > 1000000000 ? -1 : lab64[b]);
  }
  free(nchw);
  free(lab64);
  return s;
}

static graft_status run(graft_args *a) {
  graft_model_args m;
  graft_optim_cfg opt;
  const char *input = graft_args_str(a, "input", NULL);
  const char *out = graft_args_str(a, "out", NULL);
  const char *save = graft_args_str(a, "save", NULL);
  int steps = 1, graph = 0;
  float smoothing = 0.0f;
  GRAFT_TRY(graft_model_args_get(a, &m));
  GRAFT_TRY(graft_optim_args_get(a, &opt));
  GRAFT_TRY(graft_args_int(a, "steps", 1, &steps));
  GRAFT_TRY(graft_args_float(a, "label_smoothing", 0.0f, &smoothing));
  GRAFT_TRY(graft_args_bool(a, "cuda_graph", 0, &graph));
  graft_ctx_args dev;
  GRAFT_TRY(graft_ctx_args_get(a, "cpu", &dev));
  GRAFT_TRY(graft_args_finish(a));
  if (!input || !out) GRAFT_FAIL(GRAFT_EINVAL, "step needs input=IN.safetensors and out=OUT.safetensors");
  if (steps < 0) GRAFT_FAIL(GRAFT_EINVAL, "steps=%d: expected 0 or more", steps);

  step_input in;
  graft_net net;
  graft_trainer tr;
  graft_ctx ctx;
  graft_st_list list;
  float *logits = NULL; /* (N, K) host copy of the net's output */
  memset(&tr, 0, sizeof tr);
  graft_net_init(&net, 0);
  graft_st_list_init(&list);
  graft_status s = graft_ctx_open(&ctx, dev.device, dev.threads, dev.precision);
  if (s != GRAFT_OK) {
    graft_st_list_free(&list);
    return s;
  }
  s = step_input_load(&in, input);
  if (s != GRAFT_OK) goto done;
  for (int b = 0; b < in.n; b++) {
    if (in.labels[b] < 0 || in.labels[b] >= m.num_classes) {
      s = GRAFT_EINVAL;
      GRAFT_ERROR("%s: label of image %d is outside [0, %d)", input, b, m.num_classes);
      goto done;
    }
  }
  net.batch = in.n;
  s = graft_model_build(&net, &m, in.h, in.w, in.c);
  if (s == GRAFT_OK) s = graft_trainer_init(&tr, &net, &ctx, &opt, smoothing);
  /* The first step runs eagerly, the second is captured and replayed. */
  if (s == GRAFT_OK && graph) s = graft_trainer_enable_graph(&tr);
  if (s == GRAFT_OK) s = graft_net_write_act(&net, net.input, in.images, net.values[net.input].count);
  logits = s == GRAFT_OK ? malloc(net.values[net.output].count * sizeof *logits) : NULL;
  if (s == GRAFT_OK && !logits) s = GRAFT_ENOMEM;
  if (s != GRAFT_OK) goto done;
  GRAFT_INFO("step: %s on %s (precision %s)", m.model, ctx.backend->name, graft_precision_name(ctx.precision));
  float loss = 0.0f;
  for (int i = 0; i < (steps > 0 ? steps : 1) && s == GRAFT_OK; i++) {
    s = graft_trainer_forward_backward(&tr, in.labels, &loss);
    if (s == GRAFT_OK && i == 0) {
      int64_t ldims[2] = {net.batch, net.num_classes};
      s = graft_net_read_act(&net, net.output, logits, net.values[net.output].count);
      if (s == GRAFT_OK)
        s = graft_st_list_add(&list, "logits", GRAFT_DTYPE_F32, graft_shape_make(2, ldims), logits);
      if (s == GRAFT_OK) s = graft_st_list_add(&list, "loss", GRAFT_DTYPE_F32, graft_shape_make(0, NULL), &loss);
      if (s == GRAFT_OK) s = graft_weights_append(&net, &list, GRAFT_PART_GRADS, "grad.");
      GRAFT_INFO("step: loss %.6f", (double)loss);
    }
    if (s == GRAFT_OK && steps > 0) s = graft_trainer_update(&tr);
  }
  if (s == GRAFT_OK) s = graft_weights_append(&net, &list, GRAFT_PART_PARAMS, "param.");
  if (s == GRAFT_OK) s = graft_weights_append(&net, &list, GRAFT_PART_BUFFERS, "buffer.");
  if (s == GRAFT_OK) s = graft_net_forward(&net, &ctx, 0);
  if (s == GRAFT_OK) s = graft_net_read_act(&net, net.output, logits, net.values[net.output].count);
  if (s == GRAFT_OK) {
    int64_t ldims[2] = {net.batch, net.num_classes};
    s = graft_st_list_add(&list, "eval_logits", GRAFT_DTYPE_F32, graft_shape_make(2, ldims), logits);
  }
  if (s == GRAFT_OK) s = graft_st_list_write(&list, out, NULL, 0);
  if (s == GRAFT_OK && save) s = graft_weights_save(&net, save, NULL, 0);
  if (s == GRAFT_OK) GRAFT_INFO("step: wrote %s (%zu tensors)", out, list.n);
done:
  graft_st_list_free(&list);
  graft_trainer_free(&tr);
  graft_net_free(&net);
  graft_ctx_close(&ctx);
  step_input_free(&in);
  free(logits);
  return s;
}

int graft_cmd_step(int argc, char **argv) {
  graft_args a;
  if (graft_args_parse(&a, argc, argv) != GRAFT_OK) return 2;
  graft_status s = run(&a);
  if (s != GRAFT_OK) {
    GRAFT_ERROR("step failed: %s", graft_status_str(s));
    return s == GRAFT_EINVAL ? 2 : 1;
  }
  return 0;
}
