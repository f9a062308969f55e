/* device.cu: device discovery for the CUDA backend. */
#include <cuda_runtime.h>

#include "device.h"

extern "C" {
#include "core/log.h"
}

extern "C" int graft_gpu_device_count(void) {
  int n = 0;
  cudaError_t e = cudaGetDeviceCount(&n);
  if (e != cudaSuccess) {
    cudaGetLastError(); /* clear the error so later calls do not report it */
    /* No device, or no driver at all, is a machine without a GPU. A
     * driver that is there but fails (older than the runtime, a broken
     * install) would look the same, so that case is said. */
    int driver = 0;
    if (e != cudaErrorNoDevice && cudaDriverGetVersion(&driver) == cudaSuccess && driver > 0)
      GRAFT_WARN("CUDA driver %d finds no usable device: %s (error %d)", driver, cudaGetErrorString(e),
                 (int)e);
    cudaGetLastError();
    return 0;
  }
  return n;
}
