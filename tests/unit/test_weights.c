/* test_weights.c: loading weights by name and shape. A ResNet-20 saved
 * with 10 classes loads into one with 5: every backbone tensor is loaded,
 * the head keeps its fresh initialization and is reported; strict mode
 * refuses; missing and unexpected tensors are counted; a DataParallel
 * "module." prefix is accepted; OIHW <-> OHWI conversion is exact; fresh
 * parameters follow torchvision's initialization. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/st_list.h"
#include "nn/resnet.h"
#include "nn/weights.h"
#include "testutil.h"

static void build(graft_net *net, int classes, uint64_t seed) {
  graft_resnet_spec spec;
  assert_int_equal(graft_resnet_spec_from_name("resnet20", &spec), GRAFT_OK);
  graft_net_init(net, 2);
  assert_int_equal(graft_resnet_build(net, &spec, 16, 16, 3, classes, seed), GRAFT_OK);
}

static void tmp_path(char *buf, size_t len, const char *tag) {
  const char *dir = getenv("GRAFT_BINARY_DIR");
  snprintf(buf, len, "%s/weights_%s_%d.safetensors", dir ? dir : ".", tag, (int)getpid());
}

static int same_param(graft_net *a, graft_net *b, const char *name) {
  int i = graft_net_find_param(a, name), j = graft_net_find_param(b, name);
  assert_true(i >= 0 && j >= 0);
  return !memcmp(graft_net_param(a, i), graft_net_param(b, j), a->params[i].count * sizeof(float));
}

static void test_new_head_is_reinitialized(void **state) {
  (void)state;
  graft_net src, dst, fresh;
  char path[1024];
  tmp_path(path, sizeof path, "head");
  build(&src, 10, 1);
  assert_int_equal(graft_weights_save(&src, path, NULL, 0), GRAFT_OK);
  build(&dst, 5, 2);
  build(&fresh, 5, 2);
  graft_load_summary sum;
  graft_load_opts opts = {0};
  assert_int_equal(graft_weights_load(&dst, path, &opts, &sum), GRAFT_OK);
  printf("loaded %d, mismatched %d, missing %d, unexpected %d\n", sum.loaded, sum.mismatched, sum.missing,
         sum.unexpected);
  assert_int_equal(sum.mismatched, 2); /* fc.weight and fc.bias */
  assert_int_equal(sum.missing, 0);
  assert_int_equal(sum.unexpected, 0);
  assert_int_equal(sum.loaded, dst.nparams - 2);
  assert_true(same_param(&dst, &src, "conv1.weight"));
  assert_true(same_param(&dst, &src, "layer3.2.bn2.running_var"));
  assert_true(same_param(&dst, &fresh, "fc.weight"));
  assert_true(same_param(&dst, &src, "layer1.0.conv1.weight"));
  opts.strict = 1;
  assert_int_equal(graft_weights_load(&dst, path, &opts, &sum), GRAFT_ESHAPE);
  remove(path);
  graft_net_free(&src);
  graft_net_free(&dst);
  graft_net_free(&fresh);
}

static void test_missing_unexpected_and_prefix(void **state) {
  (void)state;
  graft_net src, dst;
  char path[1024];
  tmp_path(path, sizeof path, "partial");
  build(&src, 4, 3);
  build(&dst, 4, 4);
  graft_st_list l;
  graft_st_list_init(&l);
  /* only conv1.weight, under "module.", plus a tensor the model lacks */
  int id = graft_net_find_param(&src, "conv1.weight");
  float *w = malloc(src.params[id].count * sizeof(float));
  graft_param_to_file(&src, id, w);
  assert_int_equal(graft_st_list_add(&l, "module.conv1.weight", GRAFT_DTYPE_F32, src.params[id].shape, w), GRAFT_OK);
  float extra[3] = {1, 2, 3};
  int64_t d[1] = {3};
  assert_int_equal(graft_st_list_add(&l, "projector.weight", GRAFT_DTYPE_F32, graft_shape_make(1, d), extra),
                   GRAFT_OK);
  assert_int_equal(graft_st_list_write(&l, path, NULL, 0), GRAFT_OK);
  graft_load_summary sum;
  graft_load_opts opts = {0};
  assert_int_equal(graft_weights_load(&dst, path, &opts, &sum), GRAFT_OK);
  assert_int_equal(sum.loaded, 1);
  assert_int_equal(sum.missing, dst.nparams - 1);
  assert_int_equal(sum.unexpected, 1);
  assert_true(same_param(&dst, &src, "conv1.weight"));
  opts.strict = 1;
  assert_int_equal(graft_weights_load(&dst, path, &opts, &sum), GRAFT_ESHAPE);
  free(w);
  graft_st_list_free(&l);
  remove(path);
  graft_net_free(&src);
  graft_net_free(&dst);
}

static void test_layout_round_trip(void **state) {
  (void)state;
  graft_net net;
  build(&net, 3, 5);
  int id = graft_net_find_param(&net, "layer2.0.conv1.weight"); /* (32, 16, 3, 3) in the file */
  const graft_param *p = &net.params[id];
  assert_int_equal(p->layout, GRAFT_LAYOUT_OIHW);
  float *file = malloc(p->count * sizeof(float)), *back = malloc(p->count * sizeof(float));
  for (size_t i = 0; i < p->count; i++) file[i] = (float)i;
  graft_param_from_file(&net, id, file);
  const float *ohwi = graft_net_param(&net, id);
  /* element (o=5, i=7, y=2, x=1) of OIHW sits at ((5*3+2)*3+1)*16+7 in OHWI */
  assert_true(ohwi[((5 * 3 + 2) * 3 + 1) * 16 + 7] == file[((5 * 16 + 7) * 3 + 2) * 3 + 1]);
  graft_param_to_file(&net, id, back);
  assert_memory_equal(file, back, p->count * sizeof(float));
  free(file);
  free(back);
  graft_net_free(&net);
}

static void test_fresh_init_matches_torchvision(void **state) {
  (void)state;
  graft_net net;
  build(&net, 7, 6);
  /* conv: normal with std sqrt(2 / fan_out); fan_out of layer3.0.conv2 is 64*3*3 */
  int id = graft_net_find_param(&net, "layer3.0.conv2.weight");
  const float *w = graft_net_param(&net, id);
  double sq = 0.0, mean = 0.0;
  size_t n = net.params[id].count;
  for (size_t i = 0; i < n; i++) {
    mean += w[i];
    sq += (double)w[i] * w[i];
  }
  mean /= (double)n;
  double std = sqrt(sq / (double)n - mean * mean), want = sqrt(2.0 / (64 * 9));
  printf("conv std %.5f (want %.5f), mean %.5f\n", std, want, mean);
  assert_true(fabs(std - want) < 0.03 * want);
  assert_true(fabs(mean) < 0.05 * want);
  /* linear: uniform within +-1/sqrt(fan_in), fan_in 64 */
  id = graft_net_find_param(&net, "fc.weight");
  w = graft_net_param(&net, id);
  float bound = 1.0f / 8.0f, most = 0.0f;
  for (size_t i = 0; i < net.params[id].count; i++) most = fmaxf(most, fabsf(w[i]));
  assert_true(most <= bound && most > 0.8f * bound);
  /* batch norm: weight 1, bias 0, running_var 1 */
  assert_true(graft_net_param(&net, graft_net_find_param(&net, "bn1.weight"))[3] == 1.0f);
  assert_true(graft_net_param(&net, graft_net_find_param(&net, "bn1.bias"))[3] == 0.0f);
  assert_true(graft_net_param(&net, graft_net_find_param(&net, "bn1.running_var"))[3] == 1.0f);
  graft_net_free(&net);
}

static void test_names_match_torchvision(void **state) {
  (void)state;
  graft_resnet_spec spec;
  graft_net net;
  assert_int_equal(graft_resnet_spec_from_name("resnet50", &spec), GRAFT_OK);
  graft_net_init(&net, 1);
  assert_int_equal(graft_resnet_build(&net, &spec, 32, 32, 3, 1000, 0), GRAFT_OK);
  /* torchvision's resnet50 state dict has 320 entries and 25,557,032 parameters */
  printf("resnet50: %d state-dict entries, %zu trainable\n", net.nparams, graft_net_trainable_count(&net));
  assert_int_equal(net.nparams, 320);
  assert_int_equal(graft_net_trainable_count(&net), 25557032);
  assert_true(graft_net_find_param(&net, "layer4.2.bn3.num_batches_tracked") >= 0);
  assert_true(graft_net_find_param(&net, "layer1.0.downsample.0.weight") >= 0);
  graft_net_free(&net);
  assert_int_equal(graft_resnet_spec_from_name("resnet19", &spec), GRAFT_EINVAL);
  assert_int_equal(graft_resnet_spec_from_name("vgg16", &spec), GRAFT_EINVAL);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_new_head_is_reinitialized), cmocka_unit_test(test_missing_unexpected_and_prefix),
      cmocka_unit_test(test_layout_round_trip),         cmocka_unit_test(test_fresh_init_matches_torchvision),
      cmocka_unit_test(test_names_match_torchvision),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
