/* device.h: the C face of the CUDA backend that host code may call
 * without including CUDA headers. */
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
