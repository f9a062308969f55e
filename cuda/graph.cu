/* graph.cu: CUDA graph capture of a context's stream, the backend table's
 * graph_begin / graph_end / graph_launch / graph_free. A capture records
 * every op and copy enqueued on the stream between begin and end; end
 * instantiates the recording into an executable graph, and a launch
 * replays it on the stream with the same pointers and by-value arguments.
 * While a capture runs, gpu->capturing tells the rest of the backend not to
 * synchronize (context.cu's sync, the GRAFT_CUDA_SYNC launch check).
 * Owns graft_gpu_graph, the handle behind the void * the table hands out. */
#include <stdlib.h>
#include <string.h>

#include "gpu_impl.h"

/* An executable graph and the device it was captured on. */
typedef struct graft_gpu_graph {
  cudaGraphExec_t exec;
  int device; /* CUDA ordinal of the capturing context */
} graft_gpu_graph;

/* Clears the runtime's last error after a failure this file has reported,
 * so the launch check of the next kernel does not report it again. */
static graft_status device_error(void) {
  cudaGetLastError();
  return GRAFT_EDEVICE;
}

static const char *instantiate_result_name(cudaGraphInstantiateResult r) {
  switch (r) {
    case cudaGraphInstantiateSuccess: return "success";
    case cudaGraphInstantiateError: return "unexpected error";
    case cudaGraphInstantiateInvalidStructure: return "invalid graph structure";
    case cudaGraphInstantiateNodeOperationNotSupported: return "node operation not supported";
    case cudaGraphInstantiateMultipleDevicesNotSupported: return "nodes on several devices";
    case cudaGraphInstantiateConditionalHandleUnused: return "unused conditional handle";
    default: return "unknown result";
  }
}

static const char *node_type_name(cudaGraphNode_t node) {
  enum cudaGraphNodeType t;
  if (!node) return "none";
  if (cudaGraphNodeGetType(node, &t) != cudaSuccess) {
    cudaGetLastError();
    return "unknown";
  }
  switch (t) {
    case cudaGraphNodeTypeKernel: return "kernel";
    case cudaGraphNodeTypeMemcpy: return "memcpy";
    case cudaGraphNodeTypeMemset: return "memset";
    case cudaGraphNodeTypeHost: return "host function";
    case cudaGraphNodeTypeGraph: return "child graph";
    case cudaGraphNodeTypeEmpty: return "empty";
    case cudaGraphNodeTypeWaitEvent: return "event wait";
    case cudaGraphNodeTypeEventRecord: return "event record";
    case cudaGraphNodeTypeMemAlloc: return "memory allocation";
    case cudaGraphNodeTypeMemFree: return "memory free";
    default: return "other";
  }
}

extern "C" graft_status graft_gpu_graph_begin(graft_ctx *ctx) {
  graft_gpu *g = graft_gpu_of(ctx);
  if (!g) GRAFT_FAIL(GRAFT_EINVAL, "graph_begin: the context has no GPU state");
  if (g->capturing)
    GRAFT_FAIL(GRAFT_EINVAL, "graph_begin: the context is already capturing a CUDA graph");
  /* Thread-local mode: only this thread is kept from calls that would
   * break the capture (cudaMalloc, synchronizations); other threads and
   * their contexts carry on. */
  GRAFT_CUDA_CHECK_OR(cudaStreamBeginCapture(g->stream, cudaStreamCaptureModeThreadLocal),
                      return device_error());
  g->capturing = 1;
  return GRAFT_OK;
}

extern "C" graft_status graft_gpu_graph_end(graft_ctx *ctx, void **graph) {
  graft_gpu *g = graft_gpu_of(ctx);
  if (graph) *graph = NULL;
  if (!g) GRAFT_FAIL(GRAFT_EINVAL, "graph_end: the context has no GPU state");
  if (!g->capturing) GRAFT_FAIL(GRAFT_EINVAL, "graph_end: the context is not capturing");

  /* Ending the capture takes the stream out of capture mode even when the
   * capture was invalidated on the way (the graph is then NULL), so the
   * context runs ops again whatever happens below. */
  cudaGraph_t cg = NULL;
  const cudaError_t e = cudaStreamEndCapture(g->stream, &cg);
  if (e == cudaErrorStreamCaptureWrongThread) {
    /* The capture is still running and can still be ended properly. */
    cudaGetLastError();
    GRAFT_FAIL(GRAFT_EINVAL, "graph_end: called from another thread than graph_begin; the "
               "capture goes on until that thread ends it");
  }
  g->capturing = 0;
  if (e != cudaSuccess || !cg) {
    GRAFT_ERROR("graph_end: the capture failed: CUDA error %d (%s); an op enqueued during the "
                "capture did something a capture cannot record (a synchronization, an "
                "allocation, a copy through pageable memory) or failed to launch",
                (int)e, cudaGetErrorString(e));
    if (cg) GRAFT_CUDA_CHECK_OR(cudaGraphDestroy(cg), (void)0);
    return device_error();
  }
  if (!graph) {
    GRAFT_CUDA_CHECK_OR(cudaGraphDestroy(cg), cudaGetLastError());
    GRAFT_FAIL(GRAFT_EINVAL, "graph_end: NULL graph handle; the capture was discarded");
  }

  graft_status st = GRAFT_EDEVICE;
  graft_gpu_graph *h = (graft_gpu_graph *)calloc(1, sizeof *h);
  if (!h) {
    GRAFT_ERROR("graph_end: out of host memory for the graph handle");
    st = GRAFT_ENOMEM;
    goto done;
  }
  h->device = g->device;
  {
    cudaGraphInstantiateParams p;
    memset(&p, 0, sizeof p);
    const cudaError_t ie = cudaGraphInstantiateWithParams(&h->exec, cg, &p);
    if (ie != cudaSuccess || p.result_out != cudaGraphInstantiateSuccess) {
      GRAFT_ERROR("graph_end: cannot instantiate the captured graph: CUDA error %d (%s), %s, "
                  "at a %s node",
                  (int)ie, cudaGetErrorString(ie), instantiate_result_name(p.result_out),
                  node_type_name(p.errNode_out));
      cudaGetLastError();
      if (ie == cudaSuccess && h->exec) GRAFT_CUDA_CHECK_OR(cudaGraphExecDestroy(h->exec), (void)0);
      free(h);
      h = NULL;
      goto done;
    }
  }
  *graph = h;
  st = GRAFT_OK;

done:
  /* The executable graph does not need the graph it was made from. */
  GRAFT_CUDA_CHECK_OR(cudaGraphDestroy(cg), cudaGetLastError());
  return st;
}

extern "C" graft_status graft_gpu_graph_launch(graft_ctx *ctx, void *graph) {
  graft_gpu *g = graft_gpu_of(ctx);
  const graft_gpu_graph *h = (const graft_gpu_graph *)graph;
  if (!g) GRAFT_FAIL(GRAFT_EINVAL, "graph_launch: the context has no GPU state");
  if (!h) GRAFT_FAIL(GRAFT_EINVAL, "graph_launch: NULL graph");
  if (g->capturing)
    GRAFT_FAIL(GRAFT_EINVAL, "graph_launch: the context is capturing; end the capture first");
  if (h->device != g->device)
    GRAFT_FAIL(GRAFT_EINVAL, "graph_launch: the graph was captured on GPU %d, the context is on GPU %d",
               h->device, g->device);
  GRAFT_CUDA_CHECK_OR(cudaGraphLaunch(h->exec, g->stream), return device_error());
  /* With GRAFT_CUDA_SYNC=1 a fault in the replay is reported here. */
  GRAFT_LAUNCH_CHECK(g);
  return GRAFT_OK;
}

extern "C" void graft_gpu_graph_free(void *graph) {
  graft_gpu_graph *h = (graft_gpu_graph *)graph;
  if (!h) return;
  if (h->exec) GRAFT_CUDA_CHECK_OR(cudaGraphExecDestroy(h->exec), (void)0);
  free(h);
}
