/* device.cu: device discovery for the CUDA backend. */
#include <cuda_runtime.h>

#include "device.h"

extern "C" int graft_gpu_device_count(void) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError(); /* clear the sticky "no device" error */
    return 0;
  }
  return n;
}
