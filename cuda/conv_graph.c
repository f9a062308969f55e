/* conv_graph.c: builds the cuDNN backend operation graph of one 2-D
 * convolution (see conv_graph.h) with cudnnBackendCreateDescriptor,
 * cudnnBackendSetAttribute and cudnnBackendFinalize only; none of the
 * deprecated legacy convolution calls. Every cuDNN status is recorded in
 * g->status before it is checked, so a caller (and the CPU-side test) can
 * tell a rejected shape from another failure. */
#include "conv_graph.h"

#include <stdbool.h>
#include <string.h>

/* Record and check one cuDNN call; a failure returns GRAFT_EDEVICE. */
#define CG(g, expr) GRAFT_CUDNN_CHECK_OR((g)->status = (expr), return GRAFT_EDEVICE)
#define SET(g, desc, name, type, count, values) \
  CG(g, cudnnBackendSetAttribute(desc, name, type, count, values))
#define SET_DESC(g, desc, name, value) SET(g, desc, name, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, value)

/* cuDNN's dimensions are N, C, H, W whatever the layout; these strides
 * store them channels-last. */
static void nhwc(int64_t n, int64_t c, int64_t h, int64_t w, int64_t dims[4], int64_t strides[4]) {
  dims[0] = n;
  dims[1] = c;
  dims[2] = h;
  dims[3] = w;
  strides[0] = h * w * c;
  strides[1] = 1;
  strides[2] = w * c;
  strides[3] = c;
}

static graft_status make_tensor(graft_conv_graph *g, cudnnBackendDescriptor_t *out, int64_t uid,
                                cudnnDataType_t type, const int64_t dims[4],
                                const int64_t strides[4], bool is_virtual) {
  const int64_t align = 16; /* bytes; device buffers of graft are allocated 256-aligned */
  CG(g, cudnnBackendCreateDescriptor(CUDNN_BACKEND_TENSOR_DESCRIPTOR, out));
  SET(g, *out, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type);
  SET(g, *out, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims);
  SET(g, *out, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides);
  SET(g, *out, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid);
  SET(g, *out, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align);
  if (is_virtual)
    SET(g, *out, CUDNN_ATTR_TENSOR_IS_VIRTUAL, CUDNN_TYPE_BOOLEAN, 1, &is_virtual);
  CG(g, cudnnBackendFinalize(*out));
  return GRAFT_OK;
}

static graft_status make_tensors(graft_conv_graph *g, const graft_conv2d_desc *d,
                                 cudnnDataType_t io, bool with_bias) {
  int64_t dims[4], strides[4];
  const int64_t cg = d->c / d->groups; /* input channels per group */
  nhwc(d->n, d->c, d->h, d->w, dims, strides);
  GRAFT_TRY(make_tensor(g, &g->x, GRAFT_CONV_UID_X, io, dims, strides, false));
  nhwc(d->k, cg, d->r, d->s, dims, strides);
  GRAFT_TRY(make_tensor(g, &g->w, GRAFT_CONV_UID_W, io, dims, strides, false));
  nhwc(d->n, d->k, d->p, d->q, dims, strides);
  GRAFT_TRY(make_tensor(g, &g->y, GRAFT_CONV_UID_Y, io, dims, strides, false));
  if (with_bias) {
    GRAFT_TRY(make_tensor(g, &g->acc, GRAFT_CONV_UID_ACC, CUDNN_DATA_FLOAT, dims, strides, true));
    nhwc(1, d->k, 1, 1, dims, strides);
    GRAFT_TRY(
        make_tensor(g, &g->bias, GRAFT_CONV_UID_BIAS, CUDNN_DATA_FLOAT, dims, strides, false));
  }
  return GRAFT_OK;
}

static graft_status make_conv(graft_conv_graph *g, const graft_conv2d_desc *d) {
  const int64_t spatial = 2;
  const cudnnDataType_t math = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  const int64_t pad[2] = {d->pad_h, d->pad_w};
  const int64_t stride[2] = {d->stride_h, d->stride_w};
  const int64_t dil[2] = {d->dil_h, d->dil_w};
  CG(g, cudnnBackendCreateDescriptor(CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, &g->conv));
  cudnnBackendDescriptor_t c = g->conv;
  SET(g, c, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &spatial);
  SET(g, c, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &math);
  SET(g, c, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode);
  SET(g, c, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 2, pad);
  SET(g, c, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 2, pad);
  SET(g, c, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 2, stride);
  SET(g, c, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 2, dil);
  CG(g, cudnnBackendFinalize(c));
  return GRAFT_OK;
}

/* The attributes of each direction's operation descriptor: x, w and y
 * name x or dx, w or dw, y or dy. */
typedef struct {
  cudnnBackendDescriptorType_t type;
  cudnnBackendAttributeName_t x, w, y, conv, alpha, beta;
} conv_op_attrs;

static const conv_op_attrs op_attrs[] = {
    [GRAFT_CONV_FORWARD] = {CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR,
                            CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X,
                            CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W,
                            CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y,
                            CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC,
                            CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA,
                            CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA},
    [GRAFT_CONV_BACKWARD_DATA] = {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_DATA_DESCRIPTOR,
                                  CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DX,
                                  CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_W,
                                  CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_DY,
                                  CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_CONV_DESC,
                                  CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_ALPHA,
                                  CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_DATA_BETA},
    [GRAFT_CONV_BACKWARD_FILTER] = {CUDNN_BACKEND_OPERATION_CONVOLUTION_BACKWARD_FILTER_DESCRIPTOR,
                                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_X,
                                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DW,
                                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_DY,
                                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_CONV_DESC,
                                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_ALPHA,
                                    CUDNN_ATTR_OPERATION_CONVOLUTION_BWD_FILTER_BETA},
};

/* The convolution operation of one direction. alpha scales the result;
 * beta is 1 when it accumulates into its output and 0 when it overwrites
 * it. A forward with a bias writes the virtual acc tensor. */
static graft_status make_op(graft_conv_graph *g, graft_conv_dir dir, bool accumulate) {
  const conv_op_attrs *a = &op_attrs[dir];
  const float alpha = 1.0f;
  const float beta = accumulate ? 1.0f : 0.0f;
  cudnnBackendDescriptor_t out = g->acc ? g->acc : g->y;
  CG(g, cudnnBackendCreateDescriptor(a->type, &g->op));
  SET_DESC(g, g->op, a->x, &g->x);
  SET_DESC(g, g->op, a->w, &g->w);
  SET_DESC(g, g->op, a->y, &out);
  SET_DESC(g, g->op, a->conv, &g->conv);
  SET(g, g->op, a->alpha, CUDNN_TYPE_FLOAT, 1, &alpha);
  SET(g, g->op, a->beta, CUDNN_TYPE_FLOAT, 1, &beta);
  CG(g, cudnnBackendFinalize(g->op));
  return GRAFT_OK;
}

/* y = acc + bias, broadcast over N, P and Q, computed in fp32. */
static graft_status make_bias_op(graft_conv_graph *g) {
  const cudnnPointwiseMode_t mode = CUDNN_POINTWISE_ADD;
  const cudnnDataType_t math = CUDNN_DATA_FLOAT;
  CG(g, cudnnBackendCreateDescriptor(CUDNN_BACKEND_POINTWISE_DESCRIPTOR, &g->add));
  SET(g, g->add, CUDNN_ATTR_POINTWISE_MODE, CUDNN_TYPE_POINTWISE_MODE, 1, &mode);
  SET(g, g->add, CUDNN_ATTR_POINTWISE_MATH_PREC, CUDNN_TYPE_DATA_TYPE, 1, &math);
  CG(g, cudnnBackendFinalize(g->add));
  CG(g, cudnnBackendCreateDescriptor(CUDNN_BACKEND_OPERATION_POINTWISE_DESCRIPTOR, &g->bias_op));
  SET_DESC(g, g->bias_op, CUDNN_ATTR_OPERATION_POINTWISE_PW_DESCRIPTOR, &g->add);
  SET_DESC(g, g->bias_op, CUDNN_ATTR_OPERATION_POINTWISE_XDESC, &g->acc);
  SET_DESC(g, g->bias_op, CUDNN_ATTR_OPERATION_POINTWISE_BDESC, &g->bias);
  SET_DESC(g, g->bias_op, CUDNN_ATTR_OPERATION_POINTWISE_YDESC, &g->y);
  CG(g, cudnnBackendFinalize(g->bias_op));
  return GRAFT_OK;
}

static graft_status make_graph(graft_conv_graph *g) {
  cudnnBackendDescriptor_t ops[2] = {g->op, g->bias_op};
  const int64_t nops = g->bias_op ? 2 : 1;
  CG(g, cudnnBackendCreateDescriptor(CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, &g->graph));
  SET(g, g->graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, nops, ops);
  CG(g, cudnnBackendFinalize(g->graph));
  return GRAFT_OK;
}

static graft_status io_type(graft_dtype t, cudnnDataType_t *out) {
  switch (t) {
    case GRAFT_DTYPE_F32: *out = CUDNN_DATA_FLOAT; return GRAFT_OK;
    case GRAFT_DTYPE_F16: *out = CUDNN_DATA_HALF; return GRAFT_OK;
    case GRAFT_DTYPE_BF16: *out = CUDNN_DATA_BFLOAT16; return GRAFT_OK;
    default: break;
  }
  GRAFT_FAIL(GRAFT_EUNSUPPORTED, "conv graph: no convolution on %s tensors", graft_dtype_name(t));
}

static graft_status desc_check(const graft_conv2d_desc *d) {
  if (d->n < 1 || d->h < 1 || d->w < 1 || d->c < 1 || d->k < 1 || d->r < 1 || d->s < 1 ||
      d->stride_h < 1 || d->stride_w < 1 || d->pad_h < 0 || d->pad_w < 0 || d->dil_h < 1 ||
      d->dil_w < 1 || d->groups < 1 || d->c % d->groups || d->k % d->groups || d->p < 1 || d->q < 1)
    GRAFT_FAIL(GRAFT_EINVAL,
               "conv graph: bad convolution (N %d, H %d, W %d, C %d) -> K %d, %dx%d, stride "
               "%dx%d, pad %dx%d, dilation %dx%d, groups %d, output %dx%d",
               d->n, d->h, d->w, d->c, d->k, d->r, d->s, d->stride_h, d->stride_w, d->pad_h,
               d->pad_w, d->dil_h, d->dil_w, d->groups, d->p, d->q);
  return GRAFT_OK;
}

void graft_conv_graph_free(graft_conv_graph *g) {
  cudnnBackendDescriptor_t *all[] = {&g->graph, &g->bias_op, &g->op, &g->add, &g->conv,
                                     &g->bias,  &g->acc,     &g->y,  &g->w,   &g->x};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    if (*all[i]) GRAFT_CUDNN_CHECK_OR(cudnnBackendDestroyDescriptor(*all[i]), (void)0);
    *all[i] = NULL;
  }
}

graft_status graft_conv_graph_build(graft_conv_graph *g, const graft_conv2d_desc *d,
                                    graft_conv_dir dir, graft_dtype io, int with_bias,
                                    int accumulate) {
  memset(g, 0, sizeof *g);
  g->status = CUDNN_STATUS_SUCCESS;
  cudnnDataType_t type;
  GRAFT_TRY(desc_check(d));
  GRAFT_TRY(io_type(io, &type));
  if ((int)dir < GRAFT_CONV_FORWARD || dir > GRAFT_CONV_BACKWARD_FILTER)
    GRAFT_FAIL(GRAFT_EINVAL, "conv graph: unknown direction %d", (int)dir);
  const bool bias = with_bias && dir == GRAFT_CONV_FORWARD;
  graft_status st;
  if ((st = make_tensors(g, d, type, bias)) != GRAFT_OK) goto fail;
  if ((st = make_conv(g, d)) != GRAFT_OK) goto fail;
  if ((st = make_op(g, dir, accumulate != 0)) != GRAFT_OK) goto fail;
  if (bias && (st = make_bias_op(g)) != GRAFT_OK) goto fail;
  if ((st = make_graph(g)) != GRAFT_OK) goto fail;
  return GRAFT_OK;
fail:
  graft_conv_graph_free(g);
  return st;
}
