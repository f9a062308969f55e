/* device.h: device discovery, callable from host code without CUDA
 * headers (gpu.h, the rest of the backend's C face, includes it). Tests
 * ask it whether to skip. */
#ifndef GRAFT_CUDA_DEVICE_H
#define GRAFT_CUDA_DEVICE_H

#ifdef __cplusplus
extern "C" {
#endif

/* Number of usable CUDA devices; 0 when there is no driver or device. */
int graft_gpu_device_count(void);

#ifdef __cplusplus
}
#endif

#endif
